/* names.c - Python's own thread names (threading.Thread.name), read from the Thread object behind a thread's bottom frames.
 *
 * A thread started by threading runs Thread._bootstrap(self) ->
 * _bootstrap_inner(self) at the bottom of its stack, so that frame's first
 * local is the Thread object; its name is the instance attribute _name
 * (_Thread__name on 2.7).  Instance attributes live in a dict (tp_dictoffset,
 * up to 3.10), or from 3.11 in values managed by the interpreter, laid out
 * by the type's cached keys: before the object (3.11, 3.12, a tagged
 * pointer on 3.12) or inline after it (3.13).  Every length and count read
 * here is bounded; a read that fails gives no name (the caller keeps comm).
 */
#include "config.h"

#include <string.h>

#include "profiler/python/python.h"

#define MAX_ENTRIES 1024	/* attributes of one object, at most */
#define MANAGED_DICT (1ull << 4)	/* Py_TPFLAGS_MANAGED_DICT, 3.11+ */
#define INLINE_VALUES (1ull << 2)	/* Py_TPFLAGS_INLINE_VALUES, 3.13+ */
#define KEYS_GENERAL 0		/* dk_kind: entries carry their hash */

static int u64_from(struct py_mem *m, uint64_t addr, uint64_t *v)
{
	const unsigned char *p = py_mem_fetch(m, addr, 8, PY_FETCH_ONCE);

	if (!p)
		return -1;
	memcpy(v, p, 8);
	return 0;
}

static uint64_t u64_in(const unsigned char *p, size_t off)
{
	uint64_t v;

	memcpy(&v, p + off, 8);
	return v;
}

/* The value under key in entries [0, n) of esize bytes (key at koff), the
 * value from values (a split table) or from the entry itself. */
static uint64_t scan_entries(struct py_reader *r, const unsigned char *e, size_t n, size_t esize,
			     size_t koff, uint64_t values, const char *key)
{
	char buf[64];

	for (size_t i = 0; i < n; i++) {
		uint64_t k = u64_in(e, i * esize + koff), v = 0;

		if (!k || py_read_string(r->m, &r->o, &r->t, k, buf, sizeof(buf)) < 0 ||
		    strcmp(buf, key))
			continue;
		if (!values)
			return u64_in(e, i * esize + koff + 8);
		u64_from(r->m, values + (uint64_t)r->o.values_values + i * 8, &v);
		return v;
	}
	return 0;
}

/* key in a PyDictKeysObject (3.6+); values: the split table's values, or 0. */
static uint64_t keys_lookup(struct py_reader *r, uint64_t keys, uint64_t values, const char *key)
{
	const struct py_offsets *o = &r->o;
	const unsigned char *h = keys ? py_mem_fetch(r->m, keys, (size_t)o->keys_indices, PY_FETCH_ONCE)
				      : NULL;
	const unsigned char *e;
	uint64_t index_bytes, n;
	size_t esize = 24;

	if (!h)
		return 0;
	if (o->keys_size >= 0) {	/* 3.6-3.10: dk_size slots of 1, 2, 4 or 8 bytes */
		uint64_t size = u64_in(h, (size_t)o->keys_size);

		if (size > (1u << 20))
			return 0;
		index_bytes = size * (size <= 0xff ? 1 : size <= 0xffff ? 2 : 4);
	} else {
		if (h[o->keys_log2_index_bytes] > 20)
			return 0;
		index_bytes = 1ull << h[o->keys_log2_index_bytes];
		if (h[o->keys_kind] != KEYS_GENERAL)
			esize = 16;	/* unicode keys: no hash */
	}
	n = u64_in(h, (size_t)o->keys_nentries);
	if (n == 0 || n > MAX_ENTRIES)
		return 0;
	e = py_mem_fetch(r->m, keys + (uint64_t)o->keys_indices + index_bytes, n * esize,
			 PY_FETCH_ONCE);
	return e ? scan_entries(r, e, n, esize, esize - 16, values, key) : 0;
}

static uint64_t dict_lookup(struct py_reader *r, uint64_t dict, const char *key)
{
	const struct py_offsets *o = &r->o;
	uint64_t keys, values = 0, mask;
	const unsigned char *e;

	if (!dict || u64_from(r->m, dict + (uint64_t)o->dict_keys, &keys) < 0)
		return 0;
	if (o->dict_mask >= 0) {	/* 2.7: ma_mask + 1 entries of hash, key, value */
		if (u64_from(r->m, dict + (uint64_t)o->dict_mask, &mask) < 0 || mask >= MAX_ENTRIES)
			return 0;
		e = py_mem_fetch(r->m, keys, (mask + 1) * 24, PY_FETCH_ONCE);
		return e ? scan_entries(r, e, mask + 1, 24, 8, 0, key) : 0;
	}
	if (u64_from(r->m, dict + (uint64_t)o->dict_values, &values) < 0)
		return 0;
	return keys_lookup(r, keys, values, key);
}

/* The attribute key of the object at obj (an object pointer), or 0. */
static uint64_t attribute(struct py_reader *r, uint64_t obj, const char *key)
{
	const struct py_offsets *o = &r->o;
	uint64_t type, flags, cached = 0, dict = 0, w;
	int64_t basicsize, dictoffset;
	const unsigned char *t;
	int newer = o->major == 3 && o->minor >= 11;

	if (u64_from(r->m, obj + (uint64_t)o->ob_type, &type) < 0 || !type)
		return 0;
	t = py_mem_fetch(r->m, type, (size_t)o->type_dictoffset + 8, PY_FETCH_ONCE);
	if (!t)
		return 0;
	flags = u64_in(t, (size_t)o->type_flags);
	basicsize = (int64_t)u64_in(t, (size_t)o->type_basicsize);
	dictoffset = (int64_t)u64_in(t, (size_t)o->type_dictoffset);
	if (newer && (flags & (MANAGED_DICT | INLINE_VALUES)) &&
	    u64_from(r->m, type + (uint64_t)o->ht_cached_keys, &cached) < 0)
		return 0;
	if (o->minor >= 13 && newer && (flags & INLINE_VALUES) && basicsize > 0 && basicsize < 4096) {
		/* PyDictValues right after the object; its fourth byte says valid */
		const unsigned char *v = py_mem_fetch(r->m, obj + (uint64_t)basicsize, 4, PY_FETCH_ONCE);

		if (v && v[3] && cached)
			return keys_lookup(r, cached, obj + (uint64_t)basicsize, key);
	}
	if (newer && (flags & MANAGED_DICT)) {
		if (o->minor == 11) {	/* values at -4 words, dict at -3 */
			if (u64_from(r->m, obj - 32, &w) < 0)
				return 0;
			if (w && cached)
				return keys_lookup(r, cached, w, key);
			u64_from(r->m, obj - 24, &dict);
		} else if (o->minor == 12) {	/* one word at -3: (values - 1), odd, or a dict */
			if (u64_from(r->m, obj - 24, &w) < 0)
				return 0;
			if (w & 1)
				return cached ? keys_lookup(r, cached, w + 1, key) : 0;
			dict = w;
		} else {
			u64_from(r->m, obj - 24, &dict);
		}
	} else if (dictoffset > 0 && dictoffset < 4096) {
		u64_from(r->m, obj + (uint64_t)dictoffset, &dict);
	}
	return dict_lookup(r, dict, key);
}

int py_thread_object_name(struct py_reader *r, uint64_t boot_frame, char *buf, size_t len)
{
	uint64_t self, name;

	buf[0] = '\0';
	if (r->o.frame_localsplus < 0 || r->o.type_dictoffset < 0 ||
	    u64_from(r->m, boot_frame + (uint64_t)r->o.frame_localsplus, &self) < 0 || !self)
		return -1;
	name = attribute(r, self, r->o.major == 2 ? "_Thread__name" : "_name");
	if (!name)
		return -1;
	return py_read_string(r->m, &r->o, &r->t, name, buf, len);
}
