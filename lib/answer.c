/*
 * answer.c: what an answer may be.  A server that labels an HTML page as
 * an image, compresses what nobody asked to be compressed or sends a
 * login page with 200 is refused when its headers arrive, before a byte
 * of its body is kept.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dalle.h"

/* Is the media type of ctype (parameters aside) t, or does it begin with
 * t when t ends in '/'? */
static int
type_is(const char *ctype, const char *t)
{
	size_t n = strlen(t);

	while (*ctype == ' ')
		ctype++;
	if (strncasecmp(ctype, t, n) != 0)
		return 0;
	return t[n - 1] == '/' || ctype[n] == '\0' || ctype[n] == ';' ||
	    ctype[n] == ' ';
}

/* Does s hold w, in any case? */
static int
has(const char *s, const char *w)
{
	for (; *s != '\0'; s++)
		if (strncasecmp(s, w, strlen(w)) == 0)
			return 1;
	return 0;
}

static int
json_type(const char *ctype)
{
	const char *semi = strchr(ctype, ';'), *plus;

	if (type_is(ctype, "application/json"))
		return 1;
	/* application/problem+json and the like */
	plus = strstr(ctype, "+json");
	return plus != NULL && (semi == NULL || plus < semi);
}

const char *
dalle_answer_refused(const char *ctype, const char *cenc, int image,
    int stream)
{
	if (image) {
		if (cenc != NULL && *cenc != '\0' &&
		    strcasecmp(cenc, "identity") != 0)
			return "the image came with a Content-Encoding that "
			    "was not asked for";
		if (ctype == NULL || *ctype == '\0' ||
		    type_is(ctype, "image/") ||
		    type_is(ctype, "application/octet-stream") ||
		    type_is(ctype, "binary/octet-stream"))
			return NULL;
		return "the image URL answered with a type that is not an "
		    "image";
	}
	/* JSON, or a file's bytes (the Files API's octet-stream); not a
	 * page or a text meant for people. */
	if (ctype == NULL || *ctype == '\0' || json_type(ctype) ||
	    (stream && type_is(ctype, "text/event-stream")))
		return NULL;
	if (type_is(ctype, "text/") || has(ctype, "html") || has(ctype, "xml"))
		return "the answer is not JSON (its Content-Type says "
		    "otherwise)";
	return NULL;
}

int
dalle_answer_bytes(const char *s, long long *v)
{
	static const char units[] = "kmg";
	const char *u;
	char *num = dalle_xstrdup(s);
	int shift = 0, rc;

	if (*s != '\0' && (u = strchr(units, s[strlen(s) - 1] | 0x20)) !=
	    NULL) {
		shift = 10 * (int)(u - units + 1);
		num[strlen(num) - 1] = '\0';
	}
	rc = dalle_strtonum(num, 1, (1LL << 40) >> shift, v);
	free(num);
	if (rc != 0)
		return -1;
	*v <<= shift;
	return 0;
}
