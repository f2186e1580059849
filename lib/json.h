/* json.h: records written as compact JSON.  No curl. */
#ifndef DALLE_JSON_H
#define DALLE_JSON_H

#include <jv.h>

#include "util.h"

/* Append v (borrowed) as compact JSON, exactly as jv_dump_string(v, 0)
 * would write it, only faster. */
void dalle_json_put(struct dalle_buf *b, jv v);

#endif
