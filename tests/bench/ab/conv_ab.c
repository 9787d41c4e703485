/*
 * conv_ab: two builds of src/conv.c timed against each other in one process.
 *
 * conv_ab.sh compiles the convolution twice (with different -D settings, from two source files,
 * or from two git revisions, each against its own headers) with its public names renamed, plus
 * ab_side.c once per side, which turns a plain geometry into that side's descriptor; this
 * program runs both sides on the same inputs, in alternation (A, B, A, B, ...) after a warm-up,
 * on the five shapes of `nnla-bench conv` (bias, ReLU, each build's preferred workspace), checks
 * that they agree, and prints per shape
 *
 *   AB <case> a_s=<median s> b_s=<median s> a_over_b=<A time / B time> workspace_a=... workspace_b=...
 *
 * and, when both builds have the backward passes, the same for them (input gradient, then weight
 * and bias gradients, each build's preferred workspaces) on a line
 *
 *   AB bwd_<case> a_s=... b_s=... a_over_b=... workspace_a=... workspace_b=...
 *
 * a_over_b above 1: B is faster. Usage: conv_ab [reps] [substring]  (default 21 runs).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../bench.h"
#include "ab_side.h"

typedef struct side {
    int (*conv)(const ab_geom *, const double *, const double *, const double *, double *, void *, size_t);
    int (*bwd)(const ab_geom *, const double *, const double *, const double *, double *, double *, double *,
               void *, size_t);
    const ab_geom *g;
    const double *x, *wt, *b, *dy;
    double *y, *dx, *dw, *db;
    void *work;
    size_t work_size;
    int st;
} side;

static void run(void *p)
{
    side *s = p;
    int st = s->conv(s->g, s->x, s->wt, s->b, s->y, s->work, s->work_size);
    if (st != 0) s->st = st;
}

static void run_bwd(void *p)
{
    side *s = p;
    int st = s->bwd(s->g, s->x, s->wt, s->dy, s->dx, s->dw, s->db, s->work, s->work_size);
    if (st != 0) s->st = st;
}

/* max |a - b| within 1e-12 of the scale of b; prints and returns 1 when not. */
static int disagree(const char *what, const double *a, const double *b, size_t n)
{
    double err = 0.0, scale = 0.0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs(a[i] - b[i]);
        if (!(e <= err)) err = e;
        if (fabs(b[i]) > scale) scale = fabs(b[i]);
    }
    if (err <= 1e-12 * (scale + 1.0)) return 0;
    fprintf(stderr, "%s: the two builds disagree (max diff %.3g)\n", what, err);
    return 1;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return p;
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 21;
    const char *only = argc > 2 ? argv[2] : NULL;
    if (reps < 1) {
        fprintf(stderr, "usage: conv_ab [reps] [substring]\n");
        return 2;
    }
    const int bwd = ab_has_bwd_A() && ab_has_bwd_B();
    int rc = 0;
    for (size_t c = 0; c < bench_conv_nshapes; c++) {
        const bench_conv_shape *sh = &bench_conv_shapes[c];
        if (only && !strstr(sh->name, only)) continue;
        const ab_geom g = {sh->batch, sh->in, sh->hw, sh->hw, sh->out, sh->k, sh->pad};
        const size_t oh = g.h + 2 * g.pad - g.k + 1, ow = g.w + 2 * g.pad - g.k + 1; /* stride 1 */
        size_t wa, wb;
        if (ab_ws_A(&g, &wa) != 0 || ab_ws_B(&g, &wb) != 0) {
            fprintf(stderr, "%s: bad case\n", sh->name);
            return 1;
        }
        size_t nx = g.batch * g.in * g.h * g.w, nw = g.out * g.in * g.k * g.k, ny = g.batch * g.out * oh * ow;
        double *x = xmalloc(nx * sizeof *x), *wt = xmalloc(nw * sizeof *wt), *b = xmalloc(g.out * sizeof *b);
        double *ya = xmalloc(ny * sizeof *ya), *yb = xmalloc(ny * sizeof *yb);
        void *work_a = xmalloc(wa), *work_b = xmalloc(wb);
        unsigned long long s = 4242;
        for (size_t i = 0; i < nx; i++) x[i] = bench_urand(&s);
        for (size_t i = 0; i < nw; i++) wt[i] = bench_urand(&s) / sqrt((double)(g.in * g.k * g.k));
        for (size_t i = 0; i < g.out; i++) b[i] = 0.1 * bench_urand(&s);
        side A = {ab_conv_A, ab_bwd_A, &g, x, wt, b, NULL, ya, NULL, NULL, NULL, work_a, wa, 0};
        side B = {ab_conv_B, ab_bwd_B, &g, x, wt, b, NULL, yb, NULL, NULL, NULL, work_b, wb, 0};
        double ta, tb;
        bench_compare(run, &A, run, &B, 3, reps, &ta, &tb);
        printf("AB %s a_s=%.6g b_s=%.6g a_over_b=%.4f workspace_a=%zu workspace_b=%zu\n", sh->name, ta, tb, ta / tb,
               wa, wb);
        fflush(stdout);
        if (A.st != 0 || B.st != 0) fprintf(stderr, "%s: a build failed (%d, %d)\n", sh->name, A.st, B.st);
        if (A.st != 0 || B.st != 0 || disagree(sh->name, ya, yb, ny)) rc = 1;
        free(work_a);
        free(work_b);

        if (bwd) {
            size_t ba, bb;
            if (ab_bwd_ws_A(&g, &ba) != 0 || ab_bwd_ws_B(&g, &bb) != 0) {
                fprintf(stderr, "%s: bad backward case\n", sh->name);
                return 1;
            }
            double *dy = ya; /* any gradient will do: the forward's output */
            double *dxa = xmalloc(nx * sizeof *dxa), *dxb = xmalloc(nx * sizeof *dxb);
            double *dwa = xmalloc(nw * sizeof *dwa), *dwb = xmalloc(nw * sizeof *dwb);
            double *dba = xmalloc(g.out * sizeof *dba), *dbb = xmalloc(g.out * sizeof *dbb);
            work_a = xmalloc(ba);
            work_b = xmalloc(bb);
            side BA = {ab_conv_A, ab_bwd_A, &g, x, wt, b, dy, NULL, dxa, dwa, dba, work_a, ba, 0};
            side BB = {ab_conv_B, ab_bwd_B, &g, x, wt, b, dy, NULL, dxb, dwb, dbb, work_b, bb, 0};
            bench_compare(run_bwd, &BA, run_bwd, &BB, 2, reps, &ta, &tb);
            printf("AB bwd_%s a_s=%.6g b_s=%.6g a_over_b=%.4f workspace_a=%zu workspace_b=%zu\n", sh->name, ta, tb,
                   ta / tb, ba, bb);
            fflush(stdout);
            if (BA.st != 0 || BB.st != 0 || disagree("dx", dxa, dxb, nx) || disagree("dw", dwa, dwb, nw) ||
                disagree("db", dba, dbb, g.out))
                rc = 1;
            free(dxa);
            free(dxb);
            free(dwa);
            free(dwb);
            free(dba);
            free(dbb);
            free(work_a);
            free(work_b);
        }
        free(x);
        free(wt);
        free(b);
        free(ya);
        free(yb);
    }
    return rc;
}
