/*
 * The Redis online store in Feast's layout: one hash per entity (serialized entity key + project),
 * one 4-byte MurmurHash3 field per feature, `_ts:<view>` holding the event time. Writes are
 * pipelined in batches and only replace older rows; reads take one HMGET round trip. Plain
 * string keys beside the hashes (the prediction cache) are read in that same round trip.
 */
#include "store.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* The entity of every view is the ticker; Feast's feature_store.yaml must name the same key. */
#define ONLINE_JOIN_KEY "ticker"
/* Rows per pipelined batch: two round trips each, a few hundred kilobytes on the wire. */
#define ONLINE_BATCH_ROWS 1000
#define ONLINE_DEFAULT_PORT 6379
#define ONLINE_DEFAULT_CONNECT_TIMEOUT_MS 2000
#define ONLINE_MIN_IO_TIMEOUT_MS 10000
#define ONLINE_BACKOFF_BASE_MS 100

/* One connection; not safe to share between threads (open one per thread). */
struct sao_online {
    sao_online_config cfg;
    redisContext *ctx;
    unsigned seed;
    char where[300]; /* "host:port" for messages: never the password */
};

/* ---- SIGPIPE ----
 * hiredis writes with write(2), so a peer that went away raises SIGPIPE, whose default action
 * kills the process. A library must not change the process's handlers: block the signal in this
 * thread around I/O and swallow one that our write raised (the libpq way). */

typedef struct sigpipe_guard {
    sigset_t old_mask;
    int was_pending;
    int off; /* the process ignores SIGPIPE: nothing to guard */
} sigpipe_guard;

/* Set by sao_online_sigpipe_ignored: the guard costs four system calls a command. */
static atomic_int sigpipe_ignored;

int sao_online_sigpipe_ignored(void)
{
    struct sigaction sa;
    if (sigaction(SIGPIPE, NULL, &sa) != 0 || sa.sa_handler != SIG_IGN) return 0;
    atomic_store(&sigpipe_ignored, 1);
    return 1;
}

static void sigpipe_block(sigpipe_guard *g)
{
    g->off = atomic_load_explicit(&sigpipe_ignored, memory_order_relaxed);
    if (g->off) return;
    sigset_t pipe_set, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigemptyset(&pending);
    sigpending(&pending);
    g->was_pending = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_set, &g->old_mask);
}

static void sigpipe_restore(sigpipe_guard *g)
{
    if (g->off) return;
    sigset_t pipe_set, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigemptyset(&pending);
    if (!g->was_pending && sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR) {
        }
    }
    pthread_sigmask(SIG_SETMASK, &g->old_mask, NULL);
}

/* ---- connection strings ---- */

static int parse_bool(const char *s, int *out)
{
    if (!strcasecmp(s, "true") || !strcmp(s, "1"))
        *out = 1;
    else if (!strcasecmp(s, "false") || !strcmp(s, "0"))
        *out = 0;
    else
        return -1;
    return 0;
}

static int parse_unix_path(sao_online_config *cfg, const char *tok, size_t len)
{
    const char *path = tok;
    if (len >= 5 && !memcmp(tok, "unix:", 5)) {
        path += 5;
        len -= 5;
    }
    if (len == 0 || path[0] != '/')
        return sao_error_set(SAO_EINVAL,
                             "redis address '%.*s': a Unix socket needs an absolute "
                             "path (unix:/path/redis.sock)",
                             (int)(len + (size_t)(path - tok)), tok);
    if (len > SAO_UNIX_SOCKET_PATH_MAX)
        return sao_error_set(SAO_EINVAL,
                             "redis address: the Unix socket path is %zu bytes, longer than "
                             "the %d a socket address holds",
                             len, SAO_UNIX_SOCKET_PATH_MAX);
    memcpy(cfg->host, path, len);
    cfg->host[len] = '\0';
    cfg->port = 0;
    cfg->unix_socket = 1;
    return 0;
}

static int parse_host_port(sao_online_config *cfg, const char *tok, size_t len)
{
    if ((len >= 5 && !memcmp(tok, "unix:", 5)) || (len && tok[0] == '/'))
        return parse_unix_path(cfg, tok, len);
    cfg->unix_socket = 0;
    const char *host = tok, *port = NULL;
    size_t host_len = len;
    if (len && tok[0] == '[') { /* [IPv6]:port */
        const char *close = memchr(tok, ']', len);
        if (!close) return sao_error_set(SAO_EINVAL, "redis address: missing ']'");
        host = tok + 1;
        host_len = (size_t)(close - host);
        size_t rest = len - (size_t)(close + 1 - tok);
        if (rest) {
            if (close[1] != ':') return sao_error_set(SAO_EINVAL, "redis address: junk after ']'");
            port = close + 2;
        }
    } else {
        const char *colon = NULL;
        for (size_t i = 0; i < len; i++)
            if (tok[i] == ':') colon = tok + i;
        if (colon) {
            host_len = (size_t)(colon - tok);
            port = colon + 1;
        }
    }
    if (host_len == 0) return sao_error_set(SAO_EINVAL, "redis address: empty host");
    for (size_t i = 0; i < host_len; i++)
        if (host[i] == ' ' || host[i] == '\t')
            return sao_error_set(SAO_EINVAL, "redis address '%.*s': space in the host name",
                                 (int)len, tok);
    if (host_len >= sizeof(cfg->host))
        return sao_error_set(SAO_EINVAL, "redis address: host name longer than %zu bytes",
                             sizeof(cfg->host) - 1);
    memcpy(cfg->host, host, host_len);
    cfg->host[host_len] = '\0';

    cfg->port = ONLINE_DEFAULT_PORT;
    if (port) {
        size_t port_len = len - (size_t)(port - tok);
        char buf[16];
        long value;
        if (port_len == 0 || port_len >= sizeof(buf))
            return sao_error_set(SAO_EINVAL, "redis address '%.*s': bad port", (int)len, tok);
        memcpy(buf, port, port_len);
        buf[port_len] = '\0';
        int digits = 1;
        for (size_t i = 0; i < port_len; i++)
            if (buf[i] < '0' || buf[i] > '9') digits = 0;
        if (!digits || sao_parse_long(buf, &value) != 0 || value < 1 || value > 65535)
            return sao_error_set(SAO_EINVAL, "redis address '%.*s': port '%s' is not 1..65535",
                                 (int)len, tok, buf);
        cfg->port = (int)value;
    }
    return 0;
}

/* One `name=value` option. The value may be JSON-quoted, as Feast runs it through json.loads. */
static int parse_option(sao_online_config *cfg, const char *tok, size_t len)
{
    const char *eq = memchr(tok, '=', len);
    size_t name_len = (size_t)(eq - tok);
    const char *value = eq + 1;
    size_t value_len = len - name_len - 1;
    if (value_len >= 2 && value[0] == '"' && value[value_len - 1] == '"') {
        value++;
        value_len -= 2;
    }
    char val[256];
    int is_password = name_len == 8 && !memcmp(tok, "password", 8);
    if (value_len >= sizeof(val)) {
        return sao_error_set(SAO_EINVAL, "redis connection string: %.*s is longer than %zu bytes",
                             (int)name_len, tok, sizeof(val) - 1);
    }
    memcpy(val, value, value_len);
    val[value_len] = '\0';

    if (is_password) {
        sao_strlcpy(cfg->password, val, sizeof(cfg->password));
    } else if (name_len == 2 && !memcmp(tok, "db", 2)) {
        long db;
        if (sao_parse_long(val, &db) != 0 || db < 0 || db > 0x7fffffffL)
            return sao_error_set(SAO_EINVAL,
                                 "redis connection string: db '%s' is not a number >= 0", val);
        cfg->db = (int)db;
    } else if (name_len == 3 && !memcmp(tok, "ssl", 3)) {
        int ssl;
        if (parse_bool(val, &ssl) != 0)
            return sao_error_set(SAO_EINVAL, "redis connection string: ssl '%s' is not true/false",
                                 val);
        if (ssl)
            return sao_error_set(SAO_EUNSUPPORTED,
                                 "redis connection string: ssl=true is not supported (this build's "
                                 "hiredis has no TLS); use a TLS tunnel such as stunnel, or a "
                                 "plain connection on a trusted network");
        cfg->ssl = 0;
    } else if (name_len == 8 && !memcmp(tok, "username", 8)) {
        return sao_error_set(SAO_EUNSUPPORTED,
                             "redis connection string: username (Redis ACL users) is not "
                             "supported; use the default user with password=...");
    } else {
        /* Feast hands other options to redis-py (socket_timeout, ...): they mean nothing here. */
        sao_log(SAO_LOG_WARN, "online", "redis connection string: ignoring option '%.*s'",
                (int)name_len, tok);
    }
    return 0;
}

int sao_online_parse_connection_string(sao_online_config *cfg, const char *conn)
{
    SAO_ASSERT(cfg);
    if (!conn || !*conn) return sao_error_set(SAO_EINVAL, "empty redis connection string");
    sao_online_config parsed = *cfg;
    parsed.db = 0;
    parsed.password[0] = '\0';
    parsed.ssl = 0;
    int have_address = 0;

    const char *p = conn;
    while (1) {
        const char *comma = strchr(p, ',');
        const char *end = comma ? comma : p + strlen(p);
        while (p < end && (*p == ' ' || *p == '\t')) p++;
        const char *tend = end;
        while (tend > p && (tend[-1] == ' ' || tend[-1] == '\t')) tend--;
        size_t len = (size_t)(tend - p);
        if (len) {
            int rc;
            if (memchr(p, '=', len)) {
                rc = parse_option(&parsed, p, len);
            } else if (have_address) {
                rc = sao_error_set(SAO_EUNSUPPORTED,
                                   "redis connection string names several hosts: Redis Cluster "
                                   "is not supported");
            } else {
                rc = parse_host_port(&parsed, p, len);
                have_address = 1;
            }
            if (rc) return rc;
        }
        if (!comma) break;
        p = comma + 1;
    }
    if (!have_address) return sao_error_set(SAO_EINVAL, "redis connection string has no host:port");
    *cfg = parsed;
    return 0;
}

/* ---- connecting ---- */

static struct timeval tv_from_ms(long ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    return tv;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static long connect_timeout_ms(const sao_online *o)
{
    return o->cfg.connect_timeout_ms > 0 ? o->cfg.connect_timeout_ms
                                         : ONLINE_DEFAULT_CONNECT_TIMEOUT_MS;
}

static int io_error_code(const redisContext *ctx)
{
    if (strstr(ctx->errstr, "timed out") || strstr(ctx->errstr, "temporarily unavailable"))
        return SAO_ETIMEOUT;
    return SAO_ENET;
}

/* Runs one command on a fresh connection. On an error reply, `*server_said` holds it. */
static int setup_command(redisContext *ctx, int argc, const char **argv, const size_t *lens,
                         char *server_said, size_t said_size, int *transient)
{
    redisReply *reply = redisCommandArgv(ctx, argc, argv, lens);
    if (!reply) {
        *transient = 1;
        return sao_error_set(io_error_code(ctx), "%s failed: %s", argv[0], ctx->errstr);
    }
    int rc = 0;
    if (reply->type == REDIS_REPLY_ERROR) {
        snprintf(server_said, said_size, "%.*s", (int)(reply->len < 200 ? reply->len : 200),
                 reply->str);
        rc = SAO_EINVAL;
    }
    freeReplyObject(reply);
    return rc;
}

/* One attempt: TCP connect, AUTH, SELECT, PING. *transient says whether trying again may help
 * (refused, timed out, still loading) or not (wrong password, bad db). */
static int connect_once(sao_online *o, redisContext **out, int *transient)
{
    char said[256] = "";
    int rc = 0;
    *transient = 0;
    const struct timeval timeout = tv_from_ms(connect_timeout_ms(o));
    redisContext *ctx = o->cfg.unix_socket
                            ? redisConnectUnixWithTimeout(o->cfg.host, timeout)
                            : redisConnectWithTimeout(o->cfg.host, o->cfg.port, timeout);
    if (!ctx) {
        rc = sao_error_set(SAO_ENOMEM, "cannot allocate a redis connection");
        goto done;
    }
    if (ctx->err) {
        *transient = 1;
        rc = sao_error_set(io_error_code(ctx), "connection failed (%s)", ctx->errstr);
        goto done;
    }
    long io_ms = connect_timeout_ms(o) > ONLINE_MIN_IO_TIMEOUT_MS ? connect_timeout_ms(o)
                                                                  : ONLINE_MIN_IO_TIMEOUT_MS;
    redisSetTimeout(ctx, tv_from_ms(io_ms));
    if (!o->cfg.unix_socket) redisEnableKeepAlive(ctx); /* TCP only: it sets TCP_KEEPIDLE */

    if (o->cfg.password[0]) {
        const char *argv[] = {"AUTH", o->cfg.password};
        size_t lens[] = {4, strlen(o->cfg.password)};
        rc = setup_command(ctx, 2, argv, lens, said, sizeof(said), transient);
        if (rc == SAO_EINVAL) {
            if (strstr(said, "without any password") || strstr(said, "no password"))
                sao_error_set(rc,
                              "authentication failed: a password was given but the server "
                              "has none configured (server said: %s)",
                              said);
            else
                sao_error_set(rc, "authentication failed: invalid password (server said: %s)",
                              said);
        }
        if (rc) goto done;
    }
    if (o->cfg.db) {
        char db[16];
        snprintf(db, sizeof(db), "%d", o->cfg.db);
        const char *argv[] = {"SELECT", db};
        size_t lens[] = {6, strlen(db)};
        rc = setup_command(ctx, 2, argv, lens, said, sizeof(said), transient);
        if (rc == SAO_EINVAL)
            sao_error_set(rc, "SELECT %d failed (server said: %s)", o->cfg.db, said);
        if (rc) goto done;
    }
    {
        const char *argv[] = {"PING"};
        size_t lens[] = {4};
        rc = setup_command(ctx, 1, argv, lens, said, sizeof(said), transient);
        if (rc == SAO_EINVAL) {
            if (!strncmp(said, "NOAUTH", 6)) {
                sao_error_set(rc, "authentication failed: the server requires a password and "
                                  "none was given (add password=... to the connection string)");
            } else if (!strncmp(said, "LOADING", 7)) {
                *transient = 1;
                sao_error_set(SAO_ENET, "server is still loading its data set");
                rc = SAO_ENET;
            } else {
                sao_error_set(rc, "PING failed (server said: %s)", said);
            }
        }
        if (rc) goto done;
    }
    *out = ctx;
    ctx = NULL;

done:
    if (ctx) redisFree(ctx);
    return rc;
}

static int connect_with_retries(sao_online *o)
{
    int attempts = 1 + (o->cfg.retries > 0 ? o->cfg.retries : 0);
    int rc = 0;
    int attempt;
    sigpipe_guard guard;
    sigpipe_block(&guard);
    for (attempt = 1; attempt <= attempts; attempt++) {
        int transient;
        rc = connect_once(o, &o->ctx, &transient);
        if (!rc || !transient) break;
        if (attempt < attempts) {
            long wait = sao_http_backoff_ms(ONLINE_BACKOFF_BASE_MS, attempt, &o->seed);
            sao_log(SAO_LOG_WARN, "online", "redis %s: %s; retrying in %ld ms (attempt %d of %d)",
                    o->where, sao_error_last(), wait, attempt, attempts);
            sleep_ms(wait);
        }
    }
    sigpipe_restore(&guard);
    if (rc) {
        if (attempt > attempts) attempt = attempts;
        sao_error_wrap(rc, "redis at %s: ", o->where);
        if (attempt > 1) {
            char detail[512];
            snprintf(detail, sizeof(detail), "%s (gave up after %d attempts)", sao_error_last(),
                     attempt);
            sao_error_set(rc, "%s", detail);
        }
    }
    return rc;
}

static void drop_connection(sao_online *o)
{
    if (o->ctx) redisFree(o->ctx);
    o->ctx = NULL;
}

int sao_online_connect(sao_online **out, const sao_online_config *cfg)
{
    SAO_ASSERT(out && cfg);
    if (!cfg->host[0]) return sao_error_set(SAO_EINVAL, "redis: no host configured");
    if (cfg->unix_socket && (cfg->host[0] != '/' || strlen(cfg->host) > SAO_UNIX_SOCKET_PATH_MAX))
        return sao_error_set(SAO_EINVAL,
                             "redis: '%s' is not an absolute socket path of at most "
                             "%d bytes",
                             cfg->host, SAO_UNIX_SOCKET_PATH_MAX);
    if (!cfg->unix_socket && (cfg->port < 1 || cfg->port > 65535))
        return sao_error_set(SAO_EINVAL, "redis: port %d is not 1..65535", cfg->port);
    if (cfg->db < 0) return sao_error_set(SAO_EINVAL, "redis: db %d is negative", cfg->db);
    if (cfg->ssl)
        return sao_error_set(SAO_EUNSUPPORTED,
                             "redis: ssl is not supported (this build's hiredis has no TLS)");
    if (!cfg->project[0]) return sao_error_set(SAO_EINVAL, "redis: no Feast project name");
    if (cfg->key_ttl_seconds < 0)
        return sao_error_set(SAO_EINVAL, "redis: key_ttl_seconds %ld is negative",
                             cfg->key_ttl_seconds);

    sao_online *o = sao_calloc(1, sizeof(*o));
    o->cfg = *cfg;
    o->seed = (unsigned)sao_now_us() ^ (unsigned)getpid();
    if (cfg->unix_socket)
        snprintf(o->where, sizeof(o->where), "unix:%s", cfg->host);
    else if (strchr(cfg->host, ':'))
        snprintf(o->where, sizeof(o->where), "[%s]:%d", cfg->host, cfg->port);
    else
        snprintf(o->where, sizeof(o->where), "%s:%d", cfg->host, cfg->port);

    int rc = connect_with_retries(o);
    if (rc) {
        sao_online_close(o);
        return rc;
    }
    *out = o;
    return 0;
}

void sao_online_close(sao_online *online)
{
    if (!online) return;
    drop_connection(online);
    /* The password does not outlive the connection in freed memory. */
    volatile char *pw = online->cfg.password;
    for (size_t i = 0; i < sizeof(online->cfg.password); i++) pw[i] = 0;
    sao_free(online);
}

int sao_online_ping(sao_online *online)
{
    SAO_ASSERT(online);
    int rc = 0;
    sigpipe_guard guard;
    sigpipe_block(&guard);
    for (int pass = 0; pass < 2; pass++) {
        if (!online->ctx) {
            int transient;
            rc = connect_once(online, &online->ctx, &transient);
            if (rc) {
                sao_error_wrap(rc, "redis at %s: ", online->where);
                break;
            }
        }
        redisReply *reply = redisCommand(online->ctx, "PING");
        if (!reply) {
            rc = sao_error_set(io_error_code(online->ctx), "redis at %s: PING failed: %s",
                               online->where, online->ctx->errstr);
            drop_connection(online);
            continue; /* one reconnect: the server may have restarted */
        }
        rc = 0;
        if (reply->type == REDIS_REPLY_ERROR)
            rc = sao_error_set(SAO_EIO, "redis at %s: PING: %.*s", online->where,
                               (int)(reply->len < 200 ? reply->len : 200), reply->str);
        freeReplyObject(reply);
        break;
    }
    sigpipe_restore(&guard);
    return rc;
}

/* ---- shared by reads and writes ---- */

typedef struct ts_pair {
    int64_t seconds;
    int32_t nanos;
} ts_pair;

/* Event time in microseconds to a Timestamp (nanos always in 0..999999999). */
static ts_pair ts_from_us(int64_t us)
{
    ts_pair t;
    t.seconds = us / 1000000;
    int64_t rem = us % 1000000;
    if (rem < 0) {
        rem += 1000000;
        t.seconds--;
    }
    t.nanos = (int32_t)(rem * 1000);
    return t;
}

static int ts_newer(ts_pair a, ts_pair b)
{
    return a.seconds > b.seconds || (a.seconds == b.seconds && a.nanos > b.nanos);
}

static int ts_field_name(sao_buf *out, const char *view)
{
    return sao_buf_appendf(out, "_ts:%s", view);
}

static int check_view(const char *view, const char *const *feature_names, size_t feature_count)
{
    if (!view || !*view) return sao_error_set(SAO_EINVAL, "online store: empty view name");
    if (feature_count && !feature_names)
        return sao_error_set(SAO_EINVAL, "online store: NULL feature names");
    for (size_t i = 0; i < feature_count; i++)
        if (!feature_names[i] || !*feature_names[i])
            return sao_error_set(SAO_EINVAL, "online store: feature %zu of view %s has no name", i,
                                 view);
    return 0;
}

/* ---- writing ---- */

/* Everything a batch needs, allocated once per sao_online_write call. */
typedef struct write_plan {
    const char *view;
    size_t feature_count;
    uint8_t *fields;  /* 4 bytes per feature */
    sao_buf ts_field; /* "_ts:<view>" */
    char ttl[32];     /* EXPIRE argument, "" when no TTL */
    /* per batch */
    sao_buf keys;        /* serialized keys, back to back */
    size_t *key_off;     /* batch_rows + 1 */
    sao_buf vals;        /* encoded values and timestamps of the rows to write */
    size_t *val_off;     /* per row: feature_count + 2 offsets (features, timestamp, end) */
    unsigned char *keep; /* the row survives de-duplication */
    unsigned char *newer;
    ts_pair *prev;
    uint32_t *slots; /* open-addressing table of row index + 1 */
    size_t slot_count;
    const char **argv;
    size_t *argvlen;
} write_plan;

static void write_plan_dispose(write_plan *w)
{
    sao_free(w->fields);
    sao_buf_dispose(&w->ts_field);
    sao_buf_dispose(&w->keys);
    sao_free(w->key_off);
    sao_buf_dispose(&w->vals);
    sao_free(w->val_off);
    sao_free(w->keep);
    sao_free(w->newer);
    sao_free(w->prev);
    sao_free(w->slots);
    sao_free((void *)w->argv);
    sao_free(w->argvlen);
}

static void write_plan_init(write_plan *w, const sao_online *o, const char *view,
                            const char *const *feature_names, size_t feature_count,
                            size_t batch_rows)
{
    memset(w, 0, sizeof(*w));
    w->view = view;
    w->feature_count = feature_count;
    w->fields = sao_malloc(4 * (feature_count ? feature_count : 1));
    for (size_t i = 0; i < feature_count; i++)
        sao_feast_field(w->fields + 4 * i, view, feature_names[i]);
    sao_buf_init(&w->ts_field, 0);
    if (o->cfg.key_ttl_seconds > 0) snprintf(w->ttl, sizeof(w->ttl), "%ld", o->cfg.key_ttl_seconds);
    sao_buf_init(&w->keys, 0);
    sao_buf_init(&w->vals, 0);
    size_t rows = batch_rows ? batch_rows : 1;
    w->key_off = sao_malloc((rows + 1) * sizeof(size_t));
    w->val_off = sao_malloc(rows * (feature_count + 2) * sizeof(size_t));
    w->keep = sao_malloc(rows);
    w->newer = sao_malloc(rows);
    w->prev = sao_malloc(rows * sizeof(ts_pair));
    w->slot_count = 1;
    while (w->slot_count < 2 * rows) w->slot_count <<= 1;
    w->slots = sao_malloc(w->slot_count * sizeof(uint32_t));
    size_t argc = 2 + 2 * (feature_count + 1);
    w->argv = sao_malloc(argc * sizeof(char *));
    w->argvlen = sao_malloc(argc * sizeof(size_t));
}

static const char *row_key(const write_plan *w, size_t i, size_t *len)
{
    *len = w->key_off[i + 1] - w->key_off[i];
    return w->keys.data + w->key_off[i];
}

/* Keeps, among rows of one batch naming the same entity, only the newest (the first of equals),
 * so the pipeline never lets an older row overwrite a newer one. */
static void dedupe_batch(write_plan *w, const sao_online_row *rows, size_t n)
{
    size_t mask = w->slot_count - 1;
    memset(w->slots, 0, w->slot_count * sizeof(uint32_t));
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const char *key = row_key(w, i, &len);
        size_t slot = sao_murmur3_32(key, len, 0x5a0u) & mask;
        w->keep[i] = 1;
        while (w->slots[slot]) {
            size_t j = w->slots[slot] - 1, other_len;
            const char *other = row_key(w, j, &other_len);
            if (other_len == len && !memcmp(other, key, len)) {
                if (rows[i].event_ts_us > rows[j].event_ts_us) {
                    w->keep[j] = 0;
                    w->slots[slot] = (uint32_t)(i + 1);
                } else {
                    w->keep[i] = 0;
                }
                break;
            }
            slot = (slot + 1) & mask;
        }
        if (w->keep[i] && !w->slots[slot]) w->slots[slot] = (uint32_t)(i + 1);
    }
}

/* Reads `count` pipelined replies. An I/O failure sets *lost (the connection is dead); error
 * replies are drained and the first is reported. `on_reply` sees every non-error reply. */
typedef int (*reply_fn)(void *userdata, size_t index, const redisReply *reply);

static int read_replies(sao_online *o, size_t count, const char *what, int *lost, reply_fn on_reply,
                        void *userdata)
{
    int rc = 0;
    for (size_t i = 0; i < count; i++) {
        void *raw = NULL;
        if (redisGetReply(o->ctx, &raw) != REDIS_OK || !raw) {
            *lost = 1;
            return sao_error_set(io_error_code(o->ctx),
                                 "redis at %s: connection lost during %s: %s", o->where, what,
                                 o->ctx->errstr);
        }
        redisReply *reply = raw;
        if (reply->type == REDIS_REPLY_ERROR) {
            if (!rc)
                rc = sao_error_set(SAO_EIO, "redis at %s: %s failed: %.*s", o->where, what,
                                   (int)(reply->len < 200 ? reply->len : 200), reply->str);
        } else if (!rc && on_reply) {
            rc = on_reply(userdata, i, reply);
        }
        freeReplyObject(reply);
    }
    return rc;
}

typedef struct hget_state {
    write_plan *w;
    const sao_online_row *rows;
    size_t *index; /* pipeline position -> row */
    const sao_online *o;
} hget_state;

static int on_hget_reply(void *userdata, size_t index, const redisReply *reply)
{
    hget_state *st = userdata;
    size_t row = st->index[index];
    ts_pair now = ts_from_us(st->rows[row].event_ts_us);
    st->w->newer[row] = 1;
    if (reply->type == REDIS_REPLY_NIL) return 0;
    if (reply->type != REDIS_REPLY_STRING)
        return sao_error_set(SAO_EIO, "redis at %s: HGET returned reply type %d", st->o->where,
                             reply->type);
    ts_pair prev;
    if (sao_feast_decode_timestamp(&prev.seconds, &prev.nanos, reply->str, reply->len) != 0) {
        /* Unreadable: overwriting it with a good row repairs the key. */
        sao_log(SAO_LOG_WARN, "online",
                "redis %s: %s of %s: unreadable stored timestamp (%s); "
                "overwriting",
                st->o->where, st->w->ts_field.data, st->rows[row].entity, sao_error_last());
        return 0;
    }
    st->w->prev[row] = prev;
    st->w->newer[row] = ts_newer(now, prev);
    return 0;
}

/* One batch: HGET every stored timestamp, then HSET (and EXPIRE) the rows that are newer.
 * *lost reports a dropped connection, after which the batch can be run again as a whole. */
static int write_batch(sao_online *o, write_plan *w, const sao_online_row *rows, size_t n,
                       size_t *written, int *lost)
{
    size_t feature_count = w->feature_count;
    size_t *index = sao_malloc(n * sizeof(size_t));
    size_t pending = 0, writers = 0;
    int rc = 0;
    *lost = 0;

    sao_buf_clear(&w->keys);
    for (size_t i = 0; i < n; i++) {
        w->key_off[i] = w->keys.len;
        rc = sao_feast_redis_key(&w->keys, o->cfg.project, ONLINE_JOIN_KEY, rows[i].entity);
        if (rc) {
            sao_error_wrap(rc, "entity '%s': ", rows[i].entity);
            goto done;
        }
    }
    w->key_off[n] = w->keys.len;
    dedupe_batch(w, rows, n);

    /* Round trip 1: the stored event times. */
    for (size_t i = 0; i < n; i++) {
        w->newer[i] = 0;
        if (!w->keep[i]) continue;
        const char *argv[3];
        size_t lens[3];
        argv[0] = "HGET";
        lens[0] = 4;
        argv[1] = row_key(w, i, &lens[1]);
        argv[2] = w->ts_field.data;
        lens[2] = w->ts_field.len;
        if (redisAppendCommandArgv(o->ctx, 3, argv, lens) != REDIS_OK) {
            *lost = 1;
            rc = sao_error_set(SAO_ENET, "redis at %s: cannot queue HGET: %s", o->where,
                               o->ctx->errstr);
            goto done;
        }
        index[pending++] = i;
    }
    hget_state st = {w, rows, index, o};
    rc = read_replies(o, pending, "HGET of stored event times", lost, on_hget_reply, &st);
    if (rc) goto done;

    /* Encode the rows to write; offsets first, as the buffer may move while it grows. */
    sao_buf_clear(&w->vals);
    for (size_t i = 0; i < n; i++) {
        if (!w->newer[i]) continue;
        size_t *off = w->val_off + i * (feature_count + 2);
        for (size_t f = 0; f < feature_count; f++) {
            off[f] = w->vals.len;
            rc = sao_feast_encode_value(&w->vals, &rows[i].values[f]);
            if (rc) {
                sao_error_wrap(rc, "%s %s, feature %zu: ", w->view, rows[i].entity, f);
                goto done;
            }
        }
        off[feature_count] = w->vals.len;
        ts_pair t = ts_from_us(rows[i].event_ts_us);
        if ((rc = sao_feast_encode_timestamp(&w->vals, t.seconds, t.nanos))) goto done;
        off[feature_count + 1] = w->vals.len;
    }

    /* Round trip 2: one HSET of every field per row, plus EXPIRE. */
    pending = 0;
    for (size_t i = 0; i < n; i++) {
        if (!w->newer[i]) continue;
        const size_t *off = w->val_off + i * (feature_count + 2);
        size_t argc = 0;
        w->argv[argc] = "HSET";
        w->argvlen[argc++] = 4;
        w->argv[argc] = row_key(w, i, &w->argvlen[argc]);
        argc++;
        for (size_t f = 0; f <= feature_count; f++) {
            if (f < feature_count) {
                w->argv[argc] = (const char *)w->fields + 4 * f;
                w->argvlen[argc++] = 4;
            } else {
                w->argv[argc] = w->ts_field.data;
                w->argvlen[argc++] = w->ts_field.len;
            }
            w->argv[argc] = w->vals.data + off[f];
            w->argvlen[argc++] = off[f + 1] - off[f];
        }
        if (redisAppendCommandArgv(o->ctx, (int)argc, w->argv, w->argvlen) != REDIS_OK) {
            *lost = 1;
            rc = sao_error_set(SAO_ENET, "redis at %s: cannot queue HSET: %s", o->where,
                               o->ctx->errstr);
            goto done;
        }
        pending++;
        if (w->ttl[0]) {
            const char *argv[3] = {"EXPIRE", w->argv[1], w->ttl};
            size_t lens[3] = {6, w->argvlen[1], strlen(w->ttl)};
            if (redisAppendCommandArgv(o->ctx, 3, argv, lens) != REDIS_OK) {
                *lost = 1;
                rc = sao_error_set(SAO_ENET, "redis at %s: cannot queue EXPIRE: %s", o->where,
                                   o->ctx->errstr);
                goto done;
            }
            pending++;
        }
        writers++;
    }
    rc = read_replies(o, pending, "HSET", lost, NULL, NULL);
    if (rc) goto done;
    *written = writers;

done:
    sao_free(index);
    return rc;
}

static int check_rows(const sao_online_row *rows, size_t row_count, size_t feature_count)
{
    if (row_count && !rows) return sao_error_set(SAO_EINVAL, "online write: NULL rows");
    for (size_t i = 0; i < row_count; i++) {
        if (!rows[i].entity || !*rows[i].entity)
            return sao_error_set(SAO_EINVAL, "online write: row %zu has no entity", i);
        if (feature_count && !rows[i].values)
            return sao_error_set(SAO_EINVAL, "online write: row %zu (%s) has no values", i,
                                 rows[i].entity);
        ts_pair t = ts_from_us(rows[i].event_ts_us);
        if (t.seconds < INT64_C(-62135596800) || t.seconds > INT64_C(253402300799))
            return sao_error_set(SAO_EINVAL, "online write: row %zu (%s): event time out of range",
                                 i, rows[i].entity);
    }
    return 0;
}

int sao_online_write(sao_online *online, const char *view, const char *const *feature_names,
                     size_t feature_count, const sao_online_row *rows, size_t row_count,
                     size_t *written)
{
    SAO_ASSERT(online && written);
    int rc = check_view(view, feature_names, feature_count);
    if (!rc) rc = check_rows(rows, row_count, feature_count);
    if (rc) return rc;

    write_plan w;
    size_t batch_rows = row_count < ONLINE_BATCH_ROWS ? row_count : ONLINE_BATCH_ROWS;
    write_plan_init(&w, online, view, feature_names, feature_count, batch_rows);
    size_t total = 0;
    int attempts = 1 + (online->cfg.retries > 0 ? online->cfg.retries : 0);
    sigpipe_guard guard;
    sigpipe_block(&guard);

    if ((rc = ts_field_name(&w.ts_field, view))) goto done;
    for (size_t start = 0; start < row_count; start += ONLINE_BATCH_ROWS) {
        size_t n = row_count - start < ONLINE_BATCH_ROWS ? row_count - start : ONLINE_BATCH_ROWS;
        for (int attempt = 1;; attempt++) {
            size_t batch_written = 0;
            int lost = 0;
            if (!online->ctx && (rc = connect_with_retries(online))) {
                sao_error_wrap(rc, "writing %s (rows %zu..%zu): ", view, start, start + n - 1);
                goto done;
            }
            rc = write_batch(online, &w, rows + start, n, &batch_written, &lost);
            if (!rc) {
                total += batch_written;
                break;
            }
            if (!lost) goto done;
            drop_connection(online);
            if (attempt >= attempts) {
                sao_error_wrap(rc, "writing %s (rows %zu..%zu), gave up after %d attempt%s: ", view,
                               start, start + n - 1, attempt, attempt == 1 ? "" : "s");
                goto done;
            }
            sao_log(SAO_LOG_WARN, "online", "%s; reconnecting and writing the batch again",
                    sao_error_last());
        }
    }
    *written = total;

done:
    sigpipe_restore(&guard);
    write_plan_dispose(&w);
    return rc;
}

/* ---- reading ---- */

/* Sends the HMGET, and when `get_key` is set a GET pipelined behind it, and reads the replies:
 * both travel in one round trip. A failure here is I/O: the connection is no longer usable. */
static int exchange(sao_online *o, int argc, const char **argv, const size_t *lens,
                    const char *get_key, redisReply **reply, redisReply **got)
{
    if (!get_key) {
        *reply = redisCommandArgv(o->ctx, argc, argv, lens);
        if (*reply) return 0;
        return sao_error_set(io_error_code(o->ctx), "redis at %s: connection lost during HMGET: %s",
                             o->where, o->ctx->errstr);
    }
    const char *get_argv[2] = {"GET", get_key};
    size_t get_lens[2] = {3, strlen(get_key)};
    void *first = NULL, *second = NULL;
    if (redisAppendCommandArgv(o->ctx, argc, argv, lens) != REDIS_OK ||
        redisAppendCommandArgv(o->ctx, 2, get_argv, get_lens) != REDIS_OK ||
        redisGetReply(o->ctx, &first) != REDIS_OK || !first ||
        redisGetReply(o->ctx, &second) != REDIS_OK || !second) {
        if (first) freeReplyObject(first);
        return sao_error_set(io_error_code(o->ctx),
                             "redis at %s: connection lost during HMGET and GET: %s", o->where,
                             o->ctx->errstr);
    }
    *reply = first;
    *got = second;
    return 0;
}

/* The GET's answer: the string (copied, NUL-terminated), absent, or refused by the server (a key
 * of another type). Never an error of the read it came with. */
static void take_get_reply(const redisReply *got, char **value, size_t *len, int *status)
{
    *value = NULL;
    *len = 0;
    if (got->type == REDIS_REPLY_NIL) {
        *status = SAO_ENOENT;
    } else if (got->type == REDIS_REPLY_STRING) {
        *value = sao_strndup(got->str, got->len);
        *len = got->len;
        *status = 0;
    } else {
        *status = SAO_EIO;
    }
}

static int read_view(sao_online *online, const char *view, const char *const *feature_names,
                     size_t feature_count, const char *entity, sao_feast_value *values,
                     int64_t *event_ts_us, sao_arena *arena, const char *get_key, char **get_value,
                     size_t *get_len, int *get_status)
{
    SAO_ASSERT(online && event_ts_us);
    int rc = check_view(view, feature_names, feature_count);
    if (rc) return rc;
    if (feature_count && (!values || !arena))
        return sao_error_set(SAO_EINVAL, "online read: NULL values or arena");
    if (!entity || !*entity) return sao_error_set(SAO_EINVAL, "online read: empty entity");
    if (get_key && !*get_key) return sao_error_set(SAO_EINVAL, "online read: empty key to GET");

    sao_buf key, ts_field;
    sao_buf_init(&key, 0);
    sao_buf_init(&ts_field, 0);
    size_t argc = feature_count + 3;
    const char **argv = sao_malloc(argc * sizeof(*argv));
    size_t *lens = sao_malloc(argc * sizeof(*lens));
    uint8_t *fields = sao_malloc(4 * (feature_count ? feature_count : 1));
    sao_feast_value *decoded = sao_malloc((feature_count ? feature_count : 1) * sizeof(*decoded));
    redisReply *reply = NULL, *got = NULL;
    int attempts = 1 + (online->cfg.retries > 0 ? online->cfg.retries : 0);
    sigpipe_guard guard;
    sigpipe_block(&guard);

    if ((rc = sao_feast_redis_key(&key, online->cfg.project, ONLINE_JOIN_KEY, entity))) goto done;
    if ((rc = ts_field_name(&ts_field, view))) goto done;
    argv[0] = "HMGET";
    lens[0] = 5;
    argv[1] = key.data;
    lens[1] = key.len;
    for (size_t i = 0; i < feature_count; i++) {
        sao_feast_field(fields + 4 * i, view, feature_names[i]);
        argv[2 + i] = (const char *)fields + 4 * i;
        lens[2 + i] = 4;
    }
    argv[argc - 1] = ts_field.data;
    lens[argc - 1] = ts_field.len;

    for (int attempt = 1;; attempt++) {
        if (!online->ctx && (rc = connect_with_retries(online))) goto done;
        rc = exchange(online, (int)argc, argv, lens, get_key, &reply, &got);
        if (!rc) break;
        drop_connection(online);
        if (attempt >= attempts) goto done;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        rc = sao_error_set(SAO_EIO, "redis at %s: HMGET failed: %.*s", online->where,
                           (int)(reply->len < 200 ? reply->len : 200), reply->str);
        goto done;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != feature_count + 1) {
        rc = sao_error_set(SAO_EIO, "redis at %s: HMGET returned an unexpected reply",
                           online->where);
        goto done;
    }
    const redisReply *ts = reply->element[feature_count];
    if (ts->type == REDIS_REPLY_NIL) {
        rc = sao_error_set(SAO_ENOENT, "no online data for %s in view %s", entity, view);
        goto done;
    }
    ts_pair t;
    if (ts->type != REDIS_REPLY_STRING ||
        (rc = sao_feast_decode_timestamp(&t.seconds, &t.nanos, ts->str, ts->len))) {
        if (!rc) rc = sao_error_set(SAO_ECORRUPT, "unexpected reply type");
        sao_error_wrap(rc, "%s of %s: ", ts_field.data, entity);
        goto done;
    }
    for (size_t i = 0; i < feature_count; i++) {
        const redisReply *el = reply->element[i];
        if (el->type == REDIS_REPLY_NIL) {
            memset(&decoded[i], 0, sizeof(decoded[i]));
            decoded[i].type = SAO_FEAST_NULL;
            continue;
        }
        if (el->type != REDIS_REPLY_STRING) {
            rc = sao_error_set(SAO_EIO, "redis at %s: HMGET element of unexpected type %d",
                               online->where, el->type);
            goto done;
        }
        if ((rc = sao_feast_decode_value(&decoded[i], el->str, el->len, arena))) {
            sao_error_wrap(rc, "%s:%s of %s: ", view, feature_names[i], entity);
            goto done;
        }
    }
    if (feature_count) memcpy(values, decoded, feature_count * sizeof(*decoded));
    *event_ts_us = t.seconds * 1000000 + t.nanos / 1000;
    if (get_key) take_get_reply(got, get_value, get_len, get_status);

done:
    sigpipe_restore(&guard);
    if (reply) freeReplyObject(reply);
    if (got) freeReplyObject(got);
    sao_free(decoded);
    sao_free(fields);
    sao_free(lens);
    sao_free((void *)argv);
    sao_buf_dispose(&ts_field);
    sao_buf_dispose(&key);
    return rc;
}

int sao_online_read(sao_online *online, const char *view, const char *const *feature_names,
                    size_t feature_count, const char *entity, sao_feast_value *values,
                    int64_t *event_ts_us, sao_arena *arena)
{
    return read_view(online, view, feature_names, feature_count, entity, values, event_ts_us, arena,
                     NULL, NULL, NULL, NULL);
}

int sao_online_read_and_get(sao_online *online, const char *view, const char *const *feature_names,
                            size_t feature_count, const char *entity, sao_feast_value *values,
                            int64_t *event_ts_us, sao_arena *arena, const char *key,
                            char **key_value, size_t *key_len, int *key_status)
{
    SAO_ASSERT(key && key_value && key_len && key_status);
    return read_view(online, view, feature_names, feature_count, entity, values, event_ts_us, arena,
                     key, key_value, key_len, key_status);
}

/* ---- plain string keys ---- */

int sao_online_set(sao_online *online, const char *key, const void *value, size_t len,
                   long ttl_seconds)
{
    SAO_ASSERT(online && key && (value || len == 0));
    if (!*key) return sao_error_set(SAO_EINVAL, "online SET: empty key");
    if (ttl_seconds < 0)
        return sao_error_set(SAO_EINVAL, "online SET %s: negative ttl %ld", key, ttl_seconds);
    char ttl[32];
    snprintf(ttl, sizeof(ttl), "%ld", ttl_seconds);
    const char *argv[5] = {"SET", key, value ? (const char *)value : "", "EX", ttl};
    size_t lens[5] = {3, strlen(key), len, 2, strlen(ttl)};
    int argc = ttl_seconds > 0 ? 5 : 3;
    int attempts = 1 + (online->cfg.retries > 0 ? online->cfg.retries : 0);
    redisReply *reply = NULL;
    int rc = 0;
    sigpipe_guard guard;
    sigpipe_block(&guard);
    for (int attempt = 1;; attempt++) {
        if (!online->ctx && (rc = connect_with_retries(online))) goto done;
        reply = redisCommandArgv(online->ctx, argc, argv, lens);
        if (reply) break;
        rc =
            sao_error_set(io_error_code(online->ctx), "redis at %s: connection lost during SET: %s",
                          online->where, online->ctx->errstr);
        drop_connection(online);
        if (attempt >= attempts) goto done;
    }
    rc = 0;
    if (reply->type == REDIS_REPLY_ERROR)
        rc = sao_error_set(SAO_EIO, "redis at %s: SET %s failed: %.*s", online->where, key,
                           (int)(reply->len < 200 ? reply->len : 200), reply->str);
done:
    sigpipe_restore(&guard);
    if (reply) freeReplyObject(reply);
    return rc;
}
