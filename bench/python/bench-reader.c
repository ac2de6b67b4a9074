/* bench-reader.c - the Python reader's own cost: CPU and process_vm_readv calls per sample.
 *
 *   bench-reader PID [-n SAMPLES] [-r HZ] [--pause]
 *
 * Attaches prof_backend_python to PID and samples it SAMPLES times, flat out
 * or at HZ (sleeping to absolute deadlines), without pausing the target
 * unless --pause.  Prints one line:
 *   samples=N frames=F cpu_us=X vm_reads=Y rate=Z
 * (per sample: frames of the deepest thread, CPU microseconds of this
 * thread, process_vm_readv calls; rate: samples per second delivered). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "profiler/backend.h"
#include "profiler/profiler.h"

static size_t deepest;

static void count(void *ctx, const struct prof_stack *s)
{
	(void)ctx;
	if (s->nframes > deepest)
		deepest = s->nframes;
}

static double secs(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	const struct prof_backend *b = &prof_backend_python;
	struct prof_options o;
	struct prof_engine *e;
	struct prof_pause *pp = NULL;
	struct timespec next;
	char err[256];
	long n = 100000;
	double hz = 0, cpu0, wall0, cpu, wall;
	uint64_t reads0;
	int pause = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: bench-reader PID [-n SAMPLES] [-r HZ] [--pause]\n");
		return 2;
	}
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "-n") && i + 1 < argc)
			n = atol(argv[++i]);
		else if (!strcmp(argv[i], "-r") && i + 1 < argc)
			hz = atof(argv[++i]);
		else if (!strcmp(argv[i], "--pause"))
			pause = 1;
	}
	memset(&o, 0, sizeof(o));
	o.pid = atoi(argv[1]);
	o.idle = 1;
	if (b->attach(&e, o.pid, &o, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench-reader: %s\n", err);
		return 1;
	}
	if (pause && !(pp = prof_pause_new(o.pid, err, sizeof(err)))) {
		fprintf(stderr, "bench-reader: %s\n", err);
		return 1;
	}
	for (int i = 0; i < 100; i++)	/* warm the caches: steady state is what is measured */
		b->sample(e, count, NULL, err, sizeof(err));
	reads0 = py_engine_syscalls(e);
	cpu0 = secs(CLOCK_THREAD_CPUTIME_ID);
	wall0 = secs(CLOCK_MONOTONIC);
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (long i = 0; i < n; i++) {
		if (hz > 0) {
			long step = (long)(1e9 / hz);

			next.tv_nsec += step;
			while (next.tv_nsec >= 1000000000L) {
				next.tv_nsec -= 1000000000L;
				next.tv_sec++;
			}
			while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
				;
		}
		if (pp && prof_pause_stop(pp, err, sizeof(err)) < 0)
			break;
		if (b->sample(e, count, NULL, err, sizeof(err)) == -ESRCH)
			break;
		if (pp)
			prof_pause_resume(pp);
	}
	cpu = secs(CLOCK_THREAD_CPUTIME_ID) - cpu0;
	wall = secs(CLOCK_MONOTONIC) - wall0;
	printf("samples=%ld frames=%zu torn=%llu cpu_us=%.2f vm_reads=%.2f rate=%.0f\n", n, deepest, (unsigned long long)py_engine_torn(e),
	       cpu * 1e6 / (double)n, (double)(py_engine_syscalls(e) - reads0) / (double)n,
	       (double)n / wall);
	if (pp)
		prof_pause_free(pp);
	b->detach(e);
	return 0;
}
