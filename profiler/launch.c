/* launch.c - start the command to profile, exec'ing only once sonda is ready. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "profiler/sampler-int.h"

/* The child blocks on the go pipe, then execs; if exec fails it writes its
 * errno to the error pipe, which is close-on-exec so a successful exec
 * reads as EOF.  No PTRACE_TRACEME: the child is an ordinary process that
 * the loop pauses like any other. */
int prof_launch_fork(struct prof_launch *l, char *const *argv, char *err, size_t errlen)
{
	int go[2], ef[2];

	l->pid = -1;
	l->status = -1;
	l->pidfd = -2;
	if (!argv || !argv[0]) {
		snprintf(err, errlen, "no command to run");
		return -1;
	}
	if (pipe2(go, O_CLOEXEC) < 0 || pipe2(ef, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	l->pid = fork();
	if (l->pid < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		return -1;
	}
	if (l->pid == 0) {
		char c;
		int e;
		sigset_t none;

		close(go[1]);
		close(ef[0]);
		/* Only async-signal-safe calls from here on. */
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (read(go[0], &c, 1) != 1)
			_exit(127);	/* sonda gave up before the go */
		execvp(argv[0], argv);
		e = errno;
		if (write(ef[1], &e, sizeof(e)) < 0)
			_exit(127);
		_exit(127);
	}
	close(go[0]);
	close(ef[1]);
	l->go_fd = go[1];
	l->err_fd = ef[0];
	return 0;
}

int prof_launch_go(struct prof_launch *l, char *const *argv, char *err, size_t errlen)
{
	int e = 0;
	ssize_t r;

	if (write(l->go_fd, "g", 1) != 1) {
		snprintf(err, errlen, "cannot start %s: %s", argv[0], strerror(errno));
		return -1;
	}
	close(l->go_fd);
	l->go_fd = -1;
	do
		r = read(l->err_fd, &e, sizeof(e));
	while (r < 0 && errno == EINTR);
	close(l->err_fd);
	l->err_fd = -1;
	if (r == (ssize_t)sizeof(e)) {
		snprintf(err, errlen, "cannot run %s: %s", argv[0], strerror(e));
		waitpid(l->pid, &l->status, 0);
		return -1;
	}
	return 0;
}

/* The child is also our tracee while paused, and any wait on a traced
 * child reports its ptrace-stops too: waiting here could eat a stop that
 * the pause is waiting for, and leave the thread stopped.  So wait only
 * once the child is a zombie (its pidfd readable, or /proc says Z). */
static int has_exited(struct prof_launch *l)
{
	char path[64], buf[256], *p;
	ssize_t n;
	int fd;

	if (l->pidfd == -2) {
		long r = syscall(SYS_pidfd_open, l->pid, 0);

		l->pidfd = r < 0 ? -3 : (int)r;
	}
	if (l->pidfd >= 0) {
		struct pollfd pfd = {l->pidfd, POLLIN, 0};

		return poll(&pfd, 1, 0) == 1;
	}
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)l->pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 1;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}

int prof_launch_poll(struct prof_launch *l)
{
	int st;
	pid_t r;

	if (l->pid <= 0 || l->status != -1)
		return 1;
	if (!has_exited(l))
		return 0;
	r = waitpid(l->pid, &st, WNOHANG | __WALL);
	if (r == l->pid && (WIFEXITED(st) || WIFSIGNALED(st))) {
		l->status = st;
		return 1;
	}
	/* ECHILD: the pause reaped it (prof_pause_exit_status has it). */
	return r < 0;
}

void prof_launch_end(struct prof_launch *l)
{
	if (l->pid <= 0)
		return;
	if (l->go_fd >= 0) {
		/* Never told to exec: closing the pipe makes it exit. */
		close(l->go_fd);
		l->go_fd = -1;
	}
	if (l->err_fd >= 0) {
		close(l->err_fd);
		l->err_fd = -1;
	}
	if (prof_launch_poll(l))
		return;
	kill(l->pid, SIGTERM);
	for (int i = 0; i < 200; i++) {
		struct timespec ts = {0, 10000000};

		if (prof_launch_poll(l))
			return;
		nanosleep(&ts, NULL);
	}
	kill(l->pid, SIGKILL);
	if (waitpid(l->pid, &l->status, 0) < 0)
		l->status = -1;
}

void prof_launch_close(struct prof_launch *l)
{
	if (l->pidfd >= 0)
		close(l->pidfd);
	l->pidfd = -1;
}

int prof_launch_exit_code(int status)
{
	if (status < 0)
		return -1;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return -1;
}
