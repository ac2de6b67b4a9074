/* top-impl.h - what the files of `sonda top` share: state, data model, view operations. */
#ifndef SONDA_VIEWER_TOP_IMPL_H
#define SONDA_VIEWER_TOP_IMPL_H

#include <stdint.h>
#include <stdio.h>

#include "store/store.h"
#include "viewer/top.h"

/* ---- top-data.c: per-function and call-tree counters, kept incrementally.
 *
 * Every refresh diffs the store's stack rows (which only ever grow, by
 * index) against the weights seen last time, so a refresh costs the rows
 * that changed times their depth, not the whole profile.  All strings are
 * copied: the sampler may intern new ones while the view draws unlocked. */

struct top_key {		/* a function, or a line in lines mode */
	char *name, *file;
	int line;
};

struct top_fn {			/* a row of the function table */
	uint32_t key;		/* top_key index */
	uint32_t thread;	/* profile thread id when split, 0 merged */
	uint64_t self, total;	/* samples since the last reset */
	uint64_t wself, wtotal;	/* samples in the last refresh window */
	uint32_t stamp;		/* counts recursion once per stack */
};

struct top_node {		/* a call-tree node: a path of keys from a root */
	uint32_t parent, key, first, next, depth;
	uint64_t self, total, wself, wtotal;
	int open;
};

struct top_thread {
	uint32_t id;		/* profile thread id */
	int64_t tid;
	char *name;
	uint64_t samples, active, gil;		/* since reset */
	uint64_t wsamples, wactive, wgil;	/* last window */
};

struct top_hash {		/* open addressing, keys are 64-bit */
	uint64_t *k;
	uint32_t *v;
	uint32_t cap, n;
};

enum top_pass { TOP_PASS_AUTO, TOP_PASS_WALK, TOP_PASS_BULK };	/* tests force one */

struct top_data {
	/* Settings; changing one needs top_data_rebuild(). */
	int lines;		/* key by line rather than by function */
	int split;		/* one table row per (function, thread) */
	uint32_t thread;	/* show only this profile thread, 0 = all */
	int keyed_lines;	/* the lines setting the keys were made with */
	int tree;		/* keep call-tree counts (once a tree was shown) */
	int keyed_tree;

	/* Per store stack row: weight at the last reset, at the last
	 * refresh, and the last refresh's increase. */
	uint64_t *base, *prev, *win;
	uint32_t nrows, caprows;
	/* Per call site and per frame, mirrored so walks stay local. */
	uint32_t *cs_parent, *cs_key, *cs_node;
	uint8_t *cs_rec;		/* an ancestor has the same key */
	uint64_t *sub;			/* scratch: subtree sums of a bulk pass */
	uint32_t ncs, capcs;
	uint32_t *fr_key;
	uint32_t nfr, capfr;

	struct top_key *keys;
	uint32_t nkeys, capkeys;
	struct top_hash key_hash;	/* (function id, file id, line) -> key */
	struct top_fn *fns;		/* merged: fns[key]; split: hashed */
	uint32_t nfns, capfns;
	struct top_hash fn_hash;	/* (key, thread) -> fn, split only */
	struct top_node *nodes;		/* nodes[0] is the root */
	uint32_t nnodes, capnodes;
	struct top_hash node_hash;	/* (parent, key) -> node */
	uint32_t *touched;		/* nodes with window counts to clear */
	uint32_t ntouched, captouched;
	int touched_all;		/* a bulk pass touched any node */
	enum top_pass pass;
	struct top_thread *threads;	/* threads[id - 1] */
	uint32_t nthreads;

	uint64_t total, wtotal;		/* samples shown (thread filter) */
	uint64_t all, wall, active, wactive, gil, wgil;	/* every thread */
	uint32_t stamp;
	uint64_t generation;		/* bumps whenever counters change */
};

void top_data_init(struct top_data *d);
void top_data_free(struct top_data *d);
/* Reads what the profile gained since the last call (caller holds the lock). */
void top_data_update(struct top_data *d, struct store_profile *p);
/* Recounts everything after a settings change (caller holds the lock). */
void top_data_rebuild(struct top_data *d, struct store_profile *p);
/* Forgets the counts so far: cumulative columns restart from zero. */
void top_data_reset(struct top_data *d, struct store_profile *p);
const struct top_thread *top_data_thread(const struct top_data *d, uint32_t id);
/* "name (file:line)" of a key into buf. */
const char *top_key_label(const struct top_data *d, uint32_t key, char *buf, size_t n);

/* ---- top-source.c: where the data comes from. */

enum top_source_kind { TOP_SRC_FILE, TOP_SRC_LIVE, TOP_SRC_REGION };

struct top_info {		/* what the header says, copied */
	char what[256];		/* command line */
	char runtime[192];	/* "python 3.11.7" */
	char mode[32];
	int64_t pid;
	double rate_hz, achieved_hz, elapsed_s;
	uint64_t samples, missed, errors;
	char last_error[160];
	int target_exited, exit_status;
	int nthreads;
};

struct top_source {
	enum top_source_kind kind;
	struct store_profile *p;
	struct prof_sampler *sampler;
	struct store_writer *writer;
	struct store_profile *rp;	/* the target's libsonda region, if it has one */
	const char *path;	/* the store viewed or recorded */
	pid_t region_pid;
	char note[512];		/* why the view is less than asked for */
	double started;		/* monotonic seconds */
	int loaded;		/* a file source is read once */
};

int top_source_open(struct top_source *s, const struct view_top_options *o, int *usage,
		    char *err, size_t errlen);
void top_source_lock(struct top_source *s);
void top_source_unlock(struct top_source *s);
/* Reads the libsonda region again, if any (unlocked). */
int top_source_reload(struct top_source *s, char *err, size_t errlen);
/* Brings the writer up to date (locked). */
int top_source_poll(struct top_source *s, char *err, size_t errlen);
void top_source_info(struct top_source *s, struct top_info *in);
/* Stops the sampler first (the target resumes), then closes the writer. */
int top_source_close(struct top_source *s, char *err, size_t errlen);
double top_now(void);

/* ---- the views: one table of operations drives every view. */

struct top;

struct top_view {
	const char *name;
	/* Builds the visible rows again when the data or a setting changed. */
	void (*prepare)(struct top *t);
	int (*nrows)(struct top *t);
	/* The column header line and one row as text: drawn, and printed by
	 * --batch.  draw_head, when set, draws the header itself (to mark the
	 * sorted column). */
	void (*head_text)(struct top *t, char *buf, size_t n);
	void (*draw_head)(struct top *t, int y, int width);
	void (*row_text)(struct top *t, int row, char *buf, size_t n);
	/* Optional: a view that draws its whole body itself (flame graph). */
	void (*draw_body)(struct top *t, int y, int height, int width);
	/* Optional operations; NULL when the view has no such thing. */
	int (*match)(struct top *t, int row, const char *s);	/* search */
	uint64_t (*row_id)(struct top *t, int row);	/* follow */
	int (*find_id)(struct top *t, uint64_t id);
	void (*enter)(struct top *t, int row);
	void (*expand)(struct top *t, int row, int all);
	void (*collapse)(struct top *t, int row, int all);
	int (*parent)(struct top *t, int row);		/* row of the parent */
	int (*child)(struct top *t, int row);		/* row of the heaviest child */
	/* Sorting: how many sortable columns and their names. */
	int nsort;
	const char *const *sort_names;
};

enum top_view_id {
	TOP_VIEW_TABLE, TOP_VIEW_TREE, TOP_VIEW_FLAME, TOP_VIEW_THREADS, TOP_VIEW_HELP,
	TOP_VIEW_TASKS, TOP_VIEW_ALLOCS, TOP_NVIEWS
};

extern const struct top_view top_view_table, top_view_tree, top_view_flame,
	top_view_threads, top_view_help, top_view_tasks, top_view_allocs;

struct top_cursor {
	int row, top;		/* selected row, first row on screen */
};

enum top_prompt { TOP_PROMPT_NONE, TOP_PROMPT_SEARCH, TOP_PROMPT_FILTER, TOP_PROMPT_EXPORT };

/* Tracer rows copied from the profile for the Tasks and Allocations tabs. */
struct top_task {
	char *name;
	uint64_t calls;
	int64_t wall_ns, self_ns, cpu_ns, max_ns, p50_ns, p99_ns;
};

struct top_alloc {
	char *site;
	uint32_t callsite;
	uint64_t allocs, bytes, live_bytes, peak_bytes;
	double per_s;
};

struct top {
	struct top_source src;
	struct top_data data;
	struct top_info info;
	const struct view_top_options *opt;

	enum top_view_id view, back;	/* current view, and where ? / T / g return */
	struct top_cursor cur[TOP_NVIEWS];
	int sort[TOP_NVIEWS];		/* sort column per view */
	int invert;			/* ascending rather than descending */
	int paused, follow, quit, batch, colors;
	uint64_t follow_id;
	int rows_dirty;			/* the data or a setting changed */
	uint32_t flame_root;		/* node the flame graph starts at */

	/* Table view rows (indices into data.fns) and tree rows (nodes). */
	uint32_t *trows, ntrows, captrows;
	uint32_t *nrows_v, nnrows, capnrows;

	struct top_task *tasks;
	uint32_t ntasks;
	struct top_alloc *allocs;
	uint32_t nallocs;
	double last_poll;

	char search[256], filter[256];
	enum top_prompt prompt;
	char input[256];
	char msg[256];			/* one-line message above the key bar */
	int msg_error;
	int lines, cols;
	int body_h;			/* rows of the view's body on screen */
	double window_s;		/* length of the last refresh window */
};

/* top.c */
void top_refresh(struct top *t);	/* reads the source unless paused */
void top_settings_changed(struct top *t);	/* rebuild after L, m, threads */
void top_message(struct top *t, int error, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
const struct top_view *top_current(const struct top *t);
void top_set_view(struct top *t, enum top_view_id v);
int top_has_tasks(const struct top *t);
int top_has_allocs(const struct top *t);

/* top-draw.c */
enum top_color { TOP_C_NORMAL, TOP_C_HEAD, TOP_C_SORTED, TOP_C_SELECT, TOP_C_WARN,
		 TOP_C_BAR_KEY, TOP_C_BAR_LABEL, TOP_C_DIM, TOP_C_MATCH, TOP_C_FLAME1,
		 TOP_C_FLAME2, TOP_C_FLAME3, TOP_C_TAB };
void top_draw_init_colors(struct top *t);
void top_attr_on(struct top *t, enum top_color c);
void top_attr_off(struct top *t, enum top_color c);
void top_draw(struct top *t);
/* The header as text lines; *warn is the red line's index, or -1. */
int top_header_lines(struct top *t, char lines[][512], int max, int *warn);
void top_fmt_time(char *buf, size_t n, double s);
void top_fmt_ns(char *buf, size_t n, int64_t ns);
void top_fmt_bytes(char *buf, size_t n, uint64_t b);
double top_samples_to_s(const struct top *t, uint64_t samples);
/* Writes s clipped to width columns at (y, x); returns columns used. */
int top_put(int y, int x, const char *s, int width);
/* One row of a list view at line y; the selected row is highlighted across the width. */
void top_draw_line(struct top *t, int y, int width, int selected, const char *text);
/* Case-insensitive substring. */
int top_contains(const char *hay, const char *needle);

/* top-keys.c */
struct top_keydef {
	int keys[4];		/* 0-terminated */
	const char *label;	/* "1-4", shown in help */
	const char *help;
	const char *bar;	/* function-bar label, or NULL */
	const char *barkey;	/* "F1" */
	void (*run)(struct top *t, int key);
};
extern const struct top_keydef top_keys[];
extern const size_t top_nkeys;
void top_key(struct top *t, int key);
void top_cursor_fix(struct top *t);

/* top-snap.c: the current view as a profile of its own (s and e keys). */
struct store_profile *top_snap_profile(struct top *t, char *err, size_t errlen);
int top_snap_save(struct top *t, char *path, size_t pathlen, char *err, size_t errlen);
int top_export(struct top *t, const char *format, char *path, size_t pathlen,
	       char *err, size_t errlen);

/* top-view-table.c: the numeric columns, shared with the tree */
void top_format_numbers(struct top *t, char *buf, size_t n, uint64_t wself, uint64_t wtotal,
			uint64_t self, uint64_t total);
void top_draw_columns(struct top *t, int y, int width, int sorted, const char *last);
void top_columns_text(char *buf, size_t n, const char *last);
/* A list view's header and rows as lines of text, for --batch. */
void top_print_view(struct top *t, const struct top_view *v, FILE *f);

/* top-view-tree.c: shared with the flame graph */
uint32_t top_tree_node(struct top *t, int row);
int top_tree_row_of(struct top *t, uint32_t node);
void top_tree_open_heaviest(struct top *t, uint32_t node);

#endif
