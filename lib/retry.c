/*
 * retry.c: which outcomes deserve another attempt and how long to wait,
 * after curl's retry rules and the official SDKs' (retry-after-ms, then
 * Retry-After in seconds or as an HTTP date, then x-should-retry).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dalle.h"

int
dalle_retry_wanted(CURLcode rc, long http, const struct dalle_retry_hint *hint)
{
	if (rc != CURLE_OK) {
		switch (rc) {
		case CURLE_OPERATION_TIMEDOUT:
		case CURLE_COULDNT_RESOLVE_HOST:
		case CURLE_COULDNT_CONNECT:
		case CURLE_GOT_NOTHING:
		case CURLE_RECV_ERROR:
		case CURLE_SEND_ERROR:
		case CURLE_PARTIAL_FILE:
		case CURLE_HTTP2:
		case CURLE_HTTP2_STREAM:
			return 1;
		default:
			return 0;
		}
	}
	if (hint && hint->should_retry == 1)
		return 1;
	if (hint && hint->should_retry == 0)
		return 0;
	return http == 408 || http == 409 || http == 429 || http >= 500;
}

/* A number in [0, 1) from a sequence seeded once per process from the
 * system's entropy: processes started together draw different jitter. */
static double
jitter(void)
{
	static uint64_t state;
	static int seeded;

	if (!seeded) {
		if (getentropy(&state, sizeof(state)) == -1)
			state = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 32;
		seeded = 1;
	}
	return (dalle_rand(&state) >> 11) * 0x1.0p-53;
}

long
dalle_retry_delay(int attempt, const struct dalle_retry_hint *hint)
{
	long d;

	/* A wait of 0 says nothing (the SDKs back off then too): retrying
	 * at once would only meet the same answer. */
	if (hint && hint->retry_after_ms > 0)
		return hint->retry_after_ms;
	if (attempt < 1)
		attempt = 1;
	d = attempt > 7 ? 60000 : 1000L << (attempt - 1);
	if (d > 60000)
		d = 60000;
	/* Jitter only shortens (75-100 %), so lockstep clients drift apart. */
	return d - (long)(d / 4.0 * jitter());
}

long
dalle_retry_parse(const char *ms, const char *ra)
{
	char *end;
	double v;
	struct tm tm;

	if (ms && *ms) {
		v = strtod(ms, &end);
		if (end != ms && v >= 0 && v < 1e10)
			return (long)(v + 0.5);
	}
	if (ra && *ra) {
		v = strtod(ra, &end);
		if (end != ra && *end == '\0' && v >= 0 && v < 1e7)
			return (long)(v * 1000 + 0.5);
		memset(&tm, 0, sizeof(tm));
		end = strptime(ra, "%a, %d %b %Y %H:%M:%S GMT", &tm);
		if (end) {
			time_t t = timegm(&tm), now = time(NULL);

			return t > now ? (long)(t - now) * 1000 : 0;
		}
	}
	return -1;
}

long
dalle_retry_clamp(long ms, long limit_ms)
{
	if (ms > DALLE_RETRY_MAX_MS)
		ms = DALLE_RETRY_MAX_MS;
	if (limit_ms > 0 && ms > limit_ms)
		ms = limit_ms;
	return ms;
}
