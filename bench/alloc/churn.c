/* churn.c - allocation-heavy 2-thread workload for bench/alloc: N rounds per thread, each a few allocations and frees at a dozen call sites. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RING 4096	/* blocks each thread keeps live */
#define NI __attribute__((noinline))

static long rounds = 2000000;

NI static void *leaf_a(size_t n) { return malloc(n); }
NI static void *leaf_b(size_t n) { return calloc(1, n); }
NI static void *leaf_c(void *p, size_t n) { return realloc(p, n); }
NI static void *mid(int k, size_t n)
{
	switch (k & 3) {
	case 0: return leaf_a(n);
	case 1: return leaf_b(n);
	case 2: return leaf_c(NULL, n);
	default: return leaf_a(n + 8);
	}
}
NI static void *top(int k, size_t n) { return k & 4 ? mid(k, n) : mid(k, n * 2); }

static void *worker(void *arg)
{
	static __thread void *ring[RING];
	unsigned long x = (unsigned long)(uintptr_t)arg * 2654435761u + 1;
	long events = 0;

	for (long r = 0; r < rounds; r++) {
		size_t i = (size_t)r & (RING - 1), n;

		x ^= x << 13; x ^= x >> 7; x ^= x << 17;
		n = 16 + (x & 255);
		free(ring[i]);
		ring[i] = top((int)(x >> 8), n);
		if ((x >> 20 & 15) == 0) {
			void *p = leaf_c(ring[i], n * 3);	/* grow some in place or move */
			if (p)
				ring[i] = p;
			events++;
		}
		events += 2;
	}
	for (size_t i = 0; i < RING; i++)
		free(ring[i]);
	return (void *)events;
}

int main(int argc, char **argv)
{
	pthread_t t[2];
	long events = 0;

	if (argc > 1)
		rounds = atol(argv[1]);
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 1));
	for (int i = 0; i < 2; i++) {
		void *e;

		pthread_join(t[i], &e);
		events += (long)e;
	}
	printf("%ld\n", events);
	return 0;
}
