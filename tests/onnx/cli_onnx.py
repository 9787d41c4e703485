#!/usr/bin/python3
"""usage: cli_onnx.py NNLA WORK_DIR

`nnla run`, `nnla convert`, `nnla inspect MODEL.onnx`, `nnla compress` and `nnla train` on small
models written here with onnx.helper (and, when python3-torch is installed, exported by
torch.onnx.export): outputs against NumPy computations of the same models (a dense network, a
convolution over images, a 1-D convolution), batching that does not change results, the converted
and compressed models checked by onnx.checker and run again; inspect's figures against NumPy's SVD
of the weights and of the explicit matrices of the layers; compress's factors, ranks and errors
against NumPy's truncated SVD; train against one (or three) steps of torch.optim on the same model
and data within 1e-12 (1e-11) relative, and against a closed-form SGD step of a linear model in
NumPy; exit codes and messages on bad input (as tests/cli/cli_test.py checks the other commands).
Exit 77 (ctest's skip) without python3-onnx; the torch cases are skipped without python3-torch.
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


def table(out, first="layer"):
    """The rows of a whitespace-separated table whose header starts with `first`, as dicts."""
    lines = out.decode().splitlines()
    i = next(j for j, line in enumerate(lines) if line.split()[:1] == [first])
    head = lines[i].split()
    rows = []
    for line in lines[i + 1:]:
        f = line.split()
        if len(f) != len(head) or not f[0].isdigit():
            break
        rows.append(dict(zip(head, f)))
    return rows


def fields(out):
    """'name: value' lines."""
    d = {}
    for line in out.decode().splitlines():
        if ": " in line and not line.startswith("epoch"):
            k, v = line.split(": ", 1)
            d[k] = v
    return d


def close(a, b, rtol):
    a, b = float(a), float(b)
    return abs(a - b) <= rtol * max(abs(b), 1e-300)


def conv_matrix(w, shape, pad):
    """The explicit matrix of a stride-1 convolution without bias on inputs of `shape` (C, H, W)."""
    n = int(np.prod(shape))
    cols = []
    for j in range(n):
        e = np.zeros(n)
        e[j] = 1.0
        cols.append(conv2d(e.reshape((1,) + shape), w, np.zeros(w.shape[0]), pad).ravel())
    return np.array(cols).T


def spectral(wm):
    s = np.linalg.svd(wm, compute_uv=False)
    p = s / s.sum()
    p = p[p > 0]
    return {"sigma_max": s[0], "cond": s[0] / s[-1], "stable_rank": (s ** 2).sum() / s[0] ** 2,
            "effective_rank": np.exp(-(p * np.log(p)).sum()), "s": s}


def test_inspect():
    cw, cb = RNG.standard_normal((4, 2, 3, 3)), RNG.standard_normal(4)
    gw, gb = RNG.standard_normal((3, 4 * 5 * 5)), RNG.standard_normal(3)
    nodes = [helper.make_node("Conv", ["x", "cw", "cb"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("Flatten", ["r"], ["f"]),
             helper.make_node("Gemm", ["f", "gw", "gb"], ["y"], transB=1)]
    inits = {"cw": cw, "cb": cb, "gw": gw, "gb": gb}
    cnn = model("inspect_cnn", nodes, inits, ["N", 2, 5, 5], ["N", 3])
    r = run("inspect", cnn, "--spectrum")
    rows = table(r.stdout)
    f = fields(r.stdout)
    if not check(len(rows) == 3, "inspect: 3 rows: %s" % r.stdout.decode()):
        return
    check([x["kind"] for x in rows] == ["conv2d", "flatten", "dense"], "inspect: kinds %s" % rows)
    check(rows[0]["act"] == "relu" and rows[0]["weight"] == "4x2x3x3" and rows[0]["output"] == "4x5x5",
          "inspect: conv row %s" % rows[0])
    check(rows[0]["params"] == "76" and rows[2]["params"] == "303" and f["parameters"] == "379",
          "inspect: parameters")
    check(rows[1]["sigma_max"] == "-" and rows[1]["op_norm"] == "1", "inspect: flatten row %s" % rows[1])
    kconv = conv_matrix(cw, (2, 5, 5), 1)
    opc = np.linalg.norm(kconv, 2)
    for row, wm in ((rows[0], cw.reshape(4, -1)), (rows[2], gw)):
        ref = spectral(wm)
        for key in ("sigma_max", "cond", "stable_rank", "effective_rank"):
            check(close(row[key], ref[key], 1e-5), "inspect %s: %s %s, NumPy %.9g" % (row["kind"], key, row[key],
                                                                                      ref[key]))
        check(row["rank"] == str(np.linalg.matrix_rank(wm)), "inspect %s: rank %s" % (row["kind"], row["rank"]))
    check(close(rows[0]["op_norm"], opc, 1e-5) and rows[0]["op_method"] == "svd",
          "inspect: conv operator norm %s, explicit matrix %.9g" % (rows[0]["op_norm"], opc))
    check(close(rows[2]["op_norm"], np.linalg.norm(gw, 2), 1e-5), "inspect: dense op_norm")
    # the bound: ReLU between two linear maps, so ||K|| ||G|| (flatten composed into the dense layer)
    bound = opc * np.linalg.norm(gw, 2)
    check(close(f["lipschitz_bound"], bound, 1e-10), "inspect: bound %s, %.17g" % (f["lipschitz_bound"], bound))
    s0 = np.array(f["spectrum 0"].split(), dtype=float)
    check(np.allclose(s0, spectral(cw.reshape(4, -1))["s"], rtol=1e-12), "inspect --spectrum")

    # --rank-tol: the dense weight's singular values above T
    t = float(np.median(spectral(gw)["s"]))
    r = run("inspect", cnn, "--rank-tol", repr(t))
    check(table(r.stdout)[2]["rank"] == str(int((spectral(gw)["s"] > t).sum())), "inspect --rank-tol")
    # without the ReLU the network is linear: the bound is the norm of the whole map, exactly
    lin = model("inspect_lin", [nodes[0], helper.make_node("Flatten", ["c"], ["f"]), nodes[3]], inits,
                ["N", 2, 5, 5], ["N", 3])
    r = run("inspect", lin)
    exact = np.linalg.norm(gw @ kconv, 2)
    check(close(fields(r.stdout)["lipschitz_bound"], exact, 1e-10), "inspect: a linear model's bound")
    # dispatch by content: a model under another name; a .npy under the name .bin stays a weight
    shutil.copy(lin, path("model.bin"))
    r = run("inspect", path("model.bin"))
    check(b"lipschitz_bound" in r.stdout, "inspect dispatches a model by its content")
    np.save(path("w.npy"), gw)
    shutil.copy(path("w.npy"), path("w.bin"))
    r = run("inspect", path("w.bin"))
    check(b"sigma_max: " in r.stdout and b"lipschitz" not in r.stdout, "inspect reads a .npy by its content")
    # errors
    run("inspect", cnn, "--input-size", "5,5", expect=2)
    run("inspect", cnn, "--circular", "5,5", expect=2)
    with open(path("bad.onnx"), "wb") as fh:
        fh.write(b"\x08\x07\x12\xff\xff\xff\xff\x0f")
    r = run("inspect", path("bad.onnx"), expect=1)
    check(b"NNLA_EFORMAT" in r.stderr and b"bad.onnx" in r.stderr, "inspect: a malformed model: %s" % r.stderr)
    r = run("inspect", path("missing.onnx"), expect=1)
    check(b"missing.onnx" in r.stderr, "inspect: a missing model is named")


def near_low_rank(m, n, r, noise=1e-3):
    a = RNG.standard_normal((m, r)) @ (RNG.standard_normal((r, n)) / np.arange(1, r + 1)[:, None])
    return a + noise * RNG.standard_normal((m, n))


def truncate(w, k):
    u, s, vt = np.linalg.svd(w, full_matrices=False)
    return (u[:, :k] * s[:k]) @ vt[:k], s


def test_compress():
    cw, cb = near_low_rank(8, 27, 2).reshape(8, 3, 3, 3), RNG.standard_normal(8)
    w1, b1, w2 = near_low_rank(20, 128, 3), RNG.standard_normal(20), RNG.standard_normal((5, 20))
    src = model("to_compress", [
        helper.make_node("Conv", ["x", "cw", "cb"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("Flatten", ["r"], ["f"]),
        helper.make_node("Gemm", ["f", "w1", "b1"], ["h"], transB=1),
        helper.make_node("Relu", ["h"], ["t"]),
        helper.make_node("Gemm", ["t", "w2"], ["y"], transB=1)],
        {"cw": cw, "cb": cb, "w1": w1, "b1": b1, "w2": w2}, ["N", 3, 4, 4], ["N", 5])
    x = RNG.standard_normal((6, 3, 4, 4))
    np.save(path("x_c.npy"), x)

    def forward(cwm, w1m, w2m):
        h = np.maximum(conv2d(x, cwm.reshape(cw.shape), cb, 1), 0).reshape(6, -1)
        return np.maximum(h @ w1m.T + b1, 0) @ w2m.T

    weights = [cw.reshape(8, -1), w1, w2]
    out = path("small.onnx")
    r = run("compress", src, "--rank", "3", "--out", out)
    rows, f = table(r.stdout), fields(r.stdout)
    if not check(len(rows) == 3, "compress: 3 rows: %s" % r.stdout.decode()):
        return
    check([x_["weight"] for x_ in rows] == ["8x3x3x3", "20x128", "5x20"], "compress: shapes %s" % rows)
    check(all(x_["action"] == "compressed" and x_["rank"] == "3" and x_["exact"] == "yes" for x_ in rows),
          "compress --rank 3: %s" % rows)
    wk = []
    for row, w in zip(rows, weights):
        t, s = truncate(w, 3)
        wk.append(t)
        m, n = w.shape
        bias = 0 if row["weight"] == "5x20" else m
        check(row["params_before"] == str(m * n + bias) and row["params_after"] == str(3 * (m + n) + bias),
              "compress: params of %s" % row)
        check(close(row["err_fro"], np.sqrt((s[3:] ** 2).sum()), 1e-5) and close(row["err_2"], s[3], 1e-5),
              "compress: errors of %s" % row)
        check(close(row["err_2_rel"], s[3] / s[0], 1e-5) and
              close(row["err_fro_rel"], np.sqrt((s[3:] ** 2).sum() / (s ** 2).sum()), 1e-5), "compress: relative")
    m = onnx.load(out)
    try:
        onnx.checker.check_model(m, full_check=True)
    except Exception as e:  # noqa: BLE001
        fail("compress: onnx.checker: %s" % e)
    ops = [n.op_type for n in m.graph.node]
    check(ops.count("Conv") == 2 and ops.count("Gemm") + ops.count("MatMul") == 4, "compress: nodes %s" % ops)
    n_before = sum(v.size for v in (cw, cb, w1, b1, w2))
    n_after = sum(numpy_helper.to_array(t).size for t in m.graph.initializer if t.data_type == TensorProto.DOUBLE)
    check(f["params_before"] == str(n_before) and f["params_after"] == str(n_after) and
          f["layers_compressed"] == "3 of 3" and int(f["bytes"]) == os.path.getsize(out), "compress: totals %s" % f)
    # the factors' products are the truncated SVDs, and the model computes with them
    ws = [numpy_helper.to_array(t) for t in m.graph.initializer if t.name.endswith(".weight")]
    prods = [ws[1].reshape(8, 3) @ ws[0].reshape(3, -1), ws[3] @ ws[2], ws[5] @ ws[4]]
    for p, t in zip(prods, wk):
        check(np.allclose(p, t, rtol=0, atol=1e-12 * np.abs(t).max()), "compress: L R is W_k")
    run("run", out, path("x_c.npy"), "--out", path("y_small.npy"))
    ref = forward(*wk)
    check(np.allclose(np.load(path("y_small.npy")), ref, rtol=1e-12, atol=1e-12 * np.abs(ref).max()),
          "compress: the small model's outputs")

    # the energy and spectral-tolerance rules pick NumPy's ranks; rank 10 keeps layers that cannot save
    r = run("compress", src, "--energy", "0.999", "--out", out)
    for row, w in zip(table(r.stdout), weights):
        s = np.linalg.svd(w, compute_uv=False)
        e = np.cumsum(s ** 2) / (s ** 2).sum()
        k = int(np.argmax(e >= 0.999)) + 1
        check(row["rank"] == str(k), "compress --energy: rank %s, NumPy %d" % (row["rank"], k))
    r = run("compress", src, "--tol", "0.05", "--norm", "2", "--out", out)
    for row, w in zip(table(r.stdout), weights):
        s = np.linalg.svd(w, compute_uv=False)
        k = next(i for i in range(1, len(s) + 1) if i == len(s) or s[i] <= 0.05 * s[0])
        check(row["rank"] == str(k), "compress --tol --norm 2: rank %s, NumPy %d" % (row["rank"], k))
    r = run("compress", src, "--rank", "10", "--out", out)
    acts = [x_["action"] for x_ in table(r.stdout)]
    check(acts == ["kept:no-saving", "compressed", "kept:no-saving"], "compress --rank 10: %s" % acts)
    # randomized, float32
    r = run("compress", src, "--rank", "3", "--randomized", "--seed", "5", "--float32", "--out", out)
    rows = table(r.stdout)
    check(all(x_["exact"] == "no" for x_ in rows), "compress --randomized: exact no")
    m = onnx.load(out)
    check(m.graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT, "compress --float32")
    run("run", out, path("x_c.npy"), "--out", path("y_small.npy"))
    check(np.allclose(np.load(path("y_small.npy")), ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max()),
          "compress --randomized --float32: outputs")
    # errors: usage (exit 2), bad models (exit 1), and nothing written
    os.remove(out)
    for args in (["--rank", "0"], ["--energy", "0"], ["--energy", "1.5"], ["--tol", "-1"],
                 ["--rank", "2", "--energy", "0.9"], [], ["--rank", "2", "--norm", "2"],
                 ["--rank", "2", "--oversample", "3"], ["--rank", "2", "--max-rank", "3"], ["--energy", "x"]):
        run("compress", src, *args, "--out", out, expect=2)
    run("compress", src, "--rank", "2", expect=2)
    r = run("compress", path("missing.onnx"), "--rank", "2", "--out", out, expect=1)
    check(b"missing.onnx" in r.stderr, "compress: a missing model is named")
    r = run("compress", path("garbage.onnx"), "--rank", "2", "--out", out, expect=1)
    check(b"NNLA_EFORMAT" in r.stderr, "compress: a malformed model")
    check(not os.path.exists(out), "compress: no output after errors")
    check(b"usage: nnla compress" in run("compress", "--help").stdout, "nnla compress --help")


def test_train_numpy():
    """One SGD step of a linear model under MSE, in closed form: W -= lr 2/(N K) (X W^T + b - Y)^T X."""
    n, d, k, lr = 7, 4, 3, 0.05
    w, b = RNG.standard_normal((k, d)), RNG.standard_normal(k)
    x, y = RNG.standard_normal((n, d)), RNG.standard_normal((n, k))
    lin = model("linear", [helper.make_node("Gemm", ["x", "w", "b"], ["y"], transB=1)], {"w": w, "b": b},
                ["N", d], ["N", k])
    np.save(path("x_lin.npy"), x)
    np.save(path("y_lin.npy"), y)
    out = path("lin_trained.onnx")
    r = run("train", lin, path("x_lin.npy"), path("y_lin.npy"), "--loss", "mse", "--optimizer", "sgd", "--lr",
            str(lr), "--epochs", "1", "--batch", str(n), "--no-shuffle", "--out", out)
    e = x @ w.T + b - y
    loss = (e ** 2).mean()
    gw, gb = 2.0 / (n * k) * e.T @ x, 2.0 / (n * k) * e.sum(axis=0)
    got = {t.name: numpy_helper.to_array(t) for t in onnx.load(out).graph.initializer}
    ws = [v for name, v in got.items() if name.endswith(".weight")]
    bs = [v for name, v in got.items() if name.endswith(".bias")]
    check(len(ws) == 1 and np.allclose(ws[0], w - lr * gw, rtol=1e-13, atol=1e-15), "train mse: the weight")
    check(len(bs) == 1 and np.allclose(bs[0], b - lr * gb, rtol=1e-13, atol=1e-15), "train mse: the bias")
    lines = [line for line in r.stdout.decode().splitlines() if line.startswith("epoch ")]
    check(len(lines) == 1 and close(lines[0].split()[3], loss, 1e-9), "train: the epoch line %s" % lines)
    # errors
    out2 = path("never.onnx")
    np.save(path("y_short.npy"), y[:5])
    r = run("train", lin, path("x_lin.npy"), path("y_short.npy"), "--loss", "mse", "--out", out2, expect=1)
    check(b"one row per sample" in r.stderr, "train: a short Y: %s" % r.stderr)
    np.save(path("lab_bad.npy"), np.array([0, 1, 2, 3, 0, 1, 2]))
    r = run("train", lin, path("x_lin.npy"), path("lab_bad.npy"), "--out", out2, expect=1)
    check(b"Y[3] = 3" in r.stderr, "train: a label out of range: %s" % r.stderr)
    np.save(path("lab_frac.npy"), np.array([0, 1, 2, 0.5, 0, 1, 2]))
    run("train", lin, path("x_lin.npy"), path("lab_frac.npy"), "--out", out2, expect=1)
    np.save(path("y_nan.npy"), np.where(np.arange(n * k).reshape(n, k) == 4, np.nan, y))
    r = run("train", lin, path("x_lin.npy"), path("y_nan.npy"), "--loss", "mse", "--out", out2, expect=1)
    check(b"NaN" in r.stderr, "train: NaN targets")
    np.save(path("x_wrong.npy"), RNG.standard_normal((n, d + 1)))
    run("train", lin, path("x_wrong.npy"), path("y_lin.npy"), "--loss", "mse", "--out", out2, expect=1)
    cnn = path("cnn.onnx")  # written by test_run: a convolution's output is not flat
    r = run("train", cnn, path("x_cnn.npy"), path("lab_bad.npy"), "--out", out2, expect=1)
    check(b"flat output" in r.stderr, "train: ce on a non-flat output: %s" % r.stderr)
    for args in (["--loss", "hinge"], ["--optimizer", "lbfgs"], ["--lr", "0"], ["--lr", "-1"],
                 ["--val-split", "1"], ["--epochs", "0"], ["--batch", "0"], ["--weight-decay", "-0.1"]):
        run("train", lin, path("x_lin.npy"), path("y_lin.npy"), "--loss", "mse", *args, "--out", out2,
            expect=2)
    run("train", lin, path("x_lin.npy"), path("y_lin.npy"), expect=2)
    run("train", lin, path("x_lin.npy"), "--out", out2, expect=2)
    r = run("train", lin, path("x_lin.npy"), path("y_lin.npy"), "--loss", "mse", "--val-split", "0.1",
            "--out", out2, expect=1)
    check(b"no validation sample" in r.stderr, "train: a split of no sample")
    check(not os.path.exists(out2), "train: no output after errors")
    check(b"usage: nnla train" in run("train", "--help").stdout, "nnla train --help")


def test_train_torch():
    try:
        import torch
    except ImportError as e:  # pragma: no cover
        print("skipped the torch cases of train: %s" % e)
        return
    torch.manual_seed(3)

    def export(mod, x, name):
        p = path(name + ".onnx")
        mod.eval()
        torch.onnx.export(mod, x, p, opset_version=13, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "N"}}, training=torch.onnx.TrainingMode.PRESERVE,
                          do_constant_folding=False)
        return p

    def params(p):
        """The trained model's parameters and BatchNorm statistics in nnla's (PyTorch's) order."""
        return [numpy_helper.to_array(t) for t in onnx.load(p).graph.initializer
                if t.name.rsplit(".", 1)[-1] in ("weight", "bias", "running_mean", "running_var")]

    def torch_state(mod):
        out = []
        for mname, sub in mod.named_modules():
            for pname, t in list(sub.named_parameters(recurse=False)) + list(sub.named_buffers(recurse=False)):
                if pname != "num_batches_tracked":
                    out.append((pname, t.detach().numpy().copy()))
        order = {"weight": 0, "bias": 1, "running_mean": 2, "running_var": 3}
        return [v for _, v in out]  # modules in order, each weight, bias, then buffers

    def compare(name, p, mod, rtol):
        got, ref = params(p), torch_state(mod)
        if not check(len(got) == len(ref), "%s: %d tensors, torch %d" % (name, len(got), len(ref))):
            return
        for g, t in zip(got, ref):
            err = np.abs(g.reshape(t.shape) - t).max() / max(np.abs(t).max(), 1e-300)
            check(err <= rtol, "%s: a tensor %s differs from torch's by %.3g relative" % (name, t.shape, err))

    def one_run(name, mod, x, y, loss_fn, opt_fn, steps, args, targets=None, rtol=1e-12):
        p = export(mod, x, name)
        np.save(path(name + "_x.npy"), x.numpy())
        np.save(path(name + "_y.npy"), (y if targets is None else targets).numpy())
        out = path(name + "_trained.onnx")
        r = run("train", p, path(name + "_x.npy"), path(name + "_y.npy"), "--epochs", str(steps), "--batch",
                str(x.shape[0]), "--no-shuffle", *args, "--out", out)
        mod.train()
        opt = opt_fn(mod.parameters())
        losses = []
        for _ in range(steps):
            loss = loss_fn(mod(x), y)
            losses.append(loss.item())
            opt.zero_grad()
            loss.backward()
            opt.step()
        compare(name, out, mod, rtol)
        lines = [line.split() for line in r.stdout.decode().splitlines() if line.startswith("epoch ")]
        check(len(lines) == steps and all(close(line[3], v, 1e-9) for line, v in zip(lines, losses)),
              "%s: epoch losses %s, torch %s" % (name, [line[3] for line in lines], losses))
        return r

    f64 = torch.float64
    ce, mse = torch.nn.functional.cross_entropy, torch.nn.functional.mse_loss
    # one epoch of plain SGD, batch = all samples, no shuffling = one torch.optim.SGD step
    mlp = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 4)).double()
    x, y = torch.randn(10, 6, dtype=f64), torch.randint(0, 4, (10,))
    one_run("mlp_sgd", mlp, x, y, ce, lambda p: torch.optim.SGD(p, lr=0.1), 1, ["--optimizer", "sgd", "--lr", "0.1"])
    # a CNN with BatchNorm (batch statistics, running averages), one-hot float targets
    cnn = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                              torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(36, 3)).double()
    x, y = torch.randn(8, 2, 6, 6, dtype=f64), torch.randint(0, 3, (8,))
    one_run("cnn_sgd", cnn, x, y, ce, lambda p: torch.optim.SGD(p, lr=0.05), 1,
            ["--optimizer", "sgd", "--lr", "0.05"], targets=torch.nn.functional.one_hot(y, 3).double())
    # a model ending with a softmax: trained through its logits, as torch's CrossEntropyLoss of the module
    # without the softmax; saved with it
    body = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.ReLU(), torch.nn.Linear(7, 3)).double()
    full = torch.nn.Sequential(body, torch.nn.Softmax(dim=1))
    x, y = torch.randn(9, 5, dtype=f64), torch.randint(0, 3, (9,))
    p = export(full, x, "softmax")
    np.save(path("softmax_x.npy"), x.numpy())
    np.save(path("softmax_y.npy"), y.numpy().astype(np.float32))
    out = path("softmax_trained.onnx")
    run("train", p, path("softmax_x.npy"), path("softmax_y.npy"), "--optimizer", "sgd", "--lr", "0.2", "--epochs",
        "1", "--batch", "9", "--no-shuffle", "--out", out)
    body.train()
    opt = torch.optim.SGD(body.parameters(), lr=0.2)
    loss = ce(body(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    compare("softmax", out, body, 1e-12)
    check(onnx.load(out).graph.node[-1].op_type == "Softmax", "train: the final softmax is saved")
    # three steps of momentum, Adam, AdamW (weight decay), SGD with weight decay; MSE through a sigmoid
    for opt_name, opt_fn, extra in (
            ("momentum", lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9), ["--lr", "0.05"]),
            ("adam", lambda p: torch.optim.Adam(p, lr=0.01), ["--lr", "0.01"]),
            ("adamw", lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.1), ["--lr", "0.01", "--weight-decay",
                                                                                 "0.1"]),
            ("sgd", lambda p: torch.optim.SGD(p, lr=0.05, weight_decay=0.01), ["--lr", "0.05", "--weight-decay",
                                                                               "0.01"])):
        mod = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2),
                                  torch.nn.Sigmoid()).double()
        x, t = torch.randn(12, 6, dtype=f64), torch.rand(12, 2, dtype=f64)
        one_run("mse_" + opt_name, mod, x, t, mse, opt_fn, 3, ["--loss", "mse", "--optimizer", opt_name, *extra],
                rtol=1e-11)
    # --val-split: the last floor(F N) samples validate; the first ones train
    mod = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 3)).double()
    x, y = torch.randn(8, 4, dtype=f64), torch.randint(0, 3, (8,))
    p = export(mod, x, "val")
    np.save(path("val_x.npy"), x.numpy())
    np.save(path("val_y.npy"), y.numpy())
    r = run("train", p, path("val_x.npy"), path("val_y.npy"), "--optimizer", "sgd", "--lr", "0.3", "--epochs", "1",
            "--batch", "6", "--no-shuffle", "--val-split", "0.25", "--out", path("val_trained.onnx"))
    mod.train()
    opt = torch.optim.SGD(mod.parameters(), lr=0.3)
    loss = ce(mod(x[:6]), y[:6])
    opt.zero_grad()
    loss.backward()
    opt.step()
    compare("val-split", path("val_trained.onnx"), mod, 1e-12)
    mod.eval()
    with torch.no_grad():
        vl = ce(mod(x[6:]), y[6:]).item()
    line = next(line.split() for line in r.stdout.decode().splitlines() if line.startswith("epoch "))
    check(line[6] == "val_loss" and close(line[7], vl, 1e-9), "train --val-split: %s, torch %.10g" % (line, vl))
    check(b"train: 6 samples (validation 2)" in r.stdout, "train: the header line")
    # shuffled Adam on a separable problem: the loss falls, one line per epoch
    x = torch.randn(64, 4, dtype=f64)
    y = (x[:, 0] + x[:, 1] > 0).long()
    p = export(torch.nn.Sequential(torch.nn.Linear(4, 2)).double(), x, "sep")
    np.save(path("sep_x.npy"), x.numpy())
    np.save(path("sep_y.npy"), y.numpy())
    r = run("train", p, path("sep_x.npy"), path("sep_y.npy"), "--epochs", "20", "--batch", "8", "--lr", "0.05",
            "--seed", "4", "--out", path("sep_trained.onnx"))
    lines = [line.split() for line in r.stdout.decode().splitlines() if line.startswith("epoch ")]
    check(len(lines) == 20 and float(lines[-1][3]) < 0.5 * float(lines[0][3]) and float(lines[-1][5]) >= 0.9,
          "train adam: the loss falls and the accuracy rises: %s ... %s" % (lines[0], lines[-1]))


def main():
    global NNLA, WORK
    NNLA, WORK = sys.argv[1], sys.argv[2]
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    test_run()
    test_convert()
    test_inspect()
    test_compress()
    test_train_numpy()
    test_train_torch()
    if FAILURES:
        print("%d failure(s) in cli_onnx" % len(FAILURES))
        return 1
    shutil.rmtree(WORK, ignore_errors=True)
    print("cli_onnx: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
