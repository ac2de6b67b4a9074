/* test-sampler.c - the sampling loop against a fake engine: rates, filters, store rows, exit, launch. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "profiler/backend.h"
#include "profiler/profiler.h"
#include "tests/unit/unit.h"

/* The fake engine: three threads (tid, tid+1 idle, tid+2 holding the GIL)
 * with fixed stacks; -ESRCH once the process is gone. */
struct prof_engine {
	pid_t pid;
	int paused_ok;
};

static int fake_attach(struct prof_engine **e, pid_t pid, const struct prof_options *o, char *err,
		       size_t errlen)
{
	(void)o;
	if (kill(pid, 0) < 0) {
		snprintf(err, errlen, "fake: no process %d", (int)pid);
		return -1;
	}
	*e = calloc(1, sizeof(**e));
	(*e)->pid = pid;
	return 0;
}

static const char *fake_describe(struct prof_engine *e)
{
	(void)e;
	return "python 3.99.1";
}

static int fake_sample(struct prof_engine *e, prof_emit_fn emit, void *ctx, char *err,
		       size_t errlen)
{
	static const struct prof_frame main_frames[] = {
		{11, "leaf", "t.py", NULL, 30, 1},
		{12, "mid", "t.py", NULL, 20, 1},
		{13, "<module>", "t.py", NULL, 10, 1},
	};
	static const struct prof_frame idle_frames[] = {
		{0, "sleep", "t.py", NULL, 40, 1},
		{13, "<module>", "t.py", NULL, 10, 1},
	};
	static const struct prof_frame gil_frames[] = {
		{14, "holder", "t.py", NULL, 50, 1},
	};
	struct prof_stack st;
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)e->pid);
	if (access(path, F_OK) < 0) {
		snprintf(err, errlen, "gone");
		return -ESRCH;
	}
	st = (struct prof_stack){e->pid, NULL, STORE_STATE_ONCPU, main_frames, 3, 0, 0, 0, NULL, NULL};
	emit(ctx, &st);
	st = (struct prof_stack){e->pid + 100000, "sleeper", STORE_STATE_IDLE, idle_frames, 2, 0, 0, 0, NULL, NULL};
	emit(ctx, &st);
	st = (struct prof_stack){e->pid + 100001, "holder", STORE_STATE_GIL | STORE_STATE_ONCPU,
				 gil_frames, 1, 0, 0, 0, NULL, NULL};
	emit(ctx, &st);
	return 0;
}

static void fake_detach(struct prof_engine *e)
{
	free(e);
}

const struct prof_backend prof_backend_python = {
	.name = "python", .attach = fake_attach, .describe = fake_describe,
	.sample = fake_sample, .detach = fake_detach,
};

static pid_t spawn_sleep(const char *secs)
{
	pid_t pid = fork();

	if (pid == 0) {
		execlp("sleep", "sleep", secs, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static uint64_t weight_of(struct store_profile *p, const char *thread_name, uint32_t state_bit)
{
	uint64_t w = 0;

	for (uint32_t i = 0; i < store_nstacks(p); i++) {
		const struct store_stack *s = store_stack_get(p, i);
		const struct store_thread *t = store_thread_get(p, s->thread);

		if (t && !strcmp(t->name, thread_name) && (!state_bit || (s->state & state_bit)))
			w += s->weight;
	}
	return w;
}

static void record(struct prof_options *o, struct store_profile *p, struct prof_status *st)
{
	char err[256] = "";
	struct prof_sampler *s = prof_sampler_start(o, p, err, sizeof(err));

	CHECK(s != NULL);
	if (!s) {
		printf("# %s\n", err);
		return;
	}
	while (prof_sampler_running(s))
		usleep(10000);
	prof_sampler_stop(s);
	prof_sampler_status(s, st);
	prof_sampler_free(s);
}

static void test_attach_rate_and_rows(void)
{
	pid_t pid = spawn_sleep("30");
	struct store_profile *p = store_profile_new();
	struct prof_options o = {.pid = pid, .rate_hz = 1000, .duration_s = 0.5};
	struct prof_status st;

	usleep(20000);
	record(&o, p, &st);
	CHECK_EQ_INT(st.pid, pid);
	CHECK(st.samples > 100 && st.samples <= 501);
	CHECK(st.samples + st.missed >= 450);
	CHECK_EQ_INT(st.errors, 0);
	CHECK(strstr(st.mode_reason, "python 3.99.1") != NULL);
	CHECK_EQ_INT(st.target_exited, 0);
	/* The idle thread is left out, the others kept; the main thread is "main". */
	CHECK_EQ_INT(weight_of(p, "sleeper", 0), 0);
	CHECK_EQ_INT(weight_of(p, "holder", 0), st.samples);
	/* The main thread, named from its comm. */
	CHECK(weight_of(p, "sleep", 0) > 0 && weight_of(p, "sleep", 0) <= st.samples);
	{
		const struct store_session *ss = store_session_get(p, st.session);

		CHECK(ss != NULL);
		if (ss) {
			CHECK_EQ_STR(ss->runtime, "python");
			CHECK_EQ_STR(ss->version, "3.99.1");
			CHECK_EQ_INT(ss->samples, st.samples);
			CHECK(ss->end_ns > ss->start_ns);
		}
	}
	/* The main thread's stack: <module> -> mid -> leaf, root first. */
	for (uint32_t i = 0; i < store_nstacks(p); i++) {
		const struct store_stack *s = store_stack_get(p, i);
		const struct store_thread *t = store_thread_get(p, s->thread);
		const struct store_callsite *c = store_callsite_get(p, s->callsite);

		if (strcmp(t->name, "sleep"))
			continue;
		CHECK_EQ_STR(t->role, "main");
		CHECK_EQ_INT(c->depth, 3);
		CHECK_EQ_STR(store_string(p, store_frame_get(p, c->frame)->function), "leaf");
		CHECK_EQ_INT(store_frame_get(p, c->frame)->line, 30);
	}
	store_profile_free(p);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static void test_idle_and_gil(void)
{
	pid_t pid = spawn_sleep("30");
	struct store_profile *p = store_profile_new();
	struct prof_options o = {.pid = pid, .rate_hz = 200, .duration_s = 0.2, .idle = 1};
	struct prof_status st;

	usleep(20000);
	record(&o, p, &st);
	CHECK(st.samples > 0);
	CHECK_EQ_INT(weight_of(p, "sleeper", STORE_STATE_IDLE), st.samples);
	store_profile_free(p);

	p = store_profile_new();
	o.idle = 0;
	o.gil = 1;
	record(&o, p, &st);
	CHECK(st.samples > 0);
	CHECK_EQ_INT(weight_of(p, "holder", STORE_STATE_GIL), st.samples);
	CHECK_EQ_INT(weight_of(p, "sleep", 0), 0);
	store_profile_free(p);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static void test_target_exits(void)
{
	pid_t pid = spawn_sleep("0.3");
	struct store_profile *p = store_profile_new();
	struct prof_options o = {.pid = pid, .rate_hz = 100};
	struct prof_status st;
	struct timespec a, b;

	usleep(20000);
	clock_gettime(CLOCK_MONOTONIC, &a);
	/* Unreaped, it turns zombie: attach mode must see that as an exit. */
	record(&o, p, &st);
	clock_gettime(CLOCK_MONOTONIC, &b);
	CHECK_EQ_INT(st.target_exited, 1);
	CHECK(st.samples > 5);
	CHECK(b.tv_sec - a.tv_sec < 3);
	waitpid(pid, NULL, 0);
	store_profile_free(p);
}

static void test_launch(void)
{
	char *argv[] = {"sh", "-c", "sleep 0.3; exit 7", NULL};
	char *bad[] = {"/nonexistent/prog", NULL};
	struct store_profile *p = store_profile_new();
	struct prof_options o = {.argv = argv, .rate_hz = 100, .mode = PROF_MODE_PYTHON};
	struct prof_status st;
	char err[256];

	record(&o, p, &st);
	CHECK_EQ_INT(st.target_exited, 1);
	CHECK_EQ_INT(st.exit_status, 7);
	CHECK(st.samples > 5);
	store_profile_free(p);

	p = store_profile_new();
	o.argv = bad;
	CHECK(prof_sampler_start(&o, p, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "cannot run /nonexistent/prog: No such file or directory") != NULL);
	store_profile_free(p);
}

static void test_bad_pid(void)
{
	struct store_profile *p = store_profile_new();
	struct prof_options o = {.pid = 999999999, .rate_hz = 100};
	char err[256];

	CHECK(prof_sampler_start(&o, p, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "no such process") != NULL);
	store_profile_free(p);
}

int main(void)
{
	RUN(test_attach_rate_and_rows);
	RUN(test_idle_and_gil);
	RUN(test_target_exits);
	RUN(test_launch);
	RUN(test_bad_pid);
	return unit_done();
}
