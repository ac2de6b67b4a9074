/* switches.c - wall mode's perf events: a context-switch event per thread, its thread's cpu-clock written into the same ring. */
#include "config.h"

#include <errno.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "profiler/native/native.h"
#include "profiler/native/perf-int.h"

/* The thread's cpu-clock event, written into the ring of its
 * context-switch event (so that its samples come in time order with the
 * switches), replacing the one it had.  0 or -1. */
int prof_perf_open_clock(struct prof_perf *p, struct ring *r, uint64_t period)
{
	struct perf_event_attr a = p->attr;
	uint64_t id = 0;
	long fd;

	a.sample_period = period;
	fd = prof_perf_event_open(&a, r->tid);
	if (fd < 0)
		return -1;
	if (ioctl((int)fd, PERF_EVENT_IOC_SET_OUTPUT, r->fd) != 0 ||
	    ioctl((int)fd, PERF_EVENT_IOC_ID, &id) != 0 || !id) {
		close((int)fd);
		return -1;
	}
	if (r->clock_fd >= 0)
		close(r->clock_fd);
	r->clock_fd = (int)fd;
	r->id = id;
	r->clock_period = period;
	return 0;
}

/* The context-switch event: a sample (registers and user stack, as
 * task_pt_regs left them) at each switch-out, and PERF_RECORD_SWITCH
 * records at each switch out and in, with the time and thread. */
int prof_perf_setup_switches(struct prof_perf *p, char *err, size_t errlen)
{
	struct perf_event_attr *a = &p->sw_attr;
	long fd;

	*a = p->attr;
	a->type = PERF_TYPE_SOFTWARE;
	a->config = PERF_COUNT_SW_CONTEXT_SWITCHES;
	a->freq = 0;
	a->sample_period = 1;
	a->sample_stack_user = PROF_NATIVE_SWITCH_STACK;
	/* The switch happens in the kernel: an event that excludes it never
	 * fires.  Its kernel frames (schedule and below) are not asked for. */
	a->exclude_kernel = 0;
	a->exclude_callchain_kernel = 1;
	a->context_switch = 1;
	a->sample_id_all = 1;
	/* It owns the thread's ring: it tells of new threads and exits. */
	a->task = 1;
	p->attr.task = 0;
	a->inherit = 0;
	a->disabled = 1;
	fd = prof_perf_event_open(a, p->pid);
	a->disabled = 0;
	if (fd >= 0) {
		close((int)fd);
		return 0;
	}
	if (errno == EACCES || errno == EPERM) {
		FILE *f = fopen("/proc/sys/kernel/perf_event_paranoid", "re");
		int level = 99, e = errno;

		if (f) {
			if (fscanf(f, "%d", &level) != 1)
				level = 99;
			fclose(f);
		}
		snprintf(err, errlen, "context-switch events not permitted: %s "
			 "(kernel.perf_event_paranoid = %d)", strerror(e), level);
	} else {
		snprintf(err, errlen, "context-switch events: %s", strerror(errno));
	}
	return -1;
}

/* Wall mode's events: cpu-clock at hz and a context-switch event per
 * thread (never inherited: a thread's switch out and back in must reach
 * the same ring, in order, and inherited events write per CPU).  Each
 * read then also gives the reader, per thread and in time order, its
 * switch-out samples (PROF_PERF_OFF), its switch records, its exit, and
 * at the end of its ring PROF_PERF_DRAINED with the time the ring was
 * read up to: a switch-out sample's stack points into the ring, valid
 * until then. */
struct prof_perf *prof_perf_open_switches(pid_t pid, double hz, char *err, size_t errlen)
{
	return prof_perf_new(pid, 0, hz, 1, err, errlen);
}

/* tid's cpu-clock samples from now on every period ns of its CPU time
 * (a period of its own: see offcpu.c); 0 or -1. */
int prof_perf_clock(struct prof_perf *p, pid_t tid, uint64_t period)
{
	struct ring *r = prof_perf_ring(p, tid);

	if (!p->switches || !r || r->exited)
		return -1;
	return r->clock_period == period ? 0 : prof_perf_open_clock(p, r, period);
}

/* Threads whose events were opened since the last call (at most max). */
size_t prof_perf_fresh(struct prof_perf *p, pid_t *tids, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < p->n && n < max; i++)
		if (p->r[i].fresh && p->r[i].tid > 0) {
			p->r[i].fresh = 0;
			tids[n++] = p->r[i].tid;
		}
	return n;
}
