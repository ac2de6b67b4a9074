/* engine.c - what the native backends share: the process's modules, the unwinder, the symbolizer, emitting a stack. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "profiler/native/native.h"
#include "profiler/sampler-int.h"

/* Only 64-bit x86 processes: their registers and unwind tables are the
 * only ones this unwinder knows. */
static int check_arch(pid_t pid, char *err, size_t errlen)
{
	char path[64];
	unsigned char id[20];
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;	/* a kernel thread or no permission: let attach say */
	n = read(fd, id, sizeof(id));
	close(fd);
	if (n == (ssize_t)sizeof(id) && !memcmp(id, "\177ELF", 4) &&
	    (id[4] != 2 || id[18] != 62)) {
		snprintf(err, errlen, "process %d is not a 64-bit x86-64 program (%s); native "
			 "sampling supports only those", (int)pid, id[4] == 1 ? "32-bit" : "other machine");
		return -1;
	}
	return 0;
}

int prof_nat_init(struct prof_nat *n, pid_t pid, char *err, size_t errlen)
{
	memset(n, 0, sizeof(*n));
	n->pid = pid;
	if (prof_check_pid(pid, err, errlen) < 0 || check_arch(pid, err, errlen) < 0)
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

static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
	h *= 0xff51afd7ed558ccdull;
	return h ^ (h >> 32);
}

/* The identity of a symbolized stack: its addresses (kernel and user),
 * the error marker, and the modules' generation (an address means
 * another function once the mappings change). */
static uint64_t stack_key(const struct prof_nat *n, const uint64_t *kips, size_t nk, size_t nips,
			  const char *reason)
{
	uint64_t h = mix(0x5eed, n->space.gen);

	for (size_t i = 0; i < nk; i++)
		h = mix(h, kips[i]);
	h = mix(h, nk);
	/* A multiply and a rotation per address: a deep stack is hashed at
	 * every sample. */
	for (size_t i = 0; i < nips; i++) {
		uint64_t x = h ^ n->ips[i];

		h = ((x << 29) | (x >> 35)) * 0x9E3779B97F4A7C15ull;
	}
	h = mix(h, nips);
	h = mix(h, (uint64_t)(uintptr_t)reason);
	return h ? h : 1;
}

struct pending {
	struct prof_nat *n;
	const uint64_t *kips;
	size_t nk, nips;
	const char *reason;
};

static const struct prof_frame *resolve_pending(void *arg, size_t *nframes)
{
	struct pending *q = arg;
	const struct prof_frame *frames;

	*nframes = prof_symbolize(q->n->sym, q->kips, q->nk, q->n->ips, q->nips, q->reason, &frames);
	return frames;
}

void prof_nat_emit(struct prof_nat *n, pid_t tid, uint32_t state, const struct prof_regs *regs,
		   const uint8_t *stack, size_t len, const uint64_t *kips, size_t nk,
		   prof_emit_fn emit, void *ctx)
{
	const char *reason;
	size_t nips;
	struct prof_stack st;
	struct pending q;

	prof_unwind_thread(n->unw, tid, n->stack_ns ? n->stack_ns : n->mono_ns);
	nips = prof_unwind(n->unw, regs, stack, len, n->ips, PROF_NATIVE_MAX_FRAMES, &reason);
	if (reason)
		n->unwind_errors++;
	n->stacks++;
	memset(&st, 0, sizeof(st));
	st.tid = tid;
	st.state = state;
	st.mono_ns = n->mono_ns;
	st.weight = n->weight;
	st.key = stack_key(n, kips, nk, nips, reason);
	q = (struct pending){.n = n, .kips = kips, .nk = nk, .nips = nips, .reason = reason};
	if (emit == prof_emit_stack) {
		/* The loop names a stack once: a repeated one (most are) costs
		 * no symbol lookups. */
		st.resolve = resolve_pending;
		st.resolve_arg = &q;
	} else {
		st.frames = resolve_pending(&q, &st.nframes);
	}
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
		return errno != ENOENT && errno != ESRCH;	/* out of descriptors: not gone */
	len = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[len] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}
