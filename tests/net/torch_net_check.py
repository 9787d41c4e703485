#!/usr/bin/env python3
"""Networks against PyTorch float64: every layer kind, on fixed and random configurations.

usage: torch_net_check.py NET_RECIPE WORKDIR

For each case this script writes a recipe (tests/net/net_recipe.c reads it), the weights and an
input as .npy files, computes the output with torch.nn.functional in float64 by walking the same
recipe, and runs net_recipe, which builds the nnla_net through the public API and compares. The
cases cover dense, conv2d (stride, dilation, groups, depthwise, asymmetric padding), max and
average pooling (asymmetric padding, ceil_mode, count_include_pad), global average pooling,
flatten, every activation (softmax and log-softmax over dim=1 of NCHW tensors), BatchNorm 1-d and
2-d in inference form, dropout (the identity in eval mode) and residual adds (ResNet blocks with
projection and identity shortcuts). Tolerance: 1e-12 relative + 1e-12 absolute on outputs of
order 1, i.e. a few thousand eps over chains of up to ~15 layers of dot products of length <= 600.
"""
import os
import subprocess
import sys

import numpy as np

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # registered only when torch imports; keep a clear message anyway
    print("torch not available")
    sys.exit(77)

torch.set_default_dtype(torch.float64)
RTOL, ATOL = 1e-12, 1e-12
GRAD_RTOL = 1e-10  # gradients: relative, with a floor at 1e-3 of the largest entry (see compare())


class Case:
    def __init__(self, name, shape, batch):
        self.name, self.shape, self.batch = name, shape, batch
        self.lines = ["input %d %d %d" % shape]
        self.layers = []  # (kind, params) for the torch walk
        self.arrays = {}
        self.outs = []  # per-layer output shapes (C, H, W)

    def arr(self, key, a):
        name = "%s%d.npy" % (key, len(self.arrays))
        self.arrays[name] = np.ascontiguousarray(a, dtype=np.float64)
        return name

    def add(self, layer_kind, line, **p):
        self.lines.append(layer_kind + " " + line)
        self.layers.append((layer_kind, p))


def act_torch(name, x):
    if name is None or name == "identity":
        return x
    kind, _, par = name.partition(":")
    p = float(par) if par else None
    if kind == "relu":
        return F.relu(x)
    if kind == "sigmoid":
        return torch.sigmoid((1.0 if p is None else p) * x)
    if kind == "tanh":
        return torch.tanh(x)
    if kind == "leaky_relu":
        return F.leaky_relu(x, 0.01 if p is None else p)
    if kind == "elu":
        return F.elu(x, 1.0 if p is None else p)
    if kind == "gelu":
        return F.gelu(x)
    if kind == "silu":
        return F.silu(x)
    if kind == "softplus":  # torch's threshold switches to x above 20; the exact form instead
        b = 1.0 if p is None else p
        return torch.clamp(x, min=0) + torch.log1p(torch.exp(-torch.abs(b * x))) / b
    if kind == "softmax":
        return torch.softmax(x, 1)
    if kind == "log_softmax":
        return torch.log_softmax(x, 1)
    raise ValueError(name)


def run_torch(case, x, train=False):
    """The forward pass; train: BatchNorm on batch statistics, updating p["mean"]/p["var"] copies."""
    outs = []
    inp = x
    for kind, p in case.layers:
        src = p.get("src")
        cur = inp if (src == -1 or (src is None and not outs)) else (outs[src] if src is not None else outs[-1])
        if kind == "dense":
            y = act_torch(p.get("act"), F.linear(cur.flatten(1), p["w"], p.get("b")))
        elif kind == "conv2d":
            t, l, b, r = p["pad"]
            y = F.conv2d(F.pad(cur, (l, r, t, b)), p["w"], p.get("b"), stride=p["s"], dilation=p["d"], groups=p["g"])
            y = act_torch(p.get("act"), y)
        elif kind == "pool2d":
            t, l, b, r = p["pad"]
            k, s = p["k"], p["s"]
            sym = t == b and l == r and t <= k[0] // 2 and l <= k[1] // 2
            if p["ceil"]:
                assert sym
            if p["kind"] == "max":
                if sym:
                    y = F.max_pool2d(cur, k, s, padding=(t, l), ceil_mode=bool(p["ceil"]))
                else:
                    y = F.max_pool2d(F.pad(cur, (l, r, t, b), value=-float("inf")), k, s)
            else:
                if sym:
                    y = F.avg_pool2d(cur, k, s, padding=(t, l), ceil_mode=bool(p["ceil"]),
                                     count_include_pad=bool(p["cip"]))
                elif p["cip"]:
                    y = F.avg_pool2d(F.pad(cur, (l, r, t, b)), k, s)
                else:
                    ones = torch.ones_like(cur)
                    num = F.avg_pool2d(F.pad(cur, (l, r, t, b)), k, s, divisor_override=1)
                    den = F.avg_pool2d(F.pad(ones, (l, r, t, b)), k, s, divisor_override=1)
                    y = num / den
        elif kind == "global_avgpool":
            y = cur.mean(dim=(2, 3), keepdim=True)
        elif kind == "flatten":
            y = cur.flatten(1)[:, :, None, None]
        elif kind == "act":
            y = act_torch(p["act"], cur)
        elif kind == "batchnorm":
            if train:
                y = F.batch_norm(cur, p["rmean"], p["rvar"], p["gamma"], p["beta"], training=True, momentum=0.1,
                                 eps=p["eps"])
            else:
                y = F.batch_norm(cur, p["mean"], p["var"], p["gamma"], p["beta"], training=False, eps=p["eps"])
        elif kind == "dropout":
            y = F.dropout(cur, p["p"], training=False)
        elif kind == "add":
            a = inp if p["src"] == -1 else outs[p["src"]]
            b = inp if p["src2"] == -1 else outs[p["src2"]]
            y = a + b
        if y.dim() == 2:
            y = y[:, :, None, None]
        outs.append(y)
    return outs[-1]


def T(a):
    return torch.from_numpy(np.asarray(a, dtype=np.float64))


def params_in_block_order(case):
    """The trainable tensors in the order of libnnla's parameter block: layer by layer, weight then
    bias (BatchNorm: gamma, beta)."""
    ps = []
    for kind, p in case.layers:
        for key in (("w", "b") if kind in ("dense", "conv2d") else ("gamma", "beta") if kind == "batchnorm" else ()):
            if p.get(key) is not None:
                ps.append(p[key])
    return ps


def autograd(case, x, dy, train):
    """Gradients of <dy, f(x)> with respect to the parameters (block order) and x; and, in training
    form, the output and the running statistics after the step."""
    ps = params_in_block_order(case)
    for t in ps:
        t.requires_grad_(True)
        t.grad = None
    for kind, p in case.layers:
        if kind == "batchnorm":
            p["rmean"], p["rvar"] = p["mean"].clone(), p["var"].clone()
    xt = T(x).requires_grad_(True)
    y = run_torch(case, xt, train)
    (y.reshape(dy.shape) * T(dy)).sum().backward()
    g = np.concatenate([t.grad.numpy().ravel() for t in ps]) if ps else np.zeros(0)
    bufs = [np.concatenate([p["rmean"].numpy(), p["rvar"].numpy()]) for k, p in case.layers if k == "batchnorm"]
    for t in ps:
        t.requires_grad_(False)
    return y.detach().numpy(), g, xt.grad.numpy(), (np.concatenate(bufs) if bufs else np.zeros(0))


def compare(name, got, want, rtol):
    """|got - want| <= rtol (|want| + max|want| 1e-3): relative, with a floor at a thousandth of the
    largest entry for entries near 0."""
    got, want = np.asarray(got).ravel(), np.asarray(want).ravel()
    if got.shape != want.shape:
        return "%s: shape %s, want %s" % (name, got.shape, want.shape)
    scale = np.max(np.abs(want)) if want.size else 0.0
    err = np.abs(got - want)
    bad = err > rtol * (np.abs(want) + 1e-3 * scale)
    if np.any(bad) or not np.all(np.isfinite(got)):
        i = int(np.argmax(err))
        return "%s: worst entry %d: %.17g, want %.17g" % (name, i, got[i], want[i])
    return None


def dense(c, rng, inp, out, act=None, bias=True, src=None):
    w = rng.standard_normal((out, inp)) / np.sqrt(inp)
    b = rng.standard_normal(out) * 0.1 if bias else None
    line = "w=%s out=%d" % (c.arr("w", w), out)
    if bias:
        line += " b=%s" % c.arr("b", b)
    if act:
        line += " act=" + act
    if src is not None:
        line += " src=%d" % src
    c.add("dense", line, w=T(w), b=None if b is None else T(b), act=act, src=src)


def conv(c, rng, cin, cout, k, s=(1, 1), pad=(0, 0, 0, 0), d=(1, 1), g=1, act=None, bias=True, src=None):
    w = rng.standard_normal((cout, cin // g, k[0], k[1])) / np.sqrt(cin // g * k[0] * k[1])
    b = rng.standard_normal(cout) * 0.1 if bias else None
    line = "w=%s in=%d out=%d k=%d,%d s=%d,%d pad=%d,%d,%d,%d d=%d,%d g=%d" % (
        (c.arr("w", w), cin, cout) + tuple(k) + tuple(s) + tuple(pad) + tuple(d) + (g,))
    if bias:
        line += " b=%s" % c.arr("b", b)
    if act:
        line += " act=" + act
    if src is not None:
        line += " src=%d" % src
    c.add("conv2d", line, w=T(w), b=None if b is None else T(b), s=tuple(s), pad=tuple(pad), d=tuple(d), g=g,
          act=act, src=src)


def pool(c, kind, k, s, pad=(0, 0, 0, 0), ceil=0, cip=1):
    c.add("pool2d", "kind=%s k=%d,%d s=%d,%d pad=%d,%d,%d,%d ceil=%d cip=%d" % (
        (kind,) + tuple(k) + tuple(s) + tuple(pad) + (ceil, cip)), kind=kind, k=tuple(k), s=tuple(s), pad=tuple(pad),
        ceil=ceil, cip=cip)


def bn(c, rng, ch, src=None):
    g, b = rng.uniform(0.5, 1.5, ch), rng.uniform(-0.3, 0.3, ch)
    m, v = rng.uniform(-0.5, 0.5, ch), rng.uniform(0.3, 2.0, ch)
    line = "features=%d gamma=%s beta=%s mean=%s var=%s eps=1e-5" % (
        ch, c.arr("g", g), c.arr("be", b), c.arr("m", m), c.arr("v", v))
    c.add("batchnorm", line, gamma=T(g), beta=T(b), mean=T(m), var=T(v), eps=1e-5, src=src)


def simple(c, layer_kind, **p):
    line = " ".join("%s=%s" % (k, v) for k, v in p.items())
    c.add(layer_kind, line, **p)


def fixed_cases():
    rng = np.random.default_rng(1)
    cases = []
    # an MLP with every activation, BatchNorm1d, dropout
    c = Case("mlp", (20, 1, 1), 7)
    dense(c, rng, 20, 16, "relu")
    simple(c, "dropout", p=0.3)
    dense(c, rng, 16, 16, "gelu")
    bn(c, rng, 16)
    dense(c, rng, 16, 12, "elu:0.7")
    dense(c, rng, 12, 12, "silu", bias=False)
    dense(c, rng, 12, 12, "sigmoid:1.5")
    dense(c, rng, 12, 12, "softplus:2")
    dense(c, rng, 12, 12, "tanh")
    dense(c, rng, 12, 12, "leaky_relu:0.2")
    dense(c, rng, 12, 7, "log_softmax")
    cases.append(c)
    # a CNN: asymmetric padding, strides, dilation, groups, pooling options, softmax over channels
    c = Case("cnn", (3, 13, 11), 5)
    conv(c, rng, 3, 6, (3, 2), s=(1, 2), pad=(1, 0, 2, 1), act="leaky_relu:0.1")
    pool(c, "max", (3, 3), (2, 2), pad=(1, 1, 1, 1), ceil=1)
    bn(c, rng, 6)
    simple(c, "act", act="relu")
    conv(c, rng, 6, 6, (3, 3), pad=(2, 2, 2, 2), d=(2, 2), g=3, act="tanh")
    pool(c, "avg", (2, 2), (2, 2), pad=(1, 1, 1, 1), ceil=1, cip=0)
    conv(c, rng, 6, 6, (1, 1), g=6)  # depthwise 1x1
    pool(c, "avg", (2, 3), (1, 1), pad=(0, 1, 1, 0), cip=0)
    pool(c, "max", (2, 2), (1, 2), pad=(1, 0, 0, 1))
    simple(c, "act", act="softmax")
    conv(c, rng, 6, 4, (2, 1), act="log_softmax")
    simple(c, "flatten")
    cases.append(c)
    # ResNet: projection and identity shortcuts, BatchNorm2d, global average pooling
    c = Case("resnet", (4, 8, 8), 6)
    conv(c, rng, 4, 8, (3, 3), pad=(1, 1, 1, 1), bias=False)  # 0
    bn(c, rng, 8)  # 1
    simple(c, "act", act="relu")  # 2
    conv(c, rng, 8, 8, (3, 3), pad=(1, 1, 1, 1), bias=False)  # 3
    bn(c, rng, 8)  # 4
    conv(c, rng, 4, 8, (1, 1), bias=False, src=-1)  # 5: shortcut from the input
    bn(c, rng, 8)  # 6
    simple(c, "add", src=4, src2=6)  # 7
    simple(c, "act", act="relu")  # 8
    conv(c, rng, 8, 8, (3, 3), pad=(1, 1, 1, 1), bias=False)  # 9
    bn(c, rng, 8)  # 10
    simple(c, "act", act="relu")  # 11
    conv(c, rng, 8, 8, (3, 3), pad=(1, 1, 1, 1), bias=False)  # 12
    bn(c, rng, 8)  # 13
    simple(c, "add", src=13, src2=8)  # 14: identity shortcut
    simple(c, "act", act="relu")  # 15
    simple(c, "global_avgpool")
    simple(c, "flatten")
    dense(c, rng, 8, 3, "softmax")
    cases.append(c)
    return cases


def random_case(seed):
    rng = np.random.default_rng(100 + seed)
    acts = ["relu", "tanh", "gelu", "silu", "leaky_relu:0.05", "elu", "sigmoid", None]
    ch, h, w = int(rng.integers(1, 5)), int(rng.integers(6, 14)), int(rng.integers(6, 14))
    c = Case("random%02d" % seed, (ch, h, w), int(rng.integers(1, 6)))
    for _ in range(int(rng.integers(1, 4))):
        g = int(rng.choice([1, 1, 2])) if ch % 2 == 0 else 1
        cout = int(rng.integers(1, 4)) * g
        k = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        d = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        pad = tuple(int(v) for v in rng.integers(0, 3, 4))
        s = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        eh, ew = d[0] * (k[0] - 1) + 1, d[1] * (k[1] - 1) + 1
        if eh > h + pad[0] + pad[2] or ew > w + pad[1] + pad[3]:
            continue
        conv(c, rng, ch, cout, k, s=s, pad=pad, d=d, g=g, act=acts[int(rng.integers(len(acts)))])
        ch, h, w = cout, (h + pad[0] + pad[2] - eh) // s[0] + 1, (w + pad[1] + pad[3] - ew) // s[1] + 1
        if rng.random() < 0.5:
            bn(c, rng, ch)
        if h >= 2 and w >= 2 and rng.random() < 0.7:
            kk = (int(rng.integers(1, min(h, 3) + 1)), int(rng.integers(1, min(w, 3) + 1)))
            ss = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
            kind = "max" if rng.random() < 0.5 else "avg"
            if rng.random() < 0.5:  # PyTorch's symmetric padding, ceil_mode
                pp = (int(rng.integers(0, kk[0] // 2 + 1)), int(rng.integers(0, kk[1] // 2 + 1)))
                pad4, ceil = (pp[0], pp[1], pp[0], pp[1]), int(rng.integers(0, 2))
            else:  # asymmetric, each pad < kernel
                pad4, ceil = (int(rng.integers(0, kk[0])), int(rng.integers(0, kk[1])),
                              int(rng.integers(0, kk[0])), int(rng.integers(0, kk[1]))), 0
            cip = int(rng.integers(0, 2))
            pool(c, kind, kk, ss, pad=pad4, ceil=ceil, cip=cip)
            t = F.max_pool2d(torch.zeros(1, 1, h + pad4[0] + pad4[2], w + pad4[1] + pad4[3]), kk, ss,
                             ceil_mode=bool(ceil)) if not ceil else F.max_pool2d(
                torch.zeros(1, 1, h, w), kk, ss, padding=(pad4[0], pad4[1]), ceil_mode=True)
            h, w = t.shape[2], t.shape[3]
    if rng.random() < 0.5:
        simple(c, "act", act="softmax" if rng.random() < 0.5 else "log_softmax")
    simple(c, "flatten")
    dense(c, rng, ch * h * w, 4, "softmax" if rng.random() < 0.5 else None)
    return c


OPTIMIZERS = [
    ("sgd lr=0.05 momentum=0.9 dampening=0.1 nesterov=0 wd=0.01",
     lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    ("sgd lr=0.05 momentum=0.9 nesterov=1",
     lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True)),
    ("adam lr=0.01 wd=0.001", lambda ps: torch.optim.Adam(ps, lr=0.01, weight_decay=0.001)),
    ("adamw lr=0.01 beta1=0.8 beta2=0.99 eps=1e-7 wd=0.05",
     lambda ps: torch.optim.AdamW(ps, lr=0.01, betas=(0.8, 0.99), eps=1e-7, weight_decay=0.05)),
]
STEPS = 10


def trajectory(exe, case, d, k, opt_line, make_opt):
    """Ten cross-entropy steps of the trainer against torch.optim from the same start."""
    import copy
    c = copy.copy(case)
    c.layers = [(kind, {key: (v.clone() if torch.is_tensor(v) else v) for key, v in p.items()})
                for kind, p in case.layers]
    for kind, p in c.layers:
        if kind == "batchnorm":
            p["rmean"], p["rvar"] = p["mean"].clone(), p["var"].clone()
    rng = np.random.default_rng(1000 + k)
    nout = int(np.prod(run_torch(c, T(np.zeros((1,) + c.shape))).shape[1:]))
    xs = rng.standard_normal((STEPS * c.batch,) + c.shape)
    labels = rng.integers(0, nout, STEPS * c.batch)
    sub = os.path.join(d, "steps%d" % k)
    os.makedirs(sub, exist_ok=True)
    for name in os.listdir(d):
        if name.endswith(".npy") and not name.startswith(("x", "y", "dy", "grad", "dx", "buffers")):
            os.link(os.path.join(d, name), os.path.join(sub, name)) if not os.path.exists(
                os.path.join(sub, name)) else None
    with open(os.path.join(sub, "recipe.txt"), "w") as f:
        f.write("\n".join(c.lines) + "\n")
    with open(os.path.join(sub, "train.txt"), "w") as f:
        f.write("optim %s\nsteps %d\n" % (opt_line, STEPS))
    np.save(os.path.join(sub, "xs.npy"), xs)
    np.save(os.path.join(sub, "labels.npy"), labels.astype(np.float64))
    r = subprocess.run([exe, sub, "steps"], capture_output=True, text=True)
    if r.returncode != 0:
        return [r.stderr.strip()]
    ps = params_in_block_order(c)
    for t in ps:
        t.requires_grad_(True)
    opt = make_opt(ps)
    for s in range(STEPS):
        xb = T(xs[s * c.batch:(s + 1) * c.batch])
        yb = torch.from_numpy(labels[s * c.batch:(s + 1) * c.batch])
        logits = run_torch(c, xb, True).reshape(c.batch, -1)
        loss = F.cross_entropy(logits, yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
    want = np.concatenate([t.detach().numpy().ravel() for t in ps])
    bufs = [np.concatenate([p["rmean"].numpy(), p["rvar"].numpy()]) for kd, p in c.layers if kd == "batchnorm"]
    problems = []
    for name, got, w in (("params after %d steps of %s" % (STEPS, opt_line.split()[0]),
                          np.load(os.path.join(sub, "params_steps.npy")), want),
                         ("running statistics after the steps", np.load(os.path.join(sub, "buffers_steps.npy")),
                          np.concatenate(bufs) if bufs else np.zeros(0))):
        msg = compare(name, got, w, 1e-9)
        if msg:
            problems.append(msg)
    return problems


def main():
    exe, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    cases = fixed_cases() + [random_case(s) for s in range(40)]
    failed = 0
    for c in cases:
        d = os.path.join(work, c.name)
        os.makedirs(d, exist_ok=True)
        x = np.random.default_rng(len(c.name)).standard_normal((c.batch,) + c.shape)
        y = run_torch(c, T(x)).numpy()
        for name, a in c.arrays.items():
            np.save(os.path.join(d, name), a)
        np.save(os.path.join(d, "x.npy"), x)
        np.save(os.path.join(d, "y.npy"), y.reshape(c.batch, -1))
        dy = np.random.default_rng(7 + len(c.name)).standard_normal((c.batch, y.reshape(c.batch, -1).shape[1]))
        np.save(os.path.join(d, "dy.npy"), dy)
        with open(os.path.join(d, "recipe.txt"), "w") as f:
            f.write("\n".join(c.lines + ["check rtol=%g atol=%g" % (RTOL, ATOL)]) + "\n")
        # the training form needs every BatchNorm channel to see >= 2 values, and dropout off
        train = all(k != "dropout" or p["p"] == 0 for k, p in c.layers)
        r = subprocess.run([exe, d] + (["train"] if train else []), capture_output=True, text=True)
        sys.stdout.write(r.stdout)
        problems = [] if r.returncode == 0 else [r.stderr.strip()]
        if r.returncode == 0:
            for mode in ([False, True] if train else [False]):
                sfx = "_train" if mode else ""
                yt, g, gx, bufs = autograd(c, x, dy, mode)
                checks = [("grad" + sfx, np.load(os.path.join(d, "grad%s.npy" % sfx)), g),
                          ("dx" + sfx, np.load(os.path.join(d, "dx%s.npy" % sfx)), gx)]
                if mode:
                    checks += [("y_train", np.load(os.path.join(d, "y_train.npy")), yt),
                               ("running statistics", np.load(os.path.join(d, "buffers_train.npy")), bufs)]
                for name, got, want in checks:
                    msg = compare(name, got, want, GRAD_RTOL)
                    if msg:
                        problems.append(msg)
            print("%s: gradients %s" % (d, "checked against autograd (inference%s)" % (" and training" if train else "")
                                        if not problems else "FAILED"))
            if train and c.name in ("cnn", "resnet", "random00", "random03", "random07"):
                for k, (line, make) in enumerate(OPTIMIZERS):
                    problems += trajectory(exe, c, d, k, line, make)
                print("%s: %d steps of %d optimizers %s" % (d, STEPS, len(OPTIMIZERS),
                                                            "equal torch.optim's" if not problems else "FAILED"))
        if problems:
            failed += 1
            sys.stdout.write("\n".join(problems) + "\n")
    print("%d passed, %d failed" % (len(cases) - failed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
