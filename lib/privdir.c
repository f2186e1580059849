/*
 * privdir.c: a directory of ours that nobody else may enter, as for
 * tmux's sockets, or another user could plant a link or a file of theirs
 * in it.  Opened, then checked by its descriptor: what is checked is what
 * is used, and the files in it are reached relative to it (openat).
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "privdir.h"

int
dalle_privdir_open(const char *d, int make, const char **why)
{
	struct stat st;
	int fd, e;

	if (make && mkdir(d, 0700) == -1 && errno != EEXIST) {
		*why = strerror(errno);
		return -1;
	}
	fd = open(d, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1) {
		e = errno;
		/* Linux says ENOTDIR for a link, with O_DIRECTORY. */
		*why = (e == ELOOP || (e == ENOTDIR && lstat(d, &st) == 0 &&
		    S_ISLNK(st.st_mode))) ? "a symbolic link, not followed" :
		    e == ENOTDIR ? "not a directory" : strerror(e);
		errno = e;
		return -1;
	}
	if (fstat(fd, &st) == -1) {
		*why = strerror(errno);
		e = EIO;
	} else if (!S_ISDIR(st.st_mode)) {
		*why = "not a directory";
		e = ENOTDIR;
	} else if (st.st_uid != geteuid()) {
		*why = "owned by another user";
		e = EPERM;
	} else if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		*why = "open to other users";
		e = EPERM;
	} else
		return fd;
	close(fd);
	errno = e;
	return -1;
}
