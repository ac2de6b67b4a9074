#!/bin/sh
# t2001-export-folded.sh - sonda export -f folded: exact lines, --threads, --thread, -o, deep stacks, pipes.
. "$(dirname "$0")/../lib.sh"

# Debian's python3 starts faster than a version manager's shim.
[ -x /usr/bin/python3 ] && PATH=/usr/bin:$PATH

MKSTORE=$BUILDDIR/tests/unit/mkstore

test_expect_success 'a store with known stacks' '
	"$MKSTORE" fx.db
'

test_expect_success 'one line per distinct stack, root first, with its count' '
	$SONDA export fx.db -f folded >out &&
	cat >expect <<-EOF &&
	libc.so.6+0x1a2b 1
	main (app.py:10);a (app.py:20) 2
	main (app.py:10);a (app.py:20);b (lib.py:5) 3
	main (app.py:11);r (app.py:30);r (app.py:30);r (app.py:30) 4
	main (app.py:11);r (app.py:30);x (app.py:40);r (app.py:30) 1
	w (worker.py:7);b (lib.py:5) 5
	EOF
	test_cmp expect out
'

test_expect_success '--threads: each stack starts with thread TID (NAME)' '
	$SONDA export fx.db -f folded --threads >out &&
	cat >expect <<-EOF &&
	thread 100 (main);main (app.py:10);a (app.py:20) 2
	thread 100 (main);main (app.py:10);a (app.py:20);b (lib.py:5) 3
	thread 100 (main);main (app.py:11);r (app.py:30);r (app.py:30);r (app.py:30) 4
	thread 100 (main);main (app.py:11);r (app.py:30);x (app.py:40);r (app.py:30) 1
	thread 200 (worker);libc.so.6+0x1a2b 1
	thread 200 (worker);w (worker.py:7);b (lib.py:5) 5
	EOF
	test_cmp expect out
'

test_expect_success '--thread keeps one thread; -o writes a file' '
	$SONDA export fx.db -f folded --thread 200 -o t200.folded &&
	printf "%s\n" "libc.so.6+0x1a2b 1" "w (worker.py:7);b (lib.py:5) 5" >expect &&
	test_cmp expect t200.folded
'

test_expect_success 'the counts add up to the samples, parsed from the right' '
	$SONDA export fx.db -f folded | awk "{ n += \$NF } END { exit n != 16 }"
'

test_expect_success '--by alloc weighs allocation sites by bytes' '
	$SONDA export fx.db -f folded --by alloc >out &&
	printf "%s\n" "main (app.py:10);a (app.py:20) 300" "w (worker.py:7);b (lib.py:5) 1000" >expect &&
	test_cmp expect out &&
	$SONDA export fx.db -f folded --by live >out &&
	echo "main (app.py:10);a (app.py:20) 200" >expect &&
	test_cmp expect out
'

test_expect_success 'a stack 3000 frames deep is one line of 3000 frames' '
	"$MKSTORE" deep.db deep &&
	$SONDA export deep.db -f folded >out &&
	test $(wc -l <out) = 1 &&
	test "$(tr ";" "\n" <out | wc -l)" = 3000 &&
	test_grep "^f0 (deep.py:1);f1 (deep.py:2);" out &&
	test_grep "f2999 (deep.py:3000) 7\$" out
'

test_expect_success 'names with newlines or semicolons do not break lines' '
	"$MKSTORE" hostile.db hostile &&
	$SONDA export hostile.db -f folded >out &&
	test $(wc -l <out) = 2 &&
	awk "NF < 2 || \$NF !~ /^[0-9]+\$/ { exit 1 }" out
'

test_expect_success 'a closed pipe ends the export quietly' '
	( $SONDA export deep.db -f folded 2>err; echo $? >rc ) | head -c 10 >/dev/null &&
	test "$(cat rc)" = 0 && test ! -s err
'

test_expect_success 'bad options: unknown format, no format, no file' '
	test_must_fail $SONDA export fx.db -f nosuch 2>err &&
	test_grep "takes folded, svg, speedscope, chrome or pprof" err &&
	test_must_fail $SONDA export fx.db 2>err &&
	test_grep "which format" err &&
	test_must_fail $SONDA export -f folded 2>err &&
	test_grep "which store" err &&
	test_must_fail $SONDA export fx.db -f folded -o /nonexistent/dir/x 2>err &&
	test_grep "cannot write /nonexistent/dir/x" err
'

test_expect_success 'help and man page name the same options and formats' '
	$SONDA export --help >help &&
	for w in --format --output --threads --thread --by --inverted --title folded svg speedscope chrome pprof; do
		test_grep -e "$w" help || return 1
		python3 -c "import sys; t = open(sys.argv[1]).read().replace(\"\\\\-\", \"-\"); sys.exit(sys.argv[2] not in t)" \
			"$SRCDIR/man/sonda-export.1.in" "$w" || { echo "man page lacks $w"; return 1; }
	done
'

test_done
