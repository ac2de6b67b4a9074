/* writer.c - writes a profile to a store from a thread of its own, in batches.
 *
 * store_writer_sync() runs on the profile owner's thread: it copies what is
 * new since the last sync into a batch and queues it.  The writer thread
 * owns the connection and commits whole batches, several per transaction
 * when they queue up (until ~10,000 rows or 250 ms), so a crash loses at
 * most the batches not yet committed and never half of one. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/internal.h"
#include "store/sql.h"

#define TXN_ROWS 10000
#define PAGE_SIZE "512"
#define TXN_NS 250000000LL

struct id_task {
	uint32_t id;
	struct store_task t;
};

struct id_alloc {
	uint32_t id;
	struct store_alloc a;
};

/* Rows to write; the const char * point at interned strings, which never
 * move or die before the profile does, and the profile outlives the writer. */
struct batch {
	struct batch *next;
	int64_t bucket_ns;
	uint32_t string0, frame0, callsite0, thread0, snapshot0;
	struct store_vec strings;	/* const char * */
	struct store_vec frames;	/* struct store_frame */
	struct store_vec callsites;	/* struct store_callsite */
	struct store_vec sessions;	/* struct store_session, all of them from id 0 */
	struct store_vec threads;	/* struct store_thread */
	struct store_vec samples;	/* struct store_sample, weight = delta */
	struct store_vec tasks;		/* struct id_task */
	struct store_vec allocs;	/* struct id_alloc */
	struct store_vec snapshots;	/* struct store_snapshot */
	struct store_vec sites;		/* struct store_snapshot_site */
	struct store_vec events;	/* struct store_event */
};

enum {
	ST_STRING, ST_FRAME, ST_CALLSITE, ST_SESSION, ST_THREAD, ST_SAMPLE, ST_TASK,
	ST_ALLOC, ST_SNAPSHOT, ST_SITE, ST_EVENT, ST_META, ST_SAMPLES, ST_CALLSITES, ST_COUNT
};

/* Samples and call sites are most of the rows: they go MULTI rows per
 * statement, which costs much less per row than one statement each. */
#define MULTI 64

static const char *const stmt_sql[ST_COUNT] = {
	"INSERT OR REPLACE INTO strings VALUES(?, ?)",
	"INSERT OR REPLACE INTO frames VALUES(?, ?, ?, ?, ?, ?)",
	"INSERT OR REPLACE INTO callsites VALUES(?, ?, ?, ?)",
	"INSERT OR REPLACE INTO sessions VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	"INSERT OR REPLACE INTO threads VALUES(?, ?, ?, ?, ?)",
	"INSERT INTO samples VALUES(?, ?, ?, ?, ?, ?)",
	"INSERT OR REPLACE INTO task_stats VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	"INSERT OR REPLACE INTO allocs VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)",
	"INSERT OR REPLACE INTO snapshots VALUES(?, ?, ?, ?, ?, ?)",
	"INSERT INTO snapshot_sites VALUES(?, ?, ?, ?, ?, ?)",
	"INSERT INTO events VALUES(?, ?, ?, ?, ?, ?, ?)",
	"INSERT OR REPLACE INTO meta VALUES(?, ?)",
	NULL,	/* built by multi_sql() */
	NULL,
};

static char *multi_sql(const char *head, int ncols)
{
	size_t len = strlen(head) + (size_t)MULTI * (size_t)(ncols * 2 + 4) + 1;
	char *sql = malloc(len), *at;

	if (!sql)
		return NULL;
	at = sql + sprintf(sql, "%s", head);
	for (int r = 0; r < MULTI; r++) {
		*at++ = r ? ',' : ' ';
		*at++ = '(';
		for (int c = 0; c < ncols; c++) {
			*at++ = c ? ',' : '?';
			if (c)
				*at++ = '?';
		}
		*at++ = ')';
	}
	*at = 0;
	return sql;
}

struct store_writer {
	sqlite3 *db;
	sqlite3_stmt *st[ST_COUNT];
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake, idle;
	struct batch *head, *tail;	/* the queue */
	int queued;			/* batches in it */
	int closing, busy, failed, started;
	char err[256];
	int64_t bucket_written;

	/* High-water marks, owned by the syncing thread. */
	uint32_t strings, frames, callsites, threads, snapshots, sites, events;
	uint64_t thread_gen;
	uint64_t serial;	/* tells a profile which writer synced it last */
	unsigned char blob[STORE_HIST_BLOB_MAX];	/* the writer thread's */
};

static int64_t now_ns(int clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void batch_free(struct batch *b)
{
	struct store_vec *v[] = { &b->strings, &b->frames, &b->callsites, &b->sessions,
				  &b->threads, &b->samples, &b->tasks, &b->allocs,
				  &b->snapshots, &b->sites, &b->events };

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		store_vec_free(v[i]);
	free(b);
}

static uint64_t batch_rows(const struct batch *b)
{
	return (uint64_t)b->strings.n + b->frames.n + b->callsites.n + b->sessions.n +
	       b->threads.n + b->samples.n + b->tasks.n + b->allocs.n + b->snapshots.n +
	       b->sites.n + b->events.n;
}

/* --- the writer thread --- */

static int fail(struct store_writer *w, const char *what)
{
	pthread_mutex_lock(&w->lock);
	if (!w->failed)
		snprintf(w->err, sizeof(w->err), "%s: %s", what, sqlite3_errmsg(w->db));
	w->failed = 1;
	pthread_mutex_unlock(&w->lock);
	return -1;
}

/* Statements are prepared at their first use: a recording uses about
 * half of them, and compiling a 64-row insert costs more than a whole
 * batch of a second's samples. */
static sqlite3_stmt *stmt(struct store_writer *w, int which)
{
	char *multi;
	int rc;

	if (w->st[which])
		return w->st[which];
	multi = which == ST_SAMPLES ? multi_sql("INSERT INTO samples VALUES", 6) :
		which == ST_CALLSITES ? multi_sql("INSERT OR REPLACE INTO callsites VALUES", 4) : NULL;
	rc = sqlite3_prepare_v3(w->db, multi ? multi : stmt_sql[which], -1,
				SQLITE_PREPARE_PERSISTENT, &w->st[which], NULL);
	free(multi);
	if (rc != SQLITE_OK) {
		fail(w, "cannot prepare a statement");
		return NULL;
	}
	return w->st[which];
}

static int step(struct store_writer *w, int which)
{
	sqlite3_stmt *s = w->st[which];
	int rc = sqlite3_step(s);

	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return fail(w, "cannot write the store");
	return 0;
}

static void bind_text(sqlite3_stmt *s, int i, const char *t)
{
	sqlite3_bind_text(s, i, t ? t : "", -1, SQLITE_STATIC);
}

static int write_dicts(struct store_writer *w, const struct batch *b)
{
	sqlite3_stmt *s = NULL;

	if (b->strings.n && !(s = stmt(w, ST_STRING)))
		return -1;
	for (uint32_t i = 0; i < b->strings.n; i++) {
		sqlite3_bind_int64(s, 1, b->string0 + i);
		bind_text(s, 2, VEC_AT(b->strings, const char *, i));
		if (step(w, ST_STRING) < 0)
			return -1;
	}
	if (b->frames.n && !(s = stmt(w, ST_FRAME)))
		return -1;
	for (uint32_t i = 0; i < b->frames.n; i++) {
		const struct store_frame *f = &VEC_AT(b->frames, struct store_frame, i);

		sqlite3_bind_int64(s, 1, b->frame0 + i);
		sqlite3_bind_int64(s, 2, f->function);
		sqlite3_bind_int64(s, 3, f->file);
		sqlite3_bind_int64(s, 4, f->module);
		sqlite3_bind_int64(s, 5, f->line);
		sqlite3_bind_int64(s, 6, f->kind);
		if (step(w, ST_FRAME) < 0)
			return -1;
	}
	for (uint32_t i = 0; i < b->callsites.n;) {
		int which = b->callsites.n - i >= MULTI ? ST_CALLSITES : ST_CALLSITE;
		int rows = which == ST_CALLSITES ? MULTI : 1;

		if (!(s = stmt(w, which)))
			return -1;
		for (int r = 0; r < rows; r++, i++) {
			const struct store_callsite *c = &VEC_AT(b->callsites, struct store_callsite, i);

			sqlite3_bind_int64(s, r * 4 + 1, b->callsite0 + i);
			sqlite3_bind_int64(s, r * 4 + 2, c->parent);
			sqlite3_bind_int64(s, r * 4 + 3, c->frame);
			sqlite3_bind_int64(s, r * 4 + 4, c->depth);
		}
		if (step(w, which) < 0)
			return -1;
	}
	if (b->sessions.n && !(s = stmt(w, ST_SESSION)))
		return -1;
	for (uint32_t i = 0; i < b->sessions.n; i++) {
		const struct store_session *x = &VEC_AT(b->sessions, struct store_session, i);

		sqlite3_bind_int64(s, 1, i);
		sqlite3_bind_int64(s, 2, x->pid);
		bind_text(s, 3, x->command);
		bind_text(s, 4, x->runtime);
		bind_text(s, 5, x->version);
		bind_text(s, 6, x->mode);
		sqlite3_bind_double(s, 7, x->rate_hz);
		sqlite3_bind_int64(s, 8, x->start_ns);
		sqlite3_bind_int64(s, 9, x->end_ns);
		sqlite3_bind_int64(s, 10, (int64_t)x->samples);
		sqlite3_bind_int64(s, 11, (int64_t)x->missed);
		sqlite3_bind_int64(s, 12, (int64_t)x->errors);
		bind_text(s, 13, x->last_error);
		if (step(w, ST_SESSION) < 0)
			return -1;
	}
	if (b->threads.n && !(s = stmt(w, ST_THREAD)))
		return -1;
	for (uint32_t i = 0; i < b->threads.n; i++) {
		const struct store_thread *t = &VEC_AT(b->threads, struct store_thread, i);

		sqlite3_bind_int64(s, 1, b->thread0 + i);
		sqlite3_bind_int64(s, 2, t->session);
		sqlite3_bind_int64(s, 3, t->tid);
		bind_text(s, 4, t->name);
		bind_text(s, 5, t->role);
		if (step(w, ST_THREAD) < 0)
			return -1;
	}
	if (b->snapshots.n && !(s = stmt(w, ST_SNAPSHOT)))
		return -1;
	for (uint32_t i = 0; i < b->snapshots.n; i++) {
		const struct store_snapshot *x = &VEC_AT(b->snapshots, struct store_snapshot, i);

		sqlite3_bind_int64(s, 1, b->snapshot0 + i);
		sqlite3_bind_int64(s, 2, x->session);
		bind_text(s, 3, x->label);
		sqlite3_bind_int64(s, 4, x->time_ns);
		sqlite3_bind_int64(s, 5, (int64_t)x->live_bytes);
		sqlite3_bind_int64(s, 6, (int64_t)x->peak_bytes);
		if (step(w, ST_SNAPSHOT) < 0)
			return -1;
	}
	return 0;
}

static int write_samples(struct store_writer *w, const struct batch *b)
{
	uint32_t i = 0;

	while (i < b->samples.n) {
		int which = b->samples.n - i >= MULTI ? ST_SAMPLES : ST_SAMPLE;
		int rows = which == ST_SAMPLES ? MULTI : 1;
		sqlite3_stmt *s = stmt(w, which);

		if (!s)
			return -1;

		for (int r = 0; r < rows; r++, i++) {
			const struct store_sample *x = &VEC_AT(b->samples, struct store_sample, i);
			int c = r * 6;

			sqlite3_bind_int64(s, c + 1, x->session);
			sqlite3_bind_int64(s, c + 2, x->thread);
			sqlite3_bind_int64(s, c + 3, x->callsite);
			sqlite3_bind_int64(s, c + 4, x->state);
			sqlite3_bind_int64(s, c + 5, x->time_ns);
			sqlite3_bind_int64(s, c + 6, (int64_t)x->weight);
		}
		if (step(w, which) < 0)
			return -1;
	}
	return 0;
}

static int write_stats(struct store_writer *w, const struct batch *b)
{
	unsigned char *blob = w->blob;
	sqlite3_stmt *s = NULL;

	if (b->tasks.n && !(s = stmt(w, ST_TASK)))
		return -1;

	for (uint32_t i = 0; i < b->tasks.n; i++) {
		const struct id_task *x = &VEC_AT(b->tasks, struct id_task, i);
		size_t n = store_hist_encode(x->t.hist, blob);

		sqlite3_bind_int64(s, 1, (int64_t)x->id + 1);
		sqlite3_bind_int64(s, 2, x->t.session);
		sqlite3_bind_int64(s, 3, x->t.thread);
		sqlite3_bind_int64(s, 4, x->t.name);
		sqlite3_bind_int64(s, 5, x->t.parent);
		sqlite3_bind_int64(s, 6, x->t.kind);
		sqlite3_bind_int64(s, 7, (int64_t)x->t.calls);
		sqlite3_bind_int64(s, 8, x->t.wall_ns);
		sqlite3_bind_int64(s, 9, x->t.self_ns);
		sqlite3_bind_int64(s, 10, x->t.cpu_ns);
		sqlite3_bind_int64(s, 11, x->t.min_ns);
		sqlite3_bind_int64(s, 12, x->t.max_ns);
		sqlite3_bind_blob(s, 13, blob, (int)n, SQLITE_TRANSIENT);
		if (step(w, ST_TASK) < 0)
			return -1;
	}
	if (b->allocs.n && !(s = stmt(w, ST_ALLOC)))
		return -1;
	for (uint32_t i = 0; i < b->allocs.n; i++) {
		const struct id_alloc *x = &VEC_AT(b->allocs, struct id_alloc, i);

		sqlite3_bind_int64(s, 1, (int64_t)x->id + 1);
		sqlite3_bind_int64(s, 2, x->a.session);
		sqlite3_bind_int64(s, 3, x->a.callsite);
		sqlite3_bind_int64(s, 4, (int64_t)x->a.allocs);
		sqlite3_bind_int64(s, 5, (int64_t)x->a.frees);
		sqlite3_bind_int64(s, 6, (int64_t)x->a.bytes);
		sqlite3_bind_int64(s, 7, (int64_t)x->a.live_count);
		sqlite3_bind_int64(s, 8, (int64_t)x->a.live_bytes);
		sqlite3_bind_int64(s, 9, (int64_t)x->a.peak_bytes);
		if (step(w, ST_ALLOC) < 0)
			return -1;
	}
	if (b->sites.n && !(s = stmt(w, ST_SITE)))
		return -1;
	for (uint32_t i = 0; i < b->sites.n; i++) {
		const struct store_snapshot_site *x =
			&VEC_AT(b->sites, struct store_snapshot_site, i);

		sqlite3_bind_int64(s, 1, x->snapshot);
		sqlite3_bind_int64(s, 2, x->callsite);
		sqlite3_bind_int64(s, 3, (int64_t)x->allocs);
		sqlite3_bind_int64(s, 4, (int64_t)x->bytes);
		sqlite3_bind_int64(s, 5, (int64_t)x->live_count);
		sqlite3_bind_int64(s, 6, (int64_t)x->live_bytes);
		if (step(w, ST_SITE) < 0)
			return -1;
	}
	if (b->events.n && !(s = stmt(w, ST_EVENT)))
		return -1;
	for (uint32_t i = 0; i < b->events.n; i++) {
		const struct store_event *x = &VEC_AT(b->events, struct store_event, i);

		sqlite3_bind_int64(s, 1, x->session);
		sqlite3_bind_int64(s, 2, x->thread);
		sqlite3_bind_int64(s, 3, x->name);
		sqlite3_bind_int64(s, 4, x->kind);
		sqlite3_bind_int64(s, 5, x->start_ns);
		sqlite3_bind_int64(s, 6, x->dur_ns);
		sqlite3_bind_int64(s, 7, x->depth);
		if (step(w, ST_EVENT) < 0)
			return -1;
	}
	return 0;
}

static int write_batch(struct store_writer *w, const struct batch *b)
{
	if (b->bucket_ns != w->bucket_written) {
		char v[32];

		snprintf(v, sizeof(v), "%lld", (long long)b->bucket_ns);
		if (!stmt(w, ST_META))
			return -1;
		bind_text(w->st[ST_META], 1, "bucket_ns");
		sqlite3_bind_text(w->st[ST_META], 2, v, -1, SQLITE_TRANSIENT);
		if (step(w, ST_META) < 0)
			return -1;
		w->bucket_written = b->bucket_ns;
	}
	if (write_dicts(w, b) < 0 || write_samples(w, b) < 0 || write_stats(w, b) < 0)
		return -1;
	return 0;
}

static int txn(struct store_writer *w, const char *sql)
{
	char err[200];

	if (store_sql_exec(w->db, sql, err, sizeof(err)) < 0)
		return fail(w, sql);
	return 0;
}

static struct batch *take(struct store_writer *w)
{
	struct batch *b = w->head;

	if (b) {
		w->head = b->next;
		if (!w->head)
			w->tail = NULL;
		w->queued--;
	}
	return b;
}

static void *writer_main(void *arg)
{
	struct store_writer *w = arg;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		struct batch *b;
		uint64_t rows = 0;
		int64_t start;
		int ok;

		while (!w->head && !w->closing) {
			w->busy = 0;
			pthread_cond_broadcast(&w->idle);
			pthread_cond_wait(&w->wake, &w->lock);
		}
		if (!w->head)
			break;
		w->busy = 1;
		b = take(w);
		pthread_mutex_unlock(&w->lock);

		/* One transaction holds whole batches: while more are queued
		 * and it is still small and young, keep going. */
		start = now_ns(CLOCK_MONOTONIC);
		pthread_mutex_lock(&w->lock);
		ok = !w->failed;
		pthread_mutex_unlock(&w->lock);
		ok = ok && txn(w, "BEGIN") == 0;
		while (b) {
			if (ok && write_batch(w, b) < 0) {
				ok = 0;
				txn(w, "ROLLBACK");
			}
			rows += batch_rows(b);
			batch_free(b);
			b = NULL;
			if (rows >= TXN_ROWS || now_ns(CLOCK_MONOTONIC) - start >= TXN_NS)
				break;
			pthread_mutex_lock(&w->lock);
			b = take(w);
			pthread_mutex_unlock(&w->lock);
		}
		if (ok)
			txn(w, "COMMIT");
		pthread_mutex_lock(&w->lock);
	}
	w->busy = 0;
	pthread_cond_broadcast(&w->idle);
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* --- the caller's side --- */

static uint64_t writer_serial;

static void writer_destroy(struct store_writer *w)
{
	struct batch *b;

	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(w->st[i]);
	sqlite3_close(w->db);
	while ((b = take(w)))
		batch_free(b);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->wake);
	pthread_cond_destroy(&w->idle);
	free(w);
}

static void remove_store(const char *path)
{
	char side[4096];

	unlink(path);
	snprintf(side, sizeof(side), "%s-wal", path);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", path);
	unlink(side);
	snprintf(side, sizeof(side), "%s-journal", path);
	unlink(side);
}

struct store_writer *store_writer_open(const char *path, char *err, size_t errlen)
{
	struct store_writer *w = calloc(1, sizeof(*w));
	int rc;

	if (!w) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->wake, NULL);
	pthread_cond_init(&w->idle, NULL);
	w->bucket_written = 1000000000;
	w->serial = __atomic_add_fetch(&writer_serial, 1, __ATOMIC_RELAXED);
	if (unlink(path) < 0 && errno != ENOENT) {
		snprintf(err, errlen, "%s: cannot replace: %s", path, strerror(errno));
		writer_destroy(w);
		return NULL;
	}
	remove_store(path);
	rc = sqlite3_open_v2(path, &w->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			     SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: cannot create: %s", path,
			 w->db ? sqlite3_errmsg(w->db) : sqlite3_errstr(rc));
		writer_destroy(w);
		return NULL;
	}
	sqlite3_busy_timeout(w->db, 5000);
	/* Small pages: most stores are a page or two per table, and the
	 * file is kept as written (no rewrite at close).  The empty schema
	 * is written unsynced: there is nothing in it to lose. */
	if (store_sql_exec(w->db, "PRAGMA synchronous = OFF; PRAGMA page_size = " PAGE_SIZE ";"
			   " PRAGMA journal_mode = WAL;", err, errlen) < 0 ||
	    store_schema_create(w->db, err, errlen) < 0 ||
	    store_sql_exec(w->db, "PRAGMA synchronous = NORMAL", err, errlen) < 0)
		goto fail;
	if (pthread_create(&w->thread, NULL, writer_main, w)) {
		snprintf(err, errlen, "cannot start the writer thread");
		goto fail;
	}
	w->started = 1;
	return w;
fail:
	{
		char msg[256];

		snprintf(msg, sizeof(msg), "%s", err);
		snprintf(err, errlen, "%s: %s", path, msg);
	}
	writer_destroy(w);
	remove_store(path);
	return NULL;
}

static int copy_range(struct store_vec *dst, const struct store_vec *src, uint32_t from)
{
	uint32_t n = src->n > from ? src->n - from : 0;

	store_vec_init(dst, src->size);
	if (!n)
		return 0;
	if (store_vec_reserve(dst, n) < 0)
		return -1;
	memcpy(dst->data, (const char *)src->data + (size_t)from * src->size, (size_t)n * src->size);
	dst->n = n;
	return 0;
}

static int copy_samples(struct batch *b, struct store_profile *p)
{
	uint32_t *rows;
	int64_t n = store_dirty_take(&p->sample_dirty, &rows);

	store_vec_init(&b->samples, sizeof(struct store_sample));
	if (n < 0 || store_vec_reserve(&b->samples, (uint32_t)n) < 0) {
		free(rows);
		return -1;
	}
	for (int64_t i = 0; i < n; i++) {
		const struct store_sample *s = &VEC_AT(p->samples, struct store_sample, rows[i]);
		uint64_t *synced = &VEC_AT(p->sample_synced, uint64_t, rows[i]);
		struct store_sample *d;

		if (s->weight == *synced)
			continue;
		d = &VEC_AT(b->samples, struct store_sample, b->samples.n++);
		*d = *s;
		d->weight = s->weight - *synced;
		*synced = s->weight;
	}
	free(rows);
	return 0;
}

static int copy_tasks(struct batch *b, struct store_profile *p)
{
	uint32_t *rows;
	int64_t n = store_dirty_take(&p->task_dirty, &rows);

	store_vec_init(&b->tasks, sizeof(struct id_task));
	if (n < 0 || store_vec_reserve(&b->tasks, (uint32_t)n) < 0) {
		free(rows);
		return -1;
	}
	for (int64_t i = 0; i < n; i++) {
		struct id_task *d = &VEC_AT(b->tasks, struct id_task, b->tasks.n++);

		d->id = rows[i];
		d->t = VEC_AT(p->tasks, struct store_task, rows[i]);
	}
	free(rows);
	n = store_dirty_take(&p->alloc_dirty, &rows);
	store_vec_init(&b->allocs, sizeof(struct id_alloc));
	if (n < 0 || store_vec_reserve(&b->allocs, (uint32_t)n) < 0) {
		free(rows);
		return -1;
	}
	for (int64_t i = 0; i < n; i++) {
		struct id_alloc *d = &VEC_AT(b->allocs, struct id_alloc, b->allocs.n++);

		d->id = rows[i];
		d->a = VEC_AT(p->allocs, struct store_alloc, rows[i]);
	}
	free(rows);
	return 0;
}

/* A profile last synced by another writer (or loaded, or never synced):
 * every row counts as new to this one. */
static void adopt(struct store_writer *w, struct store_profile *p)
{
	if (p->sync_serial == w->serial)
		return;
	for (uint32_t i = 0; i < p->samples.n; i++) {
		VEC_AT(p->sample_synced, uint64_t, i) = 0;
		store_dirty_mark(&p->sample_dirty, i);
	}
	for (uint32_t i = 0; i < p->tasks.n; i++)
		store_dirty_mark(&p->task_dirty, i);
	for (uint32_t i = 0; i < p->allocs.n; i++)
		store_dirty_mark(&p->alloc_dirty, i);
	p->sync_serial = w->serial;
}

/* Everything new in p since the last sync; the caller's only cost. */
static struct batch *collect(struct store_writer *w, struct store_profile *p)
{
	struct batch *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	adopt(w, p);
	if (p->thread_gen != w->thread_gen) {
		w->threads = 0;	/* a rename: send every thread again */
		w->thread_gen = p->thread_gen;
	}
	b->bucket_ns = p->bucket_ns;
	b->string0 = w->strings;
	b->frame0 = w->frames;
	b->callsite0 = w->callsites;
	b->thread0 = w->threads;
	b->snapshot0 = w->snapshots;
	if (copy_range(&b->strings, &p->strings, w->strings) < 0 ||
	    copy_range(&b->frames, &p->frames, w->frames) < 0 ||
	    copy_range(&b->callsites, &p->callsites, w->callsites) < 0 ||
	    copy_range(&b->sessions, &p->sessions, 0) < 0 ||
	    copy_range(&b->threads, &p->threads, w->threads) < 0 ||
	    copy_range(&b->snapshots, &p->snapshots, w->snapshots) < 0 ||
	    copy_range(&b->sites, &p->snapshot_sites, w->sites) < 0 ||
	    copy_range(&b->events, &p->events, w->events) < 0 ||
	    copy_samples(b, p) < 0 || copy_tasks(b, p) < 0) {
		batch_free(b);
		return NULL;
	}
	w->strings = p->strings.n;
	w->frames = p->frames.n;
	w->callsites = p->callsites.n;
	w->threads = p->threads.n;
	w->snapshots = p->snapshots.n;
	w->sites = p->snapshot_sites.n;
	w->events = p->events.n;
	return b;
}

/* A writer this far behind (a slow disk) gets no new batch: the rows stay
 * in the profile and go with a later sync, so memory stays bounded and
 * the caller still never waits. */
#define MAX_QUEUED 16

static int sync_profile(struct store_writer *w, struct store_profile *p, int force)
{
	struct batch *b;
	int failed, behind;

	pthread_mutex_lock(&w->lock);
	failed = w->failed;
	behind = w->queued >= MAX_QUEUED;
	pthread_mutex_unlock(&w->lock);
	if (failed)
		return -1;
	if (behind && !force)
		return 0;
	b = collect(w, p);
	if (!b) {
		pthread_mutex_lock(&w->lock);
		if (!w->failed)
			snprintf(w->err, sizeof(w->err), "out of memory");
		w->failed = 1;
		pthread_mutex_unlock(&w->lock);
		return -1;
	}
	pthread_mutex_lock(&w->lock);
	if (w->tail)
		w->tail->next = b;
	else
		w->head = b;
	w->tail = b;
	w->queued++;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
	return 0;
}

int store_writer_sync(struct store_writer *w, struct store_profile *p)
{
	return sync_profile(w, p, 0);
}

int store_writer_flush(struct store_writer *w)
{
	int failed;

	pthread_mutex_lock(&w->lock);
	while (w->head || w->busy)
		pthread_cond_wait(&w->idle, &w->lock);
	failed = w->failed;
	pthread_mutex_unlock(&w->lock);
	return failed ? -1 : 0;
}

/* The finished store on disk, with one sync: the steps of closing run
 * unsynced (a killed process leaves the WAL store or the finished one,
 * never a torn one; syncing each step only guarded against a power cut
 * during those few milliseconds, at fourteen syncs).  The WAL too when a
 * reader kept the store in WAL mode. */
static void sync_file(sqlite3 *db)
{
	const char *path = sqlite3_db_filename(db, "main");
	char wal[4200];

	if (!path || !*path)
		return;
	snprintf(wal, sizeof(wal), "%s-wal", path);
	for (int i = 0; i < 2; i++) {
		int fd = open(i ? wal : path, O_RDONLY | O_CLOEXEC);

		if (fd < 0)
			continue;
		if (fdatasync(fd) != 0) {
			/* nothing better to do: written, maybe not yet on disk */
		}
		close(fd);
	}
}

int store_writer_close(struct store_writer *w, struct store_profile *p, char *err, size_t errlen)
{
	int rc = 0;

	if (!w)
		return 0;
	if (p) {
		int64_t now = now_ns(CLOCK_REALTIME);

		for (uint32_t i = 1; i < p->sessions.n; i++)
			if (!VEC_AT(p->sessions, struct store_session, i).end_ns)
				VEC_AT(p->sessions, struct store_session, i).end_ns = now;
		sync_profile(w, p, 1);
	}
	pthread_mutex_lock(&w->lock);
	w->closing = 1;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
	if (w->started)
		pthread_join(w->thread, NULL);
	if (w->failed) {
		snprintf(err, errlen, "%s", w->err);
		rc = -1;
	} else if (store_schema_index(w->db, err, errlen) < 0) {
		rc = -1;
	} else {
		/* A finished store is best one self-contained file, readable from
		 * read-only media; a reader still holding it open (a live viewer)
		 * keeps it in WAL mode, which is just as valid. */
		sqlite3_busy_timeout(w->db, 250);
		store_sql_exec(w->db, "PRAGMA synchronous = OFF", NULL, 0);
		store_sql_exec(w->db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, 0);
		store_sql_exec(w->db, "PRAGMA journal_mode = DELETE", NULL, 0);
		sync_file(w->db);
	}
	writer_destroy(w);
	return rc;
}

int store_save(const char *path, struct store_profile *p, char *err, size_t errlen)
{
	struct store_writer *w = store_writer_open(path, err, errlen);

	if (!w)
		return -1;
	return store_writer_close(w, p, err, errlen);
}
