/*
 * .npy in and out: golden files written by NumPy (tests/data/npy/make_golden.py), malformed and
 * unsupported files, every truncation, round trips, streams and pipes, argument checks, and the
 * fuzzer's crashers (tests/data/npy/crashers/), each of which must get a clean status.
 *
 * The data directory comes from NNLA_TEST_DATA_DIR (set by tests/npy.cmake) or argv[1].
 */
#define _POSIX_C_SOURCE 200809L /* popen, opendir: the pipe test and the crasher directory */

#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef NNLA_TEST_DATA_DIR
#define NNLA_TEST_DATA_DIR "tests/data/npy"
#endif

static const char *data_dir = NNLA_TEST_DATA_DIR;

/* ------------------------------------------------------------------ helpers */

static char *data_path(const char *name)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s", data_dir, name);
    return buf;
}

/* The whole file in a malloc'd buffer (at least one byte allocated); fails the test if unreadable. */
static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        print_error("cannot open %s\n", path);
        fail();
    }
    size_t cap = 1024, n = 0;
    unsigned char *b = malloc(cap);
    assert_non_null(b);
    for (;;) {
        size_t got = fread(b + n, 1, cap - n, f);
        n += got;
        if (n < cap) break;
        cap *= 2;
        b = realloc(b, cap);
        assert_non_null(b);
    }
    fclose(f);
    *len = n;
    return b;
}

/* Bitwise equality of doubles (so -0.0 differs from 0.0), with any NaN equal to any NaN. */
static void assert_same_double(double actual, double expected, size_t index)
{
    if (isnan(expected) && isnan(actual)) return;
    if (memcmp(&actual, &expected, sizeof(double)) != 0) {
        print_error("element %zu: %.17g, expected %.17g\n", index, actual, expected);
        fail();
    }
}

static void assert_array(const nnla_array *a, size_t ndim, const size_t *shape, const double *expect)
{
    assert_int_equal(a->ndim, ndim);
    size_t size = 1;
    for (size_t i = 0; i < ndim; i++) {
        assert_int_equal(a->shape[i], shape[i]);
        size *= shape[i];
    }
    for (size_t i = ndim; i < NNLA_NPY_MAX_DIMS; i++) assert_int_equal(a->shape[i], 0);
    assert_int_equal(a->size, size);
    assert_non_null(a->data);
    for (size_t i = 0; i < size; i++) assert_same_double(a->data[i], expect[i], i);
}

/* Read a golden file three ways (path, memory, open stream) and check each against the values. */
static void check_golden(const char *name, size_t ndim, const size_t *shape, const double *expect)
{
    nnla_array a = {0};
    assert_status(nnla_npy_read(data_path(name), &a), NNLA_OK);
    assert_array(&a, ndim, shape, expect);
    nnla_array_free(&a);

    size_t len;
    unsigned char *buf = slurp(data_path(name), &len);
    assert_status(nnla_npy_read_mem(buf, len, &a), NNLA_OK);
    assert_array(&a, ndim, shape, expect);
    nnla_array_free(&a);
    free(buf);

    FILE *f = fopen(data_path(name), "rb");
    assert_non_null(f);
    assert_status(nnla_npy_read_file(f, &a), NNLA_OK);
    assert_array(&a, ndim, shape, expect);
    nnla_array_free(&a);
    fclose(f);
}

static const double BASIC[6] = {1.5, -2.25, 3.0, 0.1, 1e300, -0.0};

static void basic32(double out[6])
{
    const float v[6] = {1.5f, -2.25f, 3.0f, 0.1f, 1e30f, -0.0f};
    for (int i = 0; i < 6; i++) out[i] = (double)v[i];
}

/* CUBE[i][j][k] = 100 i + 10 j + k, 2x3x4, in C order. */
static void cube(double out[24])
{
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 4; k++) out[(i * 3 + j) * 4 + k] = 100 * i + 10 * j + k;
}

/* ------------------------------------------------------------------ golden files */

static void test_golden_2d(void **state)
{
    (void)state;
    const size_t s23[2] = {2, 3};
    double b32[6];
    basic32(b32);
    static const char *const f8[] = {"f8_c_2x3.npy",      "f8_f_2x3.npy",        "f8_be_2x3.npy",
                                     "f8_v2_2x3.npy",     "f8_v3_2x3.npy",       "f8_eq_order.npy",
                                     "f8_pipe_order.npy", "f8_no_order.npy",     "f8_py2_long.npy",
                                     "f8_quirky_syntax.npy", "f8_trailing_bytes.npy"};
    for (size_t i = 0; i < sizeof f8 / sizeof *f8; i++) check_golden(f8[i], 2, s23, BASIC);
    static const char *const f4[] = {"f4_c_2x3.npy", "f4_f_2x3.npy", "f4_be_2x3.npy"};
    for (size_t i = 0; i < sizeof f4 / sizeof *f4; i++) check_golden(f4[i], 2, s23, b32);
}

static void test_golden_3d(void **state)
{
    (void)state;
    const size_t s234[3] = {2, 3, 4};
    double c[24];
    cube(c);
    static const char *const names[] = {"f8_c_2x3x4.npy", "f8_f_2x3x4.npy", "f4_f_2x3x4.npy",
                                        "f8_be_f_2x3x4.npy", "f4_v3_f_2x3x4.npy"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) check_golden(names[i], 3, s234, c);
}

static void test_golden_small(void **state)
{
    (void)state;
    const size_t s5[1] = {5};
    check_golden("f8_1d.npy", 1, s5, (const double[]){1, 2, 4, 8, 16});
    check_golden("f8_0d.npy", 0, NULL, (const double[]){3.25});
    check_golden("f4_0d.npy", 0, NULL, (const double[]){-0.5});
    check_golden("f8_empty_0.npy", 1, (const size_t[]){0}, NULL);
    check_golden("f8_empty_0x3.npy", 2, (const size_t[]){0, 3}, NULL);
    check_golden("f8_empty_2x0x5_f.npy", 3, (const size_t[]){2, 0, 5}, NULL);
    check_golden("f8_special.npy", 1, s5,
                 (const double[]){INFINITY, -INFINITY, NAN, 5e-324, -1.7976931348623157e308});
    check_golden("f4_special.npy", 1, s5,
                 (const double[]){INFINITY, -INFINITY, NAN, ldexp(1.0, -149), (double)FLT_MAX});
}

static void test_parse_header(void **state)
{
    (void)state;
    struct {
        const char *name;
        unsigned version;
        nnla_npy_dtype dtype;
        int big, fortran;
        size_t ndim, size, data_offset, item;
    } cases[] = {
        {"f8_c_2x3.npy", 1, NNLA_NPY_FLOAT64, 0, 0, 2, 6, 128, 8},
        {"f8_f_2x3.npy", 1, NNLA_NPY_FLOAT64, 0, 1, 2, 6, 128, 8},
        {"f4_c_2x3.npy", 1, NNLA_NPY_FLOAT32, 0, 0, 2, 6, 128, 4},
        {"f8_be_2x3.npy", 1, NNLA_NPY_FLOAT64, 1, 0, 2, 6, 128, 8},
        {"f8_v2_2x3.npy", 2, NNLA_NPY_FLOAT64, 0, 0, 2, 6, 128, 8},
        {"f8_v3_2x3.npy", 3, NNLA_NPY_FLOAT64, 0, 0, 2, 6, 128, 8},
        {"f8_0d.npy", 1, NNLA_NPY_FLOAT64, 0, 0, 0, 1, 128, 8},
        {"f8_empty_0x3.npy", 1, NNLA_NPY_FLOAT64, 0, 0, 2, 0, 128, 8},
        {"f4_v3_f_2x3x4.npy", 3, NNLA_NPY_FLOAT32, 0, 1, 3, 24, 128, 4},
        {"int/i1_2x3.npy", 1, NNLA_NPY_INT8, 0, 0, 2, 6, 128, 1},
        {"int/i2_be_2x3.npy", 1, NNLA_NPY_INT16, 1, 0, 2, 6, 128, 2},
        {"int/i4_le_2x3.npy", 1, NNLA_NPY_INT32, 0, 0, 2, 6, 128, 4},
        {"int/i8_le_2x3.npy", 1, NNLA_NPY_INT64, 0, 0, 2, 6, 128, 8},
        {"int/u1_2x3.npy", 1, NNLA_NPY_UINT8, 0, 0, 2, 6, 128, 1},
        {"int/u2_le_2x3.npy", 1, NNLA_NPY_UINT16, 0, 0, 2, 6, 128, 2},
        {"int/u4_be_2x3.npy", 1, NNLA_NPY_UINT32, 1, 0, 2, 6, 128, 4},
        {"int/u8_be_2x3.npy", 1, NNLA_NPY_UINT64, 1, 0, 2, 6, 128, 8},
        {"int/b1_f_2x3x4.npy", 1, NNLA_NPY_BOOL, 0, 1, 3, 24, 128, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        size_t len;
        unsigned char *buf = slurp(data_path(cases[i].name), &len);
        nnla_npy_header h;
        assert_status(nnla_npy_parse_header(buf, len, &h), NNLA_OK);
        assert_int_equal(h.version_major, cases[i].version);
        assert_int_equal(h.version_minor, 0);
        assert_int_equal(h.dtype, cases[i].dtype);
        assert_int_equal(!!h.big_endian, cases[i].big);
        assert_int_equal(!!h.fortran_order, cases[i].fortran);
        assert_int_equal(h.ndim, cases[i].ndim);
        assert_int_equal(h.size, cases[i].size);
        assert_int_equal(h.data_offset, cases[i].data_offset);
        assert_int_equal(h.item_size, cases[i].item);
        assert_int_equal(h.data_bytes, cases[i].size * cases[i].item);
        /* The header alone suffices. */
        assert_status(nnla_npy_parse_header(buf, h.data_offset, &h), NNLA_OK);
        free(buf);
    }
}

/* ------------------------------------------------------------------ bad input */

static const struct {
    const char *name;
    nnla_status status;
} bad_files[] = {
    {"bad/empty.npy", NNLA_EFORMAT},
    {"bad/magic_only.npy", NNLA_EFORMAT},
    {"bad/bad_magic.npy", NNLA_EFORMAT},
    {"bad/text_file.npy", NNLA_EFORMAT},
    {"bad/truncated_preamble.npy", NNLA_EFORMAT},
    {"bad/truncated_header.npy", NNLA_EFORMAT},
    {"bad/truncated_data.npy", NNLA_EFORMAT},
    {"bad/no_data.npy", NNLA_EFORMAT},
    {"bad/header_len_too_big.npy", NNLA_EFORMAT},
    {"bad/v2_header_len_huge.npy", NNLA_EFORMAT},
    {"bad/v2_header_len_over_cap.npy", NNLA_EFORMAT},
    {"bad/missing_descr.npy", NNLA_EFORMAT},
    {"bad/missing_shape.npy", NNLA_EFORMAT},
    {"bad/missing_fortran.npy", NNLA_EFORMAT},
    {"bad/extra_key.npy", NNLA_EFORMAT},
    {"bad/duplicate_key.npy", NNLA_EFORMAT},
    {"bad/unterminated_string.npy", NNLA_EFORMAT},
    {"bad/mismatched_quotes.npy", NNLA_EFORMAT},
    {"bad/unquoted_key.npy", NNLA_EFORMAT},
    {"bad/escape_in_string.npy", NNLA_EFORMAT},
    {"bad/trailing_junk.npy", NNLA_EFORMAT},
    {"bad/two_dicts.npy", NNLA_EFORMAT},
    {"bad/no_closing_brace.npy", NNLA_EFORMAT},
    {"bad/not_a_dict.npy", NNLA_EFORMAT},
    {"bad/empty_header.npy", NNLA_EFORMAT},
    {"bad/empty_dict.npy", NNLA_EFORMAT},
    {"bad/double_comma.npy", NNLA_EFORMAT},
    {"bad/missing_colon.npy", NNLA_EFORMAT},
    {"bad/lowercase_false.npy", NNLA_EFORMAT},
    {"bad/fortran_is_int.npy", NNLA_EFORMAT},
    {"bad/shape_is_list.npy", NNLA_EFORMAT},
    {"bad/shape_is_int.npy", NNLA_EFORMAT},
    {"bad/shape_one_no_comma.npy", NNLA_EFORMAT},
    {"bad/shape_negative.npy", NNLA_EFORMAT},
    {"bad/shape_float.npy", NNLA_EFORMAT},
    {"bad/shape_leading_zero.npy", NNLA_EFORMAT},
    {"bad/shape_hex.npy", NNLA_EFORMAT},
    {"bad/shape_unclosed.npy", NNLA_EFORMAT},
    {"bad/shape_lone_comma.npy", NNLA_EFORMAT},
    {"bad/descr_is_bool.npy", NNLA_EFORMAT},
    {"bad/nul_in_header.npy", NNLA_EFORMAT},
    {"bad/shape_huge_truncated.npy", NNLA_EFORMAT},
    {"bad/shape_overflow_dim.npy", NNLA_EOVERFLOW},
    {"bad/shape_overflow_product.npy", NNLA_EOVERFLOW},
    {"bad/shape_overflow_bytes.npy", NNLA_EOVERFLOW},
    {"bad/shape_overflow_with_zero.npy", NNLA_EOVERFLOW},
    {"bad/descr_i3.npy", NNLA_EUNSUPPORTED},
    {"bad/descr_f16.npy", NNLA_EUNSUPPORTED},
    {"bad/descr_empty.npy", NNLA_EUNSUPPORTED},
    {"bad/archive.npz", NNLA_EFORMAT},
    {"bad/i8_beyond_2p53.npy", NNLA_EINEXACT},
    {"bad/i8_be_below_minus_2p53.npy", NNLA_EINEXACT},
    {"bad/u8_max.npy", NNLA_EINEXACT},
    {"bad/i8_f_min.npy", NNLA_EINEXACT},
    {"unsupported/M8.npy", NNLA_EUNSUPPORTED},
    {"unsupported/c16.npy", NNLA_EUNSUPPORTED},
    {"unsupported/f2.npy", NNLA_EUNSUPPORTED},
    {"unsupported/u3.npy", NNLA_EUNSUPPORTED},
    {"unsupported/structured.npy", NNLA_EUNSUPPORTED},
    {"unsupported/v3_structured_utf8.npy", NNLA_EUNSUPPORTED},
    {"unsupported/version_4_0.npy", NNLA_EUNSUPPORTED},
    {"unsupported/version_1_1.npy", NNLA_EUNSUPPORTED},
    {"unsupported/65_dims.npy", NNLA_EUNSUPPORTED},
};

/* A failed read leaves its output untouched: compare with a sentinel pattern. */
static void assert_read_fails(nnla_status got, nnla_status want, const nnla_array *a, const char *name)
{
    nnla_array sentinel;
    memset(&sentinel, 0xAB, sizeof sentinel);
    if (got != want) print_error("%s\n", name);
    assert_status(got, want);
    assert_memory_equal(a, &sentinel, sizeof sentinel);
}

static void test_bad_files(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_files / sizeof *bad_files; i++) {
        const char *name = bad_files[i].name;
        nnla_status want = bad_files[i].status;
        nnla_array a;
        memset(&a, 0xAB, sizeof a);
        assert_read_fails(nnla_npy_read(data_path(name), &a), want, &a, name);

        size_t len;
        unsigned char *buf = slurp(data_path(name), &len);
        assert_read_fails(nnla_npy_read_mem(buf, len, &a), want, &a, name);
        free(buf);

        FILE *f = fopen(data_path(name), "rb");
        assert_non_null(f);
        assert_read_fails(nnla_npy_read_file(f, &a), want, &a, name);
        fclose(f);
    }
}

/* The status class nnla_npy_parse_header gives for each verdict of nnla_npy_diagnose. */
static nnla_status verdict_status(nnla_npy_verdict v)
{
    switch (v) {
    case NNLA_NPY_READABLE:
        return NNLA_OK;
    case NNLA_NPY_BAD_VERSION:
    case NNLA_NPY_BAD_DTYPE:
    case NNLA_NPY_TOO_MANY_DIMS:
        return NNLA_EUNSUPPORTED;
    case NNLA_NPY_TOO_LARGE:
        return NNLA_EOVERFLOW;
    default:
        return NNLA_EFORMAT;
    }
}

static void test_diagnose(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        nnla_npy_verdict verdict;
        const char *descr; /* NULL: none; "[": a list starting so */
        unsigned major, minor;
    } cases[] = {
        {"f8_c_2x3.npy", NNLA_NPY_READABLE, "<f8", 1, 0},
        {"f4_v3_f_2x3x4.npy", NNLA_NPY_READABLE, "<f4", 3, 0},
        {"int/b1_2x3.npy", NNLA_NPY_READABLE, "|b1", 1, 0},
        {"int/u4_be_2x3.npy", NNLA_NPY_READABLE, ">u4", 1, 0},
        {"bad/i8_beyond_2p53.npy", NNLA_NPY_READABLE, "<i8", 1, 0},   /* the values are not looked at */
        {"bad/truncated_data.npy", NNLA_NPY_READABLE, "<f8", 1, 0}, /* nor the data's length */
        {"bad/empty.npy", NNLA_NPY_EMPTY, NULL, 0, 0},
        {"bad/archive.npz", NNLA_NPY_NPZ, NULL, 0, 0},
        {"bad/text_file.npy", NNLA_NPY_NOT_NPY, NULL, 0, 0},
        {"bad/bad_magic.npy", NNLA_NPY_NOT_NPY, NULL, 0, 0},
        {"bad/magic_only.npy", NNLA_NPY_TRUNCATED, NULL, 0, 0},
        {"bad/truncated_preamble.npy", NNLA_NPY_TRUNCATED, NULL, 1, 0},
        {"bad/truncated_header.npy", NNLA_NPY_TRUNCATED, NULL, 1, 0},
        {"bad/header_len_too_big.npy", NNLA_NPY_TRUNCATED, NULL, 1, 0},
        {"bad/v2_header_len_over_cap.npy", NNLA_NPY_MALFORMED, NULL, 2, 0},
        {"bad/missing_descr.npy", NNLA_NPY_MALFORMED, NULL, 1, 0},
        {"bad/duplicate_key.npy", NNLA_NPY_MALFORMED, "<f8", 1, 0},
        {"bad/descr_is_bool.npy", NNLA_NPY_MALFORMED, NULL, 1, 0},
        {"bad/descr_f16.npy", NNLA_NPY_BAD_DTYPE, "<f16", 1, 0},
        {"bad/descr_i3.npy", NNLA_NPY_BAD_DTYPE, "<i3", 1, 0},
        {"bad/descr_empty.npy", NNLA_NPY_BAD_DTYPE, "", 1, 0},
        {"unsupported/c16.npy", NNLA_NPY_BAD_DTYPE, "<c16", 1, 0},
        {"unsupported/M8.npy", NNLA_NPY_BAD_DTYPE, "<M8[D]", 1, 0},
        {"unsupported/u3.npy", NNLA_NPY_BAD_DTYPE, "<U3", 1, 0},
        {"unsupported/structured.npy", NNLA_NPY_BAD_DTYPE, "[", 1, 0},
        {"unsupported/version_4_0.npy", NNLA_NPY_BAD_VERSION, NULL, 4, 0},
        {"unsupported/version_1_1.npy", NNLA_NPY_BAD_VERSION, NULL, 1, 1},
        {"unsupported/65_dims.npy", NNLA_NPY_TOO_MANY_DIMS, "<f8", 1, 0},
        {"bad/shape_overflow_dim.npy", NNLA_NPY_TOO_LARGE, "<f8", 1, 0},
        {"bad/shape_overflow_with_zero.npy", NNLA_NPY_TOO_LARGE, "<f8", 1, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        size_t len;
        unsigned char *buf = slurp(data_path(cases[i].name), &len);
        nnla_npy_diagnosis d;
        assert_status(nnla_npy_diagnose(len ? buf : NULL, len, &d), NNLA_OK);
        if (d.verdict != cases[i].verdict)
            print_error("%s: verdict %d, expected %d\n", cases[i].name, (int)d.verdict,
                        (int)cases[i].verdict);
        assert_int_equal(d.verdict, cases[i].verdict);
        assert_int_equal(d.version_major, cases[i].major);
        assert_int_equal(d.version_minor, cases[i].minor);
        if (cases[i].descr == NULL) {
            assert_null(d.descr);
            assert_int_equal(d.descr_len, 0);
        } else if (strcmp(cases[i].descr, "[") == 0) {
            assert_true(d.descr != NULL && d.descr_len > 2);
            assert_true(d.descr[0] == '[' && d.descr[d.descr_len - 1] == ']');
        } else {
            assert_non_null(d.descr);
            assert_int_equal(d.descr_len, strlen(cases[i].descr));
            assert_memory_equal(d.descr, cases[i].descr, d.descr_len);
            /* it points into the buffer */
            const unsigned char *p = (const unsigned char *)d.descr;
            assert_true(p >= buf && p + d.descr_len <= buf + len);
        }
        /* the header alone suffices: the same verdict from the preamble and header only */
        nnla_npy_header h;
        if (nnla_npy_parse_header(buf, len, &h) == NNLA_OK) {
            nnla_npy_diagnosis e;
            assert_status(nnla_npy_diagnose(buf, h.data_offset, &e), NNLA_OK);
            assert_int_equal(e.verdict, NNLA_NPY_READABLE);
        }
        free(buf);
    }
    /* Every file of the bad and golden sets: the verdict agrees with the header parser's status. */
    for (size_t i = 0; i < sizeof bad_files / sizeof *bad_files; i++) {
        size_t len;
        unsigned char *buf = slurp(data_path(bad_files[i].name), &len);
        nnla_npy_diagnosis d;
        nnla_npy_header h;
        assert_status(nnla_npy_diagnose(buf, len, &d), NNLA_OK);
        nnla_status st = nnla_npy_parse_header(buf, len, &h);
        if (st != verdict_status(d.verdict)) print_error("%s\n", bad_files[i].name);
        assert_status(st, verdict_status(d.verdict));
        free(buf);
    }
    nnla_npy_diagnosis d;
    memset(&d, 0x5A, sizeof d);
    assert_status(nnla_npy_diagnose(NULL, 0, &d), NNLA_OK);
    assert_int_equal(d.verdict, NNLA_NPY_EMPTY);
    assert_status(nnla_npy_diagnose(NULL, 3, &d), NNLA_ENULL);
    assert_status(nnla_npy_diagnose("x", 1, NULL), NNLA_ENULL);
    /* a prefix of the magic string is a truncated .npy, a prefix of "PK\3\4" is not an archive */
    assert_status(nnla_npy_diagnose("\x93NUM", 4, &d), NNLA_OK);
    assert_int_equal(d.verdict, NNLA_NPY_TRUNCATED);
    assert_status(nnla_npy_diagnose("PK\x03", 3, &d), NNLA_OK);
    assert_int_equal(d.verdict, NNLA_NPY_NOT_NPY);
}

/* Every proper prefix of a valid file's header + data is refused as NNLA_EFORMAT, in memory and on disk. */
static void test_every_truncation(void **state)
{
    (void)state;
    static const char *const names[] = {"f8_c_2x3.npy",         "f4_f_2x3x4.npy",      "f8_v3_2x3.npy",
                                        "f8_0d.npy",            "f8_be_f_2x3x4.npy",   "f8_quirky_syntax.npy",
                                        "int/i2_be_2x3.npy",    "int/b1_f_2x3x4.npy",  "int/u8_le_2x3.npy"};
    for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
        size_t len;
        unsigned char *buf = slurp(data_path(names[k]), &len);
        nnla_npy_header h;
        assert_status(nnla_npy_parse_header(buf, len, &h), NNLA_OK);
        size_t full = h.data_offset + h.data_bytes;
        assert_true(full == len);
        for (size_t n = 0; n < full; n++) {
            nnla_array a;
            memset(&a, 0xAB, sizeof a);
            /* A copy of exactly n bytes, so that ASan sees any read past them. */
            unsigned char *cut = malloc(n > 0 ? n : 1);
            assert_non_null(cut);
            memcpy(cut, buf, n);
            assert_read_fails(nnla_npy_read_mem(cut, n, &a), NNLA_EFORMAT, &a, names[k]);
            free(cut);

            FILE *g = tmpfile(); /* a file of exactly n bytes */
            assert_non_null(g);
            assert_int_equal(fwrite(buf, 1, n, g), n);
            rewind(g);
            assert_read_fails(nnla_npy_read_file(g, &a), NNLA_EFORMAT, &a, names[k]);
            fclose(g);
        }
        free(buf);
    }
}

/* Every header byte of a valid file replaced by a few values: never a crash, only the documented statuses. */
static void test_header_mutations(void **state)
{
    (void)state;
    size_t len;
    unsigned char *buf = slurp(data_path("f4_f_2x3x4.npy"), &len);
    static const unsigned char subst[] = {0,   ' ', '\'', '"', '(', ')', ',', ':', '{', '}', '[', ']',
                                          '0', '9', 'L',  'T', 'F', '<', '>', '=', '|', 'f', '\n', 0xFF};
    size_t ok = 0;
    for (size_t pos = 0; pos < 128; pos++)
        for (size_t s = 0; s < sizeof subst; s++) {
            unsigned char *m = malloc(len);
            assert_non_null(m);
            memcpy(m, buf, len);
            m[pos] = subst[s];
            nnla_array a = {0};
            nnla_status st = nnla_npy_read_mem(m, len, &a);
            assert_true(st == NNLA_OK || st == NNLA_EFORMAT || st == NNLA_EUNSUPPORTED ||
                        st == NNLA_EOVERFLOW || st == NNLA_EINEXACT);
            if (st == NNLA_OK) {
                ok++;
                assert_non_null(a.data);
            }
            nnla_array_free(&a);
            free(m);
        }
    assert_true(ok > 0); /* e.g. spaces in the padding, or '>' for '<' */
    free(buf);
}

/* ------------------------------------------------------------------ big arrays, streams and pipes */

/* A .npy stream in memory around a dict text and raw data (padded as NumPy pads). */
static unsigned char *make_npy(const char *dict, const void *data, size_t nbytes, size_t *len)
{
    size_t dl = strlen(dict);
    size_t hlen = dl + 1;
    size_t pad = (64 - (10 + hlen) % 64) % 64;
    *len = 10 + hlen + pad + nbytes;
    unsigned char *b = malloc(*len);
    assert_non_null(b);
    memcpy(b, "\x93NUMPY\x01\x00", 8);
    b[8] = (unsigned char)((hlen + pad) & 0xff);
    b[9] = (unsigned char)((hlen + pad) >> 8);
    memcpy(b + 10, dict, dl);
    memset(b + 10 + dl, ' ', pad);
    b[10 + dl + pad] = '\n';
    memcpy(b + 10 + hlen + pad, data, nbytes);
    return b;
}

static void check_big(const unsigned char *file, size_t len, const double *expect, size_t n)
{
    const size_t shape[3] = {3, 7, 1000};
    nnla_array a = {0};
    assert_status(nnla_npy_read_mem(file, len, &a), NNLA_OK);
    assert_array(&a, 3, shape, expect);
    nnla_array_free(&a);
    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(fwrite(file, 1, len, f), len);
    rewind(f);
    assert_status(nnla_npy_read_file(f, &a), NNLA_OK);
    assert_array(&a, 3, shape, expect);
    nnla_array_free(&a);
    fclose(f);
    (void)n;
}

/*
 * Fortran-ordered float32 and big-endian float64 arrays larger than the reader's 64 KiB
 * conversion chunk, so the odometer carries across chunks.
 */
static void test_big_fortran(void **state)
{
    (void)state;
    const size_t n0 = 3, n1 = 7, n2 = 1000, n = n0 * n1 * n2;
    double *expect = malloc(n * sizeof *expect);
    float *f32 = malloc(n * sizeof *f32);
    unsigned char *be = malloc(n * 8);
    assert_true(expect && f32 && be);
    for (size_t i = 0; i < n0; i++)
        for (size_t j = 0; j < n1; j++)
            for (size_t k = 0; k < n2; k++) {
                size_t fidx = i + n0 * (j + n1 * k);
                double v = (double)fidx + 0.5;
                expect[(i * n1 + j) * n2 + k] = v;
                f32[fidx] = (float)v;
                uint64_t u;
                memcpy(&u, &v, 8);
                for (int b = 0; b < 8; b++) be[fidx * 8 + (size_t)b] = (unsigned char)(u >> (56 - 8 * b));
            }
    size_t len;
    unsigned char *file =
        make_npy("{'descr': '<f4', 'fortran_order': True, 'shape': (3, 7, 1000), }", f32, n * 4, &len);
    check_big(file, len, expect, n);
    free(file);
    file = make_npy("{'descr': '>f8', 'fortran_order': True, 'shape': (3, 7, 1000), }", be, n * 8, &len);
    check_big(file, len, expect, n);
    free(file);
    free(expect);
    free(f32);
    free(be);
}

/* The values make_golden.py's int_extremes() gives a type: its least and greatest value within
 * +-2^53, then 0, 1, -1 (2 if unsigned), 42. */
static void int_extremes(int is_signed, int bytes, double out[6])
{
    double hi = bytes == 8 ? ldexp(1.0, 53) : ldexp(1.0, 8 * bytes - is_signed) - 1.0;
    double lo = !is_signed ? 0.0 : bytes == 8 ? -ldexp(1.0, 53) : -ldexp(1.0, 8 * bytes - 1);
    const double v[6] = {lo, hi, 0.0, 1.0, is_signed ? -1.0 : 2.0, 42.0};
    memcpy(out, v, sizeof v);
}

/* Integers of every size, signed and unsigned, both byte orders, and booleans: exact doubles. */
static void test_golden_int(void **state)
{
    (void)state;
    const size_t s23[2] = {2, 3};
    static const int sizes[4] = {1, 2, 4, 8};
    double want[6];
    char name[64];
    for (int sgn = 0; sgn < 2; sgn++)
        for (int k = 0; k < 4; k++) {
            int bytes = sizes[k];
            int_extremes(sgn, bytes, want);
            if (bytes == 1) {
                snprintf(name, sizeof name, "int/%c1_2x3.npy", sgn ? 'i' : 'u');
                check_golden(name, 2, s23, want);
                continue;
            }
            for (int be = 0; be < 2; be++) {
                snprintf(name, sizeof name, "int/%c%d_%s_2x3.npy", sgn ? 'i' : 'u', bytes, be ? "be" : "le");
                check_golden(name, 2, s23, want);
            }
        }
    check_golden("int/b1_2x3.npy", 2, s23, (const double[]){1, 0, 1, 0, 0, 1});
    double c[24], odd[24];
    cube(c);
    for (int i = 0; i < 24; i++) odd[i] = fmod(c[i], 3.0) == 1.0 ? 1.0 : 0.0;
    check_golden("int/i4_be_f_2x3x4.npy", 3, (const size_t[]){2, 3, 4}, c);
    check_golden("int/b1_f_2x3x4.npy", 3, (const size_t[]){2, 3, 4}, odd);
    check_golden("int/i1_0d.npy", 0, NULL, (const double[]){-5});
    check_golden("int/u8_empty_0x4.npy", 2, (const size_t[]){0, 4}, NULL);

    /* A bool byte other than 0 and 1 (NumPy never writes one) reads as 1. */
    const unsigned char bytes[4] = {0, 1, 2, 255};
    size_t len;
    unsigned char *file =
        make_npy("{'descr': '|b1', 'fortran_order': False, 'shape': (4,), }", bytes, 4, &len);
    nnla_array a = {0};
    assert_status(nnla_npy_read_mem(file, len, &a), NNLA_OK);
    assert_array(&a, 1, (const size_t[]){4}, (const double[]){0, 1, 1, 1});
    nnla_array_free(&a);
    free(file);

    /* 2^53 + 1 is refused in every integer path; +-2^53 is read. A big array, so the stream
     * reader converts it in several chunks and meets the bad value in the last one. */
    const size_t n = 20000;
    int64_t *v = malloc(n * sizeof *v);
    double *expect = malloc(n * sizeof *expect);
    assert_true(v && expect);
    for (size_t i = 0; i < n; i++) /* large values of both signs, all within 2^53 */
        expect[i] = (double)(v[i] = (int64_t)i * (i % 2 ? 1 : -1) * 450359962737LL);
    v[n - 1] = (int64_t)1 << 53;
    v[n - 2] = -((int64_t)1 << 53);
    expect[n - 1] = ldexp(1.0, 53);
    expect[n - 2] = -ldexp(1.0, 53);
    file = make_npy("{'descr': '<i8', 'fortran_order': False, 'shape': (20000,), }", v, n * 8, &len);
    assert_status(nnla_npy_read_mem(file, len, &a), NNLA_OK);
    assert_array(&a, 1, (const size_t[]){n}, expect);
    nnla_array_free(&a);
    free(file);
    for (int sign = -1; sign <= 1; sign += 2) {
        v[n - 1] = sign * (((int64_t)1 << 53) + 1);
        file = make_npy("{'descr': '<i8', 'fortran_order': False, 'shape': (20000,), }", v, n * 8, &len);
        memset(&a, 0xAB, sizeof a);
        assert_read_fails(nnla_npy_read_mem(file, len, &a), NNLA_EINEXACT, &a, "i8 2^53+1 in memory");
        FILE *f = tmpfile();
        assert_non_null(f);
        assert_int_equal(fwrite(file, 1, len, f), len);
        rewind(f);
        assert_read_fails(nnla_npy_read_file(f, &a), NNLA_EINEXACT, &a, "i8 2^53+1 from a file");
        fclose(f);
        free(file);
    }
    free(v);
    free(expect);
}

/* Several arrays saved one after another to one stream are read in turn. */
static void test_stream_sequence(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    assert_non_null(f);
    const double a[6] = {1, 2, 3, 4, 5, 6}, s = 7.5;
    assert_status(nnla_npy_write_file(f, a, 2, (const size_t[]){2, 3}), NNLA_OK);
    assert_status(nnla_npy_write_file(f, &s, 0, NULL), NNLA_OK);
    assert_status(nnla_npy_write_file(f, NULL, 2, (const size_t[]){0, 4}), NNLA_OK);
    rewind(f);
    nnla_array x = {0};
    assert_status(nnla_npy_read_file(f, &x), NNLA_OK);
    assert_array(&x, 2, (const size_t[]){2, 3}, a);
    nnla_array_free(&x);
    assert_status(nnla_npy_read_file(f, &x), NNLA_OK);
    assert_array(&x, 0, NULL, &s);
    nnla_array_free(&x);
    assert_status(nnla_npy_read_file(f, &x), NNLA_OK);
    assert_array(&x, 2, (const size_t[]){0, 4}, NULL);
    nnla_array_free(&x);
    assert_status(nnla_npy_read_file(f, &x), NNLA_EFORMAT); /* at the end of the stream */
    fclose(f);
}

/* A pipe cannot seek: truncation is found while reading the data, which is then freed (ASan: no leak). */
static void test_pipe(void **state)
{
    (void)state;
    char cmd[4200];
    double c[24];
    cube(c);
    snprintf(cmd, sizeof cmd, "cat '%s'", data_path("f8_be_f_2x3x4.npy"));
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    nnla_array a = {0};
    assert_status(nnla_npy_read_file(p, &a), NNLA_OK);
    assert_array(&a, 3, (const size_t[]){2, 3, 4}, c);
    nnla_array_free(&a);
    pclose(p);

    snprintf(cmd, sizeof cmd, "cat '%s'", data_path("f8_c_2x3.npy")); /* the plain path */
    p = popen(cmd, "r");
    assert_non_null(p);
    assert_status(nnla_npy_read_file(p, &a), NNLA_OK);
    assert_array(&a, 2, (const size_t[]){2, 3}, BASIC);
    nnla_array_free(&a);
    pclose(p);

    snprintf(cmd, sizeof cmd, "cat '%s'", data_path("bad/truncated_data.npy"));
    p = popen(cmd, "r");
    assert_non_null(p);
    assert_status(nnla_npy_read_file(p, &a), NNLA_EFORMAT);
    assert_null(a.data);
    pclose(p);

    snprintf(cmd, sizeof cmd, "cat '%s'", data_path("bad/i8_f_min.npy")); /* -2^63: inexact */
    p = popen(cmd, "r");
    assert_non_null(p);
    assert_status(nnla_npy_read_file(p, &a), NNLA_EINEXACT);
    assert_null(a.data);
    pclose(p);

    snprintf(cmd, sizeof cmd, "cat '%s'", data_path("int/i4_be_f_2x3x4.npy")); /* ints from a pipe */
    p = popen(cmd, "r");
    assert_non_null(p);
    assert_status(nnla_npy_read_file(p, &a), NNLA_OK);
    assert_array(&a, 3, (const size_t[]){2, 3, 4}, c);
    nnla_array_free(&a);
    pclose(p);

    snprintf(cmd, sizeof cmd, "cat '%s'", data_path("bad/shape_huge_truncated.npy"));
    p = popen(cmd, "r");
    assert_non_null(p);
    /* 8 TiB claimed, 48 bytes given: memory grows with the data that arrives, never to 8 TiB. */
    assert_status(nnla_npy_read_file(p, &a), NNLA_EFORMAT);
    pclose(p);
}

/* ------------------------------------------------------------------ writing */

/* Our files are byte for byte those of numpy.save for C-order float64 arrays. */
static void test_write_matches_numpy(void **state)
{
    (void)state;
    double c[24];
    cube(c);
    struct {
        const char *name;
        size_t ndim;
        size_t shape[3];
        const double *data;
    } cases[] = {
        {"f8_c_2x3.npy", 2, {2, 3}, BASIC},
        {"f8_c_2x3x4.npy", 3, {2, 3, 4}, c},
        {"f8_1d.npy", 1, {5}, (const double[]){1, 2, 4, 8, 16}},
        {"f8_0d.npy", 0, {0}, (const double[]){3.25}},
        {"f8_empty_0.npy", 1, {0}, NULL},
        {"f8_empty_0x3.npy", 2, {0, 3}, NULL},
        {"f8_special.npy", 1, {5},
         (const double[]){INFINITY, -INFINITY, NAN, 5e-324, -1.7976931348623157e308}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        size_t len, need, written = 0;
        unsigned char *want = slurp(data_path(cases[i].name), &len);
        assert_status(nnla_npy_encoded_size(cases[i].ndim, cases[i].shape, &need), NNLA_OK);
        assert_int_equal(need, len);
        unsigned char *got = malloc(need);
        assert_non_null(got);
        assert_status(nnla_npy_write_mem(cases[i].data, cases[i].ndim, cases[i].shape, got, need, &written),
                      NNLA_OK);
        assert_int_equal(written, need);
        if (strcmp(cases[i].name, "f8_special.npy") != 0) /* NaN payloads may differ */
            assert_memory_equal(got, want, len);
        else
            assert_memory_equal(got, want, 128);
        free(got);
        free(want);
    }
}

static void test_round_trip_random(void **state)
{
    (void)state;
    nnla_test_rng rng = {2024};
    for (int trial = 0; trial < 300; trial++) {
        size_t ndim = nnla_test_int(&rng, 0, 6), shape[6], size = 1;
        for (size_t i = 0; i < ndim; i++) {
            shape[i] = nnla_test_int(&rng, 0, 5);
            if (trial % 7 != 0 && shape[i] == 0) shape[i] = 1; /* mostly non-empty */
            size *= shape[i];
        }
        double *x = malloc((size ? size : 1) * sizeof *x);
        assert_non_null(x);
        for (size_t i = 0; i < size; i++)
            x[i] = nnla_test_normal(&rng) * pow(10.0, nnla_test_uniform(&rng, -300, 300));
        size_t need;
        assert_status(nnla_npy_encoded_size(ndim, shape, &need), NNLA_OK);
        unsigned char *buf = malloc(need);
        assert_non_null(buf);
        assert_status(nnla_npy_write_mem(x, ndim, shape, buf, need, NULL), NNLA_OK);
        nnla_npy_header h;
        assert_status(nnla_npy_parse_header(buf, need, &h), NNLA_OK);
        assert_int_equal(h.data_offset % 64, 0);
        assert_int_equal(h.data_offset + h.data_bytes, need);
        nnla_array a = {0};
        assert_status(nnla_npy_read_mem(buf, need, &a), NNLA_OK);
        assert_array(&a, ndim, shape, x);
        nnla_array_free(&a);
        free(buf);
        free(x);
    }
}

static void test_write_path(void **state)
{
    (void)state;
    char dir[] = "/tmp/nnla_test_npy_XXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/x.npy", dir);
    const double x[4] = {1, -2, 3, -4};
    assert_status(nnla_npy_write(path, x, 2, (const size_t[]){2, 2}), NNLA_OK);
    assert_status(nnla_npy_write(path, x, 1, (const size_t[]){3}), NNLA_OK); /* replaces it */
    nnla_array a = {0};
    assert_status(nnla_npy_read(path, &a), NNLA_OK);
    assert_array(&a, 1, (const size_t[]){3}, x);

    /* nnla_npy_write_array, and its size check. */
    a.data[0] = 42;
    assert_status(nnla_npy_write_array(path, &a), NNLA_OK);
    nnla_array b = {0};
    assert_status(nnla_npy_read(path, &b), NNLA_OK);
    assert_array(&b, 1, (const size_t[]){3}, a.data);
    nnla_array_free(&b);
    a.size = 2;
    assert_status(nnla_npy_write_array(path, &a), NNLA_EINVAL);
    a.size = 3;
    nnla_array_free(&a);
    assert_int_equal(remove(path), 0);
    assert_int_equal(remove(dir), 0);

    /* I/O errors: a missing directory, and a device that is always full. */
    errno = 0;
    assert_status(nnla_npy_read("/nonexistent-nnla-dir/x.npy", &a), NNLA_EIO);
    assert_int_equal(errno, ENOENT);
    assert_status(nnla_npy_write("/nonexistent-nnla-dir/x.npy", x, 1, (const size_t[]){4}), NNLA_EIO);
    FILE *full = fopen("/dev/full", "wb");
    if (full != NULL) {
        setvbuf(full, NULL, _IONBF, 0);
        assert_status(nnla_npy_write_file(full, x, 1, (const size_t[]){4}), NNLA_EIO);
        fclose(full);
    }
    /* A directory opens on Linux but cannot be read. */
    assert_status(nnla_npy_read("/", &a), NNLA_EIO);
}

static void test_write_args(void **state)
{
    (void)state;
    const double x[4] = {1, 2, 3, 4};
    size_t shape[NNLA_NPY_MAX_DIMS + 1], need;
    for (size_t i = 0; i <= NNLA_NPY_MAX_DIMS; i++) shape[i] = 1;
    unsigned char buf[4096];

    assert_status(nnla_npy_encoded_size(0, NULL, NULL), NNLA_ENULL);
    assert_status(nnla_npy_encoded_size(1, NULL, &need), NNLA_ENULL);
    assert_status(nnla_npy_encoded_size(NNLA_NPY_MAX_DIMS + 1, shape, &need), NNLA_EUNSUPPORTED);
    assert_status(nnla_npy_encoded_size(NNLA_NPY_MAX_DIMS, shape, &need), NNLA_OK);
    assert_true(need <= sizeof buf);
    assert_status(nnla_npy_write_mem(x, NNLA_NPY_MAX_DIMS, shape, buf, sizeof buf, NULL), NNLA_OK);
    nnla_array a = {0};
    assert_status(nnla_npy_read_mem(buf, need, &a), NNLA_OK);
    assert_int_equal(a.ndim, NNLA_NPY_MAX_DIMS);
    assert_int_equal(a.size, 1);
    nnla_array_free(&a);

    const size_t huge[2] = {SIZE_MAX / 4, 3};
    assert_status(nnla_npy_encoded_size(2, huge, &need), NNLA_EOVERFLOW);
    assert_status(nnla_npy_write_mem(x, 2, huge, buf, sizeof buf, NULL), NNLA_EOVERFLOW);
    const size_t big_empty[3] = {0, SIZE_MAX / 2, 3};
    assert_status(nnla_npy_encoded_size(3, big_empty, &need), NNLA_EOVERFLOW);

    assert_status(nnla_npy_write_mem(NULL, 1, (const size_t[]){4}, buf, sizeof buf, NULL), NNLA_ENULL);
    assert_status(nnla_npy_write_mem(x, 1, (const size_t[]){4}, NULL, sizeof buf, NULL), NNLA_ENULL);
    assert_status(nnla_npy_write_mem(NULL, 1, (const size_t[]){0}, buf, sizeof buf, NULL), NNLA_OK);
    assert_status(nnla_npy_encoded_size(1, (const size_t[]){4}, &need), NNLA_OK);
    memset(buf, 0x5A, sizeof buf);
    unsigned char copy[4096];
    memcpy(copy, buf, sizeof buf);
    assert_status(nnla_npy_write_mem(x, 1, (const size_t[]){4}, buf, need - 1, NULL), NNLA_EWORKSPACE);
    assert_memory_equal(buf, copy, sizeof buf);
    double *alias = (double *)(void *)buf;
    assert_status(nnla_npy_write_mem(alias, 1, (const size_t[]){4}, buf, sizeof buf, NULL), NNLA_EALIAS);

    assert_status(nnla_npy_write_file(NULL, x, 1, (const size_t[]){4}), NNLA_ENULL);
    assert_status(nnla_npy_write(NULL, x, 1, (const size_t[]){4}), NNLA_ENULL);
    assert_status(nnla_npy_write("unused.npy", x, NNLA_NPY_MAX_DIMS + 1, shape), NNLA_EUNSUPPORTED);
    assert_status(nnla_npy_write_array("unused.npy", NULL), NNLA_ENULL);
}

static void test_read_args(void **state)
{
    (void)state;
    nnla_array a = {0};
    nnla_npy_header h;
    assert_status(nnla_npy_read(NULL, &a), NNLA_ENULL);
    assert_status(nnla_npy_read(data_path("f8_0d.npy"), NULL), NNLA_ENULL);
    assert_status(nnla_npy_read_mem(NULL, 10, &a), NNLA_ENULL);
    assert_status(nnla_npy_read_mem(NULL, 0, &a), NNLA_EFORMAT);
    assert_status(nnla_npy_read_mem("x", 1, NULL), NNLA_ENULL);
    assert_status(nnla_npy_read_file(NULL, &a), NNLA_ENULL);
    assert_status(nnla_npy_parse_header(NULL, 0, &h), NNLA_EFORMAT);
    assert_status(nnla_npy_parse_header("x", 1, NULL), NNLA_ENULL);
}

/* ------------------------------------------------------------------ arrays */

static void test_array_helpers(void **state)
{
    (void)state;
    nnla_array a = {0};
    nnla_array_free(NULL);
    nnla_array_free(&a); /* zero-initialised: a no-op */
    assert_status(nnla_array_alloc(2, (const size_t[]){3, 4}, &a), NNLA_OK);
    assert_int_equal(a.size, 12);
    for (size_t i = 0; i < 12; i++) assert_true(a.data[i] == 0.0);
    nnla_mat m;
    nnla_cmat c;
    assert_status(nnla_array_as_mat(&a, &m), NNLA_OK);
    assert_true(m.rows == 3 && m.cols == 4 && m.ld == 4 && m.data == a.data);
    assert_status(nnla_array_as_cmat(&a, &c), NNLA_OK);
    assert_true(c.rows == 3 && c.cols == 4 && c.ld == 4 && c.data == a.data);
    nnla_array_free(&a);
    assert_null(a.data);
    assert_int_equal(a.ndim, 0);
    nnla_array_free(&a); /* twice: a no-op */

    assert_status(nnla_array_alloc(0, NULL, &a), NNLA_OK);
    assert_int_equal(a.size, 1);
    assert_status(nnla_array_as_mat(&a, &m), NNLA_ESHAPE);
    nnla_array_free(&a);
    assert_status(nnla_array_alloc(2, (const size_t[]){0, 4}, &a), NNLA_OK);
    assert_int_equal(a.size, 0);
    assert_non_null(a.data);
    assert_status(nnla_array_as_mat(&a, &m), NNLA_EDIM);
    nnla_array_free(&a);
    assert_status(nnla_array_alloc(1, (const size_t[]){4}, &a), NNLA_OK);
    assert_status(nnla_array_as_cmat(&a, &c), NNLA_ESHAPE);
    nnla_array_free(&a);

    assert_status(nnla_array_alloc(1, NULL, &a), NNLA_ENULL);
    assert_status(nnla_array_alloc(0, NULL, NULL), NNLA_ENULL);
    assert_status(nnla_array_alloc(NNLA_NPY_MAX_DIMS + 1, (const size_t[NNLA_NPY_MAX_DIMS + 1]){0}, &a),
                  NNLA_EUNSUPPORTED);
    assert_status(nnla_array_alloc(2, (const size_t[]){SIZE_MAX / 2, 2}, &a), NNLA_EOVERFLOW);
    assert_status(nnla_array_as_mat(NULL, &m), NNLA_ENULL);
    assert_status(nnla_array_as_mat(&a, NULL), NNLA_ENULL);
    assert_status(nnla_array_as_cmat(&a, &c), NNLA_ENULL); /* freed: no data */
}

/* ------------------------------------------------------------------ the fuzzer's crashers */

/* Every file kept from fuzzing must get a clean status; a file that reads must round-trip. */
static void test_crashers(void **state)
{
    (void)state;
    DIR *d = opendir(data_path("crashers"));
    if (d == NULL) skip();
    size_t count = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || strncmp(e->d_name, "README", 6) == 0) continue;
        char name[1024];
        snprintf(name, sizeof name, "crashers/%s", e->d_name);
        size_t len;
        unsigned char *buf = slurp(data_path(name), &len);
        unsigned char *exact = malloc(len ? len : 1); /* exactly len bytes, for ASan */
        assert_non_null(exact);
        memcpy(exact, buf, len);
        nnla_array a = {0};
        nnla_status st = nnla_npy_read_mem(exact, len, &a);
        int clean = st == NNLA_OK || st == NNLA_EFORMAT || st == NNLA_EUNSUPPORTED || st == NNLA_EOVERFLOW ||
                    st == NNLA_EINEXACT;
        if (!clean) print_error("%s: %s\n", name, nnla_status_name(st));
        assert_true(clean);
        nnla_array b = {0};
        assert_status(nnla_npy_read(data_path(name), &b), st);
        nnla_npy_diagnosis dg;
        nnla_npy_header h;
        assert_status(nnla_npy_diagnose(exact, len, &dg), NNLA_OK);
        assert_status(nnla_npy_parse_header(exact, len, &h), verdict_status(dg.verdict));
        if (st == NNLA_OK) {
            size_t need;
            assert_status(nnla_npy_encoded_size(a.ndim, a.shape, &need), NNLA_OK);
            unsigned char *out = malloc(need);
            assert_non_null(out);
            assert_status(nnla_npy_write_mem(a.data, a.ndim, a.shape, out, need, NULL), NNLA_OK);
            nnla_array c = {0};
            assert_status(nnla_npy_read_mem(out, need, &c), NNLA_OK);
            assert_array(&c, a.ndim, a.shape, a.data);
            assert_array(&b, a.ndim, a.shape, a.data);
            nnla_array_free(&c);
            free(out);
        }
        nnla_array_free(&a);
        nnla_array_free(&b);
        free(exact);
        free(buf);
        count++;
    }
    closedir(d);
    print_message("%zu crasher file(s) checked\n", count);
}

int main(int argc, char **argv)
{
    if (argc > 1) data_dir = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_2d),          cmocka_unit_test(test_golden_3d),
        cmocka_unit_test(test_golden_small),       cmocka_unit_test(test_golden_int),
        cmocka_unit_test(test_parse_header),       cmocka_unit_test(test_diagnose),
        cmocka_unit_test(test_bad_files),          cmocka_unit_test(test_every_truncation),
        cmocka_unit_test(test_header_mutations),   cmocka_unit_test(test_big_fortran),
        cmocka_unit_test(test_stream_sequence),    cmocka_unit_test(test_pipe),
        cmocka_unit_test(test_write_matches_numpy), cmocka_unit_test(test_round_trip_random),
        cmocka_unit_test(test_write_path),         cmocka_unit_test(test_write_args),
        cmocka_unit_test(test_read_args),          cmocka_unit_test(test_array_helpers),
        cmocka_unit_test(test_crashers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
