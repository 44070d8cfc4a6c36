/*
 * Unit tests for the ingestion pipeline: merging keeps one row per day and the right created
 * times; a rejected batch writes nothing; the offline store round-trips bars exactly.
 */
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "features/features.h"
#include "pipelines/pipelines.h"
#include "test.h"

static void make_home(const char *name)
{
    char home[512];
    snprintf(home, sizeof(home), "%s/%s", SAO_TEST_TMPDIR, name);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", home);
    ASSERT_EQ(system(cmd), 0);
    ASSERT_OK(sao_mkdir_p(home));
    setenv("SAO_HOME", home, 1);
}

static void push(sao_bars *b, int64_t day, double close)
{
    sao_bars_push(b, day, close, close + 1, close - 1, close, close, 1000);
}

static void test_merge_one_row_per_day(void)
{
    sao_bars stored, incoming, merged;
    sao_bars_init(&stored, "AAPL");
    sao_bars_init(&incoming, "AAPL");
    sao_bars_init(&merged, "AAPL");
    for (int d = 0; d < 5; d++) {
        push(&stored, 100 + d, 10 + d);
        stored.created_us[d] = 111;
    }
    push(&incoming, 103, 13);   /* same values: keeps its created time */
    push(&incoming, 104, 99);   /* corrected: takes the new values and time */
    push(&incoming, 105, 15);   /* new */
    size_t added, updated;
    sao_ingest_merge(&merged, &stored, &incoming, 222, &added, &updated);
    ASSERT_EQ(merged.count, 6);
    ASSERT_EQ(added, 1);
    ASSERT_EQ(updated, 1);
    for (size_t i = 1; i < merged.count; i++) ASSERT_TRUE(merged.day[i] > merged.day[i - 1]);
    ASSERT_EQ(merged.created_us[3], 111);
    ASSERT_EQ(merged.created_us[4], 222);
    ASSERT_NEAR(merged.close[4], 99, 0);
    ASSERT_EQ(merged.created_us[5], 222);
    sao_bars_dispose(&stored);
    sao_bars_dispose(&incoming);
    sao_bars_dispose(&merged);
}

static void write_csv(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ASSERT_TRUE(f != NULL);
    fputs(text, f);
    fclose(f);
}

static void test_rejected_batch_writes_nothing(void)
{
    make_home("ingest_reject");
    char csv[600];
    snprintf(csv, sizeof(csv), "%s/ingest_reject/bad.csv", SAO_TEST_TMPDIR);
    write_csv(csv, "Date,Open,High,Low,Close,Adj Close,Volume\n"
                   "2024-01-02,10,11,9,10.5,10.5,100\n"
                   "2024-01-03,10,9,11,10.5,10.5,100\n");
    sao_ingest_options opts;
    sao_ingest_options_init(&opts);
    opts.source = SAO_SOURCE_CSV;
    opts.file = csv;
    sao_ingest_result res;
    ASSERT_EQ(sao_ingest_ticker(&res, "xyz", &opts), SAO_EVALIDATION);
    ASSERT_EQ(res.validation.invalid_rows, 1);
    sao_ingest_result_dispose(&res);
    char path[4096];
    ASSERT_OK(sao_offline_path(path, sizeof(path), SAO_VIEW_OHLCV, "XYZ"));
    ASSERT_TRUE(access(path, F_OK) != 0);

    opts.drop_invalid = 1;
    ASSERT_OK(sao_ingest_ticker(&res, "xyz", &opts));
    ASSERT_EQ(res.total_rows, 1);
    ASSERT_EQ(res.validation.dropped_rows, 1);
    ASSERT_STREQ(res.ticker, "XYZ");
    sao_ingest_result_dispose(&res);
    ASSERT_TRUE(access(path, F_OK) == 0);
}

static void test_offline_round_trip_and_incremental(void)
{
    make_home("ingest_roundtrip");
    sao_ingest_options opts;
    sao_ingest_options_init(&opts);
    opts.source = SAO_SOURCE_CSV;
    opts.file = sao_test_shared("data/ohlcv/yahoo_daily_GSPC_1990-01-02_2024-09-12_johnvb21.csv");
    ASSERT_OK(sao_date_parse("2015-12-31", 10, &opts.to_day));
    sao_ingest_result res;
    ASSERT_OK(sao_ingest_ticker(&res, "^GSPC", &opts));
    size_t first = res.total_rows;
    ASSERT_EQ(res.new_rows, first);
    sao_ingest_result_dispose(&res);

    opts.to_day = INT64_MIN;
    ASSERT_OK(sao_ingest_ticker(&res, "^GSPC", &opts));
    ASSERT_TRUE(res.new_rows > 2000);
    ASSERT_EQ(res.updated_rows, 0);
    ASSERT_EQ(res.total_rows, first + res.new_rows);
    size_t total = res.total_rows;
    sao_ingest_result_dispose(&res);

    sao_bars csv, stored;
    sao_csv_report rep;
    sao_bars_init(&csv, "^GSPC");
    sao_bars_init(&stored, "^GSPC");
    ASSERT_OK(sao_csv_import(&csv, &rep, opts.file));
    ASSERT_OK(sao_offline_read_bars(&stored, "^GSPC"));
    ASSERT_EQ(stored.count, total);
    ASSERT_EQ(csv.count, total);
    for (size_t i = 0; i < total; i++) {
        ASSERT_EQ(stored.day[i], csv.day[i]);
        ASSERT_TRUE(stored.close[i] == csv.close[i]); /* bit-exact through Parquet */
        ASSERT_TRUE(stored.volume[i] == csv.volume[i]);
        ASSERT_TRUE(stored.created_us[i] > 0);
    }
    /* Known close (README of the shared data). */
    int64_t d;
    ASSERT_OK(sao_date_parse("2007-10-09", 10, &d));
    for (size_t i = 0; i < total; i++)
        if (stored.day[i] == d) ASSERT_NEAR(stored.close[i], 1565.15, 1e-6);

    /* The technical view holds every indicator, null (not zero) during warm-up. */
    sao_pq_file *tech;
    ASSERT_OK(sao_offline_open(&tech, SAO_VIEW_TECHNICAL, "^GSPC"));
    ASSERT_EQ(sao_parquet_num_rows(tech), total);
    int idx = sao_parquet_find_column(tech, "rsi_14");
    ASSERT_TRUE(idx >= 0);
    const sao_pq_column_data *rsi;
    ASSERT_OK(sao_parquet_read_column(&rsi, tech, (size_t)idx));
    ASSERT_EQ(rsi->valid[0], 0);
    ASSERT_EQ(rsi->valid[13], 0);
    ASSERT_EQ(rsi->valid[14], 1);
    ASSERT_TRUE(sao_parquet_metadata(tech, "sao.features") != NULL);
    ASSERT_EQ(sao_parquet_find_column(tech, "nvt_proxy"), -1);
    sao_parquet_close(tech);
    sao_bars_dispose(&csv);
    sao_bars_dispose(&stored);

    char **tickers;
    size_t n;
    ASSERT_OK(sao_offline_list_tickers(&tickers, &n));
    ASSERT_EQ(n, 1);
    ASSERT_STREQ(tickers[0], "^GSPC");
    sao_offline_tickers_free(tickers, n);
}

SAO_TEST_MAIN(TEST(test_merge_one_row_per_day), TEST(test_rejected_batch_writes_nothing),
              TEST(test_offline_round_trip_and_incremental))
