/*
 * input.c: checks on input before it costs anything: operands that are
 * file names, and request fields of the wrong JSON type, which would
 * otherwise be ignored (a "deployment" of 5 sent to the default one).
 */
#include <sys/stat.h>

#include <err.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "input.h"
#include "record.h"
#include "util.h"

void
dalle_input_operands(const char *prog, int argc, char *argv[],
    const char *file)
{
	struct stat st;
	int i, fd;

	(void)prog;
	if (file != NULL && argc > 0)
		errx(DALLE_EX_USAGE, "-f %s: prompts come from the file or "
		    "from operands, not both", file);
	if (file != NULL && strcmp(file, "-") != 0) {
		if ((fd = open(file, O_RDONLY | O_CLOEXEC)) == -1)
			err(DALLE_EX_NOINPUT, "%s", file);
		if (fd != STDIN_FILENO) {
			if (dup2(fd, STDIN_FILENO) == -1)
				err(DALLE_EX_OSERR, "dup2");
			close(fd);
		}
	}
	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "-") == 0 && argc > 1)
			errx(DALLE_EX_USAGE, "-: stdin cannot be read beside "
			    "other operands");
		if (strcmp(argv[i], "-") != 0 && stat(argv[i], &st) == 0)
			errx(DALLE_EX_USAGE, "%s: names a file, and operands "
			    "are prompts: to read prompts from it, use "
			    "'< %s' or '-f %s'", argv[i], argv[i], argv[i]);
	}
}

/* The request fields and the JSON kind each must have. */
static const struct {
	const char *field;
	jv_kind kind;
} types[] = {
	{ "prompt", JV_KIND_STRING },
	{ "deployment", JV_KIND_STRING },
	{ "model", JV_KIND_STRING },
	{ "n", JV_KIND_NUMBER },
	{ "size", JV_KIND_STRING },
	{ "quality", JV_KIND_STRING },
	{ "style", JV_KIND_STRING },
	{ "response_format", JV_KIND_STRING },
	{ "output_format", JV_KIND_STRING },
	{ "output_compression", JV_KIND_NUMBER },
	{ "background", JV_KIND_STRING },
	{ "user", JV_KIND_STRING },
	{ "moderation", JV_KIND_STRING },
	{ "complexity", JV_KIND_STRING },
	{ "safety_identifier", JV_KIND_STRING },
	{ "input_fidelity", JV_KIND_STRING },
	{ "partial_images", JV_KIND_NUMBER },
};

char *
dalle_input_types(jv rec)
{
	size_t i;
	jv_kind k;
	jv v;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		v = dalle_record_get(rec, types[i].field);
		k = jv_get_kind(v);
		jv_free(v);
		if (k != JV_KIND_NULL && k != types[i].kind)
			return dalle_xasprintf("\"%s\" is %s %s, not %s",
			    types[i].field, k == JV_KIND_ARRAY ||
			    k == JV_KIND_OBJECT ? "an" : "a", jv_kind_name(k),
			    types[i].kind == JV_KIND_STRING ? "a string" :
			    "a number");
	}
	return NULL;
}
