/*
 * inference pipeline: serves forecasts. Serving models are cached per ticker and swapped when
 * the ticker's registry.json changes; input windows come from the online store in one round trip
 * through a small connection pool; forecasts may be cached in Redis per bar and model version.
 */
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "pipelines/pipelines.h"

#define WINDOW_VIEW "model_window"
/* registry.json is stat()ed at most this often per ticker: a promotion shows within 200 ms, and
 * a request in between costs no system call at all. */
#define RELOAD_CHECK_NS INT64_C(200000000)
#define DEFAULT_CONNECTIONS 4
#define DEFAULT_CACHE_TTL_S (7L * 24 * 3600)
/* The first word of every cached forecast: a change of layout changes it, and an entry written
 * by another layout is then a miss, never a misread. */
#define CACHE_MAGIC "sao-forecast-1"
#define CACHE_MAX_BYTES 4096
#define REGISTRY_FILE "registry.json"

/* The raw columns of the window view the default inputs are computed from. */
enum {
    RAW_CLOSE,
    RAW_VOLUME,
    RAW_LOG_RETURN,
    RAW_RSI,
    RAW_MACD_HIST,
    RAW_BB_PCT_B,
    RAW_VOLATILITY,
    RAW_ATR,
    RAW_COUNT
};

static const struct {
    const char *view;
    const char *feature;
} raw_sources[RAW_COUNT] = {
    {SAO_VIEW_OHLCV, "close"},
    {SAO_VIEW_OHLCV, "volume"},
    {SAO_VIEW_TECHNICAL, "log_return_1d"},
    {SAO_VIEW_TECHNICAL, "rsi_14"},
    {SAO_VIEW_TECHNICAL, "macd_hist"},
    {SAO_VIEW_TECHNICAL, "bb_pct_b"},
    {SAO_VIEW_TECHNICAL, "volatility_20"},
    {SAO_VIEW_TECHNICAL, "atr_14"},
};

/* ---- the online-store connection pool ---- */

typedef struct conn_pool {
    pthread_mutex_t lock;
    pthread_cond_t available;
    sao_online_config cfg;
    sao_online **conns; /* NULL: not connected yet, or closed after it failed */
    int *idle;          /* indices of connections no request holds */
    int idle_count;
    int size;
} conn_pool;

/* An error of the connection itself (as opposed to an answer about the data): the connection is
 * closed, and the next request that draws its slot connects afresh. */
static int is_connection_error(int rc)
{
    return rc == SAO_ENET || rc == SAO_ETIMEOUT || rc == SAO_EIO;
}

/* Callers see one code for "the online store cannot be reached", whatever the socket said. */
static int unreachable(int rc)
{
    return sao_error_set(SAO_ENET, "online store unreachable (%s): %s", sao_errname(rc),
                         sao_error_last());
}

static void pool_init(conn_pool *pool, const sao_online_config *cfg, int size)
{
    memset(pool, 0, sizeof(*pool));
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->available, NULL);
    pool->cfg = *cfg;
    pool->size = size;
    pool->conns = sao_calloc((size_t)size, sizeof(*pool->conns));
    pool->idle = sao_malloc((size_t)size * sizeof(int));
    for (int i = 0; i < size; i++) pool->idle[i] = i;
    pool->idle_count = size;
}

static void pool_dispose(conn_pool *pool)
{
    for (int i = 0; i < pool->size; i++) sao_online_close(pool->conns[i]);
    sao_free(pool->conns);
    sao_free(pool->idle);
    pthread_cond_destroy(&pool->available);
    pthread_mutex_destroy(&pool->lock);
    volatile char *pw = pool->cfg.password;
    for (size_t i = 0; i < sizeof(pool->cfg.password); i++) pw[i] = 0;
}

static void pool_release(conn_pool *pool, int slot, int broken)
{
    if (broken) {
        sao_online_close(pool->conns[slot]);
        pool->conns[slot] = NULL;
    }
    pthread_mutex_lock(&pool->lock);
    pool->idle[pool->idle_count++] = slot;
    pthread_cond_signal(&pool->available);
    pthread_mutex_unlock(&pool->lock);
}

/* Waits for a free slot and connects it when it has no connection. The slot's connection
 * belongs to the caller until pool_release. SAO_ENET when Redis cannot be reached. */
static int pool_acquire(conn_pool *pool, int *slot_out)
{
    pthread_mutex_lock(&pool->lock);
    while (pool->idle_count == 0) pthread_cond_wait(&pool->available, &pool->lock);
    int slot = pool->idle[--pool->idle_count];
    pthread_mutex_unlock(&pool->lock);
    if (!pool->conns[slot]) {
        int rc = sao_online_connect(&pool->conns[slot], &pool->cfg);
        if (rc) {
            pool_release(pool, slot, 0);
            return unreachable(rc);
        }
    }
    *slot_out = slot;
    return 0;
}

/* ---- serving models ---- */

/* What identifies a version of registry.json: every save renames a new file into place, so the
 * inode changes even when the size and a coarse mtime do not. */
typedef struct file_sig {
    int64_t mtime_ns;
    int64_t size;
    uint64_t inode;
    uint64_t dev;
} file_sig;

static int file_sig_equal(const file_sig *a, const file_sig *b)
{
    return a->mtime_ns == b->mtime_ns && a->size == b->size && a->inode == b->inode &&
           a->dev == b->dev;
}

/* One loaded version. The slot holds a reference and every request using it one more, so a
 * version swapped out stays alive until the last request on it finishes. */
typedef struct model_entry {
    atomic_int refs;
    sao_model_card card;
    pthread_mutex_t lock; /* guards the idle instances */
    sao_model *base;      /* the loaded weights; clones copy them */
    sao_model **idle;     /* instances no prediction is using */
    size_t idle_count, idle_cap;
} model_entry;

/* A ticker the engine has served: its current entry, checked against registry.json. Slots live
 * as long as the engine (one per ticker with a registry, so their number is bounded). */
typedef struct model_slot {
    char ticker[SAO_TICKER_MAX + 1];
    char registry_path[4096];
    pthread_mutex_t lock;
    pthread_cond_t settled; /* a check or load finished */
    model_entry *current;   /* NULL until the first load succeeds */
    file_sig sig;           /* registry.json when `current` was chosen */
    int64_t checked_ns;     /* monotonic time of the last stat */
    int checking;           /* one request is checking or loading; others serve `current` */
} model_slot;

struct sao_inference {
    const sao_fs_repo *repo;
    conn_pool pool;
    int cache;
    long cache_ttl_s;
    char cache_prefix[192];               /* "sao:prediction:<project>:" */
    const char *window_fields[RAW_COUNT]; /* borrowed from the repository */
    pthread_rwlock_t map_lock;            /* guards the table, not the slots' contents */
    model_slot **table;                   /* open addressing, power-of-two capacity */
    size_t table_cap, slot_count;
    atomic_uint_fast64_t predictions, cache_hits, cache_misses, cache_errors, reloads,
        reload_failures;
};

static int64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * INT64_C(1000000000) + ts.tv_nsec;
}

static int stat_registry(file_sig *sig, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) return SAO_ENOENT;
    memset(sig, 0, sizeof(*sig));
    sig->mtime_ns = (int64_t)st.st_mtim.tv_sec * INT64_C(1000000000) + st.st_mtim.tv_nsec;
    sig->size = (int64_t)st.st_size;
    sig->inode = (uint64_t)st.st_ino;
    sig->dev = (uint64_t)st.st_dev;
    return 0;
}

static int no_model(const char *ticker)
{
    return sao_error_set(SAO_ENOENT, "no model for %s: run `sao train %s`", ticker, ticker);
}

static void entry_free(model_entry *e)
{
    if (!e) return;
    for (size_t i = 0; i < e->idle_count; i++)
        if (e->idle[i] != e->base) sao_model_free(e->idle[i]);
    sao_model_free(e->base);
    sao_free(e->idle);
    sao_model_card_dispose(&e->card);
    pthread_mutex_destroy(&e->lock);
    sao_free(e);
}

static void entry_ref(model_entry *e)
{
    atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
}

static void entry_unref(model_entry *e)
{
    if (e && atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) == 1) entry_free(e);
}

/* Whether this engine can run the card: the default inputs in their order, return targets or
 * price targets with their scaling recorded, and a horizon that fits a forecast. */
static int check_card(const sao_model_card *card)
{
    size_t count;
    const char *const *names = sao_train_input_names(&count);
    if (card->model.input_size != (int)count || !card->inputs)
        return sao_error_set(SAO_EUNSUPPORTED,
                             "%s v%d reads %d inputs; this server computes the %zu default ones "
                             "(retrain it with `sao train %s`)",
                             card->ticker, card->version, card->model.input_size, count,
                             card->ticker);
    for (size_t i = 0; i < count; i++) {
        if (strcmp(card->inputs[i].name, names[i]) != 0)
            return sao_error_set(SAO_EUNSUPPORTED,
                                 "%s v%d: input %zu is %s, this server computes %s there "
                                 "(retrain it with `sao train %s`)",
                                 card->ticker, card->version, i, card->inputs[i].name, names[i],
                                 card->ticker);
        if (!isfinite(card->inputs[i].scaler_center) || !isfinite(card->inputs[i].scaler_scale) ||
            card->inputs[i].scaler_scale == 0.0)
            return sao_error_set(SAO_ECORRUPT, "%s v%d: input %s has an unusable scaler (%g, %g)",
                                 card->ticker, card->version, card->inputs[i].name,
                                 card->inputs[i].scaler_center, card->inputs[i].scaler_scale);
    }
    if (strcmp(card->target, "price") == 0) {
        if (!isfinite(card->target_center) || !isfinite(card->target_scale) ||
            card->target_scale == 0.0)
            return sao_error_set(SAO_EUNSUPPORTED,
                                 "%s v%d predicts price targets, but its model.json does not "
                                 "record their scaling (an earlier version wrote it); retrain "
                                 "it with `sao train %s`",
                                 card->ticker, card->version, card->ticker);
    } else if (strcmp(card->target, "return") != 0) {
        return sao_error_set(SAO_EUNSUPPORTED,
                             "%s v%d predicts '%s' targets, which this server "
                             "does not know",
                             card->ticker, card->version, card->target);
    }
    if (card->model.horizon < 1 || card->model.horizon > SAO_FORECAST_MAX_HORIZON)
        return sao_error_set(SAO_EUNSUPPORTED, "%s v%d: horizon %d is outside 1..%d", card->ticker,
                             card->version, card->model.horizon, SAO_FORECAST_MAX_HORIZON);
    if (card->context_length < 1)
        return sao_error_set(SAO_ECORRUPT, "%s v%d: context_length %d", card->ticker, card->version,
                             card->context_length);
    return 0;
}

static int entry_load(model_entry **out, const char *ticker, int version)
{
    model_entry *e = sao_calloc(1, sizeof(*e));
    pthread_mutex_init(&e->lock, NULL);
    atomic_init(&e->refs, 1);
    sao_model_card_init(&e->card);
    int rc = sao_registry_load(&e->base, &e->card, ticker, version);
    if (!rc) rc = check_card(&e->card);
    if (rc) {
        entry_free(e);
        return rc;
    }
    e->idle_cap = 4;
    e->idle = sao_malloc(e->idle_cap * sizeof(*e->idle));
    e->idle[e->idle_count++] = e->base;
    *out = e;
    return 0;
}

/* An instance for one prediction: a sao_model keeps its packed weights and scratch inside, so
 * two predictions never share one. Instances are cloned from the loaded weights on demand, so
 * there are never more than the predictions that ran at once. */
static int instance_take(sao_model **out, model_entry *e)
{
    pthread_mutex_lock(&e->lock);
    if (e->idle_count) {
        *out = e->idle[--e->idle_count];
        pthread_mutex_unlock(&e->lock);
        return 0;
    }
    pthread_mutex_unlock(&e->lock);
    /* Cloning only reads `base`, which another request may be running meanwhile. */
    return sao_model_clone(out, e->base);
}

static void instance_put(model_entry *e, sao_model *m)
{
    pthread_mutex_lock(&e->lock);
    e->idle = sao_grow(e->idle, &e->idle_cap, e->idle_count + 1, sizeof(*e->idle));
    e->idle[e->idle_count++] = m;
    pthread_mutex_unlock(&e->lock);
}

/* Decides what `slot` should serve given registry.json now: `prev` when the file is unchanged or
 * still names prev's version, else the serving version loaded afresh. *next gets a reference. */
static int slot_refresh(sao_inference *inf, model_slot *slot, model_entry *prev,
                        const file_sig *prev_sig, model_entry **next, file_sig *next_sig)
{
    file_sig sig;
    if (stat_registry(&sig, slot->registry_path) != 0) return no_model(slot->ticker);
    if (prev && file_sig_equal(&sig, prev_sig)) {
        entry_ref(prev);
        *next = prev;
        *next_sig = sig;
        return 0;
    }
    int *versions = NULL;
    size_t count;
    int serving = 0;
    int rc = sao_registry_versions(&versions, &count, &serving, slot->ticker);
    sao_free(versions);
    if (rc == SAO_ENOENT) return no_model(slot->ticker);
    if (rc) return rc;
    if (serving == 0)
        return sao_error_set(SAO_ENOENT,
                             "no model for %s: no version serves (promote one, or run `sao train "
                             "%s`)",
                             slot->ticker, slot->ticker);
    /* A save that did not promote changes the file but not the version: nothing to load. */
    if (prev && prev->card.version == serving) {
        entry_ref(prev);
        *next = prev;
        *next_sig = sig;
        return 0;
    }
    model_entry *e = NULL;
    if ((rc = entry_load(&e, slot->ticker, serving))) return rc;
    atomic_fetch_add(&inf->reloads, 1);
    if (prev)
        sao_log(SAO_LOG_INFO, "inference", "%s: serving v%d (was v%d)", slot->ticker, serving,
                prev->card.version);
    else
        sao_log(SAO_LOG_DEBUG, "inference", "%s: loaded v%d", slot->ticker, serving);
    *next = e;
    *next_sig = sig;
    return 0;
}

/* The entry to serve a request with (a reference the caller drops with entry_unref). At most one
 * request per slot checks registry.json at a time; the others keep serving the current entry
 * meanwhile, so a reload never stalls or fails a request. */
static int slot_acquire(sao_inference *inf, model_slot *slot, model_entry **out)
{
    const int64_t now = monotonic_ns();
    pthread_mutex_lock(&slot->lock);
    for (;;) {
        if (slot->current && (slot->checking || now - slot->checked_ns < RELOAD_CHECK_NS)) {
            entry_ref(slot->current);
            *out = slot->current;
            pthread_mutex_unlock(&slot->lock);
            return 0;
        }
        if (!slot->checking) break;
        pthread_cond_wait(&slot->settled, &slot->lock); /* a first load is under way */
    }
    slot->checking = 1;
    slot->checked_ns = now;
    model_entry *prev = slot->current;
    if (prev) entry_ref(prev);
    file_sig prev_sig = slot->sig;
    pthread_mutex_unlock(&slot->lock);

    model_entry *next = NULL;
    file_sig next_sig;
    int rc = slot_refresh(inf, slot, prev, &prev_sig, &next, &next_sig);

    pthread_mutex_lock(&slot->lock);
    slot->checking = 0;
    model_entry *old = NULL;
    if (!rc) {
        if (next != slot->current) {
            old = slot->current;
            slot->current = next; /* the slot keeps the reference slot_refresh took */
        } else {
            old = next; /* the slot holds one already */
        }
        slot->sig = next_sig;
    } else if (slot->current) {
        /* Keep serving the version that works; the next check tries again. */
        atomic_fetch_add(&inf->reload_failures, 1);
        sao_log(SAO_LOG_WARN, "inference", "%s: still serving v%d: %s", slot->ticker,
                slot->current->card.version, sao_error_last());
        rc = 0;
    }
    if (!rc) {
        entry_ref(slot->current);
        *out = slot->current;
    }
    pthread_cond_broadcast(&slot->settled);
    pthread_mutex_unlock(&slot->lock);
    entry_unref(old);
    entry_unref(prev);
    return rc;
}

static size_t ticker_hash(const char *ticker)
{
    size_t h = 14695981039346656037u;
    for (const unsigned char *p = (const unsigned char *)ticker; *p; p++)
        h = (h ^ *p) * 1099511628211u; /* FNV-1a */
    return h;
}

static model_slot *table_find(const sao_inference *inf, const char *ticker)
{
    if (!inf->table_cap) return NULL;
    size_t mask = inf->table_cap - 1;
    for (size_t i = ticker_hash(ticker) & mask;; i = (i + 1) & mask) {
        model_slot *s = inf->table[i];
        if (!s) return NULL;
        if (strcmp(s->ticker, ticker) == 0) return s;
    }
}

static void table_put(model_slot **table, size_t cap, model_slot *slot)
{
    size_t mask = cap - 1;
    size_t i = ticker_hash(slot->ticker) & mask;
    while (table[i]) i = (i + 1) & mask;
    table[i] = slot;
}

static int slot_new(model_slot **out, const char *ticker)
{
    model_slot *s = sao_calloc(1, sizeof(*s));
    sao_strlcpy(s->ticker, ticker, sizeof(s->ticker));
    char dir[4096];
    int rc = sao_registry_path(dir, sizeof(dir), ticker, 0);
    if (!rc && (size_t)snprintf(s->registry_path, sizeof(s->registry_path), "%s/%s", dir,
                                REGISTRY_FILE) >= sizeof(s->registry_path))
        rc = sao_error_set(SAO_ERANGE, "%s: registry path too long", ticker);
    if (rc) {
        sao_free(s);
        return rc;
    }
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->settled, NULL);
    *out = s;
    return 0;
}

static void slot_free(model_slot *s)
{
    if (!s) return;
    entry_unref(s->current);
    pthread_cond_destroy(&s->settled);
    pthread_mutex_destroy(&s->lock);
    sao_free(s);
}

/* The ticker's slot, created on first use. A ticker without registry.json gets none, so
 * requests for unknown tickers cannot grow the table. */
static int slot_get(model_slot **out, sao_inference *inf, const char *ticker)
{
    pthread_rwlock_rdlock(&inf->map_lock);
    model_slot *s = table_find(inf, ticker);
    pthread_rwlock_unlock(&inf->map_lock);
    if (s) {
        *out = s;
        return 0;
    }
    model_slot *fresh = NULL;
    int rc = slot_new(&fresh, ticker);
    if (rc) return rc;
    file_sig sig;
    if (stat_registry(&sig, fresh->registry_path) != 0) {
        slot_free(fresh);
        return no_model(ticker);
    }
    pthread_rwlock_wrlock(&inf->map_lock);
    s = table_find(inf, ticker);
    if (!s) {
        if (2 * (inf->slot_count + 1) > inf->table_cap) {
            size_t cap = inf->table_cap ? inf->table_cap * 2 : 64;
            model_slot **table = sao_calloc(cap, sizeof(*table));
            for (size_t i = 0; i < inf->table_cap; i++)
                if (inf->table[i]) table_put(table, cap, inf->table[i]);
            sao_free(inf->table);
            inf->table = table;
            inf->table_cap = cap;
        }
        table_put(inf->table, inf->table_cap, fresh);
        inf->slot_count++;
        s = fresh;
        fresh = NULL;
    }
    pthread_rwlock_unlock(&inf->map_lock);
    slot_free(fresh); /* another request created it first */
    *out = s;
    return 0;
}

static int model_acquire(model_entry **out, sao_inference *inf, const char *ticker)
{
    model_slot *slot;
    int rc = slot_get(&slot, inf, ticker);
    if (rc) return rc;
    return slot_acquire(inf, slot, out);
}

/* ---- the prediction cache ----
 * One key per ticker, "sao:prediction:<project>:<TICKER>", holding the forecast of one bar by one
 * version: "sao-forecast-1 <version> <as-of event time us> <horizon> <last close> <close>...",
 * numbers as %.17g so they read back exactly. It is read with the window in one round trip and
 * used only when its version is the one serving and its bar is the window's: a new bar or a new
 * version is a miss, and the next forecast overwrites the key. Dates and the drift baseline come
 * from the card and the as-of day, not from the cache. */

static void cache_key(char *buf, size_t size, const sao_inference *inf, const char *ticker)
{
    snprintf(buf, size, "%s%s", inf->cache_prefix, ticker);
}

static int cache_encode(sao_buf *buf, const sao_forecast *fc, int64_t as_of_us)
{
    int rc = sao_buf_appendf(buf, "%s %d %lld %d %.17g", CACHE_MAGIC, fc->model_version,
                             (long long)as_of_us, fc->horizon, fc->last_close);
    for (int k = 0; !rc && k < fc->horizon; k++) rc = sao_buf_appendf(buf, " %.17g", fc->close[k]);
    return rc;
}

static int next_token(const char **p, const char *end, char *tok, size_t size)
{
    while (*p < end && **p == ' ') (*p)++;
    size_t n = 0;
    while (*p < end && **p != ' ') {
        if (n + 1 >= size) return -1;
        tok[n++] = *(*p)++;
    }
    tok[n] = '\0';
    return n ? 0 : -1;
}

/* Fills fc->close and last_close from a cached value when it was written for `version`, the bar
 * `as_of_us` and `horizon`; returns 1 when it was, 0 otherwise (a stale or foreign value). */
static int cache_decode(sao_forecast *fc, const char *text, size_t len, int version,
                        int64_t as_of_us, int horizon, double window_close)
{
    const char *p = text, *end = text + len;
    char tok[64];
    long v, h;
    long long ts;
    double last;
    if (next_token(&p, end, tok, sizeof(tok)) || strcmp(tok, CACHE_MAGIC) != 0) return 0;
    if (next_token(&p, end, tok, sizeof(tok)) || sao_parse_long(tok, &v) || v != version) return 0;
    if (next_token(&p, end, tok, sizeof(tok))) return 0;
    char *stop;
    ts = strtoll(tok, &stop, 10);
    if (*stop || ts != as_of_us) return 0;
    if (next_token(&p, end, tok, sizeof(tok)) || sao_parse_long(tok, &h) || h != horizon) return 0;
    if (next_token(&p, end, tok, sizeof(tok)) || sao_parse_double(tok, strlen(tok), &last) ||
        last != window_close)
        return 0;
    double close[SAO_FORECAST_MAX_HORIZON];
    for (int k = 0; k < horizon; k++)
        if (next_token(&p, end, tok, sizeof(tok)) ||
            sao_parse_double(tok, strlen(tok), &close[k]) || !isfinite(close[k]))
            return 0;
    while (p < end && *p == ' ') p++;
    if (p != end) return 0;
    fc->last_close = last;
    memcpy(fc->close, close, (size_t)horizon * sizeof(double));
    return 1;
}

/* Best effort: a failed write costs the next request a forward pass, never this one its answer. */
static void cache_store(sao_inference *inf, const char *key, const sao_forecast *fc,
                        int64_t as_of_us)
{
    sao_buf buf;
    sao_buf_init(&buf, CACHE_MAX_BYTES);
    int slot;
    int rc = cache_encode(&buf, fc, as_of_us);
    if (!rc && !(rc = pool_acquire(&inf->pool, &slot))) {
        rc = sao_online_set(inf->pool.conns[slot], key, buf.data, buf.len, inf->cache_ttl_s);
        pool_release(&inf->pool, slot, is_connection_error(rc));
    }
    if (rc) {
        atomic_fetch_add(&inf->cache_errors, 1);
        sao_log(SAO_LOG_DEBUG, "inference", "%s: prediction not cached: %s", fc->ticker,
                sao_error_last());
    }
    sao_buf_dispose(&buf);
}

/* ---- forecasting ---- */

/* Dates of the ticker's calendar and the drift baseline, from the as-of bar and the card. */
static void fill_baselines(sao_forecast *fc, const sao_model_card *card)
{
    const double drift = card->eval ? card->eval->drift_return : 0.0;
    for (int k = 0; k < fc->horizon; k++) {
        fc->day[k] = sao_calendar_add_trading_days(fc->asset_class, fc->as_of_day, k + 1);
        fc->drift[k] = card->eval ? fc->last_close * pow(1.0 + drift, k + 1) : fc->last_close;
    }
}

/* The window's lists (values[RAW_*]) to inputs, forward, prices. */
static int run_model(sao_inference *inf, sao_forecast *fc, model_entry *e,
                     const sao_feast_value *values, sao_arena *arena)
{
    const sao_model_card *card = &e->card;
    const size_t context = (size_t)card->context_length;
    const size_t need = context + 1;
    const size_t features = (size_t)card->model.input_size;
    const double *col[RAW_COUNT];
    size_t rows = 0;
    for (int r = 0; r < RAW_COUNT; r++) {
        if (values[r].type != SAO_FEAST_DOUBLE_LIST)
            return sao_error_set(SAO_ENOENT,
                                 "no online features for %s (%s:%s is missing): run `sao apply`, "
                                 "then `sao materialize-incremental`",
                                 fc->ticker, WINDOW_VIEW, inf->window_fields[r]);
        if (r == 0) rows = values[r].as.f64_list.len;
        if (values[r].as.f64_list.len != rows)
            return sao_error_set(SAO_ECORRUPT, "online window of %s: %s holds %zu values, %s %zu",
                                 fc->ticker, inf->window_fields[r], values[r].as.f64_list.len,
                                 inf->window_fields[0], rows);
        col[r] = values[r].as.f64_list.data;
    }
    if (rows < need)
        return sao_error_set(
            SAO_ECORRUPT,
            "online window of %s holds %zu bars, but %s v%d needs %zu (context %zu "
            "plus the bar before it): set context_length of %s to at least %zu "
            "in features.yaml, run `sao apply`, and materialize again (a stored window is "
            "replaced by a newer bar only)",
            fc->ticker, rows, fc->ticker, card->version, need, context, WINDOW_VIEW, need);
    const size_t first = rows - need;
    for (int r = 0; r < RAW_COUNT; r++) col[r] += first;
    const double last = col[RAW_CLOSE][need - 1];
    if (!isfinite(last) || last <= 0.0)
        return sao_error_set(SAO_ECORRUPT, "online window of %s: the last close is %g", fc->ticker,
                             last);

    double *x = sao_arena_alloc(arena, features * need * sizeof(double));
    float *in = sao_arena_alloc(arena, context * features * sizeof(float));
    float *y = sao_arena_alloc(arena, (size_t)card->model.horizon * sizeof(float));
    sao_train_compute_inputs(x, need, col[RAW_CLOSE], col[RAW_VOLUME], col[RAW_LOG_RETURN],
                             col[RAW_RSI], col[RAW_MACD_HIST], col[RAW_BB_PCT_B],
                             col[RAW_VOLATILITY], col[RAW_ATR]);
    /* Row 0 only lends its volume to row 1's log_volume_change; the model sees rows 1..C. */
    for (size_t t = 0; t < context; t++) {
        for (size_t f = 0; f < features; f++) {
            const double v = x[f * need + t + 1];
            const sao_card_input *ci = &card->inputs[f];
            if (!isfinite(v))
                return sao_error_set(SAO_ECORRUPT,
                                     "online window of %s: input %s is not finite %zu bar%s "
                                     "before the as-of bar (a gap or warm-up in the stored data)",
                                     fc->ticker, ci->name, context - 1 - t,
                                     context - 1 - t == 1 ? "" : "s");
            /* As preparation scales: in double, then rounded to the model's float. */
            in[t * features + f] = (float)((v - ci->scaler_center) / ci->scaler_scale);
        }
    }

    sao_model *m = NULL;
    int rc = instance_take(&m, e);
    if (rc) return rc;
    rc = sao_model_predict_one(m, y, in, context);
    instance_put(e, m);
    if (rc) return sao_error_wrap(rc, "%s v%d: ", fc->ticker, card->version);

    fc->last_close = last;
    const int price = strcmp(card->target, "price") == 0; /* as sao_prep_to_prices */
    for (int k = 0; k < fc->horizon; k++) {
        fc->close[k] = price ? (double)y[k] * card->target_scale + card->target_center
                             : last * (1.0 + (double)y[k]);
        if (!isfinite(fc->close[k]))
            return sao_error_set(SAO_ECORRUPT, "%s v%d: output %d is not finite", fc->ticker,
                                 card->version, k);
    }
    return 0;
}

int sao_inference_predict(sao_inference *inf, sao_forecast *out, const char *ticker, int use_cache)
{
    SAO_ASSERT(inf && out);
    const double started = sao_monotonic();
    char name[SAO_TICKER_MAX + 1];
    if (!ticker) return sao_error_set(SAO_EINVAL, "no ticker given");
    int rc = sao_ticker_normalize(name, ticker);
    if (rc) return rc;

    model_entry *e = NULL;
    sao_arena *arena = NULL;
    char *cached = NULL;
    size_t cached_len = 0;
    int cache_status = SAO_ENOENT;
    char key[256];
    sao_forecast fc;
    sao_feast_value values[RAW_COUNT];
    int64_t ts_us = 0;
    const int caching = inf->cache && use_cache;

    if ((rc = model_acquire(&e, inf, name))) return rc;
    atomic_fetch_add(&inf->predictions, 1);
    arena = sao_arena_new(16 * 1024);
    cache_key(key, sizeof(key), inf, name);

    int slot;
    if ((rc = pool_acquire(&inf->pool, &slot))) goto done;
    sao_online *conn = inf->pool.conns[slot];
    if (caching)
        rc = sao_online_read_and_get(conn, WINDOW_VIEW, inf->window_fields, RAW_COUNT, name, values,
                                     &ts_us, arena, key, &cached, &cached_len, &cache_status);
    else
        rc = sao_online_read(conn, WINDOW_VIEW, inf->window_fields, RAW_COUNT, name, values, &ts_us,
                             arena);
    pool_release(&inf->pool, slot, is_connection_error(rc));
    if (rc == SAO_ENOENT) {
        rc = sao_error_set(SAO_ENOENT,
                           "no online features for %s: run `sao materialize-incremental`", name);
        goto done;
    }
    if (rc == SAO_ENET || rc == SAO_ETIMEOUT) rc = unreachable(rc);
    if (rc) goto done;

    const sao_model_card *card = &e->card;
    memset(&fc, 0, sizeof(fc));
    sao_strlcpy(fc.ticker, name, sizeof(fc.ticker));
    fc.asset_class = sao_ticker_asset_class(name);
    /* Event times are UTC midnight of the bar's trading date. */
    fc.as_of_day =
        ts_us >= 0 ? ts_us / SAO_US_PER_DAY : -((-ts_us + SAO_US_PER_DAY - 1) / SAO_US_PER_DAY);
    fc.horizon = card->model.horizon;
    sao_strlcpy(fc.arch, sao_model_arch_name(card->model.arch), sizeof(fc.arch));
    fc.model_version = card->version;
    sao_strlcpy(fc.parent_ticker, card->parent_ticker, sizeof(fc.parent_ticker));

    if (caching) {
        const sao_feast_value *close = &values[RAW_CLOSE];
        double window_close = close->type == SAO_FEAST_DOUBLE_LIST && close->as.f64_list.len
                                  ? close->as.f64_list.data[close->as.f64_list.len - 1]
                                  : NAN;
        if (cache_status == 0 &&
            cache_decode(&fc, cached, cached_len, card->version, ts_us, fc.horizon, window_close)) {
            atomic_fetch_add(&inf->cache_hits, 1);
            fc.cached = 1;
            fill_baselines(&fc, card);
            goto answer;
        }
        if (cache_status == SAO_EIO) atomic_fetch_add(&inf->cache_errors, 1);
        atomic_fetch_add(&inf->cache_misses, 1);
    }
    if ((rc = run_model(inf, &fc, e, values, arena))) goto done;
    fill_baselines(&fc, card);
    if (caching) cache_store(inf, key, &fc, ts_us);
answer:
    fc.seconds = sao_monotonic() - started;
    *out = fc;
done:
    sao_free(cached);
    sao_arena_free(arena);
    entry_unref(e);
    return rc;
}

/* ---- the engine ---- */

void sao_inference_options_init(sao_inference_options *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->connections = DEFAULT_CONNECTIONS;
    opts->cache = 1;
    opts->cache_ttl_s = DEFAULT_CACHE_TTL_S;
}

/* The window view's field holding each raw column, found by its source so that renaming a field
 * in features.yaml needs no change here. */
static int resolve_window(sao_inference *inf, const sao_fs_repo *repo)
{
    const sao_fs_view *view = sao_fs_repo_view(repo, WINDOW_VIEW);
    if (!view || view->kind != SAO_FS_WINDOW)
        return sao_error_set(SAO_EINVAL,
                             "the feature repository has no window view %s (features.yaml)",
                             WINDOW_VIEW);
    for (int r = 0; r < RAW_COUNT; r++) {
        inf->window_fields[r] = NULL;
        for (size_t i = 0; i < view->field_count; i++) {
            const sao_fs_field *f = &view->fields[i];
            if (f->window_view && f->window_feature &&
                strcmp(f->window_view, raw_sources[r].view) == 0 &&
                strcmp(f->window_feature, raw_sources[r].feature) == 0)
                inf->window_fields[r] = f->name;
        }
        if (!inf->window_fields[r])
            return sao_error_set(SAO_EINVAL,
                                 "window view %s has no field from %s:%s, which the model "
                                 "inputs are computed from (features.yaml)",
                                 WINDOW_VIEW, raw_sources[r].view, raw_sources[r].feature);
    }
    return 0;
}

int sao_inference_new(sao_inference **out, const sao_inference_options *opts)
{
    SAO_ASSERT(out && opts);
    if (!opts->repo) return sao_error_set(SAO_EINVAL, "inference: no feature repository");
    if (opts->connections < 0 || opts->connections > 1024)
        return sao_error_set(SAO_EINVAL, "inference: %d connections (0..1024)", opts->connections);
    if (opts->cache_ttl_s < 0)
        return sao_error_set(SAO_EINVAL, "inference: negative cache ttl %ld", opts->cache_ttl_s);
    sao_online_config cfg;
    int rc = sao_fs_online_config(&cfg, opts->repo);
    if (rc) return rc;
    /* The pool reconnects on the next request anyway: one quick retry covers a server that
     * restarted, where a long backoff would only hold a request while Redis is down. */
    if (cfg.retries > 1) cfg.retries = 1;

    sao_inference *inf = sao_calloc(1, sizeof(*inf));
    inf->repo = opts->repo;
    if ((rc = resolve_window(inf, opts->repo))) {
        sao_free(inf);
        return rc;
    }
    inf->cache = opts->cache;
    inf->cache_ttl_s = opts->cache_ttl_s ? opts->cache_ttl_s : DEFAULT_CACHE_TTL_S;
    snprintf(inf->cache_prefix, sizeof(inf->cache_prefix), "sao:prediction:%s:", cfg.project);
    pool_init(&inf->pool, &cfg, opts->connections ? opts->connections : DEFAULT_CONNECTIONS);
    volatile char *pw = cfg.password;
    for (size_t i = 0; i < sizeof(cfg.password); i++) pw[i] = 0;
    pthread_rwlock_init(&inf->map_lock, NULL);
    *out = inf;
    return 0;
}

void sao_inference_free(sao_inference *inf)
{
    if (!inf) return;
    for (size_t i = 0; i < inf->table_cap; i++) slot_free(inf->table[i]);
    sao_free(inf->table);
    pthread_rwlock_destroy(&inf->map_lock);
    pool_dispose(&inf->pool);
    sao_free(inf);
}

int sao_inference_ping(sao_inference *inf)
{
    SAO_ASSERT(inf);
    int slot;
    int rc = pool_acquire(&inf->pool, &slot);
    if (rc) return rc;
    rc = sao_online_ping(inf->pool.conns[slot]);
    pool_release(&inf->pool, slot, rc != 0);
    return rc ? unreachable(rc) : 0;
}

int sao_inference_models(sao_inference_model_info **out, size_t *count, sao_inference *inf)
{
    SAO_ASSERT(out && count && inf);
    pthread_rwlock_rdlock(&inf->map_lock);
    sao_inference_model_info *list =
        sao_calloc(inf->slot_count ? inf->slot_count : 1, sizeof(*list));
    size_t n = 0;
    for (size_t i = 0; i < inf->table_cap; i++) {
        model_slot *s = inf->table[i];
        if (!s) continue;
        pthread_mutex_lock(&s->lock);
        if (s->current) {
            sao_strlcpy(list[n].ticker, s->ticker, sizeof(list[n].ticker));
            list[n].version = s->current->card.version;
            sao_strlcpy(list[n].arch, sao_model_arch_name(s->current->card.model.arch),
                        sizeof(list[n].arch));
            n++;
        }
        pthread_mutex_unlock(&s->lock);
    }
    pthread_rwlock_unlock(&inf->map_lock);
    *out = list;
    *count = n;
    return 0;
}

static int cmp_ticker(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int sao_inference_preload(sao_inference *inf, size_t *loaded)
{
    SAO_ASSERT(inf && loaded);
    char dir[4096];
    int rc = sao_home_path(dir, sizeof(dir), "models");
    if (rc) return rc;
    *loaded = 0;
    DIR *d = opendir(dir);
    if (!d) return 0; /* nothing trained yet */
    char **names = NULL;
    size_t count = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || sao_ticker_validate(de->d_name) != 0) continue;
        names = sao_grow(names, &cap, count + 1, sizeof(*names));
        names[count++] = sao_strdup(de->d_name);
    }
    closedir(d);
    qsort(names, count, sizeof(*names), cmp_ticker);
    for (size_t i = 0; i < count; i++) {
        char ticker[SAO_TICKER_MAX + 1];
        model_entry *e = NULL;
        file_sig sig;
        char path[4200];
        snprintf(path, sizeof(path), "%s/%s/%s", dir, names[i], REGISTRY_FILE);
        /* A folder without a registry is not a model (a crash before the first save). */
        if (stat_registry(&sig, path) != 0) continue;
        /* The registry names folders by the upper-cased ticker; any other folder is not one. */
        if (sao_ticker_normalize(ticker, names[i]) != 0 || strcmp(ticker, names[i]) != 0) continue;
        if (model_acquire(&e, inf, ticker) == 0) {
            entry_unref(e);
            (*loaded)++;
        } else {
            sao_log(SAO_LOG_WARN, "inference", "%s: model not loaded: %s", names[i],
                    sao_error_last());
        }
    }
    for (size_t i = 0; i < count; i++) sao_free(names[i]);
    sao_free(names);
    return 0;
}

void sao_inference_get_stats(sao_inference_stats *out, sao_inference *inf)
{
    SAO_ASSERT(out && inf);
    out->predictions = atomic_load(&inf->predictions);
    out->cache_hits = atomic_load(&inf->cache_hits);
    out->cache_misses = atomic_load(&inf->cache_misses);
    out->cache_errors = atomic_load(&inf->cache_errors);
    out->reloads = atomic_load(&inf->reloads);
    out->reload_failures = atomic_load(&inf->reload_failures);
}
