/* store-fixture.h - a hand-built profile whose self and total counts are known, for the store tests. */
#ifndef SONDA_STORE_FIXTURE_H
#define SONDA_STORE_FIXTURE_H

#include "store/store.h"

/* Frames: main (app.py:1), a (app.py:10), a (app.py:11), b (app.py:20).
 * Stacks, root first, and weights:
 *   S1 main;a;b      5      S4 main;b;a;b   4
 *   S2 main;a        3      S5 main         1
 *   S3 main;a;a@11   2
 * self:  b 9, a 5, main 1             (15 samples)
 * total: main 15, a 14, b 9           (recursion counted once per stack)
 * The first `part` samples of each stack are added before the caller's
 * mid() callback, the rest after, so a writer writes two rows per key. */
struct fixture {
	uint32_t session, t1, t2;
	uint32_t fmain, fa, fa11, fb;
	uint32_t s[6];
};

static inline uint32_t fixture_frame(struct store_profile *p, const char *fn, int line,
				     const char *module)
{
	struct store_frame f = { .function = store_string_intern(p, fn),
				 .file = store_string_intern(p, "app.py"),
				 .module = store_string_intern(p, module), .line = line,
				 .kind = STORE_KIND_PYTHON };

	return store_frame_intern(p, &f);
}

static inline void fixture_samples(struct store_profile *p, struct fixture *x, int first)
{
	static const int w[6] = { 0, 5, 3, 2, 4, 1 };

	for (int i = 1; i <= 5; i++) {
		int part = w[i] / 2;

		for (int k = first ? 0 : part; k < (first ? part : w[i]); k++) {
			struct store_sample s = { x->session, k % 2 ? x->t2 : x->t1, x->s[i],
						  STORE_STATE_ONCPU, (int64_t)k * 300000000, 1 };
			store_sample_add(p, &s);
		}
	}
}

static inline void fixture_build(struct store_profile *p, struct fixture *x)
{
	struct store_session sess = { .pid = 4242, .command = "python3 app.py --fast",
				      .runtime = "python", .version = "3.11.7", .mode = "wall",
				      .rate_hz = 100, .start_ns = 1700000000000000000LL,
				      .end_ns = 1700000002500000000LL, .samples = 15, .missed = 2,
				      .errors = 1, .last_error = "read failed" };
	uint32_t s1[3], s2[2], s3[3], s4[4], s5[1];

	x->session = store_session_add(p, &sess);
	x->t1 = store_thread_add(p, x->session, 4242, "MainThread", "main");
	x->t2 = store_thread_add(p, x->session, 4243, "worker", "");
	x->fmain = fixture_frame(p, "main", 1, "app");
	x->fa = fixture_frame(p, "a", 10, "app");
	x->fa11 = fixture_frame(p, "a", 11, "app");
	x->fb = fixture_frame(p, "b", 20, "app");
	s1[0] = x->fmain, s1[1] = x->fa, s1[2] = x->fb;
	s2[0] = x->fmain, s2[1] = x->fa;
	s3[0] = x->fmain, s3[1] = x->fa, s3[2] = x->fa11;
	s4[0] = x->fmain, s4[1] = x->fb, s4[2] = x->fa, s4[3] = x->fb;
	s5[0] = x->fmain;
	x->s[0] = 0;
	x->s[1] = store_callsite_from_stack(p, s1, 3);
	x->s[2] = store_callsite_from_stack(p, s2, 2);
	x->s[3] = store_callsite_from_stack(p, s3, 3);
	x->s[4] = store_callsite_from_stack(p, s4, 4);
	x->s[5] = store_callsite_from_stack(p, s5, 1);
}

static inline void fixture_stats(struct store_profile *p, struct fixture *x)
{
	static struct store_task t;
	struct store_alloc al = { .session = x->session };
	struct store_event e = { x->session, x->t1, store_string_intern(p, "load"),
				 STORE_TASK_TASK, 1000, 400, 0 };
	struct store_snapshot_site site = { 0 };

	t.session = x->session;
	t.thread = x->t1;
	t.name = store_string_intern(p, "load");
	t.calls = 4;
	t.wall_ns = 400;
	t.self_ns = 300;
	t.cpu_ns = 100;
	t.min_ns = 50;
	t.max_ns = 150;
	store_hist_add(t.hist, 50);
	store_hist_add(t.hist, 100);
	store_hist_add(t.hist, 100);
	store_hist_add(t.hist, 150);
	store_task_put(p, &t);
	t.thread = 0;
	t.name = store_string_intern(p, "parse");
	t.kind = STORE_TASK_SPAN;
	t.calls = 2;
	t.wall_ns = 1000;
	t.self_ns = 1000;
	t.cpu_ns = 0;
	t.min_ns = 400;
	t.max_ns = 600;
	store_task_put(p, &t);
	/* An edge row (caller -> callee): not a row of the tasks view. */
	t.parent = store_string_intern(p, "load");
	t.kind = STORE_TASK_FUNCTION;
	store_task_put(p, &t);

	al.callsite = x->s[1];
	al.allocs = 10, al.frees = 4, al.bytes = 1000, al.live_count = 6, al.live_bytes = 600;
	al.peak_bytes = 800;
	store_alloc_put(p, &al);
	al.callsite = x->s[4];
	al.allocs = 1, al.frees = 0, al.bytes = 24, al.live_count = 1, al.live_bytes = 24;
	al.peak_bytes = 24;
	store_alloc_put(p, &al);
	al.callsite = x->s[2];
	al.allocs = 2, al.frees = 2, al.bytes = 64, al.live_count = 0, al.live_bytes = 0;
	al.peak_bytes = 64;
	store_alloc_put(p, &al);

	site.snapshot = store_snapshot_add(p, x->session, "before", 2000);
	site.callsite = x->s[1];
	site.allocs = 5, site.bytes = 500, site.live_count = 3, site.live_bytes = 300;
	store_snapshot_site_add(p, &site);
	store_event_add(p, &e);
	e.start_ns = 5000;
	e.depth = 1;
	store_event_add(p, &e);
}

#endif
