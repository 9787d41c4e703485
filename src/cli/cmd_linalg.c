/* `nnla svd` and `nnla eigh`: decompositions of a matrix read from a .npy file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

const char cli_help_svd[] =
    "usage: nnla svd A.npy --out P [--values-only] [--rank K]\n"
    "       nnla svd A.npy --out P --rank K --randomized [--oversample N] [--power-iters Q] [--seed S]\n"
    "\n"
    "Thin singular value decomposition A = U diag(S) Vt of a 2-D array A (m x n; k = min(m, n)),\n"
    "by LAPACK's dgesdd (dgesvd if dgesdd does not converge). Writes:\n"
    "  P_U.npy    m x k, orthonormal columns\n"
    "  P_S.npy    k singular values, descending\n"
    "  P_Vt.npy   k x n, orthonormal rows\n"
    "Each pair of singular vectors is unique up to a common sign (as in numpy.linalg.svd).\n"
    "\n"
    "The files are written all or none (to temporaries, renamed into place when all are complete).\n"
    "\n"
    "options:\n"
    "  --out P          prefix of the output files (required; not '-': several files)\n"
    "  --values-only    compute and write the singular values only (P_S.npy)\n"
    "  --rank K         keep the K leading triplets: U m x K, S K, Vt K x n (1 <= K <= k)\n"
    "  --randomized     randomized SVD of rank K (Halko, Martinsson, Tropp 2011; needs --rank): a\n"
    "                   Gaussian sketch, power iterations re-orthonormalized by QR, and the SVD of\n"
    "                   the projected matrix; when K + N > k, N is reduced to k - K (a note says so)\n"
    "  --oversample N   randomized: oversampling (default 10)\n"
    "  --power-iters Q  randomized: power iterations (default 2)\n"
    "  --seed S         randomized: seed of the test matrix (default 0; the same seed gives the\n"
    "                   same result)\n"
    "  -h, --help       show this help\n";

const char cli_help_eigh[] =
    "usage: nnla eigh A.npy --out P [--values-only]\n"
    "\n"
    "Eigendecomposition A = V diag(w) V^T of a symmetric n x n array, by LAPACK's dsyevd.\n"
    "Writes:\n"
    "  P_w.npy    n eigenvalues, ascending\n"
    "  P_V.npy    n x n, the orthonormal eigenvector of w[i] in column i (as numpy.linalg.eigh)\n"
    "A must be symmetric within |a_ij - a_ji| <= 1e-12 max|a|; its lower triangle is used.\n"
    "\n"
    "The files are written both or neither (to temporaries, renamed into place when complete).\n"
    "\n"
    "options:\n"
    "  --out P          prefix of the output files (required; not '-': several files)\n"
    "  --values-only    compute and write the eigenvalues only (P_w.npy)\n"
    "  -h, --help       show this help\n";

/* "P_suffix.npy" in a malloc'd string. */
static char *out_name(const char *prefix, const char *suffix)
{
    size_t n = strlen(prefix) + strlen(suffix) + 6;
    char *s = malloc(n);
    if (s != NULL) snprintf(s, n, "%s_%s.npy", prefix, suffix);
    return s;
}

/* Stage one output P_suffix.npy of the set (written by cli_commit()). 1 on success. */
static int stage_out(const cli_command *cmd, cli_outputs *o, const char *prefix, const char *suffix,
                     const double *data, size_t ndim, const size_t *shape)
{
    char *path = out_name(prefix, suffix);
    if (path == NULL) {
        cli_error(cmd, "out of memory");
        return 0;
    }
    int ok = cli_stage(cmd, o, path, data, ndim, shape);
    free(path);
    return ok;
}

/* --out P: several files P_*.npy, so "-" (standard output) cannot take them. */
static int check_prefix(const cli_command *cmd, const char *prefix, const char *files)
{
    if (strcmp(prefix, "-") != 0) return CLI_CONTINUE;
    return cli_usage_error(cmd,
                           "--out -: %s writes several arrays (%s), which cannot share standard output as "
                           ".npy; give a prefix, e.g. --out result",
                           cmd->name, files);
}

/* Load A and check that it is a non-empty matrix. 1 on success. */
static int load_matrix(const cli_command *cmd, const char *path, nnla_array *a, nnla_cmat *m)
{
    if (!cli_load(cmd, path, "A", a)) return 0;
    char sh[64], nb[4200];
    if (a->ndim != 2 || a->size == 0) {
        cli_error(cmd, "A must be a non-empty 2-D array; A from %s has shape %s",
                  cli_name(path, 0, nb, sizeof nb), cli_shape(a, sh, sizeof sh));
        return 0;
    }
    nnla_array_as_cmat(a, m);
    return 1;
}

int cli_cmd_svd(const cli_command *cmd, int argc, char **argv)
{
    cli_opt opts[] = {{"--out", 1, 0, NULL},        {"--values-only", 0, 0, NULL}, {"--rank", 1, 0, NULL},
                      {"--randomized", 0, 0, NULL}, {"--oversample", 1, 0, NULL},  {"--power-iters", 1, 0, NULL},
                      {"--seed", 1, 0, NULL}};
    const char *pos[1];
    size_t npos;
    int rc = cli_parse(cmd, argc, argv, opts, 7, pos, 1, 1, &npos);
    if (rc != CLI_CONTINUE) return rc;
    if (!opts[0].given) return cli_usage_error(cmd, "--out P is required");
    if ((rc = check_prefix(cmd, opts[0].value, "P_U.npy, P_S.npy, P_Vt.npy")) != CLI_CONTINUE) return rc;
    if (opts[3].given && !opts[2].given) return cli_usage_error(cmd, "--randomized needs --rank K");
    if (!opts[3].given && (opts[4].given || opts[5].given || opts[6].given))
        return cli_usage_error(cmd, "--oversample, --power-iters and --seed go with --randomized");
    int values_only = opts[1].given;
    size_t rank = 0;
    if (opts[2].given && (rc = cli_opt_size(cmd, &opts[2], &rank, 1)) != CLI_CONTINUE) return rc;

    nnla_array a = {0};
    nnla_cmat A;
    if (!load_matrix(cmd, pos[0], &a, &A)) {
        nnla_array_free(&a);
        return CLI_EXIT_FAIL;
    }
    size_t m = A.rows, n = A.cols, k = m < n ? m : n;
    if (rank > k) {
        cli_error(cmd, "--rank %zu exceeds min(m, n) = %zu for A of shape (%zu, %zu)", rank, k, m, n);
        nnla_array_free(&a);
        return CLI_EXIT_FAIL;
    }
    if (rank == 0) rank = k;
    if (opts[3].given) {
        rc = cli_svd_randomized(cmd, A, rank, values_only, opts[0].value, &opts[4], &opts[5], &opts[6]);
        nnla_array_free(&a);
        return rc;
    }

    rc = CLI_EXIT_FAIL;
    double *s = malloc(k * sizeof *s);
    double *u = values_only ? NULL : malloc(m * k * sizeof *u);
    double *vt = values_only ? NULL : malloc(k * n * sizeof *vt);
    if (s == NULL || (!values_only && (u == NULL || vt == NULL))) {
        cli_error(cmd, "out of memory for the SVD of a %zu x %zu matrix", m, n);
        goto done;
    }
    nnla_mat U = values_only ? nnla_mat_view(NULL, 0, 0, 0) : nnla_mat_view(u, m, k, k);
    nnla_mat Vt = values_only ? nnla_mat_view(NULL, 0, 0, 0) : nnla_mat_view(vt, k, n, n);
    nnla_svd_driver driver = NNLA_SVD_DRIVER_GESDD;
    nnla_status st = nnla_svd_alloc(values_only ? NNLA_SVD_VALUES : NNLA_SVD_THIN, A, s, U, Vt, &driver);
    if (st == NNLA_ENONFINITE) {
        cli_error(cmd, "A contains NaN or Inf");
        goto done;
    }
    if (st != NNLA_OK) {
        cli_lib_error(cmd, "SVD failed", st);
        goto done;
    }
    if (driver == NNLA_SVD_DRIVER_GESVD)
        fprintf(stderr, "nnla svd: note: dgesdd did not converge; the result is dgesvd's\n");

    /* All files or none: each to a temporary, then all renamed into place. */
    const char *prefix = opts[0].value;
    cli_outputs outs = {0};
    if (!stage_out(cmd, &outs, prefix, "S", s, 1, (const size_t[]){rank})) goto discard;
    if (!values_only) {
        /* The K leading columns of U, packed: row i moves from i*k to i*rank (never overtaking). */
        if (rank < k)
            for (size_t i = 0; i < m; i++) memmove(u + i * rank, u + i * k, rank * sizeof *u);
        if (!stage_out(cmd, &outs, prefix, "U", u, 2, (const size_t[]){m, rank})) goto discard;
        /* the K leading rows of Vt: already packed */
        if (!stage_out(cmd, &outs, prefix, "Vt", vt, 2, (const size_t[]){rank, n})) goto discard;
    }
    if (cli_commit(cmd, &outs)) rc = CLI_EXIT_OK;
    goto done;
discard:
    cli_discard(&outs);
done:
    free(s);
    free(u);
    free(vt);
    nnla_array_free(&a);
    return rc;
}

int cli_cmd_eigh(const cli_command *cmd, int argc, char **argv)
{
    cli_opt opts[] = {{"--out", 1, 0, NULL}, {"--values-only", 0, 0, NULL}};
    const char *pos[1];
    size_t npos;
    int rc = cli_parse(cmd, argc, argv, opts, 2, pos, 1, 1, &npos);
    if (rc != CLI_CONTINUE) return rc;
    if (!opts[0].given) return cli_usage_error(cmd, "--out P is required");
    if ((rc = check_prefix(cmd, opts[0].value, "P_w.npy, P_V.npy")) != CLI_CONTINUE) return rc;
    int values_only = opts[1].given;

    nnla_array a = {0};
    nnla_cmat A;
    if (!load_matrix(cmd, pos[0], &a, &A)) {
        nnla_array_free(&a);
        return CLI_EXIT_FAIL;
    }
    size_t n = A.rows;
    if (A.cols != n) {
        cli_error(cmd, "A must be square; it is %zu x %zu", A.rows, A.cols);
        nnla_array_free(&a);
        return CLI_EXIT_FAIL;
    }
    rc = CLI_EXIT_FAIL;
    double *w = malloc(n * sizeof *w);
    double *v = values_only ? NULL : malloc(n * n * sizeof *v);
    if (w == NULL || (!values_only && v == NULL)) {
        cli_error(cmd, "out of memory for the eigendecomposition of a %zu x %zu matrix", n, n);
        goto done;
    }
    nnla_mat V = values_only ? nnla_mat_view(NULL, 0, 0, 0) : nnla_mat_view(v, n, n, n);
    nnla_status st = nnla_eigh_alloc(values_only ? NNLA_EIGH_VALUES : NNLA_EIGH_VECTORS, A, w, V);
    if (st == NNLA_ENOTSYM) {
        cli_error(cmd, "A is not symmetric (|a_ij - a_ji| > %g max|a| somewhere)", NNLA_EIGH_SYM_RTOL);
        goto done;
    }
    if (st == NNLA_ENONFINITE) {
        cli_error(cmd, "A contains NaN or Inf");
        goto done;
    }
    if (st != NNLA_OK) {
        cli_lib_error(cmd, "eigendecomposition failed", st);
        goto done;
    }
    cli_outputs outs = {0}; /* both files or neither */
    if (!stage_out(cmd, &outs, opts[0].value, "w", w, 1, (const size_t[]){n}) ||
        (!values_only && !stage_out(cmd, &outs, opts[0].value, "V", v, 2, (const size_t[]){n, n}))) {
        cli_discard(&outs);
        goto done;
    }
    if (cli_commit(cmd, &outs)) rc = CLI_EXIT_OK;
done:
    free(w);
    free(v);
    nnla_array_free(&a);
    return rc;
}
