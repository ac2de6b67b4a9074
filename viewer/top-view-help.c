/* top-view-help.c - the help screen, written from the key table. */
#include "config.h"

#include <curses.h>

#include "viewer/top-impl.h"

static const char *const intro[] = {
	"sonda top: where the time goes, live.  Columns:",
	"  %Own    share of the last refresh's samples whose innermost frame is the function",
	"  %Total  share of samples with the function anywhere on the stack (recursion once)",
	"  OwnTime, TotalTime  cumulative seconds since the start or the last reset (R)",
	"",
	"Keys:",
};
#define NINTRO ((int)(sizeof(intro) / sizeof(intro[0])))

static void prepare(struct top *t)
{
}

static int nrows(struct top *t)
{
	return NINTRO + (int)top_nkeys;
}

static void draw_head(struct top *t, int y, int width)
{
	top_attr_on(t, TOP_C_HEAD);
	move(y, 0);
	for (int i = 0; i < width; i++)
		addch(' ');
	top_put(y, 0, "Help (Esc or ? goes back, q quits)", width);
	top_attr_off(t, TOP_C_HEAD);
}

static void draw_row(struct top *t, int row, int y, int width, int selected)
{
	char buf[256];

	if (row < NINTRO) {
		top_put(y, 0, intro[row], width);
		return;
	}
	row -= NINTRO;
	snprintf(buf, sizeof(buf), "  %-14s %s", top_keys[row].label, top_keys[row].help);
	top_put(y, 0, buf, width);
}

static void print(struct top *t, FILE *f)
{
	for (int i = 0; i < NINTRO; i++)
		fprintf(f, "%s\n", intro[i]);
	for (size_t i = 0; i < top_nkeys; i++)
		fprintf(f, "  %-14s %s\n", top_keys[i].label, top_keys[i].help);
}

const struct top_view top_view_help = {
	.name = "Help",
	.prepare = prepare,
	.nrows = nrows,
	.draw_head = draw_head,
	.draw_row = draw_row,
	.print = print,
};
