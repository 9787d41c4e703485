#include "testutil.h"

#include <math.h>
#include <stdio.h>

void nnla_test_assert_status_(nnla_status actual, nnla_status expected, const char *expr,
                              const char *file, int line)
{
    if (actual != expected) {
        print_error("%s:%d: %s returned %s (%s), expected %s\n", file, line, expr,
                    nnla_status_name(actual), nnla_strerror(actual), nnla_status_name(expected));
        _fail(file, line);
    }
}

static void close_check(const double *a, const double *e, size_t rows, size_t cols, size_t lda,
                        size_t lde, double rtol, double atol, const char *file, int line)
{
    double worst = -1.0;
    size_t wi = 0, wj = 0;
    int bad = 0;
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++) {
            double x = a[i * lda + j], y = e[i * lde + j];
            double err = fabs(x - y);
            double tol = atol + rtol * fabs(y);
            int nan_mismatch = isnan(x) != isnan(y);
            int same_inf = isinf(x) && isinf(y) && x == y;
            if (same_inf || (isnan(x) && isnan(y))) continue;
            if (nan_mismatch || !(err <= tol)) {
                double excess = nan_mismatch ? INFINITY : err / (tol > 0 ? tol : DBL_MIN);
                if (!bad || excess > worst) {
                    worst = excess;
                    wi = i;
                    wj = j;
                }
                bad = 1;
            }
        }
    if (bad) {
        double x = a[wi * lda + wj], y = e[wi * lde + wj];
        print_error("%s:%d: mismatch, worst at (%zu, %zu): actual %.17g expected %.17g "
                    "|diff| %.3g > atol %.3g + rtol %.3g * |expected|\n",
                    file, line, wi, wj, x, y, fabs(x - y), atol, rtol);
        _fail(file, line);
    }
}

void nnla_test_assert_mat_close_(nnla_cmat actual, nnla_cmat expected, double rtol, double atol,
                                 const char *file, int line)
{
    if (actual.rows != expected.rows || actual.cols != expected.cols) {
        print_error("%s:%d: shape %zux%zu, expected %zux%zu\n", file, line, actual.rows, actual.cols,
                    expected.rows, expected.cols);
        _fail(file, line);
    }
    close_check(actual.data, expected.data, actual.rows, actual.cols, actual.ld, expected.ld, rtol,
                atol, file, line);
}

void nnla_test_assert_vec_close_(const double *actual, const double *expected, size_t n, double rtol,
                                 double atol, const char *file, int line)
{
    close_check(actual, expected, 1, n, n, n, rtol, atol, file, line);
}

uint64_t nnla_test_next(nnla_test_rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double nnla_test_uniform(nnla_test_rng *r, double lo, double hi)
{
    double u = (double)(nnla_test_next(r) >> 11) * 0x1.0p-53;
    return lo + (hi - lo) * u;
}

double nnla_test_normal(nnla_test_rng *r)
{
    double u1 = nnla_test_uniform(r, 0.0, 1.0), u2 = nnla_test_uniform(r, 0.0, 1.0);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

size_t nnla_test_int(nnla_test_rng *r, size_t lo, size_t hi)
{
    return lo + (size_t)(nnla_test_next(r) % (uint64_t)(hi - lo + 1));
}

void nnla_test_fill(nnla_test_rng *r, double *x, size_t n, double lo, double hi)
{
    for (size_t i = 0; i < n; i++) x[i] = nnla_test_uniform(r, lo, hi);
}

double nnla_test_fro(nnla_cmat m)
{
    double s = 0.0;
    for (size_t i = 0; i < m.rows; i++)
        for (size_t j = 0; j < m.cols; j++) s += m.data[i * m.ld + j] * m.data[i * m.ld + j];
    return sqrt(s);
}

double nnla_test_maxabs(nnla_cmat m)
{
    double s = 0.0;
    for (size_t i = 0; i < m.rows; i++)
        for (size_t j = 0; j < m.cols; j++)
            if (fabs(m.data[i * m.ld + j]) > s) s = fabs(m.data[i * m.ld + j]);
    return s;
}

void nnla_test_set_threads(int t)
{
    assert_status(nnla_blas_set_num_threads(t), NNLA_OK);
    assert_int_equal(nnla_num_threads(), nnla_blas_parallel() == 2 ? t : 1);
}
