/*
 * dalle.h: the one header of libdalle, shared by dalle-submit, dalle-poll,
 * dalle-fetch and dalle-serve.  Ownership follows jv: a function that takes
 * a jv consumes it, a function that returns a jv returns an owned one, unless
 * its comment says "borrows".
 */
#ifndef DALLE_H
#define DALLE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <curl/curl.h>
#include <jv.h>

#ifndef VERSION
#define VERSION "0.0.0"
#endif

/*
 * Exit statuses.  Sysexits where one fits; two of our own for per-record
 * outcomes that are no fault of the machine.  A filter exits with the status
 * of the first failed record.
 */
enum {
	DALLE_EX_OK = 0,
	DALLE_EX_FAILED = 1,      /* a record failed: operation failed, gone... */
	DALLE_EX_FILTERED = 2,    /* the service's content filter refused it */
	DALLE_EX_USAGE = 64,
	DALLE_EX_DATAERR = 65,    /* bad input line or invalid request */
	DALLE_EX_NOINPUT = 66,
	DALLE_EX_UNAVAILABLE = 69,/* service kept failing after retries */
	DALLE_EX_SOFTWARE = 70,
	DALLE_EX_OSERR = 71,
	DALLE_EX_CANTCREAT = 73,
	DALLE_EX_IOERR = 74,
	DALLE_EX_TEMPFAIL = 75,   /* still running when the timeout came */
	DALLE_EX_PROTOCOL = 76,
	DALLE_EX_NOPERM = 77,     /* 401/403 */
	DALLE_EX_CONFIG = 78
};

/* ---- util.c ---------------------------------------------------------- */

void *dalle_xmalloc(size_t n);
void *dalle_xcalloc(size_t n, size_t size);
void *dalle_xrealloc(void *p, size_t n);
char *dalle_xstrdup(const char *s);
/* printf into a new malloc'd string; dies on OOM. */
char *dalle_xasprintf(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* A growable byte buffer; always NUL-terminated after its len bytes. */
struct dalle_buf {
	char *p;
	size_t len, cap;
};
void dalle_buf_add(struct dalle_buf *b, const void *p, size_t n);
void dalle_buf_adds(struct dalle_buf *b, const char *s);
void dalle_buf_reset(struct dalle_buf *b);
void dalle_buf_free(struct dalle_buf *b);

/* Milliseconds on the monotonic clock; since the epoch; seconds since it. */
int64_t dalle_now_ms(void);
int64_t dalle_wall_ms(void);
int64_t dalle_time(void);

/* 64-bit FNV-1a of n bytes. */
uint64_t dalle_hash(const void *p, size_t n, uint64_t seed);

/* The next number of a reproducible pseudo-random sequence (splitmix64). */
uint64_t dalle_rand(uint64_t *state);

/* Base64 (RFC 4648).  Both return malloc'd memory and set *outlen;
 * decode skips white space and returns NULL on any other bad byte. */
char *dalle_base64_encode(const void *p, size_t n, size_t *outlen);
unsigned char *dalle_base64_decode(const char *s, size_t n, size_t *outlen);

/* Image format of a buffer by its magic bytes ("png", "jpeg", "webp",
 * "gif") or NULL; width and height from the header when known, else 0. */
const char *dalle_image_probe(const void *p, size_t n, int *w, int *h);

/* Parse an integer in [min, max]; 0 on success, -1 otherwise. */
int dalle_strtonum(const char *s, long long min, long long max,
    long long *out);

/* Is the host of this URL a loopback address (127/8, ::1, localhost)? */
int dalle_url_is_loopback(const char *url);

/* A copy of n bytes of text with the value of every "sig=" URL parameter
 * (a SAS signature) replaced by [redacted]; malloc'd, NUL-terminated. */
char *dalle_url_redact(const char *s, size_t n);

/* Zero a secret and free it. */
void dalle_secret_free(char *s);

/* The lines of a file (secrets, maybe) without their trailing white space,
 * in a malloc'd NULL-terminated array, *n of them; NULL with errno set when
 * the file cannot be read.  Free with dalle_file_lines_free, which zeroes
 * them. */
char **dalle_file_lines(const char *path, size_t *n);
void dalle_file_lines_free(char **v);

/* Flush and close stdout; returns rc, or 74 when writing failed (quietly
 * on EPIPE).  Call as: return dalle_finish(rc). */
int dalle_finish(int rc);

/* ---- jsonl.c: records, one JSON object per line -------------------- */

/* A line reader over a file descriptor that never blocks the caller when
 * it is called only after poll(2) said the descriptor is readable. */
struct dalle_lines;
struct dalle_lines *dalle_lines_new(int fd);
void dalle_lines_free(struct dalle_lines *lr);
/* Read once from the fd; returns bytes read, 0 at EOF, -1 on error. */
long dalle_lines_fill(struct dalle_lines *lr);
/* Next complete line (without its newline, NUL-terminated; borrowed until
 * the next call) or NULL.  At EOF a last unterminated line is returned.
 * *lineno gets its 1-based number. */
char *dalle_lines_next(struct dalle_lines *lr, size_t *len, long *lineno);
int dalle_lines_eof(const struct dalle_lines *lr);

/* Borrowing getters; NULL / -1 when absent or of another kind. */
const char *dalle_jv_str(jv obj, const char *key);    /* borrows obj */
int dalle_jv_long(jv obj, const char *key, long *out);/* borrows obj */
/* Owned copy of obj[key], or jv_null() when obj is no object. Borrows obj. */
jv dalle_jv_get(jv obj, const char *key);

/*
 * Error kinds: what a script branches on.  dalle_error_new builds the
 * record's "error" object.  http is 0 when there was no HTTP answer; code and
 * message may be NULL.
 */
#define DALLE_KIND_INPUT "input"
#define DALLE_KIND_CONTENT_FILTER "content_filter"
#define DALLE_KIND_AUTH "auth"
#define DALLE_KIND_NOT_FOUND "not_found"
#define DALLE_KIND_INVALID "invalid_request"
#define DALLE_KIND_RATE "rate_limited"
#define DALLE_KIND_SERVER "server"
#define DALLE_KIND_NETWORK "network"
#define DALLE_KIND_EXPIRED "expired"
#define DALLE_KIND_IO "io"
#define DALLE_KIND_TIMEOUT "timeout"
#define DALLE_KIND_FAILED "failed"
#define DALLE_KIND_PROTOCOL "protocol"
#define DALLE_KIND_CONFIG "config"
jv dalle_error_new(const char *stage, const char *kind, long http,
    const char *code, const char *message, int retryable, int attempts);
/* The exit status that belongs to an error kind (70 for NULL). */
int dalle_error_exit(const char *kind);
/* Is this record an error record?  Borrows rec. */
int dalle_record_is_error(jv rec);
/* Append v (borrowed) as compact JSON, exactly as jv_dump_string(v, 0)
 * would write it, only faster. */
void dalle_json_put(struct dalle_buf *b, jv v);

/* ---- conf.c: configuration, the same in every program --------------- */

enum dalle_api {
	DALLE_API_AUTO,
	DALLE_API_AZURE_ASYNC,    /* legacy DALL-E 2 :submit + operations */
	DALLE_API_AZURE,          /* /openai/deployments/{d}/images/... */
	DALLE_API_AZURE_V1,       /* /openai/v1/images/..., model in body */
	DALLE_API_OPENAI          /* {base}/images/..., Bearer */
};

struct dalle_conf {
	const char *prog;
	enum dalle_api api;       /* as forced by --api, or AUTO */
	char *endpoint;           /* Azure endpoint, without trailing '/' */
	char *base_url;           /* OpenAI base URL, without trailing '/' */
	char *deployment;
	char *model;
	char *api_version;        /* NULL: the API's default */
	char *key;                /* secret: Azure api-key */
	char *token;              /* secret: Azure Entra ID Bearer token */
	char *openai_key;         /* secret: OpenAI key, sent as Bearer */
	char *token_command;
	char *org, *project;
	int allow_http;
	char *cacert;             /* --cacert: CAs to trust, or NULL */
	int retries;              /* retries after the first attempt */
	long timeout_ms;          /* per HTTP request */
	long connect_timeout_ms;
	long max_wait_ms;         /* longest server-requested wait we accept */
	int jobs;                 /* -j: transfers in flight (0: default) */
	int keep_order;           /* records out in input order */
	int verbose, quiet;
};

/* Long options every program takes, and their codes (256 up).  Put
 * DALLE_CONF_LONGOPTS in the program's struct option table. */
enum {
	DALLE_OPT_ENDPOINT = 256, DALLE_OPT_API, DALLE_OPT_API_VERSION,
	DALLE_OPT_DEPLOYMENT, DALLE_OPT_MODEL, DALLE_OPT_KEY_FILE,
	DALLE_OPT_TOKEN_COMMAND, DALLE_OPT_ALLOW_HTTP, DALLE_OPT_RETRIES,
	DALLE_OPT_BASE_URL, DALLE_OPT_REQ_TIMEOUT, DALLE_OPT_KEY_ARGV,
	DALLE_OPT_KEEP_ORDER, DALLE_OPT_CACERT,
	DALLE_OPT_FIRST_FREE = 300
};
#define DALLE_CONF_LONGOPTS \
	{ "base-url", required_argument, NULL, DALLE_OPT_BASE_URL }, \
	{ "api", required_argument, NULL, DALLE_OPT_API }, \
	{ "deployment", required_argument, NULL, DALLE_OPT_DEPLOYMENT }, \
	{ "model", required_argument, NULL, 'm' }, \
	DALLE_AZURE_LONGOPTS, \
	DALLE_RUN_LONGOPTS
/* What a program that talks to an Azure endpoint takes (dalle-poll). */
#define DALLE_AZURE_LONGOPTS \
	{ "endpoint", required_argument, NULL, DALLE_OPT_ENDPOINT }, \
	{ "api-version", required_argument, NULL, DALLE_OPT_API_VERSION }, \
	{ "api-key-file", required_argument, NULL, DALLE_OPT_KEY_FILE }, \
	{ "token-command", required_argument, NULL, DALLE_OPT_TOKEN_COMMAND }, \
	DALLE_KEY_ARGV_LONGOPTS
/* What every filter takes (dalle-fetch: these alone). */
#define DALLE_RUN_LONGOPTS \
	{ "allow-http", no_argument, NULL, DALLE_OPT_ALLOW_HTTP }, \
	{ "cacert", required_argument, NULL, DALLE_OPT_CACERT }, \
	{ "retries", required_argument, NULL, DALLE_OPT_RETRIES }, \
	{ "request-timeout", required_argument, NULL, DALLE_OPT_REQ_TIMEOUT }, \
	{ "jobs", required_argument, NULL, 'j' }, \
	{ "keep-order", no_argument, NULL, DALLE_OPT_KEEP_ORDER }, \
	{ "quiet", no_argument, NULL, 'q' }, \
	{ "verbose", no_argument, NULL, 'v' }, \
	{ "help", no_argument, NULL, 'h' }

/* Refused with a word on why: a secret in argv shows in ps(1).  Listed so
 * that getopt_long does not take "--api-key" for "--api-key-file". */
#define DALLE_KEY_ARGV_LONGOPTS \
	{ "api-key", required_argument, NULL, DALLE_OPT_KEY_ARGV }, \
	{ "token", required_argument, NULL, DALLE_OPT_KEY_ARGV }

/* Defaults, then ./.env and the environment (the environment wins). */
void dalle_conf_init(struct dalle_conf *c, const char *prog);
/* Apply one option parsed by getopt_long; 1 if it was a common option,
 * 0 if not ours; dies with 64/78 on a bad value. */
int dalle_conf_option(struct dalle_conf *c, int ch, const char *arg);
/* Finish after options: run --token-command, check the endpoint and that
 * plain http goes only to loopback.  need_service: die with 78 when no
 * endpoint or credential is configured.  Returns 0 or dies. */
void dalle_conf_finish(struct dalle_conf *c, int need_service);
void dalle_conf_free(struct dalle_conf *c);
/* The API a request goes to, given the record's own deployment/model
 * (either may be NULL). */
enum dalle_api dalle_conf_api(const struct dalle_conf *c,
    const char *deployment, const char *model);
const char *dalle_api_name(enum dalle_api api);
/* Default api-version of an API (NULL: send none). */
const char *dalle_api_version(const struct dalle_conf *c, enum dalle_api api);
/* URL of an API's route `what` ("images/generations"), for a deployment
 * where the API takes one.  Returns malloc'd. */
char *dalle_api_url(const struct dalle_conf *c, enum dalle_api api,
    const char *deployment, const char *what);
/* Append the credential headers (api-key or Authorization, OpenAI org and
 * project) to a list; returns the new list. */
struct curl_slist *dalle_conf_auth(const struct dalle_conf *c,
    enum dalle_api api, struct curl_slist *h);

/* ---- model.c: the rules of each image model ------------------------- */

enum dalle_family {
	DALLE_FAMILY_DALLE2,
	DALLE_FAMILY_DALLE3,
	DALLE_FAMILY_GPTIMAGE
};

struct dalle_model {
	const char *name;               /* canonical: "dall-e-3" */
	enum dalle_family family;
	int max_n;
	int max_prompt;                 /* characters */
	const char *const *sizes;       /* NULL-terminated lists */
	const char *const *qualities;   /* NULL: field not accepted */
	const char *const *styles;
	const char *const *response_formats;
	const char *const *output_formats;
	const char *const *backgrounds;
	const char *default_size;
};

/* Model by name or deployment-style alias ("dall-e-3", "dalle3",
 * "gpt-image-1", "gpt-image-1-mini", "gpt-image-1.5", "dall-e-2"...),
 * or NULL. */
const struct dalle_model *dalle_model_find(const char *name);

struct dalle_model_err {
	const char *param;              /* the offending field */
	const char *code;               /* e.g. "invalid_size", "invalid_value" */
	char message[256];
};
/* Check a request body against the model's rules.  Borrows body.  0 if it
 * is valid, else -1 with *e filled as the service would word it. */
int dalle_model_check(const struct dalle_model *m, jv body,
    struct dalle_model_err *e);

/* ---- retry.c -------------------------------------------------------- */

/* What the server said about retrying, read from response headers. */
struct dalle_retry_hint {
	long retry_after_ms;      /* -1: none given */
	int should_retry;         /* -1: no x-should-retry header; 0 or 1 */
};
/* Is an outcome worth another attempt?  http 0 means no HTTP answer. */
int dalle_retry_wanted(CURLcode rc, long http,
    const struct dalle_retry_hint *hint);
/* Delay in ms before attempt number `attempt` (1 = first retry): the
 * server's delay when given (a delay of 0 is none), else 1 s doubling to
 * 60 s, with jitter. */
long dalle_retry_delay(int attempt, const struct dalle_retry_hint *hint);
/* Parse Retry-After (seconds or HTTP date) / retry-after-ms values; -1 if
 * absent or unparsable. */
long dalle_retry_parse(const char *retry_after_ms, const char *retry_after);

/* ---- rate.c: a request budget shared across processes -------------- */

struct dalle_rate;
/* A budget of per_min requests a minute (<= 0: learn it from 429s), kept
 * in the state file path (locked with fcntl; NULL: this process alone). */
struct dalle_rate *dalle_rate_open(const char *path, double per_min);
/* This process's cap: at most n starts in any window_ms. */
struct dalle_rate *dalle_rate_window(size_t n, int64_t window_ms);
void dalle_rate_close(struct dalle_rate *r);
/* What a paced request was given: its run of the budget, how many were
 * started in that run before it, its start (wall clock ms), and the
 * learned budget's place it went on (-1: none) with that place's next
 * free time as the start left it. */
struct dalle_rate_ticket {
	int64_t run;
	int64_t start;
	int64_t next;
	int32_t n;
	int32_t place;
	int deferred;             /* no start given: ask again at the time */
};
/* Reserve the next start; returns the dalle_now_ms() time to start at,
 * or, with tk->deferred, the time to ask again. */
int64_t dalle_rate_reserve(struct dalle_rate *r, struct dalle_rate_ticket *tk);
/* Tell the budget how a paced request went (429s hold everyone back). */
void dalle_rate_feedback(struct dalle_rate *r, long http,
    long retry_after_ms, const struct dalle_rate_ticket *tk);
/* The default state file for a key (endpoint and deployment), under
 * $XDG_RUNTIME_DIR/dalle-tools or ${TMPDIR:-/tmp}/dalle-tools-UID, a
 * directory of ours closed to others; malloc'd, NULL (warned) if none. */
char *dalle_rate_path(const char *key);
/* Parse "N", "N/min", "N/m", "N/s" or "N/h" into requests per minute. */
int dalle_rate_parse(const char *s, double *per_min);

/* ---- http.c: many transfers in one thread on curl multi ------------- */

struct dalle_http;

struct dalle_xfer {
	/* Set by the caller before dalle_http_start. */
	const char *method;       /* "GET", "POST", "DELETE" */
	char *url;                /* owned; freed by dalle_xfer_free */
	struct curl_slist *headers; /* owned */
	char *body;               /* owned; request body or NULL */
	size_t bodylen;
	FILE *out;                /* write the response body here if set */
	size_t maxbody;           /* cap on a body kept in memory (0: 64 MiB) */
	int no_retry;             /* never retry this transfer */
	int follow;               /* follow https redirects (image downloads) */
	int paced;                /* each attempt waits for the engine's rate */
	void *udata;              /* the caller's */

	/* Results, valid once dalle_http_done returned the transfer. */
	CURLcode result;
	long status;              /* HTTP status, 0 without an answer */
	struct dalle_buf resp;    /* response body when out is NULL */
	char *location;           /* operation-location header, malloc'd */
	char *content_type;
	struct dalle_retry_hint hint;
	char errbuf[CURL_ERROR_SIZE];
	int write_errno;          /* why writing to out failed, or 0 */
	int attempts;             /* attempts made so far */

	int throttled;            /* 429s so far (they spend no --retries) */

	/* Private to http.c. */
	CURL *easy;
	int64_t due;
	int slot;                 /* holds a reserved start time */
	struct dalle_rate_ticket ticket;
	uint64_t seq;
	struct dalle_xfer *next;
};

/* A new engine for conf c (borrowed for its lifetime) with at most
 * c->jobs transfers in flight. */
struct dalle_http *dalle_http_new(const struct dalle_conf *c);
void dalle_http_free(struct dalle_http *h);
/* Pace the transfers marked paced with rate (borrowed; NULL: none). */
void dalle_http_set_rate(struct dalle_http *h, struct dalle_rate *rate);
/* A new transfer with method and url (the url is copied). */
struct dalle_xfer *dalle_xfer_new(const char *method, const char *url);
/* Set a JSON body, already serialised, and the Content-Type header; the
 * transfer takes json's memory and leaves it empty. */
void dalle_xfer_body(struct dalle_xfer *x, struct dalle_buf *json);
void dalle_xfer_free(struct dalle_xfer *x);
/* Queue x to start as soon as a slot is free, or not before due_ms. */
void dalle_http_start(struct dalle_http *h, struct dalle_xfer *x);
void dalle_http_start_at(struct dalle_http *h, struct dalle_xfer *x,
    int64_t due_ms);
/* Run transfers until one finishes, fd (if >= 0) becomes readable, or
 * timeout_ms passes.  Sets *fd_ready.  Returns -1 on a fatal multi error. */
int dalle_http_wait(struct dalle_http *h, int fd, long timeout_ms,
    int *fd_ready);
/* The next finished transfer (retries done), or NULL. */
struct dalle_xfer *dalle_http_done(struct dalle_http *h);
/* Transfers queued, waiting or in flight. */
size_t dalle_http_pending(const struct dalle_http *h);
/* One line describing a failed transfer: errbuf or curl's text, or
 * "HTTP n: message" from an error body.  Returns malloc'd. */
char *dalle_xfer_strerror(const struct dalle_xfer *x);
/* The error object (see dalle_error_new) for a finished transfer whose
 * answer the caller cannot use: a failure, or a 2xx it did not expect. */
jv dalle_xfer_error(const struct dalle_xfer *x, const char *stage);

/* ---- loop.c: the record loop every filter shares ------------------- */

/*
 * Input comes from operands (each one a line) or else from stdin, read
 * only when poll(2) says so and only while fewer than max_pending transfers
 * are pending, so that memory stays bounded and transfers never wait for
 * input.  line() is called for every non-blank line; done() for every
 * finished transfer.  Each returns 0, or an exit status for that record
 * (the loop keeps the first one).  Returns that first status.
 */
struct dalle_loop {
	struct dalle_http *http;
	const char *source;       /* "stdin" or "argument" */
	size_t max_pending;
	int (*line)(struct dalle_loop *lp, char *s, size_t n, long lineno);
	int (*done)(struct dalle_loop *lp, struct dalle_xfer *x);
	void *ctx;
	int quiet;
	int no_records;           /* stdout is not for records (--paths) */
	int keep_order;           /* write in input order, not completion */
	long seq;                 /* the record line() is called for: 0, 1.. */
	long emitted;             /* records written: must end equal to seq */
	int rc;                   /* the first failure's exit status */

	/* Private to loop.c: output held back for --keep-order. */
	char **held;
	size_t *heldlen;
	size_t cap, nheld;
	long next_out;
};
int dalle_loop_run(struct dalle_loop *lp, int argc, char *argv[]);
/* Record a record's exit status (the first failure wins). */
void dalle_loop_status(struct dalle_loop *lp, int rc);
/*
 * The output of record seq (lp->seq while in line()): every record calls
 * exactly one of these, once, even when it writes nothing (n == 0).  The
 * text is written and flushed at once, or with --keep-order as soon as
 * every earlier record's has been.  dalle_loop_write consumes rec and
 * writes it as one line.  A write error exits 74, silently on EPIPE.
 */
void dalle_loop_emit(struct dalle_loop *lp, long seq, const char *s,
    size_t n);
void dalle_loop_write(struct dalle_loop *lp, long seq, jv rec);
/* The same for a line of n bytes, given without its newline. */
void dalle_loop_emit_line(struct dalle_loop *lp, long seq, const char *s,
    size_t n);
/* Record seq failed: add the error object e (consumed) to rec (consumed),
 * write it, warn "prog: source:lineno: message"; returns the exit status
 * of e's kind. */
int dalle_loop_fail(struct dalle_loop *lp, long seq, jv rec, long lineno,
    jv e);
/* An error record for a bad input line (the raw line kept in error.input)
 * as record lp->seq; warns "prog: source:lineno: why", returns 65. */
int dalle_loop_bad_line(struct dalle_loop *lp, const char *stage,
    const char *s, long lineno, const char *why);

#endif
