/*
 * conf.h: configuration, the same in every filter: options, ./.env and
 * the environment.
 */
#ifndef DALLE_CONF_H
#define DALLE_CONF_H

#include <getopt.h>

#include "api.h"

struct dalle_conf {
	const char *prog;
	enum dalle_api api;       /* as forced by --api, or AUTO */
	char *endpoint;           /* Azure endpoint, without trailing '/' */
	char *base_url;           /* OpenAI base URL, without trailing '/' */
	char *deployment;
	char *model;
	char *api_version;        /* NULL: the API's default */
	char *key;                /* secret: Azure api-key */
	char *token;              /* secret: Azure Entra ID Bearer token */
	char *openai_key;         /* secret: OpenAI key, sent as Bearer */
	char *token_command;
	char *org, *project;
	int allow_http;
	char *cacert;             /* --cacert: CAs to trust, or NULL */
	int retries;              /* retries after the first attempt */
	long timeout_ms;          /* per HTTP request */
	long connect_timeout_ms;
	long max_wait_ms;         /* longest server-requested wait we accept */
	int jobs;                 /* -j: transfers in flight (0: default) */
	int keep_order;           /* records out in input order */
	int verbose, quiet;
	long long max_line;       /* --max-line: 0, the program's default */
};

/* Long options every program takes, and their codes (256 up).  Put
 * DALLE_CONF_LONGOPTS in the program's struct option table. */
enum {
	DALLE_OPT_ENDPOINT = 256, DALLE_OPT_API, DALLE_OPT_API_VERSION,
	DALLE_OPT_DEPLOYMENT, DALLE_OPT_MODEL, DALLE_OPT_KEY_FILE,
	DALLE_OPT_TOKEN_COMMAND, DALLE_OPT_ALLOW_HTTP, DALLE_OPT_RETRIES,
	DALLE_OPT_BASE_URL, DALLE_OPT_REQ_TIMEOUT, DALLE_OPT_KEY_ARGV,
	DALLE_OPT_KEEP_ORDER, DALLE_OPT_CACERT, DALLE_OPT_MAX_LINE,
	DALLE_OPT_VERSION,
	DALLE_OPT_FIRST_FREE = 300
};
#define DALLE_CONF_LONGOPTS \
	{ "base-url", required_argument, NULL, DALLE_OPT_BASE_URL }, \
	{ "api", required_argument, NULL, DALLE_OPT_API }, \
	{ "deployment", required_argument, NULL, DALLE_OPT_DEPLOYMENT }, \
	{ "model", required_argument, NULL, 'm' }, \
	DALLE_AZURE_LONGOPTS, \
	DALLE_RUN_LONGOPTS
/* What a program that talks to an Azure endpoint takes (dalle-poll). */
#define DALLE_AZURE_LONGOPTS \
	{ "endpoint", required_argument, NULL, DALLE_OPT_ENDPOINT }, \
	{ "api-version", required_argument, NULL, DALLE_OPT_API_VERSION }, \
	{ "api-key-file", required_argument, NULL, DALLE_OPT_KEY_FILE }, \
	{ "token-command", required_argument, NULL, DALLE_OPT_TOKEN_COMMAND }, \
	DALLE_KEY_ARGV_LONGOPTS
/* What every filter takes (dalle-fetch: these alone). */
#define DALLE_RUN_LONGOPTS \
	{ "allow-http", no_argument, NULL, DALLE_OPT_ALLOW_HTTP }, \
	{ "cacert", required_argument, NULL, DALLE_OPT_CACERT }, \
	{ "retries", required_argument, NULL, DALLE_OPT_RETRIES }, \
	{ "request-timeout", required_argument, NULL, DALLE_OPT_REQ_TIMEOUT }, \
	{ "jobs", required_argument, NULL, 'j' }, \
	{ "keep-order", no_argument, NULL, DALLE_OPT_KEEP_ORDER }, \
	{ "max-line", required_argument, NULL, DALLE_OPT_MAX_LINE }, \
	{ "quiet", no_argument, NULL, 'q' }, \
	{ "verbose", no_argument, NULL, 'v' }, \
	{ "help", no_argument, NULL, 'h' }, \
	{ "version", no_argument, NULL, DALLE_OPT_VERSION }

/* Refused with a word on why: a secret in argv shows in ps(1).  Listed so
 * that getopt_long does not take "--api-key" for "--api-key-file". */
#define DALLE_KEY_ARGV_LONGOPTS \
	{ "api-key", required_argument, NULL, DALLE_OPT_KEY_ARGV }, \
	{ "token", required_argument, NULL, DALLE_OPT_KEY_ARGV }

/* A filter's start: SIGPIPE ignored (EPIPE is seen on write), then
 * defaults, ./.env and the environment (the environment wins).  libcurl
 * is set up by the engine, at the first transfer. */
void dalle_conf_init(struct dalle_conf *c, const char *prog);
/* getopt_long(3) over argv that applies the options every program takes
 * itself (dalle_conf_option): returns the next option that is the
 * program's own, or -1 at the end. */
int dalle_conf_getopt(struct dalle_conf *c, int argc, char *argv[],
    const char *shortopts, const struct option *longopts);
/* Apply one option parsed by getopt_long; 1 if it was a common option,
 * 0 if not ours; dies with 64/78 on a bad value. */
int dalle_conf_option(struct dalle_conf *c, int ch, const char *arg);
/* Finish after options: run --token-command, check the endpoint and that
 * plain http goes only to loopback (dies with 78 otherwise).  need_service:
 * die with 78 too when no endpoint or credential is configured. */
void dalle_conf_finish(struct dalle_conf *c, int need_service);
void dalle_conf_free(struct dalle_conf *c);

#endif
