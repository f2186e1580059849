/*
 * responses.c: the Responses API in background mode, on OpenAI's
 * /v1/responses and Azure's /openai/v1/responses.  A create answers at
 * once with a response that is queued for the first quarter of its
 * latency, in_progress for the rest, then completed with one
 * image_generation_call (or failed); it can be polled and cancelled, and
 * is forgotten --response-ttl seconds after it ended: a poll then answers
 * 404, as the service does once a background response is no longer kept.
 * The image is made as the synchronous routes make it (generate.c).
 */
#include <stdlib.h>
#include <string.h>

#include "serve.h"
#include "responses.h"

#define RESP_BUCKETS 16384
#define MAX_RESPS 1000000

enum rstate { RS_QUEUED, RS_IN_PROGRESS, RS_COMPLETED, RS_FAILED,
	RS_CANCELLED };
static const char *const rstate_names[] = {
	"queued", "in_progress", "completed", "failed", "cancelled"
};

struct resp {
	struct link l;
	char id[48];              /* "resp_" and 32 hexadecimal digits */
	char ig[48];              /* its image_generation_call's id */
	int64_t created;          /* epoch seconds */
	int64_t t_run, t_done;    /* monotonic ms */
	int64_t t_cancel;         /* when cancelled (monotonic ms), or 0 */
	const struct dalle_model *m;
	enum flavour fl;
	char *model;              /* the mainline model */
	char *gen;                /* the image's generation body, JSON */
	char *tool;               /* the image tool as given, JSON */
	char *err_code, *err_msg; /* why it fails, or NULL */
};

static struct bucket resp_b[RESP_BUCKETS];
static struct {
	pthread_mutex_t mu;
	struct keyed t;
} resps = { PTHREAD_MUTEX_INITIALIZER, KEYED_INIT(resp_b, resps.t) };

enum route
resp_route(const char *method, const char *url)
{
	enum route r = R_OPENAI;
	const char *p;

	if (strncmp(url, "/openai", 7) == 0) {
		url += 7;
		r = R_AZURE_V1;
	}
	if (strncmp(url, "/v1/responses", 13) != 0)
		return R_OTHER;
	p = url + 13;
	if (*p == '\0')
		return strcmp(method, "POST") == 0 ? r : R_OTHER;
	if (*p != '/' || p[1] == '\0')
		return R_OTHER;
	p = strchr(p + 1, '/');
	if (p == NULL)
		return strcmp(method, "GET") == 0 ? r : R_OTHER;
	return strcmp(p, "/cancel") == 0 && strcmp(method, "POST") == 0 ?
	    r : R_OTHER;
}

static void
resp_free(struct resp *o)
{
	free(o->model);
	free(o->gen);
	free(o->tool);
	free(o->err_code);
	free(o->err_msg);
	free(o);
}

static enum rstate
resp_state(const struct resp *o, int64_t now)
{
	if (o->t_cancel != 0)
		return RS_CANCELLED;
	if (now >= o->t_done)
		return o->err_code != NULL ? RS_FAILED : RS_COMPLETED;
	return now >= o->t_run ? RS_IN_PROGRESS : RS_QUEUED;
}

/* Kept until --response-ttl seconds after its end. */
static int
resp_live(const struct resp *o, int64_t now)
{
	int64_t end = o->t_cancel != 0 ? o->t_cancel : o->t_done;

	return now < end + opt.response_ttl * 1000;
}

/* Drop forgotten responses from the front.  Called locked. */
static void
resps_trim(int64_t now)
{
	struct resp *o;

	while ((o = (struct resp *)STAILQ_FIRST(&resps.t.fifo)) != NULL &&
	    (resps.t.n > MAX_RESPS || !resp_live(o, now)))
		resp_free((struct resp *)keyed_pop(&resps.t));
}

/* An OpenAI-style 400 of our own words. */
static enum MHD_Result
bad(struct req *rq, const char *param, const char *msg)
{
	return reply_json(rq, 400, JV_OBJECT(jv_string("error"), JV_OBJECT(
	    jv_string("code"), jv_null(),
	    jv_string("message"), jv_string(msg),
	    jv_string("param"), param ? jv_string(param) : jv_null(),
	    jv_string("type"), jv_string("invalid_request_error"))));
}

/* The generation body the tool asks for: the prompt and its options. */
static jv
gen_body(jv tool, const char *prompt)
{
	static const char *const keys[] = {
		"size", "quality", "output_format", "output_compression",
		"background", "moderation", NULL
	};
	jv gen, v;
	int i;

	gen = JV_OBJECT(jv_string("prompt"), jv_string(prompt),
	    jv_string("model"), jv_string(str_or(tool, "model",
	    "gpt-image-2")));
	for (i = 0; keys[i] != NULL; i++) {
		v = dalle_record_get(tool, keys[i]);
		if (jv_get_kind(v) != JV_KIND_NULL)
			gen = jv_object_set(gen, jv_string(keys[i]), v);
		else
			jv_free(v);
	}
	return gen;
}

static char *
dump(jv v)
{
	jv s = jv_dump_string(v, 0);
	char *p = dalle_xstrdup(jv_string_value(s));

	jv_free(s);
	return p;
}

static void
resp_id(char *out, size_t n, const char *prefix)
{
	char u[37];
	size_t i, k;

	uuid_new(u);
	k = (size_t)snprintf(out, n, "%s", prefix);
	for (i = 0; u[i] != '\0' && k + 1 < n; i++)
		if (u[i] != '-')
			out[k++] = u[i];
	out[k] = '\0';
}

/* The response as the service shows it, at now; its image in *c. */
static jv
resp_body(const struct resp *o, int64_t now, struct cent **c)
{
	enum rstate s = resp_state(o, now);
	jv body, gen, img, item, u, tool;
	long in, out;

	*c = NULL;
	tool = jv_parse(o->tool);
	body = JV_OBJECT(jv_string("id"), jv_string(o->id),
	    jv_string("object"), jv_string("response"),
	    jv_string("created_at"), jv_number((double)o->created),
	    jv_string("status"), jv_string(rstate_names[s]),
	    jv_string("background"), jv_true(),
	    jv_string("model"), jv_string(o->model));
	body = jv_object_set(body, jv_string("error"), s == RS_FAILED ?
	    JV_OBJECT(jv_string("code"), jv_string(o->err_code),
	    jv_string("message"), jv_string(o->err_msg)) : jv_null());
	body = jv_object_set(body, jv_string("incomplete_details"),
	    jv_null());
	body = jv_object_set(body, jv_string("tools"),
	    JV_ARRAY(tool));
	if (s != RS_COMPLETED) {
		body = jv_object_set(body, jv_string("output"), jv_array());
		return jv_object_set(body, jv_string("usage"), jv_null());
	}
	gen = jv_parse(o->gen);
	img = generate_one(o->m, gen, c);
	jv_free(gen);
	if (!jv_is_valid(img))
		return img;
	item = JV_OBJECT(jv_string("id"), jv_string(o->ig),
	    jv_string("type"), jv_string("image_generation_call"),
	    jv_string("status"), jv_string("completed"),
	    jv_string("action"), jv_string("generate"));
	item = jv_object_set(item, jv_string("background"),
	    jv_object_get(jv_copy(img), jv_string("background")));
	item = jv_object_set(item, jv_string("output_format"),
	    jv_object_get(jv_copy(img), jv_string("output_format")));
	item = jv_object_set(item, jv_string("quality"),
	    jv_object_get(jv_copy(img), jv_string("quality")));
	item = jv_object_set(item, jv_string("size"),
	    jv_object_get(jv_copy(img), jv_string("size")));
	item = jv_object_set(item, jv_string("revised_prompt"),
	    jv_object_get(jv_copy(img), jv_string("revised_prompt")));
	item = jv_object_set(item, jv_string("result"), jv_string(""));
	body = jv_object_set(body, jv_string("output"), JV_ARRAY(item));
	/* The mainline model's own tokens: the prompt read, a call made. */
	in = (long)(strlen(o->gen) + 3) / 4;
	out = 20;
	u = JV_OBJECT(jv_string("input_tokens"), jv_number(in),
	    jv_string("input_tokens_details"), JV_OBJECT(
	    jv_string("cached_tokens"), jv_number(0)),
	    jv_string("output_tokens"), jv_number(out),
	    jv_string("output_tokens_details"), JV_OBJECT(
	    jv_string("reasoning_tokens"), jv_number(0)),
	    jv_string("total_tokens"), jv_number(in + out));
	body = jv_object_set(body, jv_string("usage"), u);
	/* The image tool's tokens, as a synchronous generation has them. */
	return jv_object_set(body, jv_string("tool_usage"), JV_OBJECT(
	    jv_string("image_gen"), jv_object_get(img,
	    jv_string("usage"))));
}

static enum MHD_Result
resp_answer(struct req *rq, const struct resp *o)
{
	struct cent *c;
	enum MHD_Result ret;
	jv body;

	body = resp_body(o, dalle_now_ms(), &c);
	if (!jv_is_valid(body)) {
		jv_free(body);
		return reply_error(rq, E_RENDER);
	}
	if (c == NULL)
		return reply_json(rq, 200, body);
	ret = reply_b64(rq, body, "result", &c, 1);
	cache_release(c);
	return ret;
}

/* Why the image would fail, from the checks of the synchronous routes:
 * the model's rules, then the blocked terms. */
static void
resp_check(struct resp *o, jv gen)
{
	struct dalle_model_err e;
	enum dalle_provider p = o->fl == FL_OPENAI ? DALLE_PROVIDER_OPENAI :
	    DALLE_PROVIDER_AZURE;

	if (dalle_model_check(o->m, gen, p, &e) != 0) {
		o->err_code = dalle_xstrdup(e.code ? e.code :
		    "invalid_request_error");
		o->err_msg = dalle_xstrdup(e.message);
	} else if (blocked_term(str_or(gen, "prompt", "")) != NULL) {
		stats_add(&st.filtered, 1);
		o->err_code = dalle_xstrdup("moderation_blocked");
		o->err_msg = dalle_xstrdup("Your request was rejected by the "
		    "safety system.");
	}
}

static enum MHD_Result
resp_create(struct req *rq, enum flavour fl)
{
	const struct dalle_model *m = NULL;
	const char *model, *prompt, *action;
	enum MHD_Result ret;
	struct resp *o;
	int64_t now, lat;
	jv body, tool, gen, v;
	int refused = 1;

	if (precheck(rq, NULL, fl, &m, &ret) || fault(rq, &ret) ||
	    quota_take(rq, query(rq, "api-version"), 0, &ret) ||
	    reply_parse_body(rq, &body, &ret))
		return ret;
	model = dalle_record_str(body, "model");
	prompt = dalle_record_str(body, "input");
	v = dalle_record_get(body, "background");
	tool = dalle_responses_find(body, "tools", "image_generation");
	action = str_or(tool, "action", "auto");
	if (model == NULL)
		ret = reply_error(rq, E_NO_MODEL_PARAM);
	else if (prompt == NULL)
		ret = bad(rq, "input", "Missing required parameter: 'input' "
		    "(this service takes the prompt as a string).");
	else if (jv_get_kind(v) != JV_KIND_TRUE)
		ret = bad(rq, "background", "This service answers background "
		    "responses only: send \"background\": true.");
	else if (jv_get_kind(tool) != JV_KIND_OBJECT)
		ret = bad(rq, "tools", "No image_generation tool in 'tools'.");
	else if (strcmp(action, "edit") == 0)
		ret = bad(rq, "tools[0].action", "An edit needs an input "
		    "image; this service generates only.");
	else
		refused = 0;
	jv_free(v);
	if (refused) {
		jv_free(tool);
		jv_free(body);
		return ret;
	}
	gen = gen_body(tool, prompt);
	if ((m = body_model(rq, gen, fl, &ret)) == NULL ||
	    models_retired(rq, m, fl == FL_OPENAI ? DALLE_PROVIDER_OPENAI :
	    DALLE_PROVIDER_AZURE, &ret)) {
		jv_free(gen);
		jv_free(tool);
		jv_free(body);
		return ret;
	}
	o = dalle_xcalloc(1, sizeof(*o));
	resp_id(o->id, sizeof(o->id), "resp_");
	resp_id(o->ig, sizeof(o->ig), "ig_");
	o->m = m;
	o->fl = fl;
	o->model = dalle_xstrdup(model);
	o->created = dalle_time();
	now = dalle_now_ms();
	lat = latency_ms();
	o->t_run = now + lat / 4;
	o->t_done = now + lat;
	if (o->t_done == now)
		o->t_done++;
	resp_check(o, gen);
	o->gen = dump(gen);
	o->tool = dump(tool);
	jv_free(body);
	stats_add(&st.submits, 1);
	pthread_mutex_lock(&resps.mu);
	keyed_add(&resps.t, &o->l, o->id);
	resps_trim(now);
	pthread_mutex_unlock(&resps.mu);
	/* Answered at once, whatever --latency says. */
	rq->delay_ms = 0;
	return reply_json(rq, 200, resp_body(o, now, &(struct cent *){ 0 }));
}

enum MHD_Result
resp_reply(struct req *rq)
{
	enum flavour fl = rq->route == R_OPENAI ? FL_OPENAI : FL_AZURE_V1;
	const struct dalle_model *m = NULL;
	enum MHD_Result ret;
	const char *p;
	struct resp *o, copy;
	char id[64];
	int cancel;

	p = strstr(rq->path, "/v1/responses") + 13;
	if (*p == '\0')
		return resp_create(rq, fl);
	if (precheck(rq, NULL, fl, &m, &ret) || fault(rq, &ret))
		return ret;
	p++;
	snprintf(id, sizeof(id), "%.*s", (int)strcspn(p, "/"), p);
	cancel = strchr(p, '/') != NULL;
	stats_add(cancel ? &st.deletes : &st.polls, 1);
	pthread_mutex_lock(&resps.mu);
	resps_trim(dalle_now_ms());
	o = (struct resp *)keyed_find(&resps.t, id);
	if (o != NULL && cancel && o->t_cancel == 0 &&
	    resp_state(o, dalle_now_ms()) < RS_COMPLETED)
		o->t_cancel = dalle_now_ms();
	if (o != NULL) {
		copy = *o;
		copy.model = dalle_xstrdup(o->model);
		copy.gen = dalle_xstrdup(o->gen);
		copy.tool = dalle_xstrdup(o->tool);
		copy.err_code = o->err_code ? dalle_xstrdup(o->err_code) :
		    NULL;
		copy.err_msg = o->err_msg ? dalle_xstrdup(o->err_msg) : NULL;
	}
	pthread_mutex_unlock(&resps.mu);
	if (o == NULL)
		return reply_json(rq, 404, JV_OBJECT(jv_string("error"),
		    JV_OBJECT(jv_string("code"), jv_null(),
		    jv_string("message"), jv_string_fmt("Response with id "
		    "'%s' not found.", id),
		    jv_string("param"), jv_null(),
		    jv_string("type"), jv_string("invalid_request_error"))));
	ret = resp_answer(rq, &copy);
	free(copy.model);
	free(copy.gen);
	free(copy.tool);
	free(copy.err_code);
	free(copy.err_msg);
	return ret;
}
