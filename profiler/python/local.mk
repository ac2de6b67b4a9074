# profiler/python/: the CPython frame reader.
