/* backend.h - what the sampling loop (sampler.c) asks of an engine.
 * Internal to profiler/: the Python reader (python/) and the native
 * samplers (native/) each provide one struct prof_backend.
 *
 * The loop owns timing, threads of the target, the store and signals; an
 * engine knows how to read stacks.  An engine never leaves the target
 * stopped when one of its calls returns.
 */
#ifndef SONDA_PROFILER_BACKEND_H
#define SONDA_PROFILER_BACKEND_H

#include "profiler/profiler.h"

/* One frame as an engine sees it.  Strings need only live until emit()
 * returns.  key, when nonzero, is a stable identity of (function, file,
 * line, module, kind) within this engine, e.g. a code object's address
 * mixed with the line: the loop caches key -> frame id and skips the
 * strings when it has seen the key. */
struct prof_frame {
	uint64_t key;
	const char *function;
	const char *file;	/* NULL when unknown */
	const char *module;	/* NULL when unknown */
	int line;		/* 0 when unknown */
	int kind;		/* enum store_kind */
};

/* One thread's stack: frames[0] is the leaf (innermost), frames[n-1] the root. */
struct prof_stack {
	int64_t tid;
	const char *thread_name;	/* NULL: the loop reads /proc/PID/task/TID/comm */
	uint32_t state;			/* enum store_state bits */
	const struct prof_frame *frames;
	size_t nframes;
	int64_t mono_ns;	/* when taken (CLOCK_MONOTONIC); 0: at the loop's tick */
	uint32_t weight;	/* ticks this sample stands for (a thread read late); 0: one */
	/* Nonzero: identifies the whole of frames[] within this engine (the
	 * same key, the same frames): the loop maps it to its call site once
	 * and then skips the frames, so a repeated stack costs one lookup. */
	uint64_t key;
	/* Optional, with a key: frames may be NULL (nframes 0) and are then
	 * asked of resolve only when the loop does not know the key yet, so
	 * an engine need not name the frames of a stack it sent before. */
	const struct prof_frame *(*resolve)(void *arg, size_t *nframes);
	void *resolve_arg;
};

typedef void (*prof_emit_fn)(void *ctx, const struct prof_stack *stack);

struct prof_engine;

struct prof_backend {
	const char *name;	/* "python", "cpu", "wall", "mixed" */
	/* 0 and *e set, or -1 with a one-line reason in err (target not
	 * Python, unsupported version named, permission and why, ...). */
	int (*attach)(struct prof_engine **e, pid_t pid, const struct prof_options *o,
		      char *err, size_t errlen);
	/* "python 3.11.7" / "cpu-clock via perf_event_open" for the summary and the header. */
	const char *(*describe)(struct prof_engine *e);
	/* Reads every thread's stack once and calls emit per thread.
	 * Returns 0, -1 on a failed read (counted, reason in err), or
	 * -ESRCH when the target is gone. */
	int (*sample)(struct prof_engine *e, prof_emit_fn emit, void *ctx, char *err, size_t errlen);
	/* Resumes and detaches everything; frees e. */
	void (*detach)(struct prof_engine *e);
	/* Optional, for an engine that takes its samples on its own clock and
	 * buffers them (cpu: perf events in kernel rings).  How often the loop
	 * must call sample() to drain them, in ns (0: at every tick); the
	 * loop then counts the stacks emitted as samples, not its ticks. */
	int64_t (*drain_ns)(struct prof_engine *e);
	/* Optional, with drain_ns: the ticks the engine's own clock took since
	 * attach, counted as the samples (not the stacks it emitted: wall
	 * mode reads every thread at each tick). */
	uint64_t (*taken)(struct prof_engine *e);
	/* Optional: samples the engine's own clock took but lost (a full ring). */
	uint64_t (*lost)(struct prof_engine *e);
	/* Optional (NULL): thread reads dropped as torn since attach. */
	uint64_t (*torn)(struct prof_engine *e);
	/* Optional: the raw wait status of the target when the engine's own
	 * ptrace reaped its exit (a launched command is also our child), else -1. */
	int (*exit_status)(struct prof_engine *e);
};

extern const struct prof_backend prof_backend_python;
/* native/: perf_event cpu-clock, ptrace wall clock, Python + native mixed. */
extern const struct prof_backend prof_backend_cpu;
extern const struct prof_backend prof_backend_wall;
extern const struct prof_backend prof_backend_mixed;

/* How the loop (sampler.c) drives an engine: attach, sample and detach are
 * all called from the sampling thread (ptrace ties a tracee to the thread
 * that seized it).  For the python engine the loop pauses the target
 * (prof_pause_*) around sample() with --blocking; the wall and mixed
 * engines pause with prof_pause_* themselves; cpu never pauses.  The
 * python engine is read without pausing by default (o->blocking pauses). */
/* 1 when perf events can sample pid (0: this process), else 0; why is
 * "perf events permitted" or the reason they are not, for the summary. */
int prof_native_perf_permitted(pid_t pid, char *why, size_t len);

/* What the Python engine tells beyond the interface (sonda dump, bench):
 * a warning about its layout (NULL when none), threads dropped because a
 * read looked torn, and process_vm_readv calls made, since attach. */
const char *py_engine_warning(struct prof_engine *e);
uint64_t py_engine_torn(struct prof_engine *e);
uint64_t py_engine_syscalls(struct prof_engine *e);

/* sampler.c: a tick's offset, up to a quarter period either way, evenly,
 * for engines that keep their own ticks as the loop does (seed: any
 * nonzero state, advanced). */
int64_t prof_tick_jitter(uint64_t *seed, int64_t period);

#endif
