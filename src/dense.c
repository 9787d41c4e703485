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

/* One thread's part of a batched dense layer: its rows' GEMM, bias and activation. */
typedef struct dense_rows {
    nnla_cmat x, w;
    const double *b;
    nnla_act act;
    nnla_mat y;
} dense_rows;

static void dense_part(const dense_rows *j, int t, int tn)
{
    size_t r0, r1;
    nnla__part(j->x.rows, tn, t, &r0, &r1);
    if (r1 <= r0) return;
    nnla_mat yr = nnla_mat_view(j->y.data + r0 * j->y.ld, r1 - r0, j->y.cols, j->y.ld);
    nnla__dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(r1 - r0), (int)j->w.rows, (int)j->x.cols, 1.0,
                j->x.data + r0 * j->x.ld, (int)j->x.ld, j->w.data, (int)j->w.ld, 0.0, yr.data, (int)yr.ld);
    if (j->b != NULL) nnla__act_bias_rows(j->act, yr.rows, yr.cols, yr.data, yr.ld, yr.data, yr.ld, j->b, 0);
    if (j->act.kind != NNLA_ACT_IDENTITY && (j->b == NULL || nnla_act_is_rowwise(j->act.kind)))
        (void)nnla_act_forward(j->act, nnla_cmat_of(yr), yr); /* checked by the caller: cannot fail */
}

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
     * arithmetic does not depend on the split. One thread: no parallel region at all (libgomp
     * allocates a team even for a serialized region). */
    const int share = nnla__share_begin();
    const int nt = nnla__threads_for(share, batch, 2.0 * (double)batch * (double)out * (double)x.cols);
    dense_rows job = {x, w, b, act, y};
    if (nt > 1) {
#pragma omp parallel num_threads(nt)
        dense_part(&job, omp_get_thread_num(), omp_get_num_threads());
    } else {
        dense_part(&job, 0, 1);
    }
    nnla__share_end();
    return NNLA_OK;
}
