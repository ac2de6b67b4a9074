#!/bin/sh
# run.sh - libsonda against clock_gettime and uftrace, side by side in one run; prints ratios.
#
#   bench/tracer/run.sh [BUILDDIR]     (default: the tree this script is in)
#
# CPU seconds (user + system, from /usr/bin/time) of the same -finstrument-
# functions binary: without libsonda (glibc's empty hooks), with libsonda
# preloaded but functions off, with --functions, under `uftrace record` and
# `uftrace record -t 1us`; and a -pg build under uftrace too.  Added CPU per
# call = (run - baseline) / calls.
set -e
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-$here/../..}" && pwd)	# absolute: the runs happen in a scratch directory
lib=$build/tracer/.libs
sonda=$build/sonda
out=$(mktemp -d "${TMPDIR:-/tmp}/sonda-bench-tracer.XXXXXX")
trap 'rm -rf "$out"' EXIT
cd "$out"
N=${N:-3000000}			# iterations of the call workload: 7 calls each
calls=$((N * 7))

cc -O2 -finstrument-functions -o calls-fi "$here/calls.c"
cc -O2 -o calls-plain "$here/calls.c"
cc -O2 -pg -o calls-pg "$here/calls.c"
cc -O2 -pthread -I"$here/../../tracer" -o tasks "$here/tasks.c" -L"$lib" -lsonda -Wl,-rpath,"$lib"

cpu() {	# CPU seconds of a command, best of 3
	best=
	for i in 1 2 3; do
		/usr/bin/time -f "%U %S" -o t.txt "$@" >/dev/null 2>&1 || true
		s=$(awk '{ print $1 + $2 }' t.txt)
		best=$(awk -v a="$best" -v b="$s" 'BEGIN { print (a == "" || b < a) ? b : a }')
	done
	echo "$best"
}
per_call() { awk -v a="$1" -v b="$2" -v n="$calls" 'BEGIN { printf "%.1f", (a - b) * 1e9 / n }'; }

echo "== task begin/end pair vs two clock_gettime(CLOCK_MONOTONIC), same run"
SONDA_OUTPUT=$out/t.db ./tasks
echo "-- the same with SONDA_CPU=0 (no CPU time)"
SONDA_CPU=0 SONDA_OUTPUT=$out/t.db ./tasks
echo "-- the same with SONDA_CLOCK=monotonic (clock_gettime instead of the TSC)"
SONDA_CLOCK=monotonic SONDA_OUTPUT=$out/t.db ./tasks

echo "== function hooks: $calls calls to small functions"
plain=$(cpu ./calls-plain $N)
base=$(cpu ./calls-fi $N)
off=$(cpu env LD_PRELOAD=$lib/libsonda.so SONDA_OUTPUT=$out/o.db ./calls-fi $N)
on=$(cpu "$sonda" run --functions -o $out/f.db -- ./calls-fi $N)
uf=$(cpu uftrace record -d $out/uf.data ./calls-fi $N)
uft=$(cpu uftrace record -t 1us -d $out/uft.data ./calls-fi $N)
pg=$(cpu ./calls-pg $N)
ufpg=$(cpu uftrace record -d $out/ufpg.data ./calls-pg $N)
printf "%-44s %8s s   %s\n" "not instrumented" "$plain" ""
printf "%-44s %8s s   %+6s ns/call vs not instrumented\n" "-finstrument-functions, glibc's empty hooks" "$base" "$(per_call $base $plain)"
printf "%-44s %8s s   %+6s ns/call vs not instrumented\n" "libsonda preloaded, functions off" "$off" "$(per_call $off $plain)"
printf "%-44s %8s s   %+6s ns/call vs glibc hooks\n" "sonda run --functions" "$on" "$(per_call $on $base)"
printf "%-44s %8s s   %+6s ns/call vs glibc hooks\n" "uftrace record" "$uf" "$(per_call $uf $base)"
printf "%-44s %8s s   %+6s ns/call vs glibc hooks\n" "uftrace record -t 1us" "$uft" "$(per_call $uft $base)"
printf "%-44s %8s s   %+6s ns/call vs -pg alone\n" "uftrace record (-pg build)" "$ufpg" "$(per_call $ufpg $pg)"
s=$(per_call $on $base); u=$(per_call $uf $base); t=$(per_call $uft $base)
awk -v s="$s" -v u="$u" -v t="$t" 'BEGIN {
	printf "ratio sonda/uftrace record        %.2f (goal <= 0.33)\n", s / u
	printf "ratio sonda/uftrace record -t 1us %.2f (goal <= 0.50)\n", s / t }'
