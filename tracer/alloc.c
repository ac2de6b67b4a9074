/* alloc.c - allocation tracking in libsonda: the malloc family interposed, stacks, sampling, snapshots.
 *
 * Every entry point first checks the thread's re-entrancy guard (TLS,
 * initial-exec): anything sonda does inside a hook (unwinding, mmap of a
 * table, the flush's SQLite) reaches the real allocator directly, so
 * nothing recurses and no lock of ours is ever taken twice by one thread.
 * Until dlsym has found the real functions, allocations (dlsym's own
 * among them) come from a small static arena whose blocks are never given
 * to the real free.
 *
 * Ordering: a block enters the live map after the real allocator returned
 * it and leaves it before the real free gets it back, so another thread
 * that receives the same address next never meets a stale entry.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "tracer/alloc-table.h"
#include "tracer/region.h"
#include "tracer/sonda.h"

#define TLS_IE __attribute__((tls_model("initial-exec")))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define HIDDEN __attribute__((visibility("hidden")))
/* In a sanitizer build the entry points run before ASan has initialized
 * (its own start-up calls free); only code reached once tracking is on,
 * after every constructor before ours, is instrumented. */
#define NOASAN __attribute__((no_sanitize_address))

#define ARENA_BYTES (256 * 1024)
#define LIVE_SLOTS_MAX (1u << 22)	/* per shard: 256 * 4M * 16 B bounds the map at 16 GiB */
#define FILTER_SLOTS (1u << 12)		/* sampling: "maybe sampled" counters, 4 KiB: stays in L1 */
#define SELF_SKIP_MAX 8

enum { UNWIND_FP = 1, UNWIND_LIBUNWIND = 2 };

/* ---- the real allocator ---- */

/* What every hook reads, in one cache line that only start, stop and
 * SIGUSR2 write. */
static struct {
	int on;			/* tracking */
	int mean_on;		/* sampling */
	volatile sig_atomic_t snap_pending;	/* SIGUSR2 seen */
	void *(*malloc)(size_t);
	void *(*calloc)(size_t, size_t);
	void *(*realloc)(void *, size_t);
	void (*free)(void *);
} hot __attribute__((aligned(64)));
#define real_malloc hot.malloc
#define real_calloc hot.calloc
#define real_realloc hot.realloc
#define real_free hot.free
static int (*real_posix_memalign)(void **, size_t, size_t);
static void *(*real_aligned_alloc)(size_t, size_t);
static void *(*real_memalign)(size_t, size_t);
static void *(*real_valloc)(size_t);
static void *(*real_pvalloc)(size_t);
static size_t (*real_malloc_usable_size)(void *);

/* Bootstrap arena: 16-byte headers holding the size, bump allocation. */
static unsigned char arena[ARENA_BYTES] __attribute__((aligned(64)));
static size_t arena_used;

NOASAN static int arena_owns(const void *p)
{
	return (const unsigned char *)p >= arena && (const unsigned char *)p < arena + ARENA_BYTES;
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

static int resolving;

/* 0 once every real function is known, -1 while dlsym itself is running. */
NOASAN static int resolve(void)
{
	if (real_free)
		return 0;
	if (__atomic_exchange_n(&resolving, 1, __ATOMIC_ACQUIRE))
		return -1;
	real_malloc = dlsym(RTLD_NEXT, "malloc");
	real_calloc = dlsym(RTLD_NEXT, "calloc");
	real_realloc = dlsym(RTLD_NEXT, "realloc");
	real_posix_memalign = dlsym(RTLD_NEXT, "posix_memalign");
	real_aligned_alloc = dlsym(RTLD_NEXT, "aligned_alloc");
	real_memalign = dlsym(RTLD_NEXT, "memalign");
	real_valloc = dlsym(RTLD_NEXT, "valloc");
	real_pvalloc = dlsym(RTLD_NEXT, "pvalloc");
	real_malloc_usable_size = dlsym(RTLD_NEXT, "malloc_usable_size");
	__atomic_store_n(&real_free, (void (*)(void *))dlsym(RTLD_NEXT, "free"), __ATOMIC_RELEASE);
	__atomic_store_n(&resolving, 0, __ATOMIC_RELEASE);
	return real_free && real_malloc && real_calloc && real_realloc ? 0 : -1;
}

/* ---- state ---- */

static struct {
	int unwinder;
	uint32_t nframes;
	uint64_t mean;
	double inv_mean;
	int64_t mono0;
	int attached;
	struct sonda_alloc_header *hdr;
	unsigned char *snaps;
	struct alloc_sites sites;
	uint64_t self_lo, self_hi;	/* libsonda's code: frames there are skipped */
	int snap_lock;
	unsigned sigusr2_count;
} A;

static struct alloc_live live;
/* Sampling: how many sampled blocks live per pointer-hash slot, so the
 * free of an unsampled block costs one load.  A counter that reaches 255
 * stays there (its slot then always takes the map's slow path). */
static uint8_t filter[FILTER_SLOTS] __attribute__((aligned(64)));

struct tls {
	int guard;
	int ready;
	uint64_t until;		/* sampling: bytes before the next sample point */
	uint64_t rng;
	uint64_t stack_lo, stack_hi;	/* frame-pointer walks stay inside */
};
static __thread struct tls T TLS_IE;

/* ---- stacks ---- */

static void stack_bounds(void)
{
	pthread_attr_t at;
	void *addr;
	size_t size;

	T.stack_lo = T.stack_hi = 0;
	if (pthread_getattr_np(pthread_self(), &at) != 0)
		return;
	if (pthread_attr_getstack(&at, &addr, &size) == 0) {
		T.stack_lo = (uint64_t)(uintptr_t)addr;
		T.stack_hi = T.stack_lo + size;
	}
	pthread_attr_destroy(&at);
}

/* Frame-pointer walk, bounded by the thread's stack: code built without
 * frame pointers ends the walk early, never reads outside the stack. */
static int walk_fp(uint64_t *out, int max)
{
	const uint64_t *fp = __builtin_frame_address(0);
	int n = 0;

	if (unlikely(!T.stack_hi))
		return 0;
	while (n < max) {
		uint64_t f = (uint64_t)(uintptr_t)fp, next, ret;

		if ((f & 7) || f < T.stack_lo || f + 16 > T.stack_hi)
			break;
		next = fp[0];
		ret = fp[1];
		if (!ret)
			break;
		out[n++] = ret;
		if (next <= f)
			break;
		fp = (const uint64_t *)(uintptr_t)next;
	}
	return n;
}

/* The stack of the code that called the allocator, innermost first,
 * libsonda's own frames left out. */
static inline __attribute__((always_inline)) uint32_t capture(uint64_t *out)
{
	uint64_t buf[SONDA_ALLOC_FRAMES_MAX + SELF_SKIP_MAX];
	int max = (int)A.nframes + SELF_SKIP_MAX, n, skip = 0;

	if (A.unwinder == UNWIND_FP)
		n = walk_fp(buf, max);
	else
		n = unw_backtrace((void **)buf, max);
	while (skip < n && skip < SELF_SKIP_MAX && buf[skip] >= A.self_lo && buf[skip] < A.self_hi)
		skip++;
	n -= skip;
	if (n > (int)A.nframes)
		n = (int)A.nframes;
	if (n < 0)
		n = 0;
	memcpy(out, buf + skip, 8u * (unsigned)n);
	return (uint32_t)n;
}

static int self_range(struct dl_phdr_info *info, size_t size, void *arg)
{
	uint64_t me = (uint64_t)(uintptr_t)arg;

	(void)size;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uint64_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;

		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X) && me >= lo && me < hi) {
			A.self_lo = lo;
			A.self_hi = hi;
			return 1;
		}
	}
	return 0;
}

/* ---- sampling ---- */

static uint64_t rng_next(void)
{
	uint64_t x = T.rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	T.rng = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* Bytes to the next sample point: exponential with the given mean, so
 * sample points form a Poisson process over allocated bytes. */
static uint64_t sample_gap(void)
{
	double u = ((double)(rng_next() >> 11) + 0.5) * (1.0 / 9007199254740992.0);
	double d = -log(u) * (double)A.mean;

	return d < 1 ? 1 : d > 1e18 ? (uint64_t)1e18 : (uint64_t)d;
}

/* An allocation of n bytes is sampled with probability 1 - exp(-n/mean);
 * counting it as 1/p allocations and n/p bytes keeps the sums unbiased. */
static void sample_weight(uint64_t n, uint64_t *count, uint64_t *bytes)
{
	double p;

	if (!hot.mean_on) {
		*count = 1;
		*bytes = n;
		return;
	}
	p = -expm1(-(double)n * A.inv_mean);
	if (p <= 0) {
		*count = *bytes = 0;
		return;
	}
	*count = (uint64_t)llround((double)(1u << SONDA_ALLOC_SAMPLE_SHIFT) / p);
	*bytes = (uint64_t)llround((double)n / p);
}

static void thread_ready(void)
{
	T.ready = 1;
	T.rng = ((uint64_t)syscall(SYS_gettid) * 0x9e3779b97f4a7c15ull) ^ (uint64_t)(uintptr_t)&T ^
		(uint64_t)time(NULL);
	if (!T.rng)
		T.rng = 1;
	if (hot.mean_on)
		T.until = sample_gap();
	if (A.unwinder == UNWIND_FP)
		stack_bounds();
}

NOASAN static inline uint32_t filter_slot(uint64_t p)
{
	uint64_t h = (p >> 4) * 0x9e3779b97f4a7c15ull;

	return (uint32_t)(h >> 40) & (FILTER_SLOTS - 1);
}

static void filter_add(uint64_t p, int d)
{
	uint8_t *c = &filter[filter_slot(p)], v = __atomic_load_n(c, __ATOMIC_RELAXED);

	while (v != 255 && !(d < 0 && v == 0) &&
	       !__atomic_compare_exchange_n(c, &v, (uint8_t)(v + d), 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

/* ---- snapshots ---- */

static int64_t mono_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Appends a record of every site allocated from; -1 when the area is full. */
static int snap_take(const char *label)
{
	struct sonda_alloc_header *h = A.hdr;
	struct sonda_alloc_snap *r;
	struct sonda_alloc_snap_site *ss;
	uint32_t used, n = 0;
	uint64_t at, need;
	int rc = 0;

	alloc_spin_lock(&A.snap_lock);
	used = __atomic_load_n(&h->sites_used, __ATOMIC_ACQUIRE);
	at = h->snaps_used;
	need = sizeof(*r) + (uint64_t)used * sizeof(*ss);
	if (at + need > h->snaps_size) {
		__atomic_fetch_add(&h->snaps_dropped, 1, __ATOMIC_RELAXED);
		rc = -1;
		goto out;
	}
	r = (struct sonda_alloc_snap *)(A.snaps + at);
	ss = (struct sonda_alloc_snap_site *)(r + 1);
	memset(r, 0, sizeof(*r));
	strncpy(r->label, label && *label ? label : "?", sizeof(r->label) - 1);
	r->time_ns = mono_now() - A.mono0;
	r->live_bytes = __atomic_load_n(&h->live_bytes, __ATOMIC_RELAXED);
	r->peak_bytes = __atomic_load_n(&h->peak_bytes, __ATOMIC_RELAXED);
	for (uint32_t i = 0; i < used; i++) {
		const struct sonda_alloc_site *s = alloc_site(&A.sites, i);
		uint64_t allocs = __atomic_load_n(&s->allocs, __ATOMIC_RELAXED);

		if (!allocs)
			continue;
		ss[n].site = i;
		ss[n].reserved = 0;
		ss[n].allocs = allocs;
		ss[n].bytes = __atomic_load_n(&s->bytes, __ATOMIC_RELAXED);
		ss[n].live_count = allocs - __atomic_load_n(&s->frees, __ATOMIC_RELAXED);
		ss[n].live_bytes = __atomic_load_n(&s->live_bytes, __ATOMIC_RELAXED);
		n++;
	}
	r->nsites = n;
	h->snaps_count++;
	__atomic_store_n(&h->snaps_used, at + sizeof(*r) + (uint64_t)n * sizeof(*ss), __ATOMIC_RELEASE);
out:
	alloc_spin_unlock(&A.snap_lock);
	return rc;
}

static void snap_signalled(void)
{
	char label[32];
	unsigned k;

	hot.snap_pending = 0;
	k = __atomic_add_fetch(&A.sigusr2_count, 1, __ATOMIC_RELAXED);
	/* a hand-rolled "sigusr2-N": snprintf may allocate */
	memcpy(label, "sigusr2-", 8);
	{
		char d[12];
		int m = 0;

		do
			d[m++] = (char)('0' + k % 10);
		while ((k /= 10) && m < 11);
		for (int i = 0; i < m; i++)
			label[8 + i] = d[m - 1 - i];
		label[8 + m] = 0;
	}
	snap_take(label);
}

static void on_sigusr2(int sig)
{
	(void)sig;
	hot.snap_pending = 1;
}

/* ---- accounting (guard held) ---- */

static void charge_free(const struct alloc_live_entry *e)
{
	uint64_t count, bytes;

	sample_weight(alloc_live_size(e), &count, &bytes);
	alloc_site_sub(&A.sites, alloc_live_site(e), count, bytes);
}

static void track_alloc(void *p, size_t n)
{
	uint64_t frames[SONDA_ALLOC_FRAMES_MAX], count, bytes;
	struct alloc_live_entry old;
	uint32_t nf, site;
	int rc;

	if (unlikely(!T.ready))
		thread_ready();
	if (unlikely(hot.snap_pending))
		snap_signalled();
	if (hot.mean_on) {
		if (n < T.until) {
			T.until -= n;
			return;
		}
		T.until = sample_gap();
	}
	sample_weight(n, &count, &bytes);
	nf = capture(frames);
	site = alloc_site_find(&A.sites, alloc_stack_hash(frames, nf), frames, nf);
	rc = alloc_live_put(&live, (uint64_t)(uintptr_t)p, site, n, &old);
	if (rc == 1) {
		/* the block was freed where we could not see it */
		__atomic_fetch_add(&A.hdr->frees_unseen, 1, __ATOMIC_RELAXED);
		charge_free(&old);
	} else if (rc < 0) {
		__atomic_fetch_add(&A.hdr->live_dropped, 1, __ATOMIC_RELAXED);
	}
	if (hot.mean_on && rc == 0)
		filter_add((uint64_t)(uintptr_t)p, 1);
	alloc_site_add(&A.sites, site, count, bytes);
}

/* Forgets p (before the real free sees it); 1 when it was tracked. */
static int untrack(void *p, struct alloc_live_entry *e)
{
	uint64_t u = (uint64_t)(uintptr_t)p;

	if (unlikely(hot.snap_pending))
		snap_signalled();
	if (hot.mean_on && !__atomic_load_n(&filter[filter_slot(u)], __ATOMIC_RELAXED))
		return 0;
	if (!alloc_live_take(&live, u, e)) {
		if (!hot.mean_on)
			__atomic_fetch_add(&A.hdr->frees_unknown, 1, __ATOMIC_RELAXED);
		return 0;
	}
	if (hot.mean_on)
		filter_add(u, -1);
	return 1;
}

static void failed(void)
{
	if (A.hdr)
		__atomic_fetch_add(&A.hdr->failed, 1, __ATOMIC_RELAXED);
}

/* ---- the interposed functions ---- */


/* Whether this call must be tracked; sets the guard when it must. */
NOASAN static inline int enter(void)
{
	if (likely(!hot.on) || T.guard)
		return 0;
	T.guard = 1;
	return 1;
}

NOASAN static inline void leave(int e)
{
	T.guard = 0;
	errno = e;
}

/* Sampling: most allocations are decided here, before the guard.  A
 * thread's `until` is 0 until its first tracked event draws it, so a new
 * thread always takes the tracked path first.  Under the guard (sonda's
 * own allocations) this may count a few bytes: harmless. */
NOASAN static inline int skip_sampled(size_t n)
{
	if (hot.mean_on && n < T.until && !hot.snap_pending) {
		T.until -= n;
		return 1;
	}
	return 0;
}

/* The tracked paths, out of line: the entry points keep no registers
 * and jump to them or to the real allocator (a tail call, so the frame
 * below a tracked path's is the caller's, as a frame-pointer walk needs). */
static __attribute__((noinline)) void *malloc_slow(size_t n)
{
	void *p;
	int e;

	if (!enter())
		return real_malloc(n);
	p = real_malloc(n);
	e = errno;
	if (p)
		track_alloc(p, n);
	else
		failed();
	leave(e);
	return p;
}

static __attribute__((noinline)) void *calloc_slow(size_t k, size_t n)
{
	void *p;
	int e;

	if (!enter())
		return real_calloc(k, n);
	p = real_calloc(k, n);
	e = errno;
	if (p)
		track_alloc(p, k * n);
	else
		failed();
	leave(e);
	return p;
}

static __attribute__((noinline)) void free_slow(void *p)
{
	struct alloc_live_entry e;
	int err;

	if (!enter()) {
		real_free(p);
		return;
	}
	err = errno;
	if (untrack(p, &e))
		charge_free(&e);
	real_free(p);
	leave(err);
}

/* realloc is the free of the old block (at its own site) and an
 * allocation of the new size at the caller's site. */
static void *realloc_tracked(void *p, size_t n)
{
	struct alloc_live_entry e;
	int had = 0, err;
	void *q;

	if (p)
		had = untrack(p, &e);
	q = real_realloc(p, n);
	err = errno;
	if (!q && n && p) {
		/* failed: the old block is intact, put it back */
		struct alloc_live_entry old;

		if (had && alloc_live_put(&live, (uint64_t)(uintptr_t)p, alloc_live_site(&e), alloc_live_size(&e), &old) == 0 &&
		    hot.mean_on)
			filter_add((uint64_t)(uintptr_t)p, 1);
		failed();
	} else {
		if (had)
			charge_free(&e);
		if (q)
			track_alloc(q, n);
		else if (n)
			failed();
	}
	return (void)(errno = err), q;
}

static __attribute__((noinline)) void *realloc_slow(void *p, size_t n)
{
	void *q;

	if (!enter())
		return real_realloc(p, n);
	q = realloc_tracked(p, n);
	leave(errno);
	return q;
}

static __attribute__((noinline, cold)) void *realloc_arena(void *p, size_t n)
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

/* Sampling: an unsampled block (filter slot 0) is not in the map. */
NOASAN static inline int maybe_sampled(const void *p)
{
	return __atomic_load_n(&filter[filter_slot((uint64_t)(uintptr_t)p)], __ATOMIC_RELAXED) != 0;
}

NOASAN void *malloc(size_t n)
{
	if (unlikely(!real_malloc) && resolve() < 0)
		return arena_alloc(n, 16);
	if (skip_sampled(n) || likely(!hot.on) || T.guard)
		return real_malloc(n);
	return malloc_slow(n);
}

NOASAN void *calloc(size_t k, size_t n)
{
	if (unlikely(!real_calloc) && resolve() < 0) {
		if (n && k > SIZE_MAX / n)
			return NULL;
		return arena_alloc(k * n, 16);	/* static memory: already zero */
	}
	if (skip_sampled(n && k <= SIZE_MAX / n ? k * n : SIZE_MAX) || likely(!hot.on) || T.guard)
		return real_calloc(k, n);
	return calloc_slow(k, n);
}

NOASAN void free(void *p)
{
	if (!p || arena_owns(p))
		return;
	if (unlikely(!real_free) && resolve() < 0)
		return;	/* not ours, not the allocator's yet: leave it */
	if ((hot.mean_on && !hot.snap_pending && !maybe_sampled(p)) || likely(!hot.on) || T.guard) {
		real_free(p);
		return;
	}
	free_slow(p);
}

NOASAN void *realloc(void *p, size_t n)
{
	if (unlikely(arena_owns(p)))
		return realloc_arena(p, n);
	if (unlikely(!real_realloc) && resolve() < 0)
		return p ? NULL : arena_alloc(n, 16);
	if ((hot.mean_on && (!p || !maybe_sampled(p)) && skip_sampled(n)) || likely(!hot.on) || T.guard)
		return real_realloc(p, n);
	return realloc_slow(p, n);
}

NOASAN void *reallocarray(void *p, size_t k, size_t n)
{
	if (n && k > SIZE_MAX / n) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(p, k * n);
}

NOASAN int posix_memalign(void **out, size_t align, size_t n)
{
	int rc;

	if (unlikely(!real_posix_memalign) && resolve() < 0) {
		void *p = arena_alloc(n, align);

		if (!p)
			return ENOMEM;
		*out = p;
		return 0;
	}
	if (!enter())
		return real_posix_memalign(out, align, n);
	int e = errno;
	rc = real_posix_memalign(out, align, n);
	if (rc == 0)
		track_alloc(*out, n);
	else
		failed();
	leave(e);
	return rc;
}

/* The aligned family: one shape, one macro. */
#define ALIGNED_HOOK(name, params, args, size, boot)                   \
	NOASAN void *name params                                        \
	{                                                               \
		void *p;                                                \
		if (unlikely(!real_##name) && resolve() < 0)            \
			return boot;                                    \
		if (!enter())                                           \
			return real_##name args;                        \
		p = real_##name args;                                   \
		int e = errno;                                          \
		if (p)                                                  \
			track_alloc(p, size);                           \
		else                                                    \
			failed();                                       \
		leave(e);                                               \
		return p;                                               \
	}

ALIGNED_HOOK(aligned_alloc, (size_t align, size_t n), (align, n), n, arena_alloc(n, align))
ALIGNED_HOOK(memalign, (size_t align, size_t n), (align, n), n, arena_alloc(n, align))
ALIGNED_HOOK(valloc, (size_t n), (n), n, arena_alloc(n, 4096))
ALIGNED_HOOK(pvalloc, (size_t n), (n), n, arena_alloc(n, 4096))

NOASAN size_t malloc_usable_size(void *p)
{
	if (!p)
		return 0;
	if (arena_owns(p))
		return arena_size(p);
	if (unlikely(!real_malloc_usable_size) && resolve() < 0)
		return 0;
	return real_malloc_usable_size(p);
}

/* ---- life cycle, called by libsonda.c ---- */

HIDDEN void sonda__alloc_section(struct sonda_section *sec, uint64_t off)
{
	memset(sec, 0, sizeof(*sec));
	sec->kind = SONDA_SECTION_ALLOC;
	sec->entry_size = 1;
	sec->offset = off;
	sec->size = 4096 + (uint64_t)SONDA_ALLOC_SITE_BYTES + SONDA_ALLOC_SNAP_BYTES;
	sec->count = (uint32_t)sec->size;
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *v = getenv(name);
	char *end;
	unsigned long long x;

	if (!v || !*v)
		return dflt;
	x = strtoull(v, &end, 10);
	return *end ? dflt : x;
}

/* Starts tracking with nframes frames (0: default); 0 or -1. */
static int start(uint32_t nframes, uint64_t mean)
{
	struct sonda_alloc_header *h = A.hdr;
	const char *uw = getenv("SONDA_ALLOC_UNWIND");
	struct sigaction sa, old;

	if (!A.attached || hot.on)
		return hot.on ? 0 : -1;
	if (resolve() < 0)
		return -1;
	if (!nframes)
		nframes = SONDA_ALLOC_FRAMES_DEFAULT;
	if (nframes > SONDA_ALLOC_FRAMES_MAX)
		nframes = SONDA_ALLOC_FRAMES_MAX;
	if (alloc_sites_init(&A.sites, h, (unsigned char *)h + 4096, SONDA_ALLOC_SITE_BYTES, nframes) < 0)
		return -1;
	alloc_live_init(&live, LIVE_SLOTS_MAX);
	A.nframes = nframes;
	A.unwinder = uw && !strcmp(uw, "fp") ? UNWIND_FP : UNWIND_LIBUNWIND;
	/* each thread keeps its own unwind cache: no lock in unw_backtrace */
	unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
	dl_iterate_phdr(self_range, (void *)(uintptr_t)&self_range);
	A.mean = mean;
	hot.mean_on = mean != 0;
	A.inv_mean = mean ? 1.0 / (double)mean : 0;
	h->sample_mean = mean;
	h->count_shift = mean ? SONDA_ALLOC_SAMPLE_SHIFT : 0;
	h->unwinder = (uint32_t)A.unwinder;
	/* SIGUSR2 snapshots, unless the program has its own use for it */
	if (sigaction(SIGUSR2, NULL, &old) == 0 && old.sa_handler == SIG_DFL && !(old.sa_flags & SA_SIGINFO)) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_sigusr2;
		sa.sa_flags = SA_RESTART;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGUSR2, &sa, NULL);
	}
	__atomic_store_n(&h->state, SONDA_ALLOC_ON, __ATOMIC_RELEASE);
	T.ready = 0;
	__atomic_store_n(&hot.on, 1, __ATOMIC_RELEASE);
	return 0;
}

HIDDEN void sonda__alloc_attach(unsigned char *base, struct sonda_section *sec, int64_t mono0)
{
	struct sonda_alloc_header *h = (struct sonda_alloc_header *)(base + sec->offset);
	uint64_t nframes = env_u64("SONDA_ALLOC", 0), mean = env_u64("SONDA_ALLOC_SAMPLE", 0);
	const char *on = getenv("SONDA_ALLOC");

	T.guard = 1;
	memset(h, 0, sizeof(*h));
	h->magic = SONDA_ALLOC_MAGIC;
	h->header_size = sizeof(*h);
	h->sites_off = 4096;
	h->snaps_off = 4096 + (uint64_t)SONDA_ALLOC_SITE_BYTES;
	h->snaps_size = SONDA_ALLOC_SNAP_BYTES;
	A.hdr = h;
	A.snaps = (unsigned char *)h + h->snaps_off;
	A.mono0 = mono0;
	A.attached = 1;
	if ((on && *on && strcmp(on, "0")) || mean)
		start((uint32_t)(nframes ? nframes : SONDA_ALLOC_FRAMES_DEFAULT), mean);
	T.guard = 0;
}

HIDDEN int sonda__alloc_quiet_begin(int at_exit)
{
	int token = T.guard;

	T.guard = 1;
	if (hot.on && hot.snap_pending)
		snap_signalled();
	if (hot.on && at_exit)
		snap_take("exit");
	return token;
}

HIDDEN void sonda__alloc_quiet_end(int token)
{
	T.guard = token;
}

/* The forking thread's own allocations until the fork returns (other
 * atfork handlers run after this one) must not wait for these locks. */
static int fork_guard;

HIDDEN void sonda__alloc_fork_prepare(void)
{
	fork_guard = T.guard;
	T.guard = 1;
	if (!hot.on)
		return;
	alloc_spin_lock(&A.snap_lock);
	alloc_spin_lock(&A.sites.lock);
	alloc_live_lock_all(&live);
}

HIDDEN void sonda__alloc_fork_parent(void)
{
	if (hot.on) {
		alloc_live_unlock_all(&live);
		alloc_spin_unlock(&A.sites.lock);
		alloc_spin_unlock(&A.snap_lock);
	}
	T.guard = fork_guard;
}

/* The child's blocks are its parent's: it starts from an empty map (its
 * frees of inherited blocks count as unknown) and a new region, which
 * libsonda attaches next. */
HIDDEN void sonda__alloc_fork_child(void)
{
	int was = hot.on;

	hot.on = 0;
	A.attached = 0;
	A.snap_lock = 0;
	T.guard = fork_guard;
	T.ready = 0;
	if (!was)
		return;
	alloc_live_free(&live);
	alloc_sites_free(&A.sites);
	memset(filter, 0, sizeof(filter));
}

/* ---- public API ---- */

int sonda_alloc_start(int nframes)
{
	int rc, g = T.guard;

	if (nframes < 0)
		return -1;
	T.guard = 1;
	rc = start((uint32_t)nframes, 0);
	T.guard = g;
	return rc;
}

int sonda_alloc_snapshot(const char *label)
{
	int rc, g = T.guard;

	if (!hot.on)
		return -1;
	T.guard = 1;
	rc = snap_take(label);
	T.guard = g;
	return rc;
}

int sonda_alloc_traced(size_t *current, size_t *peak)
{
	const struct sonda_alloc_header *h = A.hdr;
	int64_t live;

	if (!hot.on) {
		if (current)
			*current = 0;
		if (peak)
			*peak = 0;
		return -1;
	}
	live = (int64_t)__atomic_load_n(&h->live_bytes, __ATOMIC_RELAXED);
	if (current)
		*current = live > 0 ? (size_t)live : 0;
	if (peak)
		*peak = (size_t)__atomic_load_n(&h->peak_bytes, __ATOMIC_RELAXED);
	return 0;
}
