/* linetable.c - instruction offset to line number, for each CPython line table format.
 *
 * The tables come from target memory: every decoder stays inside n bytes,
 * whatever they hold (tests/unit/test-linetable.c feeds them random bytes).
 */
#include "config.h"

#include "profiler/python/python.h"

/* 2.7 - 3.9 co_lnotab: (address delta, line delta) byte pairs; line deltas
 * are signed from 3.6.  at is a byte offset. */
int py_lnotab_line(const unsigned char *t, size_t n, int firstlineno, int at, int signed_deltas)
{
	int line = firstlineno, addr = 0;

	for (size_t i = 0; i + 1 < n; i += 2) {
		addr += t[i];
		if (addr > at)
			break;
		line += signed_deltas ? (int)(signed char)t[i + 1] : (int)t[i + 1];
	}
	return line;
}

/* 3.10 co_linetable: (address delta, line delta) pairs where each entry
 * covers [start, start + delta) and a line delta of -128 means "no line".
 * at is a byte offset. */
int py_linetable310_line(const unsigned char *t, size_t n, int firstlineno, int at)
{
	int line = firstlineno, start = 0, end = 0, last = firstlineno;

	for (size_t i = 0; i + 1 < n; i += 2) {
		int ldelta = (signed char)t[i + 1];

		start = end;
		end += t[i];
		if (ldelta != -128) {
			line += ldelta;
			last = line;
		}
		if (start != end && at >= start && at < end)
			return ldelta == -128 ? last : line;
	}
	return last;
}

static int read_varint(const unsigned char *t, size_t n, size_t *i, unsigned *out)
{
	unsigned v = 0, shift = 0;

	for (;;) {
		unsigned b;

		if (*i >= n || shift > 28)
			return -1;
		b = t[(*i)++];
		v |= (b & 63) << shift;
		shift += 6;
		if (!(b & 64))
			break;
	}
	*out = v;
	return 0;
}

static int read_svarint(const unsigned char *t, size_t n, size_t *i, int *out)
{
	unsigned v;

	if (read_varint(t, n, i, &v) < 0)
		return -1;
	*out = (v & 1) ? -(int)(v >> 1) : (int)(v >> 1);
	return 0;
}

/* 3.11+ co_linetable (the location table): entries start with a byte
 * 1CCCCLLL (code, length - 1 in code units) followed by code-specific
 * bytes.  Only the line matters here.  at is a code unit index. */
int py_locations_line(const unsigned char *t, size_t n, int firstlineno, int at)
{
	int line = firstlineno, addr = 0, last = firstlineno;
	size_t i = 0;

	while (i < n) {
		unsigned b = t[i++], code, skip = 0, v;
		int delta = 0, length;

		if (!(b & 128))
			return last;	/* not at an entry start: corrupt */
		code = (b >> 3) & 15;
		length = (int)(b & 7) + 1;
		if (code == 15) {
			delta = 0;
		} else if (code == 14) {
			if (read_svarint(t, n, &i, &delta) < 0)
				return last;
			skip = 3;
		} else if (code == 13) {
			if (read_svarint(t, n, &i, &delta) < 0)
				return last;
		} else if (code >= 10) {
			delta = (int)code - 10;
			i += 2;
		} else {
			i += 1;
		}
		for (unsigned k = 0; k < skip; k++)
			if (read_varint(t, n, &i, &v) < 0)
				return last;
		if (delta < -(1 << 24) || delta > (1 << 24))
			return last;
		line += delta;
		if (code != 15)
			last = line;
		if (at >= addr && at < addr + length)
			return code == 15 ? last : line;
		addr += length;
	}
	return last;
}
