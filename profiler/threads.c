/* threads.c - the threads of a process, from /proc/PID/task. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "profiler/profiler.h"

int prof_tids_push(struct prof_tids *t, pid_t tid)
{
	if (t->n == t->cap) {
		size_t nc = t->cap ? 2 * t->cap : 16;
		pid_t *v = realloc(t->v, nc * sizeof(*v));

		if (!v)
			return -1;
		t->v = v;
		t->cap = nc;
	}
	t->v[t->n++] = tid;
	return 0;
}

int prof_threads_list(pid_t pid, struct prof_tids *t, char *err, size_t errlen)
{
	char path[64];
	struct dirent *e;
	DIR *d;

	t->n = 0;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d) {
		int saved = errno;

		snprintf(err, errlen, "cannot list %s: %s", path,
			 saved == ENOENT ? "no such process" : strerror(saved));
		errno = saved == ENOENT ? ESRCH : saved;
		return -1;
	}
	while ((e = readdir(d))) {
		char *end;
		long tid = strtol(e->d_name, &end, 10);

		if (*end || tid <= 0)
			continue;
		if (prof_tids_push(t, (pid_t)tid) < 0) {
			closedir(d);
			snprintf(err, errlen, "out of memory listing %s", path);
			errno = ENOMEM;
			return -1;
		}
	}
	closedir(d);
	if (t->n == 0) {
		/* A process whose every thread exited: a zombie on its way out. */
		snprintf(err, errlen, "process %d has no threads left (exited)", (int)pid);
		errno = ESRCH;
		return -1;
	}
	return 0;
}

void prof_tids_free(struct prof_tids *t)
{
	free(t->v);
	t->v = NULL;
	t->n = t->cap = 0;
}

/* The fields of /proc/PID/task/TID/stat after the name (" S ppid ..."),
 * read into buf, or NULL.  The name may hold spaces and parentheses:
 * the last ')' ends it. */
const char *prof_thread_stat(pid_t pid, pid_t tid, char *buf, size_t len)
{
	char path[64], *p;
	ssize_t n;
	int fd;

	if (len < 2)
		return NULL;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p + 1 : NULL;
}

void prof_thread_name(pid_t pid, pid_t tid, char *buf, size_t len)
{
	char path[64];
	ssize_t r;
	int fd;

	if (!len)
		return;
	buf[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", (int)pid, (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	r = read(fd, buf, len - 1);
	close(fd);
	if (r <= 0)
		return;
	buf[r] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
}
