/*
 * Handlers of the data routes: the ingested tickers (/api/v1/tickers), bars and indicators from
 * the offline store (/history, decoded once per version of a ticker's files and kept, capped by
 * `limit` and saying so), and the latest online feature values of every view of the feature
 * repository (/features).
 */
#include "api/api_int.h"

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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
 *
 * The rows come from both views of the ticker decoded once and kept (the cache below) while its
 * two files stay the ones decoded, so that a request decodes no Parquet and formats its rows
 * with no printf: the field names' JSON is made once per request, the values by the shortest
 * round-trip formatter.
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

/* ---- the decoded columns, per ticker ---- */

/* Tickers and bytes of decoded columns kept: a ticker of 35 years of daily rows is about 3 MB. */
#define HISTORY_CACHE_TICKERS 8
#define HISTORY_CACHE_BYTES ((size_t)32 * 1024 * 1024)

/* Which version of a file was decoded. Writers replace the files by rename, which gives the
 * new one another inode and modification time; size and time also catch an edit in place. */
typedef struct file_version {
    int present;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
} file_version;

/* A finished answer, shared by the requests that send it (the cache holds one reference). */
typedef struct history_body {
    atomic_size_t refs;
    size_t len;
    char data[];
} history_body;

/* Answers kept per ticker, each at most HISTORY_BODY_MAX bytes: a dashboard asks the same few
 * ranges again and again, and sending a kept answer (shared, not copied) costs far less than
 * writing it (a year of every field is about 270 kB). They go with the entry, so new files
 * drop them too. */
#define HISTORY_BODIES 4
#define HISTORY_BODY_MAX ((size_t)4 * 1024 * 1024)

typedef struct body_slot {
    char *key; /* the parameters that made it (body_key); NULL: empty slot */
    history_body *body;
    uint64_t used; /* the entry's clock when last served: the oldest is replaced */
} body_slot;

/* One ticker's history, immutable once made (but for its kept answers): the bars' days, and
 * each history field's values aligned with them. A null is stored as NaN, which the route
 * writes as null like any value that is not finite; an indicator missing on a day of bars is
 * null there. */
typedef struct history_entry {
    struct history_entry *prev, *next; /* in the cache, most recently used first */
    int listed;                        /* in the cache's list (bodies are kept only then) */
    size_t refs;                       /* the cache's while listed, and each request's */
    char ticker[SAO_TICKER_MAX + 1];
    file_version bars_version, technical_version;
    size_t bytes;
    size_t rows;
    int64_t *day;
    size_t field_count; /* as valid_fields gives them */
    double **value;     /* [field][row]; NULL when the file has no such double column */
    /* Each value's JSON text, made once per entry: formatting ~9,000 numbers per request was
     * most of the route's CPU. text[field] holds the texts end to end, value r at
     * [offset[field][r], offset[field][r + 1]); NULL where value[field] is. */
    char **text;
    uint32_t **offset;
    int technical_rc;   /* the technical view could not be read: its fields fail with this */
    char *technical_error;
    /* Kept answers, under the cache's lock; their bytes count in `bytes`. */
    body_slot bodies[HISTORY_BODIES];
    uint64_t clock;
} history_entry;

struct sao_api_history_cache {
    pthread_mutex_t lock;
    history_entry *first, *last;
    size_t count, bytes;
};

sao_api_history_cache *sao_api__history_cache_new(void)
{
    sao_api_history_cache *cache = sao_calloc(1, sizeof(*cache));
    pthread_mutex_init(&cache->lock, NULL);
    return cache;
}

static void body_release(void *cls)
{
    history_body *body = cls;
    if (atomic_fetch_sub(&body->refs, 1) == 1) sao_free(body);
}

static void entry_free(history_entry *entry)
{
    if (!entry) return;
    for (size_t i = 0; i < HISTORY_BODIES; i++) {
        sao_free(entry->bodies[i].key);
        if (entry->bodies[i].body) body_release(entry->bodies[i].body);
    }
    for (size_t i = 0; entry->value && i < entry->field_count; i++) sao_free(entry->value[i]);
    for (size_t i = 0; entry->text && i < entry->field_count; i++) {
        sao_free(entry->text[i]);
        sao_free(entry->offset[i]);
    }
    sao_free(entry->text);
    sao_free(entry->offset);
    sao_free(entry->value);
    sao_free(entry->day);
    sao_free(entry->technical_error);
    sao_free(entry);
}

void sao_api__history_cache_free(sao_api_history_cache *cache)
{
    if (!cache) return;
    /* The server has stopped: nobody holds an entry any more. */
    for (history_entry *e = cache->first, *next; e; e = next) {
        next = e->next;
        entry_free(e);
    }
    pthread_mutex_destroy(&cache->lock);
    sao_free(cache);
}

static void list_remove(sao_api_history_cache *cache, history_entry *entry)
{
    entry->listed = 0;
    if (entry->prev)
        entry->prev->next = entry->next;
    else
        cache->first = entry->next;
    if (entry->next)
        entry->next->prev = entry->prev;
    else
        cache->last = entry->prev;
    entry->prev = entry->next = NULL;
}

static void list_push_first(sao_api_history_cache *cache, history_entry *entry)
{
    entry->listed = 1;
    entry->prev = NULL;
    entry->next = cache->first;
    if (cache->first)
        cache->first->prev = entry;
    else
        cache->last = entry;
    cache->first = entry;
}

/* Takes an entry out of the cache (the caller holds the lock); returns it when that was its
 * last reference, for the caller to free after unlocking. */
static history_entry *entry_drop(sao_api_history_cache *cache, history_entry *entry)
{
    list_remove(cache, entry);
    cache->count--;
    cache->bytes -= entry->bytes;
    return --entry->refs == 0 ? entry : NULL;
}

/* Drops the least recently used entries until the cache is within its bounds (the caller holds
 * the lock); the ones no request holds land in `freed` (at most HISTORY_CACHE_TICKERS + 1), for
 * the caller to free after unlocking. Returns their count. */
static size_t shrink_to_bounds(sao_api_history_cache *cache, history_entry **freed)
{
    size_t n = 0;
    while (cache->last &&
           (cache->count > HISTORY_CACHE_TICKERS || cache->bytes > HISTORY_CACHE_BYTES)) {
        history_entry *last = entry_drop(cache, cache->last);
        if (last) freed[n++] = last;
    }
    return n;
}

static void history_release(sao_api_history_cache *cache, history_entry *entry)
{
    if (!entry) return;
    pthread_mutex_lock(&cache->lock);
    int last = --entry->refs == 0;
    pthread_mutex_unlock(&cache->lock);
    if (last) entry_free(entry);
}

static int version_of(file_version *out, const char *path)
{
    struct stat st;
    memset(out, 0, sizeof(*out));
    if (stat(path, &st) != 0) {
        if (errno == ENOENT) return 0;
        return sao_error_set(SAO_EIO, "%s: %s", path, strerror(errno));
    }
    out->present = 1;
    out->dev = st.st_dev;
    out->ino = st.st_ino;
    out->size = st.st_size;
    out->mtime = st.st_mtim;
    return 0;
}

static int same_version(const file_version *a, const file_version *b)
{
    if (a->present != b->present) return 0;
    return !a->present ||
           (a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
            a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec);
}

/* A double column's values as a copy, nulls as NaN; NULL (no error) when the file has no such
 * double column (a crypto-only indicator of a stock: all null). `row_of` maps the entry's rows
 * to the file's (SIZE_MAX: none), NULL when they are the same. */
static int read_values(double **out, size_t *bytes, sao_pq_file *file, const char *name,
                       size_t rows, const size_t *row_of)
{
    *out = NULL;
    int col = sao_parquet_find_column(file, name);
    if (col < 0) return 0;
    const sao_pq_column_data *data;
    int rc = sao_parquet_read_column(&data, file, (size_t)col);
    if (rc) return rc;
    if (!data->f64) return 0;
    double *values = sao_malloc((rows ? rows : 1) * sizeof(*values));
    for (size_t r = 0; r < rows; r++) {
        size_t row = row_of ? row_of[r] : r;
        values[r] = row != SIZE_MAX && row < data->count && data->valid[row] ? data->f64[row] : NAN;
    }
    *out = values;
    *bytes += rows * sizeof(*values);
    return 0;
}

/* The technical view's fields, aligned with the bars' days. A missing file leaves them null;
 * another failure is kept in the entry, for the requests that ask for an indicator. */
static void load_technical(history_entry *entry, const char *ticker, const history_field *fields)
{
    sao_pq_file *file = NULL;
    size_t *row_of = NULL;
    const sao_pq_column_data *ts;
    int rc = sao_offline_open(&file, SAO_VIEW_TECHNICAL, ticker);
    if (rc == SAO_ENOENT) return; /* bars without indicators: the indicator fields are null */
    if (rc || (rc = read_timestamps(&ts, file, ticker))) goto done;
    /* Both views hold the same days when ingestion wrote them together; a merge keeps a day
     * missing from one of them a null rather than a shifted row. */
    row_of = sao_malloc((entry->rows ? entry->rows : 1) * sizeof(*row_of));
    size_t t = 0;
    for (size_t r = 0; r < entry->rows; r++) {
        while (t < ts->count && row_day(ts, t) < entry->day[r]) t++;
        row_of[r] = t < ts->count && row_day(ts, t) == entry->day[r] ? t : SIZE_MAX;
    }
    for (size_t i = 0; i < entry->field_count && !rc; i++) {
        if (!fields[i].technical) continue;
        rc =
            read_values(&entry->value[i], &entry->bytes, file, fields[i].name, entry->rows, row_of);
    }
done:
    if (rc) {
        for (size_t i = 0; i < entry->field_count; i++) {
            if (!fields[i].technical) continue;
            sao_free(entry->value[i]);
            entry->value[i] = NULL;
        }
        entry->technical_rc = rc;
        entry->technical_error = sao_strdup(sao_error_last());
    }
    sao_free(row_of);
    sao_parquet_close(file);
}

/* Decodes both views of a ticker: every history field over every row of its bars. */
/* Fills entry->text and entry->offset from entry->value (a value that is not finite is null). */
static void format_values(history_entry *entry)
{
    const size_t rows = entry->rows, fields = entry->field_count;
    entry->text = sao_calloc(fields ? fields : 1, sizeof(*entry->text));
    entry->offset = sao_calloc(fields ? fields : 1, sizeof(*entry->offset));
    entry->bytes += fields * (sizeof(*entry->text) + sizeof(*entry->offset));
    for (size_t f = 0; f < fields; f++) {
        const double *value = entry->value[f];
        if (!value) continue;
        char *text = sao_malloc(rows * SAO_DOUBLE_TEXT_MAX + 1);
        uint32_t *offset = sao_malloc((rows + 1) * sizeof(*offset));
        size_t len = 0;
        for (size_t r = 0; r < rows; r++) {
            offset[r] = (uint32_t)len;
            if (isfinite(value[r])) {
                len += sao_format_double(text + len, value[r]);
            } else {
                memcpy(text + len, "null", 4);
                len += 4;
            }
        }
        offset[rows] = (uint32_t)len;
        entry->text[f] = sao_realloc(text, len + 1);
        entry->offset[f] = offset;
        entry->bytes += len + 1 + (rows + 1) * sizeof(*offset);
    }
}

static int history_load(history_entry **out, const char *ticker, const history_field *fields,
                        size_t field_count)
{
    history_entry *entry = sao_calloc(1, sizeof(*entry));
    sao_strlcpy(entry->ticker, ticker, sizeof(entry->ticker));
    entry->field_count = field_count;
    entry->value = sao_calloc(field_count ? field_count : 1, sizeof(*entry->value));
    entry->bytes = sizeof(*entry) + field_count * sizeof(*entry->value);
    sao_pq_file *file = NULL;
    const sao_pq_column_data *ts;
    int rc = sao_offline_open(&file, SAO_VIEW_OHLCV, ticker);
    if (rc || (rc = read_timestamps(&ts, file, ticker))) goto done;
    entry->rows = ts->count;
    entry->day = sao_malloc((entry->rows ? entry->rows : 1) * sizeof(*entry->day));
    for (size_t r = 0; r < entry->rows; r++) entry->day[r] = row_day(ts, r);
    entry->bytes += entry->rows * sizeof(*entry->day);
    int technical = 0;
    for (size_t i = 0; i < field_count && !rc; i++) {
        technical |= fields[i].technical;
        if (!fields[i].technical)
            rc = read_values(&entry->value[i], &entry->bytes, file, fields[i].name, entry->rows,
                             NULL);
    }
    sao_parquet_close(file);
    file = NULL;
    if (!rc && technical && entry->rows) load_technical(entry, ticker, fields);
    if (!rc) format_values(entry);
done:
    sao_parquet_close(file);
    if (rc) {
        entry_free(entry);
        return rc;
    }
    *out = entry;
    return 0;
}

/* The ticker's history as its files are now: from the cache while they are the files decoded,
 * else decoded and kept (the least recently used tickers make room). *out is held until
 * history_release. SAO_ENOENT when the ticker has no bars. */
static int history_acquire(history_entry **out, sao_api_history_cache *cache, const char *ticker,
                           const history_field *fields, size_t field_count)
{
    char bars_path[4096], technical_path[4096];
    file_version bars, technical;
    int rc = sao_offline_path(bars_path, sizeof(bars_path), SAO_VIEW_OHLCV, ticker);
    if (!rc)
        rc = sao_offline_path(technical_path, sizeof(technical_path), SAO_VIEW_TECHNICAL, ticker);
    if (!rc) rc = version_of(&bars, bars_path);
    if (!rc) rc = version_of(&technical, technical_path);
    if (rc) return rc;
    if (!bars.present)
        return sao_error_set(SAO_ENOENT, "%s has no %s data (run: sao ingest %s)", ticker,
                             SAO_VIEW_OHLCV, ticker);

    pthread_mutex_lock(&cache->lock);
    history_entry *kept = cache->first;
    while (kept && strcmp(kept->ticker, ticker) != 0) kept = kept->next;
    if (kept && kept->field_count == field_count && same_version(&kept->bars_version, &bars) &&
        same_version(&kept->technical_version, &technical)) {
        kept->refs++;
        list_remove(cache, kept); /* most recently used first */
        list_push_first(cache, kept);
        pthread_mutex_unlock(&cache->lock);
        *out = kept;
        return 0;
    }
    pthread_mutex_unlock(&cache->lock);

    /* Decoded outside the lock. The versions were taken before reading: a file replaced
     * meanwhile is decoded newer than its key says and the next request decodes it again,
     * never the reverse. */
    history_entry *entry;
    if ((rc = history_load(&entry, ticker, fields, field_count))) return rc;
    entry->bars_version = bars;
    entry->technical_version = technical;
    entry->refs = 1;

    history_entry *dropped[HISTORY_CACHE_TICKERS + 1];
    size_t dropped_count = 0;
    pthread_mutex_lock(&cache->lock);
    history_entry *old = cache->first;
    while (old && strcmp(old->ticker, ticker) != 0) old = old->next;
    if (old && (old = entry_drop(cache, old))) dropped[dropped_count++] = old;
    if (entry->bytes <= HISTORY_CACHE_BYTES) { /* else used by this request only */
        entry->refs++;
        cache->count++;
        cache->bytes += entry->bytes;
        list_push_first(cache, entry);
        dropped_count += shrink_to_bounds(cache, dropped + dropped_count);
    }
    pthread_mutex_unlock(&cache->lock);
    for (size_t i = 0; i < dropped_count; i++) entry_free(dropped[i]);
    *out = entry;
    return 0;
}

/* ---- kept answers ---- */

/* The parameters that decide an answer, as text: the ticker and its files are the entry's. */
static char *body_key(sao_arena *arena, int64_t from, int64_t to, long limit,
                      const size_t *selected, size_t count)
{
    char *key = sao_arena_alloc(arena, 64 + count * 4);
    int n = snprintf(key, 64, "%lld %lld %ld :", (long long)from, (long long)to, limit);
    char *p = key + n;
    for (size_t i = 0; i < count; i++) {
        size_t v = selected[i]; /* < HISTORY_MAX_FIELDS: 3 digits */
        *p++ = ' ';
        if (v >= 100) *p++ = (char)('0' + v / 100);
        if (v >= 10) *p++ = (char)('0' + v / 10 % 10);
        *p++ = (char)('0' + v % 10);
    }
    *p = '\0';
    return key;
}

/* A kept answer for `key`, with a reference for the caller; NULL when there is none. */
static history_body *body_find(sao_api_history_cache *cache, history_entry *entry, const char *key)
{
    history_body *found = NULL;
    pthread_mutex_lock(&cache->lock);
    for (size_t i = 0; i < HISTORY_BODIES; i++) {
        body_slot *slot = &entry->bodies[i];
        if (slot->key && strcmp(slot->key, key) == 0) {
            slot->used = ++entry->clock;
            found = slot->body;
            atomic_fetch_add(&found->refs, 1);
            break;
        }
    }
    pthread_mutex_unlock(&cache->lock);
    return found;
}

/* Keeps a copy of an answer in the entry while it is in the cache, in place of the least
 * recently served one; the cache then drops its oldest tickers if it went over its bytes.
 * Returns the copy with a reference for the caller, or NULL when nothing was kept. */
static history_body *body_keep(sao_api_history_cache *cache, history_entry *entry, const char *key,
                               const char *data, size_t len)
{
    if (len > HISTORY_BODY_MAX) return NULL;
    history_body *body = sao_malloc(sizeof(*body) + len + 1);
    atomic_init(&body->refs, 2); /* the slot's and the caller's */
    body->len = len;
    memcpy(body->data, data, len);
    body->data[len] = '\0';
    char *key_copy = sao_strdup(key);
    const size_t bytes = sizeof(*body) + len + strlen(key) + 1;

    history_entry *dropped[HISTORY_CACHE_TICKERS + 1];
    size_t dropped_count = 0;
    char *old_key = NULL;
    history_body *old_body = NULL;
    pthread_mutex_lock(&cache->lock);
    int kept = entry->listed;
    if (kept) {
        body_slot *slot = &entry->bodies[0];
        for (size_t i = 0; i < HISTORY_BODIES; i++) {
            body_slot *s = &entry->bodies[i];
            if (s->key && strcmp(s->key, key) == 0) { /* made twice at once: keep the newer */
                slot = s;
                break;
            }
            if (!s->key || (slot->key && s->used < slot->used)) slot = s;
        }
        if (slot->key) {
            const size_t old_bytes = sizeof(*slot->body) + slot->body->len + strlen(slot->key) + 1;
            entry->bytes -= old_bytes;
            cache->bytes -= old_bytes;
        }
        old_key = slot->key;
        old_body = slot->body;
        slot->key = key_copy;
        slot->body = body;
        slot->used = ++entry->clock;
        entry->bytes += bytes;
        cache->bytes += bytes;
        dropped_count += shrink_to_bounds(cache, dropped + dropped_count);
    }
    pthread_mutex_unlock(&cache->lock);
    sao_free(old_key);
    if (old_body) body_release(old_body);
    for (size_t i = 0; i < dropped_count; i++) entry_free(dropped[i]);
    if (!kept) {
        sao_free(key_copy);
        sao_free(body);
        return NULL;
    }
    return body;
}

static void respond_body(sao_api_response *res, history_body *body)
{
    res->status = 200;
    res->content_type = NULL;
    res->body = body->data;
    res->body_len = body->len;
    res->body_release = body_release;
    res->body_release_cls = body;
}

/* ---- the route ---- */

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

/* First row whose day is >= day (rows are sorted by day). */
static size_t lower_bound_day(const int64_t *days, size_t count, int64_t day)
{
    size_t lo = 0, hi = count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (days[mid] < day)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Room for a date's text: YYYY-MM-DD, or the longer text of a year past 9999. */
#define DATE_TEXT_MAX 24
/* A field's `,"name":` is copied with one copy of this size when it fits. */
#define PREFIX_COPY 32

/* Writes a day as sao_date_format does (YYYY-MM-DD); returns the end. */
static char *write_date(char *p, int64_t day)
{
    int year, month, mday;
    sao_civil_from_days(day, &year, &month, &mday);
    if (year < 0 || year > 9999) {
        char text[DATE_TEXT_MAX];
        sao_date_format(day, text, sizeof(text));
        size_t len = strlen(text);
        memcpy(p, text, len);
        return p + len;
    }
    p[0] = (char)('0' + year / 1000);
    p[1] = (char)('0' + year / 100 % 10);
    p[2] = (char)('0' + year / 10 % 10);
    p[3] = (char)('0' + year % 10);
    p[4] = '-';
    p[5] = (char)('0' + month / 10);
    p[6] = (char)('0' + month % 10);
    p[7] = '-';
    p[8] = (char)('0' + mday / 10);
    p[9] = (char)('0' + mday % 10);
    return p + 10;
}

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

    history_entry *entry = NULL;
    sao_buf out;
    sao_buf_init(&out, HISTORY_MAX_BYTES);
    int rc = history_acquire(&entry, api->history_cache, ticker, valid, valid_count);
    if (rc == SAO_ENOENT) {
        unknown_ticker(res, req, ticker);
        goto done;
    }
    if (rc) goto fail;
    size_t lo = from == INT64_MIN ? 0 : lower_bound_day(entry->day, entry->rows, from);
    size_t hi = to == INT64_MAX ? entry->rows : lower_bound_day(entry->day, entry->rows, to + 1);
    size_t total = hi > lo ? hi - lo : 0;
    size_t count = total < (size_t)limit ? total : (size_t)limit;
    for (size_t i = 0; i < selected_count && count && !rc; i++) {
        if (valid[selected[i]].technical && entry->technical_rc)
            rc = sao_error_set(entry->technical_rc, "%s", entry->technical_error);
    }
    if (rc) goto fail;

    const char *key = body_key(req->arena, from, to, limit, selected, selected_count);
    history_body *kept = body_find(api->history_cache, entry, key);
    if (kept) {
        respond_body(res, kept);
        goto done;
    }

    char day_text[DATE_TEXT_MAX];
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
        sao_date_format(entry->day[lo + count], day_text, sizeof(day_text));
        rc = sao_buf_appendf(&out, "\"%s\"", day_text);
    } else if (!rc) {
        rc = sao_buf_append(&out, "null", 4);
    }
    if (!rc) rc = sao_buf_append(&out, ",\"rows\":[", 9);
    if (rc) goto fail;

    /* Each field's `,"name":` once, with room after it for copies of a fixed size (a few
     * vector moves, where a copy of its length would be a library call); and a row's text at
     * most: its date, and every field's name and value at their longest. */
    const char **prefix = sao_arena_alloc(req->arena, (selected_count + 1) * sizeof(*prefix));
    size_t *prefix_len = sao_arena_alloc(req->arena, (selected_count + 1) * sizeof(*prefix_len));
    const char **column = sao_arena_alloc(req->arena, (selected_count + 1) * sizeof(*column));
    const uint32_t **column_offset =
        sao_arena_alloc(req->arena, (selected_count + 1) * sizeof(*column_offset));
    size_t row_max = sizeof(",{\"date\":\"\"}") + DATE_TEXT_MAX;
    for (size_t i = 0; i < selected_count; i++) {
        const char *name = valid[selected[i]].name;
        size_t len = strlen(name);
        char *text = sao_arena_alloc(req->arena, len + 4 + PREFIX_COPY);
        memset(text, 0, len + 4 + PREFIX_COPY);
        text[0] = ',';
        text[1] = '"';
        memcpy(text + 2, name, len);
        text[len + 2] = '"';
        text[len + 3] = ':';
        prefix[i] = text;
        prefix_len[i] = len + 4;
        column[i] = entry->text[selected[i]];
        column_offset[i] = entry->offset[selected[i]];
        row_max += prefix_len[i] + PREFIX_COPY + SAO_DOUBLE_TEXT_MAX;
    }
    /* Room for every row at its longest (address space, not memory, beyond what is written),
     * then each row written in place. */
    size_t room = count * row_max, left = HISTORY_MAX_BYTES - out.len;
    rc = sao_buf_reserve(&out, room < left ? room : left);
    for (size_t r = 0; r < count && !rc; r++) {
        if ((rc = sao_buf_reserve(&out, row_max))) break;
        char *p = out.data + out.len;
        if (r) *p++ = ',';
        memcpy(p, "{\"date\":\"", 9);
        p = write_date(p + 9, entry->day[lo + r]);
        *p++ = '"';
        for (size_t i = 0; i < selected_count; i++) {
            if (prefix_len[i] <= PREFIX_COPY)
                memcpy(p, prefix[i], PREFIX_COPY);
            else
                memcpy(p, prefix[i], prefix_len[i]);
            p += prefix_len[i];
            if (column[i]) {
                const uint32_t begin = column_offset[i][lo + r], end = column_offset[i][lo + r + 1];
                memcpy(p, column[i] + begin, end - begin);
                p += end - begin;
            } else {
                memcpy(p, "null", 4);
                p += 4;
            }
        }
        *p++ = '}';
        out.len = (size_t)(p - out.data);
        out.data[out.len] = '\0';
    }
    if (!rc) rc = sao_buf_append(&out, "]}", 2);
    if (rc) goto fail;
    if ((kept = body_keep(api->history_cache, entry, key, out.data, out.len))) {
        respond_body(res, kept);
        goto done;
    }
    res->status = 200;
    res->content_type = NULL;
    res->body = sao_buf_detach(&out, &res->body_len);
    goto done;

fail:
    sao_api__fail(res, req, api, rc, 0);
done:
    sao_buf_dispose(&out);
    history_release(api->history_cache, entry);
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
