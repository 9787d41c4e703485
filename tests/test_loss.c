/*
 * Losses: closed forms on tiny batches, a plain reference (long double log-sum-exp) on random
 * shapes with padded rows, central finite differences of the loss against the gradient, the
 * extremes (+-1000 logits, a loss of 4e-18), NaN propagation, in-place use, and bad input
 * (a clear status, every output untouched).
 */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define EPS DBL_EPSILON

static const nnla_mat NOGRAD = {0, 0, 0, NULL};

/* ------------------------------------------------------------------ references */

/* Cross-entropy of one row against target t' (C entries), in long double; grad row too. */
static long double ref_ce_row(const double *z, const double *tp, size_t c, double *g, double b)
{
    long double m = z[0];
    for (size_t j = 1; j < c; j++)
        if (z[j] > m) m = z[j];
    long double s = 0, tsum = 0;
    for (size_t j = 0; j < c; j++) s += expl((long double)z[j] - m);
    long double lse = m + logl(s), loss = 0;
    for (size_t j = 0; j < c; j++) {
        loss -= (long double)tp[j] * ((long double)z[j] - lse);
        tsum += tp[j];
    }
    for (size_t j = 0; j < c; j++)
        g[j] = (double)((expl((long double)z[j] - lse) * tsum - (long double)tp[j]) / (long double)b);
    return loss;
}

/* The first maximum of a row. */
static size_t ref_argmax(const double *z, size_t c)
{
    size_t a = 0;
    for (size_t j = 1; j < c; j++)
        if (z[j] > z[a]) a = j;
    return a;
}

/* ------------------------------------------------------------------ closed forms */

static void test_mse_closed_form(void **state)
{
    (void)state;
    /* 2 x 2 in rows of 3 (padding -7 must stay): differences 1, 0, -2, 3; squares sum to 14. */
    const double p[6] = {1, 2, -7, 3, 4, -7}, t[6] = {0, 2, -7, 5, 1, -7};
    double g[6] = {-7, -7, -7, -7, -7, -7}, loss = 0;
    assert_status(nnla_loss_mse(nnla_cmat_view(p, 2, 2, 3), nnla_cmat_view(t, 2, 2, 3), &loss,
                                nnla_mat_view(g, 2, 2, 3)),
                  NNLA_OK);
    assert_true(loss == 3.5);
    const double want[6] = {0.5, 0.0, -7, -1.0, 1.5, -7};
    assert_memory_equal(g, want, sizeof g);
    /* The loss alone, and the gradient replacing the target. */
    double l2 = 0, t2[6];
    memcpy(t2, t, sizeof t2);
    assert_status(nnla_loss_mse(nnla_cmat_view(p, 2, 2, 3), nnla_cmat_view(t, 2, 2, 3), &l2, NOGRAD), NNLA_OK);
    assert_true(l2 == 3.5);
    assert_status(nnla_loss_mse(nnla_cmat_view(p, 2, 2, 3), nnla_cmat_view(t2, 2, 2, 3), &l2,
                                nnla_mat_view(t2, 2, 2, 3)),
                  NNLA_OK);
    assert_memory_equal(t2, want, sizeof t2);
}

static void test_ce_closed_form(void **state)
{
    (void)state;
    /* Row 0: equal logits, label 1: p = 1/3 each, loss log 3.
     * Row 1: logits log 1, log 2, log 3 (p = 1/6, 2/6, 3/6), label 0: loss log 6.
     * Row 2: label 2 of the same logits: loss log 2. */
    const double z[9] = {5, 5, 5, 0, log(2.0), log(3.0), 0, log(2.0), log(3.0)};
    const size_t y[3] = {1, 0, 2};
    double g[9], loss = 0;
    size_t correct = 99;
    assert_status(nnla_loss_cross_entropy(nnla_cmat_view(z, 3, 3, 3), y, 0.0, &loss, nnla_mat_view(g, 3, 3, 3),
                                          &correct),
                  NNLA_OK);
    assert_true(fabs(loss - (log(3.0) + log(6.0) + log(2.0)) / 3) <= 4 * EPS * loss);
    /* Row 0's argmax is 0 (first maximum), not 1; row 1's is 2, row 2's is 2: one correct. */
    assert_true(correct == 1);
    const double want[9] = {1.0 / 9, (1.0 / 3 - 1) / 3, 1.0 / 9, (1.0 / 6 - 1) / 3, 2.0 / 18, 3.0 / 18,
                            1.0 / 18, 2.0 / 18, (0.5 - 1) / 3};
    assert_vec_close(g, want, 9, 8 * EPS, 0.0);

    /* Label smoothing 0.3 over 3 classes: t' = 0.8 at the label, 0.1 elsewhere; with equal logits
     * the loss is still log 3, the gradient (1/3 - t') / B. */
    const double z1[3] = {-2, -2, -2};
    const size_t y1[1] = {0};
    double g1[3];
    assert_status(nnla_loss_cross_entropy(nnla_cmat_view(z1, 1, 3, 3), y1, 0.3, &loss, nnla_mat_view(g1, 1, 3, 3),
                                          NULL),
                  NNLA_OK);
    assert_true(fabs(loss - log(3.0)) <= 4 * EPS);
    const double want1[3] = {1.0 / 3 - 0.8, 1.0 / 3 - 0.1, 1.0 / 3 - 0.1};
    assert_vec_close(g1, want1, 3, 8 * EPS, 4 * EPS);

    /* The same with the one-hot target as probabilities. */
    const double t1[3] = {1, 0, 0};
    double g2[3], l2 = 0;
    assert_status(nnla_loss_cross_entropy_prob(nnla_cmat_view(z1, 1, 3, 3), nnla_cmat_view(t1, 1, 3, 3), 0.3, &l2,
                                               nnla_mat_view(g2, 1, 3, 3), NULL),
                  NNLA_OK);
    assert_true(fabs(l2 - log(3.0)) <= 4 * EPS);
    assert_vec_close(g2, want1, 3, 8 * EPS, 4 * EPS);

    /* One class: p = 1, loss 0, gradient 0, whatever the smoothing. */
    const double z3[2] = {123.0, -4.0};
    const size_t y3[2] = {0, 0};
    double g3[2];
    assert_status(nnla_loss_cross_entropy(nnla_cmat_view(z3, 2, 1, 1), y3, 0.5, &loss, nnla_mat_view(g3, 2, 1, 1),
                                          &correct),
                  NNLA_OK);
    assert_true(loss == 0.0 && g3[0] == 0.0 && g3[1] == 0.0 && correct == 2);
}

static void test_bce_closed_form(void **state)
{
    (void)state;
    /* x = 0: loss log 2 whatever t, gradient (1/2 - t)/n. x = log 3 (sigmoid 3/4), t = 1:
     * loss log(4/3), gradient -1/4 / n. */
    const double x[3] = {0, 0, log(3.0)}, t[3] = {1, 0.25, 1};
    double g[3], loss = 0;
    assert_status(nnla_loss_bce_logits(nnla_cmat_view(x, 1, 3, 3), nnla_cmat_view(t, 1, 3, 3), &loss,
                                       nnla_mat_view(g, 1, 3, 3)),
                  NNLA_OK);
    assert_true(fabs(loss - (2 * log(2.0) + log(4.0 / 3)) / 3) <= 8 * EPS);
    const double want[3] = {-0.5 / 3, 0.25 / 3, -0.25 / 3};
    assert_vec_close(g, want, 3, 8 * EPS, 0.0);
}

/* ------------------------------------------------------------------ references on random shapes */

static void test_ce_reference_random(void **state)
{
    (void)state;
    nnla_test_rng r = {2024};
    for (int trial = 0; trial < 200; trial++) {
        size_t b = nnla_test_int(&r, 1, 9), c = nnla_test_int(&r, 1, 13), ld = c + nnla_test_int(&r, 0, 3);
        double eps = trial % 3 == 0 ? 0.0 : nnla_test_uniform(&r, 0.0, 0.9);
        double scale = trial % 4 == 0 ? 30.0 : 3.0;
        double *z = malloc(b * ld * sizeof *z), *t = malloc(b * ld * sizeof *t), *g = malloc(b * ld * sizeof *g);
        double *tp = malloc(c * sizeof *tp), *gref = malloc(b * ld * sizeof *gref);
        size_t *y = malloc(b * sizeof *y);
        assert_non_null(z);
        assert_non_null(t);
        assert_non_null(g);
        assert_non_null(tp);
        assert_non_null(gref);
        assert_non_null(y);
        nnla_test_fill(&r, z, b * ld, -scale, scale);
        for (size_t i = 0; i < b; i++) {
            y[i] = nnla_test_int(&r, 0, c - 1);
            double s = 0;
            for (size_t j = 0; j < c; j++) s += t[i * ld + j] = nnla_test_uniform(&r, 0, 1);
            for (size_t j = 0; j < c; j++) t[i * ld + j] /= s;
        }
        for (int kind = 0; kind < 2; kind++) {
            long double lref = 0;
            size_t hits = 0;
            for (size_t i = 0; i < b; i++) {
                for (size_t j = 0; j < c; j++)
                    tp[j] = kind == 0 ? (j == y[i] ? 1.0 - eps : 0.0) + eps / (double)c
                                      : t[i * ld + j] * (1.0 - eps) + eps / (double)c;
                lref += ref_ce_row(z + i * ld, tp, c, gref + i * ld, (double)b);
                size_t a = ref_argmax(z + i * ld, c);
                hits += kind == 0 ? a == y[i] : a == ref_argmax(t + i * ld, c);
            }
            lref /= (long double)b;
            for (size_t k = 0; k < b * ld; k++) g[k] = -7.0;
            double loss = NAN;
            size_t correct = 12345;
            nnla_cmat zv = nnla_cmat_view(z, b, c, ld);
            nnla_mat gv = nnla_mat_view(g, b, c, ld);
            if (kind == 0)
                assert_status(nnla_loss_cross_entropy(zv, y, eps, &loss, gv, &correct), NNLA_OK);
            else
                assert_status(nnla_loss_cross_entropy_prob(zv, nnla_cmat_view(t, b, c, ld), eps, &loss, gv, &correct),
                              NNLA_OK);
            /* The loss to a few ulps of its size and of the terms summed (logits up to 30: lse ~ 30). */
            assert_true(fabs(loss - (double)lref) <= 64 * EPS * (fabs((double)lref) + scale));
            assert_true(correct == hits);
            double gmax = 0;
            for (size_t i = 0; i < b; i++)
                for (size_t j = 0; j < c; j++) gmax = fmax(gmax, fabs(gref[i * ld + j]));
            assert_mat_close(nnla_cmat_view(g, b, c, ld), nnla_cmat_view(gref, b, c, ld), 32 * EPS, 32 * EPS * gmax);
            for (size_t i = 0; i < b; i++)
                for (size_t j = c; j < ld; j++) assert_true(g[i * ld + j] == -7.0); /* padding untouched */
        }
        free(z), free(t), free(g), free(tp), free(gref), free(y);
    }
}

static void test_mse_bce_reference_random(void **state)
{
    (void)state;
    nnla_test_rng r = {77};
    for (int trial = 0; trial < 100; trial++) {
        size_t b = nnla_test_int(&r, 1, 8), n = nnla_test_int(&r, 1, 11), ld = n + nnla_test_int(&r, 0, 2);
        double x[8 * 13], t[8 * 13], g[8 * 13], gref[8 * 13];
        nnla_test_fill(&r, x, b * ld, -40, 40);
        nnla_test_fill(&r, t, b * ld, 0, 1);
        long double lm = 0, lb = 0;
        double cnt = (double)(b * n);
        double loss;
        for (size_t i = 0; i < b; i++)
            for (size_t j = 0; j < n; j++) {
                long double xv = x[i * ld + j], tv = t[i * ld + j], d = xv - tv;
                lm += d * d;
                /* BCE from its definition, -(t log s + (1 - t) log(1 - s)) with s = sigmoid(x). */
                long double s = 1.0L / (1.0L + expl(-xv)), s1 = 1.0L / (1.0L + expl(xv));
                lb += -(tv * logl(s) + (1.0L - tv) * logl(s1));
                gref[i * ld + j] = (double)((s - tv) / (long double)cnt);
            }
        assert_status(nnla_loss_mse(nnla_cmat_view(x, b, n, ld), nnla_cmat_view(t, b, n, ld), &loss, NOGRAD), NNLA_OK);
        assert_true(fabs(loss - (double)(lm / cnt)) <= 2 * EPS * (double)(lm / cnt) * cnt);
        assert_status(nnla_loss_bce_logits(nnla_cmat_view(x, b, n, ld), nnla_cmat_view(t, b, n, ld), &loss,
                                           nnla_mat_view(g, b, n, ld)),
                      NNLA_OK);
        assert_true(fabs(loss - (double)(lb / cnt)) <= 64 * EPS * 40);
        assert_mat_close(nnla_cmat_view(g, b, n, ld), nnla_cmat_view(gref, b, n, ld), 8 * EPS, 8 * EPS / cnt);
    }
}

/* ------------------------------------------------------------------ finite differences */

typedef enum { L_MSE, L_CE, L_CE_PROB, L_BCE } loss_kind;

static double eval_loss(loss_kind k, const double *x, const double *t, const size_t *y, size_t b, size_t c,
                        double eps, double *g)
{
    double loss = NAN;
    nnla_cmat xv = nnla_cmat_view(x, b, c, c), tv = nnla_cmat_view(t, b, c, c);
    nnla_mat gv = g ? nnla_mat_view(g, b, c, c) : NOGRAD;
    nnla_status st = k == L_MSE ? nnla_loss_mse(xv, tv, &loss, gv)
                     : k == L_CE ? nnla_loss_cross_entropy(xv, y, eps, &loss, gv, NULL)
                     : k == L_CE_PROB ? nnla_loss_cross_entropy_prob(xv, tv, eps, &loss, gv, NULL)
                                      : nnla_loss_bce_logits(xv, tv, &loss, gv);
    assert_status(st, NNLA_OK);
    return loss;
}

static void test_gradients_fd(void **state)
{
    (void)state;
    nnla_test_rng r = {99};
    double worst = 0;
    for (int trial = 0; trial < 80; trial++) {
        loss_kind k = (loss_kind)(trial % 4);
        size_t b = nnla_test_int(&r, 1, 5), c = nnla_test_int(&r, 1, 7);
        double eps = (trial / 4) % 2 ? 0.2 : 0.0;
        double x[5 * 7], t[5 * 7], g[5 * 7];
        size_t y[5];
        nnla_test_fill(&r, x, b * c, -4, 4);
        nnla_test_fill(&r, t, b * c, 0, 1);
        for (size_t i = 0; i < b; i++) y[i] = nnla_test_int(&r, 0, c - 1);
        eval_loss(k, x, t, y, b, c, eps, g);
        for (size_t e = 0; e < b * c; e++) {
            double h = 1e-5, keep = x[e];
            x[e] = keep + h;
            double fp = eval_loss(k, x, t, y, b, c, eps, NULL);
            x[e] = keep - h;
            double fm = eval_loss(k, x, t, y, b, c, eps, NULL);
            x[e] = keep;
            double fd = (fp - fm) / (2 * h);
            double err = fabs(fd - g[e]) / (fabs(g[e]) + 1e-3);
            if (err > worst) worst = err;
            assert_true(err < 1e-6);
        }
    }
    assert_true(worst > 0); /* the comparison ran on real differences */
}

/* ------------------------------------------------------------------ extremes, NaN, in place */

static void test_extremes(void **state)
{
    (void)state;
    /* +-1000: a confident right row costs 0, a confident wrong one 2000, exactly. */
    const double z[6] = {1000, -1000, 0, 1000, -1000, 0};
    const size_t y[2] = {0, 1};
    double g[6], loss = NAN;
    size_t correct = 0;
    assert_status(nnla_loss_cross_entropy(nnla_cmat_view(z, 2, 3, 3), y, 0.0, &loss, nnla_mat_view(g, 2, 3, 3),
                                          &correct),
                  NNLA_OK);
    assert_true(loss == 1000.0 && correct == 1); /* (0 + 2000) / 2 */
    const double want[6] = {0, 0, 0, 0.5, -0.5, 0};
    assert_memory_equal(g, want, sizeof g);
    /* The same as probabilities, and every row -1000: log 2 each. */
    const double t[6] = {1, 0, 0, 0, 1, 0};
    assert_status(nnla_loss_cross_entropy_prob(nnla_cmat_view(z, 2, 3, 3), nnla_cmat_view(t, 2, 3, 3), 0.0, &loss,
                                               nnla_mat_view(g, 2, 3, 3), &correct),
                  NNLA_OK);
    assert_true(loss == 1000.0 && correct == 1);
    assert_memory_equal(g, want, sizeof g);
    const double zl[2] = {-1000, -1000};
    double gl[2];
    assert_status(nnla_loss_cross_entropy(nnla_cmat_view(zl, 1, 2, 2), y, 0.0, &loss, nnla_mat_view(gl, 1, 2, 2),
                                          NULL),
                  NNLA_OK);
    assert_true(fabs(loss - log(2.0)) <= EPS && gl[0] == -0.5 && gl[1] == 0.5);

    /* A loss of 4.2e-18 keeps its relative accuracy: log1p(exp(-40)), and 1 - p at the label is
     * exp(-40)/(1 + exp(-40)) (torch's log_softmax rounds both to 0). */
    const double z2[2] = {40, 0};
    double g2[2];
    assert_status(nnla_loss_cross_entropy(nnla_cmat_view(z2, 1, 2, 2), y, 0.0, &loss, nnla_mat_view(g2, 1, 2, 2),
                                          NULL),
                  NNLA_OK);
    double e40 = exp(-40.0);
    assert_true(fabs(loss - log1p(e40)) <= 2 * EPS * loss);
    assert_true(fabs(g2[0] + e40 / (1 + e40)) <= 4 * EPS * e40 && fabs(g2[1] - e40 / (1 + e40)) <= 4 * EPS * e40);

    /* BCE at +-1000. */
    const double x[4] = {1000, -1000, 1000, -1000}, tb[4] = {1, 1, 0, 0};
    double gb[4];
    assert_status(nnla_loss_bce_logits(nnla_cmat_view(x, 1, 4, 4), nnla_cmat_view(tb, 1, 4, 4), &loss,
                                       nnla_mat_view(gb, 1, 4, 4)),
                  NNLA_OK);
    assert_true(loss == 500.0); /* (0 + 1000 + 1000 + 0) / 4 */
    const double wantb[4] = {0, -0.25, 0.25, 0};
    assert_memory_equal(gb, wantb, sizeof gb);
}

static void test_nan_propagates(void **state)
{
    (void)state;
    /* Row 0 holds a NaN, row 1 a +Inf: both rows of the gradient are NaN, the loss NaN; row 2
     * stays finite. A NaN counts as the argmax (torch.argmax). */
    const double z[9] = {1, NAN, 0, INFINITY, 0, 1, 0, 1, 2};
    const size_t y[3] = {1, 0, 2};
    double g[9], loss = 0;
    size_t correct = 0;
    assert_status(nnla_loss_cross_entropy(nnla_cmat_view(z, 3, 3, 3), y, 0.1, &loss, nnla_mat_view(g, 3, 3, 3),
                                          &correct),
                  NNLA_OK);
    assert_true(isnan(loss));
    for (int j = 0; j < 6; j++) assert_true(isnan(g[j]));
    for (int j = 6; j < 9; j++) assert_true(isfinite(g[j]));
    assert_true(correct == 3);
    const double t[9] = {0, 1, 0, 1, 0, 0, 0, 0, 1};
    assert_status(nnla_loss_cross_entropy_prob(nnla_cmat_view(z, 3, 3, 3), nnla_cmat_view(t, 3, 3, 3), 0.0, &loss,
                                               nnla_mat_view(g, 3, 3, 3), NULL),
                  NNLA_OK);
    assert_true(isnan(loss));
    for (int j = 0; j < 6; j++) assert_true(isnan(g[j]));
    for (int j = 6; j < 9; j++) assert_true(isfinite(g[j]));
    /* MSE and BCE: NaN in its entry. */
    const double x[2] = {NAN, 1}, tt[2] = {0, 0};
    double g2[2];
    assert_status(nnla_loss_mse(nnla_cmat_view(x, 1, 2, 2), nnla_cmat_view(tt, 1, 2, 2), &loss,
                                nnla_mat_view(g2, 1, 2, 2)),
                  NNLA_OK);
    assert_true(isnan(loss) && isnan(g2[0]) && g2[1] == 1.0);
    assert_status(nnla_loss_bce_logits(nnla_cmat_view(x, 1, 2, 2), nnla_cmat_view(tt, 1, 2, 2), &loss,
                                       nnla_mat_view(g2, 1, 2, 2)),
                  NNLA_OK);
    assert_true(isnan(loss) && isnan(g2[0]) && isfinite(g2[1]));
}

static void test_in_place(void **state)
{
    (void)state;
    nnla_test_rng r = {5};
    enum { B = 6, C = 5, LD = 7 };
    double z[B * LD], t[B * LD], g[B * LD], w[B * LD];
    size_t y[B];
    nnla_test_fill(&r, z, B * LD, -3, 3);
    nnla_test_fill(&r, t, B * LD, 0, 1);
    for (size_t i = 0; i < B; i++) y[i] = nnla_test_int(&r, 0, C - 1);
    for (int k = 0; k < 4; k++) {
        double l1 = 0, l2 = 0;
        size_t c1 = 0, c2 = 0;
        nnla_mat gv = nnla_mat_view(g, B, C, LD), wv = nnla_mat_view(w, B, C, LD);
        memcpy(w, z, sizeof w);
        nnla_cmat zv = nnla_cmat_view(z, B, C, LD), tv = nnla_cmat_view(t, B, C, LD), wc = nnla_cmat_of(wv);
        switch (k) {
        case 0:
            assert_status(nnla_loss_cross_entropy(zv, y, 0.25, &l1, gv, &c1), NNLA_OK);
            assert_status(nnla_loss_cross_entropy(wc, y, 0.25, &l2, wv, &c2), NNLA_OK);
            break;
        case 1:
            assert_status(nnla_loss_cross_entropy_prob(zv, tv, 0.25, &l1, gv, &c1), NNLA_OK);
            assert_status(nnla_loss_cross_entropy_prob(wc, tv, 0.25, &l2, wv, &c2), NNLA_OK);
            break;
        case 2:
            assert_status(nnla_loss_mse(zv, tv, &l1, gv), NNLA_OK);
            assert_status(nnla_loss_mse(wc, tv, &l2, wv), NNLA_OK);
            break;
        default:
            assert_status(nnla_loss_bce_logits(zv, tv, &l1, gv), NNLA_OK);
            assert_status(nnla_loss_bce_logits(wc, tv, &l2, wv), NNLA_OK);
            break;
        }
        assert_true(l1 == l2 && c1 == c2);
        for (size_t i = 0; i < B; i++) {
            assert_memory_equal(w + i * LD, g + i * LD, C * sizeof(double));
            assert_memory_equal(w + i * LD + C, z + i * LD + C, (LD - C) * sizeof(double)); /* padding kept */
        }
    }
}

/* ------------------------------------------------------------------ bad input */

static void test_bad_input(void **state)
{
    (void)state;
    enum { B = 3, C = 4 };
    double z[B * C], t[B * C], g[B * C], g0[B * C], buf[B * C + 8];
    size_t y[B] = {0, 3, 2};
    nnla_test_rng r = {11};
    nnla_test_fill(&r, z, B * C, -1, 1);
    nnla_test_fill(&r, t, B * C, 0, 1);
    nnla_test_fill(&r, g0, B * C, 5, 6);
    nnla_cmat zv = nnla_cmat_view(z, B, C, C), tv = nnla_cmat_view(t, B, C, C);
    nnla_mat gv = nnla_mat_view(g, B, C, C);
    double loss;
    size_t correct;

#define CHECK(call, status)                                                                                    \
    do {                                                                                                       \
        memcpy(g, g0, sizeof g);                                                                               \
        loss = -42.0;                                                                                          \
        correct = 4242;                                                                                        \
        assert_status((call), (status));                                                                       \
        assert_memory_equal(g, g0, sizeof g);                                                                  \
        assert_true(loss == -42.0 && correct == 4242);                                                         \
    } while (0)

    size_t ybad[B] = {0, 4, 2};
    CHECK(nnla_loss_cross_entropy(zv, ybad, 0.0, &loss, gv, &correct), NNLA_EINVAL); /* label == C */
    size_t yhuge[B] = {0, 1, (size_t)-1};
    CHECK(nnla_loss_cross_entropy(zv, yhuge, 0.0, &loss, gv, &correct), NNLA_EINVAL);
    CHECK(nnla_loss_cross_entropy(zv, y, -0.1, &loss, gv, &correct), NNLA_EINVAL);
    CHECK(nnla_loss_cross_entropy(zv, y, 1.0, &loss, gv, &correct), NNLA_EINVAL);
    CHECK(nnla_loss_cross_entropy(zv, y, NAN, &loss, gv, &correct), NNLA_EINVAL);
    CHECK(nnla_loss_cross_entropy_prob(zv, tv, 1.5, &loss, gv, &correct), NNLA_EINVAL);
    CHECK(nnla_loss_cross_entropy(zv, NULL, 0.0, &loss, gv, &correct), NNLA_ENULL);
    CHECK(nnla_loss_cross_entropy(zv, y, 0.0, NULL, gv, &correct), NNLA_ENULL);
    CHECK(nnla_loss_mse(zv, tv, NULL, gv), NNLA_ENULL);
    CHECK(nnla_loss_cross_entropy(nnla_cmat_view(NULL, B, C, C), y, 0.0, &loss, gv, &correct), NNLA_ENULL);
    CHECK(nnla_loss_cross_entropy(nnla_cmat_view(z, 0, C, C), y, 0.0, &loss, gv, &correct), NNLA_EDIM);
    CHECK(nnla_loss_cross_entropy(nnla_cmat_view(z, B, C, C - 1), y, 0.0, &loss, gv, &correct), NNLA_ELD);
    CHECK(nnla_loss_cross_entropy(zv, y, 0.0, &loss, nnla_mat_view(g, B, C - 1, C), &correct), NNLA_ESHAPE);
    CHECK(nnla_loss_cross_entropy(zv, y, 0.0, &loss, nnla_mat_view(g, B, C, C - 1), &correct), NNLA_ELD);
    CHECK(nnla_loss_cross_entropy_prob(zv, nnla_cmat_view(t, B - 1, C, C), 0.0, &loss, gv, &correct), NNLA_ESHAPE);
    CHECK(nnla_loss_mse(zv, nnla_cmat_view(t, B, C - 1, C), &loss, gv), NNLA_ESHAPE);
    CHECK(nnla_loss_bce_logits(zv, nnla_cmat_view(t, B + 1, C, C), &loss, gv), NNLA_ESHAPE);
    CHECK(nnla_loss_bce_logits(zv, tv, &loss, nnla_mat_view(g, B, C, SIZE_MAX / 2)), NNLA_EOVERFLOW);

    /* Aliasing: the gradient partly over the input, over the target (cross-entropy), over the
     * labels or over the loss itself. */
    memcpy(buf, z, sizeof z);
    double buf0[B * C + 8];
    memcpy(buf0, buf, sizeof buf);
    nnla_cmat bz = nnla_cmat_view(buf, B, C, C);
    assert_status(nnla_loss_cross_entropy(bz, y, 0.0, &loss, nnla_mat_view(buf + 1, B, C, C), NULL), NNLA_EALIAS);
    assert_status(nnla_loss_cross_entropy(bz, y, 0.0, &loss, nnla_mat_view(buf, B, C, C + 1), NULL), NNLA_EALIAS);
    assert_status(nnla_loss_mse(bz, tv, &loss, nnla_mat_view(buf + 2, B, C, C)), NNLA_EALIAS);
    assert_status(nnla_loss_cross_entropy_prob(tv, bz, 0.0, &loss, nnla_mat_view(buf, B, C, C), NULL), NNLA_EALIAS);
    assert_status(nnla_loss_cross_entropy_prob(bz, bz, 0.0, &loss, nnla_mat_view(buf, B, C, C), NULL), NNLA_EALIAS);
    assert_status(nnla_loss_cross_entropy(zv, (const size_t *)(void *)buf, 0.0, &loss, nnla_mat_view(buf, B, C, C),
                                          NULL),
                  NNLA_EALIAS);
    assert_status(nnla_loss_cross_entropy(zv, y, 0.0, buf + 5, nnla_mat_view(buf, B, C, C), NULL), NNLA_EALIAS);
    assert_status(nnla_loss_cross_entropy(zv, y, 0.0, &loss, nnla_mat_view(buf, B, C, C), (size_t *)(void *)(buf + 3)),
                  NNLA_EALIAS);
    assert_status(nnla_loss_bce_logits(zv, bz, &loss, nnla_mat_view(buf + 1, B, C, C)), NNLA_EALIAS);
    assert_memory_equal(buf, buf0, sizeof buf);
#undef CHECK
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mse_closed_form),     cmocka_unit_test(test_ce_closed_form),
        cmocka_unit_test(test_bce_closed_form),     cmocka_unit_test(test_ce_reference_random),
        cmocka_unit_test(test_mse_bce_reference_random), cmocka_unit_test(test_gradients_fd),
        cmocka_unit_test(test_extremes),            cmocka_unit_test(test_nan_propagates),
        cmocka_unit_test(test_in_place),            cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
