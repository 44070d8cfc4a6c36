/*
 * The Redis online store against a real redis-server on a loopback port: exact round trips, the
 * raw Feast layout, newer-only writes, TTLs, passwords, an unreachable server, and a server
 * killed in the middle of a large write.
 */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "redis_server.h"
#include "store/store.h"
#include "test.h"

#define PROJECT "stock_agent_ops"
#define VIEW "technical_daily"

/* ---- redis-server processes (tests/redis_server.h) ---- */

static long long raw_integer(const sao_test_redis *s, const char *fmt, const void *key, size_t len)
{
    redisContext *c = sao_test_redis_connect(s);
    ASSERT_TRUE(c != NULL);
    redisReply *r = key ? redisCommand(c, fmt, key, len) : redisCommand(c, fmt);
    ASSERT_TRUE(r && r->type == REDIS_REPLY_INTEGER);
    long long v = r->integer;
    freeReplyObject(r);
    redisFree(c);
    return v;
}

static void flushall(const sao_test_redis *s)
{
    redisContext *c = sao_test_redis_connect(s);
    ASSERT_TRUE(c != NULL);
    redisReply *r = redisCommand(c, "FLUSHALL");
    ASSERT_TRUE(r && r->type == REDIS_REPLY_STATUS);
    freeReplyObject(r);
    redisFree(c);
}

/* ---- the online store ---- */

static sao_test_redis plain_server;

static void config_for(sao_online_config *cfg, const sao_test_redis *s)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->host, sizeof(cfg->host), "127.0.0.1");
    cfg->port = s->port;
    sao_strlcpy(cfg->project, PROJECT, sizeof(cfg->project));
    cfg->connect_timeout_ms = 1000;
    cfg->retries = 2;
}

static sao_online *connect_plain(void)
{
    sao_online_config cfg;
    config_for(&cfg, &plain_server);
    sao_online *online = NULL;
    ASSERT_OK(sao_online_connect(&online, &cfg));
    return online;
}

static sao_feast_value dbl(double d)
{
    sao_feast_value v = {.type = SAO_FEAST_DOUBLE};
    v.as.f64 = d;
    return v;
}

static sao_feast_value null_value(void)
{
    sao_feast_value v = {.type = SAO_FEAST_NULL};
    return v;
}

static int same_double(double a, double b)
{
    return !memcmp(&a, &b, sizeof(a));
}

/* 2024-09-12 (a trading day) at UTC midnight, plus some microseconds to test precision. */
static int64_t day_us(int offset_days)
{
    return (sao_days_from_civil(2024, 9, 12) + offset_days) * SAO_US_PER_DAY;
}

static void test_write_read_round_trip(void)
{
    flushall(&plain_server);
    sao_online *online = connect_plain();
    ASSERT_OK(sao_online_ping(online));

    const char *names[] = {"close", "sma_200", "rsi_14", "close_window_60"};
    double window[60];
    for (int i = 0; i < 60; i++) window[i] = 220.0 + 0.37 * i - (i % 5) * 1e-7;
    window[0] = NAN;
    const char *tickers[] = {"AAPL", "BTC-USD", "^GSPC"};
    sao_feast_value values[3][4];
    sao_online_row rows[3];
    for (int t = 0; t < 3; t++) {
        values[t][0] = dbl(222.77 + t);
        values[t][1] = null_value(); /* warm-up: no 200-day average yet */
        values[t][2] = dbl(t == 2 ? -0.0 : 61.234567890123);
        values[t][3].type = SAO_FEAST_DOUBLE_LIST;
        values[t][3].as.f64_list.data = window;
        values[t][3].as.f64_list.len = 60 - (size_t)t;
        rows[t].entity = tickers[t];
        rows[t].event_ts_us = day_us(0) + 123456 * (t + 1); /* sub-second part survives */
        rows[t].values = values[t];
    }
    size_t written = 99;
    ASSERT_OK(sao_online_write(online, VIEW, names, 4, rows, 3, &written));
    ASSERT_EQ(written, 3);

    sao_arena *arena = sao_arena_new(0);
    const char *read_names[] = {"close", "sma_200", "rsi_14", "close_window_60", "never_written"};
    for (int t = 0; t < 3; t++) {
        sao_feast_value got[5];
        int64_t ts = 0;
        ASSERT_OK(sao_online_read(online, VIEW, read_names, 5, tickers[t], got, &ts, arena));
        ASSERT_EQ(ts, rows[t].event_ts_us);
        ASSERT_EQ(got[0].type, SAO_FEAST_DOUBLE);
        ASSERT_TRUE(same_double(got[0].as.f64, values[t][0].as.f64));
        ASSERT_EQ(got[1].type, SAO_FEAST_NULL);
        ASSERT_TRUE(same_double(got[2].as.f64, values[t][2].as.f64));
        ASSERT_EQ(got[3].type, SAO_FEAST_DOUBLE_LIST);
        ASSERT_EQ(got[3].as.f64_list.len, 60 - t);
        for (int i = 0; i < 60 - t; i++)
            ASSERT_TRUE(same_double(got[3].as.f64_list.data[i], window[i]));
        ASSERT_EQ(got[4].type, SAO_FEAST_NULL);
    }
    sao_arena_free(arena);
    sao_online_close(online);
}

/* Feast's bytes, built here by hand from the format's description (not by the code under test):
 * u32 1 key, u32 2 (STRING), u32 6, "ticker", u32 2 (STRING), u32 len, value, then the project. */
static size_t feast_key(uint8_t *out, const char *ticker)
{
    size_t n = 0, len = strlen(ticker);
    const uint8_t head[] = {1, 0,   0,   0,   2,   0,   0,   0, 6, 0, 0,
                            0, 't', 'i', 'c', 'k', 'e', 'r', 2, 0, 0, 0};
    memcpy(out, head, sizeof(head));
    n += sizeof(head);
    for (int i = 0; i < 4; i++) out[n++] = (uint8_t)(len >> (8 * i));
    memcpy(out + n, ticker, len);
    n += len;
    memcpy(out + n, PROJECT, strlen(PROJECT));
    return n + strlen(PROJECT);
}

static void test_raw_feast_layout(void)
{
    flushall(&plain_server);
    sao_online *online = connect_plain();
    const char *names[] = {"close", "volume"};
    sao_feast_value values[] = {dbl(0.5), null_value()};
    /* 2022-01-01T00:00:00.000005Z */
    sao_online_row row = {"NVDA", sao_days_from_civil(2022, 1, 1) * SAO_US_PER_DAY + 5, values};
    size_t written;
    ASSERT_OK(sao_online_write(online, VIEW, names, 2, &row, 1, &written));
    ASSERT_EQ(written, 1);
    sao_online_close(online);

    uint8_t key[128];
    size_t key_len = feast_key(key, "NVDA");
    ASSERT_EQ(raw_integer(&plain_server, "DBSIZE", NULL, 0), 1);
    ASSERT_EQ(raw_integer(&plain_server, "HLEN %b", key, key_len), 3);

    redisContext *c = sao_test_redis_connect(&plain_server);
    redisReply *r = redisCommand(c, "HGETALL %b", key, key_len);
    ASSERT_TRUE(r && r->type == REDIS_REPLY_ARRAY && r->elements == 6);
    int seen = 0;
    for (size_t i = 0; i < r->elements; i += 2) {
        const redisReply *f = r->element[i], *v = r->element[i + 1];
        uint32_t h_close = sao_murmur3_32(VIEW ":close", strlen(VIEW ":close"), 0);
        uint32_t h_volume = sao_murmur3_32(VIEW ":volume", strlen(VIEW ":volume"), 0);
        uint8_t le_close[4] = {(uint8_t)h_close, (uint8_t)(h_close >> 8), (uint8_t)(h_close >> 16),
                               (uint8_t)(h_close >> 24)};
        uint8_t le_volume[4] = {(uint8_t)h_volume, (uint8_t)(h_volume >> 8),
                                (uint8_t)(h_volume >> 16), (uint8_t)(h_volume >> 24)};
        if (f->len == 4 && !memcmp(f->str, le_close, 4)) {
            /* double_val = 0.5: tag 0x29, little-endian IEEE 754 */
            ASSERT_EQ(v->len, 9);
            ASSERT_TRUE(!memcmp(v->str, "\x29\0\0\0\0\0\0\xe0\x3f", 9));
            seen |= 1;
        } else if (f->len == 4 && !memcmp(f->str, le_volume, 4)) {
            ASSERT_EQ(v->len, 0); /* null: an empty Value */
            seen |= 2;
        } else if (f->len == strlen("_ts:" VIEW) && !memcmp(f->str, "_ts:" VIEW, f->len)) {
            /* Timestamp{1640995200, 5000}: the vector's seconds plus our microseconds */
            ASSERT_EQ(v->len, 9);
            ASSERT_TRUE(!memcmp(v->str, "\x08\x80\xb3\xbe\x8e\x06\x10\x88\x27", 9));
            seen |= 4;
        } else {
            fprintf(stderr, "unexpected field of %zu bytes\n", f->len);
            exit(1);
        }
    }
    ASSERT_EQ(seen, 7);
    freeReplyObject(r);
    redisFree(c);
}

static double read_close(sao_online *online, const char *ticker, int64_t *ts)
{
    const char *names[] = {"close"};
    sao_feast_value got;
    sao_arena *arena = sao_arena_new(0);
    ASSERT_OK(sao_online_read(online, VIEW, names, 1, ticker, &got, ts, arena));
    ASSERT_EQ(got.type, SAO_FEAST_DOUBLE);
    double v = got.as.f64;
    sao_arena_free(arena);
    return v;
}

static void write_close(sao_online *online, const char *ticker, int64_t ts, double close_value,
                        size_t expect_written)
{
    const char *names[] = {"close"};
    sao_feast_value v = dbl(close_value);
    sao_online_row row = {ticker, ts, &v};
    size_t written = 99;
    ASSERT_OK(sao_online_write(online, VIEW, names, 1, &row, 1, &written));
    ASSERT_EQ(written, expect_written);
}

static void test_only_newer_rows_overwrite(void)
{
    flushall(&plain_server);
    sao_online *online = connect_plain();
    int64_t ts;
    write_close(online, "MSFT", day_us(0), 1.0, 1);
    write_close(online, "MSFT", day_us(-1), 2.0, 0); /* older */
    ASSERT_TRUE(read_close(online, "MSFT", &ts) == 1.0);
    write_close(online, "MSFT", day_us(0), 3.0, 0); /* equal */
    ASSERT_TRUE(read_close(online, "MSFT", &ts) == 1.0);
    write_close(online, "MSFT", day_us(0) + 1, 4.0, 1); /* one microsecond newer */
    ASSERT_TRUE(read_close(online, "MSFT", &ts) == 4.0);
    ASSERT_EQ(ts, day_us(0) + 1);

    /* Within one call the newest row of an entity wins, wherever it stands in the batch. */
    const char *names[] = {"close"};
    sao_feast_value v[4] = {dbl(5.0), dbl(6.0), dbl(7.0), dbl(8.0)};
    sao_online_row rows[4] = {{"MSFT", day_us(10), &v[0]},
                              {"MSFT", day_us(20), &v[1]},
                              {"GOOGL", day_us(3), &v[2]},
                              {"MSFT", day_us(15), &v[3]}};
    size_t written;
    ASSERT_OK(sao_online_write(online, VIEW, names, 1, rows, 4, &written));
    ASSERT_EQ(written, 2);
    ASSERT_TRUE(read_close(online, "MSFT", &ts) == 6.0);
    ASSERT_EQ(ts, day_us(20));
    ASSERT_TRUE(read_close(online, "GOOGL", &ts) == 7.0);

    /* A row written by Feast itself (whole seconds, no nanos) compares the same way. */
    uint8_t key[128];
    size_t key_len = feast_key(key, "IBM");
    int64_t seconds = day_us(0) / 1000000;
    uint8_t stamp[16] = {0x08};
    size_t stamp_len = 1;
    for (uint64_t s = (uint64_t)seconds;; s >>= 7) {
        stamp[stamp_len++] = (uint8_t)(s >= 0x80 ? (s & 0x7f) | 0x80 : s);
        if (s < 0x80) break;
    }
    uint8_t field[4];
    sao_feast_field(field, VIEW, "close");
    redisContext *c = sao_test_redis_connect(&plain_server);
    redisReply *r =
        redisCommand(c, "HSET %b %b %b %s %b", key, key_len, field, (size_t)4,
                     "\x29\0\0\0\0\0\0\xf0\x3f", (size_t)9, "_ts:" VIEW, stamp, stamp_len);
    ASSERT_TRUE(r && r->type == REDIS_REPLY_INTEGER);
    freeReplyObject(r);
    redisFree(c);
    ASSERT_TRUE(read_close(online, "IBM", &ts) == 1.0);
    ASSERT_EQ(ts, day_us(0));
    write_close(online, "IBM", day_us(0), 2.0, 0);
    write_close(online, "IBM", day_us(0) + 500000, 3.0, 1);
    ASSERT_TRUE(read_close(online, "IBM", &ts) == 3.0);
    sao_online_close(online);
}

static void test_key_ttl(void)
{
    flushall(&plain_server);
    sao_online_config cfg;
    config_for(&cfg, &plain_server);
    cfg.key_ttl_seconds = 3600;
    sao_online *online = NULL;
    ASSERT_OK(sao_online_connect(&online, &cfg));
    write_close(online, "AMZN", day_us(0), 1.0, 1);
    sao_online_close(online);
    online = connect_plain();
    write_close(online, "TSLA", day_us(0), 1.0, 1);
    sao_online_close(online);

    uint8_t key[128];
    size_t len = feast_key(key, "AMZN");
    long long ttl = raw_integer(&plain_server, "TTL %b", key, len);
    ASSERT_TRUE(ttl > 3500 && ttl <= 3600);
    len = feast_key(key, "TSLA");
    ASSERT_EQ(raw_integer(&plain_server, "TTL %b", key, len), -1);
}

static void test_missing_entity(void)
{
    flushall(&plain_server);
    sao_online *online = connect_plain();
    write_close(online, "META", day_us(0), 1.0, 1);
    const char *names[] = {"close"};
    sao_feast_value got = dbl(42.0);
    int64_t ts = 7;
    sao_arena *arena = sao_arena_new(0);
    ASSERT_EQ(sao_online_read(online, VIEW, names, 1, "NOPE", &got, &ts, arena), SAO_ENOENT);
    ASSERT_CONTAINS(sao_error_last(), "NOPE");
    /* the entity exists, but not in this view */
    ASSERT_EQ(sao_online_read(online, "ohlcv_daily", names, 1, "META", &got, &ts, arena),
              SAO_ENOENT);
    ASSERT_TRUE(got.as.f64 == 42.0 && ts == 7); /* outputs untouched */
    sao_arena_free(arena);
    sao_online_close(online);
}

/* Keys in database `db` of the server, read over TCP. */
static long long keys_in_db(const sao_test_redis *s, int db)
{
    redisContext *c = sao_test_redis_connect(s);
    ASSERT_TRUE(c != NULL);
    redisReply *r = redisCommand(c, "SELECT %d", db);
    ASSERT_TRUE(r && r->type == REDIS_REPLY_STATUS);
    freeReplyObject(r);
    r = redisCommand(c, "DBSIZE");
    ASSERT_TRUE(r && r->type == REDIS_REPLY_INTEGER);
    long long n = r->integer;
    freeReplyObject(r);
    redisFree(c);
    return n;
}

/* Starts `s` on a free port; `cfg` for it. */
static void start_on_free_port(sao_test_redis *s, sao_online_config *cfg)
{
    s->port = sao_test_free_port();
    sao_test_redis_start(s, "redis");
    config_for(cfg, s);
}

static void test_passwords(void)
{
    static sao_test_redis secured = {.password = "s3cret-Pa55"};
    sao_online_config cfg;
    start_on_free_port(&secured, &cfg);
    char where[64];
    snprintf(where, sizeof(where), "127.0.0.1:%d", secured.port);

    sao_online *online = NULL;
    sao_strlcpy(cfg.password, "hunter2-wrong", sizeof(cfg.password));
    double started = sao_monotonic();
    ASSERT_EQ(sao_online_connect(&online, &cfg), SAO_EINVAL);
    ASSERT_TRUE(sao_monotonic() - started < 1.0); /* a refused password is not retried */
    ASSERT_CONTAINS(sao_error_last(), "authentication failed");
    ASSERT_CONTAINS(sao_error_last(), "invalid password");
    ASSERT_CONTAINS(sao_error_last(), where);
    ASSERT_TRUE(!strstr(sao_error_last(), "hunter2"));
    ASSERT_TRUE(online == NULL);

    cfg.password[0] = '\0';
    ASSERT_EQ(sao_online_connect(&online, &cfg), SAO_EINVAL);
    ASSERT_CONTAINS(sao_error_last(), "requires a password");

    /* The right password, given as Feast would, with a database number. */
    char conn[128];
    snprintf(conn, sizeof(conn), "127.0.0.1:%d,db=2,password=s3cret-Pa55", secured.port);
    ASSERT_OK(sao_online_parse_connection_string(&cfg, conn));
    ASSERT_OK(sao_online_connect(&online, &cfg));
    write_close(online, "AAPL", day_us(0), 5.5, 1);
    int64_t ts;
    ASSERT_TRUE(read_close(online, "AAPL", &ts) == 5.5);
    sao_online_close(online);

    ASSERT_EQ(keys_in_db(&secured, 2), 1);
    sao_test_redis_stop(&secured, SIGTERM);
}

static void test_unreachable(void)
{
    sao_online_config cfg;
    sao_test_redis nobody = {.port = sao_test_free_port()};
    config_for(&cfg, &nobody);
    cfg.retries = 3;
    sao_online *online = NULL;
    double started = sao_monotonic();
    int rc = sao_online_connect(&online, &cfg);
    double took = sao_monotonic() - started;
    ASSERT_EQ(rc, SAO_ENET);
    char where[64];
    snprintf(where, sizeof(where), "127.0.0.1:%d", nobody.port);
    ASSERT_CONTAINS(sao_error_last(), where);
    ASSERT_CONTAINS(sao_error_last(), "refused");
    ASSERT_CONTAINS(sao_error_last(), "4 attempts");
    ASSERT_TRUE(took > 0.1 && took < 5.0); /* backed off, but not for long */
    ASSERT_TRUE(online == NULL);
}

/* The same store through a Unix socket ("unix:/path"): what `sao up` and the API use. */
static void test_unix_socket(void)
{
    static sao_test_redis local = {.unix_socket = 1};
    sao_online_config cfg;
    start_on_free_port(&local, &cfg);
    char conn[700];
    snprintf(conn, sizeof(conn), "unix:%s/redis.sock,db=1", local.dir);
    ASSERT_OK(sao_online_parse_connection_string(&cfg, conn));
    ASSERT_TRUE(cfg.unix_socket && cfg.db == 1);
    sao_online *online = NULL;
    ASSERT_OK(sao_online_connect(&online, &cfg));
    ASSERT_OK(sao_online_ping(online));
    write_close(online, "MSFT", day_us(3), 7.25, 1);
    int64_t ts;
    ASSERT_TRUE(read_close(online, "MSFT", &ts) == 7.25);
    ASSERT_EQ(ts, day_us(3));
    sao_online_close(online);
    online = NULL;

    ASSERT_EQ(keys_in_db(&local, 1), 1); /* where TCP clients see it too */
    sao_test_redis_stop(&local, SIGTERM);

    /* No socket there: a clear error naming it, after the retries. */
    snprintf(conn, sizeof(conn), "%s/redis.sock", local.dir); /* a bare path works too */
    ASSERT_OK(sao_online_parse_connection_string(&cfg, conn));
    cfg.retries = 1;
    ASSERT_EQ(sao_online_connect(&online, &cfg), SAO_ENET);
    ASSERT_CONTAINS(sao_error_last(), "unix:");
    ASSERT_CONTAINS(sao_error_last(), conn);
    ASSERT_TRUE(online == NULL);
}

/* ---- a server killed during a large write ---- */

#define KILL_ROWS 50000
#define KILL_FEATURES 8

typedef struct big_write {
    sao_online *online;
    const sao_online_row *rows;
    const char *const *names;
    size_t written;
    int rc;
    char message[512];
    volatile int done;
} big_write;

static void *writer_thread(void *arg)
{
    big_write *w = arg;
    w->rc =
        sao_online_write(w->online, VIEW, w->names, KILL_FEATURES, w->rows, KILL_ROWS, &w->written);
    snprintf(w->message, sizeof(w->message), "%s", w->rc ? sao_error_last() : "");
    w->done = 1;
    return NULL;
}

typedef struct big_data {
    char (*tickers)[16];
    sao_feast_value *values;
    sao_online_row *rows;
    const char *names[KILL_FEATURES];
    char name_buf[KILL_FEATURES][16];
} big_data;

static double big_value(size_t row, size_t f)
{
    return (double)row * 1.25 + (double)f / 8.0;
}

static void big_data_init(big_data *d)
{
    d->tickers = sao_malloc(KILL_ROWS * sizeof(*d->tickers));
    d->values = sao_malloc(KILL_ROWS * KILL_FEATURES * sizeof(*d->values));
    d->rows = sao_malloc(KILL_ROWS * sizeof(*d->rows));
    for (size_t f = 0; f < KILL_FEATURES; f++) {
        snprintf(d->name_buf[f], sizeof(d->name_buf[f]), "f%zu", f);
        d->names[f] = d->name_buf[f];
    }
    for (size_t i = 0; i < KILL_ROWS; i++) {
        snprintf(d->tickers[i], sizeof(d->tickers[i]), "T%05zu", i);
        for (size_t f = 0; f < KILL_FEATURES; f++)
            d->values[i * KILL_FEATURES + f] = dbl(big_value(i, f));
        d->rows[i].entity = d->tickers[i];
        d->rows[i].event_ts_us = day_us(0);
        d->rows[i].values = d->values + i * KILL_FEATURES;
    }
}

static void big_data_dispose(big_data *d)
{
    sao_free(d->tickers);
    sao_free(d->values);
    sao_free(d->rows);
}

static void verify_big(sao_online *online, const big_data *d)
{
    sao_arena *arena = sao_arena_new(0);
    for (size_t i = 0; i < KILL_ROWS; i++) {
        sao_feast_value got[KILL_FEATURES];
        int64_t ts;
        ASSERT_OK(
            sao_online_read(online, VIEW, d->names, KILL_FEATURES, d->tickers[i], got, &ts, arena));
        ASSERT_EQ(ts, day_us(0));
        for (size_t f = 0; f < KILL_FEATURES; f++) {
            ASSERT_EQ(got[f].type, SAO_FEAST_DOUBLE);
            ASSERT_TRUE(got[f].as.f64 == big_value(i, f));
        }
        if (i % 1000 == 999) { /* keep the arena small */
            sao_arena_free(arena);
            arena = sao_arena_new(0);
        }
    }
    sao_arena_free(arena);
}

/* Kills the server once the writer is under way, restarts it after `down_ms`, and checks that
 * the writer ends (with an error or having reconnected) and a rerun leaves everything right. */
static void kill_during_write(int retries, int down_ms)
{
    big_data d;
    big_data_init(&d);
    flushall(&plain_server);
    sao_online_config cfg;
    config_for(&cfg, &plain_server);
    cfg.retries = retries;
    big_write w = {.rows = d.rows, .names = d.names};
    ASSERT_OK(sao_online_connect(&w.online, &cfg));

    pthread_t thread;
    ASSERT_EQ(pthread_create(&thread, NULL, writer_thread, &w), 0);
    /* wait until the first rows have landed, then kill without warning */
    redisContext *c = sao_test_redis_connect(&plain_server);
    ASSERT_TRUE(c != NULL);
    long long keys = 0;
    for (int i = 0; i < 20000 && keys < 1000 && !w.done; i++) {
        redisReply *r = redisCommand(c, "DBSIZE");
        ASSERT_TRUE(r != NULL);
        keys = r->integer;
        freeReplyObject(r);
        usleep(200);
    }
    redisFree(c);
    int killed_mid_write = !w.done;
    sao_test_redis_stop(&plain_server, SIGKILL);
    usleep((useconds_t)down_ms * 1000);
    sao_test_redis_start(&plain_server,
                         "redis"); /* same port and folder; nothing was saved, so it is empty */
    pthread_join(thread, NULL);
    printf("  kill after %lld keys (mid-write: %s), retries %d, down %d ms: writer %s%s%s\n", keys,
           killed_mid_write ? "yes" : "no", retries, down_ms, w.rc ? "failed: " : "succeeded",
           w.message, w.rc ? "" : " after reconnecting");
    if (w.rc) {
        ASSERT_TRUE(w.rc == SAO_ENET || w.rc == SAO_ETIMEOUT);
        ASSERT_CONTAINS(w.message, "127.0.0.1");
    }

    /* The rerun on the same handle reconnects and completes; then everything reads back. */
    size_t written = 0;
    ASSERT_OK(
        sao_online_write(w.online, VIEW, d.names, KILL_FEATURES, d.rows, KILL_ROWS, &written));
    ASSERT_EQ(raw_integer(&plain_server, "DBSIZE", NULL, 0), KILL_ROWS);
    verify_big(w.online, &d);
    sao_online_close(w.online);
    big_data_dispose(&d);
}

static void test_kill_server_mid_write(void)
{
    kill_during_write(0, 50);  /* no retries: the write must fail cleanly */
    kill_during_write(4, 300); /* retries outlast the outage: the write may finish */
}

/* A server ignores SIGPIPE and says so: the store drops its per-command guard, and a write to a
 * server killed mid-way still fails cleanly. Refused while SIGPIPE has its default action. Last:
 * the switch is for good. */
static void test_sigpipe_ignored(void)
{
    signal(SIGPIPE, SIG_DFL);
    ASSERT_EQ(sao_online_sigpipe_ignored(), 0);
    signal(SIGPIPE, SIG_IGN);
    ASSERT_EQ(sao_online_sigpipe_ignored(), 1);
    kill_during_write(0, 50);
}

static void test_ping_after_restart(void)
{
    sao_online *online = connect_plain();
    sao_test_redis_stop(&plain_server, SIGKILL);
    ASSERT_TRUE(sao_online_ping(online) != 0);
    sao_test_redis_start(&plain_server, "redis");
    ASSERT_OK(sao_online_ping(online));
    sao_online_close(online);
}

static void setup(void)
{
    static int started;
    if (started) return;
    started = 1;
    sao_log_set_level(SAO_LOG_ERROR);
    plain_server.port = sao_test_free_port();
    sao_test_redis_start(&plain_server, "redis");
}

#define CASE(fn)                                                                                   \
    static void run_##fn(void)                                                                     \
    {                                                                                              \
        setup();                                                                                   \
        fn();                                                                                      \
    }

CASE(test_write_read_round_trip)
CASE(test_raw_feast_layout)
CASE(test_only_newer_rows_overwrite)
CASE(test_key_ttl)
CASE(test_missing_entity)
CASE(test_passwords)
CASE(test_unix_socket)
CASE(test_unreachable)
CASE(test_kill_server_mid_write)
CASE(test_ping_after_restart)
CASE(test_sigpipe_ignored)

SAO_TEST_MAIN({"test_write_read_round_trip", run_test_write_read_round_trip},
              {"test_raw_feast_layout", run_test_raw_feast_layout},
              {"test_only_newer_rows_overwrite", run_test_only_newer_rows_overwrite},
              {"test_key_ttl", run_test_key_ttl}, {"test_missing_entity", run_test_missing_entity},
              {"test_passwords", run_test_passwords}, {"test_unix_socket", run_test_unix_socket},
              {"test_unreachable", run_test_unreachable},
              {"test_kill_server_mid_write", run_test_kill_server_mid_write},
              {"test_ping_after_restart", run_test_ping_after_restart},
              {"test_sigpipe_ignored", run_test_sigpipe_ignored})
