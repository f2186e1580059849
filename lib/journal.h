/*
 * journal.h: what the service accepted, in a file of JSON lines that
 * several processes append to, so that a re-run resumes what was paid
 * for instead of paying again (see dalle(7), "JOURNAL").
 */
#ifndef DALLE_JOURNAL_H
#define DALLE_JOURNAL_H

#include <stddef.h>

#include <jv.h>

#include "util.h"

struct dalle_journal;

/* The first line of every journal. */
#define DALLE_JOURNAL_HEAD "{\"dalle_journal\":1}"
/* The name of a journal in an output directory. */
#define DALLE_JOURNAL_NAME ".dalle-journal"

/*
 * Open the journal at path and read its entries: with create, made if
 * need be (mode 0600); without, it must exist and begin with
 * DALLE_JOURNAL_HEAD.  Never through a symbolic link; a regular file
 * only.  With create, its store FILE.d, if there, must be a directory of
 * ours closed to others.  NULL with *why (malloc'd) set on failure.
 */
struct dalle_journal *dalle_journal_open(const char *path, int create,
    char **why);
void dalle_journal_close(struct dalle_journal *j);
const char *dalle_journal_path(const struct dalle_journal *j);
/* Its descriptor, for the locks of inflight.c. */
int dalle_journal_fd(const struct dalle_journal *j);
/* Read the entries other processes appended since the last read. */
void dalle_journal_refresh(struct dalle_journal *j);
/*
 * What the journal holds for key: jv_invalid(), or the latest accepted
 * entry ("operation" and "status", or "result": a file holding the
 * answer), with "written" (the paths) once dalle-fetch wrote its images.
 */
jv dalle_journal_get(struct dalle_journal *j, const char *key);
/* Append entry (consumed), with "pid" and "at" added, as one write(2) of
 * one line, and fsync it.  0, or -1 with errno set. */
int dalle_journal_add(struct dalle_journal *j, jv entry);
/* Keep an answer of n bytes for key in a file in the journal's store,
 * FILE.d, a directory of ours closed to others and never reached through
 * a symbolic link (synced, then renamed into place, and the directory
 * synced): its path (malloc'd), or NULL with errno set. */
char *dalle_journal_store(struct dalle_journal *j, const char *key,
    const char *p, size_t n);
/* Read a file that dalle_journal_store wrote, by its name in the store:
 * 0 with *b filled, or -1. */
int dalle_journal_load(struct dalle_journal *j, const char *path,
    struct dalle_buf *b);
/* Remove a file that dalle_journal_store wrote, by its name in the
 * store. */
void dalle_journal_unstore(struct dalle_journal *j, const char *path);
/* The key of a request of this hash: the hash, and "HASH-k" for its k-th
 * repeat in this process, so that the same input gives the same keys.
 * malloc'd. */
char *dalle_journal_key(struct dalle_journal *j, const char *hash);
/* The key whose images the journal last says were written to the file
 * at path (by its whole path), or NULL.  malloc'd. */
char *dalle_journal_writer(struct dalle_journal *j, const char *path);

#endif
