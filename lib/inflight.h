/*
 * inflight.h: a request sent once by the processes that share a journal
 * (xargs -P, make -j), even when they are given it at the same moment.
 */
#ifndef DALLE_INFLIGHT_H
#define DALLE_INFLIGHT_H

#include <stdint.h>

#include <jv.h>

#include "journal.h"

struct dalle_inflight {
	struct dalle_journal *journal;  /* borrowed */
	char *key;                /* the request's journal key, owned */
	long wait_ms;             /* how long to wait for another sender */
	int64_t until;            /* ... until then; 0: not waiting yet */
	jv seen;                  /* the journal's entry for key, last read */
	int held;                 /* ours to send: its lock is held */
	int answered;             /* another process's answer is journaled */
	int timedout;             /* another process still sends it */
};

/* Set f up for the request of key (copied) in journal j, whose entry
 * for key (if any) was just read and found of no use. */
void dalle_inflight_init(struct dalle_inflight *f, struct dalle_journal *j,
    const char *key, long wait_ms);
/*
 * The gate of the request's transfer (see dalle_xfer): 0 to send it (its
 * lock taken, and no new answer in the journal), n > 0 to look again in
 * n ms (another live process is sending it), or -1 not to send it, with
 * answered (a new entry for it came meanwhile) or timedout (wait_ms
 * passed) set.
 */
int dalle_inflight_gate(struct dalle_inflight *f);
/* The answer is journaled, or the request failed: others may go on. */
void dalle_inflight_release(struct dalle_inflight *f);
/* Release, and free what f owns. */
void dalle_inflight_free(struct dalle_inflight *f);

#endif
