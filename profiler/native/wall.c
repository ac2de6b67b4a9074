/* wall.c - the "wall" backend: every thread paused with ptrace, its stack copied, resumed, then unwound. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "profiler/native/native.h"

/* When each thread was last read.  A thread that could not stop within
 * the tick (waiting for a CPU on a loaded machine, so still where it was
 * preempted) is read at a later tick; its sample then stands for every
 * tick since its last one, or computing threads would lose exactly the
 * ticks they spent waiting to run. */
struct last_read {
	pid_t tid;
	int64_t ns;
};

struct prof_engine {
	struct prof_nat nat;
	struct prof_pause *pause;
	int idle;
	struct prof_grab grab;
	int64_t period_ns;
	struct last_read *last;
	size_t nlast, caplast;
	uint64_t ticks;
};

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The ticks since tid was last read (1 for a new thread); notes now. */
static uint32_t ticks_since(struct prof_engine *e, pid_t tid, int64_t now)
{
	int64_t t;

	for (size_t i = 0; i < e->nlast; i++) {
		if (e->last[i].tid != tid)
			continue;
		t = (now - e->last[i].ns + e->period_ns / 2) / e->period_ns;
		e->last[i].ns = now;
		return t < 1 ? 1 : t > 1000 ? 1000 : (uint32_t)t;
	}
	if (e->nlast == e->caplast) {
		size_t nc = e->caplast ? 2 * e->caplast : 16;
		struct last_read *v = realloc(e->last, nc * sizeof(*v));

		if (!v)
			return 1;
		e->last = v;
		e->caplast = nc;
	}
	e->last[e->nlast].tid = tid;
	e->last[e->nlast++].ns = now;
	return 1;
}

/* Forgets threads not read for a second (gone, or idle and dropped). */
static void forget_old(struct prof_engine *e, int64_t now)
{
	for (size_t i = 0; i < e->nlast;)
		if (now - e->last[i].ns > 1000000000LL)
			e->last[i] = e->last[--e->nlast];
		else
			i++;
}

static int wall_sample(struct prof_engine *e, prof_emit_fn emit, void *ctx, char *err,
		       size_t errlen)
{
	int rc = prof_pause_stop(e->pause, err, errlen);
	int64_t now;

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
	now = mono_ns();
	for (size_t i = 0; i < e->grab.n; i++) {
		const struct prof_grab_thread *t = &e->grab.t[i];

		e->nat.weight = e->period_ns ? ticks_since(e, t->tid, now) : 0;
		prof_nat_emit(&e->nat, t->tid, t->state, &t->regs, t->stack, t->len, NULL, 0, emit,
			      ctx);
		prof_grab_note(&e->grab, t->tid, prof_unwind_depth(e->nat.unw));
	}
	e->nat.weight = 0;
	if (e->grab.nwant > 4096)
		e->grab.nwant = 0;	/* many threads came and went: start over */
	if (e->period_ns && (++e->ticks & 255) == 0)
		forget_old(e, now);
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
		 * later one (see ticks_since), not waited for: waiting would
		 * make the loop skip ticks, and the skipped ticks are those a
		 * computing thread spends waiting for a CPU. */
		e->period_ns = (int64_t)(1e9 / o->rate_hz);
		prof_pause_set_timeout(e->pause, half_us < 100 ? 100 : half_us > 20000 ? 20000 : half_us);
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
	free(e->last);
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
