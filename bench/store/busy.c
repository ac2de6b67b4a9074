/* busy.c - a CPU-bound program with a known stack depth, for perf record in bench/store/run. */
#include <pthread.h>
#include <stdlib.h>

static volatile unsigned long sink;
static int depth = 30;

__attribute__((noinline)) static void spin(int d)
{
	if (d < depth) {
		spin(d + 1);
		sink++;	/* no tail call: every level stays on the stack */
		return;
	}
	for (;;)
		for (int i = 0; i < 1000; i++)
			sink += (unsigned long)i;
}

static void *thread_main(void *arg)
{
	(void)arg;
	spin(1);
	return NULL;
}

int main(int argc, char **argv)
{
	int threads = argc > 1 ? atoi(argv[1]) : 1;
	pthread_t t;

	if (argc > 2)
		depth = atoi(argv[2]);
	for (int i = 1; i < threads; i++)
		pthread_create(&t, NULL, thread_main, NULL);
	thread_main(NULL);
	return 0;
}
