/*
 * conv_ab: two builds of src/conv.c timed against each other in one process.
 *
 * conv_ab.sh compiles the convolution twice (with different -D settings, or from two
 * source files) with its public names renamed to conv_A / conv_B (and ws_A / ws_B for
 * the workspace query); this program runs both on the same inputs, in alternation
 * (A, B, A, B, ...) after a warm-up, on the five shapes of `nnla-bench conv` (bias, ReLU,
 * each build's preferred workspace), checks that they agree, and prints per shape
 *
 *   AB <case> a_s=<median s> b_s=<median s> a_over_b=<A time / B time> workspace_a=... workspace_b=...
 *
 * a_over_b above 1: B is faster. Usage: conv_ab [reps] [substring]  (default 21 runs).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nnla.h>

#include "../bench.h"

typedef nnla_status conv_fn(const nnla_conv2d_desc *, size_t, size_t, size_t, const double *, const double *,
                            const double *, nnla_act, double *, void *, size_t);
typedef nnla_status ws_fn(const nnla_conv2d_desc *, size_t, size_t, size_t, size_t *);
conv_fn conv_A, conv_B;
ws_fn ws_A, ws_B;

typedef struct side {
    conv_fn *conv;
    const nnla_conv2d_desc *d;
    size_t batch, h, w;
    const double *x, *wt, *b;
    double *y;
    void *work;
    size_t work_size;
    nnla_status st;
} side;

static void run(void *p)
{
    side *s = p;
    nnla_status st = s->conv(s->d, s->batch, s->h, s->w, s->x, s->wt, s->b, nnla_act_default(NNLA_ACT_RELU), s->y,
                             s->work, s->work_size);
    if (st != NNLA_OK) s->st = st;
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 21;
    const char *only = argc > 2 ? argv[2] : NULL;
    if (reps < 1) {
        fprintf(stderr, "usage: conv_ab [reps] [substring]\n");
        return 2;
    }
    int rc = 0;
    for (size_t c = 0; c < bench_conv_nshapes; c++) {
        const bench_conv_shape *sh = &bench_conv_shapes[c];
        if (only && !strstr(sh->name, only)) continue;
        const size_t n = sh->batch, ci = sh->in, h = sh->hw, co = sh->out, k = sh->k;
        nnla_conv2d_desc d = nnla_conv2d_desc_make(ci, co, k, k);
        d.pad_h = d.pad_w = sh->pad;
        size_t oh, ow, wa, wb;
        if (nnla_conv2d_output_size(&d, h, h, &oh, &ow) != NNLA_OK || ws_A(&d, n, h, h, &wa) != NNLA_OK ||
            ws_B(&d, n, h, h, &wb) != NNLA_OK) {
            fprintf(stderr, "%s: bad case\n", sh->name);
            return 1;
        }
        size_t nx = n * ci * h * h, nw = co * ci * k * k, ny = n * co * oh * ow;
        double *x = malloc(nx * sizeof *x), *wt = malloc(nw * sizeof *wt), *b = malloc(co * sizeof *b);
        double *ya = malloc(ny * sizeof *ya), *yb = malloc(ny * sizeof *yb);
        void *work_a = wa ? malloc(wa) : NULL, *work_b = wb ? malloc(wb) : NULL;
        if (!x || !wt || !b || !ya || !yb || (wa && !work_a) || (wb && !work_b)) {
            fprintf(stderr, "out of memory\n");
            return 1;
        }
        unsigned long long s = 4242;
        for (size_t i = 0; i < nx; i++) x[i] = bench_urand(&s);
        for (size_t i = 0; i < nw; i++) wt[i] = bench_urand(&s) / sqrt((double)(ci * k * k));
        for (size_t i = 0; i < co; i++) b[i] = 0.1 * bench_urand(&s);
        side A = {conv_A, &d, n, h, h, x, wt, b, ya, work_a, wa, NNLA_OK};
        side B = {conv_B, &d, n, h, h, x, wt, b, yb, work_b, wb, NNLA_OK};
        double ta, tb;
        bench_compare(run, &A, run, &B, 3, reps, &ta, &tb);
        double err = 0.0, scale = 0.0;
        for (size_t i = 0; i < ny; i++) {
            double e = fabs(ya[i] - yb[i]);
            if (!(e <= err)) err = e;
            if (fabs(ya[i]) > scale) scale = fabs(ya[i]);
        }
        printf("AB %s a_s=%.6g b_s=%.6g a_over_b=%.4f workspace_a=%zu workspace_b=%zu\n", sh->name, ta, tb,
               ta / tb, wa, wb);
        fflush(stdout);
        if (A.st != NNLA_OK || B.st != NNLA_OK || !(err <= 1e-12 * (scale + 1.0))) {
            fprintf(stderr, "%s: the two builds disagree (max diff %.3g) or failed\n", sh->name, err);
            rc = 1;
        }
        free(x);
        free(wt);
        free(b);
        free(ya);
        free(yb);
        free(work_a);
        free(work_b);
    }
    return rc;
}
