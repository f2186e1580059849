/*
 * dalle-fetch: final records from dalle-poll or dalle-submit, or bare image
 * URLs (operands, else stdin lines) -> every image of a record downloaded
 * or base64-decoded into a file -> the record with "files" added (or, with
 * --paths, the paths alone).  A file appears only when complete.
 * Exits 0 when every image was written, else the first failure's status.
 */
#include <sys/stat.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "dalle.h"

enum { OPT_PATHS = DALLE_OPT_FIRST_FREE, OPT_JOURNAL, OPT_MAX_BYTES,
	OPT_NO_PROVENANCE, OPT_SIDECAR };

static const struct option longopts[] = {
	{ "directory", required_argument, NULL, 'd' },
	{ "output", required_argument, NULL, 'o' },
	{ "force", no_argument, NULL, 'f' },
	{ "paths", no_argument, NULL, OPT_PATHS },
	{ "journal", required_argument, NULL, OPT_JOURNAL },
	{ "max-bytes", required_argument, NULL, OPT_MAX_BYTES },
	{ "no-provenance", no_argument, NULL, OPT_NO_PROVENANCE },
	{ "sidecar", no_argument, NULL, OPT_SIDECAR },
	DALLE_RUN_LONGOPTS,
	{ NULL, 0, NULL, 0 }
};

/* One input record while its images are being written. */
struct rec {
	jv rec;
	struct dalle_big big;     /* rec's big strings: its images' base64 */
	struct dalle_name name;   /* its images' names */
	jv files;                 /* one entry per image, null until done */
	jv error;                 /* the first image's failure, or null */
	struct dalle_loop_id id;
	int left;                 /* images still in transfer */
	int count;                /* images in the record */
};

/* One image download. */
struct img {
	struct rec *r;
	int index, multi;
	char *checked;            /* the path found free before the download */
	char *tmp;                /* temporary file beside the target */
	int dfd;                  /* its directory, as checked, or -1 */
	FILE *fp;
	char sha256[65];          /* of the file, once it is final */
};

static struct dalle_conf conf;
static const char *dir = ".";
static const char *tmpl;
static int force, paths_only, to_stdout, stdout_used;
static const char *journal_path;  /* --journal */
static long long max_bytes = (long long)256 << 20;     /* --max-bytes */
static int provenance = 1, sidecar;     /* --no-provenance, --sidecar */

static void
usage(FILE *fp, int rc)
{
	fputs("usage: dalle-fetch [-fhqv] [-d dir] [-o template] [-j jobs] "
	    "[--paths]\n"
	    "\t[--journal file] [--max-bytes n] [--keep-order] [--allow-http]\n"
	    "\t[--cacert file] [--retries n] [--request-timeout s]\n"
	    "\t[--max-line bytes] [--no-provenance] [--sidecar] [--version]\n"
	    "\t[record-or-url ...]\n", fp);
	exit(rc);
}

/* The path of image index, from -d and -o. */
static char *
target(struct rec *r, int index, int multi, const char *ext, char **why)
{
	r->name.rec = r->rec;
	r->name.big = &r->big;
	r->name.dir = dir;
	r->name.tmpl = tmpl;
	return dalle_name_path(&r->name, index, multi, ext, why);
}

/*
 * The paths this run has written, so that two images never land on one
 * path (a template that does not tell them apart) unnoticed: a set of
 * their 64-bit hashes, low bit set.
 */
static uint64_t *written;         /* open addressing; 0 is empty */
static size_t nwritten, capwritten;

static void
written_put(uint64_t h)
{
	size_t i = h & (capwritten - 1);

	while (written[i])
		i = (i + 1) & (capwritten - 1);
	written[i] = h;
	nwritten++;
}

/* Has this run written path?  With add, remember it. */
static int
was_written(const char *path, int add)
{
	uint64_t h = dalle_hash(path, strlen(path), 0) | 1, *old;
	size_t i, oldcap;

	if (capwritten > 0)
		for (i = h & (capwritten - 1); written[i];
		    i = (i + 1) & (capwritten - 1))
			if (written[i] == h)
				return 1;
	if (!add)
		return 0;
	if ((nwritten + 1) * 2 > capwritten) {
		old = written;
		oldcap = capwritten;
		capwritten = capwritten ? capwritten * 2 : 256;
		written = dalle_xcalloc(capwritten, sizeof(*written));
		nwritten = 0;
		for (i = 0; i < oldcap; i++)
			if (old[i])
				written_put(old[i]);
		free(old);
	}
	written_put(h);
	return 0;
}

static void
rec_fail(struct rec *r, jv e)
{
	if (jv_get_kind(r->error) == JV_KIND_NULL)
		r->error = e;
	else
		jv_free(e);
}

/* An image written to a file needs its b64_json no more. */
static void
drop_written(struct rec *r)
{
	jv data, item;
	int i, n;

	data = dalle_record_get(r->rec, "data");
	if (jv_get_kind(data) == JV_KIND_ARRAY) {
		n = jv_array_length(jv_copy(data));
		for (i = 0; i < n; i++) {
			jv f = i < jv_array_length(jv_copy(r->files)) ?
			    jv_array_get(jv_copy(r->files), i) : jv_null();
			int written_ok = jv_get_kind(f) == JV_KIND_OBJECT;

			jv_free(f);
			item = jv_array_get(jv_copy(data), i);
			if (written_ok && jv_get_kind(item) == JV_KIND_OBJECT)
				data = jv_array_set(data, i, jv_object_delete(
				    item, jv_string("b64_json")));
			else
				jv_free(item);
		}
		r->rec = jv_object_set(r->rec, jv_string("data"), data);
	} else
		jv_free(data);
}

static int
rec_finish(struct dalle_loop *lp, struct rec *r)
{
	struct dalle_buf paths = { NULL, 0, 0 };
	jv item, files = jv_array();
	int i, n, rc = 0;

	drop_written(r);
	n = jv_array_length(jv_copy(r->files));
	for (i = 0; i < n; i++) {
		item = jv_array_get(jv_copy(r->files), i);
		if (jv_get_kind(item) == JV_KIND_OBJECT) {
			if (paths_only) {
				dalle_buf_adds(&paths, dalle_record_str(item,
				    "path"));
				dalle_buf_adds(&paths, "\n");
			}
			files = jv_array_append(files, item);
		} else
			jv_free(item);
	}
	jv_free(r->files);
	if (jv_get_kind(r->error) == JV_KIND_NULL && !to_stdout &&
	    jv_array_length(jv_copy(files)) == r->count)
		dalle_resume_written(journal_path, r->rec, files);
	else if (jv_get_kind(r->error) == JV_KIND_OBJECT && strcmp(
	    dalle_record_str(r->error, "kind"), DALLE_KIND_EXPIRED) == 0)
		dalle_resume_written(journal_path, r->rec, jv_null());
	/* Every image is in files or accounted for by an error. */
	if (jv_get_kind(r->error) == JV_KIND_NULL && !to_stdout &&
	    jv_array_length(jv_copy(files)) != r->count)
		r->error = dalle_record_errorf("fetch", DALLE_KIND_IO,
		    "an image was neither written nor failed");
	r->rec = jv_object_set(r->rec, jv_string("files"), files);
	if (jv_get_kind(r->error) == JV_KIND_OBJECT) {
		rc = dalle_record_exit(dalle_record_str(r->error, "kind"));
		if (!lp->quiet)
			warnx("%s:%ld: %s", lp->source, r->id.lineno,
			    dalle_record_str(r->error, "message"));
		r->rec = jv_object_set(r->rec, jv_string("error"), r->error);
	} else
		jv_free(r->error);
	if (paths_only || to_stdout) {
		jv_free(r->rec);
		dalle_loop_emit(lp, r->id, paths.p, paths.len);
	} else
		dalle_loop_write(lp, r->id, r->rec, &r->big);
	dalle_buf_free(&paths);
	dalle_big_free(&r->big);
	dalle_name_free(&r->name);
	free(r);
	return rc;
}

static void
put_stdout(const void *p, size_t n)
{
	if (fwrite(p, 1, n, stdout) != n || fflush(stdout) == EOF) {
		if (errno == EPIPE)
			exit(DALLE_EX_IOERR);
		err(DALLE_EX_IOERR, "stdout");
	}
}

static int
write_stdout(const void *p, size_t n, struct rec *r)
{
	if (stdout_used++) {
		rec_fail(r, dalle_record_errorf("fetch", DALLE_KIND_INPUT,
		    "-o - writes exactly one image; this is another"));
		return -1;
	}
	put_stdout(p, n);
	return 0;
}

/* The whole of fp (a finished download) to stdout, as write_stdout. */
static void
copy_stdout(FILE *fp, struct rec *r)
{
	char chunk[65536];
	size_t k;

	if (write_stdout("", 0, r) == -1)
		return;
	rewind(fp);
	while ((k = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		put_stdout(chunk, k);
}

/* The target path of image index, and in *dfd its directory's descriptor
 * (to write in by openat(2) and renameat(2) alone), or NULL with the
 * record's error set. */
static char *
resolve(struct rec *r, int index, int multi, const char *ext, int *dfd)
{
	char *why = NULL, *path = target(r, index, multi, ext, &why), *d;
	const char *t = tmpl ? tmpl : "";
	size_t skip = 0;

	if (path == NULL) {
		rec_fail(r, dalle_record_errorf("fetch", DALLE_KIND_INPUT, "%s",
		    why));
		free(why);
		return NULL;
	}
	/* No link inside the output directory is followed (outpath.c). */
	if (strcmp(dir, ".") != 0)
		skip = strlen(dir) + (dir[strlen(dir) - 1] != '/');
	if (t[0] != '/')
		*dfd = dalle_outpath_open(dir, path + skip, &why);
	else {
		/* An absolute template's directory is the user's own. */
		d = dalle_xstrdup(path);
		*strrchr(d, '/') = '\0';
		*dfd = dalle_outpath_open(*d ? d : "/", strrchr(path, '/') + 1,
		    &why);
		free(d);
	}
	if (*dfd == -1) {
		rec_fail(r, dalle_record_errorf("fetch", DALLE_KIND_IO, "%s",
		    why));
		free(why);
		free(path);
		return NULL;
	}
	return path;
}

/* Was the image at path made for another request than r's (its
 * provenance names another request hash, else the journal says so)?
 * Then it is replaced. */
static int
whose(struct rec *r, const char *path)
{
	jv req = dalle_record_get(r->rec, "request");
	const char *hash = dalle_record_str(req, "hash");
	int o = hash != NULL ? dalle_owner_of(path, hash) : -1;

	jv_free(req);
	return o != -1 ? o : dalle_resume_writer(journal_path, r->rec, path);
}

/*
 * Is the target taken?  By another image of this run: an error, since the
 * template does not tell them apart.  By an older file: it stays, unless
 * --force or it is another request's image, and the record lists it;
 * one whose request nothing tells (unknown) stays too, unless unknown is
 * 0: then the caller compares it with the image first.  Returns 1 when
 * the image must not be written.
 */
static int
taken(struct rec *r, const char *path, int index, int on_disk, int unknown)
{
	int w;

	jv f;

	if (was_written(path, 0)) {
		rec_fail(r, dalle_record_errorf("fetch", DALLE_KIND_INPUT,
		    "%s: another image of this run has this path; put {id}, "
		    "{i} or a field of your own in -o", path));
		return 1;
	}
	if (force || !on_disk || !jv_is_valid(f = dalle_name_existing(path, index)))
		return 0;
	if (jv_get_kind(f) == JV_KIND_NULL) {
		rec_fail(r, dalle_record_errorf("fetch", DALLE_KIND_IO,
		    "%s: exists and is not a file", path));
		return 1;
	}
	if ((w = whose(r, path)) == 0 || (w == -1 && !unknown)) {
		jv_free(f);
		return 0;
	}
	r->files = jv_array_set(r->files, index, dalle_digest_entry(f,
	    path));
	return 1;
}

/* The target at path holds another image than r's: its error. */
static void
holds_another(struct rec *r, const char *path)
{
	rec_fail(r, dalle_record_errorf("fetch", DALLE_KIND_IO,
	    "%s: exists and holds another image; -f replaces it, or "
	    "put {id}, {hash} or a field of your own in -o", path));
}

/*
 * A download whose target holds an image that nothing says whose it is
 * (no provenance naming a request, no journal entry): as for base64, an
 * error when the two images differ, never the file replaced nor counted
 * as this request's; the same image stays, listed.  Returns 1 on the
 * error.
 */
static int
differs_unknown(struct rec *r, struct img *im, const char *path)
{
	int fd = fileno(im->fp), d = 0;
	unsigned char *p;
	struct stat st;

	if (force || lstat(path, &st) == -1 || !S_ISREG(st.st_mode) ||
	    whose(r, path) != -1 || fstat(fd, &st) == -1)
		return 0;
	p = dalle_xmalloc(st.st_size > 0 ? (size_t)st.st_size : 1);
	d = pread(fd, p, (size_t)st.st_size, 0) == st.st_size &&
	    dalle_provenance_differs(path, p, (size_t)st.st_size);
	free(p);
	if (d)
		holds_another(r, path);
	return d;
}

/* The provenance into im's finished file, unless it is in already; then
 * its sha256 and size.  -1 with r's error set. */
static int
stamp(struct img *im, jv fields, long long *bytes)
{
	int fd = fileno(im->fp), rc = 1;

	if (im->sha256[0] != '\0')
		return 0;       /* spliced and summed as it was written */
	if (provenance && (rc = dalle_provenance_file(fd, fields)) == 0)
		rc = fsync(fd);
	if (rc == -1 || dalle_digest_fd(fd, im->sha256, bytes) == -1) {
		rec_fail(im->r, dalle_record_errorf("fetch", DALLE_KIND_IO,
		    "%s: %s", im->tmp, strerror(errno)));
		return -1;
	}
	return 0;
}

/* Remove im's temporary file from the directory it was made in. */
static void
drop_temp(const struct img *im)
{
	const char *base;

	if (im->tmp == NULL)
		return;
	base = strrchr(im->tmp, '/');
	if (im->dfd == -1)
		unlink(im->tmp);
	else
		unlinkat(im->dfd, base ? base + 1 : im->tmp, 0);
}

/* Move a finished temporary file to its target named by its real format. */
static void
commit(struct img *im, const void *head, size_t n, long long bytes)
{
	struct rec *r = im->r;
	const char *fmt;
	char *path;
	int w, h, dfd;
	jv fields, f;

	fmt = dalle_image_probe(head, n, &w, &h);
	if (fmt == NULL) {
		drop_temp(im);
		rec_fail(r, dalle_record_error("fetch", DALLE_KIND_PROTOCOL, 0,
		    NULL, "the download is not an image", 1, 0));
		return;
	}
	if ((path = resolve(r, im->index, im->multi, dalle_name_ext(fmt),
	    &dfd)) == NULL) {
		drop_temp(im);
		return;
	}
	fields = dalle_provenance_fields(r->rec, im->index);
	if (differs_unknown(r, im, path) || taken(r, path, im->index,
	    im->checked == NULL || strcmp(path, im->checked) != 0, 1) ||
	    stamp(im, fields, &bytes) == -1)
		drop_temp(im);
	else {
		/* From the directory the temporary file was made in to the
		 * one just checked: no path is walked again. */
		if (dalle_outpath_rename(im->dfd, im->tmp, dfd, path) == -1) {
			rec_fail(r, dalle_record_errorf("fetch", DALLE_KIND_IO,
			    "%s: %s", path, strerror(errno)));
			drop_temp(im);
			close(dfd);
			free(path);
			jv_free(fields);
			return;
		}
		was_written(path, 1);
		f = jv_object_set(dalle_name_entry(path, im->index, head, n,
		    bytes, 0), jv_string("sha256"), jv_string(im->sha256));
		if (sidecar && dalle_provenance_sidecar(path, fields, f) == -1)
			rec_fail(r, dalle_record_errorf("fetch", DALLE_KIND_IO,
			    "%s.json: %s", path, strerror(errno)));
		r->files = jv_array_set(r->files, im->index, f);
	}
	jv_free(fields);
	close(dfd);
	free(path);
}

/* A temporary file in the target's directory; NULL with r's error set. */
static FILE *
make_temp(struct rec *r, const char *path, int dfd, char **tmp)
{
	int fd;
	FILE *fp;

	if ((fd = dalle_temp_openat(dfd, path, tmp)) == -1) {
		rec_fail(r, dalle_record_errorf("fetch", DALLE_KIND_IO,
		    "%s: %s", path, strerror(errno)));
		return NULL;
	}
	if ((fp = fdopen(fd, "w+")) == NULL)
		err(DALLE_EX_OSERR, "fdopen");
	return fp;
}

static void
write_b64(struct rec *r, int index, int multi, const char *b64, size_t b64len)
{
	struct img im = { r, index, multi, NULL, NULL, -1, NULL, "" };
	const char *fmt;
	unsigned char *p;
	size_t n;
	char *path;
	int w, h;

	if ((long long)(b64len / 4 * 3) > max_bytes) {
		rec_fail(r, dalle_record_errorf("fetch", DALLE_KIND_PROTOCOL,
		    "the image is larger than %lld bytes (--max-bytes)",
		    max_bytes));
		return;
	}
	if ((p = dalle_base64_decode(b64, b64len, &n)) == NULL) {
		rec_fail(r, dalle_record_errorf("fetch", DALLE_KIND_PROTOCOL,
		    "b64_json is not valid base64"));
		return;
	}
	if (to_stdout) {
		write_stdout(p, n, r);
		free(p);
		return;
	}
	fmt = dalle_image_probe(p, n, &w, &h);
	path = resolve(r, index, multi, dalle_name_ext(fmt ? fmt : "png"),
	    &im.dfd);
	/* Another image under this name: not left unwritten unsaid. */
	if (path != NULL && !force && !was_written(path, 0) &&
	    dalle_provenance_differs(path, p, n) && whose(r, path) != 0) {
		holds_another(r, path);
		close(im.dfd);
		free(path);
		free(p);
		return;
	}
	if (path == NULL || taken(r, path, index, 1, 1)) {
		if (path != NULL)
			close(im.dfd);
		free(path);
		free(p);
		return;
	}
	if (provenance)
		p = dalle_provenance_into(p, &n, r->rec, index);
	dalle_digest_mem(p, n, im.sha256);
	if ((im.fp = make_temp(r, path, im.dfd, &im.tmp)) != NULL) {
		if (fwrite(p, 1, n, im.fp) != n || fflush(im.fp) == EOF ||
		    fsync(fileno(im.fp)) == -1) {
			rec_fail(r, dalle_record_errorf("fetch", DALLE_KIND_IO,
			    "%s: %s", path, strerror(errno)));
			drop_temp(&im);
		} else
			commit(&im, p, n, (long long)n);
		fclose(im.fp);
		dalle_temp_done(im.tmp);
	}
	close(im.dfd);
	free(path);
	free(p);
}

static void
start_download(struct dalle_loop *lp, struct rec *r, int index, int multi,
    const char *url)
{
	struct dalle_xfer *x;
	struct img *im;
	const char *why;
	char *path;
	int dfd = -1;

	if ((why = dalle_url_check(url, conf.allow_http)) != NULL) {
		rec_fail(r, dalle_record_errorf("fetch", DALLE_KIND_CONFIG,
		    "image URL: %s", why));
		return;
	}
	path = NULL;
	if (!to_stdout && ((path = resolve(r, index, multi,
	    dalle_name_guess_ext(r->rec, url), &dfd)) == NULL ||
	    taken(r, path, index, 1, 0))) {
		if (path != NULL)
			close(dfd);
		free(path);
		return;
	}
	im = dalle_xcalloc(1, sizeof(*im));
	im->r = r;
	im->index = index;
	im->multi = multi;
	/* Found free, unless a file of unknown origin is there (compared
	 * once downloaded). */
	im->checked = path && access(path, F_OK) == -1 ?
	    dalle_xstrdup(path) : NULL;
	im->dfd = dfd;
	if (to_stdout) {
		if ((im->fp = tmpfile()) == NULL)
			err(DALLE_EX_CANTCREAT, "tmpfile");
	} else if ((im->fp = make_temp(r, path, dfd, &im->tmp)) == NULL) {
		close(dfd);
		free(im->checked);
		free(im);
		free(path);
		return;
	}
	free(path);
	x = dalle_http_xfer_new("GET", url);
	/* Image URLs carry their own SAS token: never send our key. */
	x->out = im->fp;
	x->follow = 1;
	x->image = 1;
	x->max_bytes = max_bytes;
	x->udata = im;
	r->left++;
	dalle_http_start(lp->http, x);
}

/* The fields of a record, and of each of its images, that dalle-fetch
 * reads, and their types. */
static const struct dalle_field fields[] = {
	{ "data", JV_KIND_ARRAY }, { "error", JV_KIND_OBJECT },
	{ "status", JV_KIND_STRING }, { "request", JV_KIND_OBJECT },
	{ "request.key", JV_KIND_STRING }, { "request.hash", JV_KIND_STRING },
	{ "request.journal", JV_KIND_STRING }, { NULL, JV_KIND_NULL }
};
static const struct dalle_field image_fields[] = {
	{ "url", JV_KIND_STRING }, { "b64_json", JV_KIND_STRING },
	{ "error", JV_KIND_OBJECT }, { NULL, JV_KIND_NULL }
};
/* Ten times the most images any of the APIs gives for one request. */
#define MAX_IMAGES 100

/* Why rec (from the n bytes at s) is no record to write images of: a
 * malloc'd sentence, or NULL. */
static char *
unsound(const struct dalle_big *big, const char *s, size_t n, jv rec)
{
	char *why, *inner;
	jv data, item;
	int i, count;

	if ((why = dalle_input_record(big, s, n, rec)) != NULL ||
	    (why = dalle_fields_check(rec, fields)) != NULL)
		return why;
	/* {name} is a string or a number, never a fallback unsaid. */
	data = dalle_record_get(rec, "name");
	if (jv_get_kind(data) != JV_KIND_NULL &&
	    jv_get_kind(data) != JV_KIND_STRING &&
	    jv_get_kind(data) != JV_KIND_NUMBER)
		why = dalle_xasprintf("\"name\" is %s, not a string or a "
		    "number", dalle_fields_noun(jv_get_kind(data)));
	jv_free(data);
	data = dalle_record_get(rec, "data");
	count = jv_get_kind(data) == JV_KIND_ARRAY ?
	    jv_array_length(jv_copy(data)) : 0;
	if (count > MAX_IMAGES && why == NULL)
		why = dalle_xasprintf("a record of %d images: more than %d, "
		    "more than any image API gives", count, MAX_IMAGES);
	for (i = 0; i < count && why == NULL; i++) {
		item = jv_array_get(jv_copy(data), i);
		if (jv_get_kind(item) != JV_KIND_OBJECT)
			why = dalle_xasprintf("data[%d] is %s, not an object",
			    i, dalle_fields_noun(jv_get_kind(item)));
		else if ((inner = dalle_fields_check(item,
		    image_fields)) != NULL) {
			why = dalle_xasprintf("data[%d]: %s", i, inner);
			free(inner);
		}
		jv_free(item);
	}
	jv_free(data);
	return why;
}

static int
on_line(struct dalle_loop *lp, char *s, size_t n)
{
	struct dalle_big big = { 0 };
	struct rec *r;
	jv rec, data, item, ie;
	const char *status, *url, *b64;
	char *why;
	size_t b64len;
	int i, count, multi, rc;

	while (*s == ' ' || *s == '\t')
		s++, n--;
	if (*s == '{') {
		rc = dalle_loop_take(lp, "fetch", s, n, &rec, &big);
		if (rc != -1)
			return rc;
		if ((why = unsound(&big, s, n, rec)) != NULL) {
			rc = dalle_loop_fail(lp, lp->cur, rec,
			    dalle_record_errorf("fetch", DALLE_KIND_INPUT, "%s",
			    why), &big);
			free(why);
			dalle_big_free(&big);
			return rc;
		}
	} else if (strncmp(s, "http://", 7) == 0 ||
	    strncmp(s, "https://", 8) == 0) {
		item = jv_object_set(jv_object(), jv_string("url"),
		    jv_string_sized(s, (int)n));
		rec = jv_object_set(jv_object(), jv_string("data"),
		    jv_array_append(jv_array(), item));
	} else
		return dalle_loop_bad_line(lp, "fetch", s,
		    "neither a record nor an image URL");

	if (dalle_resume_skipped(lp, rec, &big, paths_only))
		return 0;
	r = dalle_xcalloc(1, sizeof(*r));
	r->rec = rec;
	r->big = big;
	r->id = lp->cur;
	r->error = jv_null();
	r->files = jv_array();
	data = dalle_record_get(rec, "data");
	count = jv_get_kind(data) == JV_KIND_ARRAY ?
	    jv_array_length(jv_copy(data)) : 0;
	r->count = count;
	if (count == 0) {
		status = dalle_record_str(rec, "status");
		rec_fail(r, dalle_record_errorf("fetch", DALLE_KIND_INPUT,
		    "the record has no images%s%s%s",
		    status ? " (status " : "", status ? status : "",
		    status ? "; pipe it through dalle-poll first)" : ""));
	}
	if (to_stdout && count > 1)
		rec_fail(r, dalle_record_errorf("fetch", DALLE_KIND_INPUT,
		    "-o - writes exactly one image; this record has more"));
	multi = count > 1;
	for (i = 0; i < count && !(to_stdout && count > 1); i++) {
		r->files = jv_array_append(r->files, jv_null());
		/* Its url and error are read as text, however long. */
		item = dalle_big_unlift_fields(&r->big, jv_array_get(
		    jv_copy(data), i), (const char *const[]){ "url", "error",
		    NULL });
		ie = dalle_record_get(item, "error");
		url = dalle_record_str(item, "url");
		b64 = dalle_big_str(&r->big, item, "b64_json", &b64len);
		if (jv_get_kind(ie) == JV_KIND_OBJECT) {
			const char *code = dalle_record_str(ie, "code");

			rec_fail(r, dalle_record_error("fetch", code &&
			    strcmp(code, "contentFilter") == 0 ?
			    DALLE_KIND_CONTENT_FILTER : DALLE_KIND_FAILED, 0,
			    code, dalle_record_str(ie, "message"), 0, 0));
		} else if (b64)
			write_b64(r, i, multi, b64, b64len);
		else if (url)
			start_download(lp, r, i, multi, url);
		else
			rec_fail(r, dalle_record_errorf("fetch",
			    DALLE_KIND_PROTOCOL,
			    "an image with neither url nor b64_json"));
		jv_free(ie);
		jv_free(item);
	}
	jv_free(data);
	if (r->left == 0)
		return rec_finish(lp, r);
	/* Downloads outlive the line: so must the strings they came with,
	 * but for the base64 already written. */
	drop_written(r);
	dalle_big_keep(&r->big, r->rec);
	return 0;
}

static int
on_done(struct dalle_loop *lp, struct dalle_xfer *x)
{
	struct img *im = x->udata;
	struct rec *r = im->r;
	unsigned char head[65536];
	size_t n;
	long long bytes;
	jv e;

	if (x->result != CURLE_OK || x->status != 200) {
		e = dalle_http_xfer_error(x, "fetch");
		if (x->status == 403 || x->status == 404) {
			e = jv_object_set(e, jv_string("kind"),
			    jv_string(DALLE_KIND_EXPIRED));
			e = jv_object_set(e, jv_string("message"), jv_string(
			    "the image URL has expired or is no longer valid"));
		}
		rec_fail(r, e);
		if (im->tmp)
			drop_temp(im);
	} else if (fflush(im->fp) == EOF || (im->tmp &&
	    fsync(fileno(im->fp)) == -1)) {
		rec_fail(r, dalle_record_errorf("fetch", DALLE_KIND_IO, "%s",
		    strerror(errno)));
		drop_temp(im);
	} else {
		bytes = (long long)ftell(im->fp);
		rewind(im->fp);
		n = fread(head, 1, sizeof(head), im->fp);
		if (to_stdout) {
			/* From the temporary file a piece at a time: never
			 * the whole image in memory. */
			if (dalle_image_probe(head, n, &(int){0},
			    &(int){0}) == NULL)
				rec_fail(r, dalle_record_error("fetch",
				    DALLE_KIND_PROTOCOL, 0, NULL,
				    "the download is not an image", 1, 0));
			else
				copy_stdout(im->fp, r);
		} else
			commit(im, head, n, bytes);
	}
	fclose(im->fp);
	if (im->tmp)
		dalle_temp_done(im->tmp);
	if (im->dfd != -1)
		close(im->dfd);
	free(im->checked);
	free(im);
	dalle_http_xfer_free(x);
	if (--r->left == 0)
		return rec_finish(lp, r);
	return 0;
}

int
main(int argc, char *argv[])
{
	struct dalle_loop lp;
	int ch;

	dalle_temp_init();
	dalle_conf_init(&conf, "dalle-fetch");
	conf.jobs = 8;
	while ((ch = dalle_conf_getopt(&conf, argc, argv, "d:fhj:o:qv",
	    longopts)) != -1) {
		switch (ch) {
		case 'h':
			usage(stdout, 0);
			break;
		case 'd':
			if (*optarg == '\0')
				errx(DALLE_EX_USAGE, "-d: an empty directory "
				    "name");
			dir = optarg;
			break;
		case 'o':
			if (*optarg == '\0')
				errx(DALLE_EX_USAGE, "-o: an empty template");
			tmpl = optarg;
			to_stdout = strcmp(optarg, "-") == 0;
			break;
		case 'f':
			force = 1;
			break;
		case OPT_PATHS:
			paths_only = 1;
			break;
		case OPT_JOURNAL:
			journal_path = optarg;
			break;
		case OPT_NO_PROVENANCE:
			provenance = 0;
			break;
		case OPT_SIDECAR:
			sidecar = 1;
			break;
		case OPT_MAX_BYTES:
			if (dalle_answer_bytes(optarg, &max_bytes) == -1)
				errx(DALLE_EX_USAGE, "--max-bytes: %s: not a byte "
				    "count from 1 to 1t, with k, m or g for KiB, "
				    "MiB or GiB", optarg);
			break;
		default:
			usage(stderr, DALLE_EX_USAGE);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0 && isatty(STDIN_FILENO))
		usage(stderr, DALLE_EX_USAGE);
	dalle_input_operands("dalle-fetch", argc, argv, NULL);
	if (to_stdout && paths_only)
		errx(DALLE_EX_USAGE, "-o - and --paths do not go together");

	if (!to_stdout)
		dalle_resume_sweep(dir, tmpl);
	memset(&lp, 0, sizeof(lp));
	lp.line = on_line;
	lp.stage = "fetch";
	lp.max_line = DALLE_INPUT_RECORD_MAX_LINE;
	lp.done = on_done;
	lp.no_records = paths_only || to_stdout;
	return dalle_loop_main(&lp, &conf, NULL, argc, argv);
}
