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
#include <omp.h>

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
        nnla__dgemv(CblasRowMajor, CblasNoTrans, (int)out, (int)w.cols, 1.0, w.data, (int)w.ld, x.data, 1, 0.0,
                    y.data, 1);
        if (b != NULL) nnla__act_bias_rows(act, 1, y.cols, y.data, y.ld, y.data, y.ld, b, 0);
        if (act.kind != NNLA_ACT_IDENTITY && (b == NULL || nnla_act_is_rowwise(act.kind)))
            (void)nnla_act_forward(act, yc, y); /* checked above: cannot fail */
        return NNLA_OK;
    }
    /* The batch's rows split over the caller's threads (docs/guide.md, "Threads"): each thread one
     * GEMM on its rows (a one-thread GEMM inside the region) and the pass over them. Each row's
     * arithmetic does not depend on the split. */
    const int share = nnla__share_begin();
    const int nt = nnla__threads_for(share, batch, 2.0 * (double)batch * (double)out * (double)x.cols);
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        size_t r0, r1;
        nnla__part(batch, nt > 1 ? omp_get_num_threads() : 1, nt > 1 ? omp_get_thread_num() : 0, &r0, &r1);
        if (r1 > r0) {
            nnla_mat yr = nnla_mat_view(y.data + r0 * y.ld, r1 - r0, y.cols, y.ld);
            nnla__dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(r1 - r0), (int)out, (int)x.cols, 1.0,
                        x.data + r0 * x.ld, (int)x.ld, w.data, (int)w.ld, 0.0, yr.data, (int)y.ld);
            if (b != NULL) nnla__act_bias_rows(act, yr.rows, yr.cols, yr.data, yr.ld, yr.data, yr.ld, b, 0);
            if (act.kind != NNLA_ACT_IDENTITY && (b == NULL || nnla_act_is_rowwise(act.kind)))
                (void)nnla_act_forward(act, nnla_cmat_of(yr), yr); /* checked above: cannot fail */
        }
    }
    nnla__share_end();
    return NNLA_OK;
}
