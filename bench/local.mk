# bench/: side-by-side benchmarks against the tools users would pick instead.
# Not part of `make check`: run `make bench` (see HACKING.md).

# bench/store/run: write and read speed and size of the store against perf.data.
EXTRA_PROGRAMS += bench/store/bench-store bench/store/busy
bench_store_bench_store_SOURCES = bench/store/bench-store.c
bench_store_bench_store_CFLAGS = $(AM_CFLAGS) $(SQLITE_CFLAGS) -O2
bench_store_bench_store_LDADD = store/libstore.la $(SQLITE_LIBS)
bench_store_busy_SOURCES = bench/store/busy.c
bench_store_busy_CFLAGS = -O1 -fno-omit-frame-pointer -fno-optimize-sibling-calls -fno-inline $(PTHREAD_CFLAGS)
bench_store_busy_LDFLAGS = $(PTHREAD_CFLAGS)
EXTRA_DIST += bench/store/run
CLEANFILES += bench/store/bench-store bench/store/busy

# bench/alloc/run.sh: sonda run --alloc against heaptrack and valgrind massif.
EXTRA_DIST += bench/alloc/run.sh bench/alloc/churn.c
# bench/top/run: CPU per refresh of sonda top on 100,000 distinct stacks.
EXTRA_PROGRAMS += bench/top/bench-top
bench_top_bench_top_SOURCES = bench/top/bench-top.c
bench_top_bench_top_CFLAGS = $(AM_CFLAGS) $(NCURSES_CFLAGS) -O2
bench_top_bench_top_LDADD = viewer/libviewer.la profiler/libprofiler.la tracer/libregion.la \
	store/libstore.la $(NCURSES_LIBS) $(SQLITE_LIBS) $(ELF_LIBS)
EXTRA_DIST += bench/top/run
CLEANFILES += bench/top/bench-top
EXTRA_DIST += bench/native bench/tracer

# bench/viewer/run: the live view's refresh and the exporters on 100,000 stacks; report against SQL.
EXTRA_PROGRAMS += bench/viewer/bench-viewer
bench_viewer_bench_viewer_SOURCES = bench/viewer/bench-viewer.c
bench_viewer_bench_viewer_CFLAGS = $(AM_CFLAGS) -O2
bench_viewer_bench_viewer_LDADD = viewer/libviewer.la store/libstore.la $(SQLITE_LIBS)
EXTRA_DIST += bench/viewer/run
CLEANFILES += bench/viewer/bench-viewer
include bench/python/local.mk
include bench/record/local.mk
