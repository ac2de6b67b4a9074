/* viewer.h - what the viewer/ folder offers: aggregation, reports, exporters, diff.
 *
 * Everything here reads a store_profile and never changes it.  Shared by
 * `sonda report/export/diff` and the live `sonda top`.
 *
 * Aggregation (aggregate.c): self and total weight per function, per line
 * or per file.  Total counts a function once per stack however often it
 * recurses.  A struct view_agg keeps a memo per frame and per call site, so
 * re-running it on a growing profile (a live view refreshing every second)
 * costs O(new call sites) for the memo plus O(stacks + call sites) for the
 * sums: no stack is walked frame by frame.
 *
 * Errors: functions that can fail return 0 / non-NULL on success and -1 /
 * NULL on failure with a one-line reason in err (no "sonda:" prefix).
 */
#ifndef SONDA_VIEWER_H
#define SONDA_VIEWER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "store/store.h"

/* Which stacks count.  Every field zero (or a NULL filter) keeps all. */
struct view_filter {
	const uint32_t *threads;	/* profile thread ids (not tids) to keep */
	size_t nthreads;		/* 0: every thread */
	const uint32_t *sessions;	/* session ids to keep */
	size_t nsessions;		/* 0: every session */
	uint32_t state_any;	/* keep a stack only if its state has one of these bits */
	uint32_t state_none;	/* drop a stack if its state has one of these bits */
	/* A refresh window: weight already seen per stack index (store_stack_get),
	 * subtracted from the current weight; stacks at or past nbase count whole. */
	const uint64_t *base;
	uint32_t nbase;
	/* Read time-stamped samples (store_sample_get) instead of stacks, keeping
	 * those with from_ns <= time_ns < to_ns (to_ns 0: no upper bound). */
	int use_samples;
	int64_t from_ns, to_ns;
};

/* Does the stack (or sample) with these keys pass f?  Cheap; for callers
 * walking stacks themselves. */
int view_filter_keep(const struct view_filter *f, uint32_t session, uint32_t thread,
		     uint32_t state);
/* Calls fn once per kept stack (or sample) with its weight (minus the
 * base); rows of weight 0 are skipped. */
typedef void view_visit_fn(void *ctx, uint32_t session, uint32_t thread, uint32_t callsite,
			   uint32_t state, uint64_t weight);
void view_visit(const struct store_profile *p, const struct view_filter *f, view_visit_fn *fn,
		void *ctx);
/* One kept time-stamped sample, for exporters that lay samples out in time. */
struct view_sample {
	uint32_t session, thread, callsite;
	int64_t time_ns;
	uint64_t weight;
};
/* The samples f keeps, ordered by session, thread, time and call site (a
 * time bucket's samples share a time; the call site keeps their order the
 * same from run to run).  A refresh window (f->base) or a profile without
 * time-stamped samples gives its stacks instead, at time 0.  Returns a
 * malloc'd array of *n, or NULL when memory runs out. */
struct view_sample *view_samples_sorted(const struct store_profile *p,
					const struct view_filter *f, size_t *n);

/* ---- aggregate.c: self/total per function, line or file ---- */

enum view_by {
	VIEW_BY_FUNCTION,	/* (function, file, module) */
	VIEW_BY_LINE,		/* (function, file, module, line) */
	VIEW_BY_FILE,		/* (file, module); function is 0 */
};

struct view_row {
	uint32_t function, file, module;	/* string ids */
	int32_t line;				/* VIEW_BY_LINE only, else 0 */
	uint32_t kind;				/* enum store_kind of the first frame seen */
	uint64_t self;		/* weight of stacks whose leaf is this row */
	uint64_t total;		/* weight of stacks containing it, once per stack */
};

struct view_agg;

struct view_agg *view_agg_new(enum view_by by);
void view_agg_free(struct view_agg *a);
/* Recomputes self and total of every row from p.  Rows keep their index
 * from one run to the next (a row is never removed, only zeroed), so a
 * viewer can follow a function across refreshes.  Returns 0, or -1 when
 * memory runs out. */
int view_agg_run(struct view_agg *a, const struct store_profile *p, const struct view_filter *f);
uint32_t view_agg_nrows(const struct view_agg *a);
const struct view_row *view_agg_row(const struct view_agg *a, uint32_t i);
/* Sum of the kept weight: the 100% of self and total. */
uint64_t view_agg_weight(const struct view_agg *a);
/* The row index of a call site's frame (valid after a run). */
uint32_t view_agg_row_of(const struct view_agg *a, uint32_t callsite);

enum view_sort {
	VIEW_SORT_SELF,
	VIEW_SORT_TOTAL,
	VIEW_SORT_NAME,		/* function, then file, then line */
	VIEW_SORT_FILE,		/* file, then line, then function */
	VIEW_SORT_LINE,
};
/* Fills *order with the indices of rows whose self or total is non-zero,
 * sorted (numbers descending, names ascending; reverse flips it); returns
 * their number.  *order belongs to a and lives until the next sort/run. */
uint32_t view_agg_sort(struct view_agg *a, const struct store_profile *p, enum view_sort by,
		       int reverse, const uint32_t **order);

/* ---- per thread ---- */

struct view_thread_row {
	uint32_t thread;	/* profile thread id */
	int64_t tid;
	const char *name;	/* owned by the profile */
	uint64_t samples;	/* kept weight */
	uint64_t idle, gil, oncpu;	/* weight with those state bits */
};
/* One row per thread with samples that pass f, most samples first; *rows
 * is malloc'd, the caller frees it.  Returns the count, or -1. */
long view_threads(const struct store_profile *p, const struct view_filter *f,
		  struct view_thread_row **rows);

/* ---- tasks (tracer) ---- */

struct view_task_row {
	const char *name;	/* owned by the profile */
	int64_t tid;		/* 0: all threads merged */
	const char *thread;	/* thread name, "" when merged */
	uint32_t kind;		/* enum store_task_kind */
	uint64_t calls;
	int64_t wall_ns, self_ns, cpu_ns, min_ns, max_ns, p50_ns, p99_ns;
};
/* Task rows (callers/callees edge rows left out).  With tid 0, the rows
 * merged over threads (the tracer's own, or summed here when it wrote
 * none); otherwise that thread's rows.  Sorted by wall time.  Returns the
 * count, or -1; *rows is malloc'd. */
long view_tasks(const struct store_profile *p, int64_t tid, struct view_task_row **rows);

/* A function's callers or callees (-finstrument-functions edge rows):
 * calls and times of name when called from each caller, or of each
 * callee when called from name.  Merged over threads with tid 0.  Sorted
 * by wall time.  Returns the count, or -1; *edges is malloc'd. */
struct view_task_edge {
	const char *name;	/* the caller or the callee; owned by the profile */
	uint64_t calls;
	int64_t wall_ns, self_ns;
};
long view_task_edges(const struct store_profile *p, const char *name, int64_t tid, int callers,
		     struct view_task_edge **edges);

/* ---- allocations (tracer) ---- */

struct view_alloc_row {
	uint32_t callsite;	/* the site's stack (leaf); its frame is the row's line */
	uint32_t function, file, module;	/* string ids of the leaf frame */
	int32_t line;
	uint64_t allocs, frees, bytes, live_count, live_bytes, peak_bytes;
	int64_t size_diff, count_diff;	/* view_alloc_compare only */
};
/* Allocation sites summed per leaf line (tracemalloc 'lineno'), or per
 * whole stack with by_stack (--traceback).  snapshot 0 reads the final
 * stats, otherwise that snapshot's (frees = allocs - live count, no peak).
 * Sorted by bytes (by live bytes for a snapshot). Returns the count or -1. */
long view_allocs(const struct store_profile *p, uint32_t snapshot, int by_stack,
		 struct view_alloc_row **rows);
/* Growth per site from snapshot a to snapshot b, largest |size_diff|
 * first (tracemalloc compare_to); bytes/live_* are b's. */
long view_alloc_compare(const struct store_profile *p, uint32_t a, uint32_t b, int by_stack,
			struct view_alloc_row **rows);
/* The snapshot id with this label (the last one when repeated), 0 if none. */
uint32_t view_snapshot_find(const struct store_profile *p, const char *label);

/* ---- format.c: names and escaping ---- */

/* "function (file:line)", or "function" when the line is not known
 * ("[unknown]" for an empty name); writes at most n bytes (always terminated); returns the
 * length it needed, like snprintf. */
int view_frame_label(const struct store_profile *p, uint32_t frame, char *buf, size_t n);
/* Writes s as a JSON string (quotes included): control characters as
 * \u00XX, invalid UTF-8 bytes as U+FFFD. */
void view_json_string(FILE *f, const char *s);
/* Writes s escaped for XML text and attributes; characters XML forbids and
 * invalid UTF-8 become U+FFFD. */
void view_xml_string(FILE *f, const char *s);
/* Number of terminal columns s takes (UTF-8 aware; invalid bytes count 1). */
size_t view_text_width(const char *s);
/* Writes s cut to at most width columns, ending in an ellipsis ("…" with
 * utf8, else "...") when cut; pads with spaces to width when pad. */
void view_text_fit(FILE *f, const char *s, size_t width, int utf8, int pad);

/* Columns to fit a table into: $COLUMNS when set, else the terminal's
 * width when fd is one, else 0 (no limit). */
int view_term_width(int fd);
/* Whether the locale's character set is UTF-8 (for "…"). */
int view_term_utf8(void);

/* ---- flame.c: a call tree merged by frame label ---- */

struct view_flame_node {
	const char *name;	/* frame label; owned by the tree */
	uint32_t frame;		/* a frame id with that label (0 for thread roots) */
	uint32_t parent;	/* node index; node 0 is the root ("all") */
	uint32_t first_child, next_sibling;	/* 0 = none */
	uint32_t depth;		/* 0 for the root */
	uint64_t value;		/* weight of the stacks through this node */
	uint64_t self;		/* weight of the stacks ending here */
};

enum view_weight {
	VIEW_WEIGHT_SAMPLES,	/* stack weights (sample counts) */
	VIEW_WEIGHT_ALLOC_BYTES,	/* allocation sites: bytes allocated */
	VIEW_WEIGHT_LIVE_BYTES,	/* allocation sites: live bytes */
	VIEW_WEIGHT_ALLOCS,	/* allocation sites: allocation count */
};

struct view_flame {
	struct view_flame_node *nodes;
	uint32_t n;
	uint32_t max_depth;
	/* private: the labels the nodes point into */
	char **names;
	uint32_t nnames;
	size_t cap;
};
/* Builds the tree of kept stacks (or allocation sites), siblings ordered by
 * name; with threads, each thread is a child of the root named
 * "thread TID (NAME)". Returns 0 or -1. */
int view_flame_build(struct view_flame *t, const struct store_profile *p,
		     const struct view_filter *f, enum view_weight w, int threads);
void view_flame_free(struct view_flame *t);

/* ---- exporters (export-*.c) ---- */

enum view_format {
	VIEW_FORMAT_FOLDED,
	VIEW_FORMAT_SVG,
	VIEW_FORMAT_SPEEDSCOPE,
	VIEW_FORMAT_CHROME,
	VIEW_FORMAT_PPROF,
};

struct view_export_opts {
	const struct view_filter *filter;	/* NULL: everything */
	enum view_weight weight;
	int threads;		/* folded, svg: a "thread TID (NAME)" root frame per stack */
	int inverted;		/* svg: root at the top (icicle) */
	const char *title;	/* svg: NULL for the default */
};

/* "folded", "svg", ...: 0, or -1 when unknown. */
int view_format_parse(const char *name, enum view_format *fmt);
/* Writes p in fmt to f.  Returns 0, or -1 with a reason (a write error
 * included: errno is left set, so EPIPE can be told apart). */
int view_export(FILE *f, const struct store_profile *p, enum view_format fmt,
		const struct view_export_opts *o, char *err, size_t errlen);
int view_export_folded(FILE *f, const struct store_profile *p, const struct view_export_opts *o,
		       char *err, size_t errlen);
int view_export_svg(FILE *f, const struct store_profile *p, const struct view_export_opts *o,
		    char *err, size_t errlen);
int view_export_speedscope(FILE *f, const struct store_profile *p,
			   const struct view_export_opts *o, char *err, size_t errlen);
int view_export_chrome(FILE *f, const struct store_profile *p, const struct view_export_opts *o,
		       char *err, size_t errlen);
int view_export_pprof(FILE *f, const struct store_profile *p, const struct view_export_opts *o,
		      char *err, size_t errlen);

/* ---- report.c: the tables of `sonda report` ---- */

enum view_report_by {
	VIEW_REPORT_FUNCTION, VIEW_REPORT_LINE, VIEW_REPORT_FILE,
	VIEW_REPORT_THREAD, VIEW_REPORT_TASK, VIEW_REPORT_ALLOC,
};
enum view_report_format { VIEW_TABLE, VIEW_CSV, VIEW_JSON };

struct view_report_opts {
	enum view_report_by by;
	enum view_report_format format;
	long limit;		/* rows; 0: all */
	const int64_t *tids;	/* keep these threads (tids); ntids 0: all */
	size_t ntids;
	const char *sort;	/* a column (JSON key); NULL: the default */
	int width;		/* table: cut rows to this many columns; 0: no limit */
	int ellipsis_utf8;	/* "…" rather than "..." when cutting */
	/* --by alloc */
	const char *snapshot;	/* label */
	const char *compare_a, *compare_b;	/* labels */
	int traceback;		/* whole stacks */
	int leaks;		/* live at the end, by stack */
	/* --by task */
	int callers;		/* each function's callers and callees */
};

int view_report(FILE *f, const struct store_profile *p, const struct view_report_opts *o,
		char *err, size_t errlen);

/* ---- diff.c ---- */

struct view_diff_opts {
	enum view_report_format format;	/* table or json */
	long limit;
	int width;		/* table: cut rows to this many columns; 0: no limit */
	int ellipsis_utf8;
};
/* Per function (matched by name, file, module), self and total percent in
 * base and cur and their change, largest change of self percent first. */
int view_diff(FILE *f, const struct store_profile *base, const struct store_profile *cur,
	      const struct view_diff_opts *o, char *err, size_t errlen);

#endif
