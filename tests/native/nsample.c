/* nsample.c - drive a native backend by hand: attach, sample at a rate, print each stack (a test and bench tool). */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "profiler/backend.h"


static int with_lines, keep_idle;
static unsigned long nstacks;
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

static const char *base(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

/* "S TID STATE root;...;leaf", each frame "function" or "function:file:line",
 * kernel frames "function_[k]" as perf script writes them. */
static void print_stack(void *ctx, const struct prof_stack *st)
{
	if ((st->state & STORE_STATE_IDLE) && !keep_idle)
		return;
	nstacks++;
	printf("S %lld %s ", (long long)st->tid, (st->state & STORE_STATE_IDLE) ? "idle" : "cpu");
	for (size_t i = st->nframes; i-- > 0;) {
		const struct prof_frame *f = &st->frames[i];

		if (with_lines && f->file)
			printf("%s:%s:%d", f->function, base(f->file), f->line);
		else
			printf("%s", f->function);
		if (f->kind == STORE_KIND_KERNEL)
			printf("_[k]");
		if (i)
			putchar(';');
	}
	putchar('\n');
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	const struct prof_backend *b = &prof_backend_cpu;
	struct prof_options o;
	struct prof_engine *e;
	double duration = 1, t0, next;
	char err[256];
	int c, once = 0, rc;
	unsigned long errors = 0;

	memset(&o, 0, sizeof(o));
	o.rate_hz = 100;
	while ((c = getopt(argc, argv, "m:p:d:r:ilo")) != -1) {
		switch (c) {
		case 'm':
			if (!strcmp(optarg, "wall"))
				b = &prof_backend_wall;
			else if (!strcmp(optarg, "mixed"))
				b = &prof_backend_mixed;
			else if (strcmp(optarg, "cpu"))
				return 2;
			break;
		case 'p': o.pid = atoi(optarg); break;
		case 'd': duration = atof(optarg); break;
		case 'r': o.rate_hz = atof(optarg); break;
		case 'i': keep_idle = o.idle = 1; break;
		case 'l': with_lines = 1; break;
		case 'o': once = 1; break;
		default:
			fprintf(stderr, "usage: nsample [-m cpu|wall|mixed] (-p PID | -- CMD...) [-d S] [-r HZ] [-i] [-l] [-o]\n");
			return 2;
		}
	}
	if (once)
		o.rate_hz = 0;	/* one read, like sonda dump: paused in this thread */
	if (!o.pid && optind < argc) {
		/* Launch: like the sampler, attach once the command runs. */
		char self[4096], exe[4096], path[64];
		ssize_t n1 = readlink("/proc/self/exe", self, sizeof(self) - 1);

		o.argv = argv + optind;
		o.pid = fork();
		if (o.pid == 0) {
			execvp(argv[optind], argv + optind);
			_exit(127);
		}
		snprintf(path, sizeof(path), "/proc/%d/exe", (int)o.pid);
		for (int i = 0; i < 1000; i++) {
			ssize_t n2 = readlink(path, exe, sizeof(exe) - 1);

			if (n1 > 0 && n2 > 0 && (n1 != n2 || memcmp(self, exe, (size_t)n1)))
				break;
			usleep(1000);
		}
		o.pid = 0 - o.pid;	/* attach() sees a launch: argv set, pid 0 */
	}
	/* Like the sampling loop: real-time priority when permitted, so a
	 * loaded machine does not starve the sampler. */
	{
		struct sched_param sp = {.sched_priority = 1};

		sched_setscheduler(0, SCHED_FIFO, &sp);
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	pid_t pid = o.pid < 0 ? -o.pid : o.pid;

	if (o.pid < 0)
		o.pid = 0;
	if (b->attach(&e, pid, &o, err, sizeof(err)) != 0) {
		fprintf(stderr, "nsample: %s\n", err);
		return 1;
	}
	printf("# %s\n", b->describe(e));
	t0 = next = now();
	while (!stop) {
		rc = b->sample(e, print_stack, NULL, err, sizeof(err));
		if (rc == -ESRCH)
			break;
		if (rc < 0 && errors++ < 5)
			fprintf(stderr, "nsample: %s\n", err);
		if (once || now() - t0 >= duration)
			break;
		next += 1 / o.rate_hz;
		double d = next - now();
		if (d > 0)
			usleep((useconds_t)(d * 1e6));
	}
	b->detach(e);
	if (o.argv)
		kill(pid, SIGKILL);
	printf("# stacks %lu errors %lu\n", nstacks, errors);
	return 0;
}
