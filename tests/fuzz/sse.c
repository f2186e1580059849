/*
 * sse.c: the event stream parser (lib/sse.c) fed the input whole and in
 * pieces split anywhere (inside a CRLF too): the same events, names and
 * data, either way; and an event handed over whole, NUL-terminated.
 */
#include "fuzz.h"
#include "sse.h"
#include "util.h"

struct log {
	struct dalle_buf b;
	uint32_t st;              /* when to take an event's memory */
};

static int
on_event(void *arg, const char *event, struct dalle_buf *data)
{
	struct log *l = arg;
	char len[32];

	CHECK(data->p != NULL);
	CHECK(data->p[data->len] == '\0');
	CHECK(strlen(event) < 128);
	snprintf(len, sizeof(len), "%zu:", data->len);
	dalle_buf_adds(&l->b, event);
	dalle_buf_add(&l->b, "\n", 1);
	dalle_buf_adds(&l->b, len);
	dalle_buf_add(&l->b, data->p, data->len);
	/* The callee may take the memory, and leave the buffer zeroed. */
	if (fuzz_next(&l->st) % 2) {
		free(data->p);
		memset(data, 0, sizeof(*data));
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dalle_sse s;
	struct log whole = { { 0 }, 1 }, split = { { 0 }, 7 };
	uint32_t st = fuzz_seed(data, size);
	size_t at = 0, k;
	int r1, r2 = 0;

	memset(&s, 0, sizeof(s));
	dalle_sse_init(&s, on_event, &whole);
	r1 = dalle_sse_feed(&s, (const char *)data, size);
	dalle_sse_free(&s);

	memset(&s, 0, sizeof(s));
	dalle_sse_init(&s, on_event, &split);
	while (at < size && r2 == 0) {
		k = 1 + fuzz_next(&st) % 16;
		if (k > size - at)
			k = size - at;
		r2 = dalle_sse_feed(&s, (const char *)data + at, k);
		at += k;
	}
	dalle_sse_free(&s);
	CHECK(r1 == r2);
	CHECK(whole.b.len == split.b.len);
	CHECK(whole.b.len == 0 || memcmp(whole.b.p, split.b.p,
	    whole.b.len) == 0);
	dalle_buf_free(&whole.b);
	dalle_buf_free(&split.b);
	return 0;
}
