# bench/record/run: sonda record's rate delivered and target slowdown, beside austin.
EXTRA_DIST += bench/record/run bench/record/pause-cost.c bench/record/work.py bench/record/torn.py
