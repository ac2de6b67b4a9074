#!/bin/sh
# run.sh - allocation tracking: sonda run --alloc against heaptrack and valgrind massif, side by side in one run; prints ratios.
#
#   bench/alloc/run.sh [BUILDDIR]     (default: the tree this script is in)
#   ROUNDS=N to change the work (default 2000000 per thread)
#
# One allocation-heavy 2-thread program (churn.c: malloc, calloc, realloc
# and free at a dozen call sites, 4096 blocks live per thread), run alone
# and under each tracker.  CPU = user + system seconds of the whole run
# (the tracker's own processes and its exit-time writing included), best of
# 3; added CPU per allocation event = (run - alone) / events (allocations,
# reallocations and frees).  Memory = the most resident memory of all the
# run's processes together, sampled every 50 ms, minus the program's own
# when run alone.
set -e
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$(cd "$here/../.." && pwd)}
sonda=$build/sonda
out=$(mktemp -d "${TMPDIR:-/tmp}/sonda-bench-alloc.XXXXXX")
trap 'rm -rf "$out"' EXIT
cd "$out"
ROUNDS=${ROUNDS:-2000000}
cc -O2 -g -fno-omit-frame-pointer -pthread -o churn "$here/churn.c"
events=$(./churn "$ROUNDS")

# rss_max CMD...: the most KiB resident in CMD's process group at once
rss_max() {
	setsid "$@" >/dev/null 2>&1 &
	pid=$!
	max=0
	while kill -0 $pid 2>/dev/null; do
		kb=$(ps -e -o pgid=,rss= | awk -v g=$pid '$1 == g { s += $2 } END { print s + 0 }')
		[ "$kb" -gt "$max" ] && max=$kb
		sleep 0.05
	done
	wait $pid || true
	echo $max
}
cpu() {	# CPU seconds of a command, best of 3
	best=
	for i in 1 2 3; do
		rm -rf "$out"/*.db "$out"/heaptrack.* "$out"/massif.*
		/usr/bin/time -f "%U %S" -o t.txt "$@" >/dev/null 2>&1 || true
		s=$(awk '{ print $1 + $2 }' t.txt)
		best=$(awk -v a="$best" -v b="$s" 'BEGIN { print (a == "" || b < a) ? b : a }')
	done
	echo "$best"
}
per_event() { awk -v a="$1" -v b="$2" -v n="$events" 'BEGIN { printf "%.0f", (a - b) * 1e9 / n }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }'; }

have() { command -v "$1" >/dev/null 2>&1; }
echo "== $events allocation events (2 threads, $ROUNDS rounds each)"
alone=$(cpu ./churn "$ROUNDS")
bare=$(cpu "$sonda" run -o "$out/a.db" -- ./churn "$ROUNDS")
full=$(cpu "$sonda" run --alloc -o "$out/a.db" -- ./churn "$ROUNDS")
fp=$(cpu env SONDA_ALLOC_UNWIND=fp "$sonda" run --alloc -o "$out/a.db" -- ./churn "$ROUNDS")
samp=$(cpu "$sonda" run --alloc-sample=524288 -o "$out/a.db" -- ./churn "$ROUNDS")
ht=; ms=
have heaptrack && ht=$(cpu heaptrack -o "$out/heaptrack.churn" ./churn "$ROUNDS")
have valgrind && ms=$(cpu valgrind --tool=massif --massif-out-file="$out/massif.out" ./churn "$ROUNDS")

line() {	# name cpu
	[ -n "$2" ] || { printf "%-40s %s\n" "$1" "(not installed)"; return; }
	printf "%-40s %7.2f s  %5sx  %+6s ns/event\n" "$1" "$2" "$(ratio "$2" "$alone")" "$(per_event "$2" "$alone")"
}
printf "%-40s %7.2f s\n" "alone" "$alone"
line "sonda run, no --alloc (fixed costs)" "$bare"
line "sonda run --alloc (libunwind, 16 frames)" "$full"
line "sonda run --alloc, frame pointers" "$fp"
line "sonda run --alloc-sample=524288" "$samp"
line "heaptrack" "$ht"
line "valgrind --tool=massif" "$ms"
if [ -n "$ht" ]; then
	echo "-- sonda --alloc added CPU per event / heaptrack's: $(ratio "$(per_event "$full" "$alone")" "$(per_event "$ht" "$alone")") (goal <= 0.33)"
fi
echo "-- sampling at 512 KiB slowdown: $(ratio "$samp" "$alone")x (goal < 1.10); over sonda run alone: $(ratio "$samp" "$bare")x"

echo "== memory (KiB resident, all processes of the run, most at once)"
m0=$(rss_max ./churn "$ROUNDS")
m1=$(rss_max "$sonda" run --alloc -o "$out/m.db" -- ./churn "$ROUNDS")
printf "%-40s %8d\n" "alone" "$m0"
printf "%-40s %8d  tracker %d\n" "sonda run --alloc" "$m1" $((m1 - m0))
if have heaptrack; then
	m2=$(rss_max heaptrack -o "$out/heaptrack.m" ./churn "$ROUNDS")
	printf "%-40s %8d  tracker %d\n" "heaptrack" "$m2" $((m2 - m0))
	echo "-- sonda tracker memory / heaptrack's: $(ratio $((m1 - m0)) $((m2 - m0))) (goal <= 0.5)"
fi
