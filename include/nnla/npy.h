/**
 * @file nnla/npy.h
 * @brief NumPy .npy arrays in and out.
 *
 * The .npy format (numpy.lib.format) is a magic string, a format version, a
 * small header that is a Python dict literal, e.g.
 * `{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }`, and the raw
 * array data. This module reads and writes it so arrays cross between NumPy and
 * libnnla without glue code. It is a convenience module, not a compute kernel:
 * reading allocates the array it returns (release it with nnla_array_free()).
 *
 * What the reader accepts:
 * - format versions 1.0, 2.0 and 3.0 (3.0 only differs by a UTF-8 header);
 * - element types float64 and float32 (descr `f8`, `f4`), signed and unsigned
 *   integers of 1, 2, 4 and 8 bytes (`i1` ... `i8`, `u1` ... `u8`) and booleans
 *   (`b1`), each with the byte-order character `'<'` (little-endian), `'>'`
 *   (big-endian), `'='` or `'|'` (the host's order, as NumPy reads them) or none
 *   (host order): e.g. `'<f8'`, `'>f4'`, `'<i8'`, `'|u1'`, `'|b1'`. Every element
 *   becomes a double: float32 exactly; integers exactly, and an integer beyond 2^53
 *   in magnitude (possible only in `i8` and `u8`) makes the read fail with
 *   ::NNLA_EINEXACT rather than round; booleans 0 and 1 (a nonzero byte is 1).
 *   Big-endian data is byte-swapped; values are never altered otherwise (NaN and
 *   Inf pass through, they are data);
 * - C order and Fortran order: Fortran-ordered data is converted to C order
 *   (row-major, last index fastest), so nnla_array::data is always C order;
 * - any rank from 0 (a scalar, one element) to ::NNLA_NPY_MAX_DIMS, and empty
 *   arrays (a 0 in the shape);
 * - headers of at most ::NNLA_NPY_MAX_HEADER_LEN bytes (NumPy's own reader stops
 *   at 10000 by default; every header NumPy writes for these types is far shorter);
 * - bytes after the array data are ignored, as np.load() ignores them, so several
 *   arrays saved one after another to one stream can be read in turn with
 *   nnla_npy_read_file().
 *
 * The header is parsed as the strict subset of Python literal syntax that NumPy
 * writes: one dict with exactly the keys 'descr', 'fortran_order' and 'shape'
 * (each once), quoted with ' or " (no escapes), True/False, a tuple of
 * non-negative decimal integers (a one-element tuple needs its comma; the
 * Python 2 suffix L is accepted), whitespace anywhere between tokens, one
 * optional trailing comma, and nothing but whitespace after the closing brace.
 *
 * Statuses of the reader. The checks run in this order and the first failure is
 * returned: magic string (::NNLA_EFORMAT), version (::NNLA_EUNSUPPORTED), header
 * length and presence (::NNLA_EFORMAT), dict syntax, keys and value types
 * (::NNLA_EFORMAT), element type and rank (::NNLA_EUNSUPPORTED), sizes
 * (::NNLA_EOVERFLOW), data length (::NNLA_EFORMAT), allocation (::NNLA_ENOMEM),
 * values (::NNLA_EINEXACT). nnla_npy_diagnose() tells which of these, and more
 * (an empty stream, a .npz archive, the element type's name), from the stream's
 * first bytes.
 * - ::NNLA_EFORMAT: not a .npy stream, or a malformed one: a bad magic string, a
 *   stream shorter than its preamble or header says, a header longer than
 *   ::NNLA_NPY_MAX_HEADER_LEN, a malformed dict (bad syntax or quoting, missing,
 *   unknown or repeated keys, a value of the wrong type, anything but whitespace
 *   after the closing brace), and data shorter than the shape calls for;
 * - ::NNLA_EUNSUPPORTED: a well-formed .npy we do not read: another version (e.g.
 *   4.0 or 1.1), another element type (float16, float128, complex, strings,
 *   datetimes, objects, structured...), or more than ::NNLA_NPY_MAX_DIMS dimensions;
 * - ::NNLA_EINEXACT: an `i8` or `u8` array holds an integer beyond 2^53 in
 *   magnitude, which no double holds exactly (convert it in NumPy with
 *   `a.astype(np.float64)` if rounding is acceptable);
 * - ::NNLA_EOVERFLOW: an extent does not fit in size_t, or the product of the
 *   nonzero extents times sizeof(double) does not (also for an empty array, so the
 *   answer does not depend on where the 0 is);
 * - ::NNLA_EIO: a file cannot be opened or read (errno then holds the C library's
 *   error); ::NNLA_ENOMEM: allocation failed; ::NNLA_ENULL: a NULL argument.
 *
 * Where NumPy is more lenient: NumPy evaluates the header as a Python literal, so it
 * also takes escapes in strings, hexadecimal numbers, repeated keys (the last wins)
 * and negative extents; libnnla refuses these (none occurs in a file NumPy writes).
 *
 * The writer always writes little-endian float64 ('<f8') in C order, version 1.0
 * (or 2.0 should the header not fit version 1.0's 16-bit length, which cannot
 * happen within ::NNLA_NPY_MAX_DIMS dimensions), with the same header and padding
 * numpy.save() writes, so its files are byte for byte those of
 * `numpy.save(path, numpy.asarray(a, dtype='<f8', order='C'))`.
 *
 * Nothing here prints, aborts or keeps global state; every function is
 * thread-safe on distinct arguments. On failure the outputs are untouched.
 */
#ifndef NNLA_NPY_H
#define NNLA_NPY_H

#include <stdio.h>

#include "mat.h"

NNLA_EXTERN_C_BEGIN

/** The largest rank read or written (NumPy 2's limit; NumPy 1 allows 32). */
#define NNLA_NPY_MAX_DIMS 64

/**
 * The longest header (the dict text, counted by the header-length field)
 * the reader accepts, in bytes: 1 MiB. Longer headers get ::NNLA_EFORMAT.
 */
#define NNLA_NPY_MAX_HEADER_LEN (1u << 20)

/**
 * An n-dimensional array of doubles in C order (row-major: the last index varies
 * fastest), as read from a .npy file. Element (i0, ..., i{n-1}) is at
 * data[((i0 * shape[1] + i1) * shape[2] + i2) ...].
 *
 * An array returned by the reader or by nnla_array_alloc() owns its data; free it
 * with nnla_array_free(). A zero-initialised struct (`nnla_array a = {0};`) is a
 * valid empty value that nnla_array_free() accepts.
 */
typedef struct nnla_array {
    size_t ndim;                     /**< number of dimensions, 0 (a scalar) to ::NNLA_NPY_MAX_DIMS */
    size_t shape[NNLA_NPY_MAX_DIMS]; /**< extents; entries from ndim on are 0 */
    size_t size;                     /**< number of elements, the product of the shape (1 for ndim 0) */
    double *data; /**< size doubles in C order; never NULL in an allocated array, even when size is 0 */
} nnla_array;

/** Element type of the data in a .npy stream (every type is read as double). */
typedef enum nnla_npy_dtype {
    NNLA_NPY_FLOAT64 = 0, /**< IEEE double, descr 'f8' */
    NNLA_NPY_FLOAT32 = 1, /**< IEEE single, descr 'f4' */
    NNLA_NPY_INT8 = 2,    /**< descr 'i1' */
    NNLA_NPY_INT16 = 3,   /**< descr 'i2' */
    NNLA_NPY_INT32 = 4,   /**< descr 'i4' */
    NNLA_NPY_INT64 = 5,   /**< descr 'i8'; values beyond 2^53 in magnitude are refused */
    NNLA_NPY_UINT8 = 6,   /**< descr 'u1' */
    NNLA_NPY_UINT16 = 7,  /**< descr 'u2' */
    NNLA_NPY_UINT32 = 8,  /**< descr 'u4' */
    NNLA_NPY_UINT64 = 9,  /**< descr 'u8'; values beyond 2^53 are refused */
    NNLA_NPY_BOOL = 10    /**< descr 'b1' (NumPy's bool): 0.0 and 1.0 */
} nnla_npy_dtype;

/** What the header of a .npy stream says (see nnla_npy_parse_header()). */
typedef struct nnla_npy_header {
    unsigned version_major;          /**< format version: 1, 2 or 3 */
    unsigned version_minor;          /**< always 0 */
    nnla_npy_dtype dtype;            /**< element type of the data */
    int big_endian;                  /**< nonzero when the data bytes are big-endian */
    int fortran_order;               /**< nonzero when the data is in Fortran (column-major) order */
    size_t ndim;                     /**< number of dimensions */
    size_t shape[NNLA_NPY_MAX_DIMS]; /**< extents; entries from ndim on are 0 */
    size_t size;                     /**< number of elements */
    size_t data_offset;              /**< bytes from the start of the stream to the data */
    size_t data_bytes;               /**< bytes of data the shape calls for: size * item_size */
    size_t item_size;                /**< bytes per element: 1, 2, 4 or 8 */
} nnla_npy_header;

/**
 * @brief Parse the preamble and header of a .npy stream held in memory.
 *
 * Only the first data_offset bytes are needed: buf may hold just the header (the
 * data is not looked at, so a short data part is not an error here).
 * @param buf  the stream's first len bytes (may be NULL when len is 0).
 * @param len  their number.
 * @param hdr  receives the header (untouched on failure).
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EFORMAT, ::NNLA_EUNSUPPORTED,
 *         ::NNLA_EOVERFLOW as described in the file's documentation.
 */
NNLA_API nnla_status nnla_npy_parse_header(const void *buf, size_t len, nnla_npy_header *hdr);

/** What nnla_npy_diagnose() finds at the start of a stream. */
typedef enum nnla_npy_verdict {
    NNLA_NPY_READABLE = 0,  /**< a .npy header the reader accepts (the data is not looked at) */
    NNLA_NPY_EMPTY = 1,     /**< no bytes at all (an empty file, an empty standard input) */
    NNLA_NPY_NPZ = 2,       /**< a zip archive (it starts with "PK\x03\x04"), such as
                                 numpy.savez() writes: several arrays, not one .npy stream */
    NNLA_NPY_NOT_NPY = 3,   /**< anything else that does not start with the .npy magic string */
    NNLA_NPY_TRUNCATED = 4, /**< the .npy magic string, but the bytes end within the preamble
                                 or the header */
    NNLA_NPY_MALFORMED = 5, /**< a malformed preamble or header (the reader's ::NNLA_EFORMAT) */
    NNLA_NPY_BAD_VERSION = 6,   /**< a format version other than 1.0, 2.0 and 3.0 */
    NNLA_NPY_BAD_DTYPE = 7,     /**< an element type the reader does not take (see descr) */
    NNLA_NPY_TOO_MANY_DIMS = 8, /**< more than ::NNLA_NPY_MAX_DIMS dimensions */
    NNLA_NPY_TOO_LARGE = 9      /**< an extent or the size overflows (the reader's ::NNLA_EOVERFLOW) */
} nnla_npy_verdict;

/** The result of nnla_npy_diagnose(). */
typedef struct nnla_npy_diagnosis {
    nnla_npy_verdict verdict; /**< what the bytes are */
    unsigned version_major;   /**< the format version's bytes, when the magic string and */
    unsigned version_minor;   /**< they are present (else 0) */
    /**
     * The header's 'descr' value as written, e.g. `<c16` or `|O`: the string's
     * contents, or for a structured dtype the text of its list. It points into the
     * buffer given to nnla_npy_diagnose() (valid while that is) and is not
     * NUL-terminated: print it with `"%.*s", (int)descr_len, descr`. NULL (and
     * descr_len 0) when the header was not parsed that far.
     */
    const char *descr;
    size_t descr_len; /**< length of descr in bytes */
} nnla_npy_diagnosis;

/**
 * @brief Say why the reader would refuse a stream, from its first bytes: for
 *        messages that tell the user what to do.
 *
 * buf holds the stream's first len bytes; the preamble and header suffice (the data
 * is not looked at, so a stream whose only fault is short data or an integer
 * beyond 2^53 is ::NNLA_NPY_READABLE). The verdict agrees with the statuses of
 * nnla_npy_parse_header() on the same bytes: ::NNLA_NPY_READABLE for ::NNLA_OK;
 * ::NNLA_NPY_EMPTY, ::NNLA_NPY_NPZ, ::NNLA_NPY_NOT_NPY, ::NNLA_NPY_TRUNCATED and
 * ::NNLA_NPY_MALFORMED for ::NNLA_EFORMAT; ::NNLA_NPY_BAD_VERSION,
 * ::NNLA_NPY_BAD_DTYPE and ::NNLA_NPY_TOO_MANY_DIMS for ::NNLA_EUNSUPPORTED;
 * ::NNLA_NPY_TOO_LARGE for ::NNLA_EOVERFLOW.
 * @param buf  the stream's first bytes (may be NULL when len is 0).
 * @param len  their number (0: ::NNLA_NPY_EMPTY).
 * @param diag receives the diagnosis.
 * @return ::NNLA_OK (the diagnosis is in *diag, whatever the bytes); ::NNLA_ENULL.
 */
NNLA_API nnla_status nnla_npy_diagnose(const void *buf, size_t len, nnla_npy_diagnosis *diag);

/**
 * @brief Read a .npy stream held in memory into a new array.
 * @param buf  the stream (may be NULL when len is 0); bytes after the data are ignored.
 * @param len  its length in bytes.
 * @param arr  receives the array, which owns its data (untouched on failure; its
 *             former contents are not freed).
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EFORMAT (including data shorter than the
 *         shape says); ::NNLA_EUNSUPPORTED; ::NNLA_EOVERFLOW; ::NNLA_ENOMEM;
 *         ::NNLA_EINEXACT (an integer beyond 2^53).
 */
NNLA_API nnla_status nnla_npy_read_mem(const void *buf, size_t len, nnla_array *arr);

/**
 * @brief Read one .npy array from an open binary stream, from its current position.
 *
 * On success the stream is left just after the array's data, so arrays saved one
 * after another can be read in turn. On a seekable stream a truncated file is
 * detected before the data is allocated; on a pipe the data is allocated first.
 * On failure the stream's position is unspecified.
 * @param f    a stream opened for reading in binary mode.
 * @param arr  receives the array (untouched on failure).
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EFORMAT (including a stream that ends
 *         early); ::NNLA_EUNSUPPORTED; ::NNLA_EOVERFLOW; ::NNLA_EIO for a read error;
 *         ::NNLA_ENOMEM; ::NNLA_EINEXACT (an integer beyond 2^53).
 */
NNLA_API nnla_status nnla_npy_read_file(FILE *f, nnla_array *arr);

/**
 * @brief Read a .npy file into a new array.
 * @param path file name.
 * @param arr  receives the array (untouched on failure).
 * @return as nnla_npy_read_file(); ::NNLA_EIO also when the file cannot be opened.
 */
NNLA_API nnla_status nnla_npy_read(const char *path, nnla_array *arr);

/**
 * @brief The number of bytes nnla_npy_write_mem() writes for an array of this shape.
 * @param ndim  number of dimensions, 0 to ::NNLA_NPY_MAX_DIMS.
 * @param shape ndim extents (may be NULL when ndim is 0); zeros make an empty array.
 * @param bytes receives the size.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EUNSUPPORTED when ndim > ::NNLA_NPY_MAX_DIMS;
 *         ::NNLA_EOVERFLOW when the size does not fit in size_t.
 */
NNLA_API nnla_status nnla_npy_encoded_size(size_t ndim, const size_t *shape, size_t *bytes);

/**
 * @brief Write an array of doubles in C order as a .npy stream into a caller's buffer.
 * @param data    the product of the shape doubles in C order (may be NULL when that is 0).
 * @param ndim    number of dimensions, 0 to ::NNLA_NPY_MAX_DIMS.
 * @param shape   ndim extents (may be NULL when ndim is 0).
 * @param buf     output buffer; must not overlap data.
 * @param buf_size its size, at least nnla_npy_encoded_size() bytes.
 * @param written optional (may be NULL): receives the number of bytes written.
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EUNSUPPORTED; ::NNLA_EOVERFLOW;
 *         ::NNLA_EWORKSPACE when buf_size is too small (nothing is written);
 *         ::NNLA_EALIAS when buf overlaps data.
 */
NNLA_API nnla_status nnla_npy_write_mem(const double *data, size_t ndim, const size_t *shape, void *buf,
                                        size_t buf_size, size_t *written);

/**
 * @brief Write an array of doubles in C order as a .npy stream to an open binary stream.
 * @param f     a stream opened for writing in binary mode (not closed, not flushed).
 * @param data  as nnla_npy_write_mem().
 * @param ndim  as nnla_npy_write_mem().
 * @param shape as nnla_npy_write_mem().
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EUNSUPPORTED; ::NNLA_EOVERFLOW; ::NNLA_EIO when
 *         a write fails (part of the array may then have been written).
 */
NNLA_API nnla_status nnla_npy_write_file(FILE *f, const double *data, size_t ndim, const size_t *shape);

/**
 * @brief Write an array of doubles in C order to a .npy file, replacing it.
 *
 * Should a write fail, a file this call created is removed; a file that already
 * existed (which may be a device or a pipe such as /dev/stdout) is never removed,
 * and may be left partly written.
 * @param path  file name.
 * @param data  as nnla_npy_write_mem().
 * @param ndim  as nnla_npy_write_mem().
 * @param shape as nnla_npy_write_mem().
 * @return as nnla_npy_write_file(); ::NNLA_EIO also when the file cannot be created.
 */
NNLA_API nnla_status nnla_npy_write(const char *path, const double *data, size_t ndim,
                                    const size_t *shape);

/**
 * @brief Write an ::nnla_array to a .npy file (nnla_npy_write() of its fields).
 * @return as nnla_npy_write(); ::NNLA_EINVAL when arr->size is not the product of its shape.
 */
NNLA_API nnla_status nnla_npy_write_array(const char *path, const nnla_array *arr);

/**
 * @brief Allocate an array of the given shape, filled with zeros.
 * @param ndim  number of dimensions, 0 to ::NNLA_NPY_MAX_DIMS.
 * @param shape ndim extents (may be NULL when ndim is 0).
 * @param arr   receives the array (untouched on failure); free it with nnla_array_free().
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_EUNSUPPORTED; ::NNLA_EOVERFLOW; ::NNLA_ENOMEM.
 */
NNLA_API nnla_status nnla_array_alloc(size_t ndim, const size_t *shape, nnla_array *arr);

/**
 * @brief Free an array's data and reset it to the empty value (all zeros).
 *        NULL, and an array already freed or zero-initialised, are no-ops.
 */
NNLA_API void nnla_array_free(nnla_array *arr);

/**
 * @brief View a 2-D array as a matrix (rows = shape[0], cols = shape[1], ld = cols).
 *        The view shares the array's data.
 * @param arr the array.
 * @param m   receives the view (untouched on failure).
 * @return ::NNLA_OK; ::NNLA_ENULL; ::NNLA_ESHAPE when ndim is not 2; ::NNLA_EDIM when a
 *         dimension is 0 (views have at least one row and column).
 */
NNLA_API nnla_status nnla_array_as_mat(const nnla_array *arr, nnla_mat *m);

/** @brief The read-only flavour of nnla_array_as_mat(). */
NNLA_API nnla_status nnla_array_as_cmat(const nnla_array *arr, nnla_cmat *m);

NNLA_EXTERN_C_END

#endif /* NNLA_NPY_H */
