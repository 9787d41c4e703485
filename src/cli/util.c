/* The `nnla` program's helpers: strict option and number parsing, .npy in and out, error reports. */
#define _GNU_SOURCE /* fopencookie (standard input through a recorder), mkstemp, fsync, realpath */

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

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
            cli_print_help(cmd->help, stdout);
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
int cli_parse_size_n(const char *text, size_t len, size_t *value)
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
    return text != NULL && cli_parse_size_n(text, strlen(text), value);
}

int cli_parse_pair(const char *text, size_t *a, size_t *b)
{
    if (text == NULL) return 0;
    const char *comma = strchr(text, ',');
    size_t va, vb;
    if (comma == NULL) {
        if (!cli_parse_size(text, &va)) return 0;
        vb = va;
    } else if (!cli_parse_size_n(text, (size_t)(comma - text), &va) || !cli_parse_size(comma + 1, &vb)) {
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

int cli_parse_real(const char *text, double *value)
{
    if (text == NULL || *text == '\0' || *text == ' ' || *text == '\t' || *text == '\n') return 0;
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || *end != '\0' || errno == ERANGE || !isfinite(v)) return 0;
    *value = v;
    return 1;
}

int cli_opt_real(const cli_command *cmd, const cli_opt *opt, double *value)
{
    if (!cli_parse_real(opt->value, value))
        return cli_usage_error(cmd, "%s '%s': expected a finite number", opt->name, opt->value);
    return CLI_CONTINUE;
}

int cli_opt_pair(const cli_command *cmd, const cli_opt *opt, size_t *a, size_t *b, int positive)
{
    if (!cli_parse_pair(opt->value, a, b) || (positive && (*a == 0 || *b == 0)))
        return cli_usage_error(cmd, "%s '%s': expected N or N,M with %s integers", opt->name, opt->value,
                               positive ? "positive" : "non-negative");
    return CLI_CONTINUE;
}

/* "identity, relu, sigmoid[:BETA], ..." from the library's list, wrapped at about 70 columns
 * with `indent` spaces at the start of each continuation line. */
static void print_activations(FILE *out, int indent)
{
    int col = indent;
    for (int k = 0; k < NNLA_ACT_KIND_COUNT; k++) {
        nnla_act_info info;
        if (nnla_act_info_get((nnla_act_kind)k, &info) != NNLA_OK) continue;
        char item[64], upper[16] = "";
        for (size_t i = 0; info.param_name[i] && i + 1 < sizeof upper; i++) {
            char c = info.param_name[i];
            upper[i] = (char)(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
            upper[i + 1] = '\0';
        }
        int n = snprintf(item, sizeof item, "%s%s%s%s", info.name, upper[0] ? "[:" : "", upper, upper[0] ? "]" : "");
        if (k > 0) {
            fputs(",", out);
            col++;
            if (col + 1 + n > 90) {
                fprintf(out, "\n%*s", indent, "");
                col = indent;
            } else {
                fputs(" ", out);
                col++;
            }
        }
        fputs(item, out);
        col += n;
    }
}

void cli_print_help(const char *help, FILE *out)
{
    const char *tok = strstr(help, CLI_HELP_ACTIVATIONS);
    while (tok != NULL) {
        /* the indentation of the line the token is on */
        const char *line = tok;
        while (line > help && line[-1] != '\n') line--;
        fwrite(help, 1, (size_t)(tok - help), out);
        print_activations(out, (int)(tok - line));
        help = tok + strlen(CLI_HELP_ACTIVATIONS);
        tok = strstr(help, CLI_HELP_ACTIVATIONS);
    }
    fputs(help, out);
}

int cli_parse_act(const cli_command *cmd, const char *text, nnla_act *act)
{
    if (nnla_act_parse(text, act) == NNLA_OK) return CLI_CONTINUE;
    /* say what is wrong: the name, the presence of a parameter, its syntax or its range */
    const char *colon = strchr(text, ':');
    size_t name_len = colon ? (size_t)(colon - text) : strlen(text);
    nnla_act_info info;
    int known = 0;
    for (int k = 0; k < NNLA_ACT_KIND_COUNT && !known; k++)
        if (nnla_act_info_get((nnla_act_kind)k, &info) == NNLA_OK && strlen(info.name) == name_len &&
            strncmp(info.name, text, name_len) == 0)
            known = 1;
    if (!known) {
        cli_error(cmd, "bad activation '%s': unknown name '%.*s'", text, (int)name_len, text);
    } else if (info.rule == NNLA_ACT_PARAM_NONE) {
        cli_error(cmd, "bad activation '%s': %s takes no parameter", text, info.name);
    } else {
        /* nnla_act_parse refused the number itself, or its value: tell which by the syntax */
        const char *num = colon + 1, *p = num;
        int digits = 0;
        if (*p == '+' || *p == '-') p++;
        for (; (*p >= '0' && *p <= '9') || *p == '.'; p++) digits += *p != '.';
        if (*p == 'e' || *p == 'E') {
            p++;
            if (*p == '+' || *p == '-') p++;
            while (*p >= '0' && *p <= '9') p++;
        }
        const char *rule = info.rule == NNLA_ACT_PARAM_POSITIVE ? "finite and > 0"
                           : info.rule == NNLA_ACT_PARAM_NONNEG ? "finite and >= 0"
                                                                : "finite";
        if (*p != '\0' || digits == 0)
            cli_error(cmd, "bad activation '%s': '%s' is not a number (expected e.g. %s:0.5; '.' is the decimal point)",
                      text, num, info.name);
        else
            cli_error(cmd, "bad activation '%s': %s's %s must be %s", text, info.name, info.param_name, rule);
    }
    fprintf(stderr, "Activations: ");
    print_activations(stderr, 13);
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

const char *cli_name(const char *path, int output, char *buf, size_t n)
{
    if (strcmp(path, "-") == 0) return output ? "standard output" : "standard input";
    snprintf(buf, n, "'%s'", path);
    return buf;
}

/* ------------------------------------------------------------------ reading */

/*
 * Standard input is read through a recorder: an unbuffered stream over stdin that keeps the bytes
 * the reader takes for the current array (up to the longest preamble and header), so that when
 * the library refuses them, nnla_npy_diagnose() can say why. Several '-' inputs read one array
 * after another from the one stream.
 */
#define HEAD_MAX (12 + NNLA_NPY_MAX_HEADER_LEN) /* the longest preamble and header */

typedef struct recorder {
    unsigned char *head;
    size_t len, cap;
} recorder;

static recorder stdin_rec;
static FILE *stdin_stream;

static ssize_t recorder_read(void *cookie, char *buf, size_t n)
{
    recorder *r = cookie;
    size_t got = fread(buf, 1, n, stdin);
    if (got == 0 && ferror(stdin)) return -1;
    size_t keep = r->len < HEAD_MAX ? HEAD_MAX - r->len : 0;
    if (keep > got) keep = got;
    if (keep > 0 && r->len + keep > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < r->len + keep) cap *= 2;
        unsigned char *h = realloc(r->head, cap);
        if (h == NULL) keep = 0; /* no record: the message is then less precise, nothing else */
        else {
            r->head = h;
            r->cap = cap;
        }
    }
    if (keep > 0) {
        memcpy(r->head + r->len, buf, keep);
        r->len += keep;
    }
    return (ssize_t)got;
}

static FILE *stdin_recorded(void)
{
    if (stdin_stream == NULL) {
        cookie_io_functions_t io = {recorder_read, NULL, NULL, NULL};
        stdin_stream = fopencookie(&stdin_rec, "rb", io);
        if (stdin_stream != NULL) setvbuf(stdin_stream, NULL, _IONBF, 0);
    }
    stdin_rec.len = 0;
    return stdin_stream;
}

/* The first bytes of a file, up to HEAD_MAX, in a malloc'd buffer (NULL if unreadable). */
static unsigned char *file_head(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    unsigned char *b = malloc(HEAD_MAX);
    *len = b ? fread(b, 1, HEAD_MAX, f) : 0;
    fclose(f);
    return b;
}

/* "(2, 3)" for a header's shape. */
static const char *header_shape(const nnla_npy_header *h, char *buf, size_t n)
{
    nnla_array a;
    memset(&a, 0, sizeof a);
    a.ndim = h->ndim;
    for (size_t i = 0; i < h->ndim && i < NNLA_NPY_MAX_DIMS; i++) a.shape[i] = h->shape[i];
    return cli_shape(&a, buf, n);
}

/* Explain why the reader refused an array: st from the reader, head the stream's first bytes. */
static void report_refused(const cli_command *cmd, const char *what, const char *name, int from_stdin,
                           nnla_status st, const unsigned char *head, size_t len)
{
    nnla_npy_diagnosis d;
    if (head == NULL || nnla_npy_diagnose(head, len, &d) != NNLA_OK) {
        cli_error(cmd, "%s from %s: %s (%s)", what, name, nnla_strerror(st), nnla_status_name(st));
        return;
    }
    int dl = d.descr_len > 40 ? 40 : (int)d.descr_len; /* a structured dtype's list can be long */
    const char *more = d.descr_len > 40 ? "..." : "";
    nnla_npy_header h;
    char sh[256];
    switch (d.verdict) {
    case NNLA_NPY_EMPTY:
        if (from_stdin)
            cli_error(cmd, "%s: standard input is empty (no array left to read)", what);
        else
            cli_error(cmd, "%s from %s: the file is empty", what, name);
        return;
    case NNLA_NPY_NPZ:
        cli_error(cmd,
                  "%s from %s is a .npz archive (numpy.savez), not a .npy file; save the array itself with "
                  "numpy.save, e.g. np.save('%s.npy', np.load(%s)['NAME'])",
                  what, name, what, from_stdin ? "'archive.npz'" : name);
        return;
    case NNLA_NPY_NOT_NPY:
        cli_error(cmd, "%s from %s is not a .npy file (it does not start with the .npy magic string)", what,
                  name);
        return;
    case NNLA_NPY_TRUNCATED:
        cli_error(cmd, "%s from %s is not a valid .npy file: it ends within its header (truncated)", what,
                  name);
        return;
    case NNLA_NPY_MALFORMED:
        cli_error(cmd, "%s from %s is not a valid .npy file: malformed header", what, name);
        return;
    case NNLA_NPY_BAD_VERSION:
        cli_error(cmd, "%s from %s: .npy format version %u.%u is not read (1.0, 2.0 and 3.0 are)", what, name,
                  d.version_major, d.version_minor);
        return;
    case NNLA_NPY_BAD_DTYPE:
        cli_error(cmd,
                  "%s from %s: unsupported dtype '%.*s%s' (float64, float32, int8-int64, uint8-uint64 and "
                  "bool are read); convert it first, e.g. np.save(path, a.astype(np.float64))",
                  what, name, dl, d.descr ? d.descr : "", more);
        return;
    case NNLA_NPY_TOO_MANY_DIMS:
        cli_error(cmd, "%s from %s: more than %d dimensions", what, name, NNLA_NPY_MAX_DIMS);
        return;
    case NNLA_NPY_TOO_LARGE:
        cli_error(cmd, "%s from %s: the array's shape is too large", what, name);
        return;
    case NNLA_NPY_READABLE:
        break;
    }
    /* The header is fine: the data is at fault. */
    if (st == NNLA_EINEXACT) {
        cli_error(cmd,
                  "%s from %s: an integer of dtype '%.*s' is beyond 2^53 in magnitude, which no double holds "
                  "exactly; if rounding is acceptable, convert it first: np.save(path, a.astype(np.float64))",
                  what, name, dl, d.descr ? d.descr : "");
    } else if (st == NNLA_EFORMAT && nnla_npy_parse_header(head, len, &h) == NNLA_OK) {
        cli_error(cmd, "%s from %s is not a valid .npy file: its data is shorter than its shape %s calls for "
                       "(truncated)",
                  what, name, header_shape(&h, sh, sizeof sh));
    } else {
        cli_error(cmd, "%s from %s: %s (%s)", what, name, nnla_strerror(st), nnla_status_name(st));
    }
}

int cli_load(const cli_command *cmd, const char *path, const char *what, nnla_array *a)
{
    int from_stdin = strcmp(path, "-") == 0;
    char nb[4200];
    const char *name = cli_name(path, 0, nb, sizeof nb);
    nnla_status st;
    errno = 0;
    if (from_stdin) {
        FILE *in = stdin_recorded();
        st = in ? nnla_npy_read_file(in, a) : NNLA_ENOMEM;
    } else {
        st = nnla_npy_read(path, a);
    }
    if (st == NNLA_OK) return 1;
    if (st == NNLA_EIO) {
        cli_error(cmd, "cannot read %s from %s: %s", what, name, errno ? strerror(errno) : nnla_strerror(st));
        return 0;
    }
    if (st == NNLA_ENOMEM) {
        cli_error(cmd, "cannot read %s from %s: out of memory", what, name);
        return 0;
    }
    if (from_stdin) {
        report_refused(cmd, what, name, 1, st, stdin_rec.head ? stdin_rec.head : (const unsigned char *)"",
                       stdin_rec.len);
    } else {
        size_t len = 0;
        unsigned char *head = file_head(path, &len);
        report_refused(cmd, what, name, 0, st, head, len);
        free(head);
    }
    return 0;
}

/* ------------------------------------------------------------------ writing */

/* Report a failed write of the output called name; errno (saved by the caller) explains it. */
static void report_write(const cli_command *cmd, const char *name, nnla_status st, int err)
{
    if (st == NNLA_EIO || st == NNLA_OK)
        cli_error(cmd, "cannot write %s: %s", name, err ? strerror(err) : "input/output error");
    else
        cli_error(cmd, "cannot write %s: %s", name, nnla_strerror(st));
}

/* What an output file holds: written to a stream by write(f, arg). */
typedef nnla_status (*cli_writer)(FILE *f, const void *arg);

typedef struct npy_job {
    const double *data;
    size_t ndim;
    const size_t *shape;
} npy_job;

static nnla_status write_npy(FILE *f, const void *arg)
{
    const npy_job *j = arg;
    return nnla_npy_write_file(f, j->data, j->ndim, j->shape);
}

typedef struct bytes_job {
    const void *buf;
    size_t size;
} bytes_job;

static nnla_status write_bytes(FILE *f, const void *arg)
{
    const bytes_job *j = arg;
    return fwrite(j->buf, 1, j->size, f) == j->size ? NNLA_OK : NNLA_EIO;
}

/* The contents to f, flushed and (for a file) synced to disk. */
static nnla_status write_stream(FILE *f, cli_writer write, const void *arg, int sync)
{
    nnla_status st = write(f, arg);
    if (st == NNLA_OK && fflush(f) != 0) st = NNLA_EIO;
    if (st == NNLA_OK && sync && fsync(fileno(f)) != 0) st = NNLA_EIO;
    return st;
}

/* path's directory ("." when it has none) and last component, malloc'd. */
static int split_path(const char *path, char **dir, char **base)
{
    const char *slash = strrchr(path, '/');
    size_t dl = slash == NULL ? 1 : slash == path ? 1 : (size_t)(slash - path);
    *dir = malloc(dl + 1);
    *base = strdup(slash ? slash + 1 : path);
    if (*dir == NULL || *base == NULL) {
        free(*dir);
        free(*base);
        return 0;
    }
    memcpy(*dir, slash == NULL ? "." : path, dl);
    (*dir)[dl] = '\0';
    return 1;
}

static int stage(const cli_command *cmd, cli_outputs *o, const char *path, cli_writer write, const void *arg)
{
    char nb[4200];
    const char *name = cli_name(path, 1, nb, sizeof nb);
    if (strcmp(path, "-") == 0) { /* standard output: written now, as a stream */
        errno = 0;
        nnla_status st = write_stream(stdout, write, arg, 0);
        if (st != NNLA_OK) report_write(cmd, name, st, errno);
        return st == NNLA_OK;
    }
    if (o->n >= CLI_MAX_OUTPUTS) {
        cli_error(cmd, "internal error: too many outputs");
        return 0;
    }

    /* Where the file goes, and with which permissions. */
    struct stat stt;
    char *target = NULL;
    mode_t mask = umask(0);
    umask(mask);
    mode_t mode = 0666 & ~mask; /* as a new file gets them */
    int in_place = 0;
    errno = 0;
    if (lstat(path, &stt) != 0) {
        if (errno != ENOENT) {
            report_write(cmd, name, NNLA_EIO, errno);
            return 0;
        }
        stt.st_mode = 0; /* a new file */
    } else if (S_ISLNK(stt.st_mode)) {
        /* A symbolic link: replace what it points to, not the link. */
        target = realpath(path, NULL);
        if (target == NULL || stat(target, &stt) != 0) in_place = 1; /* dangling: let the system follow it */
    }
    if (!in_place && S_ISDIR(stt.st_mode)) {
        free(target);
        report_write(cmd, name, NNLA_EIO, EISDIR);
        return 0;
    }
    if (!in_place && stt.st_mode != 0 && !S_ISREG(stt.st_mode)) in_place = 1; /* /dev/null, a FIFO... */
    if (!in_place && S_ISREG(stt.st_mode)) mode = stt.st_mode & 0777; /* an existing file keeps its own */
    if (in_place) {
        /* Not a regular file: nothing to replace atomically; write through it now. */
        free(target);
        errno = 0;
        FILE *f = fopen(path, "wb");
        nnla_status st = f ? write_stream(f, write, arg, 0) : NNLA_EIO;
        int err = errno;
        if (f != NULL && fclose(f) != 0 && st == NNLA_OK) st = NNLA_EIO, err = errno;
        if (st != NNLA_OK) report_write(cmd, name, st, err);
        return st == NNLA_OK;
    }
    if (target == NULL && (target = strdup(path)) == NULL) {
        cli_error(cmd, "out of memory");
        return 0;
    }

    /* A temporary beside the target: same directory, so the rename is atomic. */
    char *dir, *base;
    if (!split_path(target, &dir, &base)) {
        free(target);
        cli_error(cmd, "out of memory");
        return 0;
    }
    size_t tl = strlen(dir) + strlen(base) + 32;
    char *tmp = malloc(tl);
    if (tmp == NULL) {
        free(dir);
        free(base);
        free(target);
        cli_error(cmd, "out of memory");
        return 0;
    }
    snprintf(tmp, tl, "%s/.%.64s.nnla-XXXXXX", dir, base);
    free(dir);
    free(base);
    errno = 0;
    int fd = mkstemp(tmp);
    if (fd < 0) {
        report_write(cmd, name, NNLA_EIO, errno);
        free(tmp);
        free(target);
        return 0;
    }
    nnla_status st = NNLA_EIO;
    int err = 0;
    FILE *f = NULL;
    if (fchmod(fd, mode) != 0 || (f = fdopen(fd, "wb")) == NULL) {
        err = errno;
        close(fd);
    } else {
        errno = 0;
        st = write_stream(f, write, arg, 1);
        err = errno;
        if (fclose(f) != 0 && st == NNLA_OK) {
            st = NNLA_EIO;
            err = errno;
        }
    }
    if (st != NNLA_OK) {
        unlink(tmp);
        report_write(cmd, name, st, err);
        free(tmp);
        free(target);
        return 0;
    }
    char *given = strdup(path);
    if (given == NULL) {
        unlink(tmp);
        free(tmp);
        free(target);
        cli_error(cmd, "out of memory");
        return 0;
    }
    o->files[o->n].target = target;
    o->files[o->n].tmp = tmp;
    o->files[o->n].name = given;
    o->n++;
    return 1;
}

int cli_stage(const cli_command *cmd, cli_outputs *o, const char *path, const double *data, size_t ndim,
              const size_t *shape)
{
    npy_job j = {data, ndim, shape};
    return stage(cmd, o, path, write_npy, &j);
}

int cli_stage_bytes(const cli_command *cmd, cli_outputs *o, const char *path, const void *buf, size_t size)
{
    bytes_job j = {buf, size};
    return stage(cmd, o, path, write_bytes, &j);
}

void cli_discard(cli_outputs *o)
{
    for (size_t i = 0; i < o->n; i++) {
        if (o->files[i].tmp != NULL) unlink(o->files[i].tmp);
        free(o->files[i].tmp);
        free(o->files[i].target);
        free(o->files[i].name);
    }
    o->n = 0;
}

int cli_commit(const cli_command *cmd, cli_outputs *o)
{
    int ok = 1;
    for (size_t i = 0; i < o->n && ok; i++) {
        if (rename(o->files[i].tmp, o->files[i].target) != 0) {
            int err = errno;
            char nb[4200];
            report_write(cmd, cli_name(o->files[i].name, 1, nb, sizeof nb), NNLA_EIO, err);
            ok = 0; /* the temporaries from here on are removed below */
            break;
        }
        /* Renamed: the directory now holds it; sync the directory so that the rename lasts. */
        char *dir, *base;
        if (split_path(o->files[i].target, &dir, &base)) {
            int dfd = open(dir, O_RDONLY | O_DIRECTORY);
            if (dfd >= 0) {
                (void)fsync(dfd); /* best effort: the file is in place either way */
                close(dfd);
            }
            free(dir);
            free(base);
        }
        free(o->files[i].tmp);
        o->files[i].tmp = NULL;
    }
    cli_discard(o);
    return ok;
}

int cli_save(const cli_command *cmd, const char *path, const double *data, size_t ndim,
             const size_t *shape)
{
    cli_outputs o = {0};
    if (!cli_stage(cmd, &o, path, data, ndim, shape)) {
        cli_discard(&o);
        return 0;
    }
    return cli_commit(cmd, &o);
}

int cli_save_bytes(const cli_command *cmd, const char *path, const void *buf, size_t size)
{
    cli_outputs o = {0};
    if (!cli_stage_bytes(cmd, &o, path, buf, size)) {
        cli_discard(&o);
        return 0;
    }
    return cli_commit(cmd, &o);
}
