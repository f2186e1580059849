/*
 * model.c: the request rules of each image model, one table for the whole
 * project.  dalle-submit checks a request here before spending it and
 * dalle-serve answers its 400s from the same checks, so the two agree.
 * Messages follow the wording of the real service.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "model.h"
#include "record.h"
#include "util.h"

static const char *const dalle2_sizes[] = {
	"256x256", "512x512", "1024x1024", NULL
};
static const char *const dalle3_sizes[] = {
	"1024x1024", "1792x1024", "1024x1792", NULL
};
static const char *const gpt_sizes[] = {
	"1024x1024", "1024x1536", "1536x1024", "auto", NULL
};
/* OpenAI takes quality "standard" for dall-e-2 and ignores it. */
static const char *const dalle2_qualities[] = { "standard", NULL };
static const char *const dalle3_qualities[] = { "standard", "hd", NULL };
static const char *const gpt_qualities[] = {
	"low", "medium", "high", "auto", NULL
};
static const char *const dalle3_styles[] = { "vivid", "natural", NULL };
static const char *const url_formats[] = { "url", "b64_json", NULL };
static const char *const gpt_formats[] = { "png", "jpeg", "webp", NULL };
static const char *const gpt_backgrounds[] = {
	"transparent", "opaque", "auto", NULL
};

static const char *const gpt25_qualities[] = {
	"low", "medium", "high", "auto", "xhigh", "max", NULL
};
static const char *const complexities[] = { "low", "medium", "high", NULL };
static const char *const moderations[] = { "low", "auto", NULL };
static const char *const fidelities[] = { "high", "low", NULL };

/*
 * Each family of rules as the fields of struct dalle_model from max_n to
 * input_fidelities, named by lib/models.def's rules column.
 */
#define RULES_DALLE2 10, 1000, dalle2_sizes, dalle2_qualities, NULL, \
	url_formats, NULL, NULL, "1024x1024", 0, 1000, NULL, NULL, NULL
#define RULES_DALLE3 1, 4000, dalle3_sizes, dalle3_qualities, \
	dalle3_styles, url_formats, NULL, NULL, "1024x1024", 0, 4000, NULL, \
	NULL, NULL
/* Azure allows 4,000 characters of prompt for the gpt-image-1 family. */
#define RULES_GPT1 10, 32000, gpt_sizes, gpt_qualities, NULL, NULL, \
	gpt_formats, gpt_backgrounds, "auto", 0, 4000, NULL, moderations, \
	fidelities
#define RULES_GPT2 10, 32000, gpt_sizes, gpt_qualities, NULL, NULL, \
	gpt_formats, gpt_backgrounds, "auto", 1, 32000, NULL, moderations, NULL
#define RULES_GPT25 10, 32000, gpt_sizes, gpt25_qualities, NULL, NULL, \
	gpt_formats, gpt_backgrounds, "auto", 1, 32000, NULL, moderations, NULL
#define RULES_GPT26 10, 32000, gpt_sizes, gpt25_qualities, NULL, NULL, \
	gpt_formats, gpt_backgrounds, "auto", 1, 32000, complexities, \
	moderations, NULL

static const struct dalle_model models[] = {
#define MODEL(name, family, rules, released, openai, azure, repl) \
	{ name, DALLE_FAMILY_##family, RULES_##rules, released, \
	    { openai, azure }, repl },
#include "models.def"
#undef MODEL
};
#define NMODELS (sizeof(models) / sizeof(models[0]))

static const char *const family_names[] = {
	[DALLE_FAMILY_DALLE2] = "dall-e-2",
	[DALLE_FAMILY_DALLE3] = "dall-e-3",
	[DALLE_FAMILY_GPTIMAGE] = "gpt-image-1",
	[DALLE_FAMILY_GPTIMAGE2] = "gpt-image-2",
};

static const struct {
	const char *alias, *name;
} aliases[] = {
	{ "dalle3", "dall-e-3" },
	{ "dalle-3", "dall-e-3" },
	{ "dalle2", "dall-e-2" },
	{ "dalle-2", "dall-e-2" },
};

const struct dalle_model *
dalle_model_find(const char *name)
{
	size_t i;

	if (name == NULL)
		return NULL;
	for (i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
		if (strcasecmp(name, aliases[i].alias) == 0) {
			name = aliases[i].name;
			break;
		}
	for (i = 0; i < NMODELS; i++)
		if (strcasecmp(name, models[i].name) == 0)
			return &models[i];
	return NULL;
}

size_t
dalle_model_count(void)
{
	return NMODELS;
}

const struct dalle_model *
dalle_model_at(size_t i)
{
	return i < NMODELS ? &models[i] : NULL;
}

const char *
dalle_model_family(const struct dalle_model *m)
{
	return family_names[m->family];
}

static int
fail(struct dalle_model_err *e, const char *param, const char *code,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int
fail(struct dalle_model_err *e, const char *param, const char *code,
    const char *fmt, ...)
{
	va_list ap;

	e->param = param;
	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
	return -1;
}

static int
in_list(const char *const *list, const char *s)
{
	for (; *list != NULL; list++)
		if (strcmp(*list, s) == 0)
			return 1;
	return 0;
}

/* "'a', 'b' and 'c'" into buf, as OpenAI lists supported values. */
static void
list_words(const char *const *list, char *buf, size_t size)
{
	size_t n, i, len;

	for (n = 0; list[n] != NULL; n++)
		;
	buf[0] = '\0';
	for (i = 0; i < n; i++) {
		len = strlen(buf);
		snprintf(buf + len, size - len, "%s'%s'",
		    i == 0 ? "" : i + 1 == n ? " and " : ", ", list[i]);
	}
}

/* The JSON type name OpenAI uses in its "Invalid type" messages. */
static const char *
type_name(jv v)
{
	double d;

	switch (jv_get_kind(v)) {
	case JV_KIND_NUMBER:
		d = jv_number_value(v);
		return d == floor(d) ? "an integer" : "a decimal";
	case JV_KIND_STRING:
		return "a string";
	case JV_KIND_TRUE:
	case JV_KIND_FALSE:
		return "a boolean";
	case JV_KIND_ARRAY:
		return "an array";
	case JV_KIND_OBJECT:
		return "an object";
	default:
		return "null";
	}
}

/*
 * Check an optional string enum field.  list NULL: the model does not take
 * the field.  Returns 0, or -1 with *e set.  Borrows body.
 */
static int
check_enum(jv body, const char *key, const char *const *list,
    const char *badcode, struct dalle_model_err *e)
{
	jv v;
	char words[160];
	int rc = 0;

	v = jv_object_get(jv_copy(body), jv_string(key));
	if (!jv_is_valid(v) || jv_get_kind(v) == JV_KIND_NULL)
		goto out;
	if (list == NULL) {
		rc = fail(e, key, "unknown_parameter",
		    "Unknown parameter: '%s'.", key);
		goto out;
	}
	if (jv_get_kind(v) != JV_KIND_STRING) {
		rc = fail(e, key, "invalid_type", "Invalid type for '%s': "
		    "expected one of the supported values, but got %s "
		    "instead.", key, type_name(v));
		goto out;
	}
	if (in_list(list, jv_string_value(v)))
		goto out;
	if (strcmp(badcode, "invalid_size") == 0) {
		rc = fail(e, key, badcode,
		    "The size is not supported by this model.");
		goto out;
	}
	list_words(list, words, sizeof(words));
	rc = fail(e, key, badcode, "Invalid value: '%.60s'. Supported "
	    "values are: %s.", jv_string_value(v), words);
out:
	jv_free(v);
	return rc;
}

/* Optional integer in [min, max]; Borrows body. */
static int
check_int(jv body, const char *key, int accepted, int min, int max,
    struct dalle_model_err *e)
{
	jv v;
	double d;
	int rc = 0;

	v = jv_object_get(jv_copy(body), jv_string(key));
	if (!jv_is_valid(v) || jv_get_kind(v) == JV_KIND_NULL)
		goto out;
	if (!accepted) {
		rc = fail(e, key, "unknown_parameter",
		    "Unknown parameter: '%s'.", key);
		goto out;
	}
	d = jv_get_kind(v) == JV_KIND_NUMBER ? jv_number_value(v) : 0.5;
	if (d != floor(d)) {
		rc = fail(e, key, "invalid_type", "Invalid type for '%s': "
		    "expected an integer, but got %s instead.", key,
		    type_name(v));
	} else if (d < min) {
		rc = fail(e, key, "integer_below_min_value", "Invalid '%s': "
		    "integer below minimum value. Expected a value >= %d, "
		    "but got %.0f instead.", key, min, d);
	} else if (d > max) {
		rc = fail(e, key, "integer_above_max_value", "Invalid '%s': "
		    "integer above maximum value. Expected a value <= %d, "
		    "but got %.0f instead.", key, max, d);
	}
out:
	jv_free(v);
	return rc;
}

static int
check_prompt(const struct dalle_model *m, jv body, enum dalle_provider p,
    struct dalle_model_err *e)
{
	jv v;
	size_t len, chars, i;
	const unsigned char *s;
	int rc = 0, max;

	v = jv_object_get(jv_copy(body), jv_string("prompt"));
	if (!jv_is_valid(v) || jv_get_kind(v) == JV_KIND_NULL) {
		rc = fail(e, "prompt", "missing_required_parameter",
		    "Missing required parameter: 'prompt'.");
		goto out;
	}
	if (jv_get_kind(v) != JV_KIND_STRING) {
		rc = fail(e, "prompt", "invalid_type", "Invalid type for "
		    "'prompt': expected a string, but got %s instead.",
		    type_name(v));
		goto out;
	}
	len = (size_t)jv_string_length_bytes(jv_copy(v));
	s = (const unsigned char *)jv_string_value(v);
	/* Count characters, not bytes: UTF-8 continuation bytes don't. */
	for (chars = 0, i = 0; i < len; i++)
		if ((s[i] & 0xC0) != 0x80)
			chars++;
	if (chars == 0)
		rc = fail(e, "prompt", "empty_string", "Invalid 'prompt': "
		    "empty string. Expected a string with minimum length 1, "
		    "but got an empty string instead.");
	max = p == DALLE_PROVIDER_AZURE ? m->max_prompt_azure : m->max_prompt;
	if (chars > 0 && chars > (size_t)max)
		rc = fail(e, "prompt", "string_above_max_length",
		    "Invalid 'prompt': string too long. Expected a string "
		    "with maximum length %d, but got a string with length "
		    "%zu instead.", max, chars);
out:
	jv_free(v);
	return rc;
}

/* "WxH" with two plain decimal numbers: 0, else -1. */
static int
parse_size(const char *s, long *w, long *h)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	*w = strtol(s, &end, 10);
	if (*end != 'x' || end[1] < '0' || end[1] > '9')
		return -1;
	*h = strtol(end + 1, &end, 10);
	return *end == '\0' && *w > 0 && *h > 0 ? 0 : -1;
}

/*
 * The gpt-image-2 rules: "auto", or WxH with both edges multiples of 16,
 * long:short at most 3:1, 655,360 to 8,294,400 pixels and a long edge of
 * at most 3840.  Borrows body.
 */
static int
check_free_size(jv body, struct dalle_model_err *e)
{
	jv v;
	const char *s;
	long w, h, lo, hi;
	int rc = 0;

	v = jv_object_get(jv_copy(body), jv_string("size"));
	if (!jv_is_valid(v) || jv_get_kind(v) == JV_KIND_NULL)
		goto out;
	if (jv_get_kind(v) != JV_KIND_STRING) {
		rc = fail(e, "size", "invalid_type", "Invalid type for 'size': "
		    "expected a string, but got %s instead.", type_name(v));
		goto out;
	}
	s = jv_string_value(v);
	if (strcmp(s, "auto") == 0)
		goto out;
	if (strlen(s) > 20 || parse_size(s, &w, &h) != 0) {
		rc = fail(e, "size", "invalid_size", "Invalid size '%.20s'. "
		    "Size must be 'auto' or WIDTHxHEIGHT in pixels.", s);
		goto out;
	}
	hi = w > h ? w : h;
	lo = w > h ? h : w;
	if (w % 16 != 0 || h % 16 != 0)
		rc = fail(e, "size", "invalid_size", "Invalid size '%s'. "
		    "Width and height must both be divisible by 16.", s);
	else if (hi > 3840)
		rc = fail(e, "size", "invalid_size", "Invalid size '%s'. "
		    "The longest edge must be at most 3840 pixels.", s);
	else if (hi > 3 * lo)
		rc = fail(e, "size", "invalid_size", "Invalid size '%s'. "
		    "The ratio of the longest to the shortest edge must be at "
		    "most 3:1.", s);
	else if (w * h < 655360 || w * h > 8294400)
		rc = fail(e, "size", "invalid_size", "Invalid size '%s'. "
		    "The total number of pixels must be between 655360 and "
		    "8294400.", s);
out:
	jv_free(v);
	return rc;
}

/* Is the field present (not null) in body?  Borrows body. */
static int
has_field(jv body, const char *key)
{
	jv v = jv_object_get(jv_copy(body), jv_string(key));
	int r = jv_is_valid(v) && jv_get_kind(v) != JV_KIND_NULL;

	jv_free(v);
	return r;
}

/* An optional string field of any value; Borrows body. */
static int
check_string(jv body, const char *key, struct dalle_model_err *e)
{
	jv v = jv_object_get(jv_copy(body), jv_string(key));
	int bad = jv_is_valid(v) && jv_get_kind(v) != JV_KIND_NULL &&
	    jv_get_kind(v) != JV_KIND_STRING;

	jv_free(v);
	if (bad)
		return fail(e, key, "invalid_type", "Invalid type for '%s': "
		    "expected a string.", key);
	return 0;
}

int
dalle_model_check(const struct dalle_model *m, jv body,
    enum dalle_provider p, struct dalle_model_err *e)
{
	jv v;
	int bad, gpt;

	e->param = NULL;
	e->code = NULL;
	e->message[0] = '\0';
	if (jv_get_kind(body) != JV_KIND_OBJECT)
		return fail(e, NULL, "invalid_type",
		    "The request body must be a JSON object.");
	if (check_prompt(m, body, p, e) != 0)
		return -1;
	if (m->max_n == 1) {
		v = jv_object_get(jv_copy(body), jv_string("n"));
		bad = jv_get_kind(v) == JV_KIND_NUMBER &&
		    jv_number_value(v) > 1 &&
		    jv_number_value(v) == floor(jv_number_value(v));
		jv_free(v);
		if (bad)
			return fail(e, "n", "invalid_value",
			    "You must provide n=1 for this model.");
	}
	if (check_int(body, "n", 1, 1, m->max_n, e) != 0)
		return -1;
	if (m->free_sizes && check_free_size(body, e) != 0)
		return -1;
	if (m->input_fidelities == NULL &&
	    m->family == DALLE_FAMILY_GPTIMAGE2 &&
	    has_field(body, "input_fidelity"))
		return fail(e, "input_fidelity", "unsupported_parameter",
		    "Unsupported parameter: 'input_fidelity' is not supported "
		    "with this model.");
	if ((!m->free_sizes &&
	    check_enum(body, "size", m->sizes, "invalid_size", e) != 0) ||
	    check_enum(body, "complexity", m->complexities, "invalid_value",
	    e) ||
	    check_enum(body, "moderation", m->moderations, "invalid_value",
	    e) ||
	    check_enum(body, "input_fidelity", m->input_fidelities,
	    "invalid_value", e) ||
	    check_enum(body, "quality", m->qualities, "invalid_value", e) ||
	    check_enum(body, "style", m->styles, "invalid_value", e) ||
	    check_enum(body, "response_format", m->response_formats,
	    "invalid_value", e) ||
	    check_enum(body, "output_format", m->output_formats,
	    "invalid_value", e) ||
	    check_enum(body, "background", m->backgrounds, "invalid_value",
	    e))
		return -1;
	if (check_int(body, "output_compression", m->output_formats != NULL,
	    0, 100, e) != 0)
		return -1;
	if (check_string(body, "user", e) != 0 ||
	    check_string(body, "safety_identifier", e) != 0)
		return -1;
	/* Streaming is the GPT image models' alone. */
	gpt = m->family != DALLE_FAMILY_DALLE2 &&
	    m->family != DALLE_FAMILY_DALLE3;
	if (check_int(body, "partial_images", gpt, 0, 3, e) != 0)
		return -1;
	v = jv_object_get(jv_copy(body), jv_string("stream"));
	bad = jv_is_valid(v) && jv_get_kind(v) != JV_KIND_NULL;
	if (bad && !gpt)
		bad = fail(e, "stream", "unknown_parameter",
		    "Unknown parameter: 'stream'.");
	else if (bad && jv_get_kind(v) != JV_KIND_TRUE &&
	    jv_get_kind(v) != JV_KIND_FALSE)
		bad = fail(e, "stream", "invalid_type", "Invalid type for "
		    "'stream': expected a boolean, but got %s instead.",
		    type_name(v));
	else
		bad = 0;
	jv_free(v);
	if (bad)
		return -1;
	/* A transparent background needs a format with alpha. */
	if (m->backgrounds != NULL) {
		jv bg = jv_object_get(jv_copy(body), jv_string("background"));
		jv of = jv_object_get(jv_copy(body),
		    jv_string("output_format"));

		bad = jv_get_kind(bg) == JV_KIND_STRING &&
		    jv_get_kind(of) == JV_KIND_STRING &&
		    strcmp(jv_string_value(bg), "transparent") == 0 &&
		    strcmp(jv_string_value(of), "jpeg") == 0;
		jv_free(bg);
		jv_free(of);
		if (bad)
			return fail(e, "background", "invalid_value",
			    "Transparent background is not supported for "
			    "output format 'jpeg'. Use 'png' or 'webp'.");
	}
	return 0;
}
