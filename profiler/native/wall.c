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
		/* A process that just exited is a zombie until reaped: its
		 * threads refuse ptrace, which is its end, not an error. */
		if (!prof_nat_alive(e->nat.pid))
			return -ESRCH;
		/* Every thread slow to stop: they are read at the next tick. */
		return prof_pause_late(e->pause) ? 0 : -1;
	}
	prof_grab_take(&e->grab, e->pause, e->nat.pid, e->idle);
	prof_pause_resume(e->pause);
	for (size_t i = 0; i < e->grab.n; i++) {
		const struct prof_grab_thread *t = &e->grab.t[i];

		/* A thread that could not stop within the tick (waiting for a
		 * CPU on a loaded machine, so still where it was preempted) is
		 * read when it stops, at a later tick: its sample stands for
		 * the ticks it missed too, or computing threads would lose
		 * exactly the ticks they spent waiting to run. */
		e->nat.weight = t->weight;
		prof_nat_emit(&e->nat, t->tid, t->state, &t->regs, t->stack, t->len, NULL, 0, emit,
			      ctx);
		prof_grab_note(&e->grab, t->tid, prof_unwind_depth(e->nat.unw));
	}
	e->nat.weight = 0;
	if (e->grab.nwant > 4096)
		e->grab.nwant = 0;	/* many threads came and went: start over */
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
	if (o && o->rate_hz > 0) {
		long half_us = (long)(500000.0 / o->rate_hz);

		/* A thread that cannot stop within half a tick is read at a
		 * later one (its weight counts the ticks it missed), not waited
		 * for: waiting would make the loop skip ticks, and those are the
		 * ticks a computing thread spends waiting for a CPU. */
		prof_pause_set_timeout(e->pause, half_us < 100 ? 100 : half_us > 20000 ? 20000 : half_us);
		/* New threads are found within 10 ms, not listed at each tick. */
		prof_pause_set_relist(e->pause, 10000);
	}
	/* Without --idle a sleeping thread would be dropped anyway: leave
	 * it asleep rather than wake it to read it. */
	prof_pause_skip_sleepers(e->pause, !e->idle);
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

static int wall_exit_status(struct prof_engine *e)
{
	return prof_pause_exit_status(e->pause);
}

const struct prof_backend prof_backend_wall = {
	.name = "wall",
	.attach = wall_attach,
	.describe = wall_describe,
	.sample = wall_sample,
	.detach = wall_detach,
	.exit_status = wall_exit_status,
};
