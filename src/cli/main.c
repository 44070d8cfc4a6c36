/*
 * `sao`: entry point and the table of subcommands. A new subcommand is one cmd_<name>.c and
 * one row here.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int cmd_version(int argc, char **argv);
static void cmd_version_help(FILE *out);

static const sao_command commands[] = {
    {"up", "Run the whole local stack: Redis, demo data, features, models, the API (main job)",
     sao_cmd_up, sao_cmd_up_help},
    {"demo", "Ingest a demo universe and show where the data is", sao_cmd_demo,
     sao_cmd_demo_help},
    {"ingest", "Fetch or import daily bars, validate, compute indicators, store", sao_cmd_ingest,
     sao_cmd_ingest_help},
    {"export", "Print a ticker's stored bars and indicators as CSV or JSON", sao_cmd_export,
     sao_cmd_export_help},
    {"apply", "Validate the feature repository, update the registry, write features.py",
     sao_cmd_apply, sao_cmd_apply_help},
    {"materialize", "Write the newest offline rows in [START, END] to the Redis online store",
     sao_cmd_materialize, sao_cmd_materialize_help},
    {"materialize-incremental", "Materialize from where each view last stopped up to END",
     sao_cmd_materialize_incremental, sao_cmd_materialize_incremental_help},
    {"features", "Read features: online from Redis, or point-in-time from the offline store",
     sao_cmd_features, sao_cmd_features_help},
    {"train", "Train a forecaster on a ticker's stored data and register a version",
     sao_cmd_train, sao_cmd_train_help},
    {"evaluate", "Print a registered model's test-split metrics against the baselines",
     sao_cmd_evaluate, sao_cmd_evaluate_help},
    {"predict", "Forecast a ticker's next closes with its serving model (online window)",
     sao_cmd_predict, sao_cmd_predict_help},
    {"serve", "Serve the REST API: forecasts, data, models, training, /docs, /metrics",
     sao_cmd_serve, sao_cmd_serve_help},
    {"config", "Print every setting with its effective value (secrets masked)", sao_cmd_config,
     sao_cmd_config_help},
    {"version", "Print the version", cmd_version, cmd_version_help},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: sao <command> [options]\n\n"
                 "stock-agent-ops: market data in, indicators and forecasts out.\n\n"
                 "commands:\n");
    for (size_t i = 0; i < SAO_ARRAY_LEN(commands); i++)
        fprintf(out, "  %-24s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nRun 'sao <command> --help' for a command's options; 'sao config' lists the "
                 "SAO_* environment settings.\n");
}

static int cmd_version(int argc, char **argv)
{
    printf("sao %s\n", SAO_VERSION);
    return SAO_EXIT_OK;
}

static void cmd_version_help(FILE *out)
{
    fprintf(out, "usage: sao version\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return SAO_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        usage(stdout);
        return SAO_EXIT_OK;
    }
    if (strcmp(name, "--version") == 0) return cmd_version(0, NULL);
    for (size_t i = 0; i < SAO_ARRAY_LEN(commands); i++) {
        if (strcmp(commands[i].name, name) != 0) continue;
        for (int a = 2; a < argc; a++) {
            if (strcmp(argv[a], "--") == 0) break;
            if (strcmp(argv[a], "--help") == 0 || strcmp(argv[a], "-h") == 0) {
                commands[i].help(stdout);
                return SAO_EXIT_OK;
            }
        }
        if (sao_cli_setup_logging() != 0) {
            fprintf(stderr, "sao: %s\n", sao_error_last());
            return SAO_EXIT_USAGE;
        }
        return commands[i].run(argc - 1, argv + 1);
    }
    fprintf(stderr, "sao: unknown command '%s'\n\n", name);
    usage(stderr);
    return SAO_EXIT_USAGE;
}
