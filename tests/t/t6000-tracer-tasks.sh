#!/bin/sh
# t6000 - libsonda tasks: exact calls, wall and CPU against the clocks, self = total - children.
. "$(dirname "$0")/../lib.sh"
. "$SRCDIR/tests/tracer-lib.sh"

tracer_prereqs || { test_skip 'libsonda task stats' "$TRACER_SKIP"; test_done; }

# Time the hypervisor took from this VM, all CPUs, in ms (USER_HZ ticks).
steal() { awk '$1 == "cpu" { print ($9 + 0) * 1000 / 100 }' /proc/stat; }

test_expect_success 'fixture builds against sonda.h and libsonda' '
	tracer_cc tasks "$SRCDIR/tests/fixtures/tracer/tasks.c"
'

test_expect_success 'sonda run writes the store and removes the region' '
	steal >steal0 &&
	timeout 60 "$SONDA" run -o t.db -- ./tasks >truth.txt &&
	steal >steal1 &&
	test -s t.db &&
	test $(grep -c "^truth" truth.txt) = 4 &&
	pid=$(sqlite3 t.db "select pid from sessions where id = 1") &&
	test -n "$pid" && test ! -e /dev/shm/sonda-$pid
'

q() { sqlite3 -separator " " t.db "$1"; }
rows='select th.name, n.value, t.calls, t.wall_ns, t.self_ns, t.cpu_ns from task_stats t
	join strings n on n.id = t.name join threads th on th.id = t.thread where t.parent = 0 and t.thread <> 0'

test_expect_success 'session says libsonda, trace' '
	q "select runtime, mode from sessions where id = 1" >actual &&
	echo "libsonda trace" >expect && test_cmp expect actual
'

test_expect_success 'calls are exact per thread and merged' '
	q "$rows order by 1, 2" | cut -d" " -f1-3 >actual &&
	for w in worker-0 worker-1 worker-2 worker-3; do
		for n in outer sleep spin; do echo "$w $n 10"; done
	done >expect &&
	test_cmp expect actual &&
	q "select n.value, t.calls from task_stats t join strings n on n.id = t.name
		where t.thread = 0 and t.parent = 0 order by 1" >actual &&
	printf "outer 40\nsleep 40\nspin 40\n" >expect &&
	test_cmp expect actual
'

# CPU times may read high by the time a hypervisor stole (libsonda(3)):
# the spin check allows what /proc/stat says was stolen during the run.
test_expect_success 'sleep wall within 5% of the clock, spin CPU within 5% (+ steal)' '
	q "$rows" >rows.txt &&
	stolen=$(($(cat steal1) - $(cat steal0))) && say "steal during the run: $stolen ms" &&
	awk -v stolen_ns=$((stolen * 1000000)) "
		FNR == NR && \$1 == \"truth\" { sw[\$2] = \$4; sc[\$2] = \$6; next }
		\$2 == \"sleep\" { d = \$4 - sw[\$1]; if (d < 0) d = -d; if (d > 0.05 * sw[\$1]) { print \"sleep wall\", \$0, sw[\$1]; bad = 1 } }
		\$2 == \"spin\" { d = \$6 - sc[\$1]; if (d < -0.05 * sc[\$1] || d > 0.05 * sc[\$1] + stolen_ns) { print \"spin cpu\", \$0, sc[\$1]; bad = 1 } }
		\$2 == \"sleep\" && \$6 > 0.05 * \$4 { print \"sleep burnt CPU\", \$0; bad = 1 }
		END { exit bad }" truth.txt rows.txt
'

test_expect_success 'self of outer = its total minus its children, exactly' '
	awk "
		{ w[\$1 \" \" \$2] = \$4; s[\$1 \" \" \$2] = \$5 }
		END {
			for (k in w) if (k ~ / outer\$/) {
				t = k; sub(/ outer\$/, \"\", t)
				if (s[k] != w[k] - w[t \" sleep\"] - w[t \" spin\"]) { print k, s[k], w[k]; bad = 1 }
				n++
			}
			exit bad || n != 4
		}" rows.txt
'

test_done
