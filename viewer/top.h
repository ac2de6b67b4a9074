/* top.h - `sonda top`: the live and recorded ncurses view (entry point for cli/cmd-top.c). */
#ifndef SONDA_VIEWER_TOP_H
#define SONDA_VIEWER_TOP_H

#include <stddef.h>
#include <sys/types.h>

#include "profiler/profiler.h"

struct view_top_options {
	const char *path;	/* a store to browse, or NULL */
	/* Live: prof.pid or prof.argv.  A process running libsonda also
	 * shows its tasks and allocations (its region is read each refresh). */
	struct prof_options prof;
	const char *output;	/* -o: also record into this store, or NULL */
	double refresh_s;	/* seconds between refreshes, default 1 */
	int batch;		/* plain text on stdout, like top -b */
	long iterations;	/* -n: stop after this many refreshes, 0 = no limit */
	int lines;		/* start showing lines rather than functions */
};

/* Runs the view until the user quits, the iterations are done, or (batch)
 * the target exits.  Returns 0, or -1 with a one-line reason in err;
 * *usage is set when the reason is bad input (a missing or broken store). */
int view_top_run(const struct view_top_options *o, int *usage, char *err, size_t errlen);

#endif
