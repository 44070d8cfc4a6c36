/*
 * The offline store: one Parquet file per feature view and ticker under $SAO_HOME/offline,
 * written atomically with the columns Feast's file source expects.
 */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/data.h"
#include "features/features.h"

/* Layout of the offline files, for materialization, which reads the newest row of each file (or
 * its last context_length rows): the footer's statistics rule out every row group but the one
 * holding that row, and in that group only the pages holding it are decompressed. Smaller row
 * groups lengthen the footer that every open parses (about 100 bytes per column per group);
 * larger ones, and smaller pages, lengthen the walk over page headers, and small pages compress
 * worse. Groups of 2048 rows in pages of 128 measured fastest for files of 3,000 to 9,000 daily
 * rows, for 10% more bytes than one page per column. */
#define OFFLINE_ROW_GROUP_ROWS 2048
#define OFFLINE_PAGE_ROWS 128

static const char *bar_columns[] = {"open",     "high",     "low",        "close",
                                    "adj_close", "volume", "dividend", "split_ratio"};

int sao_offline_path(char *buf, size_t size, const char *view, const char *ticker)
{
    int rc = sao_ticker_validate(ticker);
    if (rc) return rc;
    char rel[256];
    snprintf(rel, sizeof(rel), "offline/%s/%s.parquet", view, ticker);
    return sao_home_path(buf, size, rel);
}

static int ensure_view_dir(const char *view)
{
    char dir[4096];
    char rel[128];
    snprintf(rel, sizeof(rel), "offline/%s", view);
    int rc = sao_home_path(dir, sizeof(dir), rel);
    return rc ? rc : sao_mkdir_p(dir);
}

static int codec_from_config(sao_pq_write_options *opts)
{
    const char *codec = sao_config_get("SAO_PARQUET_CODEC");
    if (strcmp(codec, "zstd") == 0) opts->codec = SAO_PQ_ZSTD;
    else if (strcmp(codec, "snappy") == 0) opts->codec = SAO_PQ_SNAPPY;
    else if (strcmp(codec, "none") == 0) opts->codec = SAO_PQ_UNCOMPRESSED;
    else
        return sao_error_set(SAO_EINVAL, "SAO_PARQUET_CODEC: '%s' is not zstd, snappy or none",
                             codec);
    return 0;
}

/* NaN marks a missing value in memory; in the file it is a null. */
static uint8_t *validity_of(const double *values, size_t count, int *any_null)
{
    uint8_t *valid = sao_malloc(count ? count : 1);
    *any_null = 0;
    for (size_t i = 0; i < count; i++) {
        valid[i] = !isnan(values[i]);
        if (!valid[i]) *any_null = 1;
    }
    return valid;
}

/* Describes every feature of the technical view as JSON for the file's metadata, so a reader
 * sees parameters and which columns are proxies. */
static int feature_metadata_json(sao_buf *out, size_t columns)
{
    size_t ndefs;
    const sao_feature_def *defs = sao_features_defs(&ndefs);
    int rc = sao_buf_append(out, "[", 1);
    for (size_t i = 0; i < columns && i < ndefs && !rc; i++) {
        rc = sao_buf_appendf(out, "%s{\"name\":\"%s\",\"params\":\"%s\",\"proxy\":%s,\"description\":\"",
                             i ? "," : "", defs[i].name, defs[i].params,
                             defs[i].proxy ? "true" : "false");
        for (const char *p = defs[i].description; *p && !rc; p++) {
            if (*p == '"' || *p == '\\') rc = sao_buf_append(out, "\\", 1);
            if (!rc) rc = sao_buf_append(out, p, 1);
        }
        if (!rc) rc = sao_buf_append(out, "\"}", 2);
    }
    if (!rc) rc = sao_buf_append(out, "]", 1);
    return rc;
}

typedef struct view_columns {
    sao_pq_column *cols;
    uint8_t **owned_valid;
    size_t count;
    size_t owned_count;
} view_columns;

static void view_columns_dispose(view_columns *vc)
{
    for (size_t i = 0; i < vc->owned_count; i++) sao_free(vc->owned_valid[i]);
    sao_free(vc->owned_valid);
    sao_free(vc->cols);
}

static void add_double(view_columns *vc, const char *name, const double *values, size_t rows)
{
    int any_null;
    uint8_t *valid = validity_of(values, rows, &any_null);
    vc->owned_valid[vc->owned_count++] = valid;
    vc->cols[vc->count++] = (sao_pq_column){name, SAO_PQ_DOUBLE, values, valid};
}

static int write_view(const char *view, const struct sao_bars *bars, const char **ticker_col,
                      const int64_t *event_ts, const double *const *feature_values,
                      const char *const *feature_names, size_t feature_count,
                      const sao_pq_kv *meta, size_t meta_count)
{
    view_columns vc = {0};
    vc.cols = sao_calloc(feature_count + 3, sizeof(*vc.cols));
    vc.owned_valid = sao_calloc(feature_count + 1, sizeof(*vc.owned_valid));
    vc.cols[vc.count++] = (sao_pq_column){"ticker", SAO_PQ_STRING, ticker_col, NULL};
    vc.cols[vc.count++] = (sao_pq_column){"event_timestamp", SAO_PQ_TIMESTAMP_US, event_ts, NULL};
    vc.cols[vc.count++] = (sao_pq_column){"created", SAO_PQ_TIMESTAMP_US, bars->created_us, NULL};
    for (size_t i = 0; i < feature_count; i++)
        add_double(&vc, feature_names[i], feature_values[i], bars->count);

    char path[4096];
    sao_pq_write_options opts;
    sao_pq_write_options_init(&opts);
    opts.metadata = meta;
    opts.metadata_count = meta_count;
    opts.row_group_rows = OFFLINE_ROW_GROUP_ROWS;
    opts.page_rows = OFFLINE_PAGE_ROWS;
    int rc = codec_from_config(&opts);
    if (!rc) rc = ensure_view_dir(view);
    if (!rc) rc = sao_offline_path(path, sizeof(path), view, bars->ticker);
    if (!rc) rc = sao_parquet_write(path, vc.cols, vc.count, bars->count, &opts);
    view_columns_dispose(&vc);
    return rc;
}

int sao_offline_write(const struct sao_bars *bars, const struct sao_feature_table *features,
                      int crypto)
{
    SAO_ASSERT(features->count == bars->count);
    int rc = 0;
    size_t rows = bars->count;
    const char **ticker_col = sao_malloc((rows ? rows : 1) * sizeof(*ticker_col));
    int64_t *event_ts = sao_malloc((rows ? rows : 1) * sizeof(*event_ts));
    for (size_t i = 0; i < rows; i++) {
        ticker_col[i] = bars->ticker;
        event_ts[i] = bars->day[i] * SAO_US_PER_DAY;
    }
    size_t ndefs;
    const sao_feature_def *defs = sao_features_defs(&ndefs);
    size_t nfeat = features->columns;
    const double **fvals = sao_malloc((nfeat + 1) * sizeof(*fvals));
    const char **fnames = sao_malloc((nfeat + 1) * sizeof(*fnames));
    for (size_t i = 0; i < nfeat; i++) {
        fvals[i] = sao_feature_column(features, i);
        fnames[i] = defs[i].name;
    }
    const double *bar_values[] = {bars->open,      bars->high,   bars->low,
                                  bars->close,     bars->adj_close, bars->volume,
                                  bars->dividend,  bars->split_ratio};
    sao_buf fmeta;
    sao_buf_init(&fmeta, 0);
    rc = feature_metadata_json(&fmeta, nfeat);
    sao_pq_kv bar_meta[] = {{"sao.view", SAO_VIEW_OHLCV},
                            {"sao.asset_class", sao_asset_class_name(sao_ticker_asset_class(bars->ticker))}};
    sao_pq_kv tech_meta[] = {{"sao.view", SAO_VIEW_TECHNICAL},
                             {"sao.crypto_features", crypto ? "true" : "false"},
                             {"sao.features", fmeta.data ? fmeta.data : "[]"}};
    if (!rc)
        rc = write_view(SAO_VIEW_OHLCV, bars, ticker_col, event_ts, bar_values, bar_columns,
                        SAO_ARRAY_LEN(bar_columns), bar_meta, SAO_ARRAY_LEN(bar_meta));
    if (!rc)
        rc = write_view(SAO_VIEW_TECHNICAL, bars, ticker_col, event_ts, fvals, fnames, nfeat,
                        tech_meta, SAO_ARRAY_LEN(tech_meta));
    sao_buf_dispose(&fmeta);
    sao_free(fvals);
    sao_free(fnames);
    sao_free(ticker_col);
    sao_free(event_ts);
    return rc;
}

int sao_offline_open(sao_pq_file **out, const char *view, const char *ticker)
{
    char path[4096];
    int rc = sao_offline_path(path, sizeof(path), view, ticker);
    if (rc) return rc;
    if (access(path, F_OK) != 0)
        return sao_error_set(SAO_ENOENT, "%s has no %s data (run: sao ingest %s)", ticker, view,
                             ticker);
    return sao_parquet_open(out, path);
}

/* Reads a column that must be DOUBLE (want_ts 0) or a timestamp (want_ts 1). */
static int read_typed_column(const sao_pq_column_data **out, sao_pq_file *file, const char *name,
                             const char *path_hint, int want_ts)
{
    int idx = sao_parquet_find_column(file, name);
    if (idx < 0) return sao_error_set(SAO_ECORRUPT, "%s: column '%s' is missing", path_hint, name);
    int rc = sao_parquet_read_column(out, file, (size_t)idx);
    if (rc) return rc;
    sao_pq_type t = (*out)->type;
    int is_ts = t == SAO_PQ_TIMESTAMP_US || t == SAO_PQ_TIMESTAMP_MS || t == SAO_PQ_TIMESTAMP_NS;
    if (want_ts ? !is_ts : !(*out)->f64)
        return sao_error_set(SAO_ECORRUPT, "%s: column '%s' is not %s", path_hint, name,
                             want_ts ? "a timestamp" : "a double");
    return 0;
}

/* A timestamp cell in microseconds, whatever unit the file was written with. */
static int64_t timestamp_us(const sao_pq_column_data *col, size_t row)
{
    int64_t v = col->i64[row];
    if (col->type == SAO_PQ_TIMESTAMP_MS) return v * 1000;
    if (col->type == SAO_PQ_TIMESTAMP_NS) return v / 1000 - (v % 1000 < 0);
    return v;
}

int sao_offline_read_bars(struct sao_bars *out, const char *ticker)
{
    sao_pq_file *file = NULL;
    int rc = sao_offline_open(&file, SAO_VIEW_OHLCV, ticker);
    if (rc) return rc;
    const sao_pq_column_data *ts = NULL, *created = NULL, *cols[SAO_ARRAY_LEN(bar_columns)];
    rc = read_typed_column(&ts, file, "event_timestamp", ticker, 1);
    if (!rc) rc = read_typed_column(&created, file, "created", ticker, 1);
    for (size_t i = 0; i < SAO_ARRAY_LEN(bar_columns) && !rc; i++)
        rc = read_typed_column(&cols[i], file, bar_columns[i], ticker, 0);
    if (rc) goto done;
    size_t rows = sao_parquet_num_rows(file);
    sao_bars_reserve(out, out->count + rows);
    for (size_t r = 0; r < rows; r++) {
        if (!ts->valid[r]) {
            rc = sao_error_set(SAO_ECORRUPT, "%s: event_timestamp is null in row %zu", ticker, r);
            goto done;
        }
        double v[SAO_ARRAY_LEN(bar_columns)];
        for (size_t c = 0; c < SAO_ARRAY_LEN(bar_columns); c++)
            v[c] = cols[c]->valid[r] ? cols[c]->f64[r] : NAN;
        int64_t us = timestamp_us(ts, r);
        int64_t day = us / SAO_US_PER_DAY - (us % SAO_US_PER_DAY < 0);
        size_t i = sao_bars_push(out, day, v[0], v[1], v[2], v[3], v[4], v[5]);
        out->dividend[i] = isnan(v[6]) ? 0 : v[6];
        out->split_ratio[i] = isnan(v[7]) ? 0 : v[7];
        out->created_us[i] = created->valid[r] ? timestamp_us(created, r) : 0;
    }
done:
    sao_parquet_close(file);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int sao_offline_list_tickers(char ***out, size_t *count)
{
    char dir[4096];
    int rc = sao_home_path(dir, sizeof(dir), "offline/" SAO_VIEW_OHLCV);
    if (rc) return rc;
    char **names = NULL;
    size_t n = 0, cap = 0;
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            size_t len = strlen(e->d_name);
            const char *ext = ".parquet";
            size_t elen = strlen(ext);
            if (len <= elen || strcmp(e->d_name + len - elen, ext) != 0) continue;
            char *name = sao_strndup(e->d_name, len - elen);
            if (sao_ticker_validate(name) != 0) {
                sao_free(name);
                continue;
            }
            names = sao_grow(names, &cap, n + 1, sizeof(*names));
            names[n++] = name;
        }
        closedir(d);
    }
    if (n) qsort(names, n, sizeof(*names), cmp_str);
    *out = names;
    *count = n;
    return 0;
}

void sao_offline_tickers_free(char **tickers, size_t count)
{
    for (size_t i = 0; i < count; i++) sao_free(tickers[i]);
    sao_free(tickers);
}
