/* test-top-data.c - top's incremental counters agree with the shared aggregation, walked or in bulk. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "tests/unit/unit.h"
#include "viewer/top-impl.h"
#include "viewer/viewer.h"

static uint64_t rng = 12345;

static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

/* Few functions and deep stacks, so most stacks recurse. */
static void add_samples(struct store_profile *p, uint32_t sess, const uint32_t *frames,
			uint32_t nframes, uint32_t threads, int n)
{
	for (int i = 0; i < n; i++) {
		uint32_t stack[24], depth = 1 + rnd(24);
		struct store_sample s = { 0 };

		for (uint32_t d = 0; d < depth; d++)
			stack[d] = frames[rnd(nframes)];
		s.session = sess;
		s.thread = 1 + rnd(threads);
		s.callsite = store_callsite_from_stack(p, stack, depth);
		s.state = rnd(2) ? STORE_STATE_GIL : STORE_STATE_IDLE;
		s.weight = 1 + rnd(5);
		store_sample_add(p, &s);
	}
}

static struct store_profile *profile(uint32_t *frames, uint32_t *sess)
{
	struct store_profile *p = store_profile_new();
	struct store_session s = { .pid = 1, .command = "t", .runtime = "python", .mode = "python",
				   .rate_hz = 100 };
	char name[32];

	*sess = store_session_add(p, &s);
	store_thread_add(p, *sess, 10, "main", "");
	store_thread_add(p, *sess, 11, "worker", "");
	for (uint32_t i = 0; i < 12; i++) {
		struct store_frame f = { 0 };

		snprintf(name, sizeof(name), "fn%u", i);
		f.function = store_string_intern(p, name);
		f.file = store_string_intern(p, i % 2 ? "a.py" : "b.py");
		f.line = (int)i % 3 + 1;	/* several lines per function */
		f.kind = STORE_KIND_PYTHON;
		frames[i] = store_frame_intern(p, &f);
	}
	return p;
}

/* Every function row of d equals view_agg's row of the same name and file. */
static int agrees(struct top_data *d, struct store_profile *p, uint32_t thread)
{
	struct view_agg *a = view_agg_new(VIEW_BY_FUNCTION);
	struct view_filter f = { 0 };
	int bad = 0, seen = 0;

	f.threads = &thread;
	f.nthreads = thread ? 1 : 0;
	view_agg_run(a, p, &f);
	for (uint32_t i = 0; i < view_agg_nrows(a); i++) {
		const struct view_row *r = view_agg_row(a, i);
		const char *name = store_string(p, r->function), *file = store_string(p, r->file);

		if (!r->total)
			continue;
		seen++;
		for (uint32_t k = 0; k < d->nfns; k++) {
			const struct top_key *key = &d->keys[d->fns[k].key];

			if (strcmp(key->name, name) || strcmp(key->file, file))
				continue;
			if (d->fns[k].self != r->self || d->fns[k].total != r->total) {
				printf("#   %s: top %llu/%llu, agg %llu/%llu\n", name,
				       (unsigned long long)d->fns[k].self,
				       (unsigned long long)d->fns[k].total,
				       (unsigned long long)r->self, (unsigned long long)r->total);
				bad++;
			}
		}
	}
	view_agg_free(a);
	return seen > 0 && !bad;
}

static void check_pass(enum top_pass pass)
{
	uint32_t frames[12], sess;
	struct store_profile *p = profile(frames, &sess);
	struct top_data d;

	top_data_init(&d);
	d.pass = pass;
	add_samples(p, sess, frames, 12, 2, 3000);
	top_data_update(&d, p);
	CHECK(agrees(&d, p, 0));
	add_samples(p, sess, frames, 12, 2, 500);	/* new stacks and old ones grow */
	top_data_update(&d, p);
	CHECK(agrees(&d, p, 0));
	d.thread = 2;
	top_data_rebuild(&d, p);
	CHECK(agrees(&d, p, 2));
	d.tree = 1;
	d.thread = 0;
	top_data_rebuild(&d, p);
	add_samples(p, sess, frames, 12, 2, 500);
	top_data_update(&d, p);
	CHECK(agrees(&d, p, 0));
	/* Split: a row per (function, thread); the rows of one thread are
	 * that thread's numbers. */
	d.split = 1;
	top_data_rebuild(&d, p);
	add_samples(p, sess, frames, 12, 2, 200);
	top_data_update(&d, p);
	{
		uint64_t self = 0;

		for (uint32_t k = 0; k < d.nfns; k++)
			self += d.fns[k].self;
		CHECK_EQ_INT(self, d.total);
	}
	d.split = 0;
	top_data_rebuild(&d, p);
	/* The tree's roots add up to every sample, once. */
	{
		uint64_t roots = 0;

		for (uint32_t c = d.nodes[0].first; c; c = d.nodes[c].next)
			roots += d.nodes[c].total;
		CHECK_EQ_INT(roots, d.total);
		CHECK_EQ_INT(d.nodes[0].total, d.total);
	}
	top_data_free(&d);
	store_profile_free(p);
}

static void test_walk(void) { check_pass(TOP_PASS_WALK); }
static void test_bulk(void) { check_pass(TOP_PASS_BULK); }

int main(void)
{
	RUN(test_walk);
	RUN(test_bulk);
	return unit_done();
}
