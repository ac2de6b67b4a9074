/* elf.c - the interpreter's symbols by name and its read-only data, over the shared ELF object. */
#include "config.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <string.h>
#include <unistd.h>

#include "profiler/native/native.h"
#include "profiler/python/python.h"

int py_elf_open(struct py_elf *e, const char *path)
{
	char err[256];
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	e->elf = NULL;
	e->obj = fd >= 0 ? prof_elf_get(fd, path, NULL, 0, err, sizeof(err)) : NULL;
	if (!e->obj)
		return -1;
	e->elf = elf_memory((char *)e->obj->data, e->obj->size);
	if (!e->elf) {
		py_elf_close(e);
		return -1;
	}
	return 0;
}

void py_elf_close(struct py_elf *e)
{
	if (e->elf)
		elf_end(e->elf);
	prof_elf_put(e->obj);
	e->elf = NULL;
	e->obj = NULL;
}

/* Looks names up in one symbol table; returns how many are still missing.
 * Reads the raw Elf64_Sym array and string table (a libpython .symtab
 * holds some 15,000 symbols: gelf_getsym and elf_strptr per symbol cost
 * most of the attach). */
static size_t scan_table(struct py_elf *e, Elf_Scn *scn, const GElf_Shdr *sh, const char *const *names,
			 uint64_t *values, size_t n, size_t missing)
{
	Elf_Data *data = elf_getdata(scn, NULL), *str;
	Elf_Scn *strscn = elf_getscn(e->elf, sh->sh_link);
	const Elf64_Sym *sym;
	const char *strs;
	size_t count, strsize;
	unsigned char first[256] = {0};

	if (!data || !data->d_buf || sh->sh_entsize != sizeof(Elf64_Sym) || !strscn ||
	    !(str = elf_getdata(strscn, NULL)) || !str->d_buf)
		return missing;
	sym = data->d_buf;
	count = data->d_size / sizeof(*sym);
	strs = str->d_buf;
	strsize = str->d_size;
	for (size_t i = 0; i < n; i++)
		first[(unsigned char)names[i][0]] = 1;
	for (size_t k = 0; k < count && missing; k++) {
		const char *name;
		size_t left;

		if (sym[k].st_name >= strsize || sym[k].st_shndx == SHN_UNDEF || sym[k].st_value == 0)
			continue;
		name = strs + sym[k].st_name;
		if (!first[(unsigned char)name[0]])
			continue;
		left = strsize - sym[k].st_name;
		for (size_t i = 0; i < n; i++)
			if (!values[i] && !strncmp(name, names[i], left) && memchr(name, 0, left)) {
				values[i] = sym[k].st_value;
				missing--;
			}
	}
	return missing;
}

void py_elf_symbols(struct py_elf *e, const char *const *names, uint64_t *values, size_t n,
		    int tables)
{
	size_t missing = 0;

	for (size_t i = 0; i < n; i++)
		missing += !values[i];
	for (int pass = 0; pass < 2 && missing; pass++) {
		Elf_Scn *scn = NULL;

		if (!(tables & (pass == 0 ? PY_ELF_DYNSYM : PY_ELF_SYMTAB)))
			continue;
		while ((scn = elf_nextscn(e->elf, scn)) && missing) {
			GElf_Shdr sh;

			if (gelf_getshdr(scn, &sh) &&
			    sh.sh_type == (pass == 0 ? SHT_DYNSYM : SHT_SYMTAB))
				missing = scan_table(e, scn, &sh, names, values, n, missing);
		}
	}
}

int py_elf_each_rodata(struct py_elf *e, int (*fn)(void *ctx, const unsigned char *p, size_t n),
		       void *ctx)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(e->elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *data;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_PROGBITS ||
		    !(sh.sh_flags & SHF_ALLOC) || (sh.sh_flags & SHF_EXECINSTR))
			continue;
		data = elf_getdata(scn, NULL);
		if (data && data->d_buf && data->d_size && fn(ctx, data->d_buf, data->d_size))
			return 1;
	}
	return 0;
}
