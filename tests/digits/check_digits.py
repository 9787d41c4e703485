#!/usr/bin/env python3
"""nnla-digits, the README's main job, run briefly: usage: check_digits.py NNLA_DIGITS WORKDIR [NNLA_CLI]

Runs the demo with 4 epochs and checks: every stage ran and printed its time; the held-out accuracy
(a CNN on 8 x 8 digits passes 90% after a few epochs; the full run's 98% is not asked of a short one);
the RESULT line's form and values (accuracies in [0, 1], params_ratio in (0, 1], a positive
Lipschitz bound, seconds); the report is well-formed XML with an SVG chart per figure; the ONNX file
loads back (the demo's own count of identical predictions, onnx.checker when python3-onnx is there,
and `nnla run` on all 1797 digits). The compressed-and-fine-tuned figures must beat chance. A second run with the same seed prints the same RESULT numbers
but the seconds.
"""
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

exe, work = sys.argv[1], sys.argv[2]
cli = sys.argv[3] if len(sys.argv) > 3 else None
os.makedirs(work, exist_ok=True)
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what)


def run():
    r = subprocess.run([exe, "--epochs", "4", "--out", work], capture_output=True, text=True, timeout=600)
    check(r.returncode == 0, "exit 0 (stderr: %s)" % r.stderr.strip())
    return r.stdout


out = run()
sys.stdout.write(out)
for stage in ("data", "train", "inspect", "compress", "regularize", "attack", "reduce", "save", "report"):
    check(re.search(r"\[%s: [0-9.]+ s\]" % stage, out) is not None, "stage %s timed" % stage)
m = re.search(r"^RESULT accuracy=([0-9.]+) compressed_accuracy=([0-9.]+) params_ratio=([0-9.]+) "
              r"lipschitz=([0-9.e+]+) fgsm_accuracy=([0-9.]+) seconds=([0-9.]+)$", out, re.M)
check(m is not None, "the RESULT line is well formed")
if m:
    acc, cacc, ratio, lip, fgsm, secs = (float(v) for v in m.groups())
    check(0.9 <= acc <= 1.0, "held-out accuracy %.4f >= 0.9 after 4 epochs" % acc)
    check(0.5 <= cacc <= 1.0 and 0.0 < ratio < 1.0, "compression figures in range (%.4f, %.4f)" % (cacc, ratio))
    check(lip > 1.0, "a Lipschitz bound above 1")
    check(0.0 <= fgsm <= acc, "FGSM accuracy in [0, accuracy]")
    check(secs > 0, "seconds")
# the report: XML-compatible, with its charts
report = os.path.join(work, "report.html")
try:
    root = ET.fromstring(open(report).read().replace("<!DOCTYPE html>", ""))
    svgs = [e for e in root.iter() if e.tag.endswith("svg")]
    check(len(svgs) >= 6, "report.html has its charts (%d svg elements)" % len(svgs))
    texts = " ".join(t.text or "" for t in root.iter())
    for word in ("epoch", "singular value", "eps", "component", "parameters"):
        check(word in texts, "report.html labels '%s'" % word)
except (ET.ParseError, OSError) as e:
    check(False, "report.html is well-formed XML (%s)" % e)
# the ONNX model
model = os.path.join(work, "digits.onnx")
if "without its ONNX module" not in out:
    check(os.path.exists(model), "digits.onnx written")
    same = re.search(r"([0-9]+) of ([0-9]+) predictions identical", out)
    check(same is not None and same.group(1) == same.group(2), "the reloaded model predicts as the trained one")
    try:
        import onnx
        onnx.checker.check_model(onnx.load(model), full_check=True)
    except ImportError:
        pass
    except Exception as e:  # noqa: BLE001 (any checker complaint is a failure)
        check(False, "onnx.checker accepts digits.onnx (%s)" % e)
    if cli:
        import gzip
        import numpy as np
        here = os.path.dirname(os.path.abspath(__file__))
        data = np.loadtxt(gzip.open(os.path.join(here, "..", "..", "docs", "examples", "data", "digits.csv.gz")),
                          delimiter=",")
        x = (data[:, :64] / 16.0).reshape(-1, 1, 8, 8)
        np.save(os.path.join(work, "x.npy"), x)
        r = subprocess.run([cli, "run", model, os.path.join(work, "x.npy"), "--out", os.path.join(work, "y.npy")],
                           capture_output=True, text=True)
        check(r.returncode == 0, "nnla run digits.onnx (%s)" % r.stderr.strip())
        if r.returncode == 0:
            pred = np.load(os.path.join(work, "y.npy")).argmax(axis=1)
            check(np.mean(pred == data[:, 64]) > 0.9, "the reloaded model classifies the digits (%.3f)"
                  % np.mean(pred == data[:, 64]))
# repeatable: the same numbers again
out2 = run()
strip = lambda s: re.sub(r"seconds=[0-9.]+", "", re.search(r"^RESULT .*$", s, re.M).group(0)) if "RESULT" in s else ""
check(strip(out) == strip(out2) and strip(out) != "", "the same seed repeats the RESULT line")
print("%d passed, %d failed" % (0 if failures else 1, len(failures)))
sys.exit(1 if failures else 0)
