/* NumPy .npy arrays in and out: a strict parser of the header dict, and a writer of NumPy's layout. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* "\x93NUMPY", the version bytes, then a little-endian header length of 2 (v1) or 4 (v2, v3) bytes. */
static const unsigned char npy_magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
#define NPY_MAGIC_LEN 6
#define NPY_PREAMBLE_V1 10 /* magic, 2 version bytes, uint16 length */
#define NPY_PREAMBLE_V2 12 /* magic, 2 version bytes, uint32 length */
#define NPY_ALIGN 64       /* numpy.lib.format.ARRAY_ALIGN */
#define NPY_GROWTH_DIGITS 21 /* numpy.lib.format.GROWTH_AXIS_MAX_DIGITS */

static int host_is_little_endian(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* ------------------------------------------------------------------ the header parser */

/* The tokens of the dict's values that matter to us; other keys are a format error. */
enum { KEY_DESCR = 0, KEY_FORTRAN = 1, KEY_SHAPE = 2, KEY_COUNT = 3 };
enum { VAL_STRING, VAL_BOOL, VAL_TUPLE, VAL_LIST };

typedef struct parser {
    const unsigned char *p;
    const unsigned char *end;
} parser;

typedef struct parsed_value {
    int kind;
    /* VAL_STRING */
    const unsigned char *str;
    size_t str_len;
    /* VAL_BOOL */
    int truth;
    /* VAL_TUPLE: the integers (only the first NNLA_NPY_MAX_DIMS stored) */
    size_t count;
    size_t ints[NNLA_NPY_MAX_DIMS];
    int overflow; /* an integer does not fit size_t */
} parsed_value;

static int is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static void skip_ws(parser *ps)
{
    while (ps->p < ps->end && is_ws(*ps->p)) ps->p++;
}

/* Consume c after optional whitespace; 0 when the next character is something else. */
static int accept(parser *ps, unsigned char c)
{
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == c) {
        ps->p++;
        return 1;
    }
    return 0;
}

static int peek(parser *ps, unsigned char c)
{
    skip_ws(ps);
    return ps->p < ps->end && *ps->p == c;
}

/* A Python string literal without escapes: '...' or "...", on one line. */
static nnla_status parse_string(parser *ps, const unsigned char **s, size_t *n)
{
    skip_ws(ps);
    if (ps->p >= ps->end || (*ps->p != '\'' && *ps->p != '"')) return NNLA_EFORMAT;
    unsigned char q = *ps->p++;
    const unsigned char *start = ps->p;
    while (ps->p < ps->end && *ps->p != q) {
        if (*ps->p == '\\' || *ps->p == '\n' || *ps->p == '\r') return NNLA_EFORMAT;
        ps->p++;
    }
    if (ps->p >= ps->end) return NNLA_EFORMAT;
    *s = start;
    *n = (size_t)(ps->p - start);
    ps->p++;
    return NNLA_OK;
}

static int is_ident(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* The keyword word (True/False) followed by a non-identifier character. */
static int accept_word(parser *ps, const char *word)
{
    size_t n = strlen(word);
    skip_ws(ps);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0) return 0;
    if ((size_t)(ps->end - ps->p) > n && is_ident(ps->p[n])) return 0;
    ps->p += n;
    return 1;
}

/* A non-negative decimal integer as Python writes it: 0 or [1-9][0-9]*, optionally suffixed L. */
static nnla_status parse_int(parser *ps, size_t *v, int *overflow)
{
    skip_ws(ps);
    if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9') return NNLA_EFORMAT;
    const unsigned char *start = ps->p;
    size_t x = 0;
    while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
        size_t d = (size_t)(*ps->p - '0');
        if (x > (SIZE_MAX - d) / 10) {
            *overflow = 1;
            x = SIZE_MAX;
        } else {
            x = x * 10 + d;
        }
        ps->p++;
    }
    if (*start == '0' && ps->p - start > 1) return NNLA_EFORMAT; /* Python 3 rejects 007 */
    if (ps->p < ps->end && (*ps->p == 'L' || *ps->p == 'l')) ps->p++;
    if (ps->p < ps->end && is_ident(*ps->p)) return NNLA_EFORMAT;
    *v = x;
    return NNLA_OK;
}

/* A tuple of integers: () | (i,) | (i, j, ...) with an optional trailing comma. */
static nnla_status parse_tuple(parser *ps, parsed_value *v)
{
    if (!accept(ps, '(')) return NNLA_EFORMAT;
    v->kind = VAL_TUPLE;
    v->count = 0;
    v->overflow = 0;
    int trailing_comma = 0;
    while (!peek(ps, ')')) {
        size_t x;
        NNLA__TRY(parse_int(ps, &x, &v->overflow));
        if (v->count < NNLA_NPY_MAX_DIMS) v->ints[v->count] = x;
        v->count++; /* cannot wrap: each element takes at least two bytes of a bounded header */
        trailing_comma = accept(ps, ',');
        if (!trailing_comma && !peek(ps, ')')) return NNLA_EFORMAT;
    }
    ps->p++; /* the ')' */
    if (v->count == 1 && !trailing_comma) return NNLA_EFORMAT; /* (3) is an int, not a tuple */
    return NNLA_OK;
}

/*
 * A list, as the descr of a structured dtype: it is skipped with its brackets balanced
 * (respecting quoted strings) and reported as unsupported once the rest has parsed.
 */
static nnla_status skip_list(parser *ps)
{
    size_t depth = 0;
    skip_ws(ps);
    do {
        if (ps->p >= ps->end) return NNLA_EFORMAT;
        unsigned char c = *ps->p;
        if (c == '\'' || c == '"') {
            const unsigned char *s;
            size_t n;
            NNLA__TRY(parse_string(ps, &s, &n));
            continue;
        }
        if (c == '[' || c == '(') depth++;
        else if (c == ']' || c == ')') {
            if (depth == 0) return NNLA_EFORMAT;
            depth--;
        } else if (c == '{' || c == '}')
            return NNLA_EFORMAT;
        ps->p++;
    } while (depth > 0);
    return NNLA_OK;
}

static nnla_status parse_value(parser *ps, parsed_value *v)
{
    skip_ws(ps);
    if (ps->p >= ps->end) return NNLA_EFORMAT;
    unsigned char c = *ps->p;
    if (c == '\'' || c == '"') {
        v->kind = VAL_STRING;
        return parse_string(ps, &v->str, &v->str_len);
    }
    if (c == '(') return parse_tuple(ps, v);
    if (c == '[') {
        v->kind = VAL_LIST;
        return skip_list(ps);
    }
    v->kind = VAL_BOOL;
    if (accept_word(ps, "True")) {
        v->truth = 1;
        return NNLA_OK;
    }
    if (accept_word(ps, "False")) {
        v->truth = 0;
        return NNLA_OK;
    }
    return NNLA_EFORMAT;
}

static int key_index(const unsigned char *s, size_t n)
{
    static const char *const names[KEY_COUNT] = {"descr", "fortran_order", "shape"};
    for (int k = 0; k < KEY_COUNT; k++)
        if (strlen(names[k]) == n && memcmp(s, names[k], n) == 0) return k;
    return -1;
}

/* The element types read: descr type code, item size, dtype. */
static const struct {
    char code[3];
    unsigned char size;
    nnla_npy_dtype dtype;
} npy_types[] = {
    {"f8", 8, NNLA_NPY_FLOAT64}, {"f4", 4, NNLA_NPY_FLOAT32}, {"i1", 1, NNLA_NPY_INT8},
    {"i2", 2, NNLA_NPY_INT16},   {"i4", 4, NNLA_NPY_INT32},   {"i8", 8, NNLA_NPY_INT64},
    {"u1", 1, NNLA_NPY_UINT8},   {"u2", 2, NNLA_NPY_UINT16},  {"u4", 4, NNLA_NPY_UINT32},
    {"u8", 8, NNLA_NPY_UINT64},  {"b1", 1, NNLA_NPY_BOOL},
};

/* The descr of an array we read; 0 when it is some other (or an unknown) dtype. */
static int parse_descr(const unsigned char *s, size_t n, nnla_npy_dtype *dtype, int *big_endian, size_t *item)
{
    int big = !host_is_little_endian(); /* no order character, '=' and '|': the host's order */
    if (n > 0 && (s[0] == '<' || s[0] == '>' || s[0] == '=' || s[0] == '|')) {
        if (s[0] == '<') big = 0;
        if (s[0] == '>') big = 1;
        s++;
        n--;
    }
    if (n != 2) return 0;
    for (size_t i = 0; i < sizeof npy_types / sizeof npy_types[0]; i++)
        if (s[0] == (unsigned char)npy_types[i].code[0] && s[1] == (unsigned char)npy_types[i].code[1]) {
            *dtype = npy_types[i].dtype;
            *item = npy_types[i].size;
            *big_endian = big;
            return 1;
        }
    return 0;
}

/*
 * The dict: { key: value, ... } with an optional trailing comma, then only whitespace. On return
 * (success or not) *descr and *descr_len hold the text of the 'descr' value when one was parsed (a
 * string's contents, or a list's text), and on NNLA_EUNSUPPORTED *too_many_dims says whether the
 * rank (rather than the element type) is the reason.
 */
static nnla_status parse_dict(const unsigned char *text, size_t len, nnla_npy_header *h,
                              const unsigned char **descr, size_t *descr_len, int *too_many_dims)
{
    parser ps = {text, text + len};
    parsed_value vals[KEY_COUNT];
    int seen[KEY_COUNT] = {0, 0, 0};
    int unknown_key = 0;
    *descr = NULL;
    *descr_len = 0;
    *too_many_dims = 0;

    if (!accept(&ps, '{')) return NNLA_EFORMAT;
    while (!peek(&ps, '}')) {
        const unsigned char *key;
        size_t key_len;
        NNLA__TRY(parse_string(&ps, &key, &key_len));
        if (!accept(&ps, ':')) return NNLA_EFORMAT;
        parsed_value v;
        memset(&v, 0, sizeof v);
        skip_ws(&ps);
        const unsigned char *value_start = ps.p;
        NNLA__TRY(parse_value(&ps, &v));
        int k = key_index(key, key_len);
        if (k < 0) unknown_key = 1;
        else if (seen[k]) return NNLA_EFORMAT; /* a repeated key */
        else {
            seen[k] = 1;
            vals[k] = v;
            if (k == KEY_DESCR && v.kind == VAL_STRING) {
                *descr = v.str;
                *descr_len = v.str_len;
            } else if (k == KEY_DESCR && v.kind == VAL_LIST) {
                *descr = value_start;
                *descr_len = (size_t)(ps.p - value_start);
            }
        }
        if (!accept(&ps, ',') && !peek(&ps, '}')) return NNLA_EFORMAT;
    }
    ps.p++; /* the '}' */
    skip_ws(&ps);
    if (ps.p != ps.end) return NNLA_EFORMAT; /* trailing junk */

    /* Exactly the three keys, each with a value of its type. */
    if (unknown_key || !seen[KEY_DESCR] || !seen[KEY_FORTRAN] || !seen[KEY_SHAPE]) return NNLA_EFORMAT;
    if (vals[KEY_FORTRAN].kind != VAL_BOOL || vals[KEY_SHAPE].kind != VAL_TUPLE) return NNLA_EFORMAT;
    if (vals[KEY_DESCR].kind == VAL_LIST) return NNLA_EUNSUPPORTED; /* a structured dtype */
    if (vals[KEY_DESCR].kind != VAL_STRING) return NNLA_EFORMAT;

    if (!parse_descr(vals[KEY_DESCR].str, vals[KEY_DESCR].str_len, &h->dtype, &h->big_endian, &h->item_size))
        return NNLA_EUNSUPPORTED;
    const parsed_value *shape = &vals[KEY_SHAPE];
    if (shape->count > NNLA_NPY_MAX_DIMS) {
        *too_many_dims = 1;
        return NNLA_EUNSUPPORTED;
    }
    if (shape->overflow) return NNLA_EOVERFLOW;
    h->fortran_order = vals[KEY_FORTRAN].truth;
    h->ndim = shape->count;
    for (size_t i = 0; i < h->ndim; i++) h->shape[i] = shape->ints[i];
    return NNLA_OK;
}

/*
 * The number of elements of a shape, checking that it times sizeof(double) fits in size_t.
 * The product of the nonzero extents must fit even when another extent is 0, so the answer
 * does not depend on the order of the extents.
 */
static nnla_status shape_size(size_t ndim, const size_t *shape, size_t *size)
{
    size_t nonzero = 1, bytes;
    int empty = 0;
    for (size_t i = 0; i < ndim; i++) {
        if (shape[i] == 0) empty = 1;
        else if (!nnla__mul(nonzero, shape[i], &nonzero)) return NNLA_EOVERFLOW;
    }
    if (!nnla__mul(nonzero, sizeof(double), &bytes)) return NNLA_EOVERFLOW;
    *size = empty ? 0 : nonzero;
    return NNLA_OK;
}

static uint32_t load_le32(const unsigned char *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/*
 * The preamble: magic and version; *preamble receives its length (10 or 12) when at least
 * the magic and version bytes are present.
 */
static nnla_status parse_preamble(const unsigned char *b, size_t len, unsigned *major, size_t *preamble)
{
    if (len < NPY_MAGIC_LEN + 2 || memcmp(b, npy_magic, NPY_MAGIC_LEN) != 0) return NNLA_EFORMAT;
    if (b[7] != 0 || b[6] < 1 || b[6] > 3) return NNLA_EUNSUPPORTED;
    *major = b[6];
    *preamble = *major == 1 ? NPY_PREAMBLE_V1 : NPY_PREAMBLE_V2;
    return NNLA_OK;
}

/* What parse_header found, for nnla_npy_diagnose(). */
typedef struct header_detail {
    unsigned major, minor;          /* the version bytes, when present */
    int have_version;
    int truncated;                  /* the bytes end within the preamble or header */
    int too_many_dims;
    const unsigned char *descr;
    size_t descr_len;
} header_detail;

static nnla_status parse_header(const unsigned char *b, size_t len, nnla_npy_header *hdr, header_detail *d)
{
    memset(d, 0, sizeof *d);
    if (len >= NPY_MAGIC_LEN + 2 && memcmp(b, npy_magic, NPY_MAGIC_LEN) == 0) {
        d->major = b[6];
        d->minor = b[7];
        d->have_version = 1;
    }
    unsigned major = 0;
    size_t preamble = 0;
    nnla_status st = parse_preamble(b, len, &major, &preamble);
    if (st != NNLA_OK) {
        /* a stream too short for the version bytes, holding (a prefix of) the magic string */
        size_t n = len < NPY_MAGIC_LEN ? len : NPY_MAGIC_LEN;
        d->truncated = st == NNLA_EFORMAT && n > 0 && len < NPY_MAGIC_LEN + 2 && memcmp(b, npy_magic, n) == 0;
        return st;
    }
    if (len < preamble) {
        d->truncated = 1;
        return NNLA_EFORMAT;
    }
    size_t hlen = major == 1 ? (size_t)b[8] | (size_t)b[9] << 8 : (size_t)load_le32(b + 8);
    if (hlen > NNLA_NPY_MAX_HEADER_LEN) return NNLA_EFORMAT;
    if (len - preamble < hlen) {
        d->truncated = 1;
        return NNLA_EFORMAT;
    }

    nnla_npy_header h;
    memset(&h, 0, sizeof h);
    h.version_major = major;
    h.version_minor = 0;
    h.data_offset = preamble + hlen;
    NNLA__TRY(parse_dict(b + preamble, hlen, &h, &d->descr, &d->descr_len, &d->too_many_dims));
    NNLA__TRY(shape_size(h.ndim, h.shape, &h.size));
    /* size * sizeof(double) fits, hence so does size times the (smaller or equal) item size. */
    h.data_bytes = h.size * h.item_size;
    *hdr = h;
    return NNLA_OK;
}

nnla_status nnla_npy_parse_header(const void *buf, size_t len, nnla_npy_header *hdr)
{
    if (hdr == NULL || (buf == NULL && len > 0)) return NNLA_ENULL;
    header_detail d;
    return parse_header(buf, len, hdr, &d);
}

nnla_status nnla_npy_diagnose(const void *buf, size_t len, nnla_npy_diagnosis *diag)
{
    if (diag == NULL || (buf == NULL && len > 0)) return NNLA_ENULL;
    const unsigned char *b = buf;
    nnla_npy_diagnosis r;
    memset(&r, 0, sizeof r);
    nnla_npy_header h;
    header_detail d;
    nnla_status st = parse_header(b, len, &h, &d);
    r.version_major = d.major;
    r.version_minor = d.minor;
    r.descr = (const char *)d.descr;
    r.descr_len = d.descr_len;
    if (st == NNLA_OK) r.verdict = NNLA_NPY_READABLE;
    else if (len == 0) r.verdict = NNLA_NPY_EMPTY;
    else if (len >= 4 && memcmp(b, "PK\x03\x04", 4) == 0) r.verdict = NNLA_NPY_NPZ;
    else if (d.truncated) r.verdict = NNLA_NPY_TRUNCATED;
    else if (!d.have_version) r.verdict = NNLA_NPY_NOT_NPY;
    else if (st == NNLA_EUNSUPPORTED && (d.major < 1 || d.major > 3 || d.minor != 0))
        r.verdict = NNLA_NPY_BAD_VERSION;
    else if (st == NNLA_EUNSUPPORTED && d.too_many_dims) r.verdict = NNLA_NPY_TOO_MANY_DIMS;
    else if (st == NNLA_EUNSUPPORTED) r.verdict = NNLA_NPY_BAD_DTYPE;
    else if (st == NNLA_EOVERFLOW) r.verdict = NNLA_NPY_TOO_LARGE;
    else r.verdict = NNLA_NPY_MALFORMED;
    *diag = r;
    return NNLA_OK;
}

/* ------------------------------------------------------------------ data conversion */

/*
 * Converts the raw data, in pieces of whole elements, into C-order doubles. Fortran-ordered
 * data is scattered with an odometer over the multi-index (first index fastest).
 */
typedef struct converter {
    nnla_npy_dtype dtype;
    size_t item;    /* bytes per element */
    int swap, fortran;
    int inexact;    /* an integer beyond 2^53 in magnitude was met */
    size_t ndim;
    size_t done; /* elements converted so far */
    size_t dst;  /* C-order offset of the next Fortran-order element */
    const size_t *shape;
    size_t idx[NNLA_NPY_MAX_DIMS];
    size_t stride[NNLA_NPY_MAX_DIMS]; /* C-order strides */
} converter;

static void converter_init(converter *cv, const nnla_npy_header *h)
{
    memset(cv, 0, sizeof *cv);
    cv->dtype = h->dtype;
    cv->item = h->item_size;
    cv->swap = h->item_size > 1 && h->big_endian == host_is_little_endian();
    cv->fortran = h->fortran_order && h->ndim > 1;
    cv->ndim = h->ndim;
    cv->shape = h->shape;
    size_t s = 1;
    for (size_t i = h->ndim; i-- > 0;) {
        cv->stride[i] = s;
        s *= h->shape[i]; /* no overflow: the product fits (checked by shape_size) */
    }
}

static uint16_t swap16(uint16_t u) { return (uint16_t)(u >> 8 | u << 8); }
static uint32_t swap32(uint32_t u)
{
    return (u >> 24) | ((u >> 8) & 0xff00u) | ((u << 8) & 0xff0000u) | (u << 24);
}
static uint64_t swap64(uint64_t u)
{
    return (uint64_t)swap32((uint32_t)u) << 32 | swap32((uint32_t)(u >> 32));
}

/* One element as a double; integers beyond 2^53 in magnitude set cv->inexact. */
static double decode(converter *cv, const unsigned char *raw)
{
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;
    switch (cv->dtype) {
    case NNLA_NPY_FLOAT64: {
        double d;
        memcpy(&u64, raw, 8);
        if (cv->swap) u64 = swap64(u64);
        memcpy(&d, &u64, 8);
        return d;
    }
    case NNLA_NPY_FLOAT32: {
        float f;
        memcpy(&u32, raw, 4);
        if (cv->swap) u32 = swap32(u32);
        memcpy(&f, &u32, 4);
        return (double)f;
    }
    case NNLA_NPY_INT8: {
        int8_t v;
        memcpy(&v, raw, 1);
        return (double)v;
    }
    case NNLA_NPY_UINT8:
        return (double)raw[0];
    case NNLA_NPY_BOOL:
        return raw[0] != 0 ? 1.0 : 0.0;
    case NNLA_NPY_INT16:
    case NNLA_NPY_UINT16: {
        memcpy(&u16, raw, 2);
        if (cv->swap) u16 = swap16(u16);
        if (cv->dtype == NNLA_NPY_UINT16) return (double)u16;
        int16_t v;
        memcpy(&v, &u16, 2);
        return (double)v;
    }
    case NNLA_NPY_INT32:
    case NNLA_NPY_UINT32: {
        memcpy(&u32, raw, 4);
        if (cv->swap) u32 = swap32(u32);
        if (cv->dtype == NNLA_NPY_UINT32) return (double)u32;
        int32_t v;
        memcpy(&v, &u32, 4);
        return (double)v;
    }
    case NNLA_NPY_INT64:
    case NNLA_NPY_UINT64: {
        /* Every integer up to 2^53 in magnitude is a double; beyond that, not all are: refuse. */
        const int64_t lim = (int64_t)1 << 53;
        memcpy(&u64, raw, 8);
        if (cv->swap) u64 = swap64(u64);
        if (cv->dtype == NNLA_NPY_UINT64) {
            if (u64 > (uint64_t)lim) cv->inexact = 1;
            return (double)u64;
        }
        int64_t v;
        memcpy(&v, &u64, 8);
        if (v > lim || v < -lim) cv->inexact = 1;
        return (double)v;
    }
    }
    return 0.0; /* unreachable: the header parser admits only the types above */
}

/* Convert n elements of raw data (n * item size bytes) into out. 0 when a value is inexact. */
static int convert(converter *cv, const unsigned char *raw, size_t n, double *out)
{
    size_t item = cv->item;
    if (!cv->fortran) {
        if (cv->dtype == NNLA_NPY_FLOAT64 && !cv->swap) memcpy(out + cv->done, raw, n * 8);
        else
            for (size_t i = 0; i < n; i++) out[cv->done + i] = decode(cv, raw + i * item);
        cv->done += n;
        return !cv->inexact;
    }
    for (size_t i = 0; i < n; i++) {
        out[cv->dst] = decode(cv, raw + i * item);
        /* Advance the multi-index, first index fastest, keeping dst = sum idx[k] * stride[k]. */
        for (size_t k = 0; k < cv->ndim; k++) {
            if (++cv->idx[k] < cv->shape[k]) {
                cv->dst += cv->stride[k];
                break;
            }
            cv->dst -= (cv->shape[k] - 1) * cv->stride[k];
            cv->idx[k] = 0;
        }
    }
    cv->done += n;
    return !cv->inexact;
}

/* The fields of an array of h's shape, without data. */
static void array_shape(const nnla_npy_header *h, nnla_array *a)
{
    memset(a, 0, sizeof *a);
    a->ndim = h->ndim;
    for (size_t i = 0; i < h->ndim; i++) a->shape[i] = h->shape[i];
    a->size = h->size;
}

/* An array of h's shape with uninitialised data (at least one element, so data is never NULL). */
static nnla_status array_new(const nnla_npy_header *h, nnla_array *a, double **data)
{
    array_shape(h, a);
    *data = malloc((h->size > 0 ? h->size : 1) * sizeof(double));
    if (*data == NULL) return NNLA_ENOMEM;
    a->data = *data;
    return NNLA_OK;
}

nnla_status nnla_npy_read_mem(const void *buf, size_t len, nnla_array *arr)
{
    if (arr == NULL || (buf == NULL && len > 0)) return NNLA_ENULL;
    nnla_npy_header h;
    NNLA__TRY(nnla_npy_parse_header(buf, len, &h));
    if (len - h.data_offset < h.data_bytes) return NNLA_EFORMAT;
    nnla_array a;
    double *data;
    NNLA__TRY(array_new(&h, &a, &data));
    converter cv;
    converter_init(&cv, &h);
    if (!convert(&cv, (const unsigned char *)buf + h.data_offset, h.size, data)) {
        free(data);
        return NNLA_EINEXACT;
    }
    *arr = a;
    return NNLA_OK;
}

/* ------------------------------------------------------------------ reading streams */

/* Read exactly n bytes: NNLA_EFORMAT when the stream ends first, NNLA_EIO on a read error. */
static nnla_status read_exact(FILE *f, void *buf, size_t n)
{
    if (n == 0) return NNLA_OK;
    errno = 0;
    if (fread(buf, 1, n, f) == n) return NNLA_OK;
    return ferror(f) ? NNLA_EIO : NNLA_EFORMAT;
}

/* Bytes left in a seekable stream from its position; 0 (and *known = 0) when it cannot seek. */
static size_t bytes_left(FILE *f, int *known)
{
    *known = 0;
    long pos = ftell(f);
    if (pos < 0) return 0;
    if (fseek(f, 0, SEEK_END) != 0) return 0;
    long end = ftell(f);
    if (fseek(f, pos, SEEK_SET) != 0 || end < pos) return 0;
    *known = 1;
    return (size_t)(end - pos);
}

#define NPY_CHUNK 65536 /* bytes of raw data converted at a time; a multiple of 8 */

/*
 * Read exactly n bytes into a buffer that grows (doubling from 1 MiB) as the data arrives, so
 * a stream that claims more than it holds costs memory in proportion to what it holds.
 */
static nnla_status read_growing(FILE *f, size_t n, unsigned char **out)
{
    size_t cap = n < ((size_t)1 << 20) ? n : ((size_t)1 << 20), have = 0;
    unsigned char *b = malloc(cap > 0 ? cap : 1);
    if (b == NULL) return NNLA_ENOMEM;
    for (;;) {
        nnla_status st = read_exact(f, b + have, cap - have);
        if (st != NNLA_OK) {
            int saved = errno;
            free(b);
            errno = saved;
            return st;
        }
        have = cap;
        if (have == n) break;
        cap = n - cap < cap ? n : 2 * cap;
        unsigned char *nb = realloc(b, cap);
        if (nb == NULL) {
            free(b);
            return NNLA_ENOMEM;
        }
        b = nb;
    }
    *out = b;
    return NNLA_OK;
}

static nnla_status read_stream(FILE *f, nnla_array *arr)
{
    unsigned char pre[NPY_PREAMBLE_V2];
    unsigned major;
    size_t preamble;
    NNLA__TRY(read_exact(f, pre, NPY_MAGIC_LEN + 2));
    NNLA__TRY(parse_preamble(pre, NPY_MAGIC_LEN + 2, &major, &preamble));
    NNLA__TRY(read_exact(f, pre + NPY_MAGIC_LEN + 2, preamble - (NPY_MAGIC_LEN + 2)));
    size_t hlen = major == 1 ? (size_t)pre[8] | (size_t)pre[9] << 8 : (size_t)load_le32(pre + 8);
    if (hlen > NNLA_NPY_MAX_HEADER_LEN) return NNLA_EFORMAT;

    /* The whole header in one buffer, then the in-memory parser. */
    unsigned char *head = malloc(preamble + hlen);
    if (head == NULL) return NNLA_ENOMEM;
    memcpy(head, pre, preamble);
    nnla_status st = read_exact(f, head + preamble, hlen);
    nnla_npy_header h;
    if (st == NNLA_OK) st = nnla_npy_parse_header(head, preamble + hlen, &h);
    free(head);
    if (st != NNLA_OK) return st;

    /*
     * Never allocate what a truncated stream's shape claims: on a seekable stream compare with
     * the bytes left; on a pipe, read the raw data into a growing buffer first.
     */
    int known;
    size_t left = bytes_left(f, &known);
    if (known && left < h.data_bytes) return NNLA_EFORMAT;
    nnla_array a;
    double *data;
    converter cv;
    converter_init(&cv, &h);
    /* plain: the file's bytes are the array's */
    int plain = !cv.fortran && cv.dtype == NNLA_NPY_FLOAT64 && !cv.swap;
    if (!known) {
        unsigned char *raw;
        NNLA__TRY(read_growing(f, h.data_bytes, &raw));
        if (plain && h.size > 0) {
            array_shape(&h, &a);
            a.data = (double *)(void *)raw; /* malloc'd, so suitably aligned for double */
        } else {
            st = array_new(&h, &a, &data);
            if (st == NNLA_OK && !convert(&cv, raw, h.size, data)) {
                free(data);
                st = NNLA_EINEXACT;
            }
            free(raw);
            if (st != NNLA_OK) return st;
        }
        *arr = a;
        return NNLA_OK;
    }

    NNLA__TRY(array_new(&h, &a, &data));
    size_t item = h.item_size;
    if (plain) {
        st = read_exact(f, data, h.data_bytes); /* native doubles in C order: straight in */
    } else {
        unsigned char *chunk = malloc(NPY_CHUNK);
        if (chunk == NULL) st = NNLA_ENOMEM;
        for (size_t left_elems = h.size; st == NNLA_OK && left_elems > 0;) {
            size_t n = left_elems < NPY_CHUNK / item ? left_elems : NPY_CHUNK / item;
            st = read_exact(f, chunk, n * item);
            if (st == NNLA_OK && !convert(&cv, chunk, n, data)) st = NNLA_EINEXACT;
            left_elems -= n;
        }
        free(chunk);
    }
    if (st != NNLA_OK) {
        int saved = errno;
        free(data);
        errno = saved;
        return st;
    }
    *arr = a;
    return NNLA_OK;
}

nnla_status nnla_npy_read_file(FILE *f, nnla_array *arr)
{
    if (f == NULL || arr == NULL) return NNLA_ENULL;
    return read_stream(f, arr);
}

nnla_status nnla_npy_read(const char *path, nnla_array *arr)
{
    if (path == NULL || arr == NULL) return NNLA_ENULL;
    errno = 0;
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NNLA_EIO;
    nnla_status st = read_stream(f, arr);
    int saved = errno;
    fclose(f); /* closing a stream opened for reading loses nothing: its result does not matter */
    errno = saved;
    return st;
}

/* ------------------------------------------------------------------ writing */

/*
 * NumPy's header for a C-order '<f8' array, as numpy.lib.format._write_array_header makes it:
 * the dict with sorted keys, spaces for the first extent to grow to 21 digits, then spaces
 * and a newline up to a multiple of 64 bytes with the preamble (a whole 64 when already
 * aligned, as NumPy does). Returns the header length (dict text, padding and newline);
 * text may be NULL to only measure. *major receives the version: 1, or 2 above 65535 bytes.
 */
static size_t make_header(size_t ndim, const size_t *shape, char *text, unsigned *major)
{
    char tmp[64 + NNLA_NPY_MAX_DIMS * 24 + NPY_GROWTH_DIGITS];
    size_t n = 0;
    n += (size_t)sprintf(tmp + n, "{'descr': '<f8', 'fortran_order': False, 'shape': (");
    for (size_t i = 0; i < ndim; i++)
        n += (size_t)sprintf(tmp + n, i + 1 < ndim ? "%zu, " : "%zu", shape[i]);
    if (ndim == 1) tmp[n++] = ',';
    n += (size_t)sprintf(tmp + n, "), }");
    if (ndim > 0) {
        char first[24];
        size_t digits = (size_t)sprintf(first, "%zu", shape[0]);
        for (size_t i = digits; i < NPY_GROWTH_DIGITS; i++) tmp[n++] = ' ';
    }
    size_t hlen = n + 1; /* the newline */
    size_t pad = NPY_ALIGN - (NPY_PREAMBLE_V1 + hlen) % NPY_ALIGN;
    *major = 1;
    if (hlen + pad > 65535) { /* too long for v1's 16-bit length: v2, as NumPy does (unreachable here) */
        *major = 2;
        pad = NPY_ALIGN - (NPY_PREAMBLE_V2 + hlen) % NPY_ALIGN;
    }
    if (text != NULL) {
        memcpy(text, tmp, n);
        memset(text + n, ' ', pad);
        text[n + pad] = '\n';
    }
    return hlen + pad;
}

/* Validate the writer's arguments; *size receives the element count. */
static nnla_status check_write_args(const double *data, size_t ndim, const size_t *shape, size_t *size)
{
    if (ndim > NNLA_NPY_MAX_DIMS) return NNLA_EUNSUPPORTED;
    if (ndim > 0 && shape == NULL) return NNLA_ENULL;
    NNLA__TRY(shape_size(ndim, shape, size));
    if (data == NULL && *size > 0) return NNLA_ENULL;
    return NNLA_OK;
}

nnla_status nnla_npy_encoded_size(size_t ndim, const size_t *shape, size_t *bytes)
{
    if (bytes == NULL) return NNLA_ENULL;
    if (ndim > NNLA_NPY_MAX_DIMS) return NNLA_EUNSUPPORTED;
    if (ndim > 0 && shape == NULL) return NNLA_ENULL;
    size_t size, total;
    unsigned major;
    NNLA__TRY(shape_size(ndim, shape, &size));
    size_t head = make_header(ndim, shape, NULL, &major);
    size_t preamble = major == 1 ? NPY_PREAMBLE_V1 : NPY_PREAMBLE_V2;
    if (!nnla__add(preamble + head, size * sizeof(double), &total)) return NNLA_EOVERFLOW;
    *bytes = total;
    return NNLA_OK;
}

/* The preamble and header into out (at most NPY_PREAMBLE_V2 + header bytes); returns the length. */
static size_t write_head(size_t ndim, const size_t *shape, unsigned char *out)
{
    unsigned major;
    size_t hlen = make_header(ndim, shape, NULL, &major);
    size_t preamble = major == 1 ? NPY_PREAMBLE_V1 : NPY_PREAMBLE_V2;
    memcpy(out, npy_magic, NPY_MAGIC_LEN);
    out[6] = (unsigned char)major;
    out[7] = 0;
    for (size_t i = 0; i < preamble - 8; i++) out[8 + i] = (unsigned char)(hlen >> (8 * i));
    make_header(ndim, shape, (char *)out + preamble, &major);
    return preamble + hlen;
}

/* n doubles as little-endian bytes. */
static void store_le(const double *x, size_t n, unsigned char *out)
{
    if (n == 0) return; /* x may be NULL */
    if (host_is_little_endian()) {
        memcpy(out, x, n * 8);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t u;
        memcpy(&u, x + i, 8);
        for (int k = 0; k < 8; k++) out[8 * i + (size_t)k] = (unsigned char)(u >> (8 * k));
    }
}

/* Largest possible preamble + header within NNLA_NPY_MAX_DIMS dimensions (a generous bound). */
#define NPY_HEAD_MAX (NPY_PREAMBLE_V2 + 64 + NNLA_NPY_MAX_DIMS * 24 + NPY_GROWTH_DIGITS + 2 * NPY_ALIGN)

nnla_status nnla_npy_write_mem(const double *data, size_t ndim, const size_t *shape, void *buf,
                               size_t buf_size, size_t *written)
{
    if (buf == NULL) return NNLA_ENULL;
    size_t size, need;
    NNLA__TRY(check_write_args(data, ndim, shape, &size));
    NNLA__TRY(nnla_npy_encoded_size(ndim, shape, &need));
    if (buf_size < need) return NNLA_EWORKSPACE;
    if (nnla__overlap(buf, need, data, size * sizeof(double))) return NNLA_EALIAS;
    unsigned char *out = buf;
    size_t head = write_head(ndim, shape, out);
    store_le(data, size, out + head);
    if (written != NULL) *written = need;
    return NNLA_OK;
}

nnla_status nnla_npy_write_file(FILE *f, const double *data, size_t ndim, const size_t *shape)
{
    if (f == NULL) return NNLA_ENULL;
    size_t size, need;
    NNLA__TRY(check_write_args(data, ndim, shape, &size));
    NNLA__TRY(nnla_npy_encoded_size(ndim, shape, &need));
    unsigned char head[NPY_HEAD_MAX];
    size_t head_len = write_head(ndim, shape, head);
    errno = 0;
    if (fwrite(head, 1, head_len, f) != head_len) return NNLA_EIO;
    if (host_is_little_endian()) {
        if (size > 0 && fwrite(data, sizeof(double), size, f) != size) return NNLA_EIO;
        return NNLA_OK;
    }
    unsigned char chunk[4096];
    for (size_t done = 0; done < size;) {
        size_t n = size - done < sizeof chunk / 8 ? size - done : sizeof chunk / 8;
        store_le(data + done, n, chunk);
        if (fwrite(chunk, 8, n, f) != n) return NNLA_EIO;
        done += n;
    }
    return NNLA_OK;
}

nnla_status nnla_npy_write(const char *path, const double *data, size_t ndim, const size_t *shape)
{
    if (path == NULL) return NNLA_ENULL;
    size_t size;
    NNLA__TRY(check_write_args(data, ndim, shape, &size));
    /*
     * "x" (C11) creates the file only if it does not exist: then a failed write may remove it.
     * A file that existed (perhaps a device or a pipe, such as /dev/stdout) is never removed.
     */
    errno = 0;
    int created = 1;
    FILE *f = fopen(path, "wbx");
    if (f == NULL) {
        created = 0;
        errno = 0;
        f = fopen(path, "wb");
    }
    if (f == NULL) return NNLA_EIO;
    nnla_status st = nnla_npy_write_file(f, data, ndim, shape);
    int saved = errno;
    if (fclose(f) != 0 && st == NNLA_OK) {
        st = NNLA_EIO;
        saved = errno;
    }
    if (st != NNLA_OK && created) remove(path);
    errno = saved;
    return st;
}

nnla_status nnla_npy_write_array(const char *path, const nnla_array *arr)
{
    if (path == NULL || arr == NULL) return NNLA_ENULL;
    size_t size;
    if (arr->ndim > NNLA_NPY_MAX_DIMS) return NNLA_EUNSUPPORTED;
    NNLA__TRY(shape_size(arr->ndim, arr->shape, &size));
    if (size != arr->size) return NNLA_EINVAL;
    return nnla_npy_write(path, arr->data, arr->ndim, arr->shape);
}

/* ------------------------------------------------------------------ arrays */

nnla_status nnla_array_alloc(size_t ndim, const size_t *shape, nnla_array *arr)
{
    if (arr == NULL) return NNLA_ENULL;
    if (ndim > NNLA_NPY_MAX_DIMS) return NNLA_EUNSUPPORTED;
    if (ndim > 0 && shape == NULL) return NNLA_ENULL;
    nnla_npy_header h;
    memset(&h, 0, sizeof h);
    h.ndim = ndim;
    for (size_t i = 0; i < ndim; i++) h.shape[i] = shape[i];
    NNLA__TRY(shape_size(ndim, h.shape, &h.size));
    nnla_array a;
    double *data;
    NNLA__TRY(array_new(&h, &a, &data));
    memset(data, 0, (h.size > 0 ? h.size : 1) * sizeof(double));
    *arr = a;
    return NNLA_OK;
}

void nnla_array_free(nnla_array *arr)
{
    if (arr == NULL) return;
    free(arr->data);
    memset(arr, 0, sizeof *arr);
}

nnla_status nnla_array_as_cmat(const nnla_array *arr, nnla_cmat *m)
{
    if (arr == NULL || m == NULL || arr->data == NULL) return NNLA_ENULL;
    if (arr->ndim != 2) return NNLA_ESHAPE;
    if (arr->shape[0] == 0 || arr->shape[1] == 0) return NNLA_EDIM;
    *m = nnla_cmat_view(arr->data, arr->shape[0], arr->shape[1], arr->shape[1]);
    return NNLA_OK;
}

nnla_status nnla_array_as_mat(const nnla_array *arr, nnla_mat *m)
{
    if (m == NULL) return NNLA_ENULL;
    nnla_cmat c;
    NNLA__TRY(nnla_array_as_cmat(arr, &c));
    *m = nnla_mat_view(arr->data, c.rows, c.cols, c.ld);
    return NNLA_OK;
}
