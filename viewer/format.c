/* format.c - frame labels, JSON and XML escaping, and fitting text to a terminal width. */
#include "config.h"

#include "viewer/viewer.h"

#include <langinfo.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <unistd.h>

int view_frame_label(const struct store_profile *p, uint32_t frame, char *buf, size_t n)
{
	const struct store_frame *fr;
	const char *fn, *file;

	if (frame >= store_nframes(p))
		frame = 0;
	fr = store_frame_get(p, frame);
	fn = store_string(p, fr->function);
	file = store_string(p, fr->file);
	if (!*fn)
		fn = "[unknown]";
	/* Without a line the file says little a flame graph needs: as folded
	 * stacks have it, "function" alone. */
	if (!*file || fr->line <= 0)
		return snprintf(buf, n, "%s", fn);
	return snprintf(buf, n, "%s (%s:%d)", fn, file, (int)fr->line);
}

/* Length of the valid UTF-8 sequence at s (1-4) with its code point in
 * *cp, or 0 when the bytes are not valid UTF-8 (overlong forms, surrogates
 * and code points past U+10FFFF included). */
static int utf8_decode(const unsigned char *s, uint32_t *cp)
{
	uint32_t c = s[0], min;
	int n, i;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if ((c & 0xe0) == 0xc0) {
		n = 2, c &= 0x1f, min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		n = 3, c &= 0x0f, min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		n = 4, c &= 0x07, min = 0x10000;
	} else {
		return 0;
	}
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

void view_json_string(FILE *f, const char *s)
{
	const unsigned char *u = (const unsigned char *)(s ? s : "");

	putc('"', f);
	while (*u) {
		uint32_t cp;
		int n = utf8_decode(u, &cp);

		if (!n) {
			fputs("\\ufffd", f);
			u++;
			continue;
		}
		if (cp == '"' || cp == '\\') {
			putc('\\', f);
			putc((int)cp, f);
		} else if (cp == '\n') {
			fputs("\\n", f);
		} else if (cp == '\t') {
			fputs("\\t", f);
		} else if (cp == '\r') {
			fputs("\\r", f);
		} else if (cp < 0x20 || cp == 0x7f || cp == 0x2028 || cp == 0x2029) {
			/* U+2028/2029 are valid JSON but break JavaScript that embeds it. */
			fprintf(f, "\\u%04x", (unsigned)cp);
		} else {
			fwrite(u, 1, (size_t)n, f);
		}
		u += n;
	}
	putc('"', f);
}

void view_xml_string(FILE *f, const char *s)
{
	const unsigned char *u = (const unsigned char *)(s ? s : "");

	while (*u) {
		uint32_t cp;
		int n = utf8_decode(u, &cp);

		if (!n) {
			fputs("\xef\xbf\xbd", f);
			u++;
			continue;
		}
		switch (cp) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&apos;", f); break;
		default:
			/* XML 1.0 allows tab, newline, carriage return and nothing
			 * else below 0x20, nor U+FFFE/U+FFFF. */
			if ((cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') ||
			    cp == 0xfffe || cp == 0xffff)
				fputs("\xef\xbf\xbd", f);
			else
				fwrite(u, 1, (size_t)n, f);
		}
		u += n;
	}
}

size_t view_text_width(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t w = 0;

	while (*u) {
		uint32_t cp;
		int n = utf8_decode(u, &cp);

		u += n ? n : 1;
		w++;
	}
	return w;
}

/* Writes one column's worth of s at *u, invalid bytes and control
 * characters as '?', so a hostile name cannot drive the terminal. */
static const unsigned char *put_char(FILE *f, const unsigned char *u)
{
	uint32_t cp;
	int n = utf8_decode(u, &cp);

	if (!n || cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0)) {
		putc('?', f);
		return u + (n ? n : 1);
	}
	fwrite(u, 1, (size_t)n, f);
	return u + n;
}

void view_text_fit(FILE *f, const char *s, size_t width, int utf8, int pad)
{
	const unsigned char *u = (const unsigned char *)(s ? s : "");
	size_t w = view_text_width((const char *)u), dots = utf8 ? 1 : 3, i;

	if (w <= width) {
		while (*u)
			u = put_char(f, u);
		for (; pad && w < width; w++)
			putc(' ', f);
		return;
	}
	if (width <= dots) {
		for (i = 0; i < width; i++)
			putc('.', f);
		return;
	}
	for (i = 0; i < width - dots; i++)
		u = put_char(f, u);
	fputs(utf8 ? "\xe2\x80\xa6" : "...", f);
}

int view_term_width(int fd)
{
	const char *env = getenv("COLUMNS");
	struct winsize ws;

	if (env && *env) {
		long v = strtol(env, NULL, 10);

		if (v > 0 && v < 100000)
			return (int)v;
	}
	if (isatty(fd) && ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	return isatty(fd) ? 80 : 0;
}

int view_term_utf8(void)
{
	const char *cs;

	setlocale(LC_CTYPE, "");
	cs = nl_langinfo(CODESET);
	return cs && (!strcasecmp(cs, "UTF-8") || !strcasecmp(cs, "utf8"));
}
