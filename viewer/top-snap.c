/* top-snap.c - the current view of `sonda top` as a profile of its own: snapshots (s) and exports (e). */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "viewer/top-impl.h"
#include "viewer/viewer.h"

struct snap {
	struct store_profile *src, *dst;
	uint32_t *frame_map, *cs_map;	/* source id -> copy id, 0 = not yet */
	uint32_t nframes, ncs;
};

static uint32_t copy_frame(struct snap *s, uint32_t id)
{
	const struct store_frame *f;
	struct store_frame nf;

	if (!id || id >= s->nframes || !(f = store_frame_get(s->src, id)))
		return 0;
	if (s->frame_map[id])
		return s->frame_map[id];
	nf = *f;
	nf.function = store_string_intern(s->dst, store_string(s->src, f->function));
	nf.file = store_string_intern(s->dst, store_string(s->src, f->file));
	nf.module = store_string_intern(s->dst, store_string(s->src, f->module));
	return s->frame_map[id] = store_frame_intern(s->dst, &nf);
}

/* Parents have smaller ids, so one recursion step per missing ancestor. */
static uint32_t copy_callsite(struct snap *s, uint32_t id, int depth)
{
	const struct store_callsite *cs;
	uint32_t parent;

	if (!id || id >= s->ncs || depth > 4096 || !(cs = store_callsite_get(s->src, id)))
		return 0;
	if (s->cs_map[id])
		return s->cs_map[id];
	parent = cs->parent < id ? copy_callsite(s, cs->parent, depth + 1) : 0;
	return s->cs_map[id] = store_callsite_intern(s->dst, parent, copy_frame(s, cs->frame));
}

static uint32_t copy_session(struct top *t, struct store_profile *dst)
{
	struct store_session *ss = store_nsessions(t->src.p) ? store_session_get(t->src.p, 1) : NULL;
	struct store_session ns;
	struct timespec now;

	memset(&ns, 0, sizeof(ns));
	if (ss)
		ns = *ss;
	clock_gettime(CLOCK_REALTIME, &now);
	ns.command = t->info.what;
	ns.mode = ns.mode ? ns.mode : "";
	ns.runtime = ns.runtime ? ns.runtime : "";
	ns.version = ns.version ? ns.version : "";
	ns.last_error = t->info.last_error;
	ns.rate_hz = t->info.rate_hz;
	ns.end_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
	if (!ns.start_ns || ns.start_ns > ns.end_ns)
		ns.start_ns = ns.end_ns - (int64_t)(t->info.elapsed_s * 1e9);
	ns.samples = t->data.total;
	return store_session_add(dst, &ns);
}

/* The stacks the view counts (its thread, since the last reset), with
 * their weights, as a new profile.  Takes the source lock. */
struct store_profile *top_snap_profile(struct top *t, char *err, size_t errlen)
{
	struct top_data *d = &t->data;
	struct snap s = { t->src.p, store_profile_new(), NULL, NULL, 0, 0 };
	uint32_t sess, n;

	if (!s.dst) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	store_profile_set_bucket(s.dst, 0);
	top_source_lock(&t->src);
	s.nframes = store_nframes(s.src);
	s.ncs = store_ncallsites(s.src);
	s.frame_map = calloc(s.nframes + 1, sizeof(uint32_t));
	s.cs_map = calloc(s.ncs + 1, sizeof(uint32_t));
	if (!s.frame_map || !s.cs_map) {
		top_source_unlock(&t->src);
		free(s.frame_map), free(s.cs_map);
		store_profile_free(s.dst);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	sess = copy_session(t, s.dst);
	n = store_nstacks(s.src) < d->nrows ? store_nstacks(s.src) : d->nrows;
	for (uint32_t i = 0; i < n; i++) {
		const struct store_stack *st = store_stack_get(s.src, i);
		const struct store_thread *th;
		struct store_sample smp;

		if (!st || d->prev[i] <= d->base[i] || (d->thread && st->thread != d->thread))
			continue;
		th = store_thread_get(s.src, st->thread);
		memset(&smp, 0, sizeof(smp));
		smp.session = sess;
		smp.thread = th ? store_thread_find(s.dst, sess, th->tid, th->name) : 0;
		smp.callsite = copy_callsite(&s, st->callsite, 0);
		smp.state = st->state;
		smp.weight = d->prev[i] - d->base[i];
		store_sample_add(s.dst, &smp);
	}
	top_source_unlock(&t->src);
	free(s.frame_map);
	free(s.cs_map);
	return s.dst;
}

static void stamp_path(char *path, size_t n, const char *ext)
{
	time_t now = time(NULL);
	struct tm tm;

	localtime_r(&now, &tm);
	snprintf(path, n, "sonda-top-%04d%02d%02d-%02d%02d%02d.%s", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ext);
}

int top_snap_save(struct top *t, char *path, size_t pathlen, char *err, size_t errlen)
{
	struct store_profile *p = top_snap_profile(t, err, errlen);
	int rc;

	if (!p)
		return -1;
	stamp_path(path, pathlen, "db");
	rc = store_save(path, p, err, errlen);
	store_profile_free(p);
	return rc;
}

int top_export(struct top *t, const char *format, char *path, size_t pathlen, char *err,
	       size_t errlen)
{
	enum view_format fmt;
	struct view_export_opts o;
	struct store_profile *p;
	FILE *f;
	int rc;

	if (view_format_parse(format, &fmt) < 0) {
		snprintf(err, errlen, "unknown format '%s' (folded, svg, speedscope)", format);
		return -1;
	}
	stamp_path(path, pathlen, fmt == VIEW_FORMAT_SVG ? "svg" :
		   fmt == VIEW_FORMAT_FOLDED ? "folded" : "json");
	if (!(p = top_snap_profile(t, err, errlen)))
		return -1;
	if (!(f = fopen(path, "w"))) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		store_profile_free(p);
		return -1;
	}
	memset(&o, 0, sizeof(o));
	o.title = t->info.what[0] ? t->info.what : NULL;
	rc = view_export(f, p, fmt, &o, err, errlen);
	if (fclose(f) != 0 && rc == 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		rc = -1;
	}
	store_profile_free(p);
	return rc;
}
