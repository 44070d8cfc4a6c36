/*
 * CSV importer: every real file in the shared OHLCV folder, format detection, the odd layouts
 * (BOM, CRLF, quotes, newest first, null rows) and errors that name file, line and column.
 */
#include "test.h"

/* Included for parse_number (static); the library's copy is then not linked in. */
#include "data/csv_import.c"

#include <errno.h>
#include <stdint.h>
#include <unistd.h>

int sao_test_failures;

static int64_t day_of(const char *ymd)
{
    int64_t day = 0;
    SAO_ASSERT(sao_date_parse(ymd, strlen(ymd), &day) == 0);
    return day;
}

static int parse_str(sao_bars *out, sao_csv_report *rep, const char *text)
{
    return sao_csv_parse(out, rep, text, strlen(text), "prices.csv");
}

/* Expected values were read off the files with an independent CSV reader (Python's csv
 * module): data rows = lines after the header lines (one, or three for yfinance), with no
 * blank lines and no "null" rows in any of these files. */
typedef struct expected_file {
    const char *file;
    sao_csv_format format;
    size_t rows;
    const char *ticker; /* from the yfinance Ticker line */
    const char *first_date;
    double first_open, first_close, first_adj, first_volume;
    const char *last_date;
    double last_high, last_close, last_volume;
} expected_file;

static const expected_file expected[] = {
    {"yahoo_daily_AAPL_1990-01-02_2024-09-12_johnvb21.csv", SAO_CSV_YAHOO_CLASSIC, 8741, "",
     "1990-01-02", 0.31473198533058167, 0.3325890004634857, 0.2624177038669586, 183198400,
     "2024-09-12", 223.5500030517578, 222.77000427246094, 37498200},
    {"yahoo_daily_AAPL_2021-06-25_2026-06-24_recent5y_quantedge.csv", SAO_CSV_YFINANCE_MULTI,
     1254, "AAPL", "2021-06-25", 130.09037560621056, 129.74920654296875, 129.74920654296875,
     70783700, "2026-06-24", 299.70001220703125, 293.0799865722656, 46572137},
    {"yahoo_daily_AMZN_1997-05-15_2024-09-12_johnvb21.csv", SAO_CSV_YAHOO_CLASSIC, 6877, "",
     "1997-05-15", 0.12187500298023224, 0.09791699796915054, 0.09791699796915054, 1443120000,
     "2024-09-12", 187.41000366210938, 187.0, 33622500},
    {"yahoo_daily_BTC-USD_2014-09-17_2023-11-16_trioxwater.csv", SAO_CSV_YAHOO_CLASSIC, 3348, "",
     "2014-09-17", 465.864014, 457.334015, 457.334015, 21056800, "2023-11-16", 37934.625,
     36154.76953, 26007385366.0},
    {"yahoo_daily_BTC-USD_2021-06-24_2026-06-24_recent5y_quantedge.csv", SAO_CSV_YFINANCE_MULTI,
     1827, "BTC-USD", "2021-06-24", 33682.80078125, 34662.4375, 34662.4375, 33123368116.0,
     "2026-06-24", 63027.4453125, 60802.8515625, 40955756544.0},
    {"yahoo_daily_ETH-USD_2021-06-24_2026-06-24_recent5y_quantedge.csv", SAO_CSV_YFINANCE_MULTI,
     1827, "ETH-USD", "2021-06-24", 1968.9573974609375, 1988.456298828125, 1988.456298828125,
     20272845769.0, "2026-06-24", 1684.8897705078125, 1610.56005859375, 13701776384.0},
    {"yahoo_daily_GOOGL_2004-08-19_2024-09-12_johnvb21.csv", SAO_CSV_YAHOO_CLASSIC, 5051, "",
     "2004-08-19", 2.502502918243408, 2.5110108852386475, 2.5048084259033203, 893181924,
     "2024-09-12", 154.82000732421875, 154.69000244140625, 29695000},
    {"yahoo_daily_GSPC_1990-01-02_2024-09-12_johnvb21.csv", SAO_CSV_YAHOO_CLASSIC, 8741, "",
     "1990-01-02", 353.3999938964844, 359.69000244140625, 359.69000244140625, 162070000,
     "2024-09-12", 5600.7099609375, 5595.759765625, 3655070000.0},
    {"yahoo_daily_GSPC_2000-01-03_2020-04-17_npm-vega-datasets.csv", SAO_CSV_YAHOO_CLASSIC, 5105,
     "", "2000-01-03", 1469.25, 1455.219971, 1455.219971, 931800000, "2020-04-17", 2879.219971,
     2874.560059, 5792140000.0},
    {"yahoo_daily_GSPC_2021-06-25_2026-06-24_recent5y_quantedge.csv", SAO_CSV_YFINANCE_MULTI,
     1254, "^GSPC", "2021-06-25", 4274.4501953125, 4280.7001953125, 4280.7001953125, 7341450000.0,
     "2026-06-24", 7428.06005859375, 7358.22021484375, 3600977000.0},
    {"yahoo_daily_META_2012-05-18_2024-09-12_johnvb21.csv", SAO_CSV_YAHOO_CLASSIC, 3099, "",
     "2012-05-18", 42.04999923706055, 38.22999954223633, 38.1515998840332, 573576400,
     "2024-09-12", 526.7100219726562, 525.5999755859375, 11993300},
    {"yahoo_daily_MSFT_1990-01-02_2024-09-12_johnvb21.csv", SAO_CSV_YAHOO_CLASSIC, 8741, "",
     "1990-01-02", 0.6059030294418335, 0.6163190007209778, 0.3800186812877655, 53035200,
     "2024-09-12", 427.3699951171875, 427.0, 17418800},
    {"yahoo_daily_MSFT_2021-06-25_2026-06-24_recent5y_quantedge.csv", SAO_CSV_YFINANCE_MULTI,
     1254, "MSFT", "2021-06-25", 255.50002957701327, 254.33877563476562, 254.33877563476562,
     25611100, "2026-06-24", 378.8800048828125, 365.4599914550781, 38527409},
    {"yahoo_daily_NVDA_1999-01-22_2024-09-12_johnvb21.csv", SAO_CSV_YAHOO_CLASSIC, 6452, "",
     "1999-01-22", 0.04374999925494194, 0.041016001254320145, 0.037617750465869904, 2714688000.0,
     "2024-09-12", 120.79000091552734, 119.13999938964844, 367100500},
    {"yahoo_daily_NVDA_2021-06-25_2026-06-24_recent5y_quantedge.csv", SAO_CSV_YFINANCE_MULTI,
     1254, "NVDA", "2021-06-25", 19.214042880819722, 18.965402603149414, 18.965402603149414,
     278364000, "2026-06-24", 201.64999389648438, 199.0, 128043436},
    {"yahoo_daily_SPY_1993-01-29_2024-09-12_johnvb21.csv", SAO_CSV_YAHOO_CLASSIC, 7962, "",
     "1993-01-29", 43.96875, 43.9375, 24.684120178222656, 1003200, "2024-09-12",
     559.4000244140625, 559.0900268554688, 51892700},
    {"yahoo_daily_SPY_1999-11-01_2020-08-28_pandas-ta.csv", SAO_CSV_INDEXED, 5241, "",
     "1999-11-01", 136.5, 135.5625, 135.5625, 4006500, "2020-08-28", 350.72, 350.58, 48588940},
    {"yahoo_daily_TSLA_2010-06-29_2024-09-12_johnvb21.csv", SAO_CSV_YAHOO_CLASSIC, 3576, "",
     "2010-06-29", 1.2666670083999634, 1.5926669836044312, 1.5926669836044312, 281494500,
     "2024-09-12", 231.4499969482422, 229.80999755859375, 72020000},
};

static void test_shared_files(void)
{
    for (size_t i = 0; i < SAO_ARRAY_LEN(expected); i++) {
        const expected_file *e = &expected[i];
        char rel[256];
        snprintf(rel, sizeof(rel), "data/ohlcv/%s", e->file);
        sao_bars bars;
        sao_bars_init(&bars, NULL);
        sao_csv_report rep;
        memset(&rep, 0xAB, sizeof(rep));
        ASSERT_OK(sao_csv_import(&bars, &rep, sao_test_shared(rel)));
        fprintf(stderr, "  %s: %zu rows, format %d\n", e->file, bars.count, (int)rep.format);
        ASSERT_EQ(bars.count, e->rows);
        ASSERT_EQ(rep.rows, e->rows);
        ASSERT_EQ(rep.null_rows, 0);
        ASSERT_EQ(rep.newest_first, 0);
        ASSERT_EQ(rep.format, e->format);
        ASSERT_STREQ(rep.ticker, e->ticker);
        ASSERT_STREQ(bars.ticker, e->ticker);
        ASSERT_EQ(bars.day[0], day_of(e->first_date));
        ASSERT_NEAR(bars.open[0], e->first_open, 1e-15);
        ASSERT_NEAR(bars.close[0], e->first_close, 1e-15);
        ASSERT_NEAR(bars.adj_close[0], e->first_adj, 1e-15);
        ASSERT_NEAR(bars.volume[0], e->first_volume, 1e-15);
        size_t last = bars.count - 1;
        ASSERT_EQ(bars.day[last], day_of(e->last_date));
        ASSERT_NEAR(bars.high[last], e->last_high, 1e-15);
        ASSERT_NEAR(bars.close[last], e->last_close, 1e-15);
        ASSERT_NEAR(bars.volume[last], e->last_volume, 1e-15);
        for (size_t r = 1; r < bars.count; r++) ASSERT_TRUE(bars.day[r] > bars.day[r - 1]);
        for (size_t r = 0; r < bars.count; r++) {
            ASSERT_EQ(bars.dividend[r], 0);
            ASSERT_EQ(bars.split_ratio[r], 0);
            ASSERT_EQ(bars.created_us[r], 0);
        }
        sao_bars_dispose(&bars);
    }
}

/* Known values inside the files (README: ^GSPC closes on two known dates). */
static void test_known_closes(void)
{
    sao_bars bars;
    sao_bars_init(&bars, "^GSPC");
    ASSERT_OK(sao_csv_import(&bars, NULL,
                             sao_test_shared("data/ohlcv/yahoo_daily_GSPC_1990-01-02_2024-09-12_"
                                             "johnvb21.csv")));
    int found = 0;
    for (size_t i = 0; i < bars.count; i++) {
        if (bars.day[i] == day_of("2007-10-09")) {
            ASSERT_NEAR(bars.close[i], 1565.15, 1e-6);
            found++;
        }
        if (bars.day[i] == day_of("2009-03-09")) {
            ASSERT_NEAR(bars.close[i], 676.53, 1e-6);
            found++;
        }
    }
    ASSERT_EQ(found, 2);
    ASSERT_STREQ(bars.ticker, "^GSPC"); /* a ticker set by the caller is kept */
    sao_bars_dispose(&bars);
}

static void test_formats(void)
{
    sao_bars b;
    sao_csv_report rep;

    sao_bars_init(&b, NULL);
    ASSERT_OK(parse_str(&b, &rep, "Date,Open,High,Low,Close,Adj Close,Volume\n"
                                  "2020-01-02,1,2,0.5,1.5,1.4,100\n"));
    ASSERT_EQ(rep.format, SAO_CSV_YAHOO_CLASSIC);
    ASSERT_NEAR(b.adj_close[0], 1.4, 0);
    sao_bars_dispose(&b);

    /* Any case, any order, adj_close spelled with an underscore, an unknown column ignored. */
    sao_bars_init(&b, NULL);
    ASSERT_OK(parse_str(&b, &rep, "VOLUME,close,Note,adj_close,LOW,high,DATE,open\n"
                                  "100,1.5,hello,1.25,0.5,2,2020-01-02,1\n"));
    ASSERT_EQ(rep.format, SAO_CSV_YAHOO_CLASSIC);
    ASSERT_EQ(b.day[0], day_of("2020-01-02"));
    ASSERT_NEAR(b.open[0], 1, 0);
    ASSERT_NEAR(b.high[0], 2, 0);
    ASSERT_NEAR(b.low[0], 0.5, 0);
    ASSERT_NEAR(b.close[0], 1.5, 0);
    ASSERT_NEAR(b.adj_close[0], 1.25, 0);
    ASSERT_NEAR(b.volume[0], 100, 0);
    sao_bars_dispose(&b);

    /* No adjusted close: adj_close = close. */
    sao_bars_init(&b, NULL);
    ASSERT_OK(parse_str(&b, &rep, "date,open,high,low,close,volume\n2020-01-02,1,2,0.5,1.5,7\n"));
    ASSERT_NEAR(b.adj_close[0], 1.5, 0);
    sao_bars_dispose(&b);

    /* yfinance multi-index header with an Adj Close column. */
    sao_bars_init(&b, NULL);
    ASSERT_OK(parse_str(&b, &rep,
                        "Price,Adj Close,Close,High,Low,Open,Volume\n"
                        "Ticker,spy,spy,spy,spy,spy,spy\n"
                        "Date,,,,,,\n"
                        "2020-01-02,3.5,3.75,4,3,3.25,10\n"
                        "2020-01-03,3.6,3.8,4,3,3.3,11\n"));
    ASSERT_EQ(rep.format, SAO_CSV_YFINANCE_MULTI);
    ASSERT_STREQ(rep.ticker, "SPY");
    ASSERT_EQ(b.count, 2);
    ASSERT_NEAR(b.adj_close[0], 3.5, 0);
    ASSERT_NEAR(b.close[0], 3.75, 0);
    ASSERT_NEAR(b.open[0], 3.25, 0);
    sao_bars_dispose(&b);

    /* A yfinance file holding two tickers is refused, not mixed. */
    sao_bars_init(&b, NULL);
    ASSERT_EQ(parse_str(&b, &rep,
                        "Price,Close,Close,High,High,Low,Low,Open,Open,Volume,Volume\n"
                        "Ticker,AAPL,MSFT,AAPL,MSFT,AAPL,MSFT,AAPL,MSFT,AAPL,MSFT\n"
                        "Date,,,,,,,,,,\n"),
              SAO_EPARSE);
    ASSERT_CONTAINS(sao_error_last(), "duplicate column");
    ASSERT_EQ(parse_str(&b, &rep,
                        "Price,Close,High,Low,Open,Volume\n"
                        "Ticker,AAPL,MSFT,AAPL,AAPL,AAPL\n"
                        "Date,,,,,\n2020-01-02,1,1,1,1,1\n"),
              SAO_EFORMAT);
    ASSERT_CONTAINS(sao_error_last(), "prices.csv:2:3: several tickers");
    ASSERT_EQ(b.count, 0);
    sao_bars_dispose(&b);

    /* Leading pandas index column, named or not; float volume; time part on the date. */
    sao_bars_init(&b, NULL);
    ASSERT_OK(parse_str(&b, &rep, "Unnamed: 0,Date,Open,High,Low,Close,Volume\n"
                                  "0,2020-01-02 00:00:00-05:00,1,2,0.5,1.5,4006500.0\n"));
    ASSERT_EQ(rep.format, SAO_CSV_INDEXED);
    ASSERT_NEAR(b.volume[0], 4006500, 0);
    ASSERT_EQ(b.day[0], day_of("2020-01-02"));
    sao_bars_dispose(&b);

    /* yfinance history() columns: Dividends and Stock Splits become events. */
    sao_bars_init(&b, NULL);
    ASSERT_OK(parse_str(&b, &rep, "Date,Open,High,Low,Close,Volume,Dividends,Stock Splits\n"
                                  "2020-08-28,4,5,3,4.5,10,0.0,0.0\n"
                                  "2020-08-31,1,2,0.5,1.5,10,0.205,4.0\n"
                                  "2020-09-01,1,2,0.5,1.5,10,,\n"));
    ASSERT_EQ(b.count, 3);
    ASSERT_NEAR(b.dividend[1], 0.205, 0);
    ASSERT_NEAR(b.split_ratio[1], 4, 0);
    ASSERT_NEAR(b.split_ratio[0], 0, 0);
    ASSERT_NEAR(b.dividend[2], 0, 0);
    ASSERT_EQ(rep.null_rows, 0);
    sao_bars_dispose(&b);
}

static void test_layout_quirks(void)
{
    sao_bars b;
    sao_csv_report rep;
    const char *plain = "Date,Open,High,Low,Close,Adj Close,Volume\n"
                        "2020-01-02,1,2,0.5,1.5,1.5,100\n"
                        "2020-01-03,1.5,2.5,1,2,2,200\n";

    /* CRLF line endings, BOM, no trailing newline, quoted fields, YYYY/M/D, blank lines. */
    const char *variants[] = {
        "Date,Open,High,Low,Close,Adj Close,Volume\r\n"
        "2020-01-02,1,2,0.5,1.5,1.5,100\r\n"
        "2020-01-03,1.5,2.5,1,2,2,200\r\n",
        "\xEF\xBB\xBF"
        "Date,Open,High,Low,Close,Adj Close,Volume\n"
        "2020-01-02,1,2,0.5,1.5,1.5,100\n"
        "2020-01-03,1.5,2.5,1,2,2,200\n",
        "Date,Open,High,Low,Close,Adj Close,Volume\n"
        "2020-01-02,1,2,0.5,1.5,1.5,100\n"
        "2020-01-03,1.5,2.5,1,2,2,200",
        "\"Date\",\"Open\",\"High\",\"Low\",\"Close\",\"Adj Close\",\"Volume\"\r\n"
        "\"2020-01-02\",\"1\",\"2\",\"0.5\",\"1.5\",\"1.5\",\"100\"\r\n"
        "\"2020-01-03\", \"1.5\" ,\"2.5\",\"1\",\"2\",\"2\",\"200\"",
        "Date,Open,High,Low,Close,Adj Close,Volume\n"
        "2020/1/2,1,2,0.5,1.5,1.5,100\n"
        "\n"
        "2020/1/3,1.5,2.5,1,2,2,200\n"
        "\n\n",
        "\xEF\xBB\xBF"
        "Date,Open,High,Low,Close,Adj Close,Volume\r\n"
        "2020-01-02,1,2,0.5,1.5,1.5,100\r\n"
        "2020-01-03,1.5,2.5,1,2,2,200",
        plain,
    };
    for (size_t v = 0; v < SAO_ARRAY_LEN(variants); v++) {
        sao_bars_init(&b, NULL);
        ASSERT_OK(parse_str(&b, &rep, variants[v]));
        ASSERT_EQ(b.count, 2);
        ASSERT_EQ(b.day[0], day_of("2020-01-02"));
        ASSERT_EQ(b.day[1], day_of("2020-01-03"));
        ASSERT_NEAR(b.open[1], 1.5, 0);
        ASSERT_NEAR(b.volume[1], 200, 0);
        ASSERT_NEAR(b.close[0], 1.5, 0);
        sao_bars_dispose(&b);
    }
}

/* The BOM is skipped, not read as part of the first column's name. */
static void test_bom(void)
{
    sao_bars b;
    sao_csv_report rep;
    sao_bars_init(&b, NULL);
    ASSERT_OK(parse_str(&b, &rep, "\xEF\xBB\xBF,date,open,high,low,close,volume\n"
                                  "0,1999-11-01,136.5,137.0,135.5625,135.5625,4006500.0\n"));
    ASSERT_EQ(rep.format, SAO_CSV_INDEXED);
    ASSERT_EQ(parse_str(&b, &rep, "\xEF\xBB\xBF\"Date\",Open,High,Low,Close,Volume\n"
                                  "1999-11-31,1,1,1,1,1\n"),
              SAO_EPARSE);
    ASSERT_CONTAINS(sao_error_last(), "prices.csv:2:1: '1999-11-31' is not a date (column Date)");
    sao_bars_dispose(&b);
}

static void test_newest_first(void)
{
    sao_bars b;
    sao_csv_report rep;
    sao_bars_init(&b, NULL);
    ASSERT_OK(parse_str(&b, &rep, "Date,Open,High,Low,Close,Adj Close,Volume\n"
                                  "2020-01-06,3,3,3,3,3,3\n"
                                  "2020-01-03,2,2,2,2,2,2\n"
                                  "2020-01-02,1,1,1,1,1,1\n"));
    ASSERT_EQ(rep.newest_first, 1);
    ASSERT_EQ(b.count, 3);
    ASSERT_EQ(b.day[0], day_of("2020-01-02"));
    ASSERT_EQ(b.day[2], day_of("2020-01-06"));
    for (size_t i = 0; i < 3; i++) ASSERT_NEAR(b.close[i], (double)(i + 1), 0);
    sao_bars_dispose(&b);

    /* Shuffled order is sorted too (stable: equal days keep their order). */
    sao_bars_init(&b, NULL);
    ASSERT_OK(parse_str(&b, &rep, "Date,Open,High,Low,Close,Adj Close,Volume\n"
                                  "2020-01-03,2,2,2,2,2,2\n"
                                  "2020-01-06,3,3,3,3,3,3\n"
                                  "2020-01-02,1,1,1,1,1,1\n"
                                  "2020-01-03,4,4,4,4,4,4\n"));
    ASSERT_EQ(b.count, 4);
    ASSERT_EQ(b.day[0], day_of("2020-01-02"));
    ASSERT_NEAR(b.close[1], 2, 0);
    ASSERT_NEAR(b.close[2], 4, 0);
    ASSERT_EQ(b.day[3], day_of("2020-01-06"));
    sao_bars_dispose(&b);
}

static void test_null_rows(void)
{
    sao_bars b;
    sao_csv_report rep;
    sao_bars_init(&b, NULL);
    /* Yahoo's CSV download writes "null" in every value of some days. */
    ASSERT_OK(parse_str(&b, &rep, "Date,Open,High,Low,Close,Adj Close,Volume\n"
                                  "2020-04-16,1,2,0.5,1.5,1.5,100\n"
                                  "2020-04-17,null,null,null,null,null,null\n"
                                  "2020-04-18,1,2,0.5,1.5,1.5,\n"
                                  "2020-04-19,NaN,2,0.5,1.5,1.5,3\n"
                                  "2020-04-20,1,2,0.5,1.5,1.5,100\n"));
    ASSERT_EQ(rep.null_rows, 3);
    ASSERT_EQ(rep.rows, 2);
    ASSERT_EQ(b.count, 2);
    ASSERT_EQ(b.day[1], day_of("2020-04-20"));
    sao_bars_dispose(&b);

    /* A bad number in a null row is still an error. */
    sao_bars_init(&b, NULL);
    ASSERT_EQ(parse_str(&b, &rep, "Date,Open,High,Low,Close,Adj Close,Volume\n"
                                  "2020-04-17,null,x1,null,null,null,null\n"),
              SAO_EPARSE);
    ASSERT_CONTAINS(sao_error_last(), "prices.csv:2:3: 'x1' is not a number (column High)");

    ASSERT_EQ(parse_str(&b, &rep, "Date,Open,High,Low,Close,Adj Close,Volume\n"
                                  "2020-04-17,null,null,null,null,null,null\n"),
              SAO_ENODATA);
    ASSERT_CONTAINS(sao_error_last(), "all 1 data rows are null");
    sao_bars_dispose(&b);
}

/* Each malformed input gives its code and a message naming file:line[:column]. */
static void test_errors(void)
{
    static const struct {
        const char *text;
        int code;
        const char *message;
    } cases[] = {
        {"Date,Open,High,Low,Close,Adj Close,Volume\n"
         "2020-01-02,1,2,0.5,1.5,1.5,100\n"
         "2020-01-03,1,2,abc,1.5,1.5,100\n",
         SAO_EPARSE, "prices.csv:3:4: 'abc' is not a number (column Low)"},
        {"Date,Open,High,Low,Close,Adj Close,Volume\n2020-13-02,1,2,0.5,1.5,1.5,100\n", SAO_EPARSE,
         "prices.csv:2:1: '2020-13-02' is not a date (column Date)"},
        {"date,open,high,low,close,volume\n02/01/2020,1,2,0.5,1.5,100\n", SAO_EPARSE,
         "prices.csv:2:1: '02/01/2020' is not a date (column date)"},
        {"Date,Open,High,Low,Close,Adj Close\n2020-01-02,1,2,0.5,1.5,1.5\n", SAO_EPARSE,
         "prices.csv:1: missing column Volume"},
        {"Open,High,Low,Close,Volume\n1,2,0.5,1.5,100\n", SAO_EPARSE,
         "prices.csv:1: missing column Date"},
        {"2020-01-02,1,2,0.5,1.5,100\n", SAO_EPARSE,
         "prices.csv:1: no header line with Date, Open, High, Low, Close, Volume columns "
         "(first line starts '2020-01-02')"},
        {"Date,Open,High,Low,Close,Adj Close,Volume\n2020-01-02,1,2,0.5,1.5,1.5,100,7\n",
         SAO_EPARSE, "prices.csv:2:8: too many fields: 8 where the header has 7"},
        {"Date,Open,High,Low,Close,Adj Close,Volume\n2020-01-02,1,2,0.5,1.5,1.5,100\n"
         "2020-01-03,1,2,0.5,1.5,1.5\n",
         SAO_EPARSE, "prices.csv:3:7: missing field: 6 fields where the header has 7"},
        {"", SAO_EPARSE, "prices.csv: empty file"},
        {"\n\r\n\n", SAO_EPARSE, "prices.csv: empty file"},
        {"Date,Open,High,Low,Close,Adj Close,Volume\n", SAO_ENODATA,
         "prices.csv:2: no data rows after the header"},
        {"Date,Open,High,Low,Close,Adj Close,Volume", SAO_ENODATA, "no data rows"},
        {"Date,Open,High,Low,Close,Adj Close,Volume\n2020-01-02,\"1,2,0.5,1.5,1.5,100\n",
         SAO_EPARSE, "prices.csv:2:2: unterminated quoted field"},
        {"Date,Open,High,Low,Close,Adj Close,Volume\n2020-01-02,\"1\"x,2,0.5,1.5,1.5,100\n",
         SAO_EPARSE, "prices.csv:2:2: unexpected character after the quoted field"},
        {"Date,Open,High,Low,Close,Close,Volume\n", SAO_EPARSE,
         "prices.csv:1:6: duplicate column 'Close' (same as column 5)"},
        {"Date,Open,High,Low,Close,Adj Close,Volume\n2020-01-02,0x10,2,0.5,1.5,1.5,100\n",
         SAO_EPARSE, "prices.csv:2:2: '0x10' is not a number (column Open)"},
        {"Date,Open,High,Low,Close,Adj Close,Volume\n2020-01-02,inf,2,0.5,1.5,1.5,100\n",
         SAO_EPARSE, "'inf' is not a number"},
        {"Date,Open,High,Low,Close,Adj Close,Volume\n2020-01-02,1e999,2,0.5,1.5,1.5,100\n",
         SAO_EPARSE, "prices.csv:2:2: '1e999' is out of range (column Open)"},
        {"Date,Open,High,Low,Close,Adj Close,Volume\n2020-01-02,1.5.2,2,0.5,1.5,1.5,100\n",
         SAO_EPARSE, "'1.5.2' is not a number"},
        {"Date,Open,High,Low,Close,Adj Close,Volume\n2020-01-02,-,2,0.5,1.5,1.5,100\n",
         SAO_EPARSE, "'-' is not a number"},
        {"Date,Open,High,Low,Close,Adj Close,Volume\n2020-01-02,1e,2,0.5,1.5,1.5,100\n",
         SAO_EPARSE, "'1e' is not a number"},
    };
    for (size_t i = 0; i < SAO_ARRAY_LEN(cases); i++) {
        /* The output holds a bar already: nothing may be appended or changed on error. */
        sao_bars b;
        sao_bars_init(&b, "X");
        sao_bars_push(&b, day_of("1999-01-04"), 1, 1, 1, 1, 1, 1);
        sao_csv_report rep;
        memset(&rep, 0x5A, sizeof(rep));
        int rc = parse_str(&b, &rep, cases[i].text);
        if (rc != cases[i].code)
            fprintf(stderr, "case %zu: got %s (%s)\n", i, sao_errname(rc), sao_error_last());
        ASSERT_EQ(rc, cases[i].code);
        ASSERT_CONTAINS(sao_error_last(), cases[i].message);
        ASSERT_EQ(b.count, 1);
        ASSERT_EQ(b.day[0], day_of("1999-01-04"));
        ASSERT_EQ(rep.rows, 0x5A5A5A5A5A5A5A5AULL); /* untouched on error */
        sao_bars_dispose(&b);
    }
}

static void test_caps(void)
{
    sao_bars b;
    sao_bars_init(&b, NULL);
    /* A record longer than the line cap is an error, never truncated. */
    size_t big = CSV_MAX_LINE + 100;
    sao_buf text;
    sao_buf_init(&text, 0);
    ASSERT_OK(sao_buf_appendf(&text, "Date,Open,High,Low,Close,Adj Close,Volume\n2020-01-02,"));
    for (size_t i = 0; i < big; i++) ASSERT_OK(sao_buf_append(&text, "1", 1));
    ASSERT_OK(sao_buf_appendf(&text, ",2,0.5,1.5,1.5,100\n"));
    ASSERT_EQ(sao_csv_parse(&b, NULL, text.data, text.len, "big.csv"), SAO_ETOOBIG);
    ASSERT_CONTAINS(sao_error_last(), "big.csv:2: record longer than");

    /* Too many fields in one record. */
    sao_buf_clear(&text);
    ASSERT_OK(sao_buf_appendf(&text, "Date"));
    for (int i = 0; i < CSV_MAX_FIELDS + 5; i++) ASSERT_OK(sao_buf_appendf(&text, ",c%d", i));
    ASSERT_EQ(sao_csv_parse(&b, NULL, text.data, text.len, "wide.csv"), SAO_ETOOBIG);
    ASSERT_CONTAINS(sao_error_last(), "wide.csv:1: more than 256 fields");

    /* A number too long for the stack copy. */
    sao_buf_clear(&text);
    ASSERT_OK(sao_buf_appendf(&text, "Date,Open,High,Low,Close,Adj Close,Volume\n2020-01-02,1."));
    for (int i = 0; i < 80; i++) ASSERT_OK(sao_buf_append(&text, "3", 1));
    ASSERT_OK(sao_buf_appendf(&text, ",2,0.5,1.5,1.5,100\n"));
    ASSERT_EQ(sao_csv_parse(&b, NULL, text.data, text.len, "long.csv"), SAO_EPARSE);
    ASSERT_CONTAINS(sao_error_last(), "long.csv:2:2:");
    ASSERT_CONTAINS(sao_error_last(), "out of range (column Open)");

    /* Over the file size cap: refused before reading (the pointer is never dereferenced). */
    ASSERT_EQ(sao_csv_parse(&b, NULL, "", SAO_CSV_MAX_BYTES + 1, "huge.csv"), SAO_ETOOBIG);
    ASSERT_CONTAINS(sao_error_last(), "huge.csv: ");
    ASSERT_EQ(b.count, 0);
    sao_buf_dispose(&text);
    sao_bars_dispose(&b);
}

static void test_append_and_files(void)
{
    sao_bars b;
    sao_bars_init(&b, NULL);
    sao_csv_report rep;
    ASSERT_OK(parse_str(&b, &rep, "Date,Open,High,Low,Close,Adj Close,Volume\n"
                                  "2020-01-06,3,3,3,3,3,3\n2020-01-07,4,4,4,4,4,4\n"));
    ASSERT_OK(parse_str(&b, &rep, "Date,Open,High,Low,Close,Adj Close,Volume\n"
                                  "2020-01-02,1,1,1,1,1,1\n2020-01-03,2,2,2,2,2,2\n"));
    ASSERT_EQ(b.count, 4);
    for (size_t i = 0; i < 4; i++) ASSERT_NEAR(b.close[i], (double)(i + 1), 0);

    /* sao_csv_import: a missing file, and a real file with CRLF written to the temp folder. */
    ASSERT_EQ(sao_csv_import(&b, &rep, "/nonexistent-dir/prices.csv"), SAO_ENOENT);
    ASSERT_CONTAINS(sao_error_last(), "prices.csv");
    ASSERT_OK(sao_mkdir_p(SAO_TEST_TMPDIR));
    char path[512];
    snprintf(path, sizeof(path), "%s/crlf_%ld.csv", SAO_TEST_TMPDIR, (long)getpid());
    const char *text = "Date,Open,High,Low,Close,Adj Close,Volume\r\n"
                       "2020-01-08,5,5,5,5,5,5\r\n";
    ASSERT_OK(sao_file_write_atomic(path, text, strlen(text)));
    ASSERT_OK(sao_csv_import(&b, &rep, path));
    ASSERT_EQ(b.count, 5);
    ASSERT_NEAR(b.close[4], 5, 0);
    const char *bad = "Date,Open,High,Low,Close,Adj Close,Volume\r\n2020-01-09,5,5,five,5,5,5\r\n";
    ASSERT_OK(sao_file_write_atomic(path, bad, strlen(bad)));
    ASSERT_EQ(sao_csv_import(&b, &rep, path), SAO_EPARSE);
    ASSERT_CONTAINS(sao_error_last(), ".csv:2:4: 'five' is not a number (column Low)");
    ASSERT_EQ(b.count, 5);
    remove(path);
    sao_bars_dispose(&b);
}

/* The fast path of parse_number gives strtod's double, bit for bit. */
static void test_number_exactness(void)
{
    uint64_t state = 0x9E3779B97F4A7C15ULL;
    char buf[64];
    for (int i = 0; i < 400000; i++) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        int digits = 1 + (int)(state % 19);
        int frac = (int)((state >> 8) % (unsigned)(digits + 1));
        int n = 0;
        if ((state >> 20) & 1) buf[n++] = '-';
        uint64_t s = state;
        for (int d = 0; d < digits; d++) {
            if (d == digits - frac) {
                if (d == 0) buf[n++] = '0';
                buf[n++] = '.';
            }
            buf[n++] = (char)('0' + s % 10);
            s = s / 10 ^ (s << 3);
        }
        if (((state >> 30) & 3) == 0) n += snprintf(buf + n, sizeof(buf) - (size_t)n, "e%d",
                                                    (int)((state >> 32) % 60) - 30);
        buf[n] = '\0';
        double fast = 0, ref;
        ASSERT_OK(parse_number(buf, (size_t)n, &fast));
        errno = 0;
        ref = strtod(buf, NULL);
        if (memcmp(&fast, &ref, sizeof(double)) != 0) {
            fprintf(stderr, "'%s': %.17g != %.17g\n", buf, fast, ref);
            ASSERT_TRUE(0);
        }
    }
    /* Values from the shared files with 17 significant digits (strtod path) and short ones. */
    const char *samples[] = {"0.31473198533058167", "130.50951172104854", "4006500.0", "0.1",
                             "9007199254740993", "1e22", "1e23", "123456789012345678901234",
                             ".5", "5.", "-0", "+7.25", "0.000000000000000000000001"};
    for (size_t i = 0; i < SAO_ARRAY_LEN(samples); i++) {
        double fast = 0;
        ASSERT_OK(parse_number(samples[i], strlen(samples[i]), &fast));
        double ref = strtod(samples[i], NULL);
        ASSERT_TRUE(memcmp(&fast, &ref, sizeof(double)) == 0);
    }
}

SAO_TEST_MAIN(TEST(test_shared_files), TEST(test_known_closes), TEST(test_formats),
              TEST(test_layout_quirks), TEST(test_bom), TEST(test_newest_first),
              TEST(test_null_rows),
              TEST(test_errors), TEST(test_caps), TEST(test_append_and_files),
              TEST(test_number_exactness))
