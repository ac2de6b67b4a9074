# profiler/: attaching, maps, ELF symbols, unwinding, the Python reader, the sampling loop.
noinst_LTLIBRARIES += profiler/libprofiler.la
profiler_libprofiler_la_SOURCES = profiler/profiler.h profiler/backend.h profiler/maps.c profiler/threads.c \
	profiler/attach.c profiler/ptrace.c profiler/sampler.c profiler/sampler-int.h profiler/choose.c \
	profiler/emit.c profiler/launch.c profiler/children.c profiler/dump.c
profiler_libprofiler_la_CFLAGS = $(AM_CFLAGS) $(UNWIND_CFLAGS) $(ELF_CFLAGS) $(DW_CFLAGS)
profiler_libprofiler_la_LIBADD = $(UNWIND_LIBS) $(DW_LIBS) $(ELF_LIBS)
include profiler/python/local.mk
include profiler/native/local.mk

check_PROGRAMS += tests/unit/test-pause
tests_unit_test_pause_SOURCES = tests/unit/test-pause.c
tests_unit_test_pause_CFLAGS = $(unit_cflags)
tests_unit_test_pause_LDADD = $(unit_ldadd)

check_PROGRAMS += tests/unit/test-sampler
tests_unit_test_sampler_SOURCES = tests/unit/test-sampler.c
tests_unit_test_sampler_CFLAGS = $(unit_cflags)
tests_unit_test_sampler_LDADD = $(unit_ldadd)
