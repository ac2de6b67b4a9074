/* top-view-flame.c - a flame graph in the terminal: one row of blocks per depth, root at the bottom. */
#include "config.h"

#include <curses.h>
#include <stdlib.h>
#include <string.h>

#include "viewer/top-impl.h"

static void prepare(struct top *t)
{
	if (t->flame_root >= t->data.nnodes)
		t->flame_root = 0;
}

static int nrows(struct top *t)
{
	return 0;
}

static int cmp_name(const void *a, const void *b, void *arg)
{
	struct top *t = arg;
	const struct top_node *x = &t->data.nodes[*(const uint32_t *)a];
	const struct top_node *y = &t->data.nodes[*(const uint32_t *)b];

	return strcmp(t->data.keys[x->key].name, t->data.keys[y->key].name);
}

static enum top_color color_of(const char *name)
{
	unsigned h = 5381;

	while (*name)
		h = h * 33 + (unsigned char)*name++;
	return TOP_C_FLAME1 + h % 3;
}

/* Draws node's block on the line `level` rows above bottom, then its
 * children side by side above it, each as wide as its share. */
static void draw_node(struct top *t, uint32_t node, int x, int w, int bottom, int level,
		      int top_line)
{
	struct top_data *d = &t->data;
	const struct top_node *n = &d->nodes[node];
	int y = bottom - level;
	uint32_t nk = 0, *kids;
	uint64_t done = 0;
	char label[512];

	if (w < 1 || y < top_line)
		return;
	if (node == 0) {
		char tm[16];

		top_fmt_time(tm, sizeof(tm), top_samples_to_s(t, n->total));
		snprintf(label, sizeof(label), "all (%s)", tm);
	} else {
		top_key_label(d, n->key, label, sizeof(label));
	}
	top_attr_on(t, node ? color_of(d->keys[n->key].name) : TOP_C_HEAD);
	move(y, x);
	for (int i = 0; i < w; i++)
		addch(' ');
	if (w >= 3)
		top_put(y, x + (w > 1), label, w - 1 - (w > 1));
	top_attr_off(t, node ? color_of(d->keys[n->key].name) : TOP_C_HEAD);
	for (uint32_t c = n->first; c; c = d->nodes[c].next)
		nk += d->nodes[c].total > 0;
	if (!nk || !n->total || !(kids = malloc(sizeof(*kids) * nk)))
		return;
	nk = 0;
	for (uint32_t c = n->first; c; c = d->nodes[c].next)
		if (d->nodes[c].total)
			kids[nk++] = c;
	qsort_r(kids, nk, sizeof(*kids), cmp_name, t);
	for (uint32_t i = 0; i < nk; i++) {
		/* Edges from cumulative sums: no drift, no gaps from rounding. */
		int x0 = x + (int)((double)done * w / n->total);
		int x1;

		done += d->nodes[kids[i]].total;
		x1 = x + (int)((double)done * w / n->total);
		draw_node(t, kids[i], x0, x1 - x0, bottom, level + 1, top_line);
	}
	free(kids);
}

static void draw_body(struct top *t, int y, int height, int width)
{
	uint32_t root = t->flame_root < t->data.nnodes ? t->flame_root : 0;

	if (!t->data.nnodes || !t->data.nodes[root].total) {
		top_put(y, 0, "No samples yet.", width);
		return;
	}
	top_put(y, 0, "Flame graph (root at the bottom; g or Esc goes back):", width);
	draw_node(t, root, 0, width, y + height - 1, 0, y + 1);
}

const struct top_view top_view_flame = {
	.name = "Flame graph",
	.prepare = prepare,
	.nrows = nrows,
	.draw_body = draw_body,
};
