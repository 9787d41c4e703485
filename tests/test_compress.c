/*
 * compress: low-rank compression of a network's dense and convolution layers, one layer
 * (nnla_net_compress_layer) or all (nnla_net_compress), exact and randomized.
 *
 * References, independent of the code under test:
 *   - outputs of the original network, and of a network whose weights are the explicit product L R
 *     of the factors read back from the compressed network (plain triple loops);
 *   - pre-activations compared with X (W - W_k)^T written as a loop, W_k from a separate
 *     nnla_lowrank call; a convolution's change compared with a direct convolution (written here)
 *     by the kernel W - W_k;
 *   - the errors ||W - L R||_F (a loop) and ||W - L R||_2 (nnla_svd of the difference) against the
 *     reports; the ranks against rules evaluated here on nnla_svd's values;
 *   - bad input: the parameter block, the layer count and the reports compared byte for byte.
 * Tolerances (eps = DBL_EPSILON) are stated at each assertion: outputs within C K eps times the
 * sum of |x_j w_ij| over the K terms of the entry (the standard bound of a dot product, C = 8 for
 * two products in a row).
 */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EPS DBL_EPSILON
#define SENTINEL 0x5a

static double *xmalloc(size_t n)
{
    double *p = malloc((n ? n : 1) * sizeof *p);
    assert_non_null(p);
    return p;
}

static void fill_normal(nnla_test_rng *r, double *x, size_t n, double scale)
{
    for (size_t i = 0; i < n; i++) x[i] = scale * nnla_test_normal(r);
}

/* a (m x n) = G1 (m x r0) G2 (r0 x n) + noise G3: numerically close to rank r0, a decaying spectrum. */
static void low_rankish(nnla_test_rng *rng, double *a, size_t m, size_t n, size_t r0, double noise)
{
    double *g1 = xmalloc(m * r0), *g2 = xmalloc(r0 * n);
    fill_normal(rng, g1, m * r0, 1.0);
    for (size_t t = 0; t < r0; t++) /* a spread of scales */
        for (size_t j = 0; j < n; j++) g2[t * n + j] = nnla_test_normal(rng) / (double)(t + 1);
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            double s = 0.0;
            for (size_t t = 0; t < r0; t++) s += g1[i * r0 + t] * g2[t * n + j];
            a[i * n + j] = s + noise * nnla_test_normal(rng);
        }
    free(g1);
    free(g2);
}

static nnla_act act(nnla_act_kind k) { return nnla_act_default(k); }

static void forward(const nnla_net *net, size_t batch, const double *x, double *y)
{
    size_t ws;
    assert_status(nnla_net_workspace_size(net, batch, &ws), NNLA_OK);
    void *work = malloc(ws);
    assert_non_null(work);
    assert_status(nnla_net_forward(net, batch, x, y, work, ws), NNLA_OK);
    free(work);
}

static size_t sample_size(const nnla_net *net, int out)
{
    size_t s[3];
    if (out)
        nnla_net_output_shape(net, s);
    else
        nnla_net_input_shape(net, s);
    return s[0] * s[1] * s[2];
}

/* A copy of the parameter block, for "unchanged" checks. */
typedef struct snapshot {
    double *params;
    size_t count, layers;
} snapshot;

static snapshot snap(nnla_net *net)
{
    snapshot s;
    double *p;
    assert_status(nnla_net_params(net, &p, &s.count), NNLA_OK);
    s.params = xmalloc(s.count);
    memcpy(s.params, p, s.count * sizeof *p);
    s.layers = nnla_net_num_layers(net);
    return s;
}

static void assert_unchanged(nnla_net *net, const snapshot *s)
{
    double *p;
    size_t count;
    assert_status(nnla_net_params(net, &p, &count), NNLA_OK);
    assert_int_equal(count, s->count);
    assert_int_equal(nnla_net_num_layers(net), s->layers);
    assert_memory_equal(p, s->params, count * sizeof *p);
}

/* The largest singular value and all of them, of a row-major m x n matrix. */
static double spectral_norm(const double *a, size_t m, size_t n)
{
    size_t k = m < n ? m : n;
    double *s = xmalloc(k);
    nnla_mat z = nnla_mat_view(NULL, 0, 0, 0);
    assert_status(nnla_svd_alloc(NNLA_SVD_VALUES, nnla_cmat_view(a, m, n, n), s, z, z, NULL), NNLA_OK);
    double r = s[0];
    free(s);
    return r;
}

static void singular_values(const double *a, size_t m, size_t n, double *s)
{
    nnla_mat z = nnla_mat_view(NULL, 0, 0, 0);
    assert_status(nnla_svd_alloc(NNLA_SVD_VALUES, nnla_cmat_view(a, m, n, n), s, z, z, NULL), NNLA_OK);
}

/* p = l (m x k) r (k x n), plain loops. */
static void product(const double *l, const double *r, size_t m, size_t k, size_t n, double *p)
{
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            double s = 0.0;
            for (size_t t = 0; t < k; t++) s += l[i * k + t] * r[t * n + j];
            p[i * n + j] = s;
        }
}

static double fro_diff(const double *a, const double *b, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (a[i] - b[i]) * (a[i] - b[i]);
    return sqrt(s);
}

/* The product L R of the factors a compression left at layers j (R) and j + 1 (L). */
static double *factor_product(nnla_net *net, size_t j, size_t m, size_t k, size_t n)
{
    nnla_tensor r, l;
    assert_status(nnla_net_param(net, j, NNLA_PARAM_WEIGHT, &r), NNLA_OK);
    assert_status(nnla_net_param(net, j + 1, NNLA_PARAM_WEIGHT, &l), NNLA_OK);
    assert_int_equal(r.size, k * n);
    assert_int_equal(l.size, m * k);
    double *p = xmalloc(m * n);
    product(l.data, r.data, m, k, n, p);
    return p;
}

/* ------------------------------------------------------------------ a direct convolution (groups 1) */

static void conv_direct(const nnla_conv2d_desc *d, const double *w, const double *b, const double *x, size_t batch,
                        size_t h, size_t wd, double *y, int absolute)
{
    size_t oh = (h + d->pad_top + d->pad_bottom - d->dilation_h * (d->kernel_h - 1) - 1) / d->stride_h + 1;
    size_t ow = (wd + d->pad_left + d->pad_right - d->dilation_w * (d->kernel_w - 1) - 1) / d->stride_w + 1;
    size_t C = d->in_channels, O = d->out_channels, kh = d->kernel_h, kw = d->kernel_w;
    for (size_t bi = 0; bi < batch; bi++)
        for (size_t o = 0; o < O; o++)
            for (size_t i = 0; i < oh; i++)
                for (size_t j = 0; j < ow; j++) {
                    double s = (b && !absolute) ? b[o] : 0.0;
                    for (size_t c = 0; c < C; c++)
                        for (size_t p = 0; p < kh; p++)
                            for (size_t q = 0; q < kw; q++) {
                                long iy = (long)(i * d->stride_h + p * d->dilation_h) - (long)d->pad_top;
                                long ix = (long)(j * d->stride_w + q * d->dilation_w) - (long)d->pad_left;
                                if (iy < 0 || ix < 0 || iy >= (long)h || ix >= (long)wd) continue;
                                double xv = x[((bi * C + c) * h + (size_t)iy) * wd + (size_t)ix];
                                double wv = w[((o * C + c) * kh + p) * kw + q];
                                s += absolute ? fabs(xv) * fabs(wv) : xv * wv;
                            }
                    y[((bi * O + o) * oh + i) * ow + j] = s;
                }
}

/* ------------------------------------------------------------------ one layer at full rank */

static void test_dense_full_rank(void **state)
{
    (void)state;
    nnla_test_rng rng = {101};
    enum { IN = 9, OUT = 6, B = 7 };
    double w[OUT * IN], b[OUT], x[B * IN], y0[B * OUT], y1[B * OUT], bound[B * OUT];
    fill_normal(&rng, w, OUT * IN, 1.0);
    fill_normal(&rng, b, OUT, 1.0);
    fill_normal(&rng, x, B * IN, 1.0);
    nnla_net *net;
    assert_status(nnla_net_create(IN, 1, 1, &net), NNLA_OK);
    assert_status(nnla_net_add_dense(net, nnla_cmat_view(w, OUT, IN, IN), b, act(NNLA_ACT_TANH)), NNLA_OK);
    forward(net, B, x, y0);
    nnla_compress_report rep;
    assert_status(nnla_net_compress_layer(net, 0, nnla_rank_fixed(OUT), NULL, &rep), NNLA_OK);
    assert_int_equal(nnla_net_num_layers(net), 2);
    assert_int_equal(rep.action, NNLA_COMPRESS_DONE);
    assert_int_equal(rep.rank, OUT);
    assert_int_equal(rep.params_before, OUT * IN + OUT);
    assert_int_equal(rep.params_after, OUT * (OUT + IN) + OUT);
    assert_int_equal(nnla_net_num_params(net), OUT * (OUT + IN) + OUT);
    assert_true(rep.lowrank.exact && rep.lowrank.err_2 == 0.0);
    forward(net, B, x, y1);
    /* |y1 - y0| <= 8 K eps sum_j |x_j| |w_ij| (K = IN + OUT terms in two products; tanh is 1-Lipschitz) */
    for (size_t s = 0; s < B; s++)
        for (size_t i = 0; i < OUT; i++) {
            double a = fabs(b[i]);
            for (size_t j = 0; j < IN; j++) a += fabs(x[s * IN + j] * w[i * IN + j]);
            bound[s * OUT + i] = 8.0 * (IN + OUT) * EPS * a;
            assert_true(fabs(y1[s * OUT + i] - y0[s * OUT + i]) <= bound[s * OUT + i]);
        }
    /* the two layers: R (OUT x IN, no bias, identity), then L (OUT x OUT, the bias, tanh) */
    nnla_layer_spec s0, s1;
    nnla_net_layer_spec(net, 0, &s0);
    nnla_net_layer_spec(net, 1, &s1);
    assert_true(s0.kind == NNLA_LAYER_DENSE && s0.bias == NULL && s0.act.kind == NNLA_ACT_IDENTITY);
    assert_true(s0.weight.rows == OUT && s0.weight.cols == IN);
    assert_true(s1.kind == NNLA_LAYER_DENSE && s1.act.kind == NNLA_ACT_TANH && s1.src == 0);
    assert_memory_equal(s1.bias, b, sizeof b);
    nnla_net_free(net);
}

/* A dense layer inside a residual block: the add reads the second new layer. */
static void test_dense_in_residual_block(void **state)
{
    (void)state;
    nnla_test_rng rng = {102};
    enum { F = 8, B = 5 };
    double wa[F * F], wb[F * F], wc[3 * F], x[B * F], y0[B * 3], y1[B * 3];
    fill_normal(&rng, wa, F * F, 0.5);
    fill_normal(&rng, wb, F * F, 0.5);
    fill_normal(&rng, wc, 3 * F, 0.5);
    fill_normal(&rng, x, B * F, 1.0);
    nnla_net *net;
    assert_status(nnla_net_create(F, 1, 1, &net), NNLA_OK);
    assert_status(nnla_net_add_dense(net, nnla_cmat_view(wa, F, F, F), NULL, act(NNLA_ACT_RELU)), NNLA_OK);
    assert_status(nnla_net_add_dense(net, nnla_cmat_view(wb, F, F, F), NULL, act(NNLA_ACT_IDENTITY)), NNLA_OK);
    assert_status(nnla_net_add_residual(net, 0), NNLA_OK); /* layer 2 = layer 1 + layer 0 */
    assert_status(nnla_net_add_dense(net, nnla_cmat_view(wc, 3, F, F), NULL, act(NNLA_ACT_IDENTITY)), NNLA_OK);
    forward(net, B, x, y0);
    assert_status(nnla_net_compress_layer(net, 1, nnla_rank_energy(1.0), NULL, NULL), NNLA_OK);
    assert_int_equal(nnla_net_num_layers(net), 5);
    nnla_layer_spec add;
    nnla_net_layer_spec(net, 3, &add);
    assert_int_equal(add.kind, NNLA_LAYER_ADD);
    assert_true((add.src == 2 && add.src2 == 0) || (add.src == 0 && add.src2 == 2));
    forward(net, B, x, y1);
    /* ||y1 - y0|| <= 64 F eps ||x|| ||wa|| ||wb|| ||wc|| (Frobenius norms, a loose product bound) */
    double nx = nnla_test_fro(nnla_cmat_view(x, B, F, F)), na = nnla_test_fro(nnla_cmat_view(wa, F, F, F)),
           nb = nnla_test_fro(nnla_cmat_view(wb, F, F, F)), nc = nnla_test_fro(nnla_cmat_view(wc, 3, F, F));
    assert_true(fro_diff(y0, y1, B * 3) <= 64.0 * F * EPS * nx * na * (1.0 + nb) * nc);
    nnla_net_free(net);
}

/* ------------------------------------------------------------------ a dense layer at rank k */

static void test_dense_rank_k_preactivation(void **state)
{
    (void)state;
    nnla_test_rng rng = {103};
    enum { IN = 20, OUT = 12, B = 9, K = 4 };
    double w[OUT * IN], b[OUT], x[B * IN];
    fill_normal(&rng, w, OUT * IN, 1.0);
    fill_normal(&rng, b, OUT, 1.0);
    fill_normal(&rng, x, B * IN, 1.0);
    nnla_net *net, *orig;
    assert_status(nnla_net_create(IN, 1, 1, &net), NNLA_OK);
    assert_status(nnla_net_add_dense(net, nnla_cmat_view(w, OUT, IN, IN), b, act(NNLA_ACT_TANH)), NNLA_OK);
    assert_status(nnla_net_clone(net, &orig), NNLA_OK);
    nnla_compress_report rep;
    assert_status(nnla_net_compress_layer(net, 0, nnla_rank_fixed(K), NULL, &rep), NNLA_OK);
    assert_int_equal(rep.rank, K);
    assert_int_equal(rep.params_after, K * (IN + OUT) + OUT);

    /* pre-activations through KEEP contexts: the original layer 0, the compressed layer 1 */
    double p0[B * OUT], p1[B * OUT];
    nnla_net *nets[2] = {orig, net};
    double *pre[2] = {p0, p1};
    for (int v = 0; v < 2; v++) {
        size_t bytes, last = nnla_net_num_layers(nets[v]) - 1;
        assert_status(nnla_net_ctx_size(nets[v], B, NNLA_CTX_KEEP, &bytes, NULL), NNLA_OK);
        void *mem = malloc(bytes);
        assert_non_null(mem);
        nnla_net_ctx *ctx;
        assert_status(nnla_net_ctx_init(nets[v], B, NNLA_CTX_KEEP, mem, bytes, &ctx), NNLA_OK);
        assert_status(nnla_net_run(nets[v], ctx, B, 0, last, x, NULL), NNLA_OK);
        nnla_tensor t;
        assert_status(nnla_net_ctx_tensor(nets[v], ctx, last, NNLA_CTX_PREACT, &t), NNLA_OK);
        assert_int_equal(t.size, B * OUT);
        memcpy(pre[v], t.data, sizeof p0);
        free(mem);
    }
    /* W_k from an independent nnla_lowrank call; the network's own L R agrees with it */
    double l[OUT * K], r[K * IN], wk[OUT * IN];
    nnla_lowrank_report lr;
    assert_status(nnla_lowrank_alloc(nnla_cmat_view(w, OUT, IN, IN), nnla_rank_fixed(K), NULL,
                                     nnla_mat_view(l, OUT, K, K), nnla_mat_view(r, K, IN, IN),
                                     nnla_mat_view(wk, OUT, IN, IN), &lr),
                  NNLA_OK);
    double *lrp = factor_product(net, 0, OUT, K, IN);
    double s1 = spectral_norm(w, OUT, IN);
    for (size_t i = 0; i < OUT * IN; i++) assert_true(fabs(lrp[i] - wk[i]) <= 8.0 * IN * EPS * s1);
    /* the pre-activation error equals X (W - W_k)^T, entry by entry and in norm */
    double d[B * OUT], dd = 0.0, de = 0.0, nx = nnla_test_fro(nnla_cmat_view(x, B, IN, IN));
    for (size_t s = 0; s < B; s++)
        for (size_t i = 0; i < OUT; i++) {
            double v = 0.0, a = 0.0;
            for (size_t j = 0; j < IN; j++) {
                v += x[s * IN + j] * (w[i * IN + j] - wk[i * IN + j]);
                a += fabs(x[s * IN + j]) * s1;
            }
            d[s * OUT + i] = v;
            double got = p0[s * OUT + i] - p1[s * OUT + i]; /* X W^T - X W_k^T */
            /* rounding of two forward products, of W_k and of the bias: 16 (IN + K) eps (sum |x_j| s_1 + |b|) */
            assert_true(fabs(got - v) <= 16.0 * (IN + K) * EPS * (a + fabs(b[i])));
            dd += got * got;
            de += v * v;
        }
    dd = sqrt(dd);
    de = sqrt(de);
    assert_true(fabs(dd - de) <= 1e-12 * de + 16.0 * (IN + K) * EPS * nx * s1);
    /* and is bounded by ||X||_F s_{k+1} (the report's err_2) */
    assert_true(dd <= nx * rep.lowrank.err_2 * (1.0 + 1e-12));
    (void)d;
    /* the report's errors are those of the factors */
    assert_true(fabs(fro_diff(w, lrp, OUT * IN) - rep.lowrank.err_fro) <= 4.0 * EPS * s1);
    double diff[OUT * IN];
    for (size_t i = 0; i < OUT * IN; i++) diff[i] = w[i] - lrp[i];
    assert_true(fabs(spectral_norm(diff, OUT, IN) - rep.lowrank.err_2) <= 4.0 * IN * EPS * s1);
    assert_true(fabs(rep.lowrank.err_2_rel - rep.lowrank.err_2 / s1) <= 4.0 * EPS);
    free(lrp);
    nnla_net_free(orig);
    nnla_net_free(net);
}

/* ------------------------------------------------------------------ convolutions */

static nnla_conv2d_desc odd_geometry(void)
{
    nnla_conv2d_desc d = nnla_conv2d_desc_make(3, 4, 3, 2);
    d.stride_h = 2;
    d.stride_w = 1;
    d.pad_top = 1;
    d.pad_bottom = 2;
    d.pad_left = 0;
    d.pad_right = 1;
    d.dilation_h = 1;
    d.dilation_w = 2;
    return d;
}

static void test_conv_full_rank(void **state)
{
    (void)state;
    nnla_test_rng rng = {104};
    enum { B = 2, H = 9, W = 8 };
    nnla_conv2d_desc d = odd_geometry();
    size_t kk = 3 * 3 * 2, nw = 4 * kk;
    double *w = xmalloc(nw), b[4], *x = xmalloc(B * 3 * H * W);
    fill_normal(&rng, w, nw, 1.0);
    fill_normal(&rng, b, 4, 1.0);
    fill_normal(&rng, x, B * 3 * H * W, 1.0);
    nnla_net *net;
    assert_status(nnla_net_create(3, H, W, &net), NNLA_OK);
    assert_status(nnla_net_add_conv2d(net, &d, w, b, act(NNLA_ACT_RELU)), NNLA_OK);
    size_t ny = B * sample_size(net, 1);
    double *y0 = xmalloc(ny), *y1 = xmalloc(ny), *mag = xmalloc(ny);
    forward(net, B, x, y0);
    size_t out0[3];
    nnla_net_output_shape(net, out0);
    nnla_compress_report rep;
    assert_status(nnla_net_compress_layer(net, 0, nnla_rank_fixed(4), NULL, &rep), NNLA_OK);
    assert_int_equal(rep.ndim, 4);
    assert_true(rep.shape[0] == 4 && rep.shape[1] == 3 && rep.shape[2] == 3 && rep.shape[3] == 2);
    assert_int_equal(rep.params_after, 4 * (4 + kk) + 4);
    /* the first convolution keeps the geometry with 4 outputs, the second is 1 x 1 */
    nnla_layer_spec s0, s1;
    nnla_net_layer_spec(net, 0, &s0);
    nnla_net_layer_spec(net, 1, &s1);
    nnla_conv2d_desc e = d;
    e.out_channels = 4;
    assert_memory_equal(&s0.conv, &e, sizeof e);
    assert_true(s0.bias == NULL && s0.act.kind == NNLA_ACT_IDENTITY);
    assert_true(s1.conv.kernel_h == 1 && s1.conv.kernel_w == 1 && s1.conv.stride_h == 1 && s1.conv.pad_top == 0);
    assert_true(s1.conv.in_channels == 4 && s1.conv.out_channels == 4 && s1.act.kind == NNLA_ACT_RELU);
    size_t out1[3];
    nnla_net_output_shape(net, out1);
    assert_memory_equal(out0, out1, sizeof out0);
    forward(net, B, x, y1);
    conv_direct(&d, w, b, x, B, H, W, mag, 1);
    for (size_t i = 0; i < ny; i++) /* 8 (K + O) eps sum |x w| + the bias, ReLU 1-Lipschitz */
        assert_true(fabs(y1[i] - y0[i]) <= 8.0 * (kk + 4) * EPS * (mag[i] + 4.0));
    free(w), free(x), free(y0), free(y1), free(mag);
    nnla_net_free(net);
}

/*
 * Rank k: the outputs change by the convolution with kernel W - W_k, and that operator's norm lies
 * between s_{k+1} and sqrt(c) s_{k+1}, c = ceil(kh / sh) ceil(kw / sw) (docs/lowrank.md).
 */
static void test_conv_rank_k(void **state)
{
    (void)state;
    nnla_test_rng rng = {105};
    enum { C = 4, O = 8, KH = 3, KW = 3, H = 7, W = 6, B = 3, K = 3 };
    nnla_conv2d_desc d = nnla_conv2d_desc_make(C, O, KH, KW);
    d.pad_top = d.pad_bottom = d.pad_left = d.pad_right = 1;
    size_t kk = C * KH * KW, nx = (size_t)B * C * H * W, ny = (size_t)B * O * H * W;
    double *w = xmalloc(O * kk), b[O], *x = xmalloc(nx);
    fill_normal(&rng, w, O * kk, 1.0);
    fill_normal(&rng, b, O, 1.0);
    fill_normal(&rng, x, nx, 1.0);
    nnla_net *net;
    assert_status(nnla_net_create(C, H, W, &net), NNLA_OK);
    assert_status(nnla_net_add_conv2d(net, &d, w, b, act(NNLA_ACT_IDENTITY)), NNLA_OK);
    double *y0 = xmalloc(ny), *y1 = xmalloc(ny), *dy = xmalloc(ny), *mag = xmalloc(ny);
    forward(net, B, x, y0);
    nnla_compress_report rep;
    assert_status(nnla_net_compress_layer(net, 0, nnla_rank_fixed(K), NULL, &rep), NNLA_OK);
    assert_int_equal(rep.params_after, K * (O + kk) + O);
    forward(net, B, x, y1);
    double *wk = factor_product(net, 0, O, K, kk), *dw = xmalloc(O * kk);
    for (size_t i = 0; i < O * kk; i++) dw[i] = w[i] - wk[i];
    conv_direct(&d, dw, NULL, x, B, H, W, dy, 0);
    conv_direct(&d, w, NULL, x, B, H, W, mag, 1);
    double *ones = xmalloc(O * kk), *patch = xmalloc(ny);
    for (size_t i = 0; i < O * kk; i++) ones[i] = 1.0;
    conv_direct(&d, ones, NULL, x, B, H, W, patch, 1); /* sum of |x| over each window */
    double s1 = spectral_norm(w, O, kk);
    for (size_t i = 0; i < ny; i++) /* y0 - y1 = conv(x, W - W_k): 16 (K + kk) eps (sum |x w| + s_1 sum |x|) */
        assert_true(fabs((y0[i] - y1[i]) - dy[i]) <= 16.0 * (K + kk) * EPS * (mag[i] + s1 * patch[i]));
    free(ones), free(patch);
    /* the reshaped matrix's errors are the report's */
    assert_true(fabs(fro_diff(w, wk, O * kk) - rep.lowrank.err_fro) <= 4.0 * EPS * s1 * kk);
    double e2 = spectral_norm(dw, O, kk);
    assert_true(fabs(e2 - rep.lowrank.err_2) <= 4.0 * kk * EPS * s1);
    /* the operator: s_{k+1} <= ||conv_{W - W_k}||_2 <= sqrt(9) s_{k+1} on 7 x 6 inputs, padding 1 */
    size_t bytes;
    assert_status(nnla_conv2d_opnorm_workspace_size(&d, H, W, &bytes), NNLA_OK);
    void *work = malloc(bytes);
    assert_non_null(work);
    nnla_power_opts po = nnla_power_opts_default();
    po.tol = 1e-10;
    po.max_iter = 100000;
    double op;
    assert_status(nnla_conv2d_opnorm(&d, dw, H, W, &po, &op, NULL, NULL, NULL, work, bytes), NNLA_OK);
    assert_true(op >= e2 * (1.0 - 1e-8));
    assert_true(op <= 3.0 * e2 * (1.0 + 1e-8));
    free(work), free(w), free(x), free(y0), free(y1), free(dy), free(mag), free(wk), free(dw);
    nnla_net_free(net);
}

/* ------------------------------------------------------------------ whole networks */

/*
 * conv 3->16 3x3 pad 1 ReLU, conv 16->16 3x3 pad 1 groups 2 ReLU, max pool 2, flatten,
 * dense 256->64 ReLU, dense 64->10: weights close to low rank, so rules pick small ranks.
 */
static nnla_net *make_cnn(nnla_test_rng *rng)
{
    nnla_net *net;
    assert_status(nnla_net_create(3, 8, 8, &net), NNLA_OK);
    nnla_conv2d_desc d1 = nnla_conv2d_desc_make(3, 16, 3, 3), d2 = nnla_conv2d_desc_make(16, 16, 3, 3);
    d1.pad_top = d1.pad_bottom = d1.pad_left = d1.pad_right = 1;
    d2.pad_top = d2.pad_bottom = d2.pad_left = d2.pad_right = 1;
    d2.groups = 2;
    double w1[16 * 27], b1[16], w2[16 * 72], b2[16], *w3 = xmalloc(64 * 256), b3[64], w4[10 * 64];
    low_rankish(rng, w1, 16, 27, 4, 1e-3);
    fill_normal(rng, b1, 16, 0.1);
    fill_normal(rng, w2, 16 * 72, 0.2);
    fill_normal(rng, b2, 16, 0.1);
    low_rankish(rng, w3, 64, 256, 6, 1e-3);
    fill_normal(rng, b3, 64, 0.1);
    low_rankish(rng, w4, 10, 64, 3, 1e-3);
    assert_status(nnla_net_add_conv2d(net, &d1, w1, b1, act(NNLA_ACT_RELU)), NNLA_OK);
    assert_status(nnla_net_add_conv2d(net, &d2, w2, b2, act(NNLA_ACT_RELU)), NNLA_OK);
    nnla_pool2d_desc p = nnla_pool2d_desc_make(NNLA_POOL_MAX, 2, 2);
    assert_status(nnla_net_add_pool2d(net, &p), NNLA_OK);
    assert_status(nnla_net_add_flatten(net), NNLA_OK);
    assert_status(nnla_net_add_dense(net, nnla_cmat_view(w3, 64, 256, 256), b3, act(NNLA_ACT_RELU)), NNLA_OK);
    assert_status(nnla_net_add_dense(net, nnla_cmat_view(w4, 10, 64, 64), NULL, act(NNLA_ACT_IDENTITY)), NNLA_OK);
    free(w3);
    return net;
}

/* The energy rule's rank, written here: the smallest k with sum_{i<=k} s_i^2 >= e sum s_i^2. */
static size_t energy_rank(const double *s, size_t r, double e)
{
    double total = 0.0, acc = 0.0;
    for (size_t i = 0; i < r; i++) total += s[i] * s[i];
    for (size_t k = 1; k <= r; k++) {
        acc += s[k - 1] * s[k - 1];
        if (acc >= e * total * (1.0 - 1e-12)) return k;
    }
    return r;
}

/*
 * Check a compressed network against the original: every report against the weights, and the
 * outputs against a clone of the original whose weights are the explicit products L R.
 */
static void check_compressed(nnla_net *orig, nnla_net *net, const nnla_compress_report *rep, size_t count)
{
    nnla_net *ref;
    assert_status(nnla_net_clone(orig, &ref), NNLA_OK);
    size_t saved = 0;
    for (size_t t = 0; t < count; t++) {
        const nnla_compress_report *r = &rep[t];
        nnla_tensor w0;
        assert_status(nnla_net_param(orig, r->layer, NNLA_PARAM_WEIGHT, &w0), NNLA_OK);
        size_t m = r->lowrank.m, n = r->lowrank.n;
        assert_int_equal(m * n, w0.size);
        if (r->action != NNLA_COMPRESS_DONE) {
            assert_int_equal(r->params_after, r->params_before);
            nnla_tensor w1; /* the layer is untouched, at its new index */
            assert_status(nnla_net_param(net, r->new_layer, NNLA_PARAM_WEIGHT, &w1), NNLA_OK);
            assert_int_equal(w1.size, w0.size);
            assert_memory_equal(w1.data, w0.data, w0.size * sizeof(double));
            continue;
        }
        size_t k = r->rank;
        assert_true(k * (m + n) < m * n);
        assert_int_equal(r->params_after, k * (m + n) + (r->has_bias ? m : 0));
        saved += r->params_before - r->params_after;
        double *p = factor_product(net, r->new_layer, m, k, n);
        double s1 = spectral_norm(w0.data, m, n);
        assert_true(fabs(fro_diff(w0.data, p, m * n) - r->lowrank.err_fro) <= 4.0 * n * EPS * s1);
        double *diff = xmalloc(m * n);
        for (size_t i = 0; i < m * n; i++) diff[i] = w0.data[i] - p[i];
        assert_true(fabs(spectral_norm(diff, m, n) - r->lowrank.err_2) <= 4.0 * n * EPS * s1 + 1e-6 * r->lowrank.err_2);
        nnla_tensor wr;
        assert_status(nnla_net_param(ref, r->layer, NNLA_PARAM_WEIGHT, &wr), NNLA_OK);
        memcpy(wr.data, p, m * n * sizeof *p);
        free(diff);
        free(p);
    }
    assert_int_equal(nnla_net_num_params(net), nnla_net_num_params(orig) - saved);
    enum { B = 4 };
    size_t nx = B * sample_size(orig, 0), ny = B * sample_size(orig, 1);
    assert_int_equal(sample_size(net, 1), sample_size(orig, 1));
    nnla_test_rng rng = {77};
    double *x = xmalloc(nx), *y = xmalloc(ny), *yr = xmalloc(ny);
    fill_normal(&rng, x, nx, 1.0);
    forward(net, B, x, y);
    forward(ref, B, x, yr);
    /* the same function up to rounding: 1e-12 of the output's scale */
    double scale = nnla_test_maxabs(nnla_cmat_view(yr, 1, ny, ny));
    for (size_t i = 0; i < ny; i++) assert_true(fabs(y[i] - yr[i]) <= 1e-12 * scale);
    free(x), free(y), free(yr);
    nnla_net_free(ref);
}

static void test_network_energy(void **state)
{
    (void)state;
    nnla_test_rng rng = {106};
    nnla_net *net = make_cnn(&rng), *orig;
    assert_status(nnla_net_clone(net, &orig), NNLA_OK);
    nnla_compress_report rep[6];
    memset(rep, SENTINEL, sizeof rep);
    size_t count = 99;
    assert_status(nnla_net_compress(net, nnla_rank_energy(0.99), NULL, rep, 6, &count), NNLA_OK);
    assert_int_equal(count, 4);
    /* layers 0 (conv, DONE), 1 (grouped conv, skipped), 4 and 5 (dense) */
    static const size_t layer[4] = {0, 1, 4, 5};
    for (size_t t = 0; t < 4; t++) assert_int_equal(rep[t].layer, layer[t]);
    assert_int_equal(rep[1].action, NNLA_COMPRESS_SKIP_GROUPED);
    assert_int_equal(rep[1].rank, 0);
    assert_true(isnan(rep[1].lowrank.err_fro));
    for (size_t t = 0; t < 4; t++) {
        if (t == 1) continue;
        nnla_tensor w;
        assert_status(nnla_net_param(orig, layer[t], NNLA_PARAM_WEIGHT, &w), NNLA_OK);
        size_t m = rep[t].lowrank.m, n = rep[t].lowrank.n, r = m < n ? m : n;
        double *s = xmalloc(r);
        singular_values(w.data, m, n, s);
        assert_int_equal(rep[t].rank, energy_rank(s, r, 0.99));
        assert_true(rep[t].lowrank.exact && rep[t].lowrank.energy >= 0.99 * (1.0 - 1e-12));
        assert_int_equal(rep[t].action, rep[t].rank * (m + n) < m * n ? NNLA_COMPRESS_DONE
                                                                         : NNLA_COMPRESS_SKIP_NO_SAVING);
        free(s);
    }
    assert_int_equal(rep[0].action, NNLA_COMPRESS_DONE);
    assert_int_equal(rep[2].action, NNLA_COMPRESS_DONE);
    /* new indices: conv0 -> 0,1; grouped conv 1 -> 2; dense 4 -> 5,6; dense 5 -> 7 (or 7,8) */
    assert_int_equal(rep[0].new_layer, 0);
    assert_int_equal(rep[1].new_layer, 2);
    assert_int_equal(rep[2].new_layer, 5);
    assert_int_equal(rep[3].new_layer, 7);
    size_t done = 0;
    for (size_t t = 0; t < 4; t++) done += rep[t].action == NNLA_COMPRESS_DONE;
    assert_int_equal(nnla_net_num_layers(net), 6 + done);
    check_compressed(orig, net, rep, count);
    nnla_net_free(orig);
    nnla_net_free(net);
}

static void test_network_fixed_rank_skipping(void **state)
{
    (void)state;
    nnla_test_rng rng = {107};
    nnla_net *net = make_cnn(&rng), *orig;
    assert_status(nnla_net_clone(net, &orig), NNLA_OK);
    /* rank 8: conv0 16 x 27 (8 * 43 < 432), dense 64 x 256 and 10 x 64 (8 * 74 = 592 < 640) */
    nnla_compress_report rep[4];
    size_t count;
    assert_status(nnla_net_compress(net, nnla_rank_fixed(8), NULL, rep, 4, &count), NNLA_OK);
    assert_int_equal(count, 4);
    assert_int_equal(rep[0].action, NNLA_COMPRESS_DONE);
    assert_int_equal(rep[1].action, NNLA_COMPRESS_SKIP_GROUPED);
    assert_int_equal(rep[2].action, NNLA_COMPRESS_DONE);
    assert_int_equal(rep[3].action, NNLA_COMPRESS_DONE);
    check_compressed(orig, net, rep, count);
    nnla_net_free(net);

    /* rank 9: the last layer breaks even at 9 * 74 = 666 >= 640, skipped without an SVD */
    assert_status(nnla_net_clone(orig, &net), NNLA_OK);
    assert_status(nnla_net_compress(net, nnla_rank_fixed(9), NULL, rep, 4, &count), NNLA_OK);
    assert_int_equal(rep[3].action, NNLA_COMPRESS_SKIP_NO_SAVING);
    assert_int_equal(rep[3].rank, 9);
    assert_int_equal(rep[3].lowrank.params_after, 9 * 74);
    assert_true(isnan(rep[3].lowrank.err_2));
    assert_int_equal(rep[0].action, NNLA_COMPRESS_DONE);
    check_compressed(orig, net, rep, count);
    nnla_net_free(net);

    /* rank 20: above min(16, 27) for conv0 and min(10, 64) for the last: only dense 64 x 256 */
    assert_status(nnla_net_clone(orig, &net), NNLA_OK);
    assert_status(nnla_net_compress(net, nnla_rank_fixed(20), NULL, rep, 4, &count), NNLA_OK);
    assert_int_equal(rep[0].action, NNLA_COMPRESS_SKIP_NO_SAVING);
    assert_int_equal(rep[2].action, NNLA_COMPRESS_DONE);
    assert_int_equal(rep[3].action, NNLA_COMPRESS_SKIP_NO_SAVING);
    check_compressed(orig, net, rep, count);
    nnla_net_free(net);

    /* energy 1 keeps every singular value: nothing saves, the network is unchanged */
    assert_status(nnla_net_clone(orig, &net), NNLA_OK);
    snapshot s = snap(net);
    assert_status(nnla_net_compress(net, nnla_rank_energy(1.0), NULL, rep, 4, &count), NNLA_OK);
    for (size_t t = 0; t < 4; t++) assert_int_not_equal(rep[t].action, NNLA_COMPRESS_DONE);
    assert_true(rep[0].lowrank.exact && rep[0].rank == 16 && rep[0].lowrank.err_2 == 0.0);
    assert_unchanged(net, &s);
    free(s.params);
    /* a spectral tolerance of 1 keeps one term everywhere (k is never 0) */
    assert_status(nnla_net_compress(net, nnla_rank_tol_2(1.0), NULL, rep, 4, &count), NNLA_OK);
    for (size_t t = 0; t < 4; t++)
        if (t != 1) assert_true(rep[t].action == NNLA_COMPRESS_DONE && rep[t].rank == 1);
    check_compressed(orig, net, rep, count);
    nnla_net_free(net);

    /* a cap: energy 0.99 at most 2 terms */
    assert_status(nnla_net_clone(orig, &net), NNLA_OK);
    nnla_rank_rule capped = nnla_rank_energy(0.99);
    capped.rank = 2;
    assert_status(nnla_net_compress(net, capped, NULL, NULL, 0, &count), NNLA_OK);
    assert_int_equal(count, 4);
    assert_int_equal(nnla_net_num_layers(net), 9);
    nnla_net_free(net);
    /* a cap above some layers' min(m, n) counts as their min(m, n) */
    assert_status(nnla_net_clone(orig, &net), NNLA_OK);
    capped.rank = 40;
    assert_status(nnla_net_compress(net, capped, NULL, rep, 4, &count), NNLA_OK);
    check_compressed(orig, net, rep, count);
    nnla_net_free(net);
    nnla_net_free(orig);
}

/* The randomized path for large layers, the exact one for small layers; determinism. */
static void test_network_randomized(void **state)
{
    (void)state;
    nnla_test_rng rng = {108};
    enum { IN = 150, HID = 200, OUT = 5 };
    double *w1 = xmalloc(HID * IN), *w2 = xmalloc(OUT * HID);
    low_rankish(&rng, w1, HID, IN, 12, 1e-4);
    fill_normal(&rng, w2, OUT * HID, 1.0);
    nnla_net *net, *net2, *orig;
    assert_status(nnla_net_create(IN, 1, 1, &net), NNLA_OK);
    assert_status(nnla_net_add_dense(net, nnla_cmat_view(w1, HID, IN, IN), NULL, act(NNLA_ACT_RELU)), NNLA_OK);
    assert_status(nnla_net_add_dense(net, nnla_cmat_view(w2, OUT, HID, HID), NULL, act(NNLA_ACT_IDENTITY)), NNLA_OK);
    assert_status(nnla_net_clone(net, &orig), NNLA_OK);
    assert_status(nnla_net_clone(net, &net2), NNLA_OK);
    nnla_compress_opts o = nnla_compress_opts_default();
    o.randomized = 1;
    o.randomized_min_dim = 100;
    nnla_compress_report rep[2], rep2[2];
    size_t count;
    assert_status(nnla_net_compress(net, nnla_rank_fixed(12), &o, rep, 2, &count), NNLA_OK);
    assert_int_equal(rep[0].action, NNLA_COMPRESS_DONE);
    assert_int_equal(rep[0].lowrank.exact, 0); /* randomized: 150 >= 100 */
    assert_int_equal(rep[1].action, NNLA_COMPRESS_SKIP_NO_SAVING); /* 5 x 200 at rank 12 */
    double s[IN];
    singular_values(w1, HID, IN, s);
    /* ||W - W_k||_2 <= 1.1 s_{k+1}; the reported err_2 (the sketch's) is a lower bound */
    double *p = factor_product(net, 0, HID, 12, IN), *diff = xmalloc(HID * IN);
    for (size_t i = 0; i < HID * IN; i++) diff[i] = w1[i] - p[i];
    double e2 = spectral_norm(diff, HID, IN);
    assert_true(e2 <= 1.1 * s[12]);
    assert_true(rep[0].lowrank.err_2 <= e2 * (1.0 + 1e-10));
    assert_true(fabs(fro_diff(w1, p, HID * IN) - rep[0].lowrank.err_fro) <=
                1e-10 * rep[0].lowrank.err_fro + 64 * EPS * s[0]);
    free(p), free(diff);
    /* the same seed gives the same network, bit for bit */
    assert_status(nnla_net_compress(net2, nnla_rank_fixed(12), &o, rep2, 2, &count), NNLA_OK);
    snapshot a = snap(net), b = snap(net2);
    assert_int_equal(a.count, b.count);
    assert_memory_equal(a.params, b.params, a.count * sizeof(double));
    free(a.params), free(b.params);
    nnla_net_free(net2);

    /* an energy rule the largest saving rank cannot meet (the Gaussian 5 x 200 layer is exact
       here; make the big one Gaussian too): kb = floor((200 * 150 - 1) / 350) = 85 */
    fill_normal(&rng, w1, HID * IN, 1.0);
    nnla_net_free(net);
    assert_status(nnla_net_create(IN, 1, 1, &net), NNLA_OK);
    assert_status(nnla_net_add_dense(net, nnla_cmat_view(w1, HID, IN, IN), NULL, act(NNLA_ACT_RELU)), NNLA_OK);
    snapshot sn = snap(net);
    assert_status(nnla_net_compress(net, nnla_rank_energy(0.999), &o, rep, 2, &count), NNLA_OK);
    assert_int_equal(count, 1);
    assert_int_equal(rep[0].action, NNLA_COMPRESS_SKIP_NO_SAVING);
    assert_int_equal(rep[0].rank, 85);
    assert_int_equal(rep[0].lowrank.rule_met, 0);
    assert_unchanged(net, &sn);
    free(sn.params);
    /* with a cap of the caller's below kb, the cap binds and the layer is compressed */
    nnla_rank_rule capped = nnla_rank_energy(0.999);
    capped.rank = 30;
    assert_status(nnla_net_compress(net, capped, &o, rep, 2, &count), NNLA_OK);
    assert_int_equal(rep[0].action, NNLA_COMPRESS_DONE);
    assert_int_equal(rep[0].rank, 30);
    assert_int_equal(rep[0].lowrank.rule_met, 0);
    free(w1), free(w2);
    nnla_net_free(net);
    nnla_net_free(orig);
}

/* ------------------------------------------------------------------ bad input */

static void test_bad_input(void **state)
{
    (void)state;
    nnla_test_rng rng = {109};
    nnla_net *net = make_cnn(&rng);
    snapshot s = snap(net);
    nnla_compress_report rep, reps[4];
    memset(&rep, SENTINEL, sizeof rep);
    memset(reps, SENTINEL, sizeof reps);
    nnla_compress_report rep0 = rep, reps0[4];
    memcpy(reps0, reps, sizeof reps);
    size_t count = 12345;
    nnla_rank_rule bad_kind = nnla_rank_fixed(2);
    bad_kind.kind = (nnla_rank_kind)9;
    nnla_rank_rule big_cap = nnla_rank_energy(0.9);
    big_cap.rank = 17; /* above min(16, 27) */
    nnla_compress_opts o = nnla_compress_opts_default();
    o.randomized = 1;
    o.oversample = 0;
    struct {
        size_t layer;
        nnla_rank_rule rule;
        const nnla_compress_opts *opts;
        nnla_status layer_st, net_st;
    } cases[] = {
        {0, nnla_rank_fixed(0), NULL, NNLA_EDIM, NNLA_EDIM},
        {0, nnla_rank_fixed(17), NULL, NNLA_EDIM, NNLA_OK}, /* k > min(16, 27): the network skips it */
        {0, nnla_rank_energy(0.0), NULL, NNLA_EINVAL, NNLA_EINVAL},
        {0, nnla_rank_energy(1.5), NULL, NNLA_EINVAL, NNLA_EINVAL},
        {0, nnla_rank_energy(NAN), NULL, NNLA_EINVAL, NNLA_EINVAL},
        {0, nnla_rank_energy(-0.5), NULL, NNLA_EINVAL, NNLA_EINVAL},
        {0, nnla_rank_tol_fro(-1e-3), NULL, NNLA_EINVAL, NNLA_EINVAL},
        {0, nnla_rank_tol_2(-1.0), NULL, NNLA_EINVAL, NNLA_EINVAL},
        {0, nnla_rank_tol_fro(INFINITY), NULL, NNLA_EINVAL, NNLA_EINVAL},
        {0, nnla_rank_tol_2(NAN), NULL, NNLA_EINVAL, NNLA_EINVAL},
        {0, bad_kind, NULL, NNLA_EINVAL, NNLA_EINVAL},
        {0, big_cap, NULL, NNLA_EDIM, NNLA_OK},
        {0, nnla_rank_fixed(2), &o, NNLA_EINVAL, NNLA_EINVAL},
        {1, nnla_rank_fixed(2), NULL, NNLA_EUNSUPPORTED, NNLA_OK}, /* grouped */
        {2, nnla_rank_fixed(2), NULL, NNLA_EUNSUPPORTED, NNLA_OK}, /* max pooling */
        {3, nnla_rank_fixed(2), NULL, NNLA_EUNSUPPORTED, NNLA_OK}, /* flatten */
        {6, nnla_rank_fixed(2), NULL, NNLA_EINVAL, NNLA_OK},       /* no such layer */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        assert_status(nnla_net_compress_layer(net, cases[c].layer, cases[c].rule, cases[c].opts, &rep),
                      cases[c].layer_st);
        assert_unchanged(net, &s);
        assert_memory_equal(&rep, &rep0, sizeof rep);
        if (cases[c].net_st != NNLA_OK) {
            assert_status(nnla_net_compress(net, cases[c].rule, cases[c].opts, reps, 4, &count), cases[c].net_st);
            assert_unchanged(net, &s);
            assert_memory_equal(reps, reps0, sizeof reps);
            assert_int_equal(count, 12345);
        }
    }
    assert_status(nnla_net_compress_layer(NULL, 0, nnla_rank_fixed(1), NULL, &rep), NNLA_ENULL);
    assert_status(nnla_net_compress(NULL, nnla_rank_fixed(1), NULL, reps, 4, &count), NNLA_ENULL);
    /* a report array too short */
    assert_status(nnla_net_compress(net, nnla_rank_fixed(2), NULL, reps, 3, &count), NNLA_ESHAPE);
    assert_unchanged(net, &s);
    assert_memory_equal(reps, reps0, sizeof reps);
    assert_int_equal(count, 12345);

    /* NaN in a weight (written through a view, unchecked) or an Inf in a bias, in a layer the
       rule would skip as well as in one it would compress */
    static const struct {
        size_t layer;
        nnla_param_kind which;
        size_t at;
        double v;
    } poison[] = {{0, NNLA_PARAM_WEIGHT, 5, NAN},
                  {4, NNLA_PARAM_BIAS, 63, INFINITY},
                  {5, NNLA_PARAM_WEIGHT, 0, NAN},
                  {1, NNLA_PARAM_WEIGHT, 3, NAN}};
    for (size_t c = 0; c < sizeof poison / sizeof poison[0]; c++) {
        nnla_tensor t;
        assert_status(nnla_net_param(net, poison[c].layer, poison[c].which, &t), NNLA_OK);
        double keep = t.data[poison[c].at];
        t.data[poison[c].at] = poison[c].v;
        snapshot sp = snap(net);
        if (poison[c].layer != 1) { /* a grouped convolution is refused before its values are looked at */
            assert_status(nnla_net_compress_layer(net, poison[c].layer, nnla_rank_fixed(1), NULL, &rep),
                          NNLA_ENONFINITE);
            assert_memory_equal(&rep, &rep0, sizeof rep);
        }
        assert_status(nnla_net_compress(net, nnla_rank_fixed(1), NULL, reps, 4, &count), NNLA_ENONFINITE);
        assert_status(nnla_net_compress(net, nnla_rank_fixed(1000), NULL, reps, 4, &count), NNLA_ENONFINITE);
        /* the comparison of bytes holds with the NaN in place */
        double *p;
        size_t n;
        assert_status(nnla_net_params(net, &p, &n), NNLA_OK);
        assert_int_equal(n, sp.count);
        assert_memory_equal(p, sp.params, n * sizeof *p);
        assert_memory_equal(reps, reps0, sizeof reps);
        assert_int_equal(count, 12345);
        free(sp.params);
        t.data[poison[c].at] = keep;
    }
    assert_unchanged(net, &s);
    /* a network without dense or convolution layers: nothing to do */
    nnla_net *plain;
    assert_status(nnla_net_create(2, 4, 4, &plain), NNLA_OK);
    assert_status(nnla_net_add_flatten(plain), NNLA_OK);
    assert_status(nnla_net_compress(plain, nnla_rank_fixed(1), NULL, NULL, 0, &count), NNLA_OK);
    assert_int_equal(count, 0);
    assert_int_equal(nnla_net_num_layers(plain), 1);
    nnla_net_free(plain);
    free(s.params);
    nnla_net_free(net);
}

/* ------------------------------------------------------------------ ONNX: the smaller model */

#if NNLA_HAVE_ONNX
static unsigned char *save_model(const nnla_net *net, size_t *len)
{
    char msg[256];
    assert_status(nnla_onnx_encoded_size(net, 0, len, msg, sizeof msg), NNLA_OK);
    unsigned char *buf = malloc(*len);
    assert_non_null(buf);
    assert_status(nnla_onnx_save_mem(net, 0, buf, *len, NULL, msg, sizeof msg), NNLA_OK);
    return buf;
}

static void test_onnx_roundtrip(void **state)
{
    (void)state;
    nnla_test_rng rng = {110};
    nnla_net *net = make_cnn(&rng);
    size_t len0, len1;
    unsigned char *m0 = save_model(net, &len0);
    size_t p0 = nnla_net_num_params(net);
    nnla_compress_report rep[4];
    size_t count;
    assert_status(nnla_net_compress(net, nnla_rank_fixed(6), NULL, rep, 4, &count), NNLA_OK);
    size_t p1 = nnla_net_num_params(net);
    assert_true(p1 < p0);
    unsigned char *m1 = save_model(net, &len1);
    /* the file shrinks by the parameters saved (8 bytes each), give or take the node overhead */
    assert_true(len1 < len0);
    assert_true(len0 - len1 <= 8 * (p0 - p1) && len0 - len1 + 1024 >= 8 * (p0 - p1));
    nnla_net *back;
    char msg[256];
    assert_status(nnla_onnx_load_mem(m1, len1, 0, &back, msg, sizeof msg), NNLA_OK);
    assert_int_equal(nnla_net_num_layers(back), nnla_net_num_layers(net));
    snapshot a = snap(net), b = snap(back);
    assert_int_equal(a.count, b.count);
    assert_memory_equal(a.params, b.params, a.count * sizeof(double));
    for (size_t i = 0; i < nnla_net_num_layers(net); i++) {
        nnla_layer_spec s, t;
        nnla_net_layer_spec(net, i, &s);
        nnla_net_layer_spec(back, i, &t);
        assert_int_equal(s.kind, t.kind);
        if (s.kind == NNLA_LAYER_CONV2D) assert_memory_equal(&s.conv, &t.conv, sizeof s.conv);
    }
    enum { B = 3 };
    size_t nx = B * 3 * 8 * 8, ny = B * 10;
    double *x = xmalloc(nx), y[B * 10], z[B * 10];
    fill_normal(&rng, x, nx, 1.0);
    forward(net, B, x, y);
    forward(back, B, x, z);
    assert_memory_equal(y, z, ny * sizeof *y);
    free(x), free(a.params), free(b.params), free(m0), free(m1);
    nnla_net_free(back);
    nnla_net_free(net);
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dense_full_rank),
        cmocka_unit_test(test_dense_in_residual_block),
        cmocka_unit_test(test_dense_rank_k_preactivation),
        cmocka_unit_test(test_conv_full_rank),
        cmocka_unit_test(test_conv_rank_k),
        cmocka_unit_test(test_network_energy),
        cmocka_unit_test(test_network_fixed_rank_skipping),
        cmocka_unit_test(test_network_randomized),
        cmocka_unit_test(test_bad_input),
#if NNLA_HAVE_ONNX
        cmocka_unit_test(test_onnx_roundtrip),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
