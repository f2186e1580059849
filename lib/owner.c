/*
 * owner.c: which request an image on disk was made for, as its
 * provenance says (provenance.c writes it): dalle-submit -d/-o skips a
 * request only for its own image, dalle-fetch replaces another
 * request's.  Read without libpng: the chunks are walked by their
 * lengths, the image data never read.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dalle.h"

static const unsigned char png_magic[8] = {
	0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'
};

/* The text of the PNG iTXt chunk keyword key in p[0..n) (malloc'd), or
 * NULL; the chunks are walked by their lengths, no image data read. */
static char *
png_field(const unsigned char *p, size_t n, const char *key)
{
	size_t off = 8, len, k = strlen(key), i;
	const unsigned char *d;

	while (off + 12 <= n) {
		len = (size_t)p[off] << 24 | (size_t)p[off + 1] << 16 |
		    (size_t)p[off + 2] << 8 | p[off + 3];
		if (len > n - off - 12 || memcmp(p + off + 4, "IEND", 4) == 0)
			break;
		d = p + off + 8;
		if (memcmp(p + off + 4, "iTXt", 4) == 0 && len > k + 2 &&
		    memcmp(d, key, k) == 0 && d[k] == '\0' && d[k + 1] == 0) {
			/* Uncompressed; past language and translated key. */
			for (i = k + 3; i < len && d[i] != '\0'; i++)
				;
			for (i++; i < len && d[i] != '\0'; i++)
				;
			if (++i <= len)
				return strndup((const char *)d + i, len - i);
		}
		off += 12 + len;
	}
	return NULL;
}

/* The string field key of the JSON in the COM segments of the JPEG
 * p[0..n) before its scan (malloc'd), or NULL. */
static char *
jpeg_field(const unsigned char *p, size_t n, const char *key)
{
	struct dalle_buf b = { NULL, 0, 0 };
	size_t off = 2, len;
	char *s = NULL;
	jv o;

	while (off + 4 <= n && p[off] == 0xff && p[off + 1] != 0xda &&
	    p[off + 1] != 0xd9) {
		len = (size_t)p[off + 2] << 8 | p[off + 3];
		if (len < 2 || off + 2 + len > n)
			break;
		if (p[off + 1] == 0xfe)
			dalle_buf_add(&b, p + off + 4, len - 2);
		off += 2 + len;
	}
	if (b.len > 0) {
		o = jv_parse_sized(b.p, (int)b.len);
		if (dalle_record_str(o, key) != NULL)
			s = dalle_xstrdup(dalle_record_str(o, key));
		jv_free(o);
	}
	dalle_buf_free(&b);
	return s;
}

/* The request hash in the sidecar path.json, when its "file" is the file
 * fd (its sha256 the same), else NULL (malloc'd). */
static char *
sidecar_hash(const char *path, int fd)
{
	struct dalle_buf b = { NULL, 0, 0 };
	char *name = dalle_xasprintf("%s.json", path), *s = NULL, hex[65];
	long long bytes;
	struct stat st;
	int sfd;
	jv o, file;

	/* A regular file of a sane size, never waited on. */
	sfd = open(name, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
	if (sfd != -1 && fstat(sfd, &st) == 0 && S_ISREG(st.st_mode) &&
	    st.st_size > 0 && st.st_size < 1 << 24) {
		b.p = dalle_xmalloc((size_t)st.st_size);
		b.len = pread(sfd, b.p, (size_t)st.st_size, 0) ==
		    st.st_size ? (size_t)st.st_size : 0;
	}
	if (sfd != -1)
		close(sfd);
	if (b.len > 0) {
		o = jv_parse_sized(b.p, (int)b.len);
		file = dalle_record_get(o, "file");
		if (dalle_record_str(o, "request_hash") != NULL &&
		    dalle_record_str(file, "sha256") != NULL &&
		    dalle_digest_fd(fd, hex, &bytes) == 0 &&
		    strcmp(hex, dalle_record_str(file, "sha256")) == 0)
			s = dalle_xstrdup(dalle_record_str(o, "request_hash"));
		jv_free(file);
		jv_free(o);
	}
	dalle_buf_free(&b);
	free(name);
	return s;
}

int
dalle_owner_of(const char *path, const char *hash)
{
	const unsigned char *f;
	struct stat st;
	char *s = NULL;
	int fd, rc = -1;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) == -1)
		return -1;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) || st.st_size < 20) {
		close(fd);
		return -1;
	}
	f = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (f != MAP_FAILED) {
		if (memcmp(f, png_magic, 8) == 0)
			s = png_field(f, (size_t)st.st_size, "request_hash");
		else if (f[0] == 0xff && f[1] == 0xd8)
			s = jpeg_field(f, (size_t)st.st_size, "request_hash");
		munmap((void *)f, (size_t)st.st_size);
	}
	if (s == NULL)
		s = sidecar_hash(path, fd);
	close(fd);
	if (s != NULL)
		rc = hash != NULL && strcmp(s, hash) == 0;
	free(s);
	return rc;
}
