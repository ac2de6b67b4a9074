/* sample.c - samples, aggregated per (session, thread, call site, state, time bucket)
 * unless raw, and the same samples summed over all time as stacks. */
#include "config.h"

#include "store/internal.h"

static uint32_t sample_hash(const struct store_sample *s)
{
	uint32_t w[6] = { s->session, s->thread, s->callsite, s->state, (uint32_t)s->time_ns,
			  (uint32_t)((uint64_t)s->time_ns >> 32) };

	return store_hash_u32(w, 6);
}

static int sample_eq(const void *ctx, uint32_t id, const void *key)
{
	const struct store_profile *p = ctx;
	const struct store_sample *a = &VEC_AT(p->samples, struct store_sample, id), *b = key;

	return a->callsite == b->callsite && a->thread == b->thread && a->time_ns == b->time_ns &&
	       a->state == b->state && a->session == b->session;
}

static int stack_eq(const void *ctx, uint32_t id, const void *key)
{
	const struct store_profile *p = ctx;
	const struct store_stack *a = &VEC_AT(p->stacks, struct store_stack, id);
	const struct store_sample *b = key;

	return a->callsite == b->callsite && a->thread == b->thread && a->state == b->state &&
	       a->session == b->session;
}

static void add_stack(struct store_profile *p, const struct store_sample *s)
{
	uint32_t w[4] = { s->session, s->thread, s->callsite, s->state };
	uint32_t h = store_hash_u32(w, 4), id = p->stacks.n;
	int64_t found = store_hash_find(&p->stack_hash, h, stack_eq, p, s);
	struct store_stack *st;

	if (found >= 0) {
		VEC_AT(p->stacks, struct store_stack, found).weight += s->weight;
		return;
	}
	st = store_vec_push(&p->stacks);
	if (!st)
		return;
	st->session = s->session;
	st->thread = s->thread;
	st->callsite = s->callsite;
	st->state = s->state;
	st->weight = s->weight;
	store_hash_insert(&p->stack_hash, h, id);
}

static int64_t bucket_start(int64_t t, int64_t width)
{
	int64_t r = t % width;

	return r < 0 ? t - r - width : t - r;
}

static int append(struct store_profile *p, const struct store_sample *s, uint32_t h)
{
	uint32_t id = p->samples.n;
	struct store_sample *n;

	if (store_vec_reserve(&p->sample_synced, id + 1) < 0)
		return -1;
	n = store_vec_push(&p->samples);
	if (!n)
		return -1;
	*n = *s;
	*(uint64_t *)store_vec_push(&p->sample_synced) = 0;
	store_dirty_mark(&p->sample_dirty, id);
	if (p->bucket_ns)
		store_hash_insert(&p->sample_hash, h, id);
	return 0;
}

void store_sample_add(struct store_profile *p, const struct store_sample *s)
{
	struct store_sample k = *s;
	uint32_t h = 0;
	int64_t found;

	if (!s->weight)
		return;
	add_stack(p, s);
	if (!p->bucket_ns) {
		append(p, &k, 0);
		return;
	}
	k.time_ns = bucket_start(s->time_ns, p->bucket_ns);
	h = sample_hash(&k);
	found = store_hash_find(&p->sample_hash, h, sample_eq, p, &k);
	if (found < 0) {
		append(p, &k, h);
		return;
	}
	VEC_AT(p->samples, struct store_sample, found).weight += s->weight;
	store_dirty_mark(&p->sample_dirty, (uint32_t)found);
}

uint32_t store_nsamples(const struct store_profile *p)
{
	return p->samples.n;
}

const struct store_sample *store_sample_get(const struct store_profile *p, uint32_t i)
{
	if (i >= p->samples.n)
		return NULL;
	return &VEC_AT(p->samples, struct store_sample, i);
}

uint32_t store_nstacks(const struct store_profile *p)
{
	return p->stacks.n;
}

const struct store_stack *store_stack_get(const struct store_profile *p, uint32_t i)
{
	if (i >= p->stacks.n)
		return NULL;
	return &VEC_AT(p->stacks, struct store_stack, i);
}
