/*
 * api.h: the APIs a request may go to, their URLs and credentials.  For
 * the filters (a curl type in dalle_api_auth).
 */
#ifndef DALLE_API_H
#define DALLE_API_H

#include <curl/curl.h>

struct dalle_conf;

enum dalle_api {
	DALLE_API_AUTO,
	DALLE_API_AZURE_ASYNC,    /* legacy DALL-E 2 :submit + operations */
	DALLE_API_AZURE,          /* /openai/deployments/{d}/images/... */
	DALLE_API_AZURE_V1,       /* /openai/v1/images/..., model in body */
	DALLE_API_OPENAI,         /* {base}/images/..., Bearer */
	DALLE_API_RESPONSES       /* background responses (responses.h) */
};

/* The API a request goes to, given the record's own deployment/model
 * (either may be NULL). */
enum dalle_api dalle_api_choose(const struct dalle_conf *c,
    const char *deployment, const char *model);
/* The API's name as --api and records spell it; the API of a name (0),
 * or -1 when there is none of that name. */
const char *dalle_api_name(enum dalle_api api);
int dalle_api_parse(const char *name, enum dalle_api *api);
/* The service an API's requests go to: for DALLE_API_RESPONSES, Azure's
 * v1 route when an endpoint is configured, else OpenAI; api itself for
 * the others. */
enum dalle_api dalle_api_service(const struct dalle_conf *c,
    enum dalle_api api);
/* Default api-version of an API (NULL: send none). */
const char *dalle_api_version(const struct dalle_conf *c, enum dalle_api api);
/* URL of an API's route `what` ("images/generations"), for a deployment
 * where the API takes one.  Returns malloc'd. */
char *dalle_api_url(const struct dalle_conf *c, enum dalle_api api,
    const char *deployment, const char *what);
/* Append the credential headers (api-key or Authorization, OpenAI org and
 * project) to a list; returns the new list. */
struct curl_slist *dalle_api_auth(const struct dalle_conf *c,
    enum dalle_api api, struct curl_slist *h);

#endif
