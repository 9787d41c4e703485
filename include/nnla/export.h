/**
 * @file nnla/export.h
 * @brief Symbol visibility: NNLA_API marks the functions libnnla exports.
 */
#ifndef NNLA_EXPORT_H
#define NNLA_EXPORT_H

#if defined(NNLA_STATIC)
#define NNLA_API
#elif defined(_WIN32)
#if defined(NNLA_BUILDING)
#define NNLA_API __declspec(dllexport)
#else
#define NNLA_API __declspec(dllimport)
#endif
#elif defined(__GNUC__) || defined(__clang__)
#define NNLA_API __attribute__((visibility("default")))
#else
#define NNLA_API
#endif

#ifdef __cplusplus
#define NNLA_EXTERN_C_BEGIN extern "C" {
#define NNLA_EXTERN_C_END }
#else
#define NNLA_EXTERN_C_BEGIN
#define NNLA_EXTERN_C_END
#endif

#endif /* NNLA_EXPORT_H */
