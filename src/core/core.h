/*
 * core: errors, logging, memory, configuration, dates and the trading calendar, the HTTP
 * client and the progress display. Every other module builds on this header.
 */
#ifndef SAO_CORE_H
#define SAO_CORE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---------------------------------------------------------------------------------------------
 * Errors: functions return 0 or a negative SAO_E* code; the human detail is a thread-local
 * message set with sao_error_set() and read with sao_error_last().
 */
#define SAO_ERRNO_MAP(X)                                                                     \
    X(INVAL, "invalid argument")                                                             \
    X(NOMEM, "out of memory")                                                                \
    X(IO, "input/output error")                                                              \
    X(NOENT, "not found")                                                                    \
    X(PARSE, "malformed input")                                                              \
    X(FORMAT, "unsupported format")                                                          \
    X(TOOBIG, "input exceeds limit")                                                         \
    X(RANGE, "value out of range")                                                           \
    X(VALIDATION, "data failed validation")                                                  \
    X(NET, "network error")                                                                  \
    X(HTTP, "HTTP error")                                                                    \
    X(TIMEOUT, "timed out")                                                                  \
    X(NODATA, "no data")                                                                     \
    X(UNSUPPORTED, "not supported")                                                          \
    X(CORRUPT, "corrupt data")                                                               \
    X(STATE, "invalid state")

typedef enum sao_errno {
    SAO_OK = 0,
#define SAO__ERR_ENUM(name, msg) SAO_E##name,
    SAO__ERR_FIRST = -100,
    SAO_ERRNO_MAP(SAO__ERR_ENUM)
#undef SAO__ERR_ENUM
    SAO__ERR_LAST
} sao_errno;

/* Static description of an error code ("invalid argument"). */
const char *sao_strerror(int code);
/* Name of an error code ("SAO_EINVAL"). */
const char *sao_errname(int code);

#if defined(__GNUC__)
#define SAO_PRINTF(fmt_idx, arg_idx) __attribute__((format(printf, fmt_idx, arg_idx)))
#define SAO_NORETURN __attribute__((noreturn))
#else
#define SAO_PRINTF(fmt_idx, arg_idx)
#define SAO_NORETURN
#endif

/* Sets the thread-local error message; returns `code` so callers can `return sao_error_set(...)`.
 * A macro, so that the compiler sees the code returned (a constant at most call sites): after
 * `if (rc) return rc;` it then knows which outputs an error path left unwritten, and optimized
 * builds need no defensive initializers. `code` is evaluated once, in no stated order with the
 * message's arguments: pass a value, not an expression reading errno. */
int sao__error_message(const char *fmt, ...) SAO_PRINTF(1, 2); /* sets it; returns 0 */
static inline int sao__error_code(int code, int message_set)
{
    (void)message_set;
    return code;
}
#define sao_error_set(code, ...) sao__error_code((code), sao__error_message(__VA_ARGS__))
/* Prefixes the current message with more context ("file.csv: " + old). Returns `code`. A macro
 * like sao_error_set; `code` is evaluated twice: pass a plain value. */
int sao__error_wrap_message(int code, const char *fmt, ...) SAO_PRINTF(2, 3); /* returns 0 */
#define sao_error_wrap(code, ...)                                                                  \
    sao__error_code((code), sao__error_wrap_message((code), __VA_ARGS__))
/* The last message set on this thread, or the empty string. Borrowed; valid until the next set. */
const char *sao_error_last(void);
void sao_error_clear(void);

SAO_NORETURN void sao__assert_fail(const char *expr, const char *file, int line);
/* Always-on assertion for programming errors (never for bad input). */
#define SAO_ASSERT(expr) ((expr) ? (void)0 : sao__assert_fail(#expr, __FILE__, __LINE__))

/* ---------------------------------------------------------------------------------------------
 * Memory: allocation failure aborts (there is no useful recovery in this program).
 */
void *sao_malloc(size_t size);
void *sao_calloc(size_t count, size_t size);
void *sao_realloc(void *ptr, size_t size);
/* Grows an array to hold at least `need` items of `item_size` bytes (doubling). */
void *sao_grow(void *ptr, size_t *cap, size_t need, size_t item_size);
char *sao_strdup(const char *s);
char *sao_strndup(const char *s, size_t n);
void sao_free(void *ptr);

/* Growable byte buffer with a hard cap: appending past `max` is SAO_ETOOBIG, never truncation. */
typedef struct sao_buf {
    char *data; /* always NUL-terminated when non-NULL */
    size_t len;
    size_t cap;
    size_t max; /* 0 = unlimited */
} sao_buf;

void sao_buf_init(sao_buf *buf, size_t max);
void sao_buf_dispose(sao_buf *buf);
int sao_buf_append(sao_buf *buf, const void *data, size_t len);
int sao_buf_appendf(sao_buf *buf, const char *fmt, ...) SAO_PRINTF(2, 3);
/* Makes room for `extra` more bytes (SAO_ETOOBIG past max), for a writer that puts them at
 * data + len itself, then raises len by what it wrote and puts the NUL after. */
int sao_buf_reserve(sao_buf *buf, size_t extra);
void sao_buf_clear(sao_buf *buf);
/* Hands the bytes to the caller (free with sao_free) and resets the buffer. */
char *sao_buf_detach(sao_buf *buf, size_t *len);

/* Arena for scratch memory of one request or batch, released in one call. */
typedef struct sao_arena sao_arena;
sao_arena *sao_arena_new(size_t block_size);
void *sao_arena_alloc(sao_arena *arena, size_t size);
char *sao_arena_strndup(sao_arena *arena, const char *s, size_t n);
void sao_arena_free(sao_arena *arena);

/* Reads a whole file, at most `max` bytes (larger is SAO_ETOOBIG). *out is NUL-terminated. */
int sao_file_read(char **out, size_t *len, const char *path, size_t max);
/* Writes a whole file atomically: temp file in the same folder, fsync, rename. */
int sao_file_write_atomic(const char *path, const void *data, size_t len);
/* Creates a directory and its parents (mode 0755); existing is fine. */
int sao_mkdir_p(const char *path);
/* Creates a uniquely named temp file next to `path` for an atomic replace; fills tmp_path. */
int sao_file_temp_for(char *tmp_path, size_t tmp_size, const char *path, int *fd_out);
/* fsyncs and renames `tmp_path` over `path` (and fsyncs the folder). On error removes tmp. */
int sao_file_commit(const char *tmp_path, const char *path);

/* ---------------------------------------------------------------------------------------------
 * Logging: sao_log checks the level before formatting. The sink is replaceable (tests capture).
 * The default sink writes each line with one write(2); in JSON mode a message that is itself a
 * JSON object ("{...}", as the access log writes) is merged into the line as fields.
 */
typedef enum sao_log_level {
    SAO_LOG_DEBUG = 0,
    SAO_LOG_INFO = 1,
    SAO_LOG_WARN = 2,
    SAO_LOG_ERROR = 3,
    SAO_LOG_OFF = 4
} sao_log_level;

typedef void (*sao_log_sink)(sao_log_level level, const char *module, const char *message,
                             void *userdata);

extern int sao__log_min_level;
void sao_log_set_level(sao_log_level level);
int sao_log_parse_level(const char *name, sao_log_level *out);
const char *sao_log_level_name(sao_log_level level);
/* format: 0 auto (text on a terminal, JSON lines otherwise), 1 text, 2 json */
void sao_log_set_format(int format);
void sao_log_set_sink(sao_log_sink sink, void *userdata);
void sao__log(sao_log_level level, const char *module, const char *fmt, ...) SAO_PRINTF(3, 4);
#define sao_log(level, module, ...)                                                          \
    do {                                                                                     \
        if ((int)(level) >= sao__log_min_level) sao__log((level), (module), __VA_ARGS__);     \
    } while (0)

/* ---------------------------------------------------------------------------------------------
 * Configuration: one table of every SAO_* setting (see config.c). Values come from the
 * environment, else the default.
 */
typedef enum sao_config_type {
    SAO_CONFIG_STRING,
    SAO_CONFIG_INT,
    SAO_CONFIG_DOUBLE,
    SAO_CONFIG_BOOL,
    SAO_CONFIG_SECRET
} sao_config_type;

typedef struct sao_config_entry {
    const char *name; /* environment variable, e.g. "SAO_HOME" */
    sao_config_type type;
    const char *default_value;
    const char *help;
} sao_config_entry;

const sao_config_entry *sao_config_entries(size_t *count);
/* Effective string value (environment or default). Borrowed. NULL for an unknown name. */
const char *sao_config_get(const char *name);
/* Whether the value came from the environment. */
int sao_config_is_set(const char *name);
/* Parses an INT setting; an unparsable value is SAO_EINVAL with a message naming the variable. */
int sao_config_get_int(const char *name, long *out);
int sao_config_get_double(const char *name, double *out);
int sao_config_get_bool(const char *name, int *out);
/* Prints every setting, its effective value (secrets masked), source and help. */
void sao_config_print(FILE *out);

/* ---------------------------------------------------------------------------------------------
 * Dates. A trading day is stored as days since 1970-01-01 (UTC midnight of the exchange date).
 */
#define SAO_US_PER_DAY INT64_C(86400000000)
int64_t sao_days_from_civil(int year, int month, int day);
void sao_civil_from_days(int64_t days, int *year, int *month, int *day);
/* 0 Sunday .. 6 Saturday */
int sao_weekday(int64_t days);
/* Length of the well-formed UTF-8 sequence at s (at most `left` bytes, left >= 1), or 0 when it
 * is not one: overlong forms, surrogates and code points past U+10FFFF are malformed. */
size_t sao_utf8_sequence(const unsigned char *s, size_t left);
/* Whether s[0..len) is well-formed UTF-8 throughout (NUL bytes included, as code point 0). */
int sao_utf8_valid(const void *s, size_t len);
/* Parses YYYY-MM-DD, YYYY/M/D, YYYY-MM-DDTHH:MM:SS[...] (time ignored). SAO_EPARSE on bad input. */
int sao_date_parse(const char *s, size_t len, int64_t *days);
/* Writes YYYY-MM-DD into buf (at least 11 bytes). */
void sao_date_format(int64_t days, char *buf, size_t size);
/* Current time in microseconds since the epoch (UTC). */
int64_t sao_now_us(void);
/* Monotonic seconds, for timings. */
double sao_monotonic(void);

/* ---------------------------------------------------------------------------------------------
 * HTTP client (libcurl): timeouts, retries with exponential backoff and jitter on 429, 5xx and
 * timeouts, a response size cap, a User-Agent.
 */
typedef struct sao_http_options {
    long connect_timeout_ms; /* 0: SAO_HTTP_CONNECT_TIMEOUT_MS */
    long total_timeout_ms;   /* 0: SAO_HTTP_TIMEOUT_MS */
    int max_retries;         /* -1: SAO_HTTP_RETRIES */
    long backoff_base_ms;    /* 0: SAO_HTTP_BACKOFF_MS */
    size_t max_body;         /* 0: SAO_HTTP_MAX_BODY */
} sao_http_options;

typedef struct sao_http_response {
    long status;
    char *body; /* NUL-terminated, owned; free with sao_http_response_dispose */
    size_t body_len;
    int attempts;
} sao_http_response;

void sao_http_options_init(sao_http_options *opts);
/* GET `url`. Returns 0 when a response arrived (any status after retries are exhausted on
 * retryable statuses); SAO_ENET / SAO_ETIMEOUT / SAO_ETOOBIG otherwise. */
int sao_http_get(sao_http_response *out, const char *url, const sao_http_options *opts);
void sao_http_response_dispose(sao_http_response *resp);
/* Backoff before attempt `attempt` (1-based) with full jitter in [base*2^(a-1)/2, base*2^(a-1)]. */
long sao_http_backoff_ms(long base_ms, int attempt, unsigned *seed);
/* Percent-encodes a URL path segment or query value into buf. */
int sao_url_escape(sao_buf *buf, const char *s);

/* ---------------------------------------------------------------------------------------------
 * Progress: a bar on a terminal, structured log lines otherwise.
 */
typedef struct sao_progress {
    const char *label;
    uint64_t total;
    uint64_t done;
    double started;
    double last_draw;
    int tty;
    int finished;
} sao_progress;

void sao_progress_start(sao_progress *p, const char *label, uint64_t total);
void sao_progress_update(sao_progress *p, uint64_t done);
void sao_progress_finish(sao_progress *p);

/* ---------------------------------------------------------------------------------------------
 * Small string helpers.
 */
/* Copies like strlcpy: always NUL-terminates, returns strlen(src). */
size_t sao_strlcpy(char *dst, const char *src, size_t size);
/* Strict integer / double parsing of a whole token. */
int sao_parse_long(const char *s, long *out);
int sao_parse_double(const char *s, size_t len, double *out);
/* $SAO_HOME joined with a relative path into buf. */
int sao_home_path(char *buf, size_t size, const char *relative);

/* Room sao_format_double needs, the NUL included ("-1.2345678901234567e-308" is 25). */
#define SAO_DOUBLE_TEXT_MAX 32
/* Writes the shortest text that reads back (strtod) as exactly `value`: the fewest significant
 * digits, the nearest to the value when several have that length. Plain notation from 1e-4 to
 * below 1e16 ("5", "-0", "0.1", "123.45"), else an exponent ("1e-07", "1.2345e+21"), as JSON
 * and the Prometheus exposition read it. NaN and infinities are not JSON: callers write their
 * own text (here they give "NaN", "Inf", "-Inf"). `buf` holds SAO_DOUBLE_TEXT_MAX bytes, all of
 * which may be written; the text is NUL-terminated. Returns its length. */
size_t sao_format_double(char *buf, double value);

#define SAO_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
