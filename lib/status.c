/*
 * status.c: the pipeline's live status on a terminal (see status.h).
 *
 * The stages of `dalle-submit | dalle-poll | dalle-fetch` share one file,
 * $XDG_RUNTIME_DIR/dalle-tools/status-PGID-TTY (or its ${TMPDIR:-/tmp}
 * twin: the directory of the request budget), mode 0600, mapped by each:
 * one fixed slot per stage, written with plain stores inside a sequence
 * counter (odd while a write is under way), so that nobody waits on a
 * lock.  Each stage writes its own slot only; the stage of the highest
 * rank that is alive (stdout no pipe first, then the later stage) reads
 * them all and draws, at most ten times a second, from its record loop.
 * The cursor is left at the start of the drawing, and every line of text
 * any stage writes to stderr (through a stdio stream put in stderr's
 * place) or records written to the terminal first erase the drawing: so
 * a warning goes where the drawing was, and the drawing comes back below
 * it.  Whoever leaves last removes the file; a file whose process group
 * is gone is removed by the next stage to open one.
 */
#define _GNU_SOURCE               /* fopencookie */
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "progress.h"
#include "rate.h"
#include "record.h"
#include "status.h"
#include "util.h"

#define NSLOT 3
#define NOTE_MAX 1024
#define MAGIC 0x64737401u         /* "dst", layout 1 */
#define DRAW_MS 100               /* ten drawings a second at most */
#define PIPE_WAIT_MS 1000         /* a stage writing to a pipe gives the
                                   * next stage this long to come before
                                   * it draws alone */
#define COUNT_MAX (256LL << 20)   /* larger input: its total is unknown */

struct slot {
	uint32_t seq;             /* odd while its stage writes it */
	int32_t pid;              /* 0: never used */
	int32_t ended;
	int32_t rank;             /* the highest alive draws */
	int64_t total;            /* records to expect; -1: unknown */
	int64_t in, out, failed, inflight, quota, retries, images;
	double usd;
	int32_t has_usd;
	char note[NOTE_MAX];
};

struct area {
	uint32_t magic;
	uint32_t pad;
	int64_t start;            /* wall clock ms the first stage came */
	struct slot s[NSLOT];
};

static const char *const stages[NSLOT] = { "submit", "poll", "fetch" };

static struct area *a;            /* NULL: off */
static struct slot mine;
static struct slot seen[NSLOT];   /* each slot as last read whole */
static int me;                    /* my slot */
static char *path;
static struct dalle_progress prog;
static int64_t last_draw;
static int tty_out;               /* stdout is a terminal too */
static FILE *real_err;            /* stderr before ours took its place;
                                   * kept to the end, as another stage
                                   * may still draw when this one is
                                   * done */
static int bol = 1;               /* stderr is at the start of a line */

/* Every byte of p[0..n) to stderr's descriptor. */
static void
put_err(const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = write(STDERR_FILENO, p, n);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
		} else if (w == -1 && errno != EINTR)
			return;
	}
}

/* stderr's stream while on: a line begins by erasing the drawing. */
static ssize_t
err_write(void *cookie, const char *buf, size_t n)
{
	(void)cookie;
	if (n == 0)
		return 0;
	if (bol) {
		put_err("\r\033[J", 4);
		prog.shown = 0;
	}
	put_err(buf, n);
	bol = buf[n - 1] == '\n';
	return (ssize_t)n;
}

static int
alive(const struct slot *s)
{
	if (s->pid <= 0 || s->ended)
		return 0;
	return s->pid == getpid() || kill(s->pid, 0) == 0 || errno == EPERM;
}

/* A consistent copy of slot i into s: as it is, or, when it never
 * settled while its stage wrote it, as it was last read (a stage does
 * not vanish for a drawing). */
static void
snap(int i, struct slot *s)
{
	uint32_t q;
	int tries;

	for (tries = 0; tries < 8; tries++) {
		q = __atomic_load_n(&a->s[i].seq, __ATOMIC_ACQUIRE);
		if (q & 1)
			continue;
		memcpy(s, &a->s[i], sizeof(*s));
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&a->s[i].seq, __ATOMIC_RELAXED) == q) {
			seen[i] = *s;
			return;
		}
	}
	*s = seen[i];
}

/* My slot out, the note too when it changed. */
static void
publish(int note)
{
	struct slot *s = &a->s[me];

	__atomic_add_fetch(&s->seq, 1, __ATOMIC_ACQ_REL);
	/* Everything from pid up to the note. */
	memcpy(&s->pid, &mine.pid, offsetof(struct slot, note) -
	    offsetof(struct slot, pid));
	if (note)
		memcpy(s->note, mine.note, sizeof(s->note));
	__atomic_add_fetch(&s->seq, 1, __ATOMIC_RELEASE);
}

/* Remove the status files of process groups that are gone. */
static void
sweep(const char *dir)
{
	struct dirent *d;
	char *p;
	long pg;
	DIR *dp;

	if ((dp = opendir(dir)) == NULL)
		return;
	while ((d = readdir(dp)) != NULL) {
		if (sscanf(d->d_name, "status-%ld-", &pg) != 1 || pg <= 1)
			continue;
		if (kill(-(pid_t)pg, 0) == 0 || errno != ESRCH)
			continue;
		p = dalle_xasprintf("%s/%s", dir, d->d_name);
		unlink(p);
		free(p);
	}
	closedir(dp);
}

/* The pipeline's file, mapped; NULL if it cannot be ours. */
static struct area *
map(const char *file)
{
	struct stat st;
	void *m;
	int fd;

	if ((fd = open(file, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
	    0600)) == -1)
		return NULL;
	/* Only a plain file of ours with no other name. */
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_uid != geteuid() || st.st_nlink != 1 ||
	    (st.st_mode & 077) != 0 || ((size_t)st.st_size < sizeof(*a) &&
	    ftruncate(fd, sizeof(*a)) == -1)) {
		close(fd);
		return NULL;
	}
	m = mmap(NULL, sizeof(*a), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	return m == MAP_FAILED ? NULL : m;
}

/* At exit: stderr as it was. */
static void
restore(void)
{
	if (real_err == NULL)
		return;
	fflush(stderr);
	fclose(stderr);
	stderr = real_err;
	real_err = NULL;
}

int
dalle_status_open(const char *stage, int quiet)
{
	static cookie_io_functions_t io = { NULL, err_write, NULL, NULL };
	struct slot other;
	struct stat st;
	uint32_t zero = 0;
	char *dir;
	FILE *f;

	if (a != NULL)
		return 1;
	dalle_progress_init(&prog, quiet);
	for (me = 0; me < NSLOT && strcmp(stages[me], stage) != 0; me++)
		;
	if (!prog.on || me == NSLOT || fstat(STDERR_FILENO, &st) == -1)
		return prog.on = 0;
	if ((dir = dalle_rate_dir()) == NULL)
		return prog.on = 0;
	sweep(dir);
	path = dalle_xasprintf("%s/status-%ld-%llx", dir, (long)getpgrp(),
	    (unsigned long long)st.st_rdev);
	free(dir);
	if ((a = map(path)) == NULL)
		goto off;
	if (__atomic_compare_exchange_n(&a->magic, &zero, MAGIC, 0,
	    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		a->start = dalle_wall_ms();
	else if (zero != MAGIC)
		goto off;
	/* A second stage of the same name in one pipeline: not drawn. */
	snap(me, &other);
	if (other.pid != getpid() && alive(&other))
		goto off;
	memset(&mine, 0, sizeof(mine));
	mine.pid = getpid();
	mine.total = -1;
	mine.rank = me;
	if (fstat(STDOUT_FILENO, &st) == -1 || !(S_ISFIFO(st.st_mode) ||
	    S_ISSOCK(st.st_mode)))
		mine.rank += NSLOT;
	tty_out = isatty(STDOUT_FILENO);
	publish(1);
	/* The other stages have this long to come before anyone draws; a
	 * stage writing to a pipe waits longer, as the reader is most often
	 * the next stage, and one drawing of its own before that one came
	 * would flicker. */
	last_draw = dalle_now_ms();
	if (mine.rank < NSLOT)
		last_draw += PIPE_WAIT_MS - DRAW_MS;
	if (real_err == NULL && (f = fopencookie(NULL, "w", io)) != NULL) {
		setvbuf(f, NULL, _IOLBF, BUFSIZ);
		fflush(stderr);
		real_err = stderr;
		stderr = f;
		atexit(restore);
	}
	atexit(dalle_status_close);
	return 1;
off:
	if (a != NULL)
		munmap(a, sizeof(*a));
	a = NULL;
	free(path);
	path = NULL;
	return prog.on = 0;
}

/* Non-blank lines of the regular file fd from where it is read now. */
static long
lines_of(int fd)
{
	struct stat st;
	char buf[65536];
	long n = 0;
	off_t at;
	ssize_t r, i;
	int filled = 0;

	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > COUNT_MAX || (at = lseek(fd, 0, SEEK_CUR)) == -1)
		return -1;
	while ((r = pread(fd, buf, sizeof(buf), at)) > 0) {
		for (i = 0; i < r; i++) {
			if (buf[i] == '\n') {
				n += filled;
				filled = 0;
			} else if (buf[i] != ' ' && buf[i] != '\t' &&
			    buf[i] != '\r')
				filled = 1;
		}
		at += r;
	}
	return r == 0 ? n + filled : -1;
}

void
dalle_status_input(int fd, int argc)
{
	if (a == NULL)
		return;
	mine.total = argc > 0 ? argc : lines_of(fd);
	publish(0);
}

/* "1h02m", "3m20s" or "45s". */
static void
duration(char *s, size_t n, int64_t sec)
{
	if (sec >= 3600)
		snprintf(s, n, "%lldh%02lldm", (long long)(sec / 3600),
		    (long long)(sec % 3600 / 60));
	else if (sec >= 60)
		snprintf(s, n, "%lldm%02llds", (long long)(sec / 60),
		    (long long)(sec % 60));
	else
		snprintf(s, n, "%llds", (long long)(sec > 0 ? sec : 1));
}

/* The pipeline's line: done of total, images a minute, spent, time left. */
static void
summary(const struct slot *s, long total)
{
	char done[64], rate[48] = "", spent[48] = "", left[64] = "", t[32];
	int64_t ms = dalle_wall_ms() - a->start;
	double usd = -1;
	int i;

	for (i = 0; i < NSLOT; i++)
		if (s[i].pid > 0 && s[i].has_usd && s[i].usd > usd)
			usd = s[i].usd;
	if (total >= 0)
		snprintf(done, sizeof(done), "%lld of %ld done",
		    (long long)mine.out, total);
	else
		snprintf(done, sizeof(done), "%lld done", (long long)mine.out);
	if (ms >= 1000 && mine.images > 0)
		snprintf(rate, sizeof(rate), ", %.1f images/min",
		    mine.images * 60000.0 / (double)ms);
	if (usd >= 0)
		snprintf(spent, sizeof(spent), ", $%.2f spent", usd);
	if (total > mine.out && mine.out > 0 && ms >= 1000) {
		duration(t, sizeof(t), (int64_t)((double)ms / 1000 *
		    (double)(total - mine.out) / (double)mine.out + 0.5));
		snprintf(left, sizeof(left), ", about %s left", t);
	}
	dalle_progress_add(&prog, "dalle: %s%s%s%s", done, rate, spent, left);
}

/* A stage's line, then its note's lines. */
static void
stage_line(int i, const struct slot *s, long total)
{
	char of[32] = "", q[48] = "", r[32] = "", f[32] = "";
	const char *p, *nl;

	if (total >= 0)
		snprintf(of, sizeof(of), " of %ld", total);
	if (s->quota > 0)
		snprintf(q, sizeof(q), ", %lld waiting on quota",
		    (long long)s->quota);
	if (s->retries > 0)
		snprintf(r, sizeof(r), ", %lld retr%s", (long long)s->retries,
		    s->retries == 1 ? "y" : "ies");
	if (s->failed > 0)
		snprintf(f, sizeof(f), ", %lld failed", (long long)s->failed);
	dalle_progress_add(&prog, "  %-6s %lld%s out, %lld in flight%s%s%s",
	    stages[i], (long long)s->out, of, (long long)s->inflight, q, r, f);
	for (p = s->note; *p != '\0'; p = *nl ? nl + 1 : nl) {
		if ((nl = strchr(p, '\n')) == NULL)
			nl = p + strlen(p);
		dalle_progress_add(&prog, "%.*s", (int)(nl - p), p);
	}
}

/* Draw every live stage, if it is ours to draw (and, unless force, a
 * tenth of a second has gone by). */
static void
draw(int force)
{
	struct slot s[NSLOT];
	int live[NSLOT], i, best = -1;
	int64_t now = dalle_now_ms();
	long total = -1;

	if (!force && now - last_draw < DRAW_MS)
		return;
	for (i = 0; i < NSLOT; i++) {
		if (i == me)
			s[i] = mine;
		else
			snap(i, &s[i]);
		live[i] = alive(&s[i]) || (i == me && force);
		if (live[i] && (best == -1 || s[i].rank > s[best].rank))
			best = i;
		/* The first stage that knows it, ended or not. */
		if (total < 0 && s[i].pid > 0 && s[i].total >= 0)
			total = (long)s[i].total;
	}
	if (best != me) {
		/* Another draws: ours (from before it came) goes. */
		dalle_progress_clear(&prog);
		return;
	}
	last_draw = now;
	summary(s, total);
	for (i = 0; i < NSLOT; i++)
		if (live[i])
			stage_line(i, &s[i], total);
	dalle_progress_draw(&prog);
}

void
dalle_status_update(const struct dalle_status_counts *c)
{
	if (a == NULL)
		return;
	mine.in = c->in;
	mine.out = c->out;
	mine.failed = c->failed;
	mine.inflight = c->inflight;
	mine.quota = c->quota;
	mine.retries = c->retries;
	publish(0);
	draw(0);
}

void
dalle_status_record(jv rec)
{
	jv v;

	if (a == NULL)
		return;
	v = dalle_record_get(rec, "files");
	if (jv_get_kind(v) != JV_KIND_ARRAY) {
		jv_free(v);
		v = dalle_record_get(rec, "data");
	}
	if (jv_get_kind(v) == JV_KIND_ARRAY)
		mine.images += jv_array_length(jv_copy(v));
	jv_free(v);
	v = dalle_record_get(rec, "cost");
	if (jv_get_kind(v) == JV_KIND_OBJECT)
		v = jv_object_get(v, jv_string("usd"));
	if (jv_get_kind(v) == JV_KIND_NUMBER) {
		mine.usd += jv_number_value(v);
		mine.has_usd = 1;
	}
	jv_free(v);
}

void
dalle_status_note(const char *text)
{
	if (a == NULL)
		return;
	snprintf(mine.note, sizeof(mine.note), "%s", text ? text : "");
	publish(1);
	draw(1);
}

long
dalle_status_wait(long ms)
{
	return a != NULL && ms > DRAW_MS ? DRAW_MS : ms;
}

void
dalle_status_output(void)
{
	if (a == NULL || !tty_out)
		return;
	put_err("\r\033[J", 4);
	prog.shown = 0;
}

void
dalle_status_close(void)
{
	struct slot s;
	int i, left = 0;

	if (a == NULL)
		return;
	/* The last counts a moment, then nothing. */
	draw(1);
	dalle_progress_free(&prog);
	mine.ended = 1;
	publish(0);
	for (i = 0; i < NSLOT; i++) {
		if (i == me)
			continue;
		snap(i, &s);
		if (alive(&s))
			left = 1;
	}
	if (!left)
		unlink(path);
	munmap(a, sizeof(*a));
	a = NULL;
	free(path);
	path = NULL;
}
