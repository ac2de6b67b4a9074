/* table.c - the growable arrays, hashes and dirty lists every store table is built from. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "store/internal.h"

void store_vec_init(struct store_vec *v, size_t size)
{
	memset(v, 0, sizeof(*v));
	v->size = size;
}

void store_vec_free(struct store_vec *v)
{
	free(v->data);
	v->data = NULL;
	v->n = v->cap = 0;
}

int store_vec_reserve(struct store_vec *v, uint32_t n)
{
	uint32_t cap = v->cap ? v->cap : 16;
	void *d;

	if (n <= v->cap)
		return 0;
	while (cap < n) {
		if (cap > UINT32_MAX / 2)
			return -1;
		cap *= 2;
	}
	d = realloc(v->data, (size_t)cap * v->size);
	if (!d)
		return -1;
	v->data = d;
	v->cap = cap;
	return 0;
}

void *store_vec_push(struct store_vec *v)
{
	void *e;

	if (v->n == UINT32_MAX - 1 || store_vec_reserve(v, v->n + 1) < 0)
		return NULL;
	e = (char *)v->data + (size_t)v->n * v->size;
	memset(e, 0, v->size);
	v->n++;
	return e;
}

void store_hash_free(struct store_hash *h)
{
	free(h->slots);
	memset(h, 0, sizeof(*h));
}

void store_hash_clear(struct store_hash *h)
{
	if (h->slots)
		memset(h->slots, 0, (size_t)h->cap * sizeof(*h->slots));
	h->n = 0;
}

int64_t store_hash_find(const struct store_hash *h, uint32_t hash, store_hash_eq eq,
			const void *ctx, const void *key)
{
	uint32_t mask, i;

	if (!h->cap)
		return -1;
	mask = h->cap - 1;
	for (i = hash & mask;; i = (i + 1) & mask) {
		const struct store_hash_slot *s = &h->slots[i];

		if (!s->id1)
			return -1;
		if (s->hash == hash && eq(ctx, s->id1 - 1, key))
			return s->id1 - 1;
	}
}

static void place(struct store_hash_slot *slots, uint32_t mask, uint32_t hash, uint32_t id1)
{
	uint32_t i = hash & mask;

	while (slots[i].id1)
		i = (i + 1) & mask;
	slots[i].id1 = id1;
	slots[i].hash = hash;
}

static int grow(struct store_hash *h)
{
	uint32_t cap = h->cap ? h->cap * 2 : 64;
	struct store_hash_slot *slots;

	if (cap < h->cap)
		return -1;
	slots = calloc(cap, sizeof(*slots));
	if (!slots)
		return -1;
	for (uint32_t i = 0; i < h->cap; i++)
		if (h->slots[i].id1)
			place(slots, cap - 1, h->slots[i].hash, h->slots[i].id1);
	free(h->slots);
	h->slots = slots;
	h->cap = cap;
	return 0;
}

int store_hash_insert(struct store_hash *h, uint32_t hash, uint32_t id)
{
	/* Half full at most: probes stay short even with a mediocre hash. */
	if ((h->n + 1) * 2 > h->cap && grow(h) < 0)
		return -1;
	place(h->slots, h->cap - 1, hash, id + 1);
	h->n++;
	return 0;
}

/* FNV-1a, then a final mix so low bits (the ones a mask keeps) depend on all input. */
static uint32_t mix(uint32_t h)
{
	h ^= h >> 16;
	h *= 0x7feb352du;
	h ^= h >> 15;
	h *= 0x846ca68bu;
	h ^= h >> 16;
	return h;
}

uint32_t store_hash_bytes(const void *p, size_t n, uint32_t seed)
{
	const unsigned char *b = p;
	uint32_t h = 2166136261u ^ seed;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 16777619u;
	}
	return mix(h);
}

uint32_t store_hash_u32(const uint32_t *w, size_t n)
{
	uint32_t h = 0x9e3779b9u;

	for (size_t i = 0; i < n; i++)
		h = mix(h ^ w[i]) + 0x9e3779b9u;
	return mix(h);
}

/* Long arrays of small ids, hashed by 64-bit multiply rounds (cheaper per
 * word than the full mix of store_hash_u32). */
uint32_t store_hash_stack(const uint32_t *w, size_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ n;

	for (size_t i = 0; i < n; i++)
		h = (h ^ w[i]) * 0xff51afd7ed558ccdull;
	h ^= h >> 32;
	return mix((uint32_t)h);
}

void store_dirty_mark(struct store_dirty *d, uint32_t row)
{
	uint32_t *slot;
	uint8_t *flag;

	if (!d->flag.size) {
		store_vec_init(&d->flag, 1);
		store_vec_init(&d->list, sizeof(uint32_t));
	}
	while (d->flag.n <= row)
		if (!store_vec_push(&d->flag))
			return;
	flag = &VEC_AT(d->flag, uint8_t, row);
	if (*flag)
		return;
	slot = store_vec_push(&d->list);
	if (!slot)
		return;
	*slot = row;
	*flag = 1;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

int64_t store_dirty_take(struct store_dirty *d, uint32_t **out)
{
	uint32_t n = d->list.n, *rows;

	*out = NULL;
	if (!n)
		return 0;
	rows = malloc((size_t)n * sizeof(*rows));
	if (!rows)
		return -1;
	memcpy(rows, d->list.data, (size_t)n * sizeof(*rows));
	/* Mostly new rows, already in order: sort only when needed. */
	for (uint32_t i = 1; i < n; i++)
		if (rows[i - 1] > rows[i]) {
			qsort(rows, n, sizeof(*rows), cmp_u32);
			break;
		}
	store_dirty_reset(d);
	*out = rows;
	return n;
}

void store_dirty_reset(struct store_dirty *d)
{
	for (uint32_t i = 0; i < d->list.n; i++)
		VEC_AT(d->flag, uint8_t, VEC_AT(d->list, uint32_t, i)) = 0;
	d->list.n = 0;
}

void store_dirty_free(struct store_dirty *d)
{
	store_vec_free(&d->list);
	store_vec_free(&d->flag);
}
