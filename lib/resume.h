/*
 * resume.h: dalle-submit's look before it pays: a request whose images
 * are already on disk, or which the journal says was accepted, is not
 * sent again.
 */
#ifndef DALLE_RESUME_H
#define DALLE_RESUME_H

#include <jv.h>

#include "big.h"
#include "journal.h"
#include "loop.h"

struct dalle_resume {
	struct dalle_journal *journal;  /* --journal, or NULL */
	const char *dir;                /* -d, or "." */
	const char *tmpl;               /* -o, or NULL */
	int files;                      /* -d or -o given: look for files */
	char *abspath;                  /* the journal's, for the records */
};

/*
 * Open rs's journal at path (NULL: the default of -d and -o, if either
 * was given, else none).  0, or -1 with *why (malloc'd) set.
 */
int dalle_resume_open(struct dalle_resume *rs, const char *path, char **why);
void dalle_resume_close(struct dalle_resume *rs);
/*
 * Before the request (*request, with its "hash") of *rec is sent, n
 * images asked for in format ext: the request gains its journal "key".
 * When the images are on disk, or the journal holds the operation or the
 * answer, the record is written as it stands (with "skipped" or
 * "resumed" true) and 1 returned; else 0, and it is to be sent.
 * Consumes neither; borrows big.
 */
int dalle_resume_check(struct dalle_resume *rs, struct dalle_loop *lp,
    jv *rec, const struct dalle_big *big, jv *request, int n,
    const char *ext);
/* The same for a request that has its key already, and record id: to
 * look again once another process has sent it (see inflight.h). */
int dalle_resume_lookup(struct dalle_resume *rs, struct dalle_loop *lp,
    struct dalle_loop_id id, jv rec, const struct dalle_big *big,
    jv request, int n, const char *ext);
/*
 * The service accepted the request of rec (borrowed): the answer of n
 * bytes at p (a synchronous result) or the operation in rec, journaled
 * and synced before the record moves on.  0, or -1 (warned).
 */
int dalle_resume_accepted(struct dalle_resume *rs, jv rec, const char *p,
    size_t n);

/*
 * dalle-fetch's side.  A record that dalle-submit skipped (its files on
 * disk) passes through as it is, or as its paths with paths_only: 1 when
 * rec (consumed, with big freed) was so written, else 0.
 */
int dalle_resume_skipped(struct dalle_loop *lp, jv rec, struct dalle_big *big,
    int paths_only);
/*
 * Every image of rec (borrowed) is in its file, files (borrowed): the
 * journal (path, else the record's "request.journal" if that is a
 * journal) says so, and the answer it kept is removed.  With files null,
 * the images are lost for good (their URLs expired): the journal says so,
 * and the next run pays for the request again.
 */
void dalle_resume_written(const char *path, jv rec, jv files);
/* Whose is the file at file, as the journal (path, else rec's, as above)
 * says: 1 last written for rec's (borrowed) request, 0 for another, -1
 * the journal does not say (or there is none). */
int dalle_resume_writer(const char *path, jv rec, const char *file);
/* Remove the temporaries of dead runs from the directory of -d and -o. */
void dalle_resume_sweep(const char *dir, const char *tmpl);

#endif
