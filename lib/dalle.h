/*
 * dalle.h: the umbrella header of libdalle for dalle-submit, dalle-poll and
 * dalle-fetch: every header of lib/.  dalle-serve needs only the small ones
 * without curl (util.h, heap.h, base64.h, record.h, json.h, lines.h,
 * model.h, image.h, url.h).  Ownership follows jv: a function that takes
 * a jv consumes it, a function that returns a jv returns an owned one,
 * unless its comment says "borrows".
 */
#ifndef DALLE_H
#define DALLE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <curl/curl.h>
#include <jv.h>

#include "util.h"
#include "heap.h"
#include "base64.h"
#include "big.h"
#include "file.h"
#include "url.h"
#include "image.h"
#include "lines.h"
#include "record.h"
#include "json.h"
#include "model.h"
#include "lifecycle.h"
#include "api.h"
#include "conf.h"
#include "retry.h"
#include "answer.h"
#include "rate.h"
#include "http.h"
#include "loop.h"
#include "modellist.h"
#include "form.h"
#include "edit.h"
#include "sse.h"
#include "stream.h"
#include "responses.h"
#include "batch.h"
#include "progress.h"
#include "status.h"
#include "name.h"
#include "journal.h"
#include "resume.h"
#include "stale.h"
#include "secret.h"
#include "token.h"
#include "outpath.h"
#include "interrupt.h"
#include "input.h"
#include "version.h"
#include "provenance.h"
#include "owner.h"
#include "digest.h"
#include "cost.h"
#include "grace.h"
#include "inflight.h"
#include "apistatus.h"
#include "fields.h"

#endif
