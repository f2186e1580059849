/*
 * echo.c: --echo-key, error answers that echo the request's credential
 * (its api-key header or Bearer token), as a careless gateway or a
 * debugging proxy might.  A client must keep what it is sent back out of
 * its records, its messages and its -v trace: the tests of that use this.
 */
#include <err.h>
#include <string.h>
#include <strings.h>

#include "serve.h"

#define PLACE "@@dalle-serve-echo@@"

static int echo_mode;

void
echo_key_set(const char *s)
{
	if (strcmp(s, "body") == 0)
		echo_mode = ECHO_BODY;
	else if (strcmp(s, "escaped") == 0)
		echo_mode = ECHO_ESCAPED;
	else if (strcmp(s, "header") == 0)
		echo_mode = ECHO_HEADER;
	else
		errx(DALLE_EX_USAGE, "--echo-key %s: want body, escaped or "
		    "header", s);
}

/* The credential the request came with, or NULL. */
static const char *
credential(struct req *rq)
{
	const char *k;

	if ((k = header(rq, "api-key")) != NULL && *k != '\0')
		return k;
	if ((k = header(rq, "Authorization")) != NULL &&
	    strncasecmp(k, "Bearer ", 7) == 0 && k[7] != '\0')
		return k + 7;
	return NULL;
}

/* k as JSON string text: every character \u-escaped in ECHO_ESCAPED,
 * else only what JSON requires. */
static void
put_key(struct dalle_buf *b, const char *k)
{
	char u[8];

	for (; *k; k++) {
		if (echo_mode == ECHO_ESCAPED || *k == '"' || *k == '\\' ||
		    (unsigned char)*k < 0x20) {
			snprintf(u, sizeof(u), "\\u%04x", (unsigned char)*k);
			dalle_buf_adds(b, u);
		} else
			dalle_buf_add(b, k, 1);
	}
}

enum MHD_Result
echo_reply(struct req *rq, unsigned status, jv body)
{
	struct dalle_buf b = { 0 };
	struct MHD_Response *r;
	const char *k = credential(rq), *t, *at;
	jv e, s;

	if (k == NULL || echo_mode == ECHO_HEADER) {
		r = resp_json(body, rq);
		if (k != NULL)
			MHD_add_response_header(r, "x-echo-key", k);
		return reply(rq, status, r);
	}
	e = jv_object_get(jv_copy(body), jv_string("error"));
	if (jv_get_kind(e) == JV_KIND_OBJECT) {
		jv m = jv_object_get(jv_copy(e), jv_string("message")), was;

		if (jv_get_kind(m) == JV_KIND_STRING) {
			was = m;
			m = jv_string_fmt("%s (the key was " PLACE ")",
			    jv_string_value(was));
			jv_free(was);
		} else {
			jv_free(m);
			m = jv_string("the key was " PLACE);
		}
		e = jv_object_set(e, jv_string("message"), m);
		e = jv_object_set(e, jv_string("inner_error"), JV_OBJECT(
		    jv_string("code"), jv_string("EchoedKey"),
		    jv_string("key"), jv_string(PLACE)));
		body = jv_object_set(body, jv_string("error"), e);
	} else
		jv_free(e);
	s = jv_dump_string(body, 0);
	for (t = jv_string_value(s); (at = strstr(t, PLACE)) != NULL;
	    t = at + strlen(PLACE)) {
		dalle_buf_add(&b, t, (size_t)(at - t));
		put_key(&b, k);
	}
	dalle_buf_adds(&b, t);
	jv_free(s);
	rq->resp_bytes = b.len;
	r = resp_bytes(b.p, b.len, "application/json");
	dalle_buf_free(&b);
	return reply(rq, status, r);
}

int
echo_key_on(void)
{
	return echo_mode != 0;
}
