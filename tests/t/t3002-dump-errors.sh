#!/bin/sh
# t3002 - sonda dump refuses what it cannot read with one line and exit 2.
. "$(dirname "$0")/../lib.sh"
# spawn inside a test block runs in a subshell, whose pid list is lost:
# remember targets in a file and kill them at the end, pass or fail.
spawn() { "$@" & SPAWNED=$!; echo $SPAWNED >> "$TRASH/.spawned"; }
kill_spawned() {
	[ -f "$TRASH/.spawned" ] && for p in $(cat "$TRASH/.spawned"); do kill -KILL "$p" 2>/dev/null; done
	return 0
}
FIX=$SRCDIR/tests/fixtures/py

# Runs sonda, expects exit status $1 and one stderr line matching $2.
expect_error() {
	want=$1 pattern=$2
	shift 2
	timeout 20 "$@" > out 2> err
	rc=$?
	[ "$rc" = "$want" ] || { echo "exit $rc, expected $want"; cat err; return 1; }
	[ "$(wc -l < err)" = 1 ] || { echo "expected one line:"; cat err; return 1; }
	test_grep -E "^sonda: $pattern" err
}

test_expect_success 'no -p: usage error' '
	timeout 5 "$SONDA" dump > out 2> err; rc=$?
	[ $rc = 2 ] && test_grep "give -p PID" err
'

test_expect_success 'a bad pid argument' '
	expect_error 2 ".*not a process id" "$SONDA" dump -p 12x
'

test_expect_success 'a process that does not exist' '
	sh -c "exit 0" & gone=$!; wait $gone
	expect_error 2 "no such process $gone" "$SONDA" dump -p $gone
'

test_expect_success 'a zombie, with and without --native' '
	python3 -c "import os, sys, time
pid = os.fork()
if pid == 0:
    os._exit(0)
print(pid, flush=True)
time.sleep(30)" > zpid &
	echo $! >> "$TRASH/.spawned" &&
	for i in 1 2 3 4 5 6 7 8 9 10; do [ -s zpid ] && break; sleep 0.1; done &&
	z=$(cat zpid) && sleep 0.2 &&
	expect_error 2 "process $z is a zombie" "$SONDA" dump -p $z &&
	expect_error 2 "process $z is a zombie" "$SONDA" dump --native -p $z
'

test_expect_success 'a process that is not Python' '
	spawn sleep 60 &&
	expect_error 2 "process $SPAWNED \\(sleep\\) is not a Python process" "$SONDA" dump -p $SPAWNED
'

py=$(test_pythons | tail -n 1 | cut -d" " -f2)
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null && [ -n "$py" ] &&
   setpriv --reuid=nobody --regid=nogroup --clear-groups true 2>/dev/null &&
   setpriv --reuid=nobody --regid=nogroup --clear-groups test -x "$SONDA"; then
	test_expect_success 'no permission: says why' "
		spawn '$py' '$FIX/known_stack.py' &&
		expect_error 2 'cannot trace process '\$SPAWNED' \\(.*\\): it belongs to uid 0, you are uid [0-9]+ \\(run sonda as root' \
			setpriv --reuid=nobody --regid=nogroup --clear-groups '$SONDA' dump -p \$SPAWNED
	"
else
	test_skip 'no permission: says why' 'needs root, setpriv, a user nobody who can run sonda, and a python'
fi

test_expect_success 'a process that exits right away is no crash' '
	for i in 1 2 3 4 5; do
		"$py" -c "pass" & p=$!
		timeout 20 "$SONDA" dump -p $p > /dev/null 2>&1
		rc=$?
		[ $rc -le 2 ] || { echo "exit $rc"; exit 1; }
		wait $p
	done
'

kill_spawned
test_done
