/*
 * interrupt.c: the three signals that end a run (SIGINT, SIGTERM, SIGHUP)
 * as a flag and a byte in a pipe, so that the record loop sees them in
 * its wait and after every read and write, writes a record for every
 * record it holds, and then ends as the signal would have ended it.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "interrupt.h"
#include "record.h"

static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
#define NSIGS (sizeof(sigs) / sizeof(sigs[0]))

static volatile sig_atomic_t caught, ncaught;
static int wake[2] = { -1, -1 };
static struct sigaction old[NSIGS];

static void
on_signal(int sig)
{
	int e = errno;

	if (caught == 0)
		caught = sig;
	if (ncaught < 2)
		ncaught++;
	/* Non-blocking: a full pipe has woken the loop already. */
	(void)write(wake[1], "", 1);
	errno = e;
}

void
dalle_interrupt_init(void)
{
	struct sigaction sa;
	size_t i;
	int k;

	if (wake[0] != -1)
		return;
	if (pipe(wake) == -1) {
		wake[0] = wake[1] = -1;
		return;
	}
	for (k = 0; k < 2; k++) {
		fcntl(wake[k], F_SETFD, FD_CLOEXEC);
		fcntl(wake[k], F_SETFL, fcntl(wake[k], F_GETFL) | O_NONBLOCK);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;        /* no SA_RESTART: a blocked write gives way */
	for (i = 0; i < NSIGS; i++) {
		/* A signal ignored from the start (nohup, a background job)
		 * stays ignored. */
		if (sigaction(sigs[i], NULL, &old[i]) == 0 &&
		    old[i].sa_handler != SIG_IGN)
			sigaction(sigs[i], &sa, NULL);
	}
}

int
dalle_interrupt_fd(void)
{
	return wake[0];
}

int
dalle_interrupted(void)
{
	return caught;
}

int
dalle_interrupted_again(void)
{
	return ncaught > 1;
}

const char *
dalle_interrupt_name(int sig)
{
	switch (sig) {
	case SIGINT:
		return "SIGINT";
	case SIGTERM:
		return "SIGTERM";
	case SIGHUP:
		return "SIGHUP";
	}
	return "a signal";
}

void
dalle_interrupt_exit(int sig)
{
	sigset_t s;
	size_t i;

	for (i = 0; i < NSIGS && wake[0] != -1; i++)
		sigaction(sigs[i], &old[i], NULL);
	sigemptyset(&s);
	sigaddset(&s, sig);
	sigprocmask(SIG_UNBLOCK, &s, NULL);
	/* An earlier handler (temporary files to remove) runs and raises
	 * it again with the default action; or the default acts now. */
	raise(sig);
	signal(sig, SIG_DFL);
	raise(sig);
	_exit(128 + sig);
}

jv
dalle_interrupt_error(const char *stage, int sig, int sent, int attempts)
{
	char msg[96];
	jv e;

	snprintf(msg, sizeof(msg), "%s %s before %s",
	    sig == -1 ? "the timeout came" : "interrupted by",
	    sig == -1 ? "" : dalle_interrupt_name(sig),
	    sent ? "the answer came (the request was sent)" :
	    "it was finished");
	e = dalle_record_error(stage, sig == -1 ? DALLE_KIND_TIMEOUT :
	    DALLE_KIND_INTERRUPTED, 0, NULL, msg, 1, attempts);
	if (sig != -1)
		e = jv_object_set(e, jv_string("signal"),
		    jv_string(dalle_interrupt_name(sig)));
	return jv_object_set(e, jv_string("sent"), jv_bool(sent));
}
