#!/usr/bin/python3
"""PyTorch models exported to ONNX in float64, run by libnnla, checked against torch.

usage: torch_models.py ONNX_RUN WORKDIR

Random (seeded) MLPs and CNNs with every layer the importer supports are made .double().eval(),
exported with torch.onnx.export (dynamic batch; opsets 11, 13 and 17) and run by onnx_run on
batches of 1, 7 and 64: the outputs must equal torch's within 1e-12 relative to the largest
output (normwise; an entrywise relative test would be meaningless at outputs near zero).
Each model then goes round the loop: onnx_run loads it and saves it (nnla_onnx_save_mem), the
saved model must pass onnx.checker.check_model(full_check=True) and load back into the same
network (the same layer list, parameters and buffers bit for bit, outputs bit for bit), and its
float32 version must pass the checker and agree within float32 accuracy.
Exit 77 (ctest's skip) without python3-torch or python3-onnx.
"""
import os
import subprocess
import sys
import warnings

try:
    import numpy as np
    import onnx
    import torch
    import torch.nn as nn
except ImportError as e:  # pragma: no cover
    print(f"skipped: {e} (apt-get install python3-torch python3-onnx)")
    sys.exit(77)

warnings.filterwarnings("ignore")
torch.set_num_threads(1)
RTOL = 1e-12
BATCHES = (1, 7, 64)


def randomize_bn(m, gen):
    """Running statistics and affine parameters away from their defaults, so folding matters."""
    for mod in m.modules():
        if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
            with torch.no_grad():
                mod.running_mean.copy_(torch.rand(mod.num_features, generator=gen, dtype=torch.float64) - 0.5)
                mod.running_var.copy_(torch.rand(mod.num_features, generator=gen, dtype=torch.float64) + 0.5)
                mod.weight.copy_(torch.rand(mod.num_features, generator=gen, dtype=torch.float64) + 0.5)
                mod.bias.copy_(torch.rand(mod.num_features, generator=gen, dtype=torch.float64) - 0.5)


class MatMulLinear(nn.Module):
    """x @ W + b with explicit parameters: exported as MatMul followed by Add."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.w = nn.Parameter(torch.randn(n_in, n_out) / n_in ** 0.5)
        self.b = nn.Parameter(torch.randn(n_out) * 0.1)

    def forward(self, x):
        return torch.matmul(x, self.w) + self.b


class ViewFlatten(nn.Module):
    """x.view(x.size(0), -1): with a dynamic batch, Shape -> Gather -> Unsqueeze -> Concat -> Reshape."""

    def forward(self, x):
        return x.view(x.size(0), -1)


class Residual(nn.Module):
    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.c1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.b1 = nn.BatchNorm2d(c_out)
        self.c2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.b2 = nn.BatchNorm2d(c_out)
        self.skip = None
        if stride != 1 or c_in != c_out:
            self.skip = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        y = torch.relu(self.b1(self.c1(x)))
        y = self.b2(self.c2(y))
        return torch.relu(y + (x if self.skip is None else self.skip(x)))


def models():
    """(name, module, sample shape, opsets)."""
    yield "mlp_relu_tanh", nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 32), nn.Tanh(),
                                         nn.Linear(32, 10), nn.LogSoftmax(dim=1)), (20,), (11, 13, 17)
    yield "mlp_every_activation", nn.Sequential(
        nn.Linear(12, 24), nn.BatchNorm1d(24), nn.LeakyReLU(0.2), nn.Dropout(0.3),
        nn.Linear(24, 24), nn.ELU(0.7), nn.Linear(24, 24), nn.Sigmoid(), nn.Linear(24, 24), nn.Softplus(),
        nn.Linear(24, 24), nn.Softplus(beta=2.0), nn.Linear(24, 24), nn.GELU(), nn.Linear(24, 24), nn.SiLU(),
        nn.Linear(24, 24), nn.BatchNorm1d(24), nn.Linear(24, 6), nn.Softmax(dim=1)), (12,), (13, 17)
    yield "mlp_matmul_add", nn.Sequential(MatMulLinear(16, 8), nn.ReLU(), MatMulLinear(8, 4)), (16,), (13,)
    yield "cnn_basic", nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.AvgPool2d(2, ceil_mode=True), nn.Flatten(), nn.Linear(16 * 2 * 2, 10), nn.Softmax(dim=1)), \
        (3, 13, 13), (11, 13, 17)
    yield "cnn_geometry", nn.Sequential(
        nn.Conv2d(4, 8, (3, 2), stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2), nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.Tanh(),
        nn.ZeroPad2d((1, 2, 0, 1)), nn.Conv2d(8, 6, 3), nn.ELU(),
        nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True),
        nn.AvgPool2d(2, stride=1, padding=1, count_include_pad=False),
        nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=True),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 5), nn.LogSoftmax(dim=1)), (4, 17, 12), (11, 13, 17)
    yield "resnet", nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
        Residual(8, 8, 1), Residual(8, 16, 2), nn.AdaptiveAvgPool2d(1), ViewFlatten(), nn.Dropout(0.5),
        nn.Linear(16, 10)), (3, 12, 12), (13, 17)
    yield "conv_channel_softmax", nn.Sequential(
        nn.Conv2d(2, 5, 3, padding=1), nn.GELU(), nn.Conv2d(5, 4, 1), nn.LogSoftmax(dim=1)), (2, 6, 7), (13, 17)
    yield "conv1d", nn.Sequential(
        nn.Conv1d(3, 6, 5, padding=2), nn.ReLU(), nn.MaxPool1d(2), nn.Conv1d(6, 6, 3, dilation=2), nn.SiLU(),
        nn.Flatten(), nn.Linear(6 * 12, 4)), (3, 32), (13,)


def run(onnx_run, *args):
    r = subprocess.run([onnx_run] + list(args), capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"onnx_run {' '.join(args)}: {r.stderr.strip()}")
    return r.stdout


def check_model(path, failures, label):
    try:
        onnx.checker.check_model(onnx.load(path), full_check=True)
    except Exception as e:  # noqa: BLE001 - the checker raises several kinds
        failures.append(f"{label}: onnx.checker rejects {path}: {e}")


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    onnx_run, work = sys.argv[1:]
    os.makedirs(work, exist_ok=True)
    failures = []
    count = 0
    for idx, (name, module, shape, opsets) in enumerate(models()):
        torch.manual_seed(1000 + idx)
        gen = torch.Generator().manual_seed(2000 + idx)
        m = module.double().eval()
        randomize_bn(m, gen)
        xs = {n: torch.randn((n,) + shape, generator=gen, dtype=torch.float64) for n in BATCHES}
        with torch.no_grad():
            refs = {n: m(x).numpy() for n, x in xs.items()}
        for n, x in xs.items():
            np.save(os.path.join(work, f"{name}_x{n}.npy"), x.numpy())
        for opset in opsets:
            label = f"{name} (opset {opset})"
            path = os.path.join(work, f"{name}_op{opset}.onnx")
            torch.onnx.export(m, xs[BATCHES[0]], path, opset_version=opset, input_names=["x"],
                              output_names=["y"], dynamic_axes={"x": {0: "N"}, "y": {0: "N"}})
            try:
                worst = 0.0
                for n in BATCHES:
                    xp = os.path.join(work, f"{name}_x{n}.npy")
                    yp = os.path.join(work, f"{name}_op{opset}_y{n}.npy")
                    run(onnx_run, "run", path, xp, yp)
                    y, ref = np.load(yp).reshape(refs[n].shape), refs[n]
                    err = np.abs(y - ref).max() / np.abs(ref).max()
                    worst = max(worst, err)
                    if not err <= RTOL:
                        failures.append(f"{label}, batch {n}: max |nnla - torch| / max |torch| = {err:.2e}")
                count += 1
                print(f"{label}: {run(onnx_run, 'layers', path).count(chr(10))} layers, batches "
                      f"{', '.join(map(str, BATCHES))}: max |nnla - torch| / max |torch| = {worst:.1e}")
                # round trip: load, save, check, load again: the same network
                rt = os.path.join(work, f"{name}_op{opset}_rt.onnx")
                run(onnx_run, "save", path, rt)
                check_model(rt, failures, label)
                if run(onnx_run, "layers", path) != run(onnx_run, "layers", rt):
                    failures.append(f"{label}: the saved model loads into other layers:\n"
                                    f"{run(onnx_run, 'layers', path)}---\n{run(onnx_run, 'layers', rt)}")
                p1, p2 = os.path.join(work, "p1.npy"), os.path.join(work, "p2.npy")
                run(onnx_run, "params", path, p1)
                run(onnx_run, "params", rt, p2)
                if np.load(p1).tobytes() != np.load(p2).tobytes():
                    failures.append(f"{label}: the saved model's parameters differ")
                for n in BATCHES:
                    xp = os.path.join(work, f"{name}_x{n}.npy")
                    y1, y2 = os.path.join(work, "y1.npy"), os.path.join(work, "y2.npy")
                    run(onnx_run, "run", path, xp, y1)
                    run(onnx_run, "run", rt, xp, y2)
                    if np.load(y1).tobytes() != np.load(y2).tobytes():
                        failures.append(f"{label}, batch {n}: the saved model's outputs differ")
                # the same with every layer kept (BatchNorm, activation and dropout layers)
                keep = ["--keep-bn", "--keep-act", "--keep-dropout"]
                rtk = os.path.join(work, f"{name}_op{opset}_rtk.onnx")
                run(onnx_run, "save", path, rtk, *keep)
                check_model(rtk, failures, label + " kept layers")
                if run(onnx_run, "layers", path, *keep) != run(onnx_run, "layers", rtk, *keep):
                    failures.append(f"{label}: with every layer kept, the saved model loads into other layers")
                run(onnx_run, "params", path, p1, *keep)
                run(onnx_run, "params", rtk, p2, *keep)
                if np.load(p1).tobytes() != np.load(p2).tobytes():
                    failures.append(f"{label}: with every layer kept, the saved parameters differ")
                # float32
                r32 = os.path.join(work, f"{name}_op{opset}_f32.onnx")
                run(onnx_run, "save", path, r32, "--float32")
                check_model(r32, failures, label + " float32")
                n = BATCHES[-1]
                y32 = os.path.join(work, "y32.npy")
                run(onnx_run, "run", r32, os.path.join(work, f"{name}_x{n}.npy"), y32)
                err = np.abs(np.load(y32).reshape(refs[n].shape) - refs[n]).max() / np.abs(refs[n]).max()
                if not err <= 1e-5:
                    failures.append(f"{label}: the float32 model is off by {err:.1e}")
            except RuntimeError as e:
                failures.append(f"{label}: {e}")
    for f in failures:
        print("FAIL", f)
    print(f"{count} exported models checked against torch; {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
