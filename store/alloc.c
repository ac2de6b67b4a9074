/* alloc.c - allocation sites, and snapshots of them to compare over time. */
#include "config.h"

#include "store/internal.h"

struct alloc_key {
	uint32_t session, callsite;
};

static int alloc_eq(const void *ctx, uint32_t id, const void *key)
{
	const struct store_profile *p = ctx;
	const struct store_alloc *a = &VEC_AT(p->allocs, struct store_alloc, id);
	const struct alloc_key *k = key;

	return a->callsite == k->callsite && a->session == k->session;
}

void store_alloc_put(struct store_profile *p, const struct store_alloc *a)
{
	struct alloc_key k = { a->session, a->callsite };
	uint32_t h = store_hash_u32(&k.session, 2), id;
	int64_t found = store_hash_find(&p->alloc_hash, h, alloc_eq, p, &k);
	struct store_alloc *row;

	if (found >= 0) {
		id = (uint32_t)found;
		row = &VEC_AT(p->allocs, struct store_alloc, id);
	} else {
		id = p->allocs.n;
		row = store_vec_push(&p->allocs);
		if (!row)
			return;
		store_hash_insert(&p->alloc_hash, h, id);
	}
	*row = *a;
	store_dirty_mark(&p->alloc_dirty, id);
}

uint32_t store_nallocs(const struct store_profile *p)
{
	return p->allocs.n;
}

const struct store_alloc *store_alloc_get(const struct store_profile *p, uint32_t i)
{
	if (i >= p->allocs.n)
		return NULL;
	return &VEC_AT(p->allocs, struct store_alloc, i);
}

uint32_t store_snapshot_add(struct store_profile *p, uint32_t session, const char *label,
			    int64_t time_ns)
{
	const char *l = store_string(p, store_string_intern(p, label ? label : ""));
	uint32_t id = p->snapshots.n;
	struct store_snapshot *s = store_vec_push(&p->snapshots);

	if (!s)
		return 0;
	s->session = session;
	s->label = l;
	s->time_ns = time_ns;
	s->live_bytes = s->peak_bytes = 0;
	return id;
}

void store_snapshot_set_traced(struct store_profile *p, uint32_t id, uint64_t live_bytes,
			       uint64_t peak_bytes)
{
	struct store_snapshot *s;

	if (!id || id >= p->snapshots.n)
		return;
	s = &VEC_AT(p->snapshots, struct store_snapshot, id);
	s->live_bytes = live_bytes;
	s->peak_bytes = peak_bytes;
}

const struct store_snapshot *store_snapshot_get(const struct store_profile *p, uint32_t id)
{
	if (id >= p->snapshots.n)
		id = 0;
	return &VEC_AT(p->snapshots, struct store_snapshot, id);
}

uint32_t store_nsnapshots(const struct store_profile *p)
{
	return p->snapshots.n;
}

void store_snapshot_site_add(struct store_profile *p, const struct store_snapshot_site *s)
{
	struct store_snapshot_site *n = store_vec_push(&p->snapshot_sites);

	if (n)
		*n = *s;
}

uint32_t store_nsnapshot_sites(const struct store_profile *p)
{
	return p->snapshot_sites.n;
}

const struct store_snapshot_site *store_snapshot_site_get(const struct store_profile *p,
							   uint32_t i)
{
	if (i >= p->snapshot_sites.n)
		return NULL;
	return &VEC_AT(p->snapshot_sites, struct store_snapshot_site, i);
}
