/*
 * url.c: URLs read the way libcurl reads them when it connects (its URL
 * API, curl_url), so that a check and the transfer it guards never see two
 * different hosts in one string; percent-encoding; SAS signatures redacted.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <err.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "url.h"
#include "util.h"

static char *
part(CURLU *h, CURLUPart what, unsigned flags)
{
	char *s, *c;

	if (curl_url_get(h, what, &s, flags) != CURLUE_OK)
		return NULL;
	c = dalle_xstrdup(s);
	curl_free(s);
	return c;
}

static void
lower(char *s)
{
	for (; s && *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

int
dalle_url_parse(const char *url, struct dalle_url *u)
{
	CURLU *h;
	char *port, *path, *p;

	memset(u, 0, sizeof(*u));
	if ((h = curl_url()) == NULL)
		errx(DALLE_EX_OSERR, "curl_url");
	if (curl_url_set(h, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) !=
	    CURLUE_OK || (u->scheme = part(h, CURLUPART_SCHEME, 0)) == NULL ||
	    (u->host = part(h, CURLUPART_HOST, 0)) == NULL) {
		curl_url_cleanup(h);
		dalle_url_free(u);
		return -1;
	}
	lower(u->scheme);
	lower(u->host);
	port = part(h, CURLUPART_PORT, CURLU_DEFAULT_PORT);
	u->origin = port ? dalle_xasprintf("%s://%s:%s", u->scheme, u->host,
	    port) : dalle_xasprintf("%s://%s", u->scheme, u->host);
	/* Only looked at, never kept: they are somebody's credentials. */
	if ((path = part(h, CURLUPART_USER, 0)) != NULL ||
	    (path = part(h, CURLUPART_PASSWORD, 0)) != NULL)
		u->creds = 1;
	free(path);
	path = part(h, CURLUPART_PATH, 0);
	p = path ? strrchr(path, '/') : NULL;
	u->last = dalle_xstrdup(p ? p + 1 : path ? path : "");
	free(path);
	free(port);
	curl_url_cleanup(h);
	return 0;
}

void
dalle_url_free(struct dalle_url *u)
{
	free(u->scheme);
	free(u->host);
	free(u->origin);
	free(u->last);
	memset(u, 0, sizeof(*u));
}

static int
host_is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;
	char buf[64];
	size_t n = strlen(host);

	if (strcmp(host, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (host[0] == '[' && n > 2 && n - 2 < sizeof(buf)) {
		memcpy(buf, host + 1, n - 2);
		buf[n - 2] = '\0';
		return inet_pton(AF_INET6, buf, &a6) == 1 &&
		    memcmp(&a6, &in6addr_loopback, sizeof(a6)) == 0;
	}
	return 0;
}

int
dalle_url_is_loopback(const char *url)
{
	struct dalle_url u;
	int r;

	if (dalle_url_parse(url, &u) == -1)
		return 0;
	r = host_is_loopback(u.host);
	dalle_url_free(&u);
	return r;
}

const char *
dalle_url_check(const char *url, int allow_http)
{
	struct dalle_url u;
	const char *why = NULL;

	if (dalle_url_parse(url, &u) == -1 || (strcmp(u.scheme, "https") != 0
	    && strcmp(u.scheme, "http") != 0))
		why = "not an http or https URL";
	else if (u.creds)
		why = "a user name or password in the URL: not sent";
	else if (strcmp(u.scheme, "http") == 0 && !allow_http &&
	    !host_is_loopback(u.host))
		why = "plain http only to loopback addresses (--allow-http to "
		    "permit it)";
	dalle_url_free(&u);
	return why;
}

int
dalle_url_same_origin(const char *a, const char *b)
{
	struct dalle_url ua, ub;
	int r = 0;

	if (dalle_url_parse(a, &ua) == -1)
		return 0;
	/* A user name or password would be sent beside our key. */
	if (dalle_url_parse(b, &ub) == 0) {
		r = strcmp(ua.origin, ub.origin) == 0 && !ua.creds && !ub.creds;
		dalle_url_free(&ub);
	}
	dalle_url_free(&ua);
	return r;
}

char *
dalle_url_escape(const char *s)
{
	char *e, *c;

	if ((e = curl_easy_escape(NULL, s, 0)) == NULL)
		errx(DALLE_EX_OSERR, "curl_easy_escape");
	c = dalle_xstrdup(e);
	curl_free(e);
	return c;
}

char *
dalle_url_redact(const char *s, size_t n)
{
	struct dalle_buf b = { 0 };
	size_t i = 0, k;

	while (i < n) {
		/* a "sig=" parameter: the SAS signature of a blob URL */
		if ((s[i] == '?' || s[i] == '&') && n - i > 4 &&
		    strncmp(s + i + 1, "sig=", 4) == 0) {
			dalle_buf_add(&b, s + i, 5);
			dalle_buf_adds(&b, "[redacted]");
			for (k = i + 5; k < n && s[k] != '&' && s[k] != ' ' &&
			    s[k] != '\r' && s[k] != '\n' && s[k] != '"'; k++)
				;
			i = k;
			continue;
		}
		dalle_buf_add(&b, s + i, 1);
		i++;
	}
	dalle_buf_add(&b, "", 0);
	return b.p;
}

