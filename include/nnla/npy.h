/**
 * @file nnla/npy.h
 * @brief NumPy .npy arrays in and out (placeholder: the interop issue fills this in).
 */
#ifndef NNLA_NPY_H
#define NNLA_NPY_H

#include "mat.h"

#endif /* NNLA_NPY_H */
