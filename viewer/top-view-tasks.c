/* top-view-tasks.c - the Tasks tab of a libsonda program: calls, times and latency per task. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "viewer/top-impl.h"

static const char *const sort_names[] = { "Total", "Self", "Calls", "Avg", "p99", "Max" };

static int64_t value(const struct top_task *k, int col)
{
	switch (col) {
	case 0: return k->wall_ns;
	case 1: return k->self_ns;
	case 2: return (int64_t)k->calls;
	case 3: return k->calls ? k->wall_ns / (int64_t)k->calls : 0;
	case 4: return k->p99_ns;
	default: return k->max_ns;
	}
}

static int cmp(const void *a, const void *b, void *arg)
{
	struct top *t = arg;
	const struct top_task *x = a, *y = b;
	int64_t vx = value(x, t->sort[TOP_VIEW_TASKS]), vy = value(y, t->sort[TOP_VIEW_TASKS]);
	int r = vx < vy ? 1 : vx > vy ? -1 : 0;

	return t->invert ? -r : r ? r : strcmp(x->name, y->name);
}

static void prepare(struct top *t)
{
	if (t->ntasks > 1)
		qsort_r(t->tasks, t->ntasks, sizeof(*t->tasks), cmp, t);
}

static int nrows(struct top *t)
{
	return (int)t->ntasks;
}

static const char head[] = "     Calls      Total       Self        Avg        p50        p99"
			   "        Max   CPU%  Name";

static void row_text(struct top *t, int row, char *b, size_t n)
{
	const struct top_task *k = &t->tasks[row];
	char tot[16], self[16], avg[16], p50[16], p99[16], max[16];

	top_fmt_ns(tot, sizeof(tot), k->wall_ns);
	top_fmt_ns(self, sizeof(self), k->self_ns);
	top_fmt_ns(avg, sizeof(avg), k->calls ? k->wall_ns / (int64_t)k->calls : 0);
	top_fmt_ns(p50, sizeof(p50), k->p50_ns);
	top_fmt_ns(p99, sizeof(p99), k->p99_ns);
	top_fmt_ns(max, sizeof(max), k->max_ns);
	snprintf(b, n, "%10llu %10s %10s %10s %10s %10s %10s %5.1f%%  %s",
		 (unsigned long long)k->calls, tot, self, avg, p50, p99, max,
		 k->wall_ns > 0 ? 100.0 * k->cpu_ns / k->wall_ns : 0.0, k->name);
}

static void head_text(struct top *t, char *b, size_t n)
{
	snprintf(b, n, "%s", head);
}

static int match(struct top *t, int row, const char *s)
{
	return top_contains(t->tasks[row].name, s);
}

const struct top_view top_view_tasks = {
	.name = "Tasks",
	.prepare = prepare,
	.nrows = nrows,
	.head_text = head_text,
	.row_text = row_text,
	.match = match,
	.nsort = 6,
	.sort_names = sort_names,
};
