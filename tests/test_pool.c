/*
 * Pooling: max and average pooling against loops over the padded windows (padding,
 * strides, ragged edges), PyTorch's conventions on small worked cases, the NaN policy,
 * global average pooling and bad input.
 */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define EPS DBL_EPSILON

/* Reference: walk every window position of the padded input; padding is -Inf for max and
 * 0 (counted in the divisor) for the average. A NaN anywhere in the window gives NaN. */
static void ref_pool(const nnla_pool2d_desc *d, size_t planes, size_t h, size_t w, size_t oh, size_t ow,
                     const double *x, double *y)
{
    for (size_t pl = 0; pl < planes; pl++)
        for (size_t oy = 0; oy < oh; oy++)
            for (size_t ox = 0; ox < ow; ox++) {
                double mx = -INFINITY, sum = 0.0;
                int nan = 0;
                for (size_t i = 0; i < d->kernel_h; i++)
                    for (size_t j = 0; j < d->kernel_w; j++) {
                        long iy = (long)(oy * d->stride_h + i) - (long)d->pad_h;
                        long ix = (long)(ox * d->stride_w + j) - (long)d->pad_w;
                        if (iy < 0 || ix < 0 || iy >= (long)h || ix >= (long)w) continue; /* padding */
                        double v = x[(pl * h + (size_t)iy) * w + (size_t)ix];
                        if (isnan(v)) nan = 1;
                        if (v > mx) mx = v;
                        sum += v;
                    }
                double r = d->kind == NNLA_POOL_MAX ? mx : sum / (double)(d->kernel_h * d->kernel_w);
                y[(pl * oh + oy) * ow + ox] = nan ? NAN : r;
            }
}

static void test_random_vs_loops(void **state)
{
    (void)state;
    nnla_test_rng rng = {11};
    int ran = 0;
    for (int trial = 0; trial < 400; trial++) {
        nnla_pool2d_desc d;
        d.kind = trial & 1 ? NNLA_POOL_AVG : NNLA_POOL_MAX;
        d.kernel_h = nnla_test_int(&rng, 1, 4);
        d.kernel_w = trial % 3 ? nnla_test_int(&rng, 1, 4) : d.kernel_h;
        d.stride_h = nnla_test_int(&rng, 1, 3);
        d.stride_w = trial % 4 ? nnla_test_int(&rng, 1, 3) : d.kernel_w;
        d.pad_h = nnla_test_int(&rng, 0, d.kernel_h / 2);
        d.pad_w = nnla_test_int(&rng, 0, d.kernel_w / 2);
        size_t batch = nnla_test_int(&rng, 1, 3), ch = nnla_test_int(&rng, 1, 3);
        size_t h = nnla_test_int(&rng, 1, 12), w = nnla_test_int(&rng, 1, 12), oh, ow;
        nnla_status st = nnla_pool2d_output_size(&d, h, w, &oh, &ow);
        if (st == NNLA_ESHAPE) continue;
        assert_status(st, NNLA_OK);
        /* PyTorch's formula, floor mode */
        assert_int_equal(oh, (h + 2 * d.pad_h - d.kernel_h) / d.stride_h + 1);
        assert_int_equal(ow, (w + 2 * d.pad_w - d.kernel_w) / d.stride_w + 1);
        size_t nx = batch * ch * h * w, ny = batch * ch * oh * ow;
        double *x = malloc(nx * sizeof *x), *y = malloc(ny * sizeof *y), *r = malloc(ny * sizeof *r);
        nnla_test_fill(&rng, x, nx, -2, 1); /* mostly negative: padding must never win the max */
        if (trial % 5 == 0) x[nnla_test_int(&rng, 0, nx - 1)] = NAN;
        for (size_t i = 0; i < ny; i++) y[i] = 12345.0;
        assert_status(nnla_pool2d_forward(&d, batch, ch, h, w, x, y), NNLA_OK);
        ref_pool(&d, batch * ch, h, w, oh, ow, x, r);
        /* max is exact; the average sums at most kh*kw terms */
        double tol = d.kind == NNLA_POOL_MAX ? 0.0 : 2.0 * (double)(d.kernel_h * d.kernel_w) * 2.0 * EPS;
        assert_vec_close(y, r, ny, 0.0, tol);
        for (size_t i = 0; i < ny; i++) assert_true(isnan(r[i]) == isnan(y[i]));
        if (d.kind == NNLA_POOL_MAX)
            for (size_t i = 0; i < ny; i++) assert_true(isnan(y[i]) || y[i] != -INFINITY);
        free(x);
        free(y);
        free(r);
        ran++;
    }
    assert_true(ran >= 200);
}

/* Small cases whose answers PyTorch gives (max_pool2d / avg_pool2d, default options). */
static void test_known_values(void **state)
{
    (void)state;
    double x[16], y[9];
    for (int i = 0; i < 16; i++) x[i] = i + 1; /* 4x4: 1..16 */
    nnla_pool2d_desc d = {NNLA_POOL_MAX, 2, 2, 2, 2, 0, 0};
    size_t oh, ow;
    assert_status(nnla_pool2d_output_size(&d, 4, 4, &oh, &ow), NNLA_OK);
    assert_true(oh == 2 && ow == 2);
    assert_status(nnla_pool2d_forward(&d, 1, 1, 4, 4, x, y), NNLA_OK);
    assert_vec_close(y, ((double[4]){6, 8, 14, 16}), 4, 0, 0);
    d.kind = NNLA_POOL_AVG;
    assert_status(nnla_pool2d_forward(&d, 1, 1, 4, 4, x, y), NNLA_OK);
    assert_vec_close(y, ((double[4]){3.5, 5.5, 11.5, 13.5}), 4, 0, 0);
    /* avg_pool2d(ones(3,3), 3, stride 1, padding 1): padded zeros count (count_include_pad) */
    double ones[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    nnla_pool2d_desc a = {NNLA_POOL_AVG, 3, 3, 1, 1, 1, 1};
    assert_status(nnla_pool2d_forward(&a, 1, 1, 3, 3, ones, y), NNLA_OK);
    assert_vec_close(y, ((double[9]){4 / 9., 6 / 9., 4 / 9., 6 / 9., 1, 6 / 9., 4 / 9., 6 / 9., 4 / 9.}), 9,
                     0, 4 * EPS);
    /* max_pool2d(-ones(3,3), 3, stride 1, padding 1): padding (-Inf) is never chosen */
    double neg[9] = {-1, -1, -1, -1, -1, -1, -1, -1, -1};
    a.kind = NNLA_POOL_MAX;
    assert_status(nnla_pool2d_forward(&a, 1, 1, 3, 3, neg, y), NNLA_OK);
    for (int i = 0; i < 9; i++) assert_true(y[i] == -1.0);
    /* ragged edge: 5 wide, kernel 2 stride 2 -> 2 outputs, the last column is dropped (floor) */
    double r5[5] = {1, 2, 3, 4, 100};
    nnla_pool2d_desc m = {NNLA_POOL_MAX, 1, 2, 1, 2, 0, 0};
    assert_status(nnla_pool2d_output_size(&m, 1, 5, &oh, &ow), NNLA_OK);
    assert_true(oh == 1 && ow == 2);
    assert_status(nnla_pool2d_forward(&m, 1, 1, 1, 5, r5, y), NNLA_OK);
    assert_vec_close(y, ((double[2]){2, 4}), 2, 0, 0);
}

/* NaN in a window gives NaN for that output only, wherever it sits in the window; Inf is a value. */
static void test_nan_policy(void **state)
{
    (void)state;
    double x[9] = {1, 2, 3, 4, NAN, 6, 7, 8, 9}, y[4];
    nnla_pool2d_desc d = {NNLA_POOL_MAX, 2, 2, 1, 1, 0, 0}; /* every 2x2 window holds the center */
    assert_status(nnla_pool2d_forward(&d, 1, 1, 3, 3, x, y), NNLA_OK);
    for (int i = 0; i < 4; i++) assert_true(isnan(y[i]));
    x[4] = 5;
    x[0] = NAN; /* only the top-left window */
    assert_status(nnla_pool2d_forward(&d, 1, 1, 3, 3, x, y), NNLA_OK);
    assert_true(isnan(y[0]));
    assert_vec_close(y + 1, ((double[3]){6, 8, 9}), 3, 0, 0);
    d.kind = NNLA_POOL_AVG;
    assert_status(nnla_pool2d_forward(&d, 1, 1, 3, 3, x, y), NNLA_OK);
    assert_true(isnan(y[0]) && !isnan(y[1]) && !isnan(y[2]) && !isnan(y[3]));
    /* NaN at the end of a window, after the maximum */
    double z[4] = {5, 1, 2, NAN};
    nnla_pool2d_desc g = {NNLA_POOL_MAX, 2, 2, 2, 2, 0, 0};
    assert_status(nnla_pool2d_forward(&g, 1, 1, 2, 2, z, y), NNLA_OK);
    assert_true(isnan(y[0]));
    double inf[4] = {1, INFINITY, 2, 3};
    assert_status(nnla_pool2d_forward(&g, 1, 1, 2, 2, inf, y), NNLA_OK);
    assert_true(y[0] == INFINITY);
}

static void test_global_avgpool(void **state)
{
    (void)state;
    nnla_test_rng rng = {8};
    for (int trial = 0; trial < 50; trial++) {
        size_t batch = nnla_test_int(&rng, 1, 4), ch = nnla_test_int(&rng, 1, 5);
        size_t h = nnla_test_int(&rng, 1, 9), w = nnla_test_int(&rng, 1, 9);
        size_t n = batch * ch * h * w;
        double *x = malloc(n * sizeof *x), *y = malloc(batch * ch * sizeof *y),
               *r = malloc(batch * ch * sizeof *r);
        nnla_test_fill(&rng, x, n, -1, 1);
        for (size_t p = 0; p < batch * ch; p++) {
            double s = 0;
            for (size_t i = 0; i < h * w; i++) s += x[p * h * w + i];
            r[p] = s / (double)(h * w);
        }
        assert_status(nnla_global_avgpool2d(batch, ch, h, w, x, y), NNLA_OK);
        assert_vec_close(y, r, batch * ch, 0, 4.0 * (double)(h * w) * EPS);
        /* it equals average pooling with the whole image as the window */
        nnla_pool2d_desc d = {NNLA_POOL_AVG, h, w, 1, 1, 0, 0};
        assert_status(nnla_pool2d_forward(&d, batch, ch, h, w, x, r), NNLA_OK);
        assert_vec_close(y, r, batch * ch, 0, 4.0 * (double)(h * w) * EPS);
        free(x);
        free(y);
        free(r);
    }
}

static void test_bad_input(void **state)
{
    (void)state;
    double x[2 * 3 * 6 * 6], y[2 * 3 * 9], y0[2 * 3 * 9];
    nnla_test_rng r = {4};
    nnla_test_fill(&r, x, sizeof x / sizeof x[0], -1, 1);
    nnla_test_fill(&r, y0, sizeof y0 / sizeof y0[0], -1, 1);
    memcpy(y, y0, sizeof y);
    const nnla_pool2d_desc d = {NNLA_POOL_MAX, 2, 2, 2, 2, 1, 1};
    nnla_pool2d_desc e;
    size_t oh = 7, ow = 7;
#define POOL(dd, b, c, hh, ww, xx, yy, st)                                                                   \
    do {                                                                                                     \
        assert_status(nnla_pool2d_forward((dd), (b), (c), (hh), (ww), (xx), (yy)), (st));                    \
        assert_memory_equal(y, y0, sizeof y);                                                                \
    } while (0)
    POOL(NULL, 2, 3, 6, 6, x, y, NNLA_ENULL);
    POOL(&d, 2, 3, 6, 6, NULL, y, NNLA_ENULL);
    POOL(&d, 2, 3, 6, 6, x, NULL, NNLA_ENULL);
    e = d;
    e.kind = (nnla_pool_kind)7;
    POOL(&e, 2, 3, 6, 6, x, y, NNLA_EINVAL);
    e = d;
    e.pad_h = 2; /* more than half the kernel */
    POOL(&e, 2, 3, 6, 6, x, y, NNLA_EINVAL);
    e = d;
    e.kernel_w = 3;
    e.pad_w = 2;
    POOL(&e, 2, 3, 6, 6, x, y, NNLA_EINVAL);
    POOL(&d, 0, 3, 6, 6, x, y, NNLA_EDIM);
    POOL(&d, 2, 0, 6, 6, x, y, NNLA_EDIM);
    POOL(&d, 2, 3, 0, 6, x, y, NNLA_EDIM);
    POOL(&d, 2, 3, 6, 0, x, y, NNLA_EDIM);
    size_t *fields[] = {&e.kernel_h, &e.kernel_w, &e.stride_h, &e.stride_w};
    for (size_t f = 0; f < 4; f++) {
        e = d;
        *fields[f] = 0;
        POOL(&e, 2, 3, 6, 6, x, y, NNLA_EDIM);
    }
    e = d;
    e.kernel_h = 9; /* 9 > 6 + 2 */
    e.pad_h = 1;
    POOL(&e, 2, 3, 6, 6, x, y, NNLA_ESHAPE);
    e = d;
    e.pad_h = e.pad_w = 0;
    e.kernel_w = 7;
    POOL(&e, 2, 3, 6, 6, x, y, NNLA_ESHAPE);
    POOL(&d, SIZE_MAX / 4, 3, 6, 6, x, y, NNLA_EOVERFLOW);
    POOL(&d, 2, 3, 6, 6, y + 1, y, NNLA_EALIAS);
    assert_status(nnla_pool2d_output_size(NULL, 6, 6, &oh, &ow), NNLA_ENULL);
    assert_status(nnla_pool2d_output_size(&d, 6, 6, NULL, &ow), NNLA_ENULL);
    assert_status(nnla_pool2d_output_size(&e, 6, 6, &oh, &ow), NNLA_ESHAPE);
    assert_true(oh == 7 && ow == 7);
    assert_status(nnla_pool2d_output_size(&d, 6, 6, &oh, &ow), NNLA_OK);
    assert_true(oh == 4 && ow == 4);
#undef POOL
    /* global average pooling */
    assert_status(nnla_global_avgpool2d(2, 3, 6, 6, NULL, y), NNLA_ENULL);
    assert_status(nnla_global_avgpool2d(2, 3, 6, 6, x, NULL), NNLA_ENULL);
    assert_status(nnla_global_avgpool2d(0, 3, 6, 6, x, y), NNLA_EDIM);
    assert_status(nnla_global_avgpool2d(2, 0, 6, 6, x, y), NNLA_EDIM);
    assert_status(nnla_global_avgpool2d(2, 3, 0, 6, x, y), NNLA_EDIM);
    assert_status(nnla_global_avgpool2d(2, 3, 6, 0, x, y), NNLA_EDIM);
    assert_status(nnla_global_avgpool2d(SIZE_MAX / 2, 3, 6, 6, x, y), NNLA_EOVERFLOW);
    assert_status(nnla_global_avgpool2d(1, 2, 3, 3, y, y + 1), NNLA_EALIAS);
    assert_memory_equal(y, y0, sizeof y);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_vs_loops), cmocka_unit_test(test_known_values),
        cmocka_unit_test(test_nan_policy),      cmocka_unit_test(test_global_avgpool),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
