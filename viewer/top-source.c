/* top-source.c - where `sonda top` reads from: a store, a live sampler, or a libsonda region. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "viewer/top-impl.h"
#include "tracer/region.h"

double top_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int open_file(struct top_source *s, const struct view_top_options *o, int *usage,
		     char *err, size_t errlen)
{
	s->kind = TOP_SRC_FILE;
	s->path = o->path;
	s->p = store_load(o->path, err, errlen);
	if (!s->p) {
		*usage = 1;	/* a missing or foreign file is bad input */
		return -1;
	}
	return 0;
}

/* The libsonda region of a process, when it runs libsonda. */
static void region_path(pid_t pid, char *path, size_t n)
{
	const char *env = getenv("SONDA_REGION");

	sonda_region_default_path(pid, path, n);
	if (env && *env)
		snprintf(path, n, "%s", env);
}

static int has_region(pid_t pid)
{
	char path[512];

	region_path(pid, path, sizeof(path));
	return access(path, R_OK) == 0;
}

/* Reads the region again into a new profile: its rows are replaced, not grown. */
static int load_region(struct top_source *s, struct store_profile **dst, char *err,
		       size_t errlen)
{
	char path[512];
	struct store_profile *p = store_profile_new();

	if (!p) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	region_path(s->region_pid, path, sizeof(path));
	if (!sonda_region_load(path, p, err, errlen)) {
		store_profile_free(p);
		return -1;
	}
	store_profile_free(*dst);
	*dst = p;
	return 0;
}

static int open_live(struct top_source *s, const struct view_top_options *o, char *err,
		     size_t errlen)
{
	char serr[256];

	s->kind = TOP_SRC_LIVE;
	if (o->prof.pid && has_region(o->prof.pid)) {
		s->region_pid = o->prof.pid;
		if (load_region(s, &s->rp, serr, sizeof(serr)) < 0) {
			s->region_pid = 0;	/* sample it like any other process */
			snprintf(s->note, sizeof(s->note), "libsonda region not read: %s", serr);
		}
	}
	s->p = store_profile_new();
	if (!s->p) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (o->output) {
		s->writer = store_writer_open(o->output, err, errlen);
		if (!s->writer)
			return -1;
		s->path = o->output;
	}
	s->sampler = prof_sampler_start(&o->prof, s->p, serr, sizeof(serr));
	if (s->sampler)
		return 0;
	if (!s->rp) {
		snprintf(err, errlen, "%s", serr);
		return -1;
	}
	/* It cannot be sampled, but it shows its own tasks. */
	s->kind = TOP_SRC_REGION;
	snprintf(s->note, sizeof(s->note), "not sampled (%s): libsonda tasks only", serr);
	store_profile_free(s->p);
	s->p = s->rp;
	s->rp = NULL;
	return 0;
}

int top_source_open(struct top_source *s, const struct view_top_options *o, int *usage,
		    char *err, size_t errlen)
{
	memset(s, 0, sizeof(*s));
	s->started = top_now();
	*usage = 0;
	if (o->path)
		return open_file(s, o, usage, err, errlen);
	return open_live(s, o, err, errlen);
}

void top_source_lock(struct top_source *s)
{
	if (s->sampler)
		prof_sampler_lock(s->sampler);
}

void top_source_unlock(struct top_source *s)
{
	if (s->sampler)
		prof_sampler_unlock(s->sampler);
}

/* Unlocked: reading a region can take a while, the sampler must not wait. */
int top_source_reload(struct top_source *s, char *err, size_t errlen)
{
	if (s->kind == TOP_SRC_REGION)
		return load_region(s, &s->p, err, errlen);
	if (s->kind == TOP_SRC_LIVE && s->region_pid)
		return load_region(s, &s->rp, err, errlen);
	return 0;
}

int top_source_poll(struct top_source *s, char *err, size_t errlen)
{
	switch (s->kind) {
	case TOP_SRC_FILE:
		s->loaded = 1;
		return 0;
	case TOP_SRC_REGION:
		return 0;	/* top_source_reload() did it */
	case TOP_SRC_LIVE:
		if (s->writer && store_writer_sync(s->writer, s->p) < 0) {
			snprintf(err, errlen, "%s: cannot write the store", s->path);
			return -1;
		}
		return 0;
	}
	return 0;
}

static void copy(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src ? src : "");
}

/* The first session describes the target; counters add up over all.
 * Takes the lock itself: the sampler's status has a lock of its own. */
void top_source_info(struct top_source *s, struct top_info *in)
{
	struct store_session *ss;
	uint32_t nsess;

	memset(in, 0, sizeof(*in));
	top_source_lock(s);
	nsess = store_nsessions(s->p);
	ss = nsess ? store_session_get(s->p, 1) : NULL;
	if (ss) {
		copy(in->what, sizeof(in->what), ss->command);
		if (ss->runtime && *ss->runtime)
			snprintf(in->runtime, sizeof(in->runtime), "%s%s%s", ss->runtime,
				 ss->version && *ss->version ? " " : "",
				 ss->version ? ss->version : "");
		copy(in->mode, sizeof(in->mode), ss->mode);
		in->pid = ss->pid;
		in->rate_hz = ss->rate_hz;
	}
	for (uint32_t i = 1; i <= nsess; i++) {
		struct store_session *x = store_session_get(s->p, i);

		if (!x)
			continue;
		in->samples += x->samples;
		in->missed += x->missed;
		in->errors += x->errors;
		if (x->last_error && *x->last_error)
			copy(in->last_error, sizeof(in->last_error), x->last_error);
		if (x->end_ns > x->start_ns)
			in->elapsed_s += (x->end_ns - x->start_ns) / 1e9;
	}
	in->nthreads = (int)store_nthreads(s->p);
	top_source_unlock(s);
	if (s->kind == TOP_SRC_FILE) {
		in->achieved_hz = in->elapsed_s > 0 ? in->samples / in->elapsed_s : 0;
		return;
	}
	in->elapsed_s = top_now() - s->started;
	if (s->sampler) {
		struct prof_status st;

		prof_sampler_status(s->sampler, &st);
		in->pid = st.pid;
		in->elapsed_s = st.elapsed_s;
		in->achieved_hz = st.achieved_hz;
		in->samples = st.samples;
		in->missed = st.missed;
		in->errors = st.errors;
		copy(in->last_error, sizeof(in->last_error), st.last_error);
		if (st.mode_reason[0] && !in->runtime[0])	/* the session's is shorter */
			copy(in->runtime, sizeof(in->runtime), st.mode_reason);
		in->target_exited = st.target_exited || !prof_sampler_running(s->sampler);
		in->exit_status = st.exit_status;
	}
}

int top_source_close(struct top_source *s, char *err, size_t errlen)
{
	int rc = 0;

	if (s->sampler) {	/* first: the target must be running again */
		prof_sampler_stop(s->sampler);
		prof_sampler_free(s->sampler);
		s->sampler = NULL;
	}
	if (s->writer) {
		rc = store_writer_close(s->writer, s->p, err, errlen);
		s->writer = NULL;
	}
	store_profile_free(s->p);
	store_profile_free(s->rp);
	s->p = s->rp = NULL;
	return rc;
}
