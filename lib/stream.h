/*
 * stream.h: the event stream of a streamed image request, a generation's
 * (image_generation.*) or an edit's (image_edit.*) alike: each partial
 * image saved as it arrives, atomically, when a name stem is given; the
 * completed images gathered into the body an unstreamed answer would
 * have had, their base64 kept out of jv (big.h).  No curl.
 */
#ifndef DALLE_STREAM_H
#define DALLE_STREAM_H

#include <stddef.h>

#include <jv.h>

#include "big.h"
#include "sse.h"

struct dalle_stream {
	struct dalle_sse sse;
	struct dalle_big *big;    /* borrowed: gets the images' spans */
	char *stem;               /* partial i goes to stem.partial<i>.<ext> */
	int attempt;              /* of the transfer being parsed */
	jv body;                  /* the unstreamed answer's equal so far */
	jv partials;              /* the paths saved, in order */
	unsigned char seen[100];  /* partials saved so far, by index */
	jv error;                 /* an error event's object, or null */
	char *why;                /* our own failure (kind why_kind) */
	const char *why_kind;
	struct dalle_buf *keep;   /* the completed events' data (big's spans) */
	size_t nkeep;
};

/* A new parse whose completed images are lifted into big (borrowed, to
 * outlive the stream's result); stem (copied) NULL: partials not saved. */
struct dalle_stream *dalle_stream_new(struct dalle_big *big,
    const char *stem);
void dalle_stream_free(struct dalle_stream *s);
/* n more bytes of attempt number attempt (a new attempt starts afresh).
 * 0, or -1 when the stream cannot go on (see dalle_stream_error). */
int dalle_stream_feed(struct dalle_stream *s, int attempt, const char *p,
    size_t n);
/* 1 with *err (owned; see dalle_record_error) when the stream failed in
 * itself: an error event (the service's kind) or a partial that could
 * not be saved (io); else 0. */
int dalle_stream_error(const struct dalle_stream *s, const char *stage,
    long status, int attempts, jv *err);
/* The body the unstreamed answer would have had ("created", "data",
 * "usage", "size", "quality", "output_format", "background"), its
 * base64 as placeholders of big; jv_invalid() without a completed
 * event.  Returns owned. */
jv dalle_stream_body(const struct dalle_stream *s);
/* The body of dalle_stream_body as the text an unstreamed answer would
 * have been, appended to b, for the journal to keep: 0 once all n images
 * came, else -1 (the stream ended before its final event). */
int dalle_stream_answer(const struct dalle_stream *s, int n,
    struct dalle_buf *b);
/* rec (consumed) with "partials", the paths saved, when there are any. */
jv dalle_stream_record(const struct dalle_stream *s, jv rec);

#endif
