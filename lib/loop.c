/*
 * loop.c: the record loop that dalle-submit, -poll and -fetch share: input
 * from operands or stdin (read only when it is readable, and only while
 * the work in hand is below max_pending), transfers on the http engine,
 * and output in completion order or, with --keep-order, in input order.
 */
#include <err.h>
#include <errno.h>
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

static void
out_failed(void)
{
	if (errno == EPIPE)
		exit(DALLE_EX_IOERR);
	err(DALLE_EX_IOERR, "stdout");
}

/* Records are buffered, and flushed before the loop waits (flush_out):
 * every record finished in one wake-up leaves in one write(2), so the
 * next stage also wakes once for them, not once per record. */
static void
out(const char *s, size_t n)
{
	char *r;

	/* The last net: no configured secret leaves in a record. */
	if ((r = dalle_secret_redact(s, n, &n)) != NULL)
		s = r;
	if (n > 0 && fwrite(s, 1, n, stdout) != n)
		out_failed();
	free(r);
}

static void
flush_out(void)
{
	if (fflush(stdout) == EOF)
		out_failed();
}

void
dalle_loop_emit(struct dalle_loop *lp, struct dalle_loop_id id,
    const char *s, size_t n)
{
	long seq = id.seq;
	size_t i, ncap;

	lp->emitted++;
	if (!lp->keep_order) {
		out(s, n);
		return;
	}
	if (seq != lp->next_out) {
		/* Hold it in a ring indexed by seq, grown as needed. */
		if ((size_t)(seq - lp->next_out) >= lp->cap) {
			ncap = lp->cap ? lp->cap : 64;
			while ((size_t)(seq - lp->next_out) >= ncap)
				ncap *= 2;
			char **nh = dalle_xcalloc(ncap, sizeof(*nh));
			size_t *nl = dalle_xcalloc(ncap, sizeof(*nl));

			for (i = 0; i < lp->cap; i++) {
				long k = lp->next_out + (long)i;

				nh[k % (long)ncap] = lp->held[k % (long)lp->cap];
				nl[k % (long)ncap] = lp->heldlen[k %
				    (long)lp->cap];
			}
			free(lp->held);
			free(lp->heldlen);
			lp->held = nh;
			lp->heldlen = nl;
			lp->cap = ncap;
		}
		i = (size_t)(seq % (long)lp->cap);
		lp->held[i] = dalle_xmalloc(n + 1);  /* non-NULL: "arrived" */
		memcpy(lp->held[i], s, n);
		lp->heldlen[i] = n;
		lp->nheld++;
		return;
	}
	out(s, n);
	lp->next_out++;
	while (lp->nheld > 0 && lp->held[i = (size_t)(lp->next_out %
	    (long)lp->cap)] != NULL) {
		out(lp->held[i], lp->heldlen[i]);
		free(lp->held[i]);
		lp->held[i] = NULL;
		lp->nheld--;
		lp->next_out++;
	}
}

/* One line out: the text and its newline, from a buffer kept for it. */
static struct dalle_buf line;

void
dalle_loop_emit_line(struct dalle_loop *lp, struct dalle_loop_id id,
    const char *s, size_t n)
{
	if (!lp->keep_order) {
		/* Straight out: a record of megabytes is not copied first. */
		lp->emitted++;
		out(s, n);
		out("\n", 1);
		return;
	}
	dalle_buf_reset(&line);
	dalle_buf_add(&line, s, n);
	dalle_buf_add(&line, "\n", 1);
	dalle_loop_emit(lp, id, line.p, line.len);
}

void
dalle_loop_write(struct dalle_loop *lp, struct dalle_loop_id id, jv rec,
    const struct dalle_big *big)
{
	dalle_buf_reset(&line);
	if (!lp->keep_order) {
		/* Straight out, big strings from where they are. */
		lp->emitted++;
		dalle_json_put_out(&line, rec, big, out);
		jv_free(rec);
		out(line.p, line.len);
		out("\n", 1);
		return;
	}
	dalle_json_put_big(&line, rec, big);
	jv_free(rec);
	dalle_buf_add(&line, "\n", 1);
	dalle_loop_emit(lp, id, line.p, line.len);
}

int
dalle_loop_fail(struct dalle_loop *lp, struct dalle_loop_id id, jv rec, jv e,
    const struct dalle_big *big)
{
	int rc = dalle_record_exit(dalle_record_str(e, "kind"));

	e = dalle_secret_redact_jv(e);
	if (!lp->quiet)
		warnx("%s:%ld: %s", lp->source, id.lineno,
		    dalle_record_str(e, "message"));
	dalle_loop_write(lp, id, jv_object_set(rec, jv_string("error"), e),
	    big);
	return rc;
}

int
dalle_loop_bad_line(struct dalle_loop *lp, const char *stage, const char *s,
    const char *why)
{
	jv e, rec;

	if (!lp->quiet)
		warnx("%s:%ld: %s", lp->source, lp->cur.lineno, why);
	e = dalle_record_errorf(stage, DALLE_KIND_INPUT, "%s", why);
	e = jv_object_set(e, jv_string("line"), jv_number(lp->cur.lineno));
	e = jv_object_set(e, jv_string("input"), jv_string(s));
	rec = jv_object_set(jv_object(), jv_string("error"), e);
	if (lp->no_records) {
		jv_free(rec);
		dalle_loop_emit(lp, lp->cur, "", 0);
	} else
		dalle_loop_write(lp, lp->cur, rec, NULL);
	return DALLE_EX_DATAERR;
}

int
dalle_loop_take(struct dalle_loop *lp, const char *stage, const char *s,
    size_t n, jv *rec, struct dalle_big *big)
{
	const char *kind, *msg;
	char *why = NULL;
	int rc;
	jv e;

	switch (dalle_record_parse(big, s, n, rec, &why)) {
	case DALLE_RECORD_OK:
		return -1;
	case DALLE_RECORD_BAD:
		dalle_big_free(big);
		rc = dalle_loop_bad_line(lp, stage, s, why);
		free(why);
		return rc;
	}
	/* An error record from an earlier stage: the bytes as they came. */
	dalle_big_free(big);
	if (!lp->no_records) {
		dalle_loop_emit_line(lp, lp->cur, s, n);
		jv_free(*rec);
		return 0;
	}
	/* It cannot pass on: its status must. */
	e = dalle_record_get(*rec, "error");
	kind = dalle_record_str(e, "kind");
	msg = dalle_record_str(e, "message");
	rc = dalle_record_exit(kind ? kind : DALLE_KIND_FAILED);
	if (!lp->quiet)
		warnx("%s:%ld: an error record from upstream: %s", lp->source,
		    lp->cur.lineno, msg ? msg : "?");
	jv_free(e);
	jv_free(*rec);
	dalle_loop_emit(lp, lp->cur, "", 0);
	return rc;
}

static int
blank(const char *s)
{
	for (; *s; s++)
		if (*s != ' ' && *s != '\t' && *s != '\r')
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

/* Is there room for one more record?  Held output counts too. */
static int
room(const struct dalle_loop *lp)
{
	return dalle_http_pending(lp->http) + lp->nheld < lp->max_pending;
}

static void
one(struct dalle_loop *lp, char *s, size_t n, long lineno)
{
	if (blank(s))
		return;
	lp->cur.lineno = lineno;
	dalle_loop_status(lp, lp->line(lp, s, n));
	lp->cur.seq++;
}

int
dalle_loop_run(struct dalle_loop *lp, int argc, char *argv[])
{
	struct dalle_lines *lr = NULL;
	char *s;
	size_t n;
	long lineno;
	int i, rc, ready, reading;

	if (argc > 0) {
		lp->source = "argument";
		for (i = 0; i < argc; i++) {
			one(lp, argv[i], strlen(argv[i]), i + 1);
			while (!room(lp)) {
				flush_out();
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
		while (lr && room(lp) &&
		    (s = dalle_lines_next(lr, &n, &lineno)) != NULL)
			one(lp, s, n, lineno);
		reading = lr && !dalle_lines_eof(lr) && room(lp);
		if (!reading && dalle_http_pending(lp->http) == 0 &&
		    lp->end != NULL) {
			rc = lp->end(lp);
			lp->end = NULL;
			if (rc != 0 && lp->rc == 0)
				lp->rc = rc;
			continue;
		}
		if (!reading && dalle_http_pending(lp->http) == 0)
			break;
		flush_out();
		if (dalle_http_wait(lp->http, reading ? STDIN_FILENO : -1,
		    1000, &ready) == -1)
			errx(DALLE_EX_SOFTWARE, "curl multi failed");
		drain(lp);
		if (reading && ready && dalle_lines_fill(lr) == -1)
			err(DALLE_EX_IOERR, "stdin");
	}
	dalle_lines_free(lr);
	flush_out();
	/* One record out for every record in: anything else is our bug. */
	if (lp->emitted != lp->cur.seq || lp->nheld > 0)
		errx(DALLE_EX_SOFTWARE, "%ld records in, %ld out", lp->cur.seq,
		    lp->emitted);
	free(lp->held);
	free(lp->heldlen);
	return lp->rc;
}

int
dalle_loop_main(struct dalle_loop *lp, struct dalle_conf *c,
    struct dalle_rate *rate, int argc, char *argv[])
{
	int rc;

	dalle_pipe_grow(STDOUT_FILENO);
	lp->http = dalle_http_new(c);
	dalle_http_set_rate(lp->http, rate);
	if (lp->max_pending == 0)
		lp->max_pending = (size_t)c->jobs * 2;
	lp->quiet = c->quiet;
	lp->keep_order = c->keep_order;
	rc = dalle_loop_run(lp, argc, argv);
	dalle_http_free(lp->http);
	lp->http = NULL;
	dalle_conf_free(c);
	return dalle_finish(rc);
}
