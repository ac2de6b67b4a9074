/* cmd-diff.c - `sonda diff`: what got slower and what got faster between two stores. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "store/store.h"
#include "viewer/viewer.h"

static int run(int argc, char **argv);

const struct cli_command cli_cmd_diff = {
	"diff", run, "compare two stores: what got slower, what got faster",
	"usage: sonda diff BASE NEW [options]\n"
	"\n"
	"Compare two stores function by function: the share of the samples each\n"
	"function took itself (self) and with its callees (total) in BASE and in\n"
	"NEW, and the change in percentage points.  Rows come largest change of\n"
	"self percent first, then of total percent: + got slower (a larger share),\n"
	"- got faster.  Functions match by name, file and module.\n"
	"\n"
	"Options:\n"
	"  -n, --limit N      at most N rows (default: 30 in a table, all in json)\n"
	"  -f, --format FMT   table (default) or json: one array of row objects with\n"
	"                     the keys function file module base_self_pct new_self_pct\n"
	"                     self_delta base_total_pct new_total_pct total_delta\n"
	"                     base_self new_self base_total new_total (counts)\n"
	"  -h, --help         show this text\n"
	"\n"
	"Example:\n"
	"  sonda diff before.db after.db -n 10\n",
};

static int run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "limit", required_argument, NULL, 'n' },
		{ "format", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct view_diff_opts o = { .format = VIEW_TABLE, .limit = -1 };
	struct store_profile *a, *b;
	char err[512], *end;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "n:f:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			errno = 0;
			o.limit = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || o.limit < 0) {
				cli_error("diff: -n takes a number of rows, not '%s'", optarg);
				return 2;
			}
			break;
		case 'f':
			if (!strcmp(optarg, "table"))
				o.format = VIEW_TABLE;
			else if (!strcmp(optarg, "json"))
				o.format = VIEW_JSON;
			else {
				cli_error("diff: --format takes table or json, not '%s'", optarg);
				return 2;
			}
			break;
		case 'h': return cli_usage(&cli_cmd_diff, stdout, 0);
		default: return cli_bad_usage(&cli_cmd_diff);
		}
	}
	if (argc - optind != 2) {
		cli_error("diff: two stores, please: sonda diff BASE NEW");
		return cli_bad_usage(&cli_cmd_diff);
	}
	if (o.limit < 0)
		o.limit = o.format == VIEW_TABLE ? 30 : 0;
	if (o.format == VIEW_TABLE) {
		o.width = view_term_width(STDOUT_FILENO);
		o.ellipsis_utf8 = view_term_utf8();
	}
	if (!(a = store_load(argv[optind], err, sizeof(err)))) {
		cli_error("%s: %s", argv[optind], err);
		return 2;
	}
	if (!(b = store_load(argv[optind + 1], err, sizeof(err)))) {
		cli_error("%s: %s", argv[optind + 1], err);
		store_profile_free(a);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	rc = view_diff(stdout, a, b, &o, err, sizeof(err));
	store_profile_free(a);
	store_profile_free(b);
	if (rc < 0) {
		if (errno == EPIPE && !strncmp(err, "write error", 11))
			return 0;
		cli_error("diff: %s", err);
		return 1;
	}
	return 0;
}
