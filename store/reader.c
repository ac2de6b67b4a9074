/* reader.c - loads a whole store back into a profile, refusing what is not a sound sonda store. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/internal.h"
#include "store/sql.h"

struct loader {
	sqlite3 *db;
	struct store_profile *p;
	char *err;
	size_t errlen;
};

static int corrupt(struct loader *l, const char *what)
{
	snprintf(l->err, l->errlen, "corrupt store (%s)", what);
	return -1;
}

static int sql_error(struct loader *l)
{
	int rc = sqlite3_errcode(l->db);

	if (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB)
		snprintf(l->err, l->errlen, "corrupt store (%s)", sqlite3_errmsg(l->db));
	else
		snprintf(l->err, l->errlen, "cannot read the store: %s", sqlite3_errmsg(l->db));
	return -1;
}

static int prepare(struct loader *l, const char *sql, sqlite3_stmt **s)
{
	if (sqlite3_prepare_v2(l->db, sql, -1, s, NULL) != SQLITE_OK)
		return sql_error(l);
	return 0;
}

/* Runs a one-value query; -1 and a reason when it fails. */
static int query_int(struct loader *l, const char *sql, int64_t *v)
{
	sqlite3_stmt *s;
	int rc;

	if (prepare(l, sql, &s) < 0)
		return -1;
	rc = sqlite3_step(s);
	*v = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sql_error(l);
	return 0;
}

static const char *col_text(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);

	return t ? (const char *)t : "";
}

static uint32_t col_u32(sqlite3_stmt *s, int i)
{
	int64_t v = sqlite3_column_int64(s, i);

	return v < 0 || v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

/* Each loader runs one SELECT ordered by id and checks every row: dense
 * ids, references to rows that exist, parents before children. */
static int load_strings(struct loader *l)
{
	sqlite3_stmt *s;
	int rc;

	if (prepare(l, "SELECT id, value FROM strings WHERE id > 0 ORDER BY id", &s) < 0)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(s, 0);

		if (id != store_nstrings(l->p) || store_string_intern(l->p, col_text(s, 1)) != id) {
			sqlite3_finalize(s);
			return corrupt(l, "strings");
		}
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : sql_error(l);
}

static int load_frames(struct loader *l)
{
	sqlite3_stmt *s;
	int rc;
	uint32_t ns = store_nstrings(l->p);

	if (prepare(l, "SELECT id, function, file, module, line, kind FROM frames"
		    " WHERE id > 0 ORDER BY id", &s) < 0)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_frame f = { col_u32(s, 1), col_u32(s, 2), col_u32(s, 3),
					 (int32_t)sqlite3_column_int64(s, 4), col_u32(s, 5) };

		if (sqlite3_column_int64(s, 0) != store_nframes(l->p) || f.function >= ns ||
		    f.file >= ns || f.module >= ns ||
		    store_frame_intern(l->p, &f) != sqlite3_column_int64(s, 0)) {
			sqlite3_finalize(s);
			return corrupt(l, "frames");
		}
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : sql_error(l);
}

static int load_callsites(struct loader *l)
{
	sqlite3_stmt *s;
	int rc;

	if (prepare(l, "SELECT id, parent, frame FROM callsites WHERE id > 0 ORDER BY id", &s) < 0)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(s, 0);
		uint32_t parent = col_u32(s, 1), frame = col_u32(s, 2);

		if (id != store_ncallsites(l->p) || parent >= id || frame >= store_nframes(l->p) ||
		    store_callsite_intern(l->p, parent, frame) != id) {
			sqlite3_finalize(s);
			return corrupt(l, "callsites");
		}
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : sql_error(l);
}

static int load_sessions(struct loader *l)
{
	sqlite3_stmt *s;
	int rc;

	if (prepare(l, "SELECT id, pid, command, runtime, version, mode, rate_hz, start_ns,"
		    " end_ns, samples, missed, errors, last_error FROM sessions"
		    " WHERE id > 0 ORDER BY id", &s) < 0)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_session x = {
			.pid = sqlite3_column_int64(s, 1), .command = col_text(s, 2),
			.runtime = col_text(s, 3), .version = col_text(s, 4),
			.mode = col_text(s, 5), .rate_hz = sqlite3_column_double(s, 6),
			.start_ns = sqlite3_column_int64(s, 7),
			.end_ns = sqlite3_column_int64(s, 8),
			.samples = (uint64_t)sqlite3_column_int64(s, 9),
			.missed = (uint64_t)sqlite3_column_int64(s, 10),
			.errors = (uint64_t)sqlite3_column_int64(s, 11),
			.last_error = col_text(s, 12),
		};

		if (sqlite3_column_int64(s, 0) != store_nsessions(l->p) ||
		    store_session_add(l->p, &x) != sqlite3_column_int64(s, 0)) {
			sqlite3_finalize(s);
			return corrupt(l, "sessions");
		}
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : sql_error(l);
}

static int load_threads(struct loader *l)
{
	sqlite3_stmt *s;
	int rc;

	if (prepare(l, "SELECT id, session, tid, name, role FROM threads WHERE id > 0 ORDER BY id",
		    &s) < 0)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		uint32_t session = col_u32(s, 1);

		if (sqlite3_column_int64(s, 0) != store_nthreads(l->p) ||
		    session >= store_nsessions(l->p) ||
		    store_thread_add(l->p, session, sqlite3_column_int64(s, 2), col_text(s, 3),
				     col_text(s, 4)) != sqlite3_column_int64(s, 0)) {
			sqlite3_finalize(s);
			return corrupt(l, "threads");
		}
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : sql_error(l);
}

static int load_samples(struct loader *l)
{
	sqlite3_stmt *s;
	int rc;
	uint32_t nsess = store_nsessions(l->p), nthr = store_nthreads(l->p);
	uint32_t ncs = store_ncallsites(l->p);

	if (prepare(l, "SELECT session, thread, callsite, state, time_ns, weight FROM samples"
		    " ORDER BY rowid", &s) < 0)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_sample x = { col_u32(s, 0), col_u32(s, 1), col_u32(s, 2),
					  col_u32(s, 3), sqlite3_column_int64(s, 4),
					  (uint64_t)sqlite3_column_int64(s, 5) };

		if (x.session >= nsess || x.thread >= nthr || x.callsite >= ncs) {
			sqlite3_finalize(s);
			return corrupt(l, "samples");
		}
		store_sample_add(l->p, &x);
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : sql_error(l);
}

static int load_tasks(struct loader *l)
{
	sqlite3_stmt *s;
	int rc;
	uint32_t ns = store_nstrings(l->p);
	struct store_task *t = malloc(sizeof(*t));

	if (!t) {
		snprintf(l->err, l->errlen, "out of memory");
		return -1;
	}
	if (prepare(l, "SELECT session, thread, name, parent, kind, calls, wall_ns, self_ns,"
		    " cpu_ns, min_ns, max_ns, hist FROM task_stats ORDER BY id", &s) < 0) {
		free(t);
		return -1;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		t->session = col_u32(s, 0);
		t->thread = col_u32(s, 1);
		t->name = col_u32(s, 2);
		t->parent = col_u32(s, 3);
		t->kind = col_u32(s, 4);
		t->calls = (uint64_t)sqlite3_column_int64(s, 5);
		t->wall_ns = sqlite3_column_int64(s, 6);
		t->self_ns = sqlite3_column_int64(s, 7);
		t->cpu_ns = sqlite3_column_int64(s, 8);
		t->min_ns = sqlite3_column_int64(s, 9);
		t->max_ns = sqlite3_column_int64(s, 10);
		if (t->session >= store_nsessions(l->p) || t->thread >= store_nthreads(l->p) ||
		    t->name >= ns || t->parent >= ns ||
		    store_hist_decode(sqlite3_column_blob(s, 11),
				      (size_t)sqlite3_column_bytes(s, 11), t->hist) < 0) {
			sqlite3_finalize(s);
			free(t);
			return corrupt(l, "task_stats");
		}
		store_task_put(l->p, t);
	}
	sqlite3_finalize(s);
	free(t);
	return rc == SQLITE_DONE ? 0 : sql_error(l);
}

static int load_allocs(struct loader *l)
{
	sqlite3_stmt *s;
	int rc;

	if (prepare(l, "SELECT session, callsite, allocs, frees, bytes, live_count, live_bytes,"
		    " peak_bytes FROM allocs ORDER BY id", &s) < 0)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_alloc a = {
			col_u32(s, 0), col_u32(s, 1), (uint64_t)sqlite3_column_int64(s, 2),
			(uint64_t)sqlite3_column_int64(s, 3), (uint64_t)sqlite3_column_int64(s, 4),
			(uint64_t)sqlite3_column_int64(s, 5), (uint64_t)sqlite3_column_int64(s, 6),
			(uint64_t)sqlite3_column_int64(s, 7),
		};

		if (a.session >= store_nsessions(l->p) || a.callsite >= store_ncallsites(l->p)) {
			sqlite3_finalize(s);
			return corrupt(l, "allocs");
		}
		store_alloc_put(l->p, &a);
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : sql_error(l);
}

static int load_snapshots(struct loader *l)
{
	sqlite3_stmt *s;
	int rc;

	/* live_bytes and peak_bytes were added to schema 1 later: a store
	 * without them reads as zeros */
	if (sqlite3_prepare_v2(l->db, "SELECT id, session, label, time_ns, live_bytes, peak_bytes"
			       " FROM snapshots WHERE id > 0 ORDER BY id", -1, &s, NULL) != SQLITE_OK &&
	    prepare(l, "SELECT id, session, label, time_ns, 0, 0 FROM snapshots WHERE id > 0 ORDER BY id",
		    &s) < 0)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		uint32_t session = col_u32(s, 1), id;

		if (sqlite3_column_int64(s, 0) != store_nsnapshots(l->p) ||
		    session >= store_nsessions(l->p) ||
		    (id = store_snapshot_add(l->p, session, col_text(s, 2), sqlite3_column_int64(s, 3))) !=
			    sqlite3_column_int64(s, 0)) {
			sqlite3_finalize(s);
			return corrupt(l, "snapshots");
		}
		store_snapshot_set_traced(l->p, id, (uint64_t)sqlite3_column_int64(s, 4),
					  (uint64_t)sqlite3_column_int64(s, 5));
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return sql_error(l);
	if (prepare(l, "SELECT snapshot, callsite, allocs, bytes, live_count, live_bytes"
		    " FROM snapshot_sites ORDER BY rowid", &s) < 0)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_snapshot_site x = {
			col_u32(s, 0), col_u32(s, 1), (uint64_t)sqlite3_column_int64(s, 2),
			(uint64_t)sqlite3_column_int64(s, 3), (uint64_t)sqlite3_column_int64(s, 4),
			(uint64_t)sqlite3_column_int64(s, 5),
		};

		if (x.snapshot >= store_nsnapshots(l->p) || x.callsite >= store_ncallsites(l->p)) {
			sqlite3_finalize(s);
			return corrupt(l, "snapshot_sites");
		}
		store_snapshot_site_add(l->p, &x);
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : sql_error(l);
}

static int load_events(struct loader *l)
{
	sqlite3_stmt *s;
	int rc;

	if (prepare(l, "SELECT session, thread, name, kind, start_ns, dur_ns, depth FROM events"
		    " ORDER BY rowid", &s) < 0)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_event e = { col_u32(s, 0), col_u32(s, 1), col_u32(s, 2),
					 col_u32(s, 3), sqlite3_column_int64(s, 4),
					 sqlite3_column_int64(s, 5), col_u32(s, 6) };

		if (e.session >= store_nsessions(l->p) || e.thread >= store_nthreads(l->p) ||
		    e.name >= store_nstrings(l->p)) {
			sqlite3_finalize(s);
			return corrupt(l, "events");
		}
		store_event_add(l->p, &e);
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : sql_error(l);
}

/* Before SQLite sees the file: the reasons a user can act on. */
static int check_file(const char *path, char *err, size_t errlen)
{
	static const char magic[16] = "SQLite format 3";
	char head[16];
	struct stat st;
	ssize_t n;
	int fd;

	if (stat(path, &st) < 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		return -1;
	}
	if (S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "is a directory, not a sonda store");
		return -1;
	}
	fd = open(path, O_RDONLY);
	if (fd < 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		return -1;
	}
	n = read(fd, head, sizeof(head));
	close(fd);
	if (n == 0) {
		snprintf(err, errlen, "empty file, not a sonda store");
		return -1;
	}
	if (n != (ssize_t)sizeof(head) || memcmp(head, magic, sizeof(head))) {
		snprintf(err, errlen, "not a SQLite database, not a sonda store");
		return -1;
	}
	return 0;
}

static int check_store(struct loader *l)
{
	int64_t app, version;
	sqlite3_stmt *s;
	int rc;

	if (query_int(l, "PRAGMA application_id", &app) < 0)
		return -1;
	if (app != STORE_APPLICATION_ID) {
		snprintf(l->err, l->errlen, "a SQLite database but not a sonda store");
		return -1;
	}
	if (query_int(l, "PRAGMA user_version", &version) < 0)
		return -1;
	if (version > STORE_SCHEMA_VERSION) {
		snprintf(l->err, l->errlen,
			 "written by a newer sonda (schema %lld, this sonda reads %d)",
			 (long long)version, STORE_SCHEMA_VERSION);
		return -1;
	}
	if (version < 1) {
		snprintf(l->err, l->errlen, "unknown sonda store schema %lld", (long long)version);
		return -1;
	}
	/* quick_check reads every page: a truncated or damaged file fails
	 * here, before a half-read profile could mislead anyone. */
	if (prepare(l, "PRAGMA quick_check(1)", &s) < 0)
		return -1;
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(s);
		return sql_error(l);
	}
	if (strcmp(col_text(s, 0), "ok")) {
		char why[200], *c;
		const char *t = col_text(s, 0);

		/* quick_check reports several lines; the reason must be one. */
		if (!strncmp(t, "*** in database main ***", 24))
			t += 24;
		t += strspn(t, " \n");
		snprintf(why, sizeof(why), "%s", t);
		for (c = why; *c; c++)
			if (*c == '\n' || *c == '\r')
				*c = ' ';
		snprintf(l->err, l->errlen, "corrupt store (%s)", why);
		sqlite3_finalize(s);
		return -1;
	}
	sqlite3_finalize(s);
	return 0;
}

static int load_meta(struct loader *l)
{
	int64_t bucket;

	if (query_int(l, "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'bucket_ns'",
		      &bucket) < 0)
		return -1;
	store_profile_set_bucket(l->p, bucket);
	return 0;
}

struct store_profile *store_load(const char *path, char *err, size_t errlen)
{
	struct loader l = { .err = err, .errlen = errlen };
	int rc;

	if (check_file(path, err, errlen) < 0)
		return NULL;
	rc = sqlite3_open_v2(path, &l.db, SQLITE_OPEN_READONLY, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "cannot open: %s",
			 l.db ? sqlite3_errmsg(l.db) : sqlite3_errstr(rc));
		sqlite3_close(l.db);
		return NULL;
	}
	sqlite3_busy_timeout(l.db, 2000);
	l.p = store_profile_new();
	if (!l.p) {
		snprintf(err, errlen, "out of memory");
		sqlite3_close(l.db);
		return NULL;
	}
	/* One read transaction: a live writer's later commits stay out. */
	if (store_sql_exec(l.db, "BEGIN", err, errlen) < 0 || check_store(&l) < 0 ||
	    load_meta(&l) < 0 || load_strings(&l) < 0 || load_frames(&l) < 0 ||
	    load_callsites(&l) < 0 || load_sessions(&l) < 0 || load_threads(&l) < 0 ||
	    load_samples(&l) < 0 || load_tasks(&l) < 0 || load_allocs(&l) < 0 ||
	    load_snapshots(&l) < 0 || load_events(&l) < 0) {
		store_profile_free(l.p);
		sqlite3_close(l.db);
		return NULL;
	}
	store_sql_exec(l.db, "COMMIT", err, errlen);
	sqlite3_close(l.db);
	/* Loaded rows are on disk already: nothing is dirty. */
	store_profile_mark_synced(l.p);
	return l.p;
}

static const char *const tables[] = {
	"strings", "frames", "callsites", "sessions", "threads", "samples", "task_stats",
	"allocs", "snapshots", "snapshot_sites", "events",
};

int store_count_rows(const char *path, struct store_table_rows *out, size_t n, char *err,
		     size_t errlen)
{
	struct loader l = { .err = err, .errlen = errlen };
	size_t i;

	if (check_file(path, err, errlen) < 0)
		return -1;
	if (sqlite3_open_v2(path, &l.db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot open: %s", sqlite3_errmsg(l.db));
		sqlite3_close(l.db);
		return -1;
	}
	for (i = 0; i < n && i < sizeof(tables) / sizeof(tables[0]); i++) {
		char sql[64];

		snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM %s", tables[i]);
		out[i].table = tables[i];
		if (query_int(&l, sql, &out[i].rows) < 0) {
			sqlite3_close(l.db);
			return -1;
		}
	}
	sqlite3_close(l.db);
	return (int)i;
}

int store_meta(const char *path, const char *key, char *buf, size_t len)
{
	sqlite3 *db;
	sqlite3_stmt *s;
	int rc = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		sqlite3_close(db);
		return -1;
	}
	if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = ?", -1, &s, NULL) ==
	    SQLITE_OK) {
		sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
		if (sqlite3_step(s) == SQLITE_ROW) {
			snprintf(buf, len, "%s", col_text(s, 0));
			rc = 0;
		}
		sqlite3_finalize(s);
	}
	sqlite3_close(db);
	return rc;
}
