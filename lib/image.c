/* image.c: what a picture is (format and size) from its first bytes. */
#include <stddef.h>
#include <string.h>

#include "image.h"

static unsigned
be16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static unsigned long
be32(const unsigned char *p)
{
	return (unsigned long)p[0] << 24 | (unsigned long)p[1] << 16 |
	    (unsigned long)p[2] << 8 | p[3];
}

static unsigned long
le24(const unsigned char *p)
{
	return (unsigned long)p[0] | (unsigned long)p[1] << 8 |
	    (unsigned long)p[2] << 16;
}

/* The size in a WebP's first chunk: lossy (VP8), lossless (VP8L) or
 * extended (VP8X). */
static void
webp_size(const unsigned char *p, size_t n, int *w, int *h)
{
	unsigned long b;

	if (n >= 30 && memcmp(p + 12, "VP8 ", 4) == 0 &&
	    memcmp(p + 23, "\x9d\x01\x2a", 3) == 0) {
		*w = (int)((p[26] | p[27] << 8) & 0x3fff);
		*h = (int)((p[28] | p[29] << 8) & 0x3fff);
	} else if (n >= 25 && memcmp(p + 12, "VP8L", 4) == 0 &&
	    p[20] == 0x2f) {
		b = (unsigned long)p[21] | (unsigned long)p[22] << 8 |
		    (unsigned long)p[23] << 16 | (unsigned long)p[24] << 24;
		*w = (int)(b & 0x3fff) + 1;
		*h = (int)(b >> 14 & 0x3fff) + 1;
	} else if (n >= 30 && memcmp(p + 12, "VP8X", 4) == 0) {
		*w = (int)le24(p + 24) + 1;
		*h = (int)le24(p + 27) + 1;
	}
}

const char *
dalle_image_probe(const void *buf, size_t n, int *w, int *h)
{
	const unsigned char *p = buf;
	size_t i;

	*w = *h = 0;
	if (n >= 24 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0) {
		if (memcmp(p + 12, "IHDR", 4) == 0) {
			/* A size of 1 to 2^31 - 1 each way, or no PNG,
			 * whatever its signature says. */
			if (be32(p + 16) == 0 || be32(p + 20) == 0 ||
			    be32(p + 16) > 0x7fffffffUL ||
			    be32(p + 20) > 0x7fffffffUL)
				return NULL;
			*w = (int)be32(p + 16);
			*h = (int)be32(p + 20);
		}
		return "png";
	}
	if (n >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff) {
		/* Walk the segments to the first start-of-frame marker. */
		for (i = 2; i + 9 < n; ) {
			unsigned m;

			if (p[i] != 0xff)
				break;
			m = p[i + 1];
			if (m == 0xff) {
				i++;
				continue;
			}
			if (m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 &&
			    m != 0xcc) {
				*h = (int)be16(p + i + 5);
				*w = (int)be16(p + i + 7);
				break;
			}
			if (m == 0xd8 || (m >= 0xd0 && m <= 0xd7)) {
				i += 2;
				continue;
			}
			i += 2 + be16(p + i + 2);
		}
		return "jpeg";
	}
	if (n >= 12 && memcmp(p, "RIFF", 4) == 0 &&
	    memcmp(p + 8, "WEBP", 4) == 0) {
		webp_size(p, n, w, h);
		return "webp";
	}
	if (n >= 10 && memcmp(p, "GIF8", 4) == 0) {
		*w = p[6] | p[7] << 8;
		*h = p[8] | p[9] << 8;
		return "gif";
	}
	return NULL;
}
