/* sampler-int.h - what the sampling loop's files share (internal to profiler/). */
#ifndef SONDA_PROFILER_SAMPLER_INT_H
#define SONDA_PROFILER_SAMPLER_INT_H

#include <stdint.h>
#include <sys/types.h>

#include "profiler/backend.h"
#include "profiler/profiler.h"

/* key -> id, open addressing; key 0 is never stored. */
struct prof_keymap {
	uint64_t *keys;
	uint32_t *vals;
	size_t n, cap;
};

uint32_t prof_keymap_get(const struct prof_keymap *m, uint64_t key);
int prof_keymap_put(struct prof_keymap *m, uint64_t key, uint32_t val);
void prof_keymap_free(struct prof_keymap *m);

/* One process being sampled: the main target or a followed child. */
struct prof_target {
	pid_t pid;
	uint32_t session;
	const struct prof_backend *be;
	struct prof_engine *e;
	struct prof_pause *pause;	/* when the loop pauses around sample() */
	struct prof_keymap frames;	/* engine frame key -> store frame id */
	struct prof_keymap stacks;	/* engine stack key -> store call site id */
	struct prof_keymap threads;	/* tid -> store thread id */
	struct prof_keymap named;	/* tid -> tick its name was last read */
	int exited;
	uint64_t samples, errors, unpaused, torn;
	uint64_t lost;		/* the engine's own samples lost (be->lost) */
	char last_error[160];
};

/* choose.c: attach t with be (0), or -1 with the reason. */
int prof_try_attach(struct prof_target *t, const struct prof_backend *be,
		    const struct prof_options *o, char *err, size_t errlen);
/* The engine an explicit mode asks for, or for auto Python, then cpu,
 * then wall; reason says what was chosen and why, for the summary. */
int prof_choose_backend(struct prof_target *t, const struct prof_options *o, char *reason,
			size_t rlen, char *err, size_t errlen);
/* "python 3.11.7" -> runtime "python", version "3.11.7"; native: "native", "". */
void prof_target_describe(const struct prof_target *t, char *runtime, size_t rlen,
			  char *version, size_t vlen);
/* A launched command that may still become Python (its exe or a libpython). */
int prof_looks_python(pid_t pid);

/* emit.c: one tick's stacks into the store (the caller holds the lock). */
struct prof_emit_ctx {
	struct store_profile *p;
	struct prof_target *t;
	const struct prof_options *o;
	int64_t time_ns;	/* since the session started */
	int64_t start_mono;	/* CLOCK_MONOTONIC when the session started */
	uint64_t tick;
	size_t kept;		/* stacks stored this tick */
	uint32_t *ids;		/* scratch, root first */
	size_t nids;
};

void prof_emit_stack(void *ctx, const struct prof_stack *st);
void prof_emit_ctx_free(struct prof_emit_ctx *c);

/* launch.c: fork a command that waits for prof_launch_go() before exec. */
struct prof_launch {
	pid_t pid;
	int go_fd;	/* write end: one byte lets the child exec */
	int err_fd;	/* read end: the child's errno if exec fails, EOF on success */
	int status;	/* raw wait status once reaped, -1 before */
	int pidfd;	/* -2: not opened yet; -3: not available */
};

int prof_launch_fork(struct prof_launch *l, char *const *argv, char *err, size_t errlen);
/* Lets the child exec; 0 when exec succeeded, -1 with the reason. */
int prof_launch_go(struct prof_launch *l, char *const *argv, char *err, size_t errlen);
/* 1 once the child exited (status kept), 0 while it runs. */
int prof_launch_poll(struct prof_launch *l);
/* Asks a still-running child to end (SIGTERM, then SIGKILL after 2 s) and reaps it. */
void prof_launch_end(struct prof_launch *l);
void prof_launch_close(struct prof_launch *l);
/* Exit code as a shell reports it: the status, or 128 + signal. */
int prof_launch_exit_code(int status);

/* children.c: descendants of a process, from /proc/PID/task/TID/children. */
int prof_children_list(pid_t pid, struct prof_tids *out);

/* The command line of a process, space separated, into buf. */
void prof_cmdline(pid_t pid, char *buf, size_t len);

#endif
