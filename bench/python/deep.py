# deep.py - a target for bench/python: one thread spinning at the bottom of
# a stack of exactly FRAMES Python frames (default 40), any CPython 2.7+.
#   python deep.py [FRAMES] [--ready FILE]
import os
import sys


def spin(ready):
    if ready:
        with open(ready + ".tmp", "w") as f:
            f.write("%d\n" % os.getpid())
        os.rename(ready + ".tmp", ready)
    x = 0
    while 1:
        x += 1


def descend(n, ready):
    if n > 0:
        return descend(n - 1, ready)
    return spin(ready)


def main():
    frames = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 40
    ready = sys.argv[sys.argv.index("--ready") + 1] if "--ready" in sys.argv else None
    # <module>, main, descend x (frames - 3), spin
    descend(frames - 4, ready)


main()
