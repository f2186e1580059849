/*
 * progress.h: a few lines of progress on a terminal's stderr, redrawn in
 * place (from the start of the drawing's first line, where the cursor is
 * left: no scrolling) and erased at the end.  Nothing at all when stderr is not a
 * terminal, or TERM is "dumb", or quiet.
 */
#ifndef DALLE_PROGRESS_H
#define DALLE_PROGRESS_H

#include <stddef.h>

#include "util.h"

struct dalle_progress {
	int on;                   /* stderr is a terminal we draw on */
	size_t shown;             /* lines now drawn */
	struct dalle_buf next;    /* the drawing being built */
	size_t nnext;
};

void dalle_progress_init(struct dalle_progress *p, int quiet);
/* One more line (printf-style) of the drawing dalle_progress_draw shows;
 * it is cut to the terminal's width. */
void dalle_progress_add(struct dalle_progress *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The lines added since the last draw, in place of the last drawing. */
void dalle_progress_draw(struct dalle_progress *p);
/* Erase the drawing (before other text goes to stderr, and at the end). */
void dalle_progress_clear(struct dalle_progress *p);
void dalle_progress_free(struct dalle_progress *p);

#endif
