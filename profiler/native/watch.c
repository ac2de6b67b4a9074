/* watch.c - hardware write watchpoints on a thread's stack, their records in its perf ring: the unwinder's proof that kept outer frames still stand. */
#include "config.h"

#include <errno.h>
#include <linux/hw_breakpoint.h>
#include <linux/perf_event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "profiler/native/native.h"
#include "profiler/native/perf-int.h"

/* A watchpoint is disabled by the kernel after this many writes (each
 * costs the target a trap). */
#define WATCH_SHOTS 64

/* Arms a one-shot watchpoint on the 8 bytes at addr of thread tid (the
 * previous one of the thread is closed): the first write to them by the
 * thread puts a record into the thread's ring, in order with its samples,
 * which the reader gets as a sample with watch_hit set.  After
 * WATCH_SHOTS hits the kernel disables it, so a word written in a loop
 * costs the target that many traps, not one per write.  Returns its id, or 0 (no such ring, inherited
 * events, or the kernel would not: then never tried again). */
uint64_t prof_perf_watch(struct prof_perf *p, pid_t tid, uint64_t addr)
{
	struct perf_event_attr a;
	struct ring *r;
	long fd;

	p->deep_ns = prof_perf_now();
	if (p->inherit || p->watch_broken || (addr & 7) || !(r = prof_perf_ring(p, tid)) || r->exited)
		return 0;
	prof_perf_unwatch(r);
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.type = PERF_TYPE_BREAKPOINT;
	a.bp_type = HW_BREAKPOINT_W;
	a.bp_addr = addr;
	a.bp_len = HW_BREAKPOINT_LEN_8;
	a.sample_period = 1;
	a.sample_type = PERF_SAMPLE_IDENTIFIER;
	a.use_clockid = 1;	/* a ring's events share its clock */
	a.clockid = CLOCK_MONOTONIC;
	a.exclude_kernel = 1;
	a.exclude_hv = 1;
	a.disabled = 1;
	a.watermark = 1;
	a.wakeup_watermark = RING_PAGES_MORE * 4096 / 2;
	fd = prof_perf_event_open(&a, tid);
	if (fd < 0) {
		/* Not allowed or not there is for good; busy debug registers
		 * (a debugger's, or ours not yet let go) may pass. */
		if (errno != ESRCH && errno != ENOSPC && errno != EBUSY && errno != EINTR &&
		    errno != EAGAIN)
			p->watch_broken = 1;
		return 0;
	}
	if (ioctl((int)fd, PERF_EVENT_IOC_SET_OUTPUT, r->fd) != 0 ||
	    ioctl((int)fd, PERF_EVENT_IOC_ID, &r->watch_id) != 0 || !r->watch_id ||
	    ioctl((int)fd, PERF_EVENT_IOC_REFRESH, WATCH_SHOTS) != 0) {
		close((int)fd);
		r->watch_id = 0;
		p->watch_broken = 1;
		return 0;
	}
	r->watch_fd = (int)fd;
	r->watch_addr = addr;
	r->watch_armed = prof_perf_now();
	return r->watch_id;
}

/* Whether the word at addr of tid was written after when (a sample's
 * time): PROF_WATCH_WRITTEN yes, PROF_WATCH_CLEAN no; unknown because it
 * is not watched (PROF_WATCH_NONE), was not yet (PROF_WATCH_LATER), or
 * its watchpoint used its shots up, a word written again and again
 * (PROF_WATCH_SPENT).  *seen: the writes counted when it judged (-1: not
 * read), for the caller to check that none came while it read the words
 * the answer was about. */
int prof_perf_watch_state(struct prof_perf *p, pid_t tid, uint64_t addr, int64_t when,
			  int64_t *seen)
{
	struct ring *r = prof_perf_ring(p, tid);
	uint64_t count = 0;

	*seen = -1;
	p->deep_ns = prof_perf_now();
	if (!r || r->watch_fd < 0 || r->watch_addr != addr)
		return PROF_WATCH_NONE;
	if (r->watch_armed > when)
		return PROF_WATCH_LATER;
	if (read(r->watch_fd, &count, sizeof(count)) != sizeof(count))
		return PROF_WATCH_SPENT;
	*seen = (int64_t)count;
	/* Its records before the sample in the ring were read (they are
	 * older); any other write came after the sample. */
	if (count > r->watch_seen)
		return PROF_WATCH_WRITTEN;
	return count >= WATCH_SHOTS ? PROF_WATCH_SPENT : PROF_WATCH_CLEAN;
}

/* tid's current watchpoint, 0: none. */
uint64_t prof_perf_watch_id(struct prof_perf *p, pid_t tid)
{
	struct ring *r = prof_perf_ring(p, tid);

	return r ? r->watch_id : 0;
}

/* The writes tid's watchpoint has seen since armed, -1: none.  Read, not
 * taken from the ring: a write just now is only there at the next drain. */
int64_t prof_perf_watch_count(struct prof_perf *p, pid_t tid)
{
	struct ring *r = prof_perf_ring(p, tid);
	uint64_t count = 0;

	if (!r || r->watch_fd < 0 || read(r->watch_fd, &count, sizeof(count)) != sizeof(count))
		return -1;
	return (int64_t)count;
}

static uint64_t op_arm(void *p, pid_t tid, uint64_t addr)
{
	return prof_perf_watch(p, tid, addr);
}

static uint64_t op_armed(void *p, pid_t tid)
{
	return prof_perf_watch_id(p, tid);
}

static int64_t op_count(void *p, pid_t tid)
{
	return prof_perf_watch_count(p, tid);
}

static int op_state(void *p, pid_t tid, uint64_t addr, int64_t when, int64_t *seen)
{
	return prof_perf_watch_state(p, tid, addr, when, seen);
}

/* Deep stacks: u keeps the callers beyond the stack copy while p's
 * watchpoints say they stand (SONDA_OUTER=live: read every time). */
void prof_perf_watch_outer(struct prof_perf *p, struct prof_unwinder *u)
{
	const char *env = getenv("SONDA_OUTER");

	if (!env || strcmp(env, "live"))
		prof_unwind_watch(u, &(struct prof_watch_ops){op_arm, op_armed, op_count, op_state, p});
}
