/* alloc-life.c - allocation tracking's life cycle: the region section, start, flush and fork, and the public sonda_alloc_* API. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tracer/internal.h"
#include "tracer/sonda.h"

#define T alloc_t
#define A alloc_g
#define POOL_BYTES (16ull << 30)	/* address space for sampled blocks, sparse */

HIDDEN void sonda__alloc_section(struct sonda_section *sec, uint64_t off)
{
	memset(sec, 0, sizeof(*sec));
	sec->kind = SONDA_SECTION_ALLOC;
	sec->entry_size = 1;
	sec->offset = off;
	sec->size = 4096 + (uint64_t)SONDA_ALLOC_SITE_BYTES + SONDA_ALLOC_SNAP_BYTES +
		    (uint64_t)SONDA_ALLOC_THREADS * SONDA_ALLOC_THREAD_BYTES;
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

static uint32_t frames_clamp(uint32_t nframes)
{
	if (!nframes)
		return SONDA_ALLOC_FRAMES_DEFAULT;
	return nframes > SONDA_ALLOC_FRAMES_MAX ? SONDA_ALLOC_FRAMES_MAX : nframes;
}

static unsigned char *region_base;	/* the mapping the section is in */

/* Region pages get their memory before the hot path writes them (a hole
 * of a full tmpfs would be SIGBUS there). */
static int region_reserve(const void *p, uint64_t len)
{
	if (lib.fd < 0 || !region_base)
		return 0;
	return posix_fallocate(lib.fd, (off_t)((const unsigned char *)p - region_base), (off_t)len) == ENOSPC ? -1 : 0;
}

/* Starts tracking with nframes frames (0: default), sampling when mean
 * is not 0; 0 or -1. */
static int start(uint32_t nframes, uint64_t mean)
{
	struct sonda_alloc_header *h = A.hdr;
	int mode = __atomic_load_n(&alloc_hot.mode, __ATOMIC_ACQUIRE);

	if (!A.attached || (mode & ALLOC_ON))
		return (mode & ALLOC_ON) ? 0 : -1;
	if (alloc_resolve() < 0)
		return -1;
	A.nframes = frames_clamp(nframes);
	if (alloc_sites_init(&A.sites, h, (unsigned char *)h + 4096, SONDA_ALLOC_SITE_BYTES, A.nframes) < 0)
		return -1;
	alloc_sites_threads(&A.sites, (unsigned char *)h + h->snaps_off + h->snaps_size, SONDA_ALLOC_THREADS,
			    (uint32_t)SONDA_ALLOC_THREAD_BYTES);
	A.sites.reserve = region_reserve;
	/* the overflow site takes events on the hot path: its page first */
	if (region_reserve(A.sites.entries, 4096) < 0)
		return -1;
	A.sites.ready = 4096;
	alloc_thread_key();
	if (mean && alloc_pool_init(POOL_BYTES) < 0)
		return -1;
	alloc_live_reset();
	alloc_stack_setup();
	A.mean = mean;
	A.inv_mean = mean ? 1.0 / (double)mean : 0;
	h->sample_mean = mean;
	h->count_shift = mean ? SONDA_ALLOC_SAMPLE_SHIFT : 0;
	h->unwinder = (uint32_t)A.unwinder;
	alloc_snap_signal_install();
	__atomic_store_n(&h->state, SONDA_ALLOC_ON, __ATOMIC_RELEASE);
	T.ready = 0;
	__atomic_fetch_or(&alloc_hot.mode, mean ? ALLOC_SAMPLING : ALLOC_ON, __ATOMIC_RELEASE);
	return 0;
}

HIDDEN void sonda__alloc_attach(unsigned char *base, struct sonda_section *sec, int64_t mono0)
{
	struct sonda_alloc_header *h = (struct sonda_alloc_header *)(base + sec->offset);
	uint64_t nframes = env_u64("SONDA_ALLOC", 0), mean = env_u64("SONDA_ALLOC_SAMPLE", 0);
	const char *on = getenv("SONDA_ALLOC");

	T.guard = 1;
	region_base = base;
	if (region_reserve(h, 4096) < 0) {	/* no room: no tracking */
		T.guard = 0;
		return;
	}
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
		start((uint32_t)nframes, mean);
	T.guard = 0;
}

static int tracking(void)
{
	return __atomic_load_n(&alloc_hot.mode, __ATOMIC_ACQUIRE) & ALLOC_ON;
}

HIDDEN int sonda__alloc_quiet_begin(int at_exit)
{
	int token = T.guard;

	T.guard = 1;
	if (tracking() && (alloc_hot.mode & ALLOC_PENDING))
		alloc_snap_pending();
	if (tracking() && at_exit)
		alloc_snap_take("exit");
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
	if (!tracking())
		return;
	alloc_spin_lock(&A.snap_lock);
	alloc_spin_lock(&A.sites.lock);
	alloc_live_lock();
	alloc_pool_lock();
}

HIDDEN void sonda__alloc_fork_parent(void)
{
	if (tracking()) {
		alloc_pool_unlock();
		alloc_live_unlock();
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
	int was = tracking();

	__atomic_fetch_and(&alloc_hot.mode, ~(ALLOC_SAMPLING | ALLOC_PENDING), __ATOMIC_RELEASE);
	A.attached = 0;
	A.snap_lock = 0;
	alloc_pool_reset_lock();
	T.guard = fork_guard;
	T.ready = 0;
	alloc_count_forget();
	if (!was)
		return;
	alloc_live_reset();
	alloc_sites_free(&A.sites);
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

	if (!tracking())
		return -1;
	T.guard = 1;
	rc = alloc_snap_take(label);
	T.guard = g;
	return rc;
}

int sonda_alloc_traced(size_t *current, size_t *peak)
{
	const struct sonda_alloc_header *h = A.hdr;
	int64_t live;

	if (!tracking()) {
		if (current)
			*current = 0;
		if (peak)
			*peak = 0;
		return -1;
	}
	live = alloc_process_live(&A.sites);
	if (current)
		*current = live > 0 ? (size_t)live : 0;
	if (peak)
		*peak = (size_t)__atomic_load_n(&h->peak_bytes, __ATOMIC_RELAXED);
	return 0;
}
