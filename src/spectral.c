/*
 * Spectral methods on matrices: exact and power-iteration spectral norms, spectral normalization,
 * singular-value clipping, diagnostics, the singular values of a circular convolution, and the
 * ridge refit of a dense layer. See nnla/spectral.h and docs/spectral.md.
 *
 * Every public function checks all of its arguments (views, shapes, sizes, aliasing, workspace,
 * values) before it writes anything, then carves its workspace with nnla__arena_take. The SVDs go
 * through nnla_svd() (values-only or thin), which copies A into its own workspace and calls
 * LAPACK's column-major dgesdd on the transposed view; the convolution's small complex matrices
 * are built column-major and go straight to zgesdd.
 */
#include <float.h>
#include <math.h>

#include <cblas.h>
#include <lapacke.h>

#include "internal.h"

/* ------------------------------------------------------------------ shared helpers */

/* A byte range for the pairwise overlap check (n == 0: never overlaps). */
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

/* Whether the range r overlaps any of the others. */
static int overlaps_any(span r, const span *others, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (nnla__overlap(r.p, r.n, others[i].p, others[i].n)) return 1;
    return 0;
}

/* Bytes of n doubles, checked. */
static int doubles_bytes(size_t n, size_t *bytes) { return nnla__mul(n, sizeof(double), bytes); }

/* Add a piece of n doubles to a workspace total. */
static int ws_doubles(size_t n, size_t *total)
{
    size_t b;
    return doubles_bytes(n, &b) && nnla__ws_piece(b, total);
}

static double *take_doubles(nnla__arena *ar, size_t n) { return nnla__arena_take(ar, n * sizeof(double)); }

/* ||x - s y||_2 over n entries, without overflow or underflow in the squares. */
static double diff_norm(const double *x, double s, const double *y, size_t n)
{
    double amax = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(x[i] - s * y[i]);
        if (d > amax) amax = d;
    }
    if (amax == 0.0 || !isfinite(amax)) return amax;
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (x[i] - s * y[i]) / amax;
        sum += d * d;
    }
    return amax * sqrt(sum);
}

/* The Euclidean norm of n doubles (n fits int): OpenBLAS's dnrm2, which scales. */
static double norm2(const double *x, size_t n) { return nnla__dnrm2((int)n, x, 1); }

/* x /= s elementwise (a division, not a multiplication by 1/s, which could overflow). */
static void divide(double *x, size_t n, double s)
{
    for (size_t i = 0; i < n; i++) x[i] /= s;
}

/* ------------------------------------------------------------------ exact spectral norm */

static nnla_status norm_sizes(size_t m, size_t n, size_t *bytes, size_t *svd_bytes)
{
    size_t k = m < n ? m : n, total = 0;
    NNLA__TRY(nnla_svd_workspace_size(NNLA_SVD_VALUES, m, n, svd_bytes));
    if (!ws_doubles(k, &total) || !nnla__ws_piece(*svd_bytes, &total)) return NNLA_EOVERFLOW;
    *bytes = total;
    return NNLA_OK;
}

nnla_status nnla_spectral_norm_workspace_size(size_t m, size_t n, size_t *bytes)
{
    if (bytes == NULL) return NNLA_ENULL;
    if (m == 0 || n == 0) return NNLA_EDIM;
    size_t b, sb;
    NNLA__TRY(norm_sizes(m, n, &b, &sb));
    *bytes = b;
    return NNLA_OK;
}

/* The values-only SVD into s (k doubles) with svd_work; everything already checked. */
static nnla_status values_svd(nnla_cmat a, double *s, void *svd_work, size_t svd_bytes)
{
    nnla_mat none = nnla_mat_view(NULL, 0, 0, 0);
    return nnla_svd(NNLA_SVD_VALUES, a, s, none, none, svd_work, svd_bytes, NULL);
}

nnla_status nnla_spectral_norm(nnla_cmat a, double *sigma, void *work, size_t work_size)
{
    NNLA__TRY(nnla__check_blas_view(a));
    if (sigma == NULL || work == NULL) return NNLA_ENULL;
    size_t need, sb, k = a.rows < a.cols ? a.rows : a.cols;
    NNLA__TRY(norm_sizes(a.rows, a.cols, &need, &sb));
    span r[3] = {{a.data, nnla__view_bytes(a)}, {work, work_size}, {sigma, sizeof *sigma}};
    if (any_overlap(r, 3)) return NNLA_EALIAS;
    if (work_size < need) return NNLA_EWORKSPACE;
    if (!nnla__all_finite(a)) return NNLA_ENONFINITE;

    nnla__arena ar = {(unsigned char *)work, work_size};
    double *s = take_doubles(&ar, k);
    void *sw = nnla__arena_take(&ar, sb);
    if (s == NULL || sw == NULL) return NNLA_EWORKSPACE; /* unreachable: size checked */
    NNLA__TRY(values_svd(a, s, sw, sb));
    *sigma = s[0];
    return NNLA_OK;
}

/* ------------------------------------------------------------------ power iteration */

nnla_power_opts nnla_power_opts_default(void)
{
    nnla_power_opts o;
    o.tol = 1e-6;
    o.max_iter = 1000;
    o.warm_start = 0;
    o.seed = 0;
    return o;
}

static nnla_status opts_check(const nnla_power_opts *o)
{
    if (!isfinite(o->tol) || o->tol < 0.0) return NNLA_EINVAL;
    if (o->max_iter == 0) return NNLA_EINVAL;
    return NNLA_OK;
}

/*
 * The iteration is block power iteration (subspace iteration) with a block of two vectors and a
 * Rayleigh-Ritz step, on A^T A: V (cols x 2, orthonormal) -> W = A V, H = W^T W (2 x 2), its top
 * eigenvector y gives v = V y, u = W y / sigma, sigma = ||W y||; then V <- orth(A^T W Y), Y = [y, y^perp].
 * It stops when the relative residual r = ||A^T u - sigma v|| / sigma is at most POWER_RESIDUAL_SHARE
 * times tol.
 *
 * Why: r certifies that sigma is within r/2 (relative) of *a* singular value (Weyl), not that it is
 * sigma_1. An iterate still dominated by v_2 has a small residual too: with v = a v_1 + b v_2 and
 * delta = 1 - sigma_2^2 / sigma_1^2, r = |a b| delta while the error against sigma_1 is b^2 delta / 2.
 * Measured on sweeps of nearly degenerate spectra (`nnla-bench power-sweep`, docs/spectral.md):
 * single-vector power iteration stopping at r <= tol was off by more than tol in 2-5% of the runs
 * that reported convergence (errors up to 2000 tol). A block of two resolves a close pair sigma_1, sigma_2 exactly through the Ritz step
 * (it converges as (sigma_3 / sigma_1)^2), and stopping at r <= tol / 10 makes a wrong stop need a
 * start with very little v_1 in it: in the same sweeps (`nnla-bench power-sweep`) 5 of 30,311
 * converged runs erred by more than tol, each returning sigma_2 = (1 - 2.5 tol) sigma_1 with
 * sigma_3 = (1 - 5 tol) sigma_1. This is a probability, not a guarantee: no method that only
 * multiplies by A and A^T can certify sigma_1.
 */
#define POWER_BLOCK 2
#define POWER_RESIDUAL_SHARE 0.1

static int power_converged(double r, double tol) { return r <= POWER_RESIDUAL_SHARE * tol; }

/* Products with a block of p vectors, stored one after the other (x: p * len_in doubles). */
typedef nnla_status (*block_fn)(void *ctx, int transpose, size_t p, const double *x, double *y);

typedef struct block_op {
    size_t rows, cols;
    block_fn apply;
    void *ctx;
} block_op;

/* The generic operator: one callback per vector. */
static nnla_status linop_block(void *ctx, int transpose, size_t p, const double *x, double *y)
{
    const nnla_linop *op = ctx;
    size_t in = transpose ? op->rows : op->cols, out = transpose ? op->cols : op->rows;
    for (size_t j = 0; j < p; j++) NNLA__TRY(op->apply(op->ctx, transpose, x + j * in, y + j * out));
    return NNLA_OK;
}

/* Workspace of the iteration: V (2 cols), W (2 rows), Z (2 cols), A^T u (cols), u and v stand-ins. */
static nnla_status power_sizes(size_t rows, size_t cols, size_t *bytes)
{
    size_t total = 0, r2, c2;
    if (!nnla__mul(rows, POWER_BLOCK, &r2) || !nnla__mul(cols, POWER_BLOCK, &c2) || !ws_doubles(c2, &total) ||
        !ws_doubles(r2, &total) || !ws_doubles(c2, &total) || !ws_doubles(cols, &total) ||
        !ws_doubles(rows, &total) || !ws_doubles(cols, &total))
        return NNLA_EOVERFLOW;
    *bytes = total;
    return NNLA_OK;
}

nnla_status nnla_power_norm_workspace_size(size_t rows, size_t cols, size_t *bytes)
{
    if (bytes == NULL) return NNLA_ENULL;
    if (rows == 0 || cols == 0) return NNLA_EDIM;
    if (!nnla__fits_int(rows) || !nnla__fits_int(cols)) return NNLA_EOVERFLOW;
    size_t b;
    NNLA__TRY(power_sizes(rows, cols, &b));
    *bytes = b;
    return NNLA_OK;
}

/* Checks of the warm-start vector: finite and nonzero. */
static nnla_status warm_check(const nnla_power_opts *o, const double *v, size_t n)
{
    if (!o->warm_start) return NNLA_OK;
    if (!nnla__all_finite_vec(v, n)) return NNLA_ENONFINITE;
    for (size_t i = 0; i < n; i++)
        if (v[i] != 0.0) return NNLA_OK;
    return NNLA_EINVAL;
}

static double dot(const double *x, const double *y, size_t n) { return nnla__ddot((int)n, x, 1, y, 1); }

/*
 * Make column j of V (cols x p, columns one after the other) orthonormal to the columns before it
 * (Gram-Schmidt, twice). A column that vanishes against the others (relative to its norm before)
 * is replaced by pseudo-random draws and tried again. Column 0 must be nonzero.
 */
static void orthonormalize(double *V, size_t n, size_t p, nnla_rng *rng)
{
    for (size_t j = 0; j < p; j++) {
        double *x = V + j * n;
        for (int attempt = 0;; attempt++) {
            double before = norm2(x, n);
            for (int pass = 0; pass < 2; pass++)
                for (size_t i = 0; i < j; i++) {
                    double d = dot(V + i * n, x, n);
                    for (size_t t = 0; t < n; t++) x[t] -= d * V[i * n + t];
                }
            double after = norm2(x, n);
            if (after > 1e-8 * before && after > 0.0) {
                divide(x, n, after);
                break;
            }
            /* j >= 1 here (column 0 is nonzero); n >= p, so a random draw succeeds almost surely,
             * and after 8 failures the columns are kept as they are (unreachable in practice) */
            if (attempt == 8) break;
            nnla_rng_fill_normal(rng, 0.0, 1.0, x, n);
        }
    }
}

/* The top eigenpair of the symmetric p x p matrix H (p = 1 or 2): theta and y (unit). */
static double top_eig(const double *H, size_t p, double *y)
{
    if (p == 1) {
        y[0] = 1.0;
        return H[0];
    }
    double a = H[0], b = H[1], c = H[3];
    double mid = 0.5 * (a + c), rad = hypot(0.5 * (a - c), b), theta = mid + rad;
    if (b == 0.0) {
        y[0] = a >= c ? 1.0 : 0.0;
        y[1] = a >= c ? 0.0 : 1.0;
        return a >= c ? a : c;
    }
    /* (H - theta I) y = 0: take the longer of the two candidate vectors */
    double x1 = b, x2 = theta - a, z1 = theta - c, z2 = b;
    double nx = hypot(x1, x2), nz = hypot(z1, z2);
    if (nx >= nz) {
        y[0] = x1 / nx;
        y[1] = x2 / nx;
    } else {
        y[0] = z1 / nz;
        y[1] = z2 / nz;
    }
    return theta;
}

/* out (len) = X y for X with p columns of length len. */
static void combine(const double *X, size_t len, size_t p, const double *y, double *out)
{
    for (size_t t = 0; t < len; t++) {
        double s = 0.0;
        for (size_t j = 0; j < p; j++) s += X[j * len + t] * y[j];
        out[t] = s;
    }
}

/* The buffers of an iteration. */
typedef struct power_bufs {
    double *V, *W, *Z, *atu, *u, *v;
} power_bufs;

/*
 * The Ritz step on V: W = A V, H = W^T W (scaled), top pair y; u = W y / sigma, v = V y; Z = A^T W;
 * r = ||A^T u - sigma v|| / sigma. Returns the status of the products; *sigma = 0 when W = 0.
 */
static nnla_status ritz(const block_op *op, size_t p, power_bufs *b, double *y, double *sigma, double *r)
{
    size_t m = op->rows, n = op->cols;
    NNLA__TRY(op->apply(op->ctx, 0, p, b->V, b->W));
    double scale = 0.0;
    for (size_t j = 0; j < p; j++) {
        double nj = norm2(b->W + j * m, m);
        if (!isfinite(nj)) return NNLA_ENONFINITE;
        if (nj > scale) scale = nj;
    }
    if (scale == 0.0) {
        *sigma = 0.0;
        *r = 0.0;
        return NNLA_OK;
    }
    double H[4];
    for (size_t i = 0; i < p; i++)
        for (size_t j = 0; j < p; j++) {
            /* (W/scale)^T (W/scale) without forming W/scale: no overflow, no underflow */
            double s = 0.0;
            for (size_t t = 0; t < m; t++) s += (b->W[i * m + t] / scale) * (b->W[j * m + t] / scale);
            H[i * p + j] = s;
        }
    top_eig(H, p, y);
    combine(b->W, m, p, y, b->u);
    double s = norm2(b->u, m);
    if (!isfinite(s)) return NNLA_ENONFINITE;
    if (s == 0.0) { /* the top Ritz value is at rounding level only if W is: unreachable */
        *sigma = 0.0;
        *r = 0.0;
        return NNLA_OK;
    }
    divide(b->u, m, s);
    combine(b->V, n, p, y, b->v);
    NNLA__TRY(op->apply(op->ctx, 1, p, b->W, b->Z));
    combine(b->Z, n, p, y, b->atu);
    divide(b->atu, n, s); /* A^T u */
    *sigma = s;
    *r = diff_norm(b->atu, s, b->v, n) / s;
    if (!isfinite(*r)) return NNLA_ENONFINITE;
    return NNLA_OK;
}

/*
 * The whole iteration, all arguments checked. b->v holds the warm start when o->warm_start. On
 * NNLA_OK or NNLA_ENOCONV, *sigma and *info are set and b->u, b->v hold the top Ritz vectors.
 */
static nnla_status power_run(const block_op *op, const nnla_power_opts *o, power_bufs *b, double *sigma,
                             nnla_power_info *info)
{
    size_t m = op->rows, n = op->cols, p = n < POWER_BLOCK ? n : POWER_BLOCK;
    nnla_rng rng;
    nnla_rng_seed(&rng, o->seed);
    if (o->warm_start)
        memcpy(b->V, b->v, n * sizeof(double));
    else
        nnla_rng_fill_normal(&rng, 0.0, 1.0, b->V, n);
    nnla_rng_fill_normal(&rng, 0.0, 1.0, b->V + n, (p - 1) * n);
    orthonormalize(b->V, n, p, &rng);

    double y[POWER_BLOCK], s, r;
    NNLA__TRY(ritz(op, p, b, y, &s, &r));
    if (s == 0.0) {
        /* the block lies in the null space: one fresh pseudo-random block */
        nnla_rng_fill_normal(&rng, 0.0, 1.0, b->V, p * n);
        orthonormalize(b->V, n, p, &rng);
        NNLA__TRY(ritz(op, p, b, y, &s, &r));
        if (s == 0.0) { /* a zero operator */
            for (size_t i = 0; i < m; i++) b->u[i] = i == 0 ? 1.0 : 0.0;
            memcpy(b->v, b->V, n * sizeof(double));
            *sigma = 0.0;
            info->iterations = 0;
            info->residual = 0.0;
            info->rel_change = 0.0;
            info->converged = 1;
            return NNLA_OK;
        }
    }
    size_t it = 0;
    double change = 0.0;
    while (!power_converged(r, o->tol) && it < o->max_iter) {
        /* V <- orth(A^T W Y): the rotated block, its first column A^T A v */
        double Y[POWER_BLOCK * POWER_BLOCK] = {y[0], p > 1 ? y[1] : 0.0, p > 1 ? -y[1] : 0.0, y[0]};
        for (size_t j = 0; j < p; j++) combine(b->Z, n, p, Y + j * POWER_BLOCK, b->V + j * n);
        orthonormalize(b->V, n, p, &rng);
        double sn;
        NNLA__TRY(ritz(op, p, b, y, &sn, &r));
        if (!(sn > 0.0)) return NNLA_ENONFINITE; /* sigma >= the last one > 0 in exact arithmetic */
        change = fabs(sn - s) / sn;
        s = sn;
        it++;
    }
    *sigma = s;
    info->iterations = it;
    info->residual = r;
    info->rel_change = change;
    info->converged = power_converged(r, o->tol);
    if (o->tol > 0.0 && !info->converged) return NNLA_ENOCONV;
    return NNLA_OK;
}

/* Argument checks shared by the generic and the matrix forms (rows, cols already valid). */
static nnla_status power_check_common(size_t rows, size_t cols, const nnla_power_opts *o, const double *sigma,
                                      const double *u, const double *v, const void *work, size_t work_size,
                                      size_t need, const span *extra, size_t nextra)
{
    if (sigma == NULL || work == NULL) return NNLA_ENULL;
    if (o->warm_start && v == NULL) return NNLA_ENULL;
    NNLA__TRY(opts_check(o));
    span r[3] = {{u, u ? rows * sizeof(double) : 0},
                 {v, v ? cols * sizeof(double) : 0},
                 {work, work_size}};
    if (any_overlap(r, 3)) return NNLA_EALIAS;
    for (size_t i = 0; i < 3; i++)
        if (overlaps_any(r[i], extra, nextra)) return NNLA_EALIAS;
    if (work_size < need) return NNLA_EWORKSPACE;
    return warm_check(o, v, cols);
}

/* Run the checked iteration with the workspace's buffers (and stand-ins for absent u, v). */
static nnla_status power_with_work(const block_op *op, const nnla_power_opts *o, double *sigma, double *u,
                                   double *v, nnla_power_info *info, nnla__arena *ar)
{
    size_t m = op->rows, n = op->cols;
    power_bufs b;
    b.V = take_doubles(ar, POWER_BLOCK * n);
    b.W = take_doubles(ar, POWER_BLOCK * m);
    b.Z = take_doubles(ar, POWER_BLOCK * n);
    b.atu = take_doubles(ar, n);
    double *ub = take_doubles(ar, m), *vb = take_doubles(ar, n);
    if (b.V == NULL || b.W == NULL || b.Z == NULL || b.atu == NULL || ub == NULL || vb == NULL)
        return NNLA_EWORKSPACE; /* unreachable: size checked */
    b.u = u ? u : ub;
    b.v = v ? v : vb;
    return power_run(op, o, &b, sigma, info);
}

nnla_status nnla_power_norm(const nnla_linop *op, const nnla_power_opts *opts, double *sigma, double *u,
                            double *v, nnla_power_info *info, void *work, size_t work_size)
{
    if (op == NULL || op->apply == NULL) return NNLA_ENULL;
    if (op->rows == 0 || op->cols == 0) return NNLA_EDIM;
    if (!nnla__fits_int(op->rows) || !nnla__fits_int(op->cols)) return NNLA_EOVERFLOW;
    nnla_power_opts o = opts ? *opts : nnla_power_opts_default();
    size_t need;
    NNLA__TRY(power_sizes(op->rows, op->cols, &need));
    NNLA__TRY(power_check_common(op->rows, op->cols, &o, sigma, u, v, work, work_size, need, NULL, 0));
    nnla__arena ar = {(unsigned char *)work, work_size};
    block_op bop = {op->rows, op->cols, linop_block, (void *)op};
    double s = 0.0;
    nnla_power_info in;
    nnla_status st = power_with_work(&bop, &o, &s, u, v, &in, &ar);
    if (st == NNLA_OK || st == NNLA_ENOCONV) {
        *sigma = s;
        if (info) *info = in;
    }
    return st;
}

/* The matrix operator: products with c A, where c = 2^-e brings max |a_ij| into [0.5, 1). */
typedef struct mat_op {
    nnla_cmat a;
    double c;
    double *x; /* scratch, 2 max(m, n): the scaled input block */
} mat_op;

/* Y = (c A) X or (c A)^T X for a block of p vectors, stored vector after vector: one GEMV per
 * vector. (One GEMM with p = 2 rows, Y^T = X^T A^T, would read A once, but OpenBLAS 0.3.21 runs it
 * at half the speed of two GEMVs at n = 1024: `nnla-bench spectral`, power_block_gemm2.) */
static nnla_status mat_block(void *ctx, int transpose, size_t p, const double *x, double *y)
{
    mat_op *mo = ctx;
    size_t m = mo->a.rows, n = mo->a.cols, in = transpose ? m : n, out = transpose ? n : m;
    for (size_t i = 0; i < p * in; i++) mo->x[i] = mo->c * x[i];
    for (size_t j = 0; j < p; j++)
        nnla__dgemv(CblasRowMajor, transpose ? CblasTrans : CblasNoTrans, (int)m, (int)n, 1.0, mo->a.data,
                    (int)mo->a.ld, mo->x + j * in, 1, 0.0, y + j * out, 1);
    return NNLA_OK;
}

static nnla_status mat_power_sizes(size_t m, size_t n, size_t *bytes)
{
    size_t total, x;
    NNLA__TRY(power_sizes(m, n, &total));
    if (!nnla__mul(m > n ? m : n, POWER_BLOCK, &x) || !ws_doubles(x, &total)) return NNLA_EOVERFLOW;
    *bytes = total;
    return NNLA_OK;
}

nnla_status nnla_spectral_norm_power_workspace_size(size_t m, size_t n, size_t *bytes)
{
    if (bytes == NULL) return NNLA_ENULL;
    if (m == 0 || n == 0) return NNLA_EDIM;
    if (!nnla__fits_int(m) || !nnla__fits_int(n)) return NNLA_EOVERFLOW;
    size_t b;
    NNLA__TRY(mat_power_sizes(m, n, &b));
    *bytes = b;
    return NNLA_OK;
}

/* The exponent e that nnla_spectral_norm_power scales by (A -> 2^-e A), |e| <= 1000. */
static int scale_exponent(nnla_cmat a)
{
    double amax = 0.0;
    for (size_t i = 0; i < a.rows; i++)
        for (size_t j = 0; j < a.cols; j++) {
            double x = fabs(a.data[i * a.ld + j]);
            if (x > amax) amax = x;
        }
    if (amax == 0.0) return 0;
    int e;
    (void)frexp(amax, &e);
    return e > 1000 ? 1000 : e < -1000 ? -1000 : e;
}

/* Checks of nnla_spectral_norm_power, everything but the values of A. */
static nnla_status mat_power_check(nnla_cmat a, const nnla_power_opts *o, const double *sigma, const double *u,
                                   const double *v, const void *work, size_t work_size)
{
    NNLA__TRY(nnla__check_blas_view(a));
    size_t need;
    NNLA__TRY(mat_power_sizes(a.rows, a.cols, &need));
    span ra = {a.data, nnla__view_bytes(a)};
    NNLA__TRY(power_check_common(a.rows, a.cols, o, sigma, u, v, work, work_size, need, &ra, 1));
    if (!nnla__all_finite(a)) return NNLA_ENONFINITE;
    return NNLA_OK;
}

/* The matrix power iteration once checked; *sigma is A's (not the scaled matrix's). */
static nnla_status mat_power_run(nnla_cmat a, const nnla_power_opts *o, double *sigma, double *u, double *v,
                                 nnla_power_info *info, void *work, size_t work_size)
{
    nnla__arena ar = {(unsigned char *)work, work_size};
    size_t mx = a.rows > a.cols ? a.rows : a.cols;
    int e = scale_exponent(a);
    mat_op mo = {a, ldexp(1.0, -e), take_doubles(&ar, POWER_BLOCK * mx)};
    if (mo.x == NULL) return NNLA_EWORKSPACE; /* unreachable: size checked */
    block_op op = {a.rows, a.cols, mat_block, &mo};
    double s = 0.0;
    nnla_power_info in;
    nnla_status st = power_with_work(&op, o, &s, u, v, &in, &ar);
    if (st != NNLA_OK && st != NNLA_ENOCONV) return st;
    s = ldexp(s, e);
    if (!isfinite(s)) return NNLA_EOVERFLOW; /* ||A||_2 beyond DBL_MAX */
    *sigma = s;
    if (info) *info = in;
    return st;
}

nnla_status nnla_spectral_norm_power(nnla_cmat a, const nnla_power_opts *opts, double *sigma, double *u,
                                     double *v, nnla_power_info *info, void *work, size_t work_size)
{
    nnla_power_opts o = opts ? *opts : nnla_power_opts_default();
    NNLA__TRY(mat_power_check(a, &o, sigma, u, v, work, work_size));
    return mat_power_run(a, &o, sigma, u, v, info, work, work_size);
}

/* ------------------------------------------------------------------ normalization */

static int norm_method_valid(nnla_norm_method m) { return m == NNLA_NORM_EXACT || m == NNLA_NORM_POWER; }

nnla_status nnla_spectral_normalize_workspace_size(nnla_norm_method method, size_t m, size_t n, size_t *bytes)
{
    if (bytes == NULL) return NNLA_ENULL;
    if (!norm_method_valid(method)) return NNLA_EINVAL;
    return method == NNLA_NORM_EXACT ? nnla_spectral_norm_workspace_size(m, n, bytes)
                                     : nnla_spectral_norm_power_workspace_size(m, n, bytes);
}

/* w /= s entrywise (s > 0). */
static void divide_view(nnla_mat w, double s)
{
    for (size_t i = 0; i < w.rows; i++) divide(w.data + i * w.ld, w.cols, s);
}

nnla_status nnla_spectral_normalize(nnla_mat w, nnla_norm_method method, const nnla_power_opts *opts,
                                    double *sigma, double *u, double *v, nnla_power_info *info, void *work,
                                    size_t work_size)
{
    nnla_cmat a = nnla_cmat_of(w);
    NNLA__TRY(nnla__check_blas_view(a));
    if (!norm_method_valid(method)) return NNLA_EINVAL;
    /* the scalar outputs must not lie in W or in the workspace */
    span rw[2] = {{w.data, nnla__view_bytes(a)}, {work, work_size}};
    if (overlaps_any((span){sigma, sigma ? sizeof *sigma : 0}, rw, 2) ||
        (method == NNLA_NORM_POWER && overlaps_any((span){info, info ? sizeof *info : 0}, rw, 2)))
        return NNLA_EALIAS;
    double s = 0.0;
    if (method == NNLA_NORM_EXACT) {
        NNLA__TRY(nnla_spectral_norm(a, &s, work, work_size));
    } else {
        nnla_power_opts o = opts ? *opts : nnla_power_opts_default();
        NNLA__TRY(mat_power_check(a, &o, &s, u, v, work, work_size));
        nnla_status st = mat_power_run(a, &o, &s, u, v, info, work, work_size);
        if (st == NNLA_ENOCONV && sigma) *sigma = s;
        if (st != NNLA_OK) return st; /* W untouched */
    }
    if (s > 0.0) divide_view(w, s);
    if (sigma) *sigma = s;
    return NNLA_OK;
}

/* ------------------------------------------------------------------ clipping */

typedef struct thin_plan {
    size_t k, svd_bytes, bytes;
} thin_plan;

/* Workspace of a thin SVD kept in the workspace: s (k), U (m x k), V^T (k x n), nnla_svd's own. */
static nnla_status thin_sizes(size_t m, size_t n, thin_plan *p)
{
    size_t k = m < n ? m : n, mk, kn, total = 0;
    NNLA__TRY(nnla_svd_workspace_size(NNLA_SVD_THIN, m, n, &p->svd_bytes));
    if (!nnla__mul(m, k, &mk) || !nnla__mul(k, n, &kn) || !nnla__fits_int(mk) || !nnla__fits_int(kn) ||
        !ws_doubles(k, &total) || !ws_doubles(mk, &total) || !ws_doubles(kn, &total) ||
        !nnla__ws_piece(p->svd_bytes, &total))
        return NNLA_EOVERFLOW;
    p->k = k;
    p->bytes = total;
    return NNLA_OK;
}

typedef struct thin_svd {
    double *s, *u, *vt; /* k; m x k (ld k); k x n (ld n) */
} thin_svd;

/* The thin SVD of a into the workspace (arguments checked, the arena large enough). */
static nnla_status thin_run(nnla_cmat a, const thin_plan *p, nnla__arena *ar, thin_svd *out)
{
    size_t m = a.rows, n = a.cols, k = p->k;
    out->s = take_doubles(ar, k);
    out->u = take_doubles(ar, m * k);
    out->vt = take_doubles(ar, k * n);
    void *sw = nnla__arena_take(ar, p->svd_bytes);
    if (out->s == NULL || out->u == NULL || out->vt == NULL || sw == NULL) return NNLA_EWORKSPACE;
    return nnla_svd(NNLA_SVD_THIN, a, out->s, nnla_mat_view(out->u, m, k, k), nnla_mat_view(out->vt, k, n, n), sw,
                    p->svd_bytes, NULL);
}

nnla_status nnla_spectral_clip_workspace_size(size_t m, size_t n, size_t *bytes)
{
    if (bytes == NULL) return NNLA_ENULL;
    if (m == 0 || n == 0) return NNLA_EDIM;
    thin_plan p;
    NNLA__TRY(thin_sizes(m, n, &p));
    *bytes = p.bytes;
    return NNLA_OK;
}

nnla_status nnla_spectral_clip(nnla_mat w, double c, size_t *clipped, void *work, size_t work_size)
{
    nnla_cmat a = nnla_cmat_of(w);
    NNLA__TRY(nnla__check_blas_view(a));
    if (work == NULL) return NNLA_ENULL;
    if (!isfinite(c) || c < 0.0) return NNLA_EINVAL;
    thin_plan p;
    NNLA__TRY(thin_sizes(a.rows, a.cols, &p));
    span r[3] = {{w.data, nnla__view_bytes(a)}, {work, work_size}, {clipped, clipped ? sizeof *clipped : 0}};
    if (any_overlap(r, 3)) return NNLA_EALIAS;
    if (work_size < p.bytes) return NNLA_EWORKSPACE;
    if (!nnla__all_finite(a)) return NNLA_ENONFINITE;

    nnla__arena ar = {(unsigned char *)work, work_size};
    thin_svd t;
    NNLA__TRY(thin_run(a, &p, &ar, &t));
    size_t m = a.rows, n = a.cols, k = p.k, nc = 0;
    while (nc < k && t.s[nc] > c) nc++;
    if (nc > 0) {
        /* W -= U_r diag(s_i - c) V_r^T over the clipped terms only */
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < nc; j++) t.u[i * k + j] *= t.s[j] - c;
        nnla__dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)nc, -1.0, t.u, (int)k, t.vt,
                    (int)n, 1.0, w.data, (int)w.ld);
    }
    if (clipped) *clipped = nc;
    return NNLA_OK;
}

/* ------------------------------------------------------------------ diagnostics */

nnla_status nnla_spectral_diagnose_workspace_size(size_t m, size_t n, size_t *bytes)
{
    return nnla_spectral_norm_workspace_size(m, n, bytes);
}

/* The figures of a descending spectrum s[0..k) of an m x n matrix. */
static void diag_from_spectrum(const double *s, size_t k, size_t m, size_t n, double rank_tol,
                               nnla_spectral_diag *d)
{
    d->rows = m;
    d->cols = n;
    d->k = k;
    double s1 = s[0], sk = s[k - 1];
    d->sigma_max = s1;
    d->sigma_min = sk;
    if (s1 == 0.0) {
        d->cond = NAN; /* 0 / 0, as numpy.linalg.cond */
        d->fro = 0.0;
        d->effective_rank = 0.0;
        d->stable_rank = 0.0;
    } else {
        d->cond = sk > 0.0 ? s1 / sk : INFINITY;
        double sq = 0.0, sum = 0.0; /* relative to s1: no overflow */
        for (size_t i = 0; i < k; i++) {
            double x = s[i] / s1;
            sq += x * x;
            sum += x;
        }
        d->fro = s1 * sqrt(sq);
        d->stable_rank = sq;
        double h = 0.0;
        for (size_t i = 0; i < k; i++) {
            double pi = (s[i] / s1) / sum;
            if (pi > 0.0) h -= pi * log(pi);
        }
        d->effective_rank = exp(h);
    }
    size_t mx = m > n ? m : n;
    d->rank_tol = rank_tol < 0.0 ? s1 * (double)mx * DBL_EPSILON : rank_tol;
    size_t r = 0;
    while (r < k && s[r] > d->rank_tol) r++;
    d->rank = r;
}

nnla_status nnla_spectral_diagnose(nnla_cmat a, double rank_tol, nnla_spectral_diag *d, double *spectrum,
                                   void *work, size_t work_size)
{
    NNLA__TRY(nnla__check_blas_view(a));
    if (d == NULL || work == NULL) return NNLA_ENULL;
    if (!isfinite(rank_tol)) return NNLA_EINVAL;
    size_t need, sb, k = a.rows < a.cols ? a.rows : a.cols;
    NNLA__TRY(norm_sizes(a.rows, a.cols, &need, &sb));
    span r[4] = {{a.data, nnla__view_bytes(a)},
                 {work, work_size},
                 {d, sizeof *d},
                 {spectrum, spectrum ? k * sizeof(double) : 0}};
    if (any_overlap(r, 4)) return NNLA_EALIAS;
    if (work_size < need) return NNLA_EWORKSPACE;
    if (!nnla__all_finite(a)) return NNLA_ENONFINITE;

    nnla__arena ar = {(unsigned char *)work, work_size};
    double *s = take_doubles(&ar, k);
    void *sw = nnla__arena_take(&ar, sb);
    if (s == NULL || sw == NULL) return NNLA_EWORKSPACE; /* unreachable */
    NNLA__TRY(values_svd(a, s, sw, sb));
    diag_from_spectrum(s, k, a.rows, a.cols, rank_tol, d);
    if (spectrum) memcpy(spectrum, s, k * sizeof(double));
    return NNLA_OK;
}

/* ------------------------------------------------------------------ circular convolution */

/* Bound on LAPACK's block size in its workspace queries (as in linalg.c). */
#define SPECTRAL_NB_BOUND 64

typedef struct csv_plan {
    size_t o, c, kh, kw, k;      /* channels, kernel, min(o, c) */
    size_t count;                /* n1 n2 k values */
    size_t nweights;             /* o c kh kw */
    lapack_int lwork, lrwork;    /* zgesdd: complex work, real work */
    size_t bytes;
} csv_plan;

static nnla_status csv_sizes(const nnla_conv2d_desc *d, size_t n1, size_t n2, csv_plan *p)
{
    if (d->in_channels == 0 || d->out_channels == 0 || d->kernel_h == 0 || d->kernel_w == 0 || n1 == 0 ||
        n2 == 0 || d->stride_h == 0 || d->stride_w == 0 || d->dilation_h == 0 || d->dilation_w == 0 ||
        d->groups == 0)
        return NNLA_EDIM;
    if (d->stride_h != 1 || d->stride_w != 1 || d->dilation_h != 1 || d->dilation_w != 1 || d->groups != 1)
        return NNLA_EUNSUPPORTED;
    if (d->kernel_h > n1 || d->kernel_w > n2) return NNLA_ESHAPE;
    size_t o = d->out_channels, c = d->in_channels, k = o < c ? o : c, mx = o < c ? c : o;
    size_t oc, nw, nn, count, bound;
    if (!nnla__fits_int(o) || !nnla__fits_int(c) || !nnla__fits_int(n1) || !nnla__fits_int(n2) ||
        !nnla__mul(o, c, &oc) || !nnla__fits_int(oc) || !nnla__mul(oc, d->kernel_h, &nw) ||
        !nnla__mul(nw, d->kernel_w, &nw) || !nnla__mul(n1, n2, &nn) || !nnla__mul(nn, k, &count) ||
        !nnla__mul(count, sizeof(double), &bound))
        return NNLA_EOVERFLOW;
    /* keep zgesdd's int workspace arithmetic (about 2k + max(o, c) + (o + c) NB) from overflowing */
    if (!nnla__mul(mx + k, SPECTRAL_NB_BOUND, &bound) || !nnla__add(bound, 8 * k, &bound) ||
        !nnla__fits_int(bound))
        return NNLA_EOVERFLOW;
    p->o = o;
    p->c = c;
    p->kh = d->kernel_h;
    p->kw = d->kernel_w;
    p->k = k;
    p->count = count;
    p->nweights = nw;

    lapack_complex_double q, dummy[1];
    double ds[1] = {0.0}, dr[1] = {0.0};
    lapack_int di[1] = {0};
    double *qd = (double *)&q;
    qd[0] = qd[1] = 0.0;
    lapack_int info = LAPACKE_zgesdd_work(LAPACK_COL_MAJOR, 'N', (lapack_int)o, (lapack_int)c, dummy,
                                          (lapack_int)o, ds, dummy, 1, dummy, 1, &q, -1, dr, di);
    if (info != 0) return NNLA_ELAPACK;
    if (!(qd[0] >= 0.0) || qd[0] > (double)INT_MAX) return NNLA_EOVERFLOW;
    p->lwork = (lapack_int)qd[0] < 1 ? 1 : (lapack_int)qd[0];
    p->lrwork = (lapack_int)(7 * k); /* zgesdd, JOBZ = 'N': LRWORK >= 7 min(M, N) (5 since LAPACK 3.7) */

    /* twiddles 2 (n1 + n2); T: o c kh complex; P: o c complex; work; rwork; iwork; */
    size_t total = 0, t1, t2, tk, zb, ib;
    if (!nnla__add(n1, n2, &t1) || !nnla__mul(t1, 2, &t1) || !nnla__mul(oc, d->kernel_h, &tk) ||
        !nnla__mul(tk, 2, &tk) || !nnla__mul(oc, 2, &t2) || !nnla__mul((size_t)p->lwork, 2, &zb) ||
        !nnla__mul(8 * k, sizeof(lapack_int), &ib) || !ws_doubles(t1, &total) || !ws_doubles(tk, &total) ||
        !ws_doubles(t2, &total) || !ws_doubles(zb, &total) || !ws_doubles((size_t)p->lrwork, &total) ||
        !nnla__ws_piece(ib, &total))
        return NNLA_EOVERFLOW;
    p->bytes = total;
    return NNLA_OK;
}

nnla_status nnla_conv2d_circular_sv_workspace_size(const nnla_conv2d_desc *d, size_t n1, size_t n2,
                                                   size_t *bytes)
{
    if (d == NULL || bytes == NULL) return NNLA_ENULL;
    csv_plan p;
    NNLA__TRY(csv_sizes(d, n1, n2, &p));
    *bytes = p.bytes;
    return NNLA_OK;
}

/* exp(-2 pi i t / n) for t < n, as cos (re) and -sin (im), with the symmetries made exact. */
static void twiddles(size_t n, double *re, double *im)
{
    const double two_pi = 6.283185307179586476925286766559;
    for (size_t t = 0; t < n; t++) {
        /* the angle of the shorter way round keeps the argument small */
        size_t tt = t <= n - t ? t : n - t;
        double ang = two_pi * (double)tt / (double)n;
        re[t] = cos(ang);
        im[t] = t <= n - t ? -sin(ang) : sin(ang);
    }
}

/* Sift-down of a min-heap of doubles (for the descending heap sort). */
static void min_sift(double *a, size_t len, size_t at)
{
    for (;;) {
        size_t best = at, l = 2 * at + 1, r = l + 1;
        if (l < len && a[l] < a[best]) best = l;
        if (r < len && a[r] < a[best]) best = r;
        if (best == at) return;
        double t = a[at];
        a[at] = a[best];
        a[best] = t;
        at = best;
    }
}

/* Sort descending in place, without allocation (heap sort on a min-heap). */
static void sort_descending(double *a, size_t n)
{
    if (n < 2) return;
    for (size_t i = n / 2; i-- > 0;) min_sift(a, n, i);
    for (size_t end = n - 1; end > 0; end--) {
        double t = a[0];
        a[0] = a[end];
        a[end] = t;
        min_sift(a, end, 0);
    }
}

nnla_status nnla_conv2d_circular_sv(const nnla_conv2d_desc *d, const double *w, size_t n1, size_t n2,
                                    nnla_conv_sv_order order, double *s, void *work, size_t work_size)
{
    if (d == NULL || w == NULL || s == NULL || work == NULL) return NNLA_ENULL;
    if (order != NNLA_CONV_SV_SORTED && order != NNLA_CONV_SV_BY_FREQUENCY) return NNLA_EINVAL;
    csv_plan p;
    NNLA__TRY(csv_sizes(d, n1, n2, &p));
    size_t wbytes, sbytes;
    if (!doubles_bytes(p.nweights, &wbytes) || !doubles_bytes(p.count, &sbytes)) return NNLA_EOVERFLOW;
    span r[3] = {{w, wbytes}, {s, sbytes}, {work, work_size}};
    if (any_overlap(r, 3)) return NNLA_EALIAS;
    if (work_size < p.bytes) return NNLA_EWORKSPACE;
    if (!nnla__all_finite_vec(w, p.nweights)) return NNLA_ENONFINITE;

    size_t o = p.o, c = p.c, kh = p.kh, kw = p.kw, k = p.k, oc = o * c;
    nnla__arena ar = {(unsigned char *)work, work_size};
    double *re1 = take_doubles(&ar, 2 * (n1 + n2));
    double *tt = take_doubles(&ar, 2 * oc * kh);
    double *pm = take_doubles(&ar, 2 * oc);
    double *zw = take_doubles(&ar, 2 * (size_t)p.lwork);
    double *rw = take_doubles(&ar, (size_t)p.lrwork);
    lapack_int *iw = nnla__arena_take(&ar, 8 * k * sizeof(lapack_int));
    if (re1 == NULL || tt == NULL || pm == NULL || zw == NULL || rw == NULL || iw == NULL)
        return NNLA_EWORKSPACE; /* unreachable: size checked */
    double *im1 = re1 + n1, *re2 = im1 + n1, *im2 = re2 + n2;
    twiddles(n1, re1, im1);
    twiddles(n2, re2, im2);

    /* Frequencies (f1, f2) with f2 <= n2 / 2; (-f1, -f2) gives the conjugate matrix, same values. */
    for (size_t f2 = 0; f2 <= n2 / 2; f2++) {
        /* T[(o c) kh + i] = sum_j w[o][c][i][j] e^{-2 pi i f2 j / n2} */
        for (size_t q = 0; q < oc * kh; q++) {
            const double *row = w + q * kw;
            double sr = 0.0, si = 0.0;
            for (size_t j = 0; j < kw; j++) {
                size_t t = (size_t)(((uint64_t)f2 * j) % n2);
                sr += row[j] * re2[t];
                si += row[j] * im2[t];
            }
            tt[2 * q] = sr;
            tt[2 * q + 1] = si;
        }
        size_t f2p = (n2 - f2) % n2;
        for (size_t f1 = 0; f1 < n1; f1++) {
            size_t f1p = (n1 - f1) % n1;
            if (f2p == f2 && f1p < f1) continue; /* its conjugate partner is done: copied below */
            /* P[o + c O] (column-major) = sum_i T[o][c][i] e^{-2 pi i f1 i / n1} */
            for (size_t oo = 0; oo < o; oo++)
                for (size_t cc = 0; cc < c; cc++) {
                    const double *tq = tt + 2 * ((oo * c + cc) * kh);
                    double sr = 0.0, si = 0.0;
                    for (size_t i = 0; i < kh; i++) {
                        size_t t = (size_t)(((uint64_t)f1 * i) % n1);
                        double ar_ = tq[2 * i], ai = tq[2 * i + 1], br = re1[t], bi = im1[t];
                        sr += ar_ * br - ai * bi;
                        si += ar_ * bi + ai * br;
                    }
                    pm[2 * (oo + cc * o)] = sr;
                    pm[2 * (oo + cc * o) + 1] = si;
                }
            lapack_complex_double dummy[1];
            lapack_int info;
            NNLA__GATED(info = LAPACKE_zgesdd_work(LAPACK_COL_MAJOR, 'N', (lapack_int)o, (lapack_int)c,
                                                   (lapack_complex_double *)pm, (lapack_int)o, s + (f1 * n2 + f2) * k,
                                                   dummy, 1, dummy, 1, (lapack_complex_double *)zw, p.lwork, rw, iw));
            if (info < 0) return NNLA_ELAPACK;
            if (info > 0) return NNLA_ENOCONV;
        }
    }
    /* the other half: frequency (f1, f2) has the values of ((n1 - f1) % n1, (n2 - f2) % n2) */
    for (size_t f1 = 0; f1 < n1; f1++)
        for (size_t f2 = 0; f2 < n2; f2++) {
            size_t f1p = (n1 - f1) % n1, f2p = (n2 - f2) % n2;
            int done = f2 <= n2 / 2 && !(f2p == f2 && f1p < f1);
            if (!done) memcpy(s + (f1 * n2 + f2) * k, s + (f1p * n2 + f2p) * k, k * sizeof(double));
        }
    if (order == NNLA_CONV_SV_SORTED) sort_descending(s, p.count);
    return NNLA_OK;
}

/* ------------------------------------------------------------------ ridge refit */

typedef struct ridge_plan {
    thin_plan svd;
    size_t bytes;
} ridge_plan;

/* Workspace: centred F (n x d), centred T (n x o), U^T T (k x o), means (d, o), the thin SVD. */
static nnla_status ridge_sizes(size_t n, size_t d, size_t o, ridge_plan *p)
{
    if (!nnla__fits_int(n) || !nnla__fits_int(d) || !nnla__fits_int(o)) return NNLA_EOVERFLOW;
    NNLA__TRY(thin_sizes(n, d, &p->svd));
    size_t nd, no, ko, total = p->svd.bytes, k = p->svd.k;
    if (!nnla__mul(n, d, &nd) || !nnla__mul(n, o, &no) || !nnla__mul(k, o, &ko) || !nnla__fits_int(no) ||
        !nnla__fits_int(ko) || !ws_doubles(nd, &total) || !ws_doubles(no, &total) || !ws_doubles(ko, &total) ||
        !ws_doubles(d, &total) || !ws_doubles(o, &total))
        return NNLA_EOVERFLOW;
    p->bytes = total;
    return NNLA_OK;
}

nnla_status nnla_ridge_refit_workspace_size(size_t n, size_t d, size_t o, size_t *bytes)
{
    if (bytes == NULL) return NNLA_ENULL;
    if (n == 0 || d == 0 || o == 0) return NNLA_EDIM;
    ridge_plan p;
    NNLA__TRY(ridge_sizes(n, d, o, &p));
    *bytes = p.bytes;
    return NNLA_OK;
}

/* dst (packed, rows x cols) = src - 1 mu^T; mu = column means when centre, else 0. */
static void centre(nnla_cmat src, int centre_it, double *mu, double *dst)
{
    size_t n = src.rows, d = src.cols;
    for (size_t j = 0; j < d; j++) mu[j] = 0.0;
    if (centre_it) {
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < d; j++) mu[j] += src.data[i * src.ld + j];
        for (size_t j = 0; j < d; j++) mu[j] /= (double)n;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) dst[i * d + j] = src.data[i * src.ld + j] - mu[j];
}

nnla_status nnla_ridge_refit(nnla_cmat f, nnla_cmat t, double lambda, nnla_mat w, double *b, size_t *rank,
                             void *work, size_t work_size)
{
    NNLA__TRY(nnla__check_blas_view(f));
    NNLA__TRY(nnla__check_blas_view(t));
    NNLA__TRY(nnla__check_blas_view(nnla_cmat_of(w)));
    if (work == NULL) return NNLA_ENULL;
    size_t n = f.rows, d = f.cols, o = t.cols;
    if (t.rows != n || w.rows != o || w.cols != d) return NNLA_ESHAPE;
    if (!isfinite(lambda) || lambda < 0.0) return NNLA_EINVAL;
    ridge_plan p;
    NNLA__TRY(ridge_sizes(n, d, o, &p));
    span outs[3] = {{w.data, nnla__view_bytes(nnla_cmat_of(w))},
                    {b, b ? o * sizeof(double) : 0},
                    {rank, rank ? sizeof *rank : 0}};
    span others[3] = {{f.data, nnla__view_bytes(f)}, {t.data, nnla__view_bytes(t)}, {work, work_size}};
    if (any_overlap(outs, 3)) return NNLA_EALIAS;
    for (size_t i = 0; i < 3; i++)
        if (overlaps_any(outs[i], others, 3)) return NNLA_EALIAS;
    if (nnla__overlap(f.data, nnla__view_bytes(f), work, work_size) ||
        nnla__overlap(t.data, nnla__view_bytes(t), work, work_size))
        return NNLA_EALIAS;
    if (work_size < p.bytes) return NNLA_EWORKSPACE;
    if (!nnla__all_finite(f) || !nnla__all_finite(t)) return NNLA_ENONFINITE;

    nnla__arena ar = {(unsigned char *)work, work_size};
    size_t k = p.svd.k;
    double *fc = take_doubles(&ar, n * d), *tc = take_doubles(&ar, n * o), *mt = take_doubles(&ar, k * o);
    double *muf = take_doubles(&ar, d), *mut = take_doubles(&ar, o);
    if (fc == NULL || tc == NULL || mt == NULL || muf == NULL || mut == NULL) return NNLA_EWORKSPACE;
    int with_bias = b != NULL;
    centre(f, with_bias, muf, fc);
    centre(t, with_bias, mut, tc);
    thin_svd sv;
    NNLA__TRY(thin_run(nnla_cmat_view(fc, n, d, d), &p.svd, &ar, &sv));

    /* keep s_i > max(n, d) eps s_1 (numpy.linalg.lstsq's cutoff) */
    double cutoff = (double)(n > d ? n : d) * DBL_EPSILON * sv.s[0];
    size_t r = 0;
    while (r < k && sv.s[r] > cutoff) r++;
    if (r == 0) {
        for (size_t i = 0; i < o; i++)
            for (size_t j = 0; j < d; j++) w.data[i * w.ld + j] = 0.0;
    } else {
        /* M = U_r^T Tc (r x o), row i scaled by s_i / (s_i^2 + lambda) = 1 / (s_i + lambda / s_i) */
        nnla__dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)r, (int)o, (int)n, 1.0, sv.u, (int)k, tc, (int)o,
                    0.0, mt, (int)o);
        for (size_t i = 0; i < r; i++) {
            double g = 1.0 / (sv.s[i] + lambda / sv.s[i]);
            for (size_t j = 0; j < o; j++) mt[i * o + j] *= g;
        }
        /* W = M^T V_r^T (o x d) */
        nnla__dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)o, (int)d, (int)r, 1.0, mt, (int)o, sv.vt, (int)d,
                    0.0, w.data, (int)w.ld);
    }
    if (with_bias) { /* b = mu_T - W mu_F */
        memcpy(b, mut, o * sizeof(double));
        nnla__dgemv(CblasRowMajor, CblasNoTrans, (int)o, (int)d, -1.0, w.data, (int)w.ld, muf, 1, 1.0, b, 1);
    }
    if (rank) *rank = r;
    return NNLA_OK;
}
