#!/bin/sh
# wall.sh - wall mode's accuracy on known time shares, and the slowdown sonda causes (cpu at 100 Hz, wall at 1 kHz).
#
# Usage: bench/native/wall.sh [BUILDDIR] [SECONDS]
# The target's main thread loops over 30 ms computing, 30 ms blocked in
# read() and 40 ms asleep; the shares sonda measures are printed with
# their error in points.  Then a fixed amount of work is timed alone, under
# sonda record --mode cpu at 100 Hz, and under --mode wall at 1 kHz.
set -eu
BUILDDIR=$(cd "${1:-.}" && pwd)
SECS=${2:-10}
HERE=$(cd "$(dirname "$0")" && pwd)
SONDA=$BUILDDIR/sonda
W=$(mktemp -d /tmp/sonda-bench-wall.XXXXXX)
TPID=
trap '[ -n "$TPID" ] && kill $TPID 2>/dev/null; rm -rf "$W"' EXIT
cd "$W"
gcc -O2 -g -pthread -o shares "$HERE/shares.c"

./shares cycle >t.out & TPID=$!
sleep 0.5
"$SONDA" record --mode wall --idle -r 1000 -d "$SECS" -p $TPID -q -o wall.db
kill $TPID; TPID=
"$SONDA" export wall.db -f folded | sed 's/ ([^)]*)//g' | grep ';main;' >main.folded || true
echo "== wall mode shares of the main thread ($SECS s at 1 kHz; truth 30/30/40)"
awk '{ w = $NF; total += w
	if ($0 ~ /phase_compute/) c += w; else if ($0 ~ /phase_blocked/) b += w; else if ($0 ~ /phase_sleep/) s += w }
	END { printf "compute %.1f%% (err %.1f)  blocked %.1f%% (err %.1f)  asleep %.1f%% (err %.1f)  samples %d\n",
		100 * c / total, 100 * c / total - 30, 100 * b / total, 100 * b / total - 30,
		100 * s / total, 100 * s / total - 40, total }' main.folded

ROUNDS=${ROUNDS:-300}
alone=$(./shares work "$ROUNDS")
cpu=$("$SONDA" record --mode cpu -r 100 -q -o c.db -- ./shares work "$ROUNDS" | tail -n 1)
wall=$("$SONDA" record --mode wall -r 1000 -q -o w.db -- ./shares work "$ROUNDS" | tail -n 1)
echo "== slowdown of a fixed work ($ROUNDS rounds)"
awk -v a="$alone" -v c="$cpu" -v w="$wall" 'BEGIN {
	printf "alone %.3f s, cpu 100 Hz %.3f s (%+.1f%%), wall 1 kHz %.3f s (%+.1f%%)\n",
		a, c, 100 * (c - a) / a, w, 100 * (w - a) / a }'
