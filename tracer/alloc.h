/* alloc.h - allocation tracking: the region's alloc section (byte layout) and its reader.
 *
 * The SONDA_SECTION_ALLOC section of a libsonda region (see region.h):
 *
 *   offset 0          struct sonda_alloc_header (one page)
 *   sites_off         sites_max entries of site_size bytes: struct
 *                     sonda_alloc_site followed by `nframes` uint64 return
 *                     addresses, the caller of malloc first.  Entry 0 is
 *                     the overflow site (no frames): events whose stack
 *                     found the table full.  Entries below sites_used
 *                     (published with release) are valid.
 *   snaps_off         snaps_size bytes of snapshot records, appended:
 *                     struct sonda_alloc_snap, then nsites struct
 *                     sonda_alloc_snap_site; snaps_used (release) says how
 *                     many bytes hold complete records.
 *   threads_off       threads_max thread slots of thread_size bytes: a
 *                     struct sonda_alloc_thread, the thread's share of
 *                     the process-wide live bytes (a struct
 *                     sonda_alloc_delta), then one struct
 *                     sonda_alloc_delta per site (sites_max of them).
 *                     Slots below threads_used have been used; in each,
 *                     deltas at and above its sites_hi are zero.
 *
 * A thread that owns a slot counts its events there, in cache lines no
 * other thread writes; the other threads (more than threads_max at once)
 * count in the site entries with atomic adds.  A thread that exits adds
 * its slot into the site entries and clears it for the next one.  So the
 * true value of a site's allocs, frees, bytes or live_bytes is the entry's
 * plus every used slot's delta for that site, and the process-wide live
 * bytes are the header's live_bytes plus every slot's process delta.  The
 * peaks (the site's peak_bytes, the header's peak_bytes) are kept whole
 * and exact by the tracker (alloc-count.c).  A reader may see one event
 * half applied, or an exiting thread's slot both added and not yet
 * cleared, never garbage.
 *
 * The file is sparse: untouched site, snapshot and slot pages cost
 * nothing.  In sampling mode (sample_mean != 0) counts are estimates in
 * units of 1/2^count_shift and bytes are estimated bytes.
 */
#ifndef SONDA_TRACER_ALLOC_H
#define SONDA_TRACER_ALLOC_H

#include <stddef.h>
#include <stdint.h>

#define SONDA_ALLOC_MAGIC 0x434f4c4c41444e53ull	/* "SNDALLOC" */
#define SONDA_ALLOC_FRAMES_DEFAULT 16
#define SONDA_ALLOC_FRAMES_MAX 64
#define SONDA_ALLOC_SITES_MAX 65536
#define SONDA_ALLOC_SITE_BYTES (40u << 20)	/* site table, sparse */
#define SONDA_ALLOC_SNAP_BYTES (32u << 20)	/* snapshot records, sparse */
#define SONDA_ALLOC_LABEL_MAX 64
#define SONDA_ALLOC_SAMPLE_SHIFT 8	/* count units in sampling mode: 1/256 */

/* header.state */
#define SONDA_ALLOC_OFF 0
#define SONDA_ALLOC_ON 1

struct sonda_alloc_header {
	uint64_t magic;
	uint32_t header_size;	/* sizeof(struct sonda_alloc_header) */
	uint32_t state;		/* SONDA_ALLOC_ON once tracking started */
	uint32_t nframes;	/* frames kept per site */
	uint32_t site_size;	/* bytes per site entry */
	uint32_t sites_max;
	uint32_t sites_used;	/* entries published, entry 0 included */
	uint32_t count_shift;	/* counts are in units of 1/2^count_shift */
	uint32_t unwinder;	/* 1 frame pointers, 2 libunwind, 3 both (checked) */
	uint64_t sample_mean;	/* bytes; 0 = every allocation tracked */
	uint64_t sites_off, snaps_off, snaps_size;	/* from the section start */
	uint64_t snaps_used;	/* bytes of complete snapshot records */
	uint32_t snaps_count;
	uint32_t reserved0;
	/* process-wide, scaled like the sites (totals: sum the sites);
	 * live_bytes plus the slots' process deltas (may be < 0 alone) */
	uint64_t live_bytes, peak_bytes;
	int64_t allowed;	/* the tracker's: the slots' allowances, summed */
	uint32_t lock;		/* the tracker's */
	uint32_t threads_max;	/* thread slots */
	uint32_t threads_used;	/* slots below this have been used (release) */
	uint32_t thread_size;	/* bytes per slot */
	/* what was not recorded, counted */
	uint64_t sites_dropped;	/* events charged to the overflow site */
	uint64_t live_dropped;	/* allocations the live map had no room for */
	uint64_t frees_unknown;	/* frees of pointers not tracked (foreign, double, before start) */
	uint64_t frees_unseen;	/* tracked blocks reused without a free seen */
	uint64_t snaps_dropped;	/* snapshots the record area had no room for */
	uint64_t failed;	/* allocation calls that returned NULL */
	uint64_t threads_off;	/* from the section start; 0: no slots */
	uint64_t threads_mask;	/* the tracker's: slots owned now */
	uint64_t reserved[6];
};

struct sonda_alloc_site {
	uint64_t hash;		/* of the frames */
	uint64_t allocs, frees, bytes;	/* plus the slots' deltas */
	int64_t allowed;	/* the tracker's: the slots' allowances, summed */
	int64_t live_bytes;	/* plus the slots' deltas (may be < 0 alone) */
	uint64_t peak_bytes;	/* the most live_bytes (with the deltas) ever was */
	uint32_t nframes;
	uint32_t lock;		/* the tracker's */
	/* uint64_t frames[nframes] follow */
};

/* One thread's share of a site's counters (or of the process-wide live
 * bytes), in its slot. */
struct sonda_alloc_delta {
	uint64_t allocs, frees, bytes;
	int64_t live_bytes;	/* its allocations' bytes minus its frees' (may be < 0) */
	int64_t allowed;	/* the tracker's: how high live_bytes may go unchecked */
	uint64_t reserved[3];
};

/* The head of a thread slot (64 bytes). */
struct sonda_alloc_thread {
	uint32_t tid;		/* the owner's, or the last owner's */
	uint32_t sites_hi;	/* deltas of sites at and above are zero (release) */
	uint64_t reserved[7];
};
#define SONDA_ALLOC_THREADS 64
/* bytes of one slot: head, process delta, a delta per site, page aligned */
#define SONDA_ALLOC_THREAD_BYTES \
	((((uint64_t)SONDA_ALLOC_SITES_MAX + 2) * sizeof(struct sonda_alloc_delta) + 4095) & ~4095ull)

struct sonda_alloc_snap {
	char label[SONDA_ALLOC_LABEL_MAX];
	int64_t time_ns;	/* CLOCK_MONOTONIC minus the region's start_mono_ns */
	uint32_t nsites;
	uint32_t reserved;
	uint64_t live_bytes, peak_bytes;	/* process-wide at that moment */
};

struct sonda_alloc_snap_site {
	uint32_t site;		/* index into the site table */
	uint32_t reserved;
	uint64_t allocs, bytes, live_count;
	int64_t live_bytes;
};

static inline const uint64_t *sonda_alloc_frames(const struct sonda_alloc_site *s)
{
	return (const uint64_t *)(s + 1);
}

/* ---- the reader (libregion) ---- */

struct store_profile;
struct sonda_region_header;
/* Adds the alloc section of a mapped region (file_size bytes at base) to
 * session: one store_alloc row per call site, snapshots and their sites.
 * Appends what was dropped to note (a "; "-separated list).  Returns 0,
 * or -1 when the section is absent or corrupt (nothing added). */
int sonda_alloc_load(const unsigned char *base, uint64_t file_size, struct store_profile *p,
		     uint32_t session, char *note, size_t notelen);

#endif
