#!/bin/sh
# run.sh - sonda's native modes beside perf in one run: CPU and bytes per sample, full stacks, wall-clock shares, target slowdown.
#
# Usage: bench/native/run.sh [BUILDDIR] [SECONDS] [HZ]
#
# 1. CPU mode.  For each target (a 12-deep chain built -O2 with and
#    without frame pointers, and a 30-deep stack of 9 KB frames) the same
#    running process is sampled for SECONDS (default 10) at HZ (default
#    1000) by perf record -g (frame pointers), perf record --call-graph
#    dwarf, and sonda record --mode cpu.  Printed: CPU per sample (perf:
#    record + script; sonda: record, unwind, symbolize and the store, as a
#    user runs it), bytes per sample, the share of samples holding the
#    whole expected stack, and each tool's one-time start-up cost (a 0.3 s
#    recording of the same target), with the per-sample cost net of it:
#    the whole-run ratio depends on SECONDS, the net one does not.
# 2. Wall mode.  A program spends known shares of its main thread's time
#    computing, blocked in read() and asleep (it measures what it really
#    spent); sonda record --mode wall --idle at 1 kHz, on perf events (the
#    default where permitted) and with SONDA_WALL=ptrace; the shares are
#    read as a user reads them, from sonda report -t TID (total %).
# 3. Slowdown.  A fixed amount of work, timed alone, under sonda record
#    --mode cpu at 100 Hz (and 1 kHz, for reference) and under --mode
#    wall at 1 kHz, both on perf
#    events (the default where permitted) and with SONDA_WALL=ptrace; the
#    ratio of the medians of ROUNDS runs each (default 5, interleaved), of
#    wall time and of the target's own CPU time.
# 3b. Switches.  The cost of wall mode's per-switch work: two threads pass
#    a byte back and forth over pipes PASSES times (default 300000, each
#    pass a switch out and in of both), pinned to one CPU (sonda keeps off
#    it) and not pinned, and PASSES/15 times with some work between passes
#    (paced: tens of thousands of switches a second), alone and under wall
#    mode at 1 kHz (--idle): by default, with SONDA_WALL=perf and with
#    SONDA_WALL=ptrace; medians of SROUNDS runs (default 3).
# 4. Floor.  What one ptrace stop and resume costs a computing target at
#    HZ with nothing else done, from its own CPU and from another
#    (bench/native/roundtrip.c, FLOOR_ROUNDS runs each, default 3): the
#    least wall mode can cost on this machine.
#
# ONLY=slowdown (or shares, switches, floor, cpu) runs that section alone.
set -eu
BUILDDIR=$(cd "${1:-.}" && pwd)
SECS=${2:-10}
HZ=${3:-1000}
ROUNDS=${ROUNDS:-5}
FLOOR_ROUNDS=${FLOOR_ROUNDS:-3}
ONLY=${ONLY:-}
WORK=${WORK:-300}
PASSES=${PASSES:-300000}
SROUNDS=${SROUNDS:-3}
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$HERE/../../tests/fixtures/native/target.c
SONDA=$BUILDDIR/sonda
W=$(mktemp -d /tmp/sonda-bench-native.XXXXXX)
TPID=
trap '[ -n "$TPID" ] && kill $TPID 2>/dev/null; rm -rf "$W"' EXIT
cd "$W"

want() { [ -z "$ONLY" ] || [ "$ONLY" = "$1" ]; }
med() { sort -n -k"$2" "$1" | awk -v k="$2" '{ v[NR] = $k } END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
if want cpu; then
	command -v perf >/dev/null || { echo "perf not installed (apt-get install linux-perf)"; exit 1; }
fi
[ -x "$SONDA" ] || { echo "build first: make"; exit 1; }
gcc -O2 -g -fomit-frame-pointer -pthread -o nofp "$SRC"
gcc -O2 -g -fno-omit-frame-pointer -pthread -o fp "$SRC"
gcc -O2 -g -pthread -o shares "$HERE/shares.c"
gcc -O2 -pthread -o roundtrip "$HERE/roundtrip.c"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) on $(nproc) CPUs"

# CPU seconds (user + system) of a command and its children: perf stat's
# task-clock, every thread and child, to the microsecond (time(1) rounds
# user and system time to 10 ms each, a quarter of sonda's whole run).
cpu_of() {
	perf stat -x, -e task-clock -o t.cpu -- "$@" >/dev/null 2>&1 || true
	awk -F, '$3 ~ /^task-clock/ { printf "%.5f", $1 / 1000 }' t.cpu
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

row() { printf '%-24s %8s %11s %9s %7s\n' "$@"; }

bench_target() {
	label=$1 prog=$2 mode=$3 want=$4
	./"$prog" "$mode" >t.out & TPID=$!
	sleep 0.3
	echo
	echo "== $label ($SECS s at $HZ Hz each; load $(cut -d' ' -f1 /proc/loadavg))"
	row tool "samples" "us CPU/smp" "bytes/smp" "full %"
	for cg in fp dwarf; do
		if [ $cg = fp ]; then opt="-g"; else opt="--call-graph dwarf"; fi
		# perf's fixed cost too: a 0.3 s recording and its script.
		rec=$(cpu_of perf record -e cpu-clock -F "$HZ" $opt -p $TPID -o perf0.$cg.data -- sleep 0.3)
		scr=$(cpu_of sh -c "perf script -i perf0.$cg.data >perf0.$cg.txt")
		a0=$(awk -v a="$rec" -v b="$scr" 'BEGIN { print a + b }')
		n0=$(perf_full "$want" perf0.$cg.txt | cut -d' ' -f1)
		rec=$(cpu_of perf record -e cpu-clock -F "$HZ" $opt -p $TPID -o perf.$cg.data -- sleep "$SECS")
		scr=$(cpu_of sh -c "perf script -i perf.$cg.data >perf.$cg.txt")
		set -- $(perf_full "$want" perf.$cg.txt)
		n=$1 full=$2
		bytes=$(stat -c %s perf.$cg.data)
		us=$(awk -v a="$rec" -v b="$scr" -v n="$n" 'BEGIN { printf "%.1f", n ? 1e6 * (a + b) / n : 0 }')
		net=$(awk -v a="$rec" -v b="$scr" -v n="$n" -v a0="$a0" -v n0="$n0" \
			'BEGIN { printf "%.2f", (n > n0 ? 1e6 * (a + b - a0) / (n - n0) : 0) }')
		eval "us_$cg=$us net_$cg=$net start_$cg=$a0 bytes_$cg=$((n ? bytes / n : 0))"
		row "perf $cg (rec+script)" "$n" "$us" "$((n ? bytes / n : 0))" "$full"
	done
	# sonda's fixed start-up: a short recording of the same target.
	cpu0=$(cpu_of "$SONDA" record --mode cpu -r "$HZ" -d 0.3 -p $TPID -q -o s0.db)
	"$SONDA" export s0.db -f folded >s0.folded 2>/dev/null
	n0=$(sonda_full "$want" s0.folded | cut -d' ' -f1)
	cpu=$(cpu_of "$SONDA" record --mode cpu -r "$HZ" -d "$SECS" -p $TPID -q -o s.db)
	"$SONDA" export s.db -f folded >sonda.folded 2>/dev/null
	set -- $(sonda_full "$want" sonda.folded)
	n=$1 full=$2
	us=$(awk -v a="$cpu" -v n="$n" 'BEGIN { printf "%.1f", n ? 1e6 * a / n : 0 }')
	bytes=$((n ? $(stat -c %s s.db) / n : 0))
	bytesf=$(awk -v b="$(stat -c %s s.db)" -v n="$n" 'BEGIN { printf "%.2f", n ? b / n : 0 }')
	row "sonda cpu" "$n" "$us" "$bytesf" "$full"
	awk -v a="$cpu" -v n="$n" -v a0="$cpu0" -v n0="$n0" -v f="$us_fp" -v d="$us_dwarf" \
	    -v nf="$net_fp" -v nd="$net_dwarf" -v sf="$start_fp" -v sd="$start_dwarf" 'BEGIN {
		m = n > n0 ? 1e6 * (a - a0) / (n - n0) : 0
		printf "start-up (a 0.3 s recording), CPU ms: sonda %.0f, perf-fp %.0f, perf-dwarf %.0f\n", 1e3 * a0, 1e3 * sf, 1e3 * sd
		printf "net of start-up, us/sample (a difference of two runs: noisy): sonda %.2f, perf-fp %.2f, perf-dwarf %.2f\n", m, nf, nd
		printf "ratio CPU/sample (whole %s s run): sonda/perf-fp %.3f, sonda/perf-dwarf %.3f\n", '"$SECS"', f ? 1e6 * a / n / f : 0, d ? 1e6 * a / n / d : 0
		printf "ratio CPU/sample (each net of its start-up): sonda/perf-fp %.3f, sonda/perf-dwarf %.3f\n", (nf > 0 ? m / nf : 0), (nd > 0 ? m / nd : 0) }'
	awk -v s="$bytesf" -v f="$bytes_fp" -v d="$bytes_dwarf" 'BEGIN {
		printf "ratio bytes/sample: sonda/perf-fp %.4f, sonda/perf-dwarf %.4f\n", f ? s / f : 0, d ? s / d : 0 }'
	kill $TPID; wait $TPID 2>/dev/null || true
	TPID=
}

chain="main f1 f2 f3 f4 f5 f6 f7 f8 f9 f10 f11 f12"
deep="main"; for i in $(seq 1 30); do deep="$deep d$i"; done
if want cpu; then
bench_target "12-deep chain, -fomit-frame-pointer" nofp chain "$chain"
bench_target "12-deep chain, -fno-omit-frame-pointer" fp chain "$chain"
bench_target "30-deep stack of 9 KB frames" nofp deep "$deep"
fi

if want shares; then
echo
WSECS=$SECS
echo "== wall mode shares of the main thread ($WSECS s at 1 kHz, --idle; load $(cut -d' ' -f1 /proc/loadavg))"
for how in default ptrace; do
	if [ $how = ptrace ]; then export SONDA_WALL=ptrace; else unset SONDA_WALL; fi
	"$SONDA" record --mode wall --idle -r 1000 -o wall.db -- ./shares cycle "$WSECS" >truth.txt 2>wall.err
	unset SONDA_WALL
	echo "$how: $(sed -n 's/^ *mode: //p' wall.err)"
	set -- $(grep ^truth truth.txt)	# truth pid PID compute C blocked B asleep S
	tid=$3 tc=$5 tb=$7 ts=$9
	"$SONDA" report wall.db -t "$tid" -f csv -n 1000 >wall.csv
	awk -F, -v tc="$tc" -v tb="$tb" -v ts="$ts" '
		$1 ~ /^phase_compute/ { c += $7 } $1 ~ /^phase_blocked/ { b += $7 } $1 ~ /^phase_sleep/ { s += $7 }
		END {
			printf "  truth (measured by the target): compute %.1f%%  blocked %.1f%%  asleep %.1f%%\n", tc, tb, ts
			printf "  sonda report total%%:            compute %.1f%%  blocked %.1f%%  asleep %.1f%%\n", c, b, s
			ec = c - tc; eb = b - tb; es = s - ts
			m = ec < 0 ? -ec : ec; if ((eb < 0 ? -eb : eb) > m) m = eb < 0 ? -eb : eb; if ((es < 0 ? -es : es) > m) m = es < 0 ? -es : es
			printf "  wall share errors (points): compute %+.1f, blocked %+.1f, asleep %+.1f; worst %.1f\n", ec, eb, es, m }' wall.csv
done
fi

if want slowdown; then
echo
echo "== slowdown of a fixed work ($WORK rounds, median of $ROUNDS runs each, interleaved; load $(cut -d' ' -f1 /proc/loadavg))"
: >alone.txt; : >cpu.txt; : >cpuk.txt; : >wall.txt; : >wallp.txt
for r in $(seq 1 "$ROUNDS"); do
	./shares work "$WORK" >>alone.txt
	"$SONDA" record --mode cpu -r 100 -q -o c.db -- ./shares work "$WORK" | tail -n 1 >>cpu.txt
	"$SONDA" record --mode cpu -r 1000 -q -o c.db -- ./shares work "$WORK" | tail -n 1 >>cpuk.txt
	"$SONDA" record --mode wall -r 1000 -o w.db -- ./shares work "$WORK" 2>w.err | tail -n 1 >>wall.txt
	SONDA_WALL=ptrace "$SONDA" record --mode wall -r 1000 -q -o w.db -- ./shares work "$WORK" | tail -n 1 >>wallp.txt
done
echo "wall mode by default: $(sed -n 's/^ *mode: //p' w.err)"
awk -v aw="$(med alone.txt 1)" -v ac="$(med alone.txt 2)" -v cw="$(med cpu.txt 1)" -v cc="$(med cpu.txt 2)" \
    -v ww="$(med wall.txt 1)" -v wc="$(med wall.txt 2)" -v pw="$(med wallp.txt 1)" -v pc="$(med wallp.txt 2)" \
    -v kw="$(med cpuk.txt 1)" -v kc="$(med cpuk.txt 2)" 'BEGIN {
	printf "alone: %.3f s wall, %.3f s CPU\n", aw, ac
	printf "slowdown cpu mode @100 Hz: wall %+.1f%%, target CPU %+.1f%%\n", 100 * (cw / aw - 1), 100 * (cc / ac - 1)
	printf "slowdown cpu mode @1 kHz (for reference): wall %+.1f%%, target CPU %+.1f%%\n", 100 * (kw / aw - 1), 100 * (kc / ac - 1)
	printf "slowdown wall mode @1 kHz (default): wall %+.1f%%, target CPU %+.1f%%\n", 100 * (ww / aw - 1), 100 * (wc / ac - 1)
	printf "slowdown wall mode @1 kHz (SONDA_WALL=ptrace): wall %+.1f%%, target CPU %+.1f%%\n", 100 * (pw / aw - 1), 100 * (pc / ac - 1) }'
fi

if want switches; then
echo
echo "== switches: a byte passed back and forth $PASSES times between two threads (wall mode @1 kHz --idle, median of $SROUNDS; load $(cut -d' ' -f1 /proc/loadavg))"
for pin in pinned free paced; do
	run= n=$PASSES spin=0
	[ $pin = pinned ] && run="taskset -c $(($(nproc) - 1))"
	# Work between passes: tens of thousands of switches a second.
	[ $pin = paced ] && n=$((PASSES / 15)) spin=20000
	: >a.txt; : >w.txt; : >f.txt; : >p.txt
	for r in $(seq 1 "$SROUNDS"); do
		$run ./shares pingpong "$n" $spin >>a.txt
		"$SONDA" record --mode wall --idle -r 1000 -q -o s.db -- $run ./shares pingpong "$n" $spin | tail -n 1 >>w.txt
		SONDA_WALL=perf "$SONDA" record --mode wall --idle -r 1000 -q -o s.db -- $run ./shares pingpong "$n" $spin | tail -n 1 >>f.txt
		SONDA_WALL=ptrace "$SONDA" record --mode wall --idle -r 1000 -q -o s.db -- $run ./shares pingpong "$n" $spin | tail -n 1 >>p.txt
	done
	awk -v pin=$pin -v n="$n" -v a="$(med a.txt 1)" -v w="$(med w.txt 1)" -v f="$(med f.txt 1)" -v p="$(med p.txt 1)" 'BEGIN {
		printf "%-6s alone %.3f s (%.0f switches/s per thread); default %.3f s (x%.2f); SONDA_WALL=perf %.3f s (x%.2f, %.1f us more per switch); SONDA_WALL=ptrace %.3f s (x%.2f)\n",
			pin, a, n / a, w, w / a, f, f / a, 1e6 * (f - a) / (2 * n), p, p / a }'
done
fi

if want floor; then
echo
echo "== floor: one ptrace stop and resume per tick at $HZ Hz, nothing else done ($FLOOR_ROUNDS runs each; load $(cut -d' ' -f1 /proc/loadavg))"
./roundtrip "$HZ" "$FLOOR_ROUNDS" "$WORK" apart
./roundtrip "$HZ" "$FLOOR_ROUNDS" "$WORK" shared | tail -n +4
fi
