/* aggregate.c - self and total weight per function, line or file, from a profile's stacks. */
#include "config.h"

#include "viewer/viewer.h"

#include <stdlib.h>
#include <string.h>

/*
 * How total counts recursion once: every call site c gets, once, its row
 * r(c) and a flag "r(c) does not appear above c" (outer).  A stack through
 * a recursive function passes exactly one outer call site of that
 * function, so adding a stack's weight to the rows of the outer call sites
 * on its path counts each function once.
 *
 * Two ways to do that sum, and a run picks the cheaper: walk each kept
 * stack up to the root (O(kept stacks x depth): best when a filter keeps
 * few stacks), or sum the kept weight per call site, fold it into the
 * parents in one backward pass (a parent's id is always smaller) and add
 * the subtree weight of every outer call site to its row (O(call sites):
 * best when stacks share long prefixes).
 */

struct agg_key {
	uint32_t function, file, module;
	int32_t line;
};

struct view_agg {
	enum view_by by;
	struct view_row *rows;
	uint32_t nrows, caprows;
	uint32_t *slots;	/* open addressing: row index + 1, 0 = empty */
	uint32_t nslots;	/* a power of two */
	uint32_t *frame_row;	/* memo per frame id */
	uint32_t nframes, capframes;
	uint32_t *cs_row;	/* memo per call site id */
	uint32_t *cs_parent;	/* the store's, copied to keep the passes tight */
	uint8_t *cs_outer;	/* 1: no ancestor has the same row */
	uint32_t ncs, capcs;
	uint64_t *w;		/* scratch: weight per call site */
	uint32_t capw;
	struct agg_item { uint32_t callsite; uint64_t weight; } *items;	/* kept stacks */
	uint32_t nitems, capitems;
	uint64_t walk_cost;	/* sum of the kept stacks' depths */
	int failed;
	uint64_t weight;
	uint32_t *order;
	uint32_t caporder;
};

int view_filter_keep(const struct view_filter *f, uint32_t session, uint32_t thread,
		     uint32_t state)
{
	size_t i;

	if (!f)
		return 1;
	if (f->state_any && !(state & f->state_any))
		return 0;
	if (state & f->state_none)
		return 0;
	if (f->nsessions) {
		for (i = 0; i < f->nsessions && f->sessions[i] != session; i++)
			;
		if (i == f->nsessions)
			return 0;
	}
	if (f->nthreads) {
		for (i = 0; i < f->nthreads && f->threads[i] != thread; i++)
			;
		if (i == f->nthreads)
			return 0;
	}
	return 1;
}

static int keep_sample(const struct view_filter *f, const struct store_sample *s)
{
	if (f && f->use_samples && (s->time_ns < f->from_ns || (f->to_ns && s->time_ns >= f->to_ns)))
		return 0;
	return s->weight && view_filter_keep(f, s->session, s->thread, s->state);
}

void view_visit(const struct store_profile *p, const struct view_filter *f, view_visit_fn *fn,
		void *ctx)
{
	uint32_t i, n;

	if (f && f->use_samples) {
		n = store_nsamples(p);
		for (i = 0; i < n; i++) {
			const struct store_sample *s = store_sample_get(p, i);

			if (keep_sample(f, s))
				fn(ctx, s->session, s->thread, s->callsite, s->state, s->weight);
		}
		return;
	}
	n = store_nstacks(p);
	for (i = 0; i < n; i++) {
		const struct store_stack *s = store_stack_get(p, i);
		uint64_t w = s->weight;

		if (f && f->base && i < f->nbase)
			w = w > f->base[i] ? w - f->base[i] : 0;
		if (w && view_filter_keep(f, s->session, s->thread, s->state))
			fn(ctx, s->session, s->thread, s->callsite, s->state, w);
	}
}

static int cmp_samples(const void *a, const void *b)
{
	const struct view_sample *x = a, *y = b;

	if (x->session != y->session)
		return x->session < y->session ? -1 : 1;
	if (x->thread != y->thread)
		return x->thread < y->thread ? -1 : 1;
	if (x->time_ns != y->time_ns)
		return x->time_ns < y->time_ns ? -1 : 1;
	return x->callsite < y->callsite ? -1 : x->callsite > y->callsite;
}

struct sample_list {
	struct view_sample *v;
	size_t n, cap;
};

static void add_stack(void *ctx, uint32_t session, uint32_t thread, uint32_t callsite,
		      uint32_t state, uint64_t weight)
{
	struct sample_list *l = ctx;

	(void)state;
	if (l->n < l->cap)
		l->v[l->n++] = (struct view_sample){ session, thread, callsite, 0, weight };
}

struct view_sample *view_samples_sorted(const struct store_profile *p,
					const struct view_filter *f, size_t *n)
{
	uint32_t nsamples = store_nsamples(p);
	int stacks = (f && f->base) || !nsamples;
	struct sample_list l = { .cap = stacks ? store_nstacks(p) : nsamples };

	l.v = malloc((l.cap ? l.cap : 1) * sizeof(*l.v));
	if (!l.v)
		return NULL;
	if (stacks) {
		view_visit(p, f, add_stack, &l);
	} else {
		for (uint32_t i = 0; i < nsamples; i++) {
			const struct store_sample *s = store_sample_get(p, i);

			if (keep_sample(f, s))
				l.v[l.n++] = (struct view_sample){ s->session, s->thread,
								   s->callsite, s->time_ns,
								   s->weight };
		}
	}
	qsort(l.v, l.n, sizeof(*l.v), cmp_samples);
	*n = l.n;
	return l.v;
}

struct view_agg *view_agg_new(enum view_by by)
{
	struct view_agg *a = calloc(1, sizeof(*a));

	if (a)
		a->by = by;
	return a;
}

void view_agg_free(struct view_agg *a)
{
	if (!a)
		return;
	free(a->rows);
	free(a->slots);
	free(a->frame_row);
	free(a->cs_row);
	free(a->cs_parent);
	free(a->cs_outer);
	free(a->items);
	free(a->w);
	free(a->order);
	free(a);
}

static int grow(void **ptr, uint32_t *cap, uint32_t need, size_t size)
{
	uint32_t n = *cap ? *cap : 64;
	void *q;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	q = realloc(*ptr, (size_t)n * size);
	if (!q)
		return -1;
	*ptr = q;
	*cap = n;
	return 0;
}

static uint32_t key_hash(const struct agg_key *k)
{
	uint64_t h = k->function * 0x9e3779b97f4a7c15ull;

	h ^= (h >> 29) + k->file * 0xbf58476d1ce4e5b9ull;
	h ^= (h >> 31) + k->module * 0x94d049bb133111ebull;
	h ^= (h >> 27) + (uint32_t)k->line * 0x9e3779b97f4a7c15ull;
	return (uint32_t)(h ^ (h >> 32));
}

static int key_equal(const struct view_row *r, const struct agg_key *k)
{
	return r->function == k->function && r->file == k->file && r->module == k->module &&
	       r->line == k->line;
}

static int rehash(struct view_agg *a)
{
	uint32_t n = a->nslots ? a->nslots * 2 : 256;
	uint32_t *slots = calloc(n, sizeof(*slots));

	if (!slots)
		return -1;
	for (uint32_t i = 0; i < a->nrows; i++) {
		const struct view_row *r = &a->rows[i];
		struct agg_key k = { r->function, r->file, r->module, r->line };
		uint32_t h = key_hash(&k) & (n - 1);

		while (slots[h])
			h = (h + 1) & (n - 1);
		slots[h] = i + 1;
	}
	free(a->slots);
	a->slots = slots;
	a->nslots = n;
	return 0;
}

/* The row of a key, added when new; UINT32_MAX when memory runs out. */
static uint32_t row_find(struct view_agg *a, const struct agg_key *k, uint32_t kind)
{
	uint32_t h, i;

	if ((a->nrows + 1) * 2 > a->nslots && rehash(a) < 0)
		return UINT32_MAX;
	h = key_hash(k) & (a->nslots - 1);
	while ((i = a->slots[h])) {
		if (key_equal(&a->rows[i - 1], k))
			return i - 1;
		h = (h + 1) & (a->nslots - 1);
	}
	if (grow((void **)&a->rows, &a->caprows, a->nrows + 1, sizeof(*a->rows)) < 0)
		return UINT32_MAX;
	a->rows[a->nrows] = (struct view_row){
		.function = k->function, .file = k->file, .module = k->module,
		.line = k->line, .kind = kind,
	};
	a->slots[h] = a->nrows + 1;
	return a->nrows++;
}

static int memo_frames(struct view_agg *a, const struct store_profile *p)
{
	uint32_t n = store_nframes(p);

	if (grow((void **)&a->frame_row, &a->capframes, n, sizeof(*a->frame_row)) < 0)
		return -1;
	for (; a->nframes < n; a->nframes++) {
		const struct store_frame *fr = store_frame_get(p, a->nframes);
		struct agg_key k = { fr->function, fr->file, fr->module, 0 };
		uint32_t r;

		if (a->by == VIEW_BY_LINE)
			k.line = fr->line;
		else if (a->by == VIEW_BY_FILE)
			k.function = 0;
		r = row_find(a, &k, fr->kind);
		if (r == UINT32_MAX)
			return -1;
		a->frame_row[a->nframes] = r;
	}
	return 0;
}

static int memo_callsites(struct view_agg *a, const struct store_profile *p)
{
	uint32_t n = store_ncallsites(p);
	uint32_t cap = a->capcs, cap2 = a->capcs;

	if (grow((void **)&a->cs_outer, &cap, n, sizeof(*a->cs_outer)) < 0)
		return -1;
	if (grow((void **)&a->cs_parent, &cap2, n, sizeof(*a->cs_parent)) < 0)
		return -1;
	if (grow((void **)&a->cs_row, &a->capcs, n, sizeof(*a->cs_row)) < 0)
		return -1;
	for (; a->ncs < n; a->ncs++) {
		uint32_t c = a->ncs;
		const struct store_callsite *cs = store_callsite_get(p, c);
		uint32_t fr = cs->frame < a->nframes ? cs->frame : 0;
		uint32_t r = a->frame_row[fr];
		uint32_t up = cs->parent;
		int outer = 1;

		/* parent < c is the store's invariant; checking it bounds the walk. */
		if (c == 0 || up >= c)
			up = 0;
		while (up) {
			if (a->cs_row[up] == r) {
				outer = 0;
				break;
			}
			up = a->cs_parent[up];
		}
		a->cs_row[c] = r;
		a->cs_outer[c] = (uint8_t)outer;
		a->cs_parent[c] = c == 0 || cs->parent >= c ? 0 : cs->parent;
	}
	return 0;
}

struct self_ctx {
	struct view_agg *a;
	const struct store_profile *p;
};

static void add_self(void *ctx, uint32_t session, uint32_t thread, uint32_t callsite,
		     uint32_t state, uint64_t weight)
{
	struct self_ctx *x = ctx;
	struct view_agg *a = x->a;

	a->weight += weight;
	if (callsite == 0 || callsite >= a->ncs)
		return;
	a->rows[a->cs_row[callsite]].self += weight;
	if (a->nitems == a->capitems &&
	    grow((void **)&a->items, &a->capitems, a->nitems + 1, sizeof(*a->items)) < 0) {
		a->failed = 1;
		return;
	}
	a->items[a->nitems++] = (struct agg_item){ callsite, weight };
	a->walk_cost += store_callsite_get(x->p, callsite)->depth;
}

/* Adds every kept stack to the rows of the outer call sites on its path. */
static void sum_by_walking(struct view_agg *a)
{
	for (uint32_t i = 0; i < a->nitems; i++) {
		uint64_t w = a->items[i].weight;

		for (uint32_t c = a->items[i].callsite; c; c = a->cs_parent[c])
			if (a->cs_outer[c])
				a->rows[a->cs_row[c]].total += w;
	}
}

/* Folds weights up the tree, adding subtrees at outer call sites. */
static int sum_by_folding(struct view_agg *a)
{
	if (grow((void **)&a->w, &a->capw, a->ncs ? a->ncs : 1, sizeof(*a->w)) < 0)
		return -1;
	memset(a->w, 0, (size_t)a->ncs * sizeof(*a->w));
	for (uint32_t i = 0; i < a->nitems; i++)
		a->w[a->items[i].callsite] += a->items[i].weight;
	for (uint32_t c = a->ncs; c-- > 1;) {
		if (!a->w[c])
			continue;
		if (a->cs_outer[c])
			a->rows[a->cs_row[c]].total += a->w[c];
		a->w[a->cs_parent[c]] += a->w[c];
	}
	return 0;
}

int view_agg_run(struct view_agg *a, const struct store_profile *p, const struct view_filter *f)
{
	struct self_ctx x = { a, p };

	if (memo_frames(a, p) < 0 || memo_callsites(a, p) < 0)
		return -1;
	for (uint32_t i = 0; i < a->nrows; i++)
		a->rows[i].self = a->rows[i].total = 0;
	a->weight = 0;
	a->nitems = 0;
	a->walk_cost = 0;
	a->failed = 0;
	view_visit(p, f, add_self, &x);
	if (a->failed)
		return -1;
	/* A walk touches each kept stack's depth; a fold every call site
	 * once, but it reads and writes more per step. */
	if (a->walk_cost < (uint64_t)a->ncs * 2)
		sum_by_walking(a);
	else if (sum_by_folding(a) < 0)
		return -1;
	return 0;
}

uint32_t view_agg_nrows(const struct view_agg *a)
{
	return a->nrows;
}

const struct view_row *view_agg_row(const struct view_agg *a, uint32_t i)
{
	return i < a->nrows ? &a->rows[i] : NULL;
}

uint64_t view_agg_weight(const struct view_agg *a)
{
	return a->weight;
}

uint32_t view_agg_row_of(const struct view_agg *a, uint32_t callsite)
{
	return callsite < a->ncs ? a->cs_row[callsite] : 0;
}

struct sort_ctx {
	const struct view_agg *a;
	const struct store_profile *p;
	enum view_sort by;
	int reverse;
};

static int cmp_u64(uint64_t x, uint64_t y)
{
	return x < y ? 1 : x > y ? -1 : 0;	/* descending */
}

static int cmp_str(const struct store_profile *p, uint32_t x, uint32_t y)
{
	return x == y ? 0 : strcmp(store_string(p, x), store_string(p, y));
}

static int cmp_line(int32_t x, int32_t y)
{
	return x < y ? -1 : x > y;
}

static int cmp_rows(const void *x, const void *y, void *arg)
{
	const struct sort_ctx *s = arg;
	const struct view_row *r = &s->a->rows[*(const uint32_t *)x];
	const struct view_row *q = &s->a->rows[*(const uint32_t *)y];
	int c = 0;

	switch (s->by) {
	case VIEW_SORT_SELF:
		c = cmp_u64(r->self, q->self);
		if (!c)
			c = cmp_u64(r->total, q->total);
		break;
	case VIEW_SORT_TOTAL:
		c = cmp_u64(r->total, q->total);
		if (!c)
			c = cmp_u64(r->self, q->self);
		break;
	case VIEW_SORT_NAME:
		c = cmp_str(s->p, r->function, q->function);
		break;
	case VIEW_SORT_FILE:
		c = cmp_str(s->p, r->file, q->file);
		if (!c)
			c = cmp_line(r->line, q->line);
		break;
	case VIEW_SORT_LINE:
		c = cmp_line(r->line, q->line);
		break;
	}
	/* Ties: a stable, readable order whatever the column. */
	if (!c)
		c = cmp_str(s->p, r->function, q->function);
	if (!c)
		c = cmp_str(s->p, r->file, q->file);
	if (!c)
		c = cmp_line(r->line, q->line);
	if (!c)
		c = cmp_str(s->p, r->module, q->module);
	return s->reverse ? -c : c;
}

uint32_t view_agg_sort(struct view_agg *a, const struct store_profile *p, enum view_sort by,
		       int reverse, const uint32_t **order)
{
	struct sort_ctx s = { a, p, by, reverse };
	uint32_t n = 0;

	if (grow((void **)&a->order, &a->caporder, a->nrows ? a->nrows : 1, sizeof(*a->order)) < 0) {
		*order = NULL;
		return 0;
	}
	for (uint32_t i = 0; i < a->nrows; i++)
		if (a->rows[i].self || a->rows[i].total)
			a->order[n++] = i;
	qsort_r(a->order, n, sizeof(*a->order), cmp_rows, &s);
	*order = a->order;
	return n;
}

struct thread_ctx {
	struct view_thread_row *rows;
	uint32_t n;
};

static void add_thread(void *ctx, uint32_t session, uint32_t thread, uint32_t callsite,
		       uint32_t state, uint64_t weight)
{
	struct thread_ctx *x = ctx;
	struct view_thread_row *r;

	if (thread >= x->n)
		thread = 0;
	r = &x->rows[thread];
	r->samples += weight;
	if (state & STORE_STATE_IDLE)
		r->idle += weight;
	if (state & STORE_STATE_GIL)
		r->gil += weight;
	if (state & STORE_STATE_ONCPU)
		r->oncpu += weight;
}

static int cmp_thread_rows(const void *a, const void *b)
{
	const struct view_thread_row *x = a, *y = b;

	if (x->samples != y->samples)
		return x->samples < y->samples ? 1 : -1;
	return x->tid < y->tid ? -1 : x->tid > y->tid;
}

long view_threads(const struct store_profile *p, const struct view_filter *f,
		  struct view_thread_row **rows)
{
	struct thread_ctx x = { NULL, store_nthreads(p) };
	long n = 0;

	if (!x.n)
		x.n = 1;
	x.rows = calloc(x.n, sizeof(*x.rows));
	*rows = x.rows;
	if (!x.rows)
		return -1;
	view_visit(p, f, add_thread, &x);
	for (uint32_t i = 0; i < x.n; i++) {
		const struct store_thread *t = store_thread_get(p, i);

		if (!x.rows[i].samples)
			continue;
		x.rows[n] = x.rows[i];
		x.rows[n].thread = i;
		x.rows[n].tid = t->tid;
		x.rows[n].name = t->name ? t->name : "";
		n++;
	}
	qsort(x.rows, (size_t)n, sizeof(*x.rows), cmp_thread_rows);
	return n;
}
