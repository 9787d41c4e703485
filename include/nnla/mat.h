/**
 * @file nnla/mat.h
 * @brief Row-major matrix views.
 *
 * A view describes memory it does not own: element (i, j) is `data[i * ld + j]`,
 * with `ld >= cols` (GSL's tda). Views are small structs passed by value.
 * ::nnla_mat is writable; ::nnla_cmat is the read-only flavour used for inputs.
 * nnla_cmat_of() turns the first into the second.
 *
 * Layouts follow PyTorch: a dense layer's weight is W[out][in], a batch holds one
 * sample per row, images are NCHW and contiguous.
 */
#ifndef NNLA_MAT_H
#define NNLA_MAT_H

#include <stddef.h>

#include "export.h"
#include "status.h"

NNLA_EXTERN_C_BEGIN

/** A writable row-major view: element (i, j) at data[i*ld + j]. */
typedef struct nnla_mat {
    size_t rows; /**< number of rows */
    size_t cols; /**< number of columns */
    size_t ld;   /**< leading dimension (row stride, in elements), ld >= cols */
    double *data; /**< first element; not owned */
} nnla_mat;

/** A read-only row-major view: element (i, j) at data[i*ld + j]. */
typedef struct nnla_cmat {
    size_t rows;        /**< number of rows */
    size_t cols;        /**< number of columns */
    size_t ld;          /**< leading dimension (row stride, in elements), ld >= cols */
    const double *data; /**< first element; not owned */
} nnla_cmat;

/** @brief A writable view of rows x cols doubles at data, row stride ld. */
static inline nnla_mat nnla_mat_view(double *data, size_t rows, size_t cols, size_t ld)
{
    nnla_mat m;
    m.rows = rows;
    m.cols = cols;
    m.ld = ld;
    m.data = data;
    return m;
}

/** @brief A read-only view of rows x cols doubles at data, row stride ld. */
static inline nnla_cmat nnla_cmat_view(const double *data, size_t rows, size_t cols, size_t ld)
{
    nnla_cmat m;
    m.rows = rows;
    m.cols = cols;
    m.ld = ld;
    m.data = data;
    return m;
}

/** @brief The read-only flavour of a writable view. */
static inline nnla_cmat nnla_cmat_of(nnla_mat m)
{
    return nnla_cmat_view(m.data, m.rows, m.cols, m.ld);
}

/**
 * @brief Check a view: data not NULL, rows and cols nonzero, ld >= cols, and
 *        (rows-1)*ld + cols representable in size_t.
 * @return ::NNLA_OK, ::NNLA_ENULL, ::NNLA_EDIM, ::NNLA_ELD or ::NNLA_EOVERFLOW.
 */
NNLA_API nnla_status nnla_mat_check(nnla_cmat m);

NNLA_EXTERN_C_END

#endif /* NNLA_MAT_H */
