/*
 * dalle-poll: records from dalle-submit, bare operation ids or operation
 * URLs (operands, else stdin lines) -> polls each operation until it ends
 * or the timeout passes -> the record with its final status and images.
 * Records that are already final, and error records, pass straight through.
 * Exits 0 when every operation succeeded, else the first failure's status.
 */
#include <err.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "dalle.h"

enum { OPT_INTERVAL = DALLE_OPT_FIRST_FREE, OPT_POLL_RATE, OPT_CANCEL };

static const struct option longopts[] = {
	DALLE_AZURE_LONGOPTS,
	DALLE_RUN_LONGOPTS,
	{ "timeout", required_argument, NULL, 't' },
	{ "interval", required_argument, NULL, OPT_INTERVAL },
	{ "poll-rate", required_argument, NULL, OPT_POLL_RATE },
	{ "cancel", no_argument, NULL, OPT_CANCEL },
	{ NULL, 0, NULL, 0 }
};

/* An operation waiting for its end: its record kept as text (a third of
 * the memory of the parsed value) until it is written. */
struct op {
	char *raw;
	struct dalle_big big;     /* raw's big strings, once parsed */
	struct dalle_loop_id id;
	int64_t deadline;
	int polls;
	int response;             /* kind openai-response */
	enum dalle_api api;       /* whose credentials it is polled with */
};

/* The shortest wait between two polls of one operation, whatever the
 * service says (a Retry-After of 0 is not an invitation to spin), and
 * how long the last look at -t's deadline may take. */
#define POLL_MIN_MS 250L
#define POLL_GRACE_MS 1000L
/* A poll_at further ahead than the longest wait the service may ask for
 * is no time dalle-submit wrote: polled at once. */
#define POLL_AT_MAX_MS 60000L

static struct dalle_conf conf;
static long timeout_ms = 600000;
static long interval_ms = 1000;
static int timeout_given, interval_given;  /* -t, --interval */
/* A batch unless -t or --interval: polled this often, waited for until
 * its expires_at and this much more (it reports expired by then). */
#define BATCH_INTERVAL_MS 30000
#define BATCH_GRACE_S 900
static double polls_per_min = 100 * 60;
static int cancel;              /* --cancel */

static jv op_rec(struct op *o, const char *status);
static int batch_start(struct dalle_loop *lp, jv rec, const char *raw,
    size_t rawlen, const struct dalle_big *big, jv op);

static void
usage(FILE *fp, int rc)
{
	fputs("usage: dalle-poll [-hqv] [-j jobs] [-t timeout] "
	    "[--interval seconds]\n"
	    "\t[--poll-rate n/s] [--keep-order] [--cancel]\n"
	    "\t[--endpoint url] [--api-version v] [--api-key-file file]\n"
	    "\t[--token-command cmd] [--allow-http] [--cacert file]\n"
	    "\t[--retries n] [--request-timeout s] [--max-line bytes]\n"
	    "\t[--version] [operation ...]\n", fp);
	exit(rc);
}

static int
final_status(const char *s)
{
	return strcmp(s, "succeeded") == 0 || strcmp(s, "failed") == 0 ||
	    strcmp(s, "canceled") == 0 || strcmp(s, "cancelled") == 0 ||
	    strcmp(s, "deleted") == 0;
}

static void
schedule(struct dalle_loop *lp, struct op *o, const char *url, long delay,
    int paced)
{
	struct dalle_xfer *x = dalle_http_xfer_new("GET", url);

	x->headers = dalle_api_auth(&conf, o->api, NULL);
	x->udata = o;
	x->paced = paced;
	/* -t bounds the polls' retries, 429s and stalls too. */
	x->deadline = o->deadline + POLL_GRACE_MS;
	dalle_http_start_at(lp->http, x, dalle_now_ms() + delay);
}

/* rec cannot be polled: its error record, of kind and why (consumed). */
static int
reject(struct dalle_loop *lp, jv rec, const struct dalle_big *big, jv op,
    const char *kind, char *why)
{
	int rc;

	jv_free(op);
	rc = dalle_loop_fail(lp, lp->cur, rec,
	    dalle_record_errorf("poll", kind, "%s", why), big);
	free(why);
	return rc;
}

/* A new operation to wait for, its record kept as raw (rawlen bytes)
 * or, when raw is NULL, as rec's text; polled with api's credentials. */
static struct op *
op_new(struct dalle_loop *lp, jv rec, const char *raw, size_t rawlen,
    enum dalle_api api)
{
	struct op *o = dalle_xcalloc(1, sizeof(*o));

	if (raw)
		o->raw = strndup(raw, rawlen);
	else {
		struct dalle_buf d = { 0 };

		dalle_json_put(&d, rec);
		o->raw = d.p;
	}
	if (o->raw == NULL)
		err(DALLE_EX_OSERR, "strndup");
	o->id = lp->cur;
	o->deadline = dalle_now_ms() + timeout_ms;
	o->api = api;
	return o;
}

/*
 * A background response (kind openai-response): polled with the Azure
 * key on the configured endpoint, else with the OpenAI key on its base
 * URL, and never elsewhere; with --cancel, cancelled first.
 */
static int
response_start(struct dalle_loop *lp, jv rec, const char *raw,
    size_t rawlen, const struct dalle_big *big, jv op, const char *url)
{
	const char *base = conf.base_url ? conf.base_url :
	    "https://api.openai.com/v1";
	struct dalle_xfer *x;
	struct dalle_url u;
	enum dalle_api api;
	struct op *o;
	char *why, *curl;

	if (conf.endpoint != NULL && dalle_url_same_origin(url, conf.endpoint))
		api = DALLE_API_AZURE_V1;
	else if (conf.endpoint == NULL && dalle_url_same_origin(url, base))
		api = DALLE_API_OPENAI;
	else {
		dalle_url_parse(url, &u);
		why = dalle_xasprintf("%s: not the configured endpoint or "
		    "base URL (%s); the key is not sent there",
		    u.origin ? u.origin : url, conf.endpoint ? conf.endpoint :
		    base);
		dalle_url_free(&u);
		return reject(lp, rec, big, op, DALLE_KIND_CONFIG, why);
	}
	if (api == DALLE_API_OPENAI ? conf.openai_key == NULL :
	    conf.key == NULL && conf.token == NULL)
		return reject(lp, rec, big, op, DALLE_KIND_CONFIG,
		    dalle_xstrdup(api == DALLE_API_OPENAI ? "no key: set "
		    "OPENAI_API_KEY" : "no key: set AZURE_OPENAI_API_KEY or "
		    "AZURE_OPENAI_AD_TOKEN"));
	o = op_new(lp, rec, raw, rawlen, api);
	o->response = 1;
	if (cancel) {
		curl = dalle_responses_cancel_url(url);
		x = dalle_http_xfer_new("POST", curl);
		free(curl);
		x->headers = dalle_api_auth(&conf, api, NULL);
		x->udata = o;
		x->paced = 1;
		dalle_http_start(lp->http, x);
	} else
		schedule(lp, o, url, 0, 1);
	jv_free(op);
	jv_free(rec);
	return 0;
}

/* raw: the input line as it came (rawlen bytes), or NULL; big: its big
 * strings (NULL: none). */
static int
start(struct dalle_loop *lp, jv rec, const char *raw, size_t rawlen,
    const struct dalle_big *big)
{
	const char *url, *status;
	struct dalle_url u;
	struct op *o;
	char *why;
	long delay, at;
	jv op;

	/* What is read as text is text, however long. */
	rec = dalle_big_unlift_fields(big, rec, (const char *const[]){
	    "operation", "status", NULL });
	op = dalle_record_get(rec, "operation");
	status = dalle_record_str(rec, "status");
	/* Synchronous results, and operations already ended, are final. */
	if (jv_get_kind(op) != JV_KIND_OBJECT || (status &&
	    final_status(status))) {
		jv_free(op);
		if (raw) {
			/* untouched: the bytes as they came, no new dump */
			dalle_loop_emit_line(lp, lp->cur, raw, rawlen);
			jv_free(rec);
		} else
			dalle_loop_write(lp, lp->cur, rec, big);
		return 0;
	}
	if (dalle_record_str(op, "kind") && strcmp(dalle_record_str(op, "kind"),
	    "openai-batch") == 0)
		return batch_start(lp, rec, raw, rawlen, big, op);
	if (dalle_record_str(op, "kind") && strcmp(dalle_record_str(op, "kind"),
	    "azure-image") != 0 && strcmp(dalle_record_str(op, "kind"),
	    DALLE_OP_RESPONSE) != 0)
		return reject(lp, rec, big, op, DALLE_KIND_INPUT,
		    dalle_xasprintf("operation kind \"%s\" is not one this "
		    "dalle-poll knows", dalle_record_str(op, "kind")));
	if ((url = dalle_record_str(op, "url")) == NULL)
		return reject(lp, rec, big, op, DALLE_KIND_INPUT,
		    dalle_xstrdup("operation has no \"url\""));
	/* The key goes only to the endpoint it belongs to: the same
	 * scheme, host and port, as libcurl reads them. */
	if (dalle_record_str(op, "kind") && strcmp(dalle_record_str(op,
	    "kind"), DALLE_OP_RESPONSE) == 0)
		return response_start(lp, rec, raw, rawlen, big, op, url);
	if (conf.endpoint == NULL ||
	    !dalle_url_same_origin(url, conf.endpoint)) {
		dalle_url_parse(url, &u);       /* u.origin NULL on failure */
		why = dalle_xasprintf("%s: %s (%s); the key is not sent there",
		    u.origin ? u.origin : url, u.creds ? "a user name or "
		    "password in the URL, beside the configured endpoint" :
		    "not the configured endpoint",
		    conf.endpoint ? conf.endpoint : "none");
		dalle_url_free(&u);
		return reject(lp, rec, big, op, DALLE_KIND_CONFIG, why);
	}
	if (conf.key == NULL && conf.token == NULL)
		return reject(lp, rec, big, op, DALLE_KIND_CONFIG,
		    dalle_xstrdup("no key: set AZURE_OPENAI_API_KEY or "
		    "AZURE_OPENAI_AD_TOKEN"));
	if (cancel)
		return reject(lp, rec, big, op, DALLE_KIND_INPUT,
		    dalle_xstrdup("--cancel: an azure-image operation cannot "
		    "be cancelled"));
	o = op_new(lp, rec, raw, rawlen, DALLE_API_AZURE_ASYNC);
	/* No poll before the time the service gave dalle-submit. */
	delay = 0;
	if (dalle_record_long(op, "poll_at", &at) == 0 && at > dalle_wall_ms() &&
	    at - dalle_wall_ms() <= POLL_AT_MAX_MS)
		delay = at - dalle_wall_ms() < timeout_ms ?
		    at - dalle_wall_ms() : timeout_ms;
	schedule(lp, o, url, delay, delay < timeout_ms);
	jv_free(op);
	jv_free(rec);
	return 0;
}

/*
 * Batches (operation kind openai-batch): the records of one batch wait
 * on it together, polled once per interval; when it ends its output and
 * error files are read once and each record gets its own line.
 */
struct bwait {
	struct bwait *next;
	char *id, *url;
	struct op **w;            /* the records waiting */
	size_t n, cap;
	int phase;                /* B_* */
	char *files[2];           /* output and error file ids, or NULL */
	FILE *fp[2];              /* their bytes, in unlinked temporary
	                           * files until the records are out */
	jv idx;                   /* custom_id: [file, offset, length] */
	jv fail;                  /* the whole batch's error, or invalid */
	char *status;
	int64_t deadline;
	int polls;
	double counts[3];         /* request_counts: completed, failed, total */
};
enum { B_CANCEL, B_POLL, B_OUTPUT, B_ERROR, B_ENDED };
static struct bwait *bwaits;

static int
batch_owns(const void *p)
{
	const struct bwait *b;

	for (b = bwaits; b != NULL; b = b->next)
		if ((const void *)b == p)
			return 1;
	return 0;
}

/* A new private temporary file in $TMPDIR, already unlinked. */
static FILE *
private_file(void)
{
	char *tmp;
	FILE *fp;
	int fd;

	if ((fd = dalle_temp_private(".jsonl", &tmp)) == -1 ||
	    (fp = fdopen(fd, "w+")) == NULL)
		err(DALLE_EX_IOERR, "a temporary file in $TMPDIR");
	unlink(tmp);
	dalle_temp_done(tmp);
	return fp;
}

/* The next request of b, after delay ms. */
static void
batch_next(struct dalle_loop *lp, struct bwait *b, long delay)
{
	struct dalle_xfer *x;
	char *what, *url;

	if (b->phase == B_OUTPUT || b->phase == B_ERROR) {
		what = dalle_xasprintf("files/%s/content",
		    b->files[b->phase - B_OUTPUT]);
		url = dalle_api_url(&conf, DALLE_API_OPENAI, NULL, what);
		free(what);
		x = dalle_http_xfer_new("GET", url);
		free(url);
		x->out = private_file();
		/* A batch's results are hundreds of images' base64. */
		x->max_bytes = (long long)4 << 30;
	} else if (b->phase == B_CANCEL) {
		url = dalle_xasprintf("%s/cancel", b->url);
		x = dalle_http_xfer_new("POST", url);
		free(url);
		/* 409: the batch has ended; asking again will not help. */
		x->final_status = 409;
	} else
		x = dalle_http_xfer_new("GET", b->url);
	x->headers = dalle_api_auth(&conf, DALLE_API_OPENAI, NULL);
	x->udata = b;
	x->paced = b->phase == B_POLL;
	dalle_http_start_at(lp->http, x, dalle_now_ms() + delay);
}

/* Record o of batch b, ended: its own result or error. */
static int
batch_put(struct dalle_loop *lp, struct bwait *b, struct op *o)
{
	const char *cid, *k;
	char *line = NULL;
	jv rec, op, at, e = jv_invalid();
	double f, off, len;
	size_t rl;
	int rc = 0;

	o->polls = b->polls;
	rec = op_rec(o, b->status);
	op = dalle_record_get(rec, "operation");
	cid = dalle_record_str(op, "custom_id");
	at = cid ? jv_object_get(jv_copy(b->idx), jv_string(cid)) :
	    jv_invalid();
	if (jv_is_valid(b->fail))
		e = jv_copy(b->fail);
	else if (jv_get_kind(at) != JV_KIND_ARRAY && b->status != NULL &&
	    (strcmp(b->status, "cancelled") == 0 ||
	    strcmp(b->status, "expired") == 0))
		/* A line the batch never ran, nor wrote: cancelled, say,
		 * while it was validating. */
		e = dalle_record_errorf("poll", strcmp(b->status,
		    "expired") == 0 ? DALLE_KIND_BATCH_EXPIRED :
		    DALLE_KIND_CANCELLED, "%s: the batch ended %s before it "
		    "ran this line", b->id, b->status);
	else if (jv_get_kind(at) != JV_KIND_ARRAY)
		e = dalle_record_errorf("poll", DALLE_KIND_PROTOCOL,
		    "%s: custom_id %s is in neither the output nor the error "
		    "file", b->id, cid ? cid : "(none)");
	else {
		/* Its line alone read back: one record's bytes in memory. */
		f = jv_number_value(jv_array_get(jv_copy(at), 0));
		off = jv_number_value(jv_array_get(jv_copy(at), 1));
		len = jv_number_value(jv_array_get(jv_copy(at), 2));
		line = dalle_xmalloc((size_t)len + 1);
		if (pread(fileno(b->fp[(int)f]), line, (size_t)len,
		    (off_t)off) != (ssize_t)len)
			e = dalle_record_errorf("poll", DALLE_KIND_IO, "%s: "
			    "cannot read its file back", b->id);
		else {
			/* An answer, redacted as it comes in (loop.c). */
			char *r = dalle_secret_redact(line, (size_t)len, &rl);

			if (r != NULL) {
				free(line);
				line = r;
				len = (double)rl;
			}
			rec = dalle_batch_result(&o->big, rec, line,
			    (size_t)len, b->url, &e);
		}
	}
	if (jv_is_valid(e)) {
		jv_free(rec);
		rec = op_rec(o, b->status);
		/* A line's own error is as a synchronous one: no status (a
		 * line never run keeps its batch's, expired or cancelled). */
		k = dalle_record_str(e, "kind");
		if (!jv_is_valid(b->fail) && k != NULL &&
		    strcmp(k, DALLE_KIND_BATCH_EXPIRED) != 0 &&
		    strcmp(k, DALLE_KIND_CANCELLED) != 0)
			rec = jv_object_delete(rec, jv_string("status"));
		rc = dalle_loop_fail(lp, o->id, rec, e, &o->big);
	} else
		dalle_loop_write(lp, o->id, dalle_cost_add(rec, jv_null()),
		    &o->big);
	free(line);
	jv_free(at);
	jv_free(op);
	dalle_big_free(&o->big);
	free(o->raw);
	free(o);
	return rc;
}

static int
batch_end(struct dalle_loop *lp, struct bwait *b)
{
	size_t i;
	int rc = 0, r;

	b->phase = B_ENDED;
	for (i = 0; i < 2; i++)
		if (b->fp[i] != NULL)
			b->idx = dalle_batch_index(b->fp[i], (int)i, b->idx);
	for (i = 0; i < b->n; i++) {
		r = batch_put(lp, b, b->w[i]);
		rc = rc ? rc : r;
	}
	b->n = 0;
	/* Its records are out: its files go (a record of it that comes
	 * later has it polled again). */
	for (i = 0; i < 2; i++) {
		if (b->fp[i] != NULL)
			fclose(b->fp[i]);
		b->fp[i] = NULL;
		free(b->files[i]);
		b->files[i] = NULL;
	}
	jv_free(b->idx);
	b->idx = jv_object();
	return rc;
}

/* On a terminal: a line for each batch still waited on, under poll's
 * line of the pipeline's status. */
static void
batch_progress(void)
{
	struct dalle_buf t = { 0 };
	struct bwait *b;
	char s[256];

	for (b = bwaits; b != NULL; b = b->next) {
		if (b->phase == B_ENDED || b->n == 0)
			continue;
		if (b->status == NULL)
			snprintf(s, sizeof(s), "%s: not polled yet\n", b->id);
		else
			snprintf(s, sizeof(s), "%s: %s, %.0f of %.0f "
			    "completed, %.0f failed\n", b->id, b->status,
			    b->counts[0], b->counts[2], b->counts[1]);
		dalle_buf_adds(&t, s);
	}
	dalle_status_note(t.p);
	dalle_buf_free(&t);
}

/* request_counts of a batch object (borrowed) into b. */
static void
batch_counts(struct bwait *b, jv body)
{
	static const char *const k[] = { "completed", "failed", "total" };
	jv c = jv_object_get(jv_copy(body), jv_string("request_counts")), v;
	int i;

	for (i = 0; i < 3 && jv_get_kind(c) == JV_KIND_OBJECT; i++) {
		v = jv_object_get(jv_copy(c), jv_string(k[i]));
		if (jv_get_kind(v) == JV_KIND_NUMBER)
			b->counts[i] = jv_number_value(v);
		jv_free(v);
	}
	jv_free(c);
}

/* Has b, still running as body (borrowed) says, outlived its wait: -t,
 * else its expires_at and BATCH_GRACE_S? */
static int
batch_late(struct bwait *b, jv body)
{
	jv v;

	if (!timeout_given && b->deadline == INT64_MAX) {
		v = jv_object_get(jv_copy(body), jv_string("expires_at"));
		if (jv_get_kind(v) == JV_KIND_NUMBER)
			b->deadline = dalle_now_ms() + (int64_t)(
			    jv_number_value(v) - (double)dalle_time() +
			    BATCH_GRACE_S) * 1000;
		jv_free(v);
	}
	return dalle_now_ms() >= b->deadline;
}

static int
batch_done(struct dalle_loop *lp, struct dalle_xfer *x)
{
	struct bwait *b = x->udata;
	const char *st, *f;
	jv body = jv_null(), e;
	int k, rc = 0;

	if (b->phase == B_CANCEL) {
		/* 409: it has ended already; either way, poll it. */
		if (x->result != CURLE_OK || (x->status != 200 &&
		    x->status != 409))
			b->fail = dalle_http_xfer_error(x, "poll");
		b->phase = B_POLL;
		if (!jv_is_valid(b->fail))
			batch_next(lp, b, 0);
		else
			rc = batch_end(lp, b);
		goto out;
	}
	if (x->result != CURLE_OK || x->status != 200) {
		b->fail = dalle_http_xfer_error(x, "poll");
		rc = batch_end(lp, b);
		goto out;
	}
	if (b->phase == B_OUTPUT || b->phase == B_ERROR) {
		b->fp[b->phase - B_OUTPUT] = x->out;
		x->out = NULL;
		b->phase++;
		if (b->phase == B_ERROR && b->files[1] == NULL)
			b->phase++;
		if (b->phase == B_ENDED)
			rc = batch_end(lp, b);
		else
			batch_next(lp, b, 0);
		goto out;
	}
	b->polls++;
	body = jv_parse_sized(x->resp.p ? x->resp.p : "", (int)x->resp.len);
	if ((st = dalle_record_str(body, "status")) == NULL) {
		b->fail = dalle_record_error("poll", DALLE_KIND_PROTOCOL,
		    x->status, NULL, "no \"status\" in the batch", 0, b->polls);
		rc = batch_end(lp, b);
		goto out;
	}
	if (jv_is_valid(e = dalle_status_unknown("batch", st, b->polls))) {
		b->fail = e;
		rc = batch_end(lp, b);
		goto out;
	}
	free(b->status);
	b->status = dalle_xstrdup(st);
	batch_counts(b, body);
	if (strcmp(st, "failed") == 0) {
		e = jv_getpath(jv_copy(body), JV_ARRAY(jv_string("errors"),
		    jv_string("data"), jv_number(0)));
		b->fail = dalle_record_error("poll", DALLE_KIND_INVALID, 0,
		    dalle_record_str(e, "code"), dalle_record_str(e,
		    "message") ? dalle_record_str(e, "message") :
		    "the batch failed validation", 0, b->polls);
		jv_free(e);
		rc = batch_end(lp, b);
	} else if (strcmp(st, "completed") == 0 ||
	    strcmp(st, "expired") == 0 || strcmp(st, "cancelled") == 0) {
		for (k = 0; k < 2; k++)
			if ((f = dalle_record_str(body, k ? "error_file_id" :
			    "output_file_id")) != NULL)
				b->files[k] = dalle_xstrdup(f);
		b->phase = b->files[0] ? B_OUTPUT : b->files[1] ? B_ERROR :
		    B_ENDED;
		if (b->phase == B_ENDED)
			rc = batch_end(lp, b);
		else
			batch_next(lp, b, 0);
	} else if (batch_late(b, body)) {
		b->fail = dalle_record_error("poll", DALLE_KIND_TIMEOUT, 0,
		    NULL, "still not finished when the timeout came", 1,
		    b->polls);
		rc = batch_end(lp, b);
	} else
		batch_next(lp, b, interval_given ? interval_ms :
		    BATCH_INTERVAL_MS);
out:
	jv_free(body);
	if (x->out != NULL)
		fclose(x->out);
	x->out = NULL;
	dalle_http_xfer_free(x);
	batch_progress();
	return rc;
}

/* A record of an openai-batch operation: it waits on its batch. */
static int
batch_start(struct dalle_loop *lp, jv rec, const char *raw, size_t rawlen,
    const struct dalle_big *big, jv op)
{
	const char *url = dalle_record_str(op, "url");
	const char *id = dalle_record_str(op, "batch");
	struct dalle_buf d = { 0 };
	struct bwait *b;
	struct op *o;
	char *base;

	if (url == NULL || id == NULL ||
	    dalle_record_str(op, "custom_id") == NULL)
		return reject(lp, rec, big, op, DALLE_KIND_INPUT, dalle_xstrdup(
		    "an openai-batch operation needs \"batch\", "
		    "\"custom_id\" and \"url\""));
	base = dalle_api_url(&conf, DALLE_API_OPENAI, NULL, "batches");
	if (!dalle_url_same_origin(url, base)) {
		free(base);
		return reject(lp, rec, big, op, DALLE_KIND_CONFIG,
		    dalle_xasprintf("%s: not the configured OpenAI base URL; "
		    "the key is not sent there", url));
	}
	free(base);
	if (conf.openai_key == NULL)
		return reject(lp, rec, big, op, DALLE_KIND_CONFIG,
		    dalle_xstrdup("no key: set OPENAI_API_KEY"));
	for (b = bwaits; b != NULL; b = b->next)
		if (strcmp(b->id, id) == 0)
			break;
	if (b == NULL) {
		b = dalle_xcalloc(1, sizeof(*b));
		b->id = dalle_xstrdup(id);
		b->url = dalle_xstrdup(url);
		b->idx = jv_object();
		b->fail = jv_invalid();
		b->deadline = timeout_given ? dalle_now_ms() + timeout_ms :
		    INT64_MAX;
		b->phase = cancel ? B_CANCEL : B_POLL;
		b->next = bwaits;
		bwaits = b;
		batch_next(lp, b, 0);
	}
	o = dalle_xcalloc(1, sizeof(*o));
	if (raw)
		o->raw = strndup(raw, rawlen);
	else {
		dalle_json_put(&d, rec);
		o->raw = d.p;
	}
	if (o->raw == NULL)
		err(DALLE_EX_OSERR, "strndup");
	o->id = lp->cur;
	jv_free(op);
	jv_free(rec);
	if (b->phase == B_ENDED && jv_is_valid(b->fail))
		return batch_put(lp, b, o);
	if (b->phase == B_ENDED) {      /* its files are gone: again */
		b->phase = B_POLL;
		batch_next(lp, b, 0);
	}
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 16;
		b->w = dalle_xrealloc(b->w, b->cap * sizeof(*b->w));
	}
	b->w[b->n++] = o;
	return 0;
}

/* The fields a record of ours has, and their types. */
static const struct dalle_field fields[] = {
	{ "operation", JV_KIND_OBJECT }, { "status", JV_KIND_STRING },
	{ "error", JV_KIND_OBJECT }, { "operation.kind", JV_KIND_STRING },
	{ "operation.url", JV_KIND_STRING }, { "operation.id", JV_KIND_STRING },
	{ "operation.poll_at", JV_KIND_NUMBER },
	{ "operation.batch", JV_KIND_STRING },
	{ "operation.custom_id", JV_KIND_STRING }, { NULL, JV_KIND_NULL }
};

static int
on_line(struct dalle_loop *lp, char *s, size_t n)
{
	struct dalle_big big = { 0 };
	struct dalle_url u;
	char *url;
	int rc;
	jv rec, op;

	while (*s == ' ' || *s == '\t')
		s++, n--;
	if (*s == '{') {
		rc = dalle_loop_take(lp, "poll", s, n, &rec, &big);
		if (rc == -1) {
			/* Text and types: no field of the wrong type is
			 * read as absent. */
			if ((url = dalle_input_record(&big, s, n, rec)) != NULL ||
			    (url = dalle_fields_check(rec, fields)) != NULL)
				rc = reject(lp, rec, &big, jv_null(),
				    DALLE_KIND_INPUT, url);
			else
				rc = start(lp, rec, s, n, &big);
			dalle_big_free(&big);
		}
		return rc;
	}
	/* A batch has no records of its own to give its lines to. */
	url = NULL;
	if (strncmp(s, "batch_", 6) == 0 || ((url = strstr(s,
	    "/batches/batch_")) != NULL && strncmp(s, "http", 4) == 0)) {
		url = url ? url + 9 : s;
		rec = jv_object_set(jv_object(), jv_string("operation"),
		    JV_OBJECT(jv_string("kind"), jv_string("openai-batch"),
		    jv_string("batch"), jv_string_sized(url,
		    (int)strcspn(url, "/?#"))));
		return dalle_loop_fail(lp, lp->cur, rec, dalle_record_errorf(
		    "poll", DALLE_KIND_INPUT, "%s: batches are polled from "
		    "dalle-submit's records, one per line of the batch", s),
		    NULL);
	}
	/* A bare operation URL, or an id on the configured endpoint. */
	if (strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0) {
		url = dalle_xstrdup(s);
	} else if (strspn(s, "abcdefABCDEF0123456789-") == n && n > 0) {
		if (conf.endpoint == NULL) {
			jv e = dalle_record_errorf("poll", DALLE_KIND_CONFIG,
			    "an operation id needs an endpoint "
			    "(AZURE_OPENAI_ENDPOINT)");

			rec = jv_object_set(jv_object(), jv_string("operation"),
			    jv_object_set(jv_object(), jv_string("id"),
			    jv_string(s)));
			return dalle_loop_fail(lp, lp->cur, rec, e, NULL);
		}
		url = dalle_xasprintf("%s/openai/operations/images/%s"
		    "?api-version=%s", conf.endpoint, s,
		    dalle_api_version(&conf, DALLE_API_AZURE_ASYNC));
	} else
		return dalle_loop_bad_line(lp, "poll", s,
		    "neither a record, an operation URL nor an operation id");
	op = jv_object_set(jv_object(), jv_string("kind"),
	    jv_string("azure-image"));
	/* The id is the URL's last path segment (s itself for a bare id). */
	if (dalle_url_parse(url, &u) == 0) {
		op = jv_object_set(op, jv_string("id"), jv_string(u.last));
		dalle_url_free(&u);
	}
	op = jv_object_set(op, jv_string("url"), jv_string(url));
	free(url);
	rec = jv_object_set(jv_object(), jv_string("operation"), op);
	return start(lp, rec, NULL, 0, NULL);
}

/* The operation's record, with its polls and, if known, its status. */
static jv
op_rec(struct op *o, const char *status)
{
	jv rec = dalle_big_parse(&o->big, o->raw, strlen(o->raw)), op;

	op = dalle_record_get(rec, "operation");
	op = jv_object_set(op, jv_string("polls"), jv_number(o->polls));
	rec = jv_object_set(rec, jv_string("operation"), op);
	if (status)
		rec = jv_object_set(rec, jv_string("status"),
		    jv_string(status));
	return rec;
}

static void
set_number(jv *rec, jv body, const char *key)
{
	jv v = dalle_record_get(body, key);

	if (jv_get_kind(v) == JV_KIND_NUMBER)
		*rec = jv_object_set(*rec, jv_string(key), v);
	else
		jv_free(v);
}

static void
op_free(struct op *o)
{
	dalle_big_free(&o->big);
	free(o->raw);
	free(o);
}

/*
 * A background response's poll (or cancel) answered: polled again soon
 * while queued or in progress (the service keeps a result only about 10
 * minutes), else its final record; a response the service no longer has
 * is "expired".  The image's base64 is written from the answer's bytes.
 */
static int
response_done(struct dalle_loop *lp, struct dalle_xfer *x, struct op *o)
{
	struct dalle_big tmp = { 0 };
	const char *status;
	char *url;
	jv body, rec, e;
	int64_t now;
	long delay;
	int rc;

	o->polls++;
	if (x->result != CURLE_OK || x->status != 200) {
		e = x->status == 404 ? dalle_responses_expired(o->polls) :
		    dalle_http_xfer_error(x, "poll");
		rc = dalle_loop_fail(lp, o->id, op_rec(o, NULL), e, &o->big);
		goto done;
	}
	body = dalle_big_parse(&tmp, x->resp.p ? x->resp.p : "", x->resp.len);
	status = dalle_record_str(body, "status");
	if (status != NULL && jv_is_valid(e = dalle_status_unknown("response",
	    status, o->polls))) {
		jv_free(body);
		dalle_big_free(&tmp);
		rc = dalle_loop_fail(lp, o->id, op_rec(o, NULL), e, &o->big);
		goto done;
	}
	if (status != NULL && !dalle_responses_final(status)) {
		now = dalle_now_ms();
		jv_free(body);
		dalle_big_free(&tmp);
		if (now >= o->deadline) {
			rc = dalle_loop_fail(lp, o->id, op_rec(o, NULL),
			    dalle_record_error("poll", DALLE_KIND_TIMEOUT, 0,
			    NULL, "still not finished when the timeout came",
			    1, o->polls), &o->big);
			goto done;
		}
		delay = x->hint.retry_after_ms >= 0 ? x->hint.retry_after_ms :
		    (interval_ms < 2000 ? interval_ms : 2000) / 2;
		if (delay < POLL_MIN_MS)
			delay = POLL_MIN_MS;
		if (delay > o->deadline - now)
			delay = (long)(o->deadline - now);
		/* After a cancel, the response itself is polled. */
		url = strcmp(x->url + strlen(x->url) - 7, "/cancel") == 0 ?
		    dalle_xasprintf("%.*s", (int)strlen(x->url) - 7, x->url) :
		    dalle_xstrdup(x->url);
		schedule(lp, o, url, delay, 1);
		free(url);
		dalle_http_xfer_free(x);
		return 0;
	}
	jv_free(body);
	dalle_big_free(&tmp);
	rec = op_rec(o, NULL);
	/* Parsed again into the record's table: its spans are x->resp's. */
	body = dalle_big_parse(&o->big, x->resp.p ? x->resp.p : "",
	    x->resp.len);
	if (dalle_record_str(body, "status") == NULL) {
		rc = dalle_loop_fail(lp, o->id, rec, dalle_record_error("poll",
		    DALLE_KIND_PROTOCOL, x->status, NULL, "no \"status\" in "
		    "the response", 0, x->attempts), &o->big);
		jv_free(body);
		goto done;
	}
	rec = dalle_responses_record(rec, body, o->polls, &e);
	jv_free(body);
	if (jv_is_valid(e))
		rc = dalle_loop_fail(lp, o->id, rec, e, &o->big);
	else {
		jv_free(e);
		rec = dalle_cost_add(rec, jv_null());
		dalle_loop_write(lp, o->id, rec, &o->big);
		rc = 0;
	}
done:
	op_free(o);
	dalle_http_xfer_free(x);
	return rc;
}

static int
on_done(struct dalle_loop *lp, struct dalle_xfer *x)
{
	struct op *o = x->udata;
	const char *status = NULL, *code, *msg;
	jv body = jv_null(), rec, v, e;
	int64_t now;
	long delay;
	int rc = 0, images;

	/* A batch's transfer carries its batch, not an op. */
	if (batch_owns(o))
		return batch_done(lp, x);
	if (o->response)
		return response_done(lp, x, o);
	o->polls++;
	if (x->result != CURLE_OK || x->status != 200) {
		e = dalle_http_xfer_error(x, "poll");
		if (x->status == 404)
			e = jv_object_set(e, jv_string("message"), jv_string(
			    "the operation is gone (expired or deleted)"));
		goto failed;
	}
	body = jv_parse_sized(x->resp.p ? x->resp.p : "", (int)x->resp.len);
	if ((status = dalle_record_str(body, "status")) == NULL) {
		e = dalle_record_error("poll", DALLE_KIND_PROTOCOL, x->status,
		    NULL, "no \"status\" in the operation", 0, x->attempts);
		goto failed;
	}
	if (!final_status(status) && strcmp(status, "notRunning") != 0 &&
	    strcmp(status, "running") != 0) {
		e = dalle_record_errorf("poll", DALLE_KIND_PROTOCOL,
		    "the operation's status \"%.60s\" is not one the service "
		    "documents", status);
		goto failed;
	}
	if (!final_status(status)) {
		now = dalle_now_ms();
		if (now >= o->deadline) {
			e = dalle_record_error("poll", DALLE_KIND_TIMEOUT, 0,
			    NULL, "still not finished when the timeout came",
			    1, o->polls);
			goto failed;
		}
		delay = x->hint.retry_after_ms >= 0 ? x->hint.retry_after_ms :
		    interval_ms;
		if (delay < POLL_MIN_MS)
			delay = POLL_MIN_MS;
		/* The last look, at the deadline, skips the poll cap: -t
		 * bounds the time, however many operations there are. */
		if (delay < o->deadline - now)
			schedule(lp, o, x->url, delay, 1);
		else
			schedule(lp, o, x->url, (long)(o->deadline - now), 0);
		jv_free(body);
		dalle_http_xfer_free(x);
		return 0;
	}
	rec = op_rec(o, status);
	set_number(&rec, body, "created");
	set_number(&rec, body, "expires");
	/* result.data as the spec has it; top-level data as one doc does. */
	e = dalle_record_get(body, "result");
	v = dalle_record_get(e, "data");
	jv_free(e);
	if (jv_get_kind(v) != JV_KIND_ARRAY) {
		jv_free(v);
		v = dalle_record_get(body, "data");
	}
	images = jv_get_kind(v) == JV_KIND_ARRAY ?
	    jv_array_length(jv_copy(v)) : 0;
	if (jv_get_kind(v) == JV_KIND_ARRAY)
		rec = jv_object_set(rec, jv_string("data"), v);
	else
		jv_free(v);
	if (strcmp(status, "succeeded") == 0 && images > 0) {
		rec = dalle_cost_add(rec, jv_null());
		dalle_loop_write(lp, o->id, rec, &o->big);
		goto done;
	}
	if (strcmp(status, "succeeded") == 0) {
		/* Success with nothing to show is no success. */
		e = dalle_record_error("poll", DALLE_KIND_PROTOCOL, x->status,
		    NULL, "the operation succeeded with no images", 1,
		    o->polls);
		rc = dalle_loop_fail(lp, o->id, rec, e, &o->big);
		goto done;
	}
	v = dalle_record_get(body, "error");
	code = dalle_record_str(v, "code");
	msg = dalle_record_str(v, "message");
	e = dalle_record_error("poll", code && strcmp(code, "contentFilter") ==
	    0 ? DALLE_KIND_CONTENT_FILTER : DALLE_KIND_FAILED, 0, code,
	    msg ? msg : status, 0, o->polls);
	jv_free(v);
	rc = dalle_loop_fail(lp, o->id, rec, e, &o->big);
	goto done;
failed:
	rc = dalle_loop_fail(lp, o->id, op_rec(o, status), e, &o->big);
done:
	jv_free(body);
	dalle_big_free(&o->big);
	free(o->raw);
	free(o);
	dalle_http_xfer_free(x);
	return rc;
}

int
main(int argc, char *argv[])
{
	struct dalle_loop lp;
	struct dalle_rate *rate;
	long long num;
	size_t n;
	int ch, rc;
	char *why;

	dalle_conf_init(&conf, "dalle-poll");
	conf.jobs = 16;
	while ((ch = dalle_conf_getopt(&conf, argc, argv, "hj:qt:v",
	    longopts)) != -1) {
		switch (ch) {
		case 'h':
			usage(stdout, 0);
			break;
		case 't':
			if (dalle_strtonum(optarg, 1, 7 * 86400, &num) == -1)
				errx(DALLE_EX_USAGE, "-t: %s: not a number of "
				    "seconds from 1 to 604800", optarg);
			timeout_ms = (long)num * 1000;
			timeout_given = 1;
			break;
		case OPT_INTERVAL:
			if (dalle_strtonum(optarg, 1, 3600, &num) == -1)
				errx(DALLE_EX_USAGE, "--interval: %s: not a "
				    "number of seconds from 1 to 3600", optarg);
			interval_ms = (long)num * 1000;
			interval_given = 1;
			break;
		case OPT_CANCEL:
			cancel = 1;
			break;
		case OPT_POLL_RATE:
			if (dalle_rate_parse(optarg, &polls_per_min) == -1 ||
			    strchr(optarg, '/') == NULL)
				errx(DALLE_EX_USAGE, "--poll-rate: %s: not a "
				    "rate such as 100/s", optarg);
			break;
		default:
			usage(stderr, DALLE_EX_USAGE);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0 && isatty(STDIN_FILENO))
		usage(stderr, DALLE_EX_USAGE);
	dalle_input_operands("dalle-poll", argc, argv, NULL);
	dalle_conf_finish(&conf, 0);
	if (dalle_cost_init(&why) == -1)
		errx(DALLE_EX_CONFIG, "%s", why);

	/* One cap on polls a second over all operations, this process's:
	 * at most so many in any one second, so that the operations a
	 * burst of submits started are polled in one burst too. */
	n = polls_per_min >= 60 ? (size_t)(polls_per_min / 60) : 1;
	/* At most n polls in any window of n / rate seconds (rounded up). */
	rate = dalle_rate_window(n, (int64_t)(n * 60000 / polls_per_min) + 1);
	memset(&lp, 0, sizeof(lp));
	/* Operations wait on timers, not slots: hold many, cheaply. */
	lp.max_pending = 100000;
	lp.line = on_line;
	lp.done = on_done;
	lp.stage = "poll";
	lp.max_line = DALLE_INPUT_RECORD_MAX_LINE;
	rc = dalle_loop_main(&lp, &conf, rate, argc, argv);
	dalle_rate_close(rate);
	return rc;
}
