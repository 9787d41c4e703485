#!/usr/bin/python3
"""Peer benchmark for `nnla-bench conv`: torch.nn.functional.conv2d + bias + ReLU in float64.

Times relu(conv2d(x, w, b, padding=p)) on the shapes of `nnla-bench conv` (stride 1) and prints

    PEER torch_conv_<case> median_s=<s> gflops=<g>

with <case> the nnla-bench case name without its "conv_" prefix (median of the timed runs after
a warm-up; gflops counts the convolution's 2*batch*out*in*kh*kw*out_h*out_w operations).

Given libnnla (--lib path/to/libnnla.so, or found next to the nnla-bench given as an argument),
it also runs nnla_conv2d_forward on the very same buffers through ctypes, the two timed in
alternation (torch, nnla, torch, nnla, ...) so both see the same machine, and prints

    RATIO conv_<case> nnla_over_torch=<torch median / nnla median> nnla_gflops=<g> torch_gflops=<g>

It checks that the two outputs agree. Given the path of nnla-bench, it then runs
`nnla-bench conv` (after the torch runs, not at the same time) and passes its BENCH lines through.

Usage: /usr/bin/python3 tests/bench/peer_torch_conv.py [path/to/nnla-bench] [--lib LIB]
                                                       [--reps N] [--no-bench]
Torch runs with its default thread settings (Debian's python3-torch: its float64 convolution
is its own im2col plus the BLAS it is linked with); the script prints them.
"""
import ctypes
import os
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

CASES = [  # (batch, in, h, w, out, kernel, pad), as bench_conv_shapes in tests/bench/bench_util.c
    (32, 3, 32, 32, 32, 3, 1),
    (32, 32, 32, 32, 64, 3, 1),
    (8, 64, 56, 56, 64, 3, 1),
    (8, 256, 14, 14, 256, 3, 1),
    (8, 64, 56, 56, 256, 1, 0),
]

NNLA_ACT_RELU = 3


class ConvDesc(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in (
        "in_channels", "out_channels", "kernel_h", "kernel_w", "stride_h", "stride_w",
        "pad_top", "pad_bottom", "pad_left", "pad_right", "dilation_h", "dilation_w", "groups")]


class Act(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_int), ("param", ctypes.c_double)]


def case_name(batch, cin, h, w, cout, k, pad):
    return f"b{batch}_c{cin}_{h}x{w}_o{cout}_k{k}p{pad}"


def flops(batch, cin, h, w, cout, k, pad):
    oh, ow = h + 2 * pad - k + 1, w + 2 * pad - k + 1
    return 2.0 * batch * cout * cin * k * k * oh * ow


def load_nnla(path):
    lib = ctypes.CDLL(path)
    lib.nnla_conv2d_workspace_size.argtypes = [ctypes.POINTER(ConvDesc), ctypes.c_size_t, ctypes.c_size_t,
                                               ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)]
    lib.nnla_conv2d_workspace_size.restype = ctypes.c_int
    lib.nnla_conv2d_forward.argtypes = [ctypes.POINTER(ConvDesc), ctypes.c_size_t, ctypes.c_size_t,
                                        ctypes.c_size_t, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                        Act, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
    lib.nnla_conv2d_forward.restype = ctypes.c_int
    return lib


def run_case(case, reps, lib):
    batch, cin, h, w, cout, k, pad = case
    g = torch.Generator().manual_seed(4242)
    x = torch.rand(batch, cin, h, w, dtype=torch.float64, generator=g) * 2 - 1
    wt = (torch.rand(cout, cin, k, k, dtype=torch.float64, generator=g) * 2 - 1) / (cin * k * k) ** 0.5
    b = (torch.rand(cout, dtype=torch.float64, generator=g) * 2 - 1) * 0.1
    t_torch, t_nnla = [], []
    with torch.no_grad():
        def run_torch():
            return F.relu(F.conv2d(x, wt, b, padding=pad))

        call = None
        if lib is not None:
            d = ConvDesc(cin, cout, k, k, 1, 1, pad, pad, pad, pad, 1, 1, 1)
            ws = ctypes.c_size_t(0)
            if lib.nnla_conv2d_workspace_size(ctypes.byref(d), batch, h, w, ctypes.byref(ws)) != 0:
                raise RuntimeError("nnla_conv2d_workspace_size failed")
            work = torch.empty(max(ws.value, 8), dtype=torch.uint8)
            y = torch.empty(batch, cout, h + 2 * pad - k + 1, w + 2 * pad - k + 1, dtype=torch.float64)
            relu = Act(NNLA_ACT_RELU, 0.0)
            args = (ctypes.byref(d), batch, h, w, x.data_ptr(), wt.data_ptr(), b.data_ptr(), relu, y.data_ptr(),
                    work.data_ptr(), ws.value)

            def call():
                st = lib.nnla_conv2d_forward(*args)
                if st != 0:
                    raise RuntimeError(f"nnla_conv2d_forward returned {st}")

        for _ in range(3):
            ref = run_torch()
            if call:
                call()
        if call:
            err = (y - ref).abs().max().item()
            if not err <= 1e-10 * (ref.abs().max().item() + 1):
                raise RuntimeError(f"{case_name(*case)}: nnla and torch differ by {err}")
        for _ in range(reps):
            t0 = time.perf_counter()
            run_torch()
            t_torch.append(time.perf_counter() - t0)
            if call:
                t0 = time.perf_counter()
                call()
                t_nnla.append(time.perf_counter() - t0)
    return statistics.median(t_torch), (statistics.median(t_nnla) if t_nnla else None)


def main(argv):
    reps, bench, libpath, run_bench = 15, None, None, True
    args = list(argv)
    while args:
        a = args.pop(0)
        if a == "--reps":
            reps = int(args.pop(0))
        elif a == "--lib":
            libpath = args.pop(0)
        elif a == "--no-bench":
            run_bench = False
        elif a in ("-h", "--help"):
            print(__doc__)
            return 0
        else:
            bench = a
    if libpath is None and bench is not None:  # <build>/tests/bench/nnla-bench -> <build>/libnnla.so
        guess = os.path.join(os.path.dirname(os.path.abspath(bench)), "..", "..", "libnnla.so")
        if os.path.exists(guess):
            libpath = os.path.normpath(guess)
    lib = load_nnla(libpath) if libpath else None
    print(f"# torch {torch.__version__}; threads {torch.get_num_threads()}; "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '(unset)')}; "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', '(unset)')}; "
          f"nnla {libpath or '(not loaded)'}", flush=True)
    ratios = []
    for case in CASES:
        name = case_name(*case)
        tt, tn = run_case(case, reps, lib)
        print(f"PEER torch_conv_{name} median_s={tt:.6g} gflops={flops(*case) / tt * 1e-9:.4g}", flush=True)
        if tn is not None:
            ratios.append(f"RATIO conv_{name} nnla_over_torch={tt / tn:.3f} "
                          f"nnla_gflops={flops(*case) / tn * 1e-9:.4g} torch_gflops={flops(*case) / tt * 1e-9:.4g}")
    for r in ratios:
        print(r)
    sys.stdout.flush()
    if bench is None or not run_bench:
        return 0
    out = subprocess.run([bench, "conv"], check=False, capture_output=True, text=True)
    sys.stdout.write(out.stdout)
    sys.stderr.write(out.stderr)
    return out.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
