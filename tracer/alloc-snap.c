/* alloc-snap.c - allocation snapshots: every site's counts appended to the region, on demand, on SIGUSR2 and at exit. */
#include "config.h"

#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "tracer/internal.h"

#define A alloc_g

static int64_t mono_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Copies the sites allocated from into ss; returns how many. */
static uint32_t sites_copy(struct sonda_alloc_snap_site *ss, uint32_t used)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < used; i++) {
		struct sonda_alloc_delta s;

		alloc_site_total(&A.sites, i, &s);
		if (!s.allocs)
			continue;
		ss[n].site = i;
		ss[n].reserved = 0;
		ss[n].allocs = s.allocs;
		ss[n].bytes = s.bytes;
		ss[n].live_count = s.allocs - s.frees;
		ss[n].live_bytes = s.live_bytes;
		n++;
	}
	return n;
}

/* Appends a record of every site allocated from; -1 when the area is full. */
HIDDEN int alloc_snap_take(const char *label)
{
	struct sonda_alloc_header *h = A.hdr;
	struct sonda_alloc_snap *r;
	uint32_t used, n;
	uint64_t at, need;
	int rc = 0;

	alloc_spin_lock(&A.snap_lock);
	used = __atomic_load_n(&h->sites_used, __ATOMIC_ACQUIRE);
	at = h->snaps_used;
	need = sizeof(*r) + (uint64_t)used * sizeof(struct sonda_alloc_snap_site);
	if (at + need > h->snaps_size ||
	    (A.sites.reserve && A.sites.reserve(A.snaps + at, need) < 0)) {
		__atomic_fetch_add(&h->snaps_dropped, 1, __ATOMIC_RELAXED);
		rc = -1;
		goto out;
	}
	r = (struct sonda_alloc_snap *)(A.snaps + at);
	memset(r, 0, sizeof(*r));
	strncpy(r->label, label && *label ? label : "?", sizeof(r->label) - 1);
	r->time_ns = mono_now() - A.mono0;
	r->live_bytes = (uint64_t)alloc_process_live(&A.sites);
	r->peak_bytes = __atomic_load_n(&h->peak_bytes, __ATOMIC_RELAXED);
	n = sites_copy((struct sonda_alloc_snap_site *)(r + 1), used);
	r->nsites = n;
	h->snaps_count++;
	__atomic_store_n(&h->snaps_used, at + sizeof(*r) + (uint64_t)n * sizeof(struct sonda_alloc_snap_site),
			 __ATOMIC_RELEASE);
out:
	alloc_spin_unlock(&A.snap_lock);
	return rc;
}

/* "sigusr2-N" by hand: snprintf may allocate. */
static void label_number(char *label, const char *prefix, unsigned k)
{
	size_t p = strlen(prefix);
	char d[12];
	int m = 0;

	memcpy(label, prefix, p);
	do
		d[m++] = (char)('0' + k % 10);
	while ((k /= 10) && m < 11);
	for (int i = 0; i < m; i++)
		label[p + i] = d[m - 1 - i];
	label[p + m] = 0;
}

/* The snapshot a SIGUSR2 asked for, taken by the next tracked call. */
HIDDEN void alloc_snap_pending(void)
{
	char label[32];

	__atomic_fetch_and(&alloc_hot.mode, ~ALLOC_PENDING, __ATOMIC_RELAXED);
	label_number(label, "sigusr2-", __atomic_add_fetch(&A.sigusr2_count, 1, __ATOMIC_RELAXED));
	alloc_snap_take(label);
}

/* The handler only raises a flag: every hook then takes its slow path
 * once, and the first tracked call takes the snapshot. */
static void on_sigusr2(int sig)
{
	(void)sig;
	__atomic_fetch_or(&alloc_hot.mode, ALLOC_PENDING, __ATOMIC_RELAXED);
}

/* SIGUSR2 snapshots, unless the program has its own use for it. */
HIDDEN void alloc_snap_signal_install(void)
{
	struct sigaction sa, old;

	if (sigaction(SIGUSR2, NULL, &old) != 0 || old.sa_handler != SIG_DFL || (old.sa_flags & SA_SIGINFO))
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigusr2;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR2, &sa, NULL);
}
