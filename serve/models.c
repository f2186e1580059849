/*
 * models.c: the model table (lib/models.def) as the OpenAI service shows
 * it, GET /v1/models and /v1/models/{id} with each shutdown_date, and the
 * dates enforced on generations from --today on.
 */
#include <stdlib.h>
#include <string.h>

#include "serve.h"

int
models_retired(struct req *rq, const struct dalle_model *m,
    enum dalle_provider p, enum MHD_Result *ret)
{
	char use[128] = "";

	if (opt.today < 0 || dalle_lifecycle_state(m, p, opt.today, NULL) !=
	    DALLE_LIFE_RETIRED)
		return 0;
	if (*m->replacement != '\0')
		snprintf(use, sizeof(use), " Use '%s' instead.",
		    m->replacement);
	*ret = reply_error(rq, E_SHUT_DOWN, m->name, m->shutdown[p], use);
	return 1;
}

/* One model as the list shows it: the dates are data, whatever today. */
static jv
model_object(const struct dalle_model *m)
{
	const char *d = m->shutdown[DALLE_PROVIDER_OPENAI];
	long day = dalle_lifecycle_day(m->released);

	return JV_OBJECT(jv_string("id"), jv_string(m->name),
	    jv_string("object"), jv_string("model"),
	    jv_string("created"), jv_number(day < 0 ? 0 : day * 86400.0),
	    jv_string("owned_by"), jv_string("system"),
	    jv_string("shutdown_date"), *d != '\0' && strcmp(d, "-") != 0 ?
	    jv_string(d) : jv_null());
}

enum MHD_Result
models_reply(struct req *rq, const char *id)
{
	const struct dalle_model *m;
	enum MHD_Result ret;
	jv data;
	size_t i;

	if (auth_refused(rq, &ret))
		return ret;
	if (id != NULL) {
		for (i = 0; i < dalle_model_count(); i++) {
			m = dalle_model_at(i);
			if (strcmp(m->name, id) == 0 && strcmp(
			    m->shutdown[DALLE_PROVIDER_OPENAI], "-") != 0)
				return reply_json(rq, 200, model_object(m));
		}
		return reply_error(rq, E_NO_MODEL, id);
	}
	data = jv_array();
	for (i = 0; i < dalle_model_count(); i++) {
		m = dalle_model_at(i);
		if (strcmp(m->shutdown[DALLE_PROVIDER_OPENAI], "-") != 0)
			data = jv_array_append(data, model_object(m));
	}
	return reply_json(rq, 200, JV_OBJECT(jv_string("object"),
	    jv_string("list"), jv_string("data"), data));
}
