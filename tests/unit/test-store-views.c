/* test-store-views.c - every SQL view's numbers on a hand-built profile with known self and total. */
#include "config.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store.h"
#include "tests/unit/unit.h"
#include "tests/unit/store-fixture.h"

static char dir[] = "/tmp/sonda-test-store-views.XXXXXX";
static char db_path[256];
static sqlite3 *db;

/* The rows of a query, one line each, columns joined by '|'. */
static char *rows(const char *query)
{
	static char out[8192];
	sqlite3_stmt *s;
	size_t n = 0;

	out[0] = 0;
	if (sqlite3_prepare_v2(db, query, -1, &s, NULL) != SQLITE_OK) {
		snprintf(out, sizeof(out), "error: %s", sqlite3_errmsg(db));
		return out;
	}
	while (sqlite3_step(s) == SQLITE_ROW) {
		for (int i = 0; i < sqlite3_column_count(s); i++) {
			const unsigned char *t = sqlite3_column_text(s, i);

			n += (size_t)snprintf(out + n, sizeof(out) - n, "%s%s", i ? "|" : "",
					      t ? (const char *)t : "NULL");
		}
		n += (size_t)snprintf(out + n, sizeof(out) - n, "\n");
	}
	sqlite3_finalize(s);
	return out;
}

static void test_top_self(void)
{
	CHECK_EQ_STR(rows("SELECT * FROM top_self"),
		     "b|app.py|app|9|60.0\n"
		     "a|app.py|app|5|33.33\n"
		     "main|app.py|app|1|6.67\n");
}

static void test_top_total_counts_recursion_once(void)
{
	CHECK_EQ_STR(rows("SELECT * FROM top_total"),
		     "main|app.py|app|15|100.0\n"
		     "a|app.py|app|14|93.33\n"
		     "b|app.py|app|9|60.0\n");
}

static void test_by_line(void)
{
	CHECK_EQ_STR(rows("SELECT * FROM by_line"),
		     "b|app.py|20|app|9|9|60.0|60.0\n"
		     "a|app.py|10|app|3|14|20.0|93.33\n"
		     "a|app.py|11|app|2|2|13.33|13.33\n"
		     "main|app.py|1|app|1|15|6.67|100.0\n");
}

static void test_folded(void)
{
	CHECK_EQ_STR(rows("SELECT * FROM folded"),
		     "main (app.py:1)|1\n"
		     "main (app.py:1);a (app.py:10)|3\n"
		     "main (app.py:1);a (app.py:10);a (app.py:11)|2\n"
		     "main (app.py:1);a (app.py:10);b (app.py:20)|5\n"
		     "main (app.py:1);b (app.py:20);a (app.py:10);b (app.py:20)|4\n");
}

static void test_tasks(void)
{
	CHECK_EQ_STR(rows("SELECT * FROM tasks"),
		     "parse|0|2|1000|1000|0|400|600|500|span\n"
		     "load|4242|4|400|300|100|50|150|100|task\n");
}

static void test_alloc_top(void)
{
	CHECK_EQ_STR(rows("SELECT * FROM alloc_top"),
		     "b|app.py|20|11|4|1024|624|824\n"
		     "a|app.py|10|2|2|64|0|64\n");
}

static void test_rows_summed_across_syncs(void)
{
	/* Two syncs wrote some keys twice; the views above summed them. */
	CHECK_EQ_STR(rows("SELECT COUNT(*) > 10, SUM(weight) FROM samples"), "1|15\n");
}

static void test_meta_and_ids(void)
{
	CHECK_EQ_STR(rows("SELECT key, value FROM meta WHERE key IN ('schema_version', 'bucket_ns')"
			  " ORDER BY key"),
		     "bucket_ns|1000000000\nschema_version|1\n");
	CHECK_EQ_STR(rows("PRAGMA application_id"), "1397706308\n");
	CHECK_EQ_STR(rows("PRAGMA user_version"), "1\n");
	CHECK_EQ_STR(rows("SELECT (SELECT value FROM strings WHERE id = 0),"
			  " (SELECT COUNT(*) FROM frames WHERE id = 0),"
			  " (SELECT COUNT(*) FROM callsites WHERE id = 0),"
			  " (SELECT COUNT(*) FROM sessions WHERE id = 0),"
			  " (SELECT COUNT(*) FROM threads WHERE id = 0),"
			  " (SELECT COUNT(*) FROM snapshots WHERE id = 0)"),
		     "|1|1|1|1|1\n");
	CHECK_EQ_STR(rows("PRAGMA journal_mode"), "delete\n");
}

static void test_empty_store_views(void)
{
	struct store_profile *p = store_profile_new();
	char err[256], path[300];
	sqlite3 *keep = db;

	snprintf(path, sizeof(path), "%s/empty.db", dir);
	CHECK_EQ_INT(store_save(path, p, err, sizeof(err)), 0);
	store_profile_free(p);
	sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
	CHECK_EQ_STR(rows("SELECT COUNT(*) FROM top_self"), "0\n");
	CHECK_EQ_STR(rows("SELECT COUNT(*) FROM top_total"), "0\n");
	CHECK_EQ_STR(rows("SELECT COUNT(*) FROM by_line"), "0\n");
	CHECK_EQ_STR(rows("SELECT COUNT(*) FROM folded"), "0\n");
	CHECK_EQ_STR(rows("SELECT COUNT(*) FROM tasks"), "0\n");
	CHECK_EQ_STR(rows("SELECT COUNT(*) FROM alloc_top"), "0\n");
	sqlite3_close(db);
	db = keep;
}

int main(void)
{
	struct store_profile *p = store_profile_new();
	struct store_writer *w;
	struct fixture x;
	char err[256];

	if (!mkdtemp(dir))
		return 1;
	snprintf(db_path, sizeof(db_path), "%s/views.db", dir);
	w = store_writer_open(db_path, err, sizeof(err));
	if (!w) {
		printf("Bail out! %s\n", err);
		return 1;
	}
	fixture_build(p, &x);
	fixture_samples(p, &x, 1);
	fixture_stats(p, &x);
	store_writer_sync(w, p);
	fixture_samples(p, &x, 0);
	if (store_writer_close(w, p, err, sizeof(err)) < 0) {
		printf("Bail out! %s\n", err);
		return 1;
	}
	store_profile_free(p);
	sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL);
	RUN(test_top_self);
	RUN(test_top_total_counts_recursion_once);
	RUN(test_by_line);
	RUN(test_folded);
	RUN(test_tasks);
	RUN(test_alloc_top);
	RUN(test_rows_summed_across_syncs);
	RUN(test_meta_and_ids);
	RUN(test_empty_store_views);
	sqlite3_close(db);
	if (!unit_failed) {
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd)) {
		}
	}
	return unit_done();
}
