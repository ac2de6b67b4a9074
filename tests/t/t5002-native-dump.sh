#!/bin/sh
# t5002-native-dump: one look at every thread agrees with gdb; launched commands; binaries deleted after start.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../native.sh"

NSAMPLE=$BUILDDIR/tests/native/nsample
SRC=$SRCDIR/tests/fixtures/native/target.c

if ! command -v gcc >/dev/null 2>&1 || ! gcc -O2 -g -fomit-frame-pointer -pthread -o target "$SRC"; then
	test_skip 'native dump' 'no gcc'
	test_done
fi

# "TID f1 f2 ..." per thread, root first, only the fixture's own functions
# (libc's aliases differ between tools: __GI___libc_read, __libc_read).
ours_nsample() {
	sed -n 's/^S \([0-9]*\) [a-z]* /\1 /p' "$1" | while read -r tid frames; do
		printf '%s' "$tid"
		echo "$frames" | tr ';' '\n' | grep 'target\.c:' | cut -d: -f1 | tr '\n' ' ' | sed 's/^/ /; s/ $//'
		echo
	done | sort
}
ours_gdb() {
	awk '/^Thread / { if (tid) print tid, f; f = ""; match($0, /LWP [0-9]+/); tid = substr($0, RSTART + 4, RLENGTH - 4) }
	     /^#[0-9]+ / && /target\.c:[0-9]+$/ { name = ($3 == "in") ? $4 : $2; f = name (f == "" ? "" : " " f) }
	     END { if (tid) print tid, f }' "$1" | sort
}

# The same from sonda dump --native: "Thread TID (name) [state]", then
# "    function (file:line)" innermost first.
ours_dump() {
	awk '/^Thread / { tid = $2 } /^    / && /target\.c:[0-9]+\)$/ { f[tid] = $1 (f[tid] == "" ? "" : " " f[tid]) }
	     END { for (t in f) print t, f[t] }' "$1" | sort
}

if command -v gdb >/dev/null 2>&1; then
	test_expect_success 'sonda dump --native agrees with gdb thread apply all bt' '
		start_target target block &&
		"$SONDA" dump --native -p $PID >dump &&
		timeout 60 gdb -batch -p $PID -ex "thread apply all bt" >gdb.out 2>/dev/null;
		ours_dump dump >a && ours_gdb gdb.out >b && say "$(cat a)" &&
		test_cmp b a && [ $(wc -l <a) = 2 ] &&
		test_grep -q "^Thread [0-9]* (target) \[idle\]" dump
	'
	test_expect_success 'nsample wall dump agrees with gdb too' '
		start_target target block &&
		"$NSAMPLE" -m wall -o -i -l -p $PID >dump &&
		timeout 60 gdb -batch -p $PID -ex "thread apply all bt" >gdb.out 2>/dev/null;
		ours_nsample dump >a && ours_gdb gdb.out >b &&
		test_cmp b a && [ $(wc -l <a) = 2 ]
	'
else
	test_skip 'sonda dump --native agrees with gdb thread apply all bt' 'no gdb'
	test_skip 'nsample wall dump agrees with gdb too' 'no gdb'
fi

# Two callers of one chain of 9 KB frames, 2 ms each in turns: the
# callers lie beyond the copy of the stack, read while the thread is
# still stopped.  Read after letting it go (as before), 19 of 40 dumps
# named the other caller.
test_expect_success 'dump --native of a deep stack changing every 2 ms: the right caller in 10 dumps of 10' '
	start_target target alternate 2 &&
	for i in 1 2 3 4 5 6 7 8 9 10; do
		"$SONDA" dump --native -p $PID >d || return 1
		sed -n "s/^    \([a-z_0-9]*\) .*/\1/p" d | tr "\n" " " >s &&
		say "$(cat s)" &&
		{ grep -q "spin_a g12 g11 g10 g9 g8 g7 g6 g5 g4 g3 g2 g1 caller_a " s ||
		  grep -q "spin_b g12 g11 g10 g9 g8 g7 g6 g5 g4 g3 g2 g1 caller_b " s; } || return 1
	done
'

test_expect_success 'sonda dump --native of a stripped binary: module+0xOFFSET frames' '
	strip -o stripped target && start_target stripped chain &&
	"$SONDA" dump --native -p $PID >dump &&
	test_grep -q "^    stripped+0x[0-9a-f]* (stripped)\$" dump &&
	test_grep -q "^    __libc_start_main (" dump
'

test_expect_success 'wall mode on a launched command' '
	"$NSAMPLE" -m wall -d 1 -- ./target chain >out &&
	test_grep -q "main;f1;f2;f3;f4;f5;f6;f7;f8;f9;f10;f11;f12\$" out
'

if "$NSAMPLE" -d 0.05 -- ./target chain >/dev/null 2>&1; then
	test_expect_success 'cpu mode on a launched command, threads it creates included' '
		"$NSAMPLE" -r 1000 -d 2 -- ./target late 300 >out &&
		for w in worker_a worker_b worker_c; do test_grep -q "start_thread;$w\($\|;\)" out || return 1; done
	'
else
	test_skip 'cpu mode on a launched command, threads it creates included' 'perf events not permitted'
fi

test_expect_success 'a binary deleted after start is still symbolized' '
	cp target doomed && start_target doomed chain && rm doomed &&
	"$NSAMPLE" -m wall -d 0.5 -l -p $PID >out && kill $PID &&
	test_grep -q "main:target.c:[0-9]*;f1:target.c:[0-9]*;.*f12:target.c:[0-9]*\$" out
'

test_done
