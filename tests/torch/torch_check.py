#!/usr/bin/python3
"""Cross-check of libnnla's convolution, pooling and batch normalization against PyTorch float64.

    torch_check.py LIBNNLA conv|pool|norm

Loads the built library through ctypes and compares, on random configurations, the forward passes
and the backward passes with torch.nn.functional and torch autograd in float64:

  conv  nnla_conv2d_forward / _backward_data / _backward_weights against F.conv2d (asymmetric
        padding through F.pad; stride, dilation, groups, depthwise, 1x1; fused ReLU and softmax
        over the channels) and autograd's input, weight and bias gradients;
  pool  nnla_pool2d_forward(_argmax) / _backward against F.max_pool2d (return_indices) and
        F.avg_pool2d (ceil_mode, count_include_pad, PyTorch's own padding, and asymmetric or large
        pads through F.pad with -inf or 0), and autograd; nnla_global_avgpool2d(_backward);
  norm  nnla_batchnorm_forward / _forward_train / _backward against F.batch_norm (training and
        inference, running statistics updated in place, affine or not, N x C and N x C x L) and
        autograd.

Each comparison allows c * n * eps relative to a bound of the summed magnitudes. Exits 0 when all
pass, 1 on a mismatch, 77 (ctest's skip code here) when torch cannot be imported.
"""
import ctypes
import sys

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError as e:  # python3-torch (or numpy) missing: skip, do not fail
    print("skipped: %s" % e)
    sys.exit(77)

torch.set_default_dtype(torch.float64)
EPS = np.finfo(np.float64).eps
FAILURES = []

c_size = ctypes.c_size_t
c_ptr = ctypes.c_void_p


class ConvDesc(ctypes.Structure):
    _fields_ = [(n, c_size) for n in (
        "in_channels", "out_channels", "kernel_h", "kernel_w", "stride_h", "stride_w",
        "pad_top", "pad_bottom", "pad_left", "pad_right", "dilation_h", "dilation_w", "groups")]


class PoolDesc(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_int)] + [(n, c_size) for n in (
        "kernel_h", "kernel_w", "stride_h", "stride_w", "pad_top", "pad_bottom", "pad_left", "pad_right")] + [
        ("ceil_mode", ctypes.c_int), ("count_include_pad", ctypes.c_int)]


class Act(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_int), ("param", ctypes.c_double)]


ACT_IDENTITY, ACT_RELU, ACT_SOFTMAX = 0, 3, 9
POOL_MAX, POOL_AVG = 0, 1


def load(path):
    lib = ctypes.CDLL(path)
    sigs = {
        "nnla_conv2d_output_size": [ctypes.POINTER(ConvDesc), c_size, c_size, ctypes.POINTER(c_size),
                                    ctypes.POINTER(c_size)],
        "nnla_conv2d_workspace_size": [ctypes.POINTER(ConvDesc), c_size, c_size, c_size, ctypes.POINTER(c_size)],
        "nnla_conv2d_backward_data_workspace_size": [ctypes.POINTER(ConvDesc), c_size, c_size, c_size,
                                                     ctypes.POINTER(c_size)],
        "nnla_conv2d_backward_weights_workspace_size": [ctypes.POINTER(ConvDesc), c_size, c_size, c_size,
                                                        ctypes.POINTER(c_size)],
        "nnla_conv2d_forward": [ctypes.POINTER(ConvDesc), c_size, c_size, c_size, c_ptr, c_ptr, c_ptr, Act, c_ptr,
                                c_ptr, c_size],
        "nnla_conv2d_backward_data": [ctypes.POINTER(ConvDesc), c_size, c_size, c_size, c_ptr, c_ptr, c_ptr, c_ptr,
                                      c_size],
        "nnla_conv2d_backward_weights": [ctypes.POINTER(ConvDesc), c_size, c_size, c_size, c_ptr, c_ptr, c_ptr,
                                         c_ptr, c_ptr, c_size],
        "nnla_pool2d_output_size": [ctypes.POINTER(PoolDesc), c_size, c_size, ctypes.POINTER(c_size),
                                    ctypes.POINTER(c_size)],
        "nnla_pool2d_forward": [ctypes.POINTER(PoolDesc), c_size, c_size, c_size, c_size, c_ptr, c_ptr],
        "nnla_pool2d_forward_argmax": [ctypes.POINTER(PoolDesc), c_size, c_size, c_size, c_size, c_ptr, c_ptr,
                                       c_ptr],
        "nnla_pool2d_backward": [ctypes.POINTER(PoolDesc), c_size, c_size, c_size, c_size, c_ptr, c_ptr, c_ptr],
        "nnla_global_avgpool2d": [c_size, c_size, c_size, c_size, c_ptr, c_ptr],
        "nnla_global_avgpool2d_backward": [c_size, c_size, c_size, c_size, c_ptr, c_ptr],
        "nnla_batchnorm_forward": [c_size, c_size, c_size, c_ptr, c_ptr, c_ptr, c_ptr, c_ptr, ctypes.c_double,
                                   c_ptr],
        "nnla_batchnorm_forward_train": [c_size, c_size, c_size, c_ptr, c_ptr, c_ptr, ctypes.c_double,
                                         ctypes.c_double, c_ptr, c_ptr, c_ptr, c_ptr, c_ptr],
        "nnla_batchnorm_backward": [c_size, c_size, c_size, c_ptr, c_ptr, c_ptr, c_ptr, c_ptr, c_ptr, c_ptr,
                                    c_ptr],
    }
    for name, args in sigs.items():
        f = getattr(lib, name)
        f.argtypes = args
        f.restype = ctypes.c_int
    return lib


def p(a):
    """A numpy array's data pointer (None for None)."""
    return None if a is None else a.ctypes.data_as(c_ptr)


def call(f, *args):
    st = f(*args)
    if st != 0:
        raise RuntimeError("%s returned status %d" % (f.__name__, st))


def close(actual, expected, bound, what):
    """|actual - expected| <= bound entrywise (bound an array or a scalar)."""
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    if actual.shape != expected.shape:
        FAILURES.append("%s: shape %s, expected %s" % (what, actual.shape, expected.shape))
        return
    err = np.abs(actual - expected)
    bad = ~(err <= bound)
    if bad.any():
        i = np.unravel_index(np.argmax(np.where(bad, err, -1)), err.shape)
        b = bound[i] if np.ndim(bound) else bound
        FAILURES.append("%s: worst at %s: %.17g vs %.17g (error %.3g > bound %.3g)"
                        % (what, i, actual[i], expected[i], err[i], b))


def t(a, grad=False):
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)


# ------------------------------------------------------------------ conv

def check_conv(lib, rng):
    cases = 0
    for trial in range(120):
        mode = trial % 4  # 0/1: one group, 2: two groups, 3: depthwise
        groups = 1 if mode <= 1 else 2 if mode == 2 else int(rng.integers(1, 5))
        cg = 1 if mode == 3 else int(rng.integers(1, 5))
        mg = int(rng.integers(1, 3)) if mode == 3 else int(rng.integers(1, 5))
        kh, kw = int(rng.integers(1, 5)), int(rng.integers(1, 5))
        sh, sw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        dh, dw = int(rng.integers(1, 3)), int(rng.integers(1, 3))
        pads = [int(v) for v in rng.integers(0, 3, size=4)]  # top, bottom, left, right
        if trial % 9 == 0:  # the 1x1 fast path
            kh = kw = sh = sw = 1
            pads = [0, 0, 0, 0]
        if trial % 13 == 0:  # enough channels for the kernel-row split (in/groups * kw >= 64)
            groups, cg, mg, kw, sh = 1, 24, 3, 3, 1
        batch, h, w = int(rng.integers(1, 4)), int(rng.integers(1, 12)), int(rng.integers(1, 12))
        cin, cout = cg * groups, mg * groups
        d = ConvDesc(cin, cout, kh, kw, sh, sw, pads[0], pads[1], pads[2], pads[3], dh, dw, groups)
        oh, ow = c_size(), c_size()
        if lib.nnla_conv2d_output_size(ctypes.byref(d), h, w, ctypes.byref(oh), ctypes.byref(ow)) != 0:
            continue
        oh, ow = oh.value, ow.value
        x = rng.uniform(-1, 1, (batch, cin, h, w))
        wt = rng.uniform(-1, 1, (cout, cg, kh, kw))
        b = rng.uniform(-1, 1, cout)
        dy = rng.uniform(-1, 1, (batch, cout, oh, ow))
        # torch: explicit asymmetric zero padding, then an unpadded convolution
        xt, wtt, bt = t(x, True), t(wt, True), t(b, True)
        yt = F.conv2d(F.pad(xt, (pads[2], pads[3], pads[0], pads[1])), wtt, bt, (sh, sw), 0, (dh, dw), groups)
        yt.backward(t(dy))
        # error bounds: the same sums over absolute values (|x| conv |w|, and its gradients against |dy|)
        xa, wa = t(np.abs(x), True), t(np.abs(wt), True)
        ya = F.conv2d(F.pad(xa, (pads[2], pads[3], pads[0], pads[1])), wa, t(np.abs(b)), (sh, sw), 0, (dh, dw),
                      groups)
        ya.backward(t(np.abs(dy)))
        k = cg * kh * kw
        # nnla
        ws = c_size()
        call(lib.nnla_conv2d_workspace_size, ctypes.byref(d), batch, h, w, ctypes.byref(ws))
        work = np.empty(max(ws.value, 1), dtype=np.uint8)
        y = np.empty((batch, cout, oh, ow))
        call(lib.nnla_conv2d_forward, ctypes.byref(d), batch, h, w, p(x), p(wt), p(b), Act(ACT_IDENTITY, 0.0),
             p(y), p(work), ws.value)
        close(y, yt.detach().numpy(), 4 * (k + 2) * EPS * ya.detach().numpy(), "conv %d forward" % trial)
        if trial % 3 == 0:  # fused ReLU, and softmax over the channels of each pixel (dim=1)
            for kind, ref in ((ACT_RELU, F.relu(yt)), (ACT_SOFTMAX, torch.softmax(yt, dim=1))):
                call(lib.nnla_conv2d_forward, ctypes.byref(d), batch, h, w, p(x), p(wt), p(b), Act(kind, 0.0),
                     p(y), p(work), ws.value)
                close(y, ref.detach().numpy(), 8 * (k + 2) * EPS * (ya.detach().numpy().max() + 1),
                      "conv %d forward act %d" % (trial, kind))
        wsd, wsw = c_size(), c_size()
        call(lib.nnla_conv2d_backward_data_workspace_size, ctypes.byref(d), batch, h, w, ctypes.byref(wsd))
        call(lib.nnla_conv2d_backward_weights_workspace_size, ctypes.byref(d), batch, h, w, ctypes.byref(wsw))
        # every other case at the smallest useful size: a third of the preferred one, tiled
        sd, sw_ = (wsd.value, wsw.value) if trial % 2 else (wsd.value // 3, wsw.value // 3)
        wd, ww = np.empty(max(wsd.value, 1), dtype=np.uint8), np.empty(max(wsw.value, 1), dtype=np.uint8)
        dx = np.full(x.shape, np.nan)
        dwt = np.full(wt.shape, np.nan)
        db = np.full(b.shape, np.nan)
        st = lib.nnla_conv2d_backward_data(ctypes.byref(d), batch, h, w, p(dy), p(wt), p(dx), p(wd), sd)
        if st == 6:  # below the minimum: use the preferred size
            st = lib.nnla_conv2d_backward_data(ctypes.byref(d), batch, h, w, p(dy), p(wt), p(dx), p(wd), wsd.value)
        if st != 0:
            raise RuntimeError("nnla_conv2d_backward_data: status %d" % st)
        st = lib.nnla_conv2d_backward_weights(ctypes.byref(d), batch, h, w, p(x), p(dy), p(dwt), p(db), p(ww), sw_)
        if st == 6:
            st = lib.nnla_conv2d_backward_weights(ctypes.byref(d), batch, h, w, p(x), p(dy), p(dwt), p(db), p(ww),
                                                  wsw.value)
        if st != 0:
            raise RuntimeError("nnla_conv2d_backward_weights: status %d" % st)
        close(dx, xt.grad.numpy(), 4 * (mg * kh * kw + 2) * EPS * xa.grad.numpy(), "conv %d dx" % trial)
        close(dwt, wtt.grad.numpy(), 4 * (batch * oh * ow + 2) * EPS * wa.grad.numpy(), "conv %d dw" % trial)
        close(db, bt.grad.numpy(), 4 * (batch * oh * ow + 2) * EPS * np.abs(dy).sum(axis=(0, 2, 3)),
              "conv %d db" % trial)
        cases += 1
    if cases < 80:
        FAILURES.append("conv: only %d valid configurations" % cases)
    return cases


# ------------------------------------------------------------------ pool

def torch_pool(x, kind, k, s, pads, ceil, cip, oh, ow):
    """PyTorch's pooling of x (a tensor) with nnla's semantics: PyTorch's own padding when it allows it
    (symmetric, at most half the kernel), else explicit padding (-inf or 0) through F.pad; ceil-mode
    windows that would start in the trailing padding are then dropped (the first oh x ow outputs).
    Returns (y, argmax as indices into x's planes or None)."""
    pt, pb, pl, pr = pads
    native = pt == pb and pl == pr and 2 * pt <= k[0] and 2 * pl <= k[1]
    if native:
        if kind == POOL_MAX:
            y, idx = F.max_pool2d(x, k, s, (pt, pl), ceil_mode=ceil, return_indices=True)
            return y, idx
        return F.avg_pool2d(x, k, s, (pt, pl), ceil_mode=ceil, count_include_pad=cip), None
    if kind == POOL_MAX:
        xp = F.pad(x, (pl, pr, pt, pb), value=-float("inf"))
        y, idx = F.max_pool2d(xp, k, s, 0, ceil_mode=ceil, return_indices=True)
        y, idx = y[:, :, :oh, :ow], idx[:, :, :oh, :ow]
        wp = x.shape[3] + pl + pr
        iy, ix = idx // wp - pt, idx % wp - pl
        return y, iy * x.shape[3] + ix
    xp = F.pad(x, (pl, pr, pt, pb))
    if cip:
        y = F.avg_pool2d(xp, k, s, 0, ceil_mode=ceil)
    else:  # the sum of the window over the number of its input entries
        ones = F.pad(torch.ones_like(x), (pl, pr, pt, pb))
        y = (F.avg_pool2d(xp, k, s, 0, ceil_mode=ceil, divisor_override=1)
             / F.avg_pool2d(ones, k, s, 0, ceil_mode=ceil, divisor_override=1))
    return y[:, :, :oh, :ow], None


def check_pool(lib, rng):
    cases = native = 0
    for trial in range(300):
        kind = POOL_MAX if trial % 2 else POOL_AVG
        kh, kw = int(rng.integers(1, 5)), int(rng.integers(1, 5))
        sh, sw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        if trial % 3 == 0:  # PyTorch's own padding: symmetric, at most half the kernel
            ph, pw = int(rng.integers(0, kh // 2 + 1)), int(rng.integers(0, kw // 2 + 1))
            pads = (ph, ph, pw, pw)
        else:  # anything below the kernel
            pads = (int(rng.integers(0, kh)), int(rng.integers(0, kh)), int(rng.integers(0, kw)),
                    int(rng.integers(0, kw)))
        ceil, cip = int(rng.integers(0, 2)), int(rng.integers(0, 2))
        batch, ch = int(rng.integers(1, 3)), int(rng.integers(1, 4))
        h, w = int(rng.integers(1, 12)), int(rng.integers(1, 12))
        d = PoolDesc(kind, kh, kw, sh, sw, pads[0], pads[1], pads[2], pads[3], ceil, cip)
        oh, ow = c_size(), c_size()
        if lib.nnla_pool2d_output_size(ctypes.byref(d), h, w, ctypes.byref(oh), ctypes.byref(ow)) != 0:
            continue
        oh, ow = oh.value, ow.value
        x = rng.uniform(-1, 1, (batch, ch, h, w))  # continuous: no ties
        dy = rng.uniform(-1, 1, (batch, ch, oh, ow))
        xt = t(x, True)
        yt, idx = torch_pool(xt, kind, (kh, kw), (sh, sw), pads, bool(ceil), bool(cip), oh, ow)
        if tuple(yt.shape) != (batch, ch, oh, ow):
            FAILURES.append("pool %d: torch gives %s, nnla %s" % (trial, tuple(yt.shape), (batch, ch, oh, ow)))
            continue
        yt.backward(t(dy))
        y = np.empty((batch, ch, oh, ow))
        am = np.empty((batch, ch, oh, ow), dtype=np.uint32)
        if kind == POOL_MAX:
            call(lib.nnla_pool2d_forward_argmax, ctypes.byref(d), batch, ch, h, w, p(x), p(y), p(am))
            close(y, yt.detach().numpy(), 0.0, "pool %d max forward" % trial)
            if not np.array_equal(am, idx.numpy()):
                FAILURES.append("pool %d: argmax differs from torch's indices" % trial)
        else:
            call(lib.nnla_pool2d_forward, ctypes.byref(d), batch, ch, h, w, p(x), p(y))
            close(y, yt.detach().numpy(), 4 * (kh * kw + 1) * EPS, "pool %d avg forward" % trial)
        dx = np.full(x.shape, np.nan)
        call(lib.nnla_pool2d_backward, ctypes.byref(d), batch, ch, h, w, p(dy), p(am) if kind == POOL_MAX else None,
             p(dx))
        close(dx, xt.grad.numpy(), 4 * (kh * kw + 1) * EPS, "pool %d backward" % trial)
        cases += 1
        native += pads[0] == pads[1] and pads[2] == pads[3] and 2 * pads[0] <= kh and 2 * pads[2] <= kw
    # global average pooling
    for trial in range(10):
        batch, ch, h, w = (int(v) for v in rng.integers(1, 6, size=4))
        x, dy = rng.uniform(-1, 1, (batch, ch, h, w)), rng.uniform(-1, 1, (batch, ch))
        xt = t(x, True)
        yt = F.adaptive_avg_pool2d(xt, 1).reshape(batch, ch)
        yt.backward(t(dy))
        y, dx = np.empty((batch, ch)), np.empty(x.shape)
        call(lib.nnla_global_avgpool2d, batch, ch, h, w, p(x), p(y))
        call(lib.nnla_global_avgpool2d_backward, batch, ch, h, w, p(dy), p(dx))
        close(y, yt.detach().numpy(), 4 * h * w * EPS, "global avgpool %d" % trial)
        close(dx, xt.grad.numpy(), 4 * EPS, "global avgpool backward %d" % trial)
    if cases < 200 or native < 40:
        FAILURES.append("pool: only %d valid configurations (%d with PyTorch's own padding)" % (cases, native))
    return cases


# ------------------------------------------------------------------ norm

def check_norm(lib, rng):
    for trial in range(80):
        batch, ch = int(rng.integers(1, 6)), int(rng.integers(1, 6))
        plane_shape = [(), (int(rng.integers(1, 9)),), (int(rng.integers(1, 6)), int(rng.integers(1, 6)))][trial % 3]
        plane = int(np.prod(plane_shape)) if plane_shape else 1
        if batch * plane < 2:
            batch = 2
        affine = trial % 2 == 0
        eps = 1e-5 if trial % 4 < 2 else float(rng.uniform(1e-6, 0.5))
        momentum = 0.1 if trial % 5 else float(rng.uniform(0, 1))
        shape = (batch, ch) + plane_shape
        x = rng.uniform(-1, 1, shape) * rng.uniform(0.1, 4, (1, ch) + (1,) * len(plane_shape)) \
            + rng.uniform(-3, 3, (1, ch) + (1,) * len(plane_shape))
        dy = rng.uniform(-1, 1, shape)
        g, b = rng.uniform(-2, 2, ch), rng.uniform(-1, 1, ch)
        rm, rv = rng.uniform(-1, 1, ch), rng.uniform(0.1, 2, ch)
        # torch, training mode: batch statistics, running statistics updated in place, autograd
        xt, gt, bt = t(x, True), t(g, True), t(b, True)
        rmt, rvt = t(rm), t(rv)
        yt = F.batch_norm(xt, rmt, rvt, gt if affine else None, bt if affine else None, True, momentum, eps)
        yt.backward(t(dy))
        y = np.empty(shape)
        rm2, rv2, sm, si = rm.copy(), rv.copy(), np.empty(ch), np.empty(ch)
        call(lib.nnla_batchnorm_forward_train, batch, ch, plane, p(x), p(g) if affine else None,
             p(b) if affine else None, eps, momentum, p(rm2), p(rv2), p(y), p(sm), p(si))
        n = batch * plane
        scale = np.abs(x).max() + 1
        tol = 16 * n * EPS * scale * (np.abs(g).max() + 1) / np.sqrt(eps + 1e-3)
        close(y, yt.detach().numpy(), 1e-12 * (1 + np.abs(yt.detach().numpy())), "norm %d train y" % trial)
        close(rm2, rmt.numpy(), 4 * n * EPS * scale, "norm %d running mean" % trial)
        close(rv2, rvt.numpy(), 8 * n * EPS * scale * scale, "norm %d running var" % trial)
        dx = np.full(shape, np.nan)
        dg, db = np.empty(ch), np.empty(ch)
        call(lib.nnla_batchnorm_backward, batch, ch, plane, p(x), p(dy), p(g) if affine else None, p(sm), p(si),
             p(dx), p(dg), p(db))
        close(dx, xt.grad.numpy(), tol + 1e-11 * np.abs(xt.grad.numpy()), "norm %d dx" % trial)
        if affine:
            close(dg, gt.grad.numpy(), 8 * n * EPS * n, "norm %d dgamma" % trial)
            close(db, bt.grad.numpy(), 4 * n * EPS * n, "norm %d dbeta" % trial)
        # inference with the running statistics
        yi = F.batch_norm(t(x), t(rm), t(rv), t(g) if affine else None, t(b) if affine else None, False, momentum,
                          eps)
        y2 = np.empty(shape)
        call(lib.nnla_batchnorm_forward, batch, ch, plane, p(x), p(rm), p(rv), p(g) if affine else None,
             p(b) if affine else None, eps, p(y2))
        close(y2, yi.numpy(), 8 * EPS * (1 + np.abs(yi.numpy())) * scale, "norm %d inference" % trial)
    return 80


def main():
    if len(sys.argv) != 3 or sys.argv[2] not in ("conv", "pool", "norm"):
        print(__doc__)
        return 2
    lib = load(sys.argv[1])
    rng = np.random.default_rng({"conv": 1, "pool": 2, "norm": 3}[sys.argv[2]])
    cases = {"conv": check_conv, "pool": check_pool, "norm": check_norm}[sys.argv[2]](lib, rng)
    if FAILURES:
        for f in FAILURES[:20]:
            print("FAIL", f)
        print("%d failure(s) in torch_%s (torch %s)" % (len(FAILURES), sys.argv[2], torch.__version__))
        return 1
    print("torch_%s: %d configurations agree with torch %s float64" % (sys.argv[2], cases, torch.__version__))
    return 0


if __name__ == "__main__":
    sys.exit(main())
