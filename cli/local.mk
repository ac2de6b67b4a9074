# cli/: the sonda binary, one cmd-*.c per command.
bin_PROGRAMS += sonda
sonda_SOURCES = cli/sonda.c cli/cli.h cli/commands.h cli/cmd-info.c cli/cmd-record.c
sonda_SOURCES += cli/cmd-top.c
sonda_LDADD = viewer/libviewer.la profiler/libprofiler.la store/libstore.la
# tracer commands (run, recover)
sonda_SOURCES += cli/cmd-run.c cli/cmd-recover.c
sonda_LDADD += tracer/libregion.la store/libstore.la $(SQLITE_LIBS) $(ELF_LIBS)
sonda_CPPFLAGS = $(AM_CPPFLAGS) -DSONDA_LIBDIR='"$(libdir)"'
# report, export, diff
sonda_SOURCES += cli/cmd-report.c cli/cmd-export.c cli/cmd-diff.c
sonda_SOURCES += cli/cmd-dump.c
