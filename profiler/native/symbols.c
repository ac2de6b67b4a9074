/* symbols.c - symbol tables (.symtab, .dynsym), address lookup by binary search, and the per-address cache. */
#include "config.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <libelf.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "profiler/native/native.h"

struct prof_elf_addr {
	uint64_t vaddr;
	size_t n;
	struct prof_elf_frame f[];
};

/* Names are appended to one growing buffer; syms hold offsets until the end. */
struct symbuf {
	struct prof_elf_sym *v;
	size_t n, cap;
	char *s;
	size_t slen, scap;
	unsigned char *rank;	/* parallel to v: binding preference */
};

static int add_sym(struct symbuf *b, uint64_t addr, uint64_t size, const char *name, int rank)
{
	size_t len = strlen(name) + 1;

	if (b->n == b->cap) {
		size_t nc = b->cap ? 2 * b->cap : 1024;
		struct prof_elf_sym *v = realloc(b->v, nc * sizeof(*v));
		unsigned char *r = v ? realloc(b->rank, nc) : NULL;

		if (!v || !r) {
			if (v)
				b->v = v;
			return -1;
		}
		b->v = v;
		b->rank = r;
		b->cap = nc;
	}
	if (b->slen + len > b->scap) {
		size_t nc = b->scap ? 2 * b->scap : 65536;
		char *s;

		while (nc < b->slen + len)
			nc *= 2;
		s = realloc(b->s, nc);
		if (!s)
			return -1;
		b->s = s;
		b->scap = nc;
	}
	memcpy(b->s + b->slen, name, len);
	b->v[b->n].addr = addr;
	b->v[b->n].size = size;
	b->v[b->n].name = (const char *)(uintptr_t)b->slen;
	b->rank[b->n] = (unsigned char)rank;
	b->slen += len;
	b->n++;
	return 0;
}

static void read_table(struct symbuf *b, Elf *elf, Elf_Scn *scn, const GElf_Shdr *sh)
{
	Elf_Data *d = elf_getdata(scn, NULL);
	size_t n;

	if (!d || sh->sh_entsize == 0)
		return;
	n = sh->sh_size / sh->sh_entsize;
	for (size_t i = 1; i < n; i++) {
		GElf_Sym sym;
		const char *name;
		int type, bind, rank;

		if (!gelf_getsym(d, (int)i, &sym))
			break;
		type = GELF_ST_TYPE(sym.st_info);
		bind = GELF_ST_BIND(sym.st_info);
		if ((type != STT_FUNC && type != STT_GNU_IFUNC) || sym.st_shndx == SHN_UNDEF ||
		    sym.st_value == 0)
			continue;
		name = elf_strptr(elf, sh->sh_link, sym.st_name);
		if (!name || !*name)
			continue;
		/* Aliases: a global name beats a weak one beats a local one. */
		rank = bind == STB_GLOBAL ? 3 : bind == STB_WEAK ? 2 : 1;
		if (add_sym(b, sym.st_value, sym.st_size, name, rank) != 0)
			return;
	}
}

static void read_symtabs(struct symbuf *b, Elf *elf, int want_dynsym)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;

		if (!gelf_getshdr(scn, &sh))
			continue;
		if (sh.sh_type == SHT_SYMTAB || (want_dynsym && sh.sh_type == SHT_DYNSYM))
			read_table(b, elf, scn, &sh);
	}
}

static int has_symtab(Elf *elf)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;

		if (gelf_getshdr(scn, &sh) && sh.sh_type == SHT_SYMTAB)
			return 1;
	}
	return 0;
}

static unsigned sort_digit(const struct prof_sort_key *k, int pass)
{
	return pass ? (unsigned)(k->key >> (8 * (pass - 1))) & 0xff : k->tie & 0xff;
}

/* A stable counting sort per digit, least significant first: a
 * comparison sort of a debug file's 13,000 names took 1-2 ms at every
 * start; a pass whose digit is the same for all (most high bytes) is
 * skipped.  Returns whichever of k and tmp holds the result. */
struct prof_sort_key *prof_sort_keys(struct prof_sort_key *k, struct prof_sort_key *tmp, size_t n)
{
	for (int pass = 0; pass <= 8; pass++) {
		size_t count[256] = {0}, at = 0;
		struct prof_sort_key *t;

		for (size_t i = 0; i < n; i++)
			count[sort_digit(&k[i], pass)]++;
		if (count[sort_digit(&k[0], pass)] == n)
			continue;
		for (int d = 0; d < 256; d++) {
			size_t c = count[d];

			count[d] = at;
			at += c;
		}
		for (size_t i = 0; i < n; i++)
			tmp[count[sort_digit(&k[i], pass)]++] = k[i];
		t = k;
		k = tmp;
		tmp = t;
	}
	return k;
}

/* Sorts by address, then the best name first (a global before a weak
 * before a local binding, one with a size before one without), then table
 * order, and keeps the best name for each address. */
static void finish(struct prof_elf *o, struct symbuf *b)
{
	struct prof_sort_key *keys = malloc(2 * b->n * sizeof(*keys) + 1), *sorted;
	struct prof_elf_sym *out = malloc(b->n * sizeof(*out) + 1);
	size_t k = 0;

	if (!keys || !out || b->n > UINT32_MAX) {
		free(keys);
		free(out);
		return;
	}
	for (size_t i = 0; i < b->n; i++)
		keys[i] = (struct prof_sort_key){b->v[i].addr, (uint32_t)(3 - b->rank[i]) << 1 |
						 (b->v[i].size == 0), (uint32_t)i};
	sorted = prof_sort_keys(keys, keys + b->n, b->n);
	for (size_t i = 0; i < b->n; i++) {
		const struct prof_elf_sym *s = &b->v[sorted[i].idx];

		if (k && out[k - 1].addr == s->addr) {
			if (!out[k - 1].size)
				out[k - 1].size = s->size;
			continue;
		}
		out[k] = *s;
		out[k].name = b->s + (uintptr_t)s->name;
		k++;
	}
	free(keys);
	o->syms = out;
	o->nsyms = k;
	o->strs = b->s;
	b->s = NULL;
}

int prof_elf_load_symbols(struct prof_elf *o, void *elfp)
{
	struct symbuf b = {0};
	Elf *elf = elfp;

	read_symtabs(&b, elf, 1);
	if (!has_symtab(elf) && o->debug_path) {
		int fd = open(o->debug_path, O_RDONLY | O_CLOEXEC);
		Elf *dbg = fd >= 0 ? elf_begin(fd, ELF_C_READ_MMAP, NULL) : NULL;

		if (dbg)
			read_symtabs(&b, dbg, 0);
		if (dbg)
			elf_end(dbg);
		if (fd >= 0)
			close(fd);
	}
	if (b.n)
		finish(o, &b);
	free(b.v);
	free(b.rank);
	free(b.s);
	return 0;
}

/* The symbol containing vaddr: the last one starting at or before it,
 * when vaddr is inside its size. */
const struct prof_elf_sym *prof_elf_symbol(const struct prof_elf *o, uint64_t vaddr)
{
	size_t lo = 0, hi = o->nsyms;
	const struct prof_elf_sym *s;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (o->syms[mid].addr <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	s = &o->syms[lo - 1];
	if (s->size && vaddr - s->addr >= s->size)
		return NULL;
	/* A symbol without a size (_init, hand-written assembly) names only
	 * what is close to it, not a whole PLT or unnamed code after it. */
	if (!s->size && vaddr - s->addr >= 256)
		return NULL;
	return s;
}

typedef char *(*demangle_fn)(const char *, char *, size_t *, int *);
static pthread_once_t demangle_once = PTHREAD_ONCE_INIT;
static demangle_fn demangler;

static void load_demangler(void)
{
	void *h = dlopen("libstdc++.so.6", RTLD_LAZY | RTLD_LOCAL);

	if (h)
		demangler = (demangle_fn)dlsym(h, "__cxa_demangle");
}

char *prof_demangle(const char *name)
{
	int status = -1;
	char *out;

	if (strncmp(name, "_Z", 2))
		return NULL;
	pthread_once(&demangle_once, load_demangler);
	if (!demangler)
		return NULL;
	out = demangler(name, NULL, NULL, &status);
	if (status != 0) {
		free(out);
		return NULL;
	}
	return out;
}

static char *fmt_unnamed(const struct prof_elf *o, uint64_t vaddr)
{
	char buf[512];

	snprintf(buf, sizeof(buf), "%s+0x%" PRIx64, o->name, vaddr);
	return strdup(buf);
}

static struct prof_elf_addr *resolve_new(struct prof_elf *o, uint64_t vaddr)
{
	struct prof_elf_frame f[16];
	size_t n = prof_dw_frames(o, vaddr, f, 16);
	const struct prof_elf_sym *sym;
	struct prof_elf_addr *a;

	if (!o->syms_loaded) {
		Elf *elf = elf_memory((char *)o->data, o->size);

		o->syms_loaded = 1;
		if (elf) {
			prof_elf_load_symbols(o, elf);
			elf_end(elf);
		}
	}
	sym = prof_elf_symbol(o, vaddr);

	if (n == 0) {
		f[0].function = NULL;
		f[0].file = NULL;
		f[0].line = 0;
		n = 1;
	}
	a = malloc(sizeof(*a) + n * sizeof(a->f[0]));
	if (!a)
		return NULL;
	a->vaddr = vaddr;
	a->n = n;
	for (size_t i = 0; i < n; i++) {
		const char *fn = f[i].function;
		char *d;

		/* The outermost frame of the address is the symbol's function:
		 * the symbol table names it even when DWARF does not. */
		if (i == n - 1 && sym)
			fn = sym->name;
		d = fn ? prof_demangle(fn) : NULL;
		a->f[i].function = d ? d : fn ? strdup(fn) : fmt_unnamed(o, vaddr);
		a->f[i].file = f[i].file ? strdup(f[i].file) : NULL;
		a->f[i].line = f[i].line;
	}
	return a;
}

static int cache_grow(struct prof_elf *o)
{
	size_t nc = o->cache_cap ? 2 * o->cache_cap : 1024;
	struct prof_elf_addr **v = calloc(nc, sizeof(*v));

	if (!v)
		return -1;
	for (size_t i = 0; i < o->cache_cap; i++) {
		struct prof_elf_addr *a = o->cache[i];
		size_t h;

		if (!a)
			continue;
		h = (size_t)(a->vaddr * 0x9E3779B97F4A7C15ull) & (nc - 1);
		while (v[h])
			h = (h + 1) & (nc - 1);
		v[h] = a;
	}
	free(o->cache);
	o->cache = v;
	o->cache_cap = nc;
	return 0;
}

static pthread_mutex_t resolve_lock = PTHREAD_MUTEX_INITIALIZER;
static const struct prof_elf_frame nomem_frame = {"[out of memory]", NULL, 0};

size_t prof_elf_resolve(struct prof_elf *o, uint64_t vaddr, const struct prof_elf_frame **frames)
{
	struct prof_elf_addr *a;
	size_t h;

	pthread_mutex_lock(&resolve_lock);
	if ((o->cache_n + 1) * 2 > o->cache_cap && cache_grow(o) != 0)
		goto out_nomem;
	h = (size_t)(vaddr * 0x9E3779B97F4A7C15ull) & (o->cache_cap - 1);
	while ((a = o->cache[h]) && a->vaddr != vaddr)
		h = (h + 1) & (o->cache_cap - 1);
	if (!a) {
		a = resolve_new(o, vaddr);
		if (!a)
			goto out_nomem;
		o->cache[h] = a;
		o->cache_n++;
	}
	pthread_mutex_unlock(&resolve_lock);
	*frames = a->f;
	return a->n;

out_nomem:
	pthread_mutex_unlock(&resolve_lock);
	*frames = &nomem_frame;
	return 1;
}

void prof_elf_cache_free(struct prof_elf *o)
{
	for (size_t i = 0; i < o->cache_cap; i++) {
		struct prof_elf_addr *a = o->cache[i];

		if (!a)
			continue;
		for (size_t j = 0; j < a->n; j++) {
			free((void *)a->f[j].function);
			free((void *)a->f[j].file);
		}
		free(a);
	}
	free(o->cache);
	o->cache = NULL;
	o->cache_cap = o->cache_n = 0;
}
