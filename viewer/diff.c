/* diff.c - `sonda diff`: per function, self and total percent in two profiles and the change. */
#include "config.h"

#include "viewer/table.h"

#include <stdlib.h>
#include <string.h>

/*
 * Functions are matched by name, file and module (ids differ between
 * stores).  Percentages rather than counts are compared, so two runs of
 * different lengths or rates compare fairly; the counts are in the JSON.
 * Rows are sorted by the change of self percent, then of total percent:
 * the function that got slower itself comes before its callers, whose
 * total grew with it.
 */

struct side {
	const struct store_profile *p;
	const struct view_row *r;
	uint64_t weight;
};

struct entry {
	const char *function, *file, *module;
	struct side a, b;
};

static int cmp_entry(const void *x, const void *y)
{
	const struct entry *e = x, *f = y;
	int c = strcmp(e->function, f->function);

	if (!c)
		c = strcmp(e->file, f->file);
	if (!c)
		c = strcmp(e->module, f->module);
	return c;
}

static long collect(struct entry *out, long n, const struct store_profile *p,
		    const struct view_agg *a, int which)
{
	uint64_t w = view_agg_weight(a);

	for (uint32_t i = 0; i < view_agg_nrows(a); i++) {
		const struct view_row *r = view_agg_row(a, i);
		struct entry *e = &out[n++];

		if (!r->self && !r->total) {
			n--;
			continue;
		}
		memset(e, 0, sizeof(*e));
		e->function = store_string(p, r->function);
		e->file = store_string(p, r->file);
		e->module = store_string(p, r->module);
		if (!*e->function)
			e->function = "[unknown]";
		*(which ? &e->b : &e->a) = (struct side){ p, r, w };
	}
	return n;
}

static double pct(const struct side *s, int total)
{
	if (!s->r || !s->weight)
		return 0;
	return 100.0 * (double)(total ? s->r->total : s->r->self) / (double)s->weight;
}

static const struct col diff_cols[] = {
	{ "function", "FUNCTION", T_STR, 7, 1 },
	{ "file", "FILE", T_STR, 0, 1 },
	{ "module", "MODULE", T_STR, 0, 1 },
	{ "base_self_pct", "SELF%:BASE", T_PCT, 1, 1 },
	{ "new_self_pct", "NEW", T_PCT, 2, 1 },
	{ "self_delta", "CHANGE", T_DELTA, 3, 1 },
	{ "base_total_pct", "TOTAL%:BASE", T_PCT, 4, 1 },
	{ "new_total_pct", "NEW", T_PCT, 5, 1 },
	{ "total_delta", "CHANGE", T_DELTA, 6, 1 },
	{ "base_self", "", T_INT, 0, 1 },
	{ "new_self", "", T_INT, 0, 1 },
	{ "base_total", "", T_INT, 0, 1 },
	{ "new_total", "", T_INT, 0, 1 },
	{ "location", "LOCATION", T_STR, 8, 0 },
};

struct ranked {
	size_t row;
	double self, total;
};

static double mag(double x)
{
	return x < 0 ? -x : x;
}

static int cmp_ranked(const void *x, const void *y)
{
	const struct ranked *a = x, *b = y;

	if (mag(a->self) != mag(b->self))
		return mag(a->self) < mag(b->self) ? 1 : -1;
	if (mag(a->total) != mag(b->total))
		return mag(a->total) < mag(b->total) ? 1 : -1;
	return a->row < b->row ? -1 : a->row > b->row;
}

static int fill(struct grid *g, struct entry *e, long n)
{
	for (long i = 0; i < n; i++) {
		struct cell *c = view_grid_row(g);

		if (!c)
			return -1;
		c[0].s = e[i].function;
		c[1].s = e[i].file;
		c[2].s = e[i].module;
		c[3].d = pct(&e[i].a, 0);
		c[4].d = pct(&e[i].b, 0);
		c[5].d = c[4].d - c[3].d;
		c[6].d = pct(&e[i].a, 1);
		c[7].d = pct(&e[i].b, 1);
		c[8].d = c[7].d - c[6].d;
		c[9].i = e[i].a.r ? (int64_t)e[i].a.r->self : 0;
		c[10].i = e[i].b.r ? (int64_t)e[i].b.r->self : 0;
		c[11].i = e[i].a.r ? (int64_t)e[i].a.r->total : 0;
		c[12].i = e[i].b.r ? (int64_t)e[i].b.r->total : 0;
		c[13].s = *e[i].file ? e[i].file : e[i].module;
	}
	return 0;
}

/* Rows in order of the largest change: rebuilt from a ranking, since the
 * grid sorts by one column and this key is two absolute values. */
static int rank(struct grid *g)
{
	struct ranked *r = malloc((g->nrows ? g->nrows : 1) * sizeof(*r));
	struct cell *cells = malloc((g->nrows ? g->nrows : 1) * g->ncols * sizeof(*cells));

	if (!r || !cells) {
		free(r);
		free(cells);
		return -1;
	}
	for (size_t i = 0; i < g->nrows; i++)
		r[i] = (struct ranked){ i, g->cells[i * g->ncols + 5].d,
					g->cells[i * g->ncols + 8].d };
	qsort(r, g->nrows, sizeof(*r), cmp_ranked);
	for (size_t i = 0; i < g->nrows; i++)
		memcpy(&cells[i * g->ncols], &g->cells[r[i].row * g->ncols],
		       g->ncols * sizeof(*cells));
	free(g->cells);
	g->cells = cells;
	free(r);
	return 0;
}

int view_diff(FILE *f, const struct store_profile *base, const struct store_profile *cur,
	      const struct view_diff_opts *o, char *err, size_t errlen)
{
	struct view_agg *a = view_agg_new(VIEW_BY_FUNCTION), *b = view_agg_new(VIEW_BY_FUNCTION);
	struct grid g = { 0 };
	struct entry *e = NULL;
	long n = 0, m = 0;
	size_t nrows;
	int rc = -1;

	snprintf(err, errlen, "out of memory");
	if (!a || !b || view_agg_run(a, base, NULL) < 0 || view_agg_run(b, cur, NULL) < 0)
		goto out;
	e = malloc(((size_t)view_agg_nrows(a) + view_agg_nrows(b) + 1) * sizeof(*e));
	if (!e)
		goto out;
	n = collect(e, 0, base, a, 0);
	n = collect(e, n, cur, b, 1);
	qsort(e, (size_t)n, sizeof(*e), cmp_entry);
	/* Merge the two sides of each function into one entry. */
	for (long i = 0; i < n; i++) {
		if (m && !cmp_entry(&e[m - 1], &e[i])) {
			if (e[i].a.r)
				e[m - 1].a = e[i].a;
			if (e[i].b.r)
				e[m - 1].b = e[i].b;
			continue;
		}
		e[m++] = e[i];
	}
	view_grid_cols(&g, diff_cols, 14);
	g.title = view_grid_printf(&g, "base %llu samples, new %llu samples; CHANGE in percentage "
				   "points: + got slower, - got faster",
				   (unsigned long long)view_agg_weight(a),
				   (unsigned long long)view_agg_weight(b));
	if (fill(&g, e, m) < 0 || rank(&g) < 0)
		goto out;
	nrows = o->limit > 0 && (size_t)o->limit < g.nrows ? (size_t)o->limit : g.nrows;
	rc = view_grid_print(f, &g, nrows, o->format, o->width, o->ellipsis_utf8, err, errlen);
out:
	view_grid_free(&g);
	free(e);
	view_agg_free(a);
	view_agg_free(b);
	return rc;
}
