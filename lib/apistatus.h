/*
 * apistatus.h: the statuses the services document for a background response
 * and for a batch.  Any other is a protocol error, not a reason to wait.
 */
#ifndef DALLE_APISTATUS_H
#define DALLE_APISTATUS_H

#include <jv.h>

/* The error object (kind "protocol", stage "poll") for a status s of what
 * ("response" or "batch") that its API does not document, after polls
 * polls; jv_invalid() when s is one it documents. */
jv dalle_status_unknown(const char *what, const char *s, int polls);

#endif
