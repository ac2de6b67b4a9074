#!/bin/sh
# t3001 - sonda dump on threads, asyncio, a venv python, a symlinked python
# and libpython embedded in a C program.
. "$(dirname "$0")/../lib.sh"
# spawn inside a test block runs in a subshell, whose pid list is lost:
# remember targets in a file and kill them at the end, pass or fail.
spawn() { "$@" & SPAWNED=$!; echo $SPAWNED >> "$TRASH/.spawned"; }
kill_spawned() {
	[ -f "$TRASH/.spawned" ] && for p in $(cat "$TRASH/.spawned"); do kill -KILL "$p" 2>/dev/null; done
	return 0
}
FIX=$SRCDIR/tests/fixtures/py
PY311=/root/.pyenv/versions/3.11.7
PY312=/root/.pyenv/versions/3.12.1/bin/python

# Starts a fixture ($2) under an interpreter ($1) and waits for its ready file.
start_fixture() {
	py=$1 fix=$2
	shift 2
	rm -f "$TRASH/ready"
	spawn "$py" "$@" "$FIX/$fix" --ready "$TRASH/ready"
	test_wait_for "test -s '$TRASH/ready'" 15
}

# Leaf-last "mod:func:line;..." of thread $2 (tid) in dump --json output $1.
json_stack() {
	python3 -c '
import json, sys
for t in json.load(open(sys.argv[1])):
    if str(t["tid"]) == sys.argv[2] or t["name"] == sys.argv[2]:
        print(";".join("%s:%s:%d" % (f["file"].rsplit("/", 1)[-1][:-3], f["function"], f["line"])
                       for f in reversed(t["frames"])))
' "$@"
}

# Checks that the leaf of the known stack is right in process $1 for interpreter $2.
check_known() {
	timeout 20 "$SONDA" dump -p "$1" --json > out.json &&
	json_stack out.json "$1" > got &&
	"$2" "$FIX/known_stack.py" --expect > expect &&
	test_cmp expect got
}

for py in /root/.pyenv/versions/2.7.18/bin/python "$PY312"; do
	[ -x "$py" ] || { test_skip "threads on $py" "$py is not installed"; continue; }
	test_expect_success "threads on $py: three named threads, the sleeper idle" "
		start_fixture '$py' threads.py &&
		pid=\$(cat ready) &&
		'$py' '$FIX/threads.py' --expect > expect &&
		timeout 20 '$SONDA' dump -p \$pid > out.txt &&
		test \$(grep -c '^Thread ' out.txt) -ge 4 &&
		grep '^Thread [0-9]* (sleeper) \\[idle\\]' out.txt &&
		timeout 20 '$SONDA' dump -p \$pid --json > out.json &&
		for name in spinner-a spinner-b sleeper; do
			want=\$(grep \"^\$name \" expect | cut -d' ' -f3 | sed 's/^/x/') &&
			got=\$(json_stack out.json \$name | sed 's/^.*threads:run:/xthreads:run:/') &&
			{ [ \"\$want\" = \"\$got\" ] || { echo \"\$name: want \$want got \$got\"; false; }; } || return 1
		done &&
		kill \$pid
	"
done

if [ -x "$PY312" ]; then
	test_expect_success 'asyncio on 3.12: the running coroutine frames' "
		start_fixture '$PY312' asyncio_spin.py &&
		pid=\$(cat ready) &&
		'$PY312' '$FIX/asyncio_spin.py' --expect > expect &&
		timeout 20 '$SONDA' dump -p \$pid --json > out.json &&
		json_stack out.json \$pid | tr ';' '\\n' | tail -n 3 | paste -sd';' > got &&
		test_cmp expect got &&
		kill \$pid
	"
else
	test_skip 'asyncio on 3.12' "$PY312 is not installed"
fi

if /usr/bin/python3 -m venv --without-pip "$TRASH/venv" >/dev/null 2>&1; then
	test_expect_success 'a venv python (Debian 3.11, static)' "
		start_fixture '$TRASH/venv/bin/python' known_stack.py &&
		check_known \$(cat ready) '$TRASH/venv/bin/python' &&
		kill \$(cat ready)
	"
else
	test_skip 'a venv python' 'python3 -m venv does not work here (python3-venv missing?)'
fi

if [ -x /root/.pyenv/versions/3.8.18/bin/python3.8 ]; then
	test_expect_success 'a python started through a symlink (3.8)' "
		ln -s /root/.pyenv/versions/3.8.18/bin/python3.8 '$TRASH/mypython' &&
		start_fixture '$TRASH/mypython' known_stack.py &&
		check_known \$(cat ready) '$TRASH/mypython' &&
		kill \$(cat ready)
	"
else
	test_skip 'a symlinked python' 'pyenv 3.8 is not installed'
fi

if [ -f "$PY311/include/python3.11/Python.h" ] && [ -f "$PY311/lib/libpython3.11.so" ]; then
	test_expect_success 'libpython 3.11 embedded in a C program' "
		cc -o embed '$SRCDIR/tests/fixtures/embed.c' -I'$PY311/include/python3.11' \
			-L'$PY311/lib' -lpython3.11 -Wl,-rpath,'$PY311/lib' &&
		rm -f ready &&
		spawn env PYTHONHOME='$PY311' ./embed '$FIX/known_stack.py' --ready '$TRASH/ready' &&
		test_wait_for \"test -s '$TRASH/ready'\" 15 &&
		pid=\$(cat ready) &&
		test \"\$pid\" = \"\$SPAWNED\" &&
		timeout 20 '$SONDA' dump -p \$pid > out.txt &&
		head -n 1 out.txt | test_grep 'python 3.11.7 (.*libpython3.11' &&
		check_known \$pid '$PY311/bin/python'
	"
else
	test_skip 'embedded libpython' "no headers or libpython under $PY311"
fi

kill_spawned
test_done
