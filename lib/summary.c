/*
 * summary.c: the one line on stderr that ends a run cut short, by a
 * signal or by the timeout: what came of the records, and how to resume.
 */
#include <err.h>

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
