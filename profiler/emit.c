/* emit.c - turn an engine's stacks into store frames, call sites and samples. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "profiler/sampler-int.h"

/* Names are re-read (from /proc) or compared (an engine's) this often,
 * in ticks of the loop, since programs rename threads after starting them. */
#define RENAME_TICKS 256

static uint64_t mix(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	return k;
}

uint32_t prof_keymap_get(const struct prof_keymap *m, uint64_t key)
{
	if (!m->cap || !key)
		return 0;
	for (size_t i = mix(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		if (m->keys[i] == key)
			return m->vals[i];
		if (!m->keys[i])
			return 0;
	}
}

static int keymap_grow(struct prof_keymap *m)
{
	size_t nc = m->cap ? 2 * m->cap : 256;
	uint64_t *keys = calloc(nc, sizeof(*keys));
	uint32_t *vals = calloc(nc, sizeof(*vals));

	if (!keys || !vals) {
		free(keys);
		free(vals);
		return -1;
	}
	for (size_t i = 0; i < m->cap; i++) {
		size_t j;

		if (!m->keys[i])
			continue;
		for (j = mix(m->keys[i]) & (nc - 1); keys[j]; j = (j + 1) & (nc - 1))
			;
		keys[j] = m->keys[i];
		vals[j] = m->vals[i];
	}
	free(m->keys);
	free(m->vals);
	m->keys = keys;
	m->vals = vals;
	m->cap = nc;
	return 0;
}

int prof_keymap_put(struct prof_keymap *m, uint64_t key, uint32_t val)
{
	size_t i;

	if (!key)
		return -1;
	if ((m->n + 1) * 4 > m->cap * 3 && keymap_grow(m) < 0)
		return -1;
	for (i = mix(key) & (m->cap - 1); m->keys[i] && m->keys[i] != key; i = (i + 1) & (m->cap - 1))
		;
	if (!m->keys[i])
		m->n++;
	m->keys[i] = key;
	m->vals[i] = val;
	return 0;
}

void prof_keymap_free(struct prof_keymap *m)
{
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}

static uint32_t frame_id(struct prof_emit_ctx *c, const struct prof_frame *f)
{
	struct store_frame sf;
	uint32_t id;

	if (f->key && (id = prof_keymap_get(&c->t->frames, f->key)))
		return id;
	sf.function = store_string_intern(c->p, f->function ? f->function : "?");
	sf.file = f->file ? store_string_intern(c->p, f->file) : 0;
	sf.module = f->module ? store_string_intern(c->p, f->module) : 0;
	sf.line = f->line;
	sf.kind = (uint32_t)f->kind;
	id = store_frame_intern(c->p, &sf);
	if (f->key && id)
		prof_keymap_put(&c->t->frames, f->key, id);
	return id;
}

/* The store's thread row for tid, named from the engine or /proc. */
static uint32_t thread_id(struct prof_emit_ctx *c, const struct prof_stack *st)
{
	uint64_t key = (uint64_t)st->tid + 1;	/* tid 0 must not be the empty key */
	uint32_t id = prof_keymap_get(&c->t->threads, key);
	uint64_t named = prof_keymap_get(&c->t->named, key);
	char comm[64];
	const char *name = st->thread_name;

	if (id && c->tick + 1 - named < RENAME_TICKS)
		return id;
	if (!name) {
		prof_thread_name(c->t->pid, (pid_t)st->tid, comm, sizeof(comm));
		name = comm[0] ? comm : NULL;
	}
	if (!id) {
		id = store_thread_add(c->p, c->t->session, st->tid, name ? name : "",
				      st->tid == c->t->pid ? "main" : "");
		prof_keymap_put(&c->t->threads, key, id);
	} else if (name) {
		const struct store_thread *th = store_thread_get(c->p, id);

		if (!th || !th->name || strcmp(th->name, name))
			store_thread_find(c->p, c->t->session, st->tid, name);
	}
	prof_keymap_put(&c->t->named, key, (uint32_t)c->tick + 1);
	return id;
}

void prof_emit_stack(void *ctx, const struct prof_stack *st)
{
	struct prof_emit_ctx *c = ctx;
	struct store_sample s;
	uint32_t state = st->state;
	const struct prof_frame *frames = st->frames;
	size_t nframes = st->nframes;

	if ((state & STORE_STATE_IDLE) && !c->o->idle)
		return;
	if (c->o->gil && !(state & STORE_STATE_GIL))
		return;
	if (!nframes && !(st->resolve && st->key))
		return;
	s.callsite = st->key ? prof_keymap_get(&c->t->stacks, st->key) : 0;
	if (s.callsite)
		goto have_callsite;
	if (!nframes) {
		frames = st->resolve(st->resolve_arg, &nframes);
		if (!nframes)
			return;
	}
	if (nframes > c->nids) {
		uint32_t *ids = realloc(c->ids, nframes * sizeof(*ids));

		if (!ids)
			return;
		c->ids = ids;
		c->nids = nframes;
	}
	/* Engines give the leaf first; call sites want the root first. */
	for (size_t i = 0; i < nframes; i++)
		c->ids[nframes - 1 - i] = frame_id(c, &frames[i]);
	s.callsite = store_callsite_from_stack(c->p, c->ids, nframes);
	if (st->key && s.callsite) {
		/* Keys change with the target's mappings: a program that keeps
		 * loading code must not grow the map without end. */
		if (c->t->stacks.n >= (1u << 20))
			prof_keymap_free(&c->t->stacks);
		prof_keymap_put(&c->t->stacks, st->key, s.callsite);
	}
have_callsite:
	s.session = c->t->session;
	s.thread = thread_id(c, st);
	s.state = state;
	/* An engine that buffers samples (cpu) knows when each was taken. */
	s.time_ns = st->mono_ns ? st->mono_ns - c->start_mono : c->time_ns;
	if (s.time_ns < 0)
		s.time_ns = 0;	/* taken between attach and the session's start */
	s.weight = st->weight ? st->weight : 1;
	store_sample_add(c->p, &s);
	c->kept++;
}

void prof_emit_ctx_free(struct prof_emit_ctx *c)
{
	free(c->ids);
	c->ids = NULL;
	c->nids = 0;
}
