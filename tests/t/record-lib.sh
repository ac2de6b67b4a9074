# record-lib.sh - shared by tests/t/t31*-record-*.sh: fixtures, readiness, folded checks.

FIX=$SRCDIR/tests/fixtures/py
HOST_PY=$(command -v python3 || echo /usr/bin/python3)

# Does this sonda have the Python engine?  (The reason lands in $TRASH/.why.)
have_python_engine() {
	sleep 5 &
	p=$!
	"$SONDA" record --mode python -q -d 0.05 -f folded -o /dev/null -p $p >/dev/null 2>"$TRASH/.why"
	kill $p 2>/dev/null
	! grep -q 'built without' "$TRASH/.why"
}

# Can this sonda write stores?
have_store_writer() {
	! "$SONDA" record -q -d 0.01 -o "$TRASH/.probe.db" -- true 2>&1 | grep -q 'cannot write stores'
}

# Starts "$@" with --ready FILE appended; waits for FILE; sets $PID.
start_ready() {
	rm -f "$TRASH/ready"
	test_spawn "$@" --ready "$TRASH/ready"
	test_wait_for "test -s '$TRASH/ready'" 20 || return 1
	PID=$(cat "$TRASH/ready")
}

# folded_share FILE EXPECT [THREAD]: the percentage of samples (of THREAD
# when given: folded --threads output) whose innermost frames are EXPECT
# ("mod:func:line;..." root first, as the fixtures' --expect prints).
folded_share() {
	"$HOST_PY" - "$@" <<'PY'
import re, sys
path, expect = sys.argv[1], sys.argv[2]
thread = sys.argv[3] if len(sys.argv) > 3 else None
want = [tuple(f.rsplit(":", 2)) for f in expect.split(";")]
label = re.compile(r"^(.*) \((.*):(\d+)\)$")
total = hit = 0
for line in open(path):
    line = line.rstrip("\n")
    if not line:
        continue
    stack, n = line.rsplit(" ", 1)
    frames = stack.split(";")
    if thread is not None:
        if not frames or thread not in frames[0]:
            continue
        frames = frames[1:]
    total += int(n)
    if len(frames) < len(want):
        continue
    ok = True
    for (mod, fn, ln), fr in zip(want, frames[len(frames) - len(want):]):
        m = label.match(fr)
        if not m or m.group(1) != fn or int(m.group(3)) != int(ln) or \
           not m.group(2).endswith(mod + ".py"):
            ok = False
            break
    if ok:
        hit += int(n)
print("%d" % (100 * hit // total if total else 0))
sys.stderr.write("%d of %d samples match %s\n" % (hit, total, expect))
PY
}

# The state letter of /proc/PID/stat and the TracerPid of /proc/PID/status.
tracer_of() { sed -n 's/^TracerPid:[[:space:]]*//p' "/proc/$1/status"; }

# expect_exit N CMD...: CMD must exit with status N.
expect_exit() {
	want=$1
	shift
	"$@"
	rc=$?
	[ $rc = "$want" ] || { echo "expected exit $want, got $rc: $*"; return 1; }
}
