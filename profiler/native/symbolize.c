/* symbolize.c - turn unwound addresses into the sampler's frames: module, function, file, line, inlined calls. */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profiler/native/native.h"

#define MAX_OUT (PROF_KERNEL_MAX_FRAMES + PROF_NATIVE_MAX_FRAMES * 2 + 1)

#define ADDR_SLOTS 4096

/* The resolution of one return address, valid while the space's modules
 * stay as they were (its objects, and so the strings, live until then). */
struct addr_slot {
	uint64_t addr;
	const struct prof_elf *obj;
	uint64_t vaddr;
	const struct prof_elf_frame *ef;
	size_t nf;
};

struct prof_symbolizer {
	struct prof_space *space;
	struct addr_slot slot[ADDR_SLOTS];
	uint64_t gen;
	struct prof_frame out[MAX_OUT];
	char unknown[MAX_OUT][40];	/* names of addresses in no module */
	char marker[96];
};

struct prof_symbolizer *prof_symbolizer_new(struct prof_space *s)
{
	struct prof_symbolizer *z = calloc(1, sizeof(*z));

	if (z)
		z->space = s;
	return z;
}

void prof_symbolizer_free(struct prof_symbolizer *z)
{
	free(z);
}

/* Stable across samples: the object, the address, the inline depth. */
static uint64_t frame_key(uint32_t obj, uint64_t vaddr, size_t depth)
{
	uint64_t k = ((uint64_t)obj << 40) ^ vaddr ^ ((uint64_t)depth << 56);

	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdull;
	k ^= k >> 33;
	k *= 0xc4ceb9fe1a85ec53ull;
	k ^= k >> 33;
	return k ? k : 1;
}

size_t prof_symbolize(struct prof_symbolizer *z, const uint64_t *kips, size_t nk,
		      const uint64_t *ips, size_t n, const char *reason,
		      const struct prof_frame **frames)
{
	size_t k = 0;

	for (size_t i = 0; i < nk && k < PROF_KERNEL_MAX_FRAMES; i++) {
		const char *name = prof_kernel_symbol(kips[i]);

		if (!name) {
			snprintf(z->unknown[k], sizeof(z->unknown[k]), "[kernel]+0x%" PRIx64, kips[i]);
			name = z->unknown[k];
		}
		z->out[k] = (struct prof_frame){.key = name == z->unknown[k] ? 0 : frame_key(0, (uint64_t)(uintptr_t)name, 0),
						 .function = name, .module = "[kernel]",
						 .kind = STORE_KIND_KERNEL};
		k++;
	}

	for (size_t i = 0; i < n && k < MAX_OUT - 1; i++) {
		/* A return address points after the call: look up the call. */
		uint64_t addr = i ? ips[i] - 1 : ips[i];
		struct addr_slot *sl = &z->slot[((addr * 0x9E3779B97F4A7C15ull) >> 40) & (ADDR_SLOTS - 1)];

		if (z->gen != z->space->gen) {
			memset(z->slot, 0, sizeof(z->slot));
			z->gen = z->space->gen;
		}
		if (sl->addr != addr || !sl->obj) {
			const struct prof_mod *m = prof_space_find(z->space, addr);

			if (z->gen != z->space->gen) {
				/* the lookup refreshed the modules */
				memset(z->slot, 0, sizeof(z->slot));
				z->gen = z->space->gen;
			}
			if (!m) {
				snprintf(z->unknown[k], sizeof(z->unknown[k]), "[unknown]+0x%" PRIx64,
					 ips[i]);
				z->out[k] = (struct prof_frame){.key = 0, .function = z->unknown[k],
								 .kind = STORE_KIND_NATIVE};
				k++;
				continue;
			}
			sl->addr = addr;
			sl->obj = m->obj;
			sl->vaddr = addr - m->bias;
			sl->nf = prof_elf_resolve(m->obj, sl->vaddr, &sl->ef);
		}
		for (size_t j = 0; j < sl->nf && k < MAX_OUT - 1; j++) {
			z->out[k].key = frame_key(sl->obj->id, sl->vaddr, j);
			z->out[k].function = sl->ef[j].function;
			z->out[k].file = sl->ef[j].file;
			z->out[k].module = sl->obj->name;
			z->out[k].line = sl->ef[j].line;
			z->out[k].kind = STORE_KIND_NATIVE;
			k++;
		}
	}
	if (reason) {
		snprintf(z->marker, sizeof(z->marker), "[unwind error: %s]", reason);
		z->out[k] = (struct prof_frame){.key = 0, .function = z->marker,
						 .kind = STORE_KIND_NATIVE};
		k++;
	}
	*frames = z->out;
	return k;
}
