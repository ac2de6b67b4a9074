#!/bin/sh
# t3102-record-faults.sh - bad input, target exit, signals, SIGKILL of sonda, stopped and traced targets.
. "$(dirname "$0")/../lib.sh"
. "$SRCDIR/tests/t/record-lib.sh"

test_expect_success 'a pid that does not exist: one line, exit 2' '
	sleep 0.01 & gone=$! && wait $gone &&
	expect_exit 2 "$SONDA" record -p $gone -d 1 2>err && cat err &&
	test_grep "^sonda: no such process $gone\$" err && test $(wc -l < err) = 1
'

test_expect_success 'a zombie: one line, exit 2' '
	"$HOST_PY" -c "import os, time, sys
pid = os.fork()
if pid == 0: os._exit(0)
print(pid); sys.stdout.flush(); time.sleep(10)" > zpid &
	test_wait_for "test -s zpid" &&
	test_wait_for "test \$(test_proc_state \$(cat zpid)) = Z" &&
	expect_exit 2 "$SONDA" record -p $(cat zpid) -d 1 2>err && cat err &&
	test_grep "zombie" err && test $(wc -l < err) = 1
'

test_expect_success 'a command that cannot be run: clear error, exit 2' '
	expect_exit 2 "$SONDA" record -d 1 -- ./no-such-program 2>err && cat err &&
	test_grep "^sonda: cannot run ./no-such-program: No such file or directory\$" err
'

test_expect_success 'bad usage: exit 2' '
	expect_exit 2 "$SONDA" record -d 1 2>err &&
	expect_exit 2 "$SONDA" record -p 1 -r fast 2>err &&
	expect_exit 2 "$SONDA" record -p 1 --mode turbo 2>err &&
	expect_exit 2 "$SONDA" record -p 1 -f png 2>err &&
	expect_exit 2 "$SONDA" record -p 1 -- sleep 1 2>err
'

if ! have_python_engine; then
	test_skip 'the Python-target fault tests' "no Python engine in this build: $(cat "$TRASH/.why")"
	test_done
fi

py=$(test_pythons | grep '^3\.1[1-9] /root' | tail -n 1 | cut -d' ' -f2)
[ -n "$py" ] || py=$(test_pythons | tail -n 1 | cut -d' ' -f2)

# Targets are started outside the test bodies (subshells), so that the
# harness kills them whatever happens.
test_spawn sleep 30
test_expect_success '--mode python on a process that is not Python: named, exit 2' '
	expect_exit 2 "$SONDA" record --mode python -p $SPAWNED -d 1 2>err && cat err &&
	test $(wc -l < err) = 1 && test_grep "$SPAWNED" err
'

cat > spin_for.py <<'PY'
import sys, time
end = time.time() + float(sys.argv[1])
while time.time() < end: pass
sys.exit(int(sys.argv[2]))
PY

test_spawn "$py" spin_for.py 2 0
pid=$SPAWNED
test_expect_success 'attach: the target exits during the recording; output valid, summary says so' '
	timeout 30 "$SONDA" record -p $pid -d 25 -f folded -o out.folded 2>summary && cat summary &&
	test_grep "process $pid exited during the recording" summary &&
	test -s out.folded
'

test_expect_success 'launch: the command exits; its exit status is in the summary' '
	timeout 30 "$SONDA" record -d 25 -f folded -o out.folded -- "$py" spin_for.py 1 3 2>summary &&
	cat summary && test_grep "exited with status 3" summary && test -s out.folded
'

start_ready "$py" "$FIX/known_stack.py"
test_expect_success 'SIGINT: stops at once, writes the output and the summary' '
	"$SONDA" record -p $PID -f folded -o int.folded 2>summary & rec=$! &&
	sleep 1 && kill -INT $rec && wait $rec && cat summary &&
	test_grep "samples in" summary && test -s int.folded && test "$(tracer_of $PID)" = 0
'

cpu_ticks() { set -- $(sed -e "s/^.*) //" "/proc/$1/stat" | cut -d" " -f12,13); echo $(($1 + $2)); }

test_expect_success 'SIGKILL of sonda while it pauses the target at 1 kHz: never left stopped or traced' '
	for i in 1 2 3 4 5 6 7 8 9 10; do
		"$SONDA" record --blocking -q -r 1000 -p $PID -f folded -o /dev/null & rec=$!
		sleep 0.$((i + 2)); kill -KILL $rec; wait $rec 2>/dev/null
		st=$(test_proc_state $PID); tr=$(tracer_of $PID)
		echo "kill $i: state $st tracer $tr"
		case $st in t|T) exit 1;; esac
		test "$tr" = 0 || exit 1
	done &&
	a=$(cpu_ticks $PID) && test_wait_for "test \$(cpu_ticks $PID) -gt $a" 5
'

test_expect_success 'a SIGSTOPped target: recorded as it stands, no hang, still stopped after' '
	kill -STOP $PID && test_wait_for "test \$(test_proc_state $PID) = T" &&
	timeout 30 "$SONDA" record -p $PID -d 1 -f folded -o stopped.folded 2>summary &&
	cat summary && test "$(test_proc_state $PID)" = T && test "$(tracer_of $PID)" = 0 &&
	"$py" "$FIX/known_stack.py" --expect > expect &&
	share=$(folded_share stopped.folded "$(cat expect)") && test $share -ge 95 &&
	kill -CONT $PID && test_wait_for "test \$(test_proc_state $PID) = R"
'
kill -CONT $PID

test_spawn strace -q -p $PID -e trace=none -o /dev/null
strace_pid=$SPAWNED
test_wait_for "test \$(tracer_of $PID) != 0"
test_expect_success 'a target held by another tracer: --blocking says which, exit 2; the default reads it' '
	expect_exit 2 timeout 30 "$SONDA" record --blocking -p $PID -d 1 -f folded -o /dev/null 2>err &&
	cat err && test_grep "already traced by process $strace_pid (strace)" err &&
	timeout 30 "$SONDA" record -p $PID -d 1 -f folded -o nb.folded 2>err &&
	cat err && test -s nb.folded &&
	timeout 30 "$SONDA" record --nonblocking -p $PID -d 1 -f folded -o nb.folded 2>err &&
	cat err && test -s nb.folded
'
kill $strace_pid
wait $strace_pid 2>/dev/null

test_expect_success 'default output name: sonda-PID-YYYYmmdd-HHMMSS.folded' '
	"$SONDA" record -p $PID -d 0.3 -f folded 2>summary && cat summary &&
	ls sonda-$PID-* > name && cat name &&
	grep -E "^sonda-$PID-[0-9]{8}-[0-9]{6}\.folded\$" name && test -s "$(cat name)" &&
	test_grep "written: $(cat name)" summary
'

if have_store_writer && command -v sqlite3 >/dev/null; then
	test_expect_success 'default output name: sonda-PID-YYYYmmdd-HHMMSS.db, a valid store' '
		"$SONDA" record -p $PID -d 0.3 2>summary && cat summary &&
		ls sonda-$PID-*.db > name && grep -E "^sonda-$PID-[0-9]{8}-[0-9]{6}\.db\$" name &&
		test "$(sqlite3 "$(cat name)" "PRAGMA integrity_check")" = ok &&
		test "$(sqlite3 "$(cat name)" "SELECT pid FROM sessions WHERE id = 1")" = $PID
	'
else
	test_skip 'default output name for a store' 'no store writer in this build, or no sqlite3'
fi
kill $PID

: > usr1.log
cat > usr1.py <<'PY'
import os, signal, sys
out = sys.argv[1]
def on_usr1(sig, frame):
    with open(out, "a") as f:
        f.write("usr1\n")
signal.signal(signal.SIGUSR1, on_usr1)
with open(out + ".pid", "w") as f:
    f.write("%d\n" % os.getpid())
x = 0
while 1: x += 1
PY
test_spawn "$py" usr1.py usr1.log
pid=$SPAWNED
test_wait_for "test -s usr1.log.pid"
for how in --blocking --nonblocking; do
	test_expect_success "SIGUSR1 while sampling at 1 kHz ($how): the handler runs within 1 s, every time" '
		: > usr1.log &&
		"$SONDA" record $how -q -r 1000 -p $pid -d 30 -f folded -o /dev/null & rec=$! &&
		sleep 0.5 &&
		for i in 1 2 3 4 5; do
			kill -USR1 $pid
			test_wait_for "test \$(wc -l < usr1.log) -ge $i" 1 || { echo "signal $i not handled within 1 s"; kill $rec; exit 1; }
		done &&
		kill -INT $rec && wait $rec
	'
done

test_done
