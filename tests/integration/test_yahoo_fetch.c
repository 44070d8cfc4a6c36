/*
 * sao_yahoo_fetch end to end against the fixture server on loopback: the URL it builds, bars,
 * null bars, splits, the delisted 404, retries on 429 and 5xx, and transport failures.
 */
#include "test.h"

#include "data/data.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

int sao_test_failures;

#define MAX_SERVERS 4

typedef struct fixture_server {
    pid_t pid;
    int port;
    char log_path[512];
} fixture_server;

static pid_t running[MAX_SERVERS];

static void stop_all_servers(void)
{
    for (int i = 0; i < MAX_SERVERS; i++) {
        if (running[i] <= 0) continue;
        kill(running[i], SIGTERM);
        waitpid(running[i], NULL, 0);
        running[i] = 0;
    }
}

static int64_t day_of(const char *ymd)
{
    int64_t day = 0;
    SAO_ASSERT(sao_date_parse(ymd, strlen(ymd), &day) == 0);
    return day;
}

static const char *fixture(const char *name)
{
    static char paths[16][1024];
    static int slot;
    char rel[256];
    snprintf(rel, sizeof(rel), "fixtures/yahoo/%s", name);
    char *out = paths[slot++ % 16];
    snprintf(out, sizeof(paths[0]), "%s", sao_test_shared(rel));
    return out;
}

/* Starts the server with `args` (NULL-terminated) plus a log file; waits for its PORT line. */
static void start_server(fixture_server *srv, const char *name, const char *const *args)
{
    ASSERT_OK(sao_mkdir_p(SAO_TEST_TMPDIR));
    snprintf(srv->log_path, sizeof(srv->log_path), "%s/yahoo_fetch_%ld_%s.log", SAO_TEST_TMPDIR,
             (long)getpid(), name);
    remove(srv->log_path);

    const char *argv[64];
    int argc = 0;
    argv[argc++] = SAO_FIXTURE_SERVER;
    argv[argc++] = "--log";
    argv[argc++] = srv->log_path;
    argv[argc++] = "--max-seconds";
    argv[argc++] = "120";
    for (int i = 0; args[i]; i++) {
        ASSERT_TRUE(argc < 62);
        argv[argc++] = args[i];
    }
    argv[argc] = NULL;

    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execv(SAO_FIXTURE_SERVER, (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    int slot = 0;
    while (slot < MAX_SERVERS && running[slot] > 0) slot++;
    ASSERT_TRUE(slot < MAX_SERVERS);
    running[slot] = pid;
    srv->pid = pid;

    char line[64];
    size_t len = 0;
    while (len + 1 < sizeof(line)) {
        struct pollfd p = {fds[0], POLLIN, 0};
        int ready = poll(&p, 1, 10000);
        ASSERT_TRUE(ready == 1); /* the server printed its port within 10 s */
        ssize_t n = read(fds[0], line + len, 1);
        ASSERT_TRUE(n == 1);
        if (line[len] == '\n') break;
        len++;
    }
    line[len] = '\0';
    close(fds[0]);
    ASSERT_TRUE(sscanf(line, "PORT %d", &srv->port) == 1);
    ASSERT_TRUE(srv->port > 0 && srv->port < 65536);
}

static void stop_server(fixture_server *srv)
{
    for (int i = 0; i < MAX_SERVERS; i++) {
        if (running[i] != srv->pid) continue;
        kill(srv->pid, SIGTERM);
        int status = 0;
        ASSERT_EQ(waitpid(srv->pid, &status, 0), srv->pid);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        running[i] = 0;
    }
}

static void use_server(const fixture_server *srv)
{
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", srv->port);
    ASSERT_EQ(setenv("SAO_YAHOO_BASE_URL", url, 1), 0);
}

static char *read_log(const fixture_server *srv)
{
    char *text = NULL;
    size_t len = 0;
    ASSERT_OK(sao_file_read(&text, &len, srv->log_path, 1 << 20));
    return text;
}

static size_t count_occurrences(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle)) n++;
    return n;
}

static fixture_server main_server, retry_server;

static void test_split_and_url(void)
{
    use_server(&main_server);
    sao_bars b;
    sao_bars_init(&b, NULL);
    sao_yahoo_meta meta;
    sao_yahoo_report rep;
    int64_t from = day_of("2020-08-31"), to = day_of("2020-11-06");
    ASSERT_OK(sao_yahoo_fetch(&b, &meta, &rep, "aapl", from, to));
    ASSERT_STREQ(b.ticker, "AAPL");
    ASSERT_STREQ(meta.symbol, "AAPL");
    ASSERT_EQ(b.count, 49);
    ASSERT_EQ(rep.bars, 49);
    ASSERT_EQ(rep.splits, 1);
    ASSERT_EQ(rep.dividends, 1);
    ASSERT_EQ(rep.attempts, 1);
    ASSERT_EQ(b.day[0], from);
    ASSERT_NEAR(b.split_ratio[0], 4, 0);
    ASSERT_EQ(b.day[48], to);
    ASSERT_NEAR(b.dividend[48], 0.205, 0);

    /* One day of margin on each side, in UTC seconds; daily bars with dividends and splits. */
    char expect[256];
    snprintf(expect, sizeof(expect),
             "GET /v8/finance/chart/AAPL?period1=%lld&period2=%lld&interval=1d"
             "&events=div%%7Csplit&includeAdjustedClose=true 200\n",
             (long long)((from - 1) * 86400), (long long)((to + 2) * 86400));
    char *log = read_log(&main_server);
    ASSERT_CONTAINS(log, expect);
    ASSERT_CONTAINS(log, "period1=1598745600&period2=1604793600&interval=1d");
    sao_free(log);

    /* A narrower range keeps only its own days (the edge bars and their events go). */
    sao_bars_clear(&b);
    ASSERT_OK(sao_yahoo_fetch(&b, &meta, &rep, "AAPL", day_of("2020-09-01"),
                              day_of("2020-11-05")));
    ASSERT_EQ(b.count, 47);
    ASSERT_EQ(rep.bars, 47);
    ASSERT_EQ(rep.splits, 0);
    ASSERT_EQ(rep.dividends, 0);
    ASSERT_EQ(b.day[0], day_of("2020-09-01"));
    ASSERT_EQ(b.day[46], day_of("2020-11-05"));
    sao_bars_dispose(&b);
}

static void test_btc_null_bars(void)
{
    use_server(&main_server);
    sao_bars b;
    sao_bars_init(&b, NULL);
    sao_yahoo_meta meta;
    sao_yahoo_report rep;
    ASSERT_OK(sao_yahoo_fetch(&b, &meta, &rep, "BTC-USD", day_of("2020-01-01"),
                              day_of("2021-01-04")));
    ASSERT_EQ(rep.null_bars, 4);
    ASSERT_EQ(b.count, 366);
    ASSERT_STREQ(meta.instrument_type, "CRYPTOCURRENCY");
    sao_bars_dispose(&b);
}

static void test_index_ticker_is_escaped(void)
{
    use_server(&main_server);
    sao_bars b;
    sao_bars_init(&b, NULL);
    ASSERT_OK(sao_yahoo_fetch(&b, NULL, NULL, "^GSPC", day_of("2020-01-02"),
                              day_of("2020-01-02")));
    ASSERT_EQ(b.count, 1);
    ASSERT_STREQ(b.ticker, "^GSPC"); /* the requested ticker names the bars */
    char *log = read_log(&main_server);
    ASSERT_CONTAINS(log, "GET /v8/finance/chart/%5EGSPC?period1=");
    sao_free(log);
    sao_bars_dispose(&b);
}

static void test_not_found(void)
{
    use_server(&main_server);
    sao_bars b;
    sao_bars_init(&b, "X");
    sao_bars_push(&b, 1, 1, 1, 1, 1, 1, 1);
    sao_yahoo_report rep;
    memset(&rep, 0x5A, sizeof(rep));
    ASSERT_EQ(sao_yahoo_fetch(&b, NULL, &rep, "MDLY", day_of("2020-01-01"), day_of("2020-12-31")),
              SAO_ENOENT);
    ASSERT_CONTAINS(sao_error_last(), "MDLY");
    ASSERT_CONTAINS(sao_error_last(), "No data found, symbol may be delisted");
    ASSERT_EQ(b.count, 1);
    ASSERT_EQ(rep.bars, 0x5A5A5A5A5A5A5A5AULL);

    /* A 404 without Yahoo's body. */
    ASSERT_EQ(sao_yahoo_fetch(&b, NULL, NULL, "NOPE", day_of("2020-01-01"), day_of("2020-12-31")),
              SAO_ENOENT);
    ASSERT_CONTAINS(sao_error_last(), "NOPE: not found on Yahoo Finance (HTTP 404)");

    /* Other refusals are HTTP errors with Yahoo's explanation. */
    ASSERT_EQ(sao_yahoo_fetch(&b, NULL, NULL, "DENIED", day_of("2020-01-01"),
                              day_of("2020-12-31")),
              SAO_EHTTP);
    ASSERT_CONTAINS(sao_error_last(), "Yahoo Finance answered 401 Unauthorized for DENIED");

    /* A range without trading days. */
    ASSERT_EQ(sao_yahoo_fetch(&b, NULL, NULL, "WEEKEND", day_of("2025-02-01"),
                              day_of("2025-02-02")),
              SAO_ENODATA);
    ASSERT_CONTAINS(sao_error_last(), "WEEKEND: ");
    ASSERT_EQ(b.count, 1);
    sao_bars_dispose(&b);
}

static void test_retry_then_success(void)
{
    use_server(&retry_server);
    sao_bars b;
    sao_bars_init(&b, NULL);
    sao_yahoo_report rep;
    ASSERT_OK(sao_yahoo_fetch(&b, NULL, &rep, "AAPL", day_of("2020-08-31"), day_of("2020-11-06")));
    ASSERT_EQ(rep.attempts, 3);
    ASSERT_EQ(b.count, 49);
    char *log = read_log(&retry_server);
    ASSERT_EQ(count_occurrences(log, " 429\n"), 2);
    ASSERT_EQ(count_occurrences(log, " 200\n"), 1);
    sao_free(log);
    sao_bars_dispose(&b);
}

static void test_server_errors(void)
{
    use_server(&main_server);
    sao_bars b;
    sao_bars_init(&b, NULL);
    ASSERT_EQ(sao_yahoo_fetch(&b, NULL, NULL, "BROKEN", day_of("2020-01-01"),
                              day_of("2020-01-10")),
              SAO_EHTTP);
    ASSERT_CONTAINS(sao_error_last(),
                    "Yahoo Finance answered 500 Internal Server Error after 4 attempts");
    char *log = read_log(&main_server);
    ASSERT_EQ(count_occurrences(log, "GET /v8/finance/chart/BROKEN?"), 4);
    sao_free(log);
    ASSERT_EQ(b.count, 0);
    sao_bars_dispose(&b);
}

static void test_bad_arguments_and_network(void)
{
    sao_bars b;
    sao_bars_init(&b, NULL);
    ASSERT_EQ(sao_yahoo_fetch(&b, NULL, NULL, "../etc", 0, 10), SAO_EINVAL);
    ASSERT_EQ(sao_yahoo_fetch(&b, NULL, NULL, "AAPL", day_of("2020-02-01"), day_of("2020-01-01")),
              SAO_EINVAL);
    ASSERT_CONTAINS(sao_error_last(), "start 2020-02-01 is after end 2020-01-01");

    /* Nobody listens: a network error once the retries are spent. */
    fixture_server gone;
    const char *args[] = {NULL};
    start_server(&gone, "gone", args);
    stop_server(&gone);
    remove(gone.log_path);
    use_server(&gone);
    ASSERT_EQ(setenv("SAO_HTTP_RETRIES", "1", 1), 0);
    ASSERT_EQ(sao_yahoo_fetch(&b, NULL, NULL, "AAPL", day_of("2020-01-02"), day_of("2020-01-03")),
              SAO_ENET);
    ASSERT_CONTAINS(sao_error_last(), "Yahoo Finance AAPL: ");
    ASSERT_EQ(setenv("SAO_HTTP_RETRIES", "3", 1), 0);
    ASSERT_EQ(b.count, 0);
    sao_bars_dispose(&b);
}

static void setup(void)
{
    atexit(stop_all_servers);
    /* Keep the retries fast and never go through a proxy to loopback. */
    setenv("SAO_HTTP_RETRIES", "3", 1);
    setenv("SAO_HTTP_BACKOFF_MS", "1", 1);
    setenv("SAO_HTTP_TIMEOUT_MS", "10000", 1);
    setenv("SAO_LOG_LEVEL", "error", 1);
    sao_log_set_level(SAO_LOG_ERROR);
    setenv("no_proxy", "127.0.0.1,localhost", 1);
    setenv("NO_PROXY", "127.0.0.1,localhost", 1);

    char aapl[1100], btc[1100], mdly[1100], broken[1100], gspc[1100], denied[1100], weekend[1100];
    snprintf(aapl, sizeof(aapl), "/v8/finance/chart/AAPL=%s",
             fixture("yf_chart_AAPL_1d_2020-08-31_2020-11-06_split_dividend.json"));
    snprintf(btc, sizeof(btc), "/v8/finance/chart/BTC-USD=%s",
             fixture("yf_chart_BTC-USD_1d_2020_with_null_bars.json"));
    snprintf(mdly, sizeof(mdly), "/v8/finance/chart/MDLY=%s:404",
             fixture("yf_chart_MDLY_404_delisted.json"));
    snprintf(broken, sizeof(broken), "/v8/finance/chart/BROKEN=%s:500",
             fixture("yf_chart_AAPL_1d_2020-01-02_basic.json"));
    snprintf(gspc, sizeof(gspc), "/v8/finance/chart/^GSPC=%s",
             fixture("yf_chart_AAPL_1d_2020-01-02_basic.json"));
    snprintf(denied, sizeof(denied), "/v8/finance/chart/DENIED=%s:401",
             fixture("yf_chart_MDLY_404_delisted.json"));
    snprintf(weekend, sizeof(weekend), "/v8/finance/chart/WEEKEND=%s",
             fixture("yf_chart_AAPL_1m_2025-02-01_weekend_empty.json"));
    const char *main_args[] = {"--route", aapl,    "--route", btc,     "--route", mdly,
                               "--route", broken,  "--route", gspc,    "--route", denied,
                               "--route", weekend, NULL};
    start_server(&main_server, "main", main_args);
    const char *retry_args[] = {"--fail-first", "2", "--fail-status", "429", "--route", aapl,
                                NULL};
    start_server(&retry_server, "retry", retry_args);
}

static void test_all(void)
{
    setup();
    test_split_and_url();
    test_btc_null_bars();
    test_index_ticker_is_escaped();
    test_not_found();
    test_retry_then_success();
    test_server_errors();
    test_bad_arguments_and_network();
    stop_server(&main_server);
    stop_server(&retry_server);
    remove(main_server.log_path);
    remove(retry_server.log_path);
}

SAO_TEST_MAIN(TEST(test_all))
