/* export-chrome.c - Chrome trace JSON (Perfetto, chrome://tracing, speedscope): tracer events and sampled stacks as X events. */
#include "config.h"

#include "viewer/viewer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 4096

struct chrome {
	FILE *f;
	const struct store_profile *p;
	int first;
};

struct span {
	uint32_t frame;
	double start;	/* µs */
};

static int64_t pid_of(const struct store_profile *p, uint32_t session)
{
	return store_session_get((struct store_profile *)p, session)->pid;
}

static void begin_event(struct chrome *c)
{
	fputs(c->first ? "\n  {" : ",\n  {", c->f);
	c->first = 0;
}

static void put_x(struct chrome *c, const char *name, const char *cat, double ts, double dur,
		  int64_t pid, int64_t tid)
{
	begin_event(c);
	fputs("\"name\": ", c->f);
	view_json_string(c->f, name);
	fprintf(c->f, ", \"cat\": \"%s\", \"ph\": \"X\", \"ts\": %.3f, \"dur\": %.3f, "
		"\"pid\": %lld, \"tid\": %lld}", cat, ts, dur, (long long)pid, (long long)tid);
}

static void put_metadata(struct chrome *c, const struct view_filter *f)
{
	for (uint32_t s = 1; s < store_nsessions(c->p); s++) {
		const struct store_session *ses = store_session_get((struct store_profile *)c->p, s);

		if (f && f->nsessions && !view_filter_keep(&(struct view_filter){
				.sessions = f->sessions, .nsessions = f->nsessions }, s, 0, 0))
			continue;
		begin_event(c);
		fprintf(c->f, "\"name\": \"process_name\", \"ph\": \"M\", \"pid\": %lld, "
			"\"tid\": 0, \"args\": {\"name\": ", (long long)ses->pid);
		view_json_string(c->f, ses->command && *ses->command ? ses->command : "?");
		fputs("}}", c->f);
	}
	for (uint32_t t = 1; t < store_nthreads(c->p); t++) {
		const struct store_thread *th = store_thread_get(c->p, t);

		if (!view_filter_keep(&(struct view_filter){
				.threads = f ? f->threads : NULL, .nthreads = f ? f->nthreads : 0,
				.sessions = f ? f->sessions : NULL, .nsessions = f ? f->nsessions : 0 },
				th->session, t, 0))
			continue;
		begin_event(c);
		fprintf(c->f, "\"name\": \"thread_name\", \"ph\": \"M\", \"pid\": %lld, "
			"\"tid\": %lld, \"args\": {\"name\": ", (long long)pid_of(c->p, th->session),
			(long long)th->tid);
		view_json_string(c->f, th->name && *th->name ? th->name :
				 th->role && *th->role ? th->role : "");
		fputs("}}", c->f);
	}
}

static void put_events(struct chrome *c, const struct view_filter *f)
{
	static const char *cats[] = { "task", "span", "function" };
	struct view_filter ef = f ? *f : (struct view_filter){ 0 };

	ef.state_any = ef.state_none = 0;
	for (uint32_t i = 0; i < store_nevents(c->p); i++) {
		const struct store_event *e = store_event_get(c->p, i);

		if (!view_filter_keep(&ef, e->session, e->thread, 0))
			continue;
		put_x(c, store_string(c->p, e->name), e->kind < 3 ? cats[e->kind] : "task",
		      (double)e->start_ns / 1e3, (double)(e->dur_ns > 0 ? e->dur_ns : 0) / 1e3,
		      pid_of(c->p, e->session), store_thread_get(c->p, e->thread)->tid);
	}
}

/* Frames of a call site, root first, into out; returns how many. */
static uint32_t stack_of(const struct store_profile *p, uint32_t c, uint32_t *out)
{
	uint32_t n = 0, tmp[MAX_DEPTH];

	while (c && c < store_ncallsites(p) && n < MAX_DEPTH) {
		const struct store_callsite *cs = store_callsite_get(p, c);

		tmp[n++] = cs->frame;
		c = cs->parent < c ? cs->parent : 0;
	}
	for (uint32_t i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	return n;
}

static void close_spans(struct chrome *c, struct span *open, uint32_t from, uint32_t to,
			double now, int64_t pid, int64_t tid)
{
	char label[1024];

	while (to > from) {
		to--;
		view_frame_label(c->p, open[to].frame, label, sizeof(label));
		put_x(c, label, "sample", open[to].start, now - open[to].start, pid, tid);
	}
}

/* Samples become nested X events: each sample covers weight sampling
 * intervals from its time (or right after the previous one, as samples
 * of one time bucket have no order of their own); a frame shared with the
 * previous sample's stack stays open. */
static int put_samples(struct chrome *c, const struct view_filter *f)
{
	uint32_t depth = 0, cur[MAX_DEPTH], next[MAX_DEPTH];
	size_t m;
	struct view_sample *refs = view_samples_sorted(c->p, f, &m);
	struct span *open = malloc(MAX_DEPTH * sizeof(*open));
	double now = 0;

	if (!refs || !open) {
		free(refs);
		free(open);
		return -1;
	}
	for (size_t i = 0; i < m; i++) {
		const struct view_sample *r = &refs[i];
		const struct store_session *ses = store_session_get((struct store_profile *)c->p,
								     r->session);
		double step = 1e6 / (ses->rate_hz > 0 ? ses->rate_hz : 100);	/* µs */
		int64_t pid = ses->pid, tid = store_thread_get(c->p, r->thread)->tid;
		uint32_t nn, common = 0;
		double t = (double)r->time_ns / 1e3;

		if (i && (r->session != refs[i - 1].session || r->thread != refs[i - 1].thread)) {
			const struct view_sample *q = &refs[i - 1];

			close_spans(c, open, 0, depth, now, pid_of(c->p, q->session),
				    store_thread_get(c->p, q->thread)->tid);
			depth = 0;
			now = 0;
		}
		if (t > now) {
			/* A gap between samples: what ran before it ended. */
			close_spans(c, open, 0, depth, now, pid, tid);
			depth = 0;
			now = t;
		}
		nn = stack_of(c->p, r->callsite, next);
		while (common < depth && common < nn && cur[common] == next[common])
			common++;
		close_spans(c, open, common, depth, now, pid, tid);
		for (uint32_t d = common; d < nn; d++) {
			open[d] = (struct span){ next[d], now };
			cur[d] = next[d];
		}
		depth = nn;
		now += step * (double)r->weight;
	}
	if (m)
		close_spans(c, open, 0, depth, now, pid_of(c->p, refs[m - 1].session),
			    store_thread_get(c->p, refs[m - 1].thread)->tid);
	free(refs);
	free(open);
	return 0;
}

int view_export_chrome(FILE *f, const struct store_profile *p, const struct view_export_opts *o,
		       char *err, size_t errlen)
{
	struct chrome c = { f, p, 1 };
	const struct view_filter *filter = o ? o->filter : NULL;

	fputs("{\"displayTimeUnit\": \"ms\", \"otherData\": {\"exporter\": \"sonda "
	      PACKAGE_VERSION "\"},\n \"traceEvents\": [", f);
	put_metadata(&c, filter);
	put_events(&c, filter);
	if (put_samples(&c, filter) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	fputs("\n]}\n", f);
	if (fflush(f) != 0 || ferror(f)) {
		snprintf(err, errlen, "write error: %s", strerror(errno));
		return -1;
	}
	return 0;
}
