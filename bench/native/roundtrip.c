/* roundtrip.c - the floor of wall mode: what one ptrace stop and resume of a spinning thread costs it, with nothing else done.
 *
 *   roundtrip [HZ] [ROUNDS] [WORK] [apart|shared|follow]
 *
 * A child does WORK rounds of pure computation (as bench/native/shares
 * work does) and reports its wall and CPU time, and from its schedstat the
 * time it waited for a CPU and the rest of its time off CPU (stopped).  It
 * runs ROUNDS times (interleaved) under each way of holding it, while this
 * process, at real-time priority when permitted, wakes HZ times a second
 * and does only this:
 *
 *   alone        nothing (the child runs alone; the baseline)
 *   timer        wakes at HZ and does nothing else
 *   cont         seized once; each tick PTRACE_INTERRUPT, waitpid, PTRACE_CONT
 *   detach       each tick PTRACE_SEIZE, PTRACE_INTERRUPT, waitpid, PTRACE_DETACH
 *                (what sonda's wall mode does, less the register and stack copy)
 *   detach+read  the same plus PTRACE_GETREGSET and an 8 KB process_vm_readv
 *   idle-resume  detach+read, this thread turning SCHED_IDLE just before the
 *                detach (so that the scheduler, seeing the CPU idle, resumes
 *                the child there rather than on another, idle CPU), and a
 *                second thread at real-time priority on the same CPU making
 *                it real-time again at each tick (it wakes it with SIGUSR1);
 *                follow only.  Measured under load: the child then often
 *                stays stopped while another task has the CPU (+1.3 ms per
 *                tick), which is why sonda does not do this.
 *
 * with the two on different CPUs ("apart": pinned to CPU 1 and 0), on the
 * same one ("shared": both pinned to CPU 0), or the child free and this
 * process moving to its CPU every 100 ticks ("follow", as sonda does).
 * Printed per way: the medians of the child's wall and CPU seconds; its
 * excess over alone per tick in microseconds (wall, CPU, waiting for a
 * CPU, stopped); this process's median times from the interrupt to the
 * stop being seen and from the stop to the resume returning; its own CPU
 * per tick; the child's moves between CPUs.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <pthread.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum way { ALONE, TIMER, CONT, DETACH, READ, IDLEREAD, NWAYS };
static const char *const names[NWAYS] = {"alone", "timer", "cont", "detach", "detach+read",
					 "idle-resume"};

static volatile unsigned long sink;

static int64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void pin(pid_t who, int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(who, sizeof(set), &set);
}

/* The child: fixed work, then its wall and CPU seconds on the pipe. */
static void child(int fd, long rounds)
{
	int64_t t0 = now_ns();
	struct rusage ru;
	unsigned long long run = 0, delay = 0;
	double t[5];
	char line[256];
	FILE *f;

	for (long r = 0; r < rounds; r++)
		for (int i = 0; i < 1000000; i++)
			sink += (unsigned long)i ^ (unsigned long)r;
	getrusage(RUSAGE_SELF, &ru);
	t[0] = (now_ns() - t0) / 1e9;
	t[1] = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
	/* Time runnable but waiting for a CPU, and the rest of the time not
	 * running: stopped (or the runqueue wait of a wake-up not yet seen). */
	f = fopen("/proc/thread-self/schedstat", "r");
	if (!f || fscanf(f, "%llu %llu", &run, &delay) != 2)
		run = delay = 0;
	if (f)
		fclose(f);
	t[2] = delay / 1e9;
	t[3] = t[0] - run / 1e9 - delay / 1e9;
	/* Moves between CPUs: whether the scheduler keeps it where it was. */
	t[4] = 0;
	f = fopen("/proc/thread-self/sched", "r");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "se.nr_migrations", 16) && strchr(line, ':'))
			t[4] = atof(strchr(line, ':') + 1);
	if (f)
		fclose(f);
	if (write(fd, t, sizeof(t)) != sizeof(t))
		_exit(1);
	_exit(0);
}

/* The CPU pid last ran on (field 39 of /proc/PID/stat), or -1. */
static int cpu_of(pid_t pid)
{
	char path[64], buf[1024], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	for (int k = 0; k < 37 && p; k++)
		p = strchr(p + 1, ' ');
	return p ? atoi(p + 1) : -1;
}

/* Stops tid and waits for the stop; 0, or -1 when it exited. */
static int stop_one(pid_t tid)
{
	int st;

	if (ptrace(PTRACE_INTERRUPT, tid, 0, 0) < 0)
		return -1;
	for (;;) {
		if (waitpid(tid, &st, __WALL) < 0)
			return -1;
		if (WIFEXITED(st) || WIFSIGNALED(st))
			return -1;
		if (WIFSTOPPED(st))
			return 0;
	}
}

/* idle-resume: the booster thread's state. */
static struct {
	pthread_t thread;
	pid_t tracer, self;
	int64_t period;
	volatile int stop;
} boost;

static pid_t my_tid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

static void *booster(void *arg)
{
	struct sched_param fifo = {.sched_priority = 1};
	int64_t next = now_ns();

	(void)arg;
	boost.self = my_tid();
	sched_setscheduler(0, SCHED_FIFO, &fifo);
	while (!boost.stop) {
		struct timespec ts;

		next += boost.period;
		ts.tv_sec = next / 1000000000;
		ts.tv_nsec = next % 1000000000;
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
			;
		sched_setscheduler(boost.tracer, SCHED_FIFO, &fifo);
		syscall(SYS_tgkill, getpid(), boost.tracer, SIGUSR1);
	}
	return NULL;
}

struct run {
	double wall, cpu, rqwait, stopped, moves;	/* the child's */
	double stop_us, resume_us;	/* tracer's medians per tick */
	double tracer_us;		/* tracer's CPU per tick */
	long ticks;
};

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_d);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int run_once(enum way w, int shared, long hz, long rounds, struct run *out)
{
	static double stops[200000], resumes[200000];
	int p[2], st;
	size_t ns = 0;
	pid_t pid;
	int64_t period = 1000000000 / hz, next;
	struct user_regs_struct regs;
	static char buf[8192];

	struct rusage r0, r1;

	if (pipe(p) < 0)
		return -1;
	getrusage(RUSAGE_THREAD, &r0);
	pid = fork();
	if (pid == 0) {
		struct sched_param zero = {.sched_priority = 0};

		close(p[0]);
		sched_setscheduler(0, SCHED_OTHER, &zero);
		setpriority(PRIO_PROCESS, 0, 0);
		if (shared < 2)
			pin(0, shared ? 0 : 1);
		child(p[1], rounds);
	}
	close(p[1]);
	if (shared < 2)
		pin(0, 0);
	else
		pin(0, cpu_of(pid));
	if (w == CONT && ptrace(PTRACE_SEIZE, pid, 0, 0) < 0)
		return -1;
	next = now_ns();
	out->ticks = 0;
	if (w == IDLEREAD) {
		sigset_t usr1;

		sigemptyset(&usr1);
		sigaddset(&usr1, SIGUSR1);
		pthread_sigmask(SIG_BLOCK, &usr1, NULL);
		boost.tracer = my_tid();
		boost.period = period;
		boost.stop = 0;
		boost.self = 0;
		pthread_create(&boost.thread, NULL, booster, NULL);
		while (!boost.self)
			sched_yield();
	}
	while (w != ALONE) {
		struct timespec ts;
		int64_t t0, t1, t2;

		if (w == IDLEREAD) {
			sigset_t usr1;
			int sig;

			sigemptyset(&usr1);
			sigaddset(&usr1, SIGUSR1);
			sigwait(&usr1, &sig);
		} else {
			next += period;
			ts.tv_sec = next / 1000000000;
			ts.tv_nsec = next % 1000000000;
			while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
				;
		}
		if (shared == 2 && out->ticks % 100 == 99) {
			int c = cpu_of(pid);

			if (c >= 0) {
				pin(0, c);
				if (w == IDLEREAD)
					pin(boost.self, c);
			}
		}
		if (w == TIMER) {
			out->ticks++;
			if (waitpid(pid, &st, WNOHANG) == pid)
				break;
			continue;
		}
		if (w != CONT && ptrace(PTRACE_SEIZE, pid, 0, 0) < 0)
			break;
		t0 = now_ns();
		if (stop_one(pid) < 0)
			break;
		t1 = now_ns();
		if (w == READ || w == IDLEREAD) {
			struct iovec iov = {&regs, sizeof(regs)}, l = {buf, sizeof(buf)}, r;

			ptrace(PTRACE_GETREGSET, pid, (void *)NT_PRSTATUS, &iov);
			r.iov_base = (void *)(uintptr_t)((regs.rsp - sizeof(buf) / 2) & ~4095UL);
			r.iov_len = sizeof(buf);
			process_vm_readv(pid, &l, 1, &r, 1, 0);
		}
		if (w == IDLEREAD) {
			struct sched_param zero = {.sched_priority = 0};

			sched_setscheduler(0, SCHED_IDLE, &zero);
		}
		ptrace(w == CONT ? PTRACE_CONT : PTRACE_DETACH, pid, 0, 0);
		t2 = now_ns();
		if (ns < sizeof(stops) / sizeof(stops[0])) {
			stops[ns] = (t1 - t0) / 1e3;
			resumes[ns++] = (t2 - t1) / 1e3;
		}
		out->ticks++;
	}
	if (w == IDLEREAD) {
		struct sched_param fifo = {.sched_priority = 1};

		boost.stop = 1;
		pthread_join(boost.thread, NULL);
		sched_setscheduler(0, SCHED_FIFO, &fifo);
		{
			sigset_t usr1;
			struct timespec zero = {0, 0};

			sigemptyset(&usr1);
			sigaddset(&usr1, SIGUSR1);
			while (sigtimedwait(&usr1, NULL, &zero) > 0)
				;
		}
	}
	if (w == ALONE || w == CONT || w == DETACH || w == READ || w == IDLEREAD)
		while (waitpid(pid, &st, __WALL) == pid && !WIFEXITED(st) && !WIFSIGNALED(st))
			ptrace(PTRACE_CONT, pid, 0, 0);	/* an interrupt left pending */
	double t[5] = {0, 0, 0, 0, 0};

	getrusage(RUSAGE_THREAD, &r1);
	out->tracer_us = out->ticks ? ((r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) * 1e6 +
				       (r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) +
				       (r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) * 1e6 +
				       (r1.ru_stime.tv_usec - r0.ru_stime.tv_usec)) / out->ticks : 0;

	if (read(p[0], t, sizeof(t)) != sizeof(t))
		t[0] = t[1] = t[2] = t[3] = t[4] = 0;
	close(p[0]);
	out->wall = t[0];
	out->cpu = t[1];
	out->rqwait = t[2];
	out->stopped = t[3];
	out->moves = t[4];
	out->stop_us = median(stops, ns);
	out->resume_us = median(resumes, ns);
	return 0;
}

static const char *const placements[3] = {"apart", "shared", "follow"};

int main(int argc, char **argv)
{
	long hz = argc > 1 ? atol(argv[1]) : 1000, rounds = argc > 2 ? atol(argv[2]) : 5;
	long work = argc > 3 ? atol(argv[3]) : 300;
	const char *only = argc > 4 ? argv[4] : NULL;
	struct sched_param sp = {.sched_priority = 1};
	static double v[3][NWAYS][8][64];
	long ticks[3][NWAYS] = {{0}};

	if (hz <= 0 || rounds <= 0 || rounds > 64 || work <= 0) {
		fprintf(stderr, "usage: roundtrip [HZ] [ROUNDS 1-64] [WORK] [apart|shared|follow]\n");
		return 2;
	}
	if (sched_setscheduler(0, SCHED_FIFO, &sp) < 0)
		setpriority(PRIO_PROCESS, 0, -10);
	for (long r = 0; r < rounds; r++)
		for (int sh = 0; sh < 3; sh++)
			for (int w = 0; w < NWAYS && (!only || !strcmp(only, placements[sh])); w++) {
				struct run o;

				if (w == IDLEREAD && sh != 2)
					continue;	/* only where the child is free to move */
				if (run_once(w, sh, hz, work, &o) < 0) {
					perror("ptrace");
					return 1;
				}
				v[sh][w][0][r] = o.wall;
				v[sh][w][1][r] = o.cpu;
				v[sh][w][2][r] = o.rqwait;
				v[sh][w][3][r] = o.stopped;
				v[sh][w][4][r] = o.stop_us;
				v[sh][w][5][r] = o.resume_us;
				v[sh][w][6][r] = o.tracer_us;
				v[sh][w][7][r] = o.moves;
				ticks[sh][w] += o.ticks;
			}
	printf("%ld Hz, %ld rounds of %ld units each way, interleaved; medians; the child's\n"
	       "excess over alone per tick in us: wall, CPU, waiting for a CPU, stopped\n",
	       hz, rounds, work);
	printf("%-7s %-12s %7s %7s %7s %7s %7s %7s %8s %9s %9s %6s\n", "cpus", "way", "wall s",
	       "cpu s", "wall/t", "cpu/t", "rqwait", "stopped", "stop us", "resume us", "tracer/t",
	       "moves");
	for (int sh = 0; sh < 3; sh++) {
		double a[4];

		if (only && strcmp(only, placements[sh]))
			continue;
		for (int k = 0; k < 4; k++)
			a[k] = median(v[sh][ALONE][k], rounds);
		for (int w = 0; w < NWAYS; w++) {
			double m[4], t = (double)ticks[sh][w] / rounds;

			if (w == IDLEREAD && sh != 2)
				continue;
			for (int k = 0; k < 4; k++)
				m[k] = median(v[sh][w][k], rounds);
			printf("%-7s %-12s %7.3f %7.3f", placements[sh], names[w], m[0], m[1]);
			for (int k = 0; k < 4; k++)
				printf(" %7.1f", t ? 1e6 * (m[k] - a[k]) / t : 0);
			printf(" %8.1f %9.1f %9.1f %6.0f\n", median(v[sh][w][4], rounds),
			       median(v[sh][w][5], rounds), median(v[sh][w][6], rounds),
			       median(v[sh][w][7], rounds));
		}
	}
	return 0;
}
