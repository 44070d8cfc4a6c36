/*
 * Point-in-time retrieval, Feast's get_historical_features over the offline store: entity rows
 * read from CSV or Parquet, an as-of join per ticker and feature view, the result as Parquet.
 */
#include "store_int.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "data/data.h"

#define LOG_MODULE "store"

/* ---- timestamps ---- */

static int is_leap(int year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static int month_days(int year, int month)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return month == 2 && is_leap(year) ? 29 : days[month - 1];
}

/* Reads exactly `count` digits at *pos. */
static int read_digits(int *out, const char *s, size_t len, size_t *pos, int count)
{
    int value = 0;
    for (int k = 0; k < count; k++, (*pos)++) {
        if (*pos >= len || !isdigit((unsigned char)s[*pos])) return -1;
        value = value * 10 + (s[*pos] - '0');
    }
    *out = value;
    return 0;
}

static int expect_char(const char *s, size_t len, size_t *pos, char c)
{
    if (*pos >= len || s[*pos] != c) return -1;
    (*pos)++;
    return 0;
}

/* Entity timestamps are kept to the years 1800..2200, which also keeps every sum of a timestamp
 * and a TTL far from overflowing. */
static int64_t min_entity_us(void)
{
    return sao_days_from_civil(1800, 1, 1) * SAO_US_PER_DAY;
}

static int64_t max_entity_us(void)
{
    return sao_days_from_civil(2201, 1, 1) * SAO_US_PER_DAY - 1;
}

int sao_fs__parse_timestamp(int64_t *out_us, const char *s, size_t len)
{
    size_t pos = 0;
    int year, month, day, hour = 0, minute = 0, second = 0;
    int64_t micros = 0, offset_seconds = 0;
    if (read_digits(&year, s, len, &pos, 4) || expect_char(s, len, &pos, '-') ||
        read_digits(&month, s, len, &pos, 2) || expect_char(s, len, &pos, '-') ||
        read_digits(&day, s, len, &pos, 2))
        return SAO_EPARSE;
    if (year < 1800 || year > 2200 || month < 1 || month > 12 || day < 1 ||
        day > month_days(year, month))
        return SAO_EPARSE;
    if (pos < len) {
        if (s[pos] != 'T' && s[pos] != 't' && s[pos] != ' ') return SAO_EPARSE;
        pos++;
        if (read_digits(&hour, s, len, &pos, 2) || expect_char(s, len, &pos, ':') ||
            read_digits(&minute, s, len, &pos, 2))
            return SAO_EPARSE;
        if (pos < len && s[pos] == ':') {
            pos++;
            if (read_digits(&second, s, len, &pos, 2)) return SAO_EPARSE;
            if (pos < len && (s[pos] == '.' || s[pos] == ',')) {
                pos++;
                int ndigits = 0;
                for (; pos < len && isdigit((unsigned char)s[pos]); pos++, ndigits++)
                    if (ndigits < 6) micros = micros * 10 + (s[pos] - '0');
                if (ndigits == 0 || ndigits > 9) return SAO_EPARSE;
                for (; ndigits < 6; ndigits++) micros *= 10;
            }
        }
        if (hour > 23 || minute > 59 || second > 59) return SAO_EPARSE;
        if (pos < len && (s[pos] == 'Z' || s[pos] == 'z')) {
            pos++;
        } else if (pos < len && (s[pos] == '+' || s[pos] == '-')) {
            int sign = s[pos++] == '-' ? -1 : 1;
            int off_hours, off_minutes = 0;
            if (read_digits(&off_hours, s, len, &pos, 2)) return SAO_EPARSE;
            int colon = pos < len && s[pos] == ':';
            pos += (size_t)colon;
            if ((colon || pos < len) && read_digits(&off_minutes, s, len, &pos, 2))
                return SAO_EPARSE;
            if (off_hours > 23 || off_minutes > 59) return SAO_EPARSE;
            offset_seconds = sign * (off_hours * 3600 + off_minutes * 60);
        }
    }
    if (pos != len) return SAO_EPARSE;
    int64_t seconds = (int64_t)hour * 3600 + minute * 60 + second - offset_seconds;
    int64_t us =
        sao_days_from_civil(year, month, day) * SAO_US_PER_DAY + seconds * 1000000 + micros;
    /* An offset may carry the first or last day of the range across its edge. */
    if (us < min_entity_us() || us > max_entity_us()) return SAO_EPARSE;
    *out_us = us;
    return 0;
}

/* A timestamp or date cell of a Parquet column in microseconds (nanoseconds rounded down, which
 * keeps "event time <= entity time" exact). SAO_ERANGE when it does not fit. */
static int cell_us(int64_t *out, const sao_pq_column_data *col, size_t row)
{
    switch (col->type) {
    case SAO_PQ_TIMESTAMP_US:
        *out = col->i64[row];
        return 0;
    case SAO_PQ_TIMESTAMP_MS: {
        int64_t v = col->i64[row];
        if (v > INT64_MAX / 1000 || v < INT64_MIN / 1000) return SAO_ERANGE;
        *out = v * 1000;
        return 0;
    }
    case SAO_PQ_TIMESTAMP_NS: {
        int64_t v = col->i64[row];
        *out = v / 1000 - (v % 1000 < 0);
        return 0;
    }
    case SAO_PQ_DATE: {
        int64_t days = col->i32[row];
        if (days > INT64_MAX / SAO_US_PER_DAY || days < INT64_MIN / SAO_US_PER_DAY)
            return SAO_ERANGE;
        *out = days * SAO_US_PER_DAY;
        return 0;
    }
    default:
        return SAO_EFORMAT;
    }
}

static int is_time_column(const sao_pq_column_data *col)
{
    switch (col->type) {
    case SAO_PQ_TIMESTAMP_US:
    case SAO_PQ_TIMESTAMP_MS:
    case SAO_PQ_TIMESTAMP_NS:
        return col->i64 != NULL;
    case SAO_PQ_DATE:
        return col->i32 != NULL;
    default:
        return 0;
    }
}

/* ---- entity rows ---- */

typedef struct row_builder {
    char **tickers;
    int64_t *event_ts_us;
    size_t count;
    size_t ticker_cap;
    size_t ts_cap;
} row_builder;

static void builder_push(row_builder *b, const char *ticker, int64_t ts)
{
    b->tickers = sao_grow(b->tickers, &b->ticker_cap, b->count + 1, sizeof(*b->tickers));
    b->event_ts_us = sao_grow(b->event_ts_us, &b->ts_cap, b->count + 1, sizeof(*b->event_ts_us));
    b->tickers[b->count] = sao_strdup(ticker);
    b->event_ts_us[b->count] = ts;
    b->count++;
}

static void builder_dispose(row_builder *b)
{
    for (size_t i = 0; i < b->count; i++) sao_free(b->tickers[i]);
    sao_free(b->tickers);
    sao_free(b->event_ts_us);
    memset(b, 0, sizeof(*b));
}

static void builder_finish(sao_fs_entity_rows *out, row_builder *b)
{
    out->count = b->count;
    out->tickers = b->tickers;
    out->event_ts_us = b->event_ts_us;
    memset(b, 0, sizeof(*b));
}

void sao_fs_entity_rows_dispose(sao_fs_entity_rows *rows)
{
    if (!rows) return;
    for (size_t i = 0; i < rows->count; i++) sao_free(rows->tickers[i]);
    sao_free(rows->tickers);
    sao_free(rows->event_ts_us);
    memset(rows, 0, sizeof(*rows));
}

/* A printable excerpt of untrusted text for messages (at most 40 characters). */
static const char *excerpt(char *buf, size_t size, const char *text, size_t len)
{
    SAO_ASSERT(size >= 48);
    size_t n = len < 40 ? len : 40;
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

static int location_error(int code, const char *name, size_t line, size_t column, const char *fmt,
                          ...) SAO_PRINTF(5, 6);

static int location_error(int code, const char *name, size_t line, size_t column, const char *fmt,
                          ...)
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

/* Validates and upper-cases one ticker of an entity file (untrusted bytes, not NUL-terminated). */
static int entity_ticker(char out[SAO_TICKER_MAX + 1], const char *text, size_t len)
{
    char buf[SAO_TICKER_MAX + 2];
    if (len == 0) return sao_error_set(SAO_EPARSE, "empty ticker");
    if (len > SAO_TICKER_MAX || memchr(text, '\0', len))
        return sao_error_set(SAO_EPARSE, "not a ticker");
    memcpy(buf, text, len);
    buf[len] = '\0';
    return sao_ticker_normalize(out, buf);
}

/* ---- CSV ---- */

typedef struct csv_span {
    size_t start;
    size_t end;
    int quoted; /* content between the quotes, with "" standing for one quote */
} csv_span;

typedef struct csv_scan {
    const char *text;
    size_t len;
    size_t pos;
    size_t line;      /* line where the current record starts */
    size_t next_line; /* line where the next record starts */
    const char *name;
    csv_span *fields;
    size_t count;
} csv_scan;

/* Reads the next record. Returns 1 when one was read, 0 at the end, or a negative code. */
static int csv_next(csv_scan *s)
{
    if (s->pos >= s->len) return 0;
    s->line = s->next_line;
    size_t record_start = s->pos;
    s->count = 0;
    for (;;) {
        if (s->count == SAO_FS_ENTITY_MAX_FIELDS)
            return location_error(SAO_ETOOBIG, s->name, s->line, 0,
                                  "more than %d fields in a record", SAO_FS_ENTITY_MAX_FIELDS);
        csv_span *f = &s->fields[s->count++];
        if (s->pos < s->len && s->text[s->pos] == '"') {
            size_t quote_line = s->next_line;
            f->quoted = 1;
            f->start = ++s->pos;
            for (;;) {
                if (s->pos >= s->len)
                    return location_error(SAO_EPARSE, s->name, quote_line, s->count,
                                          "unterminated quoted field");
                char c = s->text[s->pos];
                if (c == '"') {
                    if (s->pos + 1 >= s->len || s->text[s->pos + 1] != '"') break;
                    s->pos++; /* "" */
                } else if (c == '\n') {
                    s->next_line++;
                }
                s->pos++;
                if (s->pos - record_start > SAO_FS_ENTITY_MAX_RECORD) goto too_long;
            }
            f->end = s->pos++;
            if (s->pos < s->len && s->text[s->pos] == '\r' &&
                (s->pos + 1 == s->len || s->text[s->pos + 1] == '\n'))
                s->pos++;
            if (s->pos < s->len && s->text[s->pos] != ',' && s->text[s->pos] != '\n')
                return location_error(SAO_EPARSE, s->name, s->next_line, s->count,
                                      "text after the closing quote of a field");
        } else {
            f->quoted = 0;
            f->start = s->pos;
            while (s->pos < s->len && s->text[s->pos] != ',' && s->text[s->pos] != '\n') {
                if (s->text[s->pos] == '"')
                    return location_error(SAO_EPARSE, s->name, s->line, s->count,
                                          "quote inside an unquoted field");
                s->pos++;
                if (s->pos - record_start > SAO_FS_ENTITY_MAX_RECORD) goto too_long;
            }
            f->end = s->pos;
            if (f->end > f->start && s->text[f->end - 1] == '\r') f->end--;
        }
        if (s->pos < s->len && s->text[s->pos] == ',') {
            s->pos++;
            continue;
        }
        if (s->pos < s->len) s->pos++; /* the newline */
        s->next_line++;
        return 1;
    }
too_long:
    return location_error(SAO_ETOOBIG, s->name, s->line, 0, "record longer than %zu bytes",
                          SAO_FS_ENTITY_MAX_RECORD);
}

/* Copies a field's content into buf (quotes undone, blanks around an unquoted field trimmed).
 * Returns its length, or size when it does not fit. */
static size_t csv_field(char *buf, size_t size, const csv_scan *s, const csv_span *f)
{
    size_t start = f->start, end = f->end, n = 0;
    if (!f->quoted) {
        while (start < end && (s->text[start] == ' ' || s->text[start] == '\t')) start++;
        while (end > start && (s->text[end - 1] == ' ' || s->text[end - 1] == '\t')) end--;
    }
    for (size_t i = start; i < end; i++) {
        if (n + 1 >= size) {
            buf[n] = '\0';
            return size;
        }
        buf[n++] = s->text[i];
        if (f->quoted && s->text[i] == '"') i++; /* "" */
    }
    buf[n] = '\0';
    return n;
}

static int csv_record_blank(const csv_scan *s)
{
    if (s->count != 1 || s->fields[0].quoted) return 0;
    for (size_t i = s->fields[0].start; i < s->fields[0].end; i++)
        if (s->text[i] != ' ' && s->text[i] != '\t') return 0;
    return 1;
}

/* Finds the ticker and event_timestamp columns of the header record. */
static int csv_header(const csv_scan *s, size_t *ticker_col, size_t *ts_col)
{
    static const char *const wanted[2] = {"ticker", "event_timestamp"};
    size_t found[2] = {SIZE_MAX, SIZE_MAX};
    char buf[64];
    for (size_t c = 0; c < s->count; c++) {
        size_t n = csv_field(buf, sizeof(buf), s, &s->fields[c]);
        if (n >= sizeof(buf)) continue;
        for (int w = 0; w < 2; w++) {
            if (strcasecmp(buf, wanted[w]) != 0) continue;
            if (found[w] != SIZE_MAX)
                return location_error(SAO_EPARSE, s->name, s->line, c + 1,
                                      "column '%s' appears twice in the header", wanted[w]);
            found[w] = c;
        }
    }
    for (int w = 0; w < 2; w++)
        if (found[w] == SIZE_MAX)
            return location_error(SAO_EPARSE, s->name, s->line, 0,
                                  "the header has no '%s' column (expected ticker,event_timestamp)",
                                  wanted[w]);
    *ticker_col = found[0];
    *ts_col = found[1];
    return 0;
}

int sao_fs__entity_rows_parse_csv(sao_fs_entity_rows *out, const char *text, size_t len,
                                  const char *name)
{
    csv_scan s = {text, len, 0, 1, 1, name, NULL, 0};
    row_builder b = {0};
    size_t ticker_col = 0, ts_col = 0;
    int have_header = 0, rc = 0;
    if (len > SAO_FS_ENTITY_MAX_BYTES)
        return sao_error_set(SAO_ETOOBIG, "%s: larger than %zu bytes", name,
                             SAO_FS_ENTITY_MAX_BYTES);
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) s.pos = 3; /* UTF-8 BOM */
    s.fields = sao_malloc(SAO_FS_ENTITY_MAX_FIELDS * sizeof(*s.fields));

    int more;
    while ((more = csv_next(&s)) > 0) {
        if (csv_record_blank(&s)) continue;
        if (!have_header) {
            if ((rc = csv_header(&s, &ticker_col, &ts_col))) goto done;
            have_header = 1;
            continue;
        }
        size_t header_fields = ts_col > ticker_col ? ts_col + 1 : ticker_col + 1;
        if (s.count < header_fields) {
            rc = location_error(SAO_EPARSE, name, s.line, 0,
                                "%zu fields, but the header puts %s in column %zu", s.count,
                                ts_col > ticker_col ? "event_timestamp" : "ticker", header_fields);
            goto done;
        }
        if (b.count == SAO_FS_ENTITY_MAX_ROWS) {
            rc = location_error(SAO_ETOOBIG, name, s.line, 0, "more than %zu entity rows",
                                SAO_FS_ENTITY_MAX_ROWS);
            goto done;
        }
        char field[128], shown[64], ticker[SAO_TICKER_MAX + 1];
        size_t n = csv_field(field, sizeof(field), &s, &s.fields[ticker_col]);
        if (entity_ticker(ticker, field, n < sizeof(field) ? n : sizeof(field) - 1) != 0) {
            rc = location_error(
                SAO_EPARSE, name, s.line, ticker_col + 1, "'%s' is not a ticker: %s",
                excerpt(shown, sizeof(shown), field, n < sizeof(field) ? n : 40), sao_error_last());
            goto done;
        }
        n = csv_field(field, sizeof(field), &s, &s.fields[ts_col]);
        int64_t ts;
        if (n >= sizeof(field) || sao_fs__parse_timestamp(&ts, field, n) != 0) {
            rc = location_error(SAO_EPARSE, name, s.line, ts_col + 1,
                                "'%s' is not a timestamp (YYYY-MM-DD or ISO 8601 such as "
                                "2024-01-02T15:30:00Z or 2024-01-02T10:30:00-05:00, "
                                "years 1800..2200)",
                                excerpt(shown, sizeof(shown), field, n < sizeof(field) ? n : 40));
            goto done;
        }
        builder_push(&b, ticker, ts);
    }
    if (more < 0) {
        rc = more;
        goto done;
    }
    if (!have_header) {
        rc = sao_error_set(SAO_EPARSE, "%s: empty file (expected a header ticker,event_timestamp)",
                           name);
        goto done;
    }
    if (b.count == 0) {
        rc = sao_error_set(SAO_ENODATA, "%s: no entity rows after the header", name);
        goto done;
    }
    builder_finish(out, &b);
done:
    builder_dispose(&b);
    sao_free(s.fields);
    return rc;
}

/* ---- Parquet ---- */

static int parquet_column(const sao_pq_column_data **out, sao_pq_file *file, const char *path,
                          const char *name)
{
    int idx = sao_parquet_find_column(file, name);
    if (idx < 0)
        return sao_error_set(SAO_EPARSE,
                             "%s: no '%s' column (entity files have ticker and "
                             "event_timestamp)",
                             path, name);
    int rc = sao_parquet_read_column(out, file, (size_t)idx);
    if (rc) sao_error_wrap(rc, "%s: ", path);
    return rc;
}

static int entity_rows_parquet(sao_fs_entity_rows *out, const char *path)
{
    sao_pq_file *file = NULL;
    row_builder b = {0};
    const sao_pq_column_data *tickers, *times;
    int rc = sao_parquet_open(&file, path);
    if (rc) goto done;
    size_t rows = sao_parquet_num_rows(file);
    if (rows > SAO_FS_ENTITY_MAX_ROWS) {
        rc = sao_error_set(SAO_ETOOBIG, "%s: %zu rows, more than the %zu entity rows allowed", path,
                           rows, SAO_FS_ENTITY_MAX_ROWS);
        goto done;
    }
    if ((rc = parquet_column(&tickers, file, path, "ticker")) ||
        (rc = parquet_column(&times, file, path, "event_timestamp")))
        goto done;
    if (!tickers->str) {
        rc = sao_error_set(SAO_EFORMAT, "%s: column 'ticker' is not a string column", path);
        goto done;
    }
    if (!is_time_column(times)) {
        rc = sao_error_set(SAO_EFORMAT,
                           "%s: column 'event_timestamp' is not a timestamp or "
                           "date column",
                           path);
        goto done;
    }
    for (size_t r = 0; r < rows; r++) {
        char ticker[SAO_TICKER_MAX + 1], shown[64];
        if (!tickers->valid[r] || !times->valid[r]) {
            rc = sao_error_set(SAO_EPARSE, "%s: row %zu: column '%s' is null", path, r + 1,
                               tickers->valid[r] ? "event_timestamp" : "ticker");
            goto done;
        }
        if (entity_ticker(ticker, tickers->str[r], tickers->str_len[r]) != 0) {
            rc = sao_error_set(SAO_EPARSE, "%s: row %zu: column 'ticker': '%s' is not a ticker: %s",
                               path, r + 1,
                               excerpt(shown, sizeof(shown), tickers->str[r], tickers->str_len[r]),
                               sao_error_last());
            goto done;
        }
        int64_t ts;
        if (cell_us(&ts, times, r) != 0 || ts < min_entity_us() || ts > max_entity_us()) {
            rc = sao_error_set(SAO_ERANGE,
                               "%s: row %zu: column 'event_timestamp' is outside the "
                               "years 1800..2200",
                               path, r + 1);
            goto done;
        }
        builder_push(&b, ticker, ts);
    }
    if (b.count == 0) {
        rc = sao_error_set(SAO_ENODATA, "%s: no entity rows", path);
        goto done;
    }
    builder_finish(out, &b);
done:
    builder_dispose(&b);
    sao_parquet_close(file);
    return rc;
}

int sao_fs_entity_rows_read(sao_fs_entity_rows *out, const char *path)
{
    char magic[4] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) {
        const int err = errno;
        return sao_error_set(err == ENOENT ? SAO_ENOENT : SAO_EIO, "%s: %s", path, strerror(err));
    }
    size_t got = fread(magic, 1, sizeof(magic), f);
    fclose(f);
    if (got == sizeof(magic) && memcmp(magic, "PAR1", 4) == 0)
        return entity_rows_parquet(out, path);

    char *text = NULL;
    size_t len = 0;
    int rc = sao_file_read(&text, &len, path, SAO_FS_ENTITY_MAX_BYTES);
    if (!rc) rc = sao_fs__entity_rows_parse_csv(out, text, len, path);
    sao_free(text);
    return rc;
}

/* ---- point-in-time join ---- */

typedef struct hist_ref {
    const sao_fs_view *view;
    const sao_fs_field *field;
} hist_ref;

typedef struct hist_view {
    const sao_fs_view *view;
    size_t *columns; /* output columns taken from this view */
    size_t column_count;
} hist_view;

typedef struct entity_key {
    const char *ticker;
    int64_t ts;
    size_t row;
} entity_key;

typedef struct offline_key {
    int64_t event_us;
    int64_t created_us;
    size_t row;
} offline_key;

static int cmp_entity(const void *a, const void *b)
{
    const entity_key *x = a, *y = b;
    int c = strcmp(x->ticker, y->ticker);
    if (c) return c;
    if (x->ts != y->ts) return x->ts < y->ts ? -1 : 1;
    return x->row < y->row ? -1 : x->row > y->row;
}

/* Event time, then `created`, then file order: the last row at or before a time is the one
 * Feast keeps. */
static int cmp_offline(const void *a, const void *b)
{
    const offline_key *x = a, *y = b;
    if (x->event_us != y->event_us) return x->event_us < y->event_us ? -1 : 1;
    if (x->created_us != y->created_us) return x->created_us < y->created_us ? -1 : 1;
    return x->row < y->row ? -1 : x->row > y->row;
}

void sao_fs_historical_result_dispose(sao_fs_historical_result *result)
{
    if (!result) return;
    for (size_t c = 0; c < result->columns; c++) {
        if (result->names) sao_free(result->names[c]);
        if (result->values) sao_free(result->values[c]);
        if (result->valid) sao_free(result->valid[c]);
    }
    sao_free(result->names);
    sao_free(result->values);
    sao_free(result->valid);
    memset(result, 0, sizeof(*result));
}

/* Resolves "view:feature" against the repository. */
static int resolve_ref(hist_ref *out, const sao_fs_repo *repo, const char *ref)
{
    const char *colon = ref ? strchr(ref, ':') : NULL;
    if (!colon || colon == ref || !colon[1] || strchr(colon + 1, ':'))
        return sao_error_set(SAO_EINVAL, "feature reference '%s' is not view:feature",
                             ref ? ref : "(null)");
    char view_name[128];
    size_t n = (size_t)(colon - ref);
    if (n >= sizeof(view_name))
        return sao_error_set(SAO_EINVAL, "feature reference '%s': no feature view '%.*s'", ref,
                             (int)n, ref);
    memcpy(view_name, ref, n);
    view_name[n] = '\0';
    const sao_fs_view *view = sao_fs_repo_view(repo, view_name);
    if (!view) {
        sao_buf names;
        sao_buf_init(&names, 4096);
        for (size_t i = 0; i < repo->view_count; i++)
            if (sao_buf_appendf(&names, "%s%s", i ? ", " : "", repo->views[i].name) != 0) break;
        sao_error_set(SAO_EINVAL, "feature reference '%s': no feature view '%s' (views: %s)", ref,
                      view_name, names.data ? names.data : "none");
        sao_buf_dispose(&names);
        return SAO_EINVAL;
    }
    int field = sao_fs_view_field(view, colon + 1);
    if (field < 0)
        return sao_error_set(SAO_EINVAL, "feature reference '%s': view %s has no feature '%s'", ref,
                             view->name, colon + 1);
    const sao_fs_field *f = &view->fields[field];
    if (!view->source || view->kind == SAO_FS_WINDOW || f->dtype == SAO_FS_FLOAT64_LIST)
        return sao_error_set(SAO_EINVAL,
                             "feature reference '%s': list features (view %s) are "
                             "served online only (sao features online)",
                             ref, view->name);
    if (f->dtype == SAO_FS_STRING)
        return sao_error_set(SAO_EUNSUPPORTED,
                             "feature reference '%s': string features are not "
                             "supported in historical retrieval",
                             ref);
    out->view = view;
    out->field = f;
    return 0;
}

/* Output names: the feature name, or view__feature when another requested feature (of another
 * view) has the same name, as Feast's full_feature_names. */
static char **output_names(const hist_ref *refs, size_t count)
{
    char **names = sao_calloc(count, sizeof(*names));
    for (size_t i = 0; i < count; i++) {
        int shared = 0;
        for (size_t j = 0; j < count && !shared; j++)
            shared = j != i && strcmp(refs[i].field->name, refs[j].field->name) == 0;
        if (!shared) {
            names[i] = sao_strdup(refs[i].field->name);
            continue;
        }
        size_t len = strlen(refs[i].view->name) + 2 + strlen(refs[i].field->name) + 1;
        names[i] = sao_malloc(len);
        snprintf(names[i], len, "%s__%s", refs[i].view->name, refs[i].field->name);
    }
    return names;
}

/* A numeric cell as a double; 0 for a null (or NaN) cell. */
static int cell_value(double *out, const sao_pq_column_data *col, size_t row)
{
    if (!col || !col->valid[row]) return 0;
    double v;
    if (col->f64)
        v = col->f64[row];
    else if (col->i64)
        v = (double)col->i64[row];
    else
        v = (double)col->i32[row];
    if (isnan(v)) return 0;
    *out = v;
    return 1;
}

/* The view's TTL in microseconds; 0 means unbounded (Feast: a TTL of 0 never expires). */
static int64_t ttl_us(const sao_fs_view *view)
{
    if (view->ttl_seconds <= 0 || view->ttl_seconds > INT64_MAX / 1000000) return 0;
    return view->ttl_seconds * 1000000;
}

/* Joins one ticker's entity rows (keys, sorted by time) with its file of one view. *missing is
 * set when the ticker has no file for the view (its rows keep nulls). */
static int join_view(sao_fs_historical_result *res, const hist_view *hv, const hist_ref *refs,
                     const entity_key *keys, size_t key_count, int *missing)
{
    const sao_fs_view *view = hv->view;
    const char *ticker = keys[0].ticker;
    char rel[512], path[4096];
    sao_pq_file *file = NULL;
    offline_key *rows = NULL;
    const sao_pq_column_data **cols = sao_calloc(hv->column_count, sizeof(*cols));
    const sao_pq_column_data *ts = NULL, *created = NULL;
    int rc = 0;

    if ((size_t)snprintf(rel, sizeof(rel), "%s/%s.parquet", view->source, ticker) >= sizeof(rel)) {
        rc = sao_error_set(SAO_EINVAL, "view %s: source path too long", view->name);
        goto done;
    }
    if ((rc = sao_home_path(path, sizeof(path), rel))) goto done;
    rc = sao_parquet_open(&file, path);
    if (rc == SAO_ENOENT) {
        *missing = 1;
        sao_error_clear();
        rc = 0;
        goto done;
    }
    if (rc) goto done;

    int ts_idx = sao_parquet_find_column(file, "event_timestamp");
    int created_idx = sao_parquet_find_column(file, "created");
    if (ts_idx < 0) {
        rc = sao_error_set(SAO_ECORRUPT, "%s: no event_timestamp column", path);
        goto done;
    }
    if ((rc = sao_parquet_read_column(&ts, file, (size_t)ts_idx))) goto done;
    if (!is_time_column(ts)) {
        rc = sao_error_set(SAO_ECORRUPT, "%s: event_timestamp is not a timestamp column", path);
        goto done;
    }
    if (created_idx >= 0) {
        if ((rc = sao_parquet_read_column(&created, file, (size_t)created_idx))) goto done;
        if (!is_time_column(created)) created = NULL; /* ties then fall back to file order */
    }
    for (size_t k = 0; k < hv->column_count; k++) {
        const char *name = refs[hv->columns[k]].field->name;
        int idx = sao_parquet_find_column(file, name);
        if (idx < 0) continue; /* e.g. crypto-only indicators in a stock's file: nulls */
        if ((rc = sao_parquet_read_column(&cols[k], file, (size_t)idx))) goto done;
        if (!cols[k]->f64 && !(cols[k]->i64 && cols[k]->type == SAO_PQ_INT64) &&
            !(cols[k]->i32 && (cols[k]->type == SAO_PQ_INT32 || cols[k]->type == SAO_PQ_BOOL))) {
            rc = sao_error_set(SAO_ECORRUPT, "%s: column '%s' is not numeric", path, name);
            goto done;
        }
    }

    /* The file's rows in (event time, created) order; files we write are already in it, so the
     * sort runs only for files written by others. */
    size_t nrows = ts->count, count = 0;
    int sorted = 1;
    rows = sao_malloc((nrows ? nrows : 1) * sizeof(*rows));
    for (size_t r = 0; r < nrows; r++) {
        if (!ts->valid[r]) continue;
        offline_key *k = &rows[count];
        if (cell_us(&k->event_us, ts, r) != 0) {
            rc = sao_error_set(SAO_ECORRUPT, "%s: row %zu: event_timestamp out of range", path,
                               r + 1);
            goto done;
        }
        k->created_us = INT64_MIN; /* a null `created` is the oldest, as Feast sorts nulls first */
        if (created && created->valid[r] && cell_us(&k->created_us, created, r) != 0)
            k->created_us = INT64_MIN;
        k->row = r;
        if (count && cmp_offline(&rows[count - 1], k) > 0) sorted = 0;
        count++;
    }
    if (!sorted) qsort(rows, count, sizeof(*rows), cmp_offline);

    /* Merge sweep: `next` counts the rows with event time <= the entity's time, so rows[next-1]
     * is the newest such row (the newest `created` among equal event times). Feast's bound on
     * the other side is inclusive: event time >= entity time - ttl. */
    int64_t ttl = ttl_us(view);
    size_t next = 0;
    for (size_t e = 0; e < key_count; e++) {
        while (next < count && rows[next].event_us <= keys[e].ts) next++;
        if (next == 0) continue;
        const offline_key *hit = &rows[next - 1];
        /* The distance is non-negative; unsigned arithmetic keeps it exact for any inputs. */
        if (ttl && (uint64_t)keys[e].ts - (uint64_t)hit->event_us > (uint64_t)ttl) continue;
        for (size_t k = 0; k < hv->column_count; k++) {
            size_t col = hv->columns[k];
            double v;
            if (!cell_value(&v, cols[k], hit->row)) continue;
            res->values[col][keys[e].row] = v;
            res->valid[col][keys[e].row] = 1;
        }
    }
done:
    sao_free(rows);
    sao_free(cols);
    sao_parquet_close(file);
    return rc;
}

int sao_fs_historical(sao_fs_historical_result *out, const sao_fs_repo *repo,
                      const sao_fs_entity_rows *rows, const char *const *feature_refs,
                      size_t ref_count)
{
    SAO_ASSERT(out && repo && rows);
    SAO_ASSERT(rows->count == 0 || (rows->tickers && rows->event_ts_us));
    sao_fs_historical_result res = {0};
    hist_ref *refs = NULL;
    hist_view *views = NULL;
    size_t view_count = 0;
    entity_key *keys = NULL;
    sao_buf missing_names;
    size_t missing_tickers = 0, tickers = 0;
    int rc = 0;
    sao_buf_init(&missing_names, 0);

    if (ref_count == 0 || !feature_refs) {
        rc = sao_error_set(SAO_EINVAL, "no features requested (view:feature)");
        goto done;
    }
    refs = sao_calloc(ref_count, sizeof(*refs));
    views = sao_calloc(ref_count, sizeof(*views));
    for (size_t i = 0; i < ref_count; i++) {
        if ((rc = resolve_ref(&refs[i], repo, feature_refs[i]))) goto done;
        for (size_t j = 0; j < i; j++)
            if (refs[j].field == refs[i].field) {
                rc = sao_error_set(SAO_EINVAL, "feature '%s' is requested twice", feature_refs[i]);
                goto done;
            }
        size_t slot = 0;
        while (slot < view_count && views[slot].view != refs[i].view) slot++;
        if (slot == view_count) {
            views[slot].view = refs[i].view;
            views[slot].columns = sao_malloc(ref_count * sizeof(*views[slot].columns));
            view_count++;
        }
        views[slot].columns[views[slot].column_count++] = i;
    }
    for (size_t r = 0; r < rows->count; r++) {
        if (!rows->tickers[r] || sao_ticker_validate(rows->tickers[r]) != 0) {
            rc = sao_error_set(SAO_EINVAL, "entity row %zu: %s", r + 1,
                               rows->tickers[r] ? sao_error_last() : "no ticker");
            goto done;
        }
    }

    res.rows = rows->count;
    res.columns = ref_count;
    res.names = output_names(refs, ref_count);
    res.values = sao_calloc(ref_count, sizeof(*res.values));
    res.valid = sao_calloc(ref_count, sizeof(*res.valid));
    for (size_t c = 0; c < ref_count; c++) {
        res.values[c] = sao_malloc((rows->count ? rows->count : 1) * sizeof(double));
        res.valid[c] = sao_calloc(rows->count ? rows->count : 1, 1);
        for (size_t r = 0; r < rows->count; r++) res.values[c][r] = NAN;
    }

    /* Group the entity rows by ticker, each group in time order, so that every file is opened
     * once and swept once. */
    keys = sao_malloc((rows->count ? rows->count : 1) * sizeof(*keys));
    for (size_t r = 0; r < rows->count; r++)
        keys[r] = (entity_key){rows->tickers[r], rows->event_ts_us[r], r};
    qsort(keys, rows->count, sizeof(*keys), cmp_entity);
    for (size_t start = 0, end; start < rows->count; start = end) {
        for (end = start + 1; end < rows->count; end++)
            if (strcmp(keys[end].ticker, keys[start].ticker) != 0) break;
        tickers++;
        int missing_any = 0;
        for (size_t v = 0; v < view_count; v++) {
            int missing = 0;
            if ((rc = join_view(&res, &views[v], refs, keys + start, end - start, &missing)))
                goto done;
            missing_any |= missing;
        }
        if (missing_any) {
            if (missing_tickers < 8)
                sao_buf_appendf(&missing_names, "%s%s", missing_tickers ? ", " : "",
                                keys[start].ticker);
            missing_tickers++;
        }
    }
    if (missing_tickers)
        sao_log(SAO_LOG_INFO, LOG_MODULE,
                "historical features: %zu of %zu tickers have no offline data in some requested "
                "view (%s%s); their features there are null",
                missing_tickers, tickers, missing_names.data ? missing_names.data : "",
                missing_tickers > 8 ? ", ..." : "");
    *out = res;
    memset(&res, 0, sizeof(res));
done:
    sao_fs_historical_result_dispose(&res);
    for (size_t v = 0; v < view_count; v++) sao_free(views[v].columns);
    sao_free(views);
    sao_free(refs);
    sao_free(keys);
    sao_buf_dispose(&missing_names);
    return rc;
}

int sao_fs_historical_write(const char *path, const sao_fs_entity_rows *rows,
                            const sao_fs_historical_result *result)
{
    SAO_ASSERT(path && rows && result);
    if (rows->count != result->rows)
        return sao_error_set(SAO_EINVAL, "%s: %zu entity rows but a result of %zu rows", path,
                             rows->count, result->rows);
    static const char *no_tickers[1] = {""};
    static const int64_t no_times[1] = {0};
    sao_pq_column *cols = sao_calloc(result->columns + 2, sizeof(*cols));
    cols[0] = (sao_pq_column){"ticker", SAO_PQ_STRING,
                              rows->count ? (const void *)rows->tickers : no_tickers, NULL};
    cols[1] = (sao_pq_column){"event_timestamp", SAO_PQ_TIMESTAMP_US,
                              rows->count ? (const void *)rows->event_ts_us : no_times, NULL};
    for (size_t c = 0; c < result->columns; c++)
        cols[c + 2] =
            (sao_pq_column){result->names[c], SAO_PQ_DOUBLE, result->values[c], result->valid[c]};
    sao_pq_write_options opts;
    sao_pq_write_options_init(&opts);
    static const sao_pq_kv meta[] = {{"sao.kind", "historical_features"}};
    opts.metadata = meta;
    opts.metadata_count = SAO_ARRAY_LEN(meta);
    int rc = sao_parquet_write(path, cols, result->columns + 2, rows->count, &opts);
    if (rc && !strstr(sao_error_last(), path)) sao_error_wrap(rc, "%s: ", path);
    sao_free(cols);
    return rc;
}
