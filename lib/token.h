/* token.h: --token-command, run apart from the program and within limits. */
#ifndef DALLE_TOKEN_H
#define DALLE_TOKEN_H

#include <stddef.h>

/* The longest a token command may take, and the most it may print. */
#define DALLE_TOKEN_TIMEOUT_MS 30000
#define DALLE_TOKEN_MAX 65536

/*
 * Run cmd with sh -c: stdin from /dev/null, stdout read here, stderr
 * shared, in a process group of its own, with none of the keys and
 * tokens of the environment (it needs none of them).  Killed with its
 * group when it runs past timeout_ms or prints more than DALLE_TOKEN_MAX
 * bytes.  Returns its output (malloc'd, NUL-terminated, a secret: free
 * with dalle_secret_free) when it exits 0, else NULL with why (at least
 * 128 bytes) saying what went wrong.
 */
char *dalle_token_run(const char *cmd, long timeout_ms, char *why,
    size_t whylen);

#endif
