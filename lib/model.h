/* model.h: the rules of each image model.  No curl. */
#ifndef DALLE_MODEL_H
#define DALLE_MODEL_H

#include <stddef.h>

#include <jv.h>

enum dalle_family {
	DALLE_FAMILY_DALLE2,
	DALLE_FAMILY_DALLE3,
	DALLE_FAMILY_GPTIMAGE,          /* gpt-image-1, -1-mini, -1.5 */
	DALLE_FAMILY_GPTIMAGE2          /* gpt-image-2, 2.5, 2.6 */
};

/* Who runs the model: shutdown dates and some limits differ. */
enum dalle_provider {
	DALLE_PROVIDER_OPENAI,
	DALLE_PROVIDER_AZURE,
	DALLE_PROVIDER_N
};

struct dalle_model {
	const char *name;               /* canonical: "dall-e-3" */
	enum dalle_family family;
	int max_n;
	int max_prompt;                 /* characters */
	const char *const *sizes;       /* NULL-terminated lists */
	const char *const *qualities;   /* NULL: field not accepted */
	const char *const *styles;
	const char *const *response_formats;
	const char *const *output_formats;
	const char *const *backgrounds;
	const char *default_size;
	int free_sizes;                 /* any WxH by the gpt-image-2 rules */
	int max_prompt_azure;           /* characters, on Azure */
	const char *const *complexities;
	const char *const *moderations;
	const char *const *input_fidelities;
	/* From lib/models.def: */
	const char *released;           /* YYYY-MM-DD */
	const char *shutdown[DALLE_PROVIDER_N]; /* YYYY-MM-DD, "" none
	                                 * announced, "-" not offered */
	const char *replacement;        /* "" when none is named */
};

/* The table, in lib/models.def's order: n models at dalle_model_at(0..). */
size_t dalle_model_count(void);
const struct dalle_model *dalle_model_at(size_t i);
/* The family's name as --list-models prints it ("gpt-image-2"). */
const char *dalle_model_family(const struct dalle_model *m);

/* Model by name or deployment-style alias ("dall-e-3", "dalle3",
 * "gpt-image-1", "gpt-image-1-mini", "gpt-image-1.5", "dall-e-2"...),
 * or NULL. */
const struct dalle_model *dalle_model_find(const char *name);

struct dalle_model_err {
	const char *param;              /* the offending field */
	const char *code;               /* e.g. "invalid_size", "invalid_value" */
	char message[256];
};
/* Check a request body against the model's rules on provider p (Azure's
 * prompt limit is shorter).  Borrows body.  0 if it is valid, else -1 with
 * *e filled as the service would word it. */
int dalle_model_check(const struct dalle_model *m, jv body,
    enum dalle_provider p, struct dalle_model_err *e);

#endif
