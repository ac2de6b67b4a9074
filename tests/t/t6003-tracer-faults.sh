#!/bin/sh
# t6003 - libsonda never breaks its host: crash recovery, fork, exiting threads, bad calls, bad output paths.
. "$(dirname "$0")/../lib.sh"
. "$SRCDIR/tests/tracer-lib.sh"

tracer_prereqs || { test_skip 'libsonda faults' "$TRACER_SKIP"; test_done; }

calls() { sqlite3 -separator " " "$1" "select name, calls from tasks where thread = 0 order by name"; }

test_expect_success 'fixture builds' '
	tracer_cc faults "$SRCDIR/tests/fixtures/tracer/faults.c"
'

test_expect_success 'SIGSEGV: sonda run exits 139 and recovers the tasks recorded before the crash' '
	test_expect_code 139 timeout 60 "$SONDA" run -o c.db -- ./faults crash 2>err &&
	grep "died of signal 11" err &&
	calls c.db >actual && echo "before 5" >expect && test_cmp expect actual &&
	pid=$(sqlite3 c.db "select pid from sessions where id = 1") &&
	test ! -e /dev/shm/sonda-$pid
'

test_expect_success 'sonda recover PID turns a dead process region into a store' '
	SONDA_REGION=$TRASH/crash.region ./faults crash; test $? -gt 128 &&
	test -f crash.region &&
	"$SONDA" recover -o r.db crash.region &&
	calls r.db >actual && echo "before 5" >expect && test_cmp expect actual &&
	test_must_fail "$SONDA" recover -o x.db /nonexistent/region &&
	printf "not a region at all, just some bytes of text padding it out" >junk &&
	test_must_fail "$SONDA" recover -o x.db junk 2>err && grep "not a libsonda region" err
'

test_expect_success 'fork: parent and child each get their own store' '
	timeout 60 "$SONDA" run -o f.db -- ./faults fork >out &&
	child=$(sed -n "s/^child //p" out) && test -n "$child" &&
	calls f.db >actual && echo "parent 3" >expect && test_cmp expect actual &&
	calls f.$child.db >actual && echo "child 2" >expect && test_cmp expect actual
'

test_expect_success 'a child that leaves by _exit: sonda run recovers its region too' '
	timeout 60 "$SONDA" run -o fx.db -- ./faults fork _exit >out 2>err &&
	child=$(sed -n "s/^child //p" out) && test -n "$child" &&
	calls fx.db >actual && echo "parent 3" >expect && test_cmp expect actual &&
	calls fx.$child.db >actual && echo "child 2" >expect && test_cmp expect actual &&
	test ! -e /dev/shm/sonda-$child && grep "recovered 1 process" err
'

test_expect_success 'commands the program runs: a store each, but only if they recorded something' '
	timeout 60 "$SONDA" run -o sh.db -- sh -c "/bin/true; ./faults plain; /bin/true" &&
	ls sh.*.db >files && test $(wc -l <files) = 1 &&
	calls $(cat files) >actual && echo "f 1" >expect && test_cmp expect actual
'

test_expect_success 'threads that exit, unbalanced ends, NULL, empty and huge names: counted' '
	timeout 60 "$SONDA" run -o t.db -- ./faults threads &&
	calls t.db >actual &&
	printf "%s\n" "? 2" "t 2000" "$(printf "%063d" 0 | tr 0 x) 1" >expect &&
	sort expect >e && sort actual >a && test_cmp e a &&
	sqlite3 t.db "select last_error from sessions where id = 1" >err &&
	grep "3 ends without a begin" err && grep "2 NULL or empty names" err &&
	grep "1 names cut" err && grep "20 tasks still open at exit" err &&
	test $(sqlite3 t.db "select count(*) from threads where id > 0") = 21
'

test_expect_success 'sonda_flush() writes mid-run; the exit status stays the program'"'"'s' '
	test_expect_code 3 timeout 60 "$SONDA" run -o fl.db -- ./faults flush &&
	calls fl.db >actual && echo "f 1" >expect && test_cmp expect actual
'

test_expect_success 'unwritable output: one line on stderr, same exit status, region kept for recover' '
	test_expect_code 3 env SONDA_OUTPUT=$TRASH/nodir/x.db SONDA_REGION=$TRASH/kept.region ./faults plain 2>err &&
	test $(grep -c "^sonda: cannot write" err) = 1 &&
	test -f kept.region &&
	"$SONDA" recover -o k.db kept.region && calls k.db >actual && echo "f 1" >expect && test_cmp expect actual
'

test_expect_success 'loaded twice (linked and preloaded from another path): acts once' '
	mkdir copy && cp "$LIBDIR"/libsonda.so.0 copy/ &&
	test_expect_code 3 env SONDA_OUTPUT=$TRASH/two.db SONDA_ROOT_PID=x \
		LD_PRELOAD=$TRASH/copy/libsonda.so.0 ./faults flush &&
	ls two.*.db >files && test $(wc -l <files) = 1 &&
	calls $(cat files) >actual && echo "f 1" >expect && test_cmp expect actual
'

test_expect_success 'a full name table: 256 names kept, the rest counted as dropped' '
	timeout 60 "$SONDA" run -o n.db -- ./faults names &&
	test $(sqlite3 n.db "select count(*) from tasks where thread = 0") = 256 &&
	test $(sqlite3 n.db "select sum(calls) from tasks where thread = 0") = 256 &&
	sqlite3 n.db "select last_error from sessions where id = 1" | grep "44 events dropped: task table full" &&
	test $(sqlite3 n.db "select missed from sessions where id = 1") = 44
'

test_expect_success 'sonda recover on a live process: a snapshot, the process runs on' '
	SONDA_REGION=$TRASH/live.region ./faults live >live.out &
	pid=$! && test_pids="$test_pids $pid" &&
	test_wait_for "grep -q ready live.out" 10 &&
	"$SONDA" recover -o l.db live.region &&
	sqlite3 -separator " " l.db "select name, calls from tasks where thread = 0" >actual &&
	echo "before 5" >expect && test_cmp expect actual &&
	kill -0 $pid && kill $pid
'

if mkdir small && mount -t tmpfs -o size=300k tmpfs small 2>/dev/null; then
	test_expect_success 'a region on a full tmpfs: what finds no room is counted, no SIGBUS' '
		SONDA_REGION=$TRASH/small/r SONDA_OUTPUT=$TRASH/sm.db ./faults names &&
		n=$(sqlite3 sm.db "select count(*) from tasks where thread = 0") &&
		test $n -gt 0 && test $n -lt 256 &&
		sqlite3 sm.db "select last_error from sessions where id = 1" | grep "$((300 - n)) events dropped"
	'
	umount small
else
	test_skip 'a region on a full tmpfs' 'cannot mount a small tmpfs here (needs root)'
fi

test_expect_success 'SONDA_DISABLE=1: no region, no output' '
	test_expect_code 3 env SONDA_DISABLE=1 SONDA_OUTPUT=$TRASH/none.db ./faults plain &&
	test ! -e none.db
'

test_done
