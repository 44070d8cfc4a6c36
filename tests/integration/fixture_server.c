/*
 * A fixture HTTP server for integration tests: serves files at fixed paths on 127.0.0.1, can
 * fail the first requests of a route (to exercise retries), and logs every request line.
 *
 * usage: sao_fixture_server [--port N] [--log FILE] [--max-seconds S]
 *            [--fail-first N] [--fail-status CODE] --route PATH=FILE[:STATUS] ...
 * The first line on stdout is "PORT <n>" once the server listens. PATH is matched against the
 * decoded request path without its query; the last '=' of a route separates PATH from FILE
 * (paths may hold '=', as in EURUSD=X). --fail-first and --fail-status apply to the routes
 * given after them. Each log line is "<METHOD> <raw request URI with query> <status>".
 * Stops on SIGTERM or SIGINT, or after --max-seconds (default 120).
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core.h"

#define MAX_ROUTES 64

typedef struct route {
    char *path;
    char *body;
    size_t body_len;
    unsigned status;
    long fail_first;
    unsigned fail_status;
    long hits;
} route;

typedef struct server {
    route routes[MAX_ROUTES];
    size_t route_count;
    FILE *log;
    pthread_mutex_t lock;
} server;

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static const char fail_body[] = "{\"fixture\":\"failure injected by the fixture server\"}";
static const char missing_body[] = "{\"fixture\":\"no route for this path\"}";

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *connection)
{
    (void)cls;
    (void)connection;
    return sao_strdup(uri ? uri : "");
}

static void on_completed(void *cls, struct MHD_Connection *connection, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)connection;
    (void)toe;
    sao_free(*req_cls);
    *req_cls = NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *connection, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **req_cls)
{
    (void)version;
    (void)upload_data;
    server *srv = cls;
    if (*upload_data_size) {
        *upload_data_size = 0; /* bodies are ignored */
        return MHD_YES;
    }
    const char *body = missing_body;
    size_t body_len = sizeof(missing_body) - 1;
    unsigned status = 404;

    pthread_mutex_lock(&srv->lock);
    for (size_t i = 0; i < srv->route_count; i++) {
        route *r = &srv->routes[i];
        if (strcmp(r->path, url) != 0) continue;
        r->hits++;
        if (r->hits <= r->fail_first) {
            status = r->fail_status;
            body = fail_body;
            body_len = sizeof(fail_body) - 1;
        } else {
            status = r->status;
            body = r->body;
            body_len = r->body_len;
        }
        break;
    }
    if (srv->log) {
        fprintf(srv->log, "%s %s %u\n", method, *req_cls ? (const char *)*req_cls : url, status);
        fflush(srv->log);
    }
    pthread_mutex_unlock(&srv->lock);

    struct MHD_Response *resp =
        MHD_create_response_from_buffer(body_len, (void *)body, MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(connection, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static int usage(const char *msg)
{
    fprintf(stderr,
            "sao_fixture_server: %s\n"
            "usage: sao_fixture_server [--port N] [--log FILE] [--max-seconds S] "
            "[--fail-first N] [--fail-status CODE] --route PATH=FILE[:STATUS] ...\n",
            msg);
    return 2;
}

static int parse_number_arg(const char *s, long lo, long hi, long *out)
{
    long v;
    if (sao_parse_long(s, &v) != 0 || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

/* PATH=FILE[:STATUS]; the last '=' splits path from file. */
static int add_route(server *srv, const char *spec, long fail_first, long fail_status)
{
    if (srv->route_count == MAX_ROUTES) return usage("too many routes");
    const char *eq = strrchr(spec, '=');
    if (!eq || eq == spec || !eq[1]) return usage("a route is PATH=FILE[:STATUS]");
    route *r = &srv->routes[srv->route_count];
    memset(r, 0, sizeof(*r));
    r->path = sao_strndup(spec, (size_t)(eq - spec));
    char *file = sao_strdup(eq + 1);
    r->status = 200;
    char *colon = strrchr(file, ':');
    if (colon && colon[1]) {
        long status;
        if (parse_number_arg(colon + 1, 100, 599, &status) == 0) {
            r->status = (unsigned)status;
            *colon = '\0';
        }
    }
    if (sao_file_read(&r->body, &r->body_len, file, 256u * 1024 * 1024) != 0) {
        fprintf(stderr, "sao_fixture_server: %s\n", sao_error_last());
        sao_free(file);
        return 2;
    }
    sao_free(file);
    r->fail_first = fail_first;
    r->fail_status = (unsigned)fail_status;
    srv->route_count++;
    return 0;
}

int main(int argc, char **argv)
{
    static server srv;
    long port = 0, max_seconds = 120, fail_first = 0, fail_status = 503;
    const char *log_path = NULL;
    pthread_mutex_init(&srv.lock, NULL);

    for (int i = 1; i < argc; i += 2) {
        const char *arg = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!val) return usage("an option is missing its value");
        int bad_number = 0;
        if (strcmp(arg, "--port") == 0) {
            bad_number = parse_number_arg(val, 0, 65535, &port);
        } else if (strcmp(arg, "--max-seconds") == 0) {
            bad_number = parse_number_arg(val, 1, 86400, &max_seconds);
        } else if (strcmp(arg, "--fail-first") == 0) {
            bad_number = parse_number_arg(val, 0, 1000000, &fail_first);
        } else if (strcmp(arg, "--fail-status") == 0) {
            bad_number = parse_number_arg(val, 100, 599, &fail_status);
        } else if (strcmp(arg, "--log") == 0) {
            log_path = val;
        } else if (strcmp(arg, "--route") == 0) {
            int rc = add_route(&srv, val, fail_first, fail_status);
            if (rc) return rc;
        } else {
            return usage("unknown option");
        }
        if (bad_number) return usage("bad number");
    }
    if (log_path) {
        srv.log = fopen(log_path, "a");
        if (!srv.log) {
            perror(log_path);
            return 1;
        }
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct sockaddr_in addr;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, (uint16_t)port, NULL, NULL,
        on_request, &srv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL, MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
        MHD_OPTION_END);
    if (!daemon) {
        fprintf(stderr, "sao_fixture_server: cannot listen on 127.0.0.1:%ld\n", port);
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
    printf("PORT %u\n", info ? (unsigned)info->port : (unsigned)port);
    fflush(stdout);

    double deadline = sao_monotonic() + (double)max_seconds;
    while (!stop_requested && sao_monotonic() < deadline) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    MHD_stop_daemon(daemon);
    if (srv.log) fclose(srv.log);
    for (size_t i = 0; i < srv.route_count; i++) {
        sao_free(srv.routes[i].path);
        sao_free(srv.routes[i].body);
    }
    return 0;
}
