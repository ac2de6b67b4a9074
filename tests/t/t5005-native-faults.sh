#!/bin/sh
# t5005-native-faults: zombies, code unloaded under the sampler, files mapped and unmapped, unwind tables only in .debug_frame, static binaries.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../native.sh"

NSAMPLE=$BUILDDIR/tests/native/nsample
FIX=$SRCDIR/tests/fixtures/native

# Weight of the folded stacks of $1 holding the frames $2 (";"-joined).
weight() {
	awk -v want="$2" '{ w = $NF; s = ";" substr($0, 1, length($0) - length($NF) - 1) ";"
		if (index(s, ";" want ";")) k += w } END { print k + 0 }' "$1"
}

if ! command -v gcc >/dev/null 2>&1; then
	test_skip 'native faults' 'no gcc'
	test_done
fi

# A zombie: a child its parent (an exec'd sleep) never reaps.
sh -c 'sleep 0.1 & echo $! >zpid; exec sleep 30' &
ZPARENT=$!
test_pids="$test_pids $ZPARENT"
echo "$ZPARENT" >>"$TRASH/.pids"
test_wait_for 'test -s zpid && grep -q "^State:.*Z" /proc/$(cat zpid)/status' 5
Z=$(cat zpid)

test_expect_success 'a zombie: cpu, wall, mixed and dump --native all say so and exit 2' '
	for m in "--mode cpu" "--mode wall" "--native"; do
		{ timeout 10 "$SONDA" record $m -p $Z -d 0.2 -o z.db 2>err; [ $? = 2 ]; } &&
		test_grep "process $Z is a zombie" err || return 1
	done &&
	{ timeout 10 "$SONDA" dump --native -p $Z 2>err; [ $? = 2 ]; } &&
	test_grep "process $Z is a zombie" err
'
kill $ZPARENT 2>/dev/null

test_expect_success 'a launched target that exits ends a wall recording without an error' '
	timeout 20 "$SONDA" record --mode wall --idle -r 200 -o e.db -- sleep 0.3 2>err &&
	test_grep "0 errors" err && test_grep "exited with status 0" err
'

# More threads than descriptors: each takes one (two in wall mode) for its
# events.  The summary says how many went unsampled; the recording, its
# store and the target go on.
if gcc -O2 -g -pthread -o crowd "$FIX/target.c" && "$NSAMPLE" -p $$ -d 0.01 >/dev/null 2>&1 &&
   (ulimit -n 200) 2>/dev/null; then
	test_expect_success 'cpu and wall mode under ulimit -n 200 on 300 threads: the main thread sampled, the rest counted' '
		start_target crowd crowd 300 &&
		for m in cpu wall; do
			(ulimit -n 200 && timeout 60 "$SONDA" record --mode $m -r 200 -p $PID -d 1 \
				-o crowd-$m.db 2>err-$m) &&
			test_grep "threads not sampled: out of file descriptors (ulimit -n 200)" err-$m &&
			test_grep "still running, detached" err-$m &&
			folded crowd-$m.db >f-$m && w=$(weight f-$m "main;spin_main") &&
			say "$m: spin_main in $w samples; $(grep -o "[0-9]* threads not sampled" err-$m)" &&
			[ $w -ge 50 ] || return 1
		done
	'
else
	test_skip 'cpu and wall mode under ulimit -n 200 on 300 threads: the main thread sampled, the rest counted' 'cannot build the fixture, no perf events, or ulimit -n 200 not allowed'
fi

if gcc -O2 -g -shared -fPIC -o libhot.so "$FIX/hot.c" &&
   gcc -O2 -g -o unload "$FIX/unload.c" -ldl && head -c 200000 /dev/urandom >data.bin; then
	test_expect_success 'cpu mode: a library unloaded (dlclose) and files unmapped under the sampler' '
		timeout 30 "$SONDA" record --mode cpu -r 500 -o u.db -- ./unload ./libhot.so data.bin 6 \
			>out 2>err &&
		test_grep done out && test_grep "exited with status 0" err &&
		folded u.db >f &&
		hot=$(weight f "main;call_hot;hot_spin") && after=$(weight f "main;after_unload") &&
		say "hot_spin $hot, after_unload $after samples" &&
		[ $hot -ge 20 ] && [ $after -ge 20 ]
	'
	test_expect_success 'wall mode: the same, stacks read while the library comes and goes' '
		timeout 30 "$SONDA" record --mode wall -r 500 -o w.db -- ./unload ./libhot.so data.bin 6 \
			>out 2>err &&
		test_grep done out && test_grep "exited with status 0" err &&
		folded w.db >f &&
		hot=$(weight f "main;call_hot;hot_spin") && after=$(weight f "main;after_unload") &&
		say "hot_spin $hot, after_unload $after samples" &&
		[ $hot -ge 20 ] && [ $after -ge 20 ]
	'
else
	test_skip 'cpu mode: a library unloaded (dlclose) and files unmapped under the sampler' 'cannot build the fixture'
	test_skip 'wall mode: the same, stacks read while the library comes and goes' 'cannot build the fixture'
fi

# cpu mode on ./$1 chain: main and f1..f12 whole in >= 99% of 1 s at 1 kHz.
whole_chain() {
	start_target "$1" chain &&
	"$NSAMPLE" -r 1000 -p $PID -d 1 | sed "s/;[^;]*_\[k\]//g" >out &&
	n=$(grep -c "^S " out) && [ $n -ge 50 ] &&
	k=$(grep -c "main;f1;f2;f3;f4;f5;f6;f7;f8;f9;f10;f11;f12\$" out) &&
	say "$k of $n samples whole" && [ $((100 * k)) -ge $((99 * n)) ]
}

# -fno-asynchronous-unwind-tables -g: the program's own functions have no
# .eh_frame entry, only .debug_frame.
if gcc -O2 -g -fomit-frame-pointer -fno-asynchronous-unwind-tables -pthread -o dframe \
	"$FIX/target.c" && "$NSAMPLE" -p $$ -d 0.01 >/dev/null 2>&1; then
	test_expect_success 'cpu mode: the 12-deep chain of a build with only .debug_frame, whole in >= 99%' '
		whole_chain dframe
	'
else
	test_skip 'cpu mode: a build with only .debug_frame' 'no gcc or perf events not permitted'
fi

# A static binary has .eh_frame but, as gcc links it, no .eh_frame_hdr to search.
if gcc -O2 -g -fomit-frame-pointer -static -pthread -o static "$FIX/target.c" 2>/dev/null &&
   "$NSAMPLE" -p $$ -d 0.01 >/dev/null 2>&1; then
	test_expect_success 'cpu mode: the 12-deep chain of a static binary, whole in >= 99%' '
		whole_chain static
	'
	test_expect_success 'dump --native of a static binary: the whole chain; cut short, a marker' '
		start_target static chain && P=$PID &&
		"$SONDA" dump --native -p $P >d &&
		sed -n "s/^    \([^ ]*\) .*/\1/p" d | tr "\n" " " >names &&
		test_grep "f12 f11 f10 f9 f8 f7 f6 f5 f4 f3 f2 f1 main " names &&
		SONDA_UNWIND=libunwind "$SONDA" dump --native -p $P >d2 &&
		test_grep "^    \[unwind error: [a-z ]*\]\$" d2
	'
else
	test_skip 'a static binary' 'no static libc or perf events not permitted'
fi

test_done
