#!/bin/sh
# t6002 - libsonda function hooks (-finstrument-functions): calls, callers, callees, recursion.
. "$(dirname "$0")/../lib.sh"
. "$SRCDIR/tests/tracer-lib.sh"

tracer_prereqs || { test_skip 'libsonda function stats' "$TRACER_SKIP"; test_done; }

q() { sqlite3 -separator " " f.db "$1"; }

test_expect_success 'instrumented fixture (not linked with libsonda) runs under sonda run --functions' '
	cc -O1 -finstrument-functions -o funcs "$SRCDIR/tests/fixtures/tracer/funcs.c" &&
	timeout 60 "$SONDA" run --functions -o f.db -- ./funcs spin &&
	test -s f.db
'

test_expect_success 'exact call counts, symbolized (static functions too)' '
	q "select n.value, t.calls from task_stats t join strings n on n.id = t.name
		where t.thread = 0 and t.parent = 0 and t.kind = 2 and n.value <> \"burn\" order by 1" >actual &&
	printf "alpha 10\nbeta 20\nfib 465\ngamma_ 13\nmain 1\n" >expect &&
	test_cmp expect actual
'

test_expect_success 'callers and callees (edge rows)' '
	q "select p.value, c.value, t.calls from task_stats t join strings c on c.id = t.name
		join strings p on p.id = t.parent where t.thread = 0 and t.parent <> 0 order by 1, 2" >actual &&
	printf "%s\n" "alpha beta 20" "alpha gamma_ 10" "beta burn 20" "fib fib 464" \
		"main alpha 10" "main fib 1" "main gamma_ 3" >expect &&
	test_cmp expect actual
'

test_expect_success 'own time = total minus callees, exactly; recursion counted once' '
	q "select n.value, \"-\", t.wall_ns, t.self_ns from task_stats t join strings n on n.id = t.name
		where t.thread = 0 and t.parent = 0 and t.kind = 2" >rows &&
	q "select p.value, c.value, t.wall_ns from task_stats t join strings c on c.id = t.name
		join strings p on p.id = t.parent where t.thread = 0 and t.parent <> 0" >>rows &&
	awk "
		\$2 == \"-\" { w[\$1] = \$3; s[\$1] = \$4; next }
		\$1 != \$2 { kids[\$1] += \$3 }
		END {
			bad = 0
			for (f in w) if (s[f] != w[f] - kids[f]) { print f, w[f], s[f], kids[f]; bad = 1 }
			if (w[\"beta\"] < 20 * 2000000) { print \"beta total\", w[\"beta\"]; bad = 1 }
			if (w[\"fib\"] > w[\"main\"]) { print \"fib counted twice\", w[\"fib\"]; bad = 1 }
			exit bad
		}" rows
'

test_expect_success 'without --functions the hooks record nothing' '
	timeout 60 "$SONDA" run -o n.db -- ./funcs &&
	test $(sqlite3 n.db "select count(*) from task_stats where kind = 2") = 0
'

test_done
