/*
 * file.c: files that appear only when complete, and the temporary files
 * they are written as, removed if the program ends before they are done.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "file.h"
#include "outpath.h"
#include "stale.h"
#include "util.h"

int
dalle_mkdirs(const char *path)
{
	static char *last;
	char *d = dalle_xstrdup(path), *p;

	if ((p = strrchr(d, '/')) != NULL)
		*p = '\0';
	if (p == NULL || (last && strcmp(last, d) == 0)) {
		free(d);
		return 0;
	}
	for (p = d + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(d, 0777) == -1 && errno != EEXIST) {
			free(d);
			return -1;
		}
		*p = '/';
	}
	if (mkdir(d, 0777) == -1 && errno != EEXIST) {
		free(d);
		return -1;
	}
	free(last);
	last = d;
	return 0;
}

/* Temporary files not yet renamed or removed. */
static char **temps;
static size_t ntemps, captemps;
static sigset_t fatal_sigs;
static mode_t file_umask;

static void
temps_remove(void)
{
	size_t i;

	for (i = 0; i < ntemps; i++)
		unlink(temps[i]);
	ntemps = 0;
}

static void
on_fatal(int sig)
{
	temps_remove();         /* unlink(2) is async-signal-safe */
	signal(sig, SIG_DFL);
	raise(sig);
}

void
dalle_temp_init(void)
{
	sigemptyset(&fatal_sigs);
	sigaddset(&fatal_sigs, SIGINT);
	sigaddset(&fatal_sigs, SIGTERM);
	sigaddset(&fatal_sigs, SIGHUP);
	signal(SIGINT, on_fatal);
	signal(SIGTERM, on_fatal);
	signal(SIGHUP, on_fatal);
	/* EPIPE ends us with exit(74): the temporary files go then too. */
	atexit(temps_remove);
	file_umask = umask(0);
	umask(file_umask);
}

static void
temp_add(char *path)
{
	sigset_t old;

	sigprocmask(SIG_BLOCK, &fatal_sigs, &old);
	if (ntemps == captemps) {
		captemps = captemps ? captemps * 2 : 64;
		temps = dalle_xrealloc(temps, captemps * sizeof(*temps));
	}
	temps[ntemps++] = path;
	sigprocmask(SIG_SETMASK, &old, NULL);
}

void
dalle_temp_done(char *path)
{
	sigset_t old;
	size_t i;

	sigprocmask(SIG_BLOCK, &fatal_sigs, &old);
	for (i = 0; i < ntemps; i++)
		if (temps[i] == path) {
			temps[i] = temps[--ntemps];
			break;
		}
	sigprocmask(SIG_SETMASK, &old, NULL);
	free(path);
}

int
dalle_temp_open(const char *path, char **tmp)
{
	char *d = dalle_xstrdup(path), *dir, *t;
	int fd, e;

	/* Named for this process, and locked while it lives: a later run
	 * removes those of a run that was killed (stale.c). */
	dir = dirname(d);
	t = dalle_xasprintf("%s/" DALLE_STALE_PREFIX "%ld.XXXXXX", dir,
	    (long)getpid());
	dalle_stale_sweep(dir);
	free(d);
	if (dalle_mkdirs(t) == -1 || (fd = mkstemp(t)) == -1) {
		e = errno;
		free(t);
		errno = e;
		return -1;
	}
	/* mkstemp makes 0600; an image is as readable as any new file. */
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	flock(fd, LOCK_EX);
	fchmod(fd, 0666 & ~file_umask);
	temp_add(t);
	*tmp = t;
	return fd;
}

int
dalle_temp_openat(int dfd, const char *path, char **tmp)
{
	char *d = dalle_xstrdup(path);
	int fd;

	dalle_stale_sweep(dirname(d));
	free(d);
	if ((fd = dalle_outpath_temp(dfd, path, tmp)) == -1)
		return -1;
	flock(fd, LOCK_EX);
	fchmod(fd, 0666 & ~file_umask);
	temp_add(*tmp);
	return fd;
}

int
dalle_temp_private(const char *suffix, char **tmp)
{
	const char *d = getenv("TMPDIR");
	char *t;
	int fd, e;

	if (d == NULL || *d == '\0')
		d = "/tmp";
	t = dalle_xasprintf("%s/dalle-XXXXXX%s", d, suffix);
	if ((fd = mkstemps(t, (int)strlen(suffix))) == -1) {
		e = errno;
		free(t);
		errno = e;
		return -1;
	}
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	temp_add(t);
	*tmp = t;
	return fd;
}
