/* store.h - the profile model and its SQLite persistence (the store/ contract).
 *
 * One model in memory and on disk:
 *   strings    every name interned once
 *   frames     (function, file, line, module, kind)
 *   call sites a prefix tree (parent, frame) -> id; a stack is its leaf id
 *   sessions   one recording each
 *   threads    (session, tid, name, role)
 *   samples    (session, thread, call site, time, weight, state), aggregated
 *              per (thread, call site, state, time bucket) unless raw
 *   stacks     the same samples summed over time, for live views
 *   tasks      tracer stats per (session, thread, name, parent, kind)
 *              (table task_stats on disk: `tasks` is the view)
 *   allocs     allocation stats per (session, call site)
 *   snapshots  labelled copies of allocation stats
 *   events     tracer timeline intervals (task and span begin/end), optional
 *
 * Invariants: ids are dense indices starting at 1; id 0 is the "unknown"
 * row of every dictionary (string "", frame 0, call site 0 = the root of the
 * tree), so a key is never absent.  store_nX() of a dictionary (strings,
 * frames, call sites, sessions, threads, snapshots) counts row 0 too: its
 * ids are 0 .. n-1.  Other tables (samples, stacks, tasks, allocs,
 * snapshot sites, events) are indexed 0 .. n-1 and their getters return
 * NULL past the end; a dictionary getter returns row 0 for an unknown id.  A call site's parent always has a
 * smaller id.  Pointers returned by the getters stay valid until the next
 * call that adds to the same table, or until the profile is freed.
 *
 * Threads: a profile is not thread safe; its owner serializes access.  A
 * writer copies what it needs on store_writer_sync() and does its I/O on
 * its own thread, so the caller never waits for the disk.
 *
 * Errors: functions that can fail return 0 / a new object on success and
 * -1 / NULL on failure, with a one-line reason (no "sonda:" prefix) in the
 * caller's err buffer.
 */
#ifndef SONDA_STORE_H
#define SONDA_STORE_H

#include <stddef.h>
#include <stdint.h>

#define STORE_SCHEMA_VERSION 1
#define STORE_APPLICATION_ID 0x534f4e44 /* "SOND" */

enum store_kind {
	STORE_KIND_UNKNOWN = 0,
	STORE_KIND_PYTHON = 1,
	STORE_KIND_NATIVE = 2,
	STORE_KIND_KERNEL = 3,
	STORE_KIND_TASK = 4,
};

/* Sample state bits. */
enum store_state {
	STORE_STATE_IDLE = 1,  /* blocked, sleeping, waiting (kept with --idle) */
	STORE_STATE_GIL = 2,   /* held the GIL */
	STORE_STATE_ONCPU = 4, /* running on a CPU */
};

/* Tracer row kinds (store_task.kind). */
enum store_task_kind {
	STORE_TASK_TASK = 0,     /* sonda_task_begin/end */
	STORE_TASK_SPAN = 1,     /* sonda_span_start/finish */
	STORE_TASK_FUNCTION = 2, /* -finstrument-functions */
};

/* Latency histogram: log-linear, STORE_HIST_SUB sub-buckets per power of
 * two, so a quantile read at a bucket's midpoint is within 1/(2*SUB) of
 * the truth (about 3%).  Covers 0 ns to 2^STORE_HIST_MAXEXP ns. */
#define STORE_HIST_SUBBITS 4
#define STORE_HIST_SUB (1u << STORE_HIST_SUBBITS)
#define STORE_HIST_MAXEXP 44
#define STORE_HIST_BUCKETS ((STORE_HIST_MAXEXP - STORE_HIST_SUBBITS + 1) * STORE_HIST_SUB)

struct store_frame {
	uint32_t function;	/* string id; "lib.so+0x1a2b" when unsymbolized */
	uint32_t file;		/* string id, 0 when unknown */
	uint32_t module;	/* string id: the ELF object or Python module */
	int32_t line;		/* 0 when unknown */
	uint32_t kind;		/* enum store_kind */
};

struct store_callsite {
	uint32_t parent;	/* call site id; 0 for a root frame */
	uint32_t frame;		/* frame id */
	uint32_t depth;		/* 1 for a root frame */
};

struct store_session {
	int64_t pid;
	const char *command;	/* command line, space separated */
	const char *runtime;	/* "python", "native", "libsonda" */
	const char *version;	/* "3.11.7", "" when not known */
	const char *mode;	/* "python", "cpu", "wall", "mixed", "trace" */
	double rate_hz;		/* requested rate, 0 for the tracer */
	int64_t start_ns;	/* CLOCK_REALTIME, ns since the epoch */
	int64_t end_ns;		/* 0 while recording */
	uint64_t samples;	/* samples taken */
	uint64_t missed;	/* ticks missed (late sampler) */
	uint64_t errors;	/* failed reads */
	const char *last_error;	/* "" when none */
};

struct store_thread {
	uint32_t session;
	int64_t tid;
	const char *name;
	const char *role;	/* "main", "", ... */
};

struct store_sample {
	uint32_t session;
	uint32_t thread;	/* thread id in this profile (not the tid) */
	uint32_t callsite;	/* leaf */
	uint32_t state;		/* enum store_state bits */
	int64_t time_ns;	/* since session start; bucket start when aggregated */
	uint64_t weight;	/* sample count */
};

/* A stack: samples of one (session, thread, call site, state) summed over
 * all time.  Rows are appended when a new key appears and their weight
 * grows in place, so a live viewer can diff weights by index. */
struct store_stack {
	uint32_t session, thread, callsite, state;
	uint64_t weight;
};

struct store_task {
	uint32_t session;
	uint32_t thread;	/* thread id in this profile, 0 = all threads merged */
	uint32_t name;		/* string id */
	uint32_t parent;	/* string id of the caller (functions: an edge row), 0 = none */
	uint32_t kind;		/* enum store_task_kind */
	uint64_t calls;
	int64_t wall_ns, self_ns, cpu_ns, min_ns, max_ns;
	uint32_t hist[STORE_HIST_BUCKETS];
};

struct store_alloc {
	uint32_t session;
	uint32_t callsite;	/* the allocation's stack, leaf id */
	uint64_t allocs, frees, bytes, live_count, live_bytes, peak_bytes;
};

struct store_snapshot {
	uint32_t session;
	const char *label;
	int64_t time_ns;	/* since session start */
	/* process-wide traced memory at that moment (tracemalloc's
	 * get_traced_memory): bytes live and the most ever live; 0 in stores
	 * written before these columns */
	uint64_t live_bytes, peak_bytes;
};

struct store_snapshot_site {
	uint32_t snapshot;	/* snapshot id */
	uint32_t callsite;
	uint64_t allocs, bytes, live_count, live_bytes;
};

struct store_event {
	uint32_t session;
	uint32_t thread;	/* thread id in this profile */
	uint32_t name;		/* string id */
	uint32_t kind;		/* enum store_task_kind */
	int64_t start_ns;	/* since session start */
	int64_t dur_ns;
	uint32_t depth;		/* nesting depth on its thread, 0 = outermost */
};

struct store_profile;

/* profile.c: life cycle */
struct store_profile *store_profile_new(void);
void store_profile_free(struct store_profile *p);
/* Width of a sample bucket; 0 keeps every sample raw.  Default 1 s. */
void store_profile_set_bucket(struct store_profile *p, int64_t bucket_ns);
int64_t store_profile_bucket(const struct store_profile *p);

/* string.c */
uint32_t store_string_intern(struct store_profile *p, const char *s);
const char *store_string(const struct store_profile *p, uint32_t id);
uint32_t store_nstrings(const struct store_profile *p);

/* frame.c */
uint32_t store_frame_intern(struct store_profile *p, const struct store_frame *f);
const struct store_frame *store_frame_get(const struct store_profile *p, uint32_t id);
uint32_t store_nframes(const struct store_profile *p);

/* callsite.c */
uint32_t store_callsite_intern(struct store_profile *p, uint32_t parent, uint32_t frame);
/* frames[0] is the root, frames[n-1] the leaf. */
uint32_t store_callsite_from_stack(struct store_profile *p, const uint32_t *frames, size_t n);
const struct store_callsite *store_callsite_get(const struct store_profile *p, uint32_t id);
uint32_t store_ncallsites(const struct store_profile *p);

/* session.c: strings in *s are copied (interned); store_session_get's row
 * may be updated in place (counters, end_ns). */
uint32_t store_session_add(struct store_profile *p, const struct store_session *s);
struct store_session *store_session_get(struct store_profile *p, uint32_t id);
void store_session_set_error(struct store_profile *p, uint32_t id, const char *msg);
uint32_t store_nsessions(const struct store_profile *p);
uint32_t store_thread_add(struct store_profile *p, uint32_t session, int64_t tid,
			  const char *name, const char *role);
/* Finds (session, tid), adding it when new; a non-NULL name renames it. */
uint32_t store_thread_find(struct store_profile *p, uint32_t session, int64_t tid,
			   const char *name);
const struct store_thread *store_thread_get(const struct store_profile *p, uint32_t id);
uint32_t store_nthreads(const struct store_profile *p);

/* sample.c */
void store_sample_add(struct store_profile *p, const struct store_sample *s);
uint32_t store_nsamples(const struct store_profile *p);
const struct store_sample *store_sample_get(const struct store_profile *p, uint32_t i);
uint32_t store_nstacks(const struct store_profile *p);
const struct store_stack *store_stack_get(const struct store_profile *p, uint32_t i);

/* task.c: put replaces the row with the same (session, thread, name, parent, kind) */
void store_task_put(struct store_profile *p, const struct store_task *t);
uint32_t store_ntasks(const struct store_profile *p);
const struct store_task *store_task_get(const struct store_profile *p, uint32_t i);
void store_hist_add(uint32_t *hist, int64_t ns);
int store_hist_bucket(int64_t ns);
int64_t store_hist_value(int bucket);	/* the bucket's midpoint */
int64_t store_hist_quantile(const uint32_t *hist, double q);

/* alloc.c: put replaces the row with the same (session, call site) */
void store_alloc_put(struct store_profile *p, const struct store_alloc *a);
uint32_t store_nallocs(const struct store_profile *p);
const struct store_alloc *store_alloc_get(const struct store_profile *p, uint32_t i);
uint32_t store_snapshot_add(struct store_profile *p, uint32_t session, const char *label,
			    int64_t time_ns);
/* Sets a snapshot's process-wide live and peak bytes. */
void store_snapshot_set_traced(struct store_profile *p, uint32_t id, uint64_t live_bytes,
			       uint64_t peak_bytes);
const struct store_snapshot *store_snapshot_get(const struct store_profile *p, uint32_t id);
uint32_t store_nsnapshots(const struct store_profile *p);
void store_snapshot_site_add(struct store_profile *p, const struct store_snapshot_site *s);
uint32_t store_nsnapshot_sites(const struct store_profile *p);
const struct store_snapshot_site *store_snapshot_site_get(const struct store_profile *p,
							   uint32_t i);

/* event.c: the optional timeline */
void store_event_add(struct store_profile *p, const struct store_event *e);
uint32_t store_nevents(const struct store_profile *p);
const struct store_event *store_event_get(const struct store_profile *p, uint32_t i);

/* writer.c: a store file written by a thread of its own.  open creates the
 * file (replacing an existing one) with the v1 schema; sync queues what was
 * added to p since the last sync and returns at once; close syncs, records
 * session end times (0 ones become now) and counters, builds the secondary
 * indexes and checkpoints.  Every batch the writer committed survives a
 * SIGKILL.  p must outlive the writer (batches point at its interned
 * strings).  A profile tracks what one writer has seen: syncing it to
 * another writer (or a loaded profile to a new one) sends it whole. */
struct store_writer;
struct store_writer *store_writer_open(const char *path, char *err, size_t errlen);
int store_writer_sync(struct store_writer *w, struct store_profile *p);
/* Waits until every queued batch is committed (tests, and callers that
 * must know the file holds what they synced); -1 when the writer failed.
 * A writer 16 batches behind (a slow disk) gets no new batch: sync leaves
 * the rows in p for a later sync, so memory stays bounded; after a flush
 * the queue is empty, so sync + flush puts everything on disk. */
int store_writer_flush(struct store_writer *w);
int store_writer_close(struct store_writer *w, struct store_profile *p, char *err, size_t errlen);
/* open + sync + close */
int store_save(const char *path, struct store_profile *p, char *err, size_t errlen);

/* reader.c: loads a whole store.  Refuses, with a reason, a missing file,
 * a file that is not SQLite, a SQLite file that is not a sonda store, a
 * newer schema, a corrupt store. */
struct store_profile *store_load(const char *path, char *err, size_t errlen);

/* Rows per table as they are on disk (one sample key may span several
 * rows, one per writer sync), for `sonda info`.  Fills up to n entries in
 * the schema's table order and returns how many, or -1 with a reason. */
struct store_table_rows {
	const char *table;
	int64_t rows;
};
int store_count_rows(const char *path, struct store_table_rows *out, size_t n, char *err,
		     size_t errlen);
/* meta values ("sonda_version", "created", ...) into buf; -1 when absent. */
int store_meta(const char *path, const char *key, char *buf, size_t len);

#endif
