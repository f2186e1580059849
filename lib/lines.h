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
/* Next complete line (without its newline, NUL-terminated; borrowed until
 * the next dalle_lines_fill, which may move it) or NULL.  At EOF a last
 * unterminated line is returned.  *lineno gets its 1-based number. */
char *dalle_lines_next(struct dalle_lines *lr, size_t *len, long *lineno);
/* Lines longer than max bytes (0: no limit) are not kept: their bytes
 * are dropped as they arrive, and dalle_lines_next hands out their first
 * 64 bytes instead, with dalle_lines_toolong giving their length. */
void dalle_lines_set_max(struct dalle_lines *lr, size_t max);
/* The length of the line dalle_lines_next just gave if it was too long
 * (only its start was given), else 0. */
size_t dalle_lines_toolong(const struct dalle_lines *lr);
/* Has the reader seen EOF and handed out every line? */
int dalle_lines_eof(const struct dalle_lines *lr);
/* If fd is a pipe of less than 1 MiB, ask for 1 MiB: a record of a
 * real image then crosses it in a few reads and writes, not one per
 * 64 KiB (Linux; nothing elsewhere, or when it fails). */
void dalle_pipe_grow(int fd);

#endif
