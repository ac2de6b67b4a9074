/* perf.c - on-CPU samples with perf_event_open: one event per thread, user registers and a copy of the user stack. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <asm/perf_regs.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "profiler/native/native.h"
#include "profiler/native/perf-int.h"

/* A sample carries a copy of the user stack, at first of
 * PROF_NATIVE_STACK_MAX bytes.  Once the first samples are unwound it is
 * cut to twice what their unwinds read (at least COPY_MIN), and a later
 * unwind that reads beyond a cut copy gets the whole one back, once: the
 * kernel copies, and the ring holds, the whole copy at every sample, so a
 * shallow stack's 16 KB copy, mostly never read, set the rings' size (8
 * MB at 1 kHz, 2 ms of CPU to map) or how often they are drained.
 *
 * Rings hold twice DRAIN_MAX_NS of a thread's samples (the first two
 * rings, at most 8 MB), half that up to RING_FIRST rings, an eighth
 * beyond; before the copy is cut, FIRST_RING_NS.  The reader drains them
 * about two and a half times per filling of the smallest ring, so a
 * reader held up by a loaded machine loses nothing, and at least every
 * DRAIN_MAX_NS: each drain is a wake-up and a reload of cold caches, some
 * 50 us, so they are few; every DRAIN_DEEP_NS while stacks deeper than
 * their copy are seen (a sample taken before its outer frames are watched
 * ends in a marker, and watchpoints are put in place at drains).  In the
 * first second, and while a watchpoint reports a deep stack changing,
 * every DRAIN_CHURN_NS: a sample whose outer frames changed before its
 * drain ends in a marker (unwind.c). */
#define RING_PAGES_BIG 2048
#define RING_BIG 2
#define RING_FIRST 16
#define FIRST_RING_NS (20 * 1000000LL)
#define COPY_MIN 4096
#define DRAIN_MAX_NS (400 * 1000000LL)
#define DRAIN_DEEP_NS (200 * 1000000LL)
#define DRAIN_CHURN_NS (50 * 1000000LL)
#define FIRST_DRAINS_NS (30 * 1000000LL)
#define FIRST_DRAIN_NS (2 * 1000000LL)

/* perf's register numbers for the libunwind order RAX..R15, RIP. */
static const int perf_reg_of[PROF_NREGS] = {
	PERF_REG_X86_AX, PERF_REG_X86_DX, PERF_REG_X86_CX, PERF_REG_X86_BX,
	PERF_REG_X86_SI, PERF_REG_X86_DI, PERF_REG_X86_BP, PERF_REG_X86_SP,
	PERF_REG_X86_R8, PERF_REG_X86_R9, PERF_REG_X86_R10, PERF_REG_X86_R11,
	PERF_REG_X86_R12, PERF_REG_X86_R13, PERF_REG_X86_R14, PERF_REG_X86_R15,
	PERF_REG_X86_IP,
};

int64_t prof_perf_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Descriptors left for the store, /proc and the libraries: a target
 * with more threads than the limit allows goes without events for the
 * rest of them, rather than sonda without a store. */
#define FD_SPARE 64
static long fd_cap = LONG_MAX;

static long perf_open_on(struct perf_event_attr *a, pid_t tid, int cpu)
{
	long fd = syscall(SYS_perf_event_open, a, tid, cpu, -1, PERF_FLAG_FD_CLOEXEC);

	if (fd >= fd_cap) {
		close((int)fd);
		errno = EMFILE;
		return -1;
	}
	return fd;
}

long prof_perf_event_open(struct perf_event_attr *a, pid_t tid)
{
	return perf_open_on(a, tid, -1);
}

static uint64_t regs_mask(void)
{
	uint64_t m = 0;

	for (int i = 0; i < PROF_NREGS; i++)
		m |= 1ull << perf_reg_of[i];
	return m;
}

static void fill_attr(struct perf_event_attr *a, uint32_t type, uint64_t config, double hz,
		      int inherit, int kernel)
{
	memset(a, 0, sizeof(*a));
	a->size = sizeof(*a);
	a->type = type;
	a->config = config;
	if (type == PERF_TYPE_SOFTWARE) {
		/* cpu-clock counts nanoseconds: a period is exact, no frequency guessing. */
		a->sample_period = (uint64_t)(1e9 / hz);
	} else {
		a->freq = 1;
		a->sample_freq = (uint64_t)hz;
	}
	/* The identifier first: a thread's watchpoint (prof_perf_watch)
	 * writes into the same ring. */
	a->sample_type = PERF_SAMPLE_IDENTIFIER | PERF_SAMPLE_TID | PERF_SAMPLE_TIME |
			 PERF_SAMPLE_REGS_USER | PERF_SAMPLE_STACK_USER;
	if (kernel) {
		/* The kernel's own frames; the user part is unwound from the copy. */
		a->sample_type |= PERF_SAMPLE_CALLCHAIN;
		a->exclude_callchain_user = 1;
	}
	a->sample_regs_user = regs_mask();
	a->sample_stack_user = PROF_NATIVE_STACK_MAX;
	a->exclude_kernel = !kernel;
	a->exclude_hv = 1;
	a->inherit = inherit;
	/* FORK and EXIT records: a new thread gets its event at the next
	 * read, without listing /proc/PID/task at every tick. */
	a->task = !inherit;
	a->disabled = 0;
	/* Times on the sampler's clock, so a sample read late keeps its time. */
	a->use_clockid = 1;
	a->clockid = CLOCK_MONOTONIC;
	/* Nobody polls: a wake-up per sample would only cost the target an
	 * interrupt.  Wake (never, in practice) at half the smallest ring. */
	a->watermark = 1;
	a->wakeup_watermark = RING_PAGES_MORE * 4096 / 2;
}

/* Hardware cycles when the machine has them, else the cpu-clock timer;
 * kernel time counted when the kernel lets us. */
static int choose_event(struct prof_perf *p, double hz, char *err, size_t errlen)
{
	static const struct { uint32_t type; uint64_t config; int kernel; const char *name; } try[] = {
		{PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES, 1, "cycles"},
		{PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES, 0, "cycles:u"},
		{PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK, 1, "cpu-clock"},
		{PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK, 0, "cpu-clock:u"},
	};
	int last = 0;

	for (size_t i = 0; i < sizeof(try) / sizeof(try[0]); i++) {
		long fd;

		/* Wall time wants a timer: cycles do not tick while waiting. */
		if (p->switches && try[i].type != PERF_TYPE_SOFTWARE)
			continue;
		fill_attr(&p->attr, try[i].type, try[i].config, hz, p->inherit, try[i].kernel);
		p->attr.disabled = 1;
		fd = prof_perf_event_open(&p->attr, p->pid);
		p->attr.disabled = 0;
		if (fd >= 0) {
			close((int)fd);
			p->event = try[i].name;
			return 0;
		}
		last = errno;
		if (last == ESRCH)
			break;
	}
	if (last == ESRCH)
		snprintf(err, errlen, "no such process %d", (int)p->pid);
	else if (last == EACCES || last == EPERM)
		snprintf(err, errlen, "perf events not permitted (%s; see /proc/sys/kernel/perf_event_paranoid)",
			 strerror(last));
	else
		snprintf(err, errlen, "perf_event_open: %s", strerror(last));
	return -1;
}

/* cpu >= 0: an inherited event of the whole process on one CPU (the
 * kernel cannot mmap an inherited per-thread event); tid is then -1 - cpu
 * in the ring table. */
static size_t rec_bytes(const struct prof_perf *p)
{
	return p->copy + 8 * (PROF_NATIVE_MAX_FRAMES / 4) + 256;
}

/* Data pages (a power of two) of the ring of the n-th thread. */
static size_t ring_pages(const struct prof_perf *p, size_t n)
{
	double ns = p->settled ? 2.0 * DRAIN_MAX_NS : FIRST_RING_NS;
	double bytes = (double)rec_bytes(p) * p->hz * ns / 1e9;
	size_t pages = 16;	/* a few samples of the whole copy */

	/* Switch-out samples come at the target's pace, not the rate's. */
	if (p->switches)
		bytes = (double)RING_PAGES_BIG * (double)p->page;

	if (n >= RING_FIRST)
		bytes /= 8;
	else if (n >= RING_BIG)
		bytes /= 2;
	while (pages < RING_PAGES_BIG && (double)(pages * p->page) < bytes)
		pages *= 2;
	return pages;
}

/* Maps fd's ring, smaller when locked memory is short
 * (perf_event_mlock_kb for a user without CAP_IPC_LOCK): the drains come
 * sooner.  NULL on failure. */
static void *map_ring(struct prof_perf *p, int fd, size_t *pages)
{
	for (;;) {
		void *base = mmap(NULL, (*pages + 1) * p->page, PROT_READ | PROT_WRITE, MAP_SHARED,
				  fd, 0);

		if (base != MAP_FAILED)
			return base;
		if ((errno != EPERM && errno != ENOMEM) || *pages <= 8)
			return NULL;
		*pages /= 2;
	}
}

static int open_ring(struct prof_perf *p, pid_t tid, int cpu)
{
	long fd;
	void *base;
	size_t pages = ring_pages(p, p->n);

	if (p->n == p->cap) {
		size_t nc = p->cap ? 2 * p->cap : 16;
		struct ring *r = realloc(p->r, nc * sizeof(*r));

		if (!r)
			return -1;
		p->r = r;
		p->cap = nc;
	}
	fd = cpu >= 0 ? perf_open_on(&p->attr, tid, cpu) :
	     prof_perf_event_open(p->switches ? &p->sw_attr : &p->attr, tid);
	if (fd < 0)
		return -1;
	if (!(base = map_ring(p, (int)fd, &pages))) {
		close((int)fd);
		return -1;
	}
	p->r[p->n++] = (struct ring){.tid = cpu >= 0 ? -1 - cpu : tid, .fd = (int)fd, .base = base,
				     .pages = pages, .seen = 1, .clock_fd = -1, .fresh = 1};
	for (int i = 0; i < PROF_WATCH_MAX; i++)
		p->r[p->n - 1].w[i].fd = -1;
	if (ioctl((int)fd, PERF_EVENT_IOC_ID, &p->r[p->n - 1].id) != 0)
		p->r[p->n - 1].id = 0;
	if (p->switches) {
		/* Without its clock the thread is seen off CPU only. */
		p->r[p->n - 1].sw_id = p->r[p->n - 1].id;
		p->r[p->n - 1].id = 0;
		prof_perf_open_clock(p, &p->r[p->n - 1], p->attr.sample_period);
	}
	return 0;
}

static void close_ring(struct prof_perf *p, struct ring *r)
{
	prof_perf_unwatch(r);
	if (r->clock_fd >= 0)
		close(r->clock_fd);
	munmap(r->base, (r->pages + 1) * p->page);
	close(r->fd);
}

struct ring *prof_perf_ring(struct prof_perf *p, pid_t tid)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->r[i].tid == tid)
			return &p->r[i];
	return NULL;
}

/* New threads get an event; events of threads that are gone are closed
 * once their last samples were read. */
int prof_perf_scan(struct prof_perf *p)
{
	char path[64];
	struct dirent *e;
	DIR *d;

	if (p->inherit)
		return kill(p->pid, 0) == 0 || errno != ESRCH ? 0 : -ESRCH;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)p->pid);
	d = opendir(path);
	if (!d)
		return errno == ENOENT || errno == ESRCH ? -ESRCH : 0;	/* EMFILE is not the end */
	for (size_t i = 0; i < p->n; i++)
		p->r[i].seen = 0;
	p->no_fd = 0;
	while ((e = readdir(d))) {
		char *end;
		long tid = strtol(e->d_name, &end, 10);
		struct ring *r;

		if (*end || tid <= 0)
			continue;
		r = prof_perf_ring(p, (pid_t)tid);
		if (r)
			r->seen = 1;
		else if (open_ring(p, (pid_t)tid, -1) != 0 && errno == EMFILE)
			p->no_fd++;
	}
	closedir(d);
	return 0;
}

/* -EMFILE, once for each rise, while threads go without events for want
 * of descriptors (err says how many), else 0. */
int prof_perf_short(struct prof_perf *p, char *err, size_t errlen)
{
	struct rlimit rl;

	if (p->no_fd <= p->no_fd_said)
		return 0;
	p->no_fd_said = p->no_fd;
	getrlimit(RLIMIT_NOFILE, &rl);
	snprintf(err, errlen, "%zu threads not sampled: out of file descriptors (ulimit -n %llu)",
		 p->no_fd, (unsigned long long)rl.rlim_cur);
	return -EMFILE;
}

/* A thread takes a descriptor for its ring and up to PROF_WATCH_MAX for
 * its watchpoints (and two in wall mode): a thousand threads pass the
 * usual soft limit of 1024 long before the hard one. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < LONG_MAX)
		fd_cap = rl.rlim_cur > 2 * FD_SPARE ? (long)rl.rlim_cur - FD_SPARE : (long)rl.rlim_cur / 2;
}

struct prof_perf *prof_perf_new(pid_t pid, int inherit, double hz, int switches, char *err,
				  size_t errlen)
{
	struct prof_perf *p = calloc(1, sizeof(*p));

	raise_fd_limit();
	if (!p) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	p->pid = pid;
	p->inherit = inherit;
	p->switches = switches;
	p->hz = hz > 0 ? hz : 100;
	for (int i = 0; i < PROF_NREGS; i++)
		p->slot_of[i] = __builtin_popcountll(regs_mask() & ((1ull << perf_reg_of[i]) - 1));
	p->page = (size_t)sysconf(_SC_PAGESIZE);
	p->scanned_ns = p->opened_ns = prof_perf_now();
	p->rec = malloc(65536);
	p->copy = PROF_NATIVE_STACK_MAX;
	/* Inherited events cannot be opened again for every thread; wall
	 * mode's engine does not say how deep its unwinds read. */
	p->settled = inherit || switches;
	if (!p->rec || choose_event(p, hz > 0 ? hz : 100, err, errlen) != 0 ||
	    (switches && prof_perf_setup_switches(p, err, errlen) != 0))
		goto out_free;
	/* Inherited: one event per CPU follows every thread the process has
	 * and creates, so no rescan is needed later. */
	if (inherit) {
		long ncpu = sysconf(_SC_NPROCESSORS_CONF);

		for (int cpu = 0; cpu < ncpu && cpu < 4096; cpu++)
			open_ring(p, pid, cpu);
	} else {
		prof_perf_scan(p);
	}
	if (p->n == 0) {
		snprintf(err, errlen, "perf_event_open on %d: %s", (int)pid, strerror(errno));
		goto out_free;
	}
	return p;

out_free:
	free(p->rec);
	free(p);
	return NULL;
}

struct prof_perf *prof_perf_open(pid_t pid, int inherit, double hz, char *err, size_t errlen)
{
	return prof_perf_new(pid, inherit, hz, 0, err, errlen);
}

int64_t prof_perf_drain_ns(const struct prof_perf *p)
{
	size_t pages = RING_PAGES_BIG;
	double rec = (double)rec_bytes(p);
	double fill_ns;
	int64_t d, now = prof_perf_now();
	int deep;

	for (size_t i = 0; i < p->n; i++)
		if (p->r[i].pages < pages)
			pages = p->r[i].pages;
	fill_ns = (double)pages * (double)p->page / rec / p->hz * 1e9;
	d = (int64_t)(fill_ns / 2.5);
	/* The first drains come soon after the start, until one has samples:
	 * a deep stack's outer frames are only known right for samples taken
	 * once a watchpoint guards them, and it is put in place at a drain.
	 * Only deep stacks (their unwinds ask about watchpoints) get the
	 * quicker drains of the first second: each is a wake-up, some 50 us. */
	deep = p->deep_ns && now - p->deep_ns < 1000000000;
	if (now - p->opened_ns < FIRST_DRAINS_NS && !p->read)
		return FIRST_DRAIN_NS;
	if (deep && ((p->watch_hit_ns && now - p->watch_hit_ns < 1000000000) ||
		     now - p->opened_ns < 1000000000) && d > DRAIN_CHURN_NS)
		d = DRAIN_CHURN_NS;
	/* Switch-out samples come as fast as the target switches. */
	if (p->switches && p->fill_rate > 0) {
		int64_t f = (int64_t)((double)pages * (double)p->page / p->fill_rate / 2.5);

		if (f < d)
			d = f > FIRST_DRAIN_NS ? f : FIRST_DRAIN_NS;
	}
	if (deep && d > DRAIN_DEEP_NS)
		d = DRAIN_DEEP_NS;
	return d < DRAIN_MAX_NS ? d : DRAIN_MAX_NS;
}

/* An unwind read depth bytes above SP, in the copy or beyond it. */
void prof_perf_reach(struct prof_perf *p, size_t depth)
{
	if (depth > p->reach)
		p->reach = depth;
}

/* The unwinds read about depth bytes of their stack copies. */
void prof_perf_hint(struct prof_perf *p, size_t depth)
{
	size_t d = depth < 2048 ? depth : 2048;

	p->prefetch = (3 * p->prefetch + d) / 4;	/* one odd stack does not change it */
}

const char *prof_perf_event(const struct prof_perf *p)
{
	return p->event;
}

int prof_perf_kernel(const struct prof_perf *p)
{
	return (p->attr.sample_type & PERF_SAMPLE_CALLCHAIN) != 0;
}

uint64_t prof_perf_lost(const struct prof_perf *p)
{
	return p->lost;
}

void prof_perf_close(struct prof_perf *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++)
		close_ring(p, &p->r[i]);
	free(p->r);
	free(p->rec);
	free(p);
}

/* Layout fixed by sample_type: pid, tid, time, abi, regs[17], size, data[size], dyn_size. */
static int parse_sample(struct prof_perf *p, const uint8_t *rec, size_t len,
			struct prof_perf_sample *s)
{
	const uint8_t *q = rec + sizeof(struct perf_event_header) + 8, *end = rec + len;
	uint64_t abi, size, dyn;
	uint32_t pt[2];

	if (end - q < 8 + 8)
		return -1;
	memcpy(pt, q, 8);
	s->pid = (pid_t)pt[0];
	s->tid = (pid_t)pt[1];
	memcpy(&s->time, q + 8, 8);
	q += 16;
	s->nkips = 0;
	if (p->attr.sample_type & PERF_SAMPLE_CALLCHAIN) {
		uint64_t nr, ip;

		if (end - q < 8)
			return -1;
		memcpy(&nr, q, 8);
		q += 8;
		if (nr > (uint64_t)(end - q) / 8)
			return -1;
		for (uint64_t i = 0; i < nr; i++) {
			memcpy(&ip, q + 8 * i, 8);
			/* PERF_CONTEXT_* markers sit at the top of the address space. */
			if (ip < (uint64_t)-4095 && s->nkips < PROF_KERNEL_MAX_FRAMES)
				s->kips[s->nkips++] = ip;
		}
		q += 8 * nr;
	}
	if (end - q < 8)
		return -1;
	memcpy(&abi, q, 8);
	q += 8;
	if (abi == PERF_SAMPLE_REGS_ABI_NONE)
		return -1;	/* a kernel thread, or no user context */
	if ((size_t)(end - q) < PROF_NREGS * 8 + 8)
		return -1;
	/* Registers come in increasing perf register number order: the
	 * k-th value is the k-th set bit of the mask. */
	for (int i = 0; i < PROF_NREGS; i++)
		memcpy(&s->regs.r[i], q + 8 * p->slot_of[i], 8);
	q += 8 * PROF_NREGS;
	memcpy(&size, q, 8);
	q += 8;
	if (size > (size_t)(end - q))
		return -1;
	s->stack = q;
	s->stack_len = size;
	if (size) {
		if ((size_t)(end - q) < size + 8)
			return -1;
		memcpy(&dyn, q + size, 8);
		if (dyn < size)
			s->stack_len = dyn;
	}
	return 0;
}

static void note_task(struct prof_perf *p, int fork, pid_t tid)
{
	struct ring *r = prof_perf_ring(p, tid);

	if (!fork) {
		if (r)
			r->exited = 1;
	} else if (!r && p->nborn < sizeof(p->born) / sizeof(p->born[0])) {
		p->born[p->nborn++] = tid;
	} else if (!r) {
		p->scanned_ns = 0;	/* too many at once: list them all */
	}
}

/* len bytes at ring position at (size: a power of two, as the kernel's). */
static void ring_copy(const uint8_t *data, uint64_t size, uint64_t at, void *dst, size_t len)
{
	uint64_t off = at & (size - 1);

	if (off + len <= size) {
		memcpy(dst, data + off, len);
	} else {
		memcpy(dst, data + off, size - off);
		memcpy((uint8_t *)dst + (size - off), data, len - (size - off));
	}
}

/* A record without a stack (prof_perf_open_switches). */
static void switch_record(struct prof_perf *p, int kind, pid_t tid, uint64_t time, int preempt,
			  prof_perf_cb cb, void *ctx)
{
	struct prof_perf_sample s;

	s.pid = p->pid;
	s.tid = tid;
	s.time = time;
	s.kind = kind;
	s.preempt = preempt;
	s.watch_hit = 0;
	s.nkips = 0;
	s.stack = NULL;
	s.stack_len = 0;
	cb(ctx, &s);
}

static int drain_ring(struct prof_perf *p, struct ring *r, prof_perf_cb cb, void *ctx)
{
	struct perf_event_mmap_page *meta = r->base;
	const uint8_t *data = (const uint8_t *)r->base + p->page;
	uint64_t size = r->pages * p->page;
	/* The time first: a record of an earlier time is in by the head read. */
	int64_t head_ns = p->switches ? prof_perf_now() : 0;
	uint64_t head = __atomic_load_n(&meta->data_head, __ATOMIC_ACQUIRE);
	uint64_t tail = meta->data_tail, start = tail;
	int n = 0;

	while (tail < head) {
		struct perf_event_header h;
		uint64_t off = tail & (size - 1);
		const uint8_t *rec;
		struct prof_perf_sample s;

		if (head - tail < sizeof(h))
			break;
		ring_copy(data, size, tail, &h, sizeof(h));
		if (h.size < sizeof(h) || h.size > head - tail)
			break;
		/* The next record was written by the kernel on another CPU:
		 * its registers and the top of its stack copy are fetched
		 * while this one is unwound. */
		if (head - tail > h.size)
			for (size_t i = 0; i < 256 + p->prefetch; i += 64)
				__builtin_prefetch(data + ((off + h.size + i) & (size - 1)));
		/* Parsed in place unless it wraps: a sample is up to 64 KB. */
		if (off + h.size <= size) {
			rec = data + off;
		} else {
			memcpy(p->rec, data + off, size - off);
			memcpy(p->rec + (size - off), data, h.size - (size - off));
			rec = p->rec;
		}
		tail += h.size;
		if ((h.type == PERF_RECORD_FORK || h.type == PERF_RECORD_EXIT) &&
		    h.size >= sizeof(h) + 16) {
			uint32_t ids[4];	/* pid, ppid, tid, ptid */

			memcpy(ids, rec + sizeof(h), 16);
			if ((pid_t)ids[0] == p->pid && !p->inherit)
				note_task(p, h.type == PERF_RECORD_FORK, (pid_t)ids[2]);
			if (p->switches && h.type == PERF_RECORD_EXIT && (pid_t)ids[0] == p->pid)
				switch_record(p, PROF_PERF_EXIT, (pid_t)ids[2], 0, 0, cb, ctx);
		} else if (h.type == PERF_RECORD_SWITCH && p->switches && h.size >= sizeof(h) + 24) {
			uint32_t pt[2];	/* sample_id at the end: pid, tid, time, identifier */
			uint64_t t;

			memcpy(pt, rec + h.size - 24, 8);
			memcpy(&t, rec + h.size - 16, 8);
			switch_record(p, (h.misc & PERF_RECORD_MISC_SWITCH_OUT) ? PROF_PERF_SWITCH_OUT :
				      PROF_PERF_SWITCH_IN, (pid_t)pt[1], t,
				      (h.misc & PERF_RECORD_MISC_SWITCH_OUT_PREEMPT) != 0, cb, ctx);
		} else if (h.type == PERF_RECORD_LOST) {
			uint64_t lost[2];

			if (h.size >= sizeof(h) + 16) {
				memcpy(lost, rec + sizeof(h), 16);
				p->lost += lost[1];
			}
			if (p->switches)
				switch_record(p, PROF_PERF_LOST, r->tid, 0, 0, cb, ctx);
		} else if (h.type == PERF_RECORD_SAMPLE && h.size >= sizeof(h) + 8) {
			struct watch *w;
			uint64_t id;

			memcpy(&id, rec + sizeof(h), 8);
			/* A watchpoint's record: a current one's is news, an
			 * older one's (replaced since) is not. */
			if ((w = prof_perf_watch_by_id(r, id))) {
				memset(&s, 0, sizeof(s));
				s.pid = p->pid;
				s.tid = r->tid;
				s.watch_hit = 1;
				s.watch_addr = w->addr;
				w->seen++;
				p->watch_hit_ns = prof_perf_now();
				cb(ctx, &s);
			} else if (r->sw_id && id == r->sw_id) {
				if (parse_sample(p, rec, h.size, &s) == 0) {
					s.watch_hit = 0;
					s.kind = PROF_PERF_OFF;
					s.preempt = 0;
					cb(ctx, &s);
				}
			} else if (r->id && id != r->id) {
				continue;
			} else if (parse_sample(p, rec, h.size, &s) == 0 && s.pid == p->pid) {
				s.watch_hit = 0;
				s.kind = PROF_PERF_CPU;
				s.period = r->clock_period ? r->clock_period : p->attr.sample_period;
				cb(ctx, &s);
				n++;
			}
		}
	}
	if (p->switches) {
		if (tail - start > p->drained_max)
			p->drained_max = tail - start;
		/* Its switch-out samples' stacks are still in the ring. */
		switch_record(p, PROF_PERF_DRAINED, r->tid, (uint64_t)head_ns, 0, cb, ctx);
	}
	__atomic_store_n(&meta->data_tail, tail, __ATOMIC_RELEASE);
	return n;
}

/* Moves a thread's ring to a new event of the current attributes and a
 * ring sized for them: the old event stops, its ring is drained (its
 * samples come first), the thread's watchpoint is let go, and the new
 * event starts.  Returns the samples read; the old ring stays when the
 * new one cannot be had. */
static int reopen_ring(struct prof_perf *p, struct ring *r, prof_perf_cb cb, void *ctx)
{
	size_t pages = ring_pages(p, (size_t)(r - p->r));
	struct ring old = *r;
	uint64_t id = 0;
	void *base;
	long fd;
	int n;

	p->attr.disabled = 1;
	fd = prof_perf_event_open(&p->attr, r->tid);
	p->attr.disabled = 0;
	if (fd < 0)
		return 0;
	if (!(base = map_ring(p, (int)fd, &pages)) ||
	    ioctl((int)fd, PERF_EVENT_IOC_ID, &id) != 0) {
		if (base)
			munmap(base, (pages + 1) * p->page);
		close((int)fd);
		return 0;
	}
	ioctl(old.fd, PERF_EVENT_IOC_DISABLE, 0);
	n = drain_ring(p, r, cb, ctx);
	/* The watchpoint ends with the old ring, rather than being carried
	 * into the new one: with it carried over, wrong callers were seen
	 * (rarely, under load) and the move was the one step that changed
	 * where its records go.  The next deep sample arms another. */
	prof_perf_unwatch(r);
	ioctl((int)fd, PERF_EVENT_IOC_ENABLE, 0);
	munmap(old.base, (old.pages + 1) * p->page);
	close(old.fd);
	r->fd = (int)fd;
	r->base = base;
	r->pages = pages;
	r->id = id;
	return n;
}

/* Cuts the copy to the first samples' needs, or gives a cut one its
 * whole size back when an unwind read beyond it; then every thread's
 * ring moves to an event carrying that copy. */
static int resize_copy(struct prof_perf *p, prof_perf_cb cb, void *ctx)
{
	size_t copy = COPY_MIN;
	int n = 0;

	if (p->settled)
		copy = PROF_NATIVE_STACK_MAX;
	else
		while (copy < 2 * p->reach && copy < PROF_NATIVE_STACK_MAX)
			copy *= 2;
	p->settled = 1;
	if (copy == p->copy && p->r[0].pages >= ring_pages(p, 0))
		return 0;
	p->copy = copy;
	p->attr.sample_stack_user = (uint32_t)copy;
	for (size_t i = 0; i < p->n; i++)
		if (p->r[i].tid >= 0 && !p->r[i].exited)
			n += reopen_ring(p, &p->r[i], cb, ctx);
	return n;
}

/* Each read drains every ring, opens events for the threads announced
 * since, and lists /proc/PID/task once a second as a safety net. */
int prof_perf_read(struct prof_perf *p, prof_perf_cb cb, void *ctx)
{
	int n = 0, gone = 0;
	int64_t now = prof_perf_now();

	if (now - p->scanned_ns >= 1000000000) {
		p->scanned_ns = now;
		gone = prof_perf_scan(p) == -ESRCH;
	}
	p->drained_max = 0;
	for (size_t i = 0; i < p->n; i++)
		n += drain_ring(p, &p->r[i], cb, ctx);
	if (p->switches) {
		double rate = p->read_ns && now > p->read_ns ?
			      (double)p->drained_max / (double)(now - p->read_ns) : 0;

		/* Up at once, down slowly: a burst of switches comes again. */
		p->fill_rate = rate > p->fill_rate ? rate : 0.9 * p->fill_rate + 0.1 * rate;
		p->read_ns = now;
	}
	if (p->n && ((!p->settled && (n || now - p->opened_ns >= FIRST_DRAINS_NS)) ||
		     (p->copy < PROF_NATIVE_STACK_MAX && p->reach > p->copy)))
		n += resize_copy(p, cb, ctx);
	for (size_t i = 0; i < p->nborn; i++)
		if (!prof_perf_ring(p, p->born[i]))
			open_ring(p, p->born[i], -1);
	p->nborn = 0;
	if (n == 0 && !gone && now - p->checked_ns >= 100000000) {
		p->checked_ns = now;
		gone = !prof_nat_alive(p->pid);
	}
	for (size_t i = 0; i < p->n;) {
		if (!p->r[i].seen || p->r[i].exited || gone) {
			close_ring(p, &p->r[i]);
			p->r[i] = p->r[--p->n];
		} else {
			i++;
		}
	}
	p->read += (uint64_t)n;
	if (gone && n == 0)
		return -ESRCH;
	return n;
}

/* Whether perf events can sample pid (0: any process we own), and why. */
int prof_native_perf_permitted(pid_t pid, char *why, size_t len)
{
	struct perf_event_attr a;
	long fd;
	int e;

	fill_attr(&a, PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK, 100, 0, 0);
	a.disabled = 1;
	fd = prof_perf_event_open(&a, pid > 0 ? pid : getpid());
	if (fd >= 0) {
		close((int)fd);
		snprintf(why, len, "perf events permitted");
		return 1;
	}
	e = errno;
	{
		FILE *f = fopen("/proc/sys/kernel/perf_event_paranoid", "re");
		int level = 99;

		if (f) {
			if (fscanf(f, "%d", &level) != 1)
				level = 99;
			fclose(f);
		}
		snprintf(why, len, "perf events not permitted: %s (kernel.perf_event_paranoid = %d)",
			 strerror(e), level);
	}
	return 0;
}
