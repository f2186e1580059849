/*
 * dalle-gallery: final records (from dalle-fetch, or dalle-poll and
 * dalle-submit) in the files named, else on stdin -> one self-contained
 * HTML page of their images and failures on stdout, or in the file -o
 * names, which appears only when complete.  Exits 0, or 65 when a line
 * was no record.
 */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jv.h>

#include "big.h"
#include "file.h"
#include "gallery.h"
#include "input.h"
#include "lines.h"
#include "record.h"
#include "util.h"
#include "version.h"

enum { OPT_BASE = 256, OPT_TITLE, OPT_INLINE, OPT_MAX_LINE, OPT_VERSION };

static const struct option longopts[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "output", required_argument, NULL, 'o' },
	{ "base", required_argument, NULL, OPT_BASE },
	{ "title", required_argument, NULL, OPT_TITLE },
	{ "inline", no_argument, NULL, OPT_INLINE },
	{ "max-line", required_argument, NULL, OPT_MAX_LINE },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 }
};

static int quiet;
static long long max_line = DALLE_INPUT_RECORD_MAX_LINE;

static void
usage(FILE *fp, int rc)
{
	fputs("usage: dalle-gallery [-hq] [-o file] [--base url] "
	    "[--title text]\n"
	    "\t[--inline] [--max-line bytes] [--version] [file ...]\n", fp);
	exit(rc);
}

/* One input line; 0, or 65 when it is no record. */
static int
one_line(struct dalle_gallery *g, const char *source, char *s, size_t n,
    long lineno, size_t toolong)
{
	struct dalle_big big = { 0 };
	char *why = NULL;
	jv rec = jv_null();
	int rc = 0;

	if (toolong > 0)
		why = dalle_xasprintf("a line of %zu bytes, longer than "
		    "--max-line", toolong);
	else if (strspn(s, " \t") == n)
		return 0;
	else if (dalle_record_parse(&big, s, n, &rec, &why) !=
	    DALLE_RECORD_BAD)
		dalle_gallery_record(g, rec, &big, source, lineno);
	if (why != NULL) {
		if (!quiet)
			warnx("%s:%ld: %s", source, lineno, why);
		dalle_gallery_bad_line(g, source, lineno, why, s, n);
		rc = DALLE_EX_DATAERR;
	}
	free(why);
	jv_free(rec);
	dalle_big_free(&big);
	return rc;
}

/* Every line of fd, a record at a time: a record of megabytes of base64
 * is read into the line reader's buffer and no further. */
static int
read_fd(struct dalle_gallery *g, int fd, const char *source)
{
	struct dalle_lines *lr = dalle_lines_new(fd);
	size_t n;
	long lineno;
	char *s;
	int rc = 0, r;

	dalle_lines_set_max(lr, (size_t)max_line);
	for (;;) {
		while ((s = dalle_lines_next(lr, &n, &lineno)) != NULL)
			if ((r = one_line(g, source, s, n, lineno,
			    dalle_lines_toolong(lr))) != 0 && rc == 0)
				rc = r;
		if (dalle_lines_eof(lr))
			break;
		if (dalle_lines_fill(lr) == -1) {
			warn("%s", source);
			rc = DALLE_EX_IOERR;
			break;
		}
	}
	dalle_lines_free(lr);
	return rc;
}

/* The way from the page's directory (of path) back to the working
 * directory, where the records' relative paths start: "../" for
 * "out/index.html"; NULL when it is the same one. */
static char *
way_back(const char *path)
{
	char page[PATH_MAX], here[PATH_MAX], *dir, *slash;
	struct dalle_buf b = { NULL, 0, 0 };
	size_t i, common = 0;

	dir = dalle_xstrdup(path);
	if ((slash = strrchr(dir, '/')) != NULL)
		slash[slash == dir] = '\0';
	if (slash == NULL || realpath(dir, page) == NULL ||
	    realpath(".", here) == NULL || strcmp(page, here) == 0) {
		free(dir);
		return NULL;
	}
	free(dir);
	/* The longest common run of whole components. */
	for (i = 0; page[i] && page[i] == here[i]; i++)
		if (page[i] == '/')
			common = i;
	if ((page[i] == '\0' && here[i] == '/') ||
	    (here[i] == '\0' && page[i] == '/'))
		common = i;
	for (i = common; page[i]; i++)
		if (page[i] == '/' && page[i + 1] != '\0')
			dalle_buf_adds(&b, "../");
	if (here[common] == '/' && here[common + 1] != '\0') {
		dalle_buf_adds(&b, here + common + 1);
		dalle_buf_adds(&b, "/");
	}
	return b.p ? b.p : dalle_xstrdup("");
}

int
main(int argc, char *argv[])
{
	struct dalle_gallery_opts opts = { NULL, NULL, 0 };
	struct dalle_gallery *g;
	const char *out_path = NULL, *why;
	char *tmp = NULL, *back = NULL;
	FILE *out = stdout;
	int ch, fd, i, rc = 0, r;

	dalle_temp_init();
	while ((ch = getopt_long(argc, argv, "ho:q", longopts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			usage(stdout, 0);
			break;
		case 'q':
			quiet = 1;
			break;
		case 'o':
			if (*optarg == '\0')
				errx(DALLE_EX_USAGE, "-o: an empty file name");
			out_path = strcmp(optarg, "-") == 0 ? NULL : optarg;
			break;
		case OPT_BASE:
			if ((why = dalle_gallery_base_check(optarg)) != NULL)
				errx(DALLE_EX_USAGE, "--base: %s: %s", optarg,
				    why);
			opts.base = optarg;
			break;
		case OPT_TITLE:
			opts.title = optarg;
			break;
		case OPT_INLINE:
			opts.inline_images = 1;
			break;
		case OPT_MAX_LINE:
			if (dalle_strtonum(optarg, 64, 1LL << 32,
			    &max_line) == -1)
				errx(DALLE_EX_USAGE, "--max-line: %s: not a "
				    "number of bytes from 64 to 4294967296",
				    optarg);
			break;
		case OPT_VERSION:
			dalle_version_print(stdout, "dalle-gallery");
			exit(0);
		default:
			usage(stderr, DALLE_EX_USAGE);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0 && isatty(STDIN_FILENO))
		usage(stderr, DALLE_EX_USAGE);
	/* Every file first: no page, not even half of one, for a typo. */
	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "-") == 0)
			continue;
		if ((fd = open(argv[i], O_RDONLY | O_CLOEXEC)) == -1)
			err(DALLE_EX_NOINPUT, "%s", argv[i]);
		close(fd);
	}
	if (out_path != NULL) {
		if ((fd = dalle_temp_open(out_path, &tmp)) == -1)
			err(DALLE_EX_CANTCREAT, "%s", out_path);
		if ((out = fdopen(fd, "w")) == NULL)
			err(DALLE_EX_OSERR, "fdopen");
		if (opts.base == NULL)
			opts.base = back = way_back(out_path);
	}
	if ((g = dalle_gallery_new(out, &opts, &why)) == NULL)
		errx(DALLE_EX_CANTCREAT, "a temporary file: %s", why);
	if (argc == 0)
		rc = read_fd(g, STDIN_FILENO, "stdin");
	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "-") == 0)
			r = read_fd(g, STDIN_FILENO, "stdin");
		else if ((fd = open(argv[i], O_RDONLY | O_CLOEXEC)) == -1) {
			warn("%s", argv[i]);
			r = DALLE_EX_NOINPUT;
		} else {
			r = read_fd(g, fd, argv[i]);
			close(fd);
		}
		if (r != 0 && rc == 0)
			rc = r;
	}
	free(back);
	if (dalle_gallery_end(g) == -1) {
		if (out_path == NULL)
			return dalle_finish(DALLE_EX_IOERR);
		err(DALLE_EX_IOERR, "%s", out_path);
	}
	if (out_path != NULL) {
		if (fsync(fileno(out)) == -1 || fclose(out) == EOF)
			err(DALLE_EX_IOERR, "%s", out_path);
		if (rename(tmp, out_path) == -1)
			err(DALLE_EX_CANTCREAT, "%s", out_path);
		dalle_temp_done(tmp);
	}
	return dalle_finish(rc);
}
