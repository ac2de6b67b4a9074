#!/bin/sh
# t7000 - allocation tracking: exact counts, bytes, live and peak per site, snapshots and their growth, leaks at exit.
. "$(dirname "$0")/../lib.sh"
. "$SRCDIR/tests/tracer-lib.sh"

tracer_prereqs || { test_skip 'allocation sites' "$TRACER_SKIP"; test_done; }

# Per leaf function: allocs frees bytes live_count live_bytes peak_bytes.
sites='select fn.value, sum(a.allocs), sum(a.frees), sum(a.bytes), sum(a.live_count),
	sum(a.live_bytes), sum(a.peak_bytes) from allocs a join callsites c on c.id = a.callsite
	join frames f on f.id = c.frame join strings fn on fn.id = f.function
	where fn.value like "site_%" group by 1 order by 1'
# Per snapshot label and leaf function: allocs live_count live_bytes.
snaps='select s.label, fn.value, sum(x.allocs), sum(x.live_count), sum(x.live_bytes)
	from snapshot_sites x join snapshots s on s.id = x.snapshot join callsites c on c.id = x.callsite
	join frames f on f.id = c.frame join strings fn on fn.id = f.function
	where fn.value like "site_%" and s.label = "LABEL" group by 1, 2 order by 2'
q() { sqlite3 -separator " " "$1" "$2"; }
snap() { q "$1" "$(echo "$snaps" | sed "s/LABEL/$2/")"; }

test_expect_success 'fixture builds (gcc -O0 -g, frame pointers)' '
	cc -O0 -g -fno-omit-frame-pointer -o sites "$SRCDIR/tests/fixtures/alloc/sites.c"
'

test_expect_success 'sonda run --alloc runs it unchanged and writes a store' '
	./sites >plain.out &&
	timeout 60 "$SONDA" run --alloc -o a.db -- ./sites >run.out &&
	test_cmp plain.out run.out && test -s a.db
'

cat >expect.sites <<'X'
site_calloc 50 50 16000 0 0 320
site_chain_start 20 20 320 0 0 16
site_growth 30 0 30000 30 30000 30000
site_malloc 100 60 6400 40 2560 6400
site_memalign 8 3 32768 5 20480 32768
site_realloc 60 50 122000 10 50000 55000
site_signalled 1 0 8 1 8 8
X

test_expect_success 'per site: allocations, frees, bytes, live count and bytes, peak are exact' '
	q a.db "$sites" >actual && test_cmp expect.sites actual
'

test_expect_success 'the sites are stacks: site_malloc is called from main' '
	q a.db "select p.value from allocs a join callsites c on c.id = a.callsite
		join frames f on f.id = c.frame join strings fn on fn.id = f.function
		join callsites pc on pc.id = c.parent join frames pf on pf.id = pc.frame
		join strings p on p.id = pf.function where fn.value = \"site_malloc\"" >actual &&
	echo main >expect && test_cmp expect actual
'

test_expect_success 'frames carry the source line of the call (tracemalloc lineno)' '
	line=$(grep -n "site_malloc(size_t n) { return malloc" "$SRCDIR/tests/fixtures/alloc/sites.c" | cut -d: -f1) &&
	q a.db "select f.line, fi.value from allocs a join callsites c on c.id = a.callsite
		join frames f on f.id = c.frame join strings fn on fn.id = f.function
		join strings fi on fi.id = f.file where fn.value = \"site_malloc\"" >actual &&
	grep "^$line .*/sites\.c$" actual
'

test_expect_success 'two snapshots: growth between them is site_growth, 30 blocks, 30000 bytes' '
	snap a.db before >before && snap a.db after >after &&
	awk "NR == FNR { a[\$2] = \$3 \" \" \$4 \" \" \$5; next }
		{ split(a[\$2], b, \" \"); d = \$5 - b[3]; if (d || \$3 != b[1]) print \$2, \$3 - b[1], \$4 - b[2], d }" \
		before after >actual &&
	echo "site_growth 30 30 30000" >expect && test_cmp expect actual
'

test_expect_success 'leaks at exit: what is live in the exit snapshot, exactly' '
	snap a.db exit | awk "\$4 > 0 { print \$2, \$4, \$5 }" >actual &&
	printf "%s\n" "site_growth 30 30000" "site_malloc 40 2560" "site_memalign 5 20480" \
		"site_realloc 10 50000" "site_signalled 1 8" >expect &&
	test_cmp expect actual
'

test_expect_success 'SIGUSR2 takes a snapshot at the next allocation' '
	q a.db "select label from snapshots where id > 0 order by id" >actual &&
	printf "%s\n" before after sigusr2-1 exit >expect && test_cmp expect actual &&
	snap a.db sigusr2-1 | grep "^sigusr2-1 site_growth 30 30 30000$" &&
	! snap a.db sigusr2-1 | grep site_signalled
'

test_expect_success 'linked with -lsonda, sonda_alloc_start() from main gives the same sites' '
	tracer_cc linked "$SRCDIR/tests/fixtures/alloc/sites.c" -O0 -fno-omit-frame-pointer &&
	timeout 60 "$SONDA" run -o l.db -- ./linked >/dev/null &&
	q l.db "$sites" >actual && test_cmp expect.sites actual
'

test_expect_success 'frame-pointer stacks (SONDA_ALLOC_UNWIND=fp) give the same sites' '
	SONDA_ALLOC_UNWIND=fp timeout 60 "$SONDA" run --alloc=8 -o fp.db -- ./sites >/dev/null &&
	q fp.db "$sites" >actual && test_cmp expect.sites actual
'

test_expect_success '--alloc=NFRAMES bounds the stack depth' '
	timeout 60 "$SONDA" run --alloc=2 -o d2.db -- ./sites >/dev/null &&
	test "$(q d2.db "select max(c.depth) from allocs a join callsites c on c.id = a.callsite")" = 2
'

test_expect_success 'bad --alloc values are usage errors' '
	test_must_fail "$SONDA" run --alloc=0 -- true 2>err && grep "NFRAMES" err &&
	test_must_fail "$SONDA" run --alloc-sample=lots -- true 2>err && grep "BYTES" err
'

test_done
