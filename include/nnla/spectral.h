/**
 * @file nnla/spectral.h
 * @brief Spectral methods on matrices: operator norms (exact and by power iteration),
 *        spectral normalization, singular-value clipping, diagnostics, the exact singular
 *        values of a circular convolution, and the closed-form ridge refit of a dense layer.
 *
 * The first part works on one matrix (or one convolution kernel); the last part on a network
 * (net.h): a table of every layer, a network's Lipschitz bound, normalizing a layer in place, the
 * refit of a dense layer. See docs/spectral.md.
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
 * On convolutions, activations and poolings as maps:
 * - nnla_conv2d_opnorm(): the operator norm of a convolution on a given input size (stride,
 *   asymmetric padding, dilation, groups), by power iteration on the convolution and its adjoint.
 * - nnla_act_lipschitz(), nnla_pool2d_lipschitz(): the Lipschitz constants (2-norm) of an activation
 *   and of a pooling, as the network bound uses them.
 *
 * On networks (net.h):
 * - nnla_net_diagnose(): a table of every layer's figures in one call.
 * - nnla_net_lipschitz(): an upper bound of a network's Lipschitz constant in the 2-norm, exact on
 *   networks of linear layers (runs of linear layers are composed before their norm is taken).
 * - nnla_net_weight_matrix(), nnla_net_spectral_normalize(), nnla_net_spectral_clip(): a dense or
 *   conv layer's weight as a matrix, normalized or clipped in place.
 * - nnla_net_refit(): the closed-form refit of a dense layer on the features the network computes.
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
#include "net.h"
#include "pool.h"

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

/* ------------------------------------------------------------------ the operator norm of a convolution */

/**
 * @brief Workspace, in bytes, for nnla_conv2d_opnorm() on in_h x in_w inputs.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EDIM, ::NNLA_ESHAPE, ::NNLA_EOVERFLOW as
 *         nnla_conv2d_output_size() (::NNLA_EOVERFLOW also when C in_h in_w or O out_h out_w
 *         exceeds int).
 */
NNLA_API nnla_status nnla_conv2d_opnorm_workspace_size(const nnla_conv2d_desc *d, size_t in_h, size_t in_w,
                                                       size_t *bytes);

/**
 * @brief The operator norm ||K||_2 of a convolution as the linear map it is on in_h x in_w inputs:
 *        K x = conv2d(x, w) without bias and activation, from R^(C in_h in_w) to R^(O out_h out_w),
 *        with the descriptor's stride, asymmetric zero padding, dilation and groups.
 *
 * Power iteration (nnla_power_norm()) on K^T K, whose products are nnla_conv2d_forward() and its
 * adjoint nnla_conv2d_backward_data(); the weights are scaled by a power of two internally (exact),
 * so huge or tiny weights do not overflow the products. What the result means (a lower bound of
 * ||K||_2 that the residual certifies to be within about r/2 of a singular value) and the
 * convergence on clustered spectra are as nnla_power_norm() says; a convolution on a large input
 * has many singular values close to its largest, so a tight tolerance can take thousands of
 * iterations (docs/spectral.md).
 *
 * This is not the norm of the reshaped O x (C/groups kh kw) kernel (what
 * torch.nn.utils.spectral_norm normalizes), which can be up to sqrt(kh kw) times smaller (a 3 x 3
 * kernel of ones: 3, against an operator norm that tends to 9 on large inputs); docs/spectral.md
 * gives the relations between the two and the circular singular values (nnla_conv2d_circular_sv()).
 *
 * @param d     the convolution (checked as nnla_conv2d_output_size()).
 * @param w     weight O x C/groups x kh x kw (PyTorch's layout), contiguous, finite.
 * @param in_h, in_w  the input size.
 * @param opts  power iteration options (NULL: nnla_power_opts_default()).
 * @param sigma receives the estimate of ||K||_2.
 * @param u     optional (may be NULL): receives the unit left vector, O out_h out_w entries (an
 *              output image).
 * @param v     the warm start when opts->warm_start (C in_h in_w entries: an input image), and
 *              receives the unit right vector (the input the convolution stretches most); may
 *              be NULL when not warm starting.
 * @param info  optional (may be NULL): as nnla_power_norm().
 * @param work  workspace of nnla_conv2d_opnorm_workspace_size() bytes.
 * @param work_size its size in bytes.
 * @return as nnla_power_norm() (::NNLA_OK, ::NNLA_ENOCONV with the last iterate, ...), plus
 *         ::NNLA_ENULL for a NULL d or w; ::NNLA_EDIM, ::NNLA_ESHAPE for a bad geometry;
 *         ::NNLA_ENONFINITE when w has NaN/Inf; ::NNLA_EALIAS when w overlaps u, v or work;
 *         ::NNLA_EOVERFLOW when the norm exceeds DBL_MAX. Argument errors leave every output
 *         untouched.
 */
NNLA_API nnla_status nnla_conv2d_opnorm(const nnla_conv2d_desc *d, const double *w, size_t in_h, size_t in_w,
                                        const nnla_power_opts *opts, double *sigma, double *u, double *v,
                                        nnla_power_info *info, void *work, size_t work_size);

/* ------------------------------------------------------------------ Lipschitz constants */

/**
 * @brief The Lipschitz constant in the 2-norm of an activation, sup over x of ||J_f(x)||_2, as the
 *        network bound uses it (docs/spectral.md has the table and the derivations).
 *
 * Elementwise kinds: sup |f'|: identity, relu, tanh, softplus 1; leaky_relu max(1, |alpha|);
 * elu max(1, alpha); sigmoid beta / 4; gelu (1 + erf(1)) / 2 + 1 / (e sqrt(pi)) = 1.1289 (f' is
 * largest at x = sqrt 2); silu f'(x*) = 1.0998 at the root x* = 2.3994 of x tanh(x / 2) = 2.
 * Row-wise kinds over `channels` values (the feature or channel axis): softmax 1/2 (its Jacobian
 * diag(p) - p p^T has v^T J v = the variance of v under p, at most 1/2 for a unit v), log_softmax
 * sqrt(channels) (its Jacobian I - 1 p^T is a projector of norm sqrt(channels) ||p||_2, which tends
 * to sqrt(channels) as p tends to a vertex); both 0 when channels == 1 (the output is constant).
 * Values computed by a root search are rounded up by a few ulps, so the result is an upper bound.
 * @param act      the activation (checked by nnla_act_check()).
 * @param channels the length of the axis a row-wise kind normalizes over (>= 1); ignored by the
 *                 elementwise kinds.
 * @param lip      receives the constant.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EINVAL for an invalid activation; ::NNLA_EDIM for a
 *         row-wise kind with channels == 0.
 */
NNLA_API nnla_status nnla_act_lipschitz(nnla_act act, size_t channels, double *lip);

/**
 * @brief Workspace, in bytes, for nnla_pool2d_lipschitz() (0 for max pooling).
 * @return as nnla_pool2d_output_size(), plus ::NNLA_ENULL for a NULL bytes.
 */
NNLA_API nnla_status nnla_pool2d_lipschitz_workspace_size(const nnla_pool2d_desc *d, size_t in_h, size_t in_w,
                                                          size_t *bytes);

/**
 * @brief The Lipschitz constant in the 2-norm of a pooling on in_h x in_w inputs (any number of
 *        channels: each channel is pooled alike).
 *
 * Max pooling: sqrt(c), c the largest number of windows an input entry belongs to (c = c_h c_w, one
 * count per axis; 1 when the windows do not overlap): |max_W x - max_W y| <= max_W |x - y|, and
 * summing the squares over windows counts each entry at most c times. Average pooling is linear:
 * its exact operator norm. Its divisor is a product of one term per axis, so the map is the
 * Kronecker product of two 1-D averaging matrices A_h (out_h x in_h) and A_w, built here by pooling
 * unit vectors with the same geometry, and ||A_h kron A_w|| = ||A_h|| ||A_w|| (two small SVDs).
 * @param d     the pooling (checked as nnla_pool2d_output_size()).
 * @param in_h, in_w  the input size.
 * @param lip   receives the constant.
 * @param work  workspace of nnla_pool2d_lipschitz_workspace_size() bytes (NULL when that is 0).
 * @param work_size its size in bytes.
 * @return ::NNLA_OK; ::NNLA_ENULL; the statuses of nnla_pool2d_output_size(); ::NNLA_EWORKSPACE;
 *         ::NNLA_EALIAS when lip lies in the workspace; ::NNLA_ENOCONV when an SVD fails.
 */
NNLA_API nnla_status nnla_pool2d_lipschitz(const nnla_pool2d_desc *d, size_t in_h, size_t in_w, double *lip,
                                           void *work, size_t work_size);

/* ------------------------------------------------------------------ networks: diagnostics and bounds */

/** Options of nnla_net_diagnose() and nnla_net_lipschitz(); start from nnla_net_spectral_opts_default(). */
typedef struct nnla_net_spectral_opts {
    nnla_power_opts power;   /**< the power iterations (operator norms too large for explicit_max_dim);
                                  warm_start is ignored. Default: tol 1e-6, max_iter 100000, seed 0 */
    size_t explicit_max_dim; /**< a linear map with at most this many inputs and outputs is built as an
                                  explicit matrix (one product per column or row) and its norm taken by a
                                  values-only SVD, exactly; larger ones by power iteration. Default 256;
                                  0 always iterates */
    double rank_tol;         /**< nnla_net_diagnose(): the weights' rank tolerance, as
                                  nnla_spectral_diagnose() (default ::NNLA_RANK_TOL_DEFAULT) */
    int compose;             /**< nnla_net_lipschitz(): 1 (default) composes runs of linear layers into
                                  one map before taking its norm; 0 takes every layer's norm alone (the
                                  layer-by-layer product bound) */
} nnla_net_spectral_opts;

/** @brief The default options (see ::nnla_net_spectral_opts). */
NNLA_API nnla_net_spectral_opts nnla_net_spectral_opts_default(void);

/** How an operator norm in ::nnla_layer_diag was obtained. */
typedef enum nnla_opnorm_method {
    NNLA_OPNORM_NONE = 0,        /**< no operator norm: a nonlinear layer (activation, max pooling) or an add */
    NNLA_OPNORM_CLOSED_FORM = 1, /**< a formula (global average pooling, BatchNorm, flatten, dropout, identity) */
    NNLA_OPNORM_SVD = 2,         /**< a values-only SVD: of W, of an explicit matrix, of average pooling's factors */
    NNLA_OPNORM_POWER = 3        /**< power iteration on the layer and its adjoint (a large convolution) */
} nnla_opnorm_method;

/**
 * One layer's figures (nnla_net_diagnose()). Fields that do not apply to a kind are 0, or NaN for
 * the operator norm of a nonlinear layer.
 */
typedef struct nnla_layer_diag {
    nnla_layer_kind kind;        /**< the layer's kind */
    size_t in_shape[3];          /**< the input (of its first source): channels, height, width */
    size_t out_shape[3];         /**< its output shape */
    nnla_act act;                /**< dense, conv2d: the fused activation; act: the layer's; else identity */
    int has_weight;              /**< 1 for dense and conv2d: `weight` and the spectrum apply */
    nnla_spectral_diag weight;   /**< the figures of W (dense, out x in) or of the reshaped kernel
                                      (conv2d, O x (C/groups kh kw), as PyTorch's weight.reshape(O, -1)) */
    size_t spectrum_offset;      /**< where the weight's `weight.k` singular values start in the spectrum array */
    double op_norm;              /**< the operator norm of the layer's linear part on its input shape:
                                      dense sigma_max(W); conv2d ||K||_2 on in_shape (not the reshaped
                                      kernel's); average pooling, global average pooling (1/sqrt(h w)),
                                      BatchNorm (max |gamma / sqrt(var + eps)|), flatten, dropout and the
                                      identity activation (1) theirs; NaN for nonlinear layers and add */
    nnla_opnorm_method op_norm_method; /**< how op_norm was obtained */
    nnla_power_info op_norm_info;      /**< the power iteration's report when op_norm_method is POWER */
    double act_lipschitz;        /**< the activation's constant (nnla_act_lipschitz(); over out_shape[0]
                                      channels for softmax kinds); 1 when the layer has none */
    double lipschitz;            /**< the layer's Lipschitz constant as the layer-by-layer bound uses it:
                                      op_norm (raised by the power iteration's residual, op_norm (1 + r),
                                      when iterated) times act_lipschitz; max pooling nnla_pool2d_lipschitz();
                                      add 1 (its bound is the sum of its sources') */
} nnla_layer_diag;

/**
 * @brief Workspace, in bytes, and spectrum length for nnla_net_diagnose().
 * @param net            the network.
 * @param opts           options (NULL: the defaults).
 * @param bytes          receives the workspace size.
 * @param spectrum_count optional (may be NULL): receives the number of doubles the spectrum array
 *                       needs: the sum over dense and conv2d layers of min(rows, cols) of their weight.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EDIM for a network without layers; ::NNLA_EINVAL for bad
 *         options; ::NNLA_EOVERFLOW.
 */
NNLA_API nnla_status nnla_net_diagnose_workspace_size(const nnla_net *net, const nnla_net_spectral_opts *opts,
                                                      size_t *bytes, size_t *spectrum_count);

/**
 * @brief Every layer's spectral figures and Lipschitz constant in one call: table[i] describes
 *        layer i (see ::nnla_layer_diag).
 *
 * Dense and conv2d layers: nnla_spectral_diagnose() of the weight matrix (sigma_max, sigma_min,
 * condition number, numerical rank at opts->rank_tol, effective and stable rank) and its singular
 * values into the spectrum array when one is given; for conv2d also the operator norm of the
 * convolution on the layer's input shape, as the network runs it (an explicit matrix and an SVD up to
 * opts->explicit_max_dim, power iteration beyond). Other layers: kind, shapes, and the constant the
 * Lipschitz bound uses (nnla_act_lipschitz(), nnla_pool2d_lipschitz(), the closed forms).
 * @param net       the network (only read).
 * @param opts      options (NULL: the defaults).
 * @param table     receives one entry per layer.
 * @param table_len its length, >= nnla_net_num_layers().
 * @param spectrum  optional (may be NULL): receives the singular values of the weights, layer after
 *                  layer, each descending, at table[i].spectrum_offset.
 * @param spectrum_len its length, >= the spectrum_count of nnla_net_diagnose_workspace_size() (0 when
 *                  spectrum is NULL).
 * @param work      workspace of nnla_net_diagnose_workspace_size() bytes.
 * @param work_size its size in bytes.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EDIM (no layers); ::NNLA_EINVAL (bad options);
 *         ::NNLA_ESHAPE (table or spectrum too short); ::NNLA_EWORKSPACE; ::NNLA_EALIAS (the outputs
 *         overlap each other or the workspace); ::NNLA_ENONFINITE (a weight, BatchNorm scale or
 *         variance is not finite); ::NNLA_EOVERFLOW; after work started: ::NNLA_ENOCONV when a power
 *         iteration reaches max_iter or an SVD fails (the table and spectrum then hold unspecified
 *         values). Argument errors leave every output untouched.
 */
NNLA_API nnla_status nnla_net_diagnose(const nnla_net *net, const nnla_net_spectral_opts *opts,
                                       nnla_layer_diag *table, size_t table_len, double *spectrum,
                                       size_t spectrum_len, void *work, size_t work_size);

/** What nnla_net_lipschitz() did. */
typedef struct nnla_lipschitz_info {
    size_t maps;           /**< linear maps whose operator norm was taken */
    size_t maps_explicit;  /**< of which by the SVD of an explicit matrix (exact) */
    size_t iterations;     /**< power iterations over all the others */
    double max_residual;   /**< the largest final residual r of those power iterations (0 if none) */
} nnla_lipschitz_info;

/**
 * @brief Workspace, in bytes, for nnla_net_lipschitz().
 * @return as nnla_net_diagnose_workspace_size().
 */
NNLA_API nnla_status nnla_net_lipschitz_workspace_size(const nnla_net *net, const nnla_net_spectral_opts *opts,
                                                       size_t *bytes);

/**
 * @brief An upper bound L of the network's Lipschitz constant in the 2-norm, per sample:
 *        ||f(x) - f(y)||_2 <= L ||x - y||_2 for every pair of inputs (inference form: BatchNorm
 *        with its running statistics, dropout the identity).
 *
 * Every layer is linear (dense or conv2d with the identity activation, average and global average
 * pooling, BatchNorm, flatten, dropout, the identity activation, add) or has a Lipschitz constant
 * (an activation, fused or not: nnla_act_lipschitz(); max pooling: nnla_pool2d_lipschitz()). With
 * opts->compose (the default), the bound of a node is taken over the linear maps that lead to it:
 * the linear layers before it, back to the nearest nonlinear nodes or the input (its frontier F), form
 * one linear map A_f from each frontier node f, and
 *     L(node) = c_act sum over f in F of ||A_f||_2 L(f),   L(input) = 1,
 * where c_act is the node's fused activation's constant (1 for a linear node), and for an activation
 * layer or a max pooling L(node) = c L(source). Biases do not count. So a chain of linear layers gives
 * the true norm of its product, not the product of its norms, a residual block x + K x without an
 * activation gives ||I + K||, and an add of two nonlinear branches gives L(a) + L(b). With compose
 * = 0 every linear layer is its own map (the layer-by-layer product bound, never smaller).
 *
 * Each ||A_f|| is exact (a values-only SVD of the explicit matrix, built by one product with A_f or
 * its adjoint per unit vector) when A_f has at most opts->explicit_max_dim inputs and outputs;
 * otherwise it is the power iteration's estimate sigma raised by its final residual r <= tol / 10 to
 * sigma (1 + r), which bounds the singular value the iteration converged to (sigma sqrt(1 + r) would
 * suffice); that this is the largest one is the power iteration's claim, not a certainty (see
 * nnla_power_norm() and docs/spectral.md). The result is exact on a network of linear layers (up to
 * rounding, or to r with the power iteration), and an upper bound otherwise.
 * @param net         the network (only read).
 * @param opts        options (NULL: the defaults).
 * @param bound       receives L.
 * @param node_bounds optional (may be NULL): nnla_net_num_layers() doubles, receives L(node) for every
 *                    node whose bound was computed (the last layer, the nonlinear nodes and the
 *                    linear nodes they read; every node when opts->compose == 0) and NaN for the others.
 * @param info        optional (may be NULL): receives counts of what was done.
 * @param work        workspace of nnla_net_lipschitz_workspace_size() bytes.
 * @param work_size   its size in bytes.
 * @return as nnla_net_diagnose() (::NNLA_ENOCONV when a power iteration reaches max_iter: raise it or
 *         tol); on failure bound, node_bounds and info are untouched.
 */
NNLA_API nnla_status nnla_net_lipschitz(const nnla_net *net, const nnla_net_spectral_opts *opts, double *bound,
                                        double *node_bounds, nnla_lipschitz_info *info, void *work,
                                        size_t work_size);

/* ------------------------------------------------------------------ networks: normalization in place */

/**
 * @brief A writable matrix view of a dense layer's weight (out x in) or a conv2d layer's weight
 *        reshaped to O x (C/groups kh kw) (PyTorch's weight.reshape(O, -1)), inside the network's
 *        parameter block; valid until the next structural edit.
 * @param net   the network.
 * @param layer the layer's index.
 * @param w     receives the view (untouched on failure).
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EINVAL when layer is out of range or not a dense or
 *         conv2d layer (a layer without a weight matrix).
 */
NNLA_API nnla_status nnla_net_weight_matrix(nnla_net *net, size_t layer, nnla_mat *w);

/**
 * @brief Workspace, in bytes, that serves nnla_net_spectral_normalize() (either method) and
 *        nnla_net_spectral_clip() on every layer of the network: allocate it once for a training loop.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EINVAL when the network has no dense or conv2d layer;
 *         ::NNLA_EOVERFLOW.
 */
NNLA_API nnla_status nnla_net_spectral_workspace_size(const nnla_net *net, size_t *bytes);

/**
 * @brief Spectral normalization of one layer in place: W <- W / sigma_max(W) for the weight matrix
 *        of nnla_net_weight_matrix() (nnla_spectral_normalize() on it; the bias is not changed).
 *
 * For a training loop that normalizes after every step (a projection, where
 * torch.nn.utils.spectral_norm reparametrizes), keep one vector per layer: v of the layer's cols
 * entries (nnla_net_weight_matrix()'s w.cols) and optionally u of its rows, and pass them with
 * ::NNLA_NORM_POWER, opts->warm_start = 1 after the first call, and a few iterations (tol 0,
 * max_iter 1 is PyTorch's one iteration per step). For a conv2d layer this bounds the reshaped
 * kernel's norm by 1, not the convolution's operator norm, which can still reach sqrt(kh kw) for
 * stride 1 (docs/spectral.md; nnla_conv2d_opnorm() gives the latter).
 * @param net, layer  the network and the layer (dense or conv2d).
 * @param method, opts, sigma, u, v, info  as nnla_spectral_normalize().
 * @param work  workspace of nnla_net_spectral_workspace_size() bytes (or of
 *              nnla_spectral_normalize_workspace_size() for this layer's matrix).
 * @param work_size its size in bytes.
 * @return as nnla_net_weight_matrix() and nnla_spectral_normalize(); on failure the weights are unchanged.
 */
NNLA_API nnla_status nnla_net_spectral_normalize(nnla_net *net, size_t layer, nnla_norm_method method,
                                                 const nnla_power_opts *opts, double *sigma, double *u, double *v,
                                                 nnla_power_info *info, void *work, size_t work_size);

/**
 * @brief Singular-value clipping of one layer in place: W <- U min(S, c) V^T for the weight matrix
 *        of nnla_net_weight_matrix() (nnla_spectral_clip() on it). For a conv2d layer this clips the
 *        reshaped kernel (see nnla_net_spectral_normalize()).
 * @param net, layer  the network and the layer (dense or conv2d).
 * @param c, clipped  as nnla_spectral_clip().
 * @param work  workspace of nnla_net_spectral_workspace_size() bytes.
 * @param work_size its size in bytes.
 * @return as nnla_net_weight_matrix() and nnla_spectral_clip(); on failure the weights are unchanged.
 */
NNLA_API nnla_status nnla_net_spectral_clip(nnla_net *net, size_t layer, double c, size_t *clipped, void *work,
                                            size_t work_size);

/* ------------------------------------------------------------------ networks: closed-form refit */

/** As the layer of nnla_net_refit(): the network's last dense layer. */
#define NNLA_REFIT_LAST_DENSE ((size_t)-1)

/**
 * @brief Workspace, in bytes, for nnla_net_refit() of a layer on n samples.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EDIM for n == 0; ::NNLA_EINVAL when the layer is out of
 *         range or not dense (or the network has no dense layer); ::NNLA_EOVERFLOW.
 */
NNLA_API nnla_status nnla_net_refit_workspace_size(const nnla_net *net, size_t layer, size_t n, size_t *bytes);

/**
 * @brief Transfer learning in closed form: refit a dense layer on the features the frozen network
 *        computes, and write the new W and b into it.
 *
 * F (n x d) is the output of the layer's source for the n samples of x: the network is run from layer
 * 0 to that source with nnla_net_run() (in chunks of samples; F = x itself when the source is the
 * network's input); then nnla_ridge_refit(F, T, lambda) gives W, b minimizing
 * ||F W^T + 1 b^T - T||_F^2 + lambda ||W||_F^2 (b only when the layer has a bias; it is not
 * penalized), which are written into the layer with nnla_net_set_param(). The targets T are those of
 * the layer's output before its fused activation (logits for a classifier). Layers after it are not
 * run and not changed.
 * @param net    the network; only the layer's weight and bias change.
 * @param layer  a dense layer's index, or ::NNLA_REFIT_LAST_DENSE.
 * @param x      inputs, n x (the input's channels * height * width), one flattened NCHW sample per row.
 * @param t      targets, n x (the layer's out features).
 * @param lambda the ridge penalty, finite and >= 0.
 * @param rank   optional (may be NULL): as nnla_ridge_refit().
 * @param work   workspace of nnla_net_refit_workspace_size() bytes.
 * @param work_size its size in bytes.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EDIM, ::NNLA_ELD for bad views; ::NNLA_EINVAL (bad layer,
 *         bad lambda); ::NNLA_ESHAPE (x's columns, t's shape); ::NNLA_EWORKSPACE; ::NNLA_EALIAS (x, t
 *         or rank overlapping the workspace or the network's parameters); ::NNLA_ENONFINITE (x or t,
 *         or features that overflow); ::NNLA_EOVERFLOW; ::NNLA_ENOCONV (the SVD). On failure the
 *         network and rank are unchanged.
 */
NNLA_API nnla_status nnla_net_refit(nnla_net *net, size_t layer, nnla_cmat x, nnla_cmat t, double lambda,
                                    size_t *rank, void *work, size_t work_size);

NNLA_EXTERN_C_END

#endif /* NNLA_SPECTRAL_H */
