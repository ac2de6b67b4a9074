/* report.c - the tables of `sonda report`: rows per function, line, file, thread, task or allocation site, as a table, CSV or JSON. */
#include "config.h"

#include "viewer/table.h"

#include <stdlib.h>
#include <string.h>

/* ---- building the grids ---- */

static const struct col function_cols[] = {
	{ "function", "FUNCTION", T_STR, 5, 1 },
	{ "file", "FILE", T_STR, 0, 1 },
	{ "line", "LINE", T_INT, 0, 1 },
	{ "module", "MODULE", T_STR, 0, 1 },
	{ "self", "SELF", T_INT, 1, 1 },
	{ "total", "TOTAL", T_INT, 3, 1 },
	{ "self_pct", "SELF%", T_PCT, 2, 1 },
	{ "total_pct", "TOTAL%", T_PCT, 4, 1 },
	{ "location", "LOCATION", T_STR, 6, 0 },
};
enum { FC_FUNCTION, FC_FILE, FC_LINE, FC_MODULE, FC_SELF, FC_TOTAL, FC_SELF_PCT,
       FC_TOTAL_PCT, FC_LOCATION, FC_N };

static double pct(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

static const char *location(struct grid *g, const struct store_profile *p, uint32_t file,
			    int32_t line, uint32_t module)
{
	const char *fs = store_string(p, file);

	if (!*fs)
		return store_string(p, module);
	if (line > 0)
		return view_grid_printf(g, "%s:%d", fs, (int)line);
	return fs;
}

static int thread_filter(const struct store_profile *p, const struct view_report_opts *o,
			 uint32_t **ids, size_t *n, char *err, size_t errlen)
{
	*ids = NULL;
	*n = 0;
	if (!o->ntids)
		return 0;
	*ids = malloc(store_nthreads(p) * sizeof(**ids) + 1);
	if (!*ids) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t k = 0; k < o->ntids; k++) {
		size_t before = *n;

		for (uint32_t i = 1; i < store_nthreads(p); i++)
			if (store_thread_get(p, i)->tid == o->tids[k])
				(*ids)[(*n)++] = i;
		if (*n == before) {
			snprintf(err, errlen, "no thread %lld in this profile", (long long)o->tids[k]);
			free(*ids);
			*ids = NULL;
			return -1;
		}
	}
	return 0;
}

static void session_title(struct grid *g, const struct store_profile *p, uint64_t weight,
			  const char *what)
{
	uint32_t ns = store_nsessions(p);
	const struct store_session *s = ns > 1 ? store_session_get((struct store_profile *)p, 1) : NULL;

	if (s)
		g->title = view_grid_printf(g, "%s (pid %lld%s%s): %llu %s%s", s->command && *s->command ?
				       s->command : "?", (long long)s->pid,
				       s->rate_hz > 0 ? ", " : "",
				       s->rate_hz > 0 ? view_grid_printf(g, "%g Hz", s->rate_hz) : "",
				       (unsigned long long)weight, what,
				       ns > 2 ? view_grid_printf(g, " in %u sessions", ns - 1) : "");
}

static int build_functions(struct grid *g, const struct store_profile *p,
			   const struct view_report_opts *o, const struct view_filter *f)
{
	enum view_by by = o->by == VIEW_REPORT_LINE ? VIEW_BY_LINE :
			  o->by == VIEW_REPORT_FILE ? VIEW_BY_FILE : VIEW_BY_FUNCTION;
	struct view_agg *a = view_agg_new(by);
	const uint32_t *order;
	uint32_t n;

	view_grid_cols(g, function_cols, FC_N);
	g->cols[FC_LINE].data = by == VIEW_BY_LINE;
	if (by == VIEW_BY_FILE) {
		g->cols[FC_FUNCTION].table = 0;
		g->cols[FC_LOCATION].head = "FILE";
	}
	if (!a || view_agg_run(a, p, f) < 0) {
		view_agg_free(a);
		return -1;
	}
	session_title(g, p, view_agg_weight(a), "samples");
	n = view_agg_sort(a, p, VIEW_SORT_SELF, 0, &order);
	for (uint32_t i = 0; i < n; i++) {
		const struct view_row *r = view_agg_row(a, order[i]);
		struct cell *c = view_grid_row(g);
		const char *fn = store_string(p, r->function);

		if (!c)
			break;
		c[FC_FUNCTION].s = by == VIEW_BY_FILE ? "" : *fn ? fn : "[unknown]";
		c[FC_FILE].s = store_string(p, r->file);
		c[FC_LINE].i = r->line;
		c[FC_MODULE].s = store_string(p, r->module);
		c[FC_SELF].i = (int64_t)r->self;
		c[FC_TOTAL].i = (int64_t)r->total;
		c[FC_SELF_PCT].d = pct(r->self, view_agg_weight(a));
		c[FC_TOTAL_PCT].d = pct(r->total, view_agg_weight(a));
		c[FC_LOCATION].s = location(g, p, r->file, by == VIEW_BY_LINE ? r->line : 0,
					    r->module);
	}
	view_agg_free(a);
	return g->failed ? -1 : 0;
}

static const struct col thread_cols[] = {
	{ "tid", "TID", T_INT, 1, 1 },
	{ "name", "NAME", T_STR, 6, 1 },
	{ "samples", "SAMPLES", T_INT, 2, 1 },
	{ "pct", "PCT", T_PCT, 3, 1 },
	{ "idle_pct", "IDLE%", T_PCT, 4, 0 },
	{ "gil_pct", "GIL%", T_PCT, 5, 0 },
};

static int build_threads(struct grid *g, const struct store_profile *p,
			 const struct view_filter *f)
{
	struct view_thread_row *rows;
	long n = view_threads(p, f, &rows);
	uint64_t all = 0;

	view_grid_cols(g, thread_cols, 6);
	if (n < 0)
		return -1;
	for (long i = 0; i < n; i++)
		all += rows[i].samples;
	session_title(g, p, all, "samples");
	for (long i = 0; i < n; i++) {
		struct cell *c = view_grid_row(g);

		if (!c)
			break;
		c[0].i = rows[i].tid;
		c[1].s = rows[i].name;
		c[2].i = (int64_t)rows[i].samples;
		c[3].d = pct(rows[i].samples, all);
		c[4].d = pct(rows[i].idle, rows[i].samples);
		c[5].d = pct(rows[i].gil, rows[i].samples);
	}
	free(rows);
	return g->failed ? -1 : 0;
}

static const struct col task_cols[] = {
	{ "name", "NAME", T_STR, 12, 1 },
	{ "thread", "TID", T_INT, 0, 1 },
	{ "calls", "CALLS", T_INT, 2, 1 },
	{ "wall_ns", "WALL", T_NS, 3, 1 },
	{ "self_ns", "SELF", T_NS, 4, 1 },
	{ "cpu_ns", "CPU", T_NS, 6, 1 },
	{ "min_ns", "MIN", T_NS, 8, 1 },
	{ "max_ns", "MAX", T_NS, 11, 1 },
	{ "p50_ns", "P50", T_NS, 9, 1 },
	{ "p99_ns", "P99", T_NS, 10, 1 },
	{ "avg_ns", "AVG", T_NS, 5, 0 },
	{ "cpu_pct", "CPU%", T_PCT, 7, 0 },
	{ "thread_name", "THREAD", T_STR, 1, 0 },
	{ "kind", "KIND", T_STR, 13, 0 },
};

/* Appends a row's callers and callees: lines under it in the table,
 * "callers" and "callees" arrays of objects in JSON. */
static int add_edges(struct grid *g, const struct store_profile *p, const struct view_task_row *t)
{
	struct view_task_edge *e[2];
	long n[2];
	const char **lines;
	size_t nl = 0, len = 0;
	char *json = NULL;
	FILE *m;

	n[0] = view_task_edges(p, t->name, t->tid, 1, &e[0]);
	n[1] = view_task_edges(p, t->name, t->tid, 0, &e[1]);
	lines = calloc((size_t)(n[0] > 0 ? n[0] : 0) + (size_t)(n[1] > 0 ? n[1] : 0) + 1,
		       sizeof(*lines));
	m = open_memstream(&json, &len);
	if (n[0] < 0 || n[1] < 0 || !lines || !m) {
		if (m)
			fclose(m);
		free(json);
		free(lines);
		free(n[0] >= 0 ? e[0] : NULL);
		free(n[1] >= 0 ? e[1] : NULL);
		g->failed = 1;
		return -1;
	}
	for (int side = 0; side < 2; side++) {
		fprintf(m, ", \"%s\": [", side ? "callees" : "callers");
		for (long i = 0; i < n[side]; i++) {
			const struct view_task_edge *x = &e[side][i];
			char wall[32];

			fprintf(m, "%s{\"name\": ", i ? ", " : "");
			view_json_string(m, x->name);
			fprintf(m, ", \"calls\": %llu, \"wall_ns\": %lld, \"self_ns\": %lld}",
				(unsigned long long)x->calls, (long long)x->wall_ns,
				(long long)x->self_ns);
			view_grid_fmt_ns(wall, sizeof(wall), x->wall_ns);
			lines[nl++] = view_grid_printf(g, "%s %s: %llu calls, %s", side ? "->" : "<-",
						       x->name, (unsigned long long)x->calls, wall);
		}
		fputc(']', m);
		free(e[side]);
	}
	fclose(m);
	g->extra[g->nrows - 1] = json ? view_grid_printf(g, "%s", json) : NULL;
	free(json);
	g->tracebacks[g->nrows - 1] = lines;
	g->tb_table_only = 1;
	return 0;
}

static int build_tasks(struct grid *g, const struct store_profile *p,
		       const struct view_report_opts *o, char *err, size_t errlen)
{
	static const char *kinds[] = { "task", "span", "function" };
	struct view_task_row *rows;
	long n;

	view_grid_cols(g, task_cols, 14);
	if (o->ntids > 1) {
		snprintf(err, errlen, "--by task takes one --thread");
		return -1;
	}
	n = view_tasks(p, o->ntids ? o->tids[0] : 0, &rows);
	if (n < 0)
		return -1;
	for (long i = 0; i < n; i++) {
		const struct view_task_row *t = &rows[i];
		struct cell *c = view_grid_row(g);

		if (!c)
			break;
		c[0].s = t->name;
		c[1].i = t->tid;
		c[2].i = (int64_t)t->calls;
		c[3].i = t->wall_ns;
		c[4].i = t->self_ns;
		c[5].i = t->cpu_ns;
		c[6].i = t->min_ns;
		c[7].i = t->max_ns;
		c[8].i = t->p50_ns;
		c[9].i = t->p99_ns;
		c[10].i = t->calls ? t->wall_ns / (int64_t)t->calls : 0;
		c[11].d = pct((uint64_t)(t->cpu_ns > 0 ? t->cpu_ns : 0),
			      (uint64_t)(t->wall_ns > 0 ? t->wall_ns : 0));
		c[12].s = t->tid ? view_grid_printf(g, "%lld %s", (long long)t->tid, t->thread) : "all";
		c[13].s = t->kind < 3 ? kinds[t->kind] : "?";
		if (o->callers && t->kind == STORE_TASK_FUNCTION && add_edges(g, p, t) < 0)
			break;
	}
	free(rows);
	if (!g->failed && !n)
		g->title = "no tasks in this profile (they come from libsonda: sonda run)";
	return g->failed ? -1 : 0;
}

static const struct col alloc_cols[] = {
	{ "function", "FUNCTION", T_STR, 7, 1 },
	{ "file", "FILE", T_STR, 0, 1 },
	{ "line", "LINE", T_INT, 0, 1 },
	{ "allocs", "ALLOCS", T_INT, 2, 1 },
	{ "frees", "FREES", T_INT, 3, 1 },
	{ "bytes", "BYTES", T_BYTES, 1, 1 },
	{ "live_bytes", "LIVE", T_BYTES, 4, 1 },
	{ "peak_bytes", "PEAK", T_BYTES, 6, 1 },
	{ "live_count", "LIVE#", T_INT, 5, 0 },
	{ "location", "LOCATION", T_STR, 8, 0 },
};

static const struct col compare_cols[] = {
	{ "function", "FUNCTION", T_STR, 5, 1 },
	{ "file", "FILE", T_STR, 0, 1 },
	{ "line", "LINE", T_INT, 0, 1 },
	{ "size", "SIZE", T_BYTES, 2, 1 },
	{ "size_diff", "SIZE+/-", T_BYTES, 1, 1 },
	{ "count", "COUNT", T_INT, 4, 1 },
	{ "count_diff", "COUNT+/-", T_INT, 3, 1 },
	{ "location", "LOCATION", T_STR, 6, 0 },
};

/* Frame labels of a call site, leaf first, NULL-terminated. */
static const char **traceback(struct grid *g, const struct store_profile *p, uint32_t cs)
{
	const struct store_callsite *c = store_callsite_get(p, cs);
	uint32_t depth = c->depth < 1024 ? c->depth : 1024, n = 0;
	const char **t = calloc(depth + 1, sizeof(*t));
	char buf[1024];

	if (!t) {
		g->failed = 1;
		return NULL;
	}
	while (cs && n < depth) {
		c = store_callsite_get(p, cs);
		view_frame_label(p, c->frame, buf, sizeof(buf));
		t[n++] = view_grid_printf(g, "%s", buf);
		cs = c->parent < cs ? c->parent : 0;
	}
	return t;
}

/* "traced memory at snapshot 'exit': current N B, peak M B" (tracemalloc's
 * get_traced_memory) for the snapshot shown, by default the last one. */
static void traced_title(struct grid *g, const struct store_profile *p, uint32_t snap, uint32_t b)
{
	const struct store_snapshot *s, *t;

	if (!snap)
		snap = store_nsnapshots(p) - 1;
	if (!snap)
		return;
	s = store_snapshot_get(p, snap);
	if (!s->peak_bytes)
		return;	/* a store written before the columns */
	if (!b) {
		g->title = view_grid_printf(g, "traced memory at snapshot '%s': current %llu B, peak %llu B",
					    s->label, (unsigned long long)s->live_bytes,
					    (unsigned long long)s->peak_bytes);
		return;
	}
	t = store_snapshot_get(p, b);
	g->title = view_grid_printf(g, "traced memory: '%s' current %llu B, peak %llu B; '%s' current %llu B, peak %llu B",
				    s->label, (unsigned long long)s->live_bytes, (unsigned long long)s->peak_bytes,
				    t->label, (unsigned long long)t->live_bytes, (unsigned long long)t->peak_bytes);
}

static int build_allocs(struct grid *g, const struct store_profile *p,
			const struct view_report_opts *o, char *err, size_t errlen)
{
	struct view_alloc_row *rows;
	uint32_t snap = 0, a = 0, b = 0;
	int by_stack = o->traceback || o->leaks;
	long n;

	if (o->snapshot && !(snap = view_snapshot_find(p, o->snapshot))) {
		snprintf(err, errlen, "no snapshot labelled '%s' in this profile", o->snapshot);
		return -1;
	}
	if (o->compare_a && !(a = view_snapshot_find(p, o->compare_a))) {
		snprintf(err, errlen, "no snapshot labelled '%s' in this profile", o->compare_a);
		return -1;
	}
	if (o->compare_b && !(b = view_snapshot_find(p, o->compare_b))) {
		snprintf(err, errlen, "no snapshot labelled '%s' in this profile", o->compare_b);
		return -1;
	}
	view_grid_cols(g, alloc_cols, 10);
	if (a) {
		view_grid_cols(g, compare_cols, 8);
		n = view_alloc_compare(p, a, b, by_stack, &rows);
	} else {
		n = view_allocs(p, snap, by_stack, &rows);
	}
	if (n < 0)
		return -1;
	for (long i = 0; i < n; i++) {
		const struct view_alloc_row *r = &rows[i];
		const char *fn = store_string(p, r->function);
		struct cell *c;

		if (o->leaks && !r->live_bytes && !r->live_count)
			continue;
		if (!(c = view_grid_row(g)))
			break;
		c[0].s = *fn ? fn : "[unknown]";
		c[1].s = store_string(p, r->file);
		c[2].i = r->line;
		if (a) {
			c[3].i = (int64_t)r->live_bytes;
			c[4].i = r->size_diff;
			c[5].i = (int64_t)r->live_count;
			c[6].i = r->count_diff;
			c[7].s = location(g, p, r->file, r->line, r->module);
		} else {
			c[3].i = (int64_t)r->allocs;
			c[4].i = (int64_t)r->frees;
			c[5].i = (int64_t)r->bytes;
			c[6].i = (int64_t)r->live_bytes;
			c[7].i = (int64_t)r->peak_bytes;
			c[8].i = (int64_t)r->live_count;
			c[9].s = location(g, p, r->file, r->line, r->module);
		}
		if (by_stack)
			g->tracebacks[g->nrows - 1] = traceback(g, p, r->callsite);
	}
	free(rows);
	traced_title(g, p, a ? a : snap, b);
	if (!g->failed && !store_nallocs(p) && !store_nsnapshot_sites(p))
		g->title = "no allocation data in this profile (it comes from sonda run --alloc)";
	return g->failed ? -1 : 0;
}

static const char *default_sort(const struct view_report_opts *o)
{
	switch (o->by) {
	case VIEW_REPORT_THREAD: return "samples";
	case VIEW_REPORT_TASK: return "wall_ns";
	case VIEW_REPORT_ALLOC:
		if (o->compare_a)
			return NULL;	/* already in compare_to order */
		return o->snapshot || o->leaks ? "live_bytes" : "bytes";
	default: return NULL;	/* built by self, then total */
	}
}

int view_report(FILE *f, const struct store_profile *p, const struct view_report_opts *o,
		char *err, size_t errlen)
{
	struct grid g = { 0 };
	struct view_filter filter = { 0 };
	uint32_t *ids;
	size_t nids, nrows;
	const char *sort = o->sort ? o->sort : default_sort(o);
	int rc = -1;

	if (thread_filter(p, o, &ids, &nids, err, errlen) < 0)
		return -1;
	filter.threads = ids;
	filter.nthreads = nids;
	snprintf(err, errlen, "out of memory");
	switch (o->by) {
	case VIEW_REPORT_THREAD: rc = build_threads(&g, p, &filter); break;
	case VIEW_REPORT_TASK: rc = build_tasks(&g, p, o, err, errlen); break;
	case VIEW_REPORT_ALLOC: rc = build_allocs(&g, p, o, err, errlen); break;
	default: rc = build_functions(&g, p, o, &filter);
	}
	free(ids);
	if (rc < 0)
		goto out;
	if (sort) {
		int c = view_grid_col(&g, sort);

		if (c < 0) {
			char keys[512];

			view_grid_keys(&g, keys, sizeof(keys));
			snprintf(err, errlen, "cannot sort by '%s'; columns: %s", sort, keys);
			rc = -1;
			goto out;
		}
		if (view_grid_sort(&g, c) < 0) {
			rc = -1;
			goto out;
		}
	}
	nrows = o->limit > 0 && (size_t)o->limit < g.nrows ? (size_t)o->limit : g.nrows;
	rc = view_grid_print(f, &g, nrows, o->format, o->width, o->ellipsis_utf8, err, errlen);
out:
	view_grid_free(&g);
	return rc;
}
