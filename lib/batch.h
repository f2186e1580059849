/*
 * batch.h: OpenAI's Batch API from the filters: upload a JSONL file,
 * create a batch, list the batches in flight.  Each call waits for its
 * answer on the engine h (which has nothing else in flight).
 */
#ifndef DALLE_BATCH_H
#define DALLE_BATCH_H

#include <stdint.h>
#include <stdio.h>

#include <jv.h>

#include "conf.h"
#include "http.h"

#define DALLE_BATCH_MAX_LINES 50000
#define DALLE_BATCH_MAX_BYTES (200LL * 1024 * 1024)
/* The metadata key that marks the batches dalle-submit made. */
#define DALLE_BATCH_MARK "dalle_submit"

/* One request to the OpenAI API path what ("files", "batches/ID"), a JSON
 * body (json, or NULL) or a form (or NULL): the answer as a JSON object,
 * or jv_invalid() with *err the error record. */
jv dalle_batch_call(struct dalle_http *h, const struct dalle_conf *c,
    const char *method, const char *what, struct dalle_buf *json,
    struct dalle_form *form, jv *err);
/* Upload the file at path (named *.jsonl) as purpose=batch: its id
 * (malloc'd), or NULL with *err. */
char *dalle_batch_upload(struct dalle_http *h, const struct dalle_conf *c,
    const char *path, jv *err);
/* Create the batch of file_id for endpoint ("/v1/images/generations"):
 * the batch object, or jv_invalid() with *err. */
jv dalle_batch_create(struct dalle_http *h, const struct dalle_conf *c,
    const char *file_id, const char *endpoint, jv *err);
/* How far back dalle-submit looks for the batches it made. */
#define DALLE_BATCH_WINDOW_DAYS 7
/*
 * Of the custom_ids in want (an object, borrowed), those already batched
 * by dalle-submit in the last DALLE_BATCH_WINDOW_DAYS days: lines of a
 * batch still running, lines of a completed batch not in its error file,
 * lines in the output file of an expired or cancelled batch.  Returns
 * {custom_id: {"batch": id, "status": s}} (the newest batch of each), or
 * jv_invalid() with *err.  The files are read as they stream in, only
 * each line's custom_id kept.
 */
jv dalle_batch_inflight(struct dalle_http *h, const struct dalle_conf *c,
    jv want, jv *err);

/* A scan of JSONL as it arrives: for each line, its custom_id (read
 * from its first 4 KiB) with the line's offset and length; the line
 * itself is never kept. */
struct dalle_batch_scan {
	void (*line)(void *arg, const char *cid, int64_t off, int64_t len);
	void *arg;
	int64_t off, len;         /* the current line's */
	char head[4096];
	size_t nhead;
};
/* The next n bytes; a last line without a newline needs one fed. */
void dalle_batch_scan_feed(struct dalle_batch_scan *sc, const char *p,
    size_t n);

/* Where each custom_id's line is in fp, a batch's output or error file
 * (file 0 or 1), read in pieces from its start: idx (consumed) with
 * {custom_id: [file, offset, length]} added. */
jv dalle_batch_index(FILE *fp, int file, jv idx);
/*
 * rec (consumed) with the result of its line of a batch's files (n bytes
 * at line, its big strings into big, spans of line): as a synchronous
 * answer gives it ("status" "succeeded", "created", "data", "usage",
 * "size", "quality", "output_format", "background"); or jv_invalid() with
 * *err the line's own error: the record a synchronous answer with its
 * status and body would give, or kind batch_expired or cancelled for a
 * line the batch never ran.  url names the batch in messages.
 */
jv dalle_batch_result(struct dalle_big *big, jv rec, const char *line,
    size_t n, const char *url, jv *err);
/* rec (consumed) with a synchronous answer's body (borrowed) merged as
 * dalle-submit writes it: "status" "succeeded", "created", data
 * (consumed), "usage", and size, quality, output_format and background
 * as strings, whatever their JSON type. */
jv dalle_batch_merge(jv rec, jv body, jv data);

#endif
