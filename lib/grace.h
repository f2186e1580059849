/*
 * grace.h: the first signal lets the paid requests already sent finish.
 * A request on a paid route (an image generated, an operation, a
 * response or a batch created) that went out is paid for whether or not
 * its answer is read: so on the first SIGINT, SIGTERM or SIGHUP nothing
 * more is read or sent, the requests not yet sent stop at once, and those
 * sent are waited for, at most for the request timeout; a second signal
 * stops them too.
 */
#ifndef DALLE_GRACE_H
#define DALLE_GRACE_H

#include "http.h"

/* From now on, wait up to ms milliseconds for the requests sent when the
 * first signal came (dalle-submit; the others stop at once). */
void dalle_grace_enable(long ms);
/*
 * A signal came (dalle_interrupted): are there requests sent on h to wait
 * for?  The first call stops those not sent and says on stderr how many
 * it waits for; every call stops those not sent since (a retry).  0 once
 * none is left, a second signal came or the time is up: then stop the
 * rest as before.
 */
int dalle_grace_hold(struct dalle_http *h);

#endif
