/* top-view-help.c - the help screen, written from the key table. */
#include "config.h"

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

static void head_text(struct top *t, char *b, size_t n)
{
	snprintf(b, n, "Help (Esc or ? goes back, q quits)");
}

static void row_text(struct top *t, int row, char *b, size_t n)
{
	if (row < NINTRO)
		snprintf(b, n, "%s", intro[row]);
	else
		snprintf(b, n, "  %-14s %s", top_keys[row - NINTRO].label,
			 top_keys[row - NINTRO].help);
}

const struct top_view top_view_help = {
	.name = "Help",
	.prepare = prepare,
	.nrows = nrows,
	.head_text = head_text,
	.row_text = row_text,
};
