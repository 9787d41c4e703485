/*
 * nnla-bench train: one epoch over 1437 digits (batch 32, Adam) for the CNN and the MLP of
 * train_model.c. Prints, per model,
 *   BENCH train_<model> ms_per_epoch=...      the median over several epochs after a warm-up one;
 *   step_over_forward=...                     a training step's time over a forward pass's on the
 *                                             same batch of 32 (inference form), timed interleaved;
 *   allocations=...  openblas_allocations=... allocations during one epoch's steps, outside and
 *                                             inside OpenBLAS (bench_dense.c counts them).
 * The PyTorch peer is tests/bench/peer_torch_train.py (same models, data, batch and optimizer,
 * interleaved in one process through libnnla_benchtrain.so).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nnla.h>

#include "bench.h"
#include "train_model.h"

#ifndef NNLA_DIGITS_PATH
#define NNLA_DIGITS_PATH "docs/examples/data/digits.csv.gz"
#endif

typedef struct fwd_case {
    nnla_net *net;
    const double *x;
    double *y;
    void *work;
    size_t bytes;
} fwd_case;

static void run_forward(void *p)
{
    fwd_case *c = p;
    (void)nnla_net_forward(c->net, 32, c->x, c->y, c->work, c->bytes);
}

typedef struct step_case {
    nnla_trainer *tr;
    const double *x;
    const size_t *y;
} step_case;

static void run_step(void *p)
{
    step_case *c = p;
    (void)nnla_trainer_step(c->tr, c->x, c->y, NULL, 32, NULL, NULL);
}

static int bench_model(int cnn, const double *x, const size_t *y, size_t n, int epochs)
{
    nnla_net *net = train_make_model(cnn, 1);
    nnla_train_config cfg = nnla_train_config_default();
    nnla_trainer *tr = NULL;
    if (net == NULL || nnla_trainer_create(net, &cfg, &tr) != NNLA_OK) return 1;
    nnla_dataset d = {x, n, y, NULL};
    nnla_epoch e;
    nnla_train(tr, &d, NULL, 1, NULL, NULL, &e); /* warm-up */
    double *t = malloc((size_t)epochs * sizeof *t);
    for (int i = 0; i < epochs; i++) {
        double t0 = bench_now();
        nnla_train(tr, &d, NULL, 1, NULL, NULL, &e);
        t[i] = bench_now() - t0;
    }
    double ms = 1e3 * bench_median(t, (size_t)epochs);
    /* allocations during one epoch's steps (the epoch loop's own order array is allocated once
     * per call, before the steps: count the steps themselves) */
    long lib = 0, blas = 0;
    bench_alloc_begin();
    for (size_t i = 0; i + 32 <= n; i += 32) (void)nnla_trainer_step(tr, x + i * 64, y + i, NULL, 32, NULL, NULL);
    bench_alloc_end(&lib, &blas);
    /* a step against a forward pass on the same batch */
    fwd_case fc = {net, x, malloc(32 * 10 * sizeof(double)), NULL, 0};
    nnla_net_workspace_size(net, 32, &fc.bytes);
    fc.work = malloc(fc.bytes);
    step_case sc = {tr, x, y};
    double tf, ts;
    bench_compare(run_step, &sc, run_forward, &fc, 5, bench_reps(41), &ts, &tf);
    printf("BENCH train_%s ms_per_epoch=%.4g steps_per_epoch=%zu step_ms=%.4g forward_ms=%.4g "
           "step_over_forward=%.3g allocations=%ld openblas_allocations=%ld threads=%d final_loss=%.4g\n",
           cnn ? "cnn" : "mlp", ms, (n + 31) / 32, 1e3 * ts, 1e3 * tf, ts / tf, lib, blas, nnla_num_threads(),
           e.loss);
    fflush(stdout);
    free(t), free(fc.y), free(fc.work);
    nnla_trainer_free(tr);
    nnla_net_free(net);
    return lib > 0;
}

int bench_cmd_train(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : NNLA_DIGITS_PATH;
    double *x;
    size_t *y, n;
    if (!train_load_digits(path, 1437, &x, &y, &n)) {
        fprintf(stderr, "train: cannot read %s\n", path);
        return 1;
    }
    int epochs = bench_reps(7), rc = 0;
    rc |= bench_model(1, x, y, n, epochs);
    rc |= bench_model(0, x, y, n, epochs);
    free(x), free(y);
    return rc;
}
