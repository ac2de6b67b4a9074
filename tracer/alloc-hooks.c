/* alloc-hooks.c - the malloc family interposed: the fast paths, the tracked paths, and the bootstrap arena.
 *
 * The fast path of every hook is one load of alloc_hot.mode: 0 sends the
 * call straight to the real allocator; sampling, an allocation below the
 * thread's countdown only lowers it, and a free tells a sampled block by
 * its address (in the pool: see alloc-pool.c).  No lock, no hash table,
 * no frame: the fast paths end in tail calls.
 *
 * Every tracked path first checks the thread's re-entrancy guard:
 * anything sonda does inside a hook (unwinding, mmap of a table, the
 * flush's SQLite) reaches the real allocator directly, so nothing recurses
 * and no lock of ours is ever taken twice by one thread.  Until dlsym has
 * found the real functions, allocations (dlsym's own among them) come from
 * a small static arena whose blocks are never given to the real free.
 *
 * Ordering: a block enters the live map after the real allocator returned
 * it and leaves it before the real free gets it back, so another thread
 * that receives the same address next never meets a stale entry.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tracer/internal.h"

#define ARENA_BYTES (256 * 1024)

HIDDEN struct alloc_hot alloc_hot = { .mode = ALLOC_BOOT };
#define hot alloc_hot
#define T alloc_t

static int (*real_posix_memalign)(void **, size_t, size_t);
static void *(*real_aligned_alloc)(size_t, size_t);
static void *(*real_memalign)(size_t, size_t);
static void *(*real_valloc)(size_t);
static void *(*real_pvalloc)(size_t);
static size_t (*real_malloc_usable_size)(void *);

/* ---- bootstrap arena: 16-byte headers holding the size, bump allocation ---- */

static unsigned char arena[ARENA_BYTES] __attribute__((aligned(64)));
static size_t arena_used;

/* One compare; NULL is not the arena's. */
NOASAN static inline int arena_owns(const void *p)
{
	return (uintptr_t)p - (uintptr_t)arena < ARENA_BYTES;
}

NOASAN static void *arena_alloc(size_t n, size_t align)
{
	size_t start, old;

	if (align < 16)
		align = 16;
	if (n > ARENA_BYTES || align > 4096)
		return NULL;
	old = __atomic_load_n(&arena_used, __ATOMIC_RELAXED);
	do {
		start = (old + 16 + align - 1) & ~(align - 1);
		if (start + n > ARENA_BYTES) {
			errno = ENOMEM;
			return NULL;
		}
	} while (!__atomic_compare_exchange_n(&arena_used, &old, start + n, 0, __ATOMIC_RELAXED,
					      __ATOMIC_RELAXED));
	*(size_t *)(arena + start - 16) = n;
	return arena + start;
}

NOASAN static size_t arena_size(const void *p)
{
	return *(const size_t *)((const unsigned char *)p - 16);
}

/* ---- the real functions ---- */

static int resolving;

/* 0 once every real function is known, -1 while dlsym itself is running. */
NOASAN HIDDEN int alloc_resolve(void)
{
	if (!(__atomic_load_n(&hot.mode, __ATOMIC_ACQUIRE) & ALLOC_BOOT))
		return 0;
	if (__atomic_exchange_n(&resolving, 1, __ATOMIC_ACQUIRE))
		return -1;
	hot.malloc = dlsym(RTLD_NEXT, "malloc");
	hot.calloc = dlsym(RTLD_NEXT, "calloc");
	hot.realloc = dlsym(RTLD_NEXT, "realloc");
	hot.free = dlsym(RTLD_NEXT, "free");
	real_posix_memalign = dlsym(RTLD_NEXT, "posix_memalign");
	real_aligned_alloc = dlsym(RTLD_NEXT, "aligned_alloc");
	real_memalign = dlsym(RTLD_NEXT, "memalign");
	real_valloc = dlsym(RTLD_NEXT, "valloc");
	real_pvalloc = dlsym(RTLD_NEXT, "pvalloc");
	real_malloc_usable_size = dlsym(RTLD_NEXT, "malloc_usable_size");
	if (!hot.free || !hot.malloc || !hot.calloc || !hot.realloc) {
		__atomic_store_n(&resolving, 0, __ATOMIC_RELEASE);
		return -1;
	}
	__atomic_fetch_and(&hot.mode, ~ALLOC_BOOT, __ATOMIC_RELEASE);
	__atomic_store_n(&resolving, 0, __ATOMIC_RELEASE);
	return 0;
}

/* ---- tracked paths (guard set by enter, cleared by leave) ---- */

/* Whether this call must be tracked; sets the guard when it must. */
NOASAN static inline int enter(void)
{
	int m = __atomic_load_n(&hot.mode, __ATOMIC_RELAXED);

	if (T.guard)
		return 0;
	if (!(m & ALLOC_ON)) {
		if (unlikely(m & ALLOC_PENDING))	/* a signal after tracking stopped */
			__atomic_fetch_and(&hot.mode, ~ALLOC_PENDING, __ATOMIC_RELAXED);
		return 0;
	}
	T.guard = 1;
	if (unlikely(m & ALLOC_PENDING))
		alloc_snap_pending();
	return 1;
}

NOASAN static inline void leave(int e)
{
	T.guard = 0;
	errno = e;
}

static inline int sampling(void)
{
	return alloc_hot.mode & ALLOC_SAMPLE;
}

/* An allocation this call records: from the pool when sampling (NULL
 * there: not sampled after all, *due cleared), else from the allocator. */
static void *get_due(int *due, size_t n, size_t align, int zero)
{
	void *p;

	if (!*due || !sampling())
		return NULL;
	/* an alignment the allocator refuses or rounds: its call, not sampled */
	p = !align || (align & (align - 1)) || align % sizeof(void *) ? NULL : alloc_pool_get(n, align, zero);
	if (!p)
		*due = 0;
	return p;
}

/* The tracked paths are out of line and reached by tail calls, so the
 * frame below theirs is the caller's, as a frame-pointer walk needs.
 * They also resolve the real functions, before a sanitizer is ready:
 * not instrumented (what they call once tracking is on may be). */
NOASAN static __attribute__((noinline)) void *malloc_slow(size_t n)
{
	void *p;
	int e, due;

	if (unlikely(alloc_resolve() < 0))
		return arena_alloc(n, 16);
	if (!enter())
		return hot.malloc(n);
	due = alloc_due(n);
	p = get_due(&due, n, 16, 0);
	if (!p)
		p = hot.malloc(n);
	e = errno;
	if (!p)
		alloc_count_failed();
	else if (due)
		alloc_track(p, n);
	leave(e);
	return p;
}

NOASAN static __attribute__((noinline)) void *calloc_slow(size_t k, size_t n)
{
	void *p = NULL;
	size_t b;
	int e, due;

	if (unlikely(alloc_resolve() < 0)) {
		if (__builtin_mul_overflow(k, n, &b))
			return NULL;
		return arena_alloc(b, 16);	/* static memory: already zero */
	}
	if (!enter())
		return hot.calloc(k, n);
	due = !__builtin_mul_overflow(k, n, &b) && alloc_due(b);
	p = get_due(&due, b, 16, 1);
	if (!p)
		p = hot.calloc(k, n);
	e = errno;
	if (!p)
		alloc_count_failed();
	else if (due)
		alloc_track(p, b);
	leave(e);
	return p;
}

/* A pool block goes back to the pool only when it was live: a second
 * free of it, which the allocator would have caught, is ignored. */
static void free_block(void *p, int had)
{
	if (!alloc_pool_owns(p))
		hot.free(p);
	else if (had)
		alloc_pool_put(p);
}

NOASAN static __attribute__((noinline)) void free_slow(void *p)
{
	struct alloc_live_entry e;
	int err, had;

	if (!p || unlikely(alloc_resolve() < 0))
		return;	/* not ours, not the allocator's yet: leave it */
	if (!enter()) {
		free_block(p, 1);
		return;
	}
	err = errno;
	had = alloc_untrack(p, &e);
	if (had)
		alloc_charge_free(&e);
	free_block(p, had || !sampling());
	leave(err);
}

/* realloc of a pool block: moved out by the public malloc and free, so
 * the new block is sampled or not like any other (n = 0 frees it). */
static void *realloc_pooled(void *p, size_t n)
{
	size_t old = alloc_pool_size(p);
	void *q = NULL;

	if (n) {
		q = malloc(n);
		if (!q)
			return NULL;
		memcpy(q, p, old < n ? old : n);
	}
	free(p);
	return q;
}

/* A sampled realloc's new block takes the old one's bytes; the old one
 * (the allocator's) goes back to the allocator. */
static void move_into(void *q, void *p, size_t n)
{
	size_t old;

	if (!p)
		return;
	old = real_malloc_usable_size(p);
	memcpy(q, p, old < n ? old : n);
	hot.free(p);
}

/* realloc is the free of the old block (at its own site) and an
 * allocation of the new size at the caller's site. */
static void *realloc_tracked(void *p, size_t n)
{
	struct alloc_live_entry e;
	int had = 0, err, due;
	void *q;

	if (p)
		had = alloc_untrack(p, &e);
	due = n && alloc_due(n);
	q = get_due(&due, n, 16, 0);
	if (q)
		move_into(q, p, n);
	else
		q = hot.realloc(p, n);
	err = errno;
	if (!q && n && p) {
		if (had)	/* failed: the old block is intact, put it back */
			alloc_retrack(p, &e);
		alloc_count_failed();
	} else {
		if (had)
			alloc_charge_free(&e);
		if (q && due)
			alloc_track(q, n);
		else if (!q && n)
			alloc_count_failed();
	}
	errno = err;
	return q;
}

NOASAN static __attribute__((noinline)) void *realloc_slow(void *p, size_t n)
{
	void *q;

	if (unlikely(alloc_resolve() < 0))
		return p ? NULL : arena_alloc(n, 16);
	if (alloc_pool_owns(p))
		return realloc_pooled(p, n);
	if (!enter())
		return hot.realloc(p, n);
	q = realloc_tracked(p, n);
	leave(errno);
	return q;
}

NOASAN static __attribute__((noinline, cold)) void *realloc_arena(void *p, size_t n)
{
	size_t old = arena_size(p);
	void *q;

	if (!n)
		return NULL;
	q = malloc(n);
	if (q)
		memcpy(q, p, old < n ? old : n);
	return q;
}

/* ---- the interposed functions ---- */

NOASAN void *malloc(size_t n)
{
	int m = hot.mode;

	if (likely(m == 0))
		return hot.malloc(n);
	if (m == ALLOC_SAMPLING && n < T.until) {
		T.until -= n;
		return hot.malloc(n);
	}
	return malloc_slow(n);
}

NOASAN void *calloc(size_t k, size_t n)
{
	int m = hot.mode;
	size_t b;

	if (likely(m == 0))
		return hot.calloc(k, n);
	if (m == ALLOC_SAMPLING && !__builtin_mul_overflow(k, n, &b) && b < T.until) {
		T.until -= b;
		return hot.calloc(k, n);
	}
	return calloc_slow(k, n);
}

NOASAN void free(void *p)
{
	int m = hot.mode;

	if (unlikely(arena_owns(p)))
		return;
	if ((likely(m == 0) || m == ALLOC_SAMPLING) && likely(!alloc_pool_owns(p)))
		return hot.free(p);
	free_slow(p);
}

NOASAN void *realloc(void *p, size_t n)
{
	int m = hot.mode;

	if (unlikely(arena_owns(p)))
		return realloc_arena(p, n);
	if (likely(m == 0) && likely(!alloc_pool_owns(p)))
		return hot.realloc(p, n);
	if (m == ALLOC_SAMPLING && n < T.until && !alloc_pool_owns(p)) {
		T.until -= n;
		return hot.realloc(p, n);
	}
	return realloc_slow(p, n);
}

NOASAN void *reallocarray(void *p, size_t k, size_t n)
{
	size_t b;

	if (__builtin_mul_overflow(k, n, &b)) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(p, b);
}

/* The rare aligned family is tracked in line: its frame stays below the
 * tracker's, and its return address (in libsonda) is skipped.  `due`
 * says the call is recorded (a sampled one from the pool). */
NOASAN int posix_memalign(void **out, size_t align, size_t n)
{
	int rc = 0, e, due;

	if (unlikely(alloc_resolve() < 0)) {
		void *p = arena_alloc(n, align);

		if (!p)
			return ENOMEM;
		*out = p;
		return 0;
	}
	if (!enter())
		return real_posix_memalign(out, align, n);
	e = errno;
	due = alloc_due(n);
	*out = get_due(&due, n, align, 0);
	if (!*out)
		rc = real_posix_memalign(out, align, n);
	if (rc != 0)
		alloc_count_failed();
	else if (due)
		alloc_track(*out, n);
	leave(e);
	return rc;
}

#define ALIGNED_HOOK(name, params, args, size, align, boot)            \
	NOASAN void *name params                                        \
	{                                                               \
		void *p;                                                \
		int e, due;                                             \
		if (unlikely(alloc_resolve() < 0))                      \
			return boot;                                    \
		if (!enter())                                           \
			return real_##name args;                        \
		due = alloc_due(size);                                  \
		p = get_due(&due, size, align, 0);                      \
		if (!p)                                                 \
			p = real_##name args;                           \
		e = errno;                                              \
		if (!p)                                                 \
			alloc_count_failed();                           \
		else if (due)                                           \
			alloc_track(p, size);                           \
		leave(e);                                               \
		return p;                                               \
	}

ALIGNED_HOOK(aligned_alloc, (size_t align, size_t n), (align, n), n, align, arena_alloc(n, align))
ALIGNED_HOOK(memalign, (size_t align, size_t n), (align, n), n, align, arena_alloc(n, align))
ALIGNED_HOOK(valloc, (size_t n), (n), n, 4096, arena_alloc(n, 4096))
ALIGNED_HOOK(pvalloc, (size_t n), (n), (n + 4095) & ~(size_t)4095, 4096, arena_alloc(n, 4096))

NOASAN size_t malloc_usable_size(void *p)
{
	if (!p)
		return 0;
	if (arena_owns(p))
		return arena_size(p);
	if (alloc_pool_owns(p))
		return alloc_pool_size(p);
	if (unlikely(alloc_resolve() < 0))
		return 0;
	return real_malloc_usable_size(p);
}
