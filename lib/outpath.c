/*
 * outpath.c: the subdirectories of an output directory, walked one
 * component at a time from the directory's descriptor with O_NOFOLLOW,
 * so that a symbolic link somebody planted inside it is refused instead
 * of followed.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "file.h"
#include "outpath.h"
#include "stale.h"
#include "util.h"

#define DIRFLAGS (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)

int
dalle_outpath_make(const char *dir, const char *rel, char **why)
{
	int fd = dalle_outpath_open(dir, rel, why);

	if (fd == -1)
		return -1;
	close(fd);
	return 0;
}

int
dalle_outpath_open(const char *dir, const char *rel, char **why)
{
	char *p = dalle_xasprintf("%s/.", dir), *c, *slash;
	int fd, next, e;

	*why = NULL;
	/* The output directory itself, made as ever if missing. */
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 &&
	    errno == ENOENT && dalle_mkdirs(p) == 0)
		fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(p);
	p = dalle_xstrdup(rel);
	if (fd == -1) {
		*why = dalle_xasprintf("%s: %s", dir, strerror(errno));
		free(p);
		return -1;
	}
	for (c = p; (slash = strchr(c, '/')) != NULL; c = slash + 1) {
		*slash = '\0';
		if (*c == '\0' || strcmp(c, ".") == 0)
			continue;
		if ((next = openat(fd, c, DIRFLAGS)) == -1 && errno == ENOENT &&
		    (mkdirat(fd, c, 0777) == 0 || errno == EEXIST))
			next = openat(fd, c, DIRFLAGS);
		if (next == -1) {
			e = errno;
			*why = dalle_xasprintf("%s/%s: %s", dir, rel,
			    e == ELOOP || e == ENOTDIR ? "a symbolic link or "
			    "no directory on the way inside the output "
			    "directory: not followed" : strerror(e));
			break;
		}
		close(fd);
		fd = next;
	}
	free(p);
	if (*why != NULL) {
		close(fd);
		return -1;
	}
	return fd;
}

int
dalle_outpath_temp(int dfd, const char *path, char **tmp)
{
	static const char set[] = "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	const char *slash = strrchr(path, '/');
	char *t, *x;
	int fd, i, tries;

	t = dalle_xasprintf("%.*s" DALLE_STALE_PREFIX "%ld.XXXXXX",
	    slash ? (int)(slash - path + 1) : 0, path, (long)getpid());
	x = t + strlen(t) - 6;
	for (tries = 0; tries < 100; tries++) {
		for (i = 0; i < 6; i++)
			x[i] = set[arc4random_uniform(sizeof(set) - 1)];
		/* O_EXCL | O_NOFOLLOW: a name somebody planted, link or
		 * not, is never opened. */
		fd = openat(dfd, strrchr(t, '/') ? strrchr(t, '/') + 1 : t,
		    O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd != -1) {
			*tmp = t;
			return fd;
		}
		if (errno != EEXIST)
			break;
	}
	i = errno;
	free(t);
	errno = i;
	return -1;
}

int
dalle_outpath_rename(int fromfd, const char *from, int tofd, const char *to)
{
	const char *f = strrchr(from, '/'), *t = strrchr(to, '/');

	return renameat(fromfd, f ? f + 1 : from, tofd, t ? t + 1 : to);
}
