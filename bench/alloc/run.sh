#!/bin/sh
# run.sh - allocation tracking: sonda run --alloc against heaptrack, valgrind massif and jemalloc's sampled profile, side by side in one run; prints ratios.
#
#   bench/alloc/run.sh [BUILDDIR]     (default: the tree this script is in)
#   ROUNDS=N   rounds per thread for full tracking (default 2000000)
#   LONG=N     rounds per thread for sampling (default 15000000: seconds of
#              work, so the ratio is the per-event cost, not start-up)
#
# One allocation-heavy 2-thread program (churn.c: malloc, calloc, realloc
# and free at a dozen call sites, 4096 blocks live per thread), run alone
# and under each tracker.  CPU = user + system seconds of the whole run
# (the tracker's own processes and its exit-time writing included), best
# of 3, the configurations taking turns so a change in the machine's load
# hits all alike.  Added CPU per allocation event = (run - alone) / events
# (allocations, reallocations and frees).  Fixed cost = CPU of `sonda run`
# around /bin/true, 20 runs, best of 3.  Memory = the most resident memory of all
# the run's processes together, sampled every 50 ms, minus the program's
# own when run alone; and the tracker's own count of its live map.
set -e
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-$here/../..}" && pwd)	# absolute: the runs happen in a scratch directory
sonda=$build/sonda
out=$(mktemp -d "${TMPDIR:-/tmp}/sonda-bench-alloc.XXXXXX")
trap 'rm -rf "$out"' EXIT
cd "$out"
ROUNDS=${ROUNDS:-2000000}
LONG=${LONG:-15000000}
cc -O2 -g -fno-omit-frame-pointer -pthread -o churn "$here/churn.c"
events=$(./churn "$ROUNDS")
long_events=$(./churn 100000)
long_events=$((long_events * (LONG / 1000) / 100))
jemalloc=
for j in /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 /usr/lib/libjemalloc.so.2; do
	[ -r "$j" ] && jemalloc=$j && break
done
have() { command -v "$1" >/dev/null 2>&1; }

# cpu_of CMD...: user + system seconds of one run
cpu_of() {
	rm -rf "$out"/*.db "$out"/heaptrack.* "$out"/massif.* "$out"/jeprof.*
	/usr/bin/time -f "%U %S" -o t.txt "$@" >/dev/null 2>&1 || true
	awk '{ print $1 + $2 }' t.txt
}
# best NAME CMD...: keep the least CPU seen for NAME in $best_NAME
best() {
	name=$1
	shift
	s=$(cpu_of "$@")
	eval "old=\${best_$name:-}"
	eval "best_$name=$(awk -v a="$old" -v b="$s" 'BEGIN { print (a == "" || b < a) ? b : a }')"
}
per_event() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN { printf "%.0f", (a - b) * 1e9 / n }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }'; }
line() {	# name cpu base events
	[ -n "$2" ] || { printf "%-44s %s\n" "$1" "(not installed)"; return; }
	printf "%-44s %7.2f s  %5sx  %+6s ns/event\n" "$1" "$2" "$(ratio "$2" "$3")" "$(per_event "$2" "$3" "$4")"
}

echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== full tracking: $events allocation events (2 threads, $ROUNDS rounds each)"
for i in 1 2 3; do
	best alone ./churn "$ROUNDS"
	best full "$sonda" run --alloc -o "$out/a.db" -- ./churn "$ROUNDS"
	best fp env SONDA_ALLOC_UNWIND=fp "$sonda" run --alloc -o "$out/a.db" -- ./churn "$ROUNDS"
	best lu env SONDA_ALLOC_UNWIND=libunwind "$sonda" run --alloc -o "$out/a.db" -- ./churn "$ROUNDS"
	have heaptrack && best ht heaptrack -o "$out/heaptrack.churn" ./churn "$ROUNDS"
	have valgrind && best ms valgrind --tool=massif --massif-out-file="$out/massif.out" ./churn "$ROUNDS"
done
printf "%-44s %7.2f s\n" "alone" "$best_alone"
line "sonda run --alloc (default, 16 frames)" "$best_full" "$best_alone" "$events"
line "sonda run --alloc, libunwind alone" "$best_lu" "$best_alone" "$events"
line "sonda run --alloc, frame pointers alone" "$best_fp" "$best_alone" "$events"
line "heaptrack" "${best_ht:-}" "$best_alone" "$events"
line "valgrind --tool=massif" "${best_ms:-}" "$best_alone" "$events"
sonda_ev=$(per_event "$best_full" "$best_alone" "$events")
[ -n "${best_ht:-}" ] &&
	echo "-- sonda --alloc added CPU per event / heaptrack's: $(ratio "$sonda_ev" "$(per_event "$best_ht" "$best_alone" "$events")") (goal <= 0.33)"
[ -n "${best_ms:-}" ] &&
	echo "-- sonda --alloc added CPU per event / massif's: $(ratio "$sonda_ev" "$(per_event "$best_ms" "$best_alone" "$events")")"

echo "== sampling at a 512 KiB mean: $long_events allocation events (2 threads, $LONG rounds each)"
for i in 1 2 3; do
	best lalone ./churn "$LONG"
	best lsamp "$sonda" run --alloc-sample=524288 -o "$out/s.db" -- ./churn "$LONG"
	best lbare "$sonda" run -o "$out/b.db" -- ./churn "$LONG"
	if [ -n "$jemalloc" ]; then
		best jalone env LD_PRELOAD="$jemalloc" ./churn "$LONG"
		best jprof env LD_PRELOAD="$jemalloc" MALLOC_CONF=prof:true,lg_prof_sample:19,prof_final:true,prof_prefix:"$out/jeprof" ./churn "$LONG"
	fi
done
printf "%-44s %7.2f s\n" "alone" "$best_lalone"
line "sonda run, no --alloc" "$best_lbare" "$best_lalone" "$long_events"
line "sonda run --alloc-sample=524288" "$best_lsamp" "$best_lalone" "$long_events"
if [ -n "$jemalloc" ]; then
	printf "%-44s %7.2f s\n" "jemalloc alone" "$best_jalone"
	line "jemalloc prof:true,lg_prof_sample:19" "$best_jprof" "$best_jalone" "$long_events"
else
	echo "jemalloc (libjemalloc2)                      (not installed)"
fi

echo "== fixed cost: sonda run around /bin/true (CPU ms per run, 20 runs, best of 3)"
# times20 CMD...: CPU of 20 runs in one shell (time(1) counts in 10 ms)
times20() { n=$1; shift; best "$n" sh -c 'for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do "$@"; done' - "$@"; }
for i in 1 2 3; do
	times20 t0 /bin/true
	times20 t1 "$sonda" run -o "$out/t.db" -- /bin/true
	times20 t2 "$sonda" run --alloc-sample=524288 -o "$out/t.db" -- /bin/true
	times20 t3 "$sonda" run --alloc -o "$out/t.db" -- /bin/true
done
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (a - b) * 1000 / 20 }'; }
echo "sonda run: $(ms "$best_t1" "$best_t0") ms; --alloc-sample: $(ms "$best_t2" "$best_t0") ms; --alloc: $(ms "$best_t3" "$best_t0") ms"

echo "== memory (KiB resident, all processes of the run, most at once)"
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
m0=$(rss_max ./churn "$ROUNDS")
m1=$(rss_max "$sonda" run --alloc -o "$out/m.db" -- ./churn "$ROUNDS")
printf "%-44s %8d\n" "alone" "$m0"
printf "%-44s %8d  tracker %d\n" "sonda run --alloc" "$m1" $((m1 - m0))
if have heaptrack; then
	m2=$(rss_max heaptrack -o "$out/heaptrack.m" ./churn "$ROUNDS")
	printf "%-44s %8d  tracker %d\n" "heaptrack" "$m2" $((m2 - m0))
fi

echo "== summary (load $(cut -d' ' -f1-3 /proc/loadavg))"
[ -n "${best_ht:-}" ] &&
	echo "full tracking, added CPU/event vs heaptrack: $(ratio "$sonda_ev" "$(per_event "$best_ht" "$best_alone" "$events")")  (goal <= 0.33)"
[ -n "${best_ms:-}" ] &&
	echo "full tracking, added CPU/event vs massif:    $(ratio "$sonda_ev" "$(per_event "$best_ms" "$best_alone" "$events")")"
have heaptrack &&
	echo "tracker memory vs heaptrack:                $(ratio $((m1 - m0)) $((m2 - m0)))  (goal <= 0.5)"
echo "sampling at 512 KiB, slowdown:              $(ratio "$best_lsamp" "$best_lalone")x  (goal < 1.10)"
[ -n "$jemalloc" ] &&
	echo "jemalloc's own sampled profile, slowdown:   $(ratio "$best_jprof" "$best_jalone")x"
echo "fixed cost of sonda run (CPU):              $(ms "$best_t1" "$best_t0") ms, $(ms "$best_t2" "$best_t0") ms with --alloc-sample"
