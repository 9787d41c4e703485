/* The `nnla` program's helpers: strict option and number parsing, .npy in and out, error reports. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void vreport(const cli_command *cmd, const char *fmt, va_list ap)
{
    fprintf(stderr, "nnla %s: error: ", cmd->name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void cli_error(const cli_command *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(cmd, fmt, ap);
    va_end(ap);
}

int cli_usage_error(const cli_command *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(cmd, fmt, ap);
    va_end(ap);
    fprintf(stderr, "Try 'nnla %s --help'.\n", cmd->name);
    return CLI_EXIT_USAGE;
}

int cli_lib_error(const cli_command *cmd, const char *what, nnla_status st)
{
    cli_error(cmd, "%s: %s (%s)", what, nnla_strerror(st), nnla_status_name(st));
    return CLI_EXIT_FAIL;
}

static cli_opt *find_opt(cli_opt *opts, size_t nopts, const char *name, size_t len)
{
    for (size_t i = 0; i < nopts; i++)
        if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0) return &opts[i];
    return NULL;
}

int cli_parse(const cli_command *cmd, int argc, char **argv, cli_opt *opts, size_t nopts,
              const char **pos, size_t min_pos, size_t max_pos, size_t *npos)
{
    size_t n = 0;
    int only_positional = 0;
    for (size_t i = 0; i < nopts; i++) {
        opts[i].given = 0;
        opts[i].value = NULL;
    }
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!only_positional && (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0)) {
            fputs(cmd->help, stdout);
            return CLI_EXIT_OK;
        }
        if (!only_positional && strcmp(arg, "--") == 0) {
            only_positional = 1;
            continue;
        }
        if (!only_positional && arg[0] == '-' && arg[1] != '\0') {
            const char *eq = strchr(arg, '=');
            size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
            cli_opt *o = arg[1] == '-' ? find_opt(opts, nopts, arg, len) : NULL;
            if (o == NULL) return cli_usage_error(cmd, "unknown option '%.*s'", (int)len, arg);
            if (o->given) return cli_usage_error(cmd, "option %s given twice", o->name);
            o->given = 1;
            if (!o->takes_value) {
                if (eq) return cli_usage_error(cmd, "option %s takes no value", o->name);
                continue;
            }
            if (eq) {
                o->value = eq + 1;
            } else {
                if (i + 1 >= argc) return cli_usage_error(cmd, "option %s needs a value", o->name);
                o->value = argv[++i];
            }
            if (o->value[0] == '\0') return cli_usage_error(cmd, "option %s has an empty value", o->name);
            continue;
        }
        if (n >= max_pos) return cli_usage_error(cmd, "unexpected argument '%s'", arg);
        pos[n++] = arg;
    }
    if (n < min_pos) return cli_usage_error(cmd, "missing argument%s", min_pos - n > 1 ? "s" : "");
    *npos = n;
    return CLI_CONTINUE;
}

/* The decimal number in text[0..len): digits only, at least one, no overflow. 1 on success. */
static int parse_digits(const char *text, size_t len, size_t *value)
{
    if (len == 0) return 0;
    size_t v = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (c < '0' || c > '9') return 0;
        size_t d = (size_t)(c - '0');
        if (v > ((size_t)-1 - d) / 10) return 0;
        v = v * 10 + d;
    }
    *value = v;
    return 1;
}

int cli_parse_size(const char *text, size_t *value)
{
    return text != NULL && parse_digits(text, strlen(text), value);
}

int cli_parse_pair(const char *text, size_t *a, size_t *b)
{
    if (text == NULL) return 0;
    const char *comma = strchr(text, ',');
    size_t va, vb;
    if (comma == NULL) {
        if (!cli_parse_size(text, &va)) return 0;
        vb = va;
    } else if (!parse_digits(text, (size_t)(comma - text), &va) || !cli_parse_size(comma + 1, &vb)) {
        return 0; /* a second comma is not a digit: refused by the second number */
    }
    *a = va;
    *b = vb;
    return 1;
}

int cli_opt_size(const cli_command *cmd, const cli_opt *opt, size_t *value, int positive)
{
    if (!cli_parse_size(opt->value, value) || (positive && *value == 0))
        return cli_usage_error(cmd, "%s '%s': expected a %s integer", opt->name, opt->value,
                               positive ? "positive" : "non-negative");
    return CLI_CONTINUE;
}

int cli_opt_pair(const cli_command *cmd, const cli_opt *opt, size_t *a, size_t *b, int positive)
{
    if (!cli_parse_pair(opt->value, a, b) || (positive && (*a == 0 || *b == 0)))
        return cli_usage_error(cmd, "%s '%s': expected N or N,M with %s integers", opt->name, opt->value,
                               positive ? "positive" : "non-negative");
    return CLI_CONTINUE;
}

int cli_parse_act(const cli_command *cmd, const char *text, nnla_act *act)
{
    if (nnla_act_parse(text, act) == NNLA_OK) return CLI_CONTINUE;
    cli_error(cmd, "bad activation '%s'", text);
    fprintf(stderr, "Activations: ");
    for (int k = 0; k < NNLA_ACT_KIND_COUNT; k++) {
        const char *name = nnla_act_name((nnla_act_kind)k), *param = "";
        if (name == NULL) continue;
        if (k == NNLA_ACT_SIGMOID || k == NNLA_ACT_SOFTPLUS) param = "[:BETA]";
        if (k == NNLA_ACT_LEAKY_RELU || k == NNLA_ACT_ELU) param = "[:ALPHA]";
        fprintf(stderr, "%s%s%s", k ? ", " : "", name, param);
    }
    fprintf(stderr, ".\nTry 'nnla %s --help'.\n", cmd->name);
    return CLI_EXIT_USAGE;
}

size_t cli_product(const size_t *f, size_t n)
{
    size_t p = 1;
    for (size_t i = 0; i < n; i++) {
        if (f[i] == 0 || p > (size_t)-1 / f[i]) return 0;
        p *= f[i];
    }
    return p;
}

const char *cli_shape(const nnla_array *a, char *buf, size_t n)
{
    size_t used = (size_t)snprintf(buf, n, "(");
    for (size_t i = 0; i < a->ndim && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, i + 1 < a->ndim ? "%zu, " : "%zu", a->shape[i]);
    if (a->ndim == 1 && used < n) used += (size_t)snprintf(buf + used, n - used, ",");
    if (used < n) snprintf(buf + used, n - used, ")");
    return buf;
}

int cli_load(const cli_command *cmd, const char *path, const char *what, nnla_array *a)
{
    int from_stdin = strcmp(path, "-") == 0;
    errno = 0;
    nnla_status st = from_stdin ? nnla_npy_read_file(stdin, a) : nnla_npy_read(path, a);
    if (st == NNLA_OK) return 1;
    const char *name = from_stdin ? "standard input" : path;
    switch (st) {
    case NNLA_EIO:
        cli_error(cmd, "cannot read %s '%s': %s", what, name, errno ? strerror(errno) : nnla_strerror(st));
        break;
    case NNLA_EFORMAT:
        cli_error(cmd, "%s '%s' is not a valid .npy file (malformed or truncated)", what, name);
        break;
    case NNLA_EUNSUPPORTED:
        cli_error(cmd,
                  "%s '%s': unsupported .npy (only float64 and float32 arrays, format 1.0-3.0, "
                  "at most %d dimensions)",
                  what, name, NNLA_NPY_MAX_DIMS);
        break;
    case NNLA_EOVERFLOW:
        cli_error(cmd, "%s '%s': the array's shape is too large", what, name);
        break;
    default:
        cli_error(cmd, "cannot read %s '%s': %s", what, name, nnla_strerror(st));
    }
    return 0;
}

int cli_save(const cli_command *cmd, const char *path, const double *data, size_t ndim,
             const size_t *shape)
{
    int to_stdout = strcmp(path, "-") == 0;
    errno = 0;
    nnla_status st;
    if (to_stdout) {
        st = nnla_npy_write_file(stdout, data, ndim, shape);
        if (st == NNLA_OK && fflush(stdout) != 0) st = NNLA_EIO;
    } else {
        st = nnla_npy_write(path, data, ndim, shape);
    }
    if (st == NNLA_OK) return 1;
    const char *name = to_stdout ? "standard output" : path;
    if (st == NNLA_EIO)
        cli_error(cmd, "cannot write '%s': %s", name, errno ? strerror(errno) : nnla_strerror(st));
    else
        cli_error(cmd, "cannot write '%s': %s", name, nnla_strerror(st));
    return 0;
}
