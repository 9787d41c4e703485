/*
 * The A/B harness's view of one build of the convolution (conv_ab.c, ab_side.c): plain numbers
 * only, so each side can be compiled against its own headers (a baseline from before an API
 * change still builds). The functions return an nnla_status as an int.
 */
#ifndef NNLA_AB_SIDE_H
#define NNLA_AB_SIDE_H

#include <stddef.h>

/* A square stride-1 case of `nnla-bench conv`: batch x in x h x w, out channels, k x k kernel,
 * `pad` zeros on every side. */
typedef struct ab_geom {
    size_t batch, in, h, w, out, k, pad;
} ab_geom;

#define AB_SIDE_DECL(S)                                                                                      \
    int ab_ws_##S(const ab_geom *g, size_t *bytes);                                                          \
    int ab_conv_##S(const ab_geom *g, const double *x, const double *w, const double *b, double *y,         \
                    void *work, size_t work_size);                                                           \
    int ab_has_bwd_##S(void);                                                                                \
    int ab_bwd_ws_##S(const ab_geom *g, size_t *bytes);                                                      \
    int ab_bwd_##S(const ab_geom *g, const double *x, const double *w, const double *dy, double *dx,         \
                   double *dw, double *db, void *work, size_t work_size);

AB_SIDE_DECL(A)
AB_SIDE_DECL(B)

#endif /* NNLA_AB_SIDE_H */
