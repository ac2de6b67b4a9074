/* table.c - a grid of typed cells printed as an aligned table, CSV or JSON (see table.h). */
#include "config.h"

#include "viewer/table.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void view_grid_cols(struct grid *g, const struct col *cols, int n)
{
	memcpy(g->cols, cols, (size_t)n * sizeof(*cols));
	g->ncols = n;
}

struct cell *view_grid_row(struct grid *g)
{
	if (g->nrows == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 64;
		struct cell *c = realloc(g->cells, cap * g->ncols * sizeof(*c));
		const char ***t = realloc(g->tracebacks, cap * sizeof(*t));
		const char **x;

		if (c)
			g->cells = c;
		if (t)
			g->tracebacks = t;
		x = realloc(g->extra, cap * sizeof(*x));
		if (x)
			g->extra = x;
		if (!c || !t || !x) {
			g->failed = 1;
			return NULL;
		}
		g->cap = cap;
	}
	g->tracebacks[g->nrows] = NULL;
	g->extra[g->nrows] = NULL;
	memset(&g->cells[g->nrows * g->ncols], 0, g->ncols * sizeof(struct cell));
	return &g->cells[g->nrows++ * g->ncols];
}

static const char *grid_keep(struct grid *g, char *s)
{
	if (!s) {
		g->failed = 1;
		return "";
	}
	if (g->nowned == g->capowned) {
		size_t cap = g->capowned ? g->capowned * 2 : 64;
		char **q = realloc(g->owned, cap * sizeof(*q));

		if (!q) {
			free(s);
			g->failed = 1;
			return "";
		}
		g->owned = q;
		g->capowned = cap;
	}
	g->owned[g->nowned++] = s;
	return s;
}

const char *view_grid_printf(struct grid *g, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return grid_keep(g, n < 0 ? NULL : s);
}

void view_grid_free(struct grid *g)
{
	for (size_t i = 0; i < g->nowned; i++)
		free(g->owned[i]);
	for (size_t i = 0; i < g->nrows && g->tracebacks; i++)
		free(g->tracebacks[i]);
	free(g->owned);
	free(g->cells);
	free(g->tracebacks);
	free(g->extra);
}

int view_grid_col(const struct grid *g, const char *key)
{
	for (int i = 0; i < g->ncols; i++)
		if (!strcmp(g->cols[i].key, key))
			return i;
	return -1;
}

/* ---- sorting and output ---- */

struct sort_ctx {
	const struct grid *g;
	int col;
};

static int cmp_cells(const void *a, const void *b, void *arg)
{
	const struct sort_ctx *s = arg;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	const struct cell *cx = &s->g->cells[x * s->g->ncols + s->col];
	const struct cell *cy = &s->g->cells[y * s->g->ncols + s->col];
	int c;

	switch (s->g->cols[s->col].type) {
	case T_STR:
		c = strcmp(cx->s, cy->s);
		break;
	case T_PCT:
	case T_DELTA:
		c = cx->d < cy->d ? 1 : cx->d > cy->d ? -1 : 0;
		break;
	default:
		c = cx->i < cy->i ? 1 : cx->i > cy->i ? -1 : 0;
	}
	return c ? c : (x < y ? -1 : x > y);
}

/* Reorders rows by column col, keeping the built order among equals. */
int view_grid_sort(struct grid *g, int col)
{
	size_t *idx = malloc((g->nrows ? g->nrows : 1) * sizeof(*idx));
	struct cell *cells = malloc((g->nrows ? g->nrows : 1) * g->ncols * sizeof(*cells));
	const char ***tb = malloc((g->nrows ? g->nrows : 1) * sizeof(*tb));
	const char **extra = malloc((g->nrows ? g->nrows : 1) * sizeof(*extra));
	struct sort_ctx s = { g, col };

	if (!idx || !cells || !tb || !extra) {
		free(idx);
		free(cells);
		free(tb);
		free(extra);
		return -1;
	}
	for (size_t i = 0; i < g->nrows; i++)
		idx[i] = i;
	qsort_r(idx, g->nrows, sizeof(*idx), cmp_cells, &s);
	for (size_t i = 0; i < g->nrows; i++) {
		memcpy(&cells[i * g->ncols], &g->cells[idx[i] * g->ncols],
		       g->ncols * sizeof(*cells));
		tb[i] = g->tracebacks[idx[i]];
		extra[i] = g->extra[idx[i]];
	}
	free(g->cells);
	free(g->tracebacks);
	free(g->extra);
	g->extra = extra;
	g->cells = cells;
	g->tracebacks = tb;
	free(idx);
	return 0;
}

void view_grid_fmt_ns(char *buf, size_t n, int64_t ns)
{
	double v = (double)ns;

	if (ns < 1000 && ns > -1000)
		snprintf(buf, n, "%" PRId64 "ns", ns);
	else if (ns < 1000000 && ns > -1000000)
		snprintf(buf, n, "%.2fus", v / 1e3);
	else if (ns < 1000000000 && ns > -1000000000)
		snprintf(buf, n, "%.2fms", v / 1e6);
	else
		snprintf(buf, n, "%.2fs", v / 1e9);
}

static void fmt_bytes(char *buf, size_t n, int64_t b)
{
	static const char *units[] = { "KiB", "MiB", "GiB", "TiB" };
	double v = (double)b;
	int u = -1;

	if (b < 1024 && b > -1024) {
		snprintf(buf, n, "%" PRId64 "B", b);
		return;
	}
	while ((v >= 1024 || v <= -1024) && u < 3) {
		v /= 1024;
		u++;
	}
	snprintf(buf, n, "%.1f%s", v, units[u]);
}

/* The text of a cell as the table shows it. */
static const char *cell_text(const struct col *c, const struct cell *v, char *buf, size_t n)
{
	switch (c->type) {
	case T_STR: return v->s;
	case T_PCT: snprintf(buf, n, "%.2f%%", v->d); break;
	case T_DELTA: snprintf(buf, n, "%+.2f", v->d); break;
	case T_NS: view_grid_fmt_ns(buf, n, v->i); break;
	case T_BYTES: fmt_bytes(buf, n, v->i); break;
	default: snprintf(buf, n, "%" PRId64, v->i);
	}
	return buf;
}

static void put_json(FILE *f, const struct grid *g, size_t nrows)
{
	fputc('[', f);
	for (size_t r = 0; r < nrows; r++) {
		const struct cell *row = &g->cells[r * g->ncols];
		int first = 1;

		fputs(r ? ",\n{" : "\n{", f);
		for (int c = 0; c < g->ncols; c++) {
			if (!g->cols[c].data)
				continue;
			if (!first)
				fputs(", ", f);
			first = 0;
			view_json_string(f, g->cols[c].key);
			fputs(": ", f);
			switch (g->cols[c].type) {
			case T_STR: view_json_string(f, row[c].s); break;
			case T_PCT:
			case T_DELTA: fprintf(f, "%.2f", row[c].d); break;
			default: fprintf(f, "%" PRId64, row[c].i);
			}
		}
		if (g->extra[r])
			fputs(g->extra[r], f);
		if (g->tracebacks[r] && !g->tb_table_only) {
			fputs(", \"traceback\": [", f);
			for (const char **t = g->tracebacks[r]; *t; t++) {
				if (t != g->tracebacks[r])
					fputs(", ", f);
				view_json_string(f, *t);
			}
			fputc(']', f);
		}
		fputc('}', f);
	}
	fputs(nrows ? "\n]\n" : "]\n", f);
}

static void put_csv_field(FILE *f, const char *s)
{
	if (!strpbrk(s, ",\"\r\n")) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static void put_csv(FILE *f, const struct grid *g, size_t nrows)
{
	int tb = 0, first = 1;

	for (size_t r = 0; r < nrows && !g->tb_table_only; r++)
		tb |= g->tracebacks[r] != NULL;
	for (int c = 0; c < g->ncols; c++) {
		if (!g->cols[c].data)
			continue;
		fputs(first ? "" : ",", f);
		first = 0;
		fputs(g->cols[c].key, f);
	}
	fputs(tb ? ",traceback\n" : "\n", f);
	for (size_t r = 0; r < nrows; r++) {
		const struct cell *row = &g->cells[r * g->ncols];

		first = 1;
		for (int c = 0; c < g->ncols; c++) {
			if (!g->cols[c].data)
				continue;
			fputs(first ? "" : ",", f);
			first = 0;
			switch (g->cols[c].type) {
			case T_STR: put_csv_field(f, row[c].s); break;
			case T_PCT:
			case T_DELTA: fprintf(f, "%.2f", row[c].d); break;
			default: fprintf(f, "%" PRId64, row[c].i);
			}
		}
		if (tb) {
			fputc(',', f);
			/* One field, frames leaf first, joined by ';' as in folded stacks. */
			char *joined = NULL;
			size_t len = 0;
			FILE *m = open_memstream(&joined, &len);

			for (const char **t = g->tracebacks[r]; m && t && *t; t++)
				fprintf(m, "%s%s", t == g->tracebacks[r] ? "" : ";", *t);
			if (m) {
				fclose(m);
				put_csv_field(f, joined);
			}
			free(joined);
		}
		fputc('\n', f);
	}
}

/* Shares the columns left by the numbers among the text columns: each
 * gets what it needs if it can, the widest are cut to fit. */
static void fit_text_columns(size_t *w, const int *text, int ntext, size_t avail)
{
	size_t need = 0, left = avail;
	int open = ntext, done[16] = { 0 };

	for (int i = 0; i < ntext; i++)
		need += w[text[i]];
	if (need <= avail)
		return;
	for (int changed = 1; changed && open;) {
		size_t fair = left / (size_t)open;

		changed = 0;
		for (int i = 0; i < ntext; i++) {
			if (!done[i] && w[text[i]] <= fair) {
				done[i] = 1;
				left -= w[text[i]];
				open--;
				changed = 1;
			}
		}
	}
	for (int i = 0; i < ntext && open; i++) {
		if (done[i])
			continue;
		w[text[i]] = left / (size_t)open;
		left -= w[text[i]];
		open--;
	}
}

static void put_table(FILE *f, const struct grid *g, size_t nrows, int width, int utf8)
{
	int order[32], n = 0, text[16], ntext = 0;
	size_t w[32] = { 0 }, fixed = 0;
	char buf[64];

	for (int pos = 1; pos <= g->ncols; pos++)
		for (int c = 0; c < g->ncols; c++)
			if (g->cols[c].table == pos && n < 32)
				order[n++] = c;
	for (int i = 0; i < n; i++) {
		const struct col *c = &g->cols[order[i]];

		w[i] = strlen(c->head);
		for (size_t r = 0; r < nrows; r++) {
			size_t l = view_text_width(cell_text(c, &g->cells[r * g->ncols + order[i]],
							     buf, sizeof(buf)));
			if (l > w[i])
				w[i] = l;
		}
		if (c->type == T_STR && ntext < 16)
			text[ntext++] = i;
		else
			fixed += w[i];
		fixed += i ? 2 : 0;
	}
	if (width > 0)
		fit_text_columns(w, text, ntext, (size_t)width > fixed + 8 * ntext ?
						 (size_t)width - fixed : 8 * (size_t)ntext);
	if (g->title) {
		view_text_fit(f, g->title, width > 0 ? (size_t)width : SIZE_MAX, utf8, 0);
		fputc('\n', f);
	}
	for (int i = 0; i < n; i++) {
		const struct col *c = &g->cols[order[i]];
		int last = i == n - 1;

		fputs(i ? "  " : "", f);
		if (c->type == T_STR)
			view_text_fit(f, c->head, w[i], utf8, !last);
		else
			fprintf(f, "%*s", (int)w[i], c->head);
	}
	fputc('\n', f);
	for (size_t r = 0; r < nrows && !ferror(f); r++) {
		for (int i = 0; i < n; i++) {
			const struct col *c = &g->cols[order[i]];
			const char *s = cell_text(c, &g->cells[r * g->ncols + order[i]], buf,
						  sizeof(buf));

			fputs(i ? "  " : "", f);
			if (c->type == T_STR)
				view_text_fit(f, s, w[i], utf8, i != n - 1);
			else
				fprintf(f, "%*s", (int)w[i], s);
		}
		fputc('\n', f);
		for (const char **t = g->tracebacks[r]; t && *t; t++) {
			fputs("    ", f);
			view_text_fit(f, *t, width > 4 ? (size_t)width - 4 : SIZE_MAX, utf8, 0);
			fputc('\n', f);
		}
	}
}


int view_grid_print(FILE *f, const struct grid *g, size_t nrows, enum view_report_format fmt,
		    int width, int utf8, char *err, size_t errlen)
{
	if (fmt == VIEW_JSON)
		put_json(f, g, nrows);
	else if (fmt == VIEW_CSV)
		put_csv(f, g, nrows);
	else
		put_table(f, g, nrows, width, utf8);
	if (fflush(f) != 0 || ferror(f)) {
		snprintf(err, errlen, "write error: %s", strerror(errno));
		return -1;
	}
	return 0;
}

void view_grid_keys(const struct grid *g, char *buf, size_t n)
{
	size_t len = 0;

	buf[0] = 0;
	for (int c = 0; c < g->ncols && len < n; c++)
		if (g->cols[c].data || g->cols[c].table)
			len += (size_t)snprintf(buf + len, n - len, "%s%s", len ? ", " : "",
						g->cols[c].key);
}
