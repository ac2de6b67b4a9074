/* alloc-sample.c - sampling by bytes: a Poisson process over allocated bytes per thread, and unbiased weights. */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "tracer/internal.h"

#define T alloc_t
#define A alloc_g

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
