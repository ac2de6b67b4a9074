# lib.sh - what every tests/t/tNNNN-*.sh sources: git-style test blocks printing TAP.
#
#   . "$(dirname "$0")/../lib.sh"
#   test_expect_success 'what it checks' '
#           commands that must all succeed
#   '
#   test_have_prereq NAME || test_skip 'what it checks' 'why not here'
#   test_done
#
# Each script runs in a fresh scratch directory ($TRASH) that is removed
# when it passes.  $SONDA is the binary under test, $SRCDIR and $BUILDDIR
# the trees.  Background processes started with test_spawn are killed at
# the end, whatever happens.

set -u
: "${BUILDDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${SRCDIR:=$BUILDDIR}"
SONDA=${SONDA:-$BUILDDIR/sonda}
TEST_NAME=$(basename "$0" .sh)
TRASH=$(mktemp -d "${TMPDIR:-/tmp}/sonda-$TEST_NAME.XXXXXX")
test_count=0
test_failed=0
test_pids=

test_cleanup() {
	[ -f "$TRASH/.pids" ] && test_pids="$test_pids $(cat "$TRASH/.pids")"
	for p in $test_pids; do
		kill -CONT "$p" 2>/dev/null
		kill -KILL "$p" 2>/dev/null
	done
	# Whatever else a test started and lost (children of a killed target,
	# a target started in a subshell) still runs in the scratch directory:
	# a leaked spinning target would slow every later test.
	for d in /proc/[0-9]*; do
		p=${d#/proc/}
		[ "$p" = $$ ] && continue
		case $(readlink "$d/cwd" 2>/dev/null) in
		"$TRASH"|"$TRASH"/*) kill -CONT "$p" 2>/dev/null; kill -KILL "$p" 2>/dev/null ;;
		esac
	done
	wait 2>/dev/null
}
trap test_cleanup EXIT

cd "$TRASH" || exit 1

# Runs "$@" in the background, remembers it for cleanup, sets $SPAWNED.
# The pid goes to a file too: a test block runs in a subshell, whose
# variables the cleanup never sees.
test_spawn() {
	"$@" &
	SPAWNED=$!
	test_pids="$test_pids $SPAWNED"
	echo "$SPAWNED" >> "$TRASH/.pids"
}

say() { echo "# $*"; }

test_expect_success() {
	test_count=$((test_count + 1))
	if (eval "$2") >"$TRASH/.out.$test_count" 2>&1; then
		echo "ok $test_count - $1"
	else
		test_failed=$((test_failed + 1))
		echo "not ok $test_count - $1"
		sed -e 's/^/#   /' "$TRASH/.out.$test_count" | tail -n 40
	fi
}

test_skip() {
	test_count=$((test_count + 1))
	echo "ok $test_count # skip $1 ($2)"
}

test_done() {
	echo "1..$test_count"
	trap - EXIT
	test_cleanup
	if [ "$test_failed" = 0 ]; then
		cd / && rm -rf "$TRASH"
		exit 0
	fi
	say "scratch directory kept: $TRASH"
	exit 1
}

# Helpers for assertions.
test_cmp() { diff -u "$1" "$2"; }
test_grep() { grep "$@" || { echo "expected match: grep $*"; return 1; }; }
test_must_fail() {
	"$@"
	rc=$?
	if [ $rc = 0 ]; then echo "expected failure: $*"; return 1; fi
	if [ $rc -gt 128 ]; then echo "crashed with signal $((rc - 128)): $*"; return 1; fi
	return 0
}

# Every CPython the machine has: "VERSION PATH" lines, e.g. "3.11 /usr/bin/python3.11".
test_pythons() {
	for p in /root/.pyenv/versions/*/bin/python /usr/bin/python3.*[0-9]; do
		[ -x "$p" ] || continue
		"$p" -c 'import sys; print("%d.%d %s" % (sys.version_info[0], sys.version_info[1], sys.argv[1]))' "$p" 2>/dev/null
	done
}

# Waits up to $2 seconds (default 5) for the command $1 to succeed.
test_wait_for() {
	i=0
	n=$(( ${2:-5} * 10 ))
	while ! eval "$1" >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -ge $n ] && return 1
		sleep 0.1
	done
}

# The state letter of /proc/PID/stat (R, S, T, t, Z, ...).
test_proc_state() { sed -e 's/^.*) //' "/proc/$1/stat" | cut -d' ' -f1; }
