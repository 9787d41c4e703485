/*
 * Max and average pooling, global average pooling, on NCHW batches.
 *
 * Conventions are PyTorch's (ceil_mode=False): max pooling never picks padding,
 * average pooling divides by the full window (count_include_pad=True), padding is at
 * most half the kernel so every window holds at least one input entry. A NaN in a
 * window gives NaN (max pooling included, as torch.nn.functional.max_pool2d does).
 */
#include <math.h>

#include "internal.h"

typedef struct pool_geom {
    size_t kh, kw, sh, sw, ph, pw;
    size_t h, w, oh, ow;
} pool_geom;

static nnla_status pool_geom_make(const nnla_pool2d_desc *d, size_t in_h, size_t in_w, pool_geom *g)
{
    if (d == NULL) return NNLA_ENULL;
    if (d->kind != NNLA_POOL_MAX && d->kind != NNLA_POOL_AVG) return NNLA_EINVAL;
    if (d->kernel_h == 0 || d->kernel_w == 0 || d->stride_h == 0 || d->stride_w == 0 || in_h == 0 ||
        in_w == 0)
        return NNLA_EDIM;
    if (d->pad_h > d->kernel_h / 2 || d->pad_w > d->kernel_w / 2) return NNLA_EINVAL;
    size_t ph2, pw2;
    if (!nnla__add(in_h, 2 * d->pad_h, &ph2) || !nnla__add(in_w, 2 * d->pad_w, &pw2)) return NNLA_EOVERFLOW;
    if (d->kernel_h > ph2 || d->kernel_w > pw2) return NNLA_ESHAPE;
    g->kh = d->kernel_h;
    g->kw = d->kernel_w;
    g->sh = d->stride_h;
    g->sw = d->stride_w;
    g->ph = d->pad_h;
    g->pw = d->pad_w;
    g->h = in_h;
    g->w = in_w;
    g->oh = (ph2 - g->kh) / g->sh + 1;
    g->ow = (pw2 - g->kw) / g->sw + 1;
    return NNLA_OK;
}

nnla_status nnla_pool2d_output_size(const nnla_pool2d_desc *d, size_t in_h, size_t in_w, size_t *out_h,
                                    size_t *out_w)
{
    if (d == NULL || out_h == NULL || out_w == NULL) return NNLA_ENULL;
    pool_geom g;
    NNLA__TRY(pool_geom_make(d, in_h, in_w, &g));
    *out_h = g.oh;
    *out_w = g.ow;
    return NNLA_OK;
}

/* The window [o*s - pad, o*s - pad + k) clipped to [0, n): the input interval [*lo, *hi). */
static void window(size_t o, size_t s, size_t pad, size_t k, size_t n, size_t *lo, size_t *hi)
{
    size_t start = o * s; /* window start + pad */
    size_t l = start < pad ? 0 : start - pad;
    size_t h = start + k - pad; /* >= 1: pad <= k/2 */
    if (h > n) h = n;
    *lo = l;
    *hi = h;
}

static void pool_plane(const pool_geom *g, nnla_pool_kind kind, const double *x, double *y)
{
    const double inv = 1.0 / ((double)g->kh * (double)g->kw);
    for (size_t oy = 0; oy < g->oh; oy++) {
        size_t y0, y1;
        window(oy, g->sh, g->ph, g->kh, g->h, &y0, &y1);
        for (size_t ox = 0; ox < g->ow; ox++) {
            size_t x0, x1;
            window(ox, g->sw, g->pw, g->kw, g->w, &x0, &x1);
            double r;
            if (kind == NNLA_POOL_MAX) {
                r = -INFINITY;
                for (size_t iy = y0; iy < y1; iy++) {
                    const double *row = x + iy * g->w;
                    for (size_t ix = x0; ix < x1; ix++) {
                        double v = row[ix];
                        if (v > r || v != v) r = v; /* once NaN, r stays NaN */
                    }
                }
            } else {
                double s = 0.0;
                for (size_t iy = y0; iy < y1; iy++) {
                    const double *row = x + iy * g->w;
                    for (size_t ix = x0; ix < x1; ix++) s += row[ix];
                }
                r = s * inv;
            }
            y[oy * g->ow + ox] = r;
        }
    }
}

nnla_status nnla_pool2d_forward(const nnla_pool2d_desc *d, size_t batch, size_t channels, size_t in_h,
                                size_t in_w, const double *x, double *y)
{
    if (d == NULL || x == NULL || y == NULL) return NNLA_ENULL;
    pool_geom g;
    NNLA__TRY(pool_geom_make(d, in_h, in_w, &g));
    if (batch == 0 || channels == 0) return NNLA_EDIM;
    size_t planes, in_plane, out_plane, xb, yb;
    if (!nnla__mul(batch, channels, &planes) || !nnla__mul(g.h, g.w, &in_plane) ||
        !nnla__mul(g.oh, g.ow, &out_plane) || !nnla__mul(planes, in_plane, &xb) ||
        !nnla__mul(xb, sizeof(double), &xb) || !nnla__mul(planes, out_plane, &yb) ||
        !nnla__mul(yb, sizeof(double), &yb))
        return NNLA_EOVERFLOW;
    if (nnla__overlap(x, xb, y, yb)) return NNLA_EALIAS;
    for (size_t i = 0; i < planes; i++) pool_plane(&g, d->kind, x + i * in_plane, y + i * out_plane);
    return NNLA_OK;
}

nnla_status nnla_global_avgpool2d(size_t batch, size_t channels, size_t h, size_t w, const double *x,
                                  double *y)
{
    if (x == NULL || y == NULL) return NNLA_ENULL;
    if (batch == 0 || channels == 0 || h == 0 || w == 0) return NNLA_EDIM;
    size_t planes, plane, xb, yb;
    if (!nnla__mul(batch, channels, &planes) || !nnla__mul(h, w, &plane) || !nnla__mul(planes, plane, &xb) ||
        !nnla__mul(xb, sizeof(double), &xb) || !nnla__mul(planes, sizeof(double), &yb))
        return NNLA_EOVERFLOW;
    if (nnla__overlap(x, xb, y, yb)) return NNLA_EALIAS;
    const double inv = 1.0 / (double)plane;
    for (size_t i = 0; i < planes; i++) {
        const double *p = x + i * plane;
        double s = 0.0;
        for (size_t t = 0; t < plane; t++) s += p[t];
        y[i] = s * inv;
    }
    return NNLA_OK;
}
