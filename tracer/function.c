/* function.c - the -finstrument-functions hooks: calls, own and total time per function and per caller edge, and the module table that names them. */
#include "config.h"

#include <link.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "store/store.h"
#include "tracer/internal.h"

/* Read by the function hooks before anything else: one predictable branch. */
HIDDEN int sonda__functions_on;


static int module_covers(uint64_t addr)
{
	const struct sonda_module *m = (const struct sonda_module *)(lib.base + lib.modules->offset);
	uint32_t n = __atomic_load_n(&lib.modules->used, __ATOMIC_ACQUIRE);

	for (uint32_t i = 0; i < n && i < lib.modules->count; i++)
		if (addr >= m[i].start && addr < m[i].end)
			return 1;
	return 0;
}

static int module_record(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct sonda_module *m = (struct sonda_module *)(lib.base + lib.modules->offset);
	uint64_t start = UINT64_MAX, end = 0;
	const char *path = info->dlpi_name;
	uint32_t n = lib.modules->used;

	(void)size;
	(void)arg;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		if (info->dlpi_addr + ph->p_vaddr < start)
			start = info->dlpi_addr + ph->p_vaddr;
		if (info->dlpi_addr + ph->p_vaddr + ph->p_memsz > end)
			end = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
	}
	if (start >= end || strstr(path, "linux-vdso"))
		return 0;
	for (uint32_t i = 0; i < n; i++)
		if (m[i].start == start && m[i].end == end)
			return 0;
	if (n >= lib.modules->count) {
		lib.hdr->modules_dropped++;
		return 0;
	}
	m[n].base = info->dlpi_addr;
	m[n].start = start;
	m[n].end = end;
	if (!*path) {
		ssize_t k = readlink("/proc/self/exe", m[n].path, SONDA_PATH_MAX - 1);

		m[n].path[k > 0 ? k : 0] = 0;
	} else {
		snprintf(m[n].path, SONDA_PATH_MAX, "%s", path);
	}
	__atomic_store_n(&lib.modules->used, n + 1, __ATOMIC_RELEASE);
	return 0;
}

/* Slow path, once per new function: keeps the module table able to name it
 * after the process is gone. */
HIDDEN void sonda__modules_refresh(uint64_t addr)
{
	if (addr && module_covers(addr))
		return;
	while (atomic_flag_test_and_set_explicit(&lib.modules_lock, memory_order_acquire))
		;
	dl_iterate_phdr(module_record, NULL);
	atomic_flag_clear_explicit(&lib.modules_lock, memory_order_release);
}

static uint32_t func_find(struct tstate *ts, uint64_t addr)
{
	uint32_t i = (uint32_t)((addr * 0x9e3779b97f4a7c15ull) >> 51) & (FUNC_HASH - 1);
	struct sonda_slot *slot = ts->slot;

	for (;; i = (i + 1) & (FUNC_HASH - 1)) {
		uint32_t v = ts->fhash[i], n;

		if (likely(v) && ts->funcs[v - 1].addr == addr)
			return v - 1;
		if (v)
			continue;
		n = slot->nfuncs;
		if (n >= lib.hdr->slot_funcs ||
		    sonda__entry_reserve(ts->funcs, sizeof(*ts->funcs), n, lib.hdr->slot_funcs) < 0) {
			slot->funcs_dropped++;
			return NONE;
		}
		sonda__modules_refresh(addr);
		ts->funcs[n].addr = addr;
		ts->funcs[n].min_ns = INT64_MAX;
		ts->fhash[i] = (uint16_t)(n + 1);
		__atomic_store_n(&slot->nfuncs, n + 1, __ATOMIC_RELEASE);
		return n;
	}
}

static uint32_t edge_find(struct tstate *ts, uint32_t caller, uint32_t callee)
{
	uint64_t key = ((uint64_t)caller << 32) | callee;
	uint32_t i = (uint32_t)((key * 0x9e3779b97f4a7c15ull) >> 50) & (EDGE_HASH - 1);
	struct sonda_slot *slot = ts->slot;

	for (;; i = (i + 1) & (EDGE_HASH - 1)) {
		uint32_t v = ts->ehash[i], n;
		struct sonda_edge_entry *e;

		if (likely(v)) {
			e = &ts->edges[v - 1];
			if (e->callee == ts->funcs[callee].addr &&
			    e->caller == (caller == NONE ? 0 : ts->funcs[caller].addr))
				return v - 1;
			continue;
		}
		n = slot->nedges;
		if (n >= lib.hdr->slot_edges ||
		    sonda__entry_reserve(ts->edges, sizeof(*ts->edges), n, lib.hdr->slot_edges) < 0) {
			slot->edges_dropped++;
			return NONE;
		}
		e = &ts->edges[n];
		e->caller = caller == NONE ? 0 : ts->funcs[caller].addr;
		e->callee = ts->funcs[callee].addr;
		ts->ehash[i] = (uint16_t)(n + 1);
		__atomic_store_n(&slot->nedges, n + 1, __ATOMIC_RELEASE);
		return n;
	}
}

static void func_enter(void *fn)
{
	struct tstate *ts = thread_get();
	struct func_frame *f;
	uint32_t d, caller;

	if (unlikely(!ts))
		return;
	d = ts->fdepth++;
	if (unlikely(d >= FDEPTH_MAX)) {
		ts->slot->depth_dropped++;
		return;
	}
	f = &ts->fstack[d];
	f->func = func_find(ts, (uint64_t)(uintptr_t)fn);
	f->edge = NONE;
	if (likely(f->func != NONE)) {
		ts->factive[f->func]++;
		caller = d > 0 ? ts->fstack[d - 1].func : NONE;
		if (d == 0 || caller != NONE) {
			if (ts->last_caller[f->func] == caller + 2 && ts->last_edge[f->func] != NONE) {
				f->edge = ts->last_edge[f->func];
			} else {
				f->edge = edge_find(ts, caller, f->func);
				ts->last_caller[f->func] = caller + 2;	/* 0: never; 1: no caller */
				ts->last_edge[f->func] = f->edge;
			}
			if (f->edge != NONE)
				ts->eactive[f->edge]++;
		}
	}
	f->child = 0;
	f->t0 = now_ns();
}

static void func_exit(void)
{
	struct tstate *ts = thread_get();
	struct func_frame *f;
	int64_t now, wall, self;
	uint32_t d;

	if (unlikely(!ts))
		return;
	now = now_ns();
	if (unlikely(ts->fdepth == 0)) {
		ts->slot->unbalanced++;
		return;
	}
	d = --ts->fdepth;
	if (unlikely(d >= FDEPTH_MAX))
		return;
	f = &ts->fstack[d];
	wall = now - f->t0;
	self = wall - f->child;
	if (d > 0)
		ts->fstack[d - 1].child += wall;
	ts->slot->calls++;
	if (likely(f->func != NONE)) {
		struct sonda_func_entry *e = &ts->funcs[f->func];

		e->calls++;
		e->self_ns += self;
		if (--ts->factive[f->func] == 0)
			e->total_ns += wall;
		if (wall < e->min_ns)
			e->min_ns = wall;
		if (wall > e->max_ns)
			e->max_ns = wall;
		e->hist[sonda_hist_bucket(wall)]++;
	}
	if (likely(f->edge != NONE)) {
		struct sonda_edge_entry *e = &ts->edges[f->edge];

		e->calls++;
		e->self_ns += self;
		if (--ts->eactive[f->edge] == 0)
			e->total_ns += wall;
	}
}

void __cyg_profile_func_enter(void *fn, void *site) __attribute__((no_instrument_function));
void __cyg_profile_func_exit(void *fn, void *site) __attribute__((no_instrument_function));

void __cyg_profile_func_enter(void *fn, void *site)
{
	(void)site;
	if (likely(!sonda__functions_on))
		return;
	func_enter(fn);
}

void __cyg_profile_func_exit(void *fn, void *site)
{
	(void)fn;
	(void)site;
	if (likely(!sonda__functions_on))
		return;
	func_exit();
}
