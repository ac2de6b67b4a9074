/* space.c - one process's modules: which ELF object is mapped where, with which load bias, and the vDSO. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "profiler/native/native.h"

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int is_file_path(const char *p)
{
	return p[0] == '/';
}

/* A file as the process sees it: through its root (containers), or
 * through map_files when it was deleted or replaced since. */
static int open_mapped(pid_t pid, const struct prof_map *m)
{
	char path[4200];
	int fd;

	if (!strstr(m->path, " (deleted)")) {
		snprintf(path, sizeof(path), "/proc/%d/root%s", (int)pid, m->path);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0)
			return fd;
	}
	snprintf(path, sizeof(path), "/proc/%d/map_files/%" PRIx64 "-%" PRIx64, (int)pid, m->start,
		 m->end);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		return fd;
	return open(m->path, O_RDONLY | O_CLOEXEC);
}

static struct prof_elf *load_vdso(pid_t pid, const struct prof_map *m)
{
	size_t len = (size_t)(m->end - m->start);
	uint8_t *img;
	struct iovec local, remote;
	char err[160];

	if (len == 0 || len > (1 << 20))
		return NULL;
	img = malloc(len);
	if (!img)
		return NULL;
	local.iov_base = img;
	local.iov_len = len;
	remote.iov_base = (void *)(uintptr_t)m->start;
	remote.iov_len = len;
	if (process_vm_readv(pid, &local, 1, &remote, 1, 0) != (ssize_t)len) {
		free(img);
		return NULL;
	}
	return prof_elf_get(-1, "[vdso]", img, len, err, sizeof(err));
}

static int add_mod(struct prof_space *s, size_t *cap, uint64_t start, uint64_t end, uint64_t bias,
		   struct prof_elf *o)
{
	if (s->nmods == *cap) {
		size_t nc = *cap ? 2 * *cap : 32;
		struct prof_mod *v = realloc(s->mods, nc * sizeof(*v));

		if (!v)
			return -1;
		s->mods = v;
		*cap = nc;
	}
	s->mods[s->nmods].start = start;
	s->mods[s->nmods].end = end;
	s->mods[s->nmods].bias = bias;
	s->mods[s->nmods].obj = o;
	s->nmods++;
	return 0;
}

/* The old module for the same file at the same place, so a refresh does
 * not reopen what it already has. */
static struct prof_elf *reuse(struct prof_mod *old, size_t nold, const struct prof_map *m,
			      uint64_t *bias)
{
	for (size_t i = 0; i < nold; i++)
		if (old[i].obj && m->start >= old[i].start && m->start < old[i].end &&
		    !strcmp(old[i].obj->path, m->path)) {
			struct prof_elf *o = old[i].obj;

			old[i].obj = NULL;
			*bias = old[i].bias;
			return o;
		}
	return NULL;
}

static void build(struct prof_space *s, const struct prof_maps *maps, struct prof_mod *old,
		  size_t nold)
{
	size_t cap = 0;

	for (size_t i = 0; i < maps->n; i++) {
		const struct prof_map *m = &maps->v[i];
		struct prof_elf *o;
		uint64_t bias = 0, end = m->end;
		size_t j;
		char err[160];
		int vdso = !strcmp(m->path, "[vdso]");

		if (!vdso && !is_file_path(m->path))
			continue;
		/* All consecutive mappings of one file form one module. */
		for (j = i + 1; j < maps->n && !strcmp(maps->v[j].path, m->path) &&
				maps->v[j].inode == m->inode;
		     j++)
			end = maps->v[j].end;
		o = reuse(old, nold, m, &bias);
		if (!o) {
			if (vdso) {
				o = load_vdso(s->pid, m);
			} else {
				int fd = open_mapped(s->pid, m);

				o = fd >= 0 ? prof_elf_get(fd, m->path, NULL, 0, err, sizeof(err)) : NULL;
			}
			if (o && prof_elf_bias(o, m->start, m->offset, &bias) != 0) {
				prof_elf_put(o);
				o = NULL;
			}
		}
		if (o && add_mod(s, &cap, m->start, end, bias, o) != 0)
			prof_elf_put(o);
		i = j - 1;
	}
}

int prof_space_refresh(struct prof_space *s, int force)
{
	struct prof_maps maps;
	struct prof_mod *old = s->mods;
	size_t nold = s->nmods;
	int64_t t = now_ns();
	char err[160];

	if (!force && t - s->refreshed_ns < 200000000)
		return 0;
	s->refreshed_ns = t;
	if (prof_maps_read(s->pid, &maps, err, sizeof(err)) != 0)
		return -1;
	s->mods = NULL;
	s->nmods = 0;
	s->gen++;
	build(s, &maps, old, nold);
	for (size_t i = 0; i < nold; i++)
		prof_elf_put(old[i].obj);
	free(old);
	prof_maps_free(&maps);
	return 0;
}

int prof_space_init(struct prof_space *s, pid_t pid, char *err, size_t errlen)
{
	struct prof_maps maps;

	memset(s, 0, sizeof(*s));
	s->pid = pid;
	if (prof_maps_read(pid, &maps, err, errlen) != 0)
		return -1;
	build(s, &maps, NULL, 0);
	prof_maps_free(&maps);
	s->refreshed_ns = now_ns();
	return 0;
}

void prof_space_free(struct prof_space *s)
{
	for (size_t i = 0; i < s->nmods; i++)
		prof_elf_put(s->mods[i].obj);
	free(s->mods);
	s->mods = NULL;
	s->nmods = 0;
}

static const struct prof_mod *search(const struct prof_space *s, uint64_t addr)
{
	size_t lo = 0, hi = s->nmods;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->mods[mid].end <= addr)
			lo = mid + 1;
		else if (s->mods[mid].start > addr)
			hi = mid;
		else
			return &s->mods[mid];
	}
	return NULL;
}

/* Whether the page of addr missed recently; remembers it. */
static int missed_before(struct prof_space *s, uint64_t addr)
{
	uint64_t page = addr >> 12;

	for (size_t i = 0; i < sizeof(s->missed) / sizeof(s->missed[0]); i++)
		if (s->missed[i] == page)
			return 1;
	s->missed[s->nmissed++ % (sizeof(s->missed) / sizeof(s->missed[0]))] = page;
	return 0;
}

/* A miss may be a library loaded since the last look: refresh and try
 * again, at once for a page not seen missing before (a fresh dlopen),
 * else at most every 200 ms (code that is in no file, a JIT). */
const struct prof_mod *prof_space_find(struct prof_space *s, uint64_t addr)
{
	const struct prof_mod *m = search(s, addr);

	if (m)
		return m;
	if (prof_space_refresh(s, !missed_before(s, addr)) == 0)
		m = search(s, addr);
	if (!m)
		s->unknown++;
	return m;
}

int prof_space_read(struct prof_space *s, uint64_t addr, void *buf, size_t len)
{
	const struct prof_mod *m = search(s, addr);

	if (!m)
		return -1;
	return prof_elf_read(m->obj, addr - m->bias, buf, len);
}
