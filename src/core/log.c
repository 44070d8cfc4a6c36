/*
 * Leveled logging: text on a terminal, JSON lines otherwise; the sink can be replaced (tests
 * capture messages, the server writes JSON).
 */
#include "core.h"

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

static void json_escape(FILE *out, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(out, "\\%c", c);
        else if (c == '\n') fputs("\\n", out);
        else if (c == '\t') fputs("\\t", out);
        else if (c < 0x20) fprintf(out, "\\u%04x", c);
        else fputc(c, out);
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
    if (json) {
        fprintf(stderr, "{\"ts\":\"%s\",\"level\":\"%s\",\"module\":\"", stamp,
                sao_log_level_name(level));
        json_escape(stderr, module);
        fputs("\",\"msg\":\"", stderr);
        json_escape(stderr, message);
        fputs("\"}\n", stderr);
    } else {
        fprintf(stderr, "%s %-5s [%s] %s\n", stamp + 11, sao_log_level_name(level), module,
                message);
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
    if (log_sink) log_sink(level, module, message, log_sink_data);
    else default_sink(level, module, message);
    pthread_mutex_unlock(&log_lock);
}
