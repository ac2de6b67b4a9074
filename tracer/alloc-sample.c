/* alloc-sample.c - sampling by bytes: a Poisson process over allocated bytes per thread, unbiased weights, and the filter of sampled blocks. */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "tracer/internal.h"

#define T alloc_t
#define A alloc_g

/* A counter per slot that reaches 255 stays there (its slot then always
 * takes the live map's path). */
HIDDEN uint8_t alloc_filter[ALLOC_FILTER_SLOTS] __attribute__((aligned(64)));

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
HIDDEN uint64_t alloc_sample_gap(void)
{
	double u = ((double)(rng_next() >> 11) + 0.5) * (1.0 / 9007199254740992.0);
	double d = -log(u) * (double)A.mean;

	return d < 1 ? 1 : d > 1e18 ? (uint64_t)1e18 : (uint64_t)d;
}

HIDDEN void alloc_sample_thread(void)
{
	T.rng = ((uint64_t)syscall(SYS_gettid) * 0x9e3779b97f4a7c15ull) ^ (uint64_t)(uintptr_t)&T ^
		(uint64_t)time(NULL);
	if (!T.rng)
		T.rng = 1;
	if (alloc_hot.mode & ALLOC_SAMPLE)
		T.until = alloc_sample_gap();
}

/* An allocation of n bytes is sampled with probability 1 - exp(-n/mean);
 * counting it as 1/p allocations and n/p bytes keeps the sums unbiased. */
HIDDEN void alloc_sample_weight(uint64_t n, uint64_t *count, uint64_t *bytes)
{
	double p;

	if (!(alloc_hot.mode & ALLOC_SAMPLE)) {
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

/* A sampled block enters (d = 1) or leaves (d = -1) the live map. */
HIDDEN void alloc_filter_add(uint64_t p, int d)
{
	uint8_t *c = &alloc_filter[alloc_filter_slot(p)], v = __atomic_load_n(c, __ATOMIC_RELAXED);

	if (d > 0)
		__atomic_fetch_add(&alloc_hot.sampled_live, 1, __ATOMIC_RELAXED);
	else
		__atomic_fetch_sub(&alloc_hot.sampled_live, 1, __ATOMIC_RELAXED);
	while (v != 255 && !(d < 0 && v == 0) &&
	       !__atomic_compare_exchange_n(c, &v, (uint8_t)(v + d), 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

HIDDEN void alloc_filter_reset(void)
{
	memset(alloc_filter, 0, sizeof(alloc_filter));
	alloc_hot.sampled_live = 0;
}
