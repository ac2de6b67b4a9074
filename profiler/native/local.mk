# profiler/native/: perf_event and ptrace sampling, libunwind, symbols.
profiler_libprofiler_la_SOURCES += profiler/native/native.h profiler/native/elf.c \
	profiler/native/symbols.c profiler/native/lines.c profiler/native/space.c \
	profiler/native/unwind.c profiler/native/symbolize.c profiler/native/perf.c \
	profiler/native/engine.c profiler/native/cpu.c profiler/native/wall.c \
	profiler/native/mixed.c profiler/native/grab.c profiler/native/ticker.c \
	profiler/native/kallsyms.c profiler/native/cfi.c profiler/native/offcpu.c \
	profiler/native/perf-int.h profiler/native/watch.c profiler/native/switches.c

# A hand driver for the native backends, used by tests/t/t5*.sh and bench/native.
check_PROGRAMS += tests/native/nsample
tests_native_nsample_SOURCES = tests/native/nsample.c
tests_native_nsample_CFLAGS = $(unit_cflags)
tests_native_nsample_LDADD = $(unit_ldadd)

check_PROGRAMS += tests/unit/test-native-symbols
tests_unit_test_native_symbols_SOURCES = tests/unit/test-native-symbols.c
tests_unit_test_native_symbols_CFLAGS = $(unit_cflags) $(UNWIND_CFLAGS)
tests_unit_test_native_symbols_LDADD = $(unit_ldadd)

check_PROGRAMS += tests/unit/test-native-cfi
tests_unit_test_native_cfi_SOURCES = tests/unit/test-native-cfi.c
tests_unit_test_native_cfi_CFLAGS = $(unit_cflags) $(ELF_CFLAGS)
tests_unit_test_native_cfi_LDADD = $(unit_ldadd)
