# bench/: side-by-side benchmarks against the tools users would pick instead.
# Not part of `make check`: run `make bench` (see HACKING.md).
