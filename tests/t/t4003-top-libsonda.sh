#!/bin/sh
# t4003-top-libsonda: sonda top -p on a program running libsonda also shows its tasks (Tab, and in --batch).
. "$(dirname "$0")/../lib.sh"
. "$SRCDIR/tests/tracer-lib.sh"

if ! tracer_prereqs; then
	test_skip 'top on a libsonda program' "$TRACER_SKIP"
	test_done
fi

cat >loop.c <<'EOC'
#include <stdio.h>
#include <time.h>
#include "sonda.h"

static void spin(long ns)
{
	struct timespec a, b;

	clock_gettime(CLOCK_MONOTONIC, &a);
	do
		clock_gettime(CLOCK_MONOTONIC, &b);
	while ((b.tv_sec - a.tv_sec) * 1000000000L + b.tv_nsec - a.tv_nsec < ns);
}

int main(void)
{
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		sonda_task_begin("outer");
		sonda_task_begin("inner");
		spin(2000000);
		sonda_task_end();
		spin(1000000);
		sonda_task_end();
	}
}
EOC
tracer_cc loop loop.c || { test_skip 'top on a libsonda program' 'cannot build the fixture'; test_done; }
test_spawn ./loop >loop.out
PID=$SPAWNED
test_wait_for "grep -q ready loop.out" 5
test_wait_for "test -f /dev/shm/sonda-$PID" 5

test_expect_success 'batch: the tasks table follows the samples table' '
	"$SONDA" top -b -n 2 --refresh 0.5 -p "$PID" >out 2>err &&
	test_grep "Calls +Total +Self +Avg +p50 +p99 +Max +CPU%  Name" -E out &&
	awk "/  Name\$/ { s = 1; next } s && NF == 0 { s = 0 } s { print \$NF, \$1 }" out >tasks &&
	grep "^outer [1-9]" tasks && grep "^inner [1-9]" tasks &&
	test "$(test_proc_state $PID)" != T
'

if command -v tmux >/dev/null 2>&1; then
	. "$SRCDIR/tests/top-lib.sh"
	top_tmux_start
	tm send-keys -t top "cd '$TRASH' && '$SONDA' top -p $PID" Enter
	test_expect_success 'tmux: a Tasks tab, with the program'"'"'s tasks' '
		wait_screen "Samples +Tasks" &&
		tm send-keys -t top Tab &&
		wait_screen " outer$" &&
		screen | test_grep " inner$" &&
		tm send-keys -t top q &&
		wait_restored
	'
	top_tmux_stop
else
	test_skip 'tmux: a Tasks tab' 'tmux is not installed'
fi
rm -f "/dev/shm/sonda-$PID"
test_done
