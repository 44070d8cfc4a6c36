/*
 * Unit tests for point-in-time retrieval: entity rows from CSV and Parquet, the as-of join
 * (TTL bounds, ties on `created`, calendars, unknown tickers, order and duplicates), output
 * names, errors, the Parquet result, and a brute-force cross-check on real ^GSPC data.
 */
#include <math.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pipelines/pipelines.h"
#include "store/store_int.h"
#include "test.h"

#define DAY_S 86400

/* ---- fixtures ---- */

static sao_fs_field bar_fields[] = {
    {.name = "open", .dtype = SAO_FS_FLOAT64, .params = "", .description = ""},
    {.name = "close", .dtype = SAO_FS_FLOAT64, .params = "", .description = ""},
    {.name = "volume", .dtype = SAO_FS_FLOAT64, .params = "", .description = ""},
};
static sao_fs_field tech_fields[] = {
    {.name = "rsi_14", .dtype = SAO_FS_FLOAT64, .params = "period=14", .description = ""},
    {.name = "macd", .dtype = SAO_FS_FLOAT64, .params = "", .description = ""},
    {.name = "sma_20", .dtype = SAO_FS_FLOAT64, .params = "period=20", .description = ""},
    {.name = "nvt_proxy", .dtype = SAO_FS_FLOAT64, .params = "", .description = ""},
};
static sao_fs_field adjusted_fields[] = {
    {.name = "close", .dtype = SAO_FS_FLOAT64, .params = "", .description = ""},
};
static sao_fs_field window_fields[] = {
    {.name = "close_window",
     .dtype = SAO_FS_FLOAT64_LIST,
     .params = "",
     .description = "",
     .window_view = "ohlcv_daily",
     .window_feature = "close"},
};
static sao_fs_view test_views[] = {
    {.name = "ohlcv_daily",
     .kind = SAO_FS_BARS,
     .description = "",
     .ttl_seconds = 10 * DAY_S,
     .source = "offline/ohlcv_daily",
     .fields = bar_fields,
     .field_count = 3},
    {.name = "technical_daily",
     .kind = SAO_FS_INDICATORS,
     .description = "",
     .ttl_seconds = 3 * DAY_S,
     .source = "offline/technical_daily",
     .fields = tech_fields,
     .field_count = 4},
    {.name = "adjusted_daily",
     .kind = SAO_FS_BARS,
     .description = "",
     .ttl_seconds = 3 * DAY_S,
     .source = "offline/adjusted_daily",
     .fields = adjusted_fields,
     .field_count = 1},
    {.name = "model_window",
     .kind = SAO_FS_WINDOW,
     .description = "",
     .ttl_seconds = 10 * DAY_S,
     .source = NULL,
     .context_length = 60,
     .fields = window_fields,
     .field_count = 1},
};
static sao_fs_repo test_repo = {.dir = ".",
                                .project = "test",
                                .entity = "ticker",
                                .join_key = "ticker",
                                .views = test_views,
                                .view_count = 4};

static char home[512];

static void make_home(const char *name)
{
    snprintf(home, sizeof(home), "%s/historical_%s", SAO_TEST_TMPDIR, name);
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", home);
    ASSERT_EQ(system(cmd), 0);
    ASSERT_OK(sao_mkdir_p(home));
    setenv("SAO_HOME", home, 1);
}

static int64_t day_us(int y, int m, int d)
{
    return sao_days_from_civil(y, m, d) * SAO_US_PER_DAY;
}

static int64_t ts_us(const char *text)
{
    int64_t us = 0;
    ASSERT_OK(sao_fs__parse_timestamp(&us, text, strlen(text)));
    return us;
}

/* Writes $SAO_HOME/offline/<folder>/<ticker>.parquet; NaN values are written as nulls. */
static void write_view_nullable(const char *folder, const char *ticker, size_t rows,
                                const int64_t *event, const int64_t *created,
                                const uint8_t *created_valid, const char *const *names,
                                const double *values, size_t features)
{
    char dir[1024], path[1200];
    snprintf(dir, sizeof(dir), "%s/offline/%s", home, folder);
    ASSERT_OK(sao_mkdir_p(dir));
    snprintf(path, sizeof(path), "%s/%s.parquet", dir, ticker);
    const char **tickers = calloc(rows, sizeof(*tickers));
    uint8_t *valid = calloc(rows * features + 1, 1);
    sao_pq_column cols[16];
    ASSERT_TRUE(features + 3 <= 16);
    for (size_t r = 0; r < rows; r++) tickers[r] = ticker;
    cols[0] = (sao_pq_column){"ticker", SAO_PQ_STRING, tickers, NULL};
    cols[1] = (sao_pq_column){"event_timestamp", SAO_PQ_TIMESTAMP_US, event, NULL};
    cols[2] = (sao_pq_column){"created", SAO_PQ_TIMESTAMP_US, created, created_valid};
    for (size_t f = 0; f < features; f++) {
        for (size_t r = 0; r < rows; r++) valid[f * rows + r] = !isnan(values[f * rows + r]);
        cols[3 + f] = (sao_pq_column){names[f], SAO_PQ_DOUBLE, values + f * rows, valid + f * rows};
    }
    ASSERT_OK(sao_parquet_write(path, cols, features + 3, rows, NULL));
    free(tickers);
    free(valid);
}

static void write_view(const char *folder, const char *ticker, size_t rows, const int64_t *event,
                       const int64_t *created, const char *const *names, const double *values,
                       size_t features)
{
    write_view_nullable(folder, ticker, rows, event, created, NULL, names, values, features);
}

/* Entity rows built in memory (tickers copied). */
static void entity_rows(sao_fs_entity_rows *rows, const char *const *tickers, const int64_t *ts,
                        size_t count)
{
    rows->count = count;
    rows->tickers = sao_calloc(count, sizeof(*rows->tickers));
    rows->event_ts_us = sao_calloc(count, sizeof(*rows->event_ts_us));
    for (size_t i = 0; i < count; i++) {
        rows->tickers[i] = sao_strdup(tickers[i]);
        rows->event_ts_us[i] = ts[i];
    }
}

static void write_text(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    ASSERT_TRUE(f != NULL);
    ASSERT_EQ(fwrite(text, 1, len, f), len);
    ASSERT_EQ(fclose(f), 0);
}

#define ASSERT_NULL_CELL(res, col, row) ASSERT_EQ((res)->valid[col][row], 0)
#define ASSERT_CELL(res, col, row, expected)                                                       \
    do {                                                                                           \
        ASSERT_EQ((res)->valid[col][row], 1);                                                      \
        ASSERT_NEAR((res)->values[col][row], (expected), 0);                                       \
    } while (0)

static char log_text[16384];
static size_t log_len;

static void capture_log(sao_log_level level, const char *module, const char *message, void *ud)
{
    (void)level, (void)module, (void)ud;
    int n = snprintf(log_text + log_len, sizeof(log_text) - log_len, "%s\n", message);
    if (n > 0 && log_len + (size_t)n < sizeof(log_text)) log_len += (size_t)n;
}

static size_t count_substr(const char *haystack, const char *needle)
{
    size_t n = 0;
    for (const char *p = haystack; (p = strstr(p, needle)) != NULL; p += strlen(needle)) n++;
    return n;
}

/* AAPL bars on 2024-01-02..05 with close 10, 11, null, 13 and open 10..13. */
static void write_aapl_bars(void)
{
    int64_t event[] = {day_us(2024, 1, 2), day_us(2024, 1, 3), day_us(2024, 1, 4),
                       day_us(2024, 1, 5)};
    int64_t created[] = {1, 1, 1, 1};
    const char *names[] = {"open", "close"};
    double values[] = {10, 11, 12, 13, /* close: */ 10, 11, NAN, 13};
    write_view("ohlcv_daily", "AAPL", 4, event, created, names, values, 2);
}

/* ---- timestamps ---- */

static void test_parse_timestamp(void)
{
    int64_t d = day_us(2024, 1, 3);
    ASSERT_EQ(ts_us("2024-01-03"), d);
    ASSERT_EQ(ts_us("2024-01-03T00:00:00Z"), d);
    ASSERT_EQ(ts_us("2024-01-03 00:00:00"), d); /* naive: UTC, as Feast assumes */
    ASSERT_EQ(ts_us("2024-01-03T15:30"), d + (15 * 3600 + 30 * 60) * INT64_C(1000000));
    ASSERT_EQ(ts_us("2024-01-03T15:30:01.5Z"),
              d + (15 * 3600 + 30 * 60 + 1) * INT64_C(1000000) + 500000);
    ASSERT_EQ(ts_us("2024-01-03T00:00:00.123456789Z"), d + 123456);
    ASSERT_EQ(ts_us("2024-01-02T19:00:00-05:00"), d);
    ASSERT_EQ(ts_us("2024-01-03T05:30:00+0530"), d);
    ASSERT_EQ(ts_us("2024-01-03T02:00:00+02"), d);
    ASSERT_EQ(ts_us("2024-02-29"), day_us(2024, 2, 29));
    ASSERT_EQ(ts_us("1800-01-01"), day_us(1800, 1, 1));
    static const char *bad[] = {"",
                                "2024-1-3",
                                "2024/01/03",
                                "2023-02-29",
                                "2024-13-01",
                                "2024-01-32",
                                "2024-01-03T24:00:00Z",
                                "2024-01-03T12:60",
                                "2024-01-03T12:00:61",
                                "2024-01-03T12",
                                "2024-01-03T12:00:00.",
                                "2024-01-03T12:00:00.1234567890Z",
                                "2024-01-03T12:00:00+05:",
                                "2024-01-03T12:00:00+5",
                                "2024-01-03T12:00:00 Z",
                                "2024-01-03Z",
                                "2024-01-03x",
                                "1799-12-31",
                                "1800-01-01T00:00:00+01:00",
                                "2201-01-01",
                                " 2024-01-03"};
    for (size_t i = 0; i < SAO_ARRAY_LEN(bad); i++) {
        int64_t us;
        if (sao_fs__parse_timestamp(&us, bad[i], strlen(bad[i])) != SAO_EPARSE) {
            fprintf(stderr, "accepted '%s'\n", bad[i]);
            ASSERT_TRUE(0);
        }
    }
}

/* ---- the join ---- */

static void test_point_in_time_bounds(void)
{
    make_home("bounds");
    write_aapl_bars();
    const char *tickers[] = {"AAPL", "AAPL", "AAPL", "AAPL", "AAPL",
                             "AAPL", "AAPL", "AAPL", "AAPL"};
    int64_t ts[] = {
        ts_us("2024-01-03"),                  /* 0: exact match */
        ts_us("2024-01-01"),                  /* 1: before the first event */
        ts_us("2024-01-03T15:00:00Z"),        /* 2: during the day */
        ts_us("2024-01-04"),                  /* 3: the stored close is null */
        ts_us("2024-01-15"),                  /* 4: exactly the TTL after the last event */
        ts_us("2024-01-15T00:00:00.000001Z"), /* 5: one microsecond beyond the TTL */
        ts_us("2024-01-14T23:59:59Z"),        /* 6: just inside the TTL */
        ts_us("2024-01-02T19:00:00-05:00"),   /* 7: = 2024-01-03T00:00Z */
        ts_us("2024-01-03T04:59:59+05:00"),   /* 8: = 2024-01-02T23:59:59Z */
    };
    sao_fs_entity_rows rows;
    entity_rows(&rows, tickers, ts, SAO_ARRAY_LEN(ts));
    const char *refs[] = {"ohlcv_daily:close", "ohlcv_daily:open"};
    sao_fs_historical_result res;
    ASSERT_OK(sao_fs_historical(&res, &test_repo, &rows, refs, 2));
    ASSERT_EQ(res.rows, 9);
    ASSERT_EQ(res.columns, 2);
    ASSERT_STREQ(res.names[0], "close");
    ASSERT_STREQ(res.names[1], "open");
    ASSERT_CELL(&res, 0, 0, 11);
    ASSERT_NULL_CELL(&res, 0, 1);
    ASSERT_NULL_CELL(&res, 1, 1);
    ASSERT_TRUE(isnan(res.values[0][1]));
    ASSERT_CELL(&res, 0, 2, 11);
    ASSERT_NULL_CELL(&res, 0, 3);
    ASSERT_CELL(&res, 1, 3, 12); /* same row, other feature present */
    ASSERT_CELL(&res, 0, 4, 13); /* Feast's bound is inclusive: event >= ts - ttl */
    ASSERT_NULL_CELL(&res, 0, 5);
    ASSERT_NULL_CELL(&res, 1, 5);
    ASSERT_CELL(&res, 0, 6, 13);
    ASSERT_CELL(&res, 0, 7, 11);
    ASSERT_CELL(&res, 0, 8, 10);
    sao_fs_historical_result_dispose(&res);
    sao_fs_historical_result_dispose(&res); /* disposing twice is harmless */
    sao_fs_entity_rows_dispose(&rows);
}

static void test_ties_broken_by_created(void)
{
    make_home("ties");
    /* Out of order on purpose: files from other writers need not be sorted. The two rows of
     * d + 3 days differ in `created` being null, which Feast sorts first (oldest). */
    int64_t day = DAY_S * INT64_C(1000000);
    int64_t d = day_us(2024, 3, 4);
    int64_t event[] = {d + day, d, d - day, d, d, d + 3 * day, d + 3 * day};
    int64_t created[] = {50, 200, 900, 100, 150, 10, 0};
    uint8_t created_valid[] = {1, 1, 1, 1, 1, 1, 0};
    const char *names[] = {"open", "close"};
    double values[] = {5, 2, 0, 1, 1.5, 8, 7, /* close: */ 5, 2, 0, 1, 1.5, 8, 7};
    write_view_nullable("ohlcv_daily", "TIE", 7, event, created, created_valid, names, values, 2);
    const char *tickers[] = {"TIE", "TIE", "TIE", "TIE"};
    int64_t ts[] = {d, d - 1, d + 2 * day, d + 3 * day};
    sao_fs_entity_rows rows;
    entity_rows(&rows, tickers, ts, 4);
    const char *refs[] = {"ohlcv_daily:close"};
    sao_fs_historical_result res;
    ASSERT_OK(sao_fs_historical(&res, &test_repo, &rows, refs, 1));
    ASSERT_CELL(&res, 0, 0, 2); /* the newest created among equal event times */
    ASSERT_CELL(&res, 0, 1, 0); /* event time decides before created does */
    ASSERT_CELL(&res, 0, 2, 5);
    ASSERT_CELL(&res, 0, 3, 8); /* a null created loses to any created */
    sao_fs_historical_result_dispose(&res);
    sao_fs_entity_rows_dispose(&rows);
}

/* AAPL trades Monday to Friday, BTC-USD every day: 2024-01-08 is a Monday. */
static void test_calendars(void)
{
    make_home("calendars");
    int64_t event[7], created[7] = {1, 1, 1, 1, 1, 1, 1};
    const char *names[] = {"close"};
    double aapl[5] = {100, 101, 102, 103, 104}, btc[7];
    for (int i = 0; i < 7; i++) {
        event[i] = day_us(2024, 1, 8 + i);
        btc[i] = 200 + i;
    }
    write_view("ohlcv_daily", "AAPL", 5, event, created, names, aapl, 1);
    write_view("ohlcv_daily", "BTC-USD", 7, event, created, names, btc, 1);
    const char *tickers[] = {"AAPL", "BTC-USD", "AAPL", "BTC-USD", "AAPL"};
    int64_t ts[] = {ts_us("2024-01-13"), ts_us("2024-01-13"), ts_us("2024-01-14T12:00:00Z"),
                    ts_us("2024-01-14T12:00:00Z"), ts_us("2024-01-12")};
    sao_fs_entity_rows rows;
    entity_rows(&rows, tickers, ts, 5);
    const char *refs[] = {"ohlcv_daily:close"};
    sao_fs_historical_result res;
    ASSERT_OK(sao_fs_historical(&res, &test_repo, &rows, refs, 1));
    ASSERT_CELL(&res, 0, 0, 104); /* Saturday: the stock's Friday row */
    ASSERT_CELL(&res, 0, 1, 205); /* the coin's Saturday row */
    ASSERT_CELL(&res, 0, 2, 104);
    ASSERT_CELL(&res, 0, 3, 206);
    ASSERT_CELL(&res, 0, 4, 104);
    sao_fs_historical_result_dispose(&res);
    sao_fs_entity_rows_dispose(&rows);
}

static void test_unknown_ticker_order_and_duplicates(void)
{
    make_home("order");
    write_aapl_bars();
    int64_t event[] = {day_us(2024, 1, 1), day_us(2024, 1, 2), day_us(2024, 1, 3)};
    int64_t created[] = {1, 1, 1};
    const char *names[] = {"close"};
    double btc[] = {40, 41, 42};
    write_view("ohlcv_daily", "BTC-USD", 3, event, created, names, btc, 1);

    const char *tickers[] = {"BTC-USD", "AAPL", "ZZZZ",    "BTC-USD", "AAPL",
                             "AAPL",    "QQQQ", "BTC-USD", "ZZZZ"};
    int64_t ts[] = {day_us(2024, 1, 3), day_us(2024, 1, 5), day_us(2024, 1, 3),
                    day_us(2024, 1, 3), day_us(2024, 1, 2), day_us(2024, 1, 5),
                    day_us(2024, 1, 3), day_us(2024, 1, 1), day_us(2024, 1, 3)};
    double expect[] = {42, 13, NAN, 42, 10, 13, NAN, 40, NAN};
    sao_fs_entity_rows rows;
    entity_rows(&rows, tickers, ts, SAO_ARRAY_LEN(ts));
    const char *refs[] = {"ohlcv_daily:close"};
    sao_fs_historical_result res;
    log_len = 0;
    log_text[0] = '\0';
    sao_log_set_level(SAO_LOG_INFO);
    sao_log_set_sink(capture_log, NULL);
    int rc = sao_fs_historical(&res, &test_repo, &rows, refs, 1);
    sao_log_set_sink(NULL, NULL);
    sao_log_set_level(SAO_LOG_WARN);
    ASSERT_OK(rc);
    ASSERT_EQ(res.rows, SAO_ARRAY_LEN(ts));
    for (size_t r = 0; r < SAO_ARRAY_LEN(ts); r++) {
        if (isnan(expect[r]))
            ASSERT_NULL_CELL(&res, 0, r);
        else
            ASSERT_CELL(&res, 0, r, expect[r]);
    }
    /* Unknown tickers are not an error; they are reported once, in one line. */
    ASSERT_EQ(count_substr(log_text, "no offline data"), 1);
    ASSERT_CONTAINS(log_text, "2 of 4 tickers");
    ASSERT_CONTAINS(log_text, "ZZZZ");
    ASSERT_CONTAINS(log_text, "QQQQ");
    sao_fs_historical_result_dispose(&res);
    sao_fs_entity_rows_dispose(&rows);
}

static void test_two_views_and_names(void)
{
    make_home("views");
    write_aapl_bars();
    int64_t event[] = {day_us(2024, 1, 2), day_us(2024, 1, 5)};
    int64_t created[] = {1, 1};
    const char *tech_names[] = {"rsi_14", "macd"}; /* no nvt_proxy column: a stock */
    double tech[] = {55, 60, 1.5, NAN};
    write_view("technical_daily", "AAPL", 2, event, created, tech_names, tech, 2);
    const char *adj_names[] = {"close"};
    double adj[] = {9.5, 12.5};
    write_view("adjusted_daily", "AAPL", 2, event, created, adj_names, adj, 1);

    const char *tickers[] = {"AAPL", "AAPL", "AAPL"};
    int64_t ts[] = {day_us(2024, 1, 3), day_us(2024, 1, 9), day_us(2024, 1, 5)};
    sao_fs_entity_rows rows;
    entity_rows(&rows, tickers, ts, 3);
    const char *refs[] = {"ohlcv_daily:close", "technical_daily:rsi_14",    "adjusted_daily:close",
                          "ohlcv_daily:open",  "technical_daily:nvt_proxy", "technical_daily:macd"};
    sao_fs_historical_result res;
    ASSERT_OK(sao_fs_historical(&res, &test_repo, &rows, refs, SAO_ARRAY_LEN(refs)));
    ASSERT_EQ(res.columns, 6);
    ASSERT_STREQ(res.names[0], "ohlcv_daily__close");
    ASSERT_STREQ(res.names[1], "rsi_14");
    ASSERT_STREQ(res.names[2], "adjusted_daily__close");
    ASSERT_STREQ(res.names[3], "open");
    ASSERT_STREQ(res.names[4], "nvt_proxy");
    ASSERT_STREQ(res.names[5], "macd");
    ASSERT_CELL(&res, 0, 0, 11);
    ASSERT_CELL(&res, 1, 0, 55); /* 2024-01-02's indicators, one day old */
    ASSERT_CELL(&res, 2, 0, 9.5);
    ASSERT_CELL(&res, 3, 0, 11);
    ASSERT_NULL_CELL(&res, 4, 0); /* the file has no such column */
    ASSERT_CELL(&res, 5, 0, 1.5);
    /* 2024-01-09: four days after the last rows; inside ohlcv's 10d TTL, past the others' 3d. */
    ASSERT_CELL(&res, 0, 1, 13);
    ASSERT_NULL_CELL(&res, 1, 1);
    ASSERT_NULL_CELL(&res, 2, 1);
    ASSERT_CELL(&res, 3, 1, 13);
    ASSERT_CELL(&res, 1, 2, 60);
    ASSERT_NULL_CELL(&res, 5, 2); /* stored null */
    ASSERT_CELL(&res, 2, 2, 12.5);
    sao_fs_historical_result_dispose(&res);
    sao_fs_entity_rows_dispose(&rows);
}

static void test_ref_errors(void)
{
    make_home("errors");
    write_aapl_bars();
    const char *tickers[] = {"AAPL"};
    int64_t ts[] = {day_us(2024, 1, 3)};
    sao_fs_entity_rows rows;
    entity_rows(&rows, tickers, ts, 1);
    sao_fs_historical_result res;
    memset(&res, 0x5a, sizeof(res));
    const sao_fs_historical_result untouched = res;
    static const struct {
        const char *ref;
        int code;
        const char *message;
    } cases[] = {
        {"nope:close", SAO_EINVAL, "no feature view 'nope'"},
        {"ohlcv_daily:nope", SAO_EINVAL, "view ohlcv_daily has no feature 'nope'"},
        {"close", SAO_EINVAL, "'close' is not view:feature"},
        {"ohlcv_daily:", SAO_EINVAL, "not view:feature"},
        {":close", SAO_EINVAL, "not view:feature"},
        {"model_window:close_window", SAO_EINVAL, "served online only"},
        {"model_window:nope", SAO_EINVAL, "no feature 'nope'"},
    };
    for (size_t i = 0; i < SAO_ARRAY_LEN(cases); i++) {
        const char *refs[] = {"ohlcv_daily:close", cases[i].ref};
        ASSERT_EQ(sao_fs_historical(&res, &test_repo, &rows, refs, 2), cases[i].code);
        ASSERT_CONTAINS(sao_error_last(), cases[i].message);
        ASSERT_TRUE(memcmp(&res, &untouched, sizeof(res)) == 0);
    }
    const char *twice[] = {"ohlcv_daily:close", "ohlcv_daily:close"};
    ASSERT_EQ(sao_fs_historical(&res, &test_repo, &rows, twice, 2), SAO_EINVAL);
    ASSERT_CONTAINS(sao_error_last(), "requested twice");
    ASSERT_EQ(sao_fs_historical(&res, &test_repo, &rows, twice, 0), SAO_EINVAL);
    /* A ticker that could escape the store's folder never reaches a path. */
    sao_free(rows.tickers[0]);
    rows.tickers[0] = sao_strdup("../AAPL");
    ASSERT_EQ(sao_fs_historical(&res, &test_repo, &rows, twice, 1), SAO_EINVAL);
    ASSERT_CONTAINS(sao_error_last(), "entity row 1");
    ASSERT_TRUE(memcmp(&res, &untouched, sizeof(res)) == 0);
    sao_fs_entity_rows_dispose(&rows);
}

/* ---- entity files ---- */

static void test_entity_csv(void)
{
    make_home("csv");
    write_aapl_bars();
    char path[700];
    snprintf(path, sizeof(path), "%s/entities.csv", home);
    static const char text[] = "\xEF\xBB\xBF\"id\",Event_Timestamp,note,TICKER\r\n"
                               "1,2024-01-03,\"a, \"\"quoted\"\"\nnote\",aapl\r\n"
                               "\r\n"
                               "2, 2024-01-03T15:00:00Z ,x,AAPL\r\n"
                               "3,2024-01-02T19:00:00-05:00,,BTC-USD\r\n"
                               "4,2024-01-03T10:30:00.25+05:30,,\"AAPL\"\n"
                               "5,\"2024-01-05 00:00:00\",,AAPL";
    write_text(path, text, sizeof(text) - 1);
    sao_fs_entity_rows rows;
    ASSERT_OK(sao_fs_entity_rows_read(&rows, path));
    ASSERT_EQ(rows.count, 5);
    ASSERT_STREQ(rows.tickers[0], "AAPL"); /* upper-cased, as everywhere in the store */
    ASSERT_STREQ(rows.tickers[2], "BTC-USD");
    ASSERT_EQ(rows.event_ts_us[0], day_us(2024, 1, 3));
    ASSERT_EQ(rows.event_ts_us[1], day_us(2024, 1, 3) + INT64_C(15) * 3600 * 1000000);
    ASSERT_EQ(rows.event_ts_us[2], day_us(2024, 1, 3));
    ASSERT_EQ(rows.event_ts_us[3], day_us(2024, 1, 3) + INT64_C(5) * 3600 * 1000000 + 250000);
    ASSERT_EQ(rows.event_ts_us[4], day_us(2024, 1, 5));
    const char *refs[] = {"ohlcv_daily:close"};
    sao_fs_historical_result res;
    ASSERT_OK(sao_fs_historical(&res, &test_repo, &rows, refs, 1));
    ASSERT_CELL(&res, 0, 0, 11);
    ASSERT_CELL(&res, 0, 1, 11);
    ASSERT_NULL_CELL(&res, 0, 2);
    ASSERT_CELL(&res, 0, 3, 11);
    ASSERT_CELL(&res, 0, 4, 13);
    sao_fs_historical_result_dispose(&res);
    sao_fs_entity_rows_dispose(&rows);
    sao_fs_entity_rows_dispose(NULL);
}

static void test_entity_csv_errors(void)
{
    make_home("csv_errors");
    char path[700];
    snprintf(path, sizeof(path), "%s/bad.csv", home);
    static const struct {
        const char *text;
        int code;
        const char *message;
    } cases[] = {
        {"ticker,event_timestamp\nAAPL,2024-01-02\nAAPL,2024-13-01\n", SAO_EPARSE,
         "bad.csv:3:2: '2024-13-01' is not a timestamp"},
        {"ticker,event_timestamp\nAAPL,2024-01-03T25:00:00Z\n", SAO_EPARSE, "bad.csv:2:2:"},
        {"ticker,when\nAAPL,2024-01-01\n", SAO_EPARSE,
         "bad.csv:1: the header has no "
         "'event_timestamp' column"},
        {"event_timestamp,ticker\n2024-01-01\n", SAO_EPARSE, "bad.csv:2: 1 fields"},
        {"ticker,event_timestamp\n../etc,2024-01-01\n", SAO_EPARSE,
         "bad.csv:2:1: '../etc' is not a ticker"},
        {"ticker,event_timestamp\n,2024-01-01\n", SAO_EPARSE, "bad.csv:2:1: '' is not a ticker"},
        {"ticker,event_timestamp\nAAPL,2024-01-01\n\"AAPL,2024-01-01\n", SAO_EPARSE,
         "bad.csv:3:1: unterminated quoted field"},
        {"ticker,event_timestamp\nAAPL,\"2024-01-01\"x\n", SAO_EPARSE,
         "bad.csv:2:2: text after the closing quote"},
        {"ticker,event_timestamp\nAA\"PL,2024-01-01\n", SAO_EPARSE,
         "bad.csv:2:1: quote inside an unquoted field"},
        {"ticker,TICKER,event_timestamp\n", SAO_EPARSE,
         "bad.csv:1:2: column 'ticker' appears twice"},
        {"", SAO_EPARSE, "bad.csv: empty file"},
        {"\n\n", SAO_EPARSE, "bad.csv: empty file"},
        {"ticker,event_timestamp\n", SAO_ENODATA, "bad.csv: no entity rows"},
    };
    for (size_t i = 0; i < SAO_ARRAY_LEN(cases); i++) {
        write_text(path, cases[i].text, strlen(cases[i].text));
        sao_fs_entity_rows rows = {0};
        int rc = sao_fs_entity_rows_read(&rows, path);
        if (rc != cases[i].code || !strstr(sao_error_last(), cases[i].message)) {
            fprintf(stderr, "case %zu: rc %s, message '%s'\n", i, sao_errname(rc),
                    sao_error_last());
            ASSERT_TRUE(0);
        }
        ASSERT_EQ(rows.count, 0);
        ASSERT_TRUE(rows.tickers == NULL);
    }
    snprintf(path, sizeof(path), "%s/absent.csv", home);
    sao_fs_entity_rows rows = {0};
    ASSERT_EQ(sao_fs_entity_rows_read(&rows, path), SAO_ENOENT);
    ASSERT_CONTAINS(sao_error_last(), "absent.csv");

    /* Caps: a record past SAO_FS_ENTITY_MAX_RECORD is an error, never truncated. */
    size_t len = SAO_FS_ENTITY_MAX_RECORD + 100;
    char *big = malloc(len + 64);
    int n = snprintf(big, 64, "ticker,event_timestamp,x\nAAPL,2024-01-01,");
    memset(big + n, 'y', len - (size_t)n);
    ASSERT_EQ(sao_fs__entity_rows_parse_csv(&rows, big, len, "big.csv"), SAO_ETOOBIG);
    ASSERT_CONTAINS(sao_error_last(), "big.csv:2: record longer than");
    /* The same inside quotes, made only of escaped quotes. */
    n = snprintf(big, 64, "ticker,event_timestamp,x\nAAPL,2024-01-01,\"");
    memset(big + n, '"', len - (size_t)n);
    ASSERT_EQ(sao_fs__entity_rows_parse_csv(&rows, big, len, "big.csv"), SAO_ETOOBIG);
    ASSERT_CONTAINS(sao_error_last(), "record longer than");
    /* Too many fields. */
    n = snprintf(big, 64, "ticker,event_timestamp\nAAPL,2024-01-01");
    for (int i = 0; i < SAO_FS_ENTITY_MAX_FIELDS; i++) big[n + i] = ',';
    ASSERT_EQ(
        sao_fs__entity_rows_parse_csv(&rows, big, (size_t)n + SAO_FS_ENTITY_MAX_FIELDS, "wide.csv"),
        SAO_ETOOBIG);
    ASSERT_CONTAINS(sao_error_last(), "wide.csv:2: more than 1024 fields");
    ASSERT_EQ(rows.count, 0);
    free(big);
}

/* Replaces the TIMESTAMP(MICROS) unit of our writer's footer with MILLIS or NANOS, to stand for
 * files written by pyarrow or Spark. The unit is the only TimeUnit struct in the footer. */
static void retype_timestamps(char *data, size_t len, unsigned char unit_header)
{
    /* TimestampType{1: isAdjustedToUTC=true, 2: unit=TimeUnit{2: MICROS{}}} in compact form. */
    static const unsigned char micros[] = {0x11, 0x1c, 0x2c, 0x00, 0x00, 0x00};
    size_t hits = 0;
    for (size_t i = 0; i + sizeof(micros) <= len; i++)
        if (memcmp(data + i, micros, sizeof(micros)) == 0) {
            data[i + 2] = (char)unit_header;
            hits++;
        }
    ASSERT_EQ(hits, 1);
}

static void write_entity_parquet(const char *path, const char *const *tickers, const int64_t *times,
                                 size_t count, unsigned char unit_header)
{
    double extra[8] = {0};
    sao_pq_column cols[] = {{"row", SAO_PQ_DOUBLE, extra, NULL},
                            {"event_timestamp", SAO_PQ_TIMESTAMP_US, times, NULL},
                            {"ticker", SAO_PQ_STRING, tickers, NULL}};
    sao_pq_write_options opts;
    sao_pq_write_options_init(&opts);
    opts.codec = SAO_PQ_UNCOMPRESSED;
    char *data;
    size_t len;
    ASSERT_OK(sao_parquet_write_mem(&data, &len, cols, 3, count, &opts));
    if (unit_header) retype_timestamps(data, len, unit_header);
    write_text(path, data, len);
    sao_free(data);
}

static void test_entity_parquet(void)
{
    make_home("parquet");
    write_aapl_bars();
    char path[700];
    snprintf(path, sizeof(path), "%s/entities.parquet", home);
    const char *tickers[] = {"AAPL", "aapl", "MSFT"};
    int64_t us[] = {day_us(2024, 1, 3) + 1, day_us(2024, 1, 5), day_us(2024, 1, 3)};
    write_entity_parquet(path, tickers, us, 3, 0);
    sao_fs_entity_rows rows;
    ASSERT_OK(sao_fs_entity_rows_read(&rows, path));
    ASSERT_EQ(rows.count, 3);
    ASSERT_STREQ(rows.tickers[1], "AAPL");
    ASSERT_EQ(rows.event_ts_us[0], us[0]);
    const char *refs[] = {"ohlcv_daily:close"};
    sao_fs_historical_result res;
    ASSERT_OK(sao_fs_historical(&res, &test_repo, &rows, refs, 1));
    ASSERT_CELL(&res, 0, 0, 11);
    ASSERT_CELL(&res, 0, 1, 13);
    ASSERT_NULL_CELL(&res, 0, 2);
    sao_fs_historical_result_dispose(&res);
    sao_fs_entity_rows_dispose(&rows);

    /* Milliseconds and nanoseconds. */
    int64_t ms[] = {day_us(2024, 1, 3) / 1000, 1700000000123, 0};
    write_entity_parquet(path, tickers, ms, 3, 0x1c);
    ASSERT_OK(sao_fs_entity_rows_read(&rows, path));
    ASSERT_EQ(rows.event_ts_us[0], day_us(2024, 1, 3));
    ASSERT_EQ(rows.event_ts_us[1], INT64_C(1700000000123000));
    ASSERT_EQ(rows.event_ts_us[2], 0);
    sao_fs_entity_rows_dispose(&rows);
    int64_t ns[] = {day_us(2024, 1, 3) * 1000 + 999, -1, 1700000000123456789};
    write_entity_parquet(path, tickers, ns, 3, 0x3c);
    ASSERT_OK(sao_fs_entity_rows_read(&rows, path));
    ASSERT_EQ(rows.event_ts_us[0], day_us(2024, 1, 3)); /* rounded down: never after the time */
    ASSERT_EQ(rows.event_ts_us[1], -1);
    ASSERT_EQ(rows.event_ts_us[2], INT64_C(1700000000123456));
    sao_fs_entity_rows_dispose(&rows);

    /* A real pyarrow file (ticker, event_timestamp in nanoseconds, other columns). */
    const char *real = sao_test_shared("data/parquet/features_4tickers_pyarrow.parquet");
    if (access(real, R_OK) == 0) {
        ASSERT_OK(sao_fs_entity_rows_read(&rows, real));
        ASSERT_EQ(rows.count, 21460);
        ASSERT_EQ(rows.event_ts_us[0], INT64_C(1094601600) * 1000000);
        size_t gspc = 0;
        for (size_t i = 0; i < rows.count; i++) gspc += strcmp(rows.tickers[i], "^GSPC") == 0;
        ASSERT_EQ(gspc, 5365);
        sao_fs_entity_rows_dispose(&rows);
    }

    /* Errors name the file, the row and the column. */
    const char *bad_tickers[] = {"AAPL", "../x", "MSFT"};
    write_entity_parquet(path, bad_tickers, us, 3, 0);
    ASSERT_EQ(sao_fs_entity_rows_read(&rows, path), SAO_EPARSE);
    ASSERT_CONTAINS(sao_error_last(), "entities.parquet: row 2: column 'ticker': '../x'");
    int64_t far[] = {0, day_us(2200, 12, 31), INT64_MAX};
    write_entity_parquet(path, tickers, far, 3, 0);
    ASSERT_EQ(sao_fs_entity_rows_read(&rows, path), SAO_ERANGE);
    ASSERT_CONTAINS(sao_error_last(), "row 3: column 'event_timestamp'");
    write_entity_parquet(path, tickers, far, 3, 0x1c); /* INT64_MAX ms does not fit in us */
    ASSERT_EQ(sao_fs_entity_rows_read(&rows, path), SAO_ERANGE);

    double d[] = {1, 2};
    uint8_t valid[] = {1, 0};
    sao_pq_column no_ts[] = {{"ticker", SAO_PQ_STRING, tickers, NULL},
                             {"event_timestamp", SAO_PQ_DOUBLE, d, NULL}};
    ASSERT_OK(sao_parquet_write(path, no_ts, 2, 2, NULL));
    ASSERT_EQ(sao_fs_entity_rows_read(&rows, path), SAO_EFORMAT);
    ASSERT_CONTAINS(sao_error_last(), "'event_timestamp' is not a timestamp");
    ASSERT_OK(sao_parquet_write(path, no_ts, 1, 2, NULL));
    ASSERT_EQ(sao_fs_entity_rows_read(&rows, path), SAO_EPARSE);
    ASSERT_CONTAINS(sao_error_last(), "no 'event_timestamp' column");
    const char *null_tickers[] = {"AAPL", NULL};
    sao_pq_column null_ticker[] = {{"ticker", SAO_PQ_STRING, null_tickers, valid},
                                   {"event_timestamp", SAO_PQ_TIMESTAMP_US, us, NULL}};
    ASSERT_OK(sao_parquet_write(path, null_ticker, 2, 2, NULL));
    ASSERT_EQ(sao_fs_entity_rows_read(&rows, path), SAO_EPARSE);
    ASSERT_CONTAINS(sao_error_last(), "row 2: column 'ticker' is null");
    ASSERT_EQ(rows.count, 0);
}

static void test_write_result(void)
{
    make_home("write");
    write_aapl_bars();
    const char *tickers[] = {"AAPL", "ZZZZ", "AAPL"};
    int64_t ts[] = {day_us(2024, 1, 3) + 5, day_us(2024, 1, 3), day_us(2024, 1, 4)};
    sao_fs_entity_rows rows;
    entity_rows(&rows, tickers, ts, 3);
    const char *refs[] = {"ohlcv_daily:close", "ohlcv_daily:open"};
    sao_fs_historical_result res;
    ASSERT_OK(sao_fs_historical(&res, &test_repo, &rows, refs, 2));
    char path[700];
    snprintf(path, sizeof(path), "%s/out.parquet", home);
    ASSERT_OK(sao_fs_historical_write(path, &rows, &res));

    sao_pq_file *file;
    ASSERT_OK(sao_parquet_open(&file, path));
    ASSERT_EQ(sao_parquet_num_rows(file), 3);
    ASSERT_EQ(sao_parquet_num_columns(file), 4);
    static const char *names[] = {"ticker", "event_timestamp", "close", "open"};
    static const sao_pq_type types[] = {SAO_PQ_STRING, SAO_PQ_TIMESTAMP_US, SAO_PQ_DOUBLE,
                                        SAO_PQ_DOUBLE};
    for (size_t c = 0; c < 4; c++) {
        ASSERT_STREQ(sao_parquet_column_name(file, c), names[c]);
        ASSERT_EQ(sao_parquet_column_type(file, c), types[c]);
    }
    const sao_pq_column_data *col;
    ASSERT_OK(sao_parquet_read_column(&col, file, 0));
    ASSERT_STREQ(col->str[1], "ZZZZ");
    ASSERT_OK(sao_parquet_read_column(&col, file, 1));
    ASSERT_EQ(col->i64[0], ts[0]);
    ASSERT_OK(sao_parquet_read_column(&col, file, 2));
    ASSERT_EQ(col->null_count, 2);
    ASSERT_NEAR(col->f64[0], 11, 0);
    ASSERT_EQ(col->valid[1], 0);
    ASSERT_EQ(col->valid[2], 0);
    ASSERT_OK(sao_parquet_read_column(&col, file, 3));
    ASSERT_EQ(col->null_count, 1);
    ASSERT_NEAR(col->f64[2], 12, 0);
    sao_parquet_close(file);

    /* Mismatched rows are refused, and nothing is written. */
    snprintf(path, sizeof(path), "%s/mismatch.parquet", home);
    rows.count = 2;
    ASSERT_EQ(sao_fs_historical_write(path, &rows, &res), SAO_EINVAL);
    rows.count = 3;
    ASSERT_TRUE(access(path, F_OK) != 0);
    sao_fs_historical_result_dispose(&res);
    sao_fs_entity_rows_dispose(&rows);
}

/* ---- brute force ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* The definition, one entity row at a time over every stored row. */
static void naive_expect(double *value, int *valid, sao_pq_file *file, const char *feature,
                         int64_t ts, int64_t ttl_us)
{
    *valid = 0;
    *value = NAN;
    if (!file) return;
    const sao_pq_column_data *event, *created, *col;
    ASSERT_OK(sao_parquet_read_column(&event, file,
                                      (size_t)sao_parquet_find_column(file, "event_timestamp")));
    ASSERT_OK(
        sao_parquet_read_column(&created, file, (size_t)sao_parquet_find_column(file, "created")));
    int idx = sao_parquet_find_column(file, feature);
    long best = -1;
    for (size_t r = 0; r < event->count; r++) {
        int64_t t = event->i64[r];
        if (t > ts || ts - t > ttl_us) continue;
        int64_t c = created->valid[r] ? created->i64[r] : INT64_MIN;
        if (best < 0 || t > event->i64[best] ||
            (t == event->i64[best] && c >= (created->valid[best] ? created->i64[best] : INT64_MIN)))
            best = (long)r;
    }
    if (best < 0 || idx < 0) return;
    ASSERT_OK(sao_parquet_read_column(&col, file, (size_t)idx));
    if (!col->valid[best] || isnan(col->f64[best])) return;
    *value = col->f64[best];
    *valid = 1;
}

static void compare_with_naive(const sao_fs_repo *repo, const sao_fs_entity_rows *rows,
                               const char *const *refs, size_t ref_count)
{
    sao_fs_historical_result res;
    ASSERT_OK(sao_fs_historical(&res, repo, rows, refs, ref_count));
    size_t checked = 0, present = 0;
    for (size_t c = 0; c < ref_count; c++) {
        char view_name[64];
        const char *colon = strchr(refs[c], ':');
        snprintf(view_name, sizeof(view_name), "%.*s", (int)(colon - refs[c]), refs[c]);
        const sao_fs_view *view = sao_fs_repo_view(repo, view_name);
        const char *folder = view->source + strlen("offline/");
        for (size_t r = 0; r < rows->count; r++) {
            sao_pq_file *file = NULL;
            if (sao_offline_open(&file, folder, rows->tickers[r]) != 0) file = NULL;
            double v;
            int valid;
            naive_expect(&v, &valid, file, colon + 1, rows->event_ts_us[r],
                         view->ttl_seconds * INT64_C(1000000));
            sao_parquet_close(file);
            if (res.valid[c][r] != valid) {
                fprintf(stderr, "%s row %zu (%s %lld): valid %d, naive %d\n", refs[c], r,
                        rows->tickers[r], (long long)rows->event_ts_us[r], res.valid[c][r], valid);
                ASSERT_TRUE(0);
            }
            if (valid) ASSERT_TRUE(res.values[c][r] == v);
            checked++;
            present += (size_t)valid;
        }
    }
    ASSERT_TRUE(present > checked / 4 && present < checked); /* both outcomes exercised */
    sao_fs_historical_result_dispose(&res);
}

static void test_bruteforce_against_naive(void)
{
    make_home("brute");
    /* Real data through the ingestion pipeline. */
    const char *csv =
        sao_test_shared("data/ohlcv/yahoo_daily_GSPC_1990-01-02_2024-09-12_johnvb21.csv");
    ASSERT_TRUE(access(csv, R_OK) == 0);
    sao_ingest_options opts;
    sao_ingest_options_init(&opts);
    opts.source = SAO_SOURCE_CSV;
    opts.file = csv;
    opts.quiet = 1;
    sao_ingest_result ingest;
    ASSERT_OK(sao_ingest_ticker(&ingest, "^GSPC", &opts));
    sao_ingest_result_dispose(&ingest);

    /* A synthetic file full of ties, unsorted, with nulls. */
    enum { TIE_ROWS = 400 };
    int64_t event[TIE_ROWS], created[TIE_ROWS];
    double values[2 * TIE_ROWS];
    int64_t base = day_us(2020, 1, 1);
    for (size_t i = 0; i < TIE_ROWS; i++) {
        event[i] = base + (int64_t)(rng() % 300) * SAO_US_PER_DAY;
        created[i] = (int64_t)(rng() % 4);
        values[i] = rng() % 7 == 0 ? NAN : (double)i;
        values[TIE_ROWS + i] = (double)i * 2;
    }
    const char *names[] = {"close", "open"};
    write_view("ohlcv_daily", "TIE", TIE_ROWS, event, created, names, values, 2);

    enum { ENTITIES = 3000 };
    const char *pick[] = {"^GSPC", "^GSPC", "^GSPC", "TIE", "NOPE"};
    char *tickers[ENTITIES];
    int64_t ts[ENTITIES];
    int64_t gspc_lo = day_us(1989, 12, 1), gspc_span = day_us(2024, 10, 1) - gspc_lo;
    int64_t tie_lo = base - 20 * SAO_US_PER_DAY, tie_span = 340 * SAO_US_PER_DAY;
    for (size_t i = 0; i < ENTITIES; i++) {
        const char *t = pick[rng() % SAO_ARRAY_LEN(pick)];
        int tie = strcmp(t, "TIE") == 0;
        int64_t lo = tie ? tie_lo : gspc_lo, span = tie ? tie_span : gspc_span;
        int64_t at = lo + (int64_t)(rng() % (uint64_t)(span / SAO_US_PER_DAY)) * SAO_US_PER_DAY;
        switch (rng() % 3) {
        case 0:
            break; /* midnight: exact matches */
        case 1:
            at += (int64_t)(rng() % (uint64_t)SAO_US_PER_DAY);
            break;
        default:
            at -= 1;
            break; /* just before a day starts */
        }
        if (i > 0 && rng() % 10 == 0) { /* duplicates */
            t = tickers[i - 1];
            at = ts[i - 1];
        }
        tickers[i] = (char *)t;
        ts[i] = at;
    }
    sao_fs_entity_rows rows;
    entity_rows(&rows, (const char *const *)tickers, ts, ENTITIES);
    const char *refs[] = {"ohlcv_daily:close", "technical_daily:rsi_14", "ohlcv_daily:open",
                          "technical_daily:sma_20", "technical_daily:nvt_proxy"};
    compare_with_naive(&test_repo, &rows, refs, 4); /* nvt_proxy: all null, checked below */
    sao_fs_historical_result res;
    ASSERT_OK(sao_fs_historical(&res, &test_repo, &rows, refs, 5));
    for (size_t r = 0; r < rows.count; r++) ASSERT_NULL_CELL(&res, 4, r);
    sao_fs_historical_result_dispose(&res);
    sao_fs_entity_rows_dispose(&rows);
}

SAO_TEST_MAIN(TEST(test_parse_timestamp), TEST(test_point_in_time_bounds),
              TEST(test_ties_broken_by_created), TEST(test_calendars),
              TEST(test_unknown_ticker_order_and_duplicates), TEST(test_two_views_and_names),
              TEST(test_ref_errors), TEST(test_entity_csv), TEST(test_entity_csv_errors),
              TEST(test_entity_parquet), TEST(test_write_result),
              TEST(test_bruteforce_against_naive))
