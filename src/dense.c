/*
 * Dense layers: Y = act(X W^T + b), one BLAS call and one pass over Y.
 *
 * One cblas_dgemm writes X W^T into Y (cblas_dgemv for a batch of one); then one pass over
 * Y adds the bias and applies the activation in the same loop (nnla__act_bias_rows, shared with
 * conv.c); softmax and log-softmax, per row, then run over Y.
 *
 * Copying the bias into Y first and accumulating the product onto it (beta = 1) would
 * save BLAS its clearing pass, but costs a pass of its own on one thread; as a memcpy it
 * also fell into glibc 2.36's rep movsb trap on AMD Zen 3 (see nnla__copy) and made
 * one-sample layers 5% slower than their dgemv (docs/performance.md).
 */
#include <cblas.h>

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
    if (batch == 1) {
        cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)out, (int)w.cols, 1.0, w.data, (int)w.ld, x.data, 1, 0.0,
                    y.data, 1);
    } else {
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)batch, (int)out, (int)x.cols, 1.0, x.data,
                    (int)x.ld, w.data, (int)w.ld, 0.0, y.data, (int)y.ld);
    }
    if (b != NULL) nnla__act_bias_rows(act, y.rows, y.cols, y.data, y.ld, y.data, y.ld, b, 0);
    if (act.kind != NNLA_ACT_IDENTITY && (b == NULL || nnla_act_is_rowwise(act.kind))) {
        /* The arguments were checked above: this cannot fail. */
        (void)nnla_act_forward(act, yc, y);
    }
    return NNLA_OK;
}
