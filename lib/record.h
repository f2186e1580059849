/*
 * record.h: records, one JSON object per line: reading one in, borrowing
 * getters, the error object of a failed record and the exit status of its
 * kind.  Ownership follows jv: a function that takes a jv consumes it, one
 * that returns a jv returns an owned one, unless its comment says
 * "borrows".  No curl.
 */
#ifndef DALLE_RECORD_H
#define DALLE_RECORD_H

#include <stddef.h>

#include <jv.h>

/* What an input line holds (dalle_record_parse). */
enum {
	DALLE_RECORD_BAD = -1,    /* no JSON object: *why says why */
	DALLE_RECORD_OK = 0,      /* a record to work on */
	DALLE_RECORD_ERROR = 1    /* an error record: it passes through */
};
/* Parse the n bytes at s as one record, its big strings lifted into big
 * (see big.h).  Sets *rec (owned; jv_null() when BAD) and, when BAD, *why
 * (malloc'd: the parser's message, or "not a JSON object"). */
struct dalle_big;
int dalle_record_parse(struct dalle_big *big, const char *s, size_t n,
    jv *rec, char **why);

/* Borrowing getters; NULL / -1 when absent or of another kind. */
const char *dalle_record_str(jv obj, const char *key);  /* borrows obj */
/* The same, with its length in bytes in *len (when len is not NULL). */
const char *dalle_record_strn(jv obj, const char *key, size_t *len);
int dalle_record_long(jv obj, const char *key, long *out); /* borrows obj */
/* Owned copy of obj[key], or jv_null() when obj is no object. Borrows obj. */
jv dalle_record_get(jv obj, const char *key);

/*
 * Error kinds: what a script branches on.  dalle_record_error builds the
 * record's "error" object.  http is 0 when there was no HTTP answer; code and
 * message may be NULL (the message is then the kind).  "retired": the model
 * is shut down on the provider the request goes to.
 */
#define DALLE_KIND_INPUT "input"
#define DALLE_KIND_CONTENT_FILTER "content_filter"
#define DALLE_KIND_AUTH "auth"
#define DALLE_KIND_NOT_FOUND "not_found"
#define DALLE_KIND_INVALID "invalid_request"
#define DALLE_KIND_RATE "rate_limited"
#define DALLE_KIND_SERVER "server"
#define DALLE_KIND_NETWORK "network"
#define DALLE_KIND_EXPIRED "expired"
#define DALLE_KIND_IO "io"
#define DALLE_KIND_TIMEOUT "timeout"
#define DALLE_KIND_INTERRUPTED "interrupted"
#define DALLE_KIND_FAILED "failed"
#define DALLE_KIND_PROTOCOL "protocol"
#define DALLE_KIND_CONFIG "config"
#define DALLE_KIND_RETIRED "retired"
#define DALLE_KIND_BATCH_EXPIRED "batch_expired"
#define DALLE_KIND_CANCELLED "cancelled"
jv dalle_record_error(const char *stage, const char *kind, long http,
    const char *code, const char *message, int retryable, int attempts);
/* The common case: no HTTP status, no code, not retryable, no attempts,
 * and a message from printf. */
jv dalle_record_errorf(const char *stage, const char *kind,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The exit status that belongs to an error kind (70 for NULL). */
int dalle_record_exit(const char *kind);
/* rec (consumed) with what the service says it made, body's "size",
 * "quality", "output_format" and "background" (borrowed), as strings
 * whatever their value. */
jv dalle_record_made(jv rec, jv body);
/* Is this record an error record?  Borrows rec. */
int dalle_record_is_error(jv rec);

#endif
