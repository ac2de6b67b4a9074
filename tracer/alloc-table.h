/* alloc-table.h - the allocation tracker's two tables: call sites (in the region) and live pointers (private).
 *
 * Both are called from inside malloc and free, with the caller's
 * re-entrancy guard set: they never call malloc (memory comes from mmap),
 * never block except on a shard lock held for a bounded time by a thread
 * that is itself not blocked, and count what they cannot hold.
 */
#ifndef SONDA_TRACER_ALLOC_TABLE_H
#define SONDA_TRACER_ALLOC_TABLE_H

#include <stdint.h>

#include "tracer/alloc.h"

/* ---- sites: the region's site table, with a private hash index ---- */

struct alloc_sites {
	struct sonda_alloc_header *hdr;
	unsigned char *entries;	/* hdr->sites_max entries of hdr->site_size */
	uint32_t *index;	/* site index, 0 = empty (site 0 is never indexed) */
	uint32_t mask;		/* index slots - 1 */
	int lock;		/* held while a site is appended */
};

/* hdr is a zeroed page in the region, entries the site area (bytes long).
 * Returns 0, or -1 when the index cannot be mapped. */
int alloc_sites_init(struct alloc_sites *t, struct sonda_alloc_header *hdr, unsigned char *entries,
		     uint64_t bytes, uint32_t nframes);
void alloc_sites_free(struct alloc_sites *t);
static inline struct sonda_alloc_site *alloc_site(const struct alloc_sites *t, uint32_t i)
{
	return (struct sonda_alloc_site *)(t->entries + (uint64_t)i * t->hdr->site_size);
}
uint64_t alloc_stack_hash(const uint64_t *frames, uint32_t n);
/* The site of a stack, added when new; 0 (the overflow site) when the
 * table is full (counted in hdr->sites_dropped).  Lock-free when found. */
uint32_t alloc_site_find(struct alloc_sites *t, uint64_t hash, const uint64_t *frames, uint32_t n);
/* Charge an allocation or a free of `bytes` (count in count units). */
void alloc_site_add(struct alloc_sites *t, uint32_t site, uint64_t count, uint64_t bytes);
void alloc_site_sub(struct alloc_sites *t, uint32_t site, uint64_t count, uint64_t bytes);

/* ---- live pointers: pointer -> (site, size), sharded by pointer hash ---- */

#define ALLOC_LIVE_SHARDS 256
#define ALLOC_LIVE_SITE_BITS 24
#define ALLOC_LIVE_SIZE_MAX ((1ull << (64 - ALLOC_LIVE_SITE_BITS)) - 1)

struct alloc_live_entry {
	uint64_t ptr;		/* 0 = empty */
	uint64_t val;		/* size << ALLOC_LIVE_SITE_BITS | site */
};

struct alloc_live_shard {
	int lock;
	uint32_t n;
	uint32_t cap;		/* slots, a power of two, 0 until the first insert */
	uint32_t cap_max;
	struct alloc_live_entry *v;
	char pad[40];
} __attribute__((aligned(64)));

struct alloc_live {
	struct alloc_live_shard shard[ALLOC_LIVE_SHARDS];
};

/* slots_max bounds each shard (a power of two). */
void alloc_live_init(struct alloc_live *m, uint32_t slots_max);
void alloc_live_free(struct alloc_live *m);
/* Adds ptr.  Returns 0, 1 when ptr was already there (its old entry in
 * *old: a block freed behind our back), -1 when there is no room. */
int alloc_live_put(struct alloc_live *m, uint64_t ptr, uint32_t site, uint64_t size,
		   struct alloc_live_entry *old);
/* Removes ptr; 1 with its entry in *out, 0 when it was not there. */
int alloc_live_take(struct alloc_live *m, uint64_t ptr, struct alloc_live_entry *out);
uint64_t alloc_live_count(struct alloc_live *m);
/* Every shard locked (fork), then unlocked. */
void alloc_live_lock_all(struct alloc_live *m);
void alloc_live_unlock_all(struct alloc_live *m);

static inline uint32_t alloc_live_site(const struct alloc_live_entry *e)
{
	return (uint32_t)(e->val & ((1u << ALLOC_LIVE_SITE_BITS) - 1));
}

static inline uint64_t alloc_live_size(const struct alloc_live_entry *e)
{
	return e->val >> ALLOC_LIVE_SITE_BITS;
}

void alloc_spin_lock(int *l);
void alloc_spin_unlock(int *l);

#endif
