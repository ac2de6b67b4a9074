/* test-pause.c - prof_pause_*: stop every thread, read registers, let go; signals and SIGKILL safety. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "profiler/profiler.h"
#include "tests/unit/unit.h"

/* Shared with the forked target: progress counter and signal count. */
struct shared {
	volatile unsigned long progress;
	volatile int usr1;
};
static struct shared *sh;

static void on_usr1(int sig)
{
	(void)sig;
	sh->usr1++;
}

static void *spin(void *arg)
{
	(void)arg;
	for (;;)
		sh->progress++;
	return NULL;
}

static void *sleeper(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

/* A target with three threads: two spinning, one asleep. */
static pid_t spawn_target(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		pthread_t a, b;

		signal(SIGUSR1, on_usr1);
		pthread_create(&a, NULL, spin, NULL);
		pthread_create(&b, NULL, sleeper, NULL);
		for (;;)
			pause();
	}
	/* Wait until all three threads exist and it runs. */
	for (int i = 0; i < 200; i++) {
		char path[64];
		struct prof_tids t = {0};
		char err[160];

		snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
		if (prof_threads_list(pid, &t, err, sizeof(err)) == 0 && t.n == 3 && sh->progress) {
			prof_tids_free(&t);
			break;
		}
		prof_tids_free(&t);
		usleep(5000);
	}
	return pid;
}

/* Did the target make progress within 2 s?  (Slow on a loaded machine.) */
static int progressed(void)
{
	unsigned long before = sh->progress;

	for (int i = 0; i < 2000 && sh->progress == before; i++)
		usleep(1000);
	return sh->progress != before;
}

static void kill_target(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static char proc_state(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return '?';
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] && p[2] ? p[2] : '?';
}

static long tracer_pid(pid_t pid)
{
	char path[64], line[256];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "TracerPid: %ld", &v) == 1)
			break;
	fclose(f);
	return v;
}

static void test_stop_resume(void)
{
	pid_t pid = spawn_target();
	char err[160] = "";
	struct prof_pause *pp = prof_pause_new(pid, err, sizeof(err));

	prof_pause_set_timeout(pp, 2000000);	/* a loaded machine */

	for (int i = 0; i < 200; i++) {
		struct user_regs_struct regs;
		unsigned long before;

		CHECK_EQ_INT(prof_pause_stop(pp, err, sizeof(err)), 0);
		CHECK_EQ_INT(prof_pause_count(pp), 3);
		before = sh->progress;
		usleep(i == 0 ? 2000 : 0);
		/* Paused means paused: the spinner made no progress. */
		CHECK(sh->progress == before);
		CHECK_EQ_INT(prof_pause_regs(pp, 0, &regs), 0);
		CHECK(regs.rip != 0 && regs.rsp != 0);
		CHECK(proc_state(pid) == 't');
		prof_pause_resume(pp);
	}
	prof_pause_free(pp);
	CHECK(progressed());
	CHECK(proc_state(pid) != 't' && proc_state(pid) != 'T');
	CHECK_EQ_INT(tracer_pid(pid), 0);
	kill_target(pid);
}

/* Readers of memory leave sleeping threads alone: no interrupt wakes them. */
static void test_skip_sleepers(void)
{
	pid_t pid = spawn_target();
	char err[160];
	struct prof_pause *pp = prof_pause_new(pid, err, sizeof(err));
	int woken = 0;

	prof_pause_set_timeout(pp, 2000000);
	prof_pause_skip_sleepers(pp, 1);
	for (int i = 0; i < 50; i++) {
		CHECK_EQ_INT(prof_pause_stop(pp, err, sizeof(err)), 0);
		/* The spinner is stopped; the two threads in pause() are not. */
		woken += prof_pause_count(pp) != 1 || prof_pause_skipped(pp) != 2;
		prof_pause_resume(pp);
	}
	/* A sleeper may be caught between two pause() calls now and then. */
	CHECK(woken < 5);
	prof_pause_free(pp);
	kill_target(pid);
}

/* A signal sent while paused runs the target's handler right after resume. */
static void test_signal_while_paused(void)
{
	pid_t pid = spawn_target();
	char err[160];
	struct prof_pause *pp = prof_pause_new(pid, err, sizeof(err));

	prof_pause_set_timeout(pp, 2000000);	/* a loaded machine */
	int before = sh->usr1;

	CHECK_EQ_INT(prof_pause_stop(pp, err, sizeof(err)), 0);
	kill(pid, SIGUSR1);
	usleep(10000);
	CHECK_EQ_INT(sh->usr1, before);
	/* A second pause picks the signal-delivery-stop up and re-injects it. */
	prof_pause_resume(pp);
	for (int i = 0; i < 50; i++) {
		CHECK_EQ_INT(prof_pause_stop(pp, err, sizeof(err)), 0);
		prof_pause_resume(pp);
	}
	for (int i = 0; i < 100 && sh->usr1 == before; i++)
		usleep(1000);
	CHECK_EQ_INT(sh->usr1, before + 1);
	/* And signals between pauses go straight through.  (Standard signals
	 * merge while pending, so each waits for the one before.) */
	for (int i = 0; i < 100; i++) {
		CHECK_EQ_INT(prof_pause_stop(pp, err, sizeof(err)), 0);
		prof_pause_resume(pp);
		if (i % 10 == 0) {
			int want = sh->usr1 + 1;

			kill(pid, SIGUSR1);
			for (int j = 0; j < 1000 && sh->usr1 < want; j++)
				usleep(1000);
			CHECK_EQ_INT(sh->usr1, want);
		}
	}
	CHECK_EQ_INT(sh->usr1, before + 11);
	prof_pause_free(pp);
	kill_target(pid);
}

/* A SIGSTOPped target can be paused (it is read as it stands) and stays stopped. */
static void test_sigstopped_target(void)
{
	pid_t pid = spawn_target();
	char err[160];
	struct prof_pause *pp = prof_pause_new(pid, err, sizeof(err));

	prof_pause_set_timeout(pp, 2000000);	/* a loaded machine */

	kill(pid, SIGSTOP);
	for (int i = 0; i < 100 && proc_state(pid) != 'T'; i++)
		usleep(1000);
	CHECK(proc_state(pid) == 'T');
	for (int i = 0; i < 20; i++) {
		CHECK_EQ_INT(prof_pause_stop(pp, err, sizeof(err)), 0);
		CHECK_EQ_INT(prof_pause_count(pp), 3);
		CHECK(prof_pause_group_stopped(pp, 0));
		prof_pause_resume(pp);
	}
	usleep(5000);
	CHECK(proc_state(pid) == 'T');
	CHECK_EQ_INT(tracer_pid(pid), 0);
	kill(pid, SIGCONT);
	CHECK(progressed());
	prof_pause_free(pp);
	kill_target(pid);
}

/* The tracer dies by SIGKILL while every thread is paused: the kernel
 * detaches and the target runs on. */
static void test_tracer_killed(void)
{
	pid_t pid = spawn_target(), tracer;
	int st;

	tracer = fork();
	if (tracer == 0) {
		char err[160];
		struct prof_pause *pp = prof_pause_new(pid, err, sizeof(err));

	prof_pause_set_timeout(pp, 2000000);	/* a loaded machine */

		if (prof_pause_stop(pp, err, sizeof(err)) == 0 && prof_pause_count(pp) == 3)
			raise(SIGKILL);
		_exit(3);
	}
	waitpid(tracer, &st, 0);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	usleep(5000);
	CHECK(progressed());
	CHECK(proc_state(pid) != 't' && proc_state(pid) != 'T');
	CHECK_EQ_INT(tracer_pid(pid), 0);
	kill_target(pid);
}

static void test_gone(void)
{
	pid_t pid = fork();
	char err[160];
	struct prof_pause *pp;

	if (pid == 0)
		_exit(0);
	/* Zombie until reaped. */
	for (int i = 0; i < 2000 && proc_state(pid) != 'Z'; i++)
		usleep(1000);
	CHECK_EQ_INT(prof_check_pid(pid, err, sizeof(err)), -1);
	CHECK(strstr(err, "zombie") != NULL);
	waitpid(pid, NULL, 0);
	CHECK_EQ_INT(prof_check_pid(pid, err, sizeof(err)), -1);
	CHECK(strstr(err, "no such process") != NULL);
	pp = prof_pause_new(pid, err, sizeof(err));
	CHECK_EQ_INT(prof_pause_stop(pp, err, sizeof(err)), -ESRCH);
	prof_pause_free(pp);
	CHECK_EQ_INT(prof_check_pid(getpid(), err, sizeof(err)), -1);
}

static void test_already_traced(void)
{
	pid_t pid = spawn_target(), dbg;
	int fds[2];
	char c, err[160];

	if (pipe(fds) < 0)
		return;
	dbg = fork();
	if (dbg == 0) {
		struct prof_pause *pp = prof_pause_new(pid, err, sizeof(err));

	prof_pause_set_timeout(pp, 2000000);	/* a loaded machine */

		/* Hold it seized the way a debugger would. */
		prof_pause_stop(pp, err, sizeof(err));
		if (write(fds[1], "x", 1) < 0)
			_exit(1);
		pause();
		_exit(0);
	}
	if (read(fds[0], &c, 1) < 0)
		return;
	CHECK_EQ_INT(prof_check_traced(pid, err, sizeof(err)), -1);
	CHECK(strstr(err, "already traced by process") != NULL);
	{
		struct prof_pause *pp = prof_pause_new(pid, err, sizeof(err));

	prof_pause_set_timeout(pp, 2000000);	/* a loaded machine */

		CHECK_EQ_INT(prof_pause_stop(pp, err, sizeof(err)), -1);
		CHECK(strstr(err, "already traced") != NULL || strstr(err, "cannot trace") != NULL);
		prof_pause_free(pp);
	}
	kill(dbg, SIGKILL);
	waitpid(dbg, NULL, 0);
	kill_target(pid);
	close(fds[0]);
	close(fds[1]);
}

int main(void)
{
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	RUN(test_stop_resume);
	RUN(test_skip_sleepers);
	RUN(test_signal_while_paused);
	RUN(test_sigstopped_target);
	RUN(test_tracer_killed);
	RUN(test_gone);
	RUN(test_already_traced);
	return unit_done();
}
