/*
 * cli: the `sao` binary. One cmd_<name>.c per subcommand, registered in the table in main.c;
 * this header holds what they share (option parsing, error printing).
 */
#ifndef SAO_CLI_H
#define SAO_CLI_H

#include <stdio.h>

#include "core/core.h"

typedef struct sao_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
    void (*help)(FILE *out);
} sao_command;

/* Exit codes shared by every subcommand. */
enum { SAO_EXIT_OK = 0, SAO_EXIT_FAIL = 1, SAO_EXIT_USAGE = 2 };

/* Long-option scanning: `--name value` or `--name=value`. Returns 1 and sets *value when
 * argv[*i] is the option (advancing *i past a separate value); 0 when it is not; -1 (after
 * printing an error) when the value is missing. */
int sao_cli_option(int argc, char **argv, int *i, const char *name, const char **value);
/* Whether argv[i] is the flag `--name`. */
int sao_cli_flag(const char *arg, const char *name);
/* Prints "sao <cmd>: <message>: <last error>" to stderr and returns SAO_EXIT_FAIL. */
int sao_cli_fail(const char *cmd, int rc, const char *what);
/* Parses a --from/--to date, printing a usage error. */
int sao_cli_date(const char *cmd, const char *opt, const char *value, int64_t *out);
/* Parses a date (UTC midnight), YYYY-MM-DDTHH:MM[:SS][Z] or "now" into microseconds. */
int sao_cli_timestamp(const char *cmd, const char *what, const char *value, int64_t *out_us);
/* Applies SAO_LOG_LEVEL / SAO_LOG_FORMAT. */
int sao_cli_setup_logging(void);

int sao_cmd_ingest(int argc, char **argv);
void sao_cmd_ingest_help(FILE *out);
int sao_cmd_export(int argc, char **argv);
void sao_cmd_export_help(FILE *out);
int sao_cmd_config(int argc, char **argv);
void sao_cmd_config_help(FILE *out);
int sao_cmd_apply(int argc, char **argv);
void sao_cmd_apply_help(FILE *out);
int sao_cmd_materialize(int argc, char **argv);
void sao_cmd_materialize_help(FILE *out);
int sao_cmd_materialize_incremental(int argc, char **argv);
void sao_cmd_materialize_incremental_help(FILE *out);
int sao_cmd_features(int argc, char **argv);
void sao_cmd_features_help(FILE *out);
int sao_cmd_demo(int argc, char **argv);
void sao_cmd_demo_help(FILE *out);
/* The demo universe's ingestion (Yahoo, else local CSV files); returns the tickers ingested. */
size_t sao_cli_demo_ingest(int offline);
int sao_cmd_up(int argc, char **argv);
void sao_cmd_up_help(FILE *out);
int sao_cmd_train(int argc, char **argv);
void sao_cmd_train_help(FILE *out);
int sao_cmd_evaluate(int argc, char **argv);
void sao_cmd_evaluate_help(FILE *out);
int sao_cmd_predict(int argc, char **argv);
void sao_cmd_predict_help(FILE *out);
int sao_cmd_serve(int argc, char **argv);
void sao_cmd_serve_help(FILE *out);

#endif
