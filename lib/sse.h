/*
 * sse.h: server-sent events, parsed as the bytes arrive, in pieces split
 * anywhere, with LF, CR or CRLF line ends (the WHATWG rules).  An event's
 * data is handed over as the bytes it came as, however many megabytes,
 * so that the caller can lift its long strings (dalle_big_parse) instead
 * of building jv strings of them.  No curl, no jq.
 */
#ifndef DALLE_SSE_H
#define DALLE_SSE_H

#include <stddef.h>

#include "util.h"

/* Events larger than this end the parse with an error. */
#define DALLE_SSE_MAX (64UL << 20)

struct dalle_sse;
/*
 * One whole event: its name ("message" when it gave none) and its data
 * lines joined by LF, NUL-terminated.  The callee may take data's memory
 * (and leave *data zeroed); otherwise it is reused.  Returns 0 to go on,
 * -1 to stop the parse.
 */
typedef int (*dalle_sse_fn)(void *arg, const char *event,
    struct dalle_buf *data);

struct dalle_sse {
	dalle_sse_fn fn;
	void *arg;
	struct dalle_buf line;    /* the line being read */
	struct dalle_buf data;    /* the event's data so far */
	char event[128];          /* the event's name so far */
	int has_data;             /* a data field was seen */
	int cr;                   /* the last byte was a CR */
	int bom;                  /* bytes of a leading BOM still possible */
	int failed;               /* stopped: by fn, or an event too big */
};

/* Start (or start again) a parse that calls fn with arg. */
void dalle_sse_init(struct dalle_sse *s, dalle_sse_fn fn, void *arg);
/* Feed n more bytes.  0, or -1 once the parse stopped. */
int dalle_sse_feed(struct dalle_sse *s, const char *p, size_t n);
void dalle_sse_free(struct dalle_sse *s);

#endif
