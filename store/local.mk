# store/: the model and its SQLite persistence (libtool convenience library,
# linked into sonda and into libsonda.so).
noinst_LTLIBRARIES += store/libstore.la
store_libstore_la_SOURCES = store/store.h store/internal.h store/table.c store/profile.c \
	store/string.c store/frame.c store/callsite.c store/session.c store/sample.c \
	store/task.c store/alloc.c store/event.c
store_libstore_la_CFLAGS = $(AM_CFLAGS) $(SQLITE_CFLAGS)
store_libstore_la_LIBADD = $(SQLITE_LIBS)

check_PROGRAMS += tests/unit/test-store-model
tests_unit_test_store_model_SOURCES = tests/unit/test-store-model.c
tests_unit_test_store_model_CFLAGS = $(unit_cflags)
tests_unit_test_store_model_LDADD = $(unit_ldadd)
