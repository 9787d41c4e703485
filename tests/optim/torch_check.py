#!/usr/bin/python3
"""usage: torch_check.py path/to/libnnla.so

libnnla's losses, optimizers, gradient clipping and learning-rate schedules against PyTorch
(Debian's python3-torch, float64), calling libnnla through ctypes on NumPy buffers:

- optimizers: ten steps of SGD (momentum, Nesterov, dampening, weight decay), Adam (with and
  without L2 weight decay) and AdamW from the same start, each step's gradient that of a fixed
  quadratic, g = A p - b, recomputed by the same NumPy code from each side's own parameters;
  the parameters must agree within 1e-12 relative, and bit for bit where PyTorch runs its AVX2 or
  AVX-512 kernels (which fuse multiply-adds as libnnla does);
- a learning rate changed at every step (libnnla's cosine schedule fed to both);
- clip_grad_norm_ (norm and clipped gradient);
- schedules: StepLR, CosineAnnealingLR, LinearLR, SequentialLR(LinearLR, CosineAnnealingLR),
  against the schedulers' own step() values (1e-12 relative) and their closed forms (exact);
- losses: F.cross_entropy (class indices and probabilities, label smoothing), F.mse_loss,
  F.binary_cross_entropy_with_logits, values and autograd gradients within 1e-12 relative, on
  padded rows (ld > cols) and on +-1000 logits; the argmax count against torch.argmax.
Exits 77 (ctest: skipped) when torch cannot be imported.
"""
import ctypes
import sys
import warnings

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError as e:  # pragma: no cover
    print(f"SKIP: {e} (install python3-numpy and python3-torch)")
    sys.exit(77)

torch.set_default_dtype(torch.float64)
# SequentialLR steps its second scheduler with an epoch argument, which warns; nothing to see.
warnings.filterwarnings("ignore", category=UserWarning, module="torch.optim.lr_scheduler")
torch.set_num_threads(1)

FAILURES = []


def check(cond, what):
    if not cond:
        FAILURES.append(what)
        print("FAIL:", what, flush=True)


# ----------------------------------------------------------------------------- ctypes bindings
class SgdConfig(ctypes.Structure):
    _fields_ = [("momentum", ctypes.c_double), ("dampening", ctypes.c_double),
                ("weight_decay", ctypes.c_double), ("nesterov", ctypes.c_int)]


class AdamConfig(ctypes.Structure):
    _fields_ = [("beta1", ctypes.c_double), ("beta2", ctypes.c_double), ("eps", ctypes.c_double),
                ("weight_decay", ctypes.c_double)]


class OptimConfig(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_int), ("sgd", SgdConfig), ("adam", AdamConfig)]


class LrSchedule(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_int), ("lr", ctypes.c_double), ("step_size", ctypes.c_size_t),
                ("gamma", ctypes.c_double), ("t_max", ctypes.c_size_t), ("eta_min", ctypes.c_double),
                ("warmup", ctypes.c_size_t), ("start_factor", ctypes.c_double)]


class CMat(ctypes.Structure):
    _fields_ = [("rows", ctypes.c_size_t), ("cols", ctypes.c_size_t), ("ld", ctypes.c_size_t),
                ("data", ctypes.c_void_p)]


def view(a):
    assert a.dtype == np.float64 and a.ndim == 2 and a.strides[1] == 8
    return CMat(a.shape[0], a.shape[1], a.strides[0] // 8, a.ctypes.data)


NOGRAD = CMat(0, 0, 0, None)


def bind(lib):
    P, D, Z = ctypes.c_void_p, ctypes.c_double, ctypes.c_size_t
    for name in ("nnla_optim_sgd_default", "nnla_optim_adam_default", "nnla_optim_adamw_default"):
        getattr(lib, name).restype = OptimConfig
        getattr(lib, name).argtypes = []
    lib.nnla_optim_state_size.argtypes = [ctypes.POINTER(OptimConfig), Z, ctypes.POINTER(Z)]
    lib.nnla_optim_state_init.argtypes = [ctypes.POINTER(OptimConfig), Z, P, Z]
    lib.nnla_optim_step.argtypes = [ctypes.POINTER(OptimConfig), D, P, P, Z, P]
    lib.nnla_clip_grad_norm.argtypes = [P, Z, D, ctypes.POINTER(D)]
    lib.nnla_lr_constant.restype = LrSchedule
    lib.nnla_lr_constant.argtypes = [D]
    lib.nnla_lr_step_decay.restype = LrSchedule
    lib.nnla_lr_step_decay.argtypes = [D, Z, D]
    lib.nnla_lr_cosine.restype = LrSchedule
    lib.nnla_lr_cosine.argtypes = [D, Z, D]
    lib.nnla_lr_warmup.restype = LrSchedule
    lib.nnla_lr_warmup.argtypes = [D, D, Z, Z, D]
    lib.nnla_lr_at.argtypes = [ctypes.POINTER(LrSchedule), Z, ctypes.POINTER(D)]
    lib.nnla_loss_mse.argtypes = [CMat, CMat, ctypes.POINTER(D), CMat]
    lib.nnla_loss_bce_logits.argtypes = [CMat, CMat, ctypes.POINTER(D), CMat]
    lib.nnla_loss_cross_entropy.argtypes = [CMat, P, D, ctypes.POINTER(D), CMat, ctypes.POINTER(Z)]
    lib.nnla_loss_cross_entropy_prob.argtypes = [CMat, CMat, D, ctypes.POINTER(D), CMat, ctypes.POINTER(Z)]


def close(a, b, rtol):
    """max |a - b| <= rtol * max |b| (normwise), and the worst ratio for the log."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = max(float(np.max(np.abs(b))), 1e-300)
    err = float(np.max(np.abs(a - b))) / scale
    return err <= rtol, err


# ----------------------------------------------------------------------------- optimizers
def avx_kernels():
    cfg = torch.__config__.show()
    return "CPU capability usage: AVX2" in cfg or "CPU capability usage: AVX512" in cfg


def run_nnla(lib, cfg, p0, grad_fn, lrs):
    n = p0.size
    p = p0.copy()
    size = ctypes.c_size_t()
    assert lib.nnla_optim_state_size(ctypes.byref(cfg), n, ctypes.byref(size)) == 0
    state = np.zeros(size.value // 8 + 1)
    assert lib.nnla_optim_state_init(ctypes.byref(cfg), n, state.ctypes.data, size.value) == 0
    for lr in lrs:
        g = grad_fn(p)
        st = lib.nnla_optim_step(ctypes.byref(cfg), lr, p.ctypes.data, g.ctypes.data, n, state.ctypes.data)
        assert st == 0, st
    return p


def run_torch(make_opt, p0, grad_fn, lrs):
    param = torch.nn.Parameter(torch.from_numpy(p0.copy()))
    opt = make_opt([param])
    for lr in lrs:
        for group in opt.param_groups:
            group["lr"] = lr
        param.grad = torch.from_numpy(grad_fn(param.detach().numpy().copy()))
        opt.step()
    return param.detach().numpy().copy()


def check_optimizers(lib):
    rng = np.random.default_rng(20240601)
    n = 53  # odd: the kernels' vector loops and their tails both run
    m = rng.standard_normal((n, n))
    a = m @ m.T / n + np.eye(n)
    b = rng.standard_normal(n)
    p0 = rng.standard_normal(n)

    def grad(p):
        return np.ascontiguousarray(a @ p - b)

    exact = avx_kernels()
    cases = []

    def sgd(lr, **kw):
        cfg = lib.nnla_optim_sgd_default()
        cfg.sgd.momentum = kw.get("momentum", 0.0)
        cfg.sgd.dampening = kw.get("dampening", 0.0)
        cfg.sgd.weight_decay = kw.get("weight_decay", 0.0)
        cfg.sgd.nesterov = int(kw.get("nesterov", False))
        cases.append((f"SGD{kw}", cfg, lambda ps: torch.optim.SGD(ps, lr=lr, **kw), lr))

    def adam(cls, lr, **kw):
        cfg = lib.nnla_optim_adam_default() if cls is torch.optim.Adam else lib.nnla_optim_adamw_default()
        if "betas" in kw:
            cfg.adam.beta1, cfg.adam.beta2 = kw["betas"]
        if "eps" in kw:
            cfg.adam.eps = kw["eps"]
        if "weight_decay" in kw:
            cfg.adam.weight_decay = kw["weight_decay"]
        cases.append((f"{cls.__name__}{kw}", cfg, lambda ps: cls(ps, lr=lr, **kw), lr))

    sgd(0.1)
    sgd(0.1, momentum=0.9)
    sgd(0.1, momentum=0.9, nesterov=True)
    sgd(0.05, momentum=0.8, dampening=0.3, weight_decay=0.01)
    sgd(0.1, momentum=0.9, nesterov=True, weight_decay=0.1)
    sgd(0.1, weight_decay=0.2)
    adam(torch.optim.Adam, 1e-3)
    adam(torch.optim.Adam, 0.05)
    adam(torch.optim.Adam, 0.05, weight_decay=0.1)
    adam(torch.optim.Adam, 0.02, betas=(0.8, 0.99), eps=1e-6)
    adam(torch.optim.AdamW, 1e-3)
    adam(torch.optim.AdamW, 0.05)
    adam(torch.optim.AdamW, 0.05, weight_decay=0.1, betas=(0.5, 0.75), eps=1e-4)
    worst = 0.0
    identical = 0
    for name, cfg, make, lr in cases:
        lrs = [lr] * 10
        pn = run_nnla(lib, cfg, p0, grad, lrs)
        pt = run_torch(make, p0, grad, lrs)
        ok, err = close(pn, pt, 1e-12)
        worst = max(worst, err)
        same = bool(np.array_equal(pn, pt))
        identical += same
        check(ok, f"{name}: 10 steps differ from torch.optim by {err:.3g} (relative)")
        if exact:
            check(same, f"{name}: not bit-identical to torch's AVX2 kernels (max rel. diff {err:.3g})")
    print(f"optimizers: {len(cases)} configurations x 10 steps, worst relative difference {worst:.3g}, "
          f"{identical} bit-identical (torch AVX kernels: {exact})")

    # A learning rate that changes at every step: libnnla's warmup + cosine schedule, fed to both.
    sched = lib.nnla_lr_warmup(0.05, 0.1, 3, 7, 1e-3)
    lrs = []
    for t in range(10):
        v = ctypes.c_double()
        assert lib.nnla_lr_at(ctypes.byref(sched), t, ctypes.byref(v)) == 0
        lrs.append(v.value)
    cfg = lib.nnla_optim_adamw_default()
    pn = run_nnla(lib, cfg, p0, grad, lrs)
    pt = run_torch(lambda ps: torch.optim.AdamW(ps, lr=lrs[0]), p0, grad, lrs)
    ok, err = close(pn, pt, 1e-12)
    check(ok and (not exact or np.array_equal(pn, pt)), f"AdamW with a scheduled lr: differs by {err:.3g}")


# ----------------------------------------------------------------------------- clipping
def check_clip(lib):
    rng = np.random.default_rng(7)
    for n, max_norm in ((1000, 1.0), (37, 100.0), (4099, 3.5)):
        g = rng.standard_normal(n) * 0.3
        gt = torch.nn.Parameter(torch.zeros(n))
        gt.grad = torch.from_numpy(g.copy())
        tn = float(torch.nn.utils.clip_grad_norm_([gt], max_norm))
        nn_ = ctypes.c_double()
        assert lib.nnla_clip_grad_norm(g.ctypes.data, n, max_norm, ctypes.byref(nn_)) == 0
        ok1, e1 = close([nn_.value], [tn], 1e-14)
        ok2, e2 = close(g, gt.grad.numpy(), 1e-14)
        check(ok1 and ok2, f"clip_grad_norm_ n={n} max_norm={max_norm}: norm {e1:.3g}, grad {e2:.3g}")
    print("clip_grad_norm_: 3 cases")


# ----------------------------------------------------------------------------- schedules
def nnla_lrs(lib, sched, count):
    out = []
    for t in range(count):
        v = ctypes.c_double()
        assert lib.nnla_lr_at(ctypes.byref(sched), t, ctypes.byref(v)) == 0
        out.append(v.value)
    return out


def torch_lrs(make_sched, base, count):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=base)
    sched = make_sched(opt)
    out = [opt.param_groups[0]["lr"]]
    for _ in range(count - 1):
        opt.step()
        sched.step()
        out.append(opt.param_groups[0]["lr"])
    return out, sched


def check_schedules(lib):
    lr_sched = torch.optim.lr_scheduler
    cases = [
        ("StepLR(3, 0.5)", lib.nnla_lr_step_decay(0.1, 3, 0.5), lambda o: lr_sched.StepLR(o, 3, 0.5), 0.1, 20),
        ("StepLR(4, 0.1)", lib.nnla_lr_step_decay(0.3, 4, 0.1), lambda o: lr_sched.StepLR(o, 4, 0.1), 0.3, 20),
        ("CosineAnnealingLR(10, 1e-3)", lib.nnla_lr_cosine(0.1, 10, 1e-3),
         lambda o: lr_sched.CosineAnnealingLR(o, 10, 1e-3), 0.1, 25),
        ("CosineAnnealingLR(7)", lib.nnla_lr_cosine(0.05, 7, 0.0), lambda o: lr_sched.CosineAnnealingLR(o, 7), 0.05,
         15),
        ("LinearLR(0.25, total_iters=5)", lib.nnla_lr_warmup(0.2, 0.25, 5, 0, 0.0),
         lambda o: lr_sched.LinearLR(o, start_factor=0.25, total_iters=5), 0.2, 12),
        ("SequentialLR(LinearLR(0.1, 4), CosineAnnealingLR(8, 1e-4))", lib.nnla_lr_warmup(0.1, 0.1, 4, 8, 1e-4),
         lambda o: lr_sched.SequentialLR(o, [lr_sched.LinearLR(o, start_factor=0.1, total_iters=4),
                                             lr_sched.CosineAnnealingLR(o, 8, 1e-4)], milestones=[4]), 0.1, 15),
    ]
    for name, ours, make, base, count in cases:
        got = nnla_lrs(lib, ours, count)
        want, sched = torch_lrs(make, base, count)
        ok, err = close(got, want, 1e-12)
        check(ok, f"{name}: schedule differs from torch's step() values by {err:.3g}: {got} vs {want}")
        # The closed forms (what libnnla implements) agree exactly.
        if hasattr(sched, "_get_closed_form_lr"):
            closed = []
            for t in range(count):
                sched.last_epoch = t
                closed.append(sched._get_closed_form_lr()[0])
            check(got == closed, f"{name}: not the closed form bit for bit: {got} vs {closed}")
    print(f"schedules: {len(cases)} cases")


# ----------------------------------------------------------------------------- losses
def padded(rng, rows, cols, lo, hi, pad=3):
    """A rows x cols view of a rows x (cols + pad) array (ld > cols), padding set to NaN."""
    full = np.full((rows, cols + pad), np.nan)
    full[:, :cols] = rng.uniform(lo, hi, (rows, cols))
    return full[:, :cols]


def check_losses(lib):
    rng = np.random.default_rng(99)
    D, Z = ctypes.c_double, ctypes.c_size_t
    count = 0
    for rows, cols, scale in ((37, 11, 3.0), (5, 2, 30.0), (64, 10, 8.0), (1, 1, 1.0), (3, 3, 1000.0)):
        z = padded(rng, rows, cols, -scale, scale)
        labels = rng.integers(0, cols, rows).astype(np.uintp)
        probs = rng.uniform(0, 1, (rows, cols))
        probs /= probs.sum(axis=1, keepdims=True)
        t = padded(rng, rows, cols, 0, 1)
        t[:, :] = probs
        for ls in (0.0, 0.1, 0.37):
            for kind in ("index", "prob"):
                zt = torch.tensor(np.array(z), requires_grad=True)
                target = torch.from_numpy(labels.astype(np.int64)) if kind == "index" else torch.tensor(probs)
                lt = F.cross_entropy(zt, target, label_smoothing=ls)
                lt.backward()
                g = padded(rng, rows, cols, 0, 1)
                loss, correct = D(), Z()
                if kind == "index":
                    st = lib.nnla_loss_cross_entropy(view(z), labels.ctypes.data, ls, ctypes.byref(loss), view(g),
                                                     ctypes.byref(correct))
                    want_correct = int((zt.detach().argmax(dim=1) == target).sum())
                else:
                    st = lib.nnla_loss_cross_entropy_prob(view(z), view(t), ls, ctypes.byref(loss), view(g),
                                                          ctypes.byref(correct))
                    want_correct = int((zt.detach().argmax(dim=1) == target.argmax(dim=1)).sum())
                assert st == 0, st
                ok1, e1 = close([loss.value], [float(lt)], 1e-12)
                ok2, e2 = close(g, zt.grad.numpy(), 1e-12)
                check(ok1 and ok2 and correct.value == want_correct,
                      f"cross_entropy {kind} {rows}x{cols} scale {scale} ls {ls}: loss {e1:.3g}, grad {e2:.3g}, "
                      f"correct {correct.value} vs {want_correct}")
                check(np.isnan(g.base[:, cols:]).all(), "cross_entropy wrote into the padding")
                count += 1
        # MSE and BCE with logits.
        y = padded(rng, rows, cols, -2, 2)
        for name, fn, tfn in (("mse", lib.nnla_loss_mse, F.mse_loss),
                              ("bce_logits", lib.nnla_loss_bce_logits, F.binary_cross_entropy_with_logits)):
            tgt = np.array(y) if name == "mse" else np.array(t)
            zt = torch.tensor(np.array(z), requires_grad=True)
            lt = tfn(zt, torch.from_numpy(tgt))
            lt.backward()
            g = padded(rng, rows, cols, 0, 1)
            loss = D()
            assert fn(view(z), view(y if name == "mse" else t), ctypes.byref(loss), view(g)) == 0
            ok1, e1 = close([loss.value], [float(lt)], 1e-12)
            ok2, e2 = close(g, zt.grad.numpy(), 1e-12)
            check(ok1 and ok2, f"{name} {rows}x{cols} scale {scale}: loss {e1:.3g}, grad {e2:.3g}")
            count += 1
    # +-1000 logits: exact and finite in both.
    z = np.array([[1000.0, -1000.0, 0.0], [1000.0, -1000.0, 0.0], [-1000.0, -1000.0, -1000.0]])
    labels = np.array([0, 1, 2], dtype=np.uintp)
    zt = torch.tensor(z, requires_grad=True)
    lt = F.cross_entropy(zt, torch.from_numpy(labels.astype(np.int64)))
    lt.backward()
    g = np.zeros_like(z)
    loss = D()
    assert lib.nnla_loss_cross_entropy(view(z), labels.ctypes.data, 0.0, ctypes.byref(loss), view(g), None) == 0
    check(close([loss.value], [float(lt)], 1e-15)[0] and np.isfinite(g).all() and np.allclose(g, zt.grad.numpy(), rtol=0, atol=1e-15),
          f"+-1000 logits: {loss.value} vs {float(lt)}")
    count += 1
    print(f"losses: {count} cases against torch.nn.functional + autograd")


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    lib = ctypes.CDLL(sys.argv[1])
    bind(lib)
    check_optimizers(lib)
    check_clip(lib)
    check_schedules(lib)
    check_losses(lib)
    if FAILURES:
        print(f"{len(FAILURES)} failure(s)")
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
