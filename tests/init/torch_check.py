#!/usr/bin/python3
"""usage: torch_check.py INIT_QUERY

Compares libnnla's initializers with PyTorch's torch.nn.init: the fans of
_calculate_fan_in_and_fan_out, the gains of calculate_gain, the scale (bound or standard
deviation) that each of PyTorch's initializers uses (recomputed from torch's own fan and gain
functions, and checked against samples torch draws), and the orthogonality of orthogonal weights
of the same shapes. INIT_QUERY is tests/init/init_query (built by tests/init.cmake).
"""
import math
import subprocess
import sys

import numpy as np
import torch

FAILURES = []


def check(cond, msg):
    if not cond:
        FAILURES.append(msg)
        print("FAIL:", msg)


def ask(lines):
    out = subprocess.run([sys.argv[1]], input="\n".join(lines) + "\n", capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert len(out) == len(lines), out
    return out


SHAPES = [(10, 3), (16, 8, 3, 5), (4, 2, 7), (2, 3, 1, 1, 4), (64, 3, 7, 7), (1, 1), (300, 200)]


def test_fans():
    answers = ask(["fans " + " ".join(map(str, s)) for s in SHAPES])
    for shape, ans in zip(SHAPES, answers):
        want = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
        check(tuple(map(int, ans.split())) == tuple(want), "fans %s: nnla %s, torch %s" % (shape, ans, want))


def test_gains():
    cases = [("identity", ("linear", None)), ("sigmoid", ("sigmoid", None)), ("sigmoid:3", ("sigmoid", None)),
             ("tanh", ("tanh", None)), ("relu", ("relu", None)), ("leaky_relu", ("leaky_relu", None)),
             ("leaky_relu:0.2", ("leaky_relu", 0.2)), ("leaky_relu:-0.5", ("leaky_relu", -0.5))]
    answers = ask(["gain " + c[0] for c in cases])
    for (name, (tname, param)), ans in zip(cases, answers):
        want = torch.nn.init.calculate_gain(tname, param)
        check(abs(float(ans) - want) <= 4e-16 * want, "gain %s: nnla %s, torch %r" % (name, ans, want))
    # kinds PyTorch gives no gain for: nnla says unsupported, torch raises
    for name, tname in [("elu", "elu"), ("gelu", "gelu"), ("softmax", "softmax")]:
        check(ask(["gain " + name]) == ["unsupported"], "gain %s should be unsupported" % name)
        try:
            torch.nn.init.calculate_gain(tname)
            check(False, "torch gave a gain for %s" % tname)
        except ValueError:
            pass


def torch_scale(kind, mode, gain, shape):
    """The scale torch.nn.init's code computes (bound for uniform, std for normal), from torch's
    own fan functions."""
    t = torch.empty(shape)
    fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(t)
    if kind.startswith("xavier"):
        std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
        return math.sqrt(3.0) * std if kind.endswith("uniform") else std
    if kind.startswith("he"):
        fan = torch.nn.init._calculate_correct_fan(t, mode)
    else:  # lecun: kaiming with nonlinearity 'linear' (gain 1 there; here times gain), fan_in
        fan = torch.nn.init._calculate_correct_fan(t, "fan_in")
    std = gain / math.sqrt(fan)
    return math.sqrt(3.0) * std if kind.endswith("uniform") else std


def torch_sample(kind, mode, gain, shape):
    """Weights drawn by torch's own initializer of that law."""
    t = torch.empty(shape, dtype=torch.float64)
    torch.manual_seed(0)
    if kind == "xavier_uniform":
        torch.nn.init.xavier_uniform_(t, gain=gain)
    elif kind == "xavier_normal":
        torch.nn.init.xavier_normal_(t, gain=gain)
    elif kind.startswith("he") or kind.startswith("lecun"):
        # kaiming_* with the 'leaky_relu' nonlinearity and a = sqrt(2 / gain^2 - 1) has exactly that gain
        a = math.sqrt(max(2.0 / (gain * gain) - 1.0, 0.0))
        m = mode if kind.startswith("he") else "fan_in"
        fn = torch.nn.init.kaiming_uniform_ if kind.endswith("uniform") else torch.nn.init.kaiming_normal_
        fn(t, a=a, mode=m, nonlinearity="leaky_relu")
    return t.numpy()


def test_scales():
    kinds = ["xavier_uniform", "xavier_normal", "he_uniform", "he_normal", "lecun_uniform", "lecun_normal"]
    for shape in [(300, 200), (64, 32, 3, 3), (10, 3)]:
        for kind in kinds:
            for mode in ["fan_in", "fan_out"]:
                for gain in [1.0, math.sqrt(2.0), 5.0 / 3.0]:
                    ans = float(ask(["scale %s %s %.17g %s" % (kind, mode, gain, " ".join(map(str, shape)))])[0])
                    want = torch_scale(kind, mode, gain, shape)
                    check(abs(ans - want) <= 4e-16 * want, "scale %s %s %g %s: nnla %r, torch %r" %
                          (kind, mode, gain, shape, ans, want))
    # torch's draws follow that scale: uniform ones reach the bound, normal ones have that std
    shape = (300, 200)
    for kind in kinds:
        for mode in ["fan_in", "fan_out"]:
            gain = math.sqrt(2.0)
            scale = float(ask(["scale %s %s %.17g 300 200" % (kind, mode, gain)])[0])
            x = torch_sample(kind, mode, gain, shape)
            ours = np.array(ask(["fill %s %s %.17g 5 300 200" % (kind, mode, gain)])[0].split(), dtype=float)
            if kind.endswith("uniform"):
                for name, s in (("torch", x), ("nnla", ours)):
                    m = np.abs(s).max()
                    check(m <= scale and m >= 0.999 * scale, "%s %s %s: max |w| %r vs bound %r" %
                          (name, kind, mode, m, scale))
            else:
                for name, s in (("torch", x), ("nnla", ours)):
                    sd = s.std()
                    check(abs(sd / scale - 1) < 0.015, "%s %s %s: std %r vs %r" % (name, kind, mode, sd, scale))


def test_orthogonal():
    for shape in [(5, 8), (8, 5), (6, 6), (4, 2, 3, 3), (16, 3, 3, 3)]:
        gain = 1.5
        w = np.array(ask(["fill orthogonal fan_in %r 3 %s" % (gain, " ".join(map(str, shape)))])[0].split(),
                     dtype=float).reshape(shape[0], -1)
        t = torch.empty(shape, dtype=torch.float64)
        torch.nn.init.orthogonal_(t, gain=gain)
        tw = t.numpy().reshape(shape[0], -1)
        for name, m in (("nnla", w), ("torch", tw)):
            rows, cols = m.shape
            g = m @ m.T if rows <= cols else m.T @ m
            err = np.abs(g - gain * gain * np.eye(g.shape[0])).max()
            check(err <= 64 * max(rows, cols) * np.finfo(float).eps * gain * gain,
                  "%s orthogonal %s: defect %g" % (name, shape, err))


def main():
    test_fans()
    test_gains()
    test_scales()
    test_orthogonal()
    if FAILURES:
        print("%d failure(s)" % len(FAILURES))
        return 1
    print("init: fans, gains, scales and orthogonal weights agree with torch %s" % torch.__version__)
    return 0


if __name__ == "__main__":
    sys.exit(main())
