/* kallsyms.c - kernel function names from /proc/kallsyms, loaded once, looked up by binary search. */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "profiler/native/native.h"

struct ksym {
	uint64_t addr;
	const char *name;	/* into text */
};

static pthread_once_t once = PTHREAD_ONCE_INIT;
static struct ksym *ksyms;
static size_t nksyms;
static char *text;

static int cmp_ksym(const void *a, const void *b)
{
	const struct ksym *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	size_t len = 0, cap = 1 << 22;
	char *buf = malloc(cap + 1);

	if (!f || !buf) {
		if (f)
			fclose(f);
		free(buf);
		return NULL;
	}
	for (;;) {
		size_t got = fread(buf + len, 1, cap - len, f);
		char *nb;

		len += got;
		if (len < cap)
			break;
		nb = realloc(buf, 2 * cap + 1);
		if (!nb)
			break;
		buf = nb;
		cap *= 2;
	}
	fclose(f);
	buf[len] = '\0';
	return buf;
}

/* "ffffffff81000000 T _stext [module]": text symbols only, parsed in
 * place (about 100,000 lines); all-zero addresses (kptr_restrict) mean
 * no kernel names. */
static void load(void)
{
	size_t cap = 0;
	char *p;

	text = slurp("/proc/kallsyms");
	for (p = text; p && *p;) {
		char *nl = strchr(p, '\n'), *end, *name;
		uint64_t addr = strtoull(p, &end, 16);

		if (nl)
			*nl = '\0';
		if (end[0] == ' ' && strchr("tTwW", end[1]) && end[2] == ' ' && addr) {
			name = end + 3;
			name[strcspn(name, " \t")] = '\0';
			if (nksyms == cap) {
				size_t nc = cap ? 2 * cap : 65536;
				struct ksym *v = realloc(ksyms, nc * sizeof(*v));

				if (!v)
					break;
				ksyms = v;
				cap = nc;
			}
			ksyms[nksyms].addr = addr;
			ksyms[nksyms].name = name;
			nksyms++;
		}
		if (!nl)
			break;
		p = nl + 1;
	}
	/* The kernel lists its symbols nearly sorted: sort only if needed. */
	for (size_t i = 1; i < nksyms; i++)
		if (ksyms[i - 1].addr > ksyms[i].addr) {
			qsort(ksyms, nksyms, sizeof(*ksyms), cmp_ksym);
			break;
		}
}

const char *prof_kernel_symbol(uint64_t addr)
{
	size_t lo = 0, hi;

	pthread_once(&once, load);
	hi = nksyms;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ksyms[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? ksyms[lo - 1].name : NULL;
}
