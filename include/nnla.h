/**
 * @file nnla.h
 * @brief libnnla: linear-algebraic methods for neural networks, over OpenBLAS and LAPACK.
 *
 * The only include a user writes. Link with `-lnnla`
 * (`pkg-config --cflags --libs nnla`, or `find_package(nnla CONFIG)` and the
 * target `nnla::nnla` in CMake). Each module's header under nnla/ also works alone.
 */
#ifndef NNLA_H
#define NNLA_H

#include "nnla/config.h"
#include "nnla/status.h"
#include "nnla/version.h"
#include "nnla/mat.h"
#include "nnla/blas.h"
#include "nnla/linalg.h"
#include "nnla/act.h"
#include "nnla/dense.h"
#include "nnla/conv.h"
#include "nnla/pool.h"
#include "nnla/norm.h"
#include "nnla/net.h"
#include "nnla/npy.h"
#include "nnla/rng.h"
#include "nnla/spectral.h"
#include "nnla/init.h"
#include "nnla/loss.h"
#include "nnla/optim.h"
#include "nnla/train.h"
#include "nnla/attack.h"
#if NNLA_HAVE_ONNX
#include "nnla/onnx.h"
#endif
#include "nnla/lowrank.h"
#include "nnla/pca.h"
#include "nnla/compress.h"

#endif /* NNLA_H */
