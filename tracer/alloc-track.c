/* alloc-track.c - allocation accounting: a tracked block charged to its call site and kept in the live map until freed. */
#include "config.h"

#include <pthread.h>
#include <stdint.h>

#include "tracer/internal.h"

#define LIVE_SLOTS_MAX (1u << 22)	/* per shard: 256 * 4M * 16 B bounds the map at 16 GiB */

HIDDEN __thread struct alloc_tls alloc_t TLS_IE;
HIDDEN struct alloc_state alloc_g;
static struct alloc_live live;

#define T alloc_t
#define A alloc_g

/* Gives the exiting thread's slot back (a pthread key's destructor: the
 * thread's own last act, or close to it). */
static void thread_gone(void *arg)
{
	int g = T.guard;

	(void)arg;
	T.guard = 1;
	alloc_count_release(&A.sites);
	T.guard = g;
}

static pthread_key_t gone_key;
static int gone_key_ok;

HIDDEN void alloc_thread_key(void)
{
	if (!gone_key_ok)
		gone_key_ok = pthread_key_create(&gone_key, thread_gone) == 0;
}

static void thread_ready(void)
{
	T.ready = 1;
	alloc_sample_thread();
	alloc_stack_thread();
	/* the slot is given back only by the key's destructor */
	if (gone_key_ok && alloc_count_claim(&A.sites) == 0 && pthread_setspecific(gone_key, &gone_key) != 0)
		alloc_count_release(&A.sites);
}

HIDDEN void alloc_charge_free(const struct alloc_live_entry *e)
{
	uint64_t count, bytes;

	alloc_sample_weight(alloc_live_size(e), &count, &bytes);
	alloc_site_sub(&A.sites, alloc_live_site(e), count, bytes);
}

HIDDEN int alloc_due(size_t n)
{
	if (unlikely(!T.ready))
		thread_ready();
	if (!(alloc_hot.mode & ALLOC_SAMPLE))
		return 1;
	if (n < T.until) {
		T.until -= n;
		return 0;
	}
	T.until = alloc_sample_gap();
	return 1;
}

static void live_put(void *p, uint32_t site, uint64_t n)
{
	struct alloc_live_entry old;
	int rc = alloc_live_put(&live, (uint64_t)(uintptr_t)p, site, n, &old);

	if (rc == 1) {
		/* the block was freed where we could not see it */
		__atomic_fetch_add(&A.hdr->frees_unseen, 1, __ATOMIC_RELAXED);
		alloc_charge_free(&old);
	} else if (rc < 0) {
		__atomic_fetch_add(&A.hdr->live_dropped, 1, __ATOMIC_RELAXED);
	}
}

HIDDEN void alloc_track(void *p, size_t n)
{
	uint64_t frames[SONDA_ALLOC_FRAMES_MAX], count, bytes;
	uint32_t nf, site;

	alloc_sample_weight(n, &count, &bytes);
	nf = alloc_stack_capture(frames);
	site = alloc_site_find(&A.sites, alloc_stack_hash(frames, nf), frames, nf);
	live_put(p, site, n);
	alloc_site_add(&A.sites, site, count, bytes);
}

HIDDEN int alloc_untrack(void *p, struct alloc_live_entry *e)
{
	int sampling = alloc_hot.mode & ALLOC_SAMPLE;

	if (sampling && !alloc_pool_owns(p))
		return 0;
	if (!alloc_live_take(&live, (uint64_t)(uintptr_t)p, e)) {
		if (!sampling)
			__atomic_fetch_add(&A.hdr->frees_unknown, 1, __ATOMIC_RELAXED);
		return 0;
	}
	return 1;
}

HIDDEN void alloc_retrack(void *p, const struct alloc_live_entry *e)
{
	struct alloc_live_entry old;

	alloc_live_put(&live, (uint64_t)(uintptr_t)p, alloc_live_site(e), alloc_live_size(e), &old);
}

HIDDEN void alloc_count_failed(void)
{
	if (A.hdr)
		__atomic_fetch_add(&A.hdr->failed, 1, __ATOMIC_RELAXED);
}

HIDDEN void alloc_live_reset(void)
{
	alloc_live_free(&live);
	alloc_live_init(&live, LIVE_SLOTS_MAX);
}

HIDDEN void alloc_live_lock(void)
{
	alloc_live_lock_all(&live);
}

HIDDEN void alloc_live_unlock(void)
{
	alloc_live_unlock_all(&live);
}
