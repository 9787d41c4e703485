/*
 * gemm_cuts: does cutting a GEMM into pieces change its entries? The measurement behind the
 * convolution's cuts (docs/conv.md, "Threads"). For 1418 shapes (m rows of op(A) up to 256, inner
 * dimension k up to 2304, n columns up to 4096, A plain or transposed, row-major as libnnla calls
 * it), C = op(A) B is computed by one one-thread cblas_dgemm and again in two pieces: cut after
 * column j0 (several j0), or after row i0 (several i0). Prints how many shapes had any entry differ
 * in any bit, for cuts at any position and at multiples of a given alignment, and for OpenBLAS's own
 * two-thread split of the whole GEMM:
 *
 *   CUTS columns_any=<shapes> rows_any=<shapes> columns_at_<a>=<shapes> rows_at_<r>=<shapes>
 *        two_threads=<shapes> of=<shapes>
 *
 * Usage: gemm_cuts [column alignment [row alignment]]  (default 64 16: libnnla's cuts).
 */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double urand(unsigned long long *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(*s >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

static void gemm(int tn, int m, int n, int k, const double *a, int lda, const double *b, int ldb, double *c,
                 int ldc)
{
    cblas_dgemm(CblasRowMajor, tn ? CblasTrans : CblasNoTrans, CblasNoTrans, m, n, k, 1.0, a, lda, b, ldb, 0.0, c,
                ldc);
}

/* Whether some cut of C (columns when cols, else rows) at multiples of `align` changes an entry. */
static int cut_differs(int tn, int m, int n, int k, const double *a, const double *b, const double *c, double *d,
                       int cols, int align)
{
    const int lda = tn ? m : k, total = cols ? n : m;
    for (int at = align; at < total; at += align * (align == 1 ? 5 : 3)) {
        memset(d, 0, sizeof(double) * (size_t)m * (size_t)n);
        if (cols) {
            gemm(tn, m, at, k, a, lda, b, n, d, n);
            gemm(tn, m, n - at, k, a, lda, b + at, n, d + at, n);
        } else {
            gemm(tn, at, n, k, a, lda, b, n, d, n);
            gemm(tn, m - at, n, k, tn ? a + at : a + (size_t)at * (size_t)k, lda, b, n, d + (size_t)at * (size_t)n, n);
        }
        if (memcmp(c, d, sizeof(double) * (size_t)m * (size_t)n)) return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const int calign = argc > 1 ? atoi(argv[1]) : 64, ralign = argc > 2 ? atoi(argv[2]) : 16;
    const int ms[] = {1, 2, 3, 5, 8, 16, 31, 32, 64, 256}, ks[] = {1, 3, 9, 27, 96, 288, 300, 600, 2304};
    const int ns[] = {1, 5, 17, 196, 784, 1024, 3136, 4096};
    int shapes = 0, col_any = 0, row_any = 0, col_al = 0, row_al = 0, two = 0;
    for (size_t i = 0; i < sizeof ms / sizeof *ms; i++)
        for (size_t j = 0; j < sizeof ks / sizeof *ks; j++)
            for (size_t l = 0; l < sizeof ns / sizeof *ns; l++)
                for (int tn = 0; tn < 2; tn++) {
                    const int m = ms[i], k = ks[j], n = ns[l];
                    if ((double)m * k * n > 3e8) continue;
                    double *a = malloc(sizeof(double) * (size_t)m * (size_t)k);
                    double *b = malloc(sizeof(double) * (size_t)k * (size_t)n);
                    double *c = malloc(sizeof(double) * (size_t)m * (size_t)n);
                    double *d = malloc(sizeof(double) * (size_t)m * (size_t)n);
                    if (!a || !b || !c || !d) return 1;
                    unsigned long long s = (unsigned long long)(m * 131 + k * 7 + n);
                    for (size_t t = 0; t < (size_t)m * (size_t)k; t++) a[t] = urand(&s);
                    for (size_t t = 0; t < (size_t)k * (size_t)n; t++) b[t] = urand(&s);
                    omp_set_num_threads(1);
                    gemm(tn, m, n, k, a, tn ? m : k, b, n, c, n);
                    shapes++;
                    col_any += cut_differs(tn, m, n, k, a, b, c, d, 1, 1);
                    row_any += cut_differs(tn, m, n, k, a, b, c, d, 0, 1);
                    col_al += cut_differs(tn, m, n, k, a, b, c, d, 1, calign);
                    row_al += cut_differs(tn, m, n, k, a, b, c, d, 0, ralign);
                    omp_set_num_threads(2);
                    gemm(tn, m, n, k, a, tn ? m : k, b, n, d, n);
                    two += memcmp(c, d, sizeof(double) * (size_t)m * (size_t)n) != 0;
                    free(a);
                    free(b);
                    free(c);
                    free(d);
                }
    printf("CUTS columns_any=%d rows_any=%d columns_at_%d=%d rows_at_%d=%d two_threads=%d of=%d\n", col_any, row_any,
           calign, col_al, ralign, row_al, two, shapes);
    printf("# %s\n", openblas_get_config());
    return 0;
}
