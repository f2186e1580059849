/*
 * interrupt.h: SIGINT, SIGTERM and SIGHUP noted and acted on by the record
 * loop, whatever it is doing: waiting, reading or writing.  No curl.
 */
#ifndef DALLE_INTERRUPT_H
#define DALLE_INTERRUPT_H

#include <jv.h>

/* Catch SIGINT, SIGTERM and SIGHUP from now on: each is noted and wakes
 * the loop through a pipe; no system call is restarted after one, so a
 * write to a stdout that nobody reads gives way (EINTR).  Once only. */
void dalle_interrupt_init(void);
/* The read end of the wake-up pipe (readable once a signal came), or -1
 * before dalle_interrupt_init. */
int dalle_interrupt_fd(void);
/* The first signal that came, or 0. */
int dalle_interrupted(void);
/* A second signal came. */
int dalle_interrupted_again(void);
/* "SIGTERM" and so on. */
const char *dalle_interrupt_name(int sig);
/* End the program as sig would have: the handlers from before
 * dalle_interrupt_init back in place (they may clean up), then sig raised;
 * exits 128 + sig should it return. */
void dalle_interrupt_exit(int sig);

/* The error object of a record that stage did not finish because of
 * signal sig (kind "interrupted"), or of -t (sig -1: kind "timeout");
 * sent: its request went out and no answer came (retryable either way). */
jv dalle_interrupt_error(const char *stage, int sig, int sent, int attempts);

#endif
