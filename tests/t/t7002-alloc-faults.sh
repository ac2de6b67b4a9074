#!/bin/sh
# t7002 - allocation tracking faults: failures pass through (NULL, errno), fork under threads, exit-time allocations, a crash.
. "$(dirname "$0")/../lib.sh"
. "$SRCDIR/tests/tracer-lib.sh"

tracer_prereqs || { test_skip 'allocation faults' "$TRACER_SKIP"; test_expect_success 'a double free aborts as it does without sonda, and its store is recovered' '
	cc -O0 -g -o doublefree "$SRCDIR/tests/fixtures/alloc/doublefree.c" &&
	{ ./doublefree 2>plain.err; echo $? >plain.rc; } &&
	{ timeout 60 "$SONDA" run --alloc -o d.db -- ./doublefree 2>run.err; echo $? >run.rc; } &&
	test_cmp plain.rc run.rc && test "$(cat run.rc)" = 134 &&
	grep "double free" plain.err && grep "double free" run.err &&
	leaf d.db twice_freed >actual && echo "2 1 48 1 24" >expect && test_cmp expect actual
'

test_done; }

q() { sqlite3 -separator " " "$1" "$2"; }
leaf() {
	q "$1" "select sum(a.allocs), sum(a.frees), sum(a.bytes), sum(a.live_count), sum(a.live_bytes)
		from allocs a join callsites c on c.id = a.callsite join frames f on f.id = c.frame
		join strings fn on fn.id = f.function where fn.value = \"$2\""
}

test_expect_success 'fixtures build' '
	cc -O0 -g -fno-omit-frame-pointer -pthread -w -o faults "$SRCDIR/tests/fixtures/alloc/faults.c" &&
	cc -O0 -g -fno-omit-frame-pointer -o crash "$SRCDIR/tests/fixtures/alloc/crash.c"
'

test_expect_success 'the program sees exactly what it sees without sonda' '
	./faults >plain.out &&
	timeout 90 "$SONDA" run --alloc -o f.db -- ./faults >run.out &&
	test_cmp plain.out run.out &&
	grep "^huge malloc: NULL errno=ENOMEM$" run.out &&
	grep "^huge realloc: NULL errno=ENOMEM old intact=1$" run.out &&
	grep "^fork under threads: ok$" run.out
'

test_expect_success 'the same with sampling on' '
	timeout 90 "$SONDA" run --alloc-sample=4096 -o fs.db -- ./faults >sample.out &&
	test_cmp plain.out sample.out
'

test_expect_success 'failed allocations are not counted as allocations' '
	test "$(q f.db "select count(*) from allocs where bytes > 1000000000")" = 0
'

test_expect_success 'allocations in atexit handlers and destructors are tracked' '
	leaf f.db at_exit_alloc >actual && echo "2 2 222 0 0" >expect && test_cmp expect actual &&
	leaf f.db late >actual && echo "1 0 77 1 77" >expect && test_cmp expect actual
'

test_expect_success 'threads that exit: their blocks freed by the joiner count at their site' '
	leaf f.db short_lived >actual && echo "50 50 500 0 0" >expect && test_cmp expect actual &&
	leaf f.db spin >actual && echo "400000 400000 25400000 0 0" >expect && test_cmp expect actual
'

test_expect_success 'a crash (SIGSEGV) still gives a store with what was allocated' '
	test_expect_code_segv() { "$@"; test $? = 139; } &&
	test_expect_code_segv timeout 60 "$SONDA" run --alloc -o c.db -- ./crash 2>err &&
	grep "signal 11" err &&
	leaf c.db before_crash >actual && echo "64 16 64000 48 48000" >expect && test_cmp expect actual
'

test_expect_success 'a double free aborts as it does without sonda, and its store is recovered' '
	cc -O0 -g -o doublefree "$SRCDIR/tests/fixtures/alloc/doublefree.c" &&
	{ ./doublefree 2>plain.err; echo $? >plain.rc; } &&
	{ timeout 60 "$SONDA" run --alloc -o d.db -- ./doublefree 2>run.err; echo $? >run.rc; } &&
	test_cmp plain.rc run.rc && test "$(cat run.rc)" = 134 &&
	grep "double free" plain.err && grep "double free" run.err &&
	leaf d.db twice_freed >actual && echo "2 1 48 1 24" >expect && test_cmp expect actual
'

test_done
