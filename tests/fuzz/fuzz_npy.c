/*
 * libFuzzer harness of the .npy reader. Each input is read four ways: the header parser,
 * nnla_npy_read_mem(), and nnla_npy_read_file() on a seekable memory stream (fmemopen) and on a
 * non-seekable one (glibc's fopencookie without a seek function, as a pipe: the reader then
 * takes its growing-buffer path); they must agree. A failure must be one of the documented
 * statuses and leave the output untouched. An array that reads is written back with
 * nnla_npy_write_mem() and read again: the round trip must be exact. nnla_npy_diagnose() must
 * give a verdict that agrees with the header parser's status. Any disagreement traps, so
 * libFuzzer records it as a crash.
 */
#define _GNU_SOURCE /* fmemopen, fopencookie */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nnla.h>

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_npy: check failed at line %d: %s\n", __LINE__, #cond);          \
            __builtin_trap();                                                                      \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A read-only, non-seekable stream over a buffer. */
typedef struct pipe_cookie {
    const uint8_t *p;
    size_t left;
} pipe_cookie;

static ssize_t pipe_read(void *c, char *buf, size_t n)
{
    pipe_cookie *pc = c;
    if (n > pc->left) n = pc->left;
    if (n > 7) n = 7; /* short reads, as a pipe gives */
    if (n == 0) return 0;
    memcpy(buf, pc->p, n);
    pc->p += n;
    pc->left -= n;
    return (ssize_t)n;
}

static FILE *pipe_open(pipe_cookie *pc)
{
    cookie_io_functions_t io = {pipe_read, NULL, NULL, NULL};
    return fopencookie(pc, "r", io);
}

static int documented_failure(nnla_status st)
{
    return st == NNLA_EFORMAT || st == NNLA_EUNSUPPORTED || st == NNLA_EOVERFLOW || st == NNLA_EINEXACT;
}

/* The header parser's status for a verdict of nnla_npy_diagnose(). */
static nnla_status verdict_status(nnla_npy_verdict v)
{
    switch (v) {
    case NNLA_NPY_READABLE:
        return NNLA_OK;
    case NNLA_NPY_BAD_VERSION:
    case NNLA_NPY_BAD_DTYPE:
    case NNLA_NPY_TOO_MANY_DIMS:
        return NNLA_EUNSUPPORTED;
    case NNLA_NPY_TOO_LARGE:
        return NNLA_EOVERFLOW;
    case NNLA_NPY_EMPTY:
    case NNLA_NPY_NPZ:
    case NNLA_NPY_NOT_NPY:
    case NNLA_NPY_TRUNCATED:
    case NNLA_NPY_MALFORMED:
        return NNLA_EFORMAT;
    }
    return (nnla_status)-1; /* an unknown verdict: never equal to a status */
}

static void check_array(const nnla_array *a)
{
    CHECK(a->data != NULL);
    CHECK(a->ndim <= NNLA_NPY_MAX_DIMS);
    size_t n = 1;
    for (size_t i = 0; i < a->ndim; i++) n *= a->shape[i];
    for (size_t i = a->ndim; i < NNLA_NPY_MAX_DIMS; i++) CHECK(a->shape[i] == 0);
    CHECK(n == a->size);
}

static int same_arrays(const nnla_array *a, const nnla_array *b)
{
    return a->ndim == b->ndim && a->size == b->size &&
           memcmp(a->shape, b->shape, sizeof a->shape) == 0 &&
           (a->size == 0 || memcmp(a->data, b->data, a->size * sizeof(double)) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nnla_npy_header h;
    nnla_status sh = nnla_npy_parse_header(data, size, &h);

    /* The diagnosis agrees with the parser, and its descr lies inside the input. */
    nnla_npy_diagnosis dg;
    CHECK(nnla_npy_diagnose(data, size, &dg) == NNLA_OK);
    CHECK(verdict_status(dg.verdict) == sh);
    CHECK(dg.descr == NULL ? dg.descr_len == 0
                           : (const uint8_t *)dg.descr >= data &&
                                 (const uint8_t *)dg.descr + dg.descr_len <= data + size);

    nnla_array a, untouched;
    memset(&a, 0xA5, sizeof a);
    memcpy(&untouched, &a, sizeof a);
    nnla_status st = nnla_npy_read_mem(data, size, &a);
    if (st != NNLA_OK) {
        CHECK(documented_failure(st));
        CHECK(memcmp(&a, &untouched, sizeof a) == 0);
        /* The header parser fails the same way, unless only the data was short or held an
         * integer beyond 2^53. */
        CHECK(sh == st || (sh == NNLA_OK && st == NNLA_EFORMAT && size - h.data_offset < h.data_bytes) ||
              (sh == NNLA_OK && st == NNLA_EINEXACT && h.item_size == 8 &&
               (h.dtype == NNLA_NPY_INT64 || h.dtype == NNLA_NPY_UINT64)));
    } else {
        CHECK(sh == NNLA_OK);
        check_array(&a);
        CHECK(a.size == h.size && a.ndim == h.ndim);
    }

    /* The stream reader agrees with the memory reader. */
    if (size > 0) {
        FILE *f = fmemopen((void *)(uintptr_t)data, size, "rb");
        if (f != NULL) {
            nnla_array b = {0};
            nnla_status sf = nnla_npy_read_file(f, &b);
            CHECK(sf == st);
            if (sf == NNLA_OK) CHECK(same_arrays(&a, &b));
            nnla_array_free(&b);
            fclose(f);
        }
    }

    /* The non-seekable stream reader agrees too. */
    pipe_cookie pc = {data, size};
    FILE *pf = pipe_open(&pc);
    if (pf != NULL) {
        nnla_array b = {0};
        nnla_status sp = nnla_npy_read_file(pf, &b);
        CHECK(sp == st);
        if (sp == NNLA_OK) CHECK(same_arrays(&a, &b));
        nnla_array_free(&b);
        fclose(pf);
    }

    /* What reads writes back, and reads again, exactly. */
    if (st == NNLA_OK) {
        size_t need = 0, written = 0;
        CHECK(nnla_npy_encoded_size(a.ndim, a.shape, &need) == NNLA_OK);
        unsigned char *buf = malloc(need);
        CHECK(buf != NULL);
        CHECK(nnla_npy_write_mem(a.data, a.ndim, a.shape, buf, need, &written) == NNLA_OK);
        CHECK(written == need);
        nnla_array c = {0};
        CHECK(nnla_npy_read_mem(buf, need, &c) == NNLA_OK);
        CHECK(same_arrays(&a, &c));
        nnla_array_free(&c);
        free(buf);
        nnla_array_free(&a);
    }
    return 0;
}
