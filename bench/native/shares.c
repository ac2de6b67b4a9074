/* shares.c - a program with known time shares (compute, blocked in read, asleep), and a fixed amount of work for slowdown runs.
 *
 *   shares cycle [S]    30 ms computing, 30 ms blocked in read() on a pipe,
 *                       40 ms in nanosleep(), over and over (for S seconds,
 *                       then prints the shares it really spent, measured)
 *   shares work N       N rounds of pure computation, then prints the wall
 *                       and CPU seconds it took
 *   shares pingpong N [SPIN]  two threads pass a byte back and forth over
 *                       pipes N times (each pass a switch out and in of
 *                       both), the main thread computing SPIN rounds of a
 *                       loop between passes; prints the wall and CPU
 *                       seconds it took
 */
#include <sys/resource.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

static volatile unsigned long sink;
static int pipefd[2];

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

NOINLINE static void phase_compute(double secs)
{
	double end = now() + secs;

	while (now() < end)
		for (int i = 0; i < 1000; i++)
			sink += (unsigned long)i;
}

NOINLINE static void phase_blocked(void)
{
	char c;

	if (read(pipefd[0], &c, 1) < 0)
		sink++;
}

NOINLINE static void phase_sleep(double secs)
{
	struct timespec ts = {0, (long)(secs * 1e9)};

	nanosleep(&ts, NULL);
}

/* Writes one byte 30 ms after each request: the main thread's read()
 * blocks for that long. */
static void *feeder(void *arg)
{
	char c;

	while (read(((int *)arg)[0], &c, 1) == 1) {
		phase_sleep(0.030);
		if (write(pipefd[1], "x", 1) != 1)
			break;
	}
	return NULL;
}

NOINLINE static void work(long rounds)
{
	for (long r = 0; r < rounds; r++)
		for (int i = 0; i < 1000000; i++)
			sink += (unsigned long)i ^ (unsigned long)r;
}

static int ping[2], pong[2];

static void *ponger(void *arg)
{
	char c;

	while (read(ping[0], &c, 1) == 1)
		if (write(pong[1], &c, 1) != 1)
			break;
	return arg;
}

NOINLINE static void pingpong(long n, long spin)
{
	pthread_t t;
	char c = 'x';

	if (pipe(ping) != 0 || pipe(pong) != 0 || pthread_create(&t, NULL, ponger, NULL) != 0)
		exit(1);
	for (long i = 0; i < n; i++) {
		for (long k = 0; k < spin; k++)
			sink += (unsigned long)k;
		if (write(ping[1], &c, 1) != 1 || read(pong[0], &c, 1) != 1)
			exit(1);
	}
	close(ping[1]);
	pthread_join(t, NULL);
}

static void print_cost(double t0)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	printf("%.4f %.4f\n", now() - t0,
	       ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
		       ru.ru_stime.tv_usec / 1e6);
}

int main(int argc, char **argv)
{
	if (argc > 2 && !strcmp(argv[1], "pingpong")) {
		double t0 = now();

		pingpong(atol(argv[2]), argc > 3 ? atol(argv[3]) : 0);
		print_cost(t0);
		return 0;
	}
	if (argc > 2 && !strcmp(argv[1], "work")) {
		double t0 = now();

		work(atol(argv[2]));
		print_cost(t0);
		return 0;
	}
	int req[2];
	pthread_t t;
	double secs = argc > 2 ? atof(argv[2]) : 0, t0, t1, t2, t3, spent[3] = {0, 0, 0};

	if (pipe(pipefd) != 0 || pipe(req) != 0 || pthread_create(&t, NULL, feeder, req) != 0)
		return 1;
	printf("ready\n");
	fflush(stdout);
	t0 = now();
	for (t3 = t0; !secs || t3 - t0 < secs;) {
		/* The truth is what each phase really took, not its nominal length. */
		t1 = t3;
		phase_compute(0.030);
		if (write(req[1], "r", 1) != 1)
			return 1;
		t2 = now();
		spent[0] += t2 - t1;
		phase_blocked();
		t3 = now();
		spent[1] += t3 - t2;
		phase_sleep(0.040);
		t1 = t3;
		t3 = now();
		spent[2] += t3 - t1;
	}
	printf("truth pid %d compute %.2f blocked %.2f asleep %.2f\n", (int)getpid(),
	       100 * spent[0] / (t3 - t0), 100 * spent[1] / (t3 - t0), 100 * spent[2] / (t3 - t0));
	return 0;
}
