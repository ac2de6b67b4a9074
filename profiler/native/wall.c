/* wall.c - the "wall" backend: every thread interrupted with ptrace, its stack copied, resumed, unwound. */
#include "config.h"

#include <stdio.h>

#include "profiler/native/native.h"

/* Interim: lands with the sampler's pause helpers (profiler/ptrace.c). */
static int wall_attach(struct prof_engine **e, pid_t pid, const struct prof_options *o, char *err,
		       size_t errlen)
{
	snprintf(err, errlen, "wall mode is not available in this build");
	return -1;
}

static const char *wall_describe(struct prof_engine *e)
{
	return "wall";
}

static int wall_sample(struct prof_engine *e, prof_emit_fn emit, void *ctx, char *err, size_t errlen)
{
	return -1;
}

static void wall_detach(struct prof_engine *e)
{
}

const struct prof_backend prof_backend_wall = {
	.name = "wall",
	.attach = wall_attach,
	.describe = wall_describe,
	.sample = wall_sample,
	.detach = wall_detach,
};

const struct prof_backend prof_backend_mixed = {
	.name = "mixed",
	.attach = wall_attach,
	.describe = wall_describe,
	.sample = wall_sample,
	.detach = wall_detach,
};
