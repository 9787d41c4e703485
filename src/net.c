/*
 * Networks: an array of layers with copied weights, run by ping-pong between two
 * workspace buffers. Building allocates; nnla_net_forward() does not, and only reads
 * the network, so one network can serve several threads (one workspace each).
 *
 * Forward plan: the current activation starts at x. Each layer that moves data writes
 * into the buffer the current activation is not in, or straight into y when it is the
 * last such layer; an activation layer works in place once the data are in a buffer;
 * flatten moves nothing. The workspace is two buffers of the largest intermediate
 * (batch * largest per-sample size among the layers before the last) and the largest
 * untiled convolution workspace.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct net_layer {
    nnla_layer_kind kind;
    size_t in[3];  /* per-sample input shape (c, h, w) */
    size_t out[3]; /* per-sample output shape */
    nnla_act act;  /* dense, conv2d and act layers */
    double *w;     /* dense and conv2d: owned copy */
    double *b;     /* dense and conv2d: owned copy or NULL */
    nnla_conv2d_desc conv;
    nnla_pool2d_desc pool;
} net_layer;

struct nnla_net {
    size_t in[3];
    size_t n, cap;
    net_layer *layers;
};

static size_t shape_size(const size_t s[3]) { return s[0] * s[1] * s[2]; }

/* The per-sample shape after the last layer (the input shape for an empty network). */
static const size_t *cur_shape(const nnla_net *net)
{
    return net->n ? net->layers[net->n - 1].out : net->in;
}

nnla_status nnla_net_create(size_t channels, size_t height, size_t width, nnla_net **net)
{
    if (net == NULL) return NNLA_ENULL;
    if (channels == 0 || height == 0 || width == 0) return NNLA_EDIM;
    size_t n, bytes;
    if (!nnla__mul(channels, height, &n) || !nnla__mul(n, width, &n) ||
        !nnla__mul(n, sizeof(double), &bytes))
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
    for (size_t i = 0; i < net->n; i++) {
        free(net->layers[i].w);
        free(net->layers[i].b);
    }
    free(net->layers);
    free(net);
}

/* Make room for one more layer. Growing the array does not change the network. */
static nnla_status reserve_one(nnla_net *net)
{
    if (net->n < net->cap) return NNLA_OK;
    size_t cap = net->cap ? 2 * net->cap : 8, bytes;
    if (!nnla__mul(cap, sizeof(net_layer), &bytes)) return NNLA_ENOMEM;
    net_layer *p = realloc(net->layers, bytes);
    if (p == NULL) return NNLA_ENOMEM;
    net->layers = p;
    net->cap = cap;
    return NNLA_OK;
}

/* A zeroed layer of a kind whose input is the network's current output. */
static net_layer layer_start(const nnla_net *net, nnla_layer_kind kind)
{
    net_layer l;
    memset(&l, 0, sizeof l);
    l.kind = kind;
    memcpy(l.in, cur_shape(net), sizeof l.in);
    l.act = nnla_act_default(NNLA_ACT_IDENTITY);
    return l;
}

/* Copy n weights and (when b is not NULL) nb biases into new arrays; both or neither. */
static nnla_status copy_params(const double *w, size_t n, const double *b, size_t nb, double **wc,
                               double **bc)
{
    double *pw = malloc(n * sizeof *pw), *pb = NULL;
    if (pw == NULL) return NNLA_ENOMEM;
    if (b != NULL) {
        pb = malloc(nb * sizeof *pb);
        if (pb == NULL) {
            free(pw);
            return NNLA_ENOMEM;
        }
        memcpy(pb, b, nb * sizeof *pb);
    }
    memcpy(pw, w, n * sizeof *pw);
    *wc = pw;
    *bc = pb;
    return NNLA_OK;
}

/* Append a filled-in layer: the one place a network changes. */
static nnla_status push(nnla_net *net, const net_layer *l)
{
    net->layers[net->n++] = *l;
    return NNLA_OK;
}

nnla_status nnla_net_add_dense(nnla_net *net, size_t out_features, const double *w, const double *b,
                               nnla_act act)
{
    if (net == NULL || w == NULL) return NNLA_ENULL;
    if (out_features == 0) return NNLA_EDIM;
    NNLA__TRY(nnla_act_check(act));
    size_t in = shape_size(cur_shape(net)), n, bytes;
    if (!nnla__fits_int(in) || !nnla__fits_int(out_features) || !nnla__mul(in, out_features, &n) ||
        !nnla__mul(n, sizeof(double), &bytes))
        return NNLA_EOVERFLOW;
    if (!nnla__all_finite_vec(w, n) || (b != NULL && !nnla__all_finite_vec(b, out_features)))
        return NNLA_ENONFINITE;
    NNLA__TRY(reserve_one(net));
    net_layer l = layer_start(net, NNLA_LAYER_DENSE);
    l.out[0] = out_features;
    l.out[1] = l.out[2] = 1;
    l.act = act;
    NNLA__TRY(copy_params(w, n, b, out_features, &l.w, &l.b));
    return push(net, &l);
}

nnla_status nnla_net_add_conv2d(nnla_net *net, const nnla_conv2d_desc *d, const double *w,
                                const double *b, nnla_act act)
{
    if (net == NULL || d == NULL || w == NULL) return NNLA_ENULL;
    const size_t *s = cur_shape(net);
    size_t oh, ow;
    NNLA__TRY(nnla_conv2d_output_size(d, s[1], s[2], &oh, &ow));
    if (d->in_channels != s[0]) return NNLA_ESHAPE;
    NNLA__TRY(nnla_act_check(act));
    /* weights: out * (in / groups) * kh * kw; output per sample: out * oh * ow */
    size_t n, per, bytes;
    if (!nnla__mul(d->out_channels, d->in_channels / d->groups, &n) || !nnla__mul(n, d->kernel_h, &n) ||
        !nnla__mul(n, d->kernel_w, &n) || !nnla__mul(n, sizeof(double), &bytes) ||
        !nnla__mul(d->out_channels, oh, &per) || !nnla__mul(per, ow, &per) ||
        !nnla__mul(per, sizeof(double), &bytes))
        return NNLA_EOVERFLOW;
    if (!nnla__all_finite_vec(w, n) || (b != NULL && !nnla__all_finite_vec(b, d->out_channels)))
        return NNLA_ENONFINITE;
    NNLA__TRY(reserve_one(net));
    net_layer l = layer_start(net, NNLA_LAYER_CONV2D);
    l.conv = *d;
    l.out[0] = d->out_channels;
    l.out[1] = oh;
    l.out[2] = ow;
    l.act = act;
    NNLA__TRY(copy_params(w, n, b, d->out_channels, &l.w, &l.b));
    return push(net, &l);
}

nnla_status nnla_net_add_pool2d(nnla_net *net, const nnla_pool2d_desc *d)
{
    if (net == NULL || d == NULL) return NNLA_ENULL;
    const size_t *s = cur_shape(net);
    size_t oh, ow;
    NNLA__TRY(nnla_pool2d_output_size(d, s[1], s[2], &oh, &ow));
    NNLA__TRY(reserve_one(net));
    net_layer l = layer_start(net, NNLA_LAYER_POOL2D);
    l.pool = *d;
    l.out[0] = s[0];
    l.out[1] = oh;
    l.out[2] = ow;
    return push(net, &l);
}

nnla_status nnla_net_add_global_avgpool(nnla_net *net)
{
    if (net == NULL) return NNLA_ENULL;
    NNLA__TRY(reserve_one(net));
    net_layer l = layer_start(net, NNLA_LAYER_GLOBAL_AVGPOOL);
    l.out[0] = l.in[0];
    l.out[1] = l.out[2] = 1;
    return push(net, &l);
}

nnla_status nnla_net_add_flatten(nnla_net *net)
{
    if (net == NULL) return NNLA_ENULL;
    NNLA__TRY(reserve_one(net));
    net_layer l = layer_start(net, NNLA_LAYER_FLATTEN);
    l.out[0] = shape_size(l.in);
    l.out[1] = l.out[2] = 1;
    return push(net, &l);
}

nnla_status nnla_net_add_act(nnla_net *net, nnla_act act)
{
    if (net == NULL) return NNLA_ENULL;
    NNLA__TRY(nnla_act_check(act));
    NNLA__TRY(reserve_one(net));
    net_layer l = layer_start(net, NNLA_LAYER_ACT);
    memcpy(l.out, l.in, sizeof l.out);
    l.act = act;
    return push(net, &l);
}

size_t nnla_net_num_layers(const nnla_net *net) { return net ? net->n : 0; }

nnla_status nnla_net_layer_kind(const nnla_net *net, size_t i, nnla_layer_kind *kind)
{
    if (net == NULL || kind == NULL) return NNLA_ENULL;
    if (i >= net->n) return NNLA_EINVAL;
    *kind = net->layers[i].kind;
    return NNLA_OK;
}

nnla_status nnla_net_input_shape(const nnla_net *net, size_t shape[3])
{
    if (net == NULL || shape == NULL) return NNLA_ENULL;
    memcpy(shape, net->in, 3 * sizeof *shape);
    return NNLA_OK;
}

nnla_status nnla_net_output_shape(const nnla_net *net, size_t shape[3])
{
    if (net == NULL || shape == NULL) return NNLA_ENULL;
    memcpy(shape, cur_shape(net), 3 * sizeof *shape);
    return NNLA_OK;
}

/* ------------------------------------------------------------------ forward */

/* Whether a layer writes new data (flatten only relabels the shape). */
static int moves_data(const net_layer *l) { return l->kind != NNLA_LAYER_FLATTEN; }

/* What a forward pass on a batch needs; checks every batch-dependent size. */
typedef struct net_plan {
    size_t in_elems;   /* batch * input size */
    size_t out_elems;  /* batch * output size */
    size_t buf_elems;  /* elements of each ping-pong buffer */
    size_t conv_bytes; /* largest untiled conv workspace */
    size_t last;       /* index of the last layer that moves data, or n when none does */
    size_t total;      /* workspace bytes */
} net_plan;

static nnla_status make_plan(const nnla_net *net, size_t batch, net_plan *plan)
{
    if (batch == 0 || net->n == 0) return NNLA_EDIM;
    net_plan p;
    memset(&p, 0, sizeof p);
    p.last = net->n;
    for (size_t i = 0; i < net->n; i++)
        if (moves_data(&net->layers[i])) p.last = i;
    if (!nnla__mul(batch, shape_size(net->in), &p.in_elems) ||
        !nnla__mul(batch, shape_size(cur_shape(net)), &p.out_elems))
        return NNLA_EOVERFLOW;
    for (size_t i = 0; i < net->n; i++) {
        const net_layer *l = &net->layers[i];
        size_t e, bytes;
        if (!nnla__mul(batch, shape_size(l->out), &e) || !nnla__mul(e, sizeof(double), &bytes))
            return NNLA_EOVERFLOW;
        /* the last data-moving layer writes into y; earlier ones into a buffer */
        if (p.last != net->n && i < p.last && e > p.buf_elems) p.buf_elems = e;
        switch (l->kind) {
        case NNLA_LAYER_DENSE:
            /* rows of X and Y are samples: BLAS's int must hold the batch and ld */
            if (!nnla__fits_int(batch)) return NNLA_EOVERFLOW;
            break;
        case NNLA_LAYER_CONV2D: {
            size_t cw;
            NNLA__TRY(nnla_conv2d_workspace_size(&l->conv, batch, l->in[1], l->in[2], &cw));
            if (cw > p.conv_bytes) p.conv_bytes = cw;
            break;
        }
        case NNLA_LAYER_ACT:
            /* the act views are batch x features (or rows of one sample for row-wise kinds) */
            break;
        default: break;
        }
    }
    size_t bb, total = 0;
    if (!nnla__mul(p.buf_elems, sizeof(double), &bb) || !nnla__ws_piece(bb, &total) ||
        !nnla__ws_piece(bb, &total) || !nnla__ws_piece(p.conv_bytes, &total))
        return NNLA_EOVERFLOW;
    p.total = total;
    *plan = p;
    return NNLA_OK;
}

nnla_status nnla_net_workspace_size(const nnla_net *net, size_t batch, size_t *bytes)
{
    if (net == NULL || bytes == NULL) return NNLA_ENULL;
    net_plan p;
    NNLA__TRY(make_plan(net, batch, &p));
    *bytes = p.total;
    return NNLA_OK;
}

/* Run one layer from src to dst (dst may equal src only for activation layers). */
static nnla_status run_layer(const net_layer *l, size_t batch, const double *src, double *dst, void *cw,
                             size_t cw_bytes)
{
    size_t nin = shape_size(l->in), nout = shape_size(l->out);
    switch (l->kind) {
    case NNLA_LAYER_DENSE:
        return nnla_dense_forward(nnla_cmat_view(src, batch, nin, nin), nnla_cmat_view(l->w, nout, nin, nin),
                                  l->b, l->act, nnla_mat_view(dst, batch, nout, nout));
    case NNLA_LAYER_CONV2D:
        return nnla_conv2d_forward(&l->conv, batch, l->in[1], l->in[2], src, l->w, l->b, l->act, dst,
                                   cw_bytes ? cw : NULL, cw_bytes);
    case NNLA_LAYER_POOL2D:
        return nnla_pool2d_forward(&l->pool, batch, l->in[0], l->in[1], l->in[2], src, dst);
    case NNLA_LAYER_GLOBAL_AVGPOOL:
        return nnla_global_avgpool2d(batch, l->in[0], l->in[1], l->in[2], src, dst);
    case NNLA_LAYER_ACT:
        /* one row per sample: row-wise kinds act on each sample's flattened vector */
        return nnla_act_forward(l->act, nnla_cmat_view(src, batch, nin, nin),
                                nnla_mat_view(dst, batch, nin, nin));
    case NNLA_LAYER_FLATTEN: break;
    }
    return NNLA_OK;
}

nnla_status nnla_net_forward(const nnla_net *net, size_t batch, const double *x, double *y, void *work,
                             size_t work_size)
{
    if (net == NULL || x == NULL || y == NULL || work == NULL) return NNLA_ENULL;
    net_plan p;
    NNLA__TRY(make_plan(net, batch, &p));
    if (work_size < p.total) return NNLA_EWORKSPACE;
    size_t xb = p.in_elems * sizeof(double), yb = p.out_elems * sizeof(double);
    if (nnla__overlap(y, yb, x, xb) || nnla__overlap(y, yb, work, work_size) ||
        nnla__overlap(x, xb, work, work_size))
        return NNLA_EALIAS;

    nnla__arena a = {(unsigned char *)work, work_size};
    size_t bb = p.buf_elems * sizeof(double);
    double *buf[2];
    buf[0] = nnla__arena_take(&a, bb);
    buf[1] = nnla__arena_take(&a, bb);
    void *cw = nnla__arena_take(&a, p.conv_bytes);
    if (buf[0] == NULL || buf[1] == NULL || cw == NULL) return NNLA_EWORKSPACE; /* cannot happen */

    const double *cur = x;
    int in_buf = -1; /* which buffer holds cur, -1 for x or y */
    for (size_t i = 0; i < net->n; i++) {
        const net_layer *l = &net->layers[i];
        if (!moves_data(l)) continue;
        double *dst;
        if (i == p.last) {
            dst = y;
        } else if (l->kind == NNLA_LAYER_ACT && in_buf >= 0) {
            dst = buf[in_buf]; /* in place */
        } else {
            int k = in_buf == 0 ? 1 : 0;
            dst = buf[k];
            in_buf = k;
        }
        NNLA__TRY(run_layer(l, batch, cur, dst, cw, p.conv_bytes));
        cur = dst;
    }
    if (cur != y) nnla__copy(y, cur, yb / sizeof *y); /* only flatten layers: the output is the input */
    return NNLA_OK;
}
