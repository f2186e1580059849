/*
 * version.c: the version of the programs and of the libraries they run on.
 */
#include <stdio.h>

#include <curl/curl.h>

#include "version.h"
#include "util.h"

/* libjq 1.6 has no version call: the Makefile hands over what the
 * build found (the Debian package, or jq --version). */
#ifndef DALLE_JQ_VERSION
#define DALLE_JQ_VERSION "unknown"
#endif

void
dalle_version_print(FILE *fp, const char *prog)
{
	const curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);

	fprintf(fp, "%s %s (dalle-tools)\n", prog, VERSION);
	fprintf(fp, "libcurl %s%s%s\n", cv->version, cv->ssl_version ?
	    " " : "", cv->ssl_version ? cv->ssl_version : "");
	fprintf(fp, "libjq %s (at build time)\n", DALLE_JQ_VERSION);
}

const char *
dalle_version_software(void)
{
	return "dalle-tools " VERSION;
}
