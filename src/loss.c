/*
 * Losses and their gradients (nnla/loss.h): MSE, softmax cross-entropy fused with the softmax,
 * binary cross-entropy with logits. Means over the batch, as PyTorch's reduction='mean'.
 *
 * Cross-entropy works row by row in at most three passes over a row (which sits in L1): the
 * maximum m and the first argmax a; then e_j = exp(z_j - m), kept in the gradient row when one
 * is wanted (so the gradient may replace the logits), and rest = sum_{j != a} e_j; then the
 * gradient p_j - t'_j with p_j = e_j / s, s = 1 + rest. The log-sum-exp is m + log1p(rest): when
 * one class dominates, log1p keeps the full relative accuracy of a loss close to 0 that
 * m + log(s) would round away, and 1 - p_a = rest / s does the same for the gradient at the
 * label. Nothing allocates; every check comes first.
 */
#include <math.h>

#include "internal.h"

/* ------------------------------------------------------------------ checks */

static int same_view(nnla_cmat a, nnla_cmat b) { return a.data == b.data && a.ld == b.ld; }

/* Whether an output view overlaps an input view without being it (when `same_ok`). */
static int bad_alias(nnla_cmat out, nnla_cmat in, int same_ok)
{
    if (same_ok && same_view(out, in)) return 0;
    return nnla__overlap(out.data, nnla__view_bytes(out), in.data, nnla__view_bytes(in));
}

static int same_shape(nnla_cmat a, nnla_cmat b) { return a.rows == b.rows && a.cols == b.cols; }

/*
 * The checks every loss shares: the first input x, the optional target view (same shape),
 * the loss pointer, and the optional gradient (shape of x; may be x itself, and the target itself
 * when target_ok). *want is set to whether a gradient is wanted.
 */
static nnla_status check_common(nnla_cmat x, const nnla_cmat *target, int target_ok, const double *loss,
                                nnla_mat grad, const size_t *correct, int *want)
{
    NNLA__TRY(nnla_mat_check(x));
    if (target != NULL) {
        NNLA__TRY(nnla_mat_check(*target));
        if (!same_shape(x, *target)) return NNLA_ESHAPE;
    }
    if (loss == NULL) return NNLA_ENULL;
    *want = grad.data != NULL;
    if (!*want) return NNLA_OK;
    nnla_cmat g = nnla_cmat_of(grad);
    NNLA__TRY(nnla_mat_check(g));
    if (!same_shape(g, x)) return NNLA_ESHAPE;
    size_t gb = nnla__view_bytes(g);
    if (bad_alias(g, x, 1) || (target != NULL && bad_alias(g, *target, target_ok)) ||
        nnla__overlap(g.data, gb, loss, sizeof *loss) ||
        (correct != NULL && nnla__overlap(g.data, gb, correct, sizeof *correct)))
        return NNLA_EALIAS;
    return NNLA_OK;
}

/* Label smoothing: 0 <= e < 1 (NaN fails the test). */
static int smoothing_ok(double e) { return e >= 0.0 && e < 1.0; }

/* ------------------------------------------------------------------ row kernels */

/* The first maximum of a row and its index; a NaN counts as the maximum (torch.argmax). */
static size_t row_argmax(const double *z, size_t n, double *max)
{
    double m = z[0];
    size_t a = 0;
    if (m != m) {
        *max = m;
        return 0;
    }
    for (size_t j = 1; j < n; j++) {
        if (z[j] > m) {
            m = z[j];
            a = j;
        } else if (z[j] != z[j]) {
            *max = z[j];
            return j;
        }
    }
    *max = m;
    return a;
}

/*
 * rest = sum_{j != a} exp(z_j - m) + (exp(z_a - m) - 1): the second term is exactly 0 unless the
 * row holds a NaN or a +Inf, where it is NaN and carries the NaN into the loss and the gradient.
 * When e is not NULL, e_j = exp(z_j - m) is stored there (e may be z itself: each z_j is read
 * before e_j is written).
 */
static double row_exps(const double *z, size_t n, double m, size_t a, double *e)
{
    double rest = 0.0, ea = 1.0;
    if (e != NULL) {
        for (size_t j = 0; j < n; j++) {
            double v = exp(z[j] - m);
            e[j] = v;
            if (j != a) rest += v;
        }
        ea = e[a];
    } else {
        for (size_t j = 0; j < n; j++) {
            double v = exp(z[j] - m);
            if (j != a) rest += v;
            else ea = v;
        }
    }
    return rest + (ea - 1.0);
}

/* ------------------------------------------------------------------ MSE */

nnla_status nnla_loss_mse(nnla_cmat pred, nnla_cmat target, double *loss, nnla_mat grad)
{
    int want;
    NNLA__TRY(check_common(pred, &target, 1, loss, grad, NULL, &want));
    size_t rows = pred.rows, cols = pred.cols;
    double count = (double)rows * (double)cols;
    double c = 2.0 / count, sum = 0.0;
    for (size_t i = 0; i < rows; i++) {
        const double *p = pred.data + i * pred.ld, *t = target.data + i * target.ld;
        double s0 = 0.0, s1 = 0.0;
        size_t j = 0;
        for (; j + 1 < cols; j += 2) {
            double d0 = p[j] - t[j], d1 = p[j + 1] - t[j + 1];
            s0 += d0 * d0;
            s1 += d1 * d1;
        }
        if (j < cols) {
            double d = p[j] - t[j];
            s0 += d * d;
        }
        sum += s0 + s1;
        if (want) {
            double *g = grad.data + i * grad.ld;
            for (j = 0; j < cols; j++) g[j] = c * (p[j] - t[j]);
        }
    }
    *loss = sum / count;
    return NNLA_OK;
}

/* ------------------------------------------------------------------ cross-entropy */

nnla_status nnla_loss_cross_entropy(nnla_cmat logits, const size_t *labels, double label_smoothing, double *loss,
                                    nnla_mat grad, size_t *correct)
{
    int want;
    NNLA__TRY(check_common(logits, NULL, 0, loss, grad, correct, &want));
    if (labels == NULL) return NNLA_ENULL;
    if (!smoothing_ok(label_smoothing)) return NNLA_EINVAL;
    size_t rows = logits.rows, n = logits.cols;
    if (want && nnla__overlap(grad.data, nnla__view_bytes(nnla_cmat_of(grad)), labels, rows * sizeof *labels))
        return NNLA_EALIAS;
    for (size_t i = 0; i < rows; i++)
        if (labels[i] >= n) return NNLA_EINVAL;

    const double eps = label_smoothing, b = (double)rows, inv_b = 1.0 / b, dn = (double)n;
    const double off = eps / dn;                     /* t'_j for j != label */
    const double on = (1.0 - eps) + off;             /* t'_label */
    const double one_minus_on = eps * (dn - 1.0) / dn; /* 1 - t'_label, without cancellation */
    double sum = 0.0;
    size_t hits = 0;
    for (size_t i = 0; i < rows; i++) {
        const double *z = logits.data + i * logits.ld;
        double *g = want ? grad.data + i * grad.ld : NULL;
        size_t y = labels[i];
        double m;
        size_t a = row_argmax(z, n, &m);
        hits += a == y;
        double zy = z[y];
        double sdm = 0.0; /* sum_j (m - z_j), for the smoothing term */
        if (eps > 0.0)
            for (size_t j = 0; j < n; j++) sdm += m - z[j];
        double rest = row_exps(z, n, m, a, g);
        double log_s = log1p(rest);
        double row = (m - zy) + log_s;
        if (eps > 0.0) row = (1.0 - eps) * row + eps * (sdm / dn + log_s);
        sum += row;
        if (g != NULL) {
            double s = 1.0 + rest, r = 1.0 / s, py = g[y] * r;
            for (size_t j = 0; j < n; j++) g[j] = (g[j] * r - off) * inv_b;
            /* At the label, p_y - t'_y; when y is the argmax, as (1 - t'_y) - (1 - p_y) with
             * 1 - p_y = rest / s, free of the cancellation of p_y - 1 when p_y is close to 1. */
            g[y] = (y == a) ? (one_minus_on - rest * r) * inv_b : (py - on) * inv_b;
        }
    }
    *loss = sum / b;
    if (correct != NULL) *correct = hits;
    return NNLA_OK;
}

nnla_status nnla_loss_cross_entropy_prob(nnla_cmat logits, nnla_cmat target, double label_smoothing, double *loss,
                                         nnla_mat grad, size_t *correct)
{
    int want;
    NNLA__TRY(check_common(logits, &target, 0, loss, grad, correct, &want));
    if (!smoothing_ok(label_smoothing)) return NNLA_EINVAL;
    size_t rows = logits.rows, n = logits.cols;
    const double eps = label_smoothing, keep = 1.0 - eps, add = eps / (double)n, b = (double)rows;
    const double inv_b = 1.0 / b;
    double sum = 0.0;
    size_t hits = 0;
    for (size_t i = 0; i < rows; i++) {
        const double *z = logits.data + i * logits.ld, *t = target.data + i * target.ld;
        double *g = want ? grad.data + i * grad.ld : NULL;
        double m, tmax;
        size_t a = row_argmax(z, n, &m);
        if (correct != NULL) hits += row_argmax(t, n, &tmax) == a;
        /* sum_j t'_j (m - z_j) and sum_j t'_j, read before the gradient may replace z. */
        double dot = 0.0, tsum = 0.0;
        for (size_t j = 0; j < n; j++) {
            double tj = eps > 0.0 ? t[j] * keep + add : t[j];
            dot += tj * (m - z[j]);
            tsum += tj;
        }
        double rest = row_exps(z, n, m, a, g);
        double log_s = log1p(rest);
        sum += dot + tsum * log_s;
        if (g != NULL) {
            double f = tsum / (1.0 + rest); /* p_j sum_j t'_j = e_j f */
            for (size_t j = 0; j < n; j++) {
                double tj = eps > 0.0 ? t[j] * keep + add : t[j];
                g[j] = (g[j] * f - tj) * inv_b;
            }
        }
    }
    *loss = sum / b;
    if (correct != NULL) *correct = hits;
    return NNLA_OK;
}

/* ------------------------------------------------------------------ BCE with logits */

nnla_status nnla_loss_bce_logits(nnla_cmat logits, nnla_cmat target, double *loss, nnla_mat grad)
{
    int want;
    NNLA__TRY(check_common(logits, &target, 1, loss, grad, NULL, &want));
    size_t rows = logits.rows, cols = logits.cols;
    double count = (double)rows * (double)cols, inv_count = 1.0 / count, sum = 0.0;
    for (size_t i = 0; i < rows; i++) {
        const double *x = logits.data + i * logits.ld, *t = target.data + i * target.ld;
        double *g = want ? grad.data + i * grad.ld : NULL;
        for (size_t j = 0; j < cols; j++) {
            double xj = x[j], tj = t[j];
            double e = exp(-fabs(xj)); /* in (0, 1]: never overflows */
            sum += ((xj > 0.0 ? xj : 0.0) - xj * tj) + log1p(e);
            if (g != NULL) {
                double sig = xj >= 0.0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
                g[j] = (sig - tj) * inv_count;
            }
        }
    }
    *loss = sum / count;
    return NNLA_OK;
}
