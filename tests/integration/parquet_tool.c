/*
 * Test helper for the Parquet interop test: writes deterministic sample tables with our writer
 * and dumps any Parquet file through our reader in a canonical text form that the independent
 * readers' dump (tests/integration/node/pq_check.mjs) reproduces byte for byte.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/parquet_int.h"
#include "store/store.h"

static const char *type_name(sao_pq_type type)
{
    switch (type) {
    case SAO_PQ_DOUBLE:
        return "DOUBLE";
    case SAO_PQ_INT64:
        return "INT64";
    case SAO_PQ_TIMESTAMP_US:
        return "TIMESTAMP_US";
    case SAO_PQ_STRING:
        return "STRING";
    case SAO_PQ_INT32:
        return "INT32";
    case SAO_PQ_FLOAT:
        return "FLOAT";
    case SAO_PQ_BOOL:
        return "BOOL";
    case SAO_PQ_DATE:
        return "DATE";
    case SAO_PQ_TIMESTAMP_MS:
        return "TIMESTAMP_MS";
    case SAO_PQ_TIMESTAMP_NS:
        return "TIMESTAMP_NS";
    case SAO_PQ_BINARY:
        return "BINARY";
    }
    return "?";
}

static void print_hex(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) printf("%02x", (unsigned)(unsigned char)s[i]);
}

/* rows N / kv KEY HEX / column NAME TYPE, then one line per value:
 * null | f:<16 hex digits of the IEEE bits> | <decimal integer> | s:<hex bytes> */
static int dump(const char *path)
{
    sao_pq_file *file = NULL;
    int rc = sao_parquet_open(&file, path);
    if (rc) goto done;
    size_t rows = sao_parquet_num_rows(file);
    printf("rows %zu\n", rows);
    for (size_t i = 0; i < sao_store__pq_metadata_count(file); i++) {
        const char *key, *value;
        sao_store__pq_metadata_at(file, i, &key, &value);
        printf("kv %s ", key);
        if (value)
            print_hex(value, strlen(value));
        else
            printf("-");
        printf("\n");
    }
    for (size_t c = 0; c < sao_parquet_num_columns(file); c++) {
        const sao_pq_column_data *col;
        rc = sao_parquet_read_column(&col, file, c);
        if (rc) goto done;
        printf("column %s %s\n", col->name, type_name(col->type));
        for (size_t r = 0; r < col->count; r++) {
            if (!col->valid[r]) {
                printf("null\n");
            } else if (col->f64) {
                uint64_t bits;
                memcpy(&bits, &col->f64[r], 8);
                printf("f:%016llx\n", (unsigned long long)bits);
            } else if (col->i64) {
                printf("%lld\n", (long long)col->i64[r]);
            } else if (col->i32) {
                printf("%d\n", (int)col->i32[r]);
            } else {
                printf("s:");
                print_hex(col->str[r], col->str_len[r]);
                printf("\n");
            }
        }
    }
done:
    if (rc) fprintf(stderr, "dump %s: %s: %s\n", path, sao_errname(rc), sao_error_last());
    sao_parquet_close(file);
    return rc ? 1 : 0;
}

static const char *const tickers[] = {"AAPL",
                                      "MSFT",
                                      "^GSPC",
                                      "BTC-USD",
                                      "",
                                      "\xc3\xbcn\xc3\xaf c\xc3\xb6\x64\xc3\xa9 \xe2\x9c\x93",
                                      "\xe6\x97\xa5\xe6\x9c\xac"};

/* Doubles that stress the encoding: signed zeros, infinities, extremes, a quiet NaN. */
static double special_double(size_t row)
{
    static const double specials[] = {0.0,     -0.0,     1.5,      -2.25,    1e308,
                                      -1e-308, 4.9e-324, HUGE_VAL, -HUGE_VAL};
    if (row % 97 == 5) return NAN;
    if (row % 13 == 0) return specials[(row / 13) % SAO_ARRAY_LEN(specials)];
    return (double)row * 1.0001 - 1234.5;
}

static int sample(const char *path, sao_pq_codec codec, size_t rows, size_t row_group_rows,
                  size_t page_rows, int zstd_level)
{
    const char **ticker = calloc(rows + 1, sizeof(char *));
    int64_t *ts = calloc(rows + 1, sizeof(int64_t));
    double *close = calloc(rows + 1, sizeof(double));
    int64_t *volume = calloc(rows + 1, sizeof(int64_t));
    double *opt_double = calloc(rows + 1, sizeof(double));
    int64_t *opt_int = calloc(rows + 1, sizeof(int64_t));
    int64_t *opt_ts = calloc(rows + 1, sizeof(int64_t));
    const char **opt_str = calloc(rows + 1, sizeof(char *));
    double *all_null = calloc(rows + 1, sizeof(double));
    const char **unique = calloc(rows + 1, sizeof(char *));
    char *unique_buf = calloc(rows + 1, 80);
    uint8_t *valid3 = calloc(rows + 1, 1), *valid4 = calloc(rows + 1, 1);
    uint8_t *valid5 = calloc(rows + 1, 1), *valid7 = calloc(rows + 1, 1);
    uint8_t *none = calloc(rows + 1, 1);
    static const int64_t extremes[] = {INT64_MIN, INT64_MAX, 0, -1, 1};
    for (size_t r = 0; r < rows; r++) {
        ticker[r] = tickers[(r / 3) % SAO_ARRAY_LEN(tickers)];
        ts[r] = (int64_t)(12000 + r) * SAO_US_PER_DAY;
        close[r] = special_double(r);
        volume[r] = r % 11 == 0 ? extremes[(r / 11) % SAO_ARRAY_LEN(extremes)]
                                : (int64_t)(r * 2654435761u) - 1000000000;
        valid3[r] = r % 3 != 1;
        opt_double[r] = valid3[r] ? (double)r / 7.0 : 0;
        valid4[r] = r % 4 != 0;
        opt_int[r] = valid4[r] ? -(int64_t)r * 1000003 : 0;
        valid7[r] = r % 7 != 3;
        opt_ts[r] =
            valid7[r] ? sao_days_from_civil(2020, 1, 1) * SAO_US_PER_DAY + (int64_t)r * 1001 : 0;
        valid5[r] = r % 5 != 2;
        opt_str[r] = !valid5[r] ? NULL : r % 10 == 0 ? "" : tickers[r % SAO_ARRAY_LEN(tickers)];
        char *u = unique_buf + r * 80;
        snprintf(u, 80, "row-%08zu-a-long-unique-string-to-defeat-the-dictionary-%zu", r,
                 r * 7919 % 100003);
        unique[r] = u;
    }
    sao_pq_column cols[] = {
        {"ticker", SAO_PQ_STRING, ticker, NULL},
        {"event_timestamp", SAO_PQ_TIMESTAMP_US, ts, NULL},
        {"close", SAO_PQ_DOUBLE, close, NULL},
        {"volume", SAO_PQ_INT64, volume, NULL},
        {"opt_double", SAO_PQ_DOUBLE, opt_double, valid3},
        {"opt_int", SAO_PQ_INT64, opt_int, valid4},
        {"opt_ts", SAO_PQ_TIMESTAMP_US, opt_ts, valid7},
        {"opt_str", SAO_PQ_STRING, opt_str, valid5},
        {"all_null", SAO_PQ_DOUBLE, all_null, none},
        {"unique_str", SAO_PQ_STRING, unique, NULL},
        {"null_str", SAO_PQ_STRING, opt_str, none},
    };
    sao_pq_kv meta[] = {
        {"sao.view", "ohlcv"}, {"sao.note", "caf\xc3\xa9 \xe2\x9c\x93"}, {"sao.empty", ""}};
    sao_pq_write_options opts;
    sao_pq_write_options_init(&opts);
    opts.codec = codec;
    if (zstd_level) opts.zstd_level = zstd_level;
    opts.row_group_rows = row_group_rows;
    opts.metadata = meta;
    opts.metadata_count = SAO_ARRAY_LEN(meta);
    sao_pq_write_tuning tuning = {page_rows, 0, 0};
    int rc = sao_store__pq_write_tuned(path, cols, SAO_ARRAY_LEN(cols), rows, &opts, &tuning);
    if (rc) fprintf(stderr, "sample %s: %s: %s\n", path, sao_errname(rc), sao_error_last());
    free(ticker);
    free(ts);
    free(close);
    free(volume);
    free(opt_double);
    free(opt_int);
    free(opt_ts);
    free(opt_str);
    free(all_null);
    free(unique);
    free(unique_buf);
    free(valid3);
    free(valid4);
    free(valid5);
    free(valid7);
    free(none);
    return rc ? 1 : 0;
}

static int parse_size(const char *s, size_t *out)
{
    long v;
    if (sao_parse_long(s, &v) || v < 0) return -1;
    *out = (size_t)v;
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: sao_parquet_tool dump FILE\n"
                    "       sao_parquet_tool sample FILE [--codec none|snappy|gzip|zstd]\n"
                    "            [--rows N] [--row-group-rows N] [--page-rows N] [--level L]\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 3) return usage();
    if (strcmp(argv[1], "dump") == 0) return dump(argv[2]);
    if (strcmp(argv[1], "sample") != 0) return usage();
    sao_pq_codec codec = SAO_PQ_ZSTD;
    size_t rows = 20000, row_group_rows = 0, page_rows = 0, level = 0;
    for (int i = 3; i + 1 < argc; i += 2) {
        const char *opt = argv[i], *val = argv[i + 1];
        if (strcmp(opt, "--codec") == 0) {
            if (strcmp(val, "none") == 0)
                codec = SAO_PQ_UNCOMPRESSED;
            else if (strcmp(val, "snappy") == 0)
                codec = SAO_PQ_SNAPPY;
            else if (strcmp(val, "gzip") == 0)
                codec = SAO_PQ_GZIP;
            else if (strcmp(val, "zstd") == 0)
                codec = SAO_PQ_ZSTD;
            else
                return usage();
        } else if ((strcmp(opt, "--rows") == 0 && !parse_size(val, &rows)) ||
                   (strcmp(opt, "--row-group-rows") == 0 && !parse_size(val, &row_group_rows)) ||
                   (strcmp(opt, "--page-rows") == 0 && !parse_size(val, &page_rows)) ||
                   (strcmp(opt, "--level") == 0 && !parse_size(val, &level))) {
            continue;
        } else {
            return usage();
        }
    }
    return sample(argv[2], codec, rows, row_group_rows, page_rows, (int)level);
}
