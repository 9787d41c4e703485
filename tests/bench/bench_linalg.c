/*
 * Benchmarks of the linalg module (SVD, eigh) and of nnla_gemm.
 *
 *   nnla-bench svd  [n ...]   thin SVD vs LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'S'), n = 256, 512, 1024
 *   nnla-bench eigh [n ...]   eigh with vectors vs LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V')
 *   nnla-bench gemm [n ...]   nnla_gemm vs the raw cblas_dgemm it calls, n^3 = 64^3, 256^3, 1024^3
 *
 * Both sides of a comparison run on the same matrix and do the same work: each timed run first
 * copies the input (LAPACK destroys it; nnla_svd copies it again internally, as LAPACKE's row-major
 * path transposes it), and nnla's workspace is allocated once outside the timing, as a caller of
 * the workspace API would. Runs alternate (bench_compare) and the medians are compared.
 *
 * The matrices: a_ij = sin(i n + j) for the SVD and a_ij = sin(i n + j) + sin(j n + i) for eigh;
 * tests/bench/peer_scipy.py builds the same ones for SciPy.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>

#include <nnla.h>

#include "bench.h"

static const size_t default_sizes[3] = {256, 512, 1024};

/* Sizes from the command line (positive integers), else the defaults. */
static size_t parse_sizes(int argc, char **argv, size_t *out, size_t cap, const size_t *dflt, size_t ndflt)
{
    size_t k = 0;
    for (int i = 0; i < argc && k < cap; i++) {
        long v = strtol(argv[i], NULL, 10);
        if (v > 0) out[k++] = (size_t)v;
    }
    if (k) return k;
    memcpy(out, dflt, ndflt * sizeof *out);
    return ndflt;
}

/* Default repetitions: fewer for the big, slow cases; NNLA_BENCH_REPS overrides. */
static int reps_for(size_t n, int small, int medium, int large)
{
    return bench_reps(n <= 256 ? small : n <= 512 ? medium : large);
}

static double *alloc_doubles(size_t n)
{
    double *p = malloc(n * sizeof *p);
    if (!p) {
        fprintf(stderr, "nnla-bench: out of memory\n");
        exit(1);
    }
    return p;
}

static void fill_sin(double *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) a[i * n + j] = sin((double)(i * n + j));
}

static void fill_sym(double *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) a[i * n + j] = sin((double)(i * n + j)) + sin((double)(j * n + i));
}

/* Largest relative difference between two vectors, against the first's max magnitude. */
static double max_rel_diff(const double *x, const double *y, size_t n)
{
    double d = 0.0, s = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (fabs(x[i] - y[i]) > d) d = fabs(x[i] - y[i]);
        if (fabs(x[i]) > s) s = fabs(x[i]);
    }
    return s > 0 ? d / s : d;
}

/* ------------------------------------------------------------------ SVD */

typedef struct svd_case {
    size_t n;
    const double *a;
    double *abuf, *s, *u, *vt;    /* nnla's side */
    double *bbuf, *bs, *bu, *bvt; /* LAPACKE's side */
    void *work;
    size_t work_size;
    int failed;
} svd_case;

static void run_nnla_svd(void *p)
{
    svd_case *c = p;
    size_t n = c->n;
    memcpy(c->abuf, c->a, n * n * sizeof(double));
    nnla_status st =
        nnla_svd(NNLA_SVD_THIN, nnla_cmat_view(c->abuf, n, n, n), c->s, nnla_mat_view(c->u, n, n, n),
                 nnla_mat_view(c->vt, n, n, n), c->work, c->work_size, NULL);
    if (st != NNLA_OK) c->failed = 1;
}

static void run_lapacke_svd(void *p)
{
    svd_case *c = p;
    int n = (int)c->n;
    memcpy(c->bbuf, c->a, c->n * c->n * sizeof(double));
    if (LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'S', n, n, c->bbuf, n, c->bs, c->bu, n, c->bvt, n) != 0)
        c->failed = 1;
}

int bench_cmd_svd(int argc, char **argv)
{
    size_t sizes[16];
    size_t ns = parse_sizes(argc, argv, sizes, 16, default_sizes, 3);
    int rc = 0;
    for (size_t t = 0; t < ns; t++) {
        svd_case c;
        memset(&c, 0, sizeof c);
        size_t n = c.n = sizes[t], nn = n * n;
        double *a = alloc_doubles(nn);
        fill_sin(a, n);
        c.a = a;
        c.abuf = alloc_doubles(nn);
        c.u = alloc_doubles(nn);
        c.vt = alloc_doubles(nn);
        c.s = alloc_doubles(n);
        c.bbuf = alloc_doubles(nn);
        c.bu = alloc_doubles(nn);
        c.bvt = alloc_doubles(nn);
        c.bs = alloc_doubles(n);
        if (nnla_svd_workspace_size(NNLA_SVD_THIN, n, n, &c.work_size) != NNLA_OK ||
            !(c.work = malloc(c.work_size))) {
            fprintf(stderr, "nnla-bench svd: workspace for n = %zu failed\n", n);
            return 1;
        }
        int reps = reps_for(n, 21, 11, 5);
        double tn, tb;
        bench_compare(run_nnla_svd, &c, run_lapacke_svd, &c, 1, reps, &tn, &tb);
        double diff = max_rel_diff(c.bs, c.s, n);
        if (c.failed || diff > 1e-10 || tn <= 0) {
            fprintf(stderr, "nnla-bench svd: n = %zu failed (status or singular values differ by %.3g)\n", n,
                    diff);
            rc = 1;
        }
        printf("BENCH svd_thin_n%zu median_s=%.6g speedup_vs_lapacke_rowmajor=%.3f lapacke_rowmajor_s=%.6g "
               "reps=%d\n",
               n, tn, tb / tn, tb, reps);
        fflush(stdout);
        free(a);
        free(c.abuf);
        free(c.u);
        free(c.vt);
        free(c.s);
        free(c.bbuf);
        free(c.bu);
        free(c.bvt);
        free(c.bs);
        free(c.work);
    }
    return rc;
}

/* ------------------------------------------------------------------ eigh */

typedef struct eigh_case {
    size_t n;
    const double *a;
    double *abuf, *w, *v; /* nnla's side */
    double *bbuf, *bw;    /* LAPACKE's side (eigenvectors overwrite bbuf) */
    void *work;
    size_t work_size;
    int failed;
} eigh_case;

static void run_nnla_eigh(void *p)
{
    eigh_case *c = p;
    size_t n = c->n;
    memcpy(c->abuf, c->a, n * n * sizeof(double));
    nnla_status st = nnla_eigh(NNLA_EIGH_VECTORS, nnla_cmat_view(c->abuf, n, n, n), c->w,
                               nnla_mat_view(c->v, n, n, n), c->work, c->work_size);
    if (st != NNLA_OK) c->failed = 1;
}

static void run_lapacke_eigh(void *p)
{
    eigh_case *c = p;
    int n = (int)c->n;
    memcpy(c->bbuf, c->a, c->n * c->n * sizeof(double));
    if (LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'L', n, c->bbuf, n, c->bw) != 0) c->failed = 1;
}

int bench_cmd_eigh(int argc, char **argv)
{
    size_t sizes[16];
    size_t ns = parse_sizes(argc, argv, sizes, 16, default_sizes, 3);
    int rc = 0;
    for (size_t t = 0; t < ns; t++) {
        eigh_case c;
        memset(&c, 0, sizeof c);
        size_t n = c.n = sizes[t], nn = n * n;
        double *a = alloc_doubles(nn);
        fill_sym(a, n);
        c.a = a;
        c.abuf = alloc_doubles(nn);
        c.v = alloc_doubles(nn);
        c.w = alloc_doubles(n);
        c.bbuf = alloc_doubles(nn);
        c.bw = alloc_doubles(n);
        if (nnla_eigh_workspace_size(NNLA_EIGH_VECTORS, n, &c.work_size) != NNLA_OK ||
            !(c.work = malloc(c.work_size))) {
            fprintf(stderr, "nnla-bench eigh: workspace for n = %zu failed\n", n);
            return 1;
        }
        int reps = reps_for(n, 21, 11, 5);
        double tn, tb;
        bench_compare(run_nnla_eigh, &c, run_lapacke_eigh, &c, 1, reps, &tn, &tb);
        double diff = max_rel_diff(c.bw, c.w, n);
        if (c.failed || diff > 1e-10 || tn <= 0) {
            fprintf(stderr, "nnla-bench eigh: n = %zu failed (status or eigenvalues differ by %.3g)\n", n,
                    diff);
            rc = 1;
        }
        printf(
            "BENCH eigh_vectors_n%zu median_s=%.6g speedup_vs_lapacke_rowmajor=%.3f lapacke_rowmajor_s=%.6g "
            "reps=%d\n",
            n, tn, tb / tn, tb, reps);
        fflush(stdout);
        free(a);
        free(c.abuf);
        free(c.v);
        free(c.w);
        free(c.bbuf);
        free(c.bw);
        free(c.work);
    }
    return rc;
}

/* ------------------------------------------------------------------ GEMM */

typedef struct gemm_case {
    size_t n;
    int batch; /* GEMMs per timed sample, so a sample of a small GEMM is not all clock noise */
    const double *a, *b;
    double *c;
    int failed;
} gemm_case;

static void run_nnla_gemm(void *p)
{
    gemm_case *g = p;
    size_t n = g->n;
    for (int r = 0; r < g->batch; r++)
        if (nnla_gemm(NNLA_NO_TRANS, NNLA_NO_TRANS, 1.0, nnla_cmat_view(g->a, n, n, n),
                      nnla_cmat_view(g->b, n, n, n), 0.0, nnla_mat_view(g->c, n, n, n)) != NNLA_OK)
            g->failed = 1;
}

static void run_cblas_gemm(void *p)
{
    gemm_case *g = p;
    int n = (int)g->n;
    for (int r = 0; r < g->batch; r++)
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, g->a, n, g->b, n, 0.0, g->c, n);
}

int bench_cmd_gemm(int argc, char **argv)
{
    static const size_t dflt[3] = {64, 256, 1024};
    size_t sizes[16];
    size_t ns = parse_sizes(argc, argv, sizes, 16, dflt, 3);
    int rc = 0;
    for (size_t t = 0; t < ns; t++) {
        size_t n = sizes[t], nn = n * n;
        double *a = alloc_doubles(nn), *b = alloc_doubles(nn), *c = alloc_doubles(nn);
        for (size_t i = 0; i < nn; i++) {
            a[i] = sin((double)i);
            b[i] = cos((double)i);
        }
        gemm_case g = {n, 1, a, b, c, 0};
        /* at least ~1e8 flops (a few ms) per sample, at least one GEMM */
        double flops = 2.0 * (double)n * (double)n * (double)n;
        g.batch = flops >= 1e8 ? 1 : (int)(1e8 / flops);
        int reps = bench_reps(n <= 64 ? 51 : n <= 256 ? 31 : 9);
        double tn, tb;
        bench_compare(run_nnla_gemm, &g, run_cblas_gemm, &g, 2, reps, &tn, &tb);
        if (g.failed || tn <= 0) {
            fprintf(stderr, "nnla-bench gemm: n = %zu failed\n", n);
            rc = 1;
        }
        tn /= g.batch;
        tb /= g.batch;
        printf(
            "BENCH gemm_%zu median_s=%.6g speedup_vs_cblas_dgemm=%.3f cblas_dgemm_s=%.6g gflops=%.2f reps=%d "
            "batch=%d\n",
            n, tn, tb / tn, tb, flops / tn * 1e-9, reps, g.batch);
        fflush(stdout);
        free(a);
        free(b);
        free(c);
    }
    return rc;
}
