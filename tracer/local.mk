# tracer/: libsonda, the in-process library (public header sonda.h).
pkgconfig_DATA += tracer/sonda.pc
EXTRA_DIST += tracer/sonda.pc.in
