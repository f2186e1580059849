/*
 * lines.c: a line reader over a file descriptor that lives beside curl's
 * transfers: it reads only when told the descriptor is readable.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lines.h"
#include "util.h"

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
