/* frame.c - interned frames: (function, file, line, module, kind) known by one id. */
#include "config.h"

#include <string.h>

#include "store/internal.h"

static uint32_t frame_hash(const struct store_frame *f)
{
	uint32_t w[5] = { f->function, f->file, f->module, (uint32_t)f->line, f->kind };

	return store_hash_u32(w, 5);
}

static int frame_eq(const void *ctx, uint32_t id, const void *key)
{
	const struct store_profile *p = ctx;
	const struct store_frame *a = &VEC_AT(p->frames, struct store_frame, id), *b = key;

	return a->function == b->function && a->file == b->file && a->module == b->module &&
	       a->line == b->line && a->kind == b->kind;
}

uint32_t store_frame_intern(struct store_profile *p, const struct store_frame *f)
{
	uint32_t h = frame_hash(f), id;
	int64_t found = store_hash_find(&p->frame_hash, h, frame_eq, p, f);
	struct store_frame *slot;

	if (found >= 0)
		return (uint32_t)found;
	id = p->frames.n;
	slot = store_vec_push(&p->frames);
	if (!slot)
		return 0;
	*slot = *f;
	store_hash_insert(&p->frame_hash, h, id);
	return id;
}

const struct store_frame *store_frame_get(const struct store_profile *p, uint32_t id)
{
	if (id >= p->frames.n)
		id = 0;
	return &VEC_AT(p->frames, struct store_frame, id);
}

uint32_t store_nframes(const struct store_profile *p)
{
	return p->frames.n;
}
