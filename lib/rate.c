/*
 * rate.c: a request budget that holds across processes.  Every process
 * that names the same state file reserves the next free start time on one
 * shared timeline: lock the file (fcntl), read when the next request may
 * start, advance it by one interval, write, unlock, and wait locally until
 * the reserved time.  Nobody spins on the lock and nobody bursts.
 *
 * With --rate the interval is 60 s / N.  Without it the budget learns: a
 * 429 holds every process back for the server's retry-after and slows the
 * pace to what was just accepted; successes speed it up by about a
 * quarter a second, so
 * the pace converges on the quota from both sides.
 */
#include <sys/stat.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dalle.h"

/* The shared state, as it is stored in the file. */
struct state {
	uint32_t magic;
	uint32_t version;
	int64_t next_ms;          /* wall clock: the next free start */
	int64_t hold_ms;          /* wall clock: no start before this */
	double interval_ms;       /* current pace; 0: none */
	int64_t last_slow_ms;     /* when a 429 last slowed the pace */
	int64_t last_ok_ms;       /* the last success */
	double ok_rate;           /* successes a second, decaying over 1 s */
};

#define STATE_MAGIC 0x64616c6cU

struct dalle_rate {
	int fd;                   /* -1: this process alone */
	int adaptive;
	double fixed_ms;          /* --rate: the interval, never changed */
	struct state local;
};

static int
lock(struct dalle_rate *r, struct state *s)
{
	struct flock fl;

	if (r->fd == -1) {
		*s = r->local;
		return 0;
	}
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	while (fcntl(r->fd, F_SETLKW, &fl) == -1)
		if (errno != EINTR)
			return -1;
	if (pread(r->fd, s, sizeof(*s), 0) != (ssize_t)sizeof(*s) ||
	    s->magic != STATE_MAGIC || s->version != 2) {
		memset(s, 0, sizeof(*s));
		s->magic = STATE_MAGIC;
		s->version = 2;
	}
	return 0;
}

static void
unlock(struct dalle_rate *r, const struct state *s)
{
	struct flock fl;

	if (r->fd == -1) {
		r->local = *s;
		return;
	}
	if (pwrite(r->fd, s, sizeof(*s), 0) != (ssize_t)sizeof(*s))
		warn("rate file");
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_UNLCK;
	fl.l_whence = SEEK_SET;
	fcntl(r->fd, F_SETLK, &fl);
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
	r->local.magic = STATE_MAGIC;
	r->local.version = 2;
	if (path && (r->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC,
	    0600)) == -1)
		warn("%s: the request budget is this process's alone", path);
	return r;
}

void
dalle_rate_close(struct dalle_rate *r)
{
	if (r == NULL)
		return;
	if (r->fd != -1)
		close(r->fd);
	free(r);
}

int64_t
dalle_rate_reserve(struct dalle_rate *r)
{
	struct state s;
	int64_t now = dalle_wall_ms(), t;
	double iv;

	if (lock(r, &s) == -1)
		return dalle_now_ms();
	iv = r->adaptive ? s.interval_ms : r->fixed_ms;
	t = now > s.next_ms ? now : s.next_ms;
	if (t < s.hold_ms)
		t = s.hold_ms;
	s.next_ms = t + (int64_t)(iv + 0.5);
	unlock(r, &s);
	return dalle_now_ms() + (t - now);
}

void
dalle_rate_feedback(struct dalle_rate *r, long http, long retry_after_ms)
{
	struct state s;
	int64_t now = dalle_wall_ms();
	double dt;

	/* A fixed pace learns nothing from a success: no lock for it. */
	if (http != 429 && (http < 200 || http > 299 || !r->adaptive))
		return;
	if (lock(r, &s) == -1)
		return;
	if (http != 429) {
		/* The rate of successes, as an average that forgets in 1 s. */
		dt = (double)(now - s.last_ok_ms) / 1000.0;
		s.ok_rate = s.ok_rate * (dt > 0 ? exp(-dt) : 1.0) + 1.0;
		s.last_ok_ms = now;
		/* Probe upwards by about a quarter a second. */
		if (r->adaptive && s.interval_ms > 0)
			s.interval_ms *= 1.0 - 0.25 / (s.ok_rate > 1 ?
			    s.ok_rate : 1);
		unlock(r, &s);
		return;
	}
	/* Everybody waits as long as the server asked. */
	if (retry_after_ms < 0)
		retry_after_ms = 1000;
	if (s.hold_ms < now + retry_after_ms)
		s.hold_ms = now + retry_after_ms;
	/* Pace at what was just accepted; once per burst of 429s. */
	if (r->adaptive && now - s.last_slow_ms > retry_after_ms) {
		dt = (double)(now - s.last_ok_ms) / 1000.0;
		s.interval_ms = 1000.0 / (s.ok_rate * exp(-dt) > 1 ?
		    s.ok_rate * exp(-dt) : 1.0);
		s.last_slow_ms = now;
	}
	unlock(r, &s);
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
	p = dalle_xasprintf("%s/rate-%016llx", d, (unsigned long long)
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
