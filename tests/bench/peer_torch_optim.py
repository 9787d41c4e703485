#!/usr/bin/python3
"""Peer for `nnla-bench optim`: libnnla's optimizer steps and losses against PyTorch's, in one
process, interleaved (A, B, A, B, ... after a warm-up; medians), float64.

usage: /usr/bin/python3 tests/bench/peer_torch_optim.py path/to/libnnla.so [n]

For n parameters (default 1000000) it times nnla_optim_step (through ctypes, on NumPy buffers)
against `opt.step()` of torch.optim.Adam, AdamW and SGD(momentum=0.9, nesterov=True) on one
parameter tensor holding the same values (torch's default single-tensor path), and the losses on a
1024 x 10 batch with their gradients: nnla_loss_cross_entropy against F.cross_entropy + backward,
nnla_loss_bce_logits against F.binary_cross_entropy_with_logits + backward. One line per case:
    COMPARE <case> nnla_s=<median> torch_s=<median> speedup_vs_torch=<torch/nnla>
"""
import ctypes
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

from peerutil import compare

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "optim"))
from torch_check import CMat, OptimConfig, bind, view  # noqa: E402


def report(case, fa, fb, reps):
    ma, mb = compare(fa, fb, 2, reps)
    print(f"COMPARE {case} nnla_s={ma:.6g} torch_s={mb:.6g} speedup_vs_torch={mb / ma:.3f}", flush=True)


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    lib = ctypes.CDLL(sys.argv[1])
    bind(lib)
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1000000
    torch.set_default_dtype(torch.float64)
    print(f"# torch {torch.__version__}; {torch.get_num_threads()} threads; float64; n = {n}", flush=True)
    rng = np.random.default_rng(1)
    p = rng.uniform(-1, 1, n)
    g = rng.uniform(-1, 1, n)
    for name, cfg, make in (
        ("adam", lib.nnla_optim_adam_default(), lambda ps: torch.optim.Adam(ps, lr=1e-3)),
        ("adamw", lib.nnla_optim_adamw_default(), lambda ps: torch.optim.AdamW(ps, lr=1e-3)),
        ("sgd_nesterov", None, lambda ps: torch.optim.SGD(ps, lr=1e-3, momentum=0.9, nesterov=True)),
    ):
        if cfg is None:
            cfg = lib.nnla_optim_sgd_default()
            cfg.sgd.momentum = 0.9
            cfg.sgd.nesterov = 1
        size = ctypes.c_size_t()
        assert lib.nnla_optim_state_size(ctypes.byref(cfg), n, ctypes.byref(size)) == 0
        state = np.zeros(size.value // 8 + 1)
        assert lib.nnla_optim_state_init(ctypes.byref(cfg), n, state.ctypes.data, size.value) == 0
        pn = p.copy()
        param = torch.nn.Parameter(torch.from_numpy(p.copy()))
        param.grad = torch.from_numpy(g.copy())
        opt = make([param])

        def run_nnla(cfg=cfg, pn=pn, state=state):
            assert lib.nnla_optim_step(ctypes.byref(cfg), 1e-3, pn.ctypes.data, g.ctypes.data, n,
                                       state.ctypes.data) == 0

        report(f"optim_{name}_n{n}", run_nnla, opt.step, 15)

    rows, cols = 1024, 10
    z = rng.uniform(-4, 4, (rows, cols))
    labels = rng.integers(0, cols, rows).astype(np.uintp)
    t = rng.uniform(0, 1, (rows, cols))
    grad = np.empty_like(z)
    loss = ctypes.c_double()
    zt = torch.tensor(z, requires_grad=True)
    yt = torch.from_numpy(labels.astype(np.int64))
    tt = torch.from_numpy(t)

    def nnla_ce():
        assert lib.nnla_loss_cross_entropy(view(z), labels.ctypes.data, 0.0, ctypes.byref(loss), view(grad),
                                           None) == 0

    def torch_ce():
        zt.grad = None
        F.cross_entropy(zt, yt).backward()

    def nnla_bce():
        assert lib.nnla_loss_bce_logits(view(z), view(t), ctypes.byref(loss), view(grad)) == 0

    def torch_bce():
        zt.grad = None
        F.binary_cross_entropy_with_logits(zt, tt).backward()

    report(f"loss_cross_entropy_b{rows}x{cols}", nnla_ce, torch_ce, 201)
    report(f"loss_bce_logits_b{rows}x{cols}", nnla_bce, torch_bce, 201)
    return 0


if __name__ == "__main__":
    assert CMat and OptimConfig
    sys.exit(main())
