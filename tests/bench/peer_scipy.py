#!/usr/bin/python3
"""SciPy peer of `nnla-bench svd` and `nnla-bench eigh`: the same matrices, sizes and statistic.

    /usr/bin/python3 tests/bench/peer_scipy.py [svd|eigh|all] [n ...]

Prints one line per case:
    PEER scipy_svd_thin_n256 median_s=<seconds> reps=<r>
    PEER scipy_eigh_vectors_n256 median_s=<seconds> reps=<r>

The matrices are built by the same formula as tests/bench/bench_linalg.c:
a_ij = sin(i n + j) for the SVD, and a_ij + a_ji of that for eigh. Each timed run is one call of
scipy.linalg.svd(a, full_matrices=False, lapack_driver='gesdd') or
scipy.linalg.eigh(a, driver='evd') with their defaults (check_finite=True, overwrite_a=False:
SciPy scans and copies the input, as libnnla does). Median of the runs after one warm-up;
NNLA_BENCH_REPS overrides the number of runs. Debian's SciPy uses the system LAPACK, which on
these machines is OpenBLAS's (the same library libnnla calls).
"""
import os
import sys
import time

import numpy as np
import scipy
import scipy.linalg

DEFAULT_SIZES = (256, 512, 1024)


def reps_for(n):
    env = os.environ.get("NNLA_BENCH_REPS")
    if env and int(env) > 0:
        return int(env)
    return 21 if n <= 256 else 11 if n <= 512 else 5


def svd_matrix(n):
    i, j = np.indices((n, n), dtype=np.float64)
    return np.sin(i * n + j)


def eigh_matrix(n):
    a = svd_matrix(n)
    return a + a.T


def median_time(fn, reps, warmup=1):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main(argv):
    what = argv[0] if argv and argv[0] in ("svd", "eigh", "all") else "all"
    sizes = [int(x) for x in argv if x.isdigit() and int(x) > 0] or list(DEFAULT_SIZES)
    print(f"# scipy {scipy.__version__}, numpy {np.__version__}, python {sys.version.split()[0]}", flush=True)
    if what in ("svd", "all"):
        for n in sizes:
            a = svd_matrix(n)
            reps = reps_for(n)
            t = median_time(lambda: scipy.linalg.svd(a, full_matrices=False, lapack_driver="gesdd"), reps)
            print(f"PEER scipy_svd_thin_n{n} median_s={t:.6g} reps={reps}", flush=True)
    if what in ("eigh", "all"):
        for n in sizes:
            a = eigh_matrix(n)
            reps = reps_for(n)
            t = median_time(lambda: scipy.linalg.eigh(a, driver="evd"), reps)
            print(f"PEER scipy_eigh_vectors_n{n} median_s={t:.6g} reps={reps}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
