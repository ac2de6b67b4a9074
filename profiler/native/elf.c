/* elf.c - ELF objects loaded once per build-id: segments, .eh_frame_hdr, build-id, separate debug files. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "profiler/native/native.h"

/* Objects shared by every engine of the process; refcounted under the lock. */
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct prof_elf *cache_head;
static uint32_t next_id = 1;

static void read_build_id(struct prof_elf *o, Elf *elf)
{
	size_t nph = 0;

	if (elf_getphdrnum(elf, &nph) != 0)
		return;
	for (size_t i = 0; i < nph; i++) {
		GElf_Phdr ph;
		Elf_Data *d;
		GElf_Nhdr nh;
		size_t off = 0, noff, doff;

		if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_NOTE)
			continue;
		d = elf_getdata_rawchunk(elf, (int64_t)ph.p_offset, ph.p_filesz, ELF_T_NHDR);
		if (!d)
			continue;
		while ((off = gelf_getnote(d, off, &nh, &noff, &doff)) > 0) {
			if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
			    !memcmp((char *)d->d_buf + noff, "GNU", 4) &&
			    nh.n_descsz <= sizeof(o->build_id)) {
				memcpy(o->build_id, (char *)d->d_buf + doff, nh.n_descsz);
				o->build_id_len = nh.n_descsz;
				return;
			}
		}
	}
}

static int read_segments(struct prof_elf *o, Elf *elf)
{
	GElf_Ehdr eh;
	size_t nph = 0;

	if (!gelf_getehdr(elf, &eh) || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_machine != EM_X86_64)
		return -1;
	o->type = eh.e_type;
	if (elf_getphdrnum(elf, &nph) != 0)
		return -1;
	for (size_t i = 0; i < nph; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, (int)i, &ph))
			continue;
		if (ph.p_type == PT_LOAD && o->nseg < (int)(sizeof(o->seg) / sizeof(o->seg[0]))) {
			struct prof_elf_seg *s = &o->seg[o->nseg++];

			s->vaddr = ph.p_vaddr;
			s->memsz = ph.p_memsz;
			s->offset = ph.p_offset;
			s->filesz = ph.p_filesz;
		} else if (ph.p_type == PT_GNU_EH_FRAME) {
			o->eh_hdr_vaddr = ph.p_vaddr;
			o->eh_hdr_size = ph.p_memsz;
		}
	}
	return o->nseg ? 0 : -1;
}

const uint8_t *prof_elf_at(const struct prof_elf *o, uint64_t vaddr, size_t *avail)
{
	for (int i = 0; i < o->nseg; i++) {
		const struct prof_elf_seg *s = &o->seg[i];
		uint64_t off;

		if (vaddr < s->vaddr || vaddr - s->vaddr >= s->filesz)
			continue;
		off = s->offset + (vaddr - s->vaddr);
		if (off >= o->size)
			return NULL;
		*avail = s->filesz - (vaddr - s->vaddr);
		if (*avail > o->size - off)
			*avail = o->size - off;
		return o->data + off;
	}
	return NULL;
}

int prof_elf_read(const struct prof_elf *o, uint64_t vaddr, void *buf, size_t len)
{
	size_t avail;
	const uint8_t *p = prof_elf_at(o, vaddr, &avail);

	if (!p || len > avail)
		return -1;
	memcpy(buf, p, len);
	return 0;
}

int prof_elf_bias(const struct prof_elf *o, uint64_t map_start, uint64_t map_offset,
		  uint64_t *bias)
{
	for (int i = 0; i < o->nseg; i++) {
		const struct prof_elf_seg *s = &o->seg[i];
		uint64_t page_off = s->offset & ~0xfffull;

		if (map_offset >= page_off && map_offset < s->offset + s->filesz + 0x1000) {
			*bias = map_start - map_offset - ((s->vaddr & ~0xfffull) - page_off);
			return 0;
		}
	}
	return -1;
}

static struct prof_elf *cache_find(const struct prof_elf *probe, const struct stat *st)
{
	for (struct prof_elf *o = cache_head; o; o = o->next) {
		if (probe->build_id_len) {
			if (o->build_id_len == probe->build_id_len &&
			    !memcmp(o->build_id, probe->build_id, o->build_id_len))
				return o;
		} else if (!o->build_id_len && st && o->size == (size_t)st->st_size &&
			   !strcmp(o->path, probe->path)) {
			return o;
		}
	}
	return NULL;
}

static void free_object(struct prof_elf *o)
{
	prof_dw_close(o);
	prof_elf_cache_free(o);
	prof_cfi_free(o);
	if (o->data_mmapped)
		munmap((void *)o->data, o->size);
	else
		free((void *)o->data);
	free(o->syms);
	free(o->strs);
	free(o->debug_path);
	free(o->path);
	free(o->name);
	free(o);
}

static int map_file(int fd, struct prof_elf *o, char *err, size_t errlen)
{
	struct stat st;
	void *p;

	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 64) {
		snprintf(err, errlen, "%s: not a regular ELF file", o->path);
		return -1;
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED) {
		snprintf(err, errlen, "%s: cannot map: %s", o->path, strerror(errno));
		return -1;
	}
	o->data = p;
	o->size = (size_t)st.st_size;
	o->data_mmapped = 1;
	return 0;
}

static struct prof_elf *new_object(const char *path)
{
	struct prof_elf *o = calloc(1, sizeof(*o));
	const char *slash = strrchr(path, '/');

	if (!o)
		return NULL;
	o->path = strdup(path);
	o->name = strdup(slash ? slash + 1 : path);
	o->dw_fd = -1;
	if (!o->path || !o->name) {
		free(o->path);
		free(o->name);
		free(o);
		return NULL;
	}
	/* "/usr/bin/prog (deleted)": the module is still "prog". */
	char *del = strstr(o->name, " (deleted)");
	if (del)
		*del = '\0';
	return o;
}

struct prof_elf *prof_elf_get(int fd, const char *path, uint8_t *image, size_t imagelen,
			      char *err, size_t errlen)
{
	struct prof_elf *o, *old;
	Elf *elf;

	elf_version(EV_CURRENT);
	o = new_object(path);
	if (!o) {
		snprintf(err, errlen, "out of memory");
		free(image);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	if (image) {
		o->data = image;
		o->size = imagelen;
	} else if (map_file(fd, o, err, errlen) != 0) {
		close(fd);
		free_object(o);
		return NULL;
	}
	if (fd >= 0)
		close(fd);
	elf = elf_memory((char *)o->data, o->size);
	if (!elf || elf_kind(elf) != ELF_K_ELF || read_segments(o, elf) != 0) {
		snprintf(err, errlen, "%s: not a 64-bit x86-64 ELF object", path);
		if (elf)
			elf_end(elf);
		free_object(o);
		return NULL;
	}
	read_build_id(o, elf);
	pthread_mutex_lock(&cache_lock);
	old = cache_find(o, &(struct stat){.st_size = (off_t)o->size});
	if (old) {
		old->refs++;
		pthread_mutex_unlock(&cache_lock);
		elf_end(elf);
		free_object(o);
		return old;
	}
	pthread_mutex_unlock(&cache_lock);
	/* Loading symbols may take a while; do it outside the lock and
	 * accept that two engines could load the same object at once. */
	/* Symbols are loaded at the first address named in the object: a
	 * process maps many that no sample ever stops in. */
	prof_elf_find_debug(o, elf);
	elf_end(elf);
	pthread_mutex_lock(&cache_lock);
	o->id = next_id++;
	o->refs = 1;
	o->next = cache_head;
	cache_head = o;
	pthread_mutex_unlock(&cache_lock);
	return o;
}

void prof_elf_put(struct prof_elf *o)
{
	struct prof_elf **pp;

	if (!o)
		return;
	pthread_mutex_lock(&cache_lock);
	if (--o->refs > 0) {
		pthread_mutex_unlock(&cache_lock);
		return;
	}
	for (pp = &cache_head; *pp; pp = &(*pp)->next)
		if (*pp == o) {
			*pp = o->next;
			break;
		}
	pthread_mutex_unlock(&cache_lock);
	free_object(o);
}

static int try_debug(struct prof_elf *o, const char *path)
{
	if (access(path, R_OK) != 0)
		return 0;
	o->debug_path = strdup(path);
	return o->debug_path != NULL;
}

static const char *read_debuglink(Elf *elf)
{
	size_t shstrndx;
	Elf_Scn *scn = NULL;

	if (elf_getshdrstrndx(elf, &shstrndx) != 0)
		return NULL;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		const char *name;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh))
			continue;
		name = elf_strptr(elf, shstrndx, sh.sh_name);
		if (!name || strcmp(name, ".gnu_debuglink"))
			continue;
		d = elf_getdata(scn, NULL);
		if (!d || d->d_size < 2 || !memchr(d->d_buf, '\0', d->d_size))
			return NULL;
		return d->d_buf;
	}
	return NULL;
}

static int has_section(Elf *elf, const char *want)
{
	size_t shstrndx;
	Elf_Scn *scn = NULL;

	if (elf_getshdrstrndx(elf, &shstrndx) != 0)
		return 0;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		const char *name;

		if (gelf_getshdr(scn, &sh) && sh.sh_type != SHT_NOBITS &&
		    (name = elf_strptr(elf, shstrndx, sh.sh_name)) && !strcmp(name, want))
			return 1;
	}
	return 0;
}

/* Debug info in the object itself wins; else the build-id path, then the
 * debuglink next to the file, in .debug/, and under /usr/lib/debug. */
void prof_elf_find_debug(struct prof_elf *o, void *elfp)
{
	Elf *elf = elfp;
	char path[8400], dir[4096];
	const char *link, *slash;

	if (has_section(elf, ".debug_info"))
		return;
	if (o->build_id_len >= 2) {
		int n = snprintf(path, sizeof(path), "/usr/lib/debug/.build-id/%02x/", o->build_id[0]);

		for (size_t i = 1; i < o->build_id_len && n < (int)sizeof(path) - 8; i++)
			n += snprintf(path + n, sizeof(path) - (size_t)n, "%02x", o->build_id[i]);
		snprintf(path + n, sizeof(path) - (size_t)n, ".debug");
		if (try_debug(o, path))
			return;
	}
	link = read_debuglink(elf);
	if (!link || strchr(link, '/'))
		return;
	slash = strrchr(o->path, '/');
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - o->path) : 1, slash ? o->path : ".");
	snprintf(path, sizeof(path), "%s/%s", dir, link);
	if (strcmp(path, o->path) && try_debug(o, path))
		return;
	snprintf(path, sizeof(path), "%s/.debug/%s", dir, link);
	if (try_debug(o, path))
		return;
	snprintf(path, sizeof(path), "/usr/lib/debug%s/%s", dir, link);
	try_debug(o, path);
}
