/* top-view-threads.c - the thread picker: all threads, or one. */
#include "config.h"

#include <curses.h>

#include "viewer/top-impl.h"

static void prepare(struct top *t)
{
}

static int nrows(struct top *t)
{
	return 1 + (int)t->data.nthreads;
}

static void draw_head(struct top *t, int y, int width)
{
	char b[128];

	snprintf(b, sizeof(b), "%10s  %-24s %10s %7s %6s", "TID", "Name", "Samples", "Active",
		 "GIL");
	top_attr_on(t, TOP_C_HEAD);
	move(y, 0);
	for (int i = 0; i < width; i++)
		addch(' ');
	top_put(y, 0, b, width);
	top_attr_off(t, TOP_C_HEAD);
}

static void row_text(struct top *t, int row, char *b, size_t n)
{
	const struct top_data *d = &t->data;
	const struct top_thread *th = top_data_thread(d, (uint32_t)row);
	uint64_t s = th ? th->samples : d->all, a = th ? th->active : d->active;
	uint64_t g = th ? th->gil : d->gil;
	char mark = (uint32_t)row == d->thread ? '*' : ' ';

	if (th)
		snprintf(b, n, "%c%9lld  %-24.24s %10llu %6.1f%% %5.1f%%", mark, (long long)th->tid,
			 th->name, (unsigned long long)s, s ? 100.0 * a / s : 0.0,
			 s ? 100.0 * g / s : 0.0);
	else
		snprintf(b, n, "%c%9s  %-24s %10llu %6.1f%% %5.1f%%", mark, "all",
			 d->split ? "(split: a row per thread)" : "(merged)", (unsigned long long)s,
			 s ? 100.0 * a / s : 0.0, s ? 100.0 * g / s : 0.0);
}

static void draw_row(struct top *t, int row, int y, int width, int selected)
{
	char b[256];

	row_text(t, row, b, sizeof(b));
	top_draw_line(t, y, width, selected, b);
}

static void print(struct top *t, FILE *f)
{
	char b[256];

	for (int i = 0; i < nrows(t); i++) {
		row_text(t, i, b, sizeof(b));
		fprintf(f, "%s\n", b);
	}
}

static int match(struct top *t, int row, const char *s)
{
	const struct top_thread *th = top_data_thread(&t->data, (uint32_t)row);
	char tid[32];

	if (!th)
		return top_contains("all", s);
	snprintf(tid, sizeof(tid), "%lld", (long long)th->tid);
	return top_contains(th->name, s) || top_contains(tid, s);
}

static void enter(struct top *t, int row)
{
	t->data.thread = (uint32_t)row;
	top_settings_changed(t);
	top_set_view(t, t->back);
}

const struct top_view top_view_threads = {
	.name = "Threads (Enter chooses)",
	.prepare = prepare,
	.nrows = nrows,
	.draw_head = draw_head,
	.draw_row = draw_row,
	.print = print,
	.match = match,
	.enter = enter,
};
