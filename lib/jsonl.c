/*
 * jsonl.c: records, one compact JSON object per line; a line reader that
 * lives beside curl's transfers; error objects and what they exit with.
 */
#include <err.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dalle.h"

struct dalle_lines {
	int fd, eof;
	long lineno;
	struct dalle_buf b;
	size_t off;                     /* start of the unread part */
	char *last;                     /* the line returned last time */
};

struct dalle_lines *
dalle_lines_new(int fd)
{
	struct dalle_lines *lr = dalle_xcalloc(1, sizeof(*lr));

	lr->fd = fd;
	return lr;
}

void
dalle_lines_free(struct dalle_lines *lr)
{
	if (lr == NULL)
		return;
	dalle_buf_free(&lr->b);
	free(lr->last);
	free(lr);
}

long
dalle_lines_fill(struct dalle_lines *lr)
{
	char chunk[65536];
	ssize_t n;

	if (lr->eof)
		return 0;
	/* Drop what has been consumed before the buffer grows. */
	if (lr->off > 0) {
		memmove(lr->b.p, lr->b.p + lr->off, lr->b.len - lr->off);
		lr->b.len -= lr->off;
		lr->b.p[lr->b.len] = '\0';
		lr->off = 0;
	}
	do
		n = read(lr->fd, chunk, sizeof(chunk));
	while (n == -1 && errno == EINTR);
	if (n == -1)
		return -1;
	if (n == 0) {
		lr->eof = 1;
		return 0;
	}
	dalle_buf_add(&lr->b, chunk, (size_t)n);
	return n;
}

char *
dalle_lines_next(struct dalle_lines *lr, size_t *len, long *lineno)
{
	char *s, *nl;
	size_t n;

	free(lr->last);
	lr->last = NULL;
	if (lr->off >= lr->b.len)
		return NULL;
	s = lr->b.p + lr->off;
	nl = memchr(s, '\n', lr->b.len - lr->off);
	if (nl == NULL && !lr->eof)
		return NULL;
	n = nl ? (size_t)(nl - s) : lr->b.len - lr->off;
	lr->off += n + (nl != NULL);
	/* A UTF-8 byte order mark before the first line is no text. */
	if (lr->lineno == 0 && n >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0) {
		s += 3;
		n -= 3;
	}
	if (n > 0 && s[n - 1] == '\r')
		n--;
	/* A copy, so that the next fill may move the buffer. */
	lr->last = dalle_xmalloc(n + 1);
	memcpy(lr->last, s, n);
	lr->last[n] = '\0';
	*len = n;
	*lineno = ++lr->lineno;
	return lr->last;
}

int
dalle_lines_eof(const struct dalle_lines *lr)
{
	return lr->eof && lr->off >= lr->b.len;
}

const char *
dalle_jv_str(jv obj, const char *key)
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
	jv_free(v);
	return s;
}

int
dalle_jv_long(jv obj, const char *key, long *out)
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
	if (d != (double)(long)d)
		return -1;
	*out = (long)d;
	return 0;
}

jv
dalle_jv_get(jv obj, const char *key)
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
dalle_error_new(const char *stage, const char *kind, long http,
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

static const struct {
	const char *kind;
	int code;
} kind_exit[] = {
	{ DALLE_KIND_INPUT, DALLE_EX_DATAERR },
	{ DALLE_KIND_INVALID, DALLE_EX_DATAERR },
	{ DALLE_KIND_CONTENT_FILTER, DALLE_EX_FILTERED },
	{ DALLE_KIND_AUTH, DALLE_EX_NOPERM },
	{ DALLE_KIND_CONFIG, DALLE_EX_CONFIG },
	{ DALLE_KIND_RATE, DALLE_EX_UNAVAILABLE },
	{ DALLE_KIND_SERVER, DALLE_EX_UNAVAILABLE },
	{ DALLE_KIND_NETWORK, DALLE_EX_UNAVAILABLE },
	{ DALLE_KIND_TIMEOUT, DALLE_EX_TEMPFAIL },
	{ DALLE_KIND_PROTOCOL, DALLE_EX_PROTOCOL },
	{ DALLE_KIND_IO, DALLE_EX_CANTCREAT },
};

int
dalle_error_exit(const char *kind)
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
	jv e = dalle_jv_get(rec, "error");
	int r = jv_get_kind(e) == JV_KIND_OBJECT;

	jv_free(e);
	return r;
}

/*
 * Compact JSON, byte for byte what jv_dump_string(v, 0) of jq 1.6 writes,
 * at several times its speed: jq appends to its string one piece at a
 * time, and every record of a pipeline is written three times.  Numbers
 * other than plain integers are left to jq, so that they print as jq
 * prints them.
 */
static void
put_string(struct dalle_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	static const char short_esc[128] = {
		['"'] = '"', ['\\'] = '\\', ['\b'] = 'b', ['\f'] = 'f',
		['\n'] = 'n', ['\r'] = 'r', ['\t'] = 't'
	};
	size_t i, from = 0;
	unsigned char c;
	char e[6] = { '\\', 'u', '0', '0' };

	dalle_buf_add(b, "\"", 1);
	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f)
			continue;
		dalle_buf_add(b, s + from, i - from);
		from = i + 1;
		if (short_esc[c]) {
			e[1] = short_esc[c];
			dalle_buf_add(b, e, 2);
			e[1] = 'u';
		} else {
			e[4] = hex[c >> 4];
			e[5] = hex[c & 15];
			dalle_buf_add(b, e, 6);
		}
	}
	dalle_buf_add(b, s + from, n - from);
	dalle_buf_add(b, "\"", 1);
}

void
dalle_json_put(struct dalle_buf *b, jv v)
{
	char num[32];
	double d;
	int i, n, first;
	jv s;

	switch (jv_get_kind(v)) {
	case JV_KIND_NULL:
		dalle_buf_add(b, "null", 4);
		break;
	case JV_KIND_TRUE:
		dalle_buf_add(b, "true", 4);
		break;
	case JV_KIND_FALSE:
		dalle_buf_add(b, "false", 5);
		break;
	case JV_KIND_NUMBER:
		d = jv_number_value(v);
		if (d > -1e15 && d < 1e15 && d == (double)(long long)d &&
		    (d != 0 || !signbit(d))) {
			n = snprintf(num, sizeof(num), "%lld", (long long)d);
			dalle_buf_add(b, num, (size_t)n);
			break;
		}
		s = jv_dump_string(jv_copy(v), 0);
		dalle_buf_adds(b, jv_string_value(s));
		jv_free(s);
		break;
	case JV_KIND_STRING:
		put_string(b, jv_string_value(v),
		    (size_t)jv_string_length_bytes(jv_copy(v)));
		break;
	case JV_KIND_ARRAY:
		dalle_buf_add(b, "[", 1);
		n = jv_array_length(jv_copy(v));
		for (i = 0; i < n; i++) {
			jv e = jv_array_get(jv_copy(v), i);

			if (i > 0)
				dalle_buf_add(b, ",", 1);
			dalle_json_put(b, e);
			jv_free(e);
		}
		dalle_buf_add(b, "]", 1);
		break;
	case JV_KIND_OBJECT:
		dalle_buf_add(b, "{", 1);
		first = 1;
		for (i = jv_object_iter(v); jv_object_iter_valid(v, i);
		    i = jv_object_iter_next(v, i)) {
			jv k = jv_object_iter_key(v, i);
			jv e = jv_object_iter_value(v, i);

			if (!first)
				dalle_buf_add(b, ",", 1);
			first = 0;
			put_string(b, jv_string_value(k),
			    (size_t)jv_string_length_bytes(jv_copy(k)));
			dalle_buf_add(b, ":", 1);
			dalle_json_put(b, e);
			jv_free(k);
			jv_free(e);
		}
		dalle_buf_add(b, "}", 1);
		break;
	default:
		/* An invalid value has no JSON; jq would say "<invalid>". */
		dalle_buf_add(b, "null", 4);
		break;
	}
}
