/*
 * ratesim: lib/rate.c's budget against simulated services, on a
 * simulated clock (the library's clock calls are wrapped at link time:
 * -Wl,--wrap=dalle_wall_ms,--wrap=dalle_now_ms), so a run of minutes
 * takes milliseconds and gives the same figures every time.
 *
 * Usage: ratesim conc C L N J [option...]   C concurrent jobs of L ms
 *        ratesim window Q W N J [option...] Q requests each W ms window
 *        ratesim fixed R N J [option...]    any service; --rate R/min
 * N requests go through at most J at a time (-j).  The service takes in
 * 4 requests a ms; a success's answer takes 1 to 3 ms more than a 429's.
 * Options: late (the first 429 of the first burst arrives only after the
 * budget has learned), rtt=MS (the network's round trip, 0 by default),
 * zero (429s say retry-after 0: no wait given), procs=K (request i asks
 * through process i mod K's own mapping of one shared state file).
 * Prints "done MS 429s K after A min-gap G": the time until the last
 * request was taken, the 429s, those after the first 429's wait (once
 * the budget could have learned), and the shortest time between two
 * starts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dalle.h"

static int64_t clock_ms = 1000000;

int64_t __wrap_dalle_wall_ms(void);
int64_t __wrap_dalle_now_ms(void);

int64_t
__wrap_dalle_wall_ms(void)
{
	return clock_ms;
}

int64_t
__wrap_dalle_now_ms(void)
{
	return clock_ms;
}

enum { IDLE, WAIT_ASK, WAIT_SEND, ON_WIRE, WAIT_ANSWER, DONE };

/* How many requests the service takes in a ms: a burst of 64 takes it
 * 16 ms, so a job's slot frees later than its request went out. */
#define SERVER_PER_MS 4

struct req {
	int state;
	int64_t at;               /* when the next step is due */
	long status, retry_ms;    /* the answer, once sent */
	struct dalle_rate_ticket tk;
};

static enum { CONC, WINDOW, ANY } kind;
static long cap, span;            /* C and L, or Q and W */
static int64_t *ends;             /* CONC: when each job ends */
static long nends;
static int64_t win_start = -1;
static long win_count;
static unsigned rnd = 12345;
static long rtt;
static int zero;

static long
jitter(void)
{
	rnd = rnd * 1103515245 + 12345;
	return 1 + (rnd >> 16) % 3;
}

/* The service takes a request now: -1, or the ms to wait (a 429). */
static long
service(void)
{
	long i, soonest;

	switch (kind) {
	case CONC:
		for (i = 0; i < nends; i++)
			if (ends[i] <= clock_ms)
				ends[i--] = ends[--nends];
		if (nends < cap) {
			ends[nends++] = clock_ms + span;
			return -1;
		}
		soonest = ends[0];
		for (i = 1; i < nends; i++)
			if (ends[i] < soonest)
				soonest = ends[i];
		return soonest - clock_ms;
	case WINDOW:
		if (clock_ms - clock_ms % span != win_start) {
			win_start = clock_ms - clock_ms % span;
			win_count = 0;
		}
		if (win_count < cap) {
			win_count++;
			return -1;
		}
		return win_start + span - clock_ms;
	default:
		return -1;
	}
}

int
main(int argc, char *argv[])
{
	struct dalle_rate *rate[8];
	int nproc = 1, fd = -1;
	char path[] = "/tmp/ratesim.XXXXXX";
	struct req *q;
	long n, j, i, k, done = 0, inflight = 0, next = 0, n429 = 0, late = -1;
	long *fifo, fifo_head = 0, fifo_tail = 0, n429_after = 0;
	int64_t last_start = -1, min_gap = -1, t0 = clock_ms, held_at = 0;
	double per_min = 0;
	int latemode = 0, nargs;

	if (argc < 2)
		goto usage;
	if (strcmp(argv[1], "conc") == 0 && argc >= 6) {
		kind = CONC;
		cap = atol(argv[2]);
		span = atol(argv[3]);
		nargs = 6;
	} else if (strcmp(argv[1], "window") == 0 && argc >= 6) {
		kind = WINDOW;
		cap = atol(argv[2]);
		span = atol(argv[3]);
		nargs = 6;
	} else if (strcmp(argv[1], "fixed") == 0 && argc >= 5) {
		kind = ANY;
		per_min = atof(argv[2]);
		argv--;
		argc++;
		nargs = 6;
	} else
		goto usage;
	for (i = nargs; i < argc; i++)
		if (strcmp(argv[i], "late") == 0)
			latemode = 1;
		else if (strncmp(argv[i], "rtt=", 4) == 0)
			rtt = atol(argv[i] + 4);
		else if (strcmp(argv[i], "zero") == 0)
			zero = 1;
		else if (strncmp(argv[i], "procs=", 6) == 0 &&
		    atoi(argv[i] + 6) >= 1 && atoi(argv[i] + 6) <= 8)
			nproc = atoi(argv[i] + 6);
		else
			goto usage;
	n = atol(argv[4]);
	j = atol(argv[5]);
	if (n < 1 || j < 1 || (kind != ANY && (cap < 1 || span < 1)))
		goto usage;
	ends = calloc(cap + 1, sizeof(*ends));
	q = calloc(n, sizeof(*q));
	fifo = calloc(n, sizeof(*fifo));
	/* Several processes: each its own mapping of one state file. */
	if (nproc > 1 && (fd = mkstemp(path)) == -1)
		return 1;
	for (i = 0; i < nproc; i++)
		rate[i] = dalle_rate_open(nproc > 1 ? path : NULL, per_min);
	if (fd != -1) {
		remove(path);
		close(fd);
	}

	for (; done < n; clock_ms++) {
		/* Requests enter as -j allows. */
		while (next < n && inflight < j) {
			q[next].state = WAIT_ASK;
			q[next].at = clock_ms;
			next++;
			inflight++;
		}
		/* The service takes in so many requests a ms, in order. */
		for (k = 0; k < SERVER_PER_MS && fifo_head < fifo_tail &&
		    q[fifo[fifo_head % n]].at <= clock_ms; k++) {
			struct req *r = &q[fifo[fifo_head++ % n]];

			r->retry_ms = service();
			r->status = r->retry_ms >= 0 ? 429 : 200;
			if (r->retry_ms >= 0 && zero)
				r->retry_ms = 0;
			r->state = WAIT_ANSWER;
			r->at = clock_ms + rtt / 2 +
			    (r->status == 429 ? 0 : jitter());
			if (r->status == 429 && latemode && late < 0) {
				/* This answer comes only once the budget
				 * has learned. */
				late = r - q;
				r->at = -1;
			}
		}
		for (i = 0; i < next; i++) {
			struct req *r = &q[i];

			if (r->state == WAIT_ASK && r->at <= clock_ms) {
				int64_t t = dalle_rate_reserve(rate[i % nproc],
				    &r->tk);

				if (r->tk.deferred)
					r->at = t > clock_ms ? t :
					    clock_ms + 1;
				else {
					r->state = WAIT_SEND;
					r->at = t;
				}
			}
			if (r->state == WAIT_SEND && r->at <= clock_ms) {
				if (last_start >= 0 && (min_gap < 0 ||
				    clock_ms - last_start < min_gap))
					min_gap = clock_ms - last_start;
				last_start = clock_ms;
				r->state = ON_WIRE;
				r->at = clock_ms + rtt / 2;
				fifo[fifo_tail++ % n] = i;
			}
			if (r->state == WAIT_ANSWER && r->at >= 0 &&
			    r->at <= clock_ms) {
				dalle_rate_feedback(rate[i % nproc], r->status,
				    r->retry_ms, &r->tk);
				if (r->status == 429) {
					n429++;
					if (held_at && clock_ms > held_at)
						n429_after++;
					/* As http.c: no wait given, 1 s. */
					long wait = r->retry_ms > 0 ?
					    r->retry_ms : 1000;

					if (!held_at)
						held_at = clock_ms + wait;
					r->state = WAIT_ASK;
					r->at = clock_ms + wait;
				} else {
					r->state = DONE;
					done++;
					inflight--;
				}
			}
		}
		if (late >= 0 && q[late].at < 0 && held_at &&
		    clock_ms > held_at + 5)
			q[late].at = clock_ms;
		if (clock_ms - t0 > 3600000) {
			fprintf(stderr, "ratesim: not done in an hour\n");
			return 1;
		}
	}
	printf("done %lld 429s %ld after %ld min-gap %lld\n",
	    (long long)(clock_ms - t0), n429, n429_after, (long long)min_gap);
	for (i = 0; i < nproc; i++)
		dalle_rate_close(rate[i]);
	free(ends);
	free(q);
	free(fifo);
	return 0;
usage:
	fprintf(stderr, "usage: ratesim conc C L N J [late] | window Q W N J"
	    " | fixed R N J\n");
	return 2;
}
