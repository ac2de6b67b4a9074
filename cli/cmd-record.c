/* cmd-record.c - `sonda record`: sample a process (by PID or launched) into a store or a flame graph file. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "profiler/profiler.h"
#include "store/store.h"
#include "viewer/viewer.h"

/* The writer gets new rows once a second: the default bucket, so an
 * aggregated row is mostly written once, and each sync is a wake-up of
 * two threads and a transaction (some 150 us), a tenth of a microsecond
 * per sample at 1 kHz.  The status line is redrawn more often. */
#define SYNC_NS (1000 * 1000000LL)
#define SHOW_NS (250 * 1000000LL)
#define MAX_RATE 1000000.0

static const char usage[] =
	"usage: sonda record (-p PID | [options] -- COMMAND [ARGS...]) [options]\n"
	"\n"
	"Samples the stacks of a running process, or of a command it starts, at a\n"
	"fixed rate, and writes them to a sonda store (or a flame graph file).\n"
	"Runs until --duration elapses, the target exits, or Ctrl-C.\n"
	"\n"
	"  -p, --pid PID          attach to this process\n"
	"  -o, --output FILE      where to write (default sonda-PID-YYYYmmdd-HHMMSS.db,\n"
	"                         or .folded/.svg/.speedscope.json; '-' for stdout\n"
	"                         with a text format)\n"
	"  -f, --format FMT       db (default), folded, svg, speedscope\n"
	"  -r, --rate HZ          samples per second (default 100, up to 1000000)\n"
	"  -d, --duration SECS    stop after this long (default: until the target exits)\n"
	"      --mode MODE        auto (default: python for a Python target, else cpu when\n"
	"                         perf events are permitted, else wall), python, cpu, wall\n"
	"      --native           native stacks with the Python frames spliced in\n"
	"      --idle             keep idle threads (sleeping, blocked, waiting), marked idle\n"
	"      --gil              keep only the thread holding the GIL\n"
	"      --blocking         pause the target's threads for each Python read\n"
	"                         (consistent reads; slows the target, see the man page)\n"
	"      --nonblocking      never pause the target (the default for Python: a read\n"
	"                         that looks torn is dropped and counted)\n"
	"      --subprocesses     follow child processes, each recorded as its own session\n"
	"      --threads          folded/svg: one root frame per thread\n"
	"      --raw              keep every sample time-stamped (default: 1 s buckets)\n"
	"  -q, --quiet            no live status line and no summary\n"
	"  -h, --help             this text\n"
	"\n"
	"Environment: SONDA_WALL=ptrace makes wall mode stop the threads with ptrace at\n"
	"each tick even where perf events are permitted; SONDA_WALL=perf keeps it on perf\n"
	"events for a target that switches very often (see the man page).\n"
	"\n"
	"Examples:\n"
	"  sonda record -p 1234 -d 30            # 30 s of process 1234 into sonda-1234-*.db\n"
	"  sonda record -r 1000 -o run.db -- python3 app.py\n"
	"  sonda record -p 1234 -f svg -o flame.svg\n";

static int run(int argc, char **argv);

const struct cli_command cli_cmd_record = {
	"record", run, "sample a running process or a command into a store", usage,
};

enum { OPT_MODE = 256, OPT_NATIVE, OPT_IDLE, OPT_GIL, OPT_NONBLOCKING, OPT_SUBPROCESSES,
       OPT_THREADS, OPT_RAW, OPT_BLOCKING };

static const struct option options[] = {
	{"pid", required_argument, NULL, 'p'},
	{"output", required_argument, NULL, 'o'},
	{"format", required_argument, NULL, 'f'},
	{"rate", required_argument, NULL, 'r'},
	{"duration", required_argument, NULL, 'd'},
	{"mode", required_argument, NULL, OPT_MODE},
	{"native", no_argument, NULL, OPT_NATIVE},
	{"idle", no_argument, NULL, OPT_IDLE},
	{"gil", no_argument, NULL, OPT_GIL},
	{"nonblocking", no_argument, NULL, OPT_NONBLOCKING},
	{"blocking", no_argument, NULL, OPT_BLOCKING},
	{"subprocesses", no_argument, NULL, OPT_SUBPROCESSES},
	{"threads", no_argument, NULL, OPT_THREADS},
	{"raw", no_argument, NULL, OPT_RAW},
	{"quiet", no_argument, NULL, 'q'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

struct record_args {
	struct prof_options o;
	const char *output;
	const char *format;	/* "db" or an exporter's name */
	int threads, quiet;
};

static atomic_int interrupted;
static double start_cpu_ms;	/* sonda's CPU when the command started: exec and libraries */

static void on_signal(int sig)
{
	(void)sig;
	atomic_fetch_add(&interrupted, 1);
}

static int parse_double(const char *s, double min, double max, double *v)
{
	char *end;

	errno = 0;
	*v = strtod(s, &end);
	return errno || end == s || *end || *v < min || *v > max ? -1 : 0;
}

static int parse_mode(const char *s, enum prof_mode *m)
{
	static const char *names[] = {"auto", "python", "cpu", "wall"};

	for (int i = 0; i < 4; i++)
		if (!strcmp(s, names[i])) {
			*m = (enum prof_mode)i;
			return 0;
		}
	return -1;
}

static int parse_args(int argc, char **argv, struct record_args *a)
{
	int c;
	double v;

	memset(a, 0, sizeof(*a));
	a->o.rate_hz = 100;
	a->format = "db";
	optind = 1;
	while ((c = getopt_long(argc, argv, "+p:o:f:r:d:qh", options, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (parse_double(optarg, 1, 4194304, &v) < 0 || v != (pid_t)v) {
				cli_error("record: bad process id '%s'", optarg);
				return 2;
			}
			a->o.pid = (pid_t)v;
			break;
		case 'o':
			a->output = optarg;
			break;
		case 'f':
			a->format = optarg;
			break;
		case 'r':
			if (parse_double(optarg, 0.001, MAX_RATE, &a->o.rate_hz) < 0) {
				cli_error("record: bad rate '%s' (samples per second, up to %.0f)",
					  optarg, MAX_RATE);
				return 2;
			}
			break;
		case 'd':
			if (parse_double(optarg, 0.001, 1e9, &a->o.duration_s) < 0) {
				cli_error("record: bad duration '%s' (seconds)", optarg);
				return 2;
			}
			break;
		case OPT_MODE:
			if (parse_mode(optarg, &a->o.mode) < 0) {
				cli_error("record: unknown mode '%s' (auto, python, cpu or wall)",
					  optarg);
				return 2;
			}
			break;
		case OPT_NATIVE: a->o.native = 1; break;
		case OPT_IDLE: a->o.idle = 1; break;
		case OPT_GIL: a->o.gil = 1; break;
		case OPT_NONBLOCKING: a->o.nonblocking = 1; a->o.blocking = 0; break;
		case OPT_BLOCKING: a->o.blocking = 1; a->o.nonblocking = 0; break;
		case OPT_SUBPROCESSES: a->o.subprocesses = 1; break;
		case OPT_THREADS: a->threads = 1; break;
		case OPT_RAW: a->o.raw = 1; break;
		case 'q': a->quiet = 1; break;
		case 'h':
			return cli_usage(&cli_cmd_record, stdout, 0) - 1;
		default:
			return cli_bad_usage(&cli_cmd_record);
		}
	}
	if (optind < argc)
		a->o.argv = argv + optind;
	if (!a->o.pid == !a->o.argv) {
		cli_error("record: give either -p PID or -- COMMAND (see 'sonda help record')");
		return 2;
	}
	if (strcmp(a->format, "db") && strcmp(a->format, "folded") && strcmp(a->format, "svg") &&
	    strcmp(a->format, "speedscope")) {
		cli_error("record: unknown format '%s' (db, folded, svg or speedscope)", a->format);
		return 2;
	}
	if (!strcmp(a->format, "db") && a->output && !strcmp(a->output, "-")) {
		cli_error("record: a store cannot be written to stdout; give -o FILE");
		return 2;
	}
	return 0;
}

static const char *format_ext(const char *format)
{
	if (!strcmp(format, "db"))
		return "db";
	if (!strcmp(format, "speedscope"))
		return "speedscope.json";
	return format;
}

static void default_output(char *buf, size_t len, pid_t pid, const char *format)
{
	time_t now = time(NULL);
	struct tm tm;
	char stamp[32];

	localtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
	snprintf(buf, len, "sonda-%d-%s.%s", (int)pid, stamp, format_ext(format));
}

static int64_t mono_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void show_progress(struct prof_sampler *s)
{
	struct prof_status st;

	prof_sampler_status(s, &st);
	fprintf(stderr, "\r\033[Krecording process %d: %.1f s, %llu samples, %.1f/s", (int)st.pid,
		st.elapsed_s, (unsigned long long)st.samples, st.achieved_hz);
	if (st.missed)
		fprintf(stderr, ", %llu missed", (unsigned long long)st.missed);
	if (st.errors)
		fprintf(stderr, ", %llu errors", (unsigned long long)st.errors);
	fflush(stderr);
}

/* Waits for the end (target exit, duration, signal), syncing the writer.
 * Wakes only to sync, to redraw the status line or on a signal: at 100 Hz
 * the sampler's own wake-ups are all the CPU sonda spends. */
static void wait_for_end(struct prof_sampler *s, struct store_profile *p, struct store_writer *w,
			 int progress)
{
	int64_t last_sync = mono_ns(), last_show = 0;

	while (!atomic_load(&interrupted)) {
		int64_t now;

		if (prof_sampler_wait(s, (int)((progress ? SHOW_NS : SYNC_NS) / 1000000)) == 0)
			break;
		now = mono_ns();
		if (w && now - last_sync >= SYNC_NS) {
			prof_sampler_lock(s);
			store_writer_sync(w, p);
			prof_sampler_unlock(s);
			last_sync = now;
		}
		if (progress && now - last_show >= SHOW_NS) {
			show_progress(s);
			last_show = now;
		}
	}
	if (progress)
		fputs("\r\033[K", stderr);
}

static int write_export(struct store_profile *p, const struct record_args *a, const char *path,
			char *err, size_t errlen)
{
	struct view_export_opts eo = {0};
	enum view_format fmt;
	FILE *f;
	int rc;

	if (!strcmp(a->format, "folded"))
		fmt = VIEW_FORMAT_FOLDED;
	else if (!strcmp(a->format, "svg"))
		fmt = VIEW_FORMAT_SVG;
	else
		fmt = VIEW_FORMAT_SPEEDSCOPE;
	eo.threads = a->threads;
	f = strcmp(path, "-") ? fopen(path, "we") : stdout;
	if (!f) {
		snprintf(err, errlen, "cannot create %.200s: %s", path, strerror(errno));
		return -1;
	}
	rc = view_export(f, p, fmt, &eo, err, errlen);
	if (f != stdout) {
		if (fclose(f) != 0 && rc == 0) {
			snprintf(err, errlen, "cannot write %.200s: %s", path, strerror(errno));
			rc = -1;
		}
	} else if (fflush(f) != 0 && rc == 0) {
		snprintf(err, errlen, "cannot write to stdout: %s", strerror(errno));
		rc = -1;
	}
	return rc;
}

static void print_summary(const struct prof_status *st, const struct record_args *a,
			  const char *path, int written)
{
	fprintf(stderr, "sonda: %llu samples in %.2f s (%.1f/s of %g/s asked), %llu missed, "
		"%llu errors", (unsigned long long)st->samples, st->elapsed_s, st->achieved_hz,
		a->o.rate_hz, (unsigned long long)st->missed, (unsigned long long)st->errors);
	if (st->errors && st->last_error[0])
		fprintf(stderr, " (last: %s)", st->last_error);
	if (st->unpaused)
		fprintf(stderr, ", %llu read unpaused (a thread waited for a CPU longer than half a "
			"tick)", (unsigned long long)st->unpaused);
	if (st->torn)
		fprintf(stderr, ", %llu thread reads dropped as torn", (unsigned long long)st->torn);
	fprintf(stderr, ".\n  mode: %s\n", st->mode_reason);
	if (st->attach_cpu_ms > 0)
		fprintf(stderr, "  attach: first sample after %.2f ms of sonda's CPU (%.2f ms of it "
			"starting sonda)\n", st->attach_cpu_ms, start_cpu_ms);
	if (a->o.argv && st->target_exited && st->exit_status >= 0)
		fprintf(stderr, "  target: %s (process %d) exited with status %d\n", a->o.argv[0],
			(int)st->pid, st->exit_status);
	else if (a->o.argv && st->exit_status >= 0)
		fprintf(stderr, "  target: %s (process %d) was still running; sonda ended it "
			"(status %d)\n", a->o.argv[0], (int)st->pid, st->exit_status);
	else if (st->target_exited)
		fprintf(stderr, "  target: process %d exited during the recording\n", (int)st->pid);
	else
		fprintf(stderr, "  target: process %d still running, detached\n", (int)st->pid);
	if (written)
		fprintf(stderr, "  written: %s\n", strcmp(path, "-") ? path : "stdout");
}

static int run(int argc, char **argv)
{
	struct record_args a;
	struct store_profile *p;
	struct prof_sampler *s;
	struct store_writer *w = NULL;
	struct prof_status st;
	struct sigaction sa;
	char err[256] = "", path[4096];
	int rc, db, progress;
	struct timespec cpu;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
	start_cpu_ms = (double)cpu.tv_sec * 1e3 + (double)cpu.tv_nsec / 1e6;
	rc = parse_args(argc, argv, &a);
	if (rc)
		return rc < 0 ? 0 : rc;
	db = !strcmp(a.format, "db");
	p = store_profile_new();
	if (!p) {
		cli_error("record: out of memory");
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	s = prof_sampler_start(&a.o, p, err, sizeof(err));
	if (!s) {
		cli_error("%s", err);
		store_profile_free(p);
		return 2;
	}
	prof_sampler_status(s, &st);
	if (a.output)
		snprintf(path, sizeof(path), "%s", a.output);
	else
		default_output(path, sizeof(path), st.pid, a.format);
	if (db && !(w = store_writer_open(path, err, sizeof(err)))) {
		prof_sampler_stop(s);
		prof_sampler_free(s);
		store_profile_free(p);
		cli_error("%s", err);
		return 1;
	}
	progress = !a.quiet && isatty(STDERR_FILENO);
	wait_for_end(s, p, w, progress);
	if (atomic_load(&interrupted) > 1 || (atomic_load(&interrupted) && progress))
		fprintf(stderr, "sonda: stopping: detaching and closing %s\n", path);
	/* Stop first: the target is resumed and detached before any I/O. */
	prof_sampler_stop(s);
	prof_sampler_status(s, &st);
	rc = 0;
	if (db) {
		if (store_writer_close(w, p, err, sizeof(err)) < 0)
			rc = 1;
	} else if (write_export(p, &a, path, err, sizeof(err)) < 0) {
		rc = 1;
	}
	if (rc)
		cli_error("%s", err);
	if (!a.quiet)
		print_summary(&st, &a, path, rc == 0);
	prof_sampler_free(s);
	store_profile_free(p);
	return rc;
}
