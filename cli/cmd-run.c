/* cmd-run.c - `sonda run`: run a program with libsonda preloaded, and recover its region if it dies. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "store/store.h"
#include "tracer/region.h"

#ifndef SONDA_LIBDIR
#define SONDA_LIBDIR "/usr/local/lib"
#endif

static const char usage[] =
	"usage: sonda run [-o FILE] [--functions] [--timeline] [--no-cpu]\n"
	"                 [--alloc[=NFRAMES]] [--alloc-sample=BYTES] -- CMD [ARG...]\n"
	"\n"
	"Runs CMD with libsonda preloaded: tasks and spans the program marks with\n"
	"the libsonda API, and with --functions every function of code built with\n"
	"-finstrument-functions, are timed in process and written to a store when\n"
	"it exits.  If it dies (a signal, _exit), sonda recovers what it recorded\n"
	"from its region, and from those of the processes it started.  The exit\n"
	"status is the program's (128+N for signal N).\n"
	"\n"
	"  -o, --output FILE   the store to write (default: sonda-PID.db)\n"
	"      --functions     per-function stats from -finstrument-functions hooks\n"
	"      --timeline      also keep every interval (a bounded ring per thread)\n"
	"                      for timeline exports\n"
	"      --no-cpu        do not measure CPU time per task\n"
	"      --alloc[=NFRAMES]\n"
	"                      track every allocation (malloc family, C++ new and\n"
	"                      delete) by call site, NFRAMES native frames deep\n"
	"                      (default 16, at most 64); live bytes, peaks, leaks at\n"
	"                      exit, snapshots (SIGUSR2, sonda_alloc_snapshot)\n"
	"      --alloc-sample=BYTES\n"
	"                      track a sample instead: one allocation per BYTES\n"
	"                      allocated on average (a Poisson process over bytes),\n"
	"                      with estimates scaled up; implies --alloc\n"
	"  -h, --help          this text\n"
	"\n"
	"Environment read by libsonda: SONDA_OUTPUT, SONDA_FUNCTIONS, SONDA_TIMELINE,\n"
	"SONDA_CPU, SONDA_REGION, SONDA_CLOCK (tsc|monotonic), SONDA_ALLOC,\n"
	"SONDA_ALLOC_SAMPLE, SONDA_ALLOC_UNWIND (libunwind|fp); see libsonda(3).\n";

static pid_t child;

static void forward(int sig)
{
	if (child > 0)
		kill(child, sig);
}

/* libsonda.so beside the build tree's sonda, else in the installed libdir. */
static int libsonda_find(char *buf, size_t len)
{
	const char *env = getenv("SONDA_LIBSONDA");
	char exe[PATH_MAX - 64];
	ssize_t n;
	char *slash;

	if (env && *env) {
		snprintf(buf, len, "%s", env);
		return access(buf, R_OK);
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = 0;
		slash = strrchr(exe, '/');
		if (slash) {
			*slash = 0;
			snprintf(buf, len, "%s/tracer/.libs/libsonda.so", exe);
			if (access(buf, R_OK) == 0)
				return 0;
			snprintf(buf, len, "%s/../lib/libsonda.so", exe);
			if (access(buf, R_OK) == 0)
				return 0;
		}
	}
	snprintf(buf, len, "%s/libsonda.so", SONDA_LIBDIR);
	return access(buf, R_OK);
}

static void child_exec(char **argv, const char *lib, const char *out, int functions, int timeline, int cpu)
{
	const char *old = getenv("LD_PRELOAD");
	char pid[32];
	char *pre;

	if (old && *old) {
		pre = malloc(strlen(lib) + strlen(old) + 2);
		if (pre)
			sprintf(pre, "%s:%s", lib, old);
	} else {
		pre = strdup(lib);
	}
	if (pre)
		setenv("LD_PRELOAD", pre, 1);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	setenv("SONDA_ROOT_PID", pid, 1);
	if (out)
		setenv("SONDA_OUTPUT", out, 1);
	if (functions)
		setenv("SONDA_FUNCTIONS", "1", 1);
	if (timeline)
		setenv("SONDA_TIMELINE", "1", 1);
	if (!cpu)
		setenv("SONDA_CPU", "0", 1);
	execvp(argv[0], argv);
	fprintf(stderr, "sonda: run: cannot run %s: %s\n", argv[0], strerror(errno));
	_exit(errno == ENOENT ? 127 : 126);
}

/* The child is gone; if its region is still there, it did not save it. */
static int recover(pid_t pid, const char *out, int status)
{
	char region[512], outbuf[64], err[512];
	const char *env = getenv("SONDA_REGION");

	if (env && *env)
		snprintf(region, sizeof(region), "%s", env);
	else
		sonda_region_default_path((long)pid, region, sizeof(region));
	if (access(region, F_OK) != 0)
		return 0;
	if (!out) {
		snprintf(outbuf, sizeof(outbuf), "sonda-%ld.db", (long)pid);
		out = outbuf;
	}
	if (sonda_region_save(region, out, err, sizeof(err)) < 0) {
		cli_error("run: could not recover %s: %s", region, err);
		return -1;
	}
	unlink(region);
	if (WIFSIGNALED(status))
		fprintf(stderr, "sonda: %s died of signal %d; recovered what it recorded into %s\n",
			"the program", WTERMSIG(status), out);
	else
		fprintf(stderr, "sonda: the program exited without saving; recovered its region into %s\n", out);
	return 0;
}

/* Where a descendant's store goes: FILE.PID.db, as libsonda names it. */
static void descendant_output(const char *out, long pid, char *buf, size_t len)
{
	const char *dot = out ? strrchr(out, '.') : NULL, *slash = out ? strrchr(out, '/') : NULL;

	if (!out)
		snprintf(buf, len, "sonda-%ld.db", pid);
	else if (dot && (!slash || dot > slash) && dot != out)
		snprintf(buf, len, "%.*s.%ld%s", (int)(dot - out), out, pid, dot);
	else
		snprintf(buf, len, "%s.%ld", out, pid);
}

/* Processes the program started (forked children that _exit, killed
 * commands) leave their regions too: recover those that recorded
 * something, remove the rest.  Live ones are left alone. */
/* A region made before the program started (ctime earlier) is another
 * run's: one stat rather than an open and a read per leftover file. */
static int region_older(DIR *d, const char *name, const struct timespec *since)
{
	struct stat st;

	if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return 1;
	return st.st_ctim.tv_sec < since->tv_sec ||
	       (st.st_ctim.tv_sec == since->tv_sec && st.st_ctim.tv_nsec < since->tv_nsec);
}

static void recover_descendants(pid_t root, const char *out, const struct timespec *since)
{
	DIR *d = opendir("/dev/shm");
	struct dirent *e;
	int n = 0;

	if (!d)
		return;
	while ((e = readdir(d))) {
		struct sonda_region_header h;
		struct store_profile *p;
		char path[300], dst[PATH_MAX + 32], err[512];
		long pid;

		if (strncmp(e->d_name, "sonda-", 6) || (pid = atol(e->d_name + 6)) <= 0 || pid == root ||
		    region_older(d, e->d_name, since))
			continue;
		snprintf(path, sizeof(path), "/dev/shm/%s", e->d_name);
		if (sonda_region_peek(path, &h) < 0 || h.root_pid != root || h.pid != pid ||
		    kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		p = store_profile_new();
		if (p && sonda_region_load(path, p, err, sizeof(err)) &&
		    (store_ntasks(p) || store_nallocs(p) || store_nevents(p))) {
			descendant_output(out, pid, dst, sizeof(dst));
			if (store_save(dst, p, err, sizeof(err)) == 0)
				n++;
			else
				cli_error("run: could not recover %s: %s", path, err);
		}
		store_profile_free(p);
		unlink(path);
	}
	closedir(d);
	if (n)
		fprintf(stderr, "sonda: recovered %d process%s the program started, which exited without saving\n",
			n, n == 1 ? "" : "es");
}

/* --alloc[=NFRAMES] and --alloc-sample=BYTES become libsonda's
 * SONDA_ALLOC and SONDA_ALLOC_SAMPLE, which the child inherits. */
static int alloc_option(int c, const char *arg)
{
	char *end;
	unsigned long long v;

	if (c == 'a' && !arg) {
		setenv("SONDA_ALLOC", "16", 1);
		return 0;
	}
	v = strtoull(arg, &end, 10);
	if (c == 'a' && (*end || end == arg || v < 1 || v > 64)) {
		cli_error("run: --alloc=%s: NFRAMES must be a number from 1 to 64", arg);
		return -1;
	}
	if (c == 'S' && (*end || end == arg || v < 1 || v > (1ull << 40))) {
		cli_error("run: --alloc-sample=%s: BYTES must be a number from 1 to 2^40", arg);
		return -1;
	}
	if (c == 'S' && !getenv("SONDA_ALLOC"))
		setenv("SONDA_ALLOC", "16", 1);
	setenv(c == 'a' ? "SONDA_ALLOC" : "SONDA_ALLOC_SAMPLE", arg, 1);
	return 0;
}

static int run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "functions", no_argument, NULL, 'f' },
		{ "timeline", no_argument, NULL, 't' },
		{ "no-cpu", no_argument, NULL, 'c' },
		{ "alloc", optional_argument, NULL, 'a' },
		{ "alloc-sample", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, functions = 0, timeline = 0, cpu = 1, status;
	const char *out = NULL;
	char lib[PATH_MAX], outabs[PATH_MAX + 8];
	struct sigaction sa, old_int, old_quit, old_term, old_hup;
	struct timespec started;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			out = optarg;
			break;
		case 'f':
			functions = 1;
			break;
		case 't':
			timeline = 1;
			break;
		case 'c':
			cpu = 0;
			break;
		case 'a':
		case 'S':
			if (alloc_option(c, optarg) < 0)
				return cli_bad_usage(&cli_cmd_run);
			break;
		case 'h':
			return cli_usage(&cli_cmd_run, stdout, 0);
		default:
			return cli_bad_usage(&cli_cmd_run);
		}
	}
	if (optind >= argc) {
		cli_error("run: no command given (sonda run [OPTIONS] -- CMD...)");
		return cli_bad_usage(&cli_cmd_run);
	}
	if (libsonda_find(lib, sizeof(lib)) != 0) {
		cli_error("run: cannot find libsonda.so (looked beside sonda and in %s; "
			  "SONDA_LIBSONDA names it)", SONDA_LIBDIR);
		return 1;
	}
	/* the child may chdir: give it an absolute output path */
	if (out && out[0] != '/') {
		char cwd[PATH_MAX / 2];

		if (getcwd(cwd, sizeof(cwd)) && strlen(cwd) + strlen(out) + 2 < sizeof(outabs)) {
			size_t n = strlen(cwd);

			memcpy(outabs, cwd, n);
			outabs[n] = '/';
			strcpy(outabs + n + 1, out);
			out = outabs;
		}
	}
	fflush(NULL);
	/* the file system's clock, as region ctimes are stamped (coarse) */
	clock_gettime(CLOCK_REALTIME_COARSE, &started);
	child = fork();
	if (child < 0) {
		cli_error("run: fork: %s", strerror(errno));
		return 1;
	}
	if (child == 0)
		child_exec(argv + optind, lib, out, functions, timeline, cpu);
	/* The terminal's ^C and ^\ reach the child directly; TERM and HUP sent
	 * to sonda are passed on, so the child can still save its stats. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGQUIT, &sa, &old_quit);
	sa.sa_handler = forward;
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGHUP, &sa, &old_hup);
	while (waitpid(child, &status, 0) < 0) {
		if (errno != EINTR) {
			cli_error("run: waitpid: %s", strerror(errno));
			return 1;
		}
	}
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGQUIT, &old_quit, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGHUP, &old_hup, NULL);
	recover(child, out, status);
	recover_descendants(child, out, &started);
	if (out && access(out, F_OK) != 0 && !(WIFEXITED(status) && WEXITSTATUS(status) >= 126))
		cli_error("run: no store was written to %s: the program never loaded libsonda "
			  "(statically linked, set-user-ID) or could not create its region", out);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

const struct cli_command cli_cmd_run = {
	"run", run, "run a program with libsonda preloaded (tasks, functions, allocations)", usage
};
