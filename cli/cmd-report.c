/* cmd-report.c - `sonda report`: a store as tables (functions, lines, files, threads, tasks, allocations). */
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

const struct cli_command cli_cmd_report = {
	"report", run, "print a store as tables: functions, lines, threads, tasks, allocations",
	"usage: sonda report FILE [options]\n"
	"\n"
	"Print what a store holds as a table: where the samples fell per function,\n"
	"line, file or thread, the tracer's tasks, or its allocation sites.\n"
	"Total counts a function once per stack, however deep it recurses.\n"
	"\n"
	"Options:\n"
	"  -b, --by WHAT       function (default), line, file, thread, task or alloc\n"
	"  -n, --limit N       at most N rows (default: 30 in a table, all in csv and json)\n"
	"  -t, --thread TID    only this thread's samples or tasks (repeat for more)\n"
	"  -f, --format FMT    table (default), csv, or json: one array of row objects\n"
	"  -s, --sort COLUMN   sort by a column, named by its JSON key; numbers largest\n"
	"                      first, names in order.  Default: self (function, line,\n"
	"                      file), samples (thread), wall_ns (task), bytes (alloc)\n"
	"      --snapshot LABEL  alloc: the sites of that snapshot, by live bytes\n"
	"      --compare A B     alloc: growth per site from snapshot A to snapshot B\n"
	"      --traceback       alloc: one row per whole stack, its frames below it\n"
	"      --leaks           alloc: what was still live at the end, by stack\n"
	"      --callers         task: each function's callers (<-) and callees (->)\n"
	"  -h, --help          show this text\n"
	"\n"
	"Columns (JSON keys; self and total are sample counts):\n"
	"  function, file  function file module self total self_pct total_pct\n"
	"  line            the same and line\n"
	"  thread          tid name samples pct\n"
	"  task            name thread calls wall_ns self_ns cpu_ns min_ns max_ns\n"
	"                  p50_ns p99_ns (thread is the tid, 0 for all threads merged;\n"
	"                  with --callers, callers and callees: name calls wall_ns self_ns)\n"
	"  alloc           function file line allocs frees bytes live_bytes peak_bytes\n"
	"                  (and traceback, leaf first, with --traceback or --leaks)\n"
	"  alloc --compare function file line size size_diff count count_diff\n"
	"The table also shows location, idle_pct, gil_pct, avg_ns, cpu_pct, live_count;\n"
	"it cuts long names to the terminal's width (or $COLUMNS).\n"
	"\n"
	"Examples:\n"
	"  sonda report run.db -n 20\n"
	"  sonda report run.db --by line --thread 4312 --format json\n"
	"  sonda report run.db --by alloc --compare start end\n",
};

static int parse_by(const char *s, enum view_report_by *by)
{
	static const char *names[] = { "function", "line", "file", "thread", "task", "alloc" };

	for (int i = 0; i < 6; i++) {
		if (!strcmp(s, names[i])) {
			*by = (enum view_report_by)i;
			return 0;
		}
	}
	return -1;
}

static int parse_long(const char *s, long long min, long long *v)
{
	char *end;

	errno = 0;
	*v = strtoll(s, &end, 10);
	return errno || end == s || *end || *v < min ? -1 : 0;
}

static int run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "by", required_argument, NULL, 'b' },
		{ "limit", required_argument, NULL, 'n' },
		{ "thread", required_argument, NULL, 't' },
		{ "format", required_argument, NULL, 'f' },
		{ "sort", required_argument, NULL, 's' },
		{ "snapshot", required_argument, NULL, 'S' },
		{ "compare", required_argument, NULL, 'C' },
		{ "traceback", no_argument, NULL, 'T' },
		{ "leaks", no_argument, NULL, 'L' },
		{ "callers", no_argument, NULL, 'K' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct view_report_opts o = { .by = VIEW_REPORT_FUNCTION, .limit = -1 };
	int64_t tids[64];
	struct store_profile *p;
	char err[512];
	long long v;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "b:n:t:f:s:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'b':
			if (parse_by(optarg, &o.by) < 0) {
				cli_error("report: --by takes function, line, file, thread, task or alloc, not '%s'", optarg);
				return 2;
			}
			break;
		case 'n':
			if (parse_long(optarg, 0, &v) < 0) {
				cli_error("report: -n takes a number of rows, not '%s'", optarg);
				return 2;
			}
			o.limit = (long)v;
			break;
		case 't':
			if (parse_long(optarg, 1, &v) < 0 || o.ntids == 64) {
				cli_error("report: --thread takes a thread id, not '%s'", optarg);
				return 2;
			}
			tids[o.ntids++] = v;
			break;
		case 'f':
			if (!strcmp(optarg, "table"))
				o.format = VIEW_TABLE;
			else if (!strcmp(optarg, "csv"))
				o.format = VIEW_CSV;
			else if (!strcmp(optarg, "json"))
				o.format = VIEW_JSON;
			else {
				cli_error("report: --format takes table, csv or json, not '%s'", optarg);
				return 2;
			}
			break;
		case 's': o.sort = optarg; break;
		case 'S': o.snapshot = optarg; break;
		case 'C':
			if (optind >= argc) {
				cli_error("report: --compare takes two snapshot labels");
				return 2;
			}
			o.compare_a = optarg;
			o.compare_b = argv[optind++];
			break;
		case 'T': o.traceback = 1; break;
		case 'L': o.leaks = 1; break;
		case 'K': o.callers = 1; break;
		case 'h': return cli_usage(&cli_cmd_report, stdout, 0);
		default: return cli_bad_usage(&cli_cmd_report);
		}
	}
	if (optind != argc - 1) {
		cli_error("report: %s", optind >= argc ? "which store? sonda report FILE" :
			  "one store at a time");
		return cli_bad_usage(&cli_cmd_report);
	}
	if ((o.snapshot || o.compare_a || o.traceback || o.leaks) && o.by != VIEW_REPORT_ALLOC) {
		cli_error("report: --snapshot, --compare, --traceback and --leaks go with --by alloc");
		return 2;
	}
	if (o.callers && o.by != VIEW_REPORT_TASK) {
		cli_error("report: --callers goes with --by task");
		return 2;
	}
	if (o.snapshot && o.compare_a) {
		cli_error("report: --snapshot or --compare, not both");
		return 2;
	}
	o.tids = tids;
	if (o.limit < 0)
		o.limit = o.format == VIEW_TABLE ? 30 : 0;
	if (o.format == VIEW_TABLE) {
		o.width = view_term_width(STDOUT_FILENO);
		o.ellipsis_utf8 = view_term_utf8();
	}
	p = store_load(argv[optind], err, sizeof(err));
	if (!p) {
		cli_error("%s: %s", argv[optind], err);
		return 2;
	}
	/* A reader that went away (| head) ends the report, quietly. */
	signal(SIGPIPE, SIG_IGN);
	rc = view_report(stdout, p, &o, err, sizeof(err));
	store_profile_free(p);
	if (rc < 0) {
		if (errno == EPIPE && !strncmp(err, "write error", 11))
			return 0;
		cli_error("report: %s", err);
		return strncmp(err, "write error", 11) ? 2 : 1;
	}
	return 0;
}
