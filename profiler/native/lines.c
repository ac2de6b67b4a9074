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

struct arange {
	uint64_t lo, hi, cu;	/* [lo, hi) belongs to the CU at offset cu of .debug_info */
};

/* By start address (a C library lists some 4,000, in a few hundred runs). */
static void sort_aranges(struct prof_elf *o)
{
	size_t n = o->naranges;
	struct prof_sort_key *k = malloc(2 * n * sizeof(*k) + 1), *sorted;
	struct arange *v = malloc(n * sizeof(*v) + 1), *old = o->aranges;

	if (!k || !v || n > UINT32_MAX) {
		free(k);
		free(v);
		free(o->aranges);
		o->aranges = NULL;
		o->naranges = 0;
		return;
	}
	for (size_t i = 0; i < n; i++)
		k[i] = (struct prof_sort_key){old[i].lo, 0, (uint32_t)i};
	sorted = n ? prof_sort_keys(k, k + n, n) : k;
	for (size_t i = 0; i < n; i++)
		v[i] = old[sorted[i].idx];
	free(k);
	free(old);
	o->aranges = v;
}

static uint64_t get_uint(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	memcpy(&v, p, n);	/* x86-64: little-endian, as the file */
	return v;
}

static int push_arange(struct prof_elf *o, size_t *cap, uint64_t lo, uint64_t len, uint64_t cu)
{
	struct arange *v = o->aranges;

	if (o->naranges == *cap) {
		size_t nc = *cap ? 2 * *cap : 256;

		v = realloc(v, nc * sizeof(*v));
		if (!v)
			return -1;
		o->aranges = v;
		*cap = nc;
	}
	v[o->naranges++] = (struct arange){lo, lo + len, cu};
	return 0;
}

/* .debug_aranges read directly: libdw's dwarf_getaranges also visits
 * the header of every CU, some 4 ms for a C library's thousands, to
 * name the one address a sample needs.  Only the plain layout (8-byte
 * addresses, no segments, an uncompressed section); anything else leaves
 * the table empty and libdw answers. */
static void read_aranges(struct prof_elf *o, Elf *elf)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx, cap = 0;

	if (elf_getshdrstrndx(elf, &shstrndx) != 0)
		return;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		const char *name;
		Elf_Data *d;
		const uint8_t *p, *end;

		if (!gelf_getshdr(scn, &sh) || !(name = elf_strptr(elf, shstrndx, sh.sh_name)) ||
		    strcmp(name, ".debug_aranges"))
			continue;
		if ((sh.sh_flags & SHF_COMPRESSED) || !(d = elf_getdata(scn, NULL)) || !d->d_buf)
			return;
		p = d->d_buf;
		end = p + d->d_size;
		while (end - p >= 16) {
			const uint8_t *set = p, *next;
			uint64_t len = get_uint(p, 4), cu;
			size_t off = 4, osz = 4;

			if (len == 0xffffffffu) {
				len = get_uint(p + 4, 8);
				off = 12;
				osz = 8;
			}
			if (len > (uint64_t)(end - p) - off)
				goto bad;
			next = p + off + len;
			if (next - set < (ptrdiff_t)(off + 2 + osz + 2) || get_uint(p + off, 2) != 2)
				goto bad;
			cu = get_uint(p + off + 2, osz);
			if (p[off + 2 + osz] != 8 || p[off + 3 + osz] != 0)
				goto bad;
			/* Tuples start at a multiple of twice the address size. */
			p = set + ((off + 4 + osz + 15) & ~(size_t)15);
			for (; next - p >= 16; p += 16) {
				uint64_t lo = get_uint(p, 8), n = get_uint(p + 8, 8);

				if (!lo && !n)
					break;
				if (n && push_arange(o, &cap, lo, n, cu) != 0)
					goto bad;
			}
			p = next;
		}
		sort_aranges(o);
		return;
	}
	return;
bad:
	free(o->aranges);
	o->aranges = NULL;
	o->naranges = 0;
}

/* The CU DIE of vaddr by the table; 1 found, 0 not covered. */
static int find_cu(struct prof_elf *o, uint64_t vaddr, Dwarf_Die *cu)
{
	const struct arange *v = o->aranges;
	size_t lo = 0, hi = o->naranges;
	Dwarf_Off next;
	size_t hsize;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v[mid].lo <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo || vaddr >= v[lo - 1].hi)
		return 0;
	if (dwarf_next_unit(o->dw, v[lo - 1].cu, &next, &hsize, NULL, NULL, NULL, NULL, NULL,
			    NULL) != 0)
		return 0;
	return dwarf_offdie(o->dw, v[lo - 1].cu + hsize, cu) != NULL;
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
	read_aranges(o, elf);
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
	free(o->aranges);
	o->aranges = NULL;
	o->naranges = 0;
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
	if (o->naranges ? !find_cu(o, vaddr, &cu) : !dwarf_addrdie(o->dw, vaddr, &cu))
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
