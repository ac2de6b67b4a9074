# hist-quantile.py - prints quantiles of a store histogram blob given in hex (store/schema.c encoding).
# usage: python3 hist-quantile.py HEX Q...   (the store's own rule: bucket midpoints)
import sys

SUBBITS, SUB, MAXEXP = 4, 16, 44
BUCKETS = (MAXEXP - SUBBITS + 1) * SUB


def value(b):
    if b < SUB:
        return b
    group, sub = divmod(b, SUB)
    shift = group - 1
    return ((SUB + sub) << shift) + ((1 << shift) >> 1)


raw = bytes.fromhex(sys.argv[1])
hist = [0] * BUCKETS
for i in range(0, len(raw) - len(raw) % 6, 6):
    hist[raw[i] | raw[i + 1] << 8] = int.from_bytes(raw[i + 2:i + 6], "little")
total = sum(hist)
for q in sys.argv[2:]:
    rank = max(1, int(float(q) * total + 0.999999))
    seen = 0
    for b, n in enumerate(hist):
        seen += n
        if seen >= rank:
            print(value(b))
            break
