# profiler/native/: perf_event and ptrace sampling, libunwind, symbols.
