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

/* The rules said another way: the sextets first, then whole groups. */
static unsigned char *
ref_decode(const unsigned char *s, size_t n, size_t *outlen)
{
	unsigned char *v = malloc(n + 1), *o = malloc(n + 1);
	size_t i, nd = 0, g, len = 0;
	int pad = 0;

	CHECK(v != NULL && o != NULL);
	for (i = 0; i < n; i++) {
		if (strchr(" \t\n\r", s[i]) != NULL && s[i] != '\0')
			continue;
		if (s[i] == '=')
			pad++;
		else if (pad > 0 || sextet(s[i]) < 0)
			pad = 3;        /* no data after padding */
		else
			v[nd++] = (unsigned char)sextet(s[i]);
		if (pad > 2)
			break;
	}
	if (pad > 2 || nd % 4 == 1) {
		free(v);
		free(o);
		return NULL;
	}
	for (g = 0; g < nd; g += 4) {
		o[len++] = (unsigned char)(v[g] << 2 | v[g + 1] >> 4);
		if (g + 2 < nd)
			o[len++] = (unsigned char)(v[g + 1] << 4 | v[g + 2] >> 2);
		if (g + 3 < nd)
			o[len++] = (unsigned char)(v[g + 2] << 6 | v[g + 3]);
	}
	free(v);
	*outlen = len;
	return o;
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
