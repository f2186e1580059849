/*
 * dalle-submit: prompts (operands, else one per stdin line: plain text or
 * a JSON object with "prompt" and API fields) -> one request each -> one
 * JSON record per prompt on stdout: the operation for asynchronous APIs,
 * the finished result for synchronous ones, or an "error" object.
 * Exits 0 when every record succeeded, else the first failure's status.
 */
#include <err.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dalle.h"

enum {
	OPT_QUALITY = DALLE_OPT_FIRST_FREE, OPT_STYLE, OPT_RESPONSE_FORMAT,
	OPT_OUTPUT_FORMAT, OPT_OUTPUT_COMPRESSION, OPT_BACKGROUND, OPT_USER,
	OPT_DRY_RUN, OPT_NO_VALIDATE, OPT_RATE, OPT_RATE_FILE
};

static const struct option longopts[] = {
	DALLE_CONF_LONGOPTS,
	{ "n", required_argument, NULL, 'n' },
	{ "size", required_argument, NULL, 's' },
	{ "quality", required_argument, NULL, OPT_QUALITY },
	{ "style", required_argument, NULL, OPT_STYLE },
	{ "response-format", required_argument, NULL, OPT_RESPONSE_FORMAT },
	{ "output-format", required_argument, NULL, OPT_OUTPUT_FORMAT },
	{ "output-compression", required_argument, NULL,
	    OPT_OUTPUT_COMPRESSION },
	{ "background", required_argument, NULL, OPT_BACKGROUND },
	{ "user", required_argument, NULL, OPT_USER },
	{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
	{ "no-validate", no_argument, NULL, OPT_NO_VALIDATE },
	{ "rate", required_argument, NULL, OPT_RATE },
	{ "rate-file", required_argument, NULL, OPT_RATE_FILE },
	{ NULL, 0, NULL, 0 }
};

/* The request fields a record or an option may set. */
static const char *const api_fields[] = {
	"prompt", "n", "size", "quality", "style", "response_format",
	"output_format", "output_compression", "background", "user",
	"moderation", NULL
};

struct req {
	jv rec;
	long lineno, seq;
};

static struct dalle_conf conf;
static jv defaults;             /* request fields from the command line */
static int dry_run, no_validate;
static double rate_per_min;     /* --rate; 0: learn the pace from 429s */
static const char *rate_file;

static void
usage(FILE *fp, int rc)
{
	fputs("usage: dalle-submit [-hqv] [-j jobs] [-m model] [-n count] "
	    "[-s size]\n"
	    "\t[--deployment name] [--quality q] [--style s] "
	    "[--response-format f]\n"
	    "\t[--output-format f] [--output-compression 0-100] "
	    "[--background b]\n"
	    "\t[--user id] [--dry-run] [--no-validate] [--keep-order]\n"
	    "\t[--rate n/min] [--rate-file file] [--api name] "
	    "[--endpoint url]\n"
	    "\t[--base-url url] [--api-version v] [--api-key-file file]\n"
	    "\t[--token-command cmd] [--allow-http] [--cacert file]\n"
	    "\t[--retries n] [--request-timeout s] [prompt ...]\n", fp);
	exit(rc);
}

static void
set_default(const char *field, jv v)
{
	defaults = jv_object_set(defaults, jv_string(field), v);
}

/* The request body for one record: options, then the record's fields. */
static jv
make_body(jv rec, enum dalle_api api, const char *name)
{
	jv body = jv_copy(defaults), v;
	size_t i;

	for (i = 0; api_fields[i]; i++) {
		v = dalle_jv_get(rec, api_fields[i]);
		if (jv_get_kind(v) != JV_KIND_NULL)
			body = jv_object_set(body, jv_string(api_fields[i]), v);
		else
			jv_free(v);
	}
	if ((api == DALLE_API_OPENAI || api == DALLE_API_AZURE_V1) && name)
		body = jv_object_set(body, jv_string("model"), jv_string(name));
	return body;
}

static int
fail(struct dalle_loop *lp, long seq, jv rec, long lineno, jv e)
{
	const char *kind = dalle_jv_str(e, "kind");
	/* A route the service does not know is a configuration mistake. */
	int config = kind && strcmp(kind, DALLE_KIND_NOT_FOUND) == 0;
	int rc = dalle_loop_fail(lp, seq, rec, lineno, e);

	return config ? DALLE_EX_CONFIG : rc;
}

static int
submit(struct dalle_loop *lp, jv rec, long lineno)
{
	const char *dep, *model, *name, *check;
	const struct dalle_model *m;
	struct dalle_model_err me;
	struct dalle_xfer *x;
	struct req *r;
	enum dalle_api api;
	struct dalle_buf s = { 0 };
	char *url, hash[17];
	jv body, request;

	dep = dalle_jv_str(rec, "deployment");
	if (dep == NULL)
		dep = conf.deployment;
	model = dalle_jv_str(rec, "model");
	if (model == NULL)
		model = conf.model;
	api = dalle_conf_api(&conf, dep, model);
	name = dep ? dep : model;
	if (api == DALLE_API_AUTO)
		return fail(lp, lp->seq, rec, lineno, dalle_error_new("submit",
		    DALLE_KIND_CONFIG, 0, NULL, "no API configured", 0, 0));
	if (api == DALLE_API_AZURE && name == NULL)
		return fail(lp, lp->seq, rec, lineno, dalle_error_new("submit",
		    DALLE_KIND_CONFIG, 0, NULL, "--api azure needs a "
		    "deployment", 0, 0));
	body = make_body(rec, api, name);

	/* Check against the model's rules before a request is spent. */
	check = model ? model : dep;
	if (api == DALLE_API_AZURE_ASYNC ||
	    (api == DALLE_API_OPENAI && check == NULL))
		check = "dall-e-2";
	m = check ? dalle_model_find(check) : NULL;
	if (m && !no_validate && dalle_model_check(m, body, &me) == -1) {
		jv e = dalle_error_new("submit", DALLE_KIND_INVALID, 0, me.code,
		    me.message, 0, 0);

		if (me.param)
			e = jv_object_set(e, jv_string("param"),
			    jv_string(me.param));
		jv_free(body);
		return fail(lp, lp->seq, rec, lineno, e);
	}

	url = dalle_api_url(&conf, api, name, "images/generations");
	/* Serialised once: for the hash and as the body sent. */
	dalle_json_put(&s, body);
	snprintf(hash, sizeof(hash), "%016llx", (unsigned long long)
	    dalle_hash(s.p, s.len, dalle_hash(url, strlen(url), 0)));
	hash[12] = '\0';
	request = jv_object_set(jv_object(), jv_string("api"),
	    jv_string(dalle_api_name(api)));
	request = jv_object_set(request, jv_string("url"), jv_string(url));
	request = jv_object_set(request, jv_string("hash"), jv_string(hash));

	if (dry_run) {
		jv h = jv_array_append(jv_array(),
		    jv_string("Content-Type: application/json"));

		h = jv_array_append(h, jv_string(api == DALLE_API_OPENAI ||
		    conf.token ? "Authorization: Bearer [redacted]" :
		    "api-key: [redacted]"));
		request = jv_object_set(request, jv_string("method"),
		    jv_string("POST"));
		request = jv_object_set(request, jv_string("headers"), h);
		request = jv_object_set(request, jv_string("body"), body);
		dalle_loop_write(lp, lp->seq, jv_object_set(rec,
		    jv_string("request"), request));
		free(url);
		dalle_buf_free(&s);
		return 0;
	}
	x = dalle_xfer_new("POST", url);
	free(url);
	dalle_xfer_body(x, &s);
	jv_free(body);
	x->headers = dalle_conf_auth(&conf, api, x->headers);
	r = dalle_xmalloc(sizeof(*r));
	r->rec = jv_object_set(rec, jv_string("request"), request);
	r->lineno = lineno;
	r->seq = lp->seq;
	x->udata = r;
	x->paced = 1;
	dalle_http_start(lp->http, x);
	return 0;
}

static int
on_line(struct dalle_loop *lp, char *s, size_t n, long lineno)
{
	char *p = s;
	jv rec, prompt;

	if (strcmp(lp->source, "stdin") == 0) {
		while (*p == ' ' || *p == '\t')
			p++;
	}
	if (strcmp(lp->source, "stdin") != 0 || *p != '{')
		return submit(lp, jv_object_set(jv_object(),
		    jv_string("prompt"), jv_string_sized(s, (int)n)), lineno);
	rec = jv_parse_sized(s, (int)n);
	if (!jv_is_valid(rec)) {
		jv msg = jv_invalid_get_msg(rec);
		char *why = dalle_xasprintf("invalid JSON: %s",
		    jv_get_kind(msg) == JV_KIND_STRING ? jv_string_value(msg) :
		    "parse error");
		int rc = dalle_loop_bad_line(lp, "submit", s, lineno, why);

		free(why);
		jv_free(msg);
		return rc;
	}
	if (jv_get_kind(rec) != JV_KIND_OBJECT) {
		jv_free(rec);
		return dalle_loop_bad_line(lp, "submit", s, lineno,
		    "not a JSON object");
	}
	/* Error records from an earlier stage pass through untouched. */
	if (dalle_record_is_error(rec)) {
		dalle_loop_emit_line(lp, lp->seq, s, n);
		jv_free(rec);
		return 0;
	}
	prompt = dalle_jv_get(rec, "prompt");
	if (jv_get_kind(prompt) != JV_KIND_STRING) {
		jv_free(prompt);
		jv_free(rec);
		return dalle_loop_bad_line(lp, "submit", s, lineno,
		    "no \"prompt\" string in the object");
	}
	jv_free(prompt);
	return submit(lp, rec, lineno);
}

static int
on_done(struct dalle_loop *lp, struct dalle_xfer *x)
{
	struct req *r = x->udata;
	jv rec = r->rec, body = jv_null(), req, v;
	long lineno = r->lineno, seq = r->seq;
	const char *id;
	int rc = 0;

	free(r);
	req = dalle_jv_get(rec, "request");
	req = jv_object_set(req, jv_string("attempts"), jv_number(x->attempts));
	rec = jv_object_set(rec, jv_string("request"), req);
	if (x->result != CURLE_OK || x->status < 200 || x->status > 299) {
		rc = fail(lp, seq, rec, lineno, dalle_xfer_error(x, "submit"));
		dalle_xfer_free(x);
		return rc;
	}
	body = jv_parse_sized(x->resp.p ? x->resp.p : "", (int)x->resp.len);
	if (jv_get_kind(body) != JV_KIND_OBJECT) {
		rc = fail(lp, seq, rec, lineno, dalle_error_new("submit",
		    DALLE_KIND_PROTOCOL, x->status, NULL,
		    "the answer is not a JSON object", 0, x->attempts));
		goto out;
	}
	if (x->status == 202) {
		/* Asynchronous: the operation to poll. */
		id = dalle_jv_str(body, "id");
		if (id == NULL || x->location == NULL) {
			rc = fail(lp, seq, rec, lineno, dalle_error_new("submit",
			    DALLE_KIND_PROTOCOL, x->status, NULL, "202 without "
			    "an operation id and operation-location", 0,
			    x->attempts));
			goto out;
		}
		v = jv_object_set(jv_object(), jv_string("kind"),
		    jv_string("azure-image"));
		v = jv_object_set(v, jv_string("id"), jv_string(id));
		v = jv_object_set(v, jv_string("url"), jv_string(x->location));
		/* When the service said to look: dalle-poll waits till then. */
		if (x->hint.retry_after_ms >= 0)
			v = jv_object_set(v, jv_string("poll_at"), jv_number(
			    (double)(dalle_wall_ms() + x->hint.retry_after_ms)));
		rec = jv_object_set(rec, jv_string("operation"), v);
		v = dalle_jv_get(body, "status");
		rec = jv_object_set(rec, jv_string("status"),
		    jv_get_kind(v) == JV_KIND_STRING ? v :
		    (jv_free(v), jv_string("notRunning")));
	} else {
		v = dalle_jv_get(body, "data");
		if (jv_get_kind(v) != JV_KIND_ARRAY) {
			jv_free(v);
			rc = fail(lp, seq, rec, lineno, dalle_error_new("submit",
			    DALLE_KIND_PROTOCOL, x->status, NULL,
			    "no \"data\" array in the answer", 0, x->attempts));
			goto out;
		}
		rec = jv_object_set(rec, jv_string("status"),
		    jv_string("succeeded"));
		rec = jv_object_set(rec, jv_string("created"),
		    dalle_jv_get(body, "created"));
		rec = jv_object_set(rec, jv_string("data"), v);
		v = dalle_jv_get(body, "usage");
		if (jv_get_kind(v) == JV_KIND_OBJECT)
			rec = jv_object_set(rec, jv_string("usage"), v);
		else
			jv_free(v);
	}
	dalle_loop_write(lp, seq, rec);
	rec = jv_null();
out:
	jv_free(rec);
	jv_free(body);
	dalle_xfer_free(x);
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
	enum dalle_api api = dalle_conf_api(&conf, NULL, NULL);
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
	long long num;
	int ch, rc;

	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		errx(DALLE_EX_OSERR, "curl_global_init failed");
	dalle_conf_init(&conf, "dalle-submit");
	defaults = jv_object();
	while ((ch = getopt_long(argc, argv, "hj:m:n:qs:v", longopts,
	    NULL)) != -1) {
		if (dalle_conf_option(&conf, ch, optarg))
			continue;
		switch (ch) {
		case 'h':
			usage(stdout, 0);
			break;
		case 'n':
			if (dalle_strtonum(optarg, 1, 10, &num) == -1)
				errx(DALLE_EX_USAGE, "-n: %s: not a number from "
				    "1 to 10", optarg);
			set_default("n", jv_number((double)num));
			break;
		case 's':
			set_default("size", jv_string(optarg));
			break;
		case OPT_QUALITY:
			set_default("quality", jv_string(optarg));
			break;
		case OPT_STYLE:
			set_default("style", jv_string(optarg));
			break;
		case OPT_RESPONSE_FORMAT:
			set_default("response_format", jv_string(optarg));
			break;
		case OPT_OUTPUT_FORMAT:
			set_default("output_format", jv_string(optarg));
			break;
		case OPT_OUTPUT_COMPRESSION:
			if (dalle_strtonum(optarg, 0, 100, &num) == -1)
				errx(DALLE_EX_USAGE, "--output-compression: %s: "
				    "not a number from 0 to 100", optarg);
			set_default("output_compression",
			    jv_number((double)num));
			break;
		case OPT_BACKGROUND:
			set_default("background", jv_string(optarg));
			break;
		case OPT_USER:
			set_default("user", jv_string(optarg));
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
		default:
			usage(stderr, DALLE_EX_USAGE);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0 && isatty(STDIN_FILENO))
		usage(stderr, DALLE_EX_USAGE);
	dalle_conf_finish(&conf, !dry_run);

	if (conf.jobs == 0)
		conf.jobs = 8;
	rate = open_rate();

	memset(&lp, 0, sizeof(lp));
	lp.http = dalle_http_new(&conf);
	dalle_http_set_rate(lp.http, rate);
	lp.max_pending = (size_t)conf.jobs * 2;
	lp.line = on_line;
	lp.done = on_done;
	lp.quiet = conf.quiet;
	lp.keep_order = conf.keep_order;
	rc = dalle_loop_run(&lp, argc, argv);
	dalle_http_free(lp.http);
	dalle_rate_close(rate);
	jv_free(defaults);
	dalle_conf_free(&conf);
	curl_global_cleanup();
	return dalle_finish(rc);
}
