/* GEMM and GEMV over CBLAS, and what OpenBLAS reports about itself. */
#include <cblas.h>

#include "internal.h"

static int valid_trans(nnla_trans t) { return t == NNLA_NO_TRANS || t == NNLA_TRANS; }

nnla_status nnla_gemm(nnla_trans ta, nnla_trans tb, double alpha, nnla_cmat a, nnla_cmat b, double beta,
                      nnla_mat c)
{
    NNLA__TRY(nnla__check_blas_view(a));
    NNLA__TRY(nnla__check_blas_view(b));
    NNLA__TRY(nnla__check_blas_view(nnla_cmat_of(c)));
    if (!valid_trans(ta) || !valid_trans(tb)) return NNLA_EINVAL;
    size_t m = ta == NNLA_NO_TRANS ? a.rows : a.cols;
    size_t k = ta == NNLA_NO_TRANS ? a.cols : a.rows;
    size_t kb = tb == NNLA_NO_TRANS ? b.rows : b.cols;
    size_t n = tb == NNLA_NO_TRANS ? b.cols : b.rows;
    if (k != kb || c.rows != m || c.cols != n) return NNLA_ESHAPE;
    size_t cb = nnla__view_bytes(nnla_cmat_of(c));
    if (nnla__overlap(c.data, cb, a.data, nnla__view_bytes(a)) ||
        nnla__overlap(c.data, cb, b.data, nnla__view_bytes(b)))
        return NNLA_EALIAS;
    cblas_dgemm(CblasRowMajor, ta == NNLA_TRANS ? CblasTrans : CblasNoTrans,
                tb == NNLA_TRANS ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)k, alpha, a.data,
                (int)a.ld, b.data, (int)b.ld, beta, c.data, (int)c.ld);
    return NNLA_OK;
}

nnla_status nnla_gemv(nnla_trans ta, double alpha, nnla_cmat a, const double *x, size_t nx, double beta,
                      double *y, size_t ny)
{
    NNLA__TRY(nnla__check_blas_view(a));
    if (x == NULL || y == NULL) return NNLA_ENULL;
    if (nx == 0 || ny == 0) return NNLA_EDIM;
    if (!valid_trans(ta)) return NNLA_EINVAL;
    size_t want_x = ta == NNLA_NO_TRANS ? a.cols : a.rows;
    size_t want_y = ta == NNLA_NO_TRANS ? a.rows : a.cols;
    if (nx != want_x || ny != want_y) return NNLA_ESHAPE;
    if (nnla__overlap(y, ny * sizeof(double), a.data, nnla__view_bytes(a)) ||
        nnla__overlap(y, ny * sizeof(double), x, nx * sizeof(double)))
        return NNLA_EALIAS;
    cblas_dgemv(CblasRowMajor, ta == NNLA_TRANS ? CblasTrans : CblasNoTrans, (int)a.rows, (int)a.cols,
                alpha, a.data, (int)a.ld, x, 1, beta, y, 1);
    return NNLA_OK;
}

const char *nnla_blas_config(void)
{
    const char *s = openblas_get_config();
    return s ? s : "";
}

const char *nnla_blas_corename(void)
{
    const char *s = openblas_get_corename();
    return s ? s : "";
}

int nnla_blas_num_threads(void) { return openblas_get_num_threads(); }

nnla_status nnla_blas_set_num_threads(int n)
{
    if (n < 1) return NNLA_EINVAL;
    openblas_set_num_threads(n);
    return NNLA_OK;
}
