/* callsite.c - the call-site prefix tree: (parent, frame) -> id, a stack is its leaf. */
#include "config.h"

#include <string.h>

#include "store/internal.h"

struct cs_key {
	uint32_t parent, frame;
};

static int callsite_eq(const void *ctx, uint32_t id, const void *key)
{
	const struct store_profile *p = ctx;
	const struct store_callsite *c = &VEC_AT(p->callsites, struct store_callsite, id);
	const struct cs_key *k = key;

	return c->parent == k->parent && c->frame == k->frame;
}

uint32_t store_callsite_intern(struct store_profile *p, uint32_t parent, uint32_t frame)
{
	struct cs_key k;
	uint32_t w[2], h, id, depth;
	int64_t found;
	struct store_callsite *c;

	if (parent >= p->callsites.n)
		parent = 0;
	k.parent = w[0] = parent;
	k.frame = w[1] = frame;
	h = store_hash_u32(w, 2);
	found = store_hash_find(&p->callsite_hash, h, callsite_eq, p, &k);
	if (found >= 0)
		return (uint32_t)found;
	depth = VEC_AT(p->callsites, struct store_callsite, parent).depth + 1;
	id = p->callsites.n;
	c = store_vec_push(&p->callsites);
	if (!c)
		return 0;
	c->parent = parent;
	c->frame = frame;
	c->depth = depth;
	store_hash_insert(&p->callsite_hash, h, id);
	return id;
}

#define MEMO_MIN_DEPTH 4
#define MEMO_MAX_DEPTH 1024
#define MEMO_MAX_FRAMES (64u << 20)	/* 256 MB of cached frames at most */

struct memo_key {
	const uint32_t *frames;
	uint32_t n;
};

static int memo_eq(const void *ctx, uint32_t id, const void *key)
{
	const struct store_profile *p = ctx;
	const struct store_stack_memo *m = &VEC_AT(p->stack_cache_rows, struct store_stack_memo, id);
	const struct memo_key *k = key;

	return m->n == k->n && !memcmp(&VEC_AT(p->stack_cache_frames, uint32_t, m->first),
				       k->frames, (size_t)k->n * sizeof(uint32_t));
}

static void memo_add(struct store_profile *p, const uint32_t *frames, uint32_t n, uint32_t h,
		     uint32_t leaf)
{
	uint32_t first = p->stack_cache_frames.n, id = p->stack_cache_rows.n;
	struct store_stack_memo *m;

	if (first + n > MEMO_MAX_FRAMES || store_vec_reserve(&p->stack_cache_frames, first + n) < 0)
		return;
	m = store_vec_push(&p->stack_cache_rows);
	if (!m)
		return;
	memcpy(&VEC_AT(p->stack_cache_frames, uint32_t, first), frames, (size_t)n * sizeof(uint32_t));
	p->stack_cache_frames.n += n;
	m->first = first;
	m->n = n;
	m->leaf = leaf;
	store_hash_insert(&p->stack_cache, h, id);
}

uint32_t store_callsite_from_stack(struct store_profile *p, const uint32_t *frames, size_t n)
{
	struct memo_key k = { frames, (uint32_t)n };
	uint32_t id = 0, h = 0;
	int memo = n >= MEMO_MIN_DEPTH && n <= MEMO_MAX_DEPTH;
	int64_t found;

	if (memo) {
		h = store_hash_stack(frames, n);
		found = store_hash_find(&p->stack_cache, h, memo_eq, p, &k);
		if (found >= 0)
			return VEC_AT(p->stack_cache_rows, struct store_stack_memo, found).leaf;
	}
	for (size_t i = 0; i < n; i++)
		id = store_callsite_intern(p, id, frames[i]);
	/* A frame id past the table would make the walk differ from the
	 * stack asked for; do not remember such a stack. */
	if (memo && id)
		memo_add(p, frames, (uint32_t)n, h, id);
	return id;
}

const struct store_callsite *store_callsite_get(const struct store_profile *p, uint32_t id)
{
	if (id >= p->callsites.n)
		id = 0;
	return &VEC_AT(p->callsites, struct store_callsite, id);
}

uint32_t store_ncallsites(const struct store_profile *p)
{
	return p->callsites.n;
}
