/* top-draw.c - the screen of `sonda top`: header, tabs, the view's rows, prompt and key bar. */
#include "config.h"

#include <curses.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "viewer/top-impl.h"

/* ---- colours, or attributes alone on a terminal without them / NO_COLOR */

static const struct {
	short fg, bg;
	attr_t attr;		/* with colours */
	attr_t mono;		/* without */
} palette[] = {
	[TOP_C_NORMAL] = { -1, -1, A_NORMAL, A_NORMAL },
	[TOP_C_HEAD] = { COLOR_BLACK, COLOR_GREEN, A_NORMAL, A_REVERSE },
	[TOP_C_SORTED] = { COLOR_BLACK, COLOR_CYAN, A_BOLD, A_REVERSE | A_BOLD | A_UNDERLINE },
	[TOP_C_SELECT] = { COLOR_BLACK, COLOR_CYAN, A_NORMAL, A_REVERSE },
	[TOP_C_WARN] = { COLOR_RED, -1, A_BOLD, A_BOLD },
	[TOP_C_BAR_KEY] = { -1, -1, A_NORMAL, A_NORMAL },
	[TOP_C_BAR_LABEL] = { COLOR_BLACK, COLOR_CYAN, A_NORMAL, A_REVERSE },
	[TOP_C_DIM] = { COLOR_BLUE, -1, A_BOLD, A_DIM },
	[TOP_C_MATCH] = { COLOR_YELLOW, -1, A_BOLD, A_BOLD | A_UNDERLINE },
	[TOP_C_FLAME1] = { COLOR_BLACK, COLOR_RED, A_NORMAL, A_REVERSE },
	[TOP_C_FLAME2] = { COLOR_BLACK, COLOR_YELLOW, A_NORMAL, A_NORMAL },
	[TOP_C_FLAME3] = { COLOR_BLACK, COLOR_MAGENTA, A_NORMAL, A_REVERSE | A_BOLD },
	[TOP_C_TAB] = { COLOR_BLACK, COLOR_WHITE, A_BOLD, A_REVERSE | A_BOLD },
};

void top_draw_init_colors(struct top *t)
{
	const char *nc = getenv("NO_COLOR");

	t->colors = has_colors() && !(nc && *nc);
	if (!t->colors)
		return;
	start_color();
	use_default_colors();
	for (size_t i = 1; i < sizeof(palette) / sizeof(palette[0]); i++)
		init_pair((short)i, palette[i].fg, palette[i].bg);
}

static attr_t attr_of(struct top *t, enum top_color c)
{
	if (!t->colors)
		return palette[c].mono;
	return palette[c].attr | (c ? COLOR_PAIR(c) : 0);
}

void top_attr_on(struct top *t, enum top_color c)
{
	attron(attr_of(t, c));
}

void top_attr_off(struct top *t, enum top_color c)
{
	attroff(attr_of(t, c));
}

/* ---- text helpers */

int top_contains(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	if (!n)
		return 1;
	for (; *hay; hay++)
		if (!strncasecmp(hay, needle, n))
			return 1;
	return 0;
}

/* Bytes of s that fit in width columns (one column per code point). */
static size_t fit_bytes(const char *s, int width, int *cols)
{
	size_t i = 0;
	int c = 0;

	while (s[i] && c < width) {
		i++;
		while (((unsigned char)s[i] & 0xc0) == 0x80)
			i++;
		c++;
	}
	*cols = c;
	return i;
}

int top_put(int y, int x, const char *s, int width)
{
	int cols;
	size_t n;

	if (width <= 0)
		return 0;
	n = fit_bytes(s, width, &cols);
	mvaddnstr(y, x, s, (int)n);
	return cols;
}

void top_draw_line(struct top *t, int y, int width, int selected, const char *text)
{
	if (selected) {
		top_attr_on(t, TOP_C_SELECT);
		move(y, 0);
		for (int i = 0; i < width; i++)
			addch(' ');
	}
	top_put(y, 0, text, width);
	if (selected)
		top_attr_off(t, TOP_C_SELECT);
}

void top_fmt_time(char *buf, size_t n, double s)
{
	if (s < 100)
		snprintf(buf, n, "%.2fs", s);
	else if (s < 6000)
		snprintf(buf, n, "%.0fs", s);
	else
		snprintf(buf, n, "%.0fm", s / 60);
}

void top_fmt_ns(char *buf, size_t n, int64_t ns)
{
	double v = (double)ns;

	if (ns < 1000)
		snprintf(buf, n, "%lldns", (long long)ns);
	else if (ns < 1000000)
		snprintf(buf, n, "%.1fus", v / 1e3);
	else if (ns < 1000000000)
		snprintf(buf, n, "%.1fms", v / 1e6);
	else
		snprintf(buf, n, "%.2fs", v / 1e9);
}

void top_fmt_bytes(char *buf, size_t n, uint64_t b)
{
	if (b < 1024)
		snprintf(buf, n, "%lluB", (unsigned long long)b);
	else if (b < 1024 * 1024)
		snprintf(buf, n, "%.1fK", b / 1024.0);
	else if (b < 1024ULL * 1024 * 1024)
		snprintf(buf, n, "%.1fM", b / 1048576.0);
	else
		snprintf(buf, n, "%.2fG", b / 1073741824.0);
}

double top_samples_to_s(const struct top *t, uint64_t samples)
{
	double rate = t->info.rate_hz > 0 ? t->info.rate_hz : 100;

	return samples / rate;
}

static void fmt_elapsed(char *buf, size_t n, double s)
{
	long v = (long)s;

	snprintf(buf, n, "%ld:%02ld:%02ld", v / 3600, v / 60 % 60, v % 60);
}

static double pct(uint64_t a, uint64_t b)
{
	return b ? 100.0 * (double)a / (double)b : 0;
}

/* ---- the header, shared with --batch */

/* The command is cut in the middle when the line would not fit, so the
 * runtime and the pid stay visible. */
static void describe_target(struct top *t, char *buf, size_t n)
{
	const struct top_info *in = &t->info;
	const char *lead = t->src.kind == TOP_SRC_LIVE ? "Collecting samples from" :
			   t->src.kind == TOP_SRC_REGION ? "Tracing" : "Recorded";
	char rt[256] = "", tail[320], what[256], at[600] = "";
	int width = t->batch ? 0 : t->cols, room;
	size_t len = strlen(in->what);

	if (in->runtime[0])
		snprintf(rt, sizeof(rt), " (%s)", in->runtime);
	snprintf(tail, sizeof(tail), "'%s, pid %lld", rt, (long long)in->pid);
	if (t->src.kind == TOP_SRC_FILE)
		snprintf(at, sizeof(at), " in %s:", t->src.path);
	room = width - (int)(strlen(lead) + strlen(at) + 2 + strlen(tail));
	if (width && room < (int)len && room >= 9) {
		int head = (room - 3) / 2, end = room - 3 - head;

		snprintf(what, sizeof(what), "%.*s...%s", head, in->what, in->what + len - end);
	} else {
		snprintf(what, sizeof(what), "%s", in->what);
	}
	snprintf(buf, n, "%s%s '%s%s", lead, at, what, tail);
}

static void describe_threads(struct top *t, char *buf, size_t n)
{
	const struct top_data *d = &t->data;
	int live = t->src.kind != TOP_SRC_FILE;
	uint64_t all = live ? d->wall : d->all;
	uint64_t active = live ? d->wactive : d->active, gil = live ? d->wgil : d->gil;
	const struct top_thread *th = top_data_thread(d, d->thread);
	char shown[128];

	if (th)
		snprintf(shown, sizeof(shown), "thread %lld%s%s", (long long)th->tid,
			 th->name[0] ? " " : "", th->name);
	else
		snprintf(shown, sizeof(shown), "all threads %s", d->split ? "split" : "merged");
	snprintf(buf, n, "Threads %d: active %.0f%%, idle %.0f%%, GIL %.0f%%   Showing: %s",
		 t->info.nthreads, pct(active, all), all ? 100 - pct(active, all) : 0,
		 pct(gil, all), shown);
}

int top_header_lines(struct top *t, char lines[][512], int max, int *warn)
{
	const struct top_info *in = &t->info;
	char el[32], rate[96], errs[256] = "", tail[256] = "";
	uint64_t tries = in->samples + in->errors;
	int n = 0;

	*warn = -1;
	if (max < 4)
		return 0;
	describe_target(t, lines[n++], 512);
	fmt_elapsed(el, sizeof(el), in->elapsed_s);
	if (in->rate_hz > 0)
		snprintf(rate, sizeof(rate), "rate %.0f Hz requested, %.1f Hz achieved",
			 in->rate_hz, in->achieved_hz);
	else
		snprintf(rate, sizeof(rate), "traced in process");
	if (in->errors)
		snprintf(errs, sizeof(errs), "   Errors %.1f%% (last: %s)", pct(in->errors, tries),
			 in->last_error[0] ? in->last_error : "?");
	else
		snprintf(errs, sizeof(errs), "   Errors 0%%");
	snprintf(lines[n++], 512, "Total Samples %llu   %s%s   Elapsed %s",
		 (unsigned long long)in->samples, rate, errs, el);
	describe_threads(t, lines[n], 512);
	if (t->paused)
		strcat(tail, "   [PAUSED]");
	if (t->src.kind == TOP_SRC_LIVE && t->src.path)
		snprintf(tail + strlen(tail), sizeof(tail) - strlen(tail), "   Recording to %s",
			 t->src.path);
	strncat(lines[n], tail, 511 - strlen(lines[n]));
	n++;
	/* A few late ticks at attach are normal; more than 1% is not. */
	if (in->missed * 100 > in->missed + in->samples && t->src.kind == TOP_SRC_LIVE) {
		*warn = n;
		snprintf(lines[n++], 512,
			 "Behind in sampling: %llu samples late or missed (%.1f%%); results may be "
			 "inaccurate, lower the rate with -r",
			 (unsigned long long)in->missed, pct(in->missed, in->missed + in->samples));
	}
	return n;
}

/* ---- the screen */

static void draw_header(struct top *t, int *y)
{
	char lines[8][512];
	int warn, n = top_header_lines(t, lines, 8, &warn);

	for (int i = 0; i < n && *y < t->lines - 2; i++, (*y)++) {
		if (i == warn)
			top_attr_on(t, TOP_C_WARN);
		top_put(*y, 0, lines[i], t->cols);
		if (i == warn)
			top_attr_off(t, TOP_C_WARN);
	}
}

static void draw_tabs(struct top *t, int y)
{
	static const struct { enum top_view_id v; const char *name; } tabs[] = {
		{ TOP_VIEW_TABLE, "Samples" }, { TOP_VIEW_TASKS, "Tasks" },
		{ TOP_VIEW_ALLOCS, "Allocations" },
	};
	const struct top_view *v = top_current(t);
	int x = 0;
	char desc[256];

	if (top_has_tasks(t) || top_has_allocs(t)) {
		for (size_t i = 0; i < 3; i++) {
			int on = t->view == tabs[i].v ||
				 (i == 0 && (t->view == TOP_VIEW_TREE || t->view == TOP_VIEW_FLAME));
			char b[32];

			if ((i == 1 && !top_has_tasks(t)) || (i == 2 && !top_has_allocs(t)))
				continue;
			snprintf(b, sizeof(b), " %s ", tabs[i].name);
			if (on)
				top_attr_on(t, TOP_C_TAB);
			x += top_put(y, x, b, t->cols - x);
			if (on)
				top_attr_off(t, TOP_C_TAB);
			x += top_put(y, x, " ", t->cols - x);
		}
		x += top_put(y, x, "(Tab)  ", t->cols - x);
	}
	snprintf(desc, sizeof(desc), "%s%s%s%s%s%s%s", v->name,
		 t->view == TOP_VIEW_TABLE || t->view == TOP_VIEW_TREE ?
		 (t->data.lines ? ", lines" : ", functions") : "",
		 v->nsort ? ", sorted by " : "", v->nsort ? v->sort_names[t->sort[t->view]] : "",
		 v->nsort && t->invert ? " (inverted)" : "",
		 t->follow ? ", following" : "", t->filter[0] ? ", filter: " : "");
	x += top_put(y, x, desc, t->cols - x);
	if (t->filter[0]) {
		top_attr_on(t, TOP_C_MATCH);
		top_put(y, x, t->filter, t->cols - x);
		top_attr_off(t, TOP_C_MATCH);
	}
}

/* The last line: htop's function-key bar, drawn from the key table. */
static void draw_bar(struct top *t, int y)
{
	int x = 0;
	char label[32];

	move(y, 0);
	clrtoeol();
	for (size_t i = 0; i < top_nkeys && x < t->cols; i++) {
		const struct top_keydef *k = &top_keys[i];

		if (!k->bar)
			continue;
		top_attr_on(t, TOP_C_BAR_KEY);
		x += top_put(y, x, k->barkey, t->cols - x);
		top_attr_off(t, TOP_C_BAR_KEY);
		top_attr_on(t, TOP_C_BAR_LABEL);
		snprintf(label, sizeof(label), "%-6s", k->bar);
		x += top_put(y, x, label, t->cols - x);
		top_attr_off(t, TOP_C_BAR_LABEL);
	}
}

static void draw_prompt(struct top *t, int y)
{
	static const char *const names[] = { "", "Search: ", "Filter: ", "Export (folded, svg, speedscope): " };

	move(y, 0);
	clrtoeol();
	if (t->prompt != TOP_PROMPT_NONE) {
		int x = top_put(y, 0, names[t->prompt], t->cols);

		x += top_put(y, x, t->input, t->cols - x);
		curs_set(1);
		move(y, x < t->cols ? x : t->cols - 1);
		return;
	}
	if (t->msg[0]) {
		if (t->msg_error)
			top_attr_on(t, TOP_C_WARN);
		top_put(y, 0, t->msg, t->cols);
		if (t->msg_error)
			top_attr_off(t, TOP_C_WARN);
	}
}

static void draw_view_head(struct top *t, const struct top_view *v, int y)
{
	char b[512] = "";

	if (v->draw_head) {
		v->draw_head(t, y, t->cols);
		return;
	}
	v->head_text(t, b, sizeof(b));
	top_attr_on(t, TOP_C_HEAD);
	move(y, 0);
	for (int i = 0; i < t->cols; i++)
		addch(' ');
	top_put(y, 0, b, t->cols);
	top_attr_off(t, TOP_C_HEAD);
}

static void draw_view_row(struct top *t, const struct top_view *v, int row, int y,
			  int selected)
{
	char b[1024];

	v->row_text(t, row, b, sizeof(b));
	top_draw_line(t, y, t->cols, selected, b);
}

void top_print_view(struct top *t, const struct top_view *v, FILE *f)
{
	char b[1024];
	int n = v->nrows(t);

	if (!v->row_text)
		return;
	v->head_text(t, b, sizeof(b));
	fprintf(f, "%s\n", b);
	for (int i = 0; i < n; i++) {
		v->row_text(t, i, b, sizeof(b));
		fprintf(f, "%s\n", b);
	}
}

void top_draw(struct top *t)
{
	const struct top_view *v = top_current(t);
	struct top_cursor *c = &t->cur[t->view];
	int y = 0, body, n;

	char hl[8][512];
	int warn, nh = top_header_lines(t, hl, 8, &warn);

	getmaxyx(stdscr, t->lines, t->cols);
	erase();
	curs_set(0);
	/* header, tabs line, column header (unless the view draws itself), prompt, bar */
	t->body_h = t->lines - nh - 3 - (v->draw_body ? 0 : 1);
	if (t->body_h < 1)
		t->body_h = 1;
	if (t->rows_dirty) {
		v->prepare(t);
		t->rows_dirty = 0;
		if (t->follow && v->find_id) {
			int r = v->find_id(t, t->follow_id);

			if (r >= 0)
				c->row = r;
		}
	}
	top_cursor_fix(t);
	draw_header(t, &y);
	if (y < t->lines - 2)
		draw_tabs(t, y++);
	if (v->draw_body) {
		body = t->lines - 2 - y;
		if (body > 0)
			v->draw_body(t, y, body, t->cols);
	} else {
		if (y < t->lines - 2)
			draw_view_head(t, v, y++);
		body = t->lines - 2 - y;
		n = v->nrows(t);
		for (int i = 0; i < body && c->top + i < n; i++)
			draw_view_row(t, v, c->top + i, y + i, c->top + i == c->row);
	}
	if (t->lines >= 2)
		draw_bar(t, t->lines - 1);
	if (t->lines >= 3)
		draw_prompt(t, t->lines - 2);
	refresh();
}
