/*
 * base64.c: dalle_base64_decode against a plain decoder of the same
 * rules (both alphabets, white space skipped, padding only at the end and
 * at most two, no lone sixth bit), and encode then decode as a round trip.
 */
#include "fuzz.h"
#include "base64.h"

static int
sextet(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

static unsigned char *
ref_decode(const unsigned char *s, size_t n, size_t *outlen)
{
	unsigned char *o = malloc(n + 1);
	uint32_t acc = 0;
	size_t i, len = 0;
	int bits = 0, pad = 0, v;

	CHECK(o != NULL);
	for (i = 0; i < n; i++) {
		if (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')
			continue;
		if (s[i] == '=') {
			pad++;
			continue;
		}
		if ((v = sextet(s[i])) < 0 || pad)
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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *got, *want;
	size_t glen = 0, wlen = 0, elen;
	char *enc;

	got = dalle_base64_decode((const char *)data, size, &glen);
	want = ref_decode(data, size, &wlen);
	CHECK((got == NULL) == (want == NULL));
	if (got != NULL) {
		CHECK(glen == wlen);
		CHECK(glen == 0 || memcmp(got, want, glen) == 0);
		CHECK(glen <= size / 4 * 3 + 3);
	}
	free(got);
	free(want);

	enc = dalle_base64_encode(data, size, &elen);
	CHECK(elen == (size + 2) / 3 * 4);
	CHECK(strlen(enc) == elen);
	got = dalle_base64_decode(enc, elen, &glen);
	CHECK(got != NULL);
	CHECK(glen == size);
	CHECK(size == 0 || memcmp(got, data, size) == 0);
	free(got);
	free(enc);
	return 0;
}
