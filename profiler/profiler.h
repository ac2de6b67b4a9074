/* profiler.h - reading a running process from outside (the profiler/ contract).
 *
 * A sampler attaches to a process (or launches one), reads its stacks at a
 * fixed rate on a thread of its own and adds them to a store_profile.  The
 * owner of the profile takes prof_sampler_lock() around any access to it
 * while the sampler runs (the viewer reads it, cmd-record syncs it to a
 * writer).  However sonda ends, the target is never left stopped or traced.
 */
#ifndef SONDA_PROFILER_H
#define SONDA_PROFILER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "store/store.h"

/* maps.c: /proc/PID/maps */
struct prof_map {
	uint64_t start, end, offset;
	uint64_t inode;
	char perms[5];		/* "r-xp" */
	char *path;		/* "" for anonymous, "[vdso]", " (deleted)" kept */
};

struct prof_maps {
	struct prof_map *v;
	size_t n;
};

int prof_maps_read(pid_t pid, struct prof_maps *m, char *err, size_t errlen);
void prof_maps_free(struct prof_maps *m);
const struct prof_map *prof_maps_find(const struct prof_maps *m, uint64_t addr);

/* attach.c: why a process cannot be profiled, in one line a user can act
 * on ("no such process", "permission denied (try as root, or set
 * kernel.yama.ptrace_scope=0)", ...).  Returns 0 when it can be read. */
int prof_check_pid(pid_t pid, char *err, size_t errlen);

enum prof_mode {
	PROF_MODE_AUTO = 0,	/* python when the target is Python, else cpu or wall */
	PROF_MODE_PYTHON,
	PROF_MODE_CPU,
	PROF_MODE_WALL,
};

struct prof_options {
	pid_t pid;		/* attach to this process, or */
	char *const *argv;	/* launch this command when pid == 0 */
	double rate_hz;		/* default 100 */
	double duration_s;	/* 0: until the target exits or prof_sampler_stop() */
	enum prof_mode mode;
	int native;		/* mixed Python + native stacks */
	int idle;		/* keep idle threads, marked idle */
	int gil;		/* keep only the GIL holder */
	int nonblocking;	/* never pause the target */
	int subprocesses;	/* follow children */
	int raw;		/* keep every sample time-stamped */
};

struct prof_status {
	uint32_t session;	/* the profile's session of the main target */
	pid_t pid;
	double elapsed_s;
	double achieved_hz;
	uint64_t samples, missed, errors;
	char last_error[160];
	char mode_reason[160];	/* "python 3.11.7", "cpu: perf events permitted", ... */
	int target_exited;	/* 1 when the target is gone */
	int exit_status;	/* of a launched target, when it exited */
};

struct prof_sampler;
struct prof_sampler *prof_sampler_start(const struct prof_options *o, struct store_profile *p,
					char *err, size_t errlen);
void prof_sampler_lock(struct prof_sampler *s);
void prof_sampler_unlock(struct prof_sampler *s);
/* 0 once the target exited or the duration elapsed. */
int prof_sampler_running(struct prof_sampler *s);
void prof_sampler_status(struct prof_sampler *s, struct prof_status *st);
/* Stops sampling, resumes and detaches from every thread, joins. */
void prof_sampler_stop(struct prof_sampler *s);
void prof_sampler_free(struct prof_sampler *s);

#endif
