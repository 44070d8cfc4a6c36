/*
 * Unit tests for the history route's cache of decoded columns: a hit while the files stay, a new
 * decoding once a file is replaced, indicators aligned with the bars' days, the bound on
 * tickers, entries still readable while a request holds them after eviction or replacement.
 */
#include <unistd.h>

#include "api/handlers_data.c"
#include "test.h"

static const history_field fields[] = {
    {"close", 0},     /* bars */
    {"rsi_14", 1},    /* indicators */
    {"nvt_proxy", 1}, /* a column the files lack: null */
};
#define FIELD_COUNT SAO_ARRAY_LEN(fields)

/* Writes a view's file of a ticker: `rows` days from `first_day`, one double column whose value
 * is base + row. */
static void write_view(const char *view, const char *ticker, const char *column, int64_t first_day,
                       size_t rows, double base, int skip_second)
{
    char path[4096], dir[4096];
    ASSERT_OK(sao_offline_path(path, sizeof(path), view, ticker));
    sao_strlcpy(dir, path, sizeof(dir));
    *strrchr(dir, '/') = '\0';
    ASSERT_OK(sao_mkdir_p(dir));
    int64_t ts[16];
    double values[16];
    size_t n = 0;
    for (size_t r = 0; r < rows; r++) {
        if (skip_second && r == 1) continue; /* a day missing from this view */
        ts[n] = (first_day + (int64_t)r) * SAO_US_PER_DAY;
        values[n] = base + (double)r;
        n++;
    }
    sao_pq_column columns[2] = {{"event_timestamp", SAO_PQ_TIMESTAMP_US, ts, NULL},
                                {column, SAO_PQ_DOUBLE, values, NULL}};
    sao_pq_write_options opts;
    sao_pq_write_options_init(&opts);
    ASSERT_OK(sao_parquet_write(path, columns, 2, n, &opts));
}

static void write_ticker(const char *ticker, size_t rows, double base)
{
    write_view(SAO_VIEW_OHLCV, ticker, "close", 19000, rows, base, 0);
    write_view(SAO_VIEW_TECHNICAL, ticker, "rsi_14", 19000, rows, base + 100, 1);
}

static history_entry *acquire(sao_api_history_cache *cache, const char *ticker)
{
    history_entry *entry = NULL;
    ASSERT_OK(history_acquire(&entry, cache, ticker, fields, FIELD_COUNT));
    return entry;
}

static void test_hit_and_replacement(sao_api_history_cache *cache)
{
    write_ticker("AAA", 3, 10);
    history_entry *first = acquire(cache, "AAA");
    ASSERT_EQ(first->rows, 3);
    ASSERT_EQ(first->day[0], 19000);
    ASSERT_EQ(first->day[2], 19002);
    ASSERT_TRUE(first->value[0][2] == 12);
    /* The indicators follow the bars' days: the day missing from them is null. */
    ASSERT_TRUE(first->value[1][0] == 110 && isnan(first->value[1][1]) &&
                first->value[1][2] == 112);
    ASSERT_TRUE(first->value[2] == NULL);
    ASSERT_EQ(first->technical_rc, 0);

    history_entry *again = acquire(cache, "AAA");
    ASSERT_TRUE(again == first); /* nothing decoded */
    history_release(cache, again);

    /* Re-ingested: the new rows, while the request holding the old entry still reads it. */
    write_ticker("AAA", 5, 20);
    history_entry *second = acquire(cache, "AAA");
    ASSERT_TRUE(second != first);
    ASSERT_EQ(second->rows, 5);
    ASSERT_TRUE(second->value[0][4] == 24 && second->value[1][4] == 124);
    ASSERT_TRUE(first->value[0][2] == 12);
    history_release(cache, first);
    history_release(cache, second);

    /* Only the indicators replaced: decoded again too. */
    history_entry *before = acquire(cache, "AAA");
    history_release(cache, before);
    write_view(SAO_VIEW_TECHNICAL, "AAA", "rsi_14", 19000, 5, 300, 0);
    history_entry *after = acquire(cache, "AAA");
    ASSERT_TRUE(after->value[1][1] == 301);
    history_release(cache, after);
}

static void test_missing_and_broken_views(sao_api_history_cache *cache)
{
    history_entry *entry = NULL;
    ASSERT_EQ(history_acquire(&entry, cache, "NONE", fields, FIELD_COUNT), SAO_ENOENT);
    ASSERT_TRUE(entry == NULL);

    /* Bars without indicators: their fields are null. */
    write_view(SAO_VIEW_OHLCV, "BARS", "close", 19000, 4, 1, 0);
    entry = acquire(cache, "BARS");
    ASSERT_EQ(entry->rows, 4);
    ASSERT_TRUE(entry->value[1] == NULL && entry->technical_rc == 0);
    history_release(cache, entry);

    /* A damaged indicator file spoils the indicator fields only. */
    char path[4096];
    ASSERT_OK(sao_offline_path(path, sizeof(path), SAO_VIEW_TECHNICAL, "BARS"));
    ASSERT_OK(sao_file_write_atomic(path, "not parquet", 11));
    entry = acquire(cache, "BARS");
    ASSERT_TRUE(entry->technical_rc != 0 && entry->technical_error);
    ASSERT_TRUE(entry->value[0][3] == 4);
    history_release(cache, entry);
}

static void test_bound_and_eviction(sao_api_history_cache *cache)
{
    char ticker[16];
    write_ticker("HELD", 2, 7);
    history_entry *held = acquire(cache, "HELD");
    for (int i = 0; i < HISTORY_CACHE_TICKERS + 2; i++) {
        snprintf(ticker, sizeof(ticker), "T%d", i);
        write_ticker(ticker, 3, i);
        history_release(cache, acquire(cache, ticker));
        ASSERT_TRUE(cache->count <= HISTORY_CACHE_TICKERS);
    }
    ASSERT_EQ(cache->count, HISTORY_CACHE_TICKERS);
    size_t bytes = 0;
    for (history_entry *e = cache->first; e; e = e->next) {
        ASSERT_TRUE(strcmp(e->ticker, "HELD") != 0); /* evicted, least recently used */
        bytes += e->bytes;
    }
    ASSERT_EQ(bytes, cache->bytes);
    /* Evicted while held: still whole until released (the sanitizers watch the rest). */
    ASSERT_TRUE(held->rows == 2 && held->value[0][1] == 8);
    history_release(cache, held);

    /* The most recent stay: a hit; the first ones decode again. */
    history_entry *last = acquire(cache, ticker);
    ASSERT_TRUE(last == cache->first);
    history_release(cache, last);
}

int main(void)
{
    char home[4096];
    snprintf(home, sizeof(home), "%s/history_cache_%d", SAO_TEST_TMPDIR, (int)getpid());
    ASSERT_OK(sao_mkdir_p(home));
    setenv("SAO_HOME", home, 1);
    sao_log_set_level(SAO_LOG_OFF);

    sao_api_history_cache *cache = sao_api__history_cache_new();
    test_hit_and_replacement(cache);
    test_missing_and_broken_views(cache);
    test_bound_and_eviction(cache);
    sao_api__history_cache_free(cache);
    printf("history cache: ok\n");
    return 0;
}
