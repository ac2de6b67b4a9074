/* attach.c - can this process be profiled, and if not, exactly why. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "profiler/profiler.h"

#define CAP_SYS_PTRACE_BIT 19

/* Value of "Key:" in /proc/PID/status into buf; 0 or -1. */
static int status_field(pid_t pid, const char *key, char *buf, size_t len)
{
	char path[64], line[256];
	size_t klen = strlen(key);
	int found = -1;
	FILE *f;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	else
		snprintf(path, sizeof(path), "/proc/self/status");
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, klen) || line[klen] != ':')
			continue;
		char *v = line + klen + 1;

		v += strspn(v, " \t");
		v[strcspn(v, "\n")] = '\0';
		snprintf(buf, len, "%s", v);
		found = 0;
		break;
	}
	fclose(f);
	return found;
}

static int read_int_file(const char *path, int *v)
{
	FILE *f = fopen(path, "re");
	int ok;

	if (!f)
		return -1;
	ok = fscanf(f, "%d", v) == 1;
	fclose(f);
	return ok ? 0 : -1;
}

static int have_cap_sys_ptrace(void)
{
	char buf[64];
	uint64_t caps;

	if (status_field(0, "CapEff", buf, sizeof(buf)) < 0)
		return geteuid() == 0;
	caps = strtoull(buf, NULL, 16);
	return (caps >> CAP_SYS_PTRACE_BIT) & 1;
}

static void comm_of(pid_t pid, char *buf, size_t len)
{
	prof_thread_name(pid, pid, buf, len);
	if (!buf[0])
		snprintf(buf, len, "?");
}

/* The permission story: which rule refuses us. */
void prof_explain_denied(pid_t pid, char *err, size_t errlen)
{
	char uid[64] = "", comm[32];
	unsigned target_uid = 0;
	int scope = -1, root = geteuid() == 0, cap = have_cap_sys_ptrace();

	read_int_file("/proc/sys/kernel/yama/ptrace_scope", &scope);
	if (status_field(pid, "Uid", uid, sizeof(uid)) == 0)
		sscanf(uid, "%*u %u", &target_uid);
	comm_of(pid, comm, sizeof(comm));
	if (scope == 3) {
		snprintf(err, errlen, "cannot trace process %d (%s): kernel.yama.ptrace_scope is 3 "
			 "(no process may be traced until reboot)", (int)pid, comm);
	} else if (scope == 2 && !cap) {
		snprintf(err, errlen, "cannot trace process %d (%s): kernel.yama.ptrace_scope is 2 "
			 "(only with CAP_SYS_PTRACE: run as root)", (int)pid, comm);
	} else if (root && !cap) {
		snprintf(err, errlen, "cannot trace process %d (%s): root but without CAP_SYS_PTRACE "
			 "(in a container? start it with --cap-add SYS_PTRACE)", (int)pid, comm);
	} else if (!root && target_uid != geteuid()) {
		snprintf(err, errlen, "cannot trace process %d (%s): it belongs to uid %u, you are "
			 "uid %u (run sonda as root or as that user)", (int)pid, comm, target_uid,
			 (unsigned)geteuid());
	} else if (scope == 1 && !cap) {
		snprintf(err, errlen, "cannot trace process %d (%s): kernel.yama.ptrace_scope is 1 "
			 "(only descendants: launch it with 'sonda record -- CMD', run as root, or "
			 "sysctl kernel.yama.ptrace_scope=0)", (int)pid, comm);
	} else {
		snprintf(err, errlen, "cannot trace process %d (%s): permission denied (it may "
			 "have changed credentials or be non-dumpable; try as root)", (int)pid, comm);
	}
}

int prof_check_pid(pid_t pid, char *err, size_t errlen)
{
	char state[64] = "", maps[64];
	struct iovec local, remote;
	char byte;

	if (pid <= 0) {
		snprintf(err, errlen, "invalid process id %d", (int)pid);
		return -1;
	}
	if (kill(pid, 0) < 0 && errno == ESRCH) {
		snprintf(err, errlen, "no such process %d", (int)pid);
		return -1;
	}
	if (status_field(pid, "State", state, sizeof(state)) < 0) {
		snprintf(err, errlen, "no such process %d", (int)pid);
		return -1;
	}
	if (state[0] == 'Z' || state[0] == 'X') {
		snprintf(err, errlen, "process %d is a zombie: it exited and its parent has not "
			 "reaped it", (int)pid);
		return -1;
	}
	if (pid == getpid()) {
		snprintf(err, errlen, "process %d is sonda itself", (int)pid);
		return -1;
	}
	/* Reading one byte at address 0 passes the same permission check as
	 * ptrace attach (PTRACE_MODE_ATTACH_REALCREDS) and then fails with
	 * EFAULT when we are allowed in. */
	local.iov_base = &byte;
	local.iov_len = 1;
	remote.iov_base = NULL;
	remote.iov_len = 1;
	if (process_vm_readv(pid, &local, 1, &remote, 1, 0) < 0) {
		if (errno == ESRCH) {
			snprintf(err, errlen, "no such process %d", (int)pid);
			return -1;
		}
		if (errno == EPERM) {
			prof_explain_denied(pid, err, errlen);
			return -1;
		}
	}
	snprintf(maps, sizeof(maps), "/proc/%d/maps", (int)pid);
	{
		FILE *f = fopen(maps, "re");
		int c = f ? fgetc(f) : EOF;

		if (f)
			fclose(f);
		if (c == EOF) {
			snprintf(err, errlen, "process %d has no user memory (a kernel thread?)",
				 (int)pid);
			return -1;
		}
	}
	return 0;
}

int prof_check_traced(pid_t pid, char *err, size_t errlen)
{
	char buf[64], comm[32];
	long tracer;

	if (status_field(pid, "TracerPid", buf, sizeof(buf)) < 0)
		return 0;
	tracer = strtol(buf, NULL, 10);
	if (tracer == 0 || tracer == getpid())
		return 0;
	comm_of((pid_t)tracer, comm, sizeof(comm));
	snprintf(err, errlen, "process %d is already traced by process %ld (%s): detach the "
		 "debugger first, or sample without pausing (--nonblocking)", (int)pid, tracer, comm);
	return -1;
}
