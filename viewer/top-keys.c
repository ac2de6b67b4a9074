/* top-keys.c - the keys of `sonda top`: one table drives the loop, the help screen and the key bar. */
#include "config.h"

#include <curses.h>
#include <string.h>

#include "viewer/top-impl.h"

#define KEY_ESC 27
#define CTRL(c) ((c) & 0x1f)

static struct top_cursor *cursor(struct top *t)
{
	return &t->cur[t->view];
}

void top_cursor_fix(struct top *t)
{
	const struct top_view *v = top_current(t);
	struct top_cursor *c = cursor(t);
	int n = v->nrows(t), h = t->body_h > 0 ? t->body_h : 1;

	if (c->row >= n)
		c->row = n - 1;
	if (c->row < 0)
		c->row = 0;
	if (c->top > c->row)
		c->top = c->row;
	if (c->row >= c->top + h)
		c->top = c->row - h + 1;
	if (c->top > n - h)
		c->top = n - h;
	if (c->top < 0)
		c->top = 0;
}

static void remember(struct top *t)
{
	const struct top_view *v = top_current(t);

	if (t->follow && v->row_id && v->nrows(t) > 0)
		t->follow_id = v->row_id(t, cursor(t)->row);
}

static void move_to(struct top *t, int row)
{
	cursor(t)->row = row;
	top_cursor_fix(t);
	remember(t);
}

/* ---- actions */

static void do_move(struct top *t, int key)
{
	struct top_cursor *c = cursor(t);
	int n = top_current(t)->nrows(t), h = t->body_h > 0 ? t->body_h : 1;

	switch (key) {
	case KEY_UP: case 'k': move_to(t, c->row - 1); break;
	case KEY_DOWN: case 'j': move_to(t, c->row + 1); break;
	case KEY_PPAGE: c->top -= h; move_to(t, c->row - h); break;
	case KEY_NPAGE: c->top += h; move_to(t, c->row + h); break;
	case KEY_HOME: move_to(t, 0); break;
	case KEY_END: move_to(t, n - 1); break;
	}
}

static void do_quit(struct top *t, int key)
{
	t->quit = 1;
}

static void do_help(struct top *t, int key)
{
	top_set_view(t, t->view == TOP_VIEW_HELP ? t->back : TOP_VIEW_HELP);
}

static void do_back(struct top *t, int key)
{
	if (t->view == TOP_VIEW_HELP || t->view == TOP_VIEW_THREADS || t->view == TOP_VIEW_FLAME)
		top_set_view(t, t->back);
	else if (t->filter[0]) {
		t->filter[0] = 0;
		t->rows_dirty = 1;
	}
	t->msg[0] = 0;
}

static void do_sort(struct top *t, int key)
{
	const struct top_view *v = top_current(t);
	int *s = &t->sort[t->view];

	if (!v->nsort) {
		top_message(t, 0, "this view is not sortable");
		return;
	}
	if (key >= '1' && key <= '9') {
		if (key - '1' >= v->nsort)
			return;
		*s = key - '1';
	} else if (key == '>' || key == KEY_F(6)) {
		*s = (*s + 1) % v->nsort;
	} else if (key == '<') {
		*s = (*s + v->nsort - 1) % v->nsort;
	}
	t->rows_dirty = 1;
}

static void do_invert(struct top *t, int key)
{
	t->invert = !t->invert;
	t->rows_dirty = 1;
}

static void do_lines(struct top *t, int key)
{
	t->data.lines = !t->data.lines;
	top_settings_changed(t);
	top_message(t, 0, "showing %s", t->data.lines ? "lines" : "functions");
}

static void do_tree(struct top *t, int key)
{
	enum top_view_id v = t->view == TOP_VIEW_TREE ? TOP_VIEW_TABLE : TOP_VIEW_TREE;

	top_set_view(t, v);
	if (v == TOP_VIEW_TREE && t->data.nnodes > 1 && !t->nrows_v)
		top_tree_open_heaviest(t, 0);	/* first time: show the hot path */
}

static void do_flame(struct top *t, int key)
{
	if (t->view == TOP_VIEW_FLAME) {
		top_set_view(t, t->back);
		return;
	}
	t->flame_root = t->view == TOP_VIEW_TREE ? top_tree_node(t, cursor(t)->row) : 0;
	top_set_view(t, TOP_VIEW_FLAME);
}

static void do_tab(struct top *t, int key)
{
	static const enum top_view_id order[] = { TOP_VIEW_TABLE, TOP_VIEW_TASKS, TOP_VIEW_ALLOCS };
	int at = 0;

	for (int i = 0; i < 3; i++)
		if (order[i] == t->view)
			at = i;
	for (int i = 1; i <= 3; i++) {
		enum top_view_id v = order[(at + i) % 3];

		if ((v == TOP_VIEW_TASKS && !top_has_tasks(t)) ||
		    (v == TOP_VIEW_ALLOCS && !top_has_allocs(t)))
			continue;
		top_set_view(t, v);
		return;
	}
}

static void do_tree_op(struct top *t, int key)
{
	const struct top_view *v = top_current(t);
	int row = cursor(t)->row;

	switch (key) {
	case '\n': case '\r': case KEY_ENTER:
		if (v->enter)
			v->enter(t, row);
		break;
	case '+': case '=':
		if (v->expand)
			v->expand(t, row, 0);
		break;
	case '-':
		if (v->collapse)
			v->collapse(t, row, 0);
		break;
	case 'E':
		if (v->expand)
			v->expand(t, row, 1);
		break;
	case 'C':
		if (v->collapse)
			v->collapse(t, row, 1);
		break;
	case 'u':
		if (v->parent)
			move_to(t, v->parent(t, row));
		break;
	case 'l':
		if (v->child)
			move_to(t, v->child(t, row));
		break;
	}
	if (!v->expand && key != '\n' && key != '\r' && key != KEY_ENTER)
		top_message(t, 0, "that key works in the tree (t)");
	t->rows_dirty = 1;
}

static void select_thread(struct top *t, uint32_t id)
{
	const struct top_thread *th;

	t->data.thread = id;
	top_settings_changed(t);
	th = top_data_thread(&t->data, id);
	if (th)
		top_message(t, 0, "thread %lld %s", (long long)th->tid, th->name);
	else
		top_message(t, 0, "all threads");
}

static void do_threads(struct top *t, int key)
{
	uint32_t n = t->data.nthreads, id = t->data.thread;

	if (key == 'T' || key == KEY_F(2)) {
		top_set_view(t, t->view == TOP_VIEW_THREADS ? t->back : TOP_VIEW_THREADS);
		return;
	}
	if (!n)
		return;
	/* 0 (all), 1..n: the cycle includes "all threads". */
	id = key == KEY_RIGHT ? (id + 1) % (n + 1) : (id + n) % (n + 1);
	select_thread(t, id);
}

static void do_split(struct top *t, int key)
{
	t->data.split = !t->data.split;
	top_settings_changed(t);
	top_message(t, 0, "threads %s", t->data.split ? "split: one row per thread" : "merged");
}

static void do_prompt(struct top *t, int key)
{
	t->input[0] = 0;
	if (key == '/' || key == KEY_F(3)) {
		t->prompt = TOP_PROMPT_SEARCH;
	} else if (key == '\\' || key == KEY_F(4)) {
		t->prompt = TOP_PROMPT_FILTER;
		snprintf(t->input, sizeof(t->input), "%s", t->filter);
	} else {
		t->prompt = TOP_PROMPT_EXPORT;
		snprintf(t->input, sizeof(t->input), "svg");
	}
}

/* Next row (dir +1 / -1) after from that matches the search, wrapping. */
static int find_match(struct top *t, int from, int dir, const char *s)
{
	const struct top_view *v = top_current(t);
	int n = v->nrows(t);

	if (!v->match || !*s || n == 0)
		return -1;
	for (int i = 0; i < n; i++) {
		int r = ((from + dir * i) % n + n) % n;

		if (v->match(t, r, s))
			return r;
	}
	return -1;
}

static void do_next(struct top *t, int key)
{
	int dir = key == 'N' ? -1 : 1, r;

	if (!t->search[0]) {
		top_message(t, 0, "no search yet: press /");
		return;
	}
	r = find_match(t, cursor(t)->row + dir, dir, t->search);
	if (r < 0)
		top_message(t, 1, "not found: %s", t->search);
	else
		move_to(t, r);
}

static void do_pause(struct top *t, int key)
{
	t->paused = !t->paused;
	if (!t->paused)
		top_refresh(t);	/* catch up at once */
	top_message(t, 0, t->paused ? "paused: the target is still sampled; P resumes" : "resumed");
}

static void do_reset(struct top *t, int key)
{
	if (t->src.kind == TOP_SRC_FILE) {
		top_message(t, 0, "a recording has nothing to reset");
		return;
	}
	top_source_lock(&t->src);
	top_data_reset(&t->data, t->src.p);
	top_source_unlock(&t->src);
	t->rows_dirty = 1;
	top_message(t, 0, "counts reset");
}

static void do_follow(struct top *t, int key)
{
	t->follow = !t->follow;
	remember(t);
	top_message(t, 0, t->follow ? "following the selected row" : "not following");
}

static void do_snapshot(struct top *t, int key)
{
	char path[512], err[256];

	if (top_snap_save(t, path, sizeof(path), err, sizeof(err)) < 0)
		top_message(t, 1, "snapshot: %s", err);
	else
		top_message(t, 0, "snapshot saved to %s", path);
}

static void do_redraw(struct top *t, int key)
{
	clearok(curscr, TRUE);
}

const struct top_keydef top_keys[] = {
	{ { '?', 'h', KEY_F(1) }, "?  F1", "this help; Esc goes back", "Help", "F1",
	  do_help },
	{ { 'T', KEY_F(2) }, "T  F2", "thread picker", "Threads", "F2", do_threads },
	{ { KEY_LEFT, KEY_RIGHT }, "Left Right", "previous / next thread (and all threads)",
	  NULL, NULL, do_threads },
	{ { 'm' }, "m", "merge / split threads (a row per thread)", NULL, NULL, do_split },
	{ { '/', KEY_F(3) }, "/  F3", "search; n next, N previous", "Search", "F3", do_prompt },
	{ { 'n', 'N' }, "n N", "next / previous match", NULL, NULL, do_next },
	{ { '\\', KEY_F(4) }, "\\  F4", "filter rows by name or file (Esc clears)", "Filter",
	  "F4", do_prompt },
	{ { 't', KEY_F(5) }, "t  F5", "call tree / table", "Tree", "F5", do_tree },
	{ { '>', '<', KEY_F(6) }, "< >  F6", "previous / next sort column", "SortBy", "F6",
	  do_sort },
	{ { '1', '2', '3', '4' }, "1-4", "sort by %Own, %Total, OwnTime, TotalTime", NULL, NULL,
	  do_sort },
	{ { 'I' }, "I", "invert the sort order", NULL, NULL, do_invert },
	{ { 'L' }, "L", "lines / functions", NULL, NULL, do_lines },
	{ { 'P', ' ', KEY_F(7) }, "P  Space  F7", "pause / resume the display", "Pause", "F7",
	  do_pause },
	{ { 'e', KEY_F(8) }, "e  F8", "export the view (folded, svg, speedscope)", "Export",
	  "F8", do_prompt },
	{ { 'g', KEY_F(9) }, "g  F9", "flame graph of the view in the terminal", "Flame",
	  "F9", do_flame },
	{ { 'q', KEY_F(10) }, "q  F10", "quit", "Quit", "F10", do_quit },
	{ { '\n', '\r', KEY_ENTER }, "Enter", "tree: open / close; threads: choose", NULL, NULL,
	  do_tree_op },
	{ { '+', '-', '=' }, "+ -", "tree: expand / collapse", NULL, NULL, do_tree_op },
	{ { 'E', 'C' }, "E C", "tree: expand / collapse all", NULL, NULL, do_tree_op },
	{ { 'u', 'l' }, "u l", "tree: go to the parent / the heaviest child", NULL, NULL,
	  do_tree_op },
	{ { '\t' }, "Tab", "Samples / Tasks / Allocations (libsonda programs)", NULL, NULL,
	  do_tab },
	{ { 'R' }, "R", "reset the counts", NULL, NULL, do_reset },
	{ { 'F' }, "F", "follow the selected function across refreshes", NULL, NULL,
	  do_follow },
	{ { 's' }, "s", "save a snapshot of the view as a store", NULL, NULL, do_snapshot },
	{ { KEY_UP, KEY_DOWN, 'k', 'j' }, "Up Down", "move", NULL, NULL, do_move },
	{ { KEY_PPAGE, KEY_NPAGE }, "PgUp PgDn", "a page up / down", NULL, NULL, do_move },
	{ { KEY_HOME, KEY_END }, "Home End", "first / last row", NULL, NULL, do_move },
	{ { KEY_ESC, KEY_BACKSPACE }, "Esc", "back, or clear the filter", NULL, NULL, do_back },
	{ { CTRL('l') }, "Ctrl-L", "redraw", NULL, NULL, do_redraw },
};
const size_t top_nkeys = sizeof(top_keys) / sizeof(top_keys[0]);

/* ---- prompts: search, filter, export */

static void prompt_done(struct top *t, int accept)
{
	enum top_prompt p = t->prompt;
	char path[512], err[256];

	t->prompt = TOP_PROMPT_NONE;
	if (p == TOP_PROMPT_SEARCH && accept) {
		snprintf(t->search, sizeof(t->search), "%s", t->input);
	} else if (p == TOP_PROMPT_FILTER) {
		if (!accept)
			t->filter[0] = 0;
		t->rows_dirty = 1;
	} else if (p == TOP_PROMPT_EXPORT && accept) {
		if (top_export(t, t->input, path, sizeof(path), err, sizeof(err)) < 0)
			top_message(t, 1, "export: %s", err);
		else
			top_message(t, 0, "exported to %s", path);
	}
}

static void prompt_key(struct top *t, int key)
{
	size_t n = strlen(t->input);

	if (key == KEY_ESC) {
		prompt_done(t, 0);
		return;
	}
	if (key == '\n' || key == '\r' || key == KEY_ENTER) {
		prompt_done(t, 1);
		return;
	}
	if (key == KEY_BACKSPACE || key == 127 || key == CTRL('h')) {
		if (n)
			t->input[n - 1] = 0;
	} else if (key >= 32 && key < 256 && n + 1 < sizeof(t->input)) {
		t->input[n] = (char)key;
		t->input[n + 1] = 0;
	} else {
		return;
	}
	if (t->prompt == TOP_PROMPT_SEARCH) {	/* incremental */
		int r = find_match(t, cursor(t)->row, 1, t->input);

		if (r >= 0)
			move_to(t, r);
	} else if (t->prompt == TOP_PROMPT_FILTER) {
		snprintf(t->filter, sizeof(t->filter), "%s", t->input);
		t->rows_dirty = 1;
	}
}

void top_key(struct top *t, int key)
{
	if (t->prompt != TOP_PROMPT_NONE) {
		prompt_key(t, key);
		return;
	}
	t->msg_error = 0;
	t->msg[0] = 0;
	for (size_t i = 0; i < top_nkeys; i++)
		for (int j = 0; j < 4 && top_keys[i].keys[j]; j++)
			if (top_keys[i].keys[j] == key) {
				top_keys[i].run(t, key);
				return;
			}
}
