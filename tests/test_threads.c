/*
 * Threads: a few hundred threads calling libnnla at once, more than Debian's OpenBLAS 0.3.21 takes
 * (past its table of 128 buffers it printed a warning, then "Program is Terminated", then crashed
 * the process). libnnla's gate (src/blas.c) must make that safe and silent: every result equals
 * the single-threaded reference, and nothing at all is written to stdout or stderr meanwhile
 * (both are redirected to a file for the threaded part, then checked empty).
 *
 * The work is a table of kinds: a kind computes one result from input variant v into out. To cover
 * another function (nnla_net_forward, nnla_conv2d_forward, ...), add a run function and one entry
 * to `kinds`; every thread runs every kind.
 */
#define _POSIX_C_SOURCE 200809L /* dup, fileno */

#include "testutil.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
    NTHREADS = 300, /* well past OpenBLAS's 128 buffers */
    ROUNDS = 3,     /* each thread runs every kind this many times */
    VARIANTS = 4,   /* distinct inputs per kind */
    GEMM_N = 96,    /* the reproducer: 96 x 96 products */
    SVD_M = 40,
    SVD_N = 24
};

/* ------------------------------------------------------------------ the kinds of work */

static double gemm_a[VARIANTS][GEMM_N * GEMM_N], gemm_b[VARIANTS][GEMM_N * GEMM_N];
static double svd_a[VARIANTS][SVD_M * SVD_N];

static nnla_status run_gemm(int v, double *out)
{
    return nnla_gemm(NNLA_NO_TRANS, NNLA_TRANS, 1.0, nnla_cmat_view(gemm_a[v], GEMM_N, GEMM_N, GEMM_N),
                     nnla_cmat_view(gemm_b[v], GEMM_N, GEMM_N, GEMM_N), 0.0,
                     nnla_mat_view(out, GEMM_N, GEMM_N, GEMM_N));
}

/*
 * Thin SVD; out = S (k values), then U (m x k) and Vt (k x n) with each singular pair's sign fixed
 * (the largest |entry| of each row of Vt positive), so the comparison does not depend on it.
 */
static nnla_status run_svd(int v, double *out)
{
    enum { K = SVD_M < SVD_N ? SVD_M : SVD_N };
    double *s = out, *u = out + K, *vt = u + SVD_M * K;
    nnla_status st = nnla_svd_alloc(NNLA_SVD_THIN, nnla_cmat_view(svd_a[v], SVD_M, SVD_N, SVD_N), s,
                                    nnla_mat_view(u, SVD_M, K, K), nnla_mat_view(vt, K, SVD_N, SVD_N), NULL);
    if (st != NNLA_OK) return st;
    for (size_t i = 0; i < K; i++) {
        size_t big = 0;
        for (size_t j = 1; j < SVD_N; j++)
            if (fabs(vt[i * SVD_N + j]) > fabs(vt[i * SVD_N + big])) big = j;
        if (vt[i * SVD_N + big] >= 0) continue;
        for (size_t j = 0; j < SVD_N; j++) vt[i * SVD_N + j] = -vt[i * SVD_N + j];
        for (size_t r = 0; r < SVD_M; r++) u[r * K + i] = -u[r * K + i];
    }
    return NNLA_OK;
}

/* One network shared by every thread: conv 2->8 3x3 (pad 1, relu, im2col + GEMM), max pooling,
 * dense 128->10, softmax; batch 4 of 2 x 8 x 8 images. */
enum { NET_BATCH = 4, NET_IN = 2 * 8 * 8, NET_OUT = 10 };
static nnla_net *shared_net;
static double net_x[VARIANTS][NET_BATCH * NET_IN];

static nnla_status run_net(int v, double *out)
{
    size_t bytes;
    nnla_status st = nnla_net_workspace_size(shared_net, NET_BATCH, &bytes);
    if (st != NNLA_OK) return st;
    void *work = malloc(bytes);
    if (work == NULL) return NNLA_ENOMEM;
    st = nnla_net_forward(shared_net, NET_BATCH, net_x[v], out, work, bytes);
    free(work);
    return st;
}

static void build_net(nnla_test_rng *rng)
{
    static double wc[8 * 2 * 9], bc[8], wd[NET_OUT * 128], bd[NET_OUT];
    nnla_test_fill(rng, wc, sizeof wc / sizeof wc[0], -0.5, 0.5);
    nnla_test_fill(rng, bc, 8, -0.1, 0.1);
    nnla_test_fill(rng, wd, sizeof wd / sizeof wd[0], -0.2, 0.2);
    nnla_test_fill(rng, bd, NET_OUT, -0.1, 0.1);
    nnla_conv2d_desc d = nnla_conv2d_desc_make(2, 8, 3, 3);
    d.pad_top = d.pad_bottom = d.pad_left = d.pad_right = 1;
    nnla_pool2d_desc p = nnla_pool2d_desc_make(NNLA_POOL_MAX, 2, 2);
    assert_status(nnla_net_create(2, 8, 8, &shared_net), NNLA_OK);
    assert_status(nnla_net_add_conv2d(shared_net, &d, wc, bc, nnla_act_default(NNLA_ACT_RELU)), NNLA_OK);
    assert_status(nnla_net_add_pool2d(shared_net, &p), NNLA_OK);
    assert_status(nnla_net_add_dense(shared_net, nnla_cmat_view(wd, NET_OUT, 128, 128), bd,
                                     nnla_act_default(NNLA_ACT_SOFTMAX)),
                  NNLA_OK);
    for (int v = 0; v < VARIANTS; v++) nnla_test_fill(rng, net_x[v], NET_BATCH * NET_IN, -1, 1);
}

typedef struct work_kind {
    const char *name;
    size_t out_len;                        /* doubles */
    nnla_status (*run)(int variant, double *out);
    double tol;                            /* max |out - reference| / max |reference| */
} work_kind;

static const work_kind kinds[] = {
    /* a product of 96 terms in [-1, 1]: a few ulps of 96 whatever the blocking */
    {"nnla_gemm 96x96", GEMM_N * GEMM_N, run_gemm, 64 * GEMM_N * DBL_EPSILON},
    /* well separated singular values (random Gaussian): vectors stable to rounding */
    {"nnla_svd 40x24", SVD_N + SVD_M * SVD_N + SVD_N * SVD_N, run_svd, 1e3 * SVD_M * DBL_EPSILON},
    /* a network: convolution, pooling, dense layer, softmax; each thread its own workspace */
    {"nnla_net_forward cnn", NET_BATCH * NET_OUT, run_net, 64 * 128 * DBL_EPSILON},
};
#define NKINDS (sizeof kinds / sizeof kinds[0])

static double *reference[NKINDS][VARIANTS];

/* ------------------------------------------------------------------ the threads */

/* Holds the threads back until all exist, so that they all call at once. */
typedef struct latch {
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    int open;
} latch;

typedef struct thread_job {
    int id;
    latch *start;
    int runs, failures;         /* runs done; wrong status or wrong result */
    char first_failure[160];
} thread_job;

static double max_abs(const double *x, size_t n)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++)
        if (fabs(x[i]) > m) m = fabs(x[i]);
    return m;
}

static void *thread_main(void *arg)
{
    thread_job *j = arg;
    size_t most = 0;
    for (size_t k = 0; k < NKINDS; k++)
        if (kinds[k].out_len > most) most = kinds[k].out_len;
    double *out = malloc(most * sizeof *out);
    pthread_mutex_lock(&j->start->mutex);
    while (!j->start->open) pthread_cond_wait(&j->start->cond, &j->start->mutex);
    pthread_mutex_unlock(&j->start->mutex);
    for (int r = 0; r < ROUNDS; r++)
        for (size_t kk = 0; kk < NKINDS; kk++) {
            size_t k = (kk + (size_t)j->id) % NKINDS; /* the kinds interleave across threads */
            int v = (j->id + r) % VARIANTS;
            const double *ref = reference[k][v];
            nnla_status st = out ? kinds[k].run(v, out) : NNLA_ENOMEM;
            double err = 0.0;
            if (st == NNLA_OK)
                for (size_t i = 0; i < kinds[k].out_len; i++)
                    if (!(fabs(out[i] - ref[i]) <= err)) err = isnan(out[i]) ? INFINITY : fabs(out[i] - ref[i]);
            double scale = max_abs(ref, kinds[k].out_len);
            j->runs++;
            if (st != NNLA_OK || !(err <= kinds[k].tol * scale)) {
                if (j->failures++ == 0)
                    snprintf(j->first_failure, sizeof j->first_failure,
                             "thread %d, %s, variant %d: %s, max error %.3g (scale %.3g)", j->id, kinds[k].name,
                             v, nnla_status_name(st), err, scale);
            }
        }
    free(out);
    return NULL;
}

/* Everything written to file descriptors 1 and 2 while fn runs goes to a file; returns its bytes. */
static size_t run_captured(void (*fn)(void *), void *arg, char *head, size_t head_size)
{
    fflush(stdout);
    fflush(stderr);
    FILE *cap = tmpfile();
    assert_non_null(cap);
    int saved_out = dup(1), saved_err = dup(2);
    assert_true(saved_out >= 0 && saved_err >= 0);
    assert_true(dup2(fileno(cap), 1) >= 0 && dup2(fileno(cap), 2) >= 0);
    fn(arg);
    fflush(stdout); /* OpenBLAS's messages go through printf as well as stderr */
    fflush(stderr);
    assert_true(dup2(saved_out, 1) >= 0 && dup2(saved_err, 2) >= 0);
    close(saved_out);
    close(saved_err);
    assert_int_equal(fseek(cap, 0, SEEK_END), 0);
    long n = ftell(cap);
    rewind(cap);
    size_t got = fread(head, 1, head_size - 1, cap);
    head[got] = '\0';
    fclose(cap);
    return n > 0 ? (size_t)n : 0;
}

typedef struct many {
    thread_job *jobs;
    int started;
} many;

static void start_and_join(void *arg)
{
    many *m = arg;
    latch start = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    pthread_t th[NTHREADS];
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, (size_t)2 << 20);
    for (int t = 0; t < NTHREADS; t++) {
        m->jobs[t] = (thread_job){.id = t, .start = &start};
        if (pthread_create(&th[t], &attr, thread_main, &m->jobs[t]) != 0) break;
        m->started++;
    }
    pthread_attr_destroy(&attr);
    pthread_mutex_lock(&start.mutex);
    start.open = 1; /* go (also when a thread could not be created: the test then fails) */
    pthread_cond_broadcast(&start.cond);
    pthread_mutex_unlock(&start.mutex);
    for (int t = 0; t < m->started; t++) pthread_join(th[t], NULL);
}

static void test_many_threads(void **state)
{
    (void)state;
    nnla_test_rng rng = {8};
    for (int v = 0; v < VARIANTS; v++) {
        nnla_test_fill(&rng, gemm_a[v], GEMM_N * GEMM_N, -1, 1);
        nnla_test_fill(&rng, gemm_b[v], GEMM_N * GEMM_N, -1, 1);
        for (size_t i = 0; i < SVD_M * SVD_N; i++) svd_a[v][i] = nnla_test_normal(&rng);
    }
    build_net(&rng);
    /* The references, one thread. */
    for (size_t k = 0; k < NKINDS; k++)
        for (int v = 0; v < VARIANTS; v++) {
            reference[k][v] = malloc(kinds[k].out_len * sizeof(double));
            assert_non_null(reference[k][v]);
            assert_status(kinds[k].run(v, reference[k][v]), NNLA_OK);
        }
    /* The product's reference is itself checked against a plain loop. */
    for (int v = 0; v < VARIANTS; v++)
        for (size_t i = 0; i < GEMM_N; i += 7)
            for (size_t j = 0; j < GEMM_N; j += 5) {
                double s = 0.0;
                for (size_t p = 0; p < GEMM_N; p++) s += gemm_a[v][i * GEMM_N + p] * gemm_b[v][j * GEMM_N + p];
                assert_true(fabs(reference[0][v][i * GEMM_N + j] - s) <= 4.0 * GEMM_N * DBL_EPSILON * GEMM_N);
            }

    thread_job *jobs = calloc(NTHREADS, sizeof *jobs);
    assert_non_null(jobs);
    many m = {jobs, 0};
    char head[512];
    size_t printed = run_captured(start_and_join, &m, head, sizeof head);
    if (printed > 0) print_error("%zu bytes printed while the threads ran; they begin:\n%s\n", printed, head);
    assert_int_equal(m.started, NTHREADS);
    assert_int_equal(printed, 0);
    int runs = 0, failures = 0;
    for (int t = 0; t < NTHREADS; t++) {
        runs += jobs[t].runs;
        failures += jobs[t].failures;
        if (jobs[t].failures) print_error("%s\n", jobs[t].first_failure);
    }
    assert_int_equal(failures, 0);
    assert_int_equal(runs, NTHREADS * ROUNDS * (int)NKINDS);
    free(jobs);
    for (size_t k = 0; k < NKINDS; k++)
        for (int v = 0; v < VARIANTS; v++) free(reference[k][v]);
    nnla_net_free(shared_net);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
