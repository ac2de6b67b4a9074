/* watch.c - hardware watchpoints on a thread's stack, their records in its perf ring: the unwinder's proof that the outer frames it reads or keeps still stand. */
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

/* A watchpoint is disabled by the kernel after this many accesses (each
 * costs the target a trap). */
#define WATCH_SHOTS 512

static struct watch *watch_on(struct ring *r, uint64_t addr)
{
	for (int i = 0; i < PROF_WATCH_MAX; i++)
		if (r->w[i].fd >= 0 && r->w[i].addr == addr)
			return &r->w[i];
	return NULL;
}

/* tid's watchpoint on addr, NULL: none. */
static struct watch *watch_of(struct prof_perf *p, pid_t tid, uint64_t addr)
{
	struct ring *r = prof_perf_ring(p, tid);

	return r ? watch_on(r, addr) : NULL;
}

struct watch *prof_perf_watch_by_id(struct ring *r, uint64_t id)
{
	for (int i = 0; i < PROF_WATCH_MAX; i++)
		if (r->w[i].fd >= 0 && r->w[i].id == id)
			return &r->w[i];
	return NULL;
}

static void close_watch(struct watch *w)
{
	if (w && w->fd >= 0) {
		close(w->fd);
		*w = (struct watch){.fd = -1};
	}
}

void prof_perf_unwatch(struct ring *r)
{
	for (int i = 0; i < PROF_WATCH_MAX; i++)
		close_watch(&r->w[i]);
}

/* A free place for a watchpoint of r, the oldest one's if none is. */
static struct watch *watch_slot(struct ring *r)
{
	struct watch *old = &r->w[0];

	for (int i = 0; i < PROF_WATCH_MAX; i++) {
		if (r->w[i].fd < 0)
			return &r->w[i];
		if (r->w[i].armed < old->armed)
			old = &r->w[i];
	}
	close_watch(old);
	return old;
}

/* Arms a watchpoint on the 8 bytes at addr of thread tid, in place of
 * its one on drop (and of one already on addr): each read or write of
 * them by the thread (a return address slot is written by a call and
 * read by the return) puts a record into the thread's ring, in order
 * with its samples, which the reader gets as a sample with watch_hit
 * set.  After WATCH_SHOTS hits the kernel disables it, so a word used in
 * a loop costs the target that many traps, not one per access.  Returns
 * its id, or 0 (no such ring, inherited events, no debug register or
 * descriptor free, or the kernel would not: then never tried again). */
uint64_t prof_perf_watch(struct prof_perf *p, pid_t tid, uint64_t addr, uint64_t drop)
{
	struct perf_event_attr a;
	struct watch *w;
	struct ring *r;
	long fd;

	p->deep_ns = prof_perf_now();
	if (p->inherit || p->watch_broken || (addr & 7) || !(r = prof_perf_ring(p, tid)) || r->exited)
		return 0;
	close_watch(watch_on(r, drop));
	close_watch(watch_on(r, addr));
	w = watch_slot(r);
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.type = PERF_TYPE_BREAKPOINT;
	a.bp_type = HW_BREAKPOINT_RW;
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
		 * (a debugger's, or ours not yet let go) or descriptors may
		 * pass. */
		if (errno != ESRCH && errno != ENOSPC && errno != EBUSY && errno != EINTR &&
		    errno != EAGAIN && errno != EMFILE)
			p->watch_broken = 1;
		return 0;
	}
	if (ioctl((int)fd, PERF_EVENT_IOC_SET_OUTPUT, r->fd) != 0 ||
	    ioctl((int)fd, PERF_EVENT_IOC_ID, &w->id) != 0 || !w->id ||
	    ioctl((int)fd, PERF_EVENT_IOC_REFRESH, WATCH_SHOTS) != 0) {
		close((int)fd);
		w->id = 0;
		p->watch_broken = 1;
		return 0;
	}
	w->fd = (int)fd;
	w->addr = addr;
	w->armed = prof_perf_now();
	w->seen = 0;
	return w->id;
}

/* Whether the word at addr of tid was read or written after when (a
 * sample's time): PROF_WATCH_WRITTEN yes, PROF_WATCH_CLEAN no; unknown
 * because it is not watched (PROF_WATCH_NONE), was not yet
 * (PROF_WATCH_LATER), or its watchpoint used its shots up, a word used
 * again and again (PROF_WATCH_SPENT).  *seen: the accesses counted when
 * it judged (-1: not read), for the caller to check that none came while
 * it read the words the answer was about. */
int prof_perf_watch_state(struct prof_perf *p, pid_t tid, uint64_t addr, int64_t when,
			  int64_t *seen)
{
	struct watch *w = watch_of(p, tid, addr);
	uint64_t count = 0;

	*seen = -1;
	p->deep_ns = prof_perf_now();
	if (!w)
		return PROF_WATCH_NONE;
	if (w->armed > when)
		return PROF_WATCH_LATER;
	if (read(w->fd, &count, sizeof(count)) != sizeof(count))
		return PROF_WATCH_SPENT;
	*seen = (int64_t)count;
	/* Its records before the sample in the ring were read (they are
	 * older); any other write came after the sample. */
	if (count > w->seen)
		return PROF_WATCH_WRITTEN;
	return count >= WATCH_SHOTS ? PROF_WATCH_SPENT : PROF_WATCH_CLEAN;
}

/* The id of tid's watchpoint on addr, 0: none. */
uint64_t prof_perf_watch_id(struct prof_perf *p, pid_t tid, uint64_t addr)
{
	struct watch *w = watch_of(p, tid, addr);

	return w ? w->id : 0;
}

/* The accesses tid's watchpoint on addr has seen since armed, -1: none.
 * Read, not taken from the ring: an access just now is only there at
 * the next drain. */
int64_t prof_perf_watch_count(struct prof_perf *p, pid_t tid, uint64_t addr)
{
	struct watch *w = watch_of(p, tid, addr);
	uint64_t count = 0;

	if (!w || read(w->fd, &count, sizeof(count)) != sizeof(count))
		return -1;
	return (int64_t)count;
}

static uint64_t op_arm(void *p, pid_t tid, uint64_t addr, uint64_t drop)
{
	return prof_perf_watch(p, tid, addr, drop);
}

static uint64_t op_armed(void *p, pid_t tid, uint64_t addr)
{
	return prof_perf_watch_id(p, tid, addr);
}

static int64_t op_count(void *p, pid_t tid, uint64_t addr)
{
	return prof_perf_watch_count(p, tid, addr);
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
