/* test-linetable.c - the line table decoders on known tables and on random bytes; layout selection. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "profiler/python/python.h"
#include "tests/unit/unit.h"

static void test_lnotab(void)
{
	const unsigned char t[] = { 2, 1, 4, 2 };
	const unsigned char neg[] = { 2, 0xff };

	CHECK_EQ_INT(py_lnotab_line(t, sizeof(t), 5, 0, 1), 5);
	CHECK_EQ_INT(py_lnotab_line(t, sizeof(t), 5, 1, 1), 5);
	CHECK_EQ_INT(py_lnotab_line(t, sizeof(t), 5, 2, 1), 6);
	CHECK_EQ_INT(py_lnotab_line(t, sizeof(t), 5, 5, 1), 6);
	CHECK_EQ_INT(py_lnotab_line(t, sizeof(t), 5, 6, 1), 8);
	CHECK_EQ_INT(py_lnotab_line(t, sizeof(t), 5, 600, 1), 8);
	CHECK_EQ_INT(py_lnotab_line(neg, sizeof(neg), 5, 2, 1), 4);	/* 3.6+: signed */
	CHECK_EQ_INT(py_lnotab_line(neg, sizeof(neg), 5, 2, 0), 260);	/* 2.7: unsigned */
	CHECK_EQ_INT(py_lnotab_line(t, 3, 5, 6, 1), 6);		/* odd length: last half pair ignored */
}

static void test_linetable310(void)
{
	const unsigned char t[] = { 4, 0, 6, 1, 2, 0x80, 4, 2 };

	CHECK_EQ_INT(py_linetable310_line(t, sizeof(t), 7, 0), 7);
	CHECK_EQ_INT(py_linetable310_line(t, sizeof(t), 7, 3), 7);
	CHECK_EQ_INT(py_linetable310_line(t, sizeof(t), 7, 4), 8);
	CHECK_EQ_INT(py_linetable310_line(t, sizeof(t), 7, 10), 8);	/* no line: the last one */
	CHECK_EQ_INT(py_linetable310_line(t, sizeof(t), 7, 12), 10);
	CHECK_EQ_INT(py_linetable310_line(t, 0, 7, 12), 7);
}

static void test_locations(void)
{
	/* no-column +2 (3 units), short (2 units), one-line +1 (1 unit),
	 * long form -3 (2 units), none (1 unit) */
	const unsigned char t[] = { 0xEA, 0x04, 0x81, 0x00, 0xD8, 0x01, 0x02,
				    0xF1, 0x07, 0x00, 0x01, 0x01, 0xF8 };

	CHECK_EQ_INT(py_locations_line(t, sizeof(t), 10, 0), 12);
	CHECK_EQ_INT(py_locations_line(t, sizeof(t), 10, 2), 12);
	CHECK_EQ_INT(py_locations_line(t, sizeof(t), 10, 3), 12);
	CHECK_EQ_INT(py_locations_line(t, sizeof(t), 10, 5), 13);
	CHECK_EQ_INT(py_locations_line(t, sizeof(t), 10, 6), 10);
	CHECK_EQ_INT(py_locations_line(t, sizeof(t), 10, 7), 10);
	CHECK_EQ_INT(py_locations_line(t, sizeof(t), 10, 8), 10);	/* no location: the last line */
	CHECK_EQ_INT(py_locations_line(t, 1, 10, 0), 10);		/* truncated varint */
}

/* Random bytes: the decoders must stay inside the buffer (ASan checks) and
 * return something sane; the buffer is exactly n bytes on the heap. */
static void test_fuzz(void)
{
	unsigned seed = 12345;
	int bad = 0;

	for (int i = 0; i < 200000; i++) {
		size_t n = (size_t)(rand_r(&seed) % 96);
		unsigned char *t = malloc(n ? n : 1);
		int at = rand_r(&seed) % 400 - 5, first = rand_r(&seed) % 1000;
		int a, b, c, d;

		for (size_t k = 0; k < n; k++)
			t[k] = (unsigned char)rand_r(&seed);
		a = py_lnotab_line(t, n, first, at, 1);
		b = py_lnotab_line(t, n, first, at, 0);
		c = py_linetable310_line(t, n, first, at);
		d = py_locations_line(t, n, first, at);
		if (a < first - 128 * 48 || b < first || c < first - 128 * 48 || d < first - (1 << 26))
			bad++;
		free(t);
	}
	CHECK_EQ_INT(bad, 0);
}

static void test_unsupported_version(void)
{
	struct py_target t;
	struct py_offsets o;
	char warn[200], err[200];

	memset(&t, 0, sizeof(t));
	t.major = 3;
	t.minor = 14;
	t.micro = 1;
	CHECK_EQ_INT(py_layout_select(&t, NULL, &o, warn, sizeof(warn), err, sizeof(err)), -1);
	CHECK(strstr(err, "unsupported Python version 3.14.1") != NULL);
	t.major = 3;
	t.minor = 5;
	t.micro = 10;
	CHECK_EQ_INT(py_layout_select(&t, NULL, &o, warn, sizeof(warn), err, sizeof(err)), -1);
	CHECK(strstr(err, "3.5.10") != NULL);
}

static void put(unsigned char *img, int at, uint64_t v)
{
	memcpy(img + at, &v, sizeof(v));
}

static void test_debug_offsets(void)
{
	const struct py_offsets *row = NULL;
	struct py_offsets o;
	unsigned char img[PY_DEBUG_OFFSETS_MAX];
	char warn[200], err[200];

	for (size_t i = 0; i < py_offsets_count; i++)
		if (py_offsets_table[i].major == 3 && py_offsets_table[i].minor == 13)
			row = &py_offsets_table[i];
	if (!row) {
		printf("# no 3.13 row in the table\n");
		return;
	}
	memset(img, 0, sizeof(img));
	memcpy(img, "xdebugpy", 8);
	put(img, 40, (uint64_t)row->runtime_interp_head);
	put(img, 64, (uint64_t)row->interp_next);
	put(img, 72, (uint64_t)row->interp_tstate_head);
	put(img, 112, (uint64_t)row->interp_gil);
	put(img, 120, 1000);
	put(img, 136, 1000 + (uint64_t)row->gil_locked);
	put(img, 144, 1000 + (uint64_t)row->gil_last_holder);
	put(img, 168, (uint64_t)row->tstate_next);
	put(img, 176, (uint64_t)row->tstate_interp);
	put(img, 184, (uint64_t)row->tstate_frame);
	put(img, 192, (uint64_t)row->tstate_thread_id);
	put(img, 200, (uint64_t)row->tstate_native_thread_id);
	put(img, 208, (uint64_t)row->tstate_datastack_chunk);
	put(img, 232, (uint64_t)row->frame_back);
	put(img, 240, (uint64_t)row->frame_code);
	put(img, 248, (uint64_t)row->frame_instr);
	put(img, 256, (uint64_t)row->frame_size);
	put(img, 264, (uint64_t)row->frame_owner);
	put(img, 280, (uint64_t)row->code_filename);
	put(img, 288, (uint64_t)row->code_name);
	put(img, 296, (uint64_t)row->code_qualname);
	put(img, 304, (uint64_t)row->code_linetable);
	put(img, 312, (uint64_t)row->code_firstlineno);
	put(img, 344, (uint64_t)row->code_adaptive);
	put(img, 360, (uint64_t)row->ob_type);
	put(img, 520, (uint64_t)row->var_size);
	put(img, 528, (uint64_t)row->bytes_data);
	put(img, 544, (uint64_t)row->unicode_state);
	put(img, 552, (uint64_t)row->unicode_length);
	put(img, 560, (uint64_t)row->unicode_ascii_size);
	o = *row;
	CHECK_EQ_INT(py_layout_apply_debug(&o, img, 584, warn, sizeof(warn), err, sizeof(err)), 0);
	CHECK_EQ_STR(warn, "");
	put(img, 184, (uint64_t)row->tstate_frame + 8);
	CHECK_EQ_INT(py_layout_apply_debug(&o, img, 584, warn, sizeof(warn), err, sizeof(err)), 0);
	CHECK(strstr(warn, "tstate.current_frame") != NULL);
	CHECK_EQ_INT(o.tstate_frame, row->tstate_frame + 8);
	put(img, 16, 1);	/* free-threaded */
	CHECK_EQ_INT(py_layout_apply_debug(&o, img, 584, warn, sizeof(warn), err, sizeof(err)), -1);
	memcpy(img, "notdebug", 8);
	CHECK_EQ_INT(py_layout_apply_debug(&o, img, 584, warn, sizeof(warn), err, sizeof(err)), -1);
}

int main(void)
{
	RUN(test_lnotab);
	RUN(test_linetable310);
	RUN(test_locations);
	RUN(test_fuzz);
	RUN(test_unsupported_version);
	RUN(test_debug_offsets);
	return unit_done();
}
