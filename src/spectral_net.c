/*
 * Spectral methods on convolutions as maps and on networks: the operator norm of a convolution on
 * an input size, the Lipschitz constants of activations and poolings, a network's diagnostics table
 * and Lipschitz bound, normalization and clipping of a layer in place, the closed-form refit of a
 * dense layer, and the initialization of a whole network. See nnla/spectral.h, nnla/init.h and
 * docs/spectral.md.
 *
 * Only the network's public API is used (layer specs and shapes, parameter views, nnla_net_run).
 *
 * The network's linear maps. Every layer has a linear part: a dense or convolution layer without
 * its bias and activation, average and global average pooling, BatchNorm's scale
 * gamma / sqrt(var + eps) (the shift is dropped), flatten, dropout and the identity as copies, add
 * as a sum. A "map" is the composition of the linear parts of a set of layers S, from one node f
 * (a layer's output, or the network's input) to one node j; its forward product runs the members of
 * S in index order (each reads f's value, a member's buffer, or nothing for a source outside the
 * map), its adjoint runs them backward, adding each member's adjoint into its sources. The adjoint
 * of a convolution is nnla_conv2d_backward_data(), of a pooling nnla_pool2d_backward(), of global
 * average pooling its backward pass, of the others themselves. A map's norm is the SVD of its
 * explicit matrix when it is small, else nnla_power_norm() on its two products.
 *
 * Memory: every network function carves its workspace (sized by its query from the layer shapes
 * alone) into a table of the layers, flags, one buffer per layer output (one sample), and the
 * convolution's, power iteration's and SVD's workspaces. Nothing allocates.
 */
#include <float.h>
#include <math.h>

#include <cblas.h>

#include "internal.h"

/* ------------------------------------------------------------------ shared helpers */

typedef struct span {
    const void *p;
    size_t n;
} span;

static int any_overlap(const span *r, size_t count)
{
    for (size_t i = 0; i < count; i++)
        for (size_t j = i + 1; j < count; j++)
            if (nnla__overlap(r[i].p, r[i].n, r[j].p, r[j].n)) return 1;
    return 0;
}

static int doubles_bytes(size_t n, size_t *bytes) { return nnla__mul(n, sizeof(double), bytes); }

static int ws_doubles(size_t n, size_t *total)
{
    size_t b;
    return doubles_bytes(n, &b) && nnla__ws_piece(b, total);
}

static double *take_doubles(nnla__arena *ar, size_t n) { return nnla__arena_take(ar, n * sizeof(double)); }

static size_t max_size(size_t a, size_t b) { return a > b ? a : b; }

static nnla_status power_opts_check(const nnla_power_opts *o)
{
    if (!isfinite(o->tol) || o->tol < 0.0 || o->max_iter == 0) return NNLA_EINVAL;
    return NNLA_OK;
}

/* The exponent e with max |w_i| in [2^(e-1), 2^e) (0 for a zero array), clamped to +-1000. */
static int scale_exponent(const double *w, size_t n)
{
    double amax = 0.0;
    for (size_t i = 0; i < n; i++)
        if (fabs(w[i]) > amax) amax = fabs(w[i]);
    if (amax == 0.0) return 0;
    int e;
    (void)frexp(amax, &e);
    return e > 1000 ? 1000 : e < -1000 ? -1000 : e;
}

/* ------------------------------------------------------------------ the operator norm of a convolution */

typedef struct conv_plan {
    size_t oh, ow, rows, cols, nw; /* output size; the map's shape; weights */
    size_t cwb, pwb, bytes;        /* convolution workspace, power iteration workspace, total */
} conv_plan;

/* The convolution's workspace for one image, forward and adjoint: the larger of the two. */
static nnla_status conv_ws_bytes(const nnla_conv2d_desc *d, size_t in_h, size_t in_w, size_t *bytes)
{
    size_t f, b;
    NNLA__TRY(nnla_conv2d_workspace_size(d, 1, in_h, in_w, &f));
    NNLA__TRY(nnla_conv2d_backward_data_workspace_size(d, 1, in_h, in_w, &b));
    *bytes = max_size(f, b);
    return NNLA_OK;
}

static nnla_status conv_plan_make(const nnla_conv2d_desc *d, size_t in_h, size_t in_w, conv_plan *p)
{
    NNLA__TRY(nnla_conv2d_output_size(d, in_h, in_w, &p->oh, &p->ow));
    size_t rows, cols, nw;
    if (!nnla__mul(d->out_channels, p->oh, &rows) || !nnla__mul(rows, p->ow, &rows) ||
        !nnla__mul(d->in_channels, in_h, &cols) || !nnla__mul(cols, in_w, &cols) ||
        !nnla__mul(d->out_channels, d->in_channels / d->groups, &nw) || !nnla__mul(nw, d->kernel_h, &nw) ||
        !nnla__mul(nw, d->kernel_w, &nw) || !nnla__fits_int(rows) || !nnla__fits_int(cols))
        return NNLA_EOVERFLOW;
    p->rows = rows;
    p->cols = cols;
    p->nw = nw;
    NNLA__TRY(conv_ws_bytes(d, in_h, in_w, &p->cwb));
    NNLA__TRY(nnla_power_norm_workspace_size(rows, cols, &p->pwb));
    size_t total = 0;
    if (!nnla__ws_piece(p->cwb, &total) || !ws_doubles(max_size(rows, cols), &total) ||
        !nnla__ws_piece(p->pwb, &total))
        return NNLA_EOVERFLOW;
    p->bytes = total;
    return NNLA_OK;
}

nnla_status nnla_conv2d_opnorm_workspace_size(const nnla_conv2d_desc *d, size_t in_h, size_t in_w, size_t *bytes)
{
    if (d == NULL || bytes == NULL) return NNLA_ENULL;
    conv_plan p;
    NNLA__TRY(conv_plan_make(d, in_h, in_w, &p));
    *bytes = p.bytes;
    return NNLA_OK;
}

/* The products of c K: the input is scaled by c = 2^-e (exact) into xs, then convolved. */
typedef struct conv_map {
    const nnla_conv2d_desc *d;
    const double *w;
    size_t in_h, in_w, rows, cols;
    double c;
    double *xs;
    void *cw;
    size_t cwb;
} conv_map;

static nnla_status conv_map_apply(void *ctx, int transpose, const double *x, double *y)
{
    conv_map *m = ctx;
    size_t n = transpose ? m->rows : m->cols;
    for (size_t i = 0; i < n; i++) m->xs[i] = m->c * x[i];
    void *cw = m->cwb ? m->cw : NULL;
    if (!transpose)
        return nnla_conv2d_forward(m->d, 1, m->in_h, m->in_w, m->xs, m->w, NULL, nnla_act_default(NNLA_ACT_IDENTITY),
                                   y, cw, m->cwb);
    return nnla_conv2d_backward_data(m->d, 1, m->in_h, m->in_w, m->xs, m->w, y, cw, m->cwb);
}

nnla_status nnla_conv2d_opnorm(const nnla_conv2d_desc *d, const double *w, size_t in_h, size_t in_w,
                               const nnla_power_opts *opts, double *sigma, double *u, double *v,
                               nnla_power_info *info, void *work, size_t work_size)
{
    if (d == NULL || w == NULL || sigma == NULL || work == NULL) return NNLA_ENULL;
    conv_plan p;
    NNLA__TRY(conv_plan_make(d, in_h, in_w, &p));
    nnla_power_opts o = opts ? *opts : nnla_power_opts_default();
    NNLA__TRY(power_opts_check(&o));
    if (o.warm_start && v == NULL) return NNLA_ENULL;
    span r[4] = {{w, p.nw * sizeof(double)},
                 {work, work_size},
                 {u, u ? p.rows * sizeof(double) : 0},
                 {v, v ? p.cols * sizeof(double) : 0}};
    if (any_overlap(r, 4)) return NNLA_EALIAS;
    if (work_size < p.bytes) return NNLA_EWORKSPACE;
    if (!nnla__all_finite_vec(w, p.nw)) return NNLA_ENONFINITE;

    nnla__arena ar = {(unsigned char *)work, work_size};
    void *cw = nnla__arena_take(&ar, p.cwb);
    double *xs = take_doubles(&ar, max_size(p.rows, p.cols));
    void *pw = nnla__arena_take(&ar, p.pwb);
    if (cw == NULL || xs == NULL || pw == NULL) return NNLA_EWORKSPACE; /* unreachable: size checked */
    int e = scale_exponent(w, p.nw);
    conv_map m = {d, w, in_h, in_w, p.rows, p.cols, ldexp(1.0, -e), xs, cw, p.cwb};
    nnla_linop op = {p.rows, p.cols, conv_map_apply, &m};
    double s = 0.0;
    nnla_power_info in;
    nnla_status st = nnla_power_norm(&op, &o, &s, u, v, &in, pw, p.pwb);
    if (st != NNLA_OK && st != NNLA_ENOCONV) return st;
    s = ldexp(s, e);
    if (!isfinite(s)) return NNLA_EOVERFLOW;
    *sigma = s;
    if (info) *info = in;
    return st;
}

/* ------------------------------------------------------------------ Lipschitz constants */

/* Rounded up by a few ulps: the constants below are upper bounds, not nearest values. */
#define LIP_UP (1.0 + 8.0 * DBL_EPSILON)

/* GELU: f'(x) = Phi(x) + x phi(x) is largest where f'' = phi(x) (2 - x^2) = 0, at x = sqrt 2:
 * Phi(sqrt 2) + sqrt 2 phi(sqrt 2) = (1 + erf(1)) / 2 + 1 / (e sqrt(pi)). f'(-x) = 1 - f'(x), so the
 * smallest value, 1 - 1.1289, is smaller in magnitude. */
static double gelu_lipschitz(void)
{
    const double sqrt_pi = 1.7724538509055160272981674833411;
    return (0.5 * (1.0 + erf(1.0)) + exp(-1.0) / sqrt_pi) * LIP_UP;
}

/* SiLU: f'(x) = s (1 + x (1 - s)), s = sigmoid(x); f'' = s (1 - s) (2 + x (1 - 2 s)) vanishes where
 * x tanh(x / 2) = 2 (x* = 2.3994), found by Newton's method; f'(-x) = 1 - f'(x) as for GELU. */
static double silu_lipschitz(void)
{
    double x = 2.4;
    for (int i = 0; i < 60; i++) {
        double t = tanh(0.5 * x), g = x * t - 2.0, dg = t + 0.5 * x * (1.0 - t * t);
        double dx = g / dg;
        x -= dx;
        if (fabs(dx) <= 4.0 * DBL_EPSILON * x) break;
    }
    double s = 1.0 / (1.0 + exp(-x));
    return s * (1.0 + x * (1.0 - s)) * LIP_UP;
}

nnla_status nnla_act_lipschitz(nnla_act act, size_t channels, double *lip)
{
    if (lip == NULL) return NNLA_ENULL;
    NNLA__TRY(nnla_act_check(act));
    if (nnla_act_is_rowwise(act.kind) && channels == 0) return NNLA_EDIM;
    double c = 1.0;
    switch (act.kind) {
    case NNLA_ACT_SIGMOID: c = act.param / 4.0; break;
    case NNLA_ACT_LEAKY_RELU: c = fabs(act.param) > 1.0 ? fabs(act.param) : 1.0; break;
    case NNLA_ACT_ELU: c = act.param > 1.0 ? act.param : 1.0; break;
    case NNLA_ACT_GELU: c = gelu_lipschitz(); break;
    case NNLA_ACT_SILU: c = silu_lipschitz(); break;
    case NNLA_ACT_SOFTMAX: c = channels == 1 ? 0.0 : 0.5; break;
    case NNLA_ACT_LOG_SOFTMAX: c = channels == 1 ? 0.0 : sqrt((double)channels) * LIP_UP; break;
    default: c = 1.0; break; /* identity, tanh, relu, softplus */
    }
    *lip = c;
    return NNLA_OK;
}

/* The largest number of windows of one axis that contain one input position: window o covers
 * [o s - lo, o s - lo + k) clipped to [0, n), so position i is in the windows o with i + lo - k < o s <= i + lo. */
static size_t axis_max_count(size_t n, size_t k, size_t s, size_t lo, size_t out)
{
    size_t best = 0;
    for (size_t i = 0; i < n; i++) {
        size_t omax = (i + lo) / s;
        if (omax > out - 1) omax = out - 1;
        size_t omin = i + lo + 1 > k ? (i + lo + 1 - k + s - 1) / s : 0;
        size_t c = omax >= omin ? omax - omin + 1 : 0;
        if (c > best) best = c;
    }
    return best;
}

/* The 1-D averaging geometry of one axis of an average pooling. */
static nnla_pool2d_desc axis_desc(const nnla_pool2d_desc *d, int vertical)
{
    nnla_pool2d_desc a = *d;
    if (vertical) {
        a.kernel_w = a.stride_w = 1;
        a.pad_left = a.pad_right = 0;
    } else {
        a.kernel_h = a.stride_h = 1;
        a.pad_top = a.pad_bottom = 0;
    }
    return a;
}

/* Workspace of one axis: A^T (n x out), a unit vector (n), one output (out), the SVD's. */
static nnla_status pool_axis_bytes(size_t n, size_t out, size_t *bytes)
{
    size_t no, sb, total = 0;
    if (!nnla__mul(n, out, &no)) return NNLA_EOVERFLOW;
    NNLA__TRY(nnla_spectral_norm_workspace_size(n, out, &sb));
    if (!ws_doubles(no, &total) || !ws_doubles(n, &total) || !ws_doubles(out, &total) || !nnla__ws_piece(sb, &total))
        return NNLA_EOVERFLOW;
    *bytes = total;
    return NNLA_OK;
}

nnla_status nnla_pool2d_lipschitz_workspace_size(const nnla_pool2d_desc *d, size_t in_h, size_t in_w,
                                                 size_t *bytes)
{
    if (d == NULL || bytes == NULL) return NNLA_ENULL;
    size_t oh, ow;
    NNLA__TRY(nnla_pool2d_output_size(d, in_h, in_w, &oh, &ow));
    if (d->kind == NNLA_POOL_MAX) {
        *bytes = 0;
        return NNLA_OK;
    }
    size_t bh, bw;
    NNLA__TRY(pool_axis_bytes(in_h, oh, &bh));
    NNLA__TRY(pool_axis_bytes(in_w, ow, &bw));
    *bytes = max_size(bh, bw);
    return NNLA_OK;
}

/* ||A|| of one axis's averaging matrix A (out x n): A^T built by pooling the unit vectors of an
 * n x 1 image (or 1 x n) with the axis's geometry, then its largest singular value. */
static nnla_status pool_axis_norm(const nnla_pool2d_desc *d, int vertical, size_t n, size_t out, void *work,
                                  size_t work_size, double *norm)
{
    nnla_pool2d_desc a = axis_desc(d, vertical);
    size_t sb;
    NNLA__TRY(nnla_spectral_norm_workspace_size(n, out, &sb));
    nnla__arena ar = {(unsigned char *)work, work_size};
    double *at = take_doubles(&ar, n * out), *e = take_doubles(&ar, n), *y = take_doubles(&ar, out);
    void *sw = nnla__arena_take(&ar, sb);
    if (at == NULL || e == NULL || y == NULL || sw == NULL) return NNLA_EWORKSPACE; /* unreachable */
    for (size_t i = 0; i < n; i++) e[i] = 0.0;
    for (size_t i = 0; i < n; i++) {
        e[i] = 1.0;
        NNLA__TRY(nnla_pool2d_forward(&a, 1, 1, vertical ? n : 1, vertical ? 1 : n, e, y));
        e[i] = 0.0;
        memcpy(at + i * out, y, out * sizeof(double));
    }
    return nnla_spectral_norm(nnla_cmat_view(at, n, out, out), norm, sw, sb);
}

nnla_status nnla_pool2d_lipschitz(const nnla_pool2d_desc *d, size_t in_h, size_t in_w, double *lip, void *work,
                                  size_t work_size)
{
    if (d == NULL || lip == NULL) return NNLA_ENULL;
    size_t oh, ow, need;
    NNLA__TRY(nnla_pool2d_output_size(d, in_h, in_w, &oh, &ow));
    NNLA__TRY(nnla_pool2d_lipschitz_workspace_size(d, in_h, in_w, &need));
    if (need > 0 && work == NULL) return NNLA_ENULL;
    if (work_size < need) return NNLA_EWORKSPACE;
    if (need > 0 && nnla__overlap(lip, sizeof *lip, work, work_size)) return NNLA_EALIAS;
    if (d->kind == NNLA_POOL_MAX) {
        size_t ch = axis_max_count(in_h, d->kernel_h, d->stride_h, d->pad_top, oh);
        size_t cw = axis_max_count(in_w, d->kernel_w, d->stride_w, d->pad_left, ow);
        *lip = sqrt((double)ch * (double)cw);
        return NNLA_OK;
    }
    double nh, nw;
    NNLA__TRY(pool_axis_norm(d, 1, in_h, oh, work, work_size, &nh));
    NNLA__TRY(pool_axis_norm(d, 0, in_w, ow, work, work_size, &nw));
    *lip = nh * nw;
    return NNLA_OK;
}

/* ------------------------------------------------------------------ networks: the layer table */

nnla_net_spectral_opts nnla_net_spectral_opts_default(void)
{
    nnla_net_spectral_opts o;
    o.power = nnla_power_opts_default();
    o.power.tol = 1e-6;
    o.power.max_iter = 100000;
    o.explicit_max_dim = 256;
    o.rank_tol = NNLA_RANK_TOL_DEFAULT;
    o.compose = 1;
    return o;
}

static nnla_status spectral_opts_check(const nnla_net_spectral_opts *o)
{
    NNLA__TRY(power_opts_check(&o->power));
    if (!isfinite(o->rank_tol) || (o->compose != 0 && o->compose != 1)) return NNLA_EINVAL;
    return NNLA_OK;
}

/* What a node's map is. */
enum { NODE_LIN = 0, NODE_FUSED = 1, NODE_NL = 2 };

/* One layer, as the network functions see it. */
typedef struct lnode {
    nnla_layer_spec s; /* sources resolved */
    size_t in[3], out[3], in_size, out_size;
    int type;    /* NODE_LIN: linear; NODE_FUSED: linear part then a nonlinear activation; NODE_NL */
    double *buf; /* out_size doubles: a value (forward) or a gradient (adjoint) of one sample */
} lnode;

static size_t prod3(const size_t s[3]) { return s[0] * s[1] * s[2]; }

static int node_type(const nnla_layer_spec *s)
{
    switch (s->kind) {
    case NNLA_LAYER_DENSE:
    case NNLA_LAYER_CONV2D: return s->act.kind == NNLA_ACT_IDENTITY ? NODE_LIN : NODE_FUSED;
    case NNLA_LAYER_POOL2D: return s->pool.kind == NNLA_POOL_AVG ? NODE_LIN : NODE_NL;
    case NNLA_LAYER_ACT: return s->act.kind == NNLA_ACT_IDENTITY ? NODE_LIN : NODE_NL;
    default: return NODE_LIN;
    }
}

/* The sizes a network function needs, from the layer shapes alone. */
typedef struct net_sizes {
    size_t n, in_size, maxdim, sum_out; /* layers; input size; largest node; all outputs */
    size_t cwb;                         /* the largest convolution workspace (one image, both passes) */
    size_t dc;                          /* the explicit matrices' side bound: min(explicit_max_dim, maxdim) */
    size_t pwb, swb;                    /* power iteration (maxdim x maxdim), SVD of a dc x dc matrix */
    size_t dwb;                         /* nnla_net_diagnose only: weights' diagnose and poolings' constants */
    size_t spectrum;                    /* sum of min(rows, cols) of the weights */
    size_t bytes;                       /* total */
} net_sizes;

static nnla_status net_sizes_make(const nnla_net *net, const nnla_net_spectral_opts *o, int diag, net_sizes *z)
{
    size_t n = nnla_net_num_layers(net), shape[3];
    if (n == 0) return NNLA_EDIM;
    NNLA__TRY(nnla_net_input_shape(net, shape));
    memset(z, 0, sizeof *z);
    z->n = n;
    z->in_size = prod3(shape);
    z->maxdim = z->in_size;
    for (size_t i = 0; i < n; i++) {
        nnla_layer_spec s;
        size_t in[3], out[3];
        NNLA__TRY(nnla_net_layer_spec(net, i, &s));
        NNLA__TRY(nnla_net_layer_shape(net, i, in, out));
        size_t os = prod3(out);
        if (!nnla__fits_int(os) || !nnla__add(z->sum_out, os, &z->sum_out)) return NNLA_EOVERFLOW;
        z->maxdim = max_size(z->maxdim, os);
        if (s.kind == NNLA_LAYER_CONV2D) {
            size_t b;
            NNLA__TRY(conv_ws_bytes(&s.conv, in[1], in[2], &b));
            z->cwb = max_size(z->cwb, b);
        }
        if (!diag) continue;
        if (s.kind == NNLA_LAYER_DENSE || s.kind == NNLA_LAYER_CONV2D) {
            size_t b, k = s.weight.rows < s.weight.cols ? s.weight.rows : s.weight.cols;
            NNLA__TRY(nnla_spectral_diagnose_workspace_size(s.weight.rows, s.weight.cols, &b));
            z->dwb = max_size(z->dwb, b);
            if (!nnla__add(z->spectrum, k, &z->spectrum)) return NNLA_EOVERFLOW;
        } else if (s.kind == NNLA_LAYER_POOL2D) {
            size_t b;
            NNLA__TRY(nnla_pool2d_lipschitz_workspace_size(&s.pool, in[1], in[2], &b));
            z->dwb = max_size(z->dwb, b);
        }
    }
    if (!nnla__fits_int(z->maxdim)) return NNLA_EOVERFLOW;
    NNLA__TRY(nnla_power_norm_workspace_size(z->maxdim, z->maxdim, &z->pwb));
    z->dc = o->explicit_max_dim < z->maxdim ? o->explicit_max_dim : z->maxdim;
    if (z->dc > 0) NNLA__TRY(nnla_spectral_norm_workspace_size(z->dc, z->dc, &z->swb));
    size_t total = 0, nodes, flags, dd;
    if (!nnla__mul(n, sizeof(lnode), &nodes) || !nnla__mul(n, 5, &flags) || !nnla__mul(z->dc, z->dc, &dd) ||
        !nnla__ws_piece(nodes, &total) || !nnla__ws_piece(flags, &total) || !ws_doubles(n, &total) ||
        !ws_doubles(z->sum_out, &total) || !ws_doubles(z->maxdim, &total) || !nnla__ws_piece(z->cwb, &total) ||
        !nnla__ws_piece(z->pwb, &total) || !ws_doubles(dd, &total) || !ws_doubles(z->dc, &total) ||
        !nnla__ws_piece(z->swb, &total) || !nnla__ws_piece(z->dwb, &total))
        return NNLA_EOVERFLOW;
    z->bytes = total;
    return NNLA_OK;
}

/* The carved workspace and the options: the state of one network call. */
typedef struct net_run {
    const nnla_net *net;
    nnla_net_spectral_opts o;
    net_sizes z;
    lnode *nodes;
    unsigned char *in_map, *front, *mark, *has, *need; /* n flags each */
    double *lv;                                        /* L(node) */
    double *tmp;                                       /* maxdim */
    void *cw, *pw, *sw, *dw;
    double *mx, *ev; /* explicit matrix (dc x dc), unit vector (dc) */
    /* counts for nnla_lipschitz_info */
    size_t maps, maps_explicit, iterations;
    double max_residual;
} net_run;

static nnla_status net_run_init(net_run *r, const nnla_net *net, const nnla_net_spectral_opts *o, const net_sizes *z,
                                void *work, size_t work_size)
{
    memset(r, 0, sizeof *r);
    r->net = net;
    r->o = *o;
    r->z = *z;
    size_t n = z->n;
    nnla__arena ar = {(unsigned char *)work, work_size};
    r->nodes = nnla__arena_take(&ar, n * sizeof(lnode));
    unsigned char *flags = nnla__arena_take(&ar, 5 * n);
    r->lv = take_doubles(&ar, n);
    double *bufs = take_doubles(&ar, z->sum_out);
    r->tmp = take_doubles(&ar, z->maxdim);
    r->cw = nnla__arena_take(&ar, z->cwb);
    r->pw = nnla__arena_take(&ar, z->pwb);
    r->mx = take_doubles(&ar, z->dc * z->dc);
    r->ev = take_doubles(&ar, z->dc);
    r->sw = nnla__arena_take(&ar, z->swb);
    r->dw = nnla__arena_take(&ar, z->dwb);
    if (r->nodes == NULL || flags == NULL || r->lv == NULL || bufs == NULL || r->tmp == NULL || r->cw == NULL ||
        r->pw == NULL || r->mx == NULL || r->ev == NULL || r->sw == NULL || r->dw == NULL)
        return NNLA_EWORKSPACE; /* unreachable: size checked */
    r->in_map = flags;
    r->front = flags + n;
    r->mark = flags + 2 * n;
    r->has = flags + 3 * n;
    r->need = flags + 4 * n;
    memset(flags, 0, 5 * n);
    for (size_t i = 0; i < n; i++) {
        lnode *l = &r->nodes[i];
        NNLA__TRY(nnla_net_layer_spec(net, i, &l->s));
        NNLA__TRY(nnla_net_layer_shape(net, i, l->in, l->out));
        l->in_size = prod3(l->in);
        l->out_size = prod3(l->out);
        l->type = node_type(&l->s);
        l->buf = bufs;
        bufs += l->out_size;
        r->lv[i] = NAN;
    }
    return NNLA_OK;
}

/* Every weight, BatchNorm scale and variance is finite (the variance >= 0): writes through
 * nnla_net_param() views are not checked by the network. */
static int net_values_ok(const nnla_net *net)
{
    size_t n = nnla_net_num_layers(net);
    for (size_t i = 0; i < n; i++) {
        nnla_layer_spec s;
        if (nnla_net_layer_spec(net, i, &s) != NNLA_OK) return 0;
        if (s.kind == NNLA_LAYER_DENSE || s.kind == NNLA_LAYER_CONV2D) {
            if (!nnla__all_finite(s.weight)) return 0;
        } else if (s.kind == NNLA_LAYER_BATCHNORM) {
            for (size_t c = 0; c < s.features; c++)
                if (!isfinite(s.gamma[c]) || !isfinite(s.running_var[c]) || s.running_var[c] < 0.0) return 0;
        }
    }
    return 1;
}

/* ------------------------------------------------------------------ networks: linear parts */

/* y = the linear part of layer l applied to x (not ADD). */
static nnla_status lin_forward(const net_run *r, const lnode *l, const double *x, double *y)
{
    const nnla_layer_spec *s = &l->s;
    void *cw = r->z.cwb ? r->cw : NULL;
    switch (s->kind) {
    case NNLA_LAYER_DENSE:
        cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)s->weight.rows, (int)s->weight.cols, 1.0, s->weight.data,
                    (int)s->weight.ld, x, 1, 0.0, y, 1);
        return NNLA_OK;
    case NNLA_LAYER_CONV2D:
        return nnla_conv2d_forward(&s->conv, 1, l->in[1], l->in[2], x, s->weight.data, NULL,
                                   nnla_act_default(NNLA_ACT_IDENTITY), y, cw, r->z.cwb);
    case NNLA_LAYER_POOL2D: return nnla_pool2d_forward(&s->pool, 1, l->in[0], l->in[1], l->in[2], x, y);
    case NNLA_LAYER_GLOBAL_AVGPOOL: return nnla_global_avgpool2d(1, l->in[0], l->in[1], l->in[2], x, y);
    case NNLA_LAYER_BATCHNORM: {
        size_t plane = l->in[1] * l->in[2];
        for (size_t c = 0; c < l->in[0]; c++) {
            double g = s->gamma[c] / sqrt(s->running_var[c] + s->eps);
            for (size_t p = 0; p < plane; p++) y[c * plane + p] = g * x[c * plane + p];
        }
        return NNLA_OK;
    }
    default: /* flatten, dropout, the identity activation */
        memcpy(y, x, l->out_size * sizeof(double));
        return NNLA_OK;
    }
}

/* x = the adjoint of layer l's linear part applied to g (overwrites x; not ADD). */
static nnla_status lin_adjoint(const net_run *r, const lnode *l, const double *g, double *x)
{
    const nnla_layer_spec *s = &l->s;
    void *cw = r->z.cwb ? r->cw : NULL;
    switch (s->kind) {
    case NNLA_LAYER_DENSE:
        cblas_dgemv(CblasRowMajor, CblasTrans, (int)s->weight.rows, (int)s->weight.cols, 1.0, s->weight.data,
                    (int)s->weight.ld, g, 1, 0.0, x, 1);
        return NNLA_OK;
    case NNLA_LAYER_CONV2D:
        return nnla_conv2d_backward_data(&s->conv, 1, l->in[1], l->in[2], g, s->weight.data, x, cw, r->z.cwb);
    case NNLA_LAYER_POOL2D: return nnla_pool2d_backward(&s->pool, 1, l->in[0], l->in[1], l->in[2], g, NULL, x);
    case NNLA_LAYER_GLOBAL_AVGPOOL: return nnla_global_avgpool2d_backward(1, l->in[0], l->in[1], l->in[2], g, x);
    default: return lin_forward(r, l, g, x); /* BatchNorm's scale, copies: self-adjoint */
    }
}

/* A map from node `front` (a layer or NNLA_NET_INPUT) to node `end` through the marked layers. */
typedef struct dag_map {
    net_run *r;
    size_t front, end, lo; /* lo: the lowest marked layer */
} dag_map;

/* The value a marked layer reads from source s in the forward product: x for the front, a marked
 * layer's buffer, or NULL (a source outside the map contributes nothing). */
static const double *dag_src(const dag_map *m, size_t s, const double *x)
{
    if (s == m->front) return x;
    if (s != NNLA_NET_INPUT && m->r->mark[s]) return m->r->nodes[s].buf;
    return NULL;
}

/* target (+)= the adjoint contribution g of a marked layer to its source s (ADD: g itself; others:
 * their adjoint). x and *hx are the front's gradient and whether it holds one. */
static nnla_status dag_acc(dag_map *m, const lnode *l, size_t s, const double *g, double *x, int *hx)
{
    net_run *r = m->r;
    double *target;
    int *has_int = NULL;
    unsigned char *has_byte = NULL;
    size_t len;
    if (s == m->front) {
        target = x;
        has_int = hx;
        len = s == NNLA_NET_INPUT ? r->z.in_size : r->nodes[s].out_size;
    } else if (s != NNLA_NET_INPUT && r->mark[s]) {
        target = r->nodes[s].buf;
        has_byte = &r->has[s];
        len = r->nodes[s].out_size;
    } else {
        return NNLA_OK;
    }
    int had = has_int ? *has_int : *has_byte;
    int add = l->s.kind == NNLA_LAYER_ADD;
    if (!had) {
        if (add)
            memcpy(target, g, len * sizeof(double));
        else
            NNLA__TRY(lin_adjoint(r, l, g, target));
    } else {
        const double *c = g;
        if (!add) {
            NNLA__TRY(lin_adjoint(r, l, g, r->tmp));
            c = r->tmp;
        }
        for (size_t i = 0; i < len; i++) target[i] += c[i];
    }
    if (has_int)
        *has_int = 1;
    else
        *has_byte = 1;
    return NNLA_OK;
}

static nnla_status dag_apply(void *ctx, int transpose, const double *x, double *y)
{
    dag_map *m = ctx;
    net_run *r = m->r;
    if (!transpose) {
        for (size_t k = m->lo; k <= m->end; k++) {
            if (!r->mark[k]) continue;
            lnode *l = &r->nodes[k];
            double *out = k == m->end ? y : l->buf;
            if (l->s.kind == NNLA_LAYER_ADD) {
                const double *a = dag_src(m, l->s.src, x), *b = dag_src(m, l->s.src2, x);
                size_t len = l->out_size;
                if (a != NULL && b != NULL)
                    for (size_t i = 0; i < len; i++) out[i] = a[i] + b[i];
                else
                    memcpy(out, a != NULL ? a : b, len * sizeof(double));
            } else {
                NNLA__TRY(lin_forward(r, l, dag_src(m, l->s.src, x), out));
            }
        }
        return NNLA_OK;
    }
    /* the adjoint: x (rows entries) is the end's gradient, y (cols entries) receives the front's */
    for (size_t k = m->lo; k <= m->end; k++) r->has[k] = 0;
    memcpy(r->nodes[m->end].buf, x, r->nodes[m->end].out_size * sizeof(double));
    r->has[m->end] = 1;
    int hy = 0;
    for (size_t k = m->end + 1; k-- > m->lo;) {
        if (!r->mark[k] || !r->has[k]) continue;
        lnode *l = &r->nodes[k];
        NNLA__TRY(dag_acc(m, l, l->s.src, l->buf, y, &hy));
        if (l->s.kind == NNLA_LAYER_ADD) NNLA__TRY(dag_acc(m, l, l->s.src2, l->buf, y, &hy));
    }
    if (!hy) {
        size_t len = m->front == NNLA_NET_INPUT ? r->z.in_size : r->nodes[m->front].out_size;
        for (size_t i = 0; i < len; i++) y[i] = 0.0;
    }
    return NNLA_OK;
}

/* Mark the layers of in_map that depend on `front`; returns the lowest marked index (or SIZE_MAX). */
static size_t dag_mark(net_run *r, size_t end, size_t front)
{
    size_t lo = SIZE_MAX;
    for (size_t k = 0; k <= end; k++) {
        r->mark[k] = 0;
        if (!r->in_map[k]) continue;
        const lnode *l = &r->nodes[k];
        size_t src[2] = {l->s.src, l->s.kind == NNLA_LAYER_ADD ? l->s.src2 : l->s.src};
        for (int t = 0; t < 2; t++)
            if (src[t] == front || (src[t] != NNLA_NET_INPUT && r->mark[src[t]])) r->mark[k] = 1;
        if (r->mark[k] && lo == SIZE_MAX) lo = k;
    }
    return lo;
}

/* What a map's norm came to. */
typedef struct map_norm_out {
    double norm;   /* the value: exact (SVD) or the power iteration's estimate */
    double bound;  /* an upper bound: norm (SVD) or norm (1 + r) (power) */
    nnla_opnorm_method method;
    nnla_power_info info;
} map_norm_out;

/* The operator norm of the marked map from front to end (rows x cols). */
static nnla_status map_norm(net_run *r, dag_map *m, size_t rows, size_t cols, map_norm_out *out)
{
    nnla_linop op = {rows, cols, dag_apply, m};
    memset(out, 0, sizeof *out);
    r->maps++;
    size_t dc = r->z.dc, a = rows < cols ? rows : cols, b = rows < cols ? cols : rows, need = 0;
    if (rows <= dc && cols <= dc && nnla_spectral_norm_workspace_size(a, b, &need) == NNLA_OK && need <= r->z.swb) {
        /* the explicit matrix, one row per unit vector of the smaller side: rows of K^T or of K */
        int adj = rows < cols;
        for (size_t i = 0; i < a; i++) r->ev[i] = 0.0;
        for (size_t i = 0; i < a; i++) {
            r->ev[i] = 1.0;
            NNLA__TRY(dag_apply(m, adj, r->ev, r->mx + i * b));
            r->ev[i] = 0.0;
        }
        double s;
        NNLA__TRY(nnla_spectral_norm(nnla_cmat_view(r->mx, a, b, b), &s, r->sw, r->z.swb));
        out->norm = out->bound = s;
        out->method = NNLA_OPNORM_SVD;
        r->maps_explicit++;
        return NNLA_OK;
    }
    nnla_power_opts po = r->o.power;
    po.warm_start = 0;
    double s;
    nnla_power_info info;
    NNLA__TRY(nnla_power_norm(&op, &po, &s, NULL, NULL, &info, r->pw, r->z.pwb));
    out->norm = s;
    out->bound = s * (1.0 + info.residual);
    out->method = NNLA_OPNORM_POWER;
    out->info = info;
    r->iterations += info.iterations;
    if (info.residual > r->max_residual) r->max_residual = info.residual;
    return NNLA_OK;
}

/* The constant of a nonlinear layer (activation layer, max pooling). */
static nnla_status nl_constant(const lnode *l, double *c)
{
    if (l->s.kind == NNLA_LAYER_POOL2D) return nnla_pool2d_lipschitz(&l->s.pool, l->in[1], l->in[2], c, NULL, 0);
    return nnla_act_lipschitz(l->s.act, l->in[0], c);
}

/* The constant of a layer's fused activation (dense, conv2d) over its output channels. */
static nnla_status fused_constant(const lnode *l, double *c) { return nnla_act_lipschitz(l->s.act, l->out[0], c); }

static double lv_of(const net_run *r, size_t s) { return s == NNLA_NET_INPUT ? 1.0 : r->lv[s]; }

/* L(j) for a linear or fused node: the sum over the frontier of ||A_f|| L(f), times the fused constant. */
static nnla_status node_bound(net_run *r, size_t j)
{
    size_t n = r->z.n;
    memset(r->in_map, 0, n);
    memset(r->front, 0, n);
    r->in_map[j] = 1;
    int front_input = 0;
    for (size_t k = j + 1; k-- > 0;) {
        if (!r->in_map[k]) continue;
        const lnode *l = &r->nodes[k];
        size_t src[2] = {l->s.src, l->s.kind == NNLA_LAYER_ADD ? l->s.src2 : l->s.src};
        for (int t = 0; t < 2; t++) {
            size_t s = src[t];
            if (s == NNLA_NET_INPUT)
                front_input = 1;
            else if (r->o.compose && r->nodes[s].type == NODE_LIN)
                r->in_map[s] = 1;
            else
                r->front[s] = 1;
        }
    }
    double sum = 0.0;
    for (size_t f = 0; f <= j; f++) {
        int is_input = f == j;
        if (is_input ? !front_input : !r->front[f]) continue;
        size_t fr = is_input ? NNLA_NET_INPUT : f;
        if (!is_input && r->in_map[f]) continue; /* a member is not a frontier node */
        dag_map m = {r, fr, j, dag_mark(r, j, fr)};
        size_t cols = is_input ? r->z.in_size : r->nodes[f].out_size;
        map_norm_out mo;
        NNLA__TRY(map_norm(r, &m, r->nodes[j].out_size, cols, &mo));
        sum += mo.bound * lv_of(r, fr);
    }
    if (r->nodes[j].type == NODE_FUSED) {
        double c;
        NNLA__TRY(fused_constant(&r->nodes[j], &c));
        sum *= c;
    }
    r->lv[j] = sum;
    return NNLA_OK;
}

/* ------------------------------------------------------------------ networks: the Lipschitz bound */

static nnla_status net_fn_sizes(const nnla_net *net, const nnla_net_spectral_opts *opts, int diag,
                                nnla_net_spectral_opts *o, net_sizes *z)
{
    if (net == NULL) return NNLA_ENULL;
    *o = opts ? *opts : nnla_net_spectral_opts_default();
    NNLA__TRY(spectral_opts_check(o));
    return net_sizes_make(net, o, diag, z);
}

nnla_status nnla_net_lipschitz_workspace_size(const nnla_net *net, const nnla_net_spectral_opts *opts,
                                              size_t *bytes)
{
    if (bytes == NULL) return NNLA_ENULL;
    nnla_net_spectral_opts o;
    net_sizes z;
    NNLA__TRY(net_fn_sizes(net, opts, 0, &o, &z));
    *bytes = z.bytes;
    return NNLA_OK;
}

nnla_status nnla_net_lipschitz(const nnla_net *net, const nnla_net_spectral_opts *opts, double *bound,
                               double *node_bounds, nnla_lipschitz_info *info, void *work, size_t work_size)
{
    if (bound == NULL || work == NULL) return NNLA_ENULL;
    nnla_net_spectral_opts o;
    net_sizes z;
    NNLA__TRY(net_fn_sizes(net, opts, 0, &o, &z));
    size_t n = z.n;
    span r[4] = {{work, work_size},
                 {bound, sizeof *bound},
                 {node_bounds, node_bounds ? n * sizeof(double) : 0},
                 {info, info ? sizeof *info : 0}};
    if (any_overlap(r, 4)) return NNLA_EALIAS;
    if (work_size < z.bytes) return NNLA_EWORKSPACE;
    if (!net_values_ok(net)) return NNLA_ENONFINITE;

    net_run run;
    NNLA__TRY(net_run_init(&run, net, &o, &z, work, work_size));
    /* which linear nodes need a bound: the last layer, and the sources of nonlinear layers */
    for (size_t j = 0; j < n; j++) {
        const lnode *l = &run.nodes[j];
        if (l->type == NODE_NL && l->s.src != NNLA_NET_INPUT) run.need[l->s.src] = 1;
    }
    run.need[n - 1] = 1;
    for (size_t j = 0; j < n; j++) {
        const lnode *l = &run.nodes[j];
        if (l->type == NODE_NL) {
            double c;
            NNLA__TRY(nl_constant(l, &c));
            run.lv[j] = c * lv_of(&run, l->s.src);
        } else if (!o.compose || l->type == NODE_FUSED || run.need[j]) {
            NNLA__TRY(node_bound(&run, j));
        }
    }
    double b = run.lv[n - 1];
    if (!isfinite(b)) return NNLA_EOVERFLOW;
    *bound = b;
    if (node_bounds) memcpy(node_bounds, run.lv, n * sizeof(double));
    if (info) {
        info->maps = run.maps;
        info->maps_explicit = run.maps_explicit;
        info->iterations = run.iterations;
        info->max_residual = run.max_residual;
    }
    return NNLA_OK;
}

/* ------------------------------------------------------------------ networks: the diagnostics table */

nnla_status nnla_net_diagnose_workspace_size(const nnla_net *net, const nnla_net_spectral_opts *opts, size_t *bytes,
                                             size_t *spectrum_count)
{
    if (bytes == NULL) return NNLA_ENULL;
    nnla_net_spectral_opts o;
    net_sizes z;
    NNLA__TRY(net_fn_sizes(net, opts, 1, &o, &z));
    *bytes = z.bytes;
    if (spectrum_count) *spectrum_count = z.spectrum;
    return NNLA_OK;
}

/* One layer's entry. */
static nnla_status diagnose_layer(net_run *r, size_t k, nnla_layer_diag *e, double *spectrum, size_t *offset)
{
    const lnode *l = &r->nodes[k];
    const nnla_layer_spec *s = &l->s;
    memset(e, 0, sizeof *e);
    e->kind = s->kind;
    memcpy(e->in_shape, l->in, sizeof e->in_shape);
    memcpy(e->out_shape, l->out, sizeof e->out_shape);
    e->act = nnla_act_default(NNLA_ACT_IDENTITY);
    e->op_norm = NAN;
    e->op_norm_method = NNLA_OPNORM_NONE;
    e->act_lipschitz = 1.0;
    switch (s->kind) {
    case NNLA_LAYER_DENSE:
    case NNLA_LAYER_CONV2D: {
        e->act = s->act;
        e->has_weight = 1;
        size_t kk = s->weight.rows < s->weight.cols ? s->weight.rows : s->weight.cols, b;
        NNLA__TRY(nnla_spectral_diagnose_workspace_size(s->weight.rows, s->weight.cols, &b));
        NNLA__TRY(nnla_spectral_diagnose(s->weight, r->o.rank_tol, &e->weight, spectrum ? spectrum + *offset : NULL,
                                         r->dw, b));
        e->spectrum_offset = *offset;
        *offset += kk;
        NNLA__TRY(fused_constant(l, &e->act_lipschitz));
        double bound = e->weight.sigma_max;
        if (s->kind == NNLA_LAYER_DENSE) {
            e->op_norm = e->weight.sigma_max;
            e->op_norm_method = NNLA_OPNORM_SVD;
        } else {
            /* the convolution alone, from its source's output, on its input shape */
            memset(r->in_map, 0, r->z.n);
            r->in_map[k] = 1;
            dag_map m = {r, s->src, k, dag_mark(r, k, s->src)};
            map_norm_out mo;
            NNLA__TRY(map_norm(r, &m, l->out_size, l->in_size, &mo));
            e->op_norm = mo.norm;
            e->op_norm_method = mo.method;
            e->op_norm_info = mo.info;
            bound = mo.bound;
        }
        e->lipschitz = bound * e->act_lipschitz;
        return NNLA_OK;
    }
    case NNLA_LAYER_POOL2D: {
        double c;
        size_t b;
        NNLA__TRY(nnla_pool2d_lipschitz_workspace_size(&s->pool, l->in[1], l->in[2], &b));
        NNLA__TRY(nnla_pool2d_lipschitz(&s->pool, l->in[1], l->in[2], &c, b ? r->dw : NULL, b));
        if (s->pool.kind == NNLA_POOL_AVG) {
            e->op_norm = c;
            e->op_norm_method = NNLA_OPNORM_SVD;
        }
        e->lipschitz = c;
        return NNLA_OK;
    }
    case NNLA_LAYER_GLOBAL_AVGPOOL:
        e->op_norm = 1.0 / sqrt((double)l->in[1] * (double)l->in[2]);
        break;
    case NNLA_LAYER_BATCHNORM: {
        double mx = 0.0;
        for (size_t c = 0; c < s->features; c++) {
            double g = fabs(s->gamma[c]) / sqrt(s->running_var[c] + s->eps);
            if (g > mx) mx = g;
        }
        e->op_norm = mx;
        break;
    }
    case NNLA_LAYER_ACT:
        e->act = s->act;
        if (s->act.kind != NNLA_ACT_IDENTITY) {
            NNLA__TRY(nnla_act_lipschitz(s->act, l->in[0], &e->act_lipschitz));
            e->lipschitz = e->act_lipschitz;
            return NNLA_OK;
        }
        e->op_norm = 1.0;
        break;
    case NNLA_LAYER_ADD: e->lipschitz = 1.0; return NNLA_OK;
    default: e->op_norm = 1.0; break; /* flatten, dropout */
    }
    e->op_norm_method = NNLA_OPNORM_CLOSED_FORM;
    e->lipschitz = e->op_norm;
    return NNLA_OK;
}

nnla_status nnla_net_diagnose(const nnla_net *net, const nnla_net_spectral_opts *opts, nnla_layer_diag *table,
                              size_t table_len, double *spectrum, size_t spectrum_len, void *work, size_t work_size)
{
    if (table == NULL || work == NULL) return NNLA_ENULL;
    nnla_net_spectral_opts o;
    net_sizes z;
    NNLA__TRY(net_fn_sizes(net, opts, 1, &o, &z));
    size_t n = z.n, tb, sb;
    if (table_len < n || (spectrum != NULL && spectrum_len < z.spectrum)) return NNLA_ESHAPE;
    if (!nnla__mul(n, sizeof *table, &tb) || !doubles_bytes(z.spectrum, &sb)) return NNLA_EOVERFLOW;
    span r[3] = {{work, work_size}, {table, tb}, {spectrum, spectrum ? sb : 0}};
    if (any_overlap(r, 3)) return NNLA_EALIAS;
    if (work_size < z.bytes) return NNLA_EWORKSPACE;
    if (!net_values_ok(net)) return NNLA_ENONFINITE;

    net_run run;
    NNLA__TRY(net_run_init(&run, net, &o, &z, work, work_size));
    size_t offset = 0;
    for (size_t k = 0; k < n; k++) NNLA__TRY(diagnose_layer(&run, k, &table[k], spectrum, &offset));
    return NNLA_OK;
}

/* ------------------------------------------------------------------ networks: normalization in place */

static int is_weight_layer(nnla_layer_kind k) { return k == NNLA_LAYER_DENSE || k == NNLA_LAYER_CONV2D; }

nnla_status nnla_net_weight_matrix(nnla_net *net, size_t layer, nnla_mat *w)
{
    if (net == NULL || w == NULL) return NNLA_ENULL;
    nnla_layer_kind kind;
    NNLA__TRY(nnla_net_layer_kind(net, layer, &kind));
    if (!is_weight_layer(kind)) return NNLA_EINVAL;
    nnla_tensor t;
    NNLA__TRY(nnla_net_param(net, layer, NNLA_PARAM_WEIGHT, &t));
    size_t rows = t.shape[0], cols = t.size / rows;
    *w = nnla_mat_view(t.data, rows, cols, cols);
    return NNLA_OK;
}

nnla_status nnla_net_spectral_workspace_size(const nnla_net *net, size_t *bytes)
{
    if (net == NULL || bytes == NULL) return NNLA_ENULL;
    size_t n = nnla_net_num_layers(net), best = 0;
    int any = 0;
    for (size_t i = 0; i < n; i++) {
        nnla_layer_spec s;
        NNLA__TRY(nnla_net_layer_spec(net, i, &s));
        if (!is_weight_layer(s.kind)) continue;
        any = 1;
        size_t a, b, c;
        NNLA__TRY(nnla_spectral_normalize_workspace_size(NNLA_NORM_EXACT, s.weight.rows, s.weight.cols, &a));
        NNLA__TRY(nnla_spectral_normalize_workspace_size(NNLA_NORM_POWER, s.weight.rows, s.weight.cols, &b));
        NNLA__TRY(nnla_spectral_clip_workspace_size(s.weight.rows, s.weight.cols, &c));
        best = max_size(best, max_size(a, max_size(b, c)));
    }
    if (!any) return NNLA_EINVAL;
    *bytes = best;
    return NNLA_OK;
}

nnla_status nnla_net_spectral_normalize(nnla_net *net, size_t layer, nnla_norm_method method,
                                        const nnla_power_opts *opts, double *sigma, double *u, double *v,
                                        nnla_power_info *info, void *work, size_t work_size)
{
    nnla_mat w;
    NNLA__TRY(nnla_net_weight_matrix(net, layer, &w));
    return nnla_spectral_normalize(w, method, opts, sigma, u, v, info, work, work_size);
}

nnla_status nnla_net_spectral_clip(nnla_net *net, size_t layer, double c, size_t *clipped, void *work,
                                   size_t work_size)
{
    nnla_mat w;
    NNLA__TRY(nnla_net_weight_matrix(net, layer, &w));
    return nnla_spectral_clip(w, c, clipped, work, work_size);
}

/* ------------------------------------------------------------------ networks: closed-form refit */

#define REFIT_CHUNK 256 /* samples per nnla_net_run */

typedef struct refit_plan {
    size_t layer, src, n, in_size, d, o, chunk;
    int bias, run;           /* the layer has a bias; the features need a run (source is not the input) */
    size_t ctxb, rwb, bytes; /* context, nnla_ridge_refit's workspace, total */
} refit_plan;

static nnla_status refit_plan_make(const nnla_net *net, size_t layer, size_t n, refit_plan *p)
{
    if (net == NULL) return NNLA_ENULL;
    if (n == 0) return NNLA_EDIM;
    size_t nl = nnla_net_num_layers(net);
    if (layer == NNLA_REFIT_LAST_DENSE) {
        layer = nl;
        for (size_t i = nl; i-- > 0;) {
            nnla_layer_kind k;
            NNLA__TRY(nnla_net_layer_kind(net, i, &k));
            if (k == NNLA_LAYER_DENSE) {
                layer = i;
                break;
            }
        }
        if (layer == nl) return NNLA_EINVAL;
    }
    if (layer >= nl) return NNLA_EINVAL;
    nnla_layer_spec s;
    NNLA__TRY(nnla_net_layer_spec(net, layer, &s));
    if (s.kind != NNLA_LAYER_DENSE) return NNLA_EINVAL;
    size_t shape[3];
    NNLA__TRY(nnla_net_input_shape(net, shape));
    p->layer = layer;
    p->src = s.src;
    p->n = n;
    p->in_size = prod3(shape);
    p->d = s.weight.cols;
    p->o = s.weight.rows;
    p->bias = s.bias != NULL;
    p->run = s.src != NNLA_NET_INPUT;
    p->chunk = n < REFIT_CHUNK ? n : REFIT_CHUNK;
    p->ctxb = 0;
    size_t total = 0, xc, nd, od;
    NNLA__TRY(nnla_ridge_refit_workspace_size(n, p->d, p->o, &p->rwb));
    if (!nnla__mul(p->chunk, p->in_size, &xc) || !nnla__mul(n, p->d, &nd) || !nnla__mul(p->o, p->d, &od))
        return NNLA_EOVERFLOW;
    if (p->run) {
        NNLA__TRY(nnla_net_ctx_size(net, p->chunk, 0, &p->ctxb, NULL));
        if (!ws_doubles(xc, &total) || !ws_doubles(nd, &total) || !nnla__ws_piece(p->ctxb, &total))
            return NNLA_EOVERFLOW;
    }
    if (!nnla__ws_piece(p->rwb, &total) || !ws_doubles(od, &total) || !ws_doubles(p->o, &total))
        return NNLA_EOVERFLOW;
    p->bytes = total;
    return NNLA_OK;
}

nnla_status nnla_net_refit_workspace_size(const nnla_net *net, size_t layer, size_t n, size_t *bytes)
{
    if (bytes == NULL) return NNLA_ENULL;
    refit_plan p;
    NNLA__TRY(refit_plan_make(net, layer, n, &p));
    *bytes = p.bytes;
    return NNLA_OK;
}

nnla_status nnla_net_refit(nnla_net *net, size_t layer, nnla_cmat x, nnla_cmat t, double lambda, size_t *rank,
                           void *work, size_t work_size)
{
    NNLA__TRY(nnla__check_blas_view(x));
    NNLA__TRY(nnla__check_blas_view(t));
    if (net == NULL || work == NULL) return NNLA_ENULL;
    refit_plan p;
    NNLA__TRY(refit_plan_make(net, layer, x.rows, &p));
    if (x.cols != p.in_size || t.rows != x.rows || t.cols != p.o) return NNLA_ESHAPE;
    if (!isfinite(lambda) || lambda < 0.0) return NNLA_EINVAL;
    double *params = NULL;
    size_t nparams = 0;
    NNLA__TRY(nnla_net_params(net, &params, &nparams));
    span r[5] = {{work, work_size},
                 {params, nparams * sizeof(double)},
                 {rank, rank ? sizeof *rank : 0},
                 {x.data, nnla__view_bytes(x)},
                 {t.data, nnla__view_bytes(t)}};
    for (size_t i = 0; i < 3; i++)
        for (size_t j = i + 1; j < 5; j++)
            if (nnla__overlap(r[i].p, r[i].n, r[j].p, r[j].n)) return NNLA_EALIAS;
    if (work_size < p.bytes) return NNLA_EWORKSPACE;
    if (!nnla__all_finite(x) || !nnla__all_finite(t)) return NNLA_ENONFINITE;

    nnla__arena ar = {(unsigned char *)work, work_size};
    nnla_cmat f = x;
    if (p.run) {
        double *xc = take_doubles(&ar, p.chunk * p.in_size), *fb = take_doubles(&ar, p.n * p.d);
        void *cm = nnla__arena_take(&ar, p.ctxb);
        if (xc == NULL || fb == NULL || cm == NULL) return NNLA_EWORKSPACE; /* unreachable */
        nnla_net_ctx *ctx;
        NNLA__TRY(nnla_net_ctx_init(net, p.chunk, 0, cm, p.ctxb, &ctx));
        for (size_t i0 = 0; i0 < p.n; i0 += p.chunk) {
            size_t b = p.n - i0 < p.chunk ? p.n - i0 : p.chunk;
            for (size_t i = 0; i < b; i++)
                memcpy(xc + i * p.in_size, x.data + (i0 + i) * x.ld, p.in_size * sizeof(double));
            NNLA__TRY(nnla_net_run(net, ctx, b, 0, p.src, xc, fb + i0 * p.d));
        }
        f = nnla_cmat_view(fb, p.n, p.d, p.d);
    }
    void *rw = nnla__arena_take(&ar, p.rwb);
    double *wb = take_doubles(&ar, p.o * p.d), *bb = take_doubles(&ar, p.o);
    if (rw == NULL || wb == NULL || bb == NULL) return NNLA_EWORKSPACE; /* unreachable */
    size_t rk;
    NNLA__TRY(nnla_ridge_refit(f, t, lambda, nnla_mat_view(wb, p.o, p.d, p.d), p.bias ? bb : NULL, &rk, rw, p.rwb));
    NNLA__TRY(nnla_net_set_param(net, p.layer, NNLA_PARAM_WEIGHT, wb, p.o * p.d));
    if (p.bias) NNLA__TRY(nnla_net_set_param(net, p.layer, NNLA_PARAM_BIAS, bb, p.o));
    if (rank) *rank = rk;
    return NNLA_OK;
}

/* ------------------------------------------------------------------ networks: initialization */

nnla_net_init_opts nnla_net_init_opts_default(void)
{
    nnla_net_init_opts o;
    o.kind = NNLA_INIT_HE_UNIFORM;
    o.mode = NNLA_FAN_IN;
    o.zero_bias = 0;
    o.default_gain = 1.0;
    return o;
}

/* The only layer that reads layer i, or SIZE_MAX when none or several do. */
static size_t only_reader(const nnla_net *net, size_t i)
{
    size_t n = nnla_net_num_layers(net), found = SIZE_MAX;
    for (size_t j = i + 1; j < n; j++) {
        nnla_layer_spec s;
        if (nnla_net_layer_spec(net, j, &s) != NNLA_OK) return SIZE_MAX;
        int reads = s.src == i || (s.kind == NNLA_LAYER_ADD && s.src2 == i);
        if (s.kind == NNLA_LAYER_ADD && s.src == i && s.src2 == i) return SIZE_MAX;
        if (!reads) continue;
        if (found != SIZE_MAX) return SIZE_MAX;
        found = j;
    }
    return found;
}

/* The activation whose gain initializes layer i: its fused one, or the activation layer reached through
 * the layers that read it alone and are BatchNorm, dropout, flatten or pooling; else the identity. */
static nnla_act layer_act(const nnla_net *net, size_t i)
{
    nnla_layer_spec s;
    if (nnla_net_layer_spec(net, i, &s) != NNLA_OK) return nnla_act_default(NNLA_ACT_IDENTITY);
    if (s.act.kind != NNLA_ACT_IDENTITY) return s.act;
    for (size_t cur = i;;) {
        size_t j = only_reader(net, cur);
        if (j == SIZE_MAX || nnla_net_layer_spec(net, j, &s) != NNLA_OK) break;
        if (s.kind == NNLA_LAYER_ACT) return s.act;
        if (s.kind != NNLA_LAYER_BATCHNORM && s.kind != NNLA_LAYER_DROPOUT && s.kind != NNLA_LAYER_FLATTEN &&
            s.kind != NNLA_LAYER_POOL2D)
            break;
        cur = j;
    }
    return nnla_act_default(NNLA_ACT_IDENTITY);
}

static nnla_status layer_gain(const nnla_net *net, size_t i, double default_gain, double *gain)
{
    nnla_status st = nnla_init_gain(layer_act(net, i), gain);
    if (st == NNLA_EUNSUPPORTED) {
        *gain = default_gain;
        return NNLA_OK;
    }
    return st;
}

nnla_status nnla_net_init_workspace_size(const nnla_net *net, nnla_init_kind kind, size_t *bytes)
{
    if (net == NULL || bytes == NULL) return NNLA_ENULL;
    if (nnla_init_name(kind) == NULL) return NNLA_EINVAL;
    size_t n = nnla_net_num_layers(net), best = 0;
    for (size_t i = 0; i < n; i++) {
        nnla_layer_spec s;
        NNLA__TRY(nnla_net_layer_spec(net, i, &s));
        if (!is_weight_layer(s.kind)) continue;
        size_t shape[2] = {s.weight.rows, s.weight.cols}, b;
        /* a conv weight's QR is of its O x (C/groups kh kw) matrix, as for this 2-D shape */
        NNLA__TRY(nnla_init_workspace_size(kind, 2, shape, &b));
        best = max_size(best, b);
    }
    *bytes = best;
    return NNLA_OK;
}

nnla_status nnla_net_init(nnla_net *net, const nnla_net_init_opts *opts, nnla_rng *rng, void *work, size_t work_size)
{
    if (net == NULL || rng == NULL) return NNLA_ENULL;
    nnla_net_init_opts o = opts ? *opts : nnla_net_init_opts_default();
    if (nnla_init_name(o.kind) == NULL || (o.mode != NNLA_FAN_IN && o.mode != NNLA_FAN_OUT) ||
        (o.zero_bias != 0 && o.zero_bias != 1) || !isfinite(o.default_gain) || o.default_gain < 0.0)
        return NNLA_EINVAL;
    size_t need;
    NNLA__TRY(nnla_net_init_workspace_size(net, o.kind, &need));
    if (need > 0 && work == NULL) return NNLA_ENULL;
    if (work_size < need) return NNLA_EWORKSPACE;
    double *params = NULL;
    size_t nparams = 0;
    NNLA__TRY(nnla_net_params(net, &params, &nparams));
    if (nnla__overlap(rng, sizeof *rng, params, nparams * sizeof(double)) ||
        (need > 0 && (nnla__overlap(work, work_size, params, nparams * sizeof(double)) ||
                      nnla__overlap(work, work_size, rng, sizeof *rng))))
        return NNLA_EALIAS;
    /* every layer's scale is valid before the first draw */
    size_t n = nnla_net_num_layers(net);
    for (size_t i = 0; i < n; i++) {
        nnla_layer_kind kind;
        NNLA__TRY(nnla_net_layer_kind(net, i, &kind));
        if (!is_weight_layer(kind)) continue;
        nnla_tensor t;
        double gain, scale;
        NNLA__TRY(nnla_net_param(net, i, NNLA_PARAM_WEIGHT, &t));
        NNLA__TRY(layer_gain(net, i, o.default_gain, &gain));
        NNLA__TRY(nnla_init_scale(o.kind, gain, o.mode, t.ndim, t.shape, &scale));
    }
    for (size_t i = 0; i < n; i++) {
        nnla_layer_kind kind;
        NNLA__TRY(nnla_net_layer_kind(net, i, &kind));
        nnla_tensor t, b;
        if (is_weight_layer(kind)) {
            double gain;
            NNLA__TRY(nnla_net_param(net, i, NNLA_PARAM_WEIGHT, &t));
            NNLA__TRY(layer_gain(net, i, o.default_gain, &gain));
            NNLA__TRY(nnla_init_tensor(o.kind, gain, o.mode, t.ndim, t.shape, t.data, rng, need ? work : NULL, need));
            if (nnla_net_param(net, i, NNLA_PARAM_BIAS, &b) != NNLA_OK) continue; /* no bias */
            if (o.zero_bias) {
                for (size_t j = 0; j < b.size; j++) b.data[j] = 0.0;
            } else {
                size_t fan_in, fan_out;
                NNLA__TRY(nnla_init_fans(t.ndim, t.shape, &fan_in, &fan_out));
                double bound = 1.0 / sqrt((double)fan_in);
                NNLA__TRY(nnla_rng_fill_uniform(rng, -bound, bound, b.data, b.size));
            }
        } else if (kind == NNLA_LAYER_BATCHNORM) {
            static const double fill[4] = {1.0, 0.0, 0.0, 1.0}; /* gamma, beta, running mean, running var */
            for (int w = 0; w < 4; w++) {
                NNLA__TRY(nnla_net_param(net, i, (nnla_param_kind)w, &t));
                for (size_t j = 0; j < t.size; j++) t.data[j] = fill[w];
            }
        }
    }
    return NNLA_OK;
}
