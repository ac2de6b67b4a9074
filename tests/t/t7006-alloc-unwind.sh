#!/bin/sh
# t7006 - the default unwinder (frame pointers checked against libunwind) gives exactly libunwind's stacks, with and without frame pointers, in threads and in C++.
. "$(dirname "$0")/../lib.sh"
. "$SRCDIR/tests/tracer-lib.sh"

tracer_prereqs || { test_skip 'allocation stacks' "$TRACER_SKIP"; test_done; }

# stacks DB: every site's stack and counts (not its peak: threads make
# that depend on timing), one line each, sorted.
stacks() {
	"$SONDA" report "$1" --by alloc --traceback >"$1.txt" &&
	awk '/^    / { s = s ";" $0; next }
		{ if (s != "") print c s; c = $1 " " $2 " " $3 " " $4 " " $5; s = "" }
		END { if (s != "") print c s }' "$1.txt" | sort
}

# same NAME CMD...: the stacks of CMD under SONDA_ALLOC_UNWIND=libunwind
# and under the default are the same.
same() {
	name=$1
	shift
	SONDA_ALLOC_UNWIND=libunwind timeout 90 "$SONDA" run --alloc -o "$name-lu.db" -- "$@" >/dev/null &&
	timeout 90 "$SONDA" run --alloc -o "$name-ck.db" -- "$@" >/dev/null &&
	stacks "$name-lu.db" >"$name.lu" && stacks "$name-ck.db" >"$name.ck" &&
	test -s "$name.lu" && test_cmp "$name.lu" "$name.ck"
}

test_expect_success 'fixtures build, with frame pointers and without' '
	cc -O0 -g -fno-omit-frame-pointer -o sites-fp "$SRCDIR/tests/fixtures/alloc/sites.c" &&
	cc -O2 -g -fomit-frame-pointer -o sites-nofp "$SRCDIR/tests/fixtures/alloc/sites.c" &&
	cc -O0 -g -fno-omit-frame-pointer -pthread -o threads "$SRCDIR/tests/fixtures/alloc/threads.c"
'

test_expect_success 'frame pointers: the same stacks as libunwind alone' '
	same fp ./sites-fp
'

test_expect_success 'no frame pointers: the same stacks as libunwind alone' '
	same nofp ./sites-nofp
'

test_expect_success '4 threads: the same stacks as libunwind alone' '
	same thr ./threads 4
'

test_expect_success 'frame pointers alone lose no frame of a program that has them' '
	grep -q "site_malloc" fp.ck && grep -q "main" fp.ck
'

if command -v c++ >/dev/null; then
	test_expect_success 'C++ (operator new has no frame pointer): the same stacks' '
		c++ -O0 -g -fno-omit-frame-pointer -o cxx "$SRCDIR/tests/fixtures/alloc/cxx.cc" &&
		same cxx ./cxx
	'
else
	test_skip 'C++ stacks' 'no C++ compiler'
fi

test_done
