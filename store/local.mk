# store/: the model and its SQLite persistence (libtool convenience library,
# linked into sonda and into libsonda.so).
noinst_LTLIBRARIES += store/libstore.la
store_libstore_la_SOURCES = store/store.h store/internal.h store/table.c store/profile.c \
	store/string.c store/frame.c store/callsite.c store/session.c store/sample.c \
	store/task.c store/alloc.c store/event.c \
	store/sql.h store/schema.c store/writer.c store/reader.c
store_libstore_la_CFLAGS = $(AM_CFLAGS) $(SQLITE_CFLAGS)
store_libstore_la_LIBADD = $(SQLITE_LIBS)

check_PROGRAMS += tests/unit/test-store-model
tests_unit_test_store_model_SOURCES = tests/unit/test-store-model.c
tests_unit_test_store_model_CFLAGS = $(unit_cflags)
tests_unit_test_store_model_LDADD = $(unit_ldadd)

check_PROGRAMS += tests/unit/test-store-io
tests_unit_test_store_io_SOURCES = tests/unit/test-store-io.c tests/unit/store-fixture.h
tests_unit_test_store_io_CFLAGS = $(unit_cflags)
tests_unit_test_store_io_LDADD = $(unit_ldadd) $(SQLITE_LIBS)

check_PROGRAMS += tests/unit/test-store-views
tests_unit_test_store_views_SOURCES = tests/unit/test-store-views.c tests/unit/store-fixture.h
tests_unit_test_store_views_CFLAGS = $(unit_cflags)
tests_unit_test_store_views_LDADD = $(unit_ldadd) $(SQLITE_LIBS)

# Not a test by itself: tests/t/t1*.sh drive it.
check_PROGRAMS += tests/unit/store-tool
tests_unit_store_tool_SOURCES = tests/unit/store-tool.c tests/unit/store-fixture.h
tests_unit_store_tool_CFLAGS = $(unit_cflags)
tests_unit_store_tool_LDADD = $(unit_ldadd)
