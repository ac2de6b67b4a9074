/* mixed.c - the "mixed" backend: native stacks of a Python process with the Python frames spliced in. */
#include "config.h"

#include <stdio.h>

#include "profiler/native/native.h"

/* Needs a per-thread Python frame reader from profiler/python/; until it
 * is there, --native on a Python process says so. */
static int mixed_attach(struct prof_engine **e, pid_t pid, const struct prof_options *o, char *err,
			size_t errlen)
{
	snprintf(err, errlen, "mixed Python + native stacks (--native) are not available in this build");
	return -1;
}

static const char *mixed_describe(struct prof_engine *e)
{
	return "mixed";
}

static int mixed_sample(struct prof_engine *e, prof_emit_fn emit, void *ctx, char *err,
			size_t errlen)
{
	return -1;
}

static void mixed_detach(struct prof_engine *e)
{
}

const struct prof_backend prof_backend_mixed = {
	.name = "mixed",
	.attach = mixed_attach,
	.describe = mixed_describe,
	.sample = mixed_sample,
	.detach = mixed_detach,
};
