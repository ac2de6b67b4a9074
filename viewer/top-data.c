/* top-data.c - per-function and call-tree counters for `sonda top`, updated incrementally. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "viewer/hash.h"
#include "viewer/top-impl.h"

#define EMPTY UINT32_MAX
#define MAX_DEPTH 4096		/* a longer chain is a corrupt tree: stop walking */

static void *xgrow(void *v, uint32_t *cap, uint32_t need, size_t size)
{
	uint32_t c = *cap ? *cap : 64;

	if (need <= *cap)
		return v;
	while (c < need)
		c *= 2;
	v = realloc(v, (size_t)c * size);
	if (!v)
		abort();	/* out of memory: atexit restores the terminal */
	memset((char *)v + (size_t)*cap * size, 0, (size_t)(c - *cap) * size);
	*cap = c;
	return v;
}

static char *xstrdup(const char *s)
{
	char *d = strdup(s ? s : "");

	if (!d)
		abort();
	return d;
}

/* ---- a small open-addressing hash of 64-bit keys to 32-bit values */

static void hash_clear(struct top_hash *h)
{
	free(h->k);
	free(h->v);
	memset(h, 0, sizeof(*h));
}

static uint32_t *hash_slot(struct top_hash *h, uint64_t key)
{
	uint32_t i = (uint32_t)view_hash_u64(key) & (h->cap - 1);

	while (h->v[i] != EMPTY && h->k[i] != key)
		i = (i + 1) & (h->cap - 1);
	h->k[i] = key;
	return &h->v[i];
}

static void hash_grow(struct top_hash *h)
{
	struct top_hash old = *h;

	h->cap = old.cap ? old.cap * 2 : 1024;
	h->k = malloc(sizeof(*h->k) * h->cap);
	h->v = malloc(sizeof(*h->v) * h->cap);
	if (!h->k || !h->v)
		abort();
	memset(h->v, 0xff, sizeof(*h->v) * h->cap);
	for (uint32_t i = 0; i < old.cap; i++)
		if (old.v[i] != EMPTY)
			*hash_slot(h, old.k[i]) = old.v[i];
	free(old.k);
	free(old.v);
}

/* The value for key, or a new one from make(ctx) when absent. */
static uint32_t hash_find(struct top_hash *h, uint64_t key, uint32_t (*make)(void *), void *ctx)
{
	uint32_t *v;

	if ((h->n + 1) * 2 > h->cap)
		hash_grow(h);
	v = hash_slot(h, key);
	if (*v == EMPTY) {
		*v = make(ctx);
		h->n++;
	}
	return *v;
}

/* ---- keys (functions or lines), table rows, tree nodes */

struct key_ctx {
	struct top_data *d;
	const struct store_profile *p;
	const struct store_frame *f;
};

static uint32_t key_make(void *arg)
{
	struct key_ctx *c = arg;
	struct top_data *d = c->d;
	struct top_key *k;

	d->keys = xgrow(d->keys, &d->capkeys, d->nkeys + 1, sizeof(*d->keys));
	k = &d->keys[d->nkeys];
	if (c->f) {
		const char *name = store_string(c->p, c->f->function);

		k->name = xstrdup(name && *name ? name : "(unknown)");
		k->file = xstrdup(store_string(c->p, c->f->file));
		k->line = d->lines ? c->f->line : 0;
	} else {
		k->name = xstrdup("(unknown)");
		k->file = xstrdup("");
	}
	return d->nkeys++;
}

static uint32_t key_of_frame(struct top_data *d, const struct store_profile *p, uint32_t fid)
{
	const struct store_frame *f = fid ? store_frame_get(p, fid) : NULL;
	struct key_ctx c = { d, p, f };
	uint64_t k;

	if (!f)
		return hash_find(&d->key_hash, 0, key_make, &c);
	/* String ids are unique per profile, so ids stand for the text. */
	k = ((uint64_t)f->function << 32) ^ ((uint64_t)f->file << 8) ^
	    (d->lines ? (uint64_t)(uint32_t)f->line * 0x9e3779b97f4a7c15ULL : 0);
	k = view_hash_u64(k) ^ f->function;
	return hash_find(&d->key_hash, k, key_make, &c);
}

struct fn_ctx {
	struct top_data *d;
	uint32_t key, thread;
};

static uint32_t fn_make(void *arg)
{
	struct fn_ctx *c = arg;
	struct top_data *d = c->d;

	d->fns = xgrow(d->fns, &d->capfns, d->nfns + 1, sizeof(*d->fns));
	memset(&d->fns[d->nfns], 0, sizeof(d->fns[0]));
	d->fns[d->nfns].key = c->key;
	d->fns[d->nfns].thread = c->thread;
	return d->nfns++;
}

/* Merged rows are indexed by key directly: no hashing on the hot walk. */
static struct top_fn *fn_of(struct top_data *d, uint32_t key, uint32_t thread)
{
	struct fn_ctx c = { d, key, thread };
	uint32_t i;

	if (!d->split) {
		if (key >= d->nfns) {
			d->fns = xgrow(d->fns, &d->capfns, key + 1, sizeof(*d->fns));
			for (i = d->nfns; i <= key; i++)
				d->fns[i].key = i;
			d->nfns = key + 1;
		}
		return &d->fns[key];
	}
	i = hash_find(&d->fn_hash, ((uint64_t)thread << 32) | key, fn_make, &c);
	return &d->fns[i];	/* after the call: fn_make may move the array */
}

struct node_ctx {
	struct top_data *d;
	uint32_t parent, key;
};

static uint32_t node_make(void *arg)
{
	struct node_ctx *c = arg;
	struct top_data *d = c->d;
	struct top_node *n, *parent;

	d->nodes = xgrow(d->nodes, &d->capnodes, d->nnodes + 1, sizeof(*d->nodes));
	n = &d->nodes[d->nnodes];
	memset(n, 0, sizeof(*n));
	parent = &d->nodes[c->parent];
	n->parent = c->parent;
	n->key = c->key;
	n->depth = parent->depth + 1;
	n->next = parent->first;
	parent->first = d->nnodes;
	return d->nnodes++;
}

static uint32_t node_of(struct top_data *d, uint32_t parent, uint32_t key)
{
	struct node_ctx c = { d, parent, key };

	return hash_find(&d->node_hash, ((uint64_t)parent << 32) | key, node_make, &c);
}

/* ---- mirroring the store */

static void sync_frames(struct top_data *d, const struct store_profile *p)
{
	uint32_t n = store_nframes(p);

	d->fr_key = xgrow(d->fr_key, &d->capfr, n, sizeof(*d->fr_key));
	for (uint32_t f = d->nfr; f < n; f++)
		d->fr_key[f] = key_of_frame(d, p, f);
	d->nfr = n > d->nfr ? n : d->nfr;
}

static void sync_callsites(struct top_data *d, const struct store_profile *p)
{
	uint32_t n = store_ncallsites(p);

	if (n == 0)
		return;
	if (n > d->capcs) {	/* three arrays, one capacity */
		uint32_t cap = d->capcs;

		d->cs_parent = xgrow(d->cs_parent, &cap, n, sizeof(uint32_t));
		cap = d->capcs;
		d->cs_key = xgrow(d->cs_key, &cap, n, sizeof(uint32_t));
		cap = d->capcs;
		d->cs_node = xgrow(d->cs_node, &cap, n, sizeof(uint32_t));
		cap = d->capcs;
		d->cs_rec = xgrow(d->cs_rec, &cap, n, sizeof(uint8_t));
		cap = d->capcs;
		d->sub = xgrow(d->sub, &cap, n, sizeof(uint64_t));
		d->capcs = cap;
	}
	for (uint32_t c = d->ncs; c < n; c++) {
		const struct store_callsite *cs = store_callsite_get(p, c);
		uint32_t parent = cs ? cs->parent : 0;

		if (c == 0 || !cs) {
			d->cs_parent[c] = 0;
			d->cs_key[c] = 0;
			d->cs_node[c] = 0;
			d->cs_rec[c] = 0;
			continue;
		}
		if (parent >= c)	/* the store promises parent < id */
			parent = 0;
		d->cs_parent[c] = parent;
		d->cs_key[c] = cs->frame < d->nfr ? d->fr_key[cs->frame] : key_of_frame(d, p, 0);
		d->cs_node[c] = d->tree ? node_of(d, d->cs_node[parent], d->cs_key[c]) : 0;
		d->cs_rec[c] = 0;
		for (uint32_t a = parent, steps = 0; a && steps < MAX_DEPTH; a = d->cs_parent[a], steps++)
			if (d->cs_key[a] == d->cs_key[c]) {
				d->cs_rec[c] = 1;	/* counted at that ancestor already */
				break;
			}
	}
	d->ncs = n > d->ncs ? n : d->ncs;
}

static void sync_threads(struct top_data *d, const struct store_profile *p)
{
	uint32_t n = store_nthreads(p);	/* thread ids are 1..n */

	if (n > d->nthreads) {
		d->threads = realloc(d->threads, sizeof(*d->threads) * n);
		if (!d->threads)
			abort();
		memset(d->threads + d->nthreads, 0, sizeof(*d->threads) * (n - d->nthreads));
	}
	for (uint32_t i = 0; i < n; i++) {
		const struct store_thread *th = store_thread_get(p, i + 1);
		struct top_thread *t = &d->threads[i];
		const char *name = th && th->name ? th->name : "";

		t->id = i + 1;
		t->tid = th ? th->tid : 0;
		if (!t->name || strcmp(t->name, name)) {	/* threads get renamed */
			free(t->name);
			t->name = xstrdup(name);
		}
	}
	if (n > d->nthreads)
		d->nthreads = n;
}

static void grow_rows(struct top_data *d, uint32_t n)
{
	uint32_t cap = d->caprows;

	if (n <= cap)
		return;
	d->base = xgrow(d->base, &cap, n, sizeof(uint64_t));
	cap = d->caprows;
	d->prev = xgrow(d->prev, &cap, n, sizeof(uint64_t));
	cap = d->caprows;
	d->win = xgrow(d->win, &cap, n, sizeof(uint64_t));
	d->caprows = cap;
}

static void push_touched(struct top_data *d, uint32_t node)
{
	d->touched = xgrow(d->touched, &d->captouched, d->ntouched + 1, sizeof(*d->touched));
	d->touched[d->ntouched++] = node;
}

/* Adds one stack row's samples: dc to the cumulative and dw to the window
 * counters of its leaf (self) and of every distinct key on its path (total). */
/* The thread and header counters of a row; 0 when the thread filter drops it. */
static int account_head(struct top_data *d, const struct store_stack *st, uint64_t dc,
			uint64_t dw)
{
	struct top_thread *th = st->thread && st->thread <= d->nthreads ?
				&d->threads[st->thread - 1] : NULL;
	int active = !(st->state & STORE_STATE_IDLE), gil = !!(st->state & STORE_STATE_GIL);

	d->all += dc, d->wall += dw;
	d->active += active ? dc : 0, d->wactive += active ? dw : 0;
	d->gil += gil ? dc : 0, d->wgil += gil ? dw : 0;
	if (th) {
		th->samples += dc, th->wsamples += dw;
		th->active += active ? dc : 0, th->wactive += active ? dw : 0;
		th->gil += gil ? dc : 0, th->wgil += gil ? dw : 0;
	}
	if (d->thread && st->thread != d->thread)
		return 0;
	d->total += dc, d->wtotal += dw;
	return 1;
}

static void account_leaf(struct top_data *d, uint32_t c, uint32_t thread, uint64_t dc,
			 uint64_t dw)
{
	struct top_fn *f = fn_of(d, d->cs_key[c], thread);
	struct top_node *n = &d->nodes[d->cs_node[c]];

	f->self += dc, f->wself += dw;
	if (d->tree)
		n->self += dc, n->wself += dw;
}

static void account(struct top_data *d, const struct store_stack *st, uint64_t dc, uint64_t dw)
{
	uint32_t c = st->callsite < d->ncs ? st->callsite : 0, steps = 0, thread;

	if (!account_head(d, st, dc, dw) || c == 0)
		return;
	if (++d->stamp == 0) {	/* wrapped: old stamps could match again */
		for (uint32_t i = 0; i < d->nfns; i++)
			d->fns[i].stamp = 0;
		d->stamp = 1;
	}
	thread = d->split ? st->thread : 0;
	account_leaf(d, c, thread, dc, dw);
	for (; c && steps < MAX_DEPTH; c = d->cs_parent[c], steps++) {
		struct top_fn *f = fn_of(d, d->cs_key[c], thread);
		struct top_node *n = &d->nodes[d->cs_node[c]];

		if (f->stamp != d->stamp) {
			f->stamp = d->stamp;
			f->total += dc, f->wtotal += dw;
		}
		if (!d->tree)
			continue;
		if (dw && !n->wtotal)	/* first touch in this window */
			push_touched(d, d->cs_node[c]);
		n->total += dc, n->wtotal += dw;
	}
	if (d->tree) {		/* the root: everything with a stack */
		if (dw && !d->nodes[0].wtotal)
			push_touched(d, 0);
		d->nodes[0].total += dc, d->nodes[0].wtotal += dw;
	}
}

/* Only the nodes the last window touched are cleared: a refresh must not
 * cost the size of the whole tree. */
static void clear_window(struct top_data *d)
{
	for (uint32_t i = 0; i < d->nfns; i++)
		d->fns[i].wself = d->fns[i].wtotal = 0;
	if (d->touched_all) {	/* after a bulk pass: one sequential sweep */
		for (uint32_t i = 0; i < d->nnodes; i++)
			d->nodes[i].wself = d->nodes[i].wtotal = 0;
	} else {
		for (uint32_t i = 0; i < d->ntouched; i++)
			if (d->touched[i] < d->nnodes)
				d->nodes[d->touched[i]].wself = d->nodes[d->touched[i]].wtotal = 0;
	}
	d->ntouched = 0;
	d->touched_all = 0;
	for (uint32_t i = 0; i < d->nthreads; i++)
		d->threads[i].wsamples = d->threads[i].wactive = d->threads[i].wgil = 0;
	d->wtotal = d->wall = d->wactive = d->wgil = 0;
}

static void clear_all(struct top_data *d)
{
	clear_window(d);
	for (uint32_t i = 0; i < d->nnodes; i++)
		d->nodes[i].wself = d->nodes[i].wtotal = 0;
	for (uint32_t i = 0; i < d->nfns; i++)
		d->fns[i].self = d->fns[i].total = 0;
	for (uint32_t i = 0; i < d->nnodes; i++)
		d->nodes[i].self = d->nodes[i].total = 0;
	for (uint32_t i = 0; i < d->nthreads; i++)
		d->threads[i].samples = d->threads[i].active = d->threads[i].gil = 0;
	d->total = d->all = d->active = d->gil = 0;
}

static void sync_all(struct top_data *d, const struct store_profile *p)
{
	if (d->nnodes == 0) {	/* the root node */
		d->nodes = xgrow(d->nodes, &d->capnodes, 1, sizeof(*d->nodes));
		memset(d->nodes, 0, sizeof(*d->nodes));
		d->nodes[0].open = 1;
		d->nnodes = 1;
	}
	sync_threads(d, p);
	sync_frames(d, p);
	sync_callsites(d, p);
}

void top_data_init(struct top_data *d)
{
	memset(d, 0, sizeof(*d));
}

static void free_keys(struct top_data *d)
{
	for (uint32_t i = 0; i < d->nkeys; i++) {
		free(d->keys[i].name);
		free(d->keys[i].file);
	}
	free(d->keys);
	d->keys = NULL;
	d->nkeys = d->capkeys = 0;
	hash_clear(&d->key_hash);
}

void top_data_free(struct top_data *d)
{
	free_keys(d);
	for (uint32_t i = 0; i < d->nthreads; i++)
		free(d->threads[i].name);
	free(d->threads);
	free(d->base), free(d->prev), free(d->win);
	free(d->cs_parent), free(d->cs_key), free(d->cs_node), free(d->fr_key);
	free(d->cs_rec), free(d->sub);
	free(d->fns), free(d->nodes), free(d->touched);
	hash_clear(&d->fn_hash);
	hash_clear(&d->node_hash);
	memset(d, 0, sizeof(*d));
}

/* When most stacks changed, one pass down the call-site ids (children
 * after parents) sums subtrees: O(call sites) instead of O(rows x depth).
 * A call site adds to its function's total only when no ancestor has the
 * same key, so recursion still counts once. */
static void account_bulk(struct top_data *d, struct store_profile *p, uint32_t n)
{
	memset(d->sub, 0, sizeof(*d->sub) * d->ncs);
	d->touched_all = 1;
	for (uint32_t i = 0; i < n; i++) {
		const struct store_stack *st;
		uint64_t dw = d->win[i];
		uint32_t c;

		if (!dw || !(st = store_stack_get(p, i)) || !account_head(d, st, dw, dw))
			continue;
		if ((c = st->callsite < d->ncs ? st->callsite : 0) == 0)
			continue;
		account_leaf(d, c, 0, dw, dw);
		d->sub[c] += dw;
	}
	for (uint32_t c = d->ncs; c-- > 1;) {
		uint64_t v = d->sub[c];
		struct top_node *nd;

		if (!v)
			continue;
		nd = &d->nodes[d->cs_node[c]];
		if (d->tree)
			nd->total += v, nd->wtotal += v;
		if (!d->cs_rec[c]) {
			struct top_fn *f = fn_of(d, d->cs_key[c], 0);

			f->total += v, f->wtotal += v;
		}
		d->sub[d->cs_parent[c]] += v;
	}
	if (d->tree)
		d->nodes[0].total += d->sub[0], d->nodes[0].wtotal += d->sub[0];
}

void top_data_update(struct top_data *d, struct store_profile *p)
{
	uint32_t changed = 0;
	uint32_t n = store_nstacks(p);

	sync_all(d, p);
	clear_window(d);
	grow_rows(d, n);
	if (n > d->nrows)
		d->nrows = n;
	for (uint32_t i = 0; i < n; i++) {
		const struct store_stack *st = store_stack_get(p, i);
		uint64_t w = st ? st->weight : 0, dw;

		/* Weights only grow; a smaller one means a reloaded profile. */
		if (w < d->prev[i])
			d->base[i] = d->prev[i] = 0;
		dw = w - d->prev[i];
		d->win[i] = dw;
		d->prev[i] = w;
		changed += dw != 0;
	}
	/* A walk costs about the depth per changed row, the bulk pass a few
	 * operations per call site. */
	if (!d->split && (d->pass == TOP_PASS_BULK ||
			  (d->pass == TOP_PASS_AUTO && (uint64_t)changed * 16 > d->ncs))) {
		account_bulk(d, p, n);
	} else {
		for (uint32_t i = 0; i < n; i++)
			if (d->win[i])
				account(d, store_stack_get(p, i), d->win[i], d->win[i]);
	}
	d->generation++;
}

void top_data_rebuild(struct top_data *d, struct store_profile *p)
{
	uint32_t n = store_nstacks(p);

	/* Table rows depend on the split setting: count them again. */
	free(d->fns);
	d->fns = NULL;
	d->nfns = d->capfns = 0;
	hash_clear(&d->fn_hash);
	/* Keys and tree nodes depend on the lines setting; kept otherwise,
	 * so the tree's open paths survive a thread switch. */
	if (d->keyed_lines != d->lines || d->keyed_tree != d->tree) {
		if (d->keyed_lines != d->lines)
			free_keys(d);
		free(d->nodes);
		d->nodes = NULL;
		d->nnodes = d->capnodes = 0;
		hash_clear(&d->node_hash);
		if (d->keyed_lines != d->lines)
			d->nfr = 0;
		d->ncs = 0;
		d->keyed_lines = d->lines;
		d->keyed_tree = d->tree;
	}
	sync_all(d, p);
	clear_all(d);
	if (n > d->nrows)
		n = d->nrows;	/* rows not seen yet come with the next update */
	for (uint32_t i = 0; i < n; i++) {
		const struct store_stack *st = store_stack_get(p, i);

		if (st && (d->prev[i] > d->base[i] || d->win[i]))
			account(d, st, d->prev[i] - d->base[i], d->win[i]);
	}
	d->generation++;
}

void top_data_reset(struct top_data *d, struct store_profile *p)
{
	for (uint32_t i = 0; i < d->nrows; i++)
		d->base[i] = d->prev[i];
	top_data_rebuild(d, p);
}

const struct top_thread *top_data_thread(const struct top_data *d, uint32_t id)
{
	return id && id <= d->nthreads ? &d->threads[id - 1] : NULL;
}

const char *top_key_label(const struct top_data *d, uint32_t key, char *buf, size_t n)
{
	const struct top_key *k;
	const char *file;

	if (key >= d->nkeys) {
		snprintf(buf, n, "(unknown)");
		return buf;
	}
	k = &d->keys[key];
	file = k->file;
	if (!*file)
		snprintf(buf, n, "%s", k->name);
	else if (k->line > 0)
		snprintf(buf, n, "%s (%s:%d)", k->name, file, k->line);
	else
		snprintf(buf, n, "%s (%s)", k->name, file);
	return buf;
}
