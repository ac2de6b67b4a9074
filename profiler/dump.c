/* dump.c - one read of every thread's stack, for `sonda dump`: Python, mixed or native. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profiler/backend.h"
#include "profiler/profiler.h"

#define TORN_RETRIES 5
#define PAUSE_TIMEOUT_US 2000000L

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static int copy_frames(struct prof_dump_thread *t, const struct prof_stack *s)
{
	t->frames = calloc(s->nframes ? s->nframes : 1, sizeof(*t->frames));
	if (!t->frames)
		return -1;
	for (size_t i = 0; i < s->nframes; i++) {
		t->frames[i].function = dup_or_null(s->frames[i].function);
		t->frames[i].file = dup_or_null(s->frames[i].file);
		t->frames[i].module = dup_or_null(s->frames[i].module);
		t->frames[i].line = s->frames[i].line;
		t->nframes++;
	}
	return 0;
}

static void collect(void *ctx, const struct prof_stack *s)
{
	struct prof_dump *d = ctx;
	struct prof_dump_thread *t;

	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 8;
		struct prof_dump_thread *v = realloc(d->v, cap * sizeof(*v));

		if (!v) {
			d->nomem = 1;
			return;
		}
		d->v = v;
		d->cap = cap;
	}
	t = &d->v[d->n++];
	memset(t, 0, sizeof(*t));
	t->tid = s->tid;
	t->name = dup_or_null(s->thread_name);
	t->state = s->state;
	if (copy_frames(t, s) < 0)
		d->nomem = 1;
}

static void clear_threads(struct prof_dump *d)
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
	d->n = 0;
	d->nomem = 0;
}

void prof_dump_free(struct prof_dump *d)
{
	clear_threads(d);
	free(d->v);
	memset(d, 0, sizeof(*d));
}

/* Threads the engine could not name get their /proc comm. */
static void name_threads(struct prof_dump *d, pid_t pid)
{
	for (size_t i = 0; i < d->n; i++) {
		char name[64];

		if (d->v[i].name)
			continue;
		prof_thread_name(pid, (pid_t)d->v[i].tid, name, sizeof(name));
		d->v[i].name = strdup(name);
	}
}

/* One consistent Python read: every thread paused (unless pp is NULL) and
 * the read retried while a thread's stack looked torn. */
static int read_python(struct prof_engine *e, struct prof_pause *pp, struct prof_dump *d,
		       char *err, size_t errlen)
{
	int rc = -1;

	for (int i = 0; i < TORN_RETRIES; i++) {
		uint64_t torn = py_engine_torn(e);

		clear_threads(d);
		if (pp && (rc = prof_pause_stop(pp, err, errlen)) < 0)
			return rc;
		rc = prof_backend_python.sample(e, collect, d, err, errlen);
		if (pp)
			prof_pause_resume(pp);
		if (rc != 0 || d->nomem || py_engine_torn(e) == torn)
			break;
	}
	return rc;
}

static int dump_python(const struct prof_options *o, struct prof_dump *d, char *err,
		       size_t errlen)
{
	const struct prof_backend *b = &prof_backend_python;
	struct prof_engine *e;
	struct prof_pause *pp = NULL;
	int rc;

	if (b->attach(&e, o->pid, o, err, errlen) < 0)
		return -2;
	if (py_engine_warning(e))
		snprintf(d->warning, sizeof(d->warning), "%s", py_engine_warning(e));
	if (!o->nonblocking) {
		size_t len;

		if (!(pp = prof_pause_new(o->pid, err, errlen))) {
			len = strlen(err);
			snprintf(err + len, errlen - len, " (--nonblocking reads without pausing)");
			b->detach(e);
			return -2;
		}
		/* one read, not a sampling rate to keep: a loaded machine may
		 * take long to schedule every thread into its stop */
		prof_pause_set_timeout(pp, PAUSE_TIMEOUT_US);
	}
	rc = read_python(e, pp, d, err, errlen);
	if (pp)
		prof_pause_free(pp);
	snprintf(d->what, sizeof(d->what), "%s", b->describe(e));
	b->detach(e);
	return rc;
}

/* Mixed stacks for a Python process, else native ones; both engines pause
 * the threads themselves. */
static int dump_native(const struct prof_options *o, struct prof_dump *d, char *err,
		       size_t errlen)
{
	const struct prof_backend *b = &prof_backend_mixed;
	struct prof_options wall = *o;
	struct prof_engine *e;
	char why[320];
	int rc;

	wall.mode = PROF_MODE_WALL;
	if (b->attach(&e, o->pid, &wall, why, sizeof(why)) < 0) {
		b = &prof_backend_wall;
		if (b->attach(&e, o->pid, &wall, err, errlen) < 0)
			return -2;
	}
	rc = b->sample(e, collect, d, err, errlen);
	snprintf(d->what, sizeof(d->what), "%s", b->describe(e));
	b->detach(e);
	return rc;
}

int prof_dump_read(const struct prof_options *o, struct prof_dump *d, char *err, size_t errlen)
{
	int rc;

	memset(d, 0, sizeof(*d));
	if (prof_check_pid(o->pid, err, errlen) < 0)
		return -2;	/* gone, a zombie, or sonda itself: say which */
	rc = o->native ? dump_native(o, d, err, errlen) : dump_python(o, d, err, errlen);
	if (rc == 0 && d->nomem) {
		snprintf(err, errlen, "out of memory");
		rc = -1;
	}
	if (rc == -ESRCH) {
		snprintf(err, errlen, "process %d exited", (int)o->pid);
		rc = -2;
	}
	if (rc == 0)
		name_threads(d, o->pid);
	return rc < 0 && rc != -2 ? -1 : rc;
}
