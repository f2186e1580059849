/*
 * stream.c: a streamed image answer (lib/stream.c over lib/sse.c), fed
 * whole and in pieces: the same verdict, and the same body, written the
 * same; "#B#" stands for a long base64 string.
 */
#include "fuzz.h"
#include <jv.h>
#include "dalle.h"

/* What a parse of the n bytes at p in pieces of at most piece gives. */
static void
parse(const char *p, size_t n, size_t piece, struct dalle_buf *out)
{
	struct dalle_big big = { 0 };
	struct dalle_stream *s = dalle_stream_new(&big, NULL);
	size_t at = 0, k;
	int rc = 0;
	jv v, e;

	while (at < n && rc == 0) {
		k = n - at < piece ? n - at : piece;
		rc = dalle_stream_feed(s, 1, p + at, k);
		at += k;
	}
	dalle_buf_add(out, rc ? "F" : "-", 1);
	if (dalle_stream_error(s, "submit", 200, 1, &e)) {
		CHECK(dalle_record_str(e, "kind") != NULL);
		dalle_json_put(out, e);
		jv_free(e);
	}
	v = dalle_stream_body(s);
	if (jv_is_valid(v))
		dalle_json_put_big(out, v, &big);
	jv_free(v);
	v = dalle_stream_record(s, jv_object());
	dalle_json_put_big(out, v, &big);
	jv_free(v);
	dalle_stream_free(s);
	dalle_big_free(&big);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dalle_buf a = { 0 }, b = { 0 };
	size_t n;
	char *p = fuzz_big(data, size, &n);

	parse(p, n, n ? n : 1, &a);
	parse(p, n, 1 + fuzz_seed(data, size) % 4096, &b);
	CHECK(a.len == b.len);
	CHECK(memcmp(a.p, b.p, a.len) == 0);
	dalle_buf_free(&a);
	dalle_buf_free(&b);
	free(p);
	return 0;
}
