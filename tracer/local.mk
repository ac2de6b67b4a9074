# tracer/: libsonda, the in-process library (public header sonda.h), and
# libregion, the region reader that sonda (recover, run, top) links too.
pkgconfig_DATA += tracer/sonda.pc
EXTRA_DIST += tracer/sonda.pc.in
include_HEADERS += tracer/sonda.h

noinst_LTLIBRARIES += tracer/libregion.la
tracer_libregion_la_SOURCES = tracer/region.c tracer/region.h tracer/symbols.c tracer/symbols.h \
	tracer/alloc-load.c tracer/alloc.h
tracer_libregion_la_CFLAGS = $(AM_CFLAGS) $(ELF_CFLAGS) $(DW_CFLAGS)
tracer_libregion_la_LIBADD = $(ELF_LIBS) $(DW_LIBS)

lib_LTLIBRARIES += tracer/libsonda.la
tracer_libsonda_la_SOURCES = tracer/life.c tracer/flush.c tracer/clock.c tracer/thread.c tracer/task.c \
	tracer/function.c tracer/sonda.h tracer/region.h tracer/internal.h
# -O2 whatever the build's CFLAGS: the hooks' cost is a promise.
tracer_libsonda_la_CFLAGS = $(AM_CFLAGS) -O2 -fno-instrument-functions
tracer_libsonda_la_LIBADD = tracer/libregion.la store/libstore.la $(SQLITE_LIBS) $(ELF_LIBS) $(DL_LIBS)
tracer_libsonda_la_LIBADD += tracer/liballoc.la $(UNWIND_LIBS) -lm
tracer_libsonda_la_LDFLAGS = $(AM_LDFLAGS) -version-info 0:0:0 -no-undefined \
	-export-symbols-regex '^(sonda_(task_begin|task_end|span_start|span_finish|flush|thread_name|mark|alloc_start|alloc_snapshot|alloc_traced)|__cyg_profile_func_(enter|exit)|malloc|calloc|realloc|free|posix_memalign|aligned_alloc|memalign|valloc|pvalloc|reallocarray|malloc_usable_size)$$'
EXTRA_DIST += tests/tracer-lib.sh $(wildcard $(srcdir)/tests/fixtures/tracer/*.c)
EXTRA_DIST += bench/tracer/run.sh bench/tracer/calls.c bench/tracer/tasks.c

check_PROGRAMS += tests/unit/test-tracer-region
tests_unit_test_tracer_region_SOURCES = tests/unit/test-tracer-region.c
tests_unit_test_tracer_region_CFLAGS = $(unit_cflags) -O0 -fno-inline
tests_unit_test_tracer_region_LDADD = tracer/libregion.la $(unit_ldadd) $(ELF_LIBS)

# Allocation tracking (issue 7), linked into libsonda: the malloc family
# interposed.  Frame pointers kept so a frame-pointer walk passes through
# our own frames to the caller's.
noinst_LTLIBRARIES += tracer/liballoc.la
tracer_liballoc_la_SOURCES = tracer/alloc-hooks.c tracer/alloc-track.c tracer/alloc-stack.c \
	tracer/alloc-sample.c tracer/alloc-snap.c tracer/alloc-life.c tracer/alloc-table.c \
	tracer/alloc-pool.c tracer/alloc-count.c \
	tracer/alloc.h tracer/internal.h
tracer_liballoc_la_CFLAGS = $(AM_CFLAGS) $(UNWIND_CFLAGS) -O2 -fno-omit-frame-pointer -fno-instrument-functions
EXTRA_DIST += $(wildcard $(srcdir)/tests/fixtures/alloc/*.c) $(wildcard $(srcdir)/tests/fixtures/alloc/*.cc)
check_PROGRAMS += tests/unit/test-alloc-table
tests_unit_test_alloc_table_SOURCES = tests/unit/test-alloc-table.c tracer/alloc-table.c tracer/alloc-count.c
tests_unit_test_alloc_table_CFLAGS = $(unit_cflags)
tests_unit_test_alloc_table_LDADD =
