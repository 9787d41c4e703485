#!/usr/bin/python3
"""usage: cli_onnx.py NNLA WORK_DIR

`nnla run` and `nnla convert` on small models written here with onnx.helper: outputs against
NumPy computations of the same models (a dense network, a convolution over images, a 1-D
convolution), batching that does not change results, the converted models checked by
onnx.checker and run again, and exit codes and messages on bad input (as tests/cli/cli_test.py
checks the other commands). Exit 77 (ctest's skip) without python3-onnx.
"""
import os
import shutil
import subprocess
import sys

import numpy as np

try:
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except ImportError as e:  # pragma: no cover
    print(f"skipped: {e} (apt-get install python3-onnx)")
    sys.exit(77)

NNLA = WORK = None
FAILURES = []
RNG = np.random.default_rng(7)


def fail(msg):
    FAILURES.append(msg)
    print("FAIL:", msg)


def check(cond, msg):
    if not cond:
        fail(msg)
    return cond


def path(name):
    return os.path.join(WORK, name)


def run(*args, expect=0):
    r = subprocess.run([NNLA] + [str(a) for a in args], capture_output=True)
    err = r.stderr.decode(errors="replace")
    if "Sanitizer" in err or "runtime error:" in err:
        fail("nnla %s: sanitizer report:\n%s" % (" ".join(map(str, args)), err))
    if r.returncode != expect:
        fail("nnla %s: exit %d, expected %d; stderr: %s" % (" ".join(map(str, args)), r.returncode, expect,
                                                              err.strip()))
    return r


def model(name, nodes, inits, x_shape, y_shape, elem=TensorProto.DOUBLE, opset=13):
    g = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", elem, x_shape)],
                          [helper.make_tensor_value_info("y", elem, y_shape)],
                          [numpy_helper.from_array(v, k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 7
    p = path(name + ".onnx")
    onnx.save(m, p)
    return p


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def conv2d(x, w, b, pad):
    """Direct cross-correlation, stride 1, zero padding pad on every side."""
    n, c, h, wd = x.shape
    m, _, kh, kw = w.shape
    xp = np.zeros((n, c, h + 2 * pad, wd + 2 * pad))
    xp[:, :, pad:pad + h, pad:pad + wd] = x
    oh, ow = h + 2 * pad - kh + 1, wd + 2 * pad - kw + 1
    y = np.empty((n, m, oh, ow))
    for i in range(oh):
        for j in range(ow):
            y[:, :, i, j] = np.tensordot(xp[:, :, i:i + kh, j:j + kw], w, axes=([1, 2, 3], [1, 2, 3]))
    return y + b[None, :, None, None]


def test_run():
    # a dense network, X of shape N x F
    w1, b1, w2 = RNG.standard_normal((6, 4)), RNG.standard_normal(6), RNG.standard_normal((3, 6))
    mlp = model("mlp", [helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], transB=1),
                        helper.make_node("Tanh", ["h"], ["t"]),
                        helper.make_node("Gemm", ["t", "w2"], ["z"], transB=1),
                        helper.make_node("Softmax", ["z"], ["y"], axis=1)],
                {"w1": w1, "b1": b1, "w2": w2}, ["N", 4], ["N", 3])
    x = RNG.standard_normal((10, 4))
    np.save(path("x_mlp.npy"), x)
    run("run", mlp, path("x_mlp.npy"), "--out", path("y_mlp.npy"))
    ref = softmax(np.tanh(x @ w1.T + b1) @ w2.T)
    y = np.load(path("y_mlp.npy"))
    check(y.shape == (10, 3) and np.allclose(y, ref, rtol=1e-13, atol=1e-15), "run mlp: %s" % (y - ref))
    # batches of 3: the same
    run("run", mlp, path("x_mlp.npy"), "--out", path("y_mlp3.npy"), "--batch", "3")
    check(np.allclose(np.load(path("y_mlp3.npy")), y, rtol=1e-14, atol=0), "run --batch 3 changes the output")
    # float32 X is widened; the output is float64
    np.save(path("x_mlp32.npy"), x.astype(np.float32))
    run("run", mlp, path("x_mlp32.npy"), "--out", path("y_mlp32.npy"))
    y32 = np.load(path("y_mlp32.npy"))
    ref32 = softmax(np.tanh(x.astype(np.float32).astype(np.float64) @ w1.T + b1) @ w2.T)
    check(y32.dtype == np.float64 and np.allclose(y32, ref32, rtol=1e-13), "run with float32 X")

    # a convolution over images, N x C x H x W -> N x M x H x W (a ReLU, float32 weights)
    cw, cb = RNG.standard_normal((4, 2, 3, 3)).astype(np.float32), RNG.standard_normal(4).astype(np.float32)
    cnn = model("cnn", [helper.make_node("Conv", ["x", "cw", "cb"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
                        helper.make_node("Relu", ["c"], ["y"])],
                {"cw": cw, "cb": cb}, ["N", 2, 5, 6], ["N", 4, 5, 6], elem=TensorProto.FLOAT)
    x = RNG.standard_normal((3, 2, 5, 6))
    np.save(path("x_cnn.npy"), x)
    run("run", cnn, path("x_cnn.npy"), "--out", path("y_cnn.npy"))
    ref = np.maximum(conv2d(x, cw.astype(np.float64), cb.astype(np.float64), 1), 0)
    y = np.load(path("y_cnn.npy"))
    check(y.shape == ref.shape and np.allclose(y, ref, rtol=1e-13, atol=1e-13), "run cnn")

    # a 1-D convolution, N x C x L
    c1 = model("conv1d", [helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[2])],
               {"w": RNG.standard_normal((2, 3, 2))}, ["N", 3, 7], ["N", 2, 6])
    x = RNG.standard_normal((4, 3, 7))
    np.save(path("x_c1.npy"), x)
    run("run", c1, path("x_c1.npy"), "--out", path("y_c1.npy"))
    w = onnx.numpy_helper.to_array(onnx.load(c1).graph.initializer[0])
    ref = np.stack([np.einsum("nck,mck->nm", x[:, :, i:i + 2], w) for i in range(6)], axis=2)
    y = np.load(path("y_c1.npy"))
    check(y.size == ref.size and np.allclose(y.reshape(ref.shape), ref, rtol=1e-13, atol=1e-13), "run conv1d")

    # bad input: exit 1 and a message; usage errors: exit 2; no output file either way
    out = path("never.npy")
    r = run("run", path("missing.onnx"), path("x_mlp.npy"), "--out", out, expect=1)
    check(b"missing.onnx" in r.stderr, "a missing model is named")
    r = run("run", cnn, path("x_mlp.npy"), "--out", out, expect=1)
    check(b"N x 2 x 5 x 6" in r.stderr, "a wrong X shape names the model's input: %s" % r.stderr)
    lstm = model("lstm", [helper.make_node("Elu", ["x"], ["e"]), helper.make_node("Hardmax", ["e"], ["y"])], {},
                 ["N", 4], ["N", 4])
    r = run("run", lstm, path("x_mlp.npy"), "--out", out, expect=1)
    check(b"Hardmax" in r.stderr and b"(#1)" in r.stderr, "an unsupported operator is named: %s" % r.stderr)
    with open(path("garbage.onnx"), "wb") as f:
        f.write(b"\x08\x07\x12\xff\xff\xff\xff\x0f")
    r = run("run", path("garbage.onnx"), path("x_mlp.npy"), "--out", out, expect=1)
    check(b"NNLA_EFORMAT" in r.stderr, "a malformed model: %s" % r.stderr)
    run("run", mlp, path("x_mlp.npy"), expect=2)
    run("run", mlp, path("x_mlp.npy"), "--out", out, "--batch", "0", expect=2)
    run("run", mlp, "--out", out, expect=2)
    run("run", mlp, path("x_mlp.npy"), "--out", out, "--float32", expect=2)
    check(not os.path.exists(out), "no output after errors")
    check(b"usage: nnla run" in run("run", "--help").stdout, "nnla run --help")


def test_convert():
    cw = RNG.standard_normal((4, 2, 3, 3))
    g, be, mu, var = (RNG.random(4) + 0.5, RNG.standard_normal(4), RNG.standard_normal(4), RNG.random(4) + 0.5)
    fw = RNG.standard_normal((3, 4))
    src = model("bn", [helper.make_node("Conv", ["x", "cw"], ["c"], kernel_shape=[3, 3]),
                       helper.make_node("BatchNormalization", ["c", "g", "be", "mu", "var"], ["b"]),
                       helper.make_node("Relu", ["b"], ["r"]),
                       helper.make_node("GlobalAveragePool", ["r"], ["p"]),
                       helper.make_node("Flatten", ["p"], ["f"]),
                       helper.make_node("Gemm", ["f", "fw"], ["y"], transB=1)],
                {"cw": cw, "g": g, "be": be, "mu": mu, "var": var, "fw": fw}, ["N", 2, 6, 6], ["N", 3])
    x = RNG.standard_normal((5, 2, 6, 6))
    np.save(path("x_bn.npy"), x)
    run("run", src, path("x_bn.npy"), "--out", path("y_src.npy"))
    y = np.load(path("y_src.npy"))
    for prec, elem in (("--float64", TensorProto.DOUBLE), ("--float32", TensorProto.FLOAT)):
        for keep in ([], ["--keep-layers"]):
            dst = path("conv%s%s.onnx" % (prec, "_keep" if keep else ""))
            run("convert", src, prec, "--out", dst, *keep)
            m = onnx.load(dst)
            try:
                onnx.checker.check_model(m, full_check=True)
            except Exception as e:  # noqa: BLE001
                fail("convert %s %s: onnx.checker: %s" % (prec, keep, e))
            check(m.graph.input[0].type.tensor_type.elem_type == elem, "convert %s: the input's type" % prec)
            check(all(t.data_type == elem for t in m.graph.initializer if t.data_type != TensorProto.INT64),
                  "convert %s: the tensors' type" % prec)
            ops = [n.op_type for n in m.graph.node]
            check(("BatchNormalization" in ops) == bool(keep), "convert %s %s: BatchNorm %s" % (
                prec, keep, "kept" if keep else "folded"))
            run("run", dst, path("x_bn.npy"), "--out", path("y_dst.npy"))
            z = np.load(path("y_dst.npy"))
            tol = 1e-6 if prec == "--float32" else 1e-13
            check(np.allclose(z, y, rtol=tol, atol=tol), "convert %s %s: outputs" % (prec, keep))
    # converting nnla's own float64 model again changes nothing, byte for byte
    a, b = path("conv--float64.onnx"), path("again.onnx")
    run("convert", a, "--float64", "--out", b)
    with open(a, "rb") as fa, open(b, "rb") as fb:
        check(fa.read() == fb.read(), "converting a converted model changes it")
    run("convert", src, "--out", path("x.onnx"), expect=2)
    run("convert", src, "--float32", "--float64", "--out", path("x.onnx"), expect=2)
    run("convert", src, "--float32", expect=2)
    run("convert", src, "--float32", "--out", os.path.join(WORK, "no-such-dir", "x.onnx"), expect=1)
    check(not os.path.exists(path("x.onnx")), "no output after errors")


def main():
    global NNLA, WORK
    NNLA, WORK = sys.argv[1], sys.argv[2]
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    test_run()
    test_convert()
    if FAILURES:
        print("%d failure(s) in cli_onnx" % len(FAILURES))
        return 1
    shutil.rmtree(WORK, ignore_errors=True)
    print("cli_onnx: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
