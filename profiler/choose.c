/* choose.c - which engine samples a target, and what the session calls it. */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "profiler/sampler-int.h"

static const struct prof_backend *backend_for(enum prof_mode mode, int native)
{
	if (native && mode != PROF_MODE_CPU && mode != PROF_MODE_WALL)
		return &prof_backend_mixed;
	switch (mode) {
	case PROF_MODE_PYTHON:
		return &prof_backend_python;
	case PROF_MODE_CPU:
		return &prof_backend_cpu;
	case PROF_MODE_WALL:
		return &prof_backend_wall;
	default:
		return NULL;
	}
}

int prof_try_attach(struct prof_target *t, const struct prof_backend *be,
		    const struct prof_options *o, char *err, size_t errlen)
{
	if (!be) {
		snprintf(err, errlen, "this sonda was built without that sampling engine");
		return -1;
	}
	if (be->attach(&t->e, t->pid, o, err, errlen) < 0)
		return -1;
	t->be = be;
	return 0;
}

int prof_choose_backend(struct prof_target *t, const struct prof_options *o, char *reason,
			size_t rlen, char *err, size_t errlen)
{
	char pyerr[160] = "", cpuerr[160] = "";

	if (o->mode != PROF_MODE_AUTO || o->native) {
		if (prof_try_attach(t, backend_for(o->mode, o->native), o, err, errlen) < 0)
			return -1;
		snprintf(reason, rlen, "%s (as asked)", t->be->describe(t->e));
		return 0;
	}
	if (prof_try_attach(t, &prof_backend_python, o, pyerr, sizeof(pyerr)) == 0) {
		snprintf(reason, rlen, "%s (the target is Python)", t->be->describe(t->e));
		return 0;
	}
	if (prof_try_attach(t, &prof_backend_cpu, o, cpuerr, sizeof(cpuerr)) == 0) {
		snprintf(reason, rlen, "%s (not Python: %s; perf events permitted)",
			 t->be->describe(t->e), pyerr);
		return 0;
	}
	if (prof_try_attach(t, &prof_backend_wall, o, err, errlen) == 0) {
		snprintf(reason, rlen, "%s (not Python: %s; no perf events: %s)",
			 t->be->describe(t->e), pyerr, cpuerr);
		return 0;
	}
	{
		char wallerr[160];

		snprintf(wallerr, sizeof(wallerr), "%s", err);
		snprintf(err, errlen, "%s; cpu mode: %s; wall mode: %s", pyerr, cpuerr, wallerr);
	}
	return -1;
}

void prof_target_describe(const struct prof_target *t, char *runtime, size_t rlen,
			  char *version, size_t vlen)
{
	const char *d = t->be->describe(t->e);
	const char *sp = strchr(d, ' ');

	if (!strcmp(t->be->name, "python") && sp) {
		snprintf(runtime, rlen, "python");
		snprintf(version, vlen, "%.*s", (int)strcspn(sp + 1, " "), sp + 1);
	} else {
		snprintf(runtime, rlen, "%s", !strcmp(t->be->name, "mixed") ? "python" : "native");
		version[0] = '\0';
	}
}

int prof_looks_python(pid_t pid)
{
	char path[64], exe[PATH_MAX];
	ssize_t n;
	struct prof_maps m;
	char err[160];
	int yes = 0;

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	n = readlink(path, exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		const char *base = strrchr(exe, '/');

		if (strstr(base ? base : exe, "python"))
			return 1;
	}
	if (prof_maps_read(pid, &m, err, sizeof(err)) < 0)
		return 0;
	for (size_t i = 0; i < m.n && !yes; i++)
		yes = strstr(m.v[i].path, "libpython") != NULL;
	prof_maps_free(&m);
	return yes;
}
