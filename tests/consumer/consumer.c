/* A tiny user program: one include, one GEMM, and the version check. */
#include <nnla.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    double a[4] = {1, 2, 3, 4}, b[4] = {5, 6, 7, 8}, c[4];
    nnla_status st = nnla_gemm(NNLA_NO_TRANS, NNLA_NO_TRANS, 1.0, nnla_cmat_view(a, 2, 2, 2),
                               nnla_cmat_view(b, 2, 2, 2), 0.0, nnla_mat_view(c, 2, 2, 2));
    if (st != NNLA_OK) {
        fprintf(stderr, "nnla_gemm: %s\n", nnla_strerror(st));
        return 1;
    }
    if (c[0] != 19 || c[1] != 22 || c[2] != 43 || c[3] != 50) return 1;
    if (nnla_version_number() != NNLA_VERSION_NUMBER) return 1;
    printf("libnnla %s: [[1 2] [3 4]] x [[5 6] [7 8]] = [[%g %g] [%g %g]]\n", nnla_version(), c[0], c[1],
           c[2], c[3]);
    return 0;
}
