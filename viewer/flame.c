/* flame.c - a call tree merged by frame label: the shape behind folded stacks and flame graphs. */
#include "config.h"

#include "viewer/hash.h"
#include "viewer/viewer.h"

#include <stdlib.h>
#include <string.h>

/* The private index of a tree under construction. */
struct flame_index {
	uint64_t *keys;		/* (parent << 32 | label) + 1, 0 = empty */
	uint32_t *vals;
	uint32_t nslots, used;
	uint32_t *label_slots;	/* label id + 1 */
	uint32_t nlabel_slots, nlabels;
	uint32_t *frame_label;	/* memo per frame id: label id + 1 */
	uint32_t *cs_node;	/* memo per call site: node index + 1 ... */
	uint32_t *cs_gen;	/* ... valid when cs_gen equals the current root */
	uint32_t ncs;
	uint32_t *path;		/* scratch: call sites from a leaf up */
	uint32_t cappath;
	const struct store_profile *p;
};

struct item {
	uint32_t thread, callsite;
	uint64_t weight;
};

struct collect {
	struct item *items;
	size_t n, cap;
	int failed;
};

static int label_rehash(struct view_flame *t, struct flame_index *x)
{
	uint32_t n = x->nlabel_slots ? x->nlabel_slots * 2 : 1024;
	uint32_t *s = calloc(n, sizeof(*s));

	if (!s)
		return -1;
	for (uint32_t i = 0; i < x->nlabels; i++) {
		uint32_t h = view_hash_str(t->names[i]) & (n - 1);

		while (s[h])
			h = (h + 1) & (n - 1);
		s[h] = i + 1;
	}
	free(x->label_slots);
	x->label_slots = s;
	x->nlabel_slots = n;
	return 0;
}

/* The label id of a name, interned (copied) when new; UINT32_MAX on failure. */
static uint32_t label_intern(struct view_flame *t, struct flame_index *x, const char *name)
{
	uint32_t h, i;

	if ((x->nlabels + 1) * 2 > x->nlabel_slots && label_rehash(t, x) < 0)
		return UINT32_MAX;
	h = view_hash_str(name) & (x->nlabel_slots - 1);
	while ((i = x->label_slots[h])) {
		if (!strcmp(t->names[i - 1], name))
			return i - 1;
		h = (h + 1) & (x->nlabel_slots - 1);
	}
	if (x->nlabels % 256 == 0) {
		char **q = realloc(t->names, (x->nlabels + 256) * sizeof(*q));

		if (!q)
			return UINT32_MAX;
		t->names = q;
	}
	if (!(t->names[x->nlabels] = strdup(name)))
		return UINT32_MAX;
	x->label_slots[h] = x->nlabels + 1;
	t->nnames = x->nlabels + 1;
	return x->nlabels++;
}

static uint32_t frame_label(struct view_flame *t, struct flame_index *x, uint32_t frame)
{
	char buf[1024];

	if (frame >= store_nframes(x->p))
		frame = 0;
	if (!x->frame_label[frame]) {
		view_frame_label(x->p, frame, buf, sizeof(buf));
		uint32_t l = label_intern(t, x, buf);

		if (l == UINT32_MAX)
			return l;
		x->frame_label[frame] = l + 1;
	}
	return x->frame_label[frame] - 1;
}

static int node_rehash(struct flame_index *x)
{
	uint32_t n = x->nslots ? x->nslots * 2 : 1024;

	/* A tree has at most one node per call site (and thread): size for
	 * that at once rather than rehash all the way up. */
	while (!x->nslots && n < 2 * x->ncs && n < (1u << 30))
		n *= 2;
	uint64_t *k = calloc(n, sizeof(*k));
	uint32_t *v = calloc(n, sizeof(*v));

	if (!k || !v) {
		free(k);
		free(v);
		return -1;
	}
	for (uint32_t i = 0; i < x->nslots; i++) {
		if (!x->keys[i])
			continue;
		uint32_t h = (uint32_t)view_hash_u64(x->keys[i]) & (n - 1);

		while (k[h])
			h = (h + 1) & (n - 1);
		k[h] = x->keys[i];
		v[h] = x->vals[i];
	}
	free(x->keys);
	free(x->vals);
	x->keys = k;
	x->vals = v;
	x->nslots = n;
	return 0;
}

/* The child of parent labelled label, added when new; UINT32_MAX on failure. */
static uint32_t node_child(struct view_flame *t, struct flame_index *x, uint32_t parent,
			   uint32_t label, uint32_t frame)
{
	uint64_t key = ((uint64_t)parent << 32 | label) + 1;
	uint32_t h;

	if ((x->used + 1) * 2 > x->nslots && node_rehash(x) < 0)
		return UINT32_MAX;
	h = (uint32_t)view_hash_u64(key) & (x->nslots - 1);
	while (x->keys[h]) {
		if (x->keys[h] == key)
			return x->vals[h];
		h = (h + 1) & (x->nslots - 1);
	}
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 1024;
		struct view_flame_node *q = realloc(t->nodes, cap * sizeof(*q));

		if (!q)
			return UINT32_MAX;
		t->nodes = q;
		t->cap = cap;
	}
	t->nodes[t->n] = (struct view_flame_node){
		.name = t->names[label], .frame = frame, .parent = parent,
		.depth = t->nodes[parent].depth + 1,
	};
	if (t->nodes[t->n].depth > t->max_depth)
		t->max_depth = t->nodes[t->n].depth;
	x->keys[h] = key;
	x->vals[h] = t->n;
	x->used++;
	return t->n++;
}

/* The node of call site c under root, creating its path; memoized per
 * call site for the current root.  Iterative: stacks can be deep. */
static uint32_t callsite_node(struct view_flame *t, struct flame_index *x, uint32_t root,
			      uint32_t c)
{
	uint32_t n = 0, node;

	if (c >= x->ncs)
		c = 0;
	/* Walk up to the first memoized ancestor (or the root call site). */
	while (c && !(x->cs_gen[c] == root + 1 && x->cs_node[c])) {
		if (n == x->cappath) {
			uint32_t cap = x->cappath ? x->cappath * 2 : 256;
			uint32_t *q = realloc(x->path, cap * sizeof(*q));

			if (!q)
				return UINT32_MAX;
			x->path = q;
			x->cappath = cap;
		}
		x->path[n++] = c;
		uint32_t up = store_callsite_get(x->p, c)->parent;

		c = up < c ? up : 0;
	}
	node = c ? x->cs_node[c] - 1 : root;
	while (n--) {
		uint32_t cs = x->path[n], fr = store_callsite_get(x->p, cs)->frame;
		uint32_t l = frame_label(t, x, fr);

		if (l == UINT32_MAX)
			return UINT32_MAX;
		node = node_child(t, x, node, l, fr);
		if (node == UINT32_MAX)
			return UINT32_MAX;
		x->cs_node[cs] = node + 1;
		x->cs_gen[cs] = root + 1;
	}
	return node;
}

static void collect_item(void *ctx, uint32_t session, uint32_t thread, uint32_t callsite,
			 uint32_t state, uint64_t weight)
{
	struct collect *c = ctx;

	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 256;
		struct item *q = realloc(c->items, cap * sizeof(*q));

		if (!q) {
			c->failed = 1;
			return;
		}
		c->items = q;
		c->cap = cap;
	}
	c->items[c->n++] = (struct item){ thread, callsite, weight };
}

static int collect_allocs(struct collect *c, const struct store_profile *p,
			  const struct view_filter *f, enum view_weight w)
{
	uint32_t n = store_nallocs(p);

	for (uint32_t i = 0; i < n; i++) {
		const struct store_alloc *a = store_alloc_get(p, i);
		uint64_t v = w == VIEW_WEIGHT_LIVE_BYTES ? a->live_bytes :
			     w == VIEW_WEIGHT_ALLOCS ? a->allocs : a->bytes;

		if (f && f->nsessions && !view_filter_keep(&(struct view_filter){
				.sessions = f->sessions, .nsessions = f->nsessions }, a->session, 0, 0))
			continue;
		if (v)
			collect_item(c, a->session, 0, a->callsite, 0, v);
	}
	return c->failed ? -1 : 0;
}

static int cmp_item_thread(const void *a, const void *b)
{
	const struct item *x = a, *y = b;

	return x->thread < y->thread ? -1 : x->thread > y->thread;
}

static int cmp_child(const void *a, const void *b, void *arg)
{
	const struct view_flame *t = arg;
	const struct view_flame_node *x = &t->nodes[*(const uint32_t *)a];
	const struct view_flame_node *y = &t->nodes[*(const uint32_t *)b];

	return strcmp(x->name, y->name);
}

/* Values summed up the tree, and children linked in name order. */
static int flame_finish(struct view_flame *t)
{
	uint32_t *kids = malloc((size_t)t->n * sizeof(*kids));
	uint32_t *start = calloc((size_t)t->n + 1, sizeof(*start));

	if (!kids || !start) {
		free(kids);
		free(start);
		return -1;
	}
	for (uint32_t i = t->n; i-- > 1;)
		t->nodes[t->nodes[i].parent].value += t->nodes[i].value;
	/* Bucket children by parent (counting sort), then sort each bucket. */
	for (uint32_t i = 1; i < t->n; i++)
		start[t->nodes[i].parent + 1]++;
	for (uint32_t i = 0; i < t->n; i++)
		start[i + 1] += start[i];
	{
		uint32_t *pos = malloc((size_t)t->n * sizeof(*pos));

		if (!pos) {
			free(kids);
			free(start);
			return -1;
		}
		memcpy(pos, start, (size_t)t->n * sizeof(*pos));
		for (uint32_t i = 1; i < t->n; i++)
			kids[pos[t->nodes[i].parent]++] = i;
		free(pos);
	}
	for (uint32_t i = 0; i < t->n; i++) {
		uint32_t a = start[i], b = start[i + 1];

		qsort_r(kids + a, b - a, sizeof(*kids), cmp_child, t);
		t->nodes[i].first_child = a < b ? kids[a] : 0;
		for (uint32_t j = a; j < b; j++)
			t->nodes[kids[j]].next_sibling = j + 1 < b ? kids[j + 1] : 0;
	}
	free(kids);
	free(start);
	return 0;
}

static int thread_root(struct view_flame *t, struct flame_index *x, uint32_t thread,
		       uint32_t *root)
{
	const struct store_thread *th = thread < store_nthreads(x->p) ?
					store_thread_get(x->p, thread) : NULL;
	char buf[512];
	uint32_t l;

	snprintf(buf, sizeof(buf), "thread %lld (%s)", th ? (long long)th->tid : 0LL,
		 th && th->name ? th->name : "");
	l = label_intern(t, x, buf);
	if (l == UINT32_MAX)
		return -1;
	*root = node_child(t, x, 0, l, 0);
	return *root == UINT32_MAX ? -1 : 0;
}

int view_flame_build(struct view_flame *t, const struct store_profile *p,
		     const struct view_filter *f, enum view_weight w, int threads)
{
	struct flame_index x = { .p = p };
	struct collect c = { 0 };
	uint32_t nframes = store_nframes(p), root = 0, cur_thread = UINT32_MAX;
	int rc = -1;

	memset(t, 0, sizeof(*t));
	x.ncs = store_ncallsites(p);
	x.frame_label = calloc(nframes ? nframes : 1, sizeof(*x.frame_label));
	x.cs_node = calloc(x.ncs ? x.ncs : 1, sizeof(*x.cs_node));
	x.cs_gen = calloc(x.ncs ? x.ncs : 1, sizeof(*x.cs_gen));
	if (!x.frame_label || !x.cs_node || !x.cs_gen)
		goto out;
	if (label_intern(t, &x, "all") == UINT32_MAX)
		goto out;
	t->nodes = calloc(1024, sizeof(*t->nodes));
	if (!t->nodes)
		goto out;
	t->cap = 1024;
	t->nodes[0] = (struct view_flame_node){ .name = t->names[0] };
	t->n = 1;
	if (w == VIEW_WEIGHT_SAMPLES) {
		view_visit(p, f, collect_item, &c);
	} else {
		threads = 0;
		if (collect_allocs(&c, p, f, w) < 0)
			goto out;
	}
	if (c.failed)
		goto out;
	if (threads)
		qsort(c.items, c.n, sizeof(*c.items), cmp_item_thread);
	for (size_t i = 0; i < c.n; i++) {
		uint32_t node;

		if (threads && c.items[i].thread != cur_thread) {
			cur_thread = c.items[i].thread;
			if (thread_root(t, &x, cur_thread, &root) < 0)
				goto out;
		}
		node = callsite_node(t, &x, root, c.items[i].callsite);
		if (node == UINT32_MAX)
			goto out;
		t->nodes[node].self += c.items[i].weight;
		t->nodes[node].value += c.items[i].weight;
	}
	rc = flame_finish(t);
out:
	free(c.items);
	free(x.keys);
	free(x.vals);
	free(x.label_slots);
	free(x.frame_label);
	free(x.cs_node);
	free(x.cs_gen);
	free(x.path);
	if (rc < 0)
		view_flame_free(t);
	return rc;
}

void view_flame_free(struct view_flame *t)
{
	for (uint32_t i = 0; i < t->nnames; i++)
		free(t->names[i]);
	free(t->names);
	free(t->nodes);
	memset(t, 0, sizeof(*t));
}
