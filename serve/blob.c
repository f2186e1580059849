/*
 * blob.c: what an image URL stands for, and its download.  A URL is signed
 * as an Azure storage SAS is: an HMAC-SHA256, under a key drawn at start-up,
 * over a string to sign that holds the permission, the expiry and the blob's
 * canonical resource (its whole name, extension included, so that a .png
 * URL cannot be turned into a .jpg one); the signature is compared in
 * constant time.
 */
#include <err.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "serve.h"

#define BLOB_BUCKETS 65536
#define MAX_BLOBS 200000

struct blob {
	struct link l;
	char id[37];
	char *prompt;
	int w, h, n, transparent, gone;
};

static struct bucket blob_b[BLOB_BUCKETS];
static struct {
	pthread_mutex_t mu;
	struct keyed t;
} blobs = { PTHREAD_MUTEX_INITIALIZER, KEYED_INIT(blob_b, blobs.t) };

static unsigned char sig_key[32];

void
blob_init(void)
{
	if (getentropy(sig_key, sizeof(sig_key)) != 0)
		err(DALLE_EX_OSERR, "getentropy");
}

void
blob_add(const char *id, const char *prompt, int w, int h, int n,
    int transparent)
{
	struct blob *bl, *old;

	bl = dalle_xcalloc(1, sizeof(*bl));
	snprintf(bl->id, sizeof(bl->id), "%s", id);
	bl->prompt = dalle_xstrdup(prompt);
	bl->w = w;
	bl->h = h;
	bl->n = n;
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
	bl = (struct blob *)keyed_find(&blobs.t, id);
	if (bl != NULL && !bl->gone) {
		*out = *bl;
		out->prompt = dalle_xstrdup(bl->prompt);
		rc = 0;
	}
	pthread_mutex_unlock(&blobs.mu);
	return rc;
}

void
blob_forget(const char *id)
{
	struct blob *bl;

	pthread_mutex_lock(&blobs.mu);
	if ((bl = (struct blob *)keyed_find(&blobs.t, id)) != NULL)
		bl->gone = 1;
	pthread_mutex_unlock(&blobs.mu);
}

/* The string to sign for a blob name ("/private/images/...png") and an
 * expiry, malloc'd. */
static char *
blob_sts(const char *name, const char *se)
{
	/* sp, st, se, canonical resource: the start of Azure's string. */
	return dalle_xasprintf("r\n\n%s\n/blob/dalle-serve%s\n", se, name);
}

/* The signature of a string to sign, base64 (malloc'd). */
static char *
blob_sig(const char *sts)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	size_t n;

	if (HMAC(EVP_sha256(), sig_key, (int)sizeof(sig_key),
	    (const unsigned char *)sts, strlen(sts), mac, &maclen) == NULL)
		errx(DALLE_EX_SOFTWARE, "HMAC-SHA256 failed");
	return dalle_base64_encode(mac, maclen, &n);
}

static void
add_escaped(struct dalle_buf *b, const char *s)
{
	char *e;

	if ((e = dalle_url_escape(s)) == NULL)
		errx(DALLE_EX_OSERR, "out of memory");
	dalle_buf_adds(b, e);
	free(e);
}

/* The blob's name: its path with the extension. */
static void
blob_name(char *name, size_t n, const char *id, int idx, const char *ext)
{
	snprintf(name, n, "/private/images/%s/generated_%02d.%s", id, idx,
	    ext);
}

char *
blob_url(const char *base, const char *id, int idx, const char *fmt,
    int64_t expires)
{
	struct dalle_buf u = { NULL, 0, 0 };
	char name[96], se[32], *sts, *sig;

	blob_name(name, sizeof(name), id, idx, strcmp(fmt, "jpeg") == 0 ?
	    "jpg" : "png");
	iso_time(expires, se, sizeof(se));
	sts = blob_sts(name, se);
	sig = blob_sig(sts);
	free(sts);
	dalle_buf_adds(&u, base);
	dalle_buf_adds(&u, name + 1);
	dalle_buf_adds(&u, "?se=");
	add_escaped(&u, se);
	dalle_buf_adds(&u, "&sig=");
	add_escaped(&u, sig);
	dalle_buf_adds(&u, "&ske=");
	add_escaped(&u, se);
	dalle_buf_adds(&u, "&skoid=00000000-0000-4000-8000-000000000000"
	    "&sks=b&skv=2021-08-06&sp=r&spr=https%2Chttp&sr=b"
	    "&sv=2021-08-06");
	free(sig);
	return u.p;
}

/* "2024-01-02T03:04:05Z" in epoch seconds, or -1. */
static int64_t
iso_parse(const char *s)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (end == NULL || *end != '\0')
		return -1;
	return (int64_t)timegm(&tm);
}

/* An image on its way out, at most --slow-images bytes a second. */
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
			if (timer_sleep(s->conn, s->t0 + ((int64_t)pos +
			    chunk) * 1000 / opt.slow_images) == 0)
				return 0;
			/* Shutting down: the rest at once, unpaced. */
		} else if ((int64_t)n > allowed - (int64_t)pos)
			n = (size_t)(allowed - (int64_t)pos);
	}
	memcpy(buf, s->c->data + pos, n);
	return (ssize_t)n;
}

static void
send_done(void *cls)
{
	struct sender *s = cls;

	cache_release(s->c);
	free(s);
}

/* 403 for a URL whose se has passed, with Azure's detail. */
static enum MHD_Result
expired(struct req *rq, int64_t exp)
{
	enum MHD_Result ret;
	char *detail, a[40], b[40], c[40];

	iso_time(exp - opt.url_ttl, a, sizeof(a));
	iso_time(exp, b, sizeof(b));
	iso_time(dalle_time(), c, sizeof(c));
	detail = dalle_xasprintf("Signed expiry time [%s] must be after "
	    "signed start time [%s] and current time [%s]", b, a, c);
	ret = reply_blob_error(rq, E_SIGNATURE, detail);
	free(detail);
	return ret;
}

/* Send image idx of a blob; consumes bl->prompt. */
static enum MHD_Result
send_blob(struct req *rq, struct blob *bl, int idx, const char *fmt)
{
	struct MHD_Response *r;
	struct sender *s;

	stats_add(&st.downloads, 1);
	s = dalle_xcalloc(1, sizeof(*s));
	s->c = cache_get(bl->prompt, idx, bl->w, bl->h, fmt, 90,
	    bl->transparent);
	free(bl->prompt);
	if (s->c == NULL) {
		free(s);
		return reply_blob_error(rq, E_RENDER, NULL);
	}
	s->conn = rq->conn;
	s->limit = s->c->len;
	s->t0 = dalle_now_ms();
	if (opt.truncate_rate > 0 && chance() < opt.truncate_rate) {
		stats_add(&st.fault_truncate, 1);
		rq->fault = "truncate";
		s->limit = s->c->len / 2;
	}
	if (opt.slow_images > 0)
		stats_add(&st.fault_slow, 1);
	rq->resp_bytes = s->limit;
	r = MHD_create_response_from_callback(s->c->len, 32 * 1024,
	    send_image, s, send_done);
	if (r == NULL)
		errx(DALLE_EX_OSERR, "MHD_create_response_from_callback");
	MHD_add_response_header(r, "Content-Type", strcmp(fmt, "png") == 0 ?
	    "image/png" : "image/jpeg");
	MHD_add_response_header(r, "x-ms-blob-type", "BlockBlob");
	MHD_add_response_header(r, "x-ms-version", "2021-08-06");
	return reply(rq, 200, r);
}

/* GET /private/images/<rest>: rest is "<id>/generated_NN.png". */
enum MHD_Result
blob_reply(struct req *rq, const char *rest)
{
	char id[37], ext[8], name[96], *sts, *sig, *detail;
	const char *se, *qsig, *fmt;
	struct blob bl;
	enum MHD_Result ret;
	int idx, n = 0, good;
	int64_t exp;

	if (strlen(rest) < 36 + 12 || sscanf(rest + 36, "/generated_%2d.%5s%n",
	    &idx, ext, &n) != 2 || rest[36 + n] != '\0')
		return reply_blob_error(rq, E_NOT_FOUND, NULL);
	memcpy(id, rest, 36);
	id[36] = '\0';
	se = query(rq, "se");
	qsig = query(rq, "sig");
	if (se == NULL || qsig == NULL)
		return reply_blob_error(rq, E_NOT_FOUND, NULL);
	/* The name as the URL spells it: what was signed, or refused. */
	snprintf(name, sizeof(name), "/private/images/%s", rest);
	sts = blob_sts(name, se);
	sig = blob_sig(sts);
	good = ct_equal(sig, qsig);
	free(sig);
	if (!good) {
		/* Azure shows the string it signed, newlines and all. */
		detail = dalle_xasprintf("Signature did not match. String to "
		    "sign used was %s", sts);
		free(sts);
		ret = reply_blob_error(rq, E_SIGNATURE, detail);
		free(detail);
		return ret;
	}
	free(sts);
	exp = iso_parse(se);
	if (exp < 0 || exp <= dalle_time())
		return expired(rq, exp);
	/* Authenticated first, then looked up, as Azure storage does. */
	if (strcmp(ext, "png") == 0)
		fmt = "png";
	else if (strcmp(ext, "jpg") == 0 || strcmp(ext, "jpeg") == 0)
		fmt = "jpeg";
	else
		return reply_blob_error(rq, E_NO_BLOB, NULL);
	if (blob_find(id, &bl) != 0)
		return reply_blob_error(rq, E_NO_BLOB, NULL);
	if (idx >= bl.n) {
		free(bl.prompt);
		return reply_blob_error(rq, E_NO_BLOB, NULL);
	}
	if (fault(rq, &ret)) {
		free(bl.prompt);
		return ret;
	}
	return send_blob(rq, &bl, idx, fmt);
}
