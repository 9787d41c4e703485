#!/usr/bin/python3
"""nnla against SciPy in one process, interleaved: the fair comparison on a noisy machine.

usage: /usr/bin/python3 tests/bench/peer_scipy_inproc.py path/to/libnnla.so [n ...]

For each n (default 256 512 1024) it builds one n x n matrix (standard normal, fixed seed;
symmetrized for eigh), then times, alternately after a warm-up,
  - nnla_svd(NNLA_SVD_THIN) / nnla_eigh(NNLA_EIGH_VECTORS) called through ctypes on the NumPy
    buffers, with a workspace allocated once (as a C user would), and
  - scipy.linalg.svd(a, full_matrices=False, lapack_driver='gesdd') /
    scipy.linalg.eigh(a, driver='evd'), as a Python user would call them,
and prints one line per case:
  COMPARE <case> nnla_s=<median> scipy_s=<median> speedup_vs_scipy=<scipy/nnla>
Results are cross-checked (singular values, eigenvalues) before timing.
"""
import ctypes
import sys

import numpy as np
import scipy.linalg

from peerutil import compare


class CMat(ctypes.Structure):
    _fields_ = [("rows", ctypes.c_size_t), ("cols", ctypes.c_size_t), ("ld", ctypes.c_size_t),
                ("data", ctypes.c_void_p)]


def view(a):
    return CMat(a.shape[0], a.shape[1], a.strides[0] // 8, a.ctypes.data)


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    lib = ctypes.CDLL(sys.argv[1])
    sizes = [int(x) for x in sys.argv[2:]] or [256, 512, 1024]
    lib.nnla_svd_workspace_size.argtypes = [ctypes.c_int, ctypes.c_size_t, ctypes.c_size_t,
                                            ctypes.POINTER(ctypes.c_size_t)]
    lib.nnla_svd.argtypes = [ctypes.c_int, CMat, ctypes.c_void_p, CMat, CMat, ctypes.c_void_p,
                             ctypes.c_size_t, ctypes.c_void_p]
    lib.nnla_eigh_workspace_size.argtypes = [ctypes.c_int, ctypes.c_size_t,
                                             ctypes.POINTER(ctypes.c_size_t)]
    lib.nnla_eigh.argtypes = [ctypes.c_int, CMat, ctypes.c_void_p, CMat, ctypes.c_void_p, ctypes.c_size_t]
    rng = np.random.default_rng(12345)
    for n in sizes:
        reps = 21 if n <= 256 else 11 if n <= 512 else 5
        a = np.ascontiguousarray(rng.standard_normal((n, n)))
        sym = np.ascontiguousarray(a + a.T)

        # --- SVD (thin)
        ws = ctypes.c_size_t()
        assert lib.nnla_svd_workspace_size(1, n, n, ctypes.byref(ws)) == 0
        work = np.empty(ws.value // 8 + 1)
        s = np.empty(n)
        u = np.empty((n, n))
        vt = np.empty((n, n))

        def run_nnla_svd():
            st = lib.nnla_svd(1, view(a), s.ctypes.data, view(u), view(vt), work.ctypes.data, ws.value, None)
            assert st == 0, st

        def run_scipy_svd():
            return scipy.linalg.svd(a, full_matrices=False, lapack_driver="gesdd")

        run_nnla_svd()
        ref = run_scipy_svd()[1]
        assert np.allclose(s, ref, rtol=1e-10, atol=1e-10 * ref[0])
        report(f"svd_thin_n{n}", run_nnla_svd, run_scipy_svd, reps)

        # --- eigh (vectors)
        assert lib.nnla_eigh_workspace_size(1, n, ctypes.byref(ws)) == 0
        work = np.empty(ws.value // 8 + 1)
        w = np.empty(n)
        v = np.empty((n, n))

        def run_nnla_eigh():
            st = lib.nnla_eigh(1, view(sym), w.ctypes.data, view(v), work.ctypes.data, ws.value)
            assert st == 0, st

        def run_scipy_eigh():
            return scipy.linalg.eigh(sym, driver="evd")

        run_nnla_eigh()
        ref = run_scipy_eigh()[0]
        assert np.allclose(w, ref, rtol=1e-10, atol=1e-10 * abs(ref).max())
        report(f"eigh_vectors_n{n}", run_nnla_eigh, run_scipy_eigh, reps)
    return 0


def report(case, fa, fb, reps):
    ma, mb = compare(fa, fb, 1, reps)
    print(f"COMPARE {case} nnla_s={ma:.6g} scipy_s={mb:.6g} speedup_vs_scipy={mb / ma:.3f}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
