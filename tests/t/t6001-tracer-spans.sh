#!/bin/sh
# t6001 - libsonda spans across threads, latency histogram quantiles, marks, the timeline.
. "$(dirname "$0")/../lib.sh"
. "$SRCDIR/tests/tracer-lib.sh"

tracer_prereqs || { test_skip 'libsonda spans and histograms' "$TRACER_SKIP"; test_done; }

q() { sqlite3 -separator " " s.db "$1"; }

test_expect_success 'spans fixture runs with the timeline on' '
	tracer_cc spans "$SRCDIR/tests/fixtures/tracer/spans.c" &&
	timeout 60 "$SONDA" run --timeline -o s.db -- ./spans >truth &&
	test -s s.db
'

test_expect_success 'spans: 200 calls, finished on the two workers, none on the producer' '
	q "select n.value, t.calls from task_stats t join strings n on n.id = t.name
		where t.thread = 0 and t.kind = 1 order by 1" >actual &&
	printf "job 200\nlate 1\n" >expect && test_cmp expect actual &&
	q "select th.name, sum(t.calls) from task_stats t join strings n on n.id = t.name
		join threads th on th.id = t.thread
		where t.thread <> 0 and n.value = \"job\" group by th.name" >per &&
	test $(wc -l <per) -le 2 && ! grep producer per &&
	test $(awk "{ s += \$2 } END { print s }" per) = 200
'

test_expect_success 'spans: each lasted at least the 1 ms its worker held it' '
	test $(q "select min_ns >= 1000000 from task_stats t join strings n on n.id = t.name
		where t.thread = 0 and n.value = \"job\"") = 1
'

test_expect_success 'histogram: p50 and p99 of a known distribution within 5%' '
	hex=$(q "select hex(hist) from task_stats t join strings n on n.id = t.name
		where t.thread = 0 and n.value = \"lat\"") &&
	python3 "$SRCDIR/tests/hist-quantile.py" "$hex" 0.5 0.99 >q.txt &&
	p50=$(sed -n 1p q.txt) p99=$(sed -n 2p q.txt) &&
	cat truth && echo "histogram p50 $p50 p99 $p99" &&
	t50=$(awk "{ print \$3 }" truth) t99=$(awk "{ print \$5 }" truth) &&
	awk -v a=$p50 -v b=$p99 -v x=$t50 -v y=$t99 "BEGIN { exit !(a > x * 0.95 && a < x * 1.05 &&
		b > y * 0.95 && b < y * 1.05) }" &&
	test $(q "select calls from task_stats t join strings n on n.id = t.name
		where t.thread = 0 and n.value = \"lat\"") = 1000
'

test_expect_success 'marks count as zero-length tasks' '
	test "$(q "select calls, wall_ns from task_stats t join strings n on n.id = t.name
		where t.thread = 0 and n.value = \"tick\"")" = "5 0"
'

test_expect_success 'bad finishes (NULL, twice) are counted, not fatal' '
	q "select last_error from sessions where id = 1" | grep "2 bad span finishes"
'

test_expect_success 'timeline: one event per interval, on the right threads' '
	q "select n.value, count(*) from events e join strings n on n.id = e.name group by 1 order by 1" >actual &&
	printf "job 200\nlat 1000\nlate 1\ntick 5\n" >expect && test_cmp expect actual &&
	test $(q "select count(*) from events e join strings n on n.id = e.name
		where n.value = \"lat\" and e.dur_ns >= 50000 and e.kind = 0") = 1000 &&
	test $(q "select count(distinct thread) from events e join strings n on n.id = e.name
		where n.value = \"job\" and e.kind = 1") -le 2
'

test_expect_success 'without --timeline there are no events' '
	timeout 60 "$SONDA" run -o n.db -- ./spans quick &&
	test $(sqlite3 n.db "select count(*) from events") = 0
'

test_done
