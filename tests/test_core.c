/* Core: statuses, version, views, GEMM/GEMV against triple loops, BLAS information. */
#include "testutil.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every status of NNLA_STATUS_LIST, as the list states it. */
static const struct {
    nnla_status status;
    int value;
    const char *name, *message;
} all_statuses[] = {
#define STATUS_ENTRY_(name, value, msg) {name, value, #name, msg},
    NNLA_STATUS_LIST(STATUS_ENTRY_)
#undef STATUS_ENTRY_
};
#define NUM_STATUSES (sizeof all_statuses / sizeof all_statuses[0])

static int is_listed(int v)
{
    for (size_t i = 0; i < NUM_STATUSES; i++)
        if (all_statuses[i].value == v) return 1;
    return 0;
}

static void test_status_strings(void **state)
{
    (void)state;
    assert_int_equal(NNLA_OK, 0);
    assert_int_equal(all_statuses[0].status, NNLA_OK);
    int lo = 0, hi = 0;
    for (size_t i = 0; i < NUM_STATUSES; i++) {
        nnla_status st = all_statuses[i].status;
        /* the enumerator has the listed value, and the functions give the listed strings */
        assert_int_equal((int)st, all_statuses[i].value);
        assert_string_equal(nnla_status_name(st), all_statuses[i].name);
        assert_string_equal(nnla_strerror(st), all_statuses[i].message);
        assert_true(strncmp(all_statuses[i].name, "NNLA_", 5) == 0);
        assert_true(strlen(all_statuses[i].message) > 0);
        assert_string_not_equal(all_statuses[i].message, "unknown status");
        assert_string_not_equal(all_statuses[i].name, "NNLA_UNKNOWN");
        /* distinct values, names and messages */
        for (size_t j = 0; j < i; j++) {
            assert_int_not_equal(all_statuses[j].value, all_statuses[i].value);
            assert_string_not_equal(all_statuses[j].name, all_statuses[i].name);
            assert_string_not_equal(all_statuses[j].message, all_statuses[i].message);
        }
        if (all_statuses[i].value < lo) lo = all_statuses[i].value;
        if (all_statuses[i].value > hi) hi = all_statuses[i].value;
    }
    /* values that are not in the list (around it, in its gaps, far away) give the fallbacks */
    const int far[] = {-1000000, 9999, 1 << 30};
    for (int v = lo - 3; v <= hi + 3; v++) {
        if (is_listed(v)) continue;
        assert_string_equal(nnla_strerror((nnla_status)v), "unknown status");
        assert_string_equal(nnla_status_name((nnla_status)v), "NNLA_UNKNOWN");
    }
    for (size_t i = 0; i < sizeof far / sizeof far[0]; i++) {
        assert_string_equal(nnla_strerror((nnla_status)far[i]), "unknown status");
        assert_string_equal(nnla_status_name((nnla_status)far[i]), "NNLA_UNKNOWN");
    }
}

static void test_version(void **state)
{
    (void)state;
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", NNLA_VERSION_MAJOR, NNLA_VERSION_MINOR, NNLA_VERSION_PATCH);
    assert_string_equal(nnla_version(), want);
    assert_int_equal(nnla_version_number(), NNLA_VERSION_NUMBER);
}

static void test_mat_check(void **state)
{
    (void)state;
    double buf[6] = {0};
    assert_status(nnla_mat_check(nnla_cmat_view(buf, 2, 3, 3)), NNLA_OK);
    assert_status(nnla_mat_check(nnla_cmat_view(NULL, 2, 3, 3)), NNLA_ENULL);
    assert_status(nnla_mat_check(nnla_cmat_view(buf, 0, 3, 3)), NNLA_EDIM);
    assert_status(nnla_mat_check(nnla_cmat_view(buf, 2, 0, 3)), NNLA_EDIM);
    assert_status(nnla_mat_check(nnla_cmat_view(buf, 2, 3, 2)), NNLA_ELD);
    assert_status(nnla_mat_check(nnla_cmat_view(buf, SIZE_MAX / 4, 3, SIZE_MAX / 4)), NNLA_EOVERFLOW);
    nnla_mat m = nnla_mat_view(buf, 2, 3, 3);
    nnla_cmat c = nnla_cmat_of(m);
    assert_true(c.data == buf && c.rows == 2 && c.cols == 3 && c.ld == 3);
}

/* Reference: C = alpha op(A) op(B) + beta C, by a triple loop. */
static void ref_gemm(int ta, int tb, size_t m, size_t n, size_t k, double alpha, const double *a,
                     size_t lda, const double *b, size_t ldb, double beta, double *c, size_t ldc)
{
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            double s = 0.0;
            for (size_t p = 0; p < k; p++) {
                double av = ta ? a[p * lda + i] : a[i * lda + p];
                double bv = tb ? b[j * ldb + p] : b[p * ldb + j];
                s += av * bv;
            }
            c[i * ldc + j] = alpha * s + (beta == 0.0 ? 0.0 : beta * c[i * ldc + j]);
        }
}

static void test_gemm_random(void **state)
{
    (void)state;
    nnla_test_rng rng = {42};
    for (int trial = 0; trial < 300; trial++) {
        size_t m = nnla_test_int(&rng, 1, 37), n = nnla_test_int(&rng, 1, 37), k = nnla_test_int(&rng, 1, 37);
        int ta = (int)nnla_test_int(&rng, 0, 1), tb = (int)nnla_test_int(&rng, 0, 1);
        size_t ar = ta ? k : m, ac = ta ? m : k, br = tb ? n : k, bc = tb ? k : n;
        size_t lda = ac + nnla_test_int(&rng, 0, 3), ldb = bc + nnla_test_int(&rng, 0, 3);
        size_t ldc = n + nnla_test_int(&rng, 0, 3);
        double alpha = nnla_test_uniform(&rng, -2, 2);
        double beta = trial % 3 == 0 ? 0.0 : nnla_test_uniform(&rng, -2, 2);
        double *a = malloc(ar * lda * sizeof *a), *b = malloc(br * ldb * sizeof *b);
        double *c = malloc(m * ldc * sizeof *c), *r = malloc(m * ldc * sizeof *r);
        nnla_test_fill(&rng, a, ar * lda, -1, 1);
        nnla_test_fill(&rng, b, br * ldb, -1, 1);
        nnla_test_fill(&rng, c, m * ldc, -1, 1);
        if (beta == 0.0) c[0] = NAN; /* beta == 0: C is not read */
        memcpy(r, c, m * ldc * sizeof *c);
        ref_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, r, ldc);
        assert_status(nnla_gemm(ta ? NNLA_TRANS : NNLA_NO_TRANS, tb ? NNLA_TRANS : NNLA_NO_TRANS, alpha,
                                nnla_cmat_view(a, ar, ac, lda), nnla_cmat_view(b, br, bc, ldb), beta,
                                nnla_mat_view(c, m, n, ldc)),
                      NNLA_OK);
        /* Each entry is a k-term dot product of values in [-1, 1]: error <= ~k eps (|alpha|+|beta|) */
        double tol = 4.0 * (double)(k + 2) * DBL_EPSILON * (fabs(alpha) * (double)k + fabs(beta) + 1.0);
        assert_mat_close(nnla_cmat_view(c, m, n, ldc), nnla_cmat_view(r, m, n, ldc), 0.0, tol);
        /* padding columns between n and ldc are untouched */
        for (size_t i = 0; i < m; i++)
            for (size_t j = n; j < ldc; j++) assert_true(memcmp(&c[i * ldc + j], &r[i * ldc + j], sizeof(double)) == 0);
        free(a);
        free(b);
        free(c);
        free(r);
    }
}

static void test_gemm_bad_input(void **state)
{
    (void)state;
    double a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {1, 0, 0, 1, 1, 1}, c[4], c0[4] = {7, 7, 7, 7};
    memcpy(c, c0, sizeof c);
    nnla_cmat A = nnla_cmat_view(a, 2, 3, 3), B = nnla_cmat_view(b, 3, 2, 2);
    nnla_mat C = nnla_mat_view(c, 2, 2, 2);
    assert_status(nnla_gemm(NNLA_NO_TRANS, NNLA_NO_TRANS, 1, nnla_cmat_view(NULL, 2, 3, 3), B, 0, C), NNLA_ENULL);
    assert_status(nnla_gemm(NNLA_NO_TRANS, NNLA_NO_TRANS, 1, A, nnla_cmat_view(b, 0, 2, 2), 0, C), NNLA_EDIM);
    assert_status(nnla_gemm(NNLA_NO_TRANS, NNLA_NO_TRANS, 1, A, B, 0, nnla_mat_view(c, 2, 2, 1)), NNLA_ELD);
    assert_status(nnla_gemm(NNLA_TRANS, NNLA_NO_TRANS, 1, A, B, 0, C), NNLA_ESHAPE);
    assert_status(nnla_gemm(NNLA_NO_TRANS, NNLA_NO_TRANS, 1, A, B, 0, nnla_mat_view(c, 2, 1, 2)), NNLA_ESHAPE);
    assert_status(nnla_gemm((nnla_trans)7, NNLA_NO_TRANS, 1, A, B, 0, C), NNLA_EINVAL);
    assert_status(nnla_gemm(NNLA_NO_TRANS, NNLA_NO_TRANS, 1, A, B, 0, nnla_mat_view(a, 2, 2, 2)), NNLA_EALIAS);
    assert_status(nnla_gemm(NNLA_NO_TRANS, NNLA_NO_TRANS, 1, nnla_cmat_view(a, (size_t)1 << 31, 1, 1),
                            nnla_cmat_view(b, 1, 2, 2), 0, nnla_mat_view(c, (size_t)1 << 31, 2, 2)),
                  NNLA_EOVERFLOW);
    assert_memory_equal(c, c0, sizeof c);
    assert_memory_equal(a, ((double[6]){1, 2, 3, 4, 5, 6}), sizeof a);
    /* a correct call: [[1,2,3],[4,5,6]] x [[1,0],[0,1],[1,1]] = [[4,5],[10,11]] */
    assert_status(nnla_gemm(NNLA_NO_TRANS, NNLA_NO_TRANS, 1, A, B, 0, C), NNLA_OK);
    assert_vec_close(c, ((double[4]){4, 5, 10, 11}), 4, 0, 0);
}

static void test_gemv(void **state)
{
    (void)state;
    nnla_test_rng rng = {7};
    for (int trial = 0; trial < 100; trial++) {
        size_t m = nnla_test_int(&rng, 1, 40), n = nnla_test_int(&rng, 1, 40), ld = n + nnla_test_int(&rng, 0, 2);
        int t = trial & 1;
        size_t nx = t ? m : n, ny = t ? n : m;
        double *a = malloc(m * ld * sizeof *a), *x = malloc(nx * sizeof *x);
        double *y = malloc(ny * sizeof *y), *r = malloc(ny * sizeof *r);
        nnla_test_fill(&rng, a, m * ld, -1, 1);
        nnla_test_fill(&rng, x, nx, -1, 1);
        nnla_test_fill(&rng, y, ny, -1, 1);
        double alpha = 1.5, beta = trial % 4 == 0 ? 0.0 : -0.5;
        for (size_t i = 0; i < ny; i++) {
            double s = 0;
            for (size_t p = 0; p < nx; p++) s += (t ? a[p * ld + i] : a[i * ld + p]) * x[p];
            r[i] = alpha * s + (beta == 0.0 ? 0.0 : beta * y[i]);
        }
        assert_status(nnla_gemv(t ? NNLA_TRANS : NNLA_NO_TRANS, alpha, nnla_cmat_view(a, m, n, ld), x, nx,
                                beta, y, ny),
                      NNLA_OK);
        assert_vec_close(y, r, ny, 0, 8.0 * (double)(nx + 2) * DBL_EPSILON * 2.0);
        free(a);
        free(x);
        free(y);
        free(r);
    }
    double a[4] = {1, 2, 3, 4}, x[2] = {1, 1}, y[2] = {9, 9};
    nnla_cmat A = nnla_cmat_view(a, 2, 2, 2);
    assert_status(nnla_gemv(NNLA_NO_TRANS, 1, A, NULL, 2, 0, y, 2), NNLA_ENULL);
    assert_status(nnla_gemv(NNLA_NO_TRANS, 1, A, x, 3, 0, y, 2), NNLA_ESHAPE);
    assert_status(nnla_gemv(NNLA_NO_TRANS, 1, A, x, 0, 0, y, 2), NNLA_EDIM);
    assert_status(nnla_gemv(NNLA_NO_TRANS, 1, A, x, 2, 0, x, 2), NNLA_EALIAS);
    assert_status(nnla_gemv((nnla_trans)3, 1, A, x, 2, 0, y, 2), NNLA_EINVAL);
    assert_true(y[0] == 9 && y[1] == 9);
    assert_status(nnla_gemv(NNLA_NO_TRANS, 1, A, x, 2, 0, y, 2), NNLA_OK);
    assert_vec_close(y, ((double[2]){3, 7}), 2, 0, 0);
}

/* MAX_THREADS=N in OpenBLAS's configuration string; 1 for a single-threaded build. */
static int config_max_threads(const char *config)
{
    if (strstr(config, "SINGLE_THREADED") != NULL) return 1;
    const char *p = strstr(config, "MAX_THREADS=");
    assert_non_null(p);
    return atoi(p + strlen("MAX_THREADS="));
}

static void test_blas_info(void **state)
{
    (void)state;
    assert_non_null(strstr(nnla_blas_config(), "OpenBLAS"));
    assert_ptr_equal(nnla_blas_config(), nnla_blas_config()); /* read once, kept */
    assert_true(strlen(nnla_blas_corename()) > 0);
    int n = nnla_blas_num_threads();
    assert_true(n >= 1);
    int max = nnla_blas_max_threads();
    assert_int_equal(max, config_max_threads(nnla_blas_config()));
    assert_true(n <= max);
    assert_status(nnla_blas_set_num_threads(0), NNLA_EINVAL);
    assert_int_equal(nnla_blas_num_threads(), n);
    /* beyond the maximum: refused (OpenBLAS would clamp silently), the count unchanged */
    assert_status(nnla_blas_set_num_threads(max + 1), NNLA_EINVAL);
    assert_int_equal(nnla_blas_num_threads(), n);
    assert_status(nnla_blas_set_num_threads(1000), NNLA_EINVAL);
    assert_status(nnla_blas_set_num_threads(INT_MAX), NNLA_EINVAL);
    assert_int_equal(nnla_blas_num_threads(), n);
    assert_status(nnla_blas_set_num_threads(1), NNLA_OK);
    assert_int_equal(nnla_blas_num_threads(), 1);
    /* the maximum itself is set exactly (a single-threaded build: 1 again) */
    assert_status(nnla_blas_set_num_threads(max), NNLA_OK);
    assert_int_equal(nnla_blas_num_threads(), max);
    assert_status(nnla_blas_set_num_threads(n), NNLA_OK);
    assert_int_equal(nnla_blas_num_threads(), n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_strings), cmocka_unit_test(test_version),
        cmocka_unit_test(test_mat_check),      cmocka_unit_test(test_gemm_random),
        cmocka_unit_test(test_gemm_bad_input), cmocka_unit_test(test_gemv),
        cmocka_unit_test(test_blas_info),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
