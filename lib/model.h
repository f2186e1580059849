/* model.h: the rules of each image model.  No curl. */
#ifndef DALLE_MODEL_H
#define DALLE_MODEL_H

#include <jv.h>

enum dalle_family {
	DALLE_FAMILY_DALLE2,
	DALLE_FAMILY_DALLE3,
	DALLE_FAMILY_GPTIMAGE
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
};

/* Model by name or deployment-style alias ("dall-e-3", "dalle3",
 * "gpt-image-1", "gpt-image-1-mini", "gpt-image-1.5", "dall-e-2"...),
 * or NULL. */
const struct dalle_model *dalle_model_find(const char *name);

struct dalle_model_err {
	const char *param;              /* the offending field */
	const char *code;               /* e.g. "invalid_size", "invalid_value" */
	char message[256];
};
/* Check a request body against the model's rules.  Borrows body.  0 if it
 * is valid, else -1 with *e filled as the service would word it. */
int dalle_model_check(const struct dalle_model *m, jv body,
    struct dalle_model_err *e);

#endif
