/* kallsyms.c - kernel function names from /proc/kallsyms, loaded once, looked up by binary search. */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "profiler/native/native.h"

struct ksym {
	uint64_t addr;
	const char *name;	/* into text */
};

static pthread_once_t once = PTHREAD_ONCE_INIT;
static struct ksym *ksyms;
static size_t nksyms;
static char *text;

static int cmp_ksym(const void *a, const void *b)
{
	const struct ksym *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static void parse(void);

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	size_t len = 0, cap = 1 << 22;
	char *buf = malloc(cap + 1);

	if (!f || !buf) {
		if (f)
			fclose(f);
		free(buf);
		return NULL;
	}
	for (;;) {
		size_t got = fread(buf + len, 1, cap - len, f);
		char *nb;

		len += got;
		if (len < cap)
			break;
		nb = realloc(buf, 2 * cap + 1);
		if (!nb)
			break;
		buf = nb;
		cap *= 2;
	}
	fclose(f);
	buf[len] = '\0';
	return buf;
}

/* Listing /proc/kallsyms costs the kernel some 35 ms; what it says holds
 * until the next boot or a module coming or going, so the parsed table is
 * kept in the cache directory under that identity:
 *   "sonda-kallsyms 1 BOOT_ID MODULES_HASH N NAMEBYTES\n",
 *   N addresses (u64), N name offsets (u32), the names. */
#define CACHE_MAGIC "sonda-kallsyms 1"

static uint64_t fnv(uint64_t h, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
	return h;
}

/* This boot and these modules (names, sizes, addresses, not the
 * reference counts, which change all the time). */
static int identity(char *out, size_t len)
{
	char boot[64] = "", line[512];
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");
	uint64_t h = 0xcbf29ce484222325ull;

	if (!f)
		return -1;
	if (!fgets(boot, sizeof(boot), f))
		boot[0] = '\0';
	fclose(f);
	boot[strcspn(boot, "\n")] = '\0';
	if (!boot[0])
		return -1;
	/* No /proc/modules: a kernel without modules. */
	f = fopen("/proc/modules", "re");
	while (f && fgets(line, sizeof(line), f)) {
		char name[128], addr[64];
		unsigned long size;

		if (sscanf(line, "%127s %lu %*s %*s %*s %63s", name, &size, addr) == 3) {
			h = fnv(h, name, strlen(name));
			h = fnv(h, (const char *)&size, sizeof(size));
			h = fnv(h, addr, strlen(addr));
		}
	}
	if (f)
		fclose(f);
	snprintf(out, len, "%s %016llx", boot, (unsigned long long)h);
	return 0;
}

static int cache_file(char *buf, size_t len)
{
	char dir[4096];

	if (prof_cache_dir(dir, sizeof(dir), "") != 0)
		return -1;
	snprintf(buf, len, "%.4000s/kallsyms", dir);
	return 0;
}

/* The cache is mapped, not read: a lookup touches a few of its pages
 * where reading and indexing it all cost some 5 ms at each start. */
static const uint8_t *map_base;
static size_t map_len, map_n, map_nb;
static const uint8_t *map_addr, *map_off;
static const char *map_text;

static int load_cached(const char *id)
{
	char path[4200];
	const char *nl;
	size_t n, nb, head;
	struct stat st;
	void *m;
	int fd;

	if (cache_file(path, sizeof(path)) != 0 || (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	if (fstat(fd, &st) != 0 || st.st_size < 64 || st.st_size > (1 << 30)) {
		close(fd);
		return -1;
	}
	m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return -1;
	nl = memchr(m, '\n', (size_t)st.st_size < 256 ? (size_t)st.st_size : 256);
	head = nl ? (size_t)(nl - (const char *)m) + 1 : 0;
	if (!nl || strncmp(m, CACHE_MAGIC " ", strlen(CACHE_MAGIC " ")) ||
	    strncmp((const char *)m + strlen(CACHE_MAGIC " "), id, strlen(id)) ||
	    sscanf((const char *)m + strlen(CACHE_MAGIC " ") + strlen(id), " %zu %zu", &n, &nb) != 2 ||
	    n == 0 || n > (1u << 24) || nb > (1u << 28) ||
	    head + n * 12 + nb != (size_t)st.st_size) {
		munmap(m, (size_t)st.st_size);
		return -1;
	}
	map_base = m;
	map_len = (size_t)st.st_size;
	map_addr = map_base + head;
	map_off = map_addr + n * 8;
	map_text = (const char *)map_off + n * 4;
	map_n = n;
	map_nb = nb;
	return 0;
}

static uint64_t map_addr_at(size_t i)
{
	uint64_t a;

	memcpy(&a, map_addr + 8 * i, sizeof(a));
	return a;
}

/* A name of the mapped cache; NULL when its offset is out of bounds or
 * the name is not terminated within the names. */
static const char *map_name_at(size_t i)
{
	uint32_t off;

	memcpy(&off, map_off + 4 * i, sizeof(off));
	if (off >= map_nb || !memchr(map_text + off, '\0', map_nb - off))
		return NULL;
	return map_text + off;
}

static void save_cached(const char *id)
{
	char path[4200], tmp[4300];
	FILE *f;
	size_t nb = 0, k;
	char *names = NULL;
	uint64_t *addr = malloc(nksyms * sizeof(*addr) + 1);
	uint32_t *off = malloc(nksyms * sizeof(*off) + 1);
	int ok;

	if (!addr || !off || cache_file(path, sizeof(path)) != 0)
		goto out;
	for (size_t i = 0; i < nksyms; i++)
		nb += strlen(ksyms[i].name) + 1;
	if (!(names = malloc(nb + 1)))
		goto out;
	k = 0;
	for (size_t i = 0; i < nksyms; i++) {
		size_t l = strlen(ksyms[i].name) + 1;

		addr[i] = ksyms[i].addr;
		off[i] = (uint32_t)k;
		memcpy(names + k, ksyms[i].name, l);
		k += l;
	}
	snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid());
	if (!(f = fopen(tmp, "we")))
		goto out;
	ok = fprintf(f, CACHE_MAGIC " %s %zu %zu\n", id, nksyms, nb) > 0 &&
	     fwrite(addr, sizeof(*addr), nksyms, f) == nksyms &&
	     fwrite(off, sizeof(*off), nksyms, f) == nksyms && fwrite(names, 1, nb, f) == nb;
	if (fclose(f) != 0 || !ok || rename(tmp, path) != 0)
		unlink(tmp);
out:
	free(addr);
	free(off);
	free(names);
}

/* "ffffffff81000000 T _stext [module]": text symbols only, parsed in
 * place (about 100,000 lines); all-zero addresses (kptr_restrict) mean
 * no kernel names. */
static void load(void)
{
	char id[160];
	int have_id = identity(id, sizeof(id)) == 0;

	if (have_id && load_cached(id) == 0)
		return;
	parse();
	if (have_id && nksyms)
		save_cached(id);
}

static void parse(void)
{
	size_t cap = 0;
	char *p;

	text = slurp("/proc/kallsyms");
	for (p = text; p && *p;) {
		char *nl = strchr(p, '\n'), *end, *name;
		uint64_t addr = strtoull(p, &end, 16);

		if (nl)
			*nl = '\0';
		if (end[0] == ' ' && strchr("tTwW", end[1]) && end[2] == ' ' && addr) {
			name = end + 3;
			name[strcspn(name, " \t")] = '\0';
			if (nksyms == cap) {
				size_t nc = cap ? 2 * cap : 65536;
				struct ksym *v = realloc(ksyms, nc * sizeof(*v));

				if (!v)
					break;
				ksyms = v;
				cap = nc;
			}
			ksyms[nksyms].addr = addr;
			ksyms[nksyms].name = name;
			nksyms++;
		}
		if (!nl)
			break;
		p = nl + 1;
	}
	/* The kernel lists its symbols nearly sorted: sort only if needed. */
	for (size_t i = 1; i < nksyms; i++)
		if (ksyms[i - 1].addr > ksyms[i].addr) {
			qsort(ksyms, nksyms, sizeof(*ksyms), cmp_ksym);
			break;
		}
}

/* A sampled kernel stack is a handful of the same few addresses: a
 * direct-mapped memo per thread spares the binary search over some
 * 100,000 names (a cache miss at each step). */
#define MEMO_SLOTS 512
static _Thread_local struct {
	uint64_t addr;
	const char *name;
} memo[MEMO_SLOTS];

static const char *search(uint64_t addr)
{
	size_t lo = 0, hi = nksyms;

	if (map_base) {
		hi = map_n;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (map_addr_at(mid) <= addr)
				lo = mid + 1;
			else
				hi = mid;
		}
		return lo ? map_name_at(lo - 1) : NULL;
	}

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ksyms[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? ksyms[lo - 1].name : NULL;
}

const char *prof_kernel_symbol(uint64_t addr)
{
	size_t slot = (size_t)((addr * 0x9E3779B97F4A7C15ull) >> 50) & (MEMO_SLOTS - 1);

	pthread_once(&once, load);
	if (memo[slot].addr != addr || !addr) {
		memo[slot].addr = addr;
		memo[slot].name = search(addr);
	}
	return memo[slot].name;
}
