/*
 * generate.c: the three synchronous generation routes (Azure deployments,
 * Azure v1, OpenAI): checked as the service checks them, answered with
 * image URLs or base64 images after --latency.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "serve.h"

/*
 * api-version "YYYY-MM-DD" or "YYYY-MM-DD-preview": its date as YYYYMMDD,
 * or -1.
 */
long
version_date(const char *v)
{
	int y, m, d, n = 0;

	if (v == NULL || sscanf(v, "%4d-%2d-%2d%n", &y, &m, &d, &n) != 3 ||
	    n != 10 || strlen(v) < 10 || v[4] != '-' || v[7] != '-')
		return -1;
	if (v[10] != '\0' && strcmp(v + 10, "-preview") != 0)
		return -1;
	if (m < 1 || m > 12 || d < 1 || d > 31)
		return -1;
	return (long)y * 10000 + m * 100 + d;
}

int
version_async(const char *v)
{
	static const char *const ok[] = {
		"2023-06-01-preview", "2023-07-01-preview",
		"2023-08-01-preview", "2023-09-01-preview",
		"2023-10-01-preview", NULL
	};
	int i;

	for (i = 0; v != NULL && ok[i] != NULL; i++)
		if (strcmp(v, ok[i]) == 0)
			return 1;
	return 0;
}

/* Case-insensitive substring search. */
static int
has_word(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	if (n == 0)
		return 0;
	for (; *hay != '\0'; hay++)
		if (strncasecmp(hay, needle, n) == 0)
			return 1;
	return 0;
}

const char *
blocked_term(const char *prompt)
{
	size_t i;

	for (i = 0; i < opt.blocked.n; i++)
		if (has_word(prompt, opt.blocked.v[i]))
			return opt.blocked.v[i];
	return NULL;
}

void
size_parse(const char *s, int *w, int *h)
{
	if (s == NULL || strcmp(s, "auto") == 0 ||
	    sscanf(s, "%dx%d", w, h) != 2) {
		*w = 1024;
		*h = 1024;
	}
}

const char *
str_or(jv body, const char *key, const char *dflt)
{
	const char *s = dalle_record_str(body, key);

	return s != NULL ? s : dflt;
}

static char *
revised_prompt(const char *prompt, const char *style)
{
	static const char *const vivid[] = {
		"A vivid, richly detailed illustration of %.*s, with "
		    "dramatic lighting and saturated colours.",
		"A striking, hyper-detailed scene showing %.*s, bathed in "
		    "warm golden light.",
		"An imaginative, vibrant depiction of %.*s, full of bold "
		    "colour and crisp detail."
	};
	static const char *const natural[] = {
		"A natural, realistic photograph of %.*s, in soft daylight.",
		"A calm, true-to-life depiction of %.*s, with muted natural "
		    "colours.",
		"A realistic, understated image of %.*s, lit by diffuse "
		    "daylight."
	};
	const char *const *t;
	uint64_t hv;
	size_t n;

	t = style != NULL && strcmp(style, "natural") == 0 ? natural : vivid;
	hv = dalle_hash(prompt, strlen(prompt), 3);
	n = strlen(prompt);
	while (n > 0 && strchr(" .!\n\t", prompt[n - 1]) != NULL)
		n--;
	return dalle_xasprintf(t[hv % 3], (int)n, prompt);
}

static jv
safe4(void)
{
	jv o = jv_object();
	static const char *const cat[] = {
		"hate", "self_harm", "sexual", "violence"
	};
	int i;

	for (i = 0; i < 4; i++)
		o = jv_object_set(o, jv_string(cat[i]), JV_OBJECT(
		    jv_string("filtered"), jv_false(),
		    jv_string("severity"), jv_string("safe")));
	return o;
}

static jv
prompt_filters(void)
{
	jv o = safe4();

	o = jv_object_set(o, jv_string("profanity"), JV_OBJECT(
	    jv_string("detected"), jv_false(), jv_string("filtered"),
	    jv_false()));
	o = jv_object_set(o, jv_string("jailbreak"), JV_OBJECT(
	    jv_string("detected"), jv_false(), jv_string("filtered"),
	    jv_false()));
	o = jv_object_set(o, jv_string("custom_blocklists"), JV_OBJECT(
	    jv_string("details"), jv_array(), jv_string("filtered"),
	    jv_false()));
	return o;
}

/*
 * Output tokens per image.  gpt-image-2 and later: OpenAI's prices at
 * 1024x1024 (low 200, medium 1,767, high 7,033; xhigh and max are our
 * estimates) scaled with the pixel area.  Else OpenAI's gpt-image-1 table.
 */
static long
image_tokens(const struct dalle_model *m, const char *quality, int w, int h)
{
	static const struct {
		const char *quality;
		double tokens;
	} gpt2[] = {
		{ "low", 200 }, { "medium", 1767 }, { "high", 7033 },
		{ "xhigh", 10550 }, { "max", 14066 }
	};
	size_t i;
	long base;

	if (m->family == DALLE_FAMILY_GPTIMAGE2) {
		for (i = 0; i + 1 < sizeof(gpt2) / sizeof(gpt2[0]); i++)
			if (strcmp(quality, gpt2[i].quality) == 0)
				break;
		if (strcmp(quality, gpt2[i].quality) != 0)
			i = 1;
		return (long)(gpt2[i].tokens * w * h / (1024.0 * 1024) + 0.5);
	}

	if (strcmp(quality, "low") == 0)
		base = 272;
	else if (strcmp(quality, "high") == 0)
		base = 4160;
	else
		base = 1056;
	return w == h ? base : base * 3 / 2;
}

static void
ask_read(struct ask *a, const struct dalle_model *m, jv body)
{
	long v;

	a->m = m;
	a->gpt = m->family == DALLE_FAMILY_GPTIMAGE ||
	    m->family == DALLE_FAMILY_GPTIMAGE2;
	a->prompt = str_or(body, "prompt", "");
	a->n = dalle_record_long(body, "n", &v) == 0 ? (int)v : 1;
	a->size = str_or(body, "size", m->default_size);
	size_parse(a->size, &a->w, &a->h);
	a->fmt = a->gpt ? str_or(body, "output_format", "png") : "png";
	a->rf = a->gpt ? "b64_json" : str_or(body, "response_format", "url");
	a->quality = str_or(body, "quality", a->gpt ? "auto" : "standard");
	if (strcmp(a->quality, "auto") == 0)
		a->quality = "medium";
	a->style = str_or(body, "style", "vivid");
	a->transparent = a->gpt &&
	    strcmp(str_or(body, "background", "auto"), "transparent") == 0;
	a->comp = dalle_record_long(body, "output_compression", &v) == 0 ?
	    (int)v : 100;
	a->in_image_tokens = 0;
}

/* gpt-image's extra fields: background, format, quality, size, usage. */
static jv
gpt_fields(jv res, const struct ask *a)
{
	long outtok, texttok;

	texttok = (long)(strlen(a->prompt) + 3) / 4;
	if (texttok < 1)
		texttok = 1;
	outtok = image_tokens(a->m, a->quality, a->w, a->h) * a->n;
	res = jv_object_set(res, jv_string("background"),
	    jv_string(a->transparent ? "transparent" : "opaque"));
	res = jv_object_set(res, jv_string("output_format"),
	    jv_string(a->fmt));
	res = jv_object_set(res, jv_string("quality"), jv_string(a->quality));
	res = jv_object_set(res, jv_string("size"), jv_string(
	    strcmp(a->size, "auto") == 0 ? "1024x1024" : a->size));
	return jv_object_set(res, jv_string("usage"), JV_OBJECT(
	    jv_string("input_tokens"), jv_number(texttok +
	    a->in_image_tokens),
	    jv_string("input_tokens_details"), JV_OBJECT(
	    jv_string("image_tokens"), jv_number(a->in_image_tokens),
	    jv_string("text_tokens"), jv_number(texttok)),
	    jv_string("output_tokens"), jv_number(outtok),
	    jv_string("output_tokens_details"), JV_OBJECT(
	    jv_string("image_tokens"), jv_number(outtok),
	    jv_string("text_tokens"), jv_number(0)),
	    jv_string("total_tokens"), jv_number(texttok +
	    a->in_image_tokens + outtok)));
}

/* Image i as {"url"}, or as {"b64_json":""} with *c the picture that
 * reply_images puts there; jv_invalid() when unrenderable. */
static jv
image_item(const struct ask *a, int i, const char *base, const char *id,
    int64_t now, struct cent **c, struct edit_src *src)
{
	char *s;
	jv item;

	if (strcmp(a->rf, "url") == 0) {
		s = blob_url(base, id, i, a->fmt, now + opt.url_ttl);
		item = JV_OBJECT(jv_string("url"), jv_string(s));
		free(s);
		return item;
	}
	*c = src != NULL ? edit_render(src, a, i) : cache_get(a->prompt, i,
	    a->w, a->h, a->fmt, a->comp, a->transparent);
	if (*c == NULL)
		return jv_invalid();
	return JV_OBJECT(jv_string("b64_json"), jv_string(""));
}

/* The answer to a checked body.  Consumes body. */
enum MHD_Result
generate(struct req *rq, const struct dalle_model *m, jv body,
    enum flavour fl, struct edit_src *src)
{
	struct ask a;
	struct cent **img;
	enum MHD_Result ret;
	jv res, data, item;
	char id[37], *base, *rp;
	int64_t now = dalle_time();
	int i, nimg = 0, partials;

	ask_read(&a, m, body);
	if (src != NULL)
		edit_ask(src, &a);
	partials = stream_partials(body);
	base = base_url(rq);
	uuid_new(id);
	if (strcmp(a.rf, "url") == 0)
		blob_add(id, a.prompt, a.w, a.h, a.n, a.transparent);
	img = dalle_xcalloc(a.n > 0 ? (size_t)a.n : 1, sizeof(*img));
	data = jv_array();
	for (i = 0; i < a.n; i++) {
		item = image_item(&a, i, base, id, now, &img[nimg], src);
		if (img[nimg] != NULL)
			nimg++;
		if (!jv_is_valid(item)) {
			jv_free(item);
			jv_free(data);
			res = jv_invalid();
			goto out;
		}
		if (m->family == DALLE_FAMILY_DALLE3) {
			rp = revised_prompt(a.prompt, a.style);
			item = jv_object_set(item, jv_string("revised_prompt"),
			    jv_string(rp));
			free(rp);
		}
		if (fl != FL_OPENAI) {
			item = jv_object_set(item,
			    jv_string("content_filter_results"), safe4());
			item = jv_object_set(item,
			    jv_string("prompt_filter_results"),
			    prompt_filters());
		}
		data = jv_array_append(data, item);
	}
	res = JV_OBJECT(jv_string("created"), jv_number((double)now),
	    jv_string("data"), data);
	if (a.gpt)
		res = gpt_fields(res, &a);
	stats_add(&st.generations, 1);
	stats_add(&st.images, (uint64_t)a.n);
out:
	free(base);
	jv_free(body);
	if (jv_is_valid(res) && partials >= 0)
		ret = stream_reply(rq, src ? "image_edit" : "image_generation",
		    res, img, nimg,
		    partials);
	else if (jv_is_valid(res))
		ret = reply_images(rq, res, img, nimg);
	else {
		jv_free(res);
		ret = reply_error(rq, E_RENDER);
	}
	for (i = 0; i < nimg; i++)
		cache_release(img[i]);
	free(img);
	return ret;
}

static const struct dalle_model *
deployment_model(const char *name)
{
	size_t i;

	for (i = opt.ndepl; i-- > 0;)
		if (strcmp(opt.depl[i].name, name) == 0)
			return opt.depl[i].model;
	return NULL;
}

/* Checks before the body: the version, the key, the deployment.  1 when
 * answered; *m gets the deployment's model on the Azure route. */
int
precheck(struct req *rq, const char *deployment, enum flavour fl,
    const struct dalle_model **m, enum MHD_Result *ret)
{
	const char *version = query(rq, "api-version");
	long vd = 0;

	if (fl == FL_AZURE && (vd = version_date(version)) < 20231201) {
		*ret = reply_error(rq, E_NOT_FOUND, rq->method, rq->path);
		return 1;
	}
	if (fl == FL_AZURE_V1 && version != NULL &&
	    strcmp(version, "preview") != 0 && strcmp(version, "latest") != 0) {
		*ret = reply_error(rq, E_NOT_FOUND, rq->method, rq->path);
		return 1;
	}
	if (auth_refused(rq, ret))
		return 1;
	if (fl != FL_AZURE)
		return 0;
	if ((*m = deployment_model(deployment)) == NULL) {
		*ret = reply_error(rq, E_NO_DEPLOYMENT);
		return 1;
	}
	if ((*m)->family == DALLE_FAMILY_DALLE2 && vd < 20240501) {
		*ret = reply_error(rq, E_DALLE2_VERSION);
		return 1;
	}
	return 0;
}

/* The model a v1 or OpenAI body names; NULL when answered. */
const struct dalle_model *
body_model(struct req *rq, jv body, enum flavour fl, enum MHD_Result *ret)
{
	const struct dalle_model *m = NULL;
	const char *name;

	name = str_or(body, "model", fl == FL_OPENAI ? "dall-e-2" : NULL);
	if (name == NULL) {
		*ret = reply_error(rq, E_NO_MODEL_PARAM);
		return NULL;
	}
	if (fl == FL_AZURE_V1)
		m = deployment_model(name);
	if (m == NULL)
		m = dalle_model_find(name);
	if (m == NULL)
		*ret = fl == FL_AZURE_V1 ? reply_error(rq, E_NO_DEPLOYMENT) :
		    reply_error(rq, E_NO_MODEL, name);
	return m;
}

/* Checks of a body against the model: 1 when answered 400. */
static int
body_refused(struct req *rq, const struct dalle_model *m, jv body,
    enum flavour fl, enum MHD_Result *ret)
{
	struct dalle_model_err e;
	enum dalle_provider p = fl == FL_OPENAI ? DALLE_PROVIDER_OPENAI :
	    DALLE_PROVIDER_AZURE;

	if (models_retired(rq, m, p, ret))
		return 1;
	if (dalle_model_check(m, body, p, &e) != 0)
		*ret = reply_invalid(rq, &e);
	else if (strcmp(str_or(body, "output_format", "png"), "webp") == 0)
		*ret = reply_error(rq, E_WEBP);
	else if (blocked_term(str_or(body, "prompt", "")) != NULL)
		*ret = reply_content_policy(rq);
	else
		return 0;
	return 1;
}

int
body_checked(struct req *rq, jv body, enum flavour fl,
    const struct dalle_model **m, enum MHD_Result *ret)
{
	rq->delay_ms = latency_ms();
	if (fl != FL_AZURE)
		*m = body_model(rq, body, fl, ret);
	if (*m == NULL || body_refused(rq, *m, body, fl, ret)) {
		jv_free(body);
		return 1;
	}
	return 0;
}

jv
generate_one(const struct dalle_model *m, jv body, struct cent **c)
{
	struct ask a;
	char *rp;
	jv res;

	ask_read(&a, m, body);
	a.n = 1;
	*c = cache_get(a.prompt, 0, a.w, a.h, a.fmt, a.comp, a.transparent);
	if (*c == NULL)
		return jv_invalid();
	rp = revised_prompt(a.prompt, a.style);
	res = jv_object_set(jv_object(), jv_string("revised_prompt"),
	    jv_string(rp));
	free(rp);
	stats_add(&st.generations, 1);
	stats_add(&st.images, 1);
	return gpt_fields(res, &a);
}

enum MHD_Result
generate_reply(struct req *rq, const char *deployment, enum flavour fl)
{
	const struct dalle_model *m = NULL;
	enum MHD_Result ret;
	jv body;

	if (precheck(rq, deployment, fl, &m, &ret) || fault(rq, &ret) ||
	    quota_take(rq, query(rq, "api-version"), 1, &ret) ||
	    reply_parse_body(rq, &body, &ret) ||
	    body_checked(rq, body, fl, &m, &ret))
		return ret;
	return generate(rq, m, body, fl, NULL);
}
