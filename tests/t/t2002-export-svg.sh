#!/bin/sh
# t2002-export-svg.sh - sonda export -f svg: well-formed, self-contained, the right frames and counts.
. "$(dirname "$0")/../lib.sh"

# Debian's python3 starts faster than a version manager's shim.
[ -x /usr/bin/python3 ] && PATH=/usr/bin:$PATH

MKSTORE=$BUILDDIR/tests/unit/mkstore
NODE_DIR=$BUILDDIR/tests/node

# The <title>s of an SVG, one per line.
titles() { python3 -c '
import sys, xml.etree.ElementTree as ET
ns = "{http://www.w3.org/2000/svg}"
for g in ET.parse(sys.argv[1]).getroot().iter(ns + "g"):
    t = g.find(ns + "title")
    if t is not None:
        print(t.text)
' "$1"; }

test_expect_success 'a store with known stacks' '
	"$MKSTORE" fx.db && "$MKSTORE" hostile.db hostile && "$MKSTORE" deep.db deep
'

test_expect_success 'well-formed XML (xmllint)' '
	$SONDA export fx.db -f svg -o fx.svg &&
	xmllint --noout fx.svg
'

test_expect_success 'every frame with its samples and percent in its title' '
	titles fx.svg >got &&
	cat >expect <<-EOF &&
	all (16 samples, 100.00%)
	libc.so.6+0x1a2b (1 samples, 6.25%)
	main (app.py:10) (5 samples, 31.25%)
	a (app.py:20) (5 samples, 31.25%)
	b (lib.py:5) (3 samples, 18.75%)
	main (app.py:11) (5 samples, 31.25%)
	r (app.py:30) (5 samples, 31.25%)
	r (app.py:30) (4 samples, 25.00%)
	r (app.py:30) (4 samples, 25.00%)
	x (app.py:40) (1 samples, 6.25%)
	r (app.py:30) (1 samples, 6.25%)
	w (worker.py:7) (5 samples, 31.25%)
	b (lib.py:5) (5 samples, 31.25%)
	EOF
	test_cmp expect got
'

test_expect_success 'self-contained: no external reference, the script parses' '
	! grep -E "(href|src)=" fx.svg &&
	test "$(grep -o "http[s]*://[^\"]*" fx.svg | sort -u)" = "http://www.w3.org/2000/svg" &&
	test_grep "function zoom" fx.svg && test_grep "function search" fx.svg &&
	test_grep "Reset Zoom" fx.svg && test_grep "Matched: " fx.svg &&
	if command -v node >/dev/null; then
		python3 -c "
import re, sys
s = open(\"fx.svg\").read()
print(re.search(r\"<!\\[CDATA\\[(.*?)\\]\\]>\", s, re.S).group(1))" >script.js &&
		node --check script.js
	fi
'

test_expect_success 'root at the bottom, or at the top with --inverted; the title' '
	python3 -c "
import sys, xml.etree.ElementTree as ET
ns = \"{http://www.w3.org/2000/svg}\"
root = ET.parse(\"fx.svg\").getroot()
gs = [g for g in root.iter(ns + \"g\") if g.get(\"class\") == \"f\"]
ys = {int(g.get(\"data-d\")): float(g.find(ns + \"rect\").get(\"y\")) for g in gs}
assert ys[0] > ys[1] > ys[2], ys
" &&
	$SONDA export fx.db -f svg --inverted --title "A <b> & \"c\"" -o inv.svg &&
	xmllint --noout inv.svg &&
	test_grep "A &lt;b&gt; &amp; &quot;c&quot;" inv.svg &&
	python3 -c "
import sys, xml.etree.ElementTree as ET
ns = \"{http://www.w3.org/2000/svg}\"
root = ET.parse(\"inv.svg\").getroot()
gs = [g for g in root.iter(ns + \"g\") if g.get(\"class\") == \"f\"]
ys = {int(g.get(\"data-d\")): float(g.find(ns + \"rect\").get(\"y\")) for g in gs}
assert ys[0] < ys[1] < ys[2], ys
assert root.find(ns + \"text\").text == \"A <b> & \\\"c\\\"\"
"
'

test_expect_success 'frame widths are proportional to samples' '
	python3 -c "
import xml.etree.ElementTree as ET
ns = \"{http://www.w3.org/2000/svg}\"
gs = [g for g in ET.parse(\"fx.svg\").getroot().iter(ns + \"g\") if g.get(\"class\") == \"f\"]
w = {g.find(ns + \"title\").text: float(g.find(ns + \"rect\").get(\"width\")) for g in gs}
full = w[\"all (16 samples, 100.00%)\"]
assert abs(w[\"w (worker.py:7) (5 samples, 31.25%)\"] - full * 5 / 16) < 0.01
"
'

test_expect_success '--threads and --thread' '
	$SONDA export fx.db -f svg --threads -o thr.svg &&
	titles thr.svg | test_grep -x "thread 100 (main) (10 samples, 62.50%)" &&
	$SONDA export fx.db -f svg --thread 200 -o t200.svg &&
	titles t200.svg | test_grep -x "all (6 samples, 100.00%)"
'

test_expect_success '--by alloc: bytes' '
	$SONDA export fx.db -f svg --by alloc -o alloc.svg &&
	xmllint --noout alloc.svg &&
	titles alloc.svg >got &&
	test_grep -x "all (1300 bytes, 100.00%)" got &&
	test_grep -x "b (lib.py:5) (1000 bytes, 76.92%)" got
'

test_expect_success 'hostile names stay well-formed XML' '
	$SONDA export hostile.db -f svg -o h.svg &&
	xmllint --noout h.svg &&
	titles h.svg | test_grep "quote\"back" &&
	titles h.svg | test_grep "a<b>&.c.\\.py:1"
'

test_expect_success 'a stack 3000 frames deep' '
	$SONDA export deep.db -f svg -o deep.svg &&
	xmllint --noout --huge deep.svg &&
	test $(titles deep.svg | wc -l) = 3001
'

# The script run in jsdom (npm), when it can be installed: hover, zoom, search.
have_jsdom() {
	command -v node >/dev/null || return 1
	if [ ! -f "$NODE_DIR/node_modules/jsdom/package.json" ]; then
		command -v npm >/dev/null || return 1
		mkdir -p "$NODE_DIR" &&
		timeout 180 npm install --prefix "$NODE_DIR" --no-audit --no-fund --silent \
			jsdom >"$TRASH/npm.log" 2>&1 || return 1
	fi
	NODE_PATH=$NODE_DIR/node_modules && export NODE_PATH
}

cat >svgtest.js <<'JS'
const { JSDOM } = require('jsdom');
const fs = require('fs');
const src = fs.readFileSync(process.argv[2], 'utf8');
const dom = new JSDOM(src, { contentType: 'image/svg+xml', runScripts: 'dangerously' });
const w = dom.window, d = w.document;
const js = src.match(/<!\[CDATA\[([\s\S]*?)\]\]>/)[1]; w.eval(js + '\nwindow.init = init;'); w.init({});
const frames = [...d.querySelectorAll('g.f')];
const byTitle = t => frames.find(g => g.querySelector('title').textContent.startsWith(t));
const rect = g => g.querySelector('rect');
console.log('labels', frames.map(g => g.querySelector('text').textContent).join('|'));
// hover
byTitle('w (worker').dispatchEvent(new w.MouseEvent('mouseover', { bubbles: true }));
console.log('details:', d.getElementById('details').textContent);
// click zoom on main (app.py:11)
const m11 = byTitle('main (app.py:11)');
m11.querySelector('rect').dispatchEvent(new w.MouseEvent('click', { bubbles: true }));
console.log('zoom: m11 width', rect(m11).getAttribute('width'), 'all class', byTitle('all').getAttribute('class'), 'w class', byTitle('w (worker').getAttribute('class'));
console.log('r child widths', frames.filter(g => g.querySelector('title').textContent.startsWith('r (')).map(g => rect(g).getAttribute('width') + ':' + g.getAttribute('class')).join(' '));
// search
w.prompt = () => '^r ';
d.getElementById('search').dispatchEvent(new w.MouseEvent('click', { bubbles: true }));
console.log('matched:', d.getElementById('matched').textContent, 'matches', d.querySelectorAll('g.match').length);
d.getElementById('unzoom').dispatchEvent(new w.MouseEvent('click', { bubbles: true }));
console.log('after unzoom matched:', d.getElementById('matched').textContent, 'm11 width', rect(m11).getAttribute('width'));
w.prompt = () => 'b \\(';
d.getElementById('search').dispatchEvent(new w.MouseEvent('click', { bubbles: true })); // resets
d.getElementById('search').dispatchEvent(new w.MouseEvent('click', { bubbles: true }));
console.log('b matched:', d.getElementById('matched').textContent);
JS

if have_jsdom; then
	test_expect_success 'in a DOM: hover details, click to zoom, search with matched percent' '
		node svgtest.js fx.svg >got &&
		cat >expect <<-\EOF &&
		labels all|libc.so..|main (app.py:10)|a (app.py:20)|b (lib.py:5)|main (app.py:11)|r (app.py:30)|r (app.py:30)|r (app.py:30)|x (app...|r (app...|w (worker.py:7)|b (lib.py:5)
		details: w (worker.py:7) (5 samples, 31.25%)
		zoom: m11 width 1180 all class f parent w class f hide
		r child widths 1180:f 944:f 944:f 236:f
		matched: Matched: 100.00% (5 samples) matches 4
		after unzoom matched: Matched: 31.25% (5 samples) m11 width 368.75
		b matched: Matched: 50.00% (8 samples)
		EOF
		test_cmp expect got
	'
else
	test_skip 'in a DOM: hover details, click to zoom, search' 'node, npm or the npm package jsdom is not available'
fi

test_done
