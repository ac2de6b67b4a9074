/* engine.c - what the native backends share: the process's modules, the unwinder, the symbolizer, emitting a stack. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profiler/native/native.h"

int prof_nat_init(struct prof_nat *n, pid_t pid, char *err, size_t errlen)
{
	memset(n, 0, sizeof(*n));
	n->pid = pid;
	if (prof_check_pid(pid, err, errlen) < 0)
		return -1;
	if (prof_space_init(&n->space, pid, err, errlen) != 0)
		return -1;
	n->unw = prof_unwinder_new(&n->space);
	n->sym = prof_symbolizer_new(&n->space);
	if (!n->unw || !n->sym) {
		snprintf(err, errlen, "out of memory");
		prof_nat_fini(n);
		return -1;
	}
	return 0;
}

void prof_nat_fini(struct prof_nat *n)
{
	prof_unwinder_free(n->unw);
	prof_symbolizer_free(n->sym);
	prof_space_free(&n->space);
	n->unw = NULL;
	n->sym = NULL;
}

void prof_nat_emit(struct prof_nat *n, pid_t tid, uint32_t state, const struct prof_regs *regs,
		   const uint8_t *stack, size_t len, prof_emit_fn emit, void *ctx)
{
	const char *reason;
	const struct prof_frame *frames;
	size_t nips, nf;
	struct prof_stack st;

	nips = prof_unwind(n->unw, regs, stack, len, n->ips, PROF_NATIVE_MAX_FRAMES, &reason);
	if (reason)
		n->unwind_errors++;
	nf = prof_symbolize(n->sym, n->ips, nips, reason, &frames);
	n->stacks++;
	memset(&st, 0, sizeof(st));
	st.tid = tid;
	st.state = state;
	st.frames = frames;
	st.nframes = nf;
	emit(ctx, &st);
}

int prof_nat_alive(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	size_t len;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	len = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[len] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}
