/* retry.h: when a failed request is worth another try, and how soon. */
#ifndef DALLE_RETRY_H
#define DALLE_RETRY_H

#include <curl/curl.h>

/* What the server said about retrying, read from response headers. */
struct dalle_retry_hint {
	long retry_after_ms;      /* -1: none given */
	int should_retry;         /* -1: no x-should-retry header; 0 or 1 */
};
/* Is an outcome worth another attempt?  http 0 means no HTTP answer. */
int dalle_retry_wanted(CURLcode rc, long http,
    const struct dalle_retry_hint *hint);
/* Delay in ms before attempt number `attempt` (1 = first retry): the
 * server's delay when given (a delay of 0 is none), else 1 s doubling to
 * 60 s, with jitter. */
long dalle_retry_delay(int attempt, const struct dalle_retry_hint *hint);
/* The longest wait a server's word buys, whatever it asked. */
#define DALLE_RETRY_MAX_MS 60000L
/* A server-requested wait ms made sane: at most DALLE_RETRY_MAX_MS and
 * at most limit_ms (the request timeout); -1 and 0 (nothing said) stay. */
long dalle_retry_clamp(long ms, long limit_ms);
/* Parse Retry-After (seconds or HTTP date) / retry-after-ms values; -1 if
 * absent or unparsable. */
long dalle_retry_parse(const char *retry_after_ms, const char *retry_after);

#endif
