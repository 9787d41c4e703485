/**
 * @file nnla/norm.h
 * @brief Batch normalization (PyTorch's BatchNorm1d / BatchNorm2d): inference, training forward
 *        with batch statistics and running averages, and the training backward pass.
 *
 * Layout: x is [batch][channels][plane], contiguous: an NCHW batch has plane = H*W
 * (BatchNorm2d), an N x C matrix plane = 1 and an N x C x L batch plane = L (BatchNorm1d). Each
 * channel c is normalized over its batch*plane entries and then scaled and shifted:
 *
 *     y = (x - mean[c]) / sqrt(var[c] + eps) * gamma[c] + beta[c],
 *
 * with gamma and beta optional (NULL means 1 and 0: PyTorch's affine=False). In inference, mean
 * and var are the running statistics; in training they are the batch's (the biased variance,
 * dividing by batch*plane), the running statistics are updated as PyTorch does,
 *
 *     running_mean = (1 - momentum) running_mean + momentum mean,
 *     running_var  = (1 - momentum) running_var  + momentum var * n / (n - 1)   (n = batch*plane:
 *                                                                              the unbiased variance),
 *
 * and the mean and 1/sqrt(var + eps) are saved for the backward pass. PyTorch's defaults are
 * eps = 1e-5 and momentum = 0.1; its momentum=None (a cumulative average) is momentum = 1/(k+1)
 * at the k-th batch (k = 0, 1, ...).
 *
 * NaN policy: x is not scanned (NaN propagates into its channel's statistics and outputs); a
 * negative or NaN running variance is refused (::NNLA_EINVAL).
 */
#ifndef NNLA_NORM_H
#define NNLA_NORM_H

#include "mat.h"

NNLA_EXTERN_C_BEGIN

/**
 * @brief Inference: y = (x - mean) / sqrt(var + eps) * gamma + beta, per channel.
 *
 * @param batch, channels, plane  sizes, >= 1.
 * @param x      input [batch][channels][plane].
 * @param mean   running mean [channels].
 * @param var    running variance [channels], every entry >= 0.
 * @param gamma  scale [channels], or NULL (1).
 * @param beta   shift [channels], or NULL (0).
 * @param eps    > 0 and finite (PyTorch's default 1e-5).
 * @param y      output [batch][channels][plane]; may be x itself (in place), must not overlap it
 *               otherwise, nor the per-channel arrays.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EDIM for a zero size; ::NNLA_EOVERFLOW; ::NNLA_EINVAL
 *         for eps <= 0 or not finite, or a var entry that is negative or NaN; ::NNLA_EALIAS.
 *         A failed call writes nothing.
 */
NNLA_API nnla_status nnla_batchnorm_forward(size_t batch, size_t channels, size_t plane, const double *x,
                                            const double *mean, const double *var, const double *gamma,
                                            const double *beta, double eps, double *y);

/**
 * @brief Training: normalize with the batch's statistics, update the running ones, save what the
 *        backward pass needs.
 *
 * Per channel: mean = the mean of its n = batch*plane entries, var = their biased variance (two
 * passes, as sums of (x - mean)^2), y = (x - mean) / sqrt(var + eps) * gamma + beta.
 *
 * @param batch, channels, plane  sizes, >= 1, with batch*plane >= 2 (the variance of one value is
 *               undefined: PyTorch refuses it too).
 * @param x      input [batch][channels][plane].
 * @param gamma, beta  as nnla_batchnorm_forward() (may be NULL).
 * @param eps    > 0 and finite.
 * @param momentum  in [0, 1]: the weight of this batch in the running statistics.
 * @param running_mean, running_var  [channels], updated in place; both NULL to keep no running
 *               statistics (PyTorch's track_running_stats=False), not one of them.
 * @param y      output [batch][channels][plane]; may be x itself.
 * @param save_mean    output [channels]: the batch mean, or NULL.
 * @param save_invstd  output [channels]: 1 / sqrt(var + eps), or NULL.
 * @return ::NNLA_OK; ::NNLA_ENULL (also for only one running array); ::NNLA_EDIM for a zero size
 *         or batch*plane == 1; ::NNLA_EOVERFLOW; ::NNLA_EINVAL for eps <= 0 or not finite, or
 *         momentum outside [0, 1] or NaN; ::NNLA_EALIAS when outputs overlap each other or the
 *         inputs (y == x excepted). A failed call writes nothing, the running statistics
 *         included.
 */
NNLA_API nnla_status nnla_batchnorm_forward_train(size_t batch, size_t channels, size_t plane, const double *x,
                                                  const double *gamma, const double *beta, double eps,
                                                  double momentum, double *running_mean, double *running_var,
                                                  double *y, double *save_mean, double *save_invstd);

/**
 * @brief The training-mode backward pass: dx, dgamma and dbeta from dy and the saved statistics.
 *
 * With xhat = (x - save_mean) save_invstd and n = batch*plane, per channel:
 * dbeta = sum dy, dgamma = sum dy xhat, and
 * dx = gamma save_invstd (dy - dbeta / n - xhat dgamma / n)
 * (the batch statistics depend on x, so every entry's gradient involves its whole channel).
 *
 * @param batch, channels, plane  as the forward's (batch*plane >= 2).
 * @param x      the forward's input [batch][channels][plane].
 * @param dy     gradient of y [batch][channels][plane].
 * @param gamma  the forward's scale, or NULL (1).
 * @param save_mean, save_invstd  nnla_batchnorm_forward_train()'s outputs [channels].
 * @param dx     output [batch][channels][plane], or NULL when not wanted; may be dy itself, must
 *               not overlap it otherwise, nor the other arguments.
 * @param dgamma output [channels], or NULL.
 * @param dbeta  output [channels], or NULL.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EDIM for a zero size or batch*plane == 1;
 *         ::NNLA_EOVERFLOW; ::NNLA_EALIAS. A failed call writes nothing.
 */
NNLA_API nnla_status nnla_batchnorm_backward(size_t batch, size_t channels, size_t plane, const double *x,
                                             const double *dy, const double *gamma, const double *save_mean,
                                             const double *save_invstd, double *dx, double *dgamma,
                                             double *dbeta);

NNLA_EXTERN_C_END

#endif /* NNLA_NORM_H */
