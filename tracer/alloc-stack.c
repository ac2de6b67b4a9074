/* alloc-stack.c - the stack of the code that called the allocator: frame-pointer walk or libunwind, libsonda's own frames left out. */
#include "config.h"

#include <link.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "tracer/internal.h"

#define SELF_SKIP_MAX 8
#define T alloc_t
#define A alloc_g

/* A frame-pointer walk stays inside the thread's stack. */
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

HIDDEN void alloc_stack_thread(void)
{
	if (A.unwinder != ALLOC_UNWIND_LIBUNWIND)
		stack_bounds();
}

/* Frame-pointer walk, bounded by the thread's stack: code built without
 * frame pointers ends the walk early, never reads outside the stack.
 * libsonda's own innermost frames are left out; at most max frames. */
static uint32_t walk_fp(uint64_t *out, uint32_t max)
{
	const uint64_t *fp = __builtin_frame_address(0);
	uint32_t n = 0, skip = 0;

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
		if (!n && skip < SELF_SKIP_MAX && ret >= A.self_lo && ret < A.self_hi)
			skip++;
		else
			out[n++] = ret;
		if (next <= f)
			break;
		fp = (const uint64_t *)(uintptr_t)next;
	}
	return n;
}

/* Drops libsonda's own innermost frames and keeps A.nframes; n frames in buf. */
static uint32_t frames_keep(uint64_t *out, const uint64_t *buf, int n)
{
	int skip = 0;

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

/* ---- frame pointers, checked against libunwind ----
 *
 * libunwind's unw_backtrace costs about 80 ns even for a short stack; a
 * frame-pointer walk a few.  But a walk through a function that does not
 * keep rbp as its frame pointer loses or invents frames, and stacks must
 * be libunwind's exactly (a stack is a site: one stack seen two ways
 * would split its counts and its peak).  So the walk is trusted one step
 * at a time, by return address: the step from return address r to the
 * next is right when the function r returns into keeps its frame in rbp
 * at that call, a property of the code at r.  It is learnt by comparing:
 * when a walk meets an address not known good, libunwind unwinds that
 * event, and each r whose step both agreed on is marked good (not when
 * the next two frames are the same address: a recursive function without
 * a frame pointer would agree while a level is skipped).  The bottom of a
 * stack is glibc's code, without frame pointers (start_thread,
 * __libc_start_call_main): for such an r, where libunwind ended the stack
 * at most TAIL_MAX frames later, the frames after r are kept as its tail
 * once three events showed the same tail.  A walk then uses frame
 * pointers up to a good-or-bottom chain and libunwind for everything
 * else; code built without frame pointers costs one look-up more than
 * libunwind.  One trusted walk in CHECK_EVERY per thread is unwound by
 * libunwind too, and an address found wrong loses its trust (a signal
 * trampoline, whose tail is the interrupted code's, would show it).
 * The table is never emptied: code unloaded and other code loaded at the
 * same address would be taken for the old (libunwind's own cache has the
 * same blind spot between its checks).
 */
#define RA_SLOTS (1u << 16)	/* return addresses known: 1 MiB */
#define RA_PROBES 16
#define TAIL_MAX 3
#define TAILS_MAX 1024
#define CHECK_EVERY 1024

enum { RA_UNKNOWN, RA_GOOD, RA_BAD, RA_TAIL1, RA_TAIL2, RA_BOTTOM };

struct ra_entry {
	uint64_t addr;		/* 0: free */
	uint32_t state;		/* RA_* | tail index << 8 */
	uint32_t pad;
};

struct ra_tail {
	uint64_t n;
	uint64_t f[TAIL_MAX];
};

static struct ra_entry *ra;
static struct ra_tail *tails;
static uint32_t tails_used;

/* r's entry, added when add is set and r is new; NULL when not found or full. */
static struct ra_entry *ra_find(uint64_t r, int add)
{
	uint32_t i = (uint32_t)((r * 0x9e3779b97f4a7c15ull) >> 48) & (RA_SLOTS - 1);

	for (int k = 0; k < RA_PROBES; k++, i = (i + 1) & (RA_SLOTS - 1)) {
		uint64_t a = __atomic_load_n(&ra[i].addr, __ATOMIC_ACQUIRE), zero = 0;

		if (a == r)
			return &ra[i];
		if (a)
			continue;
		if (!add)
			return NULL;
		if (__atomic_compare_exchange_n(&ra[i].addr, &zero, r, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE) ||
		    zero == r)
			return &ra[i];
	}
	return NULL;
}

static uint32_t ra_state(uint64_t r)
{
	const struct ra_entry *e = ra_find(r, 0);

	return e ? __atomic_load_n(&e->state, __ATOMIC_ACQUIRE) : RA_UNKNOWN;
}

/* Distrust wins over any other thread's news about r. */
static void ra_set_bad(uint64_t r)
{
	struct ra_entry *e = ra_find(r, 1);

	if (e)
		__atomic_store_n(&e->state, RA_BAD, __ATOMIC_RELEASE);
}

/* r moves from state `from` to `to` unless another thread moved it first. */
static void ra_move(struct ra_entry *e, uint32_t from, uint32_t to)
{
	__atomic_compare_exchange_n(&e->state, &from, to, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}

/* After r, libunwind ended the stack n (<= TAIL_MAX) frames later: f. */
static void ra_tail_seen(uint64_t r, const uint64_t *f, uint32_t n)
{
	struct ra_entry *e = ra_find(r, 1);
	uint32_t st, t;

	if (!e)
		return;
	st = __atomic_load_n(&e->state, __ATOMIC_ACQUIRE);
	if ((st & 255) >= RA_TAIL1) {
		const struct ra_tail *old = &tails[st >> 8];
		uint32_t next = (st & 255) == RA_TAIL1 ? RA_TAIL2 : RA_BOTTOM;

		if (old->n == n && !memcmp(old->f, f, 8u * n))
			ra_move(e, st, next | (st >> 8) << 8);
		else
			__atomic_store_n(&e->state, RA_BAD, __ATOMIC_RELEASE);
		return;
	}
	if (st != RA_UNKNOWN && st != RA_GOOD)
		return;
	t = __atomic_fetch_add(&tails_used, 1, __ATOMIC_RELAXED);
	if (t >= TAILS_MAX) {
		__atomic_store_n(&e->state, RA_BAD, __ATOMIC_RELEASE);
		return;
	}
	tails[t].n = n;
	memcpy(tails[t].f, f, 8u * n);
	ra_move(e, st, RA_TAIL1 | t << 8);
}

/* Compares one event's walk (f, nf) with libunwind's stack (u, nu; ended
 * tells it was not cut by the frame limit) and learns from them. */
static void ra_learn(const uint64_t *f, uint32_t nf, const uint64_t *u, uint32_t nu, int ended)
{
	struct ra_entry *e;

	for (uint32_t k = 0; k < nf && k < nu && f[k] == u[k]; k++) {
		if (k + 1 < nf && k + 1 < nu && f[k + 1] == u[k + 1]) {
			if (k + 2 < nu && u[k + 2] == u[k + 1])
				return;	/* recursion: agreement proves nothing */
			if (ra_state(f[k]) == RA_UNKNOWN && (e = ra_find(f[k], 1)))
				ra_move(e, RA_UNKNOWN, RA_GOOD);
			continue;
		}
		/* the step from f[k] went wrong (or one side ended there) */
		if (k + 1 >= nf && nf >= A.nframes)
			return;	/* the walk stopped at the frame limit */
		if (ended && nu - (k + 1) <= TAIL_MAX)
			ra_tail_seen(f[k], u + k + 1, nu - (k + 1));
		else if (k + 1 < nu)
			ra_set_bad(f[k]);
		return;
	}
}

/* How many of the walk's frames (f, nf, in place) are right once the
 * trusted tails are added; 0 when a step is not trusted. */
static uint32_t walk_trusted(uint64_t *f, uint32_t nf)
{
	uint32_t max = A.nframes;

	for (uint32_t k = 0; k < nf; k++) {
		uint32_t st;

		if (k + 1 == max)	/* f[0..k] are right: enough */
			return max;
		st = ra_state(f[k]);
		if (st == RA_GOOD && k + 1 < nf)
			continue;
		if ((st & 255) == RA_BOTTOM) {
			const struct ra_tail *t = &tails[st >> 8];
			uint32_t n = k + 1 + (uint32_t)t->n > max ? max - k - 1 : (uint32_t)t->n;

			for (uint32_t i = 0; i < n; i++)
				f[k + 1 + i] = t->f[i];
			return k + 1 + n;
		}
		return 0;
	}
	return 0;
}

static uint32_t capture_checked(uint64_t *out)
{
	uint64_t buf[SONDA_ALLOC_FRAMES_MAX + SELF_SKIP_MAX], f[SONDA_ALLOC_FRAMES_MAX];
	int max = (int)A.nframes + SELF_SKIP_MAX, n;
	uint32_t nf, nu;

	/* walked into out; kept when trusted (the common case: no copy) */
	nf = walk_fp(out, A.nframes);
	if (nf && (nu = walk_trusted(out, nf))) {
		if (++T.checks & (CHECK_EVERY - 1))
			return nu;
		nf = nu;	/* checked: what the walk claims, tails in */
	}
	memcpy(f, out, 8u * nf);
	n = unw_backtrace((void **)buf, max);
	nu = frames_keep(out, buf, n);
	if (nf)
		ra_learn(f, nf, out, nu, n < max);
	return nu;
}

/* Innermost first, at most A.nframes. */
HIDDEN uint32_t alloc_stack_capture(uint64_t *out)
{
	uint64_t buf[SONDA_ALLOC_FRAMES_MAX + SELF_SKIP_MAX];

	if (A.unwinder == ALLOC_UNWIND_CHECKED)
		return capture_checked(out);
	if (A.unwinder == ALLOC_UNWIND_FP)
		return walk_fp(out, A.nframes);
	return frames_keep(out, buf, unw_backtrace((void **)buf, (int)A.nframes + SELF_SKIP_MAX));
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

/* SONDA_ALLOC_UNWIND=fp picks frame pointers alone, =libunwind libunwind
 * alone; else both, checked (without room for the table: libunwind). */
HIDDEN void alloc_stack_setup(void)
{
	const char *uw = getenv("SONDA_ALLOC_UNWIND");

	if (uw && !strcmp(uw, "fp"))
		A.unwinder = ALLOC_UNWIND_FP;
	else if (uw && !strcmp(uw, "libunwind"))
		A.unwinder = ALLOC_UNWIND_LIBUNWIND;
	else
		A.unwinder = ALLOC_UNWIND_CHECKED;
	if (A.unwinder == ALLOC_UNWIND_CHECKED && !ra) {
		void *m = mmap(NULL, RA_SLOTS * sizeof(*ra) + TAILS_MAX * sizeof(*tails), PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

		if (m == MAP_FAILED) {
			A.unwinder = ALLOC_UNWIND_LIBUNWIND;
		} else {
			ra = m;
			tails = (struct ra_tail *)(ra + RA_SLOTS);
		}
	}
	/* each thread keeps its own unwind cache: no lock in unw_backtrace */
	if (A.unwinder != ALLOC_UNWIND_FP)
		unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
	dl_iterate_phdr(self_range, (void *)(uintptr_t)&self_range);
}
