#!/usr/bin/python3
"""usage: cli_spectral_test.py NNLA WORK_DIR GROUP

Runs `nnla inspect`, `nnla specnorm` and `nnla init` on small arrays and checks what they print and
write against NumPy (numpy.linalg.svd, norm, cond, matrix_rank; the circular convolution's singular
values from numpy.fft per frequency and from the explicit matrix; the initializers' laws from their
formulas), and their exit codes on bad input. GROUP is inspect, specnorm or init. Registered by
tests/cli.cmake.
"""
import math
import os
import shutil
import subprocess
import sys

import numpy as np

EPS = np.finfo(float).eps
NNLA = WORK = None
FAILURES = []
RNG = np.random.default_rng(20261129)


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


def run(*args, expect=0):
    r = subprocess.run([NNLA] + [str(a) for a in args], capture_output=True)
    if b"Sanitizer" in r.stderr or b"runtime error:" in r.stderr:
        fail("nnla %s: sanitizer report:\n%s" % (" ".join(map(str, args)), r.stderr.decode(errors="replace")))
    if r.returncode != expect:
        fail("nnla %s: exit %d, expected %d; stderr: %s" % (" ".join(map(str, args)), r.returncode, expect,
                                                              r.stderr.decode(errors="replace").strip()))
    return r


def fields(r):
    """The 'name: value' lines of a command's output, values as text."""
    out = {}
    for line in r.stdout.decode().splitlines():
        k, _, v = line.partition(": ")
        out[k] = v
    return out


def near(x, want, tol, what):
    ok = (math.isinf(x) and math.isinf(want)) or abs(x - want) <= tol
    return check(ok, "%s: %r, expected %r (tol %.3g)" % (what, x, want, tol))


# ------------------------------------------------------------------ inspect

def numpy_figures(a):
    s = np.linalg.svd(a, compute_uv=False)
    p = s / s.sum()
    h = -sum(x * math.log(x) for x in p if x > 0)
    return {"sigma_max": s[0], "sigma_min": s[-1], "condition_number": np.linalg.cond(a),
            "rank": np.linalg.matrix_rank(a), "effective_rank": math.exp(h),
            "stable_rank": (s ** 2).sum() / s[0] ** 2, "frobenius": np.linalg.norm(a), "spectrum": s}


def check_inspect(name, a, extra=()):
    src = save(name + ".npy", a)
    f = fields(run("inspect", src, "--spectrum", *extra))
    a64 = np.asarray(a, dtype=float)
    m = a64.reshape(a64.shape[0], -1)
    ref = numpy_figures(m)
    scale = 16 * max(m.shape) * EPS * ref["sigma_max"]
    check(f.get("matrix", "").startswith("%d x %d" % m.shape), "%s: matrix line %r" % (name, f.get("matrix")))
    for key in ("sigma_max", "sigma_min", "frobenius"):
        near(float(f[key]), ref[key], scale, "%s %s" % (name, key))
    near(float(f["stable_rank"]), ref["stable_rank"], 1e-12 * ref["stable_rank"], name + " stable_rank")
    near(float(f["effective_rank"]), ref["effective_rank"], 1e-12 * ref["effective_rank"], name + " effective_rank")
    check(int(f["rank"]) == ref["rank"], "%s rank %s, numpy %d" % (name, f["rank"], ref["rank"]))
    if ref["rank"] == min(m.shape):
        c = ref["condition_number"]
        near(float(f["condition_number"]), c, 1e-9 * c, name + " condition_number")
    else:
        check(float(f["condition_number"]) > 1e12, "%s: condition number of a singular matrix %s" %
              (name, f["condition_number"]))
    spec = np.array(f["spectrum"].split(), dtype=float)
    check(spec.shape == ref["spectrum"].shape and np.allclose(spec, ref["spectrum"], rtol=0, atol=scale),
          "%s: spectrum differs from numpy.linalg.svd" % name)
    return f


def circular_reference(w, n1, n2):
    """All singular values of the circular convolution: per frequency, from numpy.fft."""
    o, c, kh, kw = w.shape
    pad = np.zeros((o, c, n1, n2))
    pad[:, :, :kh, :kw] = w
    f = np.fft.fft2(pad)  # f[o, c, f1, f2]
    vals = [np.linalg.svd(f[:, :, i, j], compute_uv=False) for i in range(n1) for j in range(n2)]
    return np.sort(np.concatenate(vals))[::-1]


def circular_explicit(w, n1, n2):
    o, c, kh, kw = w.shape
    m = np.zeros((o * n1 * n2, c * n1 * n2))
    for oo in range(o):
        for p in range(n1):
            for q in range(n2):
                for cc in range(c):
                    for i in range(kh):
                        for j in range(kw):
                            m[(oo * n1 + p) * n2 + q, (cc * n1 + (p + i) % n1) * n2 + (q + j) % n2] += w[oo, cc, i, j]
    return np.linalg.svd(m, compute_uv=False)


def test_inspect():
    cases = [("tall", RNG.standard_normal((9, 4))), ("wide", RNG.standard_normal((3, 7))),
             ("square", RNG.standard_normal((6, 6))), ("one", np.array([[-2.5]])),
             ("f32_fortran", np.asfortranarray(RNG.standard_normal((5, 3)).astype(np.float32))),
             ("rank_deficient", np.outer(RNG.standard_normal(6), RNG.standard_normal(5))),
             ("kernel", RNG.standard_normal((4, 3, 3, 3)))]
    for name, a in cases:
        check_inspect(name, a)
    # a stated rank tolerance, as numpy.linalg.matrix_rank(A, tol)
    a = np.diag([4.0, 2.0, 1.0, 1e-3])
    src = save("diag.npy", a)
    for tol, want in [("0.5", 3), ("1.5", 2), ("1e-2", 3), ("1e-4", 4), ("0", 4)]:
        f = fields(run("inspect", src, "--rank-tol", tol))
        check(int(f["rank"]) == want == np.linalg.matrix_rank(a, tol=float(tol)), "rank at tol %s: %s" % (tol, f["rank"]))
    # a conv kernel with circular padding: against numpy.fft per frequency, and the explicit matrix
    for shape, n in [((2, 3, 3, 3), (5, 4)), ((3, 2, 2, 3), (4, 6)), ((1, 1, 3, 3), (8, 8))]:
        w = RNG.standard_normal(shape) if shape != (1, 1, 3, 3) else np.ones(shape)
        src = save("k%d%d.npy" % shape[:2], w)
        f = fields(run("inspect", src, "--circular", "%d,%d" % n, "--spectrum"))
        ref = circular_reference(w, *n)
        got = np.array(f["circular_spectrum"].split(), dtype=float)
        tol = 64 * max(n) * max(shape) * EPS * ref[0]
        check(got.shape == ref.shape and np.allclose(got, ref, rtol=0, atol=tol),
              "circular %s on %s: spectrum differs from numpy.fft" % (shape, n))
        near(float(f["circular_operator_norm"]), ref[0], tol, "circular %s operator norm" % (shape,))
        near(float(f["circular_sigma_min"]), ref[-1], tol, "circular %s sigma_min" % (shape,))
        ex = circular_explicit(w, *n)[:ref.size]
        check(np.allclose(got, ex, rtol=0, atol=tol), "circular %s on %s: differs from the explicit matrix" %
              (shape, n))
        if shape == (1, 1, 3, 3):
            check(abs(float(f["circular_operator_norm"]) - 9) < 1e-12 and abs(float(f["sigma_max"]) - 3) < 1e-12,
                  "3x3 ones: operator norm 9, reshaped norm 3")
    # bad input
    save("v1.npy", np.ones(3))
    save("v3.npy", np.ones((2, 2, 2)))
    save("nan.npy", np.array([[1.0, np.nan], [0.0, 1.0]]))
    save("m.npy", np.eye(3))
    save("k4.npy", np.ones((2, 2, 3, 3)))
    r = run("inspect", path("v1.npy"), expect=1)
    check(b"matrix (2-D) or conv kernel" in r.stderr, "1-D input message: %r" % r.stderr)
    run("inspect", path("v3.npy"), expect=1)
    r = run("inspect", path("nan.npy"), expect=1)
    check(b"NaN or Inf" in r.stderr, "NaN message: %r" % r.stderr)
    run("inspect", path("m.npy"), "--circular", "4,4", expect=1)
    r = run("inspect", path("k4.npy"), "--circular", "2,5", expect=1)
    check(b"larger than the input" in r.stderr, "kernel > input message: %r" % r.stderr)
    for bad in ["-1", "abc", "inf", "1e", " 1"]:
        run("inspect", path("m.npy"), "--rank-tol", bad, expect=2)
    run("inspect", path("k4.npy"), "--circular", "0,4", expect=2)
    # --input-size: bad combinations
    run("inspect", path("m.npy"), "--input-size", "8,8", expect=1)
    run("inspect", path("k4.npy"), "--stride", "2", expect=2)
    run("inspect", path("k4.npy"), "--padding", "1", expect=2)
    run("inspect", path("k4.npy"), "--input-size", "0,4", expect=2)
    run("inspect", path("k4.npy"), "--input-size", "8,8", "--stride", "0", expect=2)
    for bad in ["1,2,3", "a", "1,,2", "-1"]:
        run("inspect", path("k4.npy"), "--input-size", "8,8", "--padding", bad, expect=2)
    r = run("inspect", path("k4.npy"), "--input-size", "2,5", expect=1)
    check(b"larger than the padded input" in r.stderr and r.stdout == b"",
          "kernel > padded input: %r, stdout %r" % (r.stderr, r.stdout))
    run("inspect", path("missing.npy"), expect=1)
    run("inspect", expect=2)


def conv_explicit(w, h, wd, stride, pads):
    """The explicit matrix of a zero-padded, strided convolution (cross-correlation, no bias) on
    C x h x wd inputs: pads = (top, left, bottom, right), one column per unit input."""
    o, c, kh, kw = w.shape
    top, left, bottom, right = pads
    oh = (h + top + bottom - kh) // stride[0] + 1
    ow = (wd + left + right - kw) // stride[1] + 1
    m = np.zeros((o * oh * ow, c * h * wd))
    for col in range(c * h * wd):
        x = np.zeros((c, h + top + bottom, wd + left + right))
        cc, rest = divmod(col, h * wd)
        x[cc, top + rest // wd, left + rest % wd] = 1.0
        for oo in range(o):
            for p in range(oh):
                for q in range(ow):
                    win = x[:, p * stride[0]:p * stride[0] + kh, q * stride[1]:q * stride[1] + kw]
                    m[(oo * oh + p) * ow + q, col] = np.sum(win * w[oo])
    return m, oh, ow


def test_inspect_input_size():
    """The operator norm of a convolution on an input size, against the explicit matrix's 2-norm."""
    cases = [((1, 1, 3, 3), "ones", (8, 8), None, "1", (1, 1), (1, 1, 1, 1)),
             ((1, 1, 3, 3), "ones", (6, 6), None, None, (1, 1), (0, 0, 0, 0)),
             ((2, 3, 3, 3), "rand", (6, 5), "2", "1,0,2,1", (2, 2), (1, 0, 2, 1)),
             ((3, 2, 2, 3), "rand", (5, 7), "1,2", "1,2", (1, 2), (1, 2, 1, 2)),
             ((4, 4, 1, 1), "rand", (3, 3), None, None, (1, 1), (0, 0, 0, 0))]
    for shape, kind, (h, wd), stride, padding, st, pads in cases:
        w = np.ones(shape) if kind == "ones" else RNG.standard_normal(shape)
        src = save("op_%d%d%d%d.npy" % shape, w)
        args = ["inspect", src, "--input-size", "%d,%d" % (h, wd)]
        if stride:
            args += ["--stride", stride]
        if padding:
            args += ["--padding", padding]
        f = fields(run(*args))
        m, oh, ow = conv_explicit(w, h, wd, st, pads)
        want = np.linalg.norm(m, 2)
        near(float(f["operator_norm"]), want, 1e-9 * want, "operator norm of %s on %dx%d" % (shape, h, wd))
        check(f["input_size"] == "%d x %d" % (h, wd) and f["output_size"] == "%d x %d" % (oh, ow),
              "sizes: %s, %s" % (f["input_size"], f["output_size"]))
        check(float(f["operator_norm_residual"]) <= 1e-10, "residual %s" % f["operator_norm_residual"])
        # the reshaped kernel's figures are still printed, and bound the operator norm from above by
        # sqrt(KH KW) for stride 1
        s = float(f["sigma_max"])
        near(s, np.linalg.norm(w.reshape(shape[0], -1), 2), 64 * EPS * s, "reshaped sigma_max")
        if st == (1, 1):
            check(want <= math.sqrt(shape[2] * shape[3]) * s * (1 + 1e-12), "sqrt(KH KW) bound")
        if kind == "ones" and padding == "1":
            a = 1 + 2 * math.cos(math.pi / (h + 1))
            near(float(f["operator_norm"]), a * a, 1e-9 * 9, "3x3 ones with padding 1: (1 + 2 cos(pi / (n + 1)))^2")


# ------------------------------------------------------------------ specnorm

def test_specnorm():
    for name, a in [("tall", RNG.standard_normal((8, 5))), ("wide", RNG.standard_normal((3, 9))),
                    ("kernel", RNG.standard_normal((4, 2, 3, 3)))]:
        src = save(name + ".npy", a)
        m = a.reshape(a.shape[0], -1)
        want = np.linalg.norm(m, 2)
        f = fields(run("specnorm", src))
        near(float(f["sigma"]), want, 16 * max(m.shape) * EPS * want, name + " exact sigma")
        out = path(name + "_n.npy")
        f = fields(run("specnorm", src, "--out", out))
        wn = np.load(out)
        check(wn.shape == a.shape, "%s: --out shape %s" % (name, wn.shape))
        near(np.linalg.norm(wn.reshape(a.shape[0], -1), 2), 1.0, 64 * max(m.shape) * EPS, name + " ||W/sigma||")
        check(np.array_equal(wn, a / float(f["sigma"])), "%s: --out is not W / sigma entrywise" % name)
        # power iteration
        f = fields(run("specnorm", src, "--power", "--tol", "1e-10", "--seed", "3"))
        near(float(f["sigma"]), want, 1e-10 * want, name + " power sigma")
        check(float(f["residual"]) <= 1e-11 and int(f["iterations"]) >= 0, "%s: residual %s" % (name, f["residual"]))
        out = path(name + "_p.npy")
        run("specnorm", src, "--power", "--out", out)
        near(np.linalg.norm(np.load(out).reshape(a.shape[0], -1), 2), 1.0, 1e-6, name + " power ||W/sigma||")
    # three nearly equal leading singular values and 2 iterations: no convergence, exit 1, nothing written
    q1, _ = np.linalg.qr(RNG.standard_normal((12, 12)))
    q2, _ = np.linalg.qr(RNG.standard_normal((10, 10)))
    s = np.array([1.0, 1 - 1e-6, 1 - 2e-6] + [0.1] * 7)
    a = q1[:, :10] @ np.diag(s) @ q2.T
    src = save("slow.npy", a)
    out = path("slow_n.npy")
    r = run("specnorm", src, "--power", "--tol", "1e-12", "--max-iter", "2", "--out", out, expect=1)
    check(b"did not converge" in r.stderr and not os.path.exists(out), "no convergence: %r" % r.stderr)
    f = fields(r)
    check(int(f.get("iterations", -1)) == 2 and float(f["sigma"]) <= 1 + 1e-12, "last estimate printed: %r" % f)
    # a zero matrix: sigma 0, written unchanged
    src = save("zero.npy", np.zeros((3, 2)))
    out = path("zero_n.npy")
    f = fields(run("specnorm", src, "--out", out))
    check(float(f["sigma"]) == 0 and np.array_equal(np.load(out), np.zeros((3, 2))), "zero matrix")
    # usage errors and bad input
    src = save("m.npy", np.eye(2))
    for args in [("--tol", "1e-3"), ("--max-iter", "5"), ("--seed", "1"), ("--power", "--tol", "0"),
                 ("--power", "--tol", "-1e-3"), ("--power", "--tol", "x"), ("--power", "--max-iter", "0"),
                 ("--power", "--seed", "-1"), ("--out",)]:
        run("specnorm", src, *args, expect=2)
    save("nan.npy", np.array([[1.0, np.inf], [0.0, 1.0]]))
    run("specnorm", path("nan.npy"), expect=1)
    run("specnorm", path("nan.npy"), "--power", expect=1)
    save("v1.npy", np.ones(4))
    run("specnorm", path("v1.npy"), expect=1)
    run("specnorm", src, "--out", os.path.join(WORK, "no-such-dir", "x.npy"), expect=1)


# ------------------------------------------------------------------ init

def fans(shape):
    rf = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * rf, shape[0] * rf


def scale_of(family, law, shape, gain, mode):
    fi, fo = fans(shape)
    if family == "xavier":
        std = gain * math.sqrt(2.0 / (fi + fo))
    else:
        fan = fi if (family == "lecun" or mode == "fan_in") else fo
        std = gain / math.sqrt(fan)
    return math.sqrt(3.0) * std if law == "uniform" else std


def test_init():
    cases = [("xavier", 1.0, ()), ("he", math.sqrt(2.0), ()), ("lecun", 1.0, ()),
             ("he", math.sqrt(2.0), ("--mode", "fan_out")), ("xavier", 5.0 / 3.0, ("--act", "tanh")),
             ("he", math.sqrt(2.0 / 1.04), ("--act", "leaky_relu:0.2")), ("lecun", 0.75, ("--gain", "0.75"))]
    for shape in [(256, 192), (64, 32, 3, 3)]:
        for family, gain, extra in cases:
            mode = "fan_out" if "fan_out" in extra else "fan_in"
            for law in ("uniform", "normal"):
                out = path("w.npy")
                run("init", "--" + family, "--" + law, "--shape", ",".join(map(str, shape)), "--seed", "7",
                    "--out", out, *extra)
                w = np.load(out)
                what = "init %s %s %s %s" % (family, law, shape, " ".join(extra))
                check(w.shape == shape, "%s: shape %s" % (what, w.shape))
                sc = scale_of(family, law, shape, gain, mode)
                n = w.size
                var = sc * sc / 3 if law == "uniform" else sc * sc
                mu4 = sc ** 4 / 5 if law == "uniform" else 3 * var * var
                check(abs(w.mean()) <= 5 * math.sqrt(var / n), "%s: mean %g" % (what, w.mean()))
                check(abs(w.var(ddof=1) - var) <= 5 * math.sqrt((mu4 - var * var) / n),
                      "%s: variance %g, expected %g" % (what, w.var(ddof=1), var))
                if law == "uniform":
                    check(np.abs(w).max() <= sc and np.abs(w).max() >= 0.99 * sc,
                          "%s: max |w| %r, bound %r" % (what, np.abs(w).max(), sc))
    # the default law is uniform; the same seed gives the same bytes, another seed other weights
    a, b, c, d = (path(x + ".npy") for x in "abcd")
    run("init", "--he", "--shape", "8,5", "--seed", "1", "--out", a)
    run("init", "--he", "--uniform", "--shape", "8,5", "--seed", "1", "--out", b)
    run("init", "--he", "--shape", "8,5", "--seed", "2", "--out", c)
    with open(a, "rb") as fa, open(b, "rb") as fb, open(c, "rb") as fc:
        ba, bb, bc = fa.read(), fb.read(), fc.read()
    check(ba == bb and ba != bc, "seeds: same seed same bytes, other seed other weights")
    # orthogonal: rows or columns orthonormal times the gain
    for shape, gain in [((5, 8), "1"), ((8, 5), "2"), ((6, 6), "1"), ((4, 2, 3, 3), "1.5"), ((20, 2, 2, 2), "1")]:
        run("init", "--orthogonal", "--shape", ",".join(map(str, shape)), "--seed", "3", "--gain", gain, "--out", d)
        w = np.load(d)
        check(w.shape == shape, "orthogonal %s: shape %s" % (shape, w.shape))
        m = w.reshape(shape[0], -1)
        g = float(gain)
        prod = m @ m.T if m.shape[0] <= m.shape[1] else m.T @ m
        err = np.abs(prod - g * g * np.eye(prod.shape[0])).max()
        check(err <= 64 * max(m.shape) * EPS * g * g, "orthogonal %s: defect %g" % (shape, err))
    # usage errors
    ok = ("--shape", "4,3", "--seed", "1", "--out", d)
    for args in [ok, ("--he", "--xavier") + ok, ("--he", "--normal", "--uniform") + ok,
                 ("--orthogonal", "--normal") + ok, ("--he", "--seed", "1", "--out", d),
                 ("--he", "--shape", "4,3", "--out", d), ("--he", "--shape", "4,3", "--seed", "1"),
                 ("--he", "--shape", "4,3,3", "--seed", "1", "--out", d),
                 ("--he", "--shape", "4,0", "--seed", "1", "--out", d),
                 ("--he", "--shape", "4,x", "--seed", "1", "--out", d),
                 ("--he", "--shape", "4,3,3,3,3", "--seed", "1", "--out", d),
                 ("--he", "--seed", "-1", "--shape", "4,3", "--out", d), ("--he", "--mode", "fan") + ok,
                 ("--he", "--act", "elu") + ok, ("--he", "--act", "nope") + ok,
                 ("--he", "--act", "relu", "--gain", "2") + ok, ("--he", "--gain", "-1") + ok,
                 ("--he", "--gain", "nan") + ok, ("--he", "extra") + ok]:
        run("init", *args, expect=2)
    run("init", "--he", "--shape", "4,3", "--seed", "1", "--out", os.path.join(WORK, "no-such-dir", "w.npy"),
        expect=1)
    run("init", "--xavier", "--gain", "1e308", "--shape", "4,3", "--seed", "1", "--out", d, expect=1)


def main():
    global NNLA, WORK
    NNLA, WORK, group = sys.argv[1], sys.argv[2], sys.argv[3]
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    {"inspect": lambda: (test_inspect(), test_inspect_input_size()), "specnorm": test_specnorm,
     "init": test_init}[group]()
    if FAILURES:
        print("%d failure(s) in cli_%s" % (len(FAILURES), group))
        return 1
    shutil.rmtree(WORK, ignore_errors=True)
    print("cli_%s: all checks passed" % group)
    return 0


if __name__ == "__main__":
    sys.exit(main())
