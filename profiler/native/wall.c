/* wall.c - the "wall" backend: every thread paused with ptrace, its stack copied, resumed, then unwound. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profiler/native/native.h"

struct prof_engine {
	struct prof_nat nat;
	struct prof_pause *pause;
	int idle;
	struct prof_grab grab;
};

static int wall_sample(struct prof_engine *e, prof_emit_fn emit, void *ctx, char *err,
		       size_t errlen)
{
	int rc = prof_pause_stop(e->pause, err, errlen);

	if (rc == -ESRCH)
		return -ESRCH;
	if (rc < 0) {
		prof_pause_resume(e->pause);
		return -1;
	}
	prof_grab_take(&e->grab, e->pause, e->nat.pid, e->idle);
	prof_pause_resume(e->pause);
	for (size_t i = 0; i < e->grab.n; i++) {
		const struct prof_grab_thread *t = &e->grab.t[i];

		prof_nat_emit(&e->nat, t->tid, t->state, &t->regs, t->stack, t->len, NULL, 0, emit,
			      ctx);
	}
	return 0;
}

/* The pause helper, checked once now so that a refusal (ptrace_scope,
 * another tracer) is reported at attach, not as errors at every tick.
 * Threads slow to stop (a loaded machine) are not a refusal. */
struct prof_pause *prof_nat_pause_new(pid_t pid, const struct prof_options *o, char *err,
				      size_t errlen)
{
	struct prof_pause *pp = prof_pause_new(pid, err, errlen);

	/* No rate: one read (sonda dump), which may wait for every thread
	 * of a loaded machine to stop. */
	if (pp && o && o->rate_hz <= 0)
		prof_pause_set_timeout(pp, 2000000);

	if (pp && prof_pause_stop(pp, err, errlen) < 0 && !prof_pause_late(pp)) {
		prof_pause_free(pp);
		return NULL;
	}
	if (pp)
		prof_pause_resume(pp);
	return pp;
}

static int wall_attach(struct prof_engine **ep, pid_t pid, const struct prof_options *o,
		       char *err, size_t errlen)
{
	struct prof_engine *e = calloc(1, sizeof(*e));

	if (!e) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	e->idle = o ? o->idle : 1;
	if (prof_nat_init(&e->nat, pid, err, errlen) != 0) {
		free(e);
		return -1;
	}
	e->pause = prof_nat_pause_new(pid, o, err, errlen);
	if (!e->pause) {
		prof_nat_fini(&e->nat);
		free(e);
		return -1;
	}
	*ep = e;
	return 0;
}

static const char *wall_describe(struct prof_engine *e)
{
	return "wall clock via ptrace";
}

static void wall_detach(struct prof_engine *e)
{
	if (!e)
		return;
	prof_pause_free(e->pause);
	prof_grab_free(&e->grab);
	prof_nat_fini(&e->nat);
	free(e);
}

const struct prof_backend prof_backend_wall = {
	.name = "wall",
	.attach = wall_attach,
	.describe = wall_describe,
	.sample = wall_sample,
	.detach = wall_detach,
};
