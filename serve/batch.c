/*
 * batch.c: OpenAI's Files API (upload, retrieve, content) and Batch API
 * (create, retrieve, list, cancel) for /v1/images/generations and
 * /v1/images/edits.  A batch moves through validating, in_progress,
 * finalizing and completed over --batch-latency; its lines are run when a
 * request looks at it, each by the code that answers the synchronous
 * route, their answers written to its output and error files.
 */
#include <stdlib.h>
#include <string.h>

#include "serve.h"

#define IRE "invalid_request_error"
#define MAX_LINES 50000
#define BATCH_WINDOW 86400        /* completion_window "24h" */
#define FILE_LIFE 2592000         /* a batch file's 30 days */

struct sfile {
	struct sfile *next;
	char id[32];
	char *filename;
	const char *purpose;
	int64_t created;
	struct dalle_buf data;
};

enum bstate {
	B_VALIDATING, B_FAILED, B_IN_PROGRESS, B_FINALIZING, B_COMPLETED,
	B_EXPIRED, B_CANCELLING, B_CANCELLED
};
static const char *const bstate_names[] = {
	"validating", "failed", "in_progress", "finalizing", "completed",
	"expired", "cancelling", "cancelled"
};

struct bline {
	char *custom_id;
	jv body;
};

struct batch {
	struct batch *next;       /* newer first */
	char id[48];
	char *input_file_id, *endpoint, *model;
	jv metadata, errors;
	enum bstate state;
	int64_t t0;               /* dalle_now_ms at creation */
	int64_t created, in_progress_at, finalizing_at, completed_at;
	int64_t failed_at, expired_at, cancelling_at, cancelled_at;
	int64_t cancel_ms;        /* dalle_now_ms of the cancel */
	struct bline *lines;
	size_t n, done;
	long completed, failed;
	struct dalle_buf out, err;
	char out_id[32], err_id[32];
};

static pthread_mutex_t batch_mu = PTHREAD_MUTEX_INITIALIZER;
static struct sfile *files;
static struct batch *batches;

const char *
batch_route(const char *method, const char *url)
{
	int get = strcmp(method, "GET") == 0;
	int post = strcmp(method, "POST") == 0;
	const char *p, *slash;

	if (strcmp(url, "/v1/files") == 0 && post)
		return "files_upload";
	if (strncmp(url, "/v1/files/", 10) == 0 && url[10] != '\0' && get) {
		slash = strchr(url + 10, '/');
		if (slash == NULL)
			return "files_get";
		if (strcmp(slash, "/content") == 0)
			return "files_content";
		return NULL;
	}
	if (strcmp(url, "/v1/batches") == 0)
		return post ? "batches_create" : get ? "batches_list" : NULL;
	if (strncmp(url, "/v1/batches/", 12) != 0 || url[12] == '\0')
		return NULL;
	p = url + 12;
	slash = strchr(p, '/');
	if (slash == NULL && get)
		return "batches_get";
	if (slash != NULL && strcmp(slash, "/cancel") == 0 && post)
		return "batches_cancel";
	return NULL;
}

/* An OpenAI error body with its status. */
static enum MHD_Result
api_error(struct req *rq, unsigned status, const char *code,
    const char *param, const char *message)
{
	return reply_json(rq, status, JV_OBJECT(jv_string("error"), JV_OBJECT(
	    jv_string("message"), jv_string(message),
	    jv_string("type"), jv_string(IRE),
	    jv_string("param"), param ? jv_string(param) : jv_null(),
	    jv_string("code"), code ? jv_string(code) : jv_null())));
}

/* n characters of [0-9A-Za-z] (n <= 32), then a NUL. */
static void
base62(char *out, size_t n)
{
	static const char dig[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz";
	char u[37];
	size_t i, k = 0;

	uuid_new(u);
	for (i = 0; i < n; i++) {
		if (u[k] == '-')
			k++;
		if (u[k] == '\0') {
			uuid_new(u);
			k = 0;
		}
		out[i] = dig[(strtol((char[]){ u[k], '\0' }, NULL, 16) * 7 +
		    (long)i * 13) % 62];
		k++;
	}
	out[n] = '\0';
}

/* 32 hex digits. */
static void
hex32(char out[33])
{
	char u[37];
	size_t i, k = 0;

	uuid_new(u);
	for (i = 0; u[i] != '\0'; i++)
		if (u[i] != '-')
			out[k++] = u[i];
	out[k] = '\0';
}

static struct sfile *
file_add(const char *filename, const char *purpose, struct dalle_buf *data)
{
	struct sfile *f;

	f = dalle_xcalloc(1, sizeof(*f));
	memcpy(f->id, "file-", 5);
	base62(f->id + 5, 22);
	f->filename = dalle_xstrdup(filename);
	f->purpose = purpose;
	f->created = dalle_time();
	f->data = *data;
	memset(data, 0, sizeof(*data));
	f->next = files;
	files = f;
	return f;
}

static struct sfile *
file_find(const char *id)
{
	struct sfile *f;

	for (f = files; f != NULL; f = f->next)
		if (strcmp(f->id, id) == 0)
			return f;
	return NULL;
}

static jv
file_json(const struct sfile *f)
{
	return JV_OBJECT(jv_string("id"), jv_string(f->id),
	    jv_string("object"), jv_string("file"),
	    jv_string("bytes"), jv_number((double)f->data.len),
	    jv_string("created_at"), jv_number((double)f->created),
	    jv_string("expires_at"), jv_number((double)(f->created +
	    FILE_LIFE)),
	    jv_string("filename"), jv_string(f->filename),
	    jv_string("purpose"), jv_string(f->purpose),
	    jv_string("status"), jv_string("processed"),
	    jv_string("status_details"), jv_null());
}

static const char *
purpose_of(const char *s)
{
	static const char *const ok[] = {
		"assistants", "batch", "fine-tune", "vision", "user_data",
		"evals", NULL
	};
	int i;

	for (i = 0; s != NULL && ok[i] != NULL; i++)
		if (strcmp(s, ok[i]) == 0)
			return ok[i];
	return NULL;
}

/* A batch file is JSONL: its first line must parse. */
static int
jsonl_start_ok(const struct dalle_buf *d)
{
	const char *nl;
	size_t n;
	jv v;
	int ok;

	if (d->len == 0)
		return 0;
	nl = memchr(d->p, '\n', d->len);
	n = nl != NULL ? (size_t)(nl - d->p) : d->len;
	v = jv_parse_sized(d->p, (int)n);
	ok = jv_get_kind(v) == JV_KIND_OBJECT;
	jv_free(v);
	return ok;
}

static enum MHD_Result
files_upload(struct req *rq)
{
	const struct dalle_buf *pp, *fp;
	const char *fname = NULL, *dummy, *purpose;
	struct dalle_buf data;
	struct sfile *f;
	size_t n;
	char *ps;
	jv res;

	pp = edit_part(rq, "purpose", &dummy);
	fp = edit_part(rq, "file", &fname);
	if (pp == NULL)
		return api_error(rq, 400, "missing_required_parameter",
		    "purpose", "Missing required parameter: 'purpose'.");
	if (fp == NULL || fname == NULL)
		return api_error(rq, 400, "missing_required_parameter",
		    "file", "Missing required parameter: 'file'.");
	ps = dalle_xasprintf("%.*s", (int)pp->len, pp->p ? pp->p : "");
	purpose = purpose_of(ps);
	free(ps);
	if (purpose == NULL)
		return api_error(rq, 400, "invalid_value", "purpose",
		    "Invalid value for 'purpose'.");
	n = strlen(fname);
	if (strcmp(purpose, "batch") == 0 && (n < 6 ||
	    strcmp(fname + n - 6, ".jsonl") != 0 || !jsonl_start_ok(fp)))
		return api_error(rq, 400, NULL, NULL,
		    "Invalid file format for Batch API. Must be .jsonl");
	memset(&data, 0, sizeof(data));
	dalle_buf_add(&data, fp->p ? fp->p : "", fp->len);
	pthread_mutex_lock(&batch_mu);
	f = file_add(fname, purpose, &data);
	res = file_json(f);
	pthread_mutex_unlock(&batch_mu);
	return reply_json(rq, 200, res);
}

static enum MHD_Result
files_get(struct req *rq, int content)
{
	const char *id = rq->path + 10;
	struct MHD_Response *r;
	struct sfile *f;
	char *msg, *end;
	jv res;

	end = strchr(id, '/');
	id = end != NULL ? dalle_xasprintf("%.*s", (int)(end - id), id) :
	    dalle_xstrdup(id);
	pthread_mutex_lock(&batch_mu);
	f = file_find(id);
	if (f == NULL) {
		pthread_mutex_unlock(&batch_mu);
		msg = dalle_xasprintf("No such File object: %.100s", id);
		free((char *)id);
		res = JV_OBJECT(jv_string("error"), JV_OBJECT(
		    jv_string("message"), jv_string(msg),
		    jv_string("type"), jv_string(IRE),
		    jv_string("param"), jv_string("id"),
		    jv_string("code"), jv_null()));
		free(msg);
		return reply_json(rq, 404, res);
	}
	free((char *)id);
	if (!content) {
		res = file_json(f);
		pthread_mutex_unlock(&batch_mu);
		return reply_json(rq, 200, res);
	}
	r = resp_bytes(f->data.p ? f->data.p : "", f->data.len,
	    "application/octet-stream");
	rq->resp_bytes = f->data.len;
	pthread_mutex_unlock(&batch_mu);
	return reply(rq, 200, r);
}

/* errors.data[] gains one entry. */
static void
verr(struct batch *b, const char *code, long line, const char *param,
    const char *fmt, const char *arg)
{
	char msg[512];

	snprintf(msg, sizeof(msg), fmt, arg);
	b->errors = jv_array_append(b->errors, JV_OBJECT(
	    jv_string("code"), jv_string(code),
	    jv_string("line"), line > 0 ? jv_number(line) : jv_null(),
	    jv_string("message"), jv_string(msg),
	    jv_string("param"), param ? jv_string(param) : jv_null()));
}

static int
batch_model(const char *name)
{
	const struct dalle_model *m = dalle_model_find(name);

	return m != NULL && (m->family == DALLE_FAMILY_GPTIMAGE ||
	    m->family == DALLE_FAMILY_GPTIMAGE2);
}

/* One line of the input file into b->lines, or an error for it; *ids
 * holds the custom_ids so far. */
static void
validate_line(struct batch *b, const char *p, size_t n, long no, jv *ids)
{
	static const char *const req[] = { "custom_id", "method", "url",
	    "body" };
	const char *cid, *model;
	jv v, body;
	size_t i;

	v = jv_parse_sized(p, (int)n);
	if (jv_get_kind(v) != JV_KIND_OBJECT) {
		jv_free(v);
		verr(b, "invalid_json_line", no, NULL,
		    "This line is not parseable as valid JSON.%s", "");
		return;
	}
	for (i = 0; i < 4; i++)
		if (!jv_object_has(jv_copy(v), jv_string(req[i]))) {
			verr(b, "missing_required_parameter", no, req[i],
			    "Missing required parameter: '%s'.", req[i]);
			jv_free(v);
			return;
		}
	body = jv_object_get(jv_copy(v), jv_string("body"));
	cid = dalle_record_str(v, "custom_id");
	model = jv_get_kind(body) == JV_KIND_OBJECT ?
	    dalle_record_str(body, "model") : NULL;
	if (cid == NULL || jv_get_kind(body) != JV_KIND_OBJECT ||
	    strcmp(str_or(v, "method", ""), "POST") != 0)
		verr(b, "invalid_request", no, NULL, "The request on this "
		    "line is not valid.%s", "");
	else if (strcmp(str_or(v, "url", ""), b->endpoint) != 0)
		verr(b, "invalid_url", no, "url", "The URL provided for this "
		    "request does not match the batch endpoint.%s", "");
	else if (model == NULL)
		verr(b, "invalid_request", no, "body.model", "Model parameter "
		    "is required.%s", "");
	else if (!batch_model(model))
		verr(b, "model_not_found", no, "body.model", "The provided "
		    "model '%.200s' is not supported by the Batch API.",
		    model);
	else if (b->model != NULL && strcmp(b->model, model) != 0)
		verr(b, "mismatched_model", no, NULL, "The model '%.200s' for "
		    "this request does not match the rest of the batch. Each "
		    "batch must contain requests for a single model.", model);
	else if (jv_equal(jv_object_get(jv_copy(body), jv_string("stream")),
	    jv_true()))
		verr(b, "streaming_unsupported", no, "body.stream", "Images: "
		    "Streaming is not supported in the Batch API.%s", "");
	else {
		if (jv_object_has(jv_copy(*ids), jv_string(cid)))
			verr(b, "duplicate_custom_id", no, NULL,
			    "The custom_id '%.200s' for this request is a duplicate of "
			    "another request. The custom_id parameter must be "
			    "unique for each request in a batch.", cid);
		else {
			if (b->model == NULL)
				b->model = dalle_xstrdup(model);
			if ((b->n & (b->n - 1)) == 0)   /* 0, 1, 2, 4 ... */
				b->lines = dalle_xrealloc(b->lines, (b->n ?
				    b->n * 2 : 1) * sizeof(*b->lines));
			*ids = jv_object_set(*ids, jv_string(cid), jv_true());
			b->lines[b->n].custom_id = dalle_xstrdup(cid);
			b->lines[b->n++].body = jv_copy(body);
		}
	}
	jv_free(body);
	jv_free(v);
}

/* The input file, line by line: 0, or -1 with b->errors set. */
static int
validate(struct batch *b)
{
	struct sfile *f = file_find(b->input_file_id);
	const char *p, *end, *nl;
	long no = 0;
	jv ids = jv_object();

	if (f == NULL) {
		verr(b, "invalid_request", 0, "file_id", "Cannot find file "
		    "%.100s, or organization org-dalleserve does not have "
		    "access to it.", b->input_file_id);
		jv_free(ids);
		return -1;
	}
	p = f->data.p;
	end = p + f->data.len;
	while (p != NULL && p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		no++;
		if (nl > p && !(nl - p == 1 && *p == '\r'))
			validate_line(b, p, (size_t)(nl - p), no, &ids);
		if (no > MAX_LINES) {
			verr(b, "too_many_tasks", 0, NULL, "The input file "
			    "has more than %s requests.", "50000");
			break;
		}
		p = nl + 1;
	}
	jv_free(ids);
	if (jv_array_length(jv_copy(b->errors)) == 0 && b->n == 0)
		verr(b, "empty_file", 0, NULL, "The input file is empty. "
		    "Please ensure that the batch contains at least one "
		    "request.%s", "");
	return jv_array_length(jv_copy(b->errors)) > 0 ? -1 : 0;
}

/* The head of an output line, up to its "response". */
static void
line_head(struct dalle_buf *o, const char *custom_id)
{
	char id[33];
	jv s;

	hex32(id);
	s = jv_dump_string(jv_string(custom_id), 0);
	dalle_buf_adds(o, "{\"id\":\"batch_req_");
	dalle_buf_adds(o, id);
	dalle_buf_adds(o, "\",\"custom_id\":");
	dalle_buf_adds(o, jv_string_value(s));
	dalle_buf_adds(o, ",\"response\":");
	jv_free(s);
}

/* Run line i with the synchronous route's code; its answer to the output
 * file (200) or the error file. */
static void
line_run(struct batch *b, size_t i)
{
	const struct dalle_model *m = NULL;
	struct dalle_buf cap = { NULL, 0, 0 }, *o;
	struct req rq;
	enum MHD_Result ret;
	char num[80], rid[33];
	jv body = jv_copy(b->lines[i].body);

	memset(&rq, 0, sizeof(rq));
	rq.route = R_OPENAI;
	rq.path = b->endpoint;
	snprintf(rq.method, sizeof(rq.method), "POST");
	rq.logrec = jv_invalid();
	rq.rl_remaining = -1;
	rq.cap = &cap;
	if (opt.batch_fail_rate > 0 && chance() < opt.batch_fail_rate) {
		jv_free(body);
		stats_add(&st.fault_fail, 1);
		reply_error(&rq, E_INTERNAL);
	} else if (hostile_line(&rq)) {
		jv_free(body);
	} else if (!body_checked(&rq, body, FL_OPENAI, &m, &ret)) {
		if (strcmp(b->endpoint, "/v1/images/edits") == 0)
			edit_checked(&rq, m, body, FL_OPENAI);
		else
			generate(&rq, m, body, FL_OPENAI, NULL);
	}
	(void)ret;
	if (rq.cap_status == 200)
		b->completed++;
	else
		b->failed++;
	o = rq.cap_status == 200 ? &b->out : &b->err;
	line_head(o, b->lines[i].custom_id);
	hex32(rid);
	snprintf(num, sizeof(num), "{\"status_code\":%u,\"request_id\":"
	    "\"req_%s\",\"body\":",
	    rq.cap_status, rid);
	dalle_buf_adds(o, num);
	if (cap.len > 0)
		dalle_buf_add(o, cap.p, cap.len);
	else
		dalle_buf_adds(o, "{}");
	dalle_buf_adds(o, "},\"error\":null}\n");
	dalle_buf_free(&cap);
}

/* Lines never run, each an error line with code. */
static void
lines_unrun(struct batch *b, const char *code, const char *message)
{
	for (; b->done < b->n; b->done++) {
		line_head(&b->err, b->lines[b->done].custom_id);
		dalle_buf_adds(&b->err, "null,\"error\":{\"code\":\"");
		dalle_buf_adds(&b->err, code);
		dalle_buf_adds(&b->err, "\",\"message\":\"");
		dalle_buf_adds(&b->err, message);
		dalle_buf_adds(&b->err, "\"}}\n");
	}
}

/* The lines done by elapsed ms e of the in_progress phase [a, c). */
static size_t
lines_due(const struct batch *b, int64_t e, int64_t a, int64_t c)
{
	double f;

	if (e >= c)
		return b->n;
	if (e <= a)
		return 0;
	f = (double)(e - a) / (double)(c - a);
	return (size_t)(f * (double)b->n);
}

static void
run_to(struct batch *b, size_t k)
{
	while (b->done < k)
		line_run(b, b->done++);
}

/* The output and error files of an ended batch. */
static void
files_out(struct batch *b)
{
	struct sfile *f;
	char name[96];

	if (b->out.len > 0) {
		snprintf(name, sizeof(name), "%s_output.jsonl", b->id);
		f = file_add(name, "batch_output", &b->out);
		snprintf(b->out_id, sizeof(b->out_id), "%s", f->id);
	}
	if (b->err.len > 0) {
		snprintf(name, sizeof(name), "%s_error.jsonl", b->id);
		f = file_add(name, "batch_output", &b->err);
		snprintf(b->err_id, sizeof(b->err_id), "%s", f->id);
	}
}

/* End b in state s (at *at) before its lines ran: those not run yet go to
 * the error file with code. */
static void
batch_close(struct batch *b, const char *code, const char *message,
    enum bstate s, int64_t *at)
{
	lines_unrun(b, code, message);
	b->state = s;
	*at = dalle_time();
	files_out(b);
}

/*
 * Bring b up to now: validating for the first fifth of --batch-latency,
 * in_progress (lines run in step) to four fifths, finalizing, then
 * completed; expired at --batch-expire if not done by then; cancelled a
 * fifth of the latency after a cancel.  Called with batch_mu held.
 */
static void
advance(struct batch *b, int64_t now)
{
	int64_t lat = (int64_t)(opt.batch_latency * 1000 + 0.5);
	int64_t exp = opt.batch_expire > 0 ?
	    (int64_t)(opt.batch_expire * 1000 + 0.5) : BATCH_WINDOW * 1000LL;
	int64_t e = now - b->t0, v = lat / 5, f = lat * 4 / 5;
	int64_t wall = dalle_time();

	if (b->state == B_FAILED || b->state == B_COMPLETED ||
	    b->state == B_EXPIRED || b->state == B_CANCELLED)
		return;
	if (b->state == B_CANCELLING) {
		if (now - b->cancel_ms < v)
			return;
		/* Cancelled while validating: its lines, read now, were
		 * never run, each an error line as live. */
		if (b->in_progress_at == 0 && b->n == 0 && validate(b) == -1) {
			jv_free(b->errors);
			b->errors = jv_array();
		}
		batch_close(b, "batch_cancelled", "This request was "
		    "cancelled before it could be executed.", B_CANCELLED,
		    &b->cancelled_at);
		return;
	}
	if (e >= exp && exp < lat) {
		if (b->state == B_VALIDATING && validate(b) == -1) {
			b->state = B_FAILED;
			b->failed_at = wall;
			return;
		}
		run_to(b, lines_due(b, exp, v, f));
		batch_close(b, "batch_expired", "This request could not be "
		    "executed before the completion window expired.",
		    B_EXPIRED, &b->expired_at);
		return;
	}
	if (e < v)
		return;
	if (b->state == B_VALIDATING) {
		if (validate(b) == -1) {
			b->state = B_FAILED;
			b->failed_at = wall;
			return;
		}
		b->state = B_IN_PROGRESS;
		b->in_progress_at = wall;
	}
	run_to(b, lines_due(b, e, v, f));
	if (e < f)
		return;
	if (b->state == B_IN_PROGRESS) {
		b->state = B_FINALIZING;
		b->finalizing_at = wall;
	}
	if (e < lat)
		return;
	b->state = B_COMPLETED;
	b->completed_at = wall;
	files_out(b);
}

static jv
tstamp(int64_t t)
{
	return t > 0 ? jv_number((double)t) : jv_null();
}

static jv
batch_json(const struct batch *b)
{
	jv o;

	o = JV_OBJECT(jv_string("id"), jv_string(b->id),
	    jv_string("object"), jv_string("batch"),
	    jv_string("endpoint"), jv_string(b->endpoint),
	    jv_string("model"), b->model ? jv_string(b->model) : jv_null(),
	    jv_string("errors"), jv_array_length(jv_copy(b->errors)) > 0 ?
	    JV_OBJECT(jv_string("object"), jv_string("list"),
	    jv_string("data"), jv_copy(b->errors)) : jv_null(),
	    jv_string("input_file_id"), jv_string(b->input_file_id),
	    jv_string("completion_window"), jv_string("24h"),
	    jv_string("status"), jv_string(bstate_names[b->state]));
	o = jv_object_set(o, jv_string("output_file_id"), b->out_id[0] ?
	    jv_string(b->out_id) : jv_null());
	o = jv_object_set(o, jv_string("error_file_id"), b->err_id[0] ?
	    jv_string(b->err_id) : jv_null());
	o = jv_object_set(o, jv_string("created_at"), tstamp(b->created));
	o = jv_object_set(o, jv_string("in_progress_at"),
	    tstamp(b->in_progress_at));
	o = jv_object_set(o, jv_string("expires_at"),
	    tstamp(b->created + BATCH_WINDOW));
	o = jv_object_set(o, jv_string("finalizing_at"),
	    tstamp(b->finalizing_at));
	o = jv_object_set(o, jv_string("completed_at"),
	    tstamp(b->completed_at));
	o = jv_object_set(o, jv_string("failed_at"), tstamp(b->failed_at));
	o = jv_object_set(o, jv_string("expired_at"), tstamp(b->expired_at));
	o = jv_object_set(o, jv_string("cancelling_at"),
	    tstamp(b->cancelling_at));
	o = jv_object_set(o, jv_string("cancelled_at"),
	    tstamp(b->cancelled_at));
	o = jv_object_set(o, jv_string("request_counts"), JV_OBJECT(
	    jv_string("total"), jv_number((double)b->n),
	    jv_string("completed"), jv_number((double)b->completed),
	    jv_string("failed"), jv_number((double)b->failed)));
	return jv_object_set(o, jv_string("metadata"), jv_copy(b->metadata));
}

/* metadata: at most 16 pairs, keys to 64 characters, string values to
 * 512; NULL when it is fine, else the error's param (in buf). */
static const char *
metadata_bad(jv md, char *buf, size_t n, const char **code)
{
	const char *bad = NULL;
	int count = 0;

	*code = "invalid_value";
	if (jv_get_kind(md) == JV_KIND_NULL)
		return NULL;
	if (jv_get_kind(md) != JV_KIND_OBJECT) {
		*code = "invalid_type";
		return "metadata";
	}
	jv_object_foreach(md, k, val) {
		if (bad == NULL) {
			snprintf(buf, n, "metadata.%s", jv_string_value(k));
			if (jv_get_kind(val) != JV_KIND_STRING) {
				*code = "invalid_type";
				bad = buf;
			} else if (jv_string_length_bytes(jv_copy(k)) > 64 ||
			    jv_string_length_bytes(jv_copy(val)) > 512 ||
			    ++count > 16)
				bad = buf;
		}
		jv_free(k);
		jv_free(val);
	}
	return bad;
}

static enum MHD_Result
batches_create(struct req *rq)
{
	static const char *const eps[] = { "/v1/images/generations",
	    "/v1/images/edits", NULL };
	const char *fid, *ep, *win, *bad, *code;
	char param[128], msg[256], hex[33];
	struct batch *b;
	enum MHD_Result ret;
	jv body, md, res;
	int i;

	if (reply_parse_body(rq, &body, &ret))
		return ret;
	fid = dalle_record_str(body, "input_file_id");
	ep = dalle_record_str(body, "endpoint");
	win = dalle_record_str(body, "completion_window");
	md = jv_object_get(jv_copy(body), jv_string("metadata"));
	if (jv_get_kind(md) == JV_KIND_INVALID) {
		jv_free(md);
		md = jv_null();
	}
	for (i = 0; ep != NULL && eps[i] != NULL; i++)
		if (strcmp(ep, eps[i]) == 0)
			break;
	if (fid == NULL || ep == NULL || win == NULL) {
		snprintf(param, sizeof(param), "%s", fid == NULL ?
		    "input_file_id" : ep == NULL ? "endpoint" :
		    "completion_window");
		snprintf(msg, sizeof(msg), "Missing required parameter: "
		    "'%s'.", param);
		ret = api_error(rq, 400, "missing_required_parameter", param,
		    msg);
	} else if (eps[i] == NULL) {
		snprintf(msg, sizeof(msg), "Invalid value: '%.100s'. "
		    "dalle-serve runs only '/v1/images/edits' and "
		    "'/v1/images/generations'.", ep);
		ret = api_error(rq, 400, "invalid_value", "endpoint", msg);
	} else if (strcmp(win, "24h") != 0) {
		snprintf(msg, sizeof(msg), "Invalid value: '%.100s'. "
		    "Supported values are: '24h'.", win);
		ret = api_error(rq, 400, "invalid_value",
		    "completion_window", msg);
	} else if ((bad = metadata_bad(md, param, sizeof(param), &code))) {
		snprintf(msg, sizeof(msg), "Invalid %s for '%s'.",
		    strcmp(code, "invalid_type") == 0 ? "type" : "value", bad);
		ret = api_error(rq, 400, code, bad, msg);
	} else {
		b = dalle_xcalloc(1, sizeof(*b));
		b->t0 = dalle_now_ms();
		b->created = dalle_time();
		hex32(hex);
		snprintf(b->id, sizeof(b->id), "batch_%08llx%.24s",
		    (unsigned long long)b->created & 0xffffffffULL, hex);
		b->input_file_id = dalle_xstrdup(fid);
		b->endpoint = dalle_xstrdup(ep);
		b->metadata = jv_copy(md);
		b->errors = jv_array();
		pthread_mutex_lock(&batch_mu);
		b->next = batches;
		batches = b;
		res = batch_json(b);
		pthread_mutex_unlock(&batch_mu);
		/* The fault switches strike after the batch is made: its
		 * answer lost (or a 5xx) on the way, as happens live. */
		if (fault(rq, &ret))
			jv_free(res);
		else
			ret = reply_json(rq, 200, res);
	}
	jv_free(md);
	jv_free(body);
	return ret;
}

static struct batch *
batch_find(const char *id, size_t n)
{
	struct batch *b;

	for (b = batches; b != NULL; b = b->next)
		if (strlen(b->id) == n && strncmp(b->id, id, n) == 0)
			return b;
	return NULL;
}

static enum MHD_Result
batches_one(struct req *rq, int cancel)
{
	const char *id = rq->path + 12;
	size_t n = strcspn(id, "/");
	struct batch *b;
	char msg[256];
	jv res;

	pthread_mutex_lock(&batch_mu);
	if ((b = batch_find(id, n)) == NULL) {
		pthread_mutex_unlock(&batch_mu);
		snprintf(msg, sizeof(msg), "No batch found with id '%.*s'.",
		    (int)(n > 100 ? 100 : n), id);
		return api_error(rq, 404, NULL, NULL, msg);
	}
	advance(b, dalle_now_ms());
	if (cancel && (b->state == B_COMPLETED || b->state == B_FAILED ||
	    b->state == B_EXPIRED)) {
		snprintf(msg, sizeof(msg), "Cannot cancel a batch with status "
		    "'%s'.", bstate_names[b->state]);
		pthread_mutex_unlock(&batch_mu);
		return api_error(rq, 409, NULL, NULL, msg);
	}
	if (cancel && b->state != B_CANCELLING && b->state != B_CANCELLED) {
		b->state = B_CANCELLING;
		b->cancelling_at = dalle_time();
		b->cancel_ms = dalle_now_ms();
		advance(b, b->cancel_ms);
	}
	res = batch_json(b);
	pthread_mutex_unlock(&batch_mu);
	return reply_json(rq, 200, res);
}

static enum MHD_Result
batches_list(struct req *rq)
{
	const char *after = query(rq, "after"), *ls = query(rq, "limit");
	long limit = ls != NULL ? strtol(ls, NULL, 10) : 20;
	struct batch *b;
	jv data = jv_array(), first, last;
	long k = 0;
	int more = 0;

	if (limit < 1 || limit > 100)
		return api_error(rq, 400, "invalid_value", "limit",
		    "Invalid value for 'limit': it must be 1 to 100.");
	pthread_mutex_lock(&batch_mu);
	b = batches;
	if (after != NULL) {
		while (b != NULL && strcmp(b->id, after) != 0)
			b = b->next;
		if (b != NULL)
			b = b->next;
	}
	for (; b != NULL; b = b->next) {
		if (k == limit) {
			more = 1;
			break;
		}
		advance(b, dalle_now_ms());
		data = jv_array_append(data, batch_json(b));
		k++;
	}
	pthread_mutex_unlock(&batch_mu);
	first = k > 0 ? jv_getpath(jv_copy(data), JV_ARRAY(jv_number(0),
	    jv_string("id"))) : jv_null();
	last = k > 0 ? jv_getpath(jv_copy(data), JV_ARRAY(
	    jv_number((double)(k - 1)), jv_string("id"))) : jv_null();
	return reply_json(rq, 200, JV_OBJECT(
	    jv_string("object"), jv_string("list"), jv_string("data"), data,
	    jv_string("first_id"), first, jv_string("last_id"), last,
	    jv_string("has_more"), jv_bool(more)));
}

enum MHD_Result
batch_reply(struct req *rq)
{
	const char *r = rq->rname;
	enum MHD_Result ret;

	if (auth_refused(rq, &ret) || (strcmp(r, "batches_create") != 0 &&
	    fault(rq, &ret)) || quota_take(rq, NULL, 0, &ret))
		return ret;
	if (strcmp(r, "files_upload") == 0)
		return files_upload(rq);
	if (strcmp(r, "files_get") == 0)
		return files_get(rq, 0);
	if (strcmp(r, "files_content") == 0)
		return files_get(rq, 1);
	if (strcmp(r, "batches_create") == 0)
		return batches_create(rq);
	if (strcmp(r, "batches_list") == 0)
		return batches_list(rq);
	return batches_one(rq, strcmp(r, "batches_cancel") == 0);
}
