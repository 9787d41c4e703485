/*
 * GEMM and GEMV over CBLAS, what OpenBLAS reports about itself, and the gate that bounds how many
 * threads are inside OpenBLAS at once.
 *
 * Why the gate. OpenBLAS 0.3.21 (Debian 12), built without USE_TLS as Debian builds it, gives every
 * BLAS call a buffer from one process-wide table of NUM_BUFFERS = max(50, 2 * MAX_THREADS *
 * NUM_PARALLEL) slots (driver/others/memory.c; common.h): each level-3 call (and level-2 and LAPACK
 * call whose scratch exceeds the stack) holds one slot for its whole duration, and each BLAS worker
 * thread holds one for its lifetime. When the table is full, blas_memory_alloc prints "precompiled
 * NUM_THREADS exceeded, adding auxiliary array" and switches to 512 extra slots, but
 * blas_memory_free never releases those (it clears newmemory[position] instead of
 * newmemory[position - NUM_BUFFERS], and writes out of bounds; fixed upstream in 0.3.25 by commit
 * 7e939fb8), so after 512 overflowing calls it prints "Program is Terminated ... too many memory
 * regions" and returns NULL, and the GEMM that asked writes through it (the segfault in
 * dgemm_itcopy). With Debian's MAX_THREADS=64, NUM_BUFFERS = 128: 128 threads in BLAS at once print,
 * 200 crash.
 *
 * The budget. Worker threads hold at most MAX_THREADS - 1 slots (pthread build: the pool only
 * grows, up to MAX_THREADS - 1 workers) or MAX_THREADS (OpenMP build: one buffer per thread of its
 * one buffer set, with NUM_PARALLEL = 1 as Debian builds it: its message says "a maximum of 128
 * threads", 2 x 64 x 1); a thread inside BLAS or LAPACK holds one
 * more at a time (LAPACK's routines call BLAS one call after another, never nested). So at most
 * 2 MAX_THREADS - MAX_THREADS = MAX_THREADS callers fit, whichever the build; a single-threaded
 * build has no workers and at least 50 slots. The gate lets GATE_LIMIT() threads in, read from
 * openblas_get_config() at run time ("MAX_THREADS=64", or "SINGLE_THREADED"), and makes the others
 * wait. What other code in the process calls OpenBLAS directly is outside the gate's reach.
 *
 * The gate is a counting semaphore of the "benaphore" kind: the way in is one atomic increment
 * while fewer than the limit are inside; a thread over the limit waits on a condition variable
 * until a leaving thread hands it its place. A thread that is already inside (nested calls, e.g.
 * a library function bracketing a sequence that calls nnla_gemm) passes straight through: a
 * thread-local depth counts its levels, so it never waits for itself.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include <cblas.h>

#include "internal.h"

/* ------------------------------------------------------------------ the gate */

#define GATE_SINGLE_THREADED_LIMIT 50 /* NUM_BUFFERS is at least 50, and no worker holds a slot */
#define GATE_FALLBACK_LIMIT 32        /* should the configuration string not say (never seen) */

static pthread_once_t config_once = PTHREAD_ONCE_INIT;
static char config_copy[256]; /* openblas_get_config() rebuilds a static string on every call */
static int config_max_threads;  /* MAX_THREADS of the loaded OpenBLAS; 1 when single-threaded */
static atomic_int gate_limit;   /* threads allowed inside OpenBLAS at once; 0 until config_init */

static atomic_int gate_count;   /* threads inside plus threads waiting */
static pthread_mutex_t gate_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static int gate_handoffs;        /* places handed over to waiters and not yet taken (under gate_mutex) */
/* This thread's nesting level. The initial-exec model makes it one load relative to the thread
 * pointer instead of a call to __tls_get_addr (about 10 ns a pair of calls, measured); it takes
 * 4 bytes of the static TLS space glibc reserves for libraries, also those loaded by dlopen. */
#if defined(__GNUC__) || defined(__clang__)
#define NNLA__TLS_MODEL __attribute__((tls_model("initial-exec")))
#else
#define NNLA__TLS_MODEL
#endif
static _Thread_local int gate_depth NNLA__TLS_MODEL;

/* The integer after "MAX_THREADS=" in s; 0 when absent. */
static int parse_max_threads(const char *s)
{
    const char *p = strstr(s, "MAX_THREADS=");
    if (p == NULL) return 0;
    p += strlen("MAX_THREADS=");
    long v = 0;
    for (; *p >= '0' && *p <= '9' && v < 1000000; p++) v = v * 10 + (*p - '0');
    return (int)v;
}

static void config_init(void)
{
    const char *s = openblas_get_config();
    if (s == NULL) s = "";
    size_t n = strlen(s);
    if (n >= sizeof config_copy) n = sizeof config_copy - 1;
    memcpy(config_copy, s, n);
    config_copy[n] = '\0';
    int max = parse_max_threads(config_copy);
    if (openblas_get_parallel() == 0 || strstr(config_copy, "SINGLE_THREADED") != NULL) {
        config_max_threads = 1;
        atomic_store_explicit(&gate_limit, GATE_SINGLE_THREADED_LIMIT, memory_order_release);
    } else if (max > 0) {
        config_max_threads = max;
        atomic_store_explicit(&gate_limit, max, memory_order_release);
    } else {
        config_max_threads = GATE_FALLBACK_LIMIT;
        atomic_store_explicit(&gate_limit, GATE_FALLBACK_LIMIT, memory_order_release);
    }
}

static void config_ensure(void) { (void)pthread_once(&config_once, config_init); }

/* The limit, reading the configuration on the first call (pthread_once only then). */
static int limit_now(void)
{
    int limit = atomic_load_explicit(&gate_limit, memory_order_acquire);
    if (limit > 0) return limit;
    config_ensure();
    return atomic_load_explicit(&gate_limit, memory_order_acquire);
}

int nnla__blas_gate_limit(void) { return limit_now(); }

void nnla__blas_enter(void)
{
    (void)nnla__share_begin(); /* this thread's share of the threads, for OpenBLAS's OpenMP build */
    if (gate_depth++ > 0) return; /* already inside */
    if (atomic_fetch_add_explicit(&gate_count, 1, memory_order_acquire) < limit_now()) return;
    /* Over the limit: wait for a leaving thread to hand its place over. */
    pthread_mutex_lock(&gate_mutex);
    while (gate_handoffs == 0) pthread_cond_wait(&gate_cond, &gate_mutex);
    gate_handoffs--;
    pthread_mutex_unlock(&gate_mutex);
}

void nnla__blas_leave(void)
{
    nnla__share_end();
    if (--gate_depth > 0) return;
    /* More than the limit counted: someone waits (or is about to): hand this place over. */
    if (atomic_fetch_sub_explicit(&gate_count, 1, memory_order_release) > limit_now()) {
        pthread_mutex_lock(&gate_mutex);
        gate_handoffs++;
        pthread_cond_signal(&gate_cond);
        pthread_mutex_unlock(&gate_mutex);
    }
}

/* nnla-bench compiles the gate alone once more, to time the same code with and without it
 * (tests/bench/bench_gate.c); everything below is the library's public API. */
#ifndef NNLA_BLAS_GATE_ONLY

/* ------------------------------------------------------------------ products */

static int valid_trans(nnla_trans t) { return t == NNLA_NO_TRANS || t == NNLA_TRANS; }

nnla_status nnla_gemm(nnla_trans ta, nnla_trans tb, double alpha, nnla_cmat a, nnla_cmat b, double beta,
                      nnla_mat c)
{
    NNLA__TRY(nnla__check_blas_view(a));
    NNLA__TRY(nnla__check_blas_view(b));
    NNLA__TRY(nnla__check_blas_view(nnla_cmat_of(c)));
    if (!valid_trans(ta) || !valid_trans(tb)) return NNLA_EINVAL;
    size_t m = ta == NNLA_NO_TRANS ? a.rows : a.cols;
    size_t k = ta == NNLA_NO_TRANS ? a.cols : a.rows;
    size_t kb = tb == NNLA_NO_TRANS ? b.rows : b.cols;
    size_t n = tb == NNLA_NO_TRANS ? b.cols : b.rows;
    if (k != kb || c.rows != m || c.cols != n) return NNLA_ESHAPE;
    size_t cb = nnla__view_bytes(nnla_cmat_of(c));
    if (nnla__overlap(c.data, cb, a.data, nnla__view_bytes(a)) ||
        nnla__overlap(c.data, cb, b.data, nnla__view_bytes(b)))
        return NNLA_EALIAS;
    nnla__blas_enter();
    cblas_dgemm(CblasRowMajor, ta == NNLA_TRANS ? CblasTrans : CblasNoTrans,
                tb == NNLA_TRANS ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)k, alpha, a.data,
                (int)a.ld, b.data, (int)b.ld, beta, c.data, (int)c.ld);
    nnla__blas_leave();
    return NNLA_OK;
}

nnla_status nnla_gemv(nnla_trans ta, double alpha, nnla_cmat a, const double *x, size_t nx, double beta,
                      double *y, size_t ny)
{
    NNLA__TRY(nnla__check_blas_view(a));
    if (x == NULL || y == NULL) return NNLA_ENULL;
    if (nx == 0 || ny == 0) return NNLA_EDIM;
    if (!valid_trans(ta)) return NNLA_EINVAL;
    size_t want_x = ta == NNLA_NO_TRANS ? a.cols : a.rows;
    size_t want_y = ta == NNLA_NO_TRANS ? a.rows : a.cols;
    if (nx != want_x || ny != want_y) return NNLA_ESHAPE;
    if (nnla__overlap(y, ny * sizeof(double), a.data, nnla__view_bytes(a)) ||
        nnla__overlap(y, ny * sizeof(double), x, nx * sizeof(double)))
        return NNLA_EALIAS;
    nnla__blas_enter();
    cblas_dgemv(CblasRowMajor, ta == NNLA_TRANS ? CblasTrans : CblasNoTrans, (int)a.rows, (int)a.cols,
                alpha, a.data, (int)a.ld, x, 1, beta, y, 1);
    nnla__blas_leave();
    return NNLA_OK;
}

/* ------------------------------------------------------------------ what runs underneath */

const char *nnla_blas_config(void)
{
    config_ensure();
    return config_copy;
}

const char *nnla_blas_corename(void)
{
    const char *s = openblas_get_corename();
    return s ? s : "";
}

int nnla_blas_num_threads(void) { return openblas_get_num_threads(); }

int nnla_blas_max_threads(void)
{
    config_ensure();
    return config_max_threads;
}

nnla_status nnla_blas_set_num_threads(int n)
{
    /* OpenBLAS clamps a larger count to its MAX_THREADS without a word: refuse it instead. */
    if (n < 1 || n > nnla_blas_max_threads()) return NNLA_EINVAL;
    openblas_set_num_threads(n);
    return NNLA_OK;
}

#endif /* NNLA_BLAS_GATE_ONLY */
