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
 * The same six bits of each character, already where they go in the three
 * bytes of a quantum, byte 0 lowest: four lookups and an OR make three
 * bytes.  Anything but data is BAD, which no OR of data values reaches.
 */
#define V(c) ((c) >= 'A' && (c) <= 'Z' ? (c) - 'A' : \
    (c) >= 'a' && (c) <= 'z' ? (c) - 'a' + 26 : \
    (c) >= '0' && (c) <= '9' ? (c) - '0' + 52 : \
    (c) == '+' || (c) == '-' ? 62 : (c) == '/' || (c) == '_' ? 63 : -1)
#define BAD 0x01ffffffU
#define D0(c) (V(c) < 0 ? BAD : (uint32_t)V(c) << 2),
#define D1(c) (V(c) < 0 ? BAD : (uint32_t)V(c) >> 4 | \
    ((uint32_t)V(c) & 15) << 12),
#define D2(c) (V(c) < 0 ? BAD : (uint32_t)V(c) >> 2 << 8 | \
    ((uint32_t)V(c) & 3) << 22),
#define D3(c) (V(c) < 0 ? BAD : (uint32_t)V(c) << 16),
#define R4(f, n) f(n) f(n + 1) f(n + 2) f(n + 3)
#define R16(f, n) R4(f, n) R4(f, n + 4) R4(f, n + 8) R4(f, n + 12)
#define R64(f, n) R16(f, n) R16(f, n + 16) R16(f, n + 32) R16(f, n + 48)
#define R256(f) R64(f, 0) R64(f, 64) R64(f, 128) R64(f, 192)
static const uint32_t d0[256] = { R256(D0) }, d1[256] = { R256(D1) },
    d2[256] = { R256(D2) }, d3[256] = { R256(D3) };

/*
 * Four characters make three bytes at a time while all four are data, at
 * memory's pace; anything else (white space, padding, a bad byte) goes one
 * character at a time through the accumulator, which the fast loop leaves
 * empty.
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
				w = d0[u[i]] | d1[u[i + 1]] | d2[u[i + 2]] |
				    d3[u[i + 3]];
				if (w >= BAD)
					break;
				o[len] = (unsigned char)w;
				o[len + 1] = (unsigned char)(w >> 8);
				o[len + 2] = (unsigned char)(w >> 16);
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
