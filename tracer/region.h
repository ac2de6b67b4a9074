/* region.h - the libsonda stats region: its byte layout (the contract) and its reader.
 *
 * A region is one file, /dev/shm/sonda-PID by default (SONDA_REGION names
 * another), created with mode 0600 and mapped MAP_SHARED by the traced
 * process, which writes it without locks; `sonda top --pid`, `sonda
 * recover` and libsonda's own exit path read it.  It outlives a crash.
 *
 * Layout (all integers little-endian, native x86-64 alignment):
 *
 *   offset 0      struct sonda_region_header (one page), which ends in a
 *                 table of up to SONDA_SECTIONS_MAX sections
 *                 {kind, offset, size, entry_size, count}
 *   section       SONDA_SECTION_THREADS: `count` slots of `entry_size`
 *                 bytes, each a struct sonda_slot followed by its task,
 *                 function and edge tables at the slot-relative offsets
 *                 the header gives (slot_tasks_off, ...)
 *   section       SONDA_SECTION_RING (only with the timeline): `count`
 *                 rings, one per slot, of ring_events struct sonda_event
 *   section       SONDA_SECTION_MODULES: `count` struct sonda_module, the
 *                 loaded ELF objects, so function addresses can be named
 *                 after the process is gone
 *   section       SONDA_SECTION_ALLOC: allocation tracking, always
 *                 reserved (sparse); its layout is in tracer/alloc.h.  A
 *                 reader skips kinds it does not know
 *
 * Sections are page aligned.  A new kind of data is a new section kind: a
 * reader finds sections by kind and never assumes their order, so adding
 * one keeps SONDA_REGION_VERSION.  Changing an existing struct bumps it,
 * and a reader refuses a version it does not know.
 *
 * Consistency: each slot has one writer, its thread.  Tables grow by
 * filling entry n, then publishing the count n+1 (release); a reader reads
 * the count (acquire) and only entries below it.  A task entry's `seq` is
 * odd while its owner updates it; a reader retries a few times and then
 * takes the torn copy (counters are only ever incremented, so a torn read
 * is off by one event, never garbage).  Function and edge entries have no
 * seq: the same argument holds field by field.
 */
#ifndef SONDA_REGION_H
#define SONDA_REGION_H

#include <stddef.h>
#include <stdint.h>

#define SONDA_REGION_MAGIC "SONDAREG"	/* 8 bytes, no NUL */
#define SONDA_REGION_VERSION 2
#define SONDA_SECTIONS_MAX 16

#define SONDA_NAME_MAX 64	/* bytes of a task name, with its NUL */
#define SONDA_THREAD_NAME_MAX 32
#define SONDA_PATH_MAX 256

/* Default sizes; the header records the ones a region was made with. */
#define SONDA_SLOTS 256		/* threads */
#define SONDA_TASKS 256		/* task, span and mark names per thread */
#define SONDA_FUNCS 4096	/* functions per thread */
#define SONDA_EDGES 8192	/* caller -> callee pairs per thread */
#define SONDA_RING_EVENTS 65536	/* timeline intervals kept per thread */
#define SONDA_MODULES 512

/* Latency histogram: the store's log-linear buckets (store.h
 * STORE_HIST_*), replicated here so the hot path needs no store code. */
#define SONDA_HIST_SUBBITS 4
#define SONDA_HIST_SUB (1u << SONDA_HIST_SUBBITS)
#define SONDA_HIST_MAXEXP 44
#define SONDA_HIST_BUCKETS ((SONDA_HIST_MAXEXP - SONDA_HIST_SUBBITS + 1) * SONDA_HIST_SUB)

enum sonda_section_kind {
	SONDA_SECTION_NONE = 0,
	SONDA_SECTION_THREADS = 1,
	SONDA_SECTION_RING = 2,
	SONDA_SECTION_MODULES = 3,
	SONDA_SECTION_ALLOC = 4,	/* issue 7 */
};

/* header.flags */
#define SONDA_FLAG_FUNCTIONS 1u	/* -finstrument-functions hooks on */
#define SONDA_FLAG_TIMELINE 2u	/* per-thread rings on */
#define SONDA_FLAG_CPU 4u	/* CPU time measured */
#define SONDA_FLAG_TSC 8u	/* clock is the calibrated TSC (else CLOCK_MONOTONIC) */
#define SONDA_FLAG_ALLOC 16u	/* allocation tracking on (issue 7) */

/* header.state */
#define SONDA_STATE_LIVE 1
#define SONDA_STATE_EXITED 2	/* the process ran its exit path */

struct sonda_section {
	uint32_t kind;		/* enum sonda_section_kind */
	uint32_t entry_size;	/* bytes of one entry (slot, ring, module) */
	uint64_t offset;	/* from the start of the file, page aligned */
	uint64_t size;		/* bytes */
	uint32_t count;		/* entries */
	uint32_t used;		/* entries in use (slots, modules), written with release */
};

struct sonda_region_header {
	char magic[8];
	uint32_t version;
	uint32_t header_size;	/* sizeof(struct sonda_region_header) */
	uint64_t file_size;
	int64_t pid;
	int64_t start_realtime_ns;	/* CLOCK_REALTIME at start */
	int64_t start_mono_ns;		/* CLOCK_MONOTONIC at start; times in the region count from it */
	int64_t end_realtime_ns;	/* set by the exit path, 0 while live */
	uint64_t tsc_hz;		/* calibrated TSC rate, 0 when not used */
	uint32_t flags;			/* SONDA_FLAG_* */
	uint32_t state;			/* SONDA_STATE_* */
	/* the sizes this region was made with */
	uint32_t slot_tasks, slot_funcs, slot_edges, ring_events;
	uint32_t slot_tasks_off, slot_funcs_off, slot_edges_off, hist_buckets;
	/* process-wide counters (slow paths only; atomic) */
	uint64_t threads_dropped;	/* threads that found no free slot */
	uint64_t spans_dropped;		/* spans started while the span pool was empty */
	uint64_t spans_bad;		/* finish of NULL or of a finished span */
	uint64_t modules_dropped;
	uint32_t nsections;
	uint32_t reserved0;
	int64_t root_pid;		/* the process `sonda run` started (SONDA_ROOT_PID), 0 if none */
	char command[SONDA_PATH_MAX];	/* argv joined by spaces, cut */
	struct sonda_section sections[SONDA_SECTIONS_MAX];
};

/* One per thread; the owner thread is its only writer. */
struct sonda_slot {
	uint32_t state;		/* 0 free, 1 live, 2 the thread exited */
	uint32_t ntasks;	/* published entries of each table */
	uint32_t nfuncs;
	uint32_t nedges;
	int64_t tid;
	char name[SONDA_THREAD_NAME_MAX];
	uint64_t events;	/* task ends, span finishes, marks */
	uint64_t calls;		/* function calls seen by the hooks */
	uint64_t tasks_dropped;	/* events whose name found the task table full */
	uint64_t funcs_dropped;	/* calls whose function found the table full */
	uint64_t edges_dropped;
	uint64_t depth_dropped;	/* begins past SONDA_DEPTH_MAX (their ends are matched) */
	uint64_t unbalanced;	/* ends without a begin */
	uint64_t bad_names;	/* NULL or empty names */
	uint64_t long_names;	/* names cut to SONDA_NAME_MAX - 1 bytes */
	uint64_t open_at_exit;	/* tasks still open when the thread or process ended */
	uint64_t ring_written;	/* events ever written to the ring; the ring keeps the last ring_events */
	uint64_t cpu_unknown;	/* intervals whose CPU time could not be read */
	uint64_t reserved[4];
};

/* A task, span or mark name on one thread. */
struct sonda_task_entry {
	uint32_t seq;		/* odd while being updated */
	uint32_t kind;		/* store_task_kind: 0 task, 1 span */
	char name[SONDA_NAME_MAX];
	uint64_t calls;
	int64_t wall_ns, self_ns, cpu_ns, min_ns, max_ns;
	uint32_t hist[SONDA_HIST_BUCKETS];
};

/* A function seen by the -finstrument-functions hooks on one thread. */
struct sonda_func_entry {
	uint64_t addr;		/* its entry address in the traced process */
	uint64_t calls;
	int64_t total_ns;	/* outermost activations only: recursion counted once */
	int64_t self_ns;	/* own time, callees excluded */
	int64_t min_ns, max_ns;
	uint32_t hist[SONDA_HIST_BUCKETS];	/* wall time of every activation */
};

/* caller -> callee on one thread; caller 0 is "no instrumented caller". */
struct sonda_edge_entry {
	uint64_t caller, callee;	/* function entry addresses */
	uint64_t calls;
	int64_t total_ns;	/* callee's time under this caller, recursion counted once */
	int64_t self_ns;
};

/* A timeline interval, written when it ends. */
struct sonda_event {
	int64_t start_ns;	/* since header.start_mono_ns */
	int64_t dur_ns;
	uint32_t task;		/* index into the slot's task table */
	uint32_t depth;		/* nesting depth, 0 = outermost */
};

/* A loaded ELF object, to name function addresses. */
struct sonda_module {
	uint64_t base;		/* load bias (dl_phdr_info.dlpi_addr) */
	uint64_t start, end;	/* the executable segment's address range */
	char path[SONDA_PATH_MAX];
};

/* The bucket of a duration, as store_hist_bucket() computes it. */
static inline int sonda_hist_bucket(int64_t ns)
{
	uint64_t v;
	int e;

	if (ns < (int64_t)SONDA_HIST_SUB)
		return ns < 0 ? 0 : (int)ns;
	v = (uint64_t)ns;
	e = 63 - __builtin_clzll(v);
	if (e >= SONDA_HIST_MAXEXP)
		return SONDA_HIST_BUCKETS - 1;
	return (e - SONDA_HIST_SUBBITS + 1) * (int)SONDA_HIST_SUB +
	       (int)((v >> (e - SONDA_HIST_SUBBITS)) & (SONDA_HIST_SUB - 1));
}

/* The midpoint of a bucket, in ns. */
int64_t sonda_hist_value(int bucket);

/* Where a process's region is by default: /dev/shm/sonda-PID. */
void sonda_region_default_path(long pid, char *buf, size_t len);

struct store_profile;
/* Reads a region (a live process's or a dead one's) into p as one new
 * session (runtime "libsonda", mode "trace"): threads, task and function
 * rows per thread and merged (thread 0), caller/callee edge rows (parent
 * != 0), timeline events, and drop counters in the session's
 * errors/last_error.  Function addresses are named with the region's
 * module table and the ELF files' symbol tables.  Safe on a region that is
 * being written, and on a corrupt or truncated file (it then refuses with
 * a reason).  Returns the session id, or 0 with a reason in err. */
uint32_t sonda_region_load(const char *path, struct store_profile *p, char *err, size_t errlen);

/* Reads and checks only the header of a region; 0 or -1. */
int sonda_region_peek(const char *path, struct sonda_region_header *h);

/* sonda_region_load into a new profile, then store_save to out.
 * Returns the pid the region belongs to, or -1 with a reason in err. */
long sonda_region_save(const char *path, const char *out, char *err, size_t errlen);

/* Symbol name of addr in an ELF file loaded with bias base, "" when not
 * found; used by the loader, exposed for tests.  Returns 0 or -1. */
int sonda_symbolize(const char *path, uint64_t base, uint64_t addr, char *out, size_t len);

#endif
