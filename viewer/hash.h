/* hash.h - inside viewer/: the hashes of the viewer's open-addressing tables (names and 64-bit keys). */
#ifndef SONDA_VIEWER_HASH_H
#define SONDA_VIEWER_HASH_H

#include <stdint.h>

/* FNV-1a: short names, where a multiply per byte is cheap enough. */
static inline uint32_t view_hash_str(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

/* MurmurHash3's finalizer: ids and packed keys, whose low bits alone
 * would crowd a power-of-two table. */
static inline uint64_t view_hash_u64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	return x ^ (x >> 33);
}

#endif
