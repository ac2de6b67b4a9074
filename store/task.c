/* task.c - tracer task and function stats, and their log-linear latency histogram. */
#include "config.h"

#include "store/internal.h"

struct task_key {
	uint32_t session, thread, name, parent, kind;
};

static int task_eq(const void *ctx, uint32_t id, const void *key)
{
	const struct store_profile *p = ctx;
	const struct store_task *t = &VEC_AT(p->tasks, struct store_task, id);
	const struct task_key *k = key;

	return t->name == k->name && t->thread == k->thread && t->parent == k->parent &&
	       t->kind == k->kind && t->session == k->session;
}

void store_task_put(struct store_profile *p, const struct store_task *t)
{
	struct task_key k = { t->session, t->thread, t->name, t->parent, t->kind };
	uint32_t h = store_hash_u32(&k.session, 5), id;
	int64_t found = store_hash_find(&p->task_hash, h, task_eq, p, &k);
	struct store_task *row;

	if (found >= 0) {
		id = (uint32_t)found;
		row = &VEC_AT(p->tasks, struct store_task, id);
	} else {
		id = p->tasks.n;
		row = store_vec_push(&p->tasks);
		if (!row)
			return;
		store_hash_insert(&p->task_hash, h, id);
	}
	*row = *t;
	store_dirty_mark(&p->task_dirty, id);
}

uint32_t store_ntasks(const struct store_profile *p)
{
	return p->tasks.n;
}

const struct store_task *store_task_get(const struct store_profile *p, uint32_t i)
{
	if (i >= p->tasks.n)
		return NULL;
	return &VEC_AT(p->tasks, struct store_task, i);
}

/* Values below STORE_HIST_SUB have a bucket each; above, each power of two
 * [2^e, 2^(e+1)) is cut into STORE_HIST_SUB equal buckets. */
int store_hist_bucket(int64_t ns)
{
	uint64_t v;
	int e;

	if (ns < (int64_t)STORE_HIST_SUB)
		return ns < 0 ? 0 : (int)ns;
	v = (uint64_t)ns;
	e = 63 - __builtin_clzll(v);
	if (e >= STORE_HIST_MAXEXP)
		return STORE_HIST_BUCKETS - 1;
	return (e - STORE_HIST_SUBBITS + 1) * (int)STORE_HIST_SUB +
	       (int)((v >> (e - STORE_HIST_SUBBITS)) & (STORE_HIST_SUB - 1));
}

int64_t store_hist_value(int bucket)
{
	int group, sub, shift;
	int64_t low;

	if (bucket < (int)STORE_HIST_SUB)
		return bucket < 0 ? 0 : bucket;
	if (bucket >= (int)STORE_HIST_BUCKETS)
		bucket = STORE_HIST_BUCKETS - 1;
	group = bucket / (int)STORE_HIST_SUB;
	sub = bucket % (int)STORE_HIST_SUB;
	shift = group - 1;	/* e - STORE_HIST_SUBBITS */
	low = (int64_t)(STORE_HIST_SUB + (unsigned)sub) << shift;
	return low + (((int64_t)1 << shift) >> 1);
}

void store_hist_add(uint32_t *hist, int64_t ns)
{
	int b = store_hist_bucket(ns);

	if (hist[b] != UINT32_MAX)
		hist[b]++;
}

int64_t store_hist_quantile(const uint32_t *hist, double q)
{
	uint64_t total = 0, rank, seen = 0;

	for (int i = 0; i < (int)STORE_HIST_BUCKETS; i++)
		total += hist[i];
	if (!total)
		return 0;
	if (q < 0)
		q = 0;
	if (q > 1)
		q = 1;
	rank = (uint64_t)(q * (double)total + 0.999999);
	if (rank < 1)
		rank = 1;
	for (int i = 0; i < (int)STORE_HIST_BUCKETS; i++) {
		seen += hist[i];
		if (seen >= rank)
			return store_hist_value(i);
	}
	return store_hist_value(STORE_HIST_BUCKETS - 1);
}
