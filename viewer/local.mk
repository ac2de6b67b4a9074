# viewer/: top (ncurses), reports, exporters, diff.
noinst_LTLIBRARIES += viewer/libviewer.la
viewer_libviewer_la_SOURCES = viewer/viewer.h
viewer_libviewer_la_CFLAGS = $(AM_CFLAGS) $(NCURSES_CFLAGS) $(ZLIB_CFLAGS)
viewer_libviewer_la_LIBADD = $(NCURSES_LIBS) $(ZLIB_LIBS)
