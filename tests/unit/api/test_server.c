/*
 * Unit tests for the API server: routing, limits, request ids, CORS, rate limiting, metrics,
 * the access log, slow clients and graceful shutdown, spoken to over raw sockets on loopback.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "api/api_int.h"
#include "test.h"

/* ---------------------------------------------------------------------------------------------
 * A tiny HTTP/1.1 client over a blocking socket, precise about what goes on the wire.
 */

typedef struct client {
    int fd;
    char buf[256 * 1024];
    size_t len;
} client;

typedef struct reply {
    int status;
    char head[16 * 1024];
    char body[128 * 1024];
    size_t body_len;
} reply;

static int client_open(client *c, int port)
{
    c->len = 0;
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0) return -1;
    struct timeval tv = {5, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        int saved = errno;
        close(c->fd);
        c->fd = -1;
        errno = saved;
        return -1;
    }
    return 0;
}

static void client_close(client *c)
{
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
}

static int client_send(client *c, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
        if (n <= 0) return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int client_fill(client *c)
{
    if (c->len == sizeof(c->buf)) return -1;
    ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
    if (n <= 0) return -1;
    c->len += (size_t)n;
    return 0;
}

/* Copies the value of header `name` from r->head into out; 0 when found, -1 otherwise. */
static int reply_header(const reply *r, const char *name, char *out, size_t size)
{
    size_t name_len = strlen(name);
    const char *line = strstr(r->head, "\r\n");
    while (line && line[2]) {
        line += 2;
        if (strncasecmp(line, name, name_len) == 0 && line[name_len] == ':') {
            const char *v = line + name_len + 1;
            while (*v == ' ') v++;
            const char *end = strstr(v, "\r\n");
            size_t n = end ? (size_t)(end - v) : strlen(v);
            if (n >= size) n = size - 1;
            memcpy(out, v, n);
            out[n] = '\0';
            return 0;
        }
        line = strstr(line, "\r\n");
    }
    return -1;
}

static char *find_blank_line(char *buf, size_t len)
{
    for (size_t i = 0; i + 4 <= len; i++)
        if (memcmp(buf + i, "\r\n\r\n", 4) == 0) return buf + i;
    return NULL;
}

/* Reads one response (no body for HEAD, 204 and 304). 0, or -1 on EOF, timeout or garbage. */
static int client_read(client *c, reply *r, int head_request)
{
    char *end;
    for (;;) {
        c->buf[c->len < sizeof(c->buf) ? c->len : sizeof(c->buf) - 1] = '\0';
        if (c->len && (end = find_blank_line(c->buf, c->len))) break;
        if (client_fill(c) != 0) return -1;
    }
    size_t head_len = (size_t)(end - c->buf) + 4;
    if (head_len >= sizeof(r->head)) return -1;
    memcpy(r->head, c->buf, head_len);
    r->head[head_len] = '\0';
    if (sscanf(r->head, "HTTP/1.%*d %d", &r->status) != 1) return -1;
    size_t body_len = 0;
    char value[64];
    if (!head_request && r->status != 204 && r->status != 304 &&
        reply_header(r, "Content-Length", value, sizeof(value)) == 0)
        body_len = strtoul(value, NULL, 10);
    if (body_len >= sizeof(r->body)) return -1;
    while (c->len < head_len + body_len)
        if (client_fill(c) != 0) return -1;
    memcpy(r->body, c->buf + head_len, body_len);
    r->body[body_len] = '\0';
    r->body_len = body_len;
    memmove(c->buf, c->buf + head_len + body_len, c->len - head_len - body_len);
    c->len -= head_len + body_len;
    return 0;
}

/* One request on a fresh connection. Returns the status, or -1. */
static int http_raw(int port, const char *request, size_t len, reply *r)
{
    client *c = sao_malloc(sizeof(*c));
    int status = -1;
    if (client_open(c, port) == 0 && client_send(c, request, len) == 0 &&
        client_read(c, r, strncmp(request, "HEAD ", 5) == 0) == 0)
        status = r->status;
    client_close(c);
    sao_free(c);
    return status;
}

static int http(int port, const char *request, reply *r)
{
    return http_raw(port, request, strlen(request), r);
}

/* GET `path` with optional extra header lines ("Name: value\r\n..."). */
static int http_get(int port, const char *path, const char *extra, reply *r)
{
    char request[8192];
    snprintf(request, sizeof(request), "GET %s HTTP/1.1\r\nHost: t\r\n%sConnection: close\r\n\r\n",
             path, extra ? extra : "");
    return http(port, request, r);
}

static void assert_header(const reply *r, const char *name, const char *expected)
{
    char value[1024];
    if (reply_header(r, name, value, sizeof(value)) != 0) {
        fprintf(stderr, "header %s missing in:\n%s\n", name, r->head);
        exit(1);
    }
    ASSERT_STREQ(value, expected);
}

static void assert_no_header(const reply *r, const char *name)
{
    char value[1024];
    if (reply_header(r, name, value, sizeof(value)) == 0) {
        fprintf(stderr, "unexpected header %s: %s in:\n%s\n", name, value, r->head);
        exit(1);
    }
}

static void assert_error(const reply *r, int status, const char *code)
{
    ASSERT_EQ(r->status, status);
    json_error_t jerr;
    json_t *doc = json_loadb(r->body, r->body_len, 0, &jerr);
    ASSERT_TRUE(doc != NULL);
    json_t *err = json_object_get(doc, "error");
    ASSERT_STREQ(json_string_value(json_object_get(err, "code")), code);
    ASSERT_TRUE(json_string_value(json_object_get(err, "message")) != NULL);
    char id[256];
    ASSERT_OK(reply_header(r, "X-Request-Id", id, sizeof(id)));
    ASSERT_STREQ(json_string_value(json_object_get(err, "request_id")), id);
    json_decref(doc);
    assert_header(r, "Content-Type", "application/json");
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---------------------------------------------------------------------------------------------
 * The routes under test.
 */

typedef struct fixture {
    sao_api_options opts;
    sao_api_server *server;
    sao_metrics *metrics;
    int port;
} fixture;

static void handle_echo(const sao_api_request *req, sao_api_response *res, void *ctx)
{
    const char *q = sao_api__query(req, "q");
    sao_api__json(res, 200,
                  json_pack("{s:s,s:s,s:s,s:s?,s:s}", "name", req->params[0], "route", req->route,
                            "method", req->method, "q", q, "request_id", req->request_id));
}

static void handle_put(const sao_api_request *req, sao_api_response *res, void *ctx)
{
    sao_api__static(res, 200, "text/plain", "put\n", 4);
}

static void handle_body(const sao_api_request *req, sao_api_response *res, void *ctx)
{
    int nul_terminated = req->body ? req->body[req->body_len] == '\0' : 1;
    sao_api__json(
        res, 200,
        json_pack("{s:I,s:b}", "len", (json_int_t)req->body_len, "nul_terminated", nul_terminated));
}

static void handle_slow(const sao_api_request *req, sao_api_response *res, void *ctx)
{
    sleep_ms(300);
    sao_api__raw(res, 200, "text/plain", "slow\n", 5);
}

static void handle_docs(const sao_api_request *req, sao_api_response *res, void *ctx)
{
    sao_api__json(res, 200,
                  json_pack("{s:s,s:i}", "rest", req->params[req->param_count - 1], "count",
                            (int)req->param_count));
}

static void handle_health(const sao_api_request *req, sao_api_response *res, void *ctx)
{
    sao_api__static(res, 200, "text/plain", "ok\n", 3);
}

static void handle_metrics(const sao_api_request *req, sao_api_response *res, void *ctx)
{
    fixture *f = ctx;
    sao_buf out;
    sao_buf_init(&out, 0);
    sao_metrics_render(f->metrics, &out);
    sao_api__raw(res, 200, SAO_METRICS_CONTENT_TYPE, out.data, out.len);
    sao_buf_dispose(&out);
}

static void handle_nothing(const sao_api_request *req, sao_api_response *res, void *ctx)
{
}

static void handle_cached(const sao_api_request *req, sao_api_response *res, void *ctx)
{
    sao_api__header_add(res, "Cache-Control", "max-age=60");
    sao_api__json(res, 200, json_pack("{s:b}", "cached", 1));
}

static void handle_teapot(const sao_api_request *req, sao_api_response *res, void *ctx)
{
    sao_api__error(res, req, 418, "teapot", "bad bytes \xff\x01 in '%s'", "x\xc3");
}

static const sao_api_route routes[] = {
    {"GET", "/api/v1/echo/{name}", handle_echo, 0, "echo"},
    {"PUT", "/api/v1/echo/{name}", handle_put, 0, "put"},
    {"POST", "/api/v1/body", handle_body, 0, "body"},
    {"GET", "/slow", handle_slow, 0, "slow"},
    {"GET", "/docs/", handle_docs, SAO_API_ROUTE_PREFIX, "docs"},
    {"GET", "/files/{kind}/", handle_docs, SAO_API_ROUTE_PREFIX, "files"},
    {"GET", "/healthz", handle_health, 0, "health"},
    {"GET", "/metrics", handle_metrics, 0, "metrics"},
    {"GET", "/nothing", handle_nothing, 0, "nothing"},
    {"GET", "/cached", handle_cached, 0, "cached"},
    {"GET", "/teapot", handle_teapot, 0, "teapot"},
};

/* ---------------------------------------------------------------------------------------------
 * Captured log lines.
 */

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static sao_buf log_lines;

static void capture_sink(sao_log_level level, const char *module, const char *message,
                         void *userdata)
{
    pthread_mutex_lock(&log_lock);
    if (!log_lines.max) sao_buf_init(&log_lines, 4 * 1024 * 1024);
    if (log_lines.len > 3 * 1024 * 1024) sao_buf_clear(&log_lines);
    sao_buf_appendf(&log_lines, "%s\t%s\n", module, message);
    pthread_mutex_unlock(&log_lock);
}

static void fixture_options(fixture *f)
{
    memset(f, 0, sizeof(*f));
    sao_strlcpy(f->opts.host, "127.0.0.1", sizeof(f->opts.host));
    f->opts.port = 0;
    f->opts.threads = 2;
    f->opts.max_body = 1024;
    f->opts.timeout_s = 5;
}

static void fixture_start(fixture *f)
{
    sao_log_set_sink(capture_sink, NULL);
    ASSERT_OK(sao_metrics_new(&f->metrics, 0));
    sao_api_server_config cfg = {0};
    cfg.opts = &f->opts;
    cfg.routes = routes;
    cfg.route_count = SAO_ARRAY_LEN(routes);
    cfg.ctx = f;
    cfg.metrics = f->metrics;
    ASSERT_OK(sao_api__server_start(&f->server, &cfg));
    f->port = sao_api__server_port(f->server);
    ASSERT_TRUE(f->port > 0);
}

static void wait_idle(fixture *f)
{
    for (int i = 0; i < 400 && sao_api__server_in_flight(f->server) > 0; i++) sleep_ms(5);
    ASSERT_EQ(sao_api__server_in_flight(f->server), 0);
}

/* The server's counter family (registering the same name and labels again finds it). */
static sao_metric *requests_total(fixture *f)
{
    static const char *const labels[] = {"route", "method", "status"};
    return sao_metrics_counter(f->metrics, "http_requests_total", "lookup", labels, 3);
}

static void fixture_stop(fixture *f)
{
    sao_api__server_stop(f->server, 2);
    sao_metrics_free(f->metrics);
    f->server = NULL;
}

/* ---------------------------------------------------------------------------------------------
 * Tests.
 */

static void test_routing_and_params(void)
{
    fixture f;
    fixture_options(&f);
    fixture_start(&f);
    reply r;

    ASSERT_EQ(http_get(f.port, "/api/v1/echo/%5EGSPC?q=a%20b+c", NULL, &r), 200);
    ASSERT_CONTAINS(r.body, "\"name\":\"^GSPC\"");
    ASSERT_CONTAINS(r.body, "\"route\":\"/api/v1/echo/{name}\"");
    ASSERT_CONTAINS(r.body, "\"q\":\"a b c\"");
    ASSERT_EQ(http_get(f.port, "/api/v1/echo/BRK-B", NULL, &r), 200);
    ASSERT_CONTAINS(r.body, "\"name\":\"BRK-B\"");
    ASSERT_EQ(http_get(f.port, "/api/v1/echo/%C3%A9t%C3%A9", NULL, &r), 200);
    ASSERT_CONTAINS(r.body, "\"name\":\"\xc3\xa9t\xc3\xa9\"");
    /* A malformed query argument (name or value) is refused, never read as absent. */
    ASSERT_EQ(http_get(f.port, "/api/v1/echo/x?q=%ff", NULL, &r), 400);
    assert_error(&r, 400, "bad_request");
    ASSERT_CONTAINS(r.body, "query parameter 'q'");
    ASSERT_EQ(http_get(f.port, "/api/v1/echo/x?q=%zz", NULL, &r), 400);
    ASSERT_EQ(http_get(f.port, "/api/v1/echo/x?other=%01&q=a", NULL, &r), 400);
    ASSERT_CONTAINS(r.body, "query parameter 'other'");
    ASSERT_EQ(http_get(f.port, "/api/v1/echo/x?%ff=1", NULL, &r), 400);
    ASSERT_EQ(http_get(f.port, "/api/v1/echo/x?q=%C3%A9&flag", NULL, &r), 200);
    ASSERT_CONTAINS(r.body, "\"q\":\"\xc3\xa9\"");

    ASSERT_EQ(http_get(f.port, "/nope", NULL, &r), 404);
    assert_error(&r, 404, "not_found");
    ASSERT_EQ(http_get(f.port, "/api/v1/echo/", NULL, &r), 404);
    ASSERT_EQ(http_get(f.port, "/api/v1/echo/a/b", NULL, &r), 404);
    ASSERT_EQ(http_get(f.port, "/", NULL, &r), 404);

    /* Prefix routes: the rest of the path is the last parameter. */
    ASSERT_EQ(http_get(f.port, "/docs", NULL, &r), 200);
    ASSERT_CONTAINS(r.body, "\"rest\":\"\"");
    ASSERT_EQ(http_get(f.port, "/docs/", NULL, &r), 200);
    ASSERT_CONTAINS(r.body, "\"rest\":\"\"");
    ASSERT_EQ(http_get(f.port, "/docs/css/site%20v2.css", NULL, &r), 200);
    ASSERT_CONTAINS(r.body, "\"rest\":\"css/site v2.css\"");
    ASSERT_EQ(http_get(f.port, "/docsx", NULL, &r), 404);
    ASSERT_EQ(http_get(f.port, "/files/img/a/b.png", NULL, &r), 200);
    ASSERT_CONTAINS(r.body, "\"rest\":\"a/b.png\"");
    ASSERT_CONTAINS(r.body, "\"count\":2");

    /* A handler that sets nothing is a 500, not an empty 200. */
    ASSERT_EQ(http_get(f.port, "/nothing", NULL, &r), 500);
    assert_error(&r, 500, "internal");
    /* Error messages quoting bad bytes stay valid JSON. */
    ASSERT_EQ(http_get(f.port, "/teapot", NULL, &r), 418);
    assert_error(&r, 418, "teapot");
    fixture_stop(&f);
}

static void test_method_not_allowed_and_head(void)
{
    fixture f;
    fixture_options(&f);
    fixture_start(&f);
    reply r, g;

    ASSERT_EQ(http(f.port, "DELETE /api/v1/echo/x HTTP/1.1\r\nHost: t\r\n\r\n", &r), 405);
    assert_error(&r, 405, "method_not_allowed");
    assert_header(&r, "Allow", "GET, PUT, HEAD, OPTIONS");
    ASSERT_EQ(http(f.port, "GET /api/v1/body HTTP/1.1\r\nHost: t\r\n\r\n", &r), 405);
    assert_header(&r, "Allow", "POST, OPTIONS");
    ASSERT_EQ(http(f.port, "PUT /api/v1/echo/x HTTP/1.1\r\nHost: t\r\n\r\n", &r), 200);
    ASSERT_STREQ(r.body, "put\n");

    /* HEAD: GET's headers and length, no body; the connection stays usable afterwards. */
    ASSERT_EQ(http_get(f.port, "/cached", NULL, &g), 200);
    client *c = sao_malloc(sizeof(*c));
    ASSERT_OK(client_open(c, f.port));
    const char *two = "HEAD /cached HTTP/1.1\r\nHost: t\r\n\r\n"
                      "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";
    ASSERT_OK(client_send(c, two, strlen(two)));
    ASSERT_OK(client_read(c, &r, 1));
    ASSERT_EQ(r.status, 200);
    char glen[32], hlen[32];
    ASSERT_OK(reply_header(&g, "Content-Length", glen, sizeof(glen)));
    ASSERT_OK(reply_header(&r, "Content-Length", hlen, sizeof(hlen)));
    ASSERT_STREQ(hlen, glen);
    assert_header(&r, "Content-Type", "application/json");
    ASSERT_OK(client_read(c, &r, 0));
    ASSERT_EQ(r.status, 200);
    ASSERT_STREQ(r.body, "ok\n");
    client_close(c);
    sao_free(c);
    /* HEAD on a POST-only path is a 405 like any other method. */
    ASSERT_EQ(http(f.port, "HEAD /api/v1/body HTTP/1.1\r\nHost: t\r\n\r\n", &r), 405);
    fixture_stop(&f);
}

static void test_body_limits(void)
{
    fixture f;
    fixture_options(&f);
    fixture_start(&f);
    reply r;
    char request[8192];
    char body[2048];
    memset(body, 'a', sizeof(body));

    int n = snprintf(request, sizeof(request),
                     "POST /api/v1/body HTTP/1.1\r\nHost: t\r\nContent-Length: 1024\r\n\r\n");
    memcpy(request + n, body, 1024);
    ASSERT_EQ(http_raw(f.port, request, (size_t)n + 1024, &r), 200);
    ASSERT_CONTAINS(r.body, "\"len\":1024");
    ASSERT_CONTAINS(r.body, "\"nul_terminated\":true");

    /* Declared too big: refused before a byte of the body is read. */
    n = snprintf(request, sizeof(request),
                 "POST /api/v1/body HTTP/1.1\r\nHost: t\r\nContent-Length: 1025\r\n\r\n");
    ASSERT_EQ(http_raw(f.port, request, (size_t)n, &r), 413);
    assert_error(&r, 413, "payload_too_large");
    n = snprintf(request, sizeof(request),
                 "POST /api/v1/body HTTP/1.1\r\nHost: t\r\n"
                 "Content-Length: 99999999999999999999999\r\n\r\n");
    int status = http_raw(f.port, request, (size_t)n, &r);
    ASSERT_TRUE(status == 413 || status == 400);

    /* Chunked: the size is only known while reading. */
    n = snprintf(request, sizeof(request),
                 "POST /api/v1/body HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "200\r\n%.512s\r\n200\r\n%.512s\r\n0\r\n\r\n",
                 body, body);
    ASSERT_EQ(http_raw(f.port, request, (size_t)n, &r), 200);
    ASSERT_CONTAINS(r.body, "\"len\":1024");
    n = snprintf(request, sizeof(request),
                 "POST /api/v1/body HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "300\r\n%.768s\r\n300\r\n%.768s\r\n0\r\n\r\n",
                 body, body);
    ASSERT_EQ(http_raw(f.port, request, (size_t)n, &r), 413);
    assert_error(&r, 413, "payload_too_large");

    /* Far past the limit: read and dropped up to a point, then the connection is closed. */
    size_t huge = 3 * 1024 * 1024;
    char *flood = sao_malloc(huge + 256);
    n = snprintf(flood, huge + 256,
                 "POST /api/v1/body HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "%zx\r\n",
                 huge);
    memset(flood + n, 'b', huge);
    memcpy(flood + n + huge, "\r\n0\r\n\r\n", 7);
    status = http_raw(f.port, flood, (size_t)n + huge + 7, &r);
    ASSERT_TRUE(status == -1 || status == 413);
    sao_free(flood);

    /* A body on a path without a route: answered without reading it. */
    n = snprintf(request, sizeof(request),
                 "POST /nope HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n");
    ASSERT_EQ(http_raw(f.port, request, (size_t)n, &r), 404);
    ASSERT_EQ(http_get(f.port, "/healthz", NULL, &r), 200);
    fixture_stop(&f);
}

static void test_huge_request_line_and_headers(void)
{
    fixture f;
    fixture_options(&f);
    fixture_start(&f);
    reply r;
    size_t big = 40 * 1024;
    char *request = sao_malloc(big + 256);

    /* One header larger than the connection's memory. */
    int n = snprintf(request, big + 256, "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: ");
    memset(request + n, 'x', big);
    memcpy(request + n + big, "\r\n\r\n", 4);
    int status = http_raw(f.port, request, (size_t)n + big + 4, &r);
    ASSERT_EQ(status, 431);
    /* Many small headers adding up. */
    size_t o = (size_t)snprintf(request, big + 256, "GET /healthz HTTP/1.1\r\nHost: t\r\n");
    while (o < big) o += (size_t)snprintf(request + o, big + 256 - o, "X-H%zu: v\r\n", o);
    o += (size_t)snprintf(request + o, big + 256 - o, "\r\n");
    ASSERT_EQ(http_raw(f.port, request, o, &r), 431);
    /* A request line longer than the limit. */
    n = snprintf(request, big + 256, "GET /api/v1/echo/");
    memset(request + n, 'a', big);
    o = (size_t)n + big;
    o += (size_t)snprintf(request + o, big + 256 - o, " HTTP/1.1\r\nHost: t\r\n\r\n");
    ASSERT_EQ(http_raw(f.port, request, o, &r), 414);
    sao_free(request);

    ASSERT_EQ(http_get(f.port, "/healthz", NULL, &r), 200);
    fixture_stop(&f);
}

static void test_path_traversal_and_bad_bytes(void)
{
    fixture f;
    fixture_options(&f);
    f.opts.access_log = 1;
    fixture_start(&f);
    reply r;
    static const char *const bad[] = {
        "/api/v1/echo/..%2F..%2Fetc",
        "/api/v1/../x",
        "/api/v1/./echo/x",
        "/api/v1/echo/..",
        "/api/v1/echo/.",
        "/api/v1/echo/%2e%2e",
        "/api/v1/echo/%2E",
        "/api/v1/echo/%00",
        "/api/v1/echo/a%00b",
        "/api/v1/echo/a%2Fb",
        "/api/v1/echo/%zz",
        "/api/v1/echo/%4",
        "/api/v1/echo/%01",
        "/api/v1/echo/%ff%fe",
        "/api/v1/echo/%C0%AF",
        "/docs/../../etc/passwd",
        "/docs/a/%2e%2e/%2e%2e/b",
        "/docs/a/..",
    };
    for (size_t i = 0; i < SAO_ARRAY_LEN(bad); i++) {
        int status = http_get(f.port, bad[i], NULL, &r);
        if (status != 400) fprintf(stderr, "path %s: status %d\n", bad[i], status);
        assert_error(&r, 400, "bad_request");
    }
    /* Raw bytes that are not UTF-8, and control bytes, straight on the request line. */
    const char raw[] =
        "GET /api/v1/echo/\xff\xfe\x80 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    ASSERT_EQ(http_raw(f.port, raw, sizeof(raw) - 1, &r), 400);
    const char ctl[] =
        "GET /api/v1/echo/a\x01\x1b[31m HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    int status = http_raw(f.port, ctl, sizeof(ctl) - 1, &r);
    ASSERT_TRUE(status == 400);
    const char hdr[] = "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Junk: \xff\xfe\x01\r\n"
                       "Origin: \xc3\x28\r\nX-Request-Id: \xff\r\nConnection: close\r\n\r\n";
    ASSERT_EQ(http_raw(f.port, hdr, sizeof(hdr) - 1, &r), 200);
    ASSERT_EQ(http_get(f.port, "/healthz", NULL, &r), 200);
    wait_idle(&f);

    /* Every access line is valid JSON with the bytes escaped. */
    pthread_mutex_lock(&log_lock);
    int access_lines = 0, saw_escaped = 0;
    for (char *line = log_lines.data; line && *line;) {
        char *nl = strchr(line, '\n');
        if (!nl) break;
        *nl = '\0';
        if (strncmp(line, "access\t", 7) == 0) {
            json_error_t jerr;
            json_t *doc = json_loads(line + 7, 0, &jerr);
            if (!doc) fprintf(stderr, "bad access line: %s (%s)\n", line + 7, jerr.text);
            ASSERT_TRUE(doc != NULL);
            ASSERT_TRUE(json_string_value(json_object_get(doc, "request_id")) != NULL);
            ASSERT_TRUE(json_is_integer(json_object_get(doc, "status")));
            ASSERT_TRUE(json_is_number(json_object_get(doc, "duration_ms")));
            ASSERT_STREQ(json_string_value(json_object_get(doc, "client")), "127.0.0.1");
            const char *path = json_string_value(json_object_get(doc, "path"));
            if (path && strstr(path, "/api/v1/echo/\xc3\xbf\xc3\xbe")) saw_escaped = 1;
            access_lines++;
            json_decref(doc);
        }
        line = nl + 1;
    }
    sao_buf_clear(&log_lines);
    pthread_mutex_unlock(&log_lock);
    ASSERT_TRUE(access_lines >= (int)SAO_ARRAY_LEN(bad) + 3);
    ASSERT_TRUE(saw_escaped);
    fixture_stop(&f);
}

static int is_generated_id(const char *id)
{
    if (strlen(id) != 32) return 0;
    return strspn(id, "0123456789abcdef") == 32;
}

static void test_request_ids(void)
{
    fixture f;
    fixture_options(&f);
    fixture_start(&f);
    reply r;
    char id[256], id2[256];

    ASSERT_EQ(http_get(f.port, "/api/v1/echo/x", "X-Request-Id: abc-123.X_y\r\n", &r), 200);
    assert_header(&r, "X-Request-Id", "abc-123.X_y");
    ASSERT_CONTAINS(r.body, "\"request_id\":\"abc-123.X_y\"");

    ASSERT_EQ(http_get(f.port, "/api/v1/echo/x", NULL, &r), 200);
    ASSERT_OK(reply_header(&r, "X-Request-Id", id, sizeof(id)));
    ASSERT_TRUE(is_generated_id(id));
    ASSERT_EQ(http_get(f.port, "/nope", NULL, &r), 404);
    ASSERT_OK(reply_header(&r, "X-Request-Id", id2, sizeof(id2)));
    ASSERT_TRUE(is_generated_id(id2));
    ASSERT_TRUE(strcmp(id, id2) != 0);

    /* Unsafe ids are replaced, never echoed. */
    ASSERT_EQ(http_get(f.port, "/healthz", "X-Request-Id: bad id<script>\r\n", &r), 200);
    ASSERT_OK(reply_header(&r, "X-Request-Id", id, sizeof(id)));
    ASSERT_TRUE(is_generated_id(id));
    char header[400], long_id[200];
    memset(long_id, 'a', 129);
    long_id[129] = '\0';
    snprintf(header, sizeof(header), "X-Request-Id: %s\r\n", long_id);
    ASSERT_EQ(http_get(f.port, "/healthz", header, &r), 200);
    ASSERT_OK(reply_header(&r, "X-Request-Id", id, sizeof(id)));
    ASSERT_TRUE(is_generated_id(id));
    long_id[128] = '\0';
    snprintf(header, sizeof(header), "X-Request-Id: %s\r\n", long_id);
    ASSERT_EQ(http_get(f.port, "/healthz", header, &r), 200);
    assert_header(&r, "X-Request-Id", long_id);
    ASSERT_EQ(http_get(f.port, "/healthz", "X-Request-Id: \r\n", &r), 200);
    ASSERT_OK(reply_header(&r, "X-Request-Id", id, sizeof(id)));
    ASSERT_TRUE(is_generated_id(id));
    fixture_stop(&f);
}

static void test_security_headers(void)
{
    fixture f;
    fixture_options(&f);
    fixture_start(&f);
    reply r;
    ASSERT_EQ(http_get(f.port, "/api/v1/echo/x", NULL, &r), 200);
    assert_header(&r, "X-Content-Type-Options", "nosniff");
    assert_header(&r, "Cache-Control", "no-store");
    assert_header(&r, "Content-Type", "application/json");
    assert_no_header(&r, "Vary"); /* no CORS configured */
    ASSERT_EQ(http_get(f.port, "/nope", NULL, &r), 404);
    assert_header(&r, "X-Content-Type-Options", "nosniff");
    assert_header(&r, "Cache-Control", "no-store");
    ASSERT_EQ(http_get(f.port, "/cached", NULL, &r), 200);
    assert_header(&r, "Cache-Control", "max-age=60");
    ASSERT_EQ(http_get(f.port, "/healthz", NULL, &r), 200);
    assert_header(&r, "X-Content-Type-Options", "nosniff");
    assert_header(&r, "Content-Type", "text/plain");
    assert_no_header(&r, "Cache-Control");
    fixture_stop(&f);
}

static void test_cors(void)
{
    fixture f;
    fixture_options(&f);
    sao_strlcpy(f.opts.cors_origins, " https://app.example , http://localhost:3000/",
                sizeof(f.opts.cors_origins));
    fixture_start(&f);
    reply r;

    ASSERT_EQ(http_get(f.port, "/api/v1/echo/x", "Origin: https://app.example\r\n", &r), 200);
    assert_header(&r, "Access-Control-Allow-Origin", "https://app.example");
    assert_header(&r, "Access-Control-Expose-Headers", "X-Request-Id");
    assert_header(&r, "Vary", "Origin");
    ASSERT_EQ(http_get(f.port, "/nope", "Origin: http://localhost:3000\r\n", &r), 404);
    assert_header(&r, "Access-Control-Allow-Origin", "http://localhost:3000");
    ASSERT_EQ(http_get(f.port, "/api/v1/echo/x", "Origin: https://evil.example\r\n", &r), 200);
    assert_no_header(&r, "Access-Control-Allow-Origin");
    assert_header(&r, "Vary", "Origin");

    /* Preflight from an allowed origin. */
    ASSERT_EQ(http(f.port,
                   "OPTIONS /api/v1/body HTTP/1.1\r\nHost: t\r\nOrigin: https://app.example\r\n"
                   "Access-Control-Request-Method: POST\r\n"
                   "Access-Control-Request-Headers: content-type, x-request-id\r\n\r\n",
                   &r),
              204);
    assert_header(&r, "Access-Control-Allow-Origin", "https://app.example");
    assert_header(&r, "Access-Control-Allow-Methods", "POST, OPTIONS");
    assert_header(&r, "Access-Control-Allow-Headers", "content-type, x-request-id");
    assert_header(&r, "Access-Control-Max-Age", "600");
    assert_header(&r, "Allow", "POST, OPTIONS");
    ASSERT_EQ(r.body_len, 0);
    /* Odd requested headers get the default list instead of an echo. */
    ASSERT_EQ(http(f.port,
                   "OPTIONS /api/v1/body HTTP/1.1\r\nHost: t\r\nOrigin: https://app.example\r\n"
                   "Access-Control-Request-Method: POST\r\n"
                   "Access-Control-Request-Headers: a:b\r\n\r\n",
                   &r),
              204);
    assert_header(&r, "Access-Control-Allow-Headers", "Content-Type, Authorization, X-Request-Id");
    /* Preflight from another origin: a plain 204 the browser reads as a refusal. */
    ASSERT_EQ(http(f.port,
                   "OPTIONS /api/v1/body HTTP/1.1\r\nHost: t\r\nOrigin: https://evil.example\r\n"
                   "Access-Control-Request-Method: POST\r\n\r\n",
                   &r),
              204);
    assert_no_header(&r, "Access-Control-Allow-Origin");
    assert_no_header(&r, "Access-Control-Allow-Methods");
    assert_header(&r, "Allow", "POST, OPTIONS");
    /* Plain OPTIONS lists the methods; unknown paths are 404. */
    ASSERT_EQ(http(f.port, "OPTIONS /api/v1/echo/x HTTP/1.1\r\nHost: t\r\n\r\n", &r), 204);
    assert_header(&r, "Allow", "GET, PUT, HEAD, OPTIONS");
    assert_no_header(&r, "Access-Control-Allow-Methods");
    ASSERT_EQ(http(f.port, "OPTIONS /nope HTTP/1.1\r\nHost: t\r\n\r\n", &r), 404);
    fixture_stop(&f);

    fixture_options(&f);
    sao_strlcpy(f.opts.cors_origins, "*", sizeof(f.opts.cors_origins));
    fixture_start(&f);
    ASSERT_EQ(http_get(f.port, "/healthz", "Origin: https://any.example\r\n", &r), 200);
    assert_header(&r, "Access-Control-Allow-Origin", "https://any.example");
    assert_header(&r, "Vary", "Origin");
    ASSERT_EQ(http_get(f.port, "/healthz", "Origin: bad origin\r\n", &r), 200);
    assert_no_header(&r, "Access-Control-Allow-Origin");
    fixture_stop(&f);
}

static void test_rate_limit(void)
{
    fixture f;
    fixture_options(&f);
    f.opts.rate_limit = 0.5;
    f.opts.rate_burst = 3;
    fixture_start(&f);
    reply r;
    for (int i = 0; i < 3; i++) ASSERT_EQ(http_get(f.port, "/api/v1/echo/x", NULL, &r), 200);
    ASSERT_EQ(http_get(f.port, "/api/v1/echo/x", NULL, &r), 429);
    assert_error(&r, 429, "too_many_requests");
    char retry[32];
    ASSERT_OK(reply_header(&r, "Retry-After", retry, sizeof(retry)));
    long secs = 0;
    ASSERT_OK(sao_parse_long(retry, &secs));
    ASSERT_TRUE(secs >= 1 && secs <= 2);
    /* Unknown paths spend tokens too; probes never do. */
    ASSERT_EQ(http_get(f.port, "/nope", NULL, &r), 429);
    for (int i = 0; i < 10; i++) {
        ASSERT_EQ(http_get(f.port, "/healthz", NULL, &r), 200);
        ASSERT_EQ(http_get(f.port, "/metrics", NULL, &r), 200);
    }
    /* A request with a body is refused without reading it. */
    ASSERT_EQ(
        http(f.port, "POST /api/v1/body HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\n", &r),
        429);
    fixture_stop(&f);
}

static void test_metrics(void)
{
    fixture f;
    fixture_options(&f);
    fixture_start(&f);
    reply r;
    ASSERT_EQ(http_get(f.port, "/api/v1/echo/%5EGSPC", NULL, &r), 200);
    ASSERT_EQ(http_get(f.port, "/api/v1/echo/AAPL", NULL, &r), 200);
    ASSERT_EQ(http_get(f.port, "/no/such/thing", NULL, &r), 404);
    ASSERT_EQ(http(f.port, "BREW /nope HTTP/1.1\r\nHost: t\r\n\r\n", &r), 404);
    ASSERT_EQ(http(f.port, "DELETE /api/v1/body HTTP/1.1\r\nHost: t\r\n\r\n", &r), 405);
    wait_idle(&f);

    sao_metric *total = requests_total(&f);
    const char *echo_ok[] = {"/api/v1/echo/{name}", "GET", "200"};
    const char *missing[] = {"unmatched", "GET", "404"};
    const char *brew[] = {"unmatched", "other", "404"};
    const char *wrong[] = {"/api/v1/body", "DELETE", "405"};
    ASSERT_NEAR(sao_metric_value(total, echo_ok), 2.0, 0);
    ASSERT_NEAR(sao_metric_value(total, missing), 1.0, 0);
    ASSERT_NEAR(sao_metric_value(total, brew), 1.0, 0);
    ASSERT_NEAR(sao_metric_value(total, wrong), 1.0, 0);

    ASSERT_EQ(http_get(f.port, "/metrics", NULL, &r), 200);
    ASSERT_CONTAINS(r.body, "http_requests_total{");
    ASSERT_CONTAINS(r.body, "route=\"/api/v1/echo/{name}\"");
    ASSERT_CONTAINS(r.body, "http_request_duration_seconds_bucket{");
    ASSERT_CONTAINS(r.body, "http_requests_in_flight");
    ASSERT_TRUE(strstr(r.body, "GSPC") == NULL);
    ASSERT_TRUE(strstr(r.body, "AAPL") == NULL);
    ASSERT_TRUE(strstr(r.body, "/no/such") == NULL);
    fixture_stop(&f);
}

typedef struct slow_call {
    int port;
    const char *path;
    int status;
    pthread_t thread;
} slow_call;

static void *slow_call_run(void *arg)
{
    slow_call *call = arg;
    reply *r = sao_malloc(sizeof(*r));
    call->status = http_get(call->port, call->path, NULL, r);
    sao_free(r);
    return NULL;
}

static void test_in_flight(void)
{
    fixture f;
    fixture_options(&f);
    f.opts.threads = 4;
    fixture_start(&f);
    /* Registering again with the same name, type and labels finds the server's family. */
    sao_metric *gauge = sao_metrics_gauge(f.metrics, "http_requests_in_flight", "lookup", NULL, 0);
    slow_call calls[3];
    for (int i = 0; i < 3; i++) {
        calls[i] = (slow_call){.port = f.port, .path = "/slow"};
        pthread_create(&calls[i].thread, NULL, slow_call_run, &calls[i]);
        /* MHD accepts a burst of connections on one worker; spaced out, each lands on an idle
         * worker and the three run at once. */
        sleep_ms(20);
    }
    for (int i = 0; i < 200 && sao_api__server_in_flight(f.server) < 3; i++) sleep_ms(5);
    ASSERT_EQ(sao_api__server_in_flight(f.server), 3);
    ASSERT_NEAR(sao_metric_value(gauge, NULL), 3.0, 0);
    for (int i = 0; i < 3; i++) {
        pthread_join(calls[i].thread, NULL);
        ASSERT_EQ(calls[i].status, 200);
    }
    wait_idle(&f);
    ASSERT_NEAR(sao_metric_value(gauge, NULL), 0.0, 0);
    fixture_stop(&f);
}

static void test_slow_client(void)
{
    fixture f;
    fixture_options(&f);
    f.opts.timeout_s = 1;
    fixture_start(&f);
    reply r;
    client *stalled = sao_malloc(sizeof(*stalled));
    ASSERT_OK(client_open(stalled, f.port));
    ASSERT_OK(client_send(stalled, "GET /api/v1/echo/a HT", 21));
    double started = sao_monotonic();
    for (int i = 0; i < 20; i++) ASSERT_EQ(http_get(f.port, "/api/v1/echo/b", NULL, &r), 200);
    /* The server hangs up on the stalled client after about the timeout. */
    char byte;
    struct pollfd pfd = {.fd = stalled->fd, .events = POLLIN};
    ASSERT_EQ(poll(&pfd, 1, 4000), 1);
    ssize_t n = recv(stalled->fd, &byte, 1, 0);
    double waited = sao_monotonic() - started;
    ASSERT_TRUE(n <= 0 || byte == 'H'); /* closed, or an error status before closing */
    ASSERT_TRUE(waited >= 0.5 && waited < 4.0);
    client_close(stalled);
    sao_free(stalled);
    ASSERT_EQ(http_get(f.port, "/healthz", NULL, &r), 200);
    fixture_stop(&f);
}

typedef struct stopper {
    sao_api_server *server;
    pthread_t thread;
    double took;
} stopper;

static void *stopper_run(void *arg)
{
    stopper *s = arg;
    double t0 = sao_monotonic();
    sao_api__server_stop(s->server, 5);
    s->took = sao_monotonic() - t0;
    return NULL;
}

static void test_graceful_shutdown(void)
{
    fixture f;
    fixture_options(&f);
    f.opts.threads = 8;
    fixture_start(&f);
    enum { CALLS = 8 };
    slow_call calls[CALLS];
    for (int i = 0; i < CALLS; i++) {
        calls[i] = (slow_call){.port = f.port, .path = "/slow"};
        pthread_create(&calls[i].thread, NULL, slow_call_run, &calls[i]);
        sleep_ms(15);
    }
    for (int i = 0; i < 400 && sao_api__server_in_flight(f.server) < CALLS; i++) sleep_ms(2);
    ASSERT_EQ(sao_api__server_in_flight(f.server), CALLS);

    stopper s = {.server = f.server};
    pthread_create(&s.thread, NULL, stopper_run, &s);
    /* Once stop has begun, new connections are refused while the old requests finish. */
    int refused = 0;
    for (int i = 0; i < 200 && !refused; i++) {
        client *c = sao_malloc(sizeof(*c));
        if (client_open(c, f.port) != 0 && errno == ECONNREFUSED) refused = 1;
        client_close(c);
        sao_free(c);
        if (!refused) sleep_ms(1);
    }
    ASSERT_TRUE(refused);
    for (int i = 0; i < CALLS; i++) {
        pthread_join(calls[i].thread, NULL);
        ASSERT_EQ(calls[i].status, 200);
    }
    pthread_join(s.thread, NULL);
    ASSERT_TRUE(s.took < 4.5);
    sao_metrics_free(f.metrics);
}

/* Connections accepted while their worker is busy have not begun a request yet; stopping must
 * wait for them too. One worker: four idle connections are accepted, then all send at once. */
static void test_shutdown_waits_for_accepted_connections(void)
{
    fixture f;
    fixture_options(&f);
    f.opts.threads = 1;
    fixture_start(&f);
    enum { CONNS = 4 };
    client *cs = sao_malloc(CONNS * sizeof(*cs));
    for (int i = 0; i < CONNS; i++) ASSERT_OK(client_open(&cs[i], f.port));
    sleep_ms(50);
    const char *request = "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n";
    for (int i = 0; i < CONNS; i++) ASSERT_OK(client_send(&cs[i], request, strlen(request)));
    for (int i = 0; i < 400 && sao_api__server_in_flight(f.server) < 1; i++) sleep_ms(2);
    ASSERT_EQ(sao_api__server_in_flight(f.server), 1);

    stopper s = {.server = f.server};
    pthread_create(&s.thread, NULL, stopper_run, &s);
    reply *r = sao_malloc(sizeof(*r));
    for (int i = 0; i < CONNS; i++) {
        ASSERT_OK(client_read(&cs[i], r, 0));
        ASSERT_EQ(r->status, 200);
        /* Answers given while draining ask the client to go elsewhere next time. */
        assert_header(r, "Connection", "close");
        client_close(&cs[i]);
    }
    pthread_join(s.thread, NULL);
    sao_free(r);
    sao_free(cs);
    sao_metrics_free(f.metrics);
}

typedef struct hammer {
    int port;
    int ok;
    pthread_t thread;
} hammer;

static void *hammer_run(void *arg)
{
    hammer *h = arg;
    client *c = sao_malloc(sizeof(*c));
    reply *r = sao_malloc(sizeof(*r));
    if (client_open(c, h->port) == 0) {
        for (int i = 0; i < 500; i++) {
            char request[128];
            int n = snprintf(request, sizeof(request),
                             "GET /api/v1/echo/T%d HTTP/1.1\r\nHost: t\r\n\r\n", i);
            if (client_send(c, request, (size_t)n) != 0 || client_read(c, r, 0) != 0) break;
            if (r->status == 200) h->ok++;
        }
    }
    client_close(c);
    sao_free(c);
    sao_free(r);
    return NULL;
}

static void test_concurrent_keep_alive(void)
{
    fixture f;
    fixture_options(&f);
    fixture_start(&f);
    hammer hs[8];
    for (int i = 0; i < 8; i++) {
        hs[i] = (hammer){.port = f.port};
        pthread_create(&hs[i].thread, NULL, hammer_run, &hs[i]);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(hs[i].thread, NULL);
        ASSERT_EQ(hs[i].ok, 500);
    }
    wait_idle(&f);
    sao_metric *total = requests_total(&f);
    const char *echo_ok[] = {"/api/v1/echo/{name}", "GET", "200"};
    ASSERT_NEAR(sao_metric_value(total, echo_ok), 4000.0, 0);
    fixture_stop(&f);
}

static void test_bind_errors(void)
{
    fixture f, g;
    fixture_options(&f);
    fixture_start(&f);
    fixture_options(&g);
    g.opts.port = f.port;
    ASSERT_OK(sao_metrics_new(&g.metrics, 0));
    sao_api_server_config cfg = {.opts = &g.opts, .routes = routes, .route_count = 1};
    ASSERT_EQ(sao_api__server_start(&g.server, &cfg), SAO_EIO);
    ASSERT_CONTAINS(sao_error_last(), "127.0.0.1");
    sao_strlcpy(g.opts.host, "no-such-host.invalid", sizeof(g.opts.host));
    ASSERT_EQ(sao_api__server_start(&g.server, &cfg), SAO_EIO);
    sao_metrics_free(g.metrics);
    fixture_stop(&f);

    /* "::" listens on IPv4 too. */
    fixture_options(&f);
    sao_strlcpy(f.opts.host, "::", sizeof(f.opts.host));
    sao_api_server_config any = {.opts = &f.opts, .routes = routes, .route_count = 1};
    if (sao_api__server_start(&f.server, &any) == 0) {
        reply *r = sao_malloc(sizeof(*r));
        ASSERT_EQ(http_get(sao_api__server_port(f.server), "/api/v1/echo/v4", NULL, r), 200);
        sao_free(r);
        sao_api__server_stop(f.server, 0);
    }

    /* IPv6 loopback where the machine has it. */
    fixture_options(&f);
    sao_strlcpy(f.opts.host, "::1", sizeof(f.opts.host));
    sao_api_server_config cfg6 = {.opts = &f.opts, .routes = routes, .route_count = 1};
    if (sao_api__server_start(&f.server, &cfg6) == 0) {
        ASSERT_TRUE(sao_api__server_port(f.server) > 0);
        sao_api__server_stop(f.server, 0);
    }
    sao_api__server_stop(NULL, 0);
}

SAO_TEST_MAIN(TEST(test_routing_and_params), TEST(test_method_not_allowed_and_head),
              TEST(test_body_limits), TEST(test_huge_request_line_and_headers),
              TEST(test_path_traversal_and_bad_bytes), TEST(test_request_ids),
              TEST(test_security_headers), TEST(test_cors), TEST(test_rate_limit),
              TEST(test_metrics), TEST(test_in_flight), TEST(test_slow_client),
              TEST(test_graceful_shutdown), TEST(test_shutdown_waits_for_accepted_connections),
              TEST(test_concurrent_keep_alive), TEST(test_bind_errors))
