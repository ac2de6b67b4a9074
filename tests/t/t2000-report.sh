#!/bin/sh
# t2000-report.sh - sonda report on stores with known numbers: table, csv, json, every --by.
. "$(dirname "$0")/../lib.sh"

# Debian's python3 starts faster than a version manager's shim.
[ -x /usr/bin/python3 ] && PATH=/usr/bin:$PATH

MKSTORE=$BUILDDIR/tests/unit/mkstore
unset COLUMNS
export LC_ALL=C

# Prints one JSON row (function -> row) check result; $1 file, $2 python expression on rows.
json_check() {
	python3 - "$1" "$2" <<'EOF'
import json, sys
rows = json.load(open(sys.argv[1]))
ok = eval(sys.argv[2])
if not ok:
    print(json.dumps(rows, indent=1))
    sys.exit(1)
EOF
}

# Does the troff page $1 mention $2 (with \- read as -)?
man_has() {
	python3 -c 'import sys; t = open(sys.argv[1]).read().replace("\\-", "-"); sys.exit(sys.argv[2] not in t)' "$1" "$2"
}

test_expect_success 'a store with known numbers' '
	"$MKSTORE" fx.db && test -s fx.db
'

test_expect_success 'the table: self and total per function, recursion counted once' '
	$SONDA report fx.db >out &&
	cat >expect <<-EOF &&
	python3 app.py (pid 4242, 100 Hz): 16 samples
	SELF   SELF%  TOTAL  TOTAL%  FUNCTION          LOCATION
	   8  50.00%      8  50.00%  b                 lib.py
	   5  31.25%      5  31.25%  r                 app.py
	   2  12.50%      5  31.25%  a                 app.py
	   1   6.25%      1   6.25%  libc.so.6+0x1a2b  libc.so.6
	   0   0.00%     10  62.50%  main              app.py
	   0   0.00%      5  31.25%  w                 worker.py
	   0   0.00%      1   6.25%  x                 app.py
	EOF
	test_cmp expect out
'

test_expect_success 'json: one array, the documented keys, exact counts' '
	$SONDA report fx.db --format json >out.json &&
	json_check out.json "all(set(r) == {\"function\",\"file\",\"module\",\"self\",\"total\",\"self_pct\",\"total_pct\"} for r in rows)" &&
	json_check out.json "{r[\"function\"]: (r[\"self\"], r[\"total\"]) for r in rows} == {\"b\": (8, 8), \"r\": (5, 5), \"a\": (2, 5), \"libc.so.6+0x1a2b\": (1, 1), \"main\": (0, 10), \"w\": (0, 5), \"x\": (0, 1)}" &&
	json_check out.json "[r for r in rows if r[\"function\"] == \"main\"][0][\"total_pct\"] == 62.5 and rows[0][\"file\"] == \"lib.py\" and rows[0][\"module\"] == \"lib\""
'

test_expect_success 'csv: a header of the keys and one line per function' '
	$SONDA report fx.db --format csv >out.csv &&
	head -1 out.csv >head &&
	echo "function,file,module,self,total,self_pct,total_pct" >expect &&
	test_cmp expect head &&
	test_grep -x "main,app.py,app,0,10,0.00,62.50" out.csv &&
	test $(wc -l <out.csv) = 8
'

test_expect_success '--by line: a row per line of a function' '
	$SONDA report fx.db --by line -f json >line.json &&
	json_check line.json "all(\"line\" in r for r in rows)" &&
	json_check line.json "sorted((r[\"line\"], r[\"total\"]) for r in rows if r[\"function\"] == \"main\") == [(10, 5), (11, 5)]"
'

test_expect_success '--by file' '
	$SONDA report fx.db --by file -f json >file.json &&
	json_check file.json "{r[\"file\"]: (r[\"self\"], r[\"total\"]) for r in rows} == {\"lib.py\": (8, 8), \"app.py\": (7, 10), \"\": (1, 1), \"worker.py\": (0, 5)}"
'

test_expect_success '--by thread' '
	$SONDA report fx.db --by thread -f json >thr.json &&
	json_check thr.json "rows == [{\"tid\": 100, \"name\": \"main\", \"samples\": 10, \"pct\": 62.5}, {\"tid\": 200, \"name\": \"worker\", \"samples\": 6, \"pct\": 37.5}]"
'

test_expect_success '--thread keeps one thread' '
	$SONDA report fx.db --thread 100 -f json >t100.json &&
	json_check t100.json "{r[\"function\"]: (r[\"self\"], r[\"total\"]) for r in rows} == {\"b\": (3, 3), \"r\": (5, 5), \"a\": (2, 5), \"main\": (0, 10), \"x\": (0, 1)}" &&
	json_check t100.json "[r for r in rows if r[\"function\"] == \"b\"][0][\"self_pct\"] == 30.0" &&
	test_must_fail $SONDA report fx.db --thread 999 2>err &&
	test_grep "no thread 999" err
'

test_expect_success '--sort and -n' '
	$SONDA report fx.db --sort total -n 2 -f json >s.json &&
	json_check s.json "[r[\"function\"] for r in rows] == [\"main\", \"b\"]" &&
	$SONDA report fx.db --sort function -f csv | sed -n 2p | test_grep "^a," &&
	test_must_fail $SONDA report fx.db --sort nosuch 2>err &&
	test_grep "cannot sort by .nosuch.; columns: function, file" err
'

test_expect_success 'COLUMNS cuts long names with an ellipsis' '
	COLUMNS=50 $SONDA report fx.db >narrow &&
	awk "length > 50 { bad = 1 } END { exit bad }" narrow &&
	test_grep "libc\.so\.\.\.  libc\.so\.6" narrow
'

if command -v script >/dev/null; then
	test_expect_success 'on a terminal: rows cut to its width with an ellipsis, no control characters' '
		"$MKSTORE" hostile.db hostile &&
		LC_ALL=C.UTF-8 script -qec "stty cols 60; $SONDA report hostile.db" /dev/null >tty.out &&
		tr -d "\r" <tty.out >tty.txt &&
		python3 -c "
import sys
lines = open(\"tty.txt\", encoding=\"utf-8\").read().splitlines()
assert len(lines) == 6, lines
assert all(len(l) <= 60 for l in lines), [len(l) for l in lines]
assert any(\"L\" * 10 + \"\u2026\" in l for l in lines), lines
assert not any(c < \" \" for l in lines for c in l), lines
"
	'
else
	test_skip 'on a terminal: rows cut to its width' 'no script(1) to give sonda a terminal'
fi

test_expect_success '--by task: calls, times, percentiles' '
	$SONDA report fx.db --by task -f json >task.json &&
	json_check task.json "[set(r) for r in rows][0] == {\"name\",\"thread\",\"calls\",\"wall_ns\",\"self_ns\",\"cpu_ns\",\"min_ns\",\"max_ns\",\"p50_ns\",\"p99_ns\"}" &&
	json_check task.json "[(r[\"name\"], r[\"thread\"], r[\"calls\"], r[\"wall_ns\"], r[\"self_ns\"], r[\"min_ns\"], r[\"max_ns\"]) for r in rows] == [(\"load\", 0, 4, 40000000, 30000000, 5000000, 20000000), (\"save\", 0, 1, 7000000, 7000000, 7000000, 7000000)]" &&
	json_check task.json "abs(rows[0][\"p50_ns\"] - 5000000) <= 5000000 * 0.05 and abs(rows[0][\"p99_ns\"] - 20000000) <= 20000000 * 0.05" &&
	$SONDA report fx.db --by task --thread 100 -f json >task100.json &&
	json_check task100.json "[(r[\"name\"], r[\"thread\"], r[\"calls\"]) for r in rows] == [(\"load\", 100, 4)]" &&
	$SONDA report fx.db --by task >task.txt &&
	test_grep "load" task.txt && test_grep "40.00ms" task.txt
'

test_expect_success '--by task --callers: the yappi callers and callees' '
	"$MKSTORE" funcs.db funcs &&
	$SONDA report funcs.db --by task --callers -f json >fn.json &&
	json_check fn.json "[(r[\"name\"], r[\"calls\"]) for r in rows] == [(\"main\", 1), (\"alpha\", 10), (\"beta\", 25)]" &&
	json_check fn.json "[[(e[\"name\"], e[\"calls\"], e[\"wall_ns\"]) for e in r[\"callers\"]] for r in rows] == [[], [(\"main\", 10, 10000)], [(\"alpha\", 20, 4000), (\"main\", 5, 1000)]]" &&
	json_check fn.json "[[(e[\"name\"], e[\"calls\"]) for e in r[\"callees\"]] for r in rows] == [[(\"alpha\", 10), (\"beta\", 5)], [(\"beta\", 20)], []]" &&
	$SONDA report funcs.db --by task --callers >fn.txt &&
	test_grep "^    <- alpha: 20 calls, 4.00us\$" fn.txt &&
	test_grep "^    -> alpha: 10 calls, 10.00us\$" fn.txt &&
	$SONDA report funcs.db --by task -f json >plain.json &&
	json_check plain.json "all(\"callers\" not in r for r in rows)" &&
	test_must_fail $SONDA report funcs.db --callers 2>err &&
	test_grep "goes with --by task" err
'

test_expect_success '--by alloc: per site, sorted by bytes' '
	$SONDA report fx.db --by alloc -f json >alloc.json &&
	json_check alloc.json "rows == [{\"function\": \"b\", \"file\": \"lib.py\", \"line\": 5, \"allocs\": 10, \"frees\": 10, \"bytes\": 1000, \"live_bytes\": 0, \"peak_bytes\": 400}, {\"function\": \"a\", \"file\": \"app.py\", \"line\": 20, \"allocs\": 3, \"frees\": 1, \"bytes\": 300, \"live_bytes\": 200, \"peak_bytes\": 300}]"
'

test_expect_success '--by alloc --snapshot, --compare, --traceback, --leaks' '
	$SONDA report fx.db --by alloc --snapshot start -f json >snap.json &&
	json_check snap.json "[(r[\"function\"], r[\"live_bytes\"], r[\"allocs\"]) for r in rows] == [(\"b\", 400, 4), (\"a\", 100, 1)]" &&
	$SONDA report fx.db --by alloc --compare start end -f json >cmp.json &&
	json_check cmp.json "[(r[\"function\"], r[\"size\"], r[\"size_diff\"], r[\"count\"], r[\"count_diff\"]) for r in rows] == [(\"b\", 0, -400, 0, -4), (\"a\", 200, 100, 2, 1)]" &&
	$SONDA report fx.db --by alloc --traceback -f json >tb.json &&
	json_check tb.json "[r[\"traceback\"] for r in rows] == [[\"b (lib.py:5)\", \"w (worker.py:7)\"], [\"a (app.py:20)\", \"main (app.py:10)\"]]" &&
	$SONDA report fx.db --by alloc --leaks -f json >leaks.json &&
	json_check leaks.json "[(r[\"function\"], r[\"live_bytes\"]) for r in rows] == [(\"a\", 200)]" &&
	test_must_fail $SONDA report fx.db --by alloc --snapshot nosuch 2>err &&
	test_grep "no snapshot labelled .nosuch." err &&
	test_must_fail $SONDA report fx.db --leaks 2>err &&
	test_grep "go with --by alloc" err
'

test_expect_success 'json escapes quotes, control characters and invalid UTF-8' '
	"$MKSTORE" hostile.db hostile &&
	$SONDA report hostile.db -f json >h.json &&
	python3 -c "
import json, sys
raw = open(\"h.json\", \"rb\").read()
raw.decode(\"utf-8\")
rows = json.loads(raw)
names = {r[\"function\"] for r in rows}
assert \"quote\\\"back\\\\slash\" in names, names
assert \"ctl\\x01\\x1f\\ttab\\nnl\" in names, names
assert \"bad\\ufffd\\ufffdutf8\\ufffd\\ufffd\" in names, names
assert \"L\" * 300 in names
" &&
	$SONDA report hostile.db -f csv >h.csv &&
	$SONDA report hostile.db >h.txt &&
	! grep -q "$(printf "\001")" h.txt
'

test_expect_success 'a stack 3000 frames deep' '
	"$MKSTORE" deep.db deep &&
	$SONDA report deep.db -f json -n 0 >deep.json &&
	json_check deep.json "len(rows) == 3000 and all(r[\"total\"] == 7 for r in rows) and [r[\"self\"] for r in rows if r[\"function\"] == \"f2999\"] == [7]"
'

test_expect_success 'a closed pipe ends the report quietly' '
	"$MKSTORE" deep.db deep &&
	( $SONDA report deep.db -n 0 2>err; echo $? >rc ) | head -1 >first &&
	test_grep "deep" first &&
	test "$(cat rc)" = 0 &&
	test ! -s err
'

test_expect_success 'help and man page say the same options' '
	$SONDA report --help >help &&
	$SONDA help report >help2 &&
	test_cmp help help2 &&
	for opt in --by --limit --thread --format --sort --snapshot --compare --traceback --leaks --callers; do
		test_grep -e "$opt" help || return 1
		man_has "$SRCDIR/man/sonda-report.1.in" "$opt" || { echo "man page lacks $opt"; return 1; }
	done
'

test_done
