/*
 * `sao up`: the whole local stack in one command. A private redis-server on loopback (data under
 * $SAO_HOME/redis), the demo universe ingested, the feature repository applied and materialized,
 * a parent model and its children trained when none exist, and the API served until Ctrl-C.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "api/api.h"
#include "cli.h"
#include "pipelines/pipelines.h"

#define PARENT_TICKER "^GSPC"
#define MAX_CHILDREN 2

void sao_cmd_up_help(FILE *out)
{
    fprintf(
        out,
        "usage: sao up [--offline] [--no-train] [--port P]\n\n"
        "Runs the whole local stack and serves it until Ctrl-C:\n"
        "  1. starts a private redis-server on 127.0.0.1 (data in $SAO_HOME/redis; port 6379,\n"
        "     or a free one when 6379 is taken; the stack itself talks to it through the Unix\n"
        "     socket $SAO_HOME/redis/redis.sock), unless SAO_REDIS_CONNECTION names a Redis;\n"
        "  2. ingests the demo universe (^GSPC, AAPL, BTC-USD) from Yahoo Finance, or real\n"
        "     CSV files when offline: $SAO_HOME/demo (scripts/fetch_demo_data.sh) and\n"
        "     SAO_DATA_DIR;\n"
        "  3. applies the feature repository and materializes the online store;\n"
        "  4. trains a ^GSPC parent model and up to %d children from it, for tickers that have\n"
        "     no model yet (skipped with --no-train);\n"
        "  5. serves the API on http://SAO_API_HOST:SAO_API_PORT (127.0.0.1:8000).\n\n"
        "Ctrl-C (or SIGTERM) stops the server after in-flight requests and then the Redis it\n"
        "started. Running it again reuses the stored data, features and models.\n\n"
        "  --offline     do not try Yahoo Finance; import local CSV files only\n"
        "  --no-train    serve whatever models exist, train none\n"
        "  --port P      API port (overrides SAO_API_PORT)\n",
        MAX_CHILDREN);
}

/* ---- signals: a dedicated thread waits for SIGINT/SIGTERM ---- */

static pthread_mutex_t signal_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t signal_cond = PTHREAD_COND_INITIALIZER;
static int signal_received;
static int serving;          /* set once the API runs: a signal then means a graceful stop */
static pid_t redis_pid = -1; /* the redis-server we started, stopped on the way out */

static void stop_redis(void)
{
    if (redis_pid <= 0) return;
    kill(redis_pid, SIGTERM); /* redis saves its dump on SIGTERM, so the next run reuses it */
    for (int i = 0; i < 100; i++) {
        int status;
        if (waitpid(redis_pid, &status, WNOHANG) == redis_pid) break;
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    redis_pid = -1;
}

static void *signal_thread(void *arg)
{
    sigset_t *set = arg;
    for (;;) {
        int sig = 0;
        if (sigwait(set, &sig) != 0) continue;
        pthread_mutex_lock(&signal_lock);
        signal_received = sig;
        int stop_now = !serving;
        pthread_cond_broadcast(&signal_cond);
        pthread_mutex_unlock(&signal_lock);
        if (stop_now) {
            /* Ingestion and training write every file atomically: leaving mid-way loses only
             * the work in progress. */
            fprintf(stderr, "\nsao up: interrupted; stopping\n");
            stop_redis();
            _exit(130);
        }
    }
    return NULL;
}

/* ---- Redis ---- */

static int port_is_free(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return 0;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0;
    close(fd);
    return ok;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    int port = -1;
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0 &&
        getsockname(fd, (struct sockaddr *)&addr, &len) == 0)
        port = ntohs(addr.sin_port);
    close(fd);
    return port;
}

/* Waits until the Redis at `port` answers PING (or the child died). */
static int wait_for_redis(int port)
{
    sao_online_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    sao_strlcpy(cfg.host, "127.0.0.1", sizeof(cfg.host));
    cfg.port = port;
    cfg.connect_timeout_ms = 500;
    sao_strlcpy(cfg.project, "sao_up", sizeof(cfg.project)); /* only PING is sent */
    for (int attempt = 0; attempt < 100; attempt++) {
        int status;
        if (redis_pid > 0 && waitpid(redis_pid, &status, WNOHANG) == redis_pid) {
            redis_pid = -1;
            if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
                return sao_error_set(SAO_ENOENT, "redis-server is not installed (run "
                                                 "scripts/bootstrap.sh)");
            return sao_error_set(SAO_EIO, "redis-server exited at start (see its log)");
        }
        sao_online *online = NULL;
        if (sao_online_connect(&online, &cfg) == 0) {
            int rc = sao_online_ping(online);
            sao_online_close(online);
            if (rc == 0) return 0;
        }
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return sao_error_set(SAO_ETIMEOUT, "redis-server on port %d did not answer within 10 s",
                         port);
}

/* Starts redis-server in its own process group (so the terminal's Ctrl-C reaches only us, and
 * we stop it after the API has drained). */
static int start_redis(int *port_out, char *socket_out, size_t socket_size)
{
    char dir[4096], log_path[4200], socket_path[4200];
    int rc = sao_home_path(dir, sizeof(dir), "redis");
    if (rc) return rc;
    if ((rc = sao_mkdir_p(dir))) return rc;
    snprintf(log_path, sizeof(log_path), "%s/redis.log", dir);
    /* Our own requests go through a Unix socket beside the data (the API's feature reads cost
     * less kernel work than over loopback TCP); the TCP port serves other shells. A path too
     * long for a socket address leaves TCP alone. */
    int len = snprintf(socket_path, sizeof(socket_path), "%s/redis.sock", dir);
    const int use_socket =
        len > 0 && (size_t)len <= SAO_UNIX_SOCKET_PATH_MAX && (size_t)len < socket_size;
    int port = port_is_free(6379) ? 6379 : free_port();
    if (port < 0) return sao_error_set(SAO_EIO, "no free loopback port for redis-server");
    char port_arg[16];
    snprintf(port_arg, sizeof(port_arg), "%d", port);
    pid_t pid = fork();
    if (pid < 0) return sao_error_set(SAO_EIO, "fork: %s", strerror(errno));
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL); /* an ignored signal stays ignored across exec */
        setpgid(0, 0);
        int null_fd = open("/dev/null", O_RDWR);
        if (null_fd >= 0) {
            dup2(null_fd, STDIN_FILENO);
            dup2(null_fd, STDOUT_FILENO);
        }
        char *base[] = {"redis-server", "--port", port_arg, "--bind", "127.0.0.1", "--dir", dir,
                        "--logfile", log_path, "--save", "300 1", "--appendonly", "no",
                        "--protected-mode", "yes"};
        char *args[SAO_ARRAY_LEN(base) + 5];
        size_t argc = 0;
        for (size_t i = 0; i < SAO_ARRAY_LEN(base); i++) args[argc++] = base[i];
        if (use_socket) {
            char *socket_args[] = {"--unixsocket", socket_path, "--unixsocketperm", "700"};
            for (size_t i = 0; i < SAO_ARRAY_LEN(socket_args); i++) args[argc++] = socket_args[i];
        }
        args[argc] = NULL;
        execvp("redis-server", args);
        _exit(127);
    }
    redis_pid = pid;
    if ((rc = wait_for_redis(port))) return rc;
    *port_out = port;
    socket_out[0] = '\0';
    if (use_socket) sao_strlcpy(socket_out, socket_path, socket_size);
    printf("  redis-server  127.0.0.1:%d (pid %d, data in %s)\n", port, (int)pid, dir);
    return 0;
}

/* ---- steps ---- */

static int apply_and_materialize(void)
{
    sao_fs_repo *repo = NULL;
    sao_online *online = NULL;
    sao_online_config cfg;
    sao_fs_apply_report report;
    memset(&report, 0, sizeof(report));
    int rc = sao_fs_repo_load(&repo, NULL);
    if (rc) goto done;
    if ((rc = sao_fs_apply(&report, repo))) goto done;
    printf("  applied       %zu created, %zu updated, %zu deleted (%s)\n", report.created_count,
           report.updated_count, report.deleted_count, repo->dir);
    if ((rc = sao_fs_online_config(&cfg, repo))) goto done;
    if ((rc = sao_online_connect(&online, &cfg))) goto done;
    sao_fs_materialize_report mat;
    memset(&mat, 0, sizeof(mat));
    /* Every stored day, not Feast's incremental window: demo files often end long before
     * today, beyond the views' TTL, and only rows newer than what Redis holds are written. */
    if ((rc = sao_fs_materialize(&mat, repo, online, 0, sao_now_us(), NULL, 0, NULL))) goto done;
    printf("  materialized  %zu views, %zu tickers: %zu rows written, %zu already current "
           "(%.2f s)\n",
           mat.views, mat.tickers, mat.entities, mat.skipped, mat.seconds);
done:
    sao_fs_apply_report_dispose(&report);
    sao_online_close(online);
    sao_fs_repo_free(repo);
    return rc;
}

static int has_serving_model(const char *ticker)
{
    int *versions = NULL;
    size_t count = 0;
    int serving_version = 0;
    if (sao_registry_versions(&versions, &count, &serving_version, ticker) != 0) return 0;
    sao_free(versions);
    return serving_version > 0;
}

static int train_one(const char *ticker, const char *parent)
{
    sao_train_options opts;
    sao_train_options_init(&opts);
    opts.parent = parent;
    printf("  training      %s%s%s\n", ticker, parent ? " from parent " : "",
           parent ? parent : "");
    fflush(stdout);
    sao_train_result res;
    int rc = sao_train_ticker(&res, ticker, &opts);
    if (rc) {
        fprintf(stderr, "  %s: training failed: %s\n", ticker, sao_error_last());
        return rc;
    }
    const sao_eval_result *ev = res.card.eval;
    printf("  trained       %s v%d in %.0f s: test MAE %.4g vs persistence %.4g (%.3fx)%s\n",
           ticker, res.version, res.seconds, ev ? ev->model.mae : 0.0,
           ev ? ev->persistence.mae : 0.0, ev ? ev->mae_ratio : 0.0,
           ev && ev->beats_persistence ? "" : ": does not beat persistence");
    sao_train_result_dispose(&res);
    return 0;
}

/* The parent (^GSPC when ingested) first, then up to MAX_CHILDREN other tickers from it; only
 * tickers without a serving model train. */
static void train_missing(void)
{
    char **tickers = NULL;
    size_t count = 0;
    if (sao_offline_list_tickers(&tickers, &count) != 0) return;
    int have_parent = 0;
    for (size_t i = 0; i < count; i++)
        if (strcmp(tickers[i], PARENT_TICKER) == 0) have_parent = 1;
    if (have_parent && !has_serving_model(PARENT_TICKER) && train_one(PARENT_TICKER, NULL) != 0)
        have_parent = 0;
    if (have_parent && !has_serving_model(PARENT_TICKER)) have_parent = 0;
    size_t children = 0, trained = 0;
    for (size_t i = 0; i < count && children < MAX_CHILDREN; i++) {
        if (strcmp(tickers[i], PARENT_TICKER) == 0) continue;
        children++;
        if (has_serving_model(tickers[i])) continue;
        /* A child needs a parent with the same inputs; without one it trains from scratch. */
        if (train_one(tickers[i], have_parent ? PARENT_TICKER : NULL) == 0) trained++;
    }
    if (children == 0)
        printf("  note          no ticker besides %s is stored, so no child model: set "
               "SAO_DATA_DIR to a folder of CSV files to add some\n",
               PARENT_TICKER);
    sao_offline_tickers_free(tickers, count);
}

int sao_cmd_up(int argc, char **argv)
{
    int offline = 0, train = 1;
    const char *port_arg = NULL;
    for (int i = 1; i < argc; i++) {
        int r;
        if (sao_cli_flag(argv[i], "offline")) offline = 1;
        else if (sao_cli_flag(argv[i], "no-train")) train = 0;
        else if ((r = sao_cli_option(argc, argv, &i, "port", &port_arg)) != 0) {
            if (r < 0) return SAO_EXIT_USAGE;
        } else {
            fprintf(stderr, "sao up: unknown argument '%s'\n", argv[i]);
            return SAO_EXIT_USAGE;
        }
    }
    sao_api_options api_opts;
    if (port_arg) setenv("SAO_API_PORT", port_arg, 1);
    if (sao_api_options_from_config(&api_opts) != 0) {
        fprintf(stderr, "sao up: %s\n", sao_error_last());
        return SAO_EXIT_USAGE;
    }

    /* Every thread started from here on inherits the blocked mask; one thread takes signals. */
    static sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    /* A client that hangs up mid-answer must not kill the stack; the online store then needs no
     * guard of its own around each command. */
    signal(SIGPIPE, SIG_IGN);
    sao_online_sigpipe_ignored();
    pthread_t sig_thread;
    if (pthread_create(&sig_thread, NULL, signal_thread, &set) != 0) {
        fprintf(stderr, "sao up: cannot start the signal thread\n");
        return SAO_EXIT_FAIL;
    }
    pthread_detach(sig_thread);

    printf("stock-agent-ops: the local stack (SAO_HOME=%s)\n", sao_config_get("SAO_HOME"));
    int rc = 0;
    if (sao_config_is_set("SAO_REDIS_CONNECTION") && *sao_config_get("SAO_REDIS_CONNECTION")) {
        printf("  redis         %s (SAO_REDIS_CONNECTION)\n",
               sao_config_get("SAO_REDIS_CONNECTION"));
    } else {
        int port = 0;
        char socket_path[SAO_UNIX_SOCKET_PATH_MAX + 1];
        if ((rc = start_redis(&port, socket_path, sizeof(socket_path)))) {
            fprintf(stderr, "sao up: redis: %s\n", sao_error_last());
            stop_redis();
            return SAO_EXIT_FAIL;
        }
        char tcp[64], conn[SAO_UNIX_SOCKET_PATH_MAX + 8];
        snprintf(tcp, sizeof(tcp), "127.0.0.1:%d", port);
        if (socket_path[0])
            snprintf(conn, sizeof(conn), "unix:%s", socket_path);
        else
            sao_strlcpy(conn, tcp, sizeof(conn));
        setenv("SAO_REDIS_CONNECTION", conn, 1);
        if (port != 6379)
            printf("  note          6379 is taken: other shells need "
                   "SAO_REDIS_CONNECTION=%s\n",
                   tcp);
    }

    size_t ingested = sao_cli_demo_ingest(offline);
    char **tickers = NULL;
    size_t count = 0;
    if (sao_offline_list_tickers(&tickers, &count) != 0 || count == 0) {
        fprintf(stderr, "sao up: no data: no network and no CSV files (run "
                        "scripts/fetch_demo_data.sh or set SAO_DATA_DIR)\n");
        sao_offline_tickers_free(tickers, count);
        stop_redis();
        return SAO_EXIT_FAIL;
    }
    printf("  data          %zu tickers stored (%zu updated now):", count, ingested);
    for (size_t i = 0; i < count; i++) printf(" %s", tickers[i]);
    printf("\n");
    sao_offline_tickers_free(tickers, count);

    if ((rc = apply_and_materialize())) {
        fprintf(stderr, "sao up: feature store: %s\n", sao_error_last());
        stop_redis();
        return SAO_EXIT_FAIL;
    }
    if (train) train_missing();

    sao_api *api = NULL;
    pthread_mutex_lock(&signal_lock);
    int interrupted = signal_received;
    if (!interrupted) serving = 1;
    pthread_mutex_unlock(&signal_lock);
    if (interrupted || (rc = sao_api_start(&api, &api_opts)) != 0) {
        if (!interrupted) fprintf(stderr, "sao up: API: %s\n", sao_error_last());
        stop_redis();
        return interrupted ? SAO_EXIT_OK : SAO_EXIT_FAIL;
    }
    const char *host = api_opts.host;
    int port = sao_api_port(api);
    printf("\nServing on http://%s:%d\n"
           "  predictions   http://%s:%d/api/v1/predict/%%5EGSPC\n"
           "  tickers       http://%s:%d/api/v1/tickers\n"
           "  API explorer  http://%s:%d/docs\n"
           "  metrics       http://%s:%d/metrics\n"
           "Press Ctrl-C to stop.\n",
           host, port, host, port, host, port, host, port, host, port);
    fflush(stdout);

    pthread_mutex_lock(&signal_lock);
    while (!signal_received) pthread_cond_wait(&signal_cond, &signal_lock);
    pthread_mutex_unlock(&signal_lock);
    printf("\nStopping: finishing requests in flight...\n");
    fflush(stdout);
    sao_api_stop(api, 10);
    stop_redis();
    printf("Stopped.\n");
    return SAO_EXIT_OK;
}
