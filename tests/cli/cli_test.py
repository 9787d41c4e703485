#!/usr/bin/python3
"""usage: cli_test.py NNLA WORK_DIR GROUP

Runs the built `nnla` program on small arrays and checks its outputs against NumPy references
(decompositions by residuals, since singular and eigen vectors have free signs; layers against
direct loops written here), and its exit codes and messages on bad input. GROUP is one of
svd, eigh, dense, conv2d, act, pool, pipes, errors, outputs, lowrank, pca. Registered by tests/cli.cmake.
"""
import glob
import io
import math
import os
import resource
import shutil
import stat
import subprocess
import sys
import time

import numpy as np

EPS = np.finfo(float).eps
NNLA = WORK = None
FAILURES = []
RNG = np.random.default_rng(20240611)


def fail(msg):
    FAILURES.append(msg)
    print("FAIL:", msg)


def check(cond, msg):
    if not cond:
        fail(msg)
    return cond


def path(name):
    return os.path.join(WORK, name)


def save(name, a):
    np.save(path(name), a)
    return path(name)


def run(*args, expect=0, stdin=None, preexec=None):
    """Run nnla with args; check the exit code; return the completed process."""
    r = subprocess.run([NNLA] + [str(a) for a in args], capture_output=True, input=stdin, preexec_fn=preexec)
    # In a sanitizer build a report may come with an exit code that looks like a failure's.
    if b"Sanitizer" in r.stderr or b"runtime error:" in r.stderr:
        fail("nnla %s: sanitizer report:\n%s" % (" ".join(map(str, args)), r.stderr.decode(errors="replace")))
    if r.returncode != expect:
        fail("nnla %s: exit %d, expected %d; stderr: %s" % (" ".join(map(str, args)), r.returncode, expect,
                                                              r.stderr.decode(errors="replace").strip()))
    return r


def close(actual, expected, rtol, atol, what):
    ok = (actual.shape == expected.shape
          and np.allclose(actual, expected, rtol=rtol, atol=atol, equal_nan=True))
    if not ok:
        err = np.max(np.abs(actual - expected)) if actual.shape == expected.shape else "shape %s vs %s" % (
            actual.shape, expected.shape)
        fail("%s: mismatch (max abs error %s)" % (what, err))
    return ok


# ------------------------------------------------------------------ decompositions

def test_svd():
    cases = [("tall", RNG.standard_normal((7, 4))), ("wide", RNG.standard_normal((3, 6))),
             ("square", RNG.standard_normal((5, 5))), ("one", np.array([[2.5]])),
             ("f32_fortran", np.asfortranarray(RNG.standard_normal((6, 3)).astype(np.float32))),
             ("rank_deficient", np.outer(RNG.standard_normal(5), RNG.standard_normal(4)))]
    for name, a in cases:
        a64 = a.astype(np.float64)
        m, n = a.shape
        k = min(m, n)
        src = save("svd_%s.npy" % name, a)
        prefix = path("svd_%s" % name)
        run("svd", src, "--out", prefix)
        u, s, vt = (np.load(prefix + "_%s.npy" % x) for x in ("U", "S", "Vt"))
        if not check(u.shape == (m, k) and s.shape == (k,) and vt.shape == (k, n), "svd %s: shapes" % name):
            continue
        scale = max(np.linalg.norm(a64), 1e-300)
        check(np.linalg.norm(a64 - u @ np.diag(s) @ vt) / (scale * max(m, n) * EPS) < 10,
              "svd %s: reconstruction residual" % name)
        check(np.linalg.norm(u.T @ u - np.eye(k)) / (k * EPS) < 10, "svd %s: U^T U = I" % name)
        check(np.linalg.norm(vt @ vt.T - np.eye(k)) / (k * EPS) < 10, "svd %s: Vt Vt^T = I" % name)
        close(s, np.linalg.svd(a64, compute_uv=False), 0, 10 * max(m, n) * EPS * s[0],
              "svd %s: values" % name)
        check(np.all(np.diff(s) <= 0), "svd %s: descending" % name)

        # --values-only: P_S.npy alone
        vprefix = path("svdv_%s" % name)
        run("svd", src, "--out", vprefix, "--values-only")
        close(np.load(vprefix + "_S.npy"), s, 0, 10 * max(m, n) * EPS * s[0], "svd %s: --values-only" % name)
        check(not os.path.exists(vprefix + "_U.npy") and not os.path.exists(vprefix + "_Vt.npy"),
              "svd %s: --values-only wrote vectors" % name)

    # --rank K: the leading triplets, i.e. the best rank-K approximation (distinct values here)
    a = RNG.standard_normal((6, 5))
    src = save("svd_rank.npy", a)
    for kk in (1, 3, 5):
        prefix = path("svd_rank%d" % kk)
        run("svd", src, "--out", prefix, "--rank", kk)
        u, s, vt = (np.load(prefix + "_%s.npy" % x) for x in ("U", "S", "Vt"))
        check(u.shape == (6, kk) and s.shape == (kk,) and vt.shape == (kk, 5), "svd --rank %d: shapes" % kk)
        U, S, Vt = np.linalg.svd(a, full_matrices=False)
        close(u @ np.diag(s) @ vt, U[:, :kk] @ np.diag(S[:kk]) @ Vt[:kk], 0, 1e-12,
              "svd --rank %d: U_K S_K Vt_K" % kk)
    run("svd", src, "--out", path("svd_rank6"), "--rank", 6, expect=1)
    run("svd", src, "--out", path("svd_rank6"), "--rank", 0, expect=2)
    run("svd", src, "--out", path("svd_rankv"), "--rank", 2, "--values-only")
    check(np.load(path("svd_rankv_S.npy")).shape == (2,), "svd --rank 2 --values-only: shape")


def test_eigh():
    for n in (1, 2, 5, 9):
        b = RNG.standard_normal((n, n))
        a = b + b.T
        src = save("eigh_%d.npy" % n, a)
        prefix = path("eigh_%d" % n)
        run("eigh", src, "--out", prefix)
        w, v = np.load(prefix + "_w.npy"), np.load(prefix + "_V.npy")
        if not check(w.shape == (n,) and v.shape == (n, n), "eigh %d: shapes" % n):
            continue
        scale = max(np.linalg.norm(a), 1e-300)
        check(np.all(np.diff(w) >= 0), "eigh %d: ascending" % n)
        close(w, np.linalg.eigvalsh(a), 0, 10 * n * EPS * scale, "eigh %d: values" % n)
        check(np.linalg.norm(a @ v - v @ np.diag(w)) / (scale * n * EPS) < 10, "eigh %d: A V = V diag(w)" % n)
        check(np.linalg.norm(v.T @ v - np.eye(n)) / (n * EPS) < 10, "eigh %d: V^T V = I" % n)
        run("eigh", src, "--out", prefix + "v", "--values-only")
        close(np.load(prefix + "v_w.npy"), w, 0, 10 * n * EPS * scale, "eigh %d: --values-only" % n)
        check(not os.path.exists(prefix + "v_V.npy"), "eigh %d: --values-only wrote V" % n)
    # the paper-style example: a 2x2 with known eigenpairs
    src = save("eigh_known.npy", np.array([[2.0, 1.0], [1.0, 2.0]]))
    run("eigh", src, "--out", path("eigh_known"))
    close(np.load(path("eigh_known_w.npy")), np.array([1.0, 3.0]), 0, 1e-14, "eigh known values")
    # not symmetric, not square, NaN
    r = run("eigh", save("eigh_nonsym.npy", np.array([[1.0, 2.0], [0.0, 1.0]])), "--out", path("x"), expect=1)
    check(b"not symmetric" in r.stderr, "eigh: message for a non-symmetric matrix")
    r = run("eigh", save("eigh_rect.npy", np.ones((2, 3))), "--out", path("x"), expect=1)
    check(b"square" in r.stderr, "eigh: message for a non-square matrix")
    r = run("svd", save("svd_nan.npy", np.array([[1.0, np.nan], [0.0, 1.0]])), "--out", path("x"), expect=1)
    check(b"NaN" in r.stderr, "svd: message for NaN")
    check(not os.path.exists(path("x_S.npy")) and not os.path.exists(path("x_w.npy")), "no output on failure")


# ------------------------------------------------------------------ layers

def sigmoid(x, beta=1.0):
    z = beta * np.asarray(x, dtype=np.float64)
    e = np.exp(-np.abs(z))  # no cancellation in either tail
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def act_ref(name, x):
    kind, _, p = name.partition(":")
    p = float(p) if p else None
    if kind == "identity":
        return x
    if kind == "relu":
        return np.maximum(x, 0.0)
    if kind == "sigmoid":
        return sigmoid(x, 1.0 if p is None else p)
    if kind == "tanh":
        return np.tanh(x)
    if kind == "leaky_relu":
        return np.where(x > 0, x, (0.01 if p is None else p) * x)
    if kind == "elu":
        return np.where(x > 0, x, (1.0 if p is None else p) * np.expm1(np.minimum(x, 0)))
    if kind == "gelu":
        return x * 0.5 * (1.0 + np.vectorize(math.erf, otypes=[float])(x / math.sqrt(2.0)))
    if kind == "silu":
        return x * sigmoid(x)
    if kind == "softplus":
        beta = 1.0 if p is None else p
        return np.logaddexp(0.0, beta * x) / beta
    if kind in ("softmax", "log_softmax"):
        if x.size == 0:
            return x
        if x.ndim == 0:  # one entry: a row of one
            return act_ref(name, x.reshape(1)).reshape(())
        axis = 1 if x.ndim >= 2 else 0  # torch's dim=1; a 1-D array is one sample
        z = x - np.max(x, axis=axis, keepdims=True)
        lse = np.log(np.sum(np.exp(z), axis=axis, keepdims=True))
        return np.exp(z - lse) if kind == "softmax" else z - lse
    raise ValueError(kind)


ACTS = ["identity", "relu", "sigmoid", "sigmoid:2.5", "tanh", "leaky_relu", "leaky_relu:0.2", "elu",
        "elu:0.5", "gelu", "silu", "softplus", "softplus:3", "softmax", "log_softmax"]


def test_dense():
    for i, (batch, fin, fout) in enumerate([(4, 3, 5), (1, 7, 2), (9, 1, 1), (3, 16, 8)]):
        x = RNG.standard_normal((batch, fin))
        w = RNG.standard_normal((fout, fin))
        b = RNG.standard_normal(fout)
        xs, ws, bs = save("dx%d.npy" % i, x), save("dw%d.npy" % i, w), save("db%d.npy" % i, b)
        for act in (ACTS if i == 0 else ["identity", "relu", "softmax"]):
            out = path("dy%d.npy" % i)
            run("dense", xs, ws, "--bias", bs, "--act", act, "--out", out)
            close(np.load(out), act_ref(act, x @ w.T + b), 1e-12, 1e-12, "dense %d %s" % (i, act))
        run("dense", xs, ws, "--out", path("dyn%d.npy" % i))
        close(np.load(path("dyn%d.npy" % i)), x @ w.T, 1e-12, 1e-12, "dense %d without bias" % i)
    # a 1-D X is one sample and gives a 1-D Y; float32 and Fortran-ordered inputs
    x1 = RNG.standard_normal(3)
    w = RNG.standard_normal((4, 3))
    run("dense", save("dx1d.npy", x1), save("dw1d.npy", np.asfortranarray(w)), "--act", "tanh",
        "--out", path("dy1d.npy"))
    close(np.load(path("dy1d.npy")), np.tanh(w @ x1), 1e-12, 1e-12, "dense 1-D X")
    x32 = RNG.standard_normal((2, 3)).astype(np.float32)
    run("dense", save("dx32.npy", x32), path("dw1d.npy"), "--out", path("dy32.npy"))
    close(np.load(path("dy32.npy")), x32.astype(np.float64) @ w.T, 1e-12, 1e-12, "dense float32 X")
    # shape mismatches
    r = run("dense", path("dx0.npy"), path("dw1.npy"), "--out", path("bad.npy"), expect=1)
    check(b"shapes do not match" in r.stderr, "dense: message for X/W mismatch")
    r = run("dense", path("dx0.npy"), path("dw0.npy"), "--bias", path("db1.npy"), "--out", path("bad.npy"),
            expect=1)
    check(b"bias" in r.stderr, "dense: message for a bias of the wrong length")
    r = run("dense", save("d3d.npy", np.ones((2, 2, 2))), path("dw0.npy"), "--out", path("bad.npy"), expect=1)
    check(not os.path.exists(path("bad.npy")), "dense: no output on failure")


def pads4(pad):
    """(PH, PW) or (top, left, bottom, right), as --padding takes them, as (top, bottom, left, right)."""
    if len(pad) == 2:
        return pad[0], pad[0], pad[1], pad[1]
    return pad[0], pad[2], pad[1], pad[3]


def conv2d_ref(x, w, b, stride, pad, dil, groups):
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    sh, sw = stride
    pt, pb, pl, pr = pads4(pad)
    dh, dw = dil
    oh = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + pl + pr - dw * (kw - 1) - 1) // sw + 1
    xp = np.zeros((n, c, h + pt + pb, wd + pl + pr))
    xp[:, :, pt:pt + h, pl:pl + wd] = x
    y = np.zeros((n, o, oh, ow))
    og = o // groups
    for g in range(groups):
        for oc in range(g * og, (g + 1) * og):
            for i in range(kh):
                for j in range(kw):
                    patch = xp[:, g * cg:(g + 1) * cg, i * dh:i * dh + sh * (oh - 1) + 1:sh,
                               j * dw:j * dw + sw * (ow - 1) + 1:sw]
                    y[:, oc] += np.einsum("ncij,c->nij", patch, w[oc, :, i, j])
            if b is not None:
                y[:, oc] += b[oc]
    return y


def test_conv2d():
    cases = [  # (x shape, w shape, stride, padding, dilation, groups, option strings)
        ((2, 3, 7, 6), (4, 3, 3, 3), (1, 1), (0, 0), (1, 1), 1, []),
        ((1, 4, 8, 9), (6, 2, 3, 2), (2, 1), (1, 2), (1, 1), 2,
         ["--stride", "2,1", "--padding", "1,2", "--groups", "2"]),
        ((2, 2, 9, 9), (3, 2, 3, 3), (2, 2), (2, 2), (2, 2), 1,
         ["--stride", "2", "--padding", "2", "--dilation", "2"]),
        ((1, 3, 5, 5), (3, 1, 3, 3), (1, 1), (1, 1), (1, 1), 3, ["--padding", "1", "--groups", "3"]),
        ((2, 5, 4, 6), (7, 5, 1, 1), (1, 1), (0, 0), (1, 1), 1, []),  # 1x1: the plain GEMM path
        ((1, 2, 6, 7), (2, 2, 2, 3), (3, 2), (1, 0), (2, 1), 1,
         ["--stride=3,2", "--padding=1,0", "--dilation=2,1"]),
        # asymmetric padding, ONNX's order: top, left, bottom, right
        ((2, 3, 7, 6), (4, 3, 3, 2), (1, 2), (0, 2, 1, 0), (1, 1), 1, ["--stride", "1,2", "--padding", "0,2,1,0"]),
        ((1, 4, 5, 8), (4, 2, 2, 3), (2, 1), (1, 0, 2, 3), (1, 2), 2,
         ["--stride", "2,1", "--padding", "1,0,2,3", "--dilation", "1,2", "--groups", "2"]),
    ]
    for i, (xs, ws, stride, pad, dil, groups, opts) in enumerate(cases):
        x = RNG.standard_normal(xs)
        w = RNG.standard_normal(ws)
        b = RNG.standard_normal(ws[0])
        xf, wf, bf = save("cx%d.npy" % i, x), save("cw%d.npy" % i, w), save("cb%d.npy" % i, b)
        ref = conv2d_ref(x, w, b, stride, pad, dil, groups)
        run("conv2d", xf, wf, "--bias", bf, *opts, "--out", path("cy%d.npy" % i))
        close(np.load(path("cy%d.npy" % i)), ref, 1e-12, 1e-12, "conv2d case %d" % i)
        run("conv2d", xf, wf, *opts, "--act", "relu", "--out", path("cyr%d.npy" % i))
        close(np.load(path("cyr%d.npy" % i)), np.maximum(conv2d_ref(x, w, None, stride, pad, dil, groups), 0),
              1e-12, 1e-12, "conv2d case %d relu" % i)
    # a 3-D X is one image
    x = RNG.standard_normal((3, 5, 5))
    w = RNG.standard_normal((2, 3, 2, 2))
    run("conv2d", save("cx3d.npy", x), save("cw3d.npy", w), "--act", "sigmoid:2", "--out", path("cy3d.npy"))
    close(np.load(path("cy3d.npy")), sigmoid(conv2d_ref(x[None], w, None, (1, 1), (0, 0), (1, 1), 1)[0], 2.0),
          1e-12, 1e-12, "conv2d 3-D X")
    # softmax over the output channels of each pixel (torch's dim=1)
    run("conv2d", path("cx0.npy"), path("cw0.npy"), "--act", "softmax", "--out", path("cysm.npy"))
    y = conv2d_ref(np.load(path("cx0.npy")), np.load(path("cw0.npy")), None, (1, 1), (0, 0), (1, 1), 1)
    close(np.load(path("cysm.npy")), act_ref("softmax", y), 1e-12, 1e-14, "conv2d softmax over channels")
    # mismatches and geometry errors
    r = run("conv2d", path("cx0.npy"), path("cw1.npy"), "--out", path("bad.npy"), expect=1)
    check(b"shapes do not match" in r.stderr, "conv2d: message for a channel mismatch")
    r = run("conv2d", path("cx0.npy"), path("cw0.npy"), "--dilation", "9", "--out", path("bad.npy"), expect=1)
    check(b"larger than" in r.stderr, "conv2d: message for a kernel larger than the input")
    run("conv2d", path("cx1.npy"), path("cw1.npy"), "--groups", "3", "--out", path("bad.npy"), expect=1)
    run("conv2d", path("cx0.npy"), path("cw0.npy"), "--stride", "0", "--out", path("bad.npy"), expect=2)
    run("conv2d", path("cx0.npy"), path("cw0.npy"), "--stride", "1,2,3", "--out", path("bad.npy"), expect=2)
    run("conv2d", path("cx0.npy"), path("cw0.npy"), "--padding", "-1", "--out", path("bad.npy"), expect=2)
    for bad in ("1,2,3", "1,2,3,4,5", "1,,2,3", "1,2,3,", ",1", "1,2,x,4"):
        r = run("conv2d", path("cx0.npy"), path("cw0.npy"), "--padding", bad, "--out", path("bad.npy"), expect=2)
        check(b"T,L,B,R" in r.stderr, "conv2d: message for --padding %s" % bad)
    r = run("conv2d", path("cx0.npy"), path("cw0.npy"), "--padding", "0,0,0,1", "--dilation", "4",
            "--out", path("bad.npy"), expect=1)
    check(b"padded input 7 x 7" in r.stderr, "conv2d: the padded size in the message counts each side")
    # The grammar of N and N,M: any number of digits (leading zeros too) whose value fits 64 bits,
    # the same in both forms (a first number of 64 or more characters was refused in N,M form).
    long1, long2 = "0" * 70 + "1", "0" * 100 + "2"
    ref = conv2d_ref(np.load(path("cx0.npy")), np.load(path("cw0.npy")), None, (1, 1), (1, 2), (1, 1), 1)
    for opt in ("%s,%s" % (long1, long2), "1,%s" % long2, "%s,2" % long1):
        run("conv2d", path("cx0.npy"), path("cw0.npy"), "--padding", opt, "--out", path("clong.npy"))
        close(np.load(path("clong.npy")), ref, 1e-12, 1e-12, "conv2d --padding %s" % opt)
    run("conv2d", path("cx0.npy"), path("cw0.npy"), "--padding", long1, "--out", path("clong1.npy"))
    close(np.load(path("clong1.npy")),
          conv2d_ref(np.load(path("cx0.npy")), np.load(path("cw0.npy")), None, (1, 1), (1, 1), (1, 1), 1),
          1e-12, 1e-12, "conv2d --padding 0...01")
    too_big = "18446744073709551616"  # 2^64
    for opt in (too_big, too_big + ",1", "1," + too_big, "0" * 80 + too_big + ",1", ",", "1,", ",1", "1,,2",
                "1, 2", "0x1", "1,2,"):
        r = run("conv2d", path("cx0.npy"), path("cw0.npy"), "--padding", opt, "--out", path("bad.npy"),
                expect=2)
        check(b"--padding" in r.stderr, "conv2d --padding %r: message" % opt)
    r = run("conv2d", path("cx0.npy"), path("cw0.npy"), "--bias", path("cb1.npy"), "--out", path("bad.npy"),
            expect=1)
    check(b"bias" in r.stderr, "conv2d: message for a bias of the wrong length")
    check(not os.path.exists(path("bad.npy")), "conv2d: no output on failure")


def test_act():
    shapes = [(), (5,), (3, 4), (2, 3, 4), (2, 1, 3, 2), (0, 3), (4, 0)]
    for act in ACTS:
        for shape in shapes:
            x = np.asarray(RNG.standard_normal(shape) * 3)
            tag = "%s_%s" % (act.replace(":", "_"), "x".join(map(str, shape)) or "scalar")
            run("act", act, save("ax_%s.npy" % tag, x), "--out", path("ay_%s.npy" % tag))
            y = np.load(path("ay_%s.npy" % tag))
            close(y, act_ref(act, x), 1e-13, 1e-15, "act %s on shape %s" % (act, shape))
    # extremes stay finite
    x = np.array([[-1000.0, 0.0, 1000.0]])
    for act in ("sigmoid", "softplus", "softmax", "log_softmax", "silu", "gelu", "elu"):
        run("act", act, save("aext.npy", x), "--out", path("aext_y.npy"))
        y = np.load(path("aext_y.npy"))
        check(np.all(np.isfinite(y)), "act %s: finite at +-1000" % act)
        close(y, act_ref(act, x), 1e-13, 1e-300, "act %s at +-1000" % act)
    # float32, Fortran order, and a 3-D softmax over axis 1
    x = np.asfortranarray(RNG.standard_normal((3, 4, 5)).astype(np.float32))
    run("act", "softmax", save("a32.npy", x), "--out", path("a32y.npy"))
    y = np.load(path("a32y.npy"))
    close(y, act_ref("softmax", x.astype(np.float64)), 1e-13, 1e-15, "act softmax float32 Fortran 3-D")
    close(y.sum(axis=1), np.ones((3, 5)), 0, 1e-14, "softmax sums to 1 over axis 1")
    # bad names and parameters
    for bad in ("relux", "relu:2", "sigmoid:0", "sigmoid:x", "elu:-1", "softplus:", "", "leaky_relu:0.1:2"):
        r = run("act", bad, path("a32.npy"), "--out", path("abad.npy"), expect=2)
        check(b"activation" in r.stderr, "act %r: message" % bad)
    check(not os.path.exists(path("abad.npy")), "act: no output on failure")
    # each refusal says what is wrong, and the list of names comes from the library
    for bad, why in (("relu:1", b"relu takes no parameter"), ("sigmoid:-1", b"sigmoid's beta must be finite and > 0"),
                     ("elu:-0.5", b"elu's alpha must be finite and >= 0"), ("leaky_relu:inf", b"'inf' is not a number"),
                     ("sigmoid:1,5", b"'1,5' is not a number"), ("relux", b"unknown name 'relux'")):
        r = run("act", bad, path("a32.npy"), "--out", path("abad.npy"), expect=2)
        check(why in r.stderr, "act %r: the message says %r" % (bad, why))
        check(b"log_softmax" in r.stderr and b"sigmoid[:BETA]" in r.stderr, "act %r: the names listed" % bad)
    r = run("act", "--help")
    check(b"leaky_relu[:ALPHA]" in r.stdout and b"@ACTIVATIONS@" not in r.stdout, "act --help lists the names")
    for good in ("sigmoid:1.", "sigmoid:.5", "softplus:2.5e-1"):
        run("act", good, path("a32.npy"), "--out", path("agood.npy"))


def pool_ref(x, kind, k, s, p, ceil=False, include_pad=True):
    """torch.nn.functional.max_pool2d / avg_pool2d by their definition, with --padding's pads."""
    n, c, h, w = x.shape
    pt, pb, pl, pr = pads4(p)

    def out(size, kk, ss, lo, hi):
        o = (size + lo + hi - kk + (ss - 1 if ceil else 0)) // ss + 1
        if ceil and (o - 1) * ss >= size + lo:  # the last window starts inside the input or the leading pad
            o -= 1
        return o

    oh, ow = out(h, k[0], s[0], pt, pb), out(w, k[1], s[1], pl, pr)
    y = np.zeros((n, c, oh, ow))
    for i in range(oh):
        y0, y1 = i * s[0] - pt, i * s[0] - pt + k[0]
        for j in range(ow):
            x0, x1 = j * s[1] - pl, j * s[1] - pl + k[1]
            win = x[:, :, max(y0, 0):min(y1, h), max(x0, 0):min(x1, w)]
            if kind == "max":
                y[:, :, i, j] = win.max(axis=(2, 3))
            else:
                div = ((min(y1, h + pb) - y0) * (min(x1, w + pr) - x0) if include_pad
                       else win.shape[2] * win.shape[3])
                y[:, :, i, j] = win.sum(axis=(2, 3)) / div
    return y


def test_pool():
    cases = [  # (shape, kernel, stride, padding, ceil mode, options)
        ((2, 3, 6, 6), (2, 2), (2, 2), (0, 0), False, ["--kernel", "2"]),
        ((1, 2, 7, 5), (3, 3), (2, 2), (1, 1), False, ["--kernel", "3", "--stride", "2", "--padding", "1"]),
        ((2, 1, 5, 8), (2, 3), (1, 2), (1, 1), False, ["--kernel", "2,3", "--stride", "1,2", "--padding", "1"]),
        ((1, 4, 4, 4), (4, 4), (4, 4), (0, 0), False, ["--kernel=4"]),
        ((1, 1, 9, 9), (3, 2), (3, 2), (1, 0), False, ["--kernel", "3,2", "--padding", "1,0"]),
        # ceil mode, asymmetric padding (top, left, bottom, right), pads above half the kernel
        ((2, 2, 7, 6), (2, 2), (2, 2), (0, 0), True, ["--kernel", "2", "--ceil-mode"]),
        ((1, 3, 8, 7), (3, 3), (2, 2), (0, 1, 2, 0), True,
         ["--kernel", "3", "--stride", "2", "--padding", "0,1,2,0", "--ceil-mode"]),
        ((2, 1, 5, 9), (3, 4), (1, 3), (2, 3, 1, 0), False, ["--kernel", "3,4", "--stride", "1,3", "--padding=2,3,1,0"]),
    ]
    for i, (shape, k, s, p, ceil, opts) in enumerate(cases):
        x = RNG.standard_normal(shape)
        xf = save("px%d.npy" % i, x)
        for kind in ("max", "avg"):
            run("pool", kind, xf, *opts, "--out", path("py.npy"))
            close(np.load(path("py.npy")), pool_ref(x, kind, k, s, p, ceil), 1e-13, 1e-15,
                  "pool %s case %d" % (kind, i))
        run("pool", "avg", xf, *opts, "--exclude-pad", "--out", path("py.npy"))
        close(np.load(path("py.npy")), pool_ref(x, "avg", k, s, p, ceil, include_pad=False), 1e-13, 1e-15,
              "pool avg --exclude-pad case %d" % i)
    x = RNG.standard_normal((3, 4, 4))  # one image
    run("pool", "avg", save("px3d.npy", x), "--kernel", "2", "--out", path("py3d.npy"))
    close(np.load(path("py3d.npy")), pool_ref(x[None], "avg", (2, 2), (2, 2), (0, 0))[0], 1e-13, 1e-15,
          "pool 3-D X")
    run("pool", "min", path("px0.npy"), "--kernel", "2", "--out", path("pbad.npy"), expect=2)
    run("pool", "max", path("px0.npy"), "--out", path("pbad.npy"), expect=2)
    r = run("pool", "max", path("px0.npy"), "--kernel", "2", "--padding", "2", "--out", path("pbad.npy"),
            expect=2)
    check(b"smaller than the kernel" in r.stderr, "pool: message for a pad as large as the kernel")
    run("pool", "max", path("px0.npy"), "--kernel", "3,2", "--padding", "0,0,0,2", "--out", path("pbad.npy"),
        expect=2)
    run("pool", "max", path("px0.npy"), "--kernel", "2", "--padding", "1,1,1", "--out", path("pbad.npy"),
        expect=2)
    r = run("pool", "max", path("px0.npy"), "--kernel", "2", "--exclude-pad", "--out", path("pbad.npy"), expect=2)
    check(b"average pooling only" in r.stderr, "pool: message for --exclude-pad with max")
    run("pool", "max", path("px0.npy"), "--kernel", "0", "--out", path("pbad.npy"), expect=2)
    r = run("pool", "max", path("px0.npy"), "--kernel", "9", "--out", path("pbad.npy"), expect=1)
    check(b"larger than" in r.stderr, "pool: message for a window larger than the input")
    r = run("pool", "max", save("p2d.npy", np.ones((4, 4))), "--kernel", "2", "--out", path("pbad.npy"),
            expect=1)
    check(b"N x C x H x W" in r.stderr, "pool: message for a 2-D X")
    check(not os.path.exists(path("pbad.npy")), "pool: no output on failure")


# ------------------------------------------------------------------ pipes, help, errors

def npy_bytes(a):
    f = io.BytesIO()
    np.save(f, a)
    return f.getvalue()


def test_pipes():
    x = RNG.standard_normal((3, 4))
    r = run("act", "relu", "-", "--out", "-", stdin=npy_bytes(x))
    close(np.load(io.BytesIO(r.stdout)), np.maximum(x, 0), 0, 0, "act through standard input and output")
    w = RNG.standard_normal((2, 4))
    # two arrays one after the other on standard input
    r = run("dense", "-", "-", "--out", "-", stdin=npy_bytes(x) + npy_bytes(w))
    close(np.load(io.BytesIO(r.stdout)), x @ w.T, 1e-12, 1e-12, "dense with X and W on standard input")
    r = run("act", "relu", "-", "--out", "-", stdin=b"garbage", expect=1)
    check(b"standard input" in r.stderr and b"not a .npy file" in r.stderr, "message names standard input")
    r = run("act", "relu", "-", "--out", path("p_y.npy"), stdin=b"", expect=1)
    check(b"standard input is empty" in r.stderr, "empty standard input: its own message: %r" % r.stderr)
    r = run("dense", "-", "-", "--out", path("p_y.npy"), stdin=npy_bytes(x), expect=1)  # W missing
    check(b"W: standard input is empty" in r.stderr, "second array missing on standard input: %r" % r.stderr)
    zf = io.BytesIO()
    np.savez(zf, a=x)
    r = run("act", "relu", "-", "--out", path("p_y.npy"), stdin=zf.getvalue(), expect=1)
    check(b"standard input is a .npz archive" in r.stderr, ".npz on standard input: %r" % r.stderr)
    c = io.BytesIO()
    np.save(c, np.ones(3, dtype=np.float16))
    r = run("act", "relu", "-", "--out", path("p_y.npy"), stdin=c.getvalue(), expect=1)
    check(b"X from standard input: unsupported dtype '<f2'" in r.stderr,
          "dtype on standard input: %r" % r.stderr)
    # standard input is called so in every message, never '-'
    for args, data in [(["svd", "-", "--out", path("p_s")], npy_bytes(np.ones(3))),
                       (["dense", "-", path("p_w.npy"), "--out", path("p_y.npy")],
                        npy_bytes(np.ones((2, 2, 2)))),
                       (["dense", path("p_x.npy"), "-", "--out", path("p_y.npy")], npy_bytes(np.ones(3))),
                       (["pool", "max", "-", "--kernel", "2", "--out", path("p_y.npy")],
                        npy_bytes(np.ones(3))),
                       (["dense", path("p_x.npy"), path("p_w.npy"), "--bias", "-", "--out", path("p_y.npy")],
                        npy_bytes(np.ones(7)))]:
        np.save(path("p_x.npy"), np.ones((2, 2)))
        np.save(path("p_w.npy"), np.ones((3, 2)))
        r = run(*args, stdin=data, expect=1)
        check(b"standard input" in r.stderr and b"'-'" not in r.stderr,
              "nnla %s: names standard input: %r" % (" ".join(args), r.stderr))
    check(not os.path.exists(path("p_y.npy")), "no output after the failures")


def test_errors():
    good = save("e_good.npy", np.ones((2, 2)))
    with open(path("e_bad.npy"), "wb") as f:
        f.write(npy_bytes(np.ones((2, 2)))[:-3])  # truncated data
    np.save(path("e_c16.npy"), np.ones((2, 2), dtype=np.complex128))

    r = run("svd", path("missing.npy"), "--out", path("e"), expect=1)
    check(b"No such file" in r.stderr and b"missing.npy" in r.stderr, "missing file: message")
    r = run("svd", path("e_bad.npy"), "--out", path("e"), expect=1)
    check(b"not a valid .npy" in r.stderr and b"shorter than its shape (2, 2)" in r.stderr,
          "truncated .npy: message")
    r = run("svd", path("e_c16.npy"), "--out", path("e"), expect=1)
    check(b"unsupported dtype '<c16'" in r.stderr and b"astype(np.float64)" in r.stderr,
          "complex .npy: the dtype named, with the way out: %r" % r.stderr)
    np.savez(path("e_arch.npz"), a=np.ones(3))
    r = run("svd", path("e_arch.npz"), "--out", path("e"), expect=1)
    check(b".npz archive" in r.stderr and b"np.load(" in r.stderr, ".npz: its own message: %r" % r.stderr)
    with open(path("e_text.npy"), "wb") as f:
        f.write(b"1,2,3\n")
    r = run("svd", path("e_text.npy"), "--out", path("e"), expect=1)
    check(b"not a .npy file" in r.stderr, "a text file: message")
    open(path("e_zero.npy"), "wb").close()
    r = run("svd", path("e_zero.npy"), "--out", path("e"), expect=1)
    check(b"the file is empty" in r.stderr, "an empty file: message")
    np.save(path("e_big.npy"), np.array([[1, 2 ** 53 + 1]], dtype=np.int64))
    r = run("svd", path("e_big.npy"), "--out", path("e"), expect=1)
    check(b"2^53" in r.stderr and b"'<i8'" in r.stderr, "int64 beyond 2^53: message: %r" % r.stderr)
    with open(path("e_v4.npy"), "wb") as f:
        f.write(npy_bytes(np.ones(2)).replace(b"NUMPY\x01\x00", b"NUMPY\x04\x00", 1))
    r = run("svd", path("e_v4.npy"), "--out", path("e"), expect=1)
    check(b"version 4.0" in r.stderr, "format version 4.0: message")
    check(not glob.glob(path("e_*.npy").replace("e_*", "e_[SUV]*")), "no output after refused inputs")

    # integer and boolean arrays are read (exactly, as doubles)
    ai = RNG.integers(-1000, 1000, (5, 3))
    for dt in ("<i8", ">i4", "|i1", "<u2", "|u1", "|b1"):
        a = np.abs(ai).astype(dt) if dt[1] in "ub" else ai.astype(dt)
        run("act", "identity", save("e_int.npy", a), "--out", path("e_int_y.npy"))
        y = load_or_none(path("e_int_y.npy"))
        check(y is not None and y.dtype == np.float64 and np.array_equal(y, a.astype(np.float64)),
              "integer dtype %s read" % dt)
        if os.path.exists(path("e_int_y.npy")):
            os.remove(path("e_int_y.npy"))
    run("svd", save("e_svdint.npy", ai.astype(np.int64)), "--out", path("e_svdint"))
    close(np.load(path("e_svdint_S.npy")), np.linalg.svd(ai.astype(float), compute_uv=False), 0, 1e-9,
          "svd of an int64 matrix")
    r = run("act", "relu", good, "--out", os.path.join(WORK, "no-such-dir", "y.npy"), expect=1)
    check(b"cannot write" in r.stderr, "unwritable output: message")
    r = run("svd", save("e_1d.npy", np.ones(3)), "--out", path("e"), expect=1)
    check(b"2-D" in r.stderr, "svd of a 1-D array: message")
    r = run("svd", save("e_empty.npy", np.ones((0, 3))), "--out", path("e"), expect=1)

    # usage errors: exit 2, a message and a hint
    for args, needle in [
        (["frobnicate"], b"unknown command"),
        (["--frobnicate"], b"unknown option"),
        (["svd", good], b"--out"),
        (["svd"], b"missing argument"),
        (["svd", good, good, "--out", path("e")], b"unexpected argument"),
        (["svd", good, "--out", path("e"), "--bogus"], b"unknown option"),
        (["svd", good, "--out"], b"needs a value"),
        (["svd", good, "--out", path("e"), "--out", path("f")], b"twice"),
        (["svd", good, "--out", path("e"), "--values-only=1"], b"takes no value"),
        (["svd", good, "--out", path("e"), "--rank", "1.5"], b"--rank"),
        (["svd", good, "--out", path("e"), "--rank", " 1"], b"--rank"),
        (["svd", good, "--out", path("e"), "--rank", "+1"], b"--rank"),
        (["svd", good, "--out", path("e"), "--rank", "99999999999999999999999"], b"--rank"),
        (["dense", good, good, "--act", "nope", "--out", path("e.npy")], b"bad activation"),
        (["conv2d", good, good, "--groups", "0", "--out", path("e.npy")], b"--groups"),
        (["pool", "max", good, "--kernel", "2,", "--out", path("e.npy")], b"--kernel"),
        (["pool", "max", good, "--kernel", ",2", "--out", path("e.npy")], b"--kernel"),
        (["act"], b"missing argument"),
        (["lowrank", good, "--out", path("e")], b"exactly one of"),
        (["lowrank", good, "--rank", "2", "--energy", "0.9", "--out", path("e")], b"exactly one of"),
        (["lowrank", good, "--energy", "1.5", "--out", path("e")], b"--energy"),
        (["lowrank", good, "--energy", "0", "--out", path("e")], b"--energy"),
        (["lowrank", good, "--energy", "nan", "--out", path("e")], b"--energy"),
        (["lowrank", good, "--tol", "-1", "--out", path("e")], b"--tol"),
        (["lowrank", good, "--tol", "0.1x", "--out", path("e")], b"--tol"),
        (["lowrank", good, "--tol", "0.1", "--norm", "inf", "--out", path("e")], b"--norm"),
        (["lowrank", good, "--rank", "2", "--norm", "2", "--out", path("e")], b"--norm"),
        (["lowrank", good, "--rank", "0", "--out", path("e")], b"--rank"),
        (["lowrank", good, "--rank", "2", "--seed", "1", "--out", path("e")], b"--randomized"),
        (["lowrank", good, "--rank", "2", "--randomized", "--oversample", "0", "--out", path("e")], b"--oversample"),
        (["svd", good, "--randomized", "--out", path("e")], b"--rank"),
        (["svd", good, "--rank", "1", "--power-iters", "2", "--out", path("e")], b"--randomized"),
        (["pca", good, "--out", path("e")], b"exactly one of"),
        (["pca", good, "--variance", "1", "--out", path("e")], b"--variance"),
        (["pca", good, "--variance", "0.5", "--randomized", "--out", path("e")], b"--components"),
        (["pca", good, "--components", "0", "--out", path("e")], b"--components"),
        ([], b"usage"),
    ]:
        r = run(*args, expect=2)
        check(needle in r.stderr, "nnla %s: stderr lacks %r: %r" % (" ".join(args), needle, r.stderr))
        check(r.stdout == b"", "nnla %s: printed on stdout" % " ".join(args))
    check(not os.path.exists(path("e_S.npy")), "no output after usage errors")

    # help and version: exit 0 on stdout
    r = run("--help")
    for cmd in (b"svd", b"eigh", b"dense", b"conv2d", b"act", b"pool", b"lowrank", b"pca"):
        check(cmd in r.stdout, "nnla --help lists %r" % cmd)
        r2 = run(cmd.decode(), "--help")
        check(r2.stdout.startswith(b"usage: nnla " + cmd), "nnla %s --help" % cmd.decode())
        r3 = run(cmd.decode(), "-h")
        check(r3.stdout == r2.stdout, "nnla %s -h" % cmd.decode())
        r4 = run("help", cmd.decode())
        check(r4.stdout == r2.stdout, "nnla help %s" % cmd.decode())
    r = run("--version")
    check(r.stdout.startswith(b"nnla ") and b"libnnla" in r.stdout, "nnla --version")
    r = run("svd", "--bogus", "--help", expect=2)  # the first problem wins, in order


# ------------------------------------------------------------------ output files

def limit_file_size(nbytes):
    """A preexec_fn: the child may write files of at most nbytes (ulimit -f)."""
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))


def temporaries():
    """Temporaries nnla left in the work directory (it names them .BASE.nnla-XXXXXX)."""
    return glob.glob(os.path.join(WORK, ".*.nnla-*"))


def load_or_none(p):
    """np.load(p), or None when NumPy cannot load it (a truncated or spliced file)."""
    try:
        return np.load(p)
    except (ValueError, OSError, EOFError):
        return None


def same_file(p, data, what):
    with open(p, "rb") as f:
        check(f.read() == data, "%s: the file changed" % what)


def test_outputs():
    x = RNG.standard_normal((200, 50))
    w = RNG.standard_normal((60, 50))
    xs, ws = save("o_x.npy", x), save("o_w.npy", w)

    # A write that fails part-way (the file size limit) leaves the old file whole and loadable.
    old = npy_bytes(np.arange(6.0).reshape(2, 3))
    with open(path("o_y.npy"), "wb") as f:
        f.write(old)
    r = run("dense", xs, ws, "--out", path("o_y.npy"), expect=1, preexec=limit_file_size(4096))
    check(b"cannot write" in r.stderr and b"too large" in r.stderr,
          "ulimit -f: the reason (EFBIG): %r" % r.stderr)
    same_file(path("o_y.npy"), old, "ulimit -f over an existing file")
    y = load_or_none(path("o_y.npy"))
    check(y is not None and np.array_equal(y, np.arange(6.0).reshape(2, 3)), "the old file still loads")
    check(not temporaries(), "ulimit -f: no temporary left: %s" % temporaries())
    # ... also when the output is the input itself
    xbytes = open(xs, "rb").read()
    run("act", "relu", xs, "--out", xs, expect=1, preexec=limit_file_size(4096))
    same_file(xs, xbytes, "act X --out X under ulimit -f")
    check(not temporaries(), "act X --out X: no temporary left")
    # and without the limit, in place works
    save("o_x.npy", x)
    run("act", "relu", xs, "--out", xs)
    close(np.load(xs), np.maximum(x, 0), 0, 0, "act X --out X")
    save("o_x.npy", x)

    # A set of files is all or nothing: P_U.npy a directory leaves the old P_S/P_Vt as they were.
    a = RNG.standard_normal((6, 4))
    src = save("o_a.npy", a)
    run("svd", save("o_old.npy", RNG.standard_normal((6, 4))), "--out", path("o_P"))
    olds = {k: open(path("o_P_%s.npy" % k), "rb").read() for k in ("S", "Vt")}
    os.remove(path("o_P_U.npy"))
    os.mkdir(path("o_P_U.npy"))
    r = run("svd", src, "--out", path("o_P"), expect=1)
    check(b"o_P_U.npy" in r.stderr and b"Is a directory" in r.stderr,
          "svd: names the bad output: %r" % r.stderr)
    for k in ("S", "Vt"):
        same_file(path("o_P_%s.npy" % k), olds[k], "svd with P_U.npy a directory: P_%s.npy" % k)
    check(not temporaries(), "svd with P_U.npy a directory: no temporary left: %s" % temporaries())
    run("svd", src, "--out", path("o_Q"))  # a fresh prefix whose last file cannot be written
    for k in ("S", "U", "Vt"):
        os.remove(path("o_Q_%s.npy" % k))
    os.mkdir(path("o_Q_Vt.npy"))
    run("svd", src, "--out", path("o_Q"), expect=1)
    check(not os.path.exists(path("o_Q_S.npy")) and not os.path.exists(path("o_Q_U.npy")),
          "svd: no new partial set when P_Vt.npy cannot be written")
    s = a.T @ a
    os.mkdir(path("o_E_V.npy"))
    run("eigh", save("o_s.npy", s), "--out", path("o_E"), expect=1)
    check(not os.path.exists(path("o_E_w.npy")), "eigh: no P_w.npy when P_V.npy cannot be written")
    check(not temporaries(), "eigh: no temporary left")
    # the whole set under a size limit that only the last file exceeds: none is replaced
    run("svd", src, "--out", path("o_R"))
    olds = {k: open(path("o_R_%s.npy" % k), "rb").read() for k in ("S", "U", "Vt")}
    big = RNG.standard_normal((40, 30))  # U is 40 x 30 (9728 bytes), S and Vt smaller
    run("svd", save("o_big.npy", big), "--out", path("o_R"), expect=1, preexec=limit_file_size(8192))
    for k in ("S", "U", "Vt"):
        same_file(path("o_R_%s.npy" % k), olds[k], "svd under ulimit -f: P_%s.npy" % k)
    check(not temporaries(), "svd under ulimit -f: no temporary left")

    # --out - cannot take several arrays: a usage error, and no file named -_S.npy
    for args in (["svd", src], ["eigh", path("o_s.npy")], ["svd", src, "--values-only"]):
        r = run(*args, "--out", "-", expect=2)
        check(b"standard output" in r.stderr and b"several" in r.stderr, "%s --out -: message" % args[0])
        check(r.stdout == b"", "%s --out -: nothing on standard output" % args[0])
    check(not glob.glob("-_*.npy") and not glob.glob(path("-_*")), "--out -: no file written")

    # Permissions as a new file gets them (0666 & ~umask), or the old file's own.
    for mask, want in ((0o022, 0o644), (0o077, 0o600), (0o002, 0o664)):
        p = path("o_mode_%o.npy" % mask)
        run("act", "relu", xs, "--out", p, preexec=lambda m=mask: os.umask(m))
        got = stat.S_IMODE(os.stat(p).st_mode)
        check(got == want, "umask %o: mode %o, expected %o" % (mask, got, want))
    p = path("o_mode_keep.npy")
    np.save(p, np.zeros(2))
    os.chmod(p, 0o640)
    run("act", "relu", xs, "--out", p, preexec=lambda: os.umask(0o022))
    check(stat.S_IMODE(os.stat(p).st_mode) == 0o640, "an existing file keeps its mode")
    # A symbolic link: its target is replaced, the link stays a link.
    np.save(path("o_target.npy"), np.zeros(2))
    os.symlink("o_target.npy", path("o_link.npy"))
    run("act", "relu", xs, "--out", path("o_link.npy"))
    check(os.path.islink(path("o_link.npy")), "the link is still a link")
    close(np.load(path("o_target.npy")), np.maximum(x, 0), 0, 0, "written through the link")
    # Not a regular file: written through in place (here /dev/null stays a device).
    run("act", "relu", xs, "--out", "/dev/null")
    check(stat.S_ISCHR(os.stat("/dev/null").st_mode), "/dev/null is still a device")
    check(not temporaries(), "no temporary left")

    # Concurrent writers of one path: the file is always one of the arrays, whole.
    # 4 MB each, so that the writes overlap (in place, 5 of 20 rounds spliced on 2 cores)
    arrays = [np.full((1000, 500), float(i + 1)) for i in range(8)]
    srcs = [save("o_c%d.npy" % i, arr) for i, arr in enumerate(arrays)]
    out = path("o_conc.npy")
    deadline = time.monotonic() + 3.0
    rounds = 0
    while rounds < 3 or (rounds < 20 and time.monotonic() < deadline):
        procs = [subprocess.Popen([NNLA, "act", "identity", srcs[i], "--out", out],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for i in range(8)]
        for p in procs:
            _, err = p.communicate()
            check(p.returncode == 0, "concurrent writer: exit %d %r" % (p.returncode, err))
        y = load_or_none(out)
        check(y is not None and y.shape == (1000, 500) and any(np.array_equal(y, arr) for arr in arrays),
              "concurrent writers, round %d: the file is none of the arrays (spliced)" % rounds)
        rounds += 1
    check(not temporaries(), "concurrent writers: no temporary left")


# ------------------------------------------------------------------ low rank, randomized SVD, PCA

def read_report(r):
    """The 'name: value' lines that nnla lowrank prints, as a dict of strings."""
    out = {}
    for line in r.stdout.decode().splitlines():
        k, _, v = line.partition(": ")
        out[k] = v
    return out


def test_lowrank():
    # a 9 x 7 matrix with a known spectrum
    u, _ = np.linalg.qr(RNG.standard_normal((9, 7)))
    v, _ = np.linalg.qr(RNG.standard_normal((7, 7)))
    sig = np.array([4.0, 2.0, 1.0, 0.5, 0.25, 0.125, 0.0625])
    a = (u * sig) @ v.T
    src = save("lr_a.npy", a)
    m, n = a.shape
    U, S, Vt = np.linalg.svd(a, full_matrices=False)
    # several files: all or none, and never to standard output
    r = run("lowrank", src, "--rank", "2", "--out", "-", expect=2)
    check(b"standard output" in r.stderr, "lowrank --out -: says why")
    os.makedirs(path("lrset_R.npy"), exist_ok=True)  # a directory in the way of the second file
    run("lowrank", src, "--rank", "2", "--out", path("lrset"), expect=1)
    check(not os.path.exists(path("lrset_L.npy")), "lowrank: no P_L.npy when P_R.npy cannot be written")
    cases = [(["--rank", 3], 3), (["--energy", "0.99"], None), (["--energy", "1"], 7), (["--tol", "0.1"], None),
             (["--tol", "0.1", "--norm", "2"], 4), (["--tol", "0"], 7), (["--energy", "0.999", "--max-rank", 2], 2)]
    for i, (args, want_k) in enumerate(cases):
        prefix = path("lr%d" % i)
        r = run("lowrank", src, *args, "--out", prefix, "--product")
        rep = read_report(r)
        k = int(rep.get("rank", "0"))
        # the reference k from the definitions, on NumPy's spectrum
        total = np.sum(S ** 2)
        tails = np.array([np.sum(S[j:] ** 2) for j in range(1, 8)] + [0.0])
        if args[0] == "--energy" and len(args) == 2:
            want_k = 1 + int(np.argmax(tails <= (1 - float(args[1])) * total + 1e-15 * total))
        if args[0] == "--tol" and len(args) == 2 and args[1] != "0":
            want_k = 1 + int(np.argmax(np.sqrt(tails) <= float(args[1]) * np.sqrt(total) * (1 + 1e-12)))
        check(k == want_k, "lowrank %s: rank %d, want %d" % (" ".join(map(str, args)), k, want_k))
        l, rr, ak = (np.load(prefix + "_%s.npy" % x) for x in ("L", "R", "Ak"))
        if not check(l.shape == (m, k) and rr.shape == (k, n) and ak.shape == (m, n), "lowrank %d: shapes" % i):
            continue
        best = (U[:, :k] * S[:k]) @ Vt[:k]
        close(l @ rr, best, 0, 20 * EPS * S[0], "lowrank %d: L R is the best rank-k approximation" % i)
        close(ak, l @ rr, 0, 20 * EPS * S[0], "lowrank %d: P_Ak.npy = L R" % i)
        close(l.T @ l, np.diag(S[:k]), 0, 20 * EPS * S[0], "lowrank %d: L^T L = S_k" % i)
        close(rr @ rr.T, np.diag(S[:k]), 0, 20 * EPS * S[0], "lowrank %d: R R^T = S_k" % i)
        e_fro = np.linalg.norm(a - ak)
        e_two = np.linalg.norm(a - ak, 2) if k < 7 else 0.0
        close(np.float64(rep["err_fro"]), np.float64(e_fro), 0, 20 * EPS * S[0], "lowrank %d: err_fro" % i)
        close(np.float64(rep["err_2"]), np.float64(e_two), 0, 20 * EPS * S[0], "lowrank %d: err_2" % i)
        close(np.float64(rep["err_fro_rel"]), np.float64(e_fro / np.linalg.norm(a)), 0, 20 * EPS, "lowrank %d: err_fro_rel" % i)
        check(int(rep["params_before"]) == m * n and int(rep["params_after"]) == k * (m + n),
              "lowrank %d: parameter counts" % i)
        check(rep["exact"] == "yes" and rep["rule_met"] == ("no" if "--max-rank" in args else "yes"),
              "lowrank %d: exact / rule_met" % i)
    # randomized: the same factors' product for a full sketch; a rank-2 sketch close to the best
    r = run("lowrank", src, "--rank", 2, "--randomized", "--oversample", 3, "--power-iters", 2, "--seed", 5,
            "--out", path("lrr"))
    rep = read_report(r)
    l, rr = np.load(path("lrr_L.npy")), np.load(path("lrr_R.npy"))
    close(l @ rr, (U[:, :2] * S[:2]) @ Vt[:2], 0, 1e-6, "lowrank --randomized: close to the best rank 2")
    close(np.float64(rep["err_fro"]), np.float64(np.linalg.norm(a - l @ rr)), 0, 100 * EPS * S[0], "lowrank --randomized: err_fro")
    check(rep["exact"] == "no" and float(rep["err_2"]) <= S[2] * (1 + 1e-12), "lowrank --randomized: report")
    # float32 Fortran input, and the shapes of a wide matrix
    run("lowrank", save("lr_f32.npy", np.asfortranarray(a.T.astype(np.float32))), "--rank", 2, "--out", path("lrf"))
    check(np.load(path("lrf_L.npy")).shape == (7, 2) and np.load(path("lrf_R.npy")).shape == (2, 9),
          "lowrank float32 wide: shapes")
    # failures (exit 1): a rank above min(m, n), NaN
    r = run("lowrank", src, "--rank", 8, "--out", path("lrbad"), expect=1)
    check(b"exceeds" in r.stderr, "lowrank --rank 8: message")
    r = run("lowrank", save("lr_nan.npy", np.array([[1.0, np.nan], [0.0, 1.0]])), "--rank", 1, "--out", path("lrbad"),
            expect=1)
    check(b"NaN" in r.stderr and not os.path.exists(path("lrbad_L.npy")), "lowrank NaN: message, no output")

    # nnla svd --randomized: the exact SVD when the sketch covers everything; close otherwise
    b = RNG.standard_normal((30, 20)) @ np.diag(0.7 ** np.arange(20))
    src = save("rsvd_b.npy", b)
    Ub, Sb, Vb = np.linalg.svd(b, full_matrices=False)
    r = run("svd", src, "--rank", 5, "--randomized", "--oversample", 100, "--out", path("rs_full"))
    check(b"oversampling reduced to 15" in r.stderr, "svd --randomized: clamping note")
    us, ss, vs = (np.load(path("rs_full_%s.npy" % x)) for x in ("U", "S", "Vt"))
    close(ss, Sb[:5], 0, 100 * EPS * Sb[0], "svd --randomized (full sketch): values")
    close((us * ss) @ vs, (Ub[:, :5] * Sb[:5]) @ Vb[:5], 0, 100 * EPS * Sb[0], "svd --randomized (full sketch)")
    for seed in (0, 1):
        run("svd", src, "--rank", 4, "--randomized", "--seed", seed, "--out", path("rs%d" % seed))
    us, ss, vs = (np.load(path("rs0_%s.npy" % x)) for x in ("U", "S", "Vt"))
    check(us.shape == (30, 4) and ss.shape == (4,) and vs.shape == (4, 20), "svd --randomized: shapes")
    close(ss, Sb[:4], 1e-6, 0, "svd --randomized: values")
    check(np.linalg.norm(b - (us * ss) @ vs, 2) <= 1.1 * Sb[4], "svd --randomized: error <= 1.1 s_5")
    close(us.T @ us, np.eye(4), 0, 100 * EPS, "svd --randomized: U^T U = I")
    run("svd", src, "--rank", 4, "--randomized", "--out", path("rs0b"))  # default seed 0: the same bits
    check(np.array_equal(np.load(path("rs0b_U.npy")), us), "svd --randomized: same seed, same result")
    run("svd", src, "--rank", 4, "--randomized", "--values-only", "--out", path("rsv"))
    close(np.load(path("rsv_S.npy")), ss, 0, 100 * EPS * Sb[0], "svd --randomized --values-only")
    check(not os.path.exists(path("rsv_U.npy")), "svd --randomized --values-only wrote U")
    run("svd", src, "--rank", 21, "--randomized", "--out", path("rsbad"), expect=1)


def pca_reference(x, k):
    """NumPy PCA with scikit-learn 1.2's conventions (n - 1; u-based svd_flip)."""
    mean = x.mean(axis=0)
    u, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    idx = np.argmax(np.abs(u), axis=0)
    signs = np.sign(u[idx, np.arange(u.shape[1])])
    u, vt = u * signs, vt * signs[:, None]
    ev = s ** 2 / (x.shape[0] - 1)
    return mean, vt[:k], ev[:k], ev[:k] / ev.sum(), s[:k], ((x - mean) @ vt[:k].T)


def test_pca():
    x = RNG.standard_normal((60, 6)) * [5.0, 3.0, 2.0, 1.0, 0.5, 0.1] + [1, -2, 3, 0, 10, 100]
    x = x @ np.linalg.qr(RNG.standard_normal((6, 6)))[0]  # correlated features
    src = save("pca_x.npy", x)
    names = ("components", "mean", "explained_variance", "explained_variance_ratio", "singular_values",
             "transformed")
    for args, k in [(["--components", 2], 2), (["--components", 6], 6), (["--variance", "0.9"], None),
                    (["--components", 3, "--whiten"], 3)]:
        prefix = path("pca_%s" % "_".join(map(str, args)).replace("-", ""))
        r = run("pca", src, *args, "--out", prefix)
        got = {nm: np.load(prefix + "_%s.npy" % nm) for nm in names}
        kk = got["components"].shape[0]
        if k is None:  # the smallest count whose cumulative ratio exceeds 0.9
            ratio = pca_reference(x, 6)[3]
            k = int(np.searchsorted(np.cumsum(ratio), 0.9, side="right")) + 1
        if not check(kk == k, "pca %s: %d components, want %d" % (args, kk, k)):
            continue
        mean, comp, ev, evr, sv, y = pca_reference(x, k)
        what = "pca %s" % " ".join(map(str, args))
        close(got["mean"], mean, 0, 1e-12 * 100, what + ": mean")
        close(got["components"], comp, 0, 1e-10, what + ": components (signs included)")
        close(got["explained_variance"], ev, 1e-11, 0, what + ": explained variance (n - 1)")
        close(got["explained_variance_ratio"], evr, 1e-11, 0, what + ": ratio")
        close(got["singular_values"], sv, 1e-11, 0, what + ": singular values")
        if "--whiten" in args:
            y = y / np.sqrt(ev)
            close(np.cov(got["transformed"], rowvar=False), np.eye(k), 0, 1e-10, what + ": whitened covariance")
        close(got["transformed"], y, 0, 1e-9, what + ": transformed")
        check(b"n_components: %d" % k in r.stdout, what + ": printed n_components")
    # randomized: the full solver's components on data with a clear gap
    run("pca", src, "--components", 2, "--randomized", "--power-iters", 6, "--seed", 3, "--out", path("pcar"))
    close(np.load(path("pcar_components.npy")), pca_reference(x, 2)[1], 0, 1e-7, "pca --randomized: components")
    # failures
    r = run("pca", save("pca_one.npy", np.ones((1, 3))), "--components", 1, "--out", path("pbad"), expect=1)
    check(b"2 samples" in r.stderr, "pca with one sample: message")
    run("pca", src, "--components", 7, "--out", path("pbad"), expect=1)
    r = run("pca", save("pca_inf.npy", np.array([[1.0, np.inf], [0.0, 1.0], [2.0, 2.0]])), "--components", 1,
            "--out", path("pbad"), expect=1)
    check(b"NaN or Inf" in r.stderr and not os.path.exists(path("pbad_mean.npy")), "pca Inf: message, no output")


def main():
    global NNLA, WORK
    NNLA, WORK, group = sys.argv[1], sys.argv[2], sys.argv[3]
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    tests = {"svd": test_svd, "eigh": test_eigh, "dense": test_dense, "conv2d": test_conv2d, "act": test_act,
             "pool": test_pool, "pipes": test_pipes, "errors": test_errors, "outputs": test_outputs,
             "lowrank": test_lowrank, "pca": test_pca}
    tests[group]()
    if FAILURES:
        print("%d failure(s) in cli_%s" % (len(FAILURES), group))
        return 1
    shutil.rmtree(WORK, ignore_errors=True)
    print("cli_%s: all checks passed" % group)
    return 0


if __name__ == "__main__":
    sys.exit(main())
