#!/bin/sh
# t3103-record-subprocesses.sh - --subprocesses: multiprocessing workers recorded as sessions of their own.
. "$(dirname "$0")/../lib.sh"
. "$SRCDIR/tests/t/record-lib.sh"

if ! have_python_engine; then
	test_skip 'record a multiprocessing program' "no Python engine in this build: $(cat "$TRASH/.why")"
	test_done
fi
if ! have_store_writer || ! command -v sqlite3 >/dev/null; then
	test_skip 'record a multiprocessing program' 'no store writer in this build, or no sqlite3'
	test_done
fi

py=$(test_pythons | grep '^3\.1[1-9] /root' | tail -n 1 | cut -d' ' -f2)
[ -n "$py" ] || py=$(test_pythons | tail -n 1 | cut -d' ' -f2)
"$py" "$FIX/mp_workers.py" --expect > expect

# session|pid|samples whose two innermost frames are the workers' (worker_main -> worker_spin).
worker_sessions() {
	sqlite3 "$1" "SELECT s.session, se.pid, SUM(s.weight) FROM samples s
		JOIN sessions se ON se.id = s.session
		JOIN callsites c ON c.id = s.callsite JOIN frames f ON f.id = c.frame
		JOIN strings fn ON fn.id = f.function
		JOIN callsites pc ON pc.id = c.parent JOIN frames pf ON pf.id = pc.frame
		JOIN strings pfn ON pfn.id = pf.function
		WHERE fn.value = 'worker_spin' AND pfn.value = 'worker_main'
		GROUP BY s.session ORDER BY s.session"
}

test_expect_success 'launch: both workers are sessions of their own, in worker_spin' "
	timeout 60 '$SONDA' record --subprocesses -d 3 -o mp.db -- '$py' '$FIX/mp_workers.py' 2>summary &&
	cat summary &&
	sqlite3 mp.db 'SELECT id, pid, command, samples FROM sessions WHERE id > 0' &&
	worker_sessions mp.db > workers && cat workers &&
	test \$(wc -l < workers) = 2 &&
	main=\$(sqlite3 mp.db 'SELECT pid FROM sessions WHERE id = 1') &&
	! grep \"|\$main|\" workers &&
	test \$(sqlite3 mp.db \"SELECT COUNT(*) FROM samples s JOIN callsites c ON c.id = s.callsite
		JOIN frames f ON f.id = c.frame JOIN strings fn ON fn.id = f.function
		WHERE s.session = 1 AND fn.value = 'worker_spin'\") = 0
"

test_expect_success 'without --subprocesses: one session, no worker frames' "
	timeout 60 '$SONDA' record -d 2 -o one.db -- '$py' '$FIX/mp_workers.py' 2>summary &&
	test \$(sqlite3 one.db 'SELECT COUNT(*) FROM sessions WHERE id > 0') = 1 &&
	worker_sessions one.db > workers && test ! -s workers
"

test_done
