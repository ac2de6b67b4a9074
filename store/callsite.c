/* callsite.c - the call-site prefix tree: (parent, frame) -> id, a stack is its leaf. */
#include "config.h"

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

uint32_t store_callsite_from_stack(struct store_profile *p, const uint32_t *frames, size_t n)
{
	uint32_t id = 0;

	for (size_t i = 0; i < n; i++)
		id = store_callsite_intern(p, id, frames[i]);
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
