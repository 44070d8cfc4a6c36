/*
 * `sao demo`: ingests a demo universe (Yahoo when the network allows, else real CSV files found
 * locally), then prints where the data is and the last rows of each ticker. `sao up` reuses its
 * ingestion step.
 */
#include <ctype.h>
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "pipelines/pipelines.h"

static const char *demo_tickers[] = {"^GSPC", "AAPL", "BTC-USD"};

void sao_cmd_demo_help(FILE *out)
{
    fprintf(out,
            "usage: sao demo [--offline]\n\n"
            "Ingests a demo universe (^GSPC, AAPL, BTC-USD) from Yahoo Finance when the network\n"
            "allows; otherwise (or with --offline) imports real CSV files instead: every *.csv in\n"
            "SAO_DATA_DIR and the S&P 500 series of the npm package vega-datasets placed in\n"
            "$SAO_HOME/demo by scripts/fetch_demo_data.sh. Then prints where the data is and the\n"
            "last rows of each ticker. Running it again only adds what is new.\n");
}

/* Ticker of a CSV file: its stem ("AAPL.csv"), or the symbol in "yahoo_daily_<T>_..." names;
 * index symbols written without their caret (GSPC) get it back. */
static int ticker_from_filename(char *out, const char *name)
{
    char stem[128];
    sao_strlcpy(stem, name, sizeof(stem));
    char *dot = strrchr(stem, '.');
    if (dot) *dot = '\0';
    const char *sym = stem;
    if (strncmp(stem, "yahoo_daily_", 12) == 0) {
        sym = stem + 12;
        char *us = strchr(stem + 12, '_');
        if (us) *us = '\0';
    }
    static const char *indices[] = {"GSPC", "DJI", "IXIC", "VIX", "RUT", "NDX"};
    char buf[sizeof(stem) + 2]; /* too long a symbol fails sao_ticker_normalize below */
    snprintf(buf, sizeof(buf), "%s", sym);
    for (size_t i = 0; i < SAO_ARRAY_LEN(indices); i++)
        if (strcmp(sym, indices[i]) == 0) snprintf(buf, sizeof(buf), "^%s", sym);
    return sao_ticker_normalize(out, buf);
}

static int ingest_file(const char *path, const char *ticker, size_t *ok)
{
    sao_ingest_options opts;
    sao_ingest_options_init(&opts);
    opts.source = SAO_SOURCE_CSV;
    opts.file = path;
    opts.drop_invalid = 1;
    sao_ingest_result res;
    int rc = sao_ingest_ticker(&res, ticker, &opts);
    if (rc) {
        fprintf(stderr, "  %-10s %s: %s\n", ticker, path, sao_error_last());
    } else {
        printf("  %-10s %zu rows (%zu new) from %s\n", res.ticker, res.total_rows, res.new_rows,
               path);
        (*ok)++;
    }
    sao_ingest_result_dispose(&res);
    return rc;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static size_t ingest_local(void)
{
    size_t ok = 0;
    char path[4096];
    if (sao_home_path(path, sizeof(path), "demo/sp500-2000.csv") == 0) {
        struct stat st;
        if (stat(path, &st) == 0) ingest_file(path, "^GSPC", &ok);
    }
    const char *dir = sao_config_get("SAO_DATA_DIR");
    if (*dir) {
        DIR *d = opendir(dir);
        if (!d) {
            fprintf(stderr, "  SAO_DATA_DIR %s cannot be read\n", dir);
            return ok;
        }
        /* Sorted, so that runs are repeatable whatever order the folder lists. */
        char **names = NULL;
        size_t n = 0, cap = 0;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            size_t len = strlen(e->d_name);
            if (len < 5 || strcmp(e->d_name + len - 4, ".csv") != 0) continue;
            names = sao_grow(names, &cap, n + 1, sizeof(*names));
            names[n++] = sao_strdup(e->d_name);
        }
        if (n) qsort(names, n, sizeof(*names), cmp_name);
        for (size_t i = 0; i < n; i++) {
            char ticker[SAO_TICKER_MAX + 1];
            if (ticker_from_filename(ticker, names[i]) == 0) {
                snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
                ingest_file(path, ticker, &ok);
            }
            sao_free(names[i]);
        }
        sao_free(names);
        closedir(d);
    }
    return ok;
}

static size_t ingest_yahoo(void)
{
    /* Fail fast when there is no network: one attempt, short timeouts. */
    setenv("SAO_HTTP_RETRIES", "1", 0);
    setenv("SAO_HTTP_CONNECT_TIMEOUT_MS", "3000", 0);
    size_t ok = 0;
    for (size_t i = 0; i < SAO_ARRAY_LEN(demo_tickers); i++) {
        sao_ingest_options opts;
        sao_ingest_options_init(&opts);
        opts.drop_invalid = 1;
        sao_ingest_result res;
        int rc = sao_ingest_ticker(&res, demo_tickers[i], &opts);
        if (rc == SAO_ENET || rc == SAO_ETIMEOUT) {
            printf("  Yahoo Finance is not reachable (%s)\n", sao_error_last());
            sao_ingest_result_dispose(&res);
            return ok;
        }
        if (rc) printf("  %-10s %s\n", demo_tickers[i], sao_error_last());
        else {
            printf("  %-10s %zu rows (%zu new) from Yahoo Finance\n", res.ticker, res.total_rows,
                   res.new_rows);
            ok++;
        }
        sao_ingest_result_dispose(&res);
    }
    return ok;
}

size_t sao_cli_demo_ingest(int offline)
{
    size_t ok = 0;
    if (!offline) {
        printf("Ingesting %s, %s, %s from Yahoo Finance...\n", demo_tickers[0], demo_tickers[1],
               demo_tickers[2]);
        ok = ingest_yahoo();
    }
    if (ok == 0) {
        printf("Importing local CSV files instead...\n");
        ok = ingest_local();
    }
    return ok;
}

static void print_tail(const char *ticker, size_t rows_wanted)
{
    sao_pq_file *bars = NULL, *tech = NULL;
    if (sao_offline_open(&bars, SAO_VIEW_OHLCV, ticker) != 0 ||
        sao_offline_open(&tech, SAO_VIEW_TECHNICAL, ticker) != 0) {
        fprintf(stderr, "  %s: %s\n", ticker, sao_error_last());
        goto done;
    }
    const char *bar_cols[] = {"event_timestamp", "close", "volume"};
    const char *tech_cols[] = {"rsi_14", "macd", "bb_pct_b", "atr_14"};
    const sao_pq_column_data *bc[3], *tc[4];
    for (size_t i = 0; i < 3; i++) {
        int idx = sao_parquet_find_column(bars, bar_cols[i]);
        if (idx < 0 || sao_parquet_read_column(&bc[i], bars, (size_t)idx) != 0) goto done;
    }
    for (size_t i = 0; i < 4; i++) {
        int idx = sao_parquet_find_column(tech, tech_cols[i]);
        if (idx < 0 || sao_parquet_read_column(&tc[i], tech, (size_t)idx) != 0) goto done;
    }
    size_t n = sao_parquet_num_rows(bars);
    if (sao_parquet_num_rows(tech) != n) goto done;
    char path[4096];
    sao_offline_path(path, sizeof(path), SAO_VIEW_OHLCV, ticker);
    printf("\n%s: %zu trading days in %s (and technical_daily/)\n", ticker, n, path);
    printf("  %-10s %12s %16s %8s %10s %9s %10s\n", "date", "close", "volume", "rsi_14", "macd",
           "bb_pct_b", "atr_14");
    for (size_t r = n > rows_wanted ? n - rows_wanted : 0; r < n; r++) {
        char date[16];
        sao_date_format(bc[0]->i64[r] / SAO_US_PER_DAY, date, sizeof(date));
        printf("  %-10s %12.4f %16.0f", date, bc[1]->f64[r], bc[2]->f64[r]);
        double vals[4];
        for (size_t i = 0; i < 4; i++) vals[i] = tc[i]->valid[r] ? tc[i]->f64[r] : NAN;
        printf(" %8.2f %10.4f %9.3f %10.4f\n", vals[0], vals[1], vals[2], vals[3]);
    }
done:
    sao_parquet_close(bars);
    sao_parquet_close(tech);
}

int sao_cmd_demo(int argc, char **argv)
{
    int offline = 0;
    for (int i = 1; i < argc; i++) {
        if (sao_cli_flag(argv[i], "offline")) offline = 1;
        else {
            fprintf(stderr, "sao demo: unknown argument '%s'\n", argv[i]);
            return SAO_EXIT_USAGE;
        }
    }
    printf("stock-agent-ops demo: SAO_HOME=%s\n", sao_config_get("SAO_HOME"));
    sao_cli_demo_ingest(offline);
    char **tickers = NULL;
    size_t count = 0;
    if (sao_offline_list_tickers(&tickers, &count) != 0 || count == 0) {
        fprintf(stderr, "sao demo: no data could be ingested: no network and no CSV files "
                        "(run scripts/fetch_demo_data.sh or set SAO_DATA_DIR)\n");
        sao_offline_tickers_free(tickers, count);
        return SAO_EXIT_FAIL;
    }
    /* Show the demo universe (or the first few tickers), then say what else is there. */
    size_t shown = 0;
    for (size_t i = 0; i < SAO_ARRAY_LEN(demo_tickers); i++)
        for (size_t k = 0; k < count; k++)
            if (strcmp(tickers[k], demo_tickers[i]) == 0) {
                print_tail(tickers[k], 5);
                shown++;
            }
    for (size_t k = 0; k < count && shown == 0 && k < 3; k++) print_tail(tickers[k], 5);
    printf("\n%zu tickers stored:", count);
    for (size_t k = 0; k < count; k++) printf(" %s", tickers[k]);
    printf("\n");
    char dir[4096];
    sao_home_path(dir, sizeof(dir), "offline");
    printf("\nThe offline store is %s: Parquet files that pandas, pyarrow and DuckDB read as "
           "they are.\nNext: 'sao export %s --format csv' prints a ticker's bars and "
           "indicators.\n",
           dir, tickers[0]);
    sao_offline_tickers_free(tickers, count);
    return SAO_EXIT_OK;
}
