/*
 * Convolution: the paper's example word for word, nnla_conv2d_forward against a direct
 * convolution loop on random configurations (stride, padding, dilation, groups, batch,
 * 1x1, bias, activations, tiled and untiled workspaces), im2col against a loop, col2im as
 * its adjoint and against a loop, the NaN policy, workspace queries and bad input.
 */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
                            long iy = in_index(oy, d->stride_h, i, d->dilation_h, d->pad_h, h);
                            if (iy < 0) continue;
                            for (size_t j = 0; j < d->kernel_w; j++) {
                                long ix = in_index(ox, d->stride_w, j, d->dilation_w, d->pad_w, w);
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
                        long iy = in_index(oy, d->stride_h, i, d->dilation_h, d->pad_h, h);
                        long ix = in_index(ox, d->stride_w, j, d->dilation_w, d->pad_w, w);
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
                        long iy = in_index(oy, d->stride_h, i, d->dilation_h, d->pad_h, h);
                        long ix = in_index(ox, d->stride_w, j, d->dilation_w, d->pad_w, w);
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
        c.d.pad_h = nnla_test_int(r, 0, 2);
        c.d.pad_w = nnla_test_int(r, 0, 2);
        c.d.dilation_h = nnla_test_int(r, 1, 2);
        c.d.dilation_w = nnla_test_int(r, 1, 2);
        if (trial % 7 == 0) { /* the 1x1, stride-1, unpadded fast path */
            c.d.kernel_h = c.d.kernel_w = 1;
            c.d.stride_h = c.d.stride_w = 1;
            c.d.pad_h = c.d.pad_w = 0;
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
    int direct = d->kernel_h == 1 && d->kernel_w == 1 && d->stride_h == 1 && d->stride_w == 1 &&
                 d->pad_h == 0 && d->pad_w == 0;
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
    int tiled = 0, ran = 0;
    for (int trial = 0; trial < 400; trial++) {
        conv_case c = draw_case(&rng, trial);
        tiled += run_case(&rng, &c);
        ran++;
    }
    assert_true(ran >= 200);
    assert_true(tiled >= 50);
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
    wide.d.pad_h = wide.d.pad_w = 1;
    wide.d.stride_h = wide.d.stride_w = 2;
    assert_status(nnla_conv2d_output_size(&wide.d, 128, 128, &wide.oh, &wide.ow), NNLA_OK);
    run_case(&rng, &wide);
    size_t wbytes = 0;
    assert_status(nnla_conv2d_workspace_size(&wide.d, 1, 128, 128, &wbytes), NNLA_OK);
    assert_true(wbytes < (size_t)576 * 4096 * sizeof(double)); /* bands, not the whole matrix */
    /* 64 channels of 32x32, 3x3: the kernel-row split */
    conv_case big = {nnla_conv2d_desc_make(64, 6, 3, 3), 2, 32, 32, 0, 0, 1, {NNLA_ACT_RELU, 0}, 0};
    big.d.pad_h = big.d.pad_w = 1;
    assert_status(nnla_conv2d_output_size(&big.d, 32, 32, &big.oh, &big.ow), NNLA_OK);
    run_case(&rng, &big);
    big.ws_mode = 2;
    run_case(&rng, &big);
    /* small images, batch 7: several whole images per GEMM; every fourth workspace mode */
    for (int mode = 0; mode < 4; mode++)
        for (int rep = 0; rep < 4; rep++) {
            conv_case s = {
                nnla_conv2d_desc_make(4, 6, 3, 3), 7, 5, 6, 0, 0, rep & 1, {NNLA_ACT_SOFTMAX, 0}, mode};
            s.d.pad_h = 1;
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
            c.d.pad_h = nnla_test_int(&rng, 0, 2);
            c.d.pad_w = nnla_test_int(&rng, 0, 2);
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
    d.pad_h = d.pad_w = 1;
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

/* ------------------------------------------------------------------ im2col / col2im */

static double dot(const double *a, const double *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

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
                                    if (in_index(oy, d->stride_h, i, d->dilation_h, d->pad_h, c.h) ==
                                            (long)ay &&
                                        in_index(ox, d->stride_w, j, d->dilation_w, d->pad_w, c.w) ==
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
    d.pad_h = d.pad_w = 1;
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
    e.pad_h = SIZE_MAX / 2;
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
    assert_true(d.stride_h == 1 && d.stride_w == 1 && d.pad_h == 0 && d.pad_w == 0);
    assert_true(d.dilation_h == 1 && d.dilation_w == 1 && d.groups == 1);
    /* out = (in + 2 pad - dil (k - 1) - 1) / stride + 1, as PyTorch */
    d.stride_h = 2;
    d.stride_w = 3;
    d.pad_h = 2;
    d.pad_w = 1;
    d.dilation_h = 2;
    size_t oh, ow;
    assert_status(nnla_conv2d_output_size(&d, 17, 10, &oh, &ow), NNLA_OK);
    assert_int_equal(oh, (17 + 4 - 2 * 4 - 1) / 2 + 1);
    assert_int_equal(ow, (10 + 2 - 1 - 1) / 3 + 1);
    /* the minimum is one output row of one group's column matrix, plus (pad_w > 0) one
     * channel's input rows it reads, padded: 9 rows of 10 + 2, plus alignment slack */
    size_t wmin, full;
    assert_status(nnla_conv2d_workspace_min(&d, 17, 10, &wmin), NNLA_OK);
    assert_true(wmin >= (3 * 5 * 2 * ow + 9 * 12) * sizeof(double));
    assert_true(wmin <= (3 * 5 * 2 * ow + 9 * 12) * sizeof(double) + 128);
    d.pad_w = 0; /* no padded rows */
    assert_status(nnla_conv2d_output_size(&d, 17, 10, &oh, &ow), NNLA_OK);
    assert_status(nnla_conv2d_workspace_min(&d, 17, 10, &wmin), NNLA_OK);
    assert_true(wmin >= 3 * 5 * 2 * ow * sizeof(double));
    assert_true(wmin <= 3 * 5 * 2 * ow * sizeof(double) + 64);
    assert_status(nnla_conv2d_workspace_size(&d, 4, 17, 10, &full), NNLA_OK);
    assert_true(full >= 3 * 5 * 2 * oh * ow * sizeof(double));
    /* 1x1 stride 1 unpadded (any dilation): no workspace */
    nnla_conv2d_desc one = nnla_conv2d_desc_make(16, 4, 1, 1);
    one.dilation_h = 3;
    assert_status(nnla_conv2d_workspace_size(&one, 8, 9, 9, &full), NNLA_OK);
    assert_status(nnla_conv2d_workspace_min(&one, 9, 9, &wmin), NNLA_OK);
    assert_true(full == 0 && wmin == 0);
    one.pad_h = 1;
    assert_status(nnla_conv2d_workspace_size(&one, 8, 9, 9, &full), NNLA_OK);
    assert_true(full > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paper_example),    cmocka_unit_test(test_random_vs_direct),
        cmocka_unit_test(test_chunking),         cmocka_unit_test(test_kernel_row_split),
        cmocka_unit_test(test_softmax_planes),   cmocka_unit_test(test_im2col_col2im),
        cmocka_unit_test(test_nan_propagates),   cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_desc_and_queries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
