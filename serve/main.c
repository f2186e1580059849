/*
 * dalle-serve: a local twin of the Azure OpenAI and OpenAI image APIs.
 * Reads nothing on stdin.  Prints its base URL (ending in '/') as the first
 * line of stdout, then serves HTTP until SIGINT or SIGTERM.  Exits 0 after
 * a clean shutdown, 64 on a bad option, 66 when a key or token file cannot
 * be read, 71 when it cannot listen, 73 when the --log file cannot be
 * opened.
 */
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "serve.h"
#include "version.h"

struct serve_opt opt;
char listen_base[128];

static void usage(FILE *fp, int rc) __attribute__((noreturn));

static void
usage(FILE *fp, int rc)
{
	fputs("usage: dalle-serve [-h] [-d name=model] [-l addr:port] "
	    "[--api-key key]\n"
	    "\t[--api-key-file file] [--batch-expire seconds] "
	    "[--batch-fail-rate p]\n"
	    "\t[--batch-latency seconds] [--blocked-term word] "
	    "[--cache-size mib]\n"
	    "\t[--concurrency n] [--drop-rate p] [--echo-key mode] "
	    "[--fail-rate p]\n"
	    "\t[--hostile mode,...] [--hostile-bytes bytes] "
	    "[--hostile-peer url]\n"
	    "\t[--image-bytes bytes] [--image-scale n] [--jitter seconds] "
	    "[--latency seconds]\n"
	    "\t[--log file] [--public-url url] [--rate-window seconds] "
	    "[--response-ttl seconds]\n"
	    "\t[--rpm n] [--seed n]"
	    " [--slow-images bytes] [--threads n]\n"
	    "\t[--token token] [--token-file file]\n"
	    "\t[--today yyyy-mm-dd] [--truncate-rate p] "
	    "[--url-ttl seconds] [--version]\n", fp);
	exit(rc);
}

static void bad_arg(const char *fmt, ...)
    __attribute__((noreturn, format(printf, 1, 2)));

/* A word on what is wrong with an option, then the usage; exits 64. */
static void
bad_arg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarnx(fmt, ap);
	va_end(ap);
	usage(stderr, DALLE_EX_USAGE);
}

static void
push(struct strlist *l, const char *s)
{
	l->v = dalle_xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
	l->v[l->n++] = dalle_xstrdup(s);
}

/* The non-empty lines of a key or token file. */
static void
push_file(struct strlist *l, const char *path)
{
	char **lines;
	size_t i, n;

	if ((lines = dalle_file_lines(path, &n)) == NULL)
		err(DALLE_EX_NOINPUT, "%s", path);
	for (i = 0; i < n; i++)
		if (*lines[i] != '\0')
			push(l, lines[i]);
	dalle_file_lines_free(lines);
}

static void
add_deployment(const char *spec)
{
	const char *eq = strchr(spec, '=');
	const struct dalle_model *m;

	if (eq == NULL || eq == spec || (m = dalle_model_find(eq + 1)) ==
	    NULL)
		bad_arg("--deployment %s: want NAME=MODEL with a known model",
		    spec);
	opt.depl = dalle_xrealloc(opt.depl, (opt.ndepl + 1) *
	    sizeof(*opt.depl));
	opt.depl[opt.ndepl].name = dalle_xasprintf("%.*s", (int)(eq - spec),
	    spec);
	opt.depl[opt.ndepl].model = m;
	opt.ndepl++;
}

static void
set_public_url(const char *s)
{
	const char *why;

	/* Parsed as libcurl parses it: a scheme alone, no host, is refused.
	 * Plain http to any host is fine for a base handed to clients. */
	if ((why = dalle_url_check(s, 1)) != NULL)
		bad_arg("--public-url %s: %s (want "
		    "http[s]://host[:port][/path])", s, why);
	opt.public_url = s[strlen(s) - 1] == '/' ? s :
	    dalle_xasprintf("%s/", s);
}

static void
set_log(const char *path)
{
	int fd;

	/* Prompts and headers: made 0600, and never through a link. */
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd == -1 && errno == ELOOP)
		errx(DALLE_EX_CANTCREAT, "%s: a symbolic link, not followed",
		    path);
	if (fd == -1 || (opt.log = fdopen(fd, "a")) == NULL)
		err(DALLE_EX_CANTCREAT, "%s", path);
}

static void
set_today(const char *s)
{
	if ((opt.today = dalle_lifecycle_day(s)) < 0)
		bad_arg("--today %s: want a date YYYY-MM-DD", s);
}

static void
add_blocked(const char *word)
{
	if (*word != '\0')
		push(&opt.blocked, word);
}

/* How an option's argument is read, and where it goes. */
enum arg {
	A_HELP,                   /* no argument: print the usage */
	A_VERSION,                /* no argument: print the versions */
	A_STR,                    /* const char * */
	A_REAL,                   /* double in [min, max] */
	A_INT,                    /* long in [lo, hi] */
	A_MIB,                    /* size_t bytes, given in MiB in [lo, hi] */
	A_BYTES,                  /* size_t bytes in [lo, hi], k or m: KiB, MiB */
	A_LIST,                   /* struct strlist, one more each time */
	A_FILE,                   /* struct strlist, the lines of a file */
	A_FN                      /* fn(argument) */
};

struct optdef {
	const char *name;
	int ch;                   /* short option, or 0 */
	enum arg arg;
	void *to;
	double min, max;
	long long lo, hi;
	void (*fn)(const char *);
	int *flag;                /* set to 1 when given, if not NULL */
};

#define RANGE(a, b) .min = (a), .max = (b)    /* A_REAL */
#define COUNT(a, b) .lo = (a), .hi = (b)      /* A_INT, A_MIB, A_BYTES */

/* The SYNOPSIS, as a table. */
static const struct optdef opts[] = {
	{ "help", 'h', A_HELP, NULL, .fn = NULL },
	{ "version", 0, A_VERSION, NULL, .fn = NULL },
	{ "deployment", 'd', A_FN, NULL, .fn = add_deployment },
	{ "listen", 'l', A_STR, &opt.listen, .fn = NULL },
	{ "api-key", 0, A_LIST, &opt.keys, .fn = NULL },
	{ "api-key-file", 0, A_FILE, &opt.keys, .fn = NULL },
	{ "batch-expire", 0, A_REAL, &opt.batch_expire, RANGE(0, 86400) },
	{ "batch-fail-rate", 0, A_REAL, &opt.batch_fail_rate, RANGE(0, 1) },
	{ "batch-latency", 0, A_REAL, &opt.batch_latency, RANGE(0, 86400) },
	{ "blocked-term", 0, A_FN, NULL, .fn = add_blocked },
	{ "cache-size", 0, A_MIB, &opt.cache_bytes, COUNT(0, 1 << 20) },
	{ "concurrency", 0, A_INT, &opt.concurrency, COUNT(1, 1000000) },
	{ "drop-rate", 0, A_REAL, &opt.drop_rate, RANGE(0, 1) },
	{ "echo-key", 0, A_FN, NULL, .fn = echo_key_set },
	{ "fail-rate", 0, A_REAL, &opt.fail_rate, RANGE(0, 1) },
	{ "image-bytes", 0, A_BYTES, &opt.image_bytes, COUNT(0, 1 << 30) },
	{ "hostile", 0, A_FN, NULL, .fn = hostile_set },
	{ "hostile-bytes", 0, A_FN, NULL, .fn = hostile_bytes },
	{ "hostile-peer", 0, A_FN, NULL, .fn = hostile_peer },
	{ "image-scale", 0, A_INT, &opt.image_scale, COUNT(1, 1024) },
	{ "jitter", 0, A_REAL, &opt.jitter, RANGE(0, 3600) },
	{ "latency", 0, A_REAL, &opt.latency, RANGE(0, 3600) },
	{ "log", 0, A_FN, NULL, .fn = set_log },
	{ "public-url", 0, A_FN, NULL, .fn = set_public_url },
	{ "rate-window", 0, A_REAL, &opt.rate_window, RANGE(0.001, 60) },
	{ "response-ttl", 0, A_INT, &opt.response_ttl, COUNT(1, 86400) },
	{ "rpm", 0, A_INT, &opt.rpm, COUNT(1, 100000000) },
	{ "seed", 0, A_INT, &opt.seed, COUNT(0, LONG_MAX),
	    .flag = &opt.seeded },
	{ "slow-images", 0, A_INT, &opt.slow_images, COUNT(1, 1000000000) },
	{ "threads", 0, A_INT, &opt.threads, COUNT(1, 64) },
	{ "token", 0, A_LIST, &opt.tokens, .fn = NULL },
	{ "today", 0, A_FN, NULL, .fn = set_today },
	{ "token-file", 0, A_FILE, &opt.tokens, .fn = NULL },
	{ "truncate-rate", 0, A_REAL, &opt.truncate_rate, RANGE(0, 1) },
	{ "url-ttl", 0, A_INT, &opt.url_ttl, COUNT(1, 315360000) },
};
#define NOPTS (sizeof(opts) / sizeof(opts[0]))

static long long
int_arg(const struct optdef *o, const char *s)
{
	long long v;

	if (dalle_strtonum(s, o->lo, o->hi, &v) != 0)
		bad_arg("--%s: %s: want an integer from %lld to %lld",
		    o->name, s, o->lo, o->hi);
	return v;
}

/* A byte count, whole or with a suffix k or m (any case) for KiB or
 * MiB, in [lo, hi] once multiplied. */
static size_t
bytes_arg(const struct optdef *o, const char *s)
{
	static const char units[] = "kKmM";
	const char *u;
	char *num;
	long long v;
	int shift = 0, rc;

	num = dalle_xstrdup(s);
	if (*s != '\0' && (u = strchr(units, s[strlen(s) - 1])) != NULL) {
		shift = u - units < 2 ? 10 : 20;
		num[strlen(num) - 1] = '\0';
	}
	rc = dalle_strtonum(num, 0, o->hi >> shift, &v);
	free(num);
	if (rc != 0 || v << shift < o->lo)
		bad_arg("--%s: %s: want a byte count from %lld to %lld, or "
		    "with k or m for KiB or MiB", o->name, s, o->lo, o->hi);
	return (size_t)v << shift;
}

static double
real_arg(const struct optdef *o, const char *s)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end != '\0' ||
	    !(v >= o->min && v <= o->max))
		bad_arg("--%s: %s: want a number from %g to %g", o->name, s,
		    o->min, o->max);
	return v;
}

static void
set_option(const struct optdef *o, const char *arg)
{
	switch (o->arg) {
	case A_HELP:
		usage(stdout, 0);
	case A_VERSION:
		dalle_version_print(stdout, "dalle-serve");
		exit(dalle_finish(0));
	case A_STR:
		*(const char **)o->to = arg;
		break;
	case A_REAL:
		*(double *)o->to = real_arg(o, arg);
		break;
	case A_INT:
		*(long *)o->to = (long)int_arg(o, arg);
		break;
	case A_MIB:
		*(size_t *)o->to = (size_t)int_arg(o, arg) << 20;
		break;
	case A_BYTES:
		*(size_t *)o->to = bytes_arg(o, arg);
		break;
	case A_LIST:
		push(o->to, arg);
		break;
	case A_FILE:
		push_file(o->to, arg);
		break;
	case A_FN:
		o->fn(arg);
		break;
	}
	if (o->flag != NULL)
		*o->flag = 1;
}

static void
parse_options(int argc, char *argv[])
{
	static const char *const defaults[] = {
		"dalle3=dall-e-3", "dall-e-3=dall-e-3", "dalle2=dall-e-2",
		"dall-e-2=dall-e-2", "gpt-image-1=gpt-image-1",
		"gpt-image-1-mini=gpt-image-1-mini",
		"gpt-image-1.5=gpt-image-1.5", NULL
	};
	const struct dalle_model *m;
	struct option lo[NOPTS + 1];
	char shorts[2 * NOPTS + 1], *s, *p = shorts;
	size_t i;
	int ch;

	opt.listen = "127.0.0.1:8080";
	opt.rate_window = 1;
	opt.url_ttl = 86400;
	opt.response_ttl = 600;
	opt.image_scale = 1;
	opt.threads = 2;
	opt.cache_bytes = (size_t)64 << 20;
	opt.today = -1;
	for (i = 0; defaults[i] != NULL; i++)
		add_deployment(defaults[i]);
	/* Then every model of the table by its own name (a name given
	 * twice names one model). */
	for (i = 0; (m = dalle_model_at(i)) != NULL; i++) {
		s = dalle_xasprintf("%s=%s", m->name, m->name);
		add_deployment(s);
		free(s);
	}
	for (i = 0; i < NOPTS; i++) {
		lo[i].name = opts[i].name;
		lo[i].has_arg = opts[i].arg == A_HELP ||
		    opts[i].arg == A_VERSION ? no_argument : required_argument;
		lo[i].flag = NULL;
		lo[i].val = opts[i].ch ? opts[i].ch : 256 + (int)i;
		if (opts[i].ch) {
			*p++ = (char)opts[i].ch;
			if (opts[i].arg != A_HELP)
				*p++ = ':';
		}
	}
	memset(&lo[NOPTS], 0, sizeof(lo[NOPTS]));
	*p = '\0';
	while ((ch = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
		for (i = 0; i < NOPTS && lo[i].val != ch; i++)
			;
		if (i == NOPTS)
			usage(stderr, DALLE_EX_USAGE);
		set_option(&opts[i], optarg);
	}
	if (optind != argc)
		usage(stderr, DALLE_EX_USAGE);
	if ((s = getenv("DALLE_SERVE_API_KEY")) != NULL && *s != '\0')
		push(&opt.keys, s);
	if ((s = getenv("DALLE_SERVE_TOKEN")) != NULL && *s != '\0')
		push(&opt.tokens, s);
}

/* Parse "host:port", "[v6]:port" or ":port" into ss; 1 for IPv6. */
static int
parse_listen(const char *spec, struct sockaddr_storage *ss)
{
	static const struct optdef port = { "listen", 'l', A_INT,
	    .lo = 0, .hi = 65535 };
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
	char host[128];
	const char *colon;
	long long n;

	memset(ss, 0, sizeof(*ss));
	if (spec[0] == '[') {
		colon = strstr(spec, "]:");
		if (colon == NULL || colon - spec - 1 >= (long)sizeof(host))
			goto bad;
		snprintf(host, sizeof(host), "%.*s", (int)(colon - spec - 1),
		    spec + 1);
		colon++;
	} else {
		colon = strrchr(spec, ':');
		if (colon == NULL || colon - spec >= (long)sizeof(host))
			goto bad;
		snprintf(host, sizeof(host), "%.*s", (int)(colon - spec),
		    spec);
	}
	n = int_arg(&port, colon + 1);
	if (host[0] == '\0' || strcmp(host, "localhost") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)n);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)n);
		return 1;
	}
bad:
	bad_arg("--listen %s: want ADDRESS:PORT with a numeric address", spec);
}

/* Thousands of waiting clients need thousands of descriptors. */
static unsigned
fd_limit(void)
{
	struct rlimit rlim;

	if (getrlimit(RLIMIT_NOFILE, &rlim) == 0 &&
	    rlim.rlim_cur < rlim.rlim_max) {
		rlim.rlim_cur = rlim.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rlim);
	}
	getrlimit(RLIMIT_NOFILE, &rlim);
	return rlim.rlim_cur > 65536 ? 65000 : rlim.rlim_cur > 128 ?
	    (unsigned)rlim.rlim_cur - 64 : 64;
}

/* Fill listen_base with the address we listen on. */
static void
set_listen_base(struct MHD_Daemon *d, struct sockaddr_storage *ss, int v6)
{
	const union MHD_DaemonInfo *info;
	char host[INET6_ADDRSTRLEN];

	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	if (v6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)ss)->sin6_addr,
		    host, sizeof(host));
	else
		inet_ntop(AF_INET, &((struct sockaddr_in *)ss)->sin_addr,
		    host, sizeof(host));
	snprintf(listen_base, sizeof(listen_base), v6 ? "http://[%s]:%u/" :
	    "http://%s:%u/", host, info ? (unsigned)info->port : 0);
}

int
main(int argc, char *argv[])
{
	struct sockaddr_storage ss;
	struct MHD_Daemon *d;
	sigset_t set;
	int v6, sig;
	size_t i;

	signal(SIGPIPE, SIG_IGN);
	parse_options(argc, argv);
	v6 = parse_listen(opt.listen, &ss);
	quota_seed();
	blob_init();

	/* Signals go to sigwait in this thread only. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	timer_start();

	d = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD |
	    MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO |
	    (v6 ? MHD_USE_IPv6 : 0), 0, NULL, NULL, route_request, NULL,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned)opt.threads,
	    MHD_OPTION_CONNECTION_LIMIT, fd_limit(),
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)300,
	    MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)4096,
	    MHD_OPTION_NOTIFY_COMPLETED, route_completed, NULL,
	    MHD_OPTION_NOTIFY_CONNECTION, route_connection, NULL,
	    MHD_OPTION_END);
	if (d == NULL)
		errx(DALLE_EX_OSERR, "cannot listen on %s", opt.listen);
	set_listen_base(d, &ss, v6);
	if (!dalle_url_is_loopback(listen_base))
		warnx("listening on %s: reachable from other hosts",
		    listen_base);
	printf("%s\n", listen_base);
	fflush(stdout);

	while (sigwait(&set, &sig) != 0)
		;
	/* Resume every parked connection before stopping the daemon. */
	timer_stop();
	MHD_stop_daemon(d);
	if (opt.log != NULL)
		fclose(opt.log);
	for (i = 0; i < opt.keys.n; i++)
		dalle_secret_free(opt.keys.v[i]);
	for (i = 0; i < opt.tokens.n; i++)
		dalle_secret_free(opt.tokens.v[i]);
	free(opt.keys.v);
	free(opt.tokens.v);
	return dalle_finish(0);
}
