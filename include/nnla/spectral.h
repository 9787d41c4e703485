/**
 * @file nnla/spectral.h
 * @brief Spectral methods on matrices: operator norms (exact and by power iteration),
 *        spectral normalization, singular-value clipping, diagnostics, the exact singular
 *        values of a circular convolution, and the closed-form ridge refit of a dense layer.
 *
 * Everything here works on one matrix (or one convolution kernel). The network-level forms
 * (a table of every layer, a network's Lipschitz bound, normalizing a network's parameters in
 * place) are thin loops over these calls; see docs/spectral.md.
 *
 * - nnla_spectral_norm(): ||A||_2 exactly, from a values-only SVD (nnla_svd()).
 * - nnla_power_norm(): ||A||_2 of any linear operator given by its products with x and with
 *   A^T y (::nnla_linop), by power iteration on A^T A with a warm start, a tolerance on the
 *   residual and an iteration cap; nnla_spectral_norm_power() is its matrix form.
 * - nnla_spectral_normalize(), nnla_spectral_clip(): W / sigma_max and U min(S, c) V^T, in place.
 * - nnla_spectral_diagnose(): sigma_max, sigma_min, condition number, numerical, effective and
 *   stable rank, and the spectrum, in one call.
 * - nnla_conv2d_circular_sv(): all singular values of a stride-1 convolution with circular
 *   padding (Sedghi, Gupta and Long, ICLR 2019).
 * - nnla_ridge_refit(): W, b minimizing ||F W^T + 1 b^T - T||_F^2 + lambda ||W||_F^2.
 *
 * Memory: none of these functions allocates. Each has a *_workspace_size() query (bytes, any
 * alignment of the buffer). Inputs are scanned for NaN and Inf before any LAPACK call
 * (::NNLA_ENONFINITE), every dimension that reaches BLAS or LAPACK is checked against int
 * (::NNLA_EOVERFLOW), and a call that fails its checks leaves every output untouched.
 */
#ifndef NNLA_SPECTRAL_H
#define NNLA_SPECTRAL_H

#include <stdint.h>

#include "conv.h"
#include "mat.h"

NNLA_EXTERN_C_BEGIN

/* ------------------------------------------------------------------ exact spectral norm */

/**
 * @brief Workspace, in bytes, for nnla_spectral_norm() on an m x n matrix.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EDIM for a zero dimension; ::NNLA_EOVERFLOW.
 */
NNLA_API nnla_status nnla_spectral_norm_workspace_size(size_t m, size_t n, size_t *bytes);

/**
 * @brief The spectral norm ||A||_2 = sigma_max(A), exactly: the largest singular value of a
 *        values-only SVD (nnla_svd() with ::NNLA_SVD_VALUES: dgesdd, dgesvd as fallback).
 * @param a     the m x n input (not modified).
 * @param sigma receives sigma_max (0 for a zero matrix).
 * @param work  workspace of nnla_spectral_norm_workspace_size() bytes, not overlapping a.
 * @param work_size its size in bytes.
 * @return ::NNLA_OK; ::NNLA_ENULL, ::NNLA_EDIM, ::NNLA_ELD for a bad view; ::NNLA_EWORKSPACE;
 *         ::NNLA_EALIAS; ::NNLA_ENONFINITE; ::NNLA_EOVERFLOW; ::NNLA_ENOCONV when LAPACK fails.
 */
NNLA_API nnla_status nnla_spectral_norm(nnla_cmat a, double *sigma, void *work, size_t work_size);

/* ------------------------------------------------------------------ power iteration */

/**
 * @brief A linear operator R^cols -> R^rows given by its products: the callback computes
 *        y = A x (transpose == 0; x has cols entries, y rows) or y = A^T x (transpose != 0;
 *        x has rows entries, y cols). It must not keep x or y, and x and y never overlap.
 *        A nonzero return value (an ::nnla_status) stops the iteration and is returned.
 */
typedef nnla_status (*nnla_linop_fn)(void *ctx, int transpose, const double *x, double *y);

/** A linear operator for nnla_power_norm(): its shape and its two products. */
typedef struct nnla_linop {
    size_t rows;         /**< dimension of the output of A, >= 1 */
    size_t cols;         /**< dimension of the input of A, >= 1 */
    nnla_linop_fn apply; /**< the products y = A x and y = A^T x */
    void *ctx;           /**< passed to apply unchanged */
} nnla_linop;

/** Options of the power iteration; start from nnla_power_opts_default(). */
typedef struct nnla_power_opts {
    double tol;        /**< the relative accuracy wanted for sigma, >= 0: the iteration stops when the
                            relative residual (see ::nnla_power_info) is at most tol / 10; 0 runs
                            exactly max_iter iterations and claims nothing */
    size_t max_iter;   /**< the iteration cap, >= 1 (one iteration = two products with A, two with A^T) */
    int warm_start;    /**< nonzero: start from the v passed in (e.g. the last call's v); 0: from a
                            pseudo-random vector drawn from ::nnla_rng seeded with seed */
    uint64_t seed;     /**< seed of the start vector (and of the block's second vector) */
} nnla_power_opts;

/** @brief The default options: tol 1e-6, max_iter 1000, no warm start, seed 0. */
NNLA_API nnla_power_opts nnla_power_opts_default(void);

/** What a power iteration did. */
typedef struct nnla_power_info {
    size_t iterations; /**< iterations performed (0 when the start already met the tolerance) */
    double residual;   /**< r = ||A^T u - sigma v|| / sigma = ||A^T A v - sigma^2 v|| / sigma^2 at the
                            returned sigma, u, v (0 for a zero operator) */
    double rel_change; /**< |sigma_k - sigma_{k-1}| / sigma_k of the last iteration (0 if none) */
    int converged;     /**< 1 when r <= tol / 10, else 0 */
} nnla_power_info;

/**
 * @brief Workspace, in bytes, for nnla_power_norm() on a rows x cols operator.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EDIM; ::NNLA_EOVERFLOW.
 */
NNLA_API nnla_status nnla_power_norm_workspace_size(size_t rows, size_t cols, size_t *bytes);

/**
 * @brief ||A||_2 of a linear operator by power iteration on A^T A.
 *
 * The iteration is block power iteration with two vectors (subspace iteration with a Rayleigh-Ritz
 * step): from an orthonormal pair V = [v_0, w] (v_0 the start vector, w pseudo-random), each
 * iteration forms W = A V, takes the top eigenpair (theta, y) of the 2 x 2 matrix W^T W, sets
 * v = V y, u = W y / sigma with sigma = ||W y||, and moves V to an orthonormal basis of A^T W.
 * After each step the relative residual r = ||A^T u - sigma v|| / sigma of the returned pair is
 * computed; the iteration stops when r <= opts->tol / 10 or after opts->max_iter iterations.
 * (A block of one vector is used when cols == 1.)
 *
 * What the result means. sigma = ||A v|| with ||v|| = 1, so sigma <= ||A||_2 always (a lower
 * bound), and it does not decrease from one iteration to the next (up to rounding). r certifies that sigma^2 lies
 * within r sigma^2 of an eigenvalue of A^T A (Weyl), i.e. sigma is within about r/2 (relative) of a
 * singular value of A. That this singular value is sigma_max is a matter of probability, as for
 * every method that only multiplies by A and A^T: it fails when the start holds (nearly) nothing of
 * the top right singular vector. The block of two resolves a close pair sigma_1 ~ sigma_2 exactly,
 * and the margin tol / 10 makes a stop near sigma_2 rare when sigma_3 is close as well: in sweeps of
 * nearly degenerate spectra, 5 of 30,311 runs that reported convergence were off by more than tol
 * (docs/spectral.md). Convergence is linear with ratio (sigma_3 / sigma_1)^2: with three nearly equal
 * leading singular values it is slow, and when the cap is reached first the status says so
 * (::NNLA_ENOCONV) rather than returning a value as if it met the tolerance.
 *
 * @param op     the operator; op->apply must not be NULL. It is called twice per product (once per
 *               vector of the block).
 * @param opts   options (NULL: nnla_power_opts_default()).
 * @param sigma  receives the estimate of ||A||_2.
 * @param u      optional (may be NULL): receives the unit left vector (rows entries).
 * @param v      the start vector when opts->warm_start (cols entries, finite, nonzero; it need
 *               not be normalized), and receives the unit right vector; may be NULL when not
 *               warm starting.
 * @param info   optional (may be NULL): receives iterations, residual, last relative change and
 *               the convergence flag.
 * @param work   workspace of nnla_power_norm_workspace_size() bytes.
 * @param work_size its size in bytes.
 * @return ::NNLA_OK when r <= tol / 10 (or tol == 0 and the max_iter iterations were run);
 *         ::NNLA_ENOCONV when tol > 0 and r > tol / 10 after max_iter iterations: sigma, u, v and
 *         info then hold the last iterate (info->converged == 0), usable as a warm start;
 *         ::NNLA_ENULL; ::NNLA_EDIM for a zero dimension; ::NNLA_EINVAL for tol < 0 or not finite,
 *         max_iter == 0, or a zero warm-start vector; ::NNLA_ENONFINITE for a warm-start vector
 *         with NaN/Inf, or (after work started) a non-finite product; ::NNLA_EWORKSPACE;
 *         ::NNLA_EALIAS when u, v and work overlap; ::NNLA_EOVERFLOW; or the status of a failing
 *         callback. Argument errors leave every output untouched; a failing callback or a
 *         non-finite product leaves u, v unspecified and sigma, info untouched.
 *
 * A zero operator (A V == 0 for the start block and for a second, pseudo-random one) gives
 * sigma = 0, residual 0, u = e_1 and status ::NNLA_OK.
 */
NNLA_API nnla_status nnla_power_norm(const nnla_linop *op, const nnla_power_opts *opts, double *sigma,
                                     double *u, double *v, nnla_power_info *info, void *work,
                                     size_t work_size);

/**
 * @brief Workspace, in bytes, for nnla_spectral_norm_power() on an m x n matrix.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EDIM; ::NNLA_EOVERFLOW.
 */
NNLA_API nnla_status nnla_spectral_norm_power_workspace_size(size_t m, size_t n, size_t *bytes);

/**
 * @brief ||A||_2 of a matrix by power iteration: nnla_power_norm() on the products of A
 *        (cblas_dgemv), with A scaled by a power of two internally so that entries near the
 *        overflow or underflow threshold do not spoil the products (the scaling is exact).
 *
 * A zero matrix gives sigma = 0 at once (u = e_1, v the normalized start vector).
 * @param a     the m x n input (not modified); scanned for NaN/Inf first.
 * @param opts, sigma, u, v, info as nnla_power_norm() (u has m entries, v has n).
 * @param work  workspace of nnla_spectral_norm_power_workspace_size() bytes.
 * @param work_size its size in bytes.
 * @return as nnla_power_norm(), plus ::NNLA_ELD for a bad view, ::NNLA_ENONFINITE when A has
 *         NaN/Inf, and ::NNLA_EALIAS when a overlaps u, v or work.
 */
NNLA_API nnla_status nnla_spectral_norm_power(nnla_cmat a, const nnla_power_opts *opts, double *sigma,
                                              double *u, double *v, nnla_power_info *info, void *work,
                                              size_t work_size);

/* ------------------------------------------------------------------ normalization and clipping */

/** How nnla_spectral_normalize() obtains sigma_max. */
typedef enum nnla_norm_method {
    NNLA_NORM_EXACT = 0, /**< values-only SVD (nnla_spectral_norm()) */
    NNLA_NORM_POWER = 1  /**< power iteration (nnla_spectral_norm_power()) */
} nnla_norm_method;

/**
 * @brief Workspace, in bytes, for nnla_spectral_normalize() on an m x n matrix.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EINVAL for an unknown method; ::NNLA_EDIM; ::NNLA_EOVERFLOW.
 */
NNLA_API nnla_status nnla_spectral_normalize_workspace_size(nnla_norm_method method, size_t m, size_t n,
                                                            size_t *bytes);

/**
 * @brief Spectral normalization in place: W <- W / sigma_max(W) (Miyato et al., ICLR 2018), so
 *        that ||W||_2 = 1 (exactly up to rounding with ::NNLA_NORM_EXACT; up to the power
 *        iteration's accuracy with ::NNLA_NORM_POWER, whose estimate never exceeds sigma_max).
 *
 * A zero matrix is left as it is (sigma = 0). With ::NNLA_NORM_POWER and a power iteration
 * that does not converge (::NNLA_ENOCONV), W is left untouched while sigma, u, v and info
 * receive the last iterate (so a training loop can warm-start the next call). With
 * opts->tol == 0 (a fixed number of iterations, as torch.nn.utils.spectral_norm does), W is
 * divided by the estimate whatever its residual.
 *
 * For a convolution, pass its weight O x C x kh x kw as the O x (C kh kw) matrix: this bounds
 * the norm of the reshaped kernel, which is not the operator norm of the convolution (that is
 * up to sqrt(kh kw) times larger; see nnla_conv2d_circular_sv()).
 *
 * @param w      the m x n matrix, normalized in place.
 * @param method ::NNLA_NORM_EXACT or ::NNLA_NORM_POWER.
 * @param opts   power iteration options (ignored by ::NNLA_NORM_EXACT; NULL: the defaults).
 * @param sigma  optional (may be NULL): receives sigma_max (the estimate with ::NNLA_NORM_POWER).
 * @param u, v, info as nnla_spectral_norm_power() (ignored by ::NNLA_NORM_EXACT; may be NULL).
 * @param work   workspace of nnla_spectral_normalize_workspace_size() bytes.
 * @param work_size its size in bytes.
 * @return as nnla_spectral_norm() or nnla_spectral_norm_power(), plus ::NNLA_EINVAL for an
 *         unknown method.
 */
NNLA_API nnla_status nnla_spectral_normalize(nnla_mat w, nnla_norm_method method, const nnla_power_opts *opts,
                                             double *sigma, double *u, double *v, nnla_power_info *info,
                                             void *work, size_t work_size);

/**
 * @brief Workspace, in bytes, for nnla_spectral_clip() on an m x n matrix.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EDIM; ::NNLA_EOVERFLOW.
 */
NNLA_API nnla_status nnla_spectral_clip_workspace_size(size_t m, size_t n, size_t *bytes);

/**
 * @brief Singular-value clipping in place: W <- U diag(min(s_i, c)) V^T.
 *
 * Computed as W <- W - sum_{s_i > c} (s_i - c) u_i v_i^T from a thin SVD (one GEMM over the
 * clipped terms only), so singular values at or below c are kept to rounding and a matrix
 * with sigma_max <= c is left bit for bit as it was. c = 0 gives the zero matrix up to rounding.
 * @param w       the m x n matrix, clipped in place.
 * @param c       the ceiling, finite and >= 0.
 * @param clipped optional (may be NULL): receives the number of singular values above c.
 * @param work    workspace of nnla_spectral_clip_workspace_size() bytes.
 * @param work_size its size in bytes.
 * @return ::NNLA_OK; ::NNLA_ENULL, ::NNLA_EDIM, ::NNLA_ELD; ::NNLA_EINVAL for a bad c;
 *         ::NNLA_EWORKSPACE; ::NNLA_EALIAS; ::NNLA_ENONFINITE; ::NNLA_EOVERFLOW;
 *         ::NNLA_ENOCONV when the SVD fails (w then untouched).
 */
NNLA_API nnla_status nnla_spectral_clip(nnla_mat w, double c, size_t *clipped, void *work, size_t work_size);

/* ------------------------------------------------------------------ diagnostics */

/**
 * Pass as rank_tol to nnla_spectral_diagnose() for NumPy's default tolerance
 * (numpy.linalg.matrix_rank): sigma_max * max(m, n) * DBL_EPSILON. Any negative value does the same.
 */
#define NNLA_RANK_TOL_DEFAULT (-1.0)

/** Spectral figures of a matrix (nnla_spectral_diagnose()). s_1 >= ... >= s_k, k = min(m, n). */
typedef struct nnla_spectral_diag {
    size_t rows;           /**< m */
    size_t cols;           /**< n */
    size_t k;              /**< min(m, n): the number of singular values */
    double sigma_max;      /**< s_1 = ||W||_2 */
    double sigma_min;      /**< s_k (0 for a rank-deficient matrix) */
    double cond;           /**< s_1 / s_k as numpy.linalg.cond: +Inf when s_k = 0 < s_1, NaN for a zero matrix */
    double fro;            /**< ||W||_F = sqrt(sum s_i^2) */
    double rank_tol;       /**< the tolerance used for rank */
    size_t rank;           /**< numerical rank: the number of s_i > rank_tol */
    double effective_rank; /**< exp(-sum p_i log p_i), p_i = s_i / sum_j s_j (Roy and Vetterli 2007),
                                0 log 0 = 0; in [1, k] for a nonzero matrix, 0 for a zero matrix */
    double stable_rank;    /**< ||W||_F^2 / ||W||_2^2 = sum s_i^2 / s_1^2; in [1, k]; 0 for a zero matrix */
} nnla_spectral_diag;

/**
 * @brief Workspace, in bytes, for nnla_spectral_diagnose() on an m x n matrix.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EDIM; ::NNLA_EOVERFLOW.
 */
NNLA_API nnla_status nnla_spectral_diagnose_workspace_size(size_t m, size_t n, size_t *bytes);

/**
 * @brief The spectral figures of a matrix in one values-only SVD: see ::nnla_spectral_diag.
 * @param a        the m x n input (not modified).
 * @param rank_tol absolute tolerance for the numerical rank (s_i > rank_tol counts), finite;
 *                 negative (e.g. ::NNLA_RANK_TOL_DEFAULT): s_1 max(m, n) DBL_EPSILON, as
 *                 numpy.linalg.matrix_rank.
 * @param d        receives the figures.
 * @param spectrum optional (may be NULL): receives the k singular values, descending.
 * @param work     workspace of nnla_spectral_diagnose_workspace_size() bytes.
 * @param work_size its size in bytes.
 * @return ::NNLA_OK; ::NNLA_ENULL, ::NNLA_EDIM, ::NNLA_ELD; ::NNLA_EINVAL for a NaN/Inf rank_tol;
 *         ::NNLA_EWORKSPACE; ::NNLA_EALIAS; ::NNLA_ENONFINITE; ::NNLA_EOVERFLOW; ::NNLA_ENOCONV.
 */
NNLA_API nnla_status nnla_spectral_diagnose(nnla_cmat a, double rank_tol, nnla_spectral_diag *d,
                                            double *spectrum, void *work, size_t work_size);

/* ------------------------------------------------------------------ circular convolution */

/** The order of the values returned by nnla_conv2d_circular_sv(). */
typedef enum nnla_conv_sv_order {
    NNLA_CONV_SV_SORTED = 0,      /**< all n1 n2 k values, descending */
    NNLA_CONV_SV_BY_FREQUENCY = 1 /**< s[(f1 n2 + f2) k + i]: the k values of frequency (f1, f2), descending */
} nnla_conv_sv_order;

/**
 * @brief Workspace, in bytes, for nnla_conv2d_circular_sv().
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EDIM for zero sizes; ::NNLA_EUNSUPPORTED for stride,
 *         dilation or groups other than 1; ::NNLA_ESHAPE when the kernel is larger than the
 *         input; ::NNLA_EOVERFLOW.
 */
NNLA_API nnla_status nnla_conv2d_circular_sv_workspace_size(const nnla_conv2d_desc *d, size_t n1, size_t n2,
                                                            size_t *bytes);

/**
 * @brief All singular values of a 2-D convolution with circular padding on n1 x n2 inputs.
 *
 * The operator maps x (C x n1 x n2) to y (O x n1 x n2),
 * y[o][p][q] = sum_{c,i,j} w[o][c][i][j] x[c][(p + i) mod n1][(q + j) mod n2]: the
 * cross-correlation of torch.nn.Conv2d with padding_mode='circular' and an output as large as
 * the input; any other circular offset of the output permutes its pixels and has the same
 * singular values, so the descriptor's padding is not read. It is an (O n1 n2) x (C n1 n2)
 * matrix with n1 n2 min(O, C) singular values (the others are zero when O != C). By Sedghi,
 * Gupta and Long (ICLR 2019, section 2) they are the union over the n1 n2 frequencies
 * (f1, f2) of the singular values of the O x C complex matrices
 * P(f1, f2)[o][c] = sum_{i,j} w[o][c][i][j] exp(-2 pi i (f1 i / n1 + f2 j / n2)),
 * computed here by a separable DFT and LAPACK's zgesdd (values only); frequency (f1, f2) and
 * (-f1, -f2) give conjugate matrices, so only half of them are decomposed.
 *
 * @param d     the convolution: out_channels O, in_channels C, kernel_h <= n1, kernel_w <= n2;
 *              stride 1, dilation 1 and groups 1 (others: ::NNLA_EUNSUPPORTED); padding ignored.
 * @param w     weight O x C x kernel_h x kernel_w (PyTorch's layout), contiguous.
 * @param n1    input height, >= 1.
 * @param n2    input width, >= 1.
 * @param order ::NNLA_CONV_SV_SORTED or ::NNLA_CONV_SV_BY_FREQUENCY.
 * @param s     output, n1 n2 min(O, C) doubles.
 * @param work  workspace of nnla_conv2d_circular_sv_workspace_size() bytes.
 * @param work_size its size in bytes.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EDIM; ::NNLA_EINVAL for an unknown order;
 *         ::NNLA_EUNSUPPORTED; ::NNLA_ESHAPE; ::NNLA_EOVERFLOW; ::NNLA_EWORKSPACE; ::NNLA_EALIAS
 *         when w, s and work overlap; ::NNLA_ENONFINITE when w has NaN/Inf; ::NNLA_ENOCONV when
 *         zgesdd fails (s then holds unspecified values).
 */
NNLA_API nnla_status nnla_conv2d_circular_sv(const nnla_conv2d_desc *d, const double *w, size_t n1, size_t n2,
                                             nnla_conv_sv_order order, double *s, void *work, size_t work_size);

/* ------------------------------------------------------------------ ridge refit */

/**
 * @brief Workspace, in bytes, for nnla_ridge_refit() with n samples, d features, o outputs.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EDIM; ::NNLA_EOVERFLOW.
 */
NNLA_API nnla_status nnla_ridge_refit_workspace_size(size_t n, size_t d, size_t o, size_t *bytes);

/**
 * @brief Closed-form refit of a dense layer y = x W^T + b on fixed features (transfer learning):
 *        W, b minimizing ||F W^T + 1 b^T - T||_F^2 + lambda ||W||_F^2; the bias is not penalized.
 *
 * With the column means mu_F, mu_T and the centred Fc = F - 1 mu_F^T, Tc = T - 1 mu_T^T:
 * W^T = V diag(s_i / (s_i^2 + lambda)) U^T Tc from the thin SVD Fc = U diag(s) V^T, and
 * b = mu_T - W mu_F. Singular values s_i <= max(n, d) DBL_EPSILON s_1 are treated as zero
 * (numpy.linalg.lstsq's default cutoff), so at lambda = 0 and for rank-deficient F the result
 * is the minimum-norm least-squares solution W^T = Fc^+ Tc. Without a bias (b == NULL) nothing
 * is centred: W^T = V diag(s_i / (s_i^2 + lambda)) U^T T from the SVD of F itself.
 *
 * @param f      features F, n x d (n samples, one per row).
 * @param t      targets T, n x o.
 * @param lambda the ridge penalty, finite and >= 0.
 * @param w      output W, o x d (PyTorch's dense weight layout).
 * @param b      output b, o entries; NULL fits a layer without bias.
 * @param rank   optional (may be NULL): receives the number of singular values kept.
 * @param work   workspace of nnla_ridge_refit_workspace_size() bytes.
 * @param work_size its size in bytes.
 * @return ::NNLA_OK; ::NNLA_ENULL, ::NNLA_EDIM, ::NNLA_ELD for bad views; ::NNLA_ESHAPE when the
 *         rows of f and t differ or w is not o x d; ::NNLA_EINVAL for a negative or non-finite
 *         lambda; ::NNLA_EWORKSPACE; ::NNLA_EALIAS when an output overlaps an input, another
 *         output or the workspace; ::NNLA_ENONFINITE when F or T has NaN/Inf; ::NNLA_EOVERFLOW;
 *         ::NNLA_ENOCONV when the SVD fails (outputs then untouched).
 */
NNLA_API nnla_status nnla_ridge_refit(nnla_cmat f, nnla_cmat t, double lambda, nnla_mat w, double *b,
                                      size_t *rank, void *work, size_t work_size);

NNLA_EXTERN_C_END

#endif /* NNLA_SPECTRAL_H */
