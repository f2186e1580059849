/*
 * dalle-serve: a local twin of the Azure OpenAI and OpenAI image APIs.
 * Reads nothing on stdin.  Prints its base URL (ending in '/') as the first
 * line of stdout, then serves HTTP until SIGINT or SIGTERM.  Exits 0 after
 * a clean shutdown, 64 on a bad option, 66 when a key file cannot be read,
 * 71 when it cannot listen.
 */
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <ctype.h>
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "dalle.h"

#define MAX_BODY (4 * 1024 * 1024)
#define OP_BUCKETS 65536
#define BLOB_BUCKETS 65536
#define CACHE_BUCKETS 4096
#define MAX_BLOBS 200000
#define MAX_OPS 1000000
#define OP_LIFETIME 86400

enum route {
	R_SUBMIT, R_OP_GET, R_OP_DELETE, R_AZURE, R_AZURE_V1, R_OPENAI,
	R_IMAGE, R_STATS, R_OTHER, R_N
};
static const char *const route_names[R_N] = {
	"submit", "operation_get", "operation_delete", "azure_generate",
	"azure_v1_generate", "openai_generate", "image", "stats", "other"
};

/* Which service's manners a generation answers with. */
enum flavour { FL_AZURE, FL_AZURE_V1, FL_OPENAI };

struct deployment {
	char *name;
	const struct dalle_model *model;
};

static struct {
	const char *listen;
	const char *public_url;
	struct deployment *depl;
	size_t ndepl;
	char **keys, **tokens, **blocked;
	size_t nkeys, ntokens, nblocked;
	double latency, jitter, rate_window;
	double fail_rate, drop_rate, truncate_rate;
	long concurrency, rpm, slow_images, url_ttl;
	long image_scale, threads;
	size_t cache_bytes;
	uint64_t seed;
	int seeded;
	FILE *log;
} opt;

static char listen_base[128];
static uint64_t sig_secret[2];
static volatile int stopping;

/* Counters for GET /_serve/stats. */
static pthread_mutex_t stats_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	uint64_t requests, by_route[R_N], by_status[600];
	uint64_t rate_limited, concurrency_limited, auth_failed, filtered;
	uint64_t fault_fail, fault_drop, fault_truncate, fault_slow;
	uint64_t submits, polls, deletes, downloads, generations, images;
	uint64_t cache_hits, cache_misses;
	long connections, active, suspended, sync_inflight;
	long suspended_peak;      /* most suspended at once since start */
} st;

struct req {
	struct MHD_Connection *conn;
	enum route route;
	int64_t start_ms;
	char method[8];
	char *path;
	struct dalle_buf body;
	int too_big;
	int waiting;              /* suspended until the timer resumes it */
	int holds_slot;           /* counts in st.sync_inflight */
	struct MHD_Response *stash;
	unsigned stash_status;
	int64_t delay_ms;
	unsigned status;
	uint64_t resp_bytes;
	const char *fault;
	long rl_remaining;        /* x-ratelimit-remaining-requests, or -1 */
	jv logrec;                /* headers and query, when logging */
};

static void usage(FILE *fp, int rc) __attribute__((noreturn));

static void
usage(FILE *fp, int rc)
{
	fputs("usage: dalle-serve [-h] [-d name=model] [-l addr:port] "
	    "[--api-key key]\n"
	    "\t[--api-key-file file] [--blocked-term word] "
	    "[--cache-size mib]\n"
	    "\t[--concurrency n] [--drop-rate p] [--fail-rate p] "
	    "[--image-scale n]\n"
	    "\t[--jitter seconds] [--latency seconds] [--log file] "
	    "[--public-url url]\n"
	    "\t[--rate-window seconds] [--rpm n] [--seed n] "
	    "[--slow-images bytes]\n"
	    "\t[--threads n] [--token token] [--token-file file] "
	    "[--truncate-rate p]\n"
	    "\t[--url-ttl seconds]\n", fp);
	exit(rc);
}

/* ---- small helpers -------------------------------------------------- */

static pthread_mutex_t rng_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t rng_fault, rng_id;

/* Uniform in [0, 1) from the fault stream, reproducible with --seed. */
static double
chance(void)
{
	uint64_t v;

	pthread_mutex_lock(&rng_mu);
	v = dalle_rand(&rng_fault);
	pthread_mutex_unlock(&rng_mu);
	return (double)(v >> 11) / 9007199254740992.0;
}

static void
uuid_new(char out[37])
{
	uint64_t a, b;

	pthread_mutex_lock(&rng_mu);
	a = dalle_rand(&rng_id);
	b = dalle_rand(&rng_id);
	pthread_mutex_unlock(&rng_mu);
	a = (a & ~0xF000ULL) | 0x4000ULL;
	b = (b & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;
	snprintf(out, 37, "%08x-%04x-%04x-%04x-%012llx",
	    (unsigned)(a >> 32), (unsigned)(a >> 16) & 0xFFFF,
	    (unsigned)a & 0xFFFF, (unsigned)(b >> 48),
	    (unsigned long long)(b & 0xFFFFFFFFFFFFULL));
}

static int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Latency of one generation in ms: --latency plus or minus --jitter. */
static int64_t
latency_ms(void)
{
	double s;

	s = opt.latency;
	if (opt.jitter > 0)
		s += (chance() * 2 - 1) * opt.jitter;
	return s > 0 ? (int64_t)(s * 1000 + 0.5) : 0;
}

static void
stat_add(uint64_t *p, uint64_t n)
{
	pthread_mutex_lock(&stats_mu);
	*p += n;
	pthread_mutex_unlock(&stats_mu);
}

static void
stat_long(long *p, long n)
{
	pthread_mutex_lock(&stats_mu);
	*p += n;
	pthread_mutex_unlock(&stats_mu);
}

static int
ct_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i;
	unsigned char d = la != lb;

	for (i = 0; i < la && i < lb; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}

static int
in_list(char **list, size_t n, const char *s)
{
	size_t i;
	int hit = 0;

	for (i = 0; i < n; i++)
		hit |= ct_equal(list[i], s);
	return hit;
}

/* Case-insensitive substring search. */
static int
has_word(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	if (n == 0)
		return 0;
	for (; *hay != '\0'; hay++)
		if (strncasecmp(hay, needle, n) == 0)
			return 1;
	return 0;
}

static const char *
blocked_term(const char *prompt)
{
	size_t i;

	for (i = 0; i < opt.nblocked; i++)
		if (has_word(prompt, opt.blocked[i]))
			return opt.blocked[i];
	return NULL;
}

static void
pct_encode(struct dalle_buf *b, const char *s)
{
	char hex[4];

	for (; *s != '\0'; s++) {
		if ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		    (*s >= '0' && *s <= '9') ||
		    strchr("-._~", *s) != NULL)
			dalle_buf_add(b, s, 1);
		else {
			snprintf(hex, sizeof(hex), "%%%02X", (unsigned char)*s);
			dalle_buf_adds(b, hex);
		}
	}
}

static void
iso_time(int64_t t, char *buf, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int64_t
iso_parse(const char *s)
{
	struct tm tm;
	int y, mo, d, h, mi, se;
	char z;

	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%c", &y, &mo, &d, &h, &mi, &se,
	    &z) != 7 || z != 'Z')
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	return (int64_t)timegm(&tm);
}

/*
 * api-version "YYYY-MM-DD" or "YYYY-MM-DD-preview": its date as YYYYMMDD,
 * or -1.
 */
static long
version_date(const char *v)
{
	int y, m, d, n = 0;

	if (v == NULL || sscanf(v, "%4d-%2d-%2d%n", &y, &m, &d, &n) != 3 ||
	    n != 10 || strlen(v) < 10 || v[4] != '-' || v[7] != '-')
		return -1;
	if (v[10] != '\0' && strcmp(v + 10, "-preview") != 0)
		return -1;
	if (m < 1 || m > 12 || d < 1 || d > 31)
		return -1;
	return (long)y * 10000 + m * 100 + d;
}

static int
version_async(const char *v)
{
	static const char *const ok[] = {
		"2023-06-01-preview", "2023-07-01-preview",
		"2023-08-01-preview", "2023-09-01-preview",
		"2023-10-01-preview", NULL
	};
	int i;

	for (i = 0; v != NULL && ok[i] != NULL; i++)
		if (strcmp(v, ok[i]) == 0)
			return 1;
	return 0;
}

/* ---- timer: resumes suspended connections --------------------------- */

struct tev {
	int64_t due;
	struct MHD_Connection *conn;
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct tev *heap;
	size_t n, cap;
	pthread_t thr;
} tm_q = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0, 0,
	0 };

static void
heap_push(struct tev ev)
{
	size_t i, p;
	struct tev t;

	if (tm_q.n == tm_q.cap) {
		tm_q.cap = tm_q.cap ? tm_q.cap * 2 : 256;
		tm_q.heap = dalle_xrealloc(tm_q.heap,
		    tm_q.cap * sizeof(*tm_q.heap));
	}
	i = tm_q.n++;
	tm_q.heap[i] = ev;
	while (i > 0) {
		p = (i - 1) / 2;
		if (tm_q.heap[p].due <= tm_q.heap[i].due)
			break;
		t = tm_q.heap[p];
		tm_q.heap[p] = tm_q.heap[i];
		tm_q.heap[i] = t;
		i = p;
	}
}

static struct tev
heap_pop(void)
{
	struct tev top, t;
	size_t i, l, r, m;

	top = tm_q.heap[0];
	tm_q.heap[0] = tm_q.heap[--tm_q.n];
	for (i = 0;;) {
		l = 2 * i + 1;
		r = l + 1;
		m = i;
		if (l < tm_q.n && tm_q.heap[l].due < tm_q.heap[m].due)
			m = l;
		if (r < tm_q.n && tm_q.heap[r].due < tm_q.heap[m].due)
			m = r;
		if (m == i)
			break;
		t = tm_q.heap[m];
		tm_q.heap[m] = tm_q.heap[i];
		tm_q.heap[i] = t;
		i = m;
	}
	return top;
}

/*
 * Suspend conn and resume it at due.  Must be called from the access
 * handler or a content reader, before anything else could resume it.
 */
static void
sleep_until(struct MHD_Connection *conn, int64_t due)
{
	struct tev ev;

	MHD_suspend_connection(conn);
	ev.due = due;
	ev.conn = conn;
	pthread_mutex_lock(&tm_q.mu);
	heap_push(ev);
	pthread_cond_signal(&tm_q.cv);
	pthread_mutex_unlock(&tm_q.mu);
	pthread_mutex_lock(&stats_mu);
	if (++st.suspended > st.suspended_peak)
		st.suspended_peak = st.suspended;
	pthread_mutex_unlock(&stats_mu);
}

static void *
timer_main(void *arg)
{
	struct timespec ts;
	struct tev ev;
	int64_t now, due;

	(void)arg;
	pthread_mutex_lock(&tm_q.mu);
	for (;;) {
		if (stopping && tm_q.n == 0)
			break;
		if (tm_q.n == 0) {
			pthread_cond_wait(&tm_q.cv, &tm_q.mu);
			continue;
		}
		now = dalle_now_ms();
		due = tm_q.heap[0].due;
		if (due > now && !stopping) {
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += (due - now) / 1000;
			ts.tv_nsec += (long)((due - now) % 1000) * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&tm_q.cv, &tm_q.mu, &ts);
			continue;
		}
		ev = heap_pop();
		pthread_mutex_unlock(&tm_q.mu);
		stat_long(&st.suspended, -1);
		MHD_resume_connection(ev.conn);
		pthread_mutex_lock(&tm_q.mu);
	}
	pthread_mutex_unlock(&tm_q.mu);
	return NULL;
}

/* ---- keyed lists ----------------------------------------------------- */

/*
 * The three stores below (rendered images, image URLs, operations) are each
 * a hash table whose entries also form a list, oldest first: found by key,
 * dropped from the front.  An entry begins with its struct link.
 */
struct link {
	struct link *hnext, *fnext;
	const char *key;          /* in the entry itself */
	uint64_t hv;              /* the key's hash */
};

struct keyed {
	struct link **b;
	size_t nb, n;
	struct link *head, *tail;
};

#define KEYED(buckets, nb) { (buckets), (nb), 0, NULL, NULL }

static uint64_t
key_hash(const char *key)
{
	return dalle_hash(key, strlen(key), 0);
}

/* Add l under key, which lives as long as the entry does. */
static void
keyed_add(struct keyed *t, struct link *l, const char *key)
{
	struct link **b;

	l->key = key;
	l->hv = key_hash(key);
	b = &t->b[l->hv % t->nb];
	l->hnext = *b;
	*b = l;
	l->fnext = NULL;
	if (t->tail != NULL)
		t->tail->fnext = l;
	else
		t->head = l;
	t->tail = l;
	t->n++;
}

/* The entry with this key, or NULL. */
static struct link *
keyed_find(const struct keyed *t, const char *key)
{
	uint64_t hv = key_hash(key);
	struct link *l;

	for (l = t->b[hv % t->nb]; l != NULL; l = l->hnext)
		if (l->hv == hv && strcmp(l->key, key) == 0)
			return l;
	return NULL;
}

/* Unlink the oldest entry and return it; NULL when empty. */
static struct link *
keyed_pop(struct keyed *t)
{
	struct link *l = t->head, **pp;

	if (l == NULL)
		return NULL;
	t->head = l->fnext;
	if (t->head == NULL)
		t->tail = NULL;
	for (pp = &t->b[l->hv % t->nb]; *pp != l; pp = &(*pp)->hnext)
		;
	*pp = l->hnext;
	t->n--;
	return l;
}

/* ---- image cache ---------------------------------------------------- */

struct cent {
	struct link l;            /* l.key: key */
	char *key;
	unsigned char *data;
	size_t len;
	int refs, dead;
};

static struct link *cache_b[CACHE_BUCKETS];
static struct {
	pthread_mutex_t mu;
	struct keyed t;
	size_t bytes;
} cache = { PTHREAD_MUTEX_INITIALIZER, KEYED(cache_b, CACHE_BUCKETS), 0 };

static void
cent_release(struct cent *c)
{
	int last;

	pthread_mutex_lock(&cache.mu);
	last = --c->refs == 0 && c->dead;
	pthread_mutex_unlock(&cache.mu);
	if (last) {
		free(c->key);
		free(c->data);
		free(c);
	}
}

/* Drop the oldest entries until the cache fits.  Called locked. */
static void
cache_trim(void)
{
	struct cent *c;

	while (cache.bytes > opt.cache_bytes &&
	    (c = (struct cent *)keyed_pop(&cache.t)) != NULL) {
		cache.bytes -= c->len;
		c->dead = 1;
		if (c->refs == 0) {
			free(c->key);
			free(c->data);
			free(c);
		}
	}
}

/*
 * The picture for image idx of a prompt, rendered once and shared.  The
 * caller holds a reference and gives it back with cent_release.
 */
static struct cent *
image_get(const char *prompt, int idx, int w, int h, const char *fmt,
    int quality, int transparent)
{
	struct cent *c;
	char *key, *variant;
	unsigned char *data;
	size_t len;

	if (opt.image_scale > 1) {
		w = w / opt.image_scale > 0 ? w / opt.image_scale : 1;
		h = h / opt.image_scale > 0 ? h / opt.image_scale : 1;
	}
	if (strcmp(fmt, "png") != 0)
		transparent = 0;
	else
		quality = 0;
	key = dalle_xasprintf("%dx%d/%s/%d/%d/%d/%s", w, h, fmt, quality,
	    transparent, idx, prompt);
	pthread_mutex_lock(&cache.mu);
	if ((c = (struct cent *)keyed_find(&cache.t, key)) != NULL) {
		c->refs++;
		pthread_mutex_unlock(&cache.mu);
		free(key);
		stat_add(&st.cache_hits, 1);
		return c;
	}
	pthread_mutex_unlock(&cache.mu);
	stat_add(&st.cache_misses, 1);
	/* Each image of a request differs; image 0 is the prompt's own. */
	variant = idx == 0 ? dalle_xstrdup(prompt) :
	    dalle_xasprintf("%s\n#%d", prompt, idx);
	data = dalle_image_render(variant, w, h, fmt, quality, transparent,
	    &len);
	free(variant);
	if (data == NULL) {
		free(key);
		return NULL;
	}
	c = dalle_xcalloc(1, sizeof(*c));
	c->key = key;
	c->data = data;
	c->len = len;
	c->refs = 1;
	pthread_mutex_lock(&cache.mu);
	if (len <= opt.cache_bytes) {
		/* The table holds it without a reference: cache_trim marks
		 * it dead, and the last cent_release frees it. */
		keyed_add(&cache.t, &c->l, c->key);
		cache.bytes += len;
		cache_trim();
	} else
		c->dead = 1;
	pthread_mutex_unlock(&cache.mu);
	return c;
}

/* ---- blobs: what an image URL stands for ---------------------------- */

struct blob {
	struct link l;
	char id[37];
	char fmt[5];
	char *prompt;
	int w, h, n, quality, transparent, gone;
};

static struct link *blob_b[BLOB_BUCKETS];
static struct {
	pthread_mutex_t mu;
	struct keyed t;
} blobs = { PTHREAD_MUTEX_INITIALIZER, KEYED(blob_b, BLOB_BUCKETS) };

/* The blob with this id, gone or not; NULL if none.  Called locked. */
static struct blob *
blob_get(const char *id)
{
	return (struct blob *)keyed_find(&blobs.t, id);
}

static void
blob_add(const char *id, const char *prompt, int w, int h, int n,
    const char *fmt, int quality, int transparent)
{
	struct blob *bl, *old;

	bl = dalle_xcalloc(1, sizeof(*bl));
	snprintf(bl->id, sizeof(bl->id), "%s", id);
	snprintf(bl->fmt, sizeof(bl->fmt), "%s", fmt);
	bl->prompt = dalle_xstrdup(prompt);
	bl->w = w;
	bl->h = h;
	bl->n = n;
	bl->quality = quality;
	bl->transparent = transparent;
	pthread_mutex_lock(&blobs.mu);
	keyed_add(&blobs.t, &bl->l, bl->id);
	/* Bounded: the oldest blob goes first (its URL then answers 404). */
	if (blobs.t.n > MAX_BLOBS) {
		old = (struct blob *)keyed_pop(&blobs.t);
		free(old->prompt);
		free(old);
	}
	pthread_mutex_unlock(&blobs.mu);
}

/* Copy of a blob's fields into *out (prompt malloc'd); 0 or -1. */
static int
blob_find(const char *id, struct blob *out)
{
	struct blob *bl;
	int rc = -1;

	pthread_mutex_lock(&blobs.mu);
	if ((bl = blob_get(id)) != NULL && !bl->gone) {
		*out = *bl;
		out->prompt = dalle_xstrdup(bl->prompt);
		rc = 0;
	}
	pthread_mutex_unlock(&blobs.mu);
	return rc;
}

static void
blob_forget(const char *id)
{
	struct blob *bl;

	pthread_mutex_lock(&blobs.mu);
	if ((bl = blob_get(id)) != NULL)
		bl->gone = 1;
	pthread_mutex_unlock(&blobs.mu);
}

/* The signature of a blob path and expiry: a keyed hash, base64. */
static char *
blob_sig(const char *stem, const char *se)
{
	unsigned char h[16];
	uint64_t a, b;
	struct dalle_buf m = { NULL, 0, 0 };
	size_t n;
	int i;

	dalle_buf_add(&m, sig_secret, sizeof(sig_secret));
	dalle_buf_adds(&m, stem);
	dalle_buf_adds(&m, "\n");
	dalle_buf_adds(&m, se);
	a = dalle_hash(m.p, m.len, sig_secret[0]);
	b = dalle_hash(m.p, m.len, sig_secret[1] ^ a);
	dalle_buf_free(&m);
	for (i = 0; i < 8; i++) {
		h[i] = (unsigned char)(a >> (8 * i));
		h[8 + i] = (unsigned char)(b >> (8 * i));
	}
	return dalle_base64_encode(h, sizeof(h), &n);
}

/* "<base>private/images/<id>/generated_NN.png?se=...&sig=...&..." */
static char *
blob_url(const char *base, const char *id, int idx, const char *fmt,
    int64_t expires)
{
	struct dalle_buf u = { NULL, 0, 0 };
	char stem[96], se[32], *sig, *r;

	snprintf(stem, sizeof(stem), "/private/images/%s/generated_%02d", id,
	    idx);
	iso_time(expires, se, sizeof(se));
	sig = blob_sig(stem, se);
	dalle_buf_adds(&u, base);
	dalle_buf_adds(&u, stem + 1);
	dalle_buf_adds(&u, strcmp(fmt, "jpeg") == 0 ? ".jpg" : ".png");
	dalle_buf_adds(&u, "?se=");
	pct_encode(&u, se);
	dalle_buf_adds(&u, "&sig=");
	pct_encode(&u, sig);
	dalle_buf_adds(&u, "&ske=");
	pct_encode(&u, se);
	dalle_buf_adds(&u, "&skoid=00000000-0000-4000-8000-000000000000"
	    "&sks=b&skv=2021-08-06&sp=r&spr=https%2Chttp&sr=b"
	    "&sv=2021-08-06");
	free(sig);
	r = dalle_xstrdup(u.p);
	dalle_buf_free(&u);
	return r;
}

/* ---- operations (the DALL-E 2 async API) ----------------------------- */

enum opstate { OP_NOTRUNNING, OP_RUNNING, OP_SUCCEEDED, OP_FAILED };
static const char *const opstate_names[] = {
	"notRunning", "running", "succeeded", "failed"
};

struct op {
	struct link l;
	char id[37];
	char blob[37];
	int64_t created;          /* epoch seconds */
	int64_t t_run, t_done;    /* monotonic ms */
	int n, filtered, deleted;
	int64_t url_expires;
};

static struct link *op_b[OP_BUCKETS];
static struct {
	pthread_mutex_t mu;
	struct keyed t;
	int64_t *active;          /* min-heap of t_done of unfinished ops */
	size_t nactive, capactive;
} ops = { PTHREAD_MUTEX_INITIALIZER, KEYED(op_b, OP_BUCKETS), NULL, 0, 0 };

static enum opstate
op_state(const struct op *o, int64_t now)
{
	if (now >= o->t_done)
		return o->filtered ? OP_FAILED : OP_SUCCEEDED;
	return now >= o->t_run ? OP_RUNNING : OP_NOTRUNNING;
}

static void
active_push(int64_t t)
{
	size_t i, p;
	int64_t x;

	if (ops.nactive == ops.capactive) {
		ops.capactive = ops.capactive ? ops.capactive * 2 : 256;
		ops.active = dalle_xrealloc(ops.active,
		    ops.capactive * sizeof(*ops.active));
	}
	i = ops.nactive++;
	ops.active[i] = t;
	while (i > 0 && ops.active[(p = (i - 1) / 2)] > ops.active[i]) {
		x = ops.active[p];
		ops.active[p] = ops.active[i];
		ops.active[i] = x;
		i = p;
	}
}

/* Forget finished operations in the active heap.  Called locked. */
static void
active_expire(int64_t now)
{
	size_t i, l, r, m;
	int64_t x;

	while (ops.nactive > 0 && ops.active[0] <= now) {
		ops.active[0] = ops.active[--ops.nactive];
		for (i = 0;;) {
			l = 2 * i + 1;
			r = l + 1;
			m = i;
			if (l < ops.nactive && ops.active[l] < ops.active[m])
				m = l;
			if (r < ops.nactive && ops.active[r] < ops.active[m])
				m = r;
			if (m == i)
				break;
			x = ops.active[m];
			ops.active[m] = ops.active[i];
			ops.active[i] = x;
			i = m;
		}
	}
}

/* Drop expired or deleted operations from the front.  Called locked. */
static void
ops_trim(int64_t now_s)
{
	struct op *o;

	while ((o = (struct op *)ops.t.head) != NULL && (o->deleted ||
	    ops.t.n > MAX_OPS || o->created + OP_LIFETIME <= now_s))
		free(keyed_pop(&ops.t));
}

static void
op_add(struct op *o)
{
	pthread_mutex_lock(&ops.mu);
	keyed_add(&ops.t, &o->l, o->id);
	if (o->t_done > dalle_now_ms())
		active_push(o->t_done);
	ops_trim(dalle_time());
	pthread_mutex_unlock(&ops.mu);
}

/* The live operation with this id, or NULL.  Called locked. */
static struct op *
op_get(const char *id)
{
	struct op *o = (struct op *)keyed_find(&ops.t, id);

	/* Ids are random: one entry a key, live or not. */
	return o != NULL && !o->deleted &&
	    o->created + OP_LIFETIME > dalle_time() ? o : NULL;
}

/* Copy of an operation into *out; 0, or -1 when unknown or gone. */
static int
op_find(const char *id, struct op *out)
{
	struct op *o;
	int rc = -1;

	pthread_mutex_lock(&ops.mu);
	if ((o = op_get(id)) != NULL) {
		*out = *o;
		rc = 0;
	}
	pthread_mutex_unlock(&ops.mu);
	return rc;
}

/* Delete an ended operation: 0; -1 unknown; 1 still running. */
static int
op_delete(const char *id)
{
	struct op *o;
	int rc = -1;

	pthread_mutex_lock(&ops.mu);
	if ((o = op_get(id)) != NULL) {
		if (op_state(o, dalle_now_ms()) < OP_SUCCEEDED)
			rc = 1;
		else {
			o->deleted = 1;
			rc = 0;
		}
	}
	pthread_mutex_unlock(&ops.mu);
	return rc;
}

/* ---- quotas ---------------------------------------------------------- */

static struct {
	pthread_mutex_t mu;
	int64_t start;
	long used;
} rl = { PTHREAD_MUTEX_INITIALIZER, -1, 0 };

/*
 * The per-minute quota, evaluated over short windows as Azure does: at most
 * rpm/60*window requests per window.  When that is under one request, the
 * window stretches to 60/rpm seconds.  Returns -1 if the request may go
 * (*remaining set), else the ms until the window ends.
 */
static int64_t
rpm_take(long *remaining)
{
	double per;
	long allow;
	int64_t win, now, wait = -1;

	per = opt.rpm * opt.rate_window / 60.0;
	if (per < 1) {
		allow = 1;
		win = (int64_t)(60000.0 / opt.rpm + 0.5);
	} else {
		allow = (long)per;
		win = (int64_t)(opt.rate_window * 1000 + 0.5);
	}
	now = dalle_now_ms();
	pthread_mutex_lock(&rl.mu);
	if (rl.start < 0 || now - rl.start >= win) {
		rl.start = now;
		rl.used = 0;
	}
	if (rl.used >= allow)
		wait = rl.start + win - now;
	else {
		rl.used++;
		*remaining = allow - rl.used;
	}
	pthread_mutex_unlock(&rl.mu);
	return wait < 1 && wait != -1 ? 1 : wait;
}

/*
 * Take a concurrency slot: -1 if the request may go, else the ms after
 * which one should free up.  sync: the slot is held until the response
 * goes out; async operations hold theirs until they end.
 */
static int64_t
conc_take(int sync)
{
	int64_t now = dalle_now_ms(), wait = -1;
	long busy;

	pthread_mutex_lock(&ops.mu);
	active_expire(now);
	pthread_mutex_lock(&stats_mu);
	busy = st.sync_inflight + (long)ops.nactive;
	if (busy >= opt.concurrency) {
		wait = ops.nactive > 0 ? ops.active[0] - now :
		    (int64_t)(opt.latency * 1000);
		if (wait < 1)
			wait = 1;
	} else if (sync)
		st.sync_inflight++;
	pthread_mutex_unlock(&stats_mu);
	pthread_mutex_unlock(&ops.mu);
	return wait;
}

/* ---- responses ------------------------------------------------------- */

static struct MHD_Response *
resp_bytes(const void *p, size_t n, const char *ctype)
{
	struct MHD_Response *r;

	r = MHD_create_response_from_buffer(n, (void *)(uintptr_t)p,
	    MHD_RESPMEM_MUST_COPY);
	if (r == NULL)
		errx(DALLE_EX_OSERR, "MHD_create_response_from_buffer");
	if (ctype != NULL)
		MHD_add_response_header(r, "Content-Type", ctype);
	return r;
}

/* A JSON response; consumes body. */
static struct MHD_Response *
resp_json(jv body, struct req *rq)
{
	struct MHD_Response *r;
	jv s;
	char id[37];

	s = jv_dump_string(body, 0);
	r = resp_bytes(jv_string_value(s), (size_t)jv_string_length_bytes(
	    jv_copy(s)), "application/json");
	rq->resp_bytes = (uint64_t)jv_string_length_bytes(jv_copy(s));
	jv_free(s);
	uuid_new(id);
	if (rq->route == R_OPENAI) {
		MHD_add_response_header(r, "x-request-id", id);
		MHD_add_response_header(r, "openai-version", "2020-10-01");
	} else {
		MHD_add_response_header(r, "apim-request-id", id);
		MHD_add_response_header(r, "x-request-id", id);
		MHD_add_response_header(r, "x-ms-region", "Local Twin");
	}
	return r;
}

static void
slot_release(struct req *rq)
{
	if (rq->holds_slot) {
		rq->holds_slot = 0;
		stat_long(&st.sync_inflight, -1);
	}
}

/*
 * Send r with status now, or after rq->delay_ms with the connection
 * suspended (no thread waits).  Consumes r.
 */
static enum MHD_Result
reply(struct req *rq, unsigned status, struct MHD_Response *r)
{
	enum MHD_Result ret;
	char buf[32];

	if (rq->delay_ms > 0 && !stopping) {
		rq->stash = r;
		rq->stash_status = status;
		rq->waiting = 1;
		sleep_until(rq->conn, dalle_now_ms() + rq->delay_ms);
		rq->delay_ms = 0;
		return MHD_YES;
	}
	slot_release(rq);
	if (rq->rl_remaining >= 0 && status != 429) {
		snprintf(buf, sizeof(buf), "%ld", rq->rl_remaining);
		MHD_add_response_header(r, "x-ratelimit-remaining-requests",
		    buf);
	}
	rq->status = status;
	ret = MHD_queue_response(rq->conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
reply_json(struct req *rq, unsigned status, jv body)
{
	struct MHD_Response *r;
	jv code;

	code = jv_getpath(jv_copy(body), JV_ARRAY(jv_string("error"),
	    jv_string("code")));
	r = resp_json(body, rq);
	if (status >= 400 && rq->route != R_OPENAI &&
	    jv_get_kind(code) == JV_KIND_STRING)
		MHD_add_response_header(r, "x-ms-error-code",
		    jv_string_value(code));
	jv_free(code);
	return reply(rq, status, r);
}

/* {"error":{"code","message"}} as Azure's gateway words it. */
static jv
azure_err(const char *code, const char *message)
{
	return JV_OBJECT(jv_string("error"), JV_OBJECT(
	    jv_string("code"), jv_string(code),
	    jv_string("message"), jv_string(message)));
}

/* The four-field error: code, message, param, type (null when NULL). */
static jv
full_err(const char *code, const char *message, const char *param,
    const char *type)
{
	return JV_OBJECT(jv_string("error"), JV_OBJECT(
	    jv_string("code"), code ? jv_string(code) : jv_null(),
	    jv_string("message"), jv_string(message),
	    jv_string("param"), param ? jv_string(param) : jv_null(),
	    jv_string("type"), type ? jv_string(type) : jv_null()));
}

static enum MHD_Result
not_found(struct req *rq)
{
	char msg[300];

	if (rq->route == R_OPENAI || strncmp(rq->path, "/v1/", 4) == 0) {
		snprintf(msg, sizeof(msg), "Invalid URL (%s %.200s)",
		    rq->method, rq->path);
		return reply_json(rq, 404, full_err(NULL, msg, NULL,
		    "invalid_request_error"));
	}
	return reply_json(rq, 404, azure_err("404", "Resource not found"));
}

static enum MHD_Result
unauthorized(struct req *rq)
{
	stat_add(&st.auth_failed, 1);
	if (rq->route == R_OPENAI)
		return reply_json(rq, 401, full_err("invalid_api_key",
		    "Incorrect API key provided. You can find your API key at "
		    "https://platform.openai.com/account/api-keys.", NULL,
		    "invalid_request_error"));
	return reply_json(rq, 401, azure_err("401", "Access denied due to "
	    "invalid subscription key or wrong API endpoint. Make sure to "
	    "provide a valid key for an active subscription and use a "
	    "correct regional API endpoint for your resource."));
}

static enum MHD_Result
too_many(struct req *rq, int64_t wait_ms, const char *version,
    const char *what)
{
	struct MHD_Response *r;
	char msg[512], secs[32], ms[32];
	long s;

	stat_add(&st.rate_limited, 1);
	s = (long)((wait_ms + 999) / 1000);
	if (s < 1)
		s = 1;
	if (rq->route == R_OPENAI) {
		snprintf(msg, sizeof(msg), "Rate limit reached for images "
		    "(%s). Please try again in %.3fs.", what,
		    wait_ms / 1000.0);
		r = resp_json(full_err("rate_limit_exceeded", msg, NULL,
		    "requests"), rq);
	} else {
		snprintf(msg, sizeof(msg), "Requests to the "
		    "ImageGenerations_Create Operation under Azure OpenAI API "
		    "version %s have exceeded %s of your current OpenAI S0 "
		    "pricing tier. Please retry after %ld second%s. Please go "
		    "here: https://aka.ms/oai/quotaincrease if you would like "
		    "to further increase the default rate limit.",
		    version ? version : "v1", what, s, s == 1 ? "" : "s");
		r = resp_json(azure_err("429", msg), rq);
		MHD_add_response_header(r, "x-ms-error-code", "429");
	}
	snprintf(secs, sizeof(secs), "%ld", s);
	snprintf(ms, sizeof(ms), "%lld", (long long)wait_ms);
	MHD_add_response_header(r, "Retry-After", secs);
	MHD_add_response_header(r, "retry-after-ms", ms);
	MHD_add_response_header(r, "x-ratelimit-remaining-requests", "0");
	return reply(rq, 429, r);
}

static const char *
header(struct req *rq, const char *name)
{
	return MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, name);
}

static const char *
query(struct req *rq, const char *name)
{
	return MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND,
	    name);
}

/* Where clients should come back: --public-url, the Host, or ours. */
static char *
base_url(struct req *rq)
{
	const char *host;

	if (opt.public_url != NULL)
		return dalle_xstrdup(opt.public_url);
	host = header(rq, "Host");
	if (host != NULL && *host != '\0' && strlen(host) < 256 &&
	    strpbrk(host, "/ \t\\?#@") == NULL)
		return dalle_xasprintf("http://%s/", host);
	return dalle_xstrdup(listen_base);
}

/*
 * Credentials: Azure routes take api-key or Bearer, OpenAI only Bearer.
 * With none configured any non-empty one passes.
 */
static int
auth_ok(struct req *rq)
{
	const char *k, *a, *tok = NULL;
	int any = opt.nkeys == 0 && opt.ntokens == 0;

	a = header(rq, "Authorization");
	if (a != NULL && strncasecmp(a, "Bearer ", 7) == 0) {
		for (tok = a + 7; *tok == ' '; tok++)
			;
		if (*tok == '\0')
			tok = NULL;
	}
	if (rq->route == R_OPENAI) {
		if (tok == NULL)
			return 0;
		return any || in_list(opt.keys, opt.nkeys, tok) ||
		    in_list(opt.tokens, opt.ntokens, tok);
	}
	k = header(rq, "api-key");
	if (k != NULL && *k != '\0')
		return any || in_list(opt.keys, opt.nkeys, k);
	if (tok != NULL)
		return any || in_list(opt.tokens, opt.ntokens, tok);
	return 0;
}

/*
 * Injected faults, by probability.  Returns 1 when the request was
 * answered (or dropped) here; *ret gets the handler's result.
 */
static int
fault(struct req *rq, enum MHD_Result *ret)
{
	int s503;

	if (opt.drop_rate > 0 && chance() < opt.drop_rate) {
		stat_add(&st.fault_drop, 1);
		rq->fault = "drop";
		*ret = MHD_NO;
		return 1;
	}
	if (opt.fail_rate > 0 && chance() < opt.fail_rate) {
		stat_add(&st.fault_fail, 1);
		rq->fault = "fail";
		s503 = chance() < 0.5;
		if (rq->route == R_IMAGE) {
			const char *x = s503 ? "<?xml version=\"1.0\" "
			    "encoding=\"utf-8\"?><Error><Code>ServerBusy"
			    "</Code>"
			    "<Message>The server is currently unable to "
			    "receive requests. Please retry your request."
			    "</Message></Error>" : "<?xml version=\"1.0\" "
			    "encoding=\"utf-8\"?><Error><Code>InternalError"
			    "</Code><Message>The server encountered an "
			    "internal"
			    " error. Please retry the request.</Message>"
			    "</Error>";

			rq->resp_bytes = strlen(x);
			*ret = reply(rq, s503 ? 503 : 500, resp_bytes(x,
			    strlen(x), "application/xml"));
		} else if (rq->route == R_OPENAI)
			*ret = reply_json(rq, s503 ? 503 : 500, full_err(NULL,
			    s503 ? "The engine is currently overloaded, "
			    "please try again later." : "The server had an "
			    "error while processing your request. Sorry about "
			    "that!", NULL, "server_error"));
		else
			*ret = reply_json(rq, s503 ? 503 : 500, s503 ?
			    azure_err("ServiceUnavailable", "The service is "
			    "temporarily unable to process your request. "
			    "Please try again later.") :
			    azure_err("InternalServerError", "The server had "
			    "an error while processing your request. Sorry "
			    "about that!"));
		return 1;
	}
	return 0;
}

/*
 * Parse the request body as a JSON object into *body.  Returns 0, or
 * answers 400 and returns 1.
 */
static int
parse_body(struct req *rq, jv *body, enum MHD_Result *ret)
{
	jv v;

	v = jv_parse_sized(rq->body.p ? rq->body.p : "", (int)rq->body.len);
	if (jv_get_kind(v) == JV_KIND_OBJECT) {
		*body = v;
		return 0;
	}
	jv_free(v);
	*ret = reply_json(rq, 400, full_err(rq->route == R_OPENAI ? NULL :
	    "BadRequest", "We could not parse the JSON body of your request. "
	    "(HINT: This likely means you aren't using your HTTP library "
	    "correctly. The API expects a JSON payload, but what was sent "
	    "was not valid JSON.)", NULL, "invalid_request_error"));
	return 1;
}

/* ---- image generation ----------------------------------------------- */

static void
size_parse(const char *s, int *w, int *h)
{
	if (s == NULL || strcmp(s, "auto") == 0 ||
	    sscanf(s, "%dx%d", w, h) != 2) {
		*w = 1024;
		*h = 1024;
	}
}

static char *
revised_prompt(const char *prompt, const char *style)
{
	static const char *const vivid[] = {
		"A vivid, richly detailed illustration of %.*s, with "
		    "dramatic lighting and saturated colours.",
		"A striking, hyper-detailed scene showing %.*s, bathed in "
		    "warm golden light.",
		"An imaginative, vibrant depiction of %.*s, full of bold "
		    "colour and crisp detail."
	};
	static const char *const natural[] = {
		"A natural, realistic photograph of %.*s, in soft daylight.",
		"A calm, true-to-life depiction of %.*s, with muted natural "
		    "colours.",
		"A realistic, understated image of %.*s, lit by diffuse "
		    "daylight."
	};
	const char *const *t;
	uint64_t hv;
	size_t n;

	t = style != NULL && strcmp(style, "natural") == 0 ? natural : vivid;
	hv = dalle_hash(prompt, strlen(prompt), 3);
	n = strlen(prompt);
	while (n > 0 && strchr(" .!\n\t", prompt[n - 1]) != NULL)
		n--;
	return dalle_xasprintf(t[hv % 3], (int)n, prompt);
}

static jv
safe4(void)
{
	jv o = jv_object();
	static const char *const cat[] = {
		"hate", "self_harm", "sexual", "violence"
	};
	int i;

	for (i = 0; i < 4; i++)
		o = jv_object_set(o, jv_string(cat[i]), JV_OBJECT(
		    jv_string("filtered"), jv_false(),
		    jv_string("severity"), jv_string("safe")));
	return o;
}

static jv
prompt_filters(void)
{
	jv o = safe4();

	o = jv_object_set(o, jv_string("profanity"), JV_OBJECT(
	    jv_string("detected"), jv_false(), jv_string("filtered"),
	    jv_false()));
	o = jv_object_set(o, jv_string("jailbreak"), JV_OBJECT(
	    jv_string("detected"), jv_false(), jv_string("filtered"),
	    jv_false()));
	o = jv_object_set(o, jv_string("custom_blocklists"), JV_OBJECT(
	    jv_string("details"), jv_array(), jv_string("filtered"),
	    jv_false()));
	return o;
}

/* Output tokens per image, after OpenAI's table for gpt-image-1. */
static long
image_tokens(const char *quality, int w, int h)
{
	long base;

	if (strcmp(quality, "low") == 0)
		base = 272;
	else if (strcmp(quality, "high") == 0)
		base = 4160;
	else
		base = 1056;
	return w == h ? base : base * 3 / 2;
}

static const char *
str_or(jv body, const char *key, const char *dflt)
{
	jv v = jv_object_get(jv_copy(body), jv_string(key));
	const char *s = dflt;

	/* The value stays alive inside body, which the caller holds. */
	if (jv_get_kind(v) == JV_KIND_STRING)
		s = jv_string_value(v);
	jv_free(v);
	return s;
}

/*
 * Generate a synchronous answer for a validated body.  Consumes body.
 * Returns the handler result.
 */
static enum MHD_Result
generate(struct req *rq, const struct dalle_model *m, jv body,
    enum flavour fl)
{
	jv res, data, item, nv;
	const char *prompt, *size, *fmt, *rf, *quality, *bg, *style;
	char id[37], *base, *url, *rp, *b64;
	int n, w, h, i, comp, transparent, gpt;
	struct cent *c;
	size_t blen;
	int64_t now = dalle_time();
	long outtok, texttok;

	gpt = m->family == DALLE_FAMILY_GPTIMAGE;
	prompt = str_or(body, "prompt", "");
	nv = jv_object_get(jv_copy(body), jv_string("n"));
	n = jv_get_kind(nv) == JV_KIND_NUMBER ? (int)jv_number_value(nv) : 1;
	jv_free(nv);
	size = str_or(body, "size", m->default_size);
	size_parse(size, &w, &h);
	fmt = gpt ? str_or(body, "output_format", "png") : "png";
	rf = gpt ? "b64_json" : str_or(body, "response_format", "url");
	quality = str_or(body, "quality", gpt ? "auto" :
	    m->family == DALLE_FAMILY_DALLE3 ? "standard" : "standard");
	if (strcmp(quality, "auto") == 0)
		quality = "medium";
	style = str_or(body, "style", "vivid");
	bg = str_or(body, "background", "auto");
	transparent = gpt && strcmp(bg, "transparent") == 0;
	nv = jv_object_get(jv_copy(body), jv_string("output_compression"));
	comp = jv_get_kind(nv) == JV_KIND_NUMBER ? (int)jv_number_value(nv) :
	    100;
	jv_free(nv);

	base = base_url(rq);
	uuid_new(id);
	if (strcmp(rf, "url") == 0)
		blob_add(id, prompt, w, h, n, fmt, comp, transparent);
	data = jv_array();
	for (i = 0; i < n; i++) {
		item = jv_object();
		if (strcmp(rf, "url") == 0) {
			url = blob_url(base, id, i, fmt, now + opt.url_ttl);
			item = jv_object_set(item, jv_string("url"),
			    jv_string(url));
			free(url);
		} else {
			c = image_get(prompt, i, w, h, fmt, comp, transparent);
			if (c == NULL) {
				jv_free(item);
				jv_free(data);
				jv_free(body);
				free(base);
				return reply_json(rq, 500, azure_err(
				    "InternalServerError",
				    "The image could not be rendered."));
			}
			b64 = dalle_base64_encode(c->data, c->len, &blen);
			cent_release(c);
			item = jv_object_set(item, jv_string("b64_json"),
			    jv_string_sized(b64, (int)blen));
			free(b64);
		}
		if (m->family == DALLE_FAMILY_DALLE3) {
			rp = revised_prompt(prompt, style);
			item = jv_object_set(item, jv_string("revised_prompt"),
			    jv_string(rp));
			free(rp);
		}
		if (fl != FL_OPENAI) {
			item = jv_object_set(item,
			    jv_string("content_filter_results"), safe4());
			item = jv_object_set(item,
			    jv_string("prompt_filter_results"),
			    prompt_filters());
		}
		data = jv_array_append(data, item);
	}
	res = JV_OBJECT(jv_string("created"), jv_number((double)now),
	    jv_string("data"), data);
	if (gpt) {
		texttok = (long)(strlen(prompt) + 3) / 4;
		if (texttok < 1)
			texttok = 1;
		outtok = image_tokens(quality, w, h) * n;
		res = jv_object_set(res, jv_string("background"),
		    jv_string(transparent ? "transparent" : "opaque"));
		res = jv_object_set(res, jv_string("output_format"),
		    jv_string(fmt));
		res = jv_object_set(res, jv_string("quality"),
		    jv_string(quality));
		res = jv_object_set(res, jv_string("size"), jv_string(
		    strcmp(size, "auto") == 0 ? "1024x1024" : size));
		res = jv_object_set(res, jv_string("usage"), JV_OBJECT(
		    jv_string("input_tokens"), jv_number(texttok),
		    jv_string("input_tokens_details"), JV_OBJECT(
		    jv_string("image_tokens"), jv_number(0),
		    jv_string("text_tokens"), jv_number(texttok)),
		    jv_string("output_tokens"), jv_number(outtok),
		    jv_string("total_tokens"), jv_number(texttok + outtok)));
	}
	stat_add(&st.generations, 1);
	stat_add(&st.images, (uint64_t)n);
	free(base);
	jv_free(body);
	return reply_json(rq, 200, res);
}

/* A validation error from model.c, in the route's error shape. */
static enum MHD_Result
invalid(struct req *rq, const struct dalle_model_err *e)
{
	return reply_json(rq, 400, full_err(e->code, e->message, e->param,
	    "invalid_request_error"));
}

static enum MHD_Result
content_policy(struct req *rq)
{
	static const char msg[] = "Your request was rejected as a result of "
	    "our safety system. Your prompt may contain text that is not "
	    "allowed by our safety system.";

	stat_add(&st.filtered, 1);
	if (rq->route == R_OPENAI)
		return reply_json(rq, 400, full_err("content_policy_violation",
		    msg, NULL, "invalid_request_error"));
	return reply_json(rq, 400, JV_OBJECT(jv_string("error"), JV_OBJECT(
	    jv_string("code"), jv_string("content_policy_violation"),
	    jv_string("inner_error"), JV_OBJECT(
	    jv_string("code"), jv_string("ResponsibleAIPolicyViolation"),
	    jv_string("content_filter_results"), JV_OBJECT(
	    jv_string("jailbreak"), JV_OBJECT(
	    jv_string("detected"), jv_false(),
	    jv_string("filtered"), jv_false()))),
	    jv_string("message"), jv_string(msg),
	    jv_string("type"), jv_string("invalid_request_error"))));
}

static const struct dalle_model *
deployment_model(const char *name)
{
	size_t i;

	for (i = opt.ndepl; i-- > 0;)
		if (strcmp(opt.depl[i].name, name) == 0)
			return opt.depl[i].model;
	return NULL;
}

/* Quotas shared by every generation route; 1 when answered 429. */
static int
quotas(struct req *rq, const char *version, int sync, enum MHD_Result *ret)
{
	int64_t wait;
	long remaining = -1;

	if (opt.rpm > 0) {
		wait = rpm_take(&remaining);
		if (wait >= 0) {
			*ret = too_many(rq, wait, version,
			    "call rate limit");
			return 1;
		}
	}
	if (opt.concurrency > 0) {
		wait = conc_take(sync);
		if (wait >= 0) {
			stat_add(&st.concurrency_limited, 1);
			*ret = too_many(rq, wait, version,
			    "the concurrent request limit");
			return 1;
		}
		rq->holds_slot = sync;
	}
	rq->rl_remaining = remaining;
	return 0;
}

/* The three synchronous generation routes. */
static enum MHD_Result
do_generate(struct req *rq, const char *deployment, enum flavour fl)
{
	const char *version = query(rq, "api-version");
	const struct dalle_model *m = NULL;
	struct dalle_model_err e;
	enum MHD_Result ret;
	const char *name, *of;
	jv body;
	long vd;

	if (fl == FL_AZURE) {
		vd = version_date(version);
		if (vd < 20231201)
			return not_found(rq);
	} else if (fl == FL_AZURE_V1) {
		vd = 0;
		if (version != NULL && strcmp(version, "preview") != 0 &&
		    strcmp(version, "latest") != 0)
			return not_found(rq);
	} else
		vd = 0;
	if (!auth_ok(rq))
		return unauthorized(rq);
	if (fl == FL_AZURE) {
		m = deployment_model(deployment);
		if (m == NULL)
			return reply_json(rq, 404, azure_err(
			    "DeploymentNotFound", "The API deployment for "
			    "this resource does not exist. If you created "
			    "the deployment within the last 5 minutes, "
			    "please wait a moment and try again."));
		if (m->family == DALLE_FAMILY_DALLE2 && vd < 20240501)
			return reply_json(rq, 400, azure_err(
			    "OperationNotSupported", "The imagesGenerations "
			    "operation does not work with the specified "
			    "model, "
			    "dall-e-2, in this API version. Use api-version "
			    "2024-05-01-preview or later."));
	}
	if (fault(rq, &ret))
		return ret;
	if (quotas(rq, version, 1, &ret))
		return ret;
	if (parse_body(rq, &body, &ret))
		return ret;
	rq->delay_ms = latency_ms();
	if (fl != FL_AZURE) {
		name = str_or(body, "model", fl == FL_OPENAI ? "dall-e-2" :
		    NULL);
		if (name == NULL) {
			jv_free(body);
			return reply_json(rq, 400, full_err(
			    "missing_required_parameter", "Missing required "
			    "parameter: 'model'.", "model",
			    "invalid_request_error"));
		}
		m = fl == FL_AZURE_V1 ? deployment_model(name) : NULL;
		if (m == NULL)
			m = dalle_model_find(name);
		if (m == NULL) {
			char msg[300];

			/* name lives in body: use it before freeing. */
			snprintf(msg, sizeof(msg), "The model '%.200s' does "
			    "not exist or you do not have access to it.",
			    name);
			jv_free(body);
			if (fl == FL_AZURE_V1)
				return reply_json(rq, 404, azure_err(
				    "DeploymentNotFound", "The API deployment "
				    "for this resource does not exist. If you "
				    "created the deployment within the last 5 "
				    "minutes, please wait a moment and try "
				    "again."));
			return reply_json(rq, 404, full_err("model_not_found",
			    msg, NULL, "invalid_request_error"));
		}
	}
	if (dalle_model_check(m, body, &e) != 0) {
		jv_free(body);
		return invalid(rq, &e);
	}
	of = str_or(body, "output_format", "png");
	if (strcmp(of, "webp") == 0) {
		jv_free(body);
		return reply_json(rq, 400, full_err("invalid_value",
		    fl == FL_OPENAI ? "Invalid value: 'webp'. dalle-serve "
		    "renders only 'png' and 'jpeg'." : "Invalid value: "
		    "'webp'. Supported values are: 'png' and 'jpeg'.",
		    "output_format", "invalid_request_error"));
	}
	if (blocked_term(str_or(body, "prompt", "")) != NULL) {
		jv_free(body);
		return content_policy(rq);
	}
	return generate(rq, m, body, fl);
}

/* ---- the async DALL-E 2 routes --------------------------------------- */

static void
add_retry(struct MHD_Response *r, int64_t ms)
{
	char buf[32];
	long s;

	if (ms < 0)
		ms = 0;
	s = (long)((ms + 999) / 1000);
	snprintf(buf, sizeof(buf), "%ld", s < 1 ? 1 : s);
	MHD_add_response_header(r, "Retry-After", buf);
	snprintf(buf, sizeof(buf), "%lld", (long long)ms);
	MHD_add_response_header(r, "retry-after-ms", buf);
}

static enum MHD_Result
do_submit(struct req *rq)
{
	const char *version = query(rq, "api-version");
	const struct dalle_model *m = dalle_model_find("dall-e-2");
	struct dalle_model_err e;
	struct MHD_Response *r;
	enum MHD_Result ret;
	struct op *o;
	jv body, nv;
	char *base, *loc;
	const char *prompt, *size;
	int64_t lat, now;
	int w, h;

	if (!version_async(version))
		return not_found(rq);
	if (!auth_ok(rq))
		return unauthorized(rq);
	if (fault(rq, &ret))
		return ret;
	if (quotas(rq, version, 0, &ret))
		return ret;
	if (parse_body(rq, &body, &ret))
		return ret;
	if (dalle_model_check(m, body, &e) != 0) {
		jv_free(body);
		return invalid(rq, &e);
	}
	o = dalle_xcalloc(1, sizeof(*o));
	uuid_new(o->id);
	uuid_new(o->blob);
	prompt = str_or(body, "prompt", "");
	size = str_or(body, "size", m->default_size);
	size_parse(size, &w, &h);
	nv = jv_object_get(jv_copy(body), jv_string("n"));
	o->n = jv_get_kind(nv) == JV_KIND_NUMBER ? (int)jv_number_value(nv) :
	    1;
	jv_free(nv);
	o->filtered = blocked_term(prompt) != NULL;
	o->created = dalle_time();
	o->url_expires = o->created + opt.url_ttl;
	now = dalle_now_ms();
	lat = latency_ms();
	/* Queued for the first quarter of the latency, then running. */
	o->t_run = now + lat / 4;
	o->t_done = now + lat;
	if (!o->filtered)
		blob_add(o->blob, prompt, w, h, o->n, "png", 100, 0);
	else
		stat_add(&st.filtered, 1);
	jv_free(body);
	op_add(o);
	stat_add(&st.submits, 1);

	base = base_url(rq);
	loc = dalle_xasprintf("%sopenai/operations/images/%s?api-version=%s",
	    base, o->id, version);
	r = resp_json(JV_OBJECT(jv_string("id"), jv_string(o->id),
	    jv_string("status"), jv_string("notRunning")), rq);
	MHD_add_response_header(r, "operation-location", loc);
	add_retry(r, o->t_done - now);
	free(loc);
	free(base);
	return reply(rq, 202, r);
}

static enum MHD_Result
do_operation(struct req *rq, const char *id)
{
	const char *version = query(rq, "api-version");
	struct MHD_Response *r;
	enum MHD_Result ret;
	enum opstate s;
	struct op o;
	jv body, data;
	char *base, *url;
	int64_t now;
	int i, rc;

	if (!version_async(version) && version_date(version) < 0)
		return not_found(rq);
	if (!auth_ok(rq))
		return unauthorized(rq);
	if (fault(rq, &ret))
		return ret;
	if (rq->route == R_OP_DELETE) {
		stat_add(&st.deletes, 1);
		rc = op_delete(id);
		if (rc < 0)
			return not_found(rq);
		if (rc > 0)
			return reply_json(rq, 409, azure_err("Conflict",
			    "The operation cannot be deleted because it has "
			    "not ended yet (status notRunning or running)."));
		blob_forget(id);
		if (op_find(id, &o) == 0)
			blob_forget(o.blob);
		rq->resp_bytes = 0;
		return reply(rq, 204, resp_bytes("", 0, NULL));
	}
	stat_add(&st.polls, 1);
	if (op_find(id, &o) != 0)
		return not_found(rq);
	now = dalle_now_ms();
	s = op_state(&o, now);
	body = JV_OBJECT(jv_string("created"), jv_number((double)o.created),
	    jv_string("expires"), jv_number((double)(o.created + OP_LIFETIME)),
	    jv_string("id"), jv_string(o.id),
	    jv_string("status"), jv_string(opstate_names[s]));
	if (s == OP_SUCCEEDED) {
		base = base_url(rq);
		data = jv_array();
		for (i = 0; i < o.n; i++) {
			url = blob_url(base, o.blob, i, "png", o.url_expires);
			data = jv_array_append(data, JV_OBJECT(
			    jv_string("url"), jv_string(url)));
			free(url);
		}
		free(base);
		body = jv_object_set(body, jv_string("result"), JV_OBJECT(
		    jv_string("created"), jv_number((double)o.created),
		    jv_string("data"), data));
	} else if (s == OP_FAILED)
		body = jv_object_set(body, jv_string("error"), JV_OBJECT(
		    jv_string("code"), jv_string("contentFilter"),
		    jv_string("message"), jv_string("Your task failed as a "
		    "result of our safety system.")));
	r = resp_json(body, rq);
	if (s < OP_SUCCEEDED)
		add_retry(r, o.t_done - now);
	return reply(rq, 200, r);
}

/* ---- image downloads ------------------------------------------------- */

struct sender {
	struct cent *c;
	struct MHD_Connection *conn;
	size_t limit;             /* stop (and close) after this many bytes */
	int64_t t0;
};

static ssize_t
send_image(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct sender *s = cls;
	int64_t now, allowed, chunk;
	size_t n;

	if (stopping)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	if (pos >= s->limit)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	n = s->limit - (size_t)pos;
	if (n > max)
		n = max;
	if (opt.slow_images > 0) {
		now = dalle_now_ms();
		chunk = opt.slow_images / 20 > 0 ? opt.slow_images / 20 : 1;
		allowed = chunk + opt.slow_images * (now - s->t0) / 1000;
		if ((int64_t)pos >= allowed) {
			/* Park the connection until more bytes are due. */
			sleep_until(s->conn, s->t0 + ((int64_t)pos + chunk) *
			    1000 / opt.slow_images);
			return 0;
		}
		if ((int64_t)n > allowed - (int64_t)pos)
			n = (size_t)(allowed - (int64_t)pos);
	}
	memcpy(buf, s->c->data + pos, n);
	return (ssize_t)n;
}

static void
send_done(void *cls)
{
	struct sender *s = cls;

	cent_release(s->c);
	free(s);
}

static enum MHD_Result
blob_error(struct req *rq, unsigned status, const char *code,
    const char *msg, const char *detail)
{
	char *x, id[37], when[40];

	uuid_new(id);
	iso_time(dalle_time(), when, sizeof(when));
	x = dalle_xasprintf("<?xml version=\"1.0\" encoding=\"utf-8\"?>"
	    "<Error><Code>%s</Code><Message>%s\nRequestId:%s\nTime:%s"
	    "</Message>%s%s%s</Error>", code, msg, id, when,
	    detail ? "<AuthenticationErrorDetail>" : "", detail ? detail : "",
	    detail ? "</AuthenticationErrorDetail>" : "");
	rq->resp_bytes = strlen(x);
	rq->route = R_IMAGE;
	rq->delay_ms = 0;
	{
		struct MHD_Response *r = resp_bytes(x, strlen(x),
		    "application/xml");

		MHD_add_response_header(r, "x-ms-error-code", code);
		free(x);
		return reply(rq, status, r);
	}
}

static enum MHD_Result
do_image(struct req *rq, const char *rest)
{
	static const char authmsg[] = "Server failed to authenticate the "
	    "request. Make sure the value of Authorization header is formed "
	    "correctly including the signature.";
	char id[37], ext[8], stem[96], *sig, *detail, a[40], b[40], c[40];
	const char *se, *qsig, *fmt;
	struct MHD_Response *r;
	struct sender *s;
	struct blob bl;
	enum MHD_Result ret;
	int idx, n = 0;
	int64_t exp;

	if (strlen(rest) < 36 + 12 || sscanf(rest + 36, "/generated_%2d.%5s%n",
	    &idx, ext, &n) != 2 || rest[36 + n] != '\0')
		return blob_error(rq, 404, "ResourceNotFound", "The specified "
		    "resource does not exist.", NULL);
	memcpy(id, rest, 36);
	id[36] = '\0';
	if (strcmp(ext, "png") == 0)
		fmt = "png";
	else if (strcmp(ext, "jpg") == 0 || strcmp(ext, "jpeg") == 0)
		fmt = "jpeg";
	else
		return blob_error(rq, 404, "BlobNotFound", "The specified "
		    "blob does not exist.", NULL);
	se = query(rq, "se");
	qsig = query(rq, "sig");
	if (se == NULL || qsig == NULL)
		return blob_error(rq, 404, "ResourceNotFound", "The specified "
		    "resource does not exist.", NULL);
	snprintf(stem, sizeof(stem), "/private/images/%s/generated_%02d", id,
	    idx);
	sig = blob_sig(stem, se);
	if (!ct_equal(sig, qsig)) {
		free(sig);
		return blob_error(rq, 403, "AuthenticationFailed", authmsg,
		    "Signature did not match. String to sign used was r");
	}
	free(sig);
	exp = iso_parse(se);
	if (exp < 0 || exp <= dalle_time()) {
		iso_time(exp - opt.url_ttl, a, sizeof(a));
		iso_time(exp, b, sizeof(b));
		iso_time(dalle_time(), c, sizeof(c));
		detail = dalle_xasprintf("Signed expiry time [%s] must be "
		    "after signed start time [%s] and current time [%s]", b, a,
		    c);
		ret = blob_error(rq, 403, "AuthenticationFailed", authmsg,
		    detail);
		free(detail);
		return ret;
	}
	memset(&bl, 0, sizeof(bl));
	if (blob_find(id, &bl) != 0 || idx >= bl.n) {
		free(bl.prompt);
		return blob_error(rq, 404, "BlobNotFound", "The specified "
		    "blob does not exist.", NULL);
	}
	if (fault(rq, &ret)) {
		free(bl.prompt);
		return ret;
	}
	stat_add(&st.downloads, 1);
	s = dalle_xcalloc(1, sizeof(*s));
	s->c = image_get(bl.prompt, idx, bl.w, bl.h, fmt, 90,
	    bl.transparent);
	free(bl.prompt);
	if (s->c == NULL) {
		free(s);
		return blob_error(rq, 500, "InternalError", "The image could "
		    "not be rendered.", NULL);
	}
	s->conn = rq->conn;
	s->limit = s->c->len;
	s->t0 = dalle_now_ms();
	if (opt.truncate_rate > 0 && chance() < opt.truncate_rate) {
		stat_add(&st.fault_truncate, 1);
		rq->fault = "truncate";
		s->limit = s->c->len / 2;
	}
	if (opt.slow_images > 0)
		stat_add(&st.fault_slow, 1);
	rq->resp_bytes = s->limit;
	r = MHD_create_response_from_callback(s->c->len, 32 * 1024,
	    send_image, s, send_done);
	if (r == NULL)
		errx(DALLE_EX_OSERR, "MHD_create_response_from_callback");
	MHD_add_response_header(r, "Content-Type", strcmp(fmt, "png") == 0 ?
	    "image/png" : "image/jpeg");
	MHD_add_response_header(r, "x-ms-blob-type", "BlockBlob");
	MHD_add_response_header(r, "x-ms-version", "2021-08-06");
	rq->delay_ms = 0;
	return reply(rq, 200, r);
}

/* ---- stats ----------------------------------------------------------- */

static enum MHD_Result
do_stats(struct req *rq)
{
	jv routes, status, opsj, res;
	uint64_t nst[4] = { 0, 0, 0, 0 };
	char key[8];
	struct op *o;
	int64_t now = dalle_now_ms(), nows = dalle_time();
	size_t nops = 0, cbytes, centries;
	long nactive;
	int i;

	pthread_mutex_lock(&ops.mu);
	active_expire(now);
	nactive = (long)ops.nactive;
	for (o = (struct op *)ops.t.head; o != NULL;
	    o = (struct op *)o->l.fnext)
		if (!o->deleted && o->created + OP_LIFETIME > nows) {
			nst[op_state(o, now)]++;
			nops++;
		}
	pthread_mutex_unlock(&ops.mu);
	pthread_mutex_lock(&cache.mu);
	cbytes = cache.bytes;
	centries = cache.t.n;
	pthread_mutex_unlock(&cache.mu);
	opsj = jv_object();
	for (i = 0; i < 4; i++)
		opsj = jv_object_set(opsj, jv_string(opstate_names[i]),
		    jv_number((double)nst[i]));
	opsj = jv_object_set(opsj, jv_string("total"), jv_number(
	    (double)nops));

	pthread_mutex_lock(&stats_mu);
	/* Count this request before reporting. */
	routes = jv_object();
	for (i = 0; i < R_N; i++)
		routes = jv_object_set(routes, jv_string(route_names[i]),
		    jv_number((double)st.by_route[i]));
	status = jv_object();
	for (i = 100; i < 600; i++)
		if (st.by_status[i] > 0) {
			snprintf(key, sizeof(key), "%d", i);
			status = jv_object_set(status, jv_string(key),
			    jv_number((double)st.by_status[i]));
		}
	res = JV_OBJECT(
	    jv_string("requests"), jv_number((double)st.requests),
	    jv_string("routes"), routes,
	    jv_string("status"), status,
	    jv_string("rate_limited"), jv_number((double)st.rate_limited),
	    jv_string("concurrency_limited"),
	    jv_number((double)st.concurrency_limited),
	    jv_string("auth_failed"), jv_number((double)st.auth_failed),
	    jv_string("content_filtered"), jv_number((double)st.filtered));
	res = jv_object_set(res, jv_string("faults"), JV_OBJECT(
	    jv_string("fail"), jv_number((double)st.fault_fail),
	    jv_string("drop"), jv_number((double)st.fault_drop),
	    jv_string("truncate"), jv_number((double)st.fault_truncate),
	    jv_string("slow"), jv_number((double)st.fault_slow)));
	res = jv_object_set(res, jv_string("submits"),
	    jv_number((double)st.submits));
	res = jv_object_set(res, jv_string("polls"),
	    jv_number((double)st.polls));
	res = jv_object_set(res, jv_string("deletes"),
	    jv_number((double)st.deletes));
	res = jv_object_set(res, jv_string("generations"),
	    jv_number((double)st.generations));
	res = jv_object_set(res, jv_string("images_generated"),
	    jv_number((double)st.images));
	res = jv_object_set(res, jv_string("image_downloads"),
	    jv_number((double)st.downloads));
	res = jv_object_set(res, jv_string("operations"), opsj);
	res = jv_object_set(res, jv_string("in_flight"), JV_OBJECT(
	    jv_string("connections"), jv_number((double)st.connections),
	    jv_string("requests"), jv_number((double)st.active),
	    jv_string("suspended"), jv_number((double)st.suspended),
	    jv_string("suspended_peak"), jv_number((double)st.suspended_peak),
	    jv_string("sync_generations"),
	    jv_number((double)st.sync_inflight),
	    jv_string("async_operations"), jv_number((double)nactive)));
	res = jv_object_set(res, jv_string("cache"), JV_OBJECT(
	    jv_string("entries"), jv_number((double)centries),
	    jv_string("bytes"), jv_number((double)cbytes),
	    jv_string("hits"), jv_number((double)st.cache_hits),
	    jv_string("misses"), jv_number((double)st.cache_misses)));
	pthread_mutex_unlock(&stats_mu);
	return reply_json(rq, 200, res);
}

/* ---- request plumbing ------------------------------------------------ */

static enum MHD_Result
collect(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
	jv *o = cls;
	const char *v = value ? value : "";

	/* Secrets never reach the log. */
	if (strcasecmp(key, "api-key") == 0 ||
	    strcasecmp(key, "ocp-apim-subscription-key") == 0)
		v = "***";
	else if (strcasecmp(key, "authorization") == 0)
		v = strncasecmp(v, "Bearer ", 7) == 0 ? "Bearer ***" : "***";
	if (kind == MHD_HEADER_KIND) {
		/* Header names in lower case: HTTP ignores case. */
		char name[128];
		size_t i;

		for (i = 0; key[i] != '\0' && i + 1 < sizeof(name); i++)
			name[i] = (char)tolower((unsigned char)key[i]);
		name[i] = '\0';
		*o = jv_object_set(*o, jv_string(name), jv_string(v));
	} else
		*o = jv_object_set(*o, jv_string(key), jv_string(v));
	return MHD_YES;
}

static enum route
classify(const char *method, const char *url)
{
	int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	int post = strcmp(method, "POST") == 0;
	size_t n;

	if (strcmp(url, "/_serve/stats") == 0 && get)
		return R_STATS;
	if (strcmp(url, "/openai/images/generations:submit") == 0 && post)
		return R_SUBMIT;
	if (strncmp(url, "/openai/operations/images/", 26) == 0 &&
	    url[26] != '\0' && strchr(url + 26, '/') == NULL) {
		if (get)
			return R_OP_GET;
		if (strcmp(method, "DELETE") == 0)
			return R_OP_DELETE;
	}
	if (strncmp(url, "/openai/deployments/", 20) == 0 && post) {
		n = strcspn(url + 20, "/");
		if (n > 0 && strcmp(url + 20 + n, "/images/generations") == 0)
			return R_AZURE;
	}
	if (strcmp(url, "/openai/v1/images/generations") == 0 && post)
		return R_AZURE_V1;
	if (strcmp(url, "/v1/images/generations") == 0 && post)
		return R_OPENAI;
	if (strncmp(url, "/private/images/", 16) == 0 && get)
		return R_IMAGE;
	return R_OTHER;
}

static enum MHD_Result
dispatch(struct req *rq)
{
	char dep[256];
	size_t n;

	switch (rq->route) {
	case R_STATS:
		return do_stats(rq);
	case R_SUBMIT:
		return do_submit(rq);
	case R_OP_GET:
	case R_OP_DELETE:
		return do_operation(rq, rq->path + 26);
	case R_AZURE:
		n = strcspn(rq->path + 20, "/");
		snprintf(dep, sizeof(dep), "%.*s", (int)n, rq->path + 20);
		return do_generate(rq, dep, FL_AZURE);
	case R_AZURE_V1:
		return do_generate(rq, NULL, FL_AZURE_V1);
	case R_OPENAI:
		return do_generate(rq, NULL, FL_OPENAI);
	case R_IMAGE:
		return do_image(rq, rq->path + 16);
	default:
		return not_found(rq);
	}
}

static enum MHD_Result
handler(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_size, void **con_cls)
{
	struct req *rq = *con_cls;
	enum MHD_Result ret;
	struct MHD_Response *r;
	jv q;

	(void)cls;
	(void)version;
	if (rq == NULL) {
		rq = dalle_xcalloc(1, sizeof(*rq));
		rq->conn = conn;
		rq->start_ms = dalle_now_ms();
		snprintf(rq->method, sizeof(rq->method), "%s", method);
		rq->path = dalle_xstrdup(url);
		rq->route = classify(method, url);
		rq->logrec = jv_invalid();
		rq->rl_remaining = -1;
		if (opt.log != NULL) {
			jv h = jv_object();

			q = jv_object();
			MHD_get_connection_values(conn, MHD_HEADER_KIND,
			    collect, &h);
			MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND,
			    collect, &q);
			rq->logrec = JV_OBJECT(jv_string("headers"), h,
			    jv_string("query"), q);
		}
		*con_cls = rq;
		pthread_mutex_lock(&stats_mu);
		st.requests++;
		st.by_route[rq->route]++;
		st.active++;
		pthread_mutex_unlock(&stats_mu);
		return MHD_YES;
	}
	if (*upload_size > 0) {
		if (rq->body.len + *upload_size > MAX_BODY)
			rq->too_big = 1;
		else
			dalle_buf_add(&rq->body, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	if (rq->waiting) {
		/* Resumed by the timer: send what was prepared. */
		rq->waiting = 0;
		r = rq->stash;
		rq->stash = NULL;
		return reply(rq, rq->stash_status, r);
	}
	if (rq->too_big)
		return reply_json(rq, 413, azure_err("RequestEntityTooLarge",
		    "The request body is too large."));
	ret = dispatch(rq);
	return ret;
}

static void
completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct req *rq = *con_cls;
	jv rec, b;
	char when[40];
	int64_t now;
	unsigned status;

	(void)cls;
	(void)conn;
	if (rq == NULL)
		return;
	status = rq->status;
	if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && rq->fault == NULL &&
	    status == 0)
		rq->fault = "aborted";
	pthread_mutex_lock(&stats_mu);
	st.active--;
	if (status > 0 && status < 600)
		st.by_status[status]++;
	pthread_mutex_unlock(&stats_mu);
	slot_release(rq);
	if (rq->stash != NULL)
		MHD_destroy_response(rq->stash);
	if (opt.log != NULL && jv_is_valid(rq->logrec)) {
		now = wall_ms();
		iso_time(now / 1000, when, sizeof(when));
		when[19] = '\0';
		rec = JV_OBJECT(jv_string("time"), jv_string(when),
		    jv_string("method"), jv_string(rq->method),
		    jv_string("path"), jv_string(rq->path));
		rec = jv_object_set(rec, jv_string("time"), jv_string_fmt(
		    "%s.%03dZ", when, (int)(now % 1000)));
		rec = jv_object_set(rec, jv_string("query"),
		    jv_object_get(jv_copy(rq->logrec), jv_string("query")));
		rec = jv_object_set(rec, jv_string("route"),
		    jv_string(route_names[rq->route]));
		rec = jv_object_set(rec, jv_string("status"),
		    jv_number(status));
		rec = jv_object_set(rec, jv_string("headers"),
		    jv_object_get(jv_copy(rq->logrec), jv_string("headers")));
		rec = jv_object_set(rec, jv_string("body_bytes"),
		    jv_number((double)rq->body.len));
		if (rq->body.len > 0 && rq->body.len <= 65536) {
			b = jv_parse_sized(rq->body.p, (int)rq->body.len);
			if (jv_is_valid(b))
				rec = jv_object_set(rec, jv_string("body"), b);
			else
				jv_free(b);
		}
		rec = jv_object_set(rec, jv_string("response_bytes"),
		    jv_number((double)(rq->route == R_IMAGE ||
		    rq->status == 0 ? rq->resp_bytes : rq->resp_bytes)));
		rec = jv_object_set(rec, jv_string("ms"),
		    jv_number((double)(dalle_now_ms() - rq->start_ms)));
		if (rq->fault != NULL)
			rec = jv_object_set(rec, jv_string("fault"),
			    jv_string(rq->fault));
		b = jv_dump_string(rec, 0);
		flockfile(opt.log);
		fputs(jv_string_value(b), opt.log);
		putc('\n', opt.log);
		fflush(opt.log);
		funlockfile(opt.log);
		jv_free(b);
	}
	jv_free(rq->logrec);
	dalle_buf_free(&rq->body);
	free(rq->path);
	free(rq);
	*con_cls = NULL;
}

static void
conn_notify(void *cls, struct MHD_Connection *conn, void **socket_ctx,
    enum MHD_ConnectionNotificationCode toe)
{
	(void)cls;
	(void)conn;
	(void)socket_ctx;
	stat_long(&st.connections, toe == MHD_CONNECTION_NOTIFY_STARTED ?
	    1 : -1);
}

/* ---- setup ----------------------------------------------------------- */

static void
push(char ***list, size_t *n, const char *s)
{
	*list = dalle_xrealloc(*list, (*n + 1) * sizeof(**list));
	(*list)[(*n)++] = dalle_xstrdup(s);
}

static void
read_lines(const char *path, char ***list, size_t *n)
{
	FILE *fp;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;

	if ((fp = fopen(path, "r")) == NULL)
		err(DALLE_EX_NOINPUT, "%s", path);
	while ((len = getline(&line, &cap, fp)) != -1) {
		while (len > 0 && (line[len - 1] == '\n' ||
		    line[len - 1] == '\r' || line[len - 1] == ' '))
			line[--len] = '\0';
		if (len > 0)
			push(list, n, line);
	}
	if (line != NULL)
		explicit_bzero(line, cap);
	free(line);
	fclose(fp);
}

static void
add_deployment(const char *spec)
{
	const char *eq = strchr(spec, '=');
	const struct dalle_model *m;

	if (eq == NULL || eq == spec || (m = dalle_model_find(eq + 1)) ==
	    NULL) {
		warnx("--deployment %s: want NAME=MODEL with a known model",
		    spec);
		usage(stderr, DALLE_EX_USAGE);
	}
	opt.depl = dalle_xrealloc(opt.depl, (opt.ndepl + 1) *
	    sizeof(*opt.depl));
	opt.depl[opt.ndepl].name = dalle_xasprintf("%.*s", (int)(eq - spec),
	    spec);
	opt.depl[opt.ndepl].model = m;
	opt.ndepl++;
}

static double
num_arg(const char *name, const char *s, double min, double max)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end != '\0' || !(v >= min && v <= max)) {
		warnx("%s: %s: want a number from %g to %g", name, s, min,
		    max);
		usage(stderr, DALLE_EX_USAGE);
	}
	return v;
}

static long
int_arg(const char *name, const char *s, long long min, long long max)
{
	long long v;

	if (dalle_strtonum(s, min, max, &v) != 0) {
		warnx("%s: %s: want an integer from %lld to %lld", name, s,
		    min, max);
		usage(stderr, DALLE_EX_USAGE);
	}
	return (long)v;
}

/* Parse "host:port", "[v6]:port" or ":port" into ss. */
static socklen_t
parse_listen(const char *spec, struct sockaddr_storage *ss, int *v6)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
	char host[128];
	const char *colon;
	long port;

	memset(ss, 0, sizeof(*ss));
	if (spec[0] == '[') {
		colon = strstr(spec, "]:");
		if (colon == NULL || colon - spec - 1 >= (long)sizeof(host))
			goto bad;
		snprintf(host, sizeof(host), "%.*s", (int)(colon - spec - 1),
		    spec + 1);
		colon++;
	} else {
		colon = strrchr(spec, ':');
		if (colon == NULL || colon - spec >= (long)sizeof(host))
			goto bad;
		snprintf(host, sizeof(host), "%.*s", (int)(colon - spec),
		    spec);
	}
	port = int_arg("--listen", colon + 1, 0, 65535);
	if (host[0] == '\0' || strcmp(host, "localhost") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		*v6 = 0;
		return sizeof(*a4);
	}
	if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		*v6 = 1;
		return sizeof(*a6);
	}
bad:
	warnx("--listen %s: want ADDRESS:PORT with a numeric address", spec);
	usage(stderr, DALLE_EX_USAGE);
}

enum {
	O_API_KEY = 300, O_API_KEY_FILE, O_TOKEN, O_TOKEN_FILE, O_PUBLIC_URL,
	O_LATENCY, O_JITTER, O_SEED, O_CONCURRENCY, O_RPM, O_RATE_WINDOW,
	O_FAIL, O_DROP, O_TRUNCATE, O_SLOW, O_BLOCKED, O_URL_TTL, O_SCALE,
	O_CACHE, O_THREADS, O_LOG
};

static const struct option longopts[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "listen", required_argument, NULL, 'l' },
	{ "deployment", required_argument, NULL, 'd' },
	{ "api-key", required_argument, NULL, O_API_KEY },
	{ "api-key-file", required_argument, NULL, O_API_KEY_FILE },
	{ "token", required_argument, NULL, O_TOKEN },
	{ "token-file", required_argument, NULL, O_TOKEN_FILE },
	{ "public-url", required_argument, NULL, O_PUBLIC_URL },
	{ "latency", required_argument, NULL, O_LATENCY },
	{ "jitter", required_argument, NULL, O_JITTER },
	{ "seed", required_argument, NULL, O_SEED },
	{ "concurrency", required_argument, NULL, O_CONCURRENCY },
	{ "rpm", required_argument, NULL, O_RPM },
	{ "rate-window", required_argument, NULL, O_RATE_WINDOW },
	{ "fail-rate", required_argument, NULL, O_FAIL },
	{ "drop-rate", required_argument, NULL, O_DROP },
	{ "truncate-rate", required_argument, NULL, O_TRUNCATE },
	{ "slow-images", required_argument, NULL, O_SLOW },
	{ "blocked-term", required_argument, NULL, O_BLOCKED },
	{ "url-ttl", required_argument, NULL, O_URL_TTL },
	{ "image-scale", required_argument, NULL, O_SCALE },
	{ "cache-size", required_argument, NULL, O_CACHE },
	{ "threads", required_argument, NULL, O_THREADS },
	{ "log", required_argument, NULL, O_LOG },
	{ NULL, 0, NULL, 0 }
};

static void
parse_options(int argc, char *argv[])
{
	static const char *const defaults[] = {
		"dalle3", "dall-e-3", "dall-e-3", "dall-e-3", "dalle2",
		"dall-e-2", "dall-e-2", "dall-e-2", "gpt-image-1",
		"gpt-image-1", "gpt-image-1-mini", "gpt-image-1-mini",
		"gpt-image-1.5", "gpt-image-1.5", NULL
	};
	char *s;
	int ch, i;

	opt.listen = "127.0.0.1:8080";
	opt.rate_window = 1;
	opt.url_ttl = 86400;
	opt.image_scale = 1;
	opt.threads = 2;
	opt.cache_bytes = (size_t)64 << 20;
	for (i = 0; defaults[i] != NULL; i += 2) {
		s = dalle_xasprintf("%s=%s", defaults[i], defaults[i + 1]);
		add_deployment(s);
		free(s);
	}
	while ((ch = getopt_long(argc, argv, "hl:d:", longopts, NULL)) != -1)
		switch (ch) {
		case 'h':
			usage(stdout, 0);
		case 'l':
			opt.listen = optarg;
			break;
		case 'd':
			add_deployment(optarg);
			break;
		case O_API_KEY:
			push(&opt.keys, &opt.nkeys, optarg);
			break;
		case O_API_KEY_FILE:
			read_lines(optarg, &opt.keys, &opt.nkeys);
			break;
		case O_TOKEN:
			push(&opt.tokens, &opt.ntokens, optarg);
			break;
		case O_TOKEN_FILE:
			read_lines(optarg, &opt.tokens, &opt.ntokens);
			break;
		case O_PUBLIC_URL:
			if (strncmp(optarg, "http://", 7) != 0 &&
			    strncmp(optarg, "https://", 8) != 0) {
				warnx("--public-url: want an http(s) URL");
				usage(stderr, DALLE_EX_USAGE);
			}
			opt.public_url = optarg[strlen(optarg) - 1] == '/' ?
			    optarg : dalle_xasprintf("%s/", optarg);
			break;
		case O_LATENCY:
			opt.latency = num_arg("--latency", optarg, 0, 3600);
			break;
		case O_JITTER:
			opt.jitter = num_arg("--jitter", optarg, 0, 3600);
			break;
		case O_SEED:
			opt.seed = (uint64_t)int_arg("--seed", optarg, 0,
			    LONG_MAX);
			opt.seeded = 1;
			break;
		case O_CONCURRENCY:
			opt.concurrency = int_arg("--concurrency", optarg, 1,
			    1000000);
			break;
		case O_RPM:
			opt.rpm = int_arg("--rpm", optarg, 1, 100000000);
			break;
		case O_RATE_WINDOW:
			opt.rate_window = num_arg("--rate-window", optarg,
			    0.001, 60);
			break;
		case O_FAIL:
			opt.fail_rate = num_arg("--fail-rate", optarg, 0, 1);
			break;
		case O_DROP:
			opt.drop_rate = num_arg("--drop-rate", optarg, 0, 1);
			break;
		case O_TRUNCATE:
			opt.truncate_rate = num_arg("--truncate-rate", optarg,
			    0, 1);
			break;
		case O_SLOW:
			opt.slow_images = int_arg("--slow-images", optarg, 1,
			    1000000000);
			break;
		case O_BLOCKED:
			if (*optarg != '\0')
				push(&opt.blocked, &opt.nblocked, optarg);
			break;
		case O_URL_TTL:
			opt.url_ttl = int_arg("--url-ttl", optarg, 1,
			    10 * 365 * 86400L);
			break;
		case O_SCALE:
			opt.image_scale = int_arg("--image-scale", optarg, 1,
			    1024);
			break;
		case O_CACHE:
			opt.cache_bytes = (size_t)int_arg("--cache-size",
			    optarg, 0, 1 << 20) << 20;
			break;
		case O_THREADS:
			opt.threads = int_arg("--threads", optarg, 1, 64);
			break;
		case O_LOG:
			if ((opt.log = fopen(optarg, "a")) == NULL)
				err(DALLE_EX_CANTCREAT, "%s", optarg);
			break;
		default:
			usage(stderr, DALLE_EX_USAGE);
		}
	if (optind != argc)
		usage(stderr, DALLE_EX_USAGE);
	if ((s = getenv("DALLE_SERVE_API_KEY")) != NULL && *s != '\0')
		push(&opt.keys, &opt.nkeys, s);
	if ((s = getenv("DALLE_SERVE_TOKEN")) != NULL && *s != '\0')
		push(&opt.tokens, &opt.ntokens, s);
}

static uint64_t
urandom64(void)
{
	uint64_t v = 0;
	FILE *fp;

	fp = fopen("/dev/urandom", "rb");
	if (fp == NULL || fread(&v, sizeof(v), 1, fp) != 1)
		v = (uint64_t)wall_ms() ^ ((uint64_t)getpid() << 32);
	if (fp != NULL)
		fclose(fp);
	return v;
}

int
main(int argc, char *argv[])
{
	struct sockaddr_storage ss;
	struct MHD_Daemon *d;
	const union MHD_DaemonInfo *info;
	struct rlimit rlim;
	pthread_condattr_t ca;
	sigset_t set;
	char host[INET6_ADDRSTRLEN];
	unsigned limit;
	socklen_t sl;
	int v6, sig;
	size_t i;

	signal(SIGPIPE, SIG_IGN);
	parse_options(argc, argv);
	sl = parse_listen(opt.listen, &ss, &v6);
	(void)sl;
	rng_id = opt.seeded ? opt.seed * 2 + 1 : urandom64();
	rng_fault = opt.seeded ? opt.seed : urandom64();
	sig_secret[0] = urandom64();
	sig_secret[1] = urandom64();

	/* Thousands of waiting clients need thousands of descriptors. */
	if (getrlimit(RLIMIT_NOFILE, &rlim) == 0 &&
	    rlim.rlim_cur < rlim.rlim_max) {
		rlim.rlim_cur = rlim.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rlim);
	}
	getrlimit(RLIMIT_NOFILE, &rlim);
	limit = rlim.rlim_cur > 65536 ? 65000 : rlim.rlim_cur > 128 ?
	    (unsigned)rlim.rlim_cur - 64 : 64;

	/* Signals go to sigwait in this thread only. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&tm_q.cv, &ca);
	if (pthread_create(&tm_q.thr, NULL, timer_main, NULL) != 0)
		errx(DALLE_EX_OSERR, "pthread_create");

	d = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD |
	    MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO |
	    (v6 ? MHD_USE_IPv6 : 0), 0, NULL, NULL, handler, NULL,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned)opt.threads,
	    MHD_OPTION_CONNECTION_LIMIT, limit,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)300,
	    MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)4096,
	    MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
	    MHD_OPTION_NOTIFY_CONNECTION, conn_notify, NULL,
	    MHD_OPTION_END);
	if (d == NULL)
		errx(DALLE_EX_OSERR, "cannot listen on %s", opt.listen);
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	if (v6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr,
		    host, sizeof(host));
	else
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr,
		    host, sizeof(host));
	snprintf(listen_base, sizeof(listen_base), v6 ? "http://[%s]:%u/" :
	    "http://%s:%u/", host, info ? (unsigned)info->port : 0);
	if (!dalle_url_is_loopback(listen_base))
		warnx("listening on %s: reachable from other hosts",
		    listen_base);
	printf("%s\n", listen_base);
	fflush(stdout);

	while (sigwait(&set, &sig) != 0)
		;
	/* Resume every parked connection before stopping the daemon. */
	pthread_mutex_lock(&tm_q.mu);
	stopping = 1;
	pthread_cond_signal(&tm_q.cv);
	pthread_mutex_unlock(&tm_q.mu);
	pthread_join(tm_q.thr, NULL);
	MHD_stop_daemon(d);
	if (opt.log != NULL)
		fclose(opt.log);
	for (i = 0; i < opt.nkeys; i++)
		dalle_secret_free(opt.keys[i]);
	for (i = 0; i < opt.ntokens; i++)
		dalle_secret_free(opt.tokens[i]);
	free(opt.keys);
	free(opt.tokens);
	return dalle_finish(0);
}
