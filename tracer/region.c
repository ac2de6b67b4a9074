/* region.c - reads a libsonda region (live or left by a crash) into a store profile. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"
#include "tracer/alloc.h"
#include "tracer/region.h"
#include "tracer/symbols.h"

#define SEQ_TRIES 16

void sonda_region_default_path(long pid, char *buf, size_t len)
{
	snprintf(buf, len, "/dev/shm/sonda-%ld", pid);
}

int64_t sonda_hist_value(int bucket)
{
	int group, sub, shift;

	if (bucket < (int)SONDA_HIST_SUB)
		return bucket < 0 ? 0 : bucket;
	if (bucket >= (int)SONDA_HIST_BUCKETS)
		bucket = SONDA_HIST_BUCKETS - 1;
	group = bucket / (int)SONDA_HIST_SUB;
	sub = bucket % (int)SONDA_HIST_SUB;
	shift = group - 1;
	return ((int64_t)(SONDA_HIST_SUB + (unsigned)sub) << shift) + (((int64_t)1 << shift) >> 1);
}

static void fail(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

/* Rows are summed here, keyed like store_task_put's key, then put once:
 * two addresses can carry one name, and thread 0 is the merge of all. */
struct rows {
	struct store_task *v;
	size_t n, cap;
	uint32_t *hash;		/* index + 1 */
	size_t hcap;
};

static uint32_t row_hash(uint32_t thread, uint32_t name, uint32_t parent, uint32_t kind)
{
	uint64_t h = ((uint64_t)thread * 0x9e3779b1u) ^ ((uint64_t)name * 0x85ebca6bu) ^
		     ((uint64_t)parent * 0xc2b2ae35u) ^ kind;

	return (uint32_t)(h ^ (h >> 29));
}

static int rows_grow(struct rows *r)
{
	size_t ncap = r->hcap ? r->hcap * 2 : 1024;
	uint32_t *nh = calloc(ncap, sizeof(*nh));

	if (!nh)
		return -1;
	for (size_t i = 0; i < r->n; i++) {
		const struct store_task *t = &r->v[i];
		size_t j = row_hash(t->thread, t->name, t->parent, t->kind) & (ncap - 1);

		while (nh[j])
			j = (j + 1) & (ncap - 1);
		nh[j] = (uint32_t)(i + 1);
	}
	free(r->hash);
	r->hash = nh;
	r->hcap = ncap;
	return 0;
}

static struct store_task *row_get(struct rows *r, uint32_t session, uint32_t thread, uint32_t name,
				  uint32_t parent, uint32_t kind)
{
	size_t j;

	if ((r->n + 1) * 2 > r->hcap && rows_grow(r) < 0)
		return NULL;
	for (j = row_hash(thread, name, parent, kind) & (r->hcap - 1); r->hash[j]; j = (j + 1) & (r->hcap - 1)) {
		struct store_task *t = &r->v[r->hash[j] - 1];

		if (t->thread == thread && t->name == name && t->parent == parent && t->kind == kind)
			return t;
	}
	if (r->n == r->cap) {
		size_t ncap = r->cap ? r->cap * 2 : 256;
		struct store_task *nv = realloc(r->v, ncap * sizeof(*nv));

		if (!nv)
			return NULL;
		r->v = nv;
		r->cap = ncap;
	}
	struct store_task *t = &r->v[r->n];
	memset(t, 0, sizeof(*t));
	t->session = session;
	t->thread = thread;
	t->name = name;
	t->parent = parent;
	t->kind = kind;
	t->min_ns = INT64_MAX;
	r->hash[j] = (uint32_t)(++r->n);
	return t;
}

static void row_add(struct store_task *t, uint64_t calls, int64_t wall, int64_t self, int64_t cpu,
		    int64_t min, int64_t max, const uint32_t *hist)
{
	if (!t)
		return;
	t->calls += calls;
	t->wall_ns += wall;
	t->self_ns += self;
	t->cpu_ns += cpu;
	if (min < t->min_ns)
		t->min_ns = min;
	if (max > t->max_ns)
		t->max_ns = max;
	if (hist)
		for (int b = 0; b < (int)SONDA_HIST_BUCKETS; b++)
			if (hist[b]) {
				int sb = store_hist_bucket(sonda_hist_value(b));
				uint64_t v = (uint64_t)t->hist[sb] + hist[b];

				t->hist[sb] = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
			}
}

/* Names function addresses with the region's module table. */
struct namer {
	const struct sonda_module *mods;
	uint32_t nmods;
	struct symtab **tabs;	/* opened lazily, one per module */
	struct { uint64_t addr; uint32_t id; } *cache;
	size_t ccap, cn;
};

static uint32_t name_addr(struct namer *nm, struct store_profile *p, uint64_t addr)
{
	char buf[SONDA_PATH_MAX + 64];
	size_t j;

	if (!addr)
		return 0;
	if ((nm->cn + 1) * 2 > nm->ccap) {
		size_t ncap = nm->ccap ? nm->ccap * 2 : 1024;
		__typeof__(nm->cache) nc = calloc(ncap, sizeof(*nc));

		if (!nc)
			return store_string_intern(p, "?");
		for (size_t i = 0; i < nm->ccap; i++)
			if (nm->cache[i].addr) {
				size_t k = (nm->cache[i].addr * 0x9e3779b97f4a7c15ull >> 20) & (ncap - 1);

				while (nc[k].addr)
					k = (k + 1) & (ncap - 1);
				nc[k] = nm->cache[i];
			}
		free(nm->cache);
		nm->cache = nc;
		nm->ccap = ncap;
	}
	for (j = (addr * 0x9e3779b97f4a7c15ull >> 20) & (nm->ccap - 1); nm->cache[j].addr; j = (j + 1) & (nm->ccap - 1))
		if (nm->cache[j].addr == addr)
			return nm->cache[j].id;
	snprintf(buf, sizeof(buf), "0x%llx", (unsigned long long)addr);
	for (uint32_t i = 0; i < nm->nmods; i++) {
		const struct sonda_module *m = &nm->mods[i];
		const char *s, *base;

		if (addr < m->start || addr >= m->end)
			continue;
		if (!nm->tabs[i]) {
			char path[SONDA_PATH_MAX];

			memcpy(path, m->path, sizeof(path));
			path[sizeof(path) - 1] = 0;
			nm->tabs[i] = sym_open(path);
		}
		s = sym_find(nm->tabs[i], addr - m->base);
		base = strrchr(m->path, '/');
		if (s)
			snprintf(buf, sizeof(buf), "%s", s);
		else
			snprintf(buf, sizeof(buf), "%.*s+0x%llx", (int)strnlen(base ? base + 1 : m->path, 200),
				 base ? base + 1 : m->path, (unsigned long long)(addr - m->base));
		break;
	}
	nm->cache[j].addr = addr;
	nm->cache[j].id = store_string_intern(p, buf);
	nm->cn++;
	return nm->cache[j].id;
}

static const struct sonda_section *section_find(const struct sonda_region_header *h, uint32_t kind)
{
	for (uint32_t i = 0; i < h->nsections && i < SONDA_SECTIONS_MAX; i++)
		if (h->sections[i].kind == kind)
			return &h->sections[i];
	return NULL;
}

static int section_ok(const struct sonda_section *s, uint64_t file_size, uint64_t entry_min)
{
	return s->offset <= file_size && s->size <= file_size - s->offset && s->entry_size >= entry_min &&
	       (uint64_t)s->entry_size * s->count <= s->size;
}

/* A task entry copied whole, retried while its owner is mid-update. */
static void task_copy(struct sonda_task_entry *dst, const struct sonda_task_entry *src)
{
	for (int i = 0; i < SEQ_TRIES; i++) {
		uint32_t s0 = __atomic_load_n(&src->seq, __ATOMIC_ACQUIRE);

		memcpy(dst, src, sizeof(*dst));
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (!(s0 & 1) && __atomic_load_n(&src->seq, __ATOMIC_RELAXED) == s0)
			break;
	}
	dst->name[SONDA_NAME_MAX - 1] = 0;
}

struct load {
	struct store_profile *p;
	uint32_t session;
	const unsigned char *base;
	struct sonda_region_header h;
	const struct sonda_section *threads, *rings, *modules;
	struct rows rows;
	struct namer nm;
	uint64_t drops, bad, events;
	char note[512];
};

static void note_add(struct load *L, uint64_t n, const char *what)
{
	size_t len = strlen(L->note);

	if (n && len < sizeof(L->note) - 1)
		snprintf(L->note + len, sizeof(L->note) - len, "%s%llu %s", len ? "; " : "",
			 (unsigned long long)n, what);
}

static int slot_load(struct load *L, uint32_t idx, struct sonda_slot *sum)
{
	const unsigned char *sp = L->base + L->threads->offset + (uint64_t)idx * L->threads->entry_size;
	const struct sonda_task_entry *tasks = (const void *)(sp + L->h.slot_tasks_off);
	const struct sonda_func_entry *funcs = (const void *)(sp + L->h.slot_funcs_off);
	const struct sonda_edge_entry *edges = (const void *)(sp + L->h.slot_edges_off);
	struct sonda_slot s;
	struct sonda_task_entry *te;
	uint32_t thread, ntasks, *task_names;
	char tname[SONDA_THREAD_NAME_MAX];

	memcpy(&s, sp, sizeof(s));
	if (!s.state)
		return 0;
	memcpy(tname, s.name, sizeof(tname));
	tname[sizeof(tname) - 1] = 0;
	thread = store_thread_add(L->p, L->session, s.tid, tname, s.tid == L->h.pid ? "main" : "");
	ntasks = s.ntasks < L->h.slot_tasks ? s.ntasks : L->h.slot_tasks;
	te = malloc(sizeof(*te));
	task_names = calloc(ntasks + 1, sizeof(*task_names));
	if (!te || !task_names) {
		free(te);
		free(task_names);
		return -1;
	}
	for (uint32_t i = 0; i < ntasks; i++) {
		uint32_t kind, name;

		task_copy(te, &tasks[i]);
		task_names[i] = store_string_intern(L->p, te->name);
		if (!te->calls)
			continue;	/* only ever opened */
		kind = te->kind == STORE_TASK_SPAN ? STORE_TASK_SPAN : STORE_TASK_TASK;
		name = task_names[i];
		for (int m = 0; m < 2; m++)
			row_add(row_get(&L->rows, L->session, m ? 0 : thread, name, 0, kind), te->calls,
				te->wall_ns, te->self_ns, te->cpu_ns, te->min_ns, te->max_ns, te->hist);
	}
	free(te);
	for (uint32_t i = 0; i < s.nfuncs && i < L->h.slot_funcs; i++) {
		const struct sonda_func_entry *fp = &funcs[i];
		struct sonda_func_entry f;
		uint32_t name;

		memcpy(&f, fp, sizeof(f));
		if (!f.calls)
			continue;
		name = name_addr(&L->nm, L->p, f.addr);
		for (int m = 0; m < 2; m++)
			row_add(row_get(&L->rows, L->session, m ? 0 : thread, name, 0, STORE_TASK_FUNCTION),
				f.calls, f.total_ns, f.self_ns, 0, f.min_ns, f.max_ns, f.hist);
	}
	for (uint32_t i = 0; i < s.nedges && i < L->h.slot_edges; i++) {
		struct sonda_edge_entry e;
		uint32_t callee, caller;

		memcpy(&e, &edges[i], sizeof(e));
		if (!e.caller || !e.calls)
			continue;	/* a root call: its function row says it all */
		callee = name_addr(&L->nm, L->p, e.callee);
		caller = name_addr(&L->nm, L->p, e.caller);
		if (!caller)
			continue;
		for (int m = 0; m < 2; m++) {
			struct store_task *t = row_get(&L->rows, L->session, m ? 0 : thread, callee, caller,
						       STORE_TASK_FUNCTION);

			row_add(t, e.calls, e.total_ns, e.self_ns, 0, INT64_MAX, 0, NULL);
			if (t && t->min_ns == INT64_MAX)
				t->min_ns = 0;
		}
	}
	if (L->rings && idx < L->rings->count && L->h.ring_events &&
	    (uint64_t)L->h.ring_events * sizeof(struct sonda_event) <= L->rings->entry_size) {
		const struct sonda_event *ring =
			(const void *)(L->base + L->rings->offset + (uint64_t)idx * L->rings->entry_size);
		uint64_t end = __atomic_load_n(&((const struct sonda_slot *)sp)->ring_written, __ATOMIC_ACQUIRE);
		uint64_t cap = L->h.ring_events, start = end > cap ? end - cap : 0;

		for (uint64_t i = start; i < end; i++) {
			struct sonda_event ev;
			struct store_event se;

			memcpy(&ev, &ring[i % cap], sizeof(ev));
			if (ev.task >= ntasks)
				continue;
			se.session = L->session;
			se.thread = thread;
			se.name = task_names[ev.task];
			se.kind = tasks[ev.task].kind == STORE_TASK_SPAN ? STORE_TASK_SPAN : STORE_TASK_TASK;
			se.start_ns = ev.start_ns;
			se.dur_ns = ev.dur_ns;
			se.depth = ev.depth;
			store_event_add(L->p, &se);
		}
	}
	free(task_names);
	sum->events += s.events + s.calls;
	sum->tasks_dropped += s.tasks_dropped;
	sum->funcs_dropped += s.funcs_dropped;
	sum->edges_dropped += s.edges_dropped;
	sum->depth_dropped += s.depth_dropped;
	sum->unbalanced += s.unbalanced;
	sum->bad_names += s.bad_names;
	sum->long_names += s.long_names;
	sum->open_at_exit += s.open_at_exit;
	sum->cpu_unknown += s.cpu_unknown;
	if (s.ring_written > L->h.ring_events)
		sum->ring_written += s.ring_written - L->h.ring_events;
	return 0;
}

static int header_check(struct load *L, uint64_t file_size, char *err, size_t errlen)
{
	const struct sonda_region_header *h = &L->h;

	if (memcmp(h->magic, SONDA_REGION_MAGIC, 8)) {
		fail(err, errlen, "not a libsonda region (bad magic)");
		return -1;
	}
	if (h->version != SONDA_REGION_VERSION || h->header_size != sizeof(*h)) {
		fail(err, errlen, "libsonda region version %u is not supported (this sonda reads %u)",
		     h->version, SONDA_REGION_VERSION);
		return -1;
	}
	if (h->file_size > file_size) {
		fail(err, errlen, "truncated region (%llu bytes of %llu)", (unsigned long long)file_size,
		     (unsigned long long)h->file_size);
		return -1;
	}
	L->threads = section_find(h, SONDA_SECTION_THREADS);
	L->rings = section_find(h, SONDA_SECTION_RING);
	L->modules = section_find(h, SONDA_SECTION_MODULES);
	if (!L->threads || !section_ok(L->threads, file_size, sizeof(struct sonda_slot)) ||
	    h->hist_buckets != SONDA_HIST_BUCKETS ||
	    h->slot_tasks_off < sizeof(struct sonda_slot) ||
	    (uint64_t)h->slot_tasks_off + (uint64_t)h->slot_tasks * sizeof(struct sonda_task_entry) > L->threads->entry_size ||
	    (uint64_t)h->slot_funcs_off + (uint64_t)h->slot_funcs * sizeof(struct sonda_func_entry) > L->threads->entry_size ||
	    (uint64_t)h->slot_edges_off + (uint64_t)h->slot_edges * sizeof(struct sonda_edge_entry) > L->threads->entry_size) {
		fail(err, errlen, "corrupt region: bad thread table");
		return -1;
	}
	if (L->rings && !section_ok(L->rings, file_size, 1))
		L->rings = NULL;
	if (L->modules && !section_ok(L->modules, file_size, sizeof(struct sonda_module)))
		L->modules = NULL;
	return 0;
}

uint32_t sonda_region_load(const char *path, struct store_profile *p, char *err, size_t errlen)
{
	struct load L;
	struct sonda_slot sum;
	struct store_session ss;
	struct stat st;
	uint32_t used, nmods = 0;
	void *m;
	int fd;

	memset(&L, 0, sizeof(L));
	memset(&sum, 0, sizeof(sum));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fail(err, errlen, "%s: %s", path, strerror(errno));
		return 0;
	}
	if (fstat(fd, &st) < 0 || (size_t)st.st_size < sizeof(struct sonda_region_header)) {
		fail(err, errlen, "%s: not a libsonda region (too small)", path);
		close(fd);
		return 0;
	}
	m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (m == MAP_FAILED) {
		fail(err, errlen, "%s: %s", path, strerror(errno));
		return 0;
	}
	L.base = m;
	L.p = p;
	memcpy(&L.h, m, sizeof(L.h));
	L.h.command[sizeof(L.h.command) - 1] = 0;
	if (header_check(&L, (uint64_t)st.st_size, err, errlen) < 0) {
		size_t n = strlen(err);

		if (n < errlen)
			snprintf(err + n, errlen - n, " in %s", path);
		munmap(m, (size_t)st.st_size);
		return 0;
	}
	if (L.modules) {
		nmods = __atomic_load_n(&((const struct sonda_region_header *)m)->sections[L.modules - ((const struct sonda_region_header *)m)->sections].used, __ATOMIC_ACQUIRE);
		nmods = nmods < L.modules->count ? nmods : L.modules->count;
		L.nm.mods = (const void *)(L.base + L.modules->offset);
		L.nm.nmods = nmods;
		L.nm.tabs = calloc(nmods + 1, sizeof(*L.nm.tabs));
		if (!L.nm.tabs)
			L.nm.nmods = 0;
	}
	memset(&ss, 0, sizeof(ss));
	ss.pid = L.h.pid;
	ss.command = L.h.command;
	ss.runtime = "libsonda";
	ss.version = PACKAGE_VERSION;
	ss.mode = "trace";
	ss.start_ns = L.h.start_realtime_ns;
	/* a process that died never set its end: the file's mtime is the best
	 * clue (mapped writes may not move it), never before the start */
	ss.end_ns = L.h.end_realtime_ns ? L.h.end_realtime_ns
					: (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	if (ss.end_ns < ss.start_ns)
		ss.end_ns = ss.start_ns;
	ss.last_error = "";
	L.session = store_session_add(p, &ss);
	used = __atomic_load_n(&((const struct sonda_region_header *)m)->sections[L.threads - ((const struct sonda_region_header *)m)->sections].used, __ATOMIC_ACQUIRE);
	for (uint32_t i = 0; i < used && i < L.threads->count; i++)
		if (slot_load(&L, i, &sum) < 0)
			break;
	sonda_alloc_load(L.base, (uint64_t)st.st_size, p, L.session, L.note, sizeof(L.note));
	for (size_t i = 0; i < L.rows.n; i++) {
		if (L.rows.v[i].min_ns == INT64_MAX)
			L.rows.v[i].min_ns = 0;
		store_task_put(p, &L.rows.v[i]);
	}
	note_add(&L, sum.tasks_dropped, "events dropped: task table full");
	note_add(&L, sum.funcs_dropped, "calls dropped: function table full");
	note_add(&L, sum.edges_dropped, "calls without caller row: edge table full");
	note_add(&L, sum.depth_dropped, "begins past the nesting limit");
	note_add(&L, sum.unbalanced, "ends without a begin");
	note_add(&L, sum.bad_names, "NULL or empty names");
	note_add(&L, sum.long_names, "names cut");
	note_add(&L, sum.open_at_exit, "tasks still open at exit");
	note_add(&L, sum.cpu_unknown, "intervals without CPU time");
	note_add(&L, sum.ring_written, "timeline intervals overwritten (ring full)");
	note_add(&L, L.h.threads_dropped, "threads without a slot");
	note_add(&L, L.h.spans_dropped, "spans dropped: pool empty");
	note_add(&L, L.h.spans_bad, "bad span finishes");
	if (!(L.h.flags & SONDA_FLAG_CPU))
		note_add(&L, 1, "run without CPU time");
	struct store_session *sp = store_session_get(p, L.session);
	if (sp) {
		sp->samples = sum.events;
		sp->missed = sum.tasks_dropped + sum.funcs_dropped + sum.depth_dropped + L.h.threads_dropped +
			     L.h.spans_dropped + sum.ring_written;
		sp->errors = sum.unbalanced + sum.bad_names + L.h.spans_bad;
	}
	if (L.note[0])
		store_session_set_error(p, L.session, L.note);
	for (uint32_t i = 0; i < L.nm.nmods; i++)
		sym_close(L.nm.tabs[i]);
	free(L.nm.tabs);
	free(L.nm.cache);
	free(L.rows.v);
	free(L.rows.hash);
	munmap(m, (size_t)st.st_size);
	return L.session;
}

int sonda_symbolize(const char *path, uint64_t base, uint64_t addr, char *out, size_t len)
{
	struct symtab *t = sym_open(path);
	const char *s = t ? sym_find(t, addr - base) : NULL;

	snprintf(out, len, "%s", s ? s : "");
	sym_close(t);
	return s ? 0 : -1;
}

long sonda_region_save(const char *path, const char *out, char *err, size_t errlen)
{
	struct store_profile *p = store_profile_new();
	uint32_t sid;
	long pid = -1;

	if (!p) {
		fail(err, errlen, "out of memory");
		return -1;
	}
	sid = sonda_region_load(path, p, err, errlen);
	if (sid) {
		const struct store_session *s = store_session_get(p, sid);

		if (store_save(out, p, err, errlen) == 0)
			pid = s ? (long)s->pid : 0;
	}
	store_profile_free(p);
	return pid;
}

int sonda_region_peek(const char *path, struct sonda_region_header *h)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = pread(fd, h, sizeof(*h), 0);
	close(fd);
	if (n != (ssize_t)sizeof(*h) || memcmp(h->magic, SONDA_REGION_MAGIC, 8) ||
	    h->version != SONDA_REGION_VERSION || h->header_size != sizeof(*h))
		return -1;
	return 0;
}
