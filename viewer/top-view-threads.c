/* top-view-threads.c - the thread picker: all threads, or one. */
#include "config.h"

#include "viewer/top-impl.h"

static void prepare(struct top *t)
{
}

static int nrows(struct top *t)
{
	return 1 + (int)t->data.nthreads;
}

static void head_text(struct top *t, char *b, size_t n)
{
	snprintf(b, n, "%10s  %-24s %10s %7s %6s", "TID", "Name", "Samples", "Active", "GIL");
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
	.head_text = head_text,
	.row_text = row_text,
	.match = match,
	.enter = enter,
};
