/*
 * train_passes: each pass of the benchmark CNN's training step (tests/bench/train_model.c) timed
 * alone at batch 32 through libnnla's public calls: the two convolutions' forward and backward
 * passes, max pooling with its argmax and its backward, a ReLU backward over conv1's output, the
 * dense 512->64 forward and Adam's step on the CNN's 38,570 parameters. The breakdown behind
 * docs/performance.md, "Training"; run it with OMP_NUM_THREADS=1 and 2 to see what threads buy.
 *
 *   PASS <name> us=<best of 5 runs of 2000 calls, microseconds per call> threads=<n>
 *
 * Usage: tests/bench/ab/train_passes.sh (builds against build/'s libnnla).
 */
#define _POSIX_C_SOURCE 199309L /* clock_gettime */

#include <nnla.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

#define REPS 2000
#define PASS(name, stmt)                                                                                     \
    do {                                                                                                     \
        for (int r_ = 0; r_ < 50; r_++) (void)(stmt);                                                         \
        double best_ = 1e9;                                                                                  \
        for (int k_ = 0; k_ < 5; k_++) {                                                                     \
            double t0_ = now();                                                                              \
            for (int r_ = 0; r_ < REPS; r_++) (void)(stmt);                                                   \
            double t_ = (now() - t0_) / REPS;                                                                \
            if (t_ < best_) best_ = t_;                                                                      \
        }                                                                                                    \
        printf("PASS %s us=%.2f threads=%d\n", name, best_ * 1e6, nnla_num_threads());                      \
    } while (0)

static double *filled(size_t n, unsigned *seed)
{
    double *p = malloc(n * sizeof *p);
    if (p == NULL) exit(1);
    for (size_t i = 0; i < n; i++) {
        *seed = *seed * 1103515245u + 12345u;
        p[i] = (double)(*seed >> 8) / 16777216.0 - 0.5;
    }
    return p;
}

int main(void)
{
    const size_t B = 32;
    unsigned seed = 1;
    nnla_conv2d_desc c1 = nnla_conv2d_desc_make(1, 16, 3, 3), c2 = nnla_conv2d_desc_make(16, 32, 3, 3);
    c1.pad_top = c1.pad_bottom = c1.pad_left = c1.pad_right = 1;
    c2.pad_top = c2.pad_bottom = c2.pad_left = c2.pad_right = 1;
    nnla_pool2d_desc pool = nnla_pool2d_desc_make(NNLA_POOL_MAX, 2, 2);
    double *x = filled(B * 64, &seed), *w1 = filled(16 * 9, &seed), *b1 = filled(16, &seed);
    double *y1 = filled(B * 16 * 64, &seed), *p1 = filled(B * 16 * 16, &seed), *w2 = filled(32 * 144, &seed);
    double *b2 = filled(32, &seed), *y2 = filled(B * 32 * 16, &seed), *dw1 = filled(16 * 9, &seed);
    double *db1 = filled(16, &seed), *dw2 = filled(32 * 144, &seed), *db2 = filled(32, &seed);
    double *dp1 = filled(B * 16 * 16, &seed), *dy1 = filled(B * 16 * 64, &seed), *dx1 = filled(B * 16 * 64, &seed);
    double *xd = filled(B * 512, &seed), *wd = filled(64 * 512, &seed), *bd = filled(64, &seed);
    double *yd = filled(B * 64, &seed);
    uint32_t *am = malloc(B * 16 * 16 * sizeof *am);
    size_t ws = 0, t;
    nnla_conv2d_workspace_size(&c1, B, 8, 8, &t), ws = t > ws ? t : ws;
    nnla_conv2d_workspace_size(&c2, B, 4, 4, &t), ws = t > ws ? t : ws;
    nnla_conv2d_backward_weights_workspace_size(&c1, B, 8, 8, &t), ws = t > ws ? t : ws;
    nnla_conv2d_backward_weights_workspace_size(&c2, B, 4, 4, &t), ws = t > ws ? t : ws;
    nnla_conv2d_backward_data_workspace_size(&c2, B, 4, 4, &t), ws = t > ws ? t : ws;
    void *work = malloc(ws);
    const size_t np = 38570;
    double *par = filled(np, &seed), *grad = filled(np, &seed);
    nnla_optim_config adam = nnla_optim_adam_default();
    size_t sb;
    nnla_optim_state_size(&adam, np, &sb);
    void *st = malloc(sb);
    if (am == NULL || work == NULL || st == NULL || nnla_optim_state_init(&adam, np, st, sb) != NNLA_OK) return 1;
    nnla_act relu = nnla_act_default(NNLA_ACT_RELU), id = nnla_act_default(NNLA_ACT_IDENTITY);
    PASS("conv1_forward", nnla_conv2d_forward(&c1, B, 8, 8, x, w1, b1, id, y1, work, ws));
    PASS("maxpool_forward_argmax", nnla_pool2d_forward_argmax(&pool, B, 16, 8, 8, y1, p1, am));
    PASS("conv2_forward", nnla_conv2d_forward(&c2, B, 4, 4, p1, w2, b2, id, y2, work, ws));
    PASS("dense_forward_512_64", nnla_dense_forward(nnla_cmat_view(xd, B, 512, 512), nnla_cmat_view(wd, 64, 512, 512),
                                                     bd, relu, nnla_mat_view(yd, B, 64, 64)));
    PASS("conv2_backward_weights", nnla_conv2d_backward_weights(&c2, B, 4, 4, p1, y2, dw2, db2, work, ws));
    PASS("conv2_backward_data", nnla_conv2d_backward_data(&c2, B, 4, 4, y2, w2, dp1, work, ws));
    PASS("maxpool_backward", nnla_pool2d_backward(&pool, B, 16, 8, 8, dp1, am, dx1));
    PASS("relu_backward_conv1", nnla_act_backward_nchw(relu, B, 16, 64, y1, y1, dy1, dx1));
    PASS("conv1_backward_weights", nnla_conv2d_backward_weights(&c1, B, 8, 8, x, dy1, dw1, db1, work, ws));
    PASS("adam_step_38570", nnla_optim_step(&adam, 1e-3, par, grad, np, st));
    return 0;
}
