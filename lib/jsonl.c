/*
 * jsonl.c: records, one compact JSON object per line; a line reader that
 * lives beside curl's transfers; error objects and what they exit with.
 */
#include <err.h>
#include <errno.h>
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
