/*
 * name.c: dalle-fetch's name template (lib/name.c).  The input's first
 * line is the template, the rest a record.  A record's values never
 * leave the output directory or make a hidden file: with a template of
 * no '/' and no leading '.', the path is one component below the
 * directory, with no control byte; a record with several images gets
 * the image's index in every name; and an error names the field.
 */
#include "fuzz.h"
#include <jv.h>
#include "big.h"
#include "name.h"

static const char *const exts[] = { "png", "jpg", "webp" };

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dalle_big big = { 0 };
	struct dalle_name nm = { 0 };
	const uint8_t *nl = memchr(data, '\n', size);
	char *tmpl, *recs, *path, *why = NULL, *q, num[16];
	const char *dir, *ext, *rest;
	size_t n, dlen;
	int index, multi, safe;
	jv rec;

	if (nl == NULL || nl == data)
		return 0;
	tmpl = fuzz_str(data, (size_t)(nl - data));
	recs = fuzz_big(nl + 1, size - (size_t)(nl - data) - 1, &n);
	rec = dalle_big_parse(&big, recs, n);
	if (jv_get_kind(rec) != JV_KIND_OBJECT || tmpl[0] == '\0') {
		jv_free(rec);
		goto out;
	}
	dir = data[0] % 2 ? "out" : ".";
	ext = exts[data[0] % 3];
	index = data[0] % 5;
	multi = data[0] % 7 < 3;
	safe = strchr(tmpl, '/') == NULL && tmpl[0] != '.';
	for (q = tmpl; *q; q++)
		if ((unsigned char)*q < 32)
			safe = 0;
	nm.rec = rec;
	nm.big = &big;
	nm.dir = dir;
	nm.tmpl = tmpl;
	path = dalle_name_path(&nm, index, multi, ext, &why);
	if (path == NULL) {
		CHECK(why != NULL);
		CHECK(strncmp(why, "-o: the record has no \"", 23) == 0);
		free(why);
	} else {
		CHECK(why == NULL);
		/* An absolute template is not below -d. */
		dlen = strcmp(dir, ".") == 0 || tmpl[0] == '/' ? 0 :
		    strlen(dir) + 1;
		CHECK(dlen == 0 || strncmp(path, "out/", 4) == 0);
		rest = path + dlen;
		if (safe) {
			CHECK(rest[0] != '\0');
			CHECK(strchr(rest, '/') == NULL);
			CHECK(rest[0] != '.');
			for (q = (char *)rest; *q; q++)
				CHECK((unsigned char)*q >= 32);
		}
		if (multi && strstr(tmpl, "{i}") == NULL) {
			snprintf(num, sizeof(num), "-%d", index);
			CHECK(strstr(rest, num) != NULL);
		}
		free(path);
	}
	jv_free(rec);
out:
	dalle_name_free(&nm);
	dalle_big_free(&big);
	free(recs);
	free(tmpl);
	return 0;
}
