# tests/: unit tests (tests/unit/test-*.c, TAP) and integration tests
# (tests/t/tNNNN-area-what.sh, TAP); tests/run runs them all and prints
# "N passed, N failed, N skipped".
EXTRA_DIST += tests/run tests/lib.sh tests/native.sh tests/unit/unit.h $(wildcard $(srcdir)/tests/t/*.sh)
unit_cflags = $(AM_CFLAGS) $(SQLITE_CFLAGS)
unit_ldadd = viewer/libviewer.la profiler/libprofiler.la store/libstore.la

check-local: $(check_PROGRAMS) $(bin_PROGRAMS)
	BUILDDIR=$(abs_top_builddir) SRCDIR=$(abs_top_srcdir) $(abs_top_srcdir)/tests/run $(T)

# Builds everything the suite needs without running it (./bootstrap check).
check-build: $(check_PROGRAMS) $(bin_PROGRAMS) $(lib_LTLIBRARIES)
.PHONY: check-build

# Fixtures and helper scripts the tests build or run from the source tree.
EXTRA_DIST += tests/fixtures tests/hist-quantile.py

# What a test run leaves in the build tree: the log, and the npm packages the
# exporter tests install to validate their output.
CLEANFILES += tests/test-suite.log
clean-local: clean-local-tests
clean-local-tests:
	-rm -rf tests/node
.PHONY: clean-local-tests
