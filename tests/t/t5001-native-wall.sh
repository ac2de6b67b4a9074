#!/bin/sh
# t5001-native-wall: wall mode (perf events, and ptrace with SONDA_WALL=ptrace) sees blocked threads, new threads, delivers signals, never leaves the target stopped.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../native.sh"

NSAMPLE=$BUILDDIR/tests/native/nsample
SRC=$SRCDIR/tests/fixtures/native/target.c

count() { grep -c "$1" "$2" || true; }

if ! command -v gcc >/dev/null 2>&1 || ! gcc -O2 -g -fomit-frame-pointer -pthread -o target "$SRC"; then
	test_skip 'wall mode' 'no gcc'
	test_done
fi
have_perf=no
start_target target chain
"$NSAMPLE" -p "$PID" -d 0.1 >probe.out 2>&1 && have_perf=yes
kill "$PID"

if [ $have_perf = yes ]; then
	test_expect_success 'cpu mode does not see the blocked thread' '
		start_target target block &&
		"$NSAMPLE" -m cpu -p $PID -d 1 >out &&
		kill $PID &&
		test_grep -q "main;spin_main" out && [ $(count reader_ out) = 0 ]
	'
	test_expect_success 'cpu mode: threads created after attach' '
		start_target target late 300 || exit 1
		"$NSAMPLE" -m cpu -r 1000 -p $PID -d 2.5 >out &
		S=$! && track $S && test_wait_for "grep -q started target.out" 5 && wait $S &&
		for w in worker_a worker_b worker_c; do test_grep -q "start_thread;$w\($\|;\)" out || return 1; done
	'
else
	test_skip 'cpu mode does not see the blocked thread' 'perf events not permitted'
	test_skip 'cpu mode: threads created after attach' 'perf events not permitted'
fi

# Each wall test twice: perf events (the default, when permitted) and
# the ptrace path they fall back to.
for how in perf ptrace; do
	if [ $how = ptrace ]; then SONDA_WALL=ptrace; export SONDA_WALL; else unset SONDA_WALL; fi
	test_expect_success "wall ($how) --idle: the thread blocked in read() on a pipe, with its callers, idle in >= 99%" '
		start_target target block &&
		"$NSAMPLE" -m wall -i -p $PID -d 1 >out &&
		n=$(count "reader_thread;reader_outer;reader_inner;read" out) &&
		say "$n blocked samples of $(count "^S " out)" &&
		test_grep -q "^S [0-9]* idle .*reader_thread;reader_outer;reader_inner;read" out &&
		test_grep -q "^S [0-9]* cpu .*main;spin_main" out &&
		[ $n -ge 3 ] && c=$(count "cpu .*reader_inner" out) && say "$c of them not idle" &&
		[ $((c * 100)) -le $n ] &&
		"$NSAMPLE" -m wall -p $PID -d 0.5 >out2 &&
		r=$(count reader_inner out2) && t=$(count "^S " out2) &&
		[ $((r * 100)) -le $t ] && test_grep -q "main;spin_main" out2 &&
		kill $PID
	'

	test_expect_success "wall ($how): threads created after attach" '
		start_target target late 300 || exit 1
		"$NSAMPLE" -m wall -p $PID -d 2 >out &
		S=$! && track $S && test_wait_for "grep -q started target.out" 5 && wait $S &&
		for w in worker_a worker_b worker_c; do test_grep -q "start_thread;$w\($\|;\)" out || return 1; done
	'

	test_expect_success "wall ($how): SIGUSR1 handler runs promptly during sampling at 1 kHz" '
		start_target target signal "$TRASH/usr1" &&
		test_spawn "$NSAMPLE" -m wall -r 1000 -p $PID -d 10 >out &&
		S=$SPAWNED && track $S && sleep 0.3 &&
		for i in 1 2 3 4 5 6 7 8 9 10; do
			kill -USR1 $PID &&
			test_wait_for "[ \$(wc -l <usr1) -ge $i ]" 1 || { echo "signal $i late"; return 1; }
		done &&
		kill $S && kill $PID
	'

	test_expect_success "wall ($how): SIGKILL of the sampler, the target runs on" '
		start_target target chain &&
		test_spawn "$NSAMPLE" -m wall -r 1000 -p $PID -d 10 >out &&
		S=$SPAWNED && track $S && sleep 0.5 && kill -KILL $S && sleep 0.2 &&
		t0=$(cut -d" " -f14 /proc/$PID/stat) && sleep 0.3 && t1=$(cut -d" " -f14 /proc/$PID/stat) &&
		say "state $(test_proc_state $PID), utime $t0 -> $t1" &&
		case $(test_proc_state $PID) in R|S) ;; *) false;; esac &&
		grep -q "^TracerPid:[[:space:]]*0$" /proc/$PID/status &&
		[ $t1 -gt $t0 ] && kill $PID
	'

	test_expect_success "wall ($how) on a process that is gone: a clear error" '
		start_target target chain && kill -KILL $PID && wait $PID 2>/dev/null;
		test_must_fail "$NSAMPLE" -m wall -p $PID -d 0.2 2>err &&
		cat err && test_grep -q "nsample: .*" err
	'
done
unset SONDA_WALL

test_done
