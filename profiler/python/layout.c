/* layout.c - the struct layout of the target's CPython: the generated table, or _Py_DebugOffsets.
 *
 * From 3.13 the runtime describes itself in _Py_DebugOffsets at the start
 * of _PyRuntime (cookie "xdebugpy").  Those offsets win; a disagreement
 * with the table (a patched or differently configured build) is reported
 * as a warning.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "profiler/python/python.h"

/* _Py_DebugOffsets of 3.13, byte offsets into the image (all uint64_t). */
enum {
	DBG_VERSION = 8, DBG_FREE_THREADED = 16,
	DBG_RUNTIME_INTERP_HEAD = 40,
	DBG_INTERP_NEXT = 64, DBG_INTERP_THREADS_HEAD = 72, DBG_INTERP_CEVAL_GIL = 112,
	DBG_INTERP_GIL = 120, DBG_INTERP_GIL_LOCKED = 136, DBG_INTERP_GIL_HOLDER = 144,
	DBG_TSTATE_NEXT = 168, DBG_TSTATE_INTERP = 176, DBG_TSTATE_CURRENT_FRAME = 184,
	DBG_TSTATE_THREAD_ID = 192, DBG_TSTATE_NATIVE_THREAD_ID = 200,
	DBG_TSTATE_DATASTACK_CHUNK = 208,
	DBG_FRAME_PREVIOUS = 232, DBG_FRAME_EXECUTABLE = 240, DBG_FRAME_INSTR_PTR = 248,
	DBG_FRAME_LOCALSPLUS = 256, DBG_FRAME_OWNER = 264,
	DBG_CODE_FILENAME = 280, DBG_CODE_NAME = 288, DBG_CODE_QUALNAME = 296,
	DBG_CODE_LINETABLE = 304, DBG_CODE_FIRSTLINENO = 312, DBG_CODE_ADAPTIVE = 344,
	DBG_OBJECT_OB_TYPE = 360, DBG_BYTES_OB_SIZE = 520, DBG_BYTES_OB_SVAL = 528,
	DBG_UNICODE_STATE = 544, DBG_UNICODE_LENGTH = 552, DBG_UNICODE_ASCII_SIZE = 560,
	DBG_SIZE_313 = 584,
};

struct dbg_field {
	int at;
	size_t field;	/* offsetof(struct py_offsets, ...) */
	int (*derive)(const unsigned char *img, int64_t v);
	const char *name;
};

static uint64_t img_u64(const unsigned char *img, int at)
{
	uint64_t v;

	memcpy(&v, img + at, sizeof(v));
	return v;
}

/* The table keeps the GIL fields relative to struct _gil_runtime_state. */
static int gil_rel(const unsigned char *img, int64_t v)
{
	return (int)(v - (int64_t)img_u64(img, DBG_INTERP_GIL));
}

#define FIELD(at, f, name) { at, offsetof(struct py_offsets, f), NULL, name }
static const struct dbg_field dbg_fields[] = {
	FIELD(DBG_RUNTIME_INTERP_HEAD, runtime_interp_head, "interpreters.head"),
	FIELD(DBG_INTERP_NEXT, interp_next, "interp.next"),
	FIELD(DBG_INTERP_THREADS_HEAD, interp_tstate_head, "interp.threads.head"),
	FIELD(DBG_INTERP_CEVAL_GIL, interp_gil, "interp.ceval.gil"),
	{ DBG_INTERP_GIL_LOCKED, offsetof(struct py_offsets, gil_locked), gil_rel, "gil.locked" },
	{ DBG_INTERP_GIL_HOLDER, offsetof(struct py_offsets, gil_last_holder), gil_rel, "gil.last_holder" },
	FIELD(DBG_TSTATE_NEXT, tstate_next, "tstate.next"),
	FIELD(DBG_TSTATE_INTERP, tstate_interp, "tstate.interp"),
	FIELD(DBG_TSTATE_CURRENT_FRAME, tstate_frame, "tstate.current_frame"),
	FIELD(DBG_TSTATE_THREAD_ID, tstate_thread_id, "tstate.thread_id"),
	FIELD(DBG_TSTATE_NATIVE_THREAD_ID, tstate_native_thread_id, "tstate.native_thread_id"),
	FIELD(DBG_TSTATE_DATASTACK_CHUNK, tstate_datastack_chunk, "tstate.datastack_chunk"),
	FIELD(DBG_FRAME_PREVIOUS, frame_back, "frame.previous"),
	FIELD(DBG_FRAME_EXECUTABLE, frame_code, "frame.f_executable"),
	FIELD(DBG_FRAME_INSTR_PTR, frame_instr, "frame.instr_ptr"),
	FIELD(DBG_FRAME_LOCALSPLUS, frame_size, "frame.localsplus"),
	FIELD(DBG_FRAME_OWNER, frame_owner, "frame.owner"),
	FIELD(DBG_CODE_FILENAME, code_filename, "code.co_filename"),
	FIELD(DBG_CODE_NAME, code_name, "code.co_name"),
	FIELD(DBG_CODE_QUALNAME, code_qualname, "code.co_qualname"),
	FIELD(DBG_CODE_LINETABLE, code_linetable, "code.co_linetable"),
	FIELD(DBG_CODE_FIRSTLINENO, code_firstlineno, "code.co_firstlineno"),
	FIELD(DBG_CODE_ADAPTIVE, code_adaptive, "code.co_code_adaptive"),
	FIELD(DBG_OBJECT_OB_TYPE, ob_type, "ob_type"),
	FIELD(DBG_BYTES_OB_SIZE, var_size, "ob_size"),
	FIELD(DBG_BYTES_OB_SVAL, bytes_data, "bytes.ob_sval"),
	FIELD(DBG_UNICODE_STATE, unicode_state, "unicode.state"),
	FIELD(DBG_UNICODE_LENGTH, unicode_length, "unicode.length"),
	FIELD(DBG_UNICODE_ASCII_SIZE, unicode_ascii_size, "sizeof(PyASCIIObject)"),
};

int py_layout_apply_debug(struct py_offsets *o, const unsigned char *img, size_t len,
			  char *warn, size_t warnlen, char *err, size_t errlen)
{
	size_t nwarn = 0;

	warn[0] = '\0';
	if (len < DBG_SIZE_313 || memcmp(img, "xdebugpy", 8) != 0) {
		snprintf(err, errlen, "no _Py_DebugOffsets at the start of _PyRuntime");
		return -1;
	}
	if (img_u64(img, DBG_FREE_THREADED)) {
		snprintf(err, errlen, "free-threaded CPython %d.%d is not supported", o->major, o->minor);
		return -1;
	}
	for (size_t i = 0; i < sizeof(dbg_fields) / sizeof(dbg_fields[0]); i++) {
		const struct dbg_field *f = &dbg_fields[i];
		uint64_t raw = img_u64(img, f->at);
		int v, *slot = (int *)((char *)o + f->field);

		if (raw > (1u << 20)) {
			snprintf(err, errlen, "_Py_DebugOffsets: %s = %llu is out of range", f->name,
				 (unsigned long long)raw);
			return -1;
		}
		v = f->derive ? f->derive(img, (int64_t)raw) : (int)raw;
		if (v != *slot && nwarn++ == 0)
			snprintf(warn, warnlen, "the target's _Py_DebugOffsets disagree with sonda's "
				 "table (%s: %d, table %d); using the target's", f->name, v, *slot);
		*slot = v;
	}
	return 0;
}

static int version_hex_ok(const struct py_target *t, uint64_t hex)
{
	return (int)(hex >> 24 & 0xff) == t->major && (int)(hex >> 16 & 0xff) == t->minor;
}

int py_layout_select(const struct py_target *t, struct py_mem *m, struct py_offsets *o,
		     char *warn, size_t warnlen, char *err, size_t errlen)
{
	const struct py_offsets *row = NULL;
	unsigned char img[DBG_SIZE_313];

	warn[0] = '\0';
	for (size_t i = 0; i < py_offsets_count; i++)
		if (py_offsets_table[i].major == t->major && py_offsets_table[i].minor == t->minor)
			row = &py_offsets_table[i];
	if (!row) {
		if (t->micro >= 0)
			snprintf(err, errlen, "unsupported Python version %d.%d.%d (sonda reads "
				 "CPython 2.7 and 3.6 to 3.13)", t->major, t->minor, t->micro);
		else
			snprintf(err, errlen, "unsupported Python version %d.%d (sonda reads "
				 "CPython 2.7 and 3.6 to 3.13)", t->major, t->minor);
		return -1;
	}
	*o = *row;
	if (t->major == 3 && t->minor >= 7 && !t->runtime) {
		snprintf(err, errlen, "%s has no _PyRuntime symbol", t->path);
		return -1;
	}
	if ((t->major == 2 || t->minor == 6) && !t->interp_head && !t->tstate_current) {
		snprintf(err, errlen, "%s has neither interp_head nor _PyThreadState_Current", t->path);
		return -1;
	}
	if (t->major == 3 && t->minor >= 13) {
		if (py_mem_read(m, t->runtime, img, sizeof(img)) < 0) {
			snprintf(err, errlen, "cannot read _PyRuntime of process %d", (int)t->pid);
			return -1;
		}
		if (!version_hex_ok(t, img_u64(img, DBG_VERSION))) {
			snprintf(err, errlen, "_Py_DebugOffsets says version %llx, not %d.%d",
				 (unsigned long long)img_u64(img, DBG_VERSION), t->major, t->minor);
			return -1;
		}
		return py_layout_apply_debug(o, img, sizeof(img), warn, warnlen, err, errlen);
	}
	return 0;
}
