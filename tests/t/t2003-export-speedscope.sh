#!/bin/sh
# t2003-export-speedscope.sh - sonda export -f speedscope: valid against speedscope's schema, frames and weights as stored.
. "$(dirname "$0")/../lib.sh"

# Debian's python3 starts faster than a version manager's shim.
[ -x /usr/bin/python3 ] && PATH=/usr/bin:$PATH

MKSTORE=$BUILDDIR/tests/unit/mkstore
NODE_DIR=$BUILDDIR/tests/node

# speedscope's own schema file ships in its npm package; ajv validates
# against it.  Both are installed once into the build tree.  When npm
# cannot fetch them, the copy of the schema's essentials below still
# checks the structure (without ajv).
have_validator() {
	command -v node >/dev/null || return 1
	if [ ! -f "$NODE_DIR/node_modules/ajv/package.json" ] ||
	   [ ! -f "$NODE_DIR/node_modules/speedscope/package.json" ]; then
		command -v npm >/dev/null || return 1
		mkdir -p "$NODE_DIR" &&
		timeout 180 npm install --prefix "$NODE_DIR" --no-audit --no-fund --silent \
			ajv@8 speedscope@1 >"$TRASH/npm.log" 2>&1 || return 1
	fi
	SCHEMA=$(find "$NODE_DIR/node_modules/speedscope/dist" -name file-format-schema.json | head -1)
	NODE_PATH=$NODE_DIR/node_modules && export NODE_PATH &&
	[ -n "$SCHEMA" ]
}

cat >validate.js <<'JS'
// validate.js SCHEMA FILE: ajv against speedscope's schema, then what
// the schema cannot say: frame indices in range, events balanced.
const fs = require('fs');
const Ajv = require('ajv');
const schema = JSON.parse(fs.readFileSync(process.argv[2]));
const data = JSON.parse(fs.readFileSync(process.argv[3]));
const ajv = new Ajv({ strict: false });
const validate = ajv.compile(schema);
if (!validate(data)) {
	console.log(JSON.stringify(validate.errors, null, 1));
	process.exit(1);
}
const n = data.shared.frames.length;
for (const p of data.profiles) {
	if (p.type === 'sampled') {
		if (p.samples.length !== p.weights.length) throw new Error('samples/weights ' + p.name);
		for (const s of p.samples) for (const i of s) if (i < 0 || i >= n) throw new Error('frame ' + i);
		const sum = p.weights.reduce((a, b) => a + b, 0);
		if (Math.abs(sum - (p.endValue - p.startValue)) > 1e-9 * Math.max(1, sum))
			throw new Error('weights do not add up to endValue in ' + p.name);
	} else {
		const open = [];
		let at = -Infinity;
		for (const e of p.events) {
			if (e.at < at) throw new Error('events out of order in ' + p.name);
			at = e.at;
			if (e.frame < 0 || e.frame >= n) throw new Error('frame ' + e.frame);
			if (e.type === 'O') open.push(e.frame);
			else if (open.pop() !== e.frame) throw new Error('unbalanced close in ' + p.name);
		}
		if (open.length) throw new Error('unclosed events in ' + p.name);
	}
}
JS

test_expect_success 'a store with known stacks' '
	"$MKSTORE" fx.db && "$MKSTORE" hostile.db hostile
'

test_expect_success 'the essentials of the file format' '
	$SONDA export fx.db -f speedscope -o fx.json &&
	python3 -c "
import json
d = json.load(open(\"fx.json\"))
assert d[\"\$schema\"] == \"https://www.speedscope.app/file-format-schema.json\"
assert isinstance(d[\"shared\"][\"frames\"], list)
for f in d[\"shared\"][\"frames\"]:
    assert isinstance(f[\"name\"], str)
    assert set(f) <= {\"name\", \"file\", \"line\", \"col\"}
for p in d[\"profiles\"]:
    assert p[\"type\"] in (\"sampled\", \"evented\")
    assert p[\"unit\"] in (\"bytes\", \"microseconds\", \"milliseconds\", \"nanoseconds\", \"none\", \"seconds\")
    for k in (\"name\", \"startValue\", \"endValue\"):
        assert k in p
    assert (\"samples\" in p and \"weights\" in p) if p[\"type\"] == \"sampled\" else \"events\" in p
"
'

test_expect_success 'one sampled profile per thread: root-first stacks and weights in seconds' '
	python3 -c "
import json
d = json.load(open(\"fx.json\"))
fr = d[\"shared\"][\"frames\"]
def name(i):
    f = fr[i]
    return f[\"name\"] + (\":%d\" % f[\"line\"] if \"line\" in f else \"\")
got = {}
for p in d[\"profiles\"]:
    if p[\"type\"] != \"sampled\":
        continue
    assert p[\"unit\"] == \"seconds\"
    for s, w in zip(p[\"samples\"], p[\"weights\"]):
        got[(p[\"name\"], \";\".join(map(name, s)))] = round(w * 100)
want = {
    (\"thread 100 (main)\", \"main:10;a:20\"): 2,
    (\"thread 100 (main)\", \"main:10;a:20;b:5\"): 3,
    (\"thread 100 (main)\", \"main:11;r:30;r:30;r:30\"): 4,
    (\"thread 100 (main)\", \"main:11;r:30;x:40;r:30\"): 1,
    (\"thread 200 (worker)\", \"w:7;b:5\"): 5,
    (\"thread 200 (worker)\", \"libc.so.6+0x1a2b\"): 1,
}
assert got == want, got
assert [f for f in fr if f[\"name\"] == \"b\"] == [{\"name\": \"b\", \"file\": \"lib.py\", \"line\": 5}]
"
'

test_expect_success 'evented profiles from the tracer timeline, balanced' '
	python3 -c "
import json
d = json.load(open(\"fx.json\"))
fr = d[\"shared\"][\"frames\"]
ev = [p for p in d[\"profiles\"] if p[\"type\"] == \"evented\"]
assert [p[\"name\"] for p in ev] == [\"tasks: thread 100 (main)\", \"tasks: thread 200 (worker)\"], ev
seq = [(e[\"type\"], fr[e[\"frame\"]][\"name\"], e[\"at\"]) for e in ev[0][\"events\"]]
assert seq == [(\"O\", \"request\", 1000000), (\"O\", \"load\", 5000000), (\"C\", \"load\", 15000000), (\"C\", \"request\", 31000000)], seq
assert ev[0][\"unit\"] == \"nanoseconds\"
"
'

test_expect_success '--by alloc: profiles in bytes' '
	$SONDA export fx.db -f speedscope --by alloc -o alloc.json &&
	python3 -c "
import json
d = json.load(open(\"alloc.json\"))
ps = {p[\"name\"]: p for p in d[\"profiles\"]}
assert set(ps) == {\"allocated bytes\", \"live bytes\"}, ps
assert all(p[\"unit\"] == \"bytes\" for p in ps.values())
assert sum(ps[\"allocated bytes\"][\"weights\"]) == 1300
assert ps[\"live bytes\"][\"weights\"] == [200]
"
'

if have_validator; then
	test_expect_success 'valid against the schema speedscope ships (ajv)' '
		node validate.js "$SCHEMA" fx.json &&
		node validate.js "$SCHEMA" alloc.json &&
		$SONDA export hostile.db -f speedscope -o h.json &&
		node validate.js "$SCHEMA" h.json
	'
else
	test_skip 'valid against the schema speedscope ships (ajv)' \
		'node, npm or the npm packages ajv and speedscope are not available'
fi

test_done
