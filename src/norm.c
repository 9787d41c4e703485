/*
 * Batch normalization over [batch][channels][plane] (PyTorch's BatchNorm1d/2d): inference with
 * running statistics, training with batch statistics (two-pass mean and biased variance, running
 * averages updated with the unbiased one), and the training backward pass.
 *
 * Channel c's entries are the batch runs x[(n*channels + c)*plane .. + plane) for n < batch; each
 * reduction walks them in that order (n, then the plane), so results do not depend on anything
 * but the data.
 */
#include <math.h>

#include "internal.h"

/* Entries of the batch (batch*channels*plane) and of one channel (batch*plane); NNLA_EDIM,
 * NNLA_EOVERFLOW. */
static nnla_status sizes(size_t batch, size_t channels, size_t plane, size_t *total, size_t *per_channel)
{
    if (batch == 0 || channels == 0 || plane == 0) return NNLA_EDIM;
    size_t bytes;
    if (!nnla__mul(batch, plane, per_channel) || !nnla__mul(*per_channel, channels, total) ||
        !nnla__mul(*total, sizeof(double), &bytes))
        return NNLA_EOVERFLOW;
    return NNLA_OK;
}

static int finite_positive(double v) { return v > 0.0 && isfinite(v); }

/* A buffer for the overlap checks: NULL (absent) never overlaps. */
typedef struct region {
    const void *p;
    size_t bytes;
} region;

/*
 * Whether an output overlaps another output or an input; out[0] may be exactly in[0] (an in-place
 * pass) when same is set.
 */
static int clash(const region *out, size_t no, const region *in, size_t ni, int same)
{
    for (size_t i = 0; i < no; i++) {
        if (out[i].p == NULL) continue;
        for (size_t j = i + 1; j < no; j++)
            if (out[j].p != NULL && nnla__overlap(out[i].p, out[i].bytes, out[j].p, out[j].bytes)) return 1;
        for (size_t j = 0; j < ni; j++) {
            if (in[j].p == NULL) continue;
            if (same && i == 0 && j == 0 && out[0].p == in[0].p) continue;
            if (nnla__overlap(out[i].p, out[i].bytes, in[j].p, in[j].bytes)) return 1;
        }
    }
    return 0;
}

nnla_status nnla_batchnorm_forward(size_t batch, size_t channels, size_t plane, const double *x, const double *mean,
                                   const double *var, const double *gamma, const double *beta, double eps, double *y)
{
    if (x == NULL || mean == NULL || var == NULL || y == NULL) return NNLA_ENULL;
    size_t total, per;
    NNLA__TRY(sizes(batch, channels, plane, &total, &per));
    if (!finite_positive(eps)) return NNLA_EINVAL;
    const size_t xb = total * sizeof(double), cb = channels * sizeof(double);
    const region out[1] = {{y, xb}};
    const region in[5] = {{x, xb}, {mean, cb}, {var, cb}, {gamma, cb}, {beta, cb}};
    if (clash(out, 1, in, 5, 1)) return NNLA_EALIAS;
    for (size_t c = 0; c < channels; c++)
        if (!(var[c] >= 0.0)) return NNLA_EINVAL;
    for (size_t c = 0; c < channels; c++) {
        const double scale = (gamma != NULL ? gamma[c] : 1.0) / sqrt(var[c] + eps);
        const double shift = (beta != NULL ? beta[c] : 0.0) - mean[c] * scale;
        for (size_t n = 0; n < batch; n++) {
            const double *xr = x + (n * channels + c) * plane;
            double *yr = y + (n * channels + c) * plane;
            for (size_t i = 0; i < plane; i++) yr[i] = xr[i] * scale + shift;
        }
    }
    return NNLA_OK;
}

nnla_status nnla_batchnorm_forward_train(size_t batch, size_t channels, size_t plane, const double *x,
                                         const double *gamma, const double *beta, double eps, double momentum,
                                         double *running_mean, double *running_var, double *y, double *save_mean,
                                         double *save_invstd)
{
    if (x == NULL || y == NULL || (running_mean == NULL) != (running_var == NULL)) return NNLA_ENULL;
    size_t total, per;
    NNLA__TRY(sizes(batch, channels, plane, &total, &per));
    if (per < 2) return NNLA_EDIM; /* the variance of one value per channel */
    if (!finite_positive(eps) || !(momentum >= 0.0 && momentum <= 1.0)) return NNLA_EINVAL;
    const size_t xb = total * sizeof(double), cb = channels * sizeof(double);
    const region out[5] = {{y, xb}, {running_mean, cb}, {running_var, cb}, {save_mean, cb}, {save_invstd, cb}};
    const region in[3] = {{x, xb}, {gamma, cb}, {beta, cb}};
    if (clash(out, 5, in, 3, 1)) return NNLA_EALIAS;
    const double inv_n = 1.0 / (double)per, unbias = (double)per / (double)(per - 1);
    for (size_t c = 0; c < channels; c++) {
        double s = 0.0;
        for (size_t n = 0; n < batch; n++) {
            const double *xr = x + (n * channels + c) * plane;
            for (size_t i = 0; i < plane; i++) s += xr[i];
        }
        const double mean = s * inv_n;
        double q = 0.0;
        for (size_t n = 0; n < batch; n++) {
            const double *xr = x + (n * channels + c) * plane;
            for (size_t i = 0; i < plane; i++) {
                const double d = xr[i] - mean;
                q += d * d;
            }
        }
        const double var = q * inv_n, invstd = 1.0 / sqrt(var + eps);
        const double scale = (gamma != NULL ? gamma[c] : 1.0) * invstd, b = beta != NULL ? beta[c] : 0.0;
        for (size_t n = 0; n < batch; n++) { /* y may be x: the statistics are done */
            const double *xr = x + (n * channels + c) * plane;
            double *yr = y + (n * channels + c) * plane;
            for (size_t i = 0; i < plane; i++) yr[i] = (xr[i] - mean) * scale + b;
        }
        if (running_mean != NULL) {
            running_mean[c] = (1.0 - momentum) * running_mean[c] + momentum * mean;
            running_var[c] = (1.0 - momentum) * running_var[c] + momentum * var * unbias;
        }
        if (save_mean != NULL) save_mean[c] = mean;
        if (save_invstd != NULL) save_invstd[c] = invstd;
    }
    return NNLA_OK;
}

nnla_status nnla_batchnorm_backward(size_t batch, size_t channels, size_t plane, const double *x, const double *dy,
                                    const double *gamma, const double *save_mean, const double *save_invstd,
                                    double *dx, double *dgamma, double *dbeta)
{
    if (x == NULL || dy == NULL || save_mean == NULL || save_invstd == NULL) return NNLA_ENULL;
    size_t total, per;
    NNLA__TRY(sizes(batch, channels, plane, &total, &per));
    if (per < 2) return NNLA_EDIM;
    const size_t xb = total * sizeof(double), cb = channels * sizeof(double);
    const region out[3] = {{dx, xb}, {dgamma, cb}, {dbeta, cb}};
    const region in[5] = {{dy, xb}, {x, xb}, {gamma, cb}, {save_mean, cb}, {save_invstd, cb}};
    if (clash(out, 3, in, 5, 1)) return NNLA_EALIAS;
    const double inv_n = 1.0 / (double)per;
    for (size_t c = 0; c < channels; c++) {
        const double mean = save_mean[c], invstd = save_invstd[c];
        double sdy = 0.0, sdyx = 0.0; /* sum dy, sum dy xhat */
        for (size_t n = 0; n < batch; n++) {
            const double *xr = x + (n * channels + c) * plane, *gr = dy + (n * channels + c) * plane;
            for (size_t i = 0; i < plane; i++) {
                sdy += gr[i];
                sdyx += gr[i] * (xr[i] - mean);
            }
        }
        sdyx *= invstd;
        if (dx != NULL) { /* dx may be dy: the sums are done */
            const double k = (gamma != NULL ? gamma[c] : 1.0) * invstd, a = sdy * inv_n, b = sdyx * inv_n * invstd;
            for (size_t n = 0; n < batch; n++) {
                const double *xr = x + (n * channels + c) * plane, *gr = dy + (n * channels + c) * plane;
                double *dr = dx + (n * channels + c) * plane;
                for (size_t i = 0; i < plane; i++) dr[i] = k * (gr[i] - a - (xr[i] - mean) * b);
            }
        }
        if (dgamma != NULL) dgamma[c] = sdyx;
        if (dbeta != NULL) dbeta[c] = sdy;
    }
    return NNLA_OK;
}
