/*
 * Handlers of the data routes: the ingested tickers (/api/v1/tickers), bars and indicators from
 * the offline store (/history, read row ranges only, capped by `limit` and saying so), and the
 * latest online feature values of every view of the feature repository (/features).
 */
#include "api/api_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define HISTORY_DEFAULT_LIMIT 1000
#define HISTORY_MAX_LIMIT 10000
#define HISTORY_MAX_FIELDS 256
/* A history body is at most HISTORY_MAX_LIMIT rows of every field; this only guards the sum. */
#define HISTORY_MAX_BYTES ((size_t)256 * 1024 * 1024)

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* Microseconds of a timestamp column's raw value. */
static int64_t to_us(sao_pq_type type, int64_t v)
{
    if (type == SAO_PQ_TIMESTAMP_MS) return v * 1000;
    if (type == SAO_PQ_TIMESTAMP_NS) return floor_div(v, 1000);
    return v;
}

/* The trading day of a timestamp column's row, whatever the file's unit. */
static int64_t row_day(const sao_pq_column_data *ts, size_t row)
{
    return floor_div(to_us(ts->type, ts->i64[row]), SAO_US_PER_DAY);
}

static int read_timestamps(const sao_pq_column_data **out, sao_pq_file *file, const char *what)
{
    int idx = sao_parquet_find_column(file, "event_timestamp");
    if (idx < 0) return sao_error_set(SAO_ECORRUPT, "%s: no event_timestamp column", what);
    int rc = sao_parquet_read_column(out, file, (size_t)idx);
    if (rc) return rc;
    if (!(*out)->i64 || (*out)->null_count)
        return sao_error_set(SAO_ECORRUPT, "%s: event_timestamp is not a timestamp column", what);
    return 0;
}

/* First row whose day is >= day (rows are sorted by day). */
static size_t lower_bound(const sao_pq_column_data *ts, int64_t day)
{
    size_t lo = 0, hi = ts->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (row_day(ts, mid) < day)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void unknown_ticker(sao_api_response *res, const sao_api_request *req, const char *ticker)
{
    sao_api__error(res, req, 404, "ticker_not_found",
                   "unknown ticker %s: nothing is ingested for it (run `sao ingest %s`)", ticker,
                   ticker);
}

/* ---------------------------------------------------------------------------------------------
 * GET /api/v1/tickers
 */

/* Rows and first/last day of a ticker's bars (INT64_MAX when none), from the footer's
 * statistics when the writer left them (ours always does), else from the column. */
static int bars_summary(size_t *rows, int64_t *first, int64_t *last, const char *ticker)
{
    sao_pq_file *file = NULL;
    int rc = sao_offline_open(&file, SAO_VIEW_OHLCV, ticker);
    if (rc) return rc;
    *rows = sao_parquet_num_rows(file);
    int64_t lo_us = INT64_MAX, hi_us = INT64_MIN;
    int col = sao_parquet_find_column(file, "event_timestamp");
    if (col < 0) {
        rc = sao_error_set(SAO_ECORRUPT, "%s: no event_timestamp column", ticker);
        goto done;
    }
    sao_pq_type type = sao_parquet_column_type(file, (size_t)col);
    size_t groups = sao_parquet_num_row_groups(file);
    int complete = 1;
    for (size_t g = 0; g < groups; g++) {
        int64_t lo, hi;
        if (sao_parquet_row_group_rows(file, g) == 0) continue;
        if (sao_parquet_chunk_range_i64(&lo, &hi, file, (size_t)col, g) != 0) {
            complete = 0;
            break;
        }
        if (to_us(type, lo) < lo_us) lo_us = to_us(type, lo);
        if (to_us(type, hi) > hi_us) hi_us = to_us(type, hi);
    }
    *first = *last = INT64_MAX;
    if (complete && lo_us != INT64_MAX) {
        *first = floor_div(lo_us, SAO_US_PER_DAY);
        *last = floor_div(hi_us, SAO_US_PER_DAY);
    } else if (!complete) {
        const sao_pq_column_data *ts;
        if ((rc = read_timestamps(&ts, file, ticker)) == 0 && ts->count) {
            *first = row_day(ts, 0);
            *last = row_day(ts, ts->count - 1);
        }
    }
done:
    sao_parquet_close(file);
    return rc;
}

static json_t *registry_json(const char *ticker, json_t **versions_out)
{
    int *versions = NULL;
    size_t count = 0;
    int serving = 0;
    json_t *list = json_array();
    if (sao_registry_versions(&versions, &count, &serving, ticker) == 0) {
        for (size_t i = 0; i < count; i++) json_array_append_new(list, json_integer(versions[i]));
        sao_free(versions);
    }
    *versions_out = list;
    return serving > 0 ? json_integer(serving) : json_null();
}

void sao_api__handle_tickers(const sao_api_request *req, sao_api_response *res, void *ctx)
{
    sao_api *api = ctx;
    char **tickers = NULL;
    size_t count = 0;
    int rc = sao_offline_list_tickers(&tickers, &count);
    if (rc) {
        sao_api__fail(res, req, api, rc, 0);
        return;
    }
    json_t *list = json_array();
    for (size_t i = 0; i < count; i++) {
        size_t rows = 0;
        int64_t first = INT64_MAX, last = INT64_MAX;
        /* A file being replaced or damaged spoils its entry, not the listing. */
        if (bars_summary(&rows, &first, &last, tickers[i]) != 0) {
            sao_log(SAO_LOG_WARN, "api", "tickers: %s: %s", tickers[i], sao_error_last());
            continue;
        }
        json_t *versions;
        json_t *serving = registry_json(tickers[i], &versions);
        json_array_append_new(
            list, json_pack("{s:s,s:s,s:o,s:o,s:I,s:o,s:o}", "ticker", tickers[i], "asset_class",
                            sao_asset_class_name(sao_ticker_asset_class(tickers[i])), "first_date",
                            first == INT64_MAX ? json_null() : sao_api__date(first), "last_date",
                            last == INT64_MAX ? json_null() : sao_api__date(last), "rows",
                            (json_int_t)rows, "serving_version", serving, "versions", versions));
    }
    sao_offline_tickers_free(tickers, count);
    sao_api__json(
        res, 200,
        json_pack("{s:I,s:o}", "count", (json_int_t)json_array_size(list), "tickers", list));
}

/* ---------------------------------------------------------------------------------------------
 * GET /api/v1/tickers/{ticker}/history
 */

typedef struct history_field {
    const char *name;
    int technical; /* from technical_daily, else ohlcv_daily */
} history_field;

/* The fields history serves: the feature repository's bar and indicator views. */
static size_t valid_fields(history_field *out, size_t max, const sao_fs_repo *repo)
{
    static const char *const views[2] = {SAO_VIEW_OHLCV, SAO_VIEW_TECHNICAL};
    size_t n = 0;
    for (int v = 0; v < 2; v++) {
        const sao_fs_view *view = sao_fs_repo_view(repo, views[v]);
        for (size_t i = 0; view && i < view->field_count && n < max; i++) {
            if (view->fields[i].dtype != SAO_FS_FLOAT64) continue;
            out[n].name = view->fields[i].name;
            out[n].technical = v == 1;
            n++;
        }
    }
    return n;
}

static int parse_day(int64_t *out, const char *value)
{
    /* Exactly YYYY-MM-DD: the document promises one format, and one format is one cache key. */
    if (strlen(value) != 10 || value[4] != '-' || value[7] != '-') return -1;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (value[i] < '0' || value[i] > '9')) return -1;
    return sao_date_parse(value, 10, out) == 0 ? 0 : -1;
}

/* Parses `fields` into indices of `valid`; answers 400 naming the valid ones when one is not. */
static int parse_fields(size_t *selected, size_t *count, const char *list,
                        const history_field *valid, size_t valid_count, const sao_api_request *req,
                        sao_api_response *res)
{
    *count = 0;
    const char *p = list;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len && *p == ' ') p++, len--;
        while (len && p[len - 1] == ' ') len--;
        if (len == 0) {
            sao_api__error(res, req, 400, "bad_request",
                           "fields holds an empty name (a comma-separated list is expected)");
            return -1;
        }
        size_t found = valid_count;
        for (size_t i = 0; i < valid_count && found == valid_count; i++)
            if (strlen(valid[i].name) == len && memcmp(valid[i].name, p, len) == 0) found = i;
        if (found == valid_count) {
            sao_buf names;
            sao_buf_init(&names, 0);
            for (size_t i = 0; i < valid_count; i++)
                sao_buf_appendf(&names, "%s%s", i ? ", " : "", valid[i].name);
            sao_api__error(res, req, 400, "unknown_field", "unknown field '%.*s'; valid fields: %s",
                           (int)(len > 64 ? 64 : len), p, names.data ? names.data : "");
            sao_buf_dispose(&names);
            return -1;
        }
        int dup = 0;
        for (size_t i = 0; i < *count && !dup; i++) dup = selected[i] == found;
        if (!dup) selected[(*count)++] = found;
        if (!end) break;
        p = end + 1;
    }
    return 0;
}

/* One view's rows for the selected range and the columns read from it. */
typedef struct history_view {
    sao_pq_file *file;
    const sao_pq_column_data *ts;
    size_t first, count; /* rows [first, first + count) of the file */
} history_view;

/* Values of a field for the rows of the range, aligned with the bars' rows (NULL: all null). */
typedef struct history_column {
    const sao_pq_column_data *data;
    const size_t *row_of; /* bars row i -> row in data, or SIZE_MAX (technical view) */
} history_column;

void sao_api__handle_history(const sao_api_request *req, sao_api_response *res, void *ctx)
{
    sao_api *api = ctx;
    char ticker[SAO_TICKER_MAX + 1];
    if (sao_api__ticker_param(ticker, req, res) != 0) return;

    history_field valid[HISTORY_MAX_FIELDS];
    size_t valid_count = valid_fields(valid, HISTORY_MAX_FIELDS, api->repo);
    size_t selected[HISTORY_MAX_FIELDS];
    size_t selected_count = 0;
    int64_t from = INT64_MIN, to = INT64_MAX;
    long limit = HISTORY_DEFAULT_LIMIT;
    const char *v;
    if ((v = sao_api__query(req, "from")) && parse_day(&from, v) != 0) {
        sao_api__error(res, req, 400, "bad_request", "from must be a date YYYY-MM-DD");
        return;
    }
    if ((v = sao_api__query(req, "to")) && parse_day(&to, v) != 0) {
        sao_api__error(res, req, 400, "bad_request", "to must be a date YYYY-MM-DD");
        return;
    }
    if (from != INT64_MIN && to != INT64_MAX && from > to) {
        sao_api__error(res, req, 400, "bad_request", "from is after to");
        return;
    }
    if ((v = sao_api__query(req, "limit")) &&
        (sao_parse_long(v, &limit) != 0 || limit < 1 || limit > HISTORY_MAX_LIMIT)) {
        sao_api__error(res, req, 400, "bad_request", "limit must be an integer from 1 to %d",
                       HISTORY_MAX_LIMIT);
        return;
    }
    if ((v = sao_api__query(req, "fields"))) {
        if (parse_fields(selected, &selected_count, v, valid, valid_count, req, res) != 0) return;
    } else {
        for (size_t i = 0; i < valid_count; i++) selected[selected_count++] = i;
    }

    history_view bars = {0}, tech = {0};
    history_column *columns = sao_calloc(selected_count ? selected_count : 1, sizeof(*columns));
    size_t *tech_row = NULL;
    sao_buf out;
    sao_buf_init(&out, HISTORY_MAX_BYTES);
    int rc = sao_offline_open(&bars.file, SAO_VIEW_OHLCV, ticker);
    if (rc == SAO_ENOENT) {
        unknown_ticker(res, req, ticker);
        goto done;
    }
    if (rc || (rc = read_timestamps(&bars.ts, bars.file, ticker))) goto fail;
    size_t lo = from == INT64_MIN ? 0 : lower_bound(bars.ts, from);
    size_t hi = to == INT64_MAX ? bars.ts->count : lower_bound(bars.ts, to + 1);
    size_t total = hi > lo ? hi - lo : 0;
    size_t count = total < (size_t)limit ? total : (size_t)limit;
    bars.first = lo;
    bars.count = count;

    int need_tech = 0;
    for (size_t i = 0; i < selected_count; i++) need_tech |= valid[selected[i]].technical;
    if (need_tech && count) {
        rc = sao_offline_open(&tech.file, SAO_VIEW_TECHNICAL, ticker);
        if (rc == SAO_ENOENT) {
            tech.file = NULL; /* bars without indicators: the indicator fields are null */
        } else if (rc || (rc = read_timestamps(&tech.ts, tech.file, ticker))) {
            goto fail;
        } else {
            int64_t first_day = row_day(bars.ts, lo), last_day = row_day(bars.ts, lo + count - 1);
            tech.first = lower_bound(tech.ts, first_day);
            size_t end = lower_bound(tech.ts, last_day + 1);
            tech.count = end > tech.first ? end - tech.first : 0;
            /* Both views hold the same days when ingestion wrote them together; a merge keeps a
             * day missing from one of them a null rather than a shifted row. */
            tech_row = sao_malloc(count * sizeof(*tech_row));
            size_t t = tech.first;
            for (size_t r = 0; r < count; r++) {
                int64_t day = row_day(bars.ts, lo + r);
                while (t < tech.first + tech.count && row_day(tech.ts, t) < day) t++;
                tech_row[r] = t < tech.first + tech.count && row_day(tech.ts, t) == day
                                  ? t - tech.first
                                  : SIZE_MAX;
            }
        }
    }
    for (size_t i = 0; i < selected_count && count; i++) {
        const history_field *f = &valid[selected[i]];
        history_view *view = f->technical ? &tech : &bars;
        if (!view->file || !view->count) continue;
        int col = sao_parquet_find_column(view->file, f->name);
        if (col < 0) continue; /* a crypto-only indicator of a stock: null */
        rc = sao_parquet_read_rows(&columns[i].data, view->file, (size_t)col, view->first,
                                   view->count);
        if (rc) goto fail;
        if (!columns[i].data->f64) columns[i].data = NULL;
        columns[i].row_of = f->technical ? tech_row : NULL;
    }

    char day_text[16];
    rc = sao_buf_appendf(&out, "{\"ticker\":\"%s\",\"from\":", ticker);
    if (!rc && from != INT64_MIN) sao_date_format(from, day_text, sizeof(day_text));
    if (!rc)
        rc = sao_buf_appendf(&out, from != INT64_MIN ? "\"%s\"" : "null",
                             from != INT64_MIN ? day_text : "");
    if (!rc && to != INT64_MAX) sao_date_format(to, day_text, sizeof(day_text));
    if (!rc) rc = sao_buf_appendf(&out, ",\"to\":");
    if (!rc)
        rc = sao_buf_appendf(&out, to != INT64_MAX ? "\"%s\"" : "null",
                             to != INT64_MAX ? day_text : "");
    if (!rc) rc = sao_buf_appendf(&out, ",\"fields\":[");
    for (size_t i = 0; i < selected_count && !rc; i++)
        rc = sao_buf_appendf(&out, "%s\"%s\"", i ? "," : "", valid[selected[i]].name);
    if (!rc)
        rc = sao_buf_appendf(&out,
                             "],\"limit\":%ld,\"count\":%zu,\"total\":%zu,\"truncated\":%s,"
                             "\"next_from\":",
                             limit, count, total, count < total ? "true" : "false");
    if (!rc && count < total) {
        sao_date_format(row_day(bars.ts, lo + count), day_text, sizeof(day_text));
        rc = sao_buf_appendf(&out, "\"%s\"", day_text);
    } else if (!rc) {
        rc = sao_buf_append(&out, "null", 4);
    }
    if (!rc) rc = sao_buf_append(&out, ",\"rows\":[", 9);
    for (size_t r = 0; r < count && !rc; r++) {
        sao_date_format(row_day(bars.ts, lo + r), day_text, sizeof(day_text));
        rc = sao_buf_appendf(&out, "%s{\"date\":\"%s\"", r ? "," : "", day_text);
        for (size_t i = 0; i < selected_count && !rc; i++) {
            rc = sao_buf_appendf(&out, ",\"%s\":", valid[selected[i]].name);
            const history_column *c = &columns[i];
            size_t row = c->row_of ? c->row_of[r] : r;
            double value = NAN;
            if (!rc && c->data && row != SIZE_MAX && c->data->valid[row]) value = c->data->f64[row];
            if (!rc) rc = sao_api__append_number(&out, value);
        }
        if (!rc) rc = sao_buf_append(&out, "}", 1);
    }
    if (!rc) rc = sao_buf_append(&out, "]}", 2);
    if (rc) goto fail;
    res->status = 200;
    res->content_type = NULL;
    res->body = sao_buf_detach(&out, &res->body_len);
    goto done;

fail:
    sao_api__fail(res, req, api, rc, 0);
done:
    sao_buf_dispose(&out);
    sao_free(tech_row);
    sao_free(columns);
    sao_parquet_close(tech.file);
    sao_parquet_close(bars.file);
}

/* ---------------------------------------------------------------------------------------------
 * GET /api/v1/tickers/{ticker}/features
 */

static json_t *feast_value_json(const sao_feast_value *value)
{
    switch (value->type) {
    case SAO_FEAST_DOUBLE:
        return sao_api__number(value->as.f64);
    case SAO_FEAST_FLOAT:
        return sao_api__number(value->as.f32);
    case SAO_FEAST_INT64:
    case SAO_FEAST_UNIX_TIMESTAMP:
        return json_integer(value->as.i64);
    case SAO_FEAST_INT32:
        return json_integer(value->as.i32);
    case SAO_FEAST_BOOL:
        return json_boolean(value->as.boolean);
    case SAO_FEAST_STRING: {
        /* Not valid UTF-8 (jansson refuses it): null rather than a broken document. */
        json_t *s = json_stringn(value->as.str.data, value->as.str.len);
        return s ? s : json_null();
    }
    case SAO_FEAST_DOUBLE_LIST: {
        json_t *list = json_array();
        for (size_t i = 0; i < value->as.f64_list.len; i++)
            json_array_append_new(list, sao_api__number(value->as.f64_list.data[i]));
        return list;
    }
    default:
        return json_null();
    }
}

static json_t *timestamp_json(int64_t us)
{
    int64_t day = floor_div(us, SAO_US_PER_DAY);
    int64_t secs = floor_div(us, 1000000) - day * 86400;
    char date[16], text[40];
    sao_date_format(day, date, sizeof(date));
    snprintf(text, sizeof(text), "%sT%02d:%02d:%02dZ", date, (int)(secs / 3600),
             (int)(secs / 60 % 60), (int)(secs % 60));
    return json_string(text);
}

static const char *view_kind_name(sao_fs_view_kind kind)
{
    switch (kind) {
    case SAO_FS_BARS:
        return "bars";
    case SAO_FS_INDICATORS:
        return "indicators";
    default:
        return "window";
    }
}

void sao_api__handle_features(const sao_api_request *req, sao_api_response *res, void *ctx)
{
    sao_api *api = ctx;
    char ticker[SAO_TICKER_MAX + 1];
    if (sao_api__ticker_param(ticker, req, res) != 0) return;
    const sao_fs_repo *repo = api->repo;
    sao_online *conn = NULL;
    int rc = sao_api__redis_admit(api);
    if (!rc) {
        rc = sao_api__online_acquire(&conn, api);
        if (rc) sao_api__redis_report(api, rc);
    }
    if (rc) {
        sao_api__fail(res, req, api, rc, 1);
        return;
    }
    json_t *views = json_array();
    size_t found = 0;
    for (size_t v = 0; v < repo->view_count && !rc; v++) {
        const sao_fs_view *view = &repo->views[v];
        const char **names = sao_arena_alloc(req->arena, (view->field_count + 1) * sizeof(*names));
        sao_feast_value *values =
            sao_arena_alloc(req->arena, (view->field_count + 1) * sizeof(*values));
        for (size_t i = 0; i < view->field_count; i++) names[i] = view->fields[i].name;
        int64_t event_us = 0;
        rc = sao_online_read(conn, view->name, names, view->field_count, ticker, values, &event_us,
                             req->arena);
        json_t *entry =
            json_pack("{s:s,s:s}", "view", view->name, "kind", view_kind_name(view->kind));
        if (rc == SAO_ENOENT) {
            rc = 0;
            json_object_set_new(entry, "event_timestamp", json_null());
            json_object_set_new(entry, "features", json_null());
        } else if (!rc) {
            found++;
            json_t *features = json_object();
            for (size_t i = 0; i < view->field_count; i++)
                json_object_set_new(features, names[i], feast_value_json(&values[i]));
            json_object_set_new(entry, "event_timestamp", timestamp_json(event_us));
            json_object_set_new(entry, "features", features);
        }
        json_array_append_new(views, entry);
    }
    int broken = rc == SAO_ENET || rc == SAO_ETIMEOUT || rc == SAO_EIO;
    sao_api__online_release(api, conn, broken);
    sao_api__redis_report(api, rc);
    if (rc) {
        json_decref(views);
        if (rc == SAO_ENET || rc == SAO_ETIMEOUT)
            sao_error_set(rc, "online store unreachable: %s", sao_error_last());
        sao_api__fail(res, req, api, rc, 1);
        return;
    }
    if (!found) {
        json_decref(views);
        sao_api__error(res, req, 404, "features_not_found",
                       "no online features for %s: ingest it (`sao ingest %s`) and run `sao "
                       "materialize-incremental`",
                       ticker, ticker);
        return;
    }
    sao_api__json(res, 200, json_pack("{s:s,s:o}", "ticker", ticker, "views", views));
}
