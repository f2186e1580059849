/*
 * apistatus.c: a status nobody documents is refused at once: waiting for it
 * to turn into one we know could last for ever.
 */
#include <stdio.h>
#include <string.h>

#include "dalle.h"
#include "apistatus.h"

/* The Responses API's background response. */
static const char *const response[] = {
	"queued", "in_progress", "completed", "failed", "cancelled",
	"incomplete", NULL
};
/* The Batch API's batch object. */
static const char *const batch[] = {
	"validating", "failed", "in_progress", "finalizing", "completed",
	"expired", "cancelling", "cancelled", NULL
};

jv
dalle_status_unknown(const char *what, const char *s, int polls)
{
	const char *const *p = strcmp(what, "batch") == 0 ? batch : response;
	char msg[160];

	for (; *p != NULL; p++)
		if (strcmp(*p, s) == 0)
			return jv_invalid();
	snprintf(msg, sizeof(msg), "the %s's status \"%.60s\" is not one "
	    "the service documents", what, s);
	return dalle_record_error("poll", DALLE_KIND_PROTOCOL, 0, NULL, msg,
	    0, polls);
}
