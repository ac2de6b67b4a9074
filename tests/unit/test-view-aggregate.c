/* test-view-aggregate.c - self/total per function, line, file and thread on a profile with known numbers. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "viewer/viewer.h"
#include "tests/unit/unit.h"
#include "tests/unit/view-fixture.h"

/* The row whose function (or file, with by file) is name; NULL if none. */
static const struct view_row *find(const struct view_agg *a, const struct store_profile *p,
				   const char *name, int line)
{
	for (uint32_t i = 0; i < view_agg_nrows(a); i++) {
		const struct view_row *r = view_agg_row(a, i);
		const char *s = store_string(p, r->function ? r->function : r->file);

		if (!strcmp(s, name) && (!line || r->line == line))
			return r;
	}
	return NULL;
}

#define CHECK_ROW(a, p, name, line, s, t) do { \
	const struct view_row *r_ = find(a, p, name, line); \
	CHECK(r_ != NULL); \
	if (r_) { CHECK_EQ_INT(r_->self, s); CHECK_EQ_INT(r_->total, t); } } while (0)

static void test_function_self_total(void)
{
	struct store_profile *p = fx_profile();
	struct view_agg *a = view_agg_new(VIEW_BY_FUNCTION);

	CHECK_EQ_INT(view_agg_run(a, p, NULL), 0);
	CHECK_EQ_INT(view_agg_weight(a), 16);
	CHECK_ROW(a, p, "main", 0, 0, 10);
	CHECK_ROW(a, p, "a", 0, 2, 5);
	CHECK_ROW(a, p, "b", 0, 8, 8);
	CHECK_ROW(a, p, "r", 0, 5, 5);	/* r;r;r counted once, not 12 */
	CHECK_ROW(a, p, "x", 0, 0, 1);
	CHECK_ROW(a, p, "w", 0, 0, 5);
	CHECK_ROW(a, p, "libc.so.6+0x1a2b", 0, 1, 1);
	view_agg_free(a);
	store_profile_free(p);
}

static void test_line_and_file(void)
{
	struct store_profile *p = fx_profile();
	struct view_agg *l = view_agg_new(VIEW_BY_LINE), *f = view_agg_new(VIEW_BY_FILE);

	view_agg_run(l, p, NULL);
	CHECK_ROW(l, p, "main", 10, 0, 5);
	CHECK_ROW(l, p, "main", 11, 0, 5);
	CHECK_ROW(l, p, "r", 30, 5, 5);
	view_agg_run(f, p, NULL);
	CHECK_ROW(f, p, "app.py", 0, 7, 10);	/* a 2 + r 5; every stack of main */
	CHECK_ROW(f, p, "lib.py", 0, 8, 8);
	CHECK_ROW(f, p, "worker.py", 0, 0, 5);
	view_agg_free(l);
	view_agg_free(f);
	store_profile_free(p);
}

static void test_thread_and_state_filters(void)
{
	struct store_profile *p = fx_profile();
	struct view_agg *a = view_agg_new(VIEW_BY_FUNCTION);
	uint32_t main_thread = 1, worker = 2;
	struct view_filter f = { .threads = &main_thread, .nthreads = 1 };

	view_agg_run(a, p, &f);
	CHECK_EQ_INT(view_agg_weight(a), 10);
	CHECK_ROW(a, p, "b", 0, 3, 3);
	CHECK_ROW(a, p, "w", 0, 0, 0);
	f.threads = &worker;
	view_agg_run(a, p, &f);
	CHECK_EQ_INT(view_agg_weight(a), 6);
	CHECK_ROW(a, p, "b", 0, 5, 5);
	CHECK_ROW(a, p, "main", 0, 0, 0);
	/* --idle off: drop the idle stack */
	f = (struct view_filter){ .state_none = STORE_STATE_IDLE };
	view_agg_run(a, p, &f);
	CHECK_EQ_INT(view_agg_weight(a), 15);
	f = (struct view_filter){ .state_any = STORE_STATE_GIL };
	view_agg_run(a, p, &f);
	CHECK_EQ_INT(view_agg_weight(a), 9);
	CHECK_ROW(a, p, "r", 0, 4, 4);
	/* samples in a time window: the second bucket only */
	f = (struct view_filter){ .use_samples = 1, .from_ns = 1000000000 };
	view_agg_run(a, p, &f);
	CHECK_EQ_INT(view_agg_weight(a), 6);
	CHECK_ROW(a, p, "r", 0, 5, 5);
	view_agg_free(a);
	store_profile_free(p);
}

static void test_sorted_rows(void)
{
	struct store_profile *p = fx_profile();
	struct view_agg *a = view_agg_new(VIEW_BY_FUNCTION);
	const uint32_t *order;
	uint32_t n;

	view_agg_run(a, p, NULL);
	n = view_agg_sort(a, p, VIEW_SORT_SELF, 0, &order);
	CHECK_EQ_INT(n, 7);
	CHECK_EQ_STR(store_string(p, view_agg_row(a, order[0])->function), "b");
	CHECK_EQ_STR(store_string(p, view_agg_row(a, order[1])->function), "r");
	n = view_agg_sort(a, p, VIEW_SORT_TOTAL, 0, &order);
	CHECK_EQ_STR(store_string(p, view_agg_row(a, order[0])->function), "main");
	n = view_agg_sort(a, p, VIEW_SORT_NAME, 0, &order);
	CHECK_EQ_STR(store_string(p, view_agg_row(a, order[0])->function), "a");
	CHECK_EQ_STR(store_string(p, view_agg_row(a, order[n - 1])->function), "x");
	view_agg_free(a);
	store_profile_free(p);
}

/* A live view: new stacks and call sites after the first run, a window. */
static void test_incremental_and_window(void)
{
	struct store_profile *p = fx_profile();
	struct view_agg *a = view_agg_new(VIEW_BY_FUNCTION);
	uint64_t base[64];
	uint32_t n, z, main10, cs;

	view_agg_run(a, p, NULL);
	n = store_nstacks(p);
	for (uint32_t i = 0; i < n; i++)
		base[i] = store_stack_get(p, i)->weight;
	main10 = fx_frame(p, "main", "app.py", 10, "app", STORE_KIND_PYTHON);
	z = fx_frame(p, "z", "app.py", 50, "app", STORE_KIND_PYTHON);
	cs = fx_stack(p, (uint32_t[]){ main10, z, z }, 3);
	fx_sample(p, 1, cs, 7, STORE_STATE_ONCPU, 2000000000);
	fx_sample(p, 2, store_stack_get(p, 4)->callsite, 2, STORE_STATE_ONCPU, 2000000000);
	view_agg_run(a, p, NULL);
	CHECK_EQ_INT(view_agg_weight(a), 25);
	CHECK_ROW(a, p, "z", 0, 7, 7);
	CHECK_ROW(a, p, "main", 0, 0, 17);
	view_agg_run(a, p, &(struct view_filter){ .base = base, .nbase = n });
	CHECK_EQ_INT(view_agg_weight(a), 9);
	CHECK_ROW(a, p, "z", 0, 7, 7);
	CHECK_ROW(a, p, "main", 0, 0, 7);
	CHECK_ROW(a, p, "b", 0, 2, 2);
	view_agg_free(a);
	store_profile_free(p);
}

/* Deep shared stacks make a run fold the tree; a one-thread filter makes
 * it walk the stacks.  Both count a recursive function once per stack. */
static void test_fold_and_walk_agree(void)
{
	struct store_profile *p = store_profile_new();
	struct store_session s = { .pid = 1, .command = "deep", .runtime = "python",
				   .version = "", .mode = "cpu", .rate_hz = 100, .last_error = "" };
	uint32_t frames[101], t1, t2, a, b, x, y, z, two;
	struct view_agg *agg = view_agg_new(VIEW_BY_FUNCTION);

	store_session_add(p, &s);
	t1 = store_thread_add(p, 1, 1, "one", "");
	t2 = store_thread_add(p, 1, 2, "two", "");
	a = fx_frame(p, "A", "r.py", 1, "r", STORE_KIND_PYTHON);
	b = fx_frame(p, "B", "r.py", 2, "r", STORE_KIND_PYTHON);
	x = fx_frame(p, "X", "r.py", 3, "r", STORE_KIND_PYTHON);
	y = fx_frame(p, "Y", "r.py", 4, "r", STORE_KIND_PYTHON);
	z = fx_frame(p, "Z", "r.py", 5, "r", STORE_KIND_PYTHON);
	for (int i = 0; i < 100; i++)
		frames[i] = i % 2 ? b : a;
	frames[100] = x;
	fx_sample(p, t1, fx_stack(p, frames, 101), 1, 0, 0);
	frames[100] = y;
	fx_sample(p, t1, fx_stack(p, frames, 101), 2, 0, 0);
	frames[100] = z;
	fx_sample(p, t2, fx_stack(p, frames, 101), 3, 0, 0);
	view_agg_run(agg, p, NULL);
	CHECK_ROW(agg, p, "A", 0, 0, 6);
	CHECK_ROW(agg, p, "B", 0, 0, 6);
	CHECK_ROW(agg, p, "Y", 0, 2, 2);
	two = t2;
	view_agg_run(agg, p, &(struct view_filter){ .threads = &two, .nthreads = 1 });
	CHECK_ROW(agg, p, "A", 0, 0, 3);
	CHECK_ROW(agg, p, "B", 0, 0, 3);
	CHECK_ROW(agg, p, "Z", 0, 3, 3);
	CHECK_ROW(agg, p, "X", 0, 0, 0);
	view_agg_free(agg);
	store_profile_free(p);
}

static void test_threads_rows(void)
{
	struct store_profile *p = fx_profile();
	struct view_thread_row *rows;
	long n = view_threads(p, NULL, &rows);

	CHECK_EQ_INT(n, 2);
	if (n == 2) {
		CHECK_EQ_INT(rows[0].tid, 100);
		CHECK_EQ_INT(rows[0].samples, 10);
		CHECK_EQ_INT(rows[0].gil, 9);
		CHECK_EQ_INT(rows[1].tid, 200);
		CHECK_EQ_STR(rows[1].name, "worker");
		CHECK_EQ_INT(rows[1].samples, 6);
		CHECK_EQ_INT(rows[1].idle, 1);
	}
	free(rows);
	store_profile_free(p);
}

static void test_flame_tree(void)
{
	struct store_profile *p = fx_profile();
	struct view_flame t;
	uint32_t c;

	CHECK_EQ_INT(view_flame_build(&t, p, NULL, VIEW_WEIGHT_SAMPLES, 0), 0);
	CHECK_EQ_INT(t.nodes[0].value, 16);
	CHECK_EQ_INT(t.max_depth, 4);
	/* children of the root in name order */
	c = t.nodes[0].first_child;
	CHECK_EQ_STR(t.nodes[c].name, "libc.so.6+0x1a2b");
	c = t.nodes[c].next_sibling;
	CHECK_EQ_STR(t.nodes[c].name, "main (app.py:10)");
	CHECK_EQ_INT(t.nodes[c].value, 5);
	c = t.nodes[c].next_sibling;
	CHECK_EQ_STR(t.nodes[c].name, "main (app.py:11)");
	CHECK_EQ_INT(t.nodes[c].value, 5);
	c = t.nodes[c].next_sibling;
	CHECK_EQ_STR(t.nodes[c].name, "w (worker.py:7)");
	CHECK_EQ_INT(t.nodes[c].next_sibling, 0);
	view_flame_free(&t);

	CHECK_EQ_INT(view_flame_build(&t, p, NULL, VIEW_WEIGHT_SAMPLES, 1), 0);
	c = t.nodes[0].first_child;
	CHECK_EQ_STR(t.nodes[c].name, "thread 100 (main)");
	CHECK_EQ_INT(t.nodes[c].value, 10);
	CHECK_EQ_STR(t.nodes[t.nodes[c].next_sibling].name, "thread 200 (worker)");
	view_flame_free(&t);

	CHECK_EQ_INT(view_flame_build(&t, p, NULL, VIEW_WEIGHT_ALLOC_BYTES, 0), 0);
	CHECK_EQ_INT(t.nodes[0].value, 1300);
	view_flame_free(&t);
	store_profile_free(p);
}

static void test_escaping(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	view_json_string(f, "a\"b\\c\n\x01\xff\xc3\xa9");
	fputc('|', f);
	view_xml_string(f, "<a & 'b'>\x02\xc0\x80");
	fputc('|', f);
	view_text_fit(f, "abcdefghij", 6, 0, 0);
	fputc('|', f);
	view_text_fit(f, "abcdefghij", 6, 1, 0);
	fputc('|', f);
	view_text_fit(f, "ab", 4, 1, 1);
	fclose(f);
	CHECK_EQ_STR(buf, "\"a\\\"b\\\\c\\n\\u0001\\ufffd\xc3\xa9\"|"
			  "&lt;a &amp; &apos;b&apos;&gt;\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd|"
			  "abc...|abcde\xe2\x80\xa6|ab  ");
	free(buf);
}

int main(void)
{
	RUN(test_function_self_total);
	RUN(test_line_and_file);
	RUN(test_thread_and_state_filters);
	RUN(test_sorted_rows);
	RUN(test_incremental_and_window);
	RUN(test_fold_and_walk_agree);
	RUN(test_threads_rows);
	RUN(test_flame_tree);
	RUN(test_escaping);
	return unit_done();
}
