#!/bin/sh
# t7007 - per-thread counting: exact peaks when threads take turns, exact totals with more threads than slots and with slots given back and reused.
. "$(dirname "$0")/../lib.sh"
. "$SRCDIR/tests/tracer-lib.sh"

tracer_prereqs || { test_skip 'per-thread counting' "$TRACER_SKIP"; test_done; }

q() { sqlite3 -separator " " "$1" "$2"; }
# allocs frees bytes live_count live_bytes peak_bytes of the stacks whose leaf is $2
leaf() {
	q "$1" "select sum(a.allocs), sum(a.frees), sum(a.bytes), sum(a.live_count), sum(a.live_bytes),
		sum(a.peak_bytes) from allocs a join callsites c on c.id = a.callsite join frames f on f.id = c.frame
		join strings fn on fn.id = f.function where fn.value = \"$2\""
}

# Two threads take turns (a mutex and a condition variable), each turn a
# few allocations and frees of the top of one shared stack, so a thread
# frees the other's blocks: the order of events is the program's, and the
# program knows the site's live bytes and peak, and the process's peak.
cat >turns.c <<'EOF'
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

int sonda_alloc_traced(size_t *current, size_t *peak) __attribute__((weak));

#define ROUNDS 4000
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static pthread_barrier_t bar;
static int turn;
static void *stack[ROUNDS * 8];
static size_t sizes[ROUNDS * 8];
static int top;
static long live, peak;
static size_t base, peak0;
static unsigned long long rng = 12345;

static unsigned next(void)
{
	rng = rng * 6364136223846793005ull + 1442695040888963407ull;
	return (unsigned)(rng >> 33);
}

__attribute__((noinline)) void *site_turns(size_t n) { return malloc(n); }

static void step(void)
{
	int k = (int)(next() % 8), f = (int)(next() % 8);

	for (int i = 0; i < k; i++) {
		size_t n = 16 + next() % 4000;

		stack[top] = site_turns(n);
		sizes[top++] = n;
		live += (long)n;
		if (live > peak)
			peak = live;
	}
	for (int i = 0; i < f && top > 0; i++) {
		free(stack[--top]);
		live -= (long)sizes[top];
	}
}

static void *work(void *arg)
{
	int id = (int)(long)arg;

	pthread_barrier_wait(&bar);
	for (int r = id; r < ROUNDS; r += 2) {
		pthread_mutex_lock(&mu);
		while (turn != id)
			pthread_cond_wait(&cv, &mu);
		if (r == 0 && sonda_alloc_traced)
			sonda_alloc_traced(&base, &peak0);
		step();
		turn = 1 - id;
		pthread_cond_broadcast(&cv);
		pthread_mutex_unlock(&mu);
	}
	return NULL;
}

int main(void)
{
	pthread_t t[2];
	size_t cur = 0, p = 0, want;

	pthread_barrier_init(&bar, NULL, 2);
	for (long i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, work, (void *)i);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	if (sonda_alloc_traced)
		sonda_alloc_traced(&cur, &p);
	want = base + (size_t)peak > peak0 ? base + (size_t)peak : peak0;
	printf("site_turns %ld %ld\n", live, peak);
	if (sonda_alloc_traced)
		printf("process peak %s\n", p == want ? "exact" : "wrong");
	return 0;
}
EOF

# Three waves of 80 threads, all alive at once (more than the 64 slots):
# each 1000 blocks of 32 bytes allocated and freed, 2 of 100 kept.
cat >many.c <<'EOF'
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define N 80
static pthread_barrier_t bar;
static void *kept[3][N][2];

__attribute__((noinline)) void *site_many(size_t n) { return malloc(n); }

static void *work(void *arg)
{
	void **keep = arg;

	pthread_barrier_wait(&bar);
	for (int i = 0; i < 1000; i++)
		free(site_many(32));
	keep[0] = site_many(100);
	keep[1] = site_many(100);
	return NULL;
}

int main(void)
{
	pthread_t t[N];

	for (int w = 0; w < 3; w++) {
		pthread_barrier_init(&bar, NULL, N);
		for (int i = 0; i < N; i++)
			if (pthread_create(&t[i], NULL, work, kept[w][i]) != 0)
				return 1;
		for (int i = 0; i < N; i++)
			pthread_join(t[i], NULL);
		pthread_barrier_destroy(&bar);
	}
	printf("many done\n");
	return 0;
}
EOF

test_expect_success 'fixtures build' '
	cc -O0 -g -fno-omit-frame-pointer -pthread -o turns turns.c &&
	cc -O0 -g -fno-omit-frame-pointer -pthread -o many many.c
'

test_expect_success 'threads taking turns: the site peak and the process peak are exact' '
	./turns >plain.out &&
	timeout 90 "$SONDA" run --alloc -o t.db -- ./turns >run.out &&
	head -n 1 plain.out >expect && head -n 1 run.out >actual && test_cmp expect actual &&
	echo "process peak exact" >expect && tail -n 1 run.out >actual && test_cmp expect actual &&
	read -r name live peak <plain.out &&
	leaf t.db site_turns | cut -d" " -f5,6 >actual && echo "$live $peak" >expect && test_cmp expect actual
'

test_expect_success '240 threads, 80 at once: exact totals at the site' '
	timeout 90 "$SONDA" run --alloc -o m.db -- ./many >/dev/null &&
	leaf m.db site_many | cut -d" " -f1-5 >actual &&
	echo "240480 240000 7728000 480 48000" >expect && test_cmp expect actual
'

# Three threads keep 1000 blocks of 100 bytes each, the main thread 500,
# and all stay alive: what sonda top reads from the region is in their slots.
cat >hold.c <<'EOF'
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

__attribute__((noinline)) void *held_site(size_t n) { return malloc(n); }

static pthread_barrier_t bar;

static void *work(void *arg)
{
	(void)arg;
	for (int i = 0; i < 1000; i++)
		held_site(100);
	pthread_barrier_wait(&bar);
	for (;;)
		pause();
	return NULL;
}

int main(void)
{
	pthread_t t[3];
	FILE *f;

	pthread_barrier_init(&bar, NULL, 4);
	for (int i = 0; i < 3; i++)
		pthread_create(&t[i], NULL, work, NULL);
	for (int i = 0; i < 500; i++)
		held_site(100);
	pthread_barrier_wait(&bar);
	f = fopen("hold.tmp", "w");
	fprintf(f, "%d\n", (int)getpid());
	fclose(f);
	rename("hold.tmp", "hold.pid");
	for (;;)
		pause();
}
EOF

test_expect_success 'sonda top reads the live threads'"'"' slots: exact allocations and bytes' '
	cc -O0 -g -fno-omit-frame-pointer -pthread -o hold hold.c &&
	test_spawn "$SONDA" run --alloc -o h.db -- ./hold &&
	test_wait_for "test -s hold.pid" 10 &&
	pid=$(cat hold.pid) && echo "$pid" >>"$TRASH/.pids" &&
	test_wait_for "test -f /dev/shm/sonda-$pid" 5 &&
	{ "$SONDA" top -b -n 1 --refresh 0.5 -p "$pid" >top.out 2>top.err; rc=$?; kill "$pid"; test $rc = 0; } &&
	grep held_site top.out | awk "{ print \$4, \$5 }" | sort -n >actual &&
	printf "%s\n" "500 48.8K" "3000 293.0K" >expect && test_cmp expect actual
'

test_done
