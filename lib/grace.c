/*
 * grace.c: between the first signal and the end, the requests already
 * sent are let finish, so that what was paid for is journaled and
 * written, not thrown away (see dalle-submit(1), SIGNALS).
 */
#include <err.h>

#include "dalle.h"
#include "grace.h"

static long grace_ms;             /* 0: none */
static int64_t until;             /* set by the first hold; 0 before */

void
dalle_grace_enable(long ms)
{
	grace_ms = ms > 0 ? ms : 1;
}

int
dalle_grace_hold(struct dalle_http *h)
{
	int sig = dalle_interrupted();
	size_t n;

	if (grace_ms == 0 || sig == 0 || h == NULL ||
	    dalle_interrupted_again())
		return 0;
	n = dalle_http_abort_unsent(h, sig);
	if (until == 0) {
		until = dalle_now_ms() + grace_ms;
		if (n > 0)
			warnx("%s: finishing the %zu request%s already sent "
			    "(paid for), for at most %ld s; a second signal "
			    "abandons %s", dalle_interrupt_name(sig), n,
			    n == 1 ? "" : "s", (grace_ms + 999) / 1000,
			    n == 1 ? "it" : "them");
	}
	return n > 0 && dalle_now_ms() < until;
}
