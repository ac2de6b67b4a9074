#!/bin/sh
# t4002-top-keys: the keys of sonda top on a recorded store: filter, search, threads, export, snapshot, tabs, crash.
. "$(dirname "$0")/../lib.sh"

STORE_TOOL=$BUILDDIR/tests/unit/store-tool
if ! "$STORE_TOOL" fixture run.db >/dev/null 2>&1 || ! command -v tmux >/dev/null 2>&1; then
	test_skip 'top keys' 'no tmux, or tests/unit/store-tool did not build a store'
	test_done
fi
. "$SRCDIR/tests/top-lib.sh"
top_tmux_start
tm send-keys -t top "cd '$TRASH' && '$SONDA' top run.db" Enter

rows() { screen | sed -n '/%Own  %Total/,$p' | sed -n '2,$p' | grep -E '^ *[0-9.]+ ' ; }

test_expect_success 'the view is up' '
	wait_screen "^Recorded in run.db"
'

test_expect_success '\\ filters rows by name, Esc clears the filter' '
	tm send-keys -t top "\\" b Enter &&
	wait_screen "filter: b" &&
	test "$(rows | wc -l)" = 1 &&
	rows | test_grep " b (app.py)$" &&
	tm send-keys -t top Escape &&
	test_wait_for "test \$(rows | wc -l) = 3" 2
'

test_expect_success 'I inverts the order' '
	tm send-keys -t top I &&
	wait_screen "(inverted)" &&
	rows | head -n 1 | test_grep " main (app.py)$" &&
	tm send-keys -t top I
'

test_expect_success '/ finds a row, n finds the next, a miss says so' '
	tm send-keys -t top / zzz Enter n &&
	wait_screen "not found: zzz" &&
	tm send-keys -t top / main Enter &&
	! screen | grep -q "not found"
'

test_expect_success 'Right shows one thread, Left goes back to all' '
	tm send-keys -t top Right &&
	wait_screen "Showing: thread [0-9]+" &&
	tm send-keys -t top Left &&
	wait_screen "Showing: all threads merged"
'

test_expect_success 'T picks a thread from a list' '
	tm send-keys -t top T &&
	wait_screen "TID +Name +Samples +Active +GIL" &&
	screen | test_grep "^\\* *all " &&
	tm send-keys -t top Down Enter &&
	wait_screen "Showing: thread " &&
	tm send-keys -t top T Home Enter &&
	wait_screen "Showing: all threads merged"
'

test_expect_success 'm splits threads into rows of their own' '
	tm send-keys -t top m &&
	wait_screen "Showing: all threads split" &&
	rows | test_grep -E " b \\(app.py\\) \\[[0-9]+ " &&
	tm send-keys -t top m &&
	wait_screen "Showing: all threads merged"
'

test_expect_success 'g draws a flame graph, Esc goes back' '
	tm send-keys -t top g &&
	wait_screen "^Flame graph \\(root at the bottom" &&
	screen | test_grep "all (0.15s)" &&
	tm send-keys -t top Escape &&
	wait_screen "Table, functions"
'

test_expect_success 'F follows the selected function' '
	tm send-keys -t top F &&
	wait_screen "following" &&
	tm send-keys -t top F
'

test_expect_success 'Tab shows the tasks, then the allocations' '
	tm send-keys -t top Tab &&
	wait_screen "Calls +Total +Self +Avg +p50 +p99 +Max +CPU%  Name" &&
	screen | test_grep " parse$" &&
	tm send-keys -t top Tab &&
	wait_screen "Live +Peak +Allocs/s" &&
	tm send-keys -t top Tab &&
	wait_screen "Table, functions"
'

test_expect_success 'e exports the view as folded stacks' '
	tm send-keys -t top e BSpace BSpace BSpace folded Enter &&
	wait_screen "exported to sonda-top-[0-9-]+\\.folded" &&
	f=$(ls sonda-top-*.folded) &&
	test_grep "^main (app.py:1);a (app.py:10);b (app.py:20) 5$" "$f" &&
	test "$(awk "{ n += \$NF } END { print n }" "$f")" = 15
'

test_expect_success 's saves the view as a store that top reads back' '
	tm send-keys -t top s &&
	wait_screen "snapshot saved to sonda-top-[0-9-]+\\.db" &&
	db=$(ls sonda-top-*.db) &&
	"$SONDA" top -b -n 1 "$db" >out &&
	test_grep "^ *60.00 *60.00 .* b (app.py)$" out &&
	test_grep "^ *6.67 *100.00 .* main (app.py)$" out
'

test_expect_success 'a crash (SIGSEGV) still restores the terminal' '
	kill -SEGV $(pgrep -P "$(tm display -p -t top "#{pane_pid}")") &&
	wait_restored
'

top_tmux_stop
test_done
