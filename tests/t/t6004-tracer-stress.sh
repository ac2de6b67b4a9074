#!/bin/sh
# t6004 - libsonda under load: 8 threads x 1M nested tasks, exact totals, nothing dropped.
. "$(dirname "$0")/../lib.sh"
. "$SRCDIR/tests/tracer-lib.sh"

tracer_prereqs || { test_skip 'libsonda stress' "$TRACER_SKIP"; test_done; }

test_expect_success '8 threads x 1,000,000 tasks: exact counts per thread and merged' '
	tracer_cc faults "$SRCDIR/tests/fixtures/tracer/faults.c" &&
	timeout 120 "$SONDA" run -o s.db -- ./faults stress 1000000 &&
	sqlite3 -separator " " s.db "select name, calls from tasks where thread = 0 order by name" >actual &&
	printf "n 8000000\ns 8000000\n" >expect && test_cmp expect actual &&
	sqlite3 s.db "select distinct calls from tasks where thread <> 0" >actual &&
	echo 1000000 >expect && test_cmp expect actual &&
	test $(sqlite3 s.db "select count(*) from tasks where thread <> 0") = 16 &&
	test "$(sqlite3 s.db "select missed, errors, last_error from sessions where id = 1")" = "0|0|"
'

test_expect_success 'self of s = its wall minus n, summed over 8M calls' '
	sqlite3 -separator " " s.db "select name, wall_ns, self_ns from tasks where thread = 0" >rows &&
	awk "{ w[\$1] = \$2; s[\$1] = \$3 } END { exit !(s[\"s\"] == w[\"s\"] - w[\"n\"] && s[\"n\"] == w[\"n\"]) }" rows
'

test_done
