/**
 * @file nnla/version.h
 * @brief Compile-time and run-time version of libnnla.
 *
 * The shared library's SONAME carries the major version (libnnla.so.0); the
 * API and ABI are stable within one major version.
 */
#ifndef NNLA_VERSION_H
#define NNLA_VERSION_H

#include "export.h"

NNLA_EXTERN_C_BEGIN

#define NNLA_VERSION_MAJOR 0
#define NNLA_VERSION_MINOR 2
#define NNLA_VERSION_PATCH 0
/** The version as one number, MAJOR*10000 + MINOR*100 + PATCH. */
#define NNLA_VERSION_NUMBER (NNLA_VERSION_MAJOR * 10000 + NNLA_VERSION_MINOR * 100 + NNLA_VERSION_PATCH)

/**
 * @brief The version of the library actually loaded, as "MAJOR.MINOR.PATCH".
 * @return a static string; compare it (or nnla_version_number()) with the macros
 *         to detect a header/library mismatch.
 */
NNLA_API const char *nnla_version(void);

/** @brief The loaded library's version as MAJOR*10000 + MINOR*100 + PATCH. */
NNLA_API unsigned nnla_version_number(void);

NNLA_EXTERN_C_END

#endif /* NNLA_VERSION_H */
