/*
 * url.h: URLs parsed by libcurl's URL API, the way libcurl parses them when
 * it connects.  No curl type in these prototypes: for dalle-serve too.
 */
#ifndef DALLE_URL_H
#define DALLE_URL_H

#include <stddef.h>

/* The parts of a URL that checks look at; all malloc'd. */
struct dalle_url {
	char *scheme;             /* lower case: "https" */
	char *host;               /* lower case; IPv6 in brackets: "[::1]" */
	char *origin;             /* scheme://host:port, the default port
	                           * filled in: https://h and https://h:443
	                           * are one origin */
	char *last;               /* the last path segment, maybe "" */
	int creds;                /* a user name or password in it */
};
/* Parse url (any scheme); 0, or -1 when libcurl would not take it (u is
 * then empty).  Free with dalle_url_free. */
int dalle_url_parse(const char *url, struct dalle_url *u);
void dalle_url_free(struct dalle_url *u);
/* Is the host of this URL a loopback address (127/8, ::1, localhost)? */
int dalle_url_is_loopback(const char *url);
/* Why url may not be used, or NULL if it may: an https URL, or http to a
 * loopback host or with allow_http, and without a user name or password.
 * The reason is a static string. */
const char *dalle_url_check(const char *url, int allow_http);
/* Do two URLs have one origin (scheme, host and port)?  0 when either
 * does not parse or holds a user name or password. */
int dalle_url_same_origin(const char *a, const char *b);
/* s percent-encoded (curl_easy_escape); malloc'd, dies on OOM. */
char *dalle_url_escape(const char *s);
/* A copy of n bytes of text with the value of every "sig=" URL parameter
 * (a SAS signature) replaced by [redacted]; malloc'd, NUL-terminated. */
char *dalle_url_redact(const char *s, size_t n);

#endif
