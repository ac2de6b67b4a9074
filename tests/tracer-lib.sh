# tracer-lib.sh - what the t6xxx tracer tests share: prerequisites and fixture builds.

# Returns 1 with a reason in $TRACER_SKIP when libsonda cannot be tested here.
tracer_prereqs() {
	LIBDIR=$BUILDDIR/tracer/.libs
	if [ ! -f "$LIBDIR/libsonda.so" ]; then TRACER_SKIP="libsonda.so not built"; return 1; fi
	if ! command -v cc >/dev/null; then TRACER_SKIP="no C compiler"; return 1; fi
	if ! command -v sqlite3 >/dev/null; then TRACER_SKIP="no sqlite3 shell"; return 1; fi
	# A sanitizer build of libsonda brings libasan into fixtures built
	# without it: let it load late, and let crashes be crashes.
	if ldd "$LIBDIR/libsonda.so" 2>/dev/null | grep -q libasan; then
		ASAN_OPTIONS="verify_asan_link_order=0:detect_leaks=0:handle_segv=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
		export ASAN_OPTIONS
	fi
	SONDA_OUTPUT=probe.db SONDA_ROOT_PID=$$ "$SONDA" run -o probe.db -- true 2>probe.err
	if [ ! -s probe.db ]; then TRACER_SKIP="this build cannot write stores: $(head -1 probe.err)"; return 1; fi
	rm -f probe.db probe.err
	return 0
}

# tracer_cc NAME SOURCE [CFLAGS...]: a fixture linked with the build's libsonda.
tracer_cc() {
	name=$1 src=$2; shift 2
	cc -O1 -g -pthread -I"$SRCDIR/tracer" "$@" -o "$name" "$src" \
		-L"$LIBDIR" -lsonda -Wl,-rpath,"$LIBDIR"
}

# test_expect_code N CMD...: CMD exits with status N.
test_expect_code() {
	want=$1; shift
	"$@"
	rc=$?
	[ "$rc" = "$want" ] || { echo "exit status $rc, expected $want: $*"; return 1; }
}
