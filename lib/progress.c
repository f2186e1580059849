/*
 * progress.c: lines of progress on a terminal's stderr, redrawn in place
 * with ANSI cursor movement.  See progress.h.  The cursor waits at the
 * start of the drawing's first line, so that whatever else is written
 * to the terminal (after erasing the drawing: see status.c) goes where
 * the drawing was, and the next drawing comes below it.
 */
#include <sys/ioctl.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "progress.h"

void
dalle_progress_init(struct dalle_progress *p, int quiet)
{
	const char *term = getenv("TERM");

	memset(p, 0, sizeof(*p));
	p->on = !quiet && isatty(STDERR_FILENO) &&
	    (term == NULL || strcmp(term, "dumb") != 0);
}

/* The terminal's width less one (a full line would wrap on some), 80 when
 * it does not say. */
static size_t
width(void)
{
	struct winsize ws;

	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == -1 || ws.ws_col < 2)
		return 79;
	return ws.ws_col - 1;
}

void
dalle_progress_add(struct dalle_progress *p, const char *fmt, ...)
{
	char line[512];
	size_t w = width();
	va_list ap;

	if (!p->on)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (w < sizeof(line))
		line[w] = '\0';
	/* Each line erased to its end as it is written over. */
	dalle_buf_adds(&p->next, line);
	dalle_buf_adds(&p->next, "\033[K\n");
	p->nnext++;
}

/* All of b to stderr's descriptor: the drawing goes around stdio, whose
 * stderr may erase the drawing before each line (see status.c). */
static void
put(const struct dalle_buf *b)
{
	size_t off = 0;
	ssize_t w;

	fflush(stderr);
	while (off < b->len) {
		w = write(STDERR_FILENO, b->p + off, b->len - off);
		if (w > 0)
			off += (size_t)w;
		else if (w == -1 && errno != EINTR)
			break;
	}
}

void
dalle_progress_draw(struct dalle_progress *p)
{
	struct dalle_buf b = { 0 };
	char s[32];

	if (!p->on)
		return;
	if (p->shown == 0 && p->nnext == 0)
		return;
	/* From the drawing's first line, where the cursor waits, */
	dalle_buf_adds(&b, "\r");
	dalle_buf_add(&b, p->next.p, p->next.len);
	/* what is left of a longer drawing erased, and back up to it. */
	dalle_buf_adds(&b, "\033[J");
	if (p->nnext > 0) {
		snprintf(s, sizeof(s), "\033[%zuA", p->nnext);
		dalle_buf_adds(&b, s);
	}
	put(&b);
	dalle_buf_free(&b);
	p->shown = p->nnext;
	p->nnext = 0;
	dalle_buf_reset(&p->next);
}

void
dalle_progress_clear(struct dalle_progress *p)
{
	struct dalle_buf b = { 0 };

	if (!p->on || p->shown == 0)
		return;
	dalle_buf_adds(&b, "\r\033[J");
	put(&b);
	dalle_buf_free(&b);
	p->shown = 0;
}

void
dalle_progress_free(struct dalle_progress *p)
{
	dalle_progress_clear(p);
	dalle_buf_free(&p->next);
	p->nnext = 0;
}
