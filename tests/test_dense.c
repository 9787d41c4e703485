/*
 * Dense layers: against a triple loop on many random shapes (batch 1 included, ld > cols) with
 * every activation, the paper's threshold convention, and bad input with untouched outputs.
 */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EPS DBL_EPSILON

/* Reference f(x) of one entry, in the textbook forms (long double where it helps). */
static double ref_act1(nnla_act a, double v)
{
    long double x = v, p = a.param;
    switch (a.kind) {
    case NNLA_ACT_IDENTITY: return v;
    case NNLA_ACT_SIGMOID: return (double)(1.0L / (1.0L + expl(-p * x)));
    case NNLA_ACT_TANH: return (double)tanhl(x);
    case NNLA_ACT_RELU: return v > 0 ? v : 0.0;
    case NNLA_ACT_LEAKY_RELU: return v > 0 ? v : (double)(p * x);
    case NNLA_ACT_ELU: return v > 0 ? v : (double)(p * expm1l(x));
    case NNLA_ACT_GELU: return (double)(0.5L * x * erfcl(-x / sqrtl(2.0L)));
    case NNLA_ACT_SILU: return (double)(x / (1.0L + expl(-x)));
    case NNLA_ACT_SOFTPLUS: return (double)(log1pl(expl(p * x)) / p);
    default: return NAN;
    }
}

/* y = act(x w^T + b) by a triple loop in long double. */
static void ref_dense(size_t batch, size_t in, size_t out, const double *x, size_t ldx, const double *w,
                      size_t ldw, const double *b, nnla_act a, double *y, size_t ldy)
{
    for (size_t i = 0; i < batch; i++) {
        long double row[64];
        for (size_t o = 0; o < out; o++) {
            long double s = b ? b[o] : 0.0L;
            for (size_t k = 0; k < in; k++) s += (long double)x[i * ldx + k] * w[o * ldw + k];
            row[o] = s;
        }
        if (a.kind == NNLA_ACT_SOFTMAX || a.kind == NNLA_ACT_LOG_SOFTMAX) {
            long double m = row[0], z = 0;
            for (size_t o = 1; o < out; o++)
                if (row[o] > m) m = row[o];
            for (size_t o = 0; o < out; o++) z += expl(row[o] - m);
            for (size_t o = 0; o < out; o++)
                y[i * ldy + o] = a.kind == NNLA_ACT_SOFTMAX ? (double)(expl(row[o] - m) / z)
                                                            : (double)(row[o] - m - logl(z));
        } else {
            for (size_t o = 0; o < out; o++) y[i * ldy + o] = ref_act1(a, (double)row[o]);
        }
    }
}

static void test_dense_random(void **state)
{
    (void)state;
    nnla_test_rng rng = {2024};
    const char *acts[] = {"identity",       "sigmoid", "sigmoid:3",  "tanh", "relu",
                          "leaky_relu:0.2", "elu",     "gelu",       "silu", "softplus",
                          "softplus:2",     "softmax", "log_softmax"};
    /* configurations run per path of nnla_dense_forward: per activation, [one sample (dgemv) or a
     * batch (dgemm)] x [without or with a bias]; and with padded leading dimensions (ld > cols) */
    int paths[sizeof acts / sizeof acts[0]][2][2] = {{{0}}}, padded = 0;
    for (size_t ai = 0; ai < sizeof acts / sizeof acts[0]; ai++) {
        nnla_act a;
        assert_status(nnla_act_parse(acts[ai], &a), NNLA_OK);
        for (int t = 0; t < 40; t++) {
            size_t batch = t % 4 == 0 ? 1 : nnla_test_int(&rng, 1, 17);
            size_t in = nnla_test_int(&rng, 1, 37), out = nnla_test_int(&rng, 1, 37);
            size_t ldx = in + nnla_test_int(&rng, 0, 3), ldw = in + nnla_test_int(&rng, 0, 3);
            size_t ldy = out + nnla_test_int(&rng, 0, 3);
            int with_bias = t % 5 != 1;
            paths[ai][batch > 1][with_bias]++;
            padded += ldx > in && ldw > in && ldy > out;
            double *x = malloc(batch * ldx * sizeof *x), *w = malloc(out * ldw * sizeof *w);
            double *b = malloc(out * sizeof *b), *y = malloc(batch * ldy * sizeof *y);
            double *r = malloc(batch * ldy * sizeof *r);
            nnla_test_fill(&rng, x, batch * ldx, -1, 1);
            nnla_test_fill(&rng, w, out * ldw, -1, 1);
            nnla_test_fill(&rng, b, out, -1, 1);
            for (size_t i = 0; i < batch * ldy; i++) y[i] = r[i] = -999.0;
            ref_dense(batch, in, out, x, ldx, w, ldw, with_bias ? b : NULL, a, r, ldy);
            assert_status(nnla_dense_forward(nnla_cmat_view(x, batch, in, ldx),
                                             nnla_cmat_view(w, out, in, ldw), with_bias ? b : NULL, a,
                                             nnla_mat_view(y, batch, out, ldy)),
                          NNLA_OK);
            /* each pre-activation is an (in+1)-term sum of terms <= 1: error <= ~(in+1) eps (in+1);
             * every activation here has |f'| <= max(3, 1.13) */
            double tol = 4.0 * (double)(in + 2) * EPS * (double)(in + 1) * 3.0;
            assert_mat_close(nnla_cmat_view(y, batch, out, ldy), nnla_cmat_view(r, batch, out, ldy), 4 * EPS,
                             tol);
            for (size_t i = 0; i < batch; i++) /* padding between out and ldy untouched */
                for (size_t j = out; j < ldy; j++) assert_true(y[i * ldy + j] == -999.0);
            free(x);
            free(w);
            free(b);
            free(y);
            free(r);
        }
    }
    /* every activation went through every path at least once */
    for (size_t ai = 0; ai < sizeof acts / sizeof acts[0]; ai++)
        for (int g = 0; g < 2; g++)
            for (int bias = 0; bias < 2; bias++) {
                if (paths[ai][g][bias] == 0)
                    print_error("%s: no %s %s bias\n", acts[ai], g ? "batch" : "single sample",
                                bias ? "with" : "without");
                assert_true(paths[ai][g][bias] > 0);
            }
    assert_true(padded > 0);
}

/* Batch 1 (the dgemv path) and the same sample inside a batch (dgemm) agree to rounding. */
static void test_batch_one_vs_batch(void **state)
{
    (void)state;
    nnla_test_rng rng = {77};
    enum { IN = 50, OUT = 23, B = 6 };
    double x[B * IN], w[OUT * IN], b[OUT], y1[OUT], yb[B * OUT];
    nnla_test_fill(&rng, x, B * IN, -1, 1);
    nnla_test_fill(&rng, w, OUT * IN, -1, 1);
    nnla_test_fill(&rng, b, OUT, -1, 1);
    nnla_act a = nnla_act_default(NNLA_ACT_TANH);
    assert_status(nnla_dense_forward(nnla_cmat_view(x, B, IN, IN), nnla_cmat_view(w, OUT, IN, IN), b, a,
                                     nnla_mat_view(yb, B, OUT, OUT)),
                  NNLA_OK);
    for (size_t i = 0; i < B; i++) {
        assert_status(nnla_dense_forward(nnla_cmat_view(x + i * IN, 1, IN, IN),
                                         nnla_cmat_view(w, OUT, IN, IN), b, a,
                                         nnla_mat_view(y1, 1, OUT, OUT)),
                      NNLA_OK);
        assert_vec_close(y1, yb + i * OUT, OUT, 0, 8.0 * IN * IN * EPS);
    }
}

/*
 * The paper's layer sigma(W x - b_paper) with the sigmoid of slope beta: the same as this
 * library's dense layer with b = -b_paper. Also the paper's vectorized 0 image (its 9-vector)
 * through all-ones weights: the pre-activation is the sum of its entries, 30.
 */
static void test_paper_threshold(void **state)
{
    (void)state;
    const double W[3][2] = {{0.5, -1.0}, {2.0, 0.25}, {-0.75, 1.5}}, bp[3] = {0.1, -0.4, 2.0};
    const double xs[2] = {1.5, -2.0}, beta = 2.0;
    double b[3], y[3];
    for (int i = 0; i < 3; i++) b[i] = -bp[i];
    nnla_act sig = {NNLA_ACT_SIGMOID, beta};
    assert_status(nnla_dense_forward(nnla_cmat_view(xs, 1, 2, 2), nnla_cmat_view(&W[0][0], 3, 2, 2), b, sig,
                                     nnla_mat_view(y, 1, 3, 3)),
                  NNLA_OK);
    for (int i = 0; i < 3; i++) {
        double z = W[i][0] * xs[0] + W[i][1] * xs[1] - bp[i];
        double want = 1.0 / (1.0 + exp(-beta * z));
        assert_true(fabs(y[i] - want) <= 4 * EPS);
    }
    /* a batch of two samples (dgemm path) gives the same */
    const double x2[4] = {1.5, -2.0, 1.5, -2.0};
    double y2[6];
    assert_status(nnla_dense_forward(nnla_cmat_view(x2, 2, 2, 2), nnla_cmat_view(&W[0][0], 3, 2, 2), b, sig,
                                     nnla_mat_view(y2, 2, 3, 3)),
                  NNLA_OK);
    assert_vec_close(y2, y, 3, 4 * EPS, 0);
    assert_vec_close(y2 + 3, y, 3, 4 * EPS, 0);

    const double zero_img[9] = {1, 3, 4, 1, 0, 5, 3, 7, 6}, ones[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    double pre;
    assert_status(nnla_dense_forward(nnla_cmat_view(zero_img, 1, 9, 9), nnla_cmat_view(ones, 1, 9, 9), NULL,
                                     nnla_act_default(NNLA_ACT_IDENTITY), nnla_mat_view(&pre, 1, 1, 1)),
                  NNLA_OK);
    assert_true(pre == 30.0);
}

/* NaN in x reaches only its own row; the row-wise kinds NaN the whole row. */
static void test_nan_policy(void **state)
{
    (void)state;
    double x[2 * 3] = {1, NAN, 2, 0.5, 0.25, -1}, w[2 * 3] = {1, 0, 0, 0, 0, 1}, y[4];
    assert_status(nnla_dense_forward(nnla_cmat_view(x, 2, 3, 3), nnla_cmat_view(w, 2, 3, 3), NULL,
                                     nnla_act_default(NNLA_ACT_RELU), nnla_mat_view(y, 2, 2, 2)),
                  NNLA_OK);
    /* row 0: w row 0 picks x[0] = 1, but BLAS multiplies 0 * NaN = NaN into the dot product */
    assert_true(isnan(y[0]) && isnan(y[1]));
    assert_true(y[2] == 0.5 && y[3] == 0.0);
}

static void test_bad_input(void **state)
{
    (void)state;
    double x[6] = {1, 2, 3, 4, 5, 6}, w[6] = {1, 0, 1, 0, 1, 0}, b[2] = {0.5, -0.5};
    double y[4], y0[4] = {9, 9, 9, 9}, big[32];
    memcpy(y, y0, sizeof y);
    nnla_cmat X = nnla_cmat_view(x, 2, 3, 3), Wm = nnla_cmat_view(w, 2, 3, 3);
    nnla_mat Y = nnla_mat_view(y, 2, 2, 2);
    nnla_act relu = nnla_act_default(NNLA_ACT_RELU);
    assert_status(nnla_dense_forward(nnla_cmat_view(NULL, 2, 3, 3), Wm, b, relu, Y), NNLA_ENULL);
    assert_status(nnla_dense_forward(X, nnla_cmat_view(NULL, 2, 3, 3), b, relu, Y), NNLA_ENULL);
    assert_status(nnla_dense_forward(X, Wm, b, relu, nnla_mat_view(NULL, 2, 2, 2)), NNLA_ENULL);
    assert_status(nnla_dense_forward(nnla_cmat_view(x, 0, 3, 3), Wm, b, relu, Y), NNLA_EDIM);
    assert_status(nnla_dense_forward(X, nnla_cmat_view(w, 2, 0, 3), b, relu, Y), NNLA_EDIM);
    assert_status(nnla_dense_forward(nnla_cmat_view(x, 2, 3, 2), Wm, b, relu, Y), NNLA_ELD);
    assert_status(nnla_dense_forward(X, Wm, b, relu, nnla_mat_view(y, 2, 2, 1)), NNLA_ELD);
    assert_status(nnla_dense_forward(X, nnla_cmat_view(w, 3, 2, 2), b, relu, Y),
                  NNLA_ESHAPE); /* in mismatch */
    assert_status(nnla_dense_forward(X, Wm, b, relu, nnla_mat_view(y, 1, 2, 2)), NNLA_ESHAPE); /* batch */
    assert_status(nnla_dense_forward(X, Wm, b, relu, nnla_mat_view(y, 2, 1, 2)), NNLA_ESHAPE); /* out */
    assert_status(nnla_dense_forward(X, Wm, b, (nnla_act){(nnla_act_kind)42, 0}, Y), NNLA_EINVAL);
    assert_status(nnla_dense_forward(X, Wm, b, (nnla_act){NNLA_ACT_SOFTPLUS, 0}, Y), NNLA_EINVAL);
    assert_status(nnla_dense_forward(nnla_cmat_view(x, (size_t)1 << 31, 3, 3), Wm, b, relu,
                                     nnla_mat_view(y, (size_t)1 << 31, 2, 2)),
                  NNLA_EOVERFLOW);
    assert_status(nnla_dense_forward(X, Wm, b, relu, nnla_mat_view(y, 2, 2, (size_t)1 << 31)),
                  NNLA_EOVERFLOW);
    assert_memory_equal(y, y0, sizeof y);
    /* y overlapping x, w or b */
    for (int i = 0; i < 32; i++) big[i] = i * 0.125;
    double keep[32];
    memcpy(keep, big, sizeof big);
    assert_status(
        nnla_dense_forward(nnla_cmat_view(big, 2, 3, 3), Wm, b, relu, nnla_mat_view(big + 5, 2, 2, 2)),
        NNLA_EALIAS);
    assert_status(
        nnla_dense_forward(X, nnla_cmat_view(big, 2, 3, 3), b, relu, nnla_mat_view(big + 2, 2, 2, 2)),
        NNLA_EALIAS);
    assert_status(nnla_dense_forward(X, Wm, big + 10, relu, nnla_mat_view(big + 11, 2, 2, 2)), NNLA_EALIAS);
    assert_status(nnla_dense_forward(X, Wm, b, relu, nnla_mat_view(x, 2, 2, 2)), NNLA_EALIAS);
    assert_memory_equal(big, keep, sizeof big);
    /* adjacent, not overlapping: fine */
    assert_status(
        nnla_dense_forward(nnla_cmat_view(big, 2, 3, 3), Wm, NULL, relu, nnla_mat_view(big + 6, 2, 2, 2)),
        NNLA_OK);
    /* a correct call: x W^T = [[4, 2], [10, 5]], + b, relu */
    assert_status(nnla_dense_forward(X, Wm, b, relu, Y), NNLA_OK);
    assert_vec_close(y, ((double[4]){4.5, 1.5, 10.5, 4.5}), 4, 0, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dense_random),    cmocka_unit_test(test_batch_one_vs_batch),
        cmocka_unit_test(test_paper_threshold), cmocka_unit_test(test_nan_policy),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
