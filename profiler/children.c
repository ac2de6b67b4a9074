/* children.c - the processes a target starts, for --subprocesses. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profiler/sampler-int.h"

#define MAX_DEPTH 16

static int has(const struct prof_tids *t, pid_t pid)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i] == pid)
			return 1;
	return 0;
}

/* Children of every thread of pid (a child belongs to the thread that forked it). */
static void add_children(pid_t pid, struct prof_tids *out, int depth)
{
	struct prof_tids tids = {0};
	char err[160], path[96];
	size_t first = out->n;

	if (depth > MAX_DEPTH || prof_threads_list(pid, &tids, err, sizeof(err)) < 0)
		goto out;
	for (size_t i = 0; i < tids.n; i++) {
		FILE *f;
		long c;

		snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)tids.v[i]);
		f = fopen(path, "re");
		if (!f)
			continue;
		while (fscanf(f, "%ld", &c) == 1)
			if (c > 0 && !has(out, (pid_t)c) && prof_tids_push(out, (pid_t)c) < 0)
				break;
		fclose(f);
	}
	for (size_t i = first, n = out->n; i < n; i++)
		add_children(out->v[i], out, depth + 1);
out:
	prof_tids_free(&tids);
}

int prof_children_list(pid_t pid, struct prof_tids *out)
{
	out->n = 0;
	add_children(pid, out, 0);
	return 0;
}

void prof_cmdline(pid_t pid, char *buf, size_t len)
{
	char path[64];
	size_t n;
	FILE *f;

	if (!len)
		return;
	buf[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return;
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n > 0 && buf[n - 1] == '\0')
		n--;
	for (size_t i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	buf[n] = '\0';
}
