/*
 * summary.c: the one line on stderr that ends a run cut short, by a
 * signal or by the timeout: what came of the records, and how to resume.
 */
#include <err.h>
#include <string.h>

#include "dalle.h"

void
dalle_loop_summary(const struct dalle_loop *lp, const char *why,
    const char *kind, const char *extra)
{
	warnx("%s: %ld done, %ld failed, %ld unfinished%s; to resume, give "
	    "the unfinished records (error kind \"%s\") back to dalle-%s: "
	    "jq -c 'select(.error.kind == \"%s\") | del(.error)'", why,
	    lp->emitted - lp->failed - lp->unfinished, lp->failed,
	    lp->unfinished, extra, kind, lp->stage ? lp->stage : "submit",
	    kind);
}

void
dalle_loop_lost(const struct dalle_loop *lp, const char *rest, size_t n,
    int mid)
{
	const char *p, *end = rest + n;
	long finished = lp->nheld + mid, read;

	/* Each record ends in the one newline it has. */
	for (p = rest; p < end && (p = memchr(p, '\n', end - p)) != NULL;
	    p++)
		finished++;
	read = lp->cur.seq > lp->emitted ? lp->cur.seq : lp->emitted;
	warnx("stdout was closed: %ld records written, %ld lost (%ld "
	    "finished, %ld unfinished, %zu requests under way)",
	    lp->emitted - finished, read - lp->emitted + finished, finished,
	    read - lp->emitted, lp->http ? dalle_http_pending(lp->http) : 0);
}
