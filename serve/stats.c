/* stats.c: the counters behind GET /_serve/stats. */
#include <stdio.h>

#include "serve.h"

pthread_mutex_t stats_mu = PTHREAD_MUTEX_INITIALIZER;
struct serve_stats st;

void
stats_add(uint64_t *p, uint64_t n)
{
	pthread_mutex_lock(&stats_mu);
	*p += n;
	pthread_mutex_unlock(&stats_mu);
}

void
stats_long(long *p, long n)
{
	pthread_mutex_lock(&stats_mu);
	*p += n;
	pthread_mutex_unlock(&stats_mu);
}

void
stats_suspended(long d)
{
	pthread_mutex_lock(&stats_mu);
	st.suspended += d;
	if (st.suspended > st.suspended_peak)
		st.suspended_peak = st.suspended;
	pthread_mutex_unlock(&stats_mu);
}

#define NUM(x) jv_number((double)(x))

/* Requests by route and by status.  Called with stats_mu held. */
static jv
stats_requests(jv res)
{
	jv routes, status;
	char key[8];
	int i;

	routes = jv_object();
	for (i = 0; i < R_N; i++)
		routes = jv_object_set(routes, jv_string(route_names[i]),
		    NUM(st.by_route[i]));
	status = jv_object();
	for (i = 100; i < 600; i++)
		if (st.by_status[i] > 0) {
			snprintf(key, sizeof(key), "%d", i);
			status = jv_object_set(status, jv_string(key),
			    NUM(st.by_status[i]));
		}
	res = jv_object_set(res, jv_string("requests"), NUM(st.requests));
	res = jv_object_set(res, jv_string("routes"), routes);
	return jv_object_set(res, jv_string("status"), status);
}

/* A group of counters and the names they go by. */
struct counter {
	const char *name;
	const uint64_t *v;
};

static const struct counter limits[] = {
	{ "rate_limited", &st.rate_limited },
	{ "concurrency_limited", &st.concurrency_limited },
	{ "auth_failed", &st.auth_failed },
	{ "content_filtered", &st.filtered },
};
static const struct counter faults[] = {
	{ "fail", &st.fault_fail },
	{ "drop", &st.fault_drop },
	{ "truncate", &st.fault_truncate },
	{ "slow", &st.fault_slow },
};
static const struct counter work[] = {
	{ "submits", &st.submits },
	{ "polls", &st.polls },
	{ "deletes", &st.deletes },
	{ "generations", &st.generations },
	{ "edits", &st.edits },
	{ "images_generated", &st.images },
	{ "image_downloads", &st.downloads },
};

#define PUT(o, c) put((o), (c), sizeof(c) / sizeof((c)[0]))

/* o with the counters set.  Called with stats_mu held. */
static jv
put(jv o, const struct counter *c, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		o = jv_object_set(o, jv_string(c[i].name), NUM(*c[i].v));
	return o;
}

enum MHD_Result
stats_reply(struct req *rq)
{
	jv opsj, res;
	uint64_t nst[4];
	size_t nops, cbytes, centries;
	long nactive;
	int i;

	nops = op_count(dalle_now_ms(), nst);
	nactive = op_active(dalle_now_ms(), NULL);
	cache_usage(&cbytes, &centries);
	opsj = jv_object();
	for (i = 0; i < 4; i++)
		opsj = jv_object_set(opsj, jv_string(opstate_names[i]),
		    NUM(nst[i]));
	opsj = jv_object_set(opsj, jv_string("total"), NUM(nops));

	pthread_mutex_lock(&stats_mu);
	/* This request is counted already. */
	res = PUT(stats_requests(jv_object()), limits);
	res = jv_object_set(res, jv_string("faults"), PUT(jv_object(),
	    faults));
	res = PUT(res, work);
	res = jv_object_set(res, jv_string("operations"), opsj);
	res = jv_object_set(res, jv_string("in_flight"), JV_OBJECT(
	    jv_string("connections"), NUM(st.connections),
	    jv_string("requests"), NUM(st.active),
	    jv_string("suspended"), NUM(st.suspended),
	    jv_string("suspended_peak"), NUM(st.suspended_peak),
	    jv_string("sync_generations"), NUM(st.sync_inflight),
	    jv_string("async_operations"), NUM(nactive)));
	res = jv_object_set(res, jv_string("cache"), JV_OBJECT(
	    jv_string("entries"), NUM(centries),
	    jv_string("bytes"), NUM(cbytes),
	    jv_string("hits"), NUM(st.cache_hits),
	    jv_string("misses"), NUM(st.cache_misses)));
	pthread_mutex_unlock(&stats_mu);
	return reply_json(rq, 200, res);
}
