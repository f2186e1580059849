/*
 * owner.h: the request an image on disk was made for (see owner.c).
 */
#ifndef DALLE_OWNER_H
#define DALLE_OWNER_H

/*
 * Was the image at path made for the request of this hash (a record's
 * "request.hash")?  1: its provenance (in the image, else in path.json
 * whose "file" has the image's sha256) says so; 0: it names another
 * request; -1: it names none (no such file, not an image of ours, written
 * with --no-provenance, by an older dalle-fetch, or a WebP).
 */
int dalle_owner_of(const char *path, const char *hash);

#endif
