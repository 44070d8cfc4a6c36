/*
 * Yahoo chart API parser: every shared fixture (bars, null bars, splits, dividends, trading
 * dates across time zones, empty and delisted answers) and malformed or hostile bodies.
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

static long row_of(const sao_bars *b, const char *ymd)
{
    int64_t day = day_of(ymd);
    for (size_t i = 0; i < b->count; i++)
        if (b->day[i] == day) return (long)i;
    return -1;
}

/* Parses a shared fixture into `out`; returns the parser's code. */
static int parse_fixture(sao_bars *out, sao_yahoo_meta *meta, sao_yahoo_report *rep,
                         const char *name)
{
    char rel[256];
    snprintf(rel, sizeof(rel), "fixtures/yahoo/%s", name);
    char *json = NULL;
    size_t len = 0;
    ASSERT_OK(sao_file_read(&json, &len, sao_test_shared(rel), 1 << 24));
    int rc = sao_yahoo_parse(out, meta, rep, json, len);
    sao_free(json);
    return rc;
}

static int parse_str(sao_bars *out, sao_yahoo_report *rep, const char *json)
{
    sao_yahoo_meta meta;
    return sao_yahoo_parse(out, &meta, rep, json, strlen(json));
}

static void assert_sorted_unique(const sao_bars *b)
{
    for (size_t i = 1; i < b->count; i++) ASSERT_TRUE(b->day[i] > b->day[i - 1]);
}

static void test_basic(void)
{
    sao_bars b;
    sao_bars_init(&b, NULL);
    sao_yahoo_meta meta;
    sao_yahoo_report rep;
    ASSERT_OK(parse_fixture(&b, &meta, &rep, "yf_chart_AAPL_1d_2020-01-02_basic.json"));
    ASSERT_STREQ(meta.symbol, "AAPL");
    ASSERT_STREQ(meta.currency, "USD");
    ASSERT_STREQ(meta.instrument_type, "EQUITY");
    ASSERT_STREQ(meta.exchange_timezone, "America/New_York");
    ASSERT_EQ(meta.gmtoffset, -18000);
    ASSERT_STREQ(b.ticker, "AAPL");
    ASSERT_EQ(rep.bars, 1);
    ASSERT_EQ(rep.null_bars, 0);
    ASSERT_EQ(rep.attempts, 0);
    ASSERT_EQ(b.count, 1);
    ASSERT_EQ(b.day[0], day_of("2020-01-02")); /* 14:30 UTC, the New York open */
    ASSERT_NEAR(b.open[0], 74.05999755859375, 0);
    ASSERT_NEAR(b.high[0], 75.1500015258789, 0);
    ASSERT_NEAR(b.low[0], 73.79750061035156, 0);
    ASSERT_NEAR(b.close[0], 75.0875015258789, 0);
    ASSERT_NEAR(b.adj_close[0], 72.71607208251953, 0);
    ASSERT_NEAR(b.volume[0], 135480400, 0);
    ASSERT_NEAR(b.dividend[0], 0, 0);
    ASSERT_NEAR(b.split_ratio[0], 0, 0);
    sao_bars_dispose(&b);
}

static void test_aapl_split_dividend(void)
{
    sao_bars b;
    sao_bars_init(&b, NULL);
    sao_yahoo_meta meta;
    sao_yahoo_report rep;
    ASSERT_OK(parse_fixture(&b, &meta, &rep,
                            "yf_chart_AAPL_1d_2020-08-31_2020-11-06_split_dividend.json"));
    ASSERT_EQ(b.count, 49);
    ASSERT_EQ(rep.bars, 49);
    ASSERT_EQ(rep.splits, 1);
    ASSERT_EQ(rep.dividends, 1);
    assert_sorted_unique(&b);
    /* 2020-08-31 opens 13:30 UTC (EDT), 2020-11-06 14:30 UTC (EST): both the same UTC date. */
    ASSERT_EQ(b.day[0], day_of("2020-08-31"));
    ASSERT_EQ(b.day[48], day_of("2020-11-06"));
    ASSERT_NEAR(b.split_ratio[0], 4.0, 0);
    ASSERT_NEAR(b.close[0], 129.0399932861328, 0);
    ASSERT_NEAR(b.adj_close[0], 125.82673645019531, 0);
    ASSERT_NEAR(b.dividend[48], 0.205, 0);
    ASSERT_NEAR(b.volume[48], 114457900, 0);
    for (size_t i = 1; i < b.count; i++) ASSERT_NEAR(b.split_ratio[i], 0, 0);
    for (size_t i = 0; i + 1 < b.count; i++) ASSERT_NEAR(b.dividend[i], 0, 0);
    /* Every bar falls on a weekday. */
    for (size_t i = 0; i < b.count; i++)
        ASSERT_TRUE(sao_calendar_is_trading_day(SAO_ASSET_EQUITY, b.day[i]));
    sao_bars_dispose(&b);
}

static void test_nvda_split(void)
{
    sao_bars b;
    sao_bars_init(&b, NULL);
    sao_yahoo_meta meta;
    sao_yahoo_report rep;
    ASSERT_OK(parse_fixture(&b, &meta, &rep, "yf_chart_NVDA_1d_2021-02-01_2022-01-28_split.json"));
    ASSERT_EQ(b.count, 252);
    ASSERT_EQ(rep.splits, 1);
    ASSERT_EQ(rep.dividends, 0);
    long split = row_of(&b, "2021-07-20");
    ASSERT_EQ(split, 117);
    ASSERT_NEAR(b.split_ratio[split], 4.0, 0);
    ASSERT_NEAR(b.close[split], 18.61199951171875, 0);
    size_t splits = 0;
    for (size_t i = 0; i < b.count; i++) splits += b.split_ratio[i] != 0;
    ASSERT_EQ(splits, 1);
    ASSERT_EQ(b.day[0], day_of("2021-02-01"));
    ASSERT_EQ(b.day[251], day_of("2022-01-28"));
    sao_bars_dispose(&b);
}

static void test_msft_dividends(void)
{
    sao_bars b;
    sao_bars_init(&b, NULL);
    sao_yahoo_meta meta;
    sao_yahoo_report rep;
    ASSERT_OK(parse_fixture(&b, &meta, &rep,
                            "yf_chart_MSFT_1d_2021-02-01_2022-01-28_dividends.json"));
    ASSERT_EQ(b.count, 252);
    ASSERT_EQ(rep.dividends, 4);
    ASSERT_EQ(rep.splits, 0);
    static const struct {
        const char *date;
        double amount;
    } paid[] = {{"2021-02-17", 0.56}, {"2021-05-19", 0.56}, {"2021-08-18", 0.56},
                {"2021-11-17", 0.62}};
    double total = 0;
    for (size_t i = 0; i < b.count; i++) total += b.dividend[i];
    ASSERT_NEAR(total, 0.56 * 3 + 0.62, 1e-12);
    for (size_t i = 0; i < SAO_ARRAY_LEN(paid); i++) {
        long row = row_of(&b, paid[i].date);
        ASSERT_TRUE(row >= 0);
        ASSERT_NEAR(b.dividend[row], paid[i].amount, 0);
    }
    ASSERT_NEAR(b.adj_close[251], 299.8661193847656, 0);
    sao_bars_dispose(&b);
}

static void test_btc_null_bars(void)
{
    sao_bars b;
    sao_bars_init(&b, NULL);
    sao_yahoo_meta meta;
    sao_yahoo_report rep;
    ASSERT_OK(parse_fixture(&b, &meta, &rep, "yf_chart_BTC-USD_1d_2020_with_null_bars.json"));
    ASSERT_STREQ(meta.instrument_type, "CRYPTOCURRENCY");
    ASSERT_STREQ(b.ticker, "BTC-USD");
    ASSERT_EQ(sao_ticker_asset_class(b.ticker), SAO_ASSET_CRYPTO);
    /* 370 timestamps (2020-01-01 .. 2021-01-04), four of them all null. */
    ASSERT_EQ(rep.null_bars, 4);
    ASSERT_EQ(rep.partial_bars, 0);
    ASSERT_EQ(rep.bars, 366);
    ASSERT_EQ(b.count, 366);
    assert_sorted_unique(&b);
    ASSERT_EQ(row_of(&b, "2020-04-17"), -1);
    ASSERT_EQ(row_of(&b, "2020-10-09"), -1);
    ASSERT_EQ(row_of(&b, "2020-10-12"), -1);
    ASSERT_EQ(row_of(&b, "2020-10-13"), -1);
    ASSERT_TRUE(row_of(&b, "2020-04-18") >= 0);
    ASSERT_TRUE(row_of(&b, "2020-10-10") >= 0); /* a Saturday: crypto trades */
    ASSERT_EQ(b.day[0], day_of("2020-01-01"));
    ASSERT_EQ(b.day[365], day_of("2021-01-04"));
    ASSERT_NEAR(b.close[365], 31971.9140625, 0);
    ASSERT_NEAR(b.volume[365], 81163475344.0, 0);
    sao_bars_dispose(&b);
}

static void test_crypto_fx_future_dates(void)
{
    sao_bars b;
    sao_yahoo_meta meta;
    sao_yahoo_report rep;

    sao_bars_init(&b, NULL);
    ASSERT_OK(parse_fixture(&b, &meta, &rep, "yf_chart_BTC-USD_1d_2020-01-01_2020-01-03.json"));
    ASSERT_EQ(b.count, 3);
    ASSERT_EQ(b.day[0], day_of("2020-01-01")); /* 00:00 UTC, gmtoffset 0 */
    ASSERT_EQ(b.day[2], day_of("2020-01-03"));
    ASSERT_NEAR(b.open[1], 7202.55126953125, 0);
    sao_bars_dispose(&b);

    sao_bars_init(&b, NULL);
    ASSERT_OK(parse_fixture(&b, &meta, &rep, "yf_chart_EURUSDX_1d_2020-01-01_2020-01-03.json"));
    ASSERT_STREQ(meta.symbol, "EURUSD=X");
    ASSERT_STREQ(meta.exchange_timezone, "Europe/London");
    ASSERT_EQ(sao_ticker_asset_class(b.ticker), SAO_ASSET_FX);
    ASSERT_EQ(b.count, 3);
    ASSERT_EQ(b.day[0], day_of("2020-01-01"));
    ASSERT_EQ(b.day[2], day_of("2020-01-03"));
    for (size_t i = 0; i < 3; i++) ASSERT_NEAR(b.volume[i], 0, 0); /* FX has no volume */
    ASSERT_NEAR(b.close[2], 1.1171437501907349, 0);
    sao_bars_dispose(&b);

    sao_bars_init(&b, NULL);
    ASSERT_OK(parse_fixture(&b, &meta, &rep, "yf_chart_GCF_1d_2020-01-02.json"));
    ASSERT_STREQ(meta.symbol, "GC=F");
    ASSERT_EQ(sao_ticker_asset_class(b.ticker), SAO_ASSET_FUTURE);
    ASSERT_EQ(b.count, 1);
    ASSERT_EQ(b.day[0], day_of("2020-01-02")); /* 05:00 UTC = midnight in New York */
    ASSERT_NEAR(b.close[0], 1524.5, 0);
    sao_bars_dispose(&b);
}

static void test_empty_and_delisted(void)
{
    sao_bars b;
    sao_bars_init(&b, NULL);
    sao_yahoo_meta meta;
    sao_yahoo_report rep;
    ASSERT_EQ(parse_fixture(&b, &meta, &rep, "yf_chart_AAPL_1m_2025-02-01_weekend_empty.json"),
              SAO_ENODATA);
    ASSERT_CONTAINS(sao_error_last(), "no bars for AAPL");
    ASSERT_EQ(b.count, 0);

    ASSERT_EQ(parse_fixture(&b, &meta, &rep, "yf_chart_MDLY_404_delisted.json"), SAO_ENOENT);
    ASSERT_CONTAINS(sao_error_last(), "No data found, symbol may be delisted");
    ASSERT_CONTAINS(sao_error_last(), "delisted");
    ASSERT_EQ(b.count, 0);
    sao_bars_dispose(&b);
}

/* Body for synthetic cases: one result with the given meta/timestamps/quote/extra members. */
static char *chart(const char *meta, const char *timestamps, const char *quote, const char *extra)
{
    sao_buf buf;
    sao_buf_init(&buf, 0);
    ASSERT_OK(sao_buf_appendf(&buf,
                              "{\"chart\":{\"result\":[{\"meta\":{%s},%s%s"
                              "\"indicators\":{\"quote\":[%s]%s}}],\"error\":null}}",
                              meta, timestamps, *timestamps ? "," : "", quote, extra));
    return sao_buf_detach(&buf, NULL);
}

static void test_malformed(void)
{
    static const char *meta_ny = "\"symbol\":\"T\",\"gmtoffset\":-18000,\"dataGranularity\":\"1d\"";
    static const struct {
        const char *timestamps;
        const char *quote;
        const char *extra;
        int code;
        const char *message;
    } cases[] = {
        /* mismatched lengths */
        {"\"timestamp\":[1577975400,1578061800]",
         "{\"open\":[1,1],\"high\":[2,2],\"low\":[0.5,0.5],\"close\":[1.5],\"volume\":[1,1]}", "",
         SAO_EPARSE, "indicators.quote[0].close has 1 values for 2 timestamps"},
        {"\"timestamp\":[1577975400]",
         "{\"open\":[1],\"high\":[2],\"low\":[0.5],\"close\":[1.5],\"volume\":[1]}",
         ",\"adjclose\":[{\"adjclose\":[1,2]}]", SAO_EPARSE,
         "indicators.adjclose[0].adjclose has 2 values for 1 timestamps"},
        /* timestamps present but the quote empty */
        {"\"timestamp\":[1577975400]", "{}", "", SAO_EPARSE, "indicators.quote[0].open is missing"},
        {"\"timestamp\":[1577975400]", "", "", SAO_EPARSE, "indicators.quote[0] is missing"},
        /* wrong types */
        {"\"timestamp\":[1577975400]",
         "{\"open\":[\"1\"],\"high\":[2],\"low\":[0.5],\"close\":[1.5],\"volume\":[1]}", "",
         SAO_EPARSE, "open[0] is not a number"},
        {"\"timestamp\":[\"x\"]",
         "{\"open\":[1],\"high\":[2],\"low\":[0.5],\"close\":[1.5],\"volume\":[1]}", "",
         SAO_EPARSE, "timestamp[0] is not an integer"},
        {"\"timestamp\":{}",
         "{\"open\":[1],\"high\":[2],\"low\":[0.5],\"close\":[1.5],\"volume\":[1]}", "",
         SAO_EPARSE, "timestamp is not an array"},
        {"\"timestamp\":[99999999999999]",
         "{\"open\":[1],\"high\":[2],\"low\":[0.5],\"close\":[1.5],\"volume\":[1]}", "",
         SAO_EPARSE, "timestamp[0] = 99999999999999 is out of range"},
        {"\"timestamp\":[1577975400]",
         "{\"open\":1,\"high\":[2],\"low\":[0.5],\"close\":[1.5],\"volume\":[1]}", "", SAO_EPARSE,
         "open is not an array"},
        {"\"timestamp\":[]", "{}", "", SAO_ENODATA, "no bars"},
        /* events */
        {"\"timestamp\":[1577975400],\"events\":{\"splits\":{\"1577975400\":{\"date\":1577975400,"
         "\"numerator\":4,\"denominator\":0}}}",
         "{\"open\":[1],\"high\":[2],\"low\":[0.5],\"close\":[1.5],\"volume\":[1]}", "",
         SAO_EPARSE, "malformed split event '1577975400'"},
        {"\"timestamp\":[1577975400],\"events\":{\"dividends\":{\"x\":{\"amount\":1}}}",
         "{\"open\":[1],\"high\":[2],\"low\":[0.5],\"close\":[1.5],\"volume\":[1]}", "",
         SAO_EPARSE, "malformed dividend event 'x'"},
        {"\"timestamp\":[1577975400],\"events\":[]",
         "{\"open\":[1],\"high\":[2],\"low\":[0.5],\"close\":[1.5],\"volume\":[1]}", "",
         SAO_EPARSE, "events is not an object"},
    };
    for (size_t i = 0; i < SAO_ARRAY_LEN(cases); i++) {
        char *json = chart(meta_ny, cases[i].timestamps, cases[i].quote, cases[i].extra);
        sao_bars b;
        sao_bars_init(&b, "T");
        sao_bars_push(&b, day_of("1999-01-04"), 1, 1, 1, 1, 1, 1);
        sao_yahoo_report rep;
        memset(&rep, 0x5A, sizeof(rep));
        int rc = parse_str(&b, &rep, json);
        if (rc != cases[i].code)
            fprintf(stderr, "case %zu: %s: got %s (%s)\n", i, json, sao_errname(rc),
                    sao_error_last());
        ASSERT_EQ(rc, cases[i].code);
        ASSERT_CONTAINS(sao_error_last(), cases[i].message);
        ASSERT_EQ(b.count, 1); /* nothing appended on error */
        ASSERT_EQ(rep.bars, 0x5A5A5A5A5A5A5A5AULL);
        sao_bars_dispose(&b);
        sao_free(json);
    }

    /* Not JSON, not the chart shape, errors. */
    static const struct {
        const char *json;
        int code;
        const char *message;
    } bodies[] = {
        {"", SAO_EPARSE, "not valid JSON"},
        {"{\"chart\":{\"result\":[", SAO_EPARSE, "not valid JSON"},
        {"<html>Too Many Requests</html>", SAO_EPARSE, "not valid JSON"},
        {"[1,2,3]", SAO_EPARSE, "no \"chart\" object"},
        {"{\"chart\":{\"result\":null,\"error\":null}}", SAO_EPARSE, "neither a result"},
        {"{\"chart\":{\"result\":[],\"error\":null}}", SAO_ENODATA, "empty result"},
        {"{\"chart\":{\"result\":[7],\"error\":null}}", SAO_EPARSE, "result[0] is not an object"},
        {"{\"chart\":{\"result\":null,\"error\":{\"code\":\"Bad Request\",\"description\":"
         "\"Invalid input - start date cannot be after end date\"}}}",
         SAO_EINVAL, "start date cannot be after end date"},
        {"{\"chart\":{\"result\":null,\"error\":{\"code\":\"Internal Server Error\","
         "\"description\":\"upstream broke\"}}}",
         SAO_EHTTP, "upstream broke"},
        {"{\"chart\":{\"result\":null,\"error\":\"weird\"}}", SAO_EHTTP, "no description"},
        {"{\"chart\":{\"result\":[{\"meta\":{\"gmtoffset\":999999}}],\"error\":null}}", SAO_EPARSE,
         "gmtoffset 999999"},
        {"{\"chart\":{\"result\":[{\"meta\":{\"symbol\":\"ABCDEFGHIJKLMNOPQRSTUVWXYZ\"}}]}}",
         SAO_EPARSE, "meta.symbol is 26 bytes"},
        {"{\"chart\":{\"result\":[{\"meta\":{\"currency\":5}}]}}", SAO_EPARSE,
         "meta.currency is not a string"},
        {"{\"chart\":{\"result\":[{\"meta\":{\"dataGranularity\":\"1m\"},"
         "\"timestamp\":[1577975400],\"indicators\":{\"quote\":[{}]}}]}}",
         SAO_EUNSUPPORTED, "only daily (1d) bars"},
    };
    for (size_t i = 0; i < SAO_ARRAY_LEN(bodies); i++) {
        sao_bars b;
        sao_bars_init(&b, NULL);
        sao_yahoo_report rep;
        int rc = parse_str(&b, &rep, bodies[i].json);
        if (rc != bodies[i].code)
            fprintf(stderr, "body %zu: got %s (%s)\n", i, sao_errname(rc), sao_error_last());
        ASSERT_EQ(rc, bodies[i].code);
        ASSERT_CONTAINS(sao_error_last(), bodies[i].message);
        ASSERT_EQ(b.count, 0);
        sao_bars_dispose(&b);
    }
}

static void test_null_policy_and_duplicates(void)
{
    /* Bar 2 partly null (volume), bar 3 all null, bar 4 repeats bar 1's day (later wins),
     * timestamps out of order. */
    char *json = chart("\"symbol\":\"t\",\"gmtoffset\":-18000",
                       "\"timestamp\":[1578061800,1577975400,1578321000,1578407400,1577990000]",
                       "{\"open\":[2,1,3,null,9],\"high\":[2,1,3,null,9],\"low\":[2,1,3,null,9],"
                       "\"close\":[2,1,3,null,9],\"volume\":[20,10,null,null,90]}",
                       ",\"adjclose\":[{\"adjclose\":[2,1,3,null,9]}]");
    sao_bars b;
    sao_bars_init(&b, NULL);
    sao_yahoo_report rep;
    ASSERT_OK(parse_str(&b, &rep, json));
    ASSERT_STREQ(b.ticker, "T");
    ASSERT_EQ(rep.null_bars, 1);
    ASSERT_EQ(rep.partial_bars, 1);
    ASSERT_EQ(rep.duplicate_days, 1);
    ASSERT_EQ(rep.bars, 2);
    ASSERT_EQ(b.count, 2);
    ASSERT_EQ(b.day[0], day_of("2020-01-02"));
    ASSERT_NEAR(b.close[0], 9, 0); /* the later timestamp of 2020-01-02 */
    ASSERT_EQ(b.day[1], day_of("2020-01-03"));
    ASSERT_NEAR(b.close[1], 2, 0);
    sao_free(json);

    /* Every bar null: no data. */
    json = chart("\"symbol\":\"T\"", "\"timestamp\":[1577975400]",
                 "{\"open\":[null],\"high\":[null],\"low\":[null],\"close\":[null],"
                 "\"volume\":[null]}",
                 "");
    ASSERT_EQ(parse_str(&b, &rep, json), SAO_ENODATA);
    ASSERT_CONTAINS(sao_error_last(), "all null");
    ASSERT_EQ(b.count, 2);
    sao_free(json);
    sao_bars_dispose(&b);
}

static void test_time_zones(void)
{
    /* Tokyo (UTC+9): a bar stamped at local midnight of 2020-01-06 is 15:00 UTC on 01-05; the
     * 01-07 bar stamped 09:00 local is 00:00 UTC on 01-07. Both keep their local date. */
    char *json = chart("\"symbol\":\"7203.T\",\"gmtoffset\":32400",
                       "\"timestamp\":[1578236400,1578355200]",
                       "{\"open\":[1,2],\"high\":[1,2],\"low\":[1,2],\"close\":[1,2],"
                       "\"volume\":[1,2]}",
                       "");
    sao_bars b;
    sao_bars_init(&b, NULL);
    sao_yahoo_report rep;
    ASSERT_OK(parse_str(&b, &rep, json));
    ASSERT_EQ(b.count, 2);
    ASSERT_EQ(b.day[0], day_of("2020-01-06"));
    ASSERT_EQ(b.day[1], day_of("2020-01-07"));
    ASSERT_EQ(rep.duplicate_days, 0);
    sao_free(json);
    sao_bars_dispose(&b);

    /* Before 1970: floor division, not truncation. 1969-12-31 14:30 UTC = -34200 s. */
    json = chart("\"symbol\":\"OLD\",\"gmtoffset\":-18000", "\"timestamp\":[-34200]",
                 "{\"open\":[1],\"high\":[1],\"low\":[1],\"close\":[1],\"volume\":[1]}", "");
    sao_bars_init(&b, NULL);
    ASSERT_OK(parse_str(&b, &rep, json));
    ASSERT_EQ(b.day[0], day_of("1969-12-31"));
    sao_free(json);
    sao_bars_dispose(&b);
}

static void test_caps(void)
{
    sao_bars b;
    sao_bars_init(&b, NULL);
    sao_yahoo_report rep;
    sao_yahoo_meta meta;
    /* Over the body cap: refused before parsing. */
    ASSERT_EQ(sao_yahoo_parse(&b, &meta, &rep, "{}", SAO_YAHOO_MAX_BODY + 1), SAO_ETOOBIG);
    /* More timestamps than the array cap. */
    sao_buf buf;
    sao_buf_init(&buf, 0);
    ASSERT_OK(sao_buf_appendf(&buf, "{\"chart\":{\"result\":[{\"timestamp\":[0"));
    for (size_t i = 0; i < SAO_YAHOO_MAX_BARS; i++) ASSERT_OK(sao_buf_append(&buf, ",0", 2));
    ASSERT_OK(sao_buf_appendf(&buf, "],\"indicators\":{\"quote\":[{}]}}]}}"));
    ASSERT_EQ(sao_yahoo_parse(&b, &meta, &rep, buf.data, buf.len), SAO_ETOOBIG);
    ASSERT_CONTAINS(sao_error_last(), "bars (at most");
    sao_buf_dispose(&buf);
    /* Deep nesting is refused by the JSON parser, not by the stack. */
    sao_buf_init(&buf, 0);
    for (int i = 0; i < 100000; i++) ASSERT_OK(sao_buf_append(&buf, "[", 1));
    ASSERT_EQ(sao_yahoo_parse(&b, &meta, &rep, buf.data, buf.len), SAO_EPARSE);
    sao_buf_dispose(&buf);
    ASSERT_EQ(b.count, 0);
    sao_bars_dispose(&b);
}

SAO_TEST_MAIN(TEST(test_basic), TEST(test_aapl_split_dividend), TEST(test_nvda_split),
              TEST(test_msft_dividends), TEST(test_btc_null_bars),
              TEST(test_crypto_fx_future_dates), TEST(test_empty_and_delisted),
              TEST(test_malformed), TEST(test_null_policy_and_duplicates), TEST(test_time_zones),
              TEST(test_caps))
