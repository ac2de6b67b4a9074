/* cache.c - code objects (names, file, line table) cached by address, validated on each use.
 *
 * A code object is re-read only when its header changed: each sample reads
 * the few header words (type, name, qualname, filename, line table
 * pointers, first line) as part of its batched read and compares them with
 * what the entry was built from.  Names, file and line table are immutable
 * while the object lives, so matching pointers mean a matching entry; a
 * freed and reused address shows up as a different header.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "profiler/python/python.h"

#define MAX_CODES 65536
#define MAX_STRING 4096
#define MAX_LINETABLE (1u << 20)
#define NAME_MAX_BYTES 512

struct py_cache {
	const struct py_offsets *o;
	const struct py_target *t;
	struct py_code **tab;
	size_t cap, n;
	uint64_t serial;
	size_t head_len;
	int fields[5];
	int nfields;
};

static uint64_t get_u64(const unsigned char *p, int off)
{
	uint64_t v;

	memcpy(&v, p + off, sizeof(v));
	return v;
}

static int32_t get_i32(const unsigned char *p, int off)
{
	int32_t v;

	memcpy(&v, p + off, sizeof(v));
	return v;
}

struct py_cache *py_cache_new(const struct py_offsets *o, const struct py_target *t)
{
	struct py_cache *c = calloc(1, sizeof(*c));
	int fields[] = { o->code_name, o->code_qualname, o->code_filename, o->code_linetable };
	size_t end = (size_t)o->ob_type + 8;

	if (!c)
		return NULL;
	c->o = o;
	c->t = t;
	c->cap = 1024;
	c->tab = calloc(c->cap, sizeof(*c->tab));
	if (!c->tab) {
		free(c);
		return NULL;
	}
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		if (fields[i] < 0)
			continue;
		c->fields[c->nfields++] = fields[i];
		if ((size_t)fields[i] + 8 > end)
			end = (size_t)fields[i] + 8;
	}
	if ((size_t)o->code_firstlineno + 4 > end)
		end = (size_t)o->code_firstlineno + 4;
	for (size_t i = 0; i < 3; i++) {
		int f = i == 0 ? o->code_framesize : i == 1 ? o->code_nlocalsplus : o->code_stacksize;

		if (f >= 0 && (size_t)f + 4 > end)
			end = (size_t)f + 4;
	}
	c->head_len = end < sizeof(((struct py_code *)0)->head) ? end : sizeof(((struct py_code *)0)->head);
	return c;
}

static void code_free(struct py_code *code)
{
	if (!code)
		return;
	free(code->name);
	free(code->file);
	free(code->linetable);
	free(code);
}

static void flush(struct py_cache *c)
{
	for (size_t i = 0; i < c->cap; i++) {
		code_free(c->tab[i]);
		c->tab[i] = NULL;
	}
	c->n = 0;
}

void py_cache_free(struct py_cache *c)
{
	if (!c)
		return;
	flush(c);
	free(c->tab);
	free(c);
}

void py_cache_begin(struct py_cache *c)
{
	if (c->n + 64 >= MAX_CODES)
		flush(c);
}

static size_t slot_of(const struct py_cache *c, uint64_t addr)
{
	size_t h = (size_t)((addr * 0x9E3779B97F4A7C15ull) >> 32) & (c->cap - 1);

	while (c->tab[h] && c->tab[h]->addr != addr)
		h = (h + 1) & (c->cap - 1);
	return h;
}

static int grow(struct py_cache *c)
{
	struct py_code **old = c->tab;
	size_t oldcap = c->cap;

	if (c->n + 1 >= MAX_CODES)
		return -1;	/* py_cache_begin empties it before the next sample */
	c->tab = calloc(oldcap * 2, sizeof(*c->tab));
	if (!c->tab) {
		c->tab = old;
		return -1;
	}
	c->cap = oldcap * 2;
	for (size_t i = 0; i < oldcap; i++)
		if (old[i])
			c->tab[slot_of(c, old[i]->addr)] = old[i];
	free(old);
	return 0;
}

/* Writes code point cp as UTF-8; returns bytes written (0 when no room). */
static size_t put_utf8(char *out, size_t room, uint32_t cp)
{
	if (cp < 0x80 && room >= 1) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800 && room >= 2) {
		out[0] = (char)(0xC0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 63));
		return 2;
	}
	if ((cp < 0xD800 || (cp > 0xDFFF && cp < 0x10000)) && room >= 3) {
		out[0] = (char)(0xE0 | cp >> 12);
		out[1] = (char)(0x80 | (cp >> 6 & 63));
		out[2] = (char)(0x80 | (cp & 63));
		return 3;
	}
	if (cp >= 0x10000 && cp <= 0x10FFFF && room >= 4) {
		out[0] = (char)(0xF0 | cp >> 18);
		out[1] = (char)(0x80 | (cp >> 12 & 63));
		out[2] = (char)(0x80 | (cp >> 6 & 63));
		out[3] = (char)(0x80 | (cp & 63));
		return 4;
	}
	if (cp >= 0xD800 && cp <= 0xDFFF && room >= 3)
		return put_utf8(out, room, 0xFFFD);
	return 0;
}

/* The object's payload: data at off, n bytes, fetched in one read when it fits. */
static const unsigned char *fetch_payload(struct py_mem *m, uint64_t addr, size_t off, size_t n,
					  const unsigned char *first, size_t got)
{
	if (off + n <= got)
		return first + off;
	return py_mem_fetch(m, addr + off, n, PY_FETCH_ONCE);
}

int py_read_string(struct py_mem *m, const struct py_offsets *o, const struct py_target *t,
		   uint64_t addr, char *buf, size_t len)
{
	size_t got, head = o->major == 2 ? (size_t)o->bytes_data : (size_t)o->unicode_compact_size;
	const unsigned char *p = py_mem_fetch_upto(m, addr, head + 128, &got, PY_FETCH_ONCE);
	const unsigned char *data;
	size_t n, kind = 1, off, w = 0;
	int64_t length;

	buf[0] = '\0';
	if (!p || got < head || len < 8)
		return -1;
	if (t->unicode_type && get_u64(p, o->ob_type) != t->unicode_type)
		return -1;
	if (o->major == 2) {
		length = (int64_t)get_u64(p, o->var_size);
		off = (size_t)o->bytes_data;
	} else {
		uint32_t state = (uint32_t)get_i32(p, o->unicode_state);

		length = (int64_t)get_u64(p, o->unicode_length);
		kind = state >> 2 & 7;
		if (!(state >> 5 & 1) || (kind != 1 && kind != 2 && kind != 4))
			return -1;	/* a legacy string: never a code object's name */
		off = (state >> 6 & 1) ? (size_t)o->unicode_ascii_size : (size_t)o->unicode_compact_size;
	}
	if (length < 0 || length > MAX_STRING)
		return -1;
	n = (size_t)length * kind;
	data = fetch_payload(m, addr, off, n, p, got);
	if (!data)
		return -1;
	for (size_t i = 0; i < (size_t)length; i++) {
		uint32_t cp = kind == 1 ? data[i] : kind == 2 ? (uint32_t)(data[2 * i] | data[2 * i + 1] << 8)
			    : (uint32_t)get_i32(data, (int)(4 * i));
		size_t k = put_utf8(buf + w, len - 1 - w, cp);

		if (k == 0)
			break;
		w += k;
	}
	buf[w] = '\0';
	return 0;
}

static int read_bytes(struct py_mem *m, const struct py_offsets *o, const struct py_target *t,
		      uint64_t addr, unsigned char **out, size_t *outlen)
{
	size_t got, head = (size_t)o->bytes_data;
	const unsigned char *p = py_mem_fetch_upto(m, addr, head + 512, &got, PY_FETCH_ONCE);
	const unsigned char *data;
	int64_t n;

	if (!p || got < head)
		return -1;
	if (t->bytes_type && get_u64(p, o->ob_type) != t->bytes_type)
		return -1;
	n = (int64_t)get_u64(p, o->var_size);
	if (n < 0 || n > MAX_LINETABLE)
		return -1;
	data = fetch_payload(m, addr, head, (size_t)n, p, got);
	if (!data && n > 0)
		return -1;
	*out = malloc((size_t)n + 1);
	if (!*out)
		return -1;
	if (n > 0)
		memcpy(*out, data, (size_t)n);
	*outlen = (size_t)n;
	return 0;
}

static int same_head(const struct py_cache *c, const struct py_code *code, const unsigned char *head)
{
	for (int i = 0; i < c->nfields; i++)
		if (get_u64(code->head, c->fields[i]) != get_u64(head, c->fields[i]))
			return 0;
	return get_i32(code->head, c->o->code_firstlineno) == get_i32(head, c->o->code_firstlineno);
}

/* What a frame of this code takes on a 3.11+ data stack (0: unknown). */
static int64_t frame_bytes(const struct py_offsets *o, const unsigned char *head)
{
	int64_t words = -1;

	if (o->code_framesize >= 0)
		words = get_i32(head, o->code_framesize);
	else if (o->code_nlocalsplus >= 0 && o->code_stacksize >= 0 && o->frame_specials >= 0)
		words = (int64_t)get_i32(head, o->code_nlocalsplus) + get_i32(head, o->code_stacksize) +
			o->frame_specials;
	return words > 0 && words < (1 << 20) ? words * 8 : 0;
}

static int ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), k = strlen(tail);

	return n >= k && !strcmp(s + n - k, tail);
}

static int is_bootstrap(const char *name, const char *file)
{
	return ends_with(name, "_bootstrap_inner") && ends_with(file, "threading.py");
}

static struct py_code *build(struct py_cache *c, struct py_mem *m, uint64_t addr,
			     const unsigned char *head)
{
	const struct py_offsets *o = c->o;
	struct py_code *code = calloc(1, sizeof(*code));
	char name[NAME_MAX_BYTES], file[NAME_MAX_BYTES];
	int r = -1;

	if (!code)
		return NULL;
	if (o->code_qualname >= 0)
		r = py_read_string(m, o, c->t, get_u64(head, o->code_qualname), name, sizeof(name));
	if (r < 0)
		r = py_read_string(m, o, c->t, get_u64(head, o->code_name), name, sizeof(name));
	if (r < 0 || py_read_string(m, o, c->t, get_u64(head, o->code_filename), file, sizeof(file)) < 0 ||
	    read_bytes(m, o, c->t, get_u64(head, o->code_linetable), &code->linetable,
		       &code->linetable_len) < 0) {
		code_free(code);
		return NULL;
	}
	code->name = strdup(name);
	code->file = strdup(file);
	if (!code->name || !code->file) {
		code_free(code);
		return NULL;
	}
	code->addr = addr;
	code->serial = ++c->serial;
	code->bootstrap = is_bootstrap(code->name, code->file);
	code->framesize = frame_bytes(o, head);
	code->firstlineno = get_i32(head, o->code_firstlineno);
	memcpy(code->head, head, c->head_len);
	code->head_len = c->head_len;
	for (int i = 0; i < 4; i++)
		code->memo_at[i] = -2;
	return code;
}

struct py_code *py_cache_code(struct py_cache *c, struct py_mem *m, uint64_t addr)
{
	const unsigned char *head = py_mem_fetch(m, addr, c->head_len, PY_FETCH_PLAN | PY_FETCH_KEEP);
	struct py_code *code;
	size_t h;

	if (!head || get_u64(head, c->o->ob_type) != c->t->code_type)
		return NULL;
	h = slot_of(c, addr);
	if (c->tab[h] && same_head(c, c->tab[h], head))
		return c->tab[h];
	code = build(c, m, addr, head);
	if (!code)
		return NULL;
	if (c->tab[h]) {
		code_free(c->tab[h]);
		c->tab[h] = code;
		return code;
	}
	if ((c->n + 1) * 2 > c->cap && grow(c) < 0) {
		code_free(code);
		return NULL;
	}
	h = slot_of(c, addr);
	c->tab[h] = code;
	c->n++;
	return code;
}

int py_code_line(struct py_code *code, const struct py_offsets *o, int at)
{
	int line;

	for (int i = 0; i < 4; i++)
		if (code->memo_at[i] == at)
			return code->memo_line[i];
	if (at < 0)
		line = code->firstlineno;
	else if (o->major == 2 || o->minor <= 9)
		line = py_lnotab_line(code->linetable, code->linetable_len, code->firstlineno, at,
				      o->major == 3);
	else if (o->minor == 10)
		line = py_linetable310_line(code->linetable, code->linetable_len, code->firstlineno, at);
	else
		line = py_locations_line(code->linetable, code->linetable_len, code->firstlineno, at);
	code->memo_at[code->memo_next & 3] = at;
	code->memo_line[code->memo_next & 3] = line;
	code->memo_next++;
	return line;
}
