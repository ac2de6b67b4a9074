/* export-folded.c - folded stacks: "root;...;leaf COUNT", one line per distinct stack. */
#include "config.h"

#include "viewer/viewer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* A frame as folded stacks need it: ';' and newlines would split it. */
static void put_frame(FILE *f, const char *s)
{
	for (; *s; s++)
		putc(*s == ';' ? ':' : (*s == '\n' || *s == '\r') ? ' ' : *s, f);
}

int view_export_folded(FILE *f, const struct store_profile *p, const struct view_export_opts *o,
		       char *err, size_t errlen)
{
	struct view_flame t;
	uint32_t *path, node;

	if (view_flame_build(&t, p, o ? o->filter : NULL, o ? o->weight : VIEW_WEIGHT_SAMPLES,
			     o && o->threads) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	path = calloc(t.max_depth + 2, sizeof(*path));
	if (!path) {
		view_flame_free(&t);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* Depth first in name order, without recursion: stacks can be deep. */
	node = t.nodes[0].first_child;
	while (node && !ferror(f)) {
		const struct view_flame_node *n = &t.nodes[node];

		path[n->depth] = node;
		if (n->self) {
			for (uint32_t d = 1; d <= n->depth; d++) {
				if (d > 1)
					putc(';', f);
				put_frame(f, t.nodes[path[d]].name);
			}
			fprintf(f, " %llu\n", (unsigned long long)n->self);
		}
		if (n->first_child) {
			node = n->first_child;
			continue;
		}
		while (node && !t.nodes[node].next_sibling)
			node = t.nodes[node].parent;
		if (node)
			node = t.nodes[node].next_sibling;
	}
	free(path);
	view_flame_free(&t);
	if (fflush(f) != 0 || ferror(f)) {
		snprintf(err, errlen, "write error: %s", strerror(errno));
		return -1;
	}
	return 0;
}
