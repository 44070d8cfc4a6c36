/*
 * Leveled logging: text on a terminal, JSON lines otherwise; the sink can be replaced (tests
 * capture messages, the server writes JSON).
 */
#include "core.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int sao__log_min_level = SAO_LOG_INFO;
static int log_format; /* 0 auto, 1 text, 2 json */
static sao_log_sink log_sink;
static void *log_sink_data;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *level_names[] = {"debug", "info", "warn", "error", "off"};

void sao_log_set_level(sao_log_level level)
{
    sao__log_min_level = (int)level;
}

const char *sao_log_level_name(sao_log_level level)
{
    return (unsigned)level < SAO_ARRAY_LEN(level_names) ? level_names[level] : "?";
}

int sao_log_parse_level(const char *name, sao_log_level *out)
{
    for (size_t i = 0; i < SAO_ARRAY_LEN(level_names); i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (sao_log_level)i;
            return 0;
        }
    }
    if (strcmp(name, "warning") == 0) {
        *out = SAO_LOG_WARN;
        return 0;
    }
    return sao_error_set(SAO_EINVAL, "unknown log level '%s' (debug, info, warn, error, off)",
                         name);
}

void sao_log_set_format(int format)
{
    log_format = format;
}

void sao_log_set_sink(sao_log_sink sink, void *userdata)
{
    pthread_mutex_lock(&log_lock);
    log_sink = sink;
    log_sink_data = userdata;
    pthread_mutex_unlock(&log_lock);
}

/* A log line is built in memory and written with one write(2): many small stdio writes per
 * line to unbuffered stderr made logging the bottleneck of a busy server, and one write keeps
 * lines from different threads and processes whole. */
typedef struct line_buf {
    char data[4608];
    size_t len;
} line_buf;

static void put(line_buf *line, const char *s, size_t n)
{
    size_t room = sizeof(line->data) - 1 - line->len; /* one byte kept for the newline */
    if (n > room) n = room;
    memcpy(line->data + line->len, s, n);
    line->len += n;
}

static void put_escaped(line_buf *line, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            put(line, esc, 2);
        } else if (c == '\n') put(line, "\\n", 2);
        else if (c == '\t') put(line, "\\t", 2);
        else if (c < 0x20) {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            put(line, esc, 6);
        } else put(line, (const char *)&c, 1);
    }
}

static void default_sink(sao_log_level level, const char *module, const char *message)
{
    int json = log_format == 2 || (log_format == 0 && !isatty(STDERR_FILENO));
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char stamp[96];
    snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
    line_buf line;
    line.len = 0;
    size_t msg_len = strlen(message);
    if (json) {
        put(&line, "{\"ts\":\"", 7);
        put(&line, stamp, strlen(stamp));
        put(&line, "\",\"level\":\"", 11);
        const char *name = sao_log_level_name(level);
        put(&line, name, strlen(name));
        put(&line, "\",\"module\":\"", 12);
        put_escaped(&line, module);
        if (msg_len >= 2 && message[0] == '{' && message[msg_len - 1] == '}') {
            /* A structured message (a JSON object, as the access log writes) becomes fields of
             * the line rather than an escaped string. */
            put(&line, "\",", 2);
            put(&line, message + 1, msg_len - 1);
        } else {
            put(&line, "\",\"msg\":\"", 9);
            put_escaped(&line, message);
            put(&line, "\"}", 2);
        }
    } else {
        char head[160];
        int n = snprintf(head, sizeof(head), "%s %-5s [%s] ", stamp + 11,
                         sao_log_level_name(level), module);
        if (n > 0) put(&line, head, (size_t)n < sizeof(head) ? (size_t)n : sizeof(head) - 1);
        put(&line, message, msg_len);
    }
    line.data[line.len++] = '\n';
    const char *p = line.data;
    size_t left = line.len;
    while (left > 0) {
        ssize_t w = write(STDERR_FILENO, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        p += w;
        left -= (size_t)w;
    }
}

void sao__log(sao_log_level level, const char *module, const char *fmt, ...)
{
    char message[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&log_lock);
    if (log_sink) {
        log_sink(level, module, message, log_sink_data);
        pthread_mutex_unlock(&log_lock);
        return;
    }
    pthread_mutex_unlock(&log_lock);
    default_sink(level, module, message); /* one write per line: no lock needed */
}
