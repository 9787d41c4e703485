#!/usr/bin/python3
"""usage: numpy_check.py NPY_ROUNDTRIP WORK_DIR

NumPy writes arrays of every kind the reader supports (float64/float32, integers of 1-8 bytes
signed and unsigned, bool; C/Fortran order, little/big-endian, format versions 1.0/2.0/3.0,
ranks 0-5, empty arrays, NaN/Inf, integer extremes), the C program NPY_ROUNDTRIP reads each one
and writes it back, and NumPy checks that the values came back exactly and that the bytes are
those of numpy.save of the float64 C-order array. Then dtypes the reader refuses, and integers
beyond 2^53, must make it fail cleanly (exit 1, the status name on stderr, no output).
"""
import io
import os
import shutil
import subprocess
import sys

import numpy as np
import numpy.lib.format as fmt


FLOATS = ["<f8", "<f4", ">f8", ">f4"]
INTS = ["|i1", "<i2", ">i2", "<i4", ">i4", "<i8", ">i8", "|u1", "<u2", ">u2", "<u4", ">u4", "<u8", ">u8",
        "|b1"]


def main():
    tool, work = sys.argv[1], sys.argv[2]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    rng = np.random.default_rng(12345)
    failures = 0
    count = 0
    for case in range(400):
        ndim = int(rng.integers(0, 6))
        shape = tuple(int(rng.integers(0 if case % 9 == 0 else 1, 5)) for _ in range(ndim))
        dtype = FLOATS[case % 4] if case < 200 else INTS[case % len(INTS)]
        if dtype in FLOATS:
            a = np.asarray(rng.standard_normal(shape) * 10.0 ** rng.uniform(-30, 30, shape)).astype(dtype)
            if a.size > 0 and case % 5 == 0:
                a.flat[0] = [np.nan, np.inf, -np.inf, -0.0, 0.0][case % 25 // 5]
        elif dtype.endswith("b1"):
            a = np.asarray(rng.integers(0, 2, shape)).astype(dtype)
        else:
            info = np.iinfo(np.dtype(dtype))
            lo, hi = max(int(info.min), -2 ** 53), min(int(info.max), 2 ** 53)
            a = np.asarray(rng.integers(lo, hi, shape, endpoint=True, dtype=np.int64 if lo < 0 else np.uint64))
            a = a.astype(dtype)
            if a.size > 0 and case % 3 == 0:
                a.flat[0] = [lo, hi][case % 2]  # the extremes that are still exact
        if case % 3 == 1:
            a = np.asfortranarray(a)
        version = [None, (1, 0), (2, 0), (3, 0)][case % 4 if case % 8 < 4 else 0]
        src = os.path.join(work, "in%d.npy" % case)
        dst = os.path.join(work, "out%d.npy" % case)
        with open(src, "wb") as f:
            if version is None:
                np.save(f, a)
            else:
                fmt.write_array(f, a, version=version)
        r = subprocess.run([tool, src, dst], capture_output=True, text=True)
        count += 1
        if "Sanitizer" in r.stderr or "runtime error:" in r.stderr:
            print("case %d: sanitizer report:\n%s" % (case, r.stderr))
            failures += 1
            continue
        if r.returncode != 0:
            print("case %d: %s %s %s: exit %d: %s" % (case, dtype, shape, version, r.returncode, r.stderr))
            failures += 1
            continue
        b = np.load(dst)
        want = np.array(a, dtype="<f8", order="C")  # (np.ascontiguousarray would make 0-d 1-d)
        ref = io.BytesIO()
        np.save(ref, want)
        ok = (b.dtype == np.dtype("<f8") and b.shape == a.shape and b.flags["C_CONTIGUOUS"]
              and np.array_equal(b, want, equal_nan=True)
              and np.array_equal(np.signbit(b), np.signbit(want))
              and open(dst, "rb").read() == ref.getvalue())
        if not ok:
            print("case %d: %s %s fortran=%s version=%s: mismatch"
                  % (case, dtype, shape, a.flags["F_CONTIGUOUS"], version))
            failures += 1
        os.remove(src)
        os.remove(dst)

    refused = [(np.zeros((2, 2), dtype=dt), "NNLA_EUNSUPPORTED")
               for dt in ["<c16", "<f2", "<U4", "<M8[s]", "<m8[s]", "|S3", "<i2,<f8"]]
    refused += [(np.array([0, v], dtype=dt), "NNLA_EINEXACT")
                for dt, v in [("<i8", 2 ** 53 + 1), (">i8", -2 ** 53 - 1), ("<u8", 2 ** 53 + 1),
                              ("<u8", 2 ** 64 - 1), ("<i8", -2 ** 63)]]
    for a, want in refused:
        src = os.path.join(work, "refused.npy")
        np.save(src, a)
        r = subprocess.run([tool, src, os.path.join(work, "never.npy")], capture_output=True, text=True)
        count += 1
        wrote = os.path.exists(os.path.join(work, "never.npy"))
        if r.returncode != 1 or r.stderr.strip() != want or wrote:
            print("%s %s: expected %s, got exit %d: %s" % (a.dtype.str, a.tolist(), want, r.returncode, r.stderr))
            failures += 1

    print("%d cases, %d failures" % (count, failures))
    if failures == 0:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
