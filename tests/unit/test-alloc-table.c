/* test-alloc-table.c - the allocation tracker's site table and live-pointer map, alone (and under ASan). */
#include "config.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "tests/unit/unit.h"
#include "tracer/internal.h"

static struct alloc_live live;

static void test_live_put_take(void)
{
	struct alloc_live_entry e, old;
	const uint64_t n = 200000;

	alloc_live_init(&live, 1u << 20);
	for (uint64_t i = 1; i <= n; i++)
		CHECK_EQ_INT(alloc_live_put(&live, i * 16, (uint32_t)(i % 1000), i, &old), 0);
	CHECK_EQ_INT(alloc_live_count(&live), n);
	for (uint64_t i = 2; i <= n; i += 2) {
		CHECK_EQ_INT(alloc_live_take(&live, i * 16, &e), 1);
		CHECK_EQ_INT(alloc_live_size(&e), i);
		CHECK_EQ_INT(alloc_live_site(&e), i % 1000);
	}
	CHECK_EQ_INT(alloc_live_count(&live), n / 2);
	/* what is left is still found after all the backward shifts */
	for (uint64_t i = 1; i <= n; i++)
		CHECK_EQ_INT(alloc_live_take(&live, i * 16, &e), i % 2);
	CHECK_EQ_INT(alloc_live_count(&live), 0);
	CHECK_EQ_INT(alloc_live_take(&live, 4096, &e), 0);
	alloc_live_free(&live);
}

static void test_live_reput_and_limits(void)
{
	struct alloc_live_entry old;

	alloc_live_init(&live, 256);
	CHECK_EQ_INT(alloc_live_put(&live, 0x1000, 7, 100, &old), 0);
	CHECK_EQ_INT(alloc_live_put(&live, 0x1000, 9, 200, &old), 1);
	CHECK_EQ_INT(alloc_live_site(&old), 7);
	CHECK_EQ_INT(alloc_live_size(&old), 100);
	CHECK_EQ_INT(alloc_live_put(&live, 0, 1, 1, &old), -1);
	CHECK_EQ_INT(alloc_live_put(&live, 0x2000, 1, ALLOC_LIVE_SIZE_MAX + 1, &old), -1);
	CHECK_EQ_INT(alloc_live_put(&live, 0x2000, 1u << ALLOC_LIVE_SITE_BITS, 1, &old), -1);
	alloc_live_free(&live);
	/* a shard that may not grow refuses, it does not block or crash */
	alloc_live_init(&live, 256);
	int refused = 0;
	for (uint64_t i = 1; i <= 200000; i++)
		refused += alloc_live_put(&live, i * 16, 1, 1, &old) < 0;
	CHECK(refused > 0);
	CHECK_EQ_INT(alloc_live_count(&live) + (uint64_t)refused, 200000);
	CHECK(alloc_live_count(&live) <= (uint64_t)ALLOC_LIVE_SHARDS * 256 * 3 / 4);
	alloc_live_free(&live);
}

static void *churn(void *arg)
{
	uint64_t base = (uint64_t)(uintptr_t)arg;
	struct alloc_live_entry e, old;
	int bad = 0;

	for (int r = 0; r < 20; r++) {
		for (uint64_t i = 0; i < 5000; i++)
			bad += alloc_live_put(&live, base + i * 32, 3, i, &old) != 0;
		for (uint64_t i = 0; i < 5000; i++)
			bad += alloc_live_take(&live, base + i * 32, &e) != 1 || alloc_live_size(&e) != i;
	}
	return (void *)(intptr_t)bad;
}

static void test_live_threads(void)
{
	pthread_t t[4];
	intptr_t bad = 0;

	alloc_live_init(&live, 1u << 20);
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, churn, (void *)(uintptr_t)((uint64_t)(i + 1) << 32));
	for (int i = 0; i < 4; i++) {
		void *r;

		pthread_join(t[i], &r);
		bad += (intptr_t)r;
	}
	CHECK_EQ_INT(bad, 0);
	CHECK_EQ_INT(alloc_live_count(&live), 0);
	alloc_live_free(&live);
}

static void test_sites(void)
{
	uint64_t bytes = 1u << 20;
	unsigned char *m = mmap(NULL, 4096 + bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct sonda_alloc_header *h = (void *)m;
	struct alloc_sites t;
	uint64_t fr[4] = { 0x401000, 0x402000, 0x403000, 0x404000 };
	uint32_t a, b, max;

	CHECK(m != MAP_FAILED);
	CHECK_EQ_INT(alloc_sites_init(&t, h, m + 4096, bytes, 4), 0);
	CHECK_EQ_INT(h->site_size, 128);	/* 64 bytes of counters, 4 frames, a cache line multiple */
	a = alloc_site_find(&t, alloc_stack_hash(fr, 4), fr, 4);
	b = alloc_site_find(&t, alloc_stack_hash(fr, 3), fr, 3);
	CHECK(a != 0 && b != 0 && a != b);
	CHECK_EQ_INT(alloc_site_find(&t, alloc_stack_hash(fr, 4), fr, 4), a);
	CHECK_EQ_INT(alloc_site(&t, a)->nframes, 4);
	CHECK_EQ_INT(sonda_alloc_frames(alloc_site(&t, a))[3], 0x404000);
	alloc_site_add(&t, a, 1, 100);
	alloc_site_add(&t, a, 1, 50);
	alloc_site_sub(&t, a, 1, 100);
	alloc_site_add(&t, a, 1, 10);
	CHECK_EQ_INT(alloc_site(&t, a)->allocs, 3);
	CHECK_EQ_INT(alloc_site(&t, a)->frees, 1);
	CHECK_EQ_INT(alloc_site(&t, a)->live_bytes, 60);
	CHECK_EQ_INT(alloc_site(&t, a)->peak_bytes, 150);
	CHECK_EQ_INT(h->peak_bytes, 150);
	/* a full table charges new stacks to the overflow site, counted */
	max = h->sites_max;
	for (uint64_t i = 0; i < max + 10; i++) {
		uint64_t f = 0x500000 + i;

		alloc_site_find(&t, alloc_stack_hash(&f, 1), &f, 1);
	}
	CHECK_EQ_INT(h->sites_used, max);
	CHECK(h->sites_dropped >= 10);
	CHECK_EQ_INT(alloc_site_find(&t, alloc_stack_hash(fr, 4), fr, 4), a);
	alloc_sites_free(&t);
	munmap(m, 4096 + bytes);
}

int main(void)
{
	RUN(test_live_put_take);
	RUN(test_live_reput_and_limits);
	RUN(test_live_threads);
	RUN(test_sites);
	return unit_done();
}
