#!/usr/bin/python3
"""Make the golden .npy files that tests/test_npy.c reads (run from anywhere; writes next to itself).

    /usr/bin/python3 tests/data/npy/make_golden.py

Valid files are written by NumPy itself (numpy.save / numpy.lib.format.write_array); the
files under bad/ are valid NumPy output edited byte by byte into each kind of malformed input
the reader must refuse, and those under unsupported/ are well-formed files of dtypes and
versions libnnla does not read. test_npy.c states the expected values and statuses; keep the
two in step when editing this script. Deterministic: rerunning rewrites identical files.
"""
import os
import struct

import numpy as np
import numpy.lib.format as fmt

HERE = os.path.dirname(os.path.abspath(__file__))

# The 2x3 values every "basic" file holds (exact binary fractions, a decimal, extremes, -0.0).
BASIC = np.array([[1.5, -2.25, 3.0], [0.1, 1e300, -0.0]])
# 2x3x4 with entry (i, j, k) = 100 i + 10 j + k: a Fortran/C mix-up shows at once.
# The float32 files hold BASIC with 1e30 for 1e300 (beyond float32's range).
BASIC32 = np.array([[1.5, -2.25, 3.0], [0.1, 1e30, -0.0]], dtype="<f4")
CUBE = np.fromfunction(lambda i, j, k: 100 * i + 10 * j + k, (2, 3, 4))


def int_extremes(code):
    """2x3 values of an integer type: its least and greatest value (within +-2^53, what a double
    holds exactly), then 0, 1, -1 (2 if unsigned) and 42."""
    info = np.iinfo(np.dtype(code))
    lo, hi = max(int(info.min), -2 ** 53), min(int(info.max), 2 ** 53)
    return [[lo, hi, 0], [1, -1 if lo < 0 else 2, 42]]


def save(name, a, version=None):
    path = os.path.join(HERE, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        if version is None:
            np.save(f, a, allow_pickle=False)
        else:
            fmt.write_array(f, a, version=version, allow_pickle=False)


def raw(name, data):
    path = os.path.join(HERE, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def header(d_text, version=(1, 0), pad=True):
    """A preamble + header around an arbitrary dict text (padded like NumPy's when pad)."""
    body = d_text.encode("latin1")
    pre_len = 10 if version[0] == 1 else 12
    hlen = len(body) + 1
    padlen = (64 - (pre_len + hlen) % 64) % 64 if pad else 0
    body = body + b" " * padlen + b"\n"
    lenfmt = "<H" if version[0] == 1 else "<I"
    return b"\x93NUMPY" + bytes(version) + struct.pack(lenfmt, len(body)) + body


def main():
    # ---- valid files, written by NumPy
    save("f8_c_2x3.npy", BASIC)
    save("f4_c_2x3.npy", BASIC32)
    save("f8_f_2x3.npy", np.asfortranarray(BASIC))
    save("f4_f_2x3.npy", np.asfortranarray(BASIC32))
    save("f8_1d.npy", np.array([1.0, 2.0, 4.0, 8.0, 16.0]))
    save("f8_0d.npy", np.array(3.25))
    save("f4_0d.npy", np.array(-0.5, dtype="<f4"))
    save("f8_empty_0.npy", np.zeros((0,)))
    save("f8_empty_0x3.npy", np.zeros((0, 3)))
    save("f8_empty_2x0x5_f.npy", np.asfortranarray(np.zeros((2, 0, 5))))
    save("f8_c_2x3x4.npy", CUBE)
    save("f8_f_2x3x4.npy", np.asfortranarray(CUBE))
    save("f4_f_2x3x4.npy", np.asfortranarray(CUBE.astype("<f4")))
    save("f8_be_2x3.npy", BASIC.astype(">f8"))
    save("f4_be_2x3.npy", BASIC32.astype(">f4"))
    save("f8_be_f_2x3x4.npy", np.asfortranarray(CUBE.astype(">f8")))
    save("f8_special.npy", np.array([np.inf, -np.inf, np.nan, 5e-324, -1.7976931348623157e308]))
    save("f4_special.npy", np.array([np.inf, -np.inf, np.nan, 1e-45, 3.4028234663852886e38], dtype="<f4"))
    save("f8_v2_2x3.npy", BASIC, version=(2, 0))
    save("f8_v3_2x3.npy", BASIC, version=(3, 0))
    save("f4_v3_f_2x3x4.npy", np.asfortranarray(CUBE.astype("<f4")), version=(3, 0))
    # The byte-order characters '=' and '|', no character, double quotes, Python 2's 3L and
    # unusual whitespace: all valid Python literals NumPy reads; same 2x3 data as f8_c_2x3.
    data = BASIC.astype("<f8").tobytes()
    raw("f8_eq_order.npy", header("{'descr': '=f8', 'fortran_order': False, 'shape': (2, 3), }") + data)
    raw("f8_pipe_order.npy", header("{'descr': '|f8', 'fortran_order': False, 'shape': (2, 3), }") + data)
    raw("f8_no_order.npy", header("{'descr': 'f8', 'fortran_order': False, 'shape': (2, 3), }") + data)
    raw("f8_py2_long.npy",
        header("{'descr': '<f8', 'fortran_order': False, 'shape': (2L, 3L), }") + data)
    raw("f8_quirky_syntax.npy",
        header('{"shape":(2,3)  ,\t"fortran_order" :False,"descr":"<f8"}', pad=False) + data)
    raw("f8_trailing_bytes.npy", header("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }")
        + data + b"extra bytes after the data are ignored")

    # Integers of every size, signed and unsigned, in both byte orders ('|' for one byte), and
    # booleans: read as doubles, exactly; test_npy.c knows the values from int_extremes().
    for code in ["i2", "i4", "i8", "u2", "u4", "u8"]:
        save("int/%s_le_2x3.npy" % code, np.array(int_extremes(code), dtype="<" + code))
        save("int/%s_be_2x3.npy" % code, np.array(int_extremes(code), dtype=">" + code))
    for code in ["i1", "u1"]:
        save("int/%s_2x3.npy" % code, np.array(int_extremes(code), dtype="|" + code))
    save("int/b1_2x3.npy", np.array([[True, False, True], [False, False, True]]))
    save("int/i4_be_f_2x3x4.npy", np.asfortranarray(CUBE.astype(">i4")))
    save("int/b1_f_2x3x4.npy", np.asfortranarray(CUBE.astype(np.int64) % 3 == 1))
    save("int/i1_0d.npy", np.array(-5, dtype="|i1"))
    save("int/u8_empty_0x4.npy", np.zeros((0, 4), dtype="<u8"))

    # ---- well-formed files libnnla does not read (NNLA_EUNSUPPORTED)
    save("unsupported/M8.npy", np.array(["2024-01-01", "2025-06-30"], dtype="<M8[D]"))
    save("unsupported/c16.npy", np.ones((2, 2), dtype="<c16"))
    save("unsupported/f2.npy", np.ones(3, dtype="<f2"))
    save("unsupported/u3.npy", np.array(["abc", "de"]))
    save("unsupported/structured.npy", np.zeros(2, dtype=[("x", "<f8"), ("y", "<f4")]))
    save("unsupported/v3_structured_utf8.npy", np.zeros(2, dtype=[("\u00e9t\u00e9", "<f8")]), version=(3, 0))
    raw("unsupported/version_4_0.npy", header("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }")
        .replace(b"NUMPY\x01\x00", b"NUMPY\x04\x00", 1) + data)
    raw("unsupported/version_1_1.npy", header("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }")
        .replace(b"NUMPY\x01\x00", b"NUMPY\x01\x01", 1) + data)
    many = "(" + ", ".join(["1"] * 65) + ")"
    raw("unsupported/65_dims.npy", header("{'descr': '<f8', 'fortran_order': False, 'shape': %s, }" % many)
        + struct.pack("<d", 1.0))

    # ---- malformed files (NNLA_EFORMAT unless stated in test_npy.c)
    good = open(os.path.join(HERE, "f8_c_2x3.npy"), "rb").read()
    hlen = struct.unpack("<H", good[8:10])[0]
    raw("bad/empty.npy", b"")
    raw("bad/magic_only.npy", b"\x93NUMPY")
    raw("bad/bad_magic.npy", b"\x93NUMPZ" + good[6:])
    raw("bad/text_file.npy", b"not a numpy file at all\n")
    raw("bad/truncated_preamble.npy", good[:9])
    raw("bad/truncated_header.npy", good[:10 + hlen // 2])
    raw("bad/truncated_data.npy", good[:-1])
    raw("bad/no_data.npy", good[:10 + hlen])
    raw("bad/header_len_too_big.npy", good[:8] + struct.pack("<H", 0xFFFF) + good[10:])
    raw("bad/v2_header_len_huge.npy", b"\x93NUMPY\x02\x00" + struct.pack("<I", 0xFFFFFFF0) + b"{}")
    # Header length 1 MiB + 1 (beyond NNLA_NPY_MAX_HEADER_LEN), with only a little data present.
    raw("bad/v2_header_len_over_cap.npy", b"\x93NUMPY\x02\x00" + struct.pack("<I", (1 << 20) + 1) + b"{" * 64)
    d = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }"
    bads = {
        "missing_descr": "{'fortran_order': False, 'shape': (2, 3), }",
        "missing_shape": "{'descr': '<f8', 'fortran_order': False, }",
        "missing_fortran": "{'descr': '<f8', 'shape': (2, 3), }",
        "extra_key": "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), 'x': 1, }",
        "duplicate_key": "{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }",
        "unterminated_string": "{'descr: '<f8', 'fortran_order': False, 'shape': (2, 3), }",
        "mismatched_quotes": "{'descr\": '<f8', 'fortran_order': False, 'shape': (2, 3), }",
        "unquoted_key": "{descr: '<f8', 'fortran_order': False, 'shape': (2, 3), }",
        "escape_in_string": "{'descr': '<f\\x38', 'fortran_order': False, 'shape': (2, 3), }",
        "trailing_junk": d + " x",
        "two_dicts": d + d,
        "no_closing_brace": d[:-1],
        "not_a_dict": "['descr', '<f8']",
        "empty_header": "",
        "empty_dict": "{}",
        "double_comma": "{'descr': '<f8',, 'fortran_order': False, 'shape': (2, 3), }",
        "missing_colon": "{'descr' '<f8', 'fortran_order': False, 'shape': (2, 3), }",
        "lowercase_false": "{'descr': '<f8', 'fortran_order': false, 'shape': (2, 3), }",
        "fortran_is_int": "{'descr': '<f8', 'fortran_order': 0, 'shape': (2, 3), }",
        "shape_is_list": "{'descr': '<f8', 'fortran_order': False, 'shape': [2, 3], }",
        "shape_is_int": "{'descr': '<f8', 'fortran_order': False, 'shape': 6, }",
        "shape_one_no_comma": "{'descr': '<f8', 'fortran_order': False, 'shape': (6), }",
        "shape_negative": "{'descr': '<f8', 'fortran_order': False, 'shape': (-2, 3), }",
        "shape_float": "{'descr': '<f8', 'fortran_order': False, 'shape': (2.0, 3), }",
        "shape_leading_zero": "{'descr': '<f8', 'fortran_order': False, 'shape': (02, 3), }",
        "shape_hex": "{'descr': '<f8', 'fortran_order': False, 'shape': (0x2, 3), }",
        "shape_unclosed": "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3, }",
        "shape_lone_comma": "{'descr': '<f8', 'fortran_order': False, 'shape': (,), }",
        "descr_is_bool": "{'descr': True, 'fortran_order': False, 'shape': (2, 3), }",
        "nul_in_header": "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }\0",
    }
    for name, text in bads.items():
        raw("bad/%s.npy" % name, header(text) + data)
    # Statuses other than NNLA_EFORMAT:
    raw("bad/shape_overflow_dim.npy",  # one extent beyond size_t: NNLA_EOVERFLOW
        header("{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999999, 1), }") + data)
    raw("bad/shape_overflow_product.npy",  # product beyond size_t: NNLA_EOVERFLOW
        header("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }") + data)
    raw("bad/shape_overflow_bytes.npy",  # 2^61 doubles = 2^64 bytes: NNLA_EOVERFLOW
        header("{'descr': '<f8', 'fortran_order': False, 'shape': (2305843009213693952,), }") + data)
    raw("bad/shape_overflow_with_zero.npy",  # product of nonzero extents overflows: NNLA_EOVERFLOW
        header("{'descr': '<f8', 'fortran_order': False, 'shape': (0, 4294967296, 4294967296), }"))
    raw("bad/shape_huge_truncated.npy",  # a valid 2^40-element shape, little data: NNLA_EFORMAT
        header("{'descr': '<f8', 'fortran_order': False, 'shape': (1099511627776,), }") + data)
    raw("bad/descr_i3.npy",  # no such integer size: NNLA_EUNSUPPORTED
        header("{'descr': '<i3', 'fortran_order': False, 'shape': (2, 3), }") + data)
    # Integers beyond 2^53 in magnitude have no exact double: NNLA_EINEXACT (every path: memory,
    # file, pipe; little- and big-endian; C and Fortran order; the bad value last).
    save("bad/i8_beyond_2p53.npy", np.array([0, 2 ** 53, 2 ** 53 + 1], dtype="<i8"))
    save("bad/i8_be_below_minus_2p53.npy", np.array([[-2 ** 53], [-2 ** 53 - 1]], dtype=">i8"))
    save("bad/u8_max.npy", np.array([2 ** 64 - 1], dtype="<u8"))
    save("bad/i8_f_min.npy", np.asfortranarray(np.array([[1, 2], [3, -2 ** 63]], dtype="<i8")))
    # Not .npy at all: a .npz archive as numpy.savez writes it (NNLA_EFORMAT)
    np.savez(os.path.join(HERE, "bad/archive.npz"), a=np.ones(3), b=np.zeros((2, 2)))
    raw("bad/descr_f16.npy",  # NNLA_EUNSUPPORTED
        header("{'descr': '<f16', 'fortran_order': False, 'shape': (2, 3), }") + data)
    raw("bad/descr_empty.npy",  # NNLA_EUNSUPPORTED
        header("{'descr': '', 'fortran_order': False, 'shape': (2, 3), }") + data)


if __name__ == "__main__":
    main()
