#!/bin/sh
# t7005 - memory overhead per live allocation: at most 43 bytes per tracked block (full), next to nothing sampled; the bound stated in sonda-run(1).
. "$(dirname "$0")/../lib.sh"
. "$SRCDIR/tests/tracer-lib.sh"

tracer_prereqs || { test_skip 'allocation overhead' "$TRACER_SKIP"; test_done; }

N=1000000
# per_block KIB_WITH KIB_ALONE: bytes per live block that tracking added
per_block() { echo $(( ($1 - $2) * 1024 / N )); }

test_expect_success 'fixture builds; a million 32-byte blocks alone' '
	cc -O1 -o live "$SRCDIR/tests/fixtures/alloc/live.c" &&
	./live $N >alone && test "$(cat alone)" -gt 30000
'

test_expect_success 'full tracking: at most 43 bytes per live block (the live map at 3/8 to 3/4 load)' '
	timeout 60 "$SONDA" run --alloc -o a.db -- ./live $N >full &&
	b=$(per_block "$(cat full)" "$(cat alone)") &&
	echo "full: $b bytes per live block" &&
	test "$b" -le 43
'

test_expect_success 'sampling at 512 KiB: under a byte per live block' '
	timeout 60 "$SONDA" run --alloc-sample=524288 -o s.db -- ./live $N >samp &&
	b=$(per_block "$(cat samp)" "$(cat alone)") &&
	echo "sampled: $b bytes per live block" &&
	test "$b" -le 1
'

test_done
