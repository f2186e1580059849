/*
 * owner.c: which request an image on disk was made for, as its
 * provenance says (provenance.c writes it): dalle-submit -d/-o skips a
 * request only for its own image, dalle-fetch replaces another
 * request's.  Read without libpng: the chunks are walked by their
 * lengths with pread, the image data never read nor mapped.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dalle.h"

/* The longest iTXt chunk read, and the head of a JPEG read for its COM
 * segments (they come before the scan, after at most a few APPn). */
#define OWNER_CHUNK_MAX (1 << 20)
#define OWNER_JPEG_HEAD (4 << 20)

static const unsigned char png_magic[8] = {
	0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'
};

/* The text of the PNG iTXt chunk keyword key in the file fd of n bytes
 * (malloc'd), or NULL.  The chunks are walked by their lengths with
 * pread, the image data never read nor mapped (a file cut short under
 * a mapping would be a SIGBUS). */
static char *
png_field(int fd, size_t n, const char *key)
{
	size_t off = 8, len, k = strlen(key), i;
	unsigned char h[8], *d;
	char *s = NULL;

	while (s == NULL && off + 12 <= n &&
	    pread(fd, h, 8, (off_t)off) == 8) {
		len = (size_t)h[0] << 24 | (size_t)h[1] << 16 |
		    (size_t)h[2] << 8 | h[3];
		if (len > n - off - 12 || memcmp(h + 4, "IEND", 4) == 0)
			break;
		if (memcmp(h + 4, "iTXt", 4) == 0 && len > k + 2 &&
		    len <= OWNER_CHUNK_MAX) {
			d = dalle_xmalloc(len);
			if (pread(fd, d, len, (off_t)(off + 8)) == (ssize_t)len &&
			    memcmp(d, key, k) == 0 && d[k] == '\0' &&
			    d[k + 1] == 0) {
				/* Uncompressed; past language and
				 * translated key. */
				for (i = k + 3; i < len && d[i] != '\0'; i++)
					;
				for (i++; i < len && d[i] != '\0'; i++)
					;
				if (++i <= len)
					s = strndup((const char *)d + i,
					    len - i);
			}
			free(d);
		}
		off += 12 + len;
	}
	return s;
}

/* The string field key of the JSON that a run of consecutive COM
 * segments of the JPEG p[0..n) holds before its scan (ours, split where
 * it was too long for one; the service may have a COM of its own), or
 * NULL (malloc'd). */
static char *
jpeg_field(const unsigned char *p, size_t n, const char *key)
{
	struct dalle_buf b = { NULL, 0, 0 };
	size_t com[64][2], off = 2, len;
	char *s = NULL;
	int k = 0, i, j;
	jv o;

	while (k < 64 && off + 4 <= n && p[off] == 0xff &&
	    p[off + 1] != 0xda && p[off + 1] != 0xd9) {
		len = (size_t)p[off + 2] << 8 | p[off + 3];
		if (len < 2 || off + 2 + len > n)
			break;
		if (p[off + 1] == 0xfe) {
			com[k][0] = off + 4;
			com[k++][1] = len - 2;
		}
		off += 2 + len;
	}
	for (i = 0; i < k && s == NULL; i++) {
		if (com[i][1] == 0 || p[com[i][0]] != '{')
			continue;
		b.len = 0;
		for (j = i; j < k && s == NULL; j++) {
			dalle_buf_add(&b, p + com[j][0], com[j][1]);
			o = jv_parse_sized(b.p, (int)b.len);
			if (dalle_record_str(o, key) != NULL)
				s = dalle_xstrdup(dalle_record_str(o, key));
			jv_free(o);
		}
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
	    st.st_size > 0 && st.st_size < 1 << 24 &&
	    dalle_read_fd(sfd, &b, 1 << 24) == -1)
		b.len = 0;
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
	unsigned char sig[8] = { 0 }, *head;
	struct stat st;
	char *s = NULL;
	size_t n;
	ssize_t got;
	int fd, rc = -1;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) == -1)
		return -1;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) || st.st_size < 20) {
		close(fd);
		return -1;
	}
	if (pread(fd, sig, 8, 0) == 8 && memcmp(sig, png_magic, 8) == 0)
		s = png_field(fd, (size_t)st.st_size, "request_hash");
	else if (sig[0] == 0xff && sig[1] == 0xd8) {
		n = (size_t)st.st_size < OWNER_JPEG_HEAD ?
		    (size_t)st.st_size : OWNER_JPEG_HEAD;
		head = dalle_xmalloc(n);
		if ((got = pread(fd, head, n, 0)) > 0)
			s = jpeg_field(head, (size_t)got, "request_hash");
		free(head);
	}
	if (s == NULL)
		s = sidecar_hash(path, fd);
	close(fd);
	if (s != NULL)
		rc = hash != NULL && strcmp(s, hash) == 0;
	free(s);
	return rc;
}
