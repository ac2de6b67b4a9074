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
 *
 * The file is sparse: untouched site and snapshot pages cost nothing.
 * Counters are updated with atomic adds by any thread, so a reader may see
 * one event half applied (frees counted before live_bytes drops), never
 * garbage.  In sampling mode (sample_mean != 0) counts are estimates in
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
	uint32_t unwinder;	/* 1 frame pointers, 2 libunwind */
	uint64_t sample_mean;	/* bytes; 0 = every allocation tracked */
	uint64_t sites_off, snaps_off, snaps_size;	/* from the section start */
	uint64_t snaps_used;	/* bytes of complete snapshot records */
	uint32_t snaps_count;
	uint32_t reserved0;
	/* process-wide, scaled like the sites (totals: sum the sites) */
	uint64_t live_bytes, peak_bytes;
	uint64_t reserved1[3];
	/* what was not recorded, counted */
	uint64_t sites_dropped;	/* events charged to the overflow site */
	uint64_t live_dropped;	/* allocations the live map had no room for */
	uint64_t frees_unknown;	/* frees of pointers not tracked (foreign, double, before start) */
	uint64_t frees_unseen;	/* tracked blocks reused without a free seen */
	uint64_t snaps_dropped;	/* snapshots the record area had no room for */
	uint64_t failed;	/* allocation calls that returned NULL */
	uint64_t reserved[8];
};

struct sonda_alloc_site {
	uint64_t hash;		/* of the frames */
	uint64_t allocs, frees, bytes;
	uint64_t reserved1;
	int64_t live_bytes;
	uint64_t peak_bytes;	/* the most live_bytes ever was */
	uint32_t nframes;
	uint32_t reserved;
	/* uint64_t frames[nframes] follow */
};

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
