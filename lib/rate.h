/* rate.h: a request budget shared across processes. */
#ifndef DALLE_RATE_H
#define DALLE_RATE_H

#include <stddef.h>
#include <stdint.h>

struct dalle_rate;
/* A budget of per_min requests a minute (<= 0: learn it from 429s), kept
 * in the state file path (locked with fcntl; NULL: this process alone). */
struct dalle_rate *dalle_rate_open(const char *path, double per_min);
/* This process's cap: at most n starts in any window_ms. */
struct dalle_rate *dalle_rate_window(size_t n, int64_t window_ms);
/* No wait on a 429's hold, this process's or another's, longer than ms
 * (the clamp of a request's own retries; <= 0: DALLE_RETRY_MAX_MS): a
 * reservation that would wait longer is refused (tk->held), and the
 * hold is left as it is for the processes that may wait it out. */
void dalle_rate_bound(struct dalle_rate *r, long ms);
void dalle_rate_close(struct dalle_rate *r);
/* What a paced request was given: its run of the budget, how many were
 * started in that run before it, its start (wall clock ms), and the
 * learned budget's place it went on (-1: none) with that place's next
 * free time as the start left it. */
struct dalle_rate_ticket {
	int64_t run;
	int64_t start;
	int64_t next;
	int32_t n;
	int32_t place;
	int deferred;             /* no start given: ask again at the time */
	long held;                /* > 0: a 429's hold has this many ms
	                           * left, more than dalle_rate_bound's:
	                           * no start given, not to be asked again */
};
/* Reserve the next start; returns the dalle_now_ms() time to start at,
 * or, with tk->deferred, the time to ask again. */
int64_t dalle_rate_reserve(struct dalle_rate *r, struct dalle_rate_ticket *tk);
/* Tell the budget how a paced request went (429s hold everyone back). */
void dalle_rate_feedback(struct dalle_rate *r, long http,
    long retry_after_ms, const struct dalle_rate_ticket *tk);
/* The default state file for a key (endpoint and deployment), under
 * $XDG_RUNTIME_DIR/dalle-tools or ${TMPDIR:-/tmp}/dalle-tools-UID, a
 * directory of ours closed to others; malloc'd, NULL (warned) if none. */
char *dalle_rate_path(const char *key);
/* That directory, made if need be; malloc'd, NULL (warned) if none. */
char *dalle_rate_dir(void);
/* Parse "N", "N/min", "N/m", "N/s" or "N/h" into requests per minute. */
int dalle_rate_parse(const char *s, double *per_min);

#endif
