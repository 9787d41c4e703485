/**
 * @file nnla/status.h
 * @brief Status codes returned by every fallible libnnla function.
 *
 * Every function that can fail returns an ::nnla_status; ::NNLA_OK is zero, so
 * `if (st != NNLA_OK)` or `if (st)` tests for failure. Results come back through
 * output parameters. When a function returns anything but ::NNLA_OK because of
 * its arguments, it has written nothing to its outputs: arguments are checked
 * before any work starts. The library keeps no global error state and never
 * prints, aborts or exits.
 *
 * | status | meaning |
 * |---|---|
 * | ::NNLA_OK | success |
 * | ::NNLA_ENULL | a required pointer argument is NULL |
 * | ::NNLA_EINVAL | an argument has an invalid value (unknown flag, kind, parameter) |
 * | ::NNLA_EDIM | a dimension is zero or otherwise invalid |
 * | ::NNLA_ESHAPE | the shapes of the arguments do not match |
 * | ::NNLA_ELD | a leading dimension is smaller than the number of columns |
 * | ::NNLA_EWORKSPACE | the workspace is too small |
 * | ::NNLA_ENONFINITE | the input contains NaN or Inf where they are refused |
 * | ::NNLA_ENOTSYM | the matrix is not symmetric within the documented tolerance |
 * | ::NNLA_EOVERFLOW | a size overflows size_t or the 32-bit int of BLAS/LAPACK |
 * | ::NNLA_ENOMEM | memory allocation failed (only in functions documented to allocate) |
 * | ::NNLA_ENOCONV | the algorithm did not converge (LAPACK, or an iteration cap reached) |
 * | ::NNLA_ELAPACK | LAPACK rejected an argument (an internal error) |
 * | ::NNLA_EUNSUPPORTED | the operation is not supported for these arguments |
 * | ::NNLA_EIO | an input/output operation failed |
 * | ::NNLA_EFORMAT | the data (e.g. a .npy file) is malformed |
 * | ::NNLA_EALIAS | an output overlaps an input where that is not allowed |
 * | ::NNLA_EINTERNAL | a state the library should never reach (a bug: please report it) |
 * | ::NNLA_ESTALE | a context made for another network, or before the network was edited |
 */
#ifndef NNLA_STATUS_H
#define NNLA_STATUS_H

#include "export.h"

NNLA_EXTERN_C_BEGIN

/**
 * The list of statuses, as X(name, value, message). It generates both the
 * ::nnla_status enumeration and the messages of nnla_strerror(), so the two
 * cannot drift apart. Values are stable across releases of one major version.
 */
#define NNLA_STATUS_LIST(X)                                                                        \
    X(NNLA_OK, 0, "success")                                                                       \
    X(NNLA_ENULL, 1, "a required pointer argument is NULL")                                        \
    X(NNLA_EINVAL, 2, "an argument has an invalid value")                                          \
    X(NNLA_EDIM, 3, "a dimension is zero or otherwise invalid")                                    \
    X(NNLA_ESHAPE, 4, "the shapes of the arguments do not match")                                  \
    X(NNLA_ELD, 5, "a leading dimension is smaller than the number of columns")                    \
    X(NNLA_EWORKSPACE, 6, "the workspace is too small (query the *_workspace_size function)")      \
    X(NNLA_ENONFINITE, 7, "the input contains NaN or Inf")                                         \
    X(NNLA_ENOTSYM, 8, "the matrix is not symmetric within the documented tolerance")              \
    X(NNLA_EOVERFLOW, 9, "a size overflows size_t or the 32-bit int of BLAS/LAPACK")               \
    X(NNLA_ENOMEM, 10, "memory allocation failed")                                                 \
    X(NNLA_ENOCONV, 11, "the algorithm did not converge (LAPACK, or an iteration cap)")            \
    X(NNLA_ELAPACK, 12, "LAPACK rejected an argument (internal error, please report)")             \
    X(NNLA_EUNSUPPORTED, 13, "the operation is not supported for these arguments")                 \
    X(NNLA_EIO, 14, "an input/output operation failed")                                            \
    X(NNLA_EFORMAT, 15, "the data is malformed")                                                   \
    X(NNLA_EALIAS, 16, "an output overlaps an input where that is not allowed")                    \
    X(NNLA_EINTERNAL, 17, "internal error: a state libnnla should never reach (please report)")     \
    X(NNLA_ESTALE, 18, "the context belongs to another network, or the network changed since")

/** Status code; ::NNLA_OK (0) means success. */
typedef enum nnla_status {
#define NNLA_STATUS_ENUM_(name, value, msg) name = value,
    NNLA_STATUS_LIST(NNLA_STATUS_ENUM_)
#undef NNLA_STATUS_ENUM_
} nnla_status;

/**
 * @brief A short English description of a status.
 * @param status any value; unknown values give "unknown status".
 * @return a static, NUL-terminated string; never NULL. Thread-safe.
 */
NNLA_API const char *nnla_strerror(nnla_status status);

/**
 * @brief The enumerator's name of a status, e.g. "NNLA_ESHAPE".
 * @param status any value; unknown values give "NNLA_UNKNOWN".
 * @return a static, NUL-terminated string; never NULL.
 */
NNLA_API const char *nnla_status_name(nnla_status status);

NNLA_EXTERN_C_END

#endif /* NNLA_STATUS_H */
