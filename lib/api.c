/*
 * api.c: which API a request goes to, its URL, and the credential headers
 * it carries: Azure OpenAI (asynchronous, per deployment, v1) or OpenAI.
 */
#include <stdlib.h>
#include <string.h>

#include "dalle.h"

#define OPENAI_BASE "https://api.openai.com/v1"

static const char *const api_names[] = {
	[DALLE_API_AUTO] = "auto",
	[DALLE_API_AZURE_ASYNC] = "azure-async",
	[DALLE_API_AZURE] = "azure",
	[DALLE_API_AZURE_V1] = "azure-v1",
	[DALLE_API_OPENAI] = "openai",
	[DALLE_API_RESPONSES] = "responses",
};

int
dalle_api_parse(const char *name, enum dalle_api *api)
{
	size_t i;

	for (i = 1; i < sizeof(api_names) / sizeof(api_names[0]); i++)
		if (strcmp(name, api_names[i]) == 0) {
			*api = (enum dalle_api)i;
			return 0;
		}
	return -1;
}

const char *
dalle_api_name(enum dalle_api api)
{
	return api_names[api];
}

enum dalle_api
dalle_api_choose(const struct dalle_conf *c, const char *deployment,
    const char *model)
{
	if (c->api != DALLE_API_AUTO)
		return c->api;
	if (c->endpoint) {
		/* As the official SDKs do, a model names the deployment. */
		if (deployment || c->deployment || model || c->model)
			return DALLE_API_AZURE;
		return DALLE_API_AZURE_ASYNC;
	}
	if (c->openai_key || c->base_url)
		return DALLE_API_OPENAI;
	return DALLE_API_AUTO;
}

enum dalle_api
dalle_api_service(const struct dalle_conf *c, enum dalle_api api)
{
	if (api != DALLE_API_RESPONSES)
		return api;
	return c->endpoint ? DALLE_API_AZURE_V1 : DALLE_API_OPENAI;
}

const char *
dalle_api_version(const struct dalle_conf *c, enum dalle_api api)
{
	if (c->api_version)
		return c->api_version;
	switch (api) {
	case DALLE_API_AZURE_ASYNC:
		return "2023-06-01-preview";  /* the exercise's version */
	case DALLE_API_AZURE:
		return "2025-04-01-preview";  /* dall-e-3 and gpt-image-1 */
	default:
		return NULL;
	}
}

char *
dalle_api_url(const struct dalle_conf *c, enum dalle_api api,
    const char *deployment, const char *what)
{
	const char *ver;
	char *url, *esc;

	api = dalle_api_service(c, api);
	ver = dalle_api_version(c, api);
	switch (api) {
	case DALLE_API_AZURE_ASYNC:
		return dalle_xasprintf("%s/openai/%s:submit?api-version=%s",
		    c->endpoint, what, ver);
	case DALLE_API_AZURE:
		esc = dalle_url_escape(deployment);
		url = dalle_xasprintf("%s/openai/deployments/%s/%s"
		    "?api-version=%s", c->endpoint, esc, what, ver);
		free(esc);
		return url;
	case DALLE_API_AZURE_V1:
		if (ver)
			return dalle_xasprintf("%s/openai/v1/%s?api-version=%s",
			    c->endpoint, what, ver);
		return dalle_xasprintf("%s/openai/v1/%s", c->endpoint, what);
	default:
		return dalle_xasprintf("%s/%s",
		    c->base_url ? c->base_url : OPENAI_BASE, what);
	}
}

struct curl_slist *
dalle_api_auth(const struct dalle_conf *c, enum dalle_api api,
    struct curl_slist *h)
{
	char *s;

	if (dalle_api_service(c, api) == DALLE_API_OPENAI) {
		s = dalle_xasprintf("Authorization: Bearer %s",
		    c->openai_key ? c->openai_key : "");
		h = curl_slist_append(h, s);
		dalle_secret_free(s);
		if (c->org) {
			s = dalle_xasprintf("OpenAI-Organization: %s", c->org);
			h = curl_slist_append(h, s);
			free(s);
		}
		if (c->project) {
			s = dalle_xasprintf("OpenAI-Project: %s", c->project);
			h = curl_slist_append(h, s);
			free(s);
		}
		return h;
	}
	/* Azure: an Entra ID token wins over a key, as in openai-python. */
	if (c->token)
		s = dalle_xasprintf("Authorization: Bearer %s", c->token);
	else
		s = dalle_xasprintf("api-key: %s", c->key ? c->key : "");
	h = curl_slist_append(h, s);
	dalle_secret_free(s);
	return h;
}
