/*
 * hostile.c: --hostile MODE[:where][,...], a server that misbehaves on
 * purpose, so that the clients' defences can be shown: broken or
 * mislabelled answers, operations that lie or never end, redirects, bodies
 * that are huge, trickle, stall or inflate to gigabytes, and absurd
 * Retry-After values, success with no images.  Each mode answers on its
 * routes (where: submit, poll, generate, image, response, batch) in place
 * of the real answer, and the log marks the request with the mode's name
 * in "fault".
 */
#include <err.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zlib.h>

#include "answer.h"
#include "serve.h"

enum {
	W_SUBMIT = 1, W_POLL = 2, W_GENERATE = 4, W_IMAGE = 8,
	W_API = W_SUBMIT | W_POLL | W_GENERATE, W_ALL = W_API | W_IMAGE,
	W_RESPONSE = 16, W_BATCH = 32   /* a response's, a batch's GET */
};

enum hmode {
	H_BAD_JSON, H_HTML_500, H_HTML_200, H_WRONG_TYPE, H_NO_LOCATION,
	H_FOREIGN_LOCATION, H_UNKNOWN_STATUS, H_NEVER_ENDS, H_RETRY_ZERO,
	H_NO_IMAGES,
	H_REDIRECT_LOOP, H_REDIRECT_AWAY, H_HUGE, H_TRICKLE, H_STALL,
	H_GZIP_BOMB, H_BAD_BASE64, H_HTML_IMAGE, H_RETRY_HUGE,
	H_RETRY_NEGATIVE, H_RETRY_NAN, H_RETRY_DATE, H_RETRY_MISSING, H_N
};

static const struct {
	const char *name;
	int where;                /* the routes it takes by default */
} modes[H_N] = {
	[H_BAD_JSON] = { "bad-json", W_API },
	[H_HTML_500] = { "html-500", W_API },
	[H_HTML_200] = { "html-200", W_API },
	[H_WRONG_TYPE] = { "wrong-type", W_ALL },
	[H_NO_LOCATION] = { "no-location", W_SUBMIT },
	[H_FOREIGN_LOCATION] = { "foreign-location", W_SUBMIT },
	[H_UNKNOWN_STATUS] = { "unknown-status", W_POLL | W_RESPONSE |
	    W_BATCH },
	/* batch: each line of a batch's output, not the batch's GET */
	[H_NO_IMAGES] = { "no-images", W_POLL | W_GENERATE | W_RESPONSE |
	    W_BATCH },
	[H_NEVER_ENDS] = { "never-ends", W_POLL },
	[H_RETRY_ZERO] = { "retry-zero", W_POLL },
	[H_REDIRECT_LOOP] = { "redirect-loop", W_ALL },
	[H_REDIRECT_AWAY] = { "redirect-away", W_ALL },
	[H_HUGE] = { "huge", W_ALL },
	[H_TRICKLE] = { "trickle", W_ALL },
	[H_STALL] = { "stall", W_ALL },
	[H_GZIP_BOMB] = { "gzip-bomb", W_ALL },
	[H_BAD_BASE64] = { "bad-base64", W_GENERATE },
	[H_HTML_IMAGE] = { "html-image", W_IMAGE },
	[H_RETRY_HUGE] = { "retry-huge", W_API },
	[H_RETRY_NEGATIVE] = { "retry-negative", W_API },
	[H_RETRY_NAN] = { "retry-nan", W_API },
	[H_RETRY_DATE] = { "retry-date", W_API },
	[H_RETRY_MISSING] = { "retry-missing", W_API },
};

static const char *const where_names[] = {
	"submit", "poll", "generate", "image", "response", "batch", NULL
};

static int active[H_N];           /* the routes (W_*) each mode takes */
static const char *peer;          /* --hostile-peer, ends in '/' */
static long long huge = 16LL << 30;       /* --hostile-bytes */

#define HTML_PAGE "<!DOCTYPE html>\n<html><head><title>%s</title></head>" \
	"<body><h1>%s</h1><p>The gateway could not serve this request." \
	"</p></body></html>\n"
#define TRICKLE_BYTES ((uint64_t)1 << 20)
#define TRICKLE_MS 100            /* one byte each */
#define STALL_AFTER 64            /* bytes sent before the stall */
#define BOMB_MIB 4096             /* what the bomb inflates to */

void
hostile_set(const char *list)
{
	char *s = dalle_xstrdup(list), *save = NULL, *tok, *colon;
	int i, w;

	for (tok = strtok_r(s, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		w = 0;
		if ((colon = strchr(tok, ':')) != NULL) {
			*colon++ = '\0';
			for (i = 0; where_names[i] != NULL; i++)
				if (strcmp(colon, where_names[i]) == 0)
					w = 1 << i;
			if (w == 0)
				errx(DALLE_EX_USAGE, "--hostile %s: %s is not "
				    "submit, poll, generate, image, response "
				    "or batch", list, colon);
		}
		for (i = 0; i < H_N && strcmp(tok, modes[i].name) != 0; i++)
			;
		if (i == H_N)
			errx(DALLE_EX_USAGE, "--hostile %s: no mode \"%s\" "
			    "(see dalle-serve(1))", list, tok);
		active[i] |= w ? w : modes[i].where;
	}
	free(s);
}

void
hostile_peer(const char *url)
{
	const char *why;

	if ((why = dalle_url_check(url, 1)) != NULL)
		errx(DALLE_EX_USAGE, "--hostile-peer %s: %s", url, why);
	peer = url[strlen(url) - 1] == '/' ? url : dalle_xasprintf("%s/", url);
}

void
hostile_bytes(const char *s)
{
	if (dalle_answer_bytes(s, &huge) == -1)
		errx(DALLE_EX_USAGE, "--hostile-bytes %s: want a byte count, "
		    "or with k, m or g for KiB, MiB or GiB", s);
}

static int
where_of(const struct req *rq)
{
	if (rq->rname != NULL)
		return strcmp(rq->rname, "batches_get") == 0 ? W_BATCH : 0;
	if (rq->responses)
		return strcmp(rq->method, "GET") == 0 ? W_RESPONSE : 0;
	switch (rq->route) {
	case R_SUBMIT:
		return W_SUBMIT;
	case R_OP_GET:
		return W_POLL;
	case R_AZURE:
	case R_AZURE_V1:
	case R_OPENAI:
		return W_GENERATE;
	case R_IMAGE:
		return W_IMAGE;
	default:
		return 0;
	}
}

/* Does mode m take this request?  Marks it in the log if so. */
static int
takes(struct req *rq, enum hmode m)
{
	if ((active[m] & where_of(rq)) == 0)
		return 0;
	rq->fault = modes[m].name;
	return 1;
}

/* The other host: --hostile-peer, else our own port named "localhost". */
static char *
peer_base(void)
{
	const char *p;

	if (peer != NULL)
		return dalle_xstrdup(peer);
	if ((p = strstr(listen_base, "127.0.0.1")) != NULL)
		return dalle_xasprintf("%.*slocalhost%s",
		    (int)(p - listen_base), listen_base, p + 9);
	return dalle_xstrdup(listen_base);
}

static enum MHD_Result
text(struct req *rq, unsigned status, const char *ctype, const char *body)
{
	rq->resp_bytes = strlen(body);
	return reply(rq, status, resp_bytes(body, strlen(body), ctype));
}

static enum MHD_Result
html(struct req *rq, unsigned status, const char *title)
{
	char *page = dalle_xasprintf(HTML_PAGE, title, title);
	enum MHD_Result ret;

	ret = text(rq, status, "text/html; charset=utf-8", page);
	free(page);
	return ret;
}

/* A 202 for an operation that is never kept, at loc or with none. */
static enum MHD_Result
accepted(struct req *rq, const char *loc)
{
	struct MHD_Response *r;
	char id[37];

	uuid_new(id);
	r = resp_json(JV_OBJECT(jv_string("id"), jv_string(id),
	    jv_string("status"), jv_string("notRunning")), rq);
	if (loc != NULL) {
		char *u = dalle_xasprintf("%sopenai/operations/images/%s"
		    "?api-version=2023-06-01-preview", loc, id);

		MHD_add_response_header(r, "operation-location", u);
		free(u);
	}
	reply_retry_after(r, 1000);
	return reply(rq, 202, r);
}

/* A poll's answer with status s and these retry headers (NULL: none). */
static enum MHD_Result
op_status(struct req *rq, const char *s, const char *ra, const char *ms)
{
	struct MHD_Response *r;

	r = resp_json(JV_OBJECT(jv_string("id"), jv_string(rq->path + 26),
	    jv_string("created"), jv_number((double)dalle_time()),
	    jv_string("status"), jv_string(s)), rq);
	if (ra != NULL)
		if (ra != NULL)
		MHD_add_response_header(r, "Retry-After", ra);
	if (ms != NULL)
		MHD_add_response_header(r, "retry-after-ms", ms);
	return reply(rq, 200, r);
}

static enum MHD_Result
too_many(struct req *rq, const char *ra, const char *ms)
{
	struct MHD_Response *r;

	stats_add(&st.rate_limited, 1);
	r = resp_json(JV_OBJECT(jv_string("error"), JV_OBJECT(
	    jv_string("code"), jv_string("429"),
	    jv_string("message"), jv_string("Rate limit is exceeded."))), rq);
	MHD_add_response_header(r, "Retry-After", ra);
	if (ms != NULL)
		MHD_add_response_header(r, "retry-after-ms", ms);
	return reply(rq, 429, r);
}

/* A response's or a batch's GET answered with status s and no more. */
static enum MHD_Result
odd_status(struct req *rq, const char *s)
{
	const char *id = strrchr(rq->path, '/');

	return reply(rq, 200, resp_json(JV_OBJECT(jv_string("id"),
	    jv_string(id ? id + 1 : ""), jv_string("object"),
	    jv_string(where_of(rq) == W_BATCH ? "batch" : "response"),
	    jv_string("status"), jv_string(s)), rq));
}

/* Success with no images: an operation "succeeded" with no result, a
 * response "completed" with no output, a 200 with "data": []. */
static enum MHD_Result
no_images(struct req *rq)
{
	if (where_of(rq) == W_POLL)
		return op_status(rq, "succeeded", NULL, NULL);
	if (where_of(rq) == W_RESPONSE)
		return odd_status(rq, "completed");
	return reply_json(rq, 200, JV_OBJECT(jv_string("created"),
	    jv_number((double)dalle_time()), jv_string("data"), jv_array()));
}

int
hostile_line(struct req *rq)
{
	if ((active[H_NO_IMAGES] & W_BATCH) == 0)
		return 0;
	no_images(rq);
	return 1;
}

static enum MHD_Result
redirect(struct req *rq, unsigned status, const char *base)
{
	struct MHD_Response *r = resp_bytes("", 0, NULL);
	char *loc;

	/* rq->path begins with '/': base's own slash goes. */
	loc = dalle_xasprintf("%.*s%s", (int)strlen(base) - 1, base,
	    rq->path);
	MHD_add_response_header(r, "Location", loc);
	free(loc);
	return reply(rq, status, r);
}

/*
 * The bomb: a gzip stream of 1 MiB of zeros after a full flush is the
 * same bytes every time, so the stream is its head, then that block
 * again and again (no trailer: nobody should read that far).
 */
static struct dalle_buf bomb_head, bomb_block;
static pthread_once_t bomb_once = PTHREAD_ONCE_INIT;

static void
bomb_make(void)
{
	static unsigned char zero[1 << 20], out[1 << 16];
	struct dalle_buf *to[2] = { &bomb_head, &bomb_block };
	z_stream z;
	int i;

	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9,
	    Z_DEFAULT_STRATEGY) != Z_OK)
		errx(DALLE_EX_SOFTWARE, "deflateInit2");
	for (i = 0; i < 2; i++) {
		z.next_in = zero;
		z.avail_in = sizeof(zero);
		do {
			z.next_out = out;
			z.avail_out = sizeof(out);
			deflate(&z, Z_FULL_FLUSH);
			dalle_buf_add(to[i], out, sizeof(out) - z.avail_out);
		} while (z.avail_out == 0);
	}
	deflateEnd(&z);
}

/* A body made on the fly: huge, trickled, stalled or a bomb. */
struct hbody {
	enum hmode m;
	struct MHD_Connection *conn;
	const char *head;         /* its first bytes */
	size_t headlen;
	char fill;                /* then this byte */
	int64_t t0;
};

static ssize_t
hbody_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct hbody *h = cls;
	size_t n, off;

	if (h->m == H_GZIP_BOMB) {
		if (pos < bomb_head.len) {
			n = bomb_head.len - (size_t)pos;
			n = n < max ? n : max;
			memcpy(buf, bomb_head.p + pos, n);
			return (ssize_t)n;
		}
		if (pos >= bomb_head.len + (uint64_t)bomb_block.len *
		    (BOMB_MIB - 1))
			return MHD_CONTENT_READER_END_OF_STREAM;
		off = (size_t)((pos - bomb_head.len) % bomb_block.len);
		n = bomb_block.len - off;
		n = n < max ? n : max;
		memcpy(buf, bomb_block.p + off, n);
		return (ssize_t)n;
	}
	if ((h->m == H_STALL && pos >= STALL_AFTER) || (h->m == H_TRICKLE &&
	    dalle_now_ms() < h->t0 + (int64_t)pos * TRICKLE_MS)) {
		/* Parked; at shutdown the body ends broken. */
		if (timer_sleep(h->conn, h->m == H_STALL ? dalle_now_ms() +
		    3600000 : h->t0 + (int64_t)pos * TRICKLE_MS) == 0)
			return 0;
		return MHD_CONTENT_READER_END_WITH_ERROR;
	}
	if ((h->m == H_HUGE && pos >= (uint64_t)huge) || (h->m == H_TRICKLE &&
	    pos >= TRICKLE_BYTES))
		return MHD_CONTENT_READER_END_OF_STREAM;
	n = h->m == H_TRICKLE ? 1 : max;
	if (h->m == H_HUGE && n > (uint64_t)huge - pos)
		n = (size_t)((uint64_t)huge - pos);
	if (h->m == H_STALL && n > STALL_AFTER - pos)
		n = (size_t)(STALL_AFTER - pos);
	for (off = 0; off < n; off++)
		buf[off] = pos + off < h->headlen ? h->head[pos + off] :
		    h->fill;
	return (ssize_t)n;
}

static enum MHD_Result
body(struct req *rq, enum hmode m)
{
	static const char png[] = "\x89PNG\r\n\x1a\n";
	static const char json[] = "{\"created\":1,\"data\":[{\"b64_json\":\"";
	struct MHD_Response *r;
	struct hbody *h = dalle_xcalloc(1, sizeof(*h));
	int image = rq->route == R_IMAGE;

	h->m = m;
	h->conn = rq->conn;
	h->t0 = dalle_now_ms();
	h->head = image ? png : json;
	h->headlen = image ? sizeof(png) - 1 : sizeof(json) - 1;
	h->fill = image ? '\0' : 'A';
	if (m == H_GZIP_BOMB)
		pthread_once(&bomb_once, bomb_make);
	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024,
	    hbody_read, h, free);
	if (r == NULL)
		errx(DALLE_EX_OSERR, "MHD_create_response_from_callback");
	MHD_add_response_header(r, "Content-Type", image ? "image/png" :
	    "application/json");
	if (m == H_GZIP_BOMB)
		MHD_add_response_header(r, "Content-Encoding", "gzip");
	return reply(rq, 200, r);
}

int
hostile(struct req *rq, enum MHD_Result *ret)
{
	char *base, date[64];
	time_t t;

	if (takes(rq, H_BAD_JSON))
		*ret = text(rq, 200, "application/json",
		    "{\"created\":1,\"data\":[{\"url\":\"http://");
	else if (takes(rq, H_HTML_500))
		*ret = html(rq, 500, "500 Internal Server Error");
	else if (takes(rq, H_HTML_200))
		*ret = html(rq, 200, "Sign in to continue");
	else if (takes(rq, H_NO_LOCATION))
		*ret = accepted(rq, NULL);
	else if (takes(rq, H_FOREIGN_LOCATION)) {
		base = peer_base();
		*ret = accepted(rq, base);
		free(base);
	} else if (takes(rq, H_UNKNOWN_STATUS))
		*ret = where_of(rq) == W_POLL ? op_status(rq, "pendingReview",
		    "1", "1000") : odd_status(rq, "pendingReview");
	else if (where_of(rq) != W_BATCH && takes(rq, H_NO_IMAGES))
		*ret = no_images(rq);
	else if (takes(rq, H_NEVER_ENDS))
		*ret = op_status(rq, "running", "1", "1000");
	else if (takes(rq, H_RETRY_ZERO))
		*ret = op_status(rq, "running", "0", "0");
	else if (takes(rq, H_REDIRECT_LOOP)) {
		base = base_url(rq);
		*ret = redirect(rq, 302, base);
		free(base);
	} else if (takes(rq, H_REDIRECT_AWAY)) {
		base = peer_base();
		*ret = redirect(rq, 307, base);
		free(base);
	} else if (takes(rq, H_HUGE))
		*ret = body(rq, H_HUGE);
	else if (takes(rq, H_TRICKLE))
		*ret = body(rq, H_TRICKLE);
	else if (takes(rq, H_STALL))
		*ret = body(rq, H_STALL);
	else if (takes(rq, H_GZIP_BOMB))
		*ret = body(rq, H_GZIP_BOMB);
	else if (takes(rq, H_BAD_BASE64))
		*ret = text(rq, 200, "application/json", "{\"created\":1,"
		    "\"data\":[{\"b64_json\":\"!!not*base64!!\"}]}");
	else if (takes(rq, H_HTML_IMAGE))
		*ret = html(rq, 200, "Image viewer");
	else if (takes(rq, H_RETRY_HUGE))
		*ret = too_many(rq, "9999999", NULL);
	else if (takes(rq, H_RETRY_NEGATIVE))
		*ret = too_many(rq, "-30", NULL);
	else if (takes(rq, H_RETRY_NAN))
		*ret = too_many(rq, "soon", NULL);
	else if (takes(rq, H_RETRY_DATE)) {
		t = time(NULL) + 365 * 86400;
		strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT",
		    gmtime(&t));
		*ret = too_many(rq, date, NULL);
	} else if (takes(rq, H_RETRY_MISSING))
		*ret = too_many(rq, NULL, NULL);
	else
		return 0;
	return 1;
}

void
hostile_retype(struct req *rq, struct MHD_Response *r)
{
	const char *ct;
	char *old;

	if (!takes(rq, H_WRONG_TYPE) ||
	    (ct = MHD_get_response_header(r, "Content-Type")) == NULL)
		return;
	old = dalle_xstrdup(ct);
	MHD_del_response_header(r, "Content-Type", old);
	free(old);
	MHD_add_response_header(r, "Content-Type", rq->route == R_IMAGE ?
	    "text/html" : "text/plain");
}
