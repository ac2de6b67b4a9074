#!/bin/sh
# t2005-diff.sh - sonda diff: self and total percent in both stores and the change, largest first.
. "$(dirname "$0")/../lib.sh"

# Debian's python3 starts faster than a version manager's shim.
[ -x /usr/bin/python3 ] && PATH=/usr/bin:$PATH

MKSTORE=$BUILDDIR/tests/unit/mkstore
unset COLUMNS
export LC_ALL=C

test_expect_success 'two runs: a got slower, c and b faster' '
	"$MKSTORE" base.db base && "$MKSTORE" new.db new
'

test_expect_success 'the table' '
	$SONDA diff base.db new.db >out &&
	cat >expect <<-\EOF &&
	base 100 samples, new 200 samples; CHANGE in percentage points: + got slower, - got faster
	SELF%:BASE     NEW  CHANGE  TOTAL%:BASE      NEW  CHANGE  FUNCTION  LOCATION
	    10.00%  50.00%  +40.00       10.00%   50.00%  +40.00  a         d.py
	    60.00%  30.00%  -30.00       60.00%   30.00%  -30.00  c         d.py
	    30.00%  20.00%  -10.00       30.00%   20.00%  -10.00  b         d.py
	     0.00%   0.00%   +0.00      100.00%  100.00%   +0.00  main      d.py
	EOF
	test_cmp expect out
'

test_expect_success 'json: the numbers, largest change first' '
	$SONDA diff base.db new.db -f json >d.json &&
	python3 -c "
import json
rows = json.load(open(\"d.json\"))
got = [(r[\"function\"], r[\"base_self_pct\"], r[\"new_self_pct\"], r[\"self_delta\"], r[\"base_total\"], r[\"new_total\"]) for r in rows]
assert got == [(\"a\", 10.0, 50.0, 40.0, 10, 100), (\"c\", 60.0, 30.0, -30.0, 60, 60), (\"b\", 30.0, 20.0, -10.0, 30, 40), (\"main\", 0.0, 0.0, 0.0, 100, 200)], got
assert set(rows[0]) == {\"function\", \"file\", \"module\", \"base_self_pct\", \"new_self_pct\", \"self_delta\", \"base_total_pct\", \"new_total_pct\", \"total_delta\", \"base_self\", \"new_self\", \"base_total\", \"new_total\"}
"
'

test_expect_success 'a function in one store only; -n' '
	"$MKSTORE" fx.db &&
	$SONDA diff base.db fx.db -f json -n 1 >one.json &&
	python3 -c "
import json
rows = json.load(open(\"one.json\"))
assert len(rows) == 1
r = rows[0]
assert (r[\"function\"], r[\"file\"], r[\"base_self_pct\"], r[\"new_self_pct\"]) == (\"c\", \"d.py\", 60.0, 0.0), r
"
'

test_expect_success 'the same store twice: no change' '
	$SONDA diff fx.db fx.db -f json | python3 -c "
import json, sys
assert all(r[\"self_delta\"] == 0 and r[\"total_delta\"] == 0 for r in json.load(sys.stdin))"
'

test_expect_success 'bad usage and bad stores' '
	test_must_fail $SONDA diff base.db 2>err &&
	test_grep "two stores" err &&
	test_must_fail $SONDA diff base.db nosuch.db 2>err &&
	test_grep "^sonda: nosuch.db: " err &&
	test_must_fail $SONDA diff base.db new.db -f csv 2>err &&
	test_grep "table or json" err
'

test_expect_success 'help and man page' '
	$SONDA diff --help >help &&
	test_grep -e "--limit" help && test_grep -e "--format" help &&
	test_grep "limit" "$SRCDIR/man/sonda-diff.1.in" &&
	test_grep "base_self_pct" "$SRCDIR/man/sonda-diff.1.in"
'

test_done
