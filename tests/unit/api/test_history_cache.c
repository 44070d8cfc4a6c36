/*
 * Unit tests for the history route's cache of decoded columns: a hit while the files stay, a new
 * decoding once a file is replaced, indicators aligned with the bars' days, the bound on
 * tickers, entries still readable while a request holds them after eviction or replacement;
 * kept answers: found by their parameters only, the least recently served replaced, counted in
 * the cache's bytes, shared with responses still being sent, and gone with their entry.
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

static size_t slots_used(const history_entry *entry)
{
    size_t n = 0;
    for (size_t i = 0; i < HISTORY_BODIES; i++) n += entry->bodies[i].key != NULL;
    return n;
}

static void test_kept_answers(sao_api_history_cache *cache)
{
    sao_arena *arena = sao_arena_new(4096);
    write_ticker("KEEP", 3, 1);
    history_entry *entry = acquire(cache, "KEEP");
    const size_t all[] = {0, 1, 2}, some[] = {2, 0};
    const char *k_all = body_key(arena, 19000, 19002, 1000, all, 3);
    const char *k_some = body_key(arena, 19000, 19002, 1000, some, 2);
    const char *k_limit = body_key(arena, 19000, 19002, 2, all, 3);
    const char *k_open = body_key(arena, INT64_MIN, INT64_MAX, 1000, all, 3);
    ASSERT_STREQ(k_some, "19000 19002 1000 : 2 0");
    ASSERT_TRUE(strcmp(k_all, k_limit) != 0 && strcmp(k_all, k_open) != 0);
    ASSERT_TRUE(body_find(cache, entry, k_all) == NULL);

    const size_t before = cache->bytes;
    history_body *b = body_keep(cache, entry, k_all, "{\"a\":1}", 7);
    ASSERT_TRUE(b != NULL && b->len == 7 && !strcmp(b->data, "{\"a\":1}"));
    ASSERT_TRUE(cache->bytes > before + 7);
    /* A response holds it: the cache's copy and ours. */
    sao_api_response res;
    memset(&res, 0, sizeof(res));
    respond_body(&res, b);
    ASSERT_TRUE(res.body == b->data && res.body_release_cls == b);
    history_body *again = body_find(cache, entry, k_all);
    ASSERT_TRUE(again == b && atomic_load(&b->refs) == 3);
    body_release(again);
    ASSERT_TRUE(body_find(cache, entry, k_some) == NULL); /* other fields, another answer */

    /* Fill every slot, touch the first, add one more: the least recently served goes. */
    body_release(body_keep(cache, entry, k_some, "{\"b\":2}", 7));
    body_release(body_keep(cache, entry, k_limit, "{\"c\":3}", 7));
    body_release(body_keep(cache, entry, k_open, "{\"d\":4}", 7));
    ASSERT_EQ(slots_used(entry), HISTORY_BODIES);
    body_release(body_find(cache, entry, k_all));
    const char *k_new = body_key(arena, 19001, 19002, 1000, all, 3);
    body_release(body_keep(cache, entry, k_new, "{\"e\":5}", 7));
    ASSERT_EQ(slots_used(entry), HISTORY_BODIES);
    ASSERT_TRUE(body_find(cache, entry, k_some) == NULL); /* the oldest served */
    history_body *still = body_find(cache, entry, k_all);
    ASSERT_TRUE(still == b);
    body_release(still);
    size_t bytes = 0;
    for (history_entry *e = cache->first; e; e = e->next) bytes += e->bytes;
    ASSERT_EQ(bytes, cache->bytes);

    /* Too large to keep: made each time. */
    char *big = sao_malloc(HISTORY_BODY_MAX + 1);
    memset(big, ' ', HISTORY_BODY_MAX + 1);
    ASSERT_TRUE(body_keep(cache, entry, k_some, big, HISTORY_BODY_MAX + 1) == NULL);
    sao_free(big);
    history_release(cache, entry);

    /* New files: a new entry with nothing kept, while the response still sends the old answer. */
    sleep(1); /* a later modification time even on coarse clocks */
    write_ticker("KEEP", 4, 1);
    history_entry *fresh = acquire(cache, "KEEP");
    ASSERT_TRUE(fresh != entry);
    ASSERT_EQ(slots_used(fresh), 0);
    ASSERT_TRUE(body_find(cache, fresh, k_all) == NULL);
    ASSERT_TRUE(!strcmp(res.body, "{\"a\":1}"));
    sao_api__response_dispose(&res); /* the last reference (the sanitizers watch) */
    /* An entry out of the cache keeps nothing. */
    history_entry *out_of_cache = fresh;
    pthread_mutex_lock(&cache->lock);
    history_entry *gone = entry_drop(cache, out_of_cache);
    pthread_mutex_unlock(&cache->lock);
    ASSERT_TRUE(gone == NULL); /* we still hold it */
    ASSERT_TRUE(body_keep(cache, out_of_cache, k_all, "{}", 2) == NULL);
    history_release(cache, out_of_cache);
    sao_arena_free(arena);
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
    test_kept_answers(cache);
    sao_api__history_cache_free(cache);
    printf("history cache: ok\n");
    return 0;
}
