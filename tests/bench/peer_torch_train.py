#!/usr/bin/env python3
"""The training benchmark's PyTorch peer: one epoch over 1437 digits, batch 32, Adam, for the CNN and
the MLP of tests/bench/train_model.c, in float64, timed interleaved with libnnla's epochs in this
process (libnnla_benchtrain.so through ctypes: the same models, data, batch and optimizer).

usage: [OMP_NUM_THREADS=T] peer_torch_train.py BUILD_DIR [--reps N]   (T: libnnla's threads)

libnnla prefers the OpenMP build of OpenBLAS; PyTorch (imported first) would load the pthread build
into the process, which libnnla then has to use. The script therefore re-runs itself with
LD_LIBRARY_PATH pointing at Debian's OpenMP build (both libraries then share it), unless it is
already set or the build is not installed.

PyTorch runs at its best thread count on this machine: 1 and every core (Debian's build starts at 1
here) are timed and the faster is reported (with the count). libnnla runs at its own count
(OMP_NUM_THREADS, or every core), which bt_epoch() sets for its epochs: the two share libgomp, and
torch.set_num_threads() would otherwise set libnnla's count too. Prints, per model,
  BENCH peer_train_<model> nnla_ms=... nnla_threads=... torch_ms=... torch_threads=... speedup_vs_torch=...
"""
import ctypes
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peerutil import compare  # noqa: E402

torch.set_default_dtype(torch.float64)
HERE = os.path.dirname(os.path.abspath(__file__))
DIGITS = os.path.join(HERE, "..", "..", "docs", "examples", "data", "digits.csv.gz")


def load():
    data = np.loadtxt(DIGITS, delimiter=",")[:1437]
    x = torch.from_numpy(data[:, :64] / 16.0)
    y = torch.from_numpy(data[:, 64].astype(np.int64))
    return x, y


def model(cnn):
    nn = torch.nn
    if cnn:
        return nn.Sequential(nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(512, 64), nn.ReLU(),
                             nn.Linear(64, 10))
    return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))


def main():
    omp = "/usr/lib/x86_64-linux-gnu/openblas-openmp"
    if os.path.isdir(omp) and omp not in os.environ.get("LD_LIBRARY_PATH", ""):
        env = dict(os.environ, LD_LIBRARY_PATH=omp + ":" + os.environ.get("LD_LIBRARY_PATH", ""))
        os.execve(sys.executable, [sys.executable] + sys.argv, env)
    build = sys.argv[1]
    reps = int(sys.argv[sys.argv.index("--reps") + 1]) if "--reps" in sys.argv else 7
    lib = ctypes.CDLL(os.path.join(build, "tests", "bench", "libnnla_benchtrain.so"))
    lib.bt_setup.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.bt_epoch.restype = ctypes.c_double
    x, y = load()
    cores = os.cpu_count() or 1
    nnla_threads = int(os.environ.get("OMP_NUM_THREADS", cores))
    for cnn in (1, 0):
        if lib.bt_setup(cnn, DIGITS.encode(), nnla_threads) != 0:
            sys.exit("cannot set up libnnla's model")
        best = None
        for threads in sorted({1, cores}):
            torch.set_num_threads(threads)
            m = model(cnn)
            opt = torch.optim.Adam(m.parameters())
            lossf = torch.nn.CrossEntropyLoss()
            gen = torch.Generator().manual_seed(0)

            def torch_epoch():
                perm = torch.randperm(x.shape[0], generator=gen)
                for i in range(0, x.shape[0], 32):
                    idx = perm[i:i + 32]
                    opt.zero_grad()
                    loss = lossf(m(x[idx]), y[idx])
                    loss.backward()
                    opt.step()

            def nnla_epoch():
                if lib.bt_epoch() < 0:
                    sys.exit("libnnla's epoch failed")

            tn, tt = compare(nnla_epoch, torch_epoch, 1, reps)
            if best is None or tt < best[1]:
                best = (tn, tt, threads)
        lib.bt_teardown()
        tn, tt, threads = best
        print("BENCH peer_train_%s nnla_ms=%.4g nnla_threads=%d torch_ms=%.4g torch_threads=%d speedup_vs_torch=%.3g" %
              ("cnn" if cnn else "mlp", 1e3 * tn, nnla_threads, 1e3 * tt, threads, tt / tn))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
