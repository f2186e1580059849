/* http.h: many transfers in one thread on curl multi. */
#ifndef DALLE_HTTP_H
#define DALLE_HTTP_H

#include <stdio.h>

#include <curl/curl.h>
#include <jv.h>

#include "conf.h"
#include "rate.h"
#include "retry.h"
#include "util.h"

struct dalle_http;

/* A transfer; dalle_http_xfer_new makes one, the engine keeps more. */
struct dalle_xfer {
	/* Set by the caller before dalle_http_start. */
	char *url;                /* owned; freed by dalle_http_xfer_free */
	struct curl_slist *headers; /* owned */
	FILE *out;                /* write the response body here if set */
	int follow;               /* follow https redirects (image downloads) */
	int paced;                /* each attempt waits for the engine's rate */
	int paid;                 /* a request that is paid for once sent:
	                           * the first signal lets it finish
	                           * (dalle_http_abort_unsent) */
	int image;                /* an image download: no compression, an
	                           * image's type (see limits.c) */
	long long max_bytes;      /* largest body taken; 0: 64 MiB */
	int64_t deadline;         /* dalle_now_ms() time that bounds every
	                           * attempt and wait; 0: none */
	int once;                 /* never retried: the caller decides */
	long final_status;        /* an answer with this status is not
	                           * retried (0: none) */
	void *udata;              /* the caller's */
	/* When set: asked before each attempt starts, 0 to start it, n > 0
	 * to ask again in n ms, -1 to hand it back unsent (CURLE_OK with
	 * status 0): another process may be sending the same request. */
	int (*gate)(struct dalle_xfer *x);
	/* When set, a 2xx body goes here piece by piece as it arrives
	 * instead of into resp: 0 to go on, -1 to end the transfer (as
	 * CURLE_WRITE_ERROR). */
	int (*chunk)(struct dalle_xfer *x, const char *p, size_t n);

	/* Results, valid once dalle_http_done returned the transfer. */
	CURLcode result;
	long status;              /* HTTP status, 0 without an answer */
	struct dalle_buf resp;    /* response body (at most 64 MiB) when out
	                           * is NULL */
	char *location;           /* operation-location header, malloc'd */
	char *request_id;         /* the service's id of this request
	                           * (x-request-id, apim-request-id or
	                           * x-ms-request-id), malloc'd, or NULL */
	struct dalle_retry_hint hint;
	int attempts;             /* attempts made so far */
};

/* A new engine for conf c (borrowed for its lifetime) with at most
 * c->jobs transfers in flight (8 when c->jobs is 0).  Its first transfer
 * sets libcurl up (curl_global_init; dies with 71 if it cannot), and
 * dalle_http_free cleans it up. */
struct dalle_http *dalle_http_new(const struct dalle_conf *c);
void dalle_http_free(struct dalle_http *h);
/* Pace the transfers marked paced with rate (borrowed; NULL: none). */
void dalle_http_set_rate(struct dalle_http *h, struct dalle_rate *rate);
/* A new transfer with method ("GET", "POST", "DELETE"; borrowed for the
 * transfer's life) and url (copied). */
struct dalle_xfer *dalle_http_xfer_new(const char *method, const char *url);
/* Set a JSON body, already serialised, and the Content-Type header; the
 * transfer takes json's memory and leaves it empty. */
void dalle_http_xfer_body(struct dalle_xfer *x, struct dalle_buf *json);
/* Send form (consumed) as a multipart/form-data POST body instead. */
struct dalle_form;
void dalle_http_xfer_form(struct dalle_xfer *x, struct dalle_form *form);
void dalle_http_xfer_free(struct dalle_xfer *x);
/* Queue x to start as soon as a slot is free, or not before due_ms. */
void dalle_http_start(struct dalle_http *h, struct dalle_xfer *x);
void dalle_http_start_at(struct dalle_http *h, struct dalle_xfer *x,
    int64_t due_ms);
/* Start what is due, wait once (at most timeout_ms, less when a transfer
 * is due sooner) for curl's sockets or fd (if >= 0) to be ready, and run
 * what is ready; finished transfers go to dalle_http_done.  Sets
 * *fd_ready.  Returns -1 on a fatal multi error. */
int dalle_http_wait(struct dalle_http *h, int fd, long timeout_ms,
    int *fd_ready);
/* Stop every transfer, running, queued or waiting to retry: each goes to
 * dalle_http_done failed, and dalle_http_xfer_error gives it kind
 * "interrupted" for signal sig (or "timeout" for sig -1), saying whether
 * its request had gone out. */
void dalle_http_abort(struct dalle_http *h, int sig);
/* The same for every transfer but the paid ones whose request went out
 * (see paid): those go on.  Returns how many go on. */
size_t dalle_http_abort_unsent(struct dalle_http *h, int sig);
/* The next finished transfer (retries done), or NULL. */
struct dalle_xfer *dalle_http_done(struct dalle_http *h);
/* Transfers started and not yet handed back by dalle_http_done. */
size_t dalle_http_pending(const struct dalle_http *h);
/* Of those, how many wait on the quota (a paced start the budget put
 * off, a retry after a 429); and the retries begun so far. */
void dalle_http_counts(const struct dalle_http *h, size_t *quota,
    long *retries);
/* One line describing a failed transfer: errbuf or curl's text, or
 * "HTTP n: message" from an error body.  Returns malloc'd. */
char *dalle_http_xfer_strerror(const struct dalle_xfer *x);
/* The error object (see dalle_record_error) for a finished transfer whose
 * answer the caller cannot use: a failure, or a 2xx it did not expect. */
jv dalle_http_xfer_error(const struct dalle_xfer *x, const char *stage);

#endif
