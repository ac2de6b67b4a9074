/* offcpu.c - wall mode from perf events: cpu-clock samples for the time a thread runs, its stack at each switch-out weighed by the time it stays off; no thread is stopped. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "profiler/native/native.h"

/* Why not ptrace.  A ptrace stop costs the stopped thread two context
 * switches and a trip through the scheduler, 65-110 us of its wall time
 * on the 2-vCPU machines measured: at 1 kHz a computing target ran 6-9%
 * longer whatever was done after the stop (bench/native/roundtrip.c).
 * Here the kernel does the work at moments the target pays for anyway:
 * the cpu-clock timer interrupts a running thread once per period of its
 * CPU time (as cpu mode), and a thread that leaves its CPU leaves its
 * registers and a copy of its user stack in the ring at the switch-out
 * (perf reads the user registers from task_pt_regs, where the system
 * call or the interrupt left them).  The PERF_RECORD_SWITCH that follows
 * says whether it was preempted (runnable: waiting for a CPU, counted as
 * running, as the ptrace mode counts a thread found runnable) or blocked
 * (idle); the switch back in ends the interval.
 *
 * The ticks of a thread's off-CPU time: each thread keeps its own phase,
 * drawn at random, and an interval counts the ticks of the period that
 * fall in it, as a ticker stopping it would have.  An interval shorter
 * than a period mostly counts none, and is then not even unwound, so a
 * thread that switches 50000 times a second costs sonda little more than
 * one that sleeps; the target pays for the kernel's copy at each switch.
 *
 * What the target does pay for at each switch is the kernel's work: the
 * switch-out sample (its 8 KB stack copy, 1-3 us here) and the cpu-clock
 * event's timer, stopped when the thread leaves its CPU and started when
 * it comes back.  The timer is the dear part: at a period shorter than
 * the scheduler's tick it is the CPU's next timer, so each start and
 * stop reprograms the timer hardware, which a virtual machine traps (11
 * us a switch on the machine measured, the target ran 6 times slower
 * than alone when switching 300000 times a second; 1 us at a 10 ms
 * period).  A thread found switching more than SWITCHY_HZ times a second
 * gets its clock at SLOW_NS instead, each of its on-CPU samples standing
 * for that many ticks (the shares stay right, with fewer distinct
 * samples), and back at the rate once it calms down.
 *
 * What is not exact: the clock runs on while the kernel switches the
 * thread out (after its switch-out record) and in (before its switch-in
 * record), time the interval counts too.  Its samples fire once the
 * switch is over, so they cannot be told apart: the time is counted
 * twice.  That is perf's own switching work, about 1 us a switch with
 * the slow clock, 10 with the fast one here, so at most about 1% of a
 * thread's time at SWITCHY_HZ; a thread passing a byte back and forth
 * 100000 times a second was counted 10% over its wall time.
 *
 * A thread asleep when the events are opened sends nothing until it
 * wakes: with --idle it is interrupted once (PTRACE_SEIZE, INTERRUPT,
 * detach), which passes it through a switch in and out.  A thread with no
 * switch-out seen is never guessed at. */

#define POKE_TIMEOUT_US 20000
#define SWITCHY_HZ 1000
#define SLOW_NS (10 * 1000000LL)
#define WINDOW_NS (100 * 1000000LL)	/* how long a switch rate is measured over */

struct off_thread {
	pid_t tid;
	int out;		/* off CPU since its switch-out sample */
	int preempt;		/* ... still runnable, not blocked */
	int told;		/* its PERF_RECORD_SWITCH (out) was read */
	int kept;		/* regs and stack (ring or copy) are worth unwinding */
	int64_t since;		/* when it switched out (its stack's time) */
	int64_t t_out;		/* counted up to here */
	int64_t acc;		/* off-CPU ns since its last tick */
	int64_t window_ns;	/* switches counted since */
	uint64_t switches;
	int slow;		/* its clock at SLOW_NS */
	struct prof_regs regs;
	const uint8_t *ring;	/* the stack, in the ring until it is drained */
	uint8_t *stack;		/* after that, its copy */
	size_t len, cap;
	struct off_thread *next;
};

struct prof_offcpu {
	struct prof_nat nat;
	struct prof_perf *perf;
	int idle;
	int64_t period, start_ns;
	uint64_t seed;
	prof_emit_fn emit;
	void *ctx;
	struct off_thread **tab;	/* chained by tid */
	size_t cap, n;
	struct off_thread *last;	/* a ring is one thread's: its records look it up once */
	int exit_status;
	uint64_t pokes, intervals, emitted, slowed;
	uint64_t switches;	/* the process's, since window_ns */
	int64_t window_ns;
	double switch_hz;	/* over the last whole window */
	char desc[96];
};

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t next_random(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static size_t bucket(const struct prof_offcpu *f, pid_t tid)
{
	return ((uint32_t)tid * 2654435761u) & (f->cap - 1);
}

static int grow(struct prof_offcpu *f)
{
	size_t nc = f->cap ? 2 * f->cap : 64, oc = f->cap;
	struct off_thread **tab = calloc(nc, sizeof(*tab)), **old = f->tab;

	if (!tab)
		return -1;
	f->tab = tab;
	f->cap = nc;
	for (size_t i = 0; i < oc; i++)
		for (struct off_thread *t = old[i], *nx; t; t = nx) {
			size_t b = bucket(f, t->tid);

			nx = t->next;
			t->next = tab[b];
			tab[b] = t;
		}
	free(old);
	return 0;
}

static struct off_thread *find(struct prof_offcpu *f, pid_t tid, int make)
{
	struct off_thread *t;

	if (f->last && f->last->tid == tid)
		return f->last;
	for (t = f->cap ? f->tab[bucket(f, tid)] : NULL; t; t = t->next)
		if (t->tid == tid)
			return f->last = t;
	if (!make || (f->n >= f->cap && grow(f) < 0) || !(t = calloc(1, sizeof(*t))))
		return NULL;
	t->tid = tid;
	t->window_ns = mono_ns();
	/* Its ticks at a phase of their own: threads that sleep in step are
	 * not all counted at once. */
	t->acc = (int64_t)(next_random(&f->seed) % (uint64_t)f->period);
	t->next = f->tab[bucket(f, tid)];
	f->tab[bucket(f, tid)] = t;
	f->n++;
	return f->last = t;
}

static void forget(struct prof_offcpu *f, pid_t tid)
{
	struct off_thread **p;

	if (!f->cap)
		return;
	for (p = &f->tab[bucket(f, tid)]; *p; p = &(*p)->next)
		if ((*p)->tid == tid) {
			struct off_thread *t = *p;

			*p = t->next;
			if (f->last == t)
				f->last = NULL;
			free(t->stack);
			free(t);
			f->n--;
			return;
		}
}

/* The ticks that fall in [t_out, end] of the thread's off-CPU time, one
 * stack standing for all of them. */
static void account(struct prof_offcpu *f, struct off_thread *t, int64_t end)
{
	int64_t d = end - t->t_out, before = t->acc;
	uint32_t state = t->preempt ? STORE_STATE_ONCPU : STORE_STATE_IDLE;
	uint64_t n;

	if (d <= 0)
		return;
	f->intervals++;
	t->acc += d;
	if (t->acc < f->period)
		return;
	n = (uint64_t)(t->acc / f->period);
	t->acc %= f->period;
	/* Dropped unless --idle: not worth unwinding. */
	if (!t->kept || (state == STORE_STATE_IDLE && !f->idle))
		return;
	f->emitted++;
	f->nat.weight = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
	f->nat.mono_ns = t->t_out + (f->period - before);
	f->nat.stack_ns = t->since;
	prof_nat_emit(&f->nat, t->tid, state, &t->regs, t->ring ? t->ring : t->stack, t->len, NULL,
		      0, f->emit, f->ctx);
	f->nat.weight = 0;
	f->nat.mono_ns = 0;
	f->nat.stack_ns = 0;
}

/* The ring is about to be given back: a thread still off CPU keeps a
 * copy of its stack, when it may be emitted. */
static void keep(struct prof_offcpu *f, struct off_thread *t)
{
	if (!t->ring)
		return;
	if (t->kept && (t->preempt || f->idle)) {
		if (t->cap < t->len) {
			uint8_t *b = realloc(t->stack, t->len);

			if (!b) {
				t->kept = 0;
				t->ring = NULL;
				return;
			}
			t->stack = b;
			t->cap = t->len;
		}
		memcpy(t->stack, t->ring, t->len);
	} else {
		t->kept = 0;
	}
	t->ring = NULL;
}

static void on_cpu(struct prof_offcpu *f, const struct prof_perf_sample *s)
{
	struct off_thread *t;

	if (s->watch_hit) {
		prof_unwind_watch_hit(f->nat.unw, s->tid, s->watch_addr);
		return;
	}
	/* The clock runs on through the kernel's own switching work (perf's
	 * included), which the interval counts already: a sample that falls
	 * in it is dropped, which takes that time off the clock's count on
	 * average. */
	if ((t = find(f, s->tid, 0)) && t->out && (int64_t)s->time >= t->t_out)
		return;
	f->nat.mono_ns = (int64_t)s->time;
	/* A clock slowed down (a thread that switches often): each sample
	 * stands for the ticks of its period. */
	if (s->period > (uint64_t)f->period)
		f->nat.weight = (uint32_t)((s->period + (uint64_t)f->period / 2) / (uint64_t)f->period);
	prof_nat_emit(&f->nat, s->tid, STORE_STATE_ONCPU, &s->regs, s->stack, s->stack_len, s->kips,
		      s->nkips, f->emit, f->ctx);
	f->nat.mono_ns = 0;
	f->nat.weight = 0;
	prof_perf_hint(f->perf, prof_unwind_copy_depth(f->nat.unw));
}

/* Records of one thread come in time order (its own ring). */
static void on_record(void *ctx, const struct prof_perf_sample *s)
{
	struct prof_offcpu *f = ctx;
	struct off_thread *t;
	switch (s->kind) {
	case PROF_PERF_CPU:
		on_cpu(f, s);
		break;
	case PROF_PERF_OFF:
		/* Out again without coming in: records were lost, and with
		 * them the end of the last interval; it is not counted. */
		if (!(t = find(f, s->tid, 1)))
			break;
		t->switches++;
		f->switches++;
		t->out = t->kept = 1;
		t->preempt = t->told = 0;
		t->since = t->t_out = (int64_t)s->time;
		t->regs = s->regs;
		t->ring = s->stack;
		t->len = s->stack_len;
		break;
	case PROF_PERF_SWITCH_OUT:
		/* The interval starts here, after the sample's own cost. */
		if ((t = find(f, s->tid, 0)) && t->out && !t->told) {
			t->told = 1;
			t->preempt = s->preempt;
			if ((int64_t)s->time > t->t_out)
				t->t_out = (int64_t)s->time;
		}
		break;
	case PROF_PERF_SWITCH_IN:
		if ((t = find(f, s->tid, 0)) && t->out) {
			account(f, t, (int64_t)s->time);
			t->out = 0;
			t->ring = NULL;
		}
		break;
	case PROF_PERF_DRAINED:
		/* Still off: counted up to now, so that a long sleep shows as
		 * it goes (sonda top) and at the end. */
		if ((t = find(f, s->tid, 0)) && t->out) {
			keep(f, t);
			account(f, t, (int64_t)s->time);
			if ((int64_t)s->time > t->t_out)
				t->t_out = (int64_t)s->time;
		}
		break;
	case PROF_PERF_EXIT:
		forget(f, s->tid);
		break;
	case PROF_PERF_LOST:
		/* Its switch back in may be among them: the interval's end is
		 * unknown, and it is not counted (rather than counted on while
		 * the thread runs). */
		if ((t = find(f, s->tid, 0)) && t->out) {
			t->out = 0;
			t->ring = NULL;
		}
		break;
	}
}

/* Each thread's clock at the rate, or at SLOW_NS while it switches more
 * than SWITCHY_HZ times a second (back below a quarter of that). */
static void pace(struct prof_offcpu *f, int64_t now)
{
	uint64_t fast = (uint64_t)f->period, slow = f->period < SLOW_NS ? SLOW_NS : (uint64_t)f->period;

	for (size_t i = 0; i < f->cap && slow != fast; i++)
		for (struct off_thread *t = f->tab[i]; t; t = t->next) {
			double hz;

			if (now - t->window_ns < WINDOW_NS)
				continue;
			hz = (double)t->switches * 1e9 / (double)(now - t->window_ns);
			t->window_ns = now;
			t->switches = 0;
			if (!t->slow && hz > SWITCHY_HZ && prof_perf_clock(f->perf, t->tid, slow) == 0) {
				t->slow = 1;
				f->slowed++;
			} else if (t->slow && hz < SWITCHY_HZ / 4 &&
				   prof_perf_clock(f->perf, t->tid, fast) == 0) {
				t->slow = 0;
			}
		}
}

/* 1 when the thread sleeps interruptibly (S): it will not switch until woken. */
static int asleep(pid_t pid, pid_t tid)
{
	char buf[512];
	const char *p = prof_thread_stat(pid, tid, buf, sizeof(buf));

	return p && p[1] == 'S';
}

/* Interrupts each thread once (and lets it go): it wakes, stops, goes
 * back to its wait, and is known from its switch-out on.  Threads in D
 * are left alone: they cannot stop before their wait ends. */
static void poke(struct prof_offcpu *f, const pid_t *tids, size_t n)
{
	char err[160];
	struct prof_pause *pp;

	if (!n || !(pp = prof_pause_new(f->nat.pid, err, sizeof(err))))
		return;
	if (prof_pause_set_threads(pp, tids, n) == 0) {
		prof_pause_set_timeout(pp, POKE_TIMEOUT_US);
		prof_pause_stop(pp, err, sizeof(err));
		prof_pause_resume(pp);
	}
	if (prof_pause_exit_status(pp) != -1)
		f->exit_status = prof_pause_exit_status(pp);
	prof_pause_free(pp);
	f->pokes += n;
}

/* The threads whose events were just opened that sleep: without --idle
 * their sleep would be dropped anyway, and they are left alone. */
static void poke_fresh(struct prof_offcpu *f)
{
	pid_t fresh[128], sleepers[128];
	size_t n, k;

	while ((n = prof_perf_fresh(f->perf, fresh, 128)) > 0) {
		k = 0;
		for (size_t i = 0; i < n && f->idle; i++)
			if (asleep(f->nat.pid, fresh[i]))
				sleepers[k++] = fresh[i];
		poke(f, sleepers, k);
	}
}

struct prof_offcpu *prof_offcpu_attach(pid_t pid, const struct prof_options *o, char *err,
				       size_t errlen)
{
	struct prof_offcpu *f = calloc(1, sizeof(*f));
	double hz = o && o->rate_hz > 0 ? o->rate_hz : 100;

	if (!f) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	f->idle = o ? o->idle : 1;
	f->period = (int64_t)(1e9 / hz);
	if (f->period < 1000)
		f->period = 1000;
	f->exit_status = -1;
	f->start_ns = f->window_ns = mono_ns();
	f->seed = (uint64_t)f->start_ns | 1;
	if (prof_nat_init(&f->nat, pid, err, errlen) != 0) {
		free(f);
		return NULL;
	}
	f->perf = prof_perf_open_switches(pid, hz, err, errlen);
	if (!f->perf) {
		prof_nat_fini(&f->nat);
		free(f);
		return NULL;
	}
	prof_perf_watch_outer(f->perf, f->nat.unw);
	snprintf(f->desc, sizeof(f->desc), "wall clock via perf_event_open (%s and context switches)",
		 prof_perf_event(f->perf));
	poke_fresh(f);
	return f;
}

const char *prof_offcpu_describe(const struct prof_offcpu *f)
{
	return f->desc;
}

int prof_offcpu_sample(struct prof_offcpu *f, prof_emit_fn emit, void *ctx, char *err,
		       size_t errlen)
{
	int64_t now;
	int n;

	f->emit = emit;
	f->ctx = ctx;
	n = prof_perf_read(f->perf, on_record, f);
	if (n == -ESRCH) {
		snprintf(err, errlen, "process %d exited", (int)f->nat.pid);
		return -ESRCH;
	}
	poke_fresh(f);
	now = mono_ns();
	pace(f, now);
	if (now - f->window_ns >= WINDOW_NS) {
		f->switch_hz = (double)f->switches * 1e9 / (double)(now - f->window_ns);
		f->switches = 0;
		f->window_ns = now;
	}
	return prof_perf_short(f->perf, err, errlen);
}

/* The context switches of the whole process a second, over the last
 * tenth of a second, and its threads now. */
double prof_offcpu_switch_hz(const struct prof_offcpu *f, size_t *threads)
{
	*threads = f->n;
	return f->switch_hz;
}

int64_t prof_offcpu_drain_ns(struct prof_offcpu *f)
{
	return prof_perf_drain_ns(f->perf);
}

/* The ticks since attach: every thread is counted at each, on CPU or off. */
uint64_t prof_offcpu_taken(struct prof_offcpu *f)
{
	return (uint64_t)((mono_ns() - f->start_ns) / f->period);
}

uint64_t prof_offcpu_lost(struct prof_offcpu *f)
{
	return prof_perf_lost(f->perf);
}

int prof_offcpu_exit_status(const struct prof_offcpu *f)
{
	return f->exit_status;
}

void prof_offcpu_detach(struct prof_offcpu *f)
{
	if (!f)
		return;
	if (getenv("SONDA_NATIVE_DEBUG"))
		fprintf(stderr, "offcpu: lost %llu, intervals %llu, emitted %llu, poked %llu, "
			"slowed %llu\n", (unsigned long long)prof_perf_lost(f->perf),
			(unsigned long long)f->intervals, (unsigned long long)f->emitted,
			(unsigned long long)f->pokes, (unsigned long long)f->slowed);
	prof_perf_close(f->perf);
	for (size_t i = 0; i < f->cap; i++)
		for (struct off_thread *t = f->tab[i], *nx; t; t = nx) {
			nx = t->next;
			free(t->stack);
			free(t);
		}
	free(f->tab);
	prof_nat_fini(&f->nat);
	free(f);
}
