/*
 * dalle-submit: prompts (operands, else one per stdin line: plain text or
 * a JSON object with "prompt" and API fields) -> one request each -> one
 * JSON record per prompt on stdout: the operation for asynchronous APIs,
 * the finished result for synchronous ones, or an "error" object.
 * Exits 0 when every record succeeded, else the first failure's status.
 */
#include <err.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dalle.h"

enum {
	OPT_QUALITY = DALLE_OPT_FIRST_FREE, OPT_STYLE, OPT_RESPONSE_FORMAT,
	OPT_OUTPUT_FORMAT, OPT_OUTPUT_COMPRESSION, OPT_BACKGROUND, OPT_USER,
	OPT_DRY_RUN, OPT_NO_VALIDATE, OPT_RATE, OPT_RATE_FILE,
	OPT_COMPLEXITY, OPT_MODERATION, OPT_SAFETY_ID, OPT_TODAY,
	OPT_LIST_MODELS, OPT_IMAGE, OPT_MASK, OPT_PARTIAL_IMAGES,
	OPT_PARTIAL_DIR, OPT_RESPONSES_MODEL, OPT_BATCH, OPT_BATCH_SIZE,
	OPT_JOURNAL, OPT_REBATCH
};

/*
 * The options that set a request field for every prompt: a string as
 * given, or a number in [min, max] (min < max).
 */
static const struct field_opt {
	const char *name;         /* the long option */
	int ch;                   /* its getopt code */
	const char *field;        /* the request field */
	long long min, max;
} field_opts[] = {
	{ "n", 'n', "n", 1, 10 },
	{ "size", 's', "size", 0, 0 },
	{ "quality", OPT_QUALITY, "quality", 0, 0 },
	{ "style", OPT_STYLE, "style", 0, 0 },
	{ "response-format", OPT_RESPONSE_FORMAT, "response_format", 0, 0 },
	{ "output-format", OPT_OUTPUT_FORMAT, "output_format", 0, 0 },
	{ "output-compression", OPT_OUTPUT_COMPRESSION, "output_compression",
	    0, 100 },
	{ "background", OPT_BACKGROUND, "background", 0, 0 },
	{ "user", OPT_USER, "user", 0, 0 },
	{ "complexity", OPT_COMPLEXITY, "complexity", 0, 0 },
	{ "moderation", OPT_MODERATION, "moderation", 0, 0 },
	{ "safety-identifier", OPT_SAFETY_ID, "safety_identifier", 0, 0 },
	{ "partial-images", OPT_PARTIAL_IMAGES, "partial_images", 0, 3 },
};
#define NFIELD_OPTS (sizeof(field_opts) / sizeof(field_opts[0]))

/* The other options; field_opts go after them in longopts. */
static const struct option other_opts[] = {
	DALLE_CONF_LONGOPTS,
	{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
	{ "no-validate", no_argument, NULL, OPT_NO_VALIDATE },
	{ "rate", required_argument, NULL, OPT_RATE },
	{ "rate-file", required_argument, NULL, OPT_RATE_FILE },
	{ "today", required_argument, NULL, OPT_TODAY },
	{ "list-models", no_argument, NULL, OPT_LIST_MODELS },
	{ "image", required_argument, NULL, OPT_IMAGE },
	{ "mask", required_argument, NULL, OPT_MASK },
	{ "partial-dir", required_argument, NULL, OPT_PARTIAL_DIR },
	{ "responses-model", required_argument, NULL, OPT_RESPONSES_MODEL },
	{ "batch", no_argument, NULL, OPT_BATCH },
	{ "batch-size", required_argument, NULL, OPT_BATCH_SIZE },
	{ "directory", required_argument, NULL, 'd' },
	{ "output", required_argument, NULL, 'o' },
	{ "journal", required_argument, NULL, OPT_JOURNAL },
	{ "file", required_argument, NULL, 'f' },
	{ "rebatch", no_argument, NULL, OPT_REBATCH },
};
#define NOTHER_OPTS (sizeof(other_opts) / sizeof(other_opts[0]))

static struct option longopts[NOTHER_OPTS + NFIELD_OPTS + 1];

/* The request fields a record or an option may set. */
static const char *const api_fields[] = {
	"prompt", "n", "size", "quality", "style", "response_format",
	"output_format", "output_compression", "background", "user",
	"moderation", "complexity", "safety_identifier", "input_fidelity",
	"partial_images", NULL
};
/* The fields that choose the route. */
static const char *const route_fields[] = { "deployment", "model", NULL };

struct req {
	jv rec;
	struct dalle_big big;     /* rec's big strings, then the answer's */
	struct dalle_loop_id id;
	struct dalle_stream *stream;  /* a streamed answer's parse, or NULL */
	struct dalle_inflight inflight; /* sent once among journal sharers */
	int n;                    /* images asked for, and their format: */
	const char *ext;          /* ... to look for them again */
};

static struct dalle_conf conf;
static jv defaults;             /* request fields from the command line */
static int dry_run, no_validate;
static double rate_per_min;     /* --rate; 0: learn the pace from 429s */
static const char *rate_file;
static long today = -1;         /* --today, else the clock's */
static int today_given;
static char *images[DALLE_EDIT_MAX_IMAGES]; /* --image, for every prompt */
static size_t nimages;
static char *mask;              /* --mask */
static const char *partial_dir;  /* --partial-dir */
static const char *responses_model = DALLE_RESPONSES_MODEL;
static int batch_mode;          /* --batch */
static long long batch_size = DALLE_BATCH_MAX_LINES;   /* --batch-size */
static struct dalle_resume resume = { NULL, ".", NULL, 0, NULL };
static const char *journal_path;    /* --journal */
static int rebatch;             /* --rebatch */

static void
usage(FILE *fp, int rc)
{
	fputs("usage: dalle-submit [-hqv] [-j jobs] [-m model] [-n count] "
	    "[-s size]\n"
	    "\t[--deployment name] [--quality q] [--style s] "
	    "[--response-format f]\n"
	    "\t[--output-format f] [--output-compression 0-100] "
	    "[--background b]\n"
	    "\t[--complexity c] [--moderation m] [--safety-identifier id]\n"
	    "\t[--today yyyy-mm-dd] [--list-models]\n"
	    "\t[--user id] [--partial-images 0-3] [--partial-dir dir]\n"
	    "\t[--dry-run] [--no-validate] [--keep-order]\n"
	    "\t[--image file] [--mask file] [--responses-model model]\n"
	    "\t[--batch] [--batch-size n] [--rebatch]\n"
	    "\t[-d dir] [-o template] [--journal file]\n"
	    "\t[--rate n/min] [--rate-file file] [--api name] "
	    "[--endpoint url]\n"
	    "\t[--base-url url] [--api-version v] [--api-key-file file]\n"
	    "\t[--token-command cmd] [--allow-http] [--cacert file]\n"
	    "\t[--retries n] [--request-timeout s] [--max-line bytes]\n"
	    "\t[--version] [-f file | prompt ...]\n", fp);
	exit(rc);
}

static void
make_longopts(void)
{
	size_t i;

	memcpy(longopts, other_opts, sizeof(other_opts));
	for (i = 0; i < NFIELD_OPTS; i++)
		longopts[NOTHER_OPTS + i] = (struct option){ field_opts[i].name,
		    required_argument, NULL, field_opts[i].ch };
}

/* Apply option ch if it sets a request field: 1 if it does, else 0. */
static int
field_option(int ch, const char *arg)
{
	const struct field_opt *f;
	long long num;
	char flag[32];
	jv v;

	for (f = field_opts; f < field_opts + NFIELD_OPTS; f++)
		if (f->ch == ch)
			break;
	if (f == field_opts + NFIELD_OPTS)
		return 0;
	if (f->min < f->max) {
		if (f->ch < 256)
			snprintf(flag, sizeof(flag), "-%c", f->ch);
		else
			snprintf(flag, sizeof(flag), "--%s", f->name);
		if (dalle_strtonum(arg, f->min, f->max, &num) == -1)
			errx(DALLE_EX_USAGE, "%s: %s: not a number from %lld "
			    "to %lld", flag, arg, f->min, f->max);
		v = jv_number((double)num);
	} else
		v = jv_string(arg);
	defaults = jv_object_set(defaults, jv_string(f->field), v);
	return 1;
}

/* The request body for one record: options, then the record's fields. */
static jv
make_body(jv rec, enum dalle_api api, const char *name)
{
	jv body = jv_copy(defaults), v;
	size_t i;

	for (i = 0; api_fields[i]; i++) {
		v = dalle_record_get(rec, api_fields[i]);
		if (jv_get_kind(v) != JV_KIND_NULL)
			body = jv_object_set(body, jv_string(api_fields[i]), v);
		else
			jv_free(v);
	}
	if ((api == DALLE_API_OPENAI || api == DALLE_API_AZURE_V1 ||
	    api == DALLE_API_RESPONSES) && name)
		body = jv_object_set(body, jv_string("model"), jv_string(name));
	/* Partial images come only in a streamed answer. */
	v = dalle_record_get(body, "partial_images");
	if (jv_get_kind(v) != JV_KIND_NULL)
		body = jv_object_set(body, jv_string("stream"), jv_true());
	jv_free(v);
	return body;
}

static int
fail(struct dalle_loop *lp, struct dalle_loop_id id, jv rec,
    const struct dalle_big *big, jv e)
{
	const char *kind = dalle_record_str(e, "kind");
	/* A route the service does not know is a configuration mistake. */
	int config = kind && strcmp(kind, DALLE_KIND_NOT_FOUND) == 0;
	int rc = dalle_loop_fail(lp, id, rec, e, big);

	return config ? DALLE_EX_CONFIG : rc;
}

static enum dalle_provider
provider(enum dalle_api api)
{
	return dalle_api_service(&conf, api) == DALLE_API_OPENAI ?
	    DALLE_PROVIDER_OPENAI : DALLE_PROVIDER_AZURE;
}

/*
 * The lifecycle of m where url goes: an error object when it is shut
 * down there, else jv_invalid() after one warning per model for one that
 * shuts down within 30 days.  The dates hold on the live services; a
 * loopback server (dalle-serve, a proxy) answers for itself unless --today
 * was given.
 */
static jv
lifecycle(const struct dalle_model *m, enum dalle_api api, const char *url)
{
	static signed char loopback[DALLE_API_RESPONSES + 1];
	static unsigned char *warned;
	enum dalle_provider p = provider(api);
	enum dalle_life life;
	char msg[256];
	jv e;

	life = dalle_lifecycle_state(m, p, today, NULL);
	if (life == DALLE_LIFE_ACTIVE)
		return jv_invalid();
	if (!today_given) {
		if (loopback[api] == 0)
			loopback[api] = dalle_url_is_loopback(url) ? 1 : -1;
		if (loopback[api] == 1)
			return jv_invalid();
	}
	dalle_lifecycle_message(m, p, today, msg, sizeof(msg));
	if (life == DALLE_LIFE_RETIRED) {
		e = dalle_record_error("submit", DALLE_KIND_RETIRED, 0,
		    "model_not_found", msg, 0, 0);
		e = jv_object_set(e, jv_string("shutdown_date"),
		    jv_string(m->shutdown[p]));
		return jv_object_set(e, jv_string("replacement"),
		    *m->replacement ? jv_string(m->replacement) : jv_null());
	}
	if (warned == NULL)
		warned = dalle_xcalloc(dalle_model_count(), 1);
	if (!warned[m - dalle_model_at(0)] && !conf.quiet)
		warnx("warning: %s", msg);
	warned[m - dalle_model_at(0)] = 1;
	return jv_invalid();
}

/* -v: a model the table lacks is sent unchecked; said once in a row. */
static void
note_unknown(const char *name)
{
	static char *last;

	if (!conf.verbose || (last != NULL && strcmp(last, name) == 0))
		return;
	warnx("%s: not in the model table: sent unchecked", name);
	free(last);
	last = dalle_xstrdup(name);
}

#define AZURE_NO_BATCH "OpenAI only: no image model runs in Azure's " \
	"Global Batch"

/* The lines of one model and endpoint, in a temporary file as they
 * come (unlinked at once: its descriptor is all there is of it). */
struct group {
	char *model, *endpoint;
	FILE *fp;
};
static struct group *groups;
static size_t ngroups;

/* A record held for its batch, and where its line is. */
struct held {
	jv rec;
	struct dalle_big big;
	struct dalle_loop_id id;
	char *cid;
	size_t group;
	off_t off;
	size_t len;
	int done;
};
static struct held *held;
static size_t nheld, capheld;
static jv seen;                 /* hash: how many times so far */

/* The group of model and endpoint ep, made if need be. */
static size_t
group_of(const char *model, const char *ep)
{
	char *tmp;
	size_t g;
	int fd;

	for (g = 0; g < ngroups; g++)
		if (strcmp(groups[g].model, model) == 0 &&
		    strcmp(groups[g].endpoint, ep) == 0)
			return g;
	groups = dalle_xrealloc(groups, (ngroups + 1) * sizeof(*groups));
	if ((fd = dalle_temp_private(".jsonl", &tmp)) == -1 ||
	    (groups[g].fp = fdopen(fd, "w+")) == NULL)
		err(DALLE_EX_IOERR, "a temporary file in $TMPDIR");
	unlink(tmp);
	dalle_temp_done(tmp);
	groups[g].model = dalle_xstrdup(model);
	groups[g].endpoint = dalle_xstrdup(ep);
	ngroups++;
	return g;
}

/* Held line h, n bytes of it from off, into fp. */
static int
line_copy(const struct held *h, FILE *fp)
{
	char buf[65536];
	size_t k, left = h->len;
	off_t at = h->off;
	ssize_t r;
	int fd = fileno(groups[h->group].fp);

	for (; left > 0; left -= (size_t)r, at += r) {
		k = left < sizeof(buf) ? left : sizeof(buf);
		if ((r = pread(fd, buf, k, at)) <= 0 ||
		    fwrite(buf, 1, (size_t)r, fp) != (size_t)r)
			return -1;
	}
	return 0;
}

/*
 * Hold rec (its big strings kept) for the batch written at the end, its
 * line appended to its group's file.  Its custom_id is the request's
 * hash, and for the k-th repeat of the same request in the input "-k":
 * the same input gives the same ids.
 */
static void
batch_hold(struct dalle_loop *lp, jv rec, struct dalle_big *big,
    jv request, const struct dalle_buf *body, const char *model,
    const char *url)
{
	const char *hash = dalle_record_str(request, "hash");
	const char *ep = strstr(url, "/images/edits") ?
	    "/v1/images/edits" : "/v1/images/generations";
	struct dalle_buf line = { 0 };
	struct held *h;
	FILE *fp;
	double k;
	jv v;

	if (!jv_is_valid(seen))
		seen = jv_object();
	v = jv_object_get(jv_copy(seen), jv_string(hash));
	k = jv_get_kind(v) == JV_KIND_NUMBER ? jv_number_value(v) : 0;
	jv_free(v);
	seen = jv_object_set(seen, jv_string(hash), jv_number(k + 1));
	if (nheld == capheld) {
		capheld = capheld ? capheld * 2 : 64;
		held = dalle_xrealloc(held, capheld * sizeof(*held));
	}
	h = &held[nheld++];
	memset(h, 0, sizeof(*h));
	h->cid = k > 0 ? dalle_xasprintf("%s-%.0f", hash, k) :
	    dalle_xstrdup(hash);
	h->group = group_of(model ? model : "", ep);
	h->id = lp->cur;
	dalle_buf_adds(&line, "{\"custom_id\":\"");
	dalle_buf_adds(&line, h->cid);
	dalle_buf_adds(&line, "\",\"method\":\"POST\",\"url\":\"");
	dalle_buf_adds(&line, ep);
	dalle_buf_adds(&line, "\",\"body\":");
	dalle_buf_add(&line, body->p, body->len);
	dalle_buf_adds(&line, "}\n");
	fp = groups[h->group].fp;
	if (fseeko(fp, 0, SEEK_END) == -1 || (h->off = ftello(fp)) == -1 ||
	    fwrite(line.p, 1, line.len, fp) != line.len)
		err(DALLE_EX_IOERR, "a temporary file in $TMPDIR");
	h->len = line.len;
	dalle_buf_free(&line);
	h->rec = jv_object_set(rec, jv_string("request"), request);
	h->big = *big;
	memset(big, 0, sizeof(*big));
	dalle_big_keep(&h->big, h->rec);
}

/* Write held record h with its operation in batch b (an object with
 * "id" and "status"), or fail it with e (consumed) when b is invalid. */
static int
batch_put(struct dalle_loop *lp, struct held *h, jv b, jv e)
{
	char *url, *what;
	jv op;
	int rc = 0;

	if (!jv_is_valid(b))
		rc = fail(lp, h->id, h->rec, &h->big, e);
	else {
		what = dalle_xasprintf("batches/%s", dalle_record_str(b, "id"));
		url = dalle_api_url(&conf, DALLE_API_OPENAI, NULL, what);
		op = JV_OBJECT(jv_string("kind"), jv_string("openai-batch"),
		    jv_string("batch"), dalle_record_get(b, "id"),
		    jv_string("custom_id"), jv_string(h->cid),
		    jv_string("url"), jv_string(url));
		free(url);
		free(what);
		h->rec = jv_object_set(h->rec, jv_string("operation"), op);
		h->rec = jv_object_set(h->rec, jv_string("status"),
		    dalle_record_get(b, "status"));
		dalle_loop_write(lp, h->id, h->rec, &h->big);
	}
	h->rec = jv_null();
	dalle_big_free(&h->big);
	h->done = 1;
	return rc;
}

/* --dry-run: the record with its batch line and the upload it joins. */
static void
batch_show(struct dalle_loop *lp, struct held *h, int file, size_t lines,
    size_t bytes)
{
	char *url = dalle_api_url(&conf, DALLE_API_OPENAI, NULL, "files");
	jv req = dalle_record_get(h->rec, "request"), up, bl;
	char *line = dalle_xmalloc(h->len + 1);

	if (pread(fileno(groups[h->group].fp), line, h->len, h->off) !=
	    (ssize_t)h->len)
		err(DALLE_EX_IOERR, "a temporary file in $TMPDIR");
	up = JV_OBJECT(jv_string("url"), jv_string(url),
	    jv_string("file"), jv_number(file),
	    jv_string("purpose"), jv_string("batch"),
	    jv_string("endpoint"), jv_string(groups[h->group].endpoint),
	    jv_string("lines"), jv_number((double)lines),
	    jv_string("bytes"), jv_number((double)bytes),
	    jv_string("cost"), jv_string("batch: half the synchronous price"));
	free(url);
	req = jv_object_set(req, jv_string("batch_line"),
	    jv_parse_sized(line, (int)h->len));
	bl = jv_getpath(jv_copy(req), JV_ARRAY(jv_string("batch_line"),
	    jv_string("body")));
	h->rec = dalle_cost_estimate(h->rec, *groups[h->group].model ?
	    groups[h->group].model : NULL, bl, 1);
	jv_free(bl);
	free(line);
	req = jv_object_set(req, jv_string("upload"), up);
	h->rec = jv_object_set(h->rec, jv_string("request"), req);
	dalle_loop_write(lp, h->id, h->rec, &h->big);
	h->rec = jv_null();
	dalle_big_free(&h->big);
	h->done = 1;
}

/* One batch of held[v[0..n-1]]: its file written, uploaded, created. */
static int
batch_send(struct dalle_loop *lp, const size_t *v, size_t n, int file)
{
	char *path = NULL, *fid = NULL;
	size_t i, bytes = 0;
	jv e = jv_invalid(), b = jv_invalid();
	FILE *fp = NULL;
	int fd, rc = 0, r;

	for (i = 0; i < n; i++)
		bytes += held[v[i]].len;
	if (dry_run) {
		for (i = 0; i < n; i++)
			batch_show(lp, &held[v[i]], file, n, bytes);
		return 0;
	}
	if ((fd = dalle_temp_private(".jsonl", &path)) == -1 ||
	    (fp = fdopen(fd, "w")) == NULL)
		e = dalle_record_errorf("submit", DALLE_KIND_IO,
		    "cannot create a temporary file in $TMPDIR");
	for (i = 0; fp != NULL && i < n; i++)
		if (line_copy(&held[v[i]], fp) == -1 &&
		    !jv_is_valid(e))
			e = dalle_record_errorf("submit", DALLE_KIND_IO,
			    "%s: cannot write", path);
	if (fp != NULL && fclose(fp) == EOF && !jv_is_valid(e))
		e = dalle_record_errorf("submit", DALLE_KIND_IO,
		    "%s: cannot write", path);
	if (!jv_is_valid(e))
		fid = dalle_batch_upload(lp->http, &conf, path, &e);
	if (path != NULL) {
		unlink(path);
		dalle_temp_done(path);
	}
	if (fid != NULL && dalle_interrupted())
		e = dalle_interrupt_error("submit", dalle_interrupted(), 0, 0);
	else if (fid != NULL)
		b = dalle_batch_create(lp->http, &conf, fid,
		    groups[held[v[0]].group].endpoint, &e);
	free(fid);
	for (i = 0; i < n; i++) {
		r = batch_put(lp, &held[v[i]], b, jv_is_valid(b) ?
		    jv_invalid() : jv_copy(e));
		if (r != 0 && rc == 0)
			rc = r;
	}
	jv_free(b);
	jv_free(e);
	return rc;
}

/*
 * The end of the input: the lines already batched (see
 * dalle_batch_inflight) point at their batch, unless --rebatch; the
 * others go in new batches, one model and endpoint each, at most
 * --batch-size lines and 200 MB.
 */
static int
batch_end(struct dalle_loop *lp)
{
	size_t i, j, g, n, *v;
	long long bytes;
	jv inflight = jv_object(), e = jv_invalid(), got, want;
	int rc = 0, r, file = 0;

	if (nheld == 0)
		return 0;
	if (!dry_run && !rebatch) {
		want = jv_object();
		for (i = 0; i < nheld; i++)
			want = jv_object_set(want, jv_string(held[i].cid),
			    jv_true());
		for (g = 0; g < ngroups; g++)
			fflush(groups[g].fp);
		jv_free(inflight);
		inflight = dalle_batch_inflight(lp->http, &conf, want, &e);
		jv_free(want);
	}
	for (i = 0; i < nheld; i++) {
		if (!jv_is_valid(inflight)) {
			r = batch_put(lp, &held[i], jv_invalid(), jv_copy(e));
			rc = rc ? rc : r;
			continue;
		}
		got = jv_object_get(jv_copy(inflight),
		    jv_string(held[i].cid));
		if (jv_get_kind(got) == JV_KIND_OBJECT) {
			got = jv_object_set(got, jv_string("id"),
			    dalle_record_get(got, "batch"));
			batch_put(lp, &held[i], got, jv_invalid());
		}
		jv_free(got);
	}
	for (g = 0; g < ngroups; g++)
		if (fflush(groups[g].fp) == EOF)
			err(DALLE_EX_IOERR, "a temporary file in $TMPDIR");
	v = dalle_xcalloc(nheld, sizeof(*v));
	for (i = 0; i < nheld; i++) {
		if (held[i].done)
			continue;
		n = 0;
		bytes = 0;
		for (j = i; j < nheld; j++) {
			if (held[j].done || held[j].group != held[i].group)
				continue;
			if ((long long)n == batch_size || bytes +
			    (long long)held[j].len > DALLE_BATCH_MAX_BYTES)
				break;
			bytes += (long long)held[j].len;
			v[n++] = j;
		}
		if (n == 0)             /* one line over 200 MB: refused */
			v[n++] = i;
		r = batch_send(lp, v, n, ++file);
		rc = rc ? rc : r;
	}
	for (i = 0; i < nheld; i++)
		free(held[i].cid);
	for (g = 0; g < ngroups; g++) {
		fclose(groups[g].fp);
		free(groups[g].model);
		free(groups[g].endpoint);
	}
	free(groups);
	free(v);
	free(held);
	/* A signal after this: nothing held any more (batch_interrupted). */
	groups = NULL;
	ngroups = 0;
	held = NULL;
	nheld = capheld = 0;
	jv_free(inflight);
	jv_free(e);
	jv_free(seen);
	return rc;
}

/* A signal before the batches were sent: the records held for them. */
static int
batch_interrupted(struct dalle_loop *lp, int sig)
{
	size_t i;
	int rc = 0, r;

	for (i = 0; i < nheld; i++) {
		if (held[i].done)
			continue;
		r = dalle_loop_unfinished(lp, held[i].id, held[i].rec,
		    &held[i].big, sig);
		if (rc == 0)
			rc = r;
		held[i].rec = jv_null();
		held[i].done = 1;
	}
	return rc;
}

/* A piece of a streamed answer. */
static int
on_chunk(struct dalle_xfer *x, const char *p, size_t n)
{
	struct req *r = x->udata;

	return dalle_stream_feed(r->stream, x->attempts, p, n);
}

/* --api responses: what the image tool cannot take, checked before
 * any request (edits, n > 1); an error object or jv_invalid().  Borrows
 * rec and body. */
static jv
responses_refusal(jv rec, jv body)
{
	struct dalle_model_err me;
	jv v = dalle_record_get(rec, "image");

	if (nimages > 0 || jv_get_kind(v) != JV_KIND_NULL) {
		jv_free(v);
		return dalle_record_errorf("submit", DALLE_KIND_CONFIG,
		    "--api responses makes new images only: no edits");
	}
	jv_free(v);
	if (no_validate || dalle_responses_check(body, &me) == 0)
		return jv_invalid();
	v = dalle_record_error("submit", DALLE_KIND_INVALID, 0, me.code,
	    me.message, 0, 0);
	return jv_object_set(v, jv_string("param"), jv_string(me.param));
}

/*
 * Is the request of rec already done (its images on disk) or accepted
 * (in the journal)?  Then its record is written and 1 returned.  Not in
 * a batch: a batch journals nothing of its own.
 */
static int
images_of(jv body)
{
	jv v = dalle_record_get(body, "n");
	int n = jv_get_kind(v) == JV_KIND_NUMBER ? (int)jv_number_value(v) :
	    1;

	jv_free(v);
	return n < 1 ? 1 : n;
}

static int
skip_done(struct dalle_loop *lp, jv *rec, const struct dalle_big *big,
    jv *request, jv body)
{
	struct dalle_resume rs = resume;

	if (batch_mode)
		rs.journal = NULL;
	return dalle_resume_check(&rs, lp, rec, big, request, images_of(body),
	    dalle_name_guess_ext(body, NULL));
}

/* Before each attempt: is another process sending the same request? */
static int
gate(struct dalle_xfer *x)
{
	struct req *r = x->udata;
	int64_t was = r->inflight.until;
	int g = dalle_inflight_gate(&r->inflight);

	if (g > 0 && was == 0 && !conf.quiet)
		warnx("line %ld: another process sharing the journal is "
		    "sending this request: waiting for its answer",
		    r->id.lineno);
	return g;
}

/*
 * The request of x was not sent: another process sharing the journal
 * sent it.  Its answer is written as a resumed record, or the request is
 * sent after all (-1) when that process failed or its answer is gone; or
 * it is still sending: a timeout record.  The status, or -1.
 */
static int
waited(struct dalle_loop *lp, struct dalle_xfer *x)
{
	struct req *r = x->udata;
	jv req = dalle_record_get(r->rec, "request");
	int rc = 0;

	if (r->inflight.answered && dalle_resume_lookup(&resume, lp, r->id,
	    r->rec, &r->big, req, r->n, r->ext))
		jv_free(r->rec);
	else if (r->inflight.answered) {
		r->inflight.answered = 0;
		dalle_http_start(lp->http, x);
		jv_free(req);
		return -1;
	} else
		rc = fail(lp, r->id, r->rec, &r->big, dalle_record_error(
		    "submit", DALLE_KIND_TIMEOUT, 0, NULL, "another process "
		    "sharing the journal was still sending this request when "
		    "the request timeout came", 1, 0));
	jv_free(req);
	return rc;
}

/* -1 when a request was started, with big in it, else the status. */
static int
send_one(struct dalle_loop *lp, jv rec, struct dalle_big *big)
{
	const char *dep, *model, *name, *check;
	const struct dalle_model *m;
	struct dalle_model_err me;
	struct dalle_form *form = NULL;
	struct dalle_edit ed;
	struct dalle_xfer *x;
	struct req *r;
	enum dalle_api api;
	struct dalle_buf s = { 0 };
	char *url, hash[17];
	int json, streamed;
	jv body, request, e, v;

	/* "cost" is this stage's: an input's (an estimate, say) goes. */
	rec = jv_object_delete(rec, jv_string("cost"));
	dep = dalle_record_str(rec, "deployment");
	if (dep == NULL)
		dep = conf.deployment;
	model = dalle_record_str(rec, "model");
	if (model == NULL)
		model = conf.model;
	api = dalle_api_choose(&conf, dep, model);
	if (api == DALLE_API_RESPONSES && model == NULL && dep == NULL)
		model = DALLE_RESPONSES_IMAGE_MODEL;
	name = dep ? dep : model;
	if (api == DALLE_API_AUTO)
		return fail(lp, lp->cur, rec, big, dalle_record_errorf("submit",
		    DALLE_KIND_CONFIG, "no API configured"));
	if (api == DALLE_API_AZURE && name == NULL)
		return fail(lp, lp->cur, rec, big, dalle_record_errorf("submit",
		    DALLE_KIND_CONFIG, "--api azure needs a deployment"));
	if (batch_mode && api != DALLE_API_OPENAI)
		return fail(lp, lp->cur, rec, big, dalle_record_errorf("submit",
		    DALLE_KIND_CONFIG, AZURE_NO_BATCH));
	body = make_body(rec, api, name);
	url = dalle_api_url(&conf, api, name, api == DALLE_API_RESPONSES ?
	    "responses" : "images/generations");
	v = dalle_record_get(body, "stream");
	streamed = jv_get_kind(v) == JV_KIND_TRUE &&
	    api != DALLE_API_RESPONSES;
	jv_free(v);
	if (batch_mode && streamed) {
		jv_free(body);
		free(url);
		return fail(lp, lp->cur, rec, big, dalle_record_error("submit",
		    DALLE_KIND_INVALID, 0, "streaming_unsupported",
		    "Streaming is not supported in the Batch API.", 0, 0));
	}

	/* Check against the model's rules before a request is spent. */
	check = model ? model : dep;
	if (api == DALLE_API_AZURE_ASYNC ||
	    (api == DALLE_API_OPENAI && check == NULL))
		check = "dall-e-2";
	m = check ? dalle_model_find(check) : NULL;
	if (m == NULL && check != NULL)
		note_unknown(check);
	e = m && !no_validate ? lifecycle(m, api, url) : jv_invalid();
	if (m && !no_validate && !jv_is_valid(e) &&
	    dalle_model_check(m, body, provider(api), &me) == -1) {
		e = dalle_record_error("submit", DALLE_KIND_INVALID, 0,
		    me.code, me.message, 0, 0);
		if (me.param)
			e = jv_object_set(e, jv_string("param"),
			    jv_string(me.param));
	}
	if (api == DALLE_API_RESPONSES && !jv_is_valid(e))
		e = responses_refusal(rec, body);
	if (jv_is_valid(e)) {
		jv_free(body);
		free(url);
		return fail(lp, lp->cur, rec, big, e);
	}
	jv_free(e);

	/* An edit: its input files read and checked before any request. */
	json = batch_mode || dalle_edit_json_form(api, check);
	if (dalle_edit_gather(&ed, rec, images, nimages, mask, &e) == -1 ||
	    (ed.n > 0 && dalle_edit_check(&ed, api, check, json, rec, &body,
	    &e) == -1)) {
		dalle_edit_free(&ed);
		jv_free(body);
		free(url);
		return fail(lp, lp->cur, rec, big, e);
	}
	if (ed.n > 0) {
		free(url);
		url = dalle_api_url(&conf, api, name, "images/edits");
	}
	if (api == DALLE_API_RESPONSES)
		body = dalle_responses_body(body, responses_model);
	/* Serialised once: for the hash and as the body sent.  The hash
	 * covers an edit's inputs by their sha256. */
	dalle_json_put_big(&s, body, big);
	snprintf(hash, sizeof(hash), "%016llx", (unsigned long long)
	    dalle_hash(s.p, s.len, dalle_edit_hash(&ed,
	    dalle_hash(url, strlen(url), 0))));
	hash[12] = '\0';
	request = jv_object_set(jv_object(), jv_string("api"),
	    jv_string(dalle_api_name(api)));
	request = jv_object_set(request, jv_string("url"), jv_string(url));
	request = jv_object_set(request, jv_string("hash"), jv_string(hash));
	if (check)
		request = jv_object_set(request, jv_string("model"),
		    jv_string(check));
	if (skip_done(lp, &rec, big, &request, body)) {
		dalle_edit_free(&ed);
		dalle_buf_free(&s);
		jv_free(body);
		jv_free(request);
		jv_free(rec);
		free(url);
		return 0;
	}
	if (ed.n > 0) {
		request = jv_object_set(request, jv_string("encoding"),
		    jv_string(json ? "json" : "multipart"));
		rec = jv_object_set(rec, jv_string("inputs"),
		    dalle_edit_inputs(&ed));
		if (json) {
			body = dalle_edit_json(body, &ed, dry_run, &e);
			if (!jv_is_valid(body)) {
				dalle_edit_free(&ed);
				free(url);
				dalle_buf_free(&s);
				jv_free(request);
				return fail(lp, lp->cur, rec, big, e);
			}
			dalle_buf_reset(&s);
			dalle_json_put_big(&s, body, big);
		} else
			form = dalle_edit_form(body, &ed);
	}
	dalle_edit_free(&ed);

	if (batch_mode) {
		batch_hold(lp, rec, big, request, &s, check, url);
		dalle_buf_free(&s);     /* batch_hold copied it */
		jv_free(body);
		free(url);
		return -1;
	}
	if (dry_run) {
		jv h = jv_array_append(jv_array(), jv_string(form ?
		    "Content-Type: multipart/form-data; boundary=[curl's]" :
		    "Content-Type: application/json"));

		h = jv_array_append(h, jv_string(dalle_api_service(&conf,
		    api) == DALLE_API_OPENAI || conf.token ?
		    "Authorization: Bearer [redacted]" :
		    "api-key: [redacted]"));
		request = jv_object_set(request, jv_string("method"),
		    jv_string("POST"));
		request = jv_object_set(request, jv_string("headers"), h);
		rec = dalle_cost_estimate(rec, check, body, 0);
		/* A form as its parts: names, files, sizes, never bytes. */
		if (form) {
			jv_free(body);
			body = dalle_form_describe(form);
			dalle_form_free(form);
		}
		request = jv_object_set(request, jv_string("body"), body);
		dalle_loop_write(lp, lp->cur, jv_object_set(rec,
		    jv_string("request"), request), big);
		free(url);
		dalle_buf_free(&s);
		return 0;
	}
	x = dalle_http_xfer_new("POST", url);
	free(url);
	if (form) {
		dalle_http_xfer_form(x, form);
		dalle_buf_free(&s);
	} else
		dalle_http_xfer_body(x, &s);
	x->headers = dalle_api_auth(&conf, api, x->headers);
	r = dalle_xcalloc(1, sizeof(*r));
	r->n = images_of(body);
	r->ext = dalle_name_guess_ext(body, NULL);
	jv_free(body);
	if (resume.journal != NULL && dalle_record_str(request, "key")) {
		dalle_inflight_init(&r->inflight, resume.journal,
		    dalle_record_str(request, "key"), conf.timeout_ms);
		x->gate = gate;
	}
	r->rec = jv_object_set(rec, jv_string("request"), request);
	/* The record waits for its answer: the line it came in will not. */
	r->big = *big;
	dalle_big_keep(&r->big, r->rec);
	r->id = lp->cur;
	r->stream = NULL;
	if (streamed) {
		char *stem = partial_dir ? dalle_xasprintf("%s/%ld-%s",
		    partial_dir, r->id.lineno, hash) : NULL;

		r->stream = dalle_stream_new(&r->big, stem);
		free(stem);
		x->chunk = on_chunk;
	}
	x->udata = r;
	x->paced = 1;
	x->paid = 1;
	dalle_http_start(lp->http, x);
	return -1;
}

/* rec's request; big: its big strings (spans of the input line), which
 * submit keeps or frees. */
static int
submit(struct dalle_loop *lp, jv rec, struct dalle_big *big)
{
	int rc = send_one(lp, rec, big);

	if (rc != -1) {
		dalle_big_free(big);
		return rc;
	}
	return 0;
}

static int
on_line(struct dalle_loop *lp, char *s, size_t n)
{
	struct dalle_big big = { 0 };
	char *p = s, *why;
	int rc;
	jv rec;

	if (strcmp(lp->source, "stdin") == 0) {
		while (*p == ' ' || *p == '\t')
			p++;
	}
	if (strcmp(lp->source, "stdin") != 0 || *p != '{') {
		if ((why = dalle_input_text(NULL, s, n, jv_invalid())) != NULL) {
			rc = dalle_loop_bad_line(lp, "submit", s, why);
			free(why);
			return rc;
		}
		return submit(lp, jv_object_set(jv_object(),
		    jv_string("prompt"), jv_string_sized(s, (int)n)), &big);
	}
	rc = dalle_loop_take(lp, "submit", s, n, &rec, &big);
	if (rc != -1)
		return rc;
	/* What is checked and sent as text is text, however long. */
	rec = dalle_big_unlift_fields(&big, rec, api_fields);
	rec = dalle_big_unlift_fields(&big, rec, route_fields);
	if ((why = dalle_input_text(&big, s, n, rec)) != NULL ||
	    (why = dalle_input_types(rec)) != NULL ||
	    dalle_record_str(rec, "prompt") == NULL) {
		jv_free(rec);
		dalle_big_free(&big);
		rc = dalle_loop_bad_line(lp, "submit", s, why ? why :
		    "no \"prompt\" string in the object");
		free(why);
		return rc;
	}
	return submit(lp, rec, &big);
}

static int
on_done(struct dalle_loop *lp, struct dalle_xfer *x)
{
	struct req *r = x->udata;
	jv rec = r->rec, body = jv_null(), req, v;
	struct dalle_loop_id id = r->id;
	struct dalle_buf kept = { 0 };
	const char *opid, *why;
	int rc = 0;

	if (r->inflight.answered || r->inflight.timedout) {
		if ((rc = waited(lp, x)) == -1)
			return 0;       /* sent after all */
		rec = jv_null();
		goto out;
	}
	req = dalle_record_get(rec, "request");
	req = jv_object_set(req, jv_string("attempts"), jv_number(x->attempts));
	/* The service's name for this request: what a support ticket, and
	 * the image's provenance, quote. */
	if (x->request_id != NULL && strlen(x->request_id) <= 128)
		req = jv_object_set(req, jv_string("id"),
		    jv_string(x->request_id));
	rec = jv_object_set(rec, jv_string("request"), req);
	if (r->stream && dalle_stream_error(r->stream, "submit", x->status,
	    x->attempts, &v)) {
		rc = fail(lp, id, rec, &r->big, v);
		rec = jv_null();
		goto out;
	}
	if (x->result != CURLE_OK || x->status < 200 || x->status > 299) {
		rc = fail(lp, id, rec, &r->big, dalle_http_xfer_error(x,
		    "submit"));
		rec = jv_null();
		goto out;
	}
	/* The images' base64 stays in x->resp, and goes out from there. */
	body = r->stream ? dalle_stream_body(r->stream) :
	    dalle_big_parse(&r->big, x->resp.p ? x->resp.p : "",
	    x->resp.len);
	if (jv_get_kind(body) != JV_KIND_OBJECT) {
		rc = fail(lp, id, rec, &r->big, dalle_record_error("submit",
		    DALLE_KIND_PROTOCOL, x->status, NULL, r->stream ?
		    "the event stream ended without a completed event" :
		    "the answer is not a JSON object", 0, x->attempts));
		rec = jv_null();
		goto out;
	}
	if (dalle_record_str(body, "object") != NULL &&
	    strcmp(dalle_record_str(body, "object"), "response") == 0) {
		/* A background response: the operation to poll. */
		v = dalle_responses_operation(body, x->url);
		if (jv_is_valid(v)) {
			rec = jv_object_set(rec, jv_string("operation"), v);
			rec = jv_object_set(rec, jv_string("status"),
			    jv_string(dalle_record_str(body, "status") ?
			    dalle_record_str(body, "status") : "queued"));
		} else {
			rc = fail(lp, id, rec, &r->big, dalle_record_error(
			    "submit", DALLE_KIND_PROTOCOL, x->status, NULL,
			    "a response without an id", 0, x->attempts));
			rec = v;
			goto out;
		}
	} else if (x->status == 202) {
		/* Asynchronous: the operation to poll. */
		opid = dalle_record_str(body, "id");
		/* The key goes to dalle-poll's polls: only to where it
		 * went already. */
		why = opid == NULL || x->location == NULL ? "202 without an "
		    "operation id and operation-location" :
		    !dalle_url_same_origin(x->location, x->url) ?
		    "operation-location points at another host than the "
		    "endpoint" : NULL;
		if (why != NULL) {
			rc = fail(lp, id, rec, &r->big, dalle_record_error(
			    "submit", DALLE_KIND_PROTOCOL, x->status, NULL,
			    why, 0, x->attempts));
			rec = jv_null();
			goto out;
		}
		v = jv_object_set(jv_object(), jv_string("kind"),
		    jv_string("azure-image"));
		v = jv_object_set(v, jv_string("id"), jv_string(opid));
		v = jv_object_set(v, jv_string("url"), jv_string(x->location));
		/* When the service said to look: dalle-poll waits till then. */
		if (x->hint.retry_after_ms >= 0)
			v = jv_object_set(v, jv_string("poll_at"), jv_number(
			    (double)(dalle_wall_ms() + x->hint.retry_after_ms)));
		rec = jv_object_set(rec, jv_string("operation"), v);
		v = dalle_record_get(body, "status");
		rec = jv_object_set(rec, jv_string("status"),
		    jv_get_kind(v) == JV_KIND_STRING ? v :
		    (jv_free(v), jv_string("notRunning")));
	} else {
		v = dalle_record_get(body, "data");
		if (jv_get_kind(v) != JV_KIND_ARRAY) {
			jv_free(v);
			rc = fail(lp, id, rec, &r->big, dalle_record_error(
			    "submit", DALLE_KIND_PROTOCOL, x->status, NULL,
			    "no \"data\" array in the answer", 0, x->attempts));
			rec = jv_null();
			goto out;
		}
		if (jv_array_length(jv_copy(v)) == 0) {
			/* Success with nothing to show is no success. */
			jv_free(v);
			rc = fail(lp, id, rec, &r->big, dalle_record_error(
			    "submit", DALLE_KIND_PROTOCOL, x->status, NULL,
			    "the service answered with no images", 1,
			    x->attempts));
			rec = jv_null();
			goto out;
		}
		rec = dalle_batch_merge(rec, body, v);
		if (r->stream)
			rec = dalle_stream_record(r->stream, rec);
		rec = dalle_cost_add(rec, defaults);
	}
	/* A streamed answer is kept as the unstreamed one it stands for:
	 * its final images, once all came; its partials are not kept. */
	if (r->stream == NULL)
		dalle_resume_accepted(&resume, rec, x->resp.p ? x->resp.p :
		    "", x->resp.len);
	else if (resume.journal != NULL &&
	    dalle_stream_answer(r->stream, r->n, &kept) == 0)
		dalle_resume_accepted(&resume, rec, kept.p, kept.len);
	dalle_buf_free(&kept);
	dalle_loop_write(lp, id, rec, &r->big);
	rec = jv_null();
out:
	jv_free(rec);
	jv_free(body);
	dalle_inflight_free(&r->inflight);     /* journaled: others go on */
	dalle_big_free(&r->big);
	dalle_stream_free(r->stream);
	free(r);
	dalle_http_xfer_free(x);
	return rc;
}

/*
 * The budget shared by every dalle-submit spending the same quota: one
 * state file per endpoint and deployment (or model), unless --rate-file.
 */
static struct dalle_rate *
open_rate(void)
{
	struct dalle_rate *r;
	enum dalle_api api = dalle_api_choose(&conf, NULL, NULL);
	char *key, *path;

	if (dry_run)
		return NULL;
	key = dalle_xasprintf("%s %s %s", dalle_api_name(api),
	    api == DALLE_API_OPENAI ? (conf.base_url ? conf.base_url :
	    "openai") : conf.endpoint, conf.deployment ? conf.deployment :
	    conf.model ? conf.model : "");
	path = rate_file ? dalle_xstrdup(rate_file) : dalle_rate_path(key);
	r = dalle_rate_open(path, rate_per_min);
	free(path);
	free(key);
	return r;
}

int
main(int argc, char *argv[])
{
	struct dalle_loop lp;
	struct dalle_rate *rate;
	const char *file = NULL;
	int ch, rc, list_models = 0;
	char *why;

	dalle_conf_init(&conf, "dalle-submit");
	defaults = jv_object();
	make_longopts();
	while ((ch = dalle_conf_getopt(&conf, argc, argv, "d:f:hj:m:n:o:qs:v",
	    longopts)) != -1) {
		if (field_option(ch, optarg))
			continue;
		switch (ch) {
		case 'h':
			usage(stdout, 0);
			break;
		case 'f':
			file = optarg;
			break;
		case OPT_DRY_RUN:
			dry_run = 1;
			break;
		case OPT_NO_VALIDATE:
			no_validate = 1;
			break;
		case OPT_RATE:
			if (dalle_rate_parse(optarg, &rate_per_min) == -1)
				errx(DALLE_EX_USAGE, "--rate: %s: not a rate "
				    "such as 600/min or 10/s", optarg);
			break;
		case OPT_RATE_FILE:
			rate_file = optarg;
			break;
		case OPT_TODAY:
			if ((today = dalle_lifecycle_day(optarg)) < 0)
				errx(DALLE_EX_USAGE, "--today: %s: not a date "
				    "YYYY-MM-DD", optarg);
			today_given = 1;
			break;
		case OPT_LIST_MODELS:
			list_models = 1;
			break;
		case OPT_IMAGE:
			if (nimages == DALLE_EDIT_MAX_IMAGES)
				errx(DALLE_EX_USAGE, "--image: at most %d "
				    "images", DALLE_EDIT_MAX_IMAGES);
			images[nimages++] = optarg;
			break;
		case OPT_MASK:
			mask = optarg;
			break;
		case OPT_PARTIAL_DIR:
			partial_dir = optarg;
			break;
		case OPT_RESPONSES_MODEL:
			responses_model = optarg;
			break;
		case OPT_BATCH:
			batch_mode = 1;
			break;
		case 'd':
			if (*optarg == '\0')
				errx(DALLE_EX_USAGE, "-d: an empty directory "
				    "name");
			resume.dir = optarg;
			resume.files = 1;
			break;
		case 'o':
			if (*optarg == '\0' || strcmp(optarg, "-") == 0)
				errx(DALLE_EX_USAGE, "-o: %s", *optarg ?
				    "- writes no file to look for" :
				    "an empty template");
			resume.tmpl = optarg;
			resume.files = 1;
			break;
		case OPT_JOURNAL:
			journal_path = optarg;
			break;
		case OPT_REBATCH:
			rebatch = 1;
			break;
		case OPT_BATCH_SIZE:
			if (dalle_strtonum(optarg, 1, DALLE_BATCH_MAX_LINES,
			    &batch_size) == -1)
				errx(DALLE_EX_USAGE, "--batch-size: %s: not a "
				    "number from 1 to %d", optarg,
				    DALLE_BATCH_MAX_LINES);
			break;
		default:
			usage(stderr, DALLE_EX_USAGE);
		}
	}
	argc -= optind;
	argv += optind;
	if (list_models) {
		dalle_conf_finish(&conf, 0);
		rc = dalle_modellist_print(&conf, stdout);
		jv_free(defaults);
		return dalle_finish(rc);
	}
	if (!today_given)
		today = dalle_lifecycle_today();
	if (dalle_cost_init(&why) == -1)
		errx(DALLE_EX_CONFIG, "%s", why);
	dalle_input_operands("dalle-submit", argc, argv, file);
	if (argc == 0 && file == NULL && isatty(STDIN_FILENO))
		usage(stderr, DALLE_EX_USAGE);
	dalle_conf_finish(&conf, !dry_run);
	if (batch_mode && dalle_api_choose(&conf, conf.deployment,
	    conf.model) != DALLE_API_OPENAI)
		errx(DALLE_EX_CONFIG, "--batch: %s", AZURE_NO_BATCH);
	if (partial_dir || batch_mode)
		dalle_temp_init();

	if (conf.jobs == 0)
		conf.jobs = 8;
	rate = open_rate();
	if (!dry_run && dalle_resume_open(&resume, journal_path, &why) == -1)
		errx(DALLE_EX_CANTCREAT, "--journal: %s", why);

	memset(&lp, 0, sizeof(lp));
	lp.line = on_line;
	lp.done = on_done;
	lp.stage = "submit";
	lp.text_prompts = 1;
	lp.max_line = DALLE_INPUT_SUBMIT_MAX_LINE;
	if (batch_mode) {
		lp.end = batch_end;
		lp.interrupt = batch_interrupted;
	}
	/* What went out is paid for: the first signal lets it finish. */
	dalle_grace_enable(conf.timeout_ms);
	rc = dalle_loop_main(&lp, &conf, rate, argc, argv);
	if (dry_run && !conf.quiet)
		dalle_cost_total(stderr, "dalle-submit");
	dalle_rate_close(rate);
	dalle_resume_close(&resume);
	jv_free(defaults);
	return rc;
}
