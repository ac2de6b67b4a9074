#!/bin/sh
# t6005 - sonda top --pid on a live libsonda program: its tasks in the Tasks tab (tmux).
. "$(dirname "$0")/../lib.sh"
. "$SRCDIR/tests/tracer-lib.sh"

tracer_prereqs || { test_skip 'sonda top on libsonda' "$TRACER_SKIP"; test_done; }
command -v tmux >/dev/null || { test_skip 'sonda top on libsonda' 'no tmux'; test_done; }
. "$SRCDIR/tests/top-lib.sh"

test_expect_success 'a live traced program' '
	tracer_cc faults "$SRCDIR/tests/fixtures/tracer/faults.c" &&
	{ SONDA_OUTPUT=$TRASH/live.db ./faults live >live.out & } &&
	test_wait_for "grep -q ready live.out" 10 &&
	pgrep -f "faults live" >pid && test -s pid
'
PID=$(head -1 pid 2>/dev/null)
test_pids="$test_pids $PID"

top_tmux_start
tm send-keys -t top "cd '$TRASH' && '$SONDA' top -p $PID" Enter

test_expect_success 'tmux: Tab shows the Tasks tab with the recorded task and its calls' '
	wait_screen "^Collecting samples from" &&
	tabbed() { screen | grep -q "Tasks, sorted" || { tm send-keys -t top Tab; sleep 0.5; false; }; } &&
	test_wait_for tabbed 10 &&
	wait_screen "before" &&
	screen | grep "before" | grep -w 5
'

test_expect_success 'tmux: q leaves the traced program running' '
	tm send-keys -t top q &&
	wait_restored &&
	kill -0 $PID
'

top_tmux_stop
test_done
