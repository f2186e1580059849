/*
 * big.c: big strings lifted out of a record's text before jv parses it,
 * and put back, as the same bytes, when the record is written.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "big.h"
#include "record.h"

#define TAG "\0dalle:"            /* a placeholder's first bytes */
#define TAGLEN 7

/*
 * A table's id: a secret of this process's mixed with a serial number, so
 * that no placeholder of one table is taken for one of another, and no
 * string of the input for one at all.
 */
static uint64_t
new_id(void)
{
	static uint64_t secret, serial;
	uint64_t st;

	if (secret == 0) {
		if (getentropy(&secret, sizeof(secret)) == -1)
			secret = (uint64_t)time(NULL) ^
			    (uint64_t)getpid() << 32 ^
			    (uint64_t)(uintptr_t)&secret;
		secret |= 1;
	}
	st = secret + ++serial * 0x9e3779b97f4a7c15ULL;
	return dalle_rand(&st) | 1;
}

/*
 * A plain byte is printable ASCII other than a space, '!', '"', a
 * backslash or DEL: a run of them is its own JSON text, as jq prints it.
 * No text a person wrote (a prompt) is lifted: it has spaces, and its
 * length is checked.  ('!' is left out only so that one compare finds
 * the controls, the space, '!' and '"' together.)
 */
#define PLAIN(c) ((unsigned char)(c) > '"' && (unsigned char)(c) < 0x7f && \
    (c) != '\\')

/*
 * plain_end: the first byte in [p, e) that is not plain, or e.  One pass
 * that both checks a string's bytes and finds its closing quote: the
 * lifting is paid once per byte of a megabyte string, at about the speed
 * of memory (32 bytes a compare with AVX2 where the processor has it, 16
 * with SSE2, which every x86-64 has, else 8 in a word).
 */
static const char *
plain_end_tail(const char *p, const char *e)
{
	while (p < e && PLAIN(*p))
		p++;
	return p;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

__attribute__((target("avx2"))) static const char *
plain_end_avx2(const char *p, const char *e)
{
	const __m256i lo = _mm256_set1_epi8(0x23), del = _mm256_set1_epi8(0x7f),
	    bs = _mm256_set1_epi8('\\');
	__m256i a, b, bad_a, bad_b;
	unsigned m;

	for (; e - p >= 64; p += 64) {
		a = _mm256_loadu_si256((const __m256i *)(const void *)p);
		b = _mm256_loadu_si256((const __m256i *)(const void *)(p + 32));
		/* signed: below 0x23, or 0x80 and above */
		bad_a = _mm256_or_si256(_mm256_cmpgt_epi8(lo, a),
		    _mm256_or_si256(_mm256_cmpeq_epi8(a, del),
		    _mm256_cmpeq_epi8(a, bs)));
		bad_b = _mm256_or_si256(_mm256_cmpgt_epi8(lo, b),
		    _mm256_or_si256(_mm256_cmpeq_epi8(b, del),
		    _mm256_cmpeq_epi8(b, bs)));
		if (!_mm256_testz_si256(_mm256_or_si256(bad_a, bad_b),
		    _mm256_or_si256(bad_a, bad_b))) {
			if ((m = (unsigned)_mm256_movemask_epi8(bad_a)) != 0)
				return p + __builtin_ctz(m);
			m = (unsigned)_mm256_movemask_epi8(bad_b);
			return p + 32 + __builtin_ctz(m);
		}
	}
	return plain_end_tail(p, e);
}

static const char *
plain_end_sse2(const char *p, const char *e)
{
	const __m128i lo = _mm_set1_epi8(0x23), del = _mm_set1_epi8(0x7f),
	    bs = _mm_set1_epi8('\\');
	__m128i c;
	unsigned m;

	for (; e - p >= 16; p += 16) {
		c = _mm_loadu_si128((const __m128i *)(const void *)p);
		m = (unsigned)_mm_movemask_epi8(_mm_or_si128(
		    _mm_cmplt_epi8(c, lo), _mm_or_si128(_mm_cmpeq_epi8(c, del),
		    _mm_cmpeq_epi8(c, bs))));
		if (m != 0)
			return p + __builtin_ctz(m);
	}
	return plain_end_tail(p, e);
}

static const char *
plain_end(const char *p, const char *e)
{
	static int avx2 = -1;

	if (avx2 == -1) {
		__builtin_cpu_init();
		avx2 = __builtin_cpu_supports("avx2") != 0;
	}
	return avx2 ? plain_end_avx2(p, e) : plain_end_sse2(p, e);
}
#else
static const char *
plain_end(const char *p, const char *e)
{
	const uint64_t ones = 0x0101010101010101ULL, high = ones * 0x80;
	uint64_t w, bad;

	for (; e - p >= 8; p += 8) {
		memcpy(&w, p, 8);
		/* below 0x23; 0x7f and above; a backslash */
		bad = (w - ones * 0x23) & ~w;
		bad |= w | (w + ones);
		bad |= ((w ^ ones * 0x5c) - ones) & ~(w ^ ones * 0x5c);
		if (bad & high)
			break;
	}
	return plain_end_tail(p, e);
}
#endif

/* The closing quote of the string whose text starts at p, or NULL. */
static const char *
string_end(const char *p, const char *end)
{
	const char *q, *b;

	for (;;) {
		if ((q = memchr(p, '"', (size_t)(end - p))) == NULL)
			return NULL;
		/* Escaped when an odd number of backslashes stand before it. */
		for (b = q; b > p && b[-1] == '\\'; b--)
			;
		if ((q - b) % 2 == 0)
			return q;
		p = q + 1;
	}
}

static int
is_key(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' ||
	    *p == '\r'))
		p++;
	return p < end && *p == ':';
}

static void
lift(struct dalle_big *big, struct dalle_buf *sk, const char *p, size_t n)
{
	char ph[64];
	int len;

	if (big->id == 0)
		big->id = new_id();
	if (big->n == big->cap) {
		big->cap = big->cap ? big->cap * 2 : 4;
		big->v = dalle_xrealloc(big->v, big->cap * sizeof(*big->v));
	}
	big->v[big->n].p = p;
	big->v[big->n].n = n;
	/* The placeholder as JSON text: TAG, the table's id, the index. */
	len = snprintf(ph, sizeof(ph), "\"\\u0000dalle:%016llx:%zu\"",
	    (unsigned long long)big->id, big->n);
	dalle_buf_add(sk, ph, (size_t)len);
	big->n++;
}

jv
dalle_big_parse(struct dalle_big *big, const char *s, size_t n)
{
	struct dalle_buf sk = { NULL, 0, 0 };
	const char *p = s, *end = s + n, *from = s, *q, *e;
	size_t before = big->n;
	jv v;

	if (n < DALLE_BIG_MIN)
		return jv_parse_sized(s, (int)n);
	/* Outside strings, every quote opens one.  A plain run that ends at
	 * a quote is a whole string with nothing to unescape. */
	while ((q = memchr(p, '"', (size_t)(end - p))) != NULL) {
		e = plain_end(q + 1, end);
		if (e == end || *e != '"') {
			if ((e = string_end(q + 1, end)) == NULL)
				break;
		} else if ((size_t)(e - q - 1) >= DALLE_BIG_MIN &&
		    !is_key(e + 1, end)) {
			dalle_buf_add(&sk, from, (size_t)(q - from));
			lift(big, &sk, q + 1, (size_t)(e - q - 1));
			from = e + 1;
		}
		p = e + 1;
	}
	if (from == s)
		return jv_parse_sized(s, (int)n);
	dalle_buf_add(&sk, from, (size_t)(end - from));
	v = jv_parse_sized(sk.p, (int)sk.len);
	dalle_buf_free(&sk);
	if (!jv_is_valid(v)) {
		/* jq's own message, about the text as it came. */
		jv_free(v);
		big->n = before;
		v = jv_parse_sized(s, (int)n);
	}
	return v;
}

const struct dalle_span *
dalle_big_span(const struct dalle_big *big, const char *s, size_t n)
{
	unsigned long long id;
	size_t i;
	char buf[64];
	int used;

	if (big == NULL || big->n == 0 || n <= TAGLEN || n >= sizeof(buf) ||
	    memcmp(s, TAG, TAGLEN) != 0)
		return NULL;
	memcpy(buf, s + TAGLEN, n - TAGLEN);
	buf[n - TAGLEN] = '\0';
	if (sscanf(buf, "%16llx:%zu%n", &id, &i, &used) != 2 ||
	    (size_t)used != n - TAGLEN || id != big->id || i >= big->n)
		return NULL;
	return &big->v[i];
}

const char *
dalle_big_str(const struct dalle_big *big, jv obj, const char *key,
    size_t *len)
{
	const struct dalle_span *sp;
	const char *s = dalle_record_strn(obj, key, len);

	if (s != NULL && (sp = dalle_big_span(big, s, *len)) != NULL) {
		*len = sp->n;
		return sp->p;
	}
	return s;
}

jv
dalle_big_unlift(const struct dalle_big *big, jv v)
{
	const struct dalle_span *sp;
	jv k, e, ks;
	int i, n;

	if (big == NULL || big->n == 0)
		return v;
	switch (jv_get_kind(v)) {
	case JV_KIND_STRING:
		sp = dalle_big_span(big, jv_string_value(v),
		    (size_t)jv_string_length_bytes(jv_copy(v)));
		if (sp == NULL)
			return v;
		jv_free(v);
		return jv_string_sized(sp->p, (int)sp->n);
	case JV_KIND_ARRAY:
		n = jv_array_length(jv_copy(v));
		for (i = 0; i < n; i++)
			v = jv_array_set(v, i, dalle_big_unlift(big,
			    jv_array_get(jv_copy(v), i)));
		return v;
	case JV_KIND_OBJECT:
		/* The keys first: setting may copy v, under an iterator. */
		ks = jv_keys_unsorted(jv_copy(v));
		n = jv_array_length(jv_copy(ks));
		for (i = 0; i < n; i++) {
			k = jv_array_get(jv_copy(ks), i);
			e = dalle_big_unlift(big, jv_object_get(jv_copy(v),
			    jv_copy(k)));
			v = jv_object_set(v, k, e);
		}
		jv_free(ks);
		return v;
	default:
		return v;
	}
}

jv
dalle_big_unlift_fields(const struct dalle_big *big, jv obj,
    const char *const keys[])
{
	jv v;

	if (big == NULL || big->n == 0 || jv_get_kind(obj) != JV_KIND_OBJECT)
		return obj;
	for (; *keys; keys++) {
		v = jv_object_get(jv_copy(obj), jv_string(*keys));
		if (jv_is_valid(v))
			obj = jv_object_set(obj, jv_string(*keys),
			    dalle_big_unlift(big, v));
		else
			jv_free(v);
	}
	return obj;
}

/* Mark in used[] the spans whose placeholders v holds.  Borrows v. */
static void
mark(const struct dalle_big *big, jv v, char *used)
{
	const struct dalle_span *sp;
	jv e;
	int i;

	switch (jv_get_kind(v)) {
	case JV_KIND_STRING:
		if ((sp = dalle_big_span(big, jv_string_value(v),
		    (size_t)jv_string_length_bytes(jv_copy(v)))) != NULL)
			used[sp - big->v] = 1;
		break;
	case JV_KIND_ARRAY:
	case JV_KIND_OBJECT:
		if (jv_get_kind(v) == JV_KIND_ARRAY)
			for (i = 0; i < jv_array_length(jv_copy(v)); i++) {
				e = jv_array_get(jv_copy(v), i);
				mark(big, e, used);
				jv_free(e);
			}
		else
			for (i = jv_object_iter(v); jv_object_iter_valid(v, i);
			    i = jv_object_iter_next(v, i)) {
				e = jv_object_iter_value(v, i);
				mark(big, e, used);
				jv_free(e);
			}
		break;
	default:
		break;
	}
}

void
dalle_big_keep(struct dalle_big *big, jv rec)
{
	size_t i, total = 0, at = 0;
	char *own, *used;

	if (big->n == 0)
		return;
	used = dalle_xcalloc(big->n, 1);
	mark(big, rec, used);
	for (i = 0; i < big->n; i++)
		total += used[i] ? big->v[i].n : 0;
	own = total ? dalle_xmalloc(total) : NULL;
	for (i = 0; i < big->n; i++) {
		if (used[i]) {
			memcpy(own + at, big->v[i].p, big->v[i].n);
			big->v[i].p = own + at;
			at += big->v[i].n;
		} else {
			big->v[i].p = NULL;     /* no placeholder left */
			big->v[i].n = 0;
		}
	}
	free(used);
	free(big->own);
	big->own = own;
}

void
dalle_big_free(struct dalle_big *big)
{
	free(big->v);
	free(big->own);
	memset(big, 0, sizeof(*big));
}
