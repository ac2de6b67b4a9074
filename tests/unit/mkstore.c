/* mkstore.c - writes stores with known contents for the report/export/diff tests (tests/t/t2*.sh).
 *
 *   mkstore OUT.db [fixture|base|new|hostile|deep|funcs]
 *
 * fixture: the profile of view-fixture.h (its comment has the numbers).
 * base, new: two runs of main -> {a, b, c} for diff:
 *   base a 10, b 30, c 60 samples; new a 100, b 40, c 60.
 * hostile: names with quotes, control characters, invalid UTF-8, XML
 *   specials and a 300-character function name.
 * deep: one stack 3000 frames deep (f0 -> f1 -> ... ), weight 7.
 * funcs: -finstrument-functions stats, merged over threads: main (1 call)
 *   calls alpha 10 times (10 us) and beta 5 times; alpha calls beta 20
 *   times (4 us); beta 25 calls in all.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "tests/unit/view-fixture.h"

static struct store_profile *simple(const char *cmd)
{
	struct store_profile *p = store_profile_new();
	struct store_session s = { .pid = 1, .command = cmd, .runtime = "python",
				   .version = "3.11.7", .mode = "cpu", .rate_hz = 100,
				   .start_ns = 1700000000000000000LL, .last_error = "" };

	store_session_add(p, &s);
	store_thread_add(p, 1, 10, "main", "main");
	return p;
}

static struct store_profile *diff_side(int which)
{
	struct store_profile *p = simple(which ? "new" : "base");
	uint32_t m = fx_frame(p, "main", "d.py", 1, "d", STORE_KIND_PYTHON);
	const char *names[3] = { "a", "b", "c" };
	uint64_t w[2][3] = { { 10, 30, 60 }, { 100, 40, 60 } };

	for (int i = 0; i < 3; i++) {
		uint32_t f = fx_frame(p, names[i], "d.py", 10 + i, "d", STORE_KIND_PYTHON);

		fx_sample(p, 1, fx_stack(p, (uint32_t[]){ m, f }, 2), w[which][i], 0, 0);
	}
	return p;
}

static struct store_profile *hostile(void)
{
	struct store_profile *p = simple("evil \"cmd\" <&>");
	char longname[301];
	uint32_t a, b, c, d;

	memset(longname, 'L', 300);
	longname[300] = 0;
	a = fx_frame(p, "quote\"back\\slash", "a<b>&'c'.py", 1, "m", STORE_KIND_PYTHON);
	b = fx_frame(p, "ctl\x01\x1f\ttab\nnl", "f.py", 2, "m", STORE_KIND_PYTHON);
	c = fx_frame(p, "bad\xff\xc3utf8\xe2\x82", "g.py", 3, "m", STORE_KIND_PYTHON);
	d = fx_frame(p, longname, "h.py", 4, "m", STORE_KIND_PYTHON);
	fx_sample(p, 1, fx_stack(p, (uint32_t[]){ a, b, c, d }, 4), 3, 0, 0);
	fx_sample(p, 1, fx_stack(p, (uint32_t[]){ a, c }, 2), 2, 0, 0);
	return p;
}

static struct store_profile *deep(void)
{
	struct store_profile *p = simple("deep");
	uint32_t *frames = malloc(3000 * sizeof(*frames));
	char name[32];

	for (int i = 0; i < 3000; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		frames[i] = fx_frame(p, name, "deep.py", i + 1, "deep", STORE_KIND_PYTHON);
	}
	fx_sample(p, 1, fx_stack(p, frames, 3000), 7, 0, 0);
	free(frames);
	return p;
}

static void put_fn(struct store_profile *p, const char *name, const char *parent,
		   uint64_t calls, int64_t wall)
{
	struct store_task t = { .session = 1, .thread = 0, .name = store_string_intern(p, name),
				.parent = parent ? store_string_intern(p, parent) : 0,
				.kind = STORE_TASK_FUNCTION, .calls = calls, .wall_ns = wall,
				.self_ns = wall / 2, .min_ns = 1, .max_ns = wall };

	store_task_put(p, &t);
}

static struct store_profile *funcs(void)
{
	struct store_profile *p = simple("funcs");

	put_fn(p, "main", NULL, 1, 20000);
	put_fn(p, "alpha", NULL, 10, 10000);
	put_fn(p, "beta", NULL, 25, 5000);
	put_fn(p, "alpha", "main", 10, 10000);
	put_fn(p, "beta", "main", 5, 1000);
	put_fn(p, "beta", "alpha", 20, 4000);
	return p;
}

int main(int argc, char **argv)
{
	const char *what = argc > 2 ? argv[2] : "fixture";
	struct store_profile *p;
	char err[256];

	if (argc < 2) {
		fprintf(stderr, "usage: mkstore OUT.db [fixture|base|new|hostile|deep|funcs]\n");
		return 2;
	}
	if (!strcmp(what, "fixture"))
		p = fx_profile();
	else if (!strcmp(what, "base") || !strcmp(what, "new"))
		p = diff_side(!strcmp(what, "new"));
	else if (!strcmp(what, "hostile"))
		p = hostile();
	else if (!strcmp(what, "deep"))
		p = deep();
	else if (!strcmp(what, "funcs"))
		p = funcs();
	else {
		fprintf(stderr, "mkstore: unknown profile '%s'\n", what);
		return 2;
	}
	if (store_save(argv[1], p, err, sizeof(err)) < 0) {
		fprintf(stderr, "mkstore: %s: %s\n", argv[1], err);
		store_profile_free(p);
		return 1;
	}
	store_profile_free(p);
	return 0;
}
