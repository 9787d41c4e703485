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

/* A strict decimal size: digits only (no sign, space or suffix), no overflow. 1 on success. */
int cli_parse_size(const char *text, size_t *value);

/* "N" (both set to N) or "A,B", each as cli_parse_size(). 1 on success. */
int cli_parse_pair(const char *text, size_t *a, size_t *b);

/* An option's size or pair value, reporting a usage error (returns CLI_EXIT_USAGE) or CLI_CONTINUE. */
int cli_opt_size(const cli_command *cmd, const cli_opt *opt, size_t *value, int positive);
int cli_opt_pair(const cli_command *cmd, const cli_opt *opt, size_t *a, size_t *b, int positive);

/* NAME[:PARAM] through nnla_act_parse(); on failure lists the names. CLI_CONTINUE or CLI_EXIT_USAGE. */
int cli_parse_act(const cli_command *cmd, const char *text, nnla_act *act);

/* Read a .npy file ("-" is standard input); what names it in messages ("X"). 1 on success. */
int cli_load(const cli_command *cmd, const char *path, const char *what, nnla_array *a);

/* Write a .npy file ("-" is standard output). 1 on success. */
int cli_save(const cli_command *cmd, const char *path, const double *data, size_t ndim,
             const size_t *shape);

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
int cli_cmd_lowrank(const cli_command *cmd, int argc, char **argv);
int cli_cmd_pca(const cli_command *cmd, int argc, char **argv);

/* `nnla svd --randomized` (cmd_lowrank.c): rank K of A, outputs P_S (and P_U, P_Vt), options parsed here. */
int cli_svd_randomized(const cli_command *cmd, nnla_cmat a, size_t rank, int values_only, const char *prefix,
                       const cli_opt *oversample, const cli_opt *power_iters, const cli_opt *seed);

extern const char cli_help_svd[], cli_help_eigh[], cli_help_dense[], cli_help_conv2d[], cli_help_act[],
    cli_help_pool[], cli_help_lowrank[], cli_help_pca[];

#endif /* NNLA_CLI_H */
