/*
 * reply.c: responses, sent now or after the request's latency, and the
 * service's error bodies.  Every error text is in the one table below, in
 * each of the three manners: OpenAI's four-field JSON, Azure's gateway
 * JSON, and the blob store's XML.
 */
#include <err.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "serve.h"

struct face {
	const char *code;         /* NULL: JSON null */
	const char *message;      /* a printf format; NULL: no such face */
	const char *type;         /* NULL: the two-field gateway body */
};

#define IRE "invalid_request_error"
#define BAD_JSON "We could not parse the JSON body of your request. " \
	"(HINT: This likely means you aren't using your HTTP library " \
	"correctly. The API expects a JSON payload, but what was sent " \
	"was not valid JSON.)"
#define NO_DEPLOYMENT "The API deployment for this resource does not " \
	"exist. If you created the deployment within the last 5 minutes, " \
	"please wait a moment and try again."
#define BAD_SIG "Server failed to authenticate the request. Make sure the " \
	"value of Authorization header is formed correctly including the " \
	"signature."
#define POLICY "Your request was rejected as a result of our safety " \
	"system. Your prompt may contain text that is not allowed by our " \
	"safety system."

/*
 * An empty OpenAI face falls back to the Azure one and the other way
 * round.  bare: the storage XML without a request id (an injected fault).
 */
static const struct {
	unsigned status;
	const char *param;
	struct face openai, azure, blob;
	int bare;
} errtab[E_N] = {
	[E_NOT_FOUND] = { 404, NULL,
	    { NULL, "Invalid URL (%s %.200s)", IRE },
	    { "404", "Resource not found", NULL },
	    { "ResourceNotFound", "The specified resource does not exist.",
	    NULL }, 0 },
	[E_NO_BLOB] = { 404, NULL, { 0 }, { 0 },
	    { "BlobNotFound", "The specified blob does not exist.", NULL },
	    0 },
	[E_SIGNATURE] = { 403, NULL, { 0 }, { 0 },
	    { "AuthenticationFailed", BAD_SIG, NULL }, 0 },
	[E_UNAUTHORIZED] = { 401, NULL,
	    { "invalid_api_key", "Incorrect API key provided. You can find "
	    "your API key at https://platform.openai.com/account/api-keys.",
	    IRE },
	    { "401", "Access denied due to invalid subscription key or wrong "
	    "API endpoint. Make sure to provide a valid key for an active "
	    "subscription and use a correct regional API endpoint for your "
	    "resource.", NULL }, { 0 }, 0 },
	[E_RATE] = { 429, NULL,
	    { "rate_limit_exceeded", "Rate limit reached for images (%s). "
	    "Please try again in %.3fs.", "requests" },
	    { "429", "Requests to the ImageGenerations_Create Operation under "
	    "Azure OpenAI API version %s have exceeded %s of your current "
	    "OpenAI S0 pricing tier. Please retry after %ld second%s. Please "
	    "go here: https://aka.ms/oai/quotaincrease if you would like to "
	    "further increase the default rate limit.", NULL }, { 0 }, 0 },
	[E_BUSY] = { 503, NULL,
	    { NULL, "The engine is currently overloaded, please try again "
	    "later.", "server_error" },
	    { "ServiceUnavailable", "The service is temporarily unable to "
	    "process your request. Please try again later.", NULL },
	    { "ServerBusy", "The server is currently unable to receive "
	    "requests. Please retry your request.", NULL }, 1 },
	[E_INTERNAL] = { 500, NULL,
	    { NULL, "The server had an error while processing your request. "
	    "Sorry about that!", "server_error" },
	    { "InternalServerError", "The server had an error while "
	    "processing your request. Sorry about that!", NULL },
	    { "InternalError", "The server encountered an internal error. "
	    "Please retry the request.", NULL }, 1 },
	[E_RENDER] = { 500, NULL, { 0 },
	    { "InternalServerError", "The image could not be rendered.",
	    NULL },
	    { "InternalError", "The image could not be rendered.", NULL },
	    0 },
	[E_BAD_JSON] = { 400, NULL, { NULL, BAD_JSON, IRE },
	    { "BadRequest", BAD_JSON, IRE }, { 0 }, 0 },
	[E_TOO_BIG] = { 413, NULL, { 0 },
	    { "RequestEntityTooLarge", "The request body is too large.",
	    NULL }, { 0 }, 0 },
	[E_NO_DEPLOYMENT] = { 404, NULL, { 0 },
	    { "DeploymentNotFound", NO_DEPLOYMENT, NULL }, { 0 }, 0 },
	[E_DALLE2_VERSION] = { 400, NULL, { 0 },
	    { "OperationNotSupported", "The imagesGenerations operation does "
	    "not work with the specified model, dall-e-2, in this API "
	    "version. Use api-version 2024-05-01-preview or later.", NULL },
	    { 0 }, 0 },
	[E_NO_MODEL_PARAM] = { 400, "model", { 0 },
	    { "missing_required_parameter", "Missing required parameter: "
	    "'model'.", IRE }, { 0 }, 0 },
	[E_NO_MODEL] = { 404, NULL,
	    { "model_not_found", "The model '%.200s' does not exist or you "
	    "do not have access to it.", IRE }, { 0 }, { 0 }, 0 },
	[E_WEBP] = { 400, "output_format",
	    { "invalid_value", "Invalid value: 'webp'. dalle-serve renders "
	    "only 'png' and 'jpeg'.", IRE },
	    { "invalid_value", "Invalid value: 'webp'. Supported values are: "
	    "'png' and 'jpeg'.", IRE }, { 0 }, 0 },
	[E_CONTENT_POLICY] = { 400, NULL,
	    { "content_policy_violation", POLICY, IRE },
	    { "content_policy_violation", POLICY, IRE }, { 0 }, 0 },
	[E_CONFLICT] = { 409, NULL, { 0 },
	    { "Conflict", "The operation cannot be deleted because it has "
	    "not ended yet (status notRunning or running).", NULL }, { 0 },
	    0 },
	[E_TASK_FILTERED] = { 200, NULL, { 0 },
	    { "contentFilter", "Your task failed as a result of our safety "
	    "system.", NULL }, { 0 }, 0 },
	[E_SHUT_DOWN] = { 404, "model",
	    { "model_not_found", "The model '%.200s' was shut down on %s and "
	    "is no longer available.%s", IRE }, { 0 }, { 0 }, 0 },
};

/* Error e as the request's route words it. */
static const struct face *
face_of(const struct req *rq, enum serve_err e)
{
	int openai = rq->route == R_OPENAI ||
	    (e == E_NOT_FOUND && strncmp(rq->path, "/v1/", 4) == 0);

	if (openai && errtab[e].openai.message != NULL)
		return &errtab[e].openai;
	if (errtab[e].azure.message != NULL)
		return &errtab[e].azure;
	return &errtab[e].openai;
}

/* The JSON error body of a face with its message; consumes nothing. */
static jv
error_body(const struct face *f, const char *message, const char *param)
{
	if (f->type == NULL)
		return JV_OBJECT(jv_string("error"), JV_OBJECT(
		    jv_string("code"), jv_string(f->code),
		    jv_string("message"), jv_string(message)));
	return JV_OBJECT(jv_string("error"), JV_OBJECT(
	    jv_string("code"), f->code ? jv_string(f->code) : jv_null(),
	    jv_string("message"), jv_string(message),
	    jv_string("param"), param ? jv_string(param) : jv_null(),
	    jv_string("type"), jv_string(f->type)));
}

jv
error_object(enum serve_err e)
{
	return JV_OBJECT(jv_string("code"), jv_string(errtab[e].azure.code),
	    jv_string("message"), jv_string(errtab[e].azure.message));
}

struct MHD_Response *
resp_bytes(const void *p, size_t n, const char *ctype)
{
	struct MHD_Response *r;

	r = MHD_create_response_from_buffer(n, (void *)(uintptr_t)p,
	    MHD_RESPMEM_MUST_COPY);
	if (r == NULL)
		errx(DALLE_EX_OSERR, "MHD_create_response_from_buffer");
	if (ctype != NULL)
		MHD_add_response_header(r, "Content-Type", ctype);
	return r;
}

/* A JSON answer's type and the route's request id headers. */
static void
json_headers(struct MHD_Response *r, struct req *rq)
{
	char id[37];

	MHD_add_response_header(r, "Content-Type", "application/json");
	uuid_new(id);
	if (rq->route == R_OPENAI) {
		MHD_add_response_header(r, "x-request-id", id);
		MHD_add_response_header(r, "openai-version", "2020-10-01");
	} else {
		MHD_add_response_header(r, "apim-request-id", id);
		MHD_add_response_header(r, "x-request-id", id);
		MHD_add_response_header(r, "x-ms-region", "Local Twin");
	}
}

struct MHD_Response *
resp_json(jv body, struct req *rq)
{
	struct MHD_Response *r;
	jv s;

	s = jv_dump_string(body, 0);
	rq->resp_bytes = (uint64_t)jv_string_length_bytes(jv_copy(s));
	r = resp_bytes(jv_string_value(s), (size_t)rq->resp_bytes, NULL);
	jv_free(s);
	json_headers(r, rq);
	return r;
}

enum MHD_Result
reply_images(struct req *rq, jv body, struct cent *const *img, int n)
{
	return reply_b64(rq, body, "b64_json", img, n);
}

enum MHD_Result
reply_b64(struct req *rq, jv body, const char *name, struct cent *const *img,
    int n)
{
	struct MHD_Response *r;
	char key[64];
	const char *t, *at;
	char *out, *o;
	size_t len, k;
	int i;
	jv s;

	/* Megabytes of base64 through a jv string would be copied,
	 * checked as UTF-8 and escaped: they go in here instead.  Only a
	 * key is followed by '":', so each match is one of ours. */
	snprintf(key, sizeof(key), "\"%s\":\"", name);
	s = jv_dump_string(body, 0);
	t = jv_string_value(s);
	len = strlen(t);
	for (i = 0; i < n; i++)
		len += (img[i]->len + 2) / 3 * 4;
	o = out = dalle_xmalloc(len + 1);
	for (i = 0; i < n; i++) {
		if ((at = strstr(t, key)) == NULL)
			errx(DALLE_EX_SOFTWARE, "reply_b64: no %s", name);
		k = (size_t)(at - t) + strlen(key);
		memcpy(o, t, k);
		o += k;
		t += k;
		o += EVP_EncodeBlock((unsigned char *)o, img[i]->data,
		    (int)img[i]->len);
	}
	memcpy(o, t, strlen(t) + 1);
	jv_free(s);
	rq->resp_bytes = len;
	if (rq->cap != NULL) {
		dalle_buf_add(rq->cap, out, len);
		free(out);
		rq->cap_status = 200;
		return MHD_YES;
	}
	r = MHD_create_response_from_buffer(len, out, MHD_RESPMEM_MUST_FREE);
	if (r == NULL)
		errx(DALLE_EX_OSERR, "MHD_create_response_from_buffer");
	json_headers(r, rq);
	return reply(rq, 200, r);
}

void
slot_release(struct req *rq)
{
	if (rq->holds_slot) {
		rq->holds_slot = 0;
		stats_long(&st.sync_inflight, -1);
	}
}

/* With the connection suspended, no thread waits out the latency. */
enum MHD_Result
reply(struct req *rq, unsigned status, struct MHD_Response *r)
{
	enum MHD_Result ret;
	int64_t due;
	char buf[32];

	if (rq->delay_ms > 0) {
		/* Set before the timer can resume it on another thread. */
		rq->stash = r;
		rq->stash_status = status;
		rq->waiting = 1;
		due = dalle_now_ms() + rq->delay_ms;
		rq->delay_ms = 0;
		if (timer_sleep(rq->conn, due) == 0)
			return MHD_YES;
		/* Shutting down: answer now. */
		rq->stash = NULL;
		rq->waiting = 0;
	}
	slot_release(rq);
	hostile_retype(rq, r);
	if (rq->rl_remaining >= 0 && status != 429) {
		snprintf(buf, sizeof(buf), "%ld", rq->rl_remaining);
		MHD_add_response_header(r, "x-ratelimit-remaining-requests",
		    buf);
	}
	rq->status = status;
	ret = MHD_queue_response(rq->conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

enum MHD_Result
reply_json(struct req *rq, unsigned status, jv body)
{
	struct MHD_Response *r;
	jv code;

	if (rq->cap != NULL) {
		code = jv_dump_string(body, 0);
		dalle_buf_adds(rq->cap, jv_string_value(code));
		jv_free(code);
		rq->cap_status = status;
		return MHD_YES;
	}
	if (status >= 400 && echo_key_on())
		return echo_reply(rq, status, body);
	code = jv_getpath(jv_copy(body), JV_ARRAY(jv_string("error"),
	    jv_string("code")));
	r = resp_json(body, rq);
	if (status >= 400 && rq->route != R_OPENAI &&
	    jv_get_kind(code) == JV_KIND_STRING)
		MHD_add_response_header(r, "x-ms-error-code",
		    jv_string_value(code));
	jv_free(code);
	return reply(rq, status, r);
}

enum MHD_Result
reply_error(struct req *rq, enum serve_err e, ...)
{
	const struct face *f = face_of(rq, e);
	char msg[512];
	va_list ap;

	va_start(ap, e);
	vsnprintf(msg, sizeof(msg), f->message, ap);
	va_end(ap);
	return reply_json(rq, errtab[e].status, error_body(f, msg,
	    errtab[e].param));
}

/* s with XML's special characters escaped, malloc'd. */
static char *
xml_escape(const char *s)
{
	struct dalle_buf b = { NULL, 0, 0 };

	dalle_buf_adds(&b, "");
	for (; *s != '\0'; s++)
		switch (*s) {
		case '&':
			dalle_buf_adds(&b, "&amp;");
			break;
		case '<':
			dalle_buf_adds(&b, "&lt;");
			break;
		case '>':
			dalle_buf_adds(&b, "&gt;");
			break;
		default:
			dalle_buf_add(&b, s, 1);
		}
	return b.p;
}

enum MHD_Result
reply_blob_error(struct req *rq, enum serve_err e, const char *detail)
{
	const struct face *f = &errtab[e].blob;
	struct MHD_Response *r;
	char *x, *d, id[37], when[40];

	if (errtab[e].bare)
		x = dalle_xasprintf("<?xml version=\"1.0\" encoding=\"utf-8\"?>"
		    "<Error><Code>%s</Code><Message>%s</Message></Error>",
		    f->code, f->message);
	else {
		uuid_new(id);
		iso_time(dalle_time(), when, sizeof(when));
		/* The detail may quote the request (se, the path). */
		d = xml_escape(detail ? detail : "");
		x = dalle_xasprintf("<?xml version=\"1.0\" encoding=\"utf-8\"?>"
		    "<Error><Code>%s</Code><Message>%s\nRequestId:%s\nTime:%s"
		    "</Message>%s%s%s</Error>", f->code, f->message, id, when,
		    detail ? "<AuthenticationErrorDetail>" : "", d,
		    detail ? "</AuthenticationErrorDetail>" : "");
		free(d);
	}
	rq->resp_bytes = strlen(x);
	r = resp_bytes(x, strlen(x), "application/xml");
	free(x);
	if (!errtab[e].bare)
		MHD_add_response_header(r, "x-ms-error-code", f->code);
	return reply(rq, errtab[e].status, r);
}

enum MHD_Result
reply_invalid(struct req *rq, const struct dalle_model_err *e)
{
	struct face f = { e->code, NULL, IRE };

	return reply_json(rq, 400, error_body(&f, e->message, e->param));
}

void
reply_retry_after(struct MHD_Response *r, int64_t ms)
{
	char buf[32];
	long s;

	if (ms < 0)
		ms = 0;
	s = (long)((ms + 999) / 1000);
	snprintf(buf, sizeof(buf), "%ld", s < 1 ? 1 : s);
	MHD_add_response_header(r, "Retry-After", buf);
	snprintf(buf, sizeof(buf), "%lld", (long long)ms);
	MHD_add_response_header(r, "retry-after-ms", buf);
}

enum MHD_Result
reply_too_many(struct req *rq, int64_t wait_ms, const char *version,
    const char *what)
{
	const struct face *f = face_of(rq, E_RATE);
	struct MHD_Response *r;
	char msg[512];
	long s;

	stats_add(&st.rate_limited, 1);
	s = (long)((wait_ms + 999) / 1000);
	if (s < 1)
		s = 1;
	if (rq->route == R_OPENAI)
		snprintf(msg, sizeof(msg), f->message, what,
		    wait_ms / 1000.0);
	else
		snprintf(msg, sizeof(msg), f->message, version ? version :
		    "v1", what, s, s == 1 ? "" : "s");
	r = resp_json(error_body(f, msg, NULL), rq);
	if (rq->route != R_OPENAI)
		MHD_add_response_header(r, "x-ms-error-code", f->code);
	reply_retry_after(r, wait_ms);
	MHD_add_response_header(r, "x-ratelimit-remaining-requests", "0");
	return reply(rq, 429, r);
}

enum MHD_Result
reply_content_policy(struct req *rq)
{
	const struct face *f = face_of(rq, E_CONTENT_POLICY);

	stats_add(&st.filtered, 1);
	if (rq->route == R_OPENAI)
		return reply_error(rq, E_CONTENT_POLICY);
	return reply_json(rq, 400, JV_OBJECT(jv_string("error"), JV_OBJECT(
	    jv_string("code"), jv_string(f->code),
	    jv_string("inner_error"), JV_OBJECT(
	    jv_string("code"), jv_string("ResponsibleAIPolicyViolation"),
	    jv_string("content_filter_results"), JV_OBJECT(
	    jv_string("jailbreak"), JV_OBJECT(
	    jv_string("detected"), jv_false(),
	    jv_string("filtered"), jv_false()))),
	    jv_string("message"), jv_string(f->message),
	    jv_string("type"), jv_string(f->type))));
}

int
reply_parse_body(struct req *rq, jv *body, enum MHD_Result *ret)
{
	jv v;

	v = jv_parse_sized(rq->body.p ? rq->body.p : "", (int)rq->body.len);
	if (jv_get_kind(v) == JV_KIND_OBJECT) {
		*body = v;
		return 0;
	}
	jv_free(v);
	*ret = reply_error(rq, E_BAD_JSON);
	return 1;
}

void
iso_time(int64_t t, char *buf, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
