/* unit.h - a minimal TAP harness for C unit tests (tests/unit/test-*.c).
 *
 * Why not Check: one header, no fork per test (ASan and UBSan then report
 * in the process that failed), and the same TAP the shell tests print, so
 * tests/run counts both the same way.
 *
 *   static void test_x(void) { CHECK(a == b); CHECK_EQ_INT(n, 3); }
 *   int main(void) { RUN(test_x); return unit_done(); }
 */
#ifndef SONDA_UNIT_H
#define SONDA_UNIT_H

#include <stdio.h>
#include <string.h>

static int unit_count, unit_failed, unit_case_failed;

#define CHECK(cond) do { if (!(cond)) { \
	printf("#   %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
	unit_case_failed = 1; } } while (0)
#define CHECK_EQ_INT(a, b) do { long long a_ = (long long)(a), b_ = (long long)(b); \
	if (a_ != b_) { printf("#   %s:%d: %s == %lld, expected %s == %lld\n", \
		__FILE__, __LINE__, #a, a_, #b, b_); unit_case_failed = 1; } } while (0)
#define CHECK_EQ_STR(a, b) do { const char *a_ = (a), *b_ = (b); \
	if (!a_ || !b_ || strcmp(a_, b_)) { printf("#   %s:%d: %s == \"%s\", expected \"%s\"\n", \
		__FILE__, __LINE__, #a, a_ ? a_ : "(null)", b_ ? b_ : "(null)"); \
		unit_case_failed = 1; } } while (0)

#define RUN(fn) do { unit_case_failed = 0; fn(); unit_count++; \
	if (unit_case_failed) unit_failed++; \
	printf("%s %d - %s\n", unit_case_failed ? "not ok" : "ok", unit_count, #fn); \
	fflush(stdout); } while (0)

static inline int unit_done(void)
{
	printf("1..%d\n", unit_count);
	return unit_failed ? 1 : 0;
}

#endif
