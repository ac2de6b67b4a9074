/* test-tracer-region.c - the region contract (tracer/region.h): a hand-built region read back, and bad regions refused. */
#include "config.h"

#include <fcntl.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "store/store.h"
#include "tracer/region.h"
#include "tests/unit/unit.h"

#define SLOTS 2
#define TASKS 4
#define FUNCS 4
#define EDGES 4
#define RING 8

static char path[64];

__attribute__((noinline)) static int named_callee(int x)
{
	return x + 1;
}

__attribute__((noinline)) static int named_caller(int x)
{
	return named_callee(x) * 2;
}

static int exe_base(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	*(uint64_t *)arg = info->dlpi_addr;
	return 1;	/* the first object is the executable */
}

struct layout {
	size_t tasks_off, funcs_off, edges_off, slot_size, threads_off, mods_off, ring_off, size;
};

static struct layout layout_make(void)
{
	struct layout l;

	l.tasks_off = 4096;
	l.funcs_off = l.tasks_off + TASKS * sizeof(struct sonda_task_entry);
	l.edges_off = l.funcs_off + FUNCS * sizeof(struct sonda_func_entry);
	l.slot_size = l.edges_off + EDGES * sizeof(struct sonda_edge_entry);
	l.threads_off = 4096;
	l.mods_off = l.threads_off + SLOTS * l.slot_size;
	l.ring_off = l.mods_off + 2 * sizeof(struct sonda_module);
	l.size = l.ring_off + SLOTS * RING * sizeof(struct sonda_event);
	return l;
}

static void task_set(struct sonda_task_entry *e, const char *name, uint32_t kind, uint64_t calls,
		     int64_t wall, int64_t self, int64_t cpu)
{
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->kind = kind;
	e->calls = calls;
	e->wall_ns = wall;
	e->self_ns = self;
	e->cpu_ns = cpu;
	e->min_ns = wall / (int64_t)calls;
	e->max_ns = wall / (int64_t)calls;
	e->hist[sonda_hist_bucket(wall / (int64_t)calls)] = (uint32_t)calls;
}

/* Writes the region a two-thread program would leave; returns its bytes. */
static unsigned char *region_write(struct layout *l)
{
	unsigned char *m = calloc(1, (*l = layout_make()).size);
	struct sonda_region_header *h = (void *)m;
	struct sonda_module *mod;
	int fd;

	memcpy(h->magic, SONDA_REGION_MAGIC, 8);
	h->version = SONDA_REGION_VERSION;
	h->header_size = sizeof(*h);
	h->file_size = l->size;
	h->pid = 4242;
	h->start_realtime_ns = 1000000000;
	h->end_realtime_ns = 3000000000;
	h->flags = SONDA_FLAG_CPU | SONDA_FLAG_FUNCTIONS | SONDA_FLAG_TIMELINE;
	h->slot_tasks = TASKS;
	h->slot_funcs = FUNCS;
	h->slot_edges = EDGES;
	h->ring_events = RING;
	h->slot_tasks_off = (uint32_t)l->tasks_off;
	h->slot_funcs_off = (uint32_t)l->funcs_off;
	h->slot_edges_off = (uint32_t)l->edges_off;
	h->hist_buckets = SONDA_HIST_BUCKETS;
	h->spans_bad = 1;
	snprintf(h->command, sizeof(h->command), "./prog --flag");
	h->nsections = 4;
	h->sections[0] = (struct sonda_section){ SONDA_SECTION_THREADS, (uint32_t)l->slot_size,
						 l->threads_off, SLOTS * l->slot_size, SLOTS, SLOTS };
	h->sections[1] = (struct sonda_section){ 99, 1, 0, 0, 0, 0 };	/* unknown: skipped */
	h->sections[2] = (struct sonda_section){ SONDA_SECTION_MODULES, sizeof(struct sonda_module),
						 l->mods_off, 2 * sizeof(struct sonda_module), 2, 1 };
	h->sections[3] = (struct sonda_section){ SONDA_SECTION_RING, RING * sizeof(struct sonda_event),
						 l->ring_off, SLOTS * RING * sizeof(struct sonda_event), SLOTS, 0 };
	mod = (void *)(m + l->mods_off);
	dl_iterate_phdr(exe_base, &mod->base);
	mod->start = 0;
	mod->end = UINT64_MAX;
	if (readlink("/proc/self/exe", mod->path, sizeof(mod->path) - 1) < 0)
		mod->path[0] = 0;
	for (int s = 0; s < SLOTS; s++) {
		unsigned char *sp = m + l->threads_off + (size_t)s * l->slot_size;
		struct sonda_slot *slot = (void *)sp;
		struct sonda_task_entry *t = (void *)(sp + l->tasks_off);
		struct sonda_func_entry *f = (void *)(sp + l->funcs_off);
		struct sonda_edge_entry *e = (void *)(sp + l->edges_off);
		struct sonda_event *ring = (void *)(m + l->ring_off + (size_t)s * RING * sizeof(*ring));

		slot->state = 1;
		slot->tid = s ? 4243 : 4242;
		snprintf(slot->name, sizeof(slot->name), s ? "worker" : "prog");
		slot->ntasks = 2;
		task_set(&t[0], "outer", STORE_TASK_TASK, 10, 1000000, 400000, 900000);
		task_set(&t[1], "inner", STORE_TASK_TASK, 20, 600000, 600000, 500000);
		t[2].calls = 99;	/* beyond ntasks: not published, not read */
		slot->nfuncs = 2;
		f[0] = (struct sonda_func_entry){ .addr = (uint64_t)(uintptr_t)named_caller, .calls = 5,
			.total_ns = 5000, .self_ns = 3000, .min_ns = 900, .max_ns = 1100 };
		f[1] = (struct sonda_func_entry){ .addr = (uint64_t)(uintptr_t)named_callee, .calls = 5,
			.total_ns = 2000, .self_ns = 2000, .min_ns = 300, .max_ns = 500 };
		f[1].hist[sonda_hist_bucket(400)] = 5;
		slot->nedges = 2;
		e[0] = (struct sonda_edge_entry){ 0, (uint64_t)(uintptr_t)named_caller, 5, 5000, 3000 };
		e[1] = (struct sonda_edge_entry){ (uint64_t)(uintptr_t)named_caller,
						  (uint64_t)(uintptr_t)named_callee, 5, 2000, 2000 };
		/* 10 events in a ring of 8: the first 2 were overwritten */
		for (int i = 0; i < 10; i++)
			ring[i % RING] = (struct sonda_event){ i * 1000, 500, (uint32_t)(i & 1), (uint32_t)(i & 1) };
		slot->ring_written = 10;
		slot->unbalanced = s;
	}
	snprintf(path, sizeof(path), "/tmp/sonda-test-region.%ld", (long)getpid());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, m, l->size) != (ssize_t)l->size)
		printf("# cannot write %s\n", path);
	if (fd >= 0)
		close(fd);
	return m;
}

static const struct store_task *row(struct store_profile *p, uint32_t thread, const char *name,
				    const char *parent, uint32_t kind)
{
	for (uint32_t i = 0; i < store_ntasks(p); i++) {
		const struct store_task *t = store_task_get(p, i);

		if (t->thread == thread && t->kind == kind && !strcmp(store_string(p, t->name), name) &&
		    !strcmp(store_string(p, t->parent), parent))
			return t;
	}
	return NULL;
}

static void test_hist_matches_store(void)
{
	for (int64_t v = -5; v < 5000000000LL; v = v < 100 ? v + 1 : v + v / 7)
		CHECK_EQ_INT(sonda_hist_bucket(v), store_hist_bucket(v));
	CHECK_EQ_INT(sonda_hist_bucket(INT64_MAX), store_hist_bucket(INT64_MAX));
	for (int b = 0; b < (int)SONDA_HIST_BUCKETS; b++)
		CHECK_EQ_INT(sonda_hist_value(b), store_hist_value(b));
	CHECK_EQ_INT(SONDA_HIST_BUCKETS, STORE_HIST_BUCKETS);
}

static void test_load(void)
{
	struct layout l;
	unsigned char *m = region_write(&l);
	struct store_profile *p = store_profile_new();
	char err[256] = "";
	uint32_t sid = sonda_region_load(path, p, err, sizeof(err));
	const struct store_task *t;
	const struct store_session *s;

	CHECK(sid != 0);
	if (!sid) {
		printf("# %s\n", err);
		goto out;
	}
	s = store_session_get(p, sid);
	CHECK_EQ_STR(s->runtime, "libsonda");
	CHECK_EQ_STR(s->mode, "trace");
	CHECK_EQ_STR(s->command, "./prog --flag");
	CHECK_EQ_INT(s->pid, 4242);
	CHECK_EQ_INT(s->end_ns, 3000000000LL);
	CHECK_EQ_INT(s->errors, 2);	/* 1 unbalanced end + 1 bad span finish */
	CHECK(strstr(s->last_error, "1 ends without a begin") != NULL);
	CHECK(strstr(s->last_error, "4 timeline intervals overwritten") != NULL);
	CHECK_EQ_INT(store_nthreads(p), 3);	/* row 0 + two */
	CHECK_EQ_STR(store_thread_get(p, 1)->role, "main");
	CHECK_EQ_STR(store_thread_get(p, 2)->name, "worker");
	t = row(p, 1, "outer", "", STORE_TASK_TASK);
	CHECK(t && t->calls == 10 && t->wall_ns == 1000000 && t->self_ns == 400000 && t->cpu_ns == 900000);
	t = row(p, 0, "inner", "", STORE_TASK_TASK);
	CHECK(t && t->calls == 40 && t->wall_ns == 1200000 && t->min_ns == 30000);
	CHECK(t && t->hist[store_hist_bucket(30000)] == 40);
	CHECK(row(p, 0, "outer", "", STORE_TASK_TASK) && store_ntasks(p) == 3 * 5)	/* 2 tasks, 2 functions, 1 edge; 2 threads + merged */;
	t = row(p, 0, "named_caller", "", STORE_TASK_FUNCTION);
	CHECK(t && t->calls == 10 && t->wall_ns == 10000 && t->self_ns == 6000);
	t = row(p, 0, "named_callee", "", STORE_TASK_FUNCTION);
	CHECK(t && t->hist[store_hist_bucket(400)] == 10);
	t = row(p, 2, "named_callee", "named_caller", STORE_TASK_FUNCTION);
	CHECK(t && t->calls == 5 && t->wall_ns == 2000);
	CHECK(!row(p, 1, "named_caller", "named_caller", STORE_TASK_FUNCTION));
	CHECK_EQ_INT(store_nevents(p), 2 * RING);
	CHECK_EQ_INT(store_event_get(p, 0)->start_ns, 2000);	/* oldest kept */
	CHECK_EQ_STR(store_string(p, store_event_get(p, 1)->name), "inner");
	CHECK_EQ_INT(store_event_get(p, 1)->depth, 1);
out:
	store_profile_free(p);
	unlink(path);
	free(m);
}

/* Rewrites the good region with one change and expects a refusal. */
static void expect_refused(void (*spoil)(unsigned char *m, struct layout *l), const char *why, size_t cut)
{
	struct layout l;
	unsigned char *m = region_write(&l);
	struct store_profile *p = store_profile_new();
	char err[256] = "";
	int fd;

	spoil(m, &l);
	fd = open(path, O_RDWR | O_TRUNC);
	if (fd >= 0) {
		if (write(fd, m, l.size - cut) < 0)
			printf("# write failed\n");
		close(fd);
	}
	CHECK_EQ_INT(sonda_region_load(path, p, err, sizeof(err)), 0);
	CHECK(strstr(err, why) != NULL);
	if (!strstr(err, why))
		printf("#   got \"%s\", wanted \"%s\"\n", err, why);
	CHECK_EQ_INT(store_nsessions(p), 1);	/* nothing added */
	store_profile_free(p);
	unlink(path);
	free(m);
}

static void spoil_magic(unsigned char *m, struct layout *l) { (void)l; m[0] = 'X'; }
static void spoil_version(unsigned char *m, struct layout *l) { (void)l; ((struct sonda_region_header *)m)->version = 99; }
static void spoil_none(unsigned char *m, struct layout *l) { (void)m; (void)l; }
static void spoil_threads(unsigned char *m, struct layout *l)
{
	(void)l;
	((struct sonda_region_header *)m)->sections[0].count = 1u << 30;
}
static void spoil_offsets(unsigned char *m, struct layout *l)
{
	(void)l;
	((struct sonda_region_header *)m)->slot_tasks = 1u << 20;
}

static void test_refusals(void)
{
	struct store_profile *p = store_profile_new();
	char err[256];

	CHECK_EQ_INT(sonda_region_load("/nonexistent/sonda-1", p, err, sizeof(err)), 0);
	CHECK(strstr(err, "No such file") != NULL);
	store_profile_free(p);
	expect_refused(spoil_magic, "not a libsonda region", 0);
	expect_refused(spoil_version, "version 99 is not supported", 0);
	expect_refused(spoil_none, "truncated region", 100);
	expect_refused(spoil_threads, "corrupt region", 0);
	expect_refused(spoil_offsets, "corrupt region", 0);
}

static void test_torn_tolerant(void)
{
	struct layout l;
	unsigned char *m = region_write(&l);
	struct sonda_task_entry *t = (void *)(m + l.threads_off + l.tasks_off);
	struct store_profile *p = store_profile_new();
	char err[256];
	int fd;

	t->seq = 7;	/* the owner died mid-update: taken as it stands */
	memset(t->name, 'y', sizeof(t->name));	/* no NUL: cut, never overrun */
	fd = open(path, O_RDWR | O_TRUNC);
	if (fd >= 0) {
		if (write(fd, m, l.size) < 0)
			printf("# write failed\n");
		close(fd);
	}
	CHECK(sonda_region_load(path, p, err, sizeof(err)) != 0);
	CHECK(row(p, 1, "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy", "", STORE_TASK_TASK) != NULL);
	store_profile_free(p);
	unlink(path);
	free(m);
}

int main(void)
{
	RUN(test_hist_matches_store);
	RUN(test_load);
	RUN(test_refusals);
	RUN(test_torn_tolerant);
	return unit_done();
}
