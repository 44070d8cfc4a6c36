/*
 * Unit tests for monitoring: the exact text rendering, escaping, numbers, concurrent updates,
 * the series cap, removal, re-registration, process metrics, and promtool's verdict.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "monitoring/monitoring.h"
#include "test.h"

static char *render(sao_metrics *reg)
{
    sao_buf buf;
    sao_buf_init(&buf, 0);
    ASSERT_OK(sao_metrics_render(reg, &buf));
    return sao_buf_detach(&buf, NULL);
}

/* The value on the line that starts with `prefix` followed by a space, or NAN when absent. */
static double sample(const char *text, const char *prefix)
{
    size_t len = strlen(prefix);
    for (const char *line = text; *line;) {
        if (strncmp(line, prefix, len) == 0 && line[len] == ' ')
            return strtod(line + len + 1, NULL);
        const char *nl = strchr(line, '\n');
        if (!nl) break;
        line = nl + 1;
    }
    return NAN;
}

static size_t count_lines_starting(const char *text, const char *prefix)
{
    size_t count = 0, len = strlen(prefix);
    for (const char *line = text; *line;) {
        if (strncmp(line, prefix, len) == 0) count++;
        const char *nl = strchr(line, '\n');
        if (!nl) break;
        line = nl + 1;
    }
    return count;
}

static char log_text[4096];
static int log_count;

static void capture_log(sao_log_level level, const char *module, const char *message, void *ud)
{
    (void)ud;
    if (level < SAO_LOG_WARN) return;
    size_t len = strlen(log_text);
    snprintf(log_text + len, sizeof(log_text) - len, "%s: %s\n", module, message);
    log_count++;
}

static void capture_start(void)
{
    log_text[0] = '\0';
    log_count = 0;
    sao_log_set_sink(capture_log, NULL);
}

static void test_render_exact(void)
{
    sao_metrics *reg;
    ASSERT_OK(sao_metrics_new(&reg, 0));
    const char *request_labels[] = {"method", "route"};
    sao_metric *requests = sao_metrics_counter(
        reg, "sao_http_requests_total", "HTTP requests by method and route.", request_labels, 2);
    sao_metric *up = sao_metrics_gauge(
        reg, "sao_model_up", "Whether a model serves.\nOne per ticker \\ version.", NULL, 0);
    const char *route_label[] = {"route"};
    const double buckets[] = {0.005, 0.1, 1, 2.5};
    sao_metric *latency = sao_metrics_histogram(reg, "sao_http_request_duration_seconds",
                                                "Request latency.", route_label, 1, buckets, 4);
    const double idle_buckets[] = {1, 60};
    sao_metrics_histogram(reg, "sao_idle_seconds", "Idle time.", NULL, 0, idle_buckets, 2);
    sao_metrics_counter(reg, "sao_errors_total", "Errors.", NULL, 0);
    const char *ticker_label[] = {"ticker"};
    sao_metrics_gauge(reg, "sao_model_version", "Serving model version.", ticker_label, 1);

    /* Inserted out of order: the rendering sorts by label values (bytes). */
    sao_metric_inc(requests, (const char *[]){"POST", "/predict"}, 2);
    sao_metric_inc(requests, (const char *[]){"GET", "/health"}, 1);
    sao_metric_inc(requests, (const char *[]){"GET", "/données/€"}, 3);
    sao_metric_inc(requests, (const char *[]){"GET", "/données/€"}, 1);
    sao_metric_inc(requests, (const char *[]){"GET", "/a\"b\\c\nd"}, 1);
    sao_metric_inc(requests, (const char *[]){"GET", "/bad\xff"}, 1);
    sao_metric_set(up, NULL, 1);
    const char *predict[] = {"/predict"};
    sao_metric_observe(latency, predict, 0.001953125);
    sao_metric_observe(latency, predict, 0.005); /* le is inclusive */
    sao_metric_observe(latency, predict, 0.5);
    sao_metric_observe(latency, predict, 3);

    char *text = render(reg);
    ASSERT_STREQ(text,
                 "# HELP sao_http_requests_total HTTP requests by method and route.\n"
                 "# TYPE sao_http_requests_total counter\n"
                 "sao_http_requests_total{method=\"GET\",route=\"/a\\\"b\\\\c\\nd\"} 1\n"
                 "sao_http_requests_total{method=\"GET\",route=\"/bad\xef\xbf\xbd\"} 1\n"
                 "sao_http_requests_total{method=\"GET\",route=\"/données/€\"} 4\n"
                 "sao_http_requests_total{method=\"GET\",route=\"/health\"} 1\n"
                 "sao_http_requests_total{method=\"POST\",route=\"/predict\"} 2\n"
                 "# HELP sao_model_up Whether a model serves.\\nOne per ticker \\\\ version.\n"
                 "# TYPE sao_model_up gauge\n"
                 "sao_model_up 1\n"
                 "# HELP sao_http_request_duration_seconds Request latency.\n"
                 "# TYPE sao_http_request_duration_seconds histogram\n"
                 "sao_http_request_duration_seconds_bucket{route=\"/predict\",le=\"0.005\"} 2\n"
                 "sao_http_request_duration_seconds_bucket{route=\"/predict\",le=\"0.1\"} 2\n"
                 "sao_http_request_duration_seconds_bucket{route=\"/predict\",le=\"1\"} 3\n"
                 "sao_http_request_duration_seconds_bucket{route=\"/predict\",le=\"2.5\"} 3\n"
                 "sao_http_request_duration_seconds_bucket{route=\"/predict\",le=\"+Inf\"} 4\n"
                 "sao_http_request_duration_seconds_sum{route=\"/predict\"} 3.506953125\n"
                 "sao_http_request_duration_seconds_count{route=\"/predict\"} 4\n"
                 "# HELP sao_idle_seconds Idle time.\n"
                 "# TYPE sao_idle_seconds histogram\n"
                 "sao_idle_seconds_bucket{le=\"1\"} 0\n"
                 "sao_idle_seconds_bucket{le=\"60\"} 0\n"
                 "sao_idle_seconds_bucket{le=\"+Inf\"} 0\n"
                 "sao_idle_seconds_sum 0\n"
                 "sao_idle_seconds_count 0\n"
                 "# HELP sao_errors_total Errors.\n"
                 "# TYPE sao_errors_total counter\n"
                 "sao_errors_total 0\n"
                 "# HELP sao_model_version Serving model version.\n"
                 "# TYPE sao_model_version gauge\n"
                 "# HELP sao_metrics_dropped_series_total Label combinations refused because "
                 "their family reached its series limit.\n"
                 "# TYPE sao_metrics_dropped_series_total counter\n"
                 "sao_metrics_dropped_series_total 0\n");
    ASSERT_EQ(sao_metric_value(latency, predict), 4); /* a histogram's value is its count */
    sao_free(text);
    sao_metrics_free(reg);
}

static void test_numbers(void)
{
    sao_metrics *reg;
    ASSERT_OK(sao_metrics_new(&reg, 0));
    const char *label[] = {"case"};
    sao_metric *g = sao_metrics_gauge(reg, "sao_number", "Numbers.", label, 1);
    sao_metric_set(g, (const char *[]){"a_tenth"}, 0.1);
    sao_metric_set(g, (const char *[]){"b_huge"}, 1e300);
    sao_metric_set(g, (const char *[]){"c_negative"}, -3);
    sao_metric_set(g, (const char *[]){"d_two53"}, 9007199254740992.0);
    sao_metric_set(g, (const char *[]){"e_below53"}, 9007199254740991.0);
    sao_metric_set(g, (const char *[]){"f_small"}, 1e-05);
    sao_metric_set(g, (const char *[]){"g_nan"}, NAN);
    sao_metric_set(g, (const char *[]){"h_inf"}, INFINITY);
    sao_metric_set(g, (const char *[]){"i_minus_inf"}, -INFINITY);
    sao_metric_set(g, (const char *[]){"j_fraction"}, 123456789.125);
    sao_metric_set(g, (const char *[]){"k_third"}, 1.0 / 3.0);
    sao_metric_set(g, (const char *[]){"l_minus_zero"}, -0.0);
    sao_metric_inc(g, (const char *[]){"m_gauge_down"}, -2.5);
    char *text = render(reg);
    ASSERT_CONTAINS(text, "sao_number{case=\"a_tenth\"} 0.1\n");
    ASSERT_CONTAINS(text, "sao_number{case=\"b_huge\"} 1e+300\n");
    ASSERT_CONTAINS(text, "sao_number{case=\"c_negative\"} -3\n");
    ASSERT_CONTAINS(text, "sao_number{case=\"d_two53\"} 9007199254740992\n");
    ASSERT_CONTAINS(text, "sao_number{case=\"e_below53\"} 9007199254740991\n");
    ASSERT_CONTAINS(text, "sao_number{case=\"f_small\"} 1e-05\n");
    ASSERT_CONTAINS(text, "sao_number{case=\"g_nan\"} NaN\n");
    ASSERT_CONTAINS(text, "sao_number{case=\"h_inf\"} +Inf\n");
    ASSERT_CONTAINS(text, "sao_number{case=\"i_minus_inf\"} -Inf\n");
    ASSERT_CONTAINS(text, "sao_number{case=\"j_fraction\"} 123456789.125\n");
    ASSERT_CONTAINS(text, "sao_number{case=\"k_third\"} 0.3333333333333333\n");
    ASSERT_CONTAINS(text, "sao_number{case=\"l_minus_zero\"} 0\n");
    ASSERT_CONTAINS(text, "sao_number{case=\"m_gauge_down\"} -2.5\n");
    sao_free(text);

    /* The default buckets, spelled as the client libraries spell them. */
    sao_metrics_histogram(reg, "sao_latency_seconds", "Latency.", NULL, 0, NULL, 0);
    text = render(reg);
    ASSERT_CONTAINS(text, "sao_latency_seconds_bucket{le=\"0.0001\"} 0\n"
                          "sao_latency_seconds_bucket{le=\"0.00025\"} 0\n"
                          "sao_latency_seconds_bucket{le=\"0.0005\"} 0\n"
                          "sao_latency_seconds_bucket{le=\"0.001\"} 0\n");
    ASSERT_CONTAINS(text, "sao_latency_seconds_bucket{le=\"2.5\"} 0\n"
                          "sao_latency_seconds_bucket{le=\"5\"} 0\n"
                          "sao_latency_seconds_bucket{le=\"10\"} 0\n"
                          "sao_latency_seconds_bucket{le=\"+Inf\"} 0\n");
    ASSERT_EQ(count_lines_starting(text, "sao_latency_seconds_bucket{"), 17);
    sao_free(text);
    sao_metrics_free(reg);
}

static void test_counter_refuses_decrease(void)
{
    sao_metrics *reg;
    ASSERT_OK(sao_metrics_new(&reg, 0));
    sao_metric *c = sao_metrics_counter(reg, "sao_jobs_total", "Jobs.", NULL, 0);
    capture_start();
    sao_metric_inc(c, NULL, 2);
    sao_metric_inc(c, NULL, -1);
    sao_metric_inc(c, NULL, NAN);
    sao_metric_inc(c, NULL, 0.5);
    sao_log_set_sink(NULL, NULL);
    ASSERT_NEAR(sao_metric_value(c, NULL), 2.5, 0);
    ASSERT_EQ(log_count, 1); /* once per family, not once per call */
    ASSERT_CONTAINS(log_text, "sao_jobs_total: ignored an increment of -1");

    /* NaN observations are dropped too rather than poisoning _sum. */
    sao_metric *h = sao_metrics_histogram(reg, "sao_wait_seconds", "Wait.", NULL, 0, NULL, 0);
    sao_metric_observe(h, NULL, NAN);
    sao_metric_observe(h, NULL, 0.25);
    sao_metric_observe(h, NULL, 0.5);
    char *text = render(reg);
    ASSERT_CONTAINS(text, "sao_wait_seconds_sum 0.75\nsao_wait_seconds_count 2\n");
    sao_free(text);
    sao_metrics_free(reg);
}

typedef struct worker {
    sao_metric *counter;
    sao_metric *histogram;
    int index;
} worker;

#define WORKERS 4
#define INCREMENTS 200000

static atomic_int workers_done;

static void *worker_main(void *arg)
{
    worker *w = arg;
    const char *shared[] = {"GET", "/api/v1/predict/{ticker}"};
    char own_route[32];
    snprintf(own_route, sizeof(own_route), "/worker/%d", w->index);
    const char *own[] = {"GET", own_route};
    for (int i = 0; i < INCREMENTS; i++) {
        sao_metric_inc(w->counter, shared, 1);
        if (i % 16 == 0) sao_metric_inc(w->counter, own, 1);
        sao_metric_observe(w->histogram, shared + 1, (i % 100) * 0.001);
    }
    atomic_fetch_add(&workers_done, 1);
    return NULL;
}

static void *renderer_main(void *arg)
{
    sao_metrics *reg = arg;
    int renders = 0;
    while (atomic_load(&workers_done) < WORKERS || renders == 0) {
        char *text = render(reg);
        ASSERT_CONTAINS(text, "# TYPE sao_http_requests_total counter\n");
        sao_free(text);
        renders++;
    }
    return NULL;
}

static void test_concurrent_updates(void)
{
    sao_metrics *reg;
    ASSERT_OK(sao_metrics_new(&reg, 1));
    const char *labels[] = {"method", "route"};
    sao_metric *counter =
        sao_metrics_counter(reg, "sao_http_requests_total", "Requests.", labels, 2);
    sao_metric *histogram = sao_metrics_histogram(reg, "sao_http_request_duration_seconds",
                                                  "Latency.", labels + 1, 1, NULL, 0);
    atomic_store(&workers_done, 0);
    worker workers[WORKERS];
    pthread_t threads[WORKERS], renderer;
    double started = sao_monotonic();
    for (int i = 0; i < WORKERS; i++) {
        workers[i] = (worker){counter, histogram, i};
        ASSERT_EQ(pthread_create(&threads[i], NULL, worker_main, &workers[i]), 0);
    }
    ASSERT_EQ(pthread_create(&renderer, NULL, renderer_main, reg), 0);
    for (int i = 0; i < WORKERS; i++) pthread_join(threads[i], NULL);
    double elapsed = sao_monotonic() - started;
    pthread_join(renderer, NULL);
    fprintf(stderr, "%d threads x %d: %.0f ns per update (inc and observe, contended)\n", WORKERS,
            INCREMENTS, elapsed * 1e9 / (WORKERS * INCREMENTS * 2.0));

    const char *shared[] = {"GET", "/api/v1/predict/{ticker}"};
    ASSERT_EQ(sao_metric_value(counter, shared), WORKERS * INCREMENTS);
    ASSERT_EQ(sao_metric_value(histogram, shared + 1), WORKERS * INCREMENTS);
    for (int i = 0; i < WORKERS; i++) {
        char route[32];
        snprintf(route, sizeof(route), "/worker/%d", i);
        ASSERT_EQ(sao_metric_value(counter, (const char *[]){"GET", route}), INCREMENTS / 16);
    }
    char *text = render(reg);
    ASSERT_CONTAINS(text, "sao_http_requests_total{method=\"GET\",route=\"/api/v1/predict/"
                          "{ticker}\"} 800000\n");
    ASSERT_CONTAINS(text, "sao_http_request_duration_seconds_count{route=\"/api/v1/predict/"
                          "{ticker}\"} 800000\n");
    sao_free(text);
    sao_metrics_free(reg);
}

static void test_series_cap(void)
{
    sao_metrics *reg;
    ASSERT_OK(sao_metrics_new(&reg, 0));
    const char *label[] = {"ticker"};
    sao_metric *g = sao_metrics_gauge(reg, "sao_price", "Last price.", label, 1);
    capture_start();
    char ticker[32];
    for (int i = 0; i < SAO_METRIC_SERIES_MAX + 5; i++) {
        snprintf(ticker, sizeof(ticker), "T%05d", i);
        sao_metric_set(g, (const char *[]){ticker}, i);
    }
    sao_log_set_sink(NULL, NULL);
    ASSERT_EQ(log_count, 1);
    ASSERT_CONTAINS(log_text, "sao_price: reached 10000 series");

    /* Re-registering the registry's own counter hands it out, to read it. */
    sao_metric *dropped =
        sao_metrics_counter(reg, "sao_metrics_dropped_series_total", "Dropped.", NULL, 0);
    ASSERT_EQ(sao_metric_value(dropped, NULL), 5);
    /* Existing series still update; the refused ones read as absent. */
    sao_metric_set(g, (const char *[]){"T00007"}, -1);
    ASSERT_EQ(sao_metric_value(g, (const char *[]){"T00007"}), -1);
    ASSERT_EQ(sao_metric_value(g, (const char *[]){"T10002"}), 0);
    ASSERT_EQ(sao_metric_value(dropped, NULL), 5);

    char *text = render(reg);
    ASSERT_EQ(count_lines_starting(text, "sao_price{"), SAO_METRIC_SERIES_MAX);
    ASSERT_CONTAINS(text, "\nsao_metrics_dropped_series_total 5\n");
    sao_free(text);

    /* Removing one makes room for one. */
    sao_metric_remove(g, (const char *[]){"T00000"});
    sao_metric_set(g, (const char *[]){"NEW"}, 1);
    sao_metric_set(g, (const char *[]){"NEWER"}, 1);
    ASSERT_EQ(sao_metric_value(g, (const char *[]){"NEW"}), 1);
    ASSERT_EQ(sao_metric_value(dropped, NULL), 6);
    sao_metrics_free(reg);
}

static void test_remove_and_clear(void)
{
    sao_metrics *reg;
    ASSERT_OK(sao_metrics_new(&reg, 0));
    const char *labels[] = {"ticker", "version"};
    sao_metric *g = sao_metrics_gauge(reg, "sao_model_serving", "Serving models.", labels, 2);
    const char *v1[] = {"AAPL", "1"}, *v2[] = {"AAPL", "2"}, *msft[] = {"MSFT", "1"};
    sao_metric_set(g, v1, 1);
    sao_metric_set(g, v2, 1);
    sao_metric_set(g, msft, 1);
    sao_metric_remove(g, v1);
    sao_metric_remove(g, v1); /* absent: nothing to do */
    ASSERT_EQ(sao_metric_value(g, v1), 0);
    ASSERT_EQ(sao_metric_value(g, v2), 1);
    char *text = render(reg);
    ASSERT_TRUE(strstr(text, "ticker=\"AAPL\",version=\"1\"") == NULL);
    ASSERT_CONTAINS(text, "# TYPE sao_model_serving gauge\n"
                          "sao_model_serving{ticker=\"AAPL\",version=\"2\"} 1\n"
                          "sao_model_serving{ticker=\"MSFT\",version=\"1\"} 1\n"
                          "# HELP sao_metrics_dropped");
    sao_free(text);

    sao_metric_clear(g);
    ASSERT_EQ(sao_metric_value(g, msft), 0);
    text = render(reg);
    ASSERT_CONTAINS(text, "# TYPE sao_model_serving gauge\n# HELP sao_metrics_dropped");
    sao_free(text);
    sao_metric_set(g, msft, 2);
    ASSERT_EQ(sao_metric_value(g, msft), 2);
    sao_metrics_free(reg);
}

static void test_reregistration(void)
{
    sao_metrics *reg;
    ASSERT_OK(sao_metrics_new(&reg, 0));
    const char *labels[] = {"route"};
    sao_metric *c1 = sao_metrics_counter(reg, "sao_hits_total", "Hits.", labels, 1);
    sao_metric *c2 = sao_metrics_counter(reg, "sao_hits_total", "Other help.", labels, 1);
    ASSERT_TRUE(c1 == c2);
    sao_metric *g1 = sao_metrics_gauge(reg, "sao_queue", "Queue.", NULL, 0);
    ASSERT_TRUE(sao_metrics_gauge(reg, "sao_queue", "Queue.", NULL, 0) == g1);
    const double buckets[] = {1, 2};
    sao_metric *h1 = sao_metrics_histogram(reg, "sao_size", "Size.", NULL, 0, buckets, 2);
    ASSERT_TRUE(sao_metrics_histogram(reg, "sao_size", "Size.", NULL, 0, buckets, 2) == h1);
    sao_metric *h2 = sao_metrics_histogram(reg, "sao_delay_seconds", "Delay.", NULL, 0, NULL, 0);
    ASSERT_TRUE(sao_metrics_histogram(reg, "sao_delay_seconds", "x", NULL, 0, NULL, 0) == h2);
    ASSERT_TRUE(c1 != g1 && g1 != h1 && h1 != h2);

    sao_metric_inc(c1, labels, 1);
    sao_metric_inc(c2, labels, 1);
    ASSERT_EQ(sao_metric_value(c1, labels), 2);
    char *text = render(reg);
    /* One family, the first help kept. */
    ASSERT_EQ(count_lines_starting(text, "# HELP sao_hits_total"), 1);
    ASSERT_CONTAINS(text, "# HELP sao_hits_total Hits.\n");
    sao_free(text);
    sao_metrics_free(reg);
}

static void test_render_cap_leaves_buffer(void)
{
    sao_metrics *reg;
    ASSERT_OK(sao_metrics_new(&reg, 1));
    sao_metrics_counter(reg, "sao_hits_total", "Hits.", NULL, 0);
    sao_buf buf;
    sao_buf_init(&buf, 64);
    ASSERT_OK(sao_buf_append(&buf, "keep", 4));
    ASSERT_EQ(sao_metrics_render(reg, &buf), SAO_ETOOBIG);
    ASSERT_EQ(buf.len, 4);
    ASSERT_STREQ(buf.data, "keep");
    sao_buf_dispose(&buf);
    sao_metrics_free(reg);
}

static void test_process_metrics(void)
{
    sao_metrics *reg;
    ASSERT_OK(sao_metrics_new(&reg, 1));
    char *text = render(reg);
    ASSERT_CONTAINS(text, "# TYPE process_cpu_seconds_total counter\n");
    ASSERT_CONTAINS(text, "# TYPE process_resident_memory_bytes gauge\n");
    ASSERT_CONTAINS(text, "# TYPE process_start_time_seconds gauge\n");
    double rss = sample(text, "process_resident_memory_bytes");
    double vsz = sample(text, "process_virtual_memory_bytes");
    double cpu = sample(text, "process_cpu_seconds_total");
    double open_fds = sample(text, "process_open_fds");
    double max_fds = sample(text, "process_max_fds");
    double start = sample(text, "process_start_time_seconds");
    fprintf(stderr, "rss %.0f, vsz %.0f, cpu %.2f, fds %.0f/%.0f, start %.2f\n", rss, vsz, cpu,
            open_fds, max_fds, start);
    ASSERT_TRUE(rss > 1 << 20);
    ASSERT_TRUE(vsz >= rss);
    ASSERT_TRUE(cpu >= 0 && cpu < 3600);
    ASSERT_TRUE(open_fds >= 3);
    ASSERT_TRUE(max_fds >= open_fds);
    double now = (double)time(NULL);
    ASSERT_TRUE(start > now - 3600 && start <= now + 2);
    sao_free(text);

    /* Resident memory follows pages the process touches. */
    size_t touched = 32u << 20;
    char *block = sao_malloc(touched);
    memset(block, 1, touched);
    text = render(reg);
    ASSERT_TRUE(sample(text, "process_resident_memory_bytes") >= rss + (double)(touched / 2));
    sao_free(text);
    sao_free(block);

    /* The count moves with the process's descriptors (and leaves out the listing's own). */
    int fd = open("/dev/null", O_RDONLY);
    ASSERT_TRUE(fd >= 0);
    text = render(reg);
    ASSERT_EQ(sample(text, "process_open_fds"), open_fds + 1);
    sao_free(text);
    close(fd);
    sao_metrics_free(reg);

    ASSERT_OK(sao_metrics_new(&reg, 0));
    text = render(reg);
    ASSERT_TRUE(strstr(text, "process_") == NULL);
    sao_free(text);
    sao_metrics_free(reg);
}

/* Runs `promtool check metrics` on a file; returns its exit status and fills `report`. */
static int promtool_check(const char *path, char *report, size_t size)
{
    if (system("command -v promtool >/dev/null 2>&1") != 0) {
        fprintf(stderr, "promtool is not installed (it comes with Debian's prometheus package; "
                        "scripts/bootstrap.sh installs it)\n");
        exit(1);
    }
    char command[4200];
    snprintf(command, sizeof(command), "promtool check metrics < '%s' 2>&1", path);
    FILE *pipe = popen(command, "r");
    ASSERT_TRUE(pipe != NULL);
    size_t len = fread(report, 1, size - 1, pipe);
    report[len] = '\0';
    return pclose(pipe);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ASSERT_TRUE(f != NULL);
    ASSERT_EQ(fwrite(text, 1, strlen(text), f), strlen(text));
    ASSERT_EQ(fclose(f), 0);
}

static void test_promtool_accepts_rendering(void)
{
    sao_metrics *reg;
    ASSERT_OK(sao_metrics_new(&reg, 1));
    const char *labels[] = {"method", "route", "status"};
    sao_metric *requests =
        sao_metrics_counter(reg, "sao_http_requests_total", "HTTP requests.", labels, 3);
    sao_metric *latency =
        sao_metrics_histogram(reg, "sao_http_request_duration_seconds",
                              "HTTP request latency.\nBy route.", labels + 1, 1, NULL, 0);
    const char *ticker[] = {"ticker"};
    sao_metric *price = sao_metrics_gauge(reg, "sao_last_price", "Last price \\ close.", ticker, 1);
    sao_metrics_counter(reg, "sao_errors_total", "Errors.", NULL, 0);
    const double sizes[] = {1024, 65536, 1048576};
    sao_metric *body = sao_metrics_histogram(reg, "sao_http_response_size_bytes", "Response sizes.",
                                             NULL, 0, sizes, 3);
    sao_metrics_gauge(reg, "sao_models_serving", "Serving models.", ticker, 1);

    sao_metric_inc(requests, (const char *[]){"GET", "/a\"b\\c\nd", "200"}, 3);
    sao_metric_inc(requests, (const char *[]){"GET", "/données/€/日本", "404"}, 1);
    sao_metric_inc(requests, (const char *[]){"POST", "/bad\xff\xfe", "500"}, 1);
    sao_metric_observe(latency, (const char *[]){"/a\"b\\c\nd"}, 0.003);
    sao_metric_observe(latency, (const char *[]){"/predict"}, 12);
    sao_metric_set(price, (const char *[]){"BTC-USD"}, 64123.25);
    sao_metric_set(price, (const char *[]){"NAN"}, NAN);
    sao_metric_set(price, (const char *[]){"INF"}, -INFINITY);
    sao_metric_observe(body, NULL, 2000);

    char *text = render(reg);
    ASSERT_CONTAINS(text, "process_open_fds ");
    ASSERT_OK(sao_mkdir_p(SAO_TEST_TMPDIR));
    char path[4096], report[8192];
    snprintf(path, sizeof(path), "%s/metrics_promtool.prom", SAO_TEST_TMPDIR);
    write_file(path, text);
    int status = promtool_check(path, report, sizeof(report));
    if (status != 0 || report[0]) fprintf(stderr, "promtool (status %d):\n%s", status, report);
    ASSERT_EQ(status, 0);
    ASSERT_STREQ(report, "");
    sao_free(text);
    sao_metrics_free(reg);

    /* The check can fail: promtool flags a counter without _total and an invalid line. */
    snprintf(path, sizeof(path), "%s/metrics_promtool_bad.prom", SAO_TEST_TMPDIR);
    write_file(path, "# HELP sao_hits Hits.\n# TYPE sao_hits counter\nsao_hits 1\n");
    status = promtool_check(path, report, sizeof(report));
    ASSERT_TRUE(status != 0);
    ASSERT_CONTAINS(report, "_total");
    write_file(path, "# TYPE sao_x gauge\nsao_x{a=\"unterminated} 1\n");
    ASSERT_TRUE(promtool_check(path, report, sizeof(report)) != 0);
}

SAO_TEST_MAIN(TEST(test_render_exact), TEST(test_numbers), TEST(test_counter_refuses_decrease),
              TEST(test_concurrent_updates), TEST(test_series_cap), TEST(test_remove_and_clear),
              TEST(test_reregistration), TEST(test_render_cap_leaves_buffer),
              TEST(test_process_metrics), TEST(test_promtool_accepts_rendering))
