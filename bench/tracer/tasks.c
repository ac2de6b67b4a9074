/* tasks.c - benchmark: a libsonda begin/end pair against two clock_gettime(CLOCK_MONOTONIC), per thread and on 8 threads. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sonda.h"

static long n;

static double cpu_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

static void *pairs(void *arg)
{
	(void)arg;
	for (long i = 0; i < n; i++) {
		sonda_task_begin("bench");
		sonda_task_end();
	}
	return NULL;
}

static void *clocks(void *arg)
{
	struct timespec a, b;
	long s = 0;

	(void)arg;
	for (long i = 0; i < n; i++) {
		clock_gettime(CLOCK_MONOTONIC, &a);
		clock_gettime(CLOCK_MONOTONIC, &b);
		s += b.tv_nsec - a.tv_nsec;
	}
	return (void *)s;
}

static double wall_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

static double last_rate;	/* pairs per second of wall time, last run */

static double run(void *(*fn)(void *), int threads)
{
	pthread_t t[8];
	double c0 = cpu_now(), w0 = wall_now();

	for (int i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, fn, NULL);
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	last_rate = (double)n * threads / ((wall_now() - w0) / 1e9);
	return (cpu_now() - c0) / ((double)n * threads);
}

int main(int argc, char **argv)
{
	double p1, c1, p8, c8, r1, r8, k1, k8;

	n = argc > 1 ? atol(argv[1]) : 5000000;
	run(pairs, 1);	/* first events: slot, perf page */
	c1 = run(clocks, 1);
	k1 = last_rate;
	p1 = run(pairs, 1);
	r1 = last_rate;
	c8 = run(clocks, 8);
	k8 = last_rate;
	p8 = run(pairs, 8);
	r8 = last_rate;
	printf("1 thread:  begin/end pair %6.1f ns CPU   2x clock_gettime %6.1f ns   ratio %.2f\n", p1, c1, p1 / c1);
	printf("8 threads: begin/end pair %6.1f ns CPU   2x clock_gettime %6.1f ns   ratio %.2f\n", p8, c8, p8 / c8);
	printf("scaling:   %.1f M pairs/s on 1 thread, %.1f M/s on 8 threads: x%.2f on %ld CPUs "
	       "(clock_gettime pairs: x%.2f, the machine's own limit)\n",
	       r1 / 1e6, r8 / 1e6, r8 / r1, sysconf(_SC_NPROCESSORS_ONLN), k8 / k1);
	return 0;
}
