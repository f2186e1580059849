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

unsigned char *
dalle_base64_decode(const char *s, size_t n, size_t *outlen)
{
	unsigned char *o;
	uint32_t acc = 0;
	size_t i, len = 0;
	int bits = 0, pad = 0, v;

	o = dalle_xmalloc(n / 4 * 3 + 3);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
			continue;
		if (c == '=') {
			pad++;
			continue;
		}
		if (pad)
			goto bad;       /* data after padding */
		if (c >= 'A' && c <= 'Z')
			v = c - 'A';
		else if (c >= 'a' && c <= 'z')
			v = c - 'a' + 26;
		else if (c >= '0' && c <= '9')
			v = c - '0' + 52;
		else if (c == '+' || c == '-')
			v = 62;
		else if (c == '/' || c == '_')
			v = 63;
		else
			goto bad;
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
