/*
 * util.h: allocation that dies on failure, growable buffers, clocks,
 * hashing, a pseudo-random sequence, a number parser and the exit
 * statuses.  No curl, no jq: for the filters and dalle-serve alike.
 */
#ifndef DALLE_UTIL_H
#define DALLE_UTIL_H

#include <stddef.h>
#include <stdint.h>

#ifndef VERSION
#define VERSION "0.0.0"
#endif

/*
 * Exit statuses.  Sysexits where one fits; two of our own for per-record
 * outcomes that are no fault of the machine.  A filter exits with the status
 * of the first failed record.
 */
enum {
	DALLE_EX_OK = 0,
	DALLE_EX_FAILED = 1,      /* a record failed: operation failed, gone... */
	DALLE_EX_FILTERED = 2,    /* the service's content filter refused it */
	DALLE_EX_USAGE = 64,
	DALLE_EX_DATAERR = 65,    /* bad input line or invalid request */
	DALLE_EX_NOINPUT = 66,
	DALLE_EX_UNAVAILABLE = 69,/* service kept failing after retries */
	DALLE_EX_SOFTWARE = 70,
	DALLE_EX_OSERR = 71,
	DALLE_EX_CANTCREAT = 73,
	DALLE_EX_IOERR = 74,
	DALLE_EX_TEMPFAIL = 75,   /* still running when the timeout came */
	DALLE_EX_PROTOCOL = 76,
	DALLE_EX_NOPERM = 77,     /* 401/403 */
	DALLE_EX_CONFIG = 78
};

/* malloc and friends that exit 71 on failure instead of returning NULL. */
void *dalle_xmalloc(size_t n);
void *dalle_xcalloc(size_t n, size_t size);
void *dalle_xrealloc(void *p, size_t n);
char *dalle_xstrdup(const char *s);
/* printf into a new malloc'd string; dies on OOM. */
char *dalle_xasprintf(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* A growable byte buffer; always NUL-terminated after its len bytes. */
struct dalle_buf {
	char *p;
	size_t len, cap;
};
void dalle_buf_add(struct dalle_buf *b, const void *p, size_t n);
/* Room for n more bytes (and the NUL) without another allocation. */
void dalle_buf_reserve(struct dalle_buf *b, size_t n);
void dalle_buf_adds(struct dalle_buf *b, const char *s);
void dalle_buf_reset(struct dalle_buf *b);
void dalle_buf_free(struct dalle_buf *b);

/* Milliseconds on the monotonic clock; since the epoch; seconds since it. */
int64_t dalle_now_ms(void);
int64_t dalle_wall_ms(void);
int64_t dalle_time(void);

/* 64-bit FNV-1a of n bytes, its offset basis xor'd with seed (0: plain
 * FNV-1a; another hash: the two chained). */
uint64_t dalle_hash(const void *p, size_t n, uint64_t seed);

/* A 64-bit hash of n bytes for megabytes: 32 bytes a step, several times
 * dalle_hash's speed.  Not the same numbers as dalle_hash. */
uint64_t dalle_hash_words(const void *p, size_t n, uint64_t seed);

/* The next number of a reproducible pseudo-random sequence (splitmix64). */
uint64_t dalle_rand(uint64_t *state);

/* Parse an integer in [min, max]; 0 on success, -1 otherwise. */
int dalle_strtonum(const char *s, long long min, long long max,
    long long *out);

/* Zero a secret and free it. */
void dalle_secret_free(char *s);

/* What is left to read of fd appended to b, up to max bytes of it: 0 at
 * its end, else -1 with errno (EFBIG past max); what was read stays in b.
 * Interrupted reads are resumed. */
int dalle_read_fd(int fd, struct dalle_buf *b, size_t max);

/* The lines of a file (secrets, maybe) without their trailing white space,
 * in a malloc'd NULL-terminated array, *n of them; NULL with errno set when
 * the file cannot be read.  Free with dalle_file_lines_free, which zeroes
 * them. */
char **dalle_file_lines(const char *path, size_t *n);
void dalle_file_lines_free(char **v);

/* Flush and close stdout; returns rc, or 74 when writing failed (quietly
 * on EPIPE).  Call as: return dalle_finish(rc). */
int dalle_finish(int rc);

#endif
