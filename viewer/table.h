/* table.h - inside viewer/: a grid of typed cells printed as an aligned table, CSV or JSON.
 *
 * Every report is built as a grid first: columns (a JSON key, a header,
 * a type, a place in the table or none) and rows of cells.  Sorting,
 * limiting and the three output formats then work the same for all.
 * JSON and CSV carry the columns in their declared order; the table
 * shows its own selection, numbers first, text last, so long names can be
 * cut at the terminal's edge.
 */
#ifndef SONDA_VIEWER_TABLE_H
#define SONDA_VIEWER_TABLE_H

#include "viewer/viewer.h"

enum cell_type {
	T_INT,		/* int64 */
	T_PCT,		/* double, percent */
	T_STR,
	T_NS,		/* int64 nanoseconds: raw in JSON/CSV, human in the table */
	T_BYTES,	/* int64 bytes: raw in JSON/CSV, human in the table */
	T_DELTA,	/* double, a change in percentage points, signed */
};

struct col {
	const char *key;	/* JSON key and --sort name */
	const char *head;	/* table header */
	enum cell_type type;
	int table;		/* position in the table, 1-based; 0: not shown there */
	int data;		/* in JSON and CSV */
};

struct cell {
	int64_t i;
	double d;
	const char *s;
};

struct grid {
	struct col cols[16];
	int ncols;
	struct cell *cells;	/* nrows * ncols */
	const char ***tracebacks;	/* per row, NULL-terminated, or NULL */
	const char **extra;	/* per row, a JSON fragment (", \"k\": v") or NULL */
	int tb_table_only;	/* tracebacks are table lines, not a JSON/CSV field */
	size_t nrows, cap;
	char **owned;		/* strings the cells point to */
	size_t nowned, capowned;
	int failed;
	const char *title;	/* a line above the table */
};

void view_grid_cols(struct grid *g, const struct col *cols, int n);
/* A new zeroed row, or NULL (and g->failed) when memory runs out. */
struct cell *view_grid_row(struct grid *g);
/* A copy of the formatted string that lives as long as the grid. */
const char *view_grid_printf(struct grid *g, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void view_grid_free(struct grid *g);
int view_grid_col(const struct grid *g, const char *key);
/* Reorders rows by a column (numbers descending, text ascending), stable. */
int view_grid_sort(struct grid *g, int col);
/* Prints the first nrows rows; 0 or -1 with err set. */
int view_grid_print(FILE *f, const struct grid *g, size_t nrows, enum view_report_format fmt,
		    int width, int utf8, char *err, size_t errlen);
/* Nanoseconds as a table shows them: "850ns", "12.30us", "4.00ms", "1.50s". */
void view_grid_fmt_ns(char *buf, size_t n, int64_t ns);
/* "function, file, ...": the keys --sort accepts. */
void view_grid_keys(const struct grid *g, char *buf, size_t n);

#endif
