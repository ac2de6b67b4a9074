/* read.c - walk interpreters -> thread states -> frames of a CPython process, once per sample. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profiler/backend.h"
#include "profiler/python/python.h"

#define SEEN_CAP 4096		/* > 2 * PY_MAX_DEPTH */
#define MAX_CHUNK (1u << 20)
#define FRAME_OWNED_BY_CSTACK 3

static uint64_t u64_at(const unsigned char *p, int off)
{
	uint64_t v;

	memcpy(&v, p + off, sizeof(v));
	return v;
}

static int32_t i32_at(const unsigned char *p, int off)
{
	int32_t v;

	memcpy(&v, p + off, sizeof(v));
	return v;
}

static int fetch_u64(struct py_reader *r, uint64_t addr, uint64_t *v)
{
	const unsigned char *p = py_mem_fetch(r->m, addr, 8, PY_FETCH_PLAN);

	if (!p)
		return -1;
	*v = u64_at(p, 0);
	return 0;
}

static size_t span(int a, int size, size_t cur)
{
	return a >= 0 && (size_t)a + (size_t)size > cur ? (size_t)a + (size_t)size : cur;
}

int py_reader_init(struct py_reader *r, pid_t pid, char *warn, size_t warnlen, char *err, size_t errlen)
{
	const struct py_offsets *o = &r->o;
	uint64_t probe;

	memset(r, 0, sizeof(*r));
	warn[0] = '\0';
	if (py_find(pid, &r->t, err, errlen) < 0)
		return -1;
	r->m = py_mem_new(pid);
	if (!r->m) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* The first read tells whether process_vm_readv is allowed at all. */
	if (py_mem_read(r->m, r->t.code_type, &probe, sizeof(probe)) < 0) {
		py_find_denied(pid, err, errlen);
		py_reader_fini(r);
		return -1;
	}
	if (py_layout_select(&r->t, r->m, &r->o, warn, warnlen, err, errlen) < 0) {
		py_reader_fini(r);
		return -1;
	}
	r->c = py_cache_new(&r->o, &r->t);
	r->th = py_threads_new(pid);
	r->frames = calloc(PY_MAX_DEPTH, sizeof(*r->frames));
	r->seen = calloc(SEEN_CAP, sizeof(*r->seen));
	r->seen_stamp = calloc(SEEN_CAP, sizeof(*r->seen_stamp));
	if (!r->c || !r->th || !r->frames || !r->seen || !r->seen_stamp) {
		py_reader_fini(r);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	r->tid_off = o->tstate_native_thread_id >= 0 ? -1 : py_pthread_tid_offset();
	r->tstate_len = span(o->tstate_next, 8, 0);
	r->tstate_len = span(o->tstate_interp, 8, r->tstate_len);
	r->tstate_len = span(o->tstate_thread_id, 8, r->tstate_len);
	r->tstate_len = span(o->tstate_native_thread_id, 8, r->tstate_len);
	r->tstate_len = span(o->tstate_frame, 8, r->tstate_len);
	r->tstate_len = span(o->tstate_cframe, 8, r->tstate_len);
	r->tstate_len = span(o->tstate_datastack_chunk, 8, r->tstate_len);
	r->tstate_len = span(o->tstate_datastack_top, 8, r->tstate_len);
	r->frame_len = span(o->frame_back, 8, 0);
	r->frame_len = span(o->frame_code, 8, r->frame_len);
	r->frame_len = span(o->frame_lasti, 4, r->frame_len);
	r->frame_len = span(o->frame_instr, 8, r->frame_len);
	r->frame_len = span(o->frame_owner, 1, r->frame_len);
	r->frame_len = span(o->frame_is_entry, 1, r->frame_len);
	r->stamp = 1;
	return 0;
}

void py_reader_fini(struct py_reader *r)
{
	py_mem_free(r->m);
	py_cache_free(r->c);
	py_threads_free(r->th);
	free(r->frames);
	free(r->seen);
	free(r->seen_stamp);
	r->m = NULL;
	r->c = NULL;
	r->th = NULL;
	r->frames = NULL;
	r->seen = NULL;
	r->seen_stamp = NULL;
}

/* 1 when addr was already visited in this walk (a cycle), else records it. */
static int seen_before(struct py_reader *r, uint64_t addr)
{
	size_t h = (size_t)((addr * 0x9E3779B97F4A7C15ull) >> 40) & (SEEN_CAP - 1);

	for (;; h = (h + 1) & (SEEN_CAP - 1)) {
		if (r->seen_stamp[h] != r->stamp) {
			r->seen_stamp[h] = r->stamp;
			r->seen[h] = addr;
			return 0;
		}
		if (r->seen[h] == addr)
			return 1;
	}
}

/* The instruction offset the frame's line table is indexed by. */
static int frame_at(const struct py_reader *r, const unsigned char *fr, uint64_t code)
{
	const struct py_offsets *o = &r->o;
	int64_t d;

	if (o->frame_lasti >= 0) {
		int lasti = i32_at(fr, o->frame_lasti);

		if (lasti < 0)
			return -1;
		return o->major == 3 && o->minor == 10 ? lasti * 2 : lasti;
	}
	d = (int64_t)(u64_at(fr, o->frame_instr) - (code + (uint64_t)o->code_adaptive));
	if (d < 0 || d > (1 << 26))
		return -1;
	return (int)(d / 2);
}

/* The leaf frame address of a thread, and its data stack read in one go (3.11+). */
static int thread_leaf(struct py_reader *r, const unsigned char *ts, uint64_t *leaf)
{
	const struct py_offsets *o = &r->o;

	r->stack_lo = r->stack_end = 0;
	if (o->tstate_cframe >= 0) {
		uint64_t cframe = u64_at(ts, o->tstate_cframe);

		*leaf = 0;
		if (cframe && fetch_u64(r, cframe + (uint64_t)o->cframe_current_frame, leaf) < 0)
			return -1;
	} else {
		*leaf = u64_at(ts, o->tstate_frame);
	}
	if (o->tstate_datastack_chunk >= 0 && *leaf) {
		uint64_t chunk = u64_at(ts, o->tstate_datastack_chunk);
		uint64_t top = u64_at(ts, o->tstate_datastack_top);
		size_t got;

		if (chunk && top > chunk && top - chunk <= MAX_CHUNK) {
			py_mem_fetch_upto(r->m, chunk, (size_t)(top - chunk), &got,
					  PY_FETCH_PLAN | PY_FETCH_RANGE);
			const unsigned char *h = py_mem_fetch(r->m, chunk + (uint64_t)o->chunk_size, 8,
							      PY_FETCH_PLAN);

			r->stack_lo = chunk;
			r->stack_end = h ? chunk + u64_at(h, 0) : top;
			if (r->stack_end < top || r->stack_end - chunk > (1ull << 30))
				r->stack_end = top;
		}
	}
	return 0;
}

/* Walks one thread's frames into r->frames; the count, or -1 on a torn read. */
static int walk_frames(struct py_reader *r, uint64_t f)
{
	const struct py_offsets *o = &r->o;
	uint64_t callee = 0;	/* the frame walked just before, when on the data stack */
	int n = 0;

	r->boot_frame = 0;
	r->stamp++;
	if (r->stamp == 0) {
		memset(r->seen_stamp, 0, SEEN_CAP * sizeof(*r->seen_stamp));
		r->stamp = 1;
	}
	while (f && n < PY_MAX_DEPTH) {
		const unsigned char *fr;
		struct py_code *code;
		uint64_t code_addr, here;
		int line, in_stack;

		if (seen_before(r, f))
			return -1;
		/* Frame objects (<= 3.10) are reused per code object: a stack
		 * that comes back finds them at the same addresses. */
		fr = py_mem_fetch(r->m, f, r->frame_len, PY_FETCH_PLAN | PY_FETCH_KEEP);
		if (!fr)
			return -1;
		here = f;
		code_addr = u64_at(fr, o->frame_code);
		f = u64_at(fr, o->frame_back);
		/* 3.12+: the interpreter's entry shim frames are not Python code;
		 * each sits below the frames one eval-loop call ran. */
		if (o->major == 3 && o->minor >= 12 && fr[o->frame_owner] == FRAME_OWNED_BY_CSTACK) {
			if (r->entry && n > 0)
				r->entry[n - 1] = 1;
			callee = 0;
			continue;
		}
		code = py_cache_code(r->c, r->m, code_addr);
		if (!code)
			return -1;
		if (code->bootstrap)
			r->boot_frame = here;
		/* 3.11+: a callee is pushed right above its caller's frame on the
		 * data stack.  A chain that says otherwise mixes frames from two
		 * moments (the stack moved while it was read): torn. */
		in_stack = here >= r->stack_lo && here < r->stack_end;
		if (callee && in_stack && code->framesize && callee != here + (uint64_t)code->framesize)
			return -1;
		callee = in_stack ? here : 0;
		line = py_code_line(code, o, frame_at(r, fr, code_addr));
		r->frames[n].key = code->serial << 24 | ((uint64_t)line & 0xffffff);
		r->frames[n].function = code->name;
		r->frames[n].file = code->file;
		r->frames[n].module = NULL;
		r->frames[n].line = line;
		r->frames[n].kind = STORE_KIND_PYTHON;
		if (r->entry)	/* up to 3.10 one call per frame; 3.11 marks it */
			r->entry[n] = o->major == 2 || o->minor <= 10 ||
				      (o->minor == 11 && o->frame_is_entry >= 0 && fr[o->frame_is_entry]);
		n++;
	}
	return n;
}

static int64_t thread_tid(struct py_reader *r, const unsigned char *ts)
{
	const struct py_offsets *o = &r->o;
	const unsigned char *p;
	uint64_t pt;

	if (o->tstate_native_thread_id >= 0)
		return (int64_t)u64_at(ts, o->tstate_native_thread_id);
	pt = u64_at(ts, o->tstate_thread_id);
	if (r->tid_off < 0 || !pt)
		return 0;
	p = py_mem_fetch(r->m, pt + (uint64_t)r->tid_off, 4, PY_FETCH_PLAN);
	return p ? i32_at(p, 0) : 0;
}

/* The thread state holding the GIL (0: none or unknown). */
static uint64_t gil_holder(struct py_reader *r, uint64_t interp)
{
	const struct py_offsets *o = &r->o;
	uint64_t v = 0, gil;
	const unsigned char *p;

	if (r->t.tstate_current && (o->major == 2 || o->minor <= 6))
		fetch_u64(r, r->t.tstate_current, &v);
	else if (o->runtime_tstate_current >= 0)
		fetch_u64(r, r->t.runtime + (uint64_t)o->runtime_tstate_current, &v);
	else if (o->interp_gil >= 0 && fetch_u64(r, interp + (uint64_t)o->interp_gil, &gil) == 0 && gil) {
		int lo = o->gil_last_holder < o->gil_locked ? o->gil_last_holder : o->gil_locked;
		size_t len = span(o->gil_locked, 4, span(o->gil_last_holder, 8, 0)) - (size_t)lo;

		p = py_mem_fetch(r->m, gil + (uint64_t)lo, len, PY_FETCH_PLAN);
		if (p && i32_at(p, o->gil_locked - lo))
			v = u64_at(p, o->gil_last_holder - lo);
	}
	return v;
}

static uint64_t first_interp(struct py_reader *r)
{
	uint64_t interp = 0, ts = 0;

	if (r->t.runtime)
		fetch_u64(r, r->t.runtime + (uint64_t)r->o.runtime_interp_head, &interp);
	else if (r->t.interp_head)
		fetch_u64(r, r->t.interp_head, &interp);
	else if (r->t.tstate_current && fetch_u64(r, r->t.tstate_current, &ts) == 0 && ts)
		fetch_u64(r, ts + (uint64_t)r->o.tstate_interp, &interp);
	return interp;
}

/* threading's name for the thread when the walk found its Thread, read
 * again every PY_NAME_REFRESH samples (names may change); else comm. */
static const char *thread_name(struct py_reader *r, int64_t tid)
{
	const char *name;
	char buf[64];
	int due = 0;

	name = py_thread_pyname(r->th, tid, r->samples, &due);
	if (r->boot_frame && due) {
		if (py_thread_object_name(r, r->boot_frame, buf, sizeof(buf)) == 0 && buf[0])
			py_thread_set_pyname(r->th, tid, buf, r->samples);
		else	/* due again in 50 samples (unsigned arithmetic wraps) */
			py_thread_set_pyname(r->th, tid, name, r->samples + 50 - PY_NAME_REFRESH);
		name = py_thread_pyname(r->th, tid, r->samples, &due);
	}
	return name ? name : py_thread_name(r->th, tid);
}

static int emit_thread(struct py_reader *r, uint64_t tstate, const unsigned char *ts, uint64_t holder,
		       void (*emit)(void *, const struct prof_stack *), void *ctx)
{
	struct prof_stack s;
	uint64_t leaf;
	int n, st, gil;

	memset(&s, 0, sizeof(s));
	s.tid = thread_tid(r, ts);
	gil = holder && holder == tstate;
	if (r->gil_only && !gil)
		return 0;
	/* the GIL holder runs Python code: no need to ask the kernel */
	st = gil ? 'R' : s.tid > 0 ? py_thread_state(r->th, s.tid) : 0;
	if (gil)
		s.state |= STORE_STATE_GIL;
	if (st == 'R')
		s.state |= STORE_STATE_ONCPU;
	else if (st && !gil)
		s.state |= STORE_STATE_IDLE;
	if (!r->keep_idle && (s.state & STORE_STATE_IDLE))
		return 0;
	if (thread_leaf(r, ts, &leaf) < 0 || (n = walk_frames(r, leaf)) < 0) {
		r->torn++;
		return -1;
	}
	if (n == 0 && !r->keep_idle)
		return 0;
	s.thread_name = s.tid > 0 ? thread_name(r, s.tid) : NULL;
	s.frames = r->frames;
	s.nframes = (size_t)n;
	emit(ctx, &s);
	return 0;
}

int py_reader_sample(struct py_reader *r, void (*emit)(void *ctx, const struct prof_stack *s),
		     void *ctx, char *err, size_t errlen)
{
	const struct py_offsets *o = &r->o;
	uint64_t interp, holder = 0;
	int ninterp = 0, nthreads = 0;

	if (py_mem_begin(r->m) < 0)
		return -ESRCH;
	py_cache_begin(r->c);
	r->samples++;
	interp = first_interp(r);
	if (!interp) {
		if (py_mem_gone(r->m))
			return -ESRCH;
		snprintf(err, errlen, "no Python interpreter running in process %d (not started yet?)",
			 (int)r->t.pid);
		return -1;
	}
	if (o->runtime_tstate_current >= 0 || o->major == 2 || o->minor <= 6)
		holder = gil_holder(r, interp);
	for (; interp && ninterp < PY_MAX_INTERPS; ninterp++) {
		uint64_t tstate = 0;

		if (o->interp_gil >= 0)
			holder = gil_holder(r, interp);
		if (fetch_u64(r, interp + (uint64_t)o->interp_tstate_head, &tstate) < 0)
			break;
		while (tstate && nthreads++ < PY_MAX_THREADS) {
			const unsigned char *ts = py_mem_fetch(r->m, tstate, r->tstate_len, PY_FETCH_PLAN);

			if (!ts) {
				r->torn++;
				break;
			}
			emit_thread(r, tstate, ts, holder, emit, ctx);
			tstate = u64_at(ts, o->tstate_next);
		}
		if (fetch_u64(r, interp + (uint64_t)o->interp_next, &interp) < 0)
			break;
	}
	py_threads_sweep(r->th);
	if (py_mem_gone(r->m))
		return -ESRCH;
	return 0;
}
