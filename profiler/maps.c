/* maps.c - parse /proc/PID/maps. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profiler/profiler.h"

static int parse_line(char *line, struct prof_map *m)
{
	char perms[5];
	unsigned long long start, end, off, inode;
	int pathpos = 0;

	if (sscanf(line, "%llx-%llx %4s %llx %*x:%*x %llu %n", &start, &end, perms, &off,
		   &inode, &pathpos) < 5)
		return -1;
	line[strcspn(line, "\n")] = '\0';
	m->start = start;
	m->end = end;
	m->offset = off;
	m->inode = inode;
	memcpy(m->perms, perms, sizeof(m->perms));
	m->path = strdup(pathpos > 0 ? line + pathpos : "");
	return m->path ? 0 : -1;
}

int prof_maps_read(pid_t pid, struct prof_maps *m, char *err, size_t errlen)
{
	char path[64], *line = NULL;
	size_t cap = 0, alloc = 0;
	FILE *f;

	m->v = NULL;
	m->n = 0;
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (!f) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	while (getline(&line, &cap, f) > 0) {
		if (m->n == alloc) {
			size_t na = alloc ? 2 * alloc : 64;
			struct prof_map *v = realloc(m->v, na * sizeof(*v));

			if (!v)
				goto out_nomem;
			m->v = v;
			alloc = na;
		}
		if (parse_line(line, &m->v[m->n]) == 0)
			m->n++;
	}
	free(line);
	fclose(f);
	if (m->n == 0) {
		snprintf(err, errlen, "%s is empty (process exited?)", path);
		return -1;
	}
	return 0;

out_nomem:
	free(line);
	fclose(f);
	prof_maps_free(m);
	snprintf(err, errlen, "out of memory reading %s", path);
	return -1;
}

void prof_maps_free(struct prof_maps *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->v[i].path);
	free(m->v);
	m->v = NULL;
	m->n = 0;
}

/* Maps are sorted by address in the kernel's output: binary search. */
const struct prof_map *prof_maps_find(const struct prof_maps *m, uint64_t addr)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (addr < m->v[mid].start)
			hi = mid;
		else if (addr >= m->v[mid].end)
			lo = mid + 1;
		else
			return &m->v[mid];
	}
	return NULL;
}
