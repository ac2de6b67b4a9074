#!/bin/sh
# t2004-export-chrome-pprof.sh - Chrome trace JSON and pprof, read back by real readers.
. "$(dirname "$0")/../lib.sh"

# Debian's python3 starts faster than a version manager's shim.
[ -x /usr/bin/python3 ] && PATH=/usr/bin:$PATH

MKSTORE=$BUILDDIR/tests/unit/mkstore
NODE_DIR=$BUILDDIR/tests/node

test_expect_success 'a store with known stacks and tracer events' '
	"$MKSTORE" fx.db && "$MKSTORE" hostile.db hostile
'

test_expect_success 'chrome: traceEvents with thread names and X events in microseconds' '
	$SONDA export fx.db -f chrome -o fx.trace.json &&
	python3 -c "
import json
d = json.load(open(\"fx.trace.json\"))
ev = d[\"traceEvents\"]
meta = {(e[\"name\"], e[\"tid\"]): e[\"args\"][\"name\"] for e in ev if e[\"ph\"] == \"M\"}
assert meta[(\"thread_name\", 100)] == \"main\" and meta[(\"thread_name\", 200)] == \"worker\", meta
assert meta[(\"process_name\", 0)] == \"python3 app.py\"
tasks = sorted((e[\"name\"], e[\"tid\"], e[\"ts\"], e[\"dur\"]) for e in ev if e[\"ph\"] == \"X\" and e[\"cat\"] == \"task\")
assert tasks == [(\"load\", 100, 5000.0, 10000.0), (\"request\", 100, 1000.0, 30000.0), (\"save\", 200, 2000.0, 7000.0)], tasks
assert all(e[\"pid\"] == 4242 for e in ev)
"
'

test_expect_success 'chrome: sampled stacks as nested X events, 10 ms per sample at 100 Hz' '
	python3 -c "
import json
ev = [e for e in json.load(open(\"fx.trace.json\"))[\"traceEvents\"] if e.get(\"cat\") == \"sample\"]
dur = {}
for e in ev:
    dur[(e[\"tid\"], e[\"name\"])] = dur.get((e[\"tid\"], e[\"name\"]), 0) + e[\"dur\"]
assert dur[(100, \"main (app.py:10)\")] == 50000.0, dur
assert dur[(100, \"b (lib.py:5)\")] == 30000.0, dur
assert dur[(200, \"w (worker.py:7)\")] == 50000.0, dur
# r recurses: three nested events for the 4 samples of r;r;r
assert sorted(e[\"dur\"] for e in ev if e[\"tid\"] == 100 and e[\"name\"] == \"r (app.py:30)\") == [10000.0, 40000.0, 40000.0, 50000.0]
# any two events of a thread nest or are disjoint
for a in ev:
    for b in ev:
        if a[\"tid\"] != b[\"tid\"]:
            continue
        a0, a1, b0, b1 = a[\"ts\"], a[\"ts\"] + a[\"dur\"], b[\"ts\"], b[\"ts\"] + b[\"dur\"]
        assert a1 <= b0 or b1 <= a0 or (a0 <= b0 and b1 <= a1) or (b0 <= a0 and a1 <= b1), (a, b)
"
'

test_expect_success 'chrome: hostile names still give valid JSON' '
	$SONDA export hostile.db -f chrome | python3 -c "import json, sys; json.load(sys.stdin)"
'

test_expect_success 'pprof: gzip, refused on a terminal only' '
	$SONDA export fx.db -f pprof -o fx.pb.gz &&
	python3 -c "import gzip; d = gzip.open(\"fx.pb.gz\").read(); assert len(d) > 100" &&
	$SONDA export fx.db -f pprof --by alloc -o heap.pb.gz &&
	$SONDA export fx.db -f pprof | python3 -c "import gzip, sys; gzip.decompress(sys.stdin.buffer.read())"
'

# go tool pprof, or npm's pprof-format, read the profiles back.
have_go() {
	command -v go >/dev/null || return 1
	GOCACHE=$TRASH/gocache HOME=${HOME:-$TRASH} GOFLAGS= timeout 60 go tool pprof -h >/dev/null 2>&1
}
have_pprof_format() {
	command -v node >/dev/null || return 1
	if [ ! -f "$NODE_DIR/node_modules/pprof-format/package.json" ]; then
		command -v npm >/dev/null || return 1
		mkdir -p "$NODE_DIR" &&
		timeout 180 npm install --prefix "$NODE_DIR" --no-audit --no-fund --silent \
			pprof-format >"$TRASH/npm.log" 2>&1 || return 1
	fi
	NODE_PATH=$NODE_DIR/node_modules && export NODE_PATH
}
gopprof() { GOCACHE=$TRASH/gocache HOME=${HOME:-$TRASH} GOFLAGS= timeout 60 go tool pprof "$@"; }

if have_go; then
	test_expect_success 'go tool pprof -top: CPU profile, flat and cum as stored' '
		gopprof -top fx.pb.gz >top 2>&1 &&
		cat top &&
		test_grep "^Type: cpu" top &&
		test_grep -E "^ +80ms 50\.00% 50\.00% +80ms 50\.00%  b\$" top &&
		test_grep -E "^ +20ms 12\.50% .* +50ms 31\.25%  a\$" top &&
		test_grep -E "^ +50ms 31\.25% .* +50ms 31\.25%  r\$" top &&
		test_grep -E "^ +0 +0% .* +100ms 62\.50%  main\$" top &&
		gopprof -raw fx.pb.gz >raw 2>&1 &&
		test_grep "^samples/count cpu/nanoseconds" raw &&
		test_grep "thread:\[worker\]" raw
	'
	test_expect_success 'go tool pprof: heap profile with the four heap types' '
		gopprof -raw heap.pb.gz >raw 2>&1 &&
		test_grep -E "^alloc_objects/count alloc_space/bytes(\\[dflt\\])? inuse_objects/count inuse_space/bytes" raw &&
		gopprof -top -sample_index=alloc_space heap.pb.gz >top 2>&1 &&
		test_grep -E "1000B 76\.92%.*  b\$" top &&
		gopprof -top -sample_index=inuse_space heap.pb.gz >top 2>&1 &&
		test_grep -E "200B +100%.*  a\$" top
	'
else
	test_skip 'go tool pprof -top: CPU profile' 'golang-go is not installed'
	test_skip 'go tool pprof: heap profile' 'golang-go is not installed'
fi

if have_pprof_format; then
	test_expect_success 'pprof-format (npm) decodes both: string 0 empty, ids non-zero, leaf first' '
		cat >check.js <<-\EOF &&
		const { Profile } = require("pprof-format");
		const zlib = require("zlib"), fs = require("fs");
		const p = Profile.decode(zlib.gunzipSync(fs.readFileSync(process.argv[2])));
		const s = (i) => p.stringTable.strings[Number(i)];
		if (s(0) !== "") throw new Error("string 0 is not empty");
		for (const l of p.location) if (Number(l.id) === 0) throw new Error("location id 0");
		for (const f of p.function) if (Number(f.id) === 0) throw new Error("function id 0");
		const loc = new Map(p.location.map((l) => [Number(l.id), l]));
		const fn = new Map(p.function.map((f) => [Number(f.id), f]));
		const out = p.sample.map((x) => x.locationId.map((id) =>
			s(fn.get(Number(loc.get(Number(id)).line[0].functionId)).name)).join("<") +
			" " + x.value.map(Number).join(","));
		console.log(p.sampleType.map((t) => s(t.type) + "/" + s(t.unit)).join(" "));
		console.log(out.sort().join("\n"));
		EOF
		node check.js fx.pb.gz >got &&
		cat >expect <<-\EOF &&
		samples/count cpu/nanoseconds
		a<main 2,20000000
		b<a<main 3,30000000
		b<w 5,50000000
		libc.so.6+0x1a2b 1,10000000
		r<r<r<main 4,40000000
		r<x<r<main 1,10000000
		EOF
		test_cmp expect got &&
		node check.js heap.pb.gz >got &&
		cat >expect <<-\EOF &&
		alloc_objects/count alloc_space/bytes inuse_objects/count inuse_space/bytes
		a<main 3,300,2,200
		b<w 10,1000,0,0
		EOF
		test_cmp expect got
	'
else
	test_skip 'pprof-format (npm) decodes both' 'node, npm or the npm package pprof-format is not available'
fi

test_done
