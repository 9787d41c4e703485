/*
 * Convolution: the paper's example word for word, nnla_conv2d_forward against a direct
 * convolution loop on random configurations (stride, padding, dilation, groups, batch,
 * 1x1, bias, activations, tiled and untiled workspaces), im2col against a loop, col2im as
 * its adjoint and against a loop, the NaN policy, workspace queries and bad input; the threading
 * model: 1, 2 and 3 threads give bit-identical forward passes and input gradients (the weight
 * gradient within n eps), several of the program's threads at once stay correct and share the
 * threads. tests/conv.cmake runs the suite again with 1 and 3 threads and with the pthread OpenBLAS.
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include "testutil.h"

#include <dirent.h>
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EPS DBL_EPSILON

/* ------------------------------------------------------------------ references */

/* Input index o*s + k*dil - pad along one axis, or -1 when it falls in the padding. */
static long in_index(size_t o, size_t s, size_t k, size_t dil, size_t pad, size_t n)
{
    long v = (long)(o * s + k * dil) - (long)pad;
    return v >= 0 && v < (long)n ? v : -1;
}

/*
 * Direct convolution (cross-correlation) by the definition: y = conv(x, w) + b, no
 * activation. sabs receives, per output, sum |x w| + |b| (the scale of its rounding error).
 */
static void ref_conv(const nnla_conv2d_desc *d, size_t batch, size_t h, size_t w, const double *x,
                     const double *wt, const double *b, size_t oh, size_t ow, double *y, double *sabs)
{
    size_t cg = d->in_channels / d->groups, mg = d->out_channels / d->groups;
    for (size_t n = 0; n < batch; n++)
        for (size_t m = 0; m < d->out_channels; m++) {
            size_t g = m / mg;
            for (size_t oy = 0; oy < oh; oy++)
                for (size_t ox = 0; ox < ow; ox++) {
                    double s = b ? b[m] : 0.0, a = b ? fabs(b[m]) : 0.0;
                    for (size_t c = 0; c < cg; c++)
                        for (size_t i = 0; i < d->kernel_h; i++) {
                            long iy = in_index(oy, d->stride_h, i, d->dilation_h, d->pad_top, h);
                            if (iy < 0) continue;
                            for (size_t j = 0; j < d->kernel_w; j++) {
                                long ix = in_index(ox, d->stride_w, j, d->dilation_w, d->pad_left, w);
                                if (ix < 0) continue;
                                double xv =
                                    x[((n * d->in_channels + g * cg + c) * h + (size_t)iy) * w + (size_t)ix];
                                double wv = wt[((m * cg + c) * d->kernel_h + i) * d->kernel_w + j];
                                s += xv * wv;
                                a += fabs(xv * wv);
                            }
                        }
                    size_t o = ((n * d->out_channels + m) * oh + oy) * ow + ox;
                    y[o] = s;
                    if (sabs) sabs[o] = a;
                }
        }
}

/* im2col by its definition (the formula in conv.h). */
static void ref_im2col(const nnla_conv2d_desc *d, size_t h, size_t w, size_t oh, size_t ow, const double *x,
                       double *col)
{
    size_t p = oh * ow;
    for (size_t c = 0; c < d->in_channels; c++)
        for (size_t i = 0; i < d->kernel_h; i++)
            for (size_t j = 0; j < d->kernel_w; j++)
                for (size_t oy = 0; oy < oh; oy++)
                    for (size_t ox = 0; ox < ow; ox++) {
                        long iy = in_index(oy, d->stride_h, i, d->dilation_h, d->pad_top, h);
                        long ix = in_index(ox, d->stride_w, j, d->dilation_w, d->pad_left, w);
                        size_t r = (c * d->kernel_h + i) * d->kernel_w + j;
                        col[r * p + oy * ow + ox] =
                            iy < 0 || ix < 0 ? 0.0 : x[(c * h + (size_t)iy) * w + (size_t)ix];
                    }
}

/* col2im by its definition: every column entry added back where im2col took it from. */
static void ref_col2im(const nnla_conv2d_desc *d, size_t h, size_t w, size_t oh, size_t ow, const double *col,
                       double *x)
{
    size_t p = oh * ow;
    memset(x, 0, d->in_channels * h * w * sizeof *x);
    for (size_t c = 0; c < d->in_channels; c++)
        for (size_t i = 0; i < d->kernel_h; i++)
            for (size_t j = 0; j < d->kernel_w; j++)
                for (size_t oy = 0; oy < oh; oy++)
                    for (size_t ox = 0; ox < ow; ox++) {
                        long iy = in_index(oy, d->stride_h, i, d->dilation_h, d->pad_top, h);
                        long ix = in_index(ox, d->stride_w, j, d->dilation_w, d->pad_left, w);
                        if (iy < 0 || ix < 0) continue;
                        size_t r = (c * d->kernel_h + i) * d->kernel_w + j;
                        x[(c * h + (size_t)iy) * w + (size_t)ix] += col[r * p + oy * ow + ox];
                    }
}

/* The activation applied to reference pre-activations, one row per channel plane. */
/* The activation of [batch][channels][p] in place: softmax and log-softmax by a plain loop over the
 * channels of each pixel (PyTorch's dim=1), the other kinds through nnla_act_forward (checked on
 * their own in test_act.c). */
static void ref_act(nnla_act act, size_t batch, size_t channels, size_t p, double *y)
{
    if (nnla_act_is_rowwise(act.kind)) {
        for (size_t n = 0; n < batch; n++)
            for (size_t i = 0; i < p; i++) {
                double *v = y + n * channels * p + i, m = -INFINITY, s = 0;
                for (size_t c = 0; c < channels; c++) m = v[c * p] > m ? v[c * p] : m;
                for (size_t c = 0; c < channels; c++) s += exp(v[c * p] - m);
                for (size_t c = 0; c < channels; c++)
                    v[c * p] = act.kind == NNLA_ACT_SOFTMAX ? exp(v[c * p] - m) / s : v[c * p] - m - log(s);
            }
        return;
    }
    nnla_mat v = nnla_mat_view(y, batch * channels, p, p);
    assert_status(nnla_act_forward(act, nnla_cmat_of(v), v), NNLA_OK);
}

/* ------------------------------------------------------------------ the paper */

static void test_paper_example(void **state)
{
    (void)state;
    /* Section IV: the 5x6 image A and the 3x3 kernel k; the paper's result, verified
     * independently (numpy) before it was written here. */
    const double a[30] = {3, 3, 2, 1, 0, 5, 0, 0, 1, 3, 1, 6, 3, 1, 2,
                          2, 3, 7, 2, 0, 0, 2, 2, 8, 2, 0, 0, 0, 1, 9};
    const double k[9] = {0, 1, 2, 2, 2, 0, 0, 1, 2};
    const double want[12] = {12, 12, 17, 35, 10, 17, 19, 41, 9, 6, 14, 44};
    nnla_conv2d_desc d = nnla_conv2d_desc_make(1, 1, 3, 3);
    size_t oh = 0, ow = 0, ws = 1;
    assert_status(nnla_conv2d_output_size(&d, 5, 6, &oh, &ow), NNLA_OK);
    assert_int_equal(oh, 3);
    assert_int_equal(ow, 4);
    assert_status(nnla_conv2d_workspace_size(&d, 1, 5, 6, &ws), NNLA_OK);
    void *work = malloc(ws);
    double y[12];
    assert_status(
        nnla_conv2d_forward(&d, 1, 5, 6, a, k, NULL, nnla_act_default(NNLA_ACT_IDENTITY), y, work, ws),
        NNLA_OK);
    assert_vec_close(y, want, 12, 0.0, 0.0); /* small integers: exact */
    /* A_4 . k, written out in the paper: 1*0 + 0*1 + 5*2 + 3*2 + 1*2 + 6*0 + 2*0 + 3*1 + 7*2 */
    assert_true(y[3] == 35.0);
    /* the same through im2col: the 9 x 12 column matrix, then k (1 x 9) times it */
    double col[9 * 12], y2[12];
    assert_status(nnla_im2col(&d, 5, 6, a, col), NNLA_OK);
    for (size_t q = 0; q < 12; q++) {
        double s = 0;
        for (size_t r = 0; r < 9; r++) s += k[r] * col[r * 12 + q];
        y2[q] = s;
    }
    assert_vec_close(y2, want, 12, 0.0, 0.0);
    /* and with the smallest workspace (one output row per tile) */
    size_t wmin = 0;
    assert_status(nnla_conv2d_workspace_min(&d, 5, 6, &wmin), NNLA_OK);
    assert_true(wmin <= ws);
    memset(y, 0, sizeof y);
    assert_status(
        nnla_conv2d_forward(&d, 1, 5, 6, a, k, NULL, nnla_act_default(NNLA_ACT_IDENTITY), y, work, wmin),
        NNLA_OK);
    assert_vec_close(y, want, 12, 0.0, 0.0);
    free(work);
}

/* ------------------------------------------------------------------ random configurations */

typedef struct conv_case {
    nnla_conv2d_desc d;
    size_t batch, h, w, oh, ow;
    int bias;
    nnla_act act;
    int ws_mode; /* 0: full workspace, 1: minimum, 2: random in between, 3: more than full */
} conv_case;

static const nnla_act_kind kinds[] = {NNLA_ACT_IDENTITY, NNLA_ACT_RELU, NNLA_ACT_LEAKY_RELU,
                                      NNLA_ACT_SIGMOID,  NNLA_ACT_TANH, NNLA_ACT_GELU,
                                      NNLA_ACT_SOFTMAX,  NNLA_ACT_ELU,  NNLA_ACT_LOG_SOFTMAX};

static void pad_all(nnla_conv2d_desc *d, size_t p) { d->pad_top = d->pad_bottom = d->pad_left = d->pad_right = p; }

static int is_direct(const nnla_conv2d_desc *d)
{
    return d->kernel_h == 1 && d->kernel_w == 1 && d->stride_h == 1 && d->stride_w == 1 && d->pad_top == 0 &&
           d->pad_bottom == 0 && d->pad_left == 0 && d->pad_right == 0;
}

/* Draw a valid configuration (kernel fits the padded input). */
static conv_case draw_case(nnla_test_rng *r, int trial)
{
    conv_case c;
    for (;;) {
        size_t gmode = nnla_test_int(r, 0, 3); /* 0,1: one group, 2: two groups, 3: depthwise */
        size_t groups = gmode <= 1 ? 1 : gmode == 2 ? 2 : nnla_test_int(r, 1, 5);
        size_t cg = gmode == 3 ? 1 : nnla_test_int(r, 1, 4);
        size_t mg = gmode == 3 ? nnla_test_int(r, 1, 2) : nnla_test_int(r, 1, 5);
        size_t k = nnla_test_int(r, 1, 4), kw = trial % 3 == 0 ? k : nnla_test_int(r, 1, 4);
        c.d = nnla_conv2d_desc_make(cg * groups, mg * groups, k, kw);
        c.d.groups = groups;
        c.d.stride_h = nnla_test_int(r, 1, 3);
        c.d.stride_w = nnla_test_int(r, 1, 3);
        c.d.pad_top = nnla_test_int(r, 0, 2);
        c.d.pad_bottom = trial % 2 ? nnla_test_int(r, 0, 2) : c.d.pad_top; /* asymmetric every other */
        c.d.pad_left = nnla_test_int(r, 0, 2);
        c.d.pad_right = trial % 2 ? nnla_test_int(r, 0, 2) : c.d.pad_left;
        c.d.dilation_h = nnla_test_int(r, 1, 2);
        c.d.dilation_w = nnla_test_int(r, 1, 2);
        if (trial % 7 == 0) { /* the 1x1, stride-1, unpadded fast path */
            c.d.kernel_h = c.d.kernel_w = 1;
            c.d.stride_h = c.d.stride_w = 1;
            c.d.pad_top = c.d.pad_bottom = c.d.pad_left = c.d.pad_right = 0;
        }
        if (trial % 5 == 0) { /* the common stride-1 shapes */
            c.d.stride_h = c.d.stride_w = 1;
            c.d.dilation_h = c.d.dilation_w = 1;
        }
        c.batch = nnla_test_int(r, 1, 3);
        c.h = nnla_test_int(r, 1, 13);
        c.w = nnla_test_int(r, 1, 13);
        c.bias = (int)nnla_test_int(r, 0, 1);
        c.act = nnla_act_default(kinds[nnla_test_int(r, 0, sizeof kinds / sizeof kinds[0] - 1)]);
        if (c.act.kind == NNLA_ACT_LEAKY_RELU) c.act.param = 0.1;
        c.ws_mode = (int)nnla_test_int(r, 0, 3);
        if (nnla_conv2d_output_size(&c.d, c.h, c.w, &c.oh, &c.ow) == NNLA_OK) return c;
    }
}

/* Run one case against the direct loop; returns 1 when it took the tiled path. */
static int run_case(nnla_test_rng *r, const conv_case *c)
{
    const nnla_conv2d_desc *d = &c->d;
    size_t cg = d->in_channels / d->groups;
    size_t nx = c->batch * d->in_channels * c->h * c->w,
           nw = d->out_channels * cg * d->kernel_h * d->kernel_w;
    size_t p = c->oh * c->ow, ny = c->batch * d->out_channels * p;
    double *x = malloc(nx * sizeof *x), *w = malloc(nw * sizeof *w), *b = malloc(d->out_channels * sizeof *b);
    double *y = malloc(ny * sizeof *y), *ref = malloc(ny * sizeof *ref), *sabs = malloc(ny * sizeof *sabs);
    assert_non_null(x);
    assert_non_null(y);
    nnla_test_fill(r, x, nx, -1, 1);
    nnla_test_fill(r, w, nw, -1, 1);
    nnla_test_fill(r, b, d->out_channels, -1, 1);
    for (size_t i = 0; i < ny; i++) y[i] = NAN; /* every output must be written */

    size_t full = 0, wmin = 0, ws;
    assert_status(nnla_conv2d_workspace_size(d, c->batch, c->h, c->w, &full), NNLA_OK);
    assert_status(nnla_conv2d_workspace_min(d, c->h, c->w, &wmin), NNLA_OK);
    assert_true(wmin <= full);
    int direct = is_direct(d);
    if (direct)
        assert_true(full == 0 && wmin == 0);
    else
        assert_true(wmin > 0);
    switch (c->ws_mode) {
    case 0:
        ws = full;
        break;
    case 1:
        ws = wmin;
        break;
    case 2:
        ws = wmin + (size_t)nnla_test_int(r, 0, full - wmin);
        break;
    default:
        ws = full + 1000;
        break;
    }
    /* an odd offset into a larger buffer: the workspace need not be aligned */
    unsigned char *buf = malloc(ws + 8);
    void *work = ws ? buf + 3 : NULL;

    assert_status(nnla_conv2d_forward(d, c->batch, c->h, c->w, x, w, c->bias ? b : NULL, c->act, y, work, ws),
                  NNLA_OK);
    ref_conv(d, c->batch, c->h, c->w, x, w, c->bias ? b : NULL, c->oh, c->ow, ref, sabs);
    ref_act(c->act, c->batch, d->out_channels, p, ref);
    /* each output is a dot product of K = cg*kh*kw terms: error <= ~K eps sum|x w| (the
     * activations here are at most 1.13-Lipschitz; softmax adds a few ulps) */
    double scale = 0.0;
    for (size_t i = 0; i < ny; i++)
        if (sabs[i] > scale) scale = sabs[i];
    double kk = (double)(cg * d->kernel_h * d->kernel_w);
    assert_vec_close(y, ref, ny, 16 * EPS, 4.0 * (kk + 2.0) * EPS * (scale + 1.0));
    free(x);
    free(w);
    free(b);
    free(y);
    free(ref);
    free(sabs);
    free(buf);
    return ws < full;
}

static void test_random_vs_direct(void **state)
{
    (void)state;
    nnla_test_rng rng = {2024};
    int tiled = 0, asym = 0, direct = 0, grouped = 0;
    for (int trial = 0; trial < 400; trial++) {
        conv_case c = draw_case(&rng, trial);
        tiled += run_case(&rng, &c);
        asym += c.d.pad_top != c.d.pad_bottom || c.d.pad_left != c.d.pad_right;
        direct += is_direct(&c.d);
        grouped += c.d.groups > 1;
    }
    /* the draw covers what it claims to: tiled workspaces, asymmetric padding, the 1x1 path, groups */
    assert_true(tiled >= 50);
    assert_true(asym >= 100);
    assert_true(direct >= 30);
    assert_true(grouped >= 100);
}

/* Images large enough for the column matrix to be cut in bands of rows on its own, and small
 * images batched several per GEMM, with every workspace size from the minimum up. */
static void test_chunking(void **state)
{
    (void)state;
    nnla_test_rng rng = {99};
    /* stride 2, 64 channels of 128x128, 3x3: the column matrix (576 x 4096 doubles, 18.9 MB)
     * exceeds the chunk cap, so even the preferred plan works in bands of rows */
    conv_case wide = {nnla_conv2d_desc_make(64, 2, 3, 3), 1, 128, 128, 0, 0, 1, {NNLA_ACT_RELU, 0}, 0};
    pad_all(&wide.d, 1);
    wide.d.stride_h = wide.d.stride_w = 2;
    assert_status(nnla_conv2d_output_size(&wide.d, 128, 128, &wide.oh, &wide.ow), NNLA_OK);
    run_case(&rng, &wide);
    size_t wbytes = 0;
    assert_status(nnla_conv2d_workspace_size(&wide.d, 1, 128, 128, &wbytes), NNLA_OK);
    assert_true(wbytes < (size_t)576 * 4096 * sizeof(double)); /* bands, not the whole matrix */
    /* 64 channels of 32x32, 3x3: the kernel-row split */
    conv_case big = {nnla_conv2d_desc_make(64, 6, 3, 3), 2, 32, 32, 0, 0, 1, {NNLA_ACT_RELU, 0}, 0};
    pad_all(&big.d, 1);
    assert_status(nnla_conv2d_output_size(&big.d, 32, 32, &big.oh, &big.ow), NNLA_OK);
    run_case(&rng, &big);
    big.ws_mode = 2;
    run_case(&rng, &big);
    /* small images, batch 7: several whole images per GEMM; every fourth workspace mode */
    for (int mode = 0; mode < 4; mode++)
        for (int rep = 0; rep < 4; rep++) {
            conv_case s = {
                nnla_conv2d_desc_make(4, 6, 3, 3), 7, 5, 6, 0, 0, rep & 1, {NNLA_ACT_SOFTMAX, 0}, mode};
            s.d.pad_top = s.d.pad_bottom = 1;
            s.d.pad_right = (size_t)rep % 2; /* asymmetric */
            s.d.groups = rep >= 2 ? 2 : 1;
            s.act = nnla_act_default(rep == 3 ? NNLA_ACT_TANH : rep == 1 ? NNLA_ACT_RELU : NNLA_ACT_SOFTMAX);
            assert_status(nnla_conv2d_output_size(&s.d, s.h, s.w, &s.oh, &s.ow), NNLA_OK);
            run_case(&rng, &s);
        }
    /* 1x1 with an image wide enough to be cut in column bands */
    conv_case one = {nnla_conv2d_desc_make(3, 70, 1, 1), 2, 61, 67, 61, 67, 1, {NNLA_ACT_RELU, 0}, 0};
    run_case(&rng, &one);
    one.act = nnla_act_default(NNLA_ACT_SOFTMAX);
    run_case(&rng, &one);
}

/* Enough channels per group (in/groups * kernel_w >= 64) and stride_h 1: the forward pass splits
 * the column matrix by kernel row (kh accumulating GEMMs); smaller workspaces fall back to the
 * plain bands. Random shapes against the direct loop, every workspace mode. */
static void test_kernel_row_split(void **state)
{
    (void)state;
    nnla_test_rng rng = {4711};
    for (int trial = 0; trial < 80; trial++) {
        conv_case c;
        do {
            size_t groups = nnla_test_int(&rng, 1, 2), cg = nnla_test_int(&rng, 22, 40);
            size_t kh = nnla_test_int(&rng, 2, 4), kw = nnla_test_int(&rng, 2, 4);
            c.d = nnla_conv2d_desc_make(cg * groups, nnla_test_int(&rng, 1, 6) * groups, kh, kw);
            c.d.groups = groups;
            c.d.stride_h = 1;
            c.d.stride_w = nnla_test_int(&rng, 1, 2);
            c.d.pad_top = nnla_test_int(&rng, 0, 2);
            c.d.pad_bottom = nnla_test_int(&rng, 0, 2);
            c.d.pad_left = nnla_test_int(&rng, 0, 2);
            c.d.pad_right = nnla_test_int(&rng, 0, 2);
            c.d.dilation_h = nnla_test_int(&rng, 1, 2);
            c.d.dilation_w = nnla_test_int(&rng, 1, 2);
            c.batch = nnla_test_int(&rng, 1, 2);
            c.h = nnla_test_int(&rng, 1, 11);
            c.w = nnla_test_int(&rng, 1, 11);
            c.bias = (int)nnla_test_int(&rng, 0, 1);
            c.act = nnla_act_default(kinds[nnla_test_int(&rng, 0, sizeof kinds / sizeof kinds[0] - 1)]);
            c.ws_mode = trial % 4;
        } while (nnla_conv2d_output_size(&c.d, c.h, c.w, &c.oh, &c.ow) != NNLA_OK);
        run_case(&rng, &c);
    }
}

/* The softmax of a convolution normalizes over the output channels of each pixel (dim=1). */
static void test_softmax_planes(void **state)
{
    (void)state;
    nnla_conv2d_desc d = nnla_conv2d_desc_make(2, 3, 3, 3);
    pad_all(&d, 1);
    size_t h = 9, w = 7, p = h * w, ws;
    double x[2 * 2 * 9 * 7], wt[3 * 2 * 9], y[2 * 3 * 9 * 7];
    nnla_test_rng r = {5};
    nnla_test_fill(&r, x, sizeof x / sizeof x[0], -3, 3);
    nnla_test_fill(&r, wt, sizeof wt / sizeof wt[0], -1, 1);
    assert_status(nnla_conv2d_workspace_min(&d, h, w, &ws), NNLA_OK);
    void *work = malloc(ws);
    assert_status(
        nnla_conv2d_forward(&d, 2, h, w, x, wt, NULL, nnla_act_default(NNLA_ACT_SOFTMAX), y, work, ws),
        NNLA_OK);
    for (size_t n = 0; n < 2; n++)
        for (size_t i = 0; i < p; i++) {
            double s = 0;
            for (size_t c = 0; c < 3; c++) {
                assert_true(y[(n * 3 + c) * p + i] > 0);
                s += y[(n * 3 + c) * p + i];
            }
            assert_true(fabs(s - 1.0) <= 4 * 3 * EPS);
        }
    free(work);
}

/* ------------------------------------------------------------------ backward passes */

/*
 * The backward passes by their definition, as plain loops over every (output, kernel tap) pair:
 * dx[n][c][iy][ix] += w[m][c'][i][j] dy[n][m][oy][ox], dw[m][c'][i][j] += dy x, db[m] += dy.
 * dxabs and dwabs receive the sums of the absolute values of the terms (the scale of the rounding
 * error of each entry).
 */
static void ref_backward(const nnla_conv2d_desc *d, size_t batch, size_t h, size_t w, size_t oh, size_t ow,
                         const double *x, const double *wt, const double *dy, double *dx, double *dxabs, double *dw,
                         double *dwabs, double *db)
{
    size_t cg = d->in_channels / d->groups, mg = d->out_channels / d->groups;
    size_t nx = batch * d->in_channels * h * w, nw = d->out_channels * cg * d->kernel_h * d->kernel_w;
    memset(dx, 0, nx * sizeof *dx);
    memset(dxabs, 0, nx * sizeof *dxabs);
    memset(dw, 0, nw * sizeof *dw);
    memset(dwabs, 0, nw * sizeof *dwabs);
    memset(db, 0, d->out_channels * sizeof *db);
    for (size_t n = 0; n < batch; n++)
        for (size_t m = 0; m < d->out_channels; m++)
            for (size_t oy = 0; oy < oh; oy++)
                for (size_t ox = 0; ox < ow; ox++) {
                    double g = dy[((n * d->out_channels + m) * oh + oy) * ow + ox];
                    db[m] += g;
                    for (size_t c = 0; c < cg; c++)
                        for (size_t i = 0; i < d->kernel_h; i++) {
                            long iy = in_index(oy, d->stride_h, i, d->dilation_h, d->pad_top, h);
                            if (iy < 0) continue;
                            for (size_t j = 0; j < d->kernel_w; j++) {
                                long ix = in_index(ox, d->stride_w, j, d->dilation_w, d->pad_left, w);
                                if (ix < 0) continue;
                                size_t xi = ((n * d->in_channels + m / mg * cg + c) * h + (size_t)iy) * w + (size_t)ix;
                                size_t wi = ((m * cg + c) * d->kernel_h + i) * d->kernel_w + j;
                                dx[xi] += wt[wi] * g;
                                dxabs[xi] += fabs(wt[wi] * g);
                                dw[wi] += g * x[xi];
                                dwabs[wi] += fabs(g * x[xi]);
                            }
                        }
                }
}

/* A workspace size for a mode (0: preferred, 1: minimum, 2: random in between, 3: more). */
static size_t pick_ws(nnla_test_rng *r, int mode, size_t full, size_t wmin)
{
    switch (mode) {
    case 0:
        return full;
    case 1:
        return wmin;
    case 2:
        return wmin + (size_t)nnla_test_int(r, 0, full - wmin);
    default:
        return full + 1000;
    }
}

static double dot(const double *a, const double *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/*
 * Both backward passes of one case against ref_backward(), at the case's workspace mode (each
 * pass its own size, from an odd offset: any alignment), with every output pre-filled with NaN
 * (it must be overwritten, not accumulated into); then the adjoint identities
 * <conv(x, w), dy> = <x, backward_data(dy)> = <w, backward_weights(x, dy)>, to n eps.
 * Returns 1 when a pass ran below its preferred workspace.
 */
static int run_backward_case(nnla_test_rng *r, const conv_case *c)
{
    const nnla_conv2d_desc *d = &c->d;
    size_t cg = d->in_channels / d->groups, mg = d->out_channels / d->groups, khw = d->kernel_h * d->kernel_w;
    size_t nx = c->batch * d->in_channels * c->h * c->w, nw = d->out_channels * cg * khw;
    size_t p = c->oh * c->ow, ny = c->batch * d->out_channels * p, nb = d->out_channels;
    double *x = malloc(nx * sizeof *x), *w = malloc(nw * sizeof *w), *dy = malloc(ny * sizeof *dy);
    double *dx = malloc(nx * sizeof *dx), *rdx = malloc(nx * sizeof *rdx), *adx = malloc(nx * sizeof *adx);
    double *dw = malloc(nw * sizeof *dw), *rdw = malloc(nw * sizeof *rdw), *adw = malloc(nw * sizeof *adw);
    double *db = malloc(nb * sizeof *db), *rdb = malloc(nb * sizeof *rdb);
    double *y = malloc(ny * sizeof *y), *sabs = malloc(ny * sizeof *sabs);
    assert_true(x && w && dy && dx && rdx && adx && dw && rdw && adw && db && rdb && y && sabs);
    nnla_test_fill(r, x, nx, -1, 1);
    nnla_test_fill(r, w, nw, -1, 1);
    nnla_test_fill(r, dy, ny, -1, 1);
    for (size_t i = 0; i < nx; i++) dx[i] = NAN;
    for (size_t i = 0; i < nw; i++) dw[i] = NAN;
    for (size_t i = 0; i < nb; i++) db[i] = NAN;

    size_t fd = 0, md = 0, fw = 0, mw = 0;
    assert_status(nnla_conv2d_backward_data_workspace_size(d, c->batch, c->h, c->w, &fd), NNLA_OK);
    assert_status(nnla_conv2d_backward_data_workspace_min(d, c->h, c->w, &md), NNLA_OK);
    assert_status(nnla_conv2d_backward_weights_workspace_size(d, c->batch, c->h, c->w, &fw), NNLA_OK);
    assert_status(nnla_conv2d_backward_weights_workspace_min(d, c->h, c->w, &mw), NNLA_OK);
    assert_true(md <= fd && mw <= fw);
    /* 1x1: no workspace, but the weight gradient's partial sums when the batch is dealt out */
    if (is_direct(d))
        assert_true(fd == 0 && md == 0 && mw == 0 &&
                    fw <= (size_t)(nnla_num_threads() - 1) * (nw * sizeof(double) + 64));
    else
        assert_true(md > 0 && mw > 0);
    size_t wsd = pick_ws(r, c->ws_mode, fd, md), wsw = pick_ws(r, c->ws_mode, fw, mw);
    unsigned char *bufd = malloc(wsd + 8), *bufw = malloc(wsw + 8);
    assert_status(nnla_conv2d_backward_data(d, c->batch, c->h, c->w, dy, w, dx, wsd ? bufd + 5 : NULL, wsd),
                  NNLA_OK);
    assert_status(nnla_conv2d_backward_weights(d, c->batch, c->h, c->w, x, dy, dw, c->bias ? db : NULL,
                                               wsw ? bufw + 3 : NULL, wsw),
                  NNLA_OK);
    ref_backward(d, c->batch, c->h, c->w, c->oh, c->ow, x, w, dy, rdx, adx, rdw, adw, rdb);
    /* entrywise: |error| <= (terms + 2) eps sum|terms| with terms <= mg*kh*kw (dx), batch*p (dw) */
    double sx = 0, sw = 0, sb = 0;
    for (size_t i = 0; i < nx; i++) sx = adx[i] > sx ? adx[i] : sx;
    for (size_t i = 0; i < nw; i++) sw = adw[i] > sw ? adw[i] : sw;
    for (size_t i = 0; i < ny; i++) sb += fabs(dy[i]);
    assert_vec_close(dx, rdx, nx, 0.0, 2.0 * (double)(mg * khw + 2) * EPS * (sx + DBL_MIN));
    assert_vec_close(dw, rdw, nw, 0.0, 2.0 * (double)(c->batch * p + 2) * EPS * (sw + DBL_MIN));
    if (c->bias) assert_vec_close(db, rdb, nb, 0.0, 2.0 * (double)(c->batch * p) * EPS * sb);
    for (size_t i = 0; i < nb && !c->bias; i++) assert_true(isnan(db[i])); /* NULL db: not written */

    /* the adjoint identities, against the forward pass itself */
    size_t fws = 0;
    assert_status(nnla_conv2d_workspace_size(d, c->batch, c->h, c->w, &fws), NNLA_OK);
    void *fwork = fws ? malloc(fws) : NULL;
    assert_status(nnla_conv2d_forward(d, c->batch, c->h, c->w, x, w, NULL, nnla_act_default(NNLA_ACT_IDENTITY), y,
                                      fwork, fws),
                  NNLA_OK);
    double *yref = malloc(ny * sizeof *yref);
    ref_conv(d, c->batch, c->h, c->w, x, w, NULL, c->oh, c->ow, yref, sabs);
    assert_vec_close(y, yref, ny, 0.0, 2.0 * (double)(cg * khw + 2) * EPS * (double)(cg * khw));
    free(yref);
    double s = 0; /* sum over every triple product |x w dy|: the scale of both sides' rounding */
    for (size_t i = 0; i < ny; i++) s += sabs[i] * fabs(dy[i]);
    double lhs = dot(y, dy, ny), rx = dot(x, dx, nx), rw = dot(w, dw, nw);
    double nn = (double)(cg * khw + mg * khw + ny + nx + nw + c->batch * p);
    assert_true(fabs(lhs - rx) <= 2.0 * nn * EPS * s + DBL_MIN);
    assert_true(fabs(lhs - rw) <= 2.0 * nn * EPS * s + DBL_MIN);
    free(fwork);
    free(x);
    free(w);
    free(dy);
    free(dx);
    free(rdx);
    free(adx);
    free(dw);
    free(rdw);
    free(adw);
    free(db);
    free(rdb);
    free(y);
    free(sabs);
    free(bufd);
    free(bufw);
    return wsd < fd || wsw < fw;
}

/* Hundreds of random configurations (odd sizes, stride, dilation, groups, depthwise, asymmetric
 * padding, the 1x1 path, every workspace mode) against the loops and the adjoint identities. */
static void test_backward_random(void **state)
{
    (void)state;
    nnla_test_rng rng = {8080};
    int tiled = 0, asym = 0, direct = 0, depthwise = 0;
    for (int trial = 0; trial < 400; trial++) {
        conv_case c = draw_case(&rng, trial);
        tiled += run_backward_case(&rng, &c);
        asym += c.d.pad_top != c.d.pad_bottom || c.d.pad_left != c.d.pad_right;
        direct += is_direct(&c.d);
        depthwise += c.d.groups > 1 && c.d.groups == c.d.in_channels;
    }
    assert_true(tiled >= 50);
    assert_true(asym >= 100);
    assert_true(direct >= 30);
    assert_true(depthwise >= 30);
}

/* The kernel-row split (in/groups * kernel_w >= 64, stride_h 1), several small images per GEMM,
 * bands of a wide image, the 1x1 path on a wide image: every workspace mode. */
static void test_backward_split_and_chunks(void **state)
{
    (void)state;
    nnla_test_rng rng = {1312};
    for (int trial = 0; trial < 60; trial++) {
        conv_case c;
        memset(&c, 0, sizeof c);
        do {
            size_t groups = nnla_test_int(&rng, 1, 2), cg = nnla_test_int(&rng, 22, 40);
            size_t kh = nnla_test_int(&rng, 2, 4), kw = nnla_test_int(&rng, 2, 4);
            c.d = nnla_conv2d_desc_make(cg * groups, nnla_test_int(&rng, 1, 6) * groups, kh, kw);
            c.d.groups = groups;
            c.d.stride_w = nnla_test_int(&rng, 1, 2);
            c.d.pad_top = nnla_test_int(&rng, 0, 2);
            c.d.pad_bottom = nnla_test_int(&rng, 0, 2);
            c.d.pad_left = nnla_test_int(&rng, 0, 2);
            c.d.pad_right = nnla_test_int(&rng, 0, 2);
            c.d.dilation_h = nnla_test_int(&rng, 1, 2);
            c.d.dilation_w = nnla_test_int(&rng, 1, 2);
            c.batch = nnla_test_int(&rng, 1, 3);
            c.h = nnla_test_int(&rng, 1, 11);
            c.w = nnla_test_int(&rng, 1, 11);
            c.bias = (int)nnla_test_int(&rng, 0, 1);
            c.ws_mode = trial % 4;
        } while (nnla_conv2d_output_size(&c.d, c.h, c.w, &c.oh, &c.ow) != NNLA_OK);
        run_backward_case(&rng, &c);
    }
    /* small images, batch 7: several per GEMM (groups 1 and 2, asymmetric padding) */
    for (int mode = 0; mode < 4; mode++)
        for (int rep = 0; rep < 2; rep++) {
            conv_case s = {nnla_conv2d_desc_make(4, 6, 3, 3), 7, 5, 6, 0, 0, 1, {NNLA_ACT_IDENTITY, 0}, mode};
            s.d.pad_top = 1;
            s.d.pad_right = 2;
            s.d.groups = rep ? 2 : 1;
            assert_status(nnla_conv2d_output_size(&s.d, s.h, s.w, &s.oh, &s.ow), NNLA_OK);
            run_backward_case(&rng, &s);
        }
    /* 48 channels of 70x66, stride 2: the column matrix exceeds the chunk cap on its own */
    conv_case wide = {nnla_conv2d_desc_make(48, 3, 3, 3), 1, 70, 66, 0, 0, 1, {NNLA_ACT_IDENTITY, 0}, 0};
    pad_all(&wide.d, 1);
    wide.d.pad_bottom = 0;
    wide.d.stride_h = wide.d.stride_w = 2;
    assert_status(nnla_conv2d_output_size(&wide.d, wide.h, wide.w, &wide.oh, &wide.ow), NNLA_OK);
    run_backward_case(&rng, &wide);
    /* 1x1 on a wide image, with groups */
    conv_case one = {nnla_conv2d_desc_make(6, 4, 1, 1), 2, 61, 67, 61, 67, 1, {NNLA_ACT_IDENTITY, 0}, 0};
    one.d.groups = 2;
    run_backward_case(&rng, &one);
}

/*
 * Central finite differences of L = sum r * tanh(conv(x, w) + b) against the chain rule through
 * the backward passes (dL/dy = r (1 - tanh^2)): relative error below 1e-6 on random entries.
 */
static void test_backward_finite_differences(void **state)
{
    (void)state;
    nnla_test_rng rng = {606};
    for (int trial = 0; trial < 24; trial++) {
        conv_case c = draw_case(&rng, trial);
        const nnla_conv2d_desc *d = &c.d;
        size_t cg = d->in_channels / d->groups;
        size_t nx = c.batch * d->in_channels * c.h * c.w, nw = d->out_channels * cg * d->kernel_h * d->kernel_w;
        size_t ny = c.batch * d->out_channels * c.oh * c.ow, nb = d->out_channels;
        double *x = malloc(nx * sizeof *x), *w = malloc(nw * sizeof *w), *b = malloc(nb * sizeof *b);
        double *rr = malloc(ny * sizeof *rr), *y = malloc(ny * sizeof *y), *g = malloc(ny * sizeof *g);
        double *dx = malloc(nx * sizeof *dx), *dw = malloc(nw * sizeof *dw), *db = malloc(nb * sizeof *db);
        nnla_test_fill(&rng, x, nx, -1, 1);
        nnla_test_fill(&rng, w, nw, -1, 1);
        nnla_test_fill(&rng, b, nb, -1, 1);
        nnla_test_fill(&rng, rr, ny, -1, 1);
        size_t f = 0, fd = 0, fw = 0;
        assert_status(nnla_conv2d_workspace_size(d, c.batch, c.h, c.w, &f), NNLA_OK);
        assert_status(nnla_conv2d_backward_data_workspace_size(d, c.batch, c.h, c.w, &fd), NNLA_OK);
        assert_status(nnla_conv2d_backward_weights_workspace_size(d, c.batch, c.h, c.w, &fw), NNLA_OK);
        size_t most = f > fd ? f : fd;
        most = most > fw ? most : fw;
        void *work = most ? malloc(most) : NULL;
        nnla_act tanh_act = nnla_act_default(NNLA_ACT_TANH);
#define LOSS(out)                                                                                            \
    do {                                                                                                     \
        assert_status(nnla_conv2d_forward(d, c.batch, c.h, c.w, x, w, b, tanh_act, y, work, f), NNLA_OK);     \
        (out) = dot(rr, y, ny);                                                                              \
    } while (0)
        assert_status(nnla_conv2d_forward(d, c.batch, c.h, c.w, x, w, b, tanh_act, y, work, f), NNLA_OK);
        for (size_t i = 0; i < ny; i++) g[i] = rr[i] * (1.0 - y[i] * y[i]);
        assert_status(nnla_conv2d_backward_data(d, c.batch, c.h, c.w, g, w, dx, work, fd), NNLA_OK);
        assert_status(nnla_conv2d_backward_weights(d, c.batch, c.h, c.w, x, g, dw, db, work, fw), NNLA_OK);
        const double hstep = 1e-5;
        double *params[3] = {x, w, b}, *grads[3] = {dx, dw, db};
        size_t counts[3] = {nx, nw, nb};
        for (int which = 0; which < 3; which++)
            for (int k = 0; k < 6; k++) {
                size_t at = (size_t)nnla_test_int(&rng, 0, counts[which] - 1);
                double keep = params[which][at], lp, lm;
                params[which][at] = keep + hstep;
                LOSS(lp);
                params[which][at] = keep - hstep;
                LOSS(lm);
                params[which][at] = keep;
                double fdv = (lp - lm) / (2 * hstep), an = grads[which][at];
                if (fabs(fdv - an) > 1e-6 * fmax(1.0, fabs(an)))
                    fail_msg("trial %d, %s[%zu]: finite difference %.12g, backward %.12g", trial,
                             which == 0 ? "x" : which == 1 ? "w" : "b", at, fdv, an);
            }
#undef LOSS
        free(x);
        free(w);
        free(b);
        free(rr);
        free(y);
        free(g);
        free(dx);
        free(dw);
        free(db);
        free(work);
    }
}

/* Bad input to the backward passes: a status, and every output and the workspace untouched. */
static void test_backward_bad_input(void **state)
{
    (void)state;
    nnla_conv2d_desc d = nnla_conv2d_desc_make(4, 6, 3, 3), e;
    pad_all(&d, 1);
    d.pad_right = 2;
    d.groups = 2;
    const size_t batch = 2, h = 5, w = 5; /* out 5 x 6 */
    size_t oh, ow;
    assert_status(nnla_conv2d_output_size(&d, h, w, &oh, &ow), NNLA_OK);
    assert_true(oh == 5 && ow == 6);
    double x[2 * 4 * 25], dy[2 * 6 * 30], wt[6 * 2 * 9];
    double dx[2 * 4 * 25], dx0[2 * 4 * 25], dw[6 * 2 * 9], dw0[6 * 2 * 9], db[6], db0[6];
    nnla_test_rng r = {17};
    nnla_test_fill(&r, x, sizeof x / sizeof x[0], -1, 1);
    nnla_test_fill(&r, dy, sizeof dy / sizeof dy[0], -1, 1);
    nnla_test_fill(&r, wt, sizeof wt / sizeof wt[0], -1, 1);
    nnla_test_fill(&r, dx0, sizeof dx0 / sizeof dx0[0], -1, 1);
    nnla_test_fill(&r, dw0, sizeof dw0 / sizeof dw0[0], -1, 1);
    nnla_test_fill(&r, db0, 6, -1, 1);
    memcpy(dx, dx0, sizeof dx);
    memcpy(dw, dw0, sizeof dw);
    memcpy(db, db0, sizeof db);
    size_t wsd = 0, wsw = 0, mind = 0, minw = 0;
    assert_status(nnla_conv2d_backward_data_workspace_size(&d, batch, h, w, &wsd), NNLA_OK);
    assert_status(nnla_conv2d_backward_weights_workspace_size(&d, batch, h, w, &wsw), NNLA_OK);
    assert_status(nnla_conv2d_backward_data_workspace_min(&d, h, w, &mind), NNLA_OK);
    assert_status(nnla_conv2d_backward_weights_workspace_min(&d, h, w, &minw), NNLA_OK);
    size_t ws = wsd > wsw ? wsd : wsw;
    unsigned char *work = malloc(ws), *work0 = malloc(ws);
    memset(work, 0x5A, ws);
    memcpy(work0, work, ws);

#define BD(dd, bt, hh, ww, dyp, wp, dxp, wk, wsz, st)                                                        \
    do {                                                                                                     \
        assert_status(nnla_conv2d_backward_data((dd), (bt), (hh), (ww), (dyp), (wp), (dxp), (wk), (wsz)), (st)); \
        assert_memory_equal(dx, dx0, sizeof dx);                                                             \
        assert_memory_equal(work, work0, ws);                                                                \
    } while (0)
#define BW(dd, bt, hh, ww, xp, dyp, dwp, dbp, wk, wsz, st)                                                   \
    do {                                                                                                     \
        assert_status(                                                                                       \
            nnla_conv2d_backward_weights((dd), (bt), (hh), (ww), (xp), (dyp), (dwp), (dbp), (wk), (wsz)), (st)); \
        assert_memory_equal(dw, dw0, sizeof dw);                                                             \
        assert_memory_equal(db, db0, sizeof db);                                                             \
        assert_memory_equal(work, work0, ws);                                                                \
    } while (0)

    /* NULLs */
    BD(NULL, batch, h, w, dy, wt, dx, work, ws, NNLA_ENULL);
    BD(&d, batch, h, w, NULL, wt, dx, work, ws, NNLA_ENULL);
    BD(&d, batch, h, w, dy, NULL, dx, work, ws, NNLA_ENULL);
    BD(&d, batch, h, w, dy, wt, NULL, work, ws, NNLA_ENULL);
    BD(&d, batch, h, w, dy, wt, dx, NULL, ws, NNLA_ENULL);
    BW(NULL, batch, h, w, x, dy, dw, db, work, ws, NNLA_ENULL);
    BW(&d, batch, h, w, NULL, dy, dw, db, work, ws, NNLA_ENULL);
    BW(&d, batch, h, w, x, NULL, dw, db, work, ws, NNLA_ENULL);
    BW(&d, batch, h, w, x, dy, NULL, db, work, ws, NNLA_ENULL);
    BW(&d, batch, h, w, x, dy, dw, db, NULL, ws, NNLA_ENULL);
    /* zero sizes and fields, groups that do not divide */
    BD(&d, 0, h, w, dy, wt, dx, work, ws, NNLA_EDIM);
    BW(&d, 0, h, w, x, dy, dw, db, work, ws, NNLA_EDIM);
    BD(&d, batch, 0, w, dy, wt, dx, work, ws, NNLA_EDIM);
    BW(&d, batch, h, 0, x, dy, dw, db, work, ws, NNLA_EDIM);
    size_t *fields[] = {&e.in_channels, &e.out_channels, &e.kernel_h,   &e.kernel_w, &e.stride_h,
                        &e.stride_w,    &e.dilation_h,   &e.dilation_w, &e.groups};
    for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) {
        e = d;
        *fields[f] = 0;
        BD(&e, batch, h, w, dy, wt, dx, work, ws, NNLA_EDIM);
        BW(&e, batch, h, w, x, dy, dw, db, work, ws, NNLA_EDIM);
    }
    e = d;
    e.groups = 3;
    BD(&e, batch, h, w, dy, wt, dx, work, ws, NNLA_EDIM);
    BW(&e, batch, h, w, x, dy, dw, db, work, ws, NNLA_EDIM);
    /* kernel larger than the padded input (with the asymmetric padding: 5 + 1 + 1 rows) */
    e = d;
    e.kernel_h = 8;
    BD(&e, batch, h, w, dy, wt, dx, work, ws, NNLA_ESHAPE);
    BW(&e, batch, h, w, x, dy, dw, db, work, ws, NNLA_ESHAPE);
    e.pad_bottom = 2; /* 5 + 1 + 2 = 8: fits */
    assert_status(nnla_conv2d_output_size(&e, h, w, &oh, &ow), NNLA_OK);
    assert_true(oh == 1);
    /* overflow */
    BD(&d, SIZE_MAX / 8, h, w, dy, wt, dx, work, ws, NNLA_EOVERFLOW);
    BW(&d, SIZE_MAX / 8, h, w, x, dy, dw, db, work, ws, NNLA_EOVERFLOW);
    e = d;
    e.pad_left = SIZE_MAX - 2;
    BD(&e, batch, h, w, dy, wt, dx, work, ws, NNLA_EOVERFLOW);
    BW(&e, batch, h, w, x, dy, dw, db, work, ws, NNLA_EOVERFLOW);
    e = d;
    e.groups = 1;
    e.in_channels = 1;
    e.out_channels = (size_t)1 << 31; /* a GEMM dimension beyond int */
    BD(&e, 1, h, w, dy, wt, dx, work, ws, NNLA_EOVERFLOW);
    BW(&e, 1, h, w, x, dy, dw, db, work, ws, NNLA_EOVERFLOW);
    /* workspace below the minimum */
    BD(&d, batch, h, w, dy, wt, dx, work, mind - 1, NNLA_EWORKSPACE);
    BD(&d, batch, h, w, dy, wt, dx, NULL, 0, NNLA_EWORKSPACE);
    BW(&d, batch, h, w, x, dy, dw, db, work, minw - 1, NNLA_EWORKSPACE);
    BW(&d, batch, h, w, x, dy, dw, db, NULL, 0, NNLA_EWORKSPACE);
    /* overlaps: dx over dy or w; dw over x or dy; db over dy or dw; the workspace over anything */
    double big[2 * 6 * 30 + 2 * 4 * 25];
    memcpy(big, dy, sizeof dy);
    BD(&d, batch, h, w, big, wt, big + 100, work, ws, NNLA_EALIAS);
    BD(&d, 1, h, w, dy, big, big + 10, work, ws, NNLA_EALIAS);
    BD(&d, batch, h, w, dy, wt, dx, (unsigned char *)dx + 8, 64, NNLA_EALIAS);
    BD(&d, batch, h, w, dy, wt, dx, (unsigned char *)wt + 8, 64, NNLA_EALIAS);
    BW(&d, batch, h, w, big, dy, big + 7, db, work, ws, NNLA_EALIAS);
    BW(&d, batch, h, w, x, big, big + 100, db, work, ws, NNLA_EALIAS);
    BW(&d, batch, h, w, x, big, dw, big + 3, work, ws, NNLA_EALIAS);
    BW(&d, batch, h, w, x, dy, big, big + 5, work, ws, NNLA_EALIAS);
    BW(&d, batch, h, w, x, dy, dw, db, (unsigned char *)db, 64, NNLA_EALIAS);
    BW(&d, batch, h, w, x, dy, dw, db, (unsigned char *)x + 8, 64, NNLA_EALIAS);
#undef BD
#undef BW
    /* the queries: NULLs and bad descriptors, the output untouched */
    size_t bytes = 77;
    assert_status(nnla_conv2d_backward_data_workspace_size(NULL, batch, h, w, &bytes), NNLA_ENULL);
    assert_status(nnla_conv2d_backward_data_workspace_size(&d, batch, h, w, NULL), NNLA_ENULL);
    assert_status(nnla_conv2d_backward_data_workspace_size(&d, 0, h, w, &bytes), NNLA_EDIM);
    assert_status(nnla_conv2d_backward_data_workspace_min(&d, 0, w, &bytes), NNLA_EDIM);
    assert_status(nnla_conv2d_backward_weights_workspace_size(&d, batch, h, w, NULL), NNLA_ENULL);
    assert_status(nnla_conv2d_backward_weights_workspace_size(&d, 0, h, w, &bytes), NNLA_EDIM);
    assert_status(nnla_conv2d_backward_weights_workspace_min(NULL, h, w, &bytes), NNLA_ENULL);
    e = d;
    e.kernel_w = 12;
    assert_status(nnla_conv2d_backward_weights_workspace_min(&e, h, w, &bytes), NNLA_ESHAPE);
    assert_status(nnla_conv2d_backward_data_workspace_min(&e, h, w, &bytes), NNLA_ESHAPE);
    assert_true(bytes == 77);
    free(work);
    free(work0);
}

/* ------------------------------------------------------------------ im2col / col2im */

static void test_im2col_col2im(void **state)
{
    (void)state;
    nnla_test_rng rng = {31};
    for (int trial = 0; trial < 250; trial++) {
        conv_case c = draw_case(&rng, trial);
        nnla_conv2d_desc *d = &c.d;
        size_t nx = d->in_channels * c.h * c.w, rows = d->in_channels * d->kernel_h * d->kernel_w;
        size_t ncol = rows * c.oh * c.ow;
        double *x = malloc(nx * sizeof *x), *col = malloc(ncol * sizeof *col),
               *rc = malloc(ncol * sizeof *rc);
        double *cv = malloc(ncol * sizeof *cv), *xb = malloc(nx * sizeof *xb), *rx = malloc(nx * sizeof *rx);
        nnla_test_fill(&rng, x, nx, -1, 1);
        nnla_test_fill(&rng, cv, ncol, -1, 1);
        for (size_t i = 0; i < ncol; i++) col[i] = NAN;
        for (size_t i = 0; i < nx; i++) xb[i] = NAN; /* overwritten, not accumulated into */
        assert_status(nnla_im2col(d, c.h, c.w, x, col), NNLA_OK);
        ref_im2col(d, c.h, c.w, c.oh, c.ow, x, rc);
        assert_memory_equal(col, rc, ncol * sizeof *col); /* a copy: exact */
        assert_status(nnla_col2im(d, c.h, c.w, cv, xb), NNLA_OK);
        ref_col2im(d, c.h, c.w, c.oh, c.ow, cv, rx);
        /* each x entry sums at most kh*kw column entries */
        double kk = (double)(d->kernel_h * d->kernel_w);
        assert_vec_close(xb, rx, nx, 0.0, 2.0 * kk * kk * EPS);
        /* adjoint: <im2col(x), c> == <x, col2im(c)> */
        double lhs = dot(col, cv, ncol), rhs = dot(x, xb, nx), sa = 0;
        for (size_t i = 0; i < ncol; i++) sa += fabs(col[i] * cv[i]);
        assert_true(fabs(lhs - rhs) <= 2.0 * (double)(ncol + nx) * EPS * sa + DBL_MIN);
        free(x);
        free(col);
        free(rc);
        free(cv);
        free(xb);
        free(rx);
    }
}

/* ------------------------------------------------------------------ NaN policy */

/* A NaN input gives NaN in exactly the outputs whose window covers it (any weight, even 0),
 * with ReLU too; every other output stays finite. Nothing is scanned or rejected. */
static void test_nan_propagates(void **state)
{
    (void)state;
    nnla_test_rng rng = {77};
    for (int trial = 0; trial < 60; trial++) {
        conv_case c = draw_case(&rng, trial);
        c.act = nnla_act_default(trial & 1 ? NNLA_ACT_RELU : NNLA_ACT_IDENTITY);
        const nnla_conv2d_desc *d = &c.d;
        size_t cg = d->in_channels / d->groups, mg = d->out_channels / d->groups;
        size_t nx = c.batch * d->in_channels * c.h * c.w,
               nw = d->out_channels * cg * d->kernel_h * d->kernel_w;
        size_t p = c.oh * c.ow, ny = c.batch * d->out_channels * p;
        double *x = malloc(nx * sizeof *x), *w = malloc(nw * sizeof *w), *y = malloc(ny * sizeof *y);
        nnla_test_fill(&rng, x, nx, -1, 1);
        nnla_test_fill(&rng, w, nw, -1, 1);
        w[0] = 0.0;
        size_t at = (size_t)nnla_test_int(&rng, 0, nx - 1);
        x[at] = NAN;
        size_t an = at / (d->in_channels * c.h * c.w), ac = at / (c.h * c.w) % d->in_channels;
        size_t ay = at / c.w % c.h, ax = at % c.w;
        size_t ws = 0;
        assert_status(nnla_conv2d_workspace_size(d, c.batch, c.h, c.w, &ws), NNLA_OK);
        void *work = ws ? malloc(ws) : NULL;
        assert_status(nnla_conv2d_forward(d, c.batch, c.h, c.w, x, w, NULL, c.act, y, work, ws), NNLA_OK);
        for (size_t n = 0; n < c.batch; n++)
            for (size_t m = 0; m < d->out_channels; m++)
                for (size_t oy = 0; oy < c.oh; oy++)
                    for (size_t ox = 0; ox < c.ow; ox++) {
                        int hit = 0;
                        if (n == an && ac / cg == m / mg)
                            for (size_t i = 0; i < d->kernel_h; i++)
                                for (size_t j = 0; j < d->kernel_w; j++)
                                    if (in_index(oy, d->stride_h, i, d->dilation_h, d->pad_top, c.h) ==
                                            (long)ay &&
                                        in_index(ox, d->stride_w, j, d->dilation_w, d->pad_left, c.w) ==
                                            (long)ax)
                                        hit = 1;
                        double v = y[((n * d->out_channels + m) * c.oh + oy) * c.ow + ox];
                        if (hit)
                            assert_true(isnan(v));
                        else
                            assert_true(isfinite(v));
                    }
        free(x);
        free(w);
        free(y);
        free(work);
    }
}

/* ------------------------------------------------------------------ bad input */

static void test_bad_input(void **state)
{
    (void)state;
    nnla_conv2d_desc d = nnla_conv2d_desc_make(4, 6, 3, 3);
    pad_all(&d, 1);
    d.groups = 2;
    const size_t batch = 2, h = 5, w = 5, ny = batch * 6 * 25;
    double x[2 * 4 * 25], wt[6 * 2 * 9], b[6], y[2 * 6 * 25], y0[2 * 6 * 25];
    nnla_test_rng r = {3};
    nnla_test_fill(&r, x, sizeof x / sizeof x[0], -1, 1);
    nnla_test_fill(&r, wt, sizeof wt / sizeof wt[0], -1, 1);
    nnla_test_fill(&r, b, 6, -1, 1);
    nnla_test_fill(&r, y0, ny, -1, 1);
    memcpy(y, y0, sizeof y);
    size_t ws = 0, wmin = 0;
    assert_status(nnla_conv2d_workspace_size(&d, batch, h, w, &ws), NNLA_OK);
    assert_status(nnla_conv2d_workspace_min(&d, h, w, &wmin), NNLA_OK);
    unsigned char *work = malloc(ws), *work0 = malloc(ws);
    memset(work, 0xA5, ws);
    memcpy(work0, work, ws);
    nnla_act relu = nnla_act_default(NNLA_ACT_RELU);
    nnla_conv2d_desc e;

#define FWD(dd, bt, hh, ww, xx, wp, bp, act, yy, wk, wsz, st)                                                \
    do {                                                                                                     \
        assert_status(                                                                                       \
            nnla_conv2d_forward((dd), (bt), (hh), (ww), (xx), (wp), (bp), (act), (yy), (wk), (wsz)), (st));  \
        assert_memory_equal(y, y0, sizeof y);                                                                \
    } while (0)

    /* NULLs */
    FWD(NULL, batch, h, w, x, wt, b, relu, y, work, ws, NNLA_ENULL);
    FWD(&d, batch, h, w, NULL, wt, b, relu, y, work, ws, NNLA_ENULL);
    FWD(&d, batch, h, w, x, NULL, b, relu, y, work, ws, NNLA_ENULL);
    FWD(&d, batch, h, w, x, wt, b, relu, NULL, work, ws, NNLA_ENULL);
    FWD(&d, batch, h, w, x, wt, b, relu, y, NULL, ws, NNLA_ENULL);
    /* zero sizes, strides, dilations, groups */
    FWD(&d, 0, h, w, x, wt, b, relu, y, work, ws, NNLA_EDIM);
    FWD(&d, batch, 0, w, x, wt, b, relu, y, work, ws, NNLA_EDIM);
    FWD(&d, batch, h, 0, x, wt, b, relu, y, work, ws, NNLA_EDIM);
    size_t *fields[] = {&e.in_channels, &e.out_channels, &e.kernel_h,   &e.kernel_w, &e.stride_h,
                        &e.stride_w,    &e.dilation_h,   &e.dilation_w, &e.groups};
    for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) {
        e = d;
        *fields[f] = 0;
        FWD(&e, batch, h, w, x, wt, b, relu, y, work, ws, NNLA_EDIM);
    }
    /* groups that do not divide the channels */
    e = d;
    e.groups = 3; /* divides 6 out, not 4 in */
    FWD(&e, batch, h, w, x, wt, b, relu, y, work, ws, NNLA_EDIM);
    e = d;
    e.out_channels = 5; /* 2 divides 4 in, not 5 out */
    FWD(&e, batch, h, w, x, wt, b, relu, y, work, ws, NNLA_EDIM);
    /* a kernel larger than the padded input: 3x3 with dilation 4 spans 9 > 5 + 2 */
    e = d;
    e.dilation_h = 4;
    FWD(&e, batch, h, w, x, wt, b, relu, y, work, ws, NNLA_ESHAPE);
    e = d;
    e.kernel_w = 8;
    FWD(&e, batch, h, w, x, wt, b, relu, y, work, ws, NNLA_ESHAPE);
    e = d;
    e.dilation_w = SIZE_MAX / 2; /* the span overflows: larger than any input */
    FWD(&e, batch, h, w, x, wt, b, relu, y, work, ws, NNLA_ESHAPE);
    /* sizes that overflow */
    FWD(&d, SIZE_MAX / 8, h, w, x, wt, b, relu, y, work, ws, NNLA_EOVERFLOW);
    e = d;
    e.pad_top = SIZE_MAX / 2;
    FWD(&e, batch, h, w, x, wt, b, relu, y, work, ws, NNLA_EOVERFLOW);
    e = d;
    e.pad_left = SIZE_MAX / 2;
    e.pad_right = SIZE_MAX / 2;
    FWD(&e, batch, h, w, x, wt, b, relu, y, work, ws, NNLA_EOVERFLOW);
    FWD(&d, batch, (size_t)1 << 33, (size_t)1 << 33, x, wt, b, relu, y, work, ws, NNLA_EOVERFLOW);
    /* GEMM dimensions beyond int: 2^31 output channels per group */
    e = d;
    e.groups = 1;
    e.in_channels = 1;
    e.out_channels = (size_t)1 << 31;
    FWD(&e, 1, h, w, x, wt, b, relu, y, work, ws, NNLA_EOVERFLOW);
    /* unknown or invalid activations */
    nnla_act bad = {(nnla_act_kind)99, 0};
    FWD(&d, batch, h, w, x, wt, b, bad, y, work, ws, NNLA_EINVAL);
    nnla_act sig0 = {NNLA_ACT_SIGMOID, 0.0};
    FWD(&d, batch, h, w, x, wt, b, sig0, y, work, ws, NNLA_EINVAL);
    nnla_act leaky_nan = {NNLA_ACT_LEAKY_RELU, NAN};
    FWD(&d, batch, h, w, x, wt, b, leaky_nan, y, work, ws, NNLA_EINVAL);
    /* workspace below the minimum (the smallest, and none at all) */
    FWD(&d, batch, h, w, x, wt, b, relu, y, work, wmin - 1, NNLA_EWORKSPACE);
    FWD(&d, batch, h, w, x, wt, b, relu, y, NULL, 0, NNLA_EWORKSPACE);
    /* overlaps: the output over the input, the workspace over the output */
    assert_status(nnla_conv2d_forward(&d, 1, h, w, y + 10, wt, b, relu, y, work, ws), NNLA_EALIAS);
    assert_memory_equal(y, y0, sizeof y);
    FWD(&d, batch, h, w, x, wt, b, relu, y, y + 3, 64, NNLA_EALIAS);
    FWD(&d, batch, h, w, x, wt, wt + 1, relu, wt, work, ws, NNLA_EALIAS);
    assert_memory_equal(work, work0, ws); /* no failed call wrote to the workspace */
#undef FWD

    /* the queries and im2col/col2im: the same checks, outputs untouched */
    size_t oh = 77, ow = 77, bytes = 77;
    assert_status(nnla_conv2d_output_size(NULL, h, w, &oh, &ow), NNLA_ENULL);
    assert_status(nnla_conv2d_output_size(&d, h, w, NULL, &ow), NNLA_ENULL);
    assert_status(nnla_conv2d_output_size(&d, h, w, &oh, NULL), NNLA_ENULL);
    e = d;
    e.stride_w = 0;
    assert_status(nnla_conv2d_output_size(&e, h, w, &oh, &ow), NNLA_EDIM);
    e = d;
    e.kernel_h = 10;
    assert_status(nnla_conv2d_output_size(&e, h, w, &oh, &ow), NNLA_ESHAPE);
    assert_status(nnla_conv2d_workspace_size(&e, batch, h, w, &bytes), NNLA_ESHAPE);
    assert_status(nnla_conv2d_workspace_min(&e, h, w, &bytes), NNLA_ESHAPE);
    assert_status(nnla_conv2d_workspace_size(&d, 0, h, w, &bytes), NNLA_EDIM);
    assert_status(nnla_conv2d_workspace_size(&d, batch, h, w, NULL), NNLA_ENULL);
    assert_status(nnla_conv2d_workspace_min(NULL, h, w, &bytes), NNLA_ENULL);
    e = d;
    e.groups = 4;
    assert_status(nnla_conv2d_workspace_min(&e, h, w, &bytes), NNLA_EDIM);
    assert_true(oh == 77 && ow == 77 && bytes == 77);

    double col[4 * 9 * 25], col0[4 * 9 * 25], xs[4 * 25], xs0[4 * 25];
    nnla_test_fill(&r, col0, sizeof col0 / sizeof col0[0], -1, 1);
    nnla_test_fill(&r, xs0, sizeof xs0 / sizeof xs0[0], -1, 1);
    memcpy(col, col0, sizeof col);
    memcpy(xs, xs0, sizeof xs);
    assert_status(nnla_im2col(NULL, h, w, x, col), NNLA_ENULL);
    assert_status(nnla_im2col(&d, h, w, NULL, col), NNLA_ENULL);
    assert_status(nnla_im2col(&d, h, w, x, NULL), NNLA_ENULL);
    assert_status(nnla_im2col(&e, h, w, x, col), NNLA_EDIM); /* groups 4 do not divide 6 */
    e = d;
    e.dilation_w = 0;
    assert_status(nnla_im2col(&e, h, w, x, col), NNLA_EDIM);
    e = d;
    e.kernel_w = 9;
    assert_status(nnla_im2col(&e, h, w, x, col), NNLA_ESHAPE);
    assert_status(nnla_im2col(&d, h, w, col + 5, col), NNLA_EALIAS);
    assert_memory_equal(col, col0, sizeof col);
    assert_status(nnla_col2im(NULL, h, w, col, xs), NNLA_ENULL);
    assert_status(nnla_col2im(&d, h, w, NULL, xs), NNLA_ENULL);
    assert_status(nnla_col2im(&d, h, w, col, NULL), NNLA_ENULL);
    assert_status(nnla_col2im(&e, h, w, col, xs), NNLA_ESHAPE);
    assert_status(nnla_col2im(&d, 0, w, col, xs), NNLA_EDIM);
    assert_status(nnla_col2im(&d, h, w, col, col + 7), NNLA_EALIAS);
    assert_memory_equal(xs, xs0, sizeof xs);
    assert_memory_equal(col, col0, sizeof col);
    free(work);
    free(work0);
}

/* The descriptor helper and the queries' values. */
static void test_desc_and_queries(void **state)
{
    (void)state;
    nnla_conv2d_desc d = nnla_conv2d_desc_make(3, 8, 5, 2);
    assert_int_equal(d.in_channels, 3);
    assert_int_equal(d.out_channels, 8);
    assert_int_equal(d.kernel_h, 5);
    assert_int_equal(d.kernel_w, 2);
    assert_true(d.stride_h == 1 && d.stride_w == 1);
    assert_true(d.pad_top == 0 && d.pad_bottom == 0 && d.pad_left == 0 && d.pad_right == 0);
    assert_true(d.dilation_h == 1 && d.dilation_w == 1 && d.groups == 1);
    /* out = (in + pad_top + pad_bottom - dil (k - 1) - 1) / stride + 1 (PyTorch's with equal pads) */
    d.stride_h = 2;
    d.stride_w = 3;
    d.pad_top = 2;
    d.pad_bottom = 3;
    d.pad_left = 1;
    d.pad_right = 0;
    d.dilation_h = 2;
    size_t oh, ow;
    assert_status(nnla_conv2d_output_size(&d, 17, 10, &oh, &ow), NNLA_OK);
    assert_int_equal(oh, (17 + 5 - 2 * 4 - 1) / 2 + 1);
    assert_int_equal(ow, (10 + 1 - 1 - 1) / 3 + 1);
    d.pad_bottom = 4; /* one more row: out_h grows by one at stride 2 when the sum gets even */
    assert_status(nnla_conv2d_output_size(&d, 17, 10, &oh, &ow), NNLA_OK);
    assert_int_equal(oh, (17 + 6 - 2 * 4 - 1) / 2 + 1);
    assert_int_equal(oh, 8);
    /* the minimum is one output row of one group's column matrix, plus (pad_left or pad_right
     * > 0) one channel's input rows it reads, padded: 9 rows of 10 + 1, plus alignment slack */
    size_t wmin, full, dmin, wtmin;
    assert_status(nnla_conv2d_workspace_min(&d, 17, 10, &wmin), NNLA_OK);
    assert_true(wmin >= (3 * 5 * 2 * ow + 9 * 11) * sizeof(double));
    assert_true(wmin <= (3 * 5 * 2 * ow + 9 * 11) * sizeof(double) + 128);
    /* the weight gradient builds the same column matrix; the input gradient needs no row buffer */
    assert_status(nnla_conv2d_backward_weights_workspace_min(&d, 17, 10, &wtmin), NNLA_OK);
    assert_true(wtmin == wmin);
    assert_status(nnla_conv2d_backward_data_workspace_min(&d, 17, 10, &dmin), NNLA_OK);
    assert_true(dmin >= 3 * 5 * 2 * ow * sizeof(double));
    assert_true(dmin <= 3 * 5 * 2 * ow * sizeof(double) + 64);
    d.pad_left = 0; /* no padded rows */
    assert_status(nnla_conv2d_output_size(&d, 17, 10, &oh, &ow), NNLA_OK);
    assert_status(nnla_conv2d_workspace_min(&d, 17, 10, &wmin), NNLA_OK);
    assert_true(wmin >= 3 * 5 * 2 * ow * sizeof(double));
    assert_true(wmin <= 3 * 5 * 2 * ow * sizeof(double) + 64);
    d.pad_right = 1; /* only on the right: the row buffer again */
    assert_status(nnla_conv2d_workspace_min(&d, 17, 10, &wmin), NNLA_OK);
    assert_true(wmin >= (3 * 5 * 2 * ow + 9 * 11) * sizeof(double));
    d.pad_right = 0;
    assert_status(nnla_conv2d_workspace_size(&d, 4, 17, 10, &full), NNLA_OK);
    assert_true(full >= 3 * 5 * 2 * oh * ow * sizeof(double));
    assert_status(nnla_conv2d_backward_data_workspace_size(&d, 4, 17, 10, &full), NNLA_OK);
    assert_true(full >= 3 * 5 * 2 * oh * ow * sizeof(double));
    assert_status(nnla_conv2d_backward_weights_workspace_size(&d, 4, 17, 10, &full), NNLA_OK);
    assert_true(full >= 3 * 5 * 2 * oh * ow * sizeof(double));
    /* 1x1 stride 1 unpadded (any dilation): no workspace, for every pass */
    nnla_conv2d_desc one = nnla_conv2d_desc_make(16, 4, 1, 1);
    one.dilation_h = 3;
    size_t q[6];
    assert_status(nnla_conv2d_workspace_size(&one, 8, 9, 9, &q[0]), NNLA_OK);
    assert_status(nnla_conv2d_workspace_min(&one, 9, 9, &q[1]), NNLA_OK);
    assert_status(nnla_conv2d_backward_data_workspace_size(&one, 8, 9, 9, &q[2]), NNLA_OK);
    assert_status(nnla_conv2d_backward_data_workspace_min(&one, 9, 9, &q[3]), NNLA_OK);
    assert_status(nnla_conv2d_backward_weights_workspace_size(&one, 8, 9, 9, &q[4]), NNLA_OK);
    assert_status(nnla_conv2d_backward_weights_workspace_min(&one, 9, 9, &q[5]), NNLA_OK);
    for (int i = 0; i < 6; i++) assert_true(q[i] == 0);
    /* ... except, with two threads and a batch worth dealing out, the weight gradient's second
     * partial sum (4 x 16 doubles plus alignment slack); the other passes need none */
    const int before = nnla_blas_num_threads();
    assert_status(nnla_blas_set_num_threads(2), NNLA_OK);
    assert_status(nnla_conv2d_workspace_size(&one, 64, 32, 32, &q[0]), NNLA_OK);
    assert_status(nnla_conv2d_backward_data_workspace_size(&one, 64, 32, 32, &q[2]), NNLA_OK);
    assert_status(nnla_conv2d_backward_weights_workspace_size(&one, 64, 32, 32, &q[4]), NNLA_OK);
    assert_true(q[0] == 0 && q[2] == 0);
    assert_true(q[4] == (nnla_num_threads() == 2 ? 4 * 16 * sizeof(double) + 64 : 0));
    assert_status(nnla_blas_set_num_threads(before), NNLA_OK);
    /* any one side of padding leaves the fast path */
    for (int side = 0; side < 4; side++) {
        nnla_conv2d_desc e = one;
        size_t *pads[4] = {&e.pad_top, &e.pad_bottom, &e.pad_left, &e.pad_right};
        *pads[side] = 1;
        assert_status(nnla_conv2d_workspace_size(&e, 8, 9, 9, &full), NNLA_OK);
        assert_true(full > 0);
        assert_status(nnla_conv2d_backward_data_workspace_min(&e, 9, 9, &full), NNLA_OK);
        assert_true(full > 0);
    }
}

/* ------------------------------------------------------------------ threads */

/*
 * The thread count through the model's one knob (nnla_blas_set_num_threads(), which sets
 * omp_get_max_threads() of this thread with the OpenMP OpenBLAS). With another OpenBLAS loaded
 * (the pthread build: the ctest conv_pthread_blas), libnnla's loops run on one thread whatever the
 * count: the comparisons below then check the serial fallback against itself and the references.
 */
static int set_threads(int t)
{
    assert_status(nnla_blas_set_num_threads(t), NNLA_OK);
    int n = nnla_num_threads();
    assert_int_equal(n, nnla_blas_parallel() == 2 ? t : 1);
    return n;
}

typedef struct par_case {
    nnla_conv2d_desc d;
    size_t batch, h, w;
    nnla_act_kind act;
    int batch_mode; /* with two threads, the batch is dealt out (each thread a workspace slice) */
} par_case;

typedef struct par_io {
    size_t nx, nw, ny, nb, oh, ow;
    double *x, *w, *b, *dy;
} par_io;

typedef struct par_out {
    double *y, *dx, *dw, *db;
} par_out;

static par_out par_out_new(const par_io *io)
{
    par_out o = {malloc(io->ny * sizeof(double)), malloc(io->nx * sizeof(double)), malloc(io->nw * sizeof(double)),
                 malloc(io->nb * sizeof(double))};
    assert_true(o.y && o.dx && o.dw && o.db);
    for (size_t i = 0; i < io->ny; i++) o.y[i] = NAN; /* every output must be written */
    for (size_t i = 0; i < io->nx; i++) o.dx[i] = NAN;
    for (size_t i = 0; i < io->nw; i++) o.dw[i] = NAN;
    for (size_t i = 0; i < io->nb; i++) o.db[i] = NAN;
    return o;
}

static void par_out_free(par_out *o)
{
    free(o->y);
    free(o->dx);
    free(o->dw);
    free(o->db);
}

/* The three passes with the given workspace sizes (forward, input gradient, weight gradient), each
 * from an odd offset into its buffer. */
static par_out par_run(const par_case *c, const par_io *io, const size_t ws[3])
{
    par_out o = par_out_new(io);
    unsigned char *buf[3];
    for (int i = 0; i < 3; i++) {
        buf[i] = malloc(ws[i] + 8);
        assert_non_null(buf[i]);
    }
    assert_status(nnla_conv2d_forward(&c->d, c->batch, c->h, c->w, io->x, io->w, io->b, nnla_act_default(c->act), o.y,
                                      ws[0] ? buf[0] + 3 : NULL, ws[0]),
                  NNLA_OK);
    assert_status(nnla_conv2d_backward_data(&c->d, c->batch, c->h, c->w, io->dy, io->w, o.dx,
                                            ws[1] ? buf[1] + 5 : NULL, ws[1]),
                  NNLA_OK);
    assert_status(nnla_conv2d_backward_weights(&c->d, c->batch, c->h, c->w, io->x, io->dy, o.dw, o.db,
                                               ws[2] ? buf[2] + 1 : NULL, ws[2]),
                  NNLA_OK);
    for (int i = 0; i < 3; i++) free(buf[i]);
    return o;
}

static void par_sizes(const par_case *c, size_t pref[3], size_t min[3])
{
    assert_status(nnla_conv2d_workspace_size(&c->d, c->batch, c->h, c->w, &pref[0]), NNLA_OK);
    assert_status(nnla_conv2d_backward_data_workspace_size(&c->d, c->batch, c->h, c->w, &pref[1]), NNLA_OK);
    assert_status(nnla_conv2d_backward_weights_workspace_size(&c->d, c->batch, c->h, c->w, &pref[2]), NNLA_OK);
    assert_status(nnla_conv2d_workspace_min(&c->d, c->h, c->w, &min[0]), NNLA_OK);
    assert_status(nnla_conv2d_backward_data_workspace_min(&c->d, c->h, c->w, &min[1]), NNLA_OK);
    assert_status(nnla_conv2d_backward_weights_workspace_min(&c->d, c->h, c->w, &min[2]), NNLA_OK);
}

/* Tolerances for outputs that may differ in rounding: y, dx, dw (entrywise, absolute). */
typedef struct par_tol {
    double y, dx, dw;
} par_tol;

/* The forward pass, the input gradient and the bias gradient bit for bit; the weight gradient
 * within its tolerance (its sum over the batch is cut by thread), or bit for bit when `exact_dw`.
 * With another OpenBLAS than the OpenMP build (the pthread one), the count changes OpenBLAS's own
 * threads, which cut each GEMM their own way: y and dx are then only compared within rounding. */
static void par_same(const par_io *io, const par_out *a, const par_out *b, const par_tol *tol, int exact_dw)
{
    if (nnla_blas_parallel() == 2 || exact_dw) {
        assert_memory_equal(a->y, b->y, io->ny * sizeof(double));
        assert_memory_equal(a->dx, b->dx, io->nx * sizeof(double));
    } else {
        assert_vec_close(a->y, b->y, io->ny, 0.0, tol->y);
        assert_vec_close(a->dx, b->dx, io->nx, 0.0, tol->dx);
    }
    assert_memory_equal(a->db, b->db, io->nb * sizeof(double));
    if (exact_dw)
        assert_memory_equal(a->dw, b->dw, io->nw * sizeof(double));
    else
        assert_vec_close(a->dw, b->dw, io->nw, 0.0, tol->dw);
}

/*
 * One configuration: the passes with one thread (the preferred and the minimum workspaces), then
 * with 2 and 3 threads: the preferred workspace of that count, the one-thread workspace (a team
 * shares one plan) and the minimum. The forward pass, the input gradient and the bias gradient are
 * bit-identical to the one-thread run's of the same workspace size; the weight gradient agrees to
 * (batch*p + 2) eps times the sum of its terms' magnitudes, and repeated runs with the same count
 * are bit-identical. The two-thread results are also checked against the reference loops.
 */
static void par_check(nnla_test_rng *rng, const par_case *c)
{
    const nnla_conv2d_desc *d = &c->d;
    size_t cg = d->in_channels / d->groups, mg = d->out_channels / d->groups, khw = d->kernel_h * d->kernel_w;
    par_io io;
    assert_status(nnla_conv2d_output_size(d, c->h, c->w, &io.oh, &io.ow), NNLA_OK);
    size_t p = io.oh * io.ow;
    io.nx = c->batch * d->in_channels * c->h * c->w;
    io.nw = d->out_channels * cg * khw;
    io.ny = c->batch * d->out_channels * p;
    io.nb = d->out_channels;
    io.x = malloc(io.nx * sizeof(double));
    io.w = malloc(io.nw * sizeof(double));
    io.b = malloc(io.nb * sizeof(double));
    io.dy = malloc(io.ny * sizeof(double));
    assert_true(io.x && io.w && io.b && io.dy);
    nnla_test_fill(rng, io.x, io.nx, -1, 1);
    nnla_test_fill(rng, io.w, io.nw, -1, 1);
    nnla_test_fill(rng, io.b, io.nb, -1, 1);
    nnla_test_fill(rng, io.dy, io.ny, -1, 1);

    /* references: the definition's loops, with the magnitudes of the terms */
    double *ry = malloc(io.ny * sizeof(double)), *sabs = malloc(io.ny * sizeof(double));
    double *rdx = malloc(io.nx * sizeof(double)), *adx = malloc(io.nx * sizeof(double));
    double *rdw = malloc(io.nw * sizeof(double)), *adw = malloc(io.nw * sizeof(double));
    double *rdb = malloc(io.nb * sizeof(double));
    assert_true(ry && sabs && rdx && adx && rdw && adw && rdb);
    ref_conv(d, c->batch, c->h, c->w, io.x, io.w, io.b, io.oh, io.ow, ry, sabs);
    ref_act(nnla_act_default(c->act), c->batch, d->out_channels, p, ry);
    ref_backward(d, c->batch, c->h, c->w, io.oh, io.ow, io.x, io.w, io.dy, rdx, adx, rdw, adw, rdb);
    double sy = 0, sx = 0, sw = 0, sb = 0;
    for (size_t i = 0; i < io.ny; i++) sy = sabs[i] > sy ? sabs[i] : sy;
    for (size_t i = 0; i < io.nx; i++) sx = adx[i] > sx ? adx[i] : sx;
    for (size_t i = 0; i < io.nw; i++) sw = adw[i] > sw ? adw[i] : sw;
    for (size_t i = 0; i < io.ny; i++) sb += fabs(io.dy[i]);
    const double dw_tol = 2.0 * (double)(c->batch * p + 2) * EPS * (sw + DBL_MIN);
    const par_tol tol = {4.0 * (double)(cg * khw + 2) * EPS * (sy + 1.0),
                         2.0 * (double)(mg * khw + 2) * EPS * (sx + DBL_MIN), dw_tol};

    size_t one[3], min[3], pref[3];
    set_threads(1);
    par_sizes(c, one, min);
    par_out r1 = par_run(c, &io, one), m1 = par_run(c, &io, min);
    for (int t = 2; t <= 3; t++) {
        int n = set_threads(t);
        size_t min_t[3];
        par_sizes(c, pref, min_t);
        assert_memory_equal(min, min_t, sizeof min); /* the minimum does not depend on threads */
        if (c->batch_mode && n == 2 && !is_direct(d))
            for (int i = 0; i < 3; i++) assert_true(pref[i] >= 2 * one[i]); /* a slice per thread */
        par_out rt = par_run(c, &io, pref), again = par_run(c, &io, pref);
        par_same(&io, &r1, &rt, &tol, 0);
        par_same(&io, &rt, &again, &tol, 1); /* the same count: bit for bit, dw included */
        par_out ot = par_run(c, &io, one), mt = par_run(c, &io, min);
        par_same(&io, &r1, &ot, &tol, 0);
        par_same(&io, &m1, &mt, &tol, 0);
        if (t == 2) { /* against the definition */
            double kk = (double)(cg * khw);
            assert_vec_close(rt.y, ry, io.ny, 16 * EPS, 4.0 * (kk + 2.0) * EPS * (sy + 1.0));
            assert_vec_close(rt.dx, rdx, io.nx, 0.0, 2.0 * (double)(mg * khw + 2) * EPS * (sx + DBL_MIN));
            assert_vec_close(rt.dw, rdw, io.nw, 0.0, dw_tol);
            assert_vec_close(rt.db, rdb, io.nb, 0.0, 2.0 * (double)(c->batch * p) * EPS * sb);
        }
        par_out_free(&rt);
        par_out_free(&again);
        par_out_free(&ot);
        par_out_free(&mt);
    }
    par_out_free(&r1);
    par_out_free(&m1);
    free(io.x);
    free(io.w);
    free(io.b);
    free(io.dy);
    free(ry);
    free(sabs);
    free(rdx);
    free(adx);
    free(rdw);
    free(adw);
    free(rdb);
}

static par_case par_make(size_t in, size_t out, size_t k, size_t pad, size_t batch, size_t hw, nnla_act_kind act,
                         int batch_mode)
{
    par_case c;
    c.d = nnla_conv2d_desc_make(in, out, k, k);
    pad_all(&c.d, pad);
    c.batch = batch;
    c.h = c.w = hw;
    c.act = act;
    c.batch_mode = batch_mode;
    return c;
}

/*
 * 1 thread against 2 and 3 (par_check()) on configurations that take every way of cutting the
 * work: the batch dealt out (several images per GEMM, bands, the kernel-row split, the 1x1 path,
 * depthwise), and a team on one chunk (one image; the GEMM cut by columns or by rows; the input
 * gradient cut by channels or by columns; the kernel-row split with too few channels to cut; one
 * input channel; several bands of a large image; softmax over the channels).
 */
static void test_threads_identical(void **state)
{
    (void)state;
    const int before = nnla_blas_num_threads();
    nnla_test_rng rng = {1212};
    par_case cases[20];
    size_t k = 0;
    cases[k++] = par_make(3, 8, 3, 1, 40, 12, NNLA_ACT_RELU, 1);     /* 20 images per GEMM, two groups */
    cases[k++] = par_make(3, 8, 3, 1, 5, 12, NNLA_ACT_TANH, 0);      /* the 5 images in one GEMM: a team */
    cases[k++] = par_make(2, 8, 3, 1, 4, 64, NNLA_ACT_RELU, 1);      /* bands, one per image */
    cases[k++] = par_make(2, 8, 3, 1, 3, 64, NNLA_ACT_IDENTITY, 0);  /* 3 images: a team (2), dealt (3) */
    cases[k] = par_make(32, 16, 3, 1, 2, 34, NNLA_ACT_RELU, 1);      /* the kernel-row split */
    cases[k++].d.pad_right = 2;
    cases[k] = par_make(32, 16, 3, 1, 1, 34, NNLA_ACT_RELU, 0);      /* ... one image: channels cut */
    cases[k++].d.pad_right = 2;
    cases[k++] = par_make(24, 8, 3, 1, 1, 30, NNLA_ACT_GELU, 0);     /* ... 24 channels: not cut */
    cases[k++] = par_make(16, 40, 1, 0, 3, 20, NNLA_ACT_RELU, 0);    /* 1x1: a team (2), dealt (3) */
    cases[k++] = par_make(16, 40, 1, 0, 4, 20, NNLA_ACT_RELU, 1);    /* 1x1 dealt */
    cases[k++] = par_make(64, 64, 1, 0, 1, 7, NNLA_ACT_RELU, 0);     /* 1x1, 49 pixels: rows cut */
    cases[k] = par_make(8, 8, 3, 0, 1, 40, NNLA_ACT_LEAKY_RELU, 0);  /* groups, stride, dilation */
    cases[k].d.groups = 2;
    cases[k].d.stride_w = 2;
    cases[k].d.dilation_h = 2;
    cases[k].d.pad_top = 1;
    cases[k].d.pad_left = 2;
    cases[k++].d.pad_right = 1;
    cases[k] = par_make(16, 16, 3, 1, 1, 40, NNLA_ACT_RELU, 0);      /* depthwise: GEMVs cut */
    cases[k++].d.groups = 16;
    cases[k] = par_make(16, 16, 3, 1, 6, 40, NNLA_ACT_RELU, 1);      /* depthwise, dealt */
    cases[k++].d.groups = 16;
    cases[k++] = par_make(1, 40, 3, 1, 1, 48, NNLA_ACT_RELU, 0);     /* one input channel */
    cases[k++] = par_make(1, 40, 3, 1, 2, 48, NNLA_ACT_SIGMOID, 0);  /* ... two images in one GEMM */
    cases[k] = par_make(64, 4, 3, 1, 1, 128, NNLA_ACT_RELU, 0);      /* bands of a large image */
    cases[k].d.stride_h = 2;
    cases[k++].d.stride_w = 2;
    cases[k++] = par_make(4, 6, 3, 1, 8, 16, NNLA_ACT_SOFTMAX, 0);   /* softmax over channels */
    cases[k++] = par_make(8, 6, 1, 0, 1, 60, NNLA_ACT_LOG_SOFTMAX, 0);
    for (size_t i = 0; i < k; i++) par_check(&rng, &cases[i]);
    assert_status(nnla_blas_set_num_threads(before), NNLA_OK);
}

/* The threads of this process: the entries of /proc/self/task (-1 without /proc). */
static int count_tasks(void)
{
    DIR *dir = opendir("/proc/self/task");
    if (dir == NULL) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL)
        if (e->d_name[0] != '.') n++;
    closedir(dir);
    return n;
}

#define USERS 8        /* threads of the program calling libnnla at once */
#define USER_THREADS 4 /* omp_set_num_threads() of each: alone, a call would use 4 */
#define USER_ROUNDS 20

typedef struct user_shared {
    nnla_conv2d_desc d;
    size_t batch, h, w, nx, ny;
    const double *x, *wt, *dy, *yref, *dxref;
    atomic_int ready, go, finished, failures, widest;
} user_shared;

/* One of the program's threads: its own workspace (queried with its own thread count), then rounds
 * of the forward pass and the input gradient, each compared bit for bit with the one-thread run. */
static void *user_main(void *arg)
{
    user_shared *u = arg;
    omp_set_num_threads(USER_THREADS);
    int widest = nnla_num_threads();
    size_t wf = 0, wd = 0;
    int bad = nnla_conv2d_workspace_size(&u->d, u->batch, u->h, u->w, &wf) != NNLA_OK ||
              nnla_conv2d_backward_data_workspace_size(&u->d, u->batch, u->h, u->w, &wd) != NNLA_OK;
    size_t ws = wf > wd ? wf : wd;
    double *y = malloc(u->ny * sizeof *y), *dx = malloc(u->nx * sizeof *dx);
    void *work = malloc(ws);
    bad |= y == NULL || dx == NULL || work == NULL;
    atomic_fetch_add(&u->ready, 1);
    while (!atomic_load(&u->go)) {
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
    }
    for (int r = 0; r < USER_ROUNDS && !bad; r++) {
        bad |= nnla_conv2d_forward(&u->d, u->batch, u->h, u->w, u->x, u->wt, NULL, nnla_act_default(NNLA_ACT_RELU), y,
                                   work, ws) != NNLA_OK;
        bad |= memcmp(y, u->yref, u->ny * sizeof *y) != 0;
        bad |= nnla_conv2d_backward_data(&u->d, u->batch, u->h, u->w, u->dy, u->wt, dx, work, ws) != NNLA_OK;
        bad |= memcmp(dx, u->dxref, u->nx * sizeof *dx) != 0;
    }
    if (bad) atomic_fetch_add(&u->failures, 1);
    int w0 = atomic_load(&u->widest);
    while (widest > w0 && !atomic_compare_exchange_weak(&u->widest, &w0, widest)) {
    }
    atomic_fetch_add(&u->finished, 1);
    free(y);
    free(dx);
    free(work);
    return NULL;
}

/*
 * Several threads of the program calling the convolution at once (each allowed 4 threads by its
 * own omp_set_num_threads()): every result is bit-identical to the one-thread run, and while they
 * run the process holds at most the threads it had, plus the callers, plus 2 * 4: the callers share
 * the threads (a call gets 4 / callers of them) instead of each starting a team of 4 (which would be
 * 8 * 3 more). Counted in /proc/self/task from the start until the first caller is done.
 */
static void test_user_threads(void **state)
{
    (void)state;
    const int before_blas = nnla_blas_num_threads();
    user_shared u;
    memset(&u, 0, sizeof u);
    u.d = nnla_conv2d_desc_make(16, 16, 3, 3);
    pad_all(&u.d, 1);
    u.batch = 4;
    u.h = u.w = 24;
    u.nx = u.batch * 16 * u.h * u.w;
    u.ny = u.batch * 16 * u.h * u.w;
    double *x = malloc(u.nx * sizeof *x), *wt = malloc(16 * 16 * 9 * sizeof *wt), *dy = malloc(u.ny * sizeof *dy);
    double *yref = malloc(u.ny * sizeof *yref), *dxref = malloc(u.nx * sizeof *dxref);
    assert_true(x && wt && dy && yref && dxref);
    nnla_test_rng rng = {77};
    nnla_test_fill(&rng, x, u.nx, -1, 1);
    nnla_test_fill(&rng, wt, 16 * 16 * 9, -1, 1);
    nnla_test_fill(&rng, dy, u.ny, -1, 1);
    set_threads(1);
    size_t wf, wd;
    assert_status(nnla_conv2d_workspace_size(&u.d, u.batch, u.h, u.w, &wf), NNLA_OK);
    assert_status(nnla_conv2d_backward_data_workspace_size(&u.d, u.batch, u.h, u.w, &wd), NNLA_OK);
    void *work = malloc(wf > wd ? wf : wd);
    assert_status(nnla_conv2d_forward(&u.d, u.batch, u.h, u.w, x, wt, NULL, nnla_act_default(NNLA_ACT_RELU), yref,
                                      work, wf),
                  NNLA_OK);
    assert_status(nnla_conv2d_backward_data(&u.d, u.batch, u.h, u.w, dy, wt, dxref, work, wd), NNLA_OK);
    free(work);
    assert_status(nnla_blas_set_num_threads(before_blas), NNLA_OK);
    u.x = x;
    u.wt = wt;
    u.dy = dy;
    u.yref = yref;
    u.dxref = dxref;

    const int before = count_tasks();
    pthread_t th[USERS];
    for (int i = 0; i < USERS; i++) assert_int_equal(pthread_create(&th[i], NULL, user_main, &u), 0);
    while (atomic_load(&u.ready) < USERS) {
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
    }
    int most = count_tasks();
    atomic_store(&u.go, 1);
    while (atomic_load(&u.finished) == 0) {
        int n = count_tasks();
        most = n > most ? n : most;
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
    }
    for (int i = 0; i < USERS; i++) pthread_join(th[i], NULL);
    assert_int_equal(atomic_load(&u.failures), 0);
    /* alone, each caller could use USER_THREADS (with the OpenMP OpenBLAS; 1 with another) */
    assert_int_equal(atomic_load(&u.widest), nnla_blas_parallel() == 2 ? USER_THREADS : 1);
    if (before > 0) {
        if (most > before + USERS + 2 * USER_THREADS)
            fail_msg("%d threads while %d callers ran (%d before): more than %d", most, USERS, before,
                     before + USERS + 2 * USER_THREADS);
    }
    free(x);
    free(wt);
    free(dy);
    free(yref);
    free(dxref);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paper_example),    cmocka_unit_test(test_random_vs_direct),
        cmocka_unit_test(test_chunking),         cmocka_unit_test(test_kernel_row_split),
        cmocka_unit_test(test_softmax_planes),   cmocka_unit_test(test_im2col_col2im),
        cmocka_unit_test(test_nan_propagates),   cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_desc_and_queries), cmocka_unit_test(test_backward_random),
        cmocka_unit_test(test_backward_split_and_chunks), cmocka_unit_test(test_backward_finite_differences),
        cmocka_unit_test(test_backward_bad_input), cmocka_unit_test(test_threads_identical),
        cmocka_unit_test(test_user_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
