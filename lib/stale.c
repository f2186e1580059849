/*
 * stale.c: temporaries of dead runs.  A writer names its temporary file
 * after its PID and holds flock(2) on it while it lives; a later run
 * removes a file whose lock it can take, whoever has the PID now: after a
 * restart the PIDs are those of the run before, even this process's own.
 * The lock is taken only just after the file is made, so a free lock
 * alone could be a writer between the two: the file must also be
 * DALLE_STALE_AGE old, or no process have its PID (then its writer is
 * gone, not between open and lock).
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "stale.h"
#include "util.h"

/* The directories swept so far. */
struct swept {
	struct swept *next;
	char dir[];
};
static struct swept *swept;

static int
stale(int dfd, const char *name)
{
	const char *p = name + strlen(DALLE_STALE_PREFIX);
	char *end;
	long pid;
	struct stat st;
	int fd, gone;

	if (strncmp(name, DALLE_STALE_PREFIX, strlen(DALLE_STALE_PREFIX)) != 0)
		return 0;
	pid = strtol(p, &end, 10);
	if (end == p || *end != '.' || pid <= 0)
		return 0;
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd == -1)
		return 0;
	/* The lock first: held, it is a live writer's (this process's own
	 * too: a lock of another open file).  Free: old enough (the time
	 * its writer made it), or a PID that no process has. */
	gone = flock(fd, LOCK_EX | LOCK_NB) == 0 && fstat(fd, &st) == 0 &&
	    S_ISREG(st.st_mode) && (time(NULL) - st.st_mtime >=
	    DALLE_STALE_AGE || (pid <= INT_MAX && kill((pid_t)pid, 0) == -1 &&
	    errno == ESRCH)) && unlinkat(dfd, name, 0) == 0;
	close(fd);
	return gone;
}

int
dalle_stale_sweep(const char *dir)
{
	struct swept *s;
	struct dirent *de;
	DIR *d;
	int n = 0;

	for (s = swept; s != NULL; s = s->next)
		if (strcmp(s->dir, dir) == 0)
			return 0;
	s = dalle_xmalloc(sizeof(*s) + strlen(dir) + 1);
	strcpy(s->dir, dir);
	s->next = swept;
	swept = s;
	if ((d = opendir(dir)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		n += stale(dirfd(d), de->d_name);
	closedir(d);
	return n;
}
