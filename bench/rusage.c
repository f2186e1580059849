/*
 * rusage: run a command, wait for it with wait4(2), and append one line
 * "user_s sys_s maxrss_kb wall_s" for it (and the children it waited for)
 * to a file, so that each stage of a pipeline is measured on its own.
 * stdin and stdout pass through untouched; exits with the command's status,
 * or 128 + signal, or 126/127 when it could not be run.
 */
#define _DEFAULT_SOURCE

#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

static void
usage(void)
{
	fputs("usage: rusage [file] -- command [arg ...]\n"
	    "\t(without file, the one named by RUSAGE_OUT)\n", stderr);
	exit(EX_USAGE);
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double
seconds(struct timeval tv)
{
	return tv.tv_sec + tv.tv_usec / 1e6;
}

int
main(int argc, char *argv[])
{
	struct rusage ru;
	const char *path;
	char line[128];
	double start;
	pid_t pid;
	int fd, len, status;

	argc--;
	argv++;
	path = getenv("RUSAGE_OUT");
	if (argc > 0 && strcmp(argv[0], "--") != 0) {
		path = argv[0];
		argc--;
		argv++;
	}
	if (argc < 2 || strcmp(argv[0], "--") != 0 || path == NULL ||
	    *path == '\0')
		usage();
	argv++;

	/* Open first: a bad path should fail before the command runs. */
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd == -1)
		err(EX_CANTCREAT, "%s", path);

	start = now();
	pid = fork();
	if (pid == -1)
		err(EX_OSERR, "fork");
	if (pid == 0) {
		execvp(argv[0], argv);
		warn("%s", argv[0]);
		_exit(errno == ENOENT ? 127 : 126);
	}
	while (wait4(pid, &status, 0, &ru) == -1)
		if (errno != EINTR)
			err(EX_OSERR, "wait4");

	len = snprintf(line, sizeof(line), "%.6f %.6f %ld %.6f\n",
	    seconds(ru.ru_utime), seconds(ru.ru_stime), ru.ru_maxrss,
	    now() - start);
	/* One write with O_APPEND, so that parallel users do not interleave. */
	if (write(fd, line, len) != len)
		err(EX_IOERR, "%s", path);
	close(fd);

	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}
