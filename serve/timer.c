/*
 * timer.c: latency never holds a server thread.  A waiting connection is
 * suspended and queued by the time it is due; one thread resumes it then.
 * Once timer_stop has begun, nothing is suspended any more.
 */
#include <err.h>
#include <time.h>

#include "serve.h"

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct dalle_heap q;      /* connections by due time */
	pthread_t thr;
	int stopping;             /* set once, by timer_stop */
} tq = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
	DALLE_HEAP_INIT, 0, 0 };

int
timer_sleep(struct MHD_Connection *conn, int64_t due)
{
	pthread_mutex_lock(&tq.mu);
	if (tq.stopping) {
		pthread_mutex_unlock(&tq.mu);
		return -1;
	}
	/* Suspended before the timer thread can see it, to resume it. */
	MHD_suspend_connection(conn);
	stats_suspended(1);
	dalle_heap_push(&tq.q, due, conn);
	pthread_cond_signal(&tq.cv);
	pthread_mutex_unlock(&tq.mu);
	return 0;
}

/* Wait on the condition until ms from now, at most. */
static void
timer_wait(int64_t ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&tq.cv, &tq.mu, &ts);
}

static void *
timer_main(void *arg)
{
	const struct dalle_heap_item *top;
	struct MHD_Connection *conn;
	int64_t now;

	(void)arg;
	pthread_mutex_lock(&tq.mu);
	for (;;) {
		top = dalle_heap_top(&tq.q);
		if (top == NULL) {
			if (tq.stopping)
				break;
			pthread_cond_wait(&tq.cv, &tq.mu);
			continue;
		}
		now = dalle_now_ms();
		if (top->key > now && !tq.stopping) {
			timer_wait(top->key - now);
			continue;
		}
		conn = dalle_heap_pop(&tq.q, NULL);
		pthread_mutex_unlock(&tq.mu);
		stats_suspended(-1);
		MHD_resume_connection(conn);
		pthread_mutex_lock(&tq.mu);
	}
	pthread_mutex_unlock(&tq.mu);
	return NULL;
}

void
timer_start(void)
{
	pthread_condattr_t ca;

	/* The timed waits count on the monotonic clock, as dalle_now_ms. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&tq.cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&tq.thr, NULL, timer_main, NULL) != 0)
		errx(DALLE_EX_OSERR, "pthread_create");
}

void
timer_stop(void)
{
	pthread_mutex_lock(&tq.mu);
	tq.stopping = 1;
	pthread_cond_signal(&tq.cv);
	pthread_mutex_unlock(&tq.mu);
	pthread_join(tq.thr, NULL);
	dalle_heap_free(&tq.q);
}
