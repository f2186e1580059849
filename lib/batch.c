/*
 * batch.c: the Files and Batch API calls dalle-submit makes, one at a
 * time, each waited for.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>

#include "dalle.h"
#include "batch.h"

jv
dalle_batch_call(struct dalle_http *h, const struct dalle_conf *c,
    const char *method, const char *what, struct dalle_buf *json,
    struct dalle_form *form, jv *err)
{
	struct dalle_xfer *x;
	char *url;
	int ready;
	jv body;

	url = dalle_api_url(c, DALLE_API_OPENAI, NULL, what);
	x = dalle_http_xfer_new(method, url);
	free(url);
	if (json != NULL)
		dalle_http_xfer_body(x, json);
	else if (form != NULL)
		dalle_http_xfer_form(x, form);
	x->headers = dalle_api_auth(c, DALLE_API_OPENAI, x->headers);
	dalle_http_start(h, x);
	while ((x = dalle_http_done(h)) == NULL)
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
	}
	dalle_http_xfer_free(x);
	return body;
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

jv
dalle_batch_create(struct dalle_http *h, const struct dalle_conf *c,
    const char *file_id, const char *endpoint, jv *err)
{
	struct dalle_buf b = { 0 };
	jv body, s, o;

	body = JV_OBJECT(jv_string("input_file_id"), jv_string(file_id),
	    jv_string("endpoint"), jv_string(endpoint),
	    jv_string("completion_window"), jv_string("24h"),
	    jv_string("metadata"), JV_OBJECT(jv_string(DALLE_BATCH_MARK),
	    jv_string(VERSION)));
	s = jv_dump_string(body, 0);
	dalle_buf_adds(&b, jv_string_value(s));
	jv_free(s);
	o = dalle_batch_call(h, c, "POST", "batches", &b, NULL, err);
	if (jv_is_valid(o) && dalle_record_str(o, "id") == NULL) {
		jv_free(o);
		*err = dalle_record_errorf("submit", DALLE_KIND_PROTOCOL,
		    "the new batch has no id");
		return jv_invalid();
	}
	return o;
}

/* Add the custom_ids of batch b's input file to *ids. */
static int
add_lines(struct dalle_http *h, const struct dalle_conf *c, jv b, jv *ids,
    jv *err)
{
	const char *fid = dalle_record_str(b, "input_file_id"), *cid;
	struct dalle_xfer *x;
	const char *p, *end, *nl;
	char *url, *what;
	int ready;
	jv line, v;

	if (fid == NULL)
		return 0;
	what = dalle_xasprintf("files/%s/content", fid);
	url = dalle_api_url(c, DALLE_API_OPENAI, NULL, what);
	free(what);
	x = dalle_http_xfer_new("GET", url);
	free(url);
	x->headers = dalle_api_auth(c, DALLE_API_OPENAI, x->headers);
	dalle_http_start(h, x);
	while ((x = dalle_http_done(h)) == NULL)
		if (dalle_http_wait(h, -1, 1000, &ready) == -1)
			return -1;
	if (x->result != CURLE_OK || x->status != 200) {
		*err = dalle_http_xfer_error(x, "submit");
		dalle_http_xfer_free(x);
		return -1;
	}
	p = x->resp.p;
	end = p ? p + x->resp.len : p;
	for (; p != NULL && p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		line = jv_parse_sized(p, (int)(nl - p));
		if (jv_get_kind(line) == JV_KIND_OBJECT &&
		    (cid = dalle_record_str(line, "custom_id")) != NULL) {
			v = JV_OBJECT(jv_string("batch"),
			    dalle_record_get(b, "id"), jv_string("status"),
			    dalle_record_get(b, "status"));
			*ids = jv_object_set(*ids, jv_string(cid), v);
		}
		jv_free(line);
	}
	dalle_http_xfer_free(x);
	return 0;
}

jv
dalle_batch_inflight(struct dalle_http *h, const struct dalle_conf *c,
    jv *err)
{
	static const char *const ended[] = { "failed", "expired",
	    "cancelling", "cancelled", NULL };
	const char *st, *last;
	char *what = dalle_xstrdup("batches?limit=100");
	jv ids = jv_object(), page, data, b, mark;
	int i, n, k, ours, more = 1;

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
			st = dalle_record_str(b, "status");
			for (k = 0; st && ended[k] && strcmp(st, ended[k]); k++)
				;
			mark = jv_getpath(jv_copy(b), JV_ARRAY(
			    jv_string("metadata"), jv_string(DALLE_BATCH_MARK)));
			ours = jv_get_kind(mark) == JV_KIND_STRING;
			jv_free(mark);
			if (st != NULL && ended[k] == NULL && ours &&
			    add_lines(h, c, b, &ids, err) == -1) {
				jv_free(b);
				jv_free(data);
				jv_free(page);
				jv_free(ids);
				return jv_invalid();
			}
			jv_free(b);
		}
		jv_free(data);
		last = dalle_record_str(page, "last_id");
		mark = jv_object_get(jv_copy(page), jv_string("has_more"));
		more = jv_get_kind(mark) == JV_KIND_TRUE && last != NULL;
		jv_free(mark);
		if (more)
			what = dalle_xasprintf("batches?limit=100&after=%s",
			    last);
		jv_free(page);
	}
	return ids;
}

jv
dalle_batch_index(const char *p, size_t n, int file, jv idx)
{
	struct dalle_big scratch = { 0 };
	const char *s = p, *end, *nl, *cid;
	jv line;

	if (p == NULL)          /* an empty file: NULL + 0 is undefined */
		return idx;
	for (end = p + n; s < end; s = nl + 1) {
		if ((nl = memchr(s, '\n', (size_t)(end - s))) == NULL)
			nl = end;
		line = dalle_big_parse(&scratch, s, (size_t)(nl - s));
		if (jv_get_kind(line) == JV_KIND_OBJECT &&
		    (cid = dalle_record_str(line, "custom_id")) != NULL)
			idx = jv_object_set(idx, jv_string(cid), JV_ARRAY(
			    jv_number(file), jv_number((double)(s - p)),
			    jv_number((double)(nl - s))));
		jv_free(line);
		dalle_big_free(&scratch);
		memset(&scratch, 0, sizeof(scratch));
	}
	return idx;
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
	struct dalle_xfer x;
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
	memset(&x, 0, sizeof(x));
	x.url = (char *)(uintptr_t)url;
	x.result = CURLE_OK;
	x.status = status;
	x.hint.retry_after_ms = -1;
	dalle_buf_adds(&x.resp, jv_string_value(s));
	jv_free(s);
	e = dalle_http_xfer_error(&x, "poll");
	/* A batch line is not retried by itself: it is a record's error. */
	e = jv_object_set(e, jv_string("retryable"), jv_false());
	dalle_buf_free(&x.resp);
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
	rec = dalle_batch_merge(rec, body, v);
	jv_free(body);
	jv_free(l);
	return rec;
}
