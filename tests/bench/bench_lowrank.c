/*
 * nnla-bench lowrank [MxN ...]: the randomized SVD against the full thin SVD of the same matrix.
 *
 * Default shapes 1024x1024 and 4096x1024; rank k = 32, oversampling p = 10, q = 2 power iterations.
 * The matrix is A = U diag(sigma) V^T with sigma_i = 1 / (i + 1) (a polynomially decaying spectrum,
 * like trained weight matrices' heavy tails, and harder for a randomized SVD than a geometric one)
 * and U, V orthonormalized Gaussian matrices (dgeqrf + dorgqr), seeded.
 *
 * Each case times, in alternation after a warm-up (bench_compare), nnla_rsvd (thin, workspace
 * allocated once) and nnla_svd (thin, the same), and prints
 *   BENCH rsvd_<m>x<n>_k32 median_s=... speedup_vs_gesdd=... gesdd_s=... err_ratio=...
 *         gemm_floor_s=... of_floor=... reps=...
 * err_ratio = ||A - U_k S_k V_k^T||_2 / sigma_{k+1} (sigma_{k+1} from the full SVD; the 2-norm of
 * the residual from nnla_svd's values), goal <= 1.1; gemm_floor_s is the time of the six
 * cblas_dgemm calls of the same shapes that q = 2 needs (the arithmetic floor), and of_floor the
 * share of the randomized SVD's time they take. Exits 1 when err_ratio > 1.1 or a call fails.
 * tests/bench/peer_lowrank.py compares with scikit-learn and PyTorch on the same kind of matrix.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>

#include <nnla.h>

#include "bench.h"

enum { RANK = 32, OVERSAMPLE = 10, POWER_ITERS = 2 };

static double *alloc_doubles(size_t n)
{
    double *p = malloc(n * sizeof *p);
    if (!p) {
        fprintf(stderr, "nnla-bench: out of memory\n");
        exit(1);
    }
    return p;
}

/* q (rows x cols, column-major, ld rows): orthonormal columns of a seeded Gaussian matrix. */
static int orthonormal_cm(double *q, size_t rows, size_t cols, uint64_t seed)
{
    nnla_rng rng;
    nnla_rng_seed(&rng, seed);
    nnla_rng_fill_normal(&rng, 0.0, 1.0, q, rows * cols);
    double *tau = alloc_doubles(cols);
    int info = LAPACKE_dgeqrf(LAPACK_COL_MAJOR, (int)rows, (int)cols, q, (int)rows, tau);
    if (info == 0) info = LAPACKE_dorgqr(LAPACK_COL_MAJOR, (int)rows, (int)cols, (int)cols, q, (int)rows, tau);
    free(tau);
    return info;
}

/* a (m x n row-major) = U diag(sigma) V^T, sigma_i = 1 / (i + 1). */
static int make_matrix(size_t m, size_t n, double *a)
{
    size_t r = m < n ? m : n;
    double *u = alloc_doubles(m * r), *v = alloc_doubles(n * r);
    if (orthonormal_cm(u, m, r, 101 + 7 * m + n) || orthonormal_cm(v, n, r, 202 + m + 7 * n)) return 1;
    for (size_t j = 0; j < r; j++) { /* scale U's columns (column-major: contiguous) */
        double s = 1.0 / (double)(j + 1);
        for (size_t i = 0; i < m; i++) u[i + j * m] *= s;
    }
    /* row-major A = U S V^T is column-major A^T = V (U S)^T */
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, (int)n, (int)m, (int)r, 1.0, v, (int)n, u, (int)m, 0.0, a,
                (int)n);
    free(u);
    free(v);
    return 0;
}

typedef struct lr_case {
    size_t m, n;
    const double *a;
    double *s, *u, *vt;      /* rsvd: k, m x k, k x n */
    double *fs, *fu, *fvt;   /* full thin SVD */
    void *rwork, *fwork;
    size_t rbytes, fbytes;
    double *g_in, *g_out;    /* the GEMM floor's operands */
    int failed;
} lr_case;

static void run_rsvd(void *p)
{
    lr_case *c = p;
    size_t m = c->m, n = c->n;
    if (nnla_rsvd(NNLA_SVD_THIN, nnla_cmat_view(c->a, m, n, n), RANK, OVERSAMPLE, POWER_ITERS, 12345, c->s,
                  nnla_mat_view(c->u, m, RANK, RANK), nnla_mat_view(c->vt, RANK, n, n), c->rwork, c->rbytes,
                  NULL) != NNLA_OK)
        c->failed = 1;
}

static void run_gesdd(void *p)
{
    lr_case *c = p;
    size_t m = c->m, n = c->n, r = m < n ? m : n;
    if (nnla_svd(NNLA_SVD_THIN, nnla_cmat_view(c->a, m, n, n), c->fs, nnla_mat_view(c->fu, m, r, r),
                 nnla_mat_view(c->fvt, r, n, n), c->fwork, c->fbytes, NULL) != NNLA_OK)
        c->failed = 1;
}

/* The six products of q = 2 (three with A, three with A^T), l = k + p columns, nothing else. */
static void run_gemm_floor(void *p)
{
    lr_case *c = p;
    int m = (int)c->m, n = (int)c->n, l = RANK + OVERSAMPLE, big = m > n ? m : n, small = m > n ? n : m;
    for (int t = 0; t < 3; t++) {
        cblas_dgemm(CblasColMajor, CblasTrans, m >= n ? CblasNoTrans : CblasTrans, l, big, small, 1.0, c->g_in, small,
                    c->a, n, 0.0, c->g_out, l);
        cblas_dgemm(CblasColMajor, CblasTrans, m >= n ? CblasTrans : CblasNoTrans, l, small, big, 1.0, c->g_out, big,
                    c->a, n, 0.0, c->g_in, l);
    }
}

/* ||A - U diag(s) V^T||_2 through nnla_svd's values of the residual. */
static double residual_2norm(const lr_case *c)
{
    size_t m = c->m, n = c->n, r = m < n ? m : n;
    double *e = alloc_doubles(m * n), *us = alloc_doubles(m * RANK), *sv = alloc_doubles(r);
    memcpy(e, c->a, m * n * sizeof(double));
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < RANK; j++) us[i * RANK + j] = c->u[i * RANK + j] * c->s[j];
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, RANK, -1.0, us, RANK, c->vt, (int)n, 1.0, e,
                (int)n);
    nnla_mat z = nnla_mat_view(NULL, 0, 0, 0);
    double out = -1.0;
    if (nnla_svd_alloc(NNLA_SVD_VALUES, nnla_cmat_view(e, m, n, n), sv, z, z, NULL) == NNLA_OK) out = sv[0];
    free(e);
    free(us);
    free(sv);
    return out;
}

int bench_cmd_lowrank(int argc, char **argv)
{
    size_t shapes[16][2] = {{1024, 1024}, {4096, 1024}}, ns = 2, given = 0;
    for (int i = 0; i < argc && given < 16; i++) {
        unsigned long mm, nn;
        if (sscanf(argv[i], "%lux%lu", &mm, &nn) == 2 && mm >= RANK + OVERSAMPLE && nn >= RANK + OVERSAMPLE) {
            shapes[given][0] = mm;
            shapes[given][1] = nn;
            given++;
        }
    }
    if (given) ns = given;
    int rc = 0;
    for (size_t t = 0; t < ns; t++) {
        lr_case c;
        memset(&c, 0, sizeof c);
        size_t m = c.m = shapes[t][0], n = c.n = shapes[t][1], r = m < n ? m : n, big = m > n ? m : n;
        double *a = alloc_doubles(m * n);
        if (make_matrix(m, n, a)) {
            fprintf(stderr, "nnla-bench lowrank: building the %zux%zu matrix failed\n", m, n);
            return 1;
        }
        c.a = a;
        c.s = alloc_doubles(RANK);
        c.u = alloc_doubles(m * RANK);
        c.vt = alloc_doubles(RANK * n);
        c.fs = alloc_doubles(r);
        c.fu = alloc_doubles(m * r);
        c.fvt = alloc_doubles(r * n);
        c.g_in = alloc_doubles(big * (RANK + OVERSAMPLE));
        c.g_out = alloc_doubles(big * (RANK + OVERSAMPLE));
        for (size_t i = 0; i < big * (RANK + OVERSAMPLE); i++) c.g_in[i] = sin((double)i);
        if (nnla_rsvd_workspace_size(NNLA_SVD_THIN, m, n, RANK, OVERSAMPLE, &c.rbytes) != NNLA_OK ||
            nnla_svd_workspace_size(NNLA_SVD_THIN, m, n, &c.fbytes) != NNLA_OK || !(c.rwork = malloc(c.rbytes)) ||
            !(c.fwork = malloc(c.fbytes))) {
            fprintf(stderr, "nnla-bench lowrank: workspace for %zux%zu failed\n", m, n);
            return 1;
        }
        int reps = bench_reps(m * n <= 1024 * 1024 ? 7 : 5);
        double tr, tg;
        bench_compare(run_rsvd, &c, run_gesdd, &c, 1, reps, &tr, &tg);
        double floor = bench_time(run_gemm_floor, &c, 1, bench_reps(9));
        double e2 = residual_2norm(&c), ratio = e2 / c.fs[RANK];
        if (c.failed || !(e2 >= 0.0) || !(ratio <= 1.1) || tr <= 0) {
            fprintf(stderr, "nnla-bench lowrank: %zux%zu failed (status, or err_ratio %.4f > 1.1)\n", m, n, ratio);
            rc = 1;
        }
        printf("BENCH rsvd_%zux%zu_k%d median_s=%.6g speedup_vs_gesdd=%.2f gesdd_s=%.6g err_ratio=%.5f "
               "gemm_floor_s=%.6g of_floor=%.2f p=%d q=%d spectrum=1/(i+1) reps=%d\n",
               m, n, RANK, tr, tg / tr, tg, ratio, floor, floor / tr, OVERSAMPLE, POWER_ITERS, reps);
        fflush(stdout);
        free(a);
        free(c.s);
        free(c.u);
        free(c.vt);
        free(c.fs);
        free(c.fu);
        free(c.fvt);
        free(c.g_in);
        free(c.g_out);
        free(c.rwork);
        free(c.fwork);
    }
    return rc;
}
