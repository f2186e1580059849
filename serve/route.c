/*
 * route.c: a request from its first byte to its end: which route it takes,
 * its credentials, its body, and its line in the --log request log.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "serve.h"

const char *const route_names[R_N] = {
	"submit", "operation_get", "operation_delete", "azure_generate",
	"azure_v1_generate", "openai_generate", "image", "stats", "models",
	"other"
};

const char *
header(struct req *rq, const char *name)
{
	if (rq->conn == NULL)             /* a batch line */
		return NULL;
	return MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, name);
}

const char *
query(struct req *rq, const char *name)
{
	if (rq->conn == NULL)
		return NULL;
	return MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND,
	    name);
}

char *
base_url(struct req *rq)
{
	const char *host;

	/* Where clients should come back: --public-url, the Host, or ours. */
	if (opt.public_url != NULL)
		return dalle_xstrdup(opt.public_url);
	host = header(rq, "Host");
	if (host != NULL && *host != '\0' && strlen(host) < 256 &&
	    strpbrk(host, "/ \t\\?#@") == NULL)
		return dalle_xasprintf("http://%s/", host);
	return dalle_xstrdup(listen_base);
}

/* Equal strings, compared in a time that does not depend on where they
 * differ. */
int
ct_equal(const char *a, const char *b)
{
	size_t n = strlen(a);

	return n == strlen(b) && CRYPTO_memcmp(a, b, n) == 0;
}

static int
in_list(const struct strlist *l, const char *s)
{
	size_t i;
	int hit = 0;

	for (i = 0; i < l->n; i++)
		hit |= ct_equal(l->v[i], s);
	return hit;
}

/*
 * Credentials: Azure routes take api-key or Bearer, OpenAI only Bearer.
 * With none configured any non-empty one passes.
 */
static int
auth_ok(struct req *rq)
{
	const char *k, *a, *tok = NULL;
	int any = opt.keys.n == 0 && opt.tokens.n == 0;

	a = header(rq, "Authorization");
	if (a != NULL && strncasecmp(a, "Bearer ", 7) == 0) {
		for (tok = a + 7; *tok == ' '; tok++)
			;
		if (*tok == '\0')
			tok = NULL;
	}
	if (rq->route == R_OPENAI || rq->route == R_MODELS) {
		if (tok == NULL)
			return 0;
		return any || in_list(&opt.keys, tok) ||
		    in_list(&opt.tokens, tok);
	}
	k = header(rq, "api-key");
	if (k != NULL && *k != '\0')
		return any || in_list(&opt.keys, k);
	if (tok != NULL)
		return any || in_list(&opt.tokens, tok);
	return 0;
}

int
auth_refused(struct req *rq, enum MHD_Result *ret)
{
	if (auth_ok(rq))
		return 0;
	stats_add(&st.auth_failed, 1);
	*ret = reply_error(rq, E_UNAUTHORIZED);
	return 1;
}

static enum MHD_Result
collect(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
	jv *o = cls;
	const char *v = value ? value : "";
	char name[128];
	size_t i;

	/* Secrets never reach the log. */
	if (strcasecmp(key, "api-key") == 0 ||
	    strcasecmp(key, "ocp-apim-subscription-key") == 0)
		v = "***";
	else if (strcasecmp(key, "authorization") == 0)
		v = strncasecmp(v, "Bearer ", 7) == 0 ? "Bearer ***" : "***";
	if (kind == MHD_HEADER_KIND) {
		/* Header names in lower case: HTTP ignores case. */
		for (i = 0; key[i] != '\0' && i + 1 < sizeof(name); i++)
			name[i] = (char)tolower((unsigned char)key[i]);
		name[i] = '\0';
		key = name;
	}
	*o = jv_object_set(*o, jv_string(key), jv_string(v));
	return MHD_YES;
}

static enum route
classify(const char *method, const char *url)
{
	int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	int post = strcmp(method, "POST") == 0;
	size_t n;

	if (strcmp(url, "/_serve/stats") == 0 && get)
		return R_STATS;
	if (strcmp(url, "/openai/images/generations:submit") == 0 && post)
		return R_SUBMIT;
	if (strncmp(url, "/openai/operations/images/", 26) == 0 &&
	    url[26] != '\0' && strchr(url + 26, '/') == NULL) {
		if (get)
			return R_OP_GET;
		if (strcmp(method, "DELETE") == 0)
			return R_OP_DELETE;
	}
	if (strncmp(url, "/openai/deployments/", 20) == 0 && post) {
		n = strcspn(url + 20, "/");
		if (n > 0 && strcmp(url + 20 + n, "/images/generations") == 0)
			return R_AZURE;
	}
	if (strcmp(url, "/openai/v1/images/generations") == 0 && post)
		return R_AZURE_V1;
	if (strcmp(url, "/v1/images/generations") == 0 && post)
		return R_OPENAI;
	if (strncmp(url, "/private/images/", 16) == 0 && get)
		return R_IMAGE;
	if ((strcmp(url, "/v1/models") == 0 || (strncmp(url, "/v1/models/",
	    11) == 0 && url[11] != '\0')) && get)
		return R_MODELS;
	return R_OTHER;
}

static enum MHD_Result
dispatch(struct req *rq)
{
	enum MHD_Result ret;
	char dep[256];
	size_t n;

	if (hostile(rq, &ret))
		return ret;
	if (rq->responses)
		return resp_reply(rq);
	if (rq->rname != NULL)
		return batch_reply(rq);
	switch (rq->route) {
	case R_STATS:
		return stats_reply(rq);
	case R_SUBMIT:
		return op_submit(rq);
	case R_OP_GET:
	case R_OP_DELETE:
		return op_reply(rq, rq->path + 26);
	case R_AZURE:
		n = strcspn(rq->path + 20, "/");
		snprintf(dep, sizeof(dep), "%.*s", (int)n, rq->path + 20);
		if (rq->edit)
			return edit_reply(rq, dep, FL_AZURE);
		return generate_reply(rq, dep, FL_AZURE);
	case R_AZURE_V1:
		if (rq->edit)
			return edit_reply(rq, NULL, FL_AZURE_V1);
		return generate_reply(rq, NULL, FL_AZURE_V1);
	case R_OPENAI:
		if (rq->edit)
			return edit_reply(rq, NULL, FL_OPENAI);
		return generate_reply(rq, NULL, FL_OPENAI);
	case R_IMAGE:
		return blob_reply(rq, rq->path + 16);
	case R_MODELS:
		return models_reply(rq, rq->path[10] == '/' ?
		    rq->path + 11 : NULL);
	default:
		return reply_error(rq, E_NOT_FOUND, rq->method, rq->path);
	}
}

static struct req *
req_new(struct MHD_Connection *conn, const char *url, const char *method)
{
	struct req *rq;
	jv h, q;

	rq = dalle_xcalloc(1, sizeof(*rq));
	rq->conn = conn;
	rq->start_ms = dalle_now_ms();
	snprintf(rq->method, sizeof(rq->method), "%s", method);
	rq->path = dalle_xstrdup(url);
	rq->route = classify(method, url);
	if (rq->route == R_OTHER && edit_route(method, url) != R_OTHER) {
		rq->route = edit_route(method, url);
		rq->edit = 1;
	}
	if (rq->route == R_OTHER && resp_route(method, url) != R_OTHER) {
		rq->route = resp_route(method, url);
		rq->responses = 1;
	}
	if (rq->route == R_OTHER &&
	    (rq->rname = batch_route(method, url)) != NULL) {
		rq->route = R_OPENAI;
		rq->upload = strcmp(url, "/v1/files") == 0;
	}
	rq->logrec = jv_invalid();
	rq->rl_remaining = -1;
	if (opt.log != NULL) {
		h = jv_object();
		q = jv_object();
		MHD_get_connection_values(conn, MHD_HEADER_KIND, collect, &h);
		MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND,
		    collect, &q);
		rq->logrec = JV_OBJECT(jv_string("headers"), h,
		    jv_string("query"), q);
	}
	pthread_mutex_lock(&stats_mu);
	st.requests++;
	st.by_route[rq->route]++;
	st.active++;
	pthread_mutex_unlock(&stats_mu);
	return rq;
}

enum MHD_Result
route_request(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_size, void **con_cls)
{
	struct req *rq = *con_cls;
	struct MHD_Response *r;

	(void)cls;
	(void)version;
	if (rq == NULL) {
		*con_cls = req_new(conn, url, method);
		return MHD_YES;
	}
	if (*upload_size > 0 && (rq->edit || rq->upload)) {
		if (!rq->too_big && edit_upload(rq, upload, *upload_size) == -1)
			rq->too_big = 1;
		*upload_size = 0;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		if (rq->body.len + *upload_size > MAX_BODY)
			rq->too_big = 1;
		else
			dalle_buf_add(&rq->body, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	if (rq->waiting) {
		/* Resumed by the timer: send what was prepared. */
		rq->waiting = 0;
		r = rq->stash;
		rq->stash = NULL;
		return reply(rq, rq->stash_status, r);
	}
	if (rq->too_big)
		return reply_error(rq, E_TOO_BIG);
	return dispatch(rq);
}

/* The request's line in the --log file: one JSON object. */
static void
log_request(struct req *rq)
{
	jv rec, b;
	char when[40];
	int64_t now;

	now = dalle_wall_ms();
	iso_time(now / 1000, when, sizeof(when));
	when[19] = '\0';
	rec = JV_OBJECT(jv_string("time"), jv_string_fmt("%s.%03dZ", when,
	    (int)(now % 1000)),
	    jv_string("method"), jv_string(rq->method),
	    jv_string("path"), jv_string(rq->path));
	rec = jv_object_set(rec, jv_string("query"),
	    jv_object_get(jv_copy(rq->logrec), jv_string("query")));
	rec = jv_object_set(rec, jv_string("route"), jv_string(rq->rname ?
	    rq->rname : rq->edit ? edit_route_name(rq->route) :
	    rq->responses ? "responses" : route_names[rq->route]));
	rec = jv_object_set(rec, jv_string("status"), jv_number(rq->status));
	rec = jv_object_set(rec, jv_string("headers"),
	    jv_object_get(jv_copy(rq->logrec), jv_string("headers")));
	rec = jv_object_set(rec, jv_string("body_bytes"),
	    jv_number((double)rq->body.len));
	if (rq->edit)
		rec = edit_log(rq, rec);
	else if (rq->body.len > 0 && rq->body.len <= 65536) {
		b = jv_parse_sized(rq->body.p, (int)rq->body.len);
		if (jv_is_valid(b))
			rec = jv_object_set(rec, jv_string("body"), b);
		else
			jv_free(b);
	}
	rec = jv_object_set(rec, jv_string("response_bytes"),
	    jv_number((double)rq->resp_bytes));
	rec = jv_object_set(rec, jv_string("ms"),
	    jv_number((double)(dalle_now_ms() - rq->start_ms)));
	if (rq->streamed)
		rec = jv_object_set(rec, jv_string("events"),
		    jv_number((double)rq->events));
	if (rq->fault != NULL)
		rec = jv_object_set(rec, jv_string("fault"),
		    jv_string(rq->fault));
	b = jv_dump_string(rec, 0);
	flockfile(opt.log);
	fputs(jv_string_value(b), opt.log);
	putc('\n', opt.log);
	fflush(opt.log);
	funlockfile(opt.log);
	jv_free(b);
}

void
route_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct req *rq = *con_cls;

	(void)cls;
	(void)conn;
	if (rq == NULL)
		return;
	if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && rq->fault == NULL &&
	    rq->status == 0)
		rq->fault = "aborted";
	pthread_mutex_lock(&stats_mu);
	st.active--;
	if (rq->status > 0 && rq->status < 600)
		st.by_status[rq->status]++;
	pthread_mutex_unlock(&stats_mu);
	slot_release(rq);
	if (rq->stash != NULL)
		MHD_destroy_response(rq->stash);
	if (opt.log != NULL && jv_is_valid(rq->logrec))
		log_request(rq);
	jv_free(rq->logrec);
	edit_free(rq);
	dalle_buf_free(&rq->body);
	free(rq->path);
	free(rq);
	*con_cls = NULL;
}

void
route_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
    enum MHD_ConnectionNotificationCode toe)
{
	(void)cls;
	(void)conn;
	(void)socket_ctx;
	stats_long(&st.connections, toe == MHD_CONNECTION_NOTIFY_STARTED ?
	    1 : -1);
}
