#!/bin/sh
# t2006-report-bad-input.sh - report, export and diff on files that are not good stores: one line, exit 1 or 2, no crash.
. "$(dirname "$0")/../lib.sh"

# Debian's python3 starts faster than a version manager's shim.
[ -x /usr/bin/python3 ] && PATH=/usr/bin:$PATH

MKSTORE=$BUILDDIR/tests/unit/mkstore

# Runs "$@", which must fail with status 1 or 2 and one stderr line
# starting "sonda: FILE: " ($1 of the expectation).
fails_cleanly() {
	file=$1; shift
	"$@" >out 2>err
	rc=$?
	if [ $rc != 1 ] && [ $rc != 2 ]; then echo "status $rc: $*"; cat err; return 1; fi
	if [ "$(wc -l <err)" != 1 ]; then echo "not one line: $*"; cat err; return 1; fi
	grep -q "^sonda: $file: " err || { echo "unexpected: $(cat err)"; return 1; }
}

every_command() {
	fails_cleanly "$1" $SONDA report "$1" &&
	fails_cleanly "$1" $SONDA report "$1" --by task -f json &&
	fails_cleanly "$1" $SONDA export "$1" -f folded &&
	fails_cleanly "$1" $SONDA export "$1" -f svg -o out.svg &&
	test ! -e out.svg &&
	fails_cleanly "$1" $SONDA diff good.db "$1" &&
	fails_cleanly "$1" $SONDA diff "$1" good.db
}

test_expect_success 'a good store to compare with' '
	"$MKSTORE" good.db
'

test_expect_success 'a missing file' '
	every_command missing.db &&
	test_grep "No such file" err
'

test_expect_success 'a file that is not SQLite' '
	echo "hello, world" >text.db &&
	every_command text.db &&
	test_grep -i "not a SQLite" err
'

test_expect_success 'an empty file' '
	: >empty.db &&
	every_command empty.db
'

test_expect_success 'a SQLite file that is not a sonda store' '
	python3 -c "import sqlite3; c = sqlite3.connect(\"other.db\"); c.execute(\"create table t(x)\"); c.commit()" &&
	every_command other.db &&
	test_grep "not a sonda store" err
'

test_expect_success 'a truncated store' '
	size=$(wc -c <good.db) &&
	head -c $((size / 2)) good.db >half.db &&
	every_command half.db
'

test_expect_success 'a store with corrupted pages' '
	cp good.db bad.db &&
	python3 -c "
f = open(\"bad.db\", \"r+b\")
f.seek(4096 + 100)
f.write(b\"\\xff\" * 3000)
f.seek(3 * 4096 + 10)
f.write(b\"\\x00\\x07\" * 1000)
" &&
	every_command bad.db
'

test_expect_success 'a directory' '
	mkdir dir.db &&
	every_command dir.db
'

test_done
