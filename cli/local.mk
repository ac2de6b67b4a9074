# cli/: the sonda binary, one cmd-*.c per command.
bin_PROGRAMS += sonda
sonda_SOURCES = cli/sonda.c cli/cli.h cli/commands.h cli/cmd-record.c
sonda_LDADD = viewer/libviewer.la profiler/libprofiler.la store/libstore.la
