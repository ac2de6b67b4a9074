#!/bin/sh
# t5004-native-record: sonda record --mode cpu|wall and the automatic choice, end to end into a store.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../native.sh"

SRC=$SRCDIR/tests/fixtures/native/target.c

# Share (%) of the weight of folded stacks ($1) holding the frames $2 up
# to their leaf or to kernel frames above it.
share() {
	awk -v want="$2" '{ w = $NF; total += w; s = substr($0, 1, length($0) - length($NF) - 1) ";"
		if (index(s, want ";")) k += w }
		END { print total ? int(100 * k / total) : -1 }' "$1"
}

if ! command -v gcc >/dev/null 2>&1 || ! gcc -O2 -g -fomit-frame-pointer -pthread -o target "$SRC"; then
	test_skip 'native record' 'no gcc'
	test_done
fi
chain="main;f1;f2;f3;f4;f5;f6;f7;f8;f9;f10;f11;f12"
perf_ok=no
start_target target chain
"$SONDA" record --mode cpu -p $PID -d 0.1 -q -o probe.db >/dev/null 2>&1 && perf_ok=yes
kill $PID

if [ $perf_ok = yes ]; then
	test_expect_success 'record --mode cpu: the whole chain in >= 99% of the stored samples' '
		start_target target chain &&
		"$SONDA" record --mode cpu -r 1000 -p $PID -d 1.5 -q -o cpu.db &&
		folded cpu.db >f && p=$(share f "$chain") && say "$p%" && [ $p -ge 99 ]
	'
	test_expect_success 'record chooses cpu mode for a native target and says why' '
		start_target target chain &&
		"$SONDA" record -p $PID -d 0.3 -o auto.db 2>summary &&
		test_grep "mode: cpu-clock via perf_event_open" summary &&
		test_grep "perf events permitted" summary
	'
	test_expect_success 'record --mode cpu of a launched command follows its new threads' '
		"$SONDA" record --mode cpu -r 1000 -d 2 -q -o launched.db -- ./target late 300 &&
		folded launched.db >f &&
		for w in worker_a worker_b worker_c; do test_grep -q "start_thread;$w[ ;]" f || exit 1; done
	'
else
	test_skip 'record --mode cpu' 'perf events not permitted'
	test_expect_success 'record falls back to wall mode and says why' '
		start_target target chain &&
		"$SONDA" record -p $PID -d 0.3 -o auto.db 2>summary &&
		test_grep "mode: wall clock via ptrace" summary
	'
fi

test_expect_success 'record --mode wall: the blocked reader kept with --idle, with its callers, dropped without' '
	start_target target block &&
	"$SONDA" record --mode wall --idle -p $PID -d 1 -q -o wall.db &&
	folded wall.db >f &&
	test_grep -q "reader_thread;reader_outer;reader_inner;read" f &&
	test_grep -q "main;spin_main " f &&
	"$SONDA" record --mode wall -p $PID -d 0.5 -q -o busy.db &&
	folded busy.db >g && ! grep -q reader_inner g && test_grep -q "main;spin_main " g
'

if printf "void _start(void){for(;;);}\n" >s32.c && gcc -m32 -nostdlib -static -o s32 s32.c 2>/dev/null; then
	test_expect_success 'a 32-bit process: a clear refusal' '
		test_spawn ./s32 && P=$SPAWNED && track $P &&
		for i in $(seq 100); do
			case $(readlink /proc/$P/exe) in */s32) break;; esac; sleep 0.02
		done &&
		test_must_fail "$SONDA" record --mode wall -p $P -d 0.2 -o x.db 2>err &&
		test_grep "not a 64-bit x86-64 program (32-bit)" err
	'
else
	test_skip 'a 32-bit process: a clear refusal' 'gcc cannot build 32-bit code here'
fi

test_done
