/*
 * loop.c: the record loop that dalle-submit, -poll and -fetch share: input
 * from operands or stdin (read only when it is readable, and only while
 * the work in hand is below max_pending), transfers on the http engine,
 * and output in completion order or, with --keep-order, in input order.
 */
#include <sys/stat.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
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

static struct dalle_loop *running;        /* whose records go out */
static int mid_record;                    /* out() is writing one */
static long answered;                     /* transfers that ended */

static void
out_failed(const char *rest, size_t n)
{
	int e = errno;

	/* The reader leaving is worth a word when it loses what cost a
	 * request (| head -1 of a dry run says nothing). */
	if (running != NULL && (e != EPIPE || answered > 0 ||
	    dalle_http_pending(running->http) > 0))
		dalle_loop_lost(running, rest, n, mid_record);
	errno = e;
	if (errno == EPIPE)
		exit(DALLE_EX_IOERR);
	err(DALLE_EX_IOERR, "stdout");
}

/*
 * Records are buffered, and flushed before the loop waits (flush_out):
 * every record finished in one wake-up leaves in one write(2), so the
 * next stage also wakes once for them, not once per record.  The buffer
 * is ours, not stdio's, so that a signal can end a write that blocks
 * (nobody reads our stdout) and nothing is lost or written twice.
 */
static struct dalle_buf obuf;
#define OBUF_MAX (256 * 1024)

/* Write what stdout takes of p[0..n): all of it, or less once a signal
 * came (the loop then ends; see stop). */
static size_t
put(const char *p, size_t n)
{
	struct pollfd pf;
	size_t done = 0;
	ssize_t w;

	while (done < n && !dalle_interrupted()) {
		w = write(STDOUT_FILENO, p + done, n - done);
		if (w >= 0) {
			done += (size_t)w;
			continue;
		}
		if (errno == EAGAIN) {
			/* Someone made stdout non-blocking: wait for room. */
			pf.fd = STDOUT_FILENO;
			pf.events = POLLOUT;
			poll(&pf, 1, -1);
		} else if (errno != EINTR)
			out_failed(p + done, n - done);
	}
	return done;
}

static void
flush_out(void)
{
	size_t n;

	if (obuf.len > 0)
		dalle_status_output();
	n = put(obuf.p, obuf.len);

	if (n > 0) {
		memmove(obuf.p, obuf.p + n, obuf.len - n);
		obuf.len -= n;
	}
}

/*
 * Bytes out, as they are.  Secrets are kept out where text enters and
 * where it is made, not here: answers are redacted as they arrive
 * (http.c, stream.c, batch files), records as they are written
 * (dalle_loop_write) and composed text in dalle_loop_emit.  What passes
 * through untouched (an input line, an image's base64) was written by the
 * stage before under the same rule, or by the user: scanning those
 * megabytes again cost a third of dalle-poll's time per record.
 */
static void
out(const char *s, size_t n)
{
	size_t k;

	if (n == 0)
		return;
	mid_record = 1;
	if (obuf.len + n > OBUF_MAX) {
		flush_out();
		/* A piece of megabytes goes straight out, not copied. */
		if (obuf.len == 0 && n >= OBUF_MAX) {
			k = put(s, n);
			s += k;
			n -= k;
		}
	}
	dalle_buf_add(&obuf, s, n);
	mid_record = 0;
}

/*
 * After a signal: what is left goes out while stdout takes it, for at most
 * ms milliseconds, in pieces a pipe takes whole (PIPE_BUF) so that no write
 * blocks.  Returns the bytes it could not write.
 */
static size_t
flush_last(long ms)
{
	int64_t until = dalle_now_ms() + ms;
	struct pollfd pf;
	struct stat st;
	size_t off = 0, chunk = obuf.len;
	ssize_t w;

	if (fstat(STDOUT_FILENO, &st) == 0 && (S_ISFIFO(st.st_mode) ||
	    S_ISSOCK(st.st_mode)))
		chunk = PIPE_BUF;
	while (off < obuf.len && dalle_now_ms() < until) {
		pf.fd = STDOUT_FILENO;
		pf.events = POLLOUT;
		if (poll(&pf, 1, (int)(until - dalle_now_ms())) <= 0)
			continue;
		if (pf.revents & (POLLERR | POLLHUP | POLLNVAL))
			break;
		w = write(STDOUT_FILENO, obuf.p + off, obuf.len - off < chunk ?
		    obuf.len - off : chunk);
		if (w > 0)
			off += (size_t)w;
		else if (w == -1 && errno != EINTR && errno != EAGAIN)
			break;
	}
	return obuf.len - off;
}

/* Count rec as an error record (borrowed) if it is one. */
static void
count(struct dalle_loop *lp, jv rec)
{
	jv e = dalle_record_get(rec, "error");
	const char *kind;

	dalle_status_record(rec);
	if (jv_get_kind(e) == JV_KIND_OBJECT) {
		kind = dalle_record_str(e, "kind");
		if (kind && strcmp(kind, DALLE_KIND_INTERRUPTED) == 0)
			lp->unfinished++;
		else if (kind && strcmp(kind, DALLE_KIND_TIMEOUT) == 0) {
			lp->unfinished++;
			lp->timedout++;
		} else
			lp->failed++;
	}
	jv_free(e);
}

/* Output of record id, in order when asked (see dalle_loop_emit). */
static void
emit(struct dalle_loop *lp, struct dalle_loop_id id, const char *s, size_t n)
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

void
dalle_loop_emit(struct dalle_loop *lp, struct dalle_loop_id id,
    const char *s, size_t n)
{
	size_t rn;
	char *r;

	/* Text made here (paths, lines of a summary): redacted. */
	if ((r = dalle_secret_redact(s, n, &rn)) != NULL) {
		emit(lp, id, r, rn);
		free(r);
	} else
		emit(lp, id, s, n);
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
	emit(lp, id, line.p, line.len);
}

void
dalle_loop_write(struct dalle_loop *lp, struct dalle_loop_id id, jv rec,
    const struct dalle_big *big)
{
	dalle_buf_reset(&line);
	count(lp, rec);
	/* Its text, not its big strings (redacted where they came in). */
	rec = dalle_secret_redact_jv(rec);
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
	emit(lp, id, line.p, line.len);
}

int
dalle_loop_fail(struct dalle_loop *lp, struct dalle_loop_id id, jv rec, jv e,
    const struct dalle_big *big)
{
	const char *kind;
	int rc;

	/* Before anything reads it: redacting makes a new object. */
	e = dalle_secret_redact_jv(e);
	kind = dalle_record_str(e, "kind");
	rc = dalle_record_exit(kind);
	/* The unfinished are counted in one line at the end, not one each. */
	if (!lp->quiet && (kind == NULL || (strcmp(kind,
	    DALLE_KIND_INTERRUPTED) != 0 && strcmp(kind,
	    DALLE_KIND_TIMEOUT) != 0)))
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
		lp->failed++;
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
	count(lp, *rec);
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

/* The terminal's status (when it has one) hears how it goes. */
static void
tell(struct dalle_loop *lp)
{
	struct dalle_status_counts c;
	size_t quota;

	dalle_http_counts(lp->http, &quota, &c.retries);
	c.in = lp->cur.seq;
	c.out = lp->emitted;
	c.failed = lp->failed;
	c.quota = (long)quota;
	c.inflight = (long)(dalle_http_pending(lp->http) - quota);
	dalle_status_update(&c);
}

static void
drain(struct dalle_loop *lp)
{
	struct dalle_xfer *x;

	while ((x = dalle_http_done(lp->http)) != NULL) {
		answered++;
		dalle_loop_status(lp, lp->done(lp, x));
	}
	tell(lp);
}

/* Is there room for one more record?  Held output counts too. */
static int
room(const struct dalle_loop *lp)
{
	return dalle_http_pending(lp->http) + lp->nheld < lp->max_pending;
}

/*
 * A line the programs never see: one over --max-line (only its start is
 * here, toolong its length) or one with a NUL byte.  Its error record's
 * status, or -1 for a line to go on with.
 */
static int
refuse(struct dalle_loop *lp, const char *s, size_t n, size_t toolong)
{
	char why[96];

	if (toolong > 0)
		snprintf(why, sizeof(why), "a line of %zu bytes: longer than "
		    "--max-line %zu", toolong, lp->max_line);
	else if (memchr(s, '\0', n) != NULL)
		snprintf(why, sizeof(why), "a NUL byte at byte %zu of the line",
		    (size_t)((const char *)memchr(s, '\0', n) - s) + 1);
	else
		return -1;
	return dalle_loop_bad_line(lp, lp->stage ? lp->stage : "input", s,
	    why);
}

static void
one(struct dalle_loop *lp, char *s, size_t n, long lineno, size_t toolong)
{
	int rc;

	if (toolong == 0 && strlen(s) == n && blank(s))
		return;
	lp->cur.lineno = lineno;
	if ((rc = refuse(lp, s, n, toolong)) == -1)
		rc = lp->line(lp, s, n);
	dalle_loop_status(lp, rc);
	lp->cur.seq++;
}

int
dalle_loop_unfinished(struct dalle_loop *lp, struct dalle_loop_id id, jv rec,
    const struct dalle_big *big, int sig)
{
	return dalle_loop_fail(lp, id, rec, dalle_interrupt_error(lp->stage ?
	    lp->stage : "input", sig, 0, 0), big);
}

/* A line read but never started: its record, as interrupted. */
static void
unstarted(struct dalle_loop *lp, char *s, size_t n, long lineno,
    size_t toolong, int sig)
{
	struct dalle_big big = { 0 };
	char *p = s;
	int rc;
	jv rec, e;

	if (toolong == 0 && strlen(s) == n && blank(s))
		return;
	lp->cur.lineno = lineno;
	if ((rc = refuse(lp, s, n, toolong)) != -1)
		goto out;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '{' && (rc = dalle_loop_take(lp, lp->stage ? lp->stage :
	    "input", p, n - (size_t)(p - s), &rec, &big)) != -1)
		goto out;
	if (*p == '{' || lp->text_prompts) {
		if (*p != '{')
			rec = jv_object_set(jv_object(), jv_string("prompt"),
			    jv_string_sized(s, (int)n));
		rc = dalle_loop_unfinished(lp, lp->cur, rec, &big, sig);
	} else {
		/* A bare URL or id: given back as the error's input. */
		e = dalle_interrupt_error(lp->stage ? lp->stage : "input", sig,
		    0, 0);
		e = jv_object_set(e, jv_string("input"), jv_string(s));
		rc = dalle_loop_fail(lp, lp->cur, jv_object(), e, NULL);
	}
	dalle_big_free(&big);
out:
	dalle_loop_status(lp, rc);
	lp->cur.seq++;
}

/* After a signal, input that is on its way (the record of a stage before
 * us, itself interrupted) is read for this long, up to its end. */
#define DRAIN_MS 1000
/* ... and what is left of the output written for this long. */
#define LAST_WRITE_MS 1000

/*
 * Signal sig came: every transfer stops and its record goes out as
 * interrupted (or with its answer, if it came), then every record read
 * and not started; a line on stderr counts them and says how to resume;
 * then the program ends as sig ends it.
 */
static void
stop(struct dalle_loop *lp, struct dalle_lines *lr, int argc, char *argv[],
    int next, int sig)
{
	int64_t until = dalle_now_ms() + DRAIN_MS;
	struct pollfd pf;
	size_t n, lost;
	char why[64];
	long lineno;
	char *s;

	dalle_status_close();
	drain(lp);
	while (dalle_http_pending(lp->http) > 0) {
		dalle_http_abort(lp->http, sig);
		drain(lp);
	}
	if (lp->interrupt != NULL)
		dalle_loop_status(lp, lp->interrupt(lp, sig));
	for (; next < argc; next++)
		unstarted(lp, argv[next], strlen(argv[next]), next + 1, 0, sig);
	while (lr != NULL) {
		while ((s = dalle_lines_next(lr, &n, &lineno)) != NULL)
			unstarted(lp, s, n, lineno, dalle_lines_toolong(lr),
			    sig);
		/* Not when stdout takes nothing: more would only wait. */
		if (dalle_lines_eof(lr) || isatty(STDIN_FILENO) ||
		    obuf.len > OBUF_MAX || dalle_now_ms() >= until)
			break;
		pf.fd = STDIN_FILENO;
		pf.events = POLLIN;
		if (poll(&pf, 1, (int)(until - dalle_now_ms())) <= 0 ||
		    dalle_lines_fill(lr) == -1)
			break;
	}
	lost = flush_last(LAST_WRITE_MS);
	if (lp->emitted != lp->cur.seq || lp->nheld > 0)
		warnx("%ld records in, %ld out", lp->cur.seq, lp->emitted);
	snprintf(why, sizeof(why), "interrupted by %s",
	    dalle_interrupt_name(sig));
	dalle_loop_summary(lp, why, DALLE_KIND_INTERRUPTED, lost > 0 ?
	    " (stdout took not all of them)" : "");
	dalle_lines_free(lr);
	dalle_interrupt_exit(sig);
}

int
dalle_loop_run(struct dalle_loop *lp, int argc, char *argv[])
{
	struct dalle_lines *lr = NULL;
	char *s;
	size_t n;
	long lineno;
	int i = 0, rc, ready, reading;

	if (argc == 1 && strcmp(argv[0], "-") == 0)
		argc = 0;               /* "-": stdin */
	running = lp;
	if (argc > 0) {
		lp->source = "argument";
		dalle_status_input(-1, argc);
		for (i = 0; i < argc && !dalle_interrupted(); i++) {
			one(lp, argv[i], strlen(argv[i]), i + 1, 0);
			while (!room(lp) && !dalle_interrupted()) {
				flush_out();
				if (dalle_http_wait(lp->http, -1,
				    dalle_status_wait(1000), &ready) == -1)
					errx(DALLE_EX_SOFTWARE, "curl multi failed");
				drain(lp);
			}
		}
	} else {
		lp->source = "stdin";
		dalle_status_input(STDIN_FILENO, 0);
		lr = dalle_lines_new(STDIN_FILENO);
		dalle_lines_set_max(lr, lp->max_line);
	}
	for (;;) {
		while (lr && room(lp) && !dalle_interrupted() &&
		    (s = dalle_lines_next(lr, &n, &lineno)) != NULL)
			one(lp, s, n, lineno, dalle_lines_toolong(lr));
		if (dalle_interrupted() && !dalle_grace_hold(lp->http))
			break;
		reading = lr && !dalle_lines_eof(lr) && room(lp) &&
		    !dalle_interrupted();
		if (!reading && dalle_http_pending(lp->http) == 0 &&
		    lp->end != NULL && !dalle_interrupted()) {
			rc = lp->end(lp);
			lp->end = NULL;
			if (rc != 0 && lp->rc == 0)
				lp->rc = rc;
			continue;
		}
		if (!reading && dalle_http_pending(lp->http) == 0)
			break;
		flush_out();
		if (dalle_interrupted() && !dalle_grace_hold(lp->http))
			break;
		if (dalle_http_wait(lp->http, reading ? STDIN_FILENO : -1,
		    dalle_status_wait(1000), &ready) == -1)
			errx(DALLE_EX_SOFTWARE, "curl multi failed");
		drain(lp);
		if (reading && ready && dalle_lines_fill(lr) == -1 &&
		    errno != EINTR)
			err(DALLE_EX_IOERR, "stdin");
	}
	flush_out();
	if (dalle_interrupted())
		stop(lp, lr, argc, argv, i, dalle_interrupted());
	dalle_lines_free(lr);
	if (lp->timedout > 0)
		dalle_loop_summary(lp, "the timeout came", DALLE_KIND_TIMEOUT,
		    "");
	/* One record out for every record in: anything else is our bug. */
	if (lp->emitted != lp->cur.seq || lp->nheld > 0)
		errx(DALLE_EX_SOFTWARE, "%ld records in, %ld out", lp->cur.seq,
		    lp->emitted);
	free(lp->held);
	free(lp->heldlen);
	dalle_buf_free(&obuf);
	return lp->rc;
}

int
dalle_loop_main(struct dalle_loop *lp, struct dalle_conf *c,
    struct dalle_rate *rate, int argc, char *argv[])
{
	int rc, fl;

	/* Nowhere to write the records: nothing is sent. */
	if ((fl = fcntl(STDOUT_FILENO, F_GETFL)) == -1 ||
	    (fl & O_ACCMODE) == O_RDONLY)
		errx(DALLE_EX_IOERR, "stdout is closed or not writable: "
		    "nothing sent");
	dalle_interrupt_init();
	dalle_pipe_grow(STDOUT_FILENO);
	if (c->max_line > 0)
		lp->max_line = (size_t)c->max_line;
	lp->http = dalle_http_new(c);
	dalle_http_set_rate(lp->http, rate);
	if (lp->max_pending == 0)
		lp->max_pending = (size_t)c->jobs * 2;
	lp->quiet = c->quiet;
	lp->keep_order = c->keep_order;
	dalle_status_open(lp->stage ? lp->stage : "submit", c->quiet);
	rc = dalle_loop_run(lp, argc, argv);
	tell(lp);
	dalle_status_close();
	dalle_http_free(lp->http);
	lp->http = NULL;
	dalle_conf_free(c);
	return dalle_finish(rc);
}
