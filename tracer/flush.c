/* flush.c - libsonda's output: where the store goes, and the flush that turns the region into it. */
#include "config.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store.h"
#include "tracer/internal.h"
#include "tracer/sonda.h"

/* Nothing recorded by any thread yet (allocation tracking always counts
 * as something). */
static int region_idle(void)
{
	uint32_t n = __atomic_load_n(&lib.threads->used, __ATOMIC_ACQUIRE);

	if (sonda__env_on("SONDA_ALLOC") || (lib.hdr->flags & SONDA_FLAG_ALLOC))
		return 0;
	for (uint32_t i = 0; i < n && i < lib.threads->count; i++) {
		const struct sonda_slot *slot =
			(const void *)(lib.base + lib.threads->offset + (uint64_t)i * lib.threads->entry_size);

		if (slot->state && (slot->events || slot->calls || slot->ntasks))
			return 0;
	}
	return 1;
}

HIDDEN int sonda__flush_locked(int at_exit)
{
	struct store_profile *p;
	char err[512];
	int rc = -1;

	int quiet;

	if (!lib.active)
		return -1;
	quiet = sonda__alloc_quiet_begin(at_exit);	/* our own allocations are not the program's */
	if (at_exit) {
		lib.hdr->end_realtime_ns = real_ns();
		__atomic_store_n(&lib.hdr->state, SONDA_STATE_EXITED, __ATOMIC_RELEASE);
		/* a shell or make that sonda run's program started: no store
		 * unless it recorded something */
		if (!lib.root && region_idle())
			return 0;
	}
	p = store_profile_new();
	if (!p) {
		snprintf(err, sizeof(err), "out of memory");
	} else if (sonda_region_load(lib.region_path, p, err, sizeof(err)) &&
		   store_save(lib.output, p, err, sizeof(err)) == 0) {
		rc = 0;
	}
	store_profile_free(p);
	sonda__alloc_quiet_end(quiet);
	if (rc < 0 && at_exit)
		fprintf(stderr, "sonda: cannot write %s: %s (the region stays in %s; see sonda-recover(1))\n",
			lib.output, err, lib.region_path);
	return rc;
}

int sonda_flush(void)
{
	int rc;

	pthread_mutex_lock(&lib.flush_lock);
	rc = sonda__flush_locked(0);
	pthread_mutex_unlock(&lib.flush_lock);
	return rc;
}

/* SONDA_OUTPUT, made per process in a process other than the one `sonda
 * run` started (a forked or exec'd child: SONDA_ROOT_PID is another pid),
 * else sonda-PID.db. */
HIDDEN void sonda__output_choose(int forked)
{
	const char *out = getenv("SONDA_OUTPUT");
	const char *root = getenv("SONDA_ROOT_PID");
	long pid = (long)getpid();
	char name[SONDA_PATH_MAX], cwd[SONDA_PATH_MAX];
	const char *dot, *slash;

	lib.root = !forked && (!root || atol(root) == pid);
	if (!out || !*out) {
		snprintf(name, sizeof(name), "sonda-%ld.db", pid);
	} else if (lib.root) {
		snprintf(name, sizeof(name), "%s", out);
	} else {
		dot = strrchr(out, '.');
		slash = strrchr(out, '/');
		if (dot && (!slash || dot > slash) && dot != out)
			snprintf(name, sizeof(name), "%.*s.%ld%s", (int)(dot - out), out, pid, dot);
		else
			snprintf(name, sizeof(name), "%.*s.%ld", SONDA_PATH_MAX - 24, out, pid);
	}
	/* where the program started: it may chdir before it exits */
	if (name[0] != '/' && getcwd(cwd, sizeof(cwd)))
		snprintf(lib.output, sizeof(lib.output), "%s/%s", cwd, name);
	else
		snprintf(lib.output, sizeof(lib.output), "%s", name);
}
