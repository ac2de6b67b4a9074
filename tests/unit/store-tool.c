/* store-tool.c - stores for the shell tests (tests/t/t1*.sh): a known profile, and a writer that never stops.
 *
 *   store-tool fixture PATH   save the hand-built profile of store-fixture.h
 *   store-tool loop PATH      write batches of exactly 100 samples forever;
 *                             after each flush print "committed N" (samples on disk)
 *   store-tool check PATH     load PATH and print "samples N batches-whole yes|no"
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "store/store.h"
#include "tests/unit/store-fixture.h"

#define BATCH 100

static int check(const char *path)
{
	char err[256];
	struct store_profile *p = store_load(path, err, sizeof(err));
	uint64_t total = 0;

	if (!p) {
		fprintf(stderr, "store-tool: %s: %s\n", path, err);
		return 1;
	}
	for (uint32_t i = 0; i < store_nstacks(p); i++)
		total += store_stack_get(p, i)->weight;
	printf("samples %llu batches-whole %s\n", (unsigned long long)total,
	       total % BATCH ? "no" : "yes");
	store_profile_free(p);
	return 0;
}

static int fixture(const char *path)
{
	struct store_profile *p = store_profile_new();
	struct fixture x;
	char err[256];
	int rc;

	fixture_build(p, &x);
	fixture_samples(p, &x, 1);
	fixture_samples(p, &x, 0);
	fixture_stats(p, &x);
	rc = store_save(path, p, err, sizeof(err));
	if (rc < 0)
		fprintf(stderr, "store-tool: %s\n", err);
	store_profile_free(p);
	return rc < 0;
}

static int loop(const char *path)
{
	struct store_session s = { .pid = 1, .command = "store-tool loop", .runtime = "native",
				   .mode = "cpu", .rate_hz = 1000 };
	struct store_profile *p;
	struct store_writer *w;
	uint32_t session, thread;
	uint64_t n = 0;
	char err[256];

	p = store_profile_new();
	w = store_writer_open(path, err, sizeof(err));
	if (!p || !w) {
		fprintf(stderr, "store-tool: %s\n", err);
		return 1;
	}
	session = store_session_add(p, &s);
	thread = store_thread_add(p, session, 1, "main", "main");
	for (uint64_t round = 0;; round++) {
		for (int i = 0; i < BATCH; i++) {
			char name[32];
			struct store_frame f = { 0 };
			uint32_t frames[8];
			struct store_sample x = { session, thread, 0, STORE_STATE_ONCPU,
						  (int64_t)round * 1000000, 1 };

			for (int d = 0; d < 8; d++) {
				snprintf(name, sizeof(name), "fn_%llu_%d",
					 (unsigned long long)((round + (uint64_t)i) % 500), d);
				f.function = store_string_intern(p, name);
				f.line = d + 1;
				frames[d] = store_frame_intern(p, &f);
			}
			x.callsite = store_callsite_from_stack(p, frames, 8);
			store_sample_add(p, &x);
		}
		n += BATCH;
		store_session_get(p, session)->samples = n;
		if (store_writer_sync(w, p) < 0)
			return 1;
		if (round % 20 == 19) {
			/* The second sync cannot be deferred: the queue is empty. */
			if (store_writer_flush(w) < 0 || store_writer_sync(w, p) < 0 ||
			    store_writer_flush(w) < 0)
				return 1;
			printf("committed %llu\n", (unsigned long long)n);
			fflush(stdout);
		}
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	}
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "check"))
		return check(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "fixture"))
		return fixture(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "loop"))
		return loop(argv[2]);
	fprintf(stderr, "usage: store-tool fixture|loop|check PATH\n");
	return 2;
}
