/* test-store-io.c - the writer and reader: exact round trips, a live store, every bad input. */
#include "config.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store.h"
#include "tests/unit/unit.h"
#include "tests/unit/store-fixture.h"

static char dir[] = "/tmp/sonda-test-store-io.XXXXXX";
static char path[256];

static const char *tmp(const char *name)
{
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return path;
}

static void compare(const struct store_profile *a, const struct store_profile *b)
{
	CHECK_EQ_INT(store_profile_bucket(a), store_profile_bucket(b));
	CHECK_EQ_INT(store_nstrings(a), store_nstrings(b));
	for (uint32_t i = 0; i < store_nstrings(a) && i < store_nstrings(b); i++)
		CHECK_EQ_STR(store_string(a, i), store_string(b, i));
	CHECK_EQ_INT(store_nframes(a), store_nframes(b));
	for (uint32_t i = 0; i < store_nframes(a) && i < store_nframes(b); i++) {
		const struct store_frame *x = store_frame_get(a, i), *y = store_frame_get(b, i);

		CHECK(x->function == y->function && x->file == y->file &&
		      x->module == y->module && x->line == y->line && x->kind == y->kind);
	}
	CHECK_EQ_INT(store_ncallsites(a), store_ncallsites(b));
	for (uint32_t i = 0; i < store_ncallsites(a) && i < store_ncallsites(b); i++) {
		const struct store_callsite *x = store_callsite_get(a, i), *y = store_callsite_get(b, i);

		CHECK(x->parent == y->parent && x->frame == y->frame && x->depth == y->depth);
	}
	CHECK_EQ_INT(store_nsessions(a), store_nsessions(b));
	for (uint32_t i = 0; i < store_nsessions(a) && i < store_nsessions(b); i++) {
		const struct store_session *x = store_session_get((struct store_profile *)a, i);
		const struct store_session *y = store_session_get((struct store_profile *)b, i);

		CHECK_EQ_INT(x->pid, y->pid);
		CHECK_EQ_STR(x->command, y->command);
		CHECK_EQ_STR(x->runtime, y->runtime);
		CHECK_EQ_STR(x->version, y->version);
		CHECK_EQ_STR(x->mode, y->mode);
		CHECK(x->rate_hz == y->rate_hz);
		CHECK_EQ_INT(x->start_ns, y->start_ns);
		CHECK_EQ_INT(x->end_ns, y->end_ns);
		CHECK_EQ_INT(x->samples, y->samples);
		CHECK_EQ_INT(x->missed, y->missed);
		CHECK_EQ_INT(x->errors, y->errors);
		CHECK_EQ_STR(x->last_error, y->last_error);
	}
	CHECK_EQ_INT(store_nthreads(a), store_nthreads(b));
	for (uint32_t i = 0; i < store_nthreads(a) && i < store_nthreads(b); i++) {
		const struct store_thread *x = store_thread_get(a, i), *y = store_thread_get(b, i);

		CHECK(x->session == y->session && x->tid == y->tid);
		CHECK_EQ_STR(x->name, y->name);
		CHECK_EQ_STR(x->role, y->role);
	}
	CHECK_EQ_INT(store_nsamples(a), store_nsamples(b));
	for (uint32_t i = 0; i < store_nsamples(a) && i < store_nsamples(b); i++) {
		const struct store_sample *x = store_sample_get(a, i), *y = store_sample_get(b, i);

		CHECK(x->session == y->session && x->thread == y->thread &&
		      x->callsite == y->callsite && x->state == y->state &&
		      x->time_ns == y->time_ns && x->weight == y->weight);
	}
	CHECK_EQ_INT(store_nstacks(a), store_nstacks(b));
	for (uint32_t i = 0; i < store_nstacks(a) && i < store_nstacks(b); i++) {
		const struct store_stack *x = store_stack_get(a, i), *y = store_stack_get(b, i);

		CHECK(x->session == y->session && x->thread == y->thread &&
		      x->callsite == y->callsite && x->state == y->state && x->weight == y->weight);
	}
	CHECK_EQ_INT(store_ntasks(a), store_ntasks(b));
	for (uint32_t i = 0; i < store_ntasks(a) && i < store_ntasks(b); i++) {
		const struct store_task *x = store_task_get(a, i), *y = store_task_get(b, i);

		CHECK(x->session == y->session && x->thread == y->thread && x->name == y->name &&
		      x->parent == y->parent && x->kind == y->kind && x->calls == y->calls &&
		      x->wall_ns == y->wall_ns && x->self_ns == y->self_ns &&
		      x->cpu_ns == y->cpu_ns && x->min_ns == y->min_ns && x->max_ns == y->max_ns);
		CHECK(!memcmp(x->hist, y->hist, sizeof(x->hist)));
	}
	CHECK_EQ_INT(store_nallocs(a), store_nallocs(b));
	for (uint32_t i = 0; i < store_nallocs(a) && i < store_nallocs(b); i++) {
		const struct store_alloc *x = store_alloc_get(a, i), *y = store_alloc_get(b, i);

		CHECK(x->session == y->session && x->callsite == y->callsite &&
		      x->allocs == y->allocs && x->frees == y->frees && x->bytes == y->bytes &&
		      x->live_count == y->live_count && x->live_bytes == y->live_bytes &&
		      x->peak_bytes == y->peak_bytes);
	}
	CHECK_EQ_INT(store_nsnapshots(a), store_nsnapshots(b));
	for (uint32_t i = 0; i < store_nsnapshots(a) && i < store_nsnapshots(b); i++) {
		const struct store_snapshot *x = store_snapshot_get(a, i), *y = store_snapshot_get(b, i);

		CHECK(x->session == y->session && x->time_ns == y->time_ns);
		CHECK_EQ_STR(x->label, y->label);
	}
	CHECK_EQ_INT(store_nsnapshot_sites(a), store_nsnapshot_sites(b));
	for (uint32_t i = 0; i < store_nsnapshot_sites(a) && i < store_nsnapshot_sites(b); i++) {
		const struct store_snapshot_site *x = store_snapshot_site_get(a, i);
		const struct store_snapshot_site *y = store_snapshot_site_get(b, i);

		CHECK(x->snapshot == y->snapshot && x->callsite == y->callsite &&
		      x->allocs == y->allocs && x->bytes == y->bytes &&
		      x->live_count == y->live_count && x->live_bytes == y->live_bytes);
	}
	CHECK_EQ_INT(store_nevents(a), store_nevents(b));
	for (uint32_t i = 0; i < store_nevents(a) && i < store_nevents(b); i++) {
		const struct store_event *x = store_event_get(a, i), *y = store_event_get(b, i);

		CHECK(x->session == y->session && x->thread == y->thread && x->name == y->name &&
		      x->kind == y->kind && x->start_ns == y->start_ns && x->dur_ns == y->dur_ns &&
		      x->depth == y->depth);
	}
}

static struct store_profile *full_profile(struct fixture *x)
{
	struct store_profile *p = store_profile_new();

	fixture_build(p, x);
	fixture_samples(p, x, 1);
	fixture_samples(p, x, 0);
	fixture_stats(p, x);
	return p;
}

static void test_round_trip(void)
{
	struct fixture x;
	struct store_profile *p = full_profile(&x), *q;
	char err[256] = "";

	CHECK_EQ_INT(store_save(tmp("rt.db"), p, err, sizeof(err)), 0);
	CHECK_EQ_STR(err, "");
	q = store_load(tmp("rt.db"), err, sizeof(err));
	CHECK(q != NULL);
	if (q) {
		compare(p, q);
		CHECK_EQ_INT(store_nsamples(q), 10);
		CHECK_EQ_INT(store_nstacks(q), 9);
		CHECK_EQ_INT(store_ntasks(q), 3);
		CHECK_EQ_INT(store_hist_quantile(store_task_get(q, 0)->hist, 0.5), 102);
	}
	/* A loaded profile saves to the same store again. */
	if (q) {
		struct store_profile *r;

		CHECK_EQ_INT(store_save(tmp("rt2.db"), q, err, sizeof(err)), 0);
		r = store_load(tmp("rt2.db"), err, sizeof(err));
		CHECK(r != NULL);
		if (r)
			compare(p, r);
		store_profile_free(r);
	}
	store_profile_free(p);
	store_profile_free(q);
}

/* Several syncs: sample deltas, rewritten tasks and allocs, renamed threads. */
static void test_round_trip_incremental(void)
{
	struct fixture x;
	struct store_profile *p = store_profile_new(), *q;
	struct store_writer *w;
	char err[256] = "";

	w = store_writer_open(tmp("inc.db"), err, sizeof(err));
	CHECK(w != NULL);
	if (!w)
		return;
	fixture_build(p, &x);
	fixture_samples(p, &x, 1);
	fixture_stats(p, &x);
	CHECK_EQ_INT(store_writer_sync(w, p), 0);
	fixture_samples(p, &x, 0);
	store_thread_find(p, x.session, 4243, "worker-renamed");
	{
		struct store_task t = *store_task_get(p, 0);

		t.calls = 99;
		store_task_put(p, &t);
	}
	CHECK_EQ_INT(store_writer_sync(w, p), 0);
	CHECK_EQ_INT(store_writer_sync(w, p), 0);	/* nothing new: an empty batch */
	CHECK_EQ_INT(store_writer_close(w, p, err, sizeof(err)), 0);
	q = store_load(tmp("inc.db"), err, sizeof(err));
	CHECK(q != NULL);
	if (q) {
		compare(p, q);
		CHECK_EQ_STR(store_thread_get(q, x.t2)->name, "worker-renamed");
		CHECK_EQ_INT(store_task_get(q, 0)->calls, 99);
		CHECK(store_session_get(q, 1)->end_ns != 0);
	}
	store_profile_free(p);
	store_profile_free(q);
}

static void test_round_trip_raw(void)
{
	struct fixture x;
	struct store_profile *p = store_profile_new(), *q;
	char err[256] = "";

	store_profile_set_bucket(p, 0);
	fixture_build(p, &x);
	fixture_samples(p, &x, 1);
	fixture_samples(p, &x, 0);
	CHECK_EQ_INT(store_nsamples(p), 15);
	CHECK_EQ_INT(store_save(tmp("raw.db"), p, err, sizeof(err)), 0);
	q = store_load(tmp("raw.db"), err, sizeof(err));
	CHECK(q != NULL);
	if (q) {
		compare(p, q);
		CHECK_EQ_INT(store_profile_bucket(q), 0);
	}
	store_profile_free(p);
	store_profile_free(q);
}

/* A live writer in WAL mode: a reader sees every committed batch. */
static void test_live_store_readable(void)
{
	struct fixture x;
	struct store_profile *p = store_profile_new(), *q;
	struct store_writer *w;
	char err[256] = "";

	w = store_writer_open(tmp("live.db"), err, sizeof(err));
	CHECK(w != NULL);
	if (!w)
		return;
	fixture_build(p, &x);
	fixture_samples(p, &x, 1);
	store_writer_sync(w, p);
	CHECK_EQ_INT(store_writer_flush(w), 0);
	q = store_load(tmp("live.db"), err, sizeof(err));
	CHECK(q != NULL);
	if (q) {
		CHECK_EQ_INT(store_nsamples(q), store_nsamples(p));
		CHECK_EQ_INT(store_nstacks(q), 6);
		CHECK_EQ_INT(store_stack_get(q, 0)->weight, 1);
		store_profile_free(q);
	}
	fixture_samples(p, &x, 0);
	store_writer_sync(w, p);
	CHECK_EQ_INT(store_writer_flush(w), 0);
	q = store_load(tmp("live.db"), err, sizeof(err));
	CHECK(q != NULL);
	if (q) {
		CHECK_EQ_INT(store_stack_get(q, 0)->weight, 3);
		CHECK_EQ_INT(store_nstacks(q), 9);
		store_profile_free(q);
	}
	/* A reader in the middle of a read while the writer closes. */
	{
		sqlite3 *db;
		sqlite3_stmt *s;

		sqlite3_open_v2(tmp("live.db"), &db, SQLITE_OPEN_READONLY, NULL);
		sqlite3_prepare_v2(db, "SELECT * FROM samples", -1, &s, NULL);
		CHECK_EQ_INT(sqlite3_step(s), SQLITE_ROW);
		CHECK_EQ_INT(store_writer_close(w, p, err, sizeof(err)), 0);
		sqlite3_finalize(s);
		sqlite3_close(db);
	}
	q = store_load(tmp("live.db"), err, sizeof(err));
	CHECK(q != NULL);
	if (q)
		compare(p, q);
	store_profile_free(q);
	store_profile_free(p);
}

/* Syncs far faster than the writer commits: some are deferred, none lost. */
static void test_many_fast_syncs(void)
{
	struct fixture x;
	struct store_profile *p = store_profile_new(), *q;
	struct store_writer *w;
	char err[256] = "";

	w = store_writer_open(tmp("fast.db"), err, sizeof(err));
	CHECK(w != NULL);
	if (!w)
		return;
	fixture_build(p, &x);
	for (int i = 0; i < 400; i++) {
		struct store_sample s = { x.session, i % 2 ? x.t1 : x.t2, x.s[1 + i % 5],
					  STORE_STATE_ONCPU, (int64_t)i * 10000000, 1 };

		store_sample_add(p, &s);
		CHECK_EQ_INT(store_writer_sync(w, p), 0);
	}
	CHECK_EQ_INT(store_writer_close(w, p, err, sizeof(err)), 0);
	q = store_load(tmp("fast.db"), err, sizeof(err));
	CHECK(q != NULL);
	if (q) {
		compare(p, q);
		CHECK_EQ_INT(store_nstacks(q), 10);
	}
	store_profile_free(p);
	store_profile_free(q);
}

static void write_file(const char *name, const void *data, size_t n)
{
	FILE *f = fopen(tmp(name), "wb");

	fwrite(data, 1, n, f);
	fclose(f);
}

static void expect_refused(const char *name, const char *reason)
{
	char err[256] = "";
	struct store_profile *q = store_load(tmp(name), err, sizeof(err));

	CHECK(q == NULL);
	store_profile_free(q);
	if (!strstr(err, reason))
		printf("#   %s: \"%s\", expected \"%s\"\n", name, err, reason);
	CHECK(strstr(err, reason) != NULL);
	CHECK(strchr(err, '\n') == NULL);
}

static void sql(const char *name, const char *statements)
{
	sqlite3 *db;

	sqlite3_open(tmp(name), &db);
	sqlite3_exec(db, statements, NULL, NULL, NULL);
	sqlite3_close(db);
}

static void copy_truncated(const char *from, const char *to, long keep)
{
	FILE *f = fopen(tmp(from), "rb");
	char *buf = malloc(1 << 22);
	size_t n = fread(buf, 1, 1 << 22, f);

	fclose(f);
	if ((long)n > keep)
		n = (size_t)keep;
	write_file(to, buf, n);
	free(buf);
}

static void test_bad_inputs(void)
{
	struct fixture x;
	struct store_profile *p = full_profile(&x);
	char err[256], garbage[8192];

	for (size_t i = 0; i < sizeof(garbage); i++)
		garbage[i] = (char)(i * 7919 + 13);
	expect_refused("missing.db", "No such file or directory");
	write_file("empty.db", "", 0);
	expect_refused("empty.db", "empty file");
	write_file("text.db", "hello, world\n", 13);
	expect_refused("text.db", "not a SQLite database");
	write_file("garbage.db", garbage, sizeof(garbage));
	expect_refused("garbage.db", "not a SQLite database");
	memcpy(garbage, "SQLite format 3", 16);
	write_file("magic.db", garbage, sizeof(garbage));
	expect_refused("magic.db", "corrupt");
	sql("other.db", "CREATE TABLE t(x); INSERT INTO t VALUES(1);");
	expect_refused("other.db", "a SQLite database but not a sonda store");
	mkdir(tmp("dir.db"), 0700);
	expect_refused("dir.db", "is a directory");

	CHECK_EQ_INT(store_save(tmp("newer.db"), p, err, sizeof(err)), 0);
	sql("newer.db", "PRAGMA user_version = 7;");
	expect_refused("newer.db", "written by a newer sonda (schema 7, this sonda reads 1)");

	/* Big enough to span many pages, then cut in half. */
	for (int i = 0; i < 3000; i++) {
		char name[32];
		uint32_t f;

		snprintf(name, sizeof(name), "function_%d", i);
		f = fixture_frame(p, name, i, "mod");
		store_sample_add(p, &(struct store_sample){ x.session, x.t1,
				 store_callsite_from_stack(p, &f, 1), 4, i, 1 });
	}
	CHECK_EQ_INT(store_save(tmp("whole.db"), p, err, sizeof(err)), 0);
	copy_truncated("whole.db", "truncated.db", 40000);
	expect_refused("truncated.db", "corrupt");
	copy_truncated("whole.db", "header.db", 100);
	expect_refused("header.db", "corrupt");
	/* A dangling reference survives SQLite's checks but not ours. */
	CHECK_EQ_INT(store_save(tmp("dangling.db"), p, err, sizeof(err)), 0);
	sql("dangling.db", "UPDATE samples SET callsite = 999999 WHERE rowid = 1;");
	expect_refused("dangling.db", "corrupt store (samples)");
	CHECK_EQ_INT(store_save(tmp("cycle.db"), p, err, sizeof(err)), 0);
	sql("cycle.db", "UPDATE callsites SET parent = 5 WHERE id = 3;");
	expect_refused("cycle.db", "corrupt store (callsites)");
	CHECK_EQ_INT(store_save(tmp("hist.db"), p, err, sizeof(err)), 0);
	sql("hist.db", "UPDATE task_stats SET hist = x'ffff01000000';");
	expect_refused("hist.db", "corrupt store (task_stats)");
	store_profile_free(p);
}

static void test_writer_refuses_bad_path(void)
{
	char err[256] = "";
	struct store_writer *w = store_writer_open("/nonexistent-dir/x.db", err, sizeof(err));

	CHECK(w == NULL);
	CHECK(strstr(err, "/nonexistent-dir/x.db") != NULL);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	RUN(test_round_trip);
	RUN(test_round_trip_incremental);
	RUN(test_round_trip_raw);
	RUN(test_live_store_readable);
	RUN(test_many_fast_syncs);
	RUN(test_bad_inputs);
	RUN(test_writer_refuses_bad_path);
	if (!unit_failed) {
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd)) {
		}
	}
	return unit_done();
}
