/* top-view-table.c - the function table: %Own %Total OwnTime TotalTime Function (file:line). */
#include "config.h"

#include <curses.h>
#include <stdlib.h>
#include <string.h>

#include "viewer/top-impl.h"

static const char *const sort_names[] = { "%Own", "%Total", "OwnTime", "TotalTime" };

/* Column layout shared by the table and the tree. */
static const struct { const char *title; int width; } cols[] = {
	{ "%Own", 6 }, { "%Total", 7 }, { "OwnTime", 8 }, { "TotalTime", 9 },
};

static uint64_t sort_value(const struct top_fn *f, int col)
{
	switch (col) {
	case 0: return f->wself;
	case 1: return f->wtotal;
	case 2: return f->self;
	default: return f->total;
	}
}

static int cmp_fn(const void *a, const void *b, void *arg)
{
	struct top *t = arg;
	const struct top_fn *x = &t->data.fns[*(const uint32_t *)a];
	const struct top_fn *y = &t->data.fns[*(const uint32_t *)b];
	int col = t->sort[TOP_VIEW_TABLE];
	uint64_t vx = sort_value(x, col), vy = sort_value(y, col);
	int r;

	/* Ties fall back to the cumulative columns, then the name, so rows
	 * with equal numbers do not swap places from one refresh to the next. */
	if (vx == vy)
		vx = x->total, vy = y->total;
	if (vx == vy)
		vx = x->self, vy = y->self;
	r = vx < vy ? 1 : vx > vy ? -1 : 0;
	if (t->invert)
		r = -r;
	if (!r)
		r = strcmp(t->data.keys[x->key].name, t->data.keys[y->key].name);
	if (!r)
		r = x->thread < y->thread ? -1 : x->thread > y->thread;
	return r;
}

static int fn_matches(struct top *t, const struct top_fn *f, const char *s)
{
	const struct top_key *k = &t->data.keys[f->key];

	return top_contains(k->name, s) || top_contains(k->file, s);
}

static void prepare(struct top *t)
{
	struct top_data *d = &t->data;

	if (d->nfns > t->captrows) {
		uint32_t *v = realloc(t->trows, sizeof(*v) * d->nfns);

		if (!v)
			return;
		t->trows = v;
		t->captrows = d->nfns;
	}
	t->ntrows = 0;
	for (uint32_t i = 0; i < d->nfns; i++) {
		const struct top_fn *f = &d->fns[i];

		if (!f->total && !f->wtotal)
			continue;
		if (f->key >= d->nkeys || (t->filter[0] && !fn_matches(t, f, t->filter)))
			continue;
		t->trows[t->ntrows++] = i;
	}
	if (t->ntrows > 1)	/* qsort of a NULL array is undefined, even empty */
		qsort_r(t->trows, t->ntrows, sizeof(*t->trows), cmp_fn, t);
}

static int nrows(struct top *t)
{
	return (int)t->ntrows;
}

/* The four numbers of a row, formatted in the column widths. */
void top_format_numbers(struct top *t, char *buf, size_t n, uint64_t wself, uint64_t wtotal,
			uint64_t self, uint64_t total)
{
	uint64_t all = t->data.wtotal;
	char ot[16], tt[16];

	top_fmt_time(ot, sizeof(ot), top_samples_to_s(t, self));
	top_fmt_time(tt, sizeof(tt), top_samples_to_s(t, total));
	snprintf(buf, n, "%*.2f %*.2f %*s %*s ", cols[0].width,
		 all ? 100.0 * wself / all : 0.0, cols[1].width, all ? 100.0 * wtotal / all : 0.0,
		 cols[2].width, ot, cols[3].width, tt);
}

void top_columns_text(char *buf, size_t n, const char *last)
{
	snprintf(buf, n, "%*s %*s %*s %*s %s", cols[0].width, cols[0].title, cols[1].width,
		 cols[1].title, cols[2].width, cols[2].title, cols[3].width, cols[3].title, last);
}

void top_draw_columns(struct top *t, int y, int width, int sorted, const char *last)
{
	int x = 0;
	char b[32];

	top_attr_on(t, TOP_C_HEAD);
	move(y, 0);
	for (int i = 0; i < width; i++)
		addch(' ');
	for (int i = 0; i < 4; i++) {
		snprintf(b, sizeof(b), "%*s", cols[i].width, cols[i].title);
		if (i == sorted) {
			top_attr_off(t, TOP_C_HEAD);
			top_attr_on(t, TOP_C_SORTED);
		}
		x += top_put(y, x, b, width - x);
		if (i == sorted) {
			top_attr_off(t, TOP_C_SORTED);
			top_attr_on(t, TOP_C_HEAD);
		}
		x += top_put(y, x, " ", width - x);
	}
	top_put(y, x, last, width - x);
	top_attr_off(t, TOP_C_HEAD);
}

static void draw_head(struct top *t, int y, int width)
{
	top_draw_columns(t, y, width, t->sort[TOP_VIEW_TABLE], "Function (file:line)");
}

static void head_text(struct top *t, char *b, size_t n)
{
	top_columns_text(b, n, "Function (file:line)");
}

static void row_text(struct top *t, int row, char *buf, size_t n)
{
	const struct top_fn *f = &t->data.fns[t->trows[row]];
	const struct top_thread *th = top_data_thread(&t->data, f->thread);
	char label[512];
	size_t len;

	top_format_numbers(t, buf, n, f->wself, f->wtotal, f->self, f->total);
	len = strlen(buf);
	top_key_label(&t->data, f->key, label, sizeof(label));
	if (th)
		snprintf(buf + len, n - len, "%s [%lld %s]", label, (long long)th->tid, th->name);
	else
		snprintf(buf + len, n - len, "%s", label);
}

static int match(struct top *t, int row, const char *s)
{
	return fn_matches(t, &t->data.fns[t->trows[row]], s);
}

static uint64_t row_id(struct top *t, int row)
{
	const struct top_fn *f = &t->data.fns[t->trows[row]];

	return (uint64_t)f->thread << 32 | f->key;
}

static int find_id(struct top *t, uint64_t id)
{
	for (uint32_t i = 0; i < t->ntrows; i++)
		if (row_id(t, (int)i) == id)
			return (int)i;
	return -1;
}

const struct top_view top_view_table = {
	.name = "Table",
	.prepare = prepare,
	.nrows = nrows,
	.head_text = head_text,
	.draw_head = draw_head,
	.row_text = row_text,
	.match = match,
	.row_id = row_id,
	.find_id = find_id,
	.nsort = 4,
	.sort_names = sort_names,
};
