/*
 * retry.c: dalle_retry_parse over retry-after-ms and Retry-After values
 * (the input's first line and the rest): -1 or a wait of 0 and up, and
 * dalle_retry_delay of what it gives a positive wait.
 */
#include "fuzz.h"
#include <curl/curl.h>
#include "retry.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dalle_retry_hint hint = { -1, -1 };
	char *s = fuzz_str(data, size), *nl;
	long a, b, c;

	nl = memchr(s, '\n', size);
	if (nl != NULL)
		*nl = '\0';
	a = dalle_retry_parse(nl ? s : NULL, nl ? nl + 1 : s);
	b = dalle_retry_parse(NULL, s);
	c = dalle_retry_parse(s, NULL);
	CHECK(a >= -1);
	CHECK(b >= -1);
	CHECK(c >= -1);
	hint.retry_after_ms = a;
	CHECK(dalle_retry_delay(1 + (int)(size % 12), &hint) > 0);
	free(s);
	return 0;
}
