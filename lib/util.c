/* util.c: allocation, buffers, clocks, hashing, a number parser, small
 * files read as lines, exit. */
#include <ctype.h>
#include <err.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

void *
dalle_xmalloc(size_t n)
{
	void *p;

	if ((p = malloc(n ? n : 1)) == NULL)
		err(DALLE_EX_OSERR, "malloc");
	return p;
}

void *
dalle_xcalloc(size_t n, size_t size)
{
	void *p;

	if ((p = calloc(n ? n : 1, size ? size : 1)) == NULL)
		err(DALLE_EX_OSERR, "calloc");
	return p;
}

void *
dalle_xrealloc(void *p, size_t n)
{
	if ((p = realloc(p, n ? n : 1)) == NULL)
		err(DALLE_EX_OSERR, "realloc");
	return p;
}

char *
dalle_xstrdup(const char *s)
{
	char *p;

	if ((p = strdup(s)) == NULL)
		err(DALLE_EX_OSERR, "strdup");
	return p;
}

char *
dalle_xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		err(DALLE_EX_OSERR, "vsnprintf");
	p = dalle_xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

void
dalle_buf_reserve(struct dalle_buf *b, size_t n)
{
	size_t cap;

	if (b->len + n + 1 <= b->cap)
		return;
	cap = b->cap ? b->cap : 256;
	while (cap < b->len + n + 1)
		cap *= 2;
	b->p = dalle_xrealloc(b->p, cap);
	b->cap = cap;
}

void
dalle_buf_add(struct dalle_buf *b, const void *p, size_t n)
{
	dalle_buf_reserve(b, n);
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void
dalle_buf_adds(struct dalle_buf *b, const char *s)
{
	dalle_buf_add(b, s, strlen(s));
}

void
dalle_buf_reset(struct dalle_buf *b)
{
	b->len = 0;
	if (b->p)
		b->p[0] = '\0';
}

void
dalle_buf_free(struct dalle_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

int64_t
dalle_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
dalle_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
dalle_time(void)
{
	return (int64_t)time(NULL);
}

uint64_t
dalle_hash(const void *p, size_t n, uint64_t seed)
{
	const unsigned char *s = p;
	uint64_t h = 14695981039346656037ULL ^ seed;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

uint64_t
dalle_hash_words(const void *p, size_t n, uint64_t seed)
{
	const unsigned char *s = p;
	uint64_t h[4], w;
	size_t i, k;

	/* Four lanes, so that the multiplications overlap. */
	for (k = 0; k < 4; k++)
		h[k] = (0xcbf29ce484222325ULL ^ seed) + k;
	for (i = 0; i + 32 <= n; i += 32)
		for (k = 0; k < 4; k++) {
			memcpy(&w, s + i + 8 * k, 8);
			h[k] = (h[k] ^ w) * 0x100000001b3ULL;
			h[k] ^= h[k] >> 29;
		}
	w = dalle_hash(s + i, n - i, h[0] ^ h[1] * 3 ^ h[2] * 5 ^ h[3] * 7);
	return w ^ (uint64_t)n;
}

uint64_t
dalle_rand(uint64_t *state)
{
	uint64_t z;

	/* splitmix64: small, fast, and the same sequence for the same seed */
	z = (*state += 0x9E3779B97F4A7C15ULL);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

int
dalle_strtonum(const char *s, long long min, long long max, long long *out)
{
	char *end;
	long long v;

	if (s == NULL || *s == '\0')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

void
dalle_secret_free(char *s)
{
	if (s == NULL)
		return;
	/* volatile so the stores are not optimised away before free */
	for (volatile char *p = s; *p; p++)
		*p = 0;
	free(s);
}

int
dalle_read_fd(int fd, struct dalle_buf *b, size_t max)
{
	size_t got = 0, room;
	ssize_t k;

	for (;;) {
		/* A byte past max, to know there is more. */
		room = max - got < 65536 ? max - got + 1 : 65536;
		dalle_buf_reserve(b, room);
		b->p[b->len] = '\0';
		if ((k = read(fd, b->p + b->len, room)) == 0)
			return 0;
		if (k == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		b->len += (size_t)k;
		b->p[b->len] = '\0';
		if ((got += (size_t)k) > max) {
			errno = EFBIG;
			return -1;
		}
	}
}

char **
dalle_file_lines(const char *path, size_t *n)
{
	FILE *fp;
	char **v, *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int e = 0;

	*n = 0;
	if ((fp = fopen(path, "r")) == NULL)
		return NULL;
	v = dalle_xcalloc(1, sizeof(*v));
	while ((len = getline(&line, &cap, fp)) != -1) {
		while (len > 0 && isspace((unsigned char)line[len - 1]))
			line[--len] = '\0';
		v = dalle_xrealloc(v, (*n + 2) * sizeof(*v));
		v[(*n)++] = dalle_xstrdup(line);
		v[*n] = NULL;
	}
	if (ferror(fp))
		e = errno;
	if (line != NULL)
		explicit_bzero(line, cap);
	free(line);
	fclose(fp);
	if (e != 0) {
		dalle_file_lines_free(v);
		*n = 0;
		errno = e;
		return NULL;
	}
	return v;
}

void
dalle_file_lines_free(char **v)
{
	size_t i;

	for (i = 0; v != NULL && v[i] != NULL; i++)
		dalle_secret_free(v[i]);
	free(v);
}

int
dalle_finish(int rc)
{
	if (fflush(stdout) == EOF || ferror(stdout)) {
		if (errno != EPIPE)
			warn("stdout");
		return DALLE_EX_IOERR;
	}
	if (fclose(stdout) == EOF) {
		if (errno != EPIPE)
			warn("stdout");
		return DALLE_EX_IOERR;
	}
	return rc;
}
