#!/bin/sh
# t7001 - allocation tracking under 2 and 8 threads (exact totals) and in a C++ program (new/delete).
. "$(dirname "$0")/../lib.sh"
. "$SRCDIR/tests/tracer-lib.sh"

tracer_prereqs || { test_skip 'allocation threads' "$TRACER_SKIP"; test_done; }

q() { sqlite3 -separator " " "$1" "$2"; }
# allocs frees bytes live_count live_bytes of the stacks whose leaf is $2
leaf() {
	q "$1" "select sum(a.allocs), sum(a.frees), sum(a.bytes), sum(a.live_count), sum(a.live_bytes)
		from allocs a join callsites c on c.id = a.callsite join frames f on f.id = c.frame
		join strings fn on fn.id = f.function where fn.value = \"$2\""
}

test_expect_success 'fixtures build' '
	cc -O0 -g -fno-omit-frame-pointer -pthread -o threads "$SRCDIR/tests/fixtures/alloc/threads.c"
'

# Each thread: 20000 rounds of 8 blocks (416 bytes) freed, then 100 x 50 bytes kept.
for n in 2 8; do
	test_expect_success "$n threads: exact totals at the shared site" "
		timeout 90 \"\$SONDA\" run --alloc -o t$n.db -- ./threads $n >/dev/null &&
		leaf t$n.db thread_site >actual &&
		echo $((n * 160100)) $((n * 160000)) $((n * 8325000)) $((n * 100)) $((n * 5000)) >expect &&
		test_cmp expect actual
	"
done

test_expect_success 'threads: peak of the site is at least what stayed live' '
	test "$(q t8.db "select sum(peak_bytes) >= 40000 from allocs")" = 1
'

if command -v c++ >/dev/null; then
	test_expect_success 'C++ new/delete: counted through operator new at their callers' '
		c++ -O0 -g -fno-omit-frame-pointer -o cxx "$SRCDIR/tests/fixtures/alloc/cxx.cc" &&
		timeout 60 "$SONDA" run --alloc -o c.db -- ./cxx >/dev/null &&
		q c.db "select p.value, sum(a.allocs), sum(a.frees), sum(a.bytes), sum(a.live_bytes)
			from allocs a join callsites c on c.id = a.callsite
			join callsites c1 on c1.id = c.parent join frames f1 on f1.id = c1.frame
			join strings p on p.id = f1.function
			where p.value = \"make_obj()\" group by 1 order by 1" >actual &&
		q c.db "select p.value, sum(a.allocs), sum(a.frees), sum(a.bytes), sum(a.live_bytes)
			from allocs a join callsites c on c.id = a.callsite
			join callsites c1 on c1.id = c.parent join frames f1 on f1.id = c1.frame
			join strings p on p.id = f1.function
			where p.value = \"make_array(unsigned long)\" group by 1" >>actual &&
		printf "%s\n" "make_obj() 100 70 4800 1440" "make_array(unsigned long) 10 10 1000 0" >expect &&
		test_cmp expect actual
	'
else
	test_skip 'C++ new/delete' 'no C++ compiler'
fi

test_done
