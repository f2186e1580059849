/*
 * url.c: the URL helper (lib/url.c): a URL that parses has a lower-case
 * scheme and host and one origin with itself; one that does not is never
 * allowed; an allowed URL is https, or http to loopback; escaping is
 * reversible and leaves only unreserved bytes and %XX; and no "sig="
 * parameter keeps its value through dalle_url_redact.
 */
#include "fuzz.h"
#include <ctype.h>
#include <curl/curl.h>
#include "url.h"

static void
lower_case(const char *s)
{
	for (; *s; s++)
		CHECK(!isupper((unsigned char)*s));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dalle_url u;
	char *s = fuzz_str(data, size), *e, *back, *r, *q;
	const char *why;
	int len, parsed;

	parsed = dalle_url_parse(s, &u) == 0;
	if (parsed) {
		lower_case(u.scheme);
		lower_case(u.host);
		CHECK(strncmp(u.origin, u.scheme, strlen(u.scheme)) == 0);
		CHECK(strstr(u.origin, u.host) != NULL);
		CHECK(u.last != NULL);
		/* Never the same origin as ours with a user or password in
		 * it: they would be sent beside the key. */
		CHECK(dalle_url_same_origin(s, s) == !u.creds);
	} else {
		CHECK(u.scheme == NULL && u.host == NULL);
		CHECK(!dalle_url_same_origin(s, s));
	}
	why = dalle_url_check(s, 0);
	if (why == NULL) {
		CHECK(parsed);
		CHECK(strcmp(u.scheme, "https") == 0 || (strcmp(u.scheme,
		    "http") == 0 && dalle_url_is_loopback(s)));
	}
	if (!parsed)
		CHECK(dalle_url_check(s, 1) != NULL);
	dalle_url_free(&u);

	e = dalle_url_escape(s);
	for (q = e; *q; q++)
		CHECK(isalnum((unsigned char)*q) || strchr("-._~%", *q));
	back = curl_easy_unescape(NULL, e, 0, &len);
	CHECK(back != NULL);
	CHECK((size_t)len == strlen(s));
	CHECK(memcmp(back, s, (size_t)len) == 0);
	curl_free(back);
	free(e);

	r = dalle_url_redact((const char *)data, size);
	for (q = r; (q = strstr(q, "sig=")) != NULL; q++)
		if (q > r && (q[-1] == '?' || q[-1] == '&'))
			CHECK(strncmp(q + 4, "[redacted]", 10) == 0);
	free(r);
	free(s);
	return 0;
}
