/*
 * The `nnla` command-line program: shared declarations.
 *
 * Each command is one entry of the table in main.c: a name, a function, a one-line summary and
 * its --help text. A new command (pca, compress, inspect, ...) is a function in a cmd_*.c file
 * plus one line in that table. Commands use only libnnla's public API; the helpers here parse
 * options and numbers strictly, read and write .npy files, and report errors on stderr.
 *
 * Exit codes: 0 success (and --help), 1 failure (unreadable or malformed input, shapes that do
 * not fit, a library error, an unwritable output), 2 usage error (unknown command or option,
 * missing argument, malformed number or activation name).
 */
#ifndef NNLA_CLI_H
#define NNLA_CLI_H

#include <stddef.h>
#include <stdio.h>

#include <nnla.h>

enum { CLI_EXIT_OK = 0, CLI_EXIT_FAIL = 1, CLI_EXIT_USAGE = 2 };

/* cli_parse()'s result when the command should go on (not an exit code). */
#define CLI_CONTINUE (-1)

typedef struct cli_command cli_command;

/* A command: run(cmd, argc, argv) gets argv[0] == the command's name; returns an exit code. */
struct cli_command {
    const char *name;
    int (*run)(const cli_command *cmd, int argc, char **argv);
    const char *summary; /* one line, for `nnla --help` */
    const char *help;    /* the full text of `nnla NAME --help` */
};

/* An option of a command: "--name VALUE" / "--name=VALUE", or a flag "--name". */
typedef struct cli_opt {
    const char *name;  /* with its dashes, e.g. "--out" */
    int takes_value;   /* 1: needs a value; 0: a flag */
    int given;         /* set by cli_parse() */
    const char *value; /* set by cli_parse() for options with a value */
} cli_opt;

/* Print "nnla CMD: error: ..." on stderr. */
void cli_error(const cli_command *cmd, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* cli_error() plus a hint to --help; returns CLI_EXIT_USAGE. */
int cli_usage_error(const cli_command *cmd, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/*
 * Parse argv[1..argc-1] (argv[0] is the command's name): options from opts, "-h"/"--help",
 * "--" to end the options, and between min_pos and max_pos positional arguments (a lone "-" is
 * positional). Returns CLI_CONTINUE, CLI_EXIT_OK after printing the help, or CLI_EXIT_USAGE
 * after reporting the error. An option given twice is an error.
 */
int cli_parse(const cli_command *cmd, int argc, char **argv, cli_opt *opts, size_t nopts,
              const char **pos, size_t min_pos, size_t max_pos, size_t *npos);

/* A strict decimal size: one or more digits, nothing else (no sign, space or suffix; leading zeros
 * and any length are fine), whose value fits size_t. 1 on success. */
int cli_parse_size(const char *text, size_t *value);

/* The first len characters of text as cli_parse_size() reads a whole string. 1 on success. */
int cli_parse_size_n(const char *text, size_t len, size_t *value);

/* "N" (both set to N) or "A,B", each number as cli_parse_size(). 1 on success; on failure *a and
 * *b are untouched. */
int cli_parse_pair(const char *text, size_t *a, size_t *b);

/* An option's size or pair value, reporting a usage error (returns CLI_EXIT_USAGE) or CLI_CONTINUE. */
int cli_opt_size(const cli_command *cmd, const cli_opt *opt, size_t *value, int positive);
int cli_opt_pair(const cli_command *cmd, const cli_opt *opt, size_t *a, size_t *b, int positive);

/* A strict real number: strtod's syntax, nothing before or after, finite. 1 on success. */
int cli_parse_real(const char *text, double *value);

/* An option's real value as cli_parse_real() reads it, reporting a usage error (returns
 * CLI_EXIT_USAGE) or CLI_CONTINUE. */
int cli_opt_real(const cli_command *cmd, const cli_opt *opt, double *value);

/*
 * Print a command's help text. CLI_HELP_ACTIVATIONS in the text becomes the list of activations
 * the library knows (nnla_act_info_get: "identity, sigmoid[:BETA], ..."), so the program keeps no
 * copy of their names.
 */
#define CLI_HELP_ACTIVATIONS "@ACTIVATIONS@"
void cli_print_help(const char *help, FILE *out);

/* NAME[:PARAM] through nnla_act_parse(); on failure says what is wrong (an unknown name, a parameter
 * given to a kind without one, a malformed number, a value out of range) and lists the names.
 * CLI_CONTINUE or CLI_EXIT_USAGE. */
int cli_parse_act(const cli_command *cmd, const char *text, nnla_act *act);

/* How messages name a file: 'PATH' in quotes, or "standard input" / "standard output" for "-". */
const char *cli_name(const char *path, int output, char *buf, size_t n);

/*
 * Read a .npy file ("-" is standard input; several "-" inputs read one array after another);
 * what names it in messages ("X"). On failure the message says why, through nnla_npy_diagnose()
 * (an empty input, a .npz archive, a dtype not read and how to convert it, ...). 1 on success.
 */
int cli_load(const cli_command *cmd, const char *path, const char *what, nnla_array *a);

/*
 * Outputs. A file is written to a temporary beside it (mkstemp in the same directory, then
 * fsync) and renamed into place only when complete, so a reader sees the old file or the new
 * one, never a part or a mixture (a failed write, a full disk, `ulimit -f`, two runs writing
 * one path). The new file gets the permissions an existing file had, else 0666 & ~umask. A
 * symbolic link is followed (its target is replaced); a target that is not a regular file
 * (/dev/null, a FIFO) is written through in place; "-" is standard output, written at once.
 *
 * A set of files (svd's P_U, P_S, P_Vt) is all or nothing: cli_stage() each one, then
 * cli_commit() renames them all; after a failed stage, cli_discard() removes the temporaries
 * written so far. Each function reports its own errors.
 */
#define CLI_MAX_OUTPUTS 8
typedef struct cli_outputs {
    struct {
        char *target;     /* the path to replace (a symbolic link resolved) */
        char *tmp;        /* the temporary beside it */
        char *name;       /* the path as given, for messages */
    } files[CLI_MAX_OUTPUTS];
    size_t n;
} cli_outputs;

/* Write one array of a set to its temporary (standard output and non-regular targets: now). 1 on success. */
int cli_stage(const cli_command *cmd, cli_outputs *o, const char *path, const double *data, size_t ndim,
              const size_t *shape);
/* Rename every staged file into place; on a failure the rest are removed. 1 on success. */
int cli_commit(const cli_command *cmd, cli_outputs *o);
/* Remove the temporaries not renamed (after a failure). */
void cli_discard(cli_outputs *o);

/* One output: cli_stage() and cli_commit(). 1 on success. */
int cli_save(const cli_command *cmd, const char *path, const double *data, size_t ndim,
             const size_t *shape);

/* The same for bytes that are not an array (an ONNX model): staged, committed, reported. */
int cli_stage_bytes(const cli_command *cmd, cli_outputs *o, const char *path, const void *buf, size_t size);
int cli_save_bytes(const cli_command *cmd, const char *path, const void *buf, size_t size);

/* The product of n sizes; 0 when it overflows size_t (or a factor is 0). */
size_t cli_product(const size_t *f, size_t n);

/* "(2, 3)", as NumPy prints a shape. */
const char *cli_shape(const nnla_array *a, char *buf, size_t n);

/* Report a failed library call: "nnla CMD: error: WHAT: MESSAGE (NNLA_E...)"; returns CLI_EXIT_FAIL. */
int cli_lib_error(const cli_command *cmd, const char *what, nnla_status st);

/* The commands (cmd_*.c). */
int cli_cmd_svd(const cli_command *cmd, int argc, char **argv);
int cli_cmd_eigh(const cli_command *cmd, int argc, char **argv);
int cli_cmd_dense(const cli_command *cmd, int argc, char **argv);
int cli_cmd_conv2d(const cli_command *cmd, int argc, char **argv);
int cli_cmd_act(const cli_command *cmd, int argc, char **argv);
int cli_cmd_pool(const cli_command *cmd, int argc, char **argv);
int cli_cmd_inspect(const cli_command *cmd, int argc, char **argv); extern const char cli_help_inspect[];
int cli_cmd_specnorm(const cli_command *cmd, int argc, char **argv); extern const char cli_help_specnorm[];
int cli_cmd_init(const cli_command *cmd, int argc, char **argv); extern const char cli_help_init[];
int cli_cmd_lowrank(const cli_command *cmd, int argc, char **argv);
int cli_cmd_pca(const cli_command *cmd, int argc, char **argv);

/* `nnla svd --randomized` (cmd_lowrank.c): rank K of A, outputs P_S (and P_U, P_Vt), options parsed here. */
int cli_svd_randomized(const cli_command *cmd, nnla_cmat a, size_t rank, int values_only, const char *prefix,
                       const cli_opt *oversample, const cli_opt *power_iters, const cli_opt *seed);

extern const char cli_help_svd[], cli_help_eigh[], cli_help_dense[], cli_help_conv2d[], cli_help_act[],
    cli_help_pool[], cli_help_lowrank[], cli_help_pca[];

#if NNLA_HAVE_ONNX /* cmd_onnx.c, built with the ONNX module */
int cli_cmd_run(const cli_command *cmd, int argc, char **argv);
int cli_cmd_convert(const cli_command *cmd, int argc, char **argv);
int cli_cmd_compress(const cli_command *cmd, int argc, char **argv);
int cli_cmd_train(const cli_command *cmd, int argc, char **argv);
extern const char cli_help_run[], cli_help_convert[], cli_help_compress[], cli_help_train[];
/* `nnla inspect MODEL.onnx`: one row per layer and the Lipschitz bound (rank_tol as --rank-tol;
 * spectrum: also every weight's singular values). Returns an exit code. */
int cli_inspect_model(const cli_command *cmd, const char *path, double rank_tol, int spectrum);
#endif

#endif /* NNLA_CLI_H */
