/* test-native-cfi.c - the unwind-rule reader on real objects and on thousands of corrupted copies of them. */
#include "config.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "profiler/native/native.h"
#include "tests/unit/unit.h"

#define COPIES 300
#define LOOKUPS 400

struct file {
	uint8_t *data;
	size_t size;
	struct { size_t off, len; } sec[4];	/* eh_frame_hdr, eh_frame, debug_frame, build-id */
	uint64_t text_lo, text_hi;
};

static const char *const sec_names[] = { ".eh_frame_hdr", ".eh_frame", ".debug_frame",
					 ".note.gnu.build-id" };

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static int load(const char *path, struct file *f)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	Elf *elf;
	Elf_Scn *scn = NULL;
	size_t shstrndx;

	memset(f, 0, sizeof(*f));
	if (fd < 0 || fstat(fd, &st) < 0 || !(f->data = malloc((size_t)st.st_size)) ||
	    read(fd, f->data, (size_t)st.st_size) != st.st_size) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	f->size = (size_t)st.st_size;
	elf_version(EV_CURRENT);
	elf = elf_memory((char *)f->data, f->size);
	if (!elf || elf_getshdrstrndx(elf, &shstrndx) != 0)
		return -1;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		const char *name;

		if (!gelf_getshdr(scn, &sh) || !(name = elf_strptr(elf, shstrndx, sh.sh_name)))
			continue;
		for (int i = 0; i < 4; i++)
			if (!strcmp(name, sec_names[i]) && sh.sh_type != SHT_NOBITS) {
				f->sec[i].off = sh.sh_offset;
				f->sec[i].len = sh.sh_size;
			}
		if (!strcmp(name, ".text"))
			f->text_lo = sh.sh_addr, f->text_hi = sh.sh_addr + sh.sh_size;
	}
	elf_end(elf);
	return f->sec[1].len && f->text_hi > f->text_lo ? 0 : -1;
}

/* Every address of .text gets an answer that makes sense, or none. */
static int lookups_sane(struct prof_elf *o, const struct file *f, int *found)
{
	for (int i = 0; i < LOOKUPS; i++) {
		uint64_t a = f->text_lo + rnd() % (f->text_hi - f->text_lo);
		struct prof_cfi_rule r;

		memset(&r, 0xa5, sizeof(r));
		if (prof_cfi_find(o, a, &r) != 0)
			continue;
		if (r.kind > PROF_CFI_END)
			return 0;
		if (r.kind == PROF_CFI_OK && r.cfa_reg != PROF_REG_SP && r.cfa_reg != PROF_REG_BP)
			return 0;
		*found += r.kind == PROF_CFI_OK;
	}
	return 1;
}

static void test_intact(const char *path)
{
	struct file f;
	struct prof_elf *o;
	char err[256];
	int found = 0;

	if (load(path, &f) < 0) {
		printf("#   cannot read the sections of %s\n", path);
		unit_case_failed = 1;
		return;
	}
	o = prof_elf_get(-1, path, f.data, f.size, err, sizeof(err));
	CHECK(o != NULL);
	if (!o)
		return;
	CHECK(lookups_sane(o, &f, &found));
	CHECK(found > LOOKUPS / 2);	/* compilers describe nearly all code */
	prof_elf_put(o);
}

/* Random bytes written over the unwind sections: no crash, no read out of
 * bounds (ASan), no rule with an impossible register. */
static void test_corrupt(const char *path)
{
	struct file f;
	int sane = 1, loaded = 0;

	if (load(path, &f) < 0) {
		printf("#   cannot read the sections of %s\n", path);
		unit_case_failed = 1;
		return;
	}
	for (int c = 0; c < COPIES && sane; c++) {
		uint8_t *copy = malloc(f.size);
		struct prof_elf *o;
		char err[256];
		int found = 0, nflip = 1 + (int)(rnd() % 64);

		if (!copy)
			break;
		memcpy(copy, f.data, f.size);
		/* a build-id of its own: the object cache must not hand back the last copy */
		for (size_t k = 0; k < f.sec[3].len && k < 20; k++)
			copy[f.sec[3].off + f.sec[3].len - 1 - k] = (uint8_t)rnd();
		for (int k = 0; k < nflip; k++) {
			int s = (int)(rnd() % 3);

			if (f.sec[s].len)
				copy[f.sec[s].off + rnd() % f.sec[s].len] = (uint8_t)rnd();
		}
		o = prof_elf_get(-1, path, copy, f.size, err, sizeof(err));
		if (!o)
			continue;
		loaded++;
		sane = lookups_sane(o, &f, &found);
		prof_elf_put(o);
	}
	CHECK(sane);
	CHECK(loaded > COPIES / 2);
	free(f.data);
}

#define LIBC "/lib/x86_64-linux-gnu/libc.so.6"

static void self_path(char *buf, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", buf, len - 1);

	buf[n > 0 ? n : 0] = '\0';
}

static void test_own_binary(void)
{
	char self[4096];

	self_path(self, sizeof(self));
	test_intact(self);
	test_corrupt(self);
}

static void test_libc(void)
{
	test_intact(LIBC);
	test_corrupt(LIBC);
}

int main(void)
{
	RUN(test_own_binary);
	RUN(test_libc);
	return unit_done();
}
