/*
 * libnnla_benchtrain.so: the training benchmark's epochs as C functions that
 * tests/bench/peer_torch_train.py calls through ctypes, to time libnnla and PyTorch in one process,
 * interleaved. Not part of libnnla.
 */
#include <stdlib.h>

#include <nnla.h>

#include "train_model.h"

/* Exported for ctypes (libnnla's own symbols are hidden by default; these are not libnnla's). */
#define BT_API __attribute__((visibility("default")))

BT_API int bt_setup(int cnn, const char *path, int nthreads);
BT_API double bt_epoch(void);
BT_API double bt_loss(void);
BT_API void bt_teardown(void);

static nnla_net *net;
static nnla_trainer *tr;
static double *xs, last_loss;
static size_t *ys, n;
static int threads; /* libnnla's thread count for the epochs */

/* The model, the data and libnnla's thread count (0: the calling thread's count now). */
int bt_setup(int cnn, const char *path, int nthreads)
{
    if (!train_load_digits(path, 1437, &xs, &ys, &n)) return 1;
    net = train_make_model(cnn, 1);
    nnla_train_config cfg = nnla_train_config_default();
    threads = nthreads > 0 ? nthreads : nnla_num_threads();
    return net == NULL || nnla_trainer_create(net, &cfg, &tr) != NNLA_OK;
}

/*
 * One epoch on libnnla's own thread count; returns its wall-clock seconds as nnla_train measures
 * them. PyTorch and libnnla share libgomp, and torch.set_num_threads(k) sets the OpenMP count of
 * the calling thread, which is libnnla's knob too: the epoch sets libnnla's count and puts PyTorch's
 * back afterwards, so each library runs at its own.
 */
double bt_epoch(void)
{
    nnla_dataset d = {xs, n, ys, NULL};
    nnla_epoch e;
    const int prev = nnla_num_threads();
    if (threads != prev && nnla_blas_set_num_threads(threads) != NNLA_OK) return -1.0;
    nnla_status st = nnla_train(tr, &d, NULL, 1, NULL, NULL, &e);
    if (threads != prev) (void)nnla_blas_set_num_threads(prev);
    if (st != NNLA_OK) return -1.0;
    last_loss = e.loss;
    return e.seconds;
}

double bt_loss(void) { return last_loss; }

void bt_teardown(void)
{
    nnla_trainer_free(tr);
    nnla_net_free(net);
    free(xs);
    free(ys);
}
