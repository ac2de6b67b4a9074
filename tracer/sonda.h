/* sonda.h - libsonda's public API: tasks, spans, marks and thread names, in process. */
#ifndef SONDA_H
#define SONDA_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Tasks: named, nestable intervals on one thread.  Per name and thread
 * libsonda keeps calls, total and self wall time, CPU time, min, max and a
 * latency histogram.  The name is copied (compared by content), so it may
 * be a temporary; names longer than 63 bytes are cut, NULL and "" become
 * "?" (both counted). */
void sonda_task_begin(const char *name);
void sonda_task_end(void);

/* SONDA_TASK(name): a task that ends when the enclosing block exits, by
 * any path (return, break, goto out of the block). */
#define SONDA_TASK_CAT2_(a, b) a##b
#define SONDA_TASK_CAT_(a, b) SONDA_TASK_CAT2_(a, b)
#if defined(__GNUC__) || defined(__clang__)
static inline void sonda_task_scope_end_(int *unused)
{
	(void)unused;
	sonda_task_end();
}
#define SONDA_TASK(name)                                                        \
	int SONDA_TASK_CAT_(sonda_task_scope_, __LINE__)                          \
		__attribute__((cleanup(sonda_task_scope_end_), unused)) =         \
		(sonda_task_begin(name), 0)
#endif

/* Spans: work that starts on one thread and finishes on another (a request
 * handed to a pool, an async job).  Counted on the thread that finishes
 * it; wall time runs from start to finish.  sonda_span_finish(NULL) and a
 * second finish of the same span are ignored (counted). */
typedef struct sonda_span sonda_span;
sonda_span *sonda_span_start(const char *name);
void sonda_span_finish(sonda_span *span);

/* Names the calling thread in reports and in `sonda top` (Tracy's
 * SetThreadName, yappi's thread names).  Cut to 31 bytes. */
void sonda_thread_name(const char *name);

/* An instant event (Tracy's TracyMessage / a frame mark): counted like a
 * task of zero length, and a point on the timeline when it is on. */
void sonda_mark(const char *name);

/* Allocations (the tracemalloc job): every malloc, calloc, realloc,
 * free, posix_memalign, aligned_alloc, memalign, valloc, pvalloc and
 * reallocarray of the process (C++ new and delete through them) charged
 * to its call site, nframes native frames deep (0: 16, at most 64).
 * `sonda run --alloc` or SONDA_ALLOC=NFRAMES start it before main;
 * sonda_alloc_start starts it from inside (blocks allocated before are
 * not tracked; their frees are counted as unknown).  Returns 0, or -1
 * when libsonda is inactive.  SONDA_ALLOC_SAMPLE=BYTES samples instead
 * (a Poisson process over allocated bytes with that mean). */
int sonda_alloc_start(int nframes);

/* A snapshot of every allocation site (allocations, bytes, live count and
 * live bytes), to compare with another (tracemalloc's take_snapshot).
 * SIGUSR2 takes one named "sigusr2-N" at the next allocation, and one
 * named "exit" is taken at exit: what is live then leaked.  The label is
 * cut to 63 bytes.  Returns 0, or -1 when tracking is off or the snapshot
 * area is full (counted). */
int sonda_alloc_snapshot(const char *label);

/* The bytes live now and the most ever live, process-wide (tracemalloc's
 * get_traced_memory); estimates when sampling.  0, or -1 (and zeros)
 * when tracking is off. */
int sonda_alloc_traced(size_t *current, size_t *peak);

/* Writes what has been gathered so far to the output (SONDA_OUTPUT, default
 * sonda-PID.db).  Returns 0, or -1 when it could not be written or libsonda
 * is inactive.  Takes milliseconds; call it off the hot path. */
int sonda_flush(void);

#ifdef __cplusplus
}
#endif

#endif
