/* grab.c - registers and a stack copy of every thread of a paused process, taken before it is resumed. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/user.h>

#include "profiler/native/native.h"

/* Page-sized pieces, so a stack that ends before the copy does still
 * yields what is there (process_vm_readv stops at a failing piece). */
static size_t copy_stack(pid_t pid, uint64_t sp, uint8_t *buf, size_t max)
{
	struct iovec local[PROF_GRAB_STACK / 4096 + 1], remote[PROF_GRAB_STACK / 4096 + 1];
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
 * short), or stopped just as such a call is being restarted (rax reset
 * to the call's number, the last pause having cut it): the thread was
 * blocked, not running. */
static int blocked_in_syscall(const struct user_regs_struct *u)
{
	long long rax = (long long)u->rax, nr = (long long)u->orig_rax;

	return nr >= 0 && ((rax <= -512 && rax >= -516) || rax == -EINTR || rax == nr);
}

static struct prof_grab_thread *slot(struct prof_grab *g)
{
	if (g->n == g->cap) {
		size_t nc = g->cap ? 2 * g->cap : 8;
		struct prof_grab_thread *t = realloc(g->t, nc * sizeof(*t));

		if (!t)
			return NULL;
		for (size_t i = g->cap; i < nc; i++) {
			t[i].stack = NULL;
			t[i].cap = 0;
		}
		g->t = t;
		g->cap = nc;
	}
	return &g->t[g->n++];
}

/* Room for len bytes of stack in t (slots of a batch keep what they had). */
static int room(struct prof_grab_thread *t, size_t len)
{
	uint8_t *b;

	if (t->cap >= len)
		return 0;
	b = realloc(t->stack, len);
	if (!b)
		return -1;
	t->stack = b;
	t->cap = len;
	return 0;
}

static struct prof_grab_want *want_of(const struct prof_grab *g, pid_t tid)
{
	for (size_t i = 0; i < g->nwant; i++)
		if (g->want[i].tid == tid)
			return &g->want[i];
	return NULL;
}

void prof_grab_note(struct prof_grab *g, pid_t tid, size_t depth)
{
	struct prof_grab_want *w = want_of(g, tid);
	size_t len = (depth + 4096 + 4095) & ~(size_t)4095;

	if (!w) {
		if (g->nwant == g->capwant) {
			size_t nc = g->capwant ? 2 * g->capwant : 16;
			struct prof_grab_want *v = realloc(g->want, nc * sizeof(*v));

			if (!v)
				return;
			g->want = v;
			g->capwant = nc;
		}
		w = &g->want[g->nwant++];
		w->tid = tid;
	}
	w->len = (uint32_t)(len > PROF_GRAB_STACK ? PROF_GRAB_STACK : len);
}

void prof_grab_take(struct prof_grab *g, struct prof_pause *pp, pid_t pid, int keep_idle)
{
	g->n = 0;
	prof_grab_add(g, g, pp, pid, keep_idle, 0);
}

void prof_grab_add(struct prof_grab *g, const struct prof_grab *wants, struct prof_pause *pp,
		   pid_t pid, int keep_idle, int64_t mono_ns)
{
	size_t n = prof_pause_count(pp);

	for (size_t i = 0; i < n; i++)
		prof_grab_one(g, wants, pp, i, pid, keep_idle, mono_ns);
}

const struct prof_grab_thread *prof_grab_one(struct prof_grab *g,
					     const struct prof_grab *wants,
					     struct prof_pause *pp, size_t i, pid_t pid,
					     int keep_idle, int64_t mono_ns)
{
	{
		struct user_regs_struct u;
		struct prof_grab_thread *t;

		if (prof_pause_regs(pp, i, &u) != 0 || !(t = slot(g)))
			return NULL;
		t->tid = prof_pause_tid(pp, i);
		t->weight = 1 + prof_pause_missed(pp, i);
		t->mono_ns = mono_ns;
		regs_from_user(&t->regs, &u);
		t->state = (blocked_in_syscall(&u) || prof_pause_group_stopped(pp, i))
				   ? STORE_STATE_IDLE
				   : STORE_STATE_ONCPU;
		if (t->state == STORE_STATE_IDLE && !keep_idle) {
			g->n--;
			return NULL;
		}
		{
			/* Threads not seen before get the whole copy; thread ids
			 * gone since are forgotten when the table is full. */
			const struct prof_grab_want *w = want_of(wants, t->tid);
			size_t len = w ? w->len : PROF_GRAB_STACK;

			if (room(t, len) < 0) {
				g->n--;
				return NULL;
			}
			t->len = copy_stack(pid, t->regs.r[PROF_REG_SP], t->stack, len);
		}
		return t;
	}
}

void prof_grab_free(struct prof_grab *g)
{
	for (size_t i = 0; i < g->cap; i++)
		free(g->t[i].stack);
	free(g->t);
	free(g->want);
	memset(g, 0, sizeof(*g));
}
