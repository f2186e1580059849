/* url.c: URL helpers on libcurl's URL functions. */
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "url.h"

char *
dalle_url_escape(const char *s)
{
	char *e, *r;

	if ((e = curl_easy_escape(NULL, s, 0)) == NULL)
		return NULL;
	/* Ours to free(3), not curl_free's. */
	r = strdup(e);
	curl_free(e);
	return r;
}
