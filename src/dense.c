/*
 * Dense layers: Y = act(X W^T + b), one BLAS call and one pass over Y.
 *
 * The bias is put into Y first and the product is accumulated onto it (beta = 1): that
 * copy replaces the pass in which BLAS would otherwise clear Y for beta = 0, so the
 * bias costs nothing extra. The activation then runs as one pass over Y (each row for
 * softmax/log-softmax). A batch of one goes through cblas_dgemv.
 */
#include <cblas.h>
#include <string.h>

#include "internal.h"

nnla_status nnla_dense_forward(nnla_cmat x, nnla_cmat w, const double *b, nnla_act act, nnla_mat y)
{
    nnla_cmat yc = nnla_cmat_of(y);
    NNLA__TRY(nnla__check_blas_view(x));
    NNLA__TRY(nnla__check_blas_view(w));
    NNLA__TRY(nnla__check_blas_view(yc));
    if (x.cols != w.cols || y.rows != x.rows || y.cols != w.rows) return NNLA_ESHAPE;
    NNLA__TRY(nnla_act_check(act));
    size_t yb = nnla__view_bytes(yc);
    if (nnla__overlap(y.data, yb, x.data, nnla__view_bytes(x)) ||
        nnla__overlap(y.data, yb, w.data, nnla__view_bytes(w)) ||
        (b != NULL && nnla__overlap(y.data, yb, b, w.rows * sizeof *b)))
        return NNLA_EALIAS;

    size_t batch = x.rows, out = w.rows;
    double beta = 0.0;
    if (b != NULL) {
        for (size_t i = 0; i < batch; i++) memcpy(y.data + i * y.ld, b, out * sizeof *b);
        beta = 1.0;
    }
    if (batch == 1) {
        cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)out, (int)w.cols, 1.0, w.data, (int)w.ld, x.data,
                    1, beta, y.data, 1);
    } else {
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)batch, (int)out, (int)x.cols, 1.0,
                    x.data, (int)x.ld, w.data, (int)w.ld, beta, y.data, (int)y.ld);
    }
    if (act.kind != NNLA_ACT_IDENTITY) {
        /* The arguments were checked above: this cannot fail. */
        (void)nnla_act_forward(act, yc, y);
    }
    return NNLA_OK;
}
