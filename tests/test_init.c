/*
 * init: fans, gains and scales in closed form (the formulas of torch.nn.init; tests/init/torch_check.py
 * compares them with PyTorch itself), sample means and variances of every law within 5 standard
 * errors, exact bounds of the uniform laws, orthogonality of the orthogonal initializer within
 * n eps together with the definition it follows (R = Q^T G upper triangular with a positive
 * diagonal, G redrawn here from the same seed), reproducibility, and bad input.
 */
#include "testutil.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define EPS DBL_EPSILON

static double *xmalloc(size_t n)
{
    double *p = malloc((n ? n : 1) * sizeof *p);
    assert_non_null(p);
    return p;
}

/* Two generators in the same state (field by field: the struct has padding). */
static int rng_equal(const nnla_rng *a, const nnla_rng *b)
{
    return memcmp(a->s, b->s, sizeof a->s) == 0 && a->has_spare == b->has_spare &&
           (!a->has_spare || memcmp(&a->spare, &b->spare, sizeof a->spare) == 0);
}

static void test_fans(void **state)
{
    (void)state;
    size_t fi = 0, fo = 0;
    assert_status(nnla_init_fans(2, (const size_t[]){10, 3}, &fi, &fo), NNLA_OK);
    assert_true(fi == 3 && fo == 10);
    assert_status(nnla_init_fans(4, (const size_t[]){16, 8, 3, 5}, &fi, &fo), NNLA_OK);
    assert_true(fi == 8 * 15 && fo == 16 * 15);
    assert_status(nnla_init_fans(3, (const size_t[]){4, 2, 7}, &fi, &fo), NNLA_OK);
    assert_true(fi == 14 && fo == 28);
    assert_status(nnla_init_fans(5, (const size_t[]){2, 3, 1, 1, 4}, &fi, &fo), NNLA_OK);
    assert_true(fi == 12 && fo == 8);
    fi = fo = 99;
    assert_status(nnla_init_fans(1, (const size_t[]){4}, &fi, &fo), NNLA_EDIM);
    assert_status(nnla_init_fans(2, (const size_t[]){4, 0}, &fi, &fo), NNLA_EDIM);
    assert_status(nnla_init_fans(2, NULL, &fi, &fo), NNLA_ENULL);
    assert_status(nnla_init_fans(2, (const size_t[]){4, 3}, NULL, &fo), NNLA_ENULL);
    assert_status(nnla_init_fans(3, (const size_t[]){SIZE_MAX / 2, 3, 1}, &fi, &fo), NNLA_EOVERFLOW);
    assert_true(fi == 99 && fo == 99);
}

static void test_gain(void **state)
{
    (void)state;
    double g = 0;
    assert_status(nnla_init_gain(nnla_act_default(NNLA_ACT_IDENTITY), &g), NNLA_OK);
    assert_true(g == 1.0);
    nnla_act sig = {NNLA_ACT_SIGMOID, 2.0};
    assert_status(nnla_init_gain(sig, &g), NNLA_OK);
    assert_true(g == 1.0);
    assert_status(nnla_init_gain(nnla_act_default(NNLA_ACT_TANH), &g), NNLA_OK);
    assert_true(g == 5.0 / 3.0);
    assert_status(nnla_init_gain(nnla_act_default(NNLA_ACT_RELU), &g), NNLA_OK);
    assert_true(g == sqrt(2.0));
    assert_status(nnla_init_gain(nnla_act_default(NNLA_ACT_LEAKY_RELU), &g), NNLA_OK);
    assert_true(g == sqrt(2.0 / (1.0 + 0.01 * 0.01)));
    nnla_act lr = {NNLA_ACT_LEAKY_RELU, 0.2};
    assert_status(nnla_init_gain(lr, &g), NNLA_OK);
    assert_true(fabs(g - sqrt(2.0 / 1.04)) <= 2 * EPS);
    g = -5;
    const nnla_act_kind none[] = {NNLA_ACT_ELU, NNLA_ACT_GELU, NNLA_ACT_SILU, NNLA_ACT_SOFTPLUS, NNLA_ACT_SOFTMAX,
                                  NNLA_ACT_LOG_SOFTMAX};
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++)
        assert_status(nnla_init_gain(nnla_act_default(none[i]), &g), NNLA_EUNSUPPORTED);
    nnla_act bad = {(nnla_act_kind)99, 0};
    assert_status(nnla_init_gain(bad, &g), NNLA_EINVAL);
    nnla_act badp = {NNLA_ACT_LEAKY_RELU, NAN};
    assert_status(nnla_init_gain(badp, &g), NNLA_EINVAL);
    assert_status(nnla_init_gain(lr, NULL), NNLA_ENULL);
    assert_true(g == -5);
}

/* The scale of every kind on a dense and a conv shape, from the formulas written out here. */
static void test_scale(void **state)
{
    (void)state;
    const size_t dense[2] = {30, 20}, conv[4] = {16, 8, 3, 3};
    struct {
        size_t ndim;
        const size_t *shape;
        double fi, fo;
    } shapes[2] = {{2, dense, 20, 30}, {4, conv, 72, 144}};
    for (int s = 0; s < 2; s++) {
        double fi = shapes[s].fi, fo = shapes[s].fo, g = 1.7, x;
        const size_t *sh = shapes[s].shape;
        size_t nd = shapes[s].ndim;
        struct {
            nnla_init_kind kind;
            nnla_fan_mode mode;
            double want;
        } rows[] = {
            {NNLA_INIT_XAVIER_UNIFORM, NNLA_FAN_IN, g * sqrt(6.0 / (fi + fo))},
            {NNLA_INIT_XAVIER_NORMAL, NNLA_FAN_OUT, g * sqrt(2.0 / (fi + fo))},
            {NNLA_INIT_HE_UNIFORM, NNLA_FAN_IN, g * sqrt(3.0 / fi)},
            {NNLA_INIT_HE_UNIFORM, NNLA_FAN_OUT, g * sqrt(3.0 / fo)},
            {NNLA_INIT_HE_NORMAL, NNLA_FAN_IN, g / sqrt(fi)},
            {NNLA_INIT_HE_NORMAL, NNLA_FAN_OUT, g / sqrt(fo)},
            {NNLA_INIT_LECUN_UNIFORM, NNLA_FAN_OUT, g * sqrt(3.0 / fi)},
            {NNLA_INIT_LECUN_NORMAL, NNLA_FAN_OUT, g / sqrt(fi)},
            {NNLA_INIT_ORTHOGONAL, NNLA_FAN_IN, g},
        };
        for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
            assert_status(nnla_init_scale(rows[i].kind, g, rows[i].mode, nd, sh, &x), NNLA_OK);
            if (!(fabs(x - rows[i].want) <= 2 * EPS * rows[i].want))
                fail_msg("%s mode %d: %.17g, expected %.17g", nnla_init_name(rows[i].kind), rows[i].mode, x,
                         rows[i].want);
        }
    }
    const char *names[NNLA_INIT_KIND_COUNT] = {"xavier_uniform", "xavier_normal", "he_uniform", "he_normal",
                                               "lecun_uniform",  "lecun_normal",  "orthogonal"};
    for (int k = 0; k < NNLA_INIT_KIND_COUNT; k++) assert_string_equal(nnla_init_name((nnla_init_kind)k), names[k]);
    assert_null(nnla_init_name((nnla_init_kind)NNLA_INIT_KIND_COUNT));
    assert_null(nnla_init_name((nnla_init_kind)-1));
}

/* Sample mean and variance of every law on a 300 x 200 weight (60000 draws), within 5 standard
 * errors; the uniform laws also stay inside [-a, a] and come within 0.1% of both ends. */
static void test_laws(void **state)
{
    (void)state;
    const size_t shape[2] = {300, 200};
    size_t n = 60000;
    double *w = xmalloc(n);
    for (int k = 0; k < NNLA_INIT_ORTHOGONAL; k++) {
        nnla_init_kind kind = (nnla_init_kind)k;
        double g = 1.3, scale;
        assert_status(nnla_init_scale(kind, g, NNLA_FAN_IN, 2, shape, &scale), NNLA_OK);
        nnla_rng r;
        nnla_rng_seed(&r, 1000 + (uint64_t)k);
        assert_status(nnla_init_tensor(kind, g, NNLA_FAN_IN, 2, shape, w, &r, NULL, 0), NNLA_OK);
        double mean = 0, var = 0, lo = INFINITY, hi = -INFINITY;
        for (size_t i = 0; i < n; i++) {
            mean += w[i];
            if (w[i] < lo) lo = w[i];
            if (w[i] > hi) hi = w[i];
        }
        mean /= (double)n;
        for (size_t i = 0; i < n; i++) var += (w[i] - mean) * (w[i] - mean);
        var /= (double)(n - 1);
        int uniform = kind == NNLA_INIT_XAVIER_UNIFORM || kind == NNLA_INIT_HE_UNIFORM || kind == NNLA_INIT_LECUN_UNIFORM;
        double v = uniform ? scale * scale / 3.0 : scale * scale;
        /* standard errors: of the mean sqrt(v / n); of the variance sqrt((mu4 - v^2) / n) with
         * mu4 = a^4 / 5 (uniform) or 3 v^2 (normal) */
        double mu4 = uniform ? pow(scale, 4) / 5.0 : 3.0 * v * v;
        double se_mean = sqrt(v / (double)n), se_var = sqrt((mu4 - v * v) / (double)n);
        if (!(fabs(mean) <= 5 * se_mean && fabs(var - v) <= 5 * se_var))
            fail_msg("%s: mean %.4g (se %.3g), variance %.6g vs %.6g (se %.3g)", nnla_init_name(kind), mean, se_mean,
                     var, v, se_var);
        if (uniform) {
            assert_true(lo >= -scale && hi <= scale);
            assert_true(lo <= -0.999 * scale && hi >= 0.999 * scale);
        } else {
            assert_true(hi > 3.5 * scale && lo < -3.5 * scale); /* a normal's tails, not a uniform's */
        }
    }
    free(w);
}

/* ||M M^T - g^2 I||_F (rows) or ||M^T M - g^2 I||_F (cols) of a rows x cols row-major matrix. */
static double orth_defect(const double *m, size_t rows, size_t cols, int by_rows, double g)
{
    size_t d = by_rows ? rows : cols, len = by_rows ? cols : rows;
    double r = 0;
    for (size_t i = 0; i < d; i++)
        for (size_t j = 0; j < d; j++) {
            double x = i == j ? -g * g : 0.0;
            for (size_t p = 0; p < len; p++)
                x += by_rows ? m[i * cols + p] * m[j * cols + p] : m[p * cols + i] * m[p * cols + j];
            r += x * x;
        }
    return sqrt(r);
}

/* Orthogonal: W W^T = g^2 I (rows <= cols) or W^T W = g^2 I (rows >= cols) within n eps, and R =
 * Q^T G is upper triangular with a positive diagonal for the G drawn (here again) from the seed. */
static void test_orthogonal(void **state)
{
    (void)state;
    const size_t shapes[][4] = {{5, 8, 0, 0}, {8, 5, 0, 0}, {6, 6, 0, 0}, {4, 2, 3, 3}, {1, 7, 0, 0}, {7, 1, 0, 0}};
    const size_t ndims[] = {2, 2, 2, 4, 2, 2};
    for (size_t t = 0; t < sizeof ndims / sizeof ndims[0]; t++) {
        size_t nd = ndims[t];
        const size_t *sh = shapes[t];
        size_t rows = sh[0], cols = sh[1] * (nd == 4 ? sh[2] * sh[3] : 1), n = rows * cols;
        double g = 2.0, *w = xmalloc(n), *gm = xmalloc(n);
        size_t bytes;
        assert_status(nnla_init_workspace_size(NNLA_INIT_ORTHOGONAL, nd, sh, &bytes), NNLA_OK);
        unsigned char *wk = malloc(bytes + 3);
        assert_non_null(wk);
        nnla_rng r, r2;
        nnla_rng_seed(&r, 77 + t);
        r2 = r;
        assert_status(nnla_init_tensor(NNLA_INIT_ORTHOGONAL, g, NNLA_FAN_IN, nd, sh, w, &r, wk + 3, bytes), NNLA_OK);
        size_t mx = rows > cols ? rows : cols;
        if (rows <= cols) assert_true(orth_defect(w, rows, cols, 1, g) <= 8 * (double)mx * EPS * g * g);
        if (rows >= cols) assert_true(orth_defect(w, rows, cols, 0, g) <= 8 * (double)mx * EPS * g * g);
        /* the generator advanced by exactly the n normal draws */
        for (size_t i = 0; i < n; i++) gm[i] = nnla_rng_normal(&r2);
        assert_true(rng_equal(&r, &r2));
        /* R = Q^T M, M = G (rows >= cols) or G^T, Q = W / g (or W^T / g): upper triangular, diag > 0 */
        size_t q = rows < cols ? rows : cols, p = mx;
        for (size_t i = 0; i < q; i++)
            for (size_t j = 0; j < q; j++) {
                double x = 0;
                for (size_t k = 0; k < p; k++) {
                    double qki = rows >= cols ? w[k * cols + i] / g : w[i * cols + k] / g;
                    double mkj = rows >= cols ? gm[k * cols + j] : gm[j * cols + k];
                    x += qki * mkj;
                }
                if (i > j) assert_true(fabs(x) <= 1e-12 * (double)p);
                if (i == j) assert_true(x > 0);
            }
        free(wk);
        free(w);
        free(gm);
    }
}

/* Same seed, same weights; a matrix view with ld > cols gets the same values as a contiguous
 * tensor, its padding untouched; the generator advances as if the values had been drawn directly. */
static void test_reproducible(void **state)
{
    (void)state;
    const size_t shape[2] = {7, 9};
    double a[63], b[63], c[7 * 12];
    for (int k = 0; k < NNLA_INIT_KIND_COUNT; k++) {
        nnla_init_kind kind = (nnla_init_kind)k;
        size_t bytes;
        assert_status(nnla_init_workspace_size(kind, 2, shape, &bytes), NNLA_OK);
        if (kind != NNLA_INIT_ORTHOGONAL) assert_true(bytes == 0);
        void *wk = bytes ? malloc(bytes) : NULL;
        nnla_rng r1, r2, r3;
        nnla_rng_seed(&r1, 5);
        nnla_rng_seed(&r2, 5);
        nnla_rng_seed(&r3, 5);
        for (int i = 0; i < 7 * 12; i++) c[i] = -7.0;
        assert_status(nnla_init_tensor(kind, 1.0, NNLA_FAN_OUT, 2, shape, a, &r1, wk, bytes), NNLA_OK);
        assert_status(nnla_init_tensor(kind, 1.0, NNLA_FAN_OUT, 2, shape, b, &r2, wk, bytes), NNLA_OK);
        assert_memory_equal(a, b, sizeof a);
        assert_true(rng_equal(&r1, &r2));
        assert_status(nnla_init_mat(kind, 1.0, NNLA_FAN_OUT, nnla_mat_view(c, 7, 9, 12), &r3, wk, bytes), NNLA_OK);
        for (size_t i = 0; i < 7; i++) {
            assert_memory_equal(c + i * 12, a + i * 9, 9 * sizeof(double));
            for (size_t j = 9; j < 12; j++) assert_true(c[i * 12 + j] == -7.0);
        }
        assert_true(rng_equal(&r1, &r3));
        /* a different seed gives different weights */
        nnla_rng_seed(&r2, 6);
        assert_status(nnla_init_tensor(kind, 1.0, NNLA_FAN_OUT, 2, shape, b, &r2, wk, bytes), NNLA_OK);
        assert_true(memcmp(a, b, sizeof a) != 0);
        free(wk);
    }
    /* the uniform and normal draws are the generator's own fills, in order */
    nnla_rng r, q;
    nnla_rng_seed(&r, 9);
    nnla_rng_seed(&q, 9);
    double scale, want[63];
    assert_status(nnla_init_tensor(NNLA_INIT_HE_NORMAL, 1.0, NNLA_FAN_IN, 2, shape, a, &r, NULL, 0), NNLA_OK);
    assert_status(nnla_init_scale(NNLA_INIT_HE_NORMAL, 1.0, NNLA_FAN_IN, 2, shape, &scale), NNLA_OK);
    assert_status(nnla_rng_fill_normal(&q, 0.0, scale, want, 63), NNLA_OK);
    assert_memory_equal(a, want, sizeof a);
}

static void test_bad_input(void **state)
{
    (void)state;
    const size_t shape[2] = {4, 3};
    double w[12], w0[12];
    for (int i = 0; i < 12; i++) w[i] = w0[i] = 0.5 * i;
    nnla_rng r, r0;
    nnla_rng_seed(&r, 3);
    r0 = r;
    size_t bytes;
    assert_status(nnla_init_workspace_size(NNLA_INIT_ORTHOGONAL, 2, shape, &bytes), NNLA_OK);
    unsigned char *wk = malloc(bytes);
    assert_non_null(wk);
#define INIT_BAD(call, st)                                                                         \
    do {                                                                                           \
        assert_status(call, st);                                                                   \
        assert_memory_equal(w, w0, sizeof w);                                                      \
        assert_true(rng_equal(&r, &r0));                                                           \
    } while (0)
    INIT_BAD(nnla_init_tensor((nnla_init_kind)7, 1, NNLA_FAN_IN, 2, shape, w, &r, NULL, 0), NNLA_EINVAL);
    INIT_BAD(nnla_init_tensor((nnla_init_kind)-1, 1, NNLA_FAN_IN, 2, shape, w, &r, NULL, 0), NNLA_EINVAL);
    INIT_BAD(nnla_init_tensor(NNLA_INIT_HE_NORMAL, 1, (nnla_fan_mode)2, 2, shape, w, &r, NULL, 0), NNLA_EINVAL);
    INIT_BAD(nnla_init_tensor(NNLA_INIT_HE_NORMAL, -1, NNLA_FAN_IN, 2, shape, w, &r, NULL, 0), NNLA_EINVAL);
    INIT_BAD(nnla_init_tensor(NNLA_INIT_HE_NORMAL, NAN, NNLA_FAN_IN, 2, shape, w, &r, NULL, 0), NNLA_EINVAL);
    INIT_BAD(nnla_init_tensor(NNLA_INIT_HE_NORMAL, INFINITY, NNLA_FAN_IN, 2, shape, w, &r, NULL, 0), NNLA_EINVAL);
    INIT_BAD(nnla_init_tensor(NNLA_INIT_XAVIER_UNIFORM, 1e308, NNLA_FAN_IN, 2, shape, w, &r, NULL, 0), NNLA_EINVAL);
    INIT_BAD(nnla_init_tensor(NNLA_INIT_HE_NORMAL, 1, NNLA_FAN_IN, 1, shape, w, &r, NULL, 0), NNLA_EDIM);
    INIT_BAD(nnla_init_tensor(NNLA_INIT_HE_NORMAL, 1, NNLA_FAN_IN, 2, (const size_t[]){4, 0}, w, &r, NULL, 0),
             NNLA_EDIM);
    INIT_BAD(nnla_init_tensor(NNLA_INIT_HE_NORMAL, 1, NNLA_FAN_IN, 2, NULL, w, &r, NULL, 0), NNLA_ENULL);
    INIT_BAD(nnla_init_tensor(NNLA_INIT_HE_NORMAL, 1, NNLA_FAN_IN, 2, shape, NULL, &r, NULL, 0), NNLA_ENULL);
    INIT_BAD(nnla_init_tensor(NNLA_INIT_HE_NORMAL, 1, NNLA_FAN_IN, 2, shape, w, NULL, NULL, 0), NNLA_ENULL);
    INIT_BAD(nnla_init_tensor(NNLA_INIT_ORTHOGONAL, 1, NNLA_FAN_IN, 2, shape, w, &r, NULL, bytes), NNLA_ENULL);
    INIT_BAD(nnla_init_tensor(NNLA_INIT_ORTHOGONAL, 1, NNLA_FAN_IN, 2, shape, w, &r, wk, bytes - 1),
             NNLA_EWORKSPACE);
    INIT_BAD(nnla_init_tensor(NNLA_INIT_ORTHOGONAL, 1, NNLA_FAN_IN, 2, shape, w, &r, w + 2, bytes), NNLA_EALIAS);
    INIT_BAD(nnla_init_tensor(NNLA_INIT_HE_NORMAL, 1, NNLA_FAN_IN, 2, shape, w, (nnla_rng *)(void *)(w + 4), NULL, 0),
             NNLA_EALIAS);
    INIT_BAD(nnla_init_tensor(NNLA_INIT_HE_NORMAL, 1, NNLA_FAN_IN, 3, (const size_t[]){SIZE_MAX / 2, 4, 1}, w, &r,
                              NULL, 0),
             NNLA_EOVERFLOW);
    INIT_BAD(nnla_init_mat(NNLA_INIT_HE_NORMAL, 1, NNLA_FAN_IN, nnla_mat_view(w, 4, 3, 2), &r, NULL, 0), NNLA_ELD);
    INIT_BAD(nnla_init_mat(NNLA_INIT_HE_NORMAL, 1, NNLA_FAN_IN, nnla_mat_view(w, 0, 3, 3), &r, NULL, 0), NNLA_EDIM);
    INIT_BAD(nnla_init_mat(NNLA_INIT_HE_NORMAL, 1, NNLA_FAN_IN, nnla_mat_view(NULL, 4, 3, 3), &r, NULL, 0),
             NNLA_ENULL);
#undef INIT_BAD
    size_t b = 5;
    double s = 5;
    assert_status(nnla_init_workspace_size((nnla_init_kind)9, 2, shape, &b), NNLA_EINVAL);
    assert_status(nnla_init_workspace_size(NNLA_INIT_ORTHOGONAL, 2, shape, NULL), NNLA_ENULL);
    assert_status(nnla_init_workspace_size(NNLA_INIT_ORTHOGONAL, 2, (const size_t[]){100000, 100000}, &b),
                  NNLA_EOVERFLOW);
    assert_status(nnla_init_scale(NNLA_INIT_HE_NORMAL, 1, NNLA_FAN_IN, 2, shape, NULL), NNLA_ENULL);
    assert_status(nnla_init_scale(NNLA_INIT_HE_NORMAL, -2, NNLA_FAN_IN, 2, shape, &s), NNLA_EINVAL);
    assert_true(b == 5 && s == 5);
    free(wk);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fans),         cmocka_unit_test(test_gain),         cmocka_unit_test(test_scale),
        cmocka_unit_test(test_laws),         cmocka_unit_test(test_orthogonal),   cmocka_unit_test(test_reproducible),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
