/* alloc-pool.c - where sampled blocks live: a reserved range of our own, so a free tells them by address and the allocator never reuses one.
 *
 * Sampling must know, at every free, whether the block was sampled.  A
 * table look-up per free is what sampling is meant to avoid, and a mark
 * in the block's address (page alignment) leaks into the blocks the
 * allocator later carves from the same memory.  Sampled blocks are rare
 * (one per BYTES allocated on average), so they get their own memory: one
 * reserved range, sparse, with no header in the blocks.  Up to 64 KiB a
 * block comes from a size class (16 B to 64 KiB, powers of two, aligned to
 * their size) carved from 64 KiB chunks; above, from a run of whole chunks
 * whose pages go back to the system when it is freed.  A table of one
 * byte per chunk (and a chunk count for runs) gives a block's size.
 *
 * Every call holds the pool's lock; none allocates.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "tracer/internal.h"

#define CHUNK_SHIFT 16
#define CHUNK ((uint64_t)1 << CHUNK_SHIFT)
#define CLASSES 13		/* class k: 16 << k bytes, up to 64 KiB */
#define KIND_FREE 0		/* chunk not carved yet, or a run's inner chunk */
#define KIND_RUN 0xff		/* first chunk of a run of whole chunks */
#define RUNS_FREE_MAX 4096

struct run {
	uint64_t chunk, n;
};

static struct {
	int lock;
	unsigned char *base;
	uint64_t chunks, carved;	/* chunks reserved, chunks handed out */
	uint8_t *kind;		/* per chunk: class + 1, KIND_RUN or KIND_FREE */
	uint32_t *run_len;	/* per run's first chunk: its chunks */
	void *free_small[CLASSES];	/* freed blocks, linked through their first word */
	struct run free_runs[RUNS_FREE_MAX];
	uint32_t nfree_runs;
} P;

static void *map_sparse(uint64_t bytes)
{
	void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	return m == MAP_FAILED ? NULL : m;
}

/* Reserves the range (its pages cost nothing until used); 0 or -1. */
HIDDEN int alloc_pool_init(uint64_t bytes)
{
	unsigned char *m;

	if (P.base)
		return 0;
	for (; bytes >= 64 * CHUNK; bytes /= 4) {
		m = map_sparse(bytes + CHUNK);
		if (!m)
			continue;
		P.chunks = bytes >> CHUNK_SHIFT;
		P.kind = map_sparse(P.chunks);
		P.run_len = map_sparse(P.chunks * sizeof(*P.run_len));
		if (!P.kind || !P.run_len) {
			munmap(m, bytes + CHUNK);
			return -1;
		}
		P.base = (unsigned char *)(((uintptr_t)m + CHUNK - 1) & ~(uintptr_t)(CHUNK - 1));
		alloc_hot.pool_lo = (uintptr_t)P.base;
		__atomic_store_n(&alloc_hot.pool_len, bytes, __ATOMIC_RELEASE);
		return 0;
	}
	return -1;
}

static int class_of(size_t n, size_t align)
{
	size_t need = n > align ? n : align;
	int k = 0;

	while (((size_t)16 << k) < need)
		k++;
	return k;
}

static uint64_t chunks_take(uint64_t n)
{
	uint64_t c;

	if (P.carved + n > P.chunks)
		return UINT64_MAX;
	c = P.carved;
	P.carved += n;
	return c;
}

/* A freed run of at least n chunks (first fit, the rest kept), or new ones. */
static uint64_t run_take(uint64_t n)
{
	for (uint32_t i = 0; i < P.nfree_runs; i++) {
		struct run *r = &P.free_runs[i];
		uint64_t c = r->chunk;

		if (r->n < n)
			continue;
		r->chunk += n;
		r->n -= n;
		if (!r->n)
			*r = P.free_runs[--P.nfree_runs];
		return c;
	}
	return chunks_take(n);
}

static void *small_take(int k)
{
	size_t size = (size_t)16 << k;
	unsigned char *c;
	uint64_t chunk;
	void *p;

	if (!P.free_small[k]) {
		chunk = chunks_take(1);
		if (chunk == UINT64_MAX)
			return NULL;
		P.kind[chunk] = (uint8_t)(k + 1);
		c = P.base + (chunk << CHUNK_SHIFT);
		for (size_t off = CHUNK - size;; off -= size) {
			*(void **)(c + off) = P.free_small[k];
			P.free_small[k] = c + off;
			if (!off)
				break;
		}
	}
	p = P.free_small[k];
	P.free_small[k] = *(void **)p;
	return p;
}

/* A block of n bytes aligned to align (a power of two), or NULL when the
 * pool cannot hold it (the caller does not sample it then). */
HIDDEN void *alloc_pool_get(size_t n, size_t align, int zero)
{
	void *p = NULL;
	uint64_t c, runs;

	if (!P.base || align > CHUNK || n > (P.chunks << CHUNK_SHIFT))
		return NULL;
	alloc_spin_lock(&P.lock);
	if (n <= CHUNK) {
		p = small_take(class_of(n, align));
		if (p && zero)
			memset(p, 0, n);
	} else {
		runs = (n + CHUNK - 1) >> CHUNK_SHIFT;
		c = run_take(runs ? runs : 1);
		if (c != UINT64_MAX) {
			P.kind[c] = KIND_RUN;
			P.run_len[c] = (uint32_t)(runs ? runs : 1);
			p = P.base + (c << CHUNK_SHIFT);	/* zero: new, or given back */
		}
	}
	alloc_spin_unlock(&P.lock);
	return p;
}

/* The usable size of a pool block. */
HIDDEN size_t alloc_pool_size(const void *p)
{
	uint64_t c = ((uintptr_t)p - (uintptr_t)P.base) >> CHUNK_SHIFT;
	uint8_t k = __atomic_load_n(&P.kind[c], __ATOMIC_RELAXED);

	if (k == KIND_RUN)
		return (size_t)P.run_len[c] << CHUNK_SHIFT;
	return k ? (size_t)16 << (k - 1) : 0;
}

/* A run's pages go back to the system; it is kept for reuse while the
 * list has room (past that its address range is not reused). */
static void run_put(uint64_t c)
{
	uint64_t n = P.run_len[c];

	madvise(P.base + (c << CHUNK_SHIFT), n << CHUNK_SHIFT, MADV_DONTNEED);
	P.kind[c] = KIND_FREE;
	if (P.nfree_runs < RUNS_FREE_MAX)
		P.free_runs[P.nfree_runs++] = (struct run){ c, n };
}

HIDDEN void alloc_pool_put(void *p)
{
	uint64_t c = ((uintptr_t)p - (uintptr_t)P.base) >> CHUNK_SHIFT;
	uint8_t k;

	alloc_spin_lock(&P.lock);
	k = P.kind[c];
	if (k == KIND_RUN && p == P.base + (c << CHUNK_SHIFT)) {
		run_put(c);
	} else if (k && k != KIND_RUN) {
		*(void **)p = P.free_small[k - 1];
		P.free_small[k - 1] = p;
	}
	/* else: not a block of ours (a double free), ignored */
	alloc_spin_unlock(&P.lock);
}

/* Fork: the child keeps the pool (its blocks are the parent's copies). */
HIDDEN void alloc_pool_lock(void)
{
	alloc_spin_lock(&P.lock);
}

HIDDEN void alloc_pool_unlock(void)
{
	alloc_spin_unlock(&P.lock);
}

HIDDEN void alloc_pool_reset_lock(void)
{
	P.lock = 0;
}
