#!/bin/sh
# t4001-top-live: sonda top on a live process: the hot row, pause, every way out leaves the target running.
. "$(dirname "$0")/../lib.sh"
. "$SRCDIR/tests/top-lib.sh"

# A target with a known hot function: the Python known-stack fixture when
# the Python engine is built, else the native chain (f1 -> ... -> f12).
start_python() {
	py=$(test_pythons | awk '$1 == "3.11" { print $2; exit }')
	[ -n "$py" ] || return 1
	test_spawn "$py" "$SRCDIR/tests/fixtures/py/known_stack.py" --ready ready
	PID=$SPAWNED
	test_wait_for "test -f ready" 5 || return 1
	HOT=leaf_spin MODE=
	"$SONDA" top --batch -n 1 --refresh 0.3 -p "$PID" >probe 2>&1 || return 1
	# Without the Python engine, auto mode would sample it natively.
	grep -q "^Collecting samples from .* (python" probe && return 0
	echo "the python engine is not in this build" >>probe
	kill "$PID"
	return 1
}
start_native() {
	command -v gcc >/dev/null 2>&1 || return 1
	gcc -O2 -g -o target "$SRCDIR/tests/fixtures/native/target.c" -pthread || return 1
	test_spawn ./target chain >target.out
	PID=$SPAWNED
	test_wait_for "grep -q ready target.out" 5 || return 1
	HOT=f12 MODE="--mode cpu"
	"$SONDA" top --batch -n 1 --refresh 0.3 $MODE -p "$PID" >probe 2>&1
}
if start_python; then
	say "target: python known_stack.py, pid $PID"
elif why=$(tail -n 1 probe 2>/dev/null) && start_native; then
	say "target: native chain, pid $PID (python: $why)"
else
	test_skip 'live top' "no target can be sampled here: $(tail -n 1 probe 2>/dev/null)"
	test_done
fi

running() {
	st=$(test_proc_state "$PID") || return 1
	case $st in t|T|Z|X) echo "target state $st"; return 1;; esac
}

test_expect_success 'batch -n 2: two tables, the hot function first, samples growing' '
	"$SONDA" top --batch -n 2 --refresh 0.5 $MODE -p "$PID" >out &&
	test "$(grep -c "^Collecting samples from" out)" = 2 &&
	awk "/%Own  %Total/ { getline; print \$5 }" out >first &&
	printf "%s\n%s\n" $HOT $HOT >expect &&
	test_cmp expect first &&
	awk "/^Total Samples/ { print \$3 }" out >counts &&
	test "$(sed -n 2p counts)" -gt "$(sed -n 1p counts)" &&
	running
'

test_expect_success '-o also records: the store has the hot function' '
	"$SONDA" top --batch -n 2 --refresh 0.5 $MODE -o rec.db -p "$PID" >out &&
	test_grep "Recording to rec.db" out &&
	"$SONDA" top -b -n 1 rec.db >rec &&
	awk "/%Own  %Total/ { getline; print \$5 }" rec | test_grep "^$HOT\$" &&
	running
'

top_tmux_start
tm send-keys -t top "cd '$TRASH' && '$SONDA' top $MODE -p $PID" Enter

samples() { screen | awk "/^Total Samples/ { print \$3 }"; }

test_expect_success 'tmux: header and the hot row' '
	wait_screen "^Collecting samples from .*pid $PID" &&
	wait_screen "^ *[0-9.]+ +[0-9.]+ +[0-9.]+s +[0-9.]+s $HOT " &&
	screen | test_grep "^Threads [0-9]*: active"
'

test_expect_success 'tmux: P pauses (the counts stop moving), P resumes' '
	tm send-keys -t top P &&
	wait_screen "\\[PAUSED\\]" &&
	a=$(samples) && sleep 1.5 && b=$(samples) &&
	test "$a" = "$b" &&
	tm send-keys -t top P &&
	sleep 1.5 && c=$(samples) &&
	test "$c" -gt "$b" &&
	! screen | grep -q "PAUSED"
'

test_expect_success 'tmux: q exits within a second, terminal restored, target running' '
	tm send-keys -t top q &&
	wait_restored &&
	sleep 0.2 && running
'

test_expect_success 'tmux: Ctrl-C exits the same way' '
	tm send-keys -t top "clear; $SONDA top $MODE -p $PID" Enter &&
	wait_screen "^Collecting samples from" &&
	tm send-keys -t top C-c &&
	wait_restored &&
	sleep 0.2 && running
'

test_expect_success 'tmux: SIGTERM exits the same way' '
	tm send-keys -t top "clear; $SONDA top $MODE -p $PID" Enter &&
	wait_screen "^Collecting samples from" &&
	kill -TERM $(pgrep -P "$(tm display -p -t top "#{pane_pid}")") &&
	wait_restored &&
	sleep 0.2 && running
'

top_tmux_stop
test_done
