#!/bin/sh
# t3000 - sonda dump shows the exact known stack (names, lines, innermost
# first) of tests/fixtures/py/known_stack.py on every installed CPython.
. "$(dirname "$0")/../lib.sh"
# spawn inside a test block runs in a subshell, whose pid list is lost:
# remember targets in a file and kill them at the end, pass or fail.
spawn() { "$@" & SPAWNED=$!; echo $SPAWNED >> "$TRASH/.spawned"; }
kill_spawned() {
	[ -f "$TRASH/.spawned" ] && for p in $(cat "$TRASH/.spawned"); do kill -KILL "$p" 2>/dev/null; done
	return 0
}
FIX=$SRCDIR/tests/fixtures/py

# Starts known_stack.py under $1 and waits until it spins at its leaf.
start_known() {
	rm -f ready
	spawn "$1" "$FIX/known_stack.py" --ready "$TRASH/ready"
	test_wait_for "test -s '$TRASH/ready'" 10
}

# The expected frames innermost first, "function (file:line)" like dump prints.
expected_text() {
	"$1" "$FIX/known_stack.py" --expect | tr ';' '\n' | sed -n '1!G;h;$p' |
		sed -e "s|^known_stack:\(.*\):\([0-9]*\)$|    \1 ($FIX/known_stack.py:\2)|"
}

check_python() {
	ver=$1 py=$2
	test_expect_success "dump on $ver ($py): exact stack, text and JSON" "
		start_known '$py' &&
		pid=\$(cat ready) &&
		expected_text '$py' > expect &&
		timeout 20 '$SONDA' dump -p \$pid > out &&
		head -n 1 out | test_grep '^Process '\$pid': python $ver\\.' &&
		sed -n '/^Thread '\$pid' /,/^\$/p' out | sed -e '1d' -e '/^\$/d' > frames &&
		test_cmp expect frames &&
		sed -n '/^Thread '\$pid' /p' out | test_grep '\\[active\\] \\[GIL\\]' &&
		timeout 20 '$SONDA' dump -p \$pid --json > out.json &&
		python3 -c '
import json, sys
threads = json.load(open(\"out.json\"))
main = [t for t in threads if t[\"tid\"] == int(sys.argv[1])][0]
got = \";\".join(\"known_stack:%s:%d\" % (f[\"function\"], f[\"line\"]) for f in reversed(main[\"frames\"]))
assert got == sys.argv[2], (got, sys.argv[2])
assert main[\"gil\"] is True and main[\"idle\"] is False, main
assert all(f[\"file\"].endswith(\"known_stack.py\") for f in main[\"frames\"])
' \$pid \"\$('$py' '$FIX/known_stack.py' --expect)\" &&
		kill \$pid
	"
}

test_pythons > pythons
test -s pythons || test_skip 'dump on every CPython' 'no CPython installed'
while read -r ver py; do
	check_python "$ver" "$py"
done < pythons

kill_spawned
test_done
