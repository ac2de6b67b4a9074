/* mixed.c - the "mixed" backend: native stacks of a Python process with each eval-loop frame replaced by the Python frames it ran. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profiler/native/native.h"

#if defined(__has_include)
#if __has_include("profiler/python/python.h")
#define HAVE_PY_READER 1
#endif
#endif

#ifdef HAVE_PY_READER
#include "profiler/python/python.h"

#define EVAL_FUNCTION "_PyEval_EvalFrameDefault"

/* One thread's Python frames of this sample, leaf first, in e->pf. */
struct pythread {
	int64_t tid;
	uint32_t state;
	size_t first, n;
};

struct prof_engine {
	struct prof_nat nat;
	struct prof_pause *pause;
	struct py_reader py;
	int idle;
	struct prof_grab grab;
	struct pythread *pt;
	size_t npt, ptcap;
	struct prof_frame *pf;	/* strings owned (strdup) until the next sample */
	unsigned char *entry;	/* parallel to pf: outermost frame of an eval-loop call */
	size_t npf, pfcap;
	struct prof_frame *out;
	size_t outcap;
	int nomem;
	int once;		/* one read (a dump): unwound before the threads go on */
	char desc[96];
};

/* Which Python frames each C-level call of the eval loop ran: up to 3.10
 * one frame per call; from 3.11 a call runs a chain of frames, marked
 * by the reader when it knows (PY_READER_HAS_ENTRY), else the whole
 * stack is taken as one chain. */
static int is_entry(const struct prof_engine *e, size_t i, size_t n)
{
#ifdef PY_READER_HAS_ENTRY
	if (e->py.entry)
		return e->py.entry[i] || i == n - 1;
#endif
	if (e->py.o.major == 3 && e->py.o.minor <= 10)
		return 1;
	return i == n - 1;
}

static int grow(void **v, size_t *cap, size_t want, size_t size)
{
	size_t nc = *cap ? *cap : 64;
	void *p;

	if (want <= *cap)
		return 0;
	while (nc < want)
		nc *= 2;
	p = realloc(*v, nc * size);
	if (!p)
		return -1;
	*v = p;
	*cap = nc;
	return 0;
}

static void collect(void *ctx, const struct prof_stack *s)
{
	struct prof_engine *e = ctx;
	struct pythread *t;
	size_t entcap = e->pfcap;

	if (grow((void **)&e->pt, &e->ptcap, e->npt + 1, sizeof(*e->pt)) != 0 ||
	    grow((void **)&e->pf, &e->pfcap, e->npf + s->nframes, sizeof(*e->pf)) != 0 ||
	    grow((void **)&e->entry, &entcap, e->pfcap, 1) != 0) {
		e->nomem = 1;
		return;
	}
	t = &e->pt[e->npt++];
	t->tid = s->tid;
	t->state = s->state;
	t->first = e->npf;
	t->n = s->nframes;
	for (size_t i = 0; i < s->nframes; i++) {
		struct prof_frame *f = &e->pf[e->npf];

		*f = s->frames[i];
		f->function = strdup(f->function ? f->function : "?");
		f->file = f->file ? strdup(f->file) : NULL;
		f->module = NULL;
		e->entry[e->npf] = (unsigned char)is_entry(e, i, s->nframes);
		e->npf++;
	}
}

static void forget_python(struct prof_engine *e)
{
	for (size_t i = 0; i < e->npf; i++) {
		free((void *)e->pf[i].function);
		free((void *)e->pf[i].file);
	}
	e->npf = 0;
	e->npt = 0;
}

static const struct pythread *python_of(const struct prof_engine *e, int64_t tid)
{
	for (size_t i = 0; i < e->npt; i++)
		if (e->pt[i].tid == tid)
			return &e->pt[i];
	return NULL;
}

/* Leaf first: each eval-loop frame becomes the next chain of Python
 * frames; Python frames left over (an unwind cut short) go at the root. */
static size_t splice(struct prof_engine *e, const struct prof_frame *nf, size_t nn,
		     const struct pythread *pt)
{
	size_t k = 0, p = 0, np = pt ? pt->n : 0;
	const struct prof_frame *pf = pt ? &e->pf[pt->first] : NULL;
	const unsigned char *ent = pt ? &e->entry[pt->first] : NULL;

	if (grow((void **)&e->out, &e->outcap, nn + np, sizeof(*e->out)) != 0)
		return 0;
	for (size_t i = 0; i < nn; i++) {
		if (p < np && nf[i].function && !strcmp(nf[i].function, EVAL_FUNCTION)) {
			do
				e->out[k++] = pf[p];
			while (!ent[p++] && p < np);
			continue;
		}
		e->out[k++] = nf[i];
	}
	while (p < np)
		e->out[k++] = pf[p++];
	return k;
}

static void emit_thread(struct prof_engine *e, const struct prof_grab_thread *t, prof_emit_fn emit,
			void *ctx)
{
	const struct pythread *pt = python_of(e, t->tid);
	const char *reason;
	const struct prof_frame *nf;
	size_t nips, nn;
	struct prof_stack st;

	nips = prof_unwind(e->nat.unw, &t->regs, t->stack, t->len, e->nat.ips,
			   PROF_NATIVE_MAX_FRAMES, &reason);
	if (reason)
		e->nat.unwind_errors++;
	nn = prof_symbolize(e->nat.sym, NULL, 0, e->nat.ips, nips, reason, &nf);
	memset(&st, 0, sizeof(st));
	st.tid = t->tid;
	st.state = t->state | (pt ? pt->state & STORE_STATE_GIL : 0);
	st.nframes = splice(e, nf, nn, pt);
	st.frames = e->out;
	if (st.nframes)
		emit(ctx, &st);
}

static int mixed_sample(struct prof_engine *e, prof_emit_fn emit, void *ctx, char *err,
			size_t errlen)
{
	int rc = prof_pause_stop(e->pause, err, errlen);

	if (rc == -ESRCH)
		return -ESRCH;
	if (rc < 0) {
		prof_pause_resume(e->pause);
		/* Exited and not yet reaped (a zombie): the end, not an error. */
		return prof_nat_alive(e->nat.pid) ? -1 : -ESRCH;
	}
	prof_grab_take(&e->grab, e->pause, e->nat.pid, e->idle);
	e->nomem = 0;
	rc = py_reader_sample(&e->py, collect, e, err, errlen);
	if (!e->once || rc == -ESRCH)
		prof_pause_resume(e->pause);
	if (rc == -ESRCH) {
		forget_python(e);
		return -ESRCH;
	}
	for (size_t i = 0; i < e->grab.n; i++)
		emit_thread(e, &e->grab.t[i], emit, ctx);
	if (e->once)
		prof_pause_resume(e->pause);
	forget_python(e);
	return rc < 0 ? -1 : 0;
}

static void mixed_detach(struct prof_engine *e)
{
	if (!e)
		return;
	if (e->pause)
		prof_pause_free(e->pause);
	forget_python(e);
#ifdef PY_READER_HAS_ENTRY
	free(e->py.entry);
	e->py.entry = NULL;
#endif
	py_reader_fini(&e->py);
	prof_grab_free(&e->grab);
	prof_nat_fini(&e->nat);
	free(e->pt);
	free(e->pf);
	free(e->entry);
	free(e->out);
	free(e);
}

static int mixed_attach(struct prof_engine **ep, pid_t pid, const struct prof_options *o,
			char *err, size_t errlen)
{
	struct prof_engine *e = calloc(1, sizeof(*e));
	char warn[160] = "";

	if (!e) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	e->idle = o ? o->idle : 1;
	e->once = !o || o->rate_hz <= 0;
	if (py_reader_init(&e->py, pid, warn, sizeof(warn), err, errlen) != 0) {
		free(e);
		return -1;
	}
	e->py.keep_idle = 1;	/* idle is decided here, from the registers */
#ifdef PY_READER_HAS_ENTRY
	e->py.entry = calloc(PY_MAX_DEPTH, 1);
	if (!e->py.entry) {
		py_reader_fini(&e->py);
		free(e);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
#endif
	e->py.gil_only = 0;
	if (prof_nat_init(&e->nat, pid, err, errlen) != 0) {
		mixed_detach(e);
		return -1;
	}
	e->pause = prof_nat_pause_new(pid, o, err, errlen);
	if (!e->pause) {
		mixed_detach(e);
		return -1;
	}
	snprintf(e->desc, sizeof(e->desc), "python %d.%d.%d + native via ptrace", e->py.t.major,
		 e->py.t.minor, e->py.t.micro);
	*ep = e;
	return 0;
}

static const char *mixed_describe(struct prof_engine *e)
{
	return e->desc;
}

#else /* no Python reader in this tree */

static int mixed_attach(struct prof_engine **e, pid_t pid, const struct prof_options *o, char *err,
			size_t errlen)
{
	snprintf(err, errlen, "mixed Python + native stacks (--native) are not available in this build");
	return -1;
}

static const char *mixed_describe(struct prof_engine *e)
{
	return "mixed";
}

static int mixed_sample(struct prof_engine *e, prof_emit_fn emit, void *ctx, char *err,
			size_t errlen)
{
	return -1;
}

static void mixed_detach(struct prof_engine *e)
{
}

#endif

static int mixed_exit_status(struct prof_engine *e)
{
	return prof_pause_exit_status(e->pause);
}

const struct prof_backend prof_backend_mixed = {
	.name = "mixed",
	.attach = mixed_attach,
	.describe = mixed_describe,
	.sample = mixed_sample,
	.detach = mixed_detach,
	.exit_status = mixed_exit_status,
};
