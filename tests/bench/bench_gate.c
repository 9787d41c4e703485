/*
 * nnla-bench gate: the cost of the gate that bounds how many threads are inside OpenBLAS at once
 * (src/blas.c, docs/guide.md "Threads").
 *
 *   nnla-bench gate [n ...]     n x n x n products, default 8, 32, 96
 *
 * Per size, three interleaved timings of the same product on one thread: the raw cblas_dgemm, the
 * raw cblas_dgemm inside the gate (a copy of the gate's code, bench_gate_copy.c), and nnla_gemm
 * (argument checks + the library's gate + cblas_dgemm). Ratios are against the raw call:
 *   BENCH gate_gemm_<n> median_s=<gated> speedup_vs_cblas_dgemm=<raw/gated> nnla_gemm_s=...
 * Then the same products from several threads at once (2 and 8, each with its own matrices):
 * the wall time of all of them, gated against raw, where the gate's counter is shared and contended.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <nnla.h>

#include "bench.h"

/* The copy of the gate (bench_gate_copy.c). */
void nnla__blas_enter(void);
void nnla__blas_leave(void);
int nnla__blas_gate_limit(void);

typedef struct prod {
    int n, batch; /* products per timed sample */
    double *a, *b, *c;
    int failed;
} prod;

static void prod_init(prod *p, int n, int batch, unsigned long long seed)
{
    size_t nn = (size_t)n * (size_t)n;
    p->n = n;
    p->batch = batch;
    p->a = malloc(nn * sizeof *p->a);
    p->b = malloc(nn * sizeof *p->b);
    p->c = malloc(nn * sizeof *p->c);
    p->failed = p->a == NULL || p->b == NULL || p->c == NULL;
    for (size_t i = 0; !p->failed && i < nn; i++) {
        p->a[i] = bench_urand(&seed);
        p->b[i] = bench_urand(&seed);
    }
}

static void prod_free(prod *p)
{
    free(p->a);
    free(p->b);
    free(p->c);
}

static void run_raw(void *arg)
{
    prod *p = arg;
    for (int r = 0; r < p->batch; r++)
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, p->n, p->n, p->n, 1.0, p->a, p->n, p->b, p->n,
                    0.0, p->c, p->n);
}

static void run_gated(void *arg)
{
    prod *p = arg;
    for (int r = 0; r < p->batch; r++) {
        nnla__blas_enter();
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, p->n, p->n, p->n, 1.0, p->a, p->n, p->b, p->n,
                    0.0, p->c, p->n);
        nnla__blas_leave();
    }
}

static void run_nnla(void *arg)
{
    prod *p = arg;
    size_t n = (size_t)p->n;
    for (int r = 0; r < p->batch; r++)
        if (nnla_gemm(NNLA_NO_TRANS, NNLA_NO_TRANS, 1.0, nnla_cmat_view(p->a, n, n, n),
                      nnla_cmat_view(p->b, n, n, n), 0.0, nnla_mat_view(p->c, n, n, n)) != NNLA_OK)
            p->failed = 1;
}

static void run_pairs(void *arg)
{
    prod *p = arg;
    for (int r = 0; r < p->batch; r++) {
        nnla__blas_enter();
        nnla__blas_leave();
    }
}

/* ------------------------------------------------------------------ several threads */

typedef struct team {
    int threads;
    prod *p;                 /* one product per thread */
    void (*fn)(void *);
} team;

typedef struct member {
    void (*fn)(void *);
    prod *p;
} member;

static void *member_main(void *arg)
{
    member *m = arg;
    m->fn(m->p);
    return NULL;
}

/* All threads run fn on their own product once; the caller times the whole. */
static void run_team(void *arg)
{
    team *t = arg;
    pthread_t th[64];
    member mem[64];
    for (int i = 0; i < t->threads; i++) {
        mem[i] = (member){t->fn, &t->p[i]};
        if (pthread_create(&th[i], NULL, member_main, &mem[i]) != 0) {
            t->p[0].failed = 1;
            t->threads = i;
            break;
        }
    }
    for (int i = 0; i < t->threads; i++) pthread_join(th[i], NULL);
}

int bench_cmd_gate(int argc, char **argv)
{
    static const int dflt[3] = {8, 32, 96};
    int sizes[16], ns = 0;
    for (int i = 0; i < argc && ns < 16; i++)
        if (atoi(argv[i]) > 0) sizes[ns++] = atoi(argv[i]);
    if (ns == 0) {
        memcpy(sizes, dflt, sizeof dflt);
        ns = 3;
    }
    int rc = 0, reps = bench_reps(51);
    printf("# gate limit %d threads inside OpenBLAS at once\n", nnla__blas_gate_limit());

    /* enter + leave alone, uncontended */
    prod pairs = {.batch = 1000000};
    double tp = bench_time(run_pairs, &pairs, 2, reps);
    printf("BENCH gate_enter_leave median_s=%.6g ns_per_pair=%.2f reps=%d batch=%d\n", tp / pairs.batch,
           tp / pairs.batch * 1e9, reps, pairs.batch);

    for (int s = 0; s < ns; s++) {
        int n = sizes[s];
        double flops = 2.0 * n * (double)n * n;
        prod p;
        prod_init(&p, n, flops >= 2e7 ? 1 : (int)(2e7 / flops), 42);
        if (p.failed) return 1;
        /* three-way interleave: raw, gated, nnla_gemm */
        for (int w = 0; w < 2; w++) {
            run_raw(&p);
            run_gated(&p);
            run_nnla(&p);
        }
        double *t = malloc(3 * (size_t)reps * sizeof *t);
        if (t == NULL) return 1;
        for (int r = 0; r < reps; r++) {
            double t0 = bench_now();
            run_raw(&p);
            double t1 = bench_now();
            run_gated(&p);
            double t2 = bench_now();
            run_nnla(&p);
            double t3 = bench_now();
            t[r] = t1 - t0;
            t[reps + r] = t2 - t1;
            t[2 * reps + r] = t3 - t2;
        }
        double raw = bench_median(t, (size_t)reps) / p.batch, gated = bench_median(t + reps, (size_t)reps) / p.batch,
               viannla = bench_median(t + 2 * reps, (size_t)reps) / p.batch;
        free(t);
        if (p.failed) rc = 1;
        printf("BENCH gate_gemm_%d median_s=%.6g speedup_vs_cblas_dgemm=%.3f cblas_dgemm_s=%.6g nnla_gemm_s=%.6g "
               "nnla_gemm_speedup_vs_cblas_dgemm=%.3f reps=%d batch=%d\n",
               n, gated, raw / gated, raw, viannla, raw / viannla, reps, p.batch);
        fflush(stdout);

        /* several threads at once, each its own product */
        static const int teams[2] = {2, 8};
        for (int k = 0; k < 2; k++) {
            int threads = teams[k];
            prod ps[8];
            for (int i = 0; i < threads; i++) prod_init(&ps[i], n, p.batch, 7 + (unsigned long long)i);
            team raw_team = {threads, ps, run_raw}, gated_team = {threads, ps, run_gated};
            int treps = reps < 21 ? reps : 21;
            double traw, tgated;
            bench_compare(run_team, &raw_team, run_team, &gated_team, 2, treps, &traw, &tgated);
            if (raw_team.threads != threads || gated_team.threads != threads) rc = 1;
            printf("BENCH gate_gemm_%d_threads_%d median_s=%.6g speedup_vs_cblas_dgemm=%.3f cblas_dgemm_s=%.6g "
                   "reps=%d products_per_thread=%d\n",
                   n, threads, tgated, traw / tgated, traw, treps, p.batch);
            fflush(stdout);
            for (int i = 0; i < threads; i++) prod_free(&ps[i]);
        }
        prod_free(&p);
    }
    return rc;
}
