/* The generator against the published reference outputs, and its draws against their laws. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* xoshiro256** from the state {1, 2, 3, 4}: the first ten outputs of the authors' reference
 * implementation (the same vectors the rand_xoshiro crate checks). */
static void test_xoshiro_reference(void **state)
{
    (void)state;
    static const uint64_t want[10] = {11520ULL,
                                      0ULL,
                                      1509978240ULL,
                                      1215971899390074240ULL,
                                      1216172134540287360ULL,
                                      607988272756665600ULL,
                                      16172922978634559625ULL,
                                      8476171486693032832ULL,
                                      10595114339597558777ULL,
                                      2904607092377533576ULL};
    nnla_rng r;
    memset(&r, 0, sizeof r);
    r.s[0] = 1;
    r.s[1] = 2;
    r.s[2] = 3;
    r.s[3] = 4;
    for (int i = 0; i < 10; i++) assert_true(nnla_rng_next(&r) == want[i]);
}

/* splitmix64 from 1234567: its first outputs (the published test vector) become the state. */
static void test_seed_is_splitmix(void **state)
{
    (void)state;
    nnla_rng r;
    assert_status(nnla_rng_seed(&r, 1234567), NNLA_OK);
    assert_true(r.s[0] == 6457827717110365317ULL);
    assert_true(r.s[1] == 3203168211198807973ULL);
    assert_true(r.s[2] == 9817491932198370423ULL);
    assert_true(r.s[3] == 4593380528125082431ULL);
    assert_false(r.has_spare);
}

/* The jump against 2^128 steps computed as a GF(2) matrix power (tests/rng/jump_reference.py). */
static void test_jump_reference(void **state)
{
    (void)state;
    nnla_rng r, fresh;
    assert_status(nnla_rng_seed(&r, 42), NNLA_OK);
    (void)nnla_rng_normal(&r); /* leaves a spare, which the jump must drop */
    nnla_rng_seed(&fresh, 42);
    memcpy(r.s, fresh.s, sizeof r.s); /* the state of seed 42, a spare pending */
    assert_true(r.has_spare);
    assert_status(nnla_rng_jump(&r), NNLA_OK);
    assert_true(r.s[0] == 0x81746704fde896b5ULL);
    assert_true(r.s[1] == 0x645e944932dae0aeULL);
    assert_true(r.s[2] == 0xf4776829231c282cULL);
    assert_true(r.s[3] == 0x2393f9798732dba1ULL);
    assert_false(r.has_spare);
}

static void test_uniform_range_and_moments(void **state)
{
    (void)state;
    nnla_rng r;
    nnla_rng_seed(&r, 7);
    const size_t n = 200000;
    double s = 0, s2 = 0;
    for (size_t i = 0; i < n; i++) {
        double u = nnla_rng_uniform(&r);
        assert_true(u >= 0.0 && u < 1.0);
        assert_true(u * 0x1.0p53 == floor(u * 0x1.0p53)); /* a multiple of 2^-53 */
        s += u;
        s2 += u * u;
    }
    double mean = s / n, var = s2 / n - mean * mean;
    /* mean 1/2 with sd sqrt(1/12/n) = 6.5e-4; variance 1/12 with sd ~ sqrt(1/180/n) = 1.7e-4: 6 sd */
    assert_true(fabs(mean - 0.5) < 6 * sqrt(1.0 / 12 / n));
    assert_true(fabs(var - 1.0 / 12) < 6 * sqrt(1.0 / 180 / n));
}

static void test_below_unbiased(void **state)
{
    (void)state;
    nnla_rng r;
    nnla_rng_seed(&r, 11);
    enum { K = 7, N = 70000 };
    size_t count[K] = {0};
    for (int i = 0; i < N; i++) {
        uint64_t v = nnla_rng_below(&r, K);
        assert_true(v < K);
        count[v]++;
    }
    /* chi-square with 6 degrees of freedom: P(chi2 > 22.46) = 0.001 */
    double chi2 = 0, e = (double)N / K;
    for (int k = 0; k < K; k++) chi2 += (count[k] - e) * (count[k] - e) / e;
    assert_true(chi2 < 22.46);
    assert_true(nnla_rng_below(&r, 0) == 0 && nnla_rng_below(&r, 1) == 0);
    /* a bound just above 2^63 rejects about half the draws and still stays below it */
    const uint64_t big = ((uint64_t)1 << 63) + 12345;
    for (int i = 0; i < 1000; i++) assert_true(nnla_rng_below(&r, big) < big);
}

static void test_normal_moments(void **state)
{
    (void)state;
    nnla_rng r;
    nnla_rng_seed(&r, 3);
    const size_t n = 200000;
    double *x = malloc(n * sizeof *x);
    assert_non_null(x);
    assert_status(nnla_rng_fill_normal(&r, 2.0, 3.0, x, n), NNLA_OK);
    double s = 0, s2 = 0, s4 = 0;
    for (size_t i = 0; i < n; i++) s += x[i];
    double mean = s / n;
    for (size_t i = 0; i < n; i++) {
        double d = x[i] - mean;
        s2 += d * d;
        s4 += d * d * d * d;
    }
    double var = s2 / n, kurt = s4 / n / (var * var);
    /* mean: sd 3/sqrt(n); variance 9: sd 9 sqrt(2/n); kurtosis 3: sd sqrt(24/n); 6 sd each */
    assert_true(fabs(mean - 2.0) < 6 * 3.0 / sqrt((double)n));
    assert_true(fabs(var - 9.0) < 6 * 9.0 * sqrt(2.0 / n));
    assert_true(fabs(kurt - 3.0) < 6 * sqrt(24.0 / n));
    /* the same seed, the same numbers; uniform fill in its range */
    nnla_rng r2;
    nnla_rng_seed(&r2, 3);
    for (size_t i = 0; i < 1000; i++) assert_true(2.0 + 3.0 * nnla_rng_normal(&r2) == x[i]);
    assert_status(nnla_rng_fill_uniform(&r2, -0.5, 0.25, x, 1000), NNLA_OK);
    for (size_t i = 0; i < 1000; i++) assert_true(x[i] >= -0.5 && x[i] < 0.25);
    free(x);
}

static void test_shuffle_is_permutation(void **state)
{
    (void)state;
    nnla_rng r, r2;
    nnla_rng_seed(&r, 5);
    nnla_rng_seed(&r2, 5);
    enum { N = 1000 };
    size_t a[N], b[N], seen[N] = {0};
    for (size_t i = 0; i < N; i++) a[i] = b[i] = i;
    assert_status(nnla_rng_shuffle(&r, a, N), NNLA_OK);
    assert_status(nnla_rng_shuffle(&r2, b, N), NNLA_OK);
    size_t moved = 0;
    for (size_t i = 0; i < N; i++) {
        assert_true(a[i] < N);
        seen[a[i]]++;
        moved += a[i] != i;
        assert_true(a[i] == b[i]);
    }
    for (size_t i = 0; i < N; i++) assert_true(seen[i] == 1);
    assert_true(moved > N / 2); /* a fixed point has probability 1/N each */
    /* every one of the 6 orders of 3 items turns up, about equally often */
    size_t orders[6] = {0};
    for (int t = 0; t < 6000; t++) {
        size_t p[3] = {0, 1, 2};
        nnla_rng_shuffle(&r, p, 3);
        orders[p[0] * 2 + (p[1] > p[2])]++;
    }
    for (int k = 0; k < 6; k++) assert_true(orders[k] > 850 && orders[k] < 1150);
}

static void test_bad_input(void **state)
{
    (void)state;
    nnla_rng r, before;
    nnla_rng_seed(&r, 9);
    before = r;
    double x[4] = {1, 2, 3, 4}, x0[4];
    memcpy(x0, x, sizeof x);
    assert_status(nnla_rng_seed(NULL, 1), NNLA_ENULL);
    assert_status(nnla_rng_jump(NULL), NNLA_ENULL);
    assert_status(nnla_rng_fill_uniform(NULL, 0, 1, x, 4), NNLA_ENULL);
    assert_status(nnla_rng_fill_uniform(&r, 0, 1, NULL, 4), NNLA_ENULL);
    assert_status(nnla_rng_fill_uniform(&r, 1, 0, x, 4), NNLA_EINVAL);
    assert_status(nnla_rng_fill_uniform(&r, NAN, 1, x, 4), NNLA_EINVAL);
    assert_status(nnla_rng_fill_uniform(&r, -1e308, 1e308, x, 4), NNLA_EINVAL); /* width overflows */
    assert_status(nnla_rng_fill_normal(&r, 0, -1, x, 4), NNLA_EINVAL);
    assert_status(nnla_rng_fill_normal(&r, INFINITY, 1, x, 4), NNLA_EINVAL);
    assert_status(nnla_rng_shuffle(&r, NULL, 3), NNLA_ENULL);
    assert_bytes_equal(x, x0, sizeof x);
    assert_bytes_equal(&r, &before, sizeof r);
    assert_status(nnla_rng_fill_normal(&r, 0, 1, NULL, 0), NNLA_OK);
    assert_status(nnla_rng_shuffle(&r, NULL, 0), NNLA_OK);
    assert_bytes_equal(&r, &before, sizeof r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xoshiro_reference),     cmocka_unit_test(test_seed_is_splitmix),
        cmocka_unit_test(test_jump_reference),        cmocka_unit_test(test_uniform_range_and_moments),
        cmocka_unit_test(test_below_unbiased),        cmocka_unit_test(test_normal_moments),
        cmocka_unit_test(test_shuffle_is_permutation), cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
