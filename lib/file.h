/*
 * file.h: files that appear only when complete: written under a temporary
 * name beside their target, renamed when whole, and removed when the
 * program ends first.  No curl, no jq.
 */
#ifndef DALLE_FILE_H
#define DALLE_FILE_H

/* Make the directories of path (whose last component is the file's);
 * remembers the last one made.  0, or -1 with errno set. */
int dalle_mkdirs(const char *path);
/* Remove the temporary files at exit and on SIGINT, SIGTERM and SIGHUP
 * (then die of the signal as before), so that an interrupted make, or a
 * reader that left, leaves no half images behind.  Call once, first. */
void dalle_temp_init(void);
/* A new temporary file in the directory of path (made if need be), as
 * readable as any new file under the umask, close-on-exec: its fd, its
 * name in *tmp (malloc'd, removed at exit until dalle_temp_done), or -1
 * with errno set. */
int dalle_temp_open(const char *path, char **tmp);
/* The same in the directory dfd (path's, from dalle_outpath_open), by
 * openat(2) with O_EXCL and O_NOFOLLOW: no link there is followed. */
int dalle_temp_openat(int dfd, const char *path, char **tmp);
/* A new private (0600) temporary file in $TMPDIR (else /tmp) whose
 * name ends in suffix, close-on-exec: as dalle_temp_open. */
int dalle_temp_private(const char *suffix, char **tmp);
/* tmp has been renamed or removed: forget it, then free it. */
void dalle_temp_done(char *tmp);

#endif
