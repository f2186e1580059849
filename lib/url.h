/*
 * url.h: URL helpers whose prototypes use no curl types, for dalle-serve
 * and anything else that should not include curl.h.
 */
#ifndef DALLE_URL_H
#define DALLE_URL_H

/* s percent-encoded as a URL component: all but A-Z a-z 0-9 - . _ ~
 * (curl_easy_escape).  malloc'd; NULL when out of memory. */
char *dalle_url_escape(const char *s);

#endif
