# torn.py - a target whose stack changes every microsecond or so, for
# counting torn reads: `python torn.py --check FOLDED` prints how many
# sampled stacks are impossible (a call path or a line this program never has).
import sys


def c(n):
    s = 0
    for i in range(n):
        s += i
    return s


def b(n):
    return c(n)


def a(n):
    return b(n)


def d(n):
    s = 0
    for i in range(n):
        s += i
    return s


def main():
    while 1:
        a(2)
        d(2)


def check(path, verbose):
    import inspect
    src = sys.modules[__name__]
    spans = {}
    for name in ("c", "b", "a", "d", "main"):
        lines, first = inspect.getsourcelines(getattr(src, name))
        spans[name] = (first, first + len(lines) - 1)
    good = [["main"], ["main", "a"], ["main", "a", "b"], ["main", "a", "b", "c"], ["main", "d"]]
    total = bad = 0
    for row in open(path):
        stack, _, count = row.rstrip("\n").rpartition(" ")
        n = int(count)
        total += n
        frames = [f for f in stack.split(";") if f]
        names, ok = [], True
        for f in frames:
            name, _, loc = f.partition(" (")
            names.append(name)
            line = loc.rstrip(")").rpartition(":")[2]
            if name in spans and not (line.isdigit() and spans[name][0] <= int(line) <= spans[name][1]):
                ok = False
        if names and names[0] == "<module>":
            names = names[1:]
        if not ok or names not in good:
            bad += n
            if verbose:
                sys.stderr.write("bad: %s\n" % row.rstrip())
    print("%d %d" % (total, bad))


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--check":
        check(sys.argv[2], "-v" in sys.argv)
    else:
        main()
