#!/bin/sh
# t7004 - process-wide traced memory (tracemalloc's get_traced_memory): exact current and peak, in the store and in the report.
. "$(dirname "$0")/../lib.sh"
. "$SRCDIR/tests/tracer-lib.sh"

tracer_prereqs || { test_skip 'traced memory' "$TRACER_SKIP"; test_done; }

q() { sqlite3 -separator " " "$1" "$2"; }

test_expect_success 'fixture builds' '
	cc -O0 -g -o peak "$SRCDIR/tests/fixtures/alloc/peak.c"
'

test_expect_success 'sonda_alloc_traced: exact current and peak as the program goes' '
	timeout 60 "$SONDA" run --alloc -o a.db -- ./peak >actual &&
	printf "%s\n" "both 300000 300000" "swapped 250000 300000" "end 1000 300000" >expect &&
	test_cmp expect actual
'

test_expect_success 'the exit snapshot stores them: 1000 bytes live, peak 300000' '
	q a.db "select label, live_bytes, peak_bytes from snapshots where id > 0" >actual &&
	echo "exit 1000 300000" >expect && test_cmp expect actual
'

test_expect_success 'sonda report --by alloc shows them above the table' '
	"$SONDA" report a.db --by alloc >out &&
	head -n 1 out >actual &&
	echo "traced memory at snapshot '\''exit'\'': current 1000 B, peak 300000 B" >expect &&
	test_cmp expect actual
'

test_expect_success 'a store written before the columns still reads (as zeros)' '
	cp a.db old.db &&
	sqlite3 old.db "ALTER TABLE snapshots DROP COLUMN live_bytes; ALTER TABLE snapshots DROP COLUMN peak_bytes" &&
	"$SONDA" report old.db --by alloc --snapshot exit >out &&
	! grep "traced memory" out && grep "^ *1000B .* main " out
'

test_expect_success 'the session note no longer carries them' '
	! q a.db "select last_error from sessions" | grep -i peak
'

test_expect_success 'sampling at 4 KiB: the peak of blocks this big is estimated within 1%' '
	timeout 60 "$SONDA" run --alloc-sample=4096 -o s.db -- ./peak >/dev/null &&
	q s.db "select peak_bytes from snapshots where label = \"exit\"" >peak &&
	test "$(cat peak)" -ge 297000 && test "$(cat peak)" -le 303000
'

test_done
