/* cmd-dump.c - `sonda dump`: print every thread's Python (or, with --native, native) stack of a running process once. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "profiler/backend.h"
#include "profiler/profiler.h"

#define TORN_RETRIES 5
#define PAUSE_TIMEOUT_US 2000000L

struct dump_frame {
	char *function, *file, *module;
	int line;
};

struct dump_thread {
	int64_t tid;
	char *name;
	uint32_t state;
	struct dump_frame *frames;
	size_t nframes;
};

struct dump {
	struct dump_thread *v;
	size_t n, cap;
	int nomem;
};

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void collect(void *ctx, const struct prof_stack *s)
{
	struct dump *d = ctx;
	struct dump_thread *t;

	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 8;
		struct dump_thread *v = realloc(d->v, cap * sizeof(*v));

		if (!v) {
			d->nomem = 1;
			return;
		}
		d->v = v;
		d->cap = cap;
	}
	t = &d->v[d->n++];
	t->tid = s->tid;
	t->name = dup_or_null(s->thread_name);
	t->state = s->state;
	t->nframes = 0;
	t->frames = calloc(s->nframes ? s->nframes : 1, sizeof(*t->frames));
	if (!t->frames) {
		d->nomem = 1;
		return;
	}
	for (size_t i = 0; i < s->nframes; i++) {
		t->frames[i].function = dup_or_null(s->frames[i].function);
		t->frames[i].file = dup_or_null(s->frames[i].file);
		t->frames[i].module = dup_or_null(s->frames[i].module);
		t->frames[i].line = s->frames[i].line;
		t->nframes++;
	}
}

static void dump_clear(struct dump *d)
{
	for (size_t i = 0; i < d->n; i++) {
		for (size_t k = 0; k < d->v[i].nframes; k++) {
			free(d->v[i].frames[k].function);
			free(d->v[i].frames[k].file);
			free(d->v[i].frames[k].module);
		}
		free(d->v[i].frames);
		free(d->v[i].name);
	}
	free(d->v);
	memset(d, 0, sizeof(*d));
}

static void print_text(const struct dump *d, pid_t pid, const char *what)
{
	printf("Process %d: %s\n", (int)pid, what);
	for (size_t i = 0; i < d->n; i++) {
		const struct dump_thread *t = &d->v[i];

		printf("\nThread %lld (%s) [%s]%s\n", (long long)t->tid, t->name ? t->name : "?",
		       (t->state & STORE_STATE_IDLE) ? "idle" : "active",
		       (t->state & STORE_STATE_GIL) ? " [GIL]" : "");
		for (size_t k = 0; k < t->nframes; k++) {
			const struct dump_frame *f = &t->frames[k];

			if (!f->file && f->module)	/* native, no debug info */
				printf("    %s (%s)\n", f->function ? f->function : "?", f->module);
			else
				printf("    %s (%s:%d)\n", f->function ? f->function : "?",
				       f->file ? f->file : "?", f->line);
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

static void print_json(const struct dump *d)
{
	putchar('[');
	for (size_t i = 0; i < d->n; i++) {
		const struct dump_thread *t = &d->v[i];

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

/* One consistent read: every thread paused (unless pp is NULL) and the
 * read retried while a thread's stack looked torn. */
static int sample_once(struct prof_engine *e, struct prof_pause *pp, struct dump *d,
		       char *err, size_t errlen)
{
	const struct prof_backend *b = &prof_backend_python;
	int rc = -1;

	for (int i = 0; i < TORN_RETRIES; i++) {
		uint64_t torn = py_engine_torn(e);

		dump_clear(d);
		if (pp && (rc = prof_pause_stop(pp, err, errlen)) < 0)
			return rc;
		rc = b->sample(e, collect, d, err, errlen);
		if (pp)
			prof_pause_resume(pp);
		if (rc != 0 || d->nomem || py_engine_torn(e) == torn)
			break;
	}
	if (d->nomem) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return rc;
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

/* --native: mixed stacks for a Python process, else native ones; both
 * engines pause the threads themselves. */
static int dump_native(struct prof_options *o, int json)
{
	const struct prof_backend *b = &prof_backend_mixed;
	struct prof_engine *e;
	struct dump d;
	char err[320], why[320];
	int rc;

	if (o->nonblocking) {
		cli_error("dump: --native pauses the threads it reads; it has no --nonblocking");
		return 2;
	}
	memset(&d, 0, sizeof(d));
	o->mode = PROF_MODE_WALL;
	if (b->attach(&e, o->pid, o, why, sizeof(why)) < 0) {
		b = &prof_backend_wall;
		if (b->attach(&e, o->pid, o, err, sizeof(err)) < 0) {
			cli_error("%s", err);
			return 2;
		}
	}
	rc = b->sample(e, collect, &d, err, sizeof(err));
	for (size_t i = 0; rc == 0 && i < d.n; i++) {
		char name[64];

		if (d.v[i].name)
			continue;
		prof_thread_name(o->pid, (pid_t)d.v[i].tid, name, sizeof(name));
		d.v[i].name = strdup(name);
	}
	if (rc == 0 && d.nomem) {
		snprintf(err, sizeof(err), "out of memory");
		rc = -1;
	}
	if (rc == 0) {
		if (json)
			print_json(&d);
		else
			print_text(&d, o->pid, b->describe(e));
	} else if (rc == -ESRCH) {
		cli_error("process %d exited", (int)o->pid);
	} else {
		cli_error("%s", err);
	}
	b->detach(e);
	dump_clear(&d);
	return rc == 0 ? 0 : rc == -ESRCH ? 2 : 1;
}

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
	const struct prof_backend *b = &prof_backend_python;
	struct prof_options o;
	struct prof_engine *e;
	struct prof_pause *pp = NULL;
	struct dump d;
	char err[320], *end;
	int c, json = 0, rc;
	long pid = 0;

	memset(&o, 0, sizeof(o));
	memset(&d, 0, sizeof(d));
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
	if (o.native)
		return dump_native(&o, json);
	if (b->attach(&e, o.pid, &o, err, sizeof(err)) < 0) {
		cli_error("%s", err);
		return 2;
	}
	if (py_engine_warning(e))
		cli_error("warning: %s", py_engine_warning(e));
	if (!o.nonblocking) {
		pp = prof_pause_new(o.pid, err, sizeof(err));
		if (!pp) {
			cli_error("%s (--nonblocking reads without pausing)", err);
			b->detach(e);
			return 2;
		}
		/* one read, not a sampling rate to keep: a loaded machine may
		 * take long to schedule every thread into its stop */
		prof_pause_set_timeout(pp, PAUSE_TIMEOUT_US);
	}
	rc = sample_once(e, pp, &d, err, sizeof(err));
	if (pp)
		prof_pause_free(pp);
	if (rc == 0) {
		if (json)
			print_json(&d);
		else
			print_text(&d, o.pid, b->describe(e));
	} else if (rc == -ESRCH) {
		cli_error("process %ld exited", pid);
	} else {
		cli_error("%s", err);
	}
	b->detach(e);
	dump_clear(&d);
	return rc == 0 ? 0 : rc == -ESRCH ? 2 : 1;
}
