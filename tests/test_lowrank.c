/*
 * lowrank: rank rules, the Eckart-Young factors, nnla_lowrank (exact and randomized), nnla_rsvd.
 *
 * Reference matrices are built here with a known spectrum: A = U diag(sigma) V^T, with U and V
 * orthonormalized by modified Gram-Schmidt applied twice (written below, independent of LAPACK).
 * Tolerances (eps = DBL_EPSILON, s1 = the largest singular value):
 *   Eckart-Young  | ||A - A_k||_2 (direct) - report | <= EY_C eps s1 (4), the same for the Frobenius
 *                 norm with max(s1, ||A - A_k||_F) in place of s1; where
 *                 A - A_k is only rounding (k >= the numerical rank), max(m, n) eps s1 (observed:
 *                 <= 1 eps s1, and up to 0.5 max(m, n) eps s1 in the rounding case)
 *   orthonormality ||Q^T Q - I||_max <= ORTH_C max(m, n) eps
 *   rank rules    the rank chosen equals a plain reference loop over the spectrum written here
 *   randomized    ||A - U_k S_k V_k^T||_2 <= 1.1 sigma_{k+1} (q = 2) on geometric, polynomial and
 *                 flat-tail spectra; the bench (nnla-bench lowrank) checks the benchmark sizes
 */
#include "testutil.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EPS DBL_EPSILON
#define EY_C 4.0
#define ORTH_C 8.0
#define SENTINEL (-12345.678)
#define AT(m, i, j) ((m).data[(size_t)(i) * (m).ld + (size_t)(j)])

static double *xmalloc(size_t n)
{
    double *p = malloc((n ? n : 1) * sizeof(double));
    assert_non_null(p);
    return p;
}

static void fill_value(double *x, size_t n, double v)
{
    for (size_t i = 0; i < n; i++) x[i] = v;
}

static size_t min_sz(size_t a, size_t b) { return a < b ? a : b; }
static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

/* Orthonormal columns: q (rows x cols, ld cols) from a Gaussian matrix by MGS, twice. */
static void random_orthonormal(nnla_test_rng *rng, double *q, size_t rows, size_t cols)
{
    for (size_t i = 0; i < rows * cols; i++) q[i] = nnla_test_normal(rng);
    for (size_t j = 0; j < cols; j++)
        for (int pass = 0; pass < 2; pass++) {
            for (size_t p = 0; p < j; p++) {
                double d = 0.0;
                for (size_t i = 0; i < rows; i++) d += q[i * cols + p] * q[i * cols + j];
                for (size_t i = 0; i < rows; i++) q[i * cols + j] -= d * q[i * cols + p];
            }
            double nr = 0.0;
            for (size_t i = 0; i < rows; i++) nr += q[i * cols + j] * q[i * cols + j];
            nr = sqrt(nr);
            for (size_t i = 0; i < rows; i++) q[i * cols + j] /= nr;
        }
}

/* a (m x n, ld) = U diag(sigma) V^T with random orthonormal U (m x r), V (n x r), r = min(m, n). */
static void make_matrix(nnla_test_rng *rng, const double *sigma, size_t m, size_t n, double *a, size_t ld)
{
    size_t r = min_sz(m, n);
    double *u = xmalloc(m * r), *v = xmalloc(n * r);
    random_orthonormal(rng, u, m, r);
    random_orthonormal(rng, v, n, r);
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            double x = 0.0;
            for (size_t t = 0; t < r; t++) x += u[i * r + t] * sigma[t] * v[j * r + t];
            a[i * ld + j] = x;
        }
    free(u);
    free(v);
}

/* ||a - l r||, plain loops: the Frobenius norm, and (through nnla_svd, values) the 2-norm. */
static void residual_norms(nnla_cmat a, nnla_cmat l, nnla_cmat r, size_t k, double *fro, double *two)
{
    size_t m = a.rows, n = a.cols;
    double *e = xmalloc(m * n), f = 0.0;
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            double x = AT(a, i, j);
            for (size_t t = 0; t < k; t++) x -= AT(l, i, t) * AT(r, t, j);
            e[i * n + j] = x;
            f += x * x;
        }
    *fro = sqrt(f);
    if (two) {
        double *s = xmalloc(min_sz(m, n));
        nnla_mat z = nnla_mat_view(NULL, 0, 0, 0);
        assert_status(nnla_svd_alloc(NNLA_SVD_VALUES, nnla_cmat_view(e, m, n, n), s, z, z, NULL), NNLA_OK);
        *two = s[0];
        free(s);
    }
    free(e);
}

/* max |Q^T Q - I| over the columns of q (rows x cols view). */
static double orth_cols(nnla_cmat q)
{
    double w = 0.0;
    for (size_t a = 0; a < q.cols; a++)
        for (size_t b = 0; b < q.cols; b++) {
            double d = 0.0;
            for (size_t i = 0; i < q.rows; i++) d += AT(q, i, a) * AT(q, i, b);
            d -= a == b ? 1.0 : 0.0;
            if (fabs(d) > w) w = fabs(d);
        }
    return w;
}

static double orth_rows(nnla_cmat q)
{
    double w = 0.0;
    for (size_t a = 0; a < q.rows; a++)
        for (size_t b = 0; b < q.rows; b++) {
            double d = 0.0;
            for (size_t j = 0; j < q.cols; j++) d += AT(q, a, j) * AT(q, b, j);
            d -= a == b ? 1.0 : 0.0;
            if (fabs(d) > w) w = fabs(d);
        }
    return w;
}

/* ------------------------------------------------------------------ rank rules on constructed spectra */

static size_t pick(const double *s, size_t m, size_t n, nnla_rank_rule rule, nnla_lowrank_report *rep)
{
    assert_status(nnla_lowrank_select(s, m, n, rule, rep), NNLA_OK);
    return rep->rank;
}

static nnla_rank_rule capped(nnla_rank_rule r, size_t cap)
{
    r.rank = cap;
    return r;
}

static void test_select_exact_values(void **state)
{
    (void)state;
    nnla_lowrank_report rep;
    /* s^2 = 4, 1, 1, 1, 1 (total 8): every threshold below is exact in binary */
    const double s[5] = {2, 1, 1, 1, 1};
    assert_int_equal(pick(s, 5, 7, nnla_rank_energy(0.5), &rep), 1); /* tail 4 <= 0.5 * 8: a tie is met */
    assert_int_equal(rep.rule_met, 1);
    assert_int_equal(pick(s, 5, 7, nnla_rank_energy(0.625), &rep), 2); /* tail 3 <= 3 */
    assert_int_equal(pick(s, 5, 7, nnla_rank_energy(0.626), &rep), 3);
    assert_int_equal(pick(s, 5, 7, nnla_rank_energy(1.0), &rep), 5);
    assert_int_equal(pick(s, 5, 7, nnla_rank_energy(1e-300), &rep), 1);
    assert_int_equal(pick(s, 5, 7, nnla_rank_tol_fro(0.5), &rep), 3);  /* sqrt(2/8) = 0.5 exactly */
    assert_int_equal(pick(s, 5, 7, nnla_rank_tol_fro(0.49), &rep), 4); /* sqrt(1/8) */
    assert_int_equal(pick(s, 5, 7, nnla_rank_tol_fro(0.0), &rep), 5);
    assert_int_equal(pick(s, 5, 7, nnla_rank_tol_fro(1.0), &rep), 1);
    assert_int_equal(pick(s, 5, 7, nnla_rank_tol_fro(1e300), &rep), 1);
    assert_int_equal(pick(s, 5, 7, nnla_rank_tol_2(0.5), &rep), 1); /* s2 / s1 = 0.5: tie met */
    assert_int_equal(pick(s, 5, 7, nnla_rank_tol_2(0.49), &rep), 5); /* the tied tail s2..s5: all or none */
    assert_int_equal(pick(s, 5, 7, nnla_rank_fixed(3), &rep), 3);
    /* the report of k = 3 */
    assert_int_equal(rep.m, 5);
    assert_int_equal(rep.n, 7);
    assert_int_equal(rep.params_before, 35);
    assert_int_equal(rep.params_after, 36);
    assert_true(rep.norm_fro == sqrt(8.0));
    assert_true(rep.norm_2 == 2.0);
    assert_true(rep.err_fro == sqrt(2.0));
    assert_true(rep.err_fro_rel == 0.5);
    assert_true(rep.err_2 == 1.0 && rep.err_2_rel == 0.5);
    assert_true(rep.energy == 0.75);
    assert_int_equal(rep.exact, 1);
    assert_int_equal(rep.rule_met, 1);
    /* k = r: no error at all */
    assert_int_equal(pick(s, 5, 7, nnla_rank_fixed(5), &rep), 5);
    assert_true(rep.err_fro == 0.0 && rep.err_2 == 0.0 && rep.err_fro_rel == 0.0 && rep.energy == 1.0);

    /* a flat spectrum: ties everywhere */
    const double f[4] = {1, 1, 1, 1};
    assert_int_equal(pick(f, 4, 4, nnla_rank_energy(0.5), &rep), 2);
    assert_int_equal(pick(f, 4, 4, nnla_rank_energy(0.75), &rep), 3);
    assert_int_equal(pick(f, 4, 4, nnla_rank_energy(0.7500001), &rep), 4);
    assert_int_equal(pick(f, 4, 4, nnla_rank_tol_2(0.999), &rep), 4);
    assert_int_equal(pick(f, 4, 4, nnla_rank_tol_2(1.0), &rep), 1);

    /* rank-deficient: exact zeros end the spectrum */
    const double d[4] = {3, 2, 0, 0};
    assert_int_equal(pick(d, 4, 9, nnla_rank_energy(1.0), &rep), 2);
    assert_int_equal(pick(d, 4, 9, nnla_rank_tol_fro(0.0), &rep), 2);
    assert_int_equal(pick(d, 4, 9, nnla_rank_tol_2(0.0), &rep), 2);
    assert_true(rep.err_fro == 0.0 && rep.err_2 == 0.0);

    /* A = 0: every rule keeps one term, every error is 0 */
    const double z[3] = {0, 0, 0};
    nnla_rank_rule rules[4] = {nnla_rank_energy(1.0), nnla_rank_tol_fro(0.0), nnla_rank_tol_2(0.0),
                               nnla_rank_fixed(2)};
    for (int i = 0; i < 4; i++) {
        size_t k = pick(z, 3, 3, rules[i], &rep);
        assert_int_equal(k, i == 3 ? 2 : 1);
        assert_true(rep.norm_fro == 0.0 && rep.err_fro == 0.0 && rep.err_fro_rel == 0.0 && rep.err_2_rel == 0.0);
        assert_true(rep.energy == 1.0);
    }

    /* a cap stops a rule and says so */
    const double c[4] = {4, 3, 2, 1};
    assert_int_equal(pick(c, 4, 4, capped(nnla_rank_energy(1.0), 2), &rep), 2);
    assert_int_equal(rep.rule_met, 0);
    assert_true(rep.err_fro == sqrt(5.0) && rep.err_2 == 2.0);
    assert_int_equal(pick(c, 4, 4, capped(nnla_rank_energy(0.6), 2), &rep), 2); /* 16 < 18 <= 16 + 9: met at 2 */
    assert_int_equal(rep.rule_met, 1);
    assert_int_equal(pick(c, 4, 4, capped(nnla_rank_energy(0.6), 3), &rep), 2);
    assert_int_equal(rep.rule_met, 1);

    /* extreme scales: no overflow, no underflow of what matters */
    const double big[3] = {1e300, 1e300, 1e-300};
    assert_int_equal(pick(big, 3, 3, nnla_rank_fixed(2), &rep), 2);
    assert_true(fabs(rep.norm_fro - sqrt(2.0) * 1e300) <= 4 * EPS * rep.norm_fro);
    assert_true(rep.err_fro == 1e-300 && rep.err_2 == 1e-300);
    assert_int_equal(pick(big, 3, 3, nnla_rank_tol_fro(1e-100), &rep), 2);
    const double tiny[2] = {3e-200, 4e-200};
    (void)tiny;
    const double tn[2] = {4e-200, 3e-200};
    assert_int_equal(pick(tn, 2, 2, nnla_rank_fixed(1), &rep), 1);
    assert_true(fabs(rep.norm_fro - 5e-200) <= 4 * EPS * 5e-200 && rep.err_fro == 3e-200);
    assert_true(fabs(rep.err_fro_rel - 0.6) <= 4 * EPS && fabs(rep.energy - 0.64) <= 8 * EPS);
}

/* The reference: the smallest k whose criterion holds, by plain long-double sums over the spectrum.
 * Returns 0 when some k's criterion lies within `margin` (relative) of its threshold. */
static size_t reference_rank(const double *s, size_t r, nnla_rank_rule rule, double margin)
{
    long double total = 0.0L;
    for (size_t i = 0; i < r; i++) total += (long double)s[i] * s[i];
    for (size_t k = 1; k <= r; k++) {
        long double tail = 0.0L;
        for (size_t i = k; i < r; i++) tail += (long double)s[i] * s[i];
        long double lhs, thr;
        if (rule.kind == NNLA_RANK_ENERGY) {
            lhs = tail;
            thr = (1.0L - rule.value) * total;
        } else if (rule.kind == NNLA_RANK_TOL_FRO) {
            lhs = sqrtl(tail);
            thr = rule.value * sqrtl(total);
        } else {
            lhs = k < r ? s[k] : 0.0L;
            thr = rule.value * s[0];
        }
        if (fabsl(lhs - thr) <= margin * (fabsl(thr) + fabsl(lhs))) return 0;
        if (lhs <= thr) return k;
    }
    return r;
}

static void test_select_random_spectra(void **state)
{
    (void)state;
    nnla_test_rng rng = {11};
    size_t checked = 0;
    for (int trial = 0; trial < 400; trial++) {
        size_t r = nnla_test_int(&rng, 1, 60), m = r + nnla_test_int(&rng, 0, 5);
        double *s = xmalloc(r);
        int shape = trial % 4;
        for (size_t i = 0; i < r; i++) {
            double x = (double)i;
            s[i] = shape == 0 ? pow(0.8, x) : shape == 1 ? 1.0 / (1.0 + x) : shape == 2 ? nnla_test_uniform(&rng, 0, 1)
                                                                                    : exp(-0.05 * x * x);
        }
        for (size_t i = 0; i < r; i++) /* sort descending */
            for (size_t j = i + 1; j < r; j++)
                if (s[j] > s[i]) {
                    double t = s[i];
                    s[i] = s[j];
                    s[j] = t;
                }
        nnla_rank_rule rules[3] = {nnla_rank_energy(nnla_test_uniform(&rng, 0.01, 1.0)),
                                   nnla_rank_tol_fro(nnla_test_uniform(&rng, 0.0, 0.9)),
                                   nnla_rank_tol_2(nnla_test_uniform(&rng, 0.0, 0.9))};
        for (int j = 0; j < 3; j++) {
            size_t want = reference_rank(s, r, rules[j], 1e-12);
            if (want == 0) continue;
            nnla_lowrank_report rep;
            assert_status(nnla_lowrank_select(s, m, r, rules[j], &rep), NNLA_OK);
            if (rep.rank != want) fail_msg("trial %d rule %d: k = %zu, reference %zu", trial, j, rep.rank, want);
            checked++;
        }
        free(s);
    }
    assert_true(checked > 1000);
}

/* ------------------------------------------------------------------ Eckart-Young on matrices */

/* nnla_lowrank (exact, fixed k) on a: the identities, the product, the factors' structure. */
static void check_eckart_young(nnla_cmat a, size_t k, const char *label)
{
    size_t m = a.rows, n = a.cols, r = min_sz(m, n), pad = 3;
    double *l = xmalloc(m * (k + pad)), *rr = xmalloc(k * (n + pad)), *ak = xmalloc(m * (n + pad));
    fill_value(l, m * (k + pad), SENTINEL);
    fill_value(rr, k * (n + pad), SENTINEL);
    fill_value(ak, m * (n + pad), SENTINEL);
    nnla_mat L = nnla_mat_view(l, m, k, k + pad), R = nnla_mat_view(rr, k, n, n + pad),
             AK = nnla_mat_view(ak, m, n, n + pad);
    size_t bytes;
    assert_status(nnla_lowrank_workspace_size(m, n, nnla_rank_fixed(k), NULL, &bytes), NNLA_OK);
    double *work = xmalloc(bytes / sizeof(double) + 1);
    nnla_lowrank_report rep;
    nnla_status st = nnla_lowrank(a, nnla_rank_fixed(k), NULL, L, R, AK, work, bytes, &rep);
    if (st != NNLA_OK) fail_msg("%s: %s", label, nnla_status_name(st));
    assert_int_equal(rep.rank, k);
    double s1 = rep.norm_2, fro, two;
    residual_norms(a, nnla_cmat_of(L), nnla_cmat_of(R), k, &fro, &two);
    /* a few eps of s1 (of ||A - A_k||_F for the Frobenius norm when larger) when A - A_k is more than
     * rounding; max(m, n) eps s1 when it is only rounding (k >= the numerical rank: the direct
     * residual is then the reconstruction's own error) */
    int rounding = !(rep.err_2 > 1e-8 * s1);
    double tol2 = (rounding ? (double)max_sz(m, n) : EY_C) * EPS * s1 + DBL_MIN;
    double tolf = rounding ? tol2 : EY_C * EPS * (s1 > rep.err_fro ? s1 : rep.err_fro);
    if (!(fabs(fro - rep.err_fro) <= tolf && fabs(two - rep.err_2) <= tol2))
        fail_msg("%s k=%zu: ||A-A_k||_F %.17g vs report %.17g, ||.||_2 %.17g vs %.17g (tol %.3g, %.3g)", label, k,
                 fro, rep.err_fro, two, rep.err_2, tolf, tol2);
    /* the product is L R */
    double *lr = xmalloc(m * n);
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            double x = 0.0;
            for (size_t t = 0; t < k; t++) x += l[i * (k + pad) + t] * rr[t * (n + pad) + j];
            lr[i * n + j] = x;
        }
    assert_mat_close(nnla_cmat_of(AK), nnla_cmat_view(lr, m, n, n), 0.0, 4.0 * (double)k * EPS * s1 + DBL_MIN);
    /* L^T L = R R^T = diag(s_1..s_k): U and V orthonormal, the root of S split evenly */
    nnla_lowrank_report sel;
    double *sv = xmalloc(r);
    nnla_mat z = nnla_mat_view(NULL, 0, 0, 0);
    assert_status(nnla_svd_alloc(NNLA_SVD_VALUES, a, sv, z, z, NULL), NNLA_OK);
    for (size_t p = 0; p < k; p++)
        for (size_t q = 0; q < k; q++) {
            double gl = 0.0, gr = 0.0;
            for (size_t i = 0; i < m; i++) gl += l[i * (k + pad) + p] * l[i * (k + pad) + q];
            for (size_t j = 0; j < n; j++) gr += rr[p * (n + pad) + j] * rr[q * (n + pad) + j];
            double want = p == q ? sv[p] : 0.0, t2 = ORTH_C * (double)max_sz(m, n) * EPS * s1 + DBL_MIN;
            if (!(fabs(gl - want) <= t2 && fabs(gr - want) <= t2))
                fail_msg("%s: (L^T L)[%zu][%zu] = %.17g, (R R^T) = %.17g, want %.17g", label, p, q, gl, gr, want);
        }
    /* the report is nnla_lowrank_select's on the values-only spectrum (another dgesdd job: the two
     * spectra agree to ~max(m, n) eps s1, as in test_linalg) */
    assert_status(nnla_lowrank_select(sv, m, n, nnla_rank_fixed(k), &sel), NNLA_OK);
    double tolx = 4.0 * (double)max_sz(m, n) * EPS * s1;
    if (!(fabs(sel.err_fro - rep.err_fro) <= tolx && fabs(sel.err_2 - rep.err_2) <= tolx))
        fail_msg("%s k=%zu: select on the values-only spectrum: %.3g, %.3g eps s1 apart", label, k,
                 fabs(sel.err_fro - rep.err_fro) / (EPS * s1), fabs(sel.err_2 - rep.err_2) / (EPS * s1));
    assert_int_equal(rep.params_before, m * n);
    assert_int_equal(rep.params_after, k * (m + n));
    /* padding untouched */
    for (size_t i = 0; i < m; i++)
        for (size_t j = k; j < k + pad; j++) assert_true(l[i * (k + pad) + j] == SENTINEL);
    for (size_t i = 0; i < k; i++)
        for (size_t j = n; j < n + pad; j++) assert_true(rr[i * (n + pad) + j] == SENTINEL);
    for (size_t i = 0; i < m; i++)
        for (size_t j = n; j < n + pad; j++) assert_true(ak[i * (n + pad) + j] == SENTINEL);
    free(sv);
    free(lr);
    free(work);
    free(l);
    free(rr);
    free(ak);
}

static void test_eckart_young_random(void **state)
{
    (void)state;
    nnla_test_rng rng = {21};
    static const size_t shapes[][2] = {{1, 1}, {1, 7}, {6, 1}, {9, 5}, {5, 9}, {17, 17}, {40, 23}, {23, 41}, {64, 48}};
    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
        size_t m = shapes[t][0], n = shapes[t][1], ld = n + 5, r = min_sz(m, n);
        double *a = xmalloc(m * ld);
        fill_value(a, m * ld, NAN); /* the padding is never read */
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < n; j++) a[i * ld + j] = nnla_test_uniform(&rng, -1, 1);
        double *a0 = xmalloc(m * ld);
        memcpy(a0, a, m * ld * sizeof(double));
        size_t ks[3] = {1, (r + 1) / 2, r};
        char label[64];
        for (int i = 0; i < 3; i++) {
            snprintf(label, sizeof label, "random %zux%zu", m, n);
            check_eckart_young(nnla_cmat_view(a, m, n, ld), ks[i], label);
        }
        assert_memory_equal(a, a0, m * ld * sizeof(double));
        free(a);
        free(a0);
    }
}

static void test_eckart_young_rank_deficient(void **state)
{
    (void)state;
    nnla_test_rng rng = {22};
    static const size_t shapes[][3] = {{30, 20, 5}, {20, 30, 5}, {25, 25, 1}, {40, 12, 11}};
    for (size_t t = 0; t < 4; t++) {
        size_t m = shapes[t][0], n = shapes[t][1], rho = shapes[t][2], ld = n + 2;
        double *g = xmalloc(m * rho), *h = xmalloc(rho * n), *a = xmalloc(m * ld);
        for (size_t i = 0; i < m * rho; i++) g[i] = nnla_test_normal(&rng);
        for (size_t i = 0; i < rho * n; i++) h[i] = nnla_test_normal(&rng);
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < n; j++) {
                double x = 0.0;
                for (size_t p = 0; p < rho; p++) x += g[i * rho + p] * h[p * n + j];
                a[i * ld + j] = x;
            }
        nnla_cmat A = nnla_cmat_view(a, m, n, ld);
        char label[64];
        snprintf(label, sizeof label, "rank %zu, %zux%zu", rho, m, n);
        check_eckart_young(A, rho, label);
        check_eckart_young(A, rho > 1 ? rho - 1 : 1, label);
        check_eckart_young(A, min_sz(m, n), label);
        /* a tolerance far above rounding and far below s_rho finds the rank */
        double *l = xmalloc(m * min_sz(m, n)), *r = xmalloc(min_sz(m, n) * n);
        nnla_lowrank_report rep;
        assert_status(nnla_lowrank_alloc(A, nnla_rank_tol_fro(1e-9), NULL,
                                         nnla_mat_view(l, m, min_sz(m, n), min_sz(m, n)),
                                         nnla_mat_view(r, min_sz(m, n), n, n), nnla_mat_view(NULL, 0, 0, 0), &rep),
                      NNLA_OK);
        assert_int_equal(rep.rank, rho);
        assert_true(rep.err_fro_rel <= 1e-13 && rep.rule_met);
        assert_status(nnla_lowrank_alloc(A, nnla_rank_tol_2(1e-9), NULL,
                                         nnla_mat_view(l, m, min_sz(m, n), min_sz(m, n)),
                                         nnla_mat_view(r, min_sz(m, n), n, n), nnla_mat_view(NULL, 0, 0, 0), &rep),
                      NNLA_OK);
        assert_int_equal(rep.rank, rho);
        free(l);
        free(r);
        free(g);
        free(h);
        free(a);
    }
}

/* Rules on a matrix with a known spectrum pick the same k as on the spectrum itself. */
static void test_lowrank_rules_on_matrix(void **state)
{
    (void)state;
    nnla_test_rng rng = {23};
    size_t m = 30, n = 20, r = 20, ld = 21;
    double sigma[20], *a = xmalloc(m * ld);
    for (size_t i = 0; i < r; i++) sigma[i] = pow(0.6, (double)i);
    make_matrix(&rng, sigma, m, n, a, ld);
    nnla_cmat A = nnla_cmat_view(a, m, n, ld);
    nnla_rank_rule rules[6] = {nnla_rank_energy(0.9),  nnla_rank_energy(0.999),  nnla_rank_tol_fro(0.1),
                               nnla_rank_tol_fro(1e-3), nnla_rank_tol_2(0.05), nnla_rank_tol_2(1e-4)};
    double *l = xmalloc(m * r), *rr = xmalloc(r * n);
    for (int i = 0; i < 6; i++) {
        nnla_lowrank_report want, got;
        assert_status(nnla_lowrank_select(sigma, m, n, rules[i], &want), NNLA_OK);
        assert_status(nnla_lowrank_alloc(A, rules[i], NULL, nnla_mat_view(l, m, r, r), nnla_mat_view(rr, r, n, n),
                                         nnla_mat_view(NULL, 0, 0, 0), &got),
                      NNLA_OK);
        assert_int_equal(got.rank, want.rank);
        assert_true(fabs(got.err_fro - want.err_fro) <= 64 * EPS && fabs(got.err_2 - want.err_2) <= 64 * EPS);
        assert_true(got.exact == 1 && got.rule_met == 1);
    }
    free(l);
    free(rr);
    free(a);
}

/* nnla_lowrank_factors on nnla_svd's output is nnla_lowrank's exact path, bit for bit. */
static void test_factors_from_svd(void **state)
{
    (void)state;
    nnla_test_rng rng = {24};
    size_t m = 13, n = 8, r = 8, k = 3;
    double a[13 * 8], s[8], u[13 * 8], vt[8 * 8], l[13 * 3], rr[3 * 8], l2[13 * 3], r2[3 * 8];
    nnla_test_fill(&rng, a, m * n, -1, 1);
    nnla_cmat A = nnla_cmat_view(a, m, n, n);
    assert_status(nnla_svd_alloc(NNLA_SVD_THIN, A, s, nnla_mat_view(u, m, r, r), nnla_mat_view(vt, r, n, n), NULL),
                  NNLA_OK);
    assert_status(nnla_lowrank_factors(nnla_cmat_view(u, m, r, r), s, nnla_cmat_view(vt, r, n, n), k,
                                       nnla_mat_view(l, m, k, k), nnla_mat_view(rr, k, n, n)),
                  NNLA_OK);
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < k; j++) assert_true(l[i * k + j] == u[i * r + j] * sqrt(s[j]));
    for (size_t j = 0; j < k; j++)
        for (size_t c = 0; c < n; c++) assert_true(rr[j * n + c] == sqrt(s[j]) * vt[j * n + c]);
    nnla_lowrank_report rep;
    assert_status(nnla_lowrank_alloc(A, nnla_rank_fixed(k), NULL, nnla_mat_view(l2, m, k, k),
                                     nnla_mat_view(r2, k, n, n), nnla_mat_view(NULL, 0, 0, 0), &rep),
                  NNLA_OK);
    assert_memory_equal(l, l2, sizeof l);
    assert_memory_equal(rr, r2, sizeof rr);
    /* a full SVD works too (only the first k columns / rows are read) */
    double uf[13 * 13], vf[8 * 8];
    assert_status(nnla_svd_alloc(NNLA_SVD_FULL, A, s, nnla_mat_view(uf, m, m, m), nnla_mat_view(vf, n, n, n), NULL),
                  NNLA_OK);
    assert_status(nnla_lowrank_factors(nnla_cmat_view(uf, m, m, m), s, nnla_cmat_view(vf, n, n, n), k,
                                       nnla_mat_view(l2, m, k, k), nnla_mat_view(r2, k, n, n)),
                  NNLA_OK);
    double fro;
    residual_norms(A, nnla_cmat_view(l2, m, k, k), nnla_cmat_view(r2, k, n, n), k, &fro, NULL);
    assert_true(fabs(fro - rep.err_fro) <= EY_C * 13 * EPS * s[0]);
}

/* ------------------------------------------------------------------ randomized SVD */

typedef struct rs_out {
    double *s, *u, *vt;
} rs_out;

static nnla_status run_rsvd(nnla_cmat a, size_t k, size_t p, size_t q, uint64_t seed, rs_out *o,
                            nnla_rsvd_info *info)
{
    size_t m = a.rows, n = a.cols, bytes;
    o->s = o->u = o->vt = NULL;
    nnla_status st = nnla_rsvd_workspace_size(NNLA_SVD_THIN, m, n, k, p, &bytes);
    if (st != NNLA_OK) return st;
    void *w = malloc(bytes);
    assert_non_null(w);
    o->s = xmalloc(k);
    o->u = xmalloc(m * k);
    o->vt = xmalloc(k * n);
    st = nnla_rsvd(NNLA_SVD_THIN, a, k, p, q, seed, o->s, nnla_mat_view(o->u, m, k, k), nnla_mat_view(o->vt, k, n, n),
                   w, bytes, info);
    free(w);
    return st;
}

static void rs_free(rs_out *o)
{
    free(o->s);
    free(o->u);
    free(o->vt);
}

/* ||A - U diag(s) V^T||_2 of a randomized result. */
static double rs_err2(nnla_cmat a, const rs_out *o, size_t k)
{
    size_t m = a.rows;
    double *us = xmalloc(m * k), fro, two;
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < k; j++) us[i * k + j] = o->u[i * k + j] * o->s[j];
    residual_norms(a, nnla_cmat_view(us, m, k, k), nnla_cmat_view(o->vt, k, a.cols, a.cols), k, &fro, &two);
    free(us);
    return two;
}

/* With k + p >= min(m, n), the sketch is the whole range: the exact SVD, to rounding. */
static void test_rsvd_full_sketch_is_exact(void **state)
{
    (void)state;
    nnla_test_rng rng = {31};
    static const size_t shapes[][2] = {{12, 7}, {7, 12}, {9, 9}, {1, 5}, {5, 1}};
    for (size_t t = 0; t < 5; t++) {
        size_t m = shapes[t][0], n = shapes[t][1], r = min_sz(m, n), ld = n + 1;
        double *a = xmalloc(m * ld), *sv = xmalloc(r);
        nnla_test_fill(&rng, a, m * ld, -1, 1);
        nnla_cmat A = nnla_cmat_view(a, m, n, ld);
        nnla_mat z = nnla_mat_view(NULL, 0, 0, 0);
        assert_status(nnla_svd_alloc(NNLA_SVD_VALUES, A, sv, z, z, NULL), NNLA_OK);
        for (size_t k = 1; k <= r; k++) {
            rs_out o;
            nnla_rsvd_info info;
            assert_status(run_rsvd(A, k, 100, 1, 5, &o, &info), NNLA_OK);
            assert_int_equal(info.clamped, 1);
            assert_int_equal(info.oversample, r - k);
            assert_int_equal(info.transposed, m < n);
            assert_vec_close(o.s, sv, k, 0.0, 16 * (double)max_sz(m, n) * EPS * sv[0]);
            double e2 = rs_err2(A, &o, k), want = k < r ? sv[k] : 0.0;
            assert_true(fabs(e2 - want) <= 16 * (double)max_sz(m, n) * EPS * sv[0]);
            assert_true(orth_cols(nnla_cmat_view(o.u, m, k, k)) <= ORTH_C * (double)max_sz(m, n) * EPS);
            assert_true(orth_rows(nnla_cmat_view(o.vt, k, n, n)) <= ORTH_C * (double)max_sz(m, n) * EPS);
            rs_free(&o);
        }
        free(a);
        free(sv);
    }
}

/* Constructed spectra: ||A - A_k||_2 <= 1.1 sigma_{k+1} with q = 2; the values interlace. */
static void test_rsvd_spectra(void **state)
{
    (void)state;
    nnla_test_rng rng = {32};
    static const size_t shapes[][2] = {{240, 160}, {160, 240}};
    const size_t k = 12, p = 10, q = 2;
    for (size_t t = 0; t < 2; t++) {
        size_t m = shapes[t][0], n = shapes[t][1], r = min_sz(m, n), ld = n + 3;
        double *sigma = xmalloc(r), *a = xmalloc(m * ld);
        for (int kind = 0; kind < 4; kind++) {
            for (size_t i = 0; i < r; i++) {
                double x = (double)i;
                sigma[i] = kind == 0   ? pow(0.9, x)                          /* geometric */
                           : kind == 1 ? 1.0 / (1.0 + x)                       /* polynomial */
                           : kind == 2 ? 1.0 / ((1.0 + x) * (1.0 + x))         /* faster polynomial */
                                       : (i < k ? 1.0 / (1.0 + x) : 0.5 / (double)k); /* flat tail, gap 2 */
            }
            make_matrix(&rng, sigma, m, n, a, ld);
            nnla_cmat A = nnla_cmat_view(a, m, n, ld);
            rs_out o;
            assert_status(run_rsvd(A, k, p, q, 1234 + (uint64_t)kind, &o, NULL), NNLA_OK);
            double e2 = rs_err2(A, &o, k), ratio = e2 / sigma[k];
            if (!(ratio <= 1.1)) fail_msg("%zux%zu spectrum %d: ||A - A_k||_2 / sigma_{k+1} = %.4f", m, n, kind, ratio);
            for (size_t i = 0; i < k; i++) { /* s_i(Q^T A) <= sigma_i, and close for the leading values */
                assert_true(o.s[i] <= sigma[i] * (1 + 64 * EPS));
                assert_true(o.s[i] >= sigma[i] * 0.9);
            }
            assert_true(orth_cols(nnla_cmat_view(o.u, m, k, k)) <= ORTH_C * (double)max_sz(m, n) * EPS);
            assert_true(orth_rows(nnla_cmat_view(o.vt, k, n, n)) <= ORTH_C * (double)max_sz(m, n) * EPS);
            rs_free(&o);
        }
        free(sigma);
        free(a);
    }
}

/* The same seed gives the same bits; another seed another (equally good) result; q = 0 works. */
static void test_rsvd_deterministic(void **state)
{
    (void)state;
    nnla_test_rng rng = {33};
    size_t m = 90, n = 70, k = 8, r = 70;
    double *sigma = xmalloc(r), *a = xmalloc(m * n);
    for (size_t i = 0; i < r; i++) sigma[i] = pow(0.8, (double)i);
    make_matrix(&rng, sigma, m, n, a, n);
    nnla_cmat A = nnla_cmat_view(a, m, n, n);
    rs_out o1, o2, o3;
    assert_status(run_rsvd(A, k, 6, 2, 99, &o1, NULL), NNLA_OK);
    assert_status(run_rsvd(A, k, 6, 2, 99, &o2, NULL), NNLA_OK);
    assert_status(run_rsvd(A, k, 6, 2, 100, &o3, NULL), NNLA_OK);
    assert_memory_equal(o1.s, o2.s, k * sizeof(double));
    assert_memory_equal(o1.u, o2.u, m * k * sizeof(double));
    assert_memory_equal(o1.vt, o2.vt, k * n * sizeof(double));
    assert_true(memcmp(o1.u, o3.u, m * k * sizeof(double)) != 0);
    assert_vec_close(o3.s, o1.s, k, 1e-5, 0.0); /* sigma_{l+1} / sigma_k = 0.8^6: ~1e-7 apart */
    /* values only: the same values (another LAPACK job on the same B, so to rounding) */
    size_t bytes;
    assert_status(nnla_rsvd_workspace_size(NNLA_SVD_VALUES, m, n, k, 6, &bytes), NNLA_OK);
    double *w = xmalloc(bytes / sizeof(double) + 1), sv[8];
    nnla_mat z = nnla_mat_view(NULL, 0, 0, 0);
    assert_status(nnla_rsvd(NNLA_SVD_VALUES, A, k, 6, 2, 99, sv, z, z, w, bytes, NULL), NNLA_OK);
    assert_vec_close(sv, o1.s, k, 0.0, 16 * 90 * EPS);
    assert_status(nnla_rsvd_alloc(NNLA_SVD_VALUES, A, k, 6, 2, 99, sv, z, z, NULL), NNLA_OK);
    assert_vec_close(sv, o1.s, k, 0.0, 16 * 90 * EPS);
    free(w);
    /* no power iteration: still a valid factorization, a worse but bounded error */
    rs_out o0;
    assert_status(run_rsvd(A, k, 6, 0, 99, &o0, NULL), NNLA_OK);
    assert_true(orth_cols(nnla_cmat_view(o0.u, m, k, k)) <= ORTH_C * 90 * EPS);
    assert_true(rs_err2(A, &o0, k) <= 3.0 * sigma[k]);
    /* the allocating form gives the same bits */
    double s4[8], *u4 = xmalloc(m * k), *v4 = xmalloc(k * n);
    assert_status(nnla_rsvd_alloc(NNLA_SVD_THIN, A, k, 6, 2, 99, s4, nnla_mat_view(u4, m, k, k),
                                  nnla_mat_view(v4, k, n, n), NULL),
                  NNLA_OK);
    assert_memory_equal(u4, o1.u, m * k * sizeof(double));
    assert_memory_equal(v4, o1.vt, k * n * sizeof(double));
    free(u4);
    free(v4);
    rs_free(&o0);
    rs_free(&o1);
    rs_free(&o2);
    rs_free(&o3);
    free(sigma);
    free(a);
}

/* ------------------------------------------------------------------ nnla_lowrank, randomized */

static void test_lowrank_randomized(void **state)
{
    (void)state;
    nnla_test_rng rng = {41};
    static const size_t shapes[][2] = {{120, 80}, {80, 120}};
    for (size_t t = 0; t < 2; t++) {
        size_t m = shapes[t][0], n = shapes[t][1], r = 80, cap = 20;
        double *sigma = xmalloc(r), *a = xmalloc(m * n);
        for (size_t i = 0; i < r; i++) sigma[i] = pow(0.7, (double)i);
        make_matrix(&rng, sigma, m, n, a, n);
        nnla_cmat A = nnla_cmat_view(a, m, n, n);
        nnla_lowrank_opts opts = {1, 8, 2, 77};
        double *l = xmalloc(m * cap), *rr = xmalloc(cap * n), *ak = xmalloc(m * n);
        nnla_mat L = nnla_mat_view(l, m, cap, cap), R = nnla_mat_view(rr, cap, n, n), AK = nnla_mat_view(ak, m, n, n);
        nnla_rank_rule rules[4] = {nnla_rank_fixed(10), capped(nnla_rank_energy(0.9999), cap),
                                   capped(nnla_rank_tol_fro(1e-3), cap), capped(nnla_rank_tol_2(1e-3), cap)};
        for (int i = 0; i < 4; i++) {
            nnla_lowrank_report ex, rz;
            assert_status(nnla_lowrank_select(sigma, m, n, rules[i], &ex), NNLA_OK);
            for (int with_ak = 0; with_ak < 2; with_ak++) {
                assert_status(nnla_lowrank_alloc(A, rules[i], &opts, L, R, with_ak ? AK : nnla_mat_view(NULL, 0, 0, 0),
                                                 &rz),
                              NNLA_OK);
                assert_int_equal(rz.rank, ex.rank);
                assert_int_equal(rz.exact, 0);
                assert_int_equal(rz.rule_met, 1);
                size_t k = rz.rank;
                double fro, two;
                residual_norms(A, nnla_cmat_of(L), nnla_cmat_of(R), k, &fro, &two);
                /* err_fro is the returned factors' own error; err_2 a lower bound, here within 1e-6 */
                assert_true(fabs(fro - rz.err_fro) <= 64 * (double)m * EPS * sigma[0]);
                assert_true(rz.err_2 <= sigma[k] * (1 + 64 * EPS) && rz.err_2 >= sigma[k] * (1 - 1e-6));
                assert_true(two <= 1.1 * sigma[k]);
                assert_true(fabs(rz.norm_fro - ex.norm_fro) <= 64 * EPS * ex.norm_fro);
                assert_true(fabs(rz.err_fro - ex.err_fro) <= 1e-6 * ex.err_fro);
                if (with_ak) {
                    double *lr = xmalloc(m * n);
                    for (size_t ii = 0; ii < m; ii++)
                        for (size_t j = 0; j < n; j++) {
                            double x = 0.0;
                            for (size_t p = 0; p < k; p++) x += l[ii * cap + p] * rr[p * n + j];
                            lr[ii * n + j] = x;
                        }
                    assert_mat_close(nnla_cmat_of(AK), nnla_cmat_view(lr, m, n, n), 0.0, 64 * EPS);
                    free(lr);
                }
            }
        }
        /* a cap below what the rule needs: k = cap, rule_met = 0 */
        nnla_lowrank_report rep;
        assert_status(nnla_lowrank_alloc(A, capped(nnla_rank_tol_2(1e-12), 5), &opts, L, R,
                                         nnla_mat_view(NULL, 0, 0, 0), &rep),
                      NNLA_OK);
        assert_int_equal(rep.rank, 5);
        assert_int_equal(rep.rule_met, 0);
        /* no cap: the sketch is the whole range, the rule is met exactly */
        double *lf = xmalloc(m * r), *rf = xmalloc(r * n);
        assert_status(nnla_lowrank_alloc(A, nnla_rank_tol_2(1e-3), &opts, nnla_mat_view(lf, m, r, r),
                                         nnla_mat_view(rf, r, n, n), nnla_mat_view(NULL, 0, 0, 0), &rep),
                      NNLA_OK);
        assert_true(rep.rule_met && rep.rank == 20); /* 0.7^20 = 8e-4 */
        free(lf);
        free(rf);
        free(l);
        free(rr);
        free(ak);
        free(sigma);
        free(a);
    }
}

/* ------------------------------------------------------------------ bad input */

typedef struct bufs {
    double a[6 * 5], l[6 * 5], r[5 * 5], ak[6 * 5], s[8], u[6 * 5], vt[5 * 5];
    double a0[6 * 5], l0[6 * 5], r0[5 * 5], ak0[6 * 5], s0[8], u0[6 * 5], vt0[5 * 5];
    nnla_lowrank_report rep, rep0;
    nnla_rsvd_info info, info0;
} bufs;

static void bufs_reset(bufs *b)
{
    for (int i = 0; i < 30; i++) b->a[i] = sin(1.0 + i);
    fill_value(b->l, 30, SENTINEL);
    fill_value(b->r, 25, SENTINEL + 1);
    fill_value(b->ak, 30, SENTINEL + 2);
    fill_value(b->s, 8, SENTINEL + 3);
    fill_value(b->u, 30, SENTINEL + 4);
    fill_value(b->vt, 25, SENTINEL + 5);
    memset(&b->rep, 0x5a, sizeof b->rep);
    memset(&b->info, 0x5b, sizeof b->info);
    memcpy(b->a0, b->a, sizeof b->a);
    memcpy(b->l0, b->l, sizeof b->l);
    memcpy(b->r0, b->r, sizeof b->r);
    memcpy(b->ak0, b->ak, sizeof b->ak);
    memcpy(b->s0, b->s, sizeof b->s);
    memcpy(b->u0, b->u, sizeof b->u);
    memcpy(b->vt0, b->vt, sizeof b->vt);
    memcpy(&b->rep0, &b->rep, sizeof b->rep);
    memcpy(&b->info0, &b->info, sizeof b->info);
}

static void bufs_untouched(const bufs *b, int line)
{
    if (memcmp(b->a, b->a0, sizeof b->a) || memcmp(b->l, b->l0, sizeof b->l) || memcmp(b->r, b->r0, sizeof b->r) ||
        memcmp(b->ak, b->ak0, sizeof b->ak) || memcmp(b->s, b->s0, sizeof b->s) || memcmp(b->u, b->u0, sizeof b->u) ||
        memcmp(b->vt, b->vt0, sizeof b->vt) || memcmp(&b->rep, &b->rep0, sizeof b->rep) ||
        memcmp(&b->info, &b->info0, sizeof b->info))
        fail_msg("line %d: an output (or the input) was modified by a failing call", line);
}

#define BAD(expr, status)                                                                                    \
    do {                                                                                                     \
        bufs_reset(&B);                                                                                      \
        assert_status((expr), (status));                                                                     \
        bufs_untouched(&B, __LINE__);                                                                        \
    } while (0)

static void test_select_bad_input(void **state)
{
    (void)state;
    static bufs B;
    const double s[4] = {4, 3, 2, 1};
    BAD(nnla_lowrank_select(NULL, 4, 4, nnla_rank_fixed(1), &B.rep), NNLA_ENULL);
    BAD(nnla_lowrank_select(s, 4, 4, nnla_rank_fixed(1), NULL), NNLA_ENULL);
    BAD(nnla_lowrank_select(s, 0, 4, nnla_rank_fixed(1), &B.rep), NNLA_EDIM);
    BAD(nnla_lowrank_select(s, 4, 0, nnla_rank_fixed(1), &B.rep), NNLA_EDIM);
    BAD(nnla_lowrank_select(s, 4, 4, nnla_rank_fixed(0), &B.rep), NNLA_EDIM);
    BAD(nnla_lowrank_select(s, 4, 9, nnla_rank_fixed(5), &B.rep), NNLA_EDIM);
    BAD(nnla_lowrank_select(s, 4, 9, capped(nnla_rank_energy(0.5), 5), &B.rep), NNLA_EDIM);
    BAD(nnla_lowrank_select(s, 4, 4, nnla_rank_energy(0.0), &B.rep), NNLA_EINVAL);
    BAD(nnla_lowrank_select(s, 4, 4, nnla_rank_energy(-0.5), &B.rep), NNLA_EINVAL);
    BAD(nnla_lowrank_select(s, 4, 4, nnla_rank_energy(1.0000001), &B.rep), NNLA_EINVAL);
    BAD(nnla_lowrank_select(s, 4, 4, nnla_rank_energy(NAN), &B.rep), NNLA_EINVAL);
    BAD(nnla_lowrank_select(s, 4, 4, nnla_rank_tol_fro(-1e-300), &B.rep), NNLA_EINVAL);
    BAD(nnla_lowrank_select(s, 4, 4, nnla_rank_tol_fro(NAN), &B.rep), NNLA_EINVAL);
    BAD(nnla_lowrank_select(s, 4, 4, nnla_rank_tol_2(INFINITY), &B.rep), NNLA_EINVAL);
    BAD(nnla_lowrank_select(s, 4, 4, nnla_rank_tol_2(-1.0), &B.rep), NNLA_EINVAL);
    nnla_rank_rule unknown = nnla_rank_fixed(1);
    unknown.kind = (nnla_rank_kind)9;
    BAD(nnla_lowrank_select(s, 4, 4, unknown, &B.rep), NNLA_EINVAL);
    const double asc[4] = {1, 2, 3, 4}, neg[4] = {4, 3, 2, -1}, nan[4] = {4, NAN, 2, 1}, inf[4] = {INFINITY, 3, 2, 1};
    BAD(nnla_lowrank_select(asc, 4, 4, nnla_rank_fixed(1), &B.rep), NNLA_EINVAL);
    BAD(nnla_lowrank_select(neg, 4, 4, nnla_rank_fixed(1), &B.rep), NNLA_EINVAL);
    BAD(nnla_lowrank_select(nan, 4, 4, nnla_rank_fixed(1), &B.rep), NNLA_ENONFINITE);
    BAD(nnla_lowrank_select(inf, 4, 4, nnla_rank_fixed(1), &B.rep), NNLA_ENONFINITE);
    BAD(nnla_lowrank_select(s, SIZE_MAX / 2, 4, nnla_rank_fixed(1), &B.rep), NNLA_EOVERFLOW);
}

static void test_factors_bad_input(void **state)
{
    (void)state;
    static bufs B;
    /* u 6x5, s 5, vt 5x5, k = 2: l 6x2, r 2x5 (in B.l / B.r) */
    nnla_cmat U = nnla_cmat_view(B.u, 6, 5, 5), VT = nnla_cmat_view(B.vt, 5, 5, 5);
    nnla_mat L = nnla_mat_view(B.l, 6, 2, 2), R = nnla_mat_view(B.r, 2, 5, 5);
    bufs_reset(&B);
    for (int i = 0; i < 5; i++) B.s[i] = 5.0 - i;
    double sgood[5] = {5, 4, 3, 2, 1};
    (void)sgood;
#define FBAD(expr, status)                                                                                   \
    do {                                                                                                     \
        bufs_reset(&B);                                                                                      \
        for (int i_ = 0; i_ < 5; i_++) B.s[i_] = B.s0[i_] = 5.0 - i_;                                         \
        assert_status((expr), (status));                                                                     \
        bufs_untouched(&B, __LINE__);                                                                        \
    } while (0)
    FBAD(nnla_lowrank_factors(nnla_cmat_view(NULL, 6, 5, 5), B.s, VT, 2, L, R), NNLA_ENULL);
    FBAD(nnla_lowrank_factors(U, NULL, VT, 2, L, R), NNLA_ENULL);
    FBAD(nnla_lowrank_factors(U, B.s, VT, 2, nnla_mat_view(NULL, 6, 2, 2), R), NNLA_ENULL);
    FBAD(nnla_lowrank_factors(U, B.s, VT, 0, L, R), NNLA_EDIM);
    FBAD(nnla_lowrank_factors(U, B.s, VT, 6, nnla_mat_view(B.l, 6, 6, 6), nnla_mat_view(B.r, 5, 5, 5)), NNLA_EDIM);
    FBAD(nnla_lowrank_factors(U, B.s, nnla_cmat_view(B.vt, 1, 5, 5), 2, L, R), NNLA_EDIM);
    FBAD(nnla_lowrank_factors(U, B.s, VT, 2, nnla_mat_view(B.l, 6, 2, 1), R), NNLA_ELD);
    FBAD(nnla_lowrank_factors(U, B.s, VT, 2, nnla_mat_view(B.l, 5, 2, 2), R), NNLA_ESHAPE);
    FBAD(nnla_lowrank_factors(U, B.s, VT, 2, nnla_mat_view(B.l, 6, 3, 3), R), NNLA_ESHAPE);
    FBAD(nnla_lowrank_factors(U, B.s, VT, 2, L, nnla_mat_view(B.r, 2, 4, 5)), NNLA_ESHAPE);
    FBAD(nnla_lowrank_factors(U, B.s, VT, 2, L, nnla_mat_view(B.u, 2, 5, 5)), NNLA_EALIAS);
    FBAD(nnla_lowrank_factors(U, B.s, VT, 2, nnla_mat_view(B.r + 5, 6, 2, 2), R), NNLA_EALIAS);
    {
        bufs_reset(&B);
        double bad[5] = {5, -1, 3, 2, 1}, nanv[5] = {5, NAN, 3, 2, 1};
        assert_status(nnla_lowrank_factors(U, bad, VT, 2, L, R), NNLA_EINVAL);
        bufs_untouched(&B, __LINE__);
        assert_status(nnla_lowrank_factors(U, nanv, VT, 2, L, R), NNLA_ENONFINITE);
        bufs_untouched(&B, __LINE__);
        assert_status(nnla_lowrank_factors(U, bad, VT, 1, nnla_mat_view(B.l, 6, 1, 1), nnla_mat_view(B.r, 1, 5, 5)),
                      NNLA_OK); /* only the first k values are read */
    }
#undef FBAD
}

static void test_lowrank_bad_input(void **state)
{
    (void)state;
    static bufs B;
    nnla_cmat A = nnla_cmat_view(B.a, 6, 5, 5);
    nnla_mat L = nnla_mat_view(B.l, 6, 5, 5), R = nnla_mat_view(B.r, 5, 5, 5), AK = nnla_mat_view(B.ak, 6, 5, 5),
             Z = nnla_mat_view(NULL, 0, 0, 0);
    nnla_rank_rule e = nnla_rank_energy(0.9);
    nnla_lowrank_opts ro = {1, 2, 1, 3};
    size_t bytes, rbytes;
    assert_status(nnla_lowrank_workspace_size(6, 5, e, NULL, &bytes), NNLA_OK);
    assert_status(nnla_lowrank_workspace_size(6, 5, e, &ro, &rbytes), NNLA_OK);
    double *w = xmalloc(bytes / sizeof(double) + 1), *rw = xmalloc(rbytes / sizeof(double) + 1);
    /* good calls first */
    bufs_reset(&B);
    assert_status(nnla_lowrank(A, e, NULL, L, R, AK, w, bytes, &B.rep), NNLA_OK);
    assert_status(nnla_lowrank(A, e, &ro, L, R, Z, rw, rbytes, &B.rep), NNLA_OK);
    assert_status(nnla_lowrank(A, nnla_rank_fixed(2), NULL, nnla_mat_view(B.l, 6, 2, 2), nnla_mat_view(B.r, 2, 5, 5),
                               Z, w, bytes, &B.rep),
                  NNLA_OK);

    BAD(nnla_lowrank(nnla_cmat_view(NULL, 6, 5, 5), e, NULL, L, R, AK, w, bytes, &B.rep), NNLA_ENULL);
    BAD(nnla_lowrank(A, e, NULL, nnla_mat_view(NULL, 6, 5, 5), R, AK, w, bytes, &B.rep), NNLA_ENULL);
    BAD(nnla_lowrank(A, e, NULL, L, R, AK, NULL, bytes, &B.rep), NNLA_ENULL);
    BAD(nnla_lowrank(A, e, NULL, L, R, AK, w, bytes, NULL), NNLA_ENULL);
    BAD(nnla_lowrank(nnla_cmat_view(B.a, 0, 5, 5), e, NULL, L, R, AK, w, bytes, &B.rep), NNLA_EDIM);
    BAD(nnla_lowrank(nnla_cmat_view(B.a, 6, 5, 4), e, NULL, L, R, AK, w, bytes, &B.rep), NNLA_ELD);
    BAD(nnla_lowrank(A, e, NULL, L, R, nnla_mat_view(B.ak, 6, 5, 3), w, bytes, &B.rep), NNLA_ELD);
    /* k = 0, k > min(m, n), a cap above min(m, n) */
    BAD(nnla_lowrank(A, nnla_rank_fixed(0), NULL, L, R, AK, w, bytes, &B.rep), NNLA_EDIM);
    BAD(nnla_lowrank(A, nnla_rank_fixed(6), NULL, nnla_mat_view(B.l, 6, 5, 5), R, AK, w, bytes, &B.rep), NNLA_EDIM);
    BAD(nnla_lowrank(A, capped(e, 6), NULL, L, R, AK, w, bytes, &B.rep), NNLA_EDIM);
    /* energy outside (0, 1], negative or NaN tolerance, unknown kind, randomized without oversampling */
    BAD(nnla_lowrank(A, nnla_rank_energy(0.0), NULL, L, R, AK, w, bytes, &B.rep), NNLA_EINVAL);
    BAD(nnla_lowrank(A, nnla_rank_energy(1.5), NULL, L, R, AK, w, bytes, &B.rep), NNLA_EINVAL);
    BAD(nnla_lowrank(A, nnla_rank_tol_fro(-0.1), NULL, L, R, AK, w, bytes, &B.rep), NNLA_EINVAL);
    BAD(nnla_lowrank(A, nnla_rank_tol_2(NAN), NULL, L, R, AK, w, bytes, &B.rep), NNLA_EINVAL);
    nnla_rank_rule unknown = e;
    unknown.kind = (nnla_rank_kind)-3;
    BAD(nnla_lowrank(A, unknown, NULL, L, R, AK, w, bytes, &B.rep), NNLA_EINVAL);
    nnla_lowrank_opts p0 = {1, 0, 2, 3};
    BAD(nnla_lowrank(A, e, &p0, L, R, AK, rw, rbytes, &B.rep), NNLA_EINVAL);
    /* outputs too small for the largest k the rule may give, or of the wrong shape */
    BAD(nnla_lowrank(A, e, NULL, nnla_mat_view(B.l, 6, 4, 5), R, AK, w, bytes, &B.rep), NNLA_ESHAPE);
    BAD(nnla_lowrank(A, e, NULL, L, nnla_mat_view(B.r, 4, 5, 5), AK, w, bytes, &B.rep), NNLA_ESHAPE);
    BAD(nnla_lowrank(A, capped(e, 3), NULL, nnla_mat_view(B.l, 6, 2, 2), R, AK, w, bytes, &B.rep), NNLA_ESHAPE);
    BAD(nnla_lowrank(A, e, NULL, nnla_mat_view(B.l, 5, 5, 5), R, AK, w, bytes, &B.rep), NNLA_ESHAPE);
    BAD(nnla_lowrank(A, e, NULL, L, nnla_mat_view(B.r, 5, 4, 5), AK, w, bytes, &B.rep), NNLA_ESHAPE);
    BAD(nnla_lowrank(A, e, NULL, L, R, nnla_mat_view(B.ak, 5, 5, 5), w, bytes, &B.rep), NNLA_ESHAPE);
    /* the workspace, one byte short */
    BAD(nnla_lowrank(A, e, NULL, L, R, AK, w, bytes - 1, &B.rep), NNLA_EWORKSPACE);
    BAD(nnla_lowrank(A, e, &ro, L, R, AK, rw, rbytes - 1, &B.rep), NNLA_EWORKSPACE);
    BAD(nnla_lowrank(A, e, &ro, L, R, AK, w, bytes, &B.rep), bytes < rbytes ? NNLA_EWORKSPACE : NNLA_OK);
    /* overlaps */
    BAD(nnla_lowrank(A, e, NULL, L, nnla_mat_view(B.l + 2, 5, 5, 5), AK, w, bytes, &B.rep), NNLA_EALIAS);
    BAD(nnla_lowrank(A, e, NULL, L, R, nnla_mat_view(B.a, 6, 5, 5), w, bytes, &B.rep), NNLA_EALIAS);
    BAD(nnla_lowrank(A, e, NULL, L, R, AK, B.r, sizeof B.r, &B.rep), NNLA_EALIAS);
    BAD(nnla_lowrank(A, e, NULL, L, R, AK, w, bytes, (nnla_lowrank_report *)(void *)B.l), NNLA_EALIAS);
    /* NaN / Inf in A, on both paths */
    const double badv[3] = {NAN, INFINITY, -INFINITY};
    for (int v = 0; v < 3; v++)
        for (int spot = 0; spot < 30; spot += 29) {
            bufs_reset(&B);
            B.a[spot] = badv[v];
            memcpy(B.a0, B.a, sizeof B.a);
            assert_status(nnla_lowrank(A, e, NULL, L, R, AK, w, bytes, &B.rep), NNLA_ENONFINITE);
            bufs_untouched(&B, __LINE__);
            assert_status(nnla_lowrank(A, e, &ro, L, R, AK, rw, rbytes, &B.rep), NNLA_ENONFINITE);
            bufs_untouched(&B, __LINE__);
        }
    /* sizes beyond LAPACK's int (fake views: nothing may be read first) */
    BAD(nnla_lowrank(nnla_cmat_view(B.a, (size_t)INT_MAX + 1, 1, 1), nnla_rank_fixed(1), NULL,
                     nnla_mat_view(B.l, (size_t)INT_MAX + 1, 1, 1), nnla_mat_view(B.r, 1, 1, 1), Z, w, bytes, &B.rep),
        NNLA_EOVERFLOW);
    BAD(nnla_lowrank(nnla_cmat_view(B.a, 50000, 50000, 50000), nnla_rank_fixed(1), NULL,
                     nnla_mat_view(B.l, 50000, 1, 1), nnla_mat_view(B.r, 1, 50000, 50000), Z, w, bytes, &B.rep),
        NNLA_EOVERFLOW);
    /* the workspace query and the allocating form check the same things */
    size_t qb = 77;
    assert_status(nnla_lowrank_workspace_size(6, 5, e, NULL, NULL), NNLA_ENULL);
    assert_status(nnla_lowrank_workspace_size(0, 5, e, NULL, &qb), NNLA_EDIM);
    assert_status(nnla_lowrank_workspace_size(6, 5, nnla_rank_fixed(6), NULL, &qb), NNLA_EDIM);
    assert_status(nnla_lowrank_workspace_size(6, 5, nnla_rank_energy(2.0), NULL, &qb), NNLA_EINVAL);
    assert_status(nnla_lowrank_workspace_size(6, 5, e, &p0, &qb), NNLA_EINVAL);
    assert_int_equal(qb, 77);
    BAD(nnla_lowrank_alloc(A, nnla_rank_fixed(0), NULL, L, R, AK, &B.rep), NNLA_EDIM);
    BAD(nnla_lowrank_alloc(A, e, NULL, L, R, nnla_mat_view(B.ak, 6, 4, 5), &B.rep), NNLA_ESHAPE);
    BAD(nnla_lowrank_alloc(A, e, NULL, L, R, AK, NULL), NNLA_ENULL);
    BAD(nnla_lowrank_alloc(A, e, NULL, L, nnla_mat_view(B.ak, 5, 5, 5), AK, &B.rep), NNLA_EALIAS);
    free(w);
    free(rw);
}

static void test_rsvd_bad_input(void **state)
{
    (void)state;
    static bufs B;
    nnla_cmat A = nnla_cmat_view(B.a, 6, 5, 5);
    nnla_mat U = nnla_mat_view(B.u, 6, 2, 2), VT = nnla_mat_view(B.vt, 2, 5, 5), Z = nnla_mat_view(NULL, 0, 0, 0);
    nnla_svd_job T = NNLA_SVD_THIN;
    size_t bytes, vbytes;
    assert_status(nnla_rsvd_workspace_size(T, 6, 5, 2, 2, &bytes), NNLA_OK);
    assert_status(nnla_rsvd_workspace_size(NNLA_SVD_VALUES, 6, 5, 2, 2, &vbytes), NNLA_OK);
    double *w = xmalloc(bytes / sizeof(double) + 1), *wv = xmalloc(vbytes / sizeof(double) + 1);
    bufs_reset(&B);
    assert_status(nnla_rsvd(T, A, 2, 2, 1, 9, B.s, U, VT, w, bytes, &B.info), NNLA_OK);
    assert_status(nnla_rsvd(NNLA_SVD_VALUES, A, 2, 2, 1, 9, B.s, Z, Z, wv, vbytes, NULL), NNLA_OK);

    BAD(nnla_rsvd(T, nnla_cmat_view(NULL, 6, 5, 5), 2, 2, 1, 9, B.s, U, VT, w, bytes, &B.info), NNLA_ENULL);
    BAD(nnla_rsvd(T, A, 2, 2, 1, 9, NULL, U, VT, w, bytes, &B.info), NNLA_ENULL);
    BAD(nnla_rsvd(T, A, 2, 2, 1, 9, B.s, nnla_mat_view(NULL, 6, 2, 2), VT, w, bytes, &B.info), NNLA_ENULL);
    BAD(nnla_rsvd(T, A, 2, 2, 1, 9, B.s, U, VT, NULL, bytes, &B.info), NNLA_ENULL);
    BAD(nnla_rsvd(T, nnla_cmat_view(B.a, 6, 0, 5), 2, 2, 1, 9, B.s, U, VT, w, bytes, &B.info), NNLA_EDIM);
    BAD(nnla_rsvd(T, nnla_cmat_view(B.a, 6, 5, 2), 2, 2, 1, 9, B.s, U, VT, w, bytes, &B.info), NNLA_ELD);
    BAD(nnla_rsvd(NNLA_SVD_FULL, A, 2, 2, 1, 9, B.s, U, VT, w, bytes, &B.info), NNLA_EINVAL);
    BAD(nnla_rsvd((nnla_svd_job)5, A, 2, 2, 1, 9, B.s, U, VT, w, bytes, &B.info), NNLA_EINVAL);
    BAD(nnla_rsvd(T, A, 0, 2, 1, 9, B.s, U, VT, w, bytes, &B.info), NNLA_EDIM);
    BAD(nnla_rsvd(T, A, 6, 2, 1, 9, B.s, nnla_mat_view(B.u, 6, 5, 5), nnla_mat_view(B.vt, 5, 5, 5), w, bytes,
                  &B.info),
        NNLA_EDIM);
    BAD(nnla_rsvd(T, A, 2, 2, 1, 9, B.s, nnla_mat_view(B.u, 6, 3, 3), VT, w, bytes, &B.info), NNLA_ESHAPE);
    BAD(nnla_rsvd(T, A, 2, 2, 1, 9, B.s, U, nnla_mat_view(B.vt, 2, 4, 5), w, bytes, &B.info), NNLA_ESHAPE);
    BAD(nnla_rsvd(T, A, 2, 2, 1, 9, B.s, U, VT, w, bytes - 1, &B.info), NNLA_EWORKSPACE);
    BAD(nnla_rsvd(NNLA_SVD_VALUES, A, 2, 2, 1, 9, B.s, Z, Z, wv, vbytes - 1, &B.info), NNLA_EWORKSPACE);
    BAD(nnla_rsvd(T, A, 2, 2, 1, 9, B.s, U, nnla_mat_view(B.u + 4, 2, 5, 5), w, bytes, &B.info), NNLA_EALIAS);
    BAD(nnla_rsvd(T, A, 2, 2, 1, 9, B.a + 3, U, VT, w, bytes, &B.info), NNLA_EALIAS);
    BAD(nnla_rsvd(T, A, 2, 2, 1, 9, B.s, U, VT, B.u, sizeof B.u, &B.info), NNLA_EALIAS);
    const double badv[3] = {NAN, INFINITY, -INFINITY};
    for (int v = 0; v < 3; v++)
        for (int spot = 0; spot < 30; spot += 7) {
            bufs_reset(&B);
            B.a[spot] = badv[v];
            memcpy(B.a0, B.a, sizeof B.a);
            assert_status(nnla_rsvd(T, A, 2, 2, 1, 9, B.s, U, VT, w, bytes, &B.info), NNLA_ENONFINITE);
            bufs_untouched(&B, __LINE__);
            assert_status(nnla_rsvd(NNLA_SVD_VALUES, A, 2, 2, 0, 9, B.s, Z, Z, wv, vbytes, &B.info),
                          NNLA_ENONFINITE);
            bufs_untouched(&B, __LINE__);
            /* the transposed path (A^T, 5 x 6 view of the same memory) */
            assert_status(nnla_rsvd(NNLA_SVD_VALUES, nnla_cmat_view(B.a, 5, 6, 6), 2, 2, 0, 9, B.s, Z, Z, wv, vbytes,
                                    &B.info),
                          NNLA_ENONFINITE);
            bufs_untouched(&B, __LINE__);
        }
    {   /* finite, but the products overflow */
        bufs_reset(&B);
        for (int i = 0; i < 30; i++) B.a[i] = 1e308;
        memcpy(B.a0, B.a, sizeof B.a);
        assert_status(nnla_rsvd(T, A, 2, 2, 1, 9, B.s, U, VT, w, bytes, &B.info), NNLA_ENONFINITE);
        bufs_untouched(&B, __LINE__);
    }
    BAD(nnla_rsvd(T, nnla_cmat_view(B.a, (size_t)INT_MAX + 1, 1, 1), 1, 0, 1, 9, B.s,
                  nnla_mat_view(B.u, (size_t)INT_MAX + 1, 1, 1), nnla_mat_view(B.vt, 1, 1, 1), w, bytes, &B.info),
        NNLA_EOVERFLOW);
    BAD(nnla_rsvd(NNLA_SVD_VALUES, nnla_cmat_view(B.a, 50000000, 50, 50), 40, 10, 1, 9, B.s, Z, Z, w, bytes, &B.info),
        NNLA_EOVERFLOW); /* big x l = 2.5e9 > INT_MAX */
    /* queries and the allocating form */
    size_t qb = 5;
    assert_status(nnla_rsvd_workspace_size(T, 6, 5, 2, 2, NULL), NNLA_ENULL);
    assert_status(nnla_rsvd_workspace_size(NNLA_SVD_FULL, 6, 5, 2, 2, &qb), NNLA_EINVAL);
    assert_status(nnla_rsvd_workspace_size(T, 0, 5, 2, 2, &qb), NNLA_EDIM);
    assert_status(nnla_rsvd_workspace_size(T, 6, 5, 0, 2, &qb), NNLA_EDIM);
    assert_status(nnla_rsvd_workspace_size(T, 6, 5, 6, 2, &qb), NNLA_EDIM);
    assert_int_equal(qb, 5);
    assert_status(nnla_rsvd_workspace_size(T, 6, 5, 5, 1000, &qb), NNLA_OK); /* p clamped */
    BAD(nnla_rsvd_alloc(T, A, 0, 2, 1, 9, B.s, U, VT, &B.info), NNLA_EDIM);
    BAD(nnla_rsvd_alloc(T, A, 2, 2, 1, 9, B.s, U, nnla_mat_view(B.vt, 3, 5, 5), &B.info), NNLA_ESHAPE);
    BAD(nnla_rsvd_alloc(T, A, 2, 2, 1, 9, B.s, U, nnla_mat_view(B.u + 1, 2, 5, 5), &B.info), NNLA_EALIAS);
    free(w);
    free(wv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_select_exact_values),   cmocka_unit_test(test_select_random_spectra),
        cmocka_unit_test(test_eckart_young_random),   cmocka_unit_test(test_eckart_young_rank_deficient),
        cmocka_unit_test(test_lowrank_rules_on_matrix), cmocka_unit_test(test_factors_from_svd),
        cmocka_unit_test(test_rsvd_full_sketch_is_exact), cmocka_unit_test(test_rsvd_spectra),
        cmocka_unit_test(test_rsvd_deterministic),    cmocka_unit_test(test_lowrank_randomized),
        cmocka_unit_test(test_select_bad_input),      cmocka_unit_test(test_factors_bad_input),
        cmocka_unit_test(test_lowrank_bad_input),     cmocka_unit_test(test_rsvd_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
