/* wall.c - the "wall" backend: every thread paused with ptrace, registers and stack copied, resumed, then unwound. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/user.h>

#include "profiler/native/native.h"

/* What wall mode copies per thread while the target is paused; deeper
 * frames are read from the live stack during the unwind (unwind.c). */
#define WALL_STACK (32 * 1024)

struct copy {
	pid_t tid;
	uint32_t state;
	struct prof_regs regs;
	size_t len;
	uint8_t *stack;
};

struct prof_engine {
	struct prof_nat nat;
	struct prof_pause *pause;
	int idle;
	struct copy *c;
	size_t nc, cap;
};

/* Page-sized pieces, so a stack that ends before the copy does still
 * yields what is there (process_vm_readv stops at a failing piece). */
static size_t copy_stack(pid_t pid, uint64_t sp, uint8_t *buf, size_t max)
{
	struct iovec local[WALL_STACK / 4096 + 1], remote[WALL_STACK / 4096 + 1];
	size_t n = 0, off = 0;
	ssize_t got;

	while (off < max && n < sizeof(local) / sizeof(local[0])) {
		uint64_t a = sp + off;
		size_t piece = 4096 - (size_t)(a & 4095);

		if (piece > max - off)
			piece = max - off;
		local[n].iov_base = buf + off;
		local[n].iov_len = piece;
		remote[n].iov_base = (void *)(uintptr_t)a;
		remote[n].iov_len = piece;
		n++;
		off += piece;
	}
	got = process_vm_readv(pid, local, n, remote, n, 0);
	return got > 0 ? (size_t)got : 0;
}

static void regs_from_user(struct prof_regs *r, const struct user_regs_struct *u)
{
	const unsigned long long v[PROF_NREGS] = {
		u->rax, u->rdx, u->rcx, u->rbx, u->rsi, u->rdi, u->rbp, u->rsp,
		u->r8, u->r9, u->r10, u->r11, u->r12, u->r13, u->r14, u->r15, u->rip,
	};

	for (int i = 0; i < PROF_NREGS; i++)
		r->r[i] = v[i];
}

/* Interrupted inside a system call that will be restarted (or was cut
 * short): the thread was blocked, not running. */
static int blocked_in_syscall(const struct user_regs_struct *u)
{
	long long rax = (long long)u->rax;

	return (long long)u->orig_rax >= 0 && ((rax <= -512 && rax >= -516) || rax == -EINTR);
}

static struct copy *slot(struct prof_engine *e)
{
	if (e->nc == e->cap) {
		size_t nc = e->cap ? 2 * e->cap : 8;
		struct copy *c = realloc(e->c, nc * sizeof(*c));

		if (!c)
			return NULL;
		for (size_t i = e->cap; i < nc; i++)
			c[i].stack = NULL;
		e->c = c;
		e->cap = nc;
	}
	if (!e->c[e->nc].stack && !(e->c[e->nc].stack = malloc(WALL_STACK)))
		return NULL;
	return &e->c[e->nc++];
}

/* Copies every paused thread; the caller resumes them at once. */
static void copy_all(struct prof_engine *e)
{
	size_t n = prof_pause_count(e->pause);

	e->nc = 0;
	for (size_t i = 0; i < n; i++) {
		struct user_regs_struct u;
		struct copy *c;

		if (prof_pause_regs(e->pause, i, &u) != 0 || !(c = slot(e)))
			continue;
		c->tid = prof_pause_tid(e->pause, i);
		regs_from_user(&c->regs, &u);
		c->state = (blocked_in_syscall(&u) || prof_pause_group_stopped(e->pause, i))
				   ? STORE_STATE_IDLE
				   : STORE_STATE_ONCPU;
		if (c->state == STORE_STATE_IDLE && !e->idle) {
			e->nc--;
			continue;
		}
		c->len = copy_stack(e->nat.pid, c->regs.r[PROF_REG_SP], c->stack, WALL_STACK);
	}
}

static int wall_sample(struct prof_engine *e, prof_emit_fn emit, void *ctx, char *err,
		       size_t errlen)
{
	int rc = prof_pause_stop(e->pause, err, errlen);

	if (rc == -ESRCH)
		return -ESRCH;
	if (rc < 0) {
		prof_pause_resume(e->pause);
		return -1;
	}
	copy_all(e);
	prof_pause_resume(e->pause);
	for (size_t i = 0; i < e->nc; i++)
		prof_nat_emit(&e->nat, e->c[i].tid, e->c[i].state, &e->c[i].regs, e->c[i].stack,
			      e->c[i].len, emit, ctx);
	return 0;
}

static int wall_attach(struct prof_engine **ep, pid_t pid, const struct prof_options *o,
		       char *err, size_t errlen)
{
	struct prof_engine *e = calloc(1, sizeof(*e));

	if (!e) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	e->idle = o ? o->idle : 1;
	if (prof_nat_init(&e->nat, pid, err, errlen) != 0) {
		free(e);
		return -1;
	}
	e->pause = prof_pause_new(pid, err, errlen);
	/* One pause now, so that a refusal (ptrace_scope, another tracer)
	 * is reported at attach, not as errors at every tick.  Threads slow
	 * to stop (a loaded machine) are not a refusal. */
	if (e->pause && prof_pause_stop(e->pause, err, errlen) < 0 && !prof_pause_late(e->pause)) {
		prof_pause_free(e->pause);
		e->pause = NULL;
	}
	if (e->pause)
		prof_pause_resume(e->pause);
	if (!e->pause) {
		prof_nat_fini(&e->nat);
		free(e);
		return -1;
	}
	*ep = e;
	return 0;
}

static const char *wall_describe(struct prof_engine *e)
{
	return "wall clock via ptrace";
}

static void wall_detach(struct prof_engine *e)
{
	if (!e)
		return;
	prof_pause_free(e->pause);
	for (size_t i = 0; i < e->cap; i++)
		free(e->c[i].stack);
	free(e->c);
	prof_nat_fini(&e->nat);
	free(e);
}

const struct prof_backend prof_backend_wall = {
	.name = "wall",
	.attach = wall_attach,
	.describe = wall_describe,
	.sample = wall_sample,
	.detach = wall_detach,
};
