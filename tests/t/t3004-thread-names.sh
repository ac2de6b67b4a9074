#!/bin/sh
# t3004 - Python's own thread names (threading.Thread.name) in sonda dump and
# sonda record, on every installed CPython: a thread named "worker-7" shows
# as worker-7, not as the kernel's comm ("python").
. "$(dirname "$0")/../lib.sh"
spawn() { "$@" & SPAWNED=$!; echo $SPAWNED >> "$TRASH/.spawned"; }
kill_spawned() {
	[ -f "$TRASH/.spawned" ] && for p in $(cat "$TRASH/.spawned"); do kill -KILL "$p" 2>/dev/null; done
	return 0
}
FIX=$SRCDIR/tests/fixtures/py

check_python() {
	ver=$1 py=$2
	test_expect_success "threading names on $ver ($py): dump text and JSON, record" "
		rm -f ready &&
		spawn '$py' '$FIX/named_threads.py' --ready '$TRASH/ready' &&
		test_wait_for \"test -s '$TRASH/ready'\" 10 &&
		pid=\$(cat ready) &&
		timeout 20 '$SONDA' dump -p \$pid > out && cat out &&
		grep -E '^Thread [0-9]+ \\(worker-7\\) \\[active\\]' out &&
		grep -E '^Thread [0-9]+ \\(sleepy-3\\) \\[idle\\]' out &&
		grep -E '^Thread '\$pid' \\(' out | grep -v -e worker-7 -e sleepy-3 &&
		timeout 20 '$SONDA' dump -p \$pid --json > out.json &&
		python3 -c '
import json
names = sorted(t[\"name\"] for t in json.load(open(\"out.json\")))
assert \"worker-7\" in names and \"sleepy-3\" in names, names
' &&
		timeout 20 '$SONDA' record -p \$pid -d 0.5 --idle --threads -f folded -o out.folded &&
		cut -d';' -f1 out.folded | sort -u > roots && cat roots &&
		grep -E '^thread [0-9]+ \\(worker-7\\)\$' roots &&
		grep -E '^thread [0-9]+ \\(sleepy-3\\)\$' roots &&
		kill \$pid
	"
}

test_pythons > pythons
test -s pythons || test_skip 'threading names' 'no CPython installed'
while read -r ver py; do
	check_python "$ver" "$py"
done < pythons

kill_spawned
test_done
