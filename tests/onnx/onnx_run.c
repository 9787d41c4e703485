/*
 * onnx_run: the ONNX tests' driver, a thin client of the public API.
 *
 *   onnx_run run MODEL X.npy Y.npy [FLAGS]   load MODEL, run X (N x sample) through it, write Y
 *   onnx_run save MODEL OUT.onnx [--float32] [FLAGS]   load, then save (nnla_onnx_save_mem)
 *   onnx_run params MODEL P.npy [FLAGS]      write the parameter block, then the buffer block
 *   onnx_run layers MODEL [FLAGS]            print one line per layer: kind, activation, shapes
 *   onnx_run check MODEL... [FLAGS]          load each; print "STATUS_NAME<TAB>message" per model
 *
 * FLAGS: --keep-bn --keep-act --keep-dropout (the NNLA_ONNX_KEEP_* load flags).
 * Exit status 0 on success; 1 with the library's message on stderr otherwise; 2 for usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nnla.h>

static int usage(void)
{
    fprintf(stderr, "usage: onnx_run run|save|params|layers|check MODEL [FILES] [--float32] [--keep-bn] "
                    "[--keep-act] [--keep-dropout]\n");
    return 2;
}

static int load(const char *path, unsigned flags, nnla_net **net)
{
    char msg[512];
    nnla_status st = nnla_onnx_load(path, flags, net, msg, sizeof msg);
    if (st != NNLA_OK) {
        fprintf(stderr, "onnx_run: %s: %s (%s)\n", path, msg, nnla_status_name(st));
        return 0;
    }
    return 1;
}

static int run(nnla_net *net, const char *xpath, const char *ypath)
{
    nnla_array x = {0};
    nnla_status st = nnla_npy_read(xpath, &x);
    if (st != NNLA_OK) {
        fprintf(stderr, "onnx_run: %s: %s\n", xpath, nnla_strerror(st));
        return 1;
    }
    size_t in[3], out[3];
    nnla_net_input_shape(net, in);
    nnla_net_output_shape(net, out);
    size_t per = in[0] * in[1] * in[2], batch = x.ndim ? x.shape[0] : 0;
    if (x.ndim < 1 || batch == 0 || x.size != batch * per) {
        fprintf(stderr, "onnx_run: X has %zu values; expected N x %zu\n", x.size, per);
        nnla_array_free(&x);
        return 1;
    }
    size_t ws = 0, outn = out[0] * out[1] * out[2];
    st = nnla_net_workspace_size(net, batch, &ws);
    void *work = st == NNLA_OK ? malloc(ws ? ws : 1) : NULL;
    double *y = malloc(batch * outn * sizeof *y);
    if (st == NNLA_OK && (work == NULL || y == NULL)) st = NNLA_ENOMEM;
    if (st == NNLA_OK) st = nnla_net_forward(net, batch, x.data, y, work, ws);
    if (st == NNLA_OK) {
        size_t shape[4] = {batch, out[0], out[1], out[2]};
        st = nnla_npy_write(ypath, y, out[1] == 1 && out[2] == 1 ? 2 : 4, shape);
    }
    if (st != NNLA_OK) fprintf(stderr, "onnx_run: forward: %s\n", nnla_strerror(st));
    free(work);
    free(y);
    nnla_array_free(&x);
    return st == NNLA_OK ? 0 : 1;
}

static int save(nnla_net *net, const char *path, unsigned flags)
{
    char msg[512];
    size_t size, written = 0;
    nnla_status st = nnla_onnx_encoded_size(net, flags, &size, msg, sizeof msg);
    void *buf = st == NNLA_OK ? malloc(size) : NULL;
    if (st == NNLA_OK && buf == NULL) st = NNLA_ENOMEM;
    if (st == NNLA_OK) st = nnla_onnx_save_mem(net, flags, buf, size, &written, msg, sizeof msg);
    if (st == NNLA_OK && written != size) st = NNLA_EINTERNAL;
    FILE *f = st == NNLA_OK ? fopen(path, "wb") : NULL;
    if (st == NNLA_OK && (f == NULL || fwrite(buf, 1, size, f) != size)) st = NNLA_EIO;
    if (f != NULL && fclose(f) != 0) st = NNLA_EIO;
    free(buf);
    if (st != NNLA_OK) fprintf(stderr, "onnx_run: save: %s (%s)\n", msg, nnla_status_name(st));
    return st == NNLA_OK ? 0 : 1;
}

static int params(nnla_net *net, const char *path)
{
    double *p = NULL, *b = NULL;
    size_t np = 0, nb = 0;
    nnla_net_params(net, &p, &np);
    nnla_net_buffers(net, &b, &nb);
    double *all = malloc((np + nb + 1) * sizeof *all);
    if (all == NULL) return 1;
    if (np) memcpy(all, p, np * sizeof *all);
    if (nb) memcpy(all + np, b, nb * sizeof *all);
    size_t n = np + nb;
    nnla_status st = nnla_npy_write(path, all, 1, &n);
    free(all);
    return st == NNLA_OK ? 0 : 1;
}

static void layers(const nnla_net *net)
{
    for (size_t i = 0; i < nnla_net_num_layers(net); i++) {
        nnla_layer_spec s;
        size_t in[3], out[3];
        nnla_net_layer_spec(net, i, &s);
        nnla_net_layer_shape(net, i, in, out);
        printf("%zu %s", i, nnla_layer_kind_name(s.kind));
        if (s.kind == NNLA_LAYER_DENSE || s.kind == NNLA_LAYER_CONV2D || s.kind == NNLA_LAYER_ACT)
            printf(" act=%s:%.17g", nnla_act_name(s.act.kind), s.act.param);
        if (s.kind == NNLA_LAYER_CONV2D)
            printf(" k=%zux%zu s=%zux%zu pad=%zu,%zu,%zu,%zu d=%zux%zu g=%zu bias=%d", s.conv.kernel_h, s.conv.kernel_w,
                   s.conv.stride_h, s.conv.stride_w, s.conv.pad_top, s.conv.pad_left, s.conv.pad_bottom,
                   s.conv.pad_right, s.conv.dilation_h, s.conv.dilation_w, s.conv.groups, s.bias != NULL);
        if (s.kind == NNLA_LAYER_DENSE) printf(" bias=%d", s.bias != NULL);
        if (s.kind == NNLA_LAYER_POOL2D)
            printf(" %s k=%zux%zu s=%zux%zu pad=%zu,%zu,%zu,%zu ceil=%d cip=%d", s.pool.kind == NNLA_POOL_MAX ? "max" : "avg",
                   s.pool.kernel_h, s.pool.kernel_w, s.pool.stride_h, s.pool.stride_w, s.pool.pad_top, s.pool.pad_left,
                   s.pool.pad_bottom, s.pool.pad_right, s.pool.ceil_mode,
                   s.pool.kind == NNLA_POOL_AVG ? s.pool.count_include_pad : 0);
        if (s.kind == NNLA_LAYER_BATCHNORM) printf(" eps=%.17g", s.eps);
        if (s.kind == NNLA_LAYER_DROPOUT) printf(" p=%.17g", s.p);
        printf(" src=%ld", s.src == NNLA_NET_INPUT ? -1L : (long)s.src);
        if (s.kind == NNLA_LAYER_ADD) printf(",%ld", s.src2 == NNLA_NET_INPUT ? -1L : (long)s.src2);
        printf(" in=%zux%zux%zu out=%zux%zux%zu\n", in[0], in[1], in[2], out[0], out[1], out[2]);
    }
}

int main(int argc, char **argv)
{
    if (argc < 3) return usage();
    unsigned flags = 0, save_flags = 0;
    const char **pos = calloc((size_t)argc, sizeof *pos);
    int npos = 0;
    if (pos == NULL) return 1;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--keep-bn")) flags |= NNLA_ONNX_KEEP_BATCHNORM;
        else if (!strcmp(argv[i], "--keep-act")) flags |= NNLA_ONNX_KEEP_ACTIVATIONS;
        else if (!strcmp(argv[i], "--keep-dropout")) flags |= NNLA_ONNX_KEEP_DROPOUT;
        else if (!strcmp(argv[i], "--float32")) save_flags |= NNLA_ONNX_FLOAT32;
        else if (argv[i][0] == '-' && argv[i][1] == '-') return usage();
        else pos[npos++] = argv[i];
    }
    const char *cmd = argv[1];
    nnla_net *net = NULL;
    if (!strcmp(cmd, "check")) {
        for (int k = 0; k < npos; k++) {
            char msg[512];
            nnla_status st = nnla_onnx_load(pos[k], flags, &net, msg, sizeof msg);
            printf("%s\t%s\n", nnla_status_name(st), msg);
            nnla_net_free(net);
            net = NULL;
        }
        free(pos);
        return 0;
    }
    if (npos < 1 || !load(pos[0], flags, &net)) {
        free(pos);
        return npos < 1 ? usage() : 1;
    }
    int rc;
    if (!strcmp(cmd, "run") && npos == 3) rc = run(net, pos[1], pos[2]);
    else if (!strcmp(cmd, "save") && npos == 2) rc = save(net, pos[1], save_flags);
    else if (!strcmp(cmd, "params") && npos == 2) rc = params(net, pos[1]);
    else if (!strcmp(cmd, "layers") && npos == 1) layers(net), rc = 0;
    else rc = usage();
    nnla_net_free(net);
    free(pos);
    return rc;
}
