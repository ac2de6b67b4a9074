# native.sh - what the native sampler's tests (t5*) share; sourced after lib.sh.

# Test bodies run in subshells, where test_spawn's list is lost: each
# body kills what it started when it ends, passed or failed.
track() {
	PIDS="${PIDS:-} $*"
	trap 'kill -9 $PIDS 2>/dev/null' EXIT
}

# Starts ./$1 with the other arguments, waits for its "ready", sets $PID.
start_target() {
	prog=$1; shift
	test_spawn "./$prog" "$@" >"$prog.out"
	PID=$SPAWNED
	track $PID
	test_wait_for "grep -q ready $prog.out" 5
}

# Folded stacks of the store $1 with each frame's "(file:line)" dropped.
folded() { "$SONDA" export "$1" -f folded | sed 's/ ([^)]*)//g'; }
