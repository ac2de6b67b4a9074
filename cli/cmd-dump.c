/* cmd-dump.c - `sonda dump`: print every thread's Python (or, with --native, native) stack of a running process once. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "profiler/profiler.h"

static void print_text(const struct prof_dump *d, pid_t pid)
{
	printf("Process %d: %s\n", (int)pid, d->what);
	for (size_t i = 0; i < d->n; i++) {
		const struct prof_dump_thread *t = &d->v[i];

		printf("\nThread %lld (%s) [%s]%s\n", (long long)t->tid, t->name ? t->name : "?",
		       (t->state & STORE_STATE_IDLE) ? "idle" : "active",
		       (t->state & STORE_STATE_GIL) ? " [GIL]" : "");
		for (size_t k = 0; k < t->nframes; k++) {
			const struct prof_dump_frame *f = &t->frames[k];

			const char *fn = f->function ? f->function : "?";

			if (f->file)
				printf("    %s (%s:%d)\n", fn, f->file, f->line);
			else if (f->module)	/* native, no debug info */
				printf("    %s (%s)\n", fn, f->module);
			else			/* a marker: [unwind error: ...] */
				printf("    %s\n", fn);
		}
	}
}

static void json_string(const char *s)
{
	if (!s) {
		fputs("null", stdout);
		return;
	}
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", stdout);
		else if (*p < 0x20)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

static void print_json(const struct prof_dump *d)
{
	putchar('[');
	for (size_t i = 0; i < d->n; i++) {
		const struct prof_dump_thread *t = &d->v[i];

		printf("%s\n  {\"tid\": %lld, \"name\": ", i ? "," : "", (long long)t->tid);
		json_string(t->name);
		printf(", \"idle\": %s, \"gil\": %s, \"frames\": [",
		       (t->state & STORE_STATE_IDLE) ? "true" : "false",
		       (t->state & STORE_STATE_GIL) ? "true" : "false");
		for (size_t k = 0; k < t->nframes; k++) {
			printf("%s\n    {\"function\": ", k ? "," : "");
			json_string(t->frames[k].function);
			fputs(", \"file\": ", stdout);
			json_string(t->frames[k].file);
			printf(", \"line\": %d", t->frames[k].line);
			if (t->frames[k].module) {
				fputs(", \"module\": ", stdout);
				json_string(t->frames[k].module);
			}
			putchar('}');
		}
		printf("%s]}", t->nframes ? "\n  " : "");
	}
	printf("%s]\n", d->n ? "\n" : "");
}

static int run(int argc, char **argv);

const struct cli_command cli_cmd_dump = {
	.name = "dump",
	.run = run,
	.summary = "print every thread's Python or native stack of a running process once",
	.usage =
	"usage: sonda dump -p PID [--json] [--nonblocking] [--native]\n"
	"\n"
	"Prints every thread of a running CPython process (2.7, 3.6 to 3.13) once:\n"
	"thread id and name, idle or active, whether it holds the GIL, and its\n"
	"Python frames innermost first as `function (file:line)`.\n"
	"\n"
	"  -p, --pid PID      the process to read\n"
	"  -j, --json         print a JSON array of threads:\n"
	"                     {tid, name, idle, gil, frames: [{function, file, line}]}\n"
	"  -n, --nonblocking  never pause the target (by default its threads are\n"
	"                     paused for the read, a few microseconds); a read\n"
	"                     that looks torn is retried\n"
	"      --native       native stacks of any 64-bit x86-64 process, like\n"
	"                     eu-stack: `function (file:line)` from debug info, else\n"
	"                     `function (module)` or `module+0xOFFSET`; for a Python\n"
	"                     process (3.8 to 3.13) each interpreter frame replaced\n"
	"                     by the Python frames it runs.  Threads are paused\n"
	"                     with ptrace for the read (not with --nonblocking)\n"
	"  -h, --help         show this help\n"
	"\n"
	"Exit status: 0 printed, 1 the read failed, 2 bad usage or a process that\n"
	"cannot be read (gone, not Python, unsupported version, no permission).\n",
};

static int run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "json", no_argument, NULL, 'j' },
		{ "nonblocking", no_argument, NULL, 'n' },
		{ "native", no_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct prof_options o;
	struct prof_dump d;
	char err[320], *end;
	int c, json = 0, rc;
	long pid = 0;

	memset(&o, 0, sizeof(o));
	optind = 1;
	while ((c = getopt_long(argc, argv, "p:jnh", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			errno = 0;
			pid = strtol(optarg, &end, 10);
			if (errno || *end || pid <= 0 || pid > 0x7fffffff) {
				cli_error("dump: '%s' is not a process id", optarg);
				return 2;
			}
			break;
		case 'j':
			json = 1;
			break;
		case 'n':
			o.nonblocking = 1;
			break;
		case 'N':
			o.native = 1;
			break;
		case 'h':
			return cli_usage(&cli_cmd_dump, stdout, 0);
		default:
			return cli_bad_usage(&cli_cmd_dump);
		}
	}
	if (optind < argc) {
		cli_error("dump: unexpected argument '%s'", argv[optind]);
		return cli_bad_usage(&cli_cmd_dump);
	}
	if (!pid) {
		cli_error("dump: which process? give -p PID");
		return cli_bad_usage(&cli_cmd_dump);
	}
	o.pid = (pid_t)pid;
	o.mode = PROF_MODE_PYTHON;
	o.idle = 1;
	if (o.native && o.nonblocking) {
		cli_error("dump: --native pauses the threads it reads; it has no --nonblocking");
		return 2;
	}
	rc = prof_dump_read(&o, &d, err, sizeof(err));
	if (d.warning[0])
		cli_error("warning: %s", d.warning);
	if (rc == 0 && json)
		print_json(&d);
	else if (rc == 0)
		print_text(&d, o.pid);
	else
		cli_error("%s", err);
	prof_dump_free(&d);
	return rc == 0 ? 0 : rc == -2 ? 2 : 1;
}
