/* profile.c - a profile's life cycle: the empty model with every id-0 row in place. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "store/internal.h"

#define DEFAULT_BUCKET_NS 1000000000LL

struct store_profile *store_profile_new(void)
{
	struct store_profile *p = calloc(1, sizeof(*p));
	struct store_session unknown = { .command = "" };

	if (!p)
		return NULL;
	p->bucket_ns = DEFAULT_BUCKET_NS;
	store_vec_init(&p->strings, sizeof(char *));
	store_vec_init(&p->frames, sizeof(struct store_frame));
	store_vec_init(&p->callsites, sizeof(struct store_callsite));
	store_vec_init(&p->stack_cache_rows, sizeof(struct store_stack_memo));
	store_vec_init(&p->stack_cache_frames, sizeof(uint32_t));
	store_vec_init(&p->sessions, sizeof(struct store_session));
	store_vec_init(&p->threads, sizeof(struct store_thread));
	store_vec_init(&p->samples, sizeof(struct store_sample));
	store_vec_init(&p->sample_synced, sizeof(uint64_t));
	store_vec_init(&p->sample_prev, sizeof(uint32_t));
	store_vec_init(&p->stack_last, sizeof(uint32_t));
	store_vec_init(&p->stacks, sizeof(struct store_stack));
	store_vec_init(&p->tasks, sizeof(struct store_task));
	store_vec_init(&p->allocs, sizeof(struct store_alloc));
	store_vec_init(&p->snapshots, sizeof(struct store_snapshot));
	store_vec_init(&p->snapshot_sites, sizeof(struct store_snapshot_site));
	store_vec_init(&p->events, sizeof(struct store_event));

	/* The id-0 rows: "", the unknown frame, the root call site, the
	 * unknown session, thread and snapshot. */
	if (store_string_intern(p, "") != 0 || !store_vec_push(&p->frames) ||
	    !store_vec_push(&p->callsites) || store_session_add(p, &unknown) != 0 ||
	    !store_vec_push(&p->threads) || store_snapshot_add(p, 0, "", 0) != 0) {
		store_profile_free(p);
		return NULL;
	}
	VEC_AT(p->threads, struct store_thread, 0).name = "";
	VEC_AT(p->threads, struct store_thread, 0).role = "";
	return p;
}

void store_profile_free(struct store_profile *p)
{
	if (!p)
		return;
	store_strings_free(p);
	store_vec_free(&p->strings);
	store_hash_free(&p->string_hash);
	store_vec_free(&p->frames);
	store_hash_free(&p->frame_hash);
	store_vec_free(&p->callsites);
	store_hash_free(&p->callsite_hash);
	store_hash_free(&p->stack_cache);
	store_vec_free(&p->stack_cache_rows);
	store_vec_free(&p->stack_cache_frames);
	store_vec_free(&p->sessions);
	store_vec_free(&p->threads);
	store_hash_free(&p->thread_hash);
	store_vec_free(&p->samples);
	store_vec_free(&p->sample_prev);
	store_vec_free(&p->stack_last);
	store_vec_free(&p->sample_synced);
	store_dirty_free(&p->sample_dirty);
	store_vec_free(&p->stacks);
	store_hash_free(&p->stack_hash);
	store_vec_free(&p->tasks);
	store_hash_free(&p->task_hash);
	store_dirty_free(&p->task_dirty);
	store_vec_free(&p->allocs);
	store_hash_free(&p->alloc_hash);
	store_dirty_free(&p->alloc_dirty);
	store_vec_free(&p->snapshots);
	store_vec_free(&p->snapshot_sites);
	store_vec_free(&p->events);
	free(p);
}

void store_profile_set_bucket(struct store_profile *p, int64_t bucket_ns)
{
	p->bucket_ns = bucket_ns < 0 ? 0 : bucket_ns;
}

int64_t store_profile_bucket(const struct store_profile *p)
{
	return p->bucket_ns;
}

void store_profile_mark_synced(struct store_profile *p)
{
	for (uint32_t i = 0; i < p->samples.n; i++)
		VEC_AT(p->sample_synced, uint64_t, i) = VEC_AT(p->samples, struct store_sample, i).weight;
	store_dirty_reset(&p->sample_dirty);
	store_dirty_reset(&p->task_dirty);
	store_dirty_reset(&p->alloc_dirty);
}
