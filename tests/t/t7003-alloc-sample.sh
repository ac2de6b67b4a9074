#!/bin/sh
# t7003 - sampling mode (--alloc-sample): scaled estimates within 10% of the exact counts on a large known workload; sampled blocks (sonda's pool) behave as the allocator's.
. "$(dirname "$0")/../lib.sh"
. "$SRCDIR/tests/tracer-lib.sh"

tracer_prereqs || { test_skip 'allocation sampling' "$TRACER_SKIP"; test_done; }

q() { sqlite3 -separator " " "$1" "$2"; }
# leaf function, allocs, bytes
per_leaf='select fn.value, sum(a.allocs), sum(a.bytes) from allocs a join callsites c on c.id = a.callsite
	join frames f on f.id = c.frame join strings fn on fn.id = f.function
	where fn.value like "%_site" group by 1 order by 1'

test_expect_success 'fixture builds' '
	cc -O0 -g -fno-omit-frame-pointer -o sample "$SRCDIR/tests/fixtures/alloc/sample.c"
'

# 2M allocations: 1.875M small (16-128 B, 135 MB), 125k big (4-64 KiB, 4.4 GB).
within10() {
	awk "NR == FNR { n[\$1] = \$2; b[\$1] = \$3; next }
		{ dn = \$2 / n[\$1] - 1; db = \$3 / b[\$1] - 1; print \$1, \$2, n[\$1], \$3, b[\$1]
		  if (dn > 0.1 || dn < -0.1 || db > 0.1 || db < -0.1) bad = 1; k++ }
		END { exit bad || k != 2 }" "$1" "$2"
}

test_expect_success '--alloc-sample=65536: counts and bytes per site within 10%' '
	timeout 90 "$SONDA" run --alloc-sample=65536 -o s.db -- ./sample | sort >truth &&
	q s.db "$per_leaf" >est && within10 truth est
'

test_expect_success '--alloc-sample=524288: the big site within 10%' '
	timeout 90 "$SONDA" run --alloc-sample=524288 -o s512.db -- ./sample | sort >truth &&
	q s512.db "$per_leaf" | grep big_site >est && grep big_site truth >truth.big &&
	awk "NR == FNR { b = \$3; next } { d = \$3 / b - 1; print \$3, b; exit (d > 0.1 || d < -0.1) }" truth.big est
'

test_expect_success 'sampled blocks freed: nothing left live but the last 1024' '
	test "$(q s.db "select sum(live_bytes) < 40000000 from allocs")" = 1
'

test_expect_success 'the session says the numbers are estimates' '
	q s.db "select last_error from sessions where id = 1" | grep "sampled (estimates)"
'

# Every byte sampled: every block comes from sonda's pool of sampled
# blocks, so the program meets the pool's realloc, calloc, alignment,
# usable size and failures everywhere.
test_expect_success '--alloc-sample=1: the faults program prints what it prints alone' '
	cc -O0 -g -fno-omit-frame-pointer -pthread -w -o faults "$SRCDIR/tests/fixtures/alloc/faults.c" &&
	./faults >plain.out 2>/dev/null &&
	timeout 90 "$SONDA" run --alloc-sample=1 -o f1.db -- ./faults >run.out 2>/dev/null &&
	test_cmp plain.out run.out
'

test_expect_success '--alloc-sample=1: allocations, frees, bytes and live per site exact' '
	cc -O0 -g -fno-omit-frame-pointer -o sites "$SRCDIR/tests/fixtures/alloc/sites.c" &&
	./sites >plain.out &&
	timeout 60 "$SONDA" run --alloc-sample=1 -o s1.db -- ./sites >run.out &&
	test_cmp plain.out run.out &&
	q s1.db "select fn.value, sum(a.allocs), sum(a.frees), sum(a.bytes), sum(a.live_count), sum(a.live_bytes)
		from allocs a join callsites c on c.id = a.callsite join frames f on f.id = c.frame
		join strings fn on fn.id = f.function where fn.value like \"site_%\" group by 1 order by 1" >actual &&
	cat >expect <<-\EOF &&
	site_calloc 50 50 16000 0 0
	site_chain_start 20 20 320 0 0
	site_growth 30 0 30000 30 30000
	site_malloc 100 60 6400 40 2560
	site_memalign 8 3 32768 5 20480
	site_realloc 60 50 122000 10 50000
	site_signalled 1 0 8 1 8
	EOF
	test_cmp expect actual
'

test_done
