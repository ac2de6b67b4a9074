/* ticker.c - wall mode's stopping thread: pauses the target at each tick from the CPU it runs on, copies its stacks, resumes it; the sampling thread unwinds the copies later. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "profiler/native/native.h"

/* Why a thread of its own, on the target's CPU.  On the machines this was
 * measured on (2 vCPUs), a ptrace stop of a thread running on another CPU
 * costs it an inter-processor interrupt to stop and another to wake its
 * CPU, idle meanwhile: 45-60 us of the target's CPU and 20-25 us stopped
 * per tick, a 20% slowdown at 1 kHz before any work is done.  From the
 * target's own CPU neither is needed: the tick preempts the target, the
 * interrupt is seen as it runs again, its stop and resume are local
 * context switches (10-15 us of its CPU, 4-8 us stopped; measured with
 * bench/native/roundtrip.c).  Whatever else a sample costs (unwinding,
 * symbols, the store) then must not run on that CPU: the sampling thread,
 * kept off it, unwinds the copies every 10 ms (wall.c). */
#define PLACE_NS (50 * 1000000LL)	/* how often the thread moves to the target's CPU */
#define APART_NS (2000 * 1000000LL)	/* kept off it this long when it will not stay */
#define BATCH_MAX 8192			/* thread reads held at most between two drains */

struct prof_ticker {
	pid_t pid;
	int keep_idle;
	int64_t period_ns;
	pthread_t thread;
	atomic_int stop;
	timer_t timer;			/* the ticks, as signals to the thread */
	pthread_mutex_t mu;		/* guards everything below */
	struct prof_grab *fill;		/* reads since the last drain */
	struct prof_grab wants;		/* how much stack to copy per thread */
	int gone;
	int exit_status;
	uint64_t taken, lost, errors;
	char last_error[160];
	pid_t runner;			/* a thread seen running at the last tick */
	/* This thread's own (place()): the CPU it keeps to (or off, apart). */
	int placed, apart, strays;
	int64_t apart_until;
	/* The tick being taken (this thread only). */
	int64_t tick_ns;
	pid_t runner_now;
	size_t dropped;
};

/* Ticks come as signals to the thread (see TICK_SIGNAL): its count. */
static _Thread_local volatile sig_atomic_t ticks_fired;

static int64_t mono_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Real-time priority when permitted, so the tick preempts the target at
 * its time; else a better nice; a 1 ns timer slack either way. */
static void raise_priority(void)
{
	struct sched_param sp = {.sched_priority = 1};

	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	if (pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp) != 0)
		setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), -10);
}

/* The CPU tid last ran on (field 39 of its stat), or -1. */
static int cpu_of(pid_t pid, pid_t tid)
{
	char buf[1024];
	const char *p = prof_thread_stat(pid, tid, buf, sizeof(buf));

	/* " state ppid ...": the CPU is field 39, after 36 more spaces */
	for (int k = 0; k < 36 && p; k++)
		p = strchr(p + 1, ' ');
	return p ? atoi(p + 1) : -1;
}

/* Pins this thread to cpu, or (apart) to every CPU but cpu. */
static int pin(int cpu, int apart, long ncpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	for (int i = 0; i < ncpu; i++)
		if ((i == cpu) != apart)
			CPU_SET(i, &set);
	return pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

/* Keeps to the CPU of the thread that last ran (the main thread when
 * none did).  Where the scheduler moves the target off that CPU as it
 * is resumed (an idle CPU beside: the resume comes from a busy one), a
 * shared CPU saves nothing: found moved at two checks in a row, the
 * thread keeps off the target's CPU instead for APART_NS and polls for
 * stops there, as a sampler on another CPU must (see prof_pause_set_
 * blocking), then tries again.  A no-op with one CPU. */
static void place(struct prof_ticker *k, struct prof_pause *pp, int64_t now)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	pid_t tid;
	int cpu;

	if (ncpu < 2 || ncpu > CPU_SETSIZE)
		return;
	pthread_mutex_lock(&k->mu);
	tid = k->runner ? k->runner : k->pid;
	pthread_mutex_unlock(&k->mu);
	cpu = cpu_of(k->pid, tid);
	if (cpu < 0 || cpu >= ncpu)
		return;
	if (k->apart && now < k->apart_until) {
		if (cpu != k->placed && pin(cpu, 1, ncpu) == 0)
			k->placed = cpu;
		return;
	}
	if (k->apart) {
		k->apart = 0;
		k->strays = 0;
		k->placed = -1;
		prof_pause_set_blocking(pp, &ticks_fired);
	}
	k->strays = k->placed >= 0 && cpu != k->placed ? k->strays + 1 : 0;
	if (k->strays >= 2) {
		k->apart = 1;
		k->apart_until = now + APART_NS;
		prof_pause_set_blocking(pp, NULL);
		if (pin(cpu, 1, ncpu) == 0)
			k->placed = cpu;
		return;
	}
	if (cpu != k->placed && pin(cpu, 0, ncpu) == 0)
		k->placed = cpu;
}

/* The ticks come as a signal aimed at the thread by a timer.  Its
 * handler does nothing but count: the point is that it ends whatever the
 * thread waits in (no SA_RESTART), the sleep until the tick or a blocking
 * waitpid for a thread that will not stop.  The timer is periodic and
 * set again, at a new random phase, only every REPHASE ticks: setting a
 * timer costs 15-40 us on the virtual machines measured, more than the
 * rest of a tick, and a phase kept for a few milliseconds still meets a
 * periodic target at every phase over a recording. */
#define TICK_SIGNAL (SIGRTMAX - 3)
#define REPHASE 32

static void on_tick(int sig)
{
	(void)sig;
	ticks_fired++;
}

static void install_tick_handler(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_tick;
	sigemptyset(&sa.sa_mask);
	sigaction(TICK_SIGNAL, &sa, NULL);
}

static int make_timer(struct prof_ticker *k)
{
	struct sigevent sev;

	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = TICK_SIGNAL;
	sev._sigev_un._tid = (pid_t)syscall(SYS_gettid);	/* sigev_notify_thread_id */
	return timer_create(CLOCK_MONOTONIC, &sev, &k->timer);
}

/* The next tick at due, and every period after it. */
static void arm(struct prof_ticker *k, int64_t due)
{
	struct itimerspec its;

	its.it_value.tv_sec = due / 1000000000;
	its.it_value.tv_nsec = due % 1000000000;
	its.it_interval.tv_sec = k->period_ns / 1000000000;
	its.it_interval.tv_nsec = k->period_ns % 1000000000;
	timer_settime(k->timer, TIMER_ABSTIME, &its, NULL);
}

/* Waits for a tick after *seen.  -1 when told to stop. */
static int wait_tick(struct prof_ticker *k, struct prof_pause *pp, sig_atomic_t *seen)
{
	while (ticks_fired == *seen) {
		if (atomic_load(&k->stop))
			return -1;
		/* A late thread is let go as soon as it stops: look every
		 * 200 us meanwhile (rare: a loaded machine). */
		k->tick_ns = mono_now();	/* a late thread's read is taken now */
		if (prof_pause_poll(pp)) {
			struct timespec ts = {0, 200000};

			nanosleep(&ts, NULL);
		} else {
			pause();
		}
	}
	*seen = ticks_fired;
	return atomic_load(&k->stop) ? -1 : 0;
}

/* The kernel tells a tracer of each of its tracees' stops with SIGCHLD
 * to the tracing thread.  Blocked there (the sampling thread blocks it,
 * and this thread inherits that), it goes to another thread of sonda,
 * which the kernel wakes for it at every tick, on any CPU, the target's
 * too; unblocked, its default action (ignore) drops it as it is sent. */
static void unblock_sigchld(void)
{
	sigset_t chld;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	pthread_sigmask(SIG_UNBLOCK, &chld, NULL);
}

static void note_gone(struct prof_ticker *k, struct prof_pause *pp)
{
	pthread_mutex_lock(&k->mu);
	k->gone = 1;
	if (pp)
		k->exit_status = prof_pause_exit_status(pp);
	pthread_mutex_unlock(&k->mu);
}

/* Each thread as it stops (prof_pause_set_each): copied into the batch,
 * let go at once by the pause. */
static void take_one(void *ctx, struct prof_pause *pp)
{
	struct prof_ticker *k = ctx;
	const struct prof_grab_thread *t;

	pthread_mutex_lock(&k->mu);
	if (k->fill->n >= BATCH_MAX) {
		k->dropped++;	/* nobody drains: keep the oldest */
		pthread_mutex_unlock(&k->mu);
		return;
	}
	t = prof_grab_one(k->fill, &k->wants, pp, 0, k->pid, k->keep_idle, k->tick_ns);
	if (t && t->state == STORE_STATE_ONCPU) {
		/* Found running: stopped unasked next time, and the CPU to
		 * keep to is its (the main thread's first). */
		prof_pause_note_running(pp, t->tid);
		if (!k->runner_now || t->tid == k->pid)
			k->runner_now = t->tid;
	}
	pthread_mutex_unlock(&k->mu);
}

/* One tick: stop, copy and resume each thread.  0, or -1 when the target
 * is gone. */
static int tick(struct prof_ticker *k, struct prof_pause *pp, int64_t now)
{
	char err[160] = "";
	int rc;

	k->tick_ns = now;
	k->runner_now = 0;
	k->dropped = 0;
	rc = prof_pause_stop(pp, err, sizeof(err));
	if (rc == -ESRCH)
		return -1;
	if (rc < 0) {
		prof_pause_resume(pp);
		/* A process that just exited is a zombie until reaped: its
		 * threads refuse ptrace, which is its end, not an error. */
		if (!prof_nat_alive(k->pid))
			return -1;
		pthread_mutex_lock(&k->mu);
		if (prof_pause_late(pp)) {
			k->taken++;	/* slow threads: read when they stop, for this tick too */
		} else {
			k->errors++;
			snprintf(k->last_error, sizeof(k->last_error), "%s", err);
		}
		pthread_mutex_unlock(&k->mu);
		return 0;
	}
	prof_pause_resume(pp);	/* none left stopped: for form's sake */
	pthread_mutex_lock(&k->mu);
	if (k->dropped)
		k->lost++;
	else
		k->taken++;
	k->runner = k->runner_now;
	k->exit_status = prof_pause_exit_status(pp);
	pthread_mutex_unlock(&k->mu);
	return 0;
}

static long half_tick_us(int64_t period)
{
	long half = (long)(period / 2000);

	return half < 100 ? 100 : half > 20000 ? 20000 : half;
}

static void *ticker_main(void *arg)
{
	struct prof_ticker *k = arg;
	char err[160];
	struct prof_pause *pp = prof_pause_new(k->pid, err, sizeof(err));
	int64_t period = k->period_ns, next = mono_now(), due = next, placed_at = next;
	uint64_t seed = (uint64_t)next | 1;
	sig_atomic_t seen = ticks_fired;

	if (!pp || make_timer(k) < 0) {
		prof_pause_free(pp);
		note_gone(k, NULL);
		return NULL;
	}
	prof_pause_set_relist(pp, 10000);	/* new threads are found within 10 ms */
	prof_pause_set_blocking(pp, &ticks_fired);	/* until the stop, or the next tick */
	/* Polling for stops (from another CPU, apart): a thread that cannot
	 * stop within half a tick is read when it stops. */
	prof_pause_set_timeout(pp, half_tick_us(period));
	prof_pause_set_each(pp, take_one, k);
	/* Without --idle a sleeping thread would be dropped anyway: leave
	 * it asleep rather than wake it to read it. */
	prof_pause_skip_sleepers(pp, !k->keep_idle);
	pthread_setname_np(pthread_self(), "sonda-stop");
	unblock_sigchld();
	raise_priority();
	place(k, pp, next);
	for (unsigned n = 0; !atomic_load(&k->stop); n++) {
		int64_t now;

		if (n % REPHASE == 0) {
			due = next + prof_tick_jitter(&seed, period);
			arm(k, due);
			seen = ticks_fired;	/* the old phase's ticks are void */
		}
		if (wait_tick(k, pp, &seen) < 0)
			break;
		now = mono_now();
		/* Late by a period or more (the timer counts those as one
		 * signal): count the ticks slept through, do not burst. */
		if (now - due >= period) {
			int64_t skipped = (now - due) / period;

			pthread_mutex_lock(&k->mu);
			k->lost += (uint64_t)skipped;
			pthread_mutex_unlock(&k->mu);
			next += skipped * period;
			due += skipped * period;
		}
		/* A tick that comes while this one is taken (it cut a wait
		 * short) is the next one: wait_tick returns at once. */
		if (tick(k, pp, now) < 0) {
			note_gone(k, pp);
			break;
		}
		next += period;
		due += period;
		if (now - placed_at >= PLACE_NS) {
			placed_at = now;
			place(k, pp, now);
		}
	}
	timer_delete(k->timer);
	prof_pause_free(pp);	/* from this thread: its tracees are its own */
	return NULL;
}

static pthread_once_t handler_once = PTHREAD_ONCE_INIT;

struct prof_ticker *prof_ticker_start(pid_t pid, double rate_hz, int keep_idle,
				      struct prof_grab *first, char *err, size_t errlen)
{
	struct prof_ticker *k = calloc(1, sizeof(*k));
	int rc;

	if (!k) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	k->pid = pid;
	k->keep_idle = keep_idle;
	k->period_ns = (int64_t)(1e9 / rate_hz);
	if (k->period_ns < 1000)
		k->period_ns = 1000;
	k->exit_status = -1;
	k->placed = -1;
	k->fill = first;
	pthread_mutex_init(&k->mu, NULL);
	pthread_once(&handler_once, install_tick_handler);
	rc = pthread_create(&k->thread, NULL, ticker_main, k);
	if (rc) {
		snprintf(err, errlen, "cannot start the stopping thread: %s", strerror(rc));
		pthread_mutex_destroy(&k->mu);
		free(k);
		return NULL;
	}
	return k;
}

struct prof_grab *prof_ticker_swap(struct prof_ticker *k, struct prof_grab *empty,
				   struct prof_ticker_news *news)
{
	struct prof_grab *full;

	empty->n = 0;
	pthread_mutex_lock(&k->mu);
	full = k->fill;
	k->fill = empty;
	news->gone = k->gone;
	news->errors = k->errors;
	k->errors = 0;
	snprintf(news->last_error, sizeof(news->last_error), "%s", k->last_error);
	if (k->wants.nwant > 4096)
		k->wants.nwant = 0;	/* many threads came and went: start over */
	pthread_mutex_unlock(&k->mu);
	return full;
}

void prof_ticker_note(struct prof_ticker *k, pid_t tid, size_t depth)
{
	pthread_mutex_lock(&k->mu);
	prof_grab_note(&k->wants, tid, depth);
	pthread_mutex_unlock(&k->mu);
}

void prof_ticker_stats(struct prof_ticker *k, struct prof_ticker_stats *st)
{
	pthread_mutex_lock(&k->mu);
	*st = (struct prof_ticker_stats){ k->taken, k->lost, k->exit_status };
	pthread_mutex_unlock(&k->mu);
}

/* Stops and joins the thread (which detaches every thread it holds);
 * returns the batch it was filling, for the caller to free. */
struct prof_grab *prof_ticker_stop(struct prof_ticker *k)
{
	struct prof_grab *last;

	atomic_store(&k->stop, 1);
	pthread_kill(k->thread, TICK_SIGNAL);	/* ends its wait at once */
	pthread_join(k->thread, NULL);
	last = k->fill;
	prof_grab_free(&k->wants);
	pthread_mutex_destroy(&k->mu);
	free(k);
	return last;
}
