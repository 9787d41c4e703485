#!/usr/bin/python3
"""nnla_rsvd against scikit-learn's randomized_svd and torch.svd_lowrank, in one process, interleaved.

usage: /usr/bin/python3 tests/bench/peer_lowrank.py path/to/libnnla.so [MxN ...]

For each shape (default 1024x1024 and 4096x1024) it builds A = U diag(sigma) V^T with
sigma_i = 1 / (i + 1) and orthonormalized Gaussian U, V (fixed seed; the same kind of matrix as
`nnla-bench lowrank`), and runs with rank k = 32, oversampling p = 10, q = 2 power iterations:
  - nnla_rsvd (thin) through ctypes on the NumPy buffer, workspace allocated once;
  - sklearn.utils.extmath.randomized_svd(A, 32, n_oversamples=10, n_iter=2) with its default
    power_iteration_normalizer='auto', which for n_iter <= 2 is 'none': no re-orthonormalization
    between the power iterations (libnnla re-orthonormalizes after every product, HMT Alg. 4.4);
  - the same with power_iteration_normalizer='QR' (the algorithm libnnla runs);
  - torch.svd_lowrank(A, q=42, niter=2), its first 32 triplets.
Each peer is timed alternately with nnla after a warm-up (peerutil.compare) and one line printed:
  COMPARE <case> nnla_s=<median> <peer>_s=<median> speedup_vs_<peer>=<peer/nnla>
          nnla_err_ratio=<median> <peer>_err_ratio=<median>
where err_ratio = ||A - A_k||_2 / sigma_{k+1}, its median over seeds 0..8 of each method (one draw
is luck: a single seed ranges over 1.001-1.07 here).
"""
import ctypes
import sys

import numpy as np

from peerutil import compare

K, P, Q = 32, 10, 2


class CMat(ctypes.Structure):
    _fields_ = [("rows", ctypes.c_size_t), ("cols", ctypes.c_size_t), ("ld", ctypes.c_size_t),
                ("data", ctypes.c_void_p)]


def view(a):
    return CMat(a.shape[0], a.shape[1], a.strides[0] // 8, a.ctypes.data)


def make_matrix(m, n, rng):
    r = min(m, n)
    u, _ = np.linalg.qr(rng.standard_normal((m, r)))
    v, _ = np.linalg.qr(rng.standard_normal((n, r)))
    sigma = 1.0 / (np.arange(r) + 1.0)
    return np.ascontiguousarray((u * sigma) @ v.T), sigma


def err_ratio(a, u, s, vt, sigma):
    return np.linalg.norm(a - (u[:, :K] * s[:K]) @ vt[:K], 2) / sigma[K]


SEEDS = range(9)


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    lib = ctypes.CDLL(sys.argv[1])
    lib.nnla_rsvd_workspace_size.argtypes = [ctypes.c_int, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_size_t,
                                             ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)]
    lib.nnla_rsvd.argtypes = [ctypes.c_int, CMat, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_size_t,
                              ctypes.c_uint64, ctypes.c_void_p, CMat, CMat, ctypes.c_void_p, ctypes.c_size_t,
                              ctypes.c_void_p]
    shapes = [tuple(int(v) for v in s.split("x")) for s in sys.argv[2:]] or [(1024, 1024), (4096, 1024)]
    try:
        from sklearn.utils.extmath import randomized_svd
    except ImportError:
        randomized_svd = None
    try:
        import torch
    except ImportError:
        torch = None
    print("# numpy %s; sklearn %s; torch %s (%s threads)" % (
        np.__version__, __import__("sklearn").__version__ if randomized_svd else "missing",
        torch.__version__ if torch else "missing", torch.get_num_threads() if torch else "-"), flush=True)
    rng = np.random.default_rng(4321)
    for m, n in shapes:
        a, sigma = make_matrix(m, n, rng)
        case = "rsvd_%dx%d_k%d" % (m, n, K)
        ws = ctypes.c_size_t()
        assert lib.nnla_rsvd_workspace_size(1, m, n, K, P, ctypes.byref(ws)) == 0
        work = np.empty(ws.value // 8 + 1)
        s = np.empty(K)
        u = np.empty((m, K))
        vt = np.empty((K, n))

        def run_nnla(seed=0):
            st = lib.nnla_rsvd(1, view(a), K, P, Q, seed, s.ctypes.data, view(u), view(vt), work.ctypes.data,
                               ws.value, None)
            assert st == 0, st
            return u, s, vt

        e_nnla = np.median([err_ratio(a, *run_nnla(seed), sigma) for seed in SEEDS])
        reps = 7 if m * n <= 1 << 20 else 5
        peers = []
        if randomized_svd is not None:
            peers.append(("sklearn", lambda seed=0: randomized_svd(a, K, n_oversamples=P, n_iter=Q, random_state=seed)))
            peers.append(("sklearn_qr", lambda seed=0: randomized_svd(a, K, n_oversamples=P, n_iter=Q,
                                                                     power_iteration_normalizer="QR",
                                                                     random_state=seed)))
        if torch is not None:
            at = torch.from_numpy(a)

            def run_torch(seed=0):
                torch.manual_seed(seed)
                pu, ps, pv = (x.numpy() for x in torch.svd_lowrank(at, q=K + P, niter=Q))
                return pu, ps, pv.T
            peers.append(("torch", run_torch))
        for name, fn in peers:
            e_peer = np.median([err_ratio(a, *fn(seed), sigma) for seed in SEEDS])
            ma, mb = compare(run_nnla, fn, 1, reps)
            print("COMPARE %s nnla_s=%.6g %s_s=%.6g speedup_vs_%s=%.3f nnla_err_ratio=%.5f %s_err_ratio=%.5f" % (
                case, ma, name, mb, name, mb / ma, e_nnla, name, e_peer), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
