/* test-store-model.c - the in-memory model: interning, the call-site tree, samples, stats, histograms. */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "store/store.h"
#include "tests/unit/unit.h"

static void test_strings_intern_once(void)
{
	struct store_profile *p = store_profile_new();
	uint32_t a, b, c;
	char buf[32];

	CHECK_EQ_INT(store_nstrings(p), 1);
	CHECK_EQ_STR(store_string(p, 0), "");
	CHECK_EQ_INT(store_string_intern(p, ""), 0);
	CHECK_EQ_INT(store_string_intern(p, NULL), 0);
	a = store_string_intern(p, "main");
	b = store_string_intern(p, "run");
	snprintf(buf, sizeof(buf), "%s", "main");
	c = store_string_intern(p, buf);
	CHECK_EQ_INT(a, 1);
	CHECK_EQ_INT(b, 2);
	CHECK_EQ_INT(c, a);
	CHECK_EQ_STR(store_string(p, a), "main");
	CHECK_EQ_STR(store_string(p, 999), "");
	/* Enough to resize the hash several times; every id still resolves. */
	for (int i = 0; i < 5000; i++) {
		snprintf(buf, sizeof(buf), "f%d", i);
		CHECK_EQ_INT(store_string_intern(p, buf), 3 + i);
	}
	for (int i = 0; i < 5000; i += 7) {
		snprintf(buf, sizeof(buf), "f%d", i);
		CHECK_EQ_INT(store_string_intern(p, buf), 3 + i);
		CHECK_EQ_STR(store_string(p, 3 + i), buf);
	}
	CHECK_EQ_INT(store_nstrings(p), 5003);
	store_profile_free(p);
}

static uint32_t frame(struct store_profile *p, const char *fn, int line)
{
	struct store_frame f = { .function = store_string_intern(p, fn),
				 .file = store_string_intern(p, "app.py"),
				 .module = store_string_intern(p, "app"), .line = line,
				 .kind = STORE_KIND_PYTHON };

	return store_frame_intern(p, &f);
}

static void test_frames_intern_once(void)
{
	struct store_profile *p = store_profile_new();
	uint32_t a = frame(p, "main", 1), b = frame(p, "main", 2), c = frame(p, "main", 1);

	CHECK_EQ_INT(store_nframes(p), 3);
	CHECK_EQ_INT(a, 1);
	CHECK_EQ_INT(b, 2);
	CHECK_EQ_INT(c, a);
	CHECK_EQ_STR(store_string(p, store_frame_get(p, b)->function), "main");
	CHECK_EQ_INT(store_frame_get(p, b)->line, 2);
	CHECK_EQ_INT(store_frame_get(p, 0)->function, 0);
	store_profile_free(p);
}

static void test_callsite_tree(void)
{
	struct store_profile *p = store_profile_new();
	uint32_t m = frame(p, "main", 1), f = frame(p, "f", 2), g = frame(p, "g", 3);
	uint32_t s1[] = { m, f, g }, s2[] = { m, f }, s3[] = { m, g }, s4[] = { m, f, g };
	uint32_t a = store_callsite_from_stack(p, s1, 3);
	uint32_t b = store_callsite_from_stack(p, s2, 2);
	uint32_t c = store_callsite_from_stack(p, s3, 2);
	uint32_t d = store_callsite_from_stack(p, s4, 3);
	const struct store_callsite *cs;

	CHECK_EQ_INT(a, d);
	CHECK_EQ_INT(store_ncallsites(p), 5);	/* root, main, main;f, main;f;g, main;g */
	cs = store_callsite_get(p, a);
	CHECK_EQ_INT(cs->frame, g);
	CHECK_EQ_INT(cs->depth, 3);
	CHECK_EQ_INT(cs->parent, b);
	CHECK(cs->parent < a);
	cs = store_callsite_get(p, b);
	CHECK_EQ_INT(cs->frame, f);
	CHECK_EQ_INT(cs->depth, 2);
	CHECK_EQ_INT(store_callsite_get(p, cs->parent)->parent, 0);
	CHECK_EQ_INT(store_callsite_get(p, c)->parent, store_callsite_get(p, b)->parent);
	CHECK_EQ_INT(store_callsite_from_stack(p, NULL, 0), 0);
	CHECK_EQ_INT(store_callsite_get(p, 0)->depth, 0);
	CHECK_EQ_INT(store_callsite_intern(p, 12345, m), store_callsite_from_stack(p, s1, 1));
	store_profile_free(p);
}

static void test_sessions_threads(void)
{
	struct store_profile *p = store_profile_new();
	char cmd[32] = "python3 app.py";
	struct store_session s = { .pid = 42, .command = cmd, .runtime = "python",
				   .version = "3.11.7", .mode = "wall", .rate_hz = 100 };
	uint32_t id = store_session_add(p, &s), t1, t2, t3;

	cmd[0] = 'X';	/* the session keeps its own copy */
	CHECK_EQ_INT(id, 1);
	CHECK_EQ_INT(store_nsessions(p), 2);
	CHECK_EQ_STR(store_session_get(p, id)->command, "python3 app.py");
	CHECK_EQ_STR(store_session_get(p, id)->last_error, "");
	store_session_get(p, id)->samples = 7;
	store_session_set_error(p, id, "process gone");
	CHECK_EQ_STR(store_session_get(p, id)->last_error, "process gone");
	CHECK_EQ_INT(store_session_get(p, id)->samples, 7);

	t1 = store_thread_add(p, id, 100, "MainThread", "main");
	t2 = store_thread_find(p, id, 101, NULL);
	t3 = store_thread_find(p, id, 100, NULL);
	CHECK_EQ_INT(t1, 1);
	CHECK_EQ_INT(t2, 2);
	CHECK_EQ_INT(t3, t1);
	CHECK_EQ_STR(store_thread_get(p, t2)->name, "");
	CHECK_EQ_INT(store_thread_find(p, id, 101, "worker"), t2);
	CHECK_EQ_STR(store_thread_get(p, t2)->name, "worker");
	CHECK_EQ_STR(store_thread_get(p, t1)->role, "main");
	CHECK_EQ_INT(store_thread_get(p, t1)->tid, 100);
	CHECK_EQ_INT(store_nthreads(p), 3);
	store_profile_free(p);
}

static void test_samples_aggregate(void)
{
	struct store_profile *p = store_profile_new();
	struct store_sample s = { .session = 1, .thread = 1, .callsite = 3, .state = 4,
				  .weight = 1 };

	/* Default bucket 1 s: 0.1 s and 0.9 s land in one row, 1.5 s in another. */
	s.time_ns = 100000000;
	store_sample_add(p, &s);
	s.time_ns = 900000000;
	store_sample_add(p, &s);
	s.time_ns = 1500000000;
	store_sample_add(p, &s);
	s.state = 1;
	store_sample_add(p, &s);
	CHECK_EQ_INT(store_nsamples(p), 3);
	CHECK_EQ_INT(store_sample_get(p, 0)->weight, 2);
	CHECK_EQ_INT(store_sample_get(p, 0)->time_ns, 0);
	CHECK_EQ_INT(store_sample_get(p, 1)->time_ns, 1000000000);
	CHECK(store_sample_get(p, 3) == NULL);
	CHECK_EQ_INT(store_nstacks(p), 2);
	CHECK_EQ_INT(store_stack_get(p, 0)->weight, 3);
	CHECK_EQ_INT(store_stack_get(p, 1)->weight, 1);
	CHECK_EQ_INT(store_stack_get(p, 1)->state, 1);
	store_profile_free(p);

	p = store_profile_new();
	store_profile_set_bucket(p, 0);
	s.time_ns = 5;
	store_sample_add(p, &s);
	store_sample_add(p, &s);
	CHECK_EQ_INT(store_nsamples(p), 2);
	CHECK_EQ_INT(store_sample_get(p, 1)->time_ns, 5);
	CHECK_EQ_INT(store_nstacks(p), 1);
	CHECK_EQ_INT(store_stack_get(p, 0)->weight, 2);
	store_profile_free(p);
}

static void test_samples_out_of_order(void)
{
	struct store_profile *p = store_profile_new();
	struct store_sample s = { .session = 1, .thread = 1, .callsite = 3, .weight = 1 };
	int64_t times[] = { 2500, 500, 1500, 700, 2100, -300, 900, 1999 };

	store_profile_set_bucket(p, 1000);
	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		s.time_ns = times[i];
		store_sample_add(p, &s);
	}
	CHECK_EQ_INT(store_nsamples(p), 4);
	CHECK_EQ_INT(store_sample_get(p, 0)->time_ns, 2000);
	CHECK_EQ_INT(store_sample_get(p, 0)->weight, 2);
	CHECK_EQ_INT(store_sample_get(p, 1)->time_ns, 0);
	CHECK_EQ_INT(store_sample_get(p, 1)->weight, 3);
	CHECK_EQ_INT(store_sample_get(p, 2)->time_ns, 1000);
	CHECK_EQ_INT(store_sample_get(p, 2)->weight, 2);
	CHECK_EQ_INT(store_sample_get(p, 3)->time_ns, -1000);
	CHECK_EQ_INT(store_sample_get(p, 3)->weight, 1);
	CHECK_EQ_INT(store_nstacks(p), 1);
	CHECK_EQ_INT(store_stack_get(p, 0)->weight, 8);
	store_profile_free(p);
}

static void test_tasks_put_replaces(void)
{
	struct store_profile *p = store_profile_new();
	struct store_task t = { .session = 1, .thread = 1, .calls = 1, .wall_ns = 10 };

	t.name = store_string_intern(p, "load");
	store_task_put(p, &t);
	t.calls = 2;
	t.wall_ns = 30;
	store_task_put(p, &t);
	t.kind = STORE_TASK_SPAN;
	store_task_put(p, &t);
	CHECK_EQ_INT(store_ntasks(p), 2);
	CHECK_EQ_INT(store_task_get(p, 0)->calls, 2);
	CHECK_EQ_INT(store_task_get(p, 0)->wall_ns, 30);
	CHECK_EQ_INT(store_task_get(p, 1)->kind, STORE_TASK_SPAN);
	CHECK(store_task_get(p, 2) == NULL);
	store_profile_free(p);
}

static void test_allocs_snapshots_events(void)
{
	struct store_profile *p = store_profile_new();
	struct store_alloc a = { .session = 1, .callsite = 2, .allocs = 1, .bytes = 64 };
	struct store_snapshot_site ss = { .callsite = 2, .allocs = 3, .bytes = 10 };
	struct store_event e = { .session = 1, .thread = 1, .name = 1, .start_ns = 5, .dur_ns = 7 };
	uint32_t snap;

	store_alloc_put(p, &a);
	a.allocs = 2;
	a.bytes = 128;
	store_alloc_put(p, &a);
	CHECK_EQ_INT(store_nallocs(p), 1);
	CHECK_EQ_INT(store_alloc_get(p, 0)->bytes, 128);
	snap = store_snapshot_add(p, 1, "before", 1000);
	CHECK_EQ_INT(snap, 1);
	CHECK_EQ_INT(store_nsnapshots(p), 2);
	CHECK_EQ_STR(store_snapshot_get(p, snap)->label, "before");
	ss.snapshot = snap;
	store_snapshot_site_add(p, &ss);
	CHECK_EQ_INT(store_nsnapshot_sites(p), 1);
	CHECK_EQ_INT(store_snapshot_site_get(p, 0)->allocs, 3);
	store_event_add(p, &e);
	CHECK_EQ_INT(store_nevents(p), 1);
	CHECK_EQ_INT(store_event_get(p, 0)->dur_ns, 7);
	CHECK(store_event_get(p, 1) == NULL);
	store_profile_free(p);
}

static void test_hist_buckets(void)
{
	/* Every value maps to a bucket whose midpoint is within 1/(2*SUB). */
	for (int64_t v = 0; v < ((int64_t)1 << 40); v = v < 64 ? v + 1 : v + v / 7 + 3) {
		int b = store_hist_bucket(v);
		int64_t m = store_hist_value(b);

		CHECK(b >= 0 && b < (int)STORE_HIST_BUCKETS);
		if (v >= (int64_t)STORE_HIST_SUB)
			CHECK(fabs((double)(m - v)) <= (double)v / (2.0 * STORE_HIST_SUB) + 1);
		else
			CHECK_EQ_INT(m, v);
		if (b > 0)
			CHECK(store_hist_bucket(v) >= store_hist_bucket(v > 0 ? v - 1 : 0));
	}
	CHECK_EQ_INT(store_hist_bucket(-5), 0);
	CHECK_EQ_INT(store_hist_bucket(INT64_MAX), STORE_HIST_BUCKETS - 1);
	CHECK_EQ_INT(store_hist_bucket(((int64_t)1 << STORE_HIST_MAXEXP) - 1), STORE_HIST_BUCKETS - 1);
}

static void test_hist_quantiles(void)
{
	static uint32_t hist[STORE_HIST_BUCKETS];
	double qs[] = { 0.5, 0.9, 0.99 };

	CHECK_EQ_INT(store_hist_quantile(hist, 0.5), 0);
	/* 1..100000 us uniformly: the q-quantile is q * 100 ms. */
	for (int64_t us = 1; us <= 100000; us++)
		store_hist_add(hist, us * 1000);
	for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
		double want = qs[i] * 100e6, got = (double)store_hist_quantile(hist, qs[i]);

		CHECK(fabs(got - want) / want < 0.035);
	}
	CHECK(fabs((double)store_hist_quantile(hist, 1.0) - 100e6) / 100e6 < 0.035);
	CHECK(fabs((double)store_hist_quantile(hist, 0.0) - 1000) / 1000 < 0.035);
}

int main(void)
{
	RUN(test_strings_intern_once);
	RUN(test_frames_intern_once);
	RUN(test_callsite_tree);
	RUN(test_sessions_threads);
	RUN(test_samples_aggregate);
	RUN(test_samples_out_of_order);
	RUN(test_tasks_put_replaces);
	RUN(test_allocs_snapshots_events);
	RUN(test_hist_buckets);
	RUN(test_hist_quantiles);
	return unit_done();
}
