/* internal.h - libsonda's private interface between its parts (not installed); sonda.h and region.h are the public contracts.
 *
 * life.c, flush.c, clock.c, thread.c, task.c and function.c are the
 * tracer; alloc-*.c the allocation tracker.  Allocation tracking runs
 * inside malloc and free: everything
 * it calls with the thread's guard set must not allocate, must not block
 * for long and must count what it cannot do.
 */
#ifndef SONDA_TRACER_INTERNAL_H
#define SONDA_TRACER_INTERNAL_H

#include <linux/perf_event.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <x86intrin.h>

#include "tracer/alloc.h"
#include "tracer/region.h"

#define TLS_IE __attribute__((tls_model("initial-exec")))
#define HIDDEN __attribute__((visibility("hidden")))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
/* In a sanitizer build the entry points run before ASan has initialized
 * (its own start-up calls free); only code reached once tracking is on,
 * after every constructor before ours, is instrumented. */
#define NOASAN __attribute__((no_sanitize_address))

/* ---- libsonda: tasks, spans, functions, the region ---- */

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

/* Process-wide state, written at init, fork and flush only (life.c). */
struct sonda_lib {
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
};
extern struct sonda_lib lib HIDDEN;


/* life.c */
extern __thread struct tstate *sonda__tls TLS_IE HIDDEN;
extern struct tstate sonda__dead HIDDEN;	/* sonda__tls of a thread that records nothing */
#define SONDA_DEAD (&sonda__dead)
int sonda__env_on(const char *name) HIDDEN;
/* The region this process writes, NULL when libsonda is inactive. */
const char *sonda__region_path(void) HIDDEN;
/* The mapped start of this process's section of that kind (and its table
 * entry in *sec), or NULL. */
void *sonda__section(uint32_t kind, struct sonda_section **sec) HIDDEN;

/* flush.c: the store path (forked: a child's own), and writing the store
 * (lib.flush_lock held) */
void sonda__output_choose(int forked) HIDDEN;
int sonda__flush_locked(int at_exit) HIDDEN;

/* clock.c */
int sonda__tsc_usable(void) HIDDEN;
/* The TSC at start_mono_ns (lib.tsc0, lib.mono0); its rate comes at the
 * first timed event (sonda__tsc_rate). */
void sonda__tsc_start(void) HIDDEN;
void sonda__tsc_rate(void) HIDDEN;
void sonda__cpu_open(struct tstate *ts) HIDDEN;
void sonda__cpu_close(struct tstate *ts) HIDDEN;

/* thread.c */
struct tstate *sonda__thread_start(void) HIDDEN;
void sonda__thread_exit(void *arg) HIDDEN;
uint32_t sonda__task_find_slow(struct tstate *ts, const char *name, uint32_t kind, uint32_t c) HIDDEN;
/* Gives a new table entry its memory (16 at a time); -1 when the region
 * has no room. */
int sonda__entry_reserve(const void *table, size_t size, uint32_t n, uint32_t max) HIDDEN;

/* task.c */
void sonda__span_reset(void) HIDDEN;
/* Our own sonda_task_begin, not the one the dynamic linker would bind:
 * tells whether another copy of libsonda came first. */
void sonda_task_begin_self(const char *name) HIDDEN;

/* function.c */
extern int sonda__functions_on HIDDEN;	/* the hooks' one predictable branch */
void sonda__modules_refresh(uint64_t addr) HIDDEN;

/* ---- hot paths shared by task.c and function.c (inline) ---- */

static inline int64_t mono_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static inline int64_t real_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* ns since start_mono_ns. */
static inline int64_t now_ns(void)
{
	if (likely(lib.tsc)) {
		uint64_t d;

		if (unlikely(!__atomic_load_n(&lib.mult, __ATOMIC_ACQUIRE)) && (sonda__tsc_rate(), !lib.tsc))
			return mono_ns() - lib.mono0;
		d = __rdtsc() - lib.tsc0;
		return (int64_t)(((unsigned __int128)d * lib.mult) >> 32);
	}
	return mono_ns() - lib.mono0;
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
	since = now + lib.mono0 - since;
	return (int64_t)running + (since > 0 ? since : 0);
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
	return sonda__task_find_slow(ts, name, kind, c);
}

static inline struct tstate *thread_get(void)
{
	struct tstate *ts = sonda__tls;

	if (likely(ts != NULL))
		return ts != SONDA_DEAD ? ts : NULL;
	return sonda__thread_start();
}

/* ---- allocation tracking: what life.c and flush.c call (alloc-life.c) ---- */

struct sonda_section;
/* The section to reserve at region creation, starting at offset off. */
void sonda__alloc_section(struct sonda_section *sec, uint64_t off) HIDDEN;
/* The region is mapped (at start and in a forked child): start tracking
 * when SONDA_ALLOC / SONDA_ALLOC_SAMPLE ask for it.  mono0 is the
 * region's start_mono_ns. */
void sonda__alloc_attach(unsigned char *base, struct sonda_section *sec, int64_t mono0) HIDDEN;
/* Around sonda's own work (flush): the calling thread's allocations are
 * not tracked.  at_exit takes the "exit" snapshot (the leaks).  Returns
 * what sonda__alloc_quiet_end needs. */
int sonda__alloc_quiet_begin(int at_exit) HIDDEN;
void sonda__alloc_quiet_end(int token) HIDDEN;
/* Fork: every lock taken before, released after, state reset in the child. */
void sonda__alloc_fork_prepare(void) HIDDEN;
void sonda__alloc_fork_parent(void) HIDDEN;
void sonda__alloc_fork_child(void) HIDDEN;

/* ---- allocation tracking: state shared by its parts ---- */

/* alloc_hot.mode: one load tells a hook whether it can go straight to the
 * real allocator (0) or, sampling, decide with its thread's countdown. */
#define ALLOC_BOOT 1		/* the real functions are not resolved yet */
#define ALLOC_ON 2		/* tracking */
#define ALLOC_SAMPLE 4		/* sampling (with ALLOC_ON) */
#define ALLOC_PENDING 8		/* SIGUSR2 seen: take a snapshot */
#define ALLOC_SAMPLING (ALLOC_ON | ALLOC_SAMPLE)

/* What every hook reads, in one cache line that only start, stop and
 * SIGUSR2 write. */
struct alloc_hot {
	int mode;
	uintptr_t pool_lo;	/* sampled blocks: [pool_lo, pool_lo + pool_len) */
	uint64_t pool_len;	/* 0 until sampling starts */
	void *(*malloc)(size_t);
	void *(*calloc)(size_t, size_t);
	void *(*realloc)(void *, size_t);
	void (*free)(void *);
} __attribute__((aligned(64)));
extern struct alloc_hot alloc_hot HIDDEN;

/* Sampling: sampled blocks, and only they, live in a range of our own
 * (alloc-pool.c), so a free tells them by address: one compare, no
 * header, no table on the fast path.  The range outlives sampling (a
 * forked child's blocks stay there). */
NOASAN static inline int alloc_pool_owns(const void *p)
{
	return (uintptr_t)p - alloc_hot.pool_lo < alloc_hot.pool_len;
}

/* CHECKED: frame pointers where libunwind was seen to agree, else libunwind */
enum { ALLOC_UNWIND_FP = 1, ALLOC_UNWIND_LIBUNWIND = 2, ALLOC_UNWIND_CHECKED = 3 };

struct alloc_sites {
	struct sonda_alloc_header *hdr;
	unsigned char *entries;	/* hdr->sites_max entries of hdr->site_size */
	unsigned char *threads;	/* hdr->threads_max slots; NULL: none */
	/* Gives [p, p + len) of the region its memory (a write to a hole of
	 * a full tmpfs is SIGBUS); -1 when there is no room.  NULL: nothing
	 * to give. */
	int (*reserve)(const void *p, uint64_t len);
	uint64_t ready;		/* bytes of entries given memory (with lock) */
	uint32_t *index;	/* site index, 0 = empty (site 0 is never indexed) */
	uint32_t mask;		/* index slots - 1 */
	int lock;		/* held while a site is appended */
};

/* Process-wide tracker state, written at start, attach and fork. */
struct alloc_state {
	int unwinder;
	uint32_t nframes;
	uint64_t mean;		/* sampling: bytes between samples on average */
	double inv_mean;
	int64_t mono0;
	int attached;
	struct sonda_alloc_header *hdr;
	unsigned char *snaps;
	struct alloc_sites sites;
	uint64_t self_lo, self_hi;	/* libsonda's code: frames there are skipped */
	int snap_lock;
	unsigned sigusr2_count;
};
extern struct alloc_state alloc_g HIDDEN;

struct alloc_tls {
	int guard;		/* inside a tracked call or sonda's own work */
	int ready;
	uint64_t until;		/* sampling: bytes before the next sample point */
	uint64_t rng;
	uint64_t stack_lo, stack_hi;	/* frame-pointer walks stay inside */
	uint32_t checks;	/* trusted frame-pointer walks (alloc-stack.c) */
};
extern __thread struct alloc_tls alloc_t TLS_IE HIDDEN;

/* alloc-track.c: accounting, with the guard held */
/* Whether an allocation of n bytes is recorded (sampling: a sample point). */
int alloc_due(size_t n) HIDDEN;
void alloc_track(void *p, size_t n) HIDDEN;
/* Forgets p (before the real free sees it); 1 with its entry when it was tracked. */
struct alloc_live_entry;
int alloc_untrack(void *p, struct alloc_live_entry *e) HIDDEN;
void alloc_charge_free(const struct alloc_live_entry *e) HIDDEN;
/* Puts back a block whose realloc failed. */
void alloc_retrack(void *p, const struct alloc_live_entry *e) HIDDEN;
void alloc_count_failed(void) HIDDEN;
void alloc_live_reset(void) HIDDEN;
/* The key whose destructor gives an exiting thread's slot back (once). */
void alloc_thread_key(void) HIDDEN;
void alloc_live_lock(void) HIDDEN;
void alloc_live_unlock(void) HIDDEN;

/* alloc-stack.c */
void alloc_stack_setup(void) HIDDEN;
void alloc_stack_thread(void) HIDDEN;
uint32_t alloc_stack_capture(uint64_t *out) HIDDEN;

/* alloc-pool.c: every call takes the pool's lock; none allocates */
int alloc_pool_init(uint64_t bytes) HIDDEN;
/* NULL when the pool cannot hold it: that allocation is not sampled. */
void *alloc_pool_get(size_t n, size_t align, int zero) HIDDEN;
size_t alloc_pool_size(const void *p) HIDDEN;
void alloc_pool_put(void *p) HIDDEN;
void alloc_pool_lock(void) HIDDEN;
void alloc_pool_unlock(void) HIDDEN;
void alloc_pool_reset_lock(void) HIDDEN;

/* alloc-sample.c */
void alloc_sample_thread(void) HIDDEN;
uint64_t alloc_sample_gap(void) HIDDEN;
void alloc_sample_weight(uint64_t n, uint64_t *count, uint64_t *bytes) HIDDEN;

/* alloc-snap.c */
int alloc_snap_take(const char *label) HIDDEN;
void alloc_snap_pending(void) HIDDEN;
void alloc_snap_signal_install(void) HIDDEN;

/* alloc-hooks.c */
int alloc_resolve(void) HIDDEN;

/* ---- alloc-table.c: call sites (in the region) and live pointers ----
 *
 * Both are called from inside malloc and free, with the caller's guard
 * set: they never call malloc (memory comes from mmap), never block
 * except on a shard lock held for a bounded time by a thread that is
 * itself not blocked, and count what they cannot hold. */

/* hdr is a zeroed page in the region, entries the site area (bytes long).
 * Returns 0, or -1 when the index cannot be mapped. */
int alloc_sites_init(struct alloc_sites *t, struct sonda_alloc_header *hdr, unsigned char *entries,
		     uint64_t bytes, uint32_t nframes);
void alloc_sites_free(struct alloc_sites *t);
static inline struct sonda_alloc_site *alloc_site(const struct alloc_sites *t, uint32_t i)
{
	return (struct sonda_alloc_site *)(t->entries + (uint64_t)i * t->hdr->site_size);
}
uint64_t alloc_stack_hash(const uint64_t *frames, uint32_t n);
/* The site of a stack, added when new; 0 (the overflow site) when the
 * table is full (counted in hdr->sites_dropped).  Lock-free when found. */
uint32_t alloc_site_find(struct alloc_sites *t, uint64_t hash, const uint64_t *frames, uint32_t n);

/* ---- alloc-count.c: the counters of the sites and of the process ----
 *
 * Each thread counts in a slot of its own (see alloc.h); the peaks stay
 * exact.  Same rules as the tables: no malloc, bounded waits. */

/* The slot area (threads_max slots of thread_size bytes, zeroed) after
 * alloc_sites_init. */
void alloc_sites_threads(struct alloc_sites *t, unsigned char *area, uint32_t max, uint32_t size);
/* Charge an allocation or a free of `bytes` (count in count units). */
void alloc_site_add(struct alloc_sites *t, uint32_t site, uint64_t count, uint64_t bytes);
void alloc_site_sub(struct alloc_sites *t, uint32_t site, uint64_t count, uint64_t bytes);
/* The calling thread takes a slot (0), or keeps counting in the shared
 * entries (-1: none free). */
int alloc_count_claim(struct alloc_sites *t);
/* The calling thread exits: its slot added into the shared entries and
 * given back. */
void alloc_count_release(struct alloc_sites *t);
/* A forked child: the calling thread's slot was its parent's. */
void alloc_count_forget(void);
/* A site's counters (allocs, frees, bytes, live_bytes), the slots' included. */
void alloc_site_total(const struct alloc_sites *t, uint32_t site, struct sonda_alloc_delta *out);
/* The process-wide live bytes, the slots' included. */
int64_t alloc_process_live(const struct alloc_sites *t);

/* Live pointers: pointer -> (site, size), sharded by pointer hash, open
 * addressing at a load of 3/8 to 3/4: 21 to 43 bytes per live pointer. */
#define ALLOC_LIVE_SHARDS 256
#define ALLOC_LIVE_SITE_BITS 24
#define ALLOC_LIVE_SIZE_MAX ((1ull << (64 - ALLOC_LIVE_SITE_BITS)) - 1)

struct alloc_live_entry {
	uint64_t ptr;		/* 0 = empty */
	uint64_t val;		/* size << ALLOC_LIVE_SITE_BITS | site */
};

struct alloc_live_shard {
	int lock;
	uint32_t n;
	uint32_t cap;		/* slots, a power of two, 0 until the first insert */
	uint32_t cap_max;
	struct alloc_live_entry *v;
	char pad[40];
} __attribute__((aligned(64)));

struct alloc_live {
	struct alloc_live_shard shard[ALLOC_LIVE_SHARDS];
};

/* slots_max bounds each shard (a power of two). */
void alloc_live_init(struct alloc_live *m, uint32_t slots_max);
void alloc_live_free(struct alloc_live *m);
/* Adds ptr.  Returns 0, 1 when ptr was already there (its old entry in
 * *old: a block freed behind our back), -1 when there is no room. */
int alloc_live_put(struct alloc_live *m, uint64_t ptr, uint32_t site, uint64_t size,
		   struct alloc_live_entry *old);
/* Removes ptr; 1 with its entry in *out, 0 when it was not there. */
int alloc_live_take(struct alloc_live *m, uint64_t ptr, struct alloc_live_entry *out);
uint64_t alloc_live_count(struct alloc_live *m);
/* Bytes of memory the map holds now (its slot arrays). */
uint64_t alloc_live_bytes(struct alloc_live *m);
/* Every shard locked (fork), then unlocked. */
void alloc_live_lock_all(struct alloc_live *m);
void alloc_live_unlock_all(struct alloc_live *m);

static inline uint32_t alloc_live_site(const struct alloc_live_entry *e)
{
	return (uint32_t)(e->val & ((1u << ALLOC_LIVE_SITE_BITS) - 1));
}

static inline uint64_t alloc_live_size(const struct alloc_live_entry *e)
{
	return e->val >> ALLOC_LIVE_SITE_BITS;
}

void alloc_spin_lock(int *l);
void alloc_spin_unlock(int *l);

#endif
