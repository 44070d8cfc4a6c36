/*
 * `sao ingest TICKER...`: fetch daily bars from Yahoo's chart API or import a CSV, validate,
 * compute indicators, and write the offline store; prints one report line per ticker.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "pipelines/pipelines.h"

void sao_cmd_ingest_help(FILE *out)
{
    fprintf(out,
            "usage: sao ingest TICKER... [--source yahoo|csv] [--file PATH] [--from DATE] [--to DATE]\n"
            "                  [--drop-invalid] [--max-gap-days N] [--materialize [--repo DIR]]\n\n"
            "Fetches daily OHLCV bars (Yahoo Finance chart API, or a CSV file), validates them,\n"
            "merges them with what is stored (never duplicating a day), computes the technical\n"
            "indicators and writes $SAO_HOME/offline/{ohlcv_daily,technical_daily}/TICKER.parquet.\n\n"
            "  TICKER            AAPL, ^GSPC, BTC-USD, EURUSD=X, ...\n"
            "  --source S        yahoo (default) or csv (implied by --file)\n"
            "  --file PATH       CSV to import (Yahoo, yfinance and pandas layouts are detected);\n"
            "                    one TICKER with it, or none when the file names its ticker\n"
            "  --from DATE       first day to fetch (default: resume from the last stored bar,\n"
            "                    else SAO_DEFAULT_START)\n"
            "  --to DATE         last day (default: today)\n"
            "  --drop-invalid    drop rows failing validation instead of rejecting the batch\n"
            "  --max-gap-days N  report gaps longer than N calendar days (default 5, crypto 3)\n"
            "  --materialize     then run materialize-incremental up to now (Redis online store)\n"
            "  --repo DIR        feature repository for --materialize (default SAO_FEATURE_REPO)\n\n"
            "Exit status: 0 when every ticker was stored, 1 when any failed, 2 on usage errors.\n");
}

static void print_result(const sao_ingest_result *res)
{
    char first[16] = "-", last[16] = "-";
    if (res->total_rows) {
        sao_date_format(res->first_day, first, sizeof(first));
        sao_date_format(res->last_day, last, sizeof(last));
    }
    printf("%-10s %-7s received %zu bars, %zu new, %zu updated; %zu rows %s..%s", res->ticker,
           sao_asset_class_name(res->asset_class), res->received, res->new_rows,
           res->updated_rows, res->total_rows, first, last);
    if (res->null_skipped) printf("; %zu null bars skipped", res->null_skipped);
    if (res->validation.dropped_rows) printf("; %zu invalid rows dropped", res->validation.dropped_rows);
    if (res->validation.gaps) printf("; %zu gaps", res->validation.gaps);
    if (res->splits || res->dividends)
        printf("; %zu splits, %zu dividends", res->splits, res->dividends);
    printf("\n");
}

/* Feast's materialize-incremental up to now over every ticker: the ones just ingested and any
 * others whose rows were not materialized yet. */
static int materialize_all(const char *repo_dir)
{
    sao_fs_repo *repo = NULL;
    sao_online *online = NULL;
    sao_online_config cfg;
    sao_fs_materialize_report rep;
    int rc = sao_fs_repo_load(&repo, repo_dir);
    if (!rc) rc = sao_fs_online_config(&cfg, repo);
    if (!rc) rc = sao_online_connect(&online, &cfg);
    if (!rc) rc = sao_fs_materialize_incremental(&rep, repo, online, sao_now_us(), NULL, 0);
    if (rc) sao_cli_fail("ingest", rc, "materialize");
    else
        printf("materialized %zu views: %zu entity rows written, %zu already current\n",
               rep.views, rep.entities, rep.skipped);
    sao_online_close(online);
    sao_fs_repo_free(repo);
    return rc;
}

int sao_cmd_ingest(int argc, char **argv)
{
    sao_ingest_options opts;
    sao_ingest_options_init(&opts);
    const char **tickers = sao_calloc((size_t)argc, sizeof(*tickers));
    size_t nt = 0;
    const char *v;
    int status = SAO_EXIT_OK;
    int explicit_source = 0;
    int materialize = 0;
    const char *repo_dir = NULL;

    for (int i = 1; i < argc; i++) {
        int r;
        if ((r = sao_cli_option(argc, argv, &i, "source", &v)) != 0) {
            if (r < 0) goto usage;
            explicit_source = 1;
            if (strcmp(v, "yahoo") == 0) opts.source = SAO_SOURCE_YAHOO;
            else if (strcmp(v, "csv") == 0) opts.source = SAO_SOURCE_CSV;
            else {
                fprintf(stderr, "sao ingest: --source must be yahoo or csv, not '%s'\n", v);
                goto usage;
            }
        } else if ((r = sao_cli_option(argc, argv, &i, "file", &v)) != 0) {
            if (r < 0) goto usage;
            opts.file = v;
        } else if ((r = sao_cli_option(argc, argv, &i, "from", &v)) != 0) {
            if (r < 0 || sao_cli_date("ingest", "--from", v, &opts.from_day)) goto usage;
        } else if ((r = sao_cli_option(argc, argv, &i, "to", &v)) != 0) {
            if (r < 0 || sao_cli_date("ingest", "--to", v, &opts.to_day)) goto usage;
        } else if ((r = sao_cli_option(argc, argv, &i, "max-gap-days", &v)) != 0) {
            long n;
            if (r < 0 || sao_parse_long(v, &n) != 0 || n < 1 || n > 3650) {
                fprintf(stderr, "sao ingest: --max-gap-days must be 1..3650\n");
                goto usage;
            }
            opts.max_gap_days = (int)n;
        } else if ((r = sao_cli_option(argc, argv, &i, "repo", &v)) != 0) {
            if (r < 0) goto usage;
            repo_dir = v;
        } else if (sao_cli_flag(argv[i], "materialize")) {
            materialize = 1;
        } else if (sao_cli_flag(argv[i], "drop-invalid")) {
            opts.drop_invalid = 1;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "sao ingest: unknown option '%s'\n", argv[i]);
            goto usage;
        } else {
            if (sao_ticker_validate(argv[i]) != 0) {
                fprintf(stderr, "sao ingest: %s\n", sao_error_last());
                goto usage;
            }
            tickers[nt++] = argv[i];
        }
    }
    if (opts.file && !explicit_source) opts.source = SAO_SOURCE_CSV;
    if (opts.source == SAO_SOURCE_CSV) {
        if (!opts.file) {
            fprintf(stderr, "sao ingest: --source csv needs --file PATH\n");
            goto usage;
        }
        if (nt > 1) {
            fprintf(stderr, "sao ingest: --file imports one ticker at a time\n");
            goto usage;
        }
        if (nt == 0) {
            /* A yfinance-style file names its ticker in its header. */
            static char from_file[SAO_TICKER_MAX + 1];
            sao_bars probe;
            sao_csv_report rep;
            sao_bars_init(&probe, "");
            int rc = sao_csv_import(&probe, &rep, opts.file);
            sao_bars_dispose(&probe);
            if (rc) {
                status = sao_cli_fail("ingest", rc, opts.file);
                goto done;
            }
            if (!rep.ticker[0]) {
                fprintf(stderr, "sao ingest: %s does not name its ticker: give one\n", opts.file);
                goto usage;
            }
            sao_strlcpy(from_file, rep.ticker, sizeof(from_file));
            tickers[nt++] = from_file;
        }
    } else if (opts.file) {
        fprintf(stderr, "sao ingest: --file needs --source csv\n");
        goto usage;
    }
    if (nt == 0) {
        fprintf(stderr, "sao ingest: no ticker given\n");
        goto usage;
    }

    sao_progress progress;
    sao_progress_start(&progress, "ingest", nt);
    size_t failed = 0;
    for (size_t t = 0; t < nt; t++) {
        sao_ingest_result res;
        int rc = sao_ingest_ticker(&res, tickers[t], &opts);
        if (rc == SAO_EVALIDATION) {
            fprintf(stderr, "sao ingest: %s: rejected, %zu invalid rows; nothing was written "
                            "(use --drop-invalid to drop them)\n",
                    tickers[t], res.validation.invalid_rows);
            sao_validation_report_print(&res.validation, stderr, 20);
            failed++;
        } else if (rc) {
            char what[64];
            snprintf(what, sizeof(what), "%s", tickers[t]);
            sao_cli_fail("ingest", rc, what);
            failed++;
        } else {
            print_result(&res);
            if (res.validation.gaps) sao_validation_report_print(&res.validation, stderr, 5);
        }
        sao_ingest_result_dispose(&res);
        sao_progress_update(&progress, t + 1);
    }
    sao_progress_finish(&progress);
    if (failed) status = SAO_EXIT_FAIL;
    if (materialize && failed < nt && materialize_all(repo_dir) != 0) status = SAO_EXIT_FAIL;
    if (nt > 1 || failed)
        printf("%zu of %zu tickers stored under %s/offline\n", nt - failed, nt,
               sao_config_get("SAO_HOME"));
done:
    sao_free(tickers);
    return status;
usage:
    sao_free(tickers);
    fprintf(stderr, "Run 'sao ingest --help' for usage.\n");
    return SAO_EXIT_USAGE;
}
