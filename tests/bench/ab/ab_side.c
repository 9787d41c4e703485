/*
 * One side of the A/B harness (conv_ab.sh compiles it once per side, with that side's headers and
 * -DAB_SIDE=A or B, and the side's public names renamed as its conv.c's): the harness's plain
 * geometry turned into this side's nnla_conv2d_desc. AB_PADS4 says whether the side's descriptor
 * has the four pads (pad_top ...) or the older pad_h/pad_w; AB_BWD whether it has the backward
 * passes (timed together: input gradient, then weight and bias gradients).
 */
#include <nnla.h>

#include "ab_side.h"

#define AB_CAT_(a, b) a##b
#define AB_CAT(a, b) AB_CAT_(a, b)
#define AB_FN(name) AB_CAT(name, AB_SIDE)

static nnla_conv2d_desc make(const ab_geom *g)
{
    nnla_conv2d_desc d = nnla_conv2d_desc_make(g->in, g->out, g->k, g->k);
#if AB_PADS4
    d.pad_top = d.pad_bottom = d.pad_left = d.pad_right = g->pad;
#else
    d.pad_h = d.pad_w = g->pad;
#endif
    return d;
}

int AB_FN(ab_ws_)(const ab_geom *g, size_t *bytes)
{
    nnla_conv2d_desc d = make(g);
    return (int)nnla_conv2d_workspace_size(&d, g->batch, g->h, g->w, bytes);
}

int AB_FN(ab_conv_)(const ab_geom *g, const double *x, const double *w, const double *b, double *y, void *work,
                    size_t work_size)
{
    nnla_conv2d_desc d = make(g);
    return (int)nnla_conv2d_forward(&d, g->batch, g->h, g->w, x, w, b, nnla_act_default(NNLA_ACT_RELU), y, work,
                                    work_size);
}

#if AB_BWD
int AB_FN(ab_has_bwd_)(void) { return 1; }

int AB_FN(ab_bwd_ws_)(const ab_geom *g, size_t *bytes)
{
    nnla_conv2d_desc d = make(g);
    size_t a = 0, b = 0;
    int st = (int)nnla_conv2d_backward_data_workspace_size(&d, g->batch, g->h, g->w, &a);
    if (st == 0) st = (int)nnla_conv2d_backward_weights_workspace_size(&d, g->batch, g->h, g->w, &b);
    *bytes = a > b ? a : b;
    return st;
}

int AB_FN(ab_bwd_)(const ab_geom *g, const double *x, const double *w, const double *dy, double *dx, double *dw,
                   double *db, void *work, size_t work_size)
{
    nnla_conv2d_desc d = make(g);
    int st = (int)nnla_conv2d_backward_data(&d, g->batch, g->h, g->w, dy, w, dx, work, work_size);
    if (st == 0) st = (int)nnla_conv2d_backward_weights(&d, g->batch, g->h, g->w, x, dy, dw, db, work, work_size);
    return st;
}
#else
int AB_FN(ab_has_bwd_)(void) { return 0; }

int AB_FN(ab_bwd_ws_)(const ab_geom *g, size_t *bytes)
{
    (void)g;
    *bytes = 0;
    return (int)NNLA_EUNSUPPORTED;
}

int AB_FN(ab_bwd_)(const ab_geom *g, const double *x, const double *w, const double *dy, double *dx, double *dw,
                   double *db, void *work, size_t work_size)
{
    (void)g, (void)x, (void)w, (void)dy, (void)dx, (void)dw, (void)db, (void)work, (void)work_size;
    return (int)NNLA_EUNSUPPORTED;
}
#endif
