/*
 * status.h: one live status on the terminal for a whole pipeline
 * (dalle-submit | dalle-poll | dalle-fetch).  Each stage publishes its
 * counters in a slot of a small file shared by the pipeline (its process
 * group and terminal), and one stage alone draws every live stage's line
 * from it: the one whose stdout is no pipe, else the last in the
 * pipeline.  Nothing at all unless stderr is a terminal, TERM is not
 * "dumb" and the stage is not quiet.  Library code: warns, never exits.
 */
#ifndef DALLE_STATUS_H
#define DALLE_STATUS_H

#include <stddef.h>

#include <jv.h>

/* A stage's counters, as the record loop knows them. */
struct dalle_status_counts {
	long in, out, failed;     /* records read, written, failed */
	long inflight, quota;     /* transfers running, waiting on quota */
	long retries;
};

/* Take part for stage ("submit", "poll" or "fetch"; borrowed) unless
 * quiet or stderr is no terminal; from then on, a line of text written
 * to stderr first erases the drawing.  Returns 1 when on. */
int dalle_status_open(const char *stage, int quiet);
/* The records to expect: argc operands, or (argc 0) the non-blank lines
 * of fd when it is a regular file (unknown otherwise). */
void dalle_status_input(int fd, int argc);
/* Publish c; the drawing stage redraws, at most ten times a second. */
void dalle_status_update(const struct dalle_status_counts *c);
/* A record going out (borrowed): its images and its cost.usd count. */
void dalle_status_record(jv rec);
/* Lines of this stage's own (NUL-terminated, '\n' between them) shown
 * under its line; NULL or "" for none. */
void dalle_status_note(const char *text);
/* The longest the record loop may wait before it updates again. */
long dalle_status_wait(long ms);
/* Records are about to be written to stdout: erase the drawing first if
 * stdout is the terminal. */
void dalle_status_output(void);
/* Erase the drawing, leave the pipeline's status, and remove its file
 * when no other stage is left in it.  Safe to call twice. */
void dalle_status_close(void);

#endif
