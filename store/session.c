/* session.c - sessions (one recording each) and their threads. */
#include "config.h"

#include <string.h>

#include "store/internal.h"

/* Interned strings never move, so a session can point at them. */
static const char *keep(struct store_profile *p, const char *s)
{
	return store_string(p, store_string_intern(p, s ? s : ""));
}

uint32_t store_session_add(struct store_profile *p, const struct store_session *s)
{
	uint32_t id = p->sessions.n;
	struct store_session *n = store_vec_push(&p->sessions);

	if (!n)
		return 0;
	*n = *s;
	/* Interning may not move the session array, but re-fetch anyway. */
	n->command = keep(p, s->command);
	n->runtime = keep(p, s->runtime);
	n->version = keep(p, s->version);
	n->mode = keep(p, s->mode);
	n->last_error = keep(p, s->last_error);
	return id;
}

struct store_session *store_session_get(struct store_profile *p, uint32_t id)
{
	if (id >= p->sessions.n)
		id = 0;
	return &VEC_AT(p->sessions, struct store_session, id);
}

void store_session_set_error(struct store_profile *p, uint32_t id, const char *msg)
{
	const char *m = keep(p, msg);

	if (id < p->sessions.n)
		VEC_AT(p->sessions, struct store_session, id).last_error = m;
}

uint32_t store_nsessions(const struct store_profile *p)
{
	return p->sessions.n;
}

struct thread_key {
	uint32_t session;
	int64_t tid;
};

static uint32_t thread_hash(uint32_t session, int64_t tid)
{
	uint32_t w[3] = { session, (uint32_t)tid, (uint32_t)((uint64_t)tid >> 32) };

	return store_hash_u32(w, 3);
}

static int thread_eq(const void *ctx, uint32_t id, const void *key)
{
	const struct store_profile *p = ctx;
	const struct store_thread *t = &VEC_AT(p->threads, struct store_thread, id);
	const struct thread_key *k = key;

	return t->session == k->session && t->tid == k->tid;
}

static int64_t thread_lookup(const struct store_profile *p, uint32_t session, int64_t tid)
{
	struct thread_key k = { session, tid };

	return store_hash_find(&p->thread_hash, thread_hash(session, tid), thread_eq, p, &k);
}

uint32_t store_thread_add(struct store_profile *p, uint32_t session, int64_t tid,
			  const char *name, const char *role)
{
	const char *n = keep(p, name), *r = keep(p, role);
	uint32_t id = p->threads.n;
	struct store_thread *t;
	int64_t old = thread_lookup(p, session, tid);

	t = store_vec_push(&p->threads);
	if (!t)
		return 0;
	t->session = session;
	t->tid = tid;
	t->name = n;
	t->role = r;
	/* A reused tid: the newest thread is the one store_thread_find returns. */
	if (old >= 0) {
		for (uint32_t i = 0; i < p->thread_hash.cap; i++)
			if (p->thread_hash.slots[i].id1 == old + 1)
				p->thread_hash.slots[i].id1 = id + 1;
	} else {
		store_hash_insert(&p->thread_hash, thread_hash(session, tid), id);
	}
	return id;
}

uint32_t store_thread_find(struct store_profile *p, uint32_t session, int64_t tid,
			   const char *name)
{
	int64_t found = thread_lookup(p, session, tid);
	struct store_thread *t;

	if (found < 0)
		return store_thread_add(p, session, tid, name, "");
	t = &VEC_AT(p->threads, struct store_thread, found);
	if (name && (found != 0) && strcmp(t->name, name)) {
		const char *n = keep(p, name);

		t = &VEC_AT(p->threads, struct store_thread, found);
		t->name = n;
		p->thread_gen++;
	}
	return (uint32_t)found;
}

const struct store_thread *store_thread_get(const struct store_profile *p, uint32_t id)
{
	if (id >= p->threads.n)
		id = 0;
	return &VEC_AT(p->threads, struct store_thread, id);
}

uint32_t store_nthreads(const struct store_profile *p)
{
	return p->threads.n;
}
