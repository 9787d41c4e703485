/*
 * Batch normalization: closed forms (hand-computed statistics, running averages with PyTorch's
 * unbiased variance), the three passes against plain loops in long double on random shapes, the
 * normalized output's own statistics, finite differences of the training pass, the backward
 * pass's invariances, in-place use and bad input.
 */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define EPS DBL_EPSILON

/* x[(n*C + c)*P + i] */
static size_t at(size_t n, size_t c, size_t i, size_t channels, size_t plane) { return (n * channels + c) * plane + i; }

/* ------------------------------------------------------------------ closed forms */

static void test_closed_forms(void **state)
{
    (void)state;
    /* batch 2, 2 channels, plane 2: channel 0 holds 1 2 | 3 4, channel 1 holds 10 10 | 10 14 */
    const double x[8] = {1, 2, 10, 10, 3, 4, 10, 14};
    double y[8], rm[2] = {1.0, -2.0}, rv[2] = {2.0, 0.5}, sm[2], si[2];
    const double gamma[2] = {2.0, -1.0}, beta[2] = {0.5, 3.0};
    /* channel 0: mean 2.5, biased var 1.25, unbiased 5/3; channel 1: mean 11, var 3, unbiased 4 */
    assert_status(nnla_batchnorm_forward_train(2, 2, 2, x, gamma, beta, 0.75, 0.1, rm, rv, y, sm, si), NNLA_OK);
    assert_vec_close(sm, ((double[2]){2.5, 11.0}), 2, 0, 0);
    assert_vec_close(si, ((double[2]){1.0 / sqrt(2.0), 1.0 / sqrt(3.75)}), 2, 2 * EPS, 0);
    assert_vec_close(rm, ((double[2]){0.9 * 1.0 + 0.1 * 2.5, 0.9 * -2.0 + 0.1 * 11.0}), 2, 4 * EPS, 0);
    assert_vec_close(rv, ((double[2]){0.9 * 2.0 + 0.1 * 5.0 / 3.0, 0.9 * 0.5 + 0.1 * 4.0}), 2, 4 * EPS, 0);
    /* y = (x - mean) / sqrt(var + eps) * gamma + beta: channel 0 divides by sqrt(2) */
    const double r2 = sqrt(2.0), r375 = sqrt(3.75);
    const double want[8] = {-1.5 / r2 * 2 + 0.5,  -0.5 / r2 * 2 + 0.5,  -1 / r375 * -1 + 3, -1 / r375 * -1 + 3,
                            0.5 / r2 * 2 + 0.5, 1.5 / r2 * 2 + 0.5, -1 / r375 * -1 + 3, 3 / r375 * -1 + 3};
    assert_vec_close(y, want, 8, 4 * EPS, 4 * EPS);
    /* inference with var 3 and eps 1: divide by exactly 2 */
    const double mean[2] = {1.0, -1.0}, var[2] = {3.0, 15.0};
    assert_status(nnla_batchnorm_forward(2, 2, 2, x, mean, var, gamma, beta, 1.0, y), NNLA_OK);
    const double inf_want[8] = {0.5, 1.5, 3 - 11.0 / 4, 3 - 11.0 / 4, 2.5, 3.5, 3 - 11.0 / 4, 3 - 15.0 / 4};
    assert_vec_close(y, inf_want, 8, 2 * EPS, 2 * EPS);
    /* gamma and beta NULL mean 1 and 0; in place */
    double z[8];
    memcpy(z, x, sizeof z);
    assert_status(nnla_batchnorm_forward(2, 2, 2, z, mean, var, NULL, NULL, 1.0, z), NNLA_OK);
    const double plain[8] = {0, 0.5, 11.0 / 4, 11.0 / 4, 1, 1.5, 11.0 / 4, 15.0 / 4};
    assert_vec_close(z, plain, 8, 2 * EPS, 2 * EPS);
    /* momentum 0 keeps the running statistics, 1 replaces them by the batch's; no running arrays */
    double rm0[2] = {7, 8}, rv0[2] = {9, 10};
    assert_status(nnla_batchnorm_forward_train(2, 2, 2, x, NULL, NULL, 1e-5, 0.0, rm0, rv0, y, NULL, NULL), NNLA_OK);
    assert_true(rm0[0] == 7 && rm0[1] == 8 && rv0[0] == 9 && rv0[1] == 10);
    assert_status(nnla_batchnorm_forward_train(2, 2, 2, x, NULL, NULL, 1e-5, 1.0, rm0, rv0, y, NULL, NULL), NNLA_OK);
    assert_vec_close(rm0, ((double[2]){2.5, 11}), 2, 2 * EPS, 0);
    assert_vec_close(rv0, ((double[2]){5.0 / 3.0, 4}), 2, 2 * EPS, 0);
    assert_status(nnla_batchnorm_forward_train(2, 2, 2, x, NULL, NULL, 1e-5, 0.5, NULL, NULL, y, NULL, NULL), NNLA_OK);
    /* BatchNorm1d on N x C (plane 1): two samples give each channel +-1 / sqrt(1 + eps/var) */
    const double two[4] = {0, 5, 2, 1};
    double y2[4];
    assert_status(nnla_batchnorm_forward_train(2, 2, 1, two, NULL, NULL, 1e-5, 0.1, NULL, NULL, y2, NULL, NULL),
                  NNLA_OK);
    assert_vec_close(y2, ((double[4]){-1 / sqrt(1 + 1e-5), 1 / sqrt(1 + 1e-5 / 4), 1 / sqrt(1 + 1e-5),
                                      -1 / sqrt(1 + 1e-5 / 4)}),
                     4, 4 * EPS, 0);
}

/* ------------------------------------------------------------------ against loops */

typedef struct bn_case {
    size_t batch, channels, plane, total;
    int affine;
    double eps, momentum;
} bn_case;

static bn_case draw(nnla_test_rng *r)
{
    bn_case c;
    do {
        c.batch = nnla_test_int(r, 1, 5);
        c.channels = nnla_test_int(r, 1, 6);
        c.plane = nnla_test_int(r, 1, 30);
    } while (c.batch * c.plane < 2);
    c.total = c.batch * c.channels * c.plane;
    c.affine = (int)nnla_test_int(r, 0, 1);
    c.eps = nnla_test_int(r, 0, 1) ? 1e-5 : nnla_test_uniform(r, 1e-8, 1.0);
    c.momentum = nnla_test_uniform(r, 0, 1);
    return c;
}

/* Training statistics by a plain loop in long double: mean, biased and unbiased variance. */
static void ref_stats(const bn_case *c, const double *x, size_t ch, long double *mean, long double *var,
                      long double *uvar)
{
    long double s = 0, q = 0, n = (long double)(c->batch * c->plane);
    for (size_t b = 0; b < c->batch; b++)
        for (size_t i = 0; i < c->plane; i++) s += x[at(b, ch, i, c->channels, c->plane)];
    *mean = s / n;
    for (size_t b = 0; b < c->batch; b++)
        for (size_t i = 0; i < c->plane; i++) {
            long double d = x[at(b, ch, i, c->channels, c->plane)] - *mean;
            q += d * d;
        }
    *var = q / n;
    *uvar = q / (n - 1);
}

static void test_random_vs_loops(void **state)
{
    (void)state;
    nnla_test_rng rng = {424242};
    for (int trial = 0; trial < 300; trial++) {
        bn_case c = draw(&rng);
        size_t C = c.channels, n = c.batch * c.plane;
        double *x = malloc(c.total * sizeof *x), *y = malloc(c.total * sizeof *y), *yi = malloc(c.total * sizeof *yi);
        double g[6], b[6], rm[6], rv[6], rm0[6], rv0[6], sm[6], si[6], mean[6], var[6];
        /* an offset and a scale per channel, so the statistics are not all near 0 and 1 */
        nnla_test_fill(&rng, x, c.total, -1, 1);
        for (size_t ch = 0; ch < C; ch++) {
            double off = nnla_test_uniform(&rng, -5, 5), sc = nnla_test_uniform(&rng, 0.1, 3);
            for (size_t bb = 0; bb < c.batch; bb++)
                for (size_t i = 0; i < c.plane; i++) {
                    double *v = &x[at(bb, ch, i, C, c.plane)];
                    *v = off + sc * *v;
                }
        }
        nnla_test_fill(&rng, g, C, -2, 2);
        nnla_test_fill(&rng, b, C, -1, 1);
        nnla_test_fill(&rng, rm, C, -1, 1);
        nnla_test_fill(&rng, rv, C, 0.1, 2);
        nnla_test_fill(&rng, mean, C, -1, 1);
        nnla_test_fill(&rng, var, C, 0, 2);
        memcpy(rm0, rm, sizeof rm);
        memcpy(rv0, rv, sizeof rv);
        for (size_t i = 0; i < c.total; i++) y[i] = NAN;
        const double *gp = c.affine ? g : NULL, *bp = c.affine ? b : NULL;
        assert_status(nnla_batchnorm_forward_train(c.batch, C, c.plane, x, gp, bp, c.eps, c.momentum, rm, rv, y, sm,
                                                   si),
                      NNLA_OK);
        assert_status(nnla_batchnorm_forward(c.batch, C, c.plane, x, mean, var, gp, bp, c.eps, yi), NNLA_OK);
        for (size_t ch = 0; ch < C; ch++) {
            long double m, v, uv;
            ref_stats(&c, x, ch, &m, &v, &uv);
            long double inv = 1.0L / sqrtl(v + c.eps);
            double ga = c.affine ? g[ch] : 1.0, be = c.affine ? b[ch] : 0.0;
            double scale = fabs((double)m) + 5.0; /* |x| of the channel: the scale of the sums' rounding */
            assert_true(fabsl(sm[ch] - m) <= 2.0 * (double)n * EPS * scale);
            double vscale = 1.0 + scale * scale / (double)(v + c.eps);
            assert_true(fabsl(si[ch] - inv) <= 4.0 * (double)n * EPS * (double)inv * vscale);
            long double want_rm = (1 - c.momentum) * rm0[ch] + c.momentum * m;
            long double want_rv = (1 - c.momentum) * rv0[ch] + c.momentum * uv;
            assert_true(fabsl(rm[ch] - want_rm) <= 4.0 * (double)n * EPS * (scale + 1));
            assert_true(fabsl(rv[ch] - want_rv) <= 4.0 * (double)n * EPS * (double)(uv + 1) * (1 + scale * scale));
            long double inf_inv = 1.0L / sqrtl((long double)var[ch] + c.eps);
            double ysum = 0, yq = 0;
            for (size_t bb = 0; bb < c.batch; bb++)
                for (size_t i = 0; i < c.plane; i++) {
                    size_t k = at(bb, ch, i, C, c.plane);
                    long double want = (x[k] - m) * inv * ga + be;
                    double tol = 8.0 * (double)n * EPS * (1.0 + fabs(ga) * (double)inv * scale * 2);
                    if (fabsl(y[k] - want) > tol)
                        fail_msg("trial %d: y[%zu] = %.17g, loop %.17Lg", trial, k, y[k], want);
                    long double iwant = (x[k] - mean[ch]) * inf_inv * ga + be;
                    assert_true(fabsl(yi[k] - iwant) <= 8.0 * EPS * (1.0 + fabs(ga) * (double)inf_inv * (scale + 1)));
                    ysum += y[k];
                    yq += (y[k] - be) * (y[k] - be);
                }
            /* the normalized channel has mean beta and biased variance gamma^2 var / (var + eps) */
            double mtol = 16.0 * (double)n * EPS * (1 + fabs(ga) * scale * (double)inv);
            assert_true(fabs(ysum / (double)n - be) <= mtol);
            double wantq = (double)(ga * ga * v / (v + c.eps));
            assert_true(fabs(yq / (double)n - wantq) <= 1e-10 * (1 + wantq));
        }
        /* in place: the same bytes */
        memcpy(yi, x, c.total * sizeof *x);
        memcpy(rm, rm0, sizeof rm);
        memcpy(rv, rv0, sizeof rv);
        assert_status(nnla_batchnorm_forward_train(c.batch, C, c.plane, yi, gp, bp, c.eps, c.momentum, rm, rv, yi, NULL,
                                                   NULL),
                      NNLA_OK);
        assert_memory_equal(yi, y, c.total * sizeof *y);
        free(x);
        free(y);
        free(yi);
    }
}

/* ------------------------------------------------------------------ backward */

/* The backward pass against a long-double loop of its formula, its invariances (sum dx = 0 per
 * channel: y does not see a shift of its channel), in-place use, and central finite differences of
 * L = <r, batchnorm_train(x; gamma, beta)> in x, gamma and beta: relative error below 1e-6. */
static void test_backward(void **state)
{
    (void)state;
    nnla_test_rng rng = {97};
    for (int trial = 0; trial < 200; trial++) {
        bn_case c = draw(&rng);
        size_t C = c.channels, n = c.batch * c.plane;
        double *x = malloc(c.total * sizeof *x), *y = malloc(c.total * sizeof *y), *dy = malloc(c.total * sizeof *dy);
        double *dx = malloc(c.total * sizeof *dx), *dx2 = malloc(c.total * sizeof *dx2);
        double g[6], b[6], sm[6], si[6], dg[6], db[6];
        nnla_test_fill(&rng, x, c.total, -2, 2);
        nnla_test_fill(&rng, dy, c.total, -1, 1);
        nnla_test_fill(&rng, g, C, -2, 2);
        nnla_test_fill(&rng, b, C, -1, 1);
        const double *gp = c.affine ? g : NULL, *bp = c.affine ? b : NULL;
        assert_status(
            nnla_batchnorm_forward_train(c.batch, C, c.plane, x, gp, bp, c.eps, 0.1, NULL, NULL, y, sm, si),
            NNLA_OK);
        for (size_t i = 0; i < c.total; i++) dx[i] = NAN;
        assert_status(nnla_batchnorm_backward(c.batch, C, c.plane, x, dy, gp, sm, si, dx, dg, db), NNLA_OK);
        for (size_t ch = 0; ch < C; ch++) {
            long double sdy = 0, sdyx = 0, sdx = 0, sabs = 0, ga = c.affine ? g[ch] : 1.0;
            for (size_t bb = 0; bb < c.batch; bb++)
                for (size_t i = 0; i < c.plane; i++) {
                    size_t k = at(bb, ch, i, C, c.plane);
                    sdy += dy[k];
                    sdyx += dy[k] * (x[k] - (long double)sm[ch]) * si[ch];
                }
            assert_true(fabsl(db[ch] - sdy) <= 2.0 * (double)n * EPS * (double)n);
            assert_true(fabsl(dg[ch] - sdyx) <= 4.0 * (double)n * EPS * (double)n * 2 * si[ch]);
            for (size_t bb = 0; bb < c.batch; bb++)
                for (size_t i = 0; i < c.plane; i++) {
                    size_t k = at(bb, ch, i, C, c.plane);
                    long double xh = (x[k] - (long double)sm[ch]) * si[ch];
                    long double want = ga * si[ch] * (dy[k] - sdy / n - xh * sdyx / n);
                    double tol = 16.0 * (double)n * EPS * fabs((double)ga) * si[ch] * (1 + fabs((double)xh)) * 2;
                    if (fabsl(dx[k] - want) > tol)
                        fail_msg("trial %d: dx[%zu] = %.17g, loop %.17Lg", trial, k, dx[k], want);
                    sdx += dx[k];
                    sabs += fabs(dx[k]);
                }
            assert_true(fabsl(sdx) <= 4.0 * (double)n * EPS * (double)(sabs + fabs((double)ga) * si[ch] * n));
        }
        /* dx in place over dy; parameter gradients alone */
        memcpy(dx2, dy, c.total * sizeof *dy);
        assert_status(nnla_batchnorm_backward(c.batch, C, c.plane, x, dx2, gp, sm, si, dx2, NULL, NULL), NNLA_OK);
        assert_memory_equal(dx2, dx, c.total * sizeof *dx);
        double dg2[6], db2[6];
        assert_status(nnla_batchnorm_backward(c.batch, C, c.plane, x, dy, gp, sm, si, NULL, dg2, db2), NNLA_OK);
        assert_memory_equal(dg2, dg, C * sizeof *dg);
        assert_memory_equal(db2, db, C * sizeof *db);
        /* finite differences of the training pass (batch statistics recomputed each time) */
        if (trial % 4 == 0) {
            const double h = 1e-6;
            for (int t = 0; t < 6; t++) {
                int which = c.affine ? t % 3 : 0;
                double *param = which == 0 ? x : which == 1 ? g : b;
                size_t count = which == 0 ? c.total : C, k = (size_t)nnla_test_int(&rng, 0, count - 1);
                double keep = param[k], lp = 0, lm = 0;
                param[k] = keep + h;
                assert_status(nnla_batchnorm_forward_train(c.batch, C, c.plane, x, gp, bp, c.eps, 0.1, NULL, NULL, y,
                                                           NULL, NULL),
                              NNLA_OK);
                for (size_t i = 0; i < c.total; i++) lp += dy[i] * y[i];
                param[k] = keep - h;
                assert_status(nnla_batchnorm_forward_train(c.batch, C, c.plane, x, gp, bp, c.eps, 0.1, NULL, NULL, y,
                                                           NULL, NULL),
                              NNLA_OK);
                for (size_t i = 0; i < c.total; i++) lm += dy[i] * y[i];
                param[k] = keep;
                double fd = (lp - lm) / (2 * h), an = which == 0 ? dx[k] : which == 1 ? dg[k] : db[k];
                /* the forward's rounding (~1e-16 |L|) over 2h: allow that, relative 1e-6 */
                double scale = 0;
                for (size_t i = 0; i < c.total; i++) scale += fabs(dy[i] * y[i]);
                if (fabs(fd - an) > 1e-6 * fmax(1.0, fabs(an)) + 1e-9 * scale)
                    fail_msg("trial %d, %s[%zu]: finite difference %.12g, backward %.12g", trial,
                             which == 0 ? "x" : which == 1 ? "gamma" : "beta", k, fd, an);
            }
        }
        free(x);
        free(y);
        free(dy);
        free(dx);
        free(dx2);
    }
}

/* ------------------------------------------------------------------ bad input */

static void test_bad_input(void **state)
{
    (void)state;
    enum { B = 2, C = 3, P = 4, T = B * C * P };
    double x[T], y[T], y0[T], dy[T], dx[T], dx0[T];
    double mean[C] = {0, 1, 2}, var[C] = {1, 2, 3}, g[C] = {1, 2, 3}, b[C] = {0, 1, 0};
    double rm[C], rv[C], sm[C], si[C], rm0[C], rv0[C], sm0[C], si0[C], dg[C], db[C], dg0[C], db0[C];
    nnla_test_rng r = {5};
    nnla_test_fill(&r, x, T, -1, 1);
    nnla_test_fill(&r, dy, T, -1, 1);
    nnla_test_fill(&r, y0, T, -1, 1);
    nnla_test_fill(&r, dx0, T, -1, 1);
    nnla_test_fill(&r, rm0, C, -1, 1);
    nnla_test_fill(&r, rv0, C, 0, 1);
    nnla_test_fill(&r, sm0, C, -1, 1);
    nnla_test_fill(&r, si0, C, 0, 1);
    nnla_test_fill(&r, dg0, C, -1, 1);
    nnla_test_fill(&r, db0, C, -1, 1);
#define RESET()                                                                                              \
    do {                                                                                                     \
        memcpy(y, y0, sizeof y);                                                                             \
        memcpy(dx, dx0, sizeof dx);                                                                          \
        memcpy(rm, rm0, sizeof rm);                                                                          \
        memcpy(rv, rv0, sizeof rv);                                                                          \
        memcpy(sm, sm0, sizeof sm);                                                                          \
        memcpy(si, si0, sizeof si);                                                                          \
        memcpy(dg, dg0, sizeof dg);                                                                          \
        memcpy(db, db0, sizeof db);                                                                          \
    } while (0)
#define UNTOUCHED()                                                                                          \
    do {                                                                                                     \
        assert_memory_equal(y, y0, sizeof y);                                                                \
        assert_memory_equal(dx, dx0, sizeof dx);                                                             \
        assert_memory_equal(rm, rm0, sizeof rm);                                                             \
        assert_memory_equal(rv, rv0, sizeof rv);                                                             \
        assert_memory_equal(sm, sm0, sizeof sm);                                                             \
        assert_memory_equal(si, si0, sizeof si);                                                             \
        assert_memory_equal(dg, dg0, sizeof dg);                                                             \
        assert_memory_equal(db, db0, sizeof db);                                                             \
    } while (0)
#define INF(bt, ch, pl, xx, m, v, gg, bb, e, yy, st)                                                         \
    do {                                                                                                     \
        assert_status(nnla_batchnorm_forward((bt), (ch), (pl), (xx), (m), (v), (gg), (bb), (e), (yy)), (st)); \
        UNTOUCHED();                                                                                         \
    } while (0)
#define TRAIN(bt, ch, pl, xx, gg, bb, e, mo, rmp, rvp, yy, smp, sip, st)                                       \
    do {                                                                                                     \
        assert_status(nnla_batchnorm_forward_train((bt), (ch), (pl), (xx), (gg), (bb), (e), (mo), (rmp), (rvp), \
                                                   (yy), (smp), (sip)),                                      \
                      (st));                                                                                 \
        UNTOUCHED();                                                                                         \
    } while (0)
#define BACK(bt, ch, pl, xx, dyy, gg, smp, sip, dxx, dgg, dbb, st)                                              \
    do {                                                                                                     \
        assert_status(nnla_batchnorm_backward((bt), (ch), (pl), (xx), (dyy), (gg), (smp), (sip), (dxx), (dgg), \
                                              (dbb)),                                                        \
                      (st));                                                                                 \
        UNTOUCHED();                                                                                         \
    } while (0)
    RESET();
    /* inference */
    INF(B, C, P, NULL, mean, var, g, b, 1e-5, y, NNLA_ENULL);
    INF(B, C, P, x, NULL, var, g, b, 1e-5, y, NNLA_ENULL);
    INF(B, C, P, x, mean, NULL, g, b, 1e-5, y, NNLA_ENULL);
    INF(B, C, P, x, mean, var, g, b, 1e-5, NULL, NNLA_ENULL);
    INF(0, C, P, x, mean, var, g, b, 1e-5, y, NNLA_EDIM);
    INF(B, 0, P, x, mean, var, g, b, 1e-5, y, NNLA_EDIM);
    INF(B, C, 0, x, mean, var, g, b, 1e-5, y, NNLA_EDIM);
    INF(SIZE_MAX / 2, C, P, x, mean, var, g, b, 1e-5, y, NNLA_EOVERFLOW);
    const double bad_eps[4] = {0.0, -1e-5, NAN, INFINITY};
    for (int i = 0; i < 4; i++) INF(B, C, P, x, mean, var, g, b, bad_eps[i], y, NNLA_EINVAL);
    double badvar[C] = {1, -1e-3, 1};
    INF(B, C, P, x, mean, badvar, g, b, 1e-5, y, NNLA_EINVAL);
    badvar[1] = NAN;
    INF(B, C, P, x, mean, badvar, g, b, 1e-5, y, NNLA_EINVAL);
    INF(B, C, P, y + 1, mean, var, g, b, 1e-5, y, NNLA_EALIAS); /* partial overlap (y == x is fine) */
    INF(B, C, P, x, y + 3, var, g, b, 1e-5, y, NNLA_EALIAS);
    INF(B, C, P, x, mean, var, y + T - 1, b, 1e-5, y, NNLA_EALIAS);
    /* training */
    TRAIN(B, C, P, NULL, g, b, 1e-5, 0.1, rm, rv, y, sm, si, NNLA_ENULL);
    TRAIN(B, C, P, x, g, b, 1e-5, 0.1, rm, rv, NULL, sm, si, NNLA_ENULL);
    TRAIN(B, C, P, x, g, b, 1e-5, 0.1, rm, NULL, y, sm, si, NNLA_ENULL); /* one running array only */
    TRAIN(B, C, P, x, g, b, 1e-5, 0.1, NULL, rv, y, sm, si, NNLA_ENULL);
    TRAIN(0, C, P, x, g, b, 1e-5, 0.1, rm, rv, y, sm, si, NNLA_EDIM);
    TRAIN(B, 0, P, x, g, b, 1e-5, 0.1, rm, rv, y, sm, si, NNLA_EDIM);
    TRAIN(1, C, 1, x, g, b, 1e-5, 0.1, rm, rv, y, sm, si, NNLA_EDIM); /* one value per channel */
    TRAIN(B, C, SIZE_MAX / 4, x, g, b, 1e-5, 0.1, rm, rv, y, sm, si, NNLA_EOVERFLOW);
    for (int i = 0; i < 4; i++) TRAIN(B, C, P, x, g, b, bad_eps[i], 0.1, rm, rv, y, sm, si, NNLA_EINVAL);
    const double bad_mom[4] = {-0.1, 1.0001, NAN, INFINITY};
    for (int i = 0; i < 4; i++) TRAIN(B, C, P, x, g, b, 1e-5, bad_mom[i], rm, rv, y, sm, si, NNLA_EINVAL);
    TRAIN(B, C, P, y + 2, g, b, 1e-5, 0.1, rm, rv, y, sm, si, NNLA_EALIAS);
    double both[2 * C];
    memcpy(both, rm0, sizeof rm0);
    TRAIN(B, C, P, x, g, b, 1e-5, 0.1, both, both + 1, y, sm, si, NNLA_EALIAS); /* running arrays overlap */
    TRAIN(B, C, P, x, g, b, 1e-5, 0.1, rm, rv, y, sm, sm + 1, NNLA_EALIAS);
    TRAIN(B, C, P, x, g, b, 1e-5, 0.1, rm, rv, y, x + 1, si, NNLA_EALIAS);
    TRAIN(B, C, P, x, g, b, 1e-5, 0.1, rm, rv, y, sm, y + 4, NNLA_EALIAS);
    TRAIN(B, C, P, x, g, g + 1, 1e-5, 0.1, g, rv, y, sm, si, NNLA_EALIAS); /* running mean over gamma */
    /* backward */
    BACK(B, C, P, NULL, dy, g, sm0, si0, dx, dg, db, NNLA_ENULL);
    BACK(B, C, P, x, NULL, g, sm0, si0, dx, dg, db, NNLA_ENULL);
    BACK(B, C, P, x, dy, g, NULL, si0, dx, dg, db, NNLA_ENULL);
    BACK(B, C, P, x, dy, g, sm0, NULL, dx, dg, db, NNLA_ENULL);
    BACK(B, 0, P, x, dy, g, sm0, si0, dx, dg, db, NNLA_EDIM);
    BACK(1, C, 1, x, dy, g, sm0, si0, dx, dg, db, NNLA_EDIM);
    BACK(SIZE_MAX / 2, C, P, x, dy, g, sm0, si0, dx, dg, db, NNLA_EOVERFLOW);
    BACK(B, C, P, dx + 1, dy, g, sm0, si0, dx, dg, db, NNLA_EALIAS); /* dx over x */
    BACK(B, C, P, x, dx + 2, g, sm0, si0, dx, dg, db, NNLA_EALIAS);  /* dx partly over dy */
    BACK(B, C, P, x, dy, g, sm0, si0, dx, dg, dg + 1, NNLA_EALIAS);
    BACK(B, C, P, x, dy, g, sm0, si0, dx, dx + 3, db, NNLA_EALIAS);
    BACK(B, C, P, x, dy, dg, sm0, si0, dx, dg, db, NNLA_EALIAS); /* dgamma over gamma */
#undef RESET
#undef UNTOUCHED
#undef INF
#undef TRAIN
#undef BACK
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_closed_forms),
        cmocka_unit_test(test_random_vs_loops),
        cmocka_unit_test(test_backward),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
