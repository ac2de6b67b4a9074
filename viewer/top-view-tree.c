/* top-view-tree.c - the call tree: paths of functions from the roots, opened and closed in place. */
#include "config.h"

#include <curses.h>
#include <stdlib.h>
#include <string.h>

#include "viewer/top-impl.h"

#define MAX_SHOWN_DEPTH 512	/* deeper rows are not drawn: the screen is not that wide */

static const char *const sort_names[] = { "%Own", "%Total", "OwnTime", "TotalTime" };

static uint64_t node_value(const struct top_node *n, int col)
{
	switch (col) {
	case 0: return n->wself;
	case 1: return n->wtotal;
	case 2: return n->self;
	default: return n->total;
	}
}

static int visible(const struct top_node *n)
{
	return n->total || n->wtotal;
}

static int cmp_node(const void *a, const void *b, void *arg)
{
	struct top *t = arg;
	const struct top_node *x = &t->data.nodes[*(const uint32_t *)a];
	const struct top_node *y = &t->data.nodes[*(const uint32_t *)b];
	int col = t->sort[TOP_VIEW_TREE];
	uint64_t vx = node_value(x, col), vy = node_value(y, col);
	int r;

	if (vx == vy)
		vx = x->total, vy = y->total;
	r = vx < vy ? 1 : vx > vy ? -1 : 0;
	if (t->invert)
		r = -r;
	return r ? r : strcmp(t->data.keys[x->key].name, t->data.keys[y->key].name);
}

static int push_row(struct top *t, uint32_t node)
{
	if (t->nnrows == t->capnrows) {
		uint32_t cap = t->capnrows ? t->capnrows * 2 : 256;
		uint32_t *v = realloc(t->nrows_v, sizeof(*v) * cap);

		if (!v)
			return -1;
		t->nrows_v = v;
		t->capnrows = cap;
	}
	t->nrows_v[t->nnrows++] = node;
	return 0;
}

/* Which nodes a filter keeps: those matching and their ancestors. */
static unsigned char *filter_keep(struct top *t)
{
	struct top_data *d = &t->data;
	unsigned char *keep = calloc(d->nnodes ? d->nnodes : 1, 1);
	unsigned char *kmatch = calloc(d->nkeys ? d->nkeys : 1, 1);

	if (!keep || !kmatch) {
		free(kmatch);
		free(keep);
		return NULL;
	}
	for (uint32_t k = 0; k < d->nkeys; k++)
		kmatch[k] = top_contains(d->keys[k].name, t->filter) ||
			    top_contains(d->keys[k].file, t->filter);
	/* Children always have larger ids than their parent. */
	for (uint32_t i = d->nnodes; i-- > 1;) {
		if (d->nodes[i].key < d->nkeys && kmatch[d->nodes[i].key])
			keep[i] = 1;
		if (keep[i])
			keep[d->nodes[i].parent] = 1;
	}
	free(kmatch);
	return keep;
}

static void add_children(struct top *t, uint32_t node, const unsigned char *keep, int depth)
{
	struct top_data *d = &t->data;
	uint32_t n = 0, *kids;

	for (uint32_t c = d->nodes[node].first; c; c = d->nodes[c].next)
		n += visible(&d->nodes[c]) && (!keep || keep[c]);
	if (!n || depth > MAX_SHOWN_DEPTH || !(kids = malloc(sizeof(*kids) * n)))
		return;
	n = 0;
	for (uint32_t c = d->nodes[node].first; c; c = d->nodes[c].next)
		if (visible(&d->nodes[c]) && (!keep || keep[c]))
			kids[n++] = c;
	qsort_r(kids, n, sizeof(*kids), cmp_node, t);
	for (uint32_t i = 0; i < n; i++) {
		if (push_row(t, kids[i]) < 0)
			break;
		if (d->nodes[kids[i]].open)
			add_children(t, kids[i], keep, depth + 1);
	}
	free(kids);
}

static void prepare(struct top *t)
{
	unsigned char *keep = t->filter[0] ? filter_keep(t) : NULL;

	t->nnrows = 0;
	if (t->data.nnodes)
		add_children(t, 0, keep, 0);
	free(keep);
}

static int nrows(struct top *t)
{
	return (int)t->nnrows;
}

uint32_t top_tree_node(struct top *t, int row)
{
	return row >= 0 && (uint32_t)row < t->nnrows ? t->nrows_v[row] : 0;
}

int top_tree_row_of(struct top *t, uint32_t node)
{
	for (uint32_t i = 0; i < t->nnrows; i++)
		if (t->nrows_v[i] == node)
			return (int)i;
	return -1;
}

static uint32_t heaviest_child(struct top_data *d, uint32_t node)
{
	uint32_t best = 0;

	for (uint32_t c = d->nodes[node].first; c; c = d->nodes[c].next)
		if (visible(&d->nodes[c]) && (!best || d->nodes[c].total > d->nodes[best].total))
			best = c;
	return best;
}

void top_tree_open_heaviest(struct top *t, uint32_t node)
{
	struct top_data *d = &t->data;

	for (int i = 0; node < d->nnodes && i < MAX_SHOWN_DEPTH; i++) {
		d->nodes[node].open = 1;
		if (!(node = heaviest_child(d, node)))
			break;
	}
	t->rows_dirty = 1;
}

static void draw_head(struct top *t, int y, int width)
{
	top_draw_columns(t, y, width, t->sort[TOP_VIEW_TREE], "Call tree (file:line)");
}

static void head_text(struct top *t, char *b, size_t n)
{
	top_columns_text(b, n, "Call tree (file:line)");
}

static void row_text(struct top *t, int row, char *buf, size_t n)
{
	const struct top_node *nd = &t->data.nodes[t->nrows_v[row]];
	char label[512];
	size_t len;
	int depth = (int)nd->depth - 1, ind = depth > 40 ? 40 : depth;

	top_format_numbers(t, buf, n, nd->wself, nd->wtotal, nd->self, nd->total);
	len = strlen(buf);
	top_key_label(&t->data, nd->key, label, sizeof(label));
	snprintf(buf + len, n - len, "%*s%s %s", ind * 2, "",
		 !heaviest_child(&t->data, t->nrows_v[row]) ? " " : nd->open ? "-" : "+", label);
}

static int match(struct top *t, int row, const char *s)
{
	const struct top_key *k = &t->data.keys[t->data.nodes[t->nrows_v[row]].key];

	return top_contains(k->name, s) || top_contains(k->file, s);
}

static uint64_t row_id(struct top *t, int row)
{
	return top_tree_node(t, row);
}

static int find_id(struct top *t, uint64_t id)
{
	return top_tree_row_of(t, (uint32_t)id);
}

static void set_open(struct top_data *d, uint32_t node, int open, int all)
{
	d->nodes[node].open = open;
	if (!all)
		return;
	/* Every node under this one: the ids after it whose ancestor it is. */
	for (uint32_t i = node + 1; i < d->nnodes; i++) {
		uint32_t a = d->nodes[i].parent;
		int steps = 0;

		while (a && a != node && a > node && steps++ < 4096)
			a = d->nodes[a].parent;
		if (a == node || node == 0)
			d->nodes[i].open = open;
	}
}

static void enter(struct top *t, int row)
{
	uint32_t n = top_tree_node(t, row);

	if (n)
		t->data.nodes[n].open = !t->data.nodes[n].open;
	t->rows_dirty = 1;
}

static void expand(struct top *t, int row, int all)
{
	uint32_t n = top_tree_node(t, row);

	set_open(&t->data, all ? 0 : n, 1, all);
	t->rows_dirty = 1;
}

static void collapse(struct top *t, int row, int all)
{
	uint32_t n = top_tree_node(t, row);

	if (all) {
		set_open(&t->data, 0, 0, 1);
		t->data.nodes[0].open = 1;
		/* The cursor goes to the root its row was under. */
		while (n && t->data.nodes[n].parent)
			n = t->data.nodes[n].parent;
	} else if (n && !t->data.nodes[n].open && t->data.nodes[n].parent) {
		n = t->data.nodes[n].parent;	/* closed already: close the parent */
		t->data.nodes[n].open = 0;
	} else if (n) {
		t->data.nodes[n].open = 0;
	}
	prepare(t);
	t->cur[TOP_VIEW_TREE].row = n ? top_tree_row_of(t, n) : 0;
	t->rows_dirty = 1;
}

static int parent(struct top *t, int row)
{
	uint32_t n = top_tree_node(t, row);
	int r;

	if (!n || !t->data.nodes[n].parent)
		return row;
	r = top_tree_row_of(t, t->data.nodes[n].parent);
	return r < 0 ? row : r;
}

static int child(struct top *t, int row)
{
	uint32_t n = top_tree_node(t, row), c;
	int r;

	if (!n || !(c = heaviest_child(&t->data, n)))
		return row;
	t->data.nodes[n].open = 1;
	prepare(t);
	r = top_tree_row_of(t, c);
	return r < 0 ? row : r;
}

const struct top_view top_view_tree = {
	.name = "Call tree",
	.prepare = prepare,
	.nrows = nrows,
	.head_text = head_text,
	.draw_head = draw_head,
	.row_text = row_text,
	.match = match,
	.row_id = row_id,
	.find_id = find_id,
	.enter = enter,
	.expand = expand,
	.collapse = collapse,
	.parent = parent,
	.child = child,
	.nsort = 4,
	.sort_names = sort_names,
};
