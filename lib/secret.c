/*
 * secret.c: the configured secrets and their redaction.  A secret in an
 * answer reaches the programs' output only through what they take from
 * answers (bodies, headers, messages), and every such text passes through
 * here first: the bodies as they arrive, records and messages as a last
 * net before they are written.
 */
#define _GNU_SOURCE             /* memmem(3) */
#include <stdlib.h>
#include <string.h>

#include "secret.h"

static char **secrets;
static size_t nsecrets;

void
dalle_secret_add(const char *s)
{
	size_t i;

	if (s == NULL || strlen(s) < DALLE_SECRET_MIN)
		return;
	for (i = 0; i < nsecrets; i++)
		if (strcmp(secrets[i], s) == 0)
			return;
	secrets = dalle_xrealloc(secrets, (nsecrets + 1) * sizeof(*secrets));
	secrets[nsecrets++] = dalle_xstrdup(s);
}

void
dalle_secret_clear(void)
{
	size_t i;

	for (i = 0; i < nsecrets; i++)
		dalle_secret_free(secrets[i]);
	free(secrets);
	secrets = NULL;
	nsecrets = 0;
}

/* The first secret at or after s, in *k; NULL if none. */
static const char *
first(const char *s, size_t n, size_t *k)
{
	const char *best = NULL, *at;
	size_t i;

	for (i = 0; i < nsecrets; i++) {
		at = memmem(s, n, secrets[i], strlen(secrets[i]));
		if (at != NULL && (best == NULL || at < best)) {
			best = at;
			*k = i;
		}
	}
	return best;
}

char *
dalle_secret_redact(const char *s, size_t n, size_t *len)
{
	struct dalle_buf b = { 0 };
	const char *at, *e;
	size_t k = 0;

	/* Nothing to search (s may be NULL then). */
	if (nsecrets == 0 || n == 0 || (at = first(s, n, &k)) == NULL)
		return NULL;
	e = s + n;
	do {
		dalle_buf_add(&b, s, (size_t)(at - s));
		dalle_buf_adds(&b, DALLE_SECRET_MARK);
		s = at + strlen(secrets[k]);
	} while ((at = first(s, (size_t)(e - s), &k)) != NULL);
	dalle_buf_add(&b, s, (size_t)(e - s));
	dalle_buf_add(&b, "", 0);
	*len = b.len;
	return b.p;
}

void
dalle_secret_redact_buf(struct dalle_buf *b)
{
	char *r;
	size_t n;

	if (b->p == NULL || (r = dalle_secret_redact(b->p, b->len, &n)) ==
	    NULL)
		return;
	explicit_bzero(b->p, b->len);
	free(b->p);
	b->p = r;
	b->len = n;
	b->cap = n + 1;
}

/* Whether a secret is in v (borrowed): its strings and keys. */
static int
in_jv(jv v)
{
	size_t k;
	int i, n, found = 0;

	switch (jv_get_kind(v)) {
	case JV_KIND_STRING:
		return first(jv_string_value(v),
		    (size_t)jv_string_length_bytes(jv_copy(v)), &k) != NULL;
	case JV_KIND_ARRAY:
		n = jv_array_length(jv_copy(v));
		for (i = 0; i < n && !found; i++) {
			jv e = jv_array_get(jv_copy(v), i);

			found = in_jv(e);
			jv_free(e);
		}
		return found;
	case JV_KIND_OBJECT:
		for (i = jv_object_iter(v); jv_object_iter_valid(v, i) &&
		    !found; i = jv_object_iter_next(v, i)) {
			jv key = jv_object_iter_key(v, i);
			jv e = jv_object_iter_value(v, i);

			found = in_jv(key) || in_jv(e);
			jv_free(key);
			jv_free(e);
		}
		return found;
	default:
		return 0;
	}
}

/* v (consumed), its strings and keys redacted, rebuilt throughout. */
static jv
redact(jv v)
{
	char *r;
	size_t n;
	int i;

	switch (jv_get_kind(v)) {
	case JV_KIND_STRING:
		r = dalle_secret_redact(jv_string_value(v),
		    (size_t)jv_string_length_bytes(jv_copy(v)), &n);
		if (r == NULL)
			return v;
		jv_free(v);
		v = jv_string_sized(r, (int)n);
		free(r);
		return v;
	case JV_KIND_ARRAY:
		for (i = 0; i < jv_array_length(jv_copy(v)); i++)
			v = jv_array_set(v, i, redact(
			    jv_array_get(jv_copy(v), i)));
		return v;
	case JV_KIND_OBJECT: {
		jv out = jv_object();

		jv_object_foreach(v, k, e)
			out = jv_object_set(out, redact(k), redact(e));
		jv_free(v);
		return out;
	}
	default:
		return v;
	}
}

jv
dalle_secret_redact_jv(jv v)
{
	/* Looked for once, first: a record is rebuilt only when it must
	 * be, and its parts are not searched again level by level. */
	if (nsecrets == 0 || !in_jv(v))
		return v;
	return redact(v);
}
