/* bench-top.c - CPU per refresh of `sonda top` on a synthetic profile of 100,000 distinct stacks. */
#include "config.h"

#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/store.h"
#include "viewer/top-impl.h"
#include "viewer/viewer.h"

static uint64_t rng = 88172645463325252ULL;

static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

static double cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Stacks share prefixes as real ones do: each is a random prefix of the
 * previous one plus a random tail, 8 to 40 frames deep, over nfuncs
 * functions in 50 files, on 8 threads. */
static struct store_profile *build(uint32_t nstacks, uint32_t nfuncs, uint32_t *sess)
{
	struct store_profile *p = store_profile_new();
	struct store_session s = { .pid = 1, .command = "synthetic", .runtime = "python",
				   .version = "3.11.7", .mode = "python", .rate_hz = 100 };
	uint32_t *frames = malloc(sizeof(uint32_t) * nfuncs), stack[40] = { 0 }, depth = 0;
	uint32_t threads[8];
	char name[64], file[64];

	*sess = store_session_add(p, &s);
	for (int i = 0; i < 8; i++)
		threads[i] = store_thread_add(p, *sess, 1000 + i, i ? "worker" : "MainThread", "");
	for (uint32_t i = 0; i < nfuncs; i++) {
		struct store_frame f = { 0 };

		snprintf(name, sizeof(name), "function_%u", i);
		snprintf(file, sizeof(file), "package/module_%u.py", i % 50);
		f.function = store_string_intern(p, name);
		f.file = store_string_intern(p, file);
		f.module = f.file;
		f.line = 10 + (int)(i % 300);
		f.kind = STORE_KIND_PYTHON;
		frames[i] = store_frame_intern(p, &f);
	}
	while (store_nstacks(p) < nstacks) {
		uint32_t keep = depth ? rnd(depth) : 0, n = 8 + rnd(33);
		struct store_sample smp = { 0 };

		for (uint32_t d = keep; d < n; d++)
			stack[d] = frames[d == 0 ? rnd(4) : rnd(nfuncs)];
		depth = n;
		smp.session = *sess;
		smp.thread = threads[rnd(8)];
		smp.callsite = store_callsite_from_stack(p, stack, n);
		smp.state = STORE_STATE_GIL | STORE_STATE_ONCPU;
		smp.weight = 1 + rnd(50);
		store_sample_add(p, &smp);
	}
	free(frames);
	return p;
}

/* One refresh's worth of new samples on `changed` random stacks. */
static void grow(struct store_profile *p, uint32_t changed, int64_t t)
{
	uint32_t n = store_nstacks(p);

	for (uint32_t i = 0; i < changed; i++) {
		const struct store_stack *st = store_stack_get(p, changed >= n ? i % n : rnd(n));
		struct store_sample smp = { st->session, st->thread, st->callsite, st->state, t, 1 };

		store_sample_add(p, &smp);
	}
}

static double run_top(struct store_profile *p, uint32_t changed, int refreshes, int tree)
{
	static struct view_top_options opt = { .refresh_s = 1, .prof = { .rate_hz = 100 } };
	struct top *t = calloc(1, sizeof(*t));
	double total = 0, worst = 0;

	t->opt = &opt;
	t->src.kind = TOP_SRC_LIVE;	/* no sampler: the lock is a no-op */
	t->src.p = p;
	t->src.started = top_now();
	t->colors = 1;
	top_data_init(&t->data);
	top_refresh(t);		/* the first read of everything */
	top_draw(t);
	if (tree)
		top_key(t, 't');
	for (int i = 0; i < refreshes; i++) {
		double a, b;

		grow(p, changed, (int64_t)(i + 1) * 1000000000);
		a = cpu_ms();
		top_refresh(t);
		top_draw(t);
		b = cpu_ms() - a;
		total += b;
		worst = b > worst ? b : worst;
	}
	printf("  %-34s %8.2f ms/refresh (worst %.2f)\n",
	       tree ? "top, call tree view" : "top, function table", total / refreshes, worst);
	t->src.p = NULL;
	top_data_free(&t->data);
	free(t->trows);
	free(t->nrows_v);
	free(t);
	return total / refreshes;
}

/* The same numbers from the shared aggregation: a cumulative and a window run. */
static double run_agg(struct store_profile *p, uint32_t changed, int refreshes)
{
	struct view_agg *cum = view_agg_new(VIEW_BY_FUNCTION), *win = view_agg_new(VIEW_BY_FUNCTION);
	uint64_t *base = NULL;
	double total = 0;

	for (int i = 0; i < refreshes; i++) {
		uint32_t n = store_nstacks(p);
		struct view_filter f = { 0 };
		const uint32_t *order;
		double a;

		grow(p, changed, (int64_t)(i + 1000) * 1000000000);
		a = cpu_ms();
		f.base = base;
		f.nbase = base ? n : 0;
		view_agg_run(cum, p, NULL);
		view_agg_run(win, p, &f);
		view_agg_sort(win, p, VIEW_SORT_SELF, 0, &order);
		base = realloc(base, sizeof(*base) * n);
		for (uint32_t k = 0; k < n; k++)
			base[k] = store_stack_get(p, k)->weight;
		total += cpu_ms() - a;
	}
	printf("  %-34s %8.2f ms/refresh\n", "view_agg_run (cumulative + window)", total / refreshes);
	view_agg_free(cum);
	view_agg_free(win);
	free(base);
	return total / refreshes;
}

int main(int argc, char **argv)
{
	uint32_t nstacks = argc > 1 ? (uint32_t)atoi(argv[1]) : 100000, sess;
	int refreshes = argc > 2 ? atoi(argv[2]) : 10;
	FILE *null = fopen("/dev/null", "r+");
	struct store_profile *p;
	double a = cpu_ms(), ms;

	setenv("LINES", "40", 1);
	setenv("COLUMNS", "120", 1);
	if (!null || !newterm("xterm", null, null)) {
		fprintf(stderr, "bench-top: cannot set up a terminal\n");
		return 1;
	}
	p = build(nstacks, 2000, &sess);
	endwin();
	printf("profile: %u distinct stacks, %u call sites, %u frames (built in %.0f ms)\n",
	       store_nstacks(p), store_ncallsites(p), store_nframes(p), cpu_ms() - a);
	for (int pass = 0; pass < 2; pass++) {
		uint32_t changed = pass ? nstacks : 1000;

		printf("%u stacks gain samples each refresh:\n", changed);
		ms = run_top(p, changed, refreshes, 0);
		run_top(p, changed, refreshes, 1);
		run_agg(p, changed, refreshes);
		printf("  budget 50 ms: top uses %.0f%% of it\n", ms * 2);
	}
	endwin();
	store_profile_free(p);
	return 0;
}
