/*
 * Validation: each kind of issue rejects the batch untouched or is dropped, duplicates keep the
 * last valid row read, gaps are warnings with per-calendar limits, and the real data passes.
 */
#include "test.h"

#include "data/data.h"

#include <stdint.h>

int sao_test_failures;

static int64_t day_of(const char *ymd)
{
    int64_t day = 0;
    SAO_ASSERT(sao_date_parse(ymd, strlen(ymd), &day) == 0);
    return day;
}

/* Five clean weekday bars from Monday 2024-09-09, close = 10 + row. */
static void five_bars(sao_bars *b, const char *ticker)
{
    sao_bars_init(b, ticker);
    int64_t mon = day_of("2024-09-09");
    for (int i = 0; i < 5; i++)
        sao_bars_push(b, mon + i, 10 + i, 11 + i, 9 + i, 10 + i, 10 + i, 1000 + i);
}

static void assert_same(const sao_bars *a, const sao_bars *b)
{
    ASSERT_EQ(a->count, b->count);
    for (size_t i = 0; i < a->count; i++) {
        ASSERT_EQ(a->day[i], b->day[i]);
        ASSERT_TRUE(memcmp(&a->open[i], &b->open[i], sizeof(double)) == 0);
        ASSERT_TRUE(memcmp(&a->high[i], &b->high[i], sizeof(double)) == 0);
        ASSERT_TRUE(memcmp(&a->low[i], &b->low[i], sizeof(double)) == 0);
        ASSERT_TRUE(memcmp(&a->close[i], &b->close[i], sizeof(double)) == 0);
        ASSERT_TRUE(memcmp(&a->volume[i], &b->volume[i], sizeof(double)) == 0);
    }
}

static void copy_bars(sao_bars *dst, const sao_bars *src)
{
    sao_bars_init(dst, src->ticker);
    for (size_t i = 0; i < src->count; i++) sao_bars_push_row(dst, src, i);
}

static void test_clean(void)
{
    sao_bars b;
    five_bars(&b, "AAPL");
    sao_validation_report rep;
    sao_validation_report_init(&rep);
    ASSERT_OK(sao_validate_bars(&b, &rep, 0, 0));
    ASSERT_EQ(rep.rows_checked, 5);
    ASSERT_EQ(rep.invalid_rows, 0);
    ASSERT_EQ(rep.dropped_rows, 0);
    ASSERT_EQ(rep.issue_count, 0);
    ASSERT_EQ(rep.gaps, 0);
    ASSERT_OK(sao_validate_bars(&b, &rep, 1, 0));
    ASSERT_EQ(b.count, 5);
    /* An empty series is valid. */
    sao_bars empty;
    sao_bars_init(&empty, "AAPL");
    ASSERT_OK(sao_validate_bars(&empty, &rep, 0, 0));
    ASSERT_OK(sao_validate_bars(&empty, &rep, 1, 0));
    ASSERT_EQ(rep.rows_checked, 0);
    sao_bars_dispose(&empty);
    sao_validation_report_dispose(&rep);
    sao_bars_dispose(&b);
}

typedef void (*corrupt_fn)(sao_bars *b);

static void set_nonpositive(sao_bars *b) { b->low[2] = 0; }
static void set_negative_open(sao_bars *b) { b->open[2] = -1; }
static void set_high_below_close(sao_bars *b)
{
    b->close[2] = 12.75;
    b->high[2] = 12.5;
}
static void set_high_below_low(sao_bars *b)
{
    b->high[2] = 10;
    b->low[2] = 12;
    b->open[2] = 10;
    b->close[2] = 10;
}
static void set_low_above_open(sao_bars *b) { b->low[2] = b->open[2] + 0.25; }
static void set_negative_volume(sao_bars *b) { b->volume[2] = -5; }
static void set_nan(sao_bars *b) { b->close[2] = NAN; }
static void set_inf_volume(sao_bars *b) { b->volume[2] = INFINITY; }
static void set_adj_zero(sao_bars *b) { b->adj_close[2] = 0; }

static void test_each_error_kind(void)
{
    static const struct {
        corrupt_fn corrupt;
        sao_issue_kind kind;
        const char *message;
    } cases[] = {
        {set_nonpositive, SAO_ISSUE_NONPOSITIVE_PRICE, "2024-09-11: low is 0"},
        {set_negative_open, SAO_ISSUE_NONPOSITIVE_PRICE, "2024-09-11: open is -1"},
        {set_high_below_close, SAO_ISSUE_HIGH_BELOW, "2024-09-11: high 12.5 is below close 12.75"},
        {set_high_below_low, SAO_ISSUE_HIGH_BELOW, "high 10 is below low 12"},
        {set_low_above_open, SAO_ISSUE_LOW_ABOVE, "2024-09-11: low 12.25 is above open 12"},
        {set_negative_volume, SAO_ISSUE_NEGATIVE_VOLUME, "2024-09-11: volume is -5"},
        {set_nan, SAO_ISSUE_NOT_FINITE, "2024-09-11: close is nan"},
        {set_inf_volume, SAO_ISSUE_NOT_FINITE, "volume is inf"},
        {set_adj_zero, SAO_ISSUE_NONPOSITIVE_PRICE, "adj_close is 0"},
    };
    for (size_t i = 0; i < SAO_ARRAY_LEN(cases); i++) {
        sao_bars b, before;
        five_bars(&b, "AAPL");
        cases[i].corrupt(&b);
        copy_bars(&before, &b);
        sao_validation_report rep;
        sao_validation_report_init(&rep);

        /* Strict: rejected, untouched, the issue reported with its row. */
        ASSERT_EQ(sao_validate_bars(&b, &rep, 0, 0), SAO_EVALIDATION);
        ASSERT_CONTAINS(sao_error_last(), "AAPL: 1 of 5 rows failed validation");
        ASSERT_CONTAINS(sao_error_last(), cases[i].message);
        assert_same(&b, &before);
        ASSERT_EQ(rep.invalid_rows, 1);
        ASSERT_EQ(rep.dropped_rows, 0);
        ASSERT_EQ(rep.counts[cases[i].kind], 1);
        ASSERT_TRUE(rep.issue_count >= 1);
        ASSERT_EQ(rep.issues[0].kind, cases[i].kind);
        ASSERT_EQ(rep.issues[0].row, 2);
        ASSERT_EQ(rep.issues[0].day, day_of("2024-09-11"));
        ASSERT_CONTAINS(rep.issues[0].message, cases[i].message);

        /* Dropping: the bad row goes, the rest stays in order. */
        ASSERT_OK(sao_validate_bars(&b, &rep, 1, 0));
        ASSERT_EQ(rep.dropped_rows, 1);
        ASSERT_EQ(rep.invalid_rows, 1);
        ASSERT_EQ(b.count, 4);
        ASSERT_EQ(b.day[1], day_of("2024-09-10"));
        ASSERT_EQ(b.day[2], day_of("2024-09-12"));
        ASSERT_NEAR(b.close[2], 13, 0);
        ASSERT_STREQ(b.ticker, "AAPL");
        /* ... and what is left passes. */
        ASSERT_OK(sao_validate_bars(&b, &rep, 0, 0));
        ASSERT_EQ(rep.issue_count, 0);
        sao_validation_report_dispose(&rep);
        sao_bars_dispose(&before);
        sao_bars_dispose(&b);
    }
}

static void test_float_slack(void)
{
    /* A float32 hair across the bound is tolerated; a cent is not. */
    sao_bars b;
    five_bars(&b, "AAPL");
    b.high[1] = b.close[1] * (1 - 1e-9);
    sao_validation_report rep;
    sao_validation_report_init(&rep);
    ASSERT_OK(sao_validate_bars(&b, &rep, 0, 0));
    b.high[1] = b.close[1] - 0.01;
    ASSERT_EQ(sao_validate_bars(&b, &rep, 0, 0), SAO_EVALIDATION);
    sao_validation_report_dispose(&rep);
    sao_bars_dispose(&b);
}

static void test_duplicates(void)
{
    sao_bars b;
    five_bars(&b, "AAPL");
    /* A second bar for Wednesday read later (a later download correcting the first). */
    sao_bars_push(&b, day_of("2024-09-11"), 12, 14, 11, 13.5, 13.5, 5000);
    sao_bars_sort(&b);
    ASSERT_EQ(b.day[3], day_of("2024-09-11"));
    ASSERT_NEAR(b.close[3], 13.5, 0);
    sao_validation_report rep;
    sao_validation_report_init(&rep);
    ASSERT_EQ(sao_validate_bars(&b, &rep, 0, 0), SAO_EVALIDATION);
    ASSERT_EQ(rep.counts[SAO_ISSUE_DUPLICATE_DATE], 1);
    ASSERT_EQ(rep.issues[0].row, 2); /* the earlier row is the duplicate */
    ASSERT_CONTAINS(rep.issues[0].message, "2024-09-11 appears again in row 4");
    ASSERT_EQ(b.count, 6);
    ASSERT_OK(sao_validate_bars(&b, &rep, 1, 0));
    ASSERT_EQ(b.count, 5);
    ASSERT_EQ(rep.dropped_rows, 1);
    ASSERT_EQ(b.day[2], day_of("2024-09-11"));
    ASSERT_NEAR(b.close[2], 13.5, 0); /* the last one read is kept */
    ASSERT_NEAR(b.volume[2], 5000, 0);
    sao_bars_dispose(&b);

    /* When the later row is invalid, the earlier valid one is kept. */
    five_bars(&b, "AAPL");
    sao_bars_push(&b, day_of("2024-09-11"), 12, 14, 11, 13.5, 13.5, -1);
    ASSERT_OK(sao_validate_bars(&b, &rep, 1, 0));
    ASSERT_EQ(rep.counts[SAO_ISSUE_NEGATIVE_VOLUME], 1);
    ASSERT_EQ(rep.counts[SAO_ISSUE_DUPLICATE_DATE], 0);
    ASSERT_EQ(b.count, 5);
    ASSERT_NEAR(b.close[2], 12, 0);
    sao_bars_dispose(&b);

    /* Three of a day, unsorted input in dropping mode: sorted, one kept (the last read). */
    sao_bars_init(&b, "BTC-USD");
    sao_bars_push(&b, 100, 1, 1, 1, 1, 1, 1);
    sao_bars_push(&b, 102, 2, 2, 2, 2, 2, 2);
    sao_bars_push(&b, 101, 3, 3, 3, 3, 3, 3);
    sao_bars_push(&b, 101, 4, 4, 4, 4, 4, 4);
    sao_bars_push(&b, 100, 5, 5, 5, 5, 5, 5);
    ASSERT_EQ(sao_validate_bars(&b, &rep, 0, 0), SAO_EVALIDATION);
    ASSERT_EQ(rep.counts[SAO_ISSUE_UNSORTED], 3);
    ASSERT_OK(sao_validate_bars(&b, &rep, 1, 0));
    ASSERT_EQ(rep.counts[SAO_ISSUE_UNSORTED], 3);
    ASSERT_EQ(rep.counts[SAO_ISSUE_DUPLICATE_DATE], 2);
    ASSERT_EQ(rep.dropped_rows, 2);
    ASSERT_EQ(b.count, 3);
    ASSERT_EQ(b.day[0], 100);
    ASSERT_NEAR(b.close[0], 5, 0);
    ASSERT_EQ(b.day[1], 101);
    ASSERT_NEAR(b.close[1], 4, 0);
    ASSERT_EQ(b.day[2], 102);
    /* Issues come in row order. */
    for (size_t i = 1; i < rep.issue_count; i++)
        ASSERT_TRUE(rep.issues[i].row >= rep.issues[i - 1].row);
    sao_validation_report_dispose(&rep);
    sao_bars_dispose(&b);
}

static void test_unsorted(void)
{
    sao_bars b;
    five_bars(&b, "AAPL");
    int64_t d = b.day[1];
    b.day[1] = b.day[3];
    b.day[3] = d;
    sao_validation_report rep;
    sao_validation_report_init(&rep);
    ASSERT_EQ(sao_validate_bars(&b, &rep, 0, 0), SAO_EVALIDATION);
    ASSERT_EQ(rep.counts[SAO_ISSUE_UNSORTED], 2);
    ASSERT_CONTAINS(rep.issues[0].message, "2024-09-11 comes after 2024-09-12");
    ASSERT_EQ(b.day[1], day_of("2024-09-12"));
    ASSERT_OK(sao_validate_bars(&b, &rep, 1, 0));
    ASSERT_EQ(rep.dropped_rows, 0);
    ASSERT_EQ(b.count, 5);
    for (size_t i = 0; i < 5; i++) ASSERT_EQ(b.day[i], day_of("2024-09-09") + (int64_t)i);
    ASSERT_NEAR(b.close[1], 13, 0); /* rows moved with their days */
    sao_validation_report_dispose(&rep);
    sao_bars_dispose(&b);
}

static void test_gaps(void)
{
    sao_validation_report rep;
    sao_validation_report_init(&rep);
    sao_bars b;

    /* Equity: Friday to Monday (2 days) and Friday to Tuesday (3) pass; the 9/11 closure
     * (6 days without a bar) warns; a warning does not fail the batch. */
    sao_bars_init(&b, "SPY");
    const char *days[] = {"2001-08-31", "2001-09-04", "2001-09-07", "2001-09-10", "2001-09-17"};
    for (size_t i = 0; i < SAO_ARRAY_LEN(days); i++)
        sao_bars_push(&b, day_of(days[i]), 10, 11, 9, 10, 10, 1);
    ASSERT_OK(sao_validate_bars(&b, &rep, 0, 0));
    ASSERT_EQ(rep.gaps, 1);
    ASSERT_EQ(rep.counts[SAO_ISSUE_GAP], 1);
    ASSERT_EQ(rep.invalid_rows, 0);
    ASSERT_EQ(rep.issues[0].row, 4);
    ASSERT_CONTAINS(rep.issues[0].message,
                    "6 calendar days without a bar between 2001-09-10 and 2001-09-17 (limit 5)");
    /* A caller's limit. */
    ASSERT_OK(sao_validate_bars(&b, &rep, 0, 6));
    ASSERT_EQ(rep.gaps, 0);
    ASSERT_OK(sao_validate_bars(&b, &rep, 0, 2));
    ASSERT_EQ(rep.gaps, 2); /* Labor Day weekend (3 days) and 9/11 */
    ASSERT_OK(sao_validate_bars(&b, &rep, 1, 0));
    ASSERT_EQ(b.count, 5); /* warnings drop nothing */
    sao_bars_dispose(&b);

    /* Crypto: three missing days pass, four warn. */
    sao_bars_init(&b, "BTC-USD");
    sao_bars_push(&b, 100, 1, 1, 1, 1, 1, 1);
    sao_bars_push(&b, 104, 1, 1, 1, 1, 1, 1);
    sao_bars_push(&b, 109, 1, 1, 1, 1, 1, 1);
    ASSERT_OK(sao_validate_bars(&b, &rep, 0, 0));
    ASSERT_EQ(rep.gaps, 1);
    ASSERT_EQ(rep.issues[0].row, 2);
    ASSERT_CONTAINS(rep.issues[0].message, "(limit 3)");
    sao_bars_dispose(&b);
    sao_validation_report_dispose(&rep);
}

static void test_shared_data_passes(void)
{
    static const struct {
        const char *file;
        const char *ticker;
        size_t gaps;
    } files[] = {
        /* Only 9/11 closed US markets for more than five calendar days since 1990. */
        {"yahoo_daily_GSPC_1990-01-02_2024-09-12_johnvb21.csv", "^GSPC", 1},
        {"yahoo_daily_AAPL_2021-06-25_2026-06-24_recent5y_quantedge.csv", "AAPL", 0},
        {"yahoo_daily_BTC-USD_2014-09-17_2023-11-16_trioxwater.csv", "BTC-USD", 0},
        {"yahoo_daily_ETH-USD_2021-06-24_2026-06-24_recent5y_quantedge.csv", "ETH-USD", 0},
        {"yahoo_daily_SPY_1999-11-01_2020-08-28_pandas-ta.csv", "SPY", 1},
    };
    for (size_t i = 0; i < SAO_ARRAY_LEN(files); i++) {
        char rel[256];
        snprintf(rel, sizeof(rel), "data/ohlcv/%s", files[i].file);
        sao_bars b;
        sao_bars_init(&b, files[i].ticker);
        ASSERT_OK(sao_csv_import(&b, NULL, sao_test_shared(rel)));
        sao_validation_report rep;
        sao_validation_report_init(&rep);
        ASSERT_OK(sao_validate_bars(&b, &rep, 0, 0));
        ASSERT_EQ(rep.invalid_rows, 0);
        ASSERT_EQ(rep.gaps, files[i].gaps);
        if (files[i].gaps) ASSERT_EQ(rep.issues[0].day, day_of("2001-09-17"));
        sao_validation_report_dispose(&rep);
        sao_bars_dispose(&b);
    }

    /* The Yahoo fixture with null bars: BTC's missing 2020-10-12/13 leave a 2-day hole. */
    char *json = NULL;
    size_t len = 0;
    ASSERT_OK(sao_file_read(&json, &len,
                            sao_test_shared("fixtures/yahoo/yf_chart_BTC-USD_1d_2020_with_null_"
                                            "bars.json"),
                            1 << 24));
    sao_bars b;
    sao_bars_init(&b, NULL);
    ASSERT_OK(sao_yahoo_parse(&b, NULL, NULL, json, len));
    sao_validation_report rep;
    sao_validation_report_init(&rep);
    ASSERT_OK(sao_validate_bars(&b, &rep, 0, 0));
    ASSERT_EQ(rep.gaps, 0);
    ASSERT_OK(sao_validate_bars(&b, &rep, 0, 1));
    ASSERT_EQ(rep.gaps, 1); /* 10-11 to 10-14 */
    sao_validation_report_dispose(&rep);
    sao_bars_dispose(&b);
    sao_free(json);
}

static void test_print_and_caps(void)
{
    sao_bars b;
    sao_bars_init(&b, "AAPL");
    /* More bad rows than the issue store holds: counted, not stored, said so in print. */
    size_t rows = SAO_VALIDATION_MAX_ISSUES + 250;
    for (size_t i = 0; i < rows; i++) sao_bars_push(&b, (int64_t)i, 1, 1, 1, 1, 1, -1);
    sao_validation_report rep;
    sao_validation_report_init(&rep);
    ASSERT_EQ(sao_validate_bars(&b, &rep, 0, 1000000), SAO_EVALIDATION);
    ASSERT_EQ(rep.counts[SAO_ISSUE_NEGATIVE_VOLUME], rows);
    ASSERT_EQ(rep.issue_count, SAO_VALIDATION_MAX_ISSUES);
    ASSERT_EQ(rep.issues_not_stored, 250);

    char *text = NULL;
    size_t text_len = 0;
    FILE *out = open_memstream(&text, &text_len);
    sao_validation_report_print(&rep, out, 2);
    fclose(out);
    ASSERT_CONTAINS(text, "100250 rows checked: 100250 invalid, 0 dropped, 100250 errors, 0 gap");
    ASSERT_CONTAINS(text, "negative_volume    100250");
    ASSERT_CONTAINS(text, "row 1 negative_volume: 1970-01-01: volume is -1");
    ASSERT_CONTAINS(text, "row 2 negative_volume");
    ASSERT_CONTAINS(text, "... and 100248 more issues");
    ASSERT_TRUE(strstr(text, "row 3 ") == NULL);
    free(text);

    ASSERT_OK(sao_validate_bars(&b, &rep, 1, 0));
    ASSERT_EQ(b.count, 0);
    ASSERT_EQ(rep.dropped_rows, rows);
    sao_validation_report_dispose(&rep);
    sao_validation_report_dispose(NULL);
    sao_bars_dispose(&b);

    ASSERT_STREQ(sao_issue_kind_name(SAO_ISSUE_DUPLICATE_DATE), "duplicate_date");
    ASSERT_STREQ(sao_issue_kind_name(SAO_ISSUE_GAP), "gap");
    ASSERT_STREQ(sao_issue_kind_name(SAO_ISSUE__COUNT), "unknown");
}

SAO_TEST_MAIN(TEST(test_clean), TEST(test_each_error_kind), TEST(test_float_slack),
              TEST(test_duplicates), TEST(test_unsorted), TEST(test_gaps),
              TEST(test_shared_data_passes), TEST(test_print_and_caps))
