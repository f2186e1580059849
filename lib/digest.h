/*
 * digest.h: sha256 sums of images, for the "files" entries of records.
 */
#ifndef DALLE_DIGEST_H
#define DALLE_DIGEST_H

#include <stddef.h>

#include <jv.h>

/* sha256 of p[0..n) as 64 hexadecimal digits and a NUL. */
void dalle_digest_mem(const void *p, size_t n, char hex[65]);
/* sha256 of the whole file fd, and its size in *bytes; 0, or -1. */
int dalle_digest_fd(int fd, char hex[65], long long *bytes);
/* entry (consumed) with "sha256" of the file at path, when it can be
 * read. */
jv dalle_digest_entry(jv entry, const char *path);

#endif
