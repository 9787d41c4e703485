/*
 * spectral_net: the operator norm of a convolution on an input size, the Lipschitz constants of
 * activations and poolings, a network's diagnostics table and Lipschitz bound, spectral
 * normalization and clipping of a network's layer, initializing a network, the closed-form refit.
 *
 * Reference values, independent of the code under test:
 *   - the explicit matrix of a convolution, built here column by column from a direct loop (stride,
 *     asymmetric padding, dilation, groups), and of a pooling and of a whole network, built by
 *     running them on unit vectors; their singular values from nnla_svd;
 *   - closed forms: the 3 x 3 kernel of ones with padding 1 on n x n, (1 + 2 cos(pi / (n + 1)))^2;
 *     the activations' largest derivatives on a fine grid (nnla_act_derivative), softmax and
 *     log-softmax Jacobians by central differences;
 *   - sampled gains ||f(x) - f(y)|| / ||x - y|| and finite-difference Jacobians of random networks,
 *     which a Lipschitz bound may never be below;
 *   - features computed layer by layer here, fed to nnla_ridge_refit.
 * Tolerances (eps = DBL_EPSILON) are stated at each assertion.
 */
#include "testutil.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EPS DBL_EPSILON
#define PI 3.14159265358979323846

static double *xmalloc(size_t n)
{
    double *p = malloc((n ? n : 1) * sizeof *p);
    assert_non_null(p);
    return p;
}

/* An exact-size workspace (ASan sees any overrun), misaligned by `skew` bytes. */
typedef struct ws {
    unsigned char *raw;
    void *p;
    size_t n;
} ws;

static ws ws_make(size_t bytes, size_t skew)
{
    ws w;
    w.raw = malloc(bytes + skew + 1);
    assert_non_null(w.raw);
    w.p = w.raw + skew;
    w.n = bytes;
    return w;
}

static void ws_free(ws *w) { free(w->raw); }

/* The largest singular value of a row-major m x n matrix, from nnla_svd. */
static double svd_max(const double *a, size_t m, size_t n)
{
    size_t k = m < n ? m : n;
    double *s = xmalloc(k);
    nnla_mat z = nnla_mat_view(NULL, 0, 0, 0);
    assert_status(nnla_svd_alloc(NNLA_SVD_VALUES, nnla_cmat_view(a, m, n, n), s, z, z, NULL), NNLA_OK);
    double r = s[0];
    free(s);
    return r;
}

static double vdist(const double *x, const double *y, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (x[i] - y[i]) * (x[i] - y[i]);
    return sqrt(s);
}

/* ------------------------------------------------------------------ the convolution, written here */

static size_t conv_out(size_t n, size_t lo, size_t hi, size_t k, size_t dil, size_t s)
{
    return (n + lo + hi - dil * (k - 1) - 1) / s + 1;
}

/* y = conv2d(x, w) for one image, no bias: a direct loop over outputs and taps. */
static void direct_conv(const nnla_conv2d_desc *d, size_t H, size_t W, const double *x, const double *w, double *y)
{
    size_t oh = conv_out(H, d->pad_top, d->pad_bottom, d->kernel_h, d->dilation_h, d->stride_h);
    size_t ow = conv_out(W, d->pad_left, d->pad_right, d->kernel_w, d->dilation_w, d->stride_w);
    size_t cg = d->in_channels / d->groups, og = d->out_channels / d->groups;
    for (size_t o = 0; o < d->out_channels; o++) {
        size_t g = o / og;
        for (size_t oy = 0; oy < oh; oy++)
            for (size_t ox = 0; ox < ow; ox++) {
                double acc = 0.0;
                for (size_t c = 0; c < cg; c++)
                    for (size_t i = 0; i < d->kernel_h; i++)
                        for (size_t j = 0; j < d->kernel_w; j++) {
                            long iy = (long)(oy * d->stride_h + i * d->dilation_h) - (long)d->pad_top;
                            long ix = (long)(ox * d->stride_w + j * d->dilation_w) - (long)d->pad_left;
                            if (iy < 0 || ix < 0 || iy >= (long)H || ix >= (long)W) continue;
                            acc += w[((o * cg + c) * d->kernel_h + i) * d->kernel_w + j] *
                                   x[((g * cg + c) * H + (size_t)iy) * W + (size_t)ix];
                        }
                y[(o * oh + oy) * ow + ox] = acc;
            }
    }
}

/* The explicit (O oh ow) x (C H W) matrix of the convolution, column by column. */
static double *conv_explicit(const nnla_conv2d_desc *d, size_t H, size_t W, const double *w, size_t *rows,
                             size_t *cols)
{
    size_t oh = conv_out(H, d->pad_top, d->pad_bottom, d->kernel_h, d->dilation_h, d->stride_h);
    size_t ow = conv_out(W, d->pad_left, d->pad_right, d->kernel_w, d->dilation_w, d->stride_w);
    size_t m = d->out_channels * oh * ow, n = d->in_channels * H * W;
    double *a = xmalloc(m * n), *e = xmalloc(n), *y = xmalloc(m);
    memset(e, 0, n * sizeof *e);
    for (size_t c = 0; c < n; c++) {
        e[c] = 1.0;
        direct_conv(d, H, W, e, w, y);
        e[c] = 0.0;
        for (size_t r = 0; r < m; r++) a[r * n + c] = y[r];
    }
    free(e);
    free(y);
    *rows = m;
    *cols = n;
    return a;
}

/* The documented upper bound: sqrt(c_h c_w) max over groups of ||R_g||, c = the largest number of
 * kernel taps (windows) that read one input position along an axis, counted here by brute force. */
static double conv_tap_bound(const nnla_conv2d_desc *d, size_t H, size_t W, const double *w)
{
    size_t oh = conv_out(H, d->pad_top, d->pad_bottom, d->kernel_h, d->dilation_h, d->stride_h);
    size_t ow = conv_out(W, d->pad_left, d->pad_right, d->kernel_w, d->dilation_w, d->stride_w);
    size_t ch = 0, cw = 0;
    for (size_t p = 0; p < H; p++) {
        size_t c = 0;
        for (size_t oy = 0; oy < oh; oy++)
            for (size_t i = 0; i < d->kernel_h; i++)
                if ((long)(oy * d->stride_h + i * d->dilation_h) - (long)d->pad_top == (long)p) c++;
        if (c > ch) ch = c;
    }
    for (size_t q = 0; q < W; q++) {
        size_t c = 0;
        for (size_t ox = 0; ox < ow; ox++)
            for (size_t j = 0; j < d->kernel_w; j++)
                if ((long)(ox * d->stride_w + j * d->dilation_w) - (long)d->pad_left == (long)q) c++;
        if (c > cw) cw = c;
    }
    size_t og = d->out_channels / d->groups, k = d->in_channels / d->groups * d->kernel_h * d->kernel_w;
    double best = 0.0;
    for (size_t g = 0; g < d->groups; g++) best = fmax(best, svd_max(w + g * og * k, og, k));
    return sqrt((double)ch * (double)cw) * best;
}

/* ------------------------------------------------------------------ conv operator norm */

typedef struct opnorm_out {
    nnla_status st;
    double sigma;
    double *u, *v;
    nnla_power_info info;
} opnorm_out;

static opnorm_out opnorm(const nnla_conv2d_desc *d, const double *w, size_t H, size_t W, const nnla_power_opts *o,
                         const double *v0)
{
    size_t oh = conv_out(H, d->pad_top, d->pad_bottom, d->kernel_h, d->dilation_h, d->stride_h);
    size_t ow = conv_out(W, d->pad_left, d->pad_right, d->kernel_w, d->dilation_w, d->stride_w);
    size_t m = d->out_channels * oh * ow, n = d->in_channels * H * W, bytes;
    assert_status(nnla_conv2d_opnorm_workspace_size(d, H, W, &bytes), NNLA_OK);
    ws wk = ws_make(bytes, 3);
    opnorm_out r;
    r.u = xmalloc(m);
    r.v = xmalloc(n);
    if (v0) memcpy(r.v, v0, n * sizeof *r.v);
    r.sigma = -1.0;
    r.st = nnla_conv2d_opnorm(d, w, H, W, o, &r.sigma, r.u, r.v, &r.info, wk.p, wk.n);
    ws_free(&wk);
    return r;
}

static void opnorm_free(opnorm_out *r)
{
    free(r->u);
    free(r->v);
}

/* Many geometries against the SVD of the explicit matrix. */
static void test_conv_opnorm_explicit(void **state)
{
    (void)state;
    nnla_test_rng rng = {20261201};
    nnla_power_opts o = nnla_power_opts_default();
    o.tol = 1e-10;
    o.max_iter = 200000;
    size_t configs = 0;
    for (int t = 0; t < 60; t++) {
        size_t groups = nnla_test_int(&rng, 1, 3);
        if (t % 10 == 9) groups = 3; /* depthwise below: C = O = groups */
        nnla_conv2d_desc d = nnla_conv2d_desc_make(groups * nnla_test_int(&rng, 1, 2),
                                                   groups * nnla_test_int(&rng, 1, 2), nnla_test_int(&rng, 1, 3),
                                                   nnla_test_int(&rng, 1, 3));
        if (t % 10 == 9) d.in_channels = d.out_channels = groups;
        d.groups = groups;
        d.stride_h = nnla_test_int(&rng, 1, 3);
        d.stride_w = nnla_test_int(&rng, 1, 2);
        d.dilation_h = nnla_test_int(&rng, 1, 2);
        d.dilation_w = nnla_test_int(&rng, 1, 2);
        d.pad_top = nnla_test_int(&rng, 0, 2);
        d.pad_bottom = nnla_test_int(&rng, 0, 2);
        d.pad_left = nnla_test_int(&rng, 0, 2);
        d.pad_right = nnla_test_int(&rng, 0, 1);
        size_t H = nnla_test_int(&rng, 3, 7), W = nnla_test_int(&rng, 3, 7), oh, ow;
        if (nnla_conv2d_output_size(&d, H, W, &oh, &ow) != NNLA_OK) continue;
        size_t nw = d.out_channels * (d.in_channels / groups) * d.kernel_h * d.kernel_w;
        double *w = xmalloc(nw);
        for (size_t i = 0; i < nw; i++) w[i] = nnla_test_normal(&rng);
        size_t m, n;
        double *a = conv_explicit(&d, H, W, w, &m, &n);
        double exact = svd_max(a, m, n);
        opnorm_out r = opnorm(&d, w, H, W, &o, NULL);
        assert_status(r.st, NNLA_OK);
        /* a lower bound up to rounding, and within tol of the largest singular value */
        assert_true(r.sigma <= exact * (1.0 + 64 * EPS));
        assert_true(fabs(r.sigma - exact) <= 1e-9 * exact);
        /* the returned vectors: ||K v - sigma u|| / sigma small, with K the explicit matrix */
        double res = 0.0;
        for (size_t i = 0; i < m; i++) {
            double s = -r.sigma * r.u[i];
            for (size_t j = 0; j < n; j++) s += a[i * n + j] * r.v[j];
            res += s * s;
        }
        assert_true(sqrt(res) / r.sigma <= 1e-8);
        /* the documented bounds: ||K|| <= sqrt(c_h c_w) max_g ||R_g|| */
        assert_true(exact <= conv_tap_bound(&d, H, W, w) * (1.0 + 1e-12));
        /* stride 1, dilation 1, one group: at most the circular convolution's norm on the padded torus */
        if (d.stride_h == 1 && d.stride_w == 1 && d.dilation_h == 1 && d.dilation_w == 1 && groups == 1) {
            size_t n1 = H + d.pad_top + d.pad_bottom, n2 = W + d.pad_left + d.pad_right, bytes;
            assert_status(nnla_conv2d_circular_sv_workspace_size(&d, n1, n2, &bytes), NNLA_OK);
            ws wk = ws_make(bytes, 0);
            size_t k = d.out_channels < d.in_channels ? d.out_channels : d.in_channels;
            double *s = xmalloc(n1 * n2 * k);
            assert_status(nnla_conv2d_circular_sv(&d, w, n1, n2, NNLA_CONV_SV_SORTED, s, wk.p, wk.n), NNLA_OK);
            assert_true(exact <= s[0] * (1.0 + 1e-12));
            free(s);
            ws_free(&wk);
        }
        opnorm_free(&r);
        free(a);
        free(w);
        configs++;
    }
    assert_true(configs >= 40);
}

/* The example: a 3 x 3 kernel of ones; its reshaped 1 x 9 matrix has norm 3. */
static void test_conv_opnorm_ones(void **state)
{
    (void)state;
    double ones[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    nnla_conv2d_desc d = nnla_conv2d_desc_make(1, 1, 3, 3);
    d.pad_top = d.pad_bottom = d.pad_left = d.pad_right = 1;
    nnla_power_opts o = nnla_power_opts_default();
    o.tol = 1e-10;
    o.max_iter = 100000;
    double prev = 0.0;
    static const size_t sizes[] = {4, 8, 16, 32};
    for (size_t t = 0; t < 4; t++) {
        size_t n = sizes[t];
        /* with padding 1 the map is T kron T, T the n x n tridiagonal matrix of ones */
        double a = 1.0 + 2.0 * cos(PI / (double)(n + 1)), want = a * a;
        opnorm_out r = opnorm(&d, ones, n, n, &o, NULL);
        assert_status(r.st, NNLA_OK);
        assert_true(fabs(r.sigma - want) <= 1e-9 * want);
        assert_true(r.sigma > prev && r.sigma < 9.0); /* increasing to 9 */
        prev = r.sigma;
        opnorm_free(&r);
    }
    assert_true(prev > 8.9);
    double s3;
    size_t bytes;
    assert_status(nnla_spectral_norm_workspace_size(1, 9, &bytes), NNLA_OK);
    ws wk = ws_make(bytes, 0);
    assert_status(nnla_spectral_norm(nnla_cmat_view(ones, 1, 9, 9), &s3, wk.p, wk.n), NNLA_OK);
    assert_true(fabs(s3 - 3.0) <= 4 * EPS);
    ws_free(&wk);
}

/* Scaling is exact; a warm start from the returned v converges at once; ENOCONV keeps the iterate. */
static void test_conv_opnorm_scaling_warm(void **state)
{
    (void)state;
    nnla_test_rng rng = {77};
    nnla_conv2d_desc d = nnla_conv2d_desc_make(3, 4, 3, 3);
    d.stride_h = 2;
    d.pad_top = 1;
    d.pad_right = 2;
    size_t nw = 4 * 3 * 9, H = 9, W = 8;
    double *w = xmalloc(nw), *w2 = xmalloc(nw);
    for (size_t i = 0; i < nw; i++) {
        w[i] = nnla_test_normal(&rng);
        w2[i] = ldexp(w[i], 600);
    }
    nnla_power_opts o = nnla_power_opts_default();
    o.tol = 1e-9;
    o.max_iter = 100000;
    opnorm_out a = opnorm(&d, w, H, W, &o, NULL), b = opnorm(&d, w2, H, W, &o, NULL);
    assert_status(a.st, NNLA_OK);
    assert_status(b.st, NNLA_OK);
    assert_true(b.sigma == ldexp(a.sigma, 600)); /* bit for bit: the scaling by 2^-e is exact */
    nnla_power_opts ow = o;
    ow.warm_start = 1;
    opnorm_out c = opnorm(&d, w, H, W, &ow, a.v);
    assert_status(c.st, NNLA_OK);
    assert_true(c.info.iterations <= 1);
    assert_true(fabs(c.sigma - a.sigma) <= 1e-12 * a.sigma);
    /* the cap: ENOCONV with the last iterate, usable as a warm start */
    nnla_power_opts oc = o;
    oc.tol = 1e-15;
    oc.max_iter = 2;
    opnorm_out e = opnorm(&d, w, H, W, &oc, NULL);
    assert_status(e.st, NNLA_ENOCONV);
    assert_true(e.info.converged == 0 && e.info.iterations == 2 && e.sigma > 0 && e.sigma <= a.sigma * (1 + 1e-12));
    /* a zero kernel */
    memset(w2, 0, nw * sizeof *w2);
    opnorm_out z = opnorm(&d, w2, H, W, &o, NULL);
    assert_status(z.st, NNLA_OK);
    assert_true(z.sigma == 0.0);
    opnorm_free(&a);
    opnorm_free(&b);
    opnorm_free(&c);
    opnorm_free(&e);
    opnorm_free(&z);
    free(w);
    free(w2);
}

static void test_conv_opnorm_bad_input(void **state)
{
    (void)state;
    nnla_conv2d_desc d = nnla_conv2d_desc_make(2, 2, 3, 3);
    double w[36];
    for (int i = 0; i < 36; i++) w[i] = i % 7 - 3.0;
    size_t bytes = 5, H = 5, W = 5;
    assert_status(nnla_conv2d_opnorm_workspace_size(NULL, H, W, &bytes), NNLA_ENULL);
    assert_status(nnla_conv2d_opnorm_workspace_size(&d, H, W, NULL), NNLA_ENULL);
    assert_status(nnla_conv2d_opnorm_workspace_size(&d, 2, W, &bytes), NNLA_ESHAPE);
    assert_status(nnla_conv2d_opnorm_workspace_size(&d, 0, W, &bytes), NNLA_EDIM);
    assert_true(bytes == 5);
    assert_status(nnla_conv2d_opnorm_workspace_size(&d, H, W, &bytes), NNLA_OK);
    ws wk = ws_make(bytes, 0);
    double sigma = 42, u[18], v[50], u0[18], v0[50];
    for (int i = 0; i < 18; i++) u[i] = 7;
    for (int i = 0; i < 50; i++) v[i] = i == 0;
    memcpy(u0, u, sizeof u);
    memcpy(v0, v, sizeof v);
    nnla_power_info info = {9, 9, 9, 9}, info0 = info;
    nnla_power_opts o = nnla_power_opts_default();
#define OP_BAD(call, st)                                                                           \
    do {                                                                                           \
        assert_status(call, st);                                                                   \
        assert_true(sigma == 42);                                                                  \
        assert_memory_equal(u, u0, sizeof u);                                                      \
        assert_memory_equal(v, v0, sizeof v);                                                      \
        assert_memory_equal(&info, &info0, sizeof info);                                           \
    } while (0)
    OP_BAD(nnla_conv2d_opnorm(NULL, w, H, W, &o, &sigma, u, v, &info, wk.p, wk.n), NNLA_ENULL);
    OP_BAD(nnla_conv2d_opnorm(&d, NULL, H, W, &o, &sigma, u, v, &info, wk.p, wk.n), NNLA_ENULL);
    OP_BAD(nnla_conv2d_opnorm(&d, w, H, W, &o, NULL, u, v, &info, wk.p, wk.n), NNLA_ENULL);
    OP_BAD(nnla_conv2d_opnorm(&d, w, H, W, &o, &sigma, u, v, &info, NULL, wk.n), NNLA_ENULL);
    OP_BAD(nnla_conv2d_opnorm(&d, w, 2, W, &o, &sigma, u, v, &info, wk.p, wk.n), NNLA_ESHAPE);
    OP_BAD(nnla_conv2d_opnorm(&d, w, H, W, &o, &sigma, u, v, &info, wk.p, wk.n - 1), NNLA_EWORKSPACE);
    nnla_conv2d_desc bad = d;
    bad.groups = 3;
    OP_BAD(nnla_conv2d_opnorm(&bad, w, H, W, &o, &sigma, u, v, &info, wk.p, wk.n), NNLA_EDIM);
    nnla_power_opts ob = o;
    ob.tol = -1;
    OP_BAD(nnla_conv2d_opnorm(&d, w, H, W, &ob, &sigma, u, v, &info, wk.p, wk.n), NNLA_EINVAL);
    ob = o;
    ob.max_iter = 0;
    OP_BAD(nnla_conv2d_opnorm(&d, w, H, W, &ob, &sigma, u, v, &info, wk.p, wk.n), NNLA_EINVAL);
    ob = o;
    ob.warm_start = 1;
    OP_BAD(nnla_conv2d_opnorm(&d, w, H, W, &ob, &sigma, u, NULL, &info, wk.p, wk.n), NNLA_ENULL);
    double vz[50] = {0};
    OP_BAD(nnla_conv2d_opnorm(&d, w, H, W, &ob, &sigma, u, vz, &info, wk.p, wk.n), NNLA_EINVAL);
    OP_BAD(nnla_conv2d_opnorm(&d, w, H, W, &o, &sigma, u, (double *)wk.p, &info, wk.p, wk.n), NNLA_EALIAS);
    OP_BAD(nnla_conv2d_opnorm(&d, w, H, W, &o, &sigma, (double *)w, v, &info, wk.p, wk.n), NNLA_EALIAS);
    w[5] = NAN;
    OP_BAD(nnla_conv2d_opnorm(&d, w, H, W, &o, &sigma, u, v, &info, wk.p, wk.n), NNLA_ENONFINITE);
    w[5] = INFINITY;
    OP_BAD(nnla_conv2d_opnorm(&d, w, H, W, &o, &sigma, u, v, &info, wk.p, wk.n), NNLA_ENONFINITE);
#undef OP_BAD
    ws_free(&wk);
}

/* ------------------------------------------------------------------ activations and poolings */

/* The constants against max |f'| on a grid, and the row-wise ones against Jacobians. */
static void test_act_lipschitz(void **state)
{
    (void)state;
    const size_t n = 400001; /* [-20, 20] in steps of 1e-4 */
    double *x = xmalloc(n), *dv = xmalloc(n);
    for (size_t i = 0; i < n; i++) x[i] = -20.0 + 1e-4 * (double)i;
    nnla_act acts[] = {
        nnla_act_default(NNLA_ACT_IDENTITY), {NNLA_ACT_SIGMOID, 2.0}, nnla_act_default(NNLA_ACT_TANH),
        nnla_act_default(NNLA_ACT_RELU),     {NNLA_ACT_LEAKY_RELU, 0.1}, {NNLA_ACT_LEAKY_RELU, -3.0},
        {NNLA_ACT_ELU, 2.5},                 {NNLA_ACT_ELU, 0.5},     nnla_act_default(NNLA_ACT_GELU),
        nnla_act_default(NNLA_ACT_SILU),     {NNLA_ACT_SOFTPLUS, 3.0}};
    for (size_t a = 0; a < sizeof acts / sizeof acts[0]; a++) {
        double c;
        assert_status(nnla_act_lipschitz(acts[a], 0, &c), NNLA_OK);
        assert_status(nnla_act_derivative(acts[a], nnla_cmat_view(x, 1, n, n), nnla_mat_view(dv, 1, n, n)), NNLA_OK);
        double mx = 0.0;
        for (size_t i = 0; i < n; i++) mx = fmax(mx, fabs(dv[i]));
        /* never below the sampled maximum, and tight: the grid misses the top of a smooth f' by
         * O(h^2) only; ELU's alpha is a supremum approached as x -> 0- */
        assert_true(c >= mx);
        assert_true(c - mx <= 1e-6 * c);
    }
    double c;
    assert_status(nnla_act_lipschitz(nnla_act_default(NNLA_ACT_GELU), 0, &c), NNLA_OK);
    assert_true(fabs(c - 1.1289) < 1e-4);
    assert_status(nnla_act_lipschitz(nnla_act_default(NNLA_ACT_SILU), 0, &c), NNLA_OK);
    assert_true(fabs(c - 1.0998) < 1e-4);

    /* softmax: 1/2 over C >= 2 channels, attained where two entries share the mass */
    const size_t C = 10;
    double z[10], zp[10], zm[10], J[100];
    nnla_act sm = nnla_act_default(NNLA_ACT_SOFTMAX), lsm = nnla_act_default(NNLA_ACT_LOG_SOFTMAX);
    for (int kind = 0; kind < 2; kind++) {
        nnla_act act = kind ? lsm : sm;
        assert_status(nnla_act_lipschitz(act, C, &c), NNLA_OK);
        assert_true(c == (kind ? sqrt(10.0) * (1 + 8 * EPS) : 0.5));
        /* the worst points: p near (1/2, 1/2, 0, ...) for softmax, near a vertex for log-softmax */
        for (size_t i = 0; i < C; i++) z[i] = kind ? (i == 0 ? 40.0 : 0.0) : (i < 2 ? 0.0 : -40.0);
        for (size_t j = 0; j < C; j++) {
            const double h = 1e-5;
            memcpy(zp, z, sizeof z);
            memcpy(zm, z, sizeof z);
            zp[j] += h;
            zm[j] -= h;
            double yp[10], ym[10];
            assert_status(nnla_act_forward(act, nnla_cmat_view(zp, 1, C, C), nnla_mat_view(yp, 1, C, C)), NNLA_OK);
            assert_status(nnla_act_forward(act, nnla_cmat_view(zm, 1, C, C), nnla_mat_view(ym, 1, C, C)), NNLA_OK);
            for (size_t i = 0; i < C; i++) J[i * C + j] = (yp[i] - ym[i]) / (2 * h);
        }
        double g = svd_max(J, C, C);
        assert_true(g <= c * (1 + 1e-8));
        assert_true(g >= c * (1 - 1e-6));
        /* one channel: the output is constant */
        assert_status(nnla_act_lipschitz(act, 1, &c), NNLA_OK);
        assert_true(c == 0.0);
        assert_status(nnla_act_lipschitz(act, 0, &c), NNLA_EDIM);
    }
    c = 42;
    assert_status(nnla_act_lipschitz((nnla_act){NNLA_ACT_SIGMOID, -1.0}, 1, &c), NNLA_EINVAL);
    assert_status(nnla_act_lipschitz((nnla_act){(nnla_act_kind)99, 0.0}, 1, &c), NNLA_EINVAL);
    assert_true(c == 42);
    assert_status(nnla_act_lipschitz(sm, 3, NULL), NNLA_ENULL);
    free(x);
    free(dv);
}

/* Poolings: average pooling's exact norm against the explicit matrix; max pooling's constant
 * against window counts taken from that matrix, and attained by a pair of inputs. */
static void test_pool_lipschitz(void **state)
{
    (void)state;
    nnla_test_rng rng = {4242};
    size_t tested = 0;
    for (int t = 0; t < 80; t++) {
        nnla_pool2d_desc d = nnla_pool2d_desc_make(t % 2 ? NNLA_POOL_MAX : NNLA_POOL_AVG, nnla_test_int(&rng, 1, 4),
                                                   nnla_test_int(&rng, 1, 3));
        d.stride_h = nnla_test_int(&rng, 1, 3);
        d.stride_w = nnla_test_int(&rng, 1, 3);
        d.pad_top = nnla_test_int(&rng, 0, d.kernel_h - 1);
        d.pad_bottom = nnla_test_int(&rng, 0, d.kernel_h - 1);
        d.pad_left = nnla_test_int(&rng, 0, d.kernel_w - 1);
        d.pad_right = nnla_test_int(&rng, 0, d.kernel_w - 1);
        d.ceil_mode = (int)nnla_test_int(&rng, 0, 1);
        d.count_include_pad = (int)nnla_test_int(&rng, 0, 1);
        size_t H = nnla_test_int(&rng, 2, 9), W = nnla_test_int(&rng, 2, 9), oh, ow;
        if (nnla_pool2d_output_size(&d, H, W, &oh, &ow) != NNLA_OK) continue;
        /* the explicit matrix of average pooling with the same windows */
        nnla_pool2d_desc da = d;
        da.kind = NNLA_POOL_AVG;
        size_t m = oh * ow, n = H * W;
        double *a = xmalloc(m * n), *e = xmalloc(n), *y = xmalloc(m);
        memset(e, 0, n * sizeof *e);
        for (size_t c = 0; c < n; c++) {
            e[c] = 1.0;
            assert_status(nnla_pool2d_forward(&da, 1, 1, H, W, e, y), NNLA_OK);
            e[c] = 0.0;
            for (size_t r = 0; r < m; r++) a[r * n + c] = y[r];
        }
        size_t bytes;
        assert_status(nnla_pool2d_lipschitz_workspace_size(&d, H, W, &bytes), NNLA_OK);
        ws wk = ws_make(bytes, 5);
        double lip = -1;
        assert_status(nnla_pool2d_lipschitz(&d, H, W, &lip, bytes ? wk.p : NULL, wk.n), NNLA_OK);
        if (d.kind == NNLA_POOL_AVG) {
            double exact = svd_max(a, m, n);
            assert_true(fabs(lip - exact) <= 64 * EPS * exact);
        } else {
            assert_true(bytes == 0);
            size_t best = 0, at = 0;
            for (size_t c = 0; c < n; c++) {
                size_t cnt = 0;
                for (size_t r = 0; r < m; r++) cnt += a[r * n + c] != 0.0;
                if (cnt > best) best = cnt, at = c;
            }
            assert_true(lip == sqrt((double)best));
            /* attained: 0 against e_at (every window holding it picks it) */
            double *y0 = xmalloc(m), *y1 = xmalloc(m);
            e[at] = 1.0;
            assert_status(nnla_pool2d_forward(&d, 1, 1, H, W, e, y1), NNLA_OK);
            e[at] = 0.0;
            assert_status(nnla_pool2d_forward(&d, 1, 1, H, W, e, y0), NNLA_OK);
            assert_true(fabs(vdist(y0, y1, m) - lip) <= 4 * EPS * lip);
            /* and never exceeded by random pairs */
            double *x1 = xmalloc(n), *x2 = xmalloc(n);
            for (int p = 0; p < 50; p++) {
                nnla_test_fill(&rng, x1, n, -1, 1);
                nnla_test_fill(&rng, x2, n, -1, 1);
                assert_status(nnla_pool2d_forward(&d, 1, 1, H, W, x1, y0), NNLA_OK);
                assert_status(nnla_pool2d_forward(&d, 1, 1, H, W, x2, y1), NNLA_OK);
                assert_true(vdist(y0, y1, m) <= lip * vdist(x1, x2, n) * (1 + 1e-12));
            }
            free(x1);
            free(x2);
            free(y0);
            free(y1);
        }
        ws_free(&wk);
        free(a);
        free(e);
        free(y);
        tested++;
    }
    assert_true(tested >= 50);
    /* bad input */
    nnla_pool2d_desc d = nnla_pool2d_desc_make(NNLA_POOL_AVG, 2, 2);
    double lip = 42;
    size_t bytes;
    assert_status(nnla_pool2d_lipschitz_workspace_size(&d, 6, 6, &bytes), NNLA_OK);
    ws wk = ws_make(bytes, 0);
    assert_status(nnla_pool2d_lipschitz(NULL, 6, 6, &lip, wk.p, wk.n), NNLA_ENULL);
    assert_status(nnla_pool2d_lipschitz(&d, 6, 6, NULL, wk.p, wk.n), NNLA_ENULL);
    assert_status(nnla_pool2d_lipschitz(&d, 6, 6, &lip, NULL, wk.n), NNLA_ENULL);
    assert_status(nnla_pool2d_lipschitz(&d, 6, 6, &lip, wk.p, wk.n - 1), NNLA_EWORKSPACE);
    assert_status(nnla_pool2d_lipschitz(&d, 1, 6, &lip, wk.p, wk.n), NNLA_ESHAPE);
    assert_status(nnla_pool2d_lipschitz(&d, 6, 6, (double *)wk.p, wk.p, wk.n), NNLA_EALIAS);
    d.pad_top = 2;
    assert_status(nnla_pool2d_lipschitz(&d, 6, 6, &lip, wk.p, wk.n), NNLA_EINVAL);
    assert_true(lip == 42);
    ws_free(&wk);
}

/* ------------------------------------------------------------------ networks: helpers */

/* One sample through the whole network. */
static void forward1(const nnla_net *net, const double *x, double *y)
{
    size_t bytes;
    assert_status(nnla_net_workspace_size(net, 1, &bytes), NNLA_OK);
    void *w = malloc(bytes);
    assert_non_null(w);
    assert_status(nnla_net_forward(net, 1, x, y, w, bytes), NNLA_OK);
    free(w);
}

static size_t in_size_of(const nnla_net *net)
{
    size_t s[3];
    assert_status(nnla_net_input_shape(net, s), NNLA_OK);
    return s[0] * s[1] * s[2];
}

static size_t out_size_of(const nnla_net *net)
{
    size_t s[3];
    assert_status(nnla_net_output_shape(net, s), NNLA_OK);
    return s[0] * s[1] * s[2];
}

/* The end-to-end matrix of an affine network: column i = f(e_i) - f(0). */
static double *net_explicit(const nnla_net *net, size_t *rows, size_t *cols)
{
    size_t n = in_size_of(net), m = out_size_of(net);
    double *a = xmalloc(m * n), *e = xmalloc(n), *y0 = xmalloc(m), *y = xmalloc(m);
    memset(e, 0, n * sizeof *e);
    forward1(net, e, y0);
    for (size_t c = 0; c < n; c++) {
        e[c] = 1.0;
        forward1(net, e, y);
        e[c] = 0.0;
        for (size_t r = 0; r < m; r++) a[r * n + c] = y[r] - y0[r];
    }
    free(e);
    free(y0);
    free(y);
    *rows = m;
    *cols = n;
    return a;
}

typedef struct lip_out {
    nnla_status st;
    double bound;
    double *nodes;
    nnla_lipschitz_info info;
} lip_out;

static lip_out lipschitz(const nnla_net *net, const nnla_net_spectral_opts *o)
{
    size_t bytes, n = nnla_net_num_layers(net);
    assert_status(nnla_net_lipschitz_workspace_size(net, o, &bytes), NNLA_OK);
    ws wk = ws_make(bytes, 7);
    lip_out r;
    r.nodes = xmalloc(n);
    r.bound = -1;
    r.st = nnla_net_lipschitz(net, o, &r.bound, r.nodes, &r.info, wk.p, wk.n);
    ws_free(&wk);
    return r;
}

/* Random values for a network's parameters (weights N(0, 1/fan), biases, BatchNorm statistics). */
static void randomize(nnla_net *net, nnla_test_rng *rng)
{
    size_t n = nnla_net_num_layers(net);
    for (size_t i = 0; i < n; i++) {
        nnla_layer_kind k;
        assert_status(nnla_net_layer_kind(net, i, &k), NNLA_OK);
        nnla_tensor t;
        if (k == NNLA_LAYER_DENSE || k == NNLA_LAYER_CONV2D) {
            assert_status(nnla_net_param(net, i, NNLA_PARAM_WEIGHT, &t), NNLA_OK);
            double sd = 1.0 / sqrt((double)(t.size / t.shape[0]));
            for (size_t j = 0; j < t.size; j++) t.data[j] = 1.5 * sd * nnla_test_normal(rng);
            if (nnla_net_param(net, i, NNLA_PARAM_BIAS, &t) == NNLA_OK)
                for (size_t j = 0; j < t.size; j++) t.data[j] = nnla_test_uniform(rng, -0.5, 0.5);
        } else if (k == NNLA_LAYER_BATCHNORM) {
            for (int w = 0; w < 4; w++) {
                assert_status(nnla_net_param(net, i, (nnla_param_kind)w, &t), NNLA_OK);
                for (size_t j = 0; j < t.size; j++)
                    t.data[j] = w == 0 ? nnla_test_uniform(rng, -2, 2) : w == 3 ? nnla_test_uniform(rng, 0.2, 3)
                                                                        : nnla_test_uniform(rng, -1, 1);
            }
        }
    }
}

/* A convolution layer appended with zero weights (randomize() fills them). */
static void add_conv(nnla_net *net, size_t in, size_t out, size_t k, size_t pt, size_t pb, size_t pl, size_t pr,
                     size_t stride, size_t groups, nnla_act_kind act, int bias)
{
    nnla_conv2d_desc d = nnla_conv2d_desc_make(in, out, k, k);
    d.pad_top = pt;
    d.pad_bottom = pb;
    d.pad_left = pl;
    d.pad_right = pr;
    d.stride_h = d.stride_w = stride;
    d.groups = groups;
    size_t nw = out * (in / groups) * k * k;
    double *w = calloc(nw, sizeof *w), *b = calloc(out, sizeof *b);
    assert_status(nnla_net_add_conv2d(net, &d, w, bias ? b : NULL, nnla_act_default(act)), NNLA_OK);
    free(w);
    free(b);
}

static void add_dense(nnla_net *net, size_t in, size_t out, nnla_act_kind act, int bias)
{
    double *w = calloc(in * out, sizeof *w), *b = calloc(out, sizeof *b);
    assert_status(nnla_net_add_dense(net, nnla_cmat_view(w, out, in, in), bias ? b : NULL, nnla_act_default(act)),
                  NNLA_OK);
    free(w);
    free(b);
}

static void add_bn(nnla_net *net, size_t c)
{
    assert_status(nnla_net_add_batchnorm(net, c, NULL, NULL, NULL, NULL, 1e-5), NNLA_OK);
}

/* A network of linear layers of every kind, with a residual sum; input (2, 6, 6), output 5. */
static nnla_net *linear_cnn(nnla_test_rng *rng)
{
    nnla_net *net;
    assert_status(nnla_net_create(2, 6, 6, &net), NNLA_OK);
    add_conv(net, 2, 3, 3, 1, 0, 2, 1, 1, 1, NNLA_ACT_IDENTITY, 1); /* (3, 5, 7) */
    add_bn(net, 3);
    nnla_pool2d_desc p = nnla_pool2d_desc_make(NNLA_POOL_AVG, 2, 2);
    p.stride_h = p.stride_w = 1;
    assert_status(nnla_net_add_pool2d(net, &p), NNLA_OK);                /* 2: (3, 4, 6) */
    add_conv(net, 3, 3, 3, 1, 1, 1, 1, 1, 1, NNLA_ACT_IDENTITY, 0);      /* 3 */
    assert_status(nnla_net_add_residual(net, 2), NNLA_OK);               /* 4: 3 + 2 */
    add_conv(net, 3, 6, 2, 0, 0, 0, 0, 2, 3, NNLA_ACT_IDENTITY, 1);      /* 5: (6, 2, 3), 3 groups */
    assert_status(nnla_net_add_dropout(net, 0.3), NNLA_OK);
    assert_status(nnla_net_add_flatten(net), NNLA_OK);                   /* 36 */
    add_dense(net, 36, 5, NNLA_ACT_IDENTITY, 1);
    assert_status(nnla_net_add_act(net, nnla_act_default(NNLA_ACT_IDENTITY)), NNLA_OK);
    randomize(net, rng);
    return net;
}

/* ------------------------------------------------------------------ networks: Lipschitz bound */

static void test_lipschitz_linear_exact(void **state)
{
    (void)state;
    nnla_test_rng rng = {9001};
    for (int which = 0; which < 3; which++) {
        nnla_net *net;
        if (which == 0) {
            assert_status(nnla_net_create(6, 1, 1, &net), NNLA_OK);
            add_dense(net, 6, 5, NNLA_ACT_IDENTITY, 1);
            add_dense(net, 5, 7, NNLA_ACT_IDENTITY, 0);
            add_dense(net, 7, 3, NNLA_ACT_IDENTITY, 1);
            randomize(net, &rng);
        } else if (which == 1) {
            net = linear_cnn(&rng);
        } else {
            assert_status(nnla_net_create(3, 5, 4, &net), NNLA_OK);
            add_conv(net, 3, 4, 3, 1, 1, 1, 1, 1, 1, NNLA_ACT_IDENTITY, 1);
            assert_status(nnla_net_add_global_avgpool(net), NNLA_OK);
            add_bn(net, 4);
            add_dense(net, 4, 2, NNLA_ACT_IDENTITY, 1);
            randomize(net, &rng);
        }
        size_t m, n;
        double *a = net_explicit(net, &m, &n);
        double exact = svd_max(a, m, n);
        /* explicit (the default for maps up to 256 x 256): exact to rounding */
        lip_out r = lipschitz(net, NULL);
        assert_status(r.st, NNLA_OK);
        assert_true(fabs(r.bound - exact) <= 1e-12 * exact);
        assert_true(r.info.maps == 1 && r.info.maps_explicit == 1 && r.info.iterations == 0);
        size_t nl = nnla_net_num_layers(net);
        assert_true(r.nodes[nl - 1] == r.bound);
        for (size_t i = 0; i + 1 < nl; i++) assert_true(isnan(r.nodes[i])); /* only the end was needed */
        /* by power iteration: sigma (1 + r), an upper bound within the tolerance */
        nnla_net_spectral_opts o = nnla_net_spectral_opts_default();
        o.explicit_max_dim = 0;
        o.power.tol = 1e-10;
        lip_out p = lipschitz(net, &o);
        assert_status(p.st, NNLA_OK);
        assert_true(p.bound >= exact * (1 - 1e-13));
        assert_true(p.bound <= exact * (1 + 1e-10));
        assert_true(p.info.maps == 1 && p.info.maps_explicit == 0 && p.info.max_residual <= 1e-11);
        /* layer by layer: never smaller, and larger here */
        nnla_net_spectral_opts o0 = nnla_net_spectral_opts_default();
        o0.compose = 0;
        lip_out q = lipschitz(net, &o0);
        assert_status(q.st, NNLA_OK);
        assert_true(q.bound >= r.bound * (1 + 1e-3));
        for (size_t i = 0; i < nl; i++) assert_true(isfinite(q.nodes[i]) && q.nodes[i] > 0);
        free(r.nodes);
        free(p.nodes);
        free(q.nodes);
        free(a);
        nnla_net_free(net);
    }
}

/* The largest singular value of the Jacobian at x by central differences, and sampled pair gains. */
static double max_gain(const nnla_net *net, nnla_test_rng *rng, int points, int pairs, double scale)
{
    size_t n = in_size_of(net), m = out_size_of(net);
    double *x = xmalloc(n), *xp = xmalloc(n), *yp = xmalloc(m), *ym = xmalloc(m), *J = xmalloc(m * n);
    double best = 0.0;
    for (int t = 0; t < points; t++) {
        nnla_test_fill(rng, x, n, -scale, scale);
        for (size_t c = 0; c < n; c++) {
            const double h = 1e-6;
            memcpy(xp, x, n * sizeof *x);
            xp[c] += h;
            forward1(net, xp, yp);
            xp[c] -= 2 * h;
            forward1(net, xp, ym);
            for (size_t r = 0; r < m; r++) J[r * n + c] = (yp[r] - ym[r]) / (2 * h);
        }
        best = fmax(best, svd_max(J, m, n));
    }
    for (int t = 0; t < pairs; t++) {
        nnla_test_fill(rng, x, n, -scale, scale);
        nnla_test_fill(rng, xp, n, -scale, scale);
        if (t % 2) /* near pairs too */
            for (size_t c = 0; c < n; c++) xp[c] = x[c] + 1e-3 * (xp[c] - x[c]);
        forward1(net, x, yp);
        forward1(net, xp, ym);
        best = fmax(best, vdist(yp, ym, m) / vdist(x, xp, n));
    }
    free(x);
    free(xp);
    free(yp);
    free(ym);
    free(J);
    return best;
}

/* A ReLU MLP: the bound is the product of the layers' norms times softmax's 1/2. */
static void test_lipschitz_mlp(void **state)
{
    (void)state;
    nnla_test_rng rng = {31337};
    for (int t = 0; t < 3; t++) {
        nnla_net *net;
        assert_status(nnla_net_create(12, 1, 1, &net), NNLA_OK);
        add_dense(net, 12, 16, NNLA_ACT_RELU, 1);
        add_dense(net, 16, 16, NNLA_ACT_IDENTITY, 1);
        assert_status(nnla_net_add_act(net, (nnla_act){NNLA_ACT_LEAKY_RELU, 0.2}), NNLA_OK);
        add_dense(net, 16, 10, NNLA_ACT_TANH, 1);
        add_dense(net, 10, 4, NNLA_ACT_IDENTITY, 1);
        assert_status(nnla_net_add_act(net, nnla_act_default(NNLA_ACT_SOFTMAX)), NNLA_OK);
        randomize(net, &rng);
        double ref = 0.5;
        static const size_t dense_layers[] = {0, 1, 3, 4};
        for (size_t i = 0; i < 4; i++) {
            nnla_layer_spec s;
            assert_status(nnla_net_layer_spec(net, dense_layers[i], &s), NNLA_OK);
            double *w = xmalloc(s.weight.rows * s.weight.cols);
            for (size_t r = 0; r < s.weight.rows; r++)
                memcpy(w + r * s.weight.cols, s.weight.data + r * s.weight.ld, s.weight.cols * sizeof *w);
            ref *= svd_max(w, s.weight.rows, s.weight.cols);
            free(w);
        }
        lip_out r = lipschitz(net, NULL);
        assert_status(r.st, NNLA_OK);
        assert_true(fabs(r.bound - ref) <= 1e-12 * ref);
        assert_true(r.info.maps == 4 && r.info.maps_explicit == 4);
        double g = max_gain(net, &rng, 5, 200, 2.0);
        assert_true(g <= r.bound);
        assert_true(g > 0.0);
        free(r.nodes);
        nnla_net_free(net);
    }
}

/* A matrix Y = X with rows scaled: rows of block c (size plane) times s[c]. */
static void scale_rows(double *a, size_t cols, size_t channels, size_t plane, const double *s)
{
    for (size_t c = 0; c < channels; c++)
        for (size_t p = 0; p < plane; p++)
            for (size_t j = 0; j < cols; j++) a[(c * plane + p) * cols + j] *= s[c];
}

/* A CNN with max pooling, BatchNorm, a linear residual block, GELU, global pooling and log-softmax:
 * the bound against the product the documentation states, from explicit matrices built here. */
static void test_lipschitz_cnn(void **state)
{
    (void)state;
    nnla_test_rng rng = {2718};
    nnla_net *net;
    assert_status(nnla_net_create(2, 8, 8, &net), NNLA_OK);
    add_conv(net, 2, 4, 3, 1, 1, 1, 1, 1, 1, NNLA_ACT_RELU, 1); /* 0: (4, 8, 8) */
    nnla_pool2d_desc p = nnla_pool2d_desc_make(NNLA_POOL_MAX, 2, 2);
    p.stride_h = p.stride_w = 1;
    assert_status(nnla_net_add_pool2d(net, &p), NNLA_OK);        /* 1: (4, 7, 7), overlapping: sqrt(4) */
    add_conv(net, 4, 4, 3, 1, 1, 1, 1, 1, 1, NNLA_ACT_IDENTITY, 1); /* 2 */
    add_bn(net, 4);                                                /* 3 */
    assert_status(nnla_net_add_residual(net, 1), NNLA_OK);         /* 4: 3 + 1 */
    assert_status(nnla_net_add_act(net, nnla_act_default(NNLA_ACT_RELU)), NNLA_OK); /* 5 */
    add_conv(net, 4, 3, 3, 0, 1, 0, 1, 2, 1, NNLA_ACT_GELU, 1);   /* 6: (3, 3, 3) */
    assert_status(nnla_net_add_global_avgpool(net), NNLA_OK);      /* 7 */
    assert_status(nnla_net_add_flatten(net), NNLA_OK);             /* 8 */
    add_dense(net, 3, 5, NNLA_ACT_IDENTITY, 1);                    /* 9 */
    assert_status(nnla_net_add_act(net, nnla_act_default(NNLA_ACT_LOG_SOFTMAX)), NNLA_OK); /* 10 */
    randomize(net, &rng);

    nnla_layer_spec s0, s2, s3, s6, s9;
    assert_status(nnla_net_layer_spec(net, 0, &s0), NNLA_OK);
    assert_status(nnla_net_layer_spec(net, 2, &s2), NNLA_OK);
    assert_status(nnla_net_layer_spec(net, 3, &s3), NNLA_OK);
    assert_status(nnla_net_layer_spec(net, 6, &s6), NNLA_OK);
    assert_status(nnla_net_layer_spec(net, 9, &s9), NNLA_OK);
    size_t m, n;
    double *k0 = conv_explicit(&s0.conv, 8, 8, s0.weight.data, &m, &n);
    double l0 = svd_max(k0, m, n);
    double *k2 = conv_explicit(&s2.conv, 7, 7, s2.weight.data, &m, &n); /* 196 x 196 */
    double bs[4];
    for (int c = 0; c < 4; c++) bs[c] = s3.gamma[c] / sqrt(s3.running_var[c] + s3.eps);
    scale_rows(k2, n, 4, 49, bs);
    for (size_t i = 0; i < n; i++) k2[i * n + i] += 1.0; /* BN(K2 x) + x */
    double l4 = svd_max(k2, m, n);
    double *k6 = conv_explicit(&s6.conv, 7, 7, s6.weight.data, &m, &n);
    double l6 = svd_max(k6, m, n);
    double wg[5 * 27];
    for (size_t i = 0; i < 5; i++)
        for (size_t j = 0; j < 27; j++) wg[i * 27 + j] = s9.weight.data[i * s9.weight.ld + j / 9] / 9.0;
    double l9 = svd_max(wg, 5, 27), gelu;
    assert_status(nnla_act_lipschitz(nnla_act_default(NNLA_ACT_GELU), 0, &gelu), NNLA_OK);
    double ref = sqrt(5.0) * (1 + 8 * EPS) * l9 * gelu * l6 * l4 * 2.0 * l0;

    lip_out r = lipschitz(net, NULL);
    assert_status(r.st, NNLA_OK);
    assert_true(fabs(r.bound - ref) <= 1e-12 * ref);
    /* the nodes computed: every nonlinear one and the linear ones they read; the others NaN */
    assert_true(fabs(r.nodes[0] - l0) <= 1e-12 * l0);
    assert_true(fabs(r.nodes[1] - 2 * l0) <= 1e-12 * l0);
    assert_true(fabs(r.nodes[4] - 2 * l0 * l4) <= 1e-12 * l0 * l4);
    assert_true(r.nodes[5] == r.nodes[4]);
    assert_true(isnan(r.nodes[2]) && isnan(r.nodes[3]) && isnan(r.nodes[7]) && isnan(r.nodes[8]));
    assert_true(r.info.maps == 4); /* K0; BN K2 + I; K6; W9 G */
    /* power iteration for the maps above 64: the same to the tolerance, still above */
    nnla_net_spectral_opts o = nnla_net_spectral_opts_default();
    o.explicit_max_dim = 64;
    o.power.tol = 1e-10;
    lip_out q = lipschitz(net, &o);
    assert_status(q.st, NNLA_OK);
    assert_true(q.info.maps_explicit == 1 && q.info.iterations > 0);
    assert_true(q.bound >= ref * (1 - 1e-13) && q.bound <= ref * (1 + 1e-9));
    /* never below the sampled gains */
    double g = max_gain(net, &rng, 3, 200, 1.0);
    assert_true(g > 0 && g <= r.bound);
    free(k0);
    free(k2);
    free(k6);
    free(r.nodes);
    free(q.nodes);
    nnla_net_free(net);
}

/* Branches: the sum of two nonlinear branches is bounded by L(a) + L(b); add(x, x) by 2 L(x);
 * random CNNs with residual blocks are never below their sampled gains. */
static void test_lipschitz_branches(void **state)
{
    (void)state;
    nnla_test_rng rng = {5150};
    nnla_net *net;
    /* 1: tanh(W1 x + b1), reading the input */
    nnla_layer_spec sp = nnla_layer_dense(nnla_cmat_view(NULL, 0, 0, 0), NULL, nnla_act_default(NNLA_ACT_TANH));
    double w6[36] = {0}, b6[6] = {0};
    sp.weight = nnla_cmat_view(w6, 6, 6, 6);
    sp.bias = b6;
    sp.src = NNLA_NET_INPUT;
    assert_status(nnla_net_create(6, 1, 1, &net), NNLA_OK);
    add_dense(net, 6, 6, NNLA_ACT_RELU, 1);
    assert_status(nnla_net_append(net, &sp), NNLA_OK);
    nnla_layer_spec add = nnla_layer_add(0, 1);
    assert_status(nnla_net_append(net, &add), NNLA_OK);            /* 2: a + b */
    nnla_layer_spec add2 = nnla_layer_add(2, 2);
    assert_status(nnla_net_append(net, &add2), NNLA_OK);           /* 3: 2 (a + b) */
    randomize(net, &rng);
    nnla_layer_spec s0, s1;
    assert_status(nnla_net_layer_spec(net, 0, &s0), NNLA_OK);
    assert_status(nnla_net_layer_spec(net, 1, &s1), NNLA_OK);
    double a0 = svd_max(s0.weight.data, 6, 6), a1 = svd_max(s1.weight.data, 6, 6);
    lip_out r = lipschitz(net, NULL);
    assert_status(r.st, NNLA_OK);
    assert_true(fabs(r.bound - 2 * (a0 + a1)) <= 1e-12 * r.bound);
    assert_true(fabs(r.nodes[0] - a0) <= 1e-12 * a0 && fabs(r.nodes[1] - a1) <= 1e-12 * a1);
    assert_true(isnan(r.nodes[2]));
    assert_true(max_gain(net, &rng, 4, 100, 2.0) <= r.bound);
    free(r.nodes);
    nnla_net_free(net);

    /* random small residual CNNs */
    for (int t = 0; t < 4; t++) {
        assert_status(nnla_net_create(2, 6, 6, &net), NNLA_OK);
        add_conv(net, 2, 3, 3, 1, 1, 1, 1, 1, 1, t % 2 ? NNLA_ACT_ELU : NNLA_ACT_RELU, 1); /* 0 */
        add_conv(net, 3, 3, 3, 1, 1, 1, 1, 1, 1, NNLA_ACT_IDENTITY, 1);                    /* 1 */
        add_bn(net, 3);                                                                     /* 2 */
        assert_status(nnla_net_add_act(net, nnla_act_default(NNLA_ACT_SILU)), NNLA_OK);     /* 3 */
        assert_status(nnla_net_add_residual(net, 0), NNLA_OK);                              /* 4 */
        nnla_pool2d_desc p = nnla_pool2d_desc_make(t % 2 ? NNLA_POOL_AVG : NNLA_POOL_MAX, 3, 3);
        p.stride_h = p.stride_w = 2;
        p.pad_top = p.pad_left = 1;
        assert_status(nnla_net_add_pool2d(net, &p), NNLA_OK); /* 5: (3, 3, 3) */
        assert_status(nnla_net_add_flatten(net), NNLA_OK);
        add_dense(net, 27, 4, NNLA_ACT_SIGMOID, 1);
        randomize(net, &rng);
        lip_out q = lipschitz(net, NULL);
        assert_status(q.st, NNLA_OK);
        nnla_net_spectral_opts o0 = nnla_net_spectral_opts_default();
        o0.compose = 0;
        lip_out q0 = lipschitz(net, &o0);
        assert_status(q0.st, NNLA_OK);
        assert_true(q.bound <= q0.bound * (1 + 1e-12));
        double g = max_gain(net, &rng, 3, 200, 1.5);
        assert_true(g > 0 && g <= q.bound);
        free(q.nodes);
        free(q0.nodes);
        nnla_net_free(net);
    }
}

static void test_lipschitz_bad_input(void **state)
{
    (void)state;
    nnla_test_rng rng = {1};
    nnla_net *net = linear_cnn(&rng), *empty;
    assert_status(nnla_net_create(2, 2, 2, &empty), NNLA_OK);
    size_t bytes = 5, n = nnla_net_num_layers(net);
    nnla_net_spectral_opts o = nnla_net_spectral_opts_default(), bad;
    assert_status(nnla_net_lipschitz_workspace_size(NULL, &o, &bytes), NNLA_ENULL);
    assert_status(nnla_net_lipschitz_workspace_size(net, &o, NULL), NNLA_ENULL);
    assert_status(nnla_net_lipschitz_workspace_size(empty, &o, &bytes), NNLA_EDIM);
    assert_true(bytes == 5);
    assert_status(nnla_net_lipschitz_workspace_size(net, &o, &bytes), NNLA_OK);
    ws wk = ws_make(bytes, 0);
    double bound = 42, nodes[16], nodes0[16];
    for (int i = 0; i < 16; i++) nodes[i] = -7;
    memcpy(nodes0, nodes, sizeof nodes);
    nnla_lipschitz_info info = {1, 2, 3, 4.0}, info0 = info;
#define LIP_BAD(call, st)                                                                          \
    do {                                                                                           \
        assert_status(call, st);                                                                   \
        assert_true(bound == 42);                                                                  \
        assert_memory_equal(nodes, nodes0, sizeof nodes);                                          \
        assert_memory_equal(&info, &info0, sizeof info);                                           \
    } while (0)
    LIP_BAD(nnla_net_lipschitz(NULL, &o, &bound, nodes, &info, wk.p, wk.n), NNLA_ENULL);
    LIP_BAD(nnla_net_lipschitz(net, &o, NULL, nodes, &info, wk.p, wk.n), NNLA_ENULL);
    LIP_BAD(nnla_net_lipschitz(net, &o, &bound, nodes, &info, NULL, wk.n), NNLA_ENULL);
    LIP_BAD(nnla_net_lipschitz(empty, &o, &bound, nodes, &info, wk.p, wk.n), NNLA_EDIM);
    LIP_BAD(nnla_net_lipschitz(net, &o, &bound, nodes, &info, wk.p, wk.n - 1), NNLA_EWORKSPACE);
    bad = o;
    bad.power.tol = -1e-6;
    LIP_BAD(nnla_net_lipschitz(net, &bad, &bound, nodes, &info, wk.p, wk.n), NNLA_EINVAL);
    bad = o;
    bad.power.max_iter = 0;
    LIP_BAD(nnla_net_lipschitz(net, &bad, &bound, nodes, &info, wk.p, wk.n), NNLA_EINVAL);
    bad = o;
    bad.compose = 2;
    LIP_BAD(nnla_net_lipschitz(net, &bad, &bound, nodes, &info, wk.p, wk.n), NNLA_EINVAL);
    bad = o;
    bad.rank_tol = NAN;
    LIP_BAD(nnla_net_lipschitz(net, &bad, &bound, nodes, &info, wk.p, wk.n), NNLA_EINVAL);
    LIP_BAD(nnla_net_lipschitz(net, &o, (double *)wk.p, nodes, &info, wk.p, wk.n), NNLA_EALIAS);
    LIP_BAD(nnla_net_lipschitz(net, &o, &bound, nodes, (nnla_lipschitz_info *)(void *)&nodes[n - 1], wk.p, wk.n),
            NNLA_EALIAS);
    /* a non-finite weight written through a view */
    nnla_tensor t;
    assert_status(nnla_net_param(net, 3, NNLA_PARAM_WEIGHT, &t), NNLA_OK);
    double keep = t.data[4];
    t.data[4] = NAN;
    LIP_BAD(nnla_net_lipschitz(net, &o, &bound, nodes, &info, wk.p, wk.n), NNLA_ENONFINITE);
    t.data[4] = keep;
    assert_status(nnla_net_param(net, 1, NNLA_PARAM_RUNNING_VAR, &t), NNLA_OK);
    t.data[0] = -1.0;
    LIP_BAD(nnla_net_lipschitz(net, &o, &bound, nodes, &info, wk.p, wk.n), NNLA_ENONFINITE);
    t.data[0] = 1.0;
    /* the iteration cap: ENOCONV, outputs untouched */
    bad = o;
    bad.explicit_max_dim = 0;
    bad.power.tol = 1e-14;
    bad.power.max_iter = 2;
    assert_status(nnla_net_lipschitz_workspace_size(net, &bad, &bytes), NNLA_OK);
    ws w2 = ws_make(bytes, 0);
    LIP_BAD(nnla_net_lipschitz(net, &bad, &bound, nodes, &info, w2.p, w2.n), NNLA_ENOCONV);
    ws_free(&w2);
    assert_status(nnla_net_lipschitz(net, &o, &bound, nodes, NULL, wk.p, wk.n), NNLA_OK);
    assert_true(bound > 0);
#undef LIP_BAD
    ws_free(&wk);
    nnla_net_free(net);
    nnla_net_free(empty);
}

/* ------------------------------------------------------------------ networks: diagnostics */

static void test_diagnose(void **state)
{
    (void)state;
    nnla_test_rng rng = {8080};
    nnla_net *net;
    assert_status(nnla_net_create(2, 8, 8, &net), NNLA_OK);
    add_conv(net, 2, 4, 3, 1, 1, 1, 1, 1, 1, NNLA_ACT_RELU, 1); /* 0 */
    nnla_pool2d_desc p = nnla_pool2d_desc_make(NNLA_POOL_MAX, 2, 2);
    assert_status(nnla_net_add_pool2d(net, &p), NNLA_OK);        /* 1: (4, 4, 4) */
    add_conv(net, 4, 6, 3, 0, 1, 1, 0, 2, 2, NNLA_ACT_IDENTITY, 0); /* 2: (6, 2, 2), 2 groups, stride 2 */
    add_bn(net, 6);                                                /* 3 */
    nnla_pool2d_desc pa = nnla_pool2d_desc_make(NNLA_POOL_AVG, 2, 2);
    pa.stride_h = pa.stride_w = 1;
    pa.pad_top = pa.pad_left = 1;
    pa.count_include_pad = 0;
    assert_status(nnla_net_add_pool2d(net, &pa), NNLA_OK);       /* 4: (6, 2, 2) */
    assert_status(nnla_net_add_global_avgpool(net), NNLA_OK);     /* 5 */
    assert_status(nnla_net_add_flatten(net), NNLA_OK);            /* 6 */
    add_dense(net, 6, 3, NNLA_ACT_SIGMOID, 1);                    /* 7 */
    assert_status(nnla_net_add_dropout(net, 0.1), NNLA_OK);       /* 8 */
    assert_status(nnla_net_add_residual(net, 7), NNLA_OK);        /* 9: 8 + 7 */
    assert_status(nnla_net_add_act(net, nnla_act_default(NNLA_ACT_LOG_SOFTMAX)), NNLA_OK); /* 10 */
    randomize(net, &rng);
    size_t n = nnla_net_num_layers(net), bytes, count;
    for (int route = 0; route < 2; route++) {
        nnla_net_spectral_opts o = nnla_net_spectral_opts_default();
        if (route) {
            o.explicit_max_dim = 0;
            o.power.tol = 1e-10;
            o.rank_tol = 0.5;
        }
        assert_status(nnla_net_diagnose_workspace_size(net, &o, &bytes, &count), NNLA_OK);
        assert_true(count == 4 + 6 + 3); /* min(4, 18), min(6, 18), min(3, 6) */
        ws wk = ws_make(bytes, 9);
        nnla_layer_diag tab[11];
        double *spec = xmalloc(count);
        assert_status(nnla_net_diagnose(net, &o, tab, n, spec, count, wk.p, wk.n), NNLA_OK);
        for (size_t i = 0; i < n; i++) {
            size_t in[3], out[3];
            nnla_layer_kind k;
            assert_status(nnla_net_layer_shape(net, i, in, out), NNLA_OK);
            assert_status(nnla_net_layer_kind(net, i, &k), NNLA_OK);
            assert_true(tab[i].kind == k);
            assert_memory_equal(tab[i].in_shape, in, sizeof in);
            assert_memory_equal(tab[i].out_shape, out, sizeof out);
            nnla_layer_spec s;
            assert_status(nnla_net_layer_spec(net, i, &s), NNLA_OK);
            if (k == NNLA_LAYER_DENSE || k == NNLA_LAYER_CONV2D) {
                /* the weight's figures: those of nnla_spectral_diagnose on the same view */
                size_t b;
                assert_status(nnla_spectral_diagnose_workspace_size(s.weight.rows, s.weight.cols, &b), NNLA_OK);
                ws w2 = ws_make(b, 0);
                nnla_spectral_diag d;
                double sv[6];
                assert_status(nnla_spectral_diagnose(s.weight, o.rank_tol, &d, sv, w2.p, w2.n), NNLA_OK);
                ws_free(&w2);
                assert_true(tab[i].has_weight == 1);
                assert_memory_equal(&tab[i].weight, &d, sizeof d);
                assert_memory_equal(spec + tab[i].spectrum_offset, sv, d.k * sizeof(double));
                double act;
                assert_status(nnla_act_lipschitz(s.act, out[0], &act), NNLA_OK);
                assert_true(tab[i].act_lipschitz == act);
                if (k == NNLA_LAYER_DENSE) {
                    assert_true(tab[i].op_norm == d.sigma_max && tab[i].op_norm_method == NNLA_OPNORM_SVD);
                    assert_true(tab[i].lipschitz == d.sigma_max * act);
                } else {
                    size_t m, c;
                    double *a = conv_explicit(&s.conv, in[1], in[2], s.weight.data, &m, &c);
                    double exact = svd_max(a, m, c);
                    free(a);
                    if (route == 0) {
                        assert_true(tab[i].op_norm_method == NNLA_OPNORM_SVD);
                        assert_true(fabs(tab[i].op_norm - exact) <= 1e-13 * exact);
                    } else {
                        assert_true(tab[i].op_norm_method == NNLA_OPNORM_POWER);
                        assert_true(tab[i].op_norm_info.converged == 1);
                        assert_true(fabs(tab[i].op_norm - exact) <= 1e-9 * exact);
                        assert_true(tab[i].op_norm <= exact * (1 + 1e-13));
                        /* the bound is the estimate raised by its residual */
                        assert_true(tab[i].op_norm_info.residual > 0.0);
                        assert_true(tab[i].lipschitz ==
                                    tab[i].op_norm * (1.0 + tab[i].op_norm_info.residual) * act);
                    }
                    assert_true(tab[i].lipschitz >= exact * act * (1 - 1e-13));
                    assert_true(tab[i].lipschitz <= exact * act * (1 + 1e-9));
                }
            } else {
                assert_true(tab[i].has_weight == 0);
            }
        }
        /* the closed forms and constants of the other layers */
        assert_true(tab[1].lipschitz == 1.0 && isnan(tab[1].op_norm)); /* 2 x 2, stride 2: no overlap */
        nnla_layer_spec s3;
        assert_status(nnla_net_layer_spec(net, 3, &s3), NNLA_OK);
        double bn = 0;
        for (int c = 0; c < 6; c++) bn = fmax(bn, fabs(s3.gamma[c]) / sqrt(s3.running_var[c] + s3.eps));
        assert_true(tab[3].op_norm == bn && tab[3].lipschitz == bn && tab[3].op_norm_method == NNLA_OPNORM_CLOSED_FORM);
        size_t pb;
        assert_status(nnla_pool2d_lipschitz_workspace_size(&pa, 2, 2, &pb), NNLA_OK);
        ws w3 = ws_make(pb, 0);
        double pl;
        assert_status(nnla_pool2d_lipschitz(&pa, 2, 2, &pl, w3.p, w3.n), NNLA_OK);
        ws_free(&w3);
        assert_true(tab[4].op_norm == pl && tab[4].op_norm_method == NNLA_OPNORM_SVD);
        assert_true(tab[5].op_norm == 0.5 && tab[5].lipschitz == 0.5); /* 1 / sqrt(2 * 2) */
        assert_true(tab[6].op_norm == 1.0 && tab[8].op_norm == 1.0);
        assert_true(tab[9].lipschitz == 1.0 && isnan(tab[9].op_norm) && tab[9].op_norm_method == NNLA_OPNORM_NONE);
        assert_true(tab[10].act_lipschitz == sqrt(3.0) * (1 + 8 * EPS) && tab[10].lipschitz == tab[10].act_lipschitz);
        assert_true(tab[7].act_lipschitz == 0.25);
        free(spec);
        ws_free(&wk);
    }
    /* bad input: untouched outputs */
    assert_status(nnla_net_diagnose_workspace_size(net, NULL, &bytes, NULL), NNLA_OK);
    ws wk = ws_make(bytes, 0);
    nnla_layer_diag tab[11], tab0[11];
    double spec[13], spec0[13];
    memset(tab, 0x5a, sizeof tab);
    memcpy(tab0, tab, sizeof tab);
    for (int i = 0; i < 13; i++) spec[i] = -3;
    memcpy(spec0, spec, sizeof spec);
#define DIAG_BAD(call, st)                                                                         \
    do {                                                                                           \
        assert_status(call, st);                                                                   \
        assert_memory_equal(tab, tab0, sizeof tab);                                                \
        assert_memory_equal(spec, spec0, sizeof spec);                                             \
    } while (0)
    DIAG_BAD(nnla_net_diagnose(net, NULL, tab, 10, spec, 13, wk.p, wk.n), NNLA_ESHAPE);
    DIAG_BAD(nnla_net_diagnose(net, NULL, tab, 11, spec, 12, wk.p, wk.n), NNLA_ESHAPE);
    DIAG_BAD(nnla_net_diagnose(net, NULL, NULL, 11, spec, 13, wk.p, wk.n), NNLA_ENULL);
    DIAG_BAD(nnla_net_diagnose(NULL, NULL, tab, 11, spec, 13, wk.p, wk.n), NNLA_ENULL);
    DIAG_BAD(nnla_net_diagnose(net, NULL, tab, 11, spec, 13, wk.p, wk.n - 1), NNLA_EWORKSPACE);
    DIAG_BAD(nnla_net_diagnose(net, NULL, tab, 11, (double *)wk.p, 13, wk.p, wk.n), NNLA_EALIAS);
    DIAG_BAD(nnla_net_diagnose(net, NULL, tab, 11, (double *)(void *)&tab[3], 13, wk.p, wk.n), NNLA_EALIAS);
    nnla_net_spectral_opts bad = nnla_net_spectral_opts_default();
    bad.rank_tol = INFINITY;
    DIAG_BAD(nnla_net_diagnose(net, &bad, tab, 11, spec, 13, wk.p, wk.n), NNLA_EINVAL);
    nnla_tensor t;
    assert_status(nnla_net_param(net, 7, NNLA_PARAM_WEIGHT, &t), NNLA_OK);
    t.data[2] = INFINITY;
    DIAG_BAD(nnla_net_diagnose(net, NULL, tab, 11, spec, 13, wk.p, wk.n), NNLA_ENONFINITE);
    t.data[2] = 0.5;
    /* without a spectrum */
    assert_status(nnla_net_diagnose(net, NULL, tab, 11, NULL, 0, wk.p, wk.n), NNLA_OK);
    assert_true(tab[0].has_weight && tab[0].weight.sigma_max > 0);
#undef DIAG_BAD
    ws_free(&wk);
    nnla_net_free(net);
}

/* ------------------------------------------------------------------ networks: normalization in place */

static double weight_norm(nnla_net *net, size_t i)
{
    nnla_mat w;
    assert_status(nnla_net_weight_matrix(net, i, &w), NNLA_OK);
    double *c = xmalloc(w.rows * w.cols);
    for (size_t r = 0; r < w.rows; r++) memcpy(c + r * w.cols, w.data + r * w.ld, w.cols * sizeof *c);
    double s = svd_max(c, w.rows, w.cols);
    free(c);
    return s;
}

static void test_net_normalize_clip(void **state)
{
    (void)state;
    nnla_test_rng rng = {606};
    nnla_net *net;
    assert_status(nnla_net_create(1, 16, 16, &net), NNLA_OK);
    double ones[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    nnla_conv2d_desc d = nnla_conv2d_desc_make(1, 1, 3, 3);
    d.pad_top = d.pad_bottom = d.pad_left = d.pad_right = 1;
    assert_status(nnla_net_add_conv2d(net, &d, ones, NULL, nnla_act_default(NNLA_ACT_RELU)), NNLA_OK); /* 0 */
    assert_status(nnla_net_add_flatten(net), NNLA_OK);
    add_dense(net, 256, 20, NNLA_ACT_TANH, 1); /* 2 */
    add_dense(net, 20, 7, NNLA_ACT_IDENTITY, 1); /* 3 */
    nnla_tensor t;
    for (size_t i = 2; i <= 3; i++) {
        assert_status(nnla_net_param(net, i, NNLA_PARAM_WEIGHT, &t), NNLA_OK);
        for (size_t j = 0; j < t.size; j++) t.data[j] = nnla_test_normal(&rng);
    }
    nnla_mat w;
    assert_status(nnla_net_weight_matrix(net, 0, &w), NNLA_OK);
    assert_true(w.rows == 1 && w.cols == 9);
    assert_status(nnla_net_weight_matrix(net, 2, &w), NNLA_OK);
    assert_true(w.rows == 20 && w.cols == 256);
    size_t bytes;
    assert_status(nnla_net_spectral_workspace_size(net, &bytes), NNLA_OK);
    ws wk = ws_make(bytes, 1);
    /* exact normalization: ||W|| = 1 */
    double sigma;
    for (size_t i = 0; i <= 3; i += (i == 0 ? 2 : 1)) {
        double before = weight_norm(net, i);
        assert_status(nnla_net_spectral_normalize(net, i, NNLA_NORM_EXACT, NULL, &sigma, NULL, NULL, NULL, wk.p, wk.n),
                      NNLA_OK);
        assert_true(fabs(sigma - before) <= 1e-13 * before);
        assert_true(fabs(weight_norm(net, i) - 1.0) <= 1e-13);
    }
    /* what it does not bound: the convolution's operator norm on its input is still near 3 */
    nnla_tensor cw;
    assert_status(nnla_net_param(net, 0, NNLA_PARAM_WEIGHT, &cw), NNLA_OK);
    for (int i = 0; i < 9; i++) assert_true(fabs(cw.data[i] - 1.0 / 3.0) <= 2 * EPS);
    nnla_power_opts po = nnla_power_opts_default();
    po.tol = 1e-9;
    po.max_iter = 100000;
    opnorm_out on = opnorm(&d, cw.data, 16, 16, &po, NULL);
    assert_status(on.st, NNLA_OK);
    double a16 = 1.0 + 2.0 * cos(PI / 17.0);
    assert_true(fabs(on.sigma - a16 * a16 / 3.0) <= 1e-8);
    assert_true(on.sigma > 2.9);
    opnorm_free(&on);

    /* a training loop: perturb, then one warm-started power iteration per step, v kept per layer */
    double u2[20], v2[256], u3[7], v3[20];
    nnla_power_opts one = nnla_power_opts_default();
    one.tol = 0.0;
    one.max_iter = 1;
    for (int step = 0; step < 40; step++) {
        for (size_t i = 2; i <= 3; i++) {
            assert_status(nnla_net_param(net, i, NNLA_PARAM_WEIGHT, &t), NNLA_OK);
            for (size_t j = 0; j < t.size; j++) t.data[j] += 1e-3 * nnla_test_normal(&rng);
        }
        one.warm_start = step > 0;
        nnla_power_info info;
        assert_status(nnla_net_spectral_normalize(net, 2, NNLA_NORM_POWER, &one, &sigma, u2, v2, &info, wk.p, wk.n),
                      NNLA_OK);
        assert_true(info.iterations == 1);
        assert_status(nnla_net_spectral_normalize(net, 3, NNLA_NORM_POWER, &one, &sigma, u3, v3, NULL, wk.p, wk.n),
                      NNLA_OK);
    }
    for (size_t i = 2; i <= 3; i++) {
        double s = weight_norm(net, i);
        assert_true(s >= 1.0 - 1e-12 && s <= 1.0 + 1e-3); /* the estimate never exceeds sigma_max */
    }
    /* clipping: sigma_max <= c, the smaller singular values kept */
    assert_status(nnla_net_param(net, 3, NNLA_PARAM_WEIGHT, &t), NNLA_OK);
    for (size_t j = 0; j < t.size; j++) t.data[j] = nnla_test_normal(&rng);
    double before[7], after[7];
    nnla_mat z = nnla_mat_view(NULL, 0, 0, 0);
    assert_status(nnla_svd_alloc(NNLA_SVD_VALUES, nnla_cmat_view(t.data, 7, 20, 20), before, z, z, NULL), NNLA_OK);
    double c = 0.5 * (before[1] + before[2]);
    size_t clipped;
    assert_status(nnla_net_spectral_clip(net, 3, c, &clipped, wk.p, wk.n), NNLA_OK);
    assert_true(clipped == 2);
    assert_status(nnla_svd_alloc(NNLA_SVD_VALUES, nnla_cmat_view(t.data, 7, 20, 20), after, z, z, NULL), NNLA_OK);
    assert_true(fabs(after[0] - c) <= 1e-13 * c && fabs(after[1] - c) <= 1e-13 * c);
    for (int i = 2; i < 7; i++) assert_true(fabs(after[i] - before[i]) <= 1e-13 * before[0]);
    /* bad input: a layer without weights, out of range; weights untouched */
    double *params, *copy;
    size_t np;
    assert_status(nnla_net_params(net, &params, &np), NNLA_OK);
    copy = xmalloc(np);
    memcpy(copy, params, np * sizeof *params);
    w = nnla_mat_view((double *)1, 9, 9, 9);
    nnla_mat w0 = w;
    assert_status(nnla_net_weight_matrix(net, 1, &w), NNLA_EINVAL);
    assert_status(nnla_net_weight_matrix(net, 4, &w), NNLA_EINVAL);
    assert_status(nnla_net_weight_matrix(NULL, 0, &w), NNLA_ENULL);
    assert_status(nnla_net_weight_matrix(net, 0, NULL), NNLA_ENULL);
    assert_memory_equal(&w, &w0, sizeof w);
    sigma = 42;
    assert_status(nnla_net_spectral_normalize(net, 1, NNLA_NORM_EXACT, NULL, &sigma, NULL, NULL, NULL, wk.p, wk.n),
                  NNLA_EINVAL);
    assert_status(nnla_net_spectral_normalize(net, 2, (nnla_norm_method)5, NULL, &sigma, NULL, NULL, NULL, wk.p, wk.n),
                  NNLA_EINVAL);
    assert_status(nnla_net_spectral_normalize(net, 2, NNLA_NORM_EXACT, NULL, &sigma, NULL, NULL, NULL, wk.p, 10),
                  NNLA_EWORKSPACE);
    assert_status(nnla_net_spectral_clip(net, 1, 1.0, &clipped, wk.p, wk.n), NNLA_EINVAL);
    assert_status(nnla_net_spectral_clip(net, 3, -1.0, &clipped, wk.p, wk.n), NNLA_EINVAL);
    assert_true(sigma == 42);
    assert_memory_equal(params, copy, np * sizeof *params);
    free(copy);
    nnla_net *nw;
    assert_status(nnla_net_create(1, 4, 4, &nw), NNLA_OK);
    assert_status(nnla_net_add_flatten(nw), NNLA_OK);
    bytes = 5;
    assert_status(nnla_net_spectral_workspace_size(nw, &bytes), NNLA_EINVAL);
    assert_true(bytes == 5);
    nnla_net_free(nw);
    ws_free(&wk);
    nnla_net_free(net);
}

/* ------------------------------------------------------------------ networks: initialization */

static nnla_net *init_net(void)
{
    nnla_net *net;
    assert_status(nnla_net_create(3, 8, 8, &net), NNLA_OK);
    add_conv(net, 3, 4, 3, 1, 1, 1, 1, 1, 1, NNLA_ACT_IDENTITY, 1);                  /* 0 -> BN -> relu */
    add_bn(net, 4);                                                                   /* 1 */
    assert_status(nnla_net_add_act(net, nnla_act_default(NNLA_ACT_RELU)), NNLA_OK);  /* 2 */
    add_conv(net, 4, 4, 3, 0, 0, 0, 0, 1, 2, NNLA_ACT_TANH, 0);                       /* 3: (4, 6, 6), groups 2 */
    assert_status(nnla_net_add_flatten(net), NNLA_OK);                                /* 4 */
    add_dense(net, 144, 10, NNLA_ACT_GELU, 1);                                        /* 5 */
    add_dense(net, 10, 10, NNLA_ACT_IDENTITY, 1);                                     /* 6 -> leaky */
    assert_status(nnla_net_add_act(net, (nnla_act){NNLA_ACT_LEAKY_RELU, 0.2}), NNLA_OK); /* 7 */
    add_dense(net, 10, 3, NNLA_ACT_IDENTITY, 1);                                      /* 8 */
    return net;
}

/* Two generators in the same state (the struct's padding aside). */
static int rng_same(const nnla_rng *a, const nnla_rng *b)
{
    return memcmp(a->s, b->s, sizeof a->s) == 0 && a->has_spare == b->has_spare &&
           (!a->has_spare || a->spare == b->spare);
}

static void test_net_init(void **state)
{
    (void)state;
    static const nnla_init_kind kinds[] = {NNLA_INIT_HE_NORMAL, NNLA_INIT_XAVIER_UNIFORM, NNLA_INIT_ORTHOGONAL};
    const double gains[9] = {sqrt(2.0), 0, 0, 5.0 / 3.0, 0, 1.3, sqrt(2.0 / 1.04), 0, 1.0};
    for (int k = 0; k < 3; k++) {
        for (int zero = 0; zero < 2; zero++) {
            nnla_net *net = init_net(), *ref = init_net();
            nnla_net_init_opts o = nnla_net_init_opts_default();
            o.kind = kinds[k];
            o.mode = k == 0 ? NNLA_FAN_OUT : NNLA_FAN_IN;
            o.zero_bias = zero;
            o.default_gain = 1.3; /* GELU: no PyTorch gain */
            size_t bytes;
            assert_status(nnla_net_init_workspace_size(net, o.kind, &bytes), NNLA_OK);
            assert_true(k == 2 ? bytes > 0 : bytes == 0);
            ws wk = ws_make(bytes, 3);
            nnla_rng rng, rr;
            nnla_rng_seed(&rng, 1234);
            nnla_rng_seed(&rr, 1234);
            /* scramble first: every value must be written */
            nnla_test_rng tr = {5};
            randomize(net, &tr);
            assert_status(nnla_net_init(net, &o, &rng, bytes ? wk.p : NULL, wk.n), NNLA_OK);
            /* the same draws, layer by layer, by hand */
            for (size_t i = 0; i < 9; i++) {
                nnla_layer_kind kind;
                assert_status(nnla_net_layer_kind(ref, i, &kind), NNLA_OK);
                nnla_tensor t, b;
                if (kind == NNLA_LAYER_DENSE || kind == NNLA_LAYER_CONV2D) {
                    assert_status(nnla_net_param(ref, i, NNLA_PARAM_WEIGHT, &t), NNLA_OK);
                    assert_status(nnla_init_tensor(o.kind, gains[i], o.mode, t.ndim, t.shape, t.data, &rr,
                                                   bytes ? wk.p : NULL, wk.n),
                                  NNLA_OK);
                    if (nnla_net_param(ref, i, NNLA_PARAM_BIAS, &b) == NNLA_OK) {
                        size_t fi, fo;
                        assert_status(nnla_init_fans(t.ndim, t.shape, &fi, &fo), NNLA_OK);
                        double bound = 1.0 / sqrt((double)fi);
                        if (zero)
                            memset(b.data, 0, b.size * sizeof(double));
                        else
                            assert_status(nnla_rng_fill_uniform(&rr, -bound, bound, b.data, b.size), NNLA_OK);
                    }
                } else if (kind == NNLA_LAYER_BATCHNORM) {
                    static const double fill[4] = {1, 0, 0, 1};
                    for (int wi = 0; wi < 4; wi++) {
                        assert_status(nnla_net_param(ref, i, (nnla_param_kind)wi, &t), NNLA_OK);
                        for (size_t j = 0; j < t.size; j++) t.data[j] = fill[wi];
                    }
                }
            }
            double *p1, *p2, *b1, *b2;
            size_t n1, n2, m1, m2;
            assert_status(nnla_net_params(net, &p1, &n1), NNLA_OK);
            assert_status(nnla_net_params(ref, &p2, &n2), NNLA_OK);
            assert_status(nnla_net_buffers(net, &b1, &m1), NNLA_OK);
            assert_status(nnla_net_buffers(ref, &b2, &m2), NNLA_OK);
            assert_true(n1 == n2 && m1 == m2);
            assert_memory_equal(p1, p2, n1 * sizeof *p1); /* bit for bit */
            assert_memory_equal(b1, b2, m1 * sizeof *b1);
            assert_true(rng_same(&rng, &rr)); /* the same number of draws */
            /* the biases within PyTorch's bound and not all zero (or zero) */
            nnla_tensor b;
            assert_status(nnla_net_param(net, 5, NNLA_PARAM_BIAS, &b), NNLA_OK);
            double mx = 0;
            for (size_t j = 0; j < b.size; j++) mx = fmax(mx, fabs(b.data[j]));
            assert_true(zero ? mx == 0.0 : (mx > 0.0 && mx <= 1.0 / sqrt(144.0)));
            ws_free(&wk);
            nnla_net_free(net);
            nnla_net_free(ref);
        }
    }
    /* the law on a large layer: He normal for ReLU, std sqrt(2 / fan_in) within 5 standard errors */
    nnla_net *big;
    assert_status(nnla_net_create(500, 1, 1, &big), NNLA_OK);
    add_dense(big, 500, 400, NNLA_ACT_RELU, 0);
    nnla_rng rng;
    nnla_rng_seed(&rng, 99);
    nnla_net_init_opts o = nnla_net_init_opts_default();
    o.kind = NNLA_INIT_HE_NORMAL;
    assert_status(nnla_net_init(big, &o, &rng, NULL, 0), NNLA_OK);
    nnla_tensor t;
    assert_status(nnla_net_param(big, 0, NNLA_PARAM_WEIGHT, &t), NNLA_OK);
    double mean = 0, var = 0, want = 2.0 / 500.0;
    for (size_t j = 0; j < t.size; j++) mean += t.data[j];
    mean /= (double)t.size;
    for (size_t j = 0; j < t.size; j++) var += (t.data[j] - mean) * (t.data[j] - mean);
    var /= (double)(t.size - 1);
    assert_true(fabs(mean) <= 5 * sqrt(want / (double)t.size));
    assert_true(fabs(var - want) <= 5 * want * sqrt(2.0 / (double)t.size));
    nnla_net_free(big);

    /* bad input: nothing changes, the generator included */
    nnla_net *net = init_net();
    nnla_test_rng tr = {6};
    randomize(net, &tr);
    double *params, *copy;
    size_t np;
    assert_status(nnla_net_params(net, &params, &np), NNLA_OK);
    copy = xmalloc(np);
    memcpy(copy, params, np * sizeof *params);
    nnla_rng_seed(&rng, 7);
    nnla_rng r0 = rng;
    o = nnla_net_init_opts_default();
    nnla_net_init_opts bad = o;
    bad.kind = (nnla_init_kind)42;
    assert_status(nnla_net_init(net, &bad, &rng, NULL, 0), NNLA_EINVAL);
    bad = o;
    bad.mode = (nnla_fan_mode)3;
    assert_status(nnla_net_init(net, &bad, &rng, NULL, 0), NNLA_EINVAL);
    bad = o;
    bad.default_gain = -1;
    assert_status(nnla_net_init(net, &bad, &rng, NULL, 0), NNLA_EINVAL);
    bad = o;
    bad.zero_bias = 2;
    assert_status(nnla_net_init(net, &bad, &rng, NULL, 0), NNLA_EINVAL);
    bad = o;
    bad.kind = NNLA_INIT_ORTHOGONAL;
    bad.default_gain = 1e308; /* GELU's layer 5 (after two others): a scale whose double overflows */
    size_t ob;
    assert_status(nnla_net_init_workspace_size(net, bad.kind, &ob), NNLA_OK);
    ws wo = ws_make(ob, 0);
    assert_status(nnla_net_init(net, &bad, &rng, wo.p, wo.n), NNLA_EINVAL);
    ws_free(&wo);
    bad = o;
    bad.kind = NNLA_INIT_ORTHOGONAL;
    assert_status(nnla_net_init(net, &bad, &rng, NULL, 0), NNLA_ENULL);
    unsigned char small[16];
    assert_status(nnla_net_init(net, &bad, &rng, small, sizeof small), NNLA_EWORKSPACE);
    assert_status(nnla_net_init(NULL, &o, &rng, NULL, 0), NNLA_ENULL);
    assert_status(nnla_net_init(net, &o, NULL, NULL, 0), NNLA_ENULL);
    assert_status(nnla_net_init(net, &o, (nnla_rng *)(void *)params, NULL, 0), NNLA_EALIAS);
    assert_memory_equal(params, copy, np * sizeof *params);
    assert_true(rng_same(&rng, &r0));
    size_t bytes = 5;
    assert_status(nnla_net_init_workspace_size(net, (nnla_init_kind)42, &bytes), NNLA_EINVAL);
    assert_status(nnla_net_init_workspace_size(NULL, NNLA_INIT_HE_NORMAL, &bytes), NNLA_ENULL);
    assert_true(bytes == 5);
    free(copy);
    nnla_net_free(net);
}

/* ------------------------------------------------------------------ networks: closed-form refit */

/* A feature extractor and a head: conv(relu) -> max pool -> flatten -> dense(tanh) -> dense -> softmax. */
static nnla_net *refit_net(nnla_test_rng *rng)
{
    nnla_net *net;
    assert_status(nnla_net_create(2, 4, 4, &net), NNLA_OK);
    add_conv(net, 2, 3, 3, 1, 1, 1, 1, 1, 1, NNLA_ACT_RELU, 1); /* 0: (3, 4, 4) */
    nnla_pool2d_desc p = nnla_pool2d_desc_make(NNLA_POOL_MAX, 2, 2);
    assert_status(nnla_net_add_pool2d(net, &p), NNLA_OK);        /* 1: (3, 2, 2) */
    assert_status(nnla_net_add_flatten(net), NNLA_OK);           /* 2: 12 */
    add_dense(net, 12, 6, NNLA_ACT_TANH, 1);                     /* 3 */
    add_dense(net, 6, 3, NNLA_ACT_IDENTITY, 1);                  /* 4 */
    assert_status(nnla_net_add_act(net, nnla_act_default(NNLA_ACT_SOFTMAX)), NNLA_OK); /* 5 */
    randomize(net, rng);
    return net;
}

/* The features of layer 3, computed here layer by layer with the module functions. */
static double *refit_features(nnla_net *net, const double *x, size_t n)
{
    nnla_layer_spec s0, s3;
    assert_status(nnla_net_layer_spec(net, 0, &s0), NNLA_OK);
    assert_status(nnla_net_layer_spec(net, 3, &s3), NNLA_OK);
    double *c = xmalloc(n * 48), *pl = xmalloc(n * 12), *f = xmalloc(n * 6);
    size_t bytes;
    assert_status(nnla_conv2d_workspace_size(&s0.conv, n, 4, 4, &bytes), NNLA_OK);
    void *w = malloc(bytes ? bytes : 1);
    assert_status(nnla_conv2d_forward(&s0.conv, n, 4, 4, x, s0.weight.data, s0.bias, s0.act, c, bytes ? w : NULL,
                                      bytes),
                  NNLA_OK);
    nnla_pool2d_desc p = nnla_pool2d_desc_make(NNLA_POOL_MAX, 2, 2);
    assert_status(nnla_pool2d_forward(&p, n, 3, 4, 4, c, pl), NNLA_OK);
    assert_status(nnla_dense_forward(nnla_cmat_view(pl, n, 12, 12), s3.weight, s3.bias, s3.act,
                                     nnla_mat_view(f, n, 6, 6)),
                  NNLA_OK);
    free(w);
    free(c);
    free(pl);
    return f;
}

static void test_net_refit(void **state)
{
    (void)state;
    nnla_test_rng rng = {12345};
    nnla_net *net = refit_net(&rng);
    const size_t n = 300, ld = 35; /* x with ld > cols; two chunks of samples */
    double *x = xmalloc(n * ld), *t = xmalloc(n * 3);
    nnla_test_fill(&rng, x, n * ld, -1, 1);
    nnla_test_fill(&rng, t, n * 3, -1, 1);
    double *xc = xmalloc(n * 32);
    for (size_t i = 0; i < n; i++) memcpy(xc + i * 32, x + i * ld, 32 * sizeof *x);
    double *f = refit_features(net, xc, n);
    nnla_cmat X = nnla_cmat_view(x, n, 32, ld), T = nnla_cmat_view(t, n, 3, 3);
    size_t bytes, rb;
    assert_status(nnla_net_refit_workspace_size(net, NNLA_REFIT_LAST_DENSE, n, &bytes), NNLA_OK);
    assert_status(nnla_ridge_refit_workspace_size(n, 6, 3, &rb), NNLA_OK);
    ws wk = ws_make(bytes, 11), wr = ws_make(rb, 0);
    for (int l = 0; l < 2; l++) {
        double lambda = l ? 0.1 : 0.0, wref[18], bref[3];
        size_t rank = 0, rref = 0;
        assert_status(nnla_ridge_refit(nnla_cmat_view(f, n, 6, 6), T, lambda, nnla_mat_view(wref, 3, 6, 6), bref, &rref,
                                       wr.p, wr.n),
                      NNLA_OK);
        assert_status(nnla_net_refit(net, NNLA_REFIT_LAST_DENSE, X, T, lambda, &rank, wk.p, wk.n), NNLA_OK);
        assert_true(rank == rref && rank == 6);
        nnla_tensor tw, tb;
        assert_status(nnla_net_param(net, 4, NNLA_PARAM_WEIGHT, &tw), NNLA_OK);
        assert_status(nnla_net_param(net, 4, NNLA_PARAM_BIAS, &tb), NNLA_OK);
        /* the features agree to rounding (nnla_net_run against the modules called here) */
        assert_vec_close(tw.data, wref, 18, 1e-10, 1e-12);
        assert_vec_close(tb.data, bref, 3, 1e-10, 1e-12);
    }
    /* layer 3, whose source is the flatten (an alias of the pooling's output) */
    {
        double *pooled = xmalloc(n * 12), *t6 = xmalloc(n * 6), w3[72], b3[6], wr3[72], br3[6];
        nnla_layer_spec s0;
        assert_status(nnla_net_layer_spec(net, 0, &s0), NNLA_OK);
        double *c = xmalloc(n * 48);
        size_t cb;
        assert_status(nnla_conv2d_workspace_size(&s0.conv, n, 4, 4, &cb), NNLA_OK);
        void *cw = malloc(cb ? cb : 1);
        void *cwp = cb ? cw : NULL;
        assert_status(nnla_conv2d_forward(&s0.conv, n, 4, 4, xc, s0.weight.data, s0.bias, s0.act, c, cwp, cb), NNLA_OK);
        nnla_pool2d_desc pd = nnla_pool2d_desc_make(NNLA_POOL_MAX, 2, 2);
        assert_status(nnla_pool2d_forward(&pd, n, 3, 4, 4, c, pooled), NNLA_OK);
        nnla_test_fill(&rng, t6, n * 6, -1, 1);
        size_t b3b, r3b;
        assert_status(nnla_net_refit_workspace_size(net, 3, n, &b3b), NNLA_OK);
        assert_status(nnla_ridge_refit_workspace_size(n, 12, 6, &r3b), NNLA_OK);
        ws k3 = ws_make(b3b, 0), q3 = ws_make(r3b, 0);
        assert_status(nnla_ridge_refit(nnla_cmat_view(pooled, n, 12, 12), nnla_cmat_view(t6, n, 6, 6), 0.5,
                                       nnla_mat_view(wr3, 6, 12, 12), br3, NULL, q3.p, q3.n),
                      NNLA_OK);
        assert_status(nnla_net_refit(net, 3, X, nnla_cmat_view(t6, n, 6, 6), 0.5, NULL, k3.p, k3.n), NNLA_OK);
        assert_status(nnla_net_get_param(net, 3, NNLA_PARAM_WEIGHT, w3, 72), NNLA_OK);
        assert_status(nnla_net_get_param(net, 3, NNLA_PARAM_BIAS, b3, 6), NNLA_OK);
        assert_vec_close(w3, wr3, 72, 1e-10, 1e-12);
        assert_vec_close(b3, br3, 6, 1e-10, 1e-12);
        ws_free(&k3);
        ws_free(&q3);
        free(cw);
        free(c);
        free(pooled);
        free(t6);
        free(f);
        f = refit_features(net, xc, n); /* layer 3 changed: the features of layer 4 too */
    }
    /* a planted relation: the last layer randomized, then restored exactly at lambda = 0 */
    double wstar[18], bstar[3];
    nnla_test_fill(&rng, wstar, 18, -2, 2);
    nnla_test_fill(&rng, bstar, 3, -1, 1);
    for (size_t i = 0; i < n; i++)
        for (size_t o = 0; o < 3; o++) {
            double s = bstar[o];
            for (size_t j = 0; j < 6; j++) s += f[i * 6 + j] * wstar[o * 6 + j];
            t[i * 3 + o] = s;
        }
    double junk[18] = {0};
    nnla_test_fill(&rng, junk, 18, -5, 5);
    assert_status(nnla_net_set_param(net, 4, NNLA_PARAM_WEIGHT, junk, 18), NNLA_OK);
    assert_status(nnla_net_refit(net, 4, X, T, 0.0, NULL, wk.p, wk.n), NNLA_OK);
    nnla_tensor tw, tb;
    assert_status(nnla_net_param(net, 4, NNLA_PARAM_WEIGHT, &tw), NNLA_OK);
    assert_status(nnla_net_param(net, 4, NNLA_PARAM_BIAS, &tb), NNLA_OK);
    assert_vec_close(tw.data, wstar, 18, 1e-9, 1e-9);
    assert_vec_close(tb.data, bstar, 3, 1e-9, 1e-9);
    /* and the network's layer 4 now reproduces the targets */
    size_t cb;
    assert_status(nnla_net_ctx_size(net, n, 0, &cb, NULL), NNLA_OK);
    void *cm = malloc(cb);
    nnla_net_ctx *ctx;
    assert_status(nnla_net_ctx_init(net, n, 0, cm, cb, &ctx), NNLA_OK);
    double *y4 = xmalloc(n * 3);
    assert_status(nnla_net_run(net, ctx, n, 0, 4, xc, y4), NNLA_OK);
    assert_vec_close(y4, t, n * 3, 1e-9, 1e-9);
    free(cm);
    free(y4);

    /* bad input: nothing changes */
    double *params, *copy;
    size_t np, rank = 77;
    assert_status(nnla_net_params(net, &params, &np), NNLA_OK);
    copy = xmalloc(np);
    memcpy(copy, params, np * sizeof *params);
#define REFIT_BAD(call, st)                                                                        \
    do {                                                                                           \
        assert_status(call, st);                                                                   \
        assert_true(rank == 77);                                                                   \
        assert_memory_equal(params, copy, np * sizeof *params);                                   \
    } while (0)
    REFIT_BAD(nnla_net_refit(net, 0, X, T, 0.0, &rank, wk.p, wk.n), NNLA_EINVAL); /* a conv layer */
    REFIT_BAD(nnla_net_refit(net, 9, X, T, 0.0, &rank, wk.p, wk.n), NNLA_EINVAL);
    REFIT_BAD(nnla_net_refit(net, 4, X, T, -1.0, &rank, wk.p, wk.n), NNLA_EINVAL);
    REFIT_BAD(nnla_net_refit(net, 4, X, T, NAN, &rank, wk.p, wk.n), NNLA_EINVAL);
    REFIT_BAD(nnla_net_refit(net, 4, nnla_cmat_view(x, n, 31, ld), T, 0.0, &rank, wk.p, wk.n), NNLA_ESHAPE);
    REFIT_BAD(nnla_net_refit(net, 4, X, nnla_cmat_view(t, n, 2, 3), 0.0, &rank, wk.p, wk.n), NNLA_ESHAPE);
    REFIT_BAD(nnla_net_refit(net, 4, X, nnla_cmat_view(t, n - 1, 3, 3), 0.0, &rank, wk.p, wk.n), NNLA_ESHAPE);
    REFIT_BAD(nnla_net_refit(net, 4, X, T, 0.0, &rank, wk.p, wk.n - 1), NNLA_EWORKSPACE);
    REFIT_BAD(nnla_net_refit(net, 4, X, T, 0.0, &rank, NULL, wk.n), NNLA_ENULL);
    REFIT_BAD(nnla_net_refit(NULL, 4, X, T, 0.0, &rank, wk.p, wk.n), NNLA_ENULL);
    REFIT_BAD(nnla_net_refit(net, 4, X, T, 0.0, (size_t *)wk.p, wk.p, wk.n), NNLA_EALIAS);
    REFIT_BAD(nnla_net_refit(net, 4, nnla_cmat_view(params, 1, 32, 32), nnla_cmat_view(t, 1, 3, 3), 0.0, &rank, wk.p,
                             wk.n),
              NNLA_EALIAS);
    x[40] = NAN;
    REFIT_BAD(nnla_net_refit(net, 4, X, T, 0.0, &rank, wk.p, wk.n), NNLA_ENONFINITE);
    x[40] = 0.5;
    REFIT_BAD(nnla_net_refit(net, 4, nnla_cmat_view(x, n, 32, 31), T, 0.0, &rank, wk.p, wk.n), NNLA_ELD);
    size_t b2 = 5;
    assert_status(nnla_net_refit_workspace_size(net, 1, n, &b2), NNLA_EINVAL);
    assert_status(nnla_net_refit_workspace_size(net, 4, 0, &b2), NNLA_EDIM);
    assert_true(b2 == 5);
#undef REFIT_BAD
    free(copy);
    ws_free(&wk);
    ws_free(&wr);
    nnla_net_free(net);

    /* a dense layer that reads the network's input: F = x itself */
    nnla_net *lin;
    assert_status(nnla_net_create(5, 1, 1, &lin), NNLA_OK);
    add_dense(lin, 5, 2, NNLA_ACT_IDENTITY, 0); /* no bias: nothing centred */
    assert_status(nnla_net_refit_workspace_size(lin, 0, 40, &bytes), NNLA_OK);
    assert_status(nnla_ridge_refit_workspace_size(40, 5, 2, &rb), NNLA_OK);
    ws w1 = ws_make(bytes, 0), w2 = ws_make(rb, 0);
    double wr2[10], wn[10];
    nnla_cmat X5 = nnla_cmat_view(xc, 40, 5, 32), T2 = nnla_cmat_view(t, 40, 2, 3);
    assert_status(nnla_ridge_refit(X5, T2, 0.3, nnla_mat_view(wr2, 2, 5, 5), NULL, NULL, w2.p, w2.n), NNLA_OK);
    assert_status(nnla_net_refit(lin, NNLA_REFIT_LAST_DENSE, X5, T2, 0.3, NULL, w1.p, w1.n), NNLA_OK);
    assert_status(nnla_net_get_param(lin, 0, NNLA_PARAM_WEIGHT, wn, 10), NNLA_OK);
    assert_memory_equal(wn, wr2, sizeof wn); /* the same call on the same data: bit for bit */
    ws_free(&w1);
    ws_free(&w2);
    nnla_net_free(lin);
    nnla_net *nod;
    assert_status(nnla_net_create(1, 2, 2, &nod), NNLA_OK);
    assert_status(nnla_net_add_flatten(nod), NNLA_OK);
    assert_status(nnla_net_refit_workspace_size(nod, NNLA_REFIT_LAST_DENSE, 4, &bytes), NNLA_EINVAL);
    nnla_net_free(nod);
    free(x);
    free(t);
    free(xc);
    free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_opnorm_explicit),
        cmocka_unit_test(test_conv_opnorm_ones),
        cmocka_unit_test(test_conv_opnorm_scaling_warm),
        cmocka_unit_test(test_conv_opnorm_bad_input),
        cmocka_unit_test(test_act_lipschitz),
        cmocka_unit_test(test_pool_lipschitz),
        cmocka_unit_test(test_lipschitz_linear_exact),
        cmocka_unit_test(test_lipschitz_mlp),
        cmocka_unit_test(test_lipschitz_cnn),
        cmocka_unit_test(test_lipschitz_branches),
        cmocka_unit_test(test_lipschitz_bad_input),
        cmocka_unit_test(test_diagnose),
        cmocka_unit_test(test_net_normalize_clip),
        cmocka_unit_test(test_net_init),
        cmocka_unit_test(test_net_refit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
