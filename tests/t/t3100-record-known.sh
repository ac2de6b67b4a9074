#!/bin/sh
# t3100-record-known.sh - sonda record on the known-stack fixture, every installed CPython.
. "$(dirname "$0")/../lib.sh"
. "$SRCDIR/tests/t/record-lib.sh"

if ! have_python_engine; then
	test_skip 'record the known stack' "no Python engine in this build: $(cat "$TRASH/.why")"
	test_done
fi

test_pythons > pythons
# Targets are started here, not inside a test body (a subshell), so that
# the harness kills them whatever happens.
while read -r ver py; do
	if ! start_ready "$py" "$FIX/known_stack.py"; then
		test_expect_success "python $ver ($py): the known-stack target starts" false
		continue
	fi
	test_expect_success "python $ver ($py): the known stack is the leaf stack in >= 95% of samples" "
		'$py' '$FIX/known_stack.py' --expect > expect &&
		'$SONDA' record -p \$PID -d 2 -f folded -o out.folded 2>summary &&
		cat summary &&
		share=\$(folded_share out.folded \"\$(cat expect)\") &&
		echo \"share \$share%\" && test \$share -ge 95 &&
		test_grep 'mode: python $ver' summary
	"
	kill $PID
done < pythons

# Launch mode also records the interpreter's start-up (imports), which on a
# loaded machine can take a good part of the two seconds: the known stack
# must be the leaf of most samples, not of 95%.
py=$(tail -n 1 pythons | cut -d' ' -f2)
test_expect_success 'launch mode: -- python known_stack.py' "
	'$py' '$FIX/known_stack.py' --expect > expect &&
	'$SONDA' record -d 2 -f folded -o out.folded -- '$py' '$FIX/known_stack.py' 2>summary &&
	cat summary &&
	share=\$(folded_share out.folded \"\$(cat expect)\") &&
	echo \"share \$share%\" && test \$share -ge 50 &&
	test_grep 'was still running; sonda ended it' summary
"

test_done
