/*
 * The HTTP server under the API: libmicrohttpd on an epoll thread pool, the router, request ids,
 * CORS, per-client rate limiting, body limits, the access log, request metrics and graceful
 * shutdown. It knows nothing of the handlers; they come in through the route table.
 */
#include "api/api_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Per connection: the request line and headers must fit here, so oversized ones get MHD's own
 * 414 / 431 without us ever seeing them. Bodies do not count (they are streamed to us). */
#define CONNECTION_MEMORY_LIMIT (32 * 1024)
#define CONNECTION_LIMIT 4096
#define LISTEN_BACKLOG 1024
#define THREADS_MAX 256
#define DEFAULT_TIMEOUT_S 30
#define DEFAULT_MAX_BODY (1024 * 1024)

#define PATTERN_SEGMENTS_MAX 16
#define PATH_SEGMENTS_MAX 64
#define REQUEST_ID_MAX 128
#define CORS_ORIGINS_MAX 32
#define CORS_MAX_AGE_S "600"
#define CORS_DEFAULT_HEADERS "Content-Type, Authorization, X-Request-Id"
#define LOG_PATH_MAX 512 /* bytes of the path logged; the escaped text is capped too */
#define ARENA_BLOCK 4096
/* Where MHD cannot answer in the middle of a body, an oversized one is read and dropped up to
 * this much more before the 413; past it the connection is simply closed. */
#define DISCARD_MAX (1024 * 1024)

/* Token buckets: a fixed table of 8-way sets, each set behind one of the striped locks. A full
 * set recycles its least recently seen client, so memory stays fixed whatever the traffic. */
#define RATE_SLOTS 4096
#define RATE_WAYS 8
#define RATE_STRIPES 64
#define RATE_KEY_LEN 17

static const char *const probe_paths[] = {"/healthz", "/readyz", "/metrics"};
static const char *const known_methods[] = {"GET",    "HEAD",  "POST",   "PUT",
                                            "DELETE", "PATCH", "OPTIONS"};

typedef struct compiled_route {
    const sao_api_route *route;
    char *segments[PATTERN_SEGMENTS_MAX]; /* literal text; NULL for a {param} */
    size_t segment_count;
    size_t param_count; /* including the remainder of a prefix route */
    int prefix;
} compiled_route;

typedef struct rate_slot {
    uint8_t key[RATE_KEY_LEN]; /* key[0] == 0: empty */
    double tokens;
    double last; /* monotonic seconds of the last refill */
} rate_slot;

typedef struct rate_table {
    double rate;
    double burst;
    pthread_mutex_t locks[RATE_STRIPES];
    rate_slot slots[RATE_SLOTS];
} rate_table;

struct sao_api_server {
    struct MHD_Daemon *daemon;
    sao_api_options opts;
    sao_api_route *routes;
    compiled_route *compiled;
    size_t route_count;
    void *ctx;
    int port;
    atomic_long in_flight;
    atomic_long fresh_connections;
    atomic_int stopping;
    char *cors[CORS_ORIGINS_MAX];
    size_t cors_count;
    int cors_any;
    rate_table *rate;
    sao_metric *requests_total;
    sao_metric *request_duration;
    sao_metric *requests_in_flight;
};

/* Per connection, to know whether it has begun a request: an accepted connection whose request
 * still waits for a busy worker thread must be drained like a request in flight. */
typedef struct conn_state {
    int fresh;
} conn_state;

/* What the router decided before the handler runs: a server-made answer or a route. */
typedef struct request_ctx {
    sao_api_server *server;
    double started;
    const compiled_route *route;
    const char *params[SAO_API_PARAMS_MAX];
    size_t param_count;
    sao_buf body;
    sao_arena *arena;
    int verdict_status; /* non-zero: answer with this error instead of a handler */
    const char *verdict_code;
    char verdict_message[160];
    char *allow;        /* Allow header of a 405 or an OPTIONS answer (arena) */
    long retry_after_s; /* of a 429 */
    int options;        /* an OPTIONS request, answered by the server */
    int responded;
    size_t discarded; /* body bytes dropped after the limit */
    int status;
    size_t bytes;
    const char *method_label; /* one of known_methods or "other" */
    char request_id[REQUEST_ID_MAX + 1];
    char client[INET6_ADDRSTRLEN];
    char log_method[40];
    char log_path[1024]; /* keeps the whole access line under the logger's 2 KiB */
} request_ctx;

/* ---------------------------------------------------------------------------------------------
 * Small text helpers.
 */

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* %-decodes src[0..len) into dst (at least len + 1 bytes); '+' becomes a space when plus_space
 * (query strings). Returns the decoded length, or -1 on a malformed escape. */
static long percent_decode(char *dst, const char *src, size_t len, int plus_space)
{
    size_t out = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)src[i];
        if (c == '%') {
            int hi = i + 1 < len ? hex_value((unsigned char)src[i + 1]) : -1;
            int lo = i + 2 < len ? hex_value((unsigned char)src[i + 2]) : -1;
            if (hi < 0 || lo < 0) return -1;
            dst[out++] = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && plus_space) {
            dst[out++] = ' ';
        } else {
            dst[out++] = (char)c;
        }
    }
    dst[out] = '\0';
    return (long)out;
}

/* Whether s[0..len) is UTF-8 text without control characters (what a handler may put in a JSON
 * string or a file name without further checks). */
static int is_clean_text(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        if (p[i] < 0x20 || p[i] == 0x7f) return 0;
        size_t n = sao_utf8_sequence(p + i, len - i);
        if (!n) return 0;
        i += n;
    }
    return 1;
}

/* Replaces invalid UTF-8 and control characters with '?' in place (error messages echo input). */
static void sanitize_text(char *s)
{
    unsigned char *p = (unsigned char *)s;
    size_t len = strlen(s);
    for (size_t i = 0; i < len;) {
        size_t n = p[i] < 0x20 || p[i] == 0x7f ? 0 : sao_utf8_sequence(p + i, len - i);
        if (!n) {
            p[i++] = '?';
            continue;
        }
        i += n;
    }
}

/* JSON-escapes at most `max_in` bytes of s into out; bytes outside printable ASCII become
 * \u00XX so the line stays valid JSON whatever the client sent. Marks truncation with "...". */
static void log_escape(char *out, size_t size, const char *s, size_t max_in)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    size_t i = 0;
    SAO_ASSERT(size >= 8);
    for (; s[i] && i < max_in; i++) {
        unsigned char c = (unsigned char)s[i];
        if (o + 7 >= size) break;
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20 || c >= 0x7f) {
            out[o++] = '\\';
            out[o++] = 'u';
            out[o++] = '0';
            out[o++] = '0';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        } else {
            out[o++] = (char)c;
        }
    }
    if (s[i] && o + 4 <= size) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

/* ---------------------------------------------------------------------------------------------
 * Request ids: a sane client id is kept (it ties our log to the caller's), anything else is
 * replaced by 128 random bits from a per-thread generator seeded from the kernel.
 */

static _Thread_local uint64_t rng_state[2];
static _Thread_local int rng_seeded;

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* xorshift128+: fast, and unpredictable enough for correlation ids (not for secrets). */
static uint64_t rng_next(void)
{
    if (!rng_seeded) {
        uint64_t seed[2];
        if (getrandom(seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed)) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            seed[0] = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32);
            seed[1] = (uint64_t)(uintptr_t)&rng_seeded;
        }
        rng_state[0] = splitmix64(&seed[0]);
        rng_state[1] = splitmix64(&seed[1]) | 1;
        rng_seeded = 1;
    }
    uint64_t s1 = rng_state[0];
    const uint64_t s0 = rng_state[1];
    rng_state[0] = s0;
    s1 ^= s1 << 23;
    rng_state[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
    return rng_state[1] + s0;
}

static int request_id_is_sane(const char *id)
{
    size_t len = 0;
    for (; id[len]; len++) {
        unsigned char c = (unsigned char)id[len];
        if (len >= REQUEST_ID_MAX) return 0;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return len > 0;
}

static void request_id_assign(char *out, const char *incoming)
{
    static const char hex[] = "0123456789abcdef";
    if (incoming && request_id_is_sane(incoming)) {
        sao_strlcpy(out, incoming, REQUEST_ID_MAX + 1);
        return;
    }
    for (int half = 0; half < 2; half++) {
        uint64_t r = rng_next();
        for (int i = 0; i < 16; i++) out[half * 16 + i] = hex[(r >> (i * 4)) & 15];
    }
    out[32] = '\0';
}

/* ---------------------------------------------------------------------------------------------
 * Rate limiting.
 */

static void rate_key(uint8_t key[RATE_KEY_LEN], const struct sockaddr *addr)
{
    memset(key, 0, RATE_KEY_LEN);
    if (addr && addr->sa_family == AF_INET) {
        const struct sockaddr_in *in4 = (const struct sockaddr_in *)addr;
        key[0] = 4;
        memcpy(key + 1, &in4->sin_addr, 4);
    } else if (addr && addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
            key[0] = 4;
            memcpy(key + 1, in6->sin6_addr.s6_addr + 12, 4);
        } else {
            key[0] = 6;
            memcpy(key + 1, in6->sin6_addr.s6_addr, 16);
        }
    } else {
        key[0] = 1; /* unknown families share one bucket */
    }
}

static rate_table *rate_table_new(double rate, int burst)
{
    rate_table *t = sao_calloc(1, sizeof(*t));
    t->rate = rate;
    t->burst = burst > 0 ? burst : (rate >= 1.0 ? rate : 1.0);
    for (int i = 0; i < RATE_STRIPES; i++) pthread_mutex_init(&t->locks[i], NULL);
    return t;
}

static void rate_table_free(rate_table *t)
{
    if (!t) return;
    for (int i = 0; i < RATE_STRIPES; i++) pthread_mutex_destroy(&t->locks[i]);
    sao_free(t);
}

/* Takes a token for the client. Returns 0 when allowed, else the seconds until one is back. */
static long rate_take(rate_table *t, const struct sockaddr *addr, double now)
{
    uint8_t key[RATE_KEY_LEN];
    rate_key(key, addr);
    uint64_t h = UINT64_C(1469598103934665603);
    for (int i = 0; i < RATE_KEY_LEN; i++) h = (h ^ key[i]) * UINT64_C(1099511628211);
    size_t set = (size_t)(splitmix64(&h) % (RATE_SLOTS / RATE_WAYS));
    rate_slot *slots = t->slots + set * RATE_WAYS;
    pthread_mutex_t *lock = &t->locks[set % RATE_STRIPES];
    long wait_s = 0;

    pthread_mutex_lock(lock);
    rate_slot *slot = NULL, *oldest = NULL;
    for (int w = 0; w < RATE_WAYS; w++) {
        if (memcmp(slots[w].key, key, RATE_KEY_LEN) == 0) {
            slot = &slots[w];
            break;
        }
        if (!oldest || slots[w].key[0] == 0 ||
            (oldest->key[0] != 0 && slots[w].last < oldest->last))
            oldest = &slots[w];
    }
    if (!slot) {
        slot = oldest;
        memcpy(slot->key, key, RATE_KEY_LEN);
        slot->tokens = t->burst;
        slot->last = now;
    }
    slot->tokens += (now - slot->last) * t->rate;
    if (slot->tokens > t->burst) slot->tokens = t->burst;
    slot->last = now;
    if (slot->tokens >= 1.0) {
        slot->tokens -= 1.0;
    } else {
        double secs = (1.0 - slot->tokens) / t->rate;
        wait_s = (long)secs;
        if ((double)wait_s < secs) wait_s++;
        if (wait_s < 1) wait_s = 1;
    }
    pthread_mutex_unlock(lock);
    return wait_s;
}

/* ---------------------------------------------------------------------------------------------
 * Routing.
 */

static void compile_route(compiled_route *cr, const sao_api_route *route)
{
    SAO_ASSERT(route->method && route->pattern && route->handler);
    SAO_ASSERT(route->pattern[0] == '/');
    memset(cr, 0, sizeof(*cr));
    cr->route = route;
    cr->prefix = (route->flags & SAO_API_ROUTE_PREFIX) != 0;
    const char *p = route->pattern + 1;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        /* A prefix pattern's trailing slash only says "and below". */
        if (!slash && len == 0 && cr->prefix) break;
        SAO_ASSERT(cr->segment_count < PATTERN_SEGMENTS_MAX);
        if (len >= 2 && p[0] == '{' && p[len - 1] == '}') {
            cr->segments[cr->segment_count] = NULL;
            cr->param_count++;
        } else {
            cr->segments[cr->segment_count] = sao_strndup(p, len);
        }
        cr->segment_count++;
        if (!slash) break;
        p = slash + 1;
    }
    if (cr->prefix) cr->param_count++;
    SAO_ASSERT(cr->param_count <= SAO_API_PARAMS_MAX);
}

typedef struct path_parts {
    const char *segment[PATH_SEGMENTS_MAX]; /* %-decoded */
    size_t len[PATH_SEGMENTS_MAX];
    size_t count;
} path_parts;

/* Splits the raw path into %-decoded segments. A segment that is "." or "..", raw or decoded,
 * or that decodes to something holding '/', NUL, control characters or invalid UTF-8 is refused:
 * no handler ever sees a parameter that could climb out of a folder or break a log line. */
static int path_split(path_parts *parts, sao_arena *arena, const char *path, const char **why)
{
    if (path[0] != '/') {
        *why = "the path must start with '/'";
        return -1;
    }
    size_t path_len = strlen(path);
    char *scratch = sao_arena_alloc(arena, path_len + 1);
    const char *p = path + 1;
    parts->count = 0;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t raw_len = slash ? (size_t)(slash - p) : strlen(p);
        if (parts->count == PATH_SEGMENTS_MAX) {
            *why = "the path has too many segments";
            return -1;
        }
        long len = percent_decode(scratch, p, raw_len, 0);
        if (len < 0) {
            *why = "the path holds a malformed %-escape";
            return -1;
        }
        if ((len == 1 && scratch[0] == '.') ||
            (len == 2 && scratch[0] == '.' && scratch[1] == '.')) {
            *why = "the path holds a '.' or '..' segment";
            return -1;
        }
        if (memchr(scratch, '/', (size_t)len) || memchr(scratch, '\0', (size_t)len)) {
            *why = "a path segment decodes to '/' or NUL";
            return -1;
        }
        if (!is_clean_text(scratch, (size_t)len)) {
            *why = "the path is not valid UTF-8 text";
            return -1;
        }
        parts->segment[parts->count] = scratch;
        parts->len[parts->count] = (size_t)len;
        parts->count++;
        scratch += len + 1;
        if (!slash) break;
        p = slash + 1;
    }
    return 0;
}

static int segment_equals(const char *literal, const char *segment, size_t len)
{
    return strlen(literal) == len && memcmp(literal, segment, len) == 0;
}

/* Whether the pattern matches the path; fills params (arena) when it does. */
static int route_matches(const compiled_route *cr, const path_parts *parts, sao_arena *arena,
                         const char **params, size_t *param_count)
{
    if (cr->prefix ? parts->count < cr->segment_count : parts->count != cr->segment_count) return 0;
    size_t n = 0;
    for (size_t i = 0; i < cr->segment_count; i++) {
        if (cr->segments[i]) {
            if (!segment_equals(cr->segments[i], parts->segment[i], parts->len[i])) return 0;
        } else {
            if (parts->len[i] == 0) return 0;
            if (params) params[n] = parts->segment[i];
            n++;
        }
    }
    if (cr->prefix && params) {
        size_t total = 0;
        for (size_t i = cr->segment_count; i < parts->count; i++) total += parts->len[i] + 1;
        char *rest = sao_arena_alloc(arena, total + 1);
        size_t o = 0;
        for (size_t i = cr->segment_count; i < parts->count; i++) {
            if (i > cr->segment_count) rest[o++] = '/';
            memcpy(rest + o, parts->segment[i], parts->len[i]);
            o += parts->len[i];
        }
        rest[o] = '\0';
        params[n++] = rest;
    } else if (cr->prefix) {
        n++;
    }
    if (param_count) *param_count = n;
    return 1;
}

static int method_matches(const char *route_method, const char *method)
{
    if (strcmp(route_method, method) == 0) return 1;
    return strcmp(method, "HEAD") == 0 && strcmp(route_method, "GET") == 0;
}

/* "GET, HEAD, POST, OPTIONS": the methods of every route matching the path. */
static char *allow_list(sao_api_server *server, const path_parts *parts, sao_arena *arena)
{
    char list[256];
    size_t o = 0;
    int has_get = 0, has_head = 0;
    list[0] = '\0';
    for (size_t i = 0; i < server->route_count; i++) {
        const compiled_route *cr = &server->compiled[i];
        if (!route_matches(cr, parts, arena, NULL, NULL)) continue;
        const char *m = cr->route->method;
        if (strcmp(m, "GET") == 0) has_get = 1;
        if (strcmp(m, "HEAD") == 0) has_head = 1;
        /* Skip methods already listed. */
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(server->compiled[j].route->method, m) == 0 &&
                   route_matches(&server->compiled[j], parts, arena, NULL, NULL);
        if (seen) continue;
        int w = snprintf(list + o, sizeof(list) - o, "%s%s", o ? ", " : "", m);
        if (w > 0 && (size_t)w < sizeof(list) - o) o += (size_t)w;
    }
    if (has_get && !has_head) {
        int w = snprintf(list + o, sizeof(list) - o, "%sHEAD", o ? ", " : "");
        if (w > 0 && (size_t)w < sizeof(list) - o) o += (size_t)w;
    }
    int w = snprintf(list + o, sizeof(list) - o, "%sOPTIONS", o ? ", " : "");
    if (w > 0 && (size_t)w < sizeof(list) - o) o += (size_t)w;
    return sao_arena_strndup(arena, list, o);
}

/* ---------------------------------------------------------------------------------------------
 * Response helpers shared with the handlers.
 */

static void response_drop_body(sao_api_response *res)
{
    if (res->body_release)
        res->body_release(res->body_release_cls);
    else if (res->body && !res->body_static)
        sao_free(res->body);
    res->body = NULL;
    res->body_len = 0;
    res->body_static = 0;
    res->body_release = NULL;
    res->body_release_cls = NULL;
}

static int dump_to_buf(const char *buffer, size_t size, void *data)
{
    return sao_buf_append(data, buffer, size) == 0 ? 0 : -1;
}

void sao_api__json(sao_api_response *res, int status, json_t *body)
{
    static const char failed[] =
        "{\"error\":{\"code\":\"internal\",\"message\":\"the response could not be encoded\"}}";
    response_drop_body(res);
    res->content_type = NULL;
    sao_buf buf;
    sao_buf_init(&buf, 0);
    if (body && json_dump_callback(body, dump_to_buf, &buf, JSON_COMPACT | JSON_ENCODE_ANY) == 0) {
        res->status = status;
        res->body = sao_buf_detach(&buf, &res->body_len);
    } else {
        res->status = 500;
        res->body = (char *)failed;
        res->body_len = sizeof(failed) - 1;
        res->body_static = 1;
    }
    sao_buf_dispose(&buf);
    json_decref(body);
}

void sao_api__error(sao_api_response *res, const sao_api_request *req, int status, const char *code,
                    const char *fmt, ...)
{
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    /* Messages often quote what the client sent; jansson refuses invalid UTF-8. */
    sanitize_text(message);
    const char *id = req && req->request_id ? req->request_id : "";
    json_t *body =
        json_pack("{s:{s:s,s:s,s:s}}", "error", "code", code, "message", message, "request_id", id);
    sao_api__json(res, status, body);
}

void sao_api__raw(sao_api_response *res, int status, const char *content_type, const void *data,
                  size_t len)
{
    response_drop_body(res);
    res->status = status;
    res->content_type = content_type;
    res->body = sao_malloc(len + 1);
    if (len) memcpy(res->body, data, len);
    res->body[len] = '\0';
    res->body_len = len;
}

void sao_api__static(sao_api_response *res, int status, const char *content_type, const void *data,
                     size_t len)
{
    response_drop_body(res);
    res->status = status;
    res->content_type = content_type;
    res->body = (char *)data;
    res->body_len = len;
    res->body_static = 1;
}

void sao_api__header_add(sao_api_response *res, const char *name, const char *value)
{
    SAO_ASSERT(res->header_count < SAO_API_HEADERS_MAX);
    res->header_names[res->header_count] = name;
    res->header_values[res->header_count] = sao_strdup(value);
    res->header_count++;
}

void sao_api__response_dispose(sao_api_response *res)
{
    if (!res) return;
    response_drop_body(res);
    for (size_t i = 0; i < res->header_count; i++) sao_free(res->header_values[i]);
    memset(res, 0, sizeof(*res));
}

const char *sao_api__header(const sao_api_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

/* The server leaves query strings escaped (see unescape_none); decoding here, into the arena,
 * keeps one rule for every value: valid UTF-8 without control characters, else NULL. */
const char *sao_api__query(const sao_api_request *req, const char *name)
{
    const char *raw = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
    if (!raw) return NULL;
    size_t raw_len = strlen(raw);
    char *value = sao_arena_alloc(req->arena, raw_len + 1);
    /* The router refused requests whose arguments are not clean text (query_arg_clean). */
    long len = percent_decode(value, raw, raw_len, 1);
    SAO_ASSERT(len >= 0 && is_clean_text(value, (size_t)len));
    return value;
}

/* ---------------------------------------------------------------------------------------------
 * Requests.
 */

static const char *method_label(const char *method)
{
    for (size_t i = 0; i < SAO_ARRAY_LEN(known_methods); i++)
        if (strcmp(method, known_methods[i]) == 0) return known_methods[i];
    return "other";
}

static sao_arena *ctx_arena(request_ctx *rc)
{
    if (!rc->arena) rc->arena = sao_arena_new(ARENA_BLOCK);
    return rc->arena;
}

static const struct sockaddr *client_sockaddr(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    return ci ? ci->client_addr : NULL;
}

static void client_text(char *out, size_t size, const struct sockaddr *addr)
{
    out[0] = '\0';
    if (!addr) return;
    if (addr->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)addr)->sin_addr, out, (socklen_t)size);
    } else if (addr->sa_family == AF_INET6) {
        const struct in6_addr *in6 = &((const struct sockaddr_in6 *)addr)->sin6_addr;
        /* A dual-stack socket sees IPv4 clients as ::ffff:a.b.c.d; log them as IPv4. */
        if (IN6_IS_ADDR_V4MAPPED(in6))
            inet_ntop(AF_INET, in6->s6_addr + 12, out, (socklen_t)size);
        else
            inet_ntop(AF_INET6, in6, out, (socklen_t)size);
    }
}

static void set_verdict(request_ctx *rc, int status, const char *code, const char *fmt, ...)
    SAO_PRINTF(4, 5);

static void set_verdict(request_ctx *rc, int status, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rc->verdict_message, sizeof(rc->verdict_message), fmt, ap);
    va_end(ap);
    rc->verdict_status = status;
    rc->verdict_code = code;
}

typedef struct query_check {
    sao_arena *arena;
    const char *bad; /* the first argument that is not clean text, raw */
} query_check;

/* MHD_KeyValueIterator over the query: stops at the first argument whose name or value has a
 * malformed %-escape or does not decode to clean text, so that no handler mistakes one for an
 * absent parameter. */
static enum MHD_Result query_arg_clean(void *cls, enum MHD_ValueKind kind, const char *key,
                                       const char *value)
{
    (void)kind;
    query_check *qc = cls;
    const char *texts[2] = {key, value ? value : ""};
    for (int i = 0; i < 2; i++) {
        size_t raw = strlen(texts[i]);
        char *decoded = sao_arena_alloc(qc->arena, raw + 1);
        long len = percent_decode(decoded, texts[i], raw, 1);
        if (len < 0 || !is_clean_text(decoded, (size_t)len)) {
            qc->bad = key;
            return MHD_NO;
        }
    }
    return MHD_YES;
}

/* Finds the route, or decides the 400 / 404 / 405 the server answers itself. */
static void request_route(request_ctx *rc, struct MHD_Connection *conn, const char *url,
                          const char *method)
{
    sao_api_server *server = rc->server;
    sao_arena *arena = ctx_arena(rc);
    path_parts parts;
    const char *why = NULL;
    if (path_split(&parts, arena, url, &why) != 0) {
        set_verdict(rc, 400, "bad_request", "%s", why);
        return;
    }
    query_check qc = {arena, NULL};
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, query_arg_clean, &qc);
    if (qc.bad) {
        char name[64];
        sao_strlcpy(name, qc.bad, sizeof(name));
        sanitize_text(name);
        set_verdict(rc, 400, "bad_request",
                    "query parameter '%s' holds a malformed %%-escape or is not valid UTF-8 "
                    "text",
                    name);
        return;
    }
    const compiled_route *path_match = NULL;
    for (size_t i = 0; i < server->route_count; i++) {
        const compiled_route *cr = &server->compiled[i];
        if (!route_matches(cr, &parts, arena, NULL, NULL)) continue;
        if (!path_match) path_match = cr;
        if (rc->options || !method_matches(cr->route->method, method)) continue;
        route_matches(cr, &parts, arena, rc->params, &rc->param_count);
        rc->route = cr;
        return;
    }
    if (!path_match) {
        set_verdict(rc, 404, "not_found", "no route for this path");
        return;
    }
    /* The pattern is a bounded label for metrics and the log even when the method is wrong. */
    rc->route = path_match;
    rc->allow = allow_list(server, &parts, arena);
    if (!rc->options) set_verdict(rc, 405, "method_not_allowed", "this path answers %s", rc->allow);
}

static int probe_path(const char *url)
{
    for (size_t i = 0; i < SAO_ARRAY_LEN(probe_paths); i++)
        if (strcmp(url, probe_paths[i]) == 0) return 1;
    return 0;
}

/* Whether a body follows the headers: then an early answer saves reading it (MHD closes the
 * connection after an answer given before the body). Without one, answering from the final
 * call keeps the connection alive. */
static int body_expected(struct MHD_Connection *conn)
{
    const char *te = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Transfer-Encoding");
    if (te) return 1;
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
    return cl && strspn(cl, "0") != strlen(cl);
}

/* The declared Content-Length, or -1 when absent or unparsable (MHD itself rejects the latter). */
static long long declared_length(struct MHD_Connection *conn)
{
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
    if (!cl || !*cl) return -1;
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(cl, &end, 10);
    if (errno || *end || cl[0] == '-') return -1;
    return v > (unsigned long long)LLONG_MAX ? LLONG_MAX : (long long)v;
}

static const char *allowed_origin(const sao_api_server *server, struct MHD_Connection *conn)
{
    if (!server->cors_count && !server->cors_any) return NULL;
    const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
    if (!origin) return NULL;
    size_t len = 0;
    for (; origin[len]; len++) {
        unsigned char c = (unsigned char)origin[len];
        if (len >= 256 || c <= 0x20 || c >= 0x7f) return NULL;
    }
    if (!len) return NULL;
    if (server->cors_any) return origin;
    for (size_t i = 0; i < server->cors_count; i++)
        if (strcasecmp(server->cors[i], origin) == 0) return origin;
    return NULL;
}

static int is_json(const char *content_type)
{
    return !content_type || strncasecmp(content_type, "application/json", 16) == 0;
}

/* Sends `res` (consumed) with the headers every answer carries. */
static enum MHD_Result send_response(request_ctx *rc, struct MHD_Connection *conn,
                                     sao_api_response *res)
{
    sao_api_server *server = rc->server;
    int status = res->status;
    int no_body = status == 204 || status == 304;
    if (no_body) response_drop_body(res);
    size_t len = res->body ? res->body_len : 0;
    struct MHD_Response *resp;
    if (!res->body) {
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    } else if (res->body_static) {
        resp = MHD_create_response_from_buffer(len, res->body, MHD_RESPMEM_PERSISTENT);
    } else if (res->body_release) {
        resp = MHD_create_response_from_buffer_with_free_callback_cls(
            len, res->body, res->body_release, res->body_release_cls);
        if (resp) { /* MHD releases it after sending */
            res->body = NULL;
            res->body_release = NULL;
        }
    } else {
        resp = MHD_create_response_from_buffer_with_free_callback(len, res->body, sao_free);
        if (resp) res->body = NULL; /* MHD frees it after sending */
    }
    if (!resp) {
        sao_api__response_dispose(res);
        return MHD_NO;
    }
    int has_cache_control = 0;
    for (size_t i = 0; i < res->header_count; i++) {
        if (strcasecmp(res->header_names[i], "Cache-Control") == 0) has_cache_control = 1;
        if (MHD_add_response_header(resp, res->header_names[i], res->header_values[i]) != MHD_YES)
            sao_log(SAO_LOG_WARN, "api", "handler header %s refused (invalid value)",
                    res->header_names[i]);
    }
    if (!no_body) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                res->content_type ? res->content_type : "application/json");
        if (is_json(res->content_type) && !has_cache_control)
            MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    }
    MHD_add_response_header(resp, "X-Request-Id", rc->request_id);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (server->cors_count || server->cors_any) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, "Origin");
        const char *origin = allowed_origin(server, conn);
        if (origin) {
            MHD_add_response_header(resp, "Access-Control-Allow-Origin", origin);
            MHD_add_response_header(resp, "Access-Control-Expose-Headers", "X-Request-Id");
        }
    }
    /* While draining, tell keep-alive clients to reconnect (to the next instance). */
    if (atomic_load(&server->stopping))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");

    enum MHD_Result ok = MHD_queue_response(conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    sao_api__response_dispose(res);
    if (ok == MHD_YES) {
        rc->responded = 1;
        rc->status = status;
        rc->bytes = strcmp(rc->method_label, "HEAD") == 0 ? 0 : len;
    }
    return ok;
}

static enum MHD_Result send_verdict(request_ctx *rc, struct MHD_Connection *conn)
{
    sao_api_request req = {.request_id = rc->request_id};
    sao_api_response res = {0};
    sao_api__error(&res, &req, rc->verdict_status, rc->verdict_code, "%s", rc->verdict_message);
    if (rc->verdict_status == 405 && rc->allow)
        sao_api__header_add(&res, MHD_HTTP_HEADER_ALLOW, rc->allow);
    if (rc->verdict_status == 429) {
        char secs[24];
        snprintf(secs, sizeof(secs), "%ld", rc->retry_after_s);
        sao_api__header_add(&res, MHD_HTTP_HEADER_RETRY_AFTER, secs);
    }
    return send_response(rc, conn, &res);
}

/* Access-Control-Request-Headers echoed back when it is a plain list of header names. */
static int header_list_is_sane(const char *list)
{
    size_t len = strlen(list);
    if (len == 0 || len > 512) return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)list[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == ',' || c == ' '))
            return 0;
    }
    return 1;
}

/* OPTIONS on a routed path: 204 with Allow; a CORS preflight from an allowed origin also gets
 * the Access-Control-Allow-* answer. A preflight from another origin gets the plain 204, which
 * the browser reads as a refusal. */
static enum MHD_Result send_options(request_ctx *rc, struct MHD_Connection *conn)
{
    sao_api_response res = {0};
    res.status = 204;
    sao_api__header_add(&res, MHD_HTTP_HEADER_ALLOW, rc->allow);
    const char *wanted =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Access-Control-Request-Method");
    if (wanted && allowed_origin(rc->server, conn)) {
        const char *headers =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Access-Control-Request-Headers");
        sao_api__header_add(&res, "Access-Control-Allow-Methods", rc->allow);
        sao_api__header_add(&res, "Access-Control-Allow-Headers",
                            headers && header_list_is_sane(headers) ? headers
                                                                    : CORS_DEFAULT_HEADERS);
        sao_api__header_add(&res, "Access-Control-Max-Age", CORS_MAX_AGE_S);
    }
    return send_response(rc, conn, &res);
}

static enum MHD_Result dispatch(request_ctx *rc, struct MHD_Connection *conn, const char *url,
                                const char *method)
{
    sao_api_request req = {0};
    req.method = method;
    req.path = url;
    req.route = rc->route->route->pattern;
    for (size_t i = 0; i < rc->param_count; i++) req.params[i] = rc->params[i];
    req.param_count = rc->param_count;
    req.body = rc->body.len ? rc->body.data : NULL;
    req.body_len = rc->body.len;
    req.request_id = rc->request_id;
    req.client = rc->client;
    req.arena = ctx_arena(rc);
    req.conn = conn;

    sao_api_response res = {0};
    rc->route->route->handler(&req, &res, rc->server->ctx);
    if (res.status < 100 || res.status > 599) {
        sao_log(SAO_LOG_ERROR, "api", "handler for %s %s left status %d", method,
                rc->route->route->pattern, res.status);
        sao_api__response_dispose(&res);
        sao_api__error(&res, &req, 500, "internal", "the handler produced no response");
    }
    return send_response(rc, conn, &res);
}

static request_ctx *request_begin(sao_api_server *server, struct MHD_Connection *conn,
                                  const char *url, const char *method)
{
    request_ctx *rc = sao_calloc(1, sizeof(*rc));
    rc->server = server;
    rc->started = sao_monotonic();
    sao_buf_init(&rc->body, server->opts.max_body);
    rc->method_label = method_label(method);
    rc->options = strcmp(method, "OPTIONS") == 0;
    request_id_assign(rc->request_id,
                      MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id"));
    client_text(rc->client, sizeof(rc->client), client_sockaddr(conn));
    if (server->opts.access_log) {
        log_escape(rc->log_method, sizeof(rc->log_method), method, 16);
        log_escape(rc->log_path, sizeof(rc->log_path), url, LOG_PATH_MAX);
    }
    atomic_fetch_add(&server->in_flight, 1);
    if (server->requests_in_flight) sao_metric_inc(server->requests_in_flight, NULL, 1.0);
    return rc;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    sao_api_server *server = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        conn_state *cs = sao_malloc(sizeof(*cs));
        cs->fresh = 1;
        atomic_fetch_add(&server->fresh_connections, 1);
        *socket_context = cs;
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        conn_state *cs = *socket_context;
        if (cs && cs->fresh) atomic_fetch_sub(&server->fresh_connections, 1);
        sao_free(cs);
        *socket_context = NULL;
    }
}

/* The connection has begun its first request: from now on in_flight covers it. */
static void connection_used(sao_api_server *server, struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    conn_state *cs = ci ? ci->socket_context : NULL;
    if (cs && cs->fresh) {
        cs->fresh = 0;
        atomic_fetch_sub(&server->fresh_connections, 1);
    }
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    sao_api_server *server = cls;
    request_ctx *rc = *con_cls;

    if (!rc) {
        rc = request_begin(server, conn, url, method);
        *con_cls = rc;
        connection_used(server, conn);
        request_route(rc, conn, url, method);
        /* Every path spends tokens (a flood of 404s is still a flood) except the probes. */
        if (server->rate && !probe_path(url)) {
            long wait_s = rate_take(server->rate, client_sockaddr(conn), rc->started);
            if (wait_s > 0) {
                rc->retry_after_s = wait_s;
                set_verdict(rc, 429, "too_many_requests", "rate limit exceeded; retry in %ld s",
                            wait_s);
            }
        }
        if (!rc->verdict_status && declared_length(conn) > (long long)server->opts.max_body) {
            set_verdict(rc, 413, "payload_too_large", "the body exceeds %zu bytes",
                        server->opts.max_body);
            return send_verdict(rc, conn);
        }
        if (rc->verdict_status && body_expected(conn)) return send_verdict(rc, conn);
        return MHD_YES;
    }

    if (*upload_data_size) {
        size_t chunk = *upload_data_size;
        *upload_data_size = 0;
        if (rc->responded) return MHD_YES;
        if (rc->verdict_status || rc->options) {
            /* Dropping a body we will not use (an OPTIONS body means nothing). */
            rc->discarded += chunk;
            return rc->discarded > DISCARD_MAX ? MHD_NO : MHD_YES;
        }
        if (sao_buf_append(&rc->body, upload_data, chunk) != 0) {
            sao_buf_dispose(&rc->body);
            set_verdict(rc, 413, "payload_too_large", "the body exceeds %zu bytes",
                        server->opts.max_body);
            rc->discarded = chunk;
            /* MHD 0.9.75 refuses an answer in the middle of a body (newer ones send it and
             * close); then the rest is dropped and the 413 goes out at the end. */
            send_verdict(rc, conn);
        }
        return MHD_YES;
    }

    if (rc->responded) return MHD_YES;
    if (rc->verdict_status) return send_verdict(rc, conn);
    if (rc->options) return send_options(rc, conn);
    return dispatch(rc, conn, url, method);
}

static void access_log(const request_ctx *rc, double elapsed)
{
    const char *route = rc->route ? rc->route->route->pattern : "unmatched";
    sao_log(SAO_LOG_INFO, "access",
            "{\"request_id\":\"%s\",\"method\":\"%s\",\"path\":\"%s\",\"route\":\"%s\","
            "\"status\":%d,\"duration_ms\":%.3f,\"bytes\":%zu,\"client\":\"%s\"}",
            rc->request_id, rc->log_method, rc->log_path, route, rc->status, elapsed * 1e3,
            rc->bytes, rc->client);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    sao_api_server *server = cls;
    request_ctx *rc = *con_cls;
    if (!rc) return;
    *con_cls = NULL;
    /* No answer went out: either the server gave up on the request (a body far past the limit)
     * or the client left, or the daemon stopped, first (499, as nginx logs it). */
    if (!rc->responded) rc->status = rc->verdict_status ? rc->verdict_status : 499;
    double elapsed = sao_monotonic() - rc->started;
    if (server->requests_total) {
        const char *route = rc->route ? rc->route->route->pattern : "unmatched";
        char status[16];
        snprintf(status, sizeof(status), "%d", rc->status);
        const char *labels[3] = {route, rc->method_label, status};
        const char *route_label[1] = {route};
        sao_metric_inc(server->requests_total, labels, 1.0);
        sao_metric_observe(server->request_duration, route_label, elapsed);
        sao_metric_inc(server->requests_in_flight, NULL, -1.0);
    }
    if (server->opts.access_log) access_log(rc, elapsed);
    sao_buf_dispose(&rc->body);
    sao_arena_free(rc->arena);
    sao_free(rc);
    atomic_fetch_sub(&server->in_flight, 1);
}

/* MHD must not undo %-escapes in the path: "%2F" has to stay inside its segment until the router
 * has split the path. Query values are decoded by sao_api__query instead. */
static size_t unescape_none(void *cls, struct MHD_Connection *conn, char *s)
{
    return strlen(s);
}

/* MHD's messages about what a client did wrong (malformed requests, early hang-ups): routine on
 * a public port, so they go to the debug level; everything else is a warning. */
static const char *const client_fault_prefixes[] = {
    "Error processing request",
    "Connection was closed by remote side",
    "Failed to parse",
    "Not enough memory in pool",
    "Failed to receive data",
    "Failed to send data",
    "Socket disconnected",
    "Socket has been disconnected",
    "Application reported internal error",
};

/* The last MHD message on this thread, for the error of a failed start. */
static _Thread_local char mhd_last_error[256];

/* MHD's log, through ours; at most 20 lines a second, since hostile traffic makes it chatty. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    static atomic_long window;
    static atomic_int lines;
    char message[256];
    vsnprintf(message, sizeof(message), fmt, ap);
    size_t len = strlen(message);
    while (len && (message[len - 1] == '\n' || message[len - 1] == '\r')) message[--len] = '\0';
    sanitize_text(message);
    sao_strlcpy(mhd_last_error, message, sizeof(mhd_last_error));
    sao_log_level level = SAO_LOG_WARN;
    for (size_t i = 0; i < SAO_ARRAY_LEN(client_fault_prefixes); i++)
        if (strncmp(message, client_fault_prefixes[i], strlen(client_fault_prefixes[i])) == 0)
            level = SAO_LOG_DEBUG;
    if ((int)level < sao__log_min_level) return;
    long now = (long)sao_monotonic();
    if (atomic_exchange(&window, now) != now) atomic_store(&lines, 0);
    if (atomic_fetch_add(&lines, 1) < 20) sao_log(level, "http", "%s", message);
}

/* ---------------------------------------------------------------------------------------------
 * Life cycle.
 */

static void parse_cors(sao_api_server *server, const char *list)
{
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',') p++;
        const char *start = p;
        while (*p && *p != ',') p++;
        const char *end = p;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '/')) end--;
        if (end == start) continue;
        if (end - start == 1 && *start == '*') {
            server->cors_any = 1;
        } else if (server->cors_count < CORS_ORIGINS_MAX) {
            server->cors[server->cors_count++] = sao_strndup(start, (size_t)(end - start));
        } else {
            sao_log(SAO_LOG_WARN, "api", "more than %d CORS origins; the rest are ignored",
                    CORS_ORIGINS_MAX);
            break;
        }
    }
}

static void server_free(sao_api_server *server)
{
    if (!server) return;
    for (size_t i = 0; i < server->route_count; i++)
        for (size_t s = 0; s < server->compiled[i].segment_count; s++)
            sao_free(server->compiled[i].segments[s]);
    sao_free(server->compiled);
    sao_free(server->routes);
    for (size_t i = 0; i < server->cors_count; i++) sao_free(server->cors[i]);
    rate_table_free(server->rate);
    sao_free(server);
}

static void register_metrics(sao_api_server *server, sao_metrics *metrics)
{
    static const char *const totals[] = {"route", "method", "status"};
    static const char *const by_route[] = {"route"};
    server->requests_total = sao_metrics_counter(
        metrics, "http_requests_total",
        "HTTP requests answered, by route pattern, method and status", totals, 3);
    server->request_duration = sao_metrics_histogram(
        metrics, "http_request_duration_seconds",
        "Time from the request headers to the end of the response, by route pattern", by_route, 1,
        NULL, 0);
    server->requests_in_flight = sao_metrics_gauge(metrics, "http_requests_in_flight",
                                                   "HTTP requests being handled now", NULL, 0);
}

int sao_api__server_start(sao_api_server **out, const sao_api_server_config *cfg)
{
    SAO_ASSERT(out && cfg && cfg->opts && (cfg->routes || !cfg->route_count));
    const sao_api_options *opts = cfg->opts;
    if (opts->port < 0 || opts->port > 65535)
        return sao_error_set(SAO_EINVAL, "port %d is not between 0 and 65535", opts->port);
    sao_api_server *server = sao_calloc(1, sizeof(*server));
    server->opts = *opts;
    if (!server->opts.max_body) server->opts.max_body = DEFAULT_MAX_BODY;
    if (server->opts.timeout_s <= 0) server->opts.timeout_s = DEFAULT_TIMEOUT_S;
    server->ctx = cfg->ctx;
    server->route_count = cfg->route_count;
    server->routes = sao_calloc(cfg->route_count ? cfg->route_count : 1, sizeof(sao_api_route));
    server->compiled = sao_calloc(cfg->route_count ? cfg->route_count : 1, sizeof(compiled_route));
    if (cfg->route_count)
        memcpy(server->routes, cfg->routes, cfg->route_count * sizeof(sao_api_route));
    for (size_t i = 0; i < cfg->route_count; i++)
        compile_route(&server->compiled[i], &server->routes[i]);
    parse_cors(server, opts->cors_origins);
    if (opts->rate_limit > 0) server->rate = rate_table_new(opts->rate_limit, opts->rate_burst);
    if (cfg->metrics) register_metrics(server, cfg->metrics);

    long threads = opts->threads > 0 ? opts->threads : sysconf(_SC_NPROCESSORS_ONLN);
    if (threads < 1) threads = 1;
    if (threads > THREADS_MAX) threads = THREADS_MAX;

    const char *host = opts->host[0] ? opts->host : "0.0.0.0";
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    int gai = getaddrinfo(host, NULL, &hints, &ai);
    if (gai != 0 || !ai) {
        int rc = sao_error_set(SAO_EIO, "cannot resolve listen address '%s': %s", host,
                               gai_strerror(gai));
        server_free(server);
        return rc;
    }
    struct sockaddr_storage addr;
    memset(&addr, 0, sizeof(addr));
    memcpy(&addr, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    /* MHD_USE_ITC: MHD_quiesce_daemon needs it with a thread pool. MHD_USE_TURBO was measured:
     * no gain in throughput or latency here, so MHD keeps its careful socket shutdowns. */
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG | MHD_USE_ITC;
    if (addr.ss_family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&addr;
        in6->sin6_port = htons((uint16_t)opts->port);
        /* "::" means every address, IPv4 ones included. */
        flags |= IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr) ? MHD_USE_DUAL_STACK : MHD_USE_IPv6;
    } else {
        ((struct sockaddr_in *)&addr)->sin_port = htons((uint16_t)opts->port);
    }

    mhd_last_error[0] = '\0';
    /* One option a line, each with its argument(s), like a table. */
    /* clang-format off */
    server->daemon = MHD_start_daemon(
        flags, (uint16_t)opts->port, NULL, NULL, on_access, server,
        /* First, so that MHD's messages about the options below come through it too. */
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&addr,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)server->opts.timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY_LIMIT,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONNECTION_LIMIT,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)LISTEN_BACKLOG,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, server,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, server,
        MHD_OPTION_UNESCAPE_CALLBACK, unescape_none, NULL,
        MHD_OPTION_END);
    /* clang-format on */
    if (!server->daemon) {
        int rc = sao_error_set(SAO_EIO, "cannot listen on %s port %d%s%s", host, opts->port,
                               mhd_last_error[0] ? ": " : "", mhd_last_error);
        server_free(server);
        return rc;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(server->daemon, MHD_DAEMON_INFO_BIND_PORT);
    server->port = info && info->port ? info->port : opts->port;
    sao_log(SAO_LOG_INFO, "api", "listening on %s port %d (%ld threads)", host, server->port,
            threads);
    *out = server;
    return 0;
}

int sao_api__server_port(const sao_api_server *server)
{
    return server ? server->port : 0;
}

long sao_api__server_in_flight(const sao_api_server *server)
{
    return server ? atomic_load(&server->in_flight) : 0;
}

void sao_api__server_stop(sao_api_server *server, int drain_s)
{
    if (!server) return;
    atomic_store(&server->stopping, 1);
    MHD_socket fd = MHD_quiesce_daemon(server->daemon);
    /* MHD wants the socket open until it stops; shutting it down makes the kernel refuse new
     * connections now instead of queueing them where nobody will accept. */
    if (fd != MHD_INVALID_SOCKET) shutdown(fd, SHUT_RDWR);
    /* Drained means no request in flight and no accepted connection still waiting for a worker
     * to read its first request (a connection that never sends one holds this up to drain_s). */
    double deadline = sao_monotonic() + (drain_s > 0 ? drain_s : 0);
    while ((atomic_load(&server->in_flight) > 0 || atomic_load(&server->fresh_connections) > 0) &&
           sao_monotonic() < deadline) {
        struct timespec pause = {0, 5 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    long left = atomic_load(&server->in_flight);
    if (left > 0)
        sao_log(SAO_LOG_WARN, "api", "stopping with %ld requests still in flight after %d s", left,
                drain_s);
    MHD_stop_daemon(server->daemon);
    if (fd != MHD_INVALID_SOCKET) close(fd);
    sao_log(SAO_LOG_INFO, "api", "stopped");
    server_free(server);
}
