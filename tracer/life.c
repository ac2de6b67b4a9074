/* life.c - libsonda's life cycle: the region made at start and in a forked child, and the store written at exit.
 *
 * Hot path rules (task.c, function.c): after a thread's first event, no
 * lock, no system call, no I/O, no allocation.  Each thread owns one slot
 * of the shared region and is its only writer; process-wide state is
 * written only on slow paths (thread start, span pool, modules, flush).
 * libsonda never exits, aborts or changes what the host sees: anything it
 * cannot do it counts.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tracer/internal.h"
#include "tracer/sonda.h"

/* Process-wide state, written at init, fork and flush only. */
HIDDEN struct sonda_lib lib = { .flush_lock = PTHREAD_MUTEX_INITIALIZER, .modules_lock = ATOMIC_FLAG_INIT, .fd = -1 };
HIDDEN __thread struct tstate *sonda__tls TLS_IE;
HIDDEN struct tstate sonda__dead;	/* sonda__tls of a thread that must record nothing */

HIDDEN int sonda__env_on(const char *name)
{
	const char *v = getenv(name);

	return v && *v && strcmp(v, "0") != 0;
}

static void command_read(char *buf, size_t len)
{
	int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	buf[0] = 0;
	if (fd < 0)
		return;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = 0;
	for (ssize_t i = 0; i < n - 1; i++)
		if (!buf[i])
			buf[i] = ' ';
}

static size_t page_up(size_t n)
{
	return (n + 4095) & ~(size_t)4095;
}

/* Where each part of the region goes. */
struct layout {
	size_t tasks_off, funcs_off, edges_off, nfuncs, nedges, slot_size, size;
	struct sonda_section secs[SONDA_SECTIONS_MAX];
	int nsec;
};

static void section_add(struct layout *l, struct sonda_section s)
{
	l->secs[l->nsec++] = s;
	l->size += s.size;
}

static void layout_plan(struct layout *l)
{
	size_t ring = SONDA_RING_EVENTS * sizeof(struct sonda_event);

	memset(l, 0, sizeof(*l));
	l->tasks_off = page_up(sizeof(struct sonda_slot));
	/* function tables only when the hooks are on: 11 MB of address space
	 * per thread otherwise unused */
	l->nfuncs = lib.functions ? SONDA_FUNCS : 0;
	l->nedges = lib.functions ? SONDA_EDGES : 0;
	l->funcs_off = l->tasks_off + page_up(SONDA_TASKS * sizeof(struct sonda_task_entry));
	l->edges_off = l->funcs_off + page_up(l->nfuncs * sizeof(struct sonda_func_entry));
	l->slot_size = l->edges_off + page_up(l->nedges * sizeof(struct sonda_edge_entry));
	l->size = page_up(sizeof(struct sonda_region_header));
	section_add(l, (struct sonda_section){ SONDA_SECTION_THREADS, (uint32_t)l->slot_size, l->size,
					       l->slot_size * SONDA_SLOTS, SONDA_SLOTS, 0 });
	section_add(l, (struct sonda_section){ SONDA_SECTION_MODULES, sizeof(struct sonda_module), l->size,
					       page_up(SONDA_MODULES * sizeof(struct sonda_module)),
					       SONDA_MODULES, 0 });
	if (lib.timeline)
		section_add(l, (struct sonda_section){ SONDA_SECTION_RING, (uint32_t)ring, l->size,
						       ring * SONDA_SLOTS, SONDA_SLOTS, 0 });
	/* A new kind of data (allocation sites, issue 7) adds its section
	 * here, page aligned, and finds it again with sonda__section().
	 * Sparse: costs nothing until allocations are tracked. */
	sonda__alloc_section(&l->secs[l->nsec], l->size);
	section_add(l, l->secs[l->nsec]);
}

/* The region file, sized and mapped, its header and module pages given
 * memory (the rest is sparse); NULL when it cannot be made. */
static void *region_map(const struct layout *l)
{
	int fd = open(lib.region_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	void *m = MAP_FAILED;

	if (fd < 0)
		return NULL;
	fchmod(fd, 0600);
	if (ftruncate(fd, (off_t)l->size) == 0)
		m = mmap(NULL, l->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED || posix_fallocate(fd, 0, (off_t)l->secs[0].offset) == ENOSPC ||
	    posix_fallocate(fd, (off_t)l->secs[1].offset, (off_t)l->secs[1].size) == ENOSPC) {
		if (m != MAP_FAILED)
			munmap(m, l->size);
		close(fd);
		unlink(lib.region_path);
		return NULL;
	}
	/* kept high, out of the way of a host that reuses low descriptors */
	if (lib.fd >= 0)
		close(lib.fd);
	lib.fd = fcntl(fd, F_DUPFD_CLOEXEC, 512);
	if (lib.fd < 0)
		lib.fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	close(fd);
	return m;
}

static void header_fill(struct sonda_region_header *h, const struct layout *l)
{
	const char *root = getenv("SONDA_ROOT_PID");

	memcpy(h->magic, SONDA_REGION_MAGIC, 8);
	h->version = SONDA_REGION_VERSION;
	h->header_size = sizeof(*h);
	h->file_size = l->size;
	h->pid = getpid();
	h->root_pid = root ? atol(root) : 0;
	h->start_realtime_ns = real_ns();
	h->slot_tasks = SONDA_TASKS;
	h->slot_funcs = (uint32_t)l->nfuncs;
	h->slot_edges = (uint32_t)l->nedges;
	h->ring_events = lib.timeline ? SONDA_RING_EVENTS : 0;
	h->slot_tasks_off = (uint32_t)l->tasks_off;
	h->slot_funcs_off = (uint32_t)l->funcs_off;
	h->slot_edges_off = (uint32_t)l->edges_off;
	h->hist_buckets = SONDA_HIST_BUCKETS;
	h->nsections = (uint32_t)l->nsec;
	memcpy(h->sections, l->secs, sizeof(l->secs[0]) * (size_t)l->nsec);
	command_read(h->command, sizeof(h->command));
}

static void sections_find(struct sonda_region_header *h)
{
	lib.threads = lib.modules = lib.rings = lib.alloc = NULL;
	for (uint32_t i = 0; i < h->nsections; i++) {
		struct sonda_section *s = &h->sections[i];

		if (s->kind == SONDA_SECTION_THREADS)
			lib.threads = s;
		else if (s->kind == SONDA_SECTION_MODULES)
			lib.modules = s;
		else if (s->kind == SONDA_SECTION_RING)
			lib.rings = s;
		else if (s->kind == SONDA_SECTION_ALLOC)
			lib.alloc = s;
	}
}

/* Creates and maps this process's region; 0 or -1. */
static int region_create(int forked)
{
	const char *env = getenv("SONDA_REGION");
	const char *root = getenv("SONDA_ROOT_PID");
	struct sonda_region_header *h;
	struct layout l;

	if (env && *env && !forked && (!root || atol(root) == (long)getpid()))
		snprintf(lib.region_path, sizeof(lib.region_path), "%s", env);
	else
		sonda_region_default_path((long)getpid(), lib.region_path, sizeof(lib.region_path));
	layout_plan(&l);
	if (!(lib.base = region_map(&l)))
		return -1;
	h = lib.hdr = (struct sonda_region_header *)lib.base;
	header_fill(h, &l);
	sections_find(h);
	if (lib.tsc)
		sonda__tsc_start();
	else
		lib.mono0 = mono_ns();
	h->start_mono_ns = lib.mono0;
	if (lib.alloc)
		sonda__alloc_attach(lib.base, lib.alloc, lib.mono0);
	h->flags = (lib.functions ? SONDA_FLAG_FUNCTIONS : 0) | (lib.timeline ? SONDA_FLAG_TIMELINE : 0) |
		   (lib.cpu ? SONDA_FLAG_CPU : 0) | (lib.tsc ? SONDA_FLAG_TSC : 0);
	sonda__modules_refresh(0);
	__atomic_store_n(&h->state, SONDA_STATE_LIVE, __ATOMIC_RELEASE);
	return 0;
}

static void fork_prepare(void)
{
	pthread_mutex_lock(&lib.flush_lock);
	sonda__alloc_fork_prepare();
}

static void fork_parent(void)
{
	sonda__alloc_fork_parent();
	pthread_mutex_unlock(&lib.flush_lock);
}

/* The child starts from nothing: its own region, output and slots. */
static void fork_child(void)
{
	struct tstate *ts = sonda__tls;

	sonda__alloc_fork_child();
	pthread_mutex_init(&lib.flush_lock, NULL);
	if (!lib.active)
		return;
	sonda__functions_on = 0;
	lib.active = 0;
	if (ts && ts != SONDA_DEAD) {
		sonda__cpu_close(ts);
		munmap(ts, sizeof(*ts));
	}
	sonda__tls = NULL;
	if (lib.key_ok)
		pthread_setspecific(lib.key, NULL);
	munmap(lib.base, lib.hdr->file_size);
	lib.base = NULL;
	lib.hdr = NULL;
	sonda__output_choose(1);
	if (region_create(1) < 0)
		return;
	sonda__span_reset();
	lib.active = 1;
	sonda__functions_on = lib.functions;
}

static int first_copy(void)
{
	void *first = dlsym(RTLD_DEFAULT, "sonda_task_begin");

	return !first || first == (void *)sonda_task_begin_self;
}

__attribute__((constructor)) static void sonda_init(void)
{
	if (lib.active || !first_copy() || sonda__env_on("SONDA_DISABLE"))
		return;
	lib.functions = sonda__env_on("SONDA_FUNCTIONS");
	lib.timeline = sonda__env_on("SONDA_TIMELINE");
	lib.cpu = !getenv("SONDA_CPU") || sonda__env_on("SONDA_CPU");
	lib.tsc = sonda__tsc_usable() && (!getenv("SONDA_CLOCK") || strcmp(getenv("SONDA_CLOCK"), "monotonic"));
	sonda__output_choose(0);
	if (region_create(0) < 0)
		return;
	lib.key_ok = pthread_key_create(&lib.key, sonda__thread_exit) == 0;
	pthread_atfork(fork_prepare, fork_parent, fork_child);
	sonda__span_reset();
	lib.active = 1;
	sonda__functions_on = lib.functions;
}

__attribute__((destructor)) static void sonda_fini(void)
{
	struct tstate *ts = sonda__tls;
	int rc;

	if (!lib.active)
		return;
	pthread_mutex_lock(&lib.flush_lock);
	sonda__functions_on = 0;
	if (ts && ts != SONDA_DEAD)
		ts->slot->open_at_exit += ts->depth;
	rc = sonda__flush_locked(1);
	if (rc == 0 && !sonda__env_on("SONDA_KEEP_REGION"))
		unlink(lib.region_path);
	lib.active = 0;
	pthread_mutex_unlock(&lib.flush_lock);
}

const char *sonda__region_path(void)
{
	return lib.active ? lib.region_path : NULL;
}

void *sonda__section(uint32_t kind, struct sonda_section **sec)
{
	if (!lib.active)
		return NULL;
	for (uint32_t i = 0; i < lib.hdr->nsections; i++)
		if (lib.hdr->sections[i].kind == kind) {
			if (sec)
				*sec = &lib.hdr->sections[i];
			return lib.base + lib.hdr->sections[i].offset;
		}
	return NULL;
}
