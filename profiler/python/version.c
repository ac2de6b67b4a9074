/* version.c - the exact CPython version (major.minor.micro) of an interpreter ELF. */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "profiler/native/native.h"
#include "profiler/python/python.h"

struct scan {
	int major, minor;	/* wanted, or -1 for any */
	int found_major, found_minor, found_micro;
};

/* PY_VERSION ("3.8.18") is a NUL-terminated literal in .rodata, often merged
 * into the tail of a longer string ("/tmp/.../Python-3.8.18"). */
static int scan_version(void *ctx, const unsigned char *p, size_t n)
{
	struct scan *s = ctx;
	char want[16] = "";
	size_t wlen = 0;

	/* With the minor version known from the file name, memmem finds the
	 * candidates ("3.8.") far faster than a byte-by-byte look. */
	if (s->major >= 0)
		wlen = (size_t)snprintf(want, sizeof(want), "%d.%d.", s->major, s->minor);
	for (size_t i = 1; i + 5 < n; i++) {
		int ma, mi, mc, len = 0;
		char buf[16];
		size_t k;

		if (wlen) {
			const unsigned char *q = memmem(p + i, n - i, want, wlen);

			if (!q)
				return 0;
			i = (size_t)(q - p);
		}
		if ((p[i] != '2' && p[i] != '3') || p[i + 1] != '.' || isdigit(p[i - 1]) ||
		    p[i - 1] == '.')
			continue;
		for (k = 0; k < sizeof(buf) - 1 && i + k < n && p[i + k]; k++)
			buf[k] = (char)p[i + k];
		if (i + k >= n || p[i + k] != '\0' || k == sizeof(buf) - 1)
			continue;
		buf[k] = '\0';
		if (sscanf(buf, "%d.%d.%d%n", &ma, &mi, &mc, &len) != 3 || len != (int)k)
			continue;
		if (s->major >= 0 && (ma != s->major || mi != s->minor))
			continue;
		s->found_major = ma;
		s->found_minor = mi;
		s->found_micro = mc;
		return 1;
	}
	return 0;
}

/* "libpython3.11.so.1.0", "python3.11", "python2.7", "libpython3.6m.so" */
static int version_from_name(const char *path, int *major, int *minor)
{
	const char *base = strrchr(path, '/');
	const char *p;

	base = base ? base + 1 : path;
	p = strstr(base, "python");
	if (!p)
		return -1;
	return sscanf(p, "python%d.%d", major, minor) == 2 ? 0 : -1;
}

int py_version_detect(struct py_elf *elf, const char *path, uint64_t addr, int *major,
		      int *minor, int *micro)
{
	unsigned char v[4];
	struct scan s = { -1, -1, 0, 0, 0 };

	if (addr && prof_elf_read(elf->obj, addr, v, sizeof(v)) == 0) {
		uint32_t hex = (uint32_t)v[0] | (uint32_t)v[1] << 8 | (uint32_t)v[2] << 16 |
			       (uint32_t)v[3] << 24;

		*major = (int)(hex >> 24);
		*minor = (int)(hex >> 16 & 0xff);
		*micro = (int)(hex >> 8 & 0xff);
		if (*major == 3)
			return 0;
	}
	if (version_from_name(path, &s.major, &s.minor) < 0)
		s.major = -1;
	if (py_elf_each_rodata(elf, scan_version, &s)) {
		*major = s.found_major;
		*minor = s.found_minor;
		*micro = s.found_micro;
		return 0;
	}
	if (s.major >= 0) {
		*major = s.major;
		*minor = s.minor;
		*micro = -1;	/* the name tells the minor version only */
		return 0;
	}
	return -1;
}
