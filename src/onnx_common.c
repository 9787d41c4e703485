/* The ONNX module's shared helpers: messages, float32 attributes, the exporter's arena. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

void nnla__onnx_vmsg(nnla__msgbuf *m, const char *fmt, va_list ap)
{
    if (m == NULL || m->buf == NULL || m->size == 0) return;
    int n = vsnprintf(m->buf, m->size, fmt, ap);
    if (n < 0) m->buf[0] = '\0';
}

void nnla__onnx_msg(nnla__msgbuf *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    nnla__onnx_vmsg(m, fmt, ap);
    va_end(ap);
}

void nnla__onnx_msg_clear(nnla__msgbuf *m)
{
    if (m != NULL && m->buf != NULL && m->size > 0) m->buf[0] = '\0';
}

/*
 * printf's %e writes the locale's decimal point; rewrite "[-]d<point>ddd e[+-]xx" as
 * "[-]dddd e<exponent - fraction digits>", which strtod and strtof read the same way in every
 * locale (the approach of act.c's parser). Returns 0 when the text is not of that form.
 */
static int decimal_digits(const char *in, char *out, size_t out_size)
{
    size_t n = 0, frac = 0;
    const char *p = in;
    if (*p == '-') {
        if (n + 1 >= out_size) return 0;
        out[n++] = *p++;
    }
    if (*p < '0' || *p > '9') return 0;
    out[n++] = *p++;
    while (*p && *p != 'e' && (*p < '0' || *p > '9')) p++; /* the decimal point, any bytes */
    while (*p >= '0' && *p <= '9') {
        if (n + 1 >= out_size) return 0;
        out[n++] = *p++;
        frac++;
    }
    if (*p != 'e') return 0;
    long e = strtol(p + 1, NULL, 10) - (long)frac;
    int w = snprintf(out + n, out_size - n, "e%ld", e);
    return w > 0 && (size_t)w < out_size - n;
}

double nnla__onnx_float_attr(float f)
{
    if (!isfinite(f) || f == 0.0f) return (double)f;
    char text[48], digits[48];
    int saved = errno;
    for (int prec = 0; prec <= 8; prec++) { /* prec + 1 significant digits */
        snprintf(text, sizeof text, "%.*e", prec, (double)f);
        if (!decimal_digits(text, digits, sizeof digits)) break;
        if (strtof(digits, NULL) == f) {
            double d = strtod(digits, NULL);
            errno = saved;
            return d;
        }
    }
    errno = saved;
    return (double)f;
}

/* ------------------------------------------------------------------ arena */

struct nnla__onnx_block {
    nnla__onnx_block *next;
    size_t used, size;
    _Alignas(16) unsigned char data[];
};

#define ARENA_BLOCK (64u * 1024u)

void *nnla__onnx_arena_alloc(nnla__onnx_arena *a, size_t n)
{
    size_t need = (n + 15) & ~(size_t)15;
    if (need < n) return NULL;
    nnla__onnx_block *b = a->head;
    if (b == NULL || b->size - b->used < need) {
        size_t size = need > ARENA_BLOCK ? need : ARENA_BLOCK, total;
        if (!nnla__add(size, sizeof(nnla__onnx_block), &total)) return NULL;
        b = calloc(1, total);
        if (b == NULL) return NULL;
        b->size = size;
        if (a->head != NULL && need > ARENA_BLOCK) {
            /* a big block: keep filling the current small one afterwards */
            b->next = a->head->next;
            a->head->next = b;
            b->used = need;
            return b->data;
        }
        b->next = a->head;
        a->head = b;
    }
    void *p = b->data + b->used;
    b->used += need;
    return p;
}

void *nnla__onnx_arena_array(nnla__onnx_arena *a, size_t count, size_t elem)
{
    size_t n;
    if (!nnla__mul(count, elem, &n)) return NULL;
    return nnla__onnx_arena_alloc(a, n ? n : 1);
}

char *nnla__onnx_arena_strdup(nnla__onnx_arena *a, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = nnla__onnx_arena_alloc(a, n);
    if (p != NULL) memcpy(p, s, n);
    return p;
}

char *nnla__onnx_arena_printf(nnla__onnx_arena *a, const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof buf) return NULL;
    return nnla__onnx_arena_strdup(a, buf);
}

void nnla__onnx_arena_free(nnla__onnx_arena *a)
{
    nnla__onnx_block *b = a->head;
    while (b != NULL) {
        nnla__onnx_block *next = b->next;
        free(b);
        b = next;
    }
    a->head = NULL;
}
