/*
 * lines.c: the line reader (lib/lines.c) fed through a pipe in pieces of
 * the input's choosing, against the input split at its newlines by hand:
 * the same lines, in order, numbered from 1, a byte order mark gone from
 * the start and one CR from the end of each, and EOF seen at the end.
 */
#include "fuzz.h"
#include <fcntl.h>
#include <unistd.h>
#include "lines.h"

/* The lines the reader must give, found all at once. */
struct ref {
	const uint8_t **s;
	size_t *len, n, next;
	long lineno;
};

static void
ref_split(struct ref *r, const uint8_t *d, size_t size)
{
	size_t i, start = 0, k;

	r->s = calloc(size + 1, sizeof(*r->s));
	r->len = calloc(size + 1, sizeof(*r->len));
	CHECK(r->s != NULL && r->len != NULL);
	for (i = 0; i <= size; i++) {
		if (i < size && d[i] != '\n')
			continue;
		if (i == size && start == size)
			break;          /* no unterminated last line */
		k = r->n++;
		r->s[k] = d + start;
		r->len[k] = i - start;
		start = i + 1;
	}
	for (k = 0; k < r->n; k++) {
		/* A byte order mark at any line's start (cat a.jsonl b.jsonl). */
		if (r->len[k] >= 3 && r->s[k][0] == 0xef &&
		    r->s[k][1] == 0xbb && r->s[k][2] == 0xbf) {
			r->s[k] += 3;
			r->len[k] -= 3;
		}
		if (r->len[k] > 0 && r->s[k][r->len[k] - 1] == '\r')
			r->len[k]--;
	}
}

static int
ref_next(struct ref *r, const uint8_t **s, size_t *len)
{
	if (r->next >= r->n)
		return 0;
	*s = r->s[r->next];
	*len = r->len[r->next++];
	r->lineno++;
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
	struct ref r = { NULL, NULL, 0, 0, 0 };
	struct dalle_lines *lr;
	uint32_t st = fuzz_seed(data, size);
	size_t at = 0, k;
	const uint8_t *want;
	size_t wlen;
	int fd[2];

	ref_split(&r, data, size);
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
	free(r.s);
	free(r.len);
	return 0;
}
