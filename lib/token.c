/*
 * token.c: the --token-command child.  It gets its own stdin (/dev/null:
 * it must not eat the prompts on ours), no key of ours in its
 * environment, a time limit and an output cap, so that a command that
 * hangs or floods ends in an error instead of a hung or bloated program.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "token.h"
#include "util.h"

extern char **environ;

/* What the child is not given: every secret the programs read. */
static const char *const withheld[] = {
	"AZURE_OPENAI_API_KEY", "AZURE_OAI_KEY", "AZURE_OPENAI_AD_TOKEN",
	"OPENAI_API_KEY"
};

static int
is_withheld(const char *var)
{
	size_t i, n;

	for (i = 0; i < sizeof(withheld) / sizeof(withheld[0]); i++) {
		n = strlen(withheld[i]);
		if (strncmp(var, withheld[i], n) == 0 && var[n] == '=')
			return 1;
	}
	return 0;
}

/* In the child, between fork and exec: async-signal-safe calls only. */
static void
child(const char *cmd, int out, char **env)
{
	static const int sigs[] = { SIGPIPE, SIGINT, SIGTERM, SIGHUP };
	sigset_t none;
	size_t i;
	int in;

	setpgid(0, 0);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if ((in = open("/dev/null", O_RDONLY)) == -1 ||
	    dup2(in, 0) == -1 || dup2(out, 1) == -1)
		_exit(127);
	execle("/bin/sh", "sh", "-c", cmd, (char *)NULL, env);
	_exit(127);
}

char *
dalle_token_run(const char *cmd, long timeout_ms, char *why, size_t whylen)
{
	struct dalle_buf b = { 0 };
	struct pollfd pfd;
	char chunk[4096], **env;
	int64_t end;
	ssize_t r;
	size_t i, n = 0;
	pid_t pid;
	int p[2], st, left;
	const char *fail = NULL;

	for (i = 0; environ[i] != NULL; i++)
		;
	env = dalle_xcalloc(i + 1, sizeof(*env));
	for (i = 0; environ[i] != NULL; i++)
		if (!is_withheld(environ[i]))
			env[n++] = environ[i];
	if (pipe(p) == -1 || (pid = fork()) == -1) {
		snprintf(why, whylen, "%s", strerror(errno));
		free(env);
		return NULL;
	}
	if (pid == 0)
		child(cmd, p[1], env);
	setpgid(pid, pid);      /* as the child does: no race with kill */
	free(env);
	close(p[1]);
	fcntl(p[0], F_SETFD, FD_CLOEXEC);
	end = dalle_now_ms() + timeout_ms;
	pfd.fd = p[0];
	pfd.events = POLLIN;
	for (;;) {
		left = (int)(end - dalle_now_ms());
		if (left <= 0) {
			fail = "timeout";
			break;
		}
		if (poll(&pfd, 1, left) == -1) {
			if (errno == EINTR)
				continue;
			fail = strerror(errno);
			break;
		}
		if (pfd.revents == 0)
			continue;
		if ((r = read(p[0], chunk, sizeof(chunk))) == -1) {
			if (errno == EINTR)
				continue;
			fail = strerror(errno);
			break;
		}
		if (r == 0)
			break;
		if (b.len + (size_t)r > DALLE_TOKEN_MAX) {
			fail = "cap";
			break;
		}
		dalle_buf_add(&b, chunk, (size_t)r);
	}
	explicit_bzero(chunk, sizeof(chunk));
	close(p[0]);
	/* Its output closed, it may still run: it has till the end too. */
	while (fail == NULL && (r = waitpid(pid, &st, WNOHANG)) != pid) {
		if (r == -1 && errno != EINTR) {
			st = -1;
			break;
		}
		if (dalle_now_ms() >= end)
			fail = "timeout";
		else
			usleep(10000);
	}
	/* Done with it: whatever of its group still runs goes too. */
	if (fail != NULL) {
		kill(-pid, SIGKILL);
		while (waitpid(pid, &st, 0) == -1 && errno == EINTR)
			;
	}
	if (fail == NULL && !(st != -1 && WIFEXITED(st) &&
	    WEXITSTATUS(st) == 0)) {
		if (st != -1 && WIFSIGNALED(st))
			snprintf(why, whylen, "killed by signal %d",
			    WTERMSIG(st));
		else
			snprintf(why, whylen, "failed (status %d)",
			    st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	} else if (fail != NULL && strcmp(fail, "timeout") == 0)
		snprintf(why, whylen, "still running after %ld s: killed",
		    (timeout_ms + 999) / 1000);
	else if (fail != NULL && strcmp(fail, "cap") == 0)
		snprintf(why, whylen, "printed more than %d bytes: killed",
		    DALLE_TOKEN_MAX);
	else if (fail != NULL)
		snprintf(why, whylen, "%s", fail);
	else {
		dalle_buf_add(&b, "", 0);
		return b.p;
	}
	if (b.p)
		explicit_bzero(b.p, b.len);
	dalle_buf_free(&b);
	return NULL;
}
