/*
 * lines.c: the line reader (lib/lines.c) fed through a pipe in pieces of
 * the input's choosing, against the input split at its newlines by hand:
 * the same lines, in order, numbered from 1, a byte order mark gone from
 * the first and one CR from the end of each, and EOF seen at the end.
 */
#include "fuzz.h"
#include <fcntl.h>
#include <unistd.h>
#include "lines.h"

struct ref {
	const uint8_t *d;
	size_t n, at;
	long lineno;
};

/* The next line the reader must give, or 0 when there is none. */
static int
ref_next(struct ref *r, const uint8_t **s, size_t *len)
{
	const uint8_t *p, *nl;
	size_t n;

	if (r->at >= r->n)
		return 0;
	p = r->d + r->at;
	nl = memchr(p, '\n', r->n - r->at);
	n = nl ? (size_t)(nl - p) : r->n - r->at;
	r->at += n + (nl != NULL);
	if (r->lineno == 0 && n >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0) {
		p += 3;
		n -= 3;
	}
	if (n > 0 && p[n - 1] == '\r')
		n--;
	r->lineno++;
	*s = p;
	*len = n;
	return 1;
}

static void
drain(struct dalle_lines *lr, struct ref *r)
{
	const uint8_t *want;
	size_t len, wlen;
	long lineno;
	char *s;

	while ((s = dalle_lines_next(lr, &len, &lineno)) != NULL) {
		CHECK(ref_next(r, &want, &wlen));
		CHECK(len == wlen);
		CHECK(len == 0 || memcmp(s, want, len) == 0);
		CHECK(s[len] == '\0');
		CHECK(lineno == r->lineno);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ref r = { data, size, 0, 0 };
	struct dalle_lines *lr;
	uint32_t st = fuzz_seed(data, size);
	size_t at = 0, k;
	const uint8_t *want;
	size_t wlen;
	int fd[2];

	CHECK(pipe(fd) == 0);
	lr = dalle_lines_new(fd[0]);
	while (at < size) {
		/* Mostly small pieces, some of everything left. */
		k = fuzz_next(&st) % 8 == 0 ? size - at :
		    1 + fuzz_next(&st) % 37;
		if (k > size - at)
			k = size - at;
		CHECK(write(fd[1], data + at, k) == (ssize_t)k);
		at += k;
		CHECK(dalle_lines_fill(lr) == (long)k);
		drain(lr, &r);
	}
	close(fd[1]);
	CHECK(dalle_lines_fill(lr) == 0);
	drain(lr, &r);
	CHECK(dalle_lines_eof(lr));
	CHECK(!ref_next(&r, &want, &wlen));
	dalle_lines_free(lr);
	close(fd[0]);
	return 0;
}
