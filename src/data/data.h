/*
 * data: tickers and their calendars, the bar series type, the Yahoo Finance chart client, the
 * CSV importer, validation, ingestion into the offline store, and the preparation of model
 * windows (splits, scaling, targets).
 */
#ifndef SAO_DATA_H
#define SAO_DATA_H

#include "core/core.h"

#define SAO_TICKER_MAX 20

typedef enum sao_asset_class {
    SAO_ASSET_EQUITY = 0, /* AAPL, BRK.B */
    SAO_ASSET_INDEX,      /* ^GSPC */
    SAO_ASSET_CRYPTO,     /* BTC-USD */
    SAO_ASSET_FX,         /* EURUSD=X */
    SAO_ASSET_FUTURE      /* GC=F */
} sao_asset_class;

/* 0 if `ticker` is 1..SAO_TICKER_MAX of [A-Za-z0-9.^=-], starting with a letter, digit or '^',
 * with no "..": nothing that could escape a path or a key. SAO_EINVAL with a message otherwise. */
int sao_ticker_validate(const char *ticker);
/* Upper-cases a valid ticker into out (SAO_TICKER_MAX + 1 bytes). */
int sao_ticker_normalize(char *out, const char *ticker);
sao_asset_class sao_ticker_asset_class(const char *ticker);
const char *sao_asset_class_name(sao_asset_class cls);
/* Crypto trades every calendar day. Equities and indices trade on the NYSE's days: Monday to
 * Friday less its holidays and special closures (US markets; other exchanges' holidays are not
 * modelled). FX and futures trade Monday to Friday. */
int sao_calendar_is_trading_day(sao_asset_class cls, int64_t day);
/* The `n`-th trading day after `day` (before it when n < 0; `day` itself when n is 0). */
int64_t sao_calendar_add_trading_days(sao_asset_class cls, int64_t day, int n);

/* Daily bars of one ticker, struct of arrays, sorted by day once validated. */
typedef struct sao_bars {
    char ticker[SAO_TICKER_MAX + 1];
    size_t count;
    size_t cap;
    int64_t *day; /* days since 1970-01-01: the exchange's trading date */
    double *open;
    double *high;
    double *low;
    double *close;
    double *adj_close; /* close adjusted for splits and dividends; = close when not given */
    double *volume;
    double *dividend;    /* cash dividend paid that day, 0 when none */
    double *split_ratio; /* split numerator/denominator that day, 0 when none (yfinance's way) */
    int64_t *created_us; /* when the row was first stored; 0 until then */
} sao_bars;

void sao_bars_init(sao_bars *bars, const char *ticker);
void sao_bars_dispose(sao_bars *bars);
/* Appends a bar (dividend and split 0, created 0); returns its index. */
size_t sao_bars_push(sao_bars *bars, int64_t day, double open, double high, double low,
                     double close, double adj_close, double volume);
void sao_bars_reserve(sao_bars *bars, size_t count);
/* Copies row `src_row` of `src` to the end of `dst`. */
void sao_bars_push_row(sao_bars *dst, const sao_bars *src, size_t src_row);
/* Stable sort by day. */
void sao_bars_sort(sao_bars *bars);
void sao_bars_clear(sao_bars *bars);

/* ---- CSV import ---- */

typedef enum sao_csv_format {
    SAO_CSV_YAHOO_CLASSIC = 0, /* Date,Open,High,Low,Close,Adj Close,Volume (any case, any order) */
    SAO_CSV_YFINANCE_MULTI,    /* Price,... / Ticker,... / Date,,,, */
    SAO_CSV_INDEXED            /* leading unnamed index column */
} sao_csv_format;

typedef struct sao_csv_report {
    sao_csv_format format;
    size_t rows;          /* bars read */
    size_t null_rows;     /* rows with null / empty values skipped */
    int newest_first;     /* input was in descending date order (re-sorted) */
    char ticker[SAO_TICKER_MAX + 1]; /* from a yfinance Ticker header line, else "" */
} sao_csv_report;

/* Parses CSV text. `name` is used in error messages ("file:line:column: ..."). Bars are
 * appended to `out` and sorted by day (stably); `out` takes the file's ticker when it has none.
 * Columns are found by header name in any case and order ("Adj Close", "adj_close" and
 * "adjclose" are one name); Date, Open, High, Low, Close and Volume are required, Adj Close
 * defaults to Close, and Dividends / Stock Splits columns (yfinance history) are read as events.
 * A row with an empty, null, NaN or NA price or volume is skipped and counted in null_rows.
 * Errors: SAO_EPARSE for malformed input (a bad number, date or quote, a missing or duplicate
 * column, a row with too few or too many fields, an empty file); SAO_EFORMAT for a yfinance
 * file holding several tickers; SAO_ETOOBIG past a cap (SAO_CSV_MAX_BYTES, a record of
 * SAO_CSV_MAX_RECORD bytes, SAO_CSV_MAX_FIELDS fields); SAO_ENODATA when no row holds a bar
 * (header only, or every row null). On error `out` and `report` are untouched. */
int sao_csv_parse(sao_bars *out, sao_csv_report *report, const char *text, size_t len,
                  const char *name);
/* Reads and parses a file (at most SAO_CSV_MAX_BYTES). */
int sao_csv_import(sao_bars *out, sao_csv_report *report, const char *path);
#define SAO_CSV_MAX_BYTES ((size_t)512 * 1024 * 1024)
#define SAO_CSV_MAX_RECORD ((size_t)64 * 1024) /* bytes in one line (record) */
#define SAO_CSV_MAX_FIELDS 256                  /* fields in one record */

/* ---- Yahoo Finance chart API (v8) ---- */

typedef struct sao_yahoo_meta {
    char symbol[SAO_TICKER_MAX + 1];
    char currency[16];
    char instrument_type[32]; /* EQUITY, INDEX, CRYPTOCURRENCY, CURRENCY, FUTURE */
    char exchange_timezone[64];
    long gmtoffset; /* seconds */
} sao_yahoo_meta;

typedef struct sao_yahoo_report {
    size_t bars;       /* bars kept */
    size_t null_bars;  /* bars whose values were all null, skipped */
    size_t dividends;  /* dividend events kept */
    size_t splits;     /* split events kept */
    size_t partial_bars;   /* bars with some (not all) values null, also skipped */
    size_t duplicate_days; /* bars replaced by a later bar of the same trading day */
    int attempts;          /* HTTP attempts sao_yahoo_fetch made (0 for sao_yahoo_parse) */
} sao_yahoo_report;

#define SAO_YAHOO_MAX_BODY ((size_t)64 * 1024 * 1024) /* larger bodies are SAO_ETOOBIG */
#define SAO_YAHOO_MAX_BARS ((size_t)1000000)          /* longer arrays are SAO_ETOOBIG */

/* Parses a chart API response body. A result with no bars is SAO_ENODATA; the
 * "No data found, symbol may be delisted" error is SAO_ENOENT; anything malformed SAO_EPARSE.
 * A bar's day is its exchange's trading date, floor((timestamp + meta.gmtoffset) / 86400).
 * Bars with any null among open/high/low/close/volume/adjclose are skipped (all null:
 * null_bars; some null: partial_bars). Two bars on one day keep the later one. Dividends and
 * splits land on the bar of their day (an event on a day without a bar is not kept). Only
 * daily data ("1d") is accepted: other granularities are SAO_EUNSUPPORTED. Other `error`
 * objects: "Bad Request"/"Unprocessable Entity" SAO_EINVAL, anything else SAO_EHTTP. */
int sao_yahoo_parse(sao_bars *out, sao_yahoo_meta *meta, sao_yahoo_report *report,
                    const char *json, size_t len);
/* Fetches [from_day, to_day] (inclusive; to_day < 0 means today) from SAO_YAHOO_BASE_URL.
 * The request asks for one more day on each side (period1 = from_day - 1, period2 = the end of
 * to_day + 1, in UTC seconds) so that exchanges east or west of UTC lose no edge day; bars
 * outside [from_day, to_day] are then dropped. A 404 is SAO_ENOENT (with Yahoo's message when
 * the body has one); 429 and 5xx (after the HTTP client's retries) and any other non-200 status
 * are SAO_EHTTP; transport failures keep the HTTP client's codes (SAO_ENET, SAO_ETIMEOUT). */
int sao_yahoo_fetch(sao_bars *out, sao_yahoo_meta *meta, sao_yahoo_report *report,
                    const char *ticker, int64_t from_day, int64_t to_day);

/* ---- validation ---- */

typedef enum sao_issue_kind {
    SAO_ISSUE_DUPLICATE_DATE = 0,
    SAO_ISSUE_UNSORTED,
    SAO_ISSUE_NONPOSITIVE_PRICE,
    SAO_ISSUE_HIGH_BELOW,   /* high < max(open, close) or high < low */
    SAO_ISSUE_LOW_ABOVE,    /* low > min(open, close) */
    SAO_ISSUE_NEGATIVE_VOLUME,
    SAO_ISSUE_NOT_FINITE,
    SAO_ISSUE_GAP,          /* a warning: missing trading days */
    SAO_ISSUE__COUNT
} sao_issue_kind;

typedef struct sao_issue {
    sao_issue_kind kind;
    size_t row;
    int64_t day;
    char message[160];
} sao_issue;

typedef struct sao_validation_report {
    size_t rows_checked;
    size_t invalid_rows; /* rows with at least one error (gaps are warnings, not errors) */
    size_t dropped_rows;
    size_t gaps;
    size_t counts[SAO_ISSUE__COUNT];
    sao_issue *issues; /* every issue, in row order (the first SAO_VALIDATION_MAX_ISSUES) */
    size_t issue_count;
    size_t issue_cap;
    size_t issues_not_stored; /* issues past SAO_VALIDATION_MAX_ISSUES: counted, not kept */
} sao_validation_report;

#define SAO_VALIDATION_MAX_ISSUES ((size_t)100000)
/* Price relations (high >= open, close, low; low <= open, close) allow this relative slack:
 * Yahoo keeps prices as float32, and a rescaled series may round a hair across a bound. */
#define SAO_VALIDATION_REL_TOL 1e-7
/* Default gap limits (calendar days without a bar): five for Monday-Friday calendars (a
 * weekend plus a holiday or two; 9/11 closed US markets for six), three for crypto. */
#define SAO_VALIDATION_GAP_DAYS 5
#define SAO_VALIDATION_GAP_DAYS_CRYPTO 3

void sao_validation_report_init(sao_validation_report *report);
void sao_validation_report_dispose(sao_validation_report *report);
const char *sao_issue_kind_name(sao_issue_kind kind);
/* Checks `bars` (calendar of its ticker's asset class; a gap is more than `max_gap_days`
 * calendar days without a bar, 0 for the default). Errors: a non-finite value, a price or adj
 * close <= 0, high below open/close/low, low above open/close, volume < 0, a day that repeats
 * (every row of a day but the last valid one read: a later download corrects an earlier one),
 * and, without drop_invalid, a day earlier than the one before it. Gaps are warnings.
 * With drop_invalid the bad rows and the repeated days are removed in place, the rest sorted
 * (stably) by day, and SAO_OK returned; without it any error row makes the call return
 * SAO_EVALIDATION (message: the first error) and leaves `bars` untouched. The report is reset
 * on entry; call sao_validation_report_init once before the first use. */
int sao_validate_bars(sao_bars *bars, sao_validation_report *report, int drop_invalid,
                      int max_gap_days);
/* Prints a short human summary (counts and the first `max_lines` issues). */
void sao_validation_report_print(const sao_validation_report *report, FILE *out, size_t max_lines);

/* ---- preparation (preparation.c): windows, chronological splits, scaling, targets ----
 *
 * Input: `rows` time-ordered rows of `features` model inputs, column-major (feature f of row r
 * at inputs[f * rows + r]), and the close of every row. Leading rows where any input is not
 * finite (indicator warm-up) are dropped first; `first_row` is the first row kept, and n =
 * rows - first_row rows remain.
 *
 * A window starting at row s has inputs rows s .. s+C-1 (C = context_length) and targets the
 * closes of rows s+C .. s+C+H-1 (H = horizon), relative to the window's last close, close[s+C-1].
 * A window whose inputs hold a non-finite value, or whose last close or target closes are not
 * finite and positive, is left out.
 *
 * Splits cut the kept rows, not the windows. With R1 = first_row + floor(n * train_fraction)
 * and R2 = first_row + floor(n * (train_fraction + val_fraction)):
 *
 *   train: input rows [first_row, R1)   gap [R1, R1+H)   val: input rows [R1+H, R2)
 *   gap [R2, R2+H)   test: input rows [R2+H, rows-H)      (the last H rows: test targets only)
 *
 * A window belongs to the split whose input rows contain all of its inputs: s >= begin and
 * s+C <= end. Its targets then fall in the gap after the split (or in the last H rows for
 * test), never among the next split's rows: every train target row is < R1+H, the first row of
 * any validation input, and likewise for validation and test. Every row is an input of at most
 * one split; the scaler sees only train input rows [first_row, R1).
 */
typedef enum sao_prep_split_id {
    SAO_PREP_TRAIN = 0,
    SAO_PREP_VAL = 1,
    SAO_PREP_TEST = 2
} sao_prep_split_id;

typedef enum sao_prep_scaler_kind {
    SAO_PREP_SCALER_STANDARD = 0, /* (x - mean) / std, population std as scikit-learn's */
    SAO_PREP_SCALER_MINMAX = 1    /* (x - min) / (max - min): training rows land in [0, 1] */
} sao_prep_scaler_kind;

/* Targets. RETURN (the default): close[s+C+k] / close[s+C-1] - 1. Returns are scale-free, so
 * one model (or a parent and its children) serves tickers at any price level, and a series that
 * trends out of its training range does not push targets outside what the model has seen; an
 * output of zero is exactly the persistence forecast, so the model learns a correction to the
 * baseline it must beat. PRICE: the close itself, scaled with the training rows' close
 * statistics (the scaler's kind). */
typedef enum sao_prep_target_kind {
    SAO_PREP_TARGET_RETURN = 0,
    SAO_PREP_TARGET_PRICE = 1
} sao_prep_target_kind;

typedef struct sao_prep_config {
    int context_length;    /* 60 */
    int horizon;           /* 5 */
    double train_fraction; /* 0.70 */
    double val_fraction;   /* 0.15; test takes the rest */
    sao_prep_scaler_kind scaler;
    sao_prep_target_kind target;
    /* Explicit row bounds instead of the fractions (a walk-forward fold): R1 = train_end,
     * R2 = val_end, test input rows [R2+H, test_end). 0 (the default): from the fractions.
     * When set they need first_row < R1, R1 + H < R2, R2 + H < test_end, test_end + H <= rows. */
    size_t train_end, val_end, test_end;
} sao_prep_config;

/* Per-feature parameters: scaled = (x - center) / scale. Standard: center mean, scale std;
 * min-max: center min, scale max - min. A constant feature gets scale 1. */
typedef struct sao_prep_scaler {
    sao_prep_scaler_kind kind;
    size_t features;
    double *center;
    double *scale;
} sao_prep_scaler;

typedef struct sao_prep_split {
    size_t begin, end; /* input rows [begin, end) */
    size_t *start;     /* first row of each window, ascending */
    size_t count;
} sao_prep_split;

typedef struct sao_prep_data {
    sao_prep_config config;
    size_t rows, features;
    size_t first_row; /* rows before it had a non-finite input and were dropped */
    sao_prep_split split[3];
    sao_prep_scaler scaler;   /* fitted on train input rows only */
    double target_center;     /* PRICE targets: (close - center) / scale; RETURN: 0 and 1 */
    double target_scale;
    double train_mean_return; /* mean daily simple return of closes in train input rows */
    float *scaled;            /* [rows][features], row-major; non-finite inputs stay NaN */
    double *close;            /* copy of the closes */
} sao_prep_data;

void sao_prep_config_init(sao_prep_config *cfg);
const char *sao_prep_split_name(sao_prep_split_id split);

/* Fits a scaler on rows [row_begin, row_end) of a column-major [rows x features] matrix,
 * ignoring non-finite values. SAO_ENODATA when a feature has no finite value there. */
int sao_prep_scaler_fit(sao_prep_scaler *out, sao_prep_scaler_kind kind, const double *inputs,
                        size_t rows, size_t features, size_t row_begin, size_t row_end);
void sao_prep_scaler_dispose(sao_prep_scaler *scaler);
double sao_prep_scaler_apply(const sao_prep_scaler *scaler, size_t feature, double value);
double sao_prep_scaler_inverse(const sao_prep_scaler *scaler, size_t feature, double value);

/* Drops the warm-up rows, splits, fits the scaler on train and scales every row. The arrays are
 * copied. SAO_EINVAL for a configuration out of range (context or horizon < 1, fractions not
 * positive or summing to 1 or more); SAO_ENODATA when a split would hold no window (the message
 * says which and how many rows it would need). */
int sao_prep_new(sao_prep_data **out, const double *inputs, const double *close, size_t rows,
                 size_t features, const sao_prep_config *cfg);
void sao_prep_free(sao_prep_data *data);

/* The windows of one split as float arrays for the model: *inputs [count, C, features]
 * (batch-major) and *targets [count, H], both owned by the caller (sao_free). */
int sao_prep_windows(float **inputs, float **targets, size_t *count, const sao_prep_data *data,
                     sao_prep_split_id split);
/* The target of horizon step k of the window starting at row `start`, in model units. */
double sao_prep_target(const sao_prep_data *data, size_t start, int step);
/* Model outputs (`horizon` values) of the window starting at `start` back to prices. */
void sao_prep_to_prices(double *prices, const sao_prep_data *data, size_t start,
                        const float *outputs);
/* The last close of the window starting at `start` and its `horizon` actual future closes. */
void sao_prep_window_prices(double *last_close, double *actual, const sao_prep_data *data,
                            size_t start);

#endif
