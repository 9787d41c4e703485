/*
 * Networks as models.
 *
 * A network is an array of layers and two blocks of doubles: the parameters (weights, biases,
 * BatchNorm's gamma and beta) and the buffers (BatchNorm's running statistics). Each layer holds
 * offsets into the blocks, its sources (earlier layers or the input) and its shapes.
 *
 * One table per kind. `kinds[]` describes every layer kind by its operations: shape inference
 * with the checks of its spec (infer), the scratch it needs (scratch), its forward pass (forward),
 * and flags (how many sources; whether its output is its input, as flatten's; whether it may run
 * in place). A new kind is one entry plus its functions.
 *
 * One way to change a network. Every edit (append, insert, remove, replace, clone, fold, fuse)
 * builds the complete list of layer specs the network should have — the existing layers
 * described by layer_spec(), which points into the current blocks — and hands it to commit(),
 * which checks every layer, builds new blocks and a new execution plan, and only then swaps them
 * in. A failed edit leaves the network as it was.
 *
 * The execution plan (computed by commit, read-only afterwards). Without NNLA_CTX_KEEP a forward
 * pass keeps a node's output only while a later layer still reads it: each node is assigned a
 * slot of the context's slot area by a greedy liveness pass; flatten and dropout (at inference)
 * share their source's storage; activation, BatchNorm and add layers overwrite their source's
 * slot when nothing later reads it; the last layer writes into y. A run over a range of layers
 * uses the same plan, its first layer reading x in place of its source's slot. With
 * NNLA_CTX_KEEP every node has storage of its own, plus the pre-activation of dense and conv
 * layers with a fused activation and the argmax of max pooling.
 */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define NPARAM 4 /* weight, bias, running mean, running var: nnla_param_kind */

typedef struct tensor_info {
    int present;
    int is_buffer;
    size_t off, size, ndim, shape[4];
} tensor_info;

typedef struct layer {
    nnla_layer_kind kind;
    size_t src[2]; /* NNLA_NET_INPUT or an index below this layer's */
    size_t in[3], out[3];
    nnla_act act;
    nnla_conv2d_desc conv;
    nnla_pool2d_desc pool;
    size_t features;
    double eps, momentum, p;
    tensor_info t[NPARAM];
} layer;

/* The execution plan without NNLA_CTX_KEEP (see the file comment). */
#define SLOT_Y ((size_t)-1)     /* the last layer: writes into y */
#define SLOT_ALIAS ((size_t)-2) /* shares its first source's storage */

struct nnla_net {
    size_t in[3];
    size_t n;
    layer *layers;
    double *params, *bufs;
    size_t nparams, nbufs;
    size_t *slot;      /* per layer: a slot index, SLOT_Y or SLOT_ALIAS */
    size_t nslots;     /* slots the plan uses */
    size_t slot_elems; /* per-sample size of a slot: the largest node stored in one */
    uint64_t version;  /* bumped by every structural edit */
};

static size_t shape_size(const size_t s[3]) { return s[0] * s[1] * s[2]; }

/* ------------------------------------------------------------------ the kinds */

/* What a layer's forward pass gets. */
typedef struct fwd_args {
    size_t batch;
    const double *x, *x2; /* the sources (x2: ADD's second) */
    double *y;            /* the output */
    double *pre;          /* DENSE/CONV2D under NNLA_CTX_KEEP with an activation: the pre-activation */
    uint32_t *argmax;     /* max POOL2D under NNLA_CTX_KEEP */
    void *scratch;        /* CONV2D workspace */
    size_t scratch_bytes;
    const double *w, *b, *rm, *rv; /* the layer's tensors (NULL when absent) */
    int train;            /* NNLA_CTX_TRAIN: BatchNorm on batch statistics, dropout drops */
    double *aux;          /* TRAIN: BatchNorm's saved mean, inverse std and running copies; dropout's mask */
    nnla_rng *rng;        /* TRAIN: dropout's generator */
} fwd_args;

/* What a layer's backward pass gets: the forward's tensors, dy, and where to put the gradients. */
typedef struct bwd_args {
    size_t batch;
    const double *x, *x2, *y, *pre, *aux;
    const uint32_t *argmax;
    const double *dy;      /* gradient of the output */
    double *dx, *dx2;      /* gradients of the sources, or NULL when not wanted */
    int acc, acc2;         /* 1: add into dx (dx2) instead of writing it */
    double *dw, *db;       /* gradients of the weight and bias, or NULL (not wanted, or absent) */
    double *dz;            /* scratch: batch x the output */
    double *tmp;           /* scratch: batch x the input, for accumulating */
    void *scratch;         /* convolution workspace */
    size_t scratch_bytes;
    const double *w, *b, *rm, *rv;
    int train;
} bwd_args;

typedef struct kind_ops {
    const char *name;
    int nsrc;    /* 1, or 2 for ADD */
    int alias;   /* the output is the first source (no data moves) */
    int inplace; /* the forward may write over its first source */
    /* Check the spec against the source shapes and fill l (out shape, tensor shapes and sizes). */
    nnla_status (*infer)(layer *l, const nnla_layer_spec *s, const size_t *in2);
    /* Scratch for a batch: the fastest size and the smallest (NULL: none). */
    nnla_status (*scratch)(const layer *l, size_t batch, size_t *pref, size_t *min);
    nnla_status (*forward)(const layer *l, const fwd_args *a); /* NULL for alias kinds */
    nnla_status (*backward)(const layer *l, const bwd_args *a); /* NULL for alias kinds */
    /* Scratch of the backward pass for a batch (NULL: none beyond dz and tmp). */
    nnla_status (*bwd_scratch)(const layer *l, size_t batch, size_t *pref, size_t *min);
} kind_ops;

static void set_tensor(tensor_info *t, int is_buffer, size_t ndim, size_t d0, size_t d1, size_t d2, size_t d3)
{
    t->present = 1;
    t->is_buffer = is_buffer;
    t->ndim = ndim;
    t->shape[0] = d0;
    t->shape[1] = d1;
    t->shape[2] = d2;
    t->shape[3] = d3;
    t->size = d0 * (ndim > 1 ? d1 : 1) * (ndim > 2 ? d2 : 1) * (ndim > 3 ? d3 : 1);
}

/* A weight view: checked as a view, then against the rows and columns the layer needs. */
static nnla_status check_weight(nnla_cmat w, size_t rows, size_t cols)
{
    if (w.data == NULL) return NNLA_ENULL;
    if (w.rows != rows || w.cols != cols) return w.rows == 0 || w.cols == 0 ? NNLA_EDIM : NNLA_ESHAPE;
    return nnla__check_blas_view(w);
}

static nnla_status infer_dense(layer *l, const nnla_layer_spec *s, const size_t *in2)
{
    (void)in2;
    size_t in = shape_size(l->in);
    NNLA__TRY(nnla_act_check(s->act));
    if (s->weight.data == NULL) return NNLA_ENULL;
    if (s->weight.rows == 0 || s->weight.cols == 0) return NNLA_EDIM;
    if (s->weight.cols != in) return NNLA_ESHAPE; /* the weight's in_features against the sample */
    NNLA__TRY(check_weight(s->weight, s->weight.rows, in));
    size_t out = s->weight.rows, n;
    if (!nnla__mul(out, in, &n)) return NNLA_EOVERFLOW;
    l->act = s->act;
    l->out[0] = out;
    l->out[1] = l->out[2] = 1;
    set_tensor(&l->t[NNLA_PARAM_WEIGHT], 0, 2, out, in, 0, 0);
    if (s->bias != NULL) set_tensor(&l->t[NNLA_PARAM_BIAS], 0, 1, out, 0, 0, 0);
    return NNLA_OK;
}

static nnla_status infer_conv(layer *l, const nnla_layer_spec *s, const size_t *in2)
{
    (void)in2;
    const nnla_conv2d_desc *d = &s->conv;
    size_t oh, ow, ws;
    NNLA__TRY(nnla_conv2d_output_size(d, l->in[1], l->in[2], &oh, &ow));
    if (d->in_channels != l->in[0]) return NNLA_ESHAPE;
    NNLA__TRY(nnla_act_check(s->act));
    size_t kg, kk, per;
    if (!nnla__mul(d->in_channels / d->groups, d->kernel_h, &kg) || !nnla__mul(kg, d->kernel_w, &kg) ||
        !nnla__mul(kg, d->out_channels, &kk) || !nnla__mul(d->out_channels, oh, &per) ||
        !nnla__mul(per, ow, &per) || !nnla__mul(per, sizeof(double), &per))
        return NNLA_EOVERFLOW;
    NNLA__TRY(check_weight(s->weight, d->out_channels, kg));
    /* every GEMM dimension of one image fits BLAS's int */
    NNLA__TRY(nnla_conv2d_workspace_size(d, 1, l->in[1], l->in[2], &ws));
    l->act = s->act;
    l->conv = *d;
    l->out[0] = d->out_channels;
    l->out[1] = oh;
    l->out[2] = ow;
    set_tensor(&l->t[NNLA_PARAM_WEIGHT], 0, 4, d->out_channels, d->in_channels / d->groups, d->kernel_h,
               d->kernel_w);
    if (s->bias != NULL) set_tensor(&l->t[NNLA_PARAM_BIAS], 0, 1, d->out_channels, 0, 0, 0);
    return NNLA_OK;
}

static nnla_status infer_pool(layer *l, const nnla_layer_spec *s, const size_t *in2)
{
    (void)in2;
    size_t oh, ow;
    NNLA__TRY(nnla_pool2d_output_size(&s->pool, l->in[1], l->in[2], &oh, &ow));
    /* the argmax kept for max pooling indexes an input plane with 32 bits */
    if (s->pool.kind == NNLA_POOL_MAX && l->in[1] * l->in[2] > (size_t)UINT32_MAX) return NNLA_EOVERFLOW;
    l->pool = s->pool;
    l->out[0] = l->in[0];
    l->out[1] = oh;
    l->out[2] = ow;
    return NNLA_OK;
}

static nnla_status infer_gap(layer *l, const nnla_layer_spec *s, const size_t *in2)
{
    (void)s, (void)in2;
    l->out[0] = l->in[0];
    l->out[1] = l->out[2] = 1;
    return NNLA_OK;
}

static nnla_status infer_flatten(layer *l, const nnla_layer_spec *s, const size_t *in2)
{
    (void)s, (void)in2;
    l->out[0] = shape_size(l->in);
    l->out[1] = l->out[2] = 1;
    return NNLA_OK;
}

static nnla_status infer_act(layer *l, const nnla_layer_spec *s, const size_t *in2)
{
    (void)in2;
    NNLA__TRY(nnla_act_check(s->act));
    l->act = s->act;
    memcpy(l->out, l->in, sizeof l->out);
    return NNLA_OK;
}

static nnla_status infer_bn(layer *l, const nnla_layer_spec *s, const size_t *in2)
{
    (void)in2;
    if (s->features == 0) return NNLA_EDIM;
    if (s->features != l->in[0]) return NNLA_ESHAPE;
    if (!(isfinite(s->eps) && s->eps > 0.0) || !(s->momentum >= 0.0 && s->momentum <= 1.0)) return NNLA_EINVAL;
    l->features = s->features;
    l->eps = s->eps;
    l->momentum = s->momentum;
    memcpy(l->out, l->in, sizeof l->out);
    set_tensor(&l->t[NNLA_PARAM_WEIGHT], 0, 1, s->features, 0, 0, 0);
    set_tensor(&l->t[NNLA_PARAM_BIAS], 0, 1, s->features, 0, 0, 0);
    set_tensor(&l->t[NNLA_PARAM_RUNNING_MEAN], 1, 1, s->features, 0, 0, 0);
    set_tensor(&l->t[NNLA_PARAM_RUNNING_VAR], 1, 1, s->features, 0, 0, 0);
    return NNLA_OK;
}

static nnla_status infer_dropout(layer *l, const nnla_layer_spec *s, const size_t *in2)
{
    (void)in2;
    if (!(s->p >= 0.0 && s->p < 1.0)) return NNLA_EINVAL;
    l->p = s->p;
    memcpy(l->out, l->in, sizeof l->out);
    return NNLA_OK;
}

static nnla_status infer_add(layer *l, const nnla_layer_spec *s, const size_t *in2)
{
    (void)s;
    if (memcmp(l->in, in2, 3 * sizeof *in2) != 0) return NNLA_ESHAPE;
    memcpy(l->out, l->in, sizeof l->out);
    return NNLA_OK;
}

static nnla_status scratch_conv(const layer *l, size_t batch, size_t *pref, size_t *min)
{
    NNLA__TRY(nnla_conv2d_workspace_size(&l->conv, batch, l->in[1], l->in[2], pref));
    return nnla_conv2d_workspace_min(&l->conv, l->in[1], l->in[2], min);
}

static nnla_status fwd_dense(const layer *l, const fwd_args *a)
{
    size_t in = shape_size(l->in), out = l->out[0];
    nnla_cmat x = nnla_cmat_view(a->x, a->batch, in, in), w = nnla_cmat_view(a->w, out, in, in);
    if (a->pre == NULL) return nnla_dense_forward(x, w, a->b, l->act, nnla_mat_view(a->y, a->batch, out, out));
    nnla_mat pre = nnla_mat_view(a->pre, a->batch, out, out);
    NNLA__TRY(nnla_dense_forward(x, w, a->b, nnla_act_default(NNLA_ACT_IDENTITY), pre));
    return nnla_act_forward(l->act, nnla_cmat_of(pre), nnla_mat_view(a->y, a->batch, out, out));
}

static nnla_status fwd_conv(const layer *l, const fwd_args *a)
{
    void *ws = a->scratch_bytes ? a->scratch : NULL;
    if (a->pre == NULL)
        return nnla_conv2d_forward(&l->conv, a->batch, l->in[1], l->in[2], a->x, a->w, a->b, l->act, a->y, ws,
                                   a->scratch_bytes);
    NNLA__TRY(nnla_conv2d_forward(&l->conv, a->batch, l->in[1], l->in[2], a->x, a->w, a->b,
                                  nnla_act_default(NNLA_ACT_IDENTITY), a->pre, ws, a->scratch_bytes));
    return nnla_act_forward_nchw(l->act, a->batch, l->out[0], l->out[1] * l->out[2], a->pre, a->y);
}

static nnla_status fwd_pool(const layer *l, const fwd_args *a)
{
    if (a->argmax != NULL && l->pool.kind == NNLA_POOL_MAX)
        return nnla_pool2d_forward_argmax(&l->pool, a->batch, l->in[0], l->in[1], l->in[2], a->x, a->y, a->argmax);
    return nnla_pool2d_forward(&l->pool, a->batch, l->in[0], l->in[1], l->in[2], a->x, a->y);
}

static nnla_status fwd_gap(const layer *l, const fwd_args *a)
{
    return nnla_global_avgpool2d(a->batch, l->in[0], l->in[1], l->in[2], a->x, a->y);
}

static nnla_status fwd_act(const layer *l, const fwd_args *a)
{
    return nnla_act_forward_nchw(l->act, a->batch, l->in[0], l->in[1] * l->in[2], a->x, a->y);
}

/* BatchNorm's training record in the context: [save_mean][save_invstd][running mean][running var],
 * C doubles each; the running pair starts as the network's and is updated by the training forward,
 * then copied into the network by nnla_net_update_stats(). */
static nnla_status fwd_bn(const layer *l, const fwd_args *a)
{
    const size_t c = l->in[0], plane = l->in[1] * l->in[2];
    if (!a->train)
        return nnla_batchnorm_forward(a->batch, c, plane, a->x, a->rm, a->rv, a->w, a->b, l->eps, a->y);
    double *sm = a->aux, *si = sm + c, *rm = si + c, *rv = rm + c;
    memcpy(rm, a->rm, c * sizeof *rm);
    memcpy(rv, a->rv, c * sizeof *rv);
    return nnla_batchnorm_forward_train(a->batch, c, plane, a->x, a->w, a->b, l->eps, l->momentum, rm, rv, a->y, sm,
                                        si);
}

/* Dropout in training mode: y = x * m with m = 0 (probability p) or 1 / (1 - p), the mask kept. */
static nnla_status fwd_dropout(const layer *l, const fwd_args *a)
{
    const size_t n = a->batch * shape_size(l->out);
    const double keep = 1.0 / (1.0 - l->p);
    for (size_t i = 0; i < n; i++) {
        double m = nnla_rng_uniform(a->rng) < l->p ? 0.0 : keep;
        a->aux[i] = m;
        a->y[i] = a->x[i] * m;
    }
    return NNLA_OK;
}

static nnla_status fwd_add(const layer *l, const fwd_args *a)
{
    size_t n = a->batch * shape_size(l->out);
    const double *p = a->x, *q = a->x2;
    double *y = a->y;
    for (size_t i = 0; i < n; i++) y[i] = p[i] + q[i];
    return NNLA_OK;
}

/* ---- backward passes */

/* dst (+)= src over n doubles. */
static void put(double *dst, const double *src, size_t n, int acc)
{
    if (acc) {
        for (size_t i = 0; i < n; i++) dst[i] += src[i];
    } else {
        memcpy(dst, src, n * sizeof *dst);
    }
}

/* The gradient of a fused activation's input: dz = f'(pre) dy (row-wise kinds use y), or dy. */
static const double *act_grad(nnla_act act, size_t batch, size_t ch, size_t plane, const bwd_args *a)
{
    if (act.kind == NNLA_ACT_IDENTITY) return a->dy;
    nnla__act_backward_nchw(act, batch, ch, plane, a->pre, a->y, a->dy, a->dz);
    return a->dz;
}

/*
 * Dense backward, split over the caller's threads without any reduction: dz by batch rows, then
 * dW = dz^T x and db by output rows, dx = dz W by batch rows. Every entry's arithmetic (a dot
 * product over the batch or over the outputs) does not depend on the split.
 */
/* One thread's part of the dense backward (see bwd_dense); a barrier between dz and its use. */
static void bwd_dense_part(const layer *l, const bwd_args *a, const double *dz, int t, int tn)
{
    const size_t in = shape_size(l->in), out = l->out[0], nb = a->batch;
    size_t r0, r1, o0, o1;
    nnla__part(nb, tn, t, &r0, &r1);
    nnla__part(out, tn, t, &o0, &o1);
    if (l->act.kind != NNLA_ACT_IDENTITY && r1 > r0)
        nnla__act_backward_nchw(l->act, r1 - r0, out, 1, a->pre + r0 * out, a->y + r0 * out, a->dy + r0 * out,
                                a->dz + r0 * out);
    if (tn > 1) {
#pragma omp barrier
    }
    if (a->dw != NULL && o1 > o0) /* rows o0..o1 of dW (out x in) = dz^T x */
        nnla__dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)(o1 - o0), (int)in, (int)nb, 1.0, dz + o0, (int)out,
                    a->x, (int)in, 0.0, a->dw + o0 * in, (int)in);
    if (a->db != NULL && o1 > o0) {
        for (size_t o = o0; o < o1; o++) a->db[o] = 0.0;
        for (size_t r = 0; r < nb; r++)
            for (size_t o = o0; o < o1; o++) a->db[o] += dz[r * out + o];
    }
    if (a->dx != NULL && r1 > r0) /* rows r0..r1 of dx (batch x in) (+)= dz W */
        nnla__dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(r1 - r0), (int)in, (int)out, 1.0, dz + r0 * out,
                    (int)out, a->w, (int)in, a->acc ? 1.0 : 0.0, a->dx + r0 * in, (int)in);
}

/*
 * Dense backward, split over the caller's threads without any reduction: dz by batch rows, then
 * dW = dz^T x and db by output rows, dx = dz W by batch rows. Every entry's arithmetic (a dot
 * product over the batch or over the outputs) does not depend on the split.
 */
static nnla_status bwd_dense(const layer *l, const bwd_args *a)
{
    const size_t in = shape_size(l->in), out = l->out[0], nb = a->batch;
    if (!nnla__fits_int(nb)) return NNLA_EOVERFLOW;
    const double *dz = l->act.kind != NNLA_ACT_IDENTITY ? a->dz : a->dy;
    const int share = nnla__share_begin();
    const int nt = nnla__threads_for(share, nb < out ? nb : out, 6.0 * (double)nb * (double)out * (double)in);
    if (nt > 1) {
#pragma omp parallel num_threads(nt)
        bwd_dense_part(l, a, dz, omp_get_thread_num(), omp_get_num_threads());
    } else {
        bwd_dense_part(l, a, dz, 0, 1);
    }
    nnla__share_end();
    return NNLA_OK;
}

static nnla_status bwd_conv(const layer *l, const bwd_args *a)
{
    const size_t nb = a->batch;
    const double *dz = act_grad(l->act, nb, l->out[0], l->out[1] * l->out[2], a);
    void *ws = a->scratch_bytes ? a->scratch : NULL;
    if (a->dw != NULL)
        NNLA__TRY(nnla_conv2d_backward_weights(&l->conv, nb, l->in[1], l->in[2], a->x, dz, a->dw, a->db, ws,
                                               a->scratch_bytes));
    if (a->dx != NULL) {
        double *t = a->acc ? a->tmp : a->dx;
        NNLA__TRY(nnla_conv2d_backward_data(&l->conv, nb, l->in[1], l->in[2], dz, a->w, t, ws, a->scratch_bytes));
        if (a->acc) put(a->dx, t, nb * shape_size(l->in), 1);
    }
    return NNLA_OK;
}

static nnla_status bwd_pool(const layer *l, const bwd_args *a)
{
    if (a->dx == NULL) return NNLA_OK;
    double *t = a->acc ? a->tmp : a->dx;
    NNLA__TRY(nnla__pool2d_backward(&l->pool, a->batch, l->in[0], l->in[1], l->in[2], a->dy,
                                    l->pool.kind == NNLA_POOL_MAX ? a->argmax : NULL, t, 0));
    if (a->acc) put(a->dx, t, a->batch * shape_size(l->in), 1);
    return NNLA_OK;
}

static nnla_status bwd_gap(const layer *l, const bwd_args *a)
{
    if (a->dx == NULL) return NNLA_OK;
    double *t = a->acc ? a->tmp : a->dx;
    NNLA__TRY(nnla_global_avgpool2d_backward(a->batch, l->in[0], l->in[1], l->in[2], a->dy, t));
    if (a->acc) put(a->dx, t, a->batch * shape_size(l->in), 1);
    return NNLA_OK;
}

static nnla_status bwd_act(const layer *l, const bwd_args *a)
{
    if (a->dx == NULL) return NNLA_OK;
    double *t = a->acc ? a->tmp : a->dx;
    nnla__act_backward_nchw(l->act, a->batch, l->in[0], l->in[1] * l->in[2], a->x, a->y, a->dy, t);
    if (a->acc) put(a->dx, t, a->batch * shape_size(l->in), 1);
    return NNLA_OK;
}

static nnla_status bwd_bn(const layer *l, const bwd_args *a)
{
    const size_t c = l->in[0], plane = l->in[1] * l->in[2], nb = a->batch;
    double *t = a->dx == NULL ? NULL : a->acc ? a->tmp : a->dx;
    if (a->train) {
        const double *sm = a->aux, *si = sm + c;
        NNLA__TRY(nnla_batchnorm_backward(nb, c, plane, a->x, a->dy, a->w, sm, si, t, a->dw, a->db));
    } else {
        /* inference form: y = (x - mean) s + beta with s = gamma / sqrt(var + eps), all constants */
        for (size_t k = 0; k < c; k++) {
            const double inv = 1.0 / sqrt(a->rv[k] + l->eps), sc = a->w[k] * inv, mu = a->rm[k];
            double sg = 0.0, sb = 0.0;
            for (size_t n = 0; n < nb; n++) {
                const double *dy = a->dy + (n * c + k) * plane, *x = a->x + (n * c + k) * plane;
                for (size_t q = 0; q < plane; q++) {
                    sb += dy[q];
                    sg += dy[q] * ((x[q] - mu) * inv);
                }
                if (t != NULL) {
                    double *dx = t + (n * c + k) * plane;
                    for (size_t q = 0; q < plane; q++) dx[q] = dy[q] * sc;
                }
            }
            if (a->dw != NULL) a->dw[k] = sg;
            if (a->db != NULL) a->db[k] = sb;
        }
    }
    if (t != NULL && a->acc) put(a->dx, t, nb * shape_size(l->in), 1);
    return NNLA_OK;
}

static nnla_status bwd_dropout(const layer *l, const bwd_args *a)
{
    if (a->dx == NULL) return NNLA_OK;
    const size_t n = a->batch * shape_size(l->out);
    for (size_t i = 0; i < n; i++) {
        double g = a->dy[i] * a->aux[i];
        a->dx[i] = a->acc ? a->dx[i] + g : g;
    }
    return NNLA_OK;
}

static nnla_status bwd_add(const layer *l, const bwd_args *a)
{
    const size_t n = a->batch * shape_size(l->out);
    if (a->dx != NULL) put(a->dx, a->dy, n, a->acc);
    if (a->dx2 != NULL) {
        /* both summands the same node: the second contribution always adds */
        put(a->dx2, a->dy, n, a->acc2 || a->dx2 == a->dx);
    }
    return NNLA_OK;
}

static nnla_status bwd_scratch_conv(const layer *l, size_t batch, size_t *pref, size_t *min)
{
    size_t p1, p2, m1, m2;
    NNLA__TRY(nnla_conv2d_backward_data_workspace_size(&l->conv, batch, l->in[1], l->in[2], &p1));
    NNLA__TRY(nnla_conv2d_backward_weights_workspace_size(&l->conv, batch, l->in[1], l->in[2], &p2));
    NNLA__TRY(nnla_conv2d_backward_data_workspace_min(&l->conv, l->in[1], l->in[2], &m1));
    NNLA__TRY(nnla_conv2d_backward_weights_workspace_min(&l->conv, l->in[1], l->in[2], &m2));
    *pref = p1 > p2 ? p1 : p2;
    *min = m1 > m2 ? m1 : m2;
    return NNLA_OK;
}

static const kind_ops kinds[NNLA_LAYER_KIND_COUNT] = {
    [NNLA_LAYER_DENSE] = {"dense", 1, 0, 0, infer_dense, NULL, fwd_dense, bwd_dense, NULL},
    [NNLA_LAYER_CONV2D] = {"conv2d", 1, 0, 0, infer_conv, scratch_conv, fwd_conv, bwd_conv, bwd_scratch_conv},
    [NNLA_LAYER_POOL2D] = {"pool2d", 1, 0, 0, infer_pool, NULL, fwd_pool, bwd_pool, NULL},
    [NNLA_LAYER_GLOBAL_AVGPOOL] = {"global_avgpool", 1, 0, 0, infer_gap, NULL, fwd_gap, bwd_gap, NULL},
    [NNLA_LAYER_FLATTEN] = {"flatten", 1, 1, 0, infer_flatten, NULL, NULL, NULL, NULL},
    [NNLA_LAYER_ACT] = {"act", 1, 0, 1, infer_act, NULL, fwd_act, bwd_act, NULL},
    [NNLA_LAYER_BATCHNORM] = {"batchnorm", 1, 0, 1, infer_bn, NULL, fwd_bn, bwd_bn, NULL},
    /* dropout: the identity at inference (an alias); in training mode, fwd_dropout / bwd_dropout */
    [NNLA_LAYER_DROPOUT] = {"dropout", 1, 1, 0, infer_dropout, NULL, fwd_dropout, bwd_dropout, NULL},
    [NNLA_LAYER_ADD] = {"add", 2, 0, 1, infer_add, NULL, fwd_add, bwd_add, NULL},
};

/* The names in the table and in NNLA_LAYER_LIST agree (checked by the test suite through
 * nnla_layer_kind_name); the enum values index the table. */
static int kind_valid(nnla_layer_kind k) { return (unsigned)k < (unsigned)NNLA_LAYER_KIND_COUNT; }

const char *nnla_layer_kind_name(nnla_layer_kind kind) { return kind_valid(kind) ? kinds[kind].name : NULL; }

/* ------------------------------------------------------------------ specs */

static nnla_layer_spec spec_blank(nnla_layer_kind kind)
{
    nnla_layer_spec s;
    memset(&s, 0, sizeof s);
    s.kind = kind;
    s.src = NNLA_NET_PREV;
    s.src2 = NNLA_NET_PREV;
    s.act = nnla_act_default(NNLA_ACT_IDENTITY);
    s.eps = 1e-5;
    s.momentum = 0.1;
    return s;
}

nnla_layer_spec nnla_layer_dense(nnla_cmat w, const double *b, nnla_act act)
{
    nnla_layer_spec s = spec_blank(NNLA_LAYER_DENSE);
    s.weight = w;
    s.bias = b;
    s.act = act;
    return s;
}

nnla_layer_spec nnla_layer_conv2d(const nnla_conv2d_desc *d, const double *w, const double *b, nnla_act act)
{
    nnla_layer_spec s = spec_blank(NNLA_LAYER_CONV2D);
    if (d != NULL) {
        s.conv = *d;
        size_t k = d->groups ? d->in_channels / d->groups * d->kernel_h * d->kernel_w : 0;
        s.weight = nnla_cmat_view(w, d->out_channels, k, k);
    } else {
        s.weight = nnla_cmat_view(w, 0, 0, 0); /* refused when added: EDIM */
    }
    s.bias = b;
    s.act = act;
    return s;
}

nnla_layer_spec nnla_layer_pool2d(const nnla_pool2d_desc *d)
{
    nnla_layer_spec s = spec_blank(NNLA_LAYER_POOL2D);
    if (d != NULL) {
        s.pool = *d;
    } else {
        s.pool.kind = (nnla_pool_kind)-1; /* refused when added: EINVAL */
    }
    return s;
}

nnla_layer_spec nnla_layer_global_avgpool(void) { return spec_blank(NNLA_LAYER_GLOBAL_AVGPOOL); }

nnla_layer_spec nnla_layer_flatten(void) { return spec_blank(NNLA_LAYER_FLATTEN); }

nnla_layer_spec nnla_layer_act(nnla_act act)
{
    nnla_layer_spec s = spec_blank(NNLA_LAYER_ACT);
    s.act = act;
    return s;
}

nnla_layer_spec nnla_layer_batchnorm(size_t features, const double *gamma, const double *beta,
                                     const double *running_mean, const double *running_var)
{
    nnla_layer_spec s = spec_blank(NNLA_LAYER_BATCHNORM);
    s.features = features;
    s.gamma = gamma;
    s.bias = beta;
    s.running_mean = running_mean;
    s.running_var = running_var;
    return s;
}

nnla_layer_spec nnla_layer_dropout(double p)
{
    nnla_layer_spec s = spec_blank(NNLA_LAYER_DROPOUT);
    s.p = p;
    return s;
}

nnla_layer_spec nnla_layer_add(size_t a, size_t b)
{
    nnla_layer_spec s = spec_blank(NNLA_LAYER_ADD);
    s.src = a;
    s.src2 = b;
    return s;
}

/* The spec of an existing layer: pointers into the blocks, sources resolved. */
static nnla_layer_spec layer_spec(const nnla_net *net, size_t i)
{
    const layer *l = &net->layers[i];
    nnla_layer_spec s = spec_blank(l->kind);
    s.src = l->src[0];
    s.src2 = kinds[l->kind].nsrc == 2 ? l->src[1] : NNLA_NET_PREV;
    s.act = l->act;
    const tensor_info *w = &l->t[NNLA_PARAM_WEIGHT], *b = &l->t[NNLA_PARAM_BIAS];
    const double *wp = w->present ? net->params + w->off : NULL;
    switch (l->kind) {
    case NNLA_LAYER_DENSE:
    case NNLA_LAYER_CONV2D: {
        size_t cols = w->size / w->shape[0];
        s.weight = nnla_cmat_view(wp, w->shape[0], cols, cols);
        s.bias = b->present ? net->params + b->off : NULL;
        s.conv = l->conv;
        break;
    }
    case NNLA_LAYER_POOL2D: s.pool = l->pool; break;
    case NNLA_LAYER_BATCHNORM:
        s.features = l->features;
        s.gamma = wp;
        s.bias = net->params + b->off;
        s.running_mean = net->bufs + l->t[NNLA_PARAM_RUNNING_MEAN].off;
        s.running_var = net->bufs + l->t[NNLA_PARAM_RUNNING_VAR].off;
        s.eps = l->eps;
        s.momentum = l->momentum;
        break;
    case NNLA_LAYER_DROPOUT: s.p = l->p; break;
    default: break;
    }
    return s;
}

/* ------------------------------------------------------------------ commit: the one way to change a network */

/* Whether n doubles (NULL allowed: nothing to check) are finite, and >= 0 when nonneg. */
static int values_ok(const double *x, size_t n, int nonneg)
{
    if (x == NULL) return 1;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]) || (nonneg && x[i] < 0.0)) return 0;
    return 1;
}

static double *alloc_block(size_t n)
{
    if (n == 0) return NULL;
    size_t bytes = n * sizeof(double);
    bytes = (bytes + NNLA__ALIGN - 1) / NNLA__ALIGN * NNLA__ALIGN; /* aligned_alloc wants a multiple */
    return aligned_alloc(NNLA__ALIGN, bytes);
}

/* Copy a tensor's source (or its default when src is NULL) into dst. */
static void fill_tensor(double *dst, const double *src, size_t n, double dflt)
{
    if (src != NULL) {
        memcpy(dst, src, n * sizeof *dst);
    } else {
        for (size_t i = 0; i < n; i++) dst[i] = dflt;
    }
}

/* The static execution plan for inference (see the file comment). 0 on allocation failure. */
static nnla_status make_plan(const layer *ls, size_t n, size_t **slot_out, size_t *nslots_out,
                             size_t *elems_out)
{
    size_t *slot = malloc((n ? n : 1) * sizeof *slot);
    size_t *root = malloc((n ? n : 1) * sizeof *root);   /* the node whose storage node i uses */
    size_t *last = malloc((n ? n : 1) * sizeof *last);   /* last layer reading the storage of root i */
    size_t *owner = malloc((n ? n : 1) * sizeof *owner); /* per slot: the root occupying it, or SIZE_MAX */
    if (slot == NULL || root == NULL || last == NULL || owner == NULL) {
        free(slot), free(root), free(last), free(owner);
        return NNLA_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        last[i] = i; /* a node is live at least while it is written */
        root[i] = kinds[ls[i].kind].alias ? (ls[i].src[0] == NNLA_NET_INPUT ? NNLA_NET_INPUT : root[ls[i].src[0]]) : i;
    }
    for (size_t i = 0; i < n; i++) {
        for (int k = 0; k < kinds[ls[i].kind].nsrc; k++) {
            size_t s = ls[i].src[k];
            if (s != NNLA_NET_INPUT && root[s] != NNLA_NET_INPUT && last[root[s]] < i) last[root[s]] = i;
        }
    }
    size_t nslots = 0, elems = 0;
    for (size_t i = 0; i < n; i++) {
        const layer *l = &ls[i];
        if (kinds[l->kind].alias) {
            slot[i] = SLOT_ALIAS;
        } else if (i == n - 1) {
            slot[i] = SLOT_Y;
        } else {
            size_t s0 = l->src[0], chosen = SIZE_MAX;
            /* in place over the first source when its storage is a slot nothing later reads */
            if (kinds[l->kind].inplace && s0 != NNLA_NET_INPUT && root[s0] != NNLA_NET_INPUT &&
                last[root[s0]] == i && slot[root[s0]] < n && shape_size(ls[root[s0]].out) == shape_size(l->out))
                chosen = slot[root[s0]];
            if (chosen == SIZE_MAX) {
                for (size_t k = 0; k < nslots && chosen == SIZE_MAX; k++)
                    if (owner[k] == SIZE_MAX) chosen = k;
                if (chosen == SIZE_MAX) chosen = nslots++;
            }
            owner[chosen] = i;
            slot[i] = chosen;
            if (shape_size(l->out) > elems) elems = shape_size(l->out);
        }
        /* storage whose last reader is layer i is free once it has run */
        for (size_t k = 0; k < nslots; k++)
            if (owner[k] != SIZE_MAX && owner[k] != i && last[owner[k]] <= i) owner[k] = SIZE_MAX;
        if (slot[i] < n && last[i] <= i && i != n - 1) owner[slot[i]] = SIZE_MAX; /* read by nobody */
    }
    free(root), free(last), free(owner);
    *slot_out = slot;
    *nslots_out = nslots;
    *elems_out = elems;
    return NNLA_OK;
}

/*
 * Make the network consist of exactly these layers (sources resolved: NNLA_NET_INPUT or an index
 * below the layer's own), checking every one first. On failure nothing changes.
 */
static nnla_status commit(nnla_net *net, const nnla_layer_spec *specs, size_t n)
{
    layer *ls = calloc(n ? n : 1, sizeof *ls);
    if (ls == NULL) return NNLA_ENOMEM;
    size_t np = 0, nb = 0;
    nnla_status st = NNLA_OK;
    for (size_t i = 0; i < n && st == NNLA_OK; i++) {
        const nnla_layer_spec *s = &specs[i];
        layer *l = &ls[i];
        if (!kind_valid(s->kind)) {
            st = NNLA_EINVAL;
            break;
        }
        const kind_ops *ops = &kinds[s->kind];
        l->kind = s->kind;
        l->act = nnla_act_default(NNLA_ACT_IDENTITY);
        size_t srcs[2] = {s->src, s->src2};
        for (int k = 0; k < ops->nsrc; k++) {
            if (srcs[k] != NNLA_NET_INPUT && srcs[k] >= i) {
                st = NNLA_EINVAL;
                break;
            }
            l->src[k] = srcs[k];
        }
        if (st != NNLA_OK) break;
        if (ops->nsrc < 2) l->src[1] = NNLA_NET_INPUT;
        memcpy(l->in, l->src[0] == NNLA_NET_INPUT ? net->in : ls[l->src[0]].out, sizeof l->in);
        const size_t *in2 = NULL;
        if (ops->nsrc == 2) in2 = l->src[1] == NNLA_NET_INPUT ? net->in : ls[l->src[1]].out;
        st = ops->infer(l, s, in2);
        if (st != NNLA_OK) break;
        /* the batch x sample sizes must fit size_t for batch 1 at least */
        size_t bytes;
        if (!nnla__mul(shape_size(l->out), sizeof(double), &bytes)) {
            st = NNLA_EOVERFLOW;
            break;
        }
        /* the values: finite, running variances >= 0 */
        const tensor_info *t = l->t;
        if (t[NNLA_PARAM_WEIGHT].present && l->kind != NNLA_LAYER_BATCHNORM &&
            !nnla__all_finite(s->weight))
            st = NNLA_ENONFINITE;
        else if (l->kind == NNLA_LAYER_BATCHNORM &&
                 (!values_ok(s->gamma, l->features, 0) || !values_ok(s->running_mean, l->features, 0) ||
                  !values_ok(s->running_var, l->features, 0)))
            st = NNLA_ENONFINITE;
        else if (l->kind == NNLA_LAYER_BATCHNORM && !values_ok(s->running_var, l->features, 1))
            st = NNLA_EINVAL;
        else if (t[NNLA_PARAM_BIAS].present && !values_ok(s->bias, t[NNLA_PARAM_BIAS].size, 0))
            st = NNLA_ENONFINITE;
        if (st != NNLA_OK) break;
        for (int k = 0; k < NPARAM; k++) {
            tensor_info *ti = &l->t[k];
            if (!ti->present) continue;
            size_t *count = ti->is_buffer ? &nb : &np;
            ti->off = *count;
            if (!nnla__add(*count, ti->size, count)) st = NNLA_EOVERFLOW;
        }
    }
    size_t total;
    if (st == NNLA_OK && (!nnla__add(np, nb, &total) || !nnla__mul(total, sizeof(double), &total)))
        st = NNLA_EOVERFLOW;
    double *params = NULL, *bufs = NULL;
    size_t *slot = NULL, nslots = 0, elems = 0;
    if (st == NNLA_OK) {
        params = alloc_block(np);
        bufs = alloc_block(nb);
        if ((np && params == NULL) || (nb && bufs == NULL)) st = NNLA_ENOMEM;
    }
    if (st == NNLA_OK) st = make_plan(ls, n, &slot, &nslots, &elems);
    if (st != NNLA_OK) {
        free(ls), free(params), free(bufs);
        return st;
    }
    /* copy the values (the specs may point into the old blocks, freed only afterwards) */
    for (size_t i = 0; i < n; i++) {
        const nnla_layer_spec *s = &specs[i];
        const layer *l = &ls[i];
        const tensor_info *t = l->t;
        if (l->kind == NNLA_LAYER_BATCHNORM) {
            fill_tensor(params + t[NNLA_PARAM_WEIGHT].off, s->gamma, l->features, 1.0);
            fill_tensor(params + t[NNLA_PARAM_BIAS].off, s->bias, l->features, 0.0);
            fill_tensor(bufs + t[NNLA_PARAM_RUNNING_MEAN].off, s->running_mean, l->features, 0.0);
            fill_tensor(bufs + t[NNLA_PARAM_RUNNING_VAR].off, s->running_var, l->features, 1.0);
            continue;
        }
        if (t[NNLA_PARAM_WEIGHT].present) {
            nnla_cmat w = s->weight;
            double *dst = params + t[NNLA_PARAM_WEIGHT].off;
            for (size_t r = 0; r < w.rows; r++) memcpy(dst + r * w.cols, w.data + r * w.ld, w.cols * sizeof *dst);
        }
        if (t[NNLA_PARAM_BIAS].present) fill_tensor(params + t[NNLA_PARAM_BIAS].off, s->bias, t[NNLA_PARAM_BIAS].size, 0);
    }
    free(net->layers), free(net->params), free(net->bufs), free(net->slot);
    net->layers = ls;
    net->n = n;
    net->params = params;
    net->bufs = bufs;
    net->nparams = np;
    net->nbufs = nb;
    net->slot = slot;
    net->nslots = nslots;
    net->slot_elems = elems;
    net->version++;
    return NNLA_OK;
}

/* The specs of the current layers, with room for `extra` more; NULL on allocation failure. */
static nnla_layer_spec *current_specs(const nnla_net *net, size_t extra)
{
    size_t n = net->n + extra;
    nnla_layer_spec *s = malloc((n ? n : 1) * sizeof *s);
    if (s == NULL) return NULL;
    for (size_t i = 0; i < net->n; i++) s[i] = layer_spec(net, i);
    return s;
}

/* ------------------------------------------------------------------ building and editing */

nnla_status nnla_net_create(size_t channels, size_t height, size_t width, nnla_net **net)
{
    if (net == NULL) return NNLA_ENULL;
    if (channels == 0 || height == 0 || width == 0) return NNLA_EDIM;
    size_t n, bytes;
    if (!nnla__mul(channels, height, &n) || !nnla__mul(n, width, &n) || !nnla__mul(n, sizeof(double), &bytes))
        return NNLA_EOVERFLOW;
    nnla_net *p = calloc(1, sizeof *p);
    if (p == NULL) return NNLA_ENOMEM;
    p->in[0] = channels;
    p->in[1] = height;
    p->in[2] = width;
    *net = p;
    return NNLA_OK;
}

void nnla_net_free(nnla_net *net)
{
    if (net == NULL) return;
    free(net->layers);
    free(net->params);
    free(net->bufs);
    free(net->slot);
    free(net);
}

nnla_status nnla_net_clone(const nnla_net *net, nnla_net **out)
{
    if (net == NULL || out == NULL) return NNLA_ENULL;
    nnla_net *c = NULL;
    NNLA__TRY(nnla_net_create(net->in[0], net->in[1], net->in[2], &c));
    nnla_layer_spec *s = current_specs(net, 0);
    nnla_status st = s == NULL ? NNLA_ENOMEM : commit(c, s, net->n);
    free(s);
    if (st != NNLA_OK) {
        nnla_net_free(c);
        return st;
    }
    *out = c;
    return NNLA_OK;
}

/* A source as given (NNLA_NET_PREV resolved to `prev`). */
static size_t resolve(size_t src, size_t prev) { return src == NNLA_NET_PREV ? prev : src; }

/* Renumber a source after an edit: map(j) for layers, the input unchanged. */
typedef struct remap {
    size_t at, removed, added, target; /* layers at .. at+removed-1 become at .. at+added-1; readers of
                                          the removed ones read `target` (in the new numbering) */
} remap;

static size_t remap_src(const remap *m, size_t s)
{
    if (s == NNLA_NET_INPUT || s < m->at) return s;
    if (s < m->at + m->removed) return m->target;
    return s - m->removed + m->added;
}

/*
 * The general edit: layers [at, at + removed) replaced by `added` new specs. PREV in a new spec
 * means the previous new layer, or `first_prev` for the first one. Readers of the removed layers
 * read `target`, and, for an insertion (removed == 0), layer `at`'s first source becomes the last
 * new layer.
 */
static nnla_status edit(nnla_net *net, size_t at, size_t removed, const nnla_layer_spec *add, size_t added,
                        size_t first_prev, size_t target)
{
    size_t n = net->n - removed + added;
    nnla_layer_spec *s = malloc((n ? n : 1) * sizeof *s);
    if (s == NULL) return NNLA_ENOMEM;
    remap m = {at, removed, added, target};
    size_t k = 0;
    for (size_t i = 0; i < at; i++) s[k++] = layer_spec(net, i);
    for (size_t j = 0; j < added; j++) {
        nnla_layer_spec t = add[j];
        size_t prev = j == 0 ? first_prev : at + j - 1;
        t.src = resolve(t.src, prev);
        t.src2 = resolve(t.src2, prev);
        s[k++] = t;
    }
    for (size_t i = at + removed; i < net->n; i++) {
        nnla_layer_spec t = layer_spec(net, i);
        t.src = remap_src(&m, t.src);
        if (t.kind == NNLA_LAYER_ADD) t.src2 = remap_src(&m, t.src2);
        if (removed == 0 && i == at && added > 0) t.src = at + added - 1; /* insertion before layer at */
        s[k++] = t;
    }
    nnla_status st = commit(net, s, n);
    free(s);
    return st;
}

nnla_status nnla_net_append(nnla_net *net, const nnla_layer_spec *spec)
{
    if (net == NULL || spec == NULL) return NNLA_ENULL;
    size_t prev = net->n ? net->n - 1 : NNLA_NET_INPUT;
    return edit(net, net->n, 0, spec, 1, prev, 0);
}

nnla_status nnla_net_insert(nnla_net *net, size_t pos, const nnla_layer_spec *spec)
{
    if (net == NULL || spec == NULL) return NNLA_ENULL;
    if (pos > net->n) return NNLA_EINVAL;
    if (pos == net->n) return nnla_net_append(net, spec);
    return edit(net, pos, 0, spec, 1, net->layers[pos].src[0], 0);
}

nnla_status nnla_net_remove(nnla_net *net, size_t i)
{
    if (net == NULL) return NNLA_ENULL;
    if (i >= net->n) return NNLA_EINVAL;
    return edit(net, i, 1, NULL, 0, 0, net->layers[i].src[0]);
}

nnla_status nnla_net_replace(nnla_net *net, size_t i, const nnla_layer_spec *specs, size_t n)
{
    if (net == NULL || specs == NULL) return NNLA_ENULL;
    if (i >= net->n || n == 0) return NNLA_EINVAL;
    return edit(net, i, 1, specs, n, net->layers[i].src[0], i + n - 1);
}

/* Whether layer i is read by exactly one layer, j, and by nothing else (nor is the last layer). */
static int only_reader(const nnla_net *net, size_t i, size_t j)
{
    if (i == net->n - 1) return 0;
    for (size_t k = i + 1; k < net->n; k++) {
        const layer *l = &net->layers[k];
        for (int s = 0; s < kinds[l->kind].nsrc; s++)
            if (l->src[s] == i && k != j) return 0;
    }
    return 1;
}

/* Whether layer i is a dense or conv layer without activation, read only by layer j = its next. */
static int fusable_into(const nnla_net *net, size_t j)
{
    size_t i = net->layers[j].src[0];
    if (i == NNLA_NET_INPUT) return 0;
    const layer *l = &net->layers[i];
    return (l->kind == NNLA_LAYER_DENSE || l->kind == NNLA_LAYER_CONV2D) && l->act.kind == NNLA_ACT_IDENTITY &&
           only_reader(net, i, j);
}

nnla_status nnla_net_fold_batchnorm(nnla_net *net, size_t *folded)
{
    if (net == NULL) return NNLA_ENULL;
    size_t count = 0;
    for (size_t j = 0; j < net->n; j++)
        if (net->layers[j].kind == NNLA_LAYER_BATCHNORM && fusable_into(net, j)) count++;
    if (count == 0) {
        if (folded) *folded = 0;
        return NNLA_OK;
    }
    /* New weights and biases for the folded layers, then the layer list without the BatchNorms. */
    nnla_layer_spec *s = current_specs(net, 0);
    double **tmp = calloc(2 * count, sizeof *tmp);
    nnla_status st = s == NULL || tmp == NULL ? NNLA_ENOMEM : NNLA_OK;
    size_t t = 0;
    for (size_t j = 0; j < net->n && st == NNLA_OK; j++) {
        if (net->layers[j].kind != NNLA_LAYER_BATCHNORM || !fusable_into(net, j)) continue;
        const layer *bn = &net->layers[j];
        size_t i = bn->src[0], out = bn->features;
        nnla_layer_spec *li = &s[i];
        size_t k = li->weight.cols;
        double *w = malloc(out * k * sizeof *w), *b = malloc(out * sizeof *b);
        tmp[t++] = w;
        tmp[t++] = b;
        if (w == NULL || b == NULL) {
            st = NNLA_ENOMEM;
            break;
        }
        const double *g = s[j].gamma, *be = s[j].bias, *mu = s[j].running_mean, *var = s[j].running_var;
        for (size_t o = 0; o < out; o++) {
            double sc = g[o] / sqrt(var[o] + bn->eps);
            const double *wr = li->weight.data + o * li->weight.ld;
            for (size_t c = 0; c < k; c++) w[o * k + c] = wr[c] * sc;
            b[o] = ((li->bias ? li->bias[o] : 0.0) - mu[o]) * sc + be[o];
        }
        li->weight = nnla_cmat_view(w, out, k, k);
        li->bias = b;
    }
    /* drop the folded BatchNorms, renumbering sources: a reader of a BatchNorm reads its source */
    size_t *map = st == NNLA_OK ? malloc(net->n * sizeof *map) : NULL;
    if (st == NNLA_OK && map == NULL) st = NNLA_ENOMEM;
    size_t n = 0;
    if (st == NNLA_OK) {
        for (size_t j = 0; j < net->n; j++) {
            int drop = net->layers[j].kind == NNLA_LAYER_BATCHNORM && fusable_into(net, j);
            if (drop) {
                map[j] = map[net->layers[j].src[0]];
                continue;
            }
            nnla_layer_spec x = s[j];
            x.src = x.src == NNLA_NET_INPUT ? x.src : map[x.src];
            if (x.kind == NNLA_LAYER_ADD) x.src2 = x.src2 == NNLA_NET_INPUT ? x.src2 : map[x.src2];
            map[j] = n;
            s[n++] = x;
        }
        st = commit(net, s, n);
    }
    for (size_t k = 0; k < t; k++) free(tmp[k]);
    free(tmp), free(s), free(map);
    if (st == NNLA_OK && folded) *folded = count;
    return st;
}

nnla_status nnla_net_fuse_activations(nnla_net *net, size_t *fused)
{
    if (net == NULL) return NNLA_ENULL;
    size_t count = 0;
    for (size_t j = 0; j < net->n; j++)
        if (net->layers[j].kind == NNLA_LAYER_ACT && fusable_into(net, j)) count++;
    if (count == 0) {
        if (fused) *fused = 0;
        return NNLA_OK;
    }
    nnla_layer_spec *s = current_specs(net, 0);
    size_t *map = malloc(net->n * sizeof *map);
    nnla_status st = s == NULL || map == NULL ? NNLA_ENOMEM : NNLA_OK;
    if (st == NNLA_OK) {
        size_t n = 0;
        for (size_t j = 0; j < net->n; j++) {
            if (net->layers[j].kind == NNLA_LAYER_ACT && fusable_into(net, j)) {
                size_t i = net->layers[j].src[0];
                s[map[i]].act = net->layers[j].act;
                map[j] = map[i];
                continue;
            }
            nnla_layer_spec x = s[j];
            x.src = x.src == NNLA_NET_INPUT ? x.src : map[x.src];
            if (x.kind == NNLA_LAYER_ADD) x.src2 = x.src2 == NNLA_NET_INPUT ? x.src2 : map[x.src2];
            map[j] = n;
            s[n++] = x;
        }
        st = commit(net, s, n);
    }
    free(s), free(map);
    if (st == NNLA_OK && fused) *fused = count;
    return st;
}

nnla_status nnla_net_add_dense(nnla_net *net, nnla_cmat w, const double *b, nnla_act act)
{
    nnla_layer_spec s = nnla_layer_dense(w, b, act);
    return nnla_net_append(net, &s);
}

nnla_status nnla_net_add_conv2d(nnla_net *net, const nnla_conv2d_desc *d, const double *w, const double *b,
                                nnla_act act)
{
    if (net == NULL || d == NULL || w == NULL) return NNLA_ENULL;
    nnla_layer_spec s = nnla_layer_conv2d(d, w, b, act);
    return nnla_net_append(net, &s);
}

nnla_status nnla_net_add_pool2d(nnla_net *net, const nnla_pool2d_desc *d)
{
    if (net == NULL || d == NULL) return NNLA_ENULL;
    nnla_layer_spec s = nnla_layer_pool2d(d);
    return nnla_net_append(net, &s);
}

nnla_status nnla_net_add_global_avgpool(nnla_net *net)
{
    nnla_layer_spec s = nnla_layer_global_avgpool();
    return nnla_net_append(net, &s);
}

nnla_status nnla_net_add_flatten(nnla_net *net)
{
    nnla_layer_spec s = nnla_layer_flatten();
    return nnla_net_append(net, &s);
}

nnla_status nnla_net_add_act(nnla_net *net, nnla_act act)
{
    nnla_layer_spec s = nnla_layer_act(act);
    return nnla_net_append(net, &s);
}

nnla_status nnla_net_add_batchnorm(nnla_net *net, size_t features, const double *gamma, const double *beta,
                                   const double *running_mean, const double *running_var, double eps)
{
    nnla_layer_spec s = nnla_layer_batchnorm(features, gamma, beta, running_mean, running_var);
    s.eps = eps;
    return nnla_net_append(net, &s);
}

nnla_status nnla_net_add_dropout(nnla_net *net, double p)
{
    nnla_layer_spec s = nnla_layer_dropout(p);
    return nnla_net_append(net, &s);
}

nnla_status nnla_net_add_residual(nnla_net *net, size_t from)
{
    nnla_layer_spec s = nnla_layer_add(NNLA_NET_PREV, from);
    return nnla_net_append(net, &s);
}

/* ------------------------------------------------------------------ queries */

size_t nnla_net_num_layers(const nnla_net *net) { return net ? net->n : 0; }

nnla_status nnla_net_layer_kind(const nnla_net *net, size_t i, nnla_layer_kind *kind)
{
    if (net == NULL || kind == NULL) return NNLA_ENULL;
    if (i >= net->n) return NNLA_EINVAL;
    *kind = net->layers[i].kind;
    return NNLA_OK;
}

nnla_status nnla_net_layer_spec(const nnla_net *net, size_t i, nnla_layer_spec *spec)
{
    if (net == NULL || spec == NULL) return NNLA_ENULL;
    if (i >= net->n) return NNLA_EINVAL;
    *spec = layer_spec(net, i);
    return NNLA_OK;
}

nnla_status nnla_net_layer_shape(const nnla_net *net, size_t i, size_t in[3], size_t out[3])
{
    if (net == NULL) return NNLA_ENULL;
    if (i >= net->n) return NNLA_EINVAL;
    if (in) memcpy(in, net->layers[i].in, 3 * sizeof *in);
    if (out) memcpy(out, net->layers[i].out, 3 * sizeof *out);
    return NNLA_OK;
}

nnla_status nnla_net_input_shape(const nnla_net *net, size_t shape[3])
{
    if (net == NULL || shape == NULL) return NNLA_ENULL;
    memcpy(shape, net->in, 3 * sizeof *shape);
    return NNLA_OK;
}

/* The per-sample shape after the last layer (the input shape for an empty network). */
static const size_t *cur_shape(const nnla_net *net) { return net->n ? net->layers[net->n - 1].out : net->in; }

nnla_status nnla_net_output_shape(const nnla_net *net, size_t shape[3])
{
    if (net == NULL || shape == NULL) return NNLA_ENULL;
    memcpy(shape, cur_shape(net), 3 * sizeof *shape);
    return NNLA_OK;
}

/* ------------------------------------------------------------------ parameters */

static nnla_status find_tensor(const nnla_net *net, size_t i, nnla_param_kind which, const tensor_info **t)
{
    if (i >= net->n || (unsigned)which >= NPARAM) return NNLA_EINVAL;
    const tensor_info *ti = &net->layers[i].t[which];
    if (!ti->present) return NNLA_EINVAL;
    *t = ti;
    return NNLA_OK;
}

static double *tensor_data(const nnla_net *net, const tensor_info *t)
{
    return (t->is_buffer ? net->bufs : net->params) + t->off;
}

nnla_status nnla_net_param(nnla_net *net, size_t i, nnla_param_kind which, nnla_tensor *t)
{
    if (net == NULL || t == NULL) return NNLA_ENULL;
    const tensor_info *ti;
    NNLA__TRY(find_tensor(net, i, which, &ti));
    memset(t, 0, sizeof *t);
    t->data = tensor_data(net, ti);
    t->ndim = ti->ndim;
    for (size_t k = 0; k < ti->ndim; k++) t->shape[k] = ti->shape[k];
    t->size = ti->size;
    t->offset = ti->off;
    t->is_buffer = ti->is_buffer;
    return NNLA_OK;
}

nnla_status nnla_net_get_param(const nnla_net *net, size_t i, nnla_param_kind which, double *dst, size_t count)
{
    if (net == NULL || dst == NULL) return NNLA_ENULL;
    const tensor_info *ti;
    NNLA__TRY(find_tensor(net, i, which, &ti));
    if (count != ti->size) return NNLA_ESHAPE;
    memcpy(dst, tensor_data(net, ti), count * sizeof *dst);
    return NNLA_OK;
}

nnla_status nnla_net_set_param(nnla_net *net, size_t i, nnla_param_kind which, const double *src, size_t count)
{
    if (net == NULL || src == NULL) return NNLA_ENULL;
    const tensor_info *ti;
    NNLA__TRY(find_tensor(net, i, which, &ti));
    if (count != ti->size) return NNLA_ESHAPE;
    if (!values_ok(src, count, 0)) return NNLA_ENONFINITE;
    if (which == NNLA_PARAM_RUNNING_VAR && !values_ok(src, count, 1)) return NNLA_EINVAL;
    memcpy(tensor_data(net, ti), src, count * sizeof *src);
    return NNLA_OK;
}

nnla_status nnla_net_params(nnla_net *net, double **data, size_t *count)
{
    if (net == NULL || count == NULL) return NNLA_ENULL;
    if (data) *data = net->params;
    *count = net->nparams;
    return NNLA_OK;
}

size_t nnla_net_num_params(const nnla_net *net) { return net ? net->nparams : 0; }

nnla_status nnla_net_buffers(nnla_net *net, double **data, size_t *count)
{
    if (net == NULL || count == NULL) return NNLA_ENULL;
    if (data) *data = net->bufs;
    *count = net->nbufs;
    return NNLA_OK;
}

/* ------------------------------------------------------------------ contexts */

struct nnla_net_ctx {
    const nnla_net *net;
    uint64_t version;
    size_t batch; /* the largest batch */
    unsigned flags; /* normalized: TRAIN implies GRAD implies KEEP */
    const unsigned char *mem; /* the caller's memory, for alias checks */
    size_t mem_bytes;
    double **out;        /* per layer: kept output (KEEP) */
    double **pre;        /* per layer: kept pre-activation (KEEP, fused activation), else NULL */
    uint32_t **argmax;   /* per layer: kept argmax (KEEP, max pooling), else NULL */
    double **aux;        /* per layer (TRAIN): BatchNorm's record, dropout's mask */
    double **grad;       /* per layer (GRAD): the gradient of its output (NULL for aliases) */
    unsigned char *gset; /* per layer (GRAD): whether grad holds a value in this backward pass */
    size_t *root;        /* per layer: the layer whose storage its output is (itself unless an alias) */
    const double **data; /* per layer: where the last run left its output */
    size_t *ran;         /* per layer: the batch of the last run, 0 before any */
    size_t full;         /* the batch of the last run over every layer from layer 0, 0 if none */
    double *xcopy;       /* GRAD: the input of the last full run */
    double *dz, *tmp;    /* GRAD: backward scratch (an output, an input) */
    double *slots;       /* the slot area (no KEEP): nslots slots of batch * slot_elems */
    nnla_rng rng;        /* TRAIN: dropout's masks */
    void *scratch;       /* convolutions' workspace, forward and backward */
    size_t scratch_bytes;
};

#define CTX_ALL_FLAGS (NNLA_CTX_KEEP | NNLA_CTX_GRAD | NNLA_CTX_TRAIN)

static unsigned normalize_flags(unsigned f)
{
    if (f & NNLA_CTX_TRAIN) f |= NNLA_CTX_GRAD;
    if (f & NNLA_CTX_GRAD) f |= NNLA_CTX_KEEP;
    return f;
}

/* Whether layer l's output is its source's storage under these flags. */
static int is_alias(const layer *l, unsigned flags)
{
    return kinds[l->kind].alias && !(l->kind == NNLA_LAYER_DROPOUT && (flags & NNLA_CTX_TRAIN));
}

/* Carving a context: with `counting` set only the sizes are added up. */
typedef struct carver {
    nnla__arena a;
    size_t need;
    int counting, failed;
} carver;

static void *take(carver *c, size_t n, size_t size)
{
    size_t bytes;
    if (n == 0) return NULL;
    if (!nnla__mul(n, size, &bytes)) {
        c->failed = 1;
        return NULL;
    }
    if (c->counting) {
        if (!nnla__ws_piece(bytes, &c->need)) c->failed = 1;
        return NULL;
    }
    void *p = nnla__arena_take(&c->a, bytes);
    if (p == NULL) c->failed = 1;
    return p;
}

/* Lay out (or only size) a context after its header; the convolutions' scratch comes after. */
static void layout(const nnla_net *net, size_t batch, unsigned flags, carver *c, nnla_net_ctx *x)
{
    const size_t n = net->n;
    x->out = take(c, n, sizeof *x->out);
    x->pre = take(c, n, sizeof *x->pre);
    x->argmax = take(c, n, sizeof *x->argmax);
    x->aux = take(c, n, sizeof *x->aux);
    x->grad = take(c, n, sizeof *x->grad);
    x->gset = take(c, n, sizeof *x->gset);
    x->root = take(c, n, sizeof *x->root);
    x->data = take(c, n, sizeof *x->data);
    x->ran = take(c, n, sizeof *x->ran);
    x->slots = x->xcopy = x->dz = x->tmp = NULL;
    const int keep = (flags & NNLA_CTX_KEEP) != 0, grad = (flags & NNLA_CTX_GRAD) != 0,
              train = (flags & NNLA_CTX_TRAIN) != 0;
    size_t max_in = batch * shape_size(net->in), max_dz = 0;
    for (size_t i = 0; i < n; i++) {
        const layer *l = &net->layers[i];
        size_t e = batch * shape_size(l->out), ein = batch * shape_size(l->in);
        int alias = is_alias(l, flags), fused = (l->kind == NNLA_LAYER_DENSE || l->kind == NNLA_LAYER_CONV2D) &&
                                                    l->act.kind != NNLA_ACT_IDENTITY;
        double *o = NULL, *p = NULL, *ax = NULL, *g = NULL;
        uint32_t *am = NULL;
        if (keep) {
            o = alias ? NULL : take(c, e, sizeof(double));
            p = fused ? take(c, e, sizeof(double)) : NULL;
            am = l->kind == NNLA_LAYER_POOL2D && l->pool.kind == NNLA_POOL_MAX ? take(c, e, sizeof(uint32_t)) : NULL;
        }
        if (train && l->kind == NNLA_LAYER_BATCHNORM) ax = take(c, 4 * l->in[0], sizeof(double));
        if (train && l->kind == NNLA_LAYER_DROPOUT) ax = take(c, e, sizeof(double));
        if (grad && !alias) g = take(c, e, sizeof(double));
        if (ein > max_in) max_in = ein;
        if (fused && e > max_dz) max_dz = e;
        if (!c->counting && !c->failed) {
            x->out[i] = o;
            x->pre[i] = p;
            x->argmax[i] = am;
            x->aux[i] = ax;
            x->grad[i] = g;
            x->root[i] = alias ? (l->src[0] == NNLA_NET_INPUT ? NNLA_NET_INPUT : x->root[l->src[0]]) : i;
        }
    }
    if (grad) {
        x->xcopy = take(c, batch * shape_size(net->in), sizeof(double));
        x->dz = take(c, max_dz, sizeof(double));
        x->tmp = take(c, max_in, sizeof(double));
    }
    if (!keep) {
        size_t e;
        if (!nnla__mul(net->nslots, net->slot_elems, &e) || !nnla__mul(e, batch, &e))
            c->failed = 1;
        else
            x->slots = take(c, e, sizeof(double));
    }
}

/* Sizes: the fixed part, and the convolutions' scratch (preferred and minimum). */
static nnla_status ctx_sizes(const nnla_net *net, size_t batch, unsigned flags, size_t *fixed, size_t *pref,
                             size_t *min)
{
    if (batch == 0 || net->n == 0) return NNLA_EDIM;
    if (flags & ~CTX_ALL_FLAGS) return NNLA_EINVAL;
    flags = normalize_flags(flags);
    size_t e;
    for (size_t i = 0; i < net->n; i++) /* every layer's batch output fits in bytes */
        if (!nnla__mul(batch, shape_size(net->layers[i].out), &e) || !nnla__mul(e, 4 * sizeof(double), &e))
            return NNLA_EOVERFLOW;
    if (!nnla__mul(batch, shape_size(net->in), &e) || !nnla__mul(e, sizeof(double), &e)) return NNLA_EOVERFLOW;
    carver c;
    memset(&c, 0, sizeof c);
    c.counting = 1;
    nnla_net_ctx dummy;
    (void)take(&c, 1, sizeof dummy); /* the header */
    layout(net, batch, flags, &c, &dummy);
    if (c.failed) return NNLA_EOVERFLOW;
    size_t p = 0, m = 0;
    for (size_t i = 0; i < net->n; i++) {
        const layer *l = &net->layers[i];
        size_t lp, lm;
        if (kinds[l->kind].scratch != NULL) {
            NNLA__TRY(kinds[l->kind].scratch(l, batch, &lp, &lm));
            if (lp > p) p = lp;
            if (lm > m) m = lm;
        }
        if ((flags & NNLA_CTX_GRAD) && kinds[l->kind].bwd_scratch != NULL) {
            NNLA__TRY(kinds[l->kind].bwd_scratch(l, batch, &lp, &lm));
            if (lp > p) p = lp;
            if (lm > m) m = lm;
        }
        if (l->kind == NNLA_LAYER_DENSE && !nnla__fits_int(batch)) return NNLA_EOVERFLOW;
    }
    size_t tp = c.need, tm = c.need;
    if (!nnla__ws_piece(p, &tp) || !nnla__ws_piece(m, &tm)) return NNLA_EOVERFLOW;
    *fixed = c.need;
    *pref = tp;
    *min = tm;
    return NNLA_OK;
}

nnla_status nnla_net_ctx_size(const nnla_net *net, size_t batch, unsigned flags, size_t *bytes, size_t *min_bytes)
{
    if (net == NULL || bytes == NULL) return NNLA_ENULL;
    size_t fixed, pref, min;
    NNLA__TRY(ctx_sizes(net, batch, flags, &fixed, &pref, &min));
    *bytes = pref;
    if (min_bytes) *min_bytes = min;
    return NNLA_OK;
}

nnla_status nnla_net_ctx_init(const nnla_net *net, size_t batch, unsigned flags, void *mem, size_t bytes,
                              nnla_net_ctx **ctx)
{
    if (net == NULL || mem == NULL || ctx == NULL) return NNLA_ENULL;
    size_t fixed, pref, min;
    NNLA__TRY(ctx_sizes(net, batch, flags, &fixed, &pref, &min));
    if (bytes < min) return NNLA_EWORKSPACE;
    flags = normalize_flags(flags);
    carver rest;
    memset(&rest, 0, sizeof rest);
    rest.a.p = mem;
    rest.a.left = bytes;
    nnla_net_ctx *h = take(&rest, 1, sizeof *h);
    nnla_net_ctx x;
    memset(&x, 0, sizeof x);
    if (h != NULL) layout(net, batch, flags, &rest, &x);
    if (h == NULL || rest.failed) return NNLA_EINTERNAL; /* ctx_sizes counted every piece */
    x.net = net;
    x.version = net->version;
    x.batch = batch;
    x.flags = flags;
    x.mem = mem;
    x.mem_bytes = bytes;
    (void)nnla_rng_seed(&x.rng, 0);
    /* the scratch: everything left, aligned */
    nnla__arena s = rest.a;
    size_t pad = (size_t)((NNLA__ALIGN - ((uintptr_t)s.p % NNLA__ALIGN)) % NNLA__ALIGN);
    x.scratch = s.left > pad ? s.p + pad : NULL;
    x.scratch_bytes = s.left > pad ? s.left - pad : 0;
    for (size_t i = 0; i < net->n; i++) x.ran[i] = 0, x.data[i] = NULL, x.gset[i] = 0;
    *h = x;
    *ctx = h;
    return NNLA_OK;
}

nnla_status nnla_net_ctx_seed(nnla_net_ctx *ctx, uint64_t seed)
{
    if (ctx == NULL) return NNLA_ENULL;
    return nnla_rng_seed(&ctx->rng, seed);
}

/* ------------------------------------------------------------------ running */

/* The tensors of layer l, by kind (NULL when absent). */
static void layer_tensors(const nnla_net *net, const layer *l, const double **w, const double **b,
                          const double **rm, const double **rv)
{
    const double *p[NPARAM];
    for (int k = 0; k < NPARAM; k++) p[k] = l->t[k].present ? tensor_data(net, &l->t[k]) : NULL;
    *w = p[NNLA_PARAM_WEIGHT];
    *b = p[NNLA_PARAM_BIAS];
    *rm = p[NNLA_PARAM_RUNNING_MEAN];
    *rv = p[NNLA_PARAM_RUNNING_VAR];
}

/* Where node s's output is during a run of [first, ...]: x for layer first's source. */
static const double *node_data(const nnla_net_ctx *c, size_t s, size_t first_src, const double *x)
{
    if (s == first_src) return x;
    if (s == NNLA_NET_INPUT) return NULL; /* the network's input, not given to this run */
    return c->data[s];
}

static nnla_status run(const nnla_net *net, nnla_net_ctx *c, size_t batch, size_t first, size_t last,
                       const double *x, double *y)
{
    const int keep = (c->flags & NNLA_CTX_KEEP) != 0, train = (c->flags & NNLA_CTX_TRAIN) != 0;
    const size_t first_src = net->layers[first].src[0];
    const size_t slot_stride = c->batch * net->slot_elems;
    /* sources outside the range: allowed only from an earlier kept run of the same batch */
    if (first > 0 || first_src != NNLA_NET_INPUT) {
        for (size_t i = first; i <= last; i++) {
            const layer *l = &net->layers[i];
            for (int k = 0; k < kinds[l->kind].nsrc; k++) {
                size_t s = l->src[k];
                if (s == first_src || (s != NNLA_NET_INPUT && s >= first)) continue;
                if (i == first && k == 0) continue;
                if (!keep || s == NNLA_NET_INPUT || c->ran[s] != batch) return NNLA_EUNSUPPORTED;
            }
        }
    }
    if (c->xcopy != NULL && first == 0) { /* GRAD: the backward pass reads the input again */
        nnla__copy(c->xcopy, x, batch * shape_size(net->in));
        x = c->xcopy;
    }
    c->full = 0;
    for (size_t i = first; i <= last; i++) {
        const layer *l = &net->layers[i];
        const kind_ops *ops = &kinds[l->kind];
        const double *in0 = i == first ? x : node_data(c, l->src[0], first_src, x);
        if (is_alias(l, c->flags)) {
            c->data[i] = in0;
            c->ran[i] = batch;
            continue;
        }
        fwd_args a;
        memset(&a, 0, sizeof a);
        a.batch = batch;
        a.x = in0;
        if (ops->nsrc == 2) a.x2 = node_data(c, l->src[1], first_src, x);
        if (keep) {
            a.y = c->out[i];
            a.pre = c->pre[i];
            a.argmax = c->argmax[i];
        } else if (i == last) {
            a.y = y;
        } else {
            size_t s = net->slot[i];
            if (s == SLOT_Y || s >= net->nslots) return NNLA_EINTERNAL;
            a.y = c->slots + s * slot_stride;
        }
        a.scratch = c->scratch;
        a.scratch_bytes = c->scratch_bytes;
        layer_tensors(net, l, &a.w, &a.b, &a.rm, &a.rv);
        a.train = train;
        a.aux = c->aux[i];
        a.rng = &c->rng;
        if (a.x == NULL || (ops->nsrc == 2 && a.x2 == NULL)) return NNLA_EINTERNAL;
        NNLA__TRY(ops->forward(l, &a));
        c->data[i] = a.y;
        c->ran[i] = batch;
    }
    if (first == 0 && last == net->n - 1) c->full = batch;
    const double *res = c->data[last];
    if (y != NULL && res != y) nnla__copy(y, res, batch * shape_size(net->layers[last].out));
    return NNLA_OK;
}

nnla_status nnla_net_run(const nnla_net *net, nnla_net_ctx *ctx, size_t batch, size_t first, size_t last,
                         const double *x, double *y)
{
    if (net == NULL || ctx == NULL || x == NULL) return NNLA_ENULL;
    if (ctx->net != net || ctx->version != net->version) return NNLA_ESTALE;
    if (batch == 0 || batch > ctx->batch) return NNLA_EDIM;
    if (first > last || last >= net->n) return NNLA_EINVAL;
    if (y == NULL && !(ctx->flags & NNLA_CTX_KEEP)) return NNLA_ENULL;
    const layer *f = &net->layers[first];
    if (kinds[f->kind].nsrc == 2 && first > 0 && !(ctx->flags & NNLA_CTX_KEEP)) return NNLA_EUNSUPPORTED;
    size_t xb = batch * shape_size(f->in) * sizeof(double);
    size_t yb = batch * shape_size(net->layers[last].out) * sizeof(double);
    if (y != NULL && (nnla__overlap(y, yb, x, xb) || nnla__overlap(y, yb, ctx->mem, ctx->mem_bytes)))
        return NNLA_EALIAS;
    if (nnla__overlap(x, xb, ctx->mem, ctx->mem_bytes)) return NNLA_EALIAS;
    int share = nnla__share_begin();
    (void)share;
    nnla_status st = run(net, ctx, batch, first, last, x, y);
    nnla__share_end();
    return st;
}

nnla_status nnla_net_workspace_size(const nnla_net *net, size_t batch, size_t *bytes)
{
    return nnla_net_ctx_size(net, batch, 0, bytes, NULL);
}

nnla_status nnla_net_forward(const nnla_net *net, size_t batch, const double *x, double *y, void *work,
                             size_t work_size)
{
    if (net == NULL || x == NULL || y == NULL || work == NULL) return NNLA_ENULL;
    size_t fixed, pref, min;
    NNLA__TRY(ctx_sizes(net, batch, 0, &fixed, &pref, &min));
    if (work_size < min) return NNLA_EWORKSPACE;
    size_t xb = batch * shape_size(net->in) * sizeof(double), yb = batch * shape_size(cur_shape(net)) * sizeof(double);
    if (nnla__overlap(y, yb, x, xb) || nnla__overlap(y, yb, work, work_size) || nnla__overlap(x, xb, work, work_size))
        return NNLA_EALIAS;
    nnla_net_ctx *ctx;
    NNLA__TRY(nnla_net_ctx_init(net, batch, 0, work, work_size, &ctx));
    (void)nnla__share_begin();
    nnla_status st = run(net, ctx, batch, 0, net->n - 1, x, y);
    nnla__share_end();
    return st;
}

/* ------------------------------------------------------------------ backward */

/* Zero layer l's slices of the gradient block (a layer no gradient reaches). */
static void zero_param_grads(const layer *l, double *grad)
{
    for (int k = 0; k < NPARAM; k++) {
        const tensor_info *t = &l->t[k];
        if (t->present && !t->is_buffer) memset(grad + t->off, 0, t->size * sizeof *grad);
    }
}

static nnla_status backward(const nnla_net *net, nnla_net_ctx *c, size_t batch, const double *dy, double *grad,
                            double *dx)
{
    const size_t n = net->n;
    for (size_t i = 0; i < n; i++) c->gset[i] = 0;
    int dx_set = 0;
    /* the output's gradient */
    size_t r = c->root[n - 1], ny = batch * shape_size(net->layers[n - 1].out);
    if (r == NNLA_NET_INPUT) {
        if (dx != NULL) memcpy(dx, dy, ny * sizeof *dx), dx_set = 1;
    } else {
        memcpy(c->grad[r], dy, ny * sizeof *dy);
        c->gset[r] = 1;
    }
    for (size_t ii = n; ii-- > 0;) {
        const layer *l = &net->layers[ii];
        const kind_ops *ops = &kinds[l->kind];
        if (is_alias(l, c->flags)) continue;
        if (!c->gset[ii]) { /* nothing downstream reads this layer: its parameters get 0 */
            if (grad != NULL) zero_param_grads(l, grad);
            continue;
        }
        bwd_args a;
        memset(&a, 0, sizeof a);
        a.batch = batch;
        a.x = l->src[0] == NNLA_NET_INPUT ? c->xcopy : c->data[l->src[0]];
        if (ops->nsrc == 2) a.x2 = l->src[1] == NNLA_NET_INPUT ? c->xcopy : c->data[l->src[1]];
        a.y = c->data[ii];
        a.pre = c->pre[ii];
        a.aux = c->aux[ii];
        a.argmax = c->argmax[ii];
        a.dy = c->grad[ii];
        for (int k = 0; k < ops->nsrc; k++) {
            size_t s = l->src[k], rs = s == NNLA_NET_INPUT ? NNLA_NET_INPUT : c->root[s];
            double *t;
            int acc;
            if (rs == NNLA_NET_INPUT) {
                t = dx;
                acc = dx_set;
                if (dx != NULL) dx_set = 1;
            } else {
                t = c->grad[rs];
                acc = c->gset[rs];
                c->gset[rs] = 1;
            }
            if (k == 0) {
                a.dx = t;
                a.acc = acc;
            } else {
                a.dx2 = t;
                a.acc2 = acc;
            }
        }
        const tensor_info *tw = &l->t[NNLA_PARAM_WEIGHT], *tb = &l->t[NNLA_PARAM_BIAS];
        if (grad != NULL) {
            a.dw = tw->present ? grad + tw->off : NULL;
            a.db = tb->present ? grad + tb->off : NULL;
        }
        a.dz = c->dz;
        a.tmp = c->tmp;
        a.scratch = c->scratch;
        a.scratch_bytes = c->scratch_bytes;
        layer_tensors(net, l, &a.w, &a.b, &a.rm, &a.rv);
        a.train = (c->flags & NNLA_CTX_TRAIN) != 0;
        NNLA__TRY(ops->backward(l, &a));
    }
    if (dx != NULL && !dx_set) memset(dx, 0, batch * shape_size(net->in) * sizeof *dx); /* the input unread */
    return NNLA_OK;
}

nnla_status nnla_net_backward(const nnla_net *net, nnla_net_ctx *ctx, size_t batch, const double *dy, double *grad,
                              double *dx)
{
    if (net == NULL || ctx == NULL || dy == NULL) return NNLA_ENULL;
    if (ctx->net != net || ctx->version != net->version) return NNLA_ESTALE;
    if (!(ctx->flags & NNLA_CTX_GRAD)) return NNLA_EINVAL;
    if (batch == 0 || batch > ctx->batch) return NNLA_EDIM;
    if (ctx->full != batch) return NNLA_EINVAL; /* run the whole network on this batch first */
    size_t nyb = batch * shape_size(net->layers[net->n - 1].out) * sizeof(double);
    size_t gb = net->nparams * sizeof(double), xb = batch * shape_size(net->in) * sizeof(double);
    if (grad != NULL && (nnla__overlap(grad, gb, ctx->mem, ctx->mem_bytes) || nnla__overlap(grad, gb, dy, nyb) ||
                         nnla__overlap(grad, gb, net->params, gb)))
        return NNLA_EALIAS;
    if (dx != NULL && (nnla__overlap(dx, xb, ctx->mem, ctx->mem_bytes) || nnla__overlap(dx, xb, dy, nyb) ||
                       (grad != NULL && nnla__overlap(dx, xb, grad, gb))))
        return NNLA_EALIAS;
    (void)nnla__share_begin();
    nnla_status st = backward(net, ctx, batch, dy, grad, dx);
    nnla__share_end();
    return st;
}

nnla_status nnla_net_update_stats(nnla_net *net, const nnla_net_ctx *ctx)
{
    if (net == NULL || ctx == NULL) return NNLA_ENULL;
    if (ctx->net != net || ctx->version != net->version) return NNLA_ESTALE;
    if (!(ctx->flags & NNLA_CTX_TRAIN) || ctx->full == 0) return NNLA_EINVAL;
    for (size_t i = 0; i < net->n; i++) {
        const layer *l = &net->layers[i];
        if (l->kind != NNLA_LAYER_BATCHNORM) continue;
        const size_t c = l->in[0];
        const double *rec = ctx->aux[i];
        memcpy(net->bufs + l->t[NNLA_PARAM_RUNNING_MEAN].off, rec + 2 * c, c * sizeof(double));
        memcpy(net->bufs + l->t[NNLA_PARAM_RUNNING_VAR].off, rec + 3 * c, c * sizeof(double));
    }
    return NNLA_OK;
}

nnla_status nnla_net_ctx_tensor(const nnla_net *net, const nnla_net_ctx *ctx, size_t i, nnla_ctx_slot which,
                                nnla_tensor *t)
{
    if (net == NULL || ctx == NULL || t == NULL) return NNLA_ENULL;
    if (ctx->net != net || ctx->version != net->version) return NNLA_ESTALE;
    if (i >= net->n || !(ctx->flags & NNLA_CTX_KEEP) || ctx->ran[i] == 0) return NNLA_EINVAL;
    const double *p;
    if (which == NNLA_CTX_OUTPUT)
        p = ctx->data[i];
    else if (which == NNLA_CTX_PREACT)
        p = ctx->pre[i];
    else
        return NNLA_EINVAL;
    if (p == NULL) return NNLA_EINVAL;
    const layer *l = &net->layers[i];
    memset(t, 0, sizeof *t);
    t->data = (double *)(uintptr_t)p; /* the view type is writable; the run's outputs are the caller's */
    t->ndim = 4;
    t->shape[0] = ctx->ran[i];
    t->shape[1] = l->out[0];
    t->shape[2] = l->out[1];
    t->shape[3] = l->out[2];
    t->size = ctx->ran[i] * shape_size(l->out);
    return NNLA_OK;
}

nnla_status nnla_net_ctx_argmax(const nnla_net *net, const nnla_net_ctx *ctx, size_t i, const uint32_t **idx,
                                size_t *count)
{
    if (net == NULL || ctx == NULL || idx == NULL || count == NULL) return NNLA_ENULL;
    if (ctx->net != net || ctx->version != net->version) return NNLA_ESTALE;
    if (i >= net->n || !(ctx->flags & NNLA_CTX_KEEP) || ctx->ran[i] == 0 || ctx->argmax[i] == NULL)
        return NNLA_EINVAL;
    *idx = ctx->argmax[i];
    *count = ctx->ran[i] * shape_size(net->layers[i].out);
    return NNLA_OK;
}
