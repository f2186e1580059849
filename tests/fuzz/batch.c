/*
 * batch.c: a batch's output or error file (lib/batch.c) as dalle-poll
 * reads it: every custom_id's line found where the index says, inside the
 * file and without its newline, and each line's result either a record
 * that succeeded with its images or an error with a kind.  The file is
 * read from a FILE, as dalle-poll reads the one it downloaded, empty ones
 * included.
 */
#include "fuzz.h"
#include <unistd.h>
#include <jv.h>
#include "dalle.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dalle_big big = { 0 };
	size_t n;
	char *p = fuzz_big(data, size, &n);
	double off, len;
	jv idx, ks, at, rec, err, d;
	int i, nk;

	static FILE *fp;

	if (fp == NULL && (fp = tmpfile()) == NULL)
		abort();
	rewind(fp);
	CHECK(ftruncate(fileno(fp), 0) == 0);
	CHECK(fwrite(p, 1, n, fp) == n);
	CHECK(fflush(fp) == 0);
	idx = dalle_batch_index(fp, 1, jv_object());
	CHECK(jv_get_kind(idx) == JV_KIND_OBJECT);
	ks = jv_keys(jv_copy(idx));
	nk = jv_array_length(jv_copy(ks));
	for (i = 0; i < nk; i++) {
		at = jv_object_get(jv_copy(idx), jv_array_get(jv_copy(ks), i));
		CHECK(jv_get_kind(at) == JV_KIND_ARRAY);
		off = jv_number_value(jv_array_get(jv_copy(at), 1));
		len = jv_number_value(jv_array_get(jv_copy(at), 2));
		jv_free(at);
		CHECK(off >= 0 && len >= 0 && off + len <= (double)n);
		CHECK(memchr(p + (size_t)off, '\n', (size_t)len) == NULL);
		err = jv_invalid();
		rec = dalle_batch_result(&big, JV_OBJECT(jv_string("prompt"),
		    jv_string("x")), p + (size_t)off, (size_t)len,
		    "https://api.openai.com/v1/batches/batch_1", &err);
		if (jv_is_valid(rec)) {
			CHECK(strcmp(dalle_record_str(rec, "status"),
			    "succeeded") == 0);
			d = dalle_record_get(rec, "data");
			CHECK(jv_get_kind(d) == JV_KIND_ARRAY);
			jv_free(d);
			jv_free(err);
		} else {
			CHECK(jv_get_kind(err) == JV_KIND_OBJECT);
			CHECK(dalle_record_str(err, "kind") != NULL);
			jv_free(err);
		}
		jv_free(rec);
		dalle_big_free(&big);
	}
	jv_free(ks);
	jv_free(idx);
	free(p);
	return 0;
}
