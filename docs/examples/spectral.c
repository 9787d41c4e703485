/*
 * spectral.c: the singular value decomposition and the spectral decomposition of section II of
 * the paper, computed with libnnla.
 *
 *   cc spectral.c $(pkg-config --cflags --libs nnla) -o spectral && ./spectral
 *
 * 1. SVD of a non-square matrix (the paper's 5 x 6 grey-scale image of section IV):
 *    A = U diag(s) V^T, printed factor by factor, and the reconstruction residual.
 * 2. Spectral decomposition of a symmetric 3 x 3 matrix: its eigenvalues and orthonormal
 *    eigenvectors (A = P D P^T), the sum A = sum_i lambda_i u_i u_i^T term by term, and the
 *    rank-1 truncation, whose error is the largest dropped |lambda| (2-norm).
 *
 * Exits with status 0 when every call succeeds and every residual is at rounding level.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <nnla.h>

/* Stop with a message when a libnnla call fails. */
#define CHECK(call)                                                                                          \
    do {                                                                                                     \
        nnla_status st_ = (call);                                                                            \
        if (st_ != NNLA_OK) {                                                                                \
            fprintf(stderr, "%s failed: %s\n", #call, nnla_strerror(st_));                                   \
            return 1;                                                                                        \
        }                                                                                                    \
    } while (0)

static void print_mat(const char *name, nnla_cmat m)
{
    printf("%s (%zu x %zu):\n", name, m.rows, m.cols);
    for (size_t i = 0; i < m.rows; i++) {
        for (size_t j = 0; j < m.cols; j++) printf(" %9.4f", m.data[i * m.ld + j]);
        printf("\n");
    }
}

static void print_vec(const char *name, const double *x, size_t n)
{
    printf("%s:", name);
    for (size_t i = 0; i < n; i++) printf(" %9.4f", x[i]);
    printf("\n");
}

/* ||A - B||_F / ||A||_F */
static double rel_diff(nnla_cmat a, nnla_cmat b)
{
    double d = 0.0, s = 0.0;
    for (size_t i = 0; i < a.rows; i++)
        for (size_t j = 0; j < a.cols; j++) {
            double x = a.data[i * a.ld + j], y = b.data[i * b.ld + j];
            d += (x - y) * (x - y);
            s += x * x;
        }
    return sqrt(d / s);
}

/* A residual passes when it is at rounding level: below 64 n eps. */
static int report(const char *what, double r, size_t n)
{
    double limit = 64.0 * (double)n * DBL_EPSILON;
    printf("%s: %.3g (limit %.3g) %s\n", what, r, limit, r <= limit ? "ok" : "TOO LARGE");
    return r <= limit ? 0 : 1;
}

int main(void)
{
    int bad = 0;

    /* ---------------------------------------------------------- 1. SVD of a 5 x 6 matrix */
    double img[5 * 6] = {3, 3, 2, 1, 0, 5, /* the grey-scale image of section IV */
                         0, 0, 1, 3, 1, 6, /* (row-major: element (i, j) at img[i*6 + j]) */
                         3, 1, 2, 2, 3, 7, /* */
                         2, 0, 0, 2, 2, 8, /* */
                         2, 0, 0, 0, 1, 9};
    nnla_cmat A = nnla_cmat_view(img, 5, 6, 6);
    enum { M = 5, N = 6, K = 5 }; /* K = min(M, N) */
    double s[K], u[M * K], vt[K * N];
    nnla_mat U = nnla_mat_view(u, M, K, K), VT = nnla_mat_view(vt, K, N, N);

    /* The kernels never allocate: ask for the workspace size, then pass a buffer. */
    size_t bytes;
    CHECK(nnla_svd_workspace_size(NNLA_SVD_THIN, M, N, &bytes));
    void *work = malloc(bytes);
    if (!work) return 1;
    nnla_svd_driver driver;
    nnla_status st = nnla_svd(NNLA_SVD_THIN, A, s, U, VT, work, bytes, &driver);
    free(work);
    CHECK(st);

    printf("== SVD of the 5 x 6 image A = U diag(s) V^T (driver: %s)\n",
           driver == NNLA_SVD_DRIVER_GESDD ? "dgesdd" : "dgesvd fallback");
    print_mat("A", A);
    print_mat("U", nnla_cmat_of(U));
    print_vec("s (descending)", s, K);
    print_mat("V^T", nnla_cmat_of(VT));

    /* Rebuild A: scale the columns of U by s, then one GEMM with V^T. */
    double us[M * K], rec[M * N];
    for (size_t i = 0; i < M; i++)
        for (size_t j = 0; j < K; j++) us[i * K + j] = u[i * K + j] * s[j];
    CHECK(nnla_gemm(NNLA_NO_TRANS, NNLA_NO_TRANS, 1.0, nnla_cmat_view(us, M, K, K), nnla_cmat_of(VT), 0.0,
                    nnla_mat_view(rec, M, N, N)));
    bad |= report("||A - U diag(s) V^T||_F / ||A||_F", rel_diff(A, nnla_cmat_view(rec, M, N, N)), N);

    /* ---------------------------------------------------------- 2. spectral decomposition */
    /* A symmetric matrix (a_ij = a_ji) whose largest eigenvalue in magnitude is negative:
     * its eigenvalues are -9, 3 and 6. */
    enum { S = 3 };
    double sym[S * S] = {-2, 6,  -2, /* */
                         6,  -1, 4,  /* */
                         -2, 4,  3};
    nnla_cmat B = nnla_cmat_view(sym, S, S, S);
    double w[S], v[S * S];
    nnla_mat V = nnla_mat_view(v, S, S, S);
    CHECK(nnla_eigh_alloc(NNLA_EIGH_VECTORS, B, w, V)); /* allocating form: one line */

    printf("\n== Spectral decomposition of the symmetric matrix B\n");
    print_mat("B", B);
    print_vec("eigenvalues lambda (ascending)", w, S);
    print_mat("P = [u_1 u_2 u_3] (eigenvectors in columns)", nnla_cmat_of(V));

    /* Orthogonal diagonalization: P^T P = I, so B = P D P^T with D = diag(lambda). */
    double ptp[S * S], eye[S * S] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    CHECK(nnla_gemm(NNLA_TRANS, NNLA_NO_TRANS, 1.0, nnla_cmat_of(V), nnla_cmat_of(V), 0.0,
                    nnla_mat_view(ptp, S, S, S)));
    bad |= report("||P^T P - I||_F / ||I||_F",
                  rel_diff(nnla_cmat_view(eye, S, S, S), nnla_cmat_view(ptp, S, S, S)), S);

    /* B = lambda_1 u_1 u_1^T + lambda_2 u_2 u_2^T + lambda_3 u_3 u_3^T, term by term. */
    double sum[S * S] = {0};
    for (size_t t = 0; t < S; t++) {
        double term[S * S];
        for (size_t i = 0; i < S; i++)
            for (size_t j = 0; j < S; j++) {
                term[i * S + j] = w[t] * v[i * S + t] * v[j * S + t];
                sum[i * S + j] += term[i * S + j];
            }
        char name[64];
        snprintf(name, sizeof name, "lambda_%zu u_%zu u_%zu^T (lambda = %g)", t + 1, t + 1, t + 1, w[t]);
        print_mat(name, nnla_cmat_view(term, S, S, S));
    }
    print_mat("sum of the terms", nnla_cmat_view(sum, S, S, S));
    bad |=
        report("||B - sum_i lambda_i u_i u_i^T||_F / ||B||_F", rel_diff(B, nnla_cmat_view(sum, S, S, S)), S);

    /* The same through the library (one GEMM, exactly symmetric result): all k = 3 terms ... */
    double full[S * S], trunc[S * S];
    CHECK(nnla_spectral_reconstruct_workspace_size(S, S, &bytes));
    work = malloc(bytes);
    if (!work) return 1;
    st = nnla_spectral_reconstruct(w, nnla_cmat_of(V), S, nnla_mat_view(full, S, S, S), work, bytes);
    if (st == NNLA_OK) /* ... and the k = 1 term of largest |lambda| (needs less workspace) */
        st = nnla_spectral_reconstruct(w, nnla_cmat_of(V), 1, nnla_mat_view(trunc, S, S, S), work, bytes);
    free(work);
    CHECK(st);
    bad |= report("nnla_spectral_reconstruct, k = 3: ||B - B_3||_F / ||B||_F",
                  rel_diff(B, nnla_cmat_view(full, S, S, S)), S);

    /* Rank-1 truncation: it keeps lambda = -9 (largest |lambda|, although negative). The error
     * B - B_1 has the dropped eigenvalues 3 and 6, so its 2-norm is 6 and its Frobenius norm
     * sqrt(3^2 + 6^2): the best any rank-1 matrix can do (Eckart-Young). */
    print_mat("rank-1 truncation B_1", nnla_cmat_view(trunc, S, S, S));
    double err[S * S], ew[S], efro = 0.0;
    for (size_t i = 0; i < S * S; i++) {
        err[i] = sym[i] - trunc[i];
        efro += err[i] * err[i];
    }
    efro = sqrt(efro);
    CHECK(nnla_eigh_alloc(NNLA_EIGH_VALUES, nnla_cmat_view(err, S, S, S), ew, nnla_mat_view(NULL, 0, 0, 0)));
    double e2 =
        fabs(ew[0]) > fabs(ew[S - 1]) ? fabs(ew[0]) : fabs(ew[S - 1]); /* 2-norm of a symmetric matrix */
    double dropped2 = 0.0, dropped_fro = 0.0; /* from the eigenvalues not kept: all but w[0] = -9 */
    for (size_t t = 1; t < S; t++) {
        if (fabs(w[t]) > dropped2) dropped2 = fabs(w[t]);
        dropped_fro += w[t] * w[t];
    }
    dropped_fro = sqrt(dropped_fro);
    printf("||B - B_1||_2 = %.12g, largest dropped |lambda| = %.12g\n", e2, dropped2);
    printf("||B - B_1||_F = %.12g, sqrt(sum of dropped lambda^2) = %.12g\n", efro, dropped_fro);
    double bnorm2 = fabs(w[0]) > fabs(w[S - 1]) ? fabs(w[0]) : fabs(w[S - 1]);
    bad |= report("| ||B - B_1||_2 - max dropped |lambda| | / ||B||_2", fabs(e2 - dropped2) / bnorm2, S);
    bad |= report("| ||B - B_1||_F - sqrt(sum dropped lambda^2) | / ||B||_2",
                  fabs(efro - dropped_fro) / bnorm2, S);

    printf("\n%s\n", bad ? "FAILED: a residual is too large" : "all residuals at rounding level");
    return bad;
}
