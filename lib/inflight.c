/*
 * inflight.c: before a request goes out, its sender locks one byte of the
 * journal that stands for the request's key: an open file description
 * lock (F_OFD_SETLK) far beyond the end of the file, so that no entry is
 * ever under it.  The lock is held until the answer is journaled; it goes
 * with the process however that ends, kill -9 included.  A process that
 * finds the byte locked does not send: it looks again until the lock is
 * gone, then takes the answer from the journal, or sends itself when
 * there is none (the first sender failed or died).
 */
#define _GNU_SOURCE             /* F_OFD_SETLK */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dalle.h"
#include "inflight.h"

/* How often a waiting process looks at the lock again. */
#define LOOK_MS 50

/* One byte far beyond any journal's end, by key. */
static off_t
spot(const char *key)
{
	return (off_t)((UINT64_C(1) << 62) |
	    (dalle_hash(key, strlen(key), 0) >> 4));
}

static int
lock(struct dalle_inflight *f, short type)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	fl.l_start = spot(f->key);
	fl.l_len = 1;
	return fcntl(dalle_journal_fd(f->journal), F_OFD_SETLK, &fl);
}

void
dalle_inflight_init(struct dalle_inflight *f, struct dalle_journal *j,
    const char *key, long wait_ms)
{
	memset(f, 0, sizeof(*f));
	f->journal = j;
	f->key = dalle_xstrdup(key);
	f->wait_ms = wait_ms;
	f->seen = dalle_journal_get(j, key);
}

int
dalle_inflight_gate(struct dalle_inflight *f)
{
	jv st;

	if (f->held)
		return 0;               /* a retry of ours */
	f->answered = f->timedout = 0;
	if (lock(f, F_WRLCK) == 0) {
		f->held = 1;
		/* Another sender may have come and gone since the journal
		 * was read: did it journal an answer? */
		dalle_journal_refresh(f->journal);
		st = dalle_journal_get(f->journal, f->key);
		f->answered = jv_is_valid(st) && !jv_equal(jv_copy(st),
		    jv_copy(f->seen));
		jv_free(f->seen);
		f->seen = st;
		f->until = 0;
		if (!f->answered)
			return 0;       /* none, or it failed or died */
		dalle_inflight_release(f);
		return -1;
	}
	if (errno != EAGAIN && errno != EACCES)
		return 0;               /* no locks here: as before */
	if (f->until == 0)
		f->until = dalle_now_ms() + f->wait_ms;
	else if (dalle_now_ms() >= f->until) {
		f->timedout = 1;
		f->until = 0;
		return -1;
	}
	return LOOK_MS;
}

void
dalle_inflight_release(struct dalle_inflight *f)
{
	if (f->held)
		lock(f, F_UNLCK);
	f->held = 0;
}

void
dalle_inflight_free(struct dalle_inflight *f)
{
	if (f->key == NULL)
		return;
	dalle_inflight_release(f);
	jv_free(f->seen);
	free(f->key);
	f->key = NULL;
}
