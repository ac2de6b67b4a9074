/* find.c - find CPython in a process: which ELF, where it is loaded, its symbols and version. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "profiler/profiler.h"
#include "profiler/native/native.h"
#include "profiler/python/python.h"

enum { SYM_RUNTIME, SYM_INTERP_HEAD, SYM_TSTATE_CURRENT, SYM_CODE_TYPE, SYM_UNICODE_TYPE,
       SYM_STRING_TYPE, SYM_BYTES_TYPE, SYM_VERSION, SYM_COUNT };
static const char *const sym_names[SYM_COUNT] = {
	"_PyRuntime", "interp_head", "_PyThreadState_Current", "PyCode_Type",
	"PyUnicode_Type", "PyString_Type", "PyBytes_Type", "Py_Version",
};

static void read_comm(pid_t pid, char *buf, size_t len)
{
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	buf[0] = '\0';
	f = fopen(path, "re");
	if (!f)
		return;
	if (fgets(buf, (int)len, f))
		buf[strcspn(buf, "\n")] = '\0';
	fclose(f);
}

/* The file a process's mapping refers to, as this process can open it. */
static void open_path(pid_t pid, const struct prof_map *m, char *buf, size_t len)
{
	const char *del = strstr(m->path, " (deleted)");

	if (del && del[10] == '\0')
		snprintf(buf, len, "/proc/%d/map_files/%llx-%llx", (int)pid,
			 (unsigned long long)m->start, (unsigned long long)m->end);
	else
		snprintf(buf, len, "/proc/%d/root%s", (int)pid, m->path);
}

static int is_candidate(const char *path)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	return !strncmp(base, "libpython", 9) || !strncmp(base, "python", 6);
}

/* Tries the ELF of mapping m: 1 when it holds the interpreter. */
static int try_elf(pid_t pid, const struct prof_maps *maps, const struct prof_map *m,
		   struct py_target *t)
{
	char path[512];
	uint64_t v[SYM_COUNT];
	const struct prof_map *low = m;
	struct py_elf elf;
	int found = 0;

	open_path(pid, m, path, sizeof(path));
	if (py_elf_open(&elf, path) < 0)
		return 0;
	/* The exported symbols first; the (much larger) .symtab only when what
	 * the reader needs is not exported (2.7, 3.6, a static interpreter). */
	memset(v, 0, sizeof(v));
	py_elf_symbols(&elf, sym_names, v, SYM_COUNT, PY_ELF_DYNSYM);
	if (!v[SYM_RUNTIME] || !v[SYM_CODE_TYPE] || !v[SYM_UNICODE_TYPE] || !v[SYM_BYTES_TYPE])
		py_elf_symbols(&elf, sym_names, v, SYM_COUNT, PY_ELF_SYMTAB);
	if (!v[SYM_CODE_TYPE] || (!v[SYM_RUNTIME] && !v[SYM_TSTATE_CURRENT]))
		goto out;
	for (size_t i = 0; i < maps->n; i++)
		if (!strcmp(maps->v[i].path, m->path) && maps->v[i].offset < low->offset)
			low = &maps->v[i];
	if (prof_elf_bias(elf.obj, low->start, low->offset, &t->bias) < 0)
		goto out;
	if (py_version_detect(&elf, m->path, v[SYM_VERSION], &t->major, &t->minor, &t->micro) < 0)
		goto out;
	snprintf(t->path, sizeof(t->path), "%s", m->path);
	t->runtime = v[SYM_RUNTIME] ? v[SYM_RUNTIME] + t->bias : 0;
	t->interp_head = v[SYM_INTERP_HEAD] ? v[SYM_INTERP_HEAD] + t->bias : 0;
	t->tstate_current = v[SYM_TSTATE_CURRENT] ? v[SYM_TSTATE_CURRENT] + t->bias : 0;
	t->code_type = v[SYM_CODE_TYPE] + t->bias;
	if (t->major == 2) {
		t->unicode_type = v[SYM_STRING_TYPE] ? v[SYM_STRING_TYPE] + t->bias : 0;
		t->bytes_type = t->unicode_type;
	} else {
		t->unicode_type = v[SYM_UNICODE_TYPE] ? v[SYM_UNICODE_TYPE] + t->bias : 0;
		t->bytes_type = v[SYM_BYTES_TYPE] ? v[SYM_BYTES_TYPE] + t->bias : 0;
	}
	found = 1;
out:
	py_elf_close(&elf);
	return found;
}

/* libpython first (a python executable linked to it only references the
 * symbols), then the executable and other python-named files, then any
 * file (a C program with libpython linked statically). */
static int scan_maps(pid_t pid, const struct prof_maps *maps, struct py_target *t)
{
	for (int pass = 0; pass < 3; pass++) {
		const char *last = "";

		for (size_t i = 0; i < maps->n; i++) {
			const struct prof_map *m = &maps->v[i];
			const char *base = strrchr(m->path, '/');

			if (m->path[0] != '/' || !strcmp(m->path, last))
				continue;
			last = m->path;
			base = base ? base + 1 : m->path;
			if (pass == 0 && strncmp(base, "libpython", 9))
				continue;
			if (pass == 1 && (!is_candidate(m->path) || !strncmp(base, "libpython", 9)))
				continue;
			if (pass == 2 && (is_candidate(m->path) || strncmp(m->path, "/usr/lib", 8) == 0 ||
					  strstr(base, ".so")))
				continue;
			if (try_elf(pid, maps, m, t))
				return 1;
		}
	}
	return 0;
}

int py_find(pid_t pid, struct py_target *t, char *err, size_t errlen)
{
	struct prof_maps maps;
	char comm[64];

	memset(t, 0, sizeof(*t));
	t->pid = pid;
	if (prof_check_pid(pid, err, errlen) < 0)
		return -1;
	if (prof_maps_read(pid, &maps, err, errlen) < 0) {
		prof_explain_denied(pid, err, errlen);
		return -1;
	}
	if (!scan_maps(pid, &maps, t)) {
		prof_maps_free(&maps);
		read_comm(pid, comm, sizeof(comm));
		snprintf(err, errlen, "process %d (%s) is not a Python process "
			 "(no CPython interpreter in its memory maps)", (int)pid, comm);
		return -1;
	}
	prof_maps_free(&maps);
	return 0;
}

int py_find_denied(pid_t pid, char *err, size_t errlen)
{
	prof_explain_denied(pid, err, errlen);
	return -1;
}
