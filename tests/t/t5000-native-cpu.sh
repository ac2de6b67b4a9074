#!/bin/sh
# t5000-native-cpu: CPU mode (perf_event_open + DWARF unwinding) gets whole native stacks, with and without symbols.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../native.sh"

NSAMPLE=$BUILDDIR/tests/native/nsample
SRC=$SRCDIR/tests/fixtures/native/target.c

# mawk has no {n} intervals: regexes are spelled out.
# Share of "S" lines of $1 matching the extended regex $2, in percent (floor).
share() {
	awk -v re="$2" '/^S / { n++; if ($0 ~ re) k++ } END { if (!n) print -1; else print int(100 * k / n) }' "$1"
}
# Drops kernel frames ("name_[k]", leaf side): the user stack is checked.
user_only() { sed 's/;[^;]*_\[k\]//g' "$1" >"$1.user" && mv "$1.user" "$1"; }
# Line number of the first line of target.c matching $1.
line_of() { grep -n "$1" "$SRC" | head -n 1 | cut -d: -f1; }

have_gcc=no; command -v gcc >/dev/null 2>&1 && have_gcc=yes
have_perf=no
if [ $have_gcc = yes ] && gcc -O2 -g -fomit-frame-pointer -pthread -o target "$SRC"; then
	start_target target chain
	"$NSAMPLE" -p "$PID" -d 0.1 >probe.out 2>&1 && have_perf=yes
	kill "$PID"
fi

if [ $have_perf = no ]; then
	test_skip 'cpu mode: 12-deep chain with names and lines' 'no gcc or perf events not permitted'
	test_skip 'cpu mode: stripped binary, same depth, module+0xOFFSET' 'no gcc or perf events not permitted'
	test_skip 'cpu mode: 30-deep stack of 9 KB frames' 'no gcc or perf events not permitted'
	test_skip 'cpu mode: frame-pointer build' 'no gcc or perf events not permitted'
	test_skip 'cpu mode: kernel frames' 'no gcc or perf events not permitted'
	# Kernel frames need kernel sampling (perf_event_paranoid <= 1 or root)
# and readable kernel addresses (kptr_restrict).
if grep -q "describe\|cpu-clock via\|cycles via" probe.out && ! grep -q ":u via" probe.out &&
   [ "$(head -n 1 /proc/kallsyms | cut -c1-16)" != 0000000000000000 ]; then
	test_expect_success 'cpu mode: kernel frames above the system call, named from kallsyms' '
		start_target target kernel &&
		"$NSAMPLE" -r 1000 -p $PID -d 1 >out &&
		n=$(grep -c "^S " out) && [ $n -ge 10 ] &&
		p=$(share out "main;read_zero;read;entry_SYSCALL_64[a-z_]*_\\[k\\];.*_\\[k\\]\$") &&
		say "$p% of $n samples in the kernel under read()" && [ $p -ge 50 ]
	'
else
	test_skip 'cpu mode: kernel frames' 'kernel sampling or kernel addresses not permitted'
fi

test_done
fi

# main -> f1 -> ... -> f12, each caller at its LINK line, f12 in its loop.
chain_re() {
	re="main:target[.]c:$(line_of 'return f1(0)');"
	for i in 1 2 3 4 5 6 7 8 9 10 11; do
		re="${re}f$i:target[.]c:$(line_of "^LINK(f$i,");"
	done
	leaf=$(line_of 'LEAF f12')
	echo "${re}f12:target[.]c:($((leaf - 1))|$leaf)\$"
}

test_expect_success 'cpu mode: 12-deep chain with names and lines in >= 99% of samples' '
	start_target target chain &&
	"$NSAMPLE" -r 1000 -p $PID -d 1.5 -l >out &&
	kill $PID && user_only out &&
	n=$(grep -c "^S " out) && say "$n samples" && [ $n -ge 10 ] &&
	re=$(chain_re) && p=$(share out "$re") && say "full chain in $p%" &&
	[ $p -ge 99 ]
'

test_expect_success 'cpu mode: stripped binary, same depth, frames named module+0xOFFSET' '
	strip -o stripped target &&
	start_target stripped chain &&
	"$NSAMPLE" -r 1000 -p $PID -d 1.5 >out &&
	kill $PID && user_only out &&
	n=$(grep -c "^S " out) && say "$n samples" && [ $n -ge 10 ] &&
	u="stripped[+]0x[0-9a-f]+" && re="__libc_start_call_main;$u" &&
	for i in $(seq 1 12); do re="$re;$u"; done &&
	p=$(share out "$re\$") &&
	say "13 unnamed frames below libc in $p%" && [ $p -ge 99 ]
'

test_expect_success 'cpu mode: 30-deep stack of 9 KB frames, whole in >= 99%' '
	start_target target deep &&
	"$NSAMPLE" -r 1000 -p $PID -d 1.5 >out &&
	kill $PID && user_only out &&
	re="main" && for i in $(seq 1 30); do re="$re;d$i"; done &&
	p=$(share out "$re\$") && say "whole 30-deep stack in $p%" && [ $p -ge 99 ]
'

test_expect_success 'cpu mode: frame-pointer build, whole chain in >= 99%' '
	gcc -O2 -g -fno-omit-frame-pointer -pthread -o fp "$SRC" &&
	start_target fp chain &&
	"$NSAMPLE" -r 1000 -p $PID -d 1 >out &&
	kill $PID && user_only out &&
	p=$(share out "main;f1;f2;f3;f4;f5;f6;f7;f8;f9;f10;f11;f12\$") && say "$p%" && [ $p -ge 99 ]
'

# Kernel frames need kernel sampling (perf_event_paranoid <= 1 or root)
# and readable kernel addresses (kptr_restrict).
if grep -q "describe\|cpu-clock via\|cycles via" probe.out && ! grep -q ":u via" probe.out &&
   [ "$(head -n 1 /proc/kallsyms | cut -c1-16)" != 0000000000000000 ]; then
	test_expect_success 'cpu mode: kernel frames above the system call, named from kallsyms' '
		start_target target kernel &&
		"$NSAMPLE" -r 1000 -p $PID -d 1 >out &&
		n=$(grep -c "^S " out) && [ $n -ge 10 ] &&
		p=$(share out "main;read_zero;read;entry_SYSCALL_64[a-z_]*_\\[k\\];.*_\\[k\\]\$") &&
		say "$p% of $n samples in the kernel under read()" && [ $p -ge 50 ]
	'
else
	test_skip 'cpu mode: kernel frames' 'kernel sampling or kernel addresses not permitted'
fi

test_done
