/* task.c - the task API: tasks, marks and thread names on one thread, spans across threads. */
#include "config.h"

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "store/store.h"
#include "tracer/internal.h"
#include "tracer/sonda.h"

/* The span pool: a lock-free stack, so start and finish may be on any thread. */
static struct sonda_span span_pool[SPAN_POOL];
static _Atomic uint64_t span_free;	/* (generation << 32) | (index + 1) */
static uint32_t span_fresh;	/* spans below this index have been handed out */
static struct sonda_span span_dropped;	/* returned when the pool is empty */

static inline void ring_put(struct tstate *ts, int64_t start, int64_t dur, uint32_t task, uint32_t depth)
{
	struct sonda_slot *slot = ts->slot;
	uint64_t n = slot->ring_written;
	struct sonda_event *ev = &ts->ring[n & (lib.hdr->ring_events - 1)];

	ev->start_ns = start;
	ev->dur_ns = dur;
	ev->task = task;
	ev->depth = depth;
	__atomic_store_n(&slot->ring_written, n + 1, __ATOMIC_RELEASE);
}

static inline void task_account(struct tstate *ts, uint32_t task, int64_t wall, int64_t self, int64_t cpu)
{
	struct sonda_task_entry *e = &ts->tasks[task];

	__atomic_store_n(&e->seq, e->seq + 1, __ATOMIC_RELAXED);
	barrier();
	e->calls++;
	e->wall_ns += wall;
	e->self_ns += self;
	e->cpu_ns += cpu;
	if (wall < e->min_ns)
		e->min_ns = wall;
	if (wall > e->max_ns)
		e->max_ns = wall;
	e->hist[sonda_hist_bucket(wall)]++;
	barrier();
	__atomic_store_n(&e->seq, e->seq + 1, __ATOMIC_RELEASE);
	ts->slot->events++;
}

void sonda_task_begin(const char *name)
{
	struct tstate *ts = thread_get();
	struct task_frame *f;
	uint32_t d;

	if (unlikely(!ts))
		return;
	d = ts->depth++;
	if (unlikely(d >= DEPTH_MAX)) {
		ts->slot->depth_dropped++;
		return;
	}
	f = &ts->stack[d];
	f->task = task_find(ts, name, STORE_TASK_TASK);
	f->child = 0;
	f->t0 = now_ns();
	f->cpu0 = lib.cpu ? cpu_now(ts, f->t0) : 0;
}

/* The address of our own sonda_task_begin, not the one the dynamic linker
 * would bind: tells whether another copy of libsonda came first. */
extern __typeof(sonda_task_begin) sonda_task_begin_self
	__attribute__((alias("sonda_task_begin"), visibility("hidden")));

void sonda_task_end(void)
{
	struct tstate *ts = thread_get();
	struct task_frame *f;
	int64_t now, wall, cpu = 0;
	uint32_t d;

	if (unlikely(!ts))
		return;
	now = now_ns();
	if (unlikely(ts->depth == 0)) {
		ts->slot->unbalanced++;
		return;
	}
	d = --ts->depth;
	if (unlikely(d >= DEPTH_MAX))
		return;
	f = &ts->stack[d];
	wall = now - f->t0;
	if (d > 0)
		ts->stack[d - 1].child += wall;
	if (unlikely(f->task == NONE))
		return;
	if (lib.cpu) {
		int64_t c1 = cpu_now(ts, now);

		if (c1 >= 0 && f->cpu0 >= 0) {
			cpu = c1 - f->cpu0;
			cpu = cpu < 0 ? 0 : cpu > wall ? wall : cpu;
		} else {
			ts->slot->cpu_unknown++;
		}
	}
	task_account(ts, f->task, wall, wall - f->child, cpu);
	if (ts->ring)
		ring_put(ts, f->t0, wall, f->task, d);
}

void sonda_mark(const char *name)
{
	struct tstate *ts = thread_get();
	uint32_t task;
	int64_t now;

	if (!ts)
		return;
	task = task_find(ts, name, STORE_TASK_TASK);
	if (task == NONE)
		return;
	now = now_ns();
	task_account(ts, task, 0, 0, 0);
	if (ts->ring)
		ring_put(ts, now, 0, task, ts->depth < DEPTH_MAX ? ts->depth : DEPTH_MAX);
}

void sonda_thread_name(const char *name)
{
	struct tstate *ts = thread_get();
	char buf[SONDA_THREAD_NAME_MAX];

	if (!ts || !name)
		return;
	strncpy(buf, name, sizeof(buf) - 1);
	buf[sizeof(buf) - 1] = 0;
	memcpy(ts->slot->name, buf, sizeof(buf));
}

static void span_push(uint32_t i)
{
	uint64_t old = atomic_load(&span_free), new;

	do {
		span_pool[i].next = (uint32_t)old;
		new = (((old >> 32) + 1) << 32) | (i + 1);
	} while (!atomic_compare_exchange_weak(&span_free, &old, new));
}

/* A freed span, else one never used (the pool is not touched at start:
 * its pages cost nothing until spans are used). */
static struct sonda_span *span_pop(void)
{
	uint64_t old = atomic_load(&span_free), new;
	uint32_t top, fresh;

	do {
		top = (uint32_t)old;
		if (!top)
			break;
		new = (((old >> 32) + 1) << 32) | __atomic_load_n(&span_pool[top - 1].next, __ATOMIC_RELAXED);
	} while (!atomic_compare_exchange_weak(&span_free, &old, new));
	if (top)
		return &span_pool[top - 1];
	fresh = __atomic_load_n(&span_fresh, __ATOMIC_RELAXED);
	do {
		if (fresh >= SPAN_POOL)
			return NULL;
	} while (!__atomic_compare_exchange_n(&span_fresh, &fresh, fresh + 1, 1, __ATOMIC_RELAXED,
					      __ATOMIC_RELAXED));
	return &span_pool[fresh];
}

HIDDEN void sonda__span_reset(void)
{
	atomic_store(&span_free, 0);
	__atomic_store_n(&span_fresh, 0, __ATOMIC_RELAXED);
}

sonda_span *sonda_span_start(const char *name)
{
	struct sonda_span *s;
	size_t len;

	if (!lib.active)
		return &span_dropped;
	s = span_pop();
	if (!s) {
		__atomic_fetch_add(&lib.hdr->spans_dropped, 1, __ATOMIC_RELAXED);
		return &span_dropped;
	}
	if (!name || !*name)
		name = "?";
	len = strnlen(name, SONDA_NAME_MAX - 1);
	memcpy(s->name, name, len);
	s->name[len] = 0;
	s->t0 = now_ns();
	atomic_store_explicit(&s->state, 1, memory_order_release);
	return s;
}

void sonda_span_finish(sonda_span *s)
{
	struct tstate *ts;
	uint32_t expect = 1, task;
	int64_t now, wall;

	if (s == &span_dropped || !lib.active)
		return;
	if (!s || s < span_pool || s >= span_pool + SPAN_POOL ||
	    !atomic_compare_exchange_strong(&s->state, &expect, 0)) {
		__atomic_fetch_add(&lib.hdr->spans_bad, 1, __ATOMIC_RELAXED);
		return;
	}
	now = now_ns();
	wall = now - s->t0;
	ts = thread_get();
	if (ts) {
		task = task_find(ts, s->name, STORE_TASK_SPAN);
		if (task != NONE) {
			task_account(ts, task, wall, wall, 0);
			if (ts->ring)
				ring_put(ts, s->t0, wall, task, ts->depth < DEPTH_MAX ? ts->depth : DEPTH_MAX);
		}
	}
	span_push((uint32_t)(s - span_pool));
}
