/*
 * rate.c: a request budget that holds across processes.  Every process
 * naming the same state file reserves its start times on one timeline
 * kept in that file: mapped shared, changed under an fcntl lock, each
 * process waiting locally until its reserved time.  With --rate the
 * timeline is one start every 60 s / N; without it, the budget is learned
 * from the service's 429s as a set of places, each a sliding window of one
 * period, adjusted by later 429s and probed upwards.  The algorithm is
 * described in dalle-submit(1), "Rate limits"; the comments below say
 * which part of it each function does.
 *
 * The file is read and written whole (pread, pwrite) under the lock, not
 * mapped: a file that shrinks under a mapping kills with SIGBUS whoever
 * touches it next, and anybody may truncate it.
 */
#include <sys/stat.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dalle.h"
#include "privdir.h"

/* The most places a learned budget keeps; a bigger budget keeps this
 * many, each with a proportionally shorter period. */
#define NPLACE 512
#define DROPPED INT64_MAX

/* The shared state, as the file holds it.  Times are wall clock ms. */
struct state {
	uint32_t magic;
	uint32_t version;
	int64_t next_ms;          /* --rate: no start before this */
	int64_t hold_ms;          /* no start before this: a 429's wait */
	int64_t run;              /* the current run, counted */
	int64_t run_start;        /* when it began; 0: no request yet */
	int64_t last_ms;          /* the latest start of anybody's */
	int64_t period_ms;        /* learned: a place's time between starts */
	int64_t base_ms;          /* the period as first learned */
	double close_spacing;     /* the closing run's spacing */
	int32_t sent;             /* started in the current run */
	int32_t refused;          /* 429s to those */
	int32_t closing;          /* a 429 ended the run: learn at hold */
	int32_t budget;           /* live places; 0: nothing learned yet */
	int32_t nplace;           /* places in use, live or dropped */
	int32_t clean;            /* starts that waited for a place since
	                           * the last 429 */
	int32_t gap;              /* probe after this many rounds of those */
	int32_t probe;            /* the place added last */
	int64_t probe_until;      /* on probation till then */
	int64_t place[NPLACE];    /* free from then on; DROPPED */
};

#define STATE_MAGIC 0x64616c6cU
#define STATE_VERSION 7
#define GAP_MIN 3
#define GAP_MAX 48

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
	int64_t bound_ms;         /* the longest a 429's hold is waited */
	struct state *s;          /* local: the file's, while locked */
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

	int i, live = 0;

	if (s->magic != STATE_MAGIC || s->version != STATE_VERSION ||
	    s->next_ms >= soon || s->hold_ms >= soon || s->run_start >= soon ||
	    s->last_ms >= soon || s->sent < 0 || s->refused < 0 ||
	    s->closing < 0 || s->closing > 1 || s->clean < 0 ||
	    s->budget < 0 || s->nplace < s->budget || s->nplace > NPLACE ||
	    s->probe < 0 || s->probe >= NPLACE || s->close_spacing < 0 ||
	    s->close_spacing >= 86400000)
		return 0;
	if (s->budget == 0)
		return 1;
	if (s->period_ms < 1 || s->period_ms >= 86400000 || s->base_ms < 1 ||
	    s->base_ms > s->period_ms || s->gap < GAP_MIN || s->gap > GAP_MAX)
		return 0;
	for (i = 0; i < s->nplace; i++)
		if (s->place[i] != DROPPED)
			live++;
	return live == s->budget;
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

/*
 * Lock the file and read the state from it.  A file of another size (cut
 * short, or grown) is made the right size and its state begun afresh;
 * sane() judges what a file of the right size holds.
 */
static int
acquire(struct dalle_rate *r)
{
	struct stat st;

	if (lock(r, F_WRLCK) == -1)
		return -1;
	if (r->fd == -1)
		return 0;
	if (fstat(r->fd, &st) == -1 || st.st_size != (off_t)sizeof(*r->s) ||
	    pread(r->fd, r->s, sizeof(*r->s), 0) != (ssize_t)sizeof(*r->s)) {
		reset(r->s);
		if (ftruncate(r->fd, sizeof(*r->s)) == -1) {
			lock(r, F_UNLCK);
			return -1;
		}
	}
	return 0;
}

/* Write the state back and unlock. */
static void
release(struct dalle_rate *r)
{
	if (r->fd != -1 && pwrite(r->fd, r->s, sizeof(*r->s), 0) !=
	    (ssize_t)sizeof(*r->s))
		reset(r->s);    /* the next reader begins afresh */
	lock(r, F_UNLCK);
}

/* Say why the shared budget cannot be used; this process keeps its own. */
static void
alone(const char *path, const char *why)
{
	warnx("%s: %s: the request budget is this process's alone", path,
	    why);
}

/*
 * Open the state file without following a symbolic link, and use it only
 * if it is a regular file of ours with no other name: whoever can plant a
 * link (symbolic or hard) or a file there must not get us to write over a
 * file of theirs or of ours.
 */
static int
open_state(const char *path)
{
	struct stat st;
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK,
	    0600);
	if (fd == -1) {
		alone(path, errno == ELOOP ? "a symbolic link, not followed" :
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1)
		alone(path, strerror(errno));
	else if (!S_ISREG(st.st_mode))
		alone(path, "not a regular file");
	else if (st.st_uid != geteuid())
		alone(path, "owned by another user");
	else if (st.st_nlink != 1)
		alone(path, "a file with other names (hard links)");
	else
		return fd;
	close(fd);
	return -1;
}

struct dalle_rate *
dalle_rate_open(const char *path, double per_min)
{
	struct dalle_rate *r = dalle_xcalloc(1, sizeof(*r));

	r->fd = -1;
	r->adaptive = per_min <= 0;
	/* 3 % slower than the quota, so that arrival jitter never puts
	 * one request too many into a server's window. */
	r->fixed_ms = per_min > 0 ? 60000.0 / per_min * 1.03 : 0;
	r->s = &r->local;
	r->bound_ms = DALLE_RETRY_MAX_MS;
	reset(&r->local);
	if (path == NULL || (r->fd = open_state(path)) == -1)
		return r;
	if (acquire(r) == -1) {
		alone(path, strerror(errno));
		close(r->fd);
		r->fd = -1;
		reset(r->s);
		return r;
	}
	if (!sane(r->s, dalle_wall_ms()))
		reset(r->s);
	release(r);
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
dalle_rate_bound(struct dalle_rate *r, long ms)
{
	r->bound_ms = dalle_retry_clamp(ms > 0 ? ms : DALLE_RETRY_MAX_MS, 0);
}

/*
 * A hold longer than this process would wait: nothing is reserved, and
 * tk->held says how long it has left.  The hold itself stays as the
 * service set it: another process may wait it out, and one with a short
 * request timeout must not send everybody into the service's 429s.
 */
static int
over_hold(const struct dalle_rate *r, const struct state *s, int64_t now,
    struct dalle_rate_ticket *tk)
{
	if (s->hold_ms <= now + r->bound_ms)
		return 0;
	tk->deferred = 1;
	tk->held = (long)(s->hold_ms - now);
	return 1;
}

void
dalle_rate_close(struct dalle_rate *r)
{
	if (r == NULL)
		return;
	free(r->ring);
	if (r->fd != -1)
		close(r->fd);
	free(r);
}

/* The wait after a run's 429 is over: what it took is the budget, its
 * places spaced as the run's requests went. */
static void
learn(struct state *s)
{
	int64_t n = s->sent - s->refused > 0 ? s->sent - s->refused : 1;
	double spacing;
	int i;

	s->period_ms = s->hold_ms - s->run_start;
	if (s->period_ms < 1)
		s->period_ms = 1;
	if (n > NPLACE) {
		s->period_ms = s->period_ms * NPLACE / n;
		if (s->period_ms < 1)
			s->period_ms = 1;
		n = NPLACE;
	}
	spacing = s->close_spacing;
	if (spacing * n > s->period_ms)
		spacing = (double)s->period_ms / n;
	for (i = 0; i < n; i++)
		s->place[i] = s->hold_ms + (int64_t)(i * spacing + 0.5);
	s->base_ms = s->period_ms;
	s->nplace = (int32_t)n;
	s->gap = GAP_MIN;
	s->probe = 0;
	s->probe_until = 0;
	s->run++;
	s->run_start = s->hold_ms;
	s->sent = s->refused = s->clean = 0;
	/* The lock-free path reads closing, then budget: it must not see
	 * the run open again with nothing learned. */
	__atomic_store_n(&s->budget, (int32_t)n, __ATOMIC_RELEASE);
	__atomic_store_n(&s->closing, 0, __ATOMIC_RELEASE);
}

/* Drop place j, or (-1) the one free last; one always stays. */
static void
drop(struct state *s, int j)
{
	int i;

	if (s->budget <= 1)
		return;
	if (j < 0)
		for (i = 0; i < s->nplace; i++)
			if (s->place[i] != DROPPED && (j < 0 ||
			    s->place[i] > s->place[j]))
				j = i;
	s->place[j] = DROPPED;
	s->budget--;
}

/*
 * The place free soonest.  Taken as soon as it frees, somebody was
 * waiting for it: when that has happened gap rounds' worth of places in
 * a row without a 429, the quota may be more than the budget, and it is
 * time to probe: first back towards the period as first learned, then
 * one place more.
 */
static int
take_place(struct state *s, int64_t now)
{
	int i, j = -1;

	for (i = 0; i < s->nplace; i++)
		if (s->place[i] != DROPPED && (j < 0 ||
		    s->place[i] < s->place[j]))
			j = i;
	if (j < 0 || s->place[j] > now ||
	    now - s->place[j] > 2 + s->period_ms / 100 ||
	    ++s->clean < s->gap * s->budget)
		return j;
	s->clean = 0;
	if (s->probe_until != 0)
		s->gap = GAP_MIN;       /* the last probe held */
	if (s->period_ms > s->base_ms) {
		s->period_ms -= (s->period_ms - s->base_ms + 1) / 2;
		return j;
	}
	if (s->budget == NPLACE)
		return j;
	for (i = 0; i < s->nplace && s->place[i] != DROPPED; i++)
		;
	if (i == s->nplace)
		s->nplace++;
	s->place[i] = now;
	s->budget++;
	s->probe = i;
	s->probe_until = now + 2 * s->period_ms;
	return j;
}

int64_t
dalle_rate_reserve(struct dalle_rate *r, struct dalle_rate_ticket *tk)
{
	struct state *s = r->s;
	int64_t now = dalle_wall_ms(), t;

	tk->deferred = 0;
	tk->held = 0;
	tk->place = -1;
	if (r->ring) {
		/* At most n starts in any window: the n-th last start must
		 * be a whole window old.  This process's own: its monotonic
		 * clock, which no clock step moves. */
		int64_t mono = dalle_now_ms();

		if (s->hold_ms > now + r->bound_ms)
			s->hold_ms = now + r->bound_ms;   /* ours alone */
		t = r->ring[r->iring] + r->window_ms;
		if (t < mono)
			t = mono;
		if (t < mono + (s->hold_ms - now))
			t = mono + (s->hold_ms - now);
		r->ring[r->iring] = t;
		r->iring = (r->iring + 1) % r->nring;
		return t;
	}
	/* Nothing learned and nothing held: no lock, no write but a count
	 * (this process's own budget alone: the file's is read locked). */
	if (r->fd == -1 && r->adaptive && !__atomic_load_n(&s->closing, __ATOMIC_ACQUIRE) &&
	    __atomic_load_n(&s->budget, __ATOMIC_ACQUIRE) == 0 &&
	    s->run_start != 0 && s->hold_ms <= now &&
	    now - s->last_ms < IDLE_MS) {
		tk->run = s->run;
		tk->n = __atomic_fetch_add(&s->sent, 1, __ATOMIC_RELAXED);
		tk->start = now;
		__atomic_store_n(&s->last_ms, now, __ATOMIC_RELAXED);
		return dalle_now_ms();
	}
	if (acquire(r) == -1)
		return dalle_now_ms();
	if (!sane(s, now))
		reset(s);
	if (over_hold(r, s, now, tk)) {
		t = s->hold_ms;
		goto out;
	}
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
	if (s->closing)
		learn(s);
	if (s->run_start == 0)
		s->run_start = t;
	if (s->budget > 0) {
		int j = take_place(s, now);

		if (s->place[j] > now) {
			/* Taken only when it is free: a place dropped in
			 * the meantime is not still used. */
			tk->deferred = 1;
			t = s->place[j];
			goto out;
		}
		tk->place = j;
		tk->next = s->place[j] = t + s->period_ms;
	}
	tk->run = s->run;
	tk->n = s->sent;
	if (s->budget == 0)
		s->sent++;      /* counted while learning, only then used */
	tk->start = t;
	if (t > s->last_ms)
		s->last_ms = t;
out:
	release(r);
	return dalle_now_ms() + (t - now);
}

void
dalle_rate_feedback(struct dalle_rate *r, long http, long retry_after_ms,
    const struct dalle_rate_ticket *tk)
{
	struct state *s = r->s;
	int64_t now;
	int j = tk->place;

	if (http != 429)
		return;
	if (acquire(r) == -1)
		return;
	/* Everybody waits as long as the server asked. */
	now = dalle_wall_ms();
	if (!sane(s, now))
		reset(s);
	if (retry_after_ms <= 0)
		retry_after_ms = 1000;
	if (s->hold_ms < now + retry_after_ms)
		s->hold_ms = now + retry_after_ms;
	if (!r->adaptive)
		goto out;
	if (s->budget == 0 && tk->run == s->run) {
		s->refused++;
		if (!s->closing) {
			/* The run is over: what it took is learned at the
			 * first request after the wait (a 429 of the run
			 * that comes later still, drops a place then). */
			s->closing = 1;
			s->close_spacing = tk->n > 0 ? (double)(tk->start -
			    s->run_start) / tk->n : 0;
		}
	} else if (s->budget > 1 && j < 0 && tk->run == s->run - 1) {
		/* A 429 of the run the budget was learned from that came
		 * after the learning: that run took one less. */
		drop(s, -1);
	} else if (s->budget > 0 && j >= 0 && j < s->nplace &&
	    s->place[j] != DROPPED) {
		/* This answer's own wait (not the longest one held), and
		 * the period that would have met it.  Counted from when
		 * the 429 came back, its way back and the service's queue
		 * included: a little slack against the next round's 429s. */
		int64_t room = now + retry_after_ms;
		int64_t want = room - (2 * tk->start - tk->next);

		s->clean = 0;
		if (s->probe_until > now && s->place[s->probe] != DROPPED &&
		    (j == s->probe || room - now > s->period_ms / 4)) {
			/* The place added last was one too many: with it
			 * in, the service is full until a whole slot ends. */
			drop(s, s->probe);
			s->probe_until = 0;
			if ((s->gap *= 2) > GAP_MAX)
				s->gap = GAP_MAX;
		} else if (want > s->period_ms * 3 / 2)
			/* No room for this place until well into its next
			 * period: the service takes one less. */
			drop(s, j);
		else {
			/* The service wants longer between this place's
			 * starts: a window later than thought, a slot that
			 * frees a little late. */
			if (want > s->period_ms)
				s->period_ms = want;
			/* A short wait: the place's own room comes back,
			 * in this round. */
			if (room - now <= s->period_ms / 4 &&
			    s->place[j] == tk->next)
				s->place[j] = room;
		}
	}
out:
	release(r);
}

/*
 * The directory of the state files, made if need be: it must be a
 * directory of ours that nobody else may enter, as for tmux's sockets,
 * or another user could plant a link or a file of theirs in it.
 */
static int
safe_dir(const char *d)
{
	const char *why;
	int fd;

	if ((fd = dalle_privdir_open(d, 1, &why)) == -1) {
		alone(d, why);
		return -1;
	}
	close(fd);
	return 0;
}

char *
dalle_rate_dir(void)
{
	const char *base = getenv("XDG_RUNTIME_DIR");
	char *d;

	if (base != NULL && *base == '/')
		d = dalle_xasprintf("%s/dalle-tools", base);
	else {
		if ((base = getenv("TMPDIR")) == NULL || *base != '/')
			base = "/tmp";
		d = dalle_xasprintf("%s/dalle-tools-%lu", base,
		    (unsigned long)getuid());
	}
	if (safe_dir(d) == -1) {
		free(d);
		return NULL;
	}
	return d;
}

char *
dalle_rate_path(const char *key)
{
	char *d, *p;

	if ((d = dalle_rate_dir()) == NULL)
		return NULL;
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
