/* export-svg.c - a self-contained interactive flame graph in SVG: hover, zoom, search, no network. */
#include "config.h"

#include "viewer/viewer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define SVG_WIDTH 1200
#define SVG_PAD 10		/* left and right margins */
#define FRAME_H 16
#define FONT_SIZE 12
#define TOP 44			/* title and buttons */
#define BOTTOM 28		/* details line */
#define MIN_PX 0.1		/* frames narrower than this are left out */

/*
 * The script only moves frames sideways: every frame carries its offset
 * and width in the profile's own units (data-x, data-w) and its depth
 * (data-d), so zooming rescales x and width and leaves y alone, which is
 * why the same code serves the flame (root at the bottom) and the icicle
 * (--inverted, root at the top).  The name and the numbers a user reads
 * sit in each frame's <title>: "NAME (N samples, P%)".
 */
static const char svg_script[] =
	"var W = %d, PAD = %d, TOTAL = %s, UNIT = '%s', fontw = %g;\n"
	"var frames, details, matched, unzoombtn, searchbtn, zoomed = null, current_re = null;\n"
	"function init(evt) {\n"
	"  frames = document.getElementById('frames');\n"
	"  details = document.getElementById('details').firstChild;\n"
	"  matched = document.getElementById('matched').firstChild;\n"
	"  unzoombtn = document.getElementById('unzoom');\n"
	"  searchbtn = document.getElementById('search');\n"
	"  frames.addEventListener('mouseover', function(e) { var g = frame_of(e.target);\n"
	"    if (g) details.nodeValue = g.getElementsByTagName('title')[0].firstChild.nodeValue; });\n"
	"  frames.addEventListener('mouseout', function(e) { details.nodeValue = ' '; });\n"
	"  frames.addEventListener('click', function(e) { var g = frame_of(e.target);\n"
	"    if (g) zoom(g); });\n"
	"  unzoombtn.addEventListener('click', function() { unzoom(); });\n"
	"  searchbtn.addEventListener('click', function() { search_prompt(); });\n"
	"  window.addEventListener('keydown', function(e) {\n"
	"    if (e.keyCode === 114 || ((e.ctrlKey || e.metaKey) && e.keyCode === 70)) {\n"
	"      e.preventDefault(); search_prompt(); }\n"
	"    else if (e.keyCode === 27) { reset_search(); unzoom(); } });\n"
	"  relabel();\n"
	"}\n"
	"function frame_of(t) { while (t && t !== frames) {\n"
	"  if (t.classList && t.classList.contains('f')) return t; t = t.parentNode; } return null; }\n"
	"function num(g, a) { return parseFloat(g.getAttribute(a)); }\n"
	"function name_of(g) { var t = g.getElementsByTagName('title')[0].firstChild.nodeValue;\n"
	"  var i = t.lastIndexOf(' ('); return i < 0 ? t : t.substring(0, i); }\n"
	"function fit(g) { var r = g.getElementsByTagName('rect')[0], t = g.getElementsByTagName('text')[0];\n"
	"  var w = parseFloat(r.getAttribute('width')), name = name_of(g);\n"
	"  t.setAttribute('x', parseFloat(r.getAttribute('x')) + 3);\n"
	"  var n = Math.floor((w - 6) / fontw);\n"
	"  if (n < 3) { t.textContent = ''; return; }\n"
	"  t.textContent = name.length <= n ? name : name.substring(0, n - 2) + '..'; }\n"
	"function relabel() { var gs = frames.children; for (var i = 0; i < gs.length; i++) fit(gs[i]); }\n"
	"function place(g, x, w) { var r = g.getElementsByTagName('rect')[0];\n"
	"  r.setAttribute('x', PAD + x); r.setAttribute('width', Math.max(w, 0)); }\n"
	"function zoom(z) {\n"
	"  var zx = num(z, 'data-x'), zw = num(z, 'data-w'), zd = num(z, 'data-d');\n"
	"  if (zw <= 0) return;\n"
	"  var scale = W / zw, gs = frames.children;\n"
	"  zoomed = z; unzoombtn.classList.remove('hide');\n"
	"  for (var i = 0; i < gs.length; i++) { var g = gs[i];\n"
	"    var x = num(g, 'data-x'), w = num(g, 'data-w'), d = num(g, 'data-d');\n"
	"    g.classList.remove('parent'); g.classList.remove('hide');\n"
	"    if (d < zd && x <= zx && x + w >= zx + zw) { place(g, 0, W); g.classList.add('parent'); }\n"
	"    else if (d >= zd && x >= zx && x + w <= zx + zw) place(g, (x - zx) * scale, w * scale);\n"
	"    else g.classList.add('hide'); }\n"
	"  relabel(); if (current_re) search(current_re);\n"
	"}\n"
	"function unzoom() { var gs = frames.children, scale = W / TOTAL;\n"
	"  zoomed = null; unzoombtn.classList.add('hide');\n"
	"  for (var i = 0; i < gs.length; i++) { var g = gs[i];\n"
	"    g.classList.remove('parent'); g.classList.remove('hide');\n"
	"    place(g, num(g, 'data-x') * scale, num(g, 'data-w') * scale); }\n"
	"  relabel(); if (current_re) search(current_re); }\n"
	"function search_prompt() {\n"
	"  if (current_re) { reset_search(); return; }\n"
	"  var term = prompt('Search for (regular expression):', '');\n"
	"  if (term === null || term === '') return;\n"
	"  var re; try { re = new RegExp(term); } catch (err) { alert(err.message); return; }\n"
	"  search(re); }\n"
	"function reset_search() { var gs = frames.children; current_re = null;\n"
	"  for (var i = 0; i < gs.length; i++) gs[i].classList.remove('match');\n"
	"  matched.nodeValue = ' '; searchbtn.firstChild.nodeValue = 'Search'; }\n"
	"function search(re) {\n"
	"  var gs = frames.children, hits = [], base = TOTAL, zx = 0;\n"
	"  current_re = re;\n"
	"  if (zoomed) { base = num(zoomed, 'data-w'); zx = num(zoomed, 'data-x'); }\n"
	"  for (var i = 0; i < gs.length; i++) { var g = gs[i], ok = re.test(name_of(g));\n"
	"    g.classList.toggle('match', ok);\n"
	"    if (!ok || g.classList.contains('hide') || g.classList.contains('parent')) continue;\n"
	"    hits.push([num(g, 'data-x'), num(g, 'data-w')]); }\n"
	"  hits.sort(function(a, b) { return a[0] - b[0] || b[1] - a[1]; });\n"
	"  var sum = 0, end = -1;\n"
	"  for (var j = 0; j < hits.length; j++) if (hits[j][0] >= end) {\n"
	"    sum += hits[j][1]; end = hits[j][0] + hits[j][1]; }\n"
	"  var pct = base > 0 ? 100 * sum / base : 0;\n"
	"  matched.nodeValue = 'Matched: ' + pct.toFixed(2) + '%% (' + sum + ' ' + UNIT + ')';\n"
	"  searchbtn.firstChild.nodeValue = 'Reset Search'; }\n";

static const char svg_style[] =
	"text { font-family: Verdana, sans-serif; font-size: %dpx; fill: #000; }\n"
	"#title { font-size: 17px; text-anchor: middle; }\n"
	"#unzoom, #search { cursor: pointer; fill: #335; }\n"
	"#unzoom:hover, #search:hover { text-decoration: underline; }\n"
	"#matched { text-anchor: end; }\n"
	".f { cursor: pointer; }\n"
	".f:hover rect { stroke: #000; stroke-width: 0.5; }\n"
	".f text { pointer-events: none; }\n"
	".hide { display: none; }\n"
	".parent { opacity: 0.5; }\n"
	".match rect { fill: #e040e0 !important; }\n";

static uint32_t hash_name(const char *s)
{
	uint32_t h = 2166136261u;

	/* The function part only, so the lines of one function share a colour. */
	for (; *s && *s != ' '; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* Colours by kind: warm for native code, green-yellow for Python, orange
 * for the kernel, blue for tracer tasks, grey for the root and threads. */
static void frame_colour(const struct store_profile *p, const struct view_flame_node *n,
			 char *buf, size_t len)
{
	uint32_t h = hash_name(n->name);
	double v1 = (h & 0xff) / 255.0, v2 = ((h >> 8) & 0xff) / 255.0;
	uint32_t kind = n->frame && n->frame < store_nframes(p) ?
			store_frame_get(p, n->frame)->kind : STORE_KIND_UNKNOWN;
	int r, g, b;

	if (n->depth == 0 || !n->frame) {
		r = g = b = 200 + (int)(30 * v1);
	} else if (kind == STORE_KIND_PYTHON) {
		r = 150 + (int)(80 * v1), g = 200 + (int)(40 * v2), b = 60 + (int)(40 * v1);
	} else if (kind == STORE_KIND_KERNEL) {
		r = 230, g = 130 + (int)(60 * v1), b = 40 + (int)(30 * v2);
	} else if (kind == STORE_KIND_TASK) {
		r = 80 + (int)(60 * v1), g = 140 + (int)(60 * v2), b = 230;
	} else {
		r = 205 + (int)(50 * v1), g = (int)(200 * v2), b = (int)(55 * v1);
	}
	snprintf(buf, len, "rgb(%d,%d,%d)", r, g, b);
}

static const char *unit_name(enum view_weight w)
{
	switch (w) {
	case VIEW_WEIGHT_ALLOC_BYTES:
	case VIEW_WEIGHT_LIVE_BYTES: return "bytes";
	case VIEW_WEIGHT_ALLOCS: return "allocations";
	default: return "samples";
	}
}

/* The label a frame of pw pixels shows before any script runs: as many
 * characters as fit, cut with "..", as the script's fit() does. */
static void put_label(FILE *f, const char *name, double pw)
{
	double room = (pw - 6) / (FONT_SIZE * 0.59);
	size_t n = room > 0 ? (size_t)room : 0, len, cut = 0, chars = 0;
	char *buf;

	if (n < 3)
		return;
	if (view_text_width(name) <= n) {
		view_xml_string(f, name);
		return;
	}
	len = strlen(name);
	/* n - 2 characters: stop before the lead byte of the next one. */
	while (cut < len) {
		if (((unsigned char)name[cut] & 0xc0) != 0x80 && chars++ == n - 2)
			break;
		cut++;
	}
	buf = strndup(name, cut);
	if (!buf)
		return;
	view_xml_string(f, buf);
	fputs("..", f);
	free(buf);
}

static void put_frame(FILE *f, const struct store_profile *p, const struct view_flame *t,
		      uint32_t node, uint64_t x, double scale, int height, int inverted,
		      const char *unit)
{
	const struct view_flame_node *n = &t->nodes[node];
	double px = SVG_PAD + (double)x * scale, pw = (double)n->value * scale;
	double y = inverted ? TOP + (double)n->depth * FRAME_H :
			      height - BOTTOM - (double)(n->depth + 1) * FRAME_H;
	char colour[32];

	frame_colour(p, n, colour, sizeof(colour));
	fprintf(f, "<g class=\"f\" data-x=\"%llu\" data-w=\"%llu\" data-d=\"%u\"><title>",
		(unsigned long long)x, (unsigned long long)n->value, n->depth);
	view_xml_string(f, n->name);
	fprintf(f, " (%llu %s, %.2f%%)</title><rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" "
		"height=\"%d\" fill=\"%s\" rx=\"2\" ry=\"2\"/><text x=\"%.2f\" y=\"%.1f\">",
		(unsigned long long)n->value, unit,
		t->nodes[0].value ? 100.0 * (double)n->value / (double)t->nodes[0].value : 0.0,
		px, y, pw, FRAME_H - 1, colour, px + 3, y + FRAME_H - 4.5);
	put_label(f, n->name, pw);
	fputs("</text></g>\n", f);
}

/* Every frame wide enough to see, depth first; x is each frame's offset
 * in the profile's units from the left edge. */
static int put_frames(FILE *f, const struct store_profile *p, const struct view_flame *t,
		      double scale, int height, int inverted, const char *unit)
{
	uint64_t *xs = calloc(t->max_depth + 2, sizeof(*xs));
	uint32_t node = 0;

	if (!xs)
		return -1;
	while (!ferror(f)) {
		const struct view_flame_node *n = &t->nodes[node];
		uint64_t x = xs[n->depth];

		if ((double)n->value * scale >= MIN_PX) {
			put_frame(f, p, t, node, x, scale, height, inverted, unit);
			if (n->first_child) {
				xs[n->depth + 1] = x;
				node = n->first_child;
				continue;
			}
		}
		/* Next sibling, or the next sibling of the nearest ancestor that has one. */
		while (node && !t->nodes[node].next_sibling)
			node = t->nodes[node].parent;
		if (!node)
			break;
		xs[t->nodes[node].depth] += t->nodes[node].value;
		node = t->nodes[node].next_sibling;
	}
	free(xs);
	return 0;
}

int view_export_svg(FILE *f, const struct store_profile *p, const struct view_export_opts *o,
		    char *err, size_t errlen)
{
	enum view_weight w = o ? o->weight : VIEW_WEIGHT_SAMPLES;
	int inverted = o && o->inverted;
	const char *title = o && o->title ? o->title : inverted ? "Icicle Graph" : "Flame Graph";
	const char *unit = unit_name(w);
	struct view_flame t;
	int height, plot = SVG_WIDTH - 2 * SVG_PAD;
	double scale;
	char total[32];

	if (view_flame_build(&t, p, o ? o->filter : NULL, w, o && o->threads) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	height = TOP + BOTTOM + (int)(t.max_depth + 1) * FRAME_H;
	scale = t.nodes[0].value ? (double)plot / (double)t.nodes[0].value : 0;
	snprintf(total, sizeof(total), "%llu", (unsigned long long)(t.nodes[0].value ?
								      t.nodes[0].value : 1));
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n"
		"<svg version=\"1.1\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
		"xmlns=\"http://www.w3.org/2000/svg\" onload=\"init(evt)\">\n"
		"<!-- written by sonda " PACKAGE_VERSION " -->\n<style type=\"text/css\">\n",
		SVG_WIDTH, height, SVG_WIDTH, height);
	fprintf(f, svg_style, FONT_SIZE);
	fputs("</style>\n<script type=\"text/ecmascript\"><![CDATA[\n", f);
	fprintf(f, svg_script, plot, SVG_PAD, total, unit, FONT_SIZE * 0.59);
	fprintf(f, "]]></script>\n"
		"<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#f6f6f2\"/>\n"
		"<text id=\"title\" x=\"%d\" y=\"24\">", SVG_WIDTH, height, SVG_WIDTH / 2);
	view_xml_string(f, title);
	fprintf(f, "</text>\n"
		"<text id=\"unzoom\" class=\"hide\" x=\"%d\" y=\"24\">Reset Zoom</text>\n"
		"<text id=\"search\" x=\"%d\" y=\"24\">Search</text>\n"
		"<text id=\"details\" x=\"%d\" y=\"%d\"> </text>\n"
		"<text id=\"matched\" x=\"%d\" y=\"%d\"> </text>\n"
		"<g id=\"frames\">\n",
		SVG_PAD, SVG_WIDTH - SVG_PAD - 60, SVG_PAD, height - 9, SVG_WIDTH - SVG_PAD,
		height - 9);
	if (put_frames(f, p, &t, scale, height, inverted, unit) < 0) {
		view_flame_free(&t);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	fputs("</g>\n</svg>\n", f);
	view_flame_free(&t);
	if (fflush(f) != 0 || ferror(f)) {
		snprintf(err, errlen, "write error: %s", strerror(errno));
		return -1;
	}
	return 0;
}
