/* bench-viewer.c - how fast the viewer aggregates and exports a large profile: the live view's refresh and the exporters.
 *
 *   bench-viewer [-s STACKS] [-d DEPTH] [-t THREADS] [-o OUT.db]
 *
 * Builds STACKS distinct stacks of DEPTH frames over THREADS threads
 * (a tree: few roots, more branches deeper, as real programs have), then
 * times, in process: a first aggregation (memo built), a refresh (memo
 * reused), a refresh of one thread, the sort, the flame tree, and the
 * folded and SVG exporters.  With -o it also saves the store, for the
 * run script's comparison with SQLite's recursive top_total view.
 * Prints "name=value" fields, in milliseconds of CPU.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"
#include "viewer/viewer.h"

static double now(void)
{
	struct timespec t;

	/* CPU time: the machine may be busy with other work. */
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static uint64_t rng_state = 88172645463325252ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static struct store_profile *build(int nstacks, int depth, int nthreads)
{
	struct store_profile *p = store_profile_new();
	struct store_session s = { .pid = 1, .command = "bench", .runtime = "python",
				   .version = "3.11", .mode = "cpu", .rate_hz = 100,
				   .start_ns = 1700000000000000000LL, .last_error = "" };
	uint32_t *frames = malloc(4000 * sizeof(*frames)), *stack = malloc(depth * sizeof(*stack));
	uint32_t *threads = malloc(nthreads * sizeof(*threads));
	char name[64];

	store_session_add(p, &s);
	for (int t = 0; t < nthreads; t++) {
		snprintf(name, sizeof(name), "worker-%d", t);
		threads[t] = store_thread_add(p, 1, 1000 + t, name, "");
	}
	for (int i = 0; i < 4000; i++) {
		struct store_frame f = { .line = 1 + i % 97, .kind = STORE_KIND_PYTHON };

		snprintf(name, sizeof(name), "module_%d.function_%d", i % 40, i);
		f.function = store_string_intern(p, name);
		snprintf(name, sizeof(name), "/srv/app/module_%d.py", i % 40);
		f.file = store_string_intern(p, name);
		f.module = store_string_intern(p, "app");
		frames[i] = store_frame_intern(p, &f);
	}
	for (int k = 0; store_nstacks(p) < (uint32_t)nstacks; k++) {
		/* Branching grows with depth: 2 choices at the root, up to 64. */
		for (int d = 0; d < depth; d++) {
			uint64_t b = d < 5 ? 2 : d < 10 ? 8 : 64;

			stack[d] = frames[(d * 131 + rng() % b) % 4000];
		}
		struct store_sample sm = {
			.session = 1, .thread = threads[k % nthreads], .state = STORE_STATE_ONCPU,
			.callsite = store_callsite_from_stack(p, stack, (size_t)depth),
			.weight = 1 + rng() % 20,
		};
		store_sample_add(p, &sm);
	}
	free(frames);
	free(stack);
	free(threads);
	return p;
}

int main(int argc, char **argv)
{
	int nstacks = 100000, depth = 30, nthreads = 4, c, reps = 10;
	const char *out = NULL;
	struct store_profile *p;
	struct view_agg *a;
	struct view_flame fl;
	const uint32_t *order;
	uint32_t one = 2;
	struct view_filter f1 = { .threads = &one, .nthreads = 1 };
	struct view_export_opts eo = { 0 };
	char err[256];
	double t0, t1, t2, t3, t4, t5, t6, t7, t8;
	FILE *null;

	while ((c = getopt(argc, argv, "s:d:t:o:")) != -1) {
		switch (c) {
		case 's': nstacks = atoi(optarg); break;
		case 'd': depth = atoi(optarg); break;
		case 't': nthreads = atoi(optarg); break;
		case 'o': out = optarg; break;
		default:
			fprintf(stderr, "usage: bench-viewer [-s STACKS] [-d DEPTH] [-t THREADS] [-o OUT.db]\n");
			return 2;
		}
	}
	if (nstacks < 1 || depth < 1 || nthreads < 1)
		return 2;
	p = build(nstacks, depth, nthreads);
	null = fopen("/dev/null", "w");
	a = view_agg_new(VIEW_BY_FUNCTION);
	t0 = now();
	view_agg_run(a, p, NULL);
	t1 = now();
	for (int i = 0; i < reps; i++)
		view_agg_run(a, p, NULL);
	t2 = now();
	for (int i = 0; i < reps; i++)
		view_agg_run(a, p, &f1);
	t3 = now();
	view_agg_sort(a, p, VIEW_SORT_TOTAL, 0, &order);
	t4 = now();
	view_flame_build(&fl, p, NULL, VIEW_WEIGHT_SAMPLES, 0);
	t5 = now();
	view_export_folded(null, p, &eo, err, sizeof(err));
	t6 = now();
	view_export_svg(null, p, &eo, err, sizeof(err));
	t7 = now();
	view_report(null, p, &(struct view_report_opts){ .limit = 30 }, err, sizeof(err));
	t8 = now();
	printf("stacks=%u callsites=%u frames=%u rows=%u nodes=%u\n", store_nstacks(p),
	       store_ncallsites(p), store_nframes(p), view_agg_nrows(a), fl.n);
	printf("agg_first_ms=%.1f agg_refresh_ms=%.1f agg_one_thread_ms=%.1f sort_ms=%.2f\n",
	       (t1 - t0) * 1e3, (t2 - t1) * 1e3 / reps, (t3 - t2) * 1e3 / reps, (t4 - t3) * 1e3);
	printf("flame_ms=%.1f folded_ms=%.1f svg_ms=%.1f report_ms=%.1f\n", (t5 - t4) * 1e3,
	       (t6 - t5) * 1e3, (t7 - t6) * 1e3, (t8 - t7) * 1e3);
	view_flame_free(&fl);
	view_agg_free(a);
	fclose(null);
	if (out && store_save(out, p, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench-viewer: %s: %s\n", out, err);
		store_profile_free(p);
		return 1;
	}
	store_profile_free(p);
	return 0;
}
