/*
 * par_sweep: where do threads start to pay? Built by par_sweep.sh from libnnla's sources with the
 * thresholds NNLA_CONV_PAR_MIN_FLOPS and NNLA_POOL_PAR_MIN set to 0 (every call that can split
 * does), linked against the OpenMP OpenBLAS. For a ladder of sizes it times each pass with one
 * thread and with two (omp_set_num_threads, in alternation, medians after a warm-up) and prints
 *
 *   SWEEP <pass> <size> work=<flops or element reads> t1_s=<s> t2_s=<s> t1_over_t2=<x>
 *
 * t1_over_t2 above 1: two threads are faster. The threshold in the library is the work from which
 * the ratio stays above 1 (docs/conv.md, "Threads"). Usage: par_sweep [reps] (default 41).
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nnla.h>

#include "../bench.h"

typedef struct sweep_case {
    int kind; /* 0 conv forward, 1 conv backward (data + weights), 2 max pool, 3 max pool backward, 4 global avg */
    nnla_conv2d_desc d;
    nnla_pool2d_desc pd;
    size_t batch, c, h, w, oh, ow;
    double *x, *wt, *y, *dy, *dx, *dw;
    uint32_t *am;
    void *work;
    size_t ws;
    int threads, bad;
} sweep_case;

static void run(void *p)
{
    sweep_case *s = p;
    omp_set_num_threads(s->threads);
    nnla_status st = NNLA_OK;
    switch (s->kind) {
    case 0:
        st = nnla_conv2d_forward(&s->d, s->batch, s->h, s->w, s->x, s->wt, NULL, nnla_act_default(NNLA_ACT_RELU), s->y,
                                 s->work, s->ws);
        break;
    case 1:
        st = nnla_conv2d_backward_data(&s->d, s->batch, s->h, s->w, s->dy, s->wt, s->dx, s->work, s->ws);
        if (st == NNLA_OK)
            st = nnla_conv2d_backward_weights(&s->d, s->batch, s->h, s->w, s->x, s->dy, s->dw, NULL, s->work, s->ws);
        break;
    case 2:
        st = nnla_pool2d_forward_argmax(&s->pd, s->batch, s->c, s->h, s->w, s->x, s->y, s->am);
        break;
    case 3:
        st = nnla_pool2d_backward(&s->pd, s->batch, s->c, s->h, s->w, s->dy, s->am, s->dx);
        break;
    default:
        st = nnla_global_avgpool2d(s->batch, s->c, s->h, s->w, s->x, s->y);
        break;
    }
    if (st != NNLA_OK) s->bad = 1;
}

static const char *names[] = {"conv_fwd", "conv_bwd", "maxpool_fwd", "maxpool_bwd", "global_avg"};

static int sweep(int kind, size_t batch, size_t c, size_t hw, int reps)
{
    sweep_case a;
    memset(&a, 0, sizeof a);
    a.kind = kind;
    a.batch = batch;
    a.c = c;
    a.h = a.w = hw;
    double work;
    size_t nx = batch * c * hw * hw, ny, nw = 0;
    if (kind <= 1) {
        a.d = nnla_conv2d_desc_make(c, c, 3, 3);
        a.d.pad_top = a.d.pad_bottom = a.d.pad_left = a.d.pad_right = 1;
        a.oh = a.ow = hw;
        nw = c * c * 9;
        size_t w1 = 0, w2 = 0, w3 = 0;
        omp_set_num_threads(2);
        nnla_conv2d_workspace_size(&a.d, batch, hw, hw, &w1);
        nnla_conv2d_backward_data_workspace_size(&a.d, batch, hw, hw, &w2);
        nnla_conv2d_backward_weights_workspace_size(&a.d, batch, hw, hw, &w3);
        a.ws = w1 > w2 ? w1 : w2;
        a.ws = a.ws > w3 ? a.ws : w3;
        work = 2.0 * (double)batch * (double)c * (double)(c * 9) * (double)(hw * hw) * (kind ? 2.0 : 1.0);
    } else {
        a.pd = nnla_pool2d_desc_make(NNLA_POOL_MAX, 2, 2);
        a.oh = a.ow = kind == 4 ? 1 : hw / 2;
        /* the library's own measure: every window's entries plus the input plane */
        work = (double)(batch * c) * (kind == 4 ? (double)(hw * hw) : (double)(a.oh * a.ow * 4 + hw * hw));
    }
    ny = batch * c * a.oh * a.ow;
    a.x = malloc(nx * sizeof(double));
    a.dx = malloc(nx * sizeof(double));
    a.y = malloc(ny * sizeof(double));
    a.dy = malloc(ny * sizeof(double));
    a.am = malloc(ny * sizeof(uint32_t));
    a.wt = nw ? malloc(nw * sizeof(double)) : NULL;
    a.dw = nw ? malloc(nw * sizeof(double)) : NULL;
    a.work = a.ws ? malloc(a.ws) : NULL;
    unsigned long long s = 11;
    for (size_t i = 0; i < nx; i++) a.x[i] = bench_urand(&s);
    for (size_t i = 0; i < ny; i++) a.dy[i] = bench_urand(&s);
    for (size_t i = 0; i < nw; i++) a.wt[i] = bench_urand(&s);
    if (kind == 3) { /* the argmax of a forward pass */
        a.kind = 2;
        a.threads = 1;
        run(&a);
        a.kind = 3;
    }
    sweep_case b = a;
    a.threads = 1;
    b.threads = 2;
    double t1, t2;
    bench_compare(run, &a, run, &b, 3, reps, &t1, &t2);
    printf("SWEEP %s b%zu_c%zu_%zux%zu work=%.3g t1_s=%.4g t2_s=%.4g t1_over_t2=%.3f\n", names[kind], batch, c, hw,
           hw, work, t1, t2, t1 / t2);
    fflush(stdout);
    int bad = a.bad || b.bad;
    free(a.x);
    free(a.dx);
    free(a.y);
    free(a.dy);
    free(a.am);
    free(a.wt);
    free(a.dw);
    free(a.work);
    return bad;
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 41, bad = 0;
    if (reps < 1) reps = 41;
    if (nnla_blas_parallel() != 2) fprintf(stderr, "par_sweep: not the OpenMP OpenBLAS (%d)\n", nnla_blas_parallel());
    /* convolution: batch 2 (two images: RUN_BATCH) and batch 1 (a team), growing */
    const size_t conv[][3] = {{2, 2, 4}, {2, 4, 6}, {2, 4, 8}, {2, 8, 8}, {2, 8, 12}, {2, 8, 16}, {2, 16, 16},
                              {2, 16, 24}, {2, 16, 32}, {1, 16, 32}, {1, 32, 32}, {1, 32, 64}};
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < sizeof conv / sizeof conv[0]; i++) bad |= sweep(k, conv[i][0], conv[i][1], conv[i][2], reps);
    /* pooling: batch x channels planes of hw x hw */
    const size_t pool[][3] = {{1, 4, 8}, {1, 8, 16}, {1, 16, 16}, {2, 16, 16}, {2, 16, 32}, {4, 16, 32},
                              {4, 32, 32}, {8, 32, 32}, {8, 64, 32}, {16, 64, 32}, {32, 64, 32}};
    for (int k = 2; k < 5; k++)
        for (size_t i = 0; i < sizeof pool / sizeof pool[0]; i++) bad |= sweep(k, pool[i][0], pool[i][1], pool[i][2], reps);
    return bad;
}
