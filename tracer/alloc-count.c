/* alloc-count.c - the sites' and the process's counters: each thread counts in a slot of its own, and the peaks stay exact.
 *
 * Why slots: with every thread adding into the same site entries and the
 * same process-wide live_bytes, each allocation and free moved those
 * cache lines from one CPU to the other (about 75 ns an event with two
 * threads).  A thread that owns a slot writes only its slot's lines.
 *
 * What is exact and why.  A counter here is a site's live bytes or the
 * process's.  Its true value is L = B + sum(c[u]): B the shared entry
 * (threads without a slot, and slots given back at exit), c[u] slot u's
 * delta.  Its peak P must become L whenever L passes it.  Each slot also
 * holds an allowance a[u], and the tracker keeps, for every counter,
 *
 *     (I)  B + sum(a[u]) <= P,   and   c[u] <= a[u] for every slot u
 *
 * except for a slot whose owner is on its way to the counter's lock.
 * Then L <= P: no allocation can pass the peak unseen while every thread
 * stays within its allowance, and staying within it is the fast path: the
 * owner raises c, and compares it with its own a.  Frees only lower c
 * (and B), which keeps (I).  When c would pass a, the owner takes the
 * counter's lock, where every change of an allowance, of sum(a) (kept in
 * the entry's `allowed`) and of P happens, and either
 *   - finds B + sum(a of the others) + c <= P: L cannot pass P; it takes
 *     part of the spare as its new allowance; or
 *   - takes back the others' unused allowances (a[u] := c[u]), which makes
 *     B + sum(a) the value of L itself, and raises P to it when L is
 *     higher; then it takes part of what is left below P.
 * The part is all of the spare for a thread alone, else half: the rest
 * waits under the lock for the next thread whose allowance runs out.
 * A thread without a slot adds to B under the lock and does the same,
 * taking nothing.
 *
 * Taking an allowance back races with its owner raising c.  Both sides
 * write, then a full fence, then read the other's word (Dekker): the
 * owner stores c, fences, loads a; the taker stores a := c as read,
 * fences, loads c again (for all owners at once: every store, one
 * fence, every load).  Either the owner sees the lowered a (and comes
 * to the lock, where it is counted), or the taker sees the raised c (and
 * keeps the larger of the two as that allowance).  So (I) holds at every
 * event, and P is raised to L at the event that passes it.
 *
 * With one thread (or events ordered by the program's own locks, which
 * order our slot writes too) L is the value an exact serial count has
 * at each event, so P is exact as t7000 and t7004 check it.  Events of
 * two threads at the same time have no order of their own: P is then L
 * over one ordering of them, as with the atomic adds before.
 *
 * Cost: the fast path writes the thread's own lines and fences once; the
 * lock is taken when a thread's share of the spare below the peak is used
 * up, which in a steady state is once in many events.
 */
#include "config.h"

#include <sys/syscall.h>
#include <unistd.h>

#include "tracer/internal.h"

_Static_assert(sizeof(struct sonda_alloc_delta) == 64, "a delta is a cache line");
_Static_assert(sizeof(struct sonda_alloc_thread) == sizeof(struct sonda_alloc_delta), "the head is one delta long");

#define PROCESS UINT32_MAX	/* the counter of the process, not of a site */

static __thread struct sonda_alloc_thread *mine TLS_IE;	/* NULL: the shared entries */
static __thread uint32_t mine_index TLS_IE;
static __thread uint32_t mine_hi TLS_IE;	/* mirror of mine->sites_hi */
static __thread uintptr_t mine_ready TLS_IE;	/* the slot has memory below this */

#define GROW_AHEAD (64 * 1024)	/* slot memory reserved at a time: 1024 sites */

#define LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)

static inline struct sonda_alloc_thread *slot_at(const struct alloc_sites *t, uint32_t i)
{
	return (struct sonda_alloc_thread *)(t->threads + (uint64_t)i * t->hdr->thread_size);
}

/* Slot th's delta for counter k (a site, or PROCESS). */
static inline struct sonda_alloc_delta *delta_of(struct sonda_alloc_thread *th, uint32_t k)
{
	return (struct sonda_alloc_delta *)th + (k == PROCESS ? 1 : 2 + (uint64_t)k);
}

/* The shared half of counter k. */
struct shared {
	int64_t *live, *allowed;
	uint64_t *peak;
	uint32_t *lock;
};

static struct shared shared_of(const struct alloc_sites *t, uint32_t k)
{
	struct sonda_alloc_header *h = t->hdr;
	struct sonda_alloc_site *s;

	if (k == PROCESS)
		return (struct shared){ (int64_t *)&h->live_bytes, &h->allowed, &h->peak_bytes, &h->lock };
	s = alloc_site(t, k);
	return (struct shared){ &s->live_bytes, &s->allowed, &s->peak_bytes, &s->lock };
}

void alloc_sites_threads(struct alloc_sites *t, unsigned char *area, uint32_t max, uint32_t size)
{
	struct sonda_alloc_header *h = t->hdr;

	if (max > 64)
		max = 64;	/* one word of owners */
	if (!area || !max || size < ((uint64_t)h->sites_max + 2) * sizeof(struct sonda_alloc_delta))
		return;
	t->threads = area;
	h->thread_size = size;
	h->threads_max = max;
	h->threads_off = (uint64_t)(area - (unsigned char *)h);
}

/* ---- the lock path ---- */

static void lock(uint32_t *l)
{
	alloc_spin_lock((int *)l);
}

static void unlock(uint32_t *l)
{
	alloc_spin_unlock((int *)l);
}

/* Lowers the allowance for k of every owner in the mask to what it
 * holds (see the top: all the stores, one fence, all the loads again);
 * returns the allowances' sum.  An allowance already equal is not
 * written: its owner's line stays where it is. */
static int64_t take_back(const struct alloc_sites *t, uint32_t k, uint64_t mask)
{
	int64_t held[64], sum = 0;
	uint64_t m;

	for (m = mask; m; m &= m - 1) {
		struct sonda_alloc_delta *d = delta_of(slot_at(t, (uint32_t)__builtin_ctzll(m)), k);
		int64_t c = LOAD(&d->live_bytes);

		held[__builtin_ctzll(m)] = c;
		if (LOAD(&d->allowed) != c)
			STORE(&d->allowed, c);
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	for (m = mask; m; m &= m - 1) {
		struct sonda_alloc_delta *d = delta_of(slot_at(t, (uint32_t)__builtin_ctzll(m)), k);
		int64_t c = held[__builtin_ctzll(m)], again = LOAD(&d->live_bytes);

		if (again > c) {
			STORE(&d->allowed, again);
			c = again;
		}
		sum += c;
	}
	return sum;
}

/* With k's lock held: restores (I) after B or the caller's c rose.  me is
 * the caller's slot or NULL. */
static void settle(const struct alloc_sites *t, uint32_t k, struct sonda_alloc_thread *me)
{
	struct shared sh = shared_of(t, k);
	struct sonda_alloc_delta *md = me ? delta_of(me, k) : NULL;
	uint64_t owners = t->threads ? __atomic_load_n(&t->hdr->threads_mask, __ATOMIC_ACQUIRE) : 0;
	int64_t base = LOAD(sh.live), own = md ? LOAD(&md->live_bytes) : 0;
	int64_t others = *sh.allowed - (md ? md->allowed : 0), peak = (int64_t)LOAD(sh.peak), spare;
	uint32_t n = (uint32_t)__builtin_popcountll(owners);

	if (base + others + own > peak) {
		/* L may be past P: make B + sum(a) equal L, then raise P */
		others = take_back(t, k, me ? owners & ~(1ull << mine_index) : owners);
		if (base + others + own > peak) {
			peak = base + others + own;
			STORE(sh.peak, (uint64_t)peak);
		}
	}
	/* The spare below P: all of it to a caller alone, else half (the
	 * rest stays for the others, who find it here when theirs runs out;
	 * an allowance taken back is the owner's own value, so its next rise
	 * comes here). */
	spare = peak - base - others - own;
	if (md) {
		STORE(&md->allowed, own + (n > 1 ? spare / 2 : spare));
		others += md->allowed;
	}
	*sh.allowed = others;
}

static __attribute__((noinline)) void over(const struct alloc_sites *t, uint32_t k, struct sonda_alloc_thread *me)
{
	struct shared sh = shared_of(t, k);

	lock(sh.lock);
	settle(t, k, me);
	unlock(sh.lock);
}

/* A thread without a slot: the shared entries, under the lock for a rise. */
static void shared_add(const struct alloc_sites *t, uint32_t k, uint64_t bytes)
{
	struct shared sh = shared_of(t, k);

	lock(sh.lock);
	__atomic_fetch_add(sh.live, (int64_t)bytes, __ATOMIC_RELAXED);
	settle(t, k, NULL);
	unlock(sh.lock);
}

/* ---- the hot path ---- */

/* The thread's first event at a site at or past its slot's mark: the
 * slot's pages up to that site's delta get their memory first.  0, or -1
 * when there is no room (the event goes to the shared entries). */
static __attribute__((noinline)) int slot_grow(const struct alloc_sites *t, struct sonda_alloc_thread *me,
					       uint32_t site)
{
	uintptr_t end = (uintptr_t)(delta_of(me, site) + 1), lo, hi;

	if (end > mine_ready) {
		lo = mine_ready > (uintptr_t)me ? mine_ready : (uintptr_t)me;
		hi = (end + GROW_AHEAD - 1) & ~(uintptr_t)(GROW_AHEAD - 1);
		if (hi > (uintptr_t)me + t->hdr->thread_size)
			hi = (uintptr_t)me + t->hdr->thread_size;
		/* short of room: the delta alone */
		if (t->reserve && t->reserve((const void *)lo, hi - lo) < 0 &&
		    t->reserve((const void *)lo, (hi = end) - lo) < 0)
			return -1;
		mine_ready = hi;
	}
	mine_hi = site + 1;
	__atomic_store_n(&me->sites_hi, mine_hi, __ATOMIC_RELEASE);
	return 0;
}

void alloc_site_add(struct alloc_sites *t, uint32_t site, uint64_t count, uint64_t bytes)
{
	struct sonda_alloc_thread *me = mine;
	struct sonda_alloc_delta *d, *p;
	int64_t ls, lp;

	if (unlikely(!me) || (unlikely(site >= mine_hi) && slot_grow(t, me, site) < 0)) {
		struct sonda_alloc_site *s = alloc_site(t, site);

		__atomic_fetch_add(&s->allocs, count, __ATOMIC_RELAXED);
		__atomic_fetch_add(&s->bytes, bytes, __ATOMIC_RELAXED);
		shared_add(t, site, bytes);
		shared_add(t, PROCESS, bytes);
		return;
	}
	d = delta_of(me, site);
	p = delta_of(me, PROCESS);
	STORE(&d->allocs, d->allocs + count);
	STORE(&d->bytes, d->bytes + bytes);
	ls = d->live_bytes + (int64_t)bytes;
	lp = p->live_bytes + (int64_t)bytes;
	STORE(&d->live_bytes, ls);
	STORE(&p->live_bytes, lp);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);	/* the owner's half of the Dekker pair */
	if (unlikely(ls > LOAD(&d->allowed)))
		over(t, site, me);
	if (unlikely(lp > LOAD(&p->allowed)))
		over(t, PROCESS, me);
}

void alloc_site_sub(struct alloc_sites *t, uint32_t site, uint64_t count, uint64_t bytes)
{
	struct sonda_alloc_thread *me = mine;
	struct sonda_alloc_delta *d, *p;

	if (unlikely(!me) || (unlikely(site >= mine_hi) && slot_grow(t, me, site) < 0)) {
		struct sonda_alloc_site *s = alloc_site(t, site);

		__atomic_fetch_add(&s->frees, count, __ATOMIC_RELAXED);
		__atomic_fetch_sub(&s->live_bytes, (int64_t)bytes, __ATOMIC_RELAXED);
		__atomic_fetch_sub(&t->hdr->live_bytes, bytes, __ATOMIC_RELAXED);
		return;
	}
	d = delta_of(me, site);
	p = delta_of(me, PROCESS);
	STORE(&d->frees, d->frees + count);
	STORE(&d->live_bytes, d->live_bytes - (int64_t)bytes);
	STORE(&p->live_bytes, p->live_bytes - (int64_t)bytes);
}

/* ---- slots taken and given back ---- */

int alloc_count_claim(struct alloc_sites *t)
{
	struct sonda_alloc_header *h = t->hdr;
	uint64_t all, owners;
	uint32_t i, used;

	if (mine)
		return 0;
	if (!t->threads)
		return -1;
	all = h->threads_max >= 64 ? ~0ull : (1ull << h->threads_max) - 1;
	owners = __atomic_load_n(&h->threads_mask, __ATOMIC_RELAXED);
	do {
		if (!(~owners & all))
			return -1;
		i = (uint32_t)__builtin_ctzll(~owners & all);
	} while (!__atomic_compare_exchange_n(&h->threads_mask, &owners, owners | 1ull << i, 1, __ATOMIC_ACQ_REL,
					      __ATOMIC_RELAXED));
	used = __atomic_load_n(&h->threads_used, __ATOMIC_RELAXED);
	while (used < i + 1 && !__atomic_compare_exchange_n(&h->threads_used, &used, i + 1, 1, __ATOMIC_RELEASE,
							   __ATOMIC_RELAXED))
		;
	/* the head and the process delta: the slot's first page */
	mine_ready = (uintptr_t)slot_at(t, i) + 4096;
	if (t->reserve && t->reserve(slot_at(t, i), 4096) < 0) {
		__atomic_fetch_and(&h->threads_mask, ~(1ull << i), __ATOMIC_RELEASE);
		return -1;
	}
	mine = slot_at(t, i);
	mine_index = i;
	mine_hi = mine->sites_hi;	/* 0: a slot given back is cleared */
	mine->tid = (uint32_t)syscall(SYS_gettid);
	return 0;
}

/* Adds slot delta d of counter k into the shared entries and clears it. */
static void fold(const struct alloc_sites *t, uint32_t k, struct sonda_alloc_delta *d)
{
	struct shared sh = shared_of(t, k);

	if (!d->allocs && !d->frees && !d->live_bytes && !d->allowed)
		return;
	lock(sh.lock);
	if (k != PROCESS) {
		struct sonda_alloc_site *s = alloc_site(t, k);

		__atomic_fetch_add(&s->allocs, d->allocs, __ATOMIC_RELAXED);
		__atomic_fetch_add(&s->frees, d->frees, __ATOMIC_RELAXED);
		__atomic_fetch_add(&s->bytes, d->bytes, __ATOMIC_RELAXED);
	}
	/* B rises by c, sum(a) falls by a >= c: (I) holds */
	__atomic_fetch_add(sh.live, d->live_bytes, __ATOMIC_RELAXED);
	*sh.allowed -= d->allowed;
	STORE(&d->allocs, 0);
	STORE(&d->frees, 0);
	STORE(&d->bytes, 0);
	STORE(&d->live_bytes, 0);
	STORE(&d->allowed, 0);
	unlock(sh.lock);
}

void alloc_count_release(struct alloc_sites *t)
{
	struct sonda_alloc_thread *me = mine;

	if (!me)
		return;
	for (uint32_t s = 0; s < mine_hi; s++)
		fold(t, s, delta_of(me, s));
	fold(t, PROCESS, delta_of(me, PROCESS));
	__atomic_store_n(&me->sites_hi, 0, __ATOMIC_RELEASE);
	mine = NULL;
	mine_hi = 0;
	mine_ready = 0;
	__atomic_fetch_and(&t->hdr->threads_mask, ~(1ull << mine_index), __ATOMIC_RELEASE);
}

void alloc_count_forget(void)
{
	mine = NULL;
	mine_ready = 0;
	mine_hi = 0;
}

/* ---- readers ---- */

void alloc_site_total(const struct alloc_sites *t, uint32_t site, struct sonda_alloc_delta *out)
{
	const struct sonda_alloc_site *s = alloc_site(t, site);
	uint32_t used = t->threads ? __atomic_load_n(&t->hdr->threads_used, __ATOMIC_ACQUIRE) : 0;

	out->allocs = LOAD(&s->allocs);
	out->frees = LOAD(&s->frees);
	out->bytes = LOAD(&s->bytes);
	out->live_bytes = LOAD(&s->live_bytes);
	for (uint32_t u = 0; u < used; u++) {
		struct sonda_alloc_thread *th = slot_at(t, u);
		const struct sonda_alloc_delta *d;

		if (site >= __atomic_load_n(&th->sites_hi, __ATOMIC_ACQUIRE))
			continue;
		d = delta_of(th, site);
		out->allocs += LOAD(&d->allocs);
		out->frees += LOAD(&d->frees);
		out->bytes += LOAD(&d->bytes);
		out->live_bytes += LOAD(&d->live_bytes);
	}
}

int64_t alloc_process_live(const struct alloc_sites *t)
{
	uint32_t used = t->threads ? __atomic_load_n(&t->hdr->threads_used, __ATOMIC_ACQUIRE) : 0;
	int64_t live = (int64_t)LOAD(&t->hdr->live_bytes);

	for (uint32_t u = 0; u < used; u++)
		live += LOAD(&delta_of(slot_at(t, u), PROCESS)->live_bytes);
	return live;
}
