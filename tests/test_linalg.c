/*
 * linalg: SVD, symmetric eigendecomposition and spectral reconstruction.
 *
 * Tolerances (eps = DBL_EPSILON), stated once and used throughout:
 *   SVD residual      ||A - U S V^T||_F / (||A||_F max(m, n) eps)      < RES_C (10)
 *   orthogonality     ||Q^T Q - I||_F  / (max(m, n) eps)                < RES_C
 *   eigen residual    ||A V - V diag(w)||_F / (||A||_F n eps)           < RES_C
 *   reconstruction    ||A - sum lambda_i u_i u_i^T||_F / (||A||_F n eps) < RES_C
 *   closed forms      entrywise |x - x_exact| <= CF_C (16) eps * scale of the matrix
 * Reference values come from closed forms, or from the plain cyclic Jacobi eigensolver below
 * (independent of LAPACK) applied to A or A^T A.
 *
 * The dgesvd fallback: no real matrix that makes dgesdd report info > 0 with this LAPACK (3.11,
 * in OpenBLAS 0.3.21) is known to us, so the fallback is exercised by *simulating* that report:
 * this program defines LAPACKE_dgesdd_work itself, which takes precedence over liblapacke's
 * definition (ELF symbol interposition: libnnla.so resolves the symbol through the executable
 * first). The wrapper calls the real routine through dlsym(RTLD_NEXT) and, when asked, then
 * spoils its outputs and returns info = 1, exactly what a non-converged dgesdd returns. If the
 * interposition does not take effect (a platform without it), those tests are skipped.
 */
#define _GNU_SOURCE /* RTLD_NEXT */
#include "testutil.h"

#include <dlfcn.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lapacke.h>

#define EPS DBL_EPSILON
#define RES_C 10.0
#define CF_C 16.0

/* ------------------------------------------------------------------ LAPACK interposition */

static int fake_gesdd_fail, fake_gesvd_fail, fake_syevd_fail;
static int calls_gesdd, calls_gesvd, calls_syevd;

typedef lapack_int (*gesdd_fn)(int, char, lapack_int, lapack_int, double *, lapack_int, double *, double *,
                               lapack_int, double *, lapack_int, double *, lapack_int, lapack_int *);
typedef lapack_int (*gesvd_fn)(int, char, char, lapack_int, lapack_int, double *, lapack_int, double *,
                               double *, lapack_int, double *, lapack_int, double *, lapack_int);
typedef lapack_int (*syevd_fn)(int, char, char, lapack_int, double *, lapack_int, double *, double *,
                               lapack_int, lapack_int *, lapack_int);

static void *next_symbol(const char *name)
{
    void *p = dlsym(RTLD_NEXT, name);
    if (p == NULL) { /* liblapacke not among the objects after this one: open it by name */
        static void *lib;
        if (lib == NULL) lib = dlopen("liblapacke.so.3", RTLD_NOW | RTLD_LOCAL);
        if (lib != NULL) p = dlsym(lib, name);
    }
    if (p == NULL) fail_msg("cannot find the real %s", name);
    return p;
}

lapack_int LAPACKE_dgesdd_work(int layout, char jobz, lapack_int m, lapack_int n, double *a, lapack_int lda,
                               double *s, double *u, lapack_int ldu, double *vt, lapack_int ldvt,
                               double *work, lapack_int lwork, lapack_int *iwork)
{
    gesdd_fn real;
    void *sym = next_symbol("LAPACKE_dgesdd_work");
    memcpy(&real, &sym, sizeof real);
    lapack_int info = real(layout, jobz, m, n, a, lda, s, u, ldu, vt, ldvt, work, lwork, iwork);
    if (lwork == -1) return info;
    calls_gesdd++;
    if (fake_gesdd_fail && info == 0) {
        /* spoil what a failed run might leave behind, then report non-convergence */
        for (lapack_int i = 0; i < (m < n ? m : n); i++) s[i] = NAN;
        a[0] = NAN;
        return 1;
    }
    return info;
}

lapack_int LAPACKE_dgesvd_work(int layout, char jobu, char jobvt, lapack_int m, lapack_int n, double *a,
                               lapack_int lda, double *s, double *u, lapack_int ldu, double *vt,
                               lapack_int ldvt, double *work, lapack_int lwork)
{
    gesvd_fn real;
    void *sym = next_symbol("LAPACKE_dgesvd_work");
    memcpy(&real, &sym, sizeof real);
    lapack_int info = real(layout, jobu, jobvt, m, n, a, lda, s, u, ldu, vt, ldvt, work, lwork);
    if (lwork == -1) return info;
    calls_gesvd++;
    if (fake_gesvd_fail && info == 0) return 1;
    return info;
}

lapack_int LAPACKE_dsyevd_work(int layout, char jobz, char uplo, lapack_int n, double *a, lapack_int lda,
                               double *w, double *work, lapack_int lwork, lapack_int *iwork,
                               lapack_int liwork)
{
    syevd_fn real;
    void *sym = next_symbol("LAPACKE_dsyevd_work");
    memcpy(&real, &sym, sizeof real);
    lapack_int info = real(layout, jobz, uplo, n, a, lda, w, work, lwork, iwork, liwork);
    if (lwork == -1 || liwork == -1) return info;
    calls_syevd++;
    if (fake_syevd_fail && info == 0) return 1;
    return info;
}

/* ------------------------------------------------------------------ helpers */

#define AT(m, i, j) ((m).data[(size_t)(i) * (m).ld + (size_t)(j)])

static double *xmalloc(size_t n)
{
    double *p = malloc((n ? n : 1) * sizeof *p);
    assert_non_null(p);
    return p;
}

/* A sentinel value: finite, unusual, easy to spot. */
#define SENTINEL (-12345.678)

static void fill_value(double *x, size_t n, double v)
{
    for (size_t i = 0; i < n; i++) x[i] = v;
}

/* Cyclic Jacobi eigenvalues of a symmetric n x n matrix (packed rows), ascending. Independent of
 * LAPACK; accurate to about eps * ||A||_F in absolute terms. */
static void jacobi_eigvals(size_t n, const double *a_in, double *w)
{
    double *a = xmalloc(n * n);
    memcpy(a, a_in, n * n * sizeof *a);
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0.0, tot = 0.0;
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < n; j++) {
                tot += a[i * n + j] * a[i * n + j];
                if (i != j) off += a[i * n + j] * a[i * n + j];
            }
        if (off <= 1e-34 * tot || off == 0.0) break;
        for (size_t p = 0; p < n; p++)
            for (size_t q = p + 1; q < n; q++) {
                double apq = a[p * n + q];
                if (apq == 0.0) continue;
                double theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                double t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1.0));
                double c = 1.0 / sqrt(t * t + 1.0), s = t * c;
                for (size_t k = 0; k < n; k++) { /* columns p, q */
                    double akp = a[k * n + p], akq = a[k * n + q];
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for (size_t k = 0; k < n; k++) { /* rows p, q */
                    double apk = a[p * n + k], aqk = a[q * n + k];
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
            }
    }
    for (size_t i = 0; i < n; i++) w[i] = a[i * n + i];
    for (size_t i = 1; i < n; i++) /* insertion sort, ascending */
        for (size_t j = i; j > 0 && w[j - 1] > w[j]; j--) {
            double t = w[j];
            w[j] = w[j - 1];
            w[j - 1] = t;
        }
    free(a);
}

/* G = A^T A (n x n) when transpose_first, else A A^T (m x m); packed. */
static void gram(nnla_cmat a, int ata, double *g)
{
    size_t d = ata ? a.cols : a.rows, len = ata ? a.rows : a.cols;
    for (size_t i = 0; i < d; i++)
        for (size_t j = 0; j < d; j++) {
            double s = 0.0;
            for (size_t p = 0; p < len; p++) s += ata ? AT(a, p, i) * AT(a, p, j) : AT(a, i, p) * AT(a, j, p);
            g[i * d + j] = s;
        }
}

/* ||A - U[:, :k] diag(s) Vt[:k, :]||_F */
static double svd_residual(nnla_cmat a, const double *s, nnla_cmat u, nnla_cmat vt, size_t k)
{
    double r = 0.0;
    for (size_t i = 0; i < a.rows; i++)
        for (size_t j = 0; j < a.cols; j++) {
            double x = AT(a, i, j);
            for (size_t t = 0; t < k; t++) x -= AT(u, i, t) * s[t] * AT(vt, t, j);
            r += x * x;
        }
    return sqrt(r);
}

/* ||Q^T Q - I||_F (columns orthonormal) */
static double orth_cols(nnla_cmat q)
{
    double r = 0.0;
    for (size_t i = 0; i < q.cols; i++)
        for (size_t j = 0; j < q.cols; j++) {
            double x = (i == j) ? -1.0 : 0.0;
            for (size_t p = 0; p < q.rows; p++) x += AT(q, p, i) * AT(q, p, j);
            r += x * x;
        }
    return sqrt(r);
}

/* ||Q Q^T - I||_F (rows orthonormal) */
static double orth_rows(nnla_cmat q)
{
    double r = 0.0;
    for (size_t i = 0; i < q.rows; i++)
        for (size_t j = 0; j < q.rows; j++) {
            double x = (i == j) ? -1.0 : 0.0;
            for (size_t p = 0; p < q.cols; p++) x += AT(q, i, p) * AT(q, j, p);
            r += x * x;
        }
    return sqrt(r);
}

/* ||A V - V diag(w)||_F */
static double eig_residual(nnla_cmat a, const double *w, nnla_cmat v)
{
    size_t n = a.rows;
    double r = 0.0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            double x = -AT(v, i, j) * w[j];
            for (size_t p = 0; p < n; p++) x += AT(a, i, p) * AT(v, p, j);
            r += x * x;
        }
    return sqrt(r);
}

/* The rank-1 term s_t u_t v_t^T (m x n, packed): free of the sign ambiguity of u_t and v_t. */
static void svd_term(nnla_cmat u, const double *s, nnla_cmat vt, size_t t, double *out)
{
    for (size_t i = 0; i < u.rows; i++)
        for (size_t j = 0; j < vt.cols; j++) out[i * vt.cols + j] = s[t] * AT(u, i, t) * AT(vt, t, j);
}

/* The rank-1 term lambda_t v_t v_t^T (n x n, packed), v_t = column t of V. */
static void eig_term(nnla_cmat v, const double *w, size_t t, double *out)
{
    size_t n = v.rows;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) out[i * n + j] = w[t] * AT(v, i, t) * AT(v, j, t);
}

/* An exact-size workspace (so ASan sees any overrun), deliberately misaligned by `skew` bytes. */
typedef struct ws {
    unsigned char *raw;
    void *p;
    size_t n;
} ws;

static ws ws_make(size_t bytes, size_t skew)
{
    ws w;
    w.raw = malloc(bytes + skew);
    assert_non_null(w.raw);
    w.p = w.raw + skew;
    w.n = bytes;
    return w;
}

static void ws_free(ws *w) { free(w->raw); }

/* ------------------------------------------------------------------ SVD: one full check */

/*
 * Run nnla_svd with every job on A and check: status, driver, descending s, residual,
 * orthogonality, padding untouched, A untouched, the three jobs agreeing, and s against the
 * Jacobi reference of the Gram matrix. Returns nothing; fails the test on any violation.
 */
static void check_svd_all_jobs(nnla_cmat a, size_t pad, size_t skew, const char *label)
{
    size_t m = a.rows, n = a.cols, k = m < n ? m : n, mx = m < n ? n : m;
    double anorm = nnla_test_fro(a);
    double *acopy = xmalloc((a.rows - 1) * a.ld + a.cols);
    memcpy(acopy, a.data, ((a.rows - 1) * a.ld + a.cols) * sizeof(double));
    double *sv[3];
    for (int job = 0; job < 3; job++) {
        size_t ucols = job == NNLA_SVD_FULL ? m : k, vtrows = job == NNLA_SVD_FULL ? n : k;
        size_t uld = ucols + pad, vtld = n + pad;
        double *ub = xmalloc(m * uld), *vtb = xmalloc(vtrows * vtld);
        fill_value(ub, m * uld, SENTINEL);
        fill_value(vtb, vtrows * vtld, SENTINEL);
        sv[job] = xmalloc(k);
        nnla_mat u = nnla_mat_view(ub, m, ucols, uld), vt = nnla_mat_view(vtb, vtrows, n, vtld);
        nnla_mat zero = nnla_mat_view(NULL, 0, 0, 0);
        size_t bytes = 0;
        assert_status(nnla_svd_workspace_size((nnla_svd_job)job, m, n, &bytes), NNLA_OK);
        ws w = ws_make(bytes, skew);
        nnla_svd_driver drv = (nnla_svd_driver)77;
        nnla_status st =
            nnla_svd((nnla_svd_job)job, a, sv[job], job ? u : zero, job ? vt : zero, w.p, w.n, &drv);
        if (st != NNLA_OK) fail_msg("%s: job %d: %s", label, job, nnla_status_name(st));
        assert_int_equal(drv, NNLA_SVD_DRIVER_GESDD);
        for (size_t i = 0; i < k; i++) {
            assert_true(sv[job][i] >= 0.0);
            if (i) assert_true(sv[job][i - 1] >= sv[job][i]);
        }
        if (job != NNLA_SVD_VALUES) {
            double res = svd_residual(a, sv[job], nnla_cmat_of(u), nnla_cmat_of(vt), k);
            double ratio = anorm > 0 ? res / (anorm * (double)mx * EPS) : res;
            double ou = orth_cols(nnla_cmat_of(u)) / ((double)mx * EPS);
            double ov = orth_rows(nnla_cmat_of(vt)) / ((double)mx * EPS);
            if (!(ratio < RES_C && ou < RES_C && ov < RES_C))
                fail_msg("%s: job %d: residual %.3g, U orth %.3g, Vt orth %.3g (limit %g)", label, job, ratio,
                         ou, ov, RES_C);
            if (job == NNLA_SVD_FULL) { /* square orthogonal: rows too */
                assert_true(orth_rows(nnla_cmat_of(u)) / ((double)mx * EPS) < RES_C);
                assert_true(orth_cols(nnla_cmat_of(vt)) / ((double)mx * EPS) < RES_C);
            }
            for (size_t i = 0; i < m; i++) /* padding untouched */
                for (size_t j = ucols; j < uld; j++) assert_true(ub[i * uld + j] == SENTINEL);
            for (size_t i = 0; i < vtrows; i++)
                for (size_t j = n; j < vtld; j++) assert_true(vtb[i * vtld + j] == SENTINEL);
        }
        ws_free(&w);
        free(ub);
        free(vtb);
    }
    assert_memory_equal(a.data, acopy, ((a.rows - 1) * a.ld + a.cols) * sizeof(double));
    /* the jobs agree */
    double s0 = sv[0][0];
    assert_vec_close(sv[1], sv[0], k, 0.0, 4.0 * (double)mx * EPS * s0 + DBL_MIN);
    assert_vec_close(sv[2], sv[0], k, 0.0, 4.0 * (double)mx * EPS * s0 + DBL_MIN);
    /* s^2 against the Jacobi eigenvalues of the smaller Gram matrix (absolute, ~ eps ||A||_F^2);
     * skipped for extreme scales, where forming A^T A would under- or overflow */
    if (anorm < 1e-100 || anorm > 1e100) {
        for (int job = 0; job < 3; job++) free(sv[job]);
        free(acopy);
        return;
    }
    double *g = xmalloc(k * k), *lam = xmalloc(k), *s2 = xmalloc(k);
    gram(a, n <= m, g);
    jacobi_eigvals(k, g, lam);
    for (size_t i = 0; i < k; i++) s2[i] = sv[0][i] * sv[0][i];
    for (size_t i = 0; i < k / 2; i++) { /* descending */
        double t = lam[i];
        lam[i] = lam[k - 1 - i];
        lam[k - 1 - i] = t;
    }
    assert_vec_close(s2, lam, k, 0.0, 4.0 * (double)(mx + k) * EPS * anorm * anorm + DBL_MIN);
    free(g);
    free(lam);
    free(s2);
    for (int job = 0; job < 3; job++) free(sv[job]);
    free(acopy);
}

/* ------------------------------------------------------------------ SVD tests */

static void test_svd_workspace_size(void **state)
{
    (void)state;
    size_t b = 0, bv = 0, bt = 0, bf = 0;
    assert_status(nnla_svd_workspace_size(NNLA_SVD_VALUES, 7, 5, &bv), NNLA_OK);
    assert_status(nnla_svd_workspace_size(NNLA_SVD_THIN, 7, 5, &bt), NNLA_OK);
    assert_status(nnla_svd_workspace_size(NNLA_SVD_FULL, 7, 5, &bf), NNLA_OK);
    /* at least the copy of A and the minimal dgesdd work (LAPACK's documented minima) */
    assert_true(bv >= 35 * sizeof(double) + (3 * 5 + 7 * 5) * sizeof(double));
    assert_true(bt >= 35 * sizeof(double) + (4 * 25 + 7 * 5) * sizeof(double));
    assert_true(bf >= bt && bt >= bv);
    b = 999;
    assert_status(nnla_svd_workspace_size(NNLA_SVD_THIN, 7, 5, NULL), NNLA_ENULL);
    assert_status(nnla_svd_workspace_size((nnla_svd_job)3, 7, 5, &b), NNLA_EINVAL);
    assert_status(nnla_svd_workspace_size((nnla_svd_job)-1, 7, 5, &b), NNLA_EINVAL);
    assert_status(nnla_svd_workspace_size(NNLA_SVD_THIN, 0, 5, &b), NNLA_EDIM);
    assert_status(nnla_svd_workspace_size(NNLA_SVD_THIN, 7, 0, &b), NNLA_EDIM);
    assert_status(nnla_svd_workspace_size(NNLA_SVD_THIN, (size_t)INT_MAX + 1, 1, &b), NNLA_EOVERFLOW);
    assert_status(nnla_svd_workspace_size(NNLA_SVD_VALUES, 1, (size_t)INT_MAX + 1, &b), NNLA_EOVERFLOW);
    assert_status(nnla_svd_workspace_size(NNLA_SVD_THIN, 50000, 50000, &b), NNLA_EOVERFLOW); /* m*n */
    assert_status(nnla_svd_workspace_size(NNLA_SVD_VALUES, 1, INT_MAX, &b), NNLA_EOVERFLOW); /* lwork */
    assert_status(nnla_svd_workspace_size(NNLA_SVD_FULL, 50000, 2, &b), NNLA_EOVERFLOW);     /* m*m */
    assert_status(nnla_svd_workspace_size(NNLA_SVD_THIN, 30000, 30000, &b), NNLA_EOVERFLOW); /* 4k^2 */
    assert_status(nnla_svd_workspace_size((nnla_svd_job)3, 0, 0, &b), NNLA_EINVAL);
    assert_true(b == 999); /* untouched on failure */
    /* large but fine, values only: m*n fits int and LAPACK's work is linear */
    assert_status(nnla_svd_workspace_size(NNLA_SVD_VALUES, 30000, 30000, &b), NNLA_OK);
    assert_true(b > (size_t)30000 * 30000 * sizeof(double));
}

/* Diagonal, with mixed signs and unsorted entries, embedded in a wide matrix. */
static void test_svd_diagonal(void **state)
{
    (void)state;
    const double d[4] = {3.0, -7.0, 0.5, 2.0};
    const double want[4] = {7.0, 3.0, 2.0, 0.5};
    const size_t where[4] = {1, 0, 3, 2}; /* the diagonal position of each sorted value */
    double a[4 * 6] = {0}, s[4], u[16], vt[36];
    for (int i = 0; i < 4; i++) a[i * 6 + i] = d[i];
    nnla_cmat A = nnla_cmat_view(a, 4, 6, 6);
    assert_status(
        nnla_svd_alloc(NNLA_SVD_FULL, A, s, nnla_mat_view(u, 4, 4, 4), nnla_mat_view(vt, 6, 6, 6), NULL),
        NNLA_OK);
    assert_vec_close(s, want, 4, CF_C * EPS, 0.0);
    for (size_t t = 0; t < 4; t++) {
        size_t p = where[t];
        /* u_t = +-e_p, v_t = +-e_p, and the product of the signs is the sign of d_p */
        assert_true(fabs(fabs(u[p * 4 + t]) - 1.0) <= CF_C * EPS);
        assert_true(fabs(u[p * 4 + t] * vt[t * 6 + p] - (d[p] > 0 ? 1.0 : -1.0)) <= CF_C * EPS);
    }
    check_svd_all_jobs(A, 0, 0, "diagonal 4x6");
}

/* Rank one: A = x y^T has sigma_1 = |x| |y| and sigma_2.. = 0, with u_1 = +-x/|x|, v_1 = +-y/|y|. */
static void test_svd_rank1(void **state)
{
    (void)state;
    const double x[5] = {1, -2, 0.5, 3, 1}, y[3] = {2, -1, 2};
    double a[15], s[3], u[15], vt[9], term[15];
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 3; j++) a[i * 3 + j] = x[i] * y[j];
    double nx = sqrt(1 + 4 + 0.25 + 9 + 1), ny = 3.0;
    nnla_cmat A = nnla_cmat_view(a, 5, 3, 3);
    nnla_mat U = nnla_mat_view(u, 5, 3, 3), VT = nnla_mat_view(vt, 3, 3, 3);
    assert_status(nnla_svd_alloc(NNLA_SVD_THIN, A, s, U, VT, NULL), NNLA_OK);
    assert_true(fabs(s[0] - nx * ny) <= CF_C * EPS * nx * ny);
    assert_true(s[1] <= CF_C * EPS * s[0] && s[2] <= CF_C * EPS * s[0]);
    svd_term(nnla_cmat_of(U), s, nnla_cmat_of(VT), 0, term); /* the first term is A itself */
    assert_vec_close(term, a, 15, 0.0, CF_C * EPS * nx * ny);
    for (int i = 0; i < 5; i++) assert_true(fabs(fabs(u[i * 3]) - fabs(x[i]) / nx) <= CF_C * EPS);
    check_svd_all_jobs(A, 2, 5, "rank-1 5x3");
}

/* A rotation has singular values 1, 1; R(t) diag(5, 2) R(p)^T has 5, 2 with u_1 = +-(cos t, sin t). */
static void test_svd_rotation(void **state)
{
    (void)state;
    double t = 0.7, p = -1.9, s[2], u[4], vt[4];
    double r[4] = {cos(t), -sin(t), sin(t), cos(t)};
    assert_status(nnla_svd_alloc(NNLA_SVD_THIN, nnla_cmat_view(r, 2, 2, 2), s, nnla_mat_view(u, 2, 2, 2),
                                 nnla_mat_view(vt, 2, 2, 2), NULL),
                  NNLA_OK);
    assert_vec_close(s, ((double[2]){1, 1}), 2, 0.0, CF_C * EPS);
    check_svd_all_jobs(nnla_cmat_view(r, 2, 2, 2), 0, 0, "rotation");
    /* B = R(t) diag(5, 2) R(p)^T */
    double ct = cos(t), st = sin(t), cp = cos(p), sp = sin(p);
    double b[4] = {5 * ct * cp + 2 * st * sp, 5 * ct * sp - 2 * st * cp, 5 * st * cp - 2 * ct * sp,
                   5 * st * sp + 2 * ct * cp};
    assert_status(nnla_svd_alloc(NNLA_SVD_THIN, nnla_cmat_view(b, 2, 2, 2), s, nnla_mat_view(u, 2, 2, 2),
                                 nnla_mat_view(vt, 2, 2, 2), NULL),
                  NNLA_OK);
    assert_vec_close(s, ((double[2]){5, 2}), 2, CF_C * EPS, 0.0);
    assert_true(fabs(fabs(u[0]) - fabs(ct)) <= CF_C * EPS && fabs(fabs(u[2]) - fabs(st)) <= CF_C * EPS);
    assert_true(fabs(u[0] * vt[0] - ct * cp) <= CF_C * EPS); /* common sign of the pair */
}

/* Hand-worked: [[3, 0], [4, 5]]: A^T A = [[25, 20], [20, 25]], sigma = 3 sqrt 5, sqrt 5,
 * u_1 = (1, 3)/sqrt 10, v_1 = (1, 1)/sqrt 2, so sigma_1 u_1 v_1^T = [[1.5, 1.5], [4.5, 4.5]]. */
static void test_svd_hand_2x2(void **state)
{
    (void)state;
    double a[4] = {3, 0, 4, 5}, s[2], u[4], vt[4], term[4];
    nnla_mat U = nnla_mat_view(u, 2, 2, 2), VT = nnla_mat_view(vt, 2, 2, 2);
    assert_status(nnla_svd_alloc(NNLA_SVD_FULL, nnla_cmat_view(a, 2, 2, 2), s, U, VT, NULL), NNLA_OK);
    assert_vec_close(s, ((double[2]){3 * sqrt(5.0), sqrt(5.0)}), 2, CF_C * EPS, 0.0);
    svd_term(nnla_cmat_of(U), s, nnla_cmat_of(VT), 0, term);
    assert_vec_close(term, ((double[4]){1.5, 1.5, 4.5, 4.5}), 4, 0.0, CF_C * EPS * 5);
    svd_term(nnla_cmat_of(U), s, nnla_cmat_of(VT), 1, term);
    assert_vec_close(term, ((double[4]){1.5, -1.5, -0.5, 0.5}), 4, 0.0, CF_C * EPS * 5);
}

/* Hand-worked 2x3: [[3, 2, 2], [2, 3, -2]] = 5 u1 v1^T + 3 u2 v2^T with u1 = (1, 1)/sqrt 2,
 * v1 = (1, 1, 0)/sqrt 2, u2 = (1, -1)/sqrt 2, v2 = (1, -1, 4)/sqrt 18; the full V^T's last row is
 * +-(2, -2, -1)/3. And a 3x3 permutation-like case [[2, 0, 0], [0, 0, 3], [0, -1, 0]]: sigma = 3, 2, 1. */
static void test_svd_hand_2x3_3x3(void **state)
{
    (void)state;
    double a[6] = {3, 2, 2, 2, 3, -2}, s[2], u[4], vt[9], term[6];
    nnla_mat U = nnla_mat_view(u, 2, 2, 2), VT = nnla_mat_view(vt, 3, 3, 3);
    assert_status(nnla_svd_alloc(NNLA_SVD_FULL, nnla_cmat_view(a, 2, 3, 3), s, U, VT, NULL), NNLA_OK);
    assert_vec_close(s, ((double[2]){5, 3}), 2, CF_C * EPS, 0.0);
    svd_term(nnla_cmat_of(U), s, nnla_cmat_of(VT), 0, term);
    assert_vec_close(term, ((double[6]){2.5, 2.5, 0, 2.5, 2.5, 0}), 6, 0.0, CF_C * EPS * 5);
    svd_term(nnla_cmat_of(U), s, nnla_cmat_of(VT), 1, term);
    assert_vec_close(term, ((double[6]){0.5, -0.5, 2, -0.5, 0.5, -2}), 6, 0.0, CF_C * EPS * 5);
    double sg = vt[6] > 0 ? 1.0 : -1.0;
    assert_vec_close(vt + 6, ((double[3]){sg * 2 / 3.0, -sg * 2 / 3.0, -sg / 3.0}), 3, 0.0, CF_C * EPS);
    check_svd_all_jobs(nnla_cmat_view(a, 2, 3, 3), 1, 1, "2x3 hand");

    double b[9] = {2, 0, 0, 0, 0, 3, 0, -1, 0}, s3[3], u3[9], vt3[9], t3[9];
    nnla_mat U3 = nnla_mat_view(u3, 3, 3, 3), VT3 = nnla_mat_view(vt3, 3, 3, 3);
    assert_status(nnla_svd_alloc(NNLA_SVD_THIN, nnla_cmat_view(b, 3, 3, 3), s3, U3, VT3, NULL), NNLA_OK);
    assert_vec_close(s3, ((double[3]){3, 2, 1}), 3, CF_C * EPS, 0.0);
    svd_term(nnla_cmat_of(U3), s3, nnla_cmat_of(VT3), 0, t3);
    assert_vec_close(t3, ((double[9]){0, 0, 0, 0, 0, 3, 0, 0, 0}), 9, 0.0, CF_C * EPS * 3);
    svd_term(nnla_cmat_of(U3), s3, nnla_cmat_of(VT3), 1, t3);
    assert_vec_close(t3, ((double[9]){2, 0, 0, 0, 0, 0, 0, 0, 0}), 9, 0.0, CF_C * EPS * 3);
    svd_term(nnla_cmat_of(U3), s3, nnla_cmat_of(VT3), 2, t3);
    assert_vec_close(t3, ((double[9]){0, 0, 0, 0, 0, 0, 0, -1, 0}), 9, 0.0, CF_C * EPS * 3);
}

/* Random and structured matrices of many shapes, with ld > cols and misaligned workspaces. */
static void test_svd_residuals(void **state)
{
    (void)state;
    static const struct {
        size_t m, n, ldpad, pad, skew;
    } shapes[] = {
        {50, 20, 3, 2, 1},  {20, 50, 0, 1, 0},  {40, 40, 5, 0, 7}, {1, 7, 2, 3, 0},
        {7, 1, 0, 2, 3},    {1, 1, 1, 1, 1},    {33, 17, 4, 0, 0}, {17, 33, 0, 4, 2},
        {200, 30, 1, 0, 0}, {30, 200, 0, 0, 9}, {64, 63, 1, 1, 0}, {2, 2, 0, 0, 0},
    };
    nnla_test_rng rng = {2024};
    for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++) {
        size_t m = shapes[c].m, n = shapes[c].n, ld = n + shapes[c].ldpad;
        double *a = xmalloc(m * ld);
        nnla_test_fill(&rng, a, m * ld, -1, 1);
        char label[64];
        snprintf(label, sizeof label, "random %zux%zu ld %zu", m, n, ld);
        check_svd_all_jobs(nnla_cmat_view(a, m, n, ld), shapes[c].pad, shapes[c].skew, label);
        free(a);
    }
    /* rank-deficient: 30x20 of rank 5 (product of random 30x5 and 5x20): sigma_6.. ~ 0 */
    {
        size_t m = 30, n = 20, r = 5;
        double *b = xmalloc(m * r), *cc = xmalloc(r * n), *a = xmalloc(m * n), s[20];
        nnla_test_fill(&rng, b, m * r, -1, 1);
        nnla_test_fill(&rng, cc, r * n, -1, 1);
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < n; j++) {
                double x = 0;
                for (size_t p = 0; p < r; p++) x += b[i * r + p] * cc[p * n + j];
                a[i * n + j] = x;
            }
        nnla_cmat A = nnla_cmat_view(a, m, n, n);
        check_svd_all_jobs(A, 1, 0, "rank-deficient 30x20 rank 5");
        assert_status(nnla_svd_alloc(NNLA_SVD_VALUES, A, s, nnla_mat_view(NULL, 0, 0, 0),
                                     nnla_mat_view(NULL, 0, 0, 0), NULL),
                      NNLA_OK);
        assert_true(s[r - 1] > 1e-3 * s[0]);
        for (size_t i = r; i < n; i++) assert_true(s[i] <= 4.0 * (double)m * EPS * s[0]);
        free(b);
        free(cc);
        free(a);
    }
    /* Hilbert (ill-conditioned: cond(H_12) ~ 1.7e16), square and rectangular */
    {
        double h[12 * 12];
        for (size_t i = 0; i < 12; i++)
            for (size_t j = 0; j < 12; j++) h[i * 12 + j] = 1.0 / (double)(i + j + 1);
        check_svd_all_jobs(nnla_cmat_view(h, 12, 12, 12), 0, 0, "Hilbert 12");
        check_svd_all_jobs(nnla_cmat_view(h, 10, 6, 12), 2, 1, "Hilbert 10x6 in ld 12");
        double s[12];
        assert_status(nnla_svd_alloc(NNLA_SVD_VALUES, nnla_cmat_view(h, 12, 12, 12), s,
                                     nnla_mat_view(NULL, 0, 0, 0), nnla_mat_view(NULL, 0, 0, 0), NULL),
                      NNLA_OK);
        /* known: ||H_12||_2 = 1.7953720595619...; smallest singular value ~ 1e-16 (cond ~ 1e16) */
        assert_true(fabs(s[0] - 1.7953720595619) < 1e-12);
        assert_true(s[0] / s[11] > 1e15);
    }
    /* scaled inputs: tiny and huge entries (LAPACK scales internally) */
    {
        double a[12];
        nnla_test_fill(&rng, a, 12, -1, 1);
        for (int i = 0; i < 12; i++) a[i] *= 1e-150;
        check_svd_all_jobs(nnla_cmat_view(a, 4, 3, 3), 0, 0, "tiny 4x3");
        for (int i = 0; i < 12; i++) a[i] *= 1e300;
        check_svd_all_jobs(nnla_cmat_view(a, 3, 4, 4), 0, 0, "huge 3x4");
    }
    /* the zero matrix: all singular values are 0, U and V orthogonal */
    {
        double z[6] = {0}, s[2] = {9, 9}, u[6], vt[4];
        nnla_mat U = nnla_mat_view(u, 3, 2, 2), VT = nnla_mat_view(vt, 2, 2, 2);
        assert_status(nnla_svd_alloc(NNLA_SVD_THIN, nnla_cmat_view(z, 3, 2, 2), s, U, VT, NULL), NNLA_OK);
        assert_true(s[0] == 0.0 && s[1] == 0.0);
        assert_true(orth_cols(nnla_cmat_of(U)) < RES_C * 3 * EPS);
    }
}

/* The _alloc form gives the same result as the workspace form. */
static void test_svd_alloc_matches(void **state)
{
    (void)state;
    nnla_test_rng rng = {5};
    double a[9 * 6], s1[6], s2[6], u1[54], u2[54], v1[36], v2[36];
    nnla_test_fill(&rng, a, 54, -1, 1);
    nnla_cmat A = nnla_cmat_view(a, 9, 6, 6);
    size_t bytes;
    assert_status(nnla_svd_workspace_size(NNLA_SVD_THIN, 9, 6, &bytes), NNLA_OK);
    ws w = ws_make(bytes, 0);
    nnla_svd_driver d1 = (nnla_svd_driver)9, d2 = (nnla_svd_driver)9;
    assert_status(
        nnla_svd(NNLA_SVD_THIN, A, s1, nnla_mat_view(u1, 9, 6, 6), nnla_mat_view(v1, 6, 6, 6), w.p, w.n, &d1),
        NNLA_OK);
    assert_status(
        nnla_svd_alloc(NNLA_SVD_THIN, A, s2, nnla_mat_view(u2, 9, 6, 6), nnla_mat_view(v2, 6, 6, 6), &d2),
        NNLA_OK);
    assert_int_equal(d1, NNLA_SVD_DRIVER_GESDD);
    assert_int_equal(d2, NNLA_SVD_DRIVER_GESDD);
    assert_vec_close(s2, s1, 6, 0.0, 8 * EPS);
    assert_vec_close(u2, u1, 54, 0.0, 64 * EPS);
    assert_vec_close(v2, v1, 36, 0.0, 64 * EPS);
    ws_free(&w);
}

/* The dgesvd fallback, reached by simulating dgesdd's non-convergence (see the top of the file). */
static void test_svd_fallback(void **state)
{
    (void)state;
    nnla_test_rng rng = {77};
    for (int job = 0; job < 3; job++) {
        for (int shape = 0; shape < 2; shape++) {
            size_t m = shape ? 5 : 8, n = shape ? 8 : 5, k = 5, ld = n + 1;
            size_t ucols = job == NNLA_SVD_FULL ? m : k, vtrows = job == NNLA_SVD_FULL ? n : k;
            double a[8 * 9], s[5], u[64], vt[64], sref[5];
            nnla_test_fill(&rng, a, sizeof a / sizeof a[0], -1, 1);
            nnla_cmat A = nnla_cmat_view(a, m, n, ld);
            nnla_mat U = job ? nnla_mat_view(u, m, ucols, ucols) : nnla_mat_view(NULL, 0, 0, 0);
            nnla_mat VT = job ? nnla_mat_view(vt, vtrows, n, n) : nnla_mat_view(NULL, 0, 0, 0);
            nnla_svd_driver drv = NNLA_SVD_DRIVER_GESDD;
            assert_status(nnla_svd_alloc((nnla_svd_job)job, A, sref, U, VT, &drv), NNLA_OK);
            int before = calls_gesdd, before_svd = calls_gesvd;
            fake_gesdd_fail = 1;
            nnla_status st = nnla_svd_alloc((nnla_svd_job)job, A, s, U, VT, &drv);
            fake_gesdd_fail = 0;
            if (calls_gesdd == before) skip(); /* interposition not effective on this platform */
            assert_status(st, NNLA_OK);
            assert_int_equal(calls_gesvd, before_svd + 1);
            assert_int_equal(drv, NNLA_SVD_DRIVER_GESVD);
            /* dgesvd's result is a correct SVD of the untouched A (the spoiled copy was redone) */
            assert_vec_close(s, sref, k, 0.0, 8.0 * (double)n * EPS * sref[0]);
            if (job) {
                double res = svd_residual(A, s, nnla_cmat_of(U), nnla_cmat_of(VT), k);
                assert_true(res / (nnla_test_fro(A) * 8 * EPS) < RES_C);
                assert_true(orth_cols(nnla_cmat_of(U)) / (8 * EPS) < RES_C);
                assert_true(orth_rows(nnla_cmat_of(VT)) / (8 * EPS) < RES_C);
            }
            /* both drivers fail: NNLA_ENOCONV, the driver out-parameter is not written */
            fake_gesdd_fail = fake_gesvd_fail = 1;
            drv = (nnla_svd_driver)42;
            size_t bytes;
            assert_status(nnla_svd_workspace_size((nnla_svd_job)job, m, n, &bytes), NNLA_OK);
            ws w = ws_make(bytes, 0);
            st = nnla_svd((nnla_svd_job)job, A, s, U, VT, w.p, w.n, &drv);
            fake_gesdd_fail = fake_gesvd_fail = 0;
            assert_status(st, NNLA_ENOCONV);
            assert_int_equal(drv, 42);
            ws_free(&w);
        }
    }
}

/* Every bad input: the status, and every output byte-for-byte untouched. */
typedef struct svd_bufs {
    double a[3 * 4], s[8], u[32], vt[32], a0[3 * 4], s0[8], u0[32], vt0[32];
    nnla_svd_driver drv;
} svd_bufs;

static void svd_bufs_reset(svd_bufs *b)
{
    for (int i = 0; i < 12; i++) b->a[i] = (double)(i % 5) - 1.5;
    fill_value(b->s, 8, SENTINEL);
    fill_value(b->u, 32, SENTINEL + 1);
    fill_value(b->vt, 32, SENTINEL + 2);
    memcpy(b->a0, b->a, sizeof b->a);
    memcpy(b->s0, b->s, sizeof b->s);
    memcpy(b->u0, b->u, sizeof b->u);
    memcpy(b->vt0, b->vt, sizeof b->vt);
    b->drv = (nnla_svd_driver)1234;
}

static void svd_bufs_untouched(const svd_bufs *b, int line)
{
    if (memcmp(b->a, b->a0, sizeof b->a) || memcmp(b->s, b->s0, sizeof b->s) ||
        memcmp(b->u, b->u0, sizeof b->u) || memcmp(b->vt, b->vt0, sizeof b->vt) ||
        b->drv != (nnla_svd_driver)1234)
        fail_msg("line %d: an output (or the input) was modified by a failing call", line);
}

#define SVD_BAD(expr, status)                                                                                \
    do {                                                                                                     \
        svd_bufs_reset(&B);                                                                                  \
        assert_status((expr), (status));                                                                     \
        svd_bufs_untouched(&B, __LINE__);                                                                    \
    } while (0)

static void test_svd_bad_input(void **state)
{
    (void)state;
    static svd_bufs B;
    size_t bytes, vbytes;
    assert_status(nnla_svd_workspace_size(NNLA_SVD_THIN, 3, 4, &bytes), NNLA_OK);
    assert_status(nnla_svd_workspace_size(NNLA_SVD_VALUES, 3, 4, &vbytes), NNLA_OK);
    ws w = ws_make(bytes, 0), wv = ws_make(vbytes, 0);
    nnla_cmat A = nnla_cmat_view(B.a, 3, 4, 4);
    nnla_mat U = nnla_mat_view(B.u, 3, 3, 3), VT = nnla_mat_view(B.vt, 3, 4, 4),
             Z = nnla_mat_view(NULL, 0, 0, 0);
    nnla_svd_job T = NNLA_SVD_THIN;

    /* a good call first, then every way to get it wrong */
    svd_bufs_reset(&B);
    assert_status(nnla_svd(T, A, B.s, U, VT, w.p, w.n, &B.drv), NNLA_OK);
    assert_status(nnla_svd(NNLA_SVD_VALUES, A, B.s, Z, Z, wv.p, wv.n, NULL), NNLA_OK);

    /* NULL pointers */
    SVD_BAD(nnla_svd(T, nnla_cmat_view(NULL, 3, 4, 4), B.s, U, VT, w.p, w.n, &B.drv), NNLA_ENULL);
    SVD_BAD(nnla_svd(T, A, NULL, U, VT, w.p, w.n, &B.drv), NNLA_ENULL);
    SVD_BAD(nnla_svd(T, A, B.s, nnla_mat_view(NULL, 3, 3, 3), VT, w.p, w.n, &B.drv), NNLA_ENULL);
    SVD_BAD(nnla_svd(T, A, B.s, U, nnla_mat_view(NULL, 3, 4, 4), w.p, w.n, &B.drv), NNLA_ENULL);
    SVD_BAD(nnla_svd(T, A, B.s, U, VT, NULL, w.n, &B.drv), NNLA_ENULL);
    /* zero dimensions */
    SVD_BAD(nnla_svd(T, nnla_cmat_view(B.a, 0, 4, 4), B.s, U, VT, w.p, w.n, &B.drv), NNLA_EDIM);
    SVD_BAD(nnla_svd(T, nnla_cmat_view(B.a, 3, 0, 4), B.s, U, VT, w.p, w.n, &B.drv), NNLA_EDIM);
    SVD_BAD(nnla_svd(T, A, B.s, nnla_mat_view(B.u, 0, 3, 3), VT, w.p, w.n, &B.drv), NNLA_EDIM);
    /* ld < cols */
    SVD_BAD(nnla_svd(T, nnla_cmat_view(B.a, 3, 4, 3), B.s, U, VT, w.p, w.n, &B.drv), NNLA_ELD);
    SVD_BAD(nnla_svd(T, A, B.s, nnla_mat_view(B.u, 3, 3, 2), VT, w.p, w.n, &B.drv), NNLA_ELD);
    SVD_BAD(nnla_svd(T, A, B.s, U, nnla_mat_view(B.vt, 3, 4, 3), w.p, w.n, &B.drv), NNLA_ELD);
    /* unknown job */
    SVD_BAD(nnla_svd((nnla_svd_job)3, A, B.s, U, VT, w.p, w.n, &B.drv), NNLA_EINVAL);
    SVD_BAD(nnla_svd((nnla_svd_job)-1, A, B.s, U, VT, w.p, w.n, &B.drv), NNLA_EINVAL);
    /* mismatched output shapes (thin: U 3x3, V^T 3x4; full: U 3x3, V^T 4x4) */
    SVD_BAD(nnla_svd(T, A, B.s, nnla_mat_view(B.u, 2, 3, 3), VT, w.p, w.n, &B.drv), NNLA_ESHAPE);
    SVD_BAD(nnla_svd(T, A, B.s, nnla_mat_view(B.u, 3, 4, 4), VT, w.p, w.n, &B.drv), NNLA_ESHAPE);
    SVD_BAD(nnla_svd(T, A, B.s, U, nnla_mat_view(B.vt, 4, 4, 4), w.p, w.n, &B.drv), NNLA_ESHAPE);
    SVD_BAD(nnla_svd(T, A, B.s, U, nnla_mat_view(B.vt, 3, 3, 4), w.p, w.n, &B.drv), NNLA_ESHAPE);
    SVD_BAD(nnla_svd(NNLA_SVD_FULL, A, B.s, U, VT, w.p, w.n, &B.drv), NNLA_ESHAPE); /* VT must be 4x4 */
    SVD_BAD(nnla_svd(T, A, B.s, U, U, w.p, w.n, &B.drv), NNLA_ESHAPE);
    /* workspace one byte too small, for each job */
    SVD_BAD(nnla_svd(T, A, B.s, U, VT, w.p, w.n - 1, &B.drv), NNLA_EWORKSPACE);
    SVD_BAD(nnla_svd(NNLA_SVD_VALUES, A, B.s, Z, Z, wv.p, wv.n - 1, &B.drv), NNLA_EWORKSPACE);
    SVD_BAD(nnla_svd(T, A, B.s, U, VT, w.p, 0, &B.drv), NNLA_EWORKSPACE);
    /* NaN and Inf anywhere: first, last, a single Inf in the middle, -Inf, NaN in padding is ignored */
    const size_t spots[] = {0, 11, 6};
    for (size_t i = 0; i < 3; i++) {
        const double bad[] = {NAN, INFINITY, -INFINITY};
        for (size_t v = 0; v < 3; v++) {
            svd_bufs_reset(&B);
            B.a[spots[i]] = bad[v];
            memcpy(B.a0, B.a, sizeof B.a);
            assert_status(nnla_svd(T, A, B.s, U, VT, w.p, w.n, &B.drv), NNLA_ENONFINITE);
            svd_bufs_untouched(&B, __LINE__);
            assert_status(nnla_svd(NNLA_SVD_VALUES, A, B.s, Z, Z, wv.p, wv.n, &B.drv), NNLA_ENONFINITE);
            svd_bufs_untouched(&B, __LINE__);
            assert_status(nnla_svd_alloc(NNLA_SVD_FULL, A, B.s, U, nnla_mat_view(B.vt, 4, 4, 4), &B.drv),
                          NNLA_ENONFINITE);
            svd_bufs_untouched(&B, __LINE__);
        }
    }
    {
        svd_bufs_reset(&B);
        B.a[3] = NAN; /* outside the 3x3 view with ld 4: padding is not part of A */
        memcpy(B.a0, B.a, sizeof B.a);
        assert_status(
            nnla_svd_alloc(T, nnla_cmat_view(B.a, 3, 3, 4), B.s, U, nnla_mat_view(B.vt, 3, 3, 3), NULL),
            NNLA_OK);
    }
    /* aliasing: work over A or an output, outputs over each other or over A */
    SVD_BAD(nnla_svd(T, A, B.s, U, VT, B.u, sizeof B.u, &B.drv), NNLA_EALIAS);
    SVD_BAD(nnla_svd(T, A, B.u + 5, U, VT, w.p, w.n, &B.drv), NNLA_EALIAS);
    SVD_BAD(nnla_svd(T, A, B.s, U, nnla_mat_view(B.u + 8, 3, 4, 4), w.p, w.n, &B.drv), NNLA_EALIAS);
    SVD_BAD(nnla_svd(T, A, B.a + 1, U, VT, w.p, w.n, &B.drv), NNLA_EALIAS);
    /* sizes beyond LAPACK's int, with fake views: nothing may be read before this check */
    {
        nnla_cmat big = nnla_cmat_view(B.a, (size_t)INT_MAX + 1, 1, 1);
        SVD_BAD(nnla_svd(NNLA_SVD_VALUES, big, B.s, Z, Z, w.p, w.n, &B.drv), NNLA_EOVERFLOW);
        nnla_cmat sq = nnla_cmat_view(B.a, 50000, 50000, 50000); /* m*n > INT_MAX */
        nnla_mat su = nnla_mat_view(B.u, 50000, 50000, 50000), svt = nnla_mat_view(B.vt, 50000, 50000, 50000);
        SVD_BAD(nnla_svd(T, sq, B.s, su, svt, w.p, w.n, &B.drv), NNLA_EOVERFLOW);
        SVD_BAD(nnla_svd(NNLA_SVD_VALUES, sq, B.s, Z, Z, w.p, w.n, &B.drv), NNLA_EOVERFLOW);
        SVD_BAD(nnla_svd_alloc(NNLA_SVD_VALUES, sq, B.s, Z, Z, &B.drv), NNLA_EOVERFLOW);
        /* a small A but a U whose ld makes it larger than LAPACK can index */
        SVD_BAD(nnla_svd(T, A, B.s, nnla_mat_view(B.u, 3, 3, (size_t)INT_MAX), VT, w.p, w.n, &B.drv),
                NNLA_EOVERFLOW);
        SVD_BAD(nnla_svd(T, A, B.s, nnla_mat_view(B.u, 3, 3, (size_t)INT_MAX + 1), VT, w.p, w.n, &B.drv),
                NNLA_EOVERFLOW);
        nnla_cmat wide = nnla_cmat_view(B.a, 2, (size_t)INT_MAX / 2 + 1, (size_t)INT_MAX / 2 + 1);
        SVD_BAD(nnla_svd(NNLA_SVD_VALUES, wide, B.s, Z, Z, w.p, w.n, &B.drv), NNLA_EOVERFLOW);
    }
    /* the allocating form checks the same things */
    SVD_BAD(nnla_svd_alloc(T, nnla_cmat_view(NULL, 3, 4, 4), B.s, U, VT, &B.drv), NNLA_ENULL);
    SVD_BAD(nnla_svd_alloc(T, A, NULL, U, VT, &B.drv), NNLA_ENULL);
    SVD_BAD(nnla_svd_alloc(T, nnla_cmat_view(B.a, 3, 0, 4), B.s, U, VT, &B.drv), NNLA_EDIM);
    SVD_BAD(nnla_svd_alloc(T, nnla_cmat_view(B.a, 3, 4, 2), B.s, U, VT, &B.drv), NNLA_ELD);
    SVD_BAD(nnla_svd_alloc((nnla_svd_job)7, A, B.s, U, VT, &B.drv), NNLA_EINVAL);
    SVD_BAD(nnla_svd_alloc(T, A, B.s, U, nnla_mat_view(B.vt, 4, 4, 4), &B.drv), NNLA_ESHAPE);
    SVD_BAD(nnla_svd_alloc(T, A, B.s, U, nnla_mat_view(B.u + 1, 3, 4, 4), &B.drv), NNLA_EALIAS);
    ws_free(&w);
    ws_free(&wv);
}

/* ------------------------------------------------------------------ eigh */

/* Run eigh with both jobs on a symmetric A and check everything; the eigenvalues are returned in w. */
static void check_eigh(nnla_cmat a, size_t pad, size_t skew, const char *label, double *w_out)
{
    size_t n = a.rows, ld = n + pad;
    double anorm = nnla_test_fro(a);
    size_t ext = (a.rows - 1) * a.ld + a.cols;
    double *acopy = xmalloc(ext), *w = xmalloc(n), *wv = xmalloc(n), *vb = xmalloc(n * ld);
    memcpy(acopy, a.data, ext * sizeof(double));
    fill_value(vb, n * ld, SENTINEL);
    nnla_mat v = nnla_mat_view(vb, n, n, ld);
    size_t bytes;
    assert_status(nnla_eigh_workspace_size(NNLA_EIGH_VECTORS, n, &bytes), NNLA_OK);
    ws wk = ws_make(bytes, skew);
    nnla_status st = nnla_eigh(NNLA_EIGH_VECTORS, a, w, v, wk.p, wk.n);
    if (st != NNLA_OK) fail_msg("%s: %s", label, nnla_status_name(st));
    ws_free(&wk);
    assert_status(nnla_eigh_workspace_size(NNLA_EIGH_VALUES, n, &bytes), NNLA_OK);
    wk = ws_make(bytes, skew);
    assert_status(nnla_eigh(NNLA_EIGH_VALUES, a, wv, nnla_mat_view(NULL, 0, 0, 0), wk.p, wk.n), NNLA_OK);
    ws_free(&wk);
    for (size_t i = 1; i < n; i++) assert_true(w[i - 1] <= w[i]); /* ascending */
    double res = eig_residual(a, w, nnla_cmat_of(v)), orth = orth_cols(nnla_cmat_of(v));
    double rr = anorm > 0 ? res / (anorm * (double)n * EPS) : res, oo = orth / ((double)n * EPS);
    if (!(rr < RES_C && oo < RES_C))
        fail_msg("%s: eigen residual %.3g, orthogonality %.3g (limit %g)", label, rr, oo, RES_C);
    assert_true(orth_rows(nnla_cmat_of(v)) / ((double)n * EPS) < RES_C);
    for (size_t i = 0; i < n; i++)
        for (size_t j = n; j < ld; j++) assert_true(vb[i * ld + j] == SENTINEL);
    assert_memory_equal(a.data, acopy, ext * sizeof(double));
    assert_vec_close(wv, w, n, 0.0, 4.0 * (double)n * EPS * anorm + DBL_MIN);
    /* against the Jacobi reference */
    double *pk = xmalloc(n * n), *ref = xmalloc(n);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            pk[i * n + j] = AT(a, i > j ? i : j, i > j ? j : i); /* lower triangle */
    jacobi_eigvals(n, pk, ref);
    assert_vec_close(w, ref, n, 0.0, 8.0 * (double)n * EPS * anorm + DBL_MIN);
    if (w_out) memcpy(w_out, w, n * sizeof *w);
    free(pk);
    free(ref);
    free(acopy);
    free(w);
    free(wv);
    free(vb);
}

static void random_symmetric(nnla_test_rng *rng, double *a, size_t n, size_t ld)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j <= i; j++) a[i * ld + j] = a[j * ld + i] = nnla_test_uniform(rng, -1, 1);
}

static void test_eigh_workspace_size(void **state)
{
    (void)state;
    size_t bv = 0, bvec = 0, b = 77;
    assert_status(nnla_eigh_workspace_size(NNLA_EIGH_VALUES, 10, &bv), NNLA_OK);
    assert_status(nnla_eigh_workspace_size(NNLA_EIGH_VECTORS, 10, &bvec), NNLA_OK);
    /* dsyevd's documented minima: 2n+1 / 1 (values), 1+6n+2n^2 / 3+5n (vectors); values also copy A */
    assert_true(bv >= (100 + 21) * sizeof(double));
    assert_true(bvec >= (1 + 60 + 200) * sizeof(double) + 53 * sizeof(int));
    assert_status(nnla_eigh_workspace_size(NNLA_EIGH_VALUES, 10, NULL), NNLA_ENULL);
    assert_status(nnla_eigh_workspace_size((nnla_eigh_job)2, 10, &b), NNLA_EINVAL);
    assert_status(nnla_eigh_workspace_size(NNLA_EIGH_VALUES, 0, &b), NNLA_EDIM);
    assert_status(nnla_eigh_workspace_size(NNLA_EIGH_VALUES, (size_t)INT_MAX + 1, &b), NNLA_EOVERFLOW);
    assert_status(nnla_eigh_workspace_size(NNLA_EIGH_VALUES, 50000, &b), NNLA_EOVERFLOW);  /* n^2 */
    assert_status(nnla_eigh_workspace_size(NNLA_EIGH_VECTORS, 40000, &b), NNLA_EOVERFLOW); /* 2n^2 */
    assert_true(b == 77);
    assert_status(nnla_eigh_workspace_size(NNLA_EIGH_VALUES, 40000, &b), NNLA_OK);
}

/* Diagonal, mixed signs, unsorted: eigenvalues sorted ascending, eigenvectors +-e_j. */
static void test_eigh_diagonal(void **state)
{
    (void)state;
    const double d[5] = {3, -7, 0.5, 2, 0};
    const double want[5] = {-7, 0, 0.5, 2, 3};
    const size_t where[5] = {1, 4, 2, 3, 0};
    double a[25] = {0}, w[5], v[25];
    for (int i = 0; i < 5; i++) a[i * 6] = d[i];
    assert_status(
        nnla_eigh_alloc(NNLA_EIGH_VECTORS, nnla_cmat_view(a, 5, 5, 5), w, nnla_mat_view(v, 5, 5, 5)),
        NNLA_OK);
    assert_vec_close(w, want, 5, 0.0, 0.0); /* exact for a diagonal matrix */
    for (size_t t = 0; t < 5; t++) assert_true(fabs(v[where[t] * 5 + t]) == 1.0); /* column t = +-e_where */
    check_eigh(nnla_cmat_view(a, 5, 5, 5), 2, 1, "diagonal", NULL);
}

/* Hand-worked: [[2, 1], [1, 2]] = 1 (1,-1)(1,-1)^T/2 + 3 (1,1)(1,1)^T/2; the tridiagonal
 * [[2,-1,0],[-1,2,-1],[0,-1,2]] has eigenvalues 2 - sqrt 2, 2, 2 + sqrt 2 with eigenvectors
 * (1, sqrt 2, 1)/2, (1, 0, -1)/sqrt 2, (1, -sqrt 2, 1)/2; R diag(5, -2) R^T has -2, 5. */
static void test_eigh_hand(void **state)
{
    (void)state;
    double a[4] = {2, 1, 1, 2}, w[3], v[9], term[9];
    nnla_mat V2 = nnla_mat_view(v, 2, 2, 2);
    assert_status(nnla_eigh_alloc(NNLA_EIGH_VECTORS, nnla_cmat_view(a, 2, 2, 2), w, V2), NNLA_OK);
    assert_vec_close(w, ((double[2]){1, 3}), 2, CF_C * EPS, 0.0);
    eig_term(nnla_cmat_of(V2), w, 0, term);
    assert_vec_close(term, ((double[4]){0.5, -0.5, -0.5, 0.5}), 4, 0.0, CF_C * EPS);
    eig_term(nnla_cmat_of(V2), w, 1, term);
    assert_vec_close(term, ((double[4]){1.5, 1.5, 1.5, 1.5}), 4, 0.0, CF_C * EPS * 3);

    double t3[9] = {2, -1, 0, -1, 2, -1, 0, -1, 2}, r2 = sqrt(2.0);
    nnla_mat V3 = nnla_mat_view(v, 3, 3, 3);
    assert_status(nnla_eigh_alloc(NNLA_EIGH_VECTORS, nnla_cmat_view(t3, 3, 3, 3), w, V3), NNLA_OK);
    assert_vec_close(w, ((double[3]){2 - r2, 2, 2 + r2}), 3, 0.0, CF_C * EPS * 4);
    /* v_1 v_1^T = [[1, r2, 1], [r2, 2, r2], [1, r2, 1]] / 4: compare |column| and the sign pattern */
    double s0 = v[0] > 0 ? 1 : -1;
    assert_vec_close(((double[3]){s0 * v[0], s0 * v[3], s0 * v[6]}), ((double[3]){0.5, r2 / 2, 0.5}), 3, 0.0,
                     CF_C * EPS);
    double s1 = v[1] > 0 ? 1 : -1;
    assert_vec_close(((double[3]){s1 * v[1], s1 * v[4], s1 * v[7]}), ((double[3]){1 / r2, 0, -1 / r2}), 3,
                     0.0, CF_C * EPS);
    double s2 = v[2] > 0 ? 1 : -1;
    assert_vec_close(((double[3]){s2 * v[2], s2 * v[5], s2 * v[8]}), ((double[3]){0.5, -r2 / 2, 0.5}), 3, 0.0,
                     CF_C * EPS);

    double th = 0.4, c = cos(th), s = sin(th);
    double rr[4] = {5 * c * c - 2 * s * s, 7 * c * s, 7 * c * s, 5 * s * s - 2 * c * c};
    assert_status(nnla_eigh_alloc(NNLA_EIGH_VECTORS, nnla_cmat_view(rr, 2, 2, 2), w, V2), NNLA_OK);
    assert_vec_close(w, ((double[2]){-2, 5}), 2, 0.0, CF_C * EPS * 5);
    assert_true(fabs(fabs(v[1]) - c) <= CF_C * EPS && fabs(fabs(v[3]) - s) <= CF_C * EPS); /* column 1 */
}

/* Section II of the paper: A = P D P^T with P orthogonal (orthogonal diagonalization), the
 * spectral decomposition A = sum lambda_i u_i u_i^T, and its truncation: the best rank-k
 * approximation, whose error has 2-norm max |dropped lambda| and Frobenius norm
 * sqrt(sum dropped lambda^2). */
static void test_paper_section2(void **state)
{
    (void)state;
    enum { N = 6 };
    nnla_test_rng rng = {11};
    /* a symmetric matrix with prescribed eigenvalues of both signs: Q diag(l) Q^T */
    const double lam[N] = {-9, 4, 0.25, 7, -1, 2.5};
    double q[N * N], a[N * N], w[N], v[N * N], d[N * N], pdpt[N * N], sum[N * N], term[N * N], ak[N * N];
    double e[N * N], ev[N];
    {
        double g[N * N], s[N], vt[N * N];
        nnla_test_fill(&rng, g, N * N, -1, 1);
        assert_status(nnla_svd_alloc(NNLA_SVD_THIN, nnla_cmat_view(g, N, N, N), s, nnla_mat_view(q, N, N, N),
                                     nnla_mat_view(vt, N, N, N), NULL),
                      NNLA_OK);
        for (int i = 0; i < N; i++)
            for (int j = 0; j < N; j++) {
                double x = 0;
                for (int t = 0; t < N; t++) x += q[i * N + t] * lam[t] * q[j * N + t];
                a[i * N + j] = x;
            }
        for (int i = 0; i < N; i++)
            for (int j = 0; j < i; j++) a[j * N + i] = a[i * N + j];
    }
    nnla_cmat A = nnla_cmat_view(a, N, N, N);
    double anorm = nnla_test_fro(A);
    assert_status(nnla_eigh_alloc(NNLA_EIGH_VECTORS, A, w, nnla_mat_view(v, N, N, N)), NNLA_OK);
    assert_vec_close(w, ((double[N]){-9, -1, 0.25, 2.5, 4, 7}), N, 0.0, 16 * N * EPS * anorm);

    /* A = P D P^T, P^T P = I */
    memset(d, 0, sizeof d);
    for (int i = 0; i < N; i++) d[i * N + i] = w[i];
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            double x = 0;
            for (int t = 0; t < N; t++) x += v[i * N + t] * d[t * N + t] * v[j * N + t];
            pdpt[i * N + j] = x;
        }
    assert_true(nnla_test_fro(nnla_cmat_view(pdpt, N, N, N)) > 0);
    for (int i = 0; i < N * N; i++) pdpt[i] -= a[i];
    assert_true(nnla_test_fro(nnla_cmat_view(pdpt, N, N, N)) / (anorm * N * EPS) < RES_C);
    assert_true(orth_cols(nnla_cmat_view(v, N, N, N)) / (N * EPS) < RES_C);

    /* A = sum lambda_i u_i u_i^T, term by term, and through nnla_spectral_reconstruct */
    memset(sum, 0, sizeof sum);
    for (size_t t = 0; t < N; t++) {
        eig_term(nnla_cmat_view(v, N, N, N), w, t, term);
        for (int i = 0; i < N * N; i++) sum[i] += term[i];
    }
    for (int i = 0; i < N * N; i++) sum[i] -= a[i];
    assert_true(nnla_test_fro(nnla_cmat_view(sum, N, N, N)) / (anorm * N * EPS) < RES_C);
    size_t bytes;
    for (size_t k = 1; k <= N; k++) {
        assert_status(nnla_spectral_reconstruct_workspace_size(N, k, &bytes), NNLA_OK);
        ws wk = ws_make(bytes, k);
        assert_status(nnla_spectral_reconstruct(w, nnla_cmat_view(v, N, N, N), k, nnla_mat_view(ak, N, N, N),
                                                wk.p, wk.n),
                      NNLA_OK);
        ws_free(&wk);
        for (int i = 0; i < N; i++) /* exactly symmetric */
            for (int j = 0; j < N; j++) assert_true(ak[i * N + j] == ak[j * N + i]);
        for (int i = 0; i < N * N; i++) e[i] = a[i] - ak[i];
        /* the dropped terms, by |lambda|: sorted |lam| = 9, 7, 4, 2.5, 1, 0.25 */
        const double by_abs[N] = {9, 7, 4, 2.5, 1, 0.25};
        double fro2 = 0;
        for (size_t t = k; t < N; t++) fro2 += by_abs[t] * by_abs[t];
        double two = k < N ? by_abs[k] : 0.0;
        double efro = nnla_test_fro(nnla_cmat_view(e, N, N, N));
        if (k == N) {
            assert_true(efro / (anorm * N * EPS) < RES_C);
            continue;
        }
        assert_true(fabs(efro - sqrt(fro2)) <= 16 * N * EPS * anorm);
        jacobi_eigvals(N, e, ev); /* 2-norm of the symmetric error = max |eigenvalue| */
        double e2 = fabs(ev[0]) > fabs(ev[N - 1]) ? fabs(ev[0]) : fabs(ev[N - 1]);
        assert_true(fabs(e2 - two) <= 16 * N * EPS * anorm);
        /* A_k has rank k: N - k eigenvalues ~ 0 */
        jacobi_eigvals(N, ak, ev);
        size_t zeros = 0;
        for (int i = 0; i < N; i++) zeros += fabs(ev[i]) <= 16 * N * EPS * anorm;
        assert_int_equal(zeros, N - k);
    }
    /* keeping the largest *signed* eigenvalue (7) instead of the largest |lambda| (-9) is worse:
     * the error's 2-norm is 9, not 7 */
    memset(term, 0, sizeof term);
    eig_term(nnla_cmat_view(v, N, N, N), w, N - 1, term);
    for (int i = 0; i < N * N; i++) e[i] = a[i] - term[i];
    jacobi_eigvals(N, e, ev);
    assert_true(fabs(fabs(ev[0]) - 9.0) <= 16 * N * EPS * anorm);
}

static void test_eigh_residuals(void **state)
{
    (void)state;
    static const struct {
        size_t n, ldpad, pad, skew;
    } cases[] = {{1, 0, 0, 0},  {1, 2, 1, 3},  {2, 0, 0, 0},  {5, 3, 1, 1},
                 {17, 0, 2, 0}, {64, 1, 0, 5}, {100, 0, 3, 0}};
    nnla_test_rng rng = {99};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        size_t n = cases[c].n, ld = n + cases[c].ldpad;
        double *a = xmalloc(n * ld);
        fill_value(a, n * ld, NAN); /* padding holds NaN: it must not be read */
        random_symmetric(&rng, a, n, ld);
        char label[48];
        snprintf(label, sizeof label, "random symmetric %zu ld %zu", n, ld);
        check_eigh(nnla_cmat_view(a, n, n, ld), cases[c].pad, cases[c].skew, label, NULL);
        free(a);
    }
    /* Hilbert (positive definite, ill-conditioned) */
    double h[100];
    for (size_t i = 0; i < 10; i++)
        for (size_t j = 0; j < 10; j++) h[i * 10 + j] = 1.0 / (double)(i + j + 1);
    double w[10];
    check_eigh(nnla_cmat_view(h, 10, 10, 10), 0, 0, "Hilbert 10", w);
    assert_true(fabs(w[9] - 1.7519196702651775) < 1e-12); /* ||H_10||_2 */
    /* rank-deficient: x x^T + y y^T (rank 2) */
    {
        enum { N = 9 };
        double x[N], y[N], a[N * N];
        nnla_test_fill(&rng, x, N, -1, 1);
        nnla_test_fill(&rng, y, N, -1, 1);
        for (int i = 0; i < N; i++)
            for (int j = 0; j < N; j++) a[i * N + j] = x[i] * x[j] + y[i] * y[j];
        double ww[N];
        check_eigh(nnla_cmat_view(a, N, N, N), 1, 0, "rank 2", ww);
        for (int i = 0; i < N - 2; i++) assert_true(fabs(ww[i]) <= 16 * N * EPS * ww[N - 1]);
    }
    /* the zero matrix is symmetric: eigenvalues 0, eigenvectors orthonormal */
    {
        double z[16] = {0}, wz[4] = {1, 1, 1, 1}, vz[16];
        assert_status(
            nnla_eigh_alloc(NNLA_EIGH_VECTORS, nnla_cmat_view(z, 4, 4, 4), wz, nnla_mat_view(vz, 4, 4, 4)),
            NNLA_OK);
        assert_vec_close(wz, ((double[4]){0, 0, 0, 0}), 4, 0.0, 0.0);
        assert_true(orth_cols(nnla_cmat_view(vz, 4, 4, 4)) < RES_C * 4 * EPS);
    }
}

/* The symmetry tolerance: within it the matrix is accepted and only the lower triangle is used
 * (the result equals that of the mirrored lower triangle, bit for bit); beyond it, NNLA_ENOTSYM. */
static void test_eigh_symmetry_tolerance(void **state)
{
    (void)state;
    enum { N = 7 };
    nnla_test_rng rng = {3};
    double a[N * N], lower[N * N], w1[N], w2[N], v1[N * N], v2[N * N], w0[N], v0[N * N];
    random_symmetric(&rng, a, N, N);
    double amax = nnla_test_maxabs(nnla_cmat_view(a, N, N, N));
    memcpy(lower, a, sizeof a);
    a[1 * N + 5] += 0.5 * NNLA_EIGH_SYM_RTOL * amax; /* upper triangle (0-based row 1 < col 5) */
    a[0 * N + 6] -= 0.9 * NNLA_EIGH_SYM_RTOL * amax;
    assert_status(
        nnla_eigh_alloc(NNLA_EIGH_VECTORS, nnla_cmat_view(a, N, N, N), w1, nnla_mat_view(v1, N, N, N)),
        NNLA_OK);
    assert_status(
        nnla_eigh_alloc(NNLA_EIGH_VECTORS, nnla_cmat_view(lower, N, N, N), w2, nnla_mat_view(v2, N, N, N)),
        NNLA_OK);
    assert_memory_equal(w1, w2, sizeof w1);
    assert_memory_equal(v1, v2, sizeof v1);
    /* beyond the tolerance */
    memcpy(a, lower, sizeof a);
    a[2 * N + 3] += 2.0 * NNLA_EIGH_SYM_RTOL * amax;
    fill_value(w0, N, SENTINEL);
    fill_value(v0, N * N, SENTINEL);
    memcpy(w1, w0, sizeof w0);
    memcpy(v1, v0, sizeof v0);
    assert_status(
        nnla_eigh_alloc(NNLA_EIGH_VECTORS, nnla_cmat_view(a, N, N, N), w1, nnla_mat_view(v1, N, N, N)),
        NNLA_ENOTSYM);
    assert_status(
        nnla_eigh_alloc(NNLA_EIGH_VALUES, nnla_cmat_view(a, N, N, N), w1, nnla_mat_view(NULL, 0, 0, 0)),
        NNLA_ENOTSYM);
    assert_memory_equal(w1, w0, sizeof w0);
    assert_memory_equal(v1, v0, sizeof v0);
    /* a lower-triangular (non-symmetric) matrix is rejected, not silently treated as symmetric */
    double lt[4] = {1, 0, 2, 1};
    assert_status(
        nnla_eigh_alloc(NNLA_EIGH_VALUES, nnla_cmat_view(lt, 2, 2, 2), w1, nnla_mat_view(NULL, 0, 0, 0)),
        NNLA_ENOTSYM);
}

typedef struct eig_bufs {
    double a[16], w[8], v[32], a0[16], w0[8], v0[32];
} eig_bufs;

static void eig_bufs_reset(eig_bufs *b)
{
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) b->a[i * 4 + j] = 1.0 / (double)(i + j + 1);
    fill_value(b->w, 8, SENTINEL);
    fill_value(b->v, 32, SENTINEL + 1);
    memcpy(b->a0, b->a, sizeof b->a);
    memcpy(b->w0, b->w, sizeof b->w);
    memcpy(b->v0, b->v, sizeof b->v);
}

static void eig_bufs_untouched(const eig_bufs *b, int line)
{
    if (memcmp(b->a, b->a0, sizeof b->a) || memcmp(b->w, b->w0, sizeof b->w) ||
        memcmp(b->v, b->v0, sizeof b->v))
        fail_msg("line %d: an output (or the input) was modified by a failing call", line);
}

#define EIG_BAD(expr, status)                                                                                \
    do {                                                                                                     \
        eig_bufs_reset(&E);                                                                                  \
        assert_status((expr), (status));                                                                     \
        eig_bufs_untouched(&E, __LINE__);                                                                    \
    } while (0)

static void test_eigh_bad_input(void **state)
{
    (void)state;
    static eig_bufs E;
    size_t bytes, vbytes;
    assert_status(nnla_eigh_workspace_size(NNLA_EIGH_VECTORS, 4, &bytes), NNLA_OK);
    assert_status(nnla_eigh_workspace_size(NNLA_EIGH_VALUES, 4, &vbytes), NNLA_OK);
    ws wk = ws_make(bytes, 0), wkv = ws_make(vbytes, 0);
    nnla_cmat A = nnla_cmat_view(E.a, 4, 4, 4);
    nnla_mat V = nnla_mat_view(E.v, 4, 4, 4), Z = nnla_mat_view(NULL, 0, 0, 0);
    nnla_eigh_job J = NNLA_EIGH_VECTORS;
    eig_bufs_reset(&E);
    assert_status(nnla_eigh(J, A, E.w, V, wk.p, wk.n), NNLA_OK);
    assert_status(nnla_eigh(NNLA_EIGH_VALUES, A, E.w, Z, wkv.p, wkv.n), NNLA_OK);

    EIG_BAD(nnla_eigh(J, nnla_cmat_view(NULL, 4, 4, 4), E.w, V, wk.p, wk.n), NNLA_ENULL);
    EIG_BAD(nnla_eigh(J, A, NULL, V, wk.p, wk.n), NNLA_ENULL);
    EIG_BAD(nnla_eigh(J, A, E.w, nnla_mat_view(NULL, 4, 4, 4), wk.p, wk.n), NNLA_ENULL);
    EIG_BAD(nnla_eigh(J, A, E.w, V, NULL, wk.n), NNLA_ENULL);
    EIG_BAD(nnla_eigh(J, nnla_cmat_view(E.a, 0, 0, 4), E.w, V, wk.p, wk.n), NNLA_EDIM);
    EIG_BAD(nnla_eigh(J, A, E.w, nnla_mat_view(E.v, 4, 0, 4), wk.p, wk.n), NNLA_EDIM);
    EIG_BAD(nnla_eigh(J, nnla_cmat_view(E.a, 4, 4, 3), E.w, V, wk.p, wk.n), NNLA_ELD);
    EIG_BAD(nnla_eigh(J, A, E.w, nnla_mat_view(E.v, 4, 4, 2), wk.p, wk.n), NNLA_ELD);
    EIG_BAD(nnla_eigh((nnla_eigh_job)2, A, E.w, V, wk.p, wk.n), NNLA_EINVAL);
    EIG_BAD(nnla_eigh((nnla_eigh_job)-1, A, E.w, V, wk.p, wk.n), NNLA_EINVAL);
    EIG_BAD(nnla_eigh(J, nnla_cmat_view(E.a, 3, 4, 4), E.w, V, wk.p, wk.n), NNLA_ESHAPE); /* not square */
    EIG_BAD(nnla_eigh(NNLA_EIGH_VALUES, nnla_cmat_view(E.a, 4, 3, 4), E.w, Z, wkv.p, wkv.n), NNLA_ESHAPE);
    EIG_BAD(nnla_eigh(J, A, E.w, nnla_mat_view(E.v, 4, 5, 5), wk.p, wk.n), NNLA_ESHAPE);
    EIG_BAD(nnla_eigh(J, A, E.w, nnla_mat_view(E.v, 3, 3, 3), wk.p, wk.n), NNLA_ESHAPE);
    EIG_BAD(nnla_eigh(J, A, E.w, V, wk.p, wk.n - 1), NNLA_EWORKSPACE);
    EIG_BAD(nnla_eigh(NNLA_EIGH_VALUES, A, E.w, Z, wkv.p, wkv.n - 1), NNLA_EWORKSPACE);
    EIG_BAD(nnla_eigh(J, A, E.w, V, E.v, sizeof E.v), NNLA_EALIAS);
    EIG_BAD(nnla_eigh(J, A, E.v + 10, V, wk.p, wk.n), NNLA_EALIAS);
    EIG_BAD(nnla_eigh(J, A, E.w, nnla_mat_view(E.a, 4, 4, 4), wk.p, wk.n), NNLA_EALIAS); /* no in-place */
    {
        /* a non-symmetric matrix, and NaN/Inf anywhere (upper triangle too, though it is not used) */
        eig_bufs_reset(&E);
        E.a[1] = 5.0;
        memcpy(E.a0, E.a, sizeof E.a);
        assert_status(nnla_eigh(J, A, E.w, V, wk.p, wk.n), NNLA_ENOTSYM);
        eig_bufs_untouched(&E, __LINE__);
        const size_t spots[] = {0, 15, 6, 9};
        const double bad[] = {NAN, INFINITY, -INFINITY};
        for (size_t i = 0; i < 4; i++)
            for (size_t v = 0; v < 3; v++) {
                eig_bufs_reset(&E);
                E.a[spots[i]] = bad[v];
                memcpy(E.a0, E.a, sizeof E.a);
                assert_status(nnla_eigh(J, A, E.w, V, wk.p, wk.n), NNLA_ENONFINITE);
                eig_bufs_untouched(&E, __LINE__);
                assert_status(nnla_eigh_alloc(NNLA_EIGH_VALUES, A, E.w, Z), NNLA_ENONFINITE);
                eig_bufs_untouched(&E, __LINE__);
            }
    }
    /* sizes beyond LAPACK's int, with fake views */
    EIG_BAD(nnla_eigh(J, nnla_cmat_view(E.a, 40000, 40000, 40000), E.w,
                      nnla_mat_view(E.v, 40000, 40000, 40000), wk.p, wk.n),
            NNLA_EOVERFLOW);
    EIG_BAD(nnla_eigh(NNLA_EIGH_VALUES, nnla_cmat_view(E.a, 50000, 50000, 50000), E.w, Z, wk.p, wk.n),
            NNLA_EOVERFLOW);
    EIG_BAD(nnla_eigh(J, A, E.w, nnla_mat_view(E.v, 4, 4, (size_t)INT_MAX), wk.p, wk.n), NNLA_EOVERFLOW);
    EIG_BAD(
        nnla_eigh_alloc(J, nnla_cmat_view(E.a, (size_t)INT_MAX + 1, (size_t)INT_MAX + 1, (size_t)INT_MAX + 1),
                        E.w, V),
        NNLA_EOVERFLOW);
    /* the allocating form */
    EIG_BAD(nnla_eigh_alloc(J, A, NULL, V), NNLA_ENULL);
    EIG_BAD(nnla_eigh_alloc(J, nnla_cmat_view(E.a, 3, 4, 4), E.w, V), NNLA_ESHAPE);
    EIG_BAD(nnla_eigh_alloc((nnla_eigh_job)5, A, E.w, V), NNLA_EINVAL);
    EIG_BAD(nnla_eigh_alloc(J, A, E.w, nnla_mat_view(E.v, 4, 4, 3)), NNLA_ELD);
    ws_free(&wk);
    ws_free(&wkv);
}

/* dsyevd's failure is reported as NNLA_ENOCONV (simulated: see the top of the file). */
static void test_eigh_noconv(void **state)
{
    (void)state;
    double a[4] = {2, 1, 1, 2}, w[2], v[4];
    int before = calls_syevd;
    fake_syevd_fail = 1;
    nnla_status st =
        nnla_eigh_alloc(NNLA_EIGH_VECTORS, nnla_cmat_view(a, 2, 2, 2), w, nnla_mat_view(v, 2, 2, 2));
    nnla_status sv =
        nnla_eigh_alloc(NNLA_EIGH_VALUES, nnla_cmat_view(a, 2, 2, 2), w, nnla_mat_view(NULL, 0, 0, 0));
    fake_syevd_fail = 0;
    if (calls_syevd == before) skip();
    assert_status(st, NNLA_ENOCONV);
    assert_status(sv, NNLA_ENOCONV);
}

/* ------------------------------------------------------------------ spectral reconstruction */

/* With V = I the result is diag of the kept eigenvalues: checks the selection and its tie-break. */
static void test_spectral_selection(void **state)
{
    (void)state;
    enum { N = 5 };
    const double w[N] = {1, -3, 3, 2, -0.5};
    double v[N * N] = {0}, a[N * N];
    for (int i = 0; i < N; i++) v[i * N + i] = 1;
    /* |w| order: -3 (index 1) before 3 (index 2) by the lower index, then 2, 1, -0.5 */
    const int order[N] = {1, 2, 3, 0, 4};
    for (size_t k = 1; k <= N; k++) {
        double want[N * N] = {0};
        for (size_t t = 0; t < k; t++) want[order[t] * (N + 1)] = w[order[t]];
        size_t bytes;
        assert_status(nnla_spectral_reconstruct_workspace_size(N, k, &bytes), NNLA_OK);
        ws wk = ws_make(bytes, 3);
        fill_value(a, N * N, SENTINEL);
        assert_status(nnla_spectral_reconstruct(w, nnla_cmat_view(v, N, N, N), k, nnla_mat_view(a, N, N, N),
                                                wk.p, wk.n),
                      NNLA_OK);
        assert_vec_close(a, want, N * N, 0.0, 0.0);
        ws_free(&wk);
    }
}

/* k = n rebuilds A from nnla_eigh's output on random matrices; output ld > cols, padding untouched. */
static void test_spectral_reconstruct_random(void **state)
{
    (void)state;
    nnla_test_rng rng = {123};
    const size_t ns[] = {1, 2, 3, 10, 31, 80};
    for (size_t c = 0; c < sizeof ns / sizeof ns[0]; c++) {
        size_t n = ns[c], lda = n + 2, ldv = n + 1;
        double *a = xmalloc(n * n), *w = xmalloc(n), *v = xmalloc(n * ldv), *r = xmalloc(n * lda);
        random_symmetric(&rng, a, n, n);
        assert_status(
            nnla_eigh_alloc(NNLA_EIGH_VECTORS, nnla_cmat_view(a, n, n, n), w, nnla_mat_view(v, n, n, ldv)),
            NNLA_OK);
        fill_value(r, n * lda, SENTINEL);
        size_t bytes;
        assert_status(nnla_spectral_reconstruct_workspace_size(n, n, &bytes), NNLA_OK);
        ws wk = ws_make(bytes, c);
        assert_status(nnla_spectral_reconstruct(w, nnla_cmat_view(v, n, n, ldv), n,
                                                nnla_mat_view(r, n, n, lda), wk.p, wk.n),
                      NNLA_OK);
        ws_free(&wk);
        double err = 0;
        for (size_t i = 0; i < n; i++) {
            for (size_t j = 0; j < n; j++) {
                double d = r[i * lda + j] - a[i * n + j];
                err += d * d;
                assert_true(r[i * lda + j] == r[j * lda + i]);
            }
            for (size_t j = n; j < lda; j++) assert_true(r[i * lda + j] == SENTINEL);
        }
        double ratio = sqrt(err) / (nnla_test_fro(nnla_cmat_view(a, n, n, n)) * (double)n * EPS);
        if (!(ratio < RES_C)) fail_msg("n = %zu: reconstruction error ratio %.3g", n, ratio);
        free(a);
        free(w);
        free(v);
        free(r);
    }
}

static void test_spectral_bad_input(void **state)
{
    (void)state;
    double w[3] = {1, 2, 3}, v[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1}, a[16], a0[16];
    size_t bytes, b = 5;
    assert_status(nnla_spectral_reconstruct_workspace_size(3, 2, &bytes), NNLA_OK);
    assert_status(nnla_spectral_reconstruct_workspace_size(3, 2, NULL), NNLA_ENULL);
    assert_status(nnla_spectral_reconstruct_workspace_size(0, 0, &b), NNLA_EDIM);
    assert_status(nnla_spectral_reconstruct_workspace_size(3, 0, &b), NNLA_EDIM);
    assert_status(nnla_spectral_reconstruct_workspace_size(3, 4, &b), NNLA_EDIM);
    assert_status(nnla_spectral_reconstruct_workspace_size((size_t)INT_MAX + 1, 1, &b), NNLA_EOVERFLOW);
    assert_status(nnla_spectral_reconstruct_workspace_size(SIZE_MAX / 2, SIZE_MAX / 4, &b), NNLA_EOVERFLOW);
    assert_true(b == 5);
    ws wk = ws_make(bytes, 0);
    nnla_cmat V = nnla_cmat_view(v, 3, 3, 3);
    nnla_mat A = nnla_mat_view(a, 3, 3, 3);
    fill_value(a, 16, SENTINEL);
    assert_status(nnla_spectral_reconstruct(w, V, 2, A, wk.p, wk.n), NNLA_OK); /* keeps 3 and 2 */
    assert_vec_close(a, ((double[9]){0, 0, 0, 0, 2, 0, 0, 0, 3}), 9, 0.0, 0.0);
#define SPEC_BAD(expr, status)                                                                               \
    do {                                                                                                     \
        fill_value(a, 16, SENTINEL);                                                                         \
        memcpy(a0, a, sizeof a);                                                                             \
        assert_status((expr), (status));                                                                     \
        assert_memory_equal(a, a0, sizeof a);                                                                \
    } while (0)
    SPEC_BAD(nnla_spectral_reconstruct(NULL, V, 2, A, wk.p, wk.n), NNLA_ENULL);
    SPEC_BAD(nnla_spectral_reconstruct(w, nnla_cmat_view(NULL, 3, 3, 3), 2, A, wk.p, wk.n), NNLA_ENULL);
    SPEC_BAD(nnla_spectral_reconstruct(w, V, 2, nnla_mat_view(NULL, 3, 3, 3), wk.p, wk.n), NNLA_ENULL);
    SPEC_BAD(nnla_spectral_reconstruct(w, V, 2, A, NULL, wk.n), NNLA_ENULL);
    SPEC_BAD(nnla_spectral_reconstruct(w, V, 0, A, wk.p, wk.n), NNLA_EDIM);
    SPEC_BAD(nnla_spectral_reconstruct(w, V, 4, A, wk.p, wk.n), NNLA_EDIM);
    SPEC_BAD(nnla_spectral_reconstruct(w, nnla_cmat_view(v, 0, 3, 3), 2, A, wk.p, wk.n), NNLA_EDIM);
    SPEC_BAD(nnla_spectral_reconstruct(w, nnla_cmat_view(v, 3, 3, 2), 2, A, wk.p, wk.n), NNLA_ELD);
    SPEC_BAD(nnla_spectral_reconstruct(w, V, 2, nnla_mat_view(a, 3, 3, 2), wk.p, wk.n), NNLA_ELD);
    SPEC_BAD(nnla_spectral_reconstruct(w, nnla_cmat_view(v, 3, 2, 3), 2, A, wk.p, wk.n), NNLA_ESHAPE);
    SPEC_BAD(nnla_spectral_reconstruct(w, V, 2, nnla_mat_view(a, 3, 4, 4), wk.p, wk.n), NNLA_ESHAPE);
    SPEC_BAD(nnla_spectral_reconstruct(w, V, 2, nnla_mat_view(a, 4, 4, 4), wk.p, wk.n), NNLA_ESHAPE);
    SPEC_BAD(nnla_spectral_reconstruct(w, V, 2, A, wk.p, wk.n - 1), NNLA_EWORKSPACE);
    SPEC_BAD(nnla_spectral_reconstruct(w, V, 3, A, wk.p, wk.n), NNLA_EWORKSPACE); /* sized for k = 2 */
    SPEC_BAD(nnla_spectral_reconstruct(w, V, 2, A, a + 8, 8 * sizeof(double)), NNLA_EALIAS);
    {
        double big[16];
        memcpy(big, v, sizeof v);
        SPEC_BAD(nnla_spectral_reconstruct(w, nnla_cmat_view(big, 3, 3, 3), 2,
                                           nnla_mat_view(big + 2, 3, 3, 3), wk.p, wk.n),
                 NNLA_EALIAS);
        SPEC_BAD(nnla_spectral_reconstruct(big, V, 2, nnla_mat_view(big + 1, 3, 3, 3), wk.p, wk.n),
                 NNLA_EALIAS);
    }
    /* NaN / Inf in w or anywhere in v */
    const double bad[] = {NAN, INFINITY, -INFINITY};
    for (int i = 0; i < 3; i++) {
        double w2[3] = {1, 2, 3}, v2[9];
        memcpy(v2, v, sizeof v);
        w2[1] = bad[i];
        SPEC_BAD(nnla_spectral_reconstruct(w2, V, 2, A, wk.p, wk.n), NNLA_ENONFINITE);
        w2[1] = 2;
        v2[4] = bad[i]; /* a single bad value in the middle */
        SPEC_BAD(nnla_spectral_reconstruct(w2, nnla_cmat_view(v2, 3, 3, 3), 2, A, wk.p, wk.n),
                 NNLA_ENONFINITE);
        v2[4] = 1;
        v2[8] = bad[i]; /* the last */
        SPEC_BAD(nnla_spectral_reconstruct(w2, nnla_cmat_view(v2, 3, 3, 3), 2, A, wk.p, wk.n),
                 NNLA_ENONFINITE);
    }
    /* sizes beyond BLAS's int, with fake views */
    SPEC_BAD(nnla_spectral_reconstruct(
                 w, nnla_cmat_view(v, (size_t)INT_MAX + 1, (size_t)INT_MAX + 1, (size_t)INT_MAX + 1), 1,
                 nnla_mat_view(a, (size_t)INT_MAX + 1, (size_t)INT_MAX + 1, (size_t)INT_MAX + 1), wk.p, wk.n),
             NNLA_EOVERFLOW);
    SPEC_BAD(nnla_spectral_reconstruct(w, V, 2, nnla_mat_view(a, 3, 3, (size_t)INT_MAX + 1), wk.p, wk.n),
             NNLA_EOVERFLOW);
#undef SPEC_BAD
    ws_free(&wk);
}

int main(void)
{
    /* A direct use of LAPACKE keeps liblapacke linked even where every LAPACKE routine libnnla
     * calls is defined above (static libnnla with --as-needed). LAPACK's eps is 2^-53. */
    if (LAPACKE_dlamch('E') != DBL_EPSILON / 2) {
        fprintf(stderr, "unexpected LAPACK machine epsilon\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_svd_workspace_size),  cmocka_unit_test(test_svd_diagonal),
        cmocka_unit_test(test_svd_rank1),           cmocka_unit_test(test_svd_rotation),
        cmocka_unit_test(test_svd_hand_2x2),        cmocka_unit_test(test_svd_hand_2x3_3x3),
        cmocka_unit_test(test_svd_residuals),       cmocka_unit_test(test_svd_alloc_matches),
        cmocka_unit_test(test_svd_fallback),        cmocka_unit_test(test_svd_bad_input),
        cmocka_unit_test(test_eigh_workspace_size), cmocka_unit_test(test_eigh_diagonal),
        cmocka_unit_test(test_eigh_hand),           cmocka_unit_test(test_paper_section2),
        cmocka_unit_test(test_eigh_residuals),      cmocka_unit_test(test_eigh_symmetry_tolerance),
        cmocka_unit_test(test_eigh_bad_input),      cmocka_unit_test(test_eigh_noconv),
        cmocka_unit_test(test_spectral_selection),  cmocka_unit_test(test_spectral_reconstruct_random),
        cmocka_unit_test(test_spectral_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
