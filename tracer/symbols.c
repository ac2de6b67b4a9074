/* symbols.c - function names for addresses in an ELF file, from .symtab or .dynsym (libelf). */
#include "config.h"

#include <fcntl.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tracer/symbols.h"

#define SYMS_MAX 4000000	/* a bound for a hostile file */

struct sym {
	uint64_t start, size;
	char *name;
};

struct symtab {
	struct sym *syms;
	size_t n;
	char *names;		/* all names, NUL separated */
	size_t names_len;
};

static int sym_cmp(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* Adds the FUNC symbols of one symbol table section. */
static int section_read(Elf *e, Elf_Scn *scn, GElf_Shdr *sh, struct symtab *t)
{
	Elf_Data *d = elf_getdata(scn, NULL);
	size_t count, i;

	if (!d || !sh->sh_entsize)
		return 0;
	count = sh->sh_size / sh->sh_entsize;
	if (count > SYMS_MAX)
		count = SYMS_MAX;
	for (i = 0; i < count; i++) {
		GElf_Sym s;
		const char *name;
		size_t len;
		struct sym *ns;
		char *nn;

		if (!gelf_getsym(d, (int)i, &s) || GELF_ST_TYPE(s.st_info) != STT_FUNC || !s.st_value)
			continue;
		name = elf_strptr(e, sh->sh_link, s.st_name);
		if (!name || !*name)
			continue;
		len = strlen(name) + 1;
		ns = realloc(t->syms, (t->n + 1) * sizeof(*ns));
		if (!ns)
			return -1;
		t->syms = ns;
		nn = realloc(t->names, t->names_len + len);
		if (!nn)
			return -1;
		t->names = nn;
		memcpy(t->names + t->names_len, name, len);
		t->syms[t->n].start = s.st_value;
		t->syms[t->n].size = s.st_size;
		t->syms[t->n].name = (char *)(uintptr_t)t->names_len;	/* offset until the end */
		t->names_len += len;
		t->n++;
	}
	return 0;
}

struct symtab *sym_open(const char *path)
{
	struct symtab *t = calloc(1, sizeof(*t));
	Elf_Scn *scn = NULL;
	int fd, have_symtab = 0;
	Elf *e;

	if (!t)
		return NULL;
	elf_version(EV_CURRENT);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return t;	/* empty: every lookup misses */
	e = elf_begin(fd, ELF_C_READ, NULL);
	if (e && elf_kind(e) == ELF_K_ELF) {
		while ((scn = elf_nextscn(e, scn)))  {
			GElf_Shdr sh;

			if (gelf_getshdr(scn, &sh) && sh.sh_type == SHT_SYMTAB)
				have_symtab = 1;
		}
		while ((scn = elf_nextscn(e, scn))) {
			GElf_Shdr sh;

			if (!gelf_getshdr(scn, &sh))
				continue;
			if (sh.sh_type == SHT_SYMTAB || (!have_symtab && sh.sh_type == SHT_DYNSYM))
				if (section_read(e, scn, &sh, t) < 0)
					break;
		}
	}
	if (e)
		elf_end(e);
	close(fd);
	for (size_t i = 0; i < t->n; i++)
		t->syms[i].name = t->names + (uintptr_t)t->syms[i].name;
	if (t->n)
		qsort(t->syms, t->n, sizeof(*t->syms), sym_cmp);
	return t;
}

const char *sym_find(const struct symtab *t, uint64_t off)
{
	size_t lo = 0, hi = t ? t->n : 0;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t->syms[mid].start <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return NULL;
	const struct sym *s = &t->syms[lo - 1];
	if (off == s->start || off < s->start + s->size)
		return s->name;
	return NULL;
}

void sym_close(struct symtab *t)
{
	if (!t)
		return;
	free(t->syms);
	free(t->names);
	free(t);
}
