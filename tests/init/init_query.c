/*
 * init_query: answers questions about libnnla's initializers, one per line of standard input, for
 * tests/init/torch_check.py (which asks PyTorch the same ones):
 *   fans D0 D1 ...                     -> "FAN_IN FAN_OUT"
 *   gain NAME[:PARAM]                  -> the gain (nnla_act_parse names), or "unsupported"
 *   scale KIND MODE GAIN D0 D1 ...     -> the bound (uniform), std (normal) or gain (orthogonal)
 *   fill KIND MODE GAIN SEED D0 D1 ... -> the initialized weight's values, row-major
 * KIND is a name of nnla_init_name(), MODE fan_in or fan_out. Anything else: "error ...".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nnla.h>

static int kind_of(const char *name, nnla_init_kind *k)
{
    for (int i = 0; i < NNLA_INIT_KIND_COUNT; i++)
        if (strcmp(name, nnla_init_name((nnla_init_kind)i)) == 0) {
            *k = (nnla_init_kind)i;
            return 1;
        }
    return 0;
}

/* Sizes from the remaining tokens; returns their count (at most 8). */
static size_t read_shape(size_t *shape)
{
    size_t n = 0;
    char *t;
    while (n < 8 && (t = strtok(NULL, " \t\n")) != NULL) shape[n++] = (size_t)strtoull(t, NULL, 10);
    return n;
}

int main(void)
{
    char line[512];
    while (fgets(line, sizeof line, stdin)) {
        char *cmd = strtok(line, " \t\n");
        if (cmd == NULL) continue;
        size_t shape[8], nd;
        if (strcmp(cmd, "fans") == 0) {
            nd = read_shape(shape);
            size_t fi, fo;
            nnla_status st = nnla_init_fans(nd, shape, &fi, &fo);
            if (st)
                printf("error %s\n", nnla_status_name(st));
            else
                printf("%zu %zu\n", fi, fo);
        } else if (strcmp(cmd, "gain") == 0) {
            nnla_act act;
            double g;
            char *name = strtok(NULL, " \t\n");
            nnla_status st = name ? nnla_act_parse(name, &act) : NNLA_ENULL;
            if (st == NNLA_OK) st = nnla_init_gain(act, &g);
            if (st == NNLA_EUNSUPPORTED)
                printf("unsupported\n");
            else if (st)
                printf("error %s\n", nnla_status_name(st));
            else
                printf("%.17g\n", g);
        } else if (strcmp(cmd, "scale") == 0 || strcmp(cmd, "fill") == 0) {
            int fill = strcmp(cmd, "fill") == 0;
            char *kn = strtok(NULL, " \t\n"), *mn = strtok(NULL, " \t\n"), *gn = strtok(NULL, " \t\n");
            char *sn = fill ? strtok(NULL, " \t\n") : NULL;
            nnla_init_kind kind;
            if (!kn || !mn || !gn || (fill && !sn) || !kind_of(kn, &kind)) {
                printf("error syntax\n");
                continue;
            }
            nnla_fan_mode mode = strcmp(mn, "fan_out") == 0 ? NNLA_FAN_OUT : NNLA_FAN_IN;
            double gain = strtod(gn, NULL);
            nd = read_shape(shape);
            if (!fill) {
                double s;
                nnla_status st = nnla_init_scale(kind, gain, mode, nd, shape, &s);
                if (st)
                    printf("error %s\n", nnla_status_name(st));
                else
                    printf("%.17g\n", s);
                continue;
            }
            size_t count = 1, bytes = 0;
            for (size_t i = 0; i < nd; i++) count *= shape[i];
            nnla_status st = nnla_init_workspace_size(kind, nd, shape, &bytes);
            double *w = malloc(count * sizeof *w);
            void *work = bytes ? malloc(bytes) : NULL;
            nnla_rng rng;
            nnla_rng_seed(&rng, strtoull(sn, NULL, 10));
            if (st == NNLA_OK) st = nnla_init_tensor(kind, gain, mode, nd, shape, w, &rng, work, bytes);
            if (st)
                printf("error %s\n", nnla_status_name(st));
            else {
                for (size_t i = 0; i < count; i++) printf(i ? " %.17g" : "%.17g", w[i]);
                printf("\n");
            }
            free(w);
            free(work);
        } else {
            printf("error unknown\n");
        }
        fflush(stdout);
    }
    return 0;
}
