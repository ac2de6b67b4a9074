/* cmd-recover.c - `sonda recover`: turn a libsonda region (often a crashed program's) into a store. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "tracer/region.h"

static const char usage[] =
	"usage: sonda recover [-o FILE] [--remove] PID|REGION\n"
	"\n"
	"Reads the stats region libsonda keeps for a process (/dev/shm/sonda-PID,\n"
	"or the path given) and writes it as a sonda store: every task, span and\n"
	"function recorded up to now, or up to the crash if the process died.\n"
	"Works on a live process too (a snapshot).\n"
	"\n"
	"  -o, --output FILE   the store to write (default: sonda-PID.db)\n"
	"      --remove        delete the region once it is saved\n"
	"  -h, --help          this text\n";

static int all_digits(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

static int run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "remove", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *out = NULL;
	char path[512], outbuf[64], err[512];
	int c, remove = 0;
	long pid;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			out = optarg;
			break;
		case 'r':
			remove = 1;
			break;
		case 'h':
			return cli_usage(&cli_cmd_recover, stdout, 0);
		default:
			return cli_bad_usage(&cli_cmd_recover);
		}
	}
	if (optind != argc - 1) {
		cli_error("recover: expected one PID or region path");
		return cli_bad_usage(&cli_cmd_recover);
	}
	if (all_digits(argv[optind]))
		sonda_region_default_path(atol(argv[optind]), path, sizeof(path));
	else
		snprintf(path, sizeof(path), "%s", argv[optind]);
	if (access(path, F_OK) != 0) {
		cli_error("recover: no libsonda region at %s (was the program run with libsonda, "
			  "and did it exit cleanly, which removes it?)", path);
		return 2;
	}
	if (!out) {
		/* the pid from the region, without writing anything yet */
		const char *dash = strrchr(path, '-');

		snprintf(outbuf, sizeof(outbuf), "sonda-%s.db",
			 dash && all_digits(dash + 1) ? dash + 1 : "recovered");
		out = outbuf;
	}
	pid = sonda_region_save(path, out, err, sizeof(err));
	if (pid < 0) {
		cli_error("recover: %s", err);
		return 1;
	}
	if (remove)
		unlink(path);
	fprintf(stderr, "sonda: recovered process %ld from %s into %s\n", pid, path, out);
	return 0;
}

const struct cli_command cli_cmd_recover = {
	"recover", run, "turn a libsonda region (a crashed program's) into a store", usage
};
