/*
 * secret.h: the configured secrets (keys and tokens), kept out of all
 * that the programs write: a service that echoes a key in an answer
 * must not get it into a record, onto stderr or into a -v trace.
 */
#ifndef DALLE_SECRET_H
#define DALLE_SECRET_H

#include <stddef.h>

#include <jv.h>

#include "util.h"

/* Shorter secrets are not searched for: they would match ordinary text
 * (and such keys are only ever test keys). */
#define DALLE_SECRET_MIN 8
#define DALLE_SECRET_MARK "[redacted]"

/* Add a secret to search for (copied; NULL or too short: ignored). */
void dalle_secret_add(const char *s);
/* Forget every secret, zeroing the copies. */
void dalle_secret_clear(void);
/* A malloc'd copy of the n bytes at s with every secret replaced by
 * DALLE_SECRET_MARK, its length in *len; NULL when no secret occurs. */
char *dalle_secret_redact(const char *s, size_t n, size_t *len);
/* The same, in buffer b. */
void dalle_secret_redact_buf(struct dalle_buf *b);
/* v (consumed) with every string in it, however deep, redacted. */
jv dalle_secret_redact_jv(jv v);

#endif
