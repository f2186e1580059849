/*
 * conf.c: configuration, the same in every program.  Options win over the
 * environment, the environment over ./.env (dotenv rules), and those over
 * the defaults.  Secrets come from the environment, a file or a command,
 * never from argv.
 */
#include <ctype.h>
#include <err.h>
#include <fcntl.h>
#include <getopt.h>
#ifdef __linux__
#include <malloc.h>
#endif
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dalle.h"

struct dotenv {
	char **k, **v;
	size_t n;
};

static struct dotenv dotenv;

/* The most of ./.env that is read: a few settings, not a data file. */
#define DOTENV_MAX 65536

/* Set on the command line: an endpoint or base URL, a key. */
static int endpoint_opt, base_url_opt, key_opt;

static char *
unquote(char *s)
{
	size_t n;
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	if (n >= 2 && (s[0] == '"' || s[0] == '\'') && s[n - 1] == s[0]) {
		s[n - 1] = '\0';
		s++;
		if (s[-1] == '"') {     /* the escapes python-dotenv knows */
			char *d = s;

			for (e = s; *e; e++) {
				if (*e == '\\' && e[1]) {
					e++;
					*d++ = *e == 'n' ? '\n' : *e;
				} else
					*d++ = *e;
			}
			*d = '\0';
		}
		return s;
	}
	/* Unquoted: a " #" starts a comment. */
	for (e = s; *e; e++)
		if (*e == '#' && e > s && (e[-1] == ' ' || e[-1] == '\t')) {
			*e = '\0';
			n = strlen(s);
			while (n && isspace((unsigned char)s[n - 1]))
				s[--n] = '\0';
			break;
		}
	return s;
}

/* Read ./.env: KEY=VALUE lines, "export " allowed, # comments, quotes. */
static void
dotenv_load(void)
{
	FILE *fp;
	char *line = NULL, *k, *eq;
	size_t cap = 0;

	struct stat st;
	int fd;

	/* Only a regular file of ours (or root's) that nobody else may
	 * write: a .env planted in a shared directory (/tmp) must not send
	 * the key to another endpoint.  No wait on a FIFO. */
	if ((fd = open(".env", O_RDONLY | O_CLOEXEC | O_NONBLOCK)) == -1)
		return;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    (st.st_uid != geteuid() && st.st_uid != 0) ||
	    (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		warnx(".env: not a regular file of this user's that only it "
		    "may write: not read");
		close(fd);
		return;
	}
	if (st.st_size > DOTENV_MAX) {
		warnx(".env: larger than %d KiB: not read", DOTENV_MAX / 1024);
		close(fd);
		return;
	}
	if ((fp = fdopen(fd, "r")) == NULL)
		err(DALLE_EX_OSERR, "fdopen");
	while (getline(&line, &cap, fp) != -1) {
		k = line;
		while (*k == ' ' || *k == '\t')
			k++;
		if (*k == '#' || (eq = strchr(k, '=')) == NULL)
			continue;
		if (strncmp(k, "export ", 7) == 0)
			k += 7;
		*eq = '\0';
		k = unquote(k);
		/* A name, as a shell's: a quoted key with escapes (a newline)
		 * names nothing the programs read. */
		if (*k == '\0' || k[strspn(k, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "abcdefghijklmnopqrstuvwxyz0123456789_.-")] != '\0')
			continue;
		dotenv.k = dalle_xrealloc(dotenv.k, (dotenv.n + 1) * sizeof(char *));
		dotenv.v = dalle_xrealloc(dotenv.v, (dotenv.n + 1) * sizeof(char *));
		dotenv.k[dotenv.n] = dalle_xstrdup(k);
		dotenv.v[dotenv.n] = dalle_xstrdup(unquote(eq + 1));
		dotenv.n++;
	}
	explicit_bzero(line, cap);
	free(line);
	fclose(fp);
}

/* The environment wins over .env; an empty value counts as unset. */
static const char *
conf_get(const char *name)
{
	const char *v;
	size_t i;

	if ((v = getenv(name)) != NULL && *v)
		return v;
	for (i = dotenv.n; i-- > 0; )
		if (strcmp(dotenv.k[i], name) == 0 && *dotenv.v[i])
			return dotenv.v[i];
	return NULL;
}

static char *
conf_dup(const char *a, const char *b)
{
	const char *v = conf_get(a);

	if (v == NULL && b)
		v = conf_get(b);
	return v ? dalle_xstrdup(v) : NULL;
}

static void
strip_slash(char *s)
{
	size_t n;

	if (s == NULL)
		return;
	n = strlen(s);
	while (n > 0 && s[n - 1] == '/')
		s[--n] = '\0';
}

static void
set(char **dst, const char *v)
{
	free(*dst);
	*dst = dalle_xstrdup(v);
}

/* A closed stdin, stdout or stderr would be taken by the next open (curl's
 * wake-up socket, an image file): give each one /dev/null instead; a
 * closed stdout gets it read-only, so that no record vanishes there (the
 * loop refuses to start: dalle_loop_main). */
static void
open_std_fds(void)
{
	int fd;

	for (fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) == -1 &&
		    open("/dev/null", fd != 2 ? O_RDONLY : O_WRONLY) != fd)
			errx(DALLE_EX_OSERR, "/dev/null");
}

void
dalle_conf_init(struct dalle_conf *c, const char *prog)
{
	signal(SIGPIPE, SIG_IGN);
	open_std_fds();
#ifdef M_TRIM_THRESHOLD
	/*
	 * Records and answers of real images are megabytes each, one after
	 * another: keep freed memory for the next instead of handing it back
	 * and faulting it in again (glibc would, for blocks over its
	 * threshold).  Peak RSS stays what the work in hand needs.
	 */
	mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
	mallopt(M_TRIM_THRESHOLD, 128 * 1024 * 1024);
#endif
	memset(c, 0, sizeof(*c));
	c->prog = prog;
	c->retries = 4;
	c->timeout_ms = 300000;
	c->connect_timeout_ms = 10000;
	c->max_wait_ms = 600000;
	dotenv_load();
	c->endpoint = conf_dup("AZURE_OPENAI_ENDPOINT", "AZURE_OAI_ENDPOINT");
	c->key = conf_dup("AZURE_OPENAI_API_KEY", "AZURE_OAI_KEY");
	c->token = conf_dup("AZURE_OPENAI_AD_TOKEN", NULL);
	c->deployment = conf_dup("AZURE_OPENAI_DEPLOYMENT",
	    "AZURE_OAI_DEPLOYMENT");
	c->api_version = conf_dup("OPENAI_API_VERSION", NULL);
	c->openai_key = conf_dup("OPENAI_API_KEY", NULL);
	c->base_url = conf_dup("OPENAI_BASE_URL", NULL);
	c->org = conf_dup("OPENAI_ORG_ID", NULL);
	c->project = conf_dup("OPENAI_PROJECT_ID", NULL);
}

/* Read the first line of a file as a secret. */
static char *
read_secret_file(const char *path)
{
	char **lines, *k;
	size_t n;

	if ((lines = dalle_file_lines(path, &n)) == NULL)
		err(DALLE_EX_CONFIG, "%s", path);
	if (n == 0 || *lines[0] == '\0') {
		dalle_file_lines_free(lines);
		errx(DALLE_EX_CONFIG, "%s: empty key file", path);
	}
	k = dalle_xstrdup(lines[0]);
	dalle_file_lines_free(lines);
	return k;
}

/* --cacert: a file of PEM certificates, checked now so that a wrong path
 * stops the run before any record instead of failing every transfer. */
static void
check_cacert(const char *path)
{
	FILE *fp;
	char *line = NULL;
	size_t cap = 0;
	int pem = 0;

	if ((fp = fopen(path, "r")) == NULL)
		err(DALLE_EX_CONFIG, "--cacert: %s", path);
	while (!pem && getline(&line, &cap, fp) != -1)
		pem = strncmp(line, "-----BEGIN ", 11) == 0 &&
		    strstr(line, "CERTIFICATE-----") != NULL;
	if (ferror(fp))
		err(DALLE_EX_CONFIG, "--cacert: %s", path);
	free(line);
	fclose(fp);
	if (!pem)
		errx(DALLE_EX_CONFIG, "--cacert: %s: no PEM certificate in "
		    "it", path);
}

int
dalle_conf_getopt(struct dalle_conf *c, int argc, char *argv[],
    const char *shortopts, const struct option *longopts)
{
	int ch;

	while ((ch = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1)
		if (!dalle_conf_option(c, ch, optarg))
			break;
	return ch;
}

int
dalle_conf_option(struct dalle_conf *c, int ch, const char *arg)
{
	long long n;

	switch (ch) {
	case DALLE_OPT_ENDPOINT:
		set(&c->endpoint, arg);
		endpoint_opt = 1;
		break;
	case DALLE_OPT_BASE_URL:
		set(&c->base_url, arg);
		base_url_opt = 1;
		break;
	case DALLE_OPT_API:
		if (dalle_api_parse(arg, &c->api) == -1)
			errx(DALLE_EX_USAGE, "--api: %s: not one of azure-async, "
			    "azure, azure-v1, openai, responses", arg);
		break;
	case DALLE_OPT_API_VERSION:
		set(&c->api_version, arg);
		break;
	case DALLE_OPT_DEPLOYMENT:
		set(&c->deployment, arg);
		break;
	case 'm':
		set(&c->model, arg);
		break;
	case DALLE_OPT_KEY_FILE: {
		char *k = read_secret_file(arg);

		/* The one key file serves whichever API is in use. */
		dalle_secret_free(c->key);
		dalle_secret_free(c->openai_key);
		c->key = k;
		c->openai_key = dalle_xstrdup(k);
		key_opt = 1;
		break;
	}
	case DALLE_OPT_TOKEN_COMMAND:
		set(&c->token_command, arg);
		break;
	case DALLE_OPT_KEY_ARGV:
		errx(DALLE_EX_USAGE, "keys and tokens are not taken from the "
		    "command line, where ps(1) shows them: use "
		    "AZURE_OPENAI_API_KEY, OPENAI_API_KEY, --api-key-file or "
		    "--token-command");
	case DALLE_OPT_ALLOW_HTTP:
		c->allow_http = 1;
		break;
	case DALLE_OPT_CACERT:
		check_cacert(arg);
		set(&c->cacert, arg);
		break;
	case DALLE_OPT_RETRIES:
		if (dalle_strtonum(arg, 0, 100, &n) == -1)
			errx(DALLE_EX_USAGE, "--retries: %s: not a number from "
			    "0 to 100", arg);
		c->retries = (int)n;
		break;
	case DALLE_OPT_REQ_TIMEOUT:
		if (dalle_strtonum(arg, 1, 86400, &n) == -1)
			errx(DALLE_EX_USAGE, "--request-timeout: %s: not a "
			    "number of seconds from 1 to 86400", arg);
		c->timeout_ms = (long)n * 1000;
		break;
	case 'j':
		if (dalle_strtonum(arg, 1, 10000, &n) == -1)
			errx(DALLE_EX_USAGE, "-j: %s: not a number from 1 to "
			    "10000", arg);
		c->jobs = (int)n;
		break;
	case DALLE_OPT_KEEP_ORDER:
		c->keep_order = 1;
		break;
	case DALLE_OPT_MAX_LINE:
		if (dalle_strtonum(arg, 64, 1LL << 32, &c->max_line) == -1)
			errx(DALLE_EX_USAGE, "--max-line: %s: not a number of "
			    "bytes from 64 to 4294967296", arg);
		break;
	case 'q':
		c->quiet = 1;
		break;
	case 'v':
		c->verbose++;
		break;
	case DALLE_OPT_VERSION:
		/* As -h: on stdout, and nothing else is done. */
		dalle_version_print(stdout, c->prog);
		exit(dalle_finish(0));
	default:
		return 0;
	}
	return 1;
}

/* Run --token-command (token.c), given the request timeout but at most
 * 30 s; its output is the token, or JSON with an accessToken (az account
 * get-access-token) or access_token member. */
static char *
run_token_command(const struct dalle_conf *c, const char *cmd)
{
	struct dalle_buf b = { 0 };
	char why[256], *tok = NULL;
	long ms = c->timeout_ms < DALLE_TOKEN_TIMEOUT_MS ? c->timeout_ms :
	    DALLE_TOKEN_TIMEOUT_MS;
	jv v;

	if ((b.p = dalle_token_run(cmd, ms, why, sizeof(why))) == NULL)
		errx(DALLE_EX_CONFIG, "--token-command %s", why);
	b.len = strlen(b.p);
	v = jv_parse_sized(b.p, (int)b.len);
	if (jv_get_kind(v) == JV_KIND_OBJECT) {
		const char *t = dalle_record_str(v, "accessToken");

		if (t == NULL)
			t = dalle_record_str(v, "access_token");
		if (t)
			tok = dalle_xstrdup(t);
	} else {
		char *s = b.p, *e;

		while (isspace((unsigned char)*s))
			s++;
		for (e = s; *e && !isspace((unsigned char)*e); e++)
			;
		if (e > s)
			tok = strndup(s, (size_t)(e - s));
	}
	jv_free(v);
	explicit_bzero(b.p, b.len);
	dalle_buf_free(&b);
	if (tok == NULL || *tok == '\0')
		errx(DALLE_EX_CONFIG, "--token-command printed no token");
	return tok;
}

static void
check_url(const struct dalle_conf *c, const char *what, const char *url)
{
	const char *why = dalle_url_check(url, c->allow_http);

	if (why != NULL)
		errx(DALLE_EX_CONFIG, "%s: %s: %s", what, url, why);
}

/* Is name (or alt) unset in the environment, so that ./.env gave it? */
static int
from_dotenv(const char *name, const char *alt)
{
	const char *v = getenv(name), *a = alt ? getenv(alt) : NULL;

	return (v == NULL || *v == '\0') && (a == NULL || *a == '\0');
}

/* The value ./.env gives name (or alt), or NULL. */
static const char *
dotenv_get(const char *name, const char *alt)
{
	size_t i;

	for (i = dotenv.n; i-- > 0; )
		if ((strcmp(dotenv.k[i], name) == 0 || (alt &&
		    strcmp(dotenv.k[i], alt) == 0)) && *dotenv.v[i])
			return dotenv.v[i];
	return NULL;
}

/* *dst made ./.env's value of name (or alt); 1 if a secret of another
 * source was dropped for it. */
static int
dotenv_secret(char **dst, const char *name, const char *alt)
{
	const char *v = dotenv_get(name, alt);
	int dropped = *dst != NULL && v == NULL;

	dalle_secret_free(*dst);
	*dst = v ? dalle_xstrdup(v) : NULL;
	return dropped;
}

/*
 * A key goes only to an endpoint of its own source: an endpoint or base
 * URL that ./.env names is sent ./.env's key and no other.  A .env
 * planted in a directory the user works in must not send the key of the
 * user's environment, key file or token command to the host it names.
 */
static void
dotenv_pair(struct dalle_conf *c)
{
	int dropped;

	if (c->endpoint != NULL && !endpoint_opt &&
	    from_dotenv("AZURE_OPENAI_ENDPOINT", "AZURE_OAI_ENDPOINT")) {
		if (key_opt || c->token_command)
			errx(DALLE_EX_CONFIG, ".env: the endpoint %s is from "
			    "./.env: no key of --api-key-file or "
			    "--token-command is sent to it (give --endpoint)",
			    c->endpoint);
		dropped = dotenv_secret(&c->key, "AZURE_OPENAI_API_KEY",
		    "AZURE_OAI_KEY");
		dropped |= dotenv_secret(&c->token, "AZURE_OPENAI_AD_TOKEN",
		    NULL);
		if (dropped && c->key == NULL && c->token == NULL)
			errx(DALLE_EX_CONFIG, ".env: the endpoint %s is from "
			    "./.env, which gives no key: the environment's key "
			    "is not sent to it (put both in the environment or "
			    "both in .env)", c->endpoint);
	}
	if (c->base_url != NULL && !base_url_opt &&
	    from_dotenv("OPENAI_BASE_URL", NULL)) {
		if (key_opt)
			errx(DALLE_EX_CONFIG, ".env: the base URL %s is from "
			    "./.env: no key of --api-key-file is sent to it "
			    "(give --base-url)", c->base_url);
		if (dotenv_secret(&c->openai_key, "OPENAI_API_KEY", NULL) &&
		    c->openai_key == NULL)
			errx(DALLE_EX_CONFIG, ".env: the base URL %s is from "
			    "./.env, which gives no key: the environment's key "
			    "is not sent to it (put both in the environment or "
			    "both in .env)", c->base_url);
	}
}

void
dalle_conf_finish(struct dalle_conf *c, int need_service)
{
	enum dalle_api api;

	strip_slash(c->endpoint);
	strip_slash(c->base_url);
	dotenv_pair(c);
	if (c->token_command) {
		dalle_secret_free(c->token);
		c->token = run_token_command(c, c->token_command);
	}
	/* Whatever an answer echoes of these is redacted (secret.h). */
	dalle_secret_add(c->key);
	dalle_secret_add(c->token);
	dalle_secret_add(c->openai_key);
	if (c->endpoint)
		check_url(c, "endpoint", c->endpoint);
	if (c->base_url)
		check_url(c, "base URL", c->base_url);
	if (!need_service)
		return;
	api = dalle_api_service(c, dalle_api_choose(c, NULL, NULL));
	switch (api) {
	case DALLE_API_AUTO:
		errx(DALLE_EX_CONFIG, "no endpoint: set AZURE_OPENAI_ENDPOINT "
		    "(or --endpoint) for Azure OpenAI, or OPENAI_API_KEY for "
		    "OpenAI");
	case DALLE_API_OPENAI:
		if (c->openai_key == NULL)
			errx(DALLE_EX_CONFIG, "no key: set OPENAI_API_KEY or "
			    "use --api-key-file");
		break;
	default:
		if (c->endpoint == NULL)
			errx(DALLE_EX_CONFIG, "no endpoint: set "
			    "AZURE_OPENAI_ENDPOINT or use --endpoint");
		if (c->key == NULL && c->token == NULL)
			errx(DALLE_EX_CONFIG, "no key: set AZURE_OPENAI_API_KEY "
			    "or AZURE_OPENAI_AD_TOKEN, or use --api-key-file "
			    "or --token-command");
	}
}

void
dalle_conf_free(struct dalle_conf *c)
{
	free(c->endpoint);
	free(c->base_url);
	free(c->deployment);
	free(c->model);
	free(c->api_version);
	dalle_secret_free(c->key);
	dalle_secret_free(c->token);
	dalle_secret_free(c->openai_key);
	free(c->token_command);
	free(c->cacert);
	free(c->org);
	free(c->project);
}

