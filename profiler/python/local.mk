# profiler/python/: the CPython frame reader.
profiler_libprofiler_la_SOURCES += profiler/python/python.h profiler/python/backend.c \
	profiler/python/cache.c profiler/python/elf.c profiler/python/find.c \
	profiler/python/layout.c profiler/python/linetable.c profiler/python/mem.c \
	profiler/python/names.c \
	profiler/python/offsets.c profiler/python/read.c profiler/python/threads.c \
	profiler/python/version.c
EXTRA_DIST += profiler/python/gen-offsets
check_PROGRAMS += tests/unit/test-linetable
tests_unit_test_linetable_SOURCES = tests/unit/test-linetable.c
tests_unit_test_linetable_CFLAGS = $(unit_cflags)
tests_unit_test_linetable_LDADD = $(unit_ldadd)
