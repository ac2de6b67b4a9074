/* threads.c - a target's kernel threads: tid from pthread_t, run state, name. */
#include "config.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "profiler/python/python.h"

#define MAX_THREADS 4096

struct th {
	int64_t tid;
	int fd;		/* /proc/PID/task/TID/stat, kept open: one pread per sample */
	int sys_fd;	/* /proc/PID/task/TID/syscall, opened when first needed */
	int seen;
	char name[32];
	char pyname[64];	/* threading's name, "" when none */
	uint64_t pyname_at;	/* sample it was read at, 0: never */
};

struct py_threads {
	pid_t pid;
	struct th *v;
	size_t n, cap;
};

/* glibc keeps the kernel tid inside struct pthread, whose address is the
 * pthread_t; find where by looking for our own tid in our own struct.
 * The target uses the same glibc unless it runs in another root. */
long py_pthread_tid_offset(void)
{
	static long off = -2;
	pid_t tid;
	const unsigned char *self;

	if (off != -2)
		return off;
	tid = (pid_t)syscall(SYS_gettid);
	self = (const unsigned char *)pthread_self();
	off = -1;
	for (long i = 0; i + 4 <= 2048; i += 4) {
		pid_t v;

		memcpy(&v, self + i, sizeof(v));
		if (v == tid) {
			off = i;
			break;
		}
	}
	return off;
}

static void close_th(struct th *t)
{
	if (t->fd >= 0)
		close(t->fd);
	if (t->sys_fd >= 0)
		close(t->sys_fd);
}

struct py_threads *py_threads_new(pid_t pid)
{
	struct py_threads *th = calloc(1, sizeof(*th));

	if (th)
		th->pid = pid;
	return th;
}

void py_threads_free(struct py_threads *th)
{
	if (!th)
		return;
	for (size_t i = 0; i < th->n; i++)
		close_th(&th->v[i]);
	free(th->v);
	free(th);
}

static void read_name(pid_t pid, int64_t tid, char *buf, size_t len)
{
	char path[64];
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/task/%lld/comm", (int)pid, (long long)tid);
	buf[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		n = 0;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
}

static struct th *get(struct py_threads *th, int64_t tid)
{
	char path[64];
	struct th *t;

	for (size_t i = 0; i < th->n; i++)
		if (th->v[i].tid == tid) {
			th->v[i].seen = 1;
			return &th->v[i];
		}
	if (th->n == MAX_THREADS || tid <= 0)
		return NULL;
	if (th->n == th->cap) {
		size_t cap = th->cap ? th->cap * 2 : 16;
		struct th *v = realloc(th->v, cap * sizeof(*v));

		if (!v)
			return NULL;
		th->v = v;
		th->cap = cap;
	}
	t = &th->v[th->n++];
	t->tid = tid;
	t->seen = 1;
	snprintf(path, sizeof(path), "/proc/%d/task/%lld/stat", (int)th->pid, (long long)tid);
	t->fd = open(path, O_RDONLY | O_CLOEXEC);
	t->sys_fd = -2;
	t->pyname[0] = '\0';
	t->pyname_at = 0;
	read_name(th->pid, tid, t->name, sizeof(t->name));
	return t;
}

/* A thread paused by ptrace (sonda's own pause) shows 't' whatever it was
 * doing; /proc/.../syscall tells whether it was stopped inside a system
 * call (blocked: 'S') or in user space (running Python: 'R'). */
static int stopped_state(struct py_threads *th, struct th *t)
{
	char path[80], buf[64];
	ssize_t n;

	if (t->sys_fd == -2) {
		snprintf(path, sizeof(path), "/proc/%d/task/%lld/syscall", (int)th->pid,
			 (long long)t->tid);
		t->sys_fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	if (t->sys_fd < 0)
		return 'T';
	n = pread(t->sys_fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return 'T';
	buf[n] = '\0';
	if (!strncmp(buf, "running", 7) || !strncmp(buf, "-1 ", 3))
		return 'R';
	return 'S';
}

int py_thread_state(struct py_threads *th, int64_t tid)
{
	struct th *t = get(th, tid);
	char buf[512];
	ssize_t n;
	char *p;

	if (!t || t->fd < 0)
		return 0;
	n = pread(t->fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')');	/* the name may hold spaces and parentheses */
	if (!p || p[1] != ' ' || !p[2])
		return 0;
	if (p[2] == 't' || p[2] == 'T')
		return stopped_state(th, t);
	return (unsigned char)p[2];
}

const char *py_thread_name(struct py_threads *th, int64_t tid)
{
	struct th *t = get(th, tid);

	return t && t->name[0] ? t->name : NULL;
}

const char *py_thread_pyname(struct py_threads *th, int64_t tid, uint64_t sample, int *due)
{
	struct th *t = get(th, tid);

	*due = 0;
	if (!t)
		return NULL;
	*due = !t->pyname_at || sample - t->pyname_at >= PY_NAME_REFRESH;
	return t->pyname[0] ? t->pyname : NULL;
}

void py_thread_set_pyname(struct py_threads *th, int64_t tid, const char *name, uint64_t sample)
{
	struct th *t = get(th, tid);

	if (!t)
		return;
	if (name != t->pyname)
		snprintf(t->pyname, sizeof(t->pyname), "%s", name ? name : "");
	t->pyname_at = sample ? sample : 1;
}

void py_threads_sweep(struct py_threads *th)
{
	size_t w = 0;

	for (size_t i = 0; i < th->n; i++) {
		if (!th->v[i].seen) {
			close_th(&th->v[i]);
			continue;
		}
		th->v[i].seen = 0;
		th->v[w++] = th->v[i];
	}
	th->n = w;
}
