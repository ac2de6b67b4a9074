/* lines.c - source file, line and inlined functions of an address from DWARF (libdw), opened lazily. */
#include "config.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "profiler/native/native.h"

static int open_dwarf(struct prof_elf *o)
{
	Elf *elf;
	Dwarf *dw;

	if (o->debug_path) {
		o->dw_fd = open(o->debug_path, O_RDONLY | O_CLOEXEC);
		if (o->dw_fd < 0)
			return -1;
		elf = elf_begin(o->dw_fd, ELF_C_READ_MMAP, NULL);
	} else {
		elf = elf_memory((char *)o->data, o->size);
	}
	if (!elf)
		return -1;
	dw = dwarf_begin_elf(elf, DWARF_C_READ, NULL);
	if (!dw) {
		elf_end(elf);
		return -1;
	}
	o->dw = dw;
	o->dw_elf = elf;
	return 0;
}

void prof_dw_close(struct prof_elf *o)
{
	if (o->dw)
		dwarf_end(o->dw);
	if (o->dw_elf)
		elf_end(o->dw_elf);
	if (o->dw_fd >= 0)
		close(o->dw_fd);
	o->dw = NULL;
	o->dw_elf = NULL;
	o->dw_fd = -1;
}

static const char *die_name(Dwarf_Die *die)
{
	Dwarf_Attribute attr;
	const char *name = NULL;

	if (dwarf_attr_integrate(die, DW_AT_name, &attr))
		name = dwarf_formstring(&attr);
	return name;
}

static const char *call_file(Dwarf_Die *cu, Dwarf_Die *die)
{
	Dwarf_Attribute attr;
	Dwarf_Word idx;
	Dwarf_Files *files;
	size_t nfiles;

	if (!dwarf_attr(die, DW_AT_call_file, &attr) || dwarf_formudata(&attr, &idx) != 0)
		return NULL;
	if (dwarf_getsrcfiles(cu, &files, &nfiles) != 0 || idx >= nfiles)
		return NULL;
	return dwarf_filesrc(files, idx, NULL, NULL);
}

static int call_line(Dwarf_Die *die)
{
	Dwarf_Attribute attr;
	Dwarf_Word line;

	if (!dwarf_attr(die, DW_AT_call_line, &attr) || dwarf_formudata(&attr, &line) != 0)
		return 0;
	return (int)line;
}

/* Innermost first: the inlined callee at the line table's position, then
 * each caller at its DW_AT_call_file:call_line, up to the real function. */
static size_t inline_chain(Dwarf_Die *cu, uint64_t vaddr, struct prof_elf_frame *f, size_t max)
{
	Dwarf_Die *scopes = NULL;
	int nscopes = dwarf_getscopes(cu, vaddr, &scopes);
	size_t n = 1;

	for (int i = 0; i < nscopes && n <= max; i++) {
		int tag = dwarf_tag(&scopes[i]);

		if (tag != DW_TAG_inlined_subroutine && tag != DW_TAG_subprogram)
			continue;
		f[n - 1].function = die_name(&scopes[i]);
		if (tag == DW_TAG_subprogram || n == max)
			break;
		f[n].file = call_file(cu, &scopes[i]);
		f[n].line = call_line(&scopes[i]);
		f[n].function = NULL;
		n++;
	}
	free(scopes);
	return n;
}

size_t prof_dw_frames(struct prof_elf *o, uint64_t vaddr, struct prof_elf_frame *f, size_t max)
{
	Dwarf_Die cu;
	Dwarf_Line *line;

	if (o->dw_state == 0)
		o->dw_state = open_dwarf(o) == 0 ? 1 : -1;
	if (o->dw_state < 0 || max == 0)
		return 0;
	if (!dwarf_addrdie(o->dw, vaddr, &cu))
		return 0;
	f[0].function = NULL;
	f[0].file = NULL;
	f[0].line = 0;
	line = dwarf_getsrc_die(&cu, vaddr);
	if (line) {
		int lineno = 0;

		f[0].file = dwarf_linesrc(line, NULL, NULL);
		if (dwarf_lineno(line, &lineno) == 0)
			f[0].line = lineno;
	}
	return inline_chain(&cu, vaddr, f, max);
}
