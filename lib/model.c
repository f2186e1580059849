/*
 * model.c: the request rules of each image model, one table for the whole
 * project.  dalle-submit checks a request here before spending it and
 * dalle-serve answers its 400s from the same checks, so the two agree.
 * Messages follow the wording of the real service.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
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

static const struct dalle_model models[] = {
	{ "dall-e-2", DALLE_FAMILY_DALLE2, 10, 1000, dalle2_sizes,
	    dalle2_qualities, NULL, url_formats, NULL, NULL, "1024x1024" },
	{ "dall-e-3", DALLE_FAMILY_DALLE3, 1, 4000, dalle3_sizes,
	    dalle3_qualities, dalle3_styles, url_formats, NULL, NULL,
	    "1024x1024" },
	{ "gpt-image-1", DALLE_FAMILY_GPTIMAGE, 10, 32000, gpt_sizes,
	    gpt_qualities, NULL, NULL, gpt_formats, gpt_backgrounds, "auto" },
	{ "gpt-image-1-mini", DALLE_FAMILY_GPTIMAGE, 10, 32000, gpt_sizes,
	    gpt_qualities, NULL, NULL, gpt_formats, gpt_backgrounds, "auto" },
	{ "gpt-image-1.5", DALLE_FAMILY_GPTIMAGE, 10, 32000, gpt_sizes,
	    gpt_qualities, NULL, NULL, gpt_formats, gpt_backgrounds, "auto" },
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
	for (i = 0; i < sizeof(models) / sizeof(models[0]); i++)
		if (strcasecmp(name, models[i].name) == 0)
			return &models[i];
	return NULL;
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
check_prompt(const struct dalle_model *m, jv body, struct dalle_model_err *e)
{
	jv v;
	size_t len, chars, i;
	const unsigned char *s;
	int rc = 0;

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
	else if (chars > (size_t)m->max_prompt)
		rc = fail(e, "prompt", "string_above_max_length",
		    "Invalid 'prompt': string too long. Expected a string "
		    "with maximum length %d, but got a string with length "
		    "%zu instead.", m->max_prompt, chars);
out:
	jv_free(v);
	return rc;
}

int
dalle_model_check(const struct dalle_model *m, jv body,
    struct dalle_model_err *e)
{
	jv v;
	int bad;

	e->param = NULL;
	e->code = NULL;
	e->message[0] = '\0';
	if (jv_get_kind(body) != JV_KIND_OBJECT)
		return fail(e, NULL, "invalid_type",
		    "The request body must be a JSON object.");
	if (check_prompt(m, body, e) != 0)
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
	if (check_enum(body, "size", m->sizes, "invalid_size", e) != 0 ||
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
	v = jv_object_get(jv_copy(body), jv_string("user"));
	bad = jv_is_valid(v) && jv_get_kind(v) != JV_KIND_NULL &&
	    jv_get_kind(v) != JV_KIND_STRING;
	jv_free(v);
	if (bad)
		return fail(e, "user", "invalid_type", "Invalid type for "
		    "'user': expected a string.");
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
