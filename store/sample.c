/* sample.c - samples, aggregated per (session, thread, call site, state, time bucket)
 * unless raw, and the same samples summed over all time as stacks. */
#include "config.h"

#include "store/internal.h"

static int stack_eq(const void *ctx, uint32_t id, const void *key)
{
	const struct store_profile *p = ctx;
	const struct store_stack *a = &VEC_AT(p->stacks, struct store_stack, id);
	const struct store_sample *b = key;

	return a->callsite == b->callsite && a->thread == b->thread && a->state == b->state &&
	       a->session == b->session;
}

/* The stack of s, added when new; -1 when memory runs out. */
static int64_t find_stack(struct store_profile *p, const struct store_sample *s)
{
	uint32_t w[4] = { s->session, s->thread, s->callsite, s->state };
	uint32_t h = store_hash_u32(w, 4), id = p->stacks.n;
	int64_t found = store_hash_find(&p->stack_hash, h, stack_eq, p, s);
	struct store_stack *st;

	if (found >= 0)
		return found;
	if (store_vec_reserve(&p->stack_last, id + 1) < 0)
		return -1;
	st = store_vec_push(&p->stacks);
	if (!st)
		return -1;
	st->session = s->session;
	st->thread = s->thread;
	st->callsite = s->callsite;
	st->state = s->state;
	*(uint32_t *)store_vec_push(&p->stack_last) = 0;
	if (store_hash_insert(&p->stack_hash, h, id) < 0) {
		p->stacks.n--;
		p->stack_last.n--;
		return -1;
	}
	return id;
}

static int64_t bucket_start(int64_t t, int64_t width)
{
	int64_t r = t % width;

	return r < 0 ? t - r - width : t - r;
}

/* Appends a row and returns its index, or -1. */
static int64_t append(struct store_profile *p, const struct store_sample *s)
{
	uint32_t id = p->samples.n;
	struct store_sample *n;

	if (store_vec_reserve(&p->sample_synced, id + 1) < 0 ||
	    store_vec_reserve(&p->sample_prev, id + 1) < 0)
		return -1;
	n = store_vec_push(&p->samples);
	if (!n)
		return -1;
	*n = *s;
	*(uint64_t *)store_vec_push(&p->sample_synced) = 0;
	*(uint32_t *)store_vec_push(&p->sample_prev) = 0;
	store_dirty_mark(&p->sample_dirty, id);
	return id;
}

void store_sample_add(struct store_profile *p, const struct store_sample *s)
{
	struct store_sample k = *s;
	int64_t st, row;
	uint32_t next = 0, at;	/* next: the newer row linking to `at` (0: the stack's head) */

	if (!s->weight)
		return;
	st = find_stack(p, s);
	if (st < 0)
		return;
	VEC_AT(p->stacks, struct store_stack, st).weight += s->weight;
	if (!p->bucket_ns) {
		append(p, &k);
		return;
	}
	k.time_ns = bucket_start(s->time_ns, p->bucket_ns);
	/* The stack's rows newest first; a sample in time order stops at the first. */
	at = VEC_AT(p->stack_last, uint32_t, st);
	while (at && VEC_AT(p->samples, struct store_sample, at - 1).time_ns > k.time_ns) {
		next = at;
		at = VEC_AT(p->sample_prev, uint32_t, at - 1);
	}
	if (at && VEC_AT(p->samples, struct store_sample, at - 1).time_ns == k.time_ns) {
		VEC_AT(p->samples, struct store_sample, at - 1).weight += s->weight;
		store_dirty_mark(&p->sample_dirty, at - 1);
		return;
	}
	row = append(p, &k);
	if (row < 0)
		return;
	VEC_AT(p->sample_prev, uint32_t, row) = at;
	if (next)
		VEC_AT(p->sample_prev, uint32_t, next - 1) = (uint32_t)row + 1;
	else
		VEC_AT(p->stack_last, uint32_t, st) = (uint32_t)row + 1;
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
