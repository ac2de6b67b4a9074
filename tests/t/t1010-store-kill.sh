#!/bin/sh
# t1010-store-kill: a writer killed with SIGKILL leaves a store that opens and
# holds every batch it committed; a store being written is readable meanwhile.
. "$(dirname "$0")/../lib.sh"

TOOL=$BUILDDIR/tests/unit/store-tool

# Each batch is exactly 100 samples; "committed N" means N samples are on disk.
start_writer() {
	test_spawn sh -c "exec \"$TOOL\" loop $1 >$1.log"
	test_wait_for "grep -q committed $1.log" 10
}

test_expect_success 'a store being written is readable (sonda info, load)' '
	start_writer live.db &&
	"$SONDA" info live.db >out &&
	test_grep "^session 1  pid 1  store-tool loop$" out &&
	test_grep "still recording, or the recorder was killed" out &&
	"$TOOL" check live.db >check &&
	test_grep "batches-whole yes" check &&
	kill -KILL $SPAWNED
'

for round in 1 2 3; do
	test_expect_success "SIGKILL mid-run ($round): the store opens and holds every committed batch" '
		start_writer killed$round.db &&
		sleep 0.$((round * 2)) &&
		kill -KILL $SPAWNED &&
		wait $SPAWNED 2>/dev/null
		committed=$(tail -n 1 killed$round.db.log | sed -n "s/^committed //p") &&
		test -n "$committed" &&
		"$SONDA" info killed$round.db >out &&
		test_grep "^samples    [0-9]*, [0-9]* distinct stacks$" out &&
		"$TOOL" check killed$round.db >check &&
		cat check &&
		test_grep "batches-whole yes" check &&
		stored=$(sed -n "s/^samples \([0-9]*\) .*/\1/p" check) &&
		test "$stored" -ge "$committed" &&
		test_grep "^  samples  $stored taken, 0 missed, 0 errors; $stored stored$" out
	'
done

test_done
