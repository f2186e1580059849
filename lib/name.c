/*
 * name.c: dalle-fetch's name template: {name} {i} {id} {hash} {ext} and
 * {FIELD}, each value from the record one path component, never "..", a
 * hidden file or a slash.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "name.h"
#include "record.h"
#include "util.h"

/* A value from a record made safe as one path component. */
static void
add_component(struct dalle_buf *b, const char *s)
{
	size_t start = b->len;

	for (; *s; s++)
		dalle_buf_add(b, *s == '/' || (unsigned char)*s < 32 ? "_" : s,
		    1);
	if (b->len == start)
		dalle_buf_adds(b, "_");
	else if (b->p[start] == '.')
		b->p[start] = '_';      /* no "..", no hidden files */
}

static char *
field_text(const struct dalle_big *big, jv rec, const char *key)
{
	jv v = dalle_big_unlift(big, dalle_record_get(rec, key));
	char *s = NULL;

	if (jv_get_kind(v) == JV_KIND_STRING && jv_string_length_bytes(
	    jv_copy(v)) > 0)
		s = dalle_xstrdup(jv_string_value(v));
	else if (jv_get_kind(v) == JV_KIND_NUMBER)
		s = dalle_xasprintf("%.17g", jv_number_value(v));
	jv_free(v);
	return s;
}

/*
 * {id}: the operation id, else a hash of this generation's images as the
 * record holds them, each one's whole URL or base64 data (two identical
 * requests draw two pictures, so the request hash would not tell them
 * apart).  {hash}: the request's hash, else that same hash.
 */
static char *
record_id(const struct dalle_big *big, jv rec, char **datahash,
    int want_hash)
{
	jv o = dalle_record_get(rec, want_hash ? "request" : "operation");
	char *s = field_text(big, o, want_hash ? "hash" : "id");
	const char *v;
	uint64_t h = 0;
	size_t len;
	int i, n;
	jv d, it;

	jv_free(o);
	if (s != NULL)
		return s;
	if (*datahash != NULL)
		return dalle_xstrdup(*datahash);
	d = dalle_record_get(rec, "data");
	n = jv_get_kind(d) == JV_KIND_ARRAY ? jv_array_length(jv_copy(d)) : 0;
	for (i = 0; i < n; i++) {
		it = jv_array_get(jv_copy(d), i);
		/* A URL as ever; megabytes of base64 a word at a time. */
		if ((v = dalle_big_str(big, it, "url", &len)) != NULL)
			h = dalle_hash(v, len, h);
		else if ((v = dalle_big_str(big, it, "b64_json", &len)) !=
		    NULL)
			h = dalle_hash_words(v, len, h);
		jv_free(it);
	}
	jv_free(d);
	*datahash = dalle_xasprintf("%012llx", (unsigned long long)(h &
	    0xffffffffffffULL));
	return dalle_xstrdup(*datahash);
}

char *
dalle_name_expand(const char *dir, const char *tmpl,
    const struct dalle_big *big, jv rec, char **datahash, int index,
    int multi, const char *ext, char **why)
{
	const char *t = tmpl ? tmpl : "{name}.{ext}", *p, *e;
	struct dalle_buf b = { 0 };
	char key[64], num[16], *v, *slash, *dot;
	size_t at;

	if (strcmp(dir, ".") != 0 && t[0] != '/') {
		dalle_buf_adds(&b, dir);
		if (b.p[b.len - 1] != '/')
			dalle_buf_adds(&b, "/");
	}
	for (p = t; *p; p++) {
		if (*p != '{' || (e = strchr(p, '}')) == NULL ||
		    (size_t)(e - p - 1) >= sizeof(key)) {
			dalle_buf_add(&b, p, 1);
			continue;
		}
		memcpy(key, p + 1, (size_t)(e - p - 1));
		key[e - p - 1] = '\0';
		v = NULL;
		if (strcmp(key, "i") == 0)
			v = dalle_xasprintf("%d", index);
		else if (strcmp(key, "ext") == 0)
			v = dalle_xstrdup(ext);
		else if (strcmp(key, "id") == 0)
			v = record_id(big, rec, datahash, 0);
		else if (strcmp(key, "hash") == 0)
			v = record_id(big, rec, datahash, 1);
		else if ((v = field_text(big, rec, key)) == NULL) {
			if (strcmp(key, "name") != 0) {
				*why = dalle_xasprintf("-o: the record has no "
				    "\"%s\" for {%s}", key, key);
				dalle_buf_free(&b);
				return NULL;
			}
			v = record_id(big, rec, datahash, 0);
		}
		add_component(&b, v);
		free(v);
		p = e;
	}
	if (multi && strstr(t, "{i}") == NULL) {
		slash = strrchr(b.p, '/');
		dot = strrchr(slash ? slash + 1 : b.p, '.');
		if (dot == NULL || dot == (slash ? slash + 1 : b.p))
			at = b.len;
		else
			at = (size_t)(dot - b.p);
		snprintf(num, sizeof(num), "-%d", index);
		dalle_buf_add(&b, num, strlen(num));    /* make room */
		memmove(b.p + at + strlen(num), b.p + at,
		    b.len - strlen(num) - at);
		memcpy(b.p + at, num, strlen(num));
	}
	return b.p;
}
