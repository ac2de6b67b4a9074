/* alloc-load.c - reads the alloc section of a libsonda region into store allocs, snapshots and snapshot sites. */
#include "config.h"

#include <dlfcn.h>
#include <elfutils/libdw.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store.h"
#include "tracer/alloc.h"
#include "tracer/region.h"
#include "tracer/symbols.h"

/* Sums per store call site: two raw stacks can name the same frames. */
struct agg {
	uint32_t callsite;
	uint64_t allocs, frees, bytes, live_count;
	int64_t live_bytes;
	uint64_t peak;
};

struct aggs {
	struct agg *v;
	size_t n, cap;
	uint32_t *hash;		/* index + 1 */
	size_t hcap;
};

static struct agg *agg_get(struct aggs *a, uint32_t callsite)
{
	size_t j;

	if ((a->n + 1) * 2 > a->hcap) {
		size_t ncap = a->hcap ? a->hcap * 2 : 256;
		uint32_t *nh = calloc(ncap, sizeof(*nh));

		if (!nh)
			return NULL;
		for (size_t i = 0; i < a->n; i++) {
			j = (a->v[i].callsite * 0x9e3779b1u) & (ncap - 1);
			while (nh[j])
				j = (j + 1) & (ncap - 1);
			nh[j] = (uint32_t)(i + 1);
		}
		free(a->hash);
		a->hash = nh;
		a->hcap = ncap;
	}
	for (j = (callsite * 0x9e3779b1u) & (a->hcap - 1); a->hash[j]; j = (j + 1) & (a->hcap - 1))
		if (a->v[a->hash[j] - 1].callsite == callsite)
			return &a->v[a->hash[j] - 1];
	if (a->n == a->cap) {
		size_t ncap = a->cap ? a->cap * 2 : 256;
		struct agg *nv = realloc(a->v, ncap * sizeof(*nv));

		if (!nv)
			return NULL;
		a->v = nv;
		a->cap = ncap;
	}
	memset(&a->v[a->n], 0, sizeof(a->v[0]));
	a->v[a->n].callsite = callsite;
	a->hash[j] = (uint32_t)(++a->n);
	return &a->v[a->n - 1];
}

static void aggs_clear(struct aggs *a)
{
	a->n = 0;
	if (a->hash)
		memset(a->hash, 0, a->hcap * sizeof(*a->hash));
}

static void aggs_free(struct aggs *a)
{
	free(a->v);
	free(a->hash);
	memset(a, 0, sizeof(*a));
}

typedef char *(*demangle_fn)(const char *, char *, size_t *, int *);

/* Return addresses -> store frames, through the region's module table. */
struct framer {
	struct store_profile *p;
	const struct sonda_module *mods;
	uint32_t nmods;
	struct symtab **tabs;
	Dwarf **dw;		/* per module, opened lazily; NULL without debug info */
	int *dwfd;		/* -1 untried, -2 none */
	demangle_fn demangle;
	int demangle_tried;
	long pid;
	struct { uint64_t addr; uint32_t id; } *cache;
	size_t cap, n;
};

/* C++ names read as users wrote them.  Inside the traced process only a
 * libstdc++ it already loaded is used: loading one into a C program at
 * its exit would run foreign constructors there. */
static demangle_fn demangler_find(long region_pid)
{
	void *h, *fn = dlsym(RTLD_DEFAULT, "__cxa_demangle");

	if (!fn && region_pid != (long)getpid() && (h = dlopen("libstdc++.so.6", RTLD_LAZY | RTLD_LOCAL)))
		fn = dlsym(h, "__cxa_demangle");
	return (demangle_fn)fn;
}

/* The source line of vaddr (a link-time address) in module i, 0 when
 * its file has no DWARF line table covering it. */
static int line_of(struct framer *f, uint32_t i, const char *path, uint64_t vaddr, const char **file)
{
	Dwarf_Die cu;
	Dwarf_Line *l;
	int line = 0;

	if (f->dwfd[i] == -1) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);

		f->dw[i] = fd >= 0 ? dwarf_begin(fd, DWARF_C_READ) : NULL;
		if (!f->dw[i] && fd >= 0)
			close(fd);
		f->dwfd[i] = f->dw[i] ? fd : -2;
	}
	if (!f->dw[i] || !dwarf_addrdie(f->dw[i], vaddr, &cu) || !(l = dwarf_getsrc_die(&cu, vaddr)))
		return 0;
	*file = dwarf_linesrc(l, NULL, NULL);
	if (!*file || dwarf_lineno(l, &line) != 0)
		return 0;
	return line;
}

static uint32_t frame_make(struct framer *f, uint64_t addr)
{
	char buf[SONDA_PATH_MAX + 64], path[SONDA_PATH_MAX];
	struct store_frame fr;
	const char *slash, *name;

	memset(&fr, 0, sizeof(fr));
	fr.kind = STORE_KIND_NATIVE;
	snprintf(buf, sizeof(buf), "0x%llx", (unsigned long long)addr);
	for (uint32_t i = 0; i < f->nmods; i++) {
		const struct sonda_module *m = &f->mods[i];

		if (addr < m->start || addr >= m->end)
			continue;
		memcpy(path, m->path, sizeof(path));
		path[sizeof(path) - 1] = 0;
		if (!f->tabs[i])
			f->tabs[i] = sym_open(path);
		/* a return address: the call is the byte before it */
		name = f->tabs[i] ? sym_find(f->tabs[i], addr - 1 - m->base) : NULL;
		slash = strrchr(path, '/');
		if (name && !strncmp(name, "_Z", 2) && !f->demangle_tried) {
			f->demangle = demangler_find(f->pid);
			f->demangle_tried = 1;
		}
		if (name && !strncmp(name, "_Z", 2) && f->demangle) {
			int st = -1;
			char *d = f->demangle(name, NULL, NULL, &st);

			snprintf(buf, sizeof(buf), "%s", st == 0 && d ? d : name);
			free(d);
		} else if (name) {
			snprintf(buf, sizeof(buf), "%s", name);
		}
		else
			snprintf(buf, sizeof(buf), "%s+0x%llx", slash ? slash + 1 : path,
				 (unsigned long long)(addr - m->base));
		fr.module = store_string_intern(f->p, slash ? slash + 1 : path);
		{
			const char *file = NULL;

			fr.line = line_of(f, i, path, addr - 1 - m->base, &file);
			if (fr.line > 0 && file)
				fr.file = store_string_intern(f->p, file);
			else
				fr.line = 0;
		}
		break;
	}
	fr.function = store_string_intern(f->p, buf);
	return store_frame_intern(f->p, &fr);
}

static uint32_t frame_of(struct framer *f, uint64_t addr)
{
	size_t j;

	if ((f->n + 1) * 2 > f->cap) {
		size_t ncap = f->cap ? f->cap * 2 : 1024;
		__typeof__(f->cache) nc = calloc(ncap, sizeof(*nc));

		if (!nc)
			return frame_make(f, addr);
		for (size_t i = 0; i < f->cap; i++)
			if (f->cache[i].addr) {
				j = (f->cache[i].addr * 0x9e3779b97f4a7c15ull >> 20) & (ncap - 1);
				while (nc[j].addr)
					j = (j + 1) & (ncap - 1);
				nc[j] = f->cache[i];
			}
		free(f->cache);
		f->cache = nc;
		f->cap = ncap;
	}
	for (j = (addr * 0x9e3779b97f4a7c15ull >> 20) & (f->cap - 1); f->cache[j].addr; j = (j + 1) & (f->cap - 1))
		if (f->cache[j].addr == addr)
			return f->cache[j].id;
	f->cache[j].addr = addr;
	f->cache[j].id = frame_make(f, addr);
	f->n++;
	return f->cache[j].id;
}

static void note_add(char *note, size_t len, const char *fmt, ...)
{
	size_t n = strlen(note);
	va_list ap;

	if (n + 3 >= len)
		return;
	if (n) {
		memcpy(note + n, "; ", 3);
		n += 2;
	}
	va_start(ap, fmt);
	vsnprintf(note + n, len - n, fmt, ap);
	va_end(ap);
}

static const struct sonda_section *section_of(const struct sonda_region_header *rh, uint32_t kind,
					      uint64_t file_size)
{
	for (uint32_t i = 0; i < rh->nsections && i < SONDA_SECTIONS_MAX; i++) {
		const struct sonda_section *s = &rh->sections[i];

		if (s->kind == kind && s->offset <= file_size && s->size <= file_size - s->offset)
			return s;
	}
	return NULL;
}

static uint64_t unscale(uint64_t v, uint32_t shift)
{
	return shift ? (v + (1ull << (shift - 1))) >> shift : v;
}

/* Adds every thread slot's deltas into its site's counters (sc: used
 * site entries copied out): the slots are where each thread counts. */
static void slots_add(const struct sonda_alloc_header *h, const unsigned char *sb, uint64_t sec_size,
		      struct sonda_alloc_site *sc, uint32_t used)
{
	uint32_t nthreads = __atomic_load_n(&((const struct sonda_alloc_header *)sb)->threads_used, __ATOMIC_ACQUIRE);

	if (!h->threads_off || h->threads_off > sec_size || nthreads > h->threads_max ||
	    h->thread_size < ((uint64_t)h->sites_max + 2) * sizeof(struct sonda_alloc_delta) ||
	    (uint64_t)h->threads_max * h->thread_size > sec_size - h->threads_off)
		return;
	for (uint32_t u = 0; u < nthreads; u++) {
		const unsigned char *slot = sb + h->threads_off + (uint64_t)u * h->thread_size;
		uint32_t hi = __atomic_load_n(&((const struct sonda_alloc_thread *)slot)->sites_hi, __ATOMIC_ACQUIRE);

		if (hi > used)
			hi = used;
		for (uint32_t i = 0; i < hi; i++) {
			struct sonda_alloc_delta d;

			memcpy(&d, slot + (2 + (uint64_t)i) * sizeof(d), sizeof(d));
			sc[i].allocs += d.allocs;
			sc[i].frees += d.frees;
			sc[i].bytes += d.bytes;
			sc[i].live_bytes += d.live_bytes;
		}
	}
}

/* The store call site of every raw site below used. */
static int sites_map(const struct sonda_alloc_header *h, const unsigned char *sites, uint32_t used,
		     struct framer *f, uint32_t *cs)
{
	uint32_t ids[SONDA_ALLOC_FRAMES_MAX];

	for (uint32_t i = 0; i < used; i++) {
		const struct sonda_alloc_site *s = (const void *)(sites + (uint64_t)i * h->site_size);
		const uint64_t *fr = sonda_alloc_frames(s);
		uint32_t n = s->nframes < h->nframes ? s->nframes : h->nframes;

		for (uint32_t k = 0; k < n; k++)
			ids[k] = frame_of(f, fr[n - 1 - k]);
		cs[i] = n ? store_callsite_from_stack(f->p, ids, n) : 0;
	}
	return 0;
}

static void snaps_load(const struct sonda_alloc_header *h, const unsigned char *area, uint64_t used_bytes,
		       uint32_t nsites, const uint32_t *cs, struct store_profile *p, uint32_t session,
		       struct aggs *a)
{
	uint64_t off = 0;
	uint32_t shift = h->count_shift;

	while (off + sizeof(struct sonda_alloc_snap) <= used_bytes) {
		struct sonda_alloc_snap r;
		const struct sonda_alloc_snap_site *ss;
		uint32_t sid;

		memcpy(&r, area + off, sizeof(r));
		off += sizeof(r);
		if ((uint64_t)r.nsites * sizeof(*ss) > used_bytes - off)
			break;
		ss = (const void *)(area + off);
		off += (uint64_t)r.nsites * sizeof(*ss);
		r.label[sizeof(r.label) - 1] = 0;
		sid = store_snapshot_add(p, session, r.label, r.time_ns);
		if (!sid)
			continue;
		store_snapshot_set_traced(p, sid, (int64_t)r.live_bytes < 0 ? 0 : r.live_bytes, r.peak_bytes);
		aggs_clear(a);
		for (uint32_t i = 0; i < r.nsites; i++) {
			struct sonda_alloc_snap_site x;
			struct agg *g;

			memcpy(&x, &ss[i], sizeof(x));
			if (x.site >= nsites || !(g = agg_get(a, cs[x.site])))
				continue;
			g->allocs += x.allocs;
			g->bytes += x.bytes;
			g->live_count += x.live_count;
			g->live_bytes += x.live_bytes;
		}
		for (size_t i = 0; i < a->n; i++) {
			struct store_snapshot_site row;

			row.snapshot = sid;
			row.callsite = a->v[i].callsite;
			row.allocs = unscale(a->v[i].allocs, shift);
			row.bytes = a->v[i].bytes;
			row.live_count = unscale(a->v[i].live_count, shift);
			row.live_bytes = a->v[i].live_bytes > 0 ? (uint64_t)a->v[i].live_bytes : 0;
			store_snapshot_site_add(p, &row);
		}
	}
}

int sonda_alloc_load(const unsigned char *base, uint64_t file_size, struct store_profile *p,
		     uint32_t session, char *note, size_t notelen)
{
	const struct sonda_region_header *rh = (const void *)base;
	const struct sonda_section *sec, *msec;
	struct sonda_alloc_header h;
	const unsigned char *sb;
	struct framer f;
	struct aggs a;
	struct sonda_alloc_site *sc;
	uint32_t used, *cs;

	if (file_size < sizeof(*rh) || !(sec = section_of(rh, SONDA_SECTION_ALLOC, file_size)) ||
	    sec->size < sizeof(h))
		return -1;
	sb = base + sec->offset;
	memcpy(&h, sb, sizeof(h));
	if (h.magic != SONDA_ALLOC_MAGIC || h.header_size != sizeof(h))
		return -1;
	if (h.state != SONDA_ALLOC_ON)
		return 0;
	used = __atomic_load_n(&((const struct sonda_alloc_header *)sb)->sites_used, __ATOMIC_ACQUIRE);
	if (h.nframes > SONDA_ALLOC_FRAMES_MAX || h.site_size < sizeof(struct sonda_alloc_site) + 8ull * h.nframes ||
	    h.sites_off > sec->size || (uint64_t)h.sites_max * h.site_size > sec->size - h.sites_off ||
	    h.snaps_off > sec->size || h.snaps_size > sec->size - h.snaps_off || h.snaps_used > h.snaps_size ||
	    h.count_shift > 16) {
		note_add(note, notelen, "allocation data corrupt, skipped");
		return -1;
	}
	if (used > h.sites_max)
		used = h.sites_max;
	memset(&f, 0, sizeof(f));
	memset(&a, 0, sizeof(a));
	f.p = p;
	f.pid = (long)rh->pid;
	msec = section_of(rh, SONDA_SECTION_MODULES, file_size);
	if (msec && msec->entry_size >= sizeof(struct sonda_module)) {
		uint32_t n = __atomic_load_n(&msec->used, __ATOMIC_ACQUIRE);
		uint64_t fit = msec->size / sizeof(struct sonda_module);

		f.mods = (const void *)(base + msec->offset);
		f.nmods = n < msec->count ? n : msec->count;
		if (f.nmods > fit)
			f.nmods = (uint32_t)fit;
		f.tabs = calloc(f.nmods + 1, sizeof(*f.tabs));
		f.dw = calloc(f.nmods + 1, sizeof(*f.dw));
		f.dwfd = malloc((f.nmods + 1) * sizeof(*f.dwfd));
		if (!f.tabs || !f.dw || !f.dwfd)
			f.nmods = 0;
		for (uint32_t i = 0; f.dwfd && i < f.nmods; i++)
			f.dwfd[i] = -1;
	}
	cs = calloc(used + 1, sizeof(*cs));
	sc = calloc(used + 1, sizeof(*sc));
	if (!cs || !sc) {
		free(cs);
		free(sc);
		free(f.tabs);
		free(f.dw);
		free(f.dwfd);
		return -1;
	}
	sites_map(&h, sb + h.sites_off, used, &f, cs);
	for (uint32_t i = 0; i < used; i++)
		memcpy(&sc[i], sb + h.sites_off + (uint64_t)i * h.site_size, sizeof(sc[i]));
	slots_add(&h, sb, sec->size, sc, used);
	for (uint32_t i = 0; i < used; i++) {
		const struct sonda_alloc_site s = sc[i];
		struct agg *g;

		if (!s.allocs || !(g = agg_get(&a, cs[i])))
			continue;
		g->allocs += s.allocs;
		g->frees += s.frees;
		g->bytes += s.bytes;
		g->live_bytes += s.live_bytes;
		/* one site's peak is exact; two merged into one call site: an upper bound */
		g->peak += s.peak_bytes;
	}
	for (size_t i = 0; i < a.n; i++) {
		struct store_alloc row;
		const struct agg *g = &a.v[i];

		row.session = session;
		row.callsite = g->callsite;
		row.allocs = unscale(g->allocs, h.count_shift);
		row.frees = unscale(g->frees, h.count_shift);
		row.bytes = g->bytes;
		row.live_count = g->allocs > g->frees ? unscale(g->allocs - g->frees, h.count_shift) : 0;
		row.live_bytes = g->live_bytes > 0 ? (uint64_t)g->live_bytes : 0;
		row.peak_bytes = g->peak;
		store_alloc_put(p, &row);
	}
	snaps_load(&h, sb + h.snaps_off, __atomic_load_n(&((const struct sonda_alloc_header *)sb)->snaps_used, __ATOMIC_ACQUIRE),
		   used, cs, p, session, &a);
	if (h.sample_mean)
		note_add(note, notelen, "allocations sampled (estimates), every %llu bytes on average",
			 (unsigned long long)h.sample_mean);
	if (h.sites_dropped)
		note_add(note, notelen, "%llu allocations without a site: site table full", (unsigned long long)h.sites_dropped);
	if (h.live_dropped)
		note_add(note, notelen, "%llu allocations not followed to their free: live map full",
			 (unsigned long long)h.live_dropped);
	if (h.frees_unknown)
		note_add(note, notelen, "%llu frees of blocks not tracked", (unsigned long long)h.frees_unknown);
	if (h.frees_unseen)
		note_add(note, notelen, "%llu blocks freed unseen", (unsigned long long)h.frees_unseen);
	if (h.snaps_dropped)
		note_add(note, notelen, "%llu snapshots dropped: area full", (unsigned long long)h.snaps_dropped);
	for (uint32_t i = 0; i < f.nmods; i++) {
		sym_close(f.tabs[i]);
		if (f.dw[i]) {
			dwarf_end(f.dw[i]);
			close(f.dwfd[i]);
		}
	}
	free(f.tabs);
	free(f.dw);
	free(f.dwfd);
	free(f.cache);
	free(cs);
	free(sc);
	aggs_free(&a);
	return 0;
}
