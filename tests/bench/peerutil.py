"""Shared by the peer scripts: the interleaved timing that nnla-bench's bench_compare() does."""
import statistics
import time


def compare(fa, fb, warmup, reps):
    """Run fa and fb alternately (A, B, A, B, ...) after `warmup` rounds; return both medians."""
    for _ in range(warmup):
        fa()
        fb()
    ta, tb = [], []
    for _ in range(reps):
        t0 = time.perf_counter()
        fa()
        t1 = time.perf_counter()
        fb()
        t2 = time.perf_counter()
        ta.append(t1 - t0)
        tb.append(t2 - t1)
    return statistics.median(ta), statistics.median(tb)
