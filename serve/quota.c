/*
 * quota.c: what makes dalle-serve behave like a busy service: the
 * per-minute quota, the concurrency limit, injected faults and latency,
 * all drawn from one seeded stream so that --seed replays them.
 */
#include <err.h>
#include <unistd.h>

#include "serve.h"

static pthread_mutex_t rng_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t rng_fault, rng_id;

static uint64_t
entropy64(void)
{
	uint64_t v;

	if (getentropy(&v, sizeof(v)) != 0)
		err(DALLE_EX_OSERR, "getentropy");
	return v;
}

void
quota_seed(void)
{
	rng_id = opt.seeded ? (uint64_t)opt.seed * 2 + 1 : entropy64();
	rng_fault = opt.seeded ? (uint64_t)opt.seed : entropy64();
}

double
chance(void)
{
	uint64_t v;

	pthread_mutex_lock(&rng_mu);
	v = dalle_rand(&rng_fault);
	pthread_mutex_unlock(&rng_mu);
	return (double)(v >> 11) / 9007199254740992.0;
}

void
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

int64_t
latency_ms(void)
{
	double s;

	s = opt.latency;
	if (opt.jitter > 0)
		s += (chance() * 2 - 1) * opt.jitter;
	return s > 0 ? (int64_t)(s * 1000 + 0.5) : 0;
}

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
	int64_t next, wait = -1;
	long nactive;

	nactive = op_active(dalle_now_ms(), &next);
	pthread_mutex_lock(&stats_mu);
	if (st.sync_inflight + nactive >= opt.concurrency) {
		wait = nactive > 0 ? next : (int64_t)(opt.latency * 1000);
		if (wait < 1)
			wait = 1;
	} else if (sync)
		st.sync_inflight++;
	pthread_mutex_unlock(&stats_mu);
	return wait;
}

int
quota_take(struct req *rq, const char *version, int sync,
    enum MHD_Result *ret)
{
	int64_t wait;
	long remaining = -1;

	if (opt.rpm > 0) {
		wait = rpm_take(&remaining);
		if (wait >= 0) {
			*ret = reply_too_many(rq, wait, version,
			    "call rate limit");
			return 1;
		}
	}
	if (opt.concurrency > 0) {
		wait = conc_take(sync);
		if (wait >= 0) {
			stats_add(&st.concurrency_limited, 1);
			*ret = reply_too_many(rq, wait, version,
			    "the concurrent request limit");
			return 1;
		}
		rq->holds_slot = sync;
	}
	rq->rl_remaining = remaining;
	return 0;
}

int
fault(struct req *rq, enum MHD_Result *ret)
{
	enum serve_err e;

	if (opt.drop_rate > 0 && chance() < opt.drop_rate) {
		stats_add(&st.fault_drop, 1);
		rq->fault = "drop";
		*ret = MHD_NO;
		return 1;
	}
	if (opt.fail_rate > 0 && chance() < opt.fail_rate) {
		stats_add(&st.fault_fail, 1);
		rq->fault = "fail";
		e = chance() < 0.5 ? E_BUSY : E_INTERNAL;
		*ret = rq->route == R_IMAGE ? reply_blob_error(rq, e, NULL) :
		    reply_error(rq, e);
		return 1;
	}
	return 0;
}
