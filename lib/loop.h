/* loop.h: the record loop every filter shares. */
#ifndef DALLE_LOOP_H
#define DALLE_LOOP_H

#include <stddef.h>

#include <jv.h>

#include "big.h"
#include "conf.h"
#include "http.h"
#include "rate.h"

/* Which record: its place in the output (0, 1, ...) and its input line
 * (1-based, per source), as the loop numbered them.  A program keeps the
 * id of a record whose output comes later (lp->cur while in line()). */
struct dalle_loop_id {
	long seq;
	long lineno;
};

/*
 * Input comes from operands (each one a line) or else from stdin, read
 * only when it is readable and only while fewer than max_pending records
 * are in hand (transfers pending, output held for --keep-order), so that
 * memory stays bounded and transfers never wait for input.  line() is
 * called for every non-blank line, with lp->cur its id; done() for every
 * finished transfer.  Each returns 0, or an exit status for that record
 * (the loop keeps the first one).  Returns that first status.
 */
struct dalle_loop {
	struct dalle_http *http;
	const char *source;       /* "stdin" or "argument" */
	size_t max_pending;
	int (*line)(struct dalle_loop *lp, char *s, size_t n);
	int (*done)(struct dalle_loop *lp, struct dalle_xfer *x);
	/* When set: called once when the input has ended and nothing is in
	 * flight, to write the records it held back; its status. */
	int (*end)(struct dalle_loop *lp);
	int quiet;
	int no_records;           /* stdout is not for records (--paths, -o -) */
	int keep_order;           /* write in input order, not completion */
	struct dalle_loop_id cur; /* the record line() is called for */
	long emitted;             /* records out: must end equal to cur.seq */
	int rc;                   /* the first failure's exit status */
	const char *stage;        /* "submit", "poll", "fetch" */
	size_t max_line;          /* longest input line (0: no limit) */
	int text_prompts;         /* a line that is no JSON is a prompt */
	/* When set: called on a signal, once every transfer has been handed
	 * to done() as interrupted, to write the records it holds of its
	 * own (see dalle_interrupt_error); its status. */
	int (*interrupt)(struct dalle_loop *lp, int sig);
	long failed, unfinished;  /* error records out, of which interrupted */
	long timedout;            /* ... or timeout (counted as unfinished) */

	/* Private to loop.c: output held back for --keep-order. */
	char **held;
	size_t *heldlen;
	size_t cap, nheld;
	long next_out;
};
int dalle_loop_run(struct dalle_loop *lp, int argc, char *argv[]);
/*
 * A filter's whole run after its options: an engine for c paced by rate
 * (borrowed; NULL: none), the loop with c's -q and --keep-order (line,
 * done and no_records are the caller's; max_pending 0: twice -j), then
 * the engine, c and libcurl freed and stdout closed.  Returns main's exit
 * status.
 */
int dalle_loop_main(struct dalle_loop *lp, struct dalle_conf *c,
    struct dalle_rate *rate, int argc, char *argv[]);
/* Record a record's exit status (the first failure wins). */
void dalle_loop_status(struct dalle_loop *lp, int rc);
/*
 * The one way in for a line that holds a JSON record: parse it (see
 * dalle_record_parse), its big strings lifted into big (see big.h: spans
 * of s, which lives only until line() returns; dalle_big_keep them to hold
 * the record longer).  Returns -1 with *rec (owned) an object to work on.
 * Otherwise the line has been dealt with, and the return is line()'s
 * status: a bad line became an error record of kind input (65); an error
 * record from an earlier stage passed through as it came (0), or, with
 * no_records, was warned about and gave its kind's status.
 */
int dalle_loop_take(struct dalle_loop *lp, const char *stage, const char *s,
    size_t n, jv *rec, struct dalle_big *big);
/*
 * The output of record id: every record calls exactly one of these, once,
 * even when it writes nothing (n == 0).  The text goes out at once (in
 * stdout's buffer, flushed before the loop next waits), or with
 * --keep-order as soon as every earlier record's has.
 * dalle_loop_write consumes rec and writes it as one line, its
 * placeholders as the strings of big (NULL: it has none).  A write error
 * exits 74, silently on EPIPE.
 */
void dalle_loop_emit(struct dalle_loop *lp, struct dalle_loop_id id,
    const char *s, size_t n);
void dalle_loop_write(struct dalle_loop *lp, struct dalle_loop_id id, jv rec,
    const struct dalle_big *big);
/* The same for a line of n bytes, given without its newline: a line of
 * the input passed on as it came, not searched for secrets again (text
 * given to dalle_loop_emit is, and records' text in dalle_loop_write). */
void dalle_loop_emit_line(struct dalle_loop *lp, struct dalle_loop_id id,
    const char *s, size_t n);
/* Record id failed: add the error object e (consumed) to rec (consumed),
 * write it (with big, as dalle_loop_write), warn "prog: source:lineno:
 * message"; returns the exit status of e's kind. */
int dalle_loop_fail(struct dalle_loop *lp, struct dalle_loop_id id, jv rec,
    jv e, const struct dalle_big *big);
/* The error record for record id that the signal sig stopped before it
 * was finished (see dalle_interrupt_error); rec and big as for
 * dalle_loop_fail.  Returns its status. */
int dalle_loop_unfinished(struct dalle_loop *lp, struct dalle_loop_id id,
    jv rec, const struct dalle_big *big, int sig);
/* The line on stderr that ends a run cut short by why ("interrupted by
 * SIGTERM", "the timeout came"): the records done, failed and unfinished
 * (kind), how to resume, and extra (or ""); see summary.c. */
void dalle_loop_summary(const struct dalle_loop *lp, const char *why,
    const char *kind, const char *extra);
/* The line on stderr when stdout failed with rest[0..n) not written (mid:
 * a record was being written, not all of it in rest): the records
 * written, and those lost, finished or not; see summary.c. */
void dalle_loop_lost(const struct dalle_loop *lp, const char *rest, size_t n,
    int mid);
/* An error record for the bad input line s (kept in error.input) of record
 * lp->cur; warns "prog: source:lineno: why", returns 65. */
int dalle_loop_bad_line(struct dalle_loop *lp, const char *stage,
    const char *s, const char *why);

#endif
