#!/bin/sh
# t1000-info: `sonda info` on a known store, and on every kind of bad input.
. "$(dirname "$0")/../lib.sh"

TOOL=$BUILDDIR/tests/unit/store-tool

test_expect_success 'info: sessions, threads with sample counts, span, stacks, tables' '
	"$TOOL" fixture run.db &&
	"$SONDA" info run.db >out &&
	test_grep "^schema     1, written by sonda " out &&
	test_grep "^samples    aggregated per 1 s$" out &&
	test_grep "^session 1  pid 4242  python3 app.py --fast$" out &&
	test_grep "^  runtime  python 3.11.7$" out &&
	test_grep "^  mode     wall at 100 Hz$" out &&
	test_grep "^  start    2023-11-14 22:13:20.000 UTC$" out &&
	test_grep "^  end      2023-11-14 22:13:22.500 UTC (2.500 s)$" out &&
	test_grep "^  samples  15 taken, 2 missed, 1 errors; 15 stored$" out &&
	test_grep "^  error    read failed$" out &&
	test_grep "^  threads  2$" out &&
	test_grep "^    4242 *MainThread *main *9$" out &&
	test_grep "^    4243 *worker *- *6$" out &&
	test_grep "^samples    15, 5 distinct stacks$" out &&
	test_grep "^time span  2.000 s (from +0.000 s to +2.000 s after the session start)$" out &&
	test_grep "^tables     strings 16, frames 5, callsites 8, sessions 2, threads 3, samples 10, task_stats 3, allocs 3, snapshots 2, snapshot_sites 1, events 2$" out
'

test_expect_success 'info --help and sonda help info print the usage' '
	"$SONDA" info --help >a &&
	"$SONDA" help info >b &&
	test_cmp a b &&
	test_grep "^usage: sonda info FILE$" a
'

test_expect_success 'info without a file is a usage error (exit 2)' '
	"$SONDA" info >out 2>err; test $? = 2 &&
	test_grep "^sonda: info: expected one store file$" err
'

# Runs `sonda info FILE`: exit status 2, nothing on stdout, one line on
# stderr: "sonda: FILE: REASON".
refused() {
	"$SONDA" info "$1" >out 2>err
	rc=$?
	test $rc = 2 || { echo "exit status $rc, expected 2"; cat err; return 1; }
	test ! -s out || { echo "stdout not empty"; cat out; return 1; }
	test "$(wc -l <err)" = 1 || { echo "not one line:"; cat err; return 1; }
	test_grep "^sonda: $1: $2" err
}

test_expect_success 'a missing file' '
	refused missing.db "No such file or directory$"
'

test_expect_success 'an empty file' '
	: >empty.db &&
	refused empty.db "empty file, not a sonda store$"
'

test_expect_success 'a text file is not SQLite' '
	echo "hello, world" >text.db &&
	refused text.db "not a SQLite database, not a sonda store$"
'

test_expect_success 'garbage bytes are not SQLite' '
	head -c 65536 /dev/urandom >garbage.db &&
	refused garbage.db "not a SQLite database, not a sonda store$"
'

test_expect_success 'garbage after a SQLite header is corrupt' '
	{ printf "SQLite format 3\000"; head -c 8192 /dev/urandom; } >fake.db &&
	refused fake.db "corrupt store"
'

test_expect_success 'a directory' '
	mkdir dir.db &&
	refused dir.db "is a directory, not a sonda store$"
'

if command -v sqlite3 >/dev/null; then
	test_expect_success 'a SQLite database that is not a sonda store' '
		sqlite3 other.db "CREATE TABLE t(x); INSERT INTO t VALUES(1);" &&
		refused other.db "a SQLite database but not a sonda store$"
	'
	test_expect_success 'a store written by a newer sonda' '
		"$TOOL" fixture newer.db &&
		sqlite3 newer.db "PRAGMA user_version = 2;" &&
		refused newer.db "written by a newer sonda (schema 2, this sonda reads 1)$"
	'
	test_expect_success 'a store whose rows point nowhere' '
		"$TOOL" fixture dangling.db &&
		sqlite3 dangling.db "UPDATE samples SET callsite = 12345;" &&
		refused dangling.db "corrupt store (samples)$"
	'
	test_expect_success 'sqlite3 run.db "select * from top_self limit 10" works' '
		sqlite3 run.db "select * from top_self limit 10" >top &&
		printf "%s\n" "b|app.py|app|9|60.0" "a|app.py|app|5|33.33" "main|app.py|app|1|6.67" >want &&
		test_cmp want top
	'
else
	test_skip 'a SQLite database that is not a sonda store' 'no sqlite3 command'
	test_skip 'a store written by a newer sonda' 'no sqlite3 command'
	test_skip 'a store whose rows point nowhere' 'no sqlite3 command'
	test_skip 'sqlite3 run.db "select * from top_self limit 10" works' 'no sqlite3 command'
fi

test_expect_success 'a truncated store' '
	"$TOOL" fixture whole.db &&
	size=$(wc -c <whole.db) &&
	head -c $((size / 2)) whole.db >half.db &&
	refused half.db "corrupt store" &&
	head -c 100 whole.db >header.db &&
	refused header.db "corrupt store"
'

test_expect_success 'a store with a damaged page' '
	"$TOOL" fixture damaged.db &&
	size=$(wc -c <damaged.db) &&
	{ head -c 8192 damaged.db; head -c 4096 /dev/urandom; tail -c $((size - 12288)) damaged.db; } >bad.db &&
	refused bad.db "corrupt store"
'

test_done
