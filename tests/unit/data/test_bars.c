/*
 * Tickers (validation, normalization, asset classes), the trading calendar (the NYSE's holidays,
 * checked against every bar of real US series) and the bar series type (growth, row copies,
 * stable sorting).
 */
#include "test.h"

#include "data/data.h"

int sao_test_failures;

static int64_t day_of(const char *ymd)
{
    int64_t day = 0;
    SAO_ASSERT(sao_date_parse(ymd, strlen(ymd), &day) == 0);
    return day;
}

static void test_ticker_validate(void)
{
    const char *valid[] = {"AAPL", "^GSPC", "BTC-USD", "EURUSD=X", "BRK.B", "GC=F", "brk-b",
                           "7203.T", "A", "ABCDEFGHIJKLMNOPQRST" /* 20 */};
    for (size_t i = 0; i < SAO_ARRAY_LEN(valid); i++) {
        int rc = sao_ticker_validate(valid[i]);
        if (rc) fprintf(stderr, "'%s' refused: %s\n", valid[i], sao_error_last());
        ASSERT_OK(rc);
    }
    const char *invalid[] = {"",       "../etc",  "a/b",        "A B",
                             "TOO-LONG-TICKER-NAME-X", "..", ".A", "\xC3\x84PPL" /* ÄPPL */,
                             "AAPL\n", "^",       "^^GSPC",     "A^B",
                             "-USD",   "=X",      "A..B",       "AAPL;rm",
                             "A%2F",   "A\\B",    "ABCDEFGHIJKLMNOPQRSTU" /* 21 */};
    for (size_t i = 0; i < SAO_ARRAY_LEN(invalid); i++) {
        sao_error_clear();
        int rc = sao_ticker_validate(invalid[i]);
        if (rc != SAO_EINVAL) fprintf(stderr, "'%s' accepted\n", invalid[i]);
        ASSERT_EQ(rc, SAO_EINVAL);
        ASSERT_TRUE(sao_error_last()[0] != '\0');
    }
    ASSERT_EQ(sao_ticker_validate(NULL), SAO_EINVAL);
    ASSERT_EQ(sao_ticker_validate("A/B"), SAO_EINVAL);
    ASSERT_CONTAINS(sao_error_last(), "at position 2");
}

static void test_ticker_normalize(void)
{
    char out[SAO_TICKER_MAX + 1];
    ASSERT_OK(sao_ticker_normalize(out, "brk.b"));
    ASSERT_STREQ(out, "BRK.B");
    ASSERT_OK(sao_ticker_normalize(out, "^gspc"));
    ASSERT_STREQ(out, "^GSPC");
    ASSERT_OK(sao_ticker_normalize(out, "eurusd=x"));
    ASSERT_STREQ(out, "EURUSD=X");
    ASSERT_OK(sao_ticker_normalize(out, "ABCDEFGHIJKLMNOPQRST"));
    ASSERT_STREQ(out, "ABCDEFGHIJKLMNOPQRST");
    memcpy(out, "UNCHANGED", 10);
    ASSERT_EQ(sao_ticker_normalize(out, "../x"), SAO_EINVAL);
    ASSERT_STREQ(out, "UNCHANGED");
}

static void test_asset_class(void)
{
    static const struct {
        const char *ticker;
        sao_asset_class cls;
    } cases[] = {
        {"AAPL", SAO_ASSET_EQUITY},      {"BRK.B", SAO_ASSET_EQUITY},
        {"BRK-B", SAO_ASSET_EQUITY},     {"RDS-A", SAO_ASSET_EQUITY},
        {"^GSPC", SAO_ASSET_INDEX},      {"^VIX", SAO_ASSET_INDEX},
        {"BTC-USD", SAO_ASSET_CRYPTO},   {"eth-usd", SAO_ASSET_CRYPTO},
        {"SOL-USDT", SAO_ASSET_CRYPTO},  {"ETH-BTC", SAO_ASSET_CRYPTO},
        {"BTC-EUR", SAO_ASSET_CRYPTO},   {"1INCH-USD", SAO_ASSET_CRYPTO},
        {"X-USD", SAO_ASSET_EQUITY},     {"ABCDEFGHIJK-USD", SAO_ASSET_EQUITY},
        {"BTC-USDX", SAO_ASSET_EQUITY},  {"EURUSD=X", SAO_ASSET_FX},
        {"JPY=X", SAO_ASSET_FX},         {"GC=F", SAO_ASSET_FUTURE},
        {"es=f", SAO_ASSET_FUTURE},      {"", SAO_ASSET_EQUITY},
    };
    for (size_t i = 0; i < SAO_ARRAY_LEN(cases); i++) {
        sao_asset_class got = sao_ticker_asset_class(cases[i].ticker);
        if (got != cases[i].cls)
            fprintf(stderr, "%s: %s\n", cases[i].ticker, sao_asset_class_name(got));
        ASSERT_EQ(got, cases[i].cls);
    }
    ASSERT_EQ(sao_ticker_asset_class(NULL), SAO_ASSET_EQUITY);
    ASSERT_STREQ(sao_asset_class_name(SAO_ASSET_EQUITY), "equity");
    ASSERT_STREQ(sao_asset_class_name(SAO_ASSET_INDEX), "index");
    ASSERT_STREQ(sao_asset_class_name(SAO_ASSET_CRYPTO), "crypto");
    ASSERT_STREQ(sao_asset_class_name(SAO_ASSET_FX), "fx");
    ASSERT_STREQ(sao_asset_class_name(SAO_ASSET_FUTURE), "future");
}

/* Reference: step one calendar day at a time. */
static int64_t add_slow(sao_asset_class cls, int64_t day, int n)
{
    int step = n > 0 ? 1 : -1;
    for (int left = n > 0 ? n : -n; left > 0;) {
        day += step;
        if (sao_calendar_is_trading_day(cls, day)) left--;
    }
    return day;
}

static void test_calendar(void)
{
    int64_t mon = day_of("2024-09-09");
    ASSERT_EQ(sao_weekday(mon), 1);
    for (int k = 0; k < 7; k++) {
        int weekday = k < 5;
        ASSERT_EQ(sao_calendar_is_trading_day(SAO_ASSET_EQUITY, mon + k), weekday);
        ASSERT_EQ(sao_calendar_is_trading_day(SAO_ASSET_INDEX, mon + k), weekday);
        ASSERT_EQ(sao_calendar_is_trading_day(SAO_ASSET_FX, mon + k), weekday);
        ASSERT_EQ(sao_calendar_is_trading_day(SAO_ASSET_CRYPTO, mon + k), 1);
    }
    /* Friday + 1 = Monday; Saturday + 1 = Monday; Monday - 1 = Friday. */
    ASSERT_EQ(sao_calendar_add_trading_days(SAO_ASSET_EQUITY, day_of("2024-09-13"), 1),
              day_of("2024-09-16"));
    ASSERT_EQ(sao_calendar_add_trading_days(SAO_ASSET_EQUITY, day_of("2024-09-14"), 1),
              day_of("2024-09-16"));
    ASSERT_EQ(sao_calendar_add_trading_days(SAO_ASSET_EQUITY, day_of("2024-09-16"), -1),
              day_of("2024-09-13"));
    ASSERT_EQ(sao_calendar_add_trading_days(SAO_ASSET_CRYPTO, day_of("2024-09-13"), 1),
              day_of("2024-09-14"));
    /* Against the day-by-day reference, from every weekday, across years and before 1970. */
    const int64_t starts[] = {day_of("2024-09-09"), day_of("1969-12-29"), day_of("2000-02-28")};
    for (size_t s = 0; s < SAO_ARRAY_LEN(starts); s++) {
        for (int k = 0; k < 7; k++) {
            for (int n = -40; n <= 40; n++) {
                int64_t from = starts[s] + k;
                ASSERT_EQ(sao_calendar_add_trading_days(SAO_ASSET_EQUITY, from, n),
                          n == 0 ? from : add_slow(SAO_ASSET_EQUITY, from, n));
                ASSERT_EQ(sao_calendar_add_trading_days(SAO_ASSET_CRYPTO, from, n), from + n);
            }
        }
    }
    ASSERT_EQ(sao_calendar_add_trading_days(SAO_ASSET_EQUITY, mon, 2610),
              add_slow(SAO_ASSET_EQUITY, mon, 2610));
}

static void test_bars_basics(void)
{
    sao_bars b;
    sao_bars_init(&b, "AAPL");
    ASSERT_STREQ(b.ticker, "AAPL");
    ASSERT_EQ(b.count, 0);
    for (int i = 0; i < 1000; i++) {
        size_t row = sao_bars_push(&b, 18000 + i, i, i + 2, i - 1, i + 1, i + 0.5, i * 10.0);
        ASSERT_EQ(row, (size_t)i);
    }
    ASSERT_EQ(b.count, 1000);
    ASSERT_TRUE(b.cap >= 1000);
    ASSERT_NEAR(b.close[999], 1000, 0);
    ASSERT_NEAR(b.adj_close[10], 10.5, 0);
    ASSERT_NEAR(b.dividend[5], 0, 0);
    ASSERT_EQ(b.created_us[5], 0);

    b.dividend[7] = 0.25;
    b.split_ratio[7] = 2;
    b.created_us[7] = 123;
    sao_bars c;
    sao_bars_init(&c, NULL);
    sao_bars_push_row(&c, &b, 7);
    ASSERT_EQ(c.count, 1);
    ASSERT_EQ(c.day[0], 18007);
    ASSERT_NEAR(c.open[0], 7, 0);
    ASSERT_NEAR(c.high[0], 9, 0);
    ASSERT_NEAR(c.low[0], 6, 0);
    ASSERT_NEAR(c.close[0], 8, 0);
    ASSERT_NEAR(c.adj_close[0], 7.5, 0);
    ASSERT_NEAR(c.volume[0], 70, 0);
    ASSERT_NEAR(c.dividend[0], 0.25, 0);
    ASSERT_NEAR(c.split_ratio[0], 2, 0);
    ASSERT_EQ(c.created_us[0], 123);

    sao_bars_reserve(&c, 5000);
    ASSERT_TRUE(c.cap >= 5000);
    ASSERT_EQ(c.count, 1);
    sao_bars_clear(&c);
    ASSERT_EQ(c.count, 0);
    sao_bars_dispose(&c);
    sao_bars_dispose(&b);
    sao_bars_dispose(NULL);
    ASSERT_EQ(b.count, 0);
    ASSERT_TRUE(b.day == NULL);
}

static void test_bars_sort(void)
{
    sao_bars b;
    sao_bars_init(&b, NULL);
    /* Descending: reversed. */
    for (int i = 0; i < 10; i++) sao_bars_push(&b, 100 - i, i, i, i, i, i, i);
    b.created_us[0] = 77;
    sao_bars_sort(&b);
    for (int i = 0; i < 10; i++) {
        ASSERT_EQ(b.day[i], 91 + i);
        ASSERT_NEAR(b.close[i], 9 - i, 0);
    }
    ASSERT_EQ(b.created_us[9], 77);
    sao_bars_clear(&b);

    /* Descending with a repeated day: stable (the repeated days keep their input order). */
    int64_t days[] = {5, 4, 4, 3};
    for (int i = 0; i < 4; i++) sao_bars_push(&b, days[i], i, i, i, i, i, i);
    sao_bars_sort(&b);
    ASSERT_EQ(b.day[0], 3);
    ASSERT_EQ(b.day[1], 4);
    ASSERT_NEAR(b.close[1], 1, 0);
    ASSERT_NEAR(b.close[2], 2, 0);
    ASSERT_EQ(b.day[3], 5);
    sao_bars_clear(&b);

    /* A pseudo-random shuffle with many ties: sorted, and stable within a day. */
    uint32_t state = 12345;
    for (int i = 0; i < 5000; i++) {
        state = state * 1103515245u + 12345u;
        sao_bars_push(&b, (int64_t)((state >> 16) % 300), i, i, i, i, i, i);
    }
    sao_bars_sort(&b);
    for (size_t i = 1; i < b.count; i++) {
        ASSERT_TRUE(b.day[i] >= b.day[i - 1]);
        if (b.day[i] == b.day[i - 1]) ASSERT_TRUE(b.close[i] > b.close[i - 1]);
        ASSERT_NEAR(b.open[i], b.close[i], 0); /* columns moved together */
        ASSERT_NEAR(b.volume[i], b.close[i], 0);
    }
    sao_bars_dispose(&b);
}

static void test_holidays(void)
{
    static const char *const closed[] = {
        "2024-01-01", "2024-01-15", "2024-02-19", "2024-03-29", "2024-05-27", "2024-06-19",
        "2024-07-04", "2024-09-02", "2024-11-28", "2024-12-25", /* every rule of one year */
        "2023-01-02", /* New Year's Day on a Sunday: Monday */
        "2022-06-20", /* Juneteenth on a Sunday: Monday */
        "2021-12-24", /* Christmas on a Saturday: Friday */
        "2027-01-01", "2025-01-09", "2012-10-29", "2001-09-14", "1994-04-27",
    };
    static const char *const open[] = {
        "2021-12-31", /* New Year's Day 2022 on a Saturday: no Friday closure */
        "2021-06-18", /* before Juneteenth was a market holiday */
        "1997-01-20", /* Martin Luther King Jr. Day before 1998 */
        "2024-11-29", "2024-12-24", "2024-10-14", "2024-11-11", /* half days, bond holidays */
    };
    for (size_t i = 0; i < SAO_ARRAY_LEN(closed); i++) {
        const int64_t d = day_of(closed[i]);
        if (sao_calendar_is_trading_day(SAO_ASSET_EQUITY, d)) printf("open: %s\n", closed[i]);
        ASSERT_EQ(sao_calendar_is_trading_day(SAO_ASSET_EQUITY, d), 0);
        ASSERT_EQ(sao_calendar_is_trading_day(SAO_ASSET_INDEX, d), 0);
        ASSERT_EQ(sao_calendar_is_trading_day(SAO_ASSET_CRYPTO, d), 1);
        ASSERT_EQ(sao_calendar_is_trading_day(SAO_ASSET_FX, d), sao_weekday(d) % 6 != 0);
    }
    for (size_t i = 0; i < SAO_ARRAY_LEN(open); i++)
        ASSERT_EQ(sao_calendar_is_trading_day(SAO_ASSET_EQUITY, day_of(open[i])), 1);
    /* A forecast's dates step over them. */
    ASSERT_EQ(sao_calendar_add_trading_days(SAO_ASSET_EQUITY, day_of("2024-11-27"), 1),
              day_of("2024-11-29"));
    ASSERT_EQ(sao_calendar_add_trading_days(SAO_ASSET_INDEX, day_of("2024-12-20"), 3),
              day_of("2024-12-26"));
    ASSERT_EQ(sao_calendar_add_trading_days(SAO_ASSET_EQUITY, day_of("2024-12-26"), -2),
              day_of("2024-12-23"));
    ASSERT_EQ(sao_calendar_add_trading_days(SAO_ASSET_FX, day_of("2024-11-27"), 1),
              day_of("2024-11-28"));
}

/* Every weekday between a US series' first and last bar is a trading day exactly when the
 * series has a bar on it. */
static void check_series(const char *relative, int64_t from)
{
    sao_bars bars;
    sao_bars_init(&bars, NULL);
    sao_csv_report report;
    ASSERT_OK(sao_csv_import(&bars, &report, sao_test_shared(relative)));
    ASSERT_TRUE(bars.count > 1000);
    size_t i = 0;
    while (i < bars.count && bars.day[i] < from) i++;
    size_t checked = 0;
    for (int64_t d = bars.day[i]; d <= bars.day[bars.count - 1]; d++) {
        const int has_bar = i < bars.count && bars.day[i] == d;
        if (has_bar) i++;
        if (has_bar != sao_calendar_is_trading_day(SAO_ASSET_INDEX, d)) {
            char text[16];
            sao_date_format(d, text, sizeof(text));
            printf("%s: %s %s a bar\n", relative, text, has_bar ? "has" : "lacks");
        }
        ASSERT_EQ(has_bar, sao_calendar_is_trading_day(SAO_ASSET_INDEX, d));
        checked++;
    }
    ASSERT_TRUE(checked > 1500);
    sao_bars_dispose(&bars);
}

static void test_calendar_against_real_bars(void)
{
    const int64_t since_1990 = day_of("1990-01-01");
    check_series("data/ohlcv/yahoo_daily_GSPC_1990-01-02_2024-09-12_johnvb21.csv", since_1990);
    check_series("data/ohlcv/yahoo_daily_GSPC_2021-06-25_2026-06-24_recent5y_quantedge.csv",
                 since_1990);
    check_series("data/ohlcv/yahoo_daily_MSFT_1990-01-02_2024-09-12_johnvb21.csv", since_1990);
}

SAO_TEST_MAIN(TEST(test_ticker_validate), TEST(test_ticker_normalize), TEST(test_asset_class),
              TEST(test_calendar), TEST(test_holidays), TEST(test_calendar_against_real_bars),
              TEST(test_bars_basics), TEST(test_bars_sort))
