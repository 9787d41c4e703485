#!/usr/bin/python3
"""The ONNX backend test suite (Debian's libonnx-testdata) against libnnla's importer.

usage: conformance.py ONNX_RUN WORKDIR (--check DOC | --write DOC) [DATA_DIR]

Every test under node/ and pytorch-converted/ is a model.onnx plus test_data_set_*/input_*.pb and
output_*.pb. The first graph input that has no initializer is the data; the other inputs whose
values the test gives (weights passed as inputs, a test-suite habit) become initializers of a
copy of the model. onnx_run then loads every model once ("check"): the ones it refuses are listed
with its message; the ones it loads run every data set (float32 inputs widened to double) and must
match the expected outputs at float32 tolerance: |y - ref| <= 1e-6 + 1e-5 |ref| entrywise (the
reference is float32, rounded at each step of its computation).

The list of supported and unsupported tests is docs/onnx-conformance.md: --write regenerates it,
--check (the ctest case) fails when the committed page differs from what this run finds, so the
page never drifts from the code. Exit 77 (ctest's skip) without python3-onnx or the test data.
"""
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import onnx
    from onnx import numpy_helper
except ImportError as e:  # pragma: no cover
    print(f"skipped: {e} (apt-get install python3-onnx python3-numpy)")
    sys.exit(77)

SUITES = ["node", "pytorch-converted"]
RTOL, ATOL = 1e-5, 1e-6


def testdata_version():
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "libonnx-testdata"], capture_output=True,
                             text=True, check=False).stdout.strip()
        return out or "unknown"
    except OSError:
        return "unknown"


def prepare(test_dir, work):
    """The model to load (a copy with given inputs folded into initializers) and its data input."""
    model = onnx.load(os.path.join(test_dir, "model.onnx"))
    inits = {t.name for t in model.graph.initializer}
    inputs = [i.name for i in model.graph.input if i.name not in inits]
    sets = sorted(d for d in os.listdir(test_dir) if d.startswith("test_data_set_"))
    folded = []
    if len(inputs) > 1 and sets:
        first = os.path.join(test_dir, sets[0])
        for k, name in enumerate(inputs[1:], start=1):
            pb = os.path.join(first, f"input_{k}.pb")
            if not os.path.exists(pb):
                break
            t = onnx.TensorProto()
            with open(pb, "rb") as f:
                t.ParseFromString(f.read())
            t.name = name
            model.graph.initializer.append(t)
            folded.append(name)
    if folded:
        path = os.path.join(work, os.path.basename(test_dir) + ".onnx")
        onnx.save(model, path)
    else:
        path = os.path.join(test_dir, "model.onnx")
    return path, inputs, folded, sets


def load_pb(path):
    t = onnx.TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return numpy_helper.to_array(t)


def run_sets(onnx_run, test_dir, model, sets, work):
    """Run every data set; returns (ok, detail)."""
    worst = 0.0
    for s in sets:
        d = os.path.join(test_dir, s)
        x = load_pb(os.path.join(d, "input_0.pb"))
        ref = load_pb(os.path.join(d, "output_0.pb"))
        if not np.issubdtype(x.dtype, np.floating) or not np.issubdtype(ref.dtype, np.floating):
            return False, "non-float data"
        xp, yp = os.path.join(work, "x.npy"), os.path.join(work, "y.npy")
        np.save(xp, x.astype(np.float64))
        r = subprocess.run([onnx_run, "run", model, xp, yp], capture_output=True, text=True)
        if r.returncode != 0:
            return False, r.stderr.strip()
        y = np.load(yp)
        if y.size != ref.size:
            return False, f"output has {y.size} values, expected {ref.size}"
        y = y.reshape(ref.shape)
        ref = ref.astype(np.float64)
        err = np.abs(y - ref)
        bad = err > ATOL + RTOL * np.abs(ref)
        if bad.any() or np.isnan(y).any() != np.isnan(ref).any():
            k = int(np.argmax(err - (ATOL + RTOL * np.abs(ref))))
            return False, f"{s}: entry {k}: {y.flat[k]!r} vs {ref.flat[k]!r}"
        scale = np.abs(ref).max() if ref.size else 0.0
        worst = max(worst, float(err.max() / scale) if scale > 0 else float(err.max()))
    return True, (len(sets), worst)


def main():
    if len(sys.argv) < 5 or sys.argv[3] not in ("--check", "--write"):
        print(__doc__)
        return 2
    onnx_run, work, mode, doc = sys.argv[1:5]
    data = sys.argv[5] if len(sys.argv) > 5 else "/usr/share/libonnx-testdata/data"
    if not os.path.isdir(data):
        print(f"skipped: {data} not found (apt-get install libonnx-testdata)")
        return 77
    os.makedirs(work, exist_ok=True)
    tests = []
    for suite in SUITES:
        for name in sorted(os.listdir(os.path.join(data, suite))):
            tests.append((suite, name, os.path.join(data, suite, name)))
    prepared = [prepare(t[2], work) for t in tests]
    r = subprocess.run([onnx_run, "check"] + [p[0] for p in prepared], capture_output=True, text=True)
    lines = r.stdout.rstrip("\n").split("\n")
    if r.returncode != 0 or len(lines) != len(tests):
        print(f"onnx_run check failed (exit {r.returncode}): {r.stderr}")
        return 1
    supported, unsupported, failed = [], [], []
    for (suite, name, path), (model, inputs, folded, sets), line in zip(tests, prepared, lines):
        status, _, msg = line.partition("\t")
        note = f" (inputs {', '.join(folded)} given as initializers)" if folded else ""
        if status != "NNLA_OK":
            unsupported.append((suite, name, f"{status}: {msg}"))
            continue
        if not sets:
            unsupported.append((suite, name, "loads, but the test has no data set"))
            continue
        ok, detail = run_sets(onnx_run, path, model, sets, work)
        if ok:
            nsets, worst = detail
            print(f"pass {suite}/{name}: {nsets} data set(s), max |error| / max |expected| = {worst:.1e}")
            supported.append((suite, name, f"passes ({nsets} data set{'s' if nsets > 1 else ''}){note}"))
        else:
            failed.append((suite, name, detail))
    for suite, name, detail in failed:
        print(f"FAIL {suite}/{name}: {detail}")
    version = testdata_version()
    page = render(supported, unsupported, version)
    print(f"{len(supported)} supported tests pass, {len(failed)} fail, {len(unsupported)} unsupported "
          f"(libonnx-testdata {version})")
    if mode == "--write":
        with open(doc, "w") as f:
            f.write(page)
        print(f"wrote {doc}")
    else:
        try:
            with open(doc) as f:
                old = f.read()
        except OSError:
            old = ""
        if old and f"libonnx-testdata {version} " not in old:
            print(f"note: {doc} was generated with another libonnx-testdata; not compared")
        elif old != page:
            new = os.path.join(work, "onnx-conformance.md")
            with open(new, "w") as f:
                f.write(page)
            print(f"{doc} is out of date: regenerate it with\n  {sys.argv[0]} {onnx_run} {work} --write {doc}\n"
                  f"(this run's page: {new}; diff -u {doc} {new})")
            return 1
    return 1 if failed else 0


def render(supported, unsupported, version):
    out = ["# ONNX conformance: the backend test suite", "",
           f"Generated by `tests/onnx/conformance.py` from libonnx-testdata {version} (Debian's copy of the",
           "ONNX backend test suite, `/usr/share/libonnx-testdata/data`); the ctest case `onnx_conformance`",
           "runs the supported tests and fails when this page is not what the code does. Do not edit by hand.",
           "",
           "Every test under `node/` and `pytorch-converted/` is loaded with `nnla_onnx_load()`. A test whose",
           "model loads runs each of its data sets: float32 inputs are widened to double and the outputs must",
           f"match the expected ones within {ATOL:g} + {RTOL:g} |expected| entrywise (float32 tolerance). Weights",
           "that a test passes as graph inputs are made initializers first (noted per test); the data input",
           "is the first one. A model the importer refuses is listed with its message.",
           "",
           f"{len(supported)} tests supported and passing, {len(unsupported)} not supported.", "",
           "## Supported", "", "| suite | test | result |", "|---|---|---|"]
    for suite, name, detail in supported:
        out.append(f"| {suite} | {name} | {detail} |")
    out += ["", "## Not supported", "", "| suite | test | the importer's message |", "|---|---|---|"]
    for suite, name, msg in unsupported:
        out.append(f"| {suite} | {name} | {msg.replace('|', '/')} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.exit(main())
