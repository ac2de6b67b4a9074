/* schema.c - the v1 SQLite schema: tables, views, indexes, and the histogram blob format. */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "store/internal.h"
#include "store/sql.h"

/* Dictionary tables start with their id-0 "unknown" row so a key is never
 * dangling.  Counters are SQLite integers (signed 64-bit; a uint64 above
 * INT64_MAX wraps and the reader wraps it back). */
static const char tables_sql[] =
	"CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);\n"
	"CREATE TABLE strings(id INTEGER PRIMARY KEY, value TEXT NOT NULL);\n"
	"CREATE TABLE frames(id INTEGER PRIMARY KEY, function INTEGER NOT NULL,"
	" file INTEGER NOT NULL, module INTEGER NOT NULL, line INTEGER NOT NULL,"
	" kind INTEGER NOT NULL);\n"
	"CREATE TABLE callsites(id INTEGER PRIMARY KEY, parent INTEGER NOT NULL,"
	" frame INTEGER NOT NULL, depth INTEGER NOT NULL);\n"
	"CREATE TABLE sessions(id INTEGER PRIMARY KEY, pid INTEGER NOT NULL,"
	" command TEXT NOT NULL, runtime TEXT NOT NULL, version TEXT NOT NULL,"
	" mode TEXT NOT NULL, rate_hz REAL NOT NULL, start_ns INTEGER NOT NULL,"
	" end_ns INTEGER NOT NULL, samples INTEGER NOT NULL, missed INTEGER NOT NULL,"
	" errors INTEGER NOT NULL, last_error TEXT NOT NULL);\n"
	"CREATE TABLE threads(id INTEGER PRIMARY KEY, session INTEGER NOT NULL,"
	" tid INTEGER NOT NULL, name TEXT NOT NULL, role TEXT NOT NULL);\n"
	"CREATE TABLE samples(session INTEGER NOT NULL, thread INTEGER NOT NULL,"
	" callsite INTEGER NOT NULL, state INTEGER NOT NULL, time_ns INTEGER NOT NULL,"
	" weight INTEGER NOT NULL);\n"
	"CREATE TABLE task_stats(id INTEGER PRIMARY KEY, session INTEGER NOT NULL,"
	" thread INTEGER NOT NULL, name INTEGER NOT NULL, parent INTEGER NOT NULL,"
	" kind INTEGER NOT NULL, calls INTEGER NOT NULL, wall_ns INTEGER NOT NULL,"
	" self_ns INTEGER NOT NULL, cpu_ns INTEGER NOT NULL, min_ns INTEGER NOT NULL,"
	" max_ns INTEGER NOT NULL, hist BLOB NOT NULL);\n"
	"CREATE TABLE allocs(id INTEGER PRIMARY KEY, session INTEGER NOT NULL,"
	" callsite INTEGER NOT NULL, allocs INTEGER NOT NULL, frees INTEGER NOT NULL,"
	" bytes INTEGER NOT NULL, live_count INTEGER NOT NULL, live_bytes INTEGER NOT NULL,"
	" peak_bytes INTEGER NOT NULL);\n"
	"CREATE TABLE snapshots(id INTEGER PRIMARY KEY, session INTEGER NOT NULL,"
	" label TEXT NOT NULL, time_ns INTEGER NOT NULL,"
	" live_bytes INTEGER NOT NULL DEFAULT 0, peak_bytes INTEGER NOT NULL DEFAULT 0);\n"
	"CREATE TABLE snapshot_sites(snapshot INTEGER NOT NULL, callsite INTEGER NOT NULL,"
	" allocs INTEGER NOT NULL, bytes INTEGER NOT NULL, live_count INTEGER NOT NULL,"
	" live_bytes INTEGER NOT NULL);\n"
	"CREATE TABLE events(session INTEGER NOT NULL, thread INTEGER NOT NULL,"
	" name INTEGER NOT NULL, kind INTEGER NOT NULL, start_ns INTEGER NOT NULL,"
	" dur_ns INTEGER NOT NULL, depth INTEGER NOT NULL);\n"
	"INSERT INTO strings VALUES(0, '');\n"
	"INSERT INTO frames VALUES(0, 0, 0, 0, 0, 0);\n"
	"INSERT INTO callsites VALUES(0, 0, 0, 0);\n"
	"INSERT INTO sessions VALUES(0, 0, '', '', '', '', 0, 0, 0, 0, 0, 0, '');\n"
	"INSERT INTO threads VALUES(0, 0, 0, '', '');\n"
	"INSERT INTO snapshots VALUES(0, 0, '', 0, 0, 0);\n";

/* Views.  Every one sums samples rows: one key may be written as several
 * rows (one per writer sync).  Walks up the call-site tree only follow
 * parent < id, so a corrupt store cannot make them loop. */
#define LEAF "leaf(id, w) AS (SELECT callsite, SUM(weight) FROM samples" \
	" WHERE callsite <> 0 GROUP BY callsite)"
#define WALK "walk(leaf, cs) AS (SELECT id, id FROM leaf UNION ALL" \
	" SELECT walk.leaf, c.parent FROM walk JOIN callsites c ON c.id = walk.cs" \
	" WHERE c.parent <> 0 AND c.parent < c.id)"
#define TOT "tot(n) AS (SELECT MAX(1, TOTAL(weight)) FROM samples)"
#define NAMES(f) " JOIN strings fn ON fn.id = " f ".function" \
	" JOIN strings fi ON fi.id = " f ".file JOIN strings mo ON mo.id = " f ".module"
#define LABEL "CASE WHEN f.line > 0 AND fi.value <> '' THEN fn.value || ' (' ||" \
	" fi.value || ':' || f.line || ')' ELSE fn.value END"

static const char views_sql[] =
	"CREATE VIEW top_self AS WITH " LEAF ", " TOT
	" SELECT fn.value AS function, fi.value AS file, mo.value AS module,"
	" SUM(leaf.w) AS samples, ROUND(100.0 * SUM(leaf.w) / tot.n, 2) AS percent"
	" FROM leaf JOIN callsites c ON c.id = leaf.id JOIN frames f ON f.id = c.frame"
	NAMES("f") ", tot"
	" GROUP BY f.function, f.file, f.module ORDER BY samples DESC, function;\n"

	"CREATE VIEW top_total AS WITH RECURSIVE " LEAF ", " WALK ", " TOT ","
	" fns(leaf, function, file, module) AS (SELECT DISTINCT walk.leaf, f.function,"
	" f.file, f.module FROM walk JOIN callsites c ON c.id = walk.cs"
	" JOIN frames f ON f.id = c.frame)"
	" SELECT fn.value AS function, fi.value AS file, mo.value AS module,"
	" SUM(leaf.w) AS samples, ROUND(100.0 * SUM(leaf.w) / tot.n, 2) AS percent"
	" FROM fns JOIN leaf ON leaf.id = fns.leaf" NAMES("fns") ", tot"
	" GROUP BY fns.function, fns.file, fns.module ORDER BY samples DESC, function;\n"

	"CREATE VIEW by_line AS WITH RECURSIVE " LEAF ", " WALK ", " TOT ","
	" lines(leaf, function, file, line, module) AS (SELECT DISTINCT walk.leaf,"
	" f.function, f.file, f.line, f.module FROM walk JOIN callsites c ON c.id = walk.cs"
	" JOIN frames f ON f.id = c.frame),"
	" total_by(function, file, line, module, total) AS (SELECT function, file, line,"
	" module, SUM(leaf.w) FROM lines JOIN leaf ON leaf.id = lines.leaf"
	" GROUP BY function, file, line, module),"
	" self_by(function, file, line, module, self) AS (SELECT f.function, f.file, f.line,"
	" f.module, SUM(leaf.w) FROM leaf JOIN callsites c ON c.id = leaf.id"
	" JOIN frames f ON f.id = c.frame GROUP BY f.function, f.file, f.line, f.module)"
	" SELECT fn.value AS function, fi.value AS file, t.line AS line, mo.value AS module,"
	" COALESCE(s.self, 0) AS self, t.total AS total,"
	" ROUND(100.0 * COALESCE(s.self, 0) / tot.n, 2) AS self_pct,"
	" ROUND(100.0 * t.total / tot.n, 2) AS total_pct"
	" FROM total_by t LEFT JOIN self_by s ON s.function = t.function AND s.file = t.file"
	" AND s.line = t.line AND s.module = t.module" NAMES("t") ", tot"
	" ORDER BY self DESC, total DESC, function, line;\n"

	"CREATE VIEW folded AS WITH RECURSIVE " LEAF ","
	" label(id, parent, text) AS (SELECT c.id, c.parent, " LABEL " FROM callsites c"
	" JOIN frames f ON f.id = c.frame" NAMES("f") "),"
	" up(leaf, cs, stack) AS (SELECT leaf.id, label.parent, label.text FROM leaf"
	" JOIN label ON label.id = leaf.id AND label.parent < label.id UNION ALL"
	" SELECT up.leaf, label.parent, label.text || ';' || up.stack FROM up"
	" JOIN label ON label.id = up.cs WHERE up.cs <> 0 AND label.parent < label.id)"
	" SELECT up.stack AS stack, SUM(leaf.w) AS count FROM up JOIN leaf ON leaf.id = up.leaf"
	" WHERE up.cs = 0 GROUP BY up.stack ORDER BY up.stack;\n"

	"CREATE VIEW tasks AS SELECT n.value AS name, COALESCE(th.tid, 0) AS thread,"
	" t.calls AS calls, t.wall_ns AS wall_ns, t.self_ns AS self_ns, t.cpu_ns AS cpu_ns,"
	" t.min_ns AS min_ns, t.max_ns AS max_ns,"
	" CASE WHEN t.calls > 0 THEN t.wall_ns / t.calls ELSE 0 END AS avg,"
	" CASE t.kind WHEN 0 THEN 'task' WHEN 1 THEN 'span' WHEN 2 THEN 'function'"
	" ELSE 'unknown' END AS kind"
	" FROM task_stats t JOIN strings n ON n.id = t.name"
	" LEFT JOIN threads th ON th.id = t.thread AND t.thread <> 0"
	" WHERE t.parent = 0 ORDER BY wall_ns DESC, name;\n"

	"CREATE VIEW alloc_top AS SELECT fn.value AS function, fi.value AS file,"
	" f.line AS line, SUM(a.allocs) AS allocs, SUM(a.frees) AS frees,"
	" SUM(a.bytes) AS bytes, SUM(a.live_bytes) AS live_bytes,"
	" SUM(a.peak_bytes) AS peak_bytes"
	" FROM allocs a JOIN callsites c ON c.id = a.callsite JOIN frames f ON f.id = c.frame"
	" JOIN strings fn ON fn.id = f.function JOIN strings fi ON fi.id = f.file"
	" GROUP BY f.function, f.file, f.line ORDER BY bytes DESC, function, line;\n";

/* Built at close: a random-key index maintained while recording costs
 * several times the insert itself.  No index on callsites(parent): every
 * view walks the tree upwards by id, and one would cost nearly as much
 * disk as the call-site table. */
static const char indexes_sql[] =
	"CREATE INDEX IF NOT EXISTS threads_session ON threads(session, tid);\n"
	"CREATE INDEX IF NOT EXISTS snapshot_sites_snapshot ON snapshot_sites(snapshot);\n"
	"CREATE INDEX IF NOT EXISTS events_thread ON events(session, thread, start_ns);\n";

static int exec(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
		return 0;
	snprintf(err, errlen, "%s", msg ? msg : sqlite3_errmsg(db));
	sqlite3_free(msg);
	return -1;
}

int store_sql_exec(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
	return exec(db, sql, err, errlen);
}

int store_schema_create(sqlite3 *db, char *err, size_t errlen)
{
	char sql[512], when[32];
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(sql, sizeof(sql),
		 "PRAGMA application_id = %d; PRAGMA user_version = %d;"
		 "INSERT INTO meta VALUES('schema_version', '%d');"
		 "INSERT INTO meta VALUES('sonda_version', '%s');"
		 "INSERT INTO meta VALUES('created', '%s');"
		 "INSERT INTO meta VALUES('bucket_ns', '1000000000');",
		 STORE_APPLICATION_ID, STORE_SCHEMA_VERSION, STORE_SCHEMA_VERSION,
		 PACKAGE_VERSION, when);
	if (exec(db, "BEGIN", err, errlen) < 0)
		return -1;
	if (exec(db, tables_sql, err, errlen) < 0 || exec(db, views_sql, err, errlen) < 0 ||
	    exec(db, sql, err, errlen) < 0) {
		exec(db, "ROLLBACK", NULL, 0);
		return -1;
	}
	return exec(db, "COMMIT", err, errlen);
}

int store_schema_index(sqlite3 *db, char *err, size_t errlen)
{
	return exec(db, indexes_sql, err, errlen);
}

/* The histogram blob: nonzero buckets only, each 6 bytes little-endian:
 * a u16 bucket index then a u32 count, buckets in increasing order. */
size_t store_hist_encode(const uint32_t *hist, unsigned char *out)
{
	size_t n = 0;

	for (uint32_t b = 0; b < STORE_HIST_BUCKETS; b++) {
		if (!hist[b])
			continue;
		out[n++] = b & 0xff;
		out[n++] = b >> 8;
		for (int i = 0; i < 4; i++)
			out[n++] = (hist[b] >> (8 * i)) & 0xff;
	}
	return n;
}

int store_hist_decode(const unsigned char *in, size_t len, uint32_t *hist)
{
	memset(hist, 0, STORE_HIST_BUCKETS * sizeof(*hist));
	if (len % 6)
		return -1;
	for (size_t i = 0; i < len; i += 6) {
		uint32_t b = in[i] | (uint32_t)in[i + 1] << 8;

		if (b >= STORE_HIST_BUCKETS)
			return -1;
		hist[b] = in[i + 2] | (uint32_t)in[i + 3] << 8 | (uint32_t)in[i + 4] << 16 |
			  (uint32_t)in[i + 5] << 24;
	}
	return 0;
}
