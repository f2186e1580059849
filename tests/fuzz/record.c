/*
 * record.c: one input line read as dalle-poll and dalle-fetch read it
 * (dalle_record_parse, its long strings lifted by lib/big.c) and written
 * back (lib/json.c): the verdict is jq's own on the text, the record
 * written is exactly what jq would write, through every writer, also
 * after dalle_big_keep let the text go; and "#B#" in the input stands
 * for a string long enough to be lifted.
 */
#include "fuzz.h"
#include <jv.h>
#include "big.h"
#include "json.h"
#include "record.h"
#include "util.h"

static struct dalle_buf streamed;

static void
out(const char *p, size_t n)
{
	dalle_buf_add(&streamed, p, n);
}

static void
same(const struct dalle_buf *b, const char *want, size_t wlen)
{
	CHECK(b->len == wlen);
	CHECK(wlen == 0 || memcmp(b->p, want, wlen) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dalle_big big = { 0 };
	struct dalle_buf b = { 0 };
	size_t n, wlen;
	char *s = fuzz_big(data, size, &n), *why = NULL;
	const char *w;
	jv rec, ref, dump, u;
	long l;
	int r;

	r = dalle_record_parse(&big, s, n, &rec, &why);
	ref = jv_parse_sized(s, (int)n);
	if (!jv_is_valid(ref) || jv_get_kind(ref) != JV_KIND_OBJECT) {
		CHECK(r == DALLE_RECORD_BAD);
		CHECK(why != NULL);
		CHECK(jv_get_kind(rec) == JV_KIND_NULL);
		free(why);
		jv_free(rec);
		jv_free(ref);
		dalle_big_free(&big);
		free(s);
		return 0;
	}
	CHECK(r != DALLE_RECORD_BAD);
	CHECK((r == DALLE_RECORD_ERROR) == dalle_record_is_error(rec));
	dump = jv_dump_string(jv_copy(ref), 0);
	w = jv_string_value(dump);
	wlen = (size_t)jv_string_length_bytes(jv_copy(dump));

	dalle_json_put_big(&b, rec, &big);
	same(&b, w, wlen);
	dalle_buf_reset(&b);
	dalle_json_put_out(&b, rec, &big, out);
	dalle_buf_add(&streamed, b.p ? b.p : "", b.len);
	same(&streamed, w, wlen);
	dalle_buf_reset(&streamed);
	u = dalle_big_unlift(&big, jv_copy(rec));
	CHECK(jv_equal(u, jv_copy(ref)));
	(void)dalle_record_long(rec, "n", &l);
	(void)dalle_record_str(rec, "prompt");

	/* Kept: the text may go. */
	dalle_big_keep(&big, rec);
	memset(s, '!', n);
	dalle_buf_reset(&b);
	dalle_json_put_big(&b, rec, &big);
	same(&b, w, wlen);

	jv_free(dump);
	jv_free(rec);
	jv_free(ref);
	dalle_buf_free(&b);
	dalle_buf_free(&streamed);
	dalle_big_free(&big);
	free(s);
	return 0;
}
