/* internal.h - what the store/ files share and nobody else sees: the profile's layout. */
#ifndef SONDA_STORE_INTERNAL_H
#define SONDA_STORE_INTERNAL_H

#include <stdint.h>
#include <stddef.h>

#include "store/store.h"

/* A growable array of fixed-size elements. */
struct store_vec {
	void *data;
	uint32_t n, cap;
	size_t size;
};

#define VEC_AT(v, type, i) (((type *)(v).data)[i])

void store_vec_init(struct store_vec *v, size_t size);
void store_vec_free(struct store_vec *v);
/* Appends one zeroed element and returns it, or NULL when memory runs out. */
void *store_vec_push(struct store_vec *v);
int store_vec_reserve(struct store_vec *v, uint32_t n);

/* Open addressing hash of row ids.  Each slot keeps the key's hash so a
 * probe rarely touches the row and a resize never rehashes a key. */
struct store_hash_slot {
	uint32_t id1;	/* row id + 1; 0 = empty */
	uint32_t hash;
};

struct store_hash {
	struct store_hash_slot *slots;
	uint32_t cap, n;	/* cap is 0 or a power of two */
};

typedef int (*store_hash_eq)(const void *ctx, uint32_t id, const void *key);

void store_hash_free(struct store_hash *h);
/* The id of the row equal to key, or -1. */
int64_t store_hash_find(const struct store_hash *h, uint32_t hash, store_hash_eq eq,
			const void *ctx, const void *key);
int store_hash_insert(struct store_hash *h, uint32_t hash, uint32_t id);
void store_hash_clear(struct store_hash *h);

uint32_t store_hash_bytes(const void *p, size_t n, uint32_t seed);
uint32_t store_hash_u32(const uint32_t *w, size_t n);

/* Rows that change after they are added carry a dirty flag so a writer
 * sends only what changed since its last sync. */
struct store_dirty {
	struct store_vec list;	/* uint32_t row indices */
	struct store_vec flag;	/* uint8_t per row */
};

struct store_profile {
	int64_t bucket_ns;

	struct store_vec strings;	/* char * */
	struct store_hash string_hash;
	struct store_vec frames;	/* struct store_frame */
	struct store_hash frame_hash;
	struct store_vec callsites;	/* struct store_callsite */
	struct store_hash callsite_hash;
	/* Whole stacks seen before -> their leaf, so a repeated stack costs
	 * one lookup instead of one per frame. */
	struct store_hash stack_cache;
	struct store_vec stack_cache_rows;	/* struct store_stack_memo */
	struct store_vec stack_cache_frames;	/* uint32_t, the stacks' frames */

	struct store_vec sessions;	/* struct store_session, strings interned */
	struct store_vec threads;	/* struct store_thread */
	struct store_hash thread_hash;
	uint64_t thread_gen;	/* bumped when a thread is renamed */

	/* The writer whose syncs the dirty lists and synced weights
	 * describe; another writer starts with a full copy. */
	uint64_t sync_serial;

	/* An aggregated sample row is found from its stack: stack_last holds
	 * each stack's newest row + 1, sample_prev each row's next older row
	 * + 1 of the same stack (0 ends the chain), so samples arriving in
	 * time order need no search at all. */
	struct store_vec samples;	/* struct store_sample */
	struct store_vec sample_prev;	/* uint32_t */
	struct store_vec stack_last;	/* uint32_t */
	struct store_vec sample_synced;	/* uint64_t: weight already sent to a writer */
	struct store_dirty sample_dirty;
	struct store_vec stacks;	/* struct store_stack */
	struct store_hash stack_hash;

	struct store_vec tasks;		/* struct store_task */
	struct store_hash task_hash;
	struct store_dirty task_dirty;
	struct store_vec allocs;	/* struct store_alloc */
	struct store_hash alloc_hash;
	struct store_dirty alloc_dirty;
	struct store_vec snapshots;	/* struct store_snapshot, label interned */
	struct store_vec snapshot_sites;	/* struct store_snapshot_site */
	struct store_vec events;	/* struct store_event */
};

struct store_stack_memo {
	uint32_t first, n, leaf;	/* frames [first, first + n) of stack_cache_frames */
};

uint32_t store_hash_stack(const uint32_t *w, size_t n);

void store_dirty_mark(struct store_dirty *d, uint32_t row);
void store_dirty_reset(struct store_dirty *d);
void store_dirty_free(struct store_dirty *d);

/* Writes *d's rows, sorted, to out (n entries) and clears d; returns n or -1. */
int64_t store_dirty_take(struct store_dirty *d, uint32_t **out);

void store_strings_free(struct store_profile *p);
/* After a load: every row counts as written already. */
void store_profile_mark_synced(struct store_profile *p);

#endif
