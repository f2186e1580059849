/*
 * rate.c: a request budget that holds across processes.  Every process
 * that names the same state file reserves its start times on one shared
 * timeline kept in that file: mapped shared, changed under an fcntl lock,
 * each process waiting locally until its reserved time.  Nobody spins on
 * the lock and nobody bursts past the budget.
 *
 * With --rate the timeline is one start every 60 s / N.
 *
 * Without it the budget learns from the service.  Until the first 429
 * nothing is held back.  A 429 says two things: everybody must wait for
 * its retry-after, and the requests of the current run that were not
 * refused are what the service takes in one period, from the run's first
 * start to the end of that wait.  That is the shape of both kinds of
 * quota the image APIs have: N requests a minute counted over short
 * windows (N/60 per 1 s window), and N concurrent jobs of about equal
 * latency L (N per L).  So when the wait is over (and every answer of the
 * run is in), each period lets that many requests through, spaced as the
 * run's were, so that they meet the service's capacity as it comes back.
 * Three full periods in a row without a 429 raise the budget by one; a
 * 429 whose wait outlasts its period learns the budget again; a 429
 * within the period (a slot that frees a little late) only holds
 * everyone for its retry-after.  Nobody reserves during a wait: requests
 * ask again when it ends, so they are counted in the run they go in.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dalle.h"

/* The shared state, as the file holds it.  Times are wall clock ms. */
struct state {
	uint32_t magic;
	uint32_t version;
	int64_t next_ms;          /* no start before this: the spacing */
	int64_t hold_ms;          /* no start before this: a 429's wait */
	int64_t run;              /* the current run (period), counted */
	int64_t run_start;        /* when it began; 0: no request yet */
	int64_t last_ms;          /* the latest start of anybody's */
	int64_t period_ms;        /* learned: budget requests a period */
	double spacing_ms;        /* learned: between starts in a period */
	double close_spacing;     /* the closing run's spacing */
	int32_t sent;             /* started in the current run */
	int32_t refused;          /* 429s to those */
	int32_t closing;          /* a 429 ended the run: learn at hold */
	int32_t budget;           /* learned; 0: nothing learned yet */
	int32_t limited;          /* the current period had a 429 */
	int32_t clean;            /* full periods in a row without a 429 */
};

#define STATE_MAGIC 0x64616c6cU
#define STATE_VERSION 6

/* Quiet this long, a budget is forgotten and a run starts afresh: it
 * was learned for a burst that is over, or by another pipeline. */
#define IDLE_MS 10000

struct dalle_rate {
	int64_t *ring;            /* window mode: the last n starts */
	size_t nring, iring;
	int64_t window_ms;
	int fd;                   /* -1: this process alone */
	int adaptive;
	double fixed_ms;          /* --rate: the interval, never changed */
	struct state *s;          /* mapped from the file, or local */
	struct state local;
};

static void
reset(struct state *s)
{
	memset(s, 0, sizeof(*s));
	s->magic = STATE_MAGIC;
	s->version = STATE_VERSION;
}

/* Is the file's state ours and sane?  Another program, an older
 * version or a crash may have left anything in it. */
static int
sane(const struct state *s, int64_t now)
{
	int64_t soon = now + 86400000;

	return s->magic == STATE_MAGIC && s->version == STATE_VERSION &&
	    s->next_ms < soon && s->hold_ms < soon && s->run_start < soon &&
	    s->last_ms < soon && s->sent >= 0 && s->refused >= 0 &&
	    s->budget >= 0 && (s->budget == 0 || (s->period_ms >= 1 &&
	    s->period_ms < 86400000)) && s->spacing_ms >= 0 &&
	    s->spacing_ms < 86400000 && s->close_spacing >= 0 &&
	    s->close_spacing < 86400000;
}

static int
lock(struct dalle_rate *r, short type)
{
	struct flock fl;

	if (r->fd == -1)
		return 0;
	memset(&fl, 0, sizeof(fl));
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	while (fcntl(r->fd, type == F_UNLCK ? F_SETLK : F_SETLKW, &fl) == -1)
		if (errno != EINTR)
			return -1;
	return 0;
}

struct dalle_rate *
dalle_rate_open(const char *path, double per_min)
{
	struct dalle_rate *r = dalle_xcalloc(1, sizeof(*r));
	struct stat st;
	void *p;

	r->fd = -1;
	r->adaptive = per_min <= 0;
	/* 3 % slower than the quota, so that arrival jitter never puts
	 * one request too many into a server's window. */
	r->fixed_ms = per_min > 0 ? 60000.0 / per_min * 1.03 : 0;
	r->s = &r->local;
	reset(&r->local);
	if (path == NULL)
		return r;
	if ((r->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1 ||
	    lock(r, F_WRLCK) == -1) {
		warn("%s: the request budget is this process's alone", path);
		if (r->fd != -1)
			close(r->fd);
		r->fd = -1;
		return r;
	}
	if (fstat(r->fd, &st) == -1 || (st.st_size < (off_t)sizeof(*r->s) &&
	    ftruncate(r->fd, sizeof(*r->s)) == -1) ||
	    (p = mmap(NULL, sizeof(*r->s), PROT_READ | PROT_WRITE, MAP_SHARED,
	    r->fd, 0)) == MAP_FAILED) {
		warn("%s: the request budget is this process's alone", path);
		close(r->fd);
		r->fd = -1;
		return r;
	}
	r->s = p;
	if (!sane(r->s, dalle_wall_ms()))
		reset(r->s);
	lock(r, F_UNLCK);
	return r;
}

struct dalle_rate *
dalle_rate_window(size_t n, int64_t window_ms)
{
	struct dalle_rate *r = dalle_rate_open(NULL, 1);

	r->nring = n > 0 ? n : 1;
	r->ring = dalle_xcalloc(r->nring, sizeof(*r->ring));
	r->window_ms = window_ms;
	return r;
}

void
dalle_rate_close(struct dalle_rate *r)
{
	if (r == NULL)
		return;
	free(r->ring);
	if (r->fd != -1) {
		munmap(r->s, sizeof(*r->s));
		close(r->fd);
	}
	free(r);
}

/* Move the learned budget's period forward to the one holding t. */
static void
roll(struct state *s, int64_t t)
{
	int64_t k;

	if (t < s->run_start + s->period_ms)
		return;
	/* Full periods without a 429: probe upwards, slowly. */
	if (s->limited)
		s->clean = 0;
	else if (s->sent >= s->budget && ++s->clean >= 3) {
		s->budget++;
		s->clean = 0;
	}
	k = (t - s->run_start) / s->period_ms;
	if (k > 1)
		s->clean = 0;   /* idle periods between: not in a row */
	s->run_start += k * s->period_ms;
	s->run++;
	s->sent = s->refused = s->limited = 0;
}

/* The wait after a run's 429 is over: what it took is the budget. */
static void
learn(struct state *s)
{
	s->budget = s->sent - s->refused > 0 ? s->sent - s->refused : 1;
	s->period_ms = s->hold_ms - s->run_start;
	if (s->period_ms < 1)
		s->period_ms = 1;
	s->spacing_ms = s->close_spacing;
	if (s->spacing_ms * s->budget > s->period_ms)
		s->spacing_ms = (double)s->period_ms / s->budget;
	s->run++;
	s->run_start = s->next_ms = s->hold_ms;
	s->sent = s->refused = s->closing = s->limited = s->clean = 0;
}

int64_t
dalle_rate_reserve(struct dalle_rate *r, struct dalle_rate_ticket *tk)
{
	struct state *s = r->s;
	int64_t now = dalle_wall_ms(), t;

	tk->deferred = 0;
	if (r->ring) {
		/* At most n starts in any window: the n-th last start must
		 * be a whole window old.  This process's own: its monotonic
		 * clock, which no clock step moves. */
		int64_t mono = dalle_now_ms();

		t = r->ring[r->iring] + r->window_ms;
		if (t < mono)
			t = mono;
		if (t < mono + (s->hold_ms - now))
			t = mono + (s->hold_ms - now);
		r->ring[r->iring] = t;
		r->iring = (r->iring + 1) % r->nring;
		return t;
	}
	/* Nothing learned and nothing held: no lock, no write but a count. */
	if (r->adaptive && s->budget == 0 && !s->closing &&
	    s->run_start != 0 && s->hold_ms <= now &&
	    now - s->last_ms < IDLE_MS) {
		tk->run = s->run;
		tk->n = __atomic_fetch_add(&s->sent, 1, __ATOMIC_RELAXED);
		tk->start = now;
		__atomic_store_n(&s->last_ms, now, __ATOMIC_RELAXED);
		return dalle_now_ms();
	}
	if (lock(r, F_WRLCK) == -1)
		return dalle_now_ms();
	if (!sane(s, now))
		reset(s);
	if (r->adaptive && !s->closing && s->hold_ms <= now &&
	    now - s->last_ms >= IDLE_MS && (s->budget == 0 ||
	    now - s->last_ms >= 2 * s->period_ms)) {
		/* A new burst: what earlier ones taught is history. */
		int64_t run = s->run;

		reset(s);
		s->run = run + 1;
	}
	t = now > s->next_ms ? now : s->next_ms;
	if (!r->adaptive) {
		if (t < s->hold_ms)
			t = s->hold_ms;
		s->next_ms = t + (int64_t)(r->fixed_ms + 0.5);
		goto out;
	}
	if (s->hold_ms > now) {
		tk->deferred = 1;
		t = s->hold_ms;
		goto out;
	}
	if (s->closing) {
		learn(s);
		t = now > s->next_ms ? now : s->next_ms;
	}
	if (s->run_start == 0)
		s->run_start = t;
	if (s->budget > 0) {
		roll(s, t);
		if (s->sent >= s->budget) {
			tk->deferred = 1;
			t = s->run_start + s->period_ms;
			goto out;
		}
		s->next_ms = t + (int64_t)(s->spacing_ms + 0.5);
	}
	tk->run = s->run;
	tk->n = s->sent++;
	tk->start = t;
	if (t > s->last_ms)
		s->last_ms = t;
out:
	lock(r, F_UNLCK);
	return dalle_now_ms() + (t - now);
}

void
dalle_rate_feedback(struct dalle_rate *r, long http, long retry_after_ms,
    const struct dalle_rate_ticket *tk)
{
	struct state *s = r->s;
	int64_t now;

	if (http != 429)
		return;
	if (lock(r, F_WRLCK) == -1)
		return;
	/* Everybody waits as long as the server asked. */
	now = dalle_wall_ms();
	if (!sane(s, now))
		reset(s);
	if (retry_after_ms < 0)
		retry_after_ms = 1000;
	if (s->hold_ms < now + retry_after_ms)
		s->hold_ms = now + retry_after_ms;
	if (r->adaptive && tk->run == s->run) {
		s->refused++;
		if (!s->closing && (s->budget == 0 || s->hold_ms >
		    s->run_start + s->period_ms)) {
			/* The run is over; what it took is known once every
			 * answer is in, at the end of the wait. */
			s->closing = 1;
			s->close_spacing = tk->n > 0 ? (double)(tk->start -
			    s->run_start) / tk->n : 0;
		} else if (!s->closing)
			s->limited = 1;
	}
	lock(r, F_UNLCK);
}

char *
dalle_rate_path(const char *key)
{
	const char *base = getenv("XDG_RUNTIME_DIR");
	char *d, *p;

	if (base && *base)
		d = dalle_xasprintf("%s/dalle-tools", base);
	else
		d = dalle_xasprintf("/tmp/dalle-tools-%lu",
		    (unsigned long)getuid());
	if (mkdir(d, 0700) == -1 && errno != EEXIST) {
		free(d);
		return NULL;
	}
	/* The layout's version in the name: an older dalle-submit keeps
	 * to its own file instead of writing over ours. */
	p = dalle_xasprintf("%s/rate%d-%016llx", d, STATE_VERSION,
	    (unsigned long long)
	    dalle_hash(key, strlen(key), 0));
	free(d);
	return p;
}

int
dalle_rate_parse(const char *s, double *per_min)
{
	char *end;
	double v;

	v = strtod(s, &end);
	if (end == s || v <= 0 || v > 1e7)
		return -1;
	if (*end == '\0' || strcmp(end, "/min") == 0 || strcmp(end, "/m") == 0)
		*per_min = v;
	else if (strcmp(end, "/s") == 0)
		*per_min = v * 60;
	else if (strcmp(end, "/h") == 0)
		*per_min = v / 60;
	else
		return -1;
	return 0;
}
