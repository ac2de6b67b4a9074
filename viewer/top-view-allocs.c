/* top-view-allocs.c - the Allocations tab of a libsonda program: live bytes, peak, rate per site. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "viewer/top-impl.h"

static const char *const sort_names[] = { "Live", "Peak", "Allocs/s", "Bytes" };

static double value(const struct top_alloc *a, int col)
{
	switch (col) {
	case 0: return (double)a->live_bytes;
	case 1: return (double)a->peak_bytes;
	case 2: return a->per_s;
	default: return (double)a->bytes;
	}
}

static int cmp(const void *x, const void *y, void *arg)
{
	struct top *t = arg;
	const struct top_alloc *a = x, *b = y;
	double va = value(a, t->sort[TOP_VIEW_ALLOCS]), vb = value(b, t->sort[TOP_VIEW_ALLOCS]);
	int r = va < vb ? 1 : va > vb ? -1 : 0;

	return t->invert ? -r : r ? r : strcmp(a->site ? a->site : "", b->site ? b->site : "");
}

static void prepare(struct top *t)
{
	if (t->nallocs > 1)
		qsort_r(t->allocs, t->nallocs, sizeof(*t->allocs), cmp, t);
}

static int nrows(struct top *t)
{
	return (int)t->nallocs;
}

static const char head[] = "      Live       Peak   Allocs/s     Allocs      Bytes  Site";

static void row_text(struct top *t, int row, char *b, size_t n)
{
	const struct top_alloc *a = &t->allocs[row];
	char live[16], peak[16], bytes[16];

	top_fmt_bytes(live, sizeof(live), a->live_bytes);
	top_fmt_bytes(peak, sizeof(peak), a->peak_bytes);
	top_fmt_bytes(bytes, sizeof(bytes), a->bytes);
	snprintf(b, n, "%10s %10s %10.1f %10llu %10s  %s", live, peak, a->per_s,
		 (unsigned long long)a->allocs, bytes, a->site ? a->site : "?");
}

static void head_text(struct top *t, char *b, size_t n)
{
	snprintf(b, n, "%s", head);
}

static int match(struct top *t, int row, const char *s)
{
	return t->allocs[row].site && top_contains(t->allocs[row].site, s);
}

const struct top_view top_view_allocs = {
	.name = "Allocations",
	.prepare = prepare,
	.nrows = nrows,
	.head_text = head_text,
	.row_text = row_text,
	.match = match,
	.nsort = 4,
	.sort_names = sort_names,
};
