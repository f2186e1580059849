/* util.c: allocation, buffers, clocks, hashing, base64, small parsers. */
#include <arpa/inet.h>
#include <ctype.h>
#include <err.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "dalle.h"

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
dalle_buf_add(struct dalle_buf *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;

		while (cap < b->len + n + 1)
			cap *= 2;
		b->p = dalle_xrealloc(b->p, cap);
		b->cap = cap;
	}
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
dalle_rand(uint64_t *state)
{
	uint64_t z;

	/* splitmix64: small, fast, and the same sequence for the same seed */
	z = (*state += 0x9E3779B97F4A7C15ULL);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *
dalle_base64_encode(const void *p, size_t n, size_t *outlen)
{
	const unsigned char *s = p;
	char *o, *d;
	size_t i;

	d = o = dalle_xmalloc((n + 2) / 3 * 4 + 1);
	for (i = 0; i + 2 < n; i += 3) {
		*d++ = b64[s[i] >> 2];
		*d++ = b64[(s[i] & 3) << 4 | s[i + 1] >> 4];
		*d++ = b64[(s[i + 1] & 15) << 2 | s[i + 2] >> 6];
		*d++ = b64[s[i + 2] & 63];
	}
	if (i < n) {
		*d++ = b64[s[i] >> 2];
		if (i + 1 < n) {
			*d++ = b64[(s[i] & 3) << 4 | s[i + 1] >> 4];
			*d++ = b64[(s[i + 1] & 15) << 2];
		} else {
			*d++ = b64[(s[i] & 3) << 4];
			*d++ = '=';
		}
		*d++ = '=';
	}
	*d = '\0';
	if (outlen)
		*outlen = (size_t)(d - o);
	return o;
}

unsigned char *
dalle_base64_decode(const char *s, size_t n, size_t *outlen)
{
	unsigned char *o;
	uint32_t acc = 0;
	size_t i, len = 0;
	int bits = 0, pad = 0, v;

	o = dalle_xmalloc(n / 4 * 3 + 3);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
			continue;
		if (c == '=') {
			pad++;
			continue;
		}
		if (pad)
			goto bad;       /* data after padding */
		if (c >= 'A' && c <= 'Z')
			v = c - 'A';
		else if (c >= 'a' && c <= 'z')
			v = c - 'a' + 26;
		else if (c >= '0' && c <= '9')
			v = c - '0' + 52;
		else if (c == '+' || c == '-')
			v = 62;
		else if (c == '/' || c == '_')
			v = 63;
		else
			goto bad;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			o[len++] = (unsigned char)(acc >> bits);
		}
	}
	if (pad > 2 || bits >= 6)
		goto bad;
	*outlen = len;
	return o;
bad:
	free(o);
	return NULL;
}

static unsigned
be16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static unsigned long
be32(const unsigned char *p)
{
	return (unsigned long)p[0] << 24 | (unsigned long)p[1] << 16 |
	    (unsigned long)p[2] << 8 | p[3];
}

const char *
dalle_image_probe(const void *buf, size_t n, int *w, int *h)
{
	const unsigned char *p = buf;
	size_t i;

	*w = *h = 0;
	if (n >= 24 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0) {
		if (memcmp(p + 12, "IHDR", 4) == 0) {
			*w = (int)be32(p + 16);
			*h = (int)be32(p + 20);
		}
		return "png";
	}
	if (n >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff) {
		/* Walk the segments to the first start-of-frame marker. */
		for (i = 2; i + 9 < n; ) {
			unsigned m;

			if (p[i] != 0xff)
				break;
			m = p[i + 1];
			if (m == 0xff) {
				i++;
				continue;
			}
			if (m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 &&
			    m != 0xcc) {
				*h = (int)be16(p + i + 5);
				*w = (int)be16(p + i + 7);
				break;
			}
			if (m == 0xd8 || (m >= 0xd0 && m <= 0xd7)) {
				i += 2;
				continue;
			}
			i += 2 + be16(p + i + 2);
		}
		return "jpeg";
	}
	if (n >= 12 && memcmp(p, "RIFF", 4) == 0 &&
	    memcmp(p + 8, "WEBP", 4) == 0)
		return "webp";
	if (n >= 10 && memcmp(p, "GIF8", 4) == 0) {
		*w = p[6] | p[7] << 8;
		*h = p[8] | p[9] << 8;
		return "gif";
	}
	return NULL;
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

int
dalle_url_is_loopback(const char *url)
{
	const char *h, *e;
	char host[256];
	struct in_addr a4;
	size_t n;

	if ((h = strstr(url, "://")) == NULL)
		return 0;
	h += 3;
	if ((e = strpbrk(h, "/?#")) == NULL)
		e = h + strlen(h);
	/* Skip userinfo. */
	for (const char *at = h; at < e; at++)
		if (*at == '@')
			h = at + 1;
	if (*h == '[') {
		const char *rb = memchr(h, ']', (size_t)(e - h));

		if (rb == NULL)
			return 0;
		n = (size_t)(rb - h - 1);
		return n == 3 && memcmp(h + 1, "::1", 3) == 0;
	}
	for (n = 0; h + n < e && h[n] != ':'; n++)
		;
	if (n == 0 || n >= sizeof(host))
		return 0;
	memcpy(host, h, n);
	host[n] = '\0';
	if (strcasecmp(host, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	return 0;
}

char *
dalle_url_redact(const char *s, size_t n)
{
	struct dalle_buf b = { 0 };
	size_t i = 0, k;

	while (i < n) {
		/* a "sig=" parameter: the SAS signature of a blob URL */
		if ((s[i] == '?' || s[i] == '&') && n - i > 4 &&
		    strncmp(s + i + 1, "sig=", 4) == 0) {
			dalle_buf_add(&b, s + i, 5);
			dalle_buf_adds(&b, "[redacted]");
			for (k = i + 5; k < n && s[k] != '&' && s[k] != ' ' &&
			    s[k] != '\r' && s[k] != '\n' && s[k] != '"'; k++)
				;
			i = k;
			continue;
		}
		dalle_buf_add(&b, s + i, 1);
		i++;
	}
	dalle_buf_add(&b, "", 0);
	return b.p;
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
