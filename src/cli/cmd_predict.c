/*
 * `sao predict TICKER`: forecasts the next closes of a ticker with its serving model, from the
 * online store's window (what `sao materialize` wrote), next to the persistence and drift
 * baselines; through the Redis prediction cache unless told not to.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "pipelines/pipelines.h"

void sao_cmd_predict_help(FILE *out)
{
    fprintf(out,
            "usage: sao predict TICKER [--no-cache] [--json] [--repo DIR]\n\n"
            "Forecasts TICKER's next closes with its serving model (run 'sao train' first) from\n"
            "the window of recent bars in the online store (run 'sao materialize-incremental'\n"
            "first), for the next trading days of its calendar (the NYSE's days, holidays left\n"
            "out, for stocks and indices; weekdays for FX and futures; every day for crypto).\n"
            "Prints the as-of bar, then per day the predicted close, persistence (the last\n"
            "close) and drift (the last close compounded by the training mean return).\n\n"
            "  --no-cache   compute the forecast even when the prediction cache holds it\n"
            "               (SAO_PREDICT_CACHE=0 turns the cache off altogether)\n"
            "  --json       print the forecast as one JSON object\n"
            "  --repo DIR   feature repository (default: SAO_FEATURE_REPO)\n\n"
            "Exit status: 0 on success, 1 on failure (no model, no online window, Redis\n"
            "unreachable), 2 on usage errors.\n");
}

/* Cents for prices of a unit or more, significant digits below (a coin worth 0.0004). */
static void format_price(char *buf, size_t size, double v)
{
    if (fabs(v) >= 1.0)
        snprintf(buf, size, "%.2f", v);
    else
        snprintf(buf, size, "%.6g", v);
}

static void print_table(const sao_forecast *fc)
{
    char as_of[16], day[16], last[32], pred[32], persist[32], drift[32];
    sao_date_format(fc->as_of_day, as_of, sizeof(as_of));
    format_price(last, sizeof(last), fc->last_close);
    printf("%s (%s): %d-day forecast as of %s (close %s)\n", fc->ticker,
           sao_asset_class_name(fc->asset_class), fc->horizon, as_of, last);
    printf("model v%d (%s%s%s), %s in %.2f ms\n", fc->model_version, fc->arch,
           fc->parent_ticker[0] ? ", from " : "", fc->parent_ticker,
           fc->cached ? "from the prediction cache" : "computed", fc->seconds * 1e3);
    printf("\n%-12s %14s %14s %14s\n", "date", "predicted", "persistence", "drift");
    for (int k = 0; k < fc->horizon; k++) {
        sao_date_format(fc->day[k], day, sizeof(day));
        format_price(pred, sizeof(pred), fc->close[k]);
        format_price(persist, sizeof(persist), fc->last_close);
        format_price(drift, sizeof(drift), fc->drift[k]);
        printf("%-12s %14s %14s %14s\n", day, pred, persist, drift);
    }
}

/* Numbers as %.17g: they read back as the same doubles. Tickers need no escaping (their
 * characters are [A-Z0-9.^=-]). */
static void print_json(const sao_forecast *fc)
{
    char as_of[16], day[16];
    sao_date_format(fc->as_of_day, as_of, sizeof(as_of));
    printf("{\"ticker\":\"%s\",\"asset_class\":\"%s\",\"as_of\":\"%s\",\"last_close\":%.17g,"
           "\"horizon\":%d,\"model\":{\"version\":%d,\"arch\":\"%s\",\"parent\":",
           fc->ticker, sao_asset_class_name(fc->asset_class), as_of, fc->last_close, fc->horizon,
           fc->model_version, fc->arch);
    if (fc->parent_ticker[0])
        printf("\"%s\"", fc->parent_ticker);
    else
        printf("null");
    printf("},\"cached\":%s,\"seconds\":%.9f,\"forecast\":[", fc->cached ? "true" : "false",
           fc->seconds);
    for (int k = 0; k < fc->horizon; k++) {
        sao_date_format(fc->day[k], day, sizeof(day));
        printf("%s{\"date\":\"%s\",\"close\":%.17g,\"persistence\":%.17g,\"drift\":%.17g}",
               k ? "," : "", day, fc->close[k], fc->last_close, fc->drift[k]);
    }
    printf("]}\n");
}

int sao_cmd_predict(int argc, char **argv)
{
    const char *ticker = NULL, *repo_dir = NULL, *v;
    int json = 0, use_cache = 1;
    for (int i = 1; i < argc; i++) {
        int r;
        if ((r = sao_cli_option(argc, argv, &i, "repo", &v)) != 0) {
            if (r < 0) goto usage;
            repo_dir = v;
        } else if (sao_cli_flag(argv[i], "json")) {
            json = 1;
        } else if (sao_cli_flag(argv[i], "no-cache")) {
            use_cache = 0;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "sao predict: unknown option '%s'\n", argv[i]);
            goto usage;
        } else if (ticker) {
            fprintf(stderr, "sao predict: one ticker at a time\n");
            goto usage;
        } else {
            if (sao_ticker_validate(argv[i]) != 0) {
                fprintf(stderr, "sao predict: %s\n", sao_error_last());
                goto usage;
            }
            ticker = argv[i];
        }
    }
    if (!ticker) {
        fprintf(stderr, "sao predict: no ticker given\n");
        goto usage;
    }

    sao_fs_repo *repo = NULL;
    sao_inference *inf = NULL;
    sao_inference_options opts;
    sao_forecast fc;
    int status = SAO_EXIT_OK;
    int rc = sao_fs_repo_load(&repo, repo_dir);
    if (rc) return sao_cli_fail("predict", rc, "invalid feature repository");
    sao_inference_options_init(&opts);
    opts.repo = repo;
    opts.connections = 1; /* one request: one connection */
    if ((rc = sao_config_get_bool("SAO_PREDICT_CACHE", &opts.cache)) ||
        (rc = sao_inference_new(&inf, &opts))) {
        status = sao_cli_fail("predict", rc, "cannot start inference");
        goto done;
    }
    if ((rc = sao_inference_predict(inf, &fc, ticker, use_cache))) {
        status = sao_cli_fail("predict", rc, ticker);
        goto done;
    }
    if (json)
        print_json(&fc);
    else
        print_table(&fc);
    if (fflush(stdout) != 0) status = SAO_EXIT_FAIL;
done:
    sao_inference_free(inf);
    sao_fs_repo_free(repo);
    return status;
usage:
    fprintf(stderr, "Run 'sao predict --help' for usage.\n");
    return SAO_EXIT_USAGE;
}
