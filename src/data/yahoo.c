/*
 * Yahoo Finance chart API (v8): parses a response body into daily bars on the exchange's
 * trading dates (with dividends and splits) and fetches a date range through the HTTP client.
 * Bodies are untrusted: sizes are capped and every array is checked before it is read.
 */
#include "data/data_int.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define YAHOO_DEFAULT_BASE_URL "https://query2.finance.yahoo.com"
#define YAHOO_MAX_GMTOFFSET (18 * 3600)

static const char *const quote_fields[] = {"open", "high", "low", "close", "volume"};
enum { Q_OPEN, Q_HIGH, Q_LOW, Q_CLOSE, Q_VOLUME, Q__COUNT };

/* Copies a string member into buf; absent or null leaves "". */
static int meta_string(char *buf, size_t size, const json_t *meta, const char *key)
{
    buf[0] = '\0';
    const json_t *v = json_object_get(meta, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_string(v))
        return sao_error_set(SAO_EPARSE, "Yahoo chart response: meta.%s is not a string", key);
    size_t len = json_string_length(v);
    if (len >= size)
        return sao_error_set(SAO_EPARSE,
                             "Yahoo chart response: meta.%s is %zu bytes (at most %zu expected)",
                             key, len, size - 1);
    memcpy(buf, json_string_value(v), len + 1);
    return 0;
}

static int parse_meta(sao_yahoo_meta *meta, const json_t *result)
{
    memset(meta, 0, sizeof(*meta));
    const json_t *m = json_object_get(result, "meta");
    if (!m || json_is_null(m)) return 0;
    if (!json_is_object(m))
        return sao_error_set(SAO_EPARSE, "Yahoo chart response: meta is not an object");
    int rc = meta_string(meta->symbol, sizeof(meta->symbol), m, "symbol");
    if (!rc) rc = meta_string(meta->currency, sizeof(meta->currency), m, "currency");
    if (!rc)
        rc = meta_string(meta->instrument_type, sizeof(meta->instrument_type), m,
                         "instrumentType");
    if (!rc)
        rc = meta_string(meta->exchange_timezone, sizeof(meta->exchange_timezone), m,
                         "exchangeTimezoneName");
    if (rc) return rc;
    const json_t *off = json_object_get(m, "gmtoffset");
    if (off && !json_is_null(off)) {
        if (!json_is_integer(off))
            return sao_error_set(SAO_EPARSE, "Yahoo chart response: meta.gmtoffset is not an "
                                             "integer");
        json_int_t seconds = json_integer_value(off);
        if (seconds < -YAHOO_MAX_GMTOFFSET || seconds > YAHOO_MAX_GMTOFFSET)
            return sao_error_set(SAO_EPARSE,
                                 "Yahoo chart response: meta.gmtoffset %lld is not a time zone "
                                 "offset",
                                 (long long)seconds);
        meta->gmtoffset = (long)seconds;
    }
    return 0;
}

/* Maps chart.error to a code and message: {"code":"Not Found","description":"..."}. */
static int chart_error(const json_t *error)
{
    const char *code = "";
    const char *description = "";
    if (json_is_object(error)) {
        const json_t *c = json_object_get(error, "code");
        const json_t *d = json_object_get(error, "description");
        if (json_is_string(c)) code = json_string_value(c);
        if (json_is_string(d)) description = json_string_value(d);
    }
    if (strcmp(code, "Not Found") == 0)
        return sao_error_set(SAO_ENOENT, "Yahoo Finance: %.300s (%s)",
                             *description ? description : "no data found", code);
    if (strcmp(code, "Bad Request") == 0 || strcmp(code, "Unprocessable Entity") == 0)
        return sao_error_set(SAO_EINVAL, "Yahoo Finance rejected the request: %.300s (%.60s)",
                             description, code);
    return sao_error_set(SAO_EHTTP, "Yahoo Finance error: %.300s (%.60s)",
                         *description ? description : "no description", *code ? code : "no code");
}

/* The array `name` of `parent`, which must hold exactly `count` items. */
static int get_series(const json_t **out, const json_t *parent, const char *where,
                      const char *name, size_t count)
{
    const json_t *arr = json_object_get(parent, name);
    if (!arr || json_is_null(arr))
        return sao_error_set(SAO_EPARSE, "Yahoo chart response: %s.%s is missing", where, name);
    if (!json_is_array(arr))
        return sao_error_set(SAO_EPARSE, "Yahoo chart response: %s.%s is not an array", where,
                             name);
    if (json_array_size(arr) != count)
        return sao_error_set(SAO_EPARSE,
                             "Yahoo chart response: %s.%s has %zu values for %zu timestamps",
                             where, name, json_array_size(arr), count);
    *out = arr;
    return 0;
}

/* The first element of array `name` of `parent`, which must be an object. */
static const json_t *first_object(const json_t *parent, const char *name)
{
    const json_t *arr = json_object_get(parent, name);
    if (!json_is_array(arr) || json_array_size(arr) == 0) return NULL;
    const json_t *first = json_array_get(arr, 0);
    return json_is_object(first) ? first : NULL;
}

/* A value of a series: a number, or null. */
static int series_value(const json_t *arr, size_t i, const char *name, double *out, int *is_null)
{
    const json_t *v = json_array_get(arr, i);
    if (json_is_null(v)) {
        *is_null = 1;
        *out = 0.0;
        return 0;
    }
    if (!json_is_number(v))
        return sao_error_set(SAO_EPARSE, "Yahoo chart response: %s[%zu] is not a number", name, i);
    *is_null = 0;
    *out = json_number_value(v);
    return 0;
}

/* Seconds since the epoch within the years the date code supports (1800..2200). */
static int timestamp_to_day(int64_t *day, json_int_t seconds, long gmtoffset)
{
    const json_int_t lo = INT64_C(-5364662400); /* 1800-01-01 */
    const json_int_t hi = INT64_C(7289654400);  /* 2201-01-01 */
    if (seconds < lo || seconds >= hi) return SAO_ERANGE;
    *day = sao_data__day_of_seconds((int64_t)seconds + gmtoffset);
    return 0;
}

/* Row of `day` in sorted `bars`, or -1. */
static long find_day(const sao_bars *bars, int64_t day)
{
    size_t lo = 0, hi = bars->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (bars->day[mid] < day) lo = mid + 1;
        else hi = mid;
    }
    return lo < bars->count && bars->day[lo] == day ? (long)lo : -1;
}

/* The event's time: its "date" member, else its key. */
static int event_time(json_int_t *out, const char *key, const json_t *event)
{
    const json_t *date = json_object_get(event, "date");
    if (json_is_integer(date)) {
        *out = json_integer_value(date);
        return 0;
    }
    char *end;
    long long v = strtoll(key, &end, 10);
    if (end == key || *end) return SAO_EPARSE;
    *out = v;
    return 0;
}

static int number_member(double *out, const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_number(v)) return SAO_EPARSE;
    *out = json_number_value(v);
    return isfinite(*out) ? 0 : SAO_EPARSE;
}

static int parse_events(sao_bars *bars, sao_yahoo_report *rep, const json_t *result, long gmtoffset)
{
    const json_t *events = json_object_get(result, "events");
    if (!events || json_is_null(events)) return 0;
    if (!json_is_object(events))
        return sao_error_set(SAO_EPARSE, "Yahoo chart response: events is not an object");
    const char *key;
    const json_t *ev;

    const json_t *dividends = json_object_get(events, "dividends");
    if (dividends && !json_is_null(dividends)) {
        if (!json_is_object(dividends))
            return sao_error_set(SAO_EPARSE, "Yahoo chart response: events.dividends is not an "
                                             "object");
        json_object_foreach((json_t *)dividends, key, ev) {
            json_int_t when;
            double amount;
            int64_t day;
            if (!json_is_object(ev) || event_time(&when, key, ev) ||
                number_member(&amount, ev, "amount") || amount < 0 ||
                timestamp_to_day(&day, when, gmtoffset))
                return sao_error_set(SAO_EPARSE,
                                     "Yahoo chart response: malformed dividend event '%.40s'",
                                     key);
            long row = find_day(bars, day);
            if (row < 0) continue; /* paid on a day without a bar in this response */
            bars->dividend[row] += amount;
            rep->dividends++;
        }
    }

    const json_t *splits = json_object_get(events, "splits");
    if (splits && !json_is_null(splits)) {
        if (!json_is_object(splits))
            return sao_error_set(SAO_EPARSE, "Yahoo chart response: events.splits is not an "
                                             "object");
        json_object_foreach((json_t *)splits, key, ev) {
            json_int_t when;
            double numerator, denominator;
            int64_t day;
            if (!json_is_object(ev) || event_time(&when, key, ev) ||
                number_member(&numerator, ev, "numerator") ||
                number_member(&denominator, ev, "denominator") || !(numerator > 0) ||
                !(denominator > 0) || timestamp_to_day(&day, when, gmtoffset))
                return sao_error_set(SAO_EPARSE,
                                     "Yahoo chart response: malformed split event '%.40s'", key);
            long row = find_day(bars, day);
            if (row < 0) continue;
            double ratio = numerator / denominator;
            if (!isfinite(ratio) || !(ratio > 0))
                return sao_error_set(SAO_EPARSE,
                                     "Yahoo chart response: split event '%.40s' has ratio %g",
                                     key, ratio);
            /* Two splits on one day compound. */
            bars->split_ratio[row] = bars->split_ratio[row] > 0 ? bars->split_ratio[row] * ratio
                                                                : ratio;
            rep->splits++;
        }
    }
    return 0;
}

/* Reads result.timestamp and result.indicators into `bars` (unsorted, nulls skipped). */
static int parse_bars(sao_bars *bars, sao_yahoo_report *rep, const json_t *result,
                      const sao_yahoo_meta *meta)
{
    const json_t *timestamps = json_object_get(result, "timestamp");
    if (!timestamps || json_is_null(timestamps))
        return sao_error_set(SAO_ENODATA,
                             "Yahoo Finance returned no bars for %s (the response has no "
                             "timestamps: the range holds no trading day)",
                             meta->symbol[0] ? meta->symbol : "the symbol");
    if (!json_is_array(timestamps))
        return sao_error_set(SAO_EPARSE, "Yahoo chart response: timestamp is not an array");
    size_t count = json_array_size(timestamps);
    if (count == 0)
        return sao_error_set(SAO_ENODATA, "Yahoo Finance returned no bars for %s",
                             meta->symbol[0] ? meta->symbol : "the symbol");
    if (count > SAO_YAHOO_MAX_BARS)
        return sao_error_set(SAO_ETOOBIG, "Yahoo chart response: %zu bars (at most %zu accepted)",
                             count, SAO_YAHOO_MAX_BARS);

    const json_t *granularity = json_object_get(json_object_get(result, "meta"),
                                                "dataGranularity");
    if (json_is_string(granularity) && strcmp(json_string_value(granularity), "1d") != 0)
        return sao_error_set(SAO_EUNSUPPORTED,
                             "Yahoo chart response has %.16s bars; only daily (1d) bars are read",
                             json_string_value(granularity));

    const json_t *indicators = json_object_get(result, "indicators");
    if (!json_is_object(indicators))
        return sao_error_set(SAO_EPARSE, "Yahoo chart response: indicators is missing");
    const json_t *quote = first_object(indicators, "quote");
    if (!quote)
        return sao_error_set(SAO_EPARSE,
                             "Yahoo chart response: indicators.quote[0] is missing for %zu "
                             "timestamps",
                             count);
    const json_t *series[Q__COUNT];
    for (int q = 0; q < Q__COUNT; q++) {
        int rc = get_series(&series[q], quote, "indicators.quote[0]", quote_fields[q], count);
        if (rc) return rc;
    }
    const json_t *adjclose = NULL;
    const json_t *adj_parent = json_object_get(indicators, "adjclose");
    if (adj_parent && !json_is_null(adj_parent)) {
        const json_t *adj0 = first_object(indicators, "adjclose");
        if (!adj0)
            return sao_error_set(SAO_EPARSE,
                                 "Yahoo chart response: indicators.adjclose[0] is not an object");
        int rc = get_series(&adjclose, adj0, "indicators.adjclose[0]", "adjclose", count);
        if (rc) return rc;
    }

    sao_bars_reserve(bars, count);
    for (size_t i = 0; i < count; i++) {
        const json_t *ts = json_array_get(timestamps, i);
        if (!json_is_integer(ts))
            return sao_error_set(SAO_EPARSE, "Yahoo chart response: timestamp[%zu] is not an "
                                             "integer",
                                 i);
        int64_t day;
        if (timestamp_to_day(&day, json_integer_value(ts), meta->gmtoffset))
            return sao_error_set(SAO_EPARSE,
                                 "Yahoo chart response: timestamp[%zu] = %lld is out of range", i,
                                 (long long)json_integer_value(ts));
        double v[Q__COUNT + 1];
        int nulls = 0, values = 0;
        for (int q = 0; q < Q__COUNT; q++) {
            int is_null;
            int rc = series_value(series[q], i, quote_fields[q], &v[q], &is_null);
            if (rc) return rc;
            nulls += is_null;
            values++;
        }
        v[Q__COUNT] = v[Q_CLOSE];
        if (adjclose) {
            int is_null;
            int rc = series_value(adjclose, i, "adjclose", &v[Q__COUNT], &is_null);
            if (rc) return rc;
            nulls += is_null;
            values++;
        }
        if (nulls == values) {
            rep->null_bars++;
            continue;
        }
        if (nulls) {
            rep->partial_bars++;
            continue;
        }
        sao_bars_push(bars, day, v[Q_OPEN], v[Q_HIGH], v[Q_LOW], v[Q_CLOSE], v[Q__COUNT],
                      v[Q_VOLUME]);
    }
    if (bars->count == 0)
        return sao_error_set(SAO_ENODATA, "Yahoo Finance returned %zu bars for %s, all null",
                             count, meta->symbol[0] ? meta->symbol : "the symbol");
    return 0;
}

/* Sorts by day and keeps the last bar of each day (a later bar of a day corrects it). */
static void keep_last_per_day(sao_bars *bars, sao_yahoo_report *rep)
{
    sao_bars_sort(bars);
    size_t kept = 0;
    for (size_t i = 0; i < bars->count; i++) {
        if (kept > 0 && bars->day[kept - 1] == bars->day[i]) {
            sao_data__bars_copy_row(bars, kept - 1, i);
            rep->duplicate_days++;
            continue;
        }
        sao_data__bars_copy_row(bars, kept++, i);
    }
    bars->count = kept;
}

int sao_yahoo_parse(sao_bars *out, sao_yahoo_meta *meta, sao_yahoo_report *report,
                    const char *json, size_t len)
{
    int rc = 0;
    json_t *root = NULL;
    sao_bars tmp;
    sao_bars_init(&tmp, NULL);
    sao_yahoo_meta m;
    sao_yahoo_report rep;
    memset(&m, 0, sizeof(m));
    memset(&rep, 0, sizeof(rep));

    if (len > SAO_YAHOO_MAX_BODY) {
        rc = sao_error_set(SAO_ETOOBIG, "Yahoo chart response of %zu bytes is over the limit of "
                                        "%zu bytes",
                           len, SAO_YAHOO_MAX_BODY);
        goto done;
    }
    json_error_t jerr;
    root = json_loadb(json, len, 0, &jerr);
    if (!root) {
        rc = sao_error_set(SAO_EPARSE, "Yahoo chart response is not valid JSON (line %d, column "
                                       "%d: %s)",
                           jerr.line, jerr.column, jerr.text);
        goto done;
    }
    const json_t *chart = json_object_get(root, "chart");
    if (!json_is_object(chart)) {
        rc = sao_error_set(SAO_EPARSE, "Yahoo chart response has no \"chart\" object");
        goto done;
    }
    const json_t *error = json_object_get(chart, "error");
    if (error && !json_is_null(error)) {
        rc = chart_error(error);
        goto done;
    }
    const json_t *results = json_object_get(chart, "result");
    if (!json_is_array(results)) {
        rc = sao_error_set(SAO_EPARSE, "Yahoo chart response has neither a result array nor an "
                                       "error");
        goto done;
    }
    if (json_array_size(results) == 0) {
        rc = sao_error_set(SAO_ENODATA, "Yahoo chart response has an empty result");
        goto done;
    }
    const json_t *result = json_array_get(results, 0);
    if (!json_is_object(result)) {
        rc = sao_error_set(SAO_EPARSE, "Yahoo chart response: result[0] is not an object");
        goto done;
    }
    rc = parse_meta(&m, result);
    if (rc) goto done;
    rc = parse_bars(&tmp, &rep, result, &m);
    if (rc) goto done;
    keep_last_per_day(&tmp, &rep);
    rc = parse_events(&tmp, &rep, result, m.gmtoffset);
    if (rc) goto done;

    rep.bars = tmp.count;
    if (m.symbol[0] && sao_ticker_normalize(tmp.ticker, m.symbol) != 0) {
        tmp.ticker[0] = '\0'; /* an odd symbol is kept in meta only */
        sao_error_clear();
    }
    sao_data__bars_move_into(out, &tmp);
    if (meta) *meta = m;
    if (report) *report = rep;

done:
    json_decref(root);
    sao_bars_dispose(&tmp);
    return rc;
}

/* ---- fetch ---- */

static const char *reason_phrase(long status)
{
    switch (status) {
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "";
    }
}

static int build_url(sao_buf *url, const char *symbol, int64_t period1, int64_t period2)
{
    const char *base = sao_config_get("SAO_YAHOO_BASE_URL");
    if (!base || !*base) base = YAHOO_DEFAULT_BASE_URL;
    size_t base_len = strlen(base);
    while (base_len > 0 && base[base_len - 1] == '/') base_len--;
    int rc = sao_buf_append(url, base, base_len);
    if (!rc) rc = sao_buf_append(url, "/v8/finance/chart/", 18);
    if (!rc) rc = sao_url_escape(url, symbol);
    if (!rc)
        rc = sao_buf_appendf(url,
                             "?period1=%lld&period2=%lld&interval=1d&events=div%%7Csplit"
                             "&includeAdjustedClose=true",
                             (long long)period1, (long long)period2);
    if (rc) return sao_error_set(rc, "Yahoo Finance URL for %s is too long", symbol);
    return 0;
}

/* Keeps the rows of `src` within [from_day, to_day] (src is sorted). */
static void keep_range(sao_bars *dst, const sao_bars *src, int64_t from_day, int64_t to_day,
                       sao_yahoo_report *rep)
{
    rep->bars = rep->dividends = rep->splits = 0;
    for (size_t i = 0; i < src->count; i++) {
        if (src->day[i] < from_day || src->day[i] > to_day) continue;
        sao_bars_push_row(dst, src, i);
        rep->bars++;
        rep->dividends += src->dividend[i] != 0.0;
        rep->splits += src->split_ratio[i] != 0.0;
    }
}

int sao_yahoo_fetch(sao_bars *out, sao_yahoo_meta *meta, sao_yahoo_report *report,
                    const char *ticker, int64_t from_day, int64_t to_day)
{
    int rc = 0;
    char symbol[SAO_TICKER_MAX + 1];
    sao_buf url;
    sao_http_response resp;
    sao_bars all, kept;
    sao_yahoo_meta m;
    sao_yahoo_report rep;
    sao_buf_init(&url, 4096);
    memset(&resp, 0, sizeof(resp));
    sao_bars_init(&all, NULL);
    sao_bars_init(&kept, NULL);
    memset(&rep, 0, sizeof(rep));

    rc = sao_ticker_normalize(symbol, ticker);
    if (rc) goto done;
    if (to_day < 0) to_day = sao_data__day_of_seconds(sao_now_us() / 1000000);
    if (from_day > to_day) {
        char a[16], b[16];
        sao_date_format(from_day, a, sizeof(a));
        sao_date_format(to_day, b, sizeof(b));
        rc = sao_error_set(SAO_EINVAL, "%s: start %s is after end %s", symbol, a, b);
        goto done;
    }
    rc = build_url(&url, symbol, (from_day - 1) * 86400, (to_day + 2) * 86400);
    if (rc) goto done;

    sao_http_options opts;
    sao_http_options_init(&opts);
    if (opts.max_body == 0 || opts.max_body > SAO_YAHOO_MAX_BODY)
        opts.max_body = SAO_YAHOO_MAX_BODY;
    rc = sao_http_get(&resp, url.data, &opts);
    if (rc) {
        sao_error_wrap(rc, "Yahoo Finance %s: ", symbol);
        goto done;
    }

    if (resp.status == 404) {
        rc = sao_yahoo_parse(&all, &m, &rep, resp.body, resp.body_len);
        if (rc == SAO_ENOENT) sao_error_wrap(rc, "%s: ", symbol);
        else rc = sao_error_set(SAO_ENOENT, "%s: not found on Yahoo Finance (HTTP 404)", symbol);
        goto done;
    }
    if (resp.status == 429 || (resp.status >= 500 && resp.status <= 599)) {
        rc = sao_error_set(SAO_EHTTP, "Yahoo Finance answered %ld %s after %d attempts for %s",
                           resp.status, reason_phrase(resp.status), resp.attempts, symbol);
        goto done;
    }
    if (resp.status != 200) {
        /* Yahoo explains most refusals in the body's chart.error. */
        int prc = sao_yahoo_parse(&all, &m, &rep, resp.body, resp.body_len);
        char detail[400] = "";
        if (prc < 0 && prc != SAO_EPARSE) sao_strlcpy(detail, sao_error_last(), sizeof(detail));
        rc = sao_error_set(SAO_EHTTP, "Yahoo Finance answered %ld %s for %s%s%s", resp.status,
                           reason_phrase(resp.status), symbol, detail[0] ? ": " : "", detail);
        goto done;
    }

    rc = sao_yahoo_parse(&all, &m, &rep, resp.body, resp.body_len);
    if (rc) {
        sao_error_wrap(rc, "%s: ", symbol);
        goto done;
    }
    memcpy(kept.ticker, symbol, sizeof(symbol));
    keep_range(&kept, &all, from_day, to_day, &rep);
    if (kept.count == 0) {
        char a[16], b[16];
        sao_date_format(from_day, a, sizeof(a));
        sao_date_format(to_day, b, sizeof(b));
        rc = sao_error_set(SAO_ENODATA, "%s: Yahoo Finance has no bars from %s to %s", symbol, a,
                           b);
        goto done;
    }
    rep.attempts = resp.attempts;
    sao_data__bars_move_into(out, &kept);
    if (meta) *meta = m;
    if (report) *report = rep;

done:
    sao_buf_dispose(&url);
    sao_http_response_dispose(&resp);
    sao_bars_dispose(&all);
    sao_bars_dispose(&kept);
    return rc;
}
