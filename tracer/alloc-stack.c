/* alloc-stack.c - the stack of the code that called the allocator: frame-pointer walk or libunwind, libsonda's own frames left out. */
#include "config.h"

#include <link.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
	if (A.unwinder == ALLOC_UNWIND_FP)
		stack_bounds();
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

/* Innermost first, at most A.nframes. */
HIDDEN uint32_t alloc_stack_capture(uint64_t *out)
{
	uint64_t buf[SONDA_ALLOC_FRAMES_MAX + SELF_SKIP_MAX];
	int max = (int)A.nframes + SELF_SKIP_MAX, n, skip = 0;

	if (A.unwinder == ALLOC_UNWIND_FP)
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

/* SONDA_ALLOC_UNWIND=fp picks frame pointers, else libunwind. */
HIDDEN void alloc_stack_setup(void)
{
	const char *uw = getenv("SONDA_ALLOC_UNWIND");

	A.unwinder = uw && !strcmp(uw, "fp") ? ALLOC_UNWIND_FP : ALLOC_UNWIND_LIBUNWIND;
	/* each thread keeps its own unwind cache: no lock in unw_backtrace */
	if (A.unwinder == ALLOC_UNWIND_LIBUNWIND)
		unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
	dl_iterate_phdr(self_range, (void *)(uintptr_t)&self_range);
}
