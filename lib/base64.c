/* base64.c: RFC 4648 base64, both alphabets read, the standard written. */
#include <stdint.h>
#include <stdlib.h>

#include "base64.h"
#include "util.h"

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *
dalle_base64_encode(const void *p, size_t n, size_t *outlen)
{
	const unsigned char *s = p;
	char *o, *d;
	size_t i;

	d = o = dalle_xmalloc((n + 2) / 3 * 4 + 1);
	for (i = 0; i + 2 < n; i += 3) {
		*d++ = b64[s[i] >> 2];
		*d++ = b64[(s[i] & 3) << 4 | s[i + 1] >> 4];
		*d++ = b64[(s[i + 1] & 15) << 2 | s[i + 2] >> 6];
		*d++ = b64[s[i + 2] & 63];
	}
	if (i < n) {
		*d++ = b64[s[i] >> 2];
		if (i + 1 < n) {
			*d++ = b64[(s[i] & 3) << 4 | s[i + 1] >> 4];
			*d++ = b64[(s[i + 1] & 15) << 2];
		} else {
			*d++ = b64[(s[i] & 3) << 4];
			*d++ = '=';
		}
		*d++ = '=';
	}
	*d = '\0';
	if (outlen)
		*outlen = (size_t)(d - o);
	return o;
}

/* Each byte's six bits; W white space, P padding, X anything else.  The
 * bytes from 128 up are all X. */
#define X 0x80
#define W 0x40
#define P 0x41
static const unsigned char val[256] = {
	 X, X, X, X, X, X, X, X, X, W, W, X, X, W, X, X,
	 X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	 W, X, X, X, X, X, X, X, X, X, X,62, X,62, X,63,
	52,53,54,55,56,57,58,59,60,61, X, X, X, P, X, X,
	 X, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9,10,11,12,13,14,
	15,16,17,18,19,20,21,22,23,24,25, X, X, X, X,63,
	 X,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,
	41,42,43,44,45,46,47,48,49,50,51, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X
};
#undef X
#undef W
#undef P

/*
 * Four characters make three bytes at a time while all four are data, at
 * about a gigabyte a second; anything else (white space, padding, a bad
 * byte) goes one character at a time through the accumulator, which the
 * fast loop leaves empty.
 */
unsigned char *
dalle_base64_decode(const char *s, size_t n, size_t *outlen)
{
	const unsigned char *u = (const unsigned char *)s;
	unsigned char *o;
	uint32_t acc = 0, w;
	size_t i = 0, len = 0;
	int bits = 0, pad = 0, v;

	o = dalle_xmalloc(n / 4 * 3 + 3);
	while (i < n) {
		if (bits == 0 && !pad) {
			for (; i + 4 <= n; i += 4) {
				if ((val[u[i]] | val[u[i + 1]] | val[u[i + 2]] |
				    val[u[i + 3]]) & 0xc0)
					break;
				w = (uint32_t)val[u[i]] << 18 |
				    (uint32_t)val[u[i + 1]] << 12 |
				    (uint32_t)val[u[i + 2]] << 6 | val[u[i + 3]];
				o[len] = (unsigned char)(w >> 16);
				o[len + 1] = (unsigned char)(w >> 8);
				o[len + 2] = (unsigned char)w;
				len += 3;
			}
			if (i == n)
				break;
		}
		v = val[u[i++]];
		if (v == 0x40)
			continue;
		if (v == 0x41) {
			pad++;
			continue;
		}
		if (v & 0x80 || pad)
			goto bad;       /* a bad byte, or data after padding */
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			o[len++] = (unsigned char)(acc >> bits);
		}
	}
	if (pad > 2 || bits >= 6)
		goto bad;
	*outlen = len;
	return o;
bad:
	free(o);
	return NULL;
}
