/* perf-int.h - what perf.c shares with watch.c and switches.c: a thread's ring and the sampler's state. */
#ifndef SONDA_PROFILER_NATIVE_PERF_INT_H
#define SONDA_PROFILER_NATIVE_PERF_INT_H

#include <linux/perf_event.h>
#include <stdint.h>
#include <sys/types.h>

#include "profiler/native/native.h"

#define RING_PAGES_MORE 256	/* for the watermark only: nobody polls */

struct ring {
	pid_t tid;
	int fd;
	void *base;	/* metadata page, then the data pages */
	size_t pages;	/* data pages */
	int seen;	/* still in /proc/PID/task at the last scan */
	int exited;	/* its PERF_RECORD_EXIT was read */
	uint64_t id;	/* the sampling event's PERF_EVENT_IOC_ID */
	struct watch {	/* the thread's watchpoints (watch.c) */
		int fd;		/* -1: none */
		uint64_t id, addr;
		int64_t armed;	/* when (CLOCK_MONOTONIC ns) */
		uint64_t seen;	/* its records read */
	} w[PROF_WATCH_MAX];
	/* prof_perf_open_switches: the ring is the context-switch event's
	 * (sw_id), the cpu-clock event writes into it (clock_fd, id), at
	 * clock_period ns of CPU time (prof_perf_clock). */
	uint64_t sw_id;
	int clock_fd;
	uint64_t clock_period;
	int fresh;	/* opened since the last prof_perf_fresh() */
};

struct prof_perf {
	pid_t pid;
	int inherit;
	double hz;
	struct perf_event_attr attr;
	const char *event;
	struct ring *r;
	size_t n, cap;
	uint64_t lost;
	uint8_t *rec;	/* one record copied out of the ring */
	size_t page;
	int slot_of[PROF_NREGS];	/* libunwind register order -> position in a sample */
	int watch_broken;	/* a watchpoint could not be opened: none tried again */
	size_t prefetch;	/* bytes of stack copy the unwinds read (prof_perf_hint) */
	pid_t born[64];	/* threads announced by PERF_RECORD_FORK, not yet opened */
	size_t nborn;
	int64_t scanned_ns, checked_ns, opened_ns;
	int64_t watch_hit_ns;	/* when a watchpoint record was last read */
	/* prof_perf_open_switches: a context-switch event beside each
	 * thread's cpu-clock, and how fast the busiest ring fills (bytes per
	 * ns: switches come at the target's pace, not at the rate). */
	int switches;
	struct perf_event_attr sw_attr;
	uint64_t drained_max;	/* most bytes one ring gave at this read */
	int64_t read_ns;
	double fill_rate;
	int64_t deep_ns;	/* when an unwind last asked about a watchpoint */
	uint64_t read;		/* samples read */
	size_t copy;		/* bytes of user stack a sample carries */
	size_t reach;		/* the farthest above SP an unwind read (prof_perf_reach) */
	int settled;		/* the copy was cut to the first samples' needs */
	size_t no_fd, no_fd_said;	/* threads without events for want of descriptors */
};

int64_t prof_perf_now(void);
long prof_perf_event_open(struct perf_event_attr *a, pid_t tid);
struct ring *prof_perf_ring(struct prof_perf *p, pid_t tid);
void prof_perf_unwatch(struct ring *r);
struct watch *prof_perf_watch_by_id(struct ring *r, uint64_t id);
struct prof_perf *prof_perf_new(pid_t pid, int inherit, double hz, int switches, char *err,
				size_t errlen);
/* switches.c */
int prof_perf_setup_switches(struct prof_perf *p, char *err, size_t errlen);
int prof_perf_open_clock(struct prof_perf *p, struct ring *r, uint64_t period);

#endif
