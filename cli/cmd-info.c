/* cmd-info.c - `sonda info`: what a store holds (sessions, threads, samples, time span, tables). */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli/cli.h"
#include "store/store.h"

static const char usage[] =
	"usage: sonda info FILE\n"
	"\n"
	"Prints what a sonda store holds: its schema version, each session (process,\n"
	"command, runtime, mode and rate, start and end, samples taken, missed and\n"
	"failed), each thread with its sample count, the time span the samples cover,\n"
	"the number of distinct stacks, and the rows of every table.\n"
	"A file that is missing, not SQLite, not a sonda store, written by a newer\n"
	"sonda, or damaged is refused with one line saying why (exit status 2).\n"
	"\n"
	"  -h, --help    this text\n"
	"\n"
	"Example:\n"
	"  sonda info run.db\n";

static int run(int argc, char **argv);

const struct cli_command cli_cmd_info = {
	"info", run, "what a store holds: sessions, threads, samples, time span", usage,
};

static const struct option options[] = {
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

/* "2026-11-25 20:04:41.123 UTC", or "-" for 0. */
static const char *format_time(int64_t ns, char *buf, size_t len)
{
	time_t sec = (time_t)(ns / 1000000000);
	struct tm tm;

	if (!ns || !gmtime_r(&sec, &tm))
		return "-";
	strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(buf + strlen(buf), len - strlen(buf), ".%03d UTC",
		 (int)(ns % 1000000000 / 1000000));
	return buf;
}

static const char *format_size(long long bytes, char *buf, size_t len)
{
	if (bytes >= 1024 * 1024)
		snprintf(buf, len, "%.1f MB", bytes / 1048576.0);
	else if (bytes >= 1024)
		snprintf(buf, len, "%.1f KB", bytes / 1024.0);
	else
		snprintf(buf, len, "%lld bytes", bytes);
	return buf;
}

static void print_header(const char *path, const struct store_profile *p)
{
	char version[64] = "?", created[64] = "?", size[32];
	struct stat st;
	int64_t bucket = store_profile_bucket(p);

	store_meta(path, "sonda_version", version, sizeof(version));
	store_meta(path, "created", created, sizeof(created));
	printf("store      %s (%s)\n", path,
	       format_size(stat(path, &st) == 0 ? (long long)st.st_size : 0, size, sizeof(size)));
	printf("schema     %d, written by sonda %s, created %s\n", STORE_SCHEMA_VERSION, version,
	       created);
	if (bucket)
		printf("samples    aggregated per %g s\n", bucket / 1e9);
	else
		printf("samples    raw (every sample time-stamped)\n");
}

static void print_threads(const struct store_profile *p, uint32_t session, const uint64_t *weight)
{
	uint32_t n = 0;

	for (uint32_t t = 1; t < store_nthreads(p); t++)
		n += store_thread_get(p, t)->session == session;
	printf("  threads  %u\n", n);
	if (!n)
		return;
	printf("    %-10s %-20s %-8s %s\n", "TID", "NAME", "ROLE", "SAMPLES");
	for (uint32_t t = 1; t < store_nthreads(p); t++) {
		const struct store_thread *th = store_thread_get(p, t);

		if (th->session != session)
			continue;
		printf("    %-10lld %-20s %-8s %llu\n", (long long)th->tid,
		       th->name[0] ? th->name : "-", th->role[0] ? th->role : "-",
		       (unsigned long long)weight[t]);
	}
}

static void print_session(const struct store_profile *p, uint32_t id, const uint64_t *weight,
			  uint64_t stored)
{
	const struct store_session *s = store_session_get((struct store_profile *)p, id);
	char a[64], b[64];

	printf("\nsession %u  pid %lld  %s\n", id, (long long)s->pid,
	       s->command[0] ? s->command : "-");
	printf("  runtime  %s%s%s\n", s->runtime[0] ? s->runtime : "-", s->version[0] ? " " : "",
	       s->version);
	if (s->rate_hz > 0)
		printf("  mode     %s at %g Hz\n", s->mode[0] ? s->mode : "-", s->rate_hz);
	else
		printf("  mode     %s\n", s->mode[0] ? s->mode : "-");
	printf("  start    %s\n", format_time(s->start_ns, a, sizeof(a)));
	if (s->end_ns && s->start_ns)
		printf("  end      %s (%.3f s)\n", format_time(s->end_ns, b, sizeof(b)),
		       (s->end_ns - s->start_ns) / 1e9);
	else
		printf("  end      %s\n", s->end_ns ? format_time(s->end_ns, b, sizeof(b)) :
		       "- (still recording, or the recorder was killed)");
	printf("  samples  %llu taken, %llu missed, %llu errors; %llu stored\n",
	       (unsigned long long)s->samples, (unsigned long long)s->missed,
	       (unsigned long long)s->errors, (unsigned long long)stored);
	if (s->last_error[0])
		printf("  error    %s\n", s->last_error);
	print_threads(p, id, weight);
}

static void print_samples(const struct store_profile *p)
{
	uint64_t total = 0;
	uint32_t distinct = 0, nc = store_ncallsites(p);
	int64_t first = INT64_MAX, last = INT64_MIN;
	unsigned char *seen = calloc(nc ? nc : 1, 1);

	for (uint32_t i = 0; i < store_nstacks(p); i++) {
		const struct store_stack *st = store_stack_get(p, i);

		total += st->weight;
		if (seen && st->callsite < nc && !seen[st->callsite]) {
			seen[st->callsite] = 1;
			distinct++;
		}
	}
	free(seen);
	for (uint32_t i = 0; i < store_nsamples(p); i++) {
		const struct store_sample *s = store_sample_get(p, i);

		if (s->time_ns < first)
			first = s->time_ns;
		if (s->time_ns + store_profile_bucket(p) > last)
			last = s->time_ns + store_profile_bucket(p);
	}
	printf("\nsamples    %llu, %u distinct stacks\n", (unsigned long long)total, distinct);
	if (store_nsamples(p))
		printf("time span  %.3f s (from +%.3f s to +%.3f s after the session start)\n",
		       (last - first) / 1e9, first / 1e9, last / 1e9);
	else
		printf("time span  -\n");
}

static void print_tables(const char *path)
{
	struct store_table_rows rows[16];
	char err[256];
	int n = store_count_rows(path, rows, 16, err, sizeof(err));

	if (n < 0)
		return;
	printf("tables    ");
	for (int i = 0; i < n; i++)
		printf(" %s %lld%s", rows[i].table, (long long)rows[i].rows, i + 1 < n ? "," : "\n");
}

static int info(const char *path)
{
	char err[256];
	struct store_profile *p = store_load(path, err, sizeof(err));
	uint64_t *weight, *by_session;

	if (!p) {
		cli_error("%s: %s", path, err);
		return 2;
	}
	weight = calloc(store_nthreads(p), sizeof(*weight));
	by_session = calloc(store_nsessions(p), sizeof(*by_session));
	if (!weight || !by_session) {
		cli_error("out of memory");
		free(weight);
		free(by_session);
		store_profile_free(p);
		return 1;
	}
	for (uint32_t i = 0; i < store_nstacks(p); i++) {
		const struct store_stack *st = store_stack_get(p, i);

		if (st->thread < store_nthreads(p))
			weight[st->thread] += st->weight;
		if (st->session < store_nsessions(p))
			by_session[st->session] += st->weight;
	}
	print_header(path, p);
	for (uint32_t s = 1; s < store_nsessions(p); s++)
		print_session(p, s, weight, by_session[s]);
	if (store_nsessions(p) <= 1)
		printf("\nsessions   none\n");
	print_samples(p);
	print_tables(path);
	free(weight);
	free(by_session);
	store_profile_free(p);
	return 0;
}

static int run(int argc, char **argv)
{
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+h", options, NULL)) != -1) {
		if (c == 'h')
			return cli_usage(&cli_cmd_info, stdout, 0);
		return cli_bad_usage(&cli_cmd_info);
	}
	if (argc - optind != 1) {
		cli_error("info: expected one store file");
		return cli_bad_usage(&cli_cmd_info);
	}
	return info(argv[optind]);
}
