#!/bin/sh
# t3101-record-threads.sh - idle threads only with --idle (marked idle), --gil keeps the GIL holder.
. "$(dirname "$0")/../lib.sh"
. "$SRCDIR/tests/t/record-lib.sh"

if ! have_python_engine; then
	test_skip 'record a three-thread target' "no Python engine in this build: $(cat "$TRASH/.why")"
	test_done
fi
if ! have_store_writer || ! command -v sqlite3 >/dev/null; then
	test_skip 'record a three-thread target' 'no store writer in this build, or no sqlite3'
	test_done
fi

py=$(test_pythons | grep '^3\.1[1-9] /root' | tail -n 1 | cut -d' ' -f2)
[ -n "$py" ] || py=$(test_pythons | tail -n 1 | cut -d' ' -f2)
start_ready "$py" "$FIX/threads.py" || { echo "Bail out! threads.py did not start"; exit 1; }

# name|idle|weight per thread, for one store.
by_thread() {
	sqlite3 "$1" "SELECT t.name, s.state & 1, SUM(s.weight) FROM samples s
		JOIN threads t ON t.id = s.thread GROUP BY t.name, s.state & 1 ORDER BY t.name"
}

# On an idle machine the sleeper and the main thread never show without
# --idle.  On an overloaded one (load far above the CPU count) a sleeping
# thread woken by the pause's interrupt can wait milliseconds for a CPU
# before it goes back to sleep, and /proc shows it runnable meanwhile: such
# samples are allowed up to a quarter of the ticks, and said.
test_expect_success 'default: the spinners are there; the sleeper and the idle main thread (nearly) not' "
	'$SONDA' record -p $PID -d 1 -o def.db &&
	by_thread def.db > rows && cat rows && echo \"load: \$(cat /proc/loadavg)\" &&
	test_grep '^spinner-a|0|' rows && test_grep '^spinner-b|0|' rows && ! grep '|1|' rows &&
	ticks=\$(sqlite3 def.db 'SELECT samples FROM sessions WHERE id = 1') &&
	for t in sleeper python; do
		w=\$(sed -n \"s/^\$t[^|]*|0|//p\" rows | head -n 1)
		echo \"\$t: \${w:-0} of \$ticks ticks\"
		test \$((4 * \${w:-0})) -le \$ticks || exit 1
	done
"

test_expect_success '--idle: the sleeper appears, its samples marked idle (all but a loaded-machine few)' "
	'$SONDA' record -p $PID -d 1 --idle -o idle.db &&
	by_thread idle.db > rows && cat rows &&
	test_grep '^spinner-a|0|' rows &&
	idle=\$(sed -n 's/^sleeper|1|//p' rows) && busy=\$(sed -n 's/^sleeper|0|//p' rows) &&
	echo \"sleeper: \${idle:-0} idle, \${busy:-0} not\" &&
	test \${idle:-0} -gt 0 && test \$((3 * \${busy:-0})) -le \${idle:-0}
"

test_expect_success '--idle: the sleeper is in sleep_forever called from run' "
	'$py' '$FIX/threads.py' --expect | sed -n 's/^sleeper idle //p' > expect &&
	'$SONDA' record -p $PID -d 1 --idle --threads -f folded -o threads.folded &&
	share=\$(folded_share threads.folded \"\$(cat expect)\" sleeper) &&
	echo \"share \$share%\" && test \$share -ge 95
"

test_expect_success '--gil: only the GIL holder, at most one thread per tick' "
	'$SONDA' record -p $PID -d 1 --gil -o gil.db &&
	by_thread gil.db > rows && cat rows &&
	! grep '^sleeper|' rows &&
	test \$(sqlite3 gil.db 'SELECT COUNT(*) FROM samples WHERE (state & 2) = 0') = 0 &&
	kept=\$(sqlite3 gil.db 'SELECT SUM(weight) FROM samples') &&
	ticks=\$(sqlite3 gil.db 'SELECT samples FROM sessions WHERE id = 1') &&
	echo \"kept \$kept of \$ticks ticks\" && test \$kept -le \$ticks && test \$kept -gt 0
"

test_done
