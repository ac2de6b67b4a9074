/* lines.c - source file, line and inlined functions of an address from DWARF (libdw), opened lazily. */
#include "config.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

#include "profiler/native/native.h"

/* $XDG_CACHE_HOME/sonda/SUB (or ~/.cache/...), made when missing; 0 or -1. */
int prof_cache_dir(char *buf, size_t len, const char *sub)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	char *p;

	if (xdg && *xdg == '/')
		snprintf(buf, len, "%s/sonda/%s", xdg, sub);
	else if (home && *home == '/')
		snprintf(buf, len, "%s/.cache/sonda/%s", home, sub);
	else
		return -1;
	for (p = buf + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			if (mkdir(buf, 0700) < 0 && errno != EEXIST)
				return -1;
			*p = '/';
		}
	return mkdir(buf, 0700) < 0 && errno != EEXIST ? -1 : 0;
}

static int has_compressed(Elf *elf)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;

		if (gelf_getshdr(scn, &sh) && (sh.sh_flags & SHF_COMPRESSED))
			return 1;
	}
	return 0;
}

static int copy_file(int from, int to)
{
	char buf[65536];
	ssize_t n;

	while ((n = read(from, buf, sizeof(buf))) > 0)
		if (write(to, buf, (size_t)n) != n)
			return -1;
	return n < 0 ? -1 : 0;
}

/* Writes a copy of the debug file at src with every section
 * decompressed to dst (through a temporary name); 0 or -1. */
static int write_decompressed(const char *src, const char *dst)
{
	char tmp[4200];
	int in, out, rc = -1;
	Elf *elf;
	Elf_Scn *scn = NULL;

	snprintf(tmp, sizeof(tmp), "%.4150s.%d.tmp", dst, (int)getpid());
	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -1;
	out = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0) {
		close(in);
		return -1;
	}
	if (copy_file(in, out) != 0 || !(elf = elf_begin(out, ELF_C_RDWR, NULL)))
		goto out;
	rc = 0;
	while ((scn = elf_nextscn(elf, scn)) && rc == 0) {
		GElf_Shdr sh;

		if (gelf_getshdr(scn, &sh) && (sh.sh_flags & SHF_COMPRESSED) &&
		    elf_compress(scn, 0, 0) < 0)
			rc = -1;
	}
	if (rc == 0 && elf_update(elf, ELF_C_WRITE) < 0)
		rc = -1;
	elf_end(elf);
out:
	close(in);
	if (close(out) != 0)
		rc = -1;
	if (rc == 0 && rename(tmp, dst) != 0)
		rc = -1;
	if (rc != 0)
		unlink(tmp);
	return rc;
}

/* A separate debug file with compressed sections (Debian's dbgsym) costs
 * libdw tens of ms to decompress at every open.  Its decompressed copy is
 * kept by build-id in the cache directory: later runs open that. */
static const char *debug_file(struct prof_elf *o, char *buf, size_t len)
{
	char dir[4096];
	int fd, n, compressed;
	Elf *elf;

	if (!o->build_id_len || prof_cache_dir(dir, sizeof(dir), "debug") != 0)
		return o->debug_path;
	n = snprintf(buf, len, "%s/", dir);
	for (size_t i = 0; i < o->build_id_len && n < (int)len - 8; i++)
		n += snprintf(buf + n, len - (size_t)n, "%02x", o->build_id[i]);
	snprintf(buf + n, len - (size_t)n, ".debug");
	if (access(buf, R_OK) == 0)
		return buf;
	fd = open(o->debug_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return o->debug_path;
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	compressed = elf && has_compressed(elf);
	if (elf)
		elf_end(elf);
	close(fd);
	if (!compressed || write_decompressed(o->debug_path, buf) != 0)
		return o->debug_path;
	return buf;
}

static int open_dwarf(struct prof_elf *o)
{
	Elf *elf;
	Dwarf *dw;
	char cached[4200];

	if (o->debug_path) {
		o->dw_fd = open(debug_file(o, cached, sizeof(cached)), O_RDONLY | O_CLOEXEC);
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
