/*
 * responses.c: background responses with the image_generation tool, as
 * records: the body sent, the operation kept, the result taken.
 */
#include <stdlib.h>
#include <string.h>

#include "dalle.h"

int
dalle_responses_check(jv gen, struct dalle_model_err *e)
{
	long n;

	if (dalle_record_long(gen, "n", &n) == 0 && n != 1) {
		e->param = "n";
		e->code = "invalid_value";
		snprintf(e->message, sizeof(e->message), "The image_generation "
		    "tool makes one image a response: n must be 1, not %ld.",
		    n);
		return -1;
	}
	return 0;
}

jv
dalle_responses_body(jv gen, const char *mainline)
{
	static const char *const top[] = {
		"user", "safety_identifier", NULL
	};
	jv body, tool, keys, v;
	const char *k;
	int i, n;

	body = JV_OBJECT(jv_string("model"), jv_string(mainline),
	    jv_string("input"), dalle_record_get(gen, "prompt"),
	    jv_string("background"), jv_true());
	for (i = 0; top[i] != NULL; i++) {
		v = dalle_record_get(gen, top[i]);
		if (jv_get_kind(v) != JV_KIND_NULL)
			body = jv_object_set(body, jv_string(top[i]), v);
		else
			jv_free(v);
		gen = jv_object_delete(gen, jv_string(top[i]));
	}
	tool = JV_OBJECT(jv_string("type"), jv_string("image_generation"));
	keys = jv_keys(jv_copy(gen));
	n = jv_array_length(jv_copy(keys));
	for (i = 0; i < n; i++) {
		v = jv_array_get(jv_copy(keys), i);
		k = jv_string_value(v);
		/* The prompt is the input; the polls are not a stream. */
		if (strcmp(k, "prompt") != 0 && strcmp(k, "stream") != 0 &&
		    strcmp(k, "n") != 0)
			tool = jv_object_set(tool, jv_copy(v),
			    jv_object_get(jv_copy(gen), jv_copy(v)));
		jv_free(v);
	}
	jv_free(keys);
	jv_free(gen);
	tool = jv_object_set(tool, jv_string("action"), jv_string("generate"));
	return jv_object_set(body, jv_string("tools"), JV_ARRAY(tool));
}

jv
dalle_responses_operation(jv body, const char *url)
{
	const char *id = dalle_record_str(body, "id");
	size_t q;
	jv op;

	if (id == NULL)
		return jv_invalid();
	/* The create's URL, the id after its path, its query kept. */
	q = strcspn(url, "?");
	op = JV_OBJECT(jv_string("kind"), jv_string(DALLE_OP_RESPONSE),
	    jv_string("id"), jv_string(id));
	return jv_object_set(op, jv_string("url"), jv_string_fmt("%.*s/%s%s",
	    (int)q, url, id, url + q));
}

int
dalle_responses_final(const char *s)
{
	return strcmp(s, "completed") == 0 || strcmp(s, "failed") == 0 ||
	    strcmp(s, "cancelled") == 0 || strcmp(s, "incomplete") == 0;
}

jv
dalle_responses_find(jv obj, const char *key, const char *type)
{
	jv arr = dalle_record_get(obj, key), item;
	const char *t;
	int i, n;

	n = jv_get_kind(arr) == JV_KIND_ARRAY ?
	    jv_array_length(jv_copy(arr)) : 0;
	for (i = 0; i < n; i++) {
		item = jv_array_get(jv_copy(arr), i);
		t = dalle_record_str(item, "type");
		if (t != NULL && strcmp(t, type) == 0) {
			jv_free(arr);
			return item;
		}
		jv_free(item);
	}
	jv_free(arr);
	return jv_null();
}

/* rec (consumed) with key set to v (consumed) when v is an object. */
static jv
set_object(jv rec, const char *key, jv v)
{
	if (jv_get_kind(v) == JV_KIND_OBJECT)
		return jv_object_set(rec, jv_string(key), v);
	jv_free(v);
	return rec;
}

jv
dalle_responses_record(jv rec, jv body, int polls, jv *e)
{
	const char *status = dalle_record_str(body, "status"), *code, *msg;
	jv call, item, v, u;

	*e = jv_invalid();
	/* Completed is final as a synchronous result is: "succeeded". */
	rec = jv_object_set(rec, jv_string("status"), jv_string(strcmp(status,
	    "completed") == 0 ? "succeeded" : status));
	v = dalle_record_get(body, "created_at");
	if (jv_get_kind(v) == JV_KIND_NUMBER)
		rec = jv_object_set(rec, jv_string("created"), v);
	else
		jv_free(v);
	call = dalle_responses_find(body, "output", "image_generation_call");
	if (strcmp(status, "completed") == 0 &&
	    dalle_record_str(call, "result") != NULL) {
		item = JV_OBJECT(jv_string("b64_json"),
		    dalle_record_get(call, "result"));
		v = dalle_record_get(call, "revised_prompt");
		if (jv_get_kind(v) == JV_KIND_STRING)
			item = jv_object_set(item, jv_string("revised_prompt"),
			    v);
		else
			jv_free(v);
		rec = jv_object_set(rec, jv_string("data"), JV_ARRAY(item));
		/* The image's tokens where the service counts them apart. */
		u = jv_getpath(jv_copy(body), JV_ARRAY(jv_string("tool_usage"),
		    jv_string("image_gen")));
		if (jv_get_kind(u) != JV_KIND_OBJECT) {
			jv_free(u);
			u = dalle_record_get(body, "usage");
		}
		rec = set_object(rec, "usage", u);
		/* And the mainline model's own, charged too. */
		rec = set_object(rec, "response_usage",
		    dalle_record_get(body, "usage"));
		rec = dalle_record_made(rec, call);
		jv_free(call);
		return rec;
	}
	jv_free(call);
	if (strcmp(status, "completed") == 0) {
		*e = dalle_record_error("poll", DALLE_KIND_PROTOCOL, 200, NULL,
		    "the response completed without an image", 0, polls);
		return rec;
	}
	v = dalle_record_get(body, "error");
	code = dalle_record_str(v, "code");
	msg = dalle_record_str(v, "message");
	if (strcmp(status, "cancelled") == 0)
		*e = dalle_record_error("poll", DALLE_KIND_CANCELLED, 0,
		    "cancelled", "the response was cancelled", 0, polls);
	else if (strcmp(status, "incomplete") == 0) {
		u = jv_getpath(jv_copy(body), JV_ARRAY(
		    jv_string("incomplete_details"), jv_string("reason")));
		*e = dalle_record_error("poll", jv_get_kind(u) ==
		    JV_KIND_STRING && strcmp(jv_string_value(u),
		    "content_filter") == 0 ? DALLE_KIND_CONTENT_FILTER :
		    DALLE_KIND_FAILED, 0, "incomplete",
		    jv_get_kind(u) == JV_KIND_STRING ? jv_string_value(u) :
		    "the response is incomplete", 0, polls);
		jv_free(u);
	} else
		*e = dalle_record_error("poll", code != NULL &&
		    (strcmp(code, "moderation_blocked") == 0 ||
		    strstr(code, "content_policy") != NULL) ?
		    DALLE_KIND_CONTENT_FILTER : code != NULL &&
		    strncmp(code, "invalid", 7) == 0 ? DALLE_KIND_INVALID :
		    DALLE_KIND_FAILED, 0, code, msg ? msg : status, 0, polls);
	jv_free(v);
	return rec;
}

jv
dalle_responses_expired(int polls)
{
	return dalle_record_error("poll", DALLE_KIND_EXPIRED, 404,
	    "response_expired", "the background response is gone: the "
	    "service keeps its result only about 10 minutes", 0, polls);
}

char *
dalle_responses_cancel_url(const char *url)
{
	size_t q = strcspn(url, "?");

	return dalle_xasprintf("%.*s/cancel%s", (int)q, url, url + q);
}
