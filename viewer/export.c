/* export.c - the exporters by name: folded, svg, speedscope, chrome, pprof. */
#include "config.h"

#include "viewer/viewer.h"

#include <string.h>

static const char *const format_names[] = { "folded", "svg", "speedscope", "chrome", "pprof" };

int view_format_parse(const char *name, enum view_format *fmt)
{
	for (int i = 0; i < 5; i++) {
		if (!strcmp(name, format_names[i])) {
			*fmt = (enum view_format)i;
			return 0;
		}
	}
	return -1;
}

int view_export(FILE *f, const struct store_profile *p, enum view_format fmt,
		const struct view_export_opts *o, char *err, size_t errlen)
{
	switch (fmt) {
	case VIEW_FORMAT_FOLDED: return view_export_folded(f, p, o, err, errlen);
	case VIEW_FORMAT_SVG: return view_export_svg(f, p, o, err, errlen);
	case VIEW_FORMAT_SPEEDSCOPE: return view_export_speedscope(f, p, o, err, errlen);
	case VIEW_FORMAT_CHROME: return view_export_chrome(f, p, o, err, errlen);
	case VIEW_FORMAT_PPROF: return view_export_pprof(f, p, o, err, errlen);
	}
	snprintf(err, errlen, "unknown export format");
	return -1;
}
