#!/bin/sh
# t4000-top-file: sonda top on a recorded store: --batch text, and the ncurses view driven in tmux.
. "$(dirname "$0")/../lib.sh"

STORE_TOOL=$BUILDDIR/tests/unit/store-tool

# The store-tool fixture: stacks main;a;b 5, main;a 3, main;a;a@11 2,
# main;b;a;b 4, main 1 at 100 Hz: self b 9, a 5, main 1; total main 15,
# a 14, b 9 (recursion once).
"$STORE_TOOL" fixture run.db >/dev/null 2>&1 || {
	test_skip 'top FILE.db' 'tests/unit/store-tool did not build a store'
	test_done
}

test_expect_success 'batch: header says what was recorded' '
	"$SONDA" top --batch -n 1 run.db >out &&
	test_grep "^Recorded in run.db: .python3 app.py --fast. (python 3.11.7), pid 4242$" out &&
	test_grep "^Total Samples 15 " out
'

test_expect_success 'batch -n 2: two tables with the known self and total' '
	"$SONDA" top --batch -n 2 --refresh 0.1 run.db >out &&
	test "$(grep -c "^Recorded in" out)" = 2 &&
	test "$(grep -c "^  %Own  %Total  OwnTime TotalTime Function (file:line)$" out)" = 2 &&
	awk "/^ *[0-9.]+ +[0-9.]+ +[0-9.]+s +[0-9.]+s / { print \$1, \$2, \$3, \$4, \$5 }" out >rows &&
	cat >expect <<-\EOT &&
	60.00 60.00 0.09s 0.09s b
	33.33 93.33 0.05s 0.14s a
	6.67 100.00 0.01s 0.15s main
	60.00 60.00 0.09s 0.09s b
	33.33 93.33 0.05s 0.14s a
	6.67 100.00 0.01s 0.15s main
	EOT
	test_cmp expect rows
'

test_expect_success 'batch -L: a line per (function, line)' '
	"$SONDA" top -b -n 1 -L run.db >out &&
	test_grep "^ *20.00 *93.33 *0.03s *0.14s a (app.py:10)$" out &&
	test_grep "^ *13.33 *13.33 *0.02s *0.02s a (app.py:11)$" out
'

test_expect_success 'stdout not a terminal means batch' '
	"$SONDA" top -n 1 run.db | test_grep "^ *60.00 *60.00 .* b (app.py)$"
'

test_expect_success 'bad input: a missing store, no target, two targets' '
	test_must_fail "$SONDA" top --batch missing.db 2>err &&
	test_grep "^sonda: " err &&
	{ "$SONDA" top 2>err; test $? = 2; } &&
	{ "$SONDA" top -p 1 run.db 2>err; test $? = 2; } &&
	{ "$SONDA" top --refresh 0 run.db 2>err; test $? = 2; }
'

if ! command -v tmux >/dev/null 2>&1; then
	test_skip 'interactive view in tmux' 'tmux is not installed'
	test_done
fi

. "$SRCDIR/tests/top-lib.sh"
top_tmux_start
tm send-keys -t top "cd '$TRASH' && '$SONDA' top run.db" Enter

test_expect_success 'tmux: header, tabs and the hot row first' '
	wait_screen "^Recorded in run.db" &&
	screen >s &&
	test_grep "^Total Samples 15 " s &&
	test_grep "^Threads " s &&
	test_grep "Table, functions, sorted by %Own" s &&
	sed -n "/%Own  %Total/{n;p;}" s | test_grep "^ *60.00 *60.00 *0.09s *0.09s b (app.py)" &&
	tail -n 1 s | test_grep "^F1Help  F2Threads"
'

# The first row under the table's header (a redraw may lag the header).
first_row() { screen | sed -n "/%Own  %Total/{n;p;}"; }

test_expect_success 'tmux: 2 sorts by %Total' '
	tm send-keys -t top 2 &&
	wait_screen "sorted by %Total" &&
	test_wait_for "first_row | grep -q \"^ *6.67 *100.00 .* main (app.py)\"" 5 ;
	first_row | test_grep "^ *6.67 *100.00 .* main (app.py)"
'

test_expect_success 'tmux: L shows lines, L again functions' '
	tm send-keys -t top L &&
	wait_screen "a \\(app.py:11\\)" &&
	tm send-keys -t top L &&
	wait_screen "Table, functions" &&
	! screen | grep -q "app.py:11"
'

test_expect_success 'tmux: t shows the call tree along the hot path' '
	tm send-keys -t top 1 t &&
	wait_screen "Call tree, functions" &&
	screen >s &&
	test_grep "100.00 .* - main (app.py)$" s &&
	test_grep "66.67 .*   - a (app.py)$" s &&
	tm send-keys -t top t &&
	wait_screen "Table, functions"
'

test_expect_success 'tmux: ? shows the help from the key table' '
	tm send-keys -t top "?" &&
	wait_screen "Help \\(Esc or \\? goes back" &&
	screen | test_grep "follow the selected function" &&
	tm send-keys -t top Escape &&
	wait_screen "Table, functions"
'

test_expect_success 'tmux: resize to 80x24 redraws within the new size' '
	tm resize-window -t top -x 80 -y 24 &&
	sleep 0.5 &&
	screen >s &&
	test "$(wc -l <s)" = 24 &&
	! awk "length > 80" s | grep . &&
	head -n 1 s | test_grep "^Recorded in run.db" &&
	sed -n "/%Own  %Total/{n;p;}" s | test_grep " b (app.py)" &&
	tail -n 1 s | test_grep "^F1Help" &&
	test "$(grep -c "Recorded in" s)" = 1
'

test_expect_success 'tmux: q exits within a second and restores the terminal' '
	tm send-keys -t top q &&
	wait_restored &&
	! pgrep -f "top run.db" >/dev/null
'

test_expect_success 'tmux: NO_COLOR still shows the sorted column and the view' '
	tm send-keys -t top "clear; NO_COLOR=1 TERM=vt100 $SONDA top run.db" Enter &&
	wait_screen "^Recorded in run.db" &&
	tm send-keys -t top q &&
	wait_restored
'

top_tmux_stop
test_done
