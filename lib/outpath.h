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
/*
 * The same, and the last directory's descriptor (O_DIRECTORY, close-on-
 * exec) rather than 0, so that what is then written is written in the
 * very directory that was checked, whatever is renamed meanwhile: with
 * dalle_outpath_temp and dalle_outpath_rename, never by path again.
 */
int dalle_outpath_open(const char *dir, const char *rel, char **why);
/*
 * A new temporary file in directory dfd, the directory of path (whose
 * last component is the target's name), named as dalle_temp_open names
 * its files, made with O_EXCL and O_NOFOLLOW, 0600: its fd, and its name
 * as path's directory plus its own (malloc'd) in *tmp; -1 with errno.
 */
int dalle_outpath_temp(int dfd, const char *path, char **tmp);
/* renameat(2) of from's last component in fromfd to to's in tofd. */
int dalle_outpath_rename(int fromfd, const char *from, int tofd,
    const char *to);

#endif
