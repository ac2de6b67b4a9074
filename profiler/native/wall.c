/* wall.c - the "wall" backend: perf events where permitted (offcpu.c), else every thread paused with ptrace, its stack copied, resumed, then unwound. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profiler/native/native.h"

struct prof_engine {
	struct prof_nat nat;
	struct prof_pause *pause;	/* a one-off read (no rate): paused here */
	int idle;
	struct prof_grab grab;
	/* Recording (a rate): the stopping thread, filling one batch while
	 * the other is unwound here. */
	struct prof_ticker *ticker;
	struct prof_grab batch[2];
	struct prof_grab *spare;
	/* Recording with perf events instead: none of the above is used,
	 * until a target switching too often is handed over to ptrace. */
	struct prof_offcpu *off;
	struct prof_options opt;
	uint64_t taken0, lost0;	/* counted by perf events before the handover */
	int stay;		/* SONDA_WALL=perf: never handed over */
	char desc[200];
};

/* Past this many context switches a second for each thread and tick, the
 * kernel's work at each switch under perf events (4-10 us of the target's
 * time on the 2-vCPU machines measured, bench/native/run.sh ONLY=switches)
 * costs the target more than stopping each thread at each tick with
 * ptrace (70-110 us). */
#define PTRACE_CHEAPER 10

static void emit_grab(struct prof_engine *e, const struct prof_grab_thread *t,
		      prof_emit_fn emit, void *ctx)
{
	e->nat.weight = t->weight;
	e->nat.mono_ns = t->mono_ns;
	prof_nat_emit(&e->nat, t->tid, t->state, &t->regs, t->stack, t->len, NULL, 0, emit, ctx);
	e->nat.weight = 0;
	e->nat.mono_ns = 0;
}

/* Unwinds what the stopping thread read since the last call. */
static int wall_drain(struct prof_engine *e, prof_emit_fn emit, void *ctx, char *err,
		      size_t errlen)
{
	struct prof_ticker_news news;
	struct prof_grab *g = prof_ticker_swap(e->ticker, e->spare, &news);

	for (size_t i = 0; i < g->n; i++) {
		emit_grab(e, &g->t[i], emit, ctx);
		prof_ticker_note(e->ticker, g->t[i].tid, prof_unwind_depth(e->nat.unw));
	}
	g->n = 0;
	e->spare = g;
	if (news.gone)
		return -ESRCH;
	if (news.errors) {
		snprintf(err, errlen, "%s", news.last_error);
		return -1;
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

/* Recording: perf events unless SONDA_WALL=ptrace or they are not
 * permitted; why not into why. */
static struct prof_offcpu *try_perf(pid_t pid, const struct prof_options *o, char *why,
				    size_t len)
{
	const char *env = getenv("SONDA_WALL");
	struct prof_offcpu *f;
	char err[160];

	if (env && !strcmp(env, "ptrace")) {
		snprintf(why, len, "SONDA_WALL=ptrace");
		return NULL;
	}
	f = prof_offcpu_attach(pid, o, err, sizeof(err));
	if (!f)
		snprintf(why, len, "%s", err);
	return f;
}

/* The ptrace way: the pause helper checks permission, then the stopping
 * thread takes over when recording at a rate. */
static int start_ptrace(struct prof_engine *e, pid_t pid, const struct prof_options *o,
			char *err, size_t errlen)
{
	e->idle = o ? o->idle : 1;
	if (prof_nat_init(&e->nat, pid, err, errlen) != 0)
		return -1;
	e->pause = prof_nat_pause_new(pid, o, err, errlen);
	if (!e->pause) {
		prof_nat_fini(&e->nat);
		return -1;
	}
	if (o && o->rate_hz > 0) {
		/* Permission checked: from now on the stopping thread pauses
		 * (ptrace ties each tracee to the thread that seized it). */
		prof_pause_free(e->pause);
		e->pause = NULL;
		e->spare = &e->batch[1];
		e->ticker = prof_ticker_start(pid, o->rate_hz, e->idle, &e->batch[0], err, errlen);
		if (!e->ticker) {
			prof_nat_fini(&e->nat);
			return -1;
		}
	} else {
		/* Without --idle a sleeping thread would be dropped anyway:
		 * leave it asleep rather than wake it to read it. */
		prof_pause_skip_sleepers(e->pause, !e->idle);
	}
	return 0;
}

static int wall_attach(struct prof_engine **ep, pid_t pid, const struct prof_options *o,
		       char *err, size_t errlen)
{
	struct prof_engine *e = calloc(1, sizeof(*e));
	char why[160] = "";

	if (!e) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (o && o->rate_hz > 0) {
		e->off = try_perf(pid, o, why, sizeof(why));
		if (e->off) {
			e->opt = *o;
			e->opt.pid = pid;
			e->stay = getenv("SONDA_WALL") && !strcmp(getenv("SONDA_WALL"), "perf");
			*ep = e;
			return 0;
		}
		snprintf(e->desc, sizeof(e->desc), "wall clock via ptrace (%s)", why);
	} else {
		snprintf(e->desc, sizeof(e->desc), "wall clock via ptrace");
	}
	if (start_ptrace(e, pid, o, err, errlen) < 0) {
		free(e);
		return -1;
	}
	*ep = e;
	return 0;
}

/* A target switching so often that perf events cost it more than ptrace
 * would: the recording goes on with ptrace, and the summary says when.
 * Where ptrace is refused, it stays on perf events. */
static void hand_over(struct prof_engine *e, double hz)
{
	char err[160];

	if (start_ptrace(e, e->opt.pid, &e->opt, err, sizeof(err)) < 0) {
		e->stay = 1;
		return;
	}
	e->taken0 = prof_offcpu_taken(e->off);
	e->lost0 = prof_offcpu_lost(e->off);
	prof_offcpu_detach(e->off);
	e->off = NULL;
	snprintf(e->desc, sizeof(e->desc),
		 "wall clock via perf_event_open, then via ptrace from %.1f s (%.0f context "
		 "switches a second cost the target more with perf events)",
		 (double)e->taken0 / e->opt.rate_hz, hz);
}

static int perf_sample(struct prof_engine *e, prof_emit_fn emit, void *ctx, char *err,
		       size_t errlen)
{
	int rc = prof_offcpu_sample(e->off, emit, ctx, err, errlen);
	size_t threads;
	double hz = prof_offcpu_switch_hz(e->off, &threads);

	if (rc != -ESRCH && !e->stay && hz > PTRACE_CHEAPER * (double)threads * e->opt.rate_hz)
		hand_over(e, hz);
	return rc;
}

static int wall_sample(struct prof_engine *e, prof_emit_fn emit, void *ctx, char *err,
		       size_t errlen)
{
	int rc;

	if (e->off)
		return perf_sample(e, emit, ctx, err, errlen);
	if (e->ticker)
		return wall_drain(e, emit, ctx, err, errlen);
	rc = prof_pause_stop(e->pause, err, errlen);

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
	/* One read (a dump): the threads are let go once unwound, so frames
	 * beyond the copies are read from stacks that have not moved on. */
	prof_grab_take(&e->grab, e->pause, e->nat.pid, e->idle);
	for (size_t i = 0; i < e->grab.n; i++) {
		const struct prof_grab_thread *t = &e->grab.t[i];

		/* A thread that could not stop within the tick (waiting for a
		 * CPU on a loaded machine, so still where it was preempted) is
		 * read when it stops, at a later tick: its sample stands for
		 * the ticks it missed too, or computing threads would lose
		 * exactly the ticks they spent waiting to run. */
		emit_grab(e, t, emit, ctx);
		prof_grab_note(&e->grab, t->tid, prof_unwind_depth(e->nat.unw));
	}
	prof_pause_resume(e->pause);
	if (e->grab.nwant > 4096)
		e->grab.nwant = 0;	/* many threads came and went: start over */
	return 0;
}

static const char *wall_describe(struct prof_engine *e)
{
	return e->off ? prof_offcpu_describe(e->off) : e->desc;
}

static void wall_detach(struct prof_engine *e)
{
	if (!e)
		return;
	prof_offcpu_detach(e->off);
	if (e->ticker)
		prof_ticker_stop(e->ticker);
	prof_grab_free(&e->batch[0]);
	prof_grab_free(&e->batch[1]);
	prof_pause_free(e->pause);
	prof_grab_free(&e->grab);
	if (!e->off)
		prof_nat_fini(&e->nat);
	free(e);
}

static struct prof_ticker_stats ticker_stats(struct prof_engine *e)
{
	struct prof_ticker_stats st = { 0, 0, -1 };

	if (e->ticker)
		prof_ticker_stats(e->ticker, &st);
	return st;
}

static int wall_exit_status(struct prof_engine *e)
{
	if (e->off)
		return prof_offcpu_exit_status(e->off);
	return e->ticker ? ticker_stats(e).exit_status : prof_pause_exit_status(e->pause);
}

/* The sampling loop calls in this often to unwind what the stopping
 * thread read: rarely enough that its wake-ups cost little, often enough
 * that a batch stays small. */
static int64_t wall_drain_ns(struct prof_engine *e)
{
	if (e->off)
		return prof_offcpu_drain_ns(e->off);
	return e->ticker ? 10000000 : 0;
}

static uint64_t wall_taken(struct prof_engine *e)
{
	if (e->off)
		return prof_offcpu_taken(e->off);
	return e->taken0 + ticker_stats(e).taken;
}

static uint64_t wall_lost(struct prof_engine *e)
{
	if (e->off)
		return prof_offcpu_lost(e->off);
	return e->lost0 + ticker_stats(e).lost;
}

const struct prof_backend prof_backend_wall = {
	.name = "wall",
	.attach = wall_attach,
	.describe = wall_describe,
	.sample = wall_sample,
	.detach = wall_detach,
	.drain_ns = wall_drain_ns,
	.taken = wall_taken,
	.lost = wall_lost,
	.exit_status = wall_exit_status,
};
