/* top.c - `sonda top`: one event loop for input, the refresh timer and signals. */
#include "config.h"

#include <curses.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/timerfd.h>
#include <termios.h>
#include <unistd.h>

#include "viewer/top-impl.h"

/* ---- signals and the terminal: restored on every way out */

static int sig_pipe[2] = { -1, -1 };
static volatile sig_atomic_t ui_active, quit_requests;
static struct termios saved_tty;
static int have_saved_tty;
static char restore_seq[128];	/* exit the alternate screen, show the cursor */
static size_t restore_len;

/* Async-signal-safe: what endwin() would do, from saved bytes. */
static void emergency_restore(void)
{
	if (!ui_active)
		return;
	ui_active = 0;
	if (restore_len && write(STDOUT_FILENO, restore_seq, restore_len) < 0)
		restore_len = 0;	/* nothing more to do in a dying process */
	if (have_saved_tty)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_tty);
}

static void on_crash(int sig)
{
	emergency_restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void on_signal(int sig)
{
	int saved = errno;
	unsigned char b = (unsigned char)sig;

	if ((sig == SIGINT || sig == SIGTERM) && ++quit_requests >= 3) {
		/* The loop did not get to it: leave anyway, terminal first. */
		emergency_restore();
		_exit(128 + sig);
	}
	if (write(sig_pipe[1], &b, 1) < 0)
		b = 0;	/* pipe full: a byte is already waiting */
	errno = saved;
}

static int install_signals(void)
{
	static const int crash[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT };
	static const int soft[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH };
	struct sigaction sa;

	if (pipe2(sig_pipe, O_NONBLOCK | O_CLOEXEC) < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_crash;
	sa.sa_flags = SA_RESETHAND | SA_NODEFER;
	for (size_t i = 0; i < sizeof(crash) / sizeof(crash[0]); i++)
		sigaction(crash[i], &sa, NULL);
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	for (size_t i = 0; i < sizeof(soft) / sizeof(soft[0]); i++)
		sigaction(soft[i], &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

static void restore_at_exit(void)
{
	if (ui_active) {
		endwin();
		ui_active = 0;
	}
}

static void save_restore_seq(void)
{
	const char *caps[] = { "rmcup", "cnorm", "sgr0" };

	restore_len = 0;
	for (size_t i = 0; i < 3; i++) {
		char *s = tigetstr((char *)caps[i]);
		size_t n;

		if (!s || s == (char *)-1)
			continue;
		n = strlen(s);
		if (restore_len + n >= sizeof(restore_seq))
			break;
		memcpy(restore_seq + restore_len, s, n);
		restore_len += n;
	}
}

static int ui_start(struct top *t, char *err, size_t errlen)
{
	if (tcgetattr(STDIN_FILENO, &saved_tty) == 0)
		have_saved_tty = 1;
	/* SIGWINCH is ours (installed first), so ncurses leaves it alone and
	 * resizes come through the loop like everything else. */
	if (!newterm(NULL, stdout, stdin)) {
		snprintf(err, errlen, "cannot use terminal type '%s'",
			 getenv("TERM") ? getenv("TERM") : "");
		return -1;
	}
	ui_active = 1;
	atexit(restore_at_exit);
	save_restore_seq();
	cbreak();		/* not raw: Ctrl-C still raises SIGINT */
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	set_escdelay(25);
	curs_set(0);
	top_draw_init_colors(t);
	getmaxyx(stdscr, t->lines, t->cols);
	return 0;
}

static void ui_stop(void)
{
	if (ui_active) {
		endwin();
		ui_active = 0;
	}
}

static void ui_resize(struct top *t)
{
	struct winsize ws;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col)
		resizeterm(ws.ws_row, ws.ws_col);
	getmaxyx(stdscr, t->lines, t->cols);
	clearok(curscr, TRUE);	/* repaint everything: no stale cells */
	top_cursor_fix(t);
}

/* ---- the model */

void top_message(struct top *t, int error, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->msg, sizeof(t->msg), fmt, ap);
	va_end(ap);
	t->msg_error = error;
}

const struct top_view *top_current(const struct top *t)
{
	static const struct top_view *const views[TOP_NVIEWS] = {
		[TOP_VIEW_TABLE] = &top_view_table,
		[TOP_VIEW_TREE] = &top_view_tree,
		[TOP_VIEW_FLAME] = &top_view_flame,
		[TOP_VIEW_THREADS] = &top_view_threads,
		[TOP_VIEW_HELP] = &top_view_help,
		[TOP_VIEW_TASKS] = &top_view_tasks,
		[TOP_VIEW_ALLOCS] = &top_view_allocs,
	};

	return views[t->view];
}

void top_set_view(struct top *t, enum top_view_id v)
{
	if (v == TOP_VIEW_HELP || v == TOP_VIEW_THREADS || v == TOP_VIEW_FLAME) {
		if (t->view != TOP_VIEW_HELP && t->view != TOP_VIEW_THREADS &&
		    t->view != TOP_VIEW_FLAME)
			t->back = t->view;
	}
	t->view = v;
	t->rows_dirty = 1;
	if ((v == TOP_VIEW_TREE || v == TOP_VIEW_FLAME) && !t->data.tree) {
		/* Tree counts cost as much again: kept only once asked for. */
		t->data.tree = 1;
		top_settings_changed(t);
	}
}

int top_has_tasks(const struct top *t)
{
	return t->ntasks > 0;
}

int top_has_allocs(const struct top *t)
{
	return t->nallocs > 0;
}

static void free_tracer_rows(struct top *t)
{
	for (uint32_t i = 0; i < t->ntasks; i++)
		free(t->tasks[i].name);
	free(t->tasks);
	t->tasks = NULL;
	t->ntasks = 0;
}

static void copy_tasks(struct top *t, struct store_profile *p)
{
	uint32_t n = store_ntasks(p), merged = 0;

	free_tracer_rows(t);
	for (uint32_t i = 0; i < n; i++) {
		const struct store_task *k = store_task_get(p, i);

		merged += k && k->thread == 0 && k->parent == 0;
	}
	if (!n || !(t->tasks = calloc(n, sizeof(*t->tasks))))
		return;
	for (uint32_t i = 0; i < n; i++) {
		const struct store_task *k = store_task_get(p, i);
		struct top_task *r = &t->tasks[t->ntasks];

		/* Edge rows (parent set) are the call graph, not tasks; with
		 * merged rows present, per-thread rows would count twice. */
		if (!k || k->parent || (merged && k->thread))
			continue;
		r->name = strdup(store_string(p, k->name) ? store_string(p, k->name) : "");
		if (!r->name)
			continue;
		r->calls = k->calls;
		r->wall_ns = k->wall_ns, r->self_ns = k->self_ns, r->cpu_ns = k->cpu_ns;
		r->max_ns = k->max_ns;
		r->p50_ns = store_hist_quantile(k->hist, 0.50);
		r->p99_ns = store_hist_quantile(k->hist, 0.99);
		t->ntasks++;
	}
}

static int cmp_alloc_site(const void *a, const void *b)
{
	const struct top_alloc *x = a, *y = b;

	return x->callsite < y->callsite ? -1 : x->callsite > y->callsite;
}

static void copy_allocs(struct top *t, struct store_profile *p)
{
	uint32_t n = store_nallocs(p);
	struct top_alloc *old = t->allocs;
	uint32_t nold = t->nallocs;

	/* The view sorts rows in place: find last time's row by call site. */
	if (old)
		qsort(old, nold, sizeof(*old), cmp_alloc_site);
	t->allocs = n ? calloc(n, sizeof(*t->allocs)) : NULL;
	t->nallocs = 0;
	for (uint32_t i = 0; i < n && t->allocs; i++) {
		const struct store_alloc *a = store_alloc_get(p, i);
		const struct store_callsite *cs = a ? store_callsite_get(p, a->callsite) : NULL;
		const struct store_frame *f = cs ? store_frame_get(p, cs->frame) : NULL;
		struct top_alloc *r = &t->allocs[t->nallocs], key, *before;
		char buf[512];

		if (!a)
			continue;
		if (f && f->line > 0)
			snprintf(buf, sizeof(buf), "%s (%s:%d)", store_string(p, f->function),
				 store_string(p, f->file), f->line);
		else
			snprintf(buf, sizeof(buf), "%s", f ? store_string(p, f->function) : "(unknown)");
		r->site = strdup(buf);
		r->callsite = a->callsite;
		r->allocs = a->allocs, r->bytes = a->bytes;
		r->live_bytes = a->live_bytes, r->peak_bytes = a->peak_bytes;
		key.callsite = a->callsite;
		before = old ? bsearch(&key, old, nold, sizeof(*old), cmp_alloc_site) : NULL;
		if (t->src.kind == TOP_SRC_FILE)
			r->per_s = t->info.elapsed_s > 0 ? a->allocs / t->info.elapsed_s : 0;
		else if (before && t->window_s > 0 && a->allocs >= before->allocs)
			r->per_s = (a->allocs - before->allocs) / t->window_s;
		t->nallocs++;
	}
	for (uint32_t i = 0; i < nold; i++)
		free(old[i].site);
	free(old);
}

void top_refresh(struct top *t)
{
	char err[256] = "";
	double now = top_now();

	if (t->paused)
		return;
	if (t->src.kind == TOP_SRC_FILE && t->src.loaded)
		return;		/* a recording does not change */
	t->window_s = t->last_poll ? now - t->last_poll : now - t->src.started;
	t->last_poll = now;
	if (top_source_reload(&t->src, err, sizeof(err)) < 0)
		top_message(t, 1, "%s", err);
	top_source_lock(&t->src);
	if (top_source_poll(&t->src, err, sizeof(err)) < 0) {
		top_message(t, 1, "%s", err);
	} else {
		if (t->src.kind == TOP_SRC_REGION) {	/* a new profile each time */
			struct top_data d = t->data;

			top_data_init(&t->data);
			t->data.lines = d.lines, t->data.split = d.split;
			t->data.thread = d.thread;
			top_data_free(&d);
		}
		top_data_update(&t->data, t->src.p);
		copy_tasks(t, t->src.rp ? t->src.rp : t->src.p);
		copy_allocs(t, t->src.rp ? t->src.rp : t->src.p);
	}
	top_source_unlock(&t->src);
	top_source_info(&t->src, &t->info);
	if (!t->info.rate_hz)
		t->info.rate_hz = t->opt->prof.rate_hz;
	if (t->src.kind == TOP_SRC_FILE)
		t->window_s = t->info.elapsed_s;
	t->rows_dirty = 1;
}

void top_settings_changed(struct top *t)
{
	top_source_lock(&t->src);
	top_data_rebuild(&t->data, t->src.p);
	top_source_unlock(&t->src);
	t->rows_dirty = 1;
}

/* ---- the loops */

static int make_timer(double seconds)
{
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	struct itimerspec its;

	if (fd < 0)
		return -1;
	memset(&its, 0, sizeof(its));
	its.it_interval.tv_sec = (time_t)seconds;
	its.it_interval.tv_nsec = (long)((seconds - (double)(time_t)seconds) * 1e9);
	its.it_value = its.it_interval;
	if (timerfd_settime(fd, 0, &its, NULL) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Handles pending signals; returns 1 to quit. */
static int drain_signals(struct top *t)
{
	unsigned char b[32];
	ssize_t n;
	int quit = 0;

	while ((n = read(sig_pipe[0], b, sizeof(b))) > 0)
		for (ssize_t i = 0; i < n; i++) {
			if (b[i] == SIGWINCH) {
				if (!t->batch)
					ui_resize(t);
			} else {
				quit = 1;
			}
		}
	return quit;
}

static int target_gone(const struct top *t)
{
	return t->src.kind == TOP_SRC_LIVE && t->info.target_exited;
}

static void batch_print(struct top *t)
{
	char lines[8][512];
	int warn, n = top_header_lines(t, lines, 8, &warn);
	const struct top_view *v = top_current(t);

	for (int i = 0; i < n; i++)
		printf("%s\n", lines[i]);
	putchar('\n');
	v->prepare(t);
	top_print_view(t, v, stdout);
	putchar('\n');
	/* A libsonda program's tabs follow: a script sees everything. */
	if (t->view == TOP_VIEW_TABLE && top_has_tasks(t)) {
		top_view_tasks.prepare(t);
		top_print_view(t, &top_view_tasks, stdout);
		putchar('\n');
	}
	if (t->view == TOP_VIEW_TABLE && top_has_allocs(t)) {
		top_view_allocs.prepare(t);
		top_print_view(t, &top_view_allocs, stdout);
		putchar('\n');
	}
	fflush(stdout);
}

static int run_batch(struct top *t)
{
	int tfd = make_timer(t->opt->refresh_s);
	long done = 0;

	if (tfd < 0)
		return -1;
	if (t->src.kind == TOP_SRC_FILE) {	/* a recording has its data already */
		batch_print(t);
		done++;
	}
	while (!(t->opt->iterations && done >= t->opt->iterations)) {
		struct pollfd fds[2] = { { tfd, POLLIN, 0 }, { sig_pipe[0], POLLIN, 0 } };
		uint64_t ticks;

		if (poll(fds, 2, -1) < 0 && errno != EINTR)
			break;
		if (fds[1].revents && drain_signals(t))
			break;
		if (!(fds[0].revents & POLLIN) || read(tfd, &ticks, sizeof(ticks)) < 0)
			continue;
		top_refresh(t);
		batch_print(t);
		done++;
		if (ferror(stdout) || target_gone(t))
			break;
	}
	close(tfd);
	return 0;
}

static void read_keys(struct top *t)
{
	int ch;

	while (!t->quit && (ch = getch()) != ERR) {
		if (ch == KEY_RESIZE) {	/* resizeterm() queued it: already resized */
			getmaxyx(stdscr, t->lines, t->cols);
			clearok(curscr, TRUE);
			continue;
		}
		top_key(t, ch);
	}
}

static int run_ui(struct top *t)
{
	int tfd = make_timer(t->opt->refresh_s);
	long done = 0;
	int exited_shown = 0;

	if (tfd < 0)
		return -1;
	while (!t->quit) {
		struct pollfd fds[3] = { { STDIN_FILENO, POLLIN, 0 }, { tfd, POLLIN, 0 },
					 { sig_pipe[0], POLLIN, 0 } };
		uint64_t ticks;

		top_draw(t);
		if (poll(fds, 3, -1) < 0 && errno != EINTR)
			break;
		if (fds[2].revents && drain_signals(t))
			break;
		if ((fds[1].revents & POLLIN) && read(tfd, &ticks, sizeof(ticks)) > 0) {
			top_refresh(t);
			if (t->opt->iterations && ++done >= t->opt->iterations)
				break;
			if (target_gone(t) && !exited_shown) {
				exited_shown = 1;
				top_message(t, 1, "the target exited (status %d); q quits",
					    t->info.exit_status);
			}
		}
		if (fds[0].revents & (POLLIN | POLLHUP | POLLERR))
			read_keys(t);
		if (fds[0].revents & (POLLHUP | POLLERR))
			break;	/* the terminal went away */
	}
	close(tfd);
	return 0;
}

static void top_free(struct top *t)
{
	free_tracer_rows(t);
	for (uint32_t i = 0; i < t->nallocs; i++)
		free(t->allocs[i].site);
	free(t->allocs);
	free(t->trows);
	free(t->nrows_v);
	top_data_free(&t->data);
	free(t);
}

int view_top_run(const struct view_top_options *o, int *usage, char *err, size_t errlen)
{
	struct top *t = calloc(1, sizeof(*t));
	char cerr[256] = "";
	int rc = 0;

	*usage = 0;
	if (!t) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	t->opt = o;
	t->batch = o->batch || !isatty(STDOUT_FILENO);
	top_data_init(&t->data);
	t->data.lines = o->lines;
	t->view = TOP_VIEW_TABLE;
	if (install_signals() < 0) {
		snprintf(err, errlen, "cannot set up signals: %s", strerror(errno));
		free(t);
		return -1;
	}
	if (top_source_open(&t->src, o, usage, err, errlen) < 0) {
		top_source_close(&t->src, cerr, sizeof(cerr));
		top_free(t);
		return -1;
	}
	top_source_info(&t->src, &t->info);
	if (t->src.note[0])
		top_message(t, 1, "%s", t->src.note);
	if (t->src.kind != TOP_SRC_LIVE)
		top_refresh(t);	/* recordings and regions have data at once */
	if (!t->info.rate_hz)
		t->info.rate_hz = o->prof.rate_hz;
	if (t->batch)
		rc = run_batch(t);
	else if ((rc = ui_start(t, err, errlen)) == 0)
		rc = run_ui(t);
	/* The sampler stops before the terminal comes back: the target
	 * must be running again whatever happens next. */
	if (top_source_close(&t->src, cerr, sizeof(cerr)) < 0 && rc == 0) {
		snprintf(err, errlen, "%s", cerr);
		rc = -1;
	}
	ui_stop();
	top_free(t);
	return rc;
}
