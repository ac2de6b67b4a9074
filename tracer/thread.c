/* thread.c - each thread's slot of the region: its start and end, and its table of task names. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tracer/internal.h"

static uint32_t hash_name(const char *s, uint32_t kind)
{
	uint32_t h = 2166136261u ^ kind;

	for (int i = 0; i < SONDA_NAME_MAX - 1 && s[i]; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

static int same_name(const struct sonda_task_entry *e, const char *s, uint32_t kind)
{
	return e->kind == kind && !strncmp(e->name, s, SONDA_NAME_MAX - 1);
}

/* Gives pages of the region their memory now, on a slow path (a thread's
 * start, a new name or function): a write to a hole of a full tmpfs (a
 * container's small /dev/shm) would be SIGBUS on the hot path.  -1 only
 * when there is no room. */
static int region_reserve(uint64_t off, uint64_t len)
{
	if (lib.fd < 0)
		return 0;
	return posix_fallocate(lib.fd, (off_t)off, (off_t)len) == ENOSPC ? -1 : 0;
}

#define RESERVE_CHUNK 16	/* table entries given memory at a time */

/* Entry n of a table gets its memory with the 15 after it, when it is the
 * first of its chunk: a slow path, once per new name or function. */
HIDDEN int sonda__entry_reserve(const void *table, size_t size, uint32_t n, uint32_t max)
{
	uint32_t k = max - n < RESERVE_CHUNK ? max - n : RESERVE_CHUNK;

	if (n % RESERVE_CHUNK)
		return 0;
	return region_reserve((uint64_t)((const unsigned char *)table - lib.base) + (uint64_t)n * size,
			      (uint64_t)k * size);
}

static uint32_t task_add(struct tstate *ts, const char *name, uint32_t kind)
{
	struct sonda_slot *slot = ts->slot;
	uint32_t n = slot->ntasks;
	struct sonda_task_entry *e;
	size_t len;

	if (n >= lib.hdr->slot_tasks || sonda__entry_reserve(ts->tasks, sizeof(*e), n, lib.hdr->slot_tasks) < 0) {
		slot->tasks_dropped++;
		return NONE;
	}
	e = &ts->tasks[n];
	len = strnlen(name, SONDA_NAME_MAX);
	if (len >= SONDA_NAME_MAX) {
		slot->long_names++;
		len = SONDA_NAME_MAX - 1;
	}
	/* fault its pages in now, not inside the first measured interval */
	for (size_t off = 0; off < sizeof(*e); off += 2048)
		((volatile unsigned char *)e)[off] = 0;
	((volatile unsigned char *)e)[sizeof(*e) - 1] = 0;
	memcpy(e->name, name, len);
	e->name[len] = 0;
	e->kind = kind;
	e->min_ns = INT64_MAX;
	__atomic_store_n(&slot->ntasks, n + 1, __ATOMIC_RELEASE);
	return n;
}

HIDDEN __attribute__((noinline)) uint32_t sonda__task_find_slow(struct tstate *ts, const char *name, uint32_t kind,
							 uint32_t c)
{
	uint32_t h, i, idx;

	h = hash_name(name, kind);
	for (i = h & (TASK_HASH - 1);; i = (i + 1) & (TASK_HASH - 1)) {
		uint32_t v = ts->thash[i];

		if (!v) {
			idx = task_add(ts, name, kind);
			if (idx == NONE)
				return NONE;
			ts->thash[i] = (uint16_t)(idx + 1);
			break;
		}
		if (same_name(&ts->tasks[v - 1], name, kind)) {
			idx = v - 1;
			break;
		}
	}
	ts->ncache[c].ptr = name;
	ts->ncache[c].idx = idx;
	return idx;
}

HIDDEN void sonda__thread_exit(void *arg)
{
	struct tstate *ts = arg;

	if (!ts || ts == SONDA_DEAD)
		return;
	ts->slot->open_at_exit += ts->depth;
	__atomic_store_n(&ts->slot->state, 2, __ATOMIC_RELEASE);
	sonda__cpu_close(ts);
	sonda__tls = SONDA_DEAD;
	munmap(ts, sizeof(*ts));
}

HIDDEN struct tstate *sonda__thread_start(void)
{
	struct sonda_section *sec = lib.threads;
	unsigned char *slotp;
	struct tstate *ts;
	uint32_t i;

	if (!lib.active)
		return NULL;	/* not yet (or never) initialized: decide later */
	i = __atomic_fetch_add(&sec->used, 1, __ATOMIC_ACQ_REL);
	if (i >= sec->count) {
		__atomic_store_n(&sec->used, sec->count, __ATOMIC_RELAXED);
		__atomic_fetch_add(&lib.hdr->threads_dropped, 1, __ATOMIC_RELAXED);
		sonda__tls = SONDA_DEAD;
		return NULL;
	}
	ts = mmap(NULL, sizeof(*ts), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ts == MAP_FAILED) {
		__atomic_fetch_add(&lib.hdr->threads_dropped, 1, __ATOMIC_RELAXED);
		sonda__tls = SONDA_DEAD;
		return NULL;
	}
	if (region_reserve(sec->offset + (uint64_t)i * sec->entry_size, lib.hdr->slot_tasks_off) < 0 ||
	    (lib.rings && region_reserve(lib.rings->offset + (uint64_t)i * lib.rings->entry_size,
				       lib.rings->entry_size) < 0)) {
		munmap(ts, sizeof(*ts));
		__atomic_fetch_add(&lib.hdr->threads_dropped, 1, __ATOMIC_RELAXED);
		sonda__tls = SONDA_DEAD;
		return NULL;
	}
	slotp = lib.base + sec->offset + (uint64_t)i * sec->entry_size;
	ts->slot = (struct sonda_slot *)slotp;
	ts->tasks = (struct sonda_task_entry *)(slotp + lib.hdr->slot_tasks_off);
	ts->funcs = (struct sonda_func_entry *)(slotp + lib.hdr->slot_funcs_off);
	ts->edges = (struct sonda_edge_entry *)(slotp + lib.hdr->slot_edges_off);
	if (lib.rings)
		ts->ring = (struct sonda_event *)(lib.base + lib.rings->offset + (uint64_t)i * lib.rings->entry_size);
	for (i = 0; i < NAME_CACHE; i++)
		ts->ncache[i].idx = NONE;
	ts->slot->tid = syscall(SYS_gettid);
	if (prctl(PR_GET_NAME, ts->slot->name) != 0)
		ts->slot->name[0] = 0;
	ts->slot->name[SONDA_THREAD_NAME_MAX - 1] = 0;
	if (lib.cpu)
		sonda__cpu_open(ts);
	__atomic_store_n(&ts->slot->state, 1, __ATOMIC_RELEASE);
	if (lib.key_ok)
		pthread_setspecific(lib.key, ts);
	sonda__tls = ts;
	return ts;
}
