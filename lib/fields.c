/*
 * fields.c: the JSON types of the record fields a stage reads.  A field
 * of another type must be an error of its own, never read as absent: an
 * "operation" that is a string is no synchronous result to copy through,
 * an "error" that is a string no success.
 */
#include <stdlib.h>
#include <string.h>

#include "fields.h"
#include "util.h"

const char *
dalle_fields_noun(jv_kind k)
{
	switch (k) {
	case JV_KIND_OBJECT:
		return "an object";
	case JV_KIND_ARRAY:
		return "an array";
	case JV_KIND_STRING:
		return "a string";
	case JV_KIND_NUMBER:
		return "a number";
	case JV_KIND_TRUE:
	case JV_KIND_FALSE:
		return "a boolean";
	default:
		return "null";
	}
}

/* The value at path in rec (consumed), or null. */
static jv
at(jv rec, const char *path)
{
	const char *dot;
	jv v = rec;

	for (;;) {
		if (jv_get_kind(v) != JV_KIND_OBJECT) {
			jv_free(v);
			return jv_null();
		}
		dot = strchr(path, '.');
		v = jv_object_get(v, dot ? jv_string_sized(path,
		    (int)(dot - path)) : jv_string(path));
		if (!jv_is_valid(v))
			return jv_null();
		if (dot == NULL)
			return v;
		path = dot + 1;
	}
}

char *
dalle_fields_check(jv rec, const struct dalle_field *spec)
{
	jv_kind k;
	jv v;

	for (; spec->path != NULL; spec++) {
		v = at(jv_copy(rec), spec->path);
		k = jv_get_kind(v);
		jv_free(v);
		if (k == JV_KIND_FALSE)
			k = JV_KIND_TRUE;
		if (k != JV_KIND_NULL && k != spec->kind)
			return dalle_xasprintf("\"%s\" is %s, not %s",
			    spec->path, dalle_fields_noun(k),
			    dalle_fields_noun(spec->kind));
	}
	return NULL;
}
