/* Matrix views and the private helpers the modules share. */
#include <math.h>
#include <stdint.h>

#include "internal.h"

nnla_status nnla_mat_check(nnla_cmat m)
{
    if (m.data == NULL) return NNLA_ENULL;
    if (m.rows == 0 || m.cols == 0) return NNLA_EDIM;
    if (m.ld < m.cols) return NNLA_ELD;
    size_t extent;
    if (!nnla__mul(m.rows - 1, m.ld, &extent) || !nnla__add(extent, m.cols, &extent) ||
        !nnla__mul(extent, sizeof(double), &extent))
        return NNLA_EOVERFLOW;
    return NNLA_OK;
}

nnla_status nnla__check_blas_view(nnla_cmat m)
{
    NNLA__TRY(nnla_mat_check(m));
    if (!nnla__fits_int(m.rows) || !nnla__fits_int(m.cols) || !nnla__fits_int(m.ld))
        return NNLA_EOVERFLOW;
    return NNLA_OK;
}

int nnla__all_finite_vec(const double *x, size_t n)
{
    /* Accumulate x*0: it is 0 for finite x and NaN for NaN or Inf, so one branch at the end. */
    double acc = 0.0;
    for (size_t i = 0; i < n; i++) acc += x[i] * 0.0;
    return acc == 0.0;
}

int nnla__all_finite(nnla_cmat m)
{
    for (size_t i = 0; i < m.rows; i++)
        if (!nnla__all_finite_vec(m.data + i * m.ld, m.cols)) return 0;
    return 1;
}

int nnla__overlap(const void *a, size_t an, const void *b, size_t bn)
{
    uintptr_t pa = (uintptr_t)a, pb = (uintptr_t)b;
    if (an == 0 || bn == 0) return 0;
    return pa < pb + bn && pb < pa + an;
}

size_t nnla__view_bytes(nnla_cmat m) { return ((m.rows - 1) * m.ld + m.cols) * sizeof(double); }

void *nnla__arena_take(nnla__arena *a, size_t n)
{
    uintptr_t p = (uintptr_t)a->p;
    size_t pad = (size_t)((NNLA__ALIGN - (p % NNLA__ALIGN)) % NNLA__ALIGN);
    if (a->left < pad || a->left - pad < n) return NULL;
    void *out = a->p + pad;
    a->p += pad + n;
    a->left -= pad + n;
    return out;
}
