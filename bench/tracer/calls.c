/* calls.c - benchmark workload: tens of millions of calls to small functions (build with -finstrument-functions or -pg). */
#include <stdio.h>
#include <stdlib.h>

static volatile long sink;

__attribute__((noinline)) static long leaf(long x)
{
	return x * 3 + 1;
}

__attribute__((noinline)) static long mid(long x)
{
	return leaf(x) + leaf(x + 1);
}

__attribute__((noinline)) static long top(long x)
{
	return mid(x) ^ mid(x + 2);
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 2000000;
	long s = 0;

	/* 7 calls per iteration: top, 2 mid, 4 leaf */
	for (long i = 0; i < n; i++)
		s += top(i);
	sink = s;
	printf("%ld calls\n", n * 7);
	return 0;
}
