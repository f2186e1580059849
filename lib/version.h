/*
 * version.h: what --version prints.
 */
#ifndef DALLE_VERSION_H
#define DALLE_VERSION_H

#include <stdio.h>

/* prog's name and version, then those of libcurl (as linked, at run time)
 * and libjq (as built against: jq 1.6 has no call that says), one a line,
 * to fp. */
void dalle_version_print(FILE *fp, const char *prog);
/* "dalle-tools VERSION": the software that made a file (provenance). */
const char *dalle_version_software(void);

#endif
