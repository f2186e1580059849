/* outpath.h: the directories of a target inside an output directory. */
#ifndef DALLE_OUTPATH_H
#define DALLE_OUTPATH_H

/*
 * Make the directories of rel (a path relative to dir, ending in the
 * file's name) inside dir, following no symbolic link on the way: each
 * is opened with O_NOFOLLOW from its parent's descriptor, and made
 * (0777 less the umask) if missing.  dir itself is the user's and may be
 * a link.  0, or -1 with a malloc'd reason in *why: a link planted as a
 * subdirectory must not send an image outside the output directory.
 */
int dalle_outpath_make(const char *dir, const char *rel, char **why);

#endif
