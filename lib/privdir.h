/*
 * privdir.h: a directory of ours that nobody else may enter, opened
 * without following a symbolic link: the budget directory of rate.c and
 * the journal's store of kept answers.
 */
#ifndef DALLE_PRIVDIR_H
#define DALLE_PRIVDIR_H

/*
 * Open the directory d (made mode 0700 first if make and it is missing)
 * and return its descriptor if it is a directory, not a symbolic link,
 * owned by our effective user, with no permission for the group or
 * others.  Else -1 with *why (static) set, and errno (ENOENT when it is
 * missing and not made).
 */
int dalle_privdir_open(const char *d, int make, const char **why);

#endif
