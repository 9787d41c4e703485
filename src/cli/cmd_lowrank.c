/* `nnla lowrank`, `nnla pca`, and the randomized path of `nnla svd` (--randomized). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

const char cli_help_lowrank[] =
    "usage: nnla lowrank W.npy (--rank K | --energy E | --tol T [--norm fro|2]) --out P\n"
    "                   [--max-rank K] [--product] [--randomized [--oversample N] [--power-iters Q]\n"
    "                   [--seed S]]\n"
    "\n"
    "Best rank-k approximation W ~ L R of a 2-D array W (m x n), by its SVD (Eckart-Young):\n"
    "L = U_k S_k^(1/2) (m x k), R = S_k^(1/2) V_k^T (k x n). For a dense layer W[out][in], R is the\n"
    "weight of a first layer (k x in, no bias) and L of a second (out x k, with W's bias). Writes:\n"
    "  P_L.npy    m x k\n"
    "  P_R.npy    k x n\n"
    "  P_Ak.npy   m x n, the product L R (with --product)\n"
    "and prints the report on standard output, one 'name: value' per line: rank, m, n,\n"
    "params_before (m n), params_after (k (m + n)), norm_fro, norm_2, err_fro = ||W - W_k||_F,\n"
    "err_fro_rel, err_2 = ||W - W_k||_2, err_2_rel, energy, rule_met, exact.\n"
    "\n"
    "rank rule (exactly one):\n"
    "  --rank K         keep K terms (1 <= K <= min(m, n))\n"
    "  --energy E       the smallest k with sum_{i<=k} s_i^2 >= E sum s_i^2, 0 < E <= 1\n"
    "  --tol T          the smallest k with ||W - W_k|| <= T ||W||, T >= 0, in the norm of --norm\n"
    "options:\n"
    "  --norm fro|2     the norm of --tol: Frobenius (default) or spectral\n"
    "  --max-rank K     never keep more than K terms (the report says rule_met: no if this binds)\n"
    "  --product        also write P_Ak.npy\n"
    "  --randomized     use the randomized SVD of rank K (--rank, or --max-rank; min(m, n) if\n"
    "                   neither): err_fro is then computed from the residual and err_2 is a lower\n"
    "                   bound (exact: no)\n"
    "  --oversample N   randomized: oversampling, >= 1 (default 10)\n"
    "  --power-iters Q  randomized: power iterations (default 2)\n"
    "  --seed S         randomized: seed of the Gaussian test matrix (default 0)\n"
    "  --out P          prefix of the output files (required)\n"
    "  -h, --help       show this help\n";

const char cli_help_pca[] =
    "usage: nnla pca X.npy (--components K | --variance F) [--whiten] --out P\n"
    "               [--randomized [--oversample N] [--power-iters Q] [--seed S]]\n"
    "\n"
    "Principal component analysis of X (n samples x d features, one sample per row), with\n"
    "scikit-learn's conventions (variances with n - 1; each component's sign makes the training\n"
    "score of largest magnitude positive, as scikit-learn 1.2). Writes:\n"
    "  P_components.npy                k x d, one component per row\n"
    "  P_mean.npy                      d\n"
    "  P_explained_variance.npy        k\n"
    "  P_explained_variance_ratio.npy  k\n"
    "  P_singular_values.npy           k\n"
    "  P_transformed.npy               n x k, the scores of X (whitened with --whiten)\n"
    "and prints n_components, total_variance and noise_variance on standard output.\n"
    "\n"
    "options (one of the first two):\n"
    "  --components K   keep K components (1 <= K <= min(n, d))\n"
    "  --variance F     the smallest number whose cumulative explained-variance ratio exceeds F,\n"
    "                   0 < F < 1 (scikit-learn's n_components=F)\n"
    "  --whiten         divide the scores by sqrt(explained variance)\n"
    "  --randomized     randomized SVD (needs --components)\n"
    "  --oversample N   randomized: oversampling (default 10)\n"
    "  --power-iters Q  randomized: power iterations (default 4)\n"
    "  --seed S         randomized: seed (default 0)\n"
    "  --out P          prefix of the output files (required)\n"
    "  -h, --help       show this help\n";

/* "P_suffix.npy" in a malloc'd string. */
static char *out_name(const char *prefix, const char *suffix)
{
    size_t n = strlen(prefix) + strlen(suffix) + 6;
    char *s = malloc(n);
    if (s != NULL) snprintf(s, n, "%s_%s.npy", prefix, suffix);
    return s;
}

/* Stage P_suffix.npy in a set written all or nothing (cli_commit / cli_discard). 1 on success. */
static int save_out(const cli_command *cmd, cli_outputs *o, const char *prefix, const char *suffix,
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

/* Commit a staged set, or discard it after a failed stage. 1 when committed. */
static int finish_outputs(const cli_command *cmd, cli_outputs *o, int staged)
{
    if (staged) return cli_commit(cmd, o);
    cli_discard(o);
    return 0;
}

/* --out P names several files P_*.npy: standard output ("-") cannot take them. */
static int check_prefix(const cli_command *cmd, const char *prefix, const char *files)
{
    if (strcmp(prefix, "-") != 0) return CLI_CONTINUE;
    return cli_usage_error(cmd,
                           "--out -: %s writes several arrays (%s), which cannot share standard output as "
                           ".npy; give a prefix, e.g. --out result",
                           cmd->name, files);
}

/* Load a non-empty 2-D array named what. 1 on success. */
static int load_matrix(const cli_command *cmd, const char *path, const char *what, nnla_array *a, nnla_cmat *m)
{
    if (!cli_load(cmd, path, what, a)) return 0;
    char sh[64];
    if (a->ndim != 2 || a->size == 0) {
        cli_error(cmd, "%s must be a non-empty 2-D array; '%s' has shape %s", what, path, cli_shape(a, sh, sizeof sh));
        return 0;
    }
    nnla_array_as_cmat(a, m);
    return 1;
}

/* Rows 0..rows-1, columns 0..cols-1 of a view with ld >= cols, packed in place (ld -> cols). */
static void pack(double *data, size_t rows, size_t cols, size_t ld)
{
    if (ld != cols)
        for (size_t i = 0; i < rows; i++) memmove(data + i * cols, data + i * ld, cols * sizeof *data);
}

/* ------------------------------------------------------------------ nnla svd --randomized */

int cli_svd_randomized(const cli_command *cmd, nnla_cmat a, size_t rank, int values_only, const char *prefix,
                       const cli_opt *oversample, const cli_opt *power_iters, const cli_opt *seed)
{
    size_t p = 10, q = 2, sd = 0;
    int rc;
    if (oversample->given && (rc = cli_opt_size(cmd, oversample, &p, 0)) != CLI_CONTINUE) return rc;
    if (power_iters->given && (rc = cli_opt_size(cmd, power_iters, &q, 0)) != CLI_CONTINUE) return rc;
    if (seed->given && (rc = cli_opt_size(cmd, seed, &sd, 0)) != CLI_CONTINUE) return rc;
    size_t m = a.rows, n = a.cols;
    rc = CLI_EXIT_FAIL;
    double *s = malloc(rank * sizeof *s);
    double *u = values_only ? NULL : malloc(m * rank * sizeof *u);
    double *vt = values_only ? NULL : malloc(rank * n * sizeof *vt);
    if (s == NULL || (!values_only && (u == NULL || vt == NULL))) {
        cli_error(cmd, "out of memory for the randomized SVD of a %zu x %zu matrix", m, n);
        goto done;
    }
    nnla_mat z = nnla_mat_view(NULL, 0, 0, 0);
    nnla_rsvd_info info;
    nnla_status st = nnla_rsvd_alloc(values_only ? NNLA_SVD_VALUES : NNLA_SVD_THIN, a, rank, p, q, (uint64_t)sd, s,
                                     values_only ? z : nnla_mat_view(u, m, rank, rank),
                                     values_only ? z : nnla_mat_view(vt, rank, n, n), &info);
    if (st == NNLA_ENONFINITE) {
        cli_error(cmd, "A contains NaN or Inf (or its products overflow)");
        goto done;
    }
    if (st != NNLA_OK) {
        cli_lib_error(cmd, "randomized SVD failed", st);
        goto done;
    }
    if (info.clamped)
        fprintf(stderr, "nnla %s: note: oversampling reduced to %zu (rank + oversampling > min(m, n) = %zu)\n",
                cmd->name, info.oversample, m < n ? m : n);
    cli_outputs outs = {0};
    int staged = save_out(cmd, &outs, prefix, "S", s, 1, (const size_t[]){rank}) &&
                 (values_only || (save_out(cmd, &outs, prefix, "U", u, 2, (const size_t[]){m, rank}) &&
                                  save_out(cmd, &outs, prefix, "Vt", vt, 2, (const size_t[]){rank, n})));
    if (finish_outputs(cmd, &outs, staged)) rc = CLI_EXIT_OK;
done:
    free(s);
    free(u);
    free(vt);
    return rc;
}

/* ------------------------------------------------------------------ nnla lowrank */

enum { LR_OUT, LR_RANK, LR_ENERGY, LR_TOL, LR_NORM, LR_MAX, LR_PRODUCT, LR_RAND, LR_OVER, LR_POWER, LR_SEED, LR_N };

static void print_report(const nnla_lowrank_report *r)
{
    printf("rank: %zu\nm: %zu\nn: %zu\nparams_before: %zu\nparams_after: %zu\n", r->rank, r->m, r->n,
           r->params_before, r->params_after);
    printf("norm_fro: %.17g\nnorm_2: %.17g\nerr_fro: %.17g\nerr_fro_rel: %.17g\nerr_2: %.17g\nerr_2_rel: %.17g\n",
           r->norm_fro, r->norm_2, r->err_fro, r->err_fro_rel, r->err_2, r->err_2_rel);
    printf("energy: %.17g\nrule_met: %s\nexact: %s\n", r->energy, r->rule_met ? "yes" : "no", r->exact ? "yes" : "no");
}

int cli_cmd_lowrank(const cli_command *cmd, int argc, char **argv)
{
    cli_opt o[LR_N] = {{"--out", 1, 0, NULL},        {"--rank", 1, 0, NULL},        {"--energy", 1, 0, NULL},
                       {"--tol", 1, 0, NULL},        {"--norm", 1, 0, NULL},        {"--max-rank", 1, 0, NULL},
                       {"--product", 0, 0, NULL},    {"--randomized", 0, 0, NULL},  {"--oversample", 1, 0, NULL},
                       {"--power-iters", 1, 0, NULL}, {"--seed", 1, 0, NULL}};
    const char *pos[1];
    size_t npos;
    int rc = cli_parse(cmd, argc, argv, o, LR_N, pos, 1, 1, &npos);
    if (rc != CLI_CONTINUE) return rc;
    if (!o[LR_OUT].given) return cli_usage_error(cmd, "--out P is required");
    if ((rc = check_prefix(cmd, o[LR_OUT].value, "P_L.npy, P_R.npy")) != CLI_CONTINUE) return rc;
    int rules = o[LR_RANK].given + o[LR_ENERGY].given + o[LR_TOL].given;
    if (rules != 1) return cli_usage_error(cmd, "give exactly one of --rank K, --energy E, --tol T");
    if (o[LR_NORM].given && !o[LR_TOL].given) return cli_usage_error(cmd, "--norm goes with --tol");
    if (!o[LR_RAND].given && (o[LR_OVER].given || o[LR_POWER].given || o[LR_SEED].given))
        return cli_usage_error(cmd, "--oversample, --power-iters and --seed go with --randomized");
    nnla_rank_rule rule;
    size_t cap = 0;
    if (o[LR_MAX].given && (rc = cli_opt_size(cmd, &o[LR_MAX], &cap, 1)) != CLI_CONTINUE) return rc;
    if (o[LR_RANK].given) {
        size_t k;
        if ((rc = cli_opt_size(cmd, &o[LR_RANK], &k, 1)) != CLI_CONTINUE) return rc;
        if (o[LR_MAX].given) return cli_usage_error(cmd, "--max-rank goes with --energy or --tol");
        rule = nnla_rank_fixed(k);
    } else if (o[LR_ENERGY].given) {
        double e;
        if ((rc = cli_opt_real(cmd, &o[LR_ENERGY], &e)) != CLI_CONTINUE) return rc;
        if (!(e > 0.0 && e <= 1.0)) return cli_usage_error(cmd, "--energy %s: expected 0 < E <= 1", o[LR_ENERGY].value);
        rule = nnla_rank_energy(e);
    } else {
        double t;
        if ((rc = cli_opt_real(cmd, &o[LR_TOL], &t)) != CLI_CONTINUE) return rc;
        if (!(t >= 0.0)) return cli_usage_error(cmd, "--tol %s: expected T >= 0", o[LR_TOL].value);
        int two = 0;
        if (o[LR_NORM].given) {
            if (strcmp(o[LR_NORM].value, "2") == 0)
                two = 1;
            else if (strcmp(o[LR_NORM].value, "fro") != 0)
                return cli_usage_error(cmd, "--norm '%s': expected fro or 2", o[LR_NORM].value);
        }
        rule = two ? nnla_rank_tol_2(t) : nnla_rank_tol_fro(t);
    }
    if (rule.kind != NNLA_RANK_FIXED) rule.rank = cap;
    nnla_lowrank_opts opts = {1, 10, 2, 0};
    if (o[LR_RAND].given) {
        size_t sd = 0;
        if (o[LR_OVER].given && (rc = cli_opt_size(cmd, &o[LR_OVER], &opts.oversample, 1)) != CLI_CONTINUE) return rc;
        if (o[LR_POWER].given && (rc = cli_opt_size(cmd, &o[LR_POWER], &opts.power_iters, 0)) != CLI_CONTINUE)
            return rc;
        if (o[LR_SEED].given && (rc = cli_opt_size(cmd, &o[LR_SEED], &sd, 0)) != CLI_CONTINUE) return rc;
        opts.seed = (uint64_t)sd;
    }

    nnla_array w = {0};
    nnla_cmat W;
    if (!load_matrix(cmd, pos[0], "W", &w, &W)) {
        nnla_array_free(&w);
        return CLI_EXIT_FAIL;
    }
    size_t m = W.rows, n = W.cols, r = m < n ? m : n;
    if (rule.rank > r) {
        cli_error(cmd, "%s %zu exceeds min(m, n) = %zu for W of shape (%zu, %zu)",
                  rule.kind == NNLA_RANK_FIXED ? "--rank" : "--max-rank", rule.rank, r, m, n);
        nnla_array_free(&w);
        return CLI_EXIT_FAIL;
    }
    size_t kmax = rule.rank ? rule.rank : r;
    rc = CLI_EXIT_FAIL;
    double *l = malloc(m * kmax * sizeof *l), *rr = malloc(kmax * n * sizeof *rr);
    double *ak = o[LR_PRODUCT].given ? malloc(m * n * sizeof *ak) : NULL;
    if (l == NULL || rr == NULL || (o[LR_PRODUCT].given && ak == NULL)) {
        cli_error(cmd, "out of memory for the factors of a %zu x %zu matrix", m, n);
        goto done;
    }
    nnla_lowrank_report rep;
    nnla_status st = nnla_lowrank_alloc(W, rule, o[LR_RAND].given ? &opts : NULL, nnla_mat_view(l, m, kmax, kmax),
                                        nnla_mat_view(rr, kmax, n, n),
                                        ak ? nnla_mat_view(ak, m, n, n) : nnla_mat_view(NULL, 0, 0, 0), &rep);
    if (st == NNLA_ENONFINITE) {
        cli_error(cmd, "W contains NaN or Inf");
        goto done;
    }
    if (st != NNLA_OK) {
        cli_lib_error(cmd, "low-rank approximation failed", st);
        goto done;
    }
    size_t k = rep.rank;
    pack(l, m, k, kmax); /* R's leading k rows are already packed */
    const char *prefix = o[LR_OUT].value;
    cli_outputs outs = {0};
    int staged = save_out(cmd, &outs, prefix, "L", l, 2, (const size_t[]){m, k}) &&
                 save_out(cmd, &outs, prefix, "R", rr, 2, (const size_t[]){k, n}) &&
                 (ak == NULL || save_out(cmd, &outs, prefix, "Ak", ak, 2, (const size_t[]){m, n}));
    if (!finish_outputs(cmd, &outs, staged)) goto done;
    print_report(&rep);
    rc = CLI_EXIT_OK;
done:
    free(l);
    free(rr);
    free(ak);
    nnla_array_free(&w);
    return rc;
}

/* ------------------------------------------------------------------ nnla pca */

enum { PC_OUT, PC_COMP, PC_VAR, PC_WHITEN, PC_RAND, PC_OVER, PC_POWER, PC_SEED, PC_N };

int cli_cmd_pca(const cli_command *cmd, int argc, char **argv)
{
    cli_opt o[PC_N] = {{"--out", 1, 0, NULL},        {"--components", 1, 0, NULL}, {"--variance", 1, 0, NULL},
                       {"--whiten", 0, 0, NULL},     {"--randomized", 0, 0, NULL}, {"--oversample", 1, 0, NULL},
                       {"--power-iters", 1, 0, NULL}, {"--seed", 1, 0, NULL}};
    const char *pos[1];
    size_t npos;
    int rc = cli_parse(cmd, argc, argv, o, PC_N, pos, 1, 1, &npos);
    if (rc != CLI_CONTINUE) return rc;
    if (!o[PC_OUT].given) return cli_usage_error(cmd, "--out P is required");
    if ((rc = check_prefix(cmd, o[PC_OUT].value, "P_components.npy, P_mean.npy, ...")) != CLI_CONTINUE) return rc;
    if (o[PC_COMP].given + o[PC_VAR].given != 1)
        return cli_usage_error(cmd, "give exactly one of --components K, --variance F");
    if (!o[PC_RAND].given && (o[PC_OVER].given || o[PC_POWER].given || o[PC_SEED].given))
        return cli_usage_error(cmd, "--oversample, --power-iters and --seed go with --randomized");
    if (o[PC_RAND].given && !o[PC_COMP].given) return cli_usage_error(cmd, "--randomized needs --components K");
    nnla_pca_opts po;
    memset(&po, 0, sizeof po);
    po.whiten = o[PC_WHITEN].given;
    po.solver = o[PC_RAND].given ? NNLA_PCA_RANDOMIZED : NNLA_PCA_FULL;
    po.oversample = 10;
    po.power_iters = 4;
    if (o[PC_COMP].given && (rc = cli_opt_size(cmd, &o[PC_COMP], &po.n_components, 1)) != CLI_CONTINUE) return rc;
    if (o[PC_VAR].given) {
        if ((rc = cli_opt_real(cmd, &o[PC_VAR], &po.variance)) != CLI_CONTINUE) return rc;
        if (!(po.variance > 0.0 && po.variance < 1.0))
            return cli_usage_error(cmd, "--variance %s: expected 0 < F < 1", o[PC_VAR].value);
    }
    if (o[PC_OVER].given && (rc = cli_opt_size(cmd, &o[PC_OVER], &po.oversample, 0)) != CLI_CONTINUE) return rc;
    if (o[PC_POWER].given && (rc = cli_opt_size(cmd, &o[PC_POWER], &po.power_iters, 0)) != CLI_CONTINUE) return rc;
    if (o[PC_SEED].given) {
        size_t sd;
        if ((rc = cli_opt_size(cmd, &o[PC_SEED], &sd, 0)) != CLI_CONTINUE) return rc;
        po.seed = (uint64_t)sd;
    }

    nnla_array x = {0};
    nnla_cmat X;
    if (!load_matrix(cmd, pos[0], "X", &x, &X)) {
        nnla_array_free(&x);
        return CLI_EXIT_FAIL;
    }
    size_t n = X.rows, d = X.cols, r = n < d ? n : d;
    if (n < 2) {
        cli_error(cmd, "X needs at least 2 samples (rows); it has %zu", n);
        nnla_array_free(&x);
        return CLI_EXIT_FAIL;
    }
    if (po.n_components > r) {
        cli_error(cmd, "--components %zu exceeds min(n, d) = %zu for X of shape (%zu, %zu)", po.n_components, r, n, d);
        nnla_array_free(&x);
        return CLI_EXIT_FAIL;
    }
    rc = CLI_EXIT_FAIL;
    nnla_pca p;
    memset(&p, 0, sizeof p);
    double *y = NULL;
    nnla_status st = nnla_pca_alloc(&p, d, po.n_components ? po.n_components : r);
    if (st != NNLA_OK) {
        cli_lib_error(cmd, "PCA model", st);
        goto done;
    }
    st = nnla_pca_fit_alloc(&p, X, &po);
    if (st == NNLA_ENONFINITE) {
        cli_error(cmd, "X contains NaN or Inf");
        goto done;
    }
    if (st != NNLA_OK) {
        cli_lib_error(cmd, "PCA fit failed", st);
        goto done;
    }
    size_t k = p.n_components;
    y = malloc(n * k * sizeof *y);
    if (y == NULL) {
        cli_error(cmd, "out of memory for the %zu x %zu scores", n, k);
        goto done;
    }
    st = nnla_pca_transform_alloc(&p, X, nnla_mat_view(y, n, k, k));
    if (st != NNLA_OK) {
        cli_lib_error(cmd, "PCA transform failed", st);
        goto done;
    }
    const char *prefix = o[PC_OUT].value;
    cli_outputs outs = {0};
    int staged = save_out(cmd, &outs, prefix, "components", p.components, 2, (const size_t[]){k, d}) &&
                 save_out(cmd, &outs, prefix, "mean", p.mean, 1, (const size_t[]){d}) &&
                 save_out(cmd, &outs, prefix, "explained_variance", p.explained_variance, 1, (const size_t[]){k}) &&
                 save_out(cmd, &outs, prefix, "explained_variance_ratio", p.explained_variance_ratio, 1,
                          (const size_t[]){k}) &&
                 save_out(cmd, &outs, prefix, "singular_values", p.singular_values, 1, (const size_t[]){k}) &&
                 save_out(cmd, &outs, prefix, "transformed", y, 2, (const size_t[]){n, k});
    if (!finish_outputs(cmd, &outs, staged)) goto done;
    printf("n_components: %zu\ntotal_variance: %.17g\nnoise_variance: %.17g\n", k, p.total_variance,
           p.noise_variance);
    rc = CLI_EXIT_OK;
done:
    free(y);
    nnla_pca_free(&p);
    nnla_array_free(&x);
    return rc;
}
