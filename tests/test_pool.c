/*
 * Pooling: max and average pooling (asymmetric padding, ceil mode, count_include_pad both ways)
 * against loops that classify every position of every window, max pooling's argmax, the backward
 * passes against loops, adjoint identities and finite differences, PyTorch's values on small
 * worked cases, the NaN policy, global average pooling and bad input; with 1, 2 and 3 threads the
 * results are bit-identical (planes are dealt out whole), and a bad argmax found by any thread
 * leaves dx untouched.
 */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define EPS DBL_EPSILON

/* ------------------------------------------------------------------ references */

/* PyTorch's output length (pooling_output_shape) in signed arithmetic, with pads lo and hi. */
static long ref_out(long n, long k, long s, long lo, long hi, int ceil)
{
    long num = n + lo + hi - k + (ceil ? s - 1 : 0);
    long out = (num >= 0 ? num / s : -((-num + s - 1) / s)) + 1; /* floor division */
    if (ceil && (out - 1) * s >= n + lo) out--;
    return out;
}

/*
 * Reference pooling of `planes` planes: for each output, walk every position of its window in
 * padded coordinates, row by row, and classify it: an input entry (taken), a padded position
 * (-Inf for max, a zero counted in the divisor when count_include_pad), or beyond the padded input
 * (a ceil-mode overhang: ignored). Max: the first maximum (strict >), the last NaN, and when no
 * entry beats -Inf the window's first input entry. am may be NULL.
 */
static void ref_pool(const nnla_pool2d_desc *d, size_t planes, size_t h, size_t w, size_t oh, size_t ow,
                     const double *x, double *y, uint32_t *am)
{
    long pt = (long)d->pad_top, pb = (long)d->pad_bottom, pl = (long)d->pad_left, pr = (long)d->pad_right;
    for (size_t p = 0; p < planes; p++)
        for (size_t oy = 0; oy < oh; oy++)
            for (size_t ox = 0; ox < ow; ox++) {
                double mx = -INFINITY, sum = 0.0;
                long at = -1, cnt_in = 0, cnt_pad = 0;
                for (size_t i = 0; i < d->kernel_h; i++)
                    for (size_t j = 0; j < d->kernel_w; j++) {
                        long iy = (long)(oy * d->stride_h + i) - pt, ix = (long)(ox * d->stride_w + j) - pl;
                        if (iy < -pt || iy >= (long)h + pb || ix < -pl || ix >= (long)w + pr) continue;
                        cnt_pad++;
                        if (iy < 0 || ix < 0 || iy >= (long)h || ix >= (long)w) continue; /* padding */
                        long idx = iy * (long)w + ix;
                        double v = x[p * h * w + (size_t)idx];
                        if (at < 0) at = idx;
                        if (v > mx || isnan(v)) {
                            mx = v;
                            at = idx;
                        }
                        sum += v;
                        cnt_in++;
                    }
                assert_true(cnt_in > 0); /* every window holds an input entry */
                size_t o = (p * oh + oy) * ow + ox;
                if (d->kind == NNLA_POOL_MAX) {
                    y[o] = mx;
                    if (am) am[o] = (uint32_t)at;
                } else {
                    y[o] = sum / (double)(d->count_include_pad ? cnt_pad : cnt_in);
                }
            }
}

/* Reference backward: each dy entry to its argmax (max) or spread over its window's input entries
 * divided by the forward's divisor (avg). dx is zeroed first. */
static void ref_pool_backward(const nnla_pool2d_desc *d, size_t planes, size_t h, size_t w, size_t oh,
                              size_t ow, const double *dy, const uint32_t *am, double *dx)
{
    long pt = (long)d->pad_top, pb = (long)d->pad_bottom, pl = (long)d->pad_left, pr = (long)d->pad_right;
    memset(dx, 0, planes * h * w * sizeof *dx);
    for (size_t p = 0; p < planes; p++)
        for (size_t oy = 0; oy < oh; oy++)
            for (size_t ox = 0; ox < ow; ox++) {
                size_t o = (p * oh + oy) * ow + ox;
                if (d->kind == NNLA_POOL_MAX) {
                    dx[p * h * w + am[o]] += dy[o];
                    continue;
                }
                long cnt_in = 0, cnt_pad = 0;
                for (int pass = 0; pass < 2; pass++)
                    for (size_t i = 0; i < d->kernel_h; i++)
                        for (size_t j = 0; j < d->kernel_w; j++) {
                            long iy = (long)(oy * d->stride_h + i) - pt, ix = (long)(ox * d->stride_w + j) - pl;
                            if (iy < -pt || iy >= (long)h + pb || ix < -pl || ix >= (long)w + pr) continue;
                            int in = iy >= 0 && ix >= 0 && iy < (long)h && ix < (long)w;
                            if (pass == 0) {
                                cnt_pad++;
                                cnt_in += in;
                            } else if (in) {
                                dx[(p * h + (size_t)iy) * w + (size_t)ix] +=
                                    dy[o] / (double)(d->count_include_pad ? cnt_pad : cnt_in);
                            }
                        }
            }
}

static double dot(const double *a, const double *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* A random valid descriptor and sizes (each pad < kernel; about half ceil mode, half without the
 * padding in the divisor). */
static nnla_pool2d_desc draw_desc(nnla_test_rng *rng, int trial)
{
    nnla_pool2d_desc d = nnla_pool2d_desc_make(trial & 1 ? NNLA_POOL_AVG : NNLA_POOL_MAX, nnla_test_int(rng, 1, 4),
                                               1);
    d.kernel_w = trial % 3 ? nnla_test_int(rng, 1, 4) : d.kernel_h;
    d.stride_h = nnla_test_int(rng, 1, 3);
    d.stride_w = trial % 4 ? nnla_test_int(rng, 1, 3) : d.kernel_w;
    d.pad_top = nnla_test_int(rng, 0, d.kernel_h - 1);
    d.pad_bottom = trial % 5 ? nnla_test_int(rng, 0, d.kernel_h - 1) : d.pad_top;
    d.pad_left = nnla_test_int(rng, 0, d.kernel_w - 1);
    d.pad_right = trial % 5 ? nnla_test_int(rng, 0, d.kernel_w - 1) : d.pad_left;
    d.ceil_mode = (int)nnla_test_int(rng, 0, 1);
    d.count_include_pad = (int)nnla_test_int(rng, 0, 1);
    return d;
}

/* ------------------------------------------------------------------ forward */

static void test_random_vs_loops(void **state)
{
    (void)state;
    nnla_test_rng rng = {11};
    int ran = 0, ceil_grew = 0, excl_differs = 0, overhang = 0;
    for (int trial = 0; trial < 600; trial++) {
        nnla_pool2d_desc d = draw_desc(&rng, trial);
        size_t batch = nnla_test_int(&rng, 1, 3), ch = nnla_test_int(&rng, 1, 3);
        size_t h = nnla_test_int(&rng, 1, 12), w = nnla_test_int(&rng, 1, 12), oh = 99, ow = 99;
        long rh = ref_out((long)h, (long)d.kernel_h, (long)d.stride_h, (long)d.pad_top, (long)d.pad_bottom,
                          d.ceil_mode);
        long rw = ref_out((long)w, (long)d.kernel_w, (long)d.stride_w, (long)d.pad_left, (long)d.pad_right,
                          d.ceil_mode);
        nnla_status st = nnla_pool2d_output_size(&d, h, w, &oh, &ow);
        if (rh < 1 || rw < 1) { /* PyTorch: "output size is too small" */
            assert_status(st, NNLA_ESHAPE);
            assert_true(oh == 99 && ow == 99);
            continue;
        }
        assert_status(st, NNLA_OK);
        assert_int_equal(oh, rh);
        assert_int_equal(ow, rw);
        if (d.ceil_mode) {
            ceil_grew += ref_out((long)h, (long)d.kernel_h, (long)d.stride_h, (long)d.pad_top, (long)d.pad_bottom, 0) <
                         rh;
            overhang += (oh - 1) * d.stride_h + d.kernel_h > h + d.pad_top + d.pad_bottom;
        }
        size_t nx = batch * ch * h * w, ny = batch * ch * oh * ow;
        double *x = malloc(nx * sizeof *x), *y = malloc(ny * sizeof *y), *r = malloc(ny * sizeof *r);
        double *y2 = malloc(ny * sizeof *y2);
        uint32_t *am = malloc(ny * sizeof *am), *ram = malloc(ny * sizeof *ram);
        nnla_test_fill(&rng, x, nx, -2, 1); /* mostly negative: padding must never win the max */
        if (trial % 5 == 0) x[nnla_test_int(&rng, 0, nx - 1)] = NAN;
        if (trial % 7 == 0) x[nnla_test_int(&rng, 0, nx - 1)] = NAN;
        for (size_t i = 0; i < ny; i++) y[i] = 12345.0;
        assert_status(nnla_pool2d_forward(&d, batch, ch, h, w, x, y), NNLA_OK);
        ref_pool(&d, batch * ch, h, w, oh, ow, x, r, ram);
        /* max is exact; the average sums at most kh*kw terms and divides once */
        double tol = d.kind == NNLA_POOL_MAX ? 0.0 : 2.0 * (double)(d.kernel_h * d.kernel_w + 1) * 2.0 * EPS;
        assert_vec_close(y, r, ny, 0.0, tol);
        for (size_t i = 0; i < ny; i++) assert_true(isnan(r[i]) == isnan(y[i]));
        if (d.kind == NNLA_POOL_MAX) {
            for (size_t i = 0; i < ny; i++) assert_true(isnan(y[i]) || y[i] != -INFINITY);
            for (size_t i = 0; i < ny; i++) am[i] = 0xFFFFFFFFu;
            assert_status(nnla_pool2d_forward_argmax(&d, batch, ch, h, w, x, y2, am), NNLA_OK);
            assert_memory_equal(am, ram, ny * sizeof *am);
            for (size_t i = 0; i < ny; i++) assert_true((isnan(y[i]) && isnan(y2[i])) || y[i] == y2[i]);
        } else {
            /* the other divisor differs exactly where a window overlaps the padding */
            nnla_pool2d_desc e = d;
            e.count_include_pad = !d.count_include_pad;
            assert_status(nnla_pool2d_forward(&e, batch, ch, h, w, x, y2), NNLA_OK);
            for (size_t i = 0; i < ny; i++) excl_differs += !isnan(y[i]) && y[i] != y2[i];
        }
        free(x);
        free(y);
        free(y2);
        free(r);
        free(am);
        free(ram);
        ran++;
    }
    assert_true(ran >= 400);
    assert_true(ceil_grew >= 20);    /* ceil mode added a window */
    assert_true(overhang >= 20);     /* ... one hanging past the padded input */
    assert_true(excl_differs >= 50); /* count_include_pad mattered */
}

/* Small cases whose answers PyTorch gives (max_pool2d / avg_pool2d). */
static void test_known_values(void **state)
{
    (void)state;
    double x[16], y[9];
    for (int i = 0; i < 16; i++) x[i] = i + 1; /* 4x4: 1..16 */
    nnla_pool2d_desc d = nnla_pool2d_desc_make(NNLA_POOL_MAX, 2, 2);
    assert_true(d.stride_h == 2 && d.stride_w == 2 && d.pad_top == 0 && d.pad_bottom == 0 && d.pad_left == 0 &&
                d.pad_right == 0 && d.ceil_mode == 0 && d.count_include_pad == 1);
    size_t oh, ow;
    assert_status(nnla_pool2d_output_size(&d, 4, 4, &oh, &ow), NNLA_OK);
    assert_true(oh == 2 && ow == 2);
    assert_status(nnla_pool2d_forward(&d, 1, 1, 4, 4, x, y), NNLA_OK);
    assert_vec_close(y, ((double[4]){6, 8, 14, 16}), 4, 0, 0);
    uint32_t am[9];
    assert_status(nnla_pool2d_forward_argmax(&d, 1, 1, 4, 4, x, y, am), NNLA_OK);
    assert_true(am[0] == 5 && am[1] == 7 && am[2] == 13 && am[3] == 15);
    d.kind = NNLA_POOL_AVG;
    assert_status(nnla_pool2d_forward(&d, 1, 1, 4, 4, x, y), NNLA_OK);
    assert_vec_close(y, ((double[4]){3.5, 5.5, 11.5, 13.5}), 4, 0, 0);
    /* avg_pool2d(ones(3,3), 3, stride 1, padding 1): padded zeros count (count_include_pad) */
    double ones[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    nnla_pool2d_desc a = nnla_pool2d_desc_make(NNLA_POOL_AVG, 3, 3);
    a.stride_h = a.stride_w = 1;
    a.pad_top = a.pad_bottom = a.pad_left = a.pad_right = 1;
    assert_status(nnla_pool2d_forward(&a, 1, 1, 3, 3, ones, y), NNLA_OK);
    assert_vec_close(y, ((double[9]){4 / 9., 6 / 9., 4 / 9., 6 / 9., 1, 6 / 9., 4 / 9., 6 / 9., 4 / 9.}), 9,
                     0, 4 * EPS);
    a.count_include_pad = 0; /* count_include_pad=False: the mean of the input entries, all ones */
    assert_status(nnla_pool2d_forward(&a, 1, 1, 3, 3, ones, y), NNLA_OK);
    for (int i = 0; i < 9; i++) assert_true(y[i] == 1.0);
    /* max_pool2d(-ones(3,3), 3, stride 1, padding 1): padding (-Inf) is never chosen */
    double neg[9] = {-1, -1, -1, -1, -1, -1, -1, -1, -1};
    a.kind = NNLA_POOL_MAX;
    assert_status(nnla_pool2d_forward(&a, 1, 1, 3, 3, neg, y), NNLA_OK);
    for (int i = 0; i < 9; i++) assert_true(y[i] == -1.0);
    /* ties: the first maximum of the window (PyTorch: [3, 1, 3, 2] -> index 0) */
    double tie[4] = {3, 1, 3, 2};
    nnla_pool2d_desc t = nnla_pool2d_desc_make(NNLA_POOL_MAX, 1, 4);
    assert_status(nnla_pool2d_forward_argmax(&t, 1, 1, 1, 4, tie, y, am), NNLA_OK);
    assert_true(y[0] == 3 && am[0] == 0);
    /* ragged edge: 5 wide, kernel 2 stride 2 -> 2 outputs, the last column is dropped (floor) ... */
    double r5[5] = {1, 2, 3, 4, 5};
    nnla_pool2d_desc m = nnla_pool2d_desc_make(NNLA_POOL_AVG, 1, 2);
    assert_status(nnla_pool2d_output_size(&m, 1, 5, &oh, &ow), NNLA_OK);
    assert_true(oh == 1 && ow == 2);
    /* ... kept in ceil mode: avg_pool2d(1..5, (1,2), ceil_mode=True) = [1.5, 3.5, 5] (the last window
     * hangs past the input and is divided by its one entry) */
    m.ceil_mode = 1;
    assert_status(nnla_pool2d_output_size(&m, 1, 5, &oh, &ow), NNLA_OK);
    assert_true(oh == 1 && ow == 3);
    assert_status(nnla_pool2d_forward(&m, 1, 1, 1, 5, r5, y), NNLA_OK);
    assert_vec_close(y, ((double[3]){1.5, 3.5, 5}), 3, 0, 0);
    /* avg_pool2d(1..5, (1,3), stride (1,2), padding (0,1), ceil_mode=True) = [1, 3, 3];
     * with count_include_pad=False: [1.5, 3, 4.5] */
    nnla_pool2d_desc c3 = nnla_pool2d_desc_make(NNLA_POOL_AVG, 1, 3);
    c3.stride_w = 2;
    c3.pad_left = c3.pad_right = 1;
    c3.ceil_mode = 1;
    assert_status(nnla_pool2d_forward(&c3, 1, 1, 1, 5, r5, y), NNLA_OK);
    assert_vec_close(y, ((double[3]){1, 3, 3}), 3, 0, 2 * EPS);
    c3.count_include_pad = 0;
    assert_status(nnla_pool2d_forward(&c3, 1, 1, 1, 5, r5, y), NNLA_OK);
    assert_vec_close(y, ((double[3]){1.5, 3, 4.5}), 3, 0, 2 * EPS);
    /* a 3x3 window on a 1x1 input: PyTorch gives one output in ceil mode (stride 3), none in floor
     * mode; with padding 1 the average divides by 9 */
    double one[1] = {1};
    nnla_pool2d_desc k3 = nnla_pool2d_desc_make(NNLA_POOL_AVG, 3, 3);
    assert_status(nnla_pool2d_output_size(&k3, 1, 1, &oh, &ow), NNLA_ESHAPE);
    k3.ceil_mode = 1;
    assert_status(nnla_pool2d_forward(&k3, 1, 1, 1, 1, one, y), NNLA_OK);
    assert_true(y[0] == 1.0);
    k3.pad_top = k3.pad_bottom = k3.pad_left = k3.pad_right = 1;
    assert_status(nnla_pool2d_forward(&k3, 1, 1, 1, 1, one, y), NNLA_OK);
    assert_vec_close(y, ((double[1]){1.0 / 9}), 1, 0, EPS);
    /* asymmetric: pad only on the right, 1x4 input [1 2 3 4], kernel 2 stride 2 -> [1.5, 3.5];
     * pad left 1: windows [pad 1] [2 3] [4 pad] -> [0.5, 2.5, 2] with the zeros counted */
    double r4[4] = {1, 2, 3, 4};
    nnla_pool2d_desc as = nnla_pool2d_desc_make(NNLA_POOL_AVG, 1, 2);
    as.pad_right = 1;
    assert_status(nnla_pool2d_output_size(&as, 1, 4, &oh, &ow), NNLA_OK);
    assert_true(ow == 2);
    as.pad_left = 1;
    as.pad_right = 1;
    assert_status(nnla_pool2d_forward(&as, 1, 1, 1, 4, r4, y), NNLA_OK);
    assert_vec_close(y, ((double[3]){0.5, 2.5, 2}), 3, 0, 0);
    as.pad_right = 0; /* 1 + 4 = 5: floor gives 2 windows */
    assert_status(nnla_pool2d_output_size(&as, 1, 4, &oh, &ow), NNLA_OK);
    assert_true(ow == 2);
}

/* NaN in a window gives NaN for that output only, wherever it sits in the window; Inf is a value. */
static void test_nan_policy(void **state)
{
    (void)state;
    double x[9] = {1, 2, 3, 4, NAN, 6, 7, 8, 9}, y[4];
    uint32_t am[4];
    nnla_pool2d_desc d = nnla_pool2d_desc_make(NNLA_POOL_MAX, 2, 2); /* every 2x2 window holds the center */
    d.stride_h = d.stride_w = 1;
    assert_status(nnla_pool2d_forward(&d, 1, 1, 3, 3, x, y), NNLA_OK);
    for (int i = 0; i < 4; i++) assert_true(isnan(y[i]));
    assert_status(nnla_pool2d_forward_argmax(&d, 1, 1, 3, 3, x, y, am), NNLA_OK);
    for (int i = 0; i < 4; i++) assert_true(am[i] == 4);
    x[4] = 5;
    x[0] = NAN; /* only the top-left window */
    assert_status(nnla_pool2d_forward(&d, 1, 1, 3, 3, x, y), NNLA_OK);
    assert_true(isnan(y[0]));
    assert_vec_close(y + 1, ((double[3]){6, 8, 9}), 3, 0, 0);
    d.kind = NNLA_POOL_AVG;
    assert_status(nnla_pool2d_forward(&d, 1, 1, 3, 3, x, y), NNLA_OK);
    assert_true(isnan(y[0]) && !isnan(y[1]) && !isnan(y[2]) && !isnan(y[3]));
    /* NaN at the end of a window, after the maximum; two NaNs: the last one's index (PyTorch) */
    double z[4] = {5, 1, 2, NAN};
    nnla_pool2d_desc g = nnla_pool2d_desc_make(NNLA_POOL_MAX, 2, 2);
    assert_status(nnla_pool2d_forward(&g, 1, 1, 2, 2, z, y), NNLA_OK);
    assert_true(isnan(y[0]));
    double two[4] = {NAN, 1, NAN, 2};
    nnla_pool2d_desc row = nnla_pool2d_desc_make(NNLA_POOL_MAX, 1, 4);
    assert_status(nnla_pool2d_forward_argmax(&row, 1, 1, 1, 4, two, y, am), NNLA_OK);
    assert_true(isnan(y[0]) && am[0] == 2);
    double inf[4] = {1, INFINITY, 2, 3};
    assert_status(nnla_pool2d_forward(&g, 1, 1, 2, 2, inf, y), NNLA_OK);
    assert_true(y[0] == INFINITY);
    /* a window of -Inf only: -Inf, argmax its first input entry (here (0,1) with padding left) */
    double minf[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
    nnla_pool2d_desc pad = nnla_pool2d_desc_make(NNLA_POOL_MAX, 2, 2);
    pad.stride_h = pad.stride_w = 1;
    pad.pad_left = 1;
    assert_status(nnla_pool2d_forward_argmax(&pad, 1, 1, 2, 2, minf, y, am), NNLA_OK);
    assert_true(y[0] == -INFINITY && y[1] == -INFINITY && am[0] == 0 && am[1] == 0);
}

/* ------------------------------------------------------------------ backward */

/* Both kinds' backward passes against the loops, with dx pre-filled with NaN (overwritten), the
 * adjoint identity <pool(x), dy> = <x, dx> (avg: linear; max: y = x at the argmax), and central
 * finite differences of L = <r, pool(x)> on inputs without ties. */
static void test_backward(void **state)
{
    (void)state;
    nnla_test_rng rng = {2718};
    int checked = 0;
    for (int trial = 0; trial < 400; trial++) {
        nnla_pool2d_desc d = draw_desc(&rng, trial);
        size_t batch = nnla_test_int(&rng, 1, 2), ch = nnla_test_int(&rng, 1, 3);
        size_t h = nnla_test_int(&rng, 1, 10), w = nnla_test_int(&rng, 1, 10), oh, ow;
        if (nnla_pool2d_output_size(&d, h, w, &oh, &ow) != NNLA_OK) continue;
        size_t nx = batch * ch * h * w, ny = batch * ch * oh * ow;
        double *x = malloc(nx * sizeof *x), *y = malloc(ny * sizeof *y), *dy = malloc(ny * sizeof *dy);
        double *dx = malloc(nx * sizeof *dx), *rdx = malloc(nx * sizeof *rdx);
        uint32_t *am = malloc(ny * sizeof *am);
        /* distinct values (a permutation of 0..nx-1, scaled): no ties, so the max is differentiable */
        for (size_t i = 0; i < nx; i++) x[i] = (double)i;
        for (size_t i = nx; i > 1; i--) {
            size_t j = nnla_test_int(&rng, 0, i - 1);
            double t = x[i - 1];
            x[i - 1] = x[j];
            x[j] = t;
        }
        for (size_t i = 0; i < nx; i++) x[i] = x[i] * 0.01 - 1.0;
        nnla_test_fill(&rng, dy, ny, -1, 1);
        for (size_t i = 0; i < nx; i++) dx[i] = NAN;
        if (d.kind == NNLA_POOL_MAX)
            assert_status(nnla_pool2d_forward_argmax(&d, batch, ch, h, w, x, y, am), NNLA_OK);
        else
            assert_status(nnla_pool2d_forward(&d, batch, ch, h, w, x, y), NNLA_OK);
        assert_status(nnla_pool2d_backward(&d, batch, ch, h, w, dy, d.kind == NNLA_POOL_MAX ? am : NULL, dx),
                      NNLA_OK);
        ref_pool_backward(&d, batch * ch, h, w, oh, ow, dy, am, rdx);
        /* each dx entry sums at most ceil(kh/sh) ceil(kw/sw) shares */
        double k = (double)(d.kernel_h * d.kernel_w);
        assert_vec_close(dx, rdx, nx, 0.0, 4.0 * k * EPS);
        double sa = 0;
        for (size_t i = 0; i < ny; i++) sa += fabs(y[i] * dy[i]);
        assert_true(fabs(dot(y, dy, ny) - dot(x, dx, nx)) <= 4.0 * (double)(nx + ny + (size_t)k) * EPS * sa + DBL_MIN);
        /* finite differences on a few entries: L is piecewise linear, the steps stay inside a piece */
        for (int t = 0; t < 4; t++) {
            size_t at = (size_t)nnla_test_int(&rng, 0, nx - 1);
            const double hstep = 1e-4; /* values differ by >= 0.01 */
            double keep = x[at], lp, lm;
            x[at] = keep + hstep;
            assert_status(nnla_pool2d_forward(&d, batch, ch, h, w, x, y), NNLA_OK);
            lp = dot(y, dy, ny);
            x[at] = keep - hstep;
            assert_status(nnla_pool2d_forward(&d, batch, ch, h, w, x, y), NNLA_OK);
            lm = dot(y, dy, ny);
            x[at] = keep;
            double fd = (lp - lm) / (2 * hstep);
            if (fabs(fd - dx[at]) > 1e-6 * fmax(1.0, fabs(dx[at])))
                fail_msg("trial %d, x[%zu]: finite difference %.12g, backward %.12g", trial, at, fd, dx[at]);
        }
        free(x);
        free(y);
        free(dy);
        free(dx);
        free(rdx);
        free(am);
        checked++;
    }
    assert_true(checked >= 300);
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
               *r = malloc(batch * ch * sizeof *r), *dx = malloc(n * sizeof *dx), *dx2 = malloc(n * sizeof *dx2);
        nnla_test_fill(&rng, x, n, -1, 1);
        for (size_t p = 0; p < batch * ch; p++) {
            double s = 0;
            for (size_t i = 0; i < h * w; i++) s += x[p * h * w + i];
            r[p] = s / (double)(h * w);
        }
        assert_status(nnla_global_avgpool2d(batch, ch, h, w, x, y), NNLA_OK);
        assert_vec_close(y, r, batch * ch, 0, 4.0 * (double)(h * w) * EPS);
        /* it equals average pooling with the whole image as the window */
        nnla_pool2d_desc d = nnla_pool2d_desc_make(NNLA_POOL_AVG, h, w);
        assert_status(nnla_pool2d_forward(&d, batch, ch, h, w, x, r), NNLA_OK);
        assert_vec_close(y, r, batch * ch, 0, 4.0 * (double)(h * w) * EPS);
        /* and so does its backward pass: dy / (h w) everywhere */
        nnla_test_fill(&rng, r, batch * ch, -1, 1);
        for (size_t i = 0; i < n; i++) dx[i] = NAN;
        assert_status(nnla_global_avgpool2d_backward(batch, ch, h, w, r, dx), NNLA_OK);
        assert_status(nnla_pool2d_backward(&d, batch, ch, h, w, r, NULL, dx2), NNLA_OK);
        assert_vec_close(dx, dx2, n, 0, 2 * EPS);
        for (size_t i = 0; i < n; i++) assert_true(fabs(dx[i] - r[i / (h * w)] / (double)(h * w)) <= 2 * EPS);
        free(x);
        free(y);
        free(r);
        free(dx);
        free(dx2);
    }
}

/* ------------------------------------------------------------------ bad input */

static void test_bad_input(void **state)
{
    (void)state;
    double x[2 * 3 * 6 * 6], y[2 * 3 * 16], y0[2 * 3 * 16], dx[2 * 3 * 36], dx0[2 * 3 * 36];
    uint32_t am[2 * 3 * 16], am0[2 * 3 * 16];
    nnla_test_rng r = {4};
    nnla_test_fill(&r, x, sizeof x / sizeof x[0], -1, 1);
    nnla_test_fill(&r, y0, sizeof y0 / sizeof y0[0], -1, 1);
    nnla_test_fill(&r, dx0, sizeof dx0 / sizeof dx0[0], -1, 1);
    for (size_t i = 0; i < sizeof am0 / sizeof am0[0]; i++) am0[i] = (uint32_t)(i * 7919u);
    memcpy(y, y0, sizeof y);
    memcpy(dx, dx0, sizeof dx);
    memcpy(am, am0, sizeof am);
    nnla_pool2d_desc d = nnla_pool2d_desc_make(NNLA_POOL_MAX, 2, 2), e;
    d.pad_top = d.pad_bottom = d.pad_left = d.pad_right = 1; /* 6x6 -> 4x4 */
    size_t oh = 7, ow = 7;
#define UNTOUCHED()                                                                                          \
    do {                                                                                                     \
        assert_memory_equal(y, y0, sizeof y);                                                                \
        assert_memory_equal(dx, dx0, sizeof dx);                                                             \
        assert_memory_equal(am, am0, sizeof am);                                                             \
    } while (0)
#define POOL(dd, b, c, hh, ww, xx, yy, st)                                                                   \
    do {                                                                                                     \
        assert_status(nnla_pool2d_forward((dd), (b), (c), (hh), (ww), (xx), (yy)), (st));                    \
        assert_status(nnla_pool2d_forward_argmax((dd), (b), (c), (hh), (ww), (xx), (yy), am), (st));         \
        UNTOUCHED();                                                                                         \
    } while (0)
    POOL(NULL, 2, 3, 6, 6, x, y, NNLA_ENULL);
    POOL(&d, 2, 3, 6, 6, NULL, y, NNLA_ENULL);
    POOL(&d, 2, 3, 6, 6, x, NULL, NNLA_ENULL);
    assert_status(nnla_pool2d_forward_argmax(&d, 2, 3, 6, 6, x, y, NULL), NNLA_ENULL);
    e = d;
    e.kind = (nnla_pool_kind)7;
    POOL(&e, 2, 3, 6, 6, x, y, NNLA_EINVAL);
    e = d;
    e.ceil_mode = 2;
    POOL(&e, 2, 3, 6, 6, x, y, NNLA_EINVAL);
    e = d;
    e.count_include_pad = -1;
    POOL(&e, 2, 3, 6, 6, x, y, NNLA_EINVAL);
    size_t *pads[] = {&e.pad_top, &e.pad_bottom, &e.pad_left, &e.pad_right};
    for (int i = 0; i < 4; i++) { /* a pad as large as the kernel */
        e = d;
        *pads[i] = 2;
        POOL(&e, 2, 3, 6, 6, x, y, NNLA_EINVAL);
    }
    e = d; /* ONNX's rule: pad 2 < kernel 3 is fine though more than PyTorch's half kernel */
    e.kernel_h = e.kernel_w = 3;
    e.pad_top = 2;
    assert_status(nnla_pool2d_output_size(&e, 6, 6, &oh, &ow), NNLA_OK);
    POOL(&d, 0, 3, 6, 6, x, y, NNLA_EDIM);
    POOL(&d, 2, 0, 6, 6, x, y, NNLA_EDIM);
    POOL(&d, 2, 3, 0, 6, x, y, NNLA_EDIM);
    POOL(&d, 2, 3, 6, 0, x, y, NNLA_EDIM);
    size_t *fields[] = {&e.kernel_h, &e.kernel_w, &e.stride_h, &e.stride_w};
    for (size_t f = 0; f < 4; f++) {
        e = d;
        e.pad_top = e.pad_bottom = e.pad_left = e.pad_right = 0;
        *fields[f] = 0;
        POOL(&e, 2, 3, 6, 6, x, y, NNLA_EDIM);
    }
    e = d;
    e.kernel_h = 9; /* 9 > 6 + 2 */
    POOL(&e, 2, 3, 6, 6, x, y, NNLA_ESHAPE);
    e.ceil_mode = 1; /* still too large with ceil mode at stride 1: 6 + 2 + 0 < 9 */
    e.stride_h = 1;
    POOL(&e, 2, 3, 6, 6, x, y, NNLA_ESHAPE);
    e = nnla_pool2d_desc_make(NNLA_POOL_MAX, 1, 7);
    POOL(&e, 2, 3, 6, 6, x, y, NNLA_ESHAPE);
    POOL(&d, SIZE_MAX / 4, 3, 6, 6, x, y, NNLA_EOVERFLOW);
    e = d;
    e.stride_w = SIZE_MAX - 4;
    POOL(&e, 2, 3, 6, 6, x, y, NNLA_EOVERFLOW);
    POOL(&d, 2, 3, 6, 6, y + 1, y, NNLA_EALIAS);
    /* argmax: only for max pooling; not over x or y */
    e = d;
    e.kind = NNLA_POOL_AVG;
    assert_status(nnla_pool2d_forward_argmax(&e, 2, 3, 6, 6, x, y, am), NNLA_EINVAL);
    assert_status(nnla_pool2d_forward_argmax(&d, 2, 3, 6, 6, x, y, (uint32_t *)(void *)y + 3), NNLA_EALIAS);
    assert_status(nnla_pool2d_forward_argmax(&d, 2, 3, 6, 6, x, y, (uint32_t *)(void *)x), NNLA_EALIAS);
    UNTOUCHED();
    /* the queries */
    assert_status(nnla_pool2d_output_size(NULL, 6, 6, &oh, &ow), NNLA_ENULL);
    assert_status(nnla_pool2d_output_size(&d, 6, 6, NULL, &ow), NNLA_ENULL);
    e = nnla_pool2d_desc_make(NNLA_POOL_MAX, 1, 7);
    oh = ow = 7;
    assert_status(nnla_pool2d_output_size(&e, 6, 6, &oh, &ow), NNLA_ESHAPE);
    assert_true(oh == 7 && ow == 7);
    assert_status(nnla_pool2d_output_size(&d, 6, 6, &oh, &ow), NNLA_OK);
    assert_true(oh == 4 && ow == 4);

    /* backward: a valid argmax first, then every way to get it wrong */
    double dy[2 * 3 * 16];
    nnla_test_fill(&r, dy, sizeof dy / sizeof dy[0], -1, 1);
    assert_status(nnla_pool2d_forward_argmax(&d, 2, 3, 6, 6, x, y, am), NNLA_OK);
    memcpy(am0, am, sizeof am);
    memcpy(y0, y, sizeof y);
#define BACK(dd, b, c, hh, ww, dyp, amp, dxp, st)                                                            \
    do {                                                                                                     \
        assert_status(nnla_pool2d_backward((dd), (b), (c), (hh), (ww), (dyp), (amp), (dxp)), (st));          \
        UNTOUCHED();                                                                                         \
    } while (0)
    BACK(NULL, 2, 3, 6, 6, dy, am, dx, NNLA_ENULL);
    BACK(&d, 2, 3, 6, 6, NULL, am, dx, NNLA_ENULL);
    BACK(&d, 2, 3, 6, 6, dy, NULL, dx, NNLA_ENULL); /* max pooling needs its argmax */
    BACK(&d, 2, 3, 6, 6, dy, am, NULL, NNLA_ENULL);
    BACK(&d, 0, 3, 6, 6, dy, am, dx, NNLA_EDIM);
    e = d;
    e.pad_left = 2;
    BACK(&e, 2, 3, 6, 6, dy, am, dx, NNLA_EINVAL);
    BACK(&d, 2, 3, 6, 6, dy, am, (double *)(void *)am, NNLA_EALIAS);
    BACK(&d, 2, 3, 6, 6, dx + 5, am, dx, NNLA_EALIAS);
    /* an argmax outside its window: another output's index, past the plane, a wrapped column */
    uint32_t bad[2 * 3 * 16];
    const size_t spots[3] = {0, 17, 95};
    /* output (0,0) of plane 0 covers only input (0,0); 36 = 6*6 is past the plane; output (3,3) of
     * plane 5 covers only input (5,5) */
    const uint32_t vals[3] = {35, 36, 6};
    for (int k = 0; k < 3; k++) {
        memcpy(bad, am, sizeof bad);
        bad[spots[k]] = vals[k];
        assert_status(nnla_pool2d_backward(&d, 2, 3, 6, 6, dy, bad, dx), NNLA_EINVAL);
        UNTOUCHED();
    }
    /* average pooling ignores argmax, so NULL is fine there */
    e = d;
    e.kind = NNLA_POOL_AVG;
    assert_status(nnla_pool2d_backward(&e, 2, 3, 6, 6, dy, NULL, dx), NNLA_OK);
    memcpy(dx0, dx, sizeof dx);
#undef POOL
#undef BACK
    /* global average pooling and its backward pass */
    assert_status(nnla_global_avgpool2d(2, 3, 6, 6, NULL, y), NNLA_ENULL);
    assert_status(nnla_global_avgpool2d(2, 3, 6, 6, x, NULL), NNLA_ENULL);
    assert_status(nnla_global_avgpool2d(0, 3, 6, 6, x, y), NNLA_EDIM);
    assert_status(nnla_global_avgpool2d(2, 0, 6, 6, x, y), NNLA_EDIM);
    assert_status(nnla_global_avgpool2d(2, 3, 0, 6, x, y), NNLA_EDIM);
    assert_status(nnla_global_avgpool2d(2, 3, 6, 0, x, y), NNLA_EDIM);
    assert_status(nnla_global_avgpool2d(SIZE_MAX / 2, 3, 6, 6, x, y), NNLA_EOVERFLOW);
    assert_status(nnla_global_avgpool2d(1, 2, 3, 3, y, y + 1), NNLA_EALIAS);
    assert_status(nnla_global_avgpool2d_backward(2, 3, 6, 6, NULL, dx), NNLA_ENULL);
    assert_status(nnla_global_avgpool2d_backward(2, 3, 6, 6, dy, NULL), NNLA_ENULL);
    assert_status(nnla_global_avgpool2d_backward(2, 3, 0, 6, dy, dx), NNLA_EDIM);
    assert_status(nnla_global_avgpool2d_backward(SIZE_MAX / 2, 3, 6, 6, dy, dx), NNLA_EOVERFLOW);
    assert_status(nnla_global_avgpool2d_backward(1, 2, 3, 3, dx + 4, dx), NNLA_EALIAS);
    UNTOUCHED();
#undef UNTOUCHED
}

/* ------------------------------------------------------------------ threads */

/* Every pass on batches large enough to be dealt out: 2 and 3 threads give the bytes 1 thread
 * gives, which agree with the loops; a bad argmax in the last plane is found before anything is
 * written. */
static void test_threads(void **state)
{
    (void)state;
    const int before = nnla_blas_num_threads();
    nnla_test_rng rng = {31};
    for (int trial = 0; trial < 12; trial++) {
        nnla_pool2d_desc d = draw_desc(&rng, trial);
        size_t batch = nnla_test_int(&rng, 3, 5), ch = nnla_test_int(&rng, 5, 9);
        size_t h = nnla_test_int(&rng, 20, 40), w = nnla_test_int(&rng, 20, 40), oh, ow;
        assert_status(nnla_pool2d_output_size(&d, h, w, &oh, &ow), NNLA_OK);
        size_t planes = batch * ch, nx = planes * h * w, ny = planes * oh * ow;
        double *x = malloc(nx * sizeof *x), *dy = malloc(ny * sizeof *dy), *g = malloc(planes * sizeof *g);
        double *y[3], *dx[3], *gy[3], *gdx[3], *ry = malloc(ny * sizeof *ry), *rdx = malloc(nx * sizeof *rdx);
        uint32_t *am[3], *ram = malloc(ny * sizeof *ram);
        assert_true(x && dy && g && ry && rdx && ram);
        nnla_test_fill(&rng, x, nx, -1, 1);
        nnla_test_fill(&rng, dy, ny, -1, 1);
        nnla_test_fill(&rng, g, planes, -1, 1);
        for (int t = 1; t <= 3; t++) {
            nnla_test_set_threads(t);
            y[t - 1] = malloc(ny * sizeof(double));
            dx[t - 1] = malloc(nx * sizeof(double));
            gy[t - 1] = malloc(planes * sizeof(double));
            gdx[t - 1] = malloc(nx * sizeof(double));
            am[t - 1] = malloc(ny * sizeof(uint32_t));
            assert_true(y[t - 1] && dx[t - 1] && gy[t - 1] && gdx[t - 1] && am[t - 1]);
            if (d.kind == NNLA_POOL_MAX)
                assert_status(nnla_pool2d_forward_argmax(&d, batch, ch, h, w, x, y[t - 1], am[t - 1]), NNLA_OK);
            else
                assert_status(nnla_pool2d_forward(&d, batch, ch, h, w, x, y[t - 1]), NNLA_OK);
            assert_status(nnla_pool2d_backward(&d, batch, ch, h, w, dy, am[t - 1], dx[t - 1]), NNLA_OK);
            assert_status(nnla_global_avgpool2d(batch, ch, h, w, x, gy[t - 1]), NNLA_OK);
            assert_status(nnla_global_avgpool2d_backward(batch, ch, h, w, g, gdx[t - 1]), NNLA_OK);
            if (t > 1) {
                assert_memory_equal(y[t - 1], y[0], ny * sizeof(double));
                assert_memory_equal(dx[t - 1], dx[0], nx * sizeof(double));
                assert_memory_equal(gy[t - 1], gy[0], planes * sizeof(double));
                assert_memory_equal(gdx[t - 1], gdx[0], nx * sizeof(double));
                if (d.kind == NNLA_POOL_MAX) assert_memory_equal(am[t - 1], am[0], ny * sizeof(uint32_t));
            }
        }
        /* the two-thread results against the loops */
        ref_pool(&d, planes, h, w, oh, ow, x, ry, ram);
        assert_vec_close(y[1], ry, ny, 0.0, 4.0 * (double)(d.kernel_h * d.kernel_w) * EPS);
        if (d.kind == NNLA_POOL_MAX) assert_memory_equal(am[1], ram, ny * sizeof(uint32_t));
        ref_pool_backward(&d, planes, h, w, oh, ow, dy, ram, rdx);
        assert_vec_close(dx[1], rdx, nx, 0.0, 4.0 * (double)(d.kernel_h * d.kernel_w) * EPS);
        for (size_t p = 0; p < planes; p++) {
            double s = 0;
            for (size_t i = 0; i < h * w; i++) s += x[p * h * w + i];
            assert_true(fabs(gy[1][p] - s / (double)(h * w)) <= 4.0 * (double)(h * w) * EPS);
        }
        /* a foreign argmax entry in the last plane: refused, dx untouched, with 2 threads */
        if (d.kind == NNLA_POOL_MAX) {
            nnla_test_set_threads(2);
            am[1][ny - 1] = (uint32_t)(h * w); /* outside every window of the plane */
            memcpy(rdx, dx[1], nx * sizeof(double));
            assert_status(nnla_pool2d_backward(&d, batch, ch, h, w, dy, am[1], dx[1]), NNLA_EINVAL);
            assert_memory_equal(rdx, dx[1], nx * sizeof(double));
        }
        for (int t = 0; t < 3; t++) {
            free(y[t]);
            free(dx[t]);
            free(gy[t]);
            free(gdx[t]);
            free(am[t]);
        }
        free(x);
        free(dy);
        free(g);
        free(ry);
        free(rdx);
        free(ram);
    }
    assert_status(nnla_blas_set_num_threads(before), NNLA_OK);
}

/* ------------------------------------------------------------------ whole 2x2 windows */

static uint64_t bits_of(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return u;
}

static double double_of(uint64_t u)
{
    double v;
    memcpy(&v, &u, sizeof v);
    return v;
}

/* Whether every window of a 2 x 2 max pooling is a whole block of the input: no leading padding and
 * none clipped by the end of the input (trailing padding may be declared but is never reached). */
static int whole_2x2_windows(const nnla_pool2d_desc *d, size_t h, size_t w, size_t oh, size_t ow)
{
    return d->kernel_h == 2 && d->kernel_w == 2 && d->pad_top == 0 && d->pad_left == 0 &&
           (oh - 1) * d->stride_h + 2 <= h && (ow - 1) * d->stride_w + 2 <= w;
}

/* Quiet NaNs told apart by their bits: both signs, several payloads (the last NaN of a window is
 * observable), 0x7ff8... being C's NAN and 0xfff8... x86's default NaN. */
static const uint64_t nan_bits[4] = {UINT64_C(0x7ff8000000000000), UINT64_C(0xfff8000000000000),
                                     UINT64_C(0x7ff8000000000001), UINT64_C(0xfff80000deadbeef)};

/* Category k of the special values: -Inf, +Inf, a NaN, -0, +0, -1, 1, 2, DBL_MAX, -DBL_MAX (the last
 * two overflow a window's sum to +Inf and -Inf at once). */
static double special_value(nnla_test_rng *rng, int k)
{
    static const double v[10] = {-INFINITY, INFINITY, 0.0, -0.0, 0.0, -1.0, 1.0, 2.0, DBL_MAX, -DBL_MAX};
    return k == 2 ? double_of(nan_bits[nnla_test_int(rng, 0, 3)]) : v[k];
}

/*
 * Max pooling over 2 x 2 kernels (the whole-window tournament and the general loop) on inputs
 * drawn from a few special values, so that ties, signed zeros, infinities of both signs and NaNs
 * with distinct bits meet in many windows: y bit for bit (sign of zero, NaN payload) and argmax
 * equal to the reference (first maximum under >, the last NaN, a window of -Inf its first entry),
 * through both forwards, with 1, 2 and 3 threads. Counts show the cases occurred.
 */
static void test_max2x2_special_values(void **state)
{
    (void)state;
    const int before = nnla_blas_num_threads();
    nnla_test_rng rng = {2024};
    long whole = 0, general = 0, windows = 0, ties = 0, zero_ties = 0, nan1 = 0, nan_multi = 0, inf_mix = 0,
         all_minf = 0, overflow = 0, compared = 0;
    for (int trial = 0; trial < 240; trial++) {
        nnla_pool2d_desc d = nnla_pool2d_desc_make(NNLA_POOL_MAX, 2, 2);
        d.stride_h = nnla_test_int(&rng, 1, 3);
        d.stride_w = trial % 5 == 0 ? nnla_test_int(&rng, 1, 3) : d.stride_h;
        d.ceil_mode = (int)nnla_test_int(&rng, 0, 1);
        if (trial % 4 == 1) { /* trailing padding: the windows may still be whole */
            d.pad_bottom = nnla_test_int(&rng, 0, 1);
            d.pad_right = nnla_test_int(&rng, 0, 1);
        }
        if (trial % 8 == 3) d.pad_top = d.pad_left = 1; /* leading padding: the general loop */
        size_t h = nnla_test_int(&rng, 1, 9), w = nnla_test_int(&rng, 1, 9), oh = 0, ow = 0;
        if (nnla_pool2d_output_size(&d, h, w, &oh, &ow) != NNLA_OK) continue;
        const int fast = whole_2x2_windows(&d, h, w, oh, ow);
        whole += fast;
        general += !fast;
        /* every other trial, enough planes for the pass to be dealt over threads */
        size_t per = oh * ow * 4 + h * w, planes = trial % 2 ? nnla_test_int(&rng, 1, 3) : 9000 / per + 2;
        size_t nx = planes * h * w, ny = planes * oh * ow;
        /* a palette per trial: all eight small values, or a random subset (all -Inf windows, zero ties,
         * NaN-only windows become common); DBL_MAX and -DBL_MAX in every fourth trial */
        int pal[10], np = 0;
        for (int k = 0; k < 8; k++)
            if (trial % 3 == 0 || nnla_test_int(&rng, 0, 1)) pal[np++] = k;
        if (np == 0) pal[np++] = (int)nnla_test_int(&rng, 0, 7);
        if (trial % 4 == 2) {
            pal[np++] = 8;
            pal[np++] = 9;
        }
        double *x = malloc(nx * sizeof *x), *y = malloc(ny * sizeof *y), *ry = malloc(ny * sizeof *ry);
        uint32_t *am = malloc(ny * sizeof *am), *ram = malloc(ny * sizeof *ram);
        assert_true(x && y && ry && am && ram);
        for (size_t i = 0; i < nx; i++) x[i] = special_value(&rng, pal[nnla_test_int(&rng, 0, (size_t)np - 1)]);
        ref_pool(&d, planes, h, w, oh, ow, x, ry, ram);
        if (fast) { /* what the windows hold */
            for (size_t p = 0; p < planes; p++)
                for (size_t oy = 0; oy < oh; oy++)
                    for (size_t ox = 0; ox < ow; ox++) {
                        const double *b = x + p * h * w + oy * d.stride_h * w + ox * d.stride_w;
                        const double v[4] = {b[0], b[1], b[w], b[w + 1]};
                        int nans = 0, pinf = 0, minf = 0, nmax = 0, negz = 0, posz = 0, distinct_nan = 0;
                        double mx = -INFINITY;
                        for (int k = 0; k < 4; k++) {
                            nans += isnan(v[k]);
                            pinf += v[k] == INFINITY;
                            minf += v[k] == -INFINITY;
                            if (v[k] > mx) mx = v[k];
                            for (int j = 0; j < k; j++)
                                distinct_nan |= isnan(v[k]) && isnan(v[j]) && bits_of(v[k]) != bits_of(v[j]);
                        }
                        for (int k = 0; k < 4; k++) {
                            nmax += v[k] == mx;
                            negz += v[k] == mx && mx == 0.0 && signbit(v[k]);
                            posz += v[k] == mx && mx == 0.0 && !signbit(v[k]);
                        }
                        windows++;
                        nan1 += nans == 1;
                        nan_multi += distinct_nan;
                        if (nans) continue;
                        ties += nmax >= 2;
                        zero_ties += negz && posz;
                        inf_mix += pinf && minf;
                        all_minf += minf == 4;
                        /* finite entries whose pair sums overflow with opposite signs */
                        overflow += !pinf && !minf && isnan((v[0] + v[1]) + (v[2] + v[3]));
                    }
        }
        for (int t = 1; t <= 3; t++) {
            nnla_test_set_threads(t);
            memset(y, 0x5a, ny * sizeof *y);
            assert_status(nnla_pool2d_forward(&d, 1, planes, h, w, x, y), NNLA_OK);
            assert_memory_equal(y, ry, ny * sizeof *y);
            memset(y, 0x5a, ny * sizeof *y);
            memset(am, 0xa5, ny * sizeof *am);
            assert_status(nnla_pool2d_forward_argmax(&d, planes, 1, h, w, x, y, am), NNLA_OK);
            assert_memory_equal(y, ry, ny * sizeof *y);
            assert_memory_equal(am, ram, ny * sizeof *am);
            compared += 3;
        }
        free(x);
        free(y);
        free(ry);
        free(am);
        free(ram);
    }
    assert_status(nnla_blas_set_num_threads(before), NNLA_OK);
    /* both paths ran, and every special case met the whole-window path many times */
    assert_true(whole >= 80 && general >= 40);
    assert_true(windows >= 50000);
    assert_true(ties >= 1000 && zero_ties >= 100 && inf_mix >= 1000 && all_minf >= 100);
    assert_true(nan1 >= 1000 && nan_multi >= 1000 && overflow >= 20);
    assert_true(compared == 9 * (whole + general));
}

/*
 * The backward pass's argmax check over whole 2 x 2 windows: one entry of a valid argmax set to
 * every index of its plane and a few past it (and near its window: before it, 2, w - 1, w + 2, 2w
 * and 2w + 1 past its first entry) is accepted exactly when the index lies in that output's window
 * (rows oy s_h .. oy s_h + 1, columns ox s_w .. ox s_w + 1), dx then equals the reference's bytes;
 * otherwise NNLA_EINVAL and dx untouched. Narrow planes (w = 2, 3), overlapping windows (stride 1)
 * and gaps between windows (stride 3); with 1 and 2 threads, on batches large enough to be dealt
 * out; the entry changed in planes first, last and between.
 */
static void test_max2x2_argmax_check(void **state)
{
    (void)state;
    const int before = nnla_blas_num_threads();
    /* h, w, stride_h, stride_w, trailing padding (both sides), ceil mode: all with whole windows */
    static const size_t geo[][6] = {
        {2, 2, 1, 1, 0, 0}, {2, 2, 2, 2, 0, 0}, {3, 2, 1, 1, 0, 0}, {4, 2, 1, 1, 0, 0}, {7, 2, 3, 1, 0, 0},
        {2, 3, 1, 1, 0, 0}, {3, 3, 1, 1, 0, 0}, {3, 3, 1, 2, 0, 0}, {4, 3, 2, 1, 0, 0}, {6, 3, 3, 1, 0, 0},
        {5, 5, 1, 1, 0, 0}, {6, 6, 2, 2, 0, 0}, {7, 5, 3, 2, 0, 0}, {4, 7, 1, 3, 0, 0}, {8, 8, 1, 1, 0, 0},
        {5, 9, 2, 3, 0, 0}, {4, 4, 2, 2, 1, 0}, {4, 6, 2, 2, 0, 1}, {9, 4, 3, 2, 1, 1}, {5, 5, 1, 1, 0, 1},
    };
    nnla_test_rng rng = {77};
    long accepted = 0, refused = 0, want_accepted = 0, beyond = 0;
    for (int t = 1; t <= 2; t++) {
        nnla_test_set_threads(t);
        for (size_t gi = 0; gi < sizeof geo / sizeof geo[0]; gi++) {
            const size_t h = geo[gi][0], w = geo[gi][1], sh = geo[gi][2], sw = geo[gi][3];
            nnla_pool2d_desc d = nnla_pool2d_desc_make(NNLA_POOL_MAX, 2, 2);
            d.stride_h = sh;
            d.stride_w = sw;
            d.pad_bottom = d.pad_right = geo[gi][4];
            d.ceil_mode = (int)geo[gi][5];
            size_t oh, ow;
            assert_status(nnla_pool2d_output_size(&d, h, w, &oh, &ow), NNLA_OK);
            assert_true(whole_2x2_windows(&d, h, w, oh, ow));
            const size_t hw = h * w, P = oh * ow, planes = 9000 / (P * 4 + hw) + 2;
            double *x = malloc(planes * hw * sizeof *x), *dy = malloc(planes * P * sizeof *dy);
            double *dx = malloc(planes * hw * sizeof *dx), *dx0 = malloc(planes * hw * sizeof *dx0);
            double *rdx = malloc(planes * hw * sizeof *rdx), *y = malloc(planes * P * sizeof *y);
            uint32_t *am = malloc(planes * P * sizeof *am);
            assert_true(x && dy && dx && dx0 && rdx && y && am);
            nnla_test_fill(&rng, x, planes * hw, -1, 1);
            nnla_test_fill(&rng, dy, planes * P, -1, 1);
            nnla_test_fill(&rng, dx0, planes * hw, 100, 200); /* what a refused call must leave */
            assert_status(nnla_pool2d_forward_argmax(&d, 1, planes, h, w, x, y, am), NNLA_OK);
            for (size_t o = 0; o < P; o++) {
                const size_t oy = o / ow, ox = o % ow, start = oy * sh * w + ox * sw;
                const size_t plane = o == 0 ? planes - 1 : o == 1 ? 0 : (o * 7 + gi) % planes;
                uint32_t *slot = am + plane * P + o, keep = *slot;
                uint32_t cand[96];
                size_t nc = 0;
                for (size_t c = 0; c < hw + 3; c++) cand[nc++] = (uint32_t)c; /* every index, and 3 past */
                const size_t near[] = {start - 1,     start - 2,         start + 2, start + w - 1,     start + w + 2,
                                       start + 2 * w, start + 2 * w + 1, hw + w,    (size_t)UINT32_MAX};
                for (size_t k = 0; k < sizeof near / sizeof near[0]; k++) cand[nc++] = (uint32_t)near[k];
                assert_true(nc <= sizeof cand / sizeof cand[0]);
                for (size_t k = 0; k < nc; k++) {
                    const uint32_t c = cand[k];
                    const long ry = (long)(c / w) - (long)(oy * sh), rx = (long)(c % w) - (long)(ox * sw);
                    const int inside = c < hw && ry >= 0 && ry <= 1 && rx >= 0 && rx <= 1;
                    beyond += c >= hw;
                    *slot = c;
                    memcpy(dx, dx0, planes * hw * sizeof *dx);
                    nnla_status st = nnla_pool2d_backward(&d, 1, planes, h, w, dy, am, dx);
                    if (inside) {
                        assert_status(st, NNLA_OK);
                        ref_pool_backward(&d, planes, h, w, oh, ow, dy, am, rdx);
                        assert_memory_equal(dx, rdx, planes * hw * sizeof *dx);
                        accepted++;
                        want_accepted += k < hw; /* counts each of the window's four entries once */
                    } else {
                        if (st != NNLA_EINVAL)
                            fail_msg("%zux%zu stride %zux%zu, output (%zu,%zu): index %u accepted", h, w, sh, sw, oy,
                                     ox, (unsigned)c);
                        assert_memory_equal(dx, dx0, planes * hw * sizeof *dx);
                        refused++;
                    }
                }
                *slot = keep;
            }
            /* the valid argmax is still accepted */
            assert_status(nnla_pool2d_backward(&d, 1, planes, h, w, dy, am, dx), NNLA_OK);
            free(x);
            free(dy);
            free(dx);
            free(dx0);
            free(rdx);
            free(y);
            free(am);
        }
    }
    assert_status(nnla_blas_set_num_threads(before), NNLA_OK);
    /* each output's window has four entries: the sweep over the plane accepted exactly those */
    long outputs = 0;
    for (size_t gi = 0; gi < sizeof geo / sizeof geo[0]; gi++) {
        nnla_pool2d_desc d = nnla_pool2d_desc_make(NNLA_POOL_MAX, 2, 2);
        d.stride_h = geo[gi][2];
        d.stride_w = geo[gi][3];
        d.pad_bottom = d.pad_right = geo[gi][4];
        d.ceil_mode = (int)geo[gi][5];
        size_t oh, ow;
        assert_status(nnla_pool2d_output_size(&d, geo[gi][0], geo[gi][1], &oh, &ow), NNLA_OK);
        outputs += (long)(oh * ow);
    }
    assert_true(want_accepted == 2 * 4 * outputs);
    assert_true(accepted >= want_accepted && refused >= 4 * accepted && beyond >= 2 * 5 * outputs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_vs_loops), cmocka_unit_test(test_known_values),
        cmocka_unit_test(test_nan_policy),      cmocka_unit_test(test_backward),
        cmocka_unit_test(test_global_avgpool),  cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_max2x2_special_values), cmocka_unit_test(test_max2x2_argmax_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
