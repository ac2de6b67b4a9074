/* backend.c - prof_backend_python: the CPython reader behind the sampling loop's interface. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profiler/backend.h"
#include "profiler/python/python.h"

struct prof_engine {
	struct py_reader r;
	char describe[320];
	char warning[200];
};

static int py_attach(struct prof_engine **out, pid_t pid, const struct prof_options *o,
		     char *err, size_t errlen)
{
	struct prof_engine *e = calloc(1, sizeof(*e));
	const struct py_target *t;

	*out = NULL;
	if (!e) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (py_reader_init(&e->r, pid, e->warning, sizeof(e->warning), err, errlen) < 0) {
		free(e);
		return -1;
	}
	e->r.keep_idle = o ? o->idle : 0;
	e->r.gil_only = o ? o->gil : 0;
	t = &e->r.t;
	if (t->micro >= 0)
		snprintf(e->describe, sizeof(e->describe), "python %d.%d.%d (%s)", t->major, t->minor,
			 t->micro, t->path);
	else
		snprintf(e->describe, sizeof(e->describe), "python %d.%d (%s)", t->major, t->minor,
			 t->path);
	*out = e;
	return 0;
}

static const char *py_describe(struct prof_engine *e)
{
	return e->describe;
}

static int py_sample(struct prof_engine *e, prof_emit_fn emit, void *ctx, char *err, size_t errlen)
{
	return py_reader_sample(&e->r, emit, ctx, err, errlen);
}

static void py_detach(struct prof_engine *e)
{
	if (!e)
		return;
	py_reader_fini(&e->r);
	free(e);
}

const struct prof_backend prof_backend_python = {
	.name = "python",
	.attach = py_attach,
	.describe = py_describe,
	.sample = py_sample,
	.detach = py_detach,
	.torn = py_engine_torn,
};

/* For sonda dump and the benchmark: what prof_backend_python does not say. */
const char *py_engine_warning(struct prof_engine *e)
{
	return e->warning[0] ? e->warning : NULL;
}

uint64_t py_engine_torn(struct prof_engine *e)
{
	return e->r.torn;
}

uint64_t py_engine_syscalls(struct prof_engine *e)
{
	return py_mem_syscalls(e->r.m);
}
