/* lines.h: a line reader that never blocks the caller.  No curl, no jq. */
#ifndef DALLE_LINES_H
#define DALLE_LINES_H

#include <stddef.h>

/* A line reader over a file descriptor that never blocks the caller when
 * it is called only after poll(2) said the descriptor is readable. */
struct dalle_lines;
struct dalle_lines *dalle_lines_new(int fd);
void dalle_lines_free(struct dalle_lines *lr);
/* Read once from the fd; returns bytes read, 0 at EOF, -1 on error. */
long dalle_lines_fill(struct dalle_lines *lr);
/* The size asked of a pipe read from (and of stdout's, by the loop):
 * Linux's F_SETPIPE_SZ, which glibc shows only to _GNU_SOURCE. */
#define DALLE_PIPE_SIZE (256 * 1024)
#if defined(__linux__) && !defined(F_SETPIPE_SZ)
#define F_SETPIPE_SZ 1031
#endif

/* Next complete line (without its newline, NUL-terminated; borrowed until
 * the next dalle_lines_fill, which may move it) or NULL.  At EOF a last unterminated line is returned.
 * *lineno gets its 1-based number. */
char *dalle_lines_next(struct dalle_lines *lr, size_t *len, long *lineno);
/* Has the reader seen EOF and handed out every line? */
int dalle_lines_eof(const struct dalle_lines *lr);

#endif
