/*
 * nnla-bench optim: optimizer steps on a large parameter vector against memory-bound loops over
 * the same arrays, and the losses on a classifier's batch against one exp() per entry.
 *
 *   BENCH optim_adam_n<N>   median_s=... gbps=... speedup_vs_triad=... bandwidth_vs_triad=...
 *                           speedup_vs_same_traffic=...
 *   BENCH optim_adamw_n<N>, optim_sgd_nesterov_n<N>: the same fields
 *   BENCH clip_grad_norm_n<N> median_s=... speedup_vs_sumsq=...
 *   BENCH loss_<kind>_b1024x10 median_s=... ns_per_entry=... speedup_vs_exp_pass=...
 *
 * Baselines, timed in alternation with the case (bench_compare):
 * - triad: p = g + s m over the same n doubles (two streams read, one written), the classic
 *   memory-bound loop. An Adam step reads four vectors and writes three, so it cannot reach the
 *   triad's time: bandwidth_vs_triad compares bytes per second instead (Adam 7 n doubles, SGD
 *   with Nesterov momentum 5 n, the triad 3 n; write-allocate traffic not counted): 1 means the
 *   step streams memory as fast as the triad does.
 * - same traffic: a loop that reads and writes exactly what the step does (for Adam p, m, v
 *   updated from g with multiply-adds, no sqrt nor division): speedup_vs_same_traffic near 1
 *   means the step's arithmetic hides under its memory traffic.
 * - sumsq: a plain sum of squares over the gradient (what clipping must at least read).
 * - exp pass: y = exp(x) over the batch's entries, the one exp() per entry that a softmax or a
 *   sigmoid cannot avoid.
 * N defaults to 1000000; `nnla-bench optim N` changes it.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nnla.h>

#include "bench.h"

typedef struct step_case {
    nnla_optim_config cfg;
    double *p, *g, *m, *v; /* m, v: the state's own vectors (SGD: m is the momentum buffer) */
    void *state;
    size_t n;
    int kind; /* baseline: 0 triad, 1 same traffic as Adam, 2 same traffic as SGD with momentum */
} step_case;

static void run_step(void *arg)
{
    step_case *c = arg;
    if (nnla_optim_step(&c->cfg, 1e-3, c->p, c->g, c->n, c->state) != NNLA_OK) abort();
}

/* Called through pointers so that the compiler neither inlines nor merges the baselines. */
static void triad(double *restrict a, const double *restrict b, const double *restrict c, double s, size_t n)
{
    for (size_t i = 0; i < n; i++) a[i] = b[i] + s * c[i];
}
static void (*volatile triad_fn)(double *restrict, const double *restrict, const double *restrict, double,
                                 size_t) = triad;

static void adam_traffic(double *restrict p, const double *restrict g, double *restrict m, double *restrict v,
                         size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double gi = g[i];
        m[i] = 0.9 * m[i] + 0.1 * gi;
        v[i] = 0.999 * v[i] + 0.001 * gi * gi;
        p[i] = p[i] - 1e-3 * m[i] + 1e-9 * v[i];
    }
}
static void (*volatile adam_traffic_fn)(double *restrict, const double *restrict, double *restrict,
                                        double *restrict, size_t) = adam_traffic;

static void sgd_traffic(double *restrict p, const double *restrict g, double *restrict b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double bi = 0.9 * b[i] + g[i];
        b[i] = bi;
        p[i] = p[i] - 1e-3 * (g[i] + 0.9 * bi);
    }
}
static void (*volatile sgd_traffic_fn)(double *restrict, const double *restrict, double *restrict,
                                       size_t) = sgd_traffic;

static void run_triad(void *arg)
{
    step_case *c = arg;
    triad_fn(c->p, c->g, c->m, 0.5, c->n);
}

static void run_same_traffic(void *arg)
{
    step_case *c = arg;
    if (c->kind == 2)
        sgd_traffic_fn(c->p, c->g, c->m, c->n);
    else
        adam_traffic_fn(c->p, c->g, c->m, c->v, c->n);
}

static double sumsq(const double *x, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += x[i] * x[i];
    return s;
}
static double (*volatile sumsq_fn)(const double *, size_t) = sumsq;
static volatile double sink;

static void run_clip(void *arg)
{
    step_case *c = arg;
    double nrm;
    /* max_norm = Inf: the norm is computed in full and nothing is scaled (the grad stays put). */
    if (nnla_clip_grad_norm(c->g, c->n, INFINITY, &nrm) != NNLA_OK) abort();
    sink = nrm;
}

static void run_sumsq(void *arg)
{
    step_case *c = arg;
    sink = sumsq_fn(c->g, c->n);
}

static int bench_steps(size_t n, int reps)
{
    /* p and g in one block, staggered by 320 bytes modulo 4096 (separate malloc's of 8 MB land at
     * the same offset modulo 4096, where a store to one array and a load from another alias). */
    size_t stride = (n * sizeof(double) + 4095) / 4096 * 4096 + 320;
    unsigned char *block = malloc(2 * stride + 64);
    if (!block) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    unsigned char *base = block + (64 - (uintptr_t)block % 64) % 64;
    double *p = (double *)(void *)base, *g = (double *)(void *)(base + stride);
    unsigned long long s = 42;
    for (size_t i = 0; i < n; i++) {
        p[i] = bench_urand(&s);
        g[i] = bench_urand(&s);
    }
    static const struct {
        const char *name;
        int kind;
        double streams; /* doubles moved per parameter: reads + writes */
    } cases[] = {{"adam", 1, 7.0}, {"adamw", 1, 7.0}, {"sgd_nesterov", 2, 5.0}};
    int rc = 0;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        step_case c;
        memset(&c, 0, sizeof c);
        c.cfg = k == 0 ? nnla_optim_adam_default() : k == 1 ? nnla_optim_adamw_default() : nnla_optim_sgd_default();
        if (k == 2) {
            c.cfg.sgd.momentum = 0.9;
            c.cfg.sgd.nesterov = 1;
        }
        size_t bytes;
        if (nnla_optim_state_size(&c.cfg, n, &bytes) != NNLA_OK || !(c.state = malloc(bytes)) ||
            nnla_optim_state_init(&c.cfg, n, c.state, bytes) != NNLA_OK) {
            fprintf(stderr, "optimizer state\n");
            free(c.state);
            rc = 1;
            break;
        }
        c.p = p, c.g = g, c.n = n, c.kind = cases[k].kind;
        /* One step fills SGD's buffer; the baselines then run over the state's own vectors. */
        nnla_optim_state_info info;
        if (nnla_optim_step(&c.cfg, 1e-3, p, g, n, c.state) != NNLA_OK ||
            nnla_optim_state_view(c.state, &info) != NNLA_OK) {
            fprintf(stderr, "optimizer step\n");
            free(c.state);
            rc = 1;
            break;
        }
        c.m = (double *)(uintptr_t)(k == 2 ? info.momentum_buffer : info.exp_avg);
        c.v = (double *)(uintptr_t)info.exp_avg_sq;
        double ts, tt, ts2, tq;
        bench_compare(run_step, &c, run_triad, &c, 2, reps, &ts, &tt);
        bench_compare(run_step, &c, run_same_traffic, &c, 2, reps, &ts2, &tq);
        double dn = (double)n * sizeof(double);
        double bw = cases[k].streams * dn / ts, bw_triad = 3.0 * dn / tt;
        printf("BENCH optim_%s_n%zu median_s=%.4g gbps=%.3g speedup_vs_triad=%.3f bandwidth_vs_triad=%.3f "
               "speedup_vs_same_traffic=%.3f\n",
               cases[k].name, n, ts, bw * 1e-9, tt / ts, bw / bw_triad, tq / ts2);
        fflush(stdout);
        free(c.state);
    }
    if (rc == 0) {
        step_case c;
        memset(&c, 0, sizeof c);
        c.g = g, c.n = n;
        double tc, tsq;
        bench_compare(run_clip, &c, run_sumsq, &c, 2, reps, &tc, &tsq);
        printf("BENCH clip_grad_norm_n%zu median_s=%.4g speedup_vs_sumsq=%.3f\n", n, tc, tsq / tc);
    }
    free(block);
    return rc;
}

/* ------------------------------------------------------------------ losses */

typedef struct loss_case {
    int kind; /* 0 ce index, 1 ce prob, 2 mse, 3 bce */
    size_t rows, cols;
    double *x, *t, *g, *y;
    size_t *labels;
    int calls;
} loss_case;

static void run_loss(void *arg)
{
    loss_case *c = arg;
    nnla_cmat x = nnla_cmat_view(c->x, c->rows, c->cols, c->cols);
    nnla_cmat t = nnla_cmat_view(c->t, c->rows, c->cols, c->cols);
    nnla_mat g = nnla_mat_view(c->g, c->rows, c->cols, c->cols);
    double loss = 0.0;
    size_t correct;
    for (int r = 0; r < c->calls; r++) {
        nnla_status st = NNLA_OK;
        switch (c->kind) {
        case 0: st = nnla_loss_cross_entropy(x, c->labels, 0.0, &loss, g, &correct); break;
        case 1: st = nnla_loss_cross_entropy_prob(x, t, 0.0, &loss, g, &correct); break;
        case 2: st = nnla_loss_mse(x, t, &loss, g); break;
        default: st = nnla_loss_bce_logits(x, t, &loss, g); break;
        }
        if (st != NNLA_OK) abort();
    }
    sink = loss;
}

static void exp_pass(double *restrict y, const double *restrict x, size_t n)
{
    for (size_t i = 0; i < n; i++) y[i] = exp(x[i]);
}
static void (*volatile exp_fn)(double *restrict, const double *restrict, size_t) = exp_pass;

static void run_exp(void *arg)
{
    loss_case *c = arg;
    for (int r = 0; r < c->calls; r++) exp_fn(c->y, c->x, c->rows * c->cols);
}

static int bench_losses(int reps)
{
    const size_t rows = 1024, cols = 10, n = rows * cols;
    loss_case c;
    memset(&c, 0, sizeof c);
    c.rows = rows, c.cols = cols, c.calls = 20;
    c.x = malloc(n * sizeof *c.x), c.t = malloc(n * sizeof *c.t), c.g = malloc(n * sizeof *c.g);
    c.y = malloc(n * sizeof *c.y), c.labels = malloc(rows * sizeof *c.labels);
    if (!c.x || !c.t || !c.g || !c.y || !c.labels) {
        fprintf(stderr, "out of memory\n");
        free(c.x), free(c.t), free(c.g), free(c.y), free(c.labels);
        return 1;
    }
    unsigned long long s = 7;
    for (size_t i = 0; i < rows; i++) {
        c.labels[i] = (size_t)((bench_urand(&s) + 1.0) * 0.5 * (double)cols) % cols;
        for (size_t j = 0; j < cols; j++) {
            c.x[i * cols + j] = 4.0 * bench_urand(&s);
            c.t[i * cols + j] = j == c.labels[i] ? 1.0 : 0.0;
        }
    }
    static const char *names[] = {"cross_entropy", "cross_entropy_prob", "mse", "bce_logits"};
    for (int k = 0; k < 4; k++) {
        c.kind = k;
        double tl, te;
        bench_compare(run_loss, &c, run_exp, &c, 3, reps, &tl, &te);
        printf("BENCH loss_%s_b%zux%zu median_s=%.4g ns_per_entry=%.3g speedup_vs_exp_pass=%.3f\n", names[k], rows,
               cols, tl / c.calls, tl / c.calls / (double)n * 1e9, te / tl);
        fflush(stdout);
    }
    free(c.x), free(c.t), free(c.g), free(c.y), free(c.labels);
    return 0;
}

int bench_cmd_optim(int argc, char **argv)
{
    size_t n = 1000000;
    if (argc >= 1) {
        long v = atol(argv[0]);
        if (v > 0) n = (size_t)v;
    }
    int reps = bench_reps(15);
    int rc = bench_steps(n, reps);
    int rc2 = bench_losses(reps);
    return rc ? rc : rc2;
}
