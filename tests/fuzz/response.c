/*
 * response.c: a service's answer as the filters read it: the first byte
 * picks the HTTP status, the rest is the body.  The error record of an
 * answer (lib/http.c dalle_http_xfer_error: kind, code, message), the body
 * parsed with its images lifted (lib/big.c) and read as dalle-submit and
 * dalle-poll read it: an operation of the Responses API, a finished
 * response (lib/responses.c), a synchronous result merged into a record
 * (lib/batch.c, lib/record.c) and written (lib/json.c) as valid JSON.
 */
#include "fuzz.h"
#include <jv.h>
#include "dalle.h"

static const long statuses[] = {
	200, 202, 400, 401, 403, 404, 408, 409, 429, 500, 503, 201, 302, 0
};
static const char *const kinds[] = {
	DALLE_KIND_CONTENT_FILTER, DALLE_KIND_AUTH, DALLE_KIND_NOT_FOUND,
	DALLE_KIND_INVALID, DALLE_KIND_RATE, DALLE_KIND_SERVER,
	DALLE_KIND_PROTOCOL, DALLE_KIND_NETWORK
};
#define URL "https://r.openai.azure.com/openai/v1/responses?api-version=v1"

/* e (consumed) is an error object of a kind in kinds. */
static void
check_error(jv e)
{
	const char *k = dalle_record_str(e, "kind");
	size_t i;

	CHECK(jv_get_kind(e) == JV_KIND_OBJECT);
	CHECK(k != NULL);
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(k, kinds[i]) == 0)
			break;
	CHECK(i < sizeof(kinds) / sizeof(kinds[0]) ||
	    strcmp(k, DALLE_KIND_FAILED) == 0 ||
	    strcmp(k, DALLE_KIND_CANCELLED) == 0);
	CHECK(dalle_record_str(e, "message") != NULL);
	jv_free(e);
}

/* rec (consumed), with big's strings, writes as JSON jq reads back. */
static void
check_written(jv rec, const struct dalle_big *big)
{
	struct dalle_buf b = { 0 };
	jv v;

	dalle_json_put_big(&b, rec, big);
	v = jv_parse_sized(b.p, (int)b.len);
	CHECK(jv_is_valid(v));
	jv_free(v);
	jv_free(rec);
	dalle_buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dalle_big big = { 0 };
	struct dalle_xfer *x;
	const char *st;
	char *body, *msg;
	size_t n;
	jv v, rec, e, d;

	if (size < 1)
		return 0;
	x = dalle_http_xfer_new("POST", URL);
	x->status = statuses[data[0] % (sizeof(statuses) /
	    sizeof(statuses[0]))];
	x->result = x->status ? CURLE_OK : CURLE_RECV_ERROR;
	body = fuzz_big(data + 1, size - 1, &n);
	dalle_buf_add(&x->resp, body, n);
	x->attempts = 1;

	e = dalle_http_xfer_error(x, "submit");
	if (x->status >= 200 && x->status < 300)
		CHECK(strcmp(dalle_record_str(e, "kind"),
		    DALLE_KIND_PROTOCOL) == 0);
	check_error(e);
	msg = dalle_http_xfer_strerror(x);
	CHECK(x->status == 0 || strncmp(msg, "HTTP ", 5) == 0);
	free(msg);

	v = dalle_big_parse(&big, body, n);
	if (jv_get_kind(v) == JV_KIND_OBJECT) {
		if ((st = dalle_record_str(v, "object")) != NULL &&
		    strcmp(st, "response") == 0) {
			e = dalle_responses_operation(v, URL);
			if (jv_is_valid(e))
				CHECK(dalle_record_str(e, "url") != NULL);
			jv_free(e);
		}
		if ((st = dalle_record_str(v, "status")) != NULL) {
			(void)dalle_responses_final(st);
			rec = dalle_responses_record(jv_object(), v, 1, &e);
			if (jv_is_valid(e))
				check_error(e);
			else {
				jv_free(e);
				CHECK(strcmp(dalle_record_str(rec, "status"),
				    "succeeded") == 0);
				d = dalle_record_get(rec, "data");
				CHECK(jv_get_kind(d) == JV_KIND_ARRAY);
				jv_free(d);
			}
			check_written(rec, &big);
		}
		rec = dalle_batch_merge(JV_OBJECT(jv_string("prompt"),
		    jv_string("a cat")), v, dalle_record_get(v, "data"));
		check_written(rec, &big);
		rec = dalle_record_made(jv_object(), v);
		check_written(rec, &big);
	}
	jv_free(v);
	dalle_big_free(&big);
	dalle_http_xfer_free(x);
	free(body);
	return 0;
}
