/*
 * http.c: many transfers in one thread on curl's multi interface.  A
 * transfer waits in a heap ordered by the time it may start (now, a retry's
 * delay, a poll's Retry-After), runs when one of c->jobs slots is free, and
 * is handed back through dalle_http_done once it has an answer that is not
 * worth retrying.  A caller's own descriptor (stdin) is watched with curl's
 * sockets, so reading input never holds up transfers.
 *
 * curl tells us which sockets to watch and when its next timeout is
 * (CURLMOPT_SOCKETFUNCTION, CURLMOPT_TIMERFUNCTION); event.c waits on them
 * and we hand curl only the sockets that are ready, so a wake-up costs the
 * same with 1 or 1,000 transfers in flight: curl_multi_perform and
 * curl_multi_poll would walk them all.
 */
#include <err.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "dalle.h"
#include "event.h"

/* An image download that moves less than a byte a second this long
 * has stalled. */
#define STALL_S 30L

/*
 * A transfer as the engine sees it: the caller's part first, then what is
 * private to this file.
 */
struct xfer {
	struct dalle_xfer x;
	CURL *e;                  /* while attached */
	const char *method;       /* "GET", "POST", "DELETE" */
	char *body;               /* request body or NULL */
	size_t bodylen;
	struct dalle_form *form;  /* or a multipart body, or NULL */
	curl_mime *mime;          /* form's, for the attempt in flight */
	int https;                /* may wait to multiplex (CURLOPT_PIPEWAIT) */
	char errbuf[CURL_ERROR_SIZE];
	int write_errno;          /* why writing to out failed, or 0 */
	long long got;            /* body bytes of this attempt so far */
	int checked;              /* its headers have been looked at */
	char why[160];            /* why the answer was refused, or "" */
	int cut;                  /* a retry was wanted, but no time left */
	long held;                /* ms a 429's hold had left, past ours */
	struct dalle_rate_ticket ticket;
	struct xfer *next;        /* in the list of finished transfers */
	struct xfer *aprev, *anext;   /* in the list of attached ones */
	int aborted;              /* by dalle_http_abort: its signal, or -1 */
	int sent;                 /* aborted after its request went out */
	int quota;                /* waits to retry after a 429 */
};

#define PRIV(xp) ((struct xfer *)(xp))

struct dalle_http {
	const struct dalle_conf *c;
	CURLM *multi;             /* NULL until the first transfer */
	struct dalle_heap wait;   /* by due time: queued, retrying, polling */
	struct dalle_heap slots;  /* paced: by the start time reserved */
	struct dalle_rate *rate;
	size_t inflight;
	struct xfer *done, *done_tail;
	CURL **pool;
	size_t npool, cappool;
	size_t pending;
	int64_t curl_due;         /* curl's next timeout; -1: none */
	int64_t rate_until;       /* paced transfers wait for the budget */
	struct dalle_event *ev;
	struct xfer *attached;    /* in curl's hands */
	size_t nquota;            /* transfers with quota set */
	long retries;             /* retries begun */
};

/* p leaves the ones waiting on the quota, if it was one. */
static void
unquota(struct dalle_http *h, struct xfer *p)
{
	if (p->quota)
		h->nquota--;
	p->quota = 0;
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
	dalle_event_socket(h->ev, s, what, sockp != NULL);
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
	h->ev = dalle_event_new();
	return h;
}

/*
 * libcurl's global set-up (OpenSSL's, mostly) is a seventh of a run's
 * start, and the multi handle makes it: both wait for the first transfer,
 * so that --dry-run, usage errors and empty input never pay for them.
 */
static void
start_curl(struct dalle_http *h)
{
	if (h->multi != NULL)
		return;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		errx(DALLE_EX_OSERR, "curl_global_init failed");
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
}

void
dalle_http_free(struct dalle_http *h)
{
	size_t i;

	if (h == NULL)
		return;
	for (i = 0; i < h->npool; i++)
		curl_easy_cleanup(h->pool[i]);
	if (h->multi != NULL) {
		curl_multi_cleanup(h->multi);
		curl_global_cleanup();
	}
	dalle_event_free(h->ev);
	free(h->pool);
	dalle_heap_free(&h->wait);
	dalle_heap_free(&h->slots);
	free(h);
}

struct dalle_xfer *
dalle_http_xfer_new(const char *method, const char *url)
{
	struct xfer *p = dalle_xcalloc(1, sizeof(*p));
	struct dalle_xfer *x = &p->x;
	struct dalle_url u;

	p->method = method;
	if (dalle_url_parse(url, &u) == 0) {
		p->https = strcmp(u.scheme, "https") == 0;
		dalle_url_free(&u);
	}
	x->url = dalle_xstrdup(url);
	x->hint.retry_after_ms = -1;
	x->hint.should_retry = -1;
	return x;
}

void
dalle_http_xfer_body(struct dalle_xfer *x, struct dalle_buf *json)
{
	free(PRIV(x)->body);
	PRIV(x)->body = json->p ? json->p : dalle_xstrdup("");
	PRIV(x)->bodylen = json->len;
	memset(json, 0, sizeof(*json));
	x->headers = curl_slist_append(x->headers,
	    "Content-Type: application/json");
}

void
dalle_http_xfer_form(struct dalle_xfer *x, struct dalle_form *form)
{
	dalle_form_free(PRIV(x)->form);
	PRIV(x)->form = form;
}

static void
reset_results(struct dalle_xfer *x)
{
	dalle_buf_reset(&x->resp);
	free(x->location);
	x->location = NULL;
	free(x->request_id);
	x->request_id = NULL;
	x->status = 0;
	PRIV(x)->write_errno = 0;
	PRIV(x)->got = 0;
	PRIV(x)->checked = 0;
	PRIV(x)->why[0] = '\0';
	PRIV(x)->cut = 0;
	PRIV(x)->held = 0;
	x->result = CURLE_OK;
	PRIV(x)->errbuf[0] = '\0';
	x->hint.retry_after_ms = -1;
	x->hint.should_retry = -1;
}

void
dalle_http_xfer_free(struct dalle_xfer *x)
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
	free(PRIV(x)->body);
	curl_mime_free(PRIV(x)->mime);
	dalle_form_free(PRIV(x)->form);
	free(PRIV(x));
}

void
dalle_http_set_rate(struct dalle_http *h, struct dalle_rate *rate)
{
	h->rate = rate;
	/* Nobody's 429 holds a request longer than its own would. */
	if (rate != NULL)
		dalle_rate_bound(rate, dalle_retry_clamp(DALLE_RETRY_MAX_MS,
		    h->c->timeout_ms));
}

void
dalle_http_start_at(struct dalle_http *h, struct dalle_xfer *x,
    int64_t due_ms)
{
	dalle_heap_push(&h->wait, due_ms, PRIV(x));
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

static char *header(CURL *e, const char *name);

static long long
max_bytes(const struct dalle_xfer *x)
{
	return x->max_bytes > 0 ? x->max_bytes : DALLE_ANSWER_MAX;
}

/* A 2xx answer's headers, before its body is taken: 0, or -1 with why
 * set when the answer is not what was asked for. */
static int
check_answer(struct dalle_xfer *x)
{
	CURL *e = PRIV(x)->e;
	const char *why;
	char *ct, *ce;
	long code;
	int rc = 0;

	if (curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK ||
	    code < 200 || code > 299 || (x->out != NULL && !x->image))
		return 0;
	ct = header(e, "Content-Type");
	ce = header(e, "Content-Encoding");
	why = dalle_answer_refused(ct, ce, x->image, x->chunk != NULL);
	if (why != NULL) {
		snprintf(PRIV(x)->why, sizeof(PRIV(x)->why), "%s: %.60s", why,
		    strstr(why, "Encoding") ? ce : ct ? ct : "?");
		rc = -1;
	}
	free(ct);
	free(ce);
	return rc;
}

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	struct dalle_xfer *x = arg;
	size_t len = size * n;
	curl_off_t cl;
	long code;

	if (!PRIV(x)->checked) {
		PRIV(x)->checked = 1;
		if (check_answer(x) == -1)
			return 0;
	}
	/* Counted as it comes: a chunked or compressed body has no
	 * length to refuse it by beforehand. */
	PRIV(x)->got += (long long)len;
	if (PRIV(x)->got > max_bytes(x)) {
		snprintf(PRIV(x)->why, sizeof(PRIV(x)->why), "the answer is "
		    "larger than %lld bytes", max_bytes(x));
		return 0;
	}
	if (x->out) {
		if (fwrite(p, 1, len, x->out) != len) {
			PRIV(x)->write_errno = errno ? errno : EIO;
			return 0;
		}
		return len;
	}
	if (x->chunk && curl_easy_getinfo(PRIV(x)->e, CURLINFO_RESPONSE_CODE,
	    &code) == CURLE_OK && code >= 200 && code < 300)
		return x->chunk(x, p, len) == 0 ? len : 0;
	/* The whole body in one allocation when its length is known: an
	 * answer of a real image is megabytes. */
	if (x->resp.len == 0 && curl_easy_getinfo(PRIV(x)->e,
	    CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) == CURLE_OK && cl > 0 &&
	    cl <= max_bytes(x))
		dalle_buf_reserve(&x->resp, (size_t)cl);
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
			char *line = dalle_url_redact(p + i, len), *r;
			size_t rn;

			/* A header of the answer may echo a secret. */
			r = dalle_secret_redact(line, strlen(line), &rn);
			fprintf(stderr, "%s%s", prefix, r ? r : line);
			free(r);
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
attach(struct dalle_http *h, struct xfer *p)
{
	const struct dalle_conf *c = h->c;
	struct dalle_xfer *x = &p->x;
	long timeout = c->timeout_ms;
	int64_t left;
	CURL *e;

	start_curl(h);
	if (h->npool > 0) {
		e = h->pool[--h->npool];
		curl_easy_reset(e);
	} else if ((e = curl_easy_init()) == NULL)
		errx(DALLE_EX_OSERR, "curl_easy_init failed");
	p->e = e;
	reset_results(x);
	unquota(h, p);
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
	/* No attempt outlives the caller's deadline (dalle-poll -t). */
	if (x->deadline > 0) {
		left = x->deadline - dalle_now_ms();
		if (left < timeout)
			timeout = left > 1 ? (long)left : 1;
	}
	SETOPT(CURLOPT_TIMEOUT_MS, timeout);
	SETOPT(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max_bytes(x));
	SETOPT(CURLOPT_ERRORBUFFER, p->errbuf);
	SETOPT(CURLOPT_WRITEFUNCTION, on_body);
	/* On a reused connection found dead, libcurl sends again by
	 * itself: a transfer sent once gets a connection of its own. */
	if (x->once)
		SETOPT(CURLOPT_FRESH_CONNECT, 1L);
	SETOPT(CURLOPT_WRITEDATA, x);
	/* Wait for a connection that can multiplex only where one can:
	 * on plain HTTP/1.1, libcurl 7.88 would hold every new transfer
	 * until the first answer came (one whole latency lost). */
	if (p->https)
		SETOPT(CURLOPT_PIPEWAIT, 1L);
	/* An image is compressed already: it asks for no encoding (and
	 * refuses one, see check_answer), so that no small body inflates
	 * to gigabytes; an API answer is decoded under the size cap. */
	if (x->image) {
		SETOPT(CURLOPT_LOW_SPEED_LIMIT, 1L);
		SETOPT(CURLOPT_LOW_SPEED_TIME, STALL_S);
	} else
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
		/* No credential follows a redirect to another host. */
		SETOPT(CURLOPT_UNRESTRICTED_AUTH, 0L);
	}
	if (p->form) {
		/* Built afresh for every attempt: its files are read anew. */
		if ((p->mime = dalle_form_mime(p->form, e)) == NULL)
			errx(DALLE_EX_OSERR, "curl_mime: out of memory");
		SETOPT(CURLOPT_MIMEPOST, p->mime);
	} else if (strcmp(p->method, "POST") == 0) {
		SETOPT(CURLOPT_POST, 1L);
		SETOPT(CURLOPT_POSTFIELDS, p->body ? p->body : "");
		SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)p->bodylen);
	} else if (strcmp(p->method, "GET") != 0)
		SETOPT(CURLOPT_CUSTOMREQUEST, p->method);
	if (c->verbose) {
		SETOPT(CURLOPT_VERBOSE, 1L);
		SETOPT(CURLOPT_DEBUGFUNCTION, on_debug);
	}
	if (curl_multi_add_handle(h->multi, e) != CURLM_OK)
		errx(DALLE_EX_SOFTWARE, "curl_multi_add_handle failed");
	h->inflight++;
	p->aprev = NULL;
	p->anext = h->attached;
	if (h->attached)
		h->attached->aprev = p;
	h->attached = p;
}

static char *
header(CURL *e, const char *name)
{
	struct curl_header *hd;

	if (curl_easy_header(e, name, 0, CURLH_HEADER, -1, &hd) != CURLHE_OK)
		return NULL;
	return dalle_xstrdup(hd->value);
}

/* Out of curl's hands: its easy handle back to the pool. */
static void
detach(struct dalle_http *h, struct xfer *p)
{
	curl_multi_remove_handle(h->multi, p->e);
	curl_mime_free(p->mime);
	p->mime = NULL;
	if (p->aprev)
		p->aprev->anext = p->anext;
	else
		h->attached = p->anext;
	if (p->anext)
		p->anext->aprev = p->aprev;
	p->aprev = p->anext = NULL;
}

static void
hand_back(struct dalle_http *h, struct xfer *p)
{
	p->next = NULL;
	if (h->done_tail)
		h->done_tail->next = p;
	else
		h->done = p;
	h->done_tail = p;
}

/* A transfer finished: read what it got, then retry it or hand it back. */
static void
finish(struct dalle_http *h, CURL *e, CURLcode rc)
{
	const struct dalle_conf *c = h->c;
	struct dalle_xfer *x;
	struct xfer *p;
	char *ms, *ra, *sr, *msg;
	long delay, held = -1;
	int64_t now;

	curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&x);
	p = PRIV(x);
	x->result = rc;
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &x->status);
	if (x->status > 0) {
		x->location = header(e, "operation-location");
		if ((x->request_id = header(e, "x-request-id")) == NULL &&
		    (x->request_id = header(e, "apim-request-id")) == NULL)
			x->request_id = header(e, "x-ms-request-id");
		ms = header(e, "retry-after-ms");
		ra = header(e, "retry-after");
		sr = header(e, "x-should-retry");
		/* A wait of an hour, a year or a date is a minute at most,
		 * and never longer than a request may take. */
		x->hint.retry_after_ms = dalle_retry_clamp(
		    dalle_retry_parse(ms, ra), c->timeout_ms);
		/* The budget holds everyone for what the service said
		 * (a minute at most), whatever this request may wait. */
		held = dalle_retry_clamp(dalle_retry_parse(ms, ra), 0);
		if (sr)
			x->hint.should_retry = strcasecmp(sr, "true") == 0;
		free(ms);
		free(ra);
		free(sr);
	}
	/* A service that echoes a key puts it nowhere: every use of the
	 * body (records, messages) comes after this. */
	dalle_secret_redact_buf(&x->resp);
	detach(h, p);
	if (h->npool == h->cappool) {
		h->cappool = h->cappool ? h->cappool * 2 : 16;
		h->pool = dalle_xrealloc(h->pool, h->cappool * sizeof(*h->pool));
	}
	h->pool[h->npool++] = e;
	h->inflight--;

	if (rc == CURLE_FILESIZE_EXCEEDED)
		snprintf(p->why, sizeof(p->why), "the answer is larger than "
		    "%lld bytes", max_bytes(x));
	else if (rc == CURLE_UNSUPPORTED_PROTOCOL && x->status >= 300 &&
	    x->status < 400)
		snprintf(p->why, sizeof(p->why), "HTTP %ld: a redirect to a "
		    "URL that is not https", x->status);
	if (h->rate && x->paced)
		dalle_rate_feedback(h->rate, x->status, held, &p->ticket);
	/* A 429 spends a retry like any answer worth another try: the
	 * budget (rate.c) is what keeps a pipeline under its quota. */
	now = dalle_now_ms();
	if (x->attempts <= c->retries && p->why[0] == '\0' && !x->once &&
	    (x->final_status == 0 || x->status != x->final_status) &&
	    dalle_retry_wanted(rc, x->status, &x->hint)) {
		delay = dalle_retry_delay(x->attempts, &x->hint);
		p->cut = x->deadline > 0 && now + delay >= x->deadline;
		if (delay <= c->max_wait_ms && !p->cut) {
			if (!c->quiet) {
				char *u = dalle_url_redact(x->url,
				    strlen(x->url));

				msg = dalle_http_xfer_strerror(x);
				if (x->status == 429)
					warnx("%s: %s; rate limited, again in "
					    "%.1f s (retry %d of %d)", u, msg,
					    delay / 1000.0, x->attempts,
					    c->retries);
				else
					warnx("%s: %s; retry %d of %d in %.1f s",
					    u, msg, x->attempts, c->retries,
					    delay / 1000.0);
				free(msg);
				free(u);
			}
			/* pending still counts it: it never left */
			dalle_heap_push(&h->wait, now + delay, p);
			h->retries++;
			if (x->status == 429 && !p->quota) {
				p->quota = 1;
				h->nquota++;
			}
			return;
		}
	}
	hand_back(h, p);
}

/* Stop the attached transfer p: handed back as aborted by sig. */
static void
abort_attached(struct dalle_http *h, struct xfer *p, int sig)
{
	curl_off_t sent = 0;
	long reqsize = 0;

	curl_easy_getinfo(p->e, CURLINFO_REQUEST_SIZE, &reqsize);
	curl_easy_getinfo(p->e, CURLINFO_SIZE_UPLOAD_T, &sent);
	detach(h, p);
	if (h->npool == h->cappool) {
		h->cappool = h->cappool ? h->cappool * 2 : 16;
		h->pool = dalle_xrealloc(h->pool, h->cappool *
		    sizeof(*h->pool));
	}
	h->pool[h->npool++] = p->e;
	p->e = NULL;
	h->inflight--;
	reset_results(&p->x);
	p->sent = reqsize > 0 || sent > 0;
	p->aborted = sig;
	p->x.result = CURLE_ABORTED_BY_CALLBACK;
	hand_back(h, p);
}

/* Stop the transfers queued or waiting to retry. */
static void
abort_waiting(struct dalle_http *h, int sig)
{
	struct xfer *p;

	while ((p = dalle_heap_pop(&h->slots, NULL)) != NULL ||
	    (p = dalle_heap_pop(&h->wait, NULL)) != NULL) {
		unquota(h, p);
		reset_results(&p->x);
		p->aborted = sig;
		p->x.result = CURLE_ABORTED_BY_CALLBACK;
		hand_back(h, p);
	}
}

void
dalle_http_abort(struct dalle_http *h, int sig)
{
	while (h->attached != NULL)
		abort_attached(h, h->attached, sig);
	abort_waiting(h, sig);
}

size_t
dalle_http_abort_unsent(struct dalle_http *h, int sig)
{
	struct xfer *p, *next;
	curl_off_t sent;
	long reqsize;

	for (p = h->attached; p != NULL; p = next) {
		next = p->anext;
		sent = 0;
		reqsize = 0;
		curl_easy_getinfo(p->e, CURLINFO_REQUEST_SIZE, &reqsize);
		curl_easy_getinfo(p->e, CURLINFO_SIZE_UPLOAD_T, &sent);
		if (!p->x.paid || (reqsize == 0 && sent == 0))
			abort_attached(h, p, sig);
	}
	abort_waiting(h, sig);
	return h->inflight;
}

/*
 * Will the budget not start p in time?  A 429's hold outlasts what it
 * may wait (its ticket's held), or the budget would start it (or ask
 * again) at t, after its caller's deadline (dalle-poll -t).
 */
static int
late(const struct xfer *p, int64_t t)
{
	return p->ticket.held > 0 || (p->x.deadline > 0 && t > p->x.deadline);
}

/* A late transfer handed back unsent: rate_limited, or a try that had no
 * time left. */
static void
unsent(struct dalle_http *h, struct xfer *p)
{
	long held = p->ticket.held;

	reset_results(&p->x);
	unquota(h, p);
	if (held > 0)
		p->held = held;
	else {
		p->cut = 1;
		p->x.result = CURLE_OPERATION_TIMEDOUT;
		snprintf(p->errbuf, sizeof(p->errbuf), "the request budget "
		    "holds it past the deadline");
	}
	hand_back(h, p);
}

/*
 * Start what is due: first the paced transfers whose reserved time has
 * come (their slot was counted when reserved), then queued ones while
 * slots are free, reserving a start time for each paced one.
 */
static void
start_due(struct dalle_http *h)
{
	const struct dalle_heap_item *top;
	int64_t now = dalle_now_ms(), t;
	struct xfer *p;
	int g;

	while ((top = dalle_heap_top(&h->slots)) != NULL && top->key <= now)
		attach(h, dalle_heap_pop(&h->slots, NULL));
	while ((top = dalle_heap_top(&h->wait)) != NULL && top->key <= now &&
	    h->inflight + h->slots.n < (size_t)jobs(h)) {
		p = top->p;
		if (p->x.gate != NULL && (g = p->x.gate(&p->x)) != 0) {
			dalle_heap_pop(&h->wait, NULL);
			if (g > 0)
				dalle_heap_push(&h->wait, now + g, p);
			else {
				reset_results(&p->x);
				hand_back(h, p);
			}
			continue;
		}
		if (h->rate && p->x.paced) {
			/* The budget said "not before": nobody asks again
			 * until then. */
			if (now < h->rate_until)
				break;
			t = dalle_rate_reserve(h->rate, &p->ticket);
			if (p->ticket.deferred && !late(p, t)) {
				h->rate_until = t;
				break;
			}
			dalle_heap_pop(&h->wait, NULL);
			if (late(p, t)) {
				unsent(h, p);
				continue;
			}
			if (t > now) {
				dalle_heap_push(&h->slots, t, p);
				continue;
			}
		} else
			dalle_heap_pop(&h->wait, NULL);
		attach(h, p);
	}
}

/* Milliseconds until start_due has something to do, at most limit. */
static long
next_event(const struct dalle_http *h, long limit)
{
	const struct dalle_heap_item *top;
	int64_t now = dalle_now_ms(), d = limit, due;

	if ((top = dalle_heap_top(&h->slots)) != NULL && top->key - now < d)
		d = top->key - now;
	if ((top = dalle_heap_top(&h->wait)) != NULL &&
	    h->inflight + h->slots.n < (size_t)jobs(h)) {
		due = top->key;
		if (h->rate && ((struct xfer *)top->p)->x.paced &&
		    due < h->rate_until)
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
	dalle_event_user(h->ev, fd);
	if (fd >= 0 && dalle_event_user_always(h->ev))
		timeout_ms = 0;
	*fd_ready = dalle_event_wait(h->ev, timeout_ms, socket_ready, h) ||
	    (fd >= 0 && dalle_event_user_always(h->ev));
	if (h->multi != NULL) {         /* else no transfer began yet */
		if (h->curl_due >= 0 && dalle_now_ms() >= h->curl_due) {
			h->curl_due = -1;
			if (curl_multi_socket_action(h->multi,
			    CURL_SOCKET_TIMEOUT, 0, &running) != CURLM_OK)
				return -1;
		}
		while ((m = curl_multi_info_read(h->multi, &left)) != NULL)
			if (m->msg == CURLMSG_DONE)
				finish(h, m->easy_handle, m->data.result);
	}
	start_due(h);
	return 0;
}

void
dalle_http_counts(const struct dalle_http *h, size_t *quota, long *retries)
{
	size_t free_slots, n = h->slots.n + h->nquota;

	/* The budget said "not before": what would start now waits on it. */
	if (h->rate != NULL && dalle_now_ms() < h->rate_until) {
		free_slots = h->inflight + h->slots.n < (size_t)jobs(h) ?
		    (size_t)jobs(h) - h->inflight - h->slots.n : 0;
		n += h->wait.n - h->nquota < free_slots ? h->wait.n -
		    h->nquota : free_slots;
	}
	*quota = n < h->pending ? n : h->pending;
	*retries = h->retries;
}

struct dalle_xfer *
dalle_http_done(struct dalle_http *h)
{
	struct xfer *p = h->done;

	if (p == NULL)
		return NULL;
	h->done = p->next;
	if (h->done == NULL)
		h->done_tail = NULL;
	p->next = NULL;
	h->pending--;
	return &p->x;
}

/* The service's error object from a body, or jv_null(). */
static jv
body_error(const struct dalle_xfer *x)
{
	jv v, e;

	if (x->out || x->resp.len == 0)
		return jv_null();
	v = jv_parse_sized(x->resp.p, (int)x->resp.len);
	e = dalle_record_get(v, "error");
	jv_free(v);
	if (jv_get_kind(e) != JV_KIND_OBJECT) {
		jv_free(e);
		return jv_null();
	}
	return e;
}

char *
dalle_http_xfer_strerror(const struct dalle_xfer *x)
{
	const char *m;
	char *s;
	jv e;

	if (PRIV(x)->why[0] != '\0')
		return dalle_xstrdup(PRIV(x)->why);
	if (x->result != CURLE_OK)
		return dalle_xstrdup(PRIV(x)->errbuf[0] ? PRIV(x)->errbuf :
		    curl_easy_strerror(x->result));
	e = dalle_secret_redact_jv(body_error(x));
	m = dalle_record_str(e, "message");
	s = m ? dalle_xasprintf("HTTP %ld: %s", x->status, m) :
	    dalle_xasprintf("HTTP %ld", x->status);
	jv_free(e);
	return s;
}

jv
dalle_http_xfer_error(const struct dalle_xfer *x, const char *stage)
{
	const char *kind, *code;
	char *msg, codebuf[32];
	int retry;
	jv e, r, cj;

	/* (x may be a caller's own dalle_xfer: PRIV only for our codes.) */
	if (x->result == CURLE_ABORTED_BY_CALLBACK && PRIV(x)->aborted)
		return dalle_interrupt_error(stage, PRIV(x)->aborted,
		    PRIV(x)->sent, x->attempts);
	/* Called for an answer the caller did not expect: a 2xx other than
	 * the one it wanted is the service misbehaving. */
	if (x->result == CURLE_OK && x->status >= 200 && x->status < 300) {
		msg = dalle_xasprintf("unexpected HTTP %ld", x->status);
		r = dalle_record_error(stage, DALLE_KIND_PROTOCOL, x->status,
		    NULL, msg, 0, x->attempts);
		free(msg);
		return r;
	}
	if (x->result == CURLE_WRITE_ERROR && PRIV(x)->write_errno) {
		r = dalle_record_error(stage, DALLE_KIND_IO, 0, NULL,
		    strerror(PRIV(x)->write_errno), 0, x->attempts);
		return r;
	}
	/* Refused by its headers or its size, or a redirect that went
	 * too far or off https: the server is misbehaving. */
	if (PRIV(x)->why[0] != '\0' || x->result == CURLE_TOO_MANY_REDIRECTS ||
	    x->result == CURLE_UNSUPPORTED_PROTOCOL ||
	    x->result == CURLE_BAD_CONTENT_ENCODING ||
	    x->result == CURLE_WEIRD_SERVER_REPLY) {
		msg = dalle_http_xfer_strerror(x);
		r = dalle_record_error(stage, DALLE_KIND_PROTOCOL, x->status,
		    NULL, msg, 0, x->attempts);
		free(msg);
		return r;
	}
	/* Held by the quota longer than it may wait: never sent. */
	if (PRIV(x)->held > 0) {
		msg = dalle_xasprintf("the service's quota holds requests "
		    "%.1f s more (a 429's Retry-After), longer than this one "
		    "may wait (--request-timeout): not sent",
		    PRIV(x)->held / 1000.0);
		r = dalle_record_error(stage, DALLE_KIND_RATE, 0, NULL, msg, 1,
		    x->attempts);
		free(msg);
		return r;
	}
	/* Cut short by the caller's deadline (dalle-poll -t). */
	if (PRIV(x)->cut || (x->result == CURLE_OPERATION_TIMEDOUT &&
	    x->deadline > 0 && dalle_now_ms() >= x->deadline)) {
		char *m = dalle_http_xfer_strerror(x);

		msg = dalle_xasprintf("%s%s", m, PRIV(x)->cut ?
		    "; no time left for another try" : "");
		free(m);
		r = dalle_record_error(stage, DALLE_KIND_TIMEOUT, x->status,
		    NULL, msg, 1, x->attempts);
		free(msg);
		return r;
	}
	msg = dalle_http_xfer_strerror(x);
	retry = dalle_retry_wanted(x->result, x->status, &x->hint);
	e = body_error(x);
	code = NULL;
	cj = dalle_record_get(e, "code");
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
	r = dalle_record_error(stage, kind, x->status, code,
	    msg + (x->status && strncmp(msg, "HTTP ", 5) == 0 &&
	    strchr(msg, ':') ? strchr(msg, ':') - msg + 2 : 0),
	    retry, x->attempts);
	/* Keep the service's extra detail (param, inner_error...). */
	if (jv_get_kind(e) == JV_KIND_OBJECT) {
		jv p = dalle_record_get(e, "param");

		if (jv_get_kind(p) == JV_KIND_STRING)
			r = jv_object_set(r, jv_string("param"), p);
		else
			jv_free(p);
		p = dalle_record_get(e, "inner_error");
		if (jv_get_kind(p) == JV_KIND_OBJECT)
			r = jv_object_set(r, jv_string("inner_error"), p);
		else
			jv_free(p);
	}
	jv_free(cj);
	jv_free(e);
	free(msg);
	/* A secret the body escaped (\u0041...) is one again once parsed. */
	return dalle_secret_redact_jv(r);
}
