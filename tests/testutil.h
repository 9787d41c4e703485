/* Helpers shared by the cmocka suites: tolerant comparisons, random data, the thread count. */
#ifndef NNLA_TESTUTIL_H
#define NNLA_TESTUTIL_H

#include <float.h>
#include <setjmp.h> /* cmocka needs these before its header */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <nnla.h>

/* Assert a status, printing both names when they differ. */
#define assert_status(actual, expected)                                                            \
    nnla_test_assert_status_((actual), (expected), #actual, __FILE__, __LINE__)
void nnla_test_assert_status_(nnla_status actual, nnla_status expected, const char *expr,
                              const char *file, int line);

/*
 * Assert |actual - expected| <= atol + rtol * |expected| entrywise; on failure report
 * the worst entry (index, both values, the error) and fail the test.
 */
#define assert_mat_close(actual, expected, rtol, atol)                                             \
    nnla_test_assert_mat_close_((actual), (expected), (rtol), (atol), __FILE__, __LINE__)
void nnla_test_assert_mat_close_(nnla_cmat actual, nnla_cmat expected, double rtol, double atol,
                                 const char *file, int line);

/* The same for contiguous arrays of n doubles. */
#define assert_vec_close(actual, expected, n, rtol, atol)                                          \
    nnla_test_assert_vec_close_((actual), (expected), (n), (rtol), (atol), __FILE__, __LINE__)
void nnla_test_assert_vec_close_(const double *actual, const double *expected, size_t n, double rtol,
                                 double atol, const char *file, int line);

/* Assert two byte ranges are identical (e.g. "outputs untouched"). */
#define assert_bytes_equal(a, b, n) assert_memory_equal((a), (b), (n))

/* A deterministic generator (splitmix64); tests seed it explicitly. */
typedef struct nnla_test_rng {
    uint64_t s;
} nnla_test_rng;
uint64_t nnla_test_next(nnla_test_rng *r);
/* Uniform in [lo, hi). */
double nnla_test_uniform(nnla_test_rng *r, double lo, double hi);
/* Standard normal (Box-Muller). */
double nnla_test_normal(nnla_test_rng *r);
/* Uniform integer in [lo, hi]. */
size_t nnla_test_int(nnla_test_rng *r, size_t lo, size_t hi);
/* Fill n doubles with uniform values in [lo, hi). */
void nnla_test_fill(nnla_test_rng *r, double *x, size_t n, double lo, double hi);

/* Frobenius norm of a view. */
double nnla_test_fro(nnla_cmat m);
/* Max |a_ij| of a view. */
double nnla_test_maxabs(nnla_cmat m);

/* Set the thread count through libnnla's knob (nnla_blas_set_num_threads) and check that a call
 * now gets it: t with the OpenMP OpenBLAS, 1 with another (libnnla's loops then run on one thread). */
void nnla_test_set_threads(int t);

#endif /* NNLA_TESTUTIL_H */
