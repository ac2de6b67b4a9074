/* elf.c - symbols, bytes and load bias of the ELF file holding the interpreter. */
#include "config.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <string.h>
#include <unistd.h>

#include "profiler/python/python.h"

int py_elf_open(struct py_elf *e, const char *path)
{
	GElf_Ehdr eh;
	Elf *elf;

	e->fd = -1;
	e->elf = NULL;
	if (elf_version(EV_CURRENT) == EV_NONE)
		return -1;
	e->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (e->fd < 0)
		return -1;
	elf = elf_begin(e->fd, ELF_C_READ_MMAP, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF || !gelf_getehdr(elf, &eh) ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64) {
		if (elf)
			elf_end(elf);
		close(e->fd);
		e->fd = -1;
		return -1;
	}
	e->elf = elf;
	e->type = eh.e_type;
	return 0;
}

void py_elf_close(struct py_elf *e)
{
	if (e->elf)
		elf_end(e->elf);
	if (e->fd >= 0)
		close(e->fd);
	e->elf = NULL;
	e->fd = -1;
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

int py_elf_read(struct py_elf *e, uint64_t vaddr, void *buf, size_t len)
{
	size_t nph;

	if (elf_getphdrnum(e->elf, &nph) != 0)
		return -1;
	for (size_t i = 0; i < nph; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(e->elf, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		if (vaddr < ph.p_vaddr || vaddr + len > ph.p_vaddr + ph.p_filesz)
			continue;
		if (pread(e->fd, buf, len, (off_t)(ph.p_offset + (vaddr - ph.p_vaddr))) != (ssize_t)len)
			return -1;
		return 0;
	}
	return -1;
}

int py_elf_bias(struct py_elf *e, uint64_t map_start, uint64_t map_offset, uint64_t *bias)
{
	size_t nph;

	if (elf_getphdrnum(e->elf, &nph) != 0)
		return -1;
	for (size_t i = 0; i < nph; i++) {
		GElf_Phdr ph;
		uint64_t page_off;

		if (!gelf_getphdr(e->elf, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		page_off = ph.p_offset & ~(uint64_t)0xfff;
		if (map_offset < page_off || map_offset >= ph.p_offset + ph.p_filesz + 0x1000)
			continue;
		*bias = map_start - map_offset - ((ph.p_vaddr & ~(uint64_t)0xfff) - page_off);
		return 0;
	}
	return -1;
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
