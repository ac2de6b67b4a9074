/* libsonda.c - the in-process tracer: tasks, spans, function hooks and their per-thread tables.
 *
 * Hot path rules: after a thread's first event, no lock, no system call,
 * no I/O, no allocation.  Each thread owns one slot of the shared region
 * and is its only writer; process-wide state is written only on slow paths
 * (thread start, span pool, modules, flush).  libsonda never exits, aborts
 * or changes what the host sees: anything it cannot do it counts.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <linux/perf_event.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <cpuid.h>
#include <x86intrin.h>

#include "store/store.h"
#include "tracer/region.h"
#include "tracer/sonda.h"
#include "tracer/internal.h"

#define DEPTH_MAX 256		/* open tasks per thread */
#define FDEPTH_MAX 1024		/* open instrumented functions per thread */
#define NAME_CACHE 64		/* pointer -> task cache, per thread */
#define TASK_HASH 1024		/* > 2 * SONDA_TASKS */
#define FUNC_HASH 8192		/* > 2 * SONDA_FUNCS */
#define EDGE_HASH 16384		/* > 2 * SONDA_EDGES */
#define SPAN_POOL 4096
#define NONE UINT32_MAX
#define PERF_DATA_SIZE 4096	/* one page of context-switch records */

#define barrier() __asm__ __volatile__("" ::: "memory")

struct task_frame {
	uint32_t task;
	int64_t t0, child, cpu0;
};

struct func_frame {
	uint32_t func, edge;
	int64_t t0, child;
};

/* Per-thread private state, mmap'd at the thread's first event (never in
 * TLS: a small thread stack would not hold it). */
struct tstate {
	struct sonda_slot *slot;
	struct sonda_task_entry *tasks;
	struct sonda_func_entry *funcs;
	struct sonda_edge_entry *edges;
	struct sonda_event *ring;
	uint32_t depth, fdepth;
	/* CPU time: a task-clock perf event whose page gives time_running up
	 * to the last context switch and whose ring gives that switch's time. */
	struct perf_event_mmap_page *pc;
	const unsigned char *pdata;
	int64_t cpu_open_ns;	/* monotonic time the event was opened */
	struct { const char *ptr; uint32_t idx; } ncache[NAME_CACHE];
	uint16_t thash[TASK_HASH];	/* task index + 1 */
	uint16_t fhash[FUNC_HASH];	/* function index + 1 */
	uint16_t ehash[EDGE_HASH];	/* edge index + 1 */
	uint32_t factive[SONDA_FUNCS];	/* open activations, for recursion */
	uint32_t last_caller[SONDA_FUNCS];	/* the edge a function was last called through */
	uint32_t last_edge[SONDA_FUNCS];
	uint32_t eactive[SONDA_EDGES];
	struct task_frame stack[DEPTH_MAX];
	struct func_frame fstack[FDEPTH_MAX];
};

struct sonda_span {
	_Atomic uint32_t state;	/* 1 while started */
	uint32_t next;		/* free list link: index + 1 */
	int64_t t0;
	char name[SONDA_NAME_MAX];
};

/* Process-wide state, written at init, fork and flush only. */
static struct {
	int active;		/* this copy of libsonda owns the process */
	int functions, timeline, cpu, tsc;
	unsigned char *base;	/* the region mapping */
	struct sonda_region_header *hdr;
	struct sonda_section *threads, *rings, *modules, *alloc;
	uint64_t tsc0;		/* TSC at start_mono_ns */
	uint64_t mult;		/* ns per tick << 32 */
	int64_t mono0;
	char region_path[SONDA_PATH_MAX];
	char output[2 * SONDA_PATH_MAX + 8];
	pthread_key_t key;
	int key_ok;
	int fd;			/* the region file, to reserve its pages; -1 when gone */
	int root;		/* the process sonda run started, or not under sonda run */
	pthread_mutex_t flush_lock;
	atomic_flag modules_lock;
} g = { .flush_lock = PTHREAD_MUTEX_INITIALIZER, .modules_lock = ATOMIC_FLAG_INIT, .fd = -1 };

/* Read by the function hooks before anything else: one predictable branch. */
static int functions_on;

static __thread struct tstate *tls TLS_IE;
static struct tstate dead_marker;	/* tls of a thread that must record nothing */
#define DEAD (&dead_marker)

static struct sonda_span span_pool[SPAN_POOL];
static _Atomic uint64_t span_free;	/* (generation << 32) | (index + 1) */
static uint32_t span_fresh;	/* spans below this index have been handed out */
static struct sonda_span span_dropped;	/* returned when the pool is empty */

/* ---- clocks ---- */

static int64_t mono_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static int64_t real_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void tsc_rate_get(void);

/* ns since start_mono_ns. */
static inline int64_t now_ns(void)
{
	if (likely(g.tsc)) {
		uint64_t d;

		if (unlikely(!__atomic_load_n(&g.mult, __ATOMIC_ACQUIRE)) && (tsc_rate_get(), !g.tsc))
			return mono_ns() - g.mono0;
		d = __rdtsc() - g.tsc0;
		return (int64_t)(((unsigned __int128)d * g.mult) >> 32);
	}
	return mono_ns() - g.mono0;
}

/* An invariant TSC (constant rate, runs in deep sleep states): CPUID,
 * not /proc/cpuinfo, whose read waits for every CPU's frequency. */
static int tsc_usable(void)
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

/* The TSC's rate against CLOCK_MONOTONIC over at least 2 ms since start
 * (the pair taken there), each end bracketed by two clock reads so the
 * error is a few tens of ns in 2 ms (about 1e-5).  Done at the first
 * timed event, not at start: a program that records no task never pays,
 * and one that starts its first task 2 ms in does not spin at all. */
static void tsc_rate_measure(void)
{
	int64_t b0, b1;
	uint64_t t1;

	do {
		b0 = mono_ns();
		t1 = __rdtsc();
		b1 = mono_ns();
	} while (b0 - g.mono0 < 2000000);
	if (t1 <= g.tsc0) {
		g.tsc = 0;
		return;
	}
	g.hdr->tsc_hz = (uint64_t)((double)(t1 - g.tsc0) * 1e9 / (double)((b0 + (b1 - b0) / 2) - g.mono0));
	__atomic_store_n(&g.mult,
			 (uint64_t)((((unsigned __int128)((b0 + (b1 - b0) / 2) - g.mono0)) << 32) / (t1 - g.tsc0)),
			 __ATOMIC_RELEASE);
}

static pthread_once_t tsc_once = PTHREAD_ONCE_INIT;

static __attribute__((noinline, cold)) void tsc_rate_get(void)
{
	pthread_once(&tsc_once, tsc_rate_measure);
}

/* The TSC at start_mono_ns; its rate comes later (tsc_rate_get). */
static void tsc_calibrate(void)
{
	int64_t a0, a1;

	a0 = mono_ns();
	g.tsc0 = __rdtsc();
	a1 = mono_ns();
	g.mono0 = a0 + (a1 - a0) / 2;
	g.mult = 0;
	tsc_once = (pthread_once_t)PTHREAD_ONCE_INIT;
}

/* ---- CPU time without a system call ---- */

static void cpu_open(struct tstate *ts)
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

static void cpu_close(struct tstate *ts)
{
	if (ts->pc)
		munmap(ts->pc, 4096 + PERF_DATA_SIZE);
	ts->pc = NULL;
}

struct switch_record {
	struct perf_event_header h;
	uint64_t time;
};

/* The thread's CPU time in ns at `now` (ns since start), or -1: the time
 * it ran up to its last switch, plus the time since it was switched in. */
static inline int64_t cpu_now(struct tstate *ts, int64_t now)
{
	const struct perf_event_mmap_page *pc = ts->pc;
	const struct switch_record *r;
	uint64_t running, head;
	int64_t since;
	uint32_t seq;
	int tries = 0;

	if (!pc)
		return -1;
	do {
		seq = pc->lock;
		barrier();
		running = pc->time_running;
		head = __atomic_load_n(&pc->data_head, __ATOMIC_ACQUIRE);
		if (head == 0) {
			since = ts->cpu_open_ns;
		} else {
			r = (const struct switch_record *)(ts->pdata + ((head - 16) & (PERF_DATA_SIZE - 1)));
			if (r->h.type != PERF_RECORD_SWITCH || r->h.size != 16)
				return -1;
			if (r->h.misc & PERF_RECORD_MISC_SWITCH_OUT)
				return (int64_t)running;
			since = (int64_t)r->time;
		}
		barrier();
	} while (pc->lock != seq && ++tries < 4);
	since = now + g.mono0 - since;
	return (int64_t)running + (since > 0 ? since : 0);
}

/* ---- names ---- */

static uint32_t hash_name(const char *s, uint32_t kind)
{
	uint32_t h = 2166136261u ^ kind;

	for (int i = 0; i < SONDA_NAME_MAX - 1 && s[i]; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

static int same_name(const struct sonda_task_entry *e, const char *s, uint32_t kind)
{
	return e->kind == kind && !strncmp(e->name, s, SONDA_NAME_MAX - 1);
}

static int region_reserve(uint64_t off, uint64_t len);

#define RESERVE_CHUNK 16	/* table entries given memory at a time */

/* Entry n of a table gets its memory with the 15 after it, when it is the
 * first of its chunk: a slow path, once per new name or function. */
static int entry_reserve(const void *table, size_t size, uint32_t n, uint32_t max)
{
	uint32_t k = max - n < RESERVE_CHUNK ? max - n : RESERVE_CHUNK;

	if (n % RESERVE_CHUNK)
		return 0;
	return region_reserve((uint64_t)((const unsigned char *)table - g.base) + (uint64_t)n * size,
			      (uint64_t)k * size);
}

static uint32_t task_add(struct tstate *ts, const char *name, uint32_t kind)
{
	struct sonda_slot *slot = ts->slot;
	uint32_t n = slot->ntasks;
	struct sonda_task_entry *e;
	size_t len;

	if (n >= g.hdr->slot_tasks || entry_reserve(ts->tasks, sizeof(*e), n, g.hdr->slot_tasks) < 0) {
		slot->tasks_dropped++;
		return NONE;
	}
	e = &ts->tasks[n];
	len = strnlen(name, SONDA_NAME_MAX);
	if (len >= SONDA_NAME_MAX) {
		slot->long_names++;
		len = SONDA_NAME_MAX - 1;
	}
	/* fault its pages in now, not inside the first measured interval */
	for (size_t off = 0; off < sizeof(*e); off += 2048)
		((volatile unsigned char *)e)[off] = 0;
	((volatile unsigned char *)e)[sizeof(*e) - 1] = 0;
	memcpy(e->name, name, len);
	e->name[len] = 0;
	e->kind = kind;
	e->min_ns = INT64_MAX;
	__atomic_store_n(&slot->ntasks, n + 1, __ATOMIC_RELEASE);
	return n;
}

/* Inline: a libc strncmp call costs more than the short names it compares. */
static inline int name_eq(const char *a, const char *b)
{
	for (int i = 0; i < SONDA_NAME_MAX - 1; i++) {
		if (a[i] != b[i])
			return 0;
		if (!a[i])
			return 1;
	}
	return 1;
}

static uint32_t task_find_slow(struct tstate *ts, const char *name, uint32_t kind, uint32_t c);

/* The task entry for (name, kind) on this thread, NONE when the table is
 * full.  A name pointer seen before costs one content compare: the same
 * buffer may hold another name next time. */
static inline uint32_t task_find(struct tstate *ts, const char *name, uint32_t kind)
{
	uint32_t c, idx;

	if (unlikely(!name || !*name)) {
		ts->slot->bad_names++;
		name = "?";
	}
	c = (uint32_t)(((uintptr_t)name >> 3) ^ kind) & (NAME_CACHE - 1);
	idx = ts->ncache[c].idx;
	if (likely(ts->ncache[c].ptr == name && idx != NONE) && ts->tasks[idx].kind == kind &&
	    name_eq(ts->tasks[idx].name, name))
		return idx;
	return task_find_slow(ts, name, kind, c);
}

__attribute__((noinline)) static uint32_t task_find_slow(struct tstate *ts, const char *name, uint32_t kind,
							 uint32_t c)
{
	uint32_t h, i, idx;

	h = hash_name(name, kind);
	for (i = h & (TASK_HASH - 1);; i = (i + 1) & (TASK_HASH - 1)) {
		uint32_t v = ts->thash[i];

		if (!v) {
			idx = task_add(ts, name, kind);
			if (idx == NONE)
				return NONE;
			ts->thash[i] = (uint16_t)(idx + 1);
			break;
		}
		if (same_name(&ts->tasks[v - 1], name, kind)) {
			idx = v - 1;
			break;
		}
	}
	ts->ncache[c].ptr = name;
	ts->ncache[c].idx = idx;
	return idx;
}

/* ---- thread slots ---- */

static void thread_exit(void *arg)
{
	struct tstate *ts = arg;

	if (!ts || ts == DEAD)
		return;
	ts->slot->open_at_exit += ts->depth;
	__atomic_store_n(&ts->slot->state, 2, __ATOMIC_RELEASE);
	cpu_close(ts);
	tls = DEAD;
	munmap(ts, sizeof(*ts));
}

/* Gives pages of the region their memory now, on a slow path (a thread's
 * start, a new name or function): a write to a hole of a full tmpfs (a
 * container's small /dev/shm) would be SIGBUS on the hot path.  -1 only
 * when there is no room. */
static int region_reserve(uint64_t off, uint64_t len)
{
	if (g.fd < 0)
		return 0;
	return posix_fallocate(g.fd, (off_t)off, (off_t)len) == ENOSPC ? -1 : 0;
}

static struct tstate *thread_start(void)
{
	struct sonda_section *sec = g.threads;
	unsigned char *slotp;
	struct tstate *ts;
	uint32_t i;

	if (!g.active)
		return NULL;	/* not yet (or never) initialized: decide later */
	i = __atomic_fetch_add(&sec->used, 1, __ATOMIC_ACQ_REL);
	if (i >= sec->count) {
		__atomic_store_n(&sec->used, sec->count, __ATOMIC_RELAXED);
		__atomic_fetch_add(&g.hdr->threads_dropped, 1, __ATOMIC_RELAXED);
		tls = DEAD;
		return NULL;
	}
	ts = mmap(NULL, sizeof(*ts), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ts == MAP_FAILED) {
		__atomic_fetch_add(&g.hdr->threads_dropped, 1, __ATOMIC_RELAXED);
		tls = DEAD;
		return NULL;
	}
	if (region_reserve(sec->offset + (uint64_t)i * sec->entry_size, g.hdr->slot_tasks_off) < 0 ||
	    (g.rings && region_reserve(g.rings->offset + (uint64_t)i * g.rings->entry_size,
				       g.rings->entry_size) < 0)) {
		munmap(ts, sizeof(*ts));
		__atomic_fetch_add(&g.hdr->threads_dropped, 1, __ATOMIC_RELAXED);
		tls = DEAD;
		return NULL;
	}
	slotp = g.base + sec->offset + (uint64_t)i * sec->entry_size;
	ts->slot = (struct sonda_slot *)slotp;
	ts->tasks = (struct sonda_task_entry *)(slotp + g.hdr->slot_tasks_off);
	ts->funcs = (struct sonda_func_entry *)(slotp + g.hdr->slot_funcs_off);
	ts->edges = (struct sonda_edge_entry *)(slotp + g.hdr->slot_edges_off);
	if (g.rings)
		ts->ring = (struct sonda_event *)(g.base + g.rings->offset + (uint64_t)i * g.rings->entry_size);
	for (i = 0; i < NAME_CACHE; i++)
		ts->ncache[i].idx = NONE;
	ts->slot->tid = syscall(SYS_gettid);
	if (prctl(PR_GET_NAME, ts->slot->name) != 0)
		ts->slot->name[0] = 0;
	ts->slot->name[SONDA_THREAD_NAME_MAX - 1] = 0;
	if (g.cpu)
		cpu_open(ts);
	__atomic_store_n(&ts->slot->state, 1, __ATOMIC_RELEASE);
	if (g.key_ok)
		pthread_setspecific(g.key, ts);
	tls = ts;
	return ts;
}

static inline struct tstate *thread_get(void)
{
	struct tstate *ts = tls;

	if (likely(ts != NULL))
		return ts != DEAD ? ts : NULL;
	return thread_start();
}

/* ---- tasks ---- */

static inline void ring_put(struct tstate *ts, int64_t start, int64_t dur, uint32_t task, uint32_t depth)
{
	struct sonda_slot *slot = ts->slot;
	uint64_t n = slot->ring_written;
	struct sonda_event *ev = &ts->ring[n & (g.hdr->ring_events - 1)];

	ev->start_ns = start;
	ev->dur_ns = dur;
	ev->task = task;
	ev->depth = depth;
	__atomic_store_n(&slot->ring_written, n + 1, __ATOMIC_RELEASE);
}

static inline void task_account(struct tstate *ts, uint32_t task, int64_t wall, int64_t self, int64_t cpu)
{
	struct sonda_task_entry *e = &ts->tasks[task];

	__atomic_store_n(&e->seq, e->seq + 1, __ATOMIC_RELAXED);
	barrier();
	e->calls++;
	e->wall_ns += wall;
	e->self_ns += self;
	e->cpu_ns += cpu;
	if (wall < e->min_ns)
		e->min_ns = wall;
	if (wall > e->max_ns)
		e->max_ns = wall;
	e->hist[sonda_hist_bucket(wall)]++;
	barrier();
	__atomic_store_n(&e->seq, e->seq + 1, __ATOMIC_RELEASE);
	ts->slot->events++;
}

void sonda_task_begin(const char *name)
{
	struct tstate *ts = thread_get();
	struct task_frame *f;
	uint32_t d;

	if (unlikely(!ts))
		return;
	d = ts->depth++;
	if (unlikely(d >= DEPTH_MAX)) {
		ts->slot->depth_dropped++;
		return;
	}
	f = &ts->stack[d];
	f->task = task_find(ts, name, STORE_TASK_TASK);
	f->child = 0;
	f->t0 = now_ns();
	f->cpu0 = g.cpu ? cpu_now(ts, f->t0) : 0;
}

void sonda_task_end(void)
{
	struct tstate *ts = thread_get();
	struct task_frame *f;
	int64_t now, wall, cpu = 0;
	uint32_t d;

	if (unlikely(!ts))
		return;
	now = now_ns();
	if (unlikely(ts->depth == 0)) {
		ts->slot->unbalanced++;
		return;
	}
	d = --ts->depth;
	if (unlikely(d >= DEPTH_MAX))
		return;
	f = &ts->stack[d];
	wall = now - f->t0;
	if (d > 0)
		ts->stack[d - 1].child += wall;
	if (unlikely(f->task == NONE))
		return;
	if (g.cpu) {
		int64_t c1 = cpu_now(ts, now);

		if (c1 >= 0 && f->cpu0 >= 0) {
			cpu = c1 - f->cpu0;
			cpu = cpu < 0 ? 0 : cpu > wall ? wall : cpu;
		} else {
			ts->slot->cpu_unknown++;
		}
	}
	task_account(ts, f->task, wall, wall - f->child, cpu);
	if (ts->ring)
		ring_put(ts, f->t0, wall, f->task, d);
}

void sonda_mark(const char *name)
{
	struct tstate *ts = thread_get();
	uint32_t task;
	int64_t now;

	if (!ts)
		return;
	task = task_find(ts, name, STORE_TASK_TASK);
	if (task == NONE)
		return;
	now = now_ns();
	task_account(ts, task, 0, 0, 0);
	if (ts->ring)
		ring_put(ts, now, 0, task, ts->depth < DEPTH_MAX ? ts->depth : DEPTH_MAX);
}

void sonda_thread_name(const char *name)
{
	struct tstate *ts = thread_get();
	char buf[SONDA_THREAD_NAME_MAX];

	if (!ts || !name)
		return;
	strncpy(buf, name, sizeof(buf) - 1);
	buf[sizeof(buf) - 1] = 0;
	memcpy(ts->slot->name, buf, sizeof(buf));
}

/* ---- spans: a lock-free pool, so start and finish may be on any thread ---- */

static void span_push(uint32_t i)
{
	uint64_t old = atomic_load(&span_free), new;

	do {
		span_pool[i].next = (uint32_t)old;
		new = (((old >> 32) + 1) << 32) | (i + 1);
	} while (!atomic_compare_exchange_weak(&span_free, &old, new));
}

/* A freed span, else one never used (the pool is not touched at start:
 * its pages cost nothing until spans are used). */
static struct sonda_span *span_pop(void)
{
	uint64_t old = atomic_load(&span_free), new;
	uint32_t top, fresh;

	do {
		top = (uint32_t)old;
		if (!top)
			break;
		new = (((old >> 32) + 1) << 32) | __atomic_load_n(&span_pool[top - 1].next, __ATOMIC_RELAXED);
	} while (!atomic_compare_exchange_weak(&span_free, &old, new));
	if (top)
		return &span_pool[top - 1];
	fresh = __atomic_load_n(&span_fresh, __ATOMIC_RELAXED);
	do {
		if (fresh >= SPAN_POOL)
			return NULL;
	} while (!__atomic_compare_exchange_n(&span_fresh, &fresh, fresh + 1, 1, __ATOMIC_RELAXED,
					      __ATOMIC_RELAXED));
	return &span_pool[fresh];
}

static void span_pool_init(void)
{
	atomic_store(&span_free, 0);
	__atomic_store_n(&span_fresh, 0, __ATOMIC_RELAXED);
}

sonda_span *sonda_span_start(const char *name)
{
	struct sonda_span *s;
	size_t len;

	if (!g.active)
		return &span_dropped;
	s = span_pop();
	if (!s) {
		__atomic_fetch_add(&g.hdr->spans_dropped, 1, __ATOMIC_RELAXED);
		return &span_dropped;
	}
	if (!name || !*name)
		name = "?";
	len = strnlen(name, SONDA_NAME_MAX - 1);
	memcpy(s->name, name, len);
	s->name[len] = 0;
	s->t0 = now_ns();
	atomic_store_explicit(&s->state, 1, memory_order_release);
	return s;
}

void sonda_span_finish(sonda_span *s)
{
	struct tstate *ts;
	uint32_t expect = 1, task;
	int64_t now, wall;

	if (s == &span_dropped || !g.active)
		return;
	if (!s || s < span_pool || s >= span_pool + SPAN_POOL ||
	    !atomic_compare_exchange_strong(&s->state, &expect, 0)) {
		__atomic_fetch_add(&g.hdr->spans_bad, 1, __ATOMIC_RELAXED);
		return;
	}
	now = now_ns();
	wall = now - s->t0;
	ts = thread_get();
	if (ts) {
		task = task_find(ts, s->name, STORE_TASK_SPAN);
		if (task != NONE) {
			task_account(ts, task, wall, wall, 0);
			if (ts->ring)
				ring_put(ts, s->t0, wall, task, ts->depth < DEPTH_MAX ? ts->depth : DEPTH_MAX);
		}
	}
	span_push((uint32_t)(s - span_pool));
}

/* ---- functions (-finstrument-functions) ---- */

static int module_covers(uint64_t addr)
{
	const struct sonda_module *m = (const struct sonda_module *)(g.base + g.modules->offset);
	uint32_t n = __atomic_load_n(&g.modules->used, __ATOMIC_ACQUIRE);

	for (uint32_t i = 0; i < n && i < g.modules->count; i++)
		if (addr >= m[i].start && addr < m[i].end)
			return 1;
	return 0;
}

static int module_record(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct sonda_module *m = (struct sonda_module *)(g.base + g.modules->offset);
	uint64_t start = UINT64_MAX, end = 0;
	const char *path = info->dlpi_name;
	uint32_t n = g.modules->used;

	(void)size;
	(void)arg;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		if (info->dlpi_addr + ph->p_vaddr < start)
			start = info->dlpi_addr + ph->p_vaddr;
		if (info->dlpi_addr + ph->p_vaddr + ph->p_memsz > end)
			end = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
	}
	if (start >= end || strstr(path, "linux-vdso"))
		return 0;
	for (uint32_t i = 0; i < n; i++)
		if (m[i].start == start && m[i].end == end)
			return 0;
	if (n >= g.modules->count) {
		g.hdr->modules_dropped++;
		return 0;
	}
	m[n].base = info->dlpi_addr;
	m[n].start = start;
	m[n].end = end;
	if (!*path) {
		ssize_t k = readlink("/proc/self/exe", m[n].path, SONDA_PATH_MAX - 1);

		m[n].path[k > 0 ? k : 0] = 0;
	} else {
		snprintf(m[n].path, SONDA_PATH_MAX, "%s", path);
	}
	__atomic_store_n(&g.modules->used, n + 1, __ATOMIC_RELEASE);
	return 0;
}

/* Slow path, once per new function: keeps the module table able to name it
 * after the process is gone. */
static void modules_refresh(uint64_t addr)
{
	if (addr && module_covers(addr))
		return;
	while (atomic_flag_test_and_set_explicit(&g.modules_lock, memory_order_acquire))
		;
	dl_iterate_phdr(module_record, NULL);
	atomic_flag_clear_explicit(&g.modules_lock, memory_order_release);
}

static uint32_t func_find(struct tstate *ts, uint64_t addr)
{
	uint32_t i = (uint32_t)((addr * 0x9e3779b97f4a7c15ull) >> 51) & (FUNC_HASH - 1);
	struct sonda_slot *slot = ts->slot;

	for (;; i = (i + 1) & (FUNC_HASH - 1)) {
		uint32_t v = ts->fhash[i], n;

		if (likely(v) && ts->funcs[v - 1].addr == addr)
			return v - 1;
		if (v)
			continue;
		n = slot->nfuncs;
		if (n >= g.hdr->slot_funcs ||
		    entry_reserve(ts->funcs, sizeof(*ts->funcs), n, g.hdr->slot_funcs) < 0) {
			slot->funcs_dropped++;
			return NONE;
		}
		modules_refresh(addr);
		ts->funcs[n].addr = addr;
		ts->funcs[n].min_ns = INT64_MAX;
		ts->fhash[i] = (uint16_t)(n + 1);
		__atomic_store_n(&slot->nfuncs, n + 1, __ATOMIC_RELEASE);
		return n;
	}
}

static uint32_t edge_find(struct tstate *ts, uint32_t caller, uint32_t callee)
{
	uint64_t key = ((uint64_t)caller << 32) | callee;
	uint32_t i = (uint32_t)((key * 0x9e3779b97f4a7c15ull) >> 50) & (EDGE_HASH - 1);
	struct sonda_slot *slot = ts->slot;

	for (;; i = (i + 1) & (EDGE_HASH - 1)) {
		uint32_t v = ts->ehash[i], n;
		struct sonda_edge_entry *e;

		if (likely(v)) {
			e = &ts->edges[v - 1];
			if (e->callee == ts->funcs[callee].addr &&
			    e->caller == (caller == NONE ? 0 : ts->funcs[caller].addr))
				return v - 1;
			continue;
		}
		n = slot->nedges;
		if (n >= g.hdr->slot_edges ||
		    entry_reserve(ts->edges, sizeof(*ts->edges), n, g.hdr->slot_edges) < 0) {
			slot->edges_dropped++;
			return NONE;
		}
		e = &ts->edges[n];
		e->caller = caller == NONE ? 0 : ts->funcs[caller].addr;
		e->callee = ts->funcs[callee].addr;
		ts->ehash[i] = (uint16_t)(n + 1);
		__atomic_store_n(&slot->nedges, n + 1, __ATOMIC_RELEASE);
		return n;
	}
}

static void func_enter(void *fn)
{
	struct tstate *ts = thread_get();
	struct func_frame *f;
	uint32_t d, caller;

	if (unlikely(!ts))
		return;
	d = ts->fdepth++;
	if (unlikely(d >= FDEPTH_MAX)) {
		ts->slot->depth_dropped++;
		return;
	}
	f = &ts->fstack[d];
	f->func = func_find(ts, (uint64_t)(uintptr_t)fn);
	f->edge = NONE;
	if (likely(f->func != NONE)) {
		ts->factive[f->func]++;
		caller = d > 0 ? ts->fstack[d - 1].func : NONE;
		if (d == 0 || caller != NONE) {
			if (ts->last_caller[f->func] == caller + 2 && ts->last_edge[f->func] != NONE) {
				f->edge = ts->last_edge[f->func];
			} else {
				f->edge = edge_find(ts, caller, f->func);
				ts->last_caller[f->func] = caller + 2;	/* 0: never; 1: no caller */
				ts->last_edge[f->func] = f->edge;
			}
			if (f->edge != NONE)
				ts->eactive[f->edge]++;
		}
	}
	f->child = 0;
	f->t0 = now_ns();
}

static void func_exit(void)
{
	struct tstate *ts = thread_get();
	struct func_frame *f;
	int64_t now, wall, self;
	uint32_t d;

	if (unlikely(!ts))
		return;
	now = now_ns();
	if (unlikely(ts->fdepth == 0)) {
		ts->slot->unbalanced++;
		return;
	}
	d = --ts->fdepth;
	if (unlikely(d >= FDEPTH_MAX))
		return;
	f = &ts->fstack[d];
	wall = now - f->t0;
	self = wall - f->child;
	if (d > 0)
		ts->fstack[d - 1].child += wall;
	ts->slot->calls++;
	if (likely(f->func != NONE)) {
		struct sonda_func_entry *e = &ts->funcs[f->func];

		e->calls++;
		e->self_ns += self;
		if (--ts->factive[f->func] == 0)
			e->total_ns += wall;
		if (wall < e->min_ns)
			e->min_ns = wall;
		if (wall > e->max_ns)
			e->max_ns = wall;
		e->hist[sonda_hist_bucket(wall)]++;
	}
	if (likely(f->edge != NONE)) {
		struct sonda_edge_entry *e = &ts->edges[f->edge];

		e->calls++;
		e->self_ns += self;
		if (--ts->eactive[f->edge] == 0)
			e->total_ns += wall;
	}
}

void __cyg_profile_func_enter(void *fn, void *site) __attribute__((no_instrument_function));
void __cyg_profile_func_exit(void *fn, void *site) __attribute__((no_instrument_function));

void __cyg_profile_func_enter(void *fn, void *site)
{
	(void)site;
	if (likely(!functions_on))
		return;
	func_enter(fn);
}

void __cyg_profile_func_exit(void *fn, void *site)
{
	(void)fn;
	(void)site;
	if (likely(!functions_on))
		return;
	func_exit();
}

/* ---- output ---- */

static int env_on(const char *name);

/* Nothing recorded by any thread yet (allocation tracking always counts
 * as something). */
static int region_idle(void)
{
	uint32_t n = __atomic_load_n(&g.threads->used, __ATOMIC_ACQUIRE);

	if (env_on("SONDA_ALLOC") || (g.hdr->flags & SONDA_FLAG_ALLOC))
		return 0;
	for (uint32_t i = 0; i < n && i < g.threads->count; i++) {
		const struct sonda_slot *slot =
			(const void *)(g.base + g.threads->offset + (uint64_t)i * g.threads->entry_size);

		if (slot->state && (slot->events || slot->calls || slot->ntasks))
			return 0;
	}
	return 1;
}

static int flush_locked(int at_exit)
{
	struct store_profile *p;
	char err[512];
	int rc = -1;

	int quiet;

	if (!g.active)
		return -1;
	quiet = sonda__alloc_quiet_begin(at_exit);	/* our own allocations are not the program's */
	if (at_exit) {
		g.hdr->end_realtime_ns = real_ns();
		__atomic_store_n(&g.hdr->state, SONDA_STATE_EXITED, __ATOMIC_RELEASE);
		/* a shell or make that sonda run's program started: no store
		 * unless it recorded something */
		if (!g.root && region_idle())
			return 0;
	}
	p = store_profile_new();
	if (!p) {
		snprintf(err, sizeof(err), "out of memory");
	} else if (sonda_region_load(g.region_path, p, err, sizeof(err)) &&
		   store_save(g.output, p, err, sizeof(err)) == 0) {
		rc = 0;
	}
	store_profile_free(p);
	sonda__alloc_quiet_end(quiet);
	if (rc < 0 && at_exit)
		fprintf(stderr, "sonda: cannot write %s: %s (the region stays in %s; see sonda-recover(1))\n",
			g.output, err, g.region_path);
	return rc;
}

int sonda_flush(void)
{
	int rc;

	pthread_mutex_lock(&g.flush_lock);
	rc = flush_locked(0);
	pthread_mutex_unlock(&g.flush_lock);
	return rc;
}

/* ---- life cycle ---- */

static int env_on(const char *name)
{
	const char *v = getenv(name);

	return v && *v && strcmp(v, "0") != 0;
}

static void command_read(char *buf, size_t len)
{
	int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	buf[0] = 0;
	if (fd < 0)
		return;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = 0;
	for (ssize_t i = 0; i < n - 1; i++)
		if (!buf[i])
			buf[i] = ' ';
}

/* SONDA_OUTPUT, made per process in a process other than the one `sonda
 * run` started (a forked or exec'd child: SONDA_ROOT_PID is another pid),
 * else sonda-PID.db. */
static void output_choose(int forked)
{
	const char *out = getenv("SONDA_OUTPUT");
	const char *root = getenv("SONDA_ROOT_PID");
	long pid = (long)getpid();
	char name[SONDA_PATH_MAX], cwd[SONDA_PATH_MAX];
	const char *dot, *slash;

	g.root = !forked && (!root || atol(root) == pid);
	if (!out || !*out) {
		snprintf(name, sizeof(name), "sonda-%ld.db", pid);
	} else if (g.root) {
		snprintf(name, sizeof(name), "%s", out);
	} else {
		dot = strrchr(out, '.');
		slash = strrchr(out, '/');
		if (dot && (!slash || dot > slash) && dot != out)
			snprintf(name, sizeof(name), "%.*s.%ld%s", (int)(dot - out), out, pid, dot);
		else
			snprintf(name, sizeof(name), "%.*s.%ld", SONDA_PATH_MAX - 24, out, pid);
	}
	/* where the program started: it may chdir before it exits */
	if (name[0] != '/' && getcwd(cwd, sizeof(cwd)))
		snprintf(g.output, sizeof(g.output), "%s/%s", cwd, name);
	else
		snprintf(g.output, sizeof(g.output), "%s", name);
}

static size_t page_up(size_t n)
{
	return (n + 4095) & ~(size_t)4095;
}

/* Creates and maps this process's region; 0 or -1. */
static int region_create(int forked)
{
	struct sonda_region_header *h;
	const char *env = getenv("SONDA_REGION");
	const char *root = getenv("SONDA_ROOT_PID");
	size_t slot_size, off, tasks_off, funcs_off, edges_off, nfuncs, nedges;
	int nsec = 0, fd;
	void *m;

	if (env && *env && !forked && (!root || atol(root) == (long)getpid()))
		snprintf(g.region_path, sizeof(g.region_path), "%s", env);
	else
		sonda_region_default_path((long)getpid(), g.region_path, sizeof(g.region_path));
	tasks_off = page_up(sizeof(struct sonda_slot));
	/* function tables only when the hooks are on: 11 MB of address space
	 * per thread otherwise unused */
	nfuncs = g.functions ? SONDA_FUNCS : 0;
	nedges = g.functions ? SONDA_EDGES : 0;
	funcs_off = tasks_off + page_up(SONDA_TASKS * sizeof(struct sonda_task_entry));
	edges_off = funcs_off + page_up(nfuncs * sizeof(struct sonda_func_entry));
	slot_size = edges_off + page_up(nedges * sizeof(struct sonda_edge_entry));
	off = page_up(sizeof(struct sonda_region_header));

	struct sonda_section secs[SONDA_SECTIONS_MAX];
	memset(secs, 0, sizeof(secs));
	secs[nsec++] = (struct sonda_section){ SONDA_SECTION_THREADS, (uint32_t)slot_size, off,
					       slot_size * SONDA_SLOTS, SONDA_SLOTS, 0 };
	off += slot_size * SONDA_SLOTS;
	secs[nsec++] = (struct sonda_section){ SONDA_SECTION_MODULES, sizeof(struct sonda_module), off,
					       page_up(SONDA_MODULES * sizeof(struct sonda_module)),
					       SONDA_MODULES, 0 };
	off += secs[nsec - 1].size;
	if (g.timeline) {
		size_t ring = SONDA_RING_EVENTS * sizeof(struct sonda_event);

		secs[nsec++] = (struct sonda_section){ SONDA_SECTION_RING, (uint32_t)ring, off,
						       ring * SONDA_SLOTS, SONDA_SLOTS, 0 };
		off += ring * SONDA_SLOTS;
	}
	/* A new kind of data (allocation sites, issue 7) adds its section
	 * here, page aligned, and finds it again with sonda__section(). */
	sonda__alloc_section(&secs[nsec++], off);	/* sparse: costs nothing until allocations are tracked */
	off += secs[nsec - 1].size;
	fd = open(g.region_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -1;
	fchmod(fd, 0600);
	if (ftruncate(fd, (off_t)off) < 0) {
		close(fd);
		unlink(g.region_path);
		return -1;
	}
	m = mmap(NULL, off, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED || posix_fallocate(fd, 0, (off_t)secs[0].offset) == ENOSPC ||
	    posix_fallocate(fd, (off_t)secs[1].offset, (off_t)secs[1].size) == ENOSPC) {
		if (m != MAP_FAILED)
			munmap(m, off);
		close(fd);
		unlink(g.region_path);
		return -1;
	}
	/* kept high, out of the way of a host that reuses low descriptors */
	if (g.fd >= 0)
		close(g.fd);
	g.fd = fcntl(fd, F_DUPFD_CLOEXEC, 512);
	if (g.fd < 0)
		g.fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	close(fd);
	g.base = m;
	h = g.hdr = m;
	memcpy(h->magic, SONDA_REGION_MAGIC, 8);
	h->version = SONDA_REGION_VERSION;
	h->header_size = sizeof(*h);
	h->file_size = off;
	h->pid = getpid();
	h->root_pid = getenv("SONDA_ROOT_PID") ? atol(getenv("SONDA_ROOT_PID")) : 0;
	h->start_realtime_ns = real_ns();
	h->slot_tasks = SONDA_TASKS;
	h->slot_funcs = (uint32_t)nfuncs;
	h->slot_edges = (uint32_t)nedges;
	h->ring_events = g.timeline ? SONDA_RING_EVENTS : 0;
	h->slot_tasks_off = (uint32_t)tasks_off;
	h->slot_funcs_off = (uint32_t)funcs_off;
	h->slot_edges_off = (uint32_t)edges_off;
	h->hist_buckets = SONDA_HIST_BUCKETS;
	h->nsections = (uint32_t)nsec;
	memcpy(h->sections, secs, sizeof(secs[0]) * (size_t)nsec);
	command_read(h->command, sizeof(h->command));
	g.threads = g.modules = g.rings = g.alloc = NULL;
	for (int i = 0; i < nsec; i++) {
		struct sonda_section *s = &h->sections[i];

		if (s->kind == SONDA_SECTION_THREADS)
			g.threads = s;
		else if (s->kind == SONDA_SECTION_MODULES)
			g.modules = s;
		else if (s->kind == SONDA_SECTION_RING)
			g.rings = s;
		else if (s->kind == SONDA_SECTION_ALLOC)
			g.alloc = s;
	}
	if (g.tsc)
		tsc_calibrate();
	else
		g.mono0 = mono_ns();
	h->start_mono_ns = g.mono0;
	if (g.alloc)
		sonda__alloc_attach(g.base, g.alloc, g.mono0);
	h->flags = (g.functions ? SONDA_FLAG_FUNCTIONS : 0) | (g.timeline ? SONDA_FLAG_TIMELINE : 0) |
		   (g.cpu ? SONDA_FLAG_CPU : 0) | (g.tsc ? SONDA_FLAG_TSC : 0);
	modules_refresh(0);
	__atomic_store_n(&h->state, SONDA_STATE_LIVE, __ATOMIC_RELEASE);
	return 0;
}

static void fork_prepare(void)
{
	pthread_mutex_lock(&g.flush_lock);
	sonda__alloc_fork_prepare();
}

static void fork_parent(void)
{
	sonda__alloc_fork_parent();
	pthread_mutex_unlock(&g.flush_lock);
}

/* The child starts from nothing: its own region, output and slots. */
static void fork_child(void)
{
	struct tstate *ts = tls;

	sonda__alloc_fork_child();
	pthread_mutex_init(&g.flush_lock, NULL);
	if (!g.active)
		return;
	functions_on = 0;
	g.active = 0;
	if (ts && ts != DEAD) {
		cpu_close(ts);
		munmap(ts, sizeof(*ts));
	}
	tls = NULL;
	if (g.key_ok)
		pthread_setspecific(g.key, NULL);
	munmap(g.base, g.hdr->file_size);
	g.base = NULL;
	g.hdr = NULL;
	output_choose(1);
	if (region_create(1) < 0)
		return;
	span_pool_init();
	g.active = 1;
	functions_on = g.functions;
}

/* The address of our own sonda_task_begin, not the one the dynamic linker
 * would bind: tells whether another copy of libsonda came first. */
extern __typeof(sonda_task_begin) sonda_task_begin_self
	__attribute__((alias("sonda_task_begin"), visibility("hidden")));

static int first_copy(void)
{
	void *first = dlsym(RTLD_DEFAULT, "sonda_task_begin");

	return !first || first == (void *)sonda_task_begin_self;
}

__attribute__((constructor)) static void sonda_init(void)
{
	if (g.active || !first_copy() || env_on("SONDA_DISABLE"))
		return;
	g.functions = env_on("SONDA_FUNCTIONS");
	g.timeline = env_on("SONDA_TIMELINE");
	g.cpu = !getenv("SONDA_CPU") || env_on("SONDA_CPU");
	g.tsc = tsc_usable() && (!getenv("SONDA_CLOCK") || strcmp(getenv("SONDA_CLOCK"), "monotonic"));
	output_choose(0);
	if (region_create(0) < 0)
		return;
	g.key_ok = pthread_key_create(&g.key, thread_exit) == 0;
	pthread_atfork(fork_prepare, fork_parent, fork_child);
	span_pool_init();
	g.active = 1;
	functions_on = g.functions;
}

__attribute__((destructor)) static void sonda_fini(void)
{
	struct tstate *ts = tls;
	int rc;

	if (!g.active)
		return;
	pthread_mutex_lock(&g.flush_lock);
	functions_on = 0;
	if (ts && ts != DEAD)
		ts->slot->open_at_exit += ts->depth;
	rc = flush_locked(1);
	if (rc == 0 && !env_on("SONDA_KEEP_REGION"))
		unlink(g.region_path);
	g.active = 0;
	pthread_mutex_unlock(&g.flush_lock);
}

const char *sonda__region_path(void)
{
	return g.active ? g.region_path : NULL;
}

void *sonda__section(uint32_t kind, struct sonda_section **sec)
{
	if (!g.active)
		return NULL;
	for (uint32_t i = 0; i < g.hdr->nsections; i++)
		if (g.hdr->sections[i].kind == kind) {
			if (sec)
				*sec = &g.hdr->sections[i];
			return g.base + g.hdr->sections[i].offset;
		}
	return NULL;
}
