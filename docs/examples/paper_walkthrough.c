/*
 * paper_walkthrough.c -- every worked example of "Linear algebraic methods in neural
 * networks" (R. Divya), reproduced with libnnla and printed.
 *
 *   II.  Orthogonal diagonalization A = P D P^T, the spectral decomposition
 *        A = sum_i lambda_i u_i u_i^T, and a singular value decomposition A = U S V^T.
 *   III. The 2-3-1 network of Figure 1 (explicit weights: the paper gives none), the
 *        paper's bias-as-threshold sigma(Wx - b), the 3x3 images of a 1 and a 0 vectorized
 *        and sent through a 9-input neuron, and the sigmoid with slope beta.
 *   IV.  The convolution of the 5x6 image A with the 3x3 kernel k as sliding dot products,
 *        the im2col matrix of its 12 sub-matrices, and the result
 *        [[12 12 17 35] [10 17 19 41] [9 6 14 44]].
 *
 * Where the paper is wrong (docs/errata.md), the program prints the right value and says so.
 * It exits non-zero if any libnnla call fails or a result differs from the expected one.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <nnla.h>

static int failures = 0;

#define CHECK(call)                                                                                \
    do {                                                                                           \
        nnla_status st_ = (call);                                                                  \
        if (st_ != NNLA_OK) {                                                                      \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, nnla_strerror(st_));     \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

static void expect(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "MISMATCH: %s\n", what);
        failures++;
    }
}

static void print_mat(const char *name, const double *a, size_t rows, size_t cols, size_t ld)
{
    printf("%s =\n", name);
    for (size_t i = 0; i < rows; i++) {
        printf("  [");
        for (size_t j = 0; j < cols; j++) printf(" %9.5f", a[i * ld + j] == 0.0 ? 0.0 : a[i * ld + j]);
        printf(" ]\n");
    }
}

/* ------------------------------------------------------------------------ section II */
static int section_ii(void)
{
    printf("== II. Symmetric matrices, spectral decomposition, SVD\n\n");
    /* A symmetric matrix, orthogonally diagonalized: A = P D P^T. */
    const double a[9] = {6, -2, -1, -2, 6, -1, -1, -1, 5};
    double w[3], p[9], rebuilt[9], term[9];
    CHECK(nnla_eigh_alloc(NNLA_EIGH_VECTORS, nnla_cmat_view(a, 3, 3, 3), w, nnla_mat_view(p, 3, 3, 3)));
    print_mat("A", a, 3, 3, 3);
    printf("eigenvalues (ascending) D = diag(%g, %g, %g)\n", w[0], w[1], w[2]);
    print_mat("P (unit eigenvectors as columns)", p, 3, 3, 3);
    expect(fabs(w[0] - 3) < 1e-12 && fabs(w[1] - 6) < 1e-12 && fabs(w[2] - 8) < 1e-12,
           "eigenvalues of A are 3, 6, 8");

    /* P^T P = I: P is orthogonal. */
    double ptp[9];
    CHECK(nnla_gemm(NNLA_TRANS, NNLA_NO_TRANS, 1.0, nnla_cmat_view(p, 3, 3, 3), nnla_cmat_view(p, 3, 3, 3),
                    0.0, nnla_mat_view(ptp, 3, 3, 3)));
    double orth = 0;
    for (int i = 0; i < 9; i++) orth = fmax(orth, fabs(ptp[i] - (i % 4 == 0)));
    printf("max |P^T P - I| = %.2e\n", orth);
    expect(orth < 1e-14, "P is orthogonal");

    /* The spectral decomposition, term by term: A = sum_i lambda_i u_i u_i^T. */
    memset(rebuilt, 0, sizeof rebuilt);
    for (int t = 0; t < 3; t++) {
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) term[i * 3 + j] = w[t] * p[i * 3 + t] * p[j * 3 + t];
        char name[64];
        snprintf(name, sizeof name, "lambda_%d u_%d u_%d^T (lambda = %g)", t + 1, t + 1, t + 1, w[t]);
        print_mat(name, term, 3, 3, 3);
        for (int i = 0; i < 9; i++) rebuilt[i] += term[i];
    }
    size_t ws;
    CHECK(nnla_spectral_reconstruct_workspace_size(3, 3, &ws));
    double work[64];
    if (ws > sizeof work) return 1;
    double lib[9];
    CHECK(nnla_spectral_reconstruct(w, nnla_cmat_view(p, 3, 3, 3), 3, nnla_mat_view(lib, 3, 3, 3), work,
                                    sizeof work));
    double err = 0;
    for (int i = 0; i < 9; i++) err = fmax(err, fmax(fabs(rebuilt[i] - a[i]), fabs(lib[i] - a[i])));
    print_mat("sum of the terms", lib, 3, 3, 3);
    printf("max |A - sum| = %.2e\n\n", err);
    expect(err < 1e-13, "the spectral decomposition rebuilds A");

    /* An SVD of a non-square matrix: A = U S V^T (Lay's 2x3 example, sigma = 6 sqrt 10, 3 sqrt 10). */
    const double b[6] = {4, 11, 14, 8, 7, -2};
    double s[2], u[4], vt[9];
    CHECK(nnla_svd_alloc(NNLA_SVD_FULL, nnla_cmat_view(b, 2, 3, 3), s, nnla_mat_view(u, 2, 2, 2),
                         nnla_mat_view(vt, 3, 3, 3), NULL));
    print_mat("B", b, 2, 3, 3);
    printf("singular values: %.10f %.10f (6 sqrt 10 = %.10f, 3 sqrt 10 = %.10f)\n", s[0], s[1],
           6 * sqrt(10.0), 3 * sqrt(10.0));
    print_mat("U (2x2, orthogonal)", u, 2, 2, 2);
    print_mat("V^T (3x3, orthogonal)", vt, 3, 3, 3);
    double usv[6];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++) usv[i * 3 + j] = u[i * 2 + 0] * s[0] * vt[0 * 3 + j] + u[i * 2 + 1] * s[1] * vt[1 * 3 + j];
    double e2 = 0;
    for (int i = 0; i < 6; i++) e2 = fmax(e2, fabs(usv[i] - b[i]));
    printf("max |B - U S V^T| = %.2e\n\n", e2);
    expect(fabs(s[0] - 6 * sqrt(10.0)) < 1e-12 && fabs(s[1] - 3 * sqrt(10.0)) < 1e-12 && e2 < 1e-13,
           "SVD of B");
    return 0;
}

/* ----------------------------------------------------------------------- section III */
static int section_iii(void)
{
    printf("== III. Neural networks\n\n");
    /* Figure 1: inputs x1, x2 -> hidden S1, S2, S3 -> output y. The paper names the weights
     * w_ij without values; these are ours. Each layer is sigma(W x - b) in the paper's
     * notation, i.e. libnnla's dense layer with bias = -b (threshold b). */
    const double w1[6] = {0.5, -1.0, 1.5, 0.25, -0.75, 2.0}; /* W[3][2]: W_ij */
    const double thr1[3] = {0.1, -0.2, 0.3};                 /* the paper's b */
    const double w2[3] = {1.0, -2.0, 0.5};                   /* W[1][3] */
    const double thr2[1] = {0.05};
    double b1[3], b2[1];
    for (int i = 0; i < 3; i++) b1[i] = -thr1[i];
    b2[0] = -thr2[0];
    const double x[2] = {1.0, 2.0};

    nnla_net *net = NULL;
    CHECK(nnla_net_create(2, 1, 1, &net));
    nnla_act sig = nnla_act_default(NNLA_ACT_SIGMOID);
    nnla_status st = nnla_net_add_dense(net, nnla_cmat_view(w1, 3, 2, 2), b1, sig);
    if (st == NNLA_OK) st = nnla_net_add_dense(net, nnla_cmat_view(w2, 1, 3, 3), b2, sig);
    size_t ws = 0;
    if (st == NNLA_OK) st = nnla_net_workspace_size(net, 1, &ws);
    double work[256], y = 0;
    if (st == NNLA_OK && ws > sizeof work) st = NNLA_EWORKSPACE;
    if (st == NNLA_OK) st = nnla_net_forward(net, 1, x, &y, work, sizeof work);
    nnla_net_free(net);
    CHECK(st);

    /* The same by hand, the paper's way: S_i = sigma(W_i1 x1 + W_i2 x2 - b_i), y = sigma(...). */
    double s[3], z = 0;
    printf("Figure 1 (2-3-1), x = (%g, %g):\n", x[0], x[1]);
    for (int i = 0; i < 3; i++) {
        s[i] = 1.0 / (1.0 + exp(-(w1[2 * i] * x[0] + w1[2 * i + 1] * x[1] - thr1[i])));
        printf("  S%d = sigma((%g)*%g + (%g)*%g - (%g)) = %.10f\n", i + 1, w1[2 * i], x[0], w1[2 * i + 1],
               x[1], thr1[i], s[i]);
        z += w2[i] * s[i];
    }
    double yref = 1.0 / (1.0 + exp(-(z - thr2[0])));
    printf("  y  = sigma(W2 S - b2) = %.10f (libnnla network: %.10f)\n\n", yref, y);
    expect(fabs(y - yref) < 1e-15, "Figure 1 forward pass");

    /* The images of a 1 and a 0, vectorized row by row (the paper's vector for the 1 drops its 8). */
    const double one[9] = {0, 5, 0, 0, 8, 0, 0, 1, 0};
    const double zero[9] = {1, 3, 4, 1, 0, 5, 3, 7, 6};
    printf("vec(1) = [0 5 0 0 8 0 0 1 0]^T   (the paper prints [0 5 0 0 0 0 0 1 0]^T: erratum)\n");
    printf("vec(0) = [1 3 4 1 0 5 3 7 6]^T\n");
    /* A 9-input, 1-output neuron. The paper's sigma([37]) and sigma([205]) come from weights it
     * does not give; with all-ones weights the pre-activations are the pixel sums 14 and 30. */
    const double ones[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    double batch[18], pre[2], act[2];
    memcpy(batch, one, sizeof one);
    memcpy(batch + 9, zero, sizeof zero);
    nnla_act ident = nnla_act_default(NNLA_ACT_IDENTITY);
    CHECK(nnla_dense_forward(nnla_cmat_view(batch, 2, 9, 9), nnla_cmat_view(ones, 1, 9, 9), NULL, ident,
                             nnla_mat_view(pre, 2, 1, 1)));
    CHECK(nnla_dense_forward(nnla_cmat_view(batch, 2, 9, 9), nnla_cmat_view(ones, 1, 9, 9), NULL, sig,
                             nnla_mat_view(act, 2, 1, 1)));
    printf("all-ones weights: W vec(1) = %g, W vec(0) = %g; sigma: %.10f, %.10f\n\n", pre[0], pre[1], act[0],
           act[1]);
    expect(pre[0] == 14 && pre[1] == 30, "pixel sums of the 1 and the 0");

    /* The sigmoid with slope beta: sigma(x) = 1 / (1 + e^(-beta x)). */
    printf("sigmoid with slope beta, 1/(1+exp(-beta x)):\n   x    beta=0.5     beta=1       beta=5\n");
    const double xs[5] = {-2, -0.5, 0, 0.5, 2}, betas[3] = {0.5, 1, 5};
    for (int i = 0; i < 5; i++) {
        printf("%5.1f", xs[i]);
        for (int j = 0; j < 3; j++) {
            nnla_act a = {NNLA_ACT_SIGMOID, betas[j]};
            double out;
            CHECK(nnla_act_forward(a, nnla_cmat_view(&xs[i], 1, 1, 1), nnla_mat_view(&out, 1, 1, 1)));
            printf("  %.8f", out);
            expect(fabs(out - 1.0 / (1.0 + exp(-betas[j] * xs[i]))) < 1e-15, "sigmoid with beta");
        }
        printf("\n");
    }
    printf("\n");
    return 0;
}

/* ------------------------------------------------------------------------ section IV */
static int section_iv(void)
{
    printf("== IV. Convolution as a sliding dot product\n\n");
    const double a[30] = {3, 3, 2, 1, 0, 5, 0, 0, 1, 3, 1, 6, 3, 1, 2, 2, 3, 7,
                          2, 0, 0, 2, 2, 8, 2, 0, 0, 0, 1, 9};
    const double k[9] = {0, 1, 2, 2, 2, 0, 0, 1, 2};
    const double expected[12] = {12, 12, 17, 35, 10, 17, 19, 41, 9, 6, 14, 44};
    print_mat("A", a, 5, 6, 6);
    print_mat("k", k, 3, 3, 3);

    nnla_conv2d_desc d = nnla_conv2d_desc_make(1, 1, 3, 3);
    size_t oh, ow;
    CHECK(nnla_conv2d_output_size(&d, 5, 6, &oh, &ow));
    /* The 12 sub-matrices A_1..A_12 (the paper says "9 different sub-matrices": erratum),
     * vectorized as the columns of the im2col matrix. */
    double col[9 * 12];
    CHECK(nnla_im2col(&d, 5, 6, a, col));
    printf("im2col: column t is the sub-matrix A_t read row by row (%zu x %zu output)\n", oh, ow);
    print_mat("cols", col, 9, 12, 12);

    size_t ws;
    CHECK(nnla_conv2d_workspace_size(&d, 1, 5, 6, &ws));
    double work[9 * 12 + 64];
    if (ws > sizeof work) return 1;
    double y[12];
    CHECK(nnla_conv2d_forward(&d, 1, 5, 6, a, k, NULL, nnla_act_default(NNLA_ACT_IDENTITY), y, work,
                              sizeof work));
    printf("A * k =\n  [");
    for (size_t i = 0; i < oh; i++) {
        printf("[");
        for (size_t j = 0; j < ow; j++) printf("%g%s", y[i * ow + j], j + 1 < ow ? " " : "");
        printf("]%s", i + 1 < oh ? " " : "");
    }
    printf("]\n");
    expect(memcmp(y, expected, sizeof y) == 0, "the paper's convolution");
    printf("A_4 . k = 1*0 + 0*1 + 5*2 + 3*2 + 1*2 + 6*0 + 2*0 + 3*1 + 7*2 = %g\n", y[3]);
    return 0;
}

int main(void)
{
    printf("libnnla %s -- the worked examples of \"Linear algebraic methods in neural networks\"\n\n",
           nnla_version());
    if (section_ii() || section_iii() || section_iv()) return 1;
    if (failures) {
        fprintf(stderr, "%d mismatch(es)\n", failures);
        return 1;
    }
    printf("\nall worked examples reproduced\n");
    return 0;
}
