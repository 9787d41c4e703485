#!/usr/bin/python3
"""Peer benchmark for `nnla-bench onnx`: torch float64 running a module against libnnla running the
ONNX model torch.onnx.export made of it, in the same process.

The module is the CNN of `nnla-bench onnx` (3 x 32 x 32 images; four 3x3 convolutions with
BatchNorm and ReLU, two max poolings, dense 4096->256->10, log-softmax), .double().eval(), with
random BatchNorm statistics. It is exported in float64 (opset 13), loaded with nnla_onnx_load()
through ctypes (BatchNorm folded, activations fused) and run with nnla_net_forward() on the very
same batch of 64, the two timed in alternation (torch, nnla, torch, nnla, ...) after a warm-up:

    PEER torch_onnx_cnn_b64 median_s=<torch> nnla_median_s=<nnla> nnla_over_torch=<torch / nnla>
    LOAD onnx_cnn params=<n> bytes=<size> nnla_load_s=<median> torch_export_s=<one export>

It checks that the outputs agree within 1e-12 (relative to the largest). Both run with the same
number of threads: --threads T (default: torch's default count), set with torch.set_num_threads()
and nnla_blas_set_num_threads() (both printed). Given the path of nnla-bench, it
then runs `nnla-bench onnx` (after, not at the same time) and passes its BENCH lines through.

Usage: /usr/bin/python3 tests/bench/peer_torch_onnx.py [path/to/nnla-bench] [--lib LIB] [--reps N]
                                                       [--threads T]
"""
import ctypes
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
import torch
import torch.nn as nn

from peerutil import compare

warnings.filterwarnings("ignore")
BATCH = 64


def cnn():
    layers, c = [], 3
    for k, out in enumerate((32, 32, 64, 64)):
        layers += [nn.Conv2d(c, out, 3, padding=1), nn.BatchNorm2d(out), nn.ReLU()]
        if k in (1, 3):
            layers.append(nn.MaxPool2d(2))
        c = out
    layers += [nn.Flatten(), nn.Linear(64 * 8 * 8, 256), nn.ReLU(), nn.Linear(256, 10), nn.LogSoftmax(dim=1)]
    m = nn.Sequential(*layers).double().eval()
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.running_mean.copy_(torch.rand(mod.num_features, generator=g, dtype=torch.float64) - 0.5)
                mod.running_var.copy_(torch.rand(mod.num_features, generator=g, dtype=torch.float64) + 0.5)
    return m


def load_nnla(path):
    lib = ctypes.CDLL(path)
    P, S = ctypes.c_void_p, ctypes.c_size_t
    lib.nnla_onnx_load_mem.argtypes = [P, S, ctypes.c_uint, ctypes.POINTER(P), ctypes.c_char_p, S]
    lib.nnla_onnx_load_mem.restype = ctypes.c_int
    lib.nnla_net_workspace_size.argtypes = [P, S, ctypes.POINTER(S)]
    lib.nnla_net_workspace_size.restype = ctypes.c_int
    lib.nnla_net_forward.argtypes = [P, S, P, P, P, S]
    lib.nnla_net_forward.restype = ctypes.c_int
    lib.nnla_net_free.argtypes = [P]
    lib.nnla_net_num_params.argtypes = [P]
    lib.nnla_net_num_params.restype = S
    lib.nnla_blas_num_threads.restype = ctypes.c_int
    lib.nnla_blas_set_num_threads.argtypes = [ctypes.c_int]
    lib.nnla_blas_set_num_threads.restype = ctypes.c_int
    return lib


def main():
    args = sys.argv[1:]
    reps, lib_path, bench, threads = 15, None, None, torch.get_num_threads()
    while args:
        a = args.pop(0)
        if a == "--reps":
            reps = int(args.pop(0))
        elif a == "--threads":
            threads = int(args.pop(0))
        elif a == "--lib":
            lib_path = args.pop(0)
        else:
            bench = a
    if lib_path is None:
        here = os.path.dirname(os.path.abspath(bench)) if bench else "build/tests/bench"
        for cand in (os.path.join(here, "..", "..", "libnnla.so"), "build/libnnla.so"):
            if os.path.exists(cand):
                lib_path = cand
                break
    if lib_path is None:
        print("peer_torch_onnx: libnnla.so not found (--lib)", file=sys.stderr)
        return 2
    lib = load_nnla(lib_path)
    torch.set_num_threads(threads)
    if lib.nnla_blas_set_num_threads(threads) != 0:
        print(f"peer_torch_onnx: nnla_blas_set_num_threads({threads}) failed", file=sys.stderr)
        return 2

    torch.manual_seed(11)
    m = cnn()
    x = torch.rand(BATCH, 3, 32, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(3)) * 2 - 1
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "cnn.onnx")
        t0 = time.perf_counter()
        torch.onnx.export(m, x[:1], path, opset_version=13, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "N"}, "y": {0: "N"}})
        t_export = time.perf_counter() - t0
        with open(path, "rb") as f:
            blob = f.read()
    buf = ctypes.create_string_buffer(blob, len(blob))
    msg = ctypes.create_string_buffer(512)
    net = ctypes.c_void_p()

    def load():
        n = ctypes.c_void_p()
        if lib.nnla_onnx_load_mem(buf, len(blob), 0, ctypes.byref(n), msg, 512) != 0:
            raise RuntimeError(msg.value.decode())
        lib.nnla_net_free(n)

    loads = []
    for _ in range(reps):
        t0 = time.perf_counter()
        load()
        loads.append(time.perf_counter() - t0)
    if lib.nnla_onnx_load_mem(buf, len(blob), 0, ctypes.byref(net), msg, 512) != 0:
        print("peer_torch_onnx: nnla_onnx_load_mem:", msg.value.decode(), file=sys.stderr)
        return 1
    ws = ctypes.c_size_t()
    assert lib.nnla_net_workspace_size(net, BATCH, ctypes.byref(ws)) == 0
    work = ctypes.create_string_buffer(ws.value)
    xn = np.ascontiguousarray(x.numpy())
    yn = np.empty((BATCH, 10))

    def run_nnla():
        st = lib.nnla_net_forward(net, BATCH, xn.ctypes.data, yn.ctypes.data, work, ws.value)
        assert st == 0

    with torch.no_grad():
        def run_torch():
            m(x)

        ref = m(x).numpy()
        run_nnla()
        err = np.abs(yn - ref).max() / np.abs(ref).max()
        t_torch, t_nnla = compare(run_torch, run_nnla, 3, reps)
    print(f"# torch {torch.__version__}: {torch.get_num_threads()} threads; libnnla: "
          f"{lib.nnla_blas_num_threads()} BLAS threads; max |nnla - torch| / max |torch| = {err:.1e}")
    print(f"LOAD onnx_cnn params={lib.nnla_net_num_params(net)} bytes={len(blob)} "
          f"nnla_load_s={statistics.median(loads):.6g} torch_export_s={t_export:.4g}")
    print(f"PEER torch_onnx_cnn_b{BATCH} median_s={t_torch:.6g} nnla_median_s={t_nnla:.6g} "
          f"nnla_over_torch={t_torch / t_nnla:.4f}")
    sys.stdout.flush()
    lib.nnla_net_free(net)
    if not err <= 1e-12:
        print("peer_torch_onnx: the outputs disagree", file=sys.stderr)
        return 1
    if bench:
        env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads))
        r = subprocess.run([bench, "onnx"], capture_output=True, text=True, env=env)
        sys.stdout.write("".join(l + "\n" for l in r.stdout.splitlines() if l.startswith(("BENCH", "#"))))
        return r.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
