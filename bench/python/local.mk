# bench/python/: the Python reader against Austin (bench/python/run).
EXTRA_PROGRAMS += bench/python/bench-reader
bench_python_bench_reader_SOURCES = bench/python/bench-reader.c
bench_python_bench_reader_LDADD = profiler/libprofiler.la store/libstore.la $(SQLITE_LIBS)
EXTRA_DIST += bench/python/run bench/python/deep.py
CLEANFILES += bench/python/bench-reader
