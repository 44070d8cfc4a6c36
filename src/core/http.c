/*
 * HTTP client on libcurl: connect and total timeouts, a capped response body, a User-Agent,
 * and retries with exponential backoff and full jitter on 429, 5xx and timeouts.
 */
#include "core.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static long setting_long(const char *name, long fallback)
{
    long v;
    if (sao_config_get_int(name, &v) != 0 || v < 0) {
        sao_log(SAO_LOG_WARN, "http", "ignoring %s: %s", name, sao_error_last());
        return fallback;
    }
    return v;
}

void sao_http_options_init(sao_http_options *opts)
{
    opts->connect_timeout_ms = setting_long("SAO_HTTP_CONNECT_TIMEOUT_MS", 5000);
    opts->total_timeout_ms = setting_long("SAO_HTTP_TIMEOUT_MS", 30000);
    opts->max_retries = (int)setting_long("SAO_HTTP_RETRIES", 4);
    opts->backoff_base_ms = setting_long("SAO_HTTP_BACKOFF_MS", 500);
    opts->max_body = (size_t)setting_long("SAO_HTTP_MAX_BODY", 64L * 1024 * 1024);
}

typedef struct body_sink {
    sao_buf buf;
    int overflow;
} body_sink;

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    body_sink *sink = userdata;
    size_t n = size * nmemb;
    if (sao_buf_append(&sink->buf, data, n) != 0) {
        sink->overflow = 1;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    return n;
}

long sao_http_backoff_ms(long base_ms, int attempt, unsigned *seed)
{
    if (attempt < 1) attempt = 1;
    int shift = attempt - 1 > 16 ? 16 : attempt - 1;
    long cap = base_ms << shift;
    if (cap > 60000) cap = 60000;
    long half = cap / 2;
    return half + (half > 0 ? (long)(rand_r(seed) % (half + 1)) : 0);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static int retryable_status(long status)
{
    return status == 429 || (status >= 500 && status <= 599);
}

int sao_http_get(sao_http_response *out, const char *url, const sao_http_options *opts_in)
{
    sao_http_options opts;
    if (opts_in) opts = *opts_in;
    else sao_http_options_init(&opts);
    pthread_once(&curl_once, curl_init_once);

    CURL *curl = curl_easy_init();
    if (!curl) return sao_error_set(SAO_ENOMEM, "cannot create an HTTP handle");
    body_sink sink;
    sao_buf_init(&sink.buf, opts.max_body);
    unsigned seed = (unsigned)sao_now_us();
    int rc = 0;
    long status = 0;
    int attempt = 0;

    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, sao_config_get("SAO_HTTP_USER_AGENT"));
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, opts.connect_timeout_ms);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, opts.total_timeout_ms);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
    if (opts.max_body) curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)opts.max_body);

    for (;;) {
        attempt++;
        sao_buf_clear(&sink.buf);
        sink.overflow = 0;
        CURLcode cc = curl_easy_perform(curl);
        int retry = 0;
        if (cc == CURLE_OK) {
            curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
            retry = retryable_status(status);
            rc = 0;
        } else if (sink.overflow || cc == CURLE_FILESIZE_EXCEEDED) {
            rc = sao_error_set(SAO_ETOOBIG, "GET %s: response larger than %zu bytes", url,
                               opts.max_body);
            break;
        } else if (cc == CURLE_OPERATION_TIMEDOUT) {
            rc = sao_error_set(SAO_ETIMEOUT, "GET %s: timed out (%s)", url, curl_easy_strerror(cc));
            retry = 1;
        } else {
            rc = sao_error_set(SAO_ENET, "GET %s: %s", url, curl_easy_strerror(cc));
            /* Refused or unreachable hosts may come back; malformed URLs never will. */
            retry = cc == CURLE_COULDNT_CONNECT || cc == CURLE_RECV_ERROR ||
                    cc == CURLE_SEND_ERROR || cc == CURLE_GOT_NOTHING;
        }
        if (!retry || attempt > opts.max_retries) break;
        long wait = sao_http_backoff_ms(opts.backoff_base_ms, attempt, &seed);
        sao_log(SAO_LOG_WARN, "http", "GET %s: %s; retry %d/%d in %ld ms", url,
                rc ? sao_error_last() : (status == 429 ? "429 Too Many Requests" : "server error"),
                attempt, opts.max_retries, wait);
        sleep_ms(wait);
    }
    curl_easy_cleanup(curl);
    if (rc) {
        sao_buf_dispose(&sink.buf);
        return rc;
    }
    out->status = status;
    out->attempts = attempt;
    out->body = sao_buf_detach(&sink.buf, &out->body_len);
    return 0;
}

void sao_http_response_dispose(sao_http_response *resp)
{
    if (!resp) return;
    sao_free(resp->body);
    resp->body = NULL;
    resp->body_len = 0;
}

int sao_url_escape(sao_buf *buf, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        int plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == '_' || c == '~';
        char enc[3] = {'%', hex[c >> 4], hex[c & 15]};
        int rc = plain ? sao_buf_append(buf, s, 1) : sao_buf_append(buf, enc, 3);
        if (rc) return rc;
    }
    return 0;
}
