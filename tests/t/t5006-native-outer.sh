#!/bin/sh
# t5006-native-outer: CPU mode keeps the outer frames of deep stacks between samples, and never splices them onto the wrong callers.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../native.sh"

SRC=$SRCDIR/tests/fixtures/native/target.c

# "RIGHT WRONG OTHER" sample counts of folded stacks ($1) ending in
# spin_a or spin_b: right when the caller is the leaf's own, other when
# the stack has no caller (it ends in a marker).
judge() {
	awk '{ w = $NF; s = substr($0, 1, length($0) - length($NF) - 1) ";"
		g = "g1;g2;g3;g4;g5;g6;g7;g8;g9;g10;g11;g12;"
		if (index(s, "caller_a;" g "spin_a;") || index(s, "caller_b;" g "spin_b;")) r += w
		else if (index(s, "caller_a;" g "spin_b;") || index(s, "caller_b;" g "spin_a;")) x += w
		else if (index(s, "spin_a;") || index(s, "spin_b;")) o += w }
		END { printf "%d %d %d\n", r, x, o }' "$1"
}

# The same for the handlers target: right when spin_s, spin_k or spin_m
# sits under its own frames, wrong when a handler's leaf has the other
# handler's frames (or the dispatcher's leaf any handler's).
judge_handlers() {
	awk '{ w = $NF; s = substr($0, 1, length($0) - length($NF) - 1) ";"
		if (index(s, "main;h1;h2;k1;k2;spin_k;") || index(s, "main;h1;h2;m1;m2;spin_m;") ||
		    index(s, "main;h1;h2;spin_s;")) r += w
		else if ((index(s, "spin_k;") && (index(s, ";m1;") || index(s, ";m2;"))) ||
			 (index(s, "spin_m;") && (index(s, ";k1;") || index(s, ";k2;"))) ||
			 (index(s, "spin_s;") && (index(s, ";k1;") || index(s, ";m1;")))) x += w
		else if (index(s, "spin_s;") || index(s, "spin_k;") || index(s, "spin_m;")) o += w }
		END { printf "%d %d %d\n", r, x, o }' "$1"
}

# Records "target $2..." for 2.5 s at 1 kHz in cpu mode and judges its
# stacks with $1: the right frames in >= 99% of the samples that have a
# caller, and in >= 90% of all (the rest end in markers).
expect_right() {
	j=$1 && shift &&
	start_target target "$@" &&
	SONDA_NATIVE_DEBUG=1 "$SONDA" record --mode cpu -r 1000 -p $PID -d 2.5 -q -o rec.db 2>debug &&
	kill $PID &&
	folded rec.db >f && set -- $($j f) &&
	say "right $1, wrong $2, no caller (a marker) $3; $(grep -o "outer frames.*" debug)" &&
	[ $1 -ge 500 ] && [ $((100 * $1)) -ge $((99 * ($1 + $2))) ] &&
	[ $((100 * $1)) -ge $((90 * ($1 + $2 + $3))) ]
}

if ! command -v gcc >/dev/null 2>&1 || ! gcc -O2 -g -fomit-frame-pointer -pthread -o target "$SRC"; then
	test_skip 'cpu mode: two callers of one deep chain' 'no gcc'
	test_done
fi
perf_ok=no
start_target target chain
"$SONDA" record --mode cpu -p $PID -d 0.1 -q -o probe.db >/dev/null 2>&1 && perf_ok=yes
kill $PID
if [ $perf_ok = no ]; then
	test_skip 'cpu mode: two callers of one deep chain' 'perf events not permitted'
	test_done
fi
# Kept outer frames need a hardware watchpoint per thread.
start_target target deep
SONDA_NATIVE_DEBUG=1 "$SONDA" record --mode cpu -p $PID -d 0.3 -q -o probe.db 2>probe.err
kill $PID
if grep -q " 0 watchpoints armed" probe.err; then
	test_skip 'cpu mode: two callers of one deep chain' 'no hardware watchpoints (every outer frame is read live)'
	test_done
fi

# caller_a and caller_b have equal frames and call the same 12 frames of
# 9 KB in turns (120 and 80 ms): the chain sits at the same addresses
# under either, beyond any stack copy, and only the leaf (spin_a or
# spin_b, inside the copy) tells which caller is the real one.  A sample
# read after its stack changed twice (a drain held up) ends in a marker:
# those may be a few, wrong callers must not be.
test_expect_success 'cpu mode: two callers of one deep chain in turns, the right caller in >= 99%' '
	expect_right judge alternate 120
'

# Turns shorter than the drain period of the rings (50 ms): a sample is
# read after its caller may have changed twice; those say so, none lies.
test_expect_success 'cpu mode: turns of 30 ms: no sample names the wrong caller' '
	start_target target alternate 30 &&
	SONDA_NATIVE_DEBUG=1 "$SONDA" record --mode cpu -r 1000 -p $PID -d 1.5 -q -o fast.db 2>debug &&
	kill $PID &&
	folded fast.db >f && set -- $(judge f) &&
	say "right $1, wrong callers $2, no caller (a marker) $3" &&
	test_grep -q "stack changed since the sample" f &&
	[ $1 -ge 100 ] && [ $((100 * $2)) -le $(($1 + $2)) ]
'

test_expect_success 'cpu mode: the same with every outer frame read live (SONDA_OUTER=live) for comparison' '
	start_target target alternate 120 &&
	SONDA_OUTER=live "$SONDA" record --mode cpu -r 1000 -p $PID -d 1 -q -o live.db &&
	kill $PID &&
	folded live.db >f && set -- $(judge f) && say "right $1, wrong callers $2, other $3" &&
	[ $1 -ge 100 ]
'

# A dispatcher (h1 -> h2, 9 KB frames) whose handlers go deeper (k1 -> k2
# or m1 -> m2, at the same addresses), 60 ms each in turns: the first
# frame beyond a sample's copy is h2 for the dispatcher's samples and k2
# or m2 for the handlers', and each has its own watchpoint.  Watching
# only the dispatcher's frame let a handler's sample read after the next
# handler began take its frames (15% of samples).
test_expect_success 'cpu mode: handlers deeper than their dispatcher: the right frames in >= 99%' '
	expect_right judge_handlers handlers 60
'

test_expect_success 'cpu mode: a deep stack that does not change is read once' '
	start_target target deep &&
	SONDA_NATIVE_DEBUG=1 "$SONDA" record --mode cpu -r 1000 -p $PID -d 1 -q -o deep.db 2>debug &&
	kill $PID &&
	say "$(grep -o "outer frames.*" debug)" &&
	armed=$(sed -n "s/.* \([0-9]*\) watchpoints armed.*/\1/p" debug) &&
	reused=$(sed -n "s/.*reused \([0-9]*\) times.*/\1/p" debug) &&
	[ "$armed" -le 3 ] && [ "$reused" -ge 100 ]
'

test_done
