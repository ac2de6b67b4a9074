/* cmd-export.c - `sonda export`: a store as folded stacks, an SVG flame graph, speedscope, Chrome trace or pprof. */
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

const struct cli_command cli_cmd_export = {
	"export", run, "write a store as folded stacks, SVG flame graph, speedscope, Chrome trace, pprof",
	"usage: sonda export FILE -f FORMAT [options]\n"
	"\n"
	"Write a store's stacks in a format other tools read.\n"
	"\n"
	"Formats:\n"
	"  folded      one line per distinct stack, root first: 'a;b;c COUNT'; a frame\n"
	"              is 'function (file:line)', or 'function' when the line is not\n"
	"              known (an unsymbolized native frame is 'module+0xOFFSET')\n"
	"  svg         a self-contained interactive flame graph: hover for samples and\n"
	"              percent, click to zoom, Search (Ctrl-F) highlights a regular\n"
	"              expression and shows the matched percent; needs no network\n"
	"  speedscope  speedscope's JSON: a sampled profile per thread (weights in\n"
	"              seconds when the rate is known), an evented one per thread of\n"
	"              tracer tasks, byte-weighted profiles with --by alloc\n"
	"  chrome      Chrome trace JSON (Perfetto, chrome://tracing): tracer tasks and\n"
	"              sampled stacks as complete (X) events, thread names\n"
	"  pprof       gzip'd profile.proto for 'go tool pprof': samples/count and\n"
	"              cpu/nanoseconds, or with --by alloc the heap types alloc_objects,\n"
	"              alloc_space, inuse_objects, inuse_space\n"
	"\n"
	"Options:\n"
	"  -f, --format FORMAT  one of the above (required)\n"
	"  -o, --output FILE    write to FILE instead of standard output\n"
	"      --threads        folded, svg: each stack starts with 'thread TID (NAME)'\n"
	"  -t, --thread TID     only this thread's samples (repeat for more)\n"
	"      --by WHAT        samples (default), alloc (bytes allocated per site),\n"
	"                       live (bytes still live) or allocs (allocation counts)\n"
	"      --inverted       svg: an icicle graph, the root at the top\n"
	"      --title TEXT     svg: the title (default 'Flame Graph')\n"
	"  -h, --help           show this text\n"
	"\n"
	"Examples:\n"
	"  sonda export run.db -f svg -o run.svg\n"
	"  sonda export run.db -f folded --threads | flamegraph.pl > run.svg\n"
	"  sonda export run.db -f pprof -o run.pb.gz && go tool pprof -top run.pb.gz\n",
};

static int parse_weight(const char *s, enum view_weight *w)
{
	static const struct { const char *name; enum view_weight w; } names[] = {
		{ "samples", VIEW_WEIGHT_SAMPLES }, { "alloc", VIEW_WEIGHT_ALLOC_BYTES },
		{ "live", VIEW_WEIGHT_LIVE_BYTES }, { "allocs", VIEW_WEIGHT_ALLOCS },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcmp(s, names[i].name)) {
			*w = names[i].w;
			return 0;
		}
	}
	return -1;
}

/* Profile thread ids of the given tids; -1 with a reason if one is absent. */
static int select_threads(const struct store_profile *p, const int64_t *tids, size_t ntids,
			  uint32_t **ids, size_t *nids, char *err, size_t errlen)
{
	*nids = 0;
	*ids = malloc(store_nthreads(p) * sizeof(**ids) + 1);
	if (!*ids) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t k = 0; k < ntids; k++) {
		size_t before = *nids;

		for (uint32_t i = 1; i < store_nthreads(p); i++)
			if (store_thread_get(p, i)->tid == tids[k])
				(*ids)[(*nids)++] = i;
		if (*nids == before) {
			snprintf(err, errlen, "no thread %lld in this profile", (long long)tids[k]);
			return -1;
		}
	}
	return 0;
}

static int run(int argc, char **argv)
{
	enum { OPT_THREADS = 256, OPT_BY, OPT_INVERTED, OPT_TITLE };
	static const struct option longopts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "output", required_argument, NULL, 'o' },
		{ "thread", required_argument, NULL, 't' },
		{ "threads", no_argument, NULL, OPT_THREADS },
		{ "by", required_argument, NULL, OPT_BY },
		{ "inverted", no_argument, NULL, OPT_INVERTED },
		{ "title", required_argument, NULL, OPT_TITLE },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct view_export_opts o = { .weight = VIEW_WEIGHT_SAMPLES };
	struct view_filter filter = { 0 };
	enum view_format fmt = VIEW_FORMAT_FOLDED;
	const char *format = NULL, *out = NULL;
	int64_t tids[64];
	size_t ntids = 0;
	uint32_t *ids = NULL;
	struct store_profile *p;
	FILE *f = stdout;
	char err[512], *end;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "f:o:t:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'f': format = optarg; break;
		case 'o': out = optarg; break;
		case 't':
			errno = 0;
			tids[ntids] = strtoll(optarg, &end, 10);
			if (errno || end == optarg || *end || tids[ntids] <= 0 || ntids == 63) {
				cli_error("export: --thread takes a thread id, not '%s'", optarg);
				return 2;
			}
			ntids++;
			break;
		case OPT_THREADS: o.threads = 1; break;
		case OPT_BY:
			if (parse_weight(optarg, &o.weight) < 0) {
				cli_error("export: --by takes samples, alloc, live or allocs, not '%s'", optarg);
				return 2;
			}
			break;
		case OPT_INVERTED: o.inverted = 1; break;
		case OPT_TITLE: o.title = optarg; break;
		case 'h': return cli_usage(&cli_cmd_export, stdout, 0);
		default: return cli_bad_usage(&cli_cmd_export);
		}
	}
	if (optind != argc - 1) {
		cli_error("export: %s", optind >= argc ? "which store? sonda export FILE -f FORMAT" :
			  "one store at a time");
		return cli_bad_usage(&cli_cmd_export);
	}
	if (!format) {
		cli_error("export: which format? -f folded, svg, speedscope, chrome or pprof");
		return 2;
	}
	if (view_format_parse(format, &fmt) < 0) {
		cli_error("export: -f takes folded, svg, speedscope, chrome or pprof, not '%s'", format);
		return 2;
	}
	if (fmt == VIEW_FORMAT_PPROF && !out && isatty(STDOUT_FILENO)) {
		cli_error("export: pprof is binary; write it to a file with -o FILE");
		return 2;
	}
	p = store_load(argv[optind], err, sizeof(err));
	if (!p) {
		cli_error("%s: %s", argv[optind], err);
		return 2;
	}
	if (ntids) {
		if (select_threads(p, tids, ntids, &ids, &filter.nthreads, err, sizeof(err)) < 0) {
			cli_error("export: %s", err);
			free(ids);
			store_profile_free(p);
			return 2;
		}
		filter.threads = ids;
		o.filter = &filter;
	}
	if (out && !(f = fopen(out, "w"))) {
		cli_error("export: cannot write %s: %s", out, strerror(errno));
		free(ids);
		store_profile_free(p);
		return 1;
	}
	/* A reader that went away (| head) ends the export, quietly. */
	signal(SIGPIPE, SIG_IGN);
	rc = view_export(f, p, fmt, &o, err, sizeof(err));
	if (out && fclose(f) != 0 && rc == 0) {
		snprintf(err, sizeof(err), "write error: %s", strerror(errno));
		rc = -1;
	}
	free(ids);
	store_profile_free(p);
	if (rc < 0) {
		if (!out && errno == EPIPE && !strncmp(err, "write error", 11))
			return 0;
		if (out)
			unlink(out);
		cli_error("export: %s%s%s", out ? out : "", out ? ": " : "", err);
		return 1;
	}
	return 0;
}
