/* A tiny user program: one include, one GEMM, the version check, and (when libnnla has its ONNX
 * module) a network saved as ONNX and loaded back: a static link must bring in protobuf-c. */
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
#if NNLA_HAVE_ONNX
    nnla_net *net = NULL, *back = NULL;
    unsigned char buf[4096];
    size_t len = 0;
    char msg[256];
    if (nnla_net_create(2, 1, 1, &net) != NNLA_OK ||
        nnla_net_add_dense(net, nnla_cmat_view(a, 2, 2, 2), b, nnla_act_default(NNLA_ACT_RELU)) != NNLA_OK ||
        nnla_onnx_save_mem(net, 0, buf, sizeof buf, &len, msg, sizeof msg) != NNLA_OK ||
        nnla_onnx_load_mem(buf, len, 0, &back, msg, sizeof msg) != NNLA_OK || nnla_net_num_params(back) != 6) {
        fprintf(stderr, "onnx: %s\n", msg);
        return 1;
    }
    printf("ONNX: a dense layer saved in %zu bytes and loaded back\n", len);
    nnla_net_free(back);
    nnla_net_free(net);
#endif
    return 0;
}
