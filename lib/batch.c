/*
 * batch.c: the Files and Batch API calls dalle-submit makes, one at a
 * time, each waited for.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

#include "dalle.h"
#include "batch.h"

/* The transfer a blocking call waits for, once done; a signal stops it
 * (it comes back done, of kind "interrupted"), so that the record loop
 * acts on the signal at once. */
static struct dalle_xfer *
wait_done(struct dalle_http *h)
{
	if (dalle_interrupted() && !dalle_grace_hold(h))
		dalle_http_abort(h, dalle_interrupted());
	return dalle_http_done(h);
}

/* One request, once (x->once) or with the engine's retries: the answer
 * as an object, or jv_invalid() with *err and *again whether the outcome
 * is worth another try. */
static jv
call(struct dalle_http *h, const struct dalle_conf *c, const char *method,
    const char *what, struct dalle_buf *json, struct dalle_form *form,
    int once, jv *err, int *again)
{
	struct dalle_xfer *x;
	char *url;
	int ready;
	jv body;

	url = dalle_api_url(c, DALLE_API_OPENAI, NULL, what);
	x = dalle_http_xfer_new(method, url);
	free(url);
	x->once = once;
	/* A batch made is paid for; an upload or a look is not. */
	x->paid = strcmp(method, "POST") == 0 && strcmp(what, "batches") == 0;
	if (json != NULL)
		dalle_http_xfer_body(x, json);
	else if (form != NULL)
		dalle_http_xfer_form(x, form);
	x->headers = dalle_api_auth(c, DALLE_API_OPENAI, x->headers);
	dalle_http_start(h, x);
	*again = 0;
	while ((x = wait_done(h)) == NULL)
		if (dalle_http_wait(h, -1, 1000, &ready) == -1) {
			*err = dalle_record_errorf("submit",
			    DALLE_KIND_NETWORK, "curl multi failed");
			return jv_invalid();
		}
	body = x->result == CURLE_OK && x->status >= 200 && x->status < 300 &&
	    x->resp.p ? jv_parse_sized(x->resp.p, (int)x->resp.len) :
	    jv_invalid();
	if (jv_get_kind(body) != JV_KIND_OBJECT) {
		jv_free(body);
		body = jv_invalid();
		*err = dalle_http_xfer_error(x, "submit");
		*again = dalle_retry_wanted(x->result, x->status, &x->hint);
		if (*again)
			*again = (int)dalle_retry_delay(x->attempts, &x->hint);
	}
	dalle_http_xfer_free(x);
	return body;
}

jv
dalle_batch_call(struct dalle_http *h, const struct dalle_conf *c,
    const char *method, const char *what, struct dalle_buf *json,
    struct dalle_form *form, jv *err)
{
	int again;

	return call(h, c, method, what, json, form, 0, err, &again);
}

char *
dalle_batch_upload(struct dalle_http *h, const struct dalle_conf *c,
    const char *path, jv *err)
{
	struct dalle_form *f = dalle_form_new();
	const char *id;
	struct stat sb;
	char *s = NULL;
	jv o;

	if (stat(path, &sb) == -1) {
		dalle_form_free(f);
		*err = dalle_record_errorf("submit", DALLE_KIND_IO,
		    "%s: cannot stat", path);
		return NULL;
	}
	dalle_form_add(f, "purpose", "batch");
	dalle_form_add_file(f, "file", path, "application/jsonl",
	    (long long)sb.st_size, "");
	o = dalle_batch_call(h, c, "POST", "files", NULL, f, err);
	if (jv_is_valid(o) && (id = dalle_record_str(o, "id")) != NULL)
		s = dalle_xstrdup(id);
	else if (jv_is_valid(o))
		*err = dalle_record_errorf("submit", DALLE_KIND_PROTOCOL,
		    "the uploaded file has no id");
	jv_free(o);
	return s;
}

/* The newest batch of ours for file_id within the window, or invalid. */
static jv
batch_of_file(struct dalle_http *h, const struct dalle_conf *c,
    const char *file_id)
{
	const char *fid;
	jv page, data, b, e = jv_invalid();
	int i, n, again;

	page = call(h, c, "GET", "batches?limit=100", NULL, NULL, 0, &e,
	    &again);
	jv_free(e);
	data = dalle_record_get(page, "data");
	n = jv_get_kind(data) == JV_KIND_ARRAY ?
	    jv_array_length(jv_copy(data)) : 0;
	for (i = 0; i < n; i++) {
		b = jv_array_get(jv_copy(data), i);
		fid = dalle_record_str(b, "input_file_id");
		if (fid != NULL && strcmp(fid, file_id) == 0)
			break;
		jv_free(b);
	}
	jv_free(data);
	jv_free(page);
	return i < n ? b : jv_invalid();
}

/*
 * The create is never retried blindly: an answer lost on the way would
 * make the batch twice.  After a failure worth another try, the batches
 * are searched for one of this file first.
 */
jv
dalle_batch_create(struct dalle_http *h, const struct dalle_conf *c,
    const char *file_id, const char *endpoint, jv *err)
{
	struct dalle_buf b = { 0 };
	jv body, s, o;
	int again, tries = 0;

	body = JV_OBJECT(jv_string("input_file_id"), jv_string(file_id),
	    jv_string("endpoint"), jv_string(endpoint),
	    jv_string("completion_window"), jv_string("24h"),
	    jv_string("metadata"), JV_OBJECT(jv_string(DALLE_BATCH_MARK),
	    jv_string(VERSION)));
	s = jv_dump_string(body, 0);
	for (;;) {
		dalle_buf_adds(&b, jv_string_value(s));
		o = call(h, c, "POST", "batches", &b, NULL, 1, err, &again);
		if (jv_is_valid(o) || !again || tries++ >= c->retries)
			break;
		if (again > 0 && again <= c->max_wait_ms)
			usleep((useconds_t)again * 1000);
		if (jv_is_valid(o = batch_of_file(h, c, file_id))) {
			jv_free(*err);
			*err = jv_invalid();
			break;
		}
		jv_free(*err);
		*err = jv_invalid();
	}
	jv_free(s);
	if (jv_is_valid(o) && dalle_record_str(o, "id") == NULL) {
		jv_free(o);
		*err = dalle_record_errorf("submit", DALLE_KIND_PROTOCOL,
		    "the new batch has no id");
		return jv_invalid();
	}
	return o;
}

/* Where "custom_id" is in p (n bytes), or NULL. */
static const char *
key_at(const char *p, size_t n)
{
	const char *e = p + n;

	for (; p != NULL && e - p >= 11; p++) {
		if ((p = memchr(p, '"', (size_t)(e - p))) == NULL ||
		    e - p < 11)
			return NULL;
		if (memcmp(p, "\"custom_id\"", 11) == 0)
			return p;
	}
	return NULL;
}

void
dalle_batch_scan_feed(struct dalle_batch_scan *sc, const char *p, size_t n)
{
	const char *nl, *q, *e;
	size_t k, room;
	jv cid;

	while (n > 0) {
		nl = memchr(p, '\n', n);
		k = nl ? (size_t)(nl - p) : n;
		room = sizeof(sc->head) - sc->nhead;
		if (room > k)
			room = k;
		memcpy(sc->head + sc->nhead, p, room);
		sc->nhead += room;
		sc->len += (int64_t)k;
		if (nl == NULL)
			return;
		/* A line ends: its custom_id, from its first bytes. */
		q = key_at(sc->head, sc->nhead);
		cid = jv_invalid();
		if (q != NULL) {
			e = sc->head + sc->nhead;
			for (q += 11; q < e && strchr(" \t:", *q); q++)
				;
			for (k = 1; q < e && *q == '"' && q + k < e &&
			    q[k] != '"'; k++)
				if (q[k] == '\\')
					k++;
			if (q < e && *q == '"' && q + k < e)
				cid = jv_parse_sized(q, (int)k + 1);
		}
		if (jv_get_kind(cid) == JV_KIND_STRING)
			sc->line(sc->arg, jv_string_value(cid), sc->off,
			    sc->len);
		jv_free(cid);
		sc->off += sc->len + 1;
		sc->len = 0;
		sc->nhead = 0;
		n -= (size_t)(nl - p) + 1;
		p = nl + 1;
	}
}

/* The lines of one batch of ours that count as batched. */
struct seen {
	jv want;                  /* borrowed: the custom_ids asked about */
	jv got;                   /* {custom_id: true} */
	jv bad;                   /* {custom_id: true}: failed there */
	int drop;                 /* lines seen go to bad, not got */
	struct dalle_batch_scan sc;
	int attempt;
};

static void
seen_line(void *arg, const char *cid, int64_t off, int64_t len)
{
	struct seen *s = arg;

	(void)off;
	(void)len;
	if (!jv_object_has(jv_copy(s->want), jv_string(cid)))
		return;
	if (s->drop)
		s->bad = jv_object_set(s->bad, jv_string(cid), jv_true());
	else
		s->got = jv_object_set(s->got, jv_string(cid), jv_true());
}

static int
seen_chunk(struct dalle_xfer *x, const char *p, size_t n)
{
	struct seen *s = x->udata;

	if (x->attempts != s->attempt) {        /* a retry starts afresh */
		s->attempt = x->attempts;
		s->sc.off = s->sc.len = 0;
		s->sc.nhead = 0;
	}
	dalle_batch_scan_feed(&s->sc, p, n);
	return 0;
}

/* The custom_ids of file fid read as it streams in, each kept only when
 * s->want has it: 0, or -1 with *err. */
static int
scan_file(struct dalle_http *h, const struct dalle_conf *c, const char *fid,
    struct seen *s, jv *err)
{
	struct dalle_xfer *x;
	char *url, *what;
	int ready;

	what = dalle_xasprintf("files/%s/content", fid);
	url = dalle_api_url(c, DALLE_API_OPENAI, NULL, what);
	free(what);
	x = dalle_http_xfer_new("GET", url);
	free(url);
	x->headers = dalle_api_auth(c, DALLE_API_OPENAI, x->headers);
	x->chunk = seen_chunk;
	/* Read as it streams, only its custom_ids kept: a batch file may
	 * be 200 MB of lines. */
	x->max_bytes = (long long)4 << 30;
	x->udata = s;
	memset(&s->sc, 0, sizeof(s->sc));
	s->sc.line = seen_line;
	s->sc.arg = s;
	s->attempt = 1;
	dalle_http_start(h, x);
	while ((x = wait_done(h)) == NULL)
		if (dalle_http_wait(h, -1, 1000, &ready) == -1)
			return -1;
	dalle_batch_scan_feed(&s->sc, "\n", 1);
	if (x->result != CURLE_OK || x->status != 200) {
		*err = dalle_http_xfer_error(x, "submit");
		dalle_http_xfer_free(x);
		return -1;
	}
	dalle_http_xfer_free(x);
	return 0;
}

/*
 * The lines of batch b (ours, in the window) that count as batched: all
 * of a running batch's; of a completed one, those not in its error file;
 * of an expired or cancelled one, those in its output file.
 */
static int
batch_lines(struct dalle_http *h, const struct dalle_conf *c, jv b,
    struct seen *s, jv *err)
{
	static const char *const running[] = { "validating", "in_progress",
	    "finalizing", NULL };
	const char *st = dalle_record_str(b, "status");
	const char *in = dalle_record_str(b, "input_file_id");
	const char *out = dalle_record_str(b, "output_file_id");
	const char *bad = dalle_record_str(b, "error_file_id");
	int k;

	if (st == NULL)
		return 0;
	for (k = 0; running[k] && strcmp(st, running[k]); k++)
		;
	if (running[k] != NULL || strcmp(st, "completed") == 0) {
		if (in == NULL || scan_file(h, c, in, s, err) == -1)
			return in == NULL ? 0 : -1;
		s->drop = 1;
		if (running[k] == NULL && bad != NULL &&
		    scan_file(h, c, bad, s, err) == -1)
			return -1;
	} else if ((strcmp(st, "expired") == 0 ||
	    strcmp(st, "cancelled") == 0) && out != NULL)
		return scan_file(h, c, out, s, err);
	return 0;
}

jv
dalle_batch_inflight(struct dalle_http *h, const struct dalle_conf *c,
    jv want, jv *err)
{
	const char *last;
	char *what = dalle_xstrdup("batches?limit=100");
	jv ids = jv_object(), page, data, b, mark, keys, k;
	struct seen s;
	int i, n, j, m, more = 1, ours;
	double made, since = (double)dalle_time() -
	    DALLE_BATCH_WINDOW_DAYS * 86400.0;

	while (more) {
		page = dalle_batch_call(h, c, "GET", what, NULL, NULL, err);
		free(what);
		what = NULL;
		if (!jv_is_valid(page)) {
			jv_free(ids);
			return page;
		}
		data = dalle_record_get(page, "data");
		n = jv_get_kind(data) == JV_KIND_ARRAY ?
		    jv_array_length(jv_copy(data)) : 0;
		for (i = 0; i < n; i++) {
			b = jv_array_get(jv_copy(data), i);
			mark = jv_getpath(jv_copy(b), JV_ARRAY(
			    jv_string("metadata"), jv_string(DALLE_BATCH_MARK)));
			ours = jv_get_kind(mark) == JV_KIND_STRING;
			jv_free(mark);
			mark = dalle_record_get(b, "created_at");
			made = jv_get_kind(mark) == JV_KIND_NUMBER ?
			    jv_number_value(mark) : 0;
			jv_free(mark);
			/* Newest first: past the window, nothing is ours. */
			if (made < since)
				more = 0;
			memset(&s, 0, sizeof(s));
			s.want = want;
			s.got = jv_object();
			s.bad = jv_object();
			if (ours && made >= since &&
			    batch_lines(h, c, b, &s, err) == -1) {
				jv_free(s.got);
				jv_free(s.bad);
				jv_free(b);
				jv_free(data);
				jv_free(page);
				jv_free(ids);
				return jv_invalid();
			}
			/* The newest batch of a line names it. */
			keys = jv_keys(jv_copy(s.got));
			m = jv_array_length(jv_copy(keys));
			for (j = 0; j < m; j++) {
				k = jv_array_get(jv_copy(keys), j);
				if (!jv_object_has(jv_copy(ids), jv_copy(k)) &&
				    !jv_object_has(jv_copy(s.bad), jv_copy(k)))
					ids = jv_object_set(ids, k, JV_OBJECT(
					    jv_string("batch"),
					    dalle_record_get(b, "id"),
					    jv_string("status"),
					    dalle_record_get(b, "status")));
				else
					jv_free(k);
			}
			jv_free(keys);
			jv_free(s.got);
			jv_free(s.bad);
			jv_free(b);
		}
		jv_free(data);
		last = dalle_record_str(page, "last_id");
		mark = jv_object_get(jv_copy(page), jv_string("has_more"));
		more = more && jv_get_kind(mark) == JV_KIND_TRUE &&
		    last != NULL;
		jv_free(mark);
		if (more)
			what = dalle_xasprintf("batches?limit=100&after=%s",
			    last);
		jv_free(page);
	}
	return ids;
}

struct index {
	jv idx;
	int file;
};

static void
index_line(void *arg, const char *cid, int64_t off, int64_t len)
{
	struct index *ix = arg;

	ix->idx = jv_object_set(ix->idx, jv_string(cid), JV_ARRAY(
	    jv_number(ix->file), jv_number((double)off),
	    jv_number((double)len)));
}

jv
dalle_batch_index(FILE *fp, int file, jv idx)
{
	struct dalle_batch_scan sc;
	struct index ix = { idx, file };
	char buf[65536];
	size_t n;

	memset(&sc, 0, sizeof(sc));
	sc.line = index_line;
	sc.arg = &ix;
	rewind(fp);
	while ((n = fread(buf, 1, sizeof(buf), fp)) > 0)
		dalle_batch_scan_feed(&sc, buf, n);
	dalle_batch_scan_feed(&sc, "\n", 1);
	return ix.idx;
}

jv
dalle_batch_merge(jv rec, jv body, jv data)
{
	jv v;

	rec = jv_object_set(rec, jv_string("status"), jv_string("succeeded"));
	rec = jv_object_set(rec, jv_string("created"),
	    dalle_record_get(body, "created"));
	rec = jv_object_set(rec, jv_string("data"), data);
	v = dalle_record_get(body, "usage");
	if (jv_get_kind(v) == JV_KIND_OBJECT)
		rec = jv_object_set(rec, jv_string("usage"), v);
	else
		jv_free(v);
	return dalle_record_made(rec, body);
}

/* A line's error: the service's answer as a synchronous request would
 * have had it, or the batch's own code. */
static jv
line_error(jv line, const char *url)
{
	struct dalle_xfer *x;
	const char *code, *msg;
	jv resp, e, body, s;
	long status;

	resp = dalle_record_get(line, "response");
	if (jv_get_kind(resp) != JV_KIND_OBJECT ||
	    dalle_record_long(resp, "status_code", &status) == -1) {
		jv_free(resp);
		e = dalle_record_get(line, "error");
		code = dalle_record_str(e, "code");
		msg = dalle_record_str(e, "message");
		s = dalle_record_error("poll", code && strcmp(code,
		    "batch_expired") == 0 ? DALLE_KIND_BATCH_EXPIRED : code &&
		    strcmp(code, "batch_cancelled") == 0 ? DALLE_KIND_CANCELLED :
		    DALLE_KIND_FAILED, 0, code, msg ? msg : "the batch did not "
		    "run this line", 0, 0);
		jv_free(e);
		return s;
	}
	body = dalle_record_get(resp, "body");
	s = jv_dump_string(body, 0);
	/* A transfer of the engine's own making: its error reads the
	 * engine's private part too. */
	x = dalle_http_xfer_new("GET", url);
	x->status = status;
	dalle_buf_adds(&x->resp, jv_string_value(s));
	jv_free(s);
	e = dalle_http_xfer_error(x, "poll");
	/* A batch line is not retried by itself: it is a record's error. */
	e = jv_object_set(e, jv_string("retryable"), jv_false());
	dalle_http_xfer_free(x);
	jv_free(resp);
	return e;
}

jv
dalle_batch_result(struct dalle_big *big, jv rec, const char *line,
    size_t n, const char *url, jv *err)
{
	jv l, body, v, resp;
	long status;

	l = dalle_big_parse(big, line, n);
	body = jv_getpath(jv_copy(l), JV_ARRAY(jv_string("response"),
	    jv_string("body")));
	v = dalle_record_get(body, "data");
	resp = dalle_record_get(l, "response");
	if (dalle_record_long(resp, "status_code", &status) == -1)
		status = 0;
	jv_free(resp);
	if (status != 200 || jv_get_kind(v) != JV_KIND_ARRAY) {
		jv_free(v);
		*err = line_error(l, url);
		jv_free(body);
		jv_free(l);
		jv_free(rec);
		return jv_invalid();
	}
	if (jv_array_length(jv_copy(v)) == 0) {
		/* Success with nothing to show is no success. */
		jv_free(v);
		*err = dalle_record_error("poll", DALLE_KIND_PROTOCOL, status,
		    NULL, "the batch line succeeded with no images", 1, 0);
		jv_free(body);
		jv_free(l);
		jv_free(rec);
		return jv_invalid();
	}
	rec = dalle_batch_merge(rec, body, v);
	jv_free(body);
	jv_free(l);
	return rec;
}
