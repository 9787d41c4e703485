/*
 * Max and average pooling, global average pooling, and their backward passes, on NCHW batches.
 *
 * Conventions are PyTorch's (max_pool2d / avg_pool2d, both ceil modes, count_include_pad both
 * ways), with ONNX's asymmetric padding: max pooling never picks padding, average pooling divides
 * by the window clipped to the padded input (count_include_pad) or by its input entries. Each pad
 * is smaller than the kernel, so every window holds at least one input entry. A NaN in a window
 * gives NaN (max pooling included, as torch.nn.functional.max_pool2d does); max pooling's argmax
 * is then the window's last NaN, and otherwise its first maximum, as PyTorch's.
 *
 * Windows are computed per output along each axis (axis_window()): the padded start o*stride,
 * the input interval it covers, and the extent counted by count_include_pad.
 *
 * Threads (docs/conv.md, "Threads"): every pass is a loop over the batch*channels planes, each
 * computed on its own; from NNLA_POOL_PAR_MIN units of work on, the planes are dealt out in
 * contiguous runs over the threads the call gets (nnla__share_begin()). A plane's arithmetic does
 * not depend on the thread that computes it: results are bit-identical for any thread count.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <omp.h>

#include "internal.h"

#ifndef NNLA_POOL_PAR_MIN
#define NNLA_POOL_PAR_MIN 8192 /* element reads below which a pass runs on one thread (par_sweep.sh) */
#endif

/* The threads for a pass of `work` units: 0 below NNLA_POOL_PAR_MIN (no sharing begun), else the
 * call's share (nnla__share_end() to follow). */
static int pool_threads(double work)
{
    return work >= NNLA_POOL_PAR_MIN ? nnla__share_begin() : 0;
}

static void pool_threads_end(int n)
{
    if (n > 0) nnla__share_end();
}

/* for (long i = 0; i < np; i++) BODY, its planes dealt over n threads when n > 1. One thread runs
 * the plain loop: libgomp allocates a team for every region entered, even one made serial by an
 * if clause, and a training step must not allocate (docs/guide.md). */
#define POOL_FOR(n, np, i, ...)                                                                         \
    do {                                                                                                \
        if ((n) > 1) {                                                                                  \
            _Pragma("omp parallel for schedule(static) num_threads(n)") for (long i = 0; i < (np); i++) \
                __VA_ARGS__                                                                             \
        } else {                                                                                        \
            for (long i = 0; i < (np); i++) __VA_ARGS__                                                 \
        }                                                                                               \
    } while (0)

/* One axis of a pooling. */
typedef struct pool_axis {
    size_t n, k, s, lo, hi; /* input length, kernel, stride, padding before and after */
    size_t out;
} pool_axis;

typedef struct pool_geom {
    pool_axis y, x;
    size_t hw, p; /* in_h*in_w, out_h*out_w */
    int ceil, include_pad;
} pool_geom;

/* Output length along one axis (PyTorch's pooling_output_shape with pads lo, hi). */
static nnla_status axis_make(size_t n, size_t k, size_t s, size_t lo, size_t hi, int ceil, pool_axis *a)
{
    size_t t;
    /* n + lo + hi + s + k fits: every window bound below does */
    if (!nnla__add(n, lo, &t) || !nnla__add(t, hi, &t) || !nnla__add(t, s, &t) || !nnla__add(t, k, &t))
        return NNLA_EOVERFLOW;
    size_t num = n + lo + hi + (ceil ? s - 1 : 0);
    if (num < k) return NNLA_ESHAPE; /* no window fits */
    size_t out = (num - k) / s + 1;
    if (ceil && (out - 1) * s >= n + lo) out--; /* the last window must start inside input or leading pad */
    a->n = n;
    a->k = k;
    a->s = s;
    a->lo = lo;
    a->hi = hi;
    a->out = out;
    return NNLA_OK;
}

static nnla_status pool_geom_make(const nnla_pool2d_desc *d, size_t in_h, size_t in_w, pool_geom *g)
{
    if (d == NULL) return NNLA_ENULL;
    if (d->kind != NNLA_POOL_MAX && d->kind != NNLA_POOL_AVG) return NNLA_EINVAL;
    if ((d->ceil_mode != 0 && d->ceil_mode != 1) || (d->count_include_pad != 0 && d->count_include_pad != 1))
        return NNLA_EINVAL;
    if (d->kernel_h == 0 || d->kernel_w == 0 || d->stride_h == 0 || d->stride_w == 0 || in_h == 0 ||
        in_w == 0)
        return NNLA_EDIM;
    if (d->pad_top >= d->kernel_h || d->pad_bottom >= d->kernel_h || d->pad_left >= d->kernel_w ||
        d->pad_right >= d->kernel_w)
        return NNLA_EINVAL;
    pool_geom t;
    NNLA__TRY(axis_make(in_h, d->kernel_h, d->stride_h, d->pad_top, d->pad_bottom, d->ceil_mode, &t.y));
    NNLA__TRY(axis_make(in_w, d->kernel_w, d->stride_w, d->pad_left, d->pad_right, d->ceil_mode, &t.x));
    if (!nnla__mul(in_h, in_w, &t.hw) || !nnla__mul(t.y.out, t.x.out, &t.p)) return NNLA_EOVERFLOW;
    t.ceil = d->ceil_mode;
    t.include_pad = d->count_include_pad;
    *g = t;
    return NNLA_OK;
}

nnla_pool2d_desc nnla_pool2d_desc_make(nnla_pool_kind kind, size_t kernel_h, size_t kernel_w)
{
    nnla_pool2d_desc d;
    d.kind = kind;
    d.kernel_h = kernel_h;
    d.kernel_w = kernel_w;
    d.stride_h = kernel_h;
    d.stride_w = kernel_w;
    d.pad_top = d.pad_bottom = d.pad_left = d.pad_right = 0;
    d.ceil_mode = 0;
    d.count_include_pad = 1;
    return d;
}

nnla_status nnla_pool2d_output_size(const nnla_pool2d_desc *d, size_t in_h, size_t in_w, size_t *out_h,
                                    size_t *out_w)
{
    if (d == NULL || out_h == NULL || out_w == NULL) return NNLA_ENULL;
    pool_geom g;
    NNLA__TRY(pool_geom_make(d, in_h, in_w, &g));
    *out_h = g.y.out;
    *out_w = g.x.out;
    return NNLA_OK;
}

/*
 * The window of output o along an axis: the input interval [*i0, *i1) it covers (never empty:
 * each pad < kernel and the last window starts inside the input or the leading padding) and its
 * extent clipped to the padded input, counted by count_include_pad (*ext).
 */
static void axis_window(const pool_axis *a, size_t o, size_t *i0, size_t *i1, size_t *ext)
{
    size_t s0 = o * a->s, e0 = s0 + a->k; /* padded coordinates; e0 > lo since k > lo */
    size_t end = a->lo + a->n + a->hi;    /* the padded input's end */
    *i0 = s0 > a->lo ? s0 - a->lo : 0;
    *i1 = e0 - a->lo < a->n ? e0 - a->lo : a->n;
    *ext = (e0 < end ? e0 : end) - s0;
}

/* The divisor of an average window: its padded extent or its input entries. */
static double divisor(const pool_geom *g, size_t y0, size_t y1, size_t ey, size_t x0, size_t x1, size_t ex)
{
    return g->include_pad ? (double)ey * (double)ex : (double)(y1 - y0) * (double)(x1 - x0);
}

static inline uint64_t bits_of(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return u;
}

static inline double double_of(uint64_t u)
{
    double v;
    memcpy(&v, &u, sizeof v);
    return v;
}

/* Whether every window is a whole 2 x 2 block of the input (no padding, none clipped): the shape
 * of nearly every CNN's max pooling, which max2x2_plane() takes without the general loop. */
static int whole_2x2(const pool_geom *g)
{
    return g->y.k == 2 && g->x.k == 2 && g->y.lo == 0 && g->x.lo == 0 && (g->y.out - 1) * g->y.s + 2 <= g->y.n &&
           (g->x.out - 1) * g->x.s + 2 <= g->x.n;
}

/* r, at := v, i when v > r or v is NaN (once NaN, r stays NaN; the last NaN is kept): a mask, not
 * a branch, which the signs of activations would mispredict about half the time. */
#define MAX_TAKE(r, rb, at, v, i)                                                                  \
    do {                                                                                           \
        const double v_ = (v);                                                                     \
        const uint64_t m_ = (uint64_t)0 - (uint64_t)((v_ > (r)) | (v_ != v_));                     \
        (at) ^= ((at) ^ (i)) & m_;                                                                 \
        (rb) = (bits_of(v_) & m_) | ((rb) & ~m_);                                                  \
        (r) = double_of(rb);                                                                       \
    } while (0)

/*
 * One plane of max pooling over whole 2 x 2 windows (whole_2x2()): the general loop's result, bit
 * for bit, as a tournament. Without NaN the general loop keeps the first entry of the largest value;
 * so do the pairs (0, 1) and (2, 3) and then their winners, since each comparison is strict and the
 * earlier entry wins ties. Each comparison is a select (maxsd, a conditional move), not a branch,
 * and the two pairs are independent. A window with a NaN, or +inf and -inf (their sum is NaN: the
 * test is one comparison), takes the general loop's steps.
 */
static void max2x2_plane(const pool_geom *g, const double *x, double *y, uint32_t *argmax)
{
    const size_t w = g->x.n, ow = g->x.out, sy = g->y.s, sx = g->x.s;
    for (size_t oy = 0; oy < g->y.out; oy++) {
        const size_t base = oy * sy * w;
        const double *r0 = x + base, *r1 = r0 + w;
        for (size_t ox = 0; ox < ow; ox++) {
            const size_t i0 = ox * sx;
            const double v0 = r0[i0], v1 = r0[i0 + 1], v2 = r1[i0], v3 = r1[i0 + 1];
            double r;
            size_t at;
            const double sum = (v0 + v1) + (v2 + v3);
            if (sum == sum) {
                const double m01 = v1 > v0 ? v1 : v0, m23 = v3 > v2 ? v3 : v2;
                const size_t a01 = v1 > v0 ? i0 + 1 : i0, a23 = v3 > v2 ? w + i0 + 1 : w + i0;
                r = m23 > m01 ? m23 : m01;
                at = base + (m23 > m01 ? a23 : a01);
            } else {
                r = v0;
                uint64_t rb = bits_of(r);
                at = base + i0;
                MAX_TAKE(r, rb, at, v1, base + i0 + 1);
                MAX_TAKE(r, rb, at, v2, base + w + i0);
                MAX_TAKE(r, rb, at, v3, base + w + i0 + 1);
            }
            y[oy * ow + ox] = r;
            if (argmax != NULL) argmax[oy * ow + ox] = (uint32_t)at;
        }
    }
}

/* One plane: y = pool(x), and for max pooling argmax (may be NULL). */
static void pool_plane(const pool_geom *g, nnla_pool_kind kind, const double *x, double *y, uint32_t *argmax)
{
    const size_t w = g->x.n;
    if (kind == NNLA_POOL_MAX && whole_2x2(g)) {
        max2x2_plane(g, x, y, argmax);
        return;
    }
    for (size_t oy = 0; oy < g->y.out; oy++) {
        size_t y0, y1, ey;
        axis_window(&g->y, oy, &y0, &y1, &ey);
        for (size_t ox = 0; ox < g->x.out; ox++) {
            size_t x0, x1, ex;
            axis_window(&g->x, ox, &x0, &x1, &ex);
            double r;
            if (kind == NNLA_POOL_MAX) {
                size_t at = y0 * w + x0;
                r = -INFINITY;
                uint64_t rb = bits_of(r);
                for (size_t iy = y0; iy < y1; iy++) {
                    const double *row = x + iy * w;
                    for (size_t ix = x0; ix < x1; ix++) MAX_TAKE(r, rb, at, row[ix], iy * w + ix);
                }
                if (argmax != NULL) argmax[oy * g->x.out + ox] = (uint32_t)at;
            } else {
                double s = 0.0;
                for (size_t iy = y0; iy < y1; iy++) {
                    const double *row = x + iy * w;
                    for (size_t ix = x0; ix < x1; ix++) s += row[ix];
                }
                r = s / divisor(g, y0, y1, ey, x0, x1, ex);
            }
            y[oy * g->x.out + ox] = r;
        }
    }
}

/* Planes and bytes of a batch's input and output; NNLA_EDIM / NNLA_EOVERFLOW. */
static nnla_status batch_bytes(const pool_geom *g, size_t batch, size_t channels, size_t *planes, size_t *xb,
                               size_t *yb)
{
    if (batch == 0 || channels == 0) return NNLA_EDIM;
    if (!nnla__mul(batch, channels, planes) || !nnla__mul(*planes, g->hw, xb) ||
        !nnla__mul(*xb, sizeof(double), xb) || !nnla__mul(*planes, g->p, yb) || !nnla__mul(*yb, sizeof(double), yb))
        return NNLA_EOVERFLOW;
    return NNLA_OK;
}

/* The work of a pass over `planes` planes, in element reads and writes: every window's entries plus
 * the input plane (what decides whether threads pay, NNLA_POOL_PAR_MIN). */
static double window_work(const pool_geom *g, size_t planes)
{
    return (double)planes * ((double)g->p * (double)g->y.k * (double)g->x.k + (double)g->hw);
}

nnla_status nnla_pool2d_forward(const nnla_pool2d_desc *d, size_t batch, size_t channels, size_t in_h,
                                size_t in_w, const double *x, double *y)
{
    if (d == NULL || x == NULL || y == NULL) return NNLA_ENULL;
    pool_geom g;
    NNLA__TRY(pool_geom_make(d, in_h, in_w, &g));
    size_t planes, xb, yb;
    NNLA__TRY(batch_bytes(&g, batch, channels, &planes, &xb, &yb));
    if (nnla__overlap(x, xb, y, yb)) return NNLA_EALIAS;
    const int n = pool_threads(window_work(&g, planes));
    const long np = (long)planes;
    POOL_FOR(n, np, i, { pool_plane(&g, d->kind, x + (size_t)i * g.hw, y + (size_t)i * g.p, NULL); });
    pool_threads_end(n);
    return NNLA_OK;
}

nnla_status nnla_pool2d_forward_argmax(const nnla_pool2d_desc *d, size_t batch, size_t channels, size_t in_h,
                                       size_t in_w, const double *x, double *y, uint32_t *argmax)
{
    if (d == NULL || x == NULL || y == NULL || argmax == NULL) return NNLA_ENULL;
    pool_geom g;
    NNLA__TRY(pool_geom_make(d, in_h, in_w, &g));
    if (d->kind != NNLA_POOL_MAX) return NNLA_EINVAL;
    size_t planes, xb, yb, ab;
    NNLA__TRY(batch_bytes(&g, batch, channels, &planes, &xb, &yb));
    if (g.hw > UINT32_MAX) return NNLA_EOVERFLOW;
    ab = yb / sizeof(double) * sizeof(uint32_t);
    if (nnla__overlap(x, xb, y, yb) || nnla__overlap(argmax, ab, x, xb) || nnla__overlap(argmax, ab, y, yb))
        return NNLA_EALIAS;
    const int n = pool_threads(window_work(&g, planes));
    const long np = (long)planes;
    POOL_FOR(n, np, i, {
        pool_plane(&g, d->kind, x + (size_t)i * g.hw, y + (size_t)i * g.p, argmax + (size_t)i * g.p);
    });
    pool_threads_end(n);
    return NNLA_OK;
}

/* Whether every argmax entry of a plane lies in its output's window. */
static int argmax_valid(const pool_geom *g, const uint32_t *am)
{
    const size_t w = g->x.n;
    if (whole_2x2(g)) { /* one of the window's four entries: offset 0, 1, w or w + 1 from its first */
        int ok = 1;
        for (size_t oy = 0; oy < g->y.out; oy++)
            for (size_t ox = 0; ox < g->x.out; ox++) {
                size_t off = (size_t)am[oy * g->x.out + ox] - (oy * g->y.s * w + ox * g->x.s); /* wraps if below */
                ok &= off <= 1 || off - w <= 1;
            }
        return ok;
    }
    for (size_t oy = 0; oy < g->y.out; oy++) {
        size_t y0, y1, ey;
        axis_window(&g->y, oy, &y0, &y1, &ey);
        for (size_t ox = 0; ox < g->x.out; ox++) {
            size_t x0, x1, ex, a = am[oy * g->x.out + ox];
            axis_window(&g->x, ox, &x0, &x1, &ex);
            size_t iy = a / w, ix = a % w;
            if (iy < y0 || iy >= y1 || ix < x0 || ix >= x1) return 0;
        }
    }
    return 1;
}

/* One plane of the backward pass: dx (zeroed by the caller) += the windows' share of dy. */
static void pool_plane_backward(const pool_geom *g, nnla_pool_kind kind, const double *dy, const uint32_t *am,
                                double *dx)
{
    if (kind == NNLA_POOL_MAX) {
        for (size_t o = 0; o < g->p; o++) dx[am[o]] += dy[o];
        return;
    }
    const size_t w = g->x.n;
    for (size_t oy = 0; oy < g->y.out; oy++) {
        size_t y0, y1, ey;
        axis_window(&g->y, oy, &y0, &y1, &ey);
        for (size_t ox = 0; ox < g->x.out; ox++) {
            size_t x0, x1, ex;
            axis_window(&g->x, ox, &x0, &x1, &ex);
            double v = dy[oy * g->x.out + ox] / divisor(g, y0, y1, ey, x0, x1, ex);
            for (size_t iy = y0; iy < y1; iy++) {
                double *row = dx + iy * w;
                for (size_t ix = x0; ix < x1; ix++) row[ix] += v;
            }
        }
    }
}

nnla_status nnla_pool2d_backward(const nnla_pool2d_desc *d, size_t batch, size_t channels, size_t in_h,
                                 size_t in_w, const double *dy, const uint32_t *argmax, double *dx)
{
    return nnla__pool2d_backward(d, batch, channels, in_h, in_w, dy, argmax, dx, 1);
}

nnla_status nnla__pool2d_backward(const nnla_pool2d_desc *d, size_t batch, size_t channels, size_t in_h, size_t in_w,
                                  const double *dy, const uint32_t *argmax, double *dx, int check)
{
    if (d == NULL || dy == NULL || dx == NULL) return NNLA_ENULL;
    pool_geom g;
    NNLA__TRY(pool_geom_make(d, in_h, in_w, &g));
    const int max = d->kind == NNLA_POOL_MAX;
    if (max && argmax == NULL) return NNLA_ENULL;
    size_t planes, xb, yb;
    NNLA__TRY(batch_bytes(&g, batch, channels, &planes, &xb, &yb));
    if (max && g.hw > UINT32_MAX) return NNLA_EOVERFLOW;
    if (nnla__overlap(dx, xb, dy, yb) || (max && nnla__overlap(dx, xb, argmax, yb / sizeof(double) * sizeof(uint32_t))))
        return NNLA_EALIAS;
    const int n = pool_threads(window_work(&g, planes));
    const long np = (long)planes;
    int bad = 0;
    if (max && check) {
        if (n > 1) {
#pragma omp parallel for schedule(static) num_threads(n) reduction(| : bad)
            for (long i = 0; i < np; i++) bad |= !argmax_valid(&g, argmax + (size_t)i * g.p);
        } else {
            for (long i = 0; i < np; i++) bad |= !argmax_valid(&g, argmax + (size_t)i * g.p);
        }
    }
    if (bad) {
        pool_threads_end(n);
        return NNLA_EINVAL;
    }
    POOL_FOR(n, np, i, {
        double *dxi = dx + (size_t)i * g.hw;
        memset(dxi, 0, g.hw * sizeof *dxi);
        pool_plane_backward(&g, d->kind, dy + (size_t)i * g.p, max ? argmax + (size_t)i * g.p : NULL, dxi);
    });
    pool_threads_end(n);
    return NNLA_OK;
}

/* Planes, plane size and bytes of a global pooling's input; NNLA_EDIM / NNLA_EOVERFLOW. */
static nnla_status global_sizes(size_t batch, size_t channels, size_t h, size_t w, size_t *planes,
                                size_t *plane, size_t *xb, size_t *yb)
{
    if (batch == 0 || channels == 0 || h == 0 || w == 0) return NNLA_EDIM;
    if (!nnla__mul(batch, channels, planes) || !nnla__mul(h, w, plane) || !nnla__mul(*planes, *plane, xb) ||
        !nnla__mul(*xb, sizeof(double), xb) || !nnla__mul(*planes, sizeof(double), yb))
        return NNLA_EOVERFLOW;
    return NNLA_OK;
}

nnla_status nnla_global_avgpool2d(size_t batch, size_t channels, size_t h, size_t w, const double *x,
                                  double *y)
{
    if (x == NULL || y == NULL) return NNLA_ENULL;
    size_t planes, plane, xb, yb;
    NNLA__TRY(global_sizes(batch, channels, h, w, &planes, &plane, &xb, &yb));
    if (nnla__overlap(x, xb, y, yb)) return NNLA_EALIAS;
    const double inv = 1.0 / (double)plane;
    const int n = pool_threads((double)planes * (double)plane);
    const long np = (long)planes;
    POOL_FOR(n, np, i, {
        const double *p = x + (size_t)i * plane;
        double s = 0.0;
        for (size_t t = 0; t < plane; t++) s += p[t];
        y[i] = s * inv;
    });
    pool_threads_end(n);
    return NNLA_OK;
}

nnla_status nnla_global_avgpool2d_backward(size_t batch, size_t channels, size_t h, size_t w, const double *dy,
                                           double *dx)
{
    if (dy == NULL || dx == NULL) return NNLA_ENULL;
    size_t planes, plane, xb, yb;
    NNLA__TRY(global_sizes(batch, channels, h, w, &planes, &plane, &xb, &yb));
    if (nnla__overlap(dx, xb, dy, yb)) return NNLA_EALIAS;
    const double inv = 1.0 / (double)plane;
    const int n = pool_threads((double)planes * (double)plane);
    const long np = (long)planes;
    POOL_FOR(n, np, i, {
        const double v = dy[i] * inv;
        double *p = dx + (size_t)i * plane;
        for (size_t t = 0; t < plane; t++) p[t] = v;
    });
    pool_threads_end(n);
    return NNLA_OK;
}
