/*
 * owner.c: dalle_owner_of (lib/owner.c), which reads the request hash
 * out of an image on disk that anyone may have written.  The input is
 * the file, as it is (first byte odd, as PNG's and JPEG's are), or
 * (first byte even) the hash of a PNG built around it with a
 * request_hash iTXt chunk before IEND.
 * Promises: an answer of -1, 0 or 1 and never a crash; 1 only when the
 * file holds the hash asked for; a PNG that names the hash it is asked
 * about is 1, one asked about another hash 0.
 */
#define _GNU_SOURCE                     /* memmem */
#include <fcntl.h>
#include <unistd.h>

#include "fuzz.h"
#include "owner.h"

/* The image, in the harness's directory. */
static const char path[] = "img";

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_tmp("owner", path);
	return 0;
}

static void
put(const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	CHECK(fd != -1);
	CHECK(n == 0 || write(fd, p, n) == (ssize_t)n);
	close(fd);
}

/* A PNG of a signature, an iTXt chunk request_hash = h and IEND (no
 * image data, no CRC checked: the reader walks lengths alone). */
static size_t
png(unsigned char *b, const char *h)
{
	static const unsigned char sig[8] = {
		0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'
	};
	static const char kw[] = "request_hash";
	size_t n = 0, len = sizeof(kw) + 2 + 1 + 1 + strlen(h);

	memcpy(b, sig, 8);
	n = 8;
	b[n++] = (unsigned char)(len >> 24);
	b[n++] = (unsigned char)(len >> 16);
	b[n++] = (unsigned char)(len >> 8);
	b[n++] = (unsigned char)len;
	memcpy(b + n, "iTXt", 4);
	n += 4;
	memcpy(b + n, kw, sizeof(kw));          /* with its NUL */
	n += sizeof(kw);
	b[n++] = 0;                             /* not compressed */
	b[n++] = 0;                             /* method */
	b[n++] = 0;                             /* no language */
	b[n++] = 0;                             /* no translated key */
	memcpy(b + n, h, strlen(h));
	n += strlen(h);
	memset(b + n, 0, 4);                    /* CRC */
	n += 4;
	memcpy(b + n, "\0\0\0\0IEND\xae\x42\x60\x82", 12);
	return n + 12;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char want[] = "0123456789ab";
	unsigned char b[512];
	char *h;
	int rc;

	if (size == 0)
		return 0;
	if (data[0] % 2 == 1) {
		put(data, size);
		rc = dalle_owner_of(path, want);
		CHECK(rc >= -1 && rc <= 1);
		CHECK(rc != 1 || memmem(data, size, want, strlen(want)) != NULL);
		return 0;
	}
	if (size - 1 > 200 || memchr(data + 1, '\0', size - 1) != NULL)
		return 0;
	h = fuzz_str(data + 1, size - 1);
	put(b, png(b, h));
	CHECK(dalle_owner_of(path, h) == 1);
	CHECK(dalle_owner_of(path, strcmp(h, want) ? want : "x") == 0);
	free(h);
	return 0;
}
