/*
 * CSV import of daily OHLCV: detects the layout (Yahoo classic, yfinance's three-line header,
 * a leading pandas index column), finds columns by name and reads rows without per-field
 * allocation. Errors name the file, line and column.
 */
#include "data/data_int.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define CSV_MAX_LINE SAO_CSV_MAX_RECORD
#define CSV_MAX_FIELDS SAO_CSV_MAX_FIELDS
#define CSV_MAX_NUMBER 64 /* characters in one number */

/* ---- record reader ---- */

typedef struct csv_field {
    const char *text;
    size_t len;
} csv_field;

typedef struct csv_reader {
    const char *name;
    const char *text;
    size_t len;
    size_t pos;
    size_t line;      /* line where the current record starts (1-based) */
    size_t next_line; /* line where the next record starts */
    size_t count;     /* fields in the current record */
    csv_field fields[CSV_MAX_FIELDS];
} csv_reader;

/* Where the reader stands, to look at a record and put it back. */
typedef struct csv_mark {
    size_t pos;
    size_t next_line;
} csv_mark;

static int csv_error(const char *name, size_t line, size_t column, int code, const char *fmt,
                     ...) SAO_PRINTF(5, 6);

static int csv_error(const char *name, size_t line, size_t column, int code, const char *fmt, ...)
{
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    if (column) return sao_error_set(code, "%s:%zu:%zu: %s", name, line, column, detail);
    if (line) return sao_error_set(code, "%s:%zu: %s", name, line, detail);
    return sao_error_set(code, "%s: %s", name, detail);
}

/* A printable excerpt of untrusted text for messages (at most 40 characters). */
static const char *excerpt(char *buf, size_t size, const char *text, size_t len)
{
    size_t max = size - 4;
    size_t n = len < max ? len : max;
    if (n > 40) n = 40;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)text[i];
        buf[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (n < len) {
        memcpy(buf + n, "...", 3);
        n += 3;
    }
    buf[n] = '\0';
    return buf;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Reads one record into r->fields. Returns 1 when a record was read, 0 at the end, or a
 * negative error. Quoted fields keep their text between the quotes (a doubled quote stays
 * doubled: no value this importer reads can contain one). */
static int csv_next(csv_reader *r)
{
    if (r->pos >= r->len) return 0;
    const char *text = r->text;
    size_t len = r->len;
    size_t start = r->pos;
    size_t pos = start;
    size_t lines = 0;
    r->line = r->next_line;
    r->count = 0;
    for (;;) {
        if (r->count == CSV_MAX_FIELDS)
            return csv_error(r->name, r->line, 0, SAO_ETOOBIG, "more than %d fields in a record",
                             CSV_MAX_FIELDS);
        csv_field *f = &r->fields[r->count++];
        while (pos < len && is_blank(text[pos])) pos++;
        if (pos < len && text[pos] == '"') {
            pos++; /* opening quote */
            f->text = text + pos;
            for (;;) {
                if (pos >= len)
                    return csv_error(r->name, r->line, r->count, SAO_EPARSE,
                                     "unterminated quoted field");
                if (pos - start > CSV_MAX_LINE) break;
                char c = text[pos];
                if (c == '"') {
                    if (pos + 1 < len && text[pos + 1] == '"') {
                        pos += 2;
                        continue;
                    }
                    break;
                }
                if (c == '\n') lines++;
                pos++;
            }
            if (pos - start > CSV_MAX_LINE) break;
            f->len = (size_t)(text + pos - f->text);
            pos++; /* closing quote */
            while (pos < len && (is_blank(text[pos]) || text[pos] == '\r')) pos++;
            if (pos < len && text[pos] != ',' && text[pos] != '\n')
                return csv_error(r->name, r->line, r->count, SAO_EPARSE,
                                 "unexpected character after the quoted field's closing quote");
        } else {
            f->text = text + pos;
            while (pos < len && text[pos] != ',' && text[pos] != '\n') pos++;
            size_t end = pos;
            size_t begin = (size_t)(f->text - text);
            while (end > begin && (is_blank(text[end - 1]) || text[end - 1] == '\r')) end--;
            f->len = end - begin;
        }
        if (pos - start > CSV_MAX_LINE) break;
        if (pos >= len) {
            r->pos = len;
            r->next_line = r->line + lines + 1;
            return 1;
        }
        if (text[pos] == '\n') {
            r->pos = pos + 1;
            r->next_line = r->line + lines + 1;
            return 1;
        }
        pos++; /* comma */
    }
    return csv_error(r->name, r->line, 0, SAO_ETOOBIG, "record longer than %zu bytes",
                     CSV_MAX_LINE);
}

static csv_mark csv_save(const csv_reader *r)
{
    csv_mark m = {r->pos, r->next_line};
    return m;
}

static void csv_restore(csv_reader *r, csv_mark m)
{
    r->pos = m.pos;
    r->next_line = m.next_line;
}

static int record_is_blank(const csv_reader *r)
{
    return r->count == 1 && r->fields[0].len == 0;
}

/* ---- numbers ---- */

static int is_null_token(const char *s, size_t len)
{
    static const char *const tokens[] = {"null", "nan", "na", "n/a", "none", "-nan"};
    if (len == 0) return 1;
    if (len > 4) return 0;
    for (size_t t = 0; t < SAO_ARRAY_LEN(tokens); t++) {
        if (strlen(tokens[t]) != len) continue;
        size_t i = 0;
        while (i < len && tolower((unsigned char)s[i]) == tokens[t][i]) i++;
        if (i == len) return 1;
    }
    return 0;
}

/* Parses a decimal number ([+-]digits[.digits][e[+-]digits]); no hex, inf or nan. When the
 * decimal mantissa is at most 2^53 and the power of ten within 10^-22..10^22, both are exact
 * doubles and one IEEE multiplication or division rounds correctly (Clinger's fast path), so
 * the result equals strtod's; every other number goes to strtod on a bounded stack copy. */
static int parse_number(const char *s, size_t len, double *out)
{
    static const double pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    size_t i = 0;
    int negative = 0;
    if (i < len && (s[i] == '+' || s[i] == '-')) negative = s[i++] == '-';
    uint64_t mantissa = 0;
    int significant = 0, digits = 0, exp10 = 0, exact = 1;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
        if (significant < 19) {
            mantissa = mantissa * 10 + (uint64_t)(s[i] - '0');
            if (mantissa) significant++;
        } else {
            exact = 0;
        }
    }
    if (i < len && s[i] == '.') {
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
            if (significant < 19) {
                mantissa = mantissa * 10 + (uint64_t)(s[i] - '0');
                if (mantissa) significant++;
                exp10--;
            } else {
                exact = 0;
            }
        }
    }
    if (digits == 0) return SAO_EPARSE;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        int exp_negative = 0;
        if (i < len && (s[i] == '+' || s[i] == '-')) exp_negative = s[i++] == '-';
        if (i >= len || s[i] < '0' || s[i] > '9') return SAO_EPARSE;
        long exponent = 0;
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
            if (exponent < 100000) exponent = exponent * 10 + (s[i] - '0');
        }
        if (exponent >= 100000) exact = 0;
        else exp10 += exp_negative ? -(int)exponent : (int)exponent;
    }
    if (i != len) return SAO_EPARSE;
#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD == 0
    if (exact && mantissa <= (UINT64_C(1) << 53) && exp10 >= -22 && exp10 <= 22) {
        double v = (double)mantissa;
        v = exp10 < 0 ? v / pow10[-exp10] : v * pow10[exp10];
        *out = negative ? -v : v;
        return 0;
    }
#else
    (void)pow10;
    (void)exact;
#endif
    if (len >= CSV_MAX_NUMBER) return SAO_ERANGE;
    char buf[CSV_MAX_NUMBER];
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    if (end != buf + len) return SAO_EPARSE;
    if (errno == ERANGE && (v > 1.0 || v < -1.0)) return SAO_ERANGE; /* overflow; underflow is 0 */
    *out = v;
    return 0;
}

/* ---- header ---- */

enum {
    COL_DATE = 0,
    COL_OPEN,
    COL_HIGH,
    COL_LOW,
    COL_CLOSE,
    COL_ADJ_CLOSE,
    COL_VOLUME,
    COL_DIVIDEND,
    COL_SPLIT,
    COL__COUNT
};

static const char *const col_display[COL__COUNT] = {
    "Date", "Open", "High", "Low", "Close", "Adj Close", "Volume", "Dividends", "Stock Splits"};
static const int col_required[COL__COUNT] = {1, 1, 1, 1, 1, 0, 1, 0, 0};

/* Header names compared by letters and digits only, lower-cased: "Adj Close", "adj_close" and
 * "adjclose" are one name. */
static const struct {
    const char *canon;
    int col;
} col_aliases[] = {
    {"date", COL_DATE},           {"datetime", COL_DATE},         {"open", COL_OPEN},
    {"high", COL_HIGH},           {"low", COL_LOW},               {"close", COL_CLOSE},
    {"adjclose", COL_ADJ_CLOSE},  {"adjustedclose", COL_ADJ_CLOSE}, {"volume", COL_VOLUME},
    {"dividends", COL_DIVIDEND},  {"dividend", COL_DIVIDEND},     {"stocksplits", COL_SPLIT},
    {"splits", COL_SPLIT},
};

static void canonical_name(char *out, size_t size, const char *text, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len && n + 1 < size; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c < 0x80 && isalnum(c)) out[n++] = (char)tolower(c);
    }
    out[n] = '\0';
}

static int field_is(const csv_field *f, const char *canon)
{
    char name[32];
    if (f->len >= sizeof(name)) return 0;
    canonical_name(name, sizeof(name), f->text, f->len);
    return strcmp(name, canon) == 0;
}

typedef struct csv_layout {
    sao_csv_format format;
    size_t columns;          /* fields per data record */
    int col[COL__COUNT];     /* field index of each column, -1 when absent */
    csv_field header[COL__COUNT]; /* the names as written, for messages */
    char ticker[SAO_TICKER_MAX + 1];
} csv_layout;

static int map_header(csv_layout *lay, const csv_reader *r, size_t first_col)
{
    for (int c = 0; c < COL__COUNT; c++) lay->col[c] = -1;
    lay->columns = r->count;
    for (size_t i = first_col; i < r->count; i++) {
        const csv_field *f = &r->fields[i];
        char name[32];
        if (f->len >= sizeof(name)) continue; /* longer than any name we know */
        canonical_name(name, sizeof(name), f->text, f->len);
        for (size_t a = 0; a < SAO_ARRAY_LEN(col_aliases); a++) {
            if (strcmp(name, col_aliases[a].canon) != 0) continue;
            int c = col_aliases[a].col;
            if (lay->col[c] >= 0) {
                char ex[64];
                return csv_error(r->name, r->line, i + 1, SAO_EPARSE,
                                 "duplicate column '%s' (same as column %d)",
                                 excerpt(ex, sizeof(ex), f->text, f->len), lay->col[c] + 1);
            }
            lay->col[c] = (int)i;
            lay->header[c] = *f;
            break;
        }
    }
    return 0;
}

static int check_required(const csv_layout *lay, const csv_reader *r, size_t header_line)
{
    for (int c = 0; c < COL__COUNT; c++) {
        if (!col_required[c] || lay->col[c] >= 0) continue;
        return csv_error(r->name, header_line, 0, SAO_EPARSE,
                         "missing column %s in the header (%zu columns found)", col_display[c],
                         lay->columns);
    }
    return 0;
}

/* The yfinance layout: "Price,Close,High,..." then "Ticker,AAPL,AAPL,..." then "Date,,,,,".
 * The first line names the columns (its first cell stands for the date). */
static int read_yfinance_header(csv_layout *lay, csv_reader *r)
{
    size_t header_line = r->line;
    int rc = map_header(lay, r, 1);
    if (rc) return rc;
    lay->col[COL_DATE] = 0;
    lay->header[COL_DATE] = r->fields[0];
    rc = check_required(lay, r, header_line);
    if (rc) return rc;
    for (int extra = 0; extra < 2; extra++) {
        csv_mark mark = csv_save(r);
        rc = csv_next(r);
        if (rc < 0) return rc;
        if (rc == 0) break;
        if (r->count >= 1 && field_is(&r->fields[0], "ticker")) {
            const csv_field *t = r->count > 1 ? &r->fields[1] : NULL;
            for (size_t i = 2; t && i < r->count; i++) {
                const csv_field *o = &r->fields[i];
                if (o->len != t->len || memcmp(o->text, t->text, t->len) != 0) {
                    char a[64], b[64];
                    return csv_error(r->name, r->line, i + 1, SAO_EFORMAT,
                                     "several tickers in one file ('%s' and '%s'): "
                                     "save one ticker per file",
                                     excerpt(a, sizeof(a), t->text, t->len),
                                     excerpt(b, sizeof(b), o->text, o->len));
                }
            }
            if (t && t->len <= SAO_TICKER_MAX) {
                char ticker[SAO_TICKER_MAX + 1];
                memcpy(ticker, t->text, t->len);
                ticker[t->len] = '\0';
                /* A name that is no valid ticker is not recorded (the data is still good). */
                if (sao_ticker_normalize(lay->ticker, ticker) != 0) lay->ticker[0] = '\0';
                sao_error_clear();
            }
            continue;
        }
        if (r->count >= 1 && field_is(&r->fields[0], "date")) {
            int rest_empty = 1;
            for (size_t i = 1; i < r->count; i++)
                if (r->fields[i].len) rest_empty = 0;
            if (rest_empty) break;
        }
        csv_restore(r, mark); /* a data row */
        break;
    }
    return 0;
}

static int read_header(csv_layout *lay, csv_reader *r)
{
    memset(lay, 0, sizeof(*lay));
    int rc;
    do {
        rc = csv_next(r);
        if (rc < 0) return rc;
        if (rc == 0) return csv_error(r->name, 0, 0, SAO_EPARSE, "empty file (no header line)");
    } while (record_is_blank(r));

    if (field_is(&r->fields[0], "price")) {
        lay->format = SAO_CSV_YFINANCE_MULTI;
        return read_yfinance_header(lay, r);
    }
    size_t first_col = 0;
    lay->format = SAO_CSV_YAHOO_CLASSIC;
    if (r->count > 1 && (r->fields[0].len == 0 || field_is(&r->fields[0], "unnamed0"))) {
        lay->format = SAO_CSV_INDEXED;
        first_col = 1;
    }
    rc = map_header(lay, r, first_col);
    if (rc) return rc;
    if (lay->col[COL_DATE] < 0 && lay->col[COL_CLOSE] < 0) {
        char ex[64];
        return csv_error(r->name, r->line, 0, SAO_EPARSE,
                         "no header line with Date, Open, High, Low, Close, Volume columns "
                         "(first line starts '%s')",
                         excerpt(ex, sizeof(ex), r->fields[0].text, r->fields[0].len));
    }
    return check_required(lay, r, r->line);
}

/* ---- rows ---- */

static int field_number(const csv_reader *r, const csv_layout *lay, int col, double *out,
                        int *is_null)
{
    const csv_field *f = &r->fields[lay->col[col]];
    if (is_null_token(f->text, f->len)) {
        *is_null = 1;
        *out = 0.0;
        return 0;
    }
    int rc = parse_number(f->text, f->len, out);
    if (rc == 0) return 0;
    char ex[64], name[64];
    const csv_field *h = &lay->header[col];
    excerpt(name, sizeof(name), h->text, h->len);
    excerpt(ex, sizeof(ex), f->text, f->len);
    if (rc == SAO_ERANGE)
        return csv_error(r->name, r->line, (size_t)lay->col[col] + 1, SAO_EPARSE,
                         "'%s' is out of range (column %s)", ex, name);
    return csv_error(r->name, r->line, (size_t)lay->col[col] + 1, SAO_EPARSE,
                     "'%s' is not a number (column %s)", ex, name);
}

static int read_rows(sao_bars *bars, size_t *null_rows, const csv_layout *lay, csv_reader *r)
{
    int rc;
    while ((rc = csv_next(r)) == 1) {
        if (record_is_blank(r)) continue;
        if (r->count < lay->columns)
            return csv_error(r->name, r->line, r->count + 1, SAO_EPARSE,
                             "missing field: %zu fields where the header has %zu", r->count,
                             lay->columns);
        if (r->count > lay->columns)
            return csv_error(r->name, r->line, lay->columns + 1, SAO_EPARSE,
                             "too many fields: %zu where the header has %zu", r->count,
                             lay->columns);

        const csv_field *df = &r->fields[lay->col[COL_DATE]];
        int64_t day;
        if (sao_date_parse(df->text, df->len, &day) != 0) {
            char ex[64], name[64];
            return csv_error(r->name, r->line, (size_t)lay->col[COL_DATE] + 1, SAO_EPARSE,
                             "'%s' is not a date (column %s)",
                             excerpt(ex, sizeof(ex), df->text, df->len),
                             excerpt(name, sizeof(name), lay->header[COL_DATE].text,
                                     lay->header[COL_DATE].len));
        }

        double v[COL__COUNT] = {0};
        int nulls = 0;
        for (int c = COL_OPEN; c < COL__COUNT; c++) {
            if (lay->col[c] < 0) continue;
            int is_null = 0;
            rc = field_number(r, lay, c, &v[c], &is_null);
            if (rc) return rc;
            /* Dividend and split cells are events: empty means none, not a missing bar. */
            if (is_null && c != COL_DIVIDEND && c != COL_SPLIT) nulls++;
        }
        if (nulls) {
            (*null_rows)++;
            continue;
        }
        double adj = lay->col[COL_ADJ_CLOSE] >= 0 ? v[COL_ADJ_CLOSE] : v[COL_CLOSE];
        size_t row = sao_bars_push(bars, day, v[COL_OPEN], v[COL_HIGH], v[COL_LOW], v[COL_CLOSE],
                                   adj, v[COL_VOLUME]);
        bars->dividend[row] = v[COL_DIVIDEND];
        bars->split_ratio[row] = v[COL_SPLIT];
    }
    return rc;
}

int sao_csv_parse(sao_bars *out, sao_csv_report *report, const char *text, size_t len,
                  const char *name)
{
    int rc = 0;
    sao_bars tmp;
    sao_bars_init(&tmp, NULL);
    csv_reader *r = sao_malloc(sizeof(*r));
    if (!name) name = "<csv>";
    if (len > SAO_CSV_MAX_BYTES) {
        rc = csv_error(name, 0, 0, SAO_ETOOBIG, "%zu bytes is over the CSV limit of %zu bytes",
                       len, SAO_CSV_MAX_BYTES);
        goto done;
    }
    r->name = name;
    r->text = text;
    r->len = len;
    r->pos = 0;
    r->line = 1;
    r->next_line = 1;
    r->count = 0;
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) r->pos = 3; /* UTF-8 BOM */

    csv_layout lay;
    rc = read_header(&lay, r);
    if (rc) goto done;
    sao_bars_reserve(&tmp, len / 64 + 16);
    size_t null_rows = 0;
    rc = read_rows(&tmp, &null_rows, &lay, r);
    if (rc) goto done;
    if (tmp.count == 0) {
        if (null_rows)
            rc = csv_error(name, 0, 0, SAO_ENODATA, "all %zu data rows are null", null_rows);
        else
            rc = csv_error(name, r->next_line, 0, SAO_ENODATA, "no data rows after the header");
        goto done;
    }

    sao_csv_report rep;
    memset(&rep, 0, sizeof(rep));
    rep.format = lay.format;
    rep.rows = tmp.count;
    rep.null_rows = null_rows;
    rep.newest_first = tmp.count > 1 && tmp.day[0] > tmp.day[tmp.count - 1];
    memcpy(rep.ticker, lay.ticker, sizeof(rep.ticker));
    memcpy(tmp.ticker, lay.ticker, sizeof(tmp.ticker));
    sao_bars_sort(&tmp);
    sao_data__bars_move_into(out, &tmp);
    if (report) *report = rep;

done:
    sao_free(r);
    sao_bars_dispose(&tmp);
    return rc;
}

int sao_csv_import(sao_bars *out, sao_csv_report *report, const char *path)
{
    char *text = NULL;
    size_t len = 0;
    int rc = sao_file_read(&text, &len, path, SAO_CSV_MAX_BYTES);
    if (rc) goto done;
    rc = sao_csv_parse(out, report, text, len, path);

done:
    sao_free(text);
    return rc;
}
