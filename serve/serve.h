/*
 * serve.h: dalle-serve's private header, one for all of its files (as
 * OpenBSD httpd's httpd.h): the options, the counters, a request, and what
 * each file offers the others.  Everything here runs on libmicrohttpd's
 * threads, so shared state is locked where it lives.
 */
#ifndef SERVE_H
#define SERVE_H

#include <sys/queue.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include <microhttpd.h>

#include <jv.h>

#include "util.h"
#include "heap.h"
#include "base64.h"
#include "model.h"
#include "lifecycle.h"
#include "url.h"
#include "record.h"

#define MAX_BODY (4 * 1024 * 1024)
#define OP_LIFETIME 86400         /* seconds an operation can be polled */

enum route {
	R_SUBMIT, R_OP_GET, R_OP_DELETE, R_AZURE, R_AZURE_V1, R_OPENAI,
	R_IMAGE, R_STATS, R_MODELS, R_OTHER, R_N
};
extern const char *const route_names[R_N];

/* Which service's manners a generation answers with. */
enum flavour { FL_AZURE, FL_AZURE_V1, FL_OPENAI };

struct strlist {
	char **v;
	size_t n;
};

struct deployment {
	char *name;
	const struct dalle_model *model;
};

/* The options, set once by main.c before the daemon starts. */
struct serve_opt {
	const char *listen;
	const char *public_url;
	struct deployment *depl;
	size_t ndepl;
	struct strlist keys, tokens, blocked;
	double latency, jitter, rate_window;
	double fail_rate, drop_rate, truncate_rate;
	long concurrency, rpm, slow_images, url_ttl;
	long image_scale, threads;
	size_t cache_bytes, image_bytes;
	long response_ttl;        /* seconds a background response is kept */
	long seed;
	int seeded;
	long today;               /* --today in days since 1970, or -1 */
	double batch_latency, batch_expire, batch_fail_rate;
	FILE *log;
};
extern struct serve_opt opt;
extern char listen_base[128];     /* "http://addr:port/" we listen on */

/* Counters for GET /_serve/stats, under stats_mu. */
struct serve_stats {
	uint64_t requests, by_route[R_N], by_status[600];
	uint64_t rate_limited, concurrency_limited, auth_failed, filtered;
	uint64_t fault_fail, fault_drop, fault_truncate, fault_slow;
	uint64_t submits, polls, deletes, downloads, generations, images;
	uint64_t edits;           /* of the generations, edits */
	uint64_t cache_hits, cache_misses;
	long connections, active, suspended, suspended_peak, sync_inflight;
};
extern pthread_mutex_t stats_mu;
extern struct serve_stats st;

/* One request, from its first call of the access handler to its end. */
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
	int edit;                 /* an /images/edits request (edit.c) */
	struct edit_in *ed;       /* its parts as they arrive */
	int streamed;             /* answered as server-sent events */
	long events;              /* events sent whole so far */
	int responses;            /* a /responses request (responses.c) */
	const char *rname;        /* batch.c's routes: the log's name */
	int upload;               /* POST /v1/files: a multipart upload */
	struct dalle_buf *cap;    /* a batch line: the answer lands here */
	unsigned cap_status;
};

/* The service's errors, worded in reply.c's one table. */
enum serve_err {
	E_NOT_FOUND, E_NO_BLOB, E_SIGNATURE, E_UNAUTHORIZED, E_RATE,
	E_BUSY, E_INTERNAL, E_RENDER, E_BAD_JSON, E_TOO_BIG,
	E_NO_DEPLOYMENT, E_DALLE2_VERSION, E_NO_MODEL_PARAM, E_NO_MODEL,
	E_WEBP, E_CONTENT_POLICY, E_CONFLICT, E_TASK_FILTERED, E_SHUT_DOWN,
	E_N
};

/*
 * keyed.c: the three stores (rendered images, image URLs, operations) are
 * each a hash table whose entries also form a FIFO, oldest first: found by
 * key, dropped from the front.  An entry begins with its struct link.
 */
struct link {
	SLIST_ENTRY(link) hlink;
	STAILQ_ENTRY(link) flink;
	const char *key;          /* in the entry itself */
	uint64_t hv;              /* the key's hash */
};
SLIST_HEAD(bucket, link);
STAILQ_HEAD(fifo, link);
struct keyed {
	struct bucket *b;
	size_t nb, n;
	struct fifo fifo;
};
#define KEYED_INIT(buckets, self) \
	{ (buckets), sizeof(buckets) / sizeof((buckets)[0]), 0, \
	    STAILQ_HEAD_INITIALIZER((self).fifo) }
/* Add l under key, which lives as long as the entry does. */
void keyed_add(struct keyed *t, struct link *l, const char *key);
/* The entry with this key, or NULL. */
struct link *keyed_find(const struct keyed *t, const char *key);
/* Unlink the oldest entry and return it; NULL when empty. */
struct link *keyed_pop(struct keyed *t);

/* cache.c: rendered images, shared by reference and bounded in bytes. */
struct cent {
	struct link l;            /* l.key: key */
	char *key;
	unsigned char *data;
	size_t len;
	int refs, dead;
};
/* The picture for image idx of a prompt, rendered once; NULL when it
 * cannot be.  Give the reference back with cache_release. */
struct cent *cache_get(const char *prompt, int idx, int w, int h,
    const char *fmt, int quality, int transparent);
void cache_release(struct cent *c);
void cache_usage(size_t *bytes, size_t *entries);

/* paint.c: a landscape for a prompt, as "png" or "jpeg" bytes (malloc'd,
 * *len set), the same for the same arguments; NULL on failure.  bytes > 0
 * adds the grain that makes a PNG about that large. */
unsigned char *paint_image(const char *prompt, int w, int h,
    const char *format, int quality, int transparent, size_t bytes,
    size_t *len);
/* The same landscape as RGB rows (malloc'd), or NULL. */
unsigned char *paint_pixels(const char *prompt, int w, int h);
/* Rows of ch (3 or 4; JPEG: 3) channels as "png" or "jpeg" (malloc'd,
 * *len set); NULL on failure. */
unsigned char *paint_encode(const unsigned char *img, int w, int h, int ch,
    const char *format, int quality, size_t *len);
/* The same as paint_encode, of about bytes bytes (0: as they come) when
 * the pixels take grain, seeded by seed (which changes img). */
unsigned char *paint_encode_sized(unsigned char *img, int w, int h, int ch,
    const char *format, int quality, size_t bytes, uint64_t seed,
    size_t *len);
/* The pixels of a PNG or JPEG (malloc'd; w x h, ch 3 or 4 channels), or
 * NULL when the bytes are neither. */
unsigned char *paint_decode(const unsigned char *p, size_t n, int *w, int *h,
    int *ch);

/* stream.c: a generation or an edit answered as server-sent events.  res
 * is the body the unstreamed answer would have (as for reply_images: its
 * first n "b64_json" strings left empty for img[0..n-1]); the events are
 * prefix.partial_image ("image_generation", "image_edit"), partials of
 * them, coarse versions of img[0], then prefix.completed for each image,
 * spread over rq->delay_ms.  Consumes res; borrows img. */
enum MHD_Result stream_reply(struct req *rq, const char *prefix, jv res,
    struct cent *const *img, int n, int partials);
/* The partial images a body asks to stream, or -1 when it does not ask
 * for "stream": true.  Borrows body. */
int stream_partials(jv body);

/* timer.c: suspended connections, resumed when due. */
void timer_start(void);
/* Suspend conn until due (dalle_now_ms time): 0; or -1, conn left as it
 * is, once timer_stop has begun (answer at once then).  Call from the
 * access handler or a content reader, before anything else could resume
 * it. */
int timer_sleep(struct MHD_Connection *conn, int64_t due);
/* Resume every waiting connection now, stop the thread, and suspend
 * nothing from then on. */
void timer_stop(void);

/* stats.c */
void stats_add(uint64_t *p, uint64_t n);
void stats_long(long *p, long n);
/* One more (d = 1) or one fewer (-1) connection suspended. */
void stats_suspended(long d);
enum MHD_Result stats_reply(struct req *rq);

/* quota.c: chance, quotas, faults and latency. */
void quota_seed(void);
double chance(void);              /* uniform in [0, 1), --seed stream */
void uuid_new(char out[37]);
int64_t latency_ms(void);         /* --latency plus or minus --jitter */
/* Quotas shared by every generation route; 1 when answered 429. */
int quota_take(struct req *rq, const char *version, int sync,
    enum MHD_Result *ret);
/* Injected faults; 1 when the request was answered (or dropped) here. */
int fault(struct req *rq, enum MHD_Result *ret);

/* reply.c */
struct MHD_Response *resp_bytes(const void *p, size_t n, const char *ctype);
struct MHD_Response *resp_json(jv body, struct req *rq);      /* consumes */
/* Send r with status now, or after rq->delay_ms.  Consumes r. */
enum MHD_Result reply(struct req *rq, unsigned status,
    struct MHD_Response *r);
enum MHD_Result reply_json(struct req *rq, unsigned status, jv body);
/* echo.c: --echo-key MODE, and an error answer (status, body consumed)
 * that echoes the request's credential in that manner. */
enum { ECHO_BODY = 1, ECHO_ESCAPED, ECHO_HEADER };
void echo_key_set(const char *mode);
int echo_key_on(void);
enum MHD_Result echo_reply(struct req *rq, unsigned status, jv body);
/* 200 with body, whose first n "b64_json" strings, left empty, get the
 * base64 of img[0..n-1].  Consumes body; borrows img. */
enum MHD_Result reply_images(struct req *rq, jv body,
    struct cent *const *img, int n);
/* The same for the strings of key name (as "result"). */
enum MHD_Result reply_b64(struct req *rq, jv body, const char *name,
    struct cent *const *img, int n);
/* Error e in the route's manner; the arguments fill its message. */
enum MHD_Result reply_error(struct req *rq, enum serve_err e, ...);
/* The same for the blob store, with an authentication detail or NULL. */
enum MHD_Result reply_blob_error(struct req *rq, enum serve_err e,
    const char *detail);
/* {"code","message"} of error e as Azure words it. */
jv error_object(enum serve_err e);
enum MHD_Result reply_invalid(struct req *rq,
    const struct dalle_model_err *e);
enum MHD_Result reply_too_many(struct req *rq, int64_t wait_ms,
    const char *version, const char *what);
enum MHD_Result reply_content_policy(struct req *rq);
/* Parse the body as a JSON object: 0, or 1 when answered 400. */
int reply_parse_body(struct req *rq, jv *body, enum MHD_Result *ret);
void reply_retry_after(struct MHD_Response *r, int64_t ms);
void slot_release(struct req *rq);
void iso_time(int64_t t, char *buf, size_t n);

/* route.c */
const char *header(struct req *rq, const char *name);
const char *query(struct req *rq, const char *name);
char *base_url(struct req *rq);   /* malloc'd, ends in '/' */
/* 1 when the request was answered 401 for its credentials. */
int auth_refused(struct req *rq, enum MHD_Result *ret);
int ct_equal(const char *a, const char *b);
enum MHD_Result route_request(void *cls, struct MHD_Connection *conn,
    const char *url, const char *method, const char *version,
    const char *upload, size_t *upload_size, void **con_cls);
void route_completed(void *cls, struct MHD_Connection *conn,
    void **con_cls, enum MHD_RequestTerminationCode toe);
void route_connection(void *cls, struct MHD_Connection *conn,
    void **socket_ctx, enum MHD_ConnectionNotificationCode toe);

/* generate.c */
/* What a generation or an edit asks for, read from its body (which holds
 * the strings). */
struct ask {
	const char *prompt, *size, *fmt, *rf, *quality, *style;
	int n, w, h, comp, transparent, gpt;
	long in_image_tokens;     /* an edit's input images */
	const struct dalle_model *m;
};
struct edit_src;
long version_date(const char *v);
int version_async(const char *v);
const char *blocked_term(const char *prompt);
void size_parse(const char *s, int *w, int *h);
/* body's string key (dalle_record_str), or dflt; borrows body. */
const char *str_or(jv body, const char *key, const char *dflt);
enum MHD_Result generate_reply(struct req *rq, const char *deployment,
    enum flavour fl);
/* The steps that edits share with generations: the checks before the
 * body (1 when answered); after it, the latency, the model of a v1 or
 * OpenAI body (into *m) and the checks of the body against it (1 when
 * answered, body freed); and the answer to a checked body (consumed),
 * its images painted, or made by edit.c from src when src is not NULL. */
int precheck(struct req *rq, const char *deployment, enum flavour fl,
    const struct dalle_model **m, enum MHD_Result *ret);
const struct dalle_model *body_model(struct req *rq, jv body,
    enum flavour fl, enum MHD_Result *ret);
/* The fields of image 0 of a checked body as a gpt-image answer gives
 * them (background, output_format, quality, size, usage), and
 * revised_prompt; its picture in *c, to be released.  Borrows body;
 * jv_invalid() when the picture cannot be made. */
jv generate_one(const struct dalle_model *m, jv body, struct cent **c);
int body_checked(struct req *rq, jv body, enum flavour fl,
    const struct dalle_model **m, enum MHD_Result *ret);
enum MHD_Result generate(struct req *rq, const struct dalle_model *m,
    jv body, enum flavour fl, struct edit_src *src);

/* edit.c: /images/edits on every route, multipart or JSON. */
/* The route of an edit's method and path, or R_OTHER. */
enum route edit_route(const char *method, const char *url);
/* Take n more bytes of an edit's body: 0, or -1 when it is too big. */
int edit_upload(struct req *rq, const char *p, size_t n);
enum MHD_Result edit_reply(struct req *rq, const char *deployment,
    enum flavour fl);
/* The log's name of an edit's route, and its body as the log shows it:
 * fields and the parts' names, types and sizes, never file bytes. */
const char *edit_route_name(enum route r);
jv edit_log(struct req *rq, jv rec);
void edit_free(struct req *rq);
/* The picture for image idx of an edit: its inputs made over by the
 * prompt; a reference as cache_get gives one, or NULL. */
struct cent *edit_render(struct edit_src *src, const struct ask *a,
    int idx);
/* An edit's answer: base64 images, its input's size for "auto", and its
 * input images' tokens. */
void edit_ask(struct edit_src *src, struct ask *a);

/* edit.c, for batch.c: the answer to a JSON edit body checked by
 * body_checked (consumed); and an upload's part by name (its filename
 * into *filename), or NULL. */
enum MHD_Result edit_checked(struct req *rq, const struct dalle_model *m,
    jv body, enum flavour fl);
const struct dalle_buf *edit_part(struct req *rq, const char *name,
    const char **filename);

/* batch.c: the Files API and the Batch API (/v1/files, /v1/batches). */
/* The log's name of a batch route, or NULL when it is none. */
const char *batch_route(const char *method, const char *url);
enum MHD_Result batch_reply(struct req *rq);

/* models.c: the model table served, and its shutdown dates enforced. */
/* 1 when m is shut down on provider p as of --today: answered 404. */
int models_retired(struct req *rq, const struct dalle_model *m,
    enum dalle_provider p, enum MHD_Result *ret);
/* GET /v1/models (id NULL) or /v1/models/{id}. */
enum MHD_Result models_reply(struct req *rq, const char *id);

/* operation.c: the DALL-E 2 async API. */
enum MHD_Result op_submit(struct req *rq);
enum MHD_Result op_reply(struct req *rq, const char *id);
/* Unfinished operations now, and *next the ms until one ends (or -1). */
long op_active(int64_t now, int64_t *next);
/* Live operations by state (4 counts) and in total. */
size_t op_count(int64_t now, uint64_t nst[4]);
extern const char *const opstate_names[4];

/* responses.c: background responses, /v1/responses and
 * /openai/v1/responses: created, polled, cancelled, expired. */
/* The route (R_OPENAI or R_AZURE_V1) of a responses request, or R_OTHER. */
enum route resp_route(const char *method, const char *url);
enum MHD_Result resp_reply(struct req *rq);

/* hostile.c: --hostile, a server that misbehaves on purpose. */
void hostile_set(const char *list);
void hostile_peer(const char *url);
void hostile_bytes(const char *s);
/* 1 when a --hostile mode answered the request (*ret set). */
int hostile(struct req *rq, enum MHD_Result *ret);
/* --hostile wrong-type: r's Content-Type made a wrong one. */
void hostile_retype(struct req *rq, struct MHD_Response *r);
/* --hostile no-images:batch: a batch line's answer, captured (1), or 0. */
int hostile_line(struct req *rq);

/* blob.c: what an image URL stands for. */
void blob_init(void);
void blob_add(const char *id, const char *prompt, int w, int h, int n,
    int transparent);
void blob_forget(const char *id);
/* "<base>private/images/<id>/generated_NN.png?se=...&sig=...", malloc'd */
char *blob_url(const char *base, const char *id, int idx, const char *fmt,
    int64_t expires);
enum MHD_Result blob_reply(struct req *rq, const char *rest);

#endif
