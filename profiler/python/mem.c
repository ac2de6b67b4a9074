/* mem.c - target memory reads: one batched process_vm_readv per sample, then single reads.
 *
 * A steady-state sample reads the same regions as the sample before it
 * (thread states, frames or frame data stacks, code object headers), so
 * py_mem_begin reads all of them in one system call and py_mem_fetch
 * serves the walk from that snapshot.  Whatever the walk needs that was
 * not planned costs one process_vm_readv and is planned for next time.
 * Everything is re-read each sample: the snapshot is never stale.
 *
 * The batch is sorted by address and regions close together (same or next
 * page) are read as one: the kernel's cost is per remote iovec (a lookup of
 * the mapping and a page pin), so 40 frame objects in a few pages cost a few
 * iovecs, not 40.  Thread states come before the data stacks they
 * describe (exact regions first, then ranges).
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "profiler/python/python.h"

#define ARENA_SIZE (8u << 20)	/* bytes read per sample, at most */
#define MAX_FETCH (1u << 20)
#define RANGE_SLACK 1024	/* a data stack may grow this much before a re-read */
#define BATCH_IOV 1024		/* UIO_MAXIOV */
#define MAX_RETRIES 4
#define MERGE_GAP 2048		/* read the bytes between two regions up to this far apart */
#define PAGE 4096
#define KEEP_SAMPLES 32		/* a PY_FETCH_KEEP region unused this long leaves the plan */

enum { ENT_EXACT, ENT_RANGE };

struct entry {
	uint64_t addr;
	uint32_t len, got, off;
	uint8_t planned, kind, keep, age;
};

struct plan {
	uint64_t addr;
	uint32_t len;
	uint8_t kind, keep, age;
};

struct slot {
	uint32_t stamp, idx;
};

/* Entries of the batch read as one remote iovec. */
struct span {
	uint64_t addr;
	uint32_t len, off;
	uint32_t first, last;	/* positions in order[] */
};

struct sortkey {
	uint64_t addr;
	uint32_t idx, kind;
};

struct py_mem {
	pid_t pid;
	int gone;
	uint64_t syscalls;
	unsigned char *arena;
	size_t used;
	struct entry *ents;
	size_t nents, cap;
	struct slot *hash;
	size_t hash_cap;
	uint32_t stamp;
	uint32_t *ranges;
	size_t nranges;
	struct plan *plan, *next;
	size_t nplan, nnext, plan_cap;
	struct iovec *liov, *riov;
	struct sortkey *order;	/* the batch by address; kept while the plan is the same */
	size_t norder;
	uint64_t order_sig;
	struct span *spans;
};

struct py_mem *py_mem_new(pid_t pid)
{
	struct py_mem *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->pid = pid;
	m->arena = malloc(ARENA_SIZE);
	m->cap = 4096;
	m->ents = calloc(m->cap, sizeof(*m->ents));
	m->hash_cap = 8192;
	m->hash = calloc(m->hash_cap, sizeof(*m->hash));
	m->ranges = calloc(m->cap, sizeof(*m->ranges));
	m->plan_cap = m->cap;
	m->plan = calloc(m->plan_cap, sizeof(*m->plan));
	m->next = calloc(m->plan_cap, sizeof(*m->next));
	m->liov = calloc(BATCH_IOV, sizeof(*m->liov));
	m->riov = calloc(BATCH_IOV, sizeof(*m->riov));
	m->order = calloc(m->cap, sizeof(*m->order));
	m->spans = calloc(m->cap, sizeof(*m->spans));
	if (!m->arena || !m->ents || !m->hash || !m->ranges || !m->plan || !m->next ||
	    !m->liov || !m->riov || !m->order || !m->spans) {
		py_mem_free(m);
		return NULL;
	}
	m->stamp = 1;
	return m;
}

void py_mem_free(struct py_mem *m)
{
	if (!m)
		return;
	free(m->arena);
	free(m->ents);
	free(m->hash);
	free(m->ranges);
	free(m->plan);
	free(m->next);
	free(m->liov);
	free(m->riov);
	free(m->order);
	free(m->spans);
	free(m);
}

uint64_t py_mem_syscalls(const struct py_mem *m) { return m->syscalls; }
int py_mem_gone(const struct py_mem *m) { return m->gone; }

static size_t hash_addr(const struct py_mem *m, uint64_t addr)
{
	return (size_t)((addr * 0x9E3779B97F4A7C15ull) >> 40) & (m->hash_cap - 1);
}

static struct entry *find_exact(struct py_mem *m, uint64_t addr)
{
	for (size_t h = hash_addr(m, addr), n = 0; n < m->hash_cap; n++, h = (h + 1) & (m->hash_cap - 1)) {
		struct slot *s = &m->hash[h];

		if (s->stamp != m->stamp)
			return NULL;
		if (m->ents[s->idx].addr == addr)
			return &m->ents[s->idx];
	}
	return NULL;
}

/* Room for len bytes in the arena: the offset, or -1 when a sample reads too much. */
static int64_t arena_take(struct py_mem *m, size_t len)
{
	size_t off = m->used;

	if (len > ARENA_SIZE - m->used)
		return -1;
	m->used += (len + 7) & ~(size_t)7;
	if (m->used > ARENA_SIZE)
		m->used = ARENA_SIZE;
	return (int64_t)off;
}

/* A new entry, with its room in the arena when alloc (a batch entry gets
 * its room with its span); NULL when a sample reads too much. */
static struct entry *add_entry(struct py_mem *m, uint64_t addr, size_t len, int kind, int alloc)
{
	struct entry *e;
	int64_t off = 0;

	if (m->nents == m->cap || m->nents * 2 >= m->hash_cap || len > ARENA_SIZE)
		return NULL;
	if (alloc && (off = arena_take(m, len)) < 0)
		return NULL;
	e = &m->ents[m->nents];
	e->addr = addr;
	e->len = (uint32_t)len;
	e->got = 0;
	e->off = (uint32_t)off;
	e->planned = 0;
	e->kind = (uint8_t)kind;
	e->keep = 0;
	e->age = 0;
	for (size_t h = hash_addr(m, addr);; h = (h + 1) & (m->hash_cap - 1)) {
		struct slot *s = &m->hash[h];

		if (s->stamp != m->stamp || m->ents[s->idx].addr == addr) {
			s->stamp = m->stamp;
			s->idx = (uint32_t)m->nents;
			break;
		}
	}
	if (kind == ENT_RANGE)
		m->ranges[m->nranges++] = (uint32_t)m->nents;
	m->nents++;
	return e;
}

static void plan_entry(struct py_mem *m, struct entry *e, size_t want)
{
	struct plan *p;

	if (e->planned || m->nnext == m->plan_cap)
		return;
	e->planned = 1;
	p = &m->next[m->nnext++];
	p->addr = e->addr;
	p->len = e->kind == ENT_RANGE
			 ? (uint32_t)(want + RANGE_SLACK < MAX_FETCH ? want + RANGE_SLACK : MAX_FETCH)
			 : e->len;
	p->kind = e->kind;
	p->keep = e->keep;
	p->age = 0;
}

/* Regions kept in the plan though this sample did not use them (code
 * objects of functions the stack left for a moment): the stack comes back
 * to them without a read of their own. */
static void plan_kept(struct py_mem *m)
{
	for (size_t i = 0; i < m->nents && m->nnext < m->plan_cap; i++) {
		const struct entry *e = &m->ents[i];
		struct plan *p;

		if (!e->keep || e->planned || e->got < e->len || e->age >= KEEP_SAMPLES)
			continue;
		p = &m->next[m->nnext++];
		p->addr = e->addr;
		p->len = e->len;
		p->kind = e->kind;
		p->keep = 1;
		p->age = (uint8_t)(e->age + 1);
	}
}

/* Sets got of every entry of span sp from the bytes the span got. */
static void span_got(struct py_mem *m, const struct span *sp, size_t got)
{
	for (uint32_t k = sp->first; k < sp->last; k++) {
		struct entry *e = &m->ents[m->order[k].idx];
		uint64_t d = e->addr - sp->addr;

		e->got = d >= got ? 0 : (uint32_t)(got - d < e->len ? got - d : e->len);
	}
}

/* Batch slot i: len bytes at the target's addr into the arena at off. */
static void set_iov(struct py_mem *m, size_t i, uint32_t off, uint64_t addr, size_t len)
{
	m->liov[i].iov_base = m->arena + off;
	m->liov[i].iov_len = len;
	m->riov[i].iov_base = (void *)(uintptr_t)addr;
	m->riov[i].iov_len = len;
}

/* One process_vm_readv of the first n slots: the bytes read, 0 when it
 * failed, -1 when the process is gone. */
static ssize_t read_iovs(struct py_mem *m, size_t n)
{
	ssize_t r;

	m->syscalls++;
	r = process_vm_readv(m->pid, m->liov, (unsigned long)n, m->riov, (unsigned long)n, 0);
	if (r < 0 && errno == ESRCH) {
		m->gone = 1;
		return -1;
	}
	return r < 0 ? 0 : r;
}

/* Reads spans [from, to) in batches; a failed span stops a batch, the rest
 * is retried a few times (a freed object may have been unmapped). */
static void read_spans(struct py_mem *m, size_t from, size_t to)
{
	int retries = 0;

	while (from < to && retries <= MAX_RETRIES) {
		size_t n = to - from < BATCH_IOV ? to - from : BATCH_IOV;
		ssize_t r;

		for (size_t i = 0; i < n; i++)
			set_iov(m, i, m->spans[from + i].off, m->spans[from + i].addr,
				m->spans[from + i].len);
		if ((r = read_iovs(m, n)) < 0)
			return;
		for (size_t i = 0; i < n; i++) {
			const struct span *sp = &m->spans[from + i];
			size_t got = (size_t)r < sp->len ? (size_t)r : sp->len;

			span_got(m, sp, got);
			r -= (ssize_t)got;
			if (got < sp->len) {
				n = i + 1;	/* a short read ends the batch */
				retries++;
				break;
			}
		}
		from += n;
	}
}

static int cmp_key(const void *a, const void *b)
{
	const struct sortkey *x = a, *y = b;

	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* The batch's entries by address, exact regions before ranges (a thread
 * state is read before the data stack it describes); sorted again only
 * when the plan changed (a steady sample plans the same). */
static void order_batch(struct py_mem *m)
{
	uint64_t sig = 1469598103934665603ull;
	size_t n = 0;

	for (size_t i = 0; i < m->nents; i++) {
		sig = (sig ^ m->ents[i].addr) * 1099511628211ull;
		sig = (sig ^ (m->ents[i].len | (uint64_t)m->ents[i].kind << 32)) * 1099511628211ull;
	}
	if (sig == m->order_sig && m->norder == m->nents)
		return;
	for (size_t i = 0; i < m->nents; i++) {
		m->order[n].addr = m->ents[i].addr;
		m->order[n].kind = m->ents[i].kind;
		m->order[n++].idx = (uint32_t)i;
	}
	qsort(m->order, n, sizeof(*m->order), cmp_key);
	m->norder = n;
	m->order_sig = sig;
}

/* Groups the ordered batch into spans, each with its room in the arena. */
static size_t make_spans(struct py_mem *m)
{
	size_t ns = 0, k = 0;

	while (k < m->norder) {
		struct span *sp = &m->spans[ns];
		const struct entry *e = &m->ents[m->order[k].idx];
		uint64_t end = e->addr + e->len;
		int64_t off;

		sp->addr = e->addr;
		sp->first = (uint32_t)k++;
		while (k < m->norder) {
			const struct entry *f = &m->ents[m->order[k].idx];

			/* The bytes in between are mapped when no page is skipped. */
			if (f->kind != e->kind || f->addr > end + MERGE_GAP ||
			    f->addr / PAGE > (end - 1) / PAGE + 1 || f->addr + f->len - sp->addr > MAX_FETCH)
				break;
			if (f->addr + f->len > end)
				end = f->addr + f->len;
			k++;
		}
		sp->last = (uint32_t)k;
		sp->len = (uint32_t)(end - sp->addr);
		off = arena_take(m, sp->len);
		if (off < 0)
			break;	/* the rest is read on demand */
		sp->off = (uint32_t)off;
		for (uint32_t j = sp->first; j < sp->last; j++) {
			struct entry *x = &m->ents[m->order[j].idx];

			x->off = (uint32_t)(off + (int64_t)(x->addr - sp->addr));
		}
		ns++;
	}
	return ns;
}

/* Reads entries [from, to), each on its own (fetches outside the batch). */
static void read_entries(struct py_mem *m, size_t from, size_t to)
{
	int retries = 0;

	while (from < to && retries <= MAX_RETRIES) {
		size_t n = to - from < BATCH_IOV ? to - from : BATCH_IOV;
		ssize_t r;

		for (size_t i = 0; i < n; i++)
			set_iov(m, i, m->ents[from + i].off, m->ents[from + i].addr,
				m->ents[from + i].len);
		if ((r = read_iovs(m, n)) < 0)
			return;
		for (size_t i = 0; i < n; i++) {
			struct entry *e = &m->ents[from + i];
			size_t got = (size_t)r < e->len ? (size_t)r : e->len;

			e->got = (uint32_t)got;
			r -= (ssize_t)got;
			if (got < e->len) {
				n = i + 1;	/* a short read ends the batch */
				retries++;
				break;
			}
		}
		from += n;
	}
}

int py_mem_begin(struct py_mem *m)
{
	struct plan *t;
	size_t ns;

	plan_kept(m);
	m->stamp++;
	if (m->stamp == 0) {
		memset(m->hash, 0, m->hash_cap * sizeof(*m->hash));
		m->stamp = 1;
	}
	m->used = 0;
	m->nents = 0;
	m->nranges = 0;
	t = m->plan;
	m->plan = m->next;
	m->next = t;
	m->nplan = m->nnext;
	m->nnext = 0;
	for (int kind = ENT_EXACT; kind <= ENT_RANGE; kind++)
		for (size_t i = 0; i < m->nplan; i++) {
			const struct plan *p = &m->plan[i];

			struct entry *e;

			/* plan entries are unique (plan_entry marks each entry once) */
			if (p->kind != kind)
				continue;
			if (!(e = add_entry(m, p->addr, p->len, p->kind, 0)))
				break;
			e->keep = p->keep;
			e->age = p->age;
		}
	order_batch(m);
	ns = make_spans(m);
	read_spans(m, 0, ns);
	if (m->gone) {
		errno = ESRCH;
		return -1;
	}
	return 0;
}

static const void *lookup(struct py_mem *m, uint64_t addr, size_t len, size_t *got, int flags)
{
	struct entry *e;

	/* ranges first: on 3.11+ most fetches are frames inside a data stack */
	if (!(flags & PY_FETCH_RANGE))
		for (size_t i = 0; i < m->nranges; i++) {
			struct entry *r = &m->ents[m->ranges[i]];

			if (addr >= r->addr && addr - r->addr + len <= r->got) {
				if (got)
					*got = len;
				return m->arena + r->off + (addr - r->addr);
			}
		}
	e = find_exact(m, addr);
	if (e && (e->got >= len || (got && e->got > 0 && e->got < e->len))) {
		if (flags & PY_FETCH_KEEP)
			e->keep = 1;
		if (flags & PY_FETCH_PLAN)
			plan_entry(m, e, len);
		if (got)
			*got = e->got < len ? e->got : len;
		return m->arena + e->off;
	}
	return NULL;
}

const void *py_mem_fetch_upto(struct py_mem *m, uint64_t addr, size_t len, size_t *got, int flags)
{
	const void *p;
	struct entry *e;

	*got = 0;
	if (len == 0 || len > MAX_FETCH || addr < 4096 || m->gone)
		return NULL;
	p = lookup(m, addr, len, got, flags);
	if (p)
		return p;
	e = add_entry(m, addr, len, (flags & PY_FETCH_RANGE) ? ENT_RANGE : ENT_EXACT, 1);
	if (!e)
		return NULL;
	read_entries(m, (size_t)(e - m->ents), (size_t)(e - m->ents) + 1);
	if (e->got == 0)
		return NULL;
	e->keep = (flags & PY_FETCH_KEEP) != 0;
	if (flags & PY_FETCH_PLAN)
		plan_entry(m, e, len);
	*got = e->got;
	return m->arena + e->off;
}

const void *py_mem_fetch(struct py_mem *m, uint64_t addr, size_t len, int flags)
{
	size_t got;
	const void *p = py_mem_fetch_upto(m, addr, len, &got, flags);

	return p && got == len ? p : NULL;
}

int py_mem_read(struct py_mem *m, uint64_t addr, void *buf, size_t len)
{
	struct iovec l = { buf, len }, r = { (void *)(uintptr_t)addr, len };
	ssize_t n;

	m->syscalls++;
	n = process_vm_readv(m->pid, &l, 1, &r, 1, 0);
	if (n < 0 && errno == ESRCH)
		m->gone = 1;
	return n == (ssize_t)len ? 0 : -1;
}
