/* stats.c - the tracer's tables as rows: tasks merged over threads, allocation sites per line or stack. */
#include "config.h"

#include "viewer/viewer.h"

#include <stdlib.h>
#include <string.h>

struct task_ref {
	const struct store_task *t;
	const char *name;
};

static int cmp_task_ref(const void *a, const void *b)
{
	const struct task_ref *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	if (x->t->kind != y->t->kind)
		return x->t->kind < y->t->kind ? -1 : 1;
	return x->t->thread < y->t->thread ? -1 : x->t->thread > y->t->thread;
}

static int cmp_task_rows(const void *a, const void *b)
{
	const struct view_task_row *x = a, *y = b;

	if (x->wall_ns != y->wall_ns)
		return x->wall_ns < y->wall_ns ? 1 : -1;
	return strcmp(x->name, y->name);
}

/* A histogram quantile is a bucket's midpoint: keep it within the
 * exact min and max, so p99 never reads above the slowest call. */
static int64_t quantile(const uint32_t *hist, double q, const struct view_task_row *row)
{
	int64_t v = store_hist_quantile(hist, q);

	if (v < row->min_ns)
		v = row->min_ns;
	if (row->max_ns && v > row->max_ns)
		v = row->max_ns;
	return v;
}

/* Sums refs[0..n) (one name and kind) into a row; with merged rows present
 * only those count, as the per-thread rows are already inside them. */
static void task_merge(const struct store_profile *p, const struct task_ref *refs, size_t n,
		       int64_t tid, struct view_task_row *row)
{
	uint32_t hist[STORE_HIST_BUCKETS];
	int merged = 0;

	for (size_t i = 0; i < n; i++)
		merged |= refs[i].t->thread == 0;
	memset(hist, 0, sizeof(hist));
	memset(row, 0, sizeof(*row));
	row->name = refs[0].name;
	row->kind = refs[0].t->kind;
	row->tid = tid;
	row->thread = "";
	for (size_t i = 0; i < n; i++) {
		const struct store_task *t = refs[i].t;

		if (tid == 0 && merged && t->thread != 0)
			continue;
		if (tid != 0)
			row->thread = store_thread_get(p, t->thread)->name;
		if (t->calls && (!row->calls || t->min_ns < row->min_ns))
			row->min_ns = t->min_ns;
		if (t->max_ns > row->max_ns)
			row->max_ns = t->max_ns;
		row->calls += t->calls;
		row->wall_ns += t->wall_ns;
		row->self_ns += t->self_ns;
		row->cpu_ns += t->cpu_ns;
		for (unsigned b = 0; b < STORE_HIST_BUCKETS; b++)
			hist[b] += t->hist[b];
	}
	/* No histogram (a writer that keeps none): no percentiles, rather
	 * than the min passed off as one. */
	for (unsigned b = 0; b < STORE_HIST_BUCKETS && !row->p99_ns; b++)
		row->p99_ns = hist[b] != 0;
	if (row->calls && row->p99_ns) {
		row->p50_ns = quantile(hist, 0.50, row);
		row->p99_ns = quantile(hist, 0.99, row);
	}
	if (!row->thread)
		row->thread = "";
}

long view_tasks(const struct store_profile *p, int64_t tid, struct view_task_row **rows)
{
	uint32_t nt = store_ntasks(p);
	struct task_ref *refs = malloc((nt ? nt : 1) * sizeof(*refs));
	size_t n = 0, i, j;
	long out = 0;

	*rows = NULL;
	if (!refs)
		return -1;
	for (uint32_t k = 0; k < nt; k++) {
		const struct store_task *t = store_task_get(p, k);

		/* Function caller/callee edges are not rows of this table. */
		if (t->parent)
			continue;
		if (tid && (t->thread == 0 || store_thread_get(p, t->thread)->tid != tid))
			continue;
		refs[n++] = (struct task_ref){ t, store_string(p, t->name) };
	}
	qsort(refs, n, sizeof(*refs), cmp_task_ref);
	*rows = calloc(n ? n : 1, sizeof(**rows));
	if (!*rows) {
		free(refs);
		return -1;
	}
	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n && !strcmp(refs[j].name, refs[i].name) &&
				refs[j].t->kind == refs[i].t->kind &&
				(!tid || refs[j].t->thread == refs[i].t->thread); j++)
			;
		task_merge(p, refs + i, j - i, tid, &(*rows)[out++]);
	}
	free(refs);
	qsort(*rows, (size_t)out, sizeof(**rows), cmp_task_rows);
	return out;
}

static int cmp_edges(const void *a, const void *b)
{
	const struct view_task_edge *x = a, *y = b;

	if (x->wall_ns != y->wall_ns)
		return x->wall_ns < y->wall_ns ? 1 : -1;
	return strcmp(x->name, y->name);
}

long view_task_edges(const struct store_profile *p, const char *name, int64_t tid, int callers,
		     struct view_task_edge **edges)
{
	uint32_t nt = store_ntasks(p), id = 0;
	long n = 0;
	int merged = 0;

	*edges = calloc(nt ? nt : 1, sizeof(**edges));
	if (!*edges)
		return -1;
	/* The name's string id: edge rows name their ends by id. */
	for (uint32_t k = 0; k < nt && !id; k++) {
		const struct store_task *t = store_task_get(p, k);

		if (!strcmp(store_string(p, t->name), name))
			id = t->name;
	}
	for (uint32_t k = 0; k < nt && id; k++) {
		const struct store_task *t = store_task_get(p, k);

		merged |= t->parent && t->thread == 0 && (callers ? t->name : t->parent) == id;
	}
	for (uint32_t k = 0; k < nt && id; k++) {
		const struct store_task *t = store_task_get(p, k);
		const char *other;
		long i;

		if (!t->parent || (callers ? t->name : t->parent) != id)
			continue;
		if (tid ? t->thread == 0 || store_thread_get(p, t->thread)->tid != tid :
			  merged && t->thread != 0)
			continue;
		other = store_string(p, callers ? t->parent : t->name);
		for (i = 0; i < n && strcmp((*edges)[i].name, other); i++)
			;
		if (i == n)
			(*edges)[n++].name = other;
		(*edges)[i].calls += t->calls;
		(*edges)[i].wall_ns += t->wall_ns;
		(*edges)[i].self_ns += t->self_ns;
	}
	qsort(*edges, (size_t)n, sizeof(**edges), cmp_edges);
	return n;
}

uint32_t view_snapshot_find(const struct store_profile *p, const char *label)
{
	uint32_t found = 0;

	for (uint32_t i = 1; i < store_nsnapshots(p); i++) {
		const struct store_snapshot *s = store_snapshot_get(p, i);

		if (s->label && !strcmp(s->label, label))
			found = i;
	}
	return found;
}

/* Allocation rows keyed for grouping: by stack, or by the leaf's line. */
static void alloc_key(const struct store_profile *p, struct view_alloc_row *r)
{
	const struct store_callsite *cs = store_callsite_get(p, r->callsite);
	const struct store_frame *fr = store_frame_get(p, cs->frame);

	r->function = fr->function;
	r->file = fr->file;
	r->module = fr->module;
	r->line = fr->line;
}

static int cmp_alloc_key(const void *a, const void *b, void *arg)
{
	const struct view_alloc_row *x = a, *y = b;
	int by_stack = *(int *)arg;

	if (by_stack)
		return x->callsite < y->callsite ? -1 : x->callsite > y->callsite;
	if (x->function != y->function)
		return x->function < y->function ? -1 : 1;
	if (x->file != y->file)
		return x->file < y->file ? -1 : 1;
	if (x->module != y->module)
		return x->module < y->module ? -1 : 1;
	return x->line < y->line ? -1 : x->line > y->line;
}

static int same_key(const struct view_alloc_row *x, const struct view_alloc_row *y, int by_stack)
{
	return !cmp_alloc_key(x, y, &by_stack);
}

/* Sorts and merges rows with the same key in place; returns the new count. */
static long alloc_group(struct view_alloc_row *rows, long n, int by_stack)
{
	long out = 0;

	qsort_r(rows, (size_t)n, sizeof(*rows), cmp_alloc_key, &by_stack);
	for (long i = 0; i < n; i++) {
		struct view_alloc_row *r = &rows[i];

		if (out && same_key(&rows[out - 1], r, by_stack)) {
			struct view_alloc_row *m = &rows[out - 1];

			m->allocs += r->allocs;
			m->frees += r->frees;
			m->bytes += r->bytes;
			m->live_count += r->live_count;
			m->live_bytes += r->live_bytes;
			/* Peaks of different sites need not coincide: their sum
			 * bounds the line's peak from above. */
			m->peak_bytes += r->peak_bytes;
			continue;
		}
		rows[out++] = *r;
	}
	return out;
}

/* Every site of the final stats (snapshot 0) or of one snapshot, ungrouped. */
static long alloc_collect(const struct store_profile *p, uint32_t snapshot,
			  struct view_alloc_row **rows)
{
	uint32_t n = snapshot ? store_nsnapshot_sites(p) : store_nallocs(p);
	long out = 0;

	*rows = calloc(n ? n : 1, sizeof(**rows));
	if (!*rows)
		return -1;
	for (uint32_t i = 0; i < n; i++) {
		struct view_alloc_row *r = &(*rows)[out];

		if (snapshot) {
			const struct store_snapshot_site *s = store_snapshot_site_get(p, i);

			if (s->snapshot != snapshot)
				continue;
			*r = (struct view_alloc_row){
				.callsite = s->callsite, .allocs = s->allocs,
				.frees = s->allocs > s->live_count ? s->allocs - s->live_count : 0,
				.bytes = s->bytes, .live_count = s->live_count,
				.live_bytes = s->live_bytes,
			};
		} else {
			const struct store_alloc *a = store_alloc_get(p, i);

			*r = (struct view_alloc_row){
				.callsite = a->callsite, .allocs = a->allocs, .frees = a->frees,
				.bytes = a->bytes, .live_count = a->live_count,
				.live_bytes = a->live_bytes, .peak_bytes = a->peak_bytes,
			};
		}
		alloc_key(p, r);
		out++;
	}
	return out;
}

static int cmp_by_bytes(const void *a, const void *b)
{
	const struct view_alloc_row *x = a, *y = b;

	if (x->bytes != y->bytes)
		return x->bytes < y->bytes ? 1 : -1;
	if (x->allocs != y->allocs)
		return x->allocs < y->allocs ? 1 : -1;
	return x->callsite < y->callsite ? -1 : x->callsite > y->callsite;
}

static int cmp_by_live(const void *a, const void *b)
{
	const struct view_alloc_row *x = a, *y = b;

	if (x->live_bytes != y->live_bytes)
		return x->live_bytes < y->live_bytes ? 1 : -1;
	if (x->live_count != y->live_count)
		return x->live_count < y->live_count ? 1 : -1;
	return cmp_by_bytes(a, b);
}

long view_allocs(const struct store_profile *p, uint32_t snapshot, int by_stack,
		 struct view_alloc_row **rows)
{
	long n = alloc_collect(p, snapshot, rows);

	if (n < 0)
		return -1;
	n = alloc_group(*rows, n, by_stack);
	qsort(*rows, (size_t)n, sizeof(**rows), snapshot ? cmp_by_live : cmp_by_bytes);
	return n;
}

static uint64_t abs_diff(int64_t v)
{
	return v < 0 ? (uint64_t)-v : (uint64_t)v;
}

/* tracemalloc's compare_to order: |size_diff|, size, |count_diff|, count. */
static int cmp_growth(const void *a, const void *b)
{
	const struct view_alloc_row *x = a, *y = b;

	if (abs_diff(x->size_diff) != abs_diff(y->size_diff))
		return abs_diff(x->size_diff) < abs_diff(y->size_diff) ? 1 : -1;
	if (x->live_bytes != y->live_bytes)
		return x->live_bytes < y->live_bytes ? 1 : -1;
	if (abs_diff(x->count_diff) != abs_diff(y->count_diff))
		return abs_diff(x->count_diff) < abs_diff(y->count_diff) ? 1 : -1;
	if (x->live_count != y->live_count)
		return x->live_count < y->live_count ? 1 : -1;
	return x->callsite < y->callsite ? -1 : x->callsite > y->callsite;
}

long view_alloc_compare(const struct store_profile *p, uint32_t a, uint32_t b, int by_stack,
			struct view_alloc_row **rows)
{
	struct view_alloc_row *ra, *rb, *out;
	long na = view_allocs(p, a, by_stack, &ra), nb, n = 0;

	*rows = NULL;
	if (na < 0)
		return -1;
	nb = view_allocs(p, b, by_stack, &rb);
	if (nb < 0) {
		free(ra);
		return -1;
	}
	out = calloc((size_t)(na + nb) + 1, sizeof(*out));
	if (!out) {
		free(ra);
		free(rb);
		return -1;
	}
	for (long i = 0; i < nb; i++) {
		out[n] = rb[i];
		out[n].size_diff = (int64_t)rb[i].live_bytes;
		out[n].count_diff = (int64_t)rb[i].live_count;
		n++;
	}
	/* Sites only in a shrank to nothing; sites in both net out.  na and
	 * nb are small (sites, not allocations): a linear match will do. */
	for (long i = 0; i < na; i++) {
		long j;

		for (j = 0; j < nb && !same_key(&out[j], &ra[i], by_stack); j++)
			;
		if (j == nb) {
			out[n] = ra[i];
			out[n].allocs = out[n].frees = out[n].bytes = 0;
			out[n].live_bytes = out[n].live_count = out[n].peak_bytes = 0;
			j = n++;
		}
		out[j].size_diff -= (int64_t)ra[i].live_bytes;
		out[j].count_diff -= (int64_t)ra[i].live_count;
	}
	free(ra);
	free(rb);
	qsort(out, (size_t)n, sizeof(*out), cmp_growth);
	*rows = out;
	return n;
}
