/*
 * Activations: closed-form values at chosen points, the extremes, softmax rows, derivatives
 * against central finite differences, backward passes against explicit Jacobians, parsing,
 * in-place use and bad input.
 */
#include "testutil.h"

#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EPS DBL_EPSILON

static nnla_act parse_ok(const char *s)
{
    nnla_act a;
    assert_status(nnla_act_parse(s, &a), NNLA_OK);
    return a;
}

static double f1(nnla_act a, double x)
{
    double y = NAN;
    assert_status(nnla_act_forward(a, nnla_cmat_view(&x, 1, 1, 1), nnla_mat_view(&y, 1, 1, 1)), NNLA_OK);
    return y;
}

static double d1(nnla_act a, double x)
{
    double d = NAN;
    assert_status(nnla_act_derivative(a, nnla_cmat_view(&x, 1, 1, 1), nnla_mat_view(&d, 1, 1, 1)), NNLA_OK);
    return d;
}

/*
 * f and f' at 0, +-1e-12, +-1, +-30, +-1000, from the closed forms evaluated with 60-digit
 * arithmetic (mpmath) and rounded to double: sigmoid(z) = 1/(1+e^-z), sigmoid' = s(1-s),
 * tanh' = 1/cosh^2, ELU = alpha(e^x - 1), GELU = x Phi(x), GELU' = Phi + x phi,
 * SiLU = x s(x), SiLU' = s(1 + x(1-s)), softplus = log(1+e^(bx))/b, softplus' = s(bx).
 * Values that underflow (e^-1000, ...) are 0.
 */
struct closed_form {
    const char *act;
    double x, f, df;
};
static const struct closed_form cases[] = {
    {"identity", 0, 0.0, 1.0},
    {"identity", 1e-12, 1e-12, 1.0},
    {"identity", -1e-12, -1e-12, 1.0},
    {"identity", 1, 1.0, 1.0},
    {"identity", -1, -1.0, 1.0},
    {"identity", 30, 30.0, 1.0},
    {"identity", -30, -30.0, 1.0},
    {"identity", 1000, 1000.0, 1.0},
    {"identity", -1000, -1000.0, 1.0},
    {"sigmoid:2", 0, 0.5, 0.5},
    {"sigmoid:2", 1e-12, 0.5000000000005, 0.5},
    {"sigmoid:2", -1e-12, 0.4999999999995, 0.5},
    {"sigmoid:2", 1, 0.8807970779778824, 0.20998717080701304},
    {"sigmoid:2", -1, 0.11920292202211756, 0.20998717080701304},
    {"sigmoid:2", 30, 1.0, 1.751302152539304e-26},
    {"sigmoid:2", -30, 8.75651076269652e-27, 1.751302152539304e-26},
    {"sigmoid:2", 1000, 1.0, 0.0},
    {"sigmoid:2", -1000, 0.0, 0.0},
    {"sigmoid", 0, 0.5, 0.25},
    {"sigmoid", 1e-12, 0.50000000000025, 0.25},
    {"sigmoid", -1e-12, 0.49999999999975, 0.25},
    {"sigmoid", 1, 0.7310585786300049, 0.19661193324148185},
    {"sigmoid", -1, 0.2689414213699951, 0.19661193324148185},
    {"sigmoid", 30, 0.9999999999999064, 9.357622968838423e-14},
    {"sigmoid", -30, 9.357622968839299e-14, 9.357622968838423e-14},
    {"sigmoid", 1000, 1.0, 0.0},
    {"sigmoid", -1000, 0.0, 0.0},
    {"tanh", 0, 0.0, 1.0},
    {"tanh", 1e-12, 1e-12, 1.0},
    {"tanh", -1e-12, -1e-12, 1.0},
    {"tanh", 1, 0.7615941559557649, 0.4199743416140261},
    {"tanh", -1, -0.7615941559557649, 0.4199743416140261},
    {"tanh", 30, 1.0, 3.502604305078608e-26},
    {"tanh", -30, -1.0, 3.502604305078608e-26},
    {"tanh", 1000, 1.0, 0.0},
    {"tanh", -1000, -1.0, 0.0},
    {"relu", 0, 0.0, 0.0},
    {"relu", 1e-12, 1e-12, 1.0},
    {"relu", -1e-12, 0.0, 0.0},
    {"relu", 1, 1.0, 1.0},
    {"relu", -1, 0.0, 0.0},
    {"relu", 30, 30.0, 1.0},
    {"relu", -30, 0.0, 0.0},
    {"relu", 1000, 1000.0, 1.0},
    {"relu", -1000, 0.0, 0.0},
    {"leaky_relu:0.1", 0, 0.0, 0.1},
    {"leaky_relu:0.1", 1e-12, 1e-12, 1.0},
    {"leaky_relu:0.1", -1e-12, -1e-13, 0.1},
    {"leaky_relu:0.1", 1, 1.0, 1.0},
    {"leaky_relu:0.1", -1, -0.1, 0.1},
    {"leaky_relu:0.1", 30, 30.0, 1.0},
    {"leaky_relu:0.1", -30, -3.0, 0.1},
    {"leaky_relu:0.1", 1000, 1000.0, 1.0},
    {"leaky_relu:0.1", -1000, -100.0, 0.1},
    {"elu:0.5", 0, 0.0, 0.5},
    {"elu:0.5", 1e-12, 1e-12, 1.0},
    {"elu:0.5", -1e-12, -4.9999999999975e-13, 0.4999999999995},
    {"elu:0.5", 1, 1.0, 1.0},
    {"elu:0.5", -1, -0.31606027941427883, 0.18393972058572117},
    {"elu:0.5", 30, 30.0, 1.0},
    {"elu:0.5", -30, -0.4999999999999532, 4.6788114844200874e-14},
    {"elu:0.5", 1000, 1000.0, 1.0},
    {"elu:0.5", -1000, -0.5, 0.0},
    {"gelu", 0, 0.0, 0.5},
    {"gelu", 1e-12, 5.000000000003989e-13, 0.5000000000007979},
    {"gelu", -1e-12, -4.99999999999601e-13, 0.49999999999920214},
    {"gelu", 1, 0.8413447460685429, 1.0833154705876864},
    {"gelu", -1, -0.15865525393145705, -0.0833154705876863},
    {"gelu", 30, 30.0, 1.0},
    {"gelu", -30, -1.472014178144456e-196, -4.416031690708495e-195},
    {"gelu", 1000, 1000.0, 1.0},
    {"gelu", -1000, 0.0, 0.0},
    {"silu", 0, 0.0, 0.5},
    {"silu", 1e-12, 5.0000000000025e-13, 0.5000000000005},
    {"silu", -1e-12, -4.9999999999975e-13, 0.4999999999995},
    {"silu", 1, 0.7310585786300049, 0.9276705118714867},
    {"silu", -1, -0.2689414213699951, 0.07232948812851327},
    {"silu", 30, 29.999999999997193, 1.0000000000027136},
    {"silu", -30, -2.8072868906517896e-12, -2.713710660963134e-12},
    {"silu", 1000, 1000.0, 1.0},
    {"silu", -1000, 0.0, 0.0},
    {"softplus", 0, 0.6931471805599453, 0.5},
    {"softplus", 1e-12, 0.6931471805604453, 0.50000000000025},
    {"softplus", -1e-12, 0.6931471805594454, 0.49999999999975},
    {"softplus", 1, 1.3132616875182228, 0.7310585786300049},
    {"softplus", -1, 0.3132616875182228, 0.2689414213699951},
    {"softplus", 30, 30.000000000000092, 0.9999999999999064},
    {"softplus", -30, 9.357622968839737e-14, 9.357622968839299e-14},
    {"softplus", 1000, 1000.0, 1.0},
    {"softplus", -1000, 0.0, 0.0},
    {"softplus:2", 0, 0.34657359027997264, 0.5},
    {"softplus:2", 1e-12, 0.34657359028047263, 0.5000000000005},
    {"softplus:2", -1e-12, 0.34657359027947265, 0.4999999999995},
    {"softplus:2", 1, 1.0634640055214863, 0.8807970779778824},
    {"softplus:2", -1, 0.06346400552148625, 0.11920292202211756},
    {"softplus:2", 30, 30.0, 1.0},
    {"softplus:2", -30, 4.37825538134826e-27, 8.75651076269652e-27},
    {"softplus:2", 1000, 1000.0, 1.0},
    {"softplus:2", -1000, 0.0, 0.0},
};

static void test_closed_form(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct closed_form *c = &cases[i];
        nnla_act a = parse_ok(c->act);
        double f = f1(a, c->x), df = d1(a, c->x);
        /* 16 ulps: each form is a handful of correctly rounded or 1-ulp libm operations */
        if (!(fabs(f - c->f) <= 16 * EPS * fabs(c->f)) || !(fabs(df - c->df) <= 16 * EPS * fabs(c->df)))
            print_error("%s at %g: f %.17g (want %.17g), f' %.17g (want %.17g)\n", c->act, c->x, f, c->f, df,
                        c->df);
        assert_true(fabs(f - c->f) <= 16 * EPS * fabs(c->f));
        assert_true(fabs(df - c->df) <= 16 * EPS * fabs(c->df));
        /* backward with dy = 1 is the derivative; with dy = 3 three times it */
        double x = c->x, y = f, dy = 3.0, dx = NAN;
        assert_status(nnla_act_backward(a, nnla_cmat_view(&x, 1, 1, 1), nnla_cmat_view(&y, 1, 1, 1),
                                        nnla_cmat_view(&dy, 1, 1, 1), nnla_mat_view(&dx, 1, 1, 1)),
                      NNLA_OK);
        assert_true(fabs(dx - 3.0 * c->df) <= 16 * EPS * fabs(3.0 * c->df));
    }
}

/* Every elementwise kind: finite at +-1000 and +-1e300, NaN in gives NaN out, limits at +-Inf. */
static void test_extremes_and_nan(void **state)
{
    (void)state;
    const char *kinds[] = {"identity", "sigmoid", "sigmoid:2", "tanh",     "relu",      "leaky_relu",
                           "elu",      "gelu",    "silu",      "softplus", "softplus:3"};
    const double big[] = {1000, -1000, 1e300, -1e300, 745, -745, 710, -710};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        nnla_act a = parse_ok(kinds[k]);
        for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
            assert_true(isfinite(f1(a, big[i])));
            assert_true(isfinite(d1(a, big[i])));
        }
        assert_true(isnan(f1(a, NAN)));
        assert_true(isnan(d1(a, NAN)));
        assert_false(isnan(d1(a, INFINITY)));
        assert_false(isnan(d1(a, -INFINITY)));
    }
    /* limits at +-Inf */
    assert_true(f1(parse_ok("sigmoid"), INFINITY) == 1.0 && f1(parse_ok("sigmoid"), -INFINITY) == 0.0);
    assert_true(f1(parse_ok("silu"), -INFINITY) == 0.0 && f1(parse_ok("silu"), INFINITY) == INFINITY);
    assert_true(f1(parse_ok("gelu"), -INFINITY) == 0.0 && f1(parse_ok("gelu"), INFINITY) == INFINITY);
    assert_true(f1(parse_ok("softplus"), -INFINITY) == 0.0);
    assert_true(f1(parse_ok("softplus:1e300"), 1e10) == 1e10); /* beta x overflows; the result is x */
    assert_true(f1(parse_ok("softplus:1e300"), -1e10) == 0.0);
    assert_true(d1(parse_ok("gelu"), INFINITY) == 1.0 && d1(parse_ok("gelu"), -INFINITY) == 0.0);
    assert_true(d1(parse_ok("silu"), INFINITY) == 1.0 && d1(parse_ok("silu"), -INFINITY) == 0.0);
    assert_true(f1(parse_ok("tanh"), -INFINITY) == -1.0 && d1(parse_ok("tanh"), INFINITY) == 0.0);
    assert_true(f1(parse_ok("elu"), -INFINITY) == -1.0);
    /* relu'(0) is 0 (PyTorch); leaky_relu'(0) is alpha; the paper's sigmoid slope */
    assert_true(d1(parse_ok("relu"), 0.0) == 0.0 && d1(parse_ok("leaky_relu:0.2"), 0.0) == 0.2);
    assert_true(fabs(f1(parse_ok("sigmoid:0.5"), 2.0) - 0.7310585786300049) <= 2 * EPS);
}

/* Softmax of rows with +-1000 sums to 1 and matches the closed form; NaN poisons its row only. */
static void test_softmax_extremes(void **state)
{
    (void)state;
    enum { R = 5, C = 4 };
    const double x[R][C] = {
        {1000, 999, -1000, 0},    {-1000, -1000, -1000, -1000},
        {1000, 1000, 1000, 1000}, {-1000, -999, -1000, -1000},
        {NAN, 1, 2, 3},
    };
    double y[R][C], l[R][C];
    nnla_cmat X = nnla_cmat_view(&x[0][0], R, C, C);
    assert_status(nnla_act_forward(nnla_act_default(NNLA_ACT_SOFTMAX), X, nnla_mat_view(&y[0][0], R, C, C)),
                  NNLA_OK);
    assert_status(
        nnla_act_forward(nnla_act_default(NNLA_ACT_LOG_SOFTMAX), X, nnla_mat_view(&l[0][0], R, C, C)),
        NNLA_OK);
    for (int i = 0; i < R - 1; i++) {
        double s = 0;
        for (int j = 0; j < C; j++) {
            assert_true(isfinite(y[i][j]) && isfinite(l[i][j]));
            s += y[i][j];
        }
        assert_true(fabs(s - 1.0) <= 4 * EPS);
    }
    /* row 0: [1/(1+e^-1), e^-1/(1+e^-1), 0, 0]; log: [-log(1+e^-1), -1 - log(1+e^-1), ...] */
    const double p = 0.7310585786300049, q = 0.2689414213699951, lp = -0.31326168751822286;
    assert_true(fabs(y[0][0] - p) <= 4 * EPS && fabs(y[0][1] - q) <= 4 * EPS);
    assert_true(y[0][2] == 0.0 && y[0][3] == 0.0);
    assert_true(fabs(l[0][0] - lp) <= 4 * EPS && fabs(l[0][1] - (lp - 1.0)) <= 4 * EPS);
    assert_true(fabs(l[0][2] - (-2000.0 + lp)) <= 4 * EPS * 2000 &&
                fabs(l[0][3] - (-1000.0 + lp)) <= 4 * EPS * 1000);
    for (int j = 0; j < C; j++) {
        assert_true(y[1][j] == 0.25 && y[2][j] == 0.25);
        assert_true(fabs(l[1][j] - -1.3862943611198906) <= 2 * EPS &&
                    fabs(l[2][j] - -1.3862943611198906) <= 2 * EPS);
        assert_true(isnan(y[4][j]) && isnan(l[4][j]));
    }
    assert_true(fabs(y[3][1] - 1.0 / (1.0 + 3.0 / exp(1.0))) <= 4 * EPS);
}

/* Reference softmax / log-softmax of one row in long double. */
static void ref_softmax(const double *x, size_t n, double *y, int log_form)
{
    long double m = -INFINITY, s = 0;
    for (size_t j = 0; j < n; j++)
        if (x[j] > m) m = x[j];
    for (size_t j = 0; j < n; j++) s += expl((long double)x[j] - m);
    for (size_t j = 0; j < n; j++)
        y[j] =
            log_form ? (double)((long double)x[j] - m - logl(s)) : (double)(expl((long double)x[j] - m) / s);
}

static void test_softmax_random(void **state)
{
    (void)state;
    nnla_test_rng rng = {11};
    for (int trial = 0; trial < 200; trial++) {
        size_t r = nnla_test_int(&rng, 1, 6), c = nnla_test_int(&rng, 1, 40),
               ld = c + nnla_test_int(&rng, 0, 3);
        double scale = trial % 4 == 0 ? 500.0 : 5.0;
        double *x = malloc(r * ld * sizeof *x), *y = malloc(r * ld * sizeof *y), *e = malloc(c * sizeof *e);
        nnla_test_fill(&rng, x, r * ld, -scale, scale);
        for (int lf = 0; lf < 2; lf++) {
            nnla_act a = nnla_act_default(lf ? NNLA_ACT_LOG_SOFTMAX : NNLA_ACT_SOFTMAX);
            for (size_t i = 0; i < r * ld; i++) y[i] = -7.0;
            assert_status(nnla_act_forward(a, nnla_cmat_view(x, r, c, ld), nnla_mat_view(y, r, c, ld)),
                          NNLA_OK);
            for (size_t i = 0; i < r; i++) {
                ref_softmax(x + i * ld, c, e, lf);
                /* exp(x - m) has relative condition |x - m| <= 2 scale: softmax relative 4 eps (n + 2 scale);
                 * log-softmax absolute in units of its magnitude */
                if (lf)
                    assert_vec_close(y + i * ld, e, c, 8 * EPS, 8 * (double)c * EPS * (1 + 2 * scale));
                else
                    assert_vec_close(y + i * ld, e, c, 4 * EPS * ((double)c + 2 * scale), 1e-300);
                for (size_t j = c; j < ld; j++) assert_true(y[i * ld + j] == -7.0); /* padding untouched */
            }
        }
        free(x);
        free(y);
        free(e);
    }
}

/* Central differences: (f(x+h) - f(x-h)) / 2h, error ~ h^2 f'''/6 + eps |f| / h. */
static void test_derivative_fd(void **state)
{
    (void)state;
    const char *kinds[] = {"identity", "sigmoid", "sigmoid:2.5", "tanh", "relu",     "leaky_relu:0.3",
                           "elu",      "elu:0.4", "gelu",        "silu", "softplus", "softplus:0.7"};
    nnla_test_rng rng = {5};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        nnla_act a = parse_ok(kinds[k]);
        for (int t = 0; t < 300; t++) {
            double x = nnla_test_uniform(&rng, -8, 8);
            if (fabs(x) < 1e-3) continue; /* the kinks of relu, leaky relu and elu are at 0 */
            double h = 1e-5 * (1 + fabs(x));
            double fd = (f1(a, x + h) - f1(a, x - h)) / (2 * h);
            double d = d1(a, x);
            if (!(fabs(fd - d) <= 1e-8 * (1 + fabs(d))))
                print_error("%s at %.17g: f' %.17g, finite difference %.17g\n", kinds[k], x, d, fd);
            assert_true(fabs(fd - d) <= 1e-8 * (1 + fabs(d)));
        }
    }
}

/*
 * Backward against J^T dy, with the Jacobian J[i][j] = d f(x)_i / d x_j built column by column
 * from central differences of the forward pass: softmax, log-softmax and two elementwise kinds.
 */
static void test_backward_jacobian(void **state)
{
    (void)state;
    nnla_test_rng rng = {99};
    const nnla_act_kind kinds[] = {NNLA_ACT_SOFTMAX, NNLA_ACT_LOG_SOFTMAX, NNLA_ACT_TANH, NNLA_ACT_GELU};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        nnla_act a = nnla_act_default(kinds[k]);
        for (int trial = 0; trial < 20; trial++) {
            size_t rows = nnla_test_int(&rng, 1, 3), n = nnla_test_int(&rng, 1, 9), ld = n + trial % 3;
            size_t sz = rows * ld;
            double *x = calloc(sz, sizeof *x), *y = calloc(sz, sizeof *y), *dy = calloc(sz, sizeof *dy);
            double *dx = calloc(sz, sizeof *dx), *ref = calloc(sz, sizeof *ref);
            double *xp = calloc(n, sizeof *xp), *fp = calloc(n, sizeof *fp), *fm = calloc(n, sizeof *fm);
            nnla_test_fill(&rng, x, sz, -3, 3);
            nnla_test_fill(&rng, dy, sz, -1, 1);
            nnla_cmat X = nnla_cmat_view(x, rows, n, ld);
            assert_status(nnla_act_forward(a, X, nnla_mat_view(y, rows, n, ld)), NNLA_OK);
            const double h = 1e-6;
            for (size_t r = 0; r < rows; r++) {
                for (size_t j = 0; j < n; j++) {
                    memcpy(xp, x + r * ld, n * sizeof *xp);
                    xp[j] += h;
                    assert_status(
                        nnla_act_forward(a, nnla_cmat_view(xp, 1, n, n), nnla_mat_view(fp, 1, n, n)),
                        NNLA_OK);
                    xp[j] -= 2 * h;
                    assert_status(
                        nnla_act_forward(a, nnla_cmat_view(xp, 1, n, n), nnla_mat_view(fm, 1, n, n)),
                        NNLA_OK);
                    double s = 0; /* (J^T dy)_j = sum_i J[i][j] dy_i */
                    for (size_t i = 0; i < n; i++) s += (fp[i] - fm[i]) / (2 * h) * dy[r * ld + i];
                    ref[r * ld + j] = s;
                }
            }
            assert_status(nnla_act_backward(a, X, nnla_cmat_view(y, rows, n, ld),
                                            nnla_cmat_view(dy, rows, n, ld), nnla_mat_view(dx, rows, n, ld)),
                          NNLA_OK);
            assert_mat_close(nnla_cmat_view(dx, rows, n, ld), nnla_cmat_view(ref, rows, n, ld), 1e-7, 1e-8);
            /* in place: dx = dy */
            assert_status(nnla_act_backward(a, X, nnla_cmat_view(y, rows, n, ld),
                                            nnla_cmat_view(dy, rows, n, ld), nnla_mat_view(dy, rows, n, ld)),
                          NNLA_OK);
            for (size_t r = 0; r < rows; r++) assert_memory_equal(dy + r * ld, dx + r * ld, n * sizeof *dx);
            free(x);
            free(y);
            free(dy);
            free(dx);
            free(ref);
            free(xp);
            free(fp);
            free(fm);
        }
    }
}

/* In place equals out of place, bit for bit; strided views leave their padding alone. */
/*
 * The identity copies through libnnla's copy helper, which picks memcpy or a loop by size
 * (2 KiB) and by where the destination lies relative to the source modulo 4096 (1-127 bytes
 * past: the loop). Every branch must copy exactly, and touch nothing outside the block.
 */
static void test_identity_copy_placements(void **state)
{
    (void)state;
    const size_t span = 3 * 4096; /* doubles */
    double *buf = malloc(span * sizeof *buf);
    assert_non_null(buf);
    nnla_test_rng rng = {11};
    static const size_t sizes[] = {1, 255, 256, 257, 1000};
    static const size_t gaps[] = {0, 1, 2, 3, 15, 16, 17, 64, 256}; /* doubles: dst - src = 8 gap B mod 4096 */
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
        for (size_t gi = 0; gi < sizeof gaps / sizeof gaps[0]; gi++) {
            size_t n = sizes[si];
            double *src = buf, *dst = buf + 1536 + gaps[gi]; /* 1536 doubles = 3 x 4096 bytes */
            nnla_test_fill(&rng, src, n, -1, 1);
            for (size_t i = 1024; i < span; i++) buf[i] = -7.0;
            assert_status(nnla_act_forward(nnla_act_default(NNLA_ACT_IDENTITY), nnla_cmat_view(src, 1, n, n),
                                           nnla_mat_view(dst, 1, n, n)),
                          NNLA_OK);
            assert_memory_equal(dst, src, n * sizeof *dst);
            assert_true(dst[-1] == -7.0);
            assert_true(dst[n] == -7.0);
        }
    free(buf);
}

static void test_in_place(void **state)
{
    (void)state;
    nnla_test_rng rng = {3};
    for (int k = 0; k < NNLA_ACT_KIND_COUNT; k++) {
        nnla_act a = nnla_act_default((nnla_act_kind)k);
        size_t r = 7, c = 13, ld = 16;
        double x[7 * 16], y[7 * 16], z[7 * 16], d[7 * 16], e[7 * 16];
        nnla_test_fill(&rng, x, r * ld, -40, 40);
        for (size_t i = 0; i < r * ld; i++) y[i] = d[i] = 12345.0;
        memcpy(z, x, sizeof z);
        assert_status(nnla_act_forward(a, nnla_cmat_view(x, r, c, ld), nnla_mat_view(y, r, c, ld)), NNLA_OK);
        assert_status(nnla_act_forward(a, nnla_cmat_view(z, r, c, ld), nnla_mat_view(z, r, c, ld)), NNLA_OK);
        for (size_t i = 0; i < r; i++) {
            assert_memory_equal(y + i * ld, z + i * ld, c * sizeof *y);
            assert_memory_equal(z + i * ld + c, x + i * ld + c, (ld - c) * sizeof *z);
            for (size_t j = c; j < ld; j++) assert_true(y[i * ld + j] == 12345.0);
        }
        if (nnla_act_is_rowwise(a.kind)) continue;
        memcpy(e, x, sizeof e);
        assert_status(nnla_act_derivative(a, nnla_cmat_view(x, r, c, ld), nnla_mat_view(d, r, c, ld)),
                      NNLA_OK);
        assert_status(nnla_act_derivative(a, nnla_cmat_view(e, r, c, ld), nnla_mat_view(e, r, c, ld)),
                      NNLA_OK);
        for (size_t i = 0; i < r; i++) assert_memory_equal(d + i * ld, e + i * ld, c * sizeof *d);
        /* a contiguous view (one pass) gives the same values as the strided one */
        double xc[7 * 13], yc[7 * 13];
        for (size_t i = 0; i < r; i++) memcpy(xc + i * c, x + i * ld, c * sizeof *xc);
        assert_status(nnla_act_forward(a, nnla_cmat_view(xc, r, c, c), nnla_mat_view(yc, r, c, c)), NNLA_OK);
        for (size_t i = 0; i < r; i++) assert_memory_equal(yc + i * c, y + i * ld, c * sizeof *yc);
    }
}

/* nnla_act_info_get agrees with parse, check and default for every kind, and names its rule. */
static void test_info(void **state)
{
    (void)state;
    for (int k = 0; k < NNLA_ACT_KIND_COUNT; k++) {
        nnla_act_info info;
        assert_status(nnla_act_info_get((nnla_act_kind)k, &info), NNLA_OK);
        assert_string_equal(info.name, nnla_act_name((nnla_act_kind)k));
        assert_true(info.param_default == nnla_act_default((nnla_act_kind)k).param);
        assert_int_equal(info.rowwise, nnla_act_is_rowwise((nnla_act_kind)k));
        char text[64];
        snprintf(text, sizeof text, "%s:1", info.name);
        nnla_act a;
        /* a parameter is accepted exactly by the kinds with a rule, and named by them */
        assert_status(nnla_act_parse(text, &a), info.rule == NNLA_ACT_PARAM_NONE ? NNLA_EINVAL : NNLA_OK);
        assert_int_equal(info.param_name[0] != '\0', info.rule != NNLA_ACT_PARAM_NONE);
        /* the rule decides the boundary values */
        nnla_act z = {(nnla_act_kind)k, 0.0}, m = {(nnla_act_kind)k, -1.0};
        if (info.rule == NNLA_ACT_PARAM_POSITIVE) {
            assert_status(nnla_act_check(z), NNLA_EINVAL);
            assert_status(nnla_act_check(m), NNLA_EINVAL);
        } else if (info.rule == NNLA_ACT_PARAM_NONNEG) {
            assert_status(nnla_act_check(z), NNLA_OK);
            assert_status(nnla_act_check(m), NNLA_EINVAL);
        } else {
            assert_status(nnla_act_check(m), NNLA_OK); /* FINITE, or NONE (parameter ignored) */
        }
    }
    assert_string_equal(nnla_act_name(NNLA_ACT_SIGMOID), "sigmoid");
    nnla_act_info info, before;
    memset(&info, 0x5a, sizeof info);
    before = info;
    assert_status(nnla_act_info_get((nnla_act_kind)NNLA_ACT_KIND_COUNT, &info), NNLA_EINVAL);
    assert_status(nnla_act_info_get((nnla_act_kind)-1, &info), NNLA_EINVAL);
    assert_bytes_equal(&info, &before, sizeof info);
    assert_status(nnla_act_info_get(NNLA_ACT_RELU, NULL), NNLA_ENULL);
}

/* Softmax over the channels of each pixel against a plain loop; elementwise kinds equal the matrix
 * form; the backward pass against central differences of the forward. */
static void test_nchw(void **state)
{
    (void)state;
    nnla_test_rng rng = {21};
    const size_t shapes[][3] = {{2, 3, 7}, {1, 5, 300}, {3, 1, 4}, {2, 4, 1}, {1, 2, 513}};
    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
        size_t nb = shapes[t][0], c = shapes[t][1], p = shapes[t][2], n = nb * c * p;
        double *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y), *r = malloc(n * sizeof *r);
        double *dy = malloc(n * sizeof *dy), *dx = malloc(n * sizeof *dx), *z = malloc(n * sizeof *z);
        assert_non_null(x);
        assert_non_null(z);
        nnla_test_fill(&rng, x, n, -5, 5);
        nnla_test_fill(&rng, dy, n, -1, 1);
        x[0] = 900.0; /* a large entry: the per-pixel maximum is subtracted */
        for (int k = 0; k < NNLA_ACT_KIND_COUNT; k++) {
            nnla_act a = nnla_act_default((nnla_act_kind)k);
            assert_status(nnla_act_forward_nchw(a, nb, c, p, x, y), NNLA_OK);
            if (nnla_act_is_rowwise(a.kind)) {
                for (size_t b = 0; b < nb; b++)
                    for (size_t i = 0; i < p; i++) {
                        const double *v = x + b * c * p + i;
                        double m = -INFINITY, s = 0;
                        for (size_t j = 0; j < c; j++) m = v[j * p] > m ? v[j * p] : m;
                        for (size_t j = 0; j < c; j++) s += exp(v[j * p] - m);
                        for (size_t j = 0; j < c; j++)
                            r[b * c * p + j * p + i] =
                                a.kind == NNLA_ACT_SOFTMAX ? exp(v[j * p] - m) / s : (v[j * p] - m) - log(s);
                    }
                assert_vec_close(y, r, n, 8 * c * EPS, 8 * c * EPS);
            } else {
                assert_status(nnla_act_forward(a, nnla_cmat_view(x, 1, n, n), nnla_mat_view(r, 1, n, n)),
                              NNLA_OK);
                assert_memory_equal(y, r, n * sizeof *y);
            }
            /* in place gives the same bits */
            memcpy(z, x, n * sizeof *z);
            assert_status(nnla_act_forward_nchw(a, nb, c, p, z, z), NNLA_OK);
            assert_memory_equal(z, y, n * sizeof *z);
            /* backward: <dy, f(x + h e)> - <dy, f(x - h e)> over 2h, for a few coordinates */
            assert_status(nnla_act_backward_nchw(a, nb, c, p, x, y, dy, dx), NNLA_OK);
            for (int trial = 0; trial < 6; trial++) {
                size_t i = (size_t)nnla_test_int(&rng, 1, n - 1);
                const double h = 1e-6;
                double xi = x[i], fp = 0, fm = 0;
                x[i] = xi + h;
                nnla_act_forward_nchw(a, nb, c, p, x, z);
                for (size_t j = 0; j < n; j++) fp += dy[j] * z[j];
                x[i] = xi - h;
                nnla_act_forward_nchw(a, nb, c, p, x, z);
                for (size_t j = 0; j < n; j++) fm += dy[j] * z[j];
                x[i] = xi;
                double fd = (fp - fm) / (2 * h);
                if (a.kind == NNLA_ACT_RELU || a.kind == NNLA_ACT_LEAKY_RELU) {
                    if (fabs(xi) < 2 * h) continue; /* the kink */
                }
                assert_true(fabs(fd - dx[i]) <= 1e-6 * (1 + fabs(fd)));
            }
        }
        free(x), free(y), free(r), free(dy), free(dx), free(z);
    }
    /* bad input: statuses, output untouched */
    double x[12] = {0}, y[12], y0[12];
    for (int i = 0; i < 12; i++) y[i] = y0[i] = i;
    nnla_act sm = nnla_act_default(NNLA_ACT_SOFTMAX);
    assert_status(nnla_act_forward_nchw(sm, 0, 3, 4, x, y), NNLA_EDIM);
    assert_status(nnla_act_forward_nchw(sm, 1, 0, 4, x, y), NNLA_EDIM);
    assert_status(nnla_act_forward_nchw(sm, 1, 3, 0, x, y), NNLA_EDIM);
    assert_status(nnla_act_forward_nchw(sm, 1, 3, 4, NULL, y), NNLA_ENULL);
    assert_status(nnla_act_forward_nchw(sm, SIZE_MAX, 3, 4, x, y), NNLA_EOVERFLOW);
    assert_status(nnla_act_forward_nchw((nnla_act){(nnla_act_kind)99, 0}, 1, 3, 4, x, y), NNLA_EINVAL);
    assert_status(nnla_act_forward_nchw(sm, 1, 3, 3, y + 1, y), NNLA_EALIAS);
    assert_status(nnla_act_backward_nchw(sm, 1, 3, 3, x, x, x, NULL), NNLA_ENULL);
    assert_status(nnla_act_backward_nchw(sm, 1, 3, 3, x, y + 2, x, y), NNLA_EALIAS);
    assert_bytes_equal(y, y0, sizeof y);
}

static void test_parse_and_names(void **state)
{
    (void)state;
    for (int k = 0; k < NNLA_ACT_KIND_COUNT; k++) {
        const char *name = nnla_act_name((nnla_act_kind)k);
        assert_non_null(name);
        nnla_act a = parse_ok(name), want = nnla_act_default((nnla_act_kind)k);
        assert_int_equal(a.kind, k);
        assert_true(a.param == want.param);
        assert_int_equal(nnla_act_is_rowwise((nnla_act_kind)k),
                         k == NNLA_ACT_SOFTMAX || k == NNLA_ACT_LOG_SOFTMAX);
        assert_status(nnla_act_check(a), NNLA_OK);
    }
    assert_null(nnla_act_name((nnla_act_kind)NNLA_ACT_KIND_COUNT));
    assert_null(nnla_act_name((nnla_act_kind)-1));
    assert_int_equal(nnla_act_default((nnla_act_kind)99).kind, NNLA_ACT_IDENTITY);
    assert_true(nnla_act_default(NNLA_ACT_SIGMOID).param == 1.0 &&
                nnla_act_default(NNLA_ACT_LEAKY_RELU).param == 0.01);
    assert_true(nnla_act_default(NNLA_ACT_ELU).param == 1.0 &&
                nnla_act_default(NNLA_ACT_SOFTPLUS).param == 1.0);

    const struct {
        const char *s;
        nnla_act_kind kind;
        double param;
    } good[] = {
        {"sigmoid:2", NNLA_ACT_SIGMOID, 2.0},
        {"sigmoid:0.5", NNLA_ACT_SIGMOID, 0.5},
        {"leaky_relu:0.1", NNLA_ACT_LEAKY_RELU, 0.1},
        {"leaky_relu:-0.25", NNLA_ACT_LEAKY_RELU, -0.25},
        {"leaky_relu:0", NNLA_ACT_LEAKY_RELU, 0.0},
        {"elu:0", NNLA_ACT_ELU, 0.0},
        {"elu:1e-1", NNLA_ACT_ELU, 0.1},
        {"elu:+2.5E+1", NNLA_ACT_ELU, 25.0},
        {"softplus:.5", NNLA_ACT_SOFTPLUS, 0.5},
        {"softplus:3.", NNLA_ACT_SOFTPLUS, 3.0},
        {"sigmoid:1e-300", NNLA_ACT_SIGMOID, 1e-300},
        {"sigmoid:123456.789e-3", NNLA_ACT_SIGMOID, 123.456789},
        {"sigmoid:0.1", NNLA_ACT_SIGMOID, 0.1},
        {"sigmoid:1.7976931348623157e308", NNLA_ACT_SIGMOID, 1.7976931348623157e308},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        nnla_act a = parse_ok(good[i].s);
        assert_int_equal(a.kind, good[i].kind);
        if (a.param != good[i].param) print_error("%s: %.17g\n", good[i].s, a.param);
        assert_true(a.param == good[i].param); /* correctly rounded, like the compiler's literal */
    }

    const char *bad[] = {
        "",
        "relu:",
        "relu:1",
        "tanh:0",
        "softmax:1",
        "identity:1",
        "sigmoid:0",
        "sigmoid:-1",
        "softplus:0",
        "softplus:-2",
        "elu:-1",
        "sigmoid:nan",
        "sigmoid:inf",
        "sigmoid:1e999",
        "sigmoid: 1",
        "sigmoid:1 ",
        " relu",
        "relu ",
        "sigmoid:0x10",
        "Sigmoid",
        "RELU",
        "sigmoid:1:2",
        "sigmoid:1e",
        "sigmoid:e5",
        "sigmoid:+",
        "sigmoid:-",
        "sigmoid:.",
        "sigmoid:1,5",
        "sigmoid:1..2",
        "sigmoid:1e+",
        "leaky",
        "leaky_relu_",
        "log_softmax:",
        ":",
        "sigmoid:\t2",
        "sigmoid:00000000000000000000000000000000000000000000000000000000000000000001",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        nnla_act a = {NNLA_ACT_TANH, 42.0}, keep = a;
        nnla_status st = nnla_act_parse(bad[i], &a);
        if (st != NNLA_EINVAL) print_error("'%s' was accepted\n", bad[i]);
        assert_status(st, NNLA_EINVAL);
        assert_true(a.kind == keep.kind && a.param == keep.param); /* untouched */
    }
    /* mantissas of up to 62 digits; the exponent saturates far outside the range */
    nnla_act a;
    char longtext[96] = "sigmoid:1";
    for (int i = 0; i < 61; i++) strcat(longtext, "0");
    a = parse_ok(longtext);
    assert_true(a.param == 1e61);
    strcat(longtext, "0");
    assert_status(nnla_act_parse(longtext, &a), NNLA_EINVAL);
    a = parse_ok("leaky_relu:0.5e-99999999999999999999999999");
    assert_true(a.param == 0.0);
    assert_status(nnla_act_parse("sigmoid:0.5e+99999999999999999999999999", &a), NNLA_EINVAL);
    a = parse_ok("leaky_relu:-0.000000000000000000000000000000000000000000000000000000000012e+58");
    assert_true(a.param == -0.12);
    assert_status(nnla_act_parse(NULL, &a), NNLA_ENULL);
    assert_status(nnla_act_parse("relu", NULL), NNLA_ENULL);

    /* checks */
    assert_status(nnla_act_check((nnla_act){NNLA_ACT_SIGMOID, 0.0}), NNLA_EINVAL);
    assert_status(nnla_act_check((nnla_act){NNLA_ACT_SOFTPLUS, -1.0}), NNLA_EINVAL);
    assert_status(nnla_act_check((nnla_act){NNLA_ACT_ELU, -0.5}), NNLA_EINVAL);
    assert_status(nnla_act_check((nnla_act){NNLA_ACT_LEAKY_RELU, NAN}), NNLA_EINVAL);
    assert_status(nnla_act_check((nnla_act){NNLA_ACT_SIGMOID, INFINITY}), NNLA_EINVAL);
    assert_status(nnla_act_check((nnla_act){(nnla_act_kind)NNLA_ACT_KIND_COUNT, 0.0}), NNLA_EINVAL);
    assert_status(nnla_act_check((nnla_act){(nnla_act_kind)-3, 0.0}), NNLA_EINVAL);
    assert_status(nnla_act_check((nnla_act){NNLA_ACT_RELU, NAN}), NNLA_OK); /* ignored parameter */
    assert_status(nnla_act_check((nnla_act){NNLA_ACT_LEAKY_RELU, -3.0}), NNLA_OK);
}

/* Parsing does not depend on the locale's decimal point (checked when such a locale exists). */
static void test_parse_locale(void **state)
{
    (void)state;
    const char *locs[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8"};
    for (size_t i = 0; i < sizeof locs / sizeof locs[0]; i++) {
        if (setlocale(LC_NUMERIC, locs[i]) == NULL) continue;
        nnla_act a = parse_ok("sigmoid:2.5");
        assert_true(a.param == 2.5);
        assert_status(nnla_act_parse("sigmoid:2,5", &a), NNLA_EINVAL);
        setlocale(LC_NUMERIC, "C");
        return;
    }
    skip();
}

static void test_bad_input(void **state)
{
    (void)state;
    double x[12], y[12], y0[12], dy[12];
    for (int i = 0; i < 12; i++) {
        x[i] = i - 5.5;
        y0[i] = y[i] = 77.0 + i;
        dy[i] = 1.0;
    }
    nnla_act relu = nnla_act_default(NNLA_ACT_RELU), sm = nnla_act_default(NNLA_ACT_SOFTMAX);
    nnla_cmat X = nnla_cmat_view(x, 3, 4, 4), DY = nnla_cmat_view(dy, 3, 4, 4);
    nnla_mat Y = nnla_mat_view(y, 3, 4, 4);
    assert_status(nnla_act_forward(relu, nnla_cmat_view(NULL, 3, 4, 4), Y), NNLA_ENULL);
    assert_status(nnla_act_forward(relu, X, nnla_mat_view(NULL, 3, 4, 4)), NNLA_ENULL);
    assert_status(nnla_act_forward(relu, nnla_cmat_view(x, 0, 4, 4), Y), NNLA_EDIM);
    assert_status(nnla_act_forward(relu, X, nnla_mat_view(y, 3, 4, 3)), NNLA_ELD);
    assert_status(nnla_act_forward(relu, X, nnla_mat_view(y, 2, 4, 4)), NNLA_ESHAPE);
    assert_status(nnla_act_forward(relu, X, nnla_mat_view(y, 3, 3, 4)), NNLA_ESHAPE);
    assert_status(nnla_act_forward((nnla_act){(nnla_act_kind)77, 0}, X, Y), NNLA_EINVAL);
    assert_status(nnla_act_forward((nnla_act){NNLA_ACT_SIGMOID, -1}, X, Y), NNLA_EINVAL);
    assert_status(nnla_act_derivative(sm, X, Y), NNLA_EUNSUPPORTED);
    assert_status(nnla_act_derivative(nnla_act_default(NNLA_ACT_LOG_SOFTMAX), X, Y), NNLA_EUNSUPPORTED);
    assert_status(nnla_act_derivative(relu, X, nnla_mat_view(y, 4, 3, 3)), NNLA_ESHAPE);
    assert_status(nnla_act_backward(relu, X, nnla_cmat_of(Y), DY, nnla_mat_view(y, 3, 4, 3)), NNLA_ELD);
    assert_status(nnla_act_backward(relu, X, nnla_cmat_view(y, 3, 3, 4), DY, Y), NNLA_ESHAPE);
    assert_status(nnla_act_backward(relu, X, nnla_cmat_of(Y), nnla_cmat_view(NULL, 3, 4, 4), Y), NNLA_ENULL);
    assert_status(nnla_act_backward((nnla_act){NNLA_ACT_ELU, NAN}, X, nnla_cmat_of(Y), DY, Y), NNLA_EINVAL);
    assert_memory_equal(y, y0, sizeof y);
    /* partial overlaps are refused; exact in place is fine */
    double buf[20];
    for (int i = 0; i < 20; i++) buf[i] = i;
    double keep[20];
    memcpy(keep, buf, sizeof buf);
    assert_status(nnla_act_forward(relu, nnla_cmat_view(buf, 3, 4, 4), nnla_mat_view(buf + 1, 3, 4, 4)),
                  NNLA_EALIAS);
    assert_status(nnla_act_forward(relu, nnla_cmat_view(buf, 3, 4, 4), nnla_mat_view(buf, 3, 4, 5)),
                  NNLA_EALIAS);
    assert_status(nnla_act_derivative(relu, nnla_cmat_view(buf, 3, 4, 4), nnla_mat_view(buf + 4, 3, 4, 4)),
                  NNLA_EALIAS);
    assert_status(nnla_act_backward(sm, nnla_cmat_view(buf, 2, 4, 4), nnla_cmat_view(buf + 8, 2, 4, 4),
                                    nnla_cmat_view(buf + 8, 2, 4, 4), nnla_mat_view(buf + 4, 2, 4, 4)),
                  NNLA_EALIAS);
    assert_memory_equal(buf, keep, sizeof buf);
    assert_status(nnla_act_forward(relu, nnla_cmat_view(buf, 3, 4, 4), nnla_mat_view(buf, 3, 4, 4)), NNLA_OK);
}

/* ------------------------------------------------------------------ threads */

static double double_of(uint64_t u)
{
    double v;
    memcpy(&v, &u, sizeof v);
    return v;
}

/* Values that meet the selects' edges: signed zeros, NaNs of both signs and several payloads,
 * infinities, the smallest subnormals and plain values. */
static double edge_value(nnla_test_rng *rng, int k)
{
    static const uint64_t nans[3] = {UINT64_C(0x7ff8000000000000), UINT64_C(0xfff8000000000000),
                                     UINT64_C(0x7ff80000000abcde)};
    switch (k) {
    case 0: return -0.0;
    case 1: return 0.0;
    case 2: return double_of(nans[nnla_test_int(rng, 0, 2)]);
    case 3: return INFINITY;
    case 4: return -INFINITY;
    case 5: return 4.9406564584124654e-324;
    case 6: return -4.9406564584124654e-324;
    default: return nnla_test_uniform(rng, -3, 3);
    }
}

enum { TB = 7, TC = 16, TP = 24 * 24, TN = TB * TC * TP };

/*
 * The NCHW passes over 7 images of 16 x 24 x 24 (they run on the calling thread: memory-bound, two
 * threads did not pay; this holds them to it should they be split by images again): for every kind,
 * forward and backward give the same bytes with 1, 2 and 3 threads, the same bytes as each image alone, and for the elementwise kinds the bytes of the matrix
 * form over the whole batch. The input holds a few edge values (signed zeros, NaN, +-Inf).
 */
static void test_nchw_threads(void **state)
{
    (void)state;
    const int before = nnla_blas_num_threads();
    nnla_test_rng rng = {4242};
    double *x = malloc(TN * sizeof *x), *dy = malloc(TN * sizeof *dy), *r = malloc(TN * sizeof *r);
    double *y[3], *dx[3];
    assert_true(x && dy && r);
    for (int t = 0; t < 3; t++) {
        y[t] = malloc(TN * sizeof(double));
        dx[t] = malloc(TN * sizeof(double));
        assert_true(y[t] && dx[t]);
    }
    nnla_test_fill(&rng, x, TN, -6, 6);
    nnla_test_fill(&rng, dy, TN, -1, 1);
    for (size_t i = 0; i < TN; i += 1013) x[i] = edge_value(&rng, (int)(i / 1013 % 7));
    const nnla_act extra[] = {
        {NNLA_ACT_LEAKY_RELU, -0.25}, {NNLA_ACT_SIGMOID, 2.5}, {NNLA_ACT_ELU, 0.5}, {NNLA_ACT_SOFTPLUS, 3.0}};
    const size_t nk = NNLA_ACT_KIND_COUNT + sizeof extra / sizeof extra[0];
    long compared = 0;
    for (size_t k = 0; k < nk; k++) {
        const nnla_act a =
            k < NNLA_ACT_KIND_COUNT ? nnla_act_default((nnla_act_kind)k) : extra[k - NNLA_ACT_KIND_COUNT];
        for (int t = 1; t <= 3; t++) {
            nnla_test_set_threads(t);
            memset(y[t - 1], 0x5a, TN * sizeof(double));
            memset(dx[t - 1], 0x5a, TN * sizeof(double));
            assert_status(nnla_act_forward_nchw(a, TB, TC, TP, x, y[t - 1]), NNLA_OK);
            /* the row-wise kinds use y: one thread's y for all, so only the backward pass differs */
            assert_status(nnla_act_backward_nchw(a, TB, TC, TP, x, y[0], dy, dx[t - 1]), NNLA_OK);
            if (t > 1) {
                assert_memory_equal(y[t - 1], y[0], TN * sizeof(double));
                assert_memory_equal(dx[t - 1], dx[0], TN * sizeof(double));
            }
            compared++;
        }
        /* each image alone (one image: one thread) */
        nnla_test_set_threads(2);
        const size_t per = TC * TP;
        for (size_t b = 0; b < TB; b++) {
            assert_status(nnla_act_forward_nchw(a, 1, TC, TP, x + b * per, r), NNLA_OK);
            assert_memory_equal(r, y[0] + b * per, per * sizeof *r);
            assert_status(nnla_act_backward_nchw(a, 1, TC, TP, x + b * per, y[0] + b * per, dy + b * per, r), NNLA_OK);
            assert_memory_equal(r, dx[0] + b * per, per * sizeof *r);
        }
        if (!nnla_act_is_rowwise(a.kind)) { /* the matrix form over the whole batch */
            assert_status(nnla_act_forward(a, nnla_cmat_view(x, TB * TC, TP, TP), nnla_mat_view(r, TB * TC, TP, TP)),
                          NNLA_OK);
            assert_memory_equal(r, y[0], TN * sizeof *r);
            assert_status(nnla_act_backward(a, nnla_cmat_view(x, TB * TC, TP, TP),
                                            nnla_cmat_view(y[0], TB * TC, TP, TP), nnla_cmat_view(dy, TB * TC, TP, TP),
                                            nnla_mat_view(r, TB * TC, TP, TP)),
                          NNLA_OK);
            assert_memory_equal(r, dx[0], TN * sizeof *r);
        }
        /* not vacuous: the pass wrote every entry, and finite results are the majority */
        size_t finite = 0;
        for (size_t i = 0; i < TN; i++) finite += isfinite(y[0][i]) && isfinite(dx[0][i]);
        assert_true(finite > TN / 2);
    }
    assert_status(nnla_blas_set_num_threads(before), NNLA_OK);
    assert_true(compared == 3 * (long)nk);
    for (int t = 0; t < 3; t++) {
        free(y[t]);
        free(dx[t]);
    }
    free(x);
    free(dy);
    free(r);
}

/*
 * ReLU's and leaky ReLU's f' (two selects): f'(v) = 1 for v > 0, 0 (ReLU) or the slope (leaky) for
 * v <= 0 including -0 and -Inf, and v itself for NaN (its bits), so dx = dy f'(x) bit for bit as a
 * plain loop computes it, through the NCHW backward with 1, 2 and 3 threads, the matrix backward
 * and the derivative; slopes 0.01, -0.25, 0, -0 and 3 (a slope of -0 flips the sign of dx's zeros).
 * dy holds zeros, infinities (Inf x 0 is NaN) and NaNs where x is not NaN. The forward passes as
 * plain loops too: leaky v > 0 ? v : slope v bit for bit, ReLU max(v, 0) by value.
 */
static void test_relu_selects(void **state)
{
    (void)state;
    const int before = nnla_blas_num_threads();
    nnla_test_rng rng = {777};
    double *x = malloc(TN * sizeof *x), *dy = malloc(TN * sizeof *dy), *y = malloc(TN * sizeof *y);
    double *dx = malloc(TN * sizeof *dx), *rd = malloc(TN * sizeof *rd), *rdx = malloc(TN * sizeof *rdx);
    assert_true(x && dy && y && dx && rd && rdx);
    long counts[8] = {0};
    for (size_t i = 0; i < TN; i++) {
        int k = (int)nnla_test_int(&rng, 0, 13); /* half edge values, half plain */
        x[i] = edge_value(&rng, k);
        counts[k < 7 ? k : 7]++;
        int j = (int)nnla_test_int(&rng, 0, 9);
        dy[i] = j == 0                   ? 0.0
                : j == 1                 ? -0.0
                : j == 2                 ? INFINITY
                : j == 3 && !isnan(x[i]) ? double_of(UINT64_C(0x7ff8000000000123))
                                         : nnla_test_uniform(&rng, -2, 2);
    }
    for (int k = 0; k < 8; k++) assert_true(counts[k] >= TN / 20);
    const nnla_act acts[] = {{NNLA_ACT_RELU, 0.0},       {NNLA_ACT_LEAKY_RELU, 0.01}, {NNLA_ACT_LEAKY_RELU, -0.25},
                             {NNLA_ACT_LEAKY_RELU, 0.0}, {NNLA_ACT_LEAKY_RELU, -0.0}, {NNLA_ACT_LEAKY_RELU, 3.0}};
    long compared = 0;
    for (size_t ai = 0; ai < sizeof acts / sizeof acts[0]; ai++) {
        const nnla_act a = acts[ai];
        const double slope = a.kind == NNLA_ACT_RELU ? 0.0 : a.param;
        for (size_t i = 0; i < TN; i++) {
            const double v = x[i];
            rd[i] = v != v ? v : v > 0.0 ? 1.0 : slope;
            rdx[i] = dy[i] * rd[i];
        }
        /* the derivative itself, and the forward */
        assert_status(nnla_act_derivative(a, nnla_cmat_view(x, TB * TC, TP, TP), nnla_mat_view(dx, TB * TC, TP, TP)),
                      NNLA_OK);
        assert_memory_equal(dx, rd, TN * sizeof *dx);
        assert_status(nnla_act_forward_nchw(a, TB, TC, TP, x, y), NNLA_OK);
        for (size_t i = 0; i < TN; i++) {
            const double v = x[i];
            if (a.kind == NNLA_ACT_LEAKY_RELU) {
                const double f = v > 0.0 ? v : a.param * v;
                assert_memory_equal(&y[i], &f, sizeof f);
            } else {
                assert_true(isnan(v) ? isnan(y[i]) : y[i] == (v > 0.0 ? v : 0.0));
            }
        }
        for (int t = 1; t <= 3; t++) {
            nnla_test_set_threads(t);
            memset(dx, 0x5a, TN * sizeof *dx);
            assert_status(nnla_act_backward_nchw(a, TB, TC, TP, x, y, dy, dx), NNLA_OK);
            assert_memory_equal(dx, rdx, TN * sizeof *dx);
            compared++;
        }
        memset(dx, 0x5a, TN * sizeof *dx);
        assert_status(nnla_act_backward(a, nnla_cmat_view(x, TB * TC, TP, TP), nnla_cmat_view(y, TB * TC, TP, TP),
                                        nnla_cmat_view(dy, TB * TC, TP, TP), nnla_mat_view(dx, TB * TC, TP, TP)),
                      NNLA_OK);
        assert_memory_equal(dx, rdx, TN * sizeof *dx);
        /* in place (dx = dy) gives the same bytes */
        memcpy(dx, dy, TN * sizeof *dx);
        assert_status(nnla_act_backward_nchw(a, TB, TC, TP, x, y, dx, dx), NNLA_OK);
        assert_memory_equal(dx, rdx, TN * sizeof *dx);
    }
    assert_status(nnla_blas_set_num_threads(before), NNLA_OK);
    assert_true(compared == 3 * (long)(sizeof acts / sizeof acts[0]));
    free(x);
    free(dy);
    free(y);
    free(dx);
    free(rd);
    free(rdx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_closed_form),      cmocka_unit_test(test_extremes_and_nan),
        cmocka_unit_test(test_softmax_extremes), cmocka_unit_test(test_softmax_random),
        cmocka_unit_test(test_derivative_fd),    cmocka_unit_test(test_backward_jacobian),
        cmocka_unit_test(test_in_place),         cmocka_unit_test(test_parse_and_names),
        cmocka_unit_test(test_identity_copy_placements),
        cmocka_unit_test(test_parse_locale),     cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_info),             cmocka_unit_test(test_nchw),
        cmocka_unit_test(test_nchw_threads),     cmocka_unit_test(test_relu_selects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
