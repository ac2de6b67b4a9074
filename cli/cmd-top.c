/* cmd-top.c - `sonda top`: parse options, then hand over to the viewer's event loop. */
#include "config.h"

#include <getopt.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "viewer/top.h"

static const char usage[] =
	"usage: sonda top [options] -p PID\n"
	"       sonda top [options] -- COMMAND [ARGS...]\n"
	"       sonda top [options] FILE.db\n"
	"\n"
	"Show where a program's time goes, live, like top: a table of functions\n"
	"(%Own %Total OwnTime TotalTime Function), a call tree and a flame graph.\n"
	"Press ? in the view for the keys.\n"
	"\n"
	"What to watch:\n"
	"  -p, --pid PID         sample a running process; when it runs libsonda,\n"
	"                        its tasks and allocations get tabs of their own\n"
	"  -- COMMAND...         launch COMMAND and sample it\n"
	"  FILE.db               browse a recorded store\n"
	"\n"
	"Sampling (as in sonda record):\n"
	"  -r, --rate HZ         samples per second (default 100)\n"
	"      --mode MODE       auto, python, cpu or wall (default auto)\n"
	"      --native          mixed Python and native stacks\n"
	"      --idle            keep idle threads (marked idle)\n"
	"      --gil             keep only the thread holding the GIL\n"
	"  -o, --output FILE     also record into the store FILE while watching\n"
	"\n"
	"Display:\n"
	"      --refresh SECONDS time between refreshes (default 1)\n"
	"  -L, --lines           start with lines rather than functions\n"
	"  -b, --batch           print the table as text every refresh (the default\n"
	"                        when stdout is not a terminal), like top -b\n"
	"  -n, --iterations N    stop after N refreshes\n"
	"  -h, --help            this help\n"
	"\n"
	"Keys: 1-4 sort, < > sort column, I invert, L lines, t tree, g flame graph,\n"
	"Left/Right threads, T thread picker, m merge/split threads, / search, \\ filter,\n"
	"P pause, R reset, F follow, s snapshot, e export, Tab tasks/allocations,\n"
	"? help, q quit.  See man sonda-top.\n";

enum { OPT_MODE = 256, OPT_NATIVE, OPT_IDLE, OPT_GIL, OPT_REFRESH };

static const struct option longopts[] = {
	{ "pid", required_argument, NULL, 'p' },
	{ "rate", required_argument, NULL, 'r' },
	{ "mode", required_argument, NULL, OPT_MODE },
	{ "native", no_argument, NULL, OPT_NATIVE },
	{ "idle", no_argument, NULL, OPT_IDLE },
	{ "gil", no_argument, NULL, OPT_GIL },
	{ "output", required_argument, NULL, 'o' },
	{ "refresh", required_argument, NULL, OPT_REFRESH },
	{ "lines", no_argument, NULL, 'L' },
	{ "batch", no_argument, NULL, 'b' },
	{ "iterations", required_argument, NULL, 'n' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int parse_number(const char *s, double min, double max, double *out)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end || !(v >= min && v <= max))
		return -1;
	*out = v;
	return 0;
}

static int parse_mode(const char *s, enum prof_mode *m)
{
	static const char *const names[] = { "auto", "python", "cpu", "wall" };

	for (int i = 0; i < 4; i++)
		if (!strcmp(s, names[i])) {
			*m = (enum prof_mode)i;
			return 0;
		}
	return -1;
}

static int bad(const char *fmt, const char *arg)
{
	cli_error(fmt, arg);
	return cli_bad_usage(&cli_cmd_top);
}

static int run(int argc, char **argv)
{
	struct view_top_options o;
	char err[512];
	double v;
	int c, usage_err, sources;

	memset(&o, 0, sizeof(o));
	o.prof.rate_hz = 100;
	o.refresh_s = 1;
	setlocale(LC_ALL, "");
	while ((c = getopt_long(argc, argv, "+p:r:o:Lbn:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (parse_number(optarg, 1, 4194304, &v) < 0 || v != (double)(pid_t)v)
				return bad("top: --pid needs a process id, not '%s'", optarg);
			o.prof.pid = (pid_t)v;
			break;
		case 'r':
			if (parse_number(optarg, 0.1, 100000, &o.prof.rate_hz) < 0)
				return bad("top: --rate needs a number of Hz (0.1 to 100000), not '%s'",
					   optarg);
			break;
		case OPT_MODE:
			if (parse_mode(optarg, &o.prof.mode) < 0)
				return bad("top: --mode is auto, python, cpu or wall, not '%s'", optarg);
			break;
		case OPT_NATIVE: o.prof.native = 1; break;
		case OPT_IDLE: o.prof.idle = 1; break;
		case OPT_GIL: o.prof.gil = 1; break;
		case 'o': o.output = optarg; break;
		case OPT_REFRESH:
			if (parse_number(optarg, 0.05, 3600, &o.refresh_s) < 0)
				return bad("top: --refresh needs seconds (0.05 to 3600), not '%s'",
					   optarg);
			break;
		case 'L': o.lines = 1; break;
		case 'b': o.batch = 1; break;
		case 'n':
			if (parse_number(optarg, 1, 1e12, &v) < 0 || v != (double)(long)v)
				return bad("top: --iterations needs a positive whole number, not '%s'",
					   optarg);
			o.iterations = (long)v;
			break;
		case 'h':
			return cli_usage(&cli_cmd_top, stdout, 0);
		default:
			return cli_bad_usage(&cli_cmd_top);
		}
	}
	/* "--" before a command: getopt stops there and leaves the command. */
	if (optind < argc && optind > 1 && !strcmp(argv[optind - 1], "--"))
		o.prof.argv = argv + optind;
	else if (optind < argc) {
		o.path = argv[optind];
		if (optind + 1 < argc)
			return bad("top: one store at a time ('%s' is one too many)",
				   argv[optind + 1]);
	}
	sources = (o.prof.pid != 0) + (o.prof.argv != NULL) + (o.path != NULL);
	if (sources != 1) {
		cli_error("top: %s", sources ? "give one of -p PID, -- COMMAND or FILE.db"
					     : "what to watch? -p PID, -- COMMAND or FILE.db");
		return cli_bad_usage(&cli_cmd_top);
	}
	if (o.output && o.path)
		return bad("top: %s", "-o records a live sampler: use it with -p or a command");
	if (view_top_run(&o, &usage_err, err, sizeof(err)) < 0) {
		cli_error("%s", err);
		return usage_err ? 2 : 1;
	}
	return 0;
}

const struct cli_command cli_cmd_top = {
	"top", run, "live view of where the time goes (also of a recording)", usage,
};
