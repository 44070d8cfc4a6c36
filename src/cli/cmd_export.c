/*
 * `sao export TICKER`: prints the stored bars and indicators of a ticker (both offline views
 * joined on event_timestamp) as CSV or JSON, with the stored column names.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "data/data.h"
#include "store/store.h"

void sao_cmd_export_help(FILE *out)
{
    fprintf(out, "usage: sao export TICKER [--from DATE] [--to DATE] [--format csv|json]\n\n"
                 "Prints the stored bars (ohlcv_daily) and indicators (technical_daily) of TICKER,\n"
                 "one row per trading day, with a header of the stored column names. Timestamps\n"
                 "are ISO 8601 UTC; missing values are empty (CSV) or null (JSON).\n");
}

/* Shortest of %.15g / %.17g that reads back as the same double. */
static void format_double(char *buf, size_t size, double v)
{
    snprintf(buf, size, "%.15g", v);
    if (strtod(buf, NULL) != v) snprintf(buf, size, "%.17g", v);
}

static void format_ts(char *buf, size_t size, int64_t us, int with_micros)
{
    int64_t days = us >= 0 ? us / SAO_US_PER_DAY : -((-us + SAO_US_PER_DAY - 1) / SAO_US_PER_DAY);
    int64_t rem = us - days * SAO_US_PER_DAY;
    int y, m, d;
    sao_civil_from_days(days, &y, &m, &d);
    int64_t secs = rem / 1000000;
    if (with_micros)
        snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", y, m, d, (int)(secs / 3600),
                 (int)(secs / 60 % 60), (int)(secs % 60), (int)(rem % 1000000));
    else
        snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02dZ", y, m, d, (int)(secs / 3600),
                 (int)(secs / 60 % 60), (int)(secs % 60));
}

typedef struct export_view {
    sao_pq_file *file;
    size_t rows;
    const sao_pq_column_data *ts;
    const sao_pq_column_data **cols; /* value columns after ticker, event_timestamp, created */
    size_t ncols;
} export_view;

static int open_view(export_view *v, const char *view, const char *ticker)
{
    memset(v, 0, sizeof(*v));
    int rc = sao_offline_open(&v->file, view, ticker);
    if (rc) return rc;
    v->rows = sao_parquet_num_rows(v->file);
    size_t n = sao_parquet_num_columns(v->file);
    v->cols = sao_calloc(n, sizeof(*v->cols));
    for (size_t c = 0; c < n; c++) {
        const char *name = sao_parquet_column_name(v->file, c);
        const sao_pq_column_data *data;
        if (strcmp(name, "ticker") == 0 || strcmp(name, "created") == 0) continue;
        rc = sao_parquet_read_column(&data, v->file, c);
        if (rc) return rc;
        if (strcmp(name, "event_timestamp") == 0) v->ts = data;
        else if (data->f64) v->cols[v->ncols++] = data;
    }
    if (!v->ts || !v->ts->i64)
        return sao_error_set(SAO_ECORRUPT, "%s %s: no event_timestamp column", ticker, view);
    return 0;
}

static void close_view(export_view *v)
{
    sao_free(v->cols);
    sao_parquet_close(v->file);
}

int sao_cmd_export(int argc, char **argv)
{
    const char *ticker_arg = NULL, *format = "csv", *v;
    int64_t from = INT64_MIN, to = INT64_MAX;
    for (int i = 1; i < argc; i++) {
        int r;
        if ((r = sao_cli_option(argc, argv, &i, "from", &v)) != 0) {
            if (r < 0 || sao_cli_date("export", "--from", v, &from)) return SAO_EXIT_USAGE;
        } else if ((r = sao_cli_option(argc, argv, &i, "to", &v)) != 0) {
            if (r < 0 || sao_cli_date("export", "--to", v, &to)) return SAO_EXIT_USAGE;
        } else if ((r = sao_cli_option(argc, argv, &i, "format", &v)) != 0) {
            if (r < 0) return SAO_EXIT_USAGE;
            format = v;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "sao export: unknown option '%s'\n", argv[i]);
            return SAO_EXIT_USAGE;
        } else if (!ticker_arg) {
            ticker_arg = argv[i];
        } else {
            fprintf(stderr, "sao export: one ticker at a time\n");
            return SAO_EXIT_USAGE;
        }
    }
    int json = strcmp(format, "json") == 0;
    if (!json && strcmp(format, "csv") != 0) {
        fprintf(stderr, "sao export: --format must be csv or json\n");
        return SAO_EXIT_USAGE;
    }
    char ticker[SAO_TICKER_MAX + 1];
    if (!ticker_arg || sao_ticker_normalize(ticker, ticker_arg) != 0) {
        fprintf(stderr, "sao export: %s\n", ticker_arg ? sao_error_last() : "no ticker given");
        return SAO_EXIT_USAGE;
    }

    export_view bars, tech;
    memset(&tech, 0, sizeof(tech));
    int status = SAO_EXIT_OK;
    int rc = open_view(&bars, SAO_VIEW_OHLCV, ticker);
    if (rc) {
        status = sao_cli_fail("export", rc, ticker);
        close_view(&bars);
        return status;
    }
    int have_tech = 1;
    rc = open_view(&tech, SAO_VIEW_TECHNICAL, ticker);
    if (rc == SAO_ENOENT) have_tech = 0;
    else if (rc) {
        status = sao_cli_fail("export", rc, ticker);
        goto done;
    }

    int created_idx = sao_parquet_find_column(bars.file, "created");
    const sao_pq_column_data *created = NULL;
    if (created_idx >= 0 && sao_parquet_read_column(&created, bars.file, (size_t)created_idx) != 0)
        created = NULL;

    if (json) printf("[");
    else {
        printf("ticker,event_timestamp,created");
        for (size_t c = 0; c < bars.ncols; c++) printf(",%s", bars.cols[c]->name);
        for (size_t c = 0; have_tech && c < tech.ncols; c++) printf(",%s", tech.cols[c]->name);
        printf("\n");
    }
    size_t t = 0, printed = 0;
    char num[40], ts[40], cts[40];
    for (size_t r = 0; r < bars.rows; r++) {
        int64_t day = bars.ts->i64[r] / SAO_US_PER_DAY;
        if (day < from || day > to) continue;
        while (have_tech && t < tech.rows && tech.ts->i64[t] < bars.ts->i64[r]) t++;
        int tech_row = have_tech && t < tech.rows && tech.ts->i64[t] == bars.ts->i64[r];
        format_ts(ts, sizeof(ts), bars.ts->i64[r], 0);
        if (created && created->i64 && created->valid[r])
            format_ts(cts, sizeof(cts), created->i64[r], 1);
        else cts[0] = '\0';
        if (json) printf("%s\n{\"ticker\":\"%s\",\"event_timestamp\":\"%s\",\"created\":\"%s\"",
                         printed ? "," : "", ticker, ts, cts);
        else printf("%s,%s,%s", ticker, ts, cts);
        for (int pass = 0; pass < 2; pass++) {
            export_view *ev = pass ? &tech : &bars;
            if (pass && !have_tech) break;
            size_t row = pass ? t : r;
            for (size_t c = 0; c < ev->ncols; c++) {
                const sao_pq_column_data *col = ev->cols[c];
                int present = (!pass || tech_row) && col->valid[row] && isfinite(col->f64[row]);
                if (present) format_double(num, sizeof(num), col->f64[row]);
                if (json) printf(",\"%s\":%s", col->name, present ? num : "null");
                else printf(",%s", present ? num : "");
            }
        }
        if (json) printf("}");
        else printf("\n");
        printed++;
    }
    if (json) printf("%s]\n", printed ? "\n" : "");
    if (fflush(stdout) != 0) status = SAO_EXIT_FAIL;
done:
    close_view(&bars);
    close_view(&tech);
    return status;
}
