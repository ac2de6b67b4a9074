#!/bin/sh
# t5007-native-wall-perf: wall mode from perf events (no thread stopped): blocked and sleeping threads with their callers, time shares, the ptrace fallback.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../native.sh"

SRC=$SRCDIR/tests/fixtures/native/target.c
SHARES=$SRCDIR/bench/native/shares.c

# Weight of the folded stacks ($1) holding the frames $2 (with what
# follows: the leaf, or kernel frames).
weight() {
	awk -v want="$2" '{ w = $NF; s = substr($0, 1, length($0) - length($NF) - 1) ";"
		if (index(s, want ";")) k += w } END { print k + 0 }' "$1"
}

if ! command -v gcc >/dev/null 2>&1 || ! gcc -O2 -g -fomit-frame-pointer -pthread -o target "$SRC" ||
   ! gcc -O2 -g -pthread -o shares "$SHARES"; then
	test_skip 'wall mode on perf events' 'no gcc'
	test_done
fi
start_target target chain
"$SONDA" record --mode wall -p $PID -d 0.1 -o probe.db 2>probe.err >/dev/null
kill $PID
if ! grep -q "mode: wall clock via perf_event_open" probe.err; then
	test_skip 'wall mode on perf events' "not used here: $(grep mode: probe.err)"
	test_done
fi
reader="reader_thread;reader_outer;reader_inner;read"

test_expect_success 'the summary says perf events were used, and SONDA_WALL=ptrace why not' '
	start_target target chain &&
	"$SONDA" record --mode wall -p $PID -d 0.2 -o a.db 2>s1 &&
	SONDA_WALL=ptrace "$SONDA" record --mode wall -p $PID -d 0.2 -o b.db 2>s2 && kill $PID &&
	test_grep "mode: wall clock via perf_event_open (cpu-clock.* and context switches)" s1 &&
	test_grep "mode: wall clock via ptrace (SONDA_WALL=ptrace)" s2
'

# The reader sits in read() since before the attach and never wakes: it
# is seen only through the one interrupt at attach, and then for the
# whole recording (1000 ticks a second, counted as the sleep goes on; the
# events read last, up to 50 ms in the first second, are not stored: the
# recording ends before the next read).
test_expect_success '--idle: a thread asleep in read() since before the attach, with its callers, for the whole recording' '
	start_target target block &&
	"$SONDA" record --mode wall --idle -r 1000 -p $PID -d 1 -q -o idle.db &&
	kill $PID && folded idle.db >f &&
	w=$(weight f "$reader") && say "reader: $w ticks of 1000" &&
	[ $w -ge 850 ] && [ $w -le 1100 ] &&
	test_grep -q "main;spin_main " f
'

test_expect_success 'without --idle the blocked reader is left out, the spinning thread kept' '
	start_target target block &&
	"$SONDA" record --mode wall -r 1000 -p $PID -d 0.5 -q -o busy.db &&
	kill $PID && folded busy.db >g &&
	! grep -q reader_inner g && test_grep -q "main;spin_main " g
'

test_expect_success 'a launched command: its thread that blocks at once is found and kept with --idle' '
	timeout 20 "$SONDA" record --mode wall --idle -r 1000 -d 1 -q -o launched.db -- ./target block &&
	folded launched.db >h && w=$(weight h "$reader") && say "reader: $w ticks" && [ $w -ge 500 ]
'

# shares cycle: 30 ms computing, 30 ms blocked in read(), 40 ms asleep,
# each measured by the program itself; within 4 points of that.  The
# bench holds them to 2 (0.4 measured); for ten minutes of a disturbed
# machine compute was counted 3-5 points short in some 2-second runs
# (cause not found: interleaved runs of this and older builds agreed
# once it calmed), so the run is 4 s and the margin 4.
test_expect_success 'time shares of a computing, blocked and sleeping thread within 4 points' '
	"$SONDA" record --mode wall --idle -r 1000 -q -o sh.db -- ./shares cycle 4 >truth &&
	set -- $(grep ^truth truth) && tid=$3 &&
	"$SONDA" report sh.db -t $tid -f csv -n 1000 >csv &&
	awk -F, -v tc=$5 -v tb=$7 -v ts=$9 "
		\$1 ~ /^phase_compute/ { c += \$7 } \$1 ~ /^phase_blocked/ { b += \$7 }
		\$1 ~ /^phase_sleep/ { s += \$7 }
		function off(x, y) { return x > y ? x - y : y - x }
		END { printf \"# compute %.1f/%.1f blocked %.1f/%.1f asleep %.1f/%.1f\\n\", c, tc, b, tb, s, ts
		      exit !(off(c, tc) <= 4 && off(b, tb) <= 4 && off(s, ts) <= 4) }" csv
'

# Two spinning threads on one CPU: each runs half the time and waits
# for the CPU the other half, which counts as running too (about 500
# ticks if it did not).
test_expect_success 'a preempted thread counts as running, not idle' '
	start_target target chain && taskset -p -c 0 $PID >/dev/null &&
	test_spawn taskset -c 0 ./target chain >t2.out && P2=$SPAWNED && track $P2 &&
	test_wait_for "grep -q ready t2.out" 5 &&
	"$SONDA" record --mode wall -r 1000 -p $PID -d 1 -q -o pre.db &&
	kill $PID $P2 && folded pre.db >p &&
	w=$(weight p "main;f1;f2;f3;f4;f5;f6;f7;f8;f9;f10;f11;f12") && say "f12: $w ticks of 1000" &&
	[ $w -ge 850 ]
'

# Switching 100000 times a second: the threads' clocks are slowed (their
# on-CPU samples weigh 10 ticks each) and each thread is counted for its
# whole second, within the 25% perf's own switching work adds, less what
# a loaded machine loses (the rings fill before sonda reads them: 40% of
# the records were lost with a load of 5 on 2 CPUs); counted as missed.
test_expect_success 'threads that switch very often: counted for their time, in read and write with their callers' '
	test_spawn ./shares pingpong 100000000 && P=$SPAWNED && track $P && sleep 0.2 &&
	SONDA_WALL=perf "$SONDA" record --mode wall --idle -r 1000 -p $P -d 1 -o pp.db 2>sum &&
	kill $P && folded pp.db >pp && cat sum &&
	m=$(weight pp "main;pingpong") && t=$(weight pp "start_thread;ponger") &&
	say "main $m, ponger $t ticks of 1000" &&
	[ $m -ge 500 ] && [ $m -le 1250 ] && [ $t -ge 500 ] && [ $t -le 1250 ] &&
	for f in "main;pingpong;read" "main;pingpong;__write" "ponger;read" "ponger;__write"; do
		test_grep -q "$f" pp || return 1
	done
'

# Without SONDA_WALL=perf the same target costs less stopped at each tick:
# the recording is handed over to ptrace within its first drains, and goes
# on counting both threads in read and write.  Both threads on one CPU
# switch 200000 times a second or more, ten times the point of handing
# over even when a loaded machine gives them a fraction of that CPU.
pin=
command -v taskset >/dev/null 2>&1 && pin="taskset -c 0"
test_expect_success 'threads that switch very often: handed over to ptrace, told when, counted' '
	test_spawn $pin ./shares pingpong 100000000 && P=$SPAWNED && track $P && sleep 0.2 &&
	"$SONDA" record --mode wall --idle -r 1000 -p $P -d 2 -o ho.db 2>sum &&
	kill $P && folded ho.db >ho && cat sum &&
	test_grep "mode: wall clock via perf_event_open, then via ptrace from [0-9.]* s ([0-9]* context switches a second" sum &&
	m=$(weight ho "main;pingpong") && t=$(weight ho "start_thread;ponger") &&
	say "main $m, ponger $t ticks of 2000" &&
	[ $m -ge 1000 ] && [ $m -le 2500 ] && [ $t -ge 1000 ] && [ $t -le 2500 ] &&
	for f in "main;pingpong;read" "ponger;read"; do
		test_grep -q "$f" ho || return 1
	done
'

# Kernel-side events need kernel.perf_event_paranoid <= 1 (or root):
# an ordinary user gets the ptrace path, told why.
if [ "$(id -u)" = 0 ] && command -v runuser >/dev/null 2>&1 && id nobody >/dev/null 2>&1 &&
   [ "$(cat /proc/sys/kernel/perf_event_paranoid)" -ge 2 ]; then
	test_expect_success 'an unprivileged user falls back to ptrace and the summary says why' '
		chmod o+rx "$TRASH" && chmod o+w "$TRASH" &&
		runuser -u nobody -- "$SONDA" record --mode wall -d 0.3 -o nobody.db -- ./target chain 2>s &&
		test_grep "mode: wall clock via ptrace (context-switch events not permitted: .*perf_event_paranoid = [0-9]*)" s
	'
else
	test_skip 'an unprivileged user falls back to ptrace and the summary says why' 'not root, no runuser or nobody, or kernel.perf_event_paranoid below 2'
fi

test_done
