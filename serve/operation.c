/*
 * operation.c: the DALL-E 2 async API.  A submit answers 202 with an
 * operation that is queued for the first quarter of its latency, runs for
 * the rest, then succeeds (or fails on a blocked term); it can be polled
 * and, once ended, deleted.
 */
#include <stdlib.h>
#include <string.h>

#include "serve.h"

#define OP_BUCKETS 65536
#define MAX_OPS 1000000

enum opstate { OP_NOTRUNNING, OP_RUNNING, OP_SUCCEEDED, OP_FAILED };
const char *const opstate_names[4] = {
	"notRunning", "running", "succeeded", "failed"
};

struct op {
	struct link l;
	char id[37];
	char blob[37];
	int64_t created;          /* epoch seconds */
	int64_t t_run, t_done;    /* monotonic ms */
	int n, filtered, deleted;
	int64_t url_expires;
};

static struct bucket op_b[OP_BUCKETS];
static struct {
	pthread_mutex_t mu;
	struct keyed t;
	struct dalle_heap active; /* t_done of unfinished operations */
} ops = { PTHREAD_MUTEX_INITIALIZER, KEYED_INIT(op_b, ops.t),
	DALLE_HEAP_INIT };

static enum opstate
op_state(const struct op *o, int64_t now)
{
	if (now >= o->t_done)
		return o->filtered ? OP_FAILED : OP_SUCCEEDED;
	return now >= o->t_run ? OP_RUNNING : OP_NOTRUNNING;
}

/* Forget finished operations in the active heap.  Called locked. */
static void
active_expire(int64_t now)
{
	const struct dalle_heap_item *top;

	while ((top = dalle_heap_top(&ops.active)) != NULL && top->key <= now)
		dalle_heap_pop(&ops.active, NULL);
}

long
op_active(int64_t now, int64_t *next)
{
	const struct dalle_heap_item *top;
	long n;

	pthread_mutex_lock(&ops.mu);
	active_expire(now);
	n = (long)ops.active.n;
	top = dalle_heap_top(&ops.active);
	if (next != NULL)
		*next = top != NULL ? top->key - now : -1;
	pthread_mutex_unlock(&ops.mu);
	return n;
}

static int
op_live(const struct op *o, int64_t now_s)
{
	return !o->deleted && o->created + OP_LIFETIME > now_s;
}

size_t
op_count(int64_t now, uint64_t nst[4])
{
	struct link *l;
	int64_t now_s = dalle_time();
	size_t n = 0;

	memset(nst, 0, 4 * sizeof(*nst));
	pthread_mutex_lock(&ops.mu);
	STAILQ_FOREACH(l, &ops.t.fifo, flink)
		if (op_live((struct op *)l, now_s)) {
			nst[op_state((struct op *)l, now)]++;
			n++;
		}
	pthread_mutex_unlock(&ops.mu);
	return n;
}

/* Drop expired or deleted operations from the front.  Called locked. */
static void
ops_trim(int64_t now_s)
{
	struct op *o;

	while ((o = (struct op *)STAILQ_FIRST(&ops.t.fifo)) != NULL &&
	    (ops.t.n > MAX_OPS || !op_live(o, now_s)))
		free(keyed_pop(&ops.t));
}

static void
op_add(struct op *o)
{
	pthread_mutex_lock(&ops.mu);
	keyed_add(&ops.t, &o->l, o->id);
	if (o->t_done > dalle_now_ms())
		dalle_heap_push(&ops.active, o->t_done, NULL);
	ops_trim(dalle_time());
	pthread_mutex_unlock(&ops.mu);
}

/* The live operation with this id, or NULL.  Called locked. */
static struct op *
op_get(const char *id)
{
	struct op *o = (struct op *)keyed_find(&ops.t, id);

	/* Ids are random: one entry a key, live or not. */
	return o != NULL && op_live(o, dalle_time()) ? o : NULL;
}

/* Copy of an operation into *out; 0, or -1 when unknown or gone. */
static int
op_find(const char *id, struct op *out)
{
	struct op *o;
	int rc = -1;

	pthread_mutex_lock(&ops.mu);
	if ((o = op_get(id)) != NULL) {
		*out = *o;
		rc = 0;
	}
	pthread_mutex_unlock(&ops.mu);
	return rc;
}

/*
 * Delete an ended operation: 0, with the id of its images copied to blob;
 * -1 unknown; 1 still running.
 */
static int
op_delete(const char *id, char blob[37])
{
	struct op *o;
	int rc = -1;

	pthread_mutex_lock(&ops.mu);
	if ((o = op_get(id)) != NULL) {
		if (op_state(o, dalle_now_ms()) < OP_SUCCEEDED)
			rc = 1;
		else {
			o->deleted = 1;
			memcpy(blob, o->blob, sizeof(o->blob));
			rc = 0;
		}
	}
	pthread_mutex_unlock(&ops.mu);
	return rc;
}

/* A new operation for a checked body; borrows body. */
static struct op *
op_new(jv body, const struct dalle_model *m, int64_t now)
{
	struct op *o;
	const char *prompt;
	int64_t lat;
	long n;
	int w, h;

	o = dalle_xcalloc(1, sizeof(*o));
	uuid_new(o->id);
	uuid_new(o->blob);
	prompt = str_or(body, "prompt", "");
	size_parse(str_or(body, "size", m->default_size), &w, &h);
	o->n = dalle_record_long(body, "n", &n) == 0 ? (int)n : 1;
	o->filtered = blocked_term(prompt) != NULL;
	o->created = dalle_time();
	o->url_expires = o->created + opt.url_ttl;
	lat = latency_ms();
	/* Queued for the first quarter of the latency, then running. */
	o->t_run = now + lat / 4;
	o->t_done = now + lat;
	if (!o->filtered)
		blob_add(o->blob, prompt, w, h, o->n, 0);
	else
		stats_add(&st.filtered, 1);
	return o;
}

enum MHD_Result
op_submit(struct req *rq)
{
	const char *version = query(rq, "api-version");
	const struct dalle_model *m = dalle_model_find("dall-e-2");
	struct dalle_model_err e;
	struct MHD_Response *r;
	enum MHD_Result ret;
	struct op *o;
	char *base, *loc;
	int64_t now;
	jv body;

	if (!version_async(version))
		return reply_error(rq, E_NOT_FOUND, rq->method, rq->path);
	if (auth_refused(rq, &ret) || fault(rq, &ret) ||
	    quota_take(rq, version, 0, &ret) ||
	    reply_parse_body(rq, &body, &ret))
		return ret;
	if (models_retired(rq, m, DALLE_PROVIDER_AZURE, &ret)) {
		jv_free(body);
		return ret;
	}
	if (dalle_model_check(m, body, DALLE_PROVIDER_AZURE, &e) != 0) {
		jv_free(body);
		return reply_invalid(rq, &e);
	}
	now = dalle_now_ms();
	o = op_new(body, m, now);
	jv_free(body);
	op_add(o);
	stats_add(&st.submits, 1);

	base = base_url(rq);
	loc = dalle_xasprintf("%sopenai/operations/images/%s?api-version=%s",
	    base, o->id, version);
	r = resp_json(JV_OBJECT(jv_string("id"), jv_string(o->id),
	    jv_string("status"), jv_string("notRunning")), rq);
	MHD_add_response_header(r, "operation-location", loc);
	reply_retry_after(r, o->t_done - now);
	free(loc);
	free(base);
	return reply(rq, 202, r);
}

static enum MHD_Result
op_remove(struct req *rq, const char *id)
{
	char blob[37];
	int rc;

	stats_add(&st.deletes, 1);
	rc = op_delete(id, blob);
	if (rc < 0)
		return reply_error(rq, E_NOT_FOUND, rq->method, rq->path);
	if (rc > 0)
		return reply_error(rq, E_CONFLICT);
	/* Its image URLs now answer 404 BlobNotFound. */
	blob_forget(blob);
	rq->resp_bytes = 0;
	return reply(rq, 204, resp_bytes("", 0, NULL));
}

enum MHD_Result
op_reply(struct req *rq, const char *id)
{
	const char *version = query(rq, "api-version");
	struct MHD_Response *r;
	enum MHD_Result ret;
	enum opstate s;
	struct op o;
	jv body, data;
	char *base, *url;
	int64_t now;
	int i;

	if (!version_async(version) && version_date(version) < 0)
		return reply_error(rq, E_NOT_FOUND, rq->method, rq->path);
	if (auth_refused(rq, &ret) || fault(rq, &ret))
		return ret;
	if (rq->route == R_OP_DELETE)
		return op_remove(rq, id);
	stats_add(&st.polls, 1);
	if (op_find(id, &o) != 0)
		return reply_error(rq, E_NOT_FOUND, rq->method, rq->path);
	now = dalle_now_ms();
	s = op_state(&o, now);
	body = JV_OBJECT(jv_string("created"), jv_number((double)o.created),
	    jv_string("expires"), jv_number((double)(o.created + OP_LIFETIME)),
	    jv_string("id"), jv_string(o.id),
	    jv_string("status"), jv_string(opstate_names[s]));
	if (s == OP_SUCCEEDED) {
		base = base_url(rq);
		data = jv_array();
		for (i = 0; i < o.n; i++) {
			url = blob_url(base, o.blob, i, "png", o.url_expires);
			data = jv_array_append(data, JV_OBJECT(
			    jv_string("url"), jv_string(url)));
			free(url);
		}
		free(base);
		body = jv_object_set(body, jv_string("result"), JV_OBJECT(
		    jv_string("created"), jv_number((double)o.created),
		    jv_string("data"), data));
	} else if (s == OP_FAILED)
		body = jv_object_set(body, jv_string("error"),
		    error_object(E_TASK_FILTERED));
	r = resp_json(body, rq);
	if (s < OP_SUCCEEDED)
		reply_retry_after(r, o.t_done - now);
	return reply(rq, 200, r);
}
