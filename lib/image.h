/* image.h: what a picture is, from its first bytes.  No curl, no jq. */
#ifndef DALLE_IMAGE_H
#define DALLE_IMAGE_H

#include <stddef.h>

/* Image format of a buffer by its magic bytes ("png", "jpeg", "webp",
 * "gif") or NULL; width and height from the header when known, else 0. */
const char *dalle_image_probe(const void *p, size_t n, int *w, int *h);

#endif
