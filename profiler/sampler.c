/* sampler.c - the sampling loop: a thread that reads the target's stacks at a fixed rate into a store_profile. */
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
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "profiler/sampler-int.h"

#define NS 1000000000LL
#define CHILD_SCAN_NS (200 * 1000000LL)	/* --subprocesses: look for new children */
#define CHILD_GIVEUP_NS (5 * NS)	/* a child that never became readable */
#define ALIVE_CHECK_NS (100 * 1000000LL)	/* attach mode: is the target still there */
#define PYTHON_INIT_NS (10 * NS)	/* launch: wait this long for the interpreter */
#define NATIVE_GRACE_NS (300 * 1000000LL)	/* launch: a non-Python exe may exec Python soon */
#define STEER_MAX_NS (10 * 1000000LL)	/* the loop keeps off the target's CPU up to this period */

struct candidate {
	pid_t pid;
	int64_t first_ns;
};

struct prof_sampler {
	struct prof_options o;
	struct store_profile *p;
	pthread_mutex_t lock;
	pthread_t thread;
	int joined;
	atomic_int stop, running;
	/* The loop sleeps on sleep_cv until its next tick: a stop request
	 * wakes it at once, with no periodic wake-up to look for one. */
	pthread_mutex_t sleep_mu;
	pthread_cond_t sleep_cv;
	int done_fd;	/* eventfd, readable once the loop ended (prof_sampler_wait) */

	/* prof_sampler_start() waits here for the thread's attach. */
	pthread_mutex_t start_mu;
	pthread_cond_t start_cv;
	int start_done, start_rc;
	char start_err[256];

	struct prof_launch launch;
	int launched;
	char described[200];	/* the main target's engine, at attach */

	struct prof_target *targets;	/* [0] is the main target */
	size_t ntargets, cap;
	struct candidate *cand;
	size_t ncand, candcap;
	struct prof_tids gaveup, kids;

	struct prof_emit_ctx emit;
	int64_t start_mono, start_real;
	struct prof_status st;
};

static int64_t mono_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * NS + t.tv_nsec;
}

static int64_t real_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * NS + t.tv_nsec;
}

static void open_session(struct prof_sampler *s, struct prof_target *t)
{
	char cmd[4096], runtime[32], version[64];
	struct store_session ss = {0};

	prof_cmdline(t->pid, cmd, sizeof(cmd));
	prof_target_describe(t, runtime, sizeof(runtime), version, sizeof(version));
	ss.pid = t->pid;
	ss.command = cmd;
	ss.runtime = runtime;
	ss.version = version;
	ss.mode = t->be->name;
	ss.rate_hz = s->o.rate_hz;
	ss.start_ns = real_ns();
	ss.last_error = "";
	t->session = store_session_add(s->p, &ss);
}

/* The Python engine is paused around sample() only when asked (--blocking). */
static int pauses(const struct prof_sampler *s, const struct prof_target *t)
{
	return t->be == &prof_backend_python && s->o.blocking && !s->o.nonblocking;
}

/* The loop pauses the target around sample() for the Python engine with
 * --blocking; the wall and mixed engines pause with prof_pause_*
 * themselves, cpu never. */
static int start_target(struct prof_sampler *s, struct prof_target *t, char *err, size_t errlen)
{
	if (pauses(s, t)) {
		int64_t wait_us = (int64_t)(500000.0 / s->o.rate_hz);

		t->pause = prof_pause_new(t->pid, err, errlen);
		if (!t->pause)
			return -1;
		/* A thread waiting for a CPU cannot stop: do not wait for it more
		 * than half a tick (it is read unpaused, and let go once it stops). */
		prof_pause_set_timeout(t->pause, wait_us < 100 ? 100 : wait_us > 20000 ? 20000 : wait_us);
		prof_pause_skip_sleepers(t->pause, 1);
		/* Listing /proc/PID/task at every tick costs more than the read. */
		prof_pause_set_relist(t->pause, 10000);
	}
	pthread_mutex_lock(&s->lock);
	open_session(s, t);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static void end_target(struct prof_sampler *s, struct prof_target *t)
{
	struct store_session *ss;

	if (t->pause) {
		prof_pause_free(t->pause);
		t->pause = NULL;
	}
	if (t->e) {
		t->be->detach(t->e);
		t->e = NULL;
	}
	ss = store_session_get(s->p, t->session);
	if (ss && !ss->end_ns)
		ss->end_ns = real_ns();
}

/* Launch mode: the command runs; wait until its interpreter can be read. */
static int attach_launched(struct prof_sampler *s, struct prof_target *t, char *reason,
			   size_t rlen, char *err, size_t errlen)
{
	int64_t start = mono_ns();
	int python_wanted = s->o.mode == PROF_MODE_PYTHON || s->o.native;

	for (;;) {
		struct timespec ts = {0, 5000000};
		int64_t waited = mono_ns() - start;
		int auto_mode = s->o.mode == PROF_MODE_AUTO && !s->o.native;

		if (prof_launch_poll(&s->launch)) {
			snprintf(err, errlen, "%s exited (status %d) before it could be profiled",
				 s->o.argv[0], prof_launch_exit_code(s->launch.status));
			return -1;
		}
		if (!auto_mode && !python_wanted)
			return prof_choose_backend(t, &s->o, reason, rlen, err, errlen);
		if (prof_try_attach(t, &prof_backend_python, &s->o, err, errlen) == 0) {
			snprintf(reason, rlen, "%s (%s)", t->be->describe(t->e),
				 auto_mode ? "the command is Python" : "as asked");
			if (s->o.native) {
				/* Mixed mode wanted: Python is up, now the real engine. */
				t->be->detach(t->e);
				t->e = NULL;
				return prof_choose_backend(t, &s->o, reason, rlen, err, errlen);
			}
			return 0;
		}
		if (auto_mode && waited > NATIVE_GRACE_NS && !prof_looks_python(t->pid))
			return prof_choose_backend(t, &s->o, reason, rlen, err, errlen);
		if (waited > PYTHON_INIT_NS)
			return -1;	/* err holds the engine's last reason */
		nanosleep(&ts, NULL);
	}
}

static int setup(struct prof_sampler *s, char *err, size_t errlen)
{
	struct prof_target *t = &s->targets[0];

	memset(t, 0, sizeof(*t));
	s->ntargets = 1;
	if (s->o.pid <= 0) {
		if (prof_launch_fork(&s->launch, s->o.argv, err, errlen) < 0)
			return -1;
		s->launched = 1;
		if (prof_launch_go(&s->launch, s->o.argv, err, errlen) < 0)
			return -1;
		t->pid = s->launch.pid;
		s->st.pid = t->pid;
		if (attach_launched(s, t, s->st.mode_reason, sizeof(s->st.mode_reason), err,
				    errlen) < 0)
			return -1;
	} else {
		t->pid = s->o.pid;
		s->st.pid = t->pid;
		if (prof_check_pid(t->pid, err, errlen) < 0)
			return -1;
		if (prof_choose_backend(t, &s->o, s->st.mode_reason, sizeof(s->st.mode_reason), err,
				   errlen) < 0)
			return -1;
		if (pauses(s, t) && prof_check_traced(t->pid, err, errlen) < 0) {
			t->be->detach(t->e);
			t->e = NULL;
			return -1;
		}
	}
	if (start_target(s, t, err, errlen) < 0)
		return -1;
	if (t->be == &prof_backend_python) {
		size_t n = strlen(s->st.mode_reason);

		snprintf(s->st.mode_reason + n, sizeof(s->st.mode_reason) - n, "; %s",
			 t->pause ? "paused for each read (--blocking)" : "read without pausing");
	}
	s->st.session = t->session;
	snprintf(s->described, sizeof(s->described), "%s", t->be->describe(t->e));
	return 0;
}

/* Real-time priority when permitted, so the tick is not late behind the
 * target's own threads; else a better nice; a 1 ns timer slack either way. */
static void raise_priority(void)
{
	struct sched_param sp = {.sched_priority = 1};

	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	if (pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp) != 0)
		setpriority(PRIO_PROCESS, (id_t)gettid(), -10);
}

/* Threads of any target still stopping since the last tick. */
static size_t poll_late(struct prof_sampler *s)
{
	size_t pending = 0;

	for (size_t i = 0; i < s->ntargets; i++)
		if (s->targets[i].pause)
			pending += prof_pause_poll(s->targets[i].pause);
	return pending;
}

static void sleep_until(struct prof_sampler *s, int64_t deadline)
{
	/* Slices of 200 us while a late thread may have stopped since, so
	 * that it is let go at once; else one wait until the deadline. */
	pthread_mutex_lock(&s->sleep_mu);
	for (;;) {
		int64_t now = mono_ns(), until = deadline;
		struct timespec ts;

		if (now >= deadline || atomic_load(&s->stop))
			break;
		if (poll_late(s) && until - now > 200000)
			until = now + 200000;
		ts.tv_sec = until / NS;
		ts.tv_nsec = until % NS;
		pthread_cond_timedwait(&s->sleep_cv, &s->sleep_mu, &ts);
	}
	pthread_mutex_unlock(&s->sleep_mu);
}

static void note_error(struct prof_target *t, const char *msg)
{
	t->errors++;
	snprintf(t->last_error, sizeof(t->last_error), "%s", msg);
}

static void sample_target(struct prof_sampler *s, struct prof_target *t, int64_t now,
			  uint64_t tick)
{
	char err[160] = "";
	int rc, paused = 0;

	if (t->exited || !t->e)
		return;
	s->emit.t = t;
	s->emit.time_ns = now - s->start_mono;
	s->emit.tick = tick;
	s->emit.kept = 0;
	if (t->pause) {
		rc = prof_pause_stop(t->pause, err, sizeof(err));
		if (rc == -ESRCH) {
			t->exited = 1;
			return;
		}
		if (rc < 0 && prof_pause_late(t->pause))
			t->unpaused++;	/* read it anyway */
		else if (rc < 0)
			note_error(t, err);	/* read it anyway, unpaused */
		else
			paused = 1;
		if (paused && prof_pause_late(t->pause))
			t->unpaused++;
	}
	rc = t->be->sample(t->e, prof_emit_stack, &s->emit, err, sizeof(err));
	if (paused)
		prof_pause_resume(t->pause);
	/* An engine on its own clock delivers any number of samples per
	 * call: count what the store got, not the calls. */
	if (t->be->taken)
		t->samples = t->be->taken(t->e);
	else if (t->be->drain_ns)
		t->samples += s->emit.kept;
	if (t->be->lost)
		t->lost = t->be->lost(t->e);
	if (t->be->torn)
		t->torn = t->be->torn(t->e);
	if (s->emit.kept && s->st.attach_cpu_ms == 0) {
		struct timespec cpu;

		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
		s->st.attach_cpu_ms = (double)cpu.tv_sec * 1e3 + (double)cpu.tv_nsec / 1e6;
	}
	if (rc == -ESRCH)
		t->exited = 1;
	else if (rc < 0)
		note_error(t, err[0] ? err : "read failed");
	else if (!t->be->drain_ns)
		t->samples++;
}

/* The loop's period: the sampling rate's, or an engine's drain period
 * when every target's engine buffers its own samples. */
static int64_t loop_period(struct prof_sampler *s, int64_t rate_period)
{
	int64_t p = 0;

	for (size_t i = 0; i < s->ntargets; i++) {
		const struct prof_target *t = &s->targets[i];
		int64_t d;

		if (t->exited || !t->e)
			continue;
		d = t->be->drain_ns ? t->be->drain_ns(t->e) : 0;
		if (d <= 0)
			return rate_period;
		if (!p || d < p)
			p = d;
	}
	return p > rate_period ? p : rate_period;
}

static void update_counters(struct prof_sampler *s, uint64_t missed)
{
	for (size_t i = 0; i < s->ntargets; i++) {
		struct prof_target *t = &s->targets[i];
		struct store_session *ss = store_session_get(s->p, t->session);

		if (!ss)
			continue;
		ss->samples = t->samples;
		ss->missed = t->be && t->be->lost ? t->lost : missed;
		ss->errors = t->errors;
		if (t->errors && strcmp(ss->last_error ? ss->last_error : "", t->last_error))
			store_session_set_error(s->p, t->session, t->last_error);
	}
	s->st.samples = s->targets[0].samples;
	s->st.errors = s->targets[0].errors;
	s->st.missed = s->targets[0].be && s->targets[0].be->lost ? s->targets[0].lost : missed;
	s->st.unpaused = s->targets[0].unpaused;
	s->st.torn = s->targets[0].torn;
	if (s->st.errors)	/* a copy per tick only once there is something to say */
		snprintf(s->st.last_error, sizeof(s->st.last_error), "%s", s->targets[0].last_error);
	s->st.elapsed_s = (double)(mono_ns() - s->start_mono) / NS;
	s->st.achieved_hz = s->st.elapsed_s > 0 ? (double)s->st.samples / s->st.elapsed_s : 0;
}

static int known_pid(struct prof_sampler *s, pid_t pid)
{
	for (size_t i = 0; i < s->ntargets; i++)
		if (s->targets[i].pid == pid)
			return 1;
	for (size_t i = 0; i < s->gaveup.n; i++)
		if (s->gaveup.v[i] == pid)
			return 1;
	return 0;
}

static void give_up(struct prof_sampler *s, size_t ci)
{
	struct prof_tids *g = &s->gaveup;

	if (g->n == g->cap) {
		size_t nc = g->cap ? 2 * g->cap : 16;
		pid_t *v = realloc(g->v, nc * sizeof(*v));

		if (!v)
			return;
		g->v = v;
		g->cap = nc;
	}
	g->v[g->n++] = s->cand[ci].pid;
	s->cand[ci] = s->cand[--s->ncand];
}

/* One child that may now be readable: attach it as a target of its own. */
static int adopt_child(struct prof_sampler *s, pid_t pid)
{
	struct prof_target t = {0};
	char reason[160], err[160];

	t.pid = pid;
	if (prof_choose_backend(&t, &s->o, reason, sizeof(reason), err, sizeof(err)) < 0)
		return -1;
	if (s->ntargets == s->cap) {
		size_t nc = 2 * s->cap;
		struct prof_target *v = realloc(s->targets, nc * sizeof(*v));

		if (!v) {
			t.be->detach(t.e);
			return -1;
		}
		s->targets = v;
		s->cap = nc;
	}
	if (start_target(s, &t, err, sizeof(err)) < 0) {
		t.be->detach(t.e);
		return -1;
	}
	s->targets[s->ntargets++] = t;
	return 0;
}

static void scan_children(struct prof_sampler *s, int64_t now)
{
	prof_children_list(s->targets[0].pid, &s->kids);
	for (size_t i = 0; i < s->kids.n; i++) {
		pid_t pid = s->kids.v[i];
		size_t c;

		if (known_pid(s, pid))
			continue;
		for (c = 0; c < s->ncand && s->cand[c].pid != pid; c++)
			;
		if (c == s->ncand) {
			if (s->ncand == s->candcap) {
				size_t nc = s->candcap ? 2 * s->candcap : 8;
				struct candidate *v = realloc(s->cand, nc * sizeof(*v));

				if (!v)
					return;
				s->cand = v;
				s->candcap = nc;
			}
			s->cand[s->ncand].pid = pid;
			s->cand[s->ncand++].first_ns = now;
		}
	}
	for (size_t c = 0; c < s->ncand;) {
		if (adopt_child(s, s->cand[c].pid) == 0) {
			s->cand[c] = s->cand[--s->ncand];
		} else if (now - s->cand[c].first_ns > CHILD_GIVEUP_NS || kill(s->cand[c].pid, 0) < 0) {
			give_up(s, c);
		} else {
			c++;
		}
	}
}

/* Attach mode: the target may be a zombie its parent has not reaped yet,
 * which still answers kill(0) and lists its main thread.  Its pidfd is
 * readable once it exited (a poll, no /proc file formatted); without
 * one, *fd keeps /proc/PID/stat open between checks: one pread each. */
static int target_gone(pid_t pid, int *pidfd, int *fd)
{
	char path[64], buf[256], *p;
	ssize_t n;

	if (*pidfd == -2) {
		long r = syscall(SYS_pidfd_open, pid, 0);

		if (r < 0 && errno == ESRCH)
			return 1;
		*pidfd = r < 0 ? -3 : (int)r;
	}
	if (*pidfd >= 0) {
		struct pollfd pfd = {*pidfd, POLLIN, 0};

		return poll(&pfd, 1, 0) == 1;
	}
	if (*fd < 0) {
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
		*fd = open(path, O_RDONLY | O_CLOEXEC);
		if (*fd < 0)
			return errno == ENOENT || errno == ESRCH;	/* EMFILE: ask again */
	}
	n = pread(*fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return 1;	/* ESRCH: reaped */
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}

static void finish_main(struct prof_sampler *s)
{
	struct prof_target *t = &s->targets[0];

	/* An engine that traces the threads itself (wall, mixed) may have
	 * reaped the launched command's exit before the launcher could. */
	if (s->launched && s->launch.status == -1 && t->e && t->be->exit_status &&
	    t->be->exit_status(t->e) != -1)
		s->launch.status = t->be->exit_status(t->e);
	if (s->launched && (prof_launch_poll(&s->launch) || t->exited)) {
		if (s->launch.status == -1)
			prof_launch_end(&s->launch);	/* reaped: exit status */
		t->exited = 1;
	}
	if (s->launched && t->pause && prof_pause_exit_status(t->pause) != -1)
		s->launch.status = prof_pause_exit_status(t->pause);
	s->st.target_exited = t->exited;
	/* An engine may change its way while recording (wall mode hands a
	 * target that switches very often over to ptrace): the summary says
	 * what it ended with. */
	if (t->e && strcmp(t->be->describe(t->e), s->described))
		snprintf(s->st.mode_reason, sizeof(s->st.mode_reason), "%s",
			 t->be->describe(t->e));
	if (s->launched && s->launch.status != -1)
		s->st.exit_status = prof_launch_exit_code(s->launch.status);
}

/* Jittered, a target doing something periodic is not seen at the same
 * phase each time; evenly, the ticks stay period apart on average. */
int64_t prof_tick_jitter(uint64_t *seed, int64_t period)
{
	uint64_t x = *seed;

	if (period < 4)
		return 0;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*seed = x;
	return (int64_t)(x % (uint64_t)(period / 2 + 1)) - period / 4;
}

/* With CPUs to spare the sampling thread keeps off the CPU the target's
 * main thread last ran on: a real-time wake-up there preempts the target
 * at every tick (measured at 10 kHz with the other CPU busy: 3,000 context
 * switches a second and +40% CPU for the target; none kept apart). */
static void keep_off_target(pid_t pid, long ncpu, int *fd, int *avoided)
{
	char buf[1024], path[64], *p;
	cpu_set_t set;
	ssize_t n;
	int cpu;

	if (ncpu < 2 || ncpu > CPU_SETSIZE)
		return;
	if (*fd < 0) {
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
		*fd = open(path, O_RDONLY | O_CLOEXEC);
		if (*fd < 0)
			return;
	}
	n = pread(*fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return;
	buf[n] = '\0';
	p = strrchr(buf, ')');	/* then " state ppid ...": the CPU is field 39 */
	for (int k = 0; k < 37 && p; k++)
		p = strchr(p + 1, ' ');
	if (!p)
		return;
	cpu = atoi(p + 1);
	if (cpu < 0 || cpu >= ncpu || cpu == *avoided)
		return;
	CPU_ZERO(&set);
	for (int i = 0; i < ncpu; i++)
		if (i != cpu)
			CPU_SET(i, &set);
	if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) == 0)
		*avoided = cpu;
}

static void run_loop(struct prof_sampler *s)
{
	int64_t rate_period = (int64_t)(NS / s->o.rate_hz), period, next, last_scan = 0, last_alive;
	int64_t end = s->o.duration_s > 0 ? s->start_mono + (int64_t)(s->o.duration_s * NS) : 0;
	uint64_t missed = 0, tick = 0, seed = (uint64_t)mono_ns() | 1;
	int64_t last_steer = 0;
	int stat_fd = -1, pidfd = -2, steer_fd = -1, avoided = -1;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);	/* a file read each time: once */

	if (rate_period < 1)
		rate_period = 1;
	period = loop_period(s, rate_period);
	next = last_alive = mono_ns();
	while (!atomic_load(&s->stop)) {
		int64_t now, due = next + prof_tick_jitter(&seed, period == rate_period ? period : 0);

		/* Never past the end: the last read comes at the end. */
		sleep_until(s, end && due > end ? end : due);
		if (atomic_load(&s->stop))
			break;
		now = mono_ns();
		if (end && now >= end)
			break;
		/* Late by a period or more after the tick's own (jittered) time:
		 * count the ticks we slept through, do not burst. */
		if (now - due >= period) {
			int64_t skipped = (now - due) / period;

			missed += (uint64_t)skipped;
			next += skipped * period;
		}
		pthread_mutex_lock(&s->lock);
		for (size_t i = 0; i < s->ntargets; i++)
			sample_target(s, &s->targets[i], now, tick);
		for (size_t i = 1; i < s->ntargets; i++)
			if (s->targets[i].exited && s->targets[i].e)
				end_target(s, &s->targets[i]);
		update_counters(s, missed);
		pthread_mutex_unlock(&s->lock);
		tick++;
		next += period;
		period = loop_period(s, rate_period);

		if (s->launched && prof_launch_poll(&s->launch))
			s->targets[0].exited = 1;
		if (!s->launched && now - last_alive > ALIVE_CHECK_NS) {
			last_alive = now;
			if (target_gone(s->targets[0].pid, &pidfd, &stat_fd))
				s->targets[0].exited = 1;
		}
		if (s->targets[0].exited)
			break;
		/* A loop that wakes seldom (an engine draining its own
		 * buffers) preempts nobody: no /proc read for it. */
		if (period <= STEER_MAX_NS && now - last_steer > ALIVE_CHECK_NS) {
			last_steer = now;
			keep_off_target(s->targets[0].pid, ncpu, &steer_fd, &avoided);
		}
		if (s->o.subprocesses && now - last_scan > CHILD_SCAN_NS) {
			/* Not under the lock: attaching may take a while, and
			 * start_target() takes it for the session row. */
			last_scan = now;
			scan_children(s, now);
		}
	}
	/* An engine on its own clock holds what it sampled since its last
	 * read (up to a drain period, 400 ms), a target that just exited
	 * too: read once more, so that a recording keeps its last samples. */
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->ntargets; i++) {
		struct prof_target *t = &s->targets[i];
		int exited = t->exited;

		if (!t->be || !t->be->drain_ns || !t->e)
			continue;
		t->exited = 0;
		sample_target(s, t, mono_ns(), tick);
		t->exited |= exited;
	}
	pthread_mutex_unlock(&s->lock);
	if (stat_fd >= 0)
		close(stat_fd);
	if (pidfd >= 0)
		close(pidfd);
	if (steer_fd >= 0)
		close(steer_fd);
	pthread_mutex_lock(&s->lock);
	update_counters(s, missed);
	pthread_mutex_unlock(&s->lock);
}

static void start_result(struct prof_sampler *s, int rc, const char *err)
{
	pthread_mutex_lock(&s->start_mu);
	s->start_done = 1;
	s->start_rc = rc;
	snprintf(s->start_err, sizeof(s->start_err), "%s", err ? err : "");
	pthread_cond_signal(&s->start_cv);
	pthread_mutex_unlock(&s->start_mu);
}

static void set_done(struct prof_sampler *s)
{
	uint64_t one = 1;

	atomic_store(&s->running, 0);
	if (s->done_fd >= 0 && write(s->done_fd, &one, sizeof(one)) < 0) {
		/* the counter cannot overflow from one write; nothing to do */
	}
}

static void *sampler_main(void *arg)
{
	struct prof_sampler *s = arg;
	char err[256] = "";

	if (setup(s, err, sizeof(err)) < 0) {
		if (s->targets[0].e) {
			s->targets[0].be->detach(s->targets[0].e);
			s->targets[0].e = NULL;
		}
		if (s->launched)
			prof_launch_end(&s->launch);
		set_done(s);
		start_result(s, -1, err[0] ? err : "cannot profile this process");
		return NULL;
	}
	s->start_mono = mono_ns();
	s->start_real = real_ns();
	s->emit.start_mono = s->start_mono;
	raise_priority();
	start_result(s, 0, NULL);
	run_loop(s);
	pthread_mutex_lock(&s->lock);
	finish_main(s);
	for (size_t i = 0; i < s->ntargets; i++)
		end_target(s, &s->targets[i]);
	pthread_mutex_unlock(&s->lock);
	if (s->launched && s->launch.status == -1) {
		/* We stopped first (duration, Ctrl-C): the command ends with us. */
		prof_launch_end(&s->launch);
		pthread_mutex_lock(&s->lock);
		s->st.exit_status = prof_launch_exit_code(s->launch.status);
		pthread_mutex_unlock(&s->lock);
	}
	set_done(s);
	return NULL;
}

/* The loop's deadlines are on the monotonic clock. */
static void init_sleep(struct prof_sampler *s)
{
	pthread_condattr_t ca;

	pthread_mutex_init(&s->sleep_mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->sleep_cv, &ca);
	pthread_condattr_destroy(&ca);
}

struct prof_sampler *prof_sampler_start(const struct prof_options *o, struct store_profile *p,
					char *err, size_t errlen)
{
	struct prof_sampler *s;
	pthread_attr_t attr;
	sigset_t block, saved;
	int rc;

	if (o->pid <= 0 && (!o->argv || !o->argv[0])) {
		snprintf(err, errlen, "nothing to profile: give a process id or a command");
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s || !(s->targets = calloc(4, sizeof(*s->targets)))) {
		free(s);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->cap = 4;
	s->done_fd = -1;
	s->o = *o;
	if (s->o.rate_hz <= 0)
		s->o.rate_hz = 100;
	s->p = p;
	s->emit.p = p;
	s->emit.o = &s->o;
	s->launch.pid = -1;
	s->launch.status = -1;
	s->launch.go_fd = s->launch.err_fd = -1;
	s->launch.pidfd = -2;
	s->st.exit_status = -1;
	pthread_mutex_init(&s->lock, NULL);
	init_sleep(s);
	pthread_mutex_init(&s->start_mu, NULL);
	pthread_cond_init(&s->start_cv, NULL);
	atomic_store(&s->running, 1);
	if (o->raw)
		store_profile_set_bucket(p, 0);
	s->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	/* Process signals (Ctrl-C, SIGTERM) go to the caller's threads, never
	 * to the sampling thread: the caller's waits then see them at once. */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGQUIT);
	sigaddset(&block, SIGWINCH);
	sigaddset(&block, SIGCHLD);
	pthread_sigmask(SIG_BLOCK, &block, &saved);
	pthread_attr_init(&attr);
	rc = pthread_create(&s->thread, &attr, sampler_main, s);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	if (rc) {
		snprintf(err, errlen, "cannot start the sampling thread: %s", strerror(rc));
		s->joined = 1;
		prof_sampler_free(s);
		return NULL;
	}
	pthread_mutex_lock(&s->start_mu);
	while (!s->start_done)
		pthread_cond_wait(&s->start_cv, &s->start_mu);
	pthread_mutex_unlock(&s->start_mu);
	if (s->start_rc < 0) {
		snprintf(err, errlen, "%s", s->start_err);
		prof_sampler_free(s);
		return NULL;
	}
	return s;
}

void prof_sampler_lock(struct prof_sampler *s)
{
	pthread_mutex_lock(&s->lock);
}

void prof_sampler_unlock(struct prof_sampler *s)
{
	pthread_mutex_unlock(&s->lock);
}

int prof_sampler_running(struct prof_sampler *s)
{
	return atomic_load(&s->running);
}

int prof_sampler_wait(struct prof_sampler *s, int timeout_ms)
{
	struct pollfd pfd = {s->done_fd, POLLIN, 0};
	int r;

	if (!atomic_load(&s->running))
		return 0;
	if (s->done_fd < 0) {
		struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000};

		return nanosleep(&ts, NULL) < 0 ? -1 : atomic_load(&s->running) ? 1 : 0;
	}
	r = poll(&pfd, 1, timeout_ms);
	if (r < 0)
		return -1;
	return atomic_load(&s->running) ? 1 : 0;
}

void prof_sampler_status(struct prof_sampler *s, struct prof_status *st)
{
	pthread_mutex_lock(&s->lock);
	*st = s->st;
	pthread_mutex_unlock(&s->lock);
}

void prof_sampler_stop(struct prof_sampler *s)
{
	if (!s || s->joined)
		return;
	pthread_mutex_lock(&s->sleep_mu);
	atomic_store(&s->stop, 1);
	pthread_cond_signal(&s->sleep_cv);
	pthread_mutex_unlock(&s->sleep_mu);
	pthread_join(s->thread, NULL);
	s->joined = 1;
}

void prof_sampler_free(struct prof_sampler *s)
{
	if (!s)
		return;
	prof_sampler_stop(s);
	for (size_t i = 0; i < s->ntargets; i++) {
		prof_keymap_free(&s->targets[i].frames);
		prof_keymap_free(&s->targets[i].stacks);
		prof_keymap_free(&s->targets[i].threads);
		prof_keymap_free(&s->targets[i].named);
	}
	prof_emit_ctx_free(&s->emit);
	prof_launch_close(&s->launch);
	prof_tids_free(&s->gaveup);
	prof_tids_free(&s->kids);
	free(s->cand);
	free(s->targets);
	if (s->done_fd >= 0)
		close(s->done_fd);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->sleep_mu);
	pthread_cond_destroy(&s->sleep_cv);
	pthread_mutex_destroy(&s->start_mu);
	pthread_cond_destroy(&s->start_cv);
	free(s);
}
