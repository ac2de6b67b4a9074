# viewer/: top (ncurses), reports, exporters, diff.
noinst_LTLIBRARIES += viewer/libviewer.la
viewer_libviewer_la_SOURCES = viewer/viewer.h viewer/aggregate.c viewer/format.c viewer/flame.c \
	viewer/stats.c viewer/hash.h viewer/table.h viewer/table.c viewer/report.c viewer/diff.c viewer/export.c viewer/export-folded.c viewer/export-svg.c \
	viewer/export-speedscope.c viewer/export-chrome.c viewer/export-pprof.c
viewer_libviewer_la_CFLAGS = $(AM_CFLAGS) $(NCURSES_CFLAGS) $(ZLIB_CFLAGS)
viewer_libviewer_la_LIBADD = $(NCURSES_LIBS) $(ZLIB_LIBS)

check_PROGRAMS += tests/unit/test-view-aggregate
tests_unit_test_view_aggregate_SOURCES = tests/unit/test-view-aggregate.c tests/unit/view-fixture.h
tests_unit_test_view_aggregate_CFLAGS = $(unit_cflags)
tests_unit_test_view_aggregate_LDADD = $(unit_ldadd)

# A writer of stores with known contents for tests/t/t2*.sh.
check_PROGRAMS += tests/unit/mkstore
tests_unit_mkstore_SOURCES = tests/unit/mkstore.c tests/unit/view-fixture.h
tests_unit_mkstore_CFLAGS = $(unit_cflags)
tests_unit_mkstore_LDADD = $(unit_ldadd)
# sonda top: top.c the event loop, top-view-*.c one file per view.
viewer_libviewer_la_SOURCES += viewer/top.h viewer/top-impl.h viewer/top.c \
	viewer/top-data.c viewer/top-source.c viewer/top-draw.c viewer/top-keys.c \
	viewer/top-snap.c viewer/top-view-table.c viewer/top-view-tree.c \
	viewer/top-view-flame.c viewer/top-view-threads.c viewer/top-view-help.c \
	viewer/top-view-tasks.c viewer/top-view-allocs.c
EXTRA_DIST += tests/top-lib.sh

check_PROGRAMS += tests/unit/test-top-data
tests_unit_test_top_data_SOURCES = tests/unit/test-top-data.c
tests_unit_test_top_data_CFLAGS = $(unit_cflags)
tests_unit_test_top_data_LDADD = $(unit_ldadd)
