/* test-native-symbols.c - ELF symbols, lines, load bias and the unwinder, checked on this very process. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "profiler/native/native.h"
#include "tests/unit/unit.h"

__attribute__((noinline)) int native_probe_function(int x)
{
	return x * 3 + 1;	/* PROBE LINE */
}

static const struct prof_elf_frame *resolve(struct prof_space *s, uint64_t addr, size_t *n)
{
	const struct prof_mod *m = prof_space_find(s, addr);
	const struct prof_elf_frame *f = NULL;

	*n = 0;
	if (m)
		*n = prof_elf_resolve(m->obj, addr - m->bias, &f);
	return f;
}

static void test_own_function(void)
{
	struct prof_space s;
	char err[160];
	size_t n;
	const struct prof_elf_frame *f;

	CHECK(prof_space_init(&s, getpid(), err, sizeof(err)) == 0);
	f = resolve(&s, (uint64_t)(uintptr_t)native_probe_function + 2, &n);
	CHECK(n >= 1);
	if (n) {
		CHECK_EQ_STR(f[n - 1].function, "native_probe_function");
		CHECK(f[0].file && strstr(f[0].file, "test-native-symbols.c"));
		CHECK(f[0].line > 0);
	}
	prof_space_free(&s);
}

static void test_libc_and_vdso(void)
{
	struct prof_space s;
	char err[160];
	size_t n;
	const struct prof_elf_frame *f;
	int have_vdso = 0;

	CHECK(prof_space_init(&s, getpid(), err, sizeof(err)) == 0);
	f = resolve(&s, (uint64_t)(uintptr_t)getpid, &n);
	CHECK(n >= 1);
	if (n)
		CHECK(strstr(f[n - 1].function, "getpid") != NULL);
	for (size_t i = 0; i < s.nmods; i++)
		if (!strcmp(s.mods[i].obj->name, "[vdso]")) {
			have_vdso = 1;
			resolve(&s, s.mods[i].start, &n);	/* symbols load at the first lookup */
			CHECK(s.mods[i].obj->nsyms > 0);
		}
	CHECK(have_vdso);
	prof_space_free(&s);
}

static void test_objects_shared(void)
{
	struct prof_space a, b;
	char err[160];
	const struct prof_mod *ma, *mb;
	uint64_t addr = (uint64_t)(uintptr_t)native_probe_function;

	CHECK(prof_space_init(&a, getpid(), err, sizeof(err)) == 0);
	CHECK(prof_space_init(&b, getpid(), err, sizeof(err)) == 0);
	ma = prof_space_find(&a, addr);
	mb = prof_space_find(&b, addr);
	CHECK(ma && mb && ma->obj == mb->obj);	/* loaded once per build-id */
	prof_space_free(&a);
	prof_space_free(&b);
}

static void test_symbol_lookup_bounds(void)
{
	struct prof_elf o;
	struct prof_elf_sym syms[] = {
		{0x1000, 0x10, "a"}, {0x1010, 0, "b"}, {0x2000, 0x20, "c"},
	};

	memset(&o, 0, sizeof(o));
	o.syms = syms;
	o.nsyms = 3;
	CHECK(prof_elf_symbol(&o, 0xfff) == NULL);
	CHECK_EQ_STR(prof_elf_symbol(&o, 0x1000)->name, "a");
	CHECK_EQ_STR(prof_elf_symbol(&o, 0x100f)->name, "a");
	CHECK_EQ_STR(prof_elf_symbol(&o, 0x1010)->name, "b");	/* no size: close to it only */
	CHECK_EQ_STR(prof_elf_symbol(&o, 0x10ff)->name, "b");
	CHECK(prof_elf_symbol(&o, 0x1fff) == NULL);
	CHECK_EQ_STR(prof_elf_symbol(&o, 0x201f)->name, "c");
	CHECK(prof_elf_symbol(&o, 0x2020) == NULL);	/* past c's size */
}

static void test_demangle(void)
{
	char *d = prof_demangle("_ZN3foo3barEi");

	if (d)	/* libstdc++ may be absent: then names stay mangled */
		CHECK_EQ_STR(d, "foo::bar(int)");
	free(d);
	CHECK(prof_demangle("plain_c_name") == NULL);
}

int main(void)
{
	RUN(test_own_function);
	RUN(test_libc_and_vdso);
	RUN(test_objects_shared);
	RUN(test_symbol_lookup_bounds);
	RUN(test_demangle);
	return unit_done();
}
