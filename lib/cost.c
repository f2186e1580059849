/*
 * cost.c: the price table and what a record's images cost.  The table is
 * data (share/prices.json, dated, every figure an estimate); a model,
 * size or quality it has no figure for costs null with the reason, never
 * a guess.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"
#include "record.h"
#include "model.h"
#include "cost.h"

#ifndef DALLE_DATADIR
#define DALLE_DATADIR "/usr/local/share/dalle-tools"
#endif

/* A copied program still knows its prices: the table as built. */
static const char builtin[] =
#include "prices.inc"
;

#define TABLE_MAX (1 << 20)

static jv table;                /* the table, once read */
static int loaded;
static double total;            /* --dry-run's estimates */
static size_t npriced, nunpriced;

/* The file at path, NUL-terminated, in *out; -1 with errno on failure
 * (EFBIG when over TABLE_MAX). */
static int
slurp(const char *path, char **out)
{
	struct dalle_buf b = { 0 };
	int fd, rc, e;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	rc = dalle_read_fd(fd, &b, TABLE_MAX);
	e = errno;
	close(fd);
	if (rc == -1) {
		dalle_buf_free(&b);
		errno = e;
		return -1;
	}
	*out = b.p;
	return 0;
}

/* text as a price table, or jv_invalid() with *why. */
static jv
parse(const char *text, const char *from, char **why)
{
	jv t = jv_parse(text), m = dalle_record_get(t, "models");
	int ok = jv_get_kind(t) == JV_KIND_OBJECT &&
	    dalle_record_str(t, "date") != NULL &&
	    jv_get_kind(m) == JV_KIND_OBJECT;

	jv_free(m);
	if (ok)
		return t;
	jv_free(t);
	*why = dalle_xasprintf("%s: not a price table (a JSON object with "
	    "\"date\" and \"models\")", from);
	return jv_invalid();
}

/* The table at path: 1 when read, 0 when there is no such file, -1 with
 * *why when it is there and unusable. */
static int
try_file(const char *path, char **why)
{
	char *text;

	if (slurp(path, &text) == -1) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		*why = dalle_xasprintf("%s: %s", path, strerror(errno));
		return -1;
	}
	table = parse(text, path, why);
	free(text);
	if (!jv_is_valid(table))
		return -1;
	return 1;
}

int
dalle_cost_init(char **why)
{
	const char *env = getenv("DALLE_PRICES");
	char exe[4096], *p, *path;
	ssize_t n;
	int r, i;

	*why = NULL;
	if (loaded)
		return jv_is_valid(table) ? 0 : -1;
	loaded = 1;
	table = jv_invalid();
	if (env != NULL && *env != '\0') {
		r = try_file(env, why);
		if (r == 0)
			*why = dalle_xasprintf("DALLE_PRICES: %s: no such "
			    "file", env);
		return r == 1 ? 0 : -1;
	}
	if ((r = try_file(DALLE_DATADIR "/prices.json", why)) != 0)
		return r == 1 ? 0 : -1;
	/* Beside the program: an install elsewhere, or the source tree. */
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		if ((p = strrchr(exe, '/')) != NULL)
			*p = '\0';
		for (i = 0; i < 2; i++) {
			path = dalle_xasprintf("%s/%s", exe, i == 0 ?
			    "../share/dalle-tools/prices.json" :
			    "share/prices.json");
			r = try_file(path, why);
			free(path);
			if (r != 0)
				return r == 1 ? 0 : -1;
		}
	}
	table = parse(builtin, "the built-in price table", why);
	return jv_is_valid(table) ? 0 : -1;
}

/* obj[key] as a number in *out: 0, or -1 when it is none. */
static int
num(jv obj, const char *key, double *out)
{
	jv v = dalle_record_get(obj, key);
	int r = -1;

	if (jv_get_kind(v) == JV_KIND_NUMBER) {
		*out = jv_number_value(v);
		r = 0;
	}
	jv_free(v);
	return r;
}

/*
 * usage (borrowed) at tok's prices per token into *usd: 0, or -1 with
 * why.  Input tokens must come split into text and image; output tokens
 * are image tokens unless the usage splits them, and text ones need a
 * price of their own.
 */
static int
tokens_usd(jv tok, jv usage, double *usd, char *why, size_t whylen)
{
	double per, in, text = 0, image = 0, out, otext = 0, p = 0;
	jv d;

	if (num(tok, "per", &per) == -1 || per <= 0)
		per = 1e6;
	if (num(usage, "input_tokens", &in) == -1 ||
	    num(usage, "output_tokens", &out) == -1) {
		snprintf(why, whylen, "its usage has no input_tokens and "
		    "output_tokens");
		return -1;
	}
	d = dalle_record_get(usage, "input_tokens_details");
	if ((num(d, "text_tokens", &text) == -1 ||
	    num(d, "image_tokens", &image) == -1) && in > 0) {
		jv_free(d);
		snprintf(why, whylen, "its usage does not split its input "
		    "tokens into text and image");
		return -1;
	}
	jv_free(d);
	if (in == 0)
		text = image = 0;
	d = dalle_record_get(usage, "output_tokens_details");
	if (jv_get_kind(d) == JV_KIND_OBJECT &&
	    (num(d, "image_tokens", &out) == -1 ||
	    (num(d, "text_tokens", &otext) == 0 && otext > 0 &&
	    num(tok, "text_out", &p) == -1))) {
		jv_free(d);
		snprintf(why, whylen, "its usage has output tokens the table "
		    "has no price for");
		return -1;
	}
	jv_free(d);
	if (text < 0 || image < 0 || out < 0 || otext < 0) {
		snprintf(why, whylen, "its usage counts tokens below zero");
		return -1;
	}
	*usd = 0;
	if (text > 0 || image > 0 || out > 0 || otext > 0) {
		if (num(tok, "text_in", &p) == -1 && text > 0)
			goto missing;
		*usd += text > 0 ? text * p : 0;
		if (num(tok, "image_in", &p) == -1 && image > 0)
			goto missing;
		*usd += image > 0 ? image * p : 0;
		if (num(tok, "image_out", &p) == -1 && out > 0)
			goto missing;
		*usd += out > 0 ? out * p : 0;
		if (otext > 0 && num(tok, "text_out", &p) == 0)
			*usd += otext * p;
	}
	*usd /= per;
	return 0;
missing:
	snprintf(why, whylen, "the table lacks a price per token it uses");
	return -1;
}

/* model's entry: by its name, the model table's (an alias such as
 * "dalle3"), or without a snapshot's date (-YYYY-MM-DD). */
static jv
entry(const char *model)
{
	const struct dalle_model *m = dalle_model_find(model);
	jv models = dalle_record_get(table, "models"), e;
	size_t n = strlen(model);
	char *base;

	e = jv_object_get(jv_copy(models), jv_string(model));
	if (jv_get_kind(e) != JV_KIND_OBJECT && m != NULL) {
		jv_free(e);
		e = jv_object_get(jv_copy(models), jv_string(m->name));
	}
	if (jv_get_kind(e) != JV_KIND_OBJECT && n > 11 &&
	    model[n - 11] == '-' && model[n - 8] == '-' &&
	    model[n - 3] == '-') {
		jv_free(e);
		base = dalle_xasprintf("%.*s", (int)(n - 11), model);
		e = entry(base);
		free(base);
	}
	jv_free(models);
	return e;
}

static jv
cost_object(double usd, const char *basis, int batch, const char *why)
{
	const char *date = jv_is_valid(table) ?
	    dalle_record_str(table, "date") : NULL;
	double f = 0.5;
	jv c;

	if (batch)
		(void)num(table, "batch_factor", &f);
	/* Hundred-millionths of a dollar: what no price here divides. */
	c = JV_OBJECT(jv_string("usd"), why ? jv_null() :
	    jv_number(round(usd * (batch ? f : 1) * 1e8) / 1e8),
	    jv_string("estimated"), jv_true(),
	    jv_string("basis"), basis && !why ? jv_string(basis) : jv_null(),
	    jv_string("table"), date ? jv_string(date) : jv_null());
	if (batch)
		c = jv_object_set(c, jv_string("batch"), jv_true());
	if (why)
		c = jv_object_set(c, jv_string("reason"), jv_string(why));
	return c;
}

jv
dalle_cost_of(const char *model, jv usage, const char *size,
    const char *quality, int n, int batch)
{
	char why[256], twhy[160];
	const char *mwhy;
	double usd;
	jv m, tok, img, v;
	char *e;

	if (dalle_cost_init(&e) == -1) {
		snprintf(why, sizeof(why), "no price table%s%s", e ? ": " : "",
		    e ? e : "");
		free(e);
		return cost_object(0, NULL, batch, why);
	}
	if (model == NULL)
		return cost_object(0, NULL, batch, "no model known");
	m = entry(model);
	if (jv_get_kind(m) != JV_KIND_OBJECT) {
		jv_free(m);
		snprintf(why, sizeof(why), "%s: not in the price table",
		    model);
		return cost_object(0, NULL, batch, why);
	}
	mwhy = dalle_record_str(m, "why");
	twhy[0] = '\0';
	if (jv_get_kind(usage) == JV_KIND_OBJECT) {
		tok = dalle_record_get(m, "tokens");
		if (jv_get_kind(tok) != JV_KIND_OBJECT)
			snprintf(twhy, sizeof(twhy), "no price per token");
		else if (tokens_usd(tok, usage, &usd, twhy,
		    sizeof(twhy)) == 0) {
			jv_free(tok);
			jv_free(m);
			return cost_object(usd, "tokens", batch, NULL);
		}
		jv_free(tok);
	}
	img = dalle_record_get(m, "images");
	v = jv_getpath(jv_copy(img), JV_ARRAY(jv_string(size ? size : "auto"),
	    jv_string(quality ? quality : "auto")));
	if (jv_get_kind(v) == JV_KIND_NUMBER) {
		usd = jv_number_value(v) * (n > 0 ? n : 1);
		jv_free(v);
		jv_free(img);
		jv_free(m);
		return cost_object(usd, "per-image", batch, NULL);
	}
	jv_free(v);
	if (jv_get_kind(img) != JV_KIND_OBJECT)
		snprintf(why, sizeof(why), "%s: %s%s%s", model, twhy,
		    *twhy ? "; " : "", mwhy ? mwhy : "no price per image");
	else
		snprintf(why, sizeof(why), "%s: %s%sno price per image of "
		    "size %s, quality %s", model, twhy, *twhy ? "; " : "",
		    size ? size : "auto", quality ? quality : "auto");
	jv_free(img);
	jv_free(m);
	return cost_object(0, NULL, batch, why);
}

/* obj[key] as a string, else asked[key]; borrowed. */
static const char *
either(jv obj, jv asked, const char *key)
{
	const char *s = dalle_record_str(obj, key);

	return s ? s : dalle_record_str(asked, key);
}

jv
dalle_cost_add(jv rec, jv asked)
{
	jv v = dalle_record_get(rec, "cost"), req, op, usage, c;
	const char *model, *kind;
	double n = 1;
	int batch;

	if (jv_get_kind(v) != JV_KIND_NULL) {
		jv_free(v);
		return rec;
	}
	jv_free(v);
	req = dalle_record_get(rec, "request");
	op = dalle_record_get(rec, "operation");
	kind = dalle_record_str(op, "kind");
	if ((model = dalle_record_str(req, "model")) == NULL &&
	    (model = dalle_record_str(rec, "model")) == NULL &&
	    (model = dalle_record_str(rec, "deployment")) == NULL &&
	    (model = dalle_record_str(asked, "model")) == NULL &&
	    kind != NULL && strcmp(kind, "azure-image") == 0)
		model = "dall-e-2";     /* the only model of that route */
	batch = kind != NULL && strcmp(kind, "openai-batch") == 0;
	v = dalle_record_get(rec, "data");
	if (jv_get_kind(v) == JV_KIND_ARRAY)
		n = jv_array_length(jv_copy(v));
	else
		(void)num(asked, "n", &n);
	jv_free(v);
	usage = dalle_record_get(rec, "usage");
	c = dalle_cost_of(model, usage, either(rec, asked, "size"),
	    either(rec, asked, "quality"), (int)n, batch);
	/* A background response's mainline model: its tokens unpriced. */
	v = dalle_record_get(rec, "response_usage");
	if (jv_get_kind(v) == JV_KIND_OBJECT)
		c = jv_object_set(c, jv_string("excludes"),
		    jv_string("response_usage"));
	jv_free(v);
	jv_free(usage);
	jv_free(op);
	jv_free(req);
	return jv_object_set(rec, jv_string("cost"), c);
}

jv
dalle_cost_estimate(jv rec, const char *model, jv body, int batch)
{
	jv t = dalle_record_get(body, "tools"), v, c;
	int tool = jv_get_kind(t) == JV_KIND_ARRAY;
	double n = 1;

	/* A background response: its image tool's fields, one image. */
	if (tool)
		t = jv_array_get(t, 0);
	else {
		jv_free(t);
		t = jv_copy(body);
		(void)num(body, "n", &n);
	}
	c = dalle_cost_of(model, jv_null(), dalle_record_str(t, "size"),
	    dalle_record_str(t, "quality"), (int)n, batch);
	v = dalle_record_get(c, "usd");
	if (jv_get_kind(v) == JV_KIND_NUMBER) {
		total += jv_number_value(v);
		npriced++;
	} else
		nunpriced++;
	jv_free(v);
	jv_free(t);
	return jv_object_set(rec, jv_string("cost"), c);
}

void
dalle_cost_total(FILE *fp, const char *prog)
{
	if (npriced + nunpriced == 0)
		return;
	/* Not "$0.0000" for requests it cannot price: that reads as free. */
	if (npriced == 0)
		fprintf(fp, "%s: no estimate: the price table has no price for "
		    "%s %zu request%s (each record's cost.reason says why; "
		    "size or quality auto has none)", prog, nunpriced == 1 ?
		    "the" : "these", nunpriced, nunpriced == 1 ? "" : "s");
	else
		fprintf(fp, "%s: estimated cost: $%.4f for %zu request%s",
		    prog, total, npriced, npriced == 1 ? "" : "s");
	if (npriced > 0 && nunpriced > 0)
		fprintf(fp, ", %zu more with no price", nunpriced);
	fprintf(fp, " (price table of %s)\n", jv_is_valid(table) ?
	    dalle_record_str(table, "date") : "none");
}

double
dalle_cost_usd(jv rec)
{
	jv v = jv_getpath(rec, JV_ARRAY(jv_string("cost"), jv_string("usd")));
	double usd = jv_get_kind(v) == JV_KIND_NUMBER ?
	    jv_number_value(v) : 0;

	jv_free(v);
	return usd;
}
