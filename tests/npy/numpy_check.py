#!/usr/bin/python3
"""usage: numpy_check.py NPY_ROUNDTRIP WORK_DIR

NumPy writes arrays of every kind the reader supports (float64/float32, C/Fortran order,
little/big-endian, format versions 1.0/2.0/3.0, ranks 0-5, empty arrays, NaN/Inf), the C
program NPY_ROUNDTRIP reads each one and writes it back, and NumPy checks that the values
came back exactly and that the bytes are those of numpy.save of the float64 C-order array.
Then dtypes the reader refuses must make it fail cleanly (exit 1, a status name on stderr).
"""
import io
import os
import shutil
import subprocess
import sys

import numpy as np
import numpy.lib.format as fmt


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
        dtype = ["<f8", "<f4", ">f8", ">f4"][case % 4]
        a = np.asarray(rng.standard_normal(shape) * 10.0 ** rng.uniform(-30, 30, shape)).astype(dtype)
        if a.size > 0 and case % 5 == 0:
            a.flat[0] = [np.nan, np.inf, -np.inf, -0.0, 0.0][case % 25 // 5]
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

    for dt in ["<i8", "<i4", "|u1", "|b1", "<c16", "<f2", "<U4", "<M8[s]"]:
        src = os.path.join(work, "unsupported.npy")
        np.save(src, np.zeros((2, 2), dtype=dt))
        r = subprocess.run([tool, src, os.path.join(work, "never.npy")], capture_output=True, text=True)
        count += 1
        wrote = os.path.exists(os.path.join(work, "never.npy"))
        if r.returncode != 1 or r.stderr.strip() != "NNLA_EUNSUPPORTED" or wrote:
            print("dtype %s: expected NNLA_EUNSUPPORTED, got exit %d: %s" % (dt, r.returncode, r.stderr))
            failures += 1

    print("%d cases, %d failures" % (count, failures))
    if failures == 0:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
