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
#include <signal.h>
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
/* Why pid may not be traced, in words a user can act on. */
void prof_explain_denied(pid_t pid, char *err, size_t errlen);
/* -1 with "already traced by process N (gdb)" when another tracer holds
 * it (pausing needs ptrace; reading memory does not).  0 otherwise. */
int prof_check_traced(pid_t pid, char *err, size_t errlen);

/* threads.c: the threads of a process, from /proc/PID/task.  The list is
 * reused between calls so a sample costs no allocation. */
struct prof_tids {
	pid_t *v;
	size_t n, cap;
};

/* 0, or -1 with a reason (-ESRCH semantics: errno == ESRCH when the process is gone). */
int prof_threads_list(pid_t pid, struct prof_tids *t, char *err, size_t errlen);
void prof_tids_free(struct prof_tids *t);
/* Appends one id; 0, or -1 when out of memory. */
int prof_tids_push(struct prof_tids *t, pid_t tid);
/* The thread's name from /proc/PID/task/TID/comm into buf ("" when gone). */
void prof_thread_name(pid_t pid, pid_t tid, char *buf, size_t len);
const char *prof_thread_stat(pid_t pid, pid_t tid, char *buf, size_t len);

/* ptrace.c: pausing every thread of a process for a consistent read.
 *
 * Threads are seized with PTRACE_SEIZE (never PTRACE_ATTACH: no SIGSTOP
 * is ever sent) and stopped with PTRACE_INTERRUPT.  prof_pause_resume()
 * detaches them again, so between two pauses the target is not traced at
 * all: its signals are delivered by the kernel as usual, a debugger may
 * attach, and if sonda dies the kernel has nothing to undo.  A signal that
 * arrives while a thread is paused is handed back at detach (re-injected).
 * A target stopped by SIGSTOP before the pause stays stopped after it.
 * Seizing per pause costs about 1 us more than staying seized (measured:
 * bench/record/pause-cost.c), which buys all of the above.
 *
 *	struct prof_pause *pp = prof_pause_new(pid, err, errlen);
 *	while (sampling) {
 *		if (prof_pause_stop(pp, err, errlen) < 0) ...;
 *		for (i = 0; i < prof_pause_count(pp); i++)
 *			prof_pause_regs(pp, i, &regs);	// read memory, unwind
 *		prof_pause_resume(pp);
 *	}
 *	prof_pause_free(pp);
 *
 * All calls must come from the one thread that created the pause (ptrace
 * ties a tracee to the tracing thread). */
struct prof_pause;
struct user_regs_struct;

struct prof_pause *prof_pause_new(pid_t pid, char *err, size_t errlen);
/* Stops every thread it can within the timeout (default 50 ms).  Returns
 * 0 (some or all threads stopped; threads that exited are skipped),
 * -ESRCH when the process is gone, -1 with a reason (cannot trace, and
 * why; timeout with no thread stopped). */
int prof_pause_stop(struct prof_pause *p, char *err, size_t errlen);
/* Stopped threads of the last prof_pause_stop(), 0..count-1. */
size_t prof_pause_count(const struct prof_pause *p);
pid_t prof_pause_tid(const struct prof_pause *p, size_t i);
/* 1 when the thread was in a group-stop (the target was SIGSTOPped). */
int prof_pause_group_stopped(const struct prof_pause *p, size_t i);
/* PTRACE_GETREGSET NT_PRSTATUS; 0 or -1. */
int prof_pause_regs(const struct prof_pause *p, size_t i, struct user_regs_struct *regs);
/* Resumes and detaches every stopped thread, re-injecting pending signals. */
void prof_pause_resume(struct prof_pause *p);
/* Timeout for prof_pause_stop, in microseconds. */
void prof_pause_set_timeout(struct prof_pause *p, long usec);
/* Keeps the thread list (/proc/PID/task) this long between stops instead
 * of listing at every stop (0, the default); a thread started meanwhile is
 * not paused until the next listing. */
void prof_pause_set_relist(struct prof_pause *p, long usec);
/* With fired set, prof_pause_stop() sleeps in waitpid until each thread
 * stops, instead of spinning and polling until the timeout: for a sampler
 * that runs on the CPU of the threads it stops, which must give that CPU
 * up for them to stop.  The timeout is then the caller's: a signal it has
 * set to arrive (handled, without SA_RESTART), whose handler changes
 * *fired, ends the waits, and the threads not stopped by then are late.
 * NULL (the default) polls (a sampler on another CPU sees a stop sooner
 * by polling than by being woken). */
void prof_pause_set_blocking(struct prof_pause *p, const volatile sig_atomic_t *fired);
/* Reads each thread as soon as it stops and lets it go at once, instead of holding every thread until all have stopped: a
 * thread slow to stop then holds no other (wall mode needs no snapshot
 * across threads).  fn sees the thread as stopped thread 0 of p (the
 * prof_pause_tid/regs/... calls); prof_pause_stop() returns with none
 * left stopped.  A thread late since an earlier stop is not waited for
 * again, only looked at. */
typedef void (*prof_pause_each_fn)(void *ctx, struct prof_pause *p);
void prof_pause_set_each(struct prof_pause *p, prof_pause_each_fn fn, void *ctx);
/* Stops only these threads of the process (instead of every thread of
 * /proc/PID/task at each stop); 0, or -1 when out of memory. */
int prof_pause_set_threads(struct prof_pause *p, const pid_t *tids, size_t n);
/* Threads that did not stop in time at the last prof_pause_stop(). */
size_t prof_pause_late(const struct prof_pause *p);
/* For stopped thread i: how many earlier stops it was late for (still
 * stopping since then), so that its read can stand for those too. */
unsigned prof_pause_missed(const struct prof_pause *p, size_t i);
/* With on, threads asleep in the kernel (state S or D) are left alone:
 * they run no user code until woken, so their memory holds still, and an
 * interrupt would only wake them (a cost to the target, and on a loaded
 * machine a woken thread waits for a CPU looking runnable).  For readers
 * of memory (Python), and wall mode when idle threads are dropped anyway.
 * Off by default. */
void prof_pause_skip_sleepers(struct prof_pause *p, int on);
/* The reader found tid running (not in a system call) at the last stop:
 * the next stop interrupts it without reading whether it sleeps. */
void prof_pause_note_running(struct prof_pause *p, pid_t tid);
/* Threads left alone as asleep at the last stop. */
size_t prof_pause_skipped(const struct prof_pause *p);
/* Threads that were late at the last stop: polls them and detaches those
 * that stopped since (with an each function, reads them first, their
 * missed count one fewer: the read stands for the stops missed only).
 * Returns how many are still stopping.  Call it between stops, or a late
 * thread stays stopped until the next one. */
size_t prof_pause_poll(struct prof_pause *p);
/* Exit status of the process's main thread when a pause reaped it (the
 * target is sonda's own child in launch mode), else -1. */
int prof_pause_exit_status(const struct prof_pause *p);
/* Resumes, waits briefly for threads still stopping, detaches, frees. */
void prof_pause_free(struct prof_pause *p);

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
	int nonblocking;	/* never pause the target (the default unless blocking) */
	int blocking;		/* Python: pause the target's threads around each read */
	int subprocesses;	/* follow children */
	int raw;		/* keep every sample time-stamped */
};

struct prof_status {
	uint32_t session;	/* the profile's session of the main target */
	pid_t pid;
	double elapsed_s;
	double achieved_hz;
	uint64_t samples, missed, errors;
	uint64_t unpaused;	/* samples read unpaused: a thread did not stop in time */
	uint64_t torn;		/* thread reads dropped because they looked torn (python) */
	double attach_cpu_ms;	/* sonda's CPU from its start to the first sample stored, 0 before */
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
/* Sleeps until sampling ends or timeout_ms passes, without waking the
 * caller in between: 0 once sampling ended, 1 on timeout, -1 when a signal
 * interrupted the wait (the sampling thread never takes process signals). */
int prof_sampler_wait(struct prof_sampler *s, int timeout_ms);
void prof_sampler_status(struct prof_sampler *s, struct prof_status *st);
/* Stops sampling, resumes and detaches from every thread, joins. */
void prof_sampler_stop(struct prof_sampler *s);
void prof_sampler_free(struct prof_sampler *s);

/* ---- one read of every thread, for `sonda dump` */

struct prof_dump_frame {
	char *function, *file, *module;
	int line;
};

struct prof_dump_thread {
	int64_t tid;
	char *name;
	uint32_t state;		/* STORE_STATE_* */
	struct prof_dump_frame *frames;	/* innermost first */
	size_t nframes;
};

struct prof_dump {
	struct prof_dump_thread *v;
	size_t n, cap;
	int nomem;
	char what[160];		/* "python 3.11.7", ...: what was read */
	char warning[160];	/* something the user should know, or "" */
};

/* Reads every thread of o->pid once: Python stacks, or with o->native
 * mixed (Python) or native ones; paused unless o->nonblocking.  Returns 0,
 * -1 when the read failed, -2 when the process cannot be read (gone, not
 * supported, no permission); err says why. */
int prof_dump_read(const struct prof_options *o, struct prof_dump *d, char *err, size_t errlen);
void prof_dump_free(struct prof_dump *d);

#endif
