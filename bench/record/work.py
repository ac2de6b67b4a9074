# work.py - fixed work for target slowdown: prints "wall cpu" seconds of the work alone.
import sys, time

def leaf(n):
    s = 0
    for i in range(n):
        s += i * i
    return s

def deep(d, n):
    if d == 0:
        return leaf(n)
    return deep(d - 1, n)

t0, c0 = time.perf_counter(), time.process_time()
for _ in range(int(sys.argv[1]) if len(sys.argv) > 1 else 100):
    deep(40, 50000)
print("%.4f %.4f" % (time.perf_counter() - t0, time.process_time() - c0))
