/* clock.c - libsonda's clocks: the TSC as a timestamp (its rate measured once, lazily) and each thread's CPU time from a perf event page. */
#include "config.h"

#include <cpuid.h>
#include <linux/perf_event.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <x86intrin.h>

#include "tracer/internal.h"

/* An invariant TSC (constant rate, runs in deep sleep states): CPUID,
 * not /proc/cpuinfo, whose read waits for every CPU's frequency. */
HIDDEN int sonda__tsc_usable(void)
{
	unsigned a, b, c, d;

	if (__get_cpuid_max(0x80000000, NULL) < 0x80000007)
		return 0;
	__cpuid(0x80000007, a, b, c, d);
	(void)a;
	(void)b;
	(void)c;
	return (d >> 8) & 1;
}

/* A (CLOCK_MONOTONIC, TSC) pair: the TSC read between two clock reads,
 * the tightest bracket of a few tries (a preemption inside one would be
 * an error of its length). */
static void tsc_pair(int64_t *mono, uint64_t *tsc)
{
	int64_t best = INT64_MAX, a0, a1;
	uint64_t t;

	for (int i = 0; i < 5; i++) {
		a0 = mono_ns();
		t = __rdtsc();
		a1 = mono_ns();
		if (a1 - a0 < best) {
			best = a1 - a0;
			*mono = a0 + (a1 - a0) / 2;
			*tsc = t;
		}
	}
}

/* The TSC's rate against CLOCK_MONOTONIC over at least 2 ms since start
 * (the pair taken there), each end a tight bracket, so the error is a few
 * tens of ns in 2 ms or more (about 1e-5).  Done at the first timed
 * event, not at start: a program that records no task never pays, and
 * one that starts its first task 2 ms in does not spin at all. */
static void tsc_rate_measure(void)
{
	int64_t b;
	uint64_t t1;

	while (mono_ns() - lib.mono0 < 2000000)
		;
	tsc_pair(&b, &t1);
	if (t1 <= lib.tsc0 || b <= lib.mono0) {
		lib.tsc = 0;
		return;
	}
	lib.hdr->tsc_hz = (uint64_t)((double)(t1 - lib.tsc0) * 1e9 / (double)(b - lib.mono0));
	__atomic_store_n(&lib.mult, (uint64_t)((((unsigned __int128)(b - lib.mono0)) << 32) / (t1 - lib.tsc0)),
			 __ATOMIC_RELEASE);
}

static pthread_once_t tsc_once = PTHREAD_ONCE_INIT;

HIDDEN __attribute__((noinline, cold)) void sonda__tsc_rate(void)
{
	pthread_once(&tsc_once, tsc_rate_measure);
}

/* The TSC at start_mono_ns; its rate comes later (sonda__tsc_rate). */
HIDDEN void sonda__tsc_start(void)
{
	tsc_pair(&lib.mono0, &lib.tsc0);
	lib.mult = 0;
	tsc_once = (pthread_once_t)PTHREAD_ONCE_INIT;
}

HIDDEN void sonda__cpu_open(struct tstate *ts)
{
	struct perf_event_attr a;
	void *m;
	int fd;

	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.type = PERF_TYPE_SOFTWARE;
	a.config = PERF_COUNT_SW_TASK_CLOCK;
	a.sample_period = (uint64_t)1 << 62;	/* never samples */
	a.context_switch = 1;
	a.sample_id_all = 1;
	a.sample_type = PERF_SAMPLE_TIME;
	a.use_clockid = 1;
	a.clockid = CLOCK_MONOTONIC;
	/* what perf_event_paranoid 2 allows an unprivileged user; the task
	 * clock still counts the thread's kernel time */
	a.exclude_kernel = 1;
	a.exclude_hv = 1;
	fd = (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
	if (fd < 0)
		return;
	/* Read-only: the kernel overwrites the oldest records, so the newest
	 * switch is always at data_head - 16 and nothing ever blocks. */
	m = mmap(NULL, 4096 + PERF_DATA_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);	/* the mapping keeps the event */
	if (m == MAP_FAILED)
		return;
	ts->pc = m;
	ts->pdata = (const unsigned char *)m + 4096;
	(void)*(volatile const uint32_t *)&ts->pc->lock;	/* fault the pages in now */
	(void)*(volatile const unsigned char *)ts->pdata;
	ts->cpu_open_ns = mono_ns();
}

HIDDEN void sonda__cpu_close(struct tstate *ts)
{
	if (ts->pc)
		munmap(ts->pc, 4096 + PERF_DATA_SIZE);
	ts->pc = NULL;
}
