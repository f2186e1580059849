/* base64.h: RFC 4648 base64.  No curl, no jq. */
#ifndef DALLE_BASE64_H
#define DALLE_BASE64_H

#include <stddef.h>

/* Both return malloc'd memory (dying on OOM) and set *outlen; encode
 * NUL-terminates, and outlen may be NULL.  decode takes both alphabets,
 * skips white space and returns NULL on any other bad byte. */
char *dalle_base64_encode(const void *p, size_t n, size_t *outlen);
unsigned char *dalle_base64_decode(const char *s, size_t n, size_t *outlen);

#endif
