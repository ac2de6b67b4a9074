/* export-speedscope.c - speedscope's JSON file format: sampled profiles per thread, evented ones for tracer tasks. */
#include "config.h"

#include "viewer/viewer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define SPEEDSCOPE_SCHEMA "https://www.speedscope.app/file-format-schema.json"

struct ss {
	FILE *f;
	const struct store_profile *p;
	uint32_t *frame_index;	/* store frame id -> shared frame index + 1 */
	uint32_t *name_index;	/* string id (task names) -> shared frame index + 1 */
	uint32_t nshared;
	uint32_t *stack;	/* scratch for one stack, leaf first */
	int nprofiles;
	struct view_sample *items;
	size_t n, cap;
	int failed;
};

static void add_item(struct ss *s, uint32_t session, uint32_t thread, uint32_t callsite,
		     int64_t t, uint64_t w)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 256;
		struct view_sample *q = realloc(s->items, cap * sizeof(*q));

		if (!q) {
			s->failed = 1;
			return;
		}
		s->items = q;
		s->cap = cap;
	}
	s->items[s->n++] = (struct view_sample){ session, thread, callsite, t, w };
}

static void put_shared_frame(struct ss *s, const char *name, const char *file, int32_t line)
{
	fputs(s->nshared ? ",\n    {\"name\": " : "\n    {\"name\": ", s->f);
	view_json_string(s->f, *name ? name : "[unknown]");
	if (file && *file) {
		fputs(", \"file\": ", s->f);
		view_json_string(s->f, file);
	}
	if (line > 0)
		fprintf(s->f, ", \"line\": %d", (int)line);
	fputc('}', s->f);
	s->nshared++;
}

/* The shared index of a store frame, writing it out when first seen. */
static uint32_t frame_index(struct ss *s, uint32_t frame)
{
	if (frame >= store_nframes(s->p))
		frame = 0;
	if (!s->frame_index[frame]) {
		const struct store_frame *fr = store_frame_get(s->p, frame);

		put_shared_frame(s, store_string(s->p, fr->function), store_string(s->p, fr->file),
				 fr->line);
		s->frame_index[frame] = s->nshared;
	}
	return s->frame_index[frame] - 1;
}

static uint32_t name_index(struct ss *s, uint32_t name)
{
	if (name >= store_nstrings(s->p))
		name = 0;
	if (!s->name_index[name]) {
		put_shared_frame(s, store_string(s->p, name), NULL, 0);
		s->name_index[name] = s->nshared;
	}
	return s->name_index[name] - 1;
}

/* Pass one writes the shared frames (every stack's), pass two the profiles. */
static void index_stacks(struct ss *s)
{
	for (size_t i = 0; i < s->n; i++) {
		uint32_t c = s->items[i].callsite, guard = 0;

		while (c && c < store_ncallsites(s->p) && guard++ < 100000) {
			const struct store_callsite *cs = store_callsite_get(s->p, c);

			frame_index(s, cs->frame);
			c = cs->parent < c ? cs->parent : 0;
		}
	}
	for (uint32_t i = 0; i < store_nevents(s->p); i++)
		name_index(s, store_event_get(s->p, i)->name);
}

static void put_stack(struct ss *s, uint32_t c)
{
	uint32_t n = 0, max = 100000;

	while (c && c < store_ncallsites(s->p) && n < max) {
		const struct store_callsite *cs = store_callsite_get(s->p, c);

		s->stack[n++] = frame_index(s, cs->frame);
		c = cs->parent < c ? cs->parent : 0;
	}
	putc('[', s->f);
	for (uint32_t i = n; i-- > 0;)
		fprintf(s->f, i + 1 == n ? "%u" : ",%u", s->stack[i]);
	putc(']', s->f);
}

static void thread_name(struct ss *s, uint32_t session, uint32_t thread, const char *what,
			char *buf, size_t len)
{
	const struct store_thread *t = store_thread_get(s->p, thread);

	if (store_nsessions(s->p) > 2)
		snprintf(buf, len, "%ssession %u thread %lld (%s)", what, session,
			 (long long)t->tid, t->name ? t->name : "");
	else
		snprintf(buf, len, "%sthread %lld (%s)", what, (long long)t->tid,
			 t->name ? t->name : "");
}

static void begin_profile(struct ss *s, const char *type, const char *name, const char *unit,
			  double start, double end)
{
	fputs(s->nprofiles++ ? ",\n  {\"type\": " : "\n  {\"type\": ", s->f);
	view_json_string(s->f, type);
	fputs(", \"name\": ", s->f);
	view_json_string(s->f, name);
	fprintf(s->f, ", \"unit\": \"%s\", \"startValue\": %.9g, \"endValue\": %.9g", unit, start,
		end);
}

/* One sampled profile for items[a..b), all of one (session, thread) or, for
 * allocations, of one session. */
static void put_sampled(struct ss *s, size_t a, size_t b, const char *name, const char *unit,
			double scale)
{
	double total = 0;

	for (size_t i = a; i < b; i++)
		total += (double)s->items[i].weight * scale;
	begin_profile(s, "sampled", name, unit, 0, total);
	fputs(",\n   \"samples\": [", s->f);
	for (size_t i = a; i < b; i++) {
		if (i > a)
			putc(',', s->f);
		put_stack(s, s->items[i].callsite);
	}
	fputs("],\n   \"weights\": [", s->f);
	for (size_t i = a; i < b; i++)
		fprintf(s->f, i > a ? ",%.9g" : "%.9g", (double)s->items[i].weight * scale);
	fputs("]}", s->f);
}

struct ev {
	uint32_t session, thread;
	int64_t start, end;
	uint32_t depth, name;
};

static int cmp_ev(const void *a, const void *b)
{
	const struct ev *x = a, *y = b;

	if (x->session != y->session)
		return x->session < y->session ? -1 : 1;
	if (x->thread != y->thread)
		return x->thread < y->thread ? -1 : 1;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	if (x->depth != y->depth)
		return x->depth < y->depth ? -1 : 1;
	return x->end > y->end ? -1 : x->end < y->end;
}

/* One evented profile from ev[0..n), sorted, all of one thread.  Open and
 * close events must nest: each interval is clipped to the one it sits in,
 * and closed before a later one opens past its end. */
static void put_events(struct ss *s, struct ev *ev, size_t n, const char *name)
{
	struct ev **stack = calloc(n + 1, sizeof(*stack));
	int64_t end = ev[0].end;
	size_t depth = 0;

	if (!stack) {
		s->failed = 1;
		return;
	}
	for (size_t i = 1; i < n; i++)
		if (ev[i].end > end)
			end = ev[i].end;
	begin_profile(s, "evented", name, "nanoseconds", (double)ev[0].start, (double)end);
	fputs(",\n   \"events\": [", s->f);
	for (size_t i = 0; i <= n; i++) {
		while (depth && (i == n || stack[depth - 1]->end <= ev[i].start)) {
			struct ev *e = stack[--depth];

			fprintf(s->f, "%s{\"type\": \"C\", \"frame\": %u, \"at\": %lld}",
				",\n    ",
				name_index(s, e->name), (long long)e->end);
		}
		if (i == n)
			break;
		if (depth && ev[i].end > stack[depth - 1]->end)
			ev[i].end = stack[depth - 1]->end;
		fprintf(s->f, "%s{\"type\": \"O\", \"frame\": %u, \"at\": %lld}",
			i ? ",\n    " : "", name_index(s, ev[i].name), (long long)ev[i].start);
		stack[depth++] = &ev[i];
	}
	fputs("]}", s->f);
	free(stack);
}

static void put_evented(struct ss *s, const struct view_filter *f)
{
	uint32_t n = store_nevents(s->p);
	struct ev *ev = malloc((n ? n : 1) * sizeof(*ev));
	struct view_filter ef = f ? *f : (struct view_filter){ 0 };
	size_t m = 0;

	/* Events carry no sample state: only sessions and threads select them. */
	ef.state_any = ef.state_none = 0;
	if (!ev) {
		s->failed = 1;
		return;
	}
	for (uint32_t i = 0; i < n; i++) {
		const struct store_event *e = store_event_get(s->p, i);

		if (view_filter_keep(&ef, e->session, e->thread, 0))
			ev[m++] = (struct ev){ e->session, e->thread, e->start_ns,
					       e->start_ns + (e->dur_ns > 0 ? e->dur_ns : 0),
					       e->depth, e->name };
	}
	qsort(ev, m, sizeof(*ev), cmp_ev);
	for (size_t a = 0, b; a < m; a = b) {
		char name[512];

		for (b = a + 1; b < m && ev[b].session == ev[a].session &&
				ev[b].thread == ev[a].thread; b++)
			;
		thread_name(s, ev[a].session, ev[a].thread, "tasks: ", name, sizeof(name));
		put_events(s, ev + a, b - a, name);
	}
	free(ev);
}

static void put_allocs(struct ss *s, const struct view_filter *f, enum view_weight w)
{
	static const struct { enum view_weight w; const char *name; } kinds[] = {
		{ VIEW_WEIGHT_ALLOC_BYTES, "allocated bytes" },
		{ VIEW_WEIGHT_LIVE_BYTES, "live bytes" },
		{ VIEW_WEIGHT_ALLOCS, "allocations" },
	};

	for (int k = 0; k < 3; k++) {
		/* --by alloc gives both byte views; the others stand alone. */
		if (!(kinds[k].w == w || (w == VIEW_WEIGHT_ALLOC_BYTES &&
					  kinds[k].w == VIEW_WEIGHT_LIVE_BYTES)))
			continue;
		s->n = 0;
		for (uint32_t i = 0; i < store_nallocs(s->p); i++) {
			const struct store_alloc *a = store_alloc_get(s->p, i);
			uint64_t v = kinds[k].w == VIEW_WEIGHT_LIVE_BYTES ? a->live_bytes :
				     kinds[k].w == VIEW_WEIGHT_ALLOCS ? a->allocs : a->bytes;

			if (v && (!f || !f->nsessions ||
				  view_filter_keep(&(struct view_filter){ .sessions = f->sessions,
						.nsessions = f->nsessions }, a->session, 0, 0)))
				add_item(s, a->session, 0, a->callsite, 0, v);
		}
		if (s->n) {
			index_stacks(s);
			put_sampled(s, 0, s->n, kinds[k].name,
				    kinds[k].w == VIEW_WEIGHT_ALLOCS ? "none" : "bytes", 1);
		}
	}
}

int view_export_speedscope(FILE *f, const struct store_profile *p,
			   const struct view_export_opts *o, char *err, size_t errlen)
{
	const struct view_filter *filter = o ? o->filter : NULL;
	enum view_weight w = o ? o->weight : VIEW_WEIGHT_SAMPLES;
	struct ss s = { .f = f, .p = p };
	const struct store_session *s1 = store_nsessions(p) > 1 ?
		store_session_get((struct store_profile *)p, 1) : NULL;
	int rc = -1;

	s.frame_index = calloc(store_nframes(p) + 1, sizeof(*s.frame_index));
	s.name_index = calloc(store_nstrings(p) + 1, sizeof(*s.name_index));
	s.stack = calloc(100001, sizeof(*s.stack));
	if (!s.frame_index || !s.name_index || !s.stack)
		goto out;
	fputs("{\"$schema\": \"" SPEEDSCOPE_SCHEMA "\",\n \"exporter\": \"sonda " PACKAGE_VERSION
	      "\",\n \"name\": ", f);
	view_json_string(f, s1 && s1->command && *s1->command ? s1->command : "sonda profile");
	fputs(",\n \"activeProfileIndex\": 0,\n \"shared\": {\"frames\": [", f);
	if (w == VIEW_WEIGHT_SAMPLES) {
		s.items = view_samples_sorted(p, filter, &s.n);
		if (!s.items)
			goto out;
		s.cap = s.n;
		index_stacks(&s);
	} else {
		/* Frames are written as the profiles need them: write them all first. */
		for (uint32_t i = 0; i < store_nallocs(p); i++)
			add_item(&s, 0, 0, store_alloc_get(p, i)->callsite, 0, 1);
		index_stacks(&s);
		s.n = 0;
	}
	fputs("]},\n \"profiles\": [", f);
	if (w == VIEW_WEIGHT_SAMPLES) {
		for (size_t a = 0, b; a < s.n; a = b) {
			const struct store_session *ses;
			char name[512];

			for (b = a + 1; b < s.n && s.items[b].session == s.items[a].session &&
					s.items[b].thread == s.items[a].thread; b++)
				;
			ses = store_session_get((struct store_profile *)p, s.items[a].session);
			thread_name(&s, s.items[a].session, s.items[a].thread, "", name, sizeof(name));
			if (ses->rate_hz > 0)
				put_sampled(&s, a, b, name, "seconds", 1.0 / ses->rate_hz);
			else
				put_sampled(&s, a, b, name, "none", 1);
		}
		put_evented(&s, filter);
	} else {
		put_allocs(&s, filter, w);
	}
	fputs("\n ]}\n", f);
	rc = s.failed ? -1 : 0;
	if (rc < 0)
		snprintf(err, errlen, "out of memory");
out:
	if (rc < 0 && !s.failed)
		snprintf(err, errlen, "out of memory");
	free(s.frame_index);
	free(s.name_index);
	free(s.stack);
	free(s.items);
	if (rc == 0 && (fflush(f) != 0 || ferror(f))) {
		snprintf(err, errlen, "write error: %s", strerror(errno));
		rc = -1;
	}
	return rc;
}
