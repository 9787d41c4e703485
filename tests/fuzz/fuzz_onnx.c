/*
 * libFuzzer harness of the ONNX loader. Each input is loaded from an exact-size copy (so ASan sees
 * any read past it) with the load flags its first byte selects. A failure must be one of the
 * documented statuses, with a NUL-terminated message, and leave *net untouched. A network that
 * loads is run on one sample when its workspace is small, saved (the size query must match what
 * is written) and loaded again: the second network must be the first (the same layer kinds,
 * parameters and buffers bit for bit, the same outputs bit for bit). Any disagreement traps, so
 * libFuzzer records it as a crash.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nnla.h>

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_onnx: check failed at line %d: %s\n", __LINE__, #cond);         \
            __builtin_trap();                                                                      \
        }                                                                                          \
    } while (0)

#define SENTINEL ((nnla_net *)(uintptr_t)0xA5A5A5A5u)
#define MAX_WORK ((size_t)16 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int documented_failure(nnla_status st)
{
    return st == NNLA_EFORMAT || st == NNLA_EUNSUPPORTED || st == NNLA_EOVERFLOW || st == NNLA_ENONFINITE ||
           st == NNLA_ENOMEM;
}

/* The outputs of one sample of ones (NULL when the workspace would be too large). */
static double *run_one(const nnla_net *net, size_t *n)
{
    size_t in[3], out[3], ws;
    CHECK(nnla_net_input_shape(net, in) == NNLA_OK);
    CHECK(nnla_net_output_shape(net, out) == NNLA_OK);
    if (nnla_net_workspace_size(net, 1, &ws) != NNLA_OK || ws > MAX_WORK) return NULL;
    size_t nin = in[0] * in[1] * in[2];
    *n = out[0] * out[1] * out[2];
    if (nin > MAX_WORK / 8 || *n > MAX_WORK / 8) return NULL;
    double *x = malloc(nin * sizeof *x), *y = malloc(*n * sizeof *y);
    void *w = malloc(ws ? ws : 1);
    CHECK(x && y && w);
    for (size_t k = 0; k < nin; k++) x[k] = (double)(k % 7) - 3.0;
    CHECK(nnla_net_forward(net, 1, x, y, w, ws) == NNLA_OK);
    free(x);
    free(w);
    return y;
}

static void same_nets(nnla_net *a, nnla_net *b)
{
    size_t n = nnla_net_num_layers(a);
    CHECK(n == nnla_net_num_layers(b));
    for (size_t i = 0; i < n; i++) {
        nnla_layer_kind ka, kb;
        CHECK(nnla_net_layer_kind(a, i, &ka) == NNLA_OK && nnla_net_layer_kind(b, i, &kb) == NNLA_OK);
        CHECK(ka == kb);
    }
    for (int blk = 0; blk < 2; blk++) {
        double *pa, *pb;
        size_t na, nb;
        CHECK((blk ? nnla_net_buffers(a, &pa, &na) : nnla_net_params(a, &pa, &na)) == NNLA_OK);
        CHECK((blk ? nnla_net_buffers(b, &pb, &nb) : nnla_net_params(b, &pb, &nb)) == NNLA_OK);
        CHECK(na == nb);
        CHECK(na == 0 || memcmp(pa, pb, na * sizeof *pa) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const unsigned flag_sets[4] = {0, NNLA_ONNX_KEEP_BATCHNORM, NNLA_ONNX_KEEP_ACTIVATIONS | NNLA_ONNX_KEEP_DROPOUT,
                                          NNLA_ONNX_KEEP_BATCHNORM | NNLA_ONNX_KEEP_ACTIVATIONS | NNLA_ONNX_KEEP_DROPOUT};
    unsigned flags = size ? flag_sets[data[size - 1] & 3] : 0;
    uint8_t *copy = malloc(size ? size : 1);
    CHECK(copy != NULL);
    if (size) memcpy(copy, data, size);
    char msg[300];
    memset(msg, 'x', sizeof msg);
    nnla_net *net = SENTINEL;
    nnla_status st = nnla_onnx_load_mem(copy, size, flags, &net, msg, sizeof msg);
    free(copy);
    CHECK(memchr(msg, '\0', sizeof msg) != NULL);
    if (st != NNLA_OK) {
        CHECK(documented_failure(st));
        CHECK(net == SENTINEL);
        CHECK(msg[0] != '\0');
        return 0;
    }
    CHECK(net != SENTINEL && net != NULL && msg[0] == '\0');
    size_t ny = 0;
    double *y = run_one(net, &ny);

    /* save and load again (with every layer kept when it was loaded so) */
    size_t need = 0, written = 0;
    CHECK(nnla_onnx_encoded_size(net, 0, &need, msg, sizeof msg) == NNLA_OK);
    uint8_t *buf = malloc(need ? need : 1);
    CHECK(buf != NULL);
    CHECK(nnla_onnx_save_mem(net, 0, buf, need, &written, msg, sizeof msg) == NNLA_OK);
    CHECK(written == need);
    unsigned again = flags == 0 ? 0 : NNLA_ONNX_KEEP_BATCHNORM | NNLA_ONNX_KEEP_ACTIVATIONS | NNLA_ONNX_KEEP_DROPOUT;
    nnla_net *back = NULL;
    st = nnla_onnx_load_mem(buf, need, again, &back, msg, sizeof msg);
    if (st != NNLA_OK) fprintf(stderr, "fuzz_onnx: the saved model does not load: %s\n", msg);
    CHECK(st == NNLA_OK);
    if (flags == 0) { /* the default load is canonical: saving and loading changes nothing */
        same_nets(net, back);
        size_t nz = 0;
        double *z = run_one(back, &nz);
        CHECK((y == NULL) == (z == NULL));
        if (y != NULL) CHECK(ny == nz && memcmp(y, z, ny * sizeof *y) == 0);
        free(z);
    }
    /* float32 saves too (or refuses a value beyond float's range) */
    st = nnla_onnx_encoded_size(net, NNLA_ONNX_FLOAT32, &need, msg, sizeof msg);
    CHECK(st == NNLA_OK || st == NNLA_EOVERFLOW);
    nnla_net_free(back);
    free(buf);
    free(y);
    nnla_net_free(net);
    return 0;
}
