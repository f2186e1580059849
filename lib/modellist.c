/*
 * modellist.c: the model table as JSON lines, with the shutdown dates the
 * OpenAI service itself announces (GET /models) where it can be asked.
 */
#include <err.h>
#include <stdlib.h>
#include <string.h>

#include "dalle.h"

#define SIZE_RULE "auto, or WxH: both edges multiples of 16, long:short " \
	"at most 3:1, 655360 to 8294400 pixels, long edge at most 3840"

/* A NULL-terminated list as a JSON array. */
static jv
words(const char *const *list)
{
	jv a = jv_array();

	for (; *list != NULL; list++)
		a = jv_array_append(a, jv_string(*list));
	return a;
}

static jv
put_list(jv o, const char *key, const char *const *list)
{
	if (list == NULL)
		return o;
	return jv_object_set(o, jv_string(key), words(list));
}

/* A date column: "YYYY-MM-DD", or null ("" none, "-" not offered). */
static jv
date_or_null(const char *d)
{
	return *d != '\0' && strcmp(d, "-") != 0 ? jv_string(d) : jv_null();
}

jv
dalle_modellist_entry(const struct dalle_model *m)
{
	jv o = jv_object(), dates = jv_object(), offered = jv_array();
	int p;

	o = jv_object_set(o, jv_string("name"), jv_string(m->name));
	o = jv_object_set(o, jv_string("family"),
	    jv_string(dalle_model_family(m)));
	o = jv_object_set(o, jv_string("released"), jv_string(m->released));
	for (p = 0; p < DALLE_PROVIDER_N; p++) {
		dates = jv_object_set(dates, jv_string(
		    dalle_lifecycle_provider(p)), date_or_null(m->shutdown[p]));
		if (strcmp(m->shutdown[p], "-") != 0)
			offered = jv_array_append(offered, jv_string(
			    dalle_lifecycle_provider(p)));
	}
	o = jv_object_set(o, jv_string("providers"), offered);
	o = jv_object_set(o, jv_string("shutdown_date"), dates);
	o = jv_object_set(o, jv_string("replacement"),
	    *m->replacement ? jv_string(m->replacement) : jv_null());
	o = jv_object_set(o, jv_string("source"), jv_string("table"));
	o = jv_object_set(o, jv_string("n"), JV_OBJECT(jv_string("min"),
	    jv_number(1), jv_string("max"), jv_number(m->max_n)));
	o = jv_object_set(o, jv_string("max_prompt"), JV_OBJECT(
	    jv_string("openai"), jv_number(m->max_prompt),
	    jv_string("azure"), jv_number(m->max_prompt_azure)));
	o = put_list(o, "size", m->sizes);
	if (m->free_sizes)
		o = jv_object_set(o, jv_string("size_rule"),
		    jv_string(SIZE_RULE));
	o = put_list(o, "quality", m->qualities);
	o = put_list(o, "style", m->styles);
	o = put_list(o, "response_format", m->response_formats);
	o = put_list(o, "output_format", m->output_formats);
	o = put_list(o, "background", m->backgrounds);
	o = put_list(o, "complexity", m->complexities);
	o = put_list(o, "moderation", m->moderations);
	return put_list(o, "input_fidelity", m->input_fidelities);
}

/* Names an image model, by the prefixes OpenAI gives them. */
static int
image_name(const char *s)
{
	return strncmp(s, "gpt-image", 9) == 0 ||
	    strncmp(s, "dall-e", 6) == 0 ||
	    strncmp(s, "chatgpt-image", 13) == 0;
}

/* GET {base}/models: its "data" array in *data (owned), or the exit
 * status of the failure (warned about unless quiet). */
static int
ask_service(const struct dalle_conf *c, jv *data)
{
	struct dalle_http *h;
	struct dalle_xfer *x;
	char *url, *why;
	const char *kind;
	int ready, rc = 0;
	jv body, e;

	*data = jv_array();
	url = dalle_api_url(c, DALLE_API_OPENAI, NULL, "models");
	h = dalle_http_new(c);
	x = dalle_http_xfer_new("GET", url);
	x->headers = dalle_api_auth(c, DALLE_API_OPENAI, NULL);
	dalle_http_start(h, x);
	while ((x = dalle_http_done(h)) == NULL)
		if (dalle_http_wait(h, -1, 1000, &ready) == -1)
			break;
	if (x == NULL) {
		rc = DALLE_EX_SOFTWARE;
		goto out;
	}
	body = x->result == CURLE_OK && x->status == 200 && x->resp.p ?
	    jv_parse_sized(x->resp.p, (int)x->resp.len) : jv_invalid();
	if (jv_get_kind(body) == JV_KIND_OBJECT) {
		e = dalle_record_get(body, "data");
		jv_free(body);
		body = e;
	}
	if (jv_get_kind(body) == JV_KIND_ARRAY) {
		jv_free(*data);
		*data = body;
	} else {
		jv_free(body);
		e = dalle_http_xfer_error(x, "list");
		kind = dalle_record_str(e, "kind");
		rc = dalle_record_exit(kind);
		if (rc == DALLE_EX_FAILED)
			rc = DALLE_EX_PROTOCOL;
		why = dalle_http_xfer_strerror(x);
		if (!c->quiet)
			warnx("%s: %s; the table's dates only", url, why);
		free(why);
		jv_free(e);
	}
	dalle_http_xfer_free(x);
out:
	dalle_http_free(h);
	free(url);
	return rc;
}

static void
put_line(FILE *out, jv o)
{
	jv s = jv_dump_string(o, 0);

	fputs(jv_string_value(s), out);
	putc('\n', out);
	jv_free(s);
}

int
dalle_modellist_print(const struct dalle_conf *c, FILE *out)
{
	const struct dalle_model *m;
	const char *id;
	jv data = jv_invalid(), item, o, known = jv_object(), dates;
	size_t i;
	int rc = 0, n, k;

	/* OpenAI's own dates, whenever a key for OpenAI is at hand (an
	 * Azure endpoint beside it changes nothing: it lists no dates). */
	if (c->openai_key != NULL)
		rc = ask_service(c, &data);
	/* The service's dates by model id. */
	n = jv_is_valid(data) ? jv_array_length(jv_copy(data)) : 0;
	for (k = 0; k < n; k++) {
		item = jv_array_get(jv_copy(data), k);
		id = dalle_record_str(item, "id");
		if (id != NULL)
			known = jv_object_set(known, jv_string(id),
			    dalle_record_get(item, "shutdown_date"));
		jv_free(item);
	}
	for (i = 0; i < dalle_model_count(); i++) {
		m = dalle_model_at(i);
		o = dalle_modellist_entry(m);
		item = jv_object_get(jv_copy(known), jv_string(m->name));
		if (jv_is_valid(item)) {
			dates = dalle_record_get(o, "shutdown_date");
			dates = jv_object_set(dates, jv_string("openai"),
			    jv_get_kind(item) == JV_KIND_STRING ? item :
			    (jv_free(item), jv_null()));
			o = jv_object_set(o, jv_string("shutdown_date"), dates);
			o = jv_object_set(o, jv_string("source"),
			    jv_string("service"));
		} else
			jv_free(item);
		put_line(out, o);
	}
	/* Image models the service has and the table lacks. */
	for (k = 0; k < n; k++) {
		item = jv_array_get(jv_copy(data), k);
		id = dalle_record_str(item, "id");
		if (id != NULL && image_name(id) && dalle_model_find(id) ==
		    NULL) {
			o = JV_OBJECT(jv_string("name"), jv_string(id),
			    jv_string("family"), jv_null(),
			    jv_string("providers"), JV_ARRAY(
			    jv_string("openai")));
			dates = dalle_record_get(item, "shutdown_date");
			o = jv_object_set(o, jv_string("shutdown_date"),
			    JV_OBJECT(jv_string("openai"),
			    jv_get_kind(dates) == JV_KIND_STRING ? dates :
			    (jv_free(dates), jv_null()),
			    jv_string("azure"), jv_null()));
			o = jv_object_set(o, jv_string("replacement"),
			    jv_null());
			o = jv_object_set(o, jv_string("source"),
			    jv_string("service"));
			put_line(out, o);
		}
		jv_free(item);
	}
	jv_free(known);
	jv_free(data);
	return rc;
}
