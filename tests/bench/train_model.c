/*
 * The training benchmark's models and data (train_model.h), shared by `nnla-bench train` and by
 * libnnla_benchtrain.so, which tests/bench/peer_torch_train.py loads with ctypes to time libnnla's
 * epochs interleaved with PyTorch's in one process.
 *
 * Data: the 8 x 8 digits (docs/examples/data/digits.csv.gz), the first 1437 images (80% of 1797),
 * pixels scaled to [0, 1]. Models, as issue 12 states them:
 *   cnn: conv 1->16 3x3 pad 1, ReLU, max pool 2, conv 16->32 3x3 pad 1, ReLU, flatten, dense 512->64,
 *        ReLU, dense 64->10;  mlp: dense 64->128, ReLU, dense 128->10.
 * Softmax cross-entropy, Adam (torch's defaults, lr 1e-3), batch 32, shuffled epochs.
 */
#include "train_model.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <nnla.h>

int train_load_digits(const char *path, size_t max, double **x, size_t **y, size_t *n)
{
    gzFile f = gzopen(path, "rb");
    if (f == NULL) return 0;
    double *xs = malloc(max * 64 * sizeof *xs);
    size_t *ys = malloc(max * sizeof *ys), k = 0;
    char line[1024];
    while (k < max && xs && ys && gzgets(f, line, sizeof line) != NULL) {
        char *p = line, *end;
        for (int j = 0; j < 65; j++) {
            long v = strtol(p, &end, 10);
            if (end == p) break;
            if (j < 64)
                xs[k * 64 + j] = (double)v / 16.0;
            else
                ys[k] = (size_t)v;
            p = *end == ',' ? end + 1 : end;
        }
        k++;
    }
    gzclose(f);
    if (xs == NULL || ys == NULL || k == 0) {
        free(xs);
        free(ys);
        return 0;
    }
    *x = xs;
    *y = ys;
    *n = k;
    return 1;
}

nnla_net *train_make_model(int cnn, uint64_t seed)
{
    nnla_rng rng;
    nnla_rng_seed(&rng, seed);
    nnla_net *net = NULL;
    nnla_act relu = nnla_act_default(NNLA_ACT_RELU), id = nnla_act_default(NNLA_ACT_IDENTITY);
    nnla_status st;
    if (cnn) {
        nnla_conv2d_desc c1 = nnla_conv2d_desc_make(1, 16, 3, 3), c2 = nnla_conv2d_desc_make(16, 32, 3, 3);
        c1.pad_top = c1.pad_bottom = c1.pad_left = c1.pad_right = 1;
        c2.pad_top = c2.pad_bottom = c2.pad_left = c2.pad_right = 1;
        nnla_pool2d_desc pool = nnla_pool2d_desc_make(NNLA_POOL_MAX, 2, 2);
        static double w1[16 * 9], w2[32 * 16 * 9], w3[64 * 512], w4[10 * 64], b[64];
        memset(b, 0, sizeof b);
        st = nnla_net_create(1, 8, 8, &net);
        if (!st) st = nnla_net_add_conv2d(net, &c1, w1, b, relu);
        if (!st) st = nnla_net_add_pool2d(net, &pool);
        if (!st) st = nnla_net_add_conv2d(net, &c2, w2, b, relu);
        if (!st) st = nnla_net_add_flatten(net);
        if (!st) st = nnla_net_add_dense(net, nnla_cmat_view(w3, 64, 512, 512), b, relu);
        if (!st) st = nnla_net_add_dense(net, nnla_cmat_view(w4, 10, 64, 64), b, id);
    } else {
        static double w1[128 * 64], w2[10 * 128], b[128];
        memset(b, 0, sizeof b);
        st = nnla_net_create(64, 1, 1, &net);
        if (!st) st = nnla_net_add_dense(net, nnla_cmat_view(w1, 128, 64, 64), b, relu);
        if (!st) st = nnla_net_add_dense(net, nnla_cmat_view(w2, 10, 128, 128), b, id);
    }
    /* PyTorch's default initialization of Linear and Conv2d: He uniform with a = sqrt(5), i.e.
     * bound 1/sqrt(fan_in) for weights and biases alike */
    for (size_t i = 0; !st && i < nnla_net_num_layers(net); i++) {
        nnla_tensor w, bias;
        if (nnla_net_param(net, i, NNLA_PARAM_WEIGHT, &w) != NNLA_OK) continue;
        size_t fan_in = w.size / w.shape[0];
        double bound = 1.0 / sqrt((double)fan_in);
        nnla_rng_fill_uniform(&rng, -bound, bound, w.data, w.size);
        if (nnla_net_param(net, i, NNLA_PARAM_BIAS, &bias) == NNLA_OK)
            nnla_rng_fill_uniform(&rng, -bound, bound, bias.data, bias.size);
    }
    if (st) {
        nnla_net_free(net);
        return NULL;
    }
    return net;
}
