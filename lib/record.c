/*
 * record.c: records, one JSON object per line: getters that borrow, the
 * error object every failed record carries, and the exit status of each
 * error kind.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "big.h"
#include "record.h"
#include "util.h"

int
dalle_record_parse(struct dalle_big *big, const char *s, size_t n,
    jv *rec, char **why)
{
	jv v = dalle_big_parse(big, s, n), msg;

	*rec = jv_null();
	if (!jv_is_valid(v)) {
		msg = jv_invalid_get_msg(v);
		*why = dalle_xasprintf("invalid JSON: %s",
		    jv_get_kind(msg) == JV_KIND_STRING ? jv_string_value(msg) :
		    "parse error");
		jv_free(msg);
		return DALLE_RECORD_BAD;
	}
	if (jv_get_kind(v) != JV_KIND_OBJECT) {
		jv_free(v);
		*why = dalle_xstrdup("not a JSON object");
		return DALLE_RECORD_BAD;
	}
	*rec = v;
	return dalle_record_is_error(v) ? DALLE_RECORD_ERROR : DALLE_RECORD_OK;
}

const char *
dalle_record_str(jv obj, const char *key)
{
	return dalle_record_strn(obj, key, NULL);
}

const char *
dalle_record_strn(jv obj, const char *key, size_t *len)
{
	jv v;
	const char *s;

	if (jv_get_kind(obj) != JV_KIND_OBJECT)
		return NULL;
	v = jv_object_get(jv_copy(obj), jv_string(key));
	if (jv_get_kind(v) != JV_KIND_STRING) {
		jv_free(v);
		return NULL;
	}
	/* The string lives on inside obj, which the caller still holds. */
	s = jv_string_value(v);
	if (len != NULL)
		*len = (size_t)jv_string_length_bytes(jv_copy(v));
	jv_free(v);
	return s;
}

int
dalle_record_long(jv obj, const char *key, long *out)
{
	jv v;
	double d;

	if (jv_get_kind(obj) != JV_KIND_OBJECT)
		return -1;
	v = jv_object_get(jv_copy(obj), jv_string(key));
	if (jv_get_kind(v) != JV_KIND_NUMBER) {
		jv_free(v);
		return -1;
	}
	d = jv_number_value(v);
	jv_free(v);
	/* Whole, and within a long (converting a larger double is undefined). */
	if (!(d >= -9.2e18 && d <= 9.2e18) || d != (double)(long)d)
		return -1;
	*out = (long)d;
	return 0;
}

jv
dalle_record_get(jv obj, const char *key)
{
	jv v;

	if (jv_get_kind(obj) != JV_KIND_OBJECT)
		return jv_null();
	v = jv_object_get(jv_copy(obj), jv_string(key));
	if (!jv_is_valid(v)) {
		jv_free(v);
		return jv_null();
	}
	return v;
}

jv
dalle_record_error(const char *stage, const char *kind, long http,
    const char *code, const char *message, int retryable, int attempts)
{
	jv e = jv_object();

	e = jv_object_set(e, jv_string("stage"), jv_string(stage));
	e = jv_object_set(e, jv_string("kind"), jv_string(kind));
	e = jv_object_set(e, jv_string("status"),
	    http ? jv_number((double)http) : jv_null());
	e = jv_object_set(e, jv_string("code"),
	    code ? jv_string(code) : jv_null());
	e = jv_object_set(e, jv_string("message"),
	    jv_string(message ? message : kind));
	e = jv_object_set(e, jv_string("retryable"),
	    retryable ? jv_true() : jv_false());
	e = jv_object_set(e, jv_string("attempts"), jv_number(attempts));
	return e;
}

jv
dalle_record_errorf(const char *stage, const char *kind, const char *fmt,
    ...)
{
	va_list ap;
	char *m;
	int n;
	jv e;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	m = dalle_xmalloc(n > 0 ? (size_t)n + 1 : 1);
	va_start(ap, fmt);
	vsnprintf(m, n > 0 ? (size_t)n + 1 : 1, fmt, ap);
	va_end(ap);
	e = dalle_record_error(stage, kind, 0, NULL, m, 0, 0);
	free(m);
	return e;
}

static const struct {
	const char *kind;
	int code;
} kind_exit[] = {
	{ DALLE_KIND_INPUT, DALLE_EX_DATAERR },
	{ DALLE_KIND_INVALID, DALLE_EX_DATAERR },
	{ DALLE_KIND_RETIRED, DALLE_EX_DATAERR },
	{ DALLE_KIND_CONTENT_FILTER, DALLE_EX_FILTERED },
	{ DALLE_KIND_AUTH, DALLE_EX_NOPERM },
	{ DALLE_KIND_CONFIG, DALLE_EX_CONFIG },
	{ DALLE_KIND_RATE, DALLE_EX_UNAVAILABLE },
	{ DALLE_KIND_SERVER, DALLE_EX_UNAVAILABLE },
	{ DALLE_KIND_NETWORK, DALLE_EX_UNAVAILABLE },
	{ DALLE_KIND_TIMEOUT, DALLE_EX_TEMPFAIL },
	{ DALLE_KIND_INTERRUPTED, DALLE_EX_TEMPFAIL },
	{ DALLE_KIND_PROTOCOL, DALLE_EX_PROTOCOL },
	{ DALLE_KIND_IO, DALLE_EX_CANTCREAT },
};

int
dalle_record_exit(const char *kind)
{
	size_t i;

	if (kind == NULL)
		return DALLE_EX_SOFTWARE;
	for (i = 0; i < sizeof(kind_exit) / sizeof(kind_exit[0]); i++)
		if (strcmp(kind, kind_exit[i].kind) == 0)
			return kind_exit[i].code;
	return DALLE_EX_FAILED;   /* not_found, expired, failed */
}

int
dalle_record_is_error(jv rec)
{
	jv e = dalle_record_get(rec, "error");
	int r = jv_get_kind(e) == JV_KIND_OBJECT;

	jv_free(e);
	return r;
}

/* What the service says it made, as strings whatever their value: with
 * size "auto" it may pick a size no rule names. */
jv
dalle_record_made(jv rec, jv body)
{
	static const char *const keys[] = {
		"size", "quality", "output_format", "background", NULL
	};
	size_t i;
	jv v;

	for (i = 0; keys[i] != NULL; i++) {
		v = dalle_record_get(body, keys[i]);
		if (jv_get_kind(v) == JV_KIND_NULL)
			jv_free(v);
		else if (jv_get_kind(v) == JV_KIND_STRING)
			rec = jv_object_set(rec, jv_string(keys[i]), v);
		else
			rec = jv_object_set(rec, jv_string(keys[i]),
			    jv_dump_string(v, 0));
	}
	return rec;
}
