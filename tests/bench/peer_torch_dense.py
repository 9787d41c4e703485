#!/usr/bin/python3
"""Peer for `nnla-bench dense`: PyTorch float64 F.linear + relu against its own matmul.

Same shapes and the same measure as nnla-bench (interleaved runs after a warm-up, medians):
    BENCH torch_dense_<case> median_s=<s> gflops=<g> speedup_vs_matmul=<x>
speedup_vs_matmul = matmul median / (linear + relu) median; the matmul is x @ w.T (torch.mm,
a fresh output each call, as F.linear's). Run with Debian's python3-torch:
    /usr/bin/python3 tests/bench/peer_torch_dense.py [reps]
"""
import sys

import torch
import torch.nn.functional as F

from peerutil import compare

CASES = [
    ("b256_1024x1024_relu", 256, 1024, 1024, 41),
    ("b64_784x256_relu", 64, 784, 256, 301),
    ("b1_1024x1024", 1, 1024, 1024, 301),
]


def main():
    reps_override = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    torch.manual_seed(0)
    print(f"# torch {torch.__version__}; {torch.get_num_threads()} threads; float64", flush=True)
    with torch.no_grad():
        for name, batch, n_in, n_out, reps in CASES:
            x = torch.rand(batch, n_in, dtype=torch.float64) * 2 - 1
            w = (torch.rand(n_out, n_in, dtype=torch.float64) * 2 - 1) * 0.05
            b = (torch.rand(n_out, dtype=torch.float64) * 2 - 1) * 0.1
            if batch == 1:
                x = x[0]  # one sample: a matrix-vector product, as nnla's dgemv path

            def layer():
                return F.relu(F.linear(x, w, b))

            def matmul():
                return w @ x if batch == 1 else x @ w.t()

            t_layer, t_mm = compare(layer, matmul, 5, reps_override or reps)
            flops = 2.0 * batch * n_in * n_out
            print(f"BENCH torch_dense_{name} median_s={t_layer:.6g} gflops={flops / t_layer * 1e-9:.4g} "
                  f"speedup_vs_matmul={t_mm / t_layer:.4f}", flush=True)


if __name__ == "__main__":
    main()
