# man/: one page per command, built from *.in with the version filled in.
man_in = man/sonda.1.in man/sonda-record.1.in man/sonda-info.1.in man/sonda-store.5.in
man_in += man/sonda-report.1.in man/sonda-export.1.in man/sonda-diff.1.in
man_in += man/sonda-run.1.in man/sonda-recover.1.in man/libsonda.3.in
man_in += man/sonda-dump.1.in
man_in += man/sonda-top.1.in
man_MANS += $(man_in:.in=)
EXTRA_DIST += $(man_in)
CLEANFILES += $(man_in:.in=)
$(man_in:.in=): %: %.in Makefile
	$(AM_V_GEN)$(MKDIR_P) $(@D) && sed -e 's|@VERSION[@]|$(PACKAGE_VERSION)|g' $< > $@
