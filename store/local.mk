# store/: the model and its SQLite persistence (libtool convenience library,
# linked into sonda and into libsonda.so).
noinst_LTLIBRARIES += store/libstore.la
store_libstore_la_SOURCES = store/store.h
store_libstore_la_CFLAGS = $(AM_CFLAGS) $(SQLITE_CFLAGS)
store_libstore_la_LIBADD = $(SQLITE_LIBS)
