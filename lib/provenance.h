/*
 * provenance.h: what made an image, written into the image itself (PNG
 * iTXt chunks, a JPEG COM segment) without touching its pixels, and the
 * sha256 of what was written.
 */
#ifndef DALLE_PROVENANCE_H
#define DALLE_PROVENANCE_H

#include <stddef.h>

#include <jv.h>

/* The provenance of image index of rec (borrows rec): an object with
 * "prompt", "revised_prompt", "model", "deployment", "provider",
 * "request_hash" (the record's "request.hash"), "id",
 * "created" (ISO 8601), "parameters" (an object), "input_sha256" (an
 * array) and "software", each only where the record has it. */
jv dalle_provenance_fields(jv rec, int index);
/* The image p[0..n) with fields (borrowed) in it: for PNG, one iTXt chunk
 * a key (one per input for input_sha256), written by libpng, before
 * IEND; for JPEG, the fields as one JSON object in COM segments after SOI
 * and the APPn segments.  0 and a malloc'd *out of *outn bytes, or -1:
 * neither a PNG nor a JPEG whose end is whole; nothing made. */
int dalle_provenance_splice(const unsigned char *p, size_t n, jv fields,
    unsigned char **out, size_t *outn);
/* The same in place, on the open file fd that holds a whole image: a PNG
 * has its last 12 bytes (IEND) rewritten, a JPEG only what follows the
 * segments it gains.  0 when done, 1 when the image takes none (left as
 * it was), -1 with errno on a read or write error. */
int dalle_provenance_file(int fd, jv fields);
/* The image p[0..*n) (consumed) with the provenance of image index of
 * rec (borrowed) in it, its size in *n; as it was when it takes none. */
unsigned char *dalle_provenance_into(unsigned char *p, size_t *n, jv rec,
    int index);
/* Does the regular file at path hold another image than p[0..n), both
 * as it is and with provenance of any length where
 * dalle_provenance_splice puts it?  (Not there, or not a regular file:
 * no.) */
int dalle_provenance_differs(const char *path, const unsigned char *p,
    size_t n);
/* path.json beside the image at path: fields (borrowed) and "file", its
 * files entry (borrowed), mode 0644, replaced whole by rename(2).  0, or
 * -1 with errno. */
int dalle_provenance_sidecar(const char *path, jv fields, jv file);

#endif
