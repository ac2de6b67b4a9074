/* view-fixture.h - a hand-built profile whose self and total weights are known, for viewer tests.
 *
 * Session 1: pid 4242, "python3 app.py", 100 Hz.
 * Thread "main" (tid 100):
 *   main(app.py:10);a(app.py:20);b(lib.py:5)        3
 *   main(app.py:10);a(app.py:20)                    2
 *   main(app.py:11);r(app.py:30);r;r                4   recursion: r counts once
 *   main(app.py:11);r(app.py:30);x(app.py:40);r     1
 * Thread "worker" (tid 200):
 *   w(worker.py:7);b(lib.py:5)                      5
 *   libc.so.6+0x1a2b (native, unsymbolized)         1  (idle)
 * By function over everything (weight 16):
 *   main self 0 total 10 · a 2/5 · b 8/8 · r 5/5 · x 0/1 · w 0/5 · libc 1/1
 * Tasks (session 1): "load" on tid 100: 4 calls, wall 40 ms; "save" merged.
 * Allocs: a site under main;a (3 allocs, 1 free, 300 bytes, 200 live),
 * one under w;b (10 allocs, 10 frees, 1000 bytes, 0 live); snapshots
 * "start" and "end".  Events: "load" nested in "request" on tid 100.
 */
#ifndef SONDA_VIEW_FIXTURE_H
#define SONDA_VIEW_FIXTURE_H

#include "store/store.h"

static uint32_t fx_frame(struct store_profile *p, const char *fn, const char *file, int line,
			 const char *module, uint32_t kind)
{
	struct store_frame f = {
		.function = store_string_intern(p, fn), .file = store_string_intern(p, file),
		.module = store_string_intern(p, module), .line = line, .kind = kind,
	};

	return store_frame_intern(p, &f);
}

static uint32_t fx_stack(struct store_profile *p, const uint32_t *frames, size_t n)
{
	return store_callsite_from_stack(p, frames, n);
}

static void fx_sample(struct store_profile *p, uint32_t thread, uint32_t cs, uint64_t w,
		      uint32_t state, int64_t t)
{
	struct store_sample s = { .session = 1, .thread = thread, .callsite = cs,
				  .state = state, .time_ns = t, .weight = w };

	store_sample_add(p, &s);
}

static struct store_profile *fx_profile(void)
{
	struct store_profile *p = store_profile_new();
	struct store_session s = {
		.pid = 4242, .command = "python3 app.py", .runtime = "python", .version = "3.11.7",
		.mode = "wall", .rate_hz = 100, .start_ns = 1700000000000000000LL,
		.end_ns = 1700000002000000000LL, .samples = 16, .last_error = "",
	};
	uint32_t main10, main11, a, b, r, x, w, libc, t1, t2;
	uint32_t ab, aa, rrr, rxr, wb, lc;

	store_session_add(p, &s);
	t1 = store_thread_add(p, 1, 100, "main", "main");
	t2 = store_thread_add(p, 1, 200, "worker", "");
	main10 = fx_frame(p, "main", "app.py", 10, "app", STORE_KIND_PYTHON);
	main11 = fx_frame(p, "main", "app.py", 11, "app", STORE_KIND_PYTHON);
	a = fx_frame(p, "a", "app.py", 20, "app", STORE_KIND_PYTHON);
	b = fx_frame(p, "b", "lib.py", 5, "lib", STORE_KIND_PYTHON);
	r = fx_frame(p, "r", "app.py", 30, "app", STORE_KIND_PYTHON);
	x = fx_frame(p, "x", "app.py", 40, "app", STORE_KIND_PYTHON);
	w = fx_frame(p, "w", "worker.py", 7, "worker", STORE_KIND_PYTHON);
	libc = fx_frame(p, "libc.so.6+0x1a2b", "", 0, "libc.so.6", STORE_KIND_NATIVE);
	ab = fx_stack(p, (uint32_t[]){ main10, a, b }, 3);
	aa = fx_stack(p, (uint32_t[]){ main10, a }, 2);
	rrr = fx_stack(p, (uint32_t[]){ main11, r, r, r }, 4);
	rxr = fx_stack(p, (uint32_t[]){ main11, r, x, r }, 4);
	wb = fx_stack(p, (uint32_t[]){ w, b }, 2);
	lc = fx_stack(p, (uint32_t[]){ libc }, 1);
	fx_sample(p, t1, ab, 3, STORE_STATE_ONCPU | STORE_STATE_GIL, 0);
	fx_sample(p, t1, aa, 2, STORE_STATE_ONCPU | STORE_STATE_GIL, 0);
	fx_sample(p, t1, rrr, 4, STORE_STATE_ONCPU | STORE_STATE_GIL, 1000000000);
	fx_sample(p, t1, rxr, 1, STORE_STATE_ONCPU, 1000000000);
	fx_sample(p, t2, wb, 5, STORE_STATE_ONCPU, 0);
	fx_sample(p, t2, lc, 1, STORE_STATE_IDLE, 1000000000);

	{
		struct store_task t = { .session = 1, .thread = t1,
					.name = store_string_intern(p, "load"),
					.kind = STORE_TASK_TASK, .calls = 4, .wall_ns = 40000000,
					.self_ns = 30000000, .cpu_ns = 20000000,
					.min_ns = 5000000, .max_ns = 20000000 };

		store_hist_add(t.hist, 5000000);
		store_hist_add(t.hist, 5000000);
		store_hist_add(t.hist, 10000000);
		store_hist_add(t.hist, 20000000);
		store_task_put(p, &t);
		t.thread = 0;
		store_task_put(p, &t);
		memset(t.hist, 0, sizeof(t.hist));
		t.name = store_string_intern(p, "save");
		t.calls = 1;
		t.wall_ns = t.self_ns = t.min_ns = t.max_ns = 7000000;
		t.cpu_ns = 1000000;
		store_hist_add(t.hist, 7000000);
		store_task_put(p, &t);
	}
	{
		struct store_alloc al = { .session = 1, .callsite = aa, .allocs = 3, .frees = 1,
					  .bytes = 300, .live_count = 2, .live_bytes = 200,
					  .peak_bytes = 300 };
		uint32_t s1, s2;

		store_alloc_put(p, &al);
		al = (struct store_alloc){ .session = 1, .callsite = wb, .allocs = 10, .frees = 10,
					   .bytes = 1000, .live_count = 0, .live_bytes = 0,
					   .peak_bytes = 400 };
		store_alloc_put(p, &al);
		s1 = store_snapshot_add(p, 1, "start", 500000000);
		s2 = store_snapshot_add(p, 1, "end", 2000000000);
		store_snapshot_site_add(p, &(struct store_snapshot_site){
			.snapshot = s1, .callsite = aa, .allocs = 1, .bytes = 100,
			.live_count = 1, .live_bytes = 100 });
		store_snapshot_site_add(p, &(struct store_snapshot_site){
			.snapshot = s1, .callsite = wb, .allocs = 4, .bytes = 400,
			.live_count = 4, .live_bytes = 400 });
		store_snapshot_site_add(p, &(struct store_snapshot_site){
			.snapshot = s2, .callsite = aa, .allocs = 3, .bytes = 300,
			.live_count = 2, .live_bytes = 200 });
	}
	store_event_add(p, &(struct store_event){ .session = 1, .thread = t1,
		.name = store_string_intern(p, "request"), .kind = STORE_TASK_TASK,
		.start_ns = 1000000, .dur_ns = 30000000, .depth = 0 });
	store_event_add(p, &(struct store_event){ .session = 1, .thread = t1,
		.name = store_string_intern(p, "load"), .kind = STORE_TASK_TASK,
		.start_ns = 5000000, .dur_ns = 10000000, .depth = 1 });
	store_event_add(p, &(struct store_event){ .session = 1, .thread = t2,
		.name = store_string_intern(p, "save"), .kind = STORE_TASK_TASK,
		.start_ns = 2000000, .dur_ns = 7000000, .depth = 0 });
	return p;
}

#endif
