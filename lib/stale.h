/*
 * stale.h: the temporary files of runs that died (kill -9, a crash, a
 * power cut) recognised by their name and their lock, and removed.
 */
#ifndef DALLE_STALE_H
#define DALLE_STALE_H

/* The prefix of every temporary file: PREFIX PID "." XXXXXX. */
#define DALLE_STALE_PREFIX ".dalle-fetch."
/* Seconds a temporary with a free lock and a PID that some process has
 * is left alone: its writer may be between making it and locking it. */
#define DALLE_STALE_AGE 2

/*
 * Remove from dir the temporary files of processes that are gone: a name
 * of DALLE_STALE_PREFIX and no lock held on the file (its writer holds
 * one while it lives), whatever process has its PID now, if it is
 * DALLE_STALE_AGE old or no process has that PID.  Each directory is
 * swept once per process.  Returns how many were removed.
 */
int dalle_stale_sweep(const char *dir);

#endif
