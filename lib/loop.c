/* loop.c: the record loop that dalle-submit, -poll and -fetch share. */
#include <err.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dalle.h"

void
dalle_loop_status(struct dalle_loop *lp, int rc)
{
	if (rc != 0 && lp->rc == 0)
		lp->rc = rc;
}

int
dalle_loop_bad_line(struct dalle_loop *lp, const char *stage, const char *s,
    long lineno, const char *why)
{
	jv e, rec;

	if (!lp->quiet)
		warnx("%s:%ld: %s", lp->source, lineno, why);
	e = dalle_error_new(stage, DALLE_KIND_INPUT, 0, NULL, why, 0, 0);
	e = jv_object_set(e, jv_string("line"), jv_number(lineno));
	e = jv_object_set(e, jv_string("input"), jv_string(s));
	rec = jv_object_set(jv_object(), jv_string("error"), e);
	if (lp->no_records)
		jv_free(rec);
	else
		dalle_record_write(rec);
	return DALLE_EX_DATAERR;
}

static int
blank(const char *s)
{
	for (; *s; s++)
		if (*s != ' ' && *s != '\t')
			return 0;
	return 1;
}

static void
drain(struct dalle_loop *lp)
{
	struct dalle_xfer *x;

	while ((x = dalle_http_done(lp->http)) != NULL)
		dalle_loop_status(lp, lp->done(lp, x));
}

int
dalle_loop_run(struct dalle_loop *lp, int argc, char *argv[])
{
	struct dalle_lines *lr = NULL;
	char *s;
	size_t n;
	long lineno;
	int i, ready, reading;

	if (argc > 0) {
		lp->source = "argument";
		for (i = 0; i < argc; i++) {
			if (!blank(argv[i]))
				dalle_loop_status(lp, lp->line(lp, argv[i],
				    strlen(argv[i]), i + 1));
			/* Keep the pending set bounded here too. */
			while (dalle_http_pending(lp->http) >= lp->max_pending) {
				if (dalle_http_wait(lp->http, -1, 1000,
				    &ready) == -1)
					errx(DALLE_EX_SOFTWARE, "curl multi failed");
				drain(lp);
			}
		}
	} else {
		lp->source = "stdin";
		lr = dalle_lines_new(STDIN_FILENO);
	}
	for (;;) {
		while (lr && dalle_http_pending(lp->http) < lp->max_pending &&
		    (s = dalle_lines_next(lr, &n, &lineno)) != NULL)
			if (!blank(s))
				dalle_loop_status(lp, lp->line(lp, s, n, lineno));
		reading = lr && !dalle_lines_eof(lr) &&
		    dalle_http_pending(lp->http) < lp->max_pending;
		if (!reading && dalle_http_pending(lp->http) == 0)
			break;
		if (dalle_http_wait(lp->http, reading ? STDIN_FILENO : -1,
		    1000, &ready) == -1)
			errx(DALLE_EX_SOFTWARE, "curl multi failed");
		drain(lp);
		if (reading && ready && dalle_lines_fill(lr) == -1)
			err(DALLE_EX_IOERR, "stdin");
	}
	dalle_lines_free(lr);
	return lp->rc;
}
