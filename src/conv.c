/*
 * 2-D convolution by im2col and GEMM, on NCHW batches: the forward pass, the two backward
 * passes (input gradient, weight and bias gradients), im2col and its adjoint col2im.
 *
 * All three passes work through a plan (conv_plan below) that cuts the batch's output columns
 * (image, output pixel) into chunks: a chunk is either a band of output rows of one image or
 * several whole images. The plan fixes, for every chunk, the GEMM's inner dimension (kdim), its
 * column count (cols, fewer only for the last chunk) and the row stride of the column matrix in
 * the workspace (ldcol); the executors take those from it. Forward, for each chunk and group:
 *   - build the column matrix in the workspace, multiply W_g by it with cblas_dgemm, and run
 *     bias + activation over the result while it is still in cache;
 *   - one image (or a band of its rows) per chunk: the GEMM writes straight into the NCHW
 *     output (ldc = out_h*out_w, at the band's column offset) and the pass is in place;
 *   - several whole images per chunk (images of fewer than NNLA_CONV_TARGET_COLS output
 *     pixels; without the kernel-row split NNLA_CONV_TARGET_COLS_NOSPLIT for the forward pass
 *     over the pthread OpenBLAS, NNLA_CONV_TARGET_COLS_NOSPLIT_1T otherwise): one wider GEMM
 *     into a scratch block [out/groups][images*out_h*out_w], and the pass copies it into
 *     the images' NCHW planes. The copy costs what the in-place pass costs, and the wider
 *     GEMM runs faster.
 * Backward, input gradient: col = W_g^T dy_g by one GEMM per chunk (dy of several images
 * gathered side by side first), then col2im adds col back into dx. Weight gradient: the
 * forward's column matrix of each chunk, and dW_g += dy_g col^T by one GEMM (K = the chunk's
 * columns), over the whole batch, group by group.
 * Chunks are sized so the column matrix stays within NNLA_CONV_COL_BYTES (the GEMM wants
 * many columns, the caches want few); a caller workspace below the preferred size shrinks
 * the bands down to one output row.
 *
 * Kernel-row split (stride_h 1, enough input channels): the column matrix of a band holds
 * only the rows (channel, kernel column) over the band's padded input rows; kernel row i
 * is the same matrix shifted by i*dilation_h*out_w columns, so the band is kernel_h GEMMs
 * accumulating into the output (beta = 1), with the weights repacked per kernel row. im2col
 * writes kernel_h times fewer bytes and the GEMMs, each with in/groups*kernel_w >= 64 inner
 * dimension, run as fast as the single one (measured: within 1-4%). im2col is the part of
 * the convolution that does not scale: BLAS runs on all the cores, im2col on one. The
 * backward passes use the same matrix: the input gradient accumulates kernel_h GEMMs into
 * the shifted views of it and scatters it back once (col2im of kernel_h times fewer rows),
 * the weight gradient gets kernel_h GEMMs, one per kernel row, against the shifted views.
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
 * checks either way. col2im adds the same runs back, without a row buffer.
 *
 * Threads (the "threads" section below, docs/conv.md): the batch is dealt out over the threads
 * the call gets, each running the code above on its images with its own workspace slice, or,
 * with fewer images than threads, a team shares each chunk; the plan never depends on the
 * thread count, so the forward pass and the input gradient are bit-identical for any count.
 */
#include <cblas.h>
#include <omp.h>
#include <string.h>

#include "internal.h"

/* Chunk sizing (see the file comment and docs/conv.md). */
#ifndef NNLA_CONV_TARGET_COLS
#define NNLA_CONV_TARGET_COLS 1024 /* batch images whose out_h*out_w is below this ... */
#endif
#ifndef NNLA_CONV_TARGET_COLS_NOSPLIT
#define NNLA_CONV_TARGET_COLS_NOSPLIT 4096 /* ... or below this when the kernel-row split does not apply */
#endif
#ifndef NNLA_CONV_TARGET_COLS_NOSPLIT_1T
#define NNLA_CONV_TARGET_COLS_NOSPLIT_1T 1024 /* ... the same for one-thread GEMMs and the backward passes */
#endif
#ifndef NNLA_CONV_COL_BYTES
#define NNLA_CONV_COL_BYTES ((size_t)16 << 20) /* cap on the column matrix of one chunk */
#endif
#ifndef NNLA_CONV_KSPLIT_MIN_K
#define NNLA_CONV_KSPLIT_MIN_K 64 /* kernel-row split from in/groups*kernel_w >= this */
#endif
#ifndef NNLA_CONV_KSPLIT_DATA
#define NNLA_CONV_KSPLIT_DATA 1 /* the input gradient uses the kernel-row split where it applies */
#endif
#ifndef NNLA_CONV_KSPLIT_WEIGHTS
#define NNLA_CONV_KSPLIT_WEIGHTS 1 /* the weight gradient uses it where it applies */
#endif
#ifndef NNLA_CONV_DIRECT_BYTES
#define NNLA_CONV_DIRECT_BYTES ((size_t)8 << 20) /* 1x1 path: output band per GEMM, bytes */
#endif

/* ------------------------------------------------------------------ geometry */

typedef struct conv_geom {
    size_t c, m, groups, cg, mg; /* channels in/out, groups, per group */
    size_t kh, kw, sh, sw, dh, dw;
    size_t pt, pb, pl, pr; /* padding: top, bottom, left, right */
    size_t h, w, oh, ow;   /* input and output image size */
    size_t hw, p;          /* in_h*in_w, out_h*out_w */
    size_t kg;             /* rows of one group's column matrix: cg*kh*kw */
    size_t k;              /* rows of one image's full column matrix: c*kh*kw */
    int direct;            /* 1x1, stride 1, no padding: the input is the column matrix */
} conv_geom;

/* Output length along one axis padded by lo before and hi after; NNLA_ESHAPE when the dilated
 * kernel exceeds the padded input. */
static nnla_status axis_out(size_t in, size_t k, size_t s, size_t lo, size_t hi, size_t dil, size_t *out)
{
    size_t padded, span;
    if (!nnla__add(in, lo, &padded) || !nnla__add(padded, hi, &padded)) return NNLA_EOVERFLOW;
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
    t.pt = d->pad_top;
    t.pb = d->pad_bottom;
    t.pl = d->pad_left;
    t.pr = d->pad_right;
    t.dh = d->dilation_h;
    t.dw = d->dilation_w;
    t.h = in_h;
    t.w = in_w;
    NNLA__TRY(axis_out(t.h, t.kh, t.sh, t.pt, t.pb, t.dh, &t.oh));
    NNLA__TRY(axis_out(t.w, t.kw, t.sw, t.pl, t.pr, t.dw, &t.ow));
    size_t khw, bytes;
    if (!nnla__mul(t.h, t.w, &t.hw) || !nnla__mul(t.oh, t.ow, &t.p) || !nnla__mul(t.kh, t.kw, &khw) ||
        !nnla__mul(t.cg, khw, &t.kg) || !nnla__mul(t.c, khw, &t.k))
        return NNLA_EOVERFLOW;
    /* one image's input, output and full column matrix, one weight, in bytes */
    if (!nnla__mul(t.c, t.hw, &bytes) || !nnla__mul(bytes, sizeof(double), &bytes) ||
        !nnla__mul(t.m, t.p, &bytes) || !nnla__mul(bytes, sizeof(double), &bytes) ||
        !nnla__mul(t.k, t.p, &bytes) || !nnla__mul(bytes, sizeof(double), &bytes) ||
        !nnla__mul(t.m, t.kg, &bytes) || !nnla__mul(bytes, sizeof(double), &bytes))
        return NNLA_EOVERFLOW;
    t.direct = t.kh == 1 && t.kw == 1 && t.sh == 1 && t.sw == 1 && t.pt == 0 && t.pb == 0 && t.pl == 0 &&
               t.pr == 0;
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
    d.pad_top = d.pad_bottom = d.pad_left = d.pad_right = 0;
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

/* The three passes: what a plan's workspace holds depends on the pass. */
typedef enum { OP_FORWARD, OP_BACKWARD_DATA, OP_BACKWARD_WEIGHTS } conv_op;

/*
 * How a pass cuts the batch (not the direct 1x1 path, which needs no workspace). Three kinds:
 *   PLAN_MULTI   nimg > 1 whole images per chunk, their column matrices side by side, one GEMM;
 *                the scratch block `tmp` [out/groups][cols] holds the forward's GEMM result
 *                (copied out by the bias + activation pass), or the backward passes' dy of
 *                those images gathered side by side;
 *   PLAN_BANDS   bands of `rows` output rows of one image, one GEMM straight from/into y or dy;
 *   PLAN_KSPLIT  (stride_h 1) bands of one image whose column matrix holds only the kernel
 *                columns: row c*kw + j, over the band's rows + (kh-1)*dh padded input rows.
 *                Kernel row i is then the same matrix shifted by i*dh*ow columns, so the
 *                convolution is kh accumulating GEMMs over it with the weights repacked per
 *                kernel row (wrep[i][m][c*kw + j] = w[m][c][i][j]; for the weight gradient,
 *                wrep accumulates the gradient in that layout): kh times fewer bytes of
 *                im2col, and GEMMs that lose nothing measurable once in_channels/groups*kw >=
 *                NNLA_CONV_KSPLIT_MIN_K.
 * The executors take the chunk's GEMM dimensions from the plan: kdim (inner dimension of the
 * forward, rows of the column matrix), cols (columns of a full chunk; the last chunk may have
 * fewer) and ldcol (row stride of the column matrix).
 */
typedef enum { PLAN_MULTI, PLAN_BANDS, PLAN_KSPLIT } plan_kind;

typedef struct conv_plan {
    plan_kind kind;
    size_t nimg;              /* whole images per chunk (PLAN_MULTI), else 1 */
    size_t rows;              /* output rows per chunk (out_h for PLAN_MULTI) */
    size_t cols;              /* GEMM columns of a full chunk: nimg*p, or rows*ow */
    size_t kdim;              /* rows of the column matrix: kg, or cg*kw for PLAN_KSPLIT */
    size_t ldcol;             /* row stride of the column matrix */
    size_t ncol, ntmp, nwrep; /* doubles of the column matrix, scratch block, repacked weights */
    size_t prows;             /* rows of the horizontally padded input buffer (0: none) */
    size_t bytes;             /* workspace it needs */
} conv_plan;

/* Padded row length: in_w + pad_left + pad_right (fits size_t: checked by geom_make). */
static size_t padded_w(const conv_geom *g) { return g->w + g->pl + g->pr; }

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
static int plan_sizes(const conv_geom *g, conv_op op, plan_kind kind, size_t nimg, size_t rows, conv_plan *pl)
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
    if (op != OP_BACKWARD_DATA && g->pl + g->pr > 0) { /* col2im needs no row buffer */
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
static int plan_fits(const conv_geom *g, conv_op op, plan_kind kind, size_t nimg, size_t rows, size_t avail,
                     conv_plan *pl)
{
    return plan_sizes(g, op, kind, nimg, rows, pl) && pl->bytes <= avail && nnla__fits_int(pl->cols) &&
           nnla__fits_int(pl->ldcol) && nnla__fits_int(pl->kdim);
}

/* Spread n items over the fewest chunks of at most `most`: the chunk size that evens them out. */
static size_t even_out(size_t n, size_t most)
{
    size_t chunks = (n + most - 1) / most;
    return (n + chunks - 1) / chunks;
}

/* Bands of one image: the most rows up to `most` that fit, evened out; 0 when one row does not fit. */
static size_t fit_rows(const conv_geom *g, conv_op op, plan_kind kind, size_t most, size_t avail,
                       conv_plan *pl)
{
    if (!plan_fits(g, op, kind, 1, 1, avail, pl)) return 0;
    size_t lo = 1, hi = most; /* lo fits */
    if (plan_fits(g, op, kind, 1, hi, avail, pl)) {
        lo = hi;
    } else {
        while (hi - lo > 1) { /* hi does not fit; bytes grow with rows */
            size_t mid = lo + (hi - lo) / 2;
            if (plan_fits(g, op, kind, 1, mid, avail, pl))
                lo = mid;
            else
                hi = mid;
        }
    }
    size_t rows = even_out(g->oh, lo);
    return plan_fits(g, op, kind, 1, rows, avail, pl) ? rows : 0;
}

/* The smallest plan: one output row of one group's plain column matrix per chunk. */
static nnla_status plan_min(const conv_geom *g, conv_op op, conv_plan *pl)
{
    if (!plan_sizes(g, op, PLAN_BANDS, 1, 1, pl)) return NNLA_EOVERFLOW;
    if (!nnla__fits_int(pl->cols) || !nnla__fits_int(pl->ldcol) || !nnla__fits_int(pl->kdim))
        return NNLA_EOVERFLOW;
    return NNLA_OK;
}

/*
 * The plan for a workspace of `avail` bytes (SIZE_MAX: the preferred plan): several small
 * images per GEMM, else bands of one image (kernel-row split when it applies) with their
 * column matrix under NNLA_CONV_COL_BYTES; a smaller workspace gets fewer images, then
 * thinner bands, down to one output row of the plain im2col. NNLA_EWORKSPACE below that.
 */
static nnla_status plan_make(const conv_geom *g, conv_op op, size_t batch, size_t avail, conv_plan *pl)
{
    conv_plan one;
    NNLA__TRY(plan_min(g, op, &one));
    if (avail < one.bytes) return NNLA_EWORKSPACE;

    /* Several images per chunk when one image is narrower than the target. Without the
     * kernel-row split (small inner dimension: few input channels) the forward pass's GEMMs on
     * OpenBLAS's threads (the pthread build) run faster the more columns they get (measured:
     * 4096 columns 10-20% faster than 1024 for 32x32 images of 3 channels), while one-thread
     * GEMMs (the OpenMP build, inside libnnla's threads or not) run 7-11% faster on one image of
     * 1024 straight into y, whose pieces stay in the core's cache; the backward passes, for
     * which grouping costs a gather of dy, too (1.1-1.75x; docs/performance.md). Which OpenBLAS
     * is loaded decides, never the thread count (the results must not depend on it). */
    const size_t target = ksplit_ok(g) ? NNLA_CONV_TARGET_COLS
                          : op == OP_FORWARD && !nnla__omp_blas() ? NNLA_CONV_TARGET_COLS_NOSPLIT
                                                                  : NNLA_CONV_TARGET_COLS_NOSPLIT_1T;
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
            if (plan_fits(g, op, PLAN_MULTI, nimg, 0, avail, pl)) return NNLA_OK;
    }
    /* Bands of one image. */
    plan_kind kinds[2] = {PLAN_KSPLIT, PLAN_BANDS};
    const int ks = ksplit_ok(g) && (op == OP_FORWARD || (op == OP_BACKWARD_DATA ? NNLA_CONV_KSPLIT_DATA
                                                                                 : NNLA_CONV_KSPLIT_WEIGHTS));
    for (int k = ks ? 0 : 1; k < 2; k++) {
        size_t per_row = (kinds[k] == PLAN_KSPLIT ? g->cg * g->kw : g->kg) * g->ow * sizeof(double);
        size_t most = NNLA_CONV_COL_BYTES / per_row; /* per_row <= one.bytes: no overflow */
        if (most < 1) most = 1;
        if (most > g->oh) most = g->oh;
        if (fit_rows(g, op, kinds[k], most, avail, pl) > 0) return NNLA_OK;
    }
    /* Unreachable: one row of PLAN_BANDS (`one`) fits and fit_rows() accepts it. */
    return NNLA_EINTERNAL;
}

/* Check the GEMM dimensions that do not depend on the plan. */
static nnla_status check_blas_dims(const conv_geom *g)
{
    if (!nnla__fits_int(g->mg) || !nnla__fits_int(g->kg) || !nnla__fits_int(g->p) || !nnla__fits_int(g->cg))
        return NNLA_EOVERFLOW;
    return NNLA_OK;
}

/* ------------------------------------------------------------------ im2col kernels */

/*
 * The output positions o in [0, out) whose input index o*s + off - pad lies in [0, n):
 * the interval [*lo, *hi). n + pad does not overflow (checked by geom_make).
 */
static void valid_range(size_t out, size_t n, size_t s, size_t pad, size_t off, size_t *lo, size_t *hi)
{
    size_t l, h;
    if (s == 1) { /* the common stride without its two divisions (im2col asks per channel and tap) */
        l = off < pad ? pad - off : 0;
        h = n - 1 + pad < off ? 0 : n + pad - off;
    } else {
        l = off < pad ? (pad - off + s - 1) / s : 0;
        h = n - 1 + pad < off ? 0 : (n - 1 + pad - off) / s + 1;
    }
    if (h > out) h = out;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

/* valid_range() of kernel row i, clipped to the band [oy0, oy1): oy0 <= *lo <= *hi <= oy1. */
static void band_range(const conv_geom *g, size_t i, size_t oy0, size_t oy1, size_t *lo, size_t *hi)
{
    size_t ylo, yhi;
    valid_range(g->oh, g->h, g->sh, g->pt, i * g->dh, &ylo, &yhi);
    if (ylo < oy0) ylo = oy0;
    if (ylo > oy1) ylo = oy1;
    if (yhi > oy1) yhi = oy1;
    if (yhi < ylo) yhi = ylo;
    *lo = ylo;
    *hi = yhi;
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
 * input x[c][oy*sh - pt + i*dh][ox*sw - pl + j*dw] or 0 outside the image.
 *
 * pbuf, when not NULL (pad_left or pad_right > 0), has room for band_in_rows(oy1 - oy0) rows of
 * padded_w(): each channel's input rows are first copied there between pad_left and pad_right
 * zeros, so each run of the column matrix is then a plain copy with no edge handling. Without it
 * the valid columns of each kernel tap are computed and the edges zero-filled. Rows of the
 * column matrix are written in order (channel, then kernel tap), and each channel's input
 * is read while it is in cache.
 */
static void im2col_rows(const conv_geom *g, const double *x, size_t nc, size_t oy0, size_t oy1, double *col,
                        size_t ldc, double *pbuf)
{
    const size_t ow = g->ow, w = g->w, sw = g->sw, pl = g->pl;
    const int padded = pbuf != NULL && g->pl + g->pr > 0;
    /* the input rows [r0, r1) the band reads, clipped to the image */
    size_t r0 = oy0 * g->sh > g->pt ? oy0 * g->sh - g->pt : 0;
    size_t r1 = (oy1 - 1) * g->sh + (g->kh - 1) * g->dh + 1; /* padded row index, exclusive */
    r1 = r1 > g->pt ? r1 - g->pt : 0;
    if (r1 > g->h) r1 = g->h;
    const size_t wp = padded_w(g);
    /* Stride and dilation 1 with the padded row buffer: every run is a whole output row, and each
     * kernel row's valid output rows are the same for every channel (computed once, for kernels of
     * up to IM2COL_UNIT_KH rows). */
    enum { IM2COL_UNIT_KH = 16 };
    size_t ylo_of[IM2COL_UNIT_KH], yhi_of[IM2COL_UNIT_KH];
    const int unit = padded && g->sh == 1 && g->sw == 1 && g->dh == 1 && g->dw == 1 && g->kh <= IM2COL_UNIT_KH;
    if (unit)
        for (size_t i = 0; i < g->kh; i++) band_range(g, i, oy0, oy1, &ylo_of[i], &yhi_of[i]);
    for (size_t c = 0; c < nc; c++) {
        const double *xc = x + c * g->hw;
        /* input row iy (r0 <= iy < r1) starts at base + (iy - row0)*stride */
        const double *base = xc;
        size_t stride = w, row0 = 0;
        if (padded) {
            for (size_t r = r0; r < r1; r++) {
                double *prow = pbuf + (r - r0) * wp;
                zero_run(prow, pl);
                nnla__copy(prow + pl, xc + r * w, w);
                zero_run(prow + pl + w, g->pr);
            }
            base = pbuf;
            stride = wp;
            row0 = r0;
        }
        if (unit) { /* stride and dilation 1: tap (i, j) reads padded row oy + i, column ox + j */
            for (size_t i = 0; i < g->kh; i++) {
                const size_t ylo = ylo_of[i], yhi = yhi_of[i];
                const double *src0 = ylo < yhi ? base + (ylo + i - g->pt - row0) * stride : base;
                for (size_t j = 0; j < g->kw; j++) {
                    double *dst = col + ((c * g->kh + i) * g->kw + j) * ldc;
                    zero_run(dst, (ylo - oy0) * ow);
                    dst += (ylo - oy0) * ow;
                    const double *src = src0 + j;
                    for (size_t oy = ylo; oy < yhi; oy++, dst += ow, src += stride) nnla__copy(dst, src, ow);
                    zero_run(dst, (oy1 - yhi) * ow);
                }
            }
            continue;
        }
        for (size_t i = 0; i < g->kh; i++) {
            size_t ylo, yhi;
            band_range(g, i, oy0, oy1, &ylo, &yhi);
            for (size_t j = 0; j < g->kw; j++) {
                double *dst = col + ((c * g->kh + i) * g->kw + j) * ldc;
                size_t xlo = 0, xhi = ow, off = j * g->dw;
                if (!padded) valid_range(ow, w, sw, pl, off, &xlo, &xhi);
                if (ylo == yhi || xlo == xhi) { /* the whole band of this tap reads padding */
                    zero_run(dst, (oy1 - oy0) * ow);
                    continue;
                }
                if (!padded) off = xlo * sw + off - pl; /* input column of output column xlo */
                const double *src = base + (ylo * g->sh + i * g->dh - g->pt - row0) * stride + off;
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

/*
 * The adjoint of im2col_rows(): x += the column matrix of output rows [oy0, oy1) of channels
 * [0, nc) (row stride ldc, column (oy - oy0)*ow + ox) added back where im2col took it from
 * (x planes of h*w; entries that came from padding are dropped). Channel by channel, so each
 * plane of x takes all its kernel taps while it is in cache.
 */
static void col2im_add(const conv_geom *g, const double *col, size_t ldc, size_t nc, size_t oy0, size_t oy1,
                       double *x)
{
    const size_t ow = g->ow, w = g->w, sw = g->sw;
    /* The valid output rows of each kernel row and columns of each kernel column are the same for
     * every channel: computed once for kernels of up to COL2IM_KMAX rows and columns. */
    enum { COL2IM_KMAX = 16 };
    size_t rlo[COL2IM_KMAX], rhi[COL2IM_KMAX], clo[COL2IM_KMAX], chi[COL2IM_KMAX];
    const int once = g->kh <= COL2IM_KMAX && g->kw <= COL2IM_KMAX;
    if (once) {
        for (size_t i = 0; i < g->kh; i++) band_range(g, i, oy0, oy1, &rlo[i], &rhi[i]);
        for (size_t j = 0; j < g->kw; j++) valid_range(ow, w, sw, g->pl, j * g->dw, &clo[j], &chi[j]);
    }
    for (size_t c = 0; c < nc; c++) {
        double *xc = x + c * g->hw;
        for (size_t i = 0; i < g->kh; i++) {
            size_t ylo, yhi;
            if (once)
                ylo = rlo[i], yhi = rhi[i];
            else
                band_range(g, i, oy0, oy1, &ylo, &yhi);
            if (ylo == yhi) continue; /* this kernel row only reads padding in the band */
            for (size_t j = 0; j < g->kw; j++) {
                size_t xlo, xhi;
                if (once)
                    xlo = clo[j], xhi = chi[j];
                else
                    valid_range(ow, w, sw, g->pl, j * g->dw, &xlo, &xhi);
                if (xlo == xhi) continue;
                const size_t xoff = xlo * sw + j * g->dw - g->pl, nrun = xhi - xlo;
                const double *src = col + ((c * g->kh + i) * g->kw + j) * ldc + (ylo - oy0) * ow + xlo;
                for (size_t oy = ylo; oy < yhi; oy++, src += ow) {
                    double *dst = xc + (oy * g->sh + i * g->dh - g->pt) * w + xoff;
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
    col2im_add(&g, col, g.p, g.c, 0, g.oh, x);
    return NNLA_OK;
}

/* The geometry of the kernel-row split's column matrix: plain im2col with one kernel row, over
 * the padded input rows (output row r of it is padded input row r, input row r - pad_top). */
static conv_geom ksplit_geom(const conv_geom *g)
{
    conv_geom rg = *g;
    rg.kh = 1;
    rg.dh = 1;
    rg.oh = g->h + g->pt + g->pb;
    return rg;
}

/* Padded input rows the kernel-row split's column matrix covers for output rows [oy0, oy1). */
static size_t ksplit_span(const conv_geom *g, size_t oy0, size_t oy1) { return oy1 - oy0 + (g->kh - 1) * g->dh; }

/* wrep[i][m][c*kw + j] = wg[m][c][i][j]: one group's weights split by kernel row, for the output
 * channels [m0, m1) and the input channels [c0, c1) (a thread's share; all of them: 0, mg, 0, cg). */
static void repack_rows(const conv_geom *g, const double *wg, double *wrep, size_t m0, size_t m1, size_t c0,
                        size_t c1)
{
    const size_t kp = g->cg * g->kw;
    for (size_t i = 0; i < g->kh; i++)
        for (size_t m = m0; m < m1; m++)
            for (size_t c = c0; c < c1; c++)
                nnla__copy(wrep + (i * g->mg + m) * kp + c * g->kw, wg + ((m * g->cg + c) * g->kh + i) * g->kw,
                           g->kw);
}

/* The inverse for the input channels [c0, c1): wg[m][c][i][j] = wrep[i][m][c*kw + j]. */
static void unpack_rows(const conv_geom *g, const double *wrep, double *wg, size_t c0, size_t c1)
{
    const size_t kp = g->cg * g->kw;
    for (size_t i = 0; i < g->kh; i++)
        for (size_t m = 0; m < g->mg; m++)
            for (size_t c = c0; c < c1; c++)
                nnla__copy(wg + ((m * g->cg + c) * g->kh + i) * g->kw, wrep + (i * g->mg + m) * kp + c * g->kw,
                           g->kw);
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

/* ------------------------------------------------------------------ GEMM calls */

/* out[mg][n] (ldo) = A [mg][k] (lda) x B [k][n] (ldb) + beta out: one GEMM, or a GEMV when gemv (a
 * group with one output channel: the flag comes from the group, not from a thread's share of it). */
static void group_gemm(size_t mg, size_t k, const double *a, size_t lda, const double *b, size_t ldb,
                       size_t n, double beta, double *out, size_t ldo, int gemv)
{
    if (gemv) {
        nnla__dgemv(CblasRowMajor, CblasTrans, (int)k, (int)n, 1.0, b, (int)ldb, a, 1, beta, out, 1);
    } else {
        nnla__dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)mg, (int)n, (int)k, 1.0, a, (int)lda, b,
                    (int)ldb, beta, out, (int)ldo);
    }
}

/* out[k][n] (ldo) = A^T B + beta out, A [mg][k] (lda), B [mg][n] (ldb): the input gradient's GEMM. */
static void gemm_tn(size_t k, size_t n, size_t mg, const double *a, size_t lda, const double *b, size_t ldb,
                    double beta, double *out, size_t ldo)
{
    nnla__dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)k, (int)n, (int)mg, 1.0, a, (int)lda, b, (int)ldb,
                beta, out, (int)ldo);
}

/* out[mg][k] (ldo) = A B^T + beta out, A [mg][n] (lda), B [k][n] (ldb): the weight gradient's GEMM,
 * a GEMV for a group with one output channel. */
static void gemm_nt(size_t mg, size_t k, size_t n, const double *a, size_t lda, const double *b, size_t ldb,
                    double beta, double *out, size_t ldo)
{
    if (mg == 1) {
        nnla__dgemv(CblasRowMajor, CblasNoTrans, (int)k, (int)n, 1.0, b, (int)ldb, a, 1, beta, out, 1);
    } else {
        nnla__dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)mg, (int)k, (int)n, 1.0, a, (int)lda, b,
                    (int)ldb, beta, out, (int)ldo);
    }
}

/* tmp[r][i*p + t] (ldt) = dy[n0 + i][q*mg + r][t] for i < ni and the rows [r0, r1): the dy of several
 * images side by side. */
static void gather_dy(const conv_geom *g, const double *dy, size_t n0, size_t ni, size_t q, double *tmp,
                      size_t ldt, size_t r0, size_t r1)
{
    for (size_t r = r0; r < r1; r++)
        for (size_t i = 0; i < ni; i++)
            nnla__copy(tmp + r * ldt + i * g->p, dy + ((n0 + i) * g->m + q * g->mg + r) * g->p, g->p);
}

/* ------------------------------------------------------------------ the workspace */

/* Workspace pieces of a plan. */
typedef struct conv_ws {
    double *col, *tmp, *wrep, *pbuf;
} conv_ws;

/* Take a plan's pieces from the arena; 0 when one does not fit (unreachable for an arena of the
 * bytes the run counted: plan_sizes() counts each piece with its alignment slack). */
static int ws_take(nnla__arena *ar, const conv_geom *g, const conv_plan *pl, conv_ws *ws)
{
    ws->col = nnla__arena_take(ar, pl->ncol * sizeof(double));
    ws->tmp = pl->ntmp ? nnla__arena_take(ar, pl->ntmp * sizeof(double)) : NULL;
    ws->wrep = pl->nwrep ? nnla__arena_take(ar, pl->nwrep * sizeof(double)) : NULL;
    ws->pbuf = pl->prows ? nnla__arena_take(ar, pl->prows * padded_w(g) * sizeof(double)) : NULL;
    return !(ws->col == NULL || (pl->ntmp && ws->tmp == NULL) || (pl->nwrep && ws->wrep == NULL) ||
             (pl->prows && ws->pbuf == NULL));
}

/* ------------------------------------------------------------------ argument checks */

/* Bytes of a batch's input, output and of the weights; NNLA_EOVERFLOW when one overflows. */
static nnla_status batch_bytes(const conv_geom *g, size_t batch, size_t *xb, size_t *yb, size_t *wb)
{
    if (batch == 0) return NNLA_EDIM;
    if (!nnla__mul(batch, g->c * g->hw * sizeof(double), xb) || !nnla__mul(batch, g->m * g->p, yb) ||
        !nnla__mul(*yb, sizeof(double), yb))
        return NNLA_EOVERFLOW;
    *wb = g->m * g->kg * sizeof(double); /* checked by geom_make */
    return NNLA_OK;
}

/* Whether the buffer [p, p+n) is given and overlaps [q, q+m). */
static int overlaps(const void *p, size_t n, const void *q, size_t m)
{
    return p != NULL && q != NULL && nnla__overlap(p, n, q, m);
}

/* ------------------------------------------------------------------ threads */

/*
 * How a call uses its threads (docs/conv.md, "Threads"). The call gets n = nnla__share_begin()
 * threads and runs in one of three ways:
 *   RUN_BATCH  the batch's units (whole images, or PLAN_MULTI's groups of images) are dealt out
 *              in contiguous runs, one per thread; each thread runs the serial code on its images
 *              with the preferred plan and its own slice of the workspace (the weight gradient: its
 *              own partial gradient, summed into dw in thread order afterwards);
 *   RUN_TEAM   (fewer units than threads, e.g. one image, or a workspace too small for a slice
 *              per thread) all threads work on each chunk of one plan: im2col by input channels,
 *              then each thread's share of the GEMM's output, with barriers in between where a
 *              thread reads what another wrote;
 *   RUN_SERIAL the calling thread alone (tiny work, one thread, or nothing to split).
 * The plan, hence every GEMM's shape, does not depend on the thread count; a team cuts a GEMM only
 * at multiples of NNLA_CONV_COL_ALIGN columns or NNLA_CONV_ROW_ALIGN rows, where OpenBLAS's
 * kernels (whose register tiles are at most 16 wide on x86-64) compute every entry exactly as in
 * the uncut GEMM. So the forward pass and the input gradient are bit-identical for any thread
 * count; a serial run of them with n > 1 keeps its GEMMs on one thread for the same reason.
 */
#ifndef NNLA_CONV_COL_ALIGN
#define NNLA_CONV_COL_ALIGN 64 /* a team cuts a GEMM's columns at multiples of this */
#endif
#ifndef NNLA_CONV_ROW_ALIGN
#define NNLA_CONV_ROW_ALIGN 16 /* ... or its rows at multiples of this */
#endif
#ifndef NNLA_CONV_PAR_MIN_FLOPS
#define NNLA_CONV_PAR_MIN_FLOPS 2e5 /* fewer flops than this run on the calling thread (par_sweep.sh) */
#endif

typedef struct conv_team {
    int tid, nth; /* this thread, the team's size (1: the serial code) */
} conv_team;

static const conv_team solo = {0, 1};

/* A barrier of the team; nothing for a team of one (a thread of RUN_BATCH runs as one). */
static void team_barrier(conv_team tm)
{
    if (tm.nth > 1) {
#pragma omp barrier
    }
}

/* Part k of `parts` of [0, n), cut at multiples of `align` (the last unit may be shorter). */
static void split_range(size_t n, size_t align, int parts, int k, size_t *lo, size_t *hi)
{
    size_t units = (n + align - 1) / align;
    size_t u0 = units * (size_t)k / (size_t)parts, u1 = units * (size_t)(k + 1) / (size_t)parts;
    *lo = u0 * align < n ? u0 * align : n;
    *hi = u1 * align < n ? u1 * align : n;
}

/* A thread's share of a GEMM's rows x cols output: [r0, r1) x [c0, c1). */
typedef struct gemm_rect {
    size_t r0, r1, c0, c1;
} gemm_rect;

/* Columns cut at multiples of NNLA_CONV_COL_ALIGN when there are two such blocks, else rows at
 * multiples of NNLA_CONV_ROW_ALIGN, else all of it to thread 0. */
static gemm_rect gemm_part(size_t rows, size_t cols, conv_team tm)
{
    gemm_rect r = {0, rows, 0, cols};
    if (tm.nth == 1) return r;
    if (cols >= 2 * NNLA_CONV_COL_ALIGN)
        split_range(cols, NNLA_CONV_COL_ALIGN, tm.nth, tm.tid, &r.c0, &r.c1);
    else if (rows >= 2 * NNLA_CONV_ROW_ALIGN)
        split_range(rows, NNLA_CONV_ROW_ALIGN, tm.nth, tm.tid, &r.r0, &r.r1);
    else if (tm.tid != 0)
        r.r1 = 0;
    return r;
}

static int rect_empty(gemm_rect r) { return r.r0 >= r.r1 || r.c0 >= r.c1; }

/* Channels whose column-matrix rows (rpc each) start at a multiple of NNLA_CONV_ROW_ALIGN. */
static size_t chan_unit(size_t rpc)
{
    size_t a = rpc, b = NNLA_CONV_ROW_ALIGN;
    while (b) {
        size_t t = a % b;
        a = b;
        b = t;
    }
    return NNLA_CONV_ROW_ALIGN / a;
}

/* The input gradient's GEMM cut by input channels so that each thread's rows start at a multiple of
 * NNLA_CONV_ROW_ALIGN (the thread then scatters the same channels: no barrier). 0 when there are
 * too few channels. */
static int data_chan_split(const conv_geom *g, size_t rpc, conv_team tm, size_t *c0, size_t *c1)
{
    *c0 = 0;
    *c1 = g->cg;
    if (tm.nth == 1) return 1;
    size_t unit = chan_unit(rpc);
    if (g->cg < 2 * unit) return 0;
    split_range(g->cg, unit, tm.nth, tm.tid, c0, c1);
    return 1;
}

typedef enum { RUN_SERIAL, RUN_BATCH, RUN_TEAM } run_mode;

typedef struct conv_run {
    run_mode mode;
    int nth;        /* threads asked for (a region may get fewer: the code uses the team it gets) */
    conv_plan pl;   /* every thread's plan (none for the direct path) */
    size_t per;     /* images per unit of RUN_BATCH (PLAN_MULTI's group, else 1) */
    size_t units;   /* units of the batch */
    size_t partial; /* weight gradient, RUN_BATCH: bytes of one partial gradient, with slack */
    size_t pbuf;    /* RUN_TEAM: bytes of one more thread's row buffer, with slack (0: none) */
    size_t bytes;   /* the workspace the run uses */
} conv_run;

/* Whether a team can share the plan's chunks usefully. */
static int team_ok(const conv_geom *g, conv_op op, const conv_plan *pl)
{
    const size_t col2 = 2 * NNLA_CONV_COL_ALIGN, row2 = 2 * NNLA_CONV_ROW_ALIGN;
    if (op == OP_FORWARD) return (g->direct ? g->p : pl->cols) >= col2 || g->mg >= row2;
    if (op == OP_BACKWARD_DATA) {
        if (g->direct) return g->p >= col2 || g->cg >= row2;
        const int ks = pl->kind == PLAN_KSPLIT;
        return g->cg >= 2 * chan_unit(ks ? g->kw : g->kh * g->kw) || (!ks && (pl->cols >= col2 || pl->kdim >= row2));
    }
    return g->cg >= 2 || g->mg >= 2;
}

/*
 * The run of a pass on `batch` images with `avail` bytes of workspace and n threads (SIZE_MAX: the
 * workspace the fastest run wants, in run->bytes). NNLA_EWORKSPACE below the minimum.
 */
static nnla_status run_make(const conv_geom *g, conv_op op, size_t batch, size_t avail, int n, conv_run *run)
{
    conv_run r;
    memset(&r, 0, sizeof r);
    r.mode = RUN_SERIAL;
    r.nth = 1;
    size_t prefb = 0;
    r.per = 1;
    if (!g->direct) {
        conv_plan pref;
        NNLA__TRY(plan_make(g, op, batch, avail, &r.pl)); /* NNLA_EWORKSPACE below the minimum */
        NNLA__TRY(plan_make(g, op, batch, SIZE_MAX, &pref));
        prefb = pref.bytes;
        if (pref.kind == PLAN_MULTI) r.per = pref.nimg;
        if (avail >= prefb) r.pl = pref;
    }
    r.units = (batch + r.per - 1) / r.per;
    r.bytes = g->direct ? 0 : r.pl.bytes;
    if (op == OP_BACKWARD_WEIGHTS) (void)nnla__ws_piece(g->m * g->kg * sizeof(double), &r.partial);
    const double flops = 2.0 * (double)batch * (double)g->m * (double)g->kg * (double)g->p;
    const int par = n > 1 && flops >= NNLA_CONV_PAR_MIN_FLOPS;

    /* RUN_BATCH: the most threads up to min(n, units) whose slices fit */
    size_t tb = 0, bbytes = 0;
    if (par && r.units >= 2) {
        for (tb = (size_t)n < r.units ? (size_t)n : r.units; tb >= 2; tb--) {
            size_t a, b;
            if (nnla__mul(tb, prefb, &a) && nnla__mul(tb - 1, r.partial, &b) && nnla__add(a, b, &bbytes) &&
                bbytes <= avail)
                break;
        }
    }
    const int batch_ok = tb >= 2, balanced = batch_ok && (r.units % tb == 0 || r.units >= 2 * tb);
    const int team = par && team_ok(g, op, &r.pl);
    if (batch_ok && (balanced || !team)) {
        r.mode = RUN_BATCH; /* r.pl is the preferred plan: avail >= tb * prefb */
        r.nth = (int)tb;
        r.bytes = bbytes;
    } else if (team) {
        r.mode = RUN_TEAM;
        r.nth = n;
        if (!g->direct && r.pl.prows > 0 && op != OP_BACKWARD_DATA) {
            size_t more;
            (void)nnla__ws_piece(r.pl.prows * padded_w(g) * sizeof(double), &r.pbuf);
            if (nnla__mul((size_t)n - 1, r.pbuf, &more) && nnla__add(r.bytes, more, &more)) r.bytes = more;
        }
    }
    *run = r;
    return NNLA_OK;
}

/* Thread t's slice of a RUN_BATCH workspace (slices 0..t-1 before it) and, for t >= 1, its partial
 * gradient (weight gradient only); 0 when it does not fit (unreachable: run_make counted it). */
static int batch_slice(const conv_geom *g, const conv_run *run, void *work, size_t work_size, int t, conv_ws *ws,
                       double **partial)
{
    nnla__arena ar = {(unsigned char *)work, work_size};
    if (partial) *partial = NULL;
    for (int u = 0; u <= t; u++) {
        if (!g->direct && !ws_take(&ar, g, &run->pl, ws)) return 0;
        if (run->partial && u > 0) {
            double *p = nnla__arena_take(&ar, g->m * g->kg * sizeof(double));
            if (p == NULL) return 0;
            if (partial) *partial = p;
        }
    }
    return 1;
}

/* Whether every slice of a RUN_BATCH fits (checked before any work). */
static int batch_slices_fit(const conv_geom *g, const conv_run *run, void *work, size_t work_size)
{
    conv_ws ws;
    return batch_slice(g, run, work, work_size, run->nth - 1, &ws, NULL);
}

/* The images [n0, n1) of thread t of a RUN_BATCH team of `nth`. */
static void batch_images(const conv_run *run, size_t batch, int t, int nth, size_t *n0, size_t *n1)
{
    size_t u0, u1;
    split_range(run->units, 1, nth, t, &u0, &u1);
    *n0 = u0 * run->per < batch ? u0 * run->per : batch;
    *n1 = u1 * run->per < batch ? u1 * run->per : batch;
}

/* RUN_TEAM: the shared pieces of the plan (thread 0's row buffer among them); then thread t >= 1
 * takes the t-th extra row buffer if the workspace holds it (else NULL: im2col without one). */
static double *team_pbuf(const conv_geom *g, const conv_run *run, const conv_ws *ws, nnla__arena rest, int t)
{
    if (t == 0 || run->pl.prows == 0) return ws->pbuf;
    double *p = NULL;
    for (int u = 1; u <= t; u++) {
        p = nnla__arena_take(&rest, run->pl.prows * padded_w(g) * sizeof(double));
        if (p == NULL) return NULL;
    }
    return p;
}

/* A serial run with n > 1 of a pass promised bit-identical across thread counts: its GEMMs on one
 * thread too (OpenBLAS's OpenMP build would cut a large one over omp_get_max_threads() threads in
 * its own way). Returns the count to restore, or 0. */
static int solo_blas_begin(int n)
{
    if (n <= 1) return 0;
    int prev = omp_get_max_threads();
    omp_set_num_threads(1);
    return prev;
}

static void solo_blas_end(int prev)
{
    if (prev > 0) omp_set_num_threads(prev);
}

/* ------------------------------------------------------------------ workspace queries */

/* The workspace queries of the three passes. */
static nnla_status ws_size(const nnla_conv2d_desc *d, conv_op op, size_t batch, size_t in_h, size_t in_w,
                           size_t *bytes)
{
    if (d == NULL || bytes == NULL) return NNLA_ENULL;
    conv_geom g;
    NNLA__TRY(geom_make(d, in_h, in_w, &g));
    if (batch == 0) return NNLA_EDIM;
    NNLA__TRY(check_blas_dims(&g));
    conv_run run; /* the fastest run with the threads a call from this thread would get now */
    NNLA__TRY(run_make(&g, op, batch, SIZE_MAX, nnla_num_threads(), &run));
    *bytes = run.bytes;
    return NNLA_OK;
}

static nnla_status ws_min(const nnla_conv2d_desc *d, conv_op op, size_t in_h, size_t in_w, size_t *bytes)
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
    NNLA__TRY(plan_min(&g, op, &one));
    *bytes = one.bytes;
    return NNLA_OK;
}

nnla_status nnla_conv2d_workspace_size(const nnla_conv2d_desc *d, size_t batch, size_t in_h, size_t in_w,
                                       size_t *bytes)
{
    return ws_size(d, OP_FORWARD, batch, in_h, in_w, bytes);
}

nnla_status nnla_conv2d_workspace_min(const nnla_conv2d_desc *d, size_t in_h, size_t in_w, size_t *bytes)
{
    return ws_min(d, OP_FORWARD, in_h, in_w, bytes);
}

nnla_status nnla_conv2d_backward_data_workspace_size(const nnla_conv2d_desc *d, size_t batch, size_t in_h,
                                                     size_t in_w, size_t *bytes)
{
    return ws_size(d, OP_BACKWARD_DATA, batch, in_h, in_w, bytes);
}

nnla_status nnla_conv2d_backward_data_workspace_min(const nnla_conv2d_desc *d, size_t in_h, size_t in_w,
                                                    size_t *bytes)
{
    return ws_min(d, OP_BACKWARD_DATA, in_h, in_w, bytes);
}

nnla_status nnla_conv2d_backward_weights_workspace_size(const nnla_conv2d_desc *d, size_t batch, size_t in_h,
                                                        size_t in_w, size_t *bytes)
{
    return ws_size(d, OP_BACKWARD_WEIGHTS, batch, in_h, in_w, bytes);
}

nnla_status nnla_conv2d_backward_weights_workspace_min(const nnla_conv2d_desc *d, size_t in_h, size_t in_w,
                                                       size_t *bytes)
{
    return ws_min(d, OP_BACKWARD_WEIGHTS, in_h, in_w, bytes);
}

/* ------------------------------------------------------------------ forward */

/* 1x1, stride 1, no padding: each image's [c][h*w] block is the column matrix. A team cuts each
 * GEMM (gemm_part()). */
static void forward_direct(const conv_geom *g, size_t batch, const double *x, const double *w,
                           const double *bias, nnla_act act, double *y, conv_team tm)
{
    size_t band = NNLA_CONV_DIRECT_BYTES / (g->mg * sizeof(double));
    if (band < 256) band = 256;
    if (band >= g->p)
        band = g->p;
    else
        band = even_out(g->p, band);
    const int gemv = g->mg == 1, rowwise = nnla_act_is_rowwise(act.kind);
    for (size_t n = 0; n < batch; n++) {
        for (size_t q = 0; q < g->groups; q++) {
            const double *xg = x + (n * g->c + q * g->cg) * g->p, *wg = w + q * g->mg * g->kg;
            double *yg = y + (n * g->m + q * g->mg) * g->p;
            const double *bg = bias != NULL ? bias + q * g->mg : NULL;
            for (size_t c0 = 0; c0 < g->p; c0 += band) {
                size_t nc = g->p - c0 < band ? g->p - c0 : band;
                gemm_rect r = gemm_part(g->mg, nc, tm);
                if (rect_empty(r)) continue;
                double *yr = yg + r.r0 * g->p + c0 + r.c0;
                group_gemm(r.r1 - r.r0, g->kg, wg + r.r0 * g->kg, g->kg, xg + c0 + r.c0, g->p, r.c1 - r.c0, 0.0, yr,
                           g->p, gemv);
                bias_act(act, bg != NULL ? bg + r.r0 : NULL, r.r1 - r.r0, r.c1 - r.c0, yr, g->p, yr, g->p);
            }
        }
        if (rowwise) {
            team_barrier(tm); /* every channel of the image done */
            if (n % (size_t)tm.nth == (size_t)tm.tid) planes_act(act, g->m, g->p, y + n * g->m * g->p);
        }
    }
}

/* Several whole images per GEMM (PLAN_MULTI). A team builds the column matrix by input channels,
 * then computes its part of the GEMM and of the bias + activation pass. */
static void forward_multi(const conv_geom *g, const conv_plan *pl, size_t batch, const double *x,
                          const double *w, const double *bias, nnla_act act, double *y, const conv_ws *ws,
                          double *pbuf, conv_team tm)
{
    const size_t p = g->p, ld = pl->ldcol, rpc = g->kh * g->kw;
    const int gemv = g->mg == 1;
    size_t c0, c1;
    split_range(g->cg, 1, tm.nth, tm.tid, &c0, &c1);
    for (size_t n0 = 0; n0 < batch; n0 += pl->nimg) {
        const size_t ni = batch - n0 < pl->nimg ? batch - n0 : pl->nimg, ncols = ni * p;
        for (size_t q = 0; q < g->groups; q++) {
            for (size_t i = 0; i < ni && c1 > c0; i++)
                im2col_rows(g, x + ((n0 + i) * g->c + q * g->cg + c0) * g->hw, c1 - c0, 0, g->oh,
                            ws->col + c0 * rpc * ld + i * p, ld, pbuf);
            team_barrier(tm);
            gemm_rect r = gemm_part(g->mg, ncols, tm);
            if (!rect_empty(r)) {
                double *t = ws->tmp + r.r0 * pl->cols;
                group_gemm(r.r1 - r.r0, pl->kdim, w + (q * g->mg + r.r0) * g->kg, g->kg, ws->col + r.c0, ld,
                           r.c1 - r.c0, 0.0, t + r.c0, pl->cols, gemv);
                const double *bg = bias != NULL ? bias + q * g->mg + r.r0 : NULL;
                for (size_t i = r.c0 / p; i < ni && i * p < r.c1; i++) { /* the images the columns cover */
                    size_t a = r.c0 > i * p ? r.c0 : i * p, b = r.c1 < (i + 1) * p ? r.c1 : (i + 1) * p;
                    double *yg = y + ((n0 + i) * g->m + q * g->mg + r.r0) * p + (a - i * p);
                    bias_act(act, bg, r.r1 - r.r0, b - a, t + a, pl->cols, yg, p);
                }
            }
            team_barrier(tm); /* the column matrix and the scratch block are reused */
        }
        for (size_t i = (size_t)tm.tid; i < ni; i += (size_t)tm.nth) planes_act(act, g->m, p, y + (n0 + i) * g->m * p);
    }
}

/* Bands of output rows of one image, straight into y (PLAN_BANDS and PLAN_KSPLIT); a team as in
 * forward_multi(), repacking the weights by output channels. */
static void forward_bands(const conv_geom *g, const conv_plan *pl, size_t batch, const double *x,
                          const double *w, const double *bias, nnla_act act, double *y, const conv_ws *ws,
                          double *pbuf, conv_team tm)
{
    const size_t p = g->p, ow = g->ow, kd = pl->kdim, ld = pl->ldcol;
    const int ks = pl->kind == PLAN_KSPLIT, gemv = g->mg == 1;
    const size_t rpc = ks ? g->kw : g->kh * g->kw;
    const conv_geom rg = ksplit_geom(g);
    size_t c0, c1, m0, m1;
    split_range(g->cg, 1, tm.nth, tm.tid, &c0, &c1);
    split_range(g->mg, 1, tm.nth, tm.tid, &m0, &m1);
    size_t repacked = SIZE_MAX; /* the group whose weights wrep holds */
    for (size_t n = 0; n < batch; n++) {
        for (size_t oy = 0; oy < g->oh; oy += pl->rows) {
            const size_t oy1 = g->oh - oy < pl->rows ? g->oh : oy + pl->rows, ncols = (oy1 - oy) * ow;
            for (size_t q = 0; q < g->groups; q++) {
                const double *xg = x + (n * g->c + q * g->cg) * g->hw, *wg = w + q * g->mg * g->kg;
                double *yb = y + (n * g->m + q * g->mg) * p + oy * ow;
                if (ks && repacked != q) {
                    repack_rows(g, wg, ws->wrep, m0, m1, 0, g->cg);
                    repacked = q;
                }
                if (c1 > c0) {
                    if (ks)
                        im2col_rows(&rg, xg + c0 * g->hw, c1 - c0, oy, oy + ksplit_span(g, oy, oy1),
                                    ws->col + c0 * rpc * ld, ld, pbuf);
                    else
                        im2col_rows(g, xg + c0 * g->hw, c1 - c0, oy, oy1, ws->col + c0 * rpc * ld, ld, pbuf);
                }
                team_barrier(tm);
                gemm_rect r = gemm_part(g->mg, ncols, tm);
                if (!rect_empty(r)) {
                    double *yr = yb + r.r0 * p + r.c0;
                    if (ks) {
                        for (size_t i = 0; i < g->kh; i++)
                            group_gemm(r.r1 - r.r0, kd, ws->wrep + (i * g->mg + r.r0) * kd, kd,
                                       ws->col + i * g->dh * ow + r.c0, ld, r.c1 - r.c0, i ? 1.0 : 0.0, yr, p, gemv);
                    } else {
                        group_gemm(r.r1 - r.r0, kd, wg + r.r0 * g->kg, g->kg, ws->col + r.c0, ld, r.c1 - r.c0, 0.0,
                                   yr, p, gemv);
                    }
                    bias_act(act, bias != NULL ? bias + q * g->mg + r.r0 : NULL, r.r1 - r.r0, r.c1 - r.c0, yr, p, yr,
                             p);
                }
                team_barrier(tm); /* the column matrix (and wrep) are reused */
            }
        }
        if (n % (size_t)tm.nth == (size_t)tm.tid) planes_act(act, g->m, p, y + n * g->m * p);
    }
}

/* One thread's (or a team's) forward pass over `batch` images from x, into y. */
static void forward_exec(const conv_geom *g, const conv_plan *pl, size_t batch, const double *x, const double *w,
                         const double *bias, nnla_act act, double *y, const conv_ws *ws, double *pbuf,
                         conv_team tm)
{
    if (g->direct)
        forward_direct(g, batch, x, w, bias, act, y, tm);
    else if (pl->kind == PLAN_MULTI)
        forward_multi(g, pl, batch, x, w, bias, act, y, ws, pbuf, tm);
    else
        forward_bands(g, pl, batch, x, w, bias, act, y, ws, pbuf, tm);
}

nnla_status nnla_conv2d_forward(const nnla_conv2d_desc *d, size_t batch, size_t in_h, size_t in_w,
                                const double *x, const double *w, const double *bias, nnla_act act, double *y,
                                void *work, size_t work_size)
{
    if (d == NULL || x == NULL || w == NULL || y == NULL || (work == NULL && work_size > 0))
        return NNLA_ENULL;
    conv_geom g;
    NNLA__TRY(geom_make(d, in_h, in_w, &g));
    size_t xb, yb, wb, bb = g.m * sizeof(double);
    NNLA__TRY(batch_bytes(&g, batch, &xb, &yb, &wb));
    NNLA__TRY(check_blas_dims(&g));
    NNLA__TRY(nnla_act_check(act));
    if (nnla__overlap(y, yb, x, xb) || nnla__overlap(y, yb, w, wb) || overlaps(bias, bb, y, yb) ||
        overlaps(work, work_size, x, xb) || overlaps(work, work_size, w, wb) || overlaps(work, work_size, y, yb) ||
        overlaps(work, work_size, bias, bb))
        return NNLA_EALIAS;

    const int n = nnla__share_begin();
    conv_run run;
    nnla_status st = run_make(&g, OP_FORWARD, batch, work_size, n, &run);
    conv_ws ws = {NULL, NULL, NULL, NULL};
    nnla__arena ar = {(unsigned char *)work, work_size};
    if (st == NNLA_OK && run.mode == RUN_BATCH && !batch_slices_fit(&g, &run, work, work_size)) st = NNLA_EINTERNAL;
    if (st == NNLA_OK && run.mode != RUN_BATCH && !g.direct && !ws_take(&ar, &g, &run.pl, &ws)) st = NNLA_EINTERNAL;
    if (st != NNLA_OK) {
        nnla__share_end();
        return st;
    }
    if (run.mode == RUN_BATCH) {
#pragma omp parallel num_threads(run.nth)
        {
            const int t = omp_get_thread_num();
            size_t n0, n1;
            batch_images(&run, batch, t, omp_get_num_threads(), &n0, &n1);
            conv_ws mine = {NULL, NULL, NULL, NULL};
            (void)batch_slice(&g, &run, work, work_size, t, &mine, NULL); /* fits: checked above */
            if (n1 > n0)
                forward_exec(&g, &run.pl, n1 - n0, x + n0 * g.c * g.hw, w, bias, act, y + n0 * g.m * g.p, &mine,
                             mine.pbuf, solo);
        }
    } else if (run.mode == RUN_TEAM) {
#pragma omp parallel num_threads(run.nth)
        {
            conv_team tm = {omp_get_thread_num(), omp_get_num_threads()};
            forward_exec(&g, &run.pl, batch, x, w, bias, act, y, &ws, team_pbuf(&g, &run, &ws, ar, tm.tid), tm);
        }
    } else {
        int prev = solo_blas_begin(n);
        forward_exec(&g, &run.pl, batch, x, w, bias, act, y, &ws, ws.pbuf, solo);
        solo_blas_end(prev);
    }
    nnla__share_end();
    return NNLA_OK;
}

/* ------------------------------------------------------------------ backward: input gradient */

/* 1x1, stride 1, no padding: dx_g = W_g^T dy_g per image and group, straight into dx; a team cuts
 * each GEMM (gemm_part()). */
static void backward_data_direct(const conv_geom *g, size_t batch, const double *dy, const double *w, double *dx,
                                 conv_team tm)
{
    const gemm_rect r = gemm_part(g->cg, g->p, tm);
    if (rect_empty(r)) return;
    for (size_t n = 0; n < batch; n++)
        for (size_t q = 0; q < g->groups; q++)
            gemm_tn(r.r1 - r.r0, r.c1 - r.c0, g->mg, w + q * g->mg * g->kg + r.r0, g->kg,
                    dy + (n * g->m + q * g->mg) * g->p + r.c0, g->p, 0.0, dx + (n * g->c + q * g->cg + r.r0) * g->p + r.c0,
                    g->p);
}

/*
 * Several whole images per GEMM: their dy side by side in tmp, col = W_g^T tmp, col2im per image.
 * A team gathers dy by rows, then cuts the GEMM by input channels at rows that are multiples of
 * NNLA_CONV_ROW_ALIGN and scatters the same channels (own), or, with too few channels, cuts the
 * GEMM by gemm_part() and scatters by channels after a barrier.
 */
static void backward_data_multi(const conv_geom *g, const conv_plan *pl, size_t batch, const double *dy,
                                const double *w, double *dx, const conv_ws *ws, conv_team tm)
{
    const size_t p = g->p, rpc = g->kh * g->kw, ld = pl->ldcol;
    size_t c0, c1, x0, x1, r0, r1;
    const int own = data_chan_split(g, rpc, tm, &c0, &c1);
    if (own) {
        x0 = c0;
        x1 = c1;
    } else {
        split_range(g->cg, 1, tm.nth, tm.tid, &x0, &x1);
    }
    split_range(g->mg, 1, tm.nth, tm.tid, &r0, &r1);
    for (size_t q = 0; q < g->groups; q++) {
        const double *wg = w + q * g->mg * g->kg;
        for (size_t n0 = 0; n0 < batch; n0 += pl->nimg) {
            const size_t ni = batch - n0 < pl->nimg ? batch - n0 : pl->nimg, ncols = ni * p;
            gather_dy(g, dy, n0, ni, q, ws->tmp, pl->cols, r0, r1);
            team_barrier(tm);
            if (own) {
                if (c1 > c0)
                    gemm_tn((c1 - c0) * rpc, ncols, g->mg, wg + c0 * rpc, g->kg, ws->tmp, pl->cols, 0.0,
                            ws->col + c0 * rpc * ld, ld);
            } else {
                gemm_rect r = gemm_part(pl->kdim, ncols, tm);
                if (!rect_empty(r))
                    gemm_tn(r.r1 - r.r0, r.c1 - r.c0, g->mg, wg + r.r0, g->kg, ws->tmp + r.c0, pl->cols, 0.0,
                            ws->col + r.r0 * ld + r.c0, ld);
                team_barrier(tm);
            }
            for (size_t i = 0; i < ni && x1 > x0; i++) {
                double *dxg = dx + ((n0 + i) * g->c + q * g->cg + x0) * g->hw;
                memset(dxg, 0, (x1 - x0) * g->hw * sizeof *dxg);
                col2im_add(g, ws->col + x0 * rpc * ld + i * p, ld, x1 - x0, 0, g->oh, dxg);
            }
            team_barrier(tm); /* tmp and the column matrix are reused */
        }
    }
}

/*
 * Bands of output rows of one image (PLAN_BANDS, PLAN_KSPLIT): col = W_g^T dy_band, then col2im
 * of the band. With the kernel-row split, kernel row i's GEMM adds W_i^T dy_band into the view of
 * the kernel-column matrix shifted by i*dh*ow columns, and one col2im of that matrix (kh times
 * fewer rows) follows. A team as in backward_data_multi() (the kernel-row split, whose shifted
 * views overlap in columns, cannot be cut by columns: thread 0 then runs its GEMMs).
 */
static void backward_data_bands(const conv_geom *g, const conv_plan *pl, size_t batch, const double *dy,
                                const double *w, double *dx, const conv_ws *ws, conv_team tm)
{
    const size_t p = g->p, ow = g->ow, kd = pl->kdim, ld = pl->ldcol;
    const int ks = pl->kind == PLAN_KSPLIT;
    const size_t rpc = ks ? g->kw : g->kh * g->kw;
    const conv_geom rg = ksplit_geom(g);
    size_t c0, c1, x0, x1, m0, m1;
    const int own = data_chan_split(g, rpc, tm, &c0, &c1);
    if (own) {
        x0 = c0;
        x1 = c1;
    } else {
        split_range(g->cg, 1, tm.nth, tm.tid, &x0, &x1);
    }
    split_range(g->mg, 1, tm.nth, tm.tid, &m0, &m1);
    for (size_t q = 0; q < g->groups; q++) {
        const double *wg = w + q * g->mg * g->kg;
        if (ks) {
            if (own) {
                repack_rows(g, wg, ws->wrep, 0, g->mg, c0, c1);
            } else {
                team_barrier(tm); /* the previous group's GEMMs are done with wrep */
                repack_rows(g, wg, ws->wrep, m0, m1, 0, g->cg);
                team_barrier(tm);
            }
        }
        for (size_t n = 0; n < batch; n++) {
            double *dxg = dx + (n * g->c + q * g->cg) * g->hw;
            if (x1 > x0) memset(dxg + x0 * g->hw, 0, (x1 - x0) * g->hw * sizeof *dxg);
            for (size_t oy = 0; oy < g->oh; oy += pl->rows) {
                const size_t oy1 = g->oh - oy < pl->rows ? g->oh : oy + pl->rows, ncols = (oy1 - oy) * ow;
                const size_t span = ks ? ksplit_span(g, oy, oy1) : oy1 - oy;
                const double *dyb = dy + (n * g->m + q * g->mg) * p + oy * ow;
                if (own || (ks && tm.tid == 0)) {
                    const size_t a = own ? c0 : 0, b = own ? c1 : g->cg; /* channels of the GEMM rows */
                    if (ks) {
                        for (size_t r = a * rpc; r < b * rpc; r++) zero_run(ws->col + r * ld + ncols, span * ow - ncols);
                        for (size_t i = 0; i < g->kh && b > a; i++)
                            gemm_tn((b - a) * rpc, ncols, g->mg, ws->wrep + i * g->mg * kd + a * rpc, kd, dyb, p,
                                    i ? 1.0 : 0.0, ws->col + a * rpc * ld + i * g->dh * ow, ld);
                    } else if (b > a) {
                        gemm_tn((b - a) * rpc, ncols, g->mg, wg + a * rpc, g->kg, dyb, p, 0.0, ws->col + a * rpc * ld,
                                ld);
                    }
                } else if (!ks) {
                    gemm_rect r = gemm_part(kd, ncols, tm);
                    if (!rect_empty(r))
                        gemm_tn(r.r1 - r.r0, r.c1 - r.c0, g->mg, wg + r.r0, g->kg, dyb + r.c0, p, 0.0,
                                ws->col + r.r0 * ld + r.c0, ld);
                }
                if (!own) team_barrier(tm);
                if (x1 > x0)
                    col2im_add(ks ? &rg : g, ws->col + x0 * rpc * ld, ld, x1 - x0, oy, oy + span, dxg + x0 * g->hw);
                if (!own) team_barrier(tm); /* the column matrix is reused */
            }
        }
    }
}

static void backward_data_exec(const conv_geom *g, const conv_plan *pl, size_t batch, const double *dy,
                               const double *w, double *dx, const conv_ws *ws, conv_team tm)
{
    if (g->direct)
        backward_data_direct(g, batch, dy, w, dx, tm);
    else if (pl->kind == PLAN_MULTI)
        backward_data_multi(g, pl, batch, dy, w, dx, ws, tm);
    else
        backward_data_bands(g, pl, batch, dy, w, dx, ws, tm);
}

nnla_status nnla_conv2d_backward_data(const nnla_conv2d_desc *d, size_t batch, size_t in_h, size_t in_w,
                                      const double *dy, const double *w, double *dx, void *work, size_t work_size)
{
    if (d == NULL || dy == NULL || w == NULL || dx == NULL || (work == NULL && work_size > 0)) return NNLA_ENULL;
    conv_geom g;
    NNLA__TRY(geom_make(d, in_h, in_w, &g));
    size_t xb, yb, wb;
    NNLA__TRY(batch_bytes(&g, batch, &xb, &yb, &wb));
    NNLA__TRY(check_blas_dims(&g));
    if (nnla__overlap(dx, xb, dy, yb) || nnla__overlap(dx, xb, w, wb) || overlaps(work, work_size, dy, yb) ||
        overlaps(work, work_size, w, wb) || overlaps(work, work_size, dx, xb))
        return NNLA_EALIAS;

    const int n = nnla__share_begin();
    conv_run run;
    nnla_status st = run_make(&g, OP_BACKWARD_DATA, batch, work_size, n, &run);
    conv_ws ws = {NULL, NULL, NULL, NULL};
    nnla__arena ar = {(unsigned char *)work, work_size};
    if (st == NNLA_OK && run.mode == RUN_BATCH && !batch_slices_fit(&g, &run, work, work_size)) st = NNLA_EINTERNAL;
    if (st == NNLA_OK && run.mode != RUN_BATCH && !g.direct && !ws_take(&ar, &g, &run.pl, &ws)) st = NNLA_EINTERNAL;
    if (st != NNLA_OK) {
        nnla__share_end();
        return st;
    }
    if (run.mode == RUN_BATCH) {
#pragma omp parallel num_threads(run.nth)
        {
            const int t = omp_get_thread_num();
            size_t n0, n1;
            batch_images(&run, batch, t, omp_get_num_threads(), &n0, &n1);
            conv_ws mine = {NULL, NULL, NULL, NULL};
            (void)batch_slice(&g, &run, work, work_size, t, &mine, NULL);
            if (n1 > n0)
                backward_data_exec(&g, &run.pl, n1 - n0, dy + n0 * g.m * g.p, w, dx + n0 * g.c * g.hw, &mine, solo);
        }
    } else if (run.mode == RUN_TEAM) {
#pragma omp parallel num_threads(run.nth)
        {
            conv_team tm = {omp_get_thread_num(), omp_get_num_threads()};
            backward_data_exec(&g, &run.pl, batch, dy, w, dx, &ws, tm);
        }
    } else {
        int prev = solo_blas_begin(n);
        backward_data_exec(&g, &run.pl, batch, dy, w, dx, &ws, solo);
        solo_blas_end(prev);
    }
    nnla__share_end();
    return NNLA_OK;
}

/* ------------------------------------------------------------------ backward: weight gradient */

/*
 * A team's cut of the weight gradient: by input channels (the columns of dW; each thread builds
 * the column-matrix rows of its channels and needs nobody else's: `own`), or, for one input channel
 * per group, by output channels after thread 0 built the column matrix.
 */
static int weights_split(const conv_geom *g, conv_team tm, size_t *c0, size_t *c1, size_t *m0, size_t *m1)
{
    *m0 = 0;
    *m1 = g->mg;
    if (tm.nth == 1 || g->cg >= 2) {
        split_range(g->cg, 1, tm.nth, tm.tid, c0, c1);
        return 1;
    }
    *c0 = 0;
    *c1 = tm.tid == 0 ? g->cg : 0; /* im2col of the one channel */
    split_range(g->mg, 1, tm.nth, tm.tid, m0, m1);
    return 0;
}

/* 1x1, stride 1, no padding: dW_g = sum over images of dy_g x_g^T; a team cuts dW_g. */
static void backward_weights_direct(const conv_geom *g, size_t batch, const double *x, const double *dy,
                                    double *dw, conv_team tm)
{
    size_t c0, c1, m0, m1;
    if (!weights_split(g, tm, &c0, &c1, &m0, &m1)) { /* one input channel per group: by output channels */
        c0 = 0;
        c1 = g->cg;
    }
    if (c1 <= c0 || m1 <= m0) return;
    for (size_t q = 0; q < g->groups; q++)
        for (size_t n = 0; n < batch; n++)
            gemm_nt(m1 - m0, c1 - c0, g->p, dy + (n * g->m + q * g->mg + m0) * g->p, g->p,
                    x + (n * g->c + q * g->cg + c0) * g->p, g->p, n ? 1.0 : 0.0, dw + (q * g->mg + m0) * g->kg + c0,
                    g->kg);
}

/* Several whole images per GEMM: their column matrices and their dy side by side. */
static void backward_weights_multi(const conv_geom *g, const conv_plan *pl, size_t batch, const double *x,
                                   const double *dy, double *dw, const conv_ws *ws, double *pbuf, conv_team tm)
{
    const size_t p = g->p, rpc = g->kh * g->kw, ld = pl->ldcol;
    size_t c0, c1, m0, m1, r0, r1;
    const int own = weights_split(g, tm, &c0, &c1, &m0, &m1);
    const size_t k0 = own ? c0 * rpc : 0, k1 = own ? c1 * rpc : pl->kdim; /* the thread's columns of dW */
    split_range(g->mg, 1, tm.nth, tm.tid, &r0, &r1);
    for (size_t q = 0; q < g->groups; q++) {
        for (size_t n0 = 0; n0 < batch; n0 += pl->nimg) {
            const size_t ni = batch - n0 < pl->nimg ? batch - n0 : pl->nimg;
            for (size_t i = 0; i < ni && c1 > c0; i++)
                im2col_rows(g, x + ((n0 + i) * g->c + q * g->cg + c0) * g->hw, c1 - c0, 0, g->oh,
                            ws->col + c0 * rpc * ld + i * p, ld, pbuf);
            gather_dy(g, dy, n0, ni, q, ws->tmp, pl->cols, r0, r1);
            team_barrier(tm);
            if (k1 > k0 && m1 > m0)
                gemm_nt(m1 - m0, k1 - k0, ni * p, ws->tmp + m0 * pl->cols, pl->cols, ws->col + k0 * ld, ld,
                        n0 ? 1.0 : 0.0, dw + (q * g->mg + m0) * g->kg + k0, g->kg);
            team_barrier(tm); /* tmp and the column matrix are reused */
        }
    }
}

/* Bands of output rows of one image: dW_g += dy_band col^T; with the kernel-row split, one GEMM per
 * kernel row against the shifted view, accumulated in wrep's layout and unpacked per group. */
static void backward_weights_bands(const conv_geom *g, const conv_plan *pl, size_t batch, const double *x,
                                   const double *dy, double *dw, const conv_ws *ws, double *pbuf, conv_team tm)
{
    const size_t p = g->p, ow = g->ow, kd = pl->kdim, ld = pl->ldcol;
    const int ks = pl->kind == PLAN_KSPLIT;
    const size_t rpc = ks ? g->kw : g->kh * g->kw;
    const conv_geom rg = ksplit_geom(g);
    size_t c0, c1, m0, m1;
    const int own = weights_split(g, tm, &c0, &c1, &m0, &m1);
    const size_t k0 = own ? c0 * rpc : 0, k1 = own ? c1 * rpc : kd; /* the thread's rows of col */
    for (size_t q = 0; q < g->groups; q++) {
        double *dwg = dw + q * g->mg * g->kg;
        double beta = 0.0; /* the first GEMM of the group overwrites */
        for (size_t n = 0; n < batch; n++) {
            const double *xg = x + (n * g->c + q * g->cg) * g->hw;
            for (size_t oy = 0; oy < g->oh; oy += pl->rows, beta = 1.0) {
                const size_t oy1 = g->oh - oy < pl->rows ? g->oh : oy + pl->rows, ncols = (oy1 - oy) * ow;
                const double *dyb = dy + (n * g->m + q * g->mg + m0) * p + oy * ow;
                if (c1 > c0) {
                    if (ks)
                        im2col_rows(&rg, xg + c0 * g->hw, c1 - c0, oy, oy + ksplit_span(g, oy, oy1),
                                    ws->col + c0 * rpc * ld, ld, pbuf);
                    else
                        im2col_rows(g, xg + c0 * g->hw, c1 - c0, oy, oy1, ws->col + c0 * rpc * ld, ld, pbuf);
                }
                if (!own) team_barrier(tm);
                if (k1 > k0 && m1 > m0) {
                    if (ks) {
                        for (size_t i = 0; i < g->kh; i++)
                            gemm_nt(m1 - m0, k1 - k0, ncols, dyb, p, ws->col + k0 * ld + i * g->dh * ow, ld, beta,
                                    ws->wrep + (i * g->mg + m0) * kd + k0, kd);
                    } else {
                        gemm_nt(m1 - m0, k1 - k0, ncols, dyb, p, ws->col + k0 * ld, ld, beta, dwg + m0 * g->kg + k0,
                                g->kg);
                    }
                }
                if (!own) team_barrier(tm); /* the column matrix is reused */
            }
        }
        if (ks) {
            if (own)
                unpack_rows(g, ws->wrep, dwg, c0, c1);
            else if (tm.tid == 0)
                unpack_rows(g, ws->wrep, dwg, 0, g->cg); /* after the last barrier; before the next group's */
        }
    }
}

/* db[m] = the sum of dy over the batch and the pixels of output channel m, for m in [m0, m1): the
 * same sums in the same order for any thread count. */
static void bias_grad(const conv_geom *g, size_t batch, const double *dy, double *db, size_t m0, size_t m1)
{
    for (size_t m = m0; m < m1; m++) {
        double s = 0.0;
        for (size_t n = 0; n < batch; n++) {
            const double *r = dy + (n * g->m + m) * g->p;
            for (size_t t = 0; t < g->p; t++) s += r[t];
        }
        db[m] = s;
    }
}

static void backward_weights_exec(const conv_geom *g, const conv_plan *pl, size_t batch, const double *x,
                                  const double *dy, double *dw, const conv_ws *ws, double *pbuf, conv_team tm)
{
    if (g->direct)
        backward_weights_direct(g, batch, x, dy, dw, tm);
    else if (pl->kind == PLAN_MULTI)
        backward_weights_multi(g, pl, batch, x, dy, dw, ws, pbuf, tm);
    else
        backward_weights_bands(g, pl, batch, x, dy, dw, ws, pbuf, tm);
}

nnla_status nnla_conv2d_backward_weights(const nnla_conv2d_desc *d, size_t batch, size_t in_h, size_t in_w,
                                         const double *x, const double *dy, double *dw, double *db, void *work,
                                         size_t work_size)
{
    if (d == NULL || x == NULL || dy == NULL || dw == NULL || (work == NULL && work_size > 0)) return NNLA_ENULL;
    conv_geom g;
    NNLA__TRY(geom_make(d, in_h, in_w, &g));
    size_t xb, yb, wb, bb = g.m * sizeof(double);
    NNLA__TRY(batch_bytes(&g, batch, &xb, &yb, &wb));
    NNLA__TRY(check_blas_dims(&g));
    if (nnla__overlap(dw, wb, x, xb) || nnla__overlap(dw, wb, dy, yb) || overlaps(db, bb, x, xb) ||
        overlaps(db, bb, dy, yb) || overlaps(db, bb, dw, wb) || overlaps(work, work_size, x, xb) ||
        overlaps(work, work_size, dy, yb) || overlaps(work, work_size, dw, wb) || overlaps(work, work_size, db, bb))
        return NNLA_EALIAS;

    const int n = nnla__share_begin();
    conv_run run;
    nnla_status st = run_make(&g, OP_BACKWARD_WEIGHTS, batch, work_size, n, &run);
    conv_ws ws = {NULL, NULL, NULL, NULL};
    nnla__arena ar = {(unsigned char *)work, work_size};
    if (st == NNLA_OK && run.mode == RUN_BATCH && !batch_slices_fit(&g, &run, work, work_size)) st = NNLA_EINTERNAL;
    if (st == NNLA_OK && run.mode != RUN_BATCH && !g.direct && !ws_take(&ar, &g, &run.pl, &ws)) st = NNLA_EINTERNAL;
    if (st != NNLA_OK) {
        nnla__share_end();
        return st;
    }
    if (run.mode == RUN_BATCH) {
        /* each thread's images into its own gradient (thread 0's is dw), then dw = the sum of them
         * in thread order, entry by entry, cut over the team */
#pragma omp parallel num_threads(run.nth)
        {
            const int t = omp_get_thread_num(), nth = omp_get_num_threads();
            size_t n0, n1, e0, e1;
            batch_images(&run, batch, t, nth, &n0, &n1);
            conv_ws mine = {NULL, NULL, NULL, NULL};
            double *part = NULL;
            (void)batch_slice(&g, &run, work, work_size, t, &mine, &part);
            double *target = t == 0 ? dw : part;
            if (n1 > n0)
                backward_weights_exec(&g, &run.pl, n1 - n0, x + n0 * g.c * g.hw, dy + n0 * g.m * g.p, target, &mine,
                                      mine.pbuf, solo);
            else
                memset(target, 0, g.m * g.kg * sizeof *target);
#pragma omp barrier
            split_range(g.m * g.kg, 8, nth, t, &e0, &e1);
            for (int u = 1; u < nth; u++) {
                (void)batch_slice(&g, &run, work, work_size, u, &mine, &part);
                for (size_t e = e0; e < e1; e++) dw[e] += part[e];
            }
            if (db != NULL) {
                size_t m0, m1;
                split_range(g.m, 1, nth, t, &m0, &m1);
                bias_grad(&g, batch, dy, db, m0, m1);
            }
        }
    } else if (run.mode == RUN_TEAM) {
#pragma omp parallel num_threads(run.nth)
        {
            conv_team tm = {omp_get_thread_num(), omp_get_num_threads()};
            backward_weights_exec(&g, &run.pl, batch, x, dy, dw, &ws, team_pbuf(&g, &run, &ws, ar, tm.tid), tm);
            if (db != NULL) {
                size_t m0, m1;
                split_range(g.m, 1, tm.nth, tm.tid, &m0, &m1);
                bias_grad(&g, batch, dy, db, m0, m1);
            }
        }
    } else {
        backward_weights_exec(&g, &run.pl, batch, x, dy, dw, &ws, ws.pbuf, solo);
        if (db != NULL) bias_grad(&g, batch, dy, db, 0, g.m);
    }
    nnla__share_end();
    return NNLA_OK;
}
