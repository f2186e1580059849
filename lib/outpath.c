/*
 * outpath.c: the subdirectories of an output directory, walked one
 * component at a time from the directory's descriptor with O_NOFOLLOW,
 * so that a symbolic link somebody planted inside it is refused instead
 * of followed.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "file.h"
#include "outpath.h"
#include "util.h"

#define DIRFLAGS (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)

int
dalle_outpath_make(const char *dir, const char *rel, char **why)
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
	close(fd);
	free(p);
	return *why == NULL ? 0 : -1;
}
