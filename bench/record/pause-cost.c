/* pause-cost.c - what it costs to pause every thread of a process: seize and detach per pause, or stay seized. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <time.h>

/* Usage: pause-cost PID N.  Prints, per pause of every thread, the wall and
 * CPU time of three ways: (list) rescan /proc/PID/task + seize + interrupt
 * + wait + detach, as prof_pause_* does; (seize) the same without the
 * rescan; (stay) seized once, interrupt + wait + PTRACE_CONT per pause. */

static int tids[1024], nt;

static double now(clockid_t c)
{
	struct timespec t;

	clock_gettime(c, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

static void list(int pid)
{
	char p[64];
	struct dirent *e;
	DIR *d;

	snprintf(p, sizeof(p), "/proc/%d/task", pid);
	d = opendir(p);
	nt = 0;
	while (d && (e = readdir(d)) && nt < 1024)
		if (e->d_name[0] != '.')
			tids[nt++] = atoi(e->d_name);
	if (d)
		closedir(d);
}

static void wait_stop(int tid)
{
	int st;

	while (waitpid(tid, &st, __WALL | WNOHANG) == 0)
		;
}

static void run(int pid, int n, const char *how)
{
	int stay = how[1] == 't', rescan = how[0] == 'l';
	double w0, c0, w1, c1;

	list(pid);
	if (stay)
		for (int i = 0; i < nt; i++)
			ptrace(PTRACE_SEIZE, tids[i], 0, 0);
	w0 = now(CLOCK_MONOTONIC);
	c0 = now(CLOCK_PROCESS_CPUTIME_ID);
	for (int k = 0; k < n; k++) {
		if (rescan)
			list(pid);
		if (!stay)
			for (int i = 0; i < nt; i++)
				ptrace(PTRACE_SEIZE, tids[i], 0, 0);
		for (int i = 0; i < nt; i++)
			ptrace(PTRACE_INTERRUPT, tids[i], 0, 0);
		for (int i = 0; i < nt; i++)
			wait_stop(tids[i]);
		for (int i = 0; i < nt; i++)
			ptrace(stay ? PTRACE_CONT : PTRACE_DETACH, tids[i], 0, 0);
	}
	w1 = now(CLOCK_MONOTONIC);
	c1 = now(CLOCK_PROCESS_CPUTIME_ID);
	if (stay)
		for (int i = 0; i < nt; i++) {
			ptrace(PTRACE_INTERRUPT, tids[i], 0, 0);
			wait_stop(tids[i]);
			ptrace(PTRACE_DETACH, tids[i], 0, 0);
		}
	printf("%-6s %d threads: %6.1f us wall, %6.1f us cpu per pause\n", how, nt,
	       (w1 - w0) / n * 1e6, (c1 - c0) / n * 1e6);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: pause-cost PID N\n");
		return 2;
	}
	run(atoi(argv[1]), atoi(argv[2]), "list");
	run(atoi(argv[1]), atoi(argv[2]), "seize");
	run(atoi(argv[1]), atoi(argv[2]), "stay");
	return 0;
}
