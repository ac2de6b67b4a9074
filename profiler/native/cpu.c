/* cpu.c - the "cpu" backend: perf_event_open samples, unwound and symbolized at each tick of the loop. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profiler/native/native.h"

struct prof_engine {
	struct prof_nat nat;
	struct prof_perf *perf;
	prof_emit_fn emit;
	void *ctx;
	char desc[96];
};

static int cpu_attach(struct prof_engine **ep, pid_t pid, const struct prof_options *o, char *err,
		      size_t errlen)
{
	struct prof_engine *e = calloc(1, sizeof(*e));

	if (!e) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (prof_nat_init(&e->nat, pid, err, errlen) != 0) {
		free(e);
		return -1;
	}
	/* A launched command is followed from its first instruction with
	 * inherit; a running one gets an event per thread. */
	e->perf = prof_perf_open(pid, o && o->argv && !o->pid, o && o->rate_hz > 0 ? o->rate_hz : 100,
				 err, errlen);
	if (!e->perf) {
		prof_nat_fini(&e->nat);
		free(e);
		return -1;
	}
	snprintf(e->desc, sizeof(e->desc), "%s via perf_event_open", prof_perf_event(e->perf));
	prof_perf_watch_outer(e->perf, e->nat.unw);
	/* Kernel names are loaded at the first kernel frame (listing
	 * /proc/kallsyms costs tens of ms; a program that stays in user
	 * space never needs it).  The rings hold far more than that. */
	*ep = e;
	return 0;
}

static const char *cpu_describe(struct prof_engine *e)
{
	return e->desc;
}

static void on_sample(void *ctx, const struct prof_perf_sample *s)
{
	struct prof_engine *e = ctx;

	if (s->watch_hit) {
		prof_unwind_watch_hit(e->nat.unw, s->tid, s->watch_addr);
		return;
	}
	e->nat.mono_ns = (int64_t)s->time;
	prof_nat_emit(&e->nat, s->tid, STORE_STATE_ONCPU, &s->regs, s->stack, s->stack_len, s->kips,
		      s->nkips, e->emit, e->ctx);
	prof_perf_hint(e->perf, prof_unwind_copy_depth(e->nat.unw));
	prof_perf_reach(e->perf, prof_unwind_depth(e->nat.unw));
}

static int cpu_sample(struct prof_engine *e, prof_emit_fn emit, void *ctx, char *err, size_t errlen)
{
	int n;

	e->emit = emit;
	e->ctx = ctx;
	n = prof_perf_read(e->perf, on_sample, e);
	if (n == -ESRCH) {
		snprintf(err, errlen, "process %d exited", (int)e->nat.pid);
		return -ESRCH;
	}
	return prof_perf_short(e->perf, err, errlen);
}

static int64_t cpu_drain_ns(struct prof_engine *e)
{
	return prof_perf_drain_ns(e->perf);
}

static uint64_t cpu_lost(struct prof_engine *e)
{
	return prof_perf_lost(e->perf);
}

static void cpu_detach(struct prof_engine *e)
{
	if (!e)
		return;
	if (getenv("SONDA_NATIVE_DEBUG"))
		fprintf(stderr, "lost %llu\n", (unsigned long long)prof_perf_lost(e->perf));
	prof_perf_close(e->perf);
	prof_nat_fini(&e->nat);
	free(e);
}

const struct prof_backend prof_backend_cpu = {
	.name = "cpu",
	.attach = cpu_attach,
	.describe = cpu_describe,
	.sample = cpu_sample,
	.detach = cpu_detach,
	.drain_ns = cpu_drain_ns,
	.lost = cpu_lost,
};
