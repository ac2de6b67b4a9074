#!/bin/sh
# run.sh - sonda's CPU mode beside perf record (-g frame pointers, --call-graph dwarf) on the same targets, in one run.
#
# Usage: bench/native/run.sh [BUILDDIR] [SECONDS] [HZ]
# For each target (a 12-deep chain built -O2 with and without frame
# pointers, and a 30-deep stack of 9 KB frames) it samples the same running
# process with each tool in turn and prints: CPU per sample (record, plus
# perf script / unwind and symbolize), bytes per sample, and the share of
# samples holding the whole expected stack.  sonda's figures are for
# sonda record (sampling, unwinding, symbolizing, the store) as a user runs it.
set -eu
BUILDDIR=$(cd "${1:-.}" && pwd)
SECS=${2:-5}
HZ=${3:-1000}
SRC=$(cd "$(dirname "$0")/../.." && pwd)/tests/fixtures/native/target.c
SONDA=$BUILDDIR/sonda
W=$(mktemp -d /tmp/sonda-bench-native.XXXXXX)
trap 'kill $TPID 2>/dev/null; rm -rf "$W"' EXIT
TPID=
cd "$W"

command -v perf >/dev/null || { echo "perf not installed (apt-get install linux-perf)"; exit 1; }
[ -x "$SONDA" ] || { echo "build first: make"; exit 1; }
gcc -O2 -g -fomit-frame-pointer -pthread -o nofp "$SRC"
gcc -O2 -g -fno-omit-frame-pointer -pthread -o fp "$SRC"

# CPU seconds (user + system) of a command and its children.
cpu_of() {
	/usr/bin/time -f '%U %S' -o t.cpu "$@" >/dev/null 2>&1 || true
	awk '{ printf "%.3f", $1 + $2 }' t.cpu
}

# Share (%) of perf script samples with every frame of $1 (root-first, space separated), in order.
perf_full() {
	awk -v want="$1" 'BEGIN { n = split(want, w, " ") }
		/^[^ \t]/ { if (inside) done(); inside = 1; s = ""; next }
		/^[ \t]+[0-9a-f]+ / { name = $2; sub(/\+0x[0-9a-f]+$/, "", name); s = name " " s; next }
		/^$/ { if (inside) done(); inside = 0 }
		function done() { total++; if (index(" " s, " " want " ") || has(s)) full++ }
		function has(str,   i, p) { p = 1; for (i = 1; i <= n; i++) { p = index(substr(str, p), w[i] " "); if (!p) return 0 } return 1 }
		END { if (inside) done(); printf "%d %.1f", total, total ? 100 * full / total : 0 }' "$2"
}
# The same from sonda's folded export: "f (file:line);g (file:line) COUNT".
sonda_full() {
	awk -v want="$(echo "$1" | tr ' ' ';')" '{ w = $NF; $NF = ""; s = $0; gsub(/ \([^)]*\)/, "", s); sub(/ +$/, "", s)
		total += w; if (index(s ";", want ";")) full += w }
		END { printf "%d %.1f", total, total ? 100 * full / total : 0 }' "$2"
}

row() { printf '%-22s %9s %11s %9s %8s\n' "$@"; }

bench_target() {
	label=$1 prog=$2 mode=$3 want=$4
	./"$prog" "$mode" >t.out & TPID=$!
	sleep 0.3
	echo
	echo "== $label ($SECS s at $HZ Hz each)"
	row tool "samples" "us CPU/smp" "bytes/smp" "full %"
	for cg in fp dwarf; do
		if [ $cg = fp ]; then opt="-g"; else opt="--call-graph dwarf"; fi
		rec=$(cpu_of perf record -e cpu-clock -F "$HZ" $opt -p $TPID -o perf.$cg.data -- sleep "$SECS")
		scr=$(cpu_of sh -c "perf script -i perf.$cg.data >perf.$cg.txt")
		perf script -i perf.$cg.data >perf.$cg.txt 2>/dev/null
		set -- $(perf_full "$want" perf.$cg.txt)
		n=$1 full=$2
		bytes=$(stat -c %s perf.$cg.data)
		us=$(awk -v a="$rec" -v b="$scr" -v n="$n" 'BEGIN { printf "%.1f", n ? 1e6 * (a + b) / n : 0 }')
		eval "us_$cg=$us bytes_$cg=$((n ? bytes / n : 0)) full_$cg=$full"
		row "perf $cg (rec+script)" "$n" "$us" "$((n ? bytes / n : 0))" "$full"
	done
	cpu=$(cpu_of "$SONDA" record --mode cpu -r "$HZ" -d "$SECS" -p $TPID -q -o s.db)
	"$SONDA" export s.db -f folded >sonda.folded 2>/dev/null
	set -- $(sonda_full "$want" sonda.folded)
	n=$1 full=$2
	us=$(awk -v a="$cpu" -v n="$n" 'BEGIN { printf "%.1f", n ? 1e6 * a / n : 0 }')
	bytes=$((n ? $(stat -c %s s.db) / n : 0))
	row "sonda cpu" "$n" "$us" "$bytes" "$full"
	awk -v s="$us" -v f="$us_fp" -v d="$us_dwarf" 'BEGIN {
		printf "ratio CPU/sample: sonda/perf-fp %.3f, sonda/perf-dwarf %.3f\n", f ? s / f : 0, d ? s / d : 0 }'
	awk -v s="$bytes" -v f="$bytes_fp" -v d="$bytes_dwarf" 'BEGIN {
		printf "ratio bytes/sample: sonda/perf-fp %.4f, sonda/perf-dwarf %.4f\n", f ? s / f : 0, d ? s / d : 0 }'
	kill $TPID; wait $TPID 2>/dev/null || true
	TPID=
}

chain="main f1 f2 f3 f4 f5 f6 f7 f8 f9 f10 f11 f12"
deep="main"; for i in $(seq 1 30); do deep="$deep d$i"; done
bench_target "12-deep chain, -fomit-frame-pointer" nofp chain "$chain"
bench_target "12-deep chain, -fno-omit-frame-pointer" fp chain "$chain"
bench_target "30-deep stack of 9 KB frames" nofp deep "$deep"
