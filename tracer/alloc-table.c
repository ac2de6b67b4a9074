/* alloc-table.c - call-site table and sharded live-pointer map of the allocation tracker; no malloc inside. */
#include "config.h"

#include <sched.h>
#include <string.h>
#include <sys/mman.h>

#include "tracer/internal.h"

#define LIVE_FIRST_SLOTS 256	/* 4 KiB: one page per shard at first */
#define SITES_AHEAD (64 * 1024)	/* site entries given memory at a time */

void alloc_spin_lock(int *l)
{
	unsigned spins = 0;

	while (__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE)) {
		while (__atomic_load_n(l, __ATOMIC_RELAXED)) {
			/* The holder may be descheduled: yield rather than burn its CPU. */
			if (++spins > 64)
				sched_yield();
			else
				__builtin_ia32_pause();
		}
	}
}

void alloc_spin_unlock(int *l)
{
	__atomic_store_n(l, 0, __ATOMIC_RELEASE);
}

static void *map_zero(uint64_t bytes)
{
	void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	return m == MAP_FAILED ? NULL : m;
}

/* ---- sites ---- */

int alloc_sites_init(struct alloc_sites *t, struct sonda_alloc_header *hdr, unsigned char *entries,
		     uint64_t bytes, uint32_t nframes)
{
	uint32_t size = (uint32_t)((sizeof(struct sonda_alloc_site) + 8u * nframes + 63) & ~63u);
	uint64_t max = bytes / size;
	uint32_t slots = 1024;

	if (max > SONDA_ALLOC_SITES_MAX)
		max = SONDA_ALLOC_SITES_MAX;
	while (slots < 2 * max)
		slots *= 2;
	memset(t, 0, sizeof(*t));
	t->index = map_zero((uint64_t)slots * sizeof(*t->index));
	if (!t->index || max < 2)
		return -1;
	t->hdr = hdr;
	t->entries = entries;
	t->mask = slots - 1;
	hdr->nframes = nframes;
	hdr->site_size = size;
	hdr->sites_max = (uint32_t)max;
	__atomic_store_n(&hdr->sites_used, 1, __ATOMIC_RELEASE);	/* the overflow site */
	return 0;
}

void alloc_sites_free(struct alloc_sites *t)
{
	if (t->index)
		munmap(t->index, ((uint64_t)t->mask + 1) * sizeof(*t->index));
	t->index = NULL;
}

uint64_t alloc_stack_hash(const uint64_t *frames, uint32_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ n;

	for (uint32_t i = 0; i < n; i++) {
		h ^= frames[i];
		h *= 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	return h ? h : 1;
}

static uint32_t site_append(struct alloc_sites *t, uint32_t slot, uint64_t hash, const uint64_t *frames,
			    uint32_t n)
{
	struct sonda_alloc_header *h = t->hdr;
	uint32_t i = h->sites_used;
	struct sonda_alloc_site *s;

	if (i >= h->sites_max)
		return 0;
	/* the entry's page gets its memory here, not at the hot path's first write */
	if (t->reserve && (uint64_t)(i + 1) * h->site_size > t->ready) {
		uint64_t hi = ((uint64_t)(i + 1) * h->site_size + SITES_AHEAD - 1) & ~(uint64_t)(SITES_AHEAD - 1);

		if (hi > (uint64_t)h->sites_max * h->site_size)
			hi = (uint64_t)h->sites_max * h->site_size;
		/* short of room: the entry alone */
		if (t->reserve(t->entries + t->ready, hi - t->ready) < 0 &&
		    t->reserve(t->entries + t->ready, (hi = (uint64_t)(i + 1) * h->site_size) - t->ready) < 0)
			return 0;
		t->ready = hi;
	}
	s = alloc_site(t, i);
	s->hash = hash;
	s->nframes = n;
	memcpy(s + 1, frames, 8u * n);
	/* Published to readers of the region, then to the index's readers. */
	__atomic_store_n(&h->sites_used, i + 1, __ATOMIC_RELEASE);
	__atomic_store_n(&t->index[slot], i, __ATOMIC_RELEASE);
	return i;
}

uint32_t alloc_site_find(struct alloc_sites *t, uint64_t hash, const uint64_t *frames, uint32_t n)
{
	uint32_t slot = (uint32_t)(hash >> 17) & t->mask, v, site;

	for (;; slot = (slot + 1) & t->mask) {
		v = __atomic_load_n(&t->index[slot], __ATOMIC_ACQUIRE);
		if (!v)
			break;
		/* 64-bit stack hashes: two stacks sharing one is taken as impossible. */
		if (alloc_site(t, v)->hash == hash)
			return v;
	}
	alloc_spin_lock(&t->lock);
	for (;; slot = (slot + 1) & t->mask) {
		v = t->index[slot];
		if (!v) {
			site = site_append(t, slot, hash, frames, n);
			break;
		}
		if (alloc_site(t, v)->hash == hash) {
			site = v;
			break;
		}
	}
	alloc_spin_unlock(&t->lock);
	if (!site)
		__atomic_fetch_add(&t->hdr->sites_dropped, 1, __ATOMIC_RELAXED);
	return site;
}

/* ---- live pointers ---- */

static inline uint64_t ptr_hash(uint64_t p)
{
	uint64_t h = (p >> 4) * 0x9e3779b97f4a7c15ull;

	return h ^ (h >> 29);
}

/* A shard is picked by the 64 MiB of address space the block lies in
 * (glibc gives each thread's arena its own 64 MiB heaps) and then by the
 * pointer's hash: a thread's blocks mostly share shards with no other
 * thread's, so their locks and slots stay in that thread's cache instead
 * of moving between CPUs at every event.  The slot in the shard comes
 * from the hash's low bits, the sub-shard from its high bits. */
#define LIVE_SUB_BITS 3
#define LIVE_GROUP_SHIFT 26

static inline struct alloc_live_shard *shard_of(struct alloc_live *m, uint64_t ptr, uint64_t h)
{
	uint64_t g = ((ptr >> LIVE_GROUP_SHIFT) * 0x9e3779b97f4a7c15ull) >>
		     (64 - (__builtin_ctz(ALLOC_LIVE_SHARDS) - LIVE_SUB_BITS));

	return &m->shard[g << LIVE_SUB_BITS | h >> (64 - LIVE_SUB_BITS)];
}

void alloc_live_init(struct alloc_live *m, uint32_t slots_max)
{
	memset(m, 0, sizeof(*m));
	if (slots_max < LIVE_FIRST_SLOTS)
		slots_max = LIVE_FIRST_SLOTS;
	for (int i = 0; i < ALLOC_LIVE_SHARDS; i++)
		m->shard[i].cap_max = slots_max;
}

void alloc_live_free(struct alloc_live *m)
{
	for (int i = 0; i < ALLOC_LIVE_SHARDS; i++) {
		struct alloc_live_shard *s = &m->shard[i];

		if (s->v)
			munmap(s->v, (uint64_t)s->cap * sizeof(*s->v));
		s->v = NULL;
		s->n = s->cap = 0;
		s->lock = 0;
	}
}

/* A shard's lock: one exchange inline when free (nearly always: a shard
 * is mostly one thread's), the waiting out of line. */
static inline void shard_lock(int *l)
{
	if (likely(!__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE)))
		return;
	alloc_spin_lock(l);
}

static inline void shard_unlock(int *l)
{
	__atomic_store_n(l, 0, __ATOMIC_RELEASE);
}

/* Linear probing; entries are placed by the hash's low bits. */
static void slot_insert(struct alloc_live_entry *v, uint32_t mask, uint64_t ptr, uint64_t val)
{
	uint32_t i = (uint32_t)ptr_hash(ptr) & mask;

	while (v[i].ptr)
		i = (i + 1) & mask;
	v[i].ptr = ptr;
	v[i].val = val;
}

/* Doubles a shard (its lock held); -1 when it may not or cannot grow. */
static int shard_grow(struct alloc_live_shard *s)
{
	uint32_t ncap = s->cap ? s->cap * 2 : LIVE_FIRST_SLOTS;
	struct alloc_live_entry *nv;

	if (ncap > s->cap_max || ncap < s->cap)
		return -1;
	nv = map_zero((uint64_t)ncap * sizeof(*nv));
	if (!nv)
		return -1;
	for (uint32_t i = 0; i < s->cap; i++)
		if (s->v[i].ptr)
			slot_insert(nv, ncap - 1, s->v[i].ptr, s->v[i].val);
	if (s->v)
		munmap(s->v, (uint64_t)s->cap * sizeof(*s->v));
	s->v = nv;
	s->cap = ncap;
	return 0;
}

int alloc_live_put(struct alloc_live *m, uint64_t ptr, uint32_t site, uint64_t size,
		   struct alloc_live_entry *old)
{
	uint64_t h = ptr_hash(ptr), val;
	struct alloc_live_shard *s = shard_of(m, ptr, h);
	uint32_t i, mask;
	int rc = 0;

	if (!ptr || size > ALLOC_LIVE_SIZE_MAX || site >= (1u << ALLOC_LIVE_SITE_BITS))
		return -1;
	val = size << ALLOC_LIVE_SITE_BITS | site;
	shard_lock(&s->lock);
	/* load at most 3/4, so a probe ends within a few slots */
	if ((uint64_t)(s->n + 1) * 4 > (uint64_t)s->cap * 3 && shard_grow(s) < 0) {
		shard_unlock(&s->lock);
		return -1;
	}
	mask = s->cap - 1;
	for (i = (uint32_t)h & mask; s->v[i].ptr; i = (i + 1) & mask)
		if (s->v[i].ptr == ptr) {
			*old = s->v[i];
			s->v[i].val = val;
			rc = 1;
			goto out;
		}
	s->v[i].ptr = ptr;
	s->v[i].val = val;
	s->n++;
out:
	shard_unlock(&s->lock);
	return rc;
}

int alloc_live_take(struct alloc_live *m, uint64_t ptr, struct alloc_live_entry *out)
{
	uint64_t h = ptr_hash(ptr);
	struct alloc_live_shard *s = shard_of(m, ptr, h);
	uint32_t i, j, k, mask;

	shard_lock(&s->lock);
	if (!s->cap) {
		shard_unlock(&s->lock);
		return 0;
	}
	mask = s->cap - 1;
	for (i = (uint32_t)h & mask; s->v[i].ptr != ptr; i = (i + 1) & mask)
		if (!s->v[i].ptr) {
			shard_unlock(&s->lock);
			return 0;
		}
	*out = s->v[i];
	/* Backward-shift deletion: no tombstones, probes stay short. */
	for (j = i;;) {
		j = (j + 1) & mask;
		if (!s->v[j].ptr)
			break;
		k = (uint32_t)ptr_hash(s->v[j].ptr) & mask;
		/* move j to i unless its home k lies cyclically in (i, j] */
		if ((j > i && (k <= i || k > j)) || (j < i && (k <= i && k > j))) {
			s->v[i] = s->v[j];
			i = j;
		}
	}
	s->v[i].ptr = 0;
	s->v[i].val = 0;
	s->n--;
	shard_unlock(&s->lock);
	return 1;
}

uint64_t alloc_live_count(struct alloc_live *m)
{
	uint64_t n = 0;

	for (int i = 0; i < ALLOC_LIVE_SHARDS; i++)
		n += __atomic_load_n(&m->shard[i].n, __ATOMIC_RELAXED);
	return n;
}

uint64_t alloc_live_bytes(struct alloc_live *m)
{
	uint64_t b = 0;

	for (int i = 0; i < ALLOC_LIVE_SHARDS; i++)
		b += (uint64_t)__atomic_load_n(&m->shard[i].cap, __ATOMIC_RELAXED) * sizeof(struct alloc_live_entry);
	return b;
}

void alloc_live_lock_all(struct alloc_live *m)
{
	for (int i = 0; i < ALLOC_LIVE_SHARDS; i++)
		alloc_spin_lock(&m->shard[i].lock);
}

void alloc_live_unlock_all(struct alloc_live *m)
{
	for (int i = ALLOC_LIVE_SHARDS; i-- > 0;)
		alloc_spin_unlock(&m->shard[i].lock);
}
