#!/bin/sh
# t5003-native-mixed: native stacks of Python processes with the Python frames spliced in, CPython 3.8-3.13.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../native.sh"

NSAMPLE=$BUILDDIR/tests/native/nsample
FIXTURE=$SRCDIR/tests/fixtures/py/known_stack.py

# The Python frames of the one stack in $1, root first, as "func:file:line".
python_part() {
	sed -n 's/^S [0-9]* [a-z]* //p' "$1" | head -n 1 | tr ';' '\n' | grep ':known_stack\.py:'
}

if [ ! -f "$FIXTURE" ]; then
	test_skip 'mixed mode' 'no Python known-stack fixture in this tree'
	test_done
fi

if "$NSAMPLE" -m mixed -p $$ -o 2>&1 | grep -q "not available in this build"; then
	test_skip 'mixed mode' 'this build has no Python reader'
	test_done
fi

test_pythons >pythons
while read -r version python; do
	case $version in 3.8|3.9|3.10|3.11|3.12|3.13) ;; *) continue;; esac
	what="mixed stack on CPython $version ($python)"
	"$python" "$FIXTURE" --expect | tr ';' '\n' |
		sed 's/^known_stack:\(.*\):\([0-9]*\)$/\1:known_stack.py:\2/' >"expect.$version"
	test_expect_success "$what: Python frames in order, below native frames" '
		rm -f ready
		"$python" "$FIXTURE" --ready ready &
		P=$! && track $P &&
		test_wait_for "[ -f ready ]" 10 &&
		"$NSAMPLE" -m mixed -o -l -p $P >out &&
		python_part out >got &&
		test_cmp "expect.$version" got &&
		sed -n "s/^S [0-9]* [a-z]* //p" out | head -n 1 | tr ";" "\n" >frames &&
		first=$(grep -n ":known_stack\.py:" frames | head -n 1 | cut -d: -f1) &&
		head -n $((first - 1)) frames | grep -q "^PyEval_EvalCode" &&
		"$SONDA" dump --native -p $P >dump &&
		test_grep -q "^    leaf_spin (.*known_stack.py:[0-9]*)\$" dump &&
		test_grep -q "^    PyEval_EvalCode (" dump
	'
	test_expect_success "$version: Python called back from C sits above the C frames" '
		rm -f ready2
		"$python" "$SRCDIR/tests/fixtures/native/reenter.py" ready2 &
		P=$! && track $P &&
		test_wait_for "[ -f ready2 ]" 10 &&
		"$NSAMPLE" -m mixed -o -l -p $P >out2 &&
		sed -n "s/^S [0-9]* [a-z]* //p" out2 | head -n 1 | tr ";" "\n" >frames2 &&
		v=$(grep -n "^via_c:reenter" frames2 | cut -d: -f1) &&
		l=$(grep -n "<lambda>:reenter" frames2 | cut -d: -f1) &&
		f=$(grep -n "^leaf:reenter" frames2 | cut -d: -f1) &&
		[ -n "$v" ] && [ -n "$l" ] && [ -n "$f" ] && [ $v -lt $l ] && [ $l -lt $f ] &&
		! sed -n "$((v + 1))p" frames2 | grep -q reenter.py
	'
done <pythons

test_done
