/*
 * http.c: many transfers in one thread on curl's multi interface.  A
 * transfer waits in a heap ordered by the time it may start (now, a retry's
 * delay, a poll's Retry-After), runs when one of c->jobs slots is free, and
 * is handed back through dalle_http_done once it has an answer that is not
 * worth retrying.  A caller's own descriptor (stdin) is watched with curl's
 * sockets, so reading input never holds up transfers.
 *
 * curl tells us which sockets to watch and when its next timeout is
 * (CURLMOPT_SOCKETFUNCTION, CURLMOPT_TIMERFUNCTION); we wait on them with
 * epoll (poll(2) where there is none) and hand curl only the sockets that
 * are ready, so a wake-up costs the same with 1 or 1,000 transfers in
 * flight: curl_multi_perform and curl_multi_poll would walk them all.
 */
#ifdef __linux__
#include <sys/epoll.h>
#else
#include <poll.h>
#endif

#include <ctype.h>
#include <signal.h>
#include <err.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "dalle.h"

#define DEFAULT_MAXBODY (64L << 20)

/* A binary min-heap of transfers by (due, seq). */
struct heap {
	struct dalle_xfer **v;
	size_t n, cap;
};

/*
 * The descriptors we wait on: curl's sockets, as its socket callback asks,
 * and the caller's one descriptor, armed only while the caller wants it.
 */
#define USER_TAG ((uint64_t)1 << 32)

struct watch {
	int user;                 /* the caller's descriptor, or -1 */
	int user_armed;           /* epoll: armed, one shot */
	int user_always;          /* cannot be watched (a regular file) */
#ifdef __linux__
	int ep;
	sigset_t open_mask;       /* the mask while waiting */
#else
	struct pollfd *fds;       /* curl's sockets */
	struct pollfd *polled;    /* what one wait polls: fds and user */
	size_t n, cap;
#endif
};

/* What curl_multi_socket_action wants to hear of a ready socket. */
static int
cselect(int in, int out, int error)
{
	return (in ? CURL_CSELECT_IN : 0) | (out ? CURL_CSELECT_OUT : 0) |
	    (error ? CURL_CSELECT_ERR : 0);
}

#ifdef __linux__
/*
 * SIGINT, SIGTERM and SIGHUP arrive only while we wait, when every
 * finished record has been written out: an interrupted pipeline loses
 * none that was done, however its signals are handled.
 */
static void
watch_init(struct watch *w)
{
	sigset_t s;

	w->user = -1;
	if ((w->ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		err(DALLE_EX_OSERR, "epoll_create1");
	sigemptyset(&s);
	sigaddset(&s, SIGINT);
	sigaddset(&s, SIGTERM);
	sigaddset(&s, SIGHUP);
	sigprocmask(SIG_BLOCK, &s, &w->open_mask);
}

static void
watch_free(struct watch *w)
{
	close(w->ep);
	sigprocmask(SIG_SETMASK, &w->open_mask, NULL);
}

/* Watch socket s for events (CURL_POLL_*), or stop (CURL_POLL_REMOVE);
 * known: s is being watched already. */
static void
watch_socket(struct watch *w, int s, int what, int known)
{
	struct epoll_event ev;

	if (what == CURL_POLL_REMOVE) {
		/* curl may already have closed it: nothing to undo then. */
		epoll_ctl(w->ep, EPOLL_CTL_DEL, s, NULL);
		return;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0) |
	    (what & CURL_POLL_OUT ? EPOLLOUT : 0);
	ev.data.u64 = (uint64_t)s;
	if (epoll_ctl(w->ep, known ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, s,
	    &ev) == -1 && (errno != (known ? ENOENT : EEXIST) ||
	    epoll_ctl(w->ep, known ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, s,
	    &ev) == -1))
		err(DALLE_EX_OSERR, "epoll_ctl");
}

/* Watch the caller's fd for input until it is ready once, or stop (-1). */
static void
watch_user(struct watch *w, int fd)
{
	struct epoll_event ev;

	if (fd == w->user && (fd == -1 || w->user_armed || w->user_always))
		return;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | EPOLLONESHOT;
	ev.data.u64 = USER_TAG;
	if (fd != w->user) {
		if (w->user >= 0 && !w->user_always)
			epoll_ctl(w->ep, EPOLL_CTL_DEL, w->user, NULL);
		w->user = fd;
		w->user_armed = w->user_always = 0;
		if (fd == -1)
			return;
		if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev) == -1) {
			/* A regular file or /dev/null: always readable. */
			if (errno != EPERM)
				err(DALLE_EX_OSERR, "epoll_ctl");
			w->user_always = 1;
			return;
		}
	} else if (epoll_ctl(w->ep, EPOLL_CTL_MOD, fd, &ev) == -1)
		err(DALLE_EX_OSERR, "epoll_ctl");
	w->user_armed = 1;
}

/*
 * Wait up to timeout ms; hand each ready socket to ready() with its
 * CURL_CSELECT_* bits.  Returns 1 when the caller's fd is readable.
 */
static int
watch_wait(struct watch *w, long timeout, void (*ready)(void *, int, int),
    void *arg)
{
	struct epoll_event ev[64];
	int i, n, user = 0;

	n = epoll_pwait(w->ep, ev, 64, (int)timeout, &w->open_mask);
	if (n == -1 && errno != EINTR)
		err(DALLE_EX_OSERR, "epoll_pwait");
	for (i = 0; i < n; i++) {
		if (ev[i].data.u64 == USER_TAG) {
			w->user_armed = 0;
			user = 1;
			continue;
		}
		ready(arg, (int)ev[i].data.u64, cselect(ev[i].events &
		    (EPOLLIN | EPOLLHUP), ev[i].events & EPOLLOUT,
		    ev[i].events & EPOLLERR));
	}
	return user;
}
#else
static void
watch_init(struct watch *w)
{
	w->user = -1;
}

static void
watch_free(struct watch *w)
{
	free(w->fds);
	free(w->polled);
}

static void
watch_socket(struct watch *w, int s, int what, int known)
{
	size_t i;

	(void)known;
	for (i = 0; i < w->n && w->fds[i].fd != s; i++)
		;
	if (what == CURL_POLL_REMOVE) {
		if (i < w->n)
			w->fds[i] = w->fds[--w->n];
		return;
	}
	if (i == w->n) {
		if (w->n == w->cap) {
			w->cap = w->cap ? w->cap * 2 : 16;
			w->fds = dalle_xrealloc(w->fds,
			    w->cap * sizeof(*w->fds));
		}
		w->n++;
	}
	w->fds[i].fd = s;
	w->fds[i].events = (what & CURL_POLL_IN ? POLLIN : 0) |
	    (what & CURL_POLL_OUT ? POLLOUT : 0);
}

static void
watch_user(struct watch *w, int fd)
{
	w->user = fd;
}

static int
watch_wait(struct watch *w, long timeout, void (*ready)(void *, int, int),
    void *arg)
{
	size_t i, n = w->n;
	int user = 0;
	short re;

	/* Poll a copy: ready() may change the set as it goes. */
	w->polled = dalle_xrealloc(w->polled, (n + 1) * sizeof(*w->polled));
	if (n > 0)
		memcpy(w->polled, w->fds, n * sizeof(*w->polled));
	if (w->user >= 0) {
		w->polled[n].fd = w->user;
		w->polled[n].events = POLLIN;
		n++;
	}
	if (poll(w->polled, n, (int)timeout) == -1 && errno != EINTR)
		err(DALLE_EX_OSERR, "poll");
	for (i = 0; i < n; i++) {
		if ((re = w->polled[i].revents) == 0)
			continue;
		if (i == w->n && w->user >= 0) {
			user = 1;
			continue;
		}
		ready(arg, w->polled[i].fd, cselect(re & (POLLIN | POLLHUP),
		    re & POLLOUT, re & (POLLERR | POLLNVAL)));
	}
	return user;
}
#endif

struct dalle_http {
	const struct dalle_conf *c;
	CURLM *multi;
	struct heap wait;         /* queued, retrying or polling later */
	struct heap slots;        /* paced: holding a reserved start time */
	struct dalle_rate *rate;
	size_t inflight;
	struct dalle_xfer *done, *done_tail;
	CURL **pool;
	size_t npool, cappool;
	uint64_t seq;
	size_t pending;
	int64_t curl_due;         /* curl's next timeout; -1: none */
	int64_t rate_until;       /* paced transfers wait for the budget */
	struct watch w;
};

static int
before(const struct dalle_xfer *a, const struct dalle_xfer *b)
{
	return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void
heap_push(struct heap *hp, struct dalle_xfer *x)
{
	struct dalle_xfer *t;
	size_t i, p;

	if (hp->n == hp->cap) {
		hp->cap = hp->cap ? hp->cap * 2 : 64;
		hp->v = dalle_xrealloc(hp->v, hp->cap * sizeof(*hp->v));
	}
	i = hp->n++;
	hp->v[i] = x;
	for (; i > 0 && before(hp->v[i], hp->v[p = (i - 1) / 2]); i = p) {
		t = hp->v[i];
		hp->v[i] = hp->v[p];
		hp->v[p] = t;
	}
}

static struct dalle_xfer *
heap_pop(struct heap *hp)
{
	struct dalle_xfer *top = hp->v[0], *t;
	size_t i = 0, l, m;

	hp->v[0] = hp->v[--hp->n];
	for (;;) {
		l = 2 * i + 1;
		m = i;
		if (l < hp->n && before(hp->v[l], hp->v[m]))
			m = l;
		if (l + 1 < hp->n && before(hp->v[l + 1], hp->v[m]))
			m = l + 1;
		if (m == i)
			break;
		t = hp->v[i];
		hp->v[i] = hp->v[m];
		hp->v[m] = t;
		i = m;
	}
	return top;
}

static int
jobs(const struct dalle_http *h)
{
	return h->c->jobs > 0 ? h->c->jobs : 8;
}

static int
on_socket(CURL *e, curl_socket_t s, int what, void *arg, void *sockp)
{
	struct dalle_http *h = arg;

	(void)e;
	watch_socket(&h->w, s, what, sockp != NULL);
	/* curl keeps this for s until it stops watching it: the next
	 * call knows that s is in the set already. */
	if (what != CURL_POLL_REMOVE && sockp == NULL)
		curl_multi_assign(h->multi, s, h);
	return 0;
}

static int
on_timer(CURLM *m, long timeout_ms, void *arg)
{
	struct dalle_http *h = arg;

	(void)m;
	h->curl_due = timeout_ms < 0 ? -1 : dalle_now_ms() + timeout_ms;
	return 0;
}

struct dalle_http *
dalle_http_new(const struct dalle_conf *c)
{
	struct dalle_http *h = dalle_xcalloc(1, sizeof(*h));

	h->c = c;
	h->curl_due = -1;
	watch_init(&h->w);
	if ((h->multi = curl_multi_init()) == NULL)
		errx(DALLE_EX_OSERR, "curl_multi_init failed");
	curl_multi_setopt(h->multi, CURLMOPT_PIPELINING,
	    (long)CURLPIPE_MULTIPLEX);
	curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
	    (long)jobs(h));
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	return h;
}

void
dalle_http_free(struct dalle_http *h)
{
	size_t i;

	if (h == NULL)
		return;
	for (i = 0; i < h->npool; i++)
		curl_easy_cleanup(h->pool[i]);
	curl_multi_cleanup(h->multi);
	watch_free(&h->w);
	free(h->pool);
	free(h->wait.v);
	free(h->slots.v);
	free(h);
}

struct dalle_xfer *
dalle_xfer_new(const char *method, const char *url)
{
	struct dalle_xfer *x = dalle_xcalloc(1, sizeof(*x));

	x->method = method;
	x->url = dalle_xstrdup(url);
	x->hint.retry_after_ms = -1;
	x->hint.should_retry = -1;
	return x;
}

void
dalle_xfer_body(struct dalle_xfer *x, struct dalle_buf *json)
{
	free(x->body);
	x->body = json->p ? json->p : dalle_xstrdup("");
	x->bodylen = json->len;
	memset(json, 0, sizeof(*json));
	x->headers = curl_slist_append(x->headers,
	    "Content-Type: application/json");
}

static void
reset_results(struct dalle_xfer *x)
{
	dalle_buf_reset(&x->resp);
	free(x->location);
	free(x->content_type);
	x->location = x->content_type = NULL;
	x->status = 0;
	x->write_errno = 0;
	x->result = CURLE_OK;
	x->errbuf[0] = '\0';
	x->hint.retry_after_ms = -1;
	x->hint.should_retry = -1;
}

void
dalle_xfer_free(struct dalle_xfer *x)
{
	struct curl_slist *h;

	if (x == NULL)
		return;
	reset_results(x);
	dalle_buf_free(&x->resp);
	/* Credentials in the header list are zeroed, not just freed. */
	for (h = x->headers; h; h = h->next)
		if (strncasecmp(h->data, "api-key:", 8) == 0 ||
		    strncasecmp(h->data, "authorization:", 14) == 0)
			explicit_bzero(h->data, strlen(h->data));
	curl_slist_free_all(x->headers);
	free(x->url);
	free(x->body);
	free(x);
}

void
dalle_http_set_rate(struct dalle_http *h, struct dalle_rate *rate)
{
	h->rate = rate;
}

void
dalle_http_start_at(struct dalle_http *h, struct dalle_xfer *x,
    int64_t due_ms)
{
	x->due = due_ms;
	x->seq = h->seq++;
	heap_push(&h->wait, x);
	h->pending++;
}

void
dalle_http_start(struct dalle_http *h, struct dalle_xfer *x)
{
	dalle_http_start_at(h, x, dalle_now_ms());
}

size_t
dalle_http_pending(const struct dalle_http *h)
{
	return h->pending;
}

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	struct dalle_xfer *x = arg;
	size_t len = size * n, cap = x->maxbody ? x->maxbody : DEFAULT_MAXBODY;

	if (x->out) {
		if (fwrite(p, 1, len, x->out) != len) {
			x->write_errno = errno ? errno : EIO;
			return 0;
		}
		return len;
	}
	if (x->resp.len + len > cap)
		return 0;       /* too large: CURLE_WRITE_ERROR */
	dalle_buf_add(&x->resp, p, len);
	return len;
}

/* -v: curl's trace with every credential masked. */
static int
on_debug(CURL *e, curl_infotype type, char *p, size_t n, void *arg)
{
	static const char *const secret[] = {
		"api-key:", "authorization:", "proxy-authorization:"
	};
	const char *prefix;
	size_t i, k, len;

	(void)e;
	(void)arg;
	switch (type) {
	case CURLINFO_TEXT:
		prefix = "* ";
		break;
	case CURLINFO_HEADER_IN:
		prefix = "< ";
		break;
	case CURLINFO_HEADER_OUT:
		prefix = "> ";
		break;
	default:
		return 0;
	}
	for (i = 0; i < n; i += len) {
		const char *nl = memchr(p + i, '\n', n - i);

		len = nl ? (size_t)(nl - (p + i)) + 1 : n - i;
		for (k = 0; k < sizeof(secret) / sizeof(secret[0]); k++)
			if (len > strlen(secret[k]) &&
			    strncasecmp(p + i, secret[k], strlen(secret[k])) == 0)
				break;
		if (k < sizeof(secret) / sizeof(secret[0]))
			fprintf(stderr, "%s%.*s [redacted]\n", prefix,
			    (int)strlen(secret[k]), p + i);
		else if (len > 0 && !(len <= 2 && (p[i] == '\r' ||
		    p[i] == '\n'))) {
			char *line = dalle_url_redact(p + i, len);

			fprintf(stderr, "%s%s", prefix, line);
			free(line);
		}
	}
	if (n > 0 && p[n - 1] != '\n' && type == CURLINFO_TEXT)
		fputc('\n', stderr);
	return 0;
}

#define SETOPT(o, v) do { \
	if (curl_easy_setopt(e, o, v) != CURLE_OK) \
		errx(DALLE_EX_SOFTWARE, "curl_easy_setopt(%s) failed", #o); \
} while (0)

static void
attach(struct dalle_http *h, struct dalle_xfer *x)
{
	const struct dalle_conf *c = h->c;
	CURL *e;

	if (h->npool > 0) {
		e = h->pool[--h->npool];
		curl_easy_reset(e);
	} else if ((e = curl_easy_init()) == NULL)
		errx(DALLE_EX_OSERR, "curl_easy_init failed");
	x->easy = e;
	reset_results(x);
	if (x->out && x->attempts > 0) {        /* a retry starts afresh */
		rewind(x->out);
		if (ftruncate(fileno(x->out), 0) == -1)
			warn("ftruncate");
	}
	x->attempts++;
	SETOPT(CURLOPT_PRIVATE, x);
	SETOPT(CURLOPT_URL, x->url);
	SETOPT(CURLOPT_NOSIGNAL, 1L);
	SETOPT(CURLOPT_USERAGENT, "dalle-tools/" VERSION);
	SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
	SETOPT(CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
	SETOPT(CURLOPT_TIMEOUT_MS, c->timeout_ms);
	SETOPT(CURLOPT_ERRORBUFFER, x->errbuf);
	SETOPT(CURLOPT_WRITEFUNCTION, on_body);
	SETOPT(CURLOPT_WRITEDATA, x);
	/* Wait for a connection that can multiplex only where one can:
	 * on plain HTTP/1.1, libcurl 7.88 would hold every new transfer
	 * until the first answer came (one whole latency lost). */
	if (strncasecmp(x->url, "https:", 6) == 0)
		SETOPT(CURLOPT_PIPEWAIT, 1L);
	SETOPT(CURLOPT_ACCEPT_ENCODING, "");
	SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
	if (c->cacert) {
		/* These authorities alone: not the system's directory too. */
		SETOPT(CURLOPT_CAINFO, c->cacert);
		SETOPT(CURLOPT_CAPATH, (char *)NULL);
	}
	if (x->headers)
		SETOPT(CURLOPT_HTTPHEADER, x->headers);
	if (x->follow) {
		SETOPT(CURLOPT_FOLLOWLOCATION, 1L);
		SETOPT(CURLOPT_MAXREDIRS, 5L);
		SETOPT(CURLOPT_REDIR_PROTOCOLS_STR, "https");
	}
	if (strcmp(x->method, "POST") == 0) {
		SETOPT(CURLOPT_POST, 1L);
		SETOPT(CURLOPT_POSTFIELDS, x->body ? x->body : "");
		SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->bodylen);
	} else if (strcmp(x->method, "GET") != 0)
		SETOPT(CURLOPT_CUSTOMREQUEST, x->method);
	if (c->verbose) {
		SETOPT(CURLOPT_VERBOSE, 1L);
		SETOPT(CURLOPT_DEBUGFUNCTION, on_debug);
	}
	if (curl_multi_add_handle(h->multi, e) != CURLM_OK)
		errx(DALLE_EX_SOFTWARE, "curl_multi_add_handle failed");
	h->inflight++;
}

static char *
header(CURL *e, const char *name)
{
	struct curl_header *hd;

	if (curl_easy_header(e, name, 0, CURLH_HEADER, -1, &hd) != CURLHE_OK)
		return NULL;
	return dalle_xstrdup(hd->value);
}

/* A transfer finished: read what it got, then retry it or hand it back. */
static void
finish(struct dalle_http *h, CURL *e, CURLcode rc)
{
	const struct dalle_conf *c = h->c;
	struct dalle_xfer *x;
	char *ms, *ra, *sr, *msg;
	long delay;

	curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&x);
	x->result = rc;
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &x->status);
	if (x->status > 0) {
		x->location = header(e, "operation-location");
		x->content_type = header(e, "content-type");
		ms = header(e, "retry-after-ms");
		ra = header(e, "retry-after");
		sr = header(e, "x-should-retry");
		x->hint.retry_after_ms = dalle_retry_parse(ms, ra);
		if (sr)
			x->hint.should_retry = strcasecmp(sr, "true") == 0;
		free(ms);
		free(ra);
		free(sr);
	}
	curl_multi_remove_handle(h->multi, e);
	x->easy = NULL;
	if (h->npool == h->cappool) {
		h->cappool = h->cappool ? h->cappool * 2 : 16;
		h->pool = dalle_xrealloc(h->pool, h->cappool * sizeof(*h->pool));
	}
	h->pool[h->npool++] = e;
	h->inflight--;

	if (h->rate && x->paced)
		dalle_rate_feedback(h->rate, x->status, x->hint.retry_after_ms,
		    &x->ticket);
	/* A 429 is the service pacing us, not failing: it spends no retry,
	 * up to a bound, so that a pipeline under quota loses nothing. */
	if (x->status == 429 && x->throttled < 50)
		x->throttled++;
	if (!x->no_retry && x->attempts - x->throttled <= c->retries &&
	    dalle_retry_wanted(rc, x->status, &x->hint)) {
		delay = dalle_retry_delay(x->attempts, &x->hint);
		if (delay <= c->max_wait_ms) {
			if (!c->quiet) {
				char *u = dalle_url_redact(x->url,
				    strlen(x->url));

				msg = dalle_xfer_strerror(x);
				if (x->status == 429)
					warnx("%s: %s; rate limited, again in "
					    "%.1f s", u, msg, delay / 1000.0);
				else
					warnx("%s: %s; retry %d of %d in %.1f s",
					    u, msg, x->attempts - x->throttled,
					    c->retries, delay / 1000.0);
				free(msg);
				free(u);
			}
			/* pending still counts it: it never left */
			x->due = dalle_now_ms() + delay;
			x->seq = h->seq++;
			heap_push(&h->wait, x);
			return;
		}
	}
	x->next = NULL;
	if (h->done_tail)
		h->done_tail->next = x;
	else
		h->done = x;
	h->done_tail = x;
}

/*
 * Start what is due: first the paced transfers whose reserved time has
 * come (their slot was counted when reserved), then queued ones while
 * slots are free, reserving a start time for each paced one.
 */
static void
start_due(struct dalle_http *h)
{
	int64_t now = dalle_now_ms(), t;
	struct dalle_xfer *x;

	while (h->slots.n > 0 && h->slots.v[0]->due <= now) {
		x = heap_pop(&h->slots);
		x->slot = 0;
		attach(h, x);
	}
	while (h->wait.n > 0 && h->wait.v[0]->due <= now &&
	    h->inflight + h->slots.n < (size_t)jobs(h)) {
		x = h->wait.v[0];
		if (h->rate && x->paced) {
			/* The budget said "not before": nobody asks again
			 * until then. */
			if (now < h->rate_until)
				break;
			t = dalle_rate_reserve(h->rate, &x->ticket);
			if (x->ticket.deferred) {
				h->rate_until = t;
				break;
			}
			heap_pop(&h->wait);
			if (t > now) {
				x->slot = 1;
				x->due = t;
				heap_push(&h->slots, x);
				continue;
			}
		} else
			heap_pop(&h->wait);
		attach(h, x);
	}
}

/* Milliseconds until start_due has something to do, at most limit. */
static long
next_event(const struct dalle_http *h, long limit)
{
	int64_t now = dalle_now_ms(), d = limit, due;

	if (h->slots.n > 0 && h->slots.v[0]->due - now < d)
		d = h->slots.v[0]->due - now;
	if (h->wait.n > 0 && h->inflight + h->slots.n < (size_t)jobs(h)) {
		due = h->wait.v[0]->due;
		if (h->rate && h->wait.v[0]->paced && due < h->rate_until)
			due = h->rate_until;
		if (due - now < d)
			d = due - now;
	}
	return d < 0 ? 0 : (long)d;
}

static void
socket_ready(void *arg, int s, int bits)
{
	struct dalle_http *h = arg;
	int running;

	curl_multi_socket_action(h->multi, s, bits, &running);
}

int
dalle_http_wait(struct dalle_http *h, int fd, long timeout_ms, int *fd_ready)
{
	CURLMsg *m;
	int64_t now;
	int running, left;

	start_due(h);
	timeout_ms = h->done ? 0 : next_event(h, timeout_ms);
	now = dalle_now_ms();
	if (h->curl_due >= 0 && h->curl_due - now < timeout_ms)
		timeout_ms = h->curl_due > now ? (long)(h->curl_due - now) : 0;
	watch_user(&h->w, fd);
	if (fd >= 0 && h->w.user_always)
		timeout_ms = 0;
	*fd_ready = watch_wait(&h->w, timeout_ms, socket_ready, h) ||
	    (fd >= 0 && h->w.user_always);
	if (h->curl_due >= 0 && dalle_now_ms() >= h->curl_due) {
		h->curl_due = -1;
		if (curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0,
		    &running) != CURLM_OK)
			return -1;
	}
	while ((m = curl_multi_info_read(h->multi, &left)) != NULL)
		if (m->msg == CURLMSG_DONE)
			finish(h, m->easy_handle, m->data.result);
	start_due(h);
	return 0;
}

struct dalle_xfer *
dalle_http_done(struct dalle_http *h)
{
	struct dalle_xfer *x = h->done;

	if (x == NULL)
		return NULL;
	h->done = x->next;
	if (h->done == NULL)
		h->done_tail = NULL;
	x->next = NULL;
	h->pending--;
	return x;
}

/* The service's error object from a body, or jv_null(). */
static jv
body_error(const struct dalle_xfer *x)
{
	jv v, e;

	if (x->out || x->resp.len == 0)
		return jv_null();
	v = jv_parse_sized(x->resp.p, (int)x->resp.len);
	e = dalle_jv_get(v, "error");
	jv_free(v);
	if (jv_get_kind(e) != JV_KIND_OBJECT) {
		jv_free(e);
		return jv_null();
	}
	return e;
}

char *
dalle_xfer_strerror(const struct dalle_xfer *x)
{
	const char *m;
	char *s;
	jv e;

	if (x->result != CURLE_OK)
		return dalle_xstrdup(x->errbuf[0] ? x->errbuf :
		    curl_easy_strerror(x->result));
	e = body_error(x);
	m = dalle_jv_str(e, "message");
	s = m ? dalle_xasprintf("HTTP %ld: %s", x->status, m) :
	    dalle_xasprintf("HTTP %ld", x->status);
	jv_free(e);
	return s;
}

jv
dalle_xfer_error(const struct dalle_xfer *x, const char *stage)
{
	const char *kind, *code;
	char *msg, codebuf[32];
	int retry;
	jv e, r, cj;

	/* Called for an answer the caller did not expect: a 2xx other than
	 * the one it wanted is the service misbehaving. */
	if (x->result == CURLE_OK && x->status >= 200 && x->status < 300) {
		msg = dalle_xasprintf("unexpected HTTP %ld", x->status);
		r = dalle_error_new(stage, DALLE_KIND_PROTOCOL, x->status, NULL,
		    msg, 0, x->attempts);
		free(msg);
		return r;
	}
	if (x->result == CURLE_WRITE_ERROR && x->write_errno) {
		r = dalle_error_new(stage, DALLE_KIND_IO, 0, NULL,
		    strerror(x->write_errno), 0, x->attempts);
		return r;
	}
	if (x->result == CURLE_WRITE_ERROR && x->out == NULL) {
		msg = dalle_xasprintf("the answer is larger than %zu bytes",
		    x->maxbody ? x->maxbody : (size_t)DEFAULT_MAXBODY);
		r = dalle_error_new(stage, DALLE_KIND_PROTOCOL, x->status, NULL,
		    msg, 0, x->attempts);
		free(msg);
		return r;
	}
	msg = dalle_xfer_strerror(x);
	retry = dalle_retry_wanted(x->result, x->status, &x->hint);
	e = body_error(x);
	code = NULL;
	cj = dalle_jv_get(e, "code");
	if (jv_get_kind(cj) == JV_KIND_STRING)
		code = jv_string_value(cj);
	else if (jv_get_kind(cj) == JV_KIND_NUMBER) {
		snprintf(codebuf, sizeof(codebuf), "%.0f",
		    jv_number_value(cj));
		code = codebuf;
	}
	if (x->result != CURLE_OK)
		kind = DALLE_KIND_NETWORK;
	else if (code && (strcmp(code, "content_policy_violation") == 0 ||
	    strcmp(code, "contentFilter") == 0 ||
	    strcmp(code, "moderation_blocked") == 0))
		kind = DALLE_KIND_CONTENT_FILTER;
	else if (x->status == 401 || x->status == 403)
		kind = DALLE_KIND_AUTH;
	else if (x->status == 404)
		kind = DALLE_KIND_NOT_FOUND;
	else if (x->status == 429)
		kind = DALLE_KIND_RATE;
	else if (x->status >= 500 || x->status == 408 || x->status == 409)
		kind = DALLE_KIND_SERVER;
	else if (x->status >= 400)
		kind = DALLE_KIND_INVALID;
	else
		kind = DALLE_KIND_PROTOCOL;
	r = dalle_error_new(stage, kind, x->status, code,
	    msg + (x->status && strncmp(msg, "HTTP ", 5) == 0 &&
	    strchr(msg, ':') ? strchr(msg, ':') - msg + 2 : 0),
	    retry, x->attempts);
	/* Keep the service's extra detail (param, inner_error...). */
	if (jv_get_kind(e) == JV_KIND_OBJECT) {
		jv p = dalle_jv_get(e, "param");

		if (jv_get_kind(p) == JV_KIND_STRING)
			r = jv_object_set(r, jv_string("param"), p);
		else
			jv_free(p);
		p = dalle_jv_get(e, "inner_error");
		if (jv_get_kind(p) == JV_KIND_OBJECT)
			r = jv_object_set(r, jv_string("inner_error"), p);
		else
			jv_free(p);
	}
	jv_free(cj);
	jv_free(e);
	free(msg);
	return r;
}
