/*
 * fuzz.h: what the libFuzzer harnesses of tests/fuzz share (make fuzz).
 * Each harness is one file that defines LLVMFuzzerTestOneInput and checks
 * what it can of the code's promises, not only that nothing crashed.
 */
#ifndef FUZZ_H
#define FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A broken promise is a crash, with the line that found it. */
#define CHECK(c) do { \
	if (!(c)) { \
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
		    __LINE__, #c); \
		abort(); \
	} \
} while (0)

/* The n bytes at d as a NUL-terminated string (malloc'd). */
static inline char *
fuzz_str(const uint8_t *d, size_t n)
{
	char *s = malloc(n + 1);

	CHECK(s != NULL);
	if (n > 0)
		memcpy(s, d, n);
	s[n] = '\0';
	return s;
}

/*
 * The n bytes at d with every "#B#" made a run of 65536 and more plain
 * characters (malloc'd, NUL-terminated, its length in *len): small inputs
 * that reach the code of big strings (big.h lifts strings of 64 KiB up).
 */
static inline char *
fuzz_big(const uint8_t *d, size_t n, size_t *len)
{
	size_t i, k, big = 0, at = 0, run;
	char *s;

	for (i = 0; i + 3 <= n; i++)
		if (memcmp(d + i, "#B#", 3) == 0)
			big++;
	s = malloc(n + big * (65536 + 64) + 1);
	CHECK(s != NULL);
	for (i = 0; i < n; i++) {
		if (i + 3 <= n && memcmp(d + i, "#B#", 3) == 0) {
			run = 65536 + i % 64;
			for (k = 0; k < run; k++)
				s[at++] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij"
				    "klmnopqrstuvwxyz0123456789+/="[(k * 7 + i) % 65];
			i += 2;
			continue;
		}
		s[at++] = (char)d[i];
	}
	s[at] = '\0';
	*len = at;
	return s;
}

/* The state of fuzz_tmp: its directory and the file it removes. */
struct fuzz_tmp {
	char dir[64];
	char file[64];
};

static inline struct fuzz_tmp *
fuzz_tmp_state(void)
{
	static struct fuzz_tmp t;

	return &t;
}

static inline void
fuzz_tmp_remove(void)
{
	struct fuzz_tmp *t = fuzz_tmp_state();

	unlink(t->file);
	rmdir(t->dir);
}

/* A directory of the harness's own, /tmp/dalle-fuzz-NAME.XXXXXX, made
 * the working directory and removed at exit with the one file, file,
 * that the harness writes in it. */
static inline void
fuzz_tmp(const char *name, const char *file)
{
	struct fuzz_tmp *t = fuzz_tmp_state();

	snprintf(t->dir, sizeof(t->dir), "/tmp/dalle-fuzz-%s.XXXXXX", name);
	CHECK(mkdtemp(t->dir) != NULL);
	CHECK(chdir(t->dir) == 0);
	CHECK(strlen(file) < sizeof(t->file));
	strcpy(t->file, file);
	atexit(fuzz_tmp_remove);
}

/* A small deterministic sequence from the input, for split points. */
static inline uint32_t
fuzz_next(uint32_t *st)
{
	*st ^= *st << 13;
	*st ^= *st >> 17;
	*st ^= *st << 5;
	return *st;
}

static inline uint32_t
fuzz_seed(const uint8_t *d, size_t n)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ d[i]) * 16777619u;
	return h ? h : 1;
}

#endif
