/*
 * 2-D convolution by im2col and GEMM, on NCHW batches; im2col and its adjoint col2im.
 *
 * The forward pass works in chunks of the batch's output columns (image, output pixel):
 * a chunk is either a band of output rows of one image or several whole images. For each
 * chunk and group it builds the column matrix in the workspace, multiplies W_g by it with
 * cblas_dgemm, and runs bias + activation over the result while it is still in cache:
 *   - one image (or a band of its rows) per chunk: the GEMM writes straight into the NCHW
 *     output (ldc = out_h*out_w, at the band's column offset) and the pass is in place;
 *   - several whole images per chunk (images of fewer than NNLA_CONV_TARGET_COLS output
 *     pixels, NNLA_CONV_TARGET_COLS_NOSPLIT without the kernel-row split): one wider GEMM
 *     into a scratch block [out/groups][images*out_h*out_w], and the pass copies it into
 *     the images' NCHW planes. The copy costs what the in-place pass
 *     costs, and the wider GEMM runs faster.
 * Chunks are sized so the column matrix stays within NNLA_CONV_COL_BYTES (the GEMM wants
 * many columns, the caches want few); a caller workspace below nnla_conv2d_workspace_size()
 * shrinks the bands down to one output row.
 *
 * Kernel-row split (stride_h 1, enough input channels): the column matrix of a band holds
 * only the rows (channel, kernel column) over the band's padded input rows; kernel row i
 * is the same matrix shifted by i*dilation_h*out_w columns, so the band is kernel_h GEMMs
 * accumulating into the output (beta = 1), with the weights repacked per kernel row. im2col
 * writes kernel_h times fewer bytes and the GEMMs, each with in/groups*kernel_w >= 64 inner
 * dimension, run as fast as the single one (measured: within 1-4%). im2col is the part of
 * the convolution that does not scale: BLAS runs on all the cores, im2col on one.
 *
 * A 1x1, stride-1, unpadded convolution skips im2col: each image's [in][h*w] block is the
 * column matrix, and the GEMM covers the whole image (up to NNLA_CONV_DIRECT_BYTES of output,
 * then column bands). Bands of ~2 MiB, which keep the bias + activation pass in cache, were
 * measured 13-22% slower overall than one GEMM per image: fewer, larger GEMMs win.
 *
 * im2col copies runs: with horizontal padding, each channel's input rows are first copied
 * once into a zero-padded row buffer, and every output row of every kernel tap is then one
 * copy (stride 1) from it; otherwise the valid output columns of a tap form one interval
 * computed once, and the run is a zero fill, a copy and a zero fill. No per-element bounds
 * checks either way.
 */
#include <cblas.h>
#include <string.h>

#include "internal.h"

/* Chunk sizing (see the file comment and docs/conv.md). */
#ifndef NNLA_CONV_TARGET_COLS
#define NNLA_CONV_TARGET_COLS 1024 /* batch images whose out_h*out_w is below this ... */
#endif
#ifndef NNLA_CONV_TARGET_COLS_NOSPLIT
#define NNLA_CONV_TARGET_COLS_NOSPLIT 4096 /* ... or below this when the kernel-row split does not apply */
#endif
#ifndef NNLA_CONV_COL_BYTES
#define NNLA_CONV_COL_BYTES ((size_t)16 << 20) /* cap on the column matrix of one chunk */
#endif
#ifndef NNLA_CONV_KSPLIT_MIN_K
#define NNLA_CONV_KSPLIT_MIN_K 64 /* kernel-row split from in/groups*kernel_w >= this */
#endif
#ifndef NNLA_CONV_DIRECT_BYTES
#define NNLA_CONV_DIRECT_BYTES ((size_t)8 << 20) /* 1x1 path: output band per GEMM, bytes */
#endif

/* ------------------------------------------------------------------ geometry */

typedef struct conv_geom {
    size_t c, m, groups, cg, mg; /* channels in/out, groups, per group */
    size_t kh, kw, sh, sw, ph, pw, dh, dw;
    size_t h, w, oh, ow; /* input and output image size */
    size_t hw, p;        /* in_h*in_w, out_h*out_w */
    size_t kg;           /* rows of one group's column matrix: cg*kh*kw */
    size_t k;            /* rows of one image's full column matrix: c*kh*kw */
    int direct;          /* 1x1, stride 1, no padding: the input is the column matrix */
} conv_geom;

/* Output length along one axis; NNLA_ESHAPE when the dilated kernel exceeds the padded input. */
static nnla_status axis_out(size_t in, size_t k, size_t s, size_t pad, size_t dil, size_t *out)
{
    size_t padded, span;
    if (!nnla__mul(pad, 2, &padded) || !nnla__add(padded, in, &padded)) return NNLA_EOVERFLOW;
    /* span = dil*(k-1)+1; when it overflows it certainly exceeds the padded input */
    if (!nnla__mul(dil, k - 1, &span) || !nnla__add(span, 1, &span)) return NNLA_ESHAPE;
    if (span > padded) return NNLA_ESHAPE;
    *out = (padded - span) / s + 1;
    return NNLA_OK;
}

/* Check a descriptor and an image size and fill the geometry. */
static nnla_status geom_make(const nnla_conv2d_desc *d, size_t in_h, size_t in_w, conv_geom *g)
{
    if (d == NULL) return NNLA_ENULL;
    if (d->in_channels == 0 || d->out_channels == 0 || d->kernel_h == 0 || d->kernel_w == 0 ||
        d->stride_h == 0 || d->stride_w == 0 || d->dilation_h == 0 || d->dilation_w == 0 || d->groups == 0 ||
        in_h == 0 || in_w == 0)
        return NNLA_EDIM;
    if (d->in_channels % d->groups != 0 || d->out_channels % d->groups != 0) return NNLA_EDIM;
    conv_geom t;
    t.c = d->in_channels;
    t.m = d->out_channels;
    t.groups = d->groups;
    t.cg = t.c / t.groups;
    t.mg = t.m / t.groups;
    t.kh = d->kernel_h;
    t.kw = d->kernel_w;
    t.sh = d->stride_h;
    t.sw = d->stride_w;
    t.ph = d->pad_h;
    t.pw = d->pad_w;
    t.dh = d->dilation_h;
    t.dw = d->dilation_w;
    t.h = in_h;
    t.w = in_w;
    NNLA__TRY(axis_out(t.h, t.kh, t.sh, t.ph, t.dh, &t.oh));
    NNLA__TRY(axis_out(t.w, t.kw, t.sw, t.pw, t.dw, &t.ow));
    size_t khw, bytes;
    if (!nnla__mul(t.h, t.w, &t.hw) || !nnla__mul(t.oh, t.ow, &t.p) || !nnla__mul(t.kh, t.kw, &khw) ||
        !nnla__mul(t.cg, khw, &t.kg) || !nnla__mul(t.c, khw, &t.k))
        return NNLA_EOVERFLOW;
    /* one image's input and full column matrix, in bytes */
    if (!nnla__mul(t.c, t.hw, &bytes) || !nnla__mul(bytes, sizeof(double), &bytes) ||
        !nnla__mul(t.k, t.p, &bytes) || !nnla__mul(bytes, sizeof(double), &bytes))
        return NNLA_EOVERFLOW;
    t.direct = t.kh == 1 && t.kw == 1 && t.sh == 1 && t.sw == 1 && t.ph == 0 && t.pw == 0;
    *g = t;
    return NNLA_OK;
}

nnla_conv2d_desc nnla_conv2d_desc_make(size_t in_channels, size_t out_channels, size_t kernel_h,
                                       size_t kernel_w)
{
    nnla_conv2d_desc d;
    d.in_channels = in_channels;
    d.out_channels = out_channels;
    d.kernel_h = kernel_h;
    d.kernel_w = kernel_w;
    d.stride_h = d.stride_w = 1;
    d.pad_h = d.pad_w = 0;
    d.dilation_h = d.dilation_w = 1;
    d.groups = 1;
    return d;
}

nnla_status nnla_conv2d_output_size(const nnla_conv2d_desc *d, size_t in_h, size_t in_w, size_t *out_h,
                                    size_t *out_w)
{
    if (d == NULL || out_h == NULL || out_w == NULL) return NNLA_ENULL;
    conv_geom g;
    NNLA__TRY(geom_make(d, in_h, in_w, &g));
    *out_h = g.oh;
    *out_w = g.ow;
    return NNLA_OK;
}

/* ------------------------------------------------------------------ the plan */

/*
 * How nnla_conv2d_forward() cuts the batch (not the direct 1x1 path, which needs no
 * workspace and cuts each image into column bands itself). Three kinds:
 *   PLAN_MULTI   nimg > 1 whole images per chunk, their column matrices side by side, one GEMM
 *                into the scratch block `tmp`, copied out by the bias + activation pass;
 *   PLAN_BANDS   bands of `rows` output rows of one image, one GEMM straight into y;
 *   PLAN_KSPLIT  (stride_h 1) bands of one image whose column matrix holds only the kernel
 *                columns: row c*kw + j, over the band's rows + (kh-1)*dh padded input rows.
 *                Kernel row i is then the same matrix shifted by i*dh*ow columns, so the
 *                convolution is kh accumulating GEMMs over it with the weights repacked per
 *                kernel row (wrep[i][m][c*kw + j] = w[m][c][i][j]): kh times fewer bytes of
 *                im2col, and GEMMs that lose nothing measurable once in_channels/groups*kw >=
 *                NNLA_CONV_KSPLIT_MIN_K.
 */
typedef enum { PLAN_MULTI, PLAN_BANDS, PLAN_KSPLIT } plan_kind;

typedef struct conv_plan {
    plan_kind kind;
    size_t nimg;              /* whole images per chunk (PLAN_MULTI), else 1 */
    size_t rows;              /* output rows per chunk (out_h for PLAN_MULTI) */
    size_t cols;              /* GEMM columns per chunk: nimg*p, or rows*ow */
    size_t kdim;              /* GEMM inner dimension: kg, or cg*kw for PLAN_KSPLIT */
    size_t ldcol;             /* row stride of the column matrix */
    size_t ncol, ntmp, nwrep; /* doubles of the column matrix, scratch block, repacked weights */
    size_t prows;             /* rows of the horizontally padded input buffer (0: none, pad_w == 0) */
    size_t bytes;             /* workspace it needs */
} conv_plan;

/* Padded row length: in_w + 2 pad_w (fits size_t: checked by geom_make). */
static size_t padded_w(const conv_geom *g) { return g->w + 2 * g->pw; }

/* Input rows a band of `rows` output rows reads, at most the image's height. */
static size_t band_in_rows(const conv_geom *g, size_t rows)
{
    /* (rows-1)*sh + (kh-1)*dh + 1 <= the padded height, which fits size_t (geom_make) */
    size_t r = (rows - 1) * g->sh + (g->kh - 1) * g->dh + 1;
    return r < g->h ? r : g->h;
}

static int ksplit_ok(const conv_geom *g)
{
    return g->sh == 1 && g->kh > 1 && g->cg * g->kw >= NNLA_CONV_KSPLIT_MIN_K;
}

/* Fill a plan's sizes for `nimg` images or `rows` rows per chunk; 0 on overflow. */
static int plan_sizes(const conv_geom *g, plan_kind kind, size_t nimg, size_t rows, conv_plan *pl)
{
    size_t t, total = 0, span = rows; /* span: padded input rows of the column matrix (KSPLIT) */
    pl->kind = kind;
    pl->nimg = kind == PLAN_MULTI ? nimg : 1;
    pl->rows = kind == PLAN_MULTI ? g->oh : rows;
    pl->kdim = kind == PLAN_KSPLIT ? g->cg * g->kw : g->kg;
    if (kind == PLAN_KSPLIT) span = rows + (g->kh - 1) * g->dh; /* <= the padded height */
    if (kind == PLAN_MULTI) {
        if (!nnla__mul(g->p, nimg, &pl->cols)) return 0;
        pl->ldcol = pl->cols;
    } else {
        pl->cols = rows * g->ow; /* <= p */
        if (!nnla__mul(span, g->ow, &pl->ldcol)) return 0;
    }
    if (!nnla__mul(pl->kdim, pl->ldcol, &pl->ncol)) return 0;
    pl->ntmp = 0;
    if (kind == PLAN_MULTI && !nnla__mul(g->mg, pl->cols, &pl->ntmp)) return 0;
    pl->nwrep = 0;
    if (kind == PLAN_KSPLIT && !nnla__mul(g->mg, g->kg, &pl->nwrep)) return 0;
    pl->prows = 0;
    if (g->pw > 0) {
        if (kind == PLAN_KSPLIT)
            pl->prows = span < g->h ? span : g->h;
        else
            pl->prows = band_in_rows(g, pl->rows);
    }
    size_t pieces[4] = {pl->ncol, pl->ntmp, pl->nwrep, 0};
    if (pl->prows > 0 && !nnla__mul(pl->prows, padded_w(g), &pieces[3])) return 0;
    for (int i = 0; i < 4; i++)
        if (pieces[i] > 0 && (!nnla__mul(pieces[i], sizeof(double), &t) || !nnla__ws_piece(t, &total)))
            return 0;
    pl->bytes = total;
    return 1;
}

/* Whether a plan's sizes are valid, fit `avail` bytes and BLAS's int. */
static int plan_fits(const conv_geom *g, plan_kind kind, size_t nimg, size_t rows, size_t avail,
                     conv_plan *pl)
{
    return plan_sizes(g, kind, nimg, rows, pl) && pl->bytes <= avail && nnla__fits_int(pl->cols) &&
           nnla__fits_int(pl->ldcol) && nnla__fits_int(pl->kdim);
}

/* Spread n items over the fewest chunks of at most `most`: the chunk size that evens them out. */
static size_t even_out(size_t n, size_t most)
{
    size_t chunks = (n + most - 1) / most;
    return (n + chunks - 1) / chunks;
}

/* Bands of one image: the most rows up to `most` that fit, evened out; 0 when one row does not fit. */
static size_t fit_rows(const conv_geom *g, plan_kind kind, size_t most, size_t avail, conv_plan *pl)
{
    if (!plan_fits(g, kind, 1, 1, avail, pl)) return 0;
    size_t lo = 1, hi = most; /* lo fits */
    if (plan_fits(g, kind, 1, hi, avail, pl)) {
        lo = hi;
    } else {
        while (hi - lo > 1) { /* hi does not fit; bytes grow with rows */
            size_t mid = lo + (hi - lo) / 2;
            if (plan_fits(g, kind, 1, mid, avail, pl))
                lo = mid;
            else
                hi = mid;
        }
    }
    size_t rows = even_out(g->oh, lo);
    return plan_fits(g, kind, 1, rows, avail, pl) ? rows : 0;
}

/*
 * The plan for a workspace of `avail` bytes (SIZE_MAX: the preferred plan): several small
 * images per GEMM, else bands of one image (kernel-row split when it applies) with their
 * column matrix under NNLA_CONV_COL_BYTES; a smaller workspace gets fewer images, then
 * thinner bands, down to one output row of the plain im2col. NNLA_EWORKSPACE below that.
 */
static nnla_status plan_make(const conv_geom *g, size_t batch, size_t avail, conv_plan *pl)
{
    conv_plan one;
    if (!plan_sizes(g, PLAN_BANDS, 1, 1, &one)) return NNLA_EOVERFLOW;
    if (!nnla__fits_int(one.cols) || !nnla__fits_int(one.ldcol) || !nnla__fits_int(one.kdim))
        return NNLA_EOVERFLOW;
    if (avail < one.bytes) return NNLA_EWORKSPACE;

    /* Several images per chunk when one image is narrower than the target. The target is
     * higher when the kernel-row split does not apply: those GEMMs have a small inner
     * dimension (few input channels), and BLAS runs them faster the more columns they get
     * (measured: 4096 columns 13-20% faster than 1024 for 32x32 images of 3 channels). */
    const size_t target = ksplit_ok(g) ? NNLA_CONV_TARGET_COLS : NNLA_CONV_TARGET_COLS_NOSPLIT;
    if (g->p < target && batch > 1) {
        size_t nimg = (target + g->p - 1) / g->p, per;
        if (nimg > batch) nimg = batch;
        /* the column matrix and the scratch block under the cap */
        if (!nnla__add(g->kg, g->mg, &per) || !nnla__mul(per, g->p, &per) ||
            !nnla__mul(per, sizeof(double), &per))
            nimg = 1;
        else if (nimg > NNLA_CONV_COL_BYTES / per)
            nimg = NNLA_CONV_COL_BYTES / per;
        if (nimg > 1) nimg = even_out(batch, nimg);
        for (; nimg > 1; nimg--)
            if (plan_fits(g, PLAN_MULTI, nimg, 0, avail, pl)) return NNLA_OK;
    }
    /* Bands of one image. */
    plan_kind kinds[2] = {PLAN_KSPLIT, PLAN_BANDS};
    for (int k = ksplit_ok(g) ? 0 : 1; k < 2; k++) {
        size_t per_row = (kinds[k] == PLAN_KSPLIT ? g->cg * g->kw : g->kg) * g->ow * sizeof(double);
        size_t most = NNLA_CONV_COL_BYTES / per_row; /* per_row <= one.bytes: no overflow */
        if (most < 1) most = 1;
        if (most > g->oh) most = g->oh;
        if (fit_rows(g, kinds[k], most, avail, pl) > 0) return NNLA_OK;
    }
    return NNLA_EWORKSPACE; /* cannot happen: one row of PLAN_BANDS fits */
}

/* Check the GEMM dimensions that do not depend on the plan. */
static nnla_status check_blas_dims(const conv_geom *g)
{
    if (!nnla__fits_int(g->mg) || !nnla__fits_int(g->kg) || !nnla__fits_int(g->p)) return NNLA_EOVERFLOW;
    return NNLA_OK;
}

nnla_status nnla_conv2d_workspace_size(const nnla_conv2d_desc *d, size_t batch, size_t in_h, size_t in_w,
                                       size_t *bytes)
{
    if (d == NULL || bytes == NULL) return NNLA_ENULL;
    conv_geom g;
    NNLA__TRY(geom_make(d, in_h, in_w, &g));
    if (batch == 0) return NNLA_EDIM;
    NNLA__TRY(check_blas_dims(&g));
    if (g.direct) {
        *bytes = 0;
        return NNLA_OK;
    }
    conv_plan pl;
    NNLA__TRY(plan_make(&g, batch, SIZE_MAX, &pl));
    *bytes = pl.bytes;
    return NNLA_OK;
}

nnla_status nnla_conv2d_workspace_min(const nnla_conv2d_desc *d, size_t in_h, size_t in_w, size_t *bytes)
{
    if (d == NULL || bytes == NULL) return NNLA_ENULL;
    conv_geom g;
    NNLA__TRY(geom_make(d, in_h, in_w, &g));
    NNLA__TRY(check_blas_dims(&g));
    if (g.direct) {
        *bytes = 0;
        return NNLA_OK;
    }
    conv_plan one;
    if (!plan_sizes(&g, PLAN_BANDS, 1, 1, &one)) return NNLA_EOVERFLOW;
    *bytes = one.bytes;
    return NNLA_OK;
}

/* ------------------------------------------------------------------ im2col kernels */

/*
 * The output positions o in [0, out) whose input index o*s + off - pad lies in [0, n):
 * the interval [*lo, *hi). n + 2 pad does not overflow (checked by geom_make).
 */
static void valid_range(size_t out, size_t n, size_t s, size_t pad, size_t off, size_t *lo, size_t *hi)
{
    size_t l = off < pad ? (pad - off + s - 1) / s : 0;
    size_t h = n - 1 + pad < off ? 0 : (n - 1 + pad - off) / s + 1;
    if (h > out) h = out;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

static inline void zero_run(double *d, size_t n)
{
    for (size_t i = 0; i < n; i++) d[i] = 0.0;
}

/* A run of n output columns from a (padded) input row: src[t*s] for t < n. */
static inline void copy_run(double *dst, const double *src, size_t n, size_t s)
{
    if (s == 1) {
        nnla__copy(dst, src, n);
    } else {
        for (size_t t = 0; t < n; t++) dst[t] = src[t * s];
    }
}

/*
 * Column matrix of channels [0, nc) of one image x (planes of h*w), output rows [oy0, oy1):
 * row (c*kh + i)*kw + j of col (row stride ldc) holds, at column (oy - oy0)*ow + ox, the
 * input x[c][oy*sh - ph + i*dh][ox*sw - pw + j*dw] or 0 outside the image.
 *
 * pbuf, when not NULL (pad_w > 0), has room for band_in_rows(oy1 - oy0) rows of padded_w():
 * each channel's input rows are first copied there between pad_w zeros on either side, so
 * each run of the column matrix is then a plain copy with no edge handling. Without it the
 * valid columns of each kernel tap are computed and the edges zero-filled. Rows of the
 * column matrix are written in order (channel, then kernel tap), and each channel's input
 * is read while it is in cache.
 */
static void im2col_rows(const conv_geom *g, const double *x, size_t nc, size_t oy0, size_t oy1, double *col,
                        size_t ldc, double *pbuf)
{
    const size_t ow = g->ow, w = g->w, sw = g->sw, pw = g->pw;
    const int padded = pbuf != NULL && pw > 0;
    /* the input rows [r0, r1) the band reads, clipped to the image */
    size_t r0 = oy0 * g->sh > g->ph ? oy0 * g->sh - g->ph : 0;
    size_t r1 = (oy1 - 1) * g->sh + (g->kh - 1) * g->dh + 1; /* padded row index, exclusive */
    r1 = r1 > g->ph ? r1 - g->ph : 0;
    if (r1 > g->h) r1 = g->h;
    const size_t wp = padded_w(g);
    for (size_t c = 0; c < nc; c++) {
        const double *xc = x + c * g->hw;
        /* input row iy (r0 <= iy < r1) starts at base + (iy - row0)*stride */
        const double *base = xc;
        size_t stride = w, row0 = 0;
        if (padded) {
            for (size_t r = r0; r < r1; r++) {
                double *prow = pbuf + (r - r0) * wp;
                zero_run(prow, pw);
                nnla__copy(prow + pw, xc + r * w, w);
                zero_run(prow + pw + w, pw);
            }
            base = pbuf;
            stride = wp;
            row0 = r0;
        }
        for (size_t i = 0; i < g->kh; i++) {
            size_t ylo, yhi;
            valid_range(g->oh, g->h, g->sh, g->ph, i * g->dh, &ylo, &yhi);
            /* clip to the band: oy0 <= ylo <= yhi <= oy1 */
            if (ylo < oy0) ylo = oy0;
            if (ylo > oy1) ylo = oy1;
            if (yhi > oy1) yhi = oy1;
            if (yhi < ylo) yhi = ylo;
            for (size_t j = 0; j < g->kw; j++) {
                double *dst = col + ((c * g->kh + i) * g->kw + j) * ldc;
                size_t xlo = 0, xhi = ow, off = j * g->dw;
                if (!padded) valid_range(ow, w, sw, pw, off, &xlo, &xhi);
                if (ylo == yhi || xlo == xhi) { /* the whole band of this tap reads padding */
                    zero_run(dst, (oy1 - oy0) * ow);
                    continue;
                }
                if (!padded) off = xlo * sw + off - pw; /* input column of output column xlo */
                const double *src = base + (ylo * g->sh + i * g->dh - g->ph - row0) * stride + off;
                const size_t step = g->sh * stride;
                zero_run(dst, (ylo - oy0) * ow);
                dst += (ylo - oy0) * ow;
                if (xlo == 0 && xhi == ow && sw == 1) { /* the padded buffer, or no horizontal padding */
                    for (size_t t = 0; t < yhi - ylo; t++, dst += ow)
                        nnla__copy(dst, src + t * step, ow);
                } else {
                    for (size_t t = 0; t < yhi - ylo; t++, dst += ow) {
                        const double *sr = src + t * step;
                        zero_run(dst, xlo);
                        copy_run(dst + xlo, sr, xhi - xlo, sw);
                        zero_run(dst + xhi, ow - xhi);
                    }
                }
                zero_run(dst, (oy1 - yhi) * ow);
            }
        }
    }
}

/* The adjoint of im2col_rows() over all output rows: x += col scattered back (x planes of h*w). */
static void col2im_add(const conv_geom *g, const double *col, size_t nc, double *x)
{
    const size_t ow = g->ow, w = g->w, sw = g->sw, ldc = g->p;
    for (size_t i = 0; i < g->kh; i++) {
        size_t ylo, yhi;
        valid_range(g->oh, g->h, g->sh, g->ph, i * g->dh, &ylo, &yhi);
        for (size_t j = 0; j < g->kw; j++) {
            size_t xlo, xhi;
            valid_range(ow, w, sw, g->pw, j * g->dw, &xlo, &xhi);
            if (xlo == xhi || ylo == yhi) continue; /* this tap only ever reads padding */
            size_t xoff = xlo * sw + j * g->dw - g->pw;
            size_t nrun = xhi - xlo;
            for (size_t c = 0; c < nc; c++) {
                const double *src = col + ((c * g->kh + i) * g->kw + j) * ldc + ylo * ow + xlo;
                double *xc = x + c * g->hw;
                for (size_t oy = ylo; oy < yhi; oy++, src += ow) {
                    double *dst = xc + (oy * g->sh + i * g->dh - g->ph) * w + xoff;
                    if (sw == 1) {
                        for (size_t t = 0; t < nrun; t++) dst[t] += src[t];
                    } else {
                        for (size_t t = 0; t < nrun; t++) dst[t * sw] += src[t];
                    }
                }
            }
        }
    }
}

nnla_status nnla_im2col(const nnla_conv2d_desc *d, size_t in_h, size_t in_w, const double *x, double *col)
{
    if (d == NULL || x == NULL || col == NULL) return NNLA_ENULL;
    conv_geom g;
    NNLA__TRY(geom_make(d, in_h, in_w, &g));
    if (nnla__overlap(col, g.k * g.p * sizeof(double), x, g.c * g.hw * sizeof(double))) return NNLA_EALIAS;
    im2col_rows(&g, x, g.c, 0, g.oh, col, g.p, NULL);
    return NNLA_OK;
}

nnla_status nnla_col2im(const nnla_conv2d_desc *d, size_t in_h, size_t in_w, const double *col, double *x)
{
    if (d == NULL || x == NULL || col == NULL) return NNLA_ENULL;
    conv_geom g;
    NNLA__TRY(geom_make(d, in_h, in_w, &g));
    if (nnla__overlap(col, g.k * g.p * sizeof(double), x, g.c * g.hw * sizeof(double))) return NNLA_EALIAS;
    memset(x, 0, g.c * g.hw * sizeof *x);
    col2im_add(&g, col, g.c, x);
    return NNLA_OK;
}

/* ------------------------------------------------------------------ bias + activation */

/*
 * dst = act(src + b) over `rows` rows (output channels) of n entries, b per row (may be NULL);
 * src may be dst itself. Row-wise kinds (softmax) only get the bias here: planes_act() applies
 * them over the channels of each pixel once a whole image is done.
 */
static void bias_act(nnla_act act, const double *b, size_t rows, size_t n, const double *src, size_t lds,
                     double *dst, size_t ldd)
{
    if (b == NULL && act.kind == NNLA_ACT_IDENTITY && src == dst) return;
    nnla__act_bias_rows(act, rows, n, src, lds, dst, ldd, b, 1);
}

/* Row-wise kinds: softmax over the `rows` channels of each of the p pixels of one image (PyTorch's
 * dim=1), in place. */
static void planes_act(nnla_act act, size_t rows, size_t p, double *y)
{
    if (!nnla_act_is_rowwise(act.kind)) return;
    nnla__act_forward_nchw(act, 1, rows, p, y, y);
}

/* ------------------------------------------------------------------ forward */

/* out[mg][n] (ldo) = A [mg][k] (lda) x B [k][n] (ldb) + beta out: one GEMM, or a GEMV for one
 * output channel. */
static void group_gemm(size_t mg, size_t k, const double *a, size_t lda, const double *b, size_t ldb,
                       size_t n, double beta, double *out, size_t ldo)
{
    if (mg == 1) {
        cblas_dgemv(CblasRowMajor, CblasTrans, (int)k, (int)n, 1.0, b, (int)ldb, a, 1, beta, out, 1);
    } else {
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)mg, (int)n, (int)k, 1.0, a, (int)lda, b,
                    (int)ldb, beta, out, (int)ldo);
    }
}

/* 1x1, stride 1, no padding: each image's [c][h*w] block is the column matrix. */
static void forward_direct(const conv_geom *g, size_t batch, const double *x, const double *w,
                           const double *bias, nnla_act act, double *y)
{
    size_t band = NNLA_CONV_DIRECT_BYTES / (g->mg * sizeof(double));
    if (band < 256) band = 256;
    if (band >= g->p)
        band = g->p;
    else
        band = even_out(g->p, band);
    for (size_t n = 0; n < batch; n++) {
        for (size_t q = 0; q < g->groups; q++) {
            const double *xg = x + (n * g->c + q * g->cg) * g->p;
            double *yg = y + (n * g->m + q * g->mg) * g->p;
            const double *bg = bias != NULL ? bias + q * g->mg : NULL;
            for (size_t c0 = 0; c0 < g->p; c0 += band) {
                size_t nc = g->p - c0 < band ? g->p - c0 : band;
                group_gemm(g->mg, g->kg, w + q * g->mg * g->kg, g->kg, xg + c0, g->p, nc, 0.0, yg + c0, g->p);
                bias_act(act, bg, g->mg, nc, yg + c0, g->p, yg + c0, g->p);
            }
        }
        planes_act(act, g->m, g->p, y + n * g->m * g->p);
    }
}

/* Workspace pieces of a plan. */
typedef struct conv_ws {
    double *col, *tmp, *wrep, *pbuf;
} conv_ws;

/* Several whole images per GEMM (PLAN_MULTI). */
static void forward_multi(const conv_geom *g, const conv_plan *pl, size_t batch, const double *x,
                          const double *w, const double *bias, nnla_act act, double *y, const conv_ws *ws)
{
    const size_t p = g->p;
    for (size_t n0 = 0; n0 < batch; n0 += pl->nimg) {
        size_t ni = batch - n0 < pl->nimg ? batch - n0 : pl->nimg, cols = ni * p;
        for (size_t q = 0; q < g->groups; q++) {
            for (size_t i = 0; i < ni; i++)
                im2col_rows(g, x + ((n0 + i) * g->c + q * g->cg) * g->hw, g->cg, 0, g->oh, ws->col + i * p,
                            cols, ws->pbuf);
            group_gemm(g->mg, g->kg, w + q * g->mg * g->kg, g->kg, ws->col, cols, cols, 0.0, ws->tmp, cols);
            const double *bg = bias != NULL ? bias + q * g->mg : NULL;
            for (size_t i = 0; i < ni; i++) {
                double *yg = y + ((n0 + i) * g->m + q * g->mg) * p;
                bias_act(act, bg, g->mg, p, ws->tmp + i * p, cols, yg, p);
            }
        }
        for (size_t i = 0; i < ni; i++) planes_act(act, g->m, p, y + (n0 + i) * g->m * p);
    }
}

/* wrep[i][m][c*kw + j] = wg[m][c][i][j]: one group's weights split by kernel row. */
static void repack_rows(const conv_geom *g, const double *wg, double *wrep)
{
    const size_t kp = g->cg * g->kw;
    for (size_t i = 0; i < g->kh; i++)
        for (size_t m = 0; m < g->mg; m++)
            for (size_t c = 0; c < g->cg; c++)
                nnla__copy(wrep + (i * g->mg + m) * kp + c * g->kw, wg + ((m * g->cg + c) * g->kh + i) * g->kw,
                           g->kw);
}

/* Bands of output rows of one image, straight into y (PLAN_BANDS and PLAN_KSPLIT). */
static void forward_bands(const conv_geom *g, const conv_plan *pl, size_t batch, const double *x,
                          const double *w, const double *bias, nnla_act act, double *y, const conv_ws *ws)
{
    const size_t p = g->p, ow = g->ow;
    const int ks = pl->kind == PLAN_KSPLIT;
    /* KSPLIT: the column matrix is plain im2col with one kernel row over padded input rows */
    conv_geom rg = *g;
    rg.kh = 1;
    rg.dh = 1;
    rg.oh = g->h + 2 * g->ph;
    size_t repacked = SIZE_MAX; /* the group whose weights wrep holds */
    for (size_t n = 0; n < batch; n++) {
        for (size_t oy = 0; oy < g->oh; oy += pl->rows) {
            size_t oy1 = g->oh - oy < pl->rows ? g->oh : oy + pl->rows, cols = (oy1 - oy) * ow;
            for (size_t q = 0; q < g->groups; q++) {
                const double *xg = x + (n * g->c + q * g->cg) * g->hw, *wg = w + q * g->mg * g->kg;
                double *yb = y + (n * g->m + q * g->mg) * p + oy * ow;
                if (ks) {
                    size_t span = (oy1 - oy) + (g->kh - 1) * g->dh, ld = span * ow, kp = g->cg * g->kw;
                    if (repacked != q) {
                        repack_rows(g, wg, ws->wrep);
                        repacked = q;
                    }
                    im2col_rows(&rg, xg, g->cg, oy, oy + span, ws->col, ld, ws->pbuf);
                    for (size_t i = 0; i < g->kh; i++)
                        group_gemm(g->mg, kp, ws->wrep + i * g->mg * kp, kp, ws->col + i * g->dh * ow, ld,
                                   cols, i ? 1.0 : 0.0, yb, p);
                } else {
                    im2col_rows(g, xg, g->cg, oy, oy1, ws->col, cols, ws->pbuf);
                    group_gemm(g->mg, g->kg, wg, g->kg, ws->col, cols, cols, 0.0, yb, p);
                }
                bias_act(act, bias != NULL ? bias + q * g->mg : NULL, g->mg, cols, yb, p, yb, p);
            }
        }
        planes_act(act, g->m, p, y + n * g->m * p);
    }
}

nnla_status nnla_conv2d_forward(const nnla_conv2d_desc *d, size_t batch, size_t in_h, size_t in_w,
                                const double *x, const double *w, const double *bias, nnla_act act, double *y,
                                void *work, size_t work_size)
{
    if (d == NULL || x == NULL || w == NULL || y == NULL || (work == NULL && work_size > 0))
        return NNLA_ENULL;
    conv_geom g;
    NNLA__TRY(geom_make(d, in_h, in_w, &g));
    if (batch == 0) return NNLA_EDIM;
    size_t xb, yb, wb, bb = 0;
    if (!nnla__mul(batch, g.c * g.hw * sizeof(double), &xb) || !nnla__mul(batch, g.m, &yb) ||
        !nnla__mul(yb, g.p, &yb) || !nnla__mul(yb, sizeof(double), &yb) || !nnla__mul(g.m, g.kg, &wb) ||
        !nnla__mul(wb, sizeof(double), &wb) || !nnla__mul(g.m, sizeof(double), &bb))
        return NNLA_EOVERFLOW;
    NNLA__TRY(check_blas_dims(&g));
    NNLA__TRY(nnla_act_check(act));
    if (nnla__overlap(y, yb, x, xb) || nnla__overlap(y, yb, w, wb) ||
        (bias != NULL && nnla__overlap(y, yb, bias, bb)) ||
        (work != NULL && (nnla__overlap(work, work_size, x, xb) || nnla__overlap(work, work_size, w, wb) ||
                          nnla__overlap(work, work_size, y, yb) ||
                          (bias != NULL && nnla__overlap(work, work_size, bias, bb)))))
        return NNLA_EALIAS;

    if (g.direct) {
        forward_direct(&g, batch, x, w, bias, act, y);
        return NNLA_OK;
    }
    conv_plan pl;
    NNLA__TRY(plan_make(&g, batch, work_size, &pl));
    nnla__arena ar = {(unsigned char *)work, work_size};
    conv_ws ws;
    ws.col = nnla__arena_take(&ar, pl.ncol * sizeof(double));
    ws.tmp = pl.ntmp ? nnla__arena_take(&ar, pl.ntmp * sizeof(double)) : NULL;
    ws.wrep = pl.nwrep ? nnla__arena_take(&ar, pl.nwrep * sizeof(double)) : NULL;
    ws.pbuf = pl.prows ? nnla__arena_take(&ar, pl.prows * padded_w(&g) * sizeof(double)) : NULL;
    if (ws.col == NULL || (pl.ntmp && ws.tmp == NULL) || (pl.nwrep && ws.wrep == NULL) ||
        (pl.prows && ws.pbuf == NULL))
        return NNLA_EWORKSPACE; /* cannot happen: plan_make() counted these pieces */
    if (pl.kind == PLAN_MULTI)
        forward_multi(&g, &pl, batch, x, w, bias, act, y, &ws);
    else
        forward_bands(&g, &pl, batch, x, w, bias, act, y, &ws);
    return NNLA_OK;
}
