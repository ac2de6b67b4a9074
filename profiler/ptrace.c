/* ptrace.c - pause every thread of a process for a consistent read, then let it go. */
#include "config.h"

#include <elf.h>
#include <sched.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "profiler/profiler.h"

enum th_state {
	TH_INTERRUPTED,	/* seized, PTRACE_INTERRUPT sent, stop not yet seen */
	TH_STOPPED,	/* in a ptrace-stop; must be detached */
};

struct pause_thread {
	pid_t tid;
	int state;
	int sig;	/* signal caught in a signal-delivery-stop, re-injected at detach */
	int group;	/* the stop is a group-stop (the target was SIGSTOPped) */
	unsigned missed;	/* stops it was still stopping at (late) */
};

/* An open /proc/PID/task/TID/stat, kept between stops (skip_sleepers). */
struct stat_fd {
	pid_t tid;
	int fd;
	int running;	/* found running at its last stop: stop it unasked */
};

struct prof_pause {
	pid_t pid;
	long timeout_us;
	int blocking;		/* wait for stops asleep (prof_pause_set_blocking) */
	const volatile sig_atomic_t *fired;	/* changes when the caller's signal came */
	prof_pause_each_fn each;	/* each thread read as it stops, then let go */
	void *each_ctx;
	size_t handled;		/* threads given to each at the last stop */
	int exit_status;
	struct prof_tids tids;
	struct pause_thread *th;	/* seized threads */
	size_t nth, cap;
	size_t *stopped;		/* indices into th of the last stop */
	size_t nstopped, late, skipped;
	int skip_sleepers;
	int64_t relist_ns, listed_ns;	/* thread list kept this long (0: listed at every stop) */
	int fixed;		/* the threads were given (prof_pause_set_threads): never listed */
	struct stat_fd *fds;
	size_t nfds, capfds;
};

static int stat_fd_of(struct prof_pause *p, pid_t tid)
{
	char path[64];
	int fd;

	for (size_t i = 0; i < p->nfds; i++)
		if (p->fds[i].tid == tid)
			return p->fds[i].fd;
	if (p->nfds == p->capfds) {
		size_t nc = p->capfds ? 2 * p->capfds : 16;
		struct stat_fd *v = realloc(p->fds, nc * sizeof(*v));

		if (!v)
			return -1;
		p->fds = v;
		p->capfds = nc;
	}
	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)p->pid, (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	p->fds[p->nfds].tid = tid;
	p->fds[p->nfds].running = 0;
	p->fds[p->nfds++].fd = fd;
	return fd;
}

static struct stat_fd *stat_entry(struct prof_pause *p, pid_t tid)
{
	for (size_t i = 0; i < p->nfds; i++)
		if (p->fds[i].tid == tid)
			return &p->fds[i];
	return NULL;
}

void prof_pause_note_running(struct prof_pause *p, pid_t tid)
{
	struct stat_fd *f = stat_entry(p, tid);

	if (f)
		f->running = 1;
}

/* Closes the stat files of threads that are gone (not in p->tids). */
static void sweep_fds(struct prof_pause *p)
{
	size_t w = 0;

	for (size_t i = 0; i < p->nfds; i++) {
		int live = 0;

		for (size_t j = 0; j < p->tids.n && !live; j++)
			live = p->tids.v[j] == p->fds[i].tid;
		if (live)
			p->fds[w++] = p->fds[i];
		else
			close(p->fds[i].fd);
	}
	p->nfds = w;
}

/* 1 when the thread sleeps in the kernel (S, D): it runs no user code
 * until woken, so its memory holds still without an interrupt.  A thread
 * that was running at its last stop is taken as running still, unread:
 * computing threads are the common case, and the read costs more than
 * the interrupt saves the rare one that went to sleep since. */
static int is_asleep(struct prof_pause *p, pid_t tid)
{
	char buf[256], *s;
	int fd = stat_fd_of(p, tid);
	struct stat_fd *f;
	ssize_t n;

	if (fd < 0)
		return 0;
	f = stat_entry(p, tid);
	if (f && f->running) {
		f->running = 0;
		return 0;
	}
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	s = strrchr(buf, ')');
	return s && s[1] == ' ' && (s[2] == 'S' || s[2] == 'D');
}

void prof_pause_skip_sleepers(struct prof_pause *p, int on)
{
	p->skip_sleepers = on;
}

size_t prof_pause_skipped(const struct prof_pause *p)
{
	return p->skipped;
}

static int64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

struct prof_pause *prof_pause_new(pid_t pid, char *err, size_t errlen)
{
	struct prof_pause *p = calloc(1, sizeof(*p));

	if (!p) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	p->pid = pid;
	p->timeout_us = 50000;
	p->exit_status = -1;
	return p;
}

void prof_pause_set_timeout(struct prof_pause *p, long usec)
{
	p->timeout_us = usec > 0 ? usec : 50000;
}

static struct pause_thread *find_thread(struct prof_pause *p, pid_t tid)
{
	for (size_t i = 0; i < p->nth; i++)
		if (p->th[i].tid == tid)
			return &p->th[i];
	return NULL;
}

static int grow(struct prof_pause *p, size_t want)
{
	struct pause_thread *th;
	size_t *st, nc;

	if (want <= p->cap)
		return 0;
	nc = p->cap ? p->cap : 16;
	while (nc < want)
		nc *= 2;
	th = realloc(p->th, nc * sizeof(*th));
	if (!th)
		return -1;
	p->th = th;
	st = realloc(p->stopped, nc * sizeof(*st));
	if (!st)
		return -1;
	p->stopped = st;
	p->cap = nc;
	return 0;
}

static void drop_thread(struct prof_pause *p, size_t i)
{
	p->th[i] = p->th[--p->nth];
}

/* Why a seize was refused, as precisely as /proc lets us say. */
static void seize_refused(struct prof_pause *p, pid_t tid, int e, char *err, size_t errlen)
{
	if (prof_check_pid(p->pid, err, errlen) < 0)
		return;
	snprintf(err, errlen, "cannot trace thread %d of process %d: %s", (int)tid,
		 (int)p->pid, strerror(e));
}

/* Seizes and interrupts every thread not already held.  Returns the
 * number of refusals (EPERM); threads that vanished are skipped. */
static int seize_all(struct prof_pause *p, char *err, size_t errlen)
{
	int refused = 0;

	if (grow(p, p->nth + p->tids.n) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < p->tids.n; i++) {
		pid_t tid = p->tids.v[i];
		struct pause_thread *t;

		if (find_thread(p, tid))
			continue;	/* still stopping since an earlier pause */
		if (p->skip_sleepers && is_asleep(p, tid)) {
			p->skipped++;
			continue;
		}
		if (ptrace(PTRACE_SEIZE, tid, 0, 0) < 0) {
			if (errno != ESRCH) {
				if (!refused)
					seize_refused(p, tid, errno, err, errlen);
				refused++;
			}
			continue;
		}
		if (ptrace(PTRACE_INTERRUPT, tid, 0, 0) < 0 && errno == ESRCH) {
			/* Exited between the two calls: its exit is still ours to reap. */
		}
		t = &p->th[p->nth++];
		t->tid = tid;
		t->state = TH_INTERRUPTED;
		t->sig = 0;
		t->group = 0;
		t->missed = 0;
	}
	return refused;
}

static int is_stop_signal(int sig)
{
	return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

/* One waitpid on thread i, WNOHANG unless block.  Returns 1 when it
 * changed state (stopped or gone, in which case it was removed), 0 when
 * still running (or the blocking wait was cut short by a signal). */
static int wait_thread(struct prof_pause *p, size_t i, int block)
{
	struct pause_thread *t = &p->th[i];
	int st, r;

	r = waitpid(t->tid, &st, __WALL | (block ? 0 : WNOHANG));
	if (r == 0 || (r < 0 && errno == EINTR))
		return 0;
	if (r < 0) {
		/* ECHILD: no longer our tracee (it exited and someone reaped it). */
		drop_thread(p, i);
		return 1;
	}
	if (WIFEXITED(st) || WIFSIGNALED(st)) {
		if (t->tid == p->pid)
			p->exit_status = st;
		drop_thread(p, i);
		return 1;
	}
	if (!WIFSTOPPED(st))
		return 0;
	t->state = TH_STOPPED;
	if ((st >> 16) == PTRACE_EVENT_STOP) {
		/* Our interrupt reports SIGTRAP; a stop signal here is a group-stop. */
		t->group = is_stop_signal(WSTOPSIG(st));
	} else if ((st >> 16) == 0) {
		/* Signal-delivery-stop: the signal is ours to hand back at detach. */
		t->sig = WSTOPSIG(st);
	}
	return 1;
}

static int poll_thread(struct prof_pause *p, size_t i)
{
	return wait_thread(p, i, 0);
}

static void pause_briefly(int64_t waited_ns)
{
	/* Spin briefly: a thread running on another CPU stops within
	 * microseconds, and a sleep costs a timer round trip (tens of us
	 * here).  Not longer: the sampler may run at real-time priority, and
	 * its spin (sched_yield yields to no ordinary task) would keep a
	 * thread waiting for this CPU from ever stopping. */
	if (waited_ns < 30000) {
		sched_yield();
	} else {
		struct timespec ts = {0, waited_ns > 200000 ? 50000 : 10000};

		nanosleep(&ts, NULL);
	}
}

/* Blocking waits: this thread sleeps until each thread stops, so the CPU
 * it shares with the target goes to the target at once (a spinning or
 * polling sampler would keep it from stopping).  A signal ends the wait:
 * the threads not stopped by then are late. */
/* Gives stopped thread i to the each function, then lets it go. */
static void hand_over(struct prof_pause *p, size_t i)
{
	struct pause_thread *t = &p->th[i];

	p->stopped[0] = i;
	p->nstopped = 1;
	p->each(p->each_ctx, p);
	p->nstopped = 0;
	p->handled++;
	ptrace(PTRACE_DETACH, t->tid, 0, (void *)(long)t->sig);
	drop_thread(p, i);
}

static void wait_all_asleep(struct prof_pause *p)
{
	sig_atomic_t fired = *p->fired;
	int cut = 0;

	for (size_t i = 0; i < p->nth;) {
		struct pause_thread *t = &p->th[i];
		size_t before = p->nth;
		int changed = 0;

		/* A thread late since an earlier stop has had a tick to stop
		 * already (asleep uninterruptibly?): looked at, not waited for. */
		/* The signal may have come while this thread was not waiting
		 * (a read, say): then no waitpid would see it. */
		cut |= *p->fired != fired;
		if (t->state == TH_INTERRUPTED)
			changed = wait_thread(p, i, !cut && !t->missed);
		if (p->nth != before)
			continue;	/* gone: slot i holds another thread now */
		if (t->state == TH_STOPPED && p->each) {
			hand_over(p, i);
			continue;
		}
		if (t->state == TH_INTERRUPTED && !changed && !t->missed)
			cut = 1;	/* the caller's signal: the rest are only looked at */
		i++;
	}
}

void prof_pause_set_each(struct prof_pause *p, prof_pause_each_fn fn, void *ctx)
{
	p->each = fn;
	p->each_ctx = ctx;
}

void prof_pause_set_blocking(struct prof_pause *p, const volatile sig_atomic_t *fired)
{
	p->blocking = fired != NULL;
	p->fired = fired;
}

/* Waits until no thread is still stopping, or the deadline. */
static void wait_all(struct prof_pause *p)
{
	int64_t start = now_ns(), deadline = start + (int64_t)p->timeout_us * 1000;

	if (p->blocking) {
		wait_all_asleep(p);
		return;
	}

	for (;;) {
		size_t pending = 0;

		for (size_t i = 0; i < p->nth;) {
			size_t before = p->nth;

			if (p->th[i].state == TH_INTERRUPTED && !poll_thread(p, i))
				pending++;
			if (p->nth != before)
				continue;
			if (p->th[i].state == TH_STOPPED && p->each) {
				hand_over(p, i);
				continue;
			}
			i++;
		}
		if (!pending)
			return;
		int64_t t = now_ns();

		if (t >= deadline)
			return;
		pause_briefly(t - start);
	}
}

void prof_pause_set_relist(struct prof_pause *p, long usec)
{
	p->relist_ns = usec > 0 ? (int64_t)usec * 1000 : 0;
}

static int list_threads(struct prof_pause *p, int force, char *err, size_t errlen)
{
	int64_t now = p->relist_ns ? now_ns() : 0;

	if (p->fixed)
		return 0;
	if (!force && p->relist_ns && p->tids.n && now - p->listed_ns < p->relist_ns)
		return 0;
	if (prof_threads_list(p->pid, &p->tids, err, errlen) < 0)
		return errno == ESRCH ? -ESRCH : -1;
	p->listed_ns = now;
	return 0;
}

static int stop_listed(struct prof_pause *p, char *err, size_t errlen);

int prof_pause_set_threads(struct prof_pause *p, const pid_t *tids, size_t n)
{
	p->tids.n = 0;
	p->fixed = 1;
	for (size_t i = 0; i < n; i++)
		if (prof_tids_push(&p->tids, tids[i]) < 0)
			return -1;
	return 0;
}

int prof_pause_stop(struct prof_pause *p, char *err, size_t errlen)
{
	int64_t listed = p->listed_ns;
	int rc = list_threads(p, 0, err, errlen);

	if (rc < 0)
		return rc;
	rc = stop_listed(p, err, errlen);
	if (rc == -ESRCH && p->relist_ns && p->listed_ns == listed) {
		/* Every thread of a kept list is gone: maybe only those. */
		rc = list_threads(p, 1, err, errlen);
		if (rc < 0)
			return rc;
		rc = stop_listed(p, err, errlen);
	}
	return rc;
}

static int stop_listed(struct prof_pause *p, char *err, size_t errlen)
{
	int refused;

	p->nstopped = 0;
	p->late = 0;
	p->skipped = 0;
	p->handled = 0;
	if (p->skip_sleepers && p->nfds > p->tids.n)
		sweep_fds(p);
	refused = seize_all(p, err, errlen);
	if (refused < 0)
		return -1;
	wait_all(p);
	for (size_t i = 0; i < p->nth; i++) {
		if (p->th[i].state == TH_STOPPED) {
			p->stopped[p->nstopped++] = i;
		} else {
			p->late++;
			p->th[i].missed++;
		}
	}
	if (p->nstopped || p->handled || (p->skipped && !p->late && !refused))
		return 0;	/* all asleep is a consistent read too */
	if (p->exit_status != -1)
		return -ESRCH;
	if (refused)
		return -1;	/* err says why */
	if (p->late) {
		snprintf(err, errlen, "no thread of process %d stopped within %ld ms", (int)p->pid,
			 p->timeout_us / 1000);
		return -1;
	}
	/* Every thread exited while we were stopping them. */
	snprintf(err, errlen, "process %d exited", (int)p->pid);
	return -ESRCH;
}

size_t prof_pause_count(const struct prof_pause *p)
{
	return p->nstopped;
}

pid_t prof_pause_tid(const struct prof_pause *p, size_t i)
{
	return i < p->nstopped ? p->th[p->stopped[i]].tid : 0;
}

int prof_pause_group_stopped(const struct prof_pause *p, size_t i)
{
	return i < p->nstopped ? p->th[p->stopped[i]].group : 0;
}

unsigned prof_pause_missed(const struct prof_pause *p, size_t i)
{
	return i < p->nstopped ? p->th[p->stopped[i]].missed : 0;
}

size_t prof_pause_late(const struct prof_pause *p)
{
	return p->late;
}

int prof_pause_exit_status(const struct prof_pause *p)
{
	return p->exit_status;
}

int prof_pause_regs(const struct prof_pause *p, size_t i, struct user_regs_struct *regs)
{
	struct iovec iov = {regs, sizeof(*regs)};

	if (i >= p->nstopped)
		return -1;
	return ptrace(PTRACE_GETREGSET, p->th[p->stopped[i]].tid, (void *)NT_PRSTATUS, &iov) < 0
		       ? -1 : 0;
}

/* Detach (not PTRACE_CONT): a group-stopped thread goes back to its
 * stop, a pending interrupt trap is cleared, and the caught signal is
 * delivered now, untraced. */
static void detach_stopped(struct prof_pause *p)
{
	for (size_t i = 0; i < p->nth;) {
		struct pause_thread *t = &p->th[i];

		if (t->state != TH_STOPPED) {
			i++;
			continue;
		}
		ptrace(PTRACE_DETACH, t->tid, 0, (void *)(long)t->sig);
		drop_thread(p, i);
	}
}

void prof_pause_resume(struct prof_pause *p)
{
	detach_stopped(p);
	p->nstopped = 0;
}

size_t prof_pause_poll(struct prof_pause *p)
{
	size_t pending = 0;

	if (!p->late)
		return 0;
	for (size_t i = 0; i < p->nth;) {
		size_t before = p->nth;

		if (p->th[i].state == TH_INTERRUPTED && !poll_thread(p, i))
			pending++;
		if (p->nth != before)
			continue;
		/* Read as it stops, late, its read standing for the stops it
		 * missed: a thread woken to stop that waited for a CPU is
		 * where it was (it runs no user code before the stop). */
		if (p->th[i].state == TH_STOPPED && p->each) {
			/* Between stops: the read stands for the stops it missed
			 * and none other (prof_pause_missed says one fewer). */
			p->th[i].missed -= p->th[i].missed > 0;
			hand_over(p, i);
			continue;
		}
		i++;
	}
	detach_stopped(p);	/* those that stopped since: nobody reads them */
	p->late = pending;
	return pending;
}

void prof_pause_free(struct prof_pause *p)
{
	if (!p)
		return;
	prof_pause_resume(p);
	if (p->nth) {
		/* Threads that were slow to stop: give them a last chance so we
		 * can detach them; if they never stop, our exit detaches them. */
		long saved = p->timeout_us;

		p->blocking = 0;	/* no caller's signal will come now: poll */
		p->timeout_us = 100000;
		wait_all(p);
		p->timeout_us = saved;
		for (size_t i = 0; i < p->nth; i++)
			if (p->th[i].state == TH_STOPPED)
				p->stopped[p->nstopped++] = i;
		prof_pause_resume(p);
	}
	for (size_t i = 0; i < p->nfds; i++)
		close(p->fds[i].fd);
	free(p->fds);
	prof_tids_free(&p->tids);
	free(p->th);
	free(p->stopped);
	free(p);
}
