/*
 * lines.c: a line reader over a file descriptor that lives beside curl's
 * transfers: it reads only when told the descriptor is readable.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/mman.h>
#endif

#include "lines.h"
#include "util.h"

#define LINES_HEAD 64

struct dalle_lines {
	int fd, eof;
	long lineno;
	struct dalle_buf b;             /* b.p mapped by room() when big */
	int mapped;
	size_t off;                     /* start of the unread part */
	size_t scanned;                 /* bytes after off with no newline */
	size_t max;                     /* longest line kept; 0: no limit */
	size_t skipping;                /* bytes of a too long line so far */
	size_t toolong;                 /* the last line's length, if dropped */
	char head[LINES_HEAD + 1];      /* a too long line's start */
};

/* Linux's, which glibc shows only to _GNU_SOURCE. */
#if defined(__linux__) && !defined(F_SETPIPE_SZ)
#define F_SETPIPE_SZ 1031
#define F_GETPIPE_SZ 1032
#endif
#define PIPE_SIZE (1024 * 1024)

/*
 * Room for want more bytes.  A buffer of megabyte lines is mapped on its
 * own in 2 MiB steps and asked for huge pages: where page faults are dear
 * (a virtual machine), faulting in a few megabytes 4 KiB at a time cost
 * more than all the copying of the first records.  Growing keeps only the
 * unread part, moved to the start.
 */
#define BIG (2 * 1024 * 1024)

static void
room(struct dalle_lines *lr, size_t want)
{
#ifdef MADV_HUGEPAGE
	struct dalle_buf *b = &lr->b;
	size_t keep = b->len - lr->off, cap;
	char *p;

	if (b->len + want + 1 <= b->cap || keep + want + 1 <= BIG / 2) {
		dalle_buf_reserve(b, want);
		return;
	}
	cap = b->cap * 2 > keep + want + 1 ? b->cap * 2 : keep + want + 1;
	cap = (cap + BIG - 1) / BIG * BIG;
	p = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
	    -1, 0);
	if (p == MAP_FAILED) {
		dalle_buf_reserve(b, want);
		return;
	}
	madvise(p, cap, MADV_HUGEPAGE);
	memcpy(p, b->p + lr->off, keep);
	p[keep] = '\0';
	if (lr->mapped)
		munmap(b->p, b->cap);
	else
		free(b->p);
	b->p = p;
	b->len = keep;
	b->cap = cap;
	lr->off = 0;
	lr->mapped = 1;
#else
	dalle_buf_reserve(&lr->b, want);
#endif
}

void
dalle_pipe_grow(int fd)
{
#ifdef F_SETPIPE_SZ
	int n = fcntl(fd, F_GETPIPE_SZ);

	if (n != -1 && n < PIPE_SIZE)
		fcntl(fd, F_SETPIPE_SZ, PIPE_SIZE);
#else
	(void)fd;
#endif
}

struct dalle_lines *
dalle_lines_new(int fd)
{
	struct dalle_lines *lr = dalle_xcalloc(1, sizeof(*lr));

	lr->fd = fd;
	dalle_pipe_grow(fd);
	return lr;
}

void
dalle_lines_free(struct dalle_lines *lr)
{
	if (lr == NULL)
		return;
#ifdef MADV_HUGEPAGE
	if (lr->mapped) {
		munmap(lr->b.p, lr->b.cap);
		lr->b.p = NULL;
	}
#endif
	dalle_buf_free(&lr->b);
	free(lr);
}

long
dalle_lines_fill(struct dalle_lines *lr)
{
	ssize_t n;
	size_t want;

	if (lr->eof)
		return 0;
	/* Straight into the buffer: at least 64 KiB, and as much again as
	 * a long line holds so far, so that it grows in few steps. */
	want = lr->b.len - lr->off > 65536 ? lr->b.len - lr->off : 65536;
	/* Drop what has been consumed when that makes the room, not at
	 * every read: a long line's start is moved seldom. */
	if (lr->off > 0 && (lr->off == lr->b.len ||
	    lr->b.cap - lr->b.len - 1 < want)) {
		memmove(lr->b.p, lr->b.p + lr->off, lr->b.len - lr->off);
		lr->b.len -= lr->off;
		lr->b.p[lr->b.len] = '\0';
		lr->off = 0;
	}
	room(lr, want);
	do
		n = read(lr->fd, lr->b.p + lr->b.len,
		    lr->b.cap - lr->b.len - 1);
	while (n == -1 && errno == EINTR);
	if (n == -1)
		return -1;
	if (n == 0) {
		lr->eof = 1;
		return 0;
	}
	lr->b.len += (size_t)n;
	lr->b.p[lr->b.len] = '\0';
	return n;
}

void
dalle_lines_set_max(struct dalle_lines *lr, size_t max)
{
	lr->max = max;
}

size_t
dalle_lines_toolong(const struct dalle_lines *lr)
{
	return lr->toolong;
}

/* The rest of a line over the limit: dropped as it comes, its start kept
 * in head; the line handed out once its newline (or EOF) is seen. */
static char *
skip_long(struct dalle_lines *lr, size_t *len, long *lineno)
{
	char *s = lr->b.p + lr->off, *nl;
	size_t n;

	nl = memchr(s, '\n', lr->b.len - lr->off);
	n = nl ? (size_t)(nl - s) : lr->b.len - lr->off;
	lr->skipping += n;
	lr->off += n + (nl != NULL);
	if (nl == NULL && !lr->eof)
		return NULL;
	lr->toolong = lr->skipping;
	lr->skipping = 0;
	*len = strlen(lr->head);
	*lineno = ++lr->lineno;
	return lr->head;
}

char *
dalle_lines_next(struct dalle_lines *lr, size_t *len, long *lineno)
{
	char *s, *nl;
	size_t n, k;

	lr->toolong = 0;
	if (lr->skipping > 0)
		return skip_long(lr, len, lineno);
	if (lr->off >= lr->b.len)
		return NULL;
	s = lr->b.p + lr->off;
	/* A long line arrives in many reads: look at each byte once. */
	nl = memchr(s + lr->scanned, '\n', lr->b.len - lr->off - lr->scanned);
	n = nl ? (size_t)(nl - s) : lr->b.len - lr->off;
	if (lr->max > 0 && n > lr->max) {
		/* Too long: its start kept for the error, the rest dropped
		 * as it comes, so that it costs no more memory than this. */
		k = n < LINES_HEAD ? n : LINES_HEAD;
		memcpy(lr->head, s, k);
		lr->head[k] = '\0';
		lr->scanned = 0;
		lr->off += k;
		lr->skipping = k;
		return skip_long(lr, len, lineno);
	}
	if (nl == NULL && !lr->eof) {
		lr->scanned = lr->b.len - lr->off;
		return NULL;
	}
	lr->scanned = 0;
	lr->off += n + (nl != NULL);
	/* A UTF-8 byte order mark at a line's start is no text: the first
	 * line's, or any line's (files joined with cat). */
	if (n >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0) {
		s += 3;
		n -= 3;
	}
	if (n > 0 && s[n - 1] == '\r')
		n--;
	/* In place: the buffer is ours, and a line ends where its newline
	 * was (at EOF, the buffer's own NUL). */
	s[n] = '\0';
	*len = n;
	*lineno = ++lr->lineno;
	return s;
}

int
dalle_lines_eof(const struct dalle_lines *lr)
{
	return lr->eof && lr->off >= lr->b.len;
}
