/* json.h: records written as compact JSON.  No curl. */
#ifndef DALLE_JSON_H
#define DALLE_JSON_H

#include <jv.h>

#include "big.h"
#include "util.h"

/* Append v (borrowed) as compact JSON, exactly as jv_dump_string(v, 0)
 * would write it, only faster. */
void dalle_json_put(struct dalle_buf *b, jv v);
/* The same for a value that may hold placeholders of big (NULL: none):
 * each is written as the string it stands for. */
void dalle_json_put_big(struct dalle_buf *b, jv v,
    const struct dalle_big *big);
/* The same, sending the text to out (NULL: none) as it goes instead of
 * copying a lifted string into b: at each one, b's text so far and then
 * the string's bytes go to out, and b is emptied.  The caller sends what
 * is left in b. */
void dalle_json_put_out(struct dalle_buf *b, jv v,
    const struct dalle_big *big, void (*out)(const char *, size_t));

#endif
