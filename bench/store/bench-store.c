/* bench-store.c - the store's write and read speed and its size on disk, for bench/store/run.
 *
 * Writes N samples drawn from K distinct stacks of depth D the way a
 * sampler does (intern the call site, add the sample, sync the writer
 * every 250 ms of samples at 10 kHz), closes the store, loads it back and
 * builds the report's function table (self and total per function). */
#include "config.h"

#include <getopt.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "store/store.h"

#define NFUNC 4000
#define NTHREADS 4
#define RATE_HZ 10000
#define SYNC_EVERY (RATE_HZ / 4)	/* one writer sync per 250 ms of samples */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t rng = 88172645463325252ull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Stacks share prefixes as real ones do: the frame at depth d depends on
 * fewer bits of the stack number the nearer d is to the root. */
static uint32_t *make_stacks(struct store_profile *p, int nstacks, int depth)
{
	uint32_t *frames = malloc(sizeof(*frames) * (size_t)nstacks * (size_t)depth);
	uint32_t fid[NFUNC];
	char name[64], file[64];

	for (int f = 0; f < NFUNC; f++) {
		struct store_frame fr = { 0 };

		snprintf(name, sizeof(name), "package.module_%d.function_%d", f % 97, f);
		snprintf(file, sizeof(file), "/srv/app/package/module_%d.py", f % 97);
		fr.function = store_string_intern(p, name);
		fr.file = store_string_intern(p, file);
		fr.module = store_string_intern(p, "package");
		fr.line = 10 + f % 500;
		fr.kind = STORE_KIND_PYTHON;
		fid[f] = store_frame_intern(p, &fr);
	}
	for (int k = 0; k < nstacks; k++)
		for (int d = 0; d < depth; d++) {
			int shift = 14 - (d * 15) / depth;
			uint64_t g = (uint64_t)(shift > 0 ? k >> shift : k) * 2654435761u + (uint64_t)d * 40503u;

			frames[(size_t)k * depth + d] = fid[(g ^ (g >> 13)) % NFUNC];
		}
	return frames;
}

/* CPU seconds of the sampler (this thread) and of the writer thread. */
static double sampler_cpu, writer_cpu;

static int write_store(const char *path, int raw, long nsamples, int nstacks, int depth,
		       double *caller_s, double *total_s)
{
	struct store_profile *p = store_profile_new();
	struct store_session s = { .pid = 1234, .command = "bench-store", .runtime = "python",
				   .version = "3.11.7", .mode = "cpu", .rate_hz = RATE_HZ,
				   .start_ns = 1700000000000000000LL };
	uint32_t threads[NTHREADS], session, *frames;
	struct store_writer *w;
	char err[256];
	double t0, t1;

	store_profile_set_bucket(p, raw ? 0 : 1000000000LL);
	session = store_session_add(p, &s);
	for (int t = 0; t < NTHREADS; t++)
		threads[t] = store_thread_add(p, session, 1234 + t, t ? "worker" : "MainThread",
					      t ? "" : "main");
	frames = make_stacks(p, nstacks, depth);
	w = store_writer_open(path, err, sizeof(err));
	if (!w) {
		fprintf(stderr, "bench-store: %s\n", err);
		return -1;
	}
	double c0 = cpu(CLOCK_THREAD_CPUTIME_ID), p0 = cpu(CLOCK_PROCESS_CPUTIME_ID);

	t0 = now();
	for (long i = 0; i < nsamples; i++) {
		int k = (int)(next() % (uint64_t)nstacks);
		struct store_sample x = { session, threads[i % NTHREADS], 0, STORE_STATE_ONCPU,
					  i * (1000000000LL / RATE_HZ), 1 };

		x.callsite = store_callsite_from_stack(p, frames + (size_t)k * depth, (size_t)depth);
		store_sample_add(p, &x);
		if (i % SYNC_EVERY == SYNC_EVERY - 1)
			store_writer_sync(w, p);
	}
	store_session_get(p, session)->samples = (uint64_t)nsamples;
	t1 = now();
	sampler_cpu = cpu(CLOCK_THREAD_CPUTIME_ID) - c0;
	if (store_writer_close(w, p, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench-store: %s\n", err);
		return -1;
	}
	*caller_s = t1 - t0;
	*total_s = now() - t0;
	writer_cpu = cpu(CLOCK_PROCESS_CPUTIME_ID) - p0 - sampler_cpu;
	free(frames);
	store_profile_free(p);
	return 0;
}

struct fn_row {
	uint32_t function;
	uint64_t self, total;
};

static int by_self(const void *a, const void *b)
{
	const struct fn_row *x = a, *y = b;

	return x->self < y->self ? 1 : x->self > y->self ? -1 : 0;
}

/* The report's function table from a loaded profile: self from each
 * stack's leaf, total from every function on it, once per stack. */
static int report(const struct store_profile *p, struct fn_row **out)
{
	uint32_t ns = store_nstrings(p);
	struct fn_row *rows = calloc(ns, sizeof(*rows));
	uint32_t *mark = calloc(ns, sizeof(*mark)), stamp = 0;
	int n = 0;

	for (uint32_t i = 0; i < store_nstacks(p); i++) {
		const struct store_stack *st = store_stack_get(p, i);
		uint32_t cs = st->callsite;

		stamp++;
		if (!cs)
			continue;
		rows[store_frame_get(p, store_callsite_get(p, cs)->frame)->function].self += st->weight;
		for (; cs; cs = store_callsite_get(p, cs)->parent) {
			uint32_t f = store_frame_get(p, store_callsite_get(p, cs)->frame)->function;

			if (mark[f] != stamp) {
				mark[f] = stamp;
				rows[f].total += st->weight;
			}
		}
	}
	for (uint32_t f = 0; f < ns; f++)
		if (rows[f].total) {
			rows[f].function = f;
			rows[n++] = rows[f];
		}
	qsort(rows, (size_t)n, sizeof(*rows), by_self);
	free(mark);
	*out = rows;
	return n;
}

static double sql_time(const char *path, const char *query, long *nrows)
{
	sqlite3 *db;
	sqlite3_stmt *s;
	double t0 = now();

	*nrows = 0;
	sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
	if (sqlite3_prepare_v2(db, query, -1, &s, NULL) == SQLITE_OK) {
		while (sqlite3_step(s) == SQLITE_ROW)
			(*nrows)++;
		sqlite3_finalize(s);
	}
	sqlite3_close(db);
	return now() - t0;
}

int main(int argc, char **argv)
{
	long nsamples = 1000000;
	int nstacks = 10000, depth = 30, raw = 0, c, nfn;
	const char *path = "bench-store.db";
	double caller, total, t0, load_s, report_s, self_sql, total_sql;
	struct store_profile *p;
	struct fn_row *rows;
	struct stat st;
	char err[256];
	long nrows;

	while ((c = getopt(argc, argv, "rn:k:d:o:")) != -1) {
		switch (c) {
		case 'r': raw = 1; break;
		case 'n': nsamples = atol(optarg); break;
		case 'k': nstacks = atoi(optarg); break;
		case 'd': depth = atoi(optarg); break;
		case 'o': path = optarg; break;
		default:
			fprintf(stderr, "usage: bench-store [-r] [-n SAMPLES] [-k STACKS] [-d DEPTH] [-o FILE]\n");
			return 2;
		}
	}
	if (write_store(path, raw, nsamples, nstacks, depth, &caller, &total) < 0)
		return 1;
	stat(path, &st);
	t0 = now();
	double lc = cpu(CLOCK_PROCESS_CPUTIME_ID);
	p = store_load(path, err, sizeof(err));
	if (!p) {
		fprintf(stderr, "bench-store: %s\n", err);
		return 1;
	}
	load_s = now() - t0;
	lc = cpu(CLOCK_PROCESS_CPUTIME_ID) - lc;
	t0 = now();
	nfn = report(p, &rows);
	report_s = now() - t0;
	self_sql = sql_time(path, "SELECT * FROM top_self", &nrows);
	total_sql = sql_time(path, "SELECT * FROM top_total", &nrows);
	printf("mode %s: %ld samples, %d stacks of depth %d, %d threads, 10 kHz\n",
	       raw ? "raw" : "aggregated (1 s buckets)", nsamples, nstacks, depth, NTHREADS);
	printf("write        %.3f s  %.0f samples/s end to end (sampler side %.3f s, %.0f samples/s)\n",
	       total, nsamples / total, caller, nsamples / caller);
	printf("write cpu    sampler thread %.3f s, writer thread %.3f s (close included):"
	       " %.0f samples/s when each has a core\n", sampler_cpu, writer_cpu,
	       nsamples / (sampler_cpu > writer_cpu ? sampler_cpu : writer_cpu));
	printf("disk         %lld bytes  %.2f bytes/sample\n", (long long)st.st_size,
	       (double)st.st_size / nsamples);
	printf("load         %.3f s (cpu %.3f s)\n", load_s, lc);
	printf("report       %.3f s (load + function table of %d functions: %.3f s)\n",
	       load_s + report_s, nfn, report_s);
	printf("sql views    top_self %.3f s, top_total %.3f s\n", self_sql, total_sql);
	printf("top          %s self %llu total %llu\n", store_string(p, rows[0].function),
	       (unsigned long long)rows[0].self, (unsigned long long)rows[0].total);
	printf("RESULT samples_per_s=%.0f cpu_samples_per_s=%.0f bytes_per_sample=%.3f report_s=%.3f"
	       " report_cpu_s=%.3f\n", nsamples / total,
	       nsamples / (sampler_cpu > writer_cpu ? sampler_cpu : writer_cpu),
	       (double)st.st_size / nsamples, load_s + report_s, lc + report_s);
	free(rows);
	store_profile_free(p);
	return 0;
}
